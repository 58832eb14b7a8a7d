//! The HubSpot API client: the endpoints the integration uses, authentication (bearer or developer
//! key), retries (429 after `Retry-After` or a backoff; 5xx and timeouts for idempotent calls; one
//! token refresh on a 401) and HubSpot's error bodies turned into [`HitlError`]s.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::config::Config;
use crate::error::{HitlError, Result};
use crate::fetch::{FetchError, Method, Request, Response, fetch};
use crate::oauth;
use crate::platform::{debug, monotonic_ns, random_below, sleep_ms, warn};

/// HubSpot's API base; a host may route it elsewhere (a simulator, a proxy).
pub const API_BASE: &str = "https://api.hubapi.com";

/// Largest answer body accepted from the API.
const MAX_API_BODY: usize = 4 * 1024 * 1024;
/// Most attempts of one call (first try included).
const MAX_ATTEMPTS: u32 = 4;
/// Most time one call may spend waiting between attempts.
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
        let started = monotonic_ns();
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
            let waited_ms = (monotonic_ns() - started) / 1_000_000;
            let budget_left = MAX_TOTAL_WAIT_MS.saturating_sub(waited_ms);
            let wait_ms = match &outcome {
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
                    let retry_after = retry_after_ms(r);
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
                        return Err(error_for(r, call.what));
                    }
                    wait
                }
                Ok(_) => return outcome.map_err(|_| unreachable_fetch()),
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
        }
    }

    /// Sends `call` and decodes a 2xx JSON answer; any other status becomes an error.
    pub fn send_json<T: for<'de> Deserialize<'de>>(&self, call: &Call) -> Result<T> {
        let response = self.send(call)?;
        if !response.is_success() {
            return Err(error_for(&response, call.what));
        }
        serde_json::from_slice(&response.body).map_err(|e| HitlError::Upstream {
            status: response.status,
            message: format!("{}: HubSpot's answer did not decode ({e})", call.what),
        })
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
                serde_json::to_vec(v)?
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

fn unreachable_fetch() -> HitlError {
    HitlError::Internal("fetch outcome changed".into())
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
    let secs: f64 = response.header("retry-after")?.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| (secs * 1000.0) as u64)
}

/// HubSpot's error body, every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    /// `error` or an OAuth status such as `BAD_REFRESH_TOKEN`.
    #[serde(default)]
    pub status: Option<String>,
    /// A human-readable explanation.
    #[serde(default)]
    pub message: Option<String>,
    /// `OBJECT_NOT_FOUND`, `VALIDATION_ERROR`, `MISSING_SCOPES`, ...
    #[serde(default)]
    pub category: Option<String>,
    /// HubSpot's id for the failure, for its support.
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// OAuth's `invalid_grant` and friends.
    #[serde(default)]
    pub error: Option<String>,
}

impl ApiError {
    /// Decodes an error body (an empty record when it is not HubSpot's JSON).
    pub fn parse(response: &Response) -> ApiError {
        serde_json::from_slice(&response.body).unwrap_or_default()
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
            parts.join(": ")
        }
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
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Channel {
    /// Its id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: Option<String>,
    /// Where its webhooks go.
    #[serde(default)]
    pub webhook_url: Option<String>,
}

/// A channel account as HubSpot describes it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChannelAccount {
    /// Its id.
    pub id: String,
    /// The inbox it delivers into.
    #[serde(default)]
    pub inbox_id: Option<String>,
    /// Whether it was archived.
    #[serde(default)]
    pub archived: bool,
    /// Its own delivery identifier.
    #[serde(default)]
    pub delivery_identifier: Option<DeliveryIdentifier>,
}

/// How a participant is addressed.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
pub struct DeliveryIdentifier {
    /// `HS_EMAIL_ADDRESS`, `HS_PHONE_NUMBER`, `CHANNEL_SPECIFIC_OPAQUE_ID`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The address.
    pub value: String,
}

/// An inbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inbox {
    /// Its id.
    pub id: String,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// `INBOX` or `HELP_DESK`.
    #[serde(rename = "type", default)]
    pub kind: String,
    /// Whether it was archived.
    #[serde(default)]
    pub archived: bool,
}

/// A page of results.
#[derive(Debug, Deserialize)]
struct Page<T> {
    #[serde(default = "Vec::new")]
    results: Vec<T>,
    #[serde(default)]
    paging: Option<Paging>,
}

#[derive(Debug, Deserialize)]
struct Paging {
    next: Option<NextPage>,
}

#[derive(Debug, Deserialize)]
struct NextPage {
    after: Option<String>,
}

/// Most pages read from a list (HubSpot's pages hold up to 100).
const MAX_PAGES: usize = 20;

impl HubSpot<'_> {
    fn list_all<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        auth: Auth,
        what: &'static str,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let sep = if path.contains('?') { '&' } else { '?' };
            let mut p = format!("{path}{sep}limit=100");
            if let Some(a) = &after {
                p.push_str("&after=");
                p.push_str(&segment(a));
            }
            let page: Page<T> = self.send_json(&Call::new(Method::Get, p, auth, what))?;
            out.extend(page.results);
            after = page.paging.and_then(|p| p.next).and_then(|n| n.after);
            if after.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Creates the custom channel (developer key).
    pub fn create_channel(&self, body: Value) -> Result<Channel> {
        self.send_json(
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
            s if (200..300).contains(&s) => Ok(Some(serde_json::from_slice(&response.body)?)),
            _ => Err(error_for(&response, call.what)),
        }
    }

    /// Lists the app's channels.
    pub fn list_channels(&self) -> Result<Vec<Channel>> {
        self.list_all(CHANNELS, Auth::DeveloperKey, "list custom channels")
    }

    /// Updates a channel's fields (e.g. its webhook URL).
    pub fn update_channel(&self, channel_id: &str, body: Value) -> Result<Channel> {
        self.send_json(
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

    /// Reads a conversation thread; `None` when HubSpot does not know it.
    pub fn get_thread(&self, thread_id: &str) -> Result<Option<Value>> {
        let call = Call::new(
            Method::Get,
            format!(
                "/conversations/v3/conversations/threads/{}",
                segment(thread_id)
            ),
            Auth::Bearer,
            "get thread",
        );
        let response = self.send(&call)?;
        match response.status {
            404 => Ok(None),
            s if (200..300).contains(&s) => Ok(Some(serde_json::from_slice(&response.body)?)),
            _ => Err(error_for(&response, call.what)),
        }
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
            .json(json!({ "status": status })),
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
            s if (200..300).contains(&s) => Ok(Some(serde_json::from_slice(&response.body)?)),
            _ => Err(error_for(&response, call.what)),
        }
    }

    /// Finds a contact whose `property` (phone, mobilephone) equals `value`.
    pub fn search_contact(&self, property: &str, value: &str) -> Result<Option<Value>> {
        let body = json!({
            "filterGroups": [{ "filters": [{ "propertyName": property, "operator": "EQ", "value": value }] }],
            "properties": ["email", "firstname", "lastname", "phone", "mobilephone"],
            "limit": 1
        });
        let found: Value = self.send_json(
            &Call::new(
                Method::Post,
                "/crm/v3/objects/contacts/search",
                Auth::Bearer,
                "search contact by phone",
            )
            .json(body)
            .idempotent(),
        )?;
        Ok(found.get("results").and_then(|r| r.get(0)).cloned())
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
