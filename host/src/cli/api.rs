//! The local HTTP API of `serve`, for scripts: JSON over loopback.
//!
//! | request | body | answer |
//! | --- | --- | --- |
//! | `POST /api/users` | `{"email"}` or `{"phone"}`, optional `name`, `pictureUrl` | 201 `{"userId"}` |
//! | `POST /api/handoffs` | `{"userId"}`, optional `title`, `description`, `messageHistory` | 201 `{"conversationId", "threadId"}` |
//! | `POST /api/handoffs/{conversation}/messages` | a message (`{"text"}`, `{"type": "file", "fileUrl", "title"}`, ...), optional `userId`, `messageId` | 201 the stored message |
//! | `POST /api/handoffs/{conversation}/stop` | optional `{"reason"}` | 200 `{"stopped": true}` |
//! | `GET /api/conversations/{id}/messages` | | 200 `[{"id", "from", "userId", "userName", "payload", "tags"}]` |
//! | `GET /api/conversations/{id}/events` | | 200 `[{"type", "conversationId", ...}]` |
//! | `GET /api/health` | | 200 `{"integrationId", "webhookUrl", "liveHandoffs"}` |
//!
//! Errors answer `{"error": {"kind", "message"}}` with a fitting status (400, 404, 429, 502, 500).

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hitl_host::HitlError;
use hitl_host::types::{Author, HistoryEntry};
use serde_json::{Value, json};

use super::errors;
use super::ops::{OpError, Ops};
use super::payload;

/// The API's routes over `ops`.
pub fn router(ops: Ops) -> Router {
    Router::new()
        .route("/api/health", get(health))
        .route("/api/users", post(create_user))
        .route("/api/handoffs", post(start_handoff))
        .route("/api/handoffs/{conversation}/messages", post(send_message))
        .route("/api/handoffs/{conversation}/stop", post(stop_handoff))
        .route("/api/conversations/{conversation}/messages", get(messages))
        .route("/api/conversations/{conversation}/events", get(events))
        .with_state(ops)
}

/// An error answer.
struct ApiError(StatusCode, &'static str, String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let ApiError(status, kind, message) = self;
        (
            status,
            axum::Json(json!({ "error": { "kind": kind, "message": message } })),
        )
            .into_response()
    }
}

impl From<OpError> for ApiError {
    fn from(error: OpError) -> Self {
        match error {
            OpError::BadRequest(text) => ApiError(StatusCode::BAD_REQUEST, "bad-request", text),
            OpError::NotFound(text) => ApiError(StatusCode::NOT_FOUND, "not-found", text),
            OpError::Host(error) => {
                tracing::error!(error = %format!("{error:#}"), "local API call failed");
                ApiError(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "host",
                    format!("{error:#}"),
                )
            }
            OpError::Component(error) => {
                let status = match &error {
                    HitlError::InvalidInput(_) => StatusCode::BAD_REQUEST,
                    HitlError::NotFound(_) => StatusCode::NOT_FOUND,
                    HitlError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
                    HitlError::Unauthorized(_) | HitlError::Upstream(_) => StatusCode::BAD_GATEWAY,
                    HitlError::InvalidConfiguration(_) | HitlError::Internal(_) => {
                        StatusCode::INTERNAL_SERVER_ERROR
                    }
                };
                ApiError(status, errors::kind(&error), errors::message(&error))
            }
        }
    }
}

type ApiResult = Result<Response, ApiError>;

fn bad(text: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, "bad-request", text.into())
}

/// The body as a JSON object (an empty body is `{}`).
fn object(body: &Bytes) -> Result<serde_json::Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Map::new());
    }
    match serde_json::from_slice(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(bad("the body must be a JSON object")),
        Err(error) => Err(bad(format!("the body is not valid JSON: {error}"))),
    }
}

/// An optional text field; the error names it.
fn text<'a>(
    map: &'a serde_json::Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, ApiError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(_) => Err(bad(format!("`{name}` must be a text"))),
    }
}

fn created(value: Value) -> Response {
    (StatusCode::CREATED, axum::Json(value)).into_response()
}

async fn health(State(ops): State<Ops>) -> Response {
    axum::Json(json!({
        "integrationId": ops.ctx.integration_id,
        "webhookUrl": ops.ctx.webhook_url,
        "liveHandoffs": ops.live_handoffs(),
    }))
    .into_response()
}

async fn create_user(State(ops): State<Ops>, body: Bytes) -> ApiResult {
    let map = object(&body)?;
    let user_id = ops
        .create_user(
            text(&map, "name")?,
            text(&map, "email")?,
            text(&map, "phone")?,
            text(&map, "pictureUrl")?,
        )
        .await?;
    Ok(created(json!({ "userId": user_id })))
}

/// A transcript entry: `{"author": "user"|"bot", "payload": {...}}` or `{"author", "text"}`,
/// optional `sentAt` (ms since the epoch).
fn history_entry(index: usize, value: &Value) -> Result<HistoryEntry, ApiError> {
    let author = match value.get("author").and_then(Value::as_str) {
        Some("user") => Author::User,
        Some("bot") => Author::Bot,
        _ => {
            return Err(bad(format!(
                "messageHistory[{index}].author must be \"user\" or \"bot\""
            )));
        }
    };
    let payload = payload::from_json(value.get("payload").unwrap_or(value))
        .map_err(|error| bad(format!("messageHistory[{index}]: {error}")))?;
    Ok(HistoryEntry {
        author,
        payload,
        sent_at: value.get("sentAt").and_then(Value::as_u64),
    })
}

async fn start_handoff(State(ops): State<Ops>, body: Bytes) -> ApiResult {
    let map = object(&body)?;
    let user_id = text(&map, "userId")?.ok_or_else(|| {
        bad("`userId` is required (POST /api/users makes one from a HubSpot contact)")
    })?;
    let history = match map.get("messageHistory") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(entries)) => entries
            .iter()
            .enumerate()
            .map(|(i, entry)| history_entry(i, entry))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(bad("`messageHistory` must be a list")),
    };
    let conversation = ops
        .start(
            user_id,
            text(&map, "title")?,
            text(&map, "description")?,
            &history,
        )
        .await?;
    Ok(created(json!({
        "conversationId": conversation,
        "threadId": ops.thread_of(&conversation),
    })))
}

async fn send_message(
    State(ops): State<Ops>,
    Path(conversation): Path<String>,
    body: Bytes,
) -> ApiResult {
    let map = object(&body)?;
    let payload_json = match map.get("payload") {
        Some(inner) => inner.clone(),
        None => Value::Object(map.clone()),
    };
    let payload = payload::from_json(&payload_json).map_err(bad)?;
    let message = ops
        .send(
            &conversation,
            text(&map, "userId")?,
            text(&map, "messageId")?,
            &payload,
        )
        .await?;
    Ok(created(json!({
        "id": message.id,
        "conversationId": message.conversation_id,
        "userId": message.user_id,
        "payload": payload::to_json(&message.payload),
    })))
}

async fn stop_handoff(
    State(ops): State<Ops>,
    Path(conversation): Path<String>,
    body: Bytes,
) -> ApiResult {
    let map = object(&body)?;
    ops.stop(&conversation, text(&map, "reason")?).await?;
    Ok(axum::Json(json!({ "stopped": true })).into_response())
}

async fn messages(State(ops): State<Ops>, Path(conversation): Path<String>) -> ApiResult {
    Ok(axum::Json(ops.messages_json(&conversation)?).into_response())
}

async fn events(State(ops): State<Ops>, Path(conversation): Path<String>) -> ApiResult {
    Ok(axum::Json(ops.events_json(&conversation)?).into_response())
}
