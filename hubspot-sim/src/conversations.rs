//! The conversations API: inboxes, threads, thread messages and actors (bearer).

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::channels::{page, paging};
use crate::errors::{ApiError, ApiResult, Resp};
use crate::server::Req;
use crate::state::{Shared, State, now_iso};
use crate::webhooks;

/// An inbox as HubSpot returns it.
fn inbox_json(i: &crate::config::Inbox) -> Value {
    json!({
        "id": i.id,
        "name": i.name,
        "type": i.kind.as_str(),
        "archived": false,
        "createdAt": "2024-01-01T00:00:00.000Z",
        "updatedAt": "2024-01-01T00:00:00.000Z",
    })
}

/// `GET /conversations/v3/conversations/inboxes`
pub fn list_inboxes(shared: &Shared, req: &Req) -> ApiResult {
    let (limit, after) = paging(req)?;
    let st = shared.state();
    Ok(Resp::ok(page(
        st.inboxes.iter().map(inbox_json).collect(),
        limit,
        after,
    )))
}

/// `GET /conversations/v3/conversations/inboxes/{inboxId}`
pub fn get_inbox(shared: &Shared, req: &Req) -> ApiResult {
    let id = req.param("inboxId");
    let st = shared.state();
    st.inboxes
        .iter()
        .find(|i| i.id == id)
        .map(|i| Resp::ok(inbox_json(i)))
        .ok_or_else(|| ApiError::not_found(format!("Inbox {id} not found")))
}

/// The thread by its path id; archived threads are unknown unless `include_archived`.
fn thread_id(st: &State, raw: &str, include_archived: bool) -> Result<u64, ApiError> {
    raw.parse::<u64>()
        .ok()
        .filter(|id| {
            st.threads
                .get(id)
                .is_some_and(|t| include_archived || !t.archived)
        })
        .ok_or_else(|| ApiError::not_found(format!("Thread {raw} not found")))
}

/// `GET /conversations/v3/conversations/threads` (filters `inboxId`, `associatedContactId`, `archived`).
pub fn list_threads(shared: &Shared, req: &Req) -> ApiResult {
    let (limit, after) = paging(req)?;
    let archived = req.query("archived") == Some("true");
    let st = shared.state();
    let items = st
        .threads
        .values()
        .filter(|t| t.archived == archived)
        .filter(|t| req.query("inboxId").is_none_or(|i| t.inbox_id == i))
        .filter(|t| {
            req.query("associatedContactId")
                .is_none_or(|c| t.contact_id.as_deref() == Some(c))
        })
        .map(|t| t.to_json(&st.messages))
        .collect();
    Ok(Resp::ok(page(items, limit, after)))
}

/// `GET /conversations/v3/conversations/threads/{threadId}` (`?archived=true` finds archived ones).
pub fn get_thread(shared: &Shared, req: &Req) -> ApiResult {
    let st = shared.state();
    let id = thread_id(
        &st,
        req.param("threadId"),
        req.query("archived") == Some("true"),
    )?;
    Ok(Resp::ok(st.threads[&id].to_json(&st.messages)))
}

/// `PATCH /conversations/v3/conversations/threads/{threadId}` `{"status":"OPEN"|"CLOSED"}` or
/// `{"archived":false}` (restore). A status change is announced to the app webhook as HubSpot does.
pub fn update_thread(shared: &Arc<Shared>, req: &Req) -> ApiResult {
    let body = req.json_object()?;
    let status = match body.get("status") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s == "OPEN" || s == "CLOSED" => Some(s.clone()),
        Some(_) => return Err(ApiError::validation("status must be OPEN or CLOSED")),
    };
    let restore = match body.get("archived") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(false)) => true,
        Some(_) => {
            return Err(ApiError::validation(
                "archived can only be set to false (use DELETE to archive)",
            ));
        }
    };
    if status.is_none() && !restore {
        return Err(ApiError::validation(
            "Nothing to update: give status or archived",
        ));
    }
    let (resp, changed) = {
        let mut st = shared.state();
        let id = thread_id(&st, req.param("threadId"), restore)?;
        let (snapshot, changed) = {
            let thread = st.threads.get_mut(&id).expect("thread exists");
            if restore {
                thread.archived = false;
            }
            let mut changed = None;
            if let Some(s) = status
                && thread.status != s
            {
                thread.closed_at = if s == "CLOSED" { Some(now_iso()) } else { None };
                thread.status = s.clone();
                changed = Some((id, s));
            }
            (thread.clone(), changed)
        };
        (snapshot.to_json(&st.messages), changed)
    };
    if let Some((id, s)) = changed {
        let event = webhooks::app_event(
            shared,
            "conversation.propertyChange",
            id,
            Some(("status", &s)),
            "API",
        );
        webhooks::spawn_app_batch(shared.clone(), vec![event]);
    }
    Ok(Resp::ok(resp))
}

/// `DELETE /conversations/v3/conversations/threads/{threadId}` → 204 (archived).
pub fn archive_thread(shared: &Arc<Shared>, req: &Req) -> ApiResult {
    let id = {
        let mut st = shared.state();
        let id = thread_id(&st, req.param("threadId"), false)?;
        st.threads.get_mut(&id).expect("thread exists").archived = true;
        id
    };
    let event = webhooks::app_event(
        shared,
        "conversation.propertyChange",
        id,
        Some(("isArchived", "true")),
        "API",
    );
    webhooks::spawn_app_batch(shared.clone(), vec![event]);
    Ok(Resp::no_content())
}

/// `GET /conversations/v3/conversations/threads/{threadId}/messages` (paged, oldest first).
pub fn thread_messages(shared: &Shared, req: &Req) -> ApiResult {
    let (limit, after) = paging(req)?;
    let st = shared.state();
    let id = thread_id(
        &st,
        req.param("threadId"),
        req.query("archived") == Some("true"),
    )?;
    let items = st.threads[&id]
        .message_ids
        .iter()
        .filter_map(|m| st.messages.get(m))
        .map(|m| m.body.clone())
        .collect();
    Ok(Resp::ok(page(items, limit, after)))
}

/// `GET /conversations/v3/conversations/threads/{threadId}/messages/{messageId}`
pub fn thread_message(shared: &Shared, req: &Req) -> ApiResult {
    let st = shared.state();
    let id = thread_id(&st, req.param("threadId"), true)?;
    let mid = req.param("messageId");
    st.messages
        .get(mid)
        .filter(|m| m.thread_id == id)
        .map(|m| Resp::ok(m.body.clone()))
        .ok_or_else(|| ApiError::not_found(format!("Message {mid} not found in thread {id}")))
}

/// `GET /conversations/v3/conversations/actors/{actorId}`: agents (`A-`) and visitors (`V-`).
pub fn get_actor(shared: &Shared, req: &Req) -> ApiResult {
    let id = req.param("actorId");
    let st = shared.state();
    if let Some(a) = st.agents.get(id) {
        let mut v = json!({ "id": a.id, "type": "AGENT", "name": a.name, "email": a.email });
        if let Some(av) = &a.avatar {
            v["avatar"] = json!(av);
        }
        return Ok(Resp::ok(v));
    }
    if let Some(v) = st.visitors.get(id) {
        let mut out = json!({ "id": v.id, "type": "VISITOR" });
        if let Some(n) = &v.name {
            out["name"] = json!(n);
        }
        if let Some(e) = &v.email {
            out["email"] = json!(e);
        }
        return Ok(Resp::ok(out));
    }
    if id.starts_with(['A', 'V', 'B', 'S', 'I', 'E']) && id.get(1..2) == Some("-") {
        Err(ApiError::not_found(format!("Actor {id} not found")))
    } else {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "VALIDATION_ERROR",
            format!("Invalid actor id {id}"),
        ))
    }
}
