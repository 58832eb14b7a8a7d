//! The handoff itself: `start-hitl` opens a HubSpot thread, `message` forwards the end user's
//! messages into it, `stop-hitl` closes it. The mapping between the bot conversation and the HubSpot
//! thread lives in state (both ways), never in the user's tags: one user may have several handoffs.

use alloc::{
    borrow::ToOwned,
    format,
    string::{String, ToString},
    vec,
    vec::Vec,
};
use sha2::{Digest, Sha256};

use crate::bindings::hitl::integration::host;
use crate::bindings::hitl::integration::types::{Author, Context, HistoryEntry, MessagePayload};
use crate::config::Config;
use crate::error::{HitlError, Result};
use crate::hubspot::{HubSpot, tolerate};
use crate::json::{Object, Value};
use crate::media;
use crate::platform::{info, iso8601, now_ms, uuid_v4};
use crate::register::installed;
use crate::state::{self, HANDOFF, Handoff, Install, SEEN, Scope, THREADS, Threads};
use crate::users::{TAG_CONTACT, TAG_EMAIL, TAG_PHONE};

/// The bot-side channel of handoff conversations.
pub const CHANNEL: &str = "hitl";
/// Tag on the handoff conversation holding HubSpot's thread id.
pub const TAG_THREAD: &str = "hubspotThreadId";
/// Most transcript entries shown to the agent.
const HISTORY_ENTRIES: usize = 30;
/// Most characters of one transcript entry.
const HISTORY_ENTRY_CHARS: usize = 500;
/// Most characters of the whole opening message.
const OPENING_CHARS: usize = 8_000;

/// Opens the HubSpot thread and the bot-side handoff conversation; returns the conversation's id.
pub fn start(
    ctx: &Context,
    user_id: &str,
    title: Option<String>,
    description: Option<String>,
    history: &[HistoryEntry],
) -> Result<String> {
    let config = Config::parse(&ctx.configuration)?;
    let install = installed(ctx)?;
    let user = host::get_user(user_id).ok_or_else(|| {
        HitlError::NotFound(format!(
            "bot user {user_id} does not exist; create it with create-user"
        ))
    })?;
    let tag = |k: &str| {
        user.tags
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let contact_id = tag(TAG_CONTACT).ok_or_else(|| {
        HitlError::InvalidInput(format!(
            "bot user {user_id} has no HubSpot contact: create it with create-user"
        ))
    })?;
    let (sender_type, sender_value) = match (tag(TAG_EMAIL), tag(TAG_PHONE)) {
        (Some(email), _) => ("HS_EMAIL_ADDRESS", email),
        (None, Some(phone)) => ("HS_PHONE_NUMBER", phone),
        (None, None) => {
            return Err(HitlError::InvalidInput(format!(
                "bot user {user_id} has neither email nor phone"
            )));
        }
    };
    let mut handoff = Handoff {
        thread_id: String::new(),
        integration_thread_id: uuid_v4(),
        user_id: user_id.to_owned(),
        contact_id,
        sender_type: sender_type.to_owned(),
        sender_value,
        sender_name: user.name.clone(),
        assigned_to: None,
        assignment_at_ms: 0,
        stopping: false,
        started_at_ms: now_ms(),
    };
    let text = opening_text(
        user.name.as_deref(),
        title.as_deref(),
        description.as_deref(),
        history,
    );
    let idempotency = idempotency_id(&["start", &handoff.integration_thread_id]);
    let client = HubSpot::new(&ctx.integration_id, &config);
    let answer = client.publish_message(
        &install.channel_id,
        message_body(&install, &handoff, &text, Vec::new(), &idempotency),
    )?;
    handoff.thread_id =
        string_field(&answer, "conversationsThreadId").ok_or_else(|| HitlError::Upstream {
            status: 201,
            message: "publish message: HubSpot's answer has no conversationsThreadId".into(),
        })?;
    let conversation = host::get_or_create_conversation(
        CHANNEL,
        &[(TAG_THREAD.to_owned(), handoff.thread_id.clone())],
    );
    state::set(Scope::Conversation, &conversation.id, HANDOFF, &handoff)?;
    state::update::<Threads, _>(Scope::Integration, &ctx.integration_id, THREADS, |t| {
        let mut t = t.unwrap_or_default();
        t.insert(&handoff.thread_id, &conversation.id);
        Some(t)
    })?;
    info(&format!(
        "handoff started: conversation {} is HubSpot thread {}",
        conversation.id, handoff.thread_id
    ));
    Ok(conversation.id)
}

/// Forwards one end-user message to the agent (each part of a `bloc` as its own message).
pub fn forward(
    ctx: &Context,
    conversation_id: &str,
    _user_id: &str,
    message_id: &str,
    payload: &MessagePayload,
) -> Result<()> {
    let config = Config::parse(&ctx.configuration)?;
    if message_id.trim().is_empty() {
        return Err(HitlError::InvalidInput(
            "message-id must not be empty: it makes retries safe".into(),
        ));
    }
    if media::is_empty(payload) {
        return Err(HitlError::InvalidInput("the message is empty".into()));
    }
    let handoff = live_handoff(conversation_id)?;
    let install = installed(ctx)?;
    let client = HubSpot::new(&ctx.integration_id, &config);
    for (index, part) in media::outgoing_parts(&client, payload)
        .into_iter()
        .enumerate()
    {
        let idempotency = idempotency_id(&[conversation_id, message_id, &index.to_string()]);
        client.publish_message(
            &install.channel_id,
            message_body(
                &install,
                &handoff,
                &part.text,
                part.attachments,
                &idempotency,
            ),
        )?;
    }
    Ok(())
}

/// Tells the agent the user left, closes the HubSpot thread and ends the handoff. Stopping a
/// handoff that already ended (or whose thread is already closed) succeeds.
pub fn stop(ctx: &Context, conversation_id: &str, reason: Option<String>) -> Result<()> {
    let config = Config::parse(&ctx.configuration)?;
    let (before, _) =
        state::update::<Handoff, _>(Scope::Conversation, conversation_id, HANDOFF, |h| {
            h.map(|mut h| {
                h.stopping = true;
                h
            })
        })?;
    let Some(handoff) = before else {
        return Ok(());
    };
    let outcome = close_thread(ctx, &config, &handoff, reason.as_deref());
    if outcome.is_err() {
        // Keep the handoff live so the runtime can retry the stop.
        state::update::<Handoff, _>(Scope::Conversation, conversation_id, HANDOFF, |h| {
            h.map(|mut h| {
                h.stopping = false;
                h
            })
        })?;
        return outcome;
    }
    end(&ctx.integration_id, conversation_id, &handoff.thread_id)?;
    info(&format!(
        "handoff stopped by the bot: conversation {conversation_id}"
    ));
    Ok(())
}

fn close_thread(
    ctx: &Context,
    config: &Config,
    handoff: &Handoff,
    reason: Option<&str>,
) -> Result<()> {
    let install = installed(ctx)?;
    let client = HubSpot::new(&ctx.integration_id, config);
    let text = match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => format!("The user left the conversation ({r})."),
        None => "The user left the conversation.".to_owned(),
    };
    let idempotency = idempotency_id(&["stop", &handoff.integration_thread_id]);
    client.publish_message(
        &install.channel_id,
        message_body(&install, handoff, &text, Vec::new(), &idempotency),
    )?;
    let response = client.set_thread_status(&handoff.thread_id, "CLOSED")?;
    match response.status {
        200..=299 => Ok(()),
        400 | 404 | 409 => {
            tolerate(&response, "close thread");
            Ok(())
        }
        _ => Err(crate::hubspot::error_for(&response, "close thread")),
    }
}

/// The live handoff of a conversation.
pub fn live_handoff(conversation_id: &str) -> Result<Handoff> {
    state::get::<Handoff>(Scope::Conversation, conversation_id, HANDOFF)?
        .filter(|h| !h.stopping)
        .ok_or_else(|| {
            HitlError::NotFound(format!(
                "conversation {conversation_id} has no live handoff"
            ))
        })
}

/// Forgets everything kept for a handoff.
pub fn end(integration_id: &str, conversation_id: &str, thread_id: &str) -> Result<()> {
    state::delete(Scope::Conversation, conversation_id, HANDOFF);
    state::delete(Scope::Conversation, conversation_id, SEEN);
    state::update::<Threads, _>(Scope::Integration, integration_id, THREADS, |t| {
        let mut t = t.unwrap_or_default();
        t.remove(thread_id);
        (!t.is_empty()).then_some(t)
    })?;
    Ok(())
}

/// An INCOMING message from the end user on the handoff's thread.
fn message_body(
    install: &Install,
    handoff: &Handoff,
    text: &str,
    attachments: Vec<Value>,
    idempotency: &str,
) -> Value {
    let sender = Object::new()
        .with(
            "deliveryIdentifier",
            delivery_identifier(&handoff.sender_type, &handoff.sender_value),
        )
        .with_some("name", handoff.sender_name.as_deref());
    let recipient = Object::new()
        .with(
            "deliveryIdentifier",
            delivery_identifier("CHANNEL_SPECIFIC_OPAQUE_ID", &install.account_identifier),
        )
        .with("name", install.channel_name.as_str());
    Object::new()
        .with("text", text)
        .with("messageDirection", "INCOMING")
        .with(
            "integrationThreadId",
            handoff.integration_thread_id.as_str(),
        )
        .with("integrationIdempotencyId", idempotency)
        .with("channelAccountId", install.channel_account_id.as_str())
        .with("senders", vec![Value::from(sender)])
        .with("recipients", vec![Value::from(recipient)])
        .with("timestamp", iso8601(now_ms()))
        .with("attachments", attachments)
        .into()
}

/// How HubSpot addresses a participant: `{"type": kind, "value": value}`.
fn delivery_identifier(kind: &str, value: &str) -> Object {
    Object::new().with("type", kind).with("value", value)
}

/// A stable id for a message we publish, so a retried call posts once.
fn idempotency_id(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let hex: String = h
        .finalize()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("hitl-{hex}")
}

/// The first message: who, why, and the conversation so far.
fn opening_text(
    name: Option<&str>,
    title: Option<&str>,
    description: Option<&str>,
    history: &[HistoryEntry],
) -> String {
    let who = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("A customer");
    let mut text = format!("{who} asked the bot for a human agent.");
    if let Some(t) = title.map(str::trim).filter(|t| !t.is_empty()) {
        text.push_str(&format!("\nTitle: {t}"));
    }
    if let Some(d) = description.map(str::trim).filter(|d| !d.is_empty()) {
        text.push_str(&format!("\nDescription: {d}"));
    }
    if !history.is_empty() {
        let skipped = history.len().saturating_sub(HISTORY_ENTRIES);
        text.push_str("\n\nConversation with the bot so far");
        if skipped > 0 {
            text.push_str(&format!(
                " (last {HISTORY_ENTRIES} of {} messages)",
                history.len()
            ));
        }
        text.push(':');
        for entry in &history[skipped..] {
            let author = match entry.author {
                Author::User => who,
                Author::Bot => "Bot",
            };
            let when = entry
                .sent_at
                .map(|ms| format!("[{}] ", &iso8601(ms)[11..16]))
                .unwrap_or_default();
            let line: String = media::describe(&entry.payload)
                .chars()
                .take(HISTORY_ENTRY_CHARS)
                .collect();
            text.push_str(&format!("\n{when}{author}: {line}"));
        }
    }
    if text.chars().count() > OPENING_CHARS {
        text = text.chars().take(OPENING_CHARS - 1).collect();
        text.push('…');
    }
    text
}

fn string_field(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
