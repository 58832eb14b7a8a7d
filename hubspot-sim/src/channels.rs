//! Custom channels (developer API key), channel accounts and published messages (bearer).

use std::time::Instant;

use serde_json::{Map, Value, json};

use crate::errors::{ApiError, ApiResult, Resp};
use crate::server::Req;
use crate::state::{
    Channel, ChannelAccount, Message, Shared, State, Thread, Visitor, now_iso, random_hex,
};

const RICH_TEXT: &[&str] = &["HYPERLINK", "TEXT_ALIGNMENT", "BLOCKQUOTE"];
const THREADING: &[&str] = &["INTEGRATION_THREAD_ID", "DELIVERY_IDENTIFIER"];
const IDENTIFIER_TYPES: &[&str] = &[
    "CHANNEL_SPECIFIC_OPAQUE_ID",
    "HS_EMAIL_ADDRESS",
    "HS_PHONE_NUMBER",
];
const CAPABILITY_BOOLS: &[&str] = &[
    "allowInlineImages",
    "allowOutgoingMessages",
    "allowConversationStart",
    "allowMultipleRecipients",
];
const CAPABILITY_INTS: &[&str] = &[
    "maxFileAttachmentCount",
    "maxFileAttachmentSizeBytes",
    "maxTotalFileAttachmentSizeBytes",
    "maxTextLength",
];
const FILE_USAGE: &[&str] = &["AUDIO", "IMAGE", "OTHER", "STICKER", "VOICE_RECORDING"];

/// Parses a numeric id from a path segment; anything else is unknown (404).
fn numeric_id(raw: &str, what: &str) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .map_err(|_| ApiError::not_found(format!("{what} {raw} not found")))
}

fn channel_not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Channel {id} not found"))
}

/// Reads `limit` (default 10, at most 100) and `after` (an offset) for list endpoints.
pub fn paging(req: &Req) -> Result<(usize, usize), ApiError> {
    let limit = match req.query("limit") {
        None => 10,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(ApiError::validation(format!(
                    "limit must be an integer from 1 to 100, got '{l}'"
                )));
            }
        },
    };
    let after = match req.query("after") {
        None | Some("") => 0,
        Some(a) => a
            .parse::<usize>()
            .map_err(|_| ApiError::validation(format!("Invalid paging cursor '{a}'")))?,
    };
    Ok((limit, after))
}

/// A page of results in HubSpot's list shape (`total`, `results`, `paging.next.after`).
pub fn page(items: Vec<Value>, limit: usize, after: usize) -> Value {
    let total = items.len();
    let results: Vec<Value> = items.into_iter().skip(after).take(limit).collect();
    let mut v = json!({ "total": total, "results": results });
    if after + limit < total {
        v["paging"] = json!({ "next": { "after": (after + limit).to_string() } });
    }
    v
}

fn validate_capabilities(caps: &Value) -> Result<(), ApiError> {
    let Some(caps) = caps.as_object() else {
        return Err(ApiError::validation("capabilities must be an object"));
    };
    if let Some(rt) = caps.get("richText") {
        let ok = rt.as_array().is_some_and(|a| {
            a.iter()
                .all(|x| x.as_str().is_some_and(|s| RICH_TEXT.contains(&s)))
        });
        if !ok {
            return Err(ApiError::validation(format!(
                "capabilities.richText must be an array of {RICH_TEXT:?}, got {rt}"
            )));
        }
    }
    if let Some(t) = caps.get("threadingModel")
        && !t.as_str().is_some_and(|s| THREADING.contains(&s))
    {
        return Err(ApiError::validation(format!(
            "capabilities.threadingModel must be one of {THREADING:?}"
        )));
    }
    if let Some(d) = caps.get("deliveryIdentifierTypes") {
        let ok = d.as_array().is_some_and(|a| {
            a.iter()
                .all(|x| x.as_str().is_some_and(|s| IDENTIFIER_TYPES.contains(&s)))
        });
        if !ok {
            return Err(ApiError::validation(format!(
                "capabilities.deliveryIdentifierTypes must be an array of {IDENTIFIER_TYPES:?}"
            )));
        }
    }
    for b in CAPABILITY_BOOLS {
        if caps.get(*b).is_some_and(|v| !v.is_boolean()) {
            return Err(ApiError::validation(format!(
                "capabilities.{b} must be a boolean"
            )));
        }
    }
    for i in CAPABILITY_INTS {
        if caps.get(*i).is_some_and(|v| !v.is_u64()) {
            return Err(ApiError::validation(format!(
                "capabilities.{i} must be a non-negative integer"
            )));
        }
    }
    if let Some(o) = caps.get("outgoingAttachmentTypes") {
        let ok = o.as_array().is_some_and(|a| {
            a.iter().all(|x| {
                x.as_str()
                    .is_some_and(|s| s == "FILE" || s == "QUICK_REPLIES")
            })
        });
        if !ok {
            return Err(ApiError::validation(
                "capabilities.outgoingAttachmentTypes must be an array of FILE, QUICK_REPLIES",
            ));
        }
    }
    if let Some(m) = caps.get("allowedFileAttachmentMimeTypes")
        && !m.as_array().is_some_and(|a| a.iter().all(Value::is_string))
    {
        return Err(ApiError::validation(
            "capabilities.allowedFileAttachmentMimeTypes must be an array of strings",
        ));
    }
    Ok(())
}

fn validate_channel_fields(body: &Map<String, Value>) -> Result<(), ApiError> {
    if body
        .get("name")
        .is_some_and(|n| n.as_str().is_none_or(|s| s.trim().is_empty()))
    {
        return Err(ApiError::validation("name must be a non-empty string"));
    }
    if let Some(caps) = body.get("capabilities") {
        validate_capabilities(caps)?;
    }
    for f in [
        "webhookUrl",
        "channelLogoUrl",
        "channelAccountConnectionRedirectUrl",
    ] {
        if let Some(v) = body.get(f)
            && !v.is_null()
        {
            let ok = v.as_str().is_some_and(|s| {
                url::Url::parse(s).is_ok_and(|u| u.scheme() == "http" || u.scheme() == "https")
            });
            if !ok {
                return Err(ApiError::validation(format!(
                    "{f} must be an absolute http(s) URL"
                )));
            }
        }
    }
    if body
        .get("channelDescription")
        .is_some_and(|v| !v.is_string() && !v.is_null())
    {
        return Err(ApiError::validation("channelDescription must be a string"));
    }
    Ok(())
}

/// `POST /conversations/v3/custom-channels` → 201 with the channel.
pub fn create_channel(shared: &Shared, req: &Req) -> ApiResult {
    let body = req.json_object()?;
    let missing: Vec<&str> = ["name", "capabilities"]
        .into_iter()
        .filter(|f| body.get(*f).is_none_or(Value::is_null))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::missing_fields(&missing));
    }
    validate_channel_fields(&body)?;
    let mut st = shared.state();
    let id = st.next() + 100_000;
    let now = now_iso();
    let mut channel = json!({
        "id": id.to_string(),
        "name": body["name"],
        "capabilities": body["capabilities"],
        "createdAt": now,
        "updatedAt": now,
        "archived": false,
    });
    for f in [
        "webhookUrl",
        "channelDescription",
        "channelLogoUrl",
        "channelAccountConnectionRedirectUrl",
    ] {
        if let Some(v) = body.get(f).filter(|v| !v.is_null()) {
            channel[f] = v.clone();
        }
    }
    st.channels.insert(
        id,
        Channel {
            body: channel.clone(),
            created: Instant::now(),
        },
    );
    Ok(Resp::created(channel))
}

/// `GET /conversations/v3/custom-channels` (paged; a channel shows once `channel_list_delay` passed).
pub fn list_channels(shared: &Shared, req: &Req) -> ApiResult {
    let (limit, after) = paging(req)?;
    let delay = shared.config().channel_list_delay;
    let st = shared.state();
    let items: Vec<Value> = st
        .channels
        .values()
        .filter(|c| c.created.elapsed() >= delay)
        .map(|c| c.body.clone())
        .collect();
    Ok(Resp::ok(page(items, limit, after)))
}

/// `GET /conversations/v3/custom-channels/{channelId}`
pub fn get_channel(shared: &Shared, req: &Req) -> ApiResult {
    let raw = req.param("channelId");
    let id = numeric_id(raw, "Channel")?;
    let st = shared.state();
    st.channels
        .get(&id)
        .map(|c| Resp::ok(c.body.clone()))
        .ok_or_else(|| channel_not_found(raw))
}

/// `PATCH /conversations/v3/custom-channels/{channelId}` → 200 with the channel.
pub fn update_channel(shared: &Shared, req: &Req) -> ApiResult {
    let raw = req.param("channelId");
    let id = numeric_id(raw, "Channel")?;
    let body = req.json_object()?;
    validate_channel_fields(&body)?;
    let mut st = shared.state();
    let channel = st
        .channels
        .get_mut(&id)
        .ok_or_else(|| channel_not_found(raw))?;
    for f in [
        "name",
        "capabilities",
        "webhookUrl",
        "channelDescription",
        "channelLogoUrl",
        "channelAccountConnectionRedirectUrl",
    ] {
        if let Some(v) = body.get(f) {
            channel.body[f] = v.clone();
        }
    }
    channel.body["updatedAt"] = json!(now_iso());
    Ok(Resp::ok(channel.body.clone()))
}

/// `DELETE /conversations/v3/custom-channels/{channelId}` → 204 (the channel is archived: gone).
pub fn delete_channel(shared: &Shared, req: &Req) -> ApiResult {
    let raw = req.param("channelId");
    let id = numeric_id(raw, "Channel")?;
    let mut st = shared.state();
    st.channels
        .remove(&id)
        .ok_or_else(|| channel_not_found(raw))?;
    for a in st.accounts.values_mut().filter(|a| a.channel_id == id) {
        a.body["archived"] = json!(true);
        a.body["active"] = json!(false);
    }
    Ok(Resp::no_content())
}

/// The channel for bearer endpoints: unknown, deleted or (for `young_is_unknown`) younger than
/// `channel_account_delay` answers 404 as HubSpot does for an unknown channel.
fn bearer_channel(
    shared: &Shared,
    st: &State,
    raw: &str,
    young_is_unknown: bool,
) -> Result<u64, ApiError> {
    let id = numeric_id(raw, "Channel")?;
    let channel = st.channels.get(&id).ok_or_else(|| channel_not_found(raw))?;
    if young_is_unknown && channel.created.elapsed() < shared.config().channel_account_delay {
        return Err(channel_not_found(raw));
    }
    Ok(id)
}

fn validate_delivery_identifier(v: &Value, field: &str) -> Result<(), ApiError> {
    let ok = v["type"]
        .as_str()
        .is_some_and(|t| IDENTIFIER_TYPES.contains(&t))
        && v["value"].as_str().is_some_and(|s| !s.is_empty());
    if ok {
        Ok(())
    } else {
        Err(ApiError::validation(format!(
            "{field} must be {{\"type\": one of {IDENTIFIER_TYPES:?}, \"value\": a non-empty string}}"
        )))
    }
}

/// `POST .../{channelId}/channel-accounts` → 201 with the account.
pub fn create_account(shared: &Shared, req: &Req) -> ApiResult {
    let channel_raw = req.param("channelId").to_string();
    {
        let st = shared.state();
        bearer_channel(shared, &st, &channel_raw, true)?;
    }
    let body = req.json_object()?;
    let missing: Vec<&str> = ["inboxId", "name", "authorized"]
        .into_iter()
        .filter(|f| body.get(*f).is_none_or(Value::is_null))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::missing_fields(&missing));
    }
    let inbox_id = match &body["inboxId"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(ApiError::validation("inboxId must be a string")),
    };
    let Some(name) = body["name"].as_str() else {
        return Err(ApiError::validation("name must be a string"));
    };
    let Some(authorized) = body["authorized"].as_bool() else {
        return Err(ApiError::validation("authorized must be a boolean"));
    };
    if let Some(d) = body.get("deliveryIdentifier").filter(|v| !v.is_null()) {
        validate_delivery_identifier(d, "deliveryIdentifier")?;
    }
    let mut st = shared.state();
    let channel_id = bearer_channel(shared, &st, &channel_raw, true)?;
    if !st.inboxes.iter().any(|i| i.id == inbox_id) {
        return Err(ApiError::validation(format!(
            "Inbox {inbox_id} does not exist in this account"
        )));
    }
    let id = st.next() + 200_000;
    let mut account = json!({
        "id": id.to_string(),
        "channelId": channel_id.to_string(),
        "inboxId": inbox_id,
        "name": name,
        "active": true,
        "authorized": authorized,
        "archived": false,
        "createdAt": now_iso(),
    });
    if let Some(d) = body.get("deliveryIdentifier").filter(|v| !v.is_null()) {
        account["deliveryIdentifier"] = d.clone();
    }
    st.accounts.insert(
        id,
        ChannelAccount {
            channel_id,
            body: account.clone(),
        },
    );
    Ok(Resp::created(account))
}

/// `GET .../{channelId}/channel-accounts` (filters `deliveryIdentifierType`, `deliveryIdentifierValue`,
/// `archived`; paged).
pub fn list_accounts(shared: &Shared, req: &Req) -> ApiResult {
    let (limit, after) = paging(req)?;
    let st = shared.state();
    let channel_id = bearer_channel(shared, &st, req.param("channelId"), false)?;
    let archived = req.query("archived") == Some("true");
    let items: Vec<Value> = st
        .accounts
        .values()
        .filter(|a| a.channel_id == channel_id)
        .filter(|a| a.body["archived"].as_bool() == Some(archived))
        .filter(|a| {
            req.query("deliveryIdentifierType")
                .is_none_or(|t| a.body["deliveryIdentifier"]["type"] == t)
        })
        .filter(|a| {
            req.query("deliveryIdentifierValue")
                .is_none_or(|v| a.body["deliveryIdentifier"]["value"] == v)
        })
        .map(|a| a.body.clone())
        .collect();
    Ok(Resp::ok(page(items, limit, after)))
}

fn account_of<'a>(
    st: &'a mut State,
    channel_id: u64,
    raw: &str,
) -> Result<&'a mut ChannelAccount, ApiError> {
    let id = numeric_id(raw, "Channel account")?;
    st.accounts
        .get_mut(&id)
        .filter(|a| a.channel_id == channel_id)
        .ok_or_else(|| ApiError::not_found(format!("Channel account {raw} not found")))
}

/// `GET .../{channelId}/channel-accounts/{channelAccountId}`
pub fn get_account(shared: &Shared, req: &Req) -> ApiResult {
    let mut st = shared.state();
    let channel_id = bearer_channel(shared, &st, req.param("channelId"), false)?;
    Ok(Resp::ok(
        account_of(&mut st, channel_id, req.param("channelAccountId"))?
            .body
            .clone(),
    ))
}

/// `PATCH .../{channelId}/channel-accounts/{channelAccountId}` `{name, authorized}` → 200.
pub fn update_account(shared: &Shared, req: &Req) -> ApiResult {
    let body = req.json_object()?;
    if body.get("name").is_some_and(|v| !v.is_string()) {
        return Err(ApiError::validation("name must be a string"));
    }
    if body.get("authorized").is_some_and(|v| !v.is_boolean()) {
        return Err(ApiError::validation("authorized must be a boolean"));
    }
    let mut st = shared.state();
    let channel_id = bearer_channel(shared, &st, req.param("channelId"), false)?;
    let account = account_of(&mut st, channel_id, req.param("channelAccountId"))?;
    for f in ["name", "authorized"] {
        if let Some(v) = body.get(f) {
            account.body[f] = v.clone();
        }
    }
    Ok(Resp::ok(account.body.clone()))
}

/// The usage type HubSpot would give a file of this MIME type.
pub fn usage_for(content_type: &str) -> &'static str {
    if content_type.starts_with("image/") {
        "IMAGE"
    } else if content_type.starts_with("audio/") {
        "AUDIO"
    } else {
        "OTHER"
    }
}

/// Finds or creates the visitor actor for a delivery identifier (`V-<contactId>` when a contact
/// matches the email / phone), returning the actor id and the matched contact id.
pub fn visitor_for(
    st: &mut State,
    identifier: &Value,
    name: Option<&str>,
) -> (String, Option<String>) {
    let kind = identifier["type"].as_str().unwrap_or("");
    let value = identifier["value"].as_str().unwrap_or("");
    let contact = crate::crm::match_identifier(st, kind, value);
    let key = format!("{kind}:{value}");
    if let Some(id) = st.visitor_keys.get(&key) {
        return (id.clone(), contact);
    }
    let id = match &contact {
        Some(c) => format!("V-{c}"),
        None => format!("V-{}", st.next() + 500_000),
    };
    let email = if kind == "HS_EMAIL_ADDRESS" {
        Some(value.to_string())
    } else {
        contact
            .as_ref()
            .and_then(|c| c.parse::<u64>().ok())
            .and_then(|c| st.contacts.get(&c))
            .and_then(|c| c.properties.get("email").cloned())
    };
    st.visitor_keys.insert(key, id.clone());
    st.visitors.insert(
        id.clone(),
        Visitor {
            id: id.clone(),
            name: name.map(str::to_string),
            email,
        },
    );
    (id, contact)
}

fn validate_participants(body: &Value, field: &str) -> Result<Vec<Value>, ApiError> {
    let Some(list) = body[field].as_array() else {
        return Err(ApiError::validation(format!("{field} must be an array")));
    };
    for (i, p) in list.iter().enumerate() {
        if !p.is_object() {
            return Err(ApiError::validation(format!(
                "{field}[{i}] must be an object"
            )));
        }
        if p.get("name")
            .is_some_and(|n| !n.is_string() && !n.is_null())
        {
            return Err(ApiError::validation(format!(
                "{field}[{i}].name must be a string"
            )));
        }
        match p.get("deliveryIdentifier") {
            Some(d) => {
                validate_delivery_identifier(d, &format!("{field}[{i}].deliveryIdentifier"))?
            }
            None if p.get("senderActorId").is_some_and(Value::is_string) => {}
            None => {
                return Err(ApiError::validation(format!(
                    "{field}[{i}] needs a deliveryIdentifier"
                )));
            }
        }
    }
    Ok(list.clone())
}

/// `POST /conversations/v3/custom-channels/{channelId}/messages` → 201 with the message.
pub fn publish_message(shared: &Shared, req: &Req) -> ApiResult {
    let channel_raw = req.param("channelId").to_string();
    {
        let st = shared.state();
        bearer_channel(shared, &st, &channel_raw, false)?;
    }
    let body = Value::Object(req.json_object()?);
    let required = [
        "text",
        "messageDirection",
        "channelAccountId",
        "senders",
        "recipients",
        "timestamp",
        "attachments",
    ];
    let missing: Vec<&str> = required
        .into_iter()
        .filter(|f| body.get(*f).is_none_or(Value::is_null))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::missing_fields(&missing));
    }
    let Some(text) = body["text"].as_str() else {
        return Err(ApiError::validation("text must be a string"));
    };
    let direction = match body["messageDirection"].as_str() {
        Some(d @ ("INCOMING" | "OUTGOING")) => d,
        _ => {
            return Err(ApiError::validation(
                "messageDirection must be INCOMING or OUTGOING",
            ));
        }
    };
    let account_raw = match &body["channelAccountId"] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => return Err(ApiError::validation("channelAccountId must be a string")),
    };
    let senders = validate_participants(&body, "senders")?;
    let recipients = validate_participants(&body, "recipients")?;
    if senders.is_empty() {
        return Err(ApiError::validation("senders must not be empty"));
    }
    let timestamp_ok = body["timestamp"]
        .as_str()
        .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok());
    if !timestamp_ok {
        return Err(ApiError::validation(
            "timestamp must be an ISO-8601 date-time, e.g. 2024-01-01T00:00:00Z",
        ));
    }
    let Some(attachments_in) = body["attachments"].as_array() else {
        return Err(ApiError::validation("attachments must be an array"));
    };
    for f in [
        "richText",
        "integrationThreadId",
        "integrationIdempotencyId",
        "inReplyToId",
    ] {
        if body.get(f).is_some_and(|v| !v.is_string() && !v.is_null()) {
            return Err(ApiError::validation(format!("{f} must be a string")));
        }
    }
    let config = shared.config();
    let mut st = shared.state();
    let channel_id = bearer_channel(shared, &st, &channel_raw, false)?;
    let capabilities = st.channels[&channel_id].body["capabilities"].clone();
    let account_id = account_raw.parse::<u64>().ok().filter(|id| {
        st.accounts
            .get(id)
            .is_some_and(|a| a.channel_id == channel_id)
    });
    let Some(account_id) = account_id else {
        return Err(ApiError::not_found(format!(
            "Channel account {account_raw} not found on channel {channel_id}"
        )));
    };
    if st.accounts[&account_id].body["archived"] == true {
        return Err(ApiError::not_found(format!(
            "Channel account {account_raw} is archived"
        )));
    }
    if let Some(idem) = body["integrationIdempotencyId"].as_str()
        && let Some(mid) = st.idempotency.get(&(channel_id, idem.to_string()))
        && let Some(m) = st.messages.get(mid)
    {
        return Ok(Resp::created(m.body.clone()));
    }
    if let Some(max) = capabilities["maxFileAttachmentCount"].as_u64()
        && attachments_in.len() as u64 > max
    {
        return Err(ApiError::validation(format!(
            "At most {max} attachments are allowed on this channel"
        )));
    }
    let mut attachments = Vec::new();
    for (i, a) in attachments_in.iter().enumerate() {
        match a["type"].as_str() {
            Some("FILE") => {
                let Some(file_id) = a["fileId"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| a["fileId"].as_u64().map(|n| n.to_string()))
                else {
                    return Err(ApiError::missing_fields(&["attachments[].fileId"]));
                };
                let Some(file) = st.files.get(&file_id) else {
                    return Err(ApiError::validation(format!(
                        "attachments[{i}]: file {file_id} does not exist in the file manager"
                    )));
                };
                let usage = match a.get("fileUsageType") {
                    None | Some(Value::Null) => usage_for(&file.content_type).to_string(),
                    Some(Value::String(u)) if FILE_USAGE.contains(&u.as_str()) => u.clone(),
                    Some(_) => {
                        return Err(ApiError::validation(format!(
                            "attachments[{i}].fileUsageType must be one of {FILE_USAGE:?}"
                        )));
                    }
                };
                attachments.push(json!({
                    "type": "FILE",
                    "fileId": file_id,
                    "fileUsageType": usage,
                    "name": file.body["name"].as_str().map(|n| match file.body["extension"].as_str() {
                        Some(e) if !e.is_empty() => format!("{n}.{e}"),
                        _ => n.to_string(),
                    }),
                    "url": file.body["url"],
                }));
            }
            Some("QUICK_REPLIES" | "UNSUPPORTED_CONTENT") => attachments.push(a.clone()),
            _ => {
                return Err(ApiError::validation(format!(
                    "attachments[{i}].type must be FILE"
                )));
            }
        }
    }
    let visitor_participant = if direction == "INCOMING" {
        senders[0].clone()
    } else {
        recipients.first().cloned().unwrap_or(Value::Null)
    };
    let key = match body["integrationThreadId"].as_str() {
        Some(t) => format!("itid:{t}"),
        None => format!(
            "di:{}:{}",
            visitor_participant["deliveryIdentifier"]["type"]
                .as_str()
                .unwrap_or(""),
            visitor_participant["deliveryIdentifier"]["value"]
                .as_str()
                .unwrap_or("")
        ),
    };
    let existing = st
        .thread_keys
        .get(&(account_id, key.clone()))
        .copied()
        .filter(|t| st.threads.get(t).is_some_and(|t| !t.archived));
    let (visitor_actor, contact) = if visitor_participant["deliveryIdentifier"].is_object() {
        let (a, c) = visitor_for(
            &mut st,
            &visitor_participant["deliveryIdentifier"],
            visitor_participant["name"].as_str(),
        );
        (Some(a), c)
    } else {
        (None, None)
    };
    let thread_id = match existing {
        Some(t) => t,
        None => {
            if direction == "OUTGOING" && capabilities["allowConversationStart"] != true {
                return Err(ApiError::validation(
                    "No thread exists for this message and the channel does not allow starting conversations",
                ));
            }
            let id = st.next() + 7_000_000_000;
            let mut visitor = visitor_participant.clone();
            if let Some(a) = &visitor_actor {
                visitor["actorId"] = json!(a);
            }
            let inbox_id = st.accounts[&account_id].body["inboxId"]
                .as_str()
                .unwrap_or("")
                .to_string();
            st.threads.insert(
                id,
                Thread {
                    id,
                    status: "OPEN".into(),
                    assigned_to: None,
                    inbox_id,
                    contact_id: contact.clone(),
                    channel_id,
                    channel_account_id: account_id,
                    integration_thread_id: body["integrationThreadId"].as_str().map(str::to_string),
                    visitor,
                    created_at: now_iso(),
                    closed_at: None,
                    archived: false,
                    message_ids: vec![],
                },
            );
            st.thread_keys.insert((account_id, key), id);
            id
        }
    };
    let with_actor = |list: &[Value], actor: Option<&String>| -> Vec<Value> {
        list.iter()
            .map(|p| {
                let mut p = p.clone();
                if let Some(a) = p.get("senderActorId").cloned() {
                    p["actorId"] = a;
                } else if let Some(a) = actor {
                    p["actorId"] = json!(a);
                }
                p
            })
            .collect()
    };
    let (senders_out, recipients_out) = if direction == "INCOMING" {
        (
            with_actor(&senders, visitor_actor.as_ref()),
            with_actor(&recipients, None),
        )
    } else {
        (
            with_actor(&senders, None),
            with_actor(&recipients, visitor_actor.as_ref()),
        )
    };
    let created_by = senders_out[0]["actorId"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| format!("I-{}", config.app_id));
    let id = random_hex(16);
    let now = now_iso();
    let mut message = json!({
        "type": "MESSAGE",
        "id": id,
        "conversationsThreadId": thread_id.to_string(),
        "createdAt": now,
        "updatedAt": now,
        "createdBy": created_by,
        "client": { "clientType": "INTEGRATION", "integrationAppId": config.app_id.parse::<u64>().map(Value::from).unwrap_or(json!(config.app_id)) },
        "senders": senders_out,
        "recipients": recipients_out,
        "archived": false,
        "text": text,
        "attachments": attachments,
        "truncationStatus": "NOT_TRUNCATED",
        "status": { "statusType": "SENT" },
        "direction": direction,
        "channelId": channel_id.to_string(),
        "channelAccountId": account_id.to_string(),
    });
    for f in ["richText", "inReplyToId"] {
        if let Some(v) = body.get(f).filter(|v| !v.is_null()) {
            message[f] = v.clone();
        }
    }
    let thread = st.threads.get_mut(&thread_id).expect("thread exists");
    thread.message_ids.push(id.clone());
    if direction == "INCOMING" && thread.status == "CLOSED" {
        thread.status = "OPEN".into();
        thread.closed_at = None;
    }
    if thread.contact_id.is_none() {
        thread.contact_id = contact;
    }
    if let Some(idem) = body["integrationIdempotencyId"].as_str() {
        st.idempotency
            .insert((channel_id, idem.to_string()), id.clone());
    }
    st.messages.insert(
        id,
        Message {
            body: message.clone(),
            thread_id,
            channel_id,
        },
    );
    Ok(Resp::created(message))
}

fn message_of<'a>(
    st: &'a mut State,
    channel_id: u64,
    id: &str,
) -> Result<&'a mut Message, ApiError> {
    st.messages
        .get_mut(id)
        .filter(|m| m.channel_id == channel_id)
        .ok_or_else(|| ApiError::not_found(format!("Message {id} not found")))
}

/// `GET .../{channelId}/messages/{messageId}`
pub fn get_message(shared: &Shared, req: &Req) -> ApiResult {
    let mut st = shared.state();
    let channel_id = bearer_channel(shared, &st, req.param("channelId"), false)?;
    Ok(Resp::ok(
        message_of(&mut st, channel_id, req.param("messageId"))?
            .body
            .clone(),
    ))
}

/// `PATCH .../{channelId}/messages/{messageId}` `{"statusType":"SENT"|"FAILED"|"READ","errorMessage"}`.
pub fn update_message(shared: &Shared, req: &Req) -> ApiResult {
    let body = req.json_object()?;
    let status = match body.get("statusType") {
        None | Some(Value::Null) => return Err(ApiError::missing_fields(&["statusType"])),
        Some(Value::String(s)) if ["SENT", "FAILED", "READ"].contains(&s.as_str()) => s.clone(),
        Some(_) => {
            return Err(ApiError::validation(
                "statusType must be SENT, FAILED or READ",
            ));
        }
    };
    if body
        .get("errorMessage")
        .is_some_and(|v| !v.is_string() && !v.is_null())
    {
        return Err(ApiError::validation("errorMessage must be a string"));
    }
    let mut st = shared.state();
    let channel_id = bearer_channel(shared, &st, req.param("channelId"), false)?;
    let message = message_of(&mut st, channel_id, req.param("messageId"))?;
    let mut s = json!({ "statusType": status });
    if let Some(e) = body.get("errorMessage").and_then(Value::as_str) {
        s["failureDetails"] = json!({ "errorMessage": e });
    }
    message.body["status"] = s;
    message.body["updatedAt"] = json!(now_iso());
    Ok(Resp::ok(message.body.clone()))
}
