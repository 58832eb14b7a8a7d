//! The HubSpot API client: the endpoints the integration uses, authentication (bearer or developer
//! key), retries (429 after `Retry-After` or a backoff; 5xx and timeouts for idempotent calls; one
//! token refresh on a 401) and HubSpot's error bodies turned into [`HitlError`]s.

use alloc::{
    borrow::ToOwned,
    format,
    string::{String, ToString},
    vec,
    vec::Vec,
};

use crate::config::Config;
use crate::error::{HitlError, Result};
use crate::fetch::{FetchError, Method, Request, Response, fetch};
use crate::json::{
    self, FieldError, FromJson, Object, Value, flag, opt_string, optional, string, string_or_empty,
};
use crate::oauth;
use crate::platform::{debug, random_below, sleep_ms, warn};

/// HubSpot's API base; a host may route it elsewhere (a simulator, a proxy).
pub const API_BASE: &str = "https://api.hubapi.com";

/// Largest answer body accepted from the API.
const MAX_API_BODY: usize = 4 * 1024 * 1024;
/// Most attempts of one call (first try included).
const MAX_ATTEMPTS: u32 = 4;
/// Most time one call may spend sleeping between attempts (the attempts themselves are bounded by
/// the fetch timeouts).
const MAX_TOTAL_WAIT_MS: u64 = 20_000;

/// How a call authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Bearer <access token>` (channel accounts, messages, conversations, CRM, files).
    Bearer,
    /// `?hapikey=<developer API key>&appId=<app id>` (channel management).
    DeveloperKey,
    /// No credentials in headers (the token endpoint carries them in its form body).
    None,
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// No body.
    Empty,
    /// A JSON document.
    Json(Value),
    /// An `application/x-www-form-urlencoded` form.
    Form(Vec<(&'static str, String)>),
    /// Raw bytes with a content type (multipart uploads).
    Raw(String, Vec<u8>),
}

/// One API call.
#[derive(Debug, Clone)]
pub struct Call {
    /// The method.
    pub method: Method,
    /// The path (and query) under [`API_BASE`].
    pub path: String,
    /// How to authenticate.
    pub auth: Auth,
    /// The body.
    pub body: Body,
    /// Whether repeating it is harmless (retried on 5xx and timeouts when true).
    pub idempotent: bool,
    /// What it does, for errors and logs (`"create channel"`).
    pub what: &'static str,
}

impl Call {
    /// A call with defaults: idempotent for GET/PATCH/PUT/DELETE.
    pub fn new(method: Method, path: impl Into<String>, auth: Auth, what: &'static str) -> Call {
        let idempotent = !matches!(method, Method::Post);
        Call {
            method,
            path: path.into(),
            auth,
            body: Body::Empty,
            idempotent,
            what,
        }
    }

    /// Sets a JSON body.
    pub fn json(mut self, value: Value) -> Call {
        self.body = Body::Json(value);
        self
    }

    /// Marks a POST as safe to repeat (it carries an idempotency id, or it only reads).
    pub fn idempotent(mut self) -> Call {
        self.idempotent = true;
        self
    }
}

/// A HubSpot client for one call of the component.
pub struct HubSpot<'a> {
    /// The installation's id (the token lives in its state).
    pub integration_id: &'a str,
    /// The validated configuration.
    pub config: &'a Config,
}

impl<'a> HubSpot<'a> {
    /// A client for the installation `integration_id`.
    pub fn new(integration_id: &'a str, config: &'a Config) -> Self {
        HubSpot {
            integration_id,
            config,
        }
    }

    /// Sends `call`, retrying what can be retried, and returns HubSpot's answer whatever its status
    /// (but 401 after a refresh, 429 and 5xx after the retries are turned into errors).
    pub fn send(&self, call: &Call) -> Result<Response> {
        let mut slept_ms = 0u64;
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let token = match call.auth {
                Auth::Bearer => Some(oauth::access_token(self)?),
                _ => None,
            };
            let request = self.request(call, token.as_deref())?;
            let outcome = fetch(&request, MAX_API_BODY);
            let budget_left = MAX_TOTAL_WAIT_MS.saturating_sub(slept_ms);
            let wait_ms = match outcome {
                Ok(r) if r.status == 401 && call.auth == Auth::Bearer && !refreshed => {
                    // A token HubSpot no longer takes (revoked, or expired early): refresh once.
                    refreshed = true;
                    attempt -= 1;
                    if let Some(t) = &token {
                        oauth::invalidate(self, t);
                    }
                    continue;
                }
                Ok(r) if r.status == 429 => {
                    let retry_after = retry_after_ms(&r);
                    let wait = retry_after.unwrap_or_else(|| backoff_ms(attempt, 1_000, 8_000));
                    if attempt >= MAX_ATTEMPTS || wait > budget_left {
                        return Err(HitlError::RateLimited {
                            retry_after_ms: Some(retry_after.unwrap_or(wait)),
                            message: format!("{}: HubSpot is rate limiting this app", call.what),
                        });
                    }
                    wait
                }
                Ok(r) if matches!(r.status, 500 | 502 | 503 | 504) => {
                    let wait = backoff_ms(attempt, 250, 4_000);
                    if !call.idempotent || attempt >= MAX_ATTEMPTS || wait > budget_left {
                        return Err(error_for(&r, call.what));
                    }
                    wait
                }
                Ok(response) => return Ok(response),
                Err(FetchError::Transport(e)) => {
                    let wait = backoff_ms(attempt, 250, 4_000);
                    if !call.idempotent || attempt >= MAX_ATTEMPTS || wait > budget_left {
                        return Err(HitlError::Upstream {
                            status: 0,
                            message: format!("{}: HubSpot did not answer ({e})", call.what),
                        });
                    }
                    wait
                }
                Err(e) => {
                    return Err(HitlError::Upstream {
                        status: 0,
                        message: format!("{}: {e}", call.what),
                    });
                }
            };
            debug(&format!(
                "{}: retrying in {wait_ms} ms (attempt {attempt})",
                call.what
            ));
            sleep_ms(wait_ms);
            slept_ms += wait_ms;
        }
    }

    /// Sends `call` and parses a 2xx JSON answer; any other status becomes an error.
    pub fn send_json(&self, call: &Call) -> Result<Value> {
        Ok(self.answer(call)?.1)
    }

    /// Sends `call` and reads a 2xx JSON answer as a `T`; any other status becomes an error.
    fn send_for<T: FromJson>(&self, call: &Call) -> Result<T> {
        let (status, answer) = self.answer(call)?;
        T::from_json(&answer).map_err(|e| undecodable(call.what, status, &e))
    }

    /// Sends `call` and parses a 2xx JSON answer: (status, body).
    fn answer(&self, call: &Call) -> Result<(u16, Value)> {
        let response = self.send(call)?;
        if !response.is_success() {
            return Err(error_for(&response, call.what));
        }
        Ok((response.status, parse_answer(&response, call.what)?))
    }

    fn request(&self, call: &Call, token: Option<&str>) -> Result<Request> {
        let mut url = format!("{API_BASE}{}", call.path);
        let mut headers = vec![("accept".to_owned(), "application/json".to_owned())];
        match call.auth {
            Auth::Bearer => {
                let token = token.ok_or_else(|| HitlError::Internal("no access token".into()))?;
                headers.push(("authorization".to_owned(), format!("Bearer {token}")));
            }
            Auth::DeveloperKey => {
                let sep = if url.contains('?') { '&' } else { '?' };
                let query = form_urlencoded::Serializer::new(String::new())
                    .append_pair("hapikey", &self.config.developer_api_key)
                    .append_pair("appId", &self.config.app_id)
                    .finish();
                url = format!("{url}{sep}{query}");
            }
            Auth::None => {}
        }
        let body = match &call.body {
            Body::Empty => Vec::new(),
            Body::Json(v) => {
                headers.push(("content-type".to_owned(), "application/json".to_owned()));
                v.to_string().into_bytes()
            }
            Body::Form(pairs) => {
                headers.push((
                    "content-type".to_owned(),
                    "application/x-www-form-urlencoded".to_owned(),
                ));
                let mut s = form_urlencoded::Serializer::new(String::new());
                for (k, v) in pairs {
                    s.append_pair(k, v);
                }
                s.finish().into_bytes()
            }
            Body::Raw(content_type, bytes) => {
                headers.push(("content-type".to_owned(), content_type.clone()));
                bytes.clone()
            }
        };
        Ok(Request {
            method: call.method,
            url,
            headers,
            body,
        })
    }
}

/// Parses an answer's JSON body; one that is not JSON is an upstream error.
pub fn parse_answer(response: &Response, what: &str) -> Result<Value> {
    json::parse(&response.body).map_err(|e| undecodable(what, response.status, &e))
}

/// HubSpot answered `status` with a body we cannot read.
pub fn undecodable(what: &str, status: u16, e: &dyn core::fmt::Display) -> HitlError {
    HitlError::Upstream {
        status,
        message: format!("{what}: HubSpot's answer did not decode ({e})"),
    }
}

/// Exponential backoff with jitter: `base * 2^(attempt-1)`, capped, plus up to half of it again.
fn backoff_ms(attempt: u32, base: u64, cap: u64) -> u64 {
    let exp = base
        .saturating_mul(1u64 << (attempt.saturating_sub(1)).min(10))
        .min(cap);
    exp / 2 + random_below(exp / 2 + 1)
}

/// `Retry-After` in milliseconds (seconds form; HubSpot does not send dates).
fn retry_after_ms(response: &Response) -> Option<u64> {
    seconds_to_ms(response.header("retry-after")?.trim())
}

/// A non-negative decimal number of seconds (`2`, `0.5`) in whole milliseconds.
fn seconds_to_ms(text: &str) -> Option<u64> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + fraction.len() == 0 || !is_digits(whole) || !is_digits(fraction) {
        return None;
    }
    let seconds: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let millis = fraction
        .bytes()
        .chain(core::iter::repeat(b'0'))
        .take(3)
        .fold(0, |ms, digit| ms * 10 + u64::from(digit - b'0'));
    Some(seconds.saturating_mul(1000).saturating_add(millis))
}

/// HubSpot's error body, every field optional.
#[derive(Debug, Default)]
pub struct ApiError {
    /// `error` or an OAuth status such as `BAD_REFRESH_TOKEN`.
    pub status: Option<String>,
    /// A human-readable explanation.
    pub message: Option<String>,
    /// `OBJECT_NOT_FOUND`, `VALIDATION_ERROR`, `MISSING_SCOPES`, ...
    pub category: Option<String>,
    /// HubSpot's id for the failure, for its support.
    pub correlation_id: Option<String>,
    /// OAuth's `invalid_grant` and friends.
    pub error: Option<String>,
}

impl ApiError {
    /// Decodes an error body (an empty record when it is not HubSpot's JSON).
    pub fn parse(response: &Response) -> ApiError {
        json::parse(&response.body)
            .ok()
            .and_then(|body| ApiError::from_json(&body).ok())
            .unwrap_or_default()
    }

    /// A one-line summary: category, message (shortened) and correlation id.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = self.category.as_deref().or(self.status.as_deref()) {
            parts.push(c.to_owned());
        }
        if let Some(m) = &self.message {
            parts.push(m.chars().take(300).collect());
        }
        if let Some(id) = &self.correlation_id {
            parts.push(format!("correlation id {id}"));
        }
        if parts.is_empty() {
            "no details".to_owned()
        } else {
            crate::platform::join(&parts, ": ")
        }
    }
}

impl FromJson for ApiError {
    fn from_json(v: &Value) -> core::result::Result<Self, FieldError> {
        Ok(ApiError {
            status: opt_string(v, "status")?,
            message: opt_string(v, "message")?,
            category: opt_string(v, "category")?,
            correlation_id: opt_string(v, "correlationId")?,
            error: opt_string(v, "error")?,
        })
    }
}

/// Turns a non-2xx answer into the matching error.
pub fn error_for(response: &Response, what: &str) -> HitlError {
    let api = ApiError::parse(response);
    let summary = api.summary();
    let status = response.status;
    match status {
        401 => HitlError::Unauthorized(format!(
            "{what}: HubSpot refused the app's credentials ({summary}); re-authorise the app"
        )),
        403 if api.category.as_deref() == Some("MISSING_SCOPES") => {
            HitlError::Unauthorized(format!(
                "{what}: the app lacks a scope it needs ({summary}); add the scopes listed in the README and reinstall"
            ))
        }
        403 => HitlError::Unauthorized(format!("{what}: HubSpot forbids it ({summary})")),
        404 => HitlError::NotFound(format!("{what}: HubSpot does not know it ({summary})")),
        429 => HitlError::RateLimited {
            retry_after_ms: retry_after_ms(response),
            message: format!("{what}: {summary}"),
        },
        _ => HitlError::Upstream {
            status,
            message: format!("{what}: {summary}"),
        },
    }
}

/// Percent-encodes one path segment.
pub fn segment(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

// ---- Endpoints ------------------------------------------------------------------------------

const CHANNELS: &str = "/conversations/v3/custom-channels/";

/// A custom channel as HubSpot describes it.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: Option<String>,
    /// Where its webhooks go.
    pub webhook_url: Option<String>,
}

impl FromJson for Channel {
    fn from_json(v: &Value) -> core::result::Result<Self, FieldError> {
        Ok(Channel {
            id: string(v, "id")?,
            name: opt_string(v, "name")?,
            webhook_url: opt_string(v, "webhookUrl")?,
        })
    }
}

/// A channel account as HubSpot describes it.
#[derive(Debug, Clone)]
pub struct ChannelAccount {
    /// Its id.
    pub id: String,
    /// The inbox it delivers into.
    pub inbox_id: Option<String>,
    /// Whether it was archived.
    pub archived: bool,
    /// Its own delivery identifier.
    pub delivery_identifier: Option<DeliveryIdentifier>,
}

impl FromJson for ChannelAccount {
    fn from_json(v: &Value) -> core::result::Result<Self, FieldError> {
        Ok(ChannelAccount {
            id: string(v, "id")?,
            inbox_id: opt_string(v, "inboxId")?,
            archived: flag(v, "archived")?,
            delivery_identifier: optional(v, "deliveryIdentifier")
                .map(DeliveryIdentifier::from_json)
                .transpose()?,
        })
    }
}

/// How a participant is addressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryIdentifier {
    /// `HS_EMAIL_ADDRESS`, `HS_PHONE_NUMBER`, `CHANNEL_SPECIFIC_OPAQUE_ID`.
    pub kind: String,
    /// The address.
    pub value: String,
}

impl FromJson for DeliveryIdentifier {
    fn from_json(v: &Value) -> core::result::Result<Self, FieldError> {
        Ok(DeliveryIdentifier {
            kind: string(v, "type")?,
            value: string(v, "value")?,
        })
    }
}

/// An inbox.
#[derive(Debug, Clone)]
pub struct Inbox {
    /// Its id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// `INBOX` or `HELP_DESK`.
    pub kind: String,
    /// Whether it was archived.
    pub archived: bool,
}

impl FromJson for Inbox {
    fn from_json(v: &Value) -> core::result::Result<Self, FieldError> {
        Ok(Inbox {
            id: string(v, "id")?,
            name: string_or_empty(v, "name")?,
            kind: string_or_empty(v, "type")?,
            archived: flag(v, "archived")?,
        })
    }
}

/// A page of a list: its `results`, and the cursor of the next page when there is one.
fn take_page(page: &mut Value) -> core::result::Result<(Vec<Value>, Option<String>), FieldError> {
    let results = match page.get_mut("results") {
        None => Vec::new(),
        Some(Value::Array(items)) => core::mem::take(items),
        Some(_) => return Err(FieldError::new("results", "a list")),
    };
    let next = optional(page, "paging").and_then(|paging| optional(paging, "next"));
    let after = next.map(|n| opt_string(n, "after")).transpose()?.flatten();
    Ok((results, after))
}

/// Most pages read from a list (HubSpot's pages hold up to 100).
const MAX_PAGES: usize = 20;

impl HubSpot<'_> {
    /// Reads every page of a list and each of its `results` as a `T`.
    fn list_all<T: FromJson>(&self, path: &str, auth: Auth, what: &'static str) -> Result<Vec<T>> {
        self.list_all_json(path, auth, what)?
            .iter()
            .map(|item| T::from_json(item).map_err(|e| undecodable(what, 200, &e)))
            .collect()
    }

    /// Reads every page of a list: the `results` of each, in order.
    fn list_all_json(&self, path: &str, auth: Auth, what: &'static str) -> Result<Vec<Value>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let sep = if path.contains('?') { '&' } else { '?' };
            let mut p = format!("{path}{sep}limit=100");
            if let Some(a) = &after {
                p.push_str("&after=");
                p.push_str(&segment(a));
            }
            let (status, mut page) = self.answer(&Call::new(Method::Get, p, auth, what))?;
            let (results, next) =
                take_page(&mut page).map_err(|e| undecodable(what, status, &e))?;
            out.extend(results);
            after = next;
            if after.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Creates the custom channel (developer key).
    pub fn create_channel(&self, body: Value) -> Result<Channel> {
        self.send_for(
            &Call::new(
                Method::Post,
                CHANNELS,
                Auth::DeveloperKey,
                "create custom channel",
            )
            .json(body),
        )
    }

    /// Reads a channel by id; `None` when HubSpot does not know it (or not yet).
    pub fn get_channel(&self, channel_id: &str) -> Result<Option<Channel>> {
        let call = Call::new(
            Method::Get,
            format!("{CHANNELS}{}", segment(channel_id)),
            Auth::DeveloperKey,
            "get custom channel",
        );
        let response = self.send(&call)?;
        match response.status {
            404 => Ok(None),
            s if (200..300).contains(&s) => {
                Ok(Some(Channel::from_json(&json::parse(&response.body)?)?))
            }
            _ => Err(error_for(&response, call.what)),
        }
    }

    /// Lists the app's channels.
    pub fn list_channels(&self) -> Result<Vec<Channel>> {
        self.list_all(CHANNELS, Auth::DeveloperKey, "list custom channels")
    }

    /// Updates a channel's fields (e.g. its webhook URL).
    pub fn update_channel(&self, channel_id: &str, body: Value) -> Result<Channel> {
        self.send_for(
            &Call::new(
                Method::Patch,
                format!("{CHANNELS}{}", segment(channel_id)),
                Auth::DeveloperKey,
                "update custom channel",
            )
            .json(body),
        )
    }

    /// Archives a channel; a channel already gone is not an error.
    pub fn delete_channel(&self, channel_id: &str) -> Result<()> {
        let call = Call::new(
            Method::Delete,
            format!("{CHANNELS}{}", segment(channel_id)),
            Auth::DeveloperKey,
            "delete custom channel",
        );
        let response = self.send(&call)?;
        if response.is_success() || response.status == 404 {
            Ok(())
        } else {
            Err(error_for(&response, call.what))
        }
    }

    /// Lists the channel's accounts.
    pub fn list_channel_accounts(&self, channel_id: &str) -> Result<Vec<ChannelAccount>> {
        self.list_all(
            &format!("{CHANNELS}{}/channel-accounts", segment(channel_id)),
            Auth::Bearer,
            "list channel accounts",
        )
    }

    /// Connects a channel account; returns the raw answer so the caller can tell "channel not known
    /// yet" from other refusals.
    pub fn create_channel_account(&self, channel_id: &str, body: Value) -> Result<Response> {
        self.send(
            &Call::new(
                Method::Post,
                format!("{CHANNELS}{}/channel-accounts", segment(channel_id)),
                Auth::Bearer,
                "connect channel account",
            )
            .json(body),
        )
    }

    /// Lists the account's inboxes.
    pub fn list_inboxes(&self) -> Result<Vec<Inbox>> {
        self.list_all(
            "/conversations/v3/conversations/inboxes",
            Auth::Bearer,
            "list inboxes",
        )
    }

    /// Publishes a message on the channel; `idempotency_id` makes a retry safe.
    pub fn publish_message(&self, channel_id: &str, body: Value) -> Result<Value> {
        let call = Call::new(
            Method::Post,
            format!("{CHANNELS}{}/messages", segment(channel_id)),
            Auth::Bearer,
            "publish message",
        )
        .json(body);
        let call = if call_has_idempotency_id(&call) {
            call.idempotent()
        } else {
            call
        };
        self.send_json(&call)
    }

    /// Sets a thread's status (`CLOSED` / `OPEN`); returns the raw answer (a closed or gone thread is
    /// the caller's call).
    pub fn set_thread_status(&self, thread_id: &str, status: &str) -> Result<Response> {
        self.send(
            &Call::new(
                Method::Patch,
                format!(
                    "/conversations/v3/conversations/threads/{}",
                    segment(thread_id)
                ),
                Auth::Bearer,
                "close thread",
            )
            .json(Object::new().with("status", status).into()),
        )
    }

    /// Reads an actor (an agent: name, email, avatar).
    pub fn get_actor(&self, actor_id: &str) -> Result<Value> {
        self.send_json(&Call::new(
            Method::Get,
            format!(
                "/conversations/v3/conversations/actors/{}",
                segment(actor_id)
            ),
            Auth::Bearer,
            "get actor",
        ))
    }

    /// Finds a contact by email; `None` when there is none.
    pub fn contact_by_email(&self, email: &str) -> Result<Option<Value>> {
        let call = Call::new(
            Method::Get,
            format!(
                "/crm/v3/objects/contacts/{}?idProperty=email&properties=email,firstname,lastname,phone,mobilephone",
                segment(email)
            ),
            Auth::Bearer,
            "find contact by email",
        );
        let response = self.send(&call)?;
        match response.status {
            404 => Ok(None),
            s if (200..300).contains(&s) => Ok(Some(json::parse(&response.body)?)),
            _ => Err(error_for(&response, call.what)),
        }
    }

    /// Finds a contact whose `property` (phone, mobilephone) equals `value`.
    pub fn search_contact(&self, property: &str, value: &str) -> Result<Option<Value>> {
        let filter = Object::new()
            .with("propertyName", property)
            .with("operator", "EQ")
            .with("value", value);
        let group = Object::new().with("filters", vec![Value::from(filter)]);
        let body = Object::new()
            .with("filterGroups", vec![Value::from(group)])
            .with(
                "properties",
                vec!["email", "firstname", "lastname", "phone", "mobilephone"],
            )
            .with("limit", 1u64);
        let found: Value = self.send_json(
            &Call::new(
                Method::Post,
                "/crm/v3/objects/contacts/search",
                Auth::Bearer,
                "search contact by phone",
            )
            .json(body.into())
            .idempotent(),
        )?;
        Ok(found
            .get("results")
            .and_then(Value::as_array)
            .and_then(|r| r.first())
            .cloned())
    }

    /// Uploads a file to HubSpot's file store (multipart) and returns its id.
    pub fn upload_file(
        &self,
        name: &str,
        content_type: &str,
        bytes: &[u8],
        folder: &str,
    ) -> Result<String> {
        let boundary = format!("hitl-{}", crate::platform::uuid_v4());
        let body = multipart(&boundary, name, content_type, bytes, folder);
        let call = Call {
            method: Method::Post,
            path: "/files/v3/files".to_owned(),
            auth: Auth::Bearer,
            body: Body::Raw(format!("multipart/form-data; boundary={boundary}"), body),
            idempotent: true,
            what: "upload file",
        };
        let file: Value = self.send_json(&call)?;
        id_of(&file).ok_or_else(|| HitlError::Upstream {
            status: 200,
            message: "upload file: HubSpot's answer has no file id".into(),
        })
    }
}

fn call_has_idempotency_id(call: &Call) -> bool {
    matches!(&call.body, Body::Json(v) if v.get("integrationIdempotencyId").is_some())
}

/// An object's `id`, whether HubSpot gave it as a string or a number.
pub fn id_of(v: &Value) -> Option<String> {
    match v.get("id")? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Builds a `multipart/form-data` body with the file, the folder and private access.
fn multipart(
    boundary: &str,
    name: &str,
    content_type: &str,
    bytes: &[u8],
    folder: &str,
) -> Vec<u8> {
    let safe_name: String = name
        .chars()
        .map(|c| {
            if c == '"' || c == '\r' || c == '\n' {
                '_'
            } else {
                c
            }
        })
        .collect();
    let mut out = Vec::with_capacity(bytes.len() + 512);
    let mut part = |headers: String, content: &[u8]| {
        out.extend_from_slice(format!("--{boundary}\r\n{headers}\r\n\r\n").as_bytes());
        out.extend_from_slice(content);
        out.extend_from_slice(b"\r\n");
    };
    part(
        format!(
            "Content-Disposition: form-data; name=\"file\"; filename=\"{safe_name}\"\r\nContent-Type: {content_type}"
        ),
        bytes,
    );
    part(
        "Content-Disposition: form-data; name=\"folderPath\"".to_owned(),
        folder.as_bytes(),
    );
    part(
        "Content-Disposition: form-data; name=\"options\"".to_owned(),
        br#"{"access":"PRIVATE","overwrite":false,"duplicateValidationStrategy":"NONE"}"#,
    );
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

/// Logs a refusal that the caller chose to tolerate.
pub fn tolerate(response: &Response, what: &str) {
    warn(&format!(
        "{what}: HubSpot answered {} ({}); going on",
        response.status,
        ApiError::parse(response).summary()
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_whole_and_fractional_seconds() {
        assert_eq!(seconds_to_ms("2"), Some(2_000));
        assert_eq!(seconds_to_ms("0.5"), Some(500));
        assert_eq!(seconds_to_ms("1.2345"), Some(1_234));
        assert_eq!(seconds_to_ms(".25"), Some(250));
        assert_eq!(seconds_to_ms("3."), Some(3_000));
        for refused in ["", ".", "-1", "+1", "1e3", "soon", "1.2.3"] {
            assert_eq!(seconds_to_ms(refused), None, "{refused}");
        }
    }
}
