//! The operator: what an agent does in HubSpot's UI (assign, unassign, reply, close), each making
//! exactly the deliveries HubSpot makes, and the `/_sim/...` endpoints a CLI drives it with.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use base64::Engine;
use serde_json::{Value, json};

use crate::channels::usage_for;
use crate::config::{Inbox, InboxKind};
use crate::errors::{ApiError, ApiResult, Resp};
use crate::faults::{self, Fault};
use crate::server::Req;
use crate::state::{Agent, Message, NewContact, Shared, UploadedFile, now_iso, now_ms, random_hex};
use crate::webhooks::{self, Delivery, DeliveryKind, DeliveryOutcome, Payload};

const CHANGE_SOURCE: &str = "CONVERSATIONS";

/// Adds an agent and returns its actor id `A-<n>`.
pub fn add_agent(shared: &Shared, name: &str, email: &str, avatar: Option<&str>) -> String {
    let mut st = shared.state();
    let id = format!("A-{}", st.next() + 80_000);
    st.agents.insert(
        id.clone(),
        Agent {
            id: id.clone(),
            name: name.into(),
            email: email.into(),
            avatar: avatar.map(str::to_string),
        },
    );
    id
}

fn thread_key(shared: &Shared, thread_id: &str) -> anyhow::Result<u64> {
    let id: u64 = thread_id
        .parse()
        .with_context(|| format!("thread id {thread_id} is not numeric"))?;
    let st = shared.state();
    match st.threads.get(&id) {
        Some(t) if !t.archived => Ok(id),
        Some(_) => bail!("thread {thread_id} is archived"),
        None => bail!("no thread {thread_id}"),
    }
}

async fn property_change(
    shared: &Arc<Shared>,
    thread: u64,
    name: &str,
    value: &str,
) -> Vec<DeliveryOutcome> {
    let event = webhooks::app_event(
        shared,
        "conversation.propertyChange",
        thread,
        Some((name, value)),
        CHANGE_SOURCE,
    );
    match webhooks::app_delivery(shared, vec![event]) {
        Some(d) => webhooks::deliver_all(shared.clone(), vec![d]).await,
        None => vec![],
    }
}

/// Assigns the thread to an agent: app event `conversation.propertyChange` `assignedTo`.
pub async fn assign(
    shared: &Arc<Shared>,
    thread_id: &str,
    actor_id: &str,
) -> anyhow::Result<Vec<DeliveryOutcome>> {
    let id = thread_key(shared, thread_id)?;
    {
        let mut st = shared.state();
        if !st.agents.contains_key(actor_id) {
            bail!("no agent {actor_id}");
        }
        st.threads.get_mut(&id).expect("thread exists").assigned_to = Some(actor_id.to_string());
    }
    Ok(property_change(shared, id, "assignedTo", actor_id).await)
}

/// Unassigns the thread: `assignedTo` with an empty value.
pub async fn unassign(
    shared: &Arc<Shared>,
    thread_id: &str,
) -> anyhow::Result<Vec<DeliveryOutcome>> {
    let id = thread_key(shared, thread_id)?;
    shared
        .state()
        .threads
        .get_mut(&id)
        .expect("thread exists")
        .assigned_to = None;
    Ok(property_change(shared, id, "assignedTo", "").await)
}

/// Closes the thread: `status` = `CLOSED`.
pub async fn close_thread(
    shared: &Arc<Shared>,
    thread_id: &str,
) -> anyhow::Result<Vec<DeliveryOutcome>> {
    let id = thread_key(shared, thread_id)?;
    {
        let mut st = shared.state();
        let t = st.threads.get_mut(&id).expect("thread exists");
        t.status = "CLOSED".into();
        t.closed_at = Some(now_iso());
    }
    Ok(property_change(shared, id, "status", "CLOSED").await)
}

/// An agent replies (text and files): the message lands in the thread, the channel's webhook gets
/// `OUTGOING_CHANNEL_MESSAGE_CREATED`, the app webhook `conversation.newMessage`.
pub async fn agent_reply(
    shared: &Arc<Shared>,
    thread_id: &str,
    actor_id: &str,
    text: &str,
    files: Vec<UploadedFile>,
) -> anyhow::Result<Vec<DeliveryOutcome>> {
    let id = thread_key(shared, thread_id)?;
    let config = shared.config();
    let (message, channel_webhook, integration_thread_id, channel_id) = {
        let mut st = shared.state();
        let agent = st
            .agents
            .get(actor_id)
            .cloned()
            .with_context(|| format!("no agent {actor_id}"))?;
        let mut attachments = Vec::new();
        for f in files {
            let usage = usage_for(&f.content_type);
            let stored = crate::files::store_file(
                shared,
                &mut st,
                &f.name,
                &f.content_type,
                f.bytes,
                &format!("/conversations/{id}"),
                "PRIVATE",
            );
            attachments.push(json!({
                "type": "FILE",
                "fileId": stored["id"],
                "fileUsageType": usage,
                "name": f.name,
                "url": stored["url"],
            }));
        }
        let thread = st.threads[&id].clone();
        let channel_webhook = st
            .channels
            .get(&thread.channel_id)
            .and_then(|c| c.body["webhookUrl"].as_str().map(str::to_string));
        let mut recipient = thread.visitor.clone();
        recipient["recipientField"] = json!("TO");
        let mid = random_hex(16);
        let now = now_iso();
        let message = json!({
            "type": "MESSAGE",
            "id": mid,
            "conversationsThreadId": id.to_string(),
            "createdAt": now,
            "updatedAt": now,
            "createdBy": actor_id,
            "client": { "clientType": "HUBSPOT" },
            "senders": [{ "actorId": actor_id, "name": agent.name, "senderField": "FROM" }],
            "recipients": [recipient],
            "archived": false,
            "text": text,
            "richText": format!("<div>{}</div>", html_escape(text)),
            "attachments": attachments,
            "truncationStatus": "NOT_TRUNCATED",
            "status": { "statusType": "SENT" },
            "direction": "OUTGOING",
            "channelId": thread.channel_id.to_string(),
            "channelAccountId": thread.channel_account_id.to_string(),
        });
        st.threads
            .get_mut(&id)
            .expect("thread exists")
            .message_ids
            .push(mid.clone());
        st.messages.insert(
            mid,
            Message {
                body: message.clone(),
                thread_id: id,
                channel_id: thread.channel_id,
            },
        );
        (
            message,
            channel_webhook,
            thread.integration_thread_id,
            thread.channel_id,
        )
    };
    let mut deliveries = Vec::new();
    if let Some(url) = channel_webhook {
        deliveries.push(Delivery {
            url,
            kind: DeliveryKind::ChannelWebhook,
            payload: Payload::Object(json!({
                "type": "OUTGOING_CHANNEL_MESSAGE_CREATED",
                "portalId": config.portal_id.to_string(),
                "channelId": channel_id.to_string(),
                "eventTimestamp": now_ms(),
                "channelIntegrationThreadIds": integration_thread_id.into_iter().collect::<Vec<_>>(),
                "message": message,
            })),
        });
    }
    let mut event = webhooks::app_event(shared, "conversation.newMessage", id, None, CHANGE_SOURCE);
    event["messageId"] = message["id"].clone();
    event["messageType"] = json!("MESSAGE");
    event["changeFlag"] = json!("NEW_MESSAGE");
    deliveries.extend(webhooks::app_delivery(shared, vec![event]));
    Ok(webhooks::deliver_all(shared.clone(), deliveries).await)
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn outcomes_json(outcomes: Vec<DeliveryOutcome>) -> Value {
    Value::Array(
        outcomes
            .into_iter()
            .map(|o| json!({ "url": o.url, "kind": kind_name(o.kind), "status": o.status, "body": o.body }))
            .collect(),
    )
}

fn kind_name(k: DeliveryKind) -> &'static str {
    match k {
        DeliveryKind::ChannelWebhook => "CHANNEL_WEBHOOK",
        DeliveryKind::AppWebhook => "APP_WEBHOOK",
    }
}

fn operator_error(e: anyhow::Error) -> ApiError {
    ApiError::not_found(format!("{e:#}"))
}

/// `GET /_sim/requests`
pub fn http_requests(shared: &Shared) -> ApiResult {
    let st = shared.state();
    let list: Vec<Value> = st
        .requests
        .iter()
        .map(|(_, r)| {
            json!({
                "method": r.method, "path": r.path, "query": r.query, "endpoint": r.endpoint,
                "headers": r.headers.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
                "body": String::from_utf8_lossy(&r.body), "status": r.status,
            })
        })
        .collect();
    Ok(Resp::ok(Value::Array(list)))
}

/// `DELETE /_sim/requests`
pub fn http_clear_requests(shared: &Shared) -> ApiResult {
    let mut st = shared.state();
    st.requests.clear();
    st.call_counts.clear();
    Ok(Resp::no_content())
}

/// `GET /_sim/state`
pub fn http_state(shared: &Shared) -> ApiResult {
    let st = shared.state();
    Ok(Resp::ok(json!({
        "channels": st.channels.values().map(|c| c.body.clone()).collect::<Vec<_>>(),
        "channelAccounts": st.accounts.values().map(|a| a.body.clone()).collect::<Vec<_>>(),
        "threads": st.threads.values().map(|t| t.to_json(&st.messages)).collect::<Vec<_>>(),
        "inboxes": st.inboxes.iter().map(|i| json!({"id": i.id, "name": i.name, "type": i.kind.as_str()})).collect::<Vec<_>>(),
        "agents": st.agents.values().map(|a| json!({"id": a.id, "name": a.name, "email": a.email, "avatar": a.avatar})).collect::<Vec<_>>(),
        "contacts": st.contacts.values().map(|c| json!({"id": c.id, "properties": c.properties})).collect::<Vec<_>>(),
    })))
}

/// `GET /_sim/deliveries`
pub fn http_deliveries(shared: &Shared) -> ApiResult {
    let st = shared.state();
    Ok(Resp::ok(Value::Array(
        st.deliveries
            .iter()
            .map(|d| json!({"url": d.url, "kind": kind_name(d.kind), "attempt": d.attempt, "body": d.body, "status": d.status}))
            .collect(),
    )))
}

fn str_field(body: &serde_json::Map<String, Value>, name: &str) -> Result<String, ApiError> {
    body.get(name)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ApiError::missing_fields(&[name]))
}

fn opt_str(body: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    body.get(name).and_then(Value::as_str).map(str::to_string)
}

/// `POST /_sim/agents {name, email, avatar?}` → `{id}`
pub fn http_add_agent(shared: &Shared, req: &Req) -> ApiResult {
    let body = req.json_object()?;
    let id = add_agent(
        shared,
        &str_field(&body, "name")?,
        &str_field(&body, "email")?,
        opt_str(&body, "avatar").as_deref(),
    );
    Ok(Resp::created(json!({ "id": id })))
}

/// `POST /_sim/contacts {email?, phone?, mobilephone?, firstname?, lastname?}` → `{id}`
pub fn http_add_contact(shared: &Shared, req: &Req) -> ApiResult {
    let body = req.json_object()?;
    let contact = NewContact {
        email: opt_str(&body, "email"),
        phone: opt_str(&body, "phone"),
        mobilephone: opt_str(&body, "mobilephone"),
        firstname: opt_str(&body, "firstname"),
        lastname: opt_str(&body, "lastname"),
    };
    let id = crate::crm::add_contact(&mut shared.state(), contact);
    Ok(Resp::created(json!({ "id": id })))
}

/// `POST /_sim/inboxes {id, name, type: INBOX|HELP_DESK}`
pub fn http_add_inbox(shared: &Shared, req: &Req) -> ApiResult {
    let body = req.json_object()?;
    let kind = match opt_str(&body, "type").as_deref() {
        Some("HELP_DESK") => InboxKind::HelpDesk,
        Some("INBOX") | None => InboxKind::Inbox,
        Some(other) => return Err(ApiError::validation(format!("unknown inbox type {other}"))),
    };
    let inbox = Inbox {
        id: str_field(&body, "id")?,
        name: str_field(&body, "name")?,
        kind,
    };
    shared.state().inboxes.push(inbox);
    Ok(Resp::created(json!({})))
}

/// `POST /_sim/threads/{threadId}/assign {actorId}` → the delivery outcomes.
pub async fn http_assign(shared: &Arc<Shared>, req: &Req) -> ApiResult {
    let body = req.json_object()?;
    let actor = str_field(&body, "actorId")?;
    assign(shared, req.param("threadId"), &actor)
        .await
        .map(|o| Resp::ok(outcomes_json(o)))
        .map_err(operator_error)
}

/// `POST /_sim/threads/{threadId}/unassign`
pub async fn http_unassign(shared: &Arc<Shared>, req: &Req) -> ApiResult {
    unassign(shared, req.param("threadId"))
        .await
        .map(|o| Resp::ok(outcomes_json(o)))
        .map_err(operator_error)
}

/// `POST /_sim/threads/{threadId}/reply {actorId, text, files?: [{name, contentType, base64}]}`
pub async fn http_reply(shared: &Arc<Shared>, req: &Req) -> ApiResult {
    let body = req.json_object()?;
    let actor = str_field(&body, "actorId")?;
    let text = str_field(&body, "text")?;
    let mut files = Vec::new();
    for f in body
        .get("files")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
    {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(f["base64"].as_str().unwrap_or(""))
            .map_err(|e| ApiError::validation(format!("files[].base64: {e}")))?;
        files.push(UploadedFile {
            name: f["name"].as_str().unwrap_or("file").to_string(),
            content_type: f["contentType"]
                .as_str()
                .unwrap_or("application/octet-stream")
                .to_string(),
            bytes,
        });
    }
    agent_reply(shared, req.param("threadId"), &actor, &text, files)
        .await
        .map(|o| Resp::ok(outcomes_json(o)))
        .map_err(operator_error)
}

/// `POST /_sim/threads/{threadId}/close`
pub async fn http_close(shared: &Arc<Shared>, req: &Req) -> ApiResult {
    close_thread(shared, req.param("threadId"))
        .await
        .map(|o| Resp::ok(outcomes_json(o)))
        .map_err(operator_error)
}

/// `POST /_sim/faults {kind, ...}`: `failNext {endpoint?, status, count?, retryAfterSecs?}`,
/// `slow {endpoint?, delayMs, count?}`, `expireTokens`, `revokeRefreshToken`,
/// `duplicateDeliveries`, `reorderDeliveries`.
pub fn http_inject(shared: &Shared, req: &Req) -> ApiResult {
    let body = req.json_object()?;
    let endpoint = opt_str(&body, "endpoint");
    let count = body.get("count").and_then(Value::as_u64).unwrap_or(1) as usize;
    let fault = match opt_str(&body, "kind").as_deref() {
        Some("failNext") => Fault::FailNext {
            endpoint,
            status: body
                .get("status")
                .and_then(Value::as_u64)
                .ok_or_else(|| ApiError::missing_fields(&["status"]))? as u16,
            count,
            retry_after_secs: body.get("retryAfterSecs").and_then(Value::as_u64),
        },
        Some("slow") => Fault::Slow {
            endpoint,
            delay: Duration::from_millis(
                body.get("delayMs").and_then(Value::as_u64).unwrap_or(1000),
            ),
            count,
        },
        Some("expireTokens") => Fault::ExpireTokens,
        Some("revokeRefreshToken") => Fault::RevokeRefreshToken,
        Some("duplicateDeliveries") => Fault::DuplicateDeliveries,
        Some("reorderDeliveries") => Fault::ReorderDeliveries,
        _ => return Err(ApiError::validation("unknown fault kind")),
    };
    faults::inject(shared, fault);
    Ok(Resp::no_content())
}

/// `DELETE /_sim/faults`
pub fn http_clear_faults(shared: &Shared) -> ApiResult {
    faults::clear(shared);
    Ok(Resp::no_content())
}

/// `PUT /_sim/app-webhook-url {url: string|null}`
pub fn http_app_webhook_url(shared: &Shared, req: &Req) -> ApiResult {
    let body = req.json_object()?;
    shared.set_app_webhook_url(opt_str(&body, "url"));
    Ok(Resp::no_content())
}

/// `POST /_sim/auth-codes {redirectUri}` → `{code}`
pub fn http_auth_code(shared: &Shared, req: &Req) -> ApiResult {
    let body = req.json_object()?;
    let code = crate::auth::issue_auth_code(shared, &str_field(&body, "redirectUri")?);
    Ok(Resp::created(json!({ "code": code })))
}
