//! Event mapping: the two kinds of body HubSpot posts to the webhook URL, turned into typed events.
//!
//! - the app's subscription events: a JSON **array** of objects with `subscriptionType` (or
//!   `eventType`), e.g. `conversation.propertyChange` for `assignedTo` and `status`;
//! - the custom channel's own events: a JSON **object** with `type`, e.g.
//!   `OUTGOING_CHANNEL_MESSAGE_CREATED` when an agent replies.
//!
//! Parsing is liberal in shape (an object where an array was expected and the reverse, ids as numbers
//! or strings) and strict in meaning: anything not understood becomes [`Event::Ignored`].

use alloc::{
    borrow::ToOwned,
    format,
    string::{String, ToString},
    vec,
    vec::Vec,
};

use crate::json::{self, Value};

/// Most events read from one body (HubSpot batches fewer than 100).
pub const MAX_EVENTS: usize = 1000;

/// Where an event comes from, for the checks that it is ours.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    /// The HubSpot account.
    pub portal_id: Option<u64>,
    /// The app (subscription events).
    pub app_id: Option<String>,
    /// The custom channel (channel events).
    pub channel_id: Option<String>,
}

/// A file an agent attached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    /// Where to download it.
    pub url: String,
    /// Its name.
    pub name: Option<String>,
    /// HubSpot's `fileUsageType` or the file's type, when given (`IMAGE`, `AUDIO`, ...).
    pub usage: Option<String>,
}

/// An agent's message on the channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelMessage {
    /// HubSpot's message id (what dedupe keys on).
    pub message_id: String,
    /// The conversation thread.
    pub thread_id: String,
    /// `OUTGOING` for an agent's message; our own messages come back `INCOMING`.
    pub direction: String,
    /// The text.
    pub text: String,
    /// The sending actor (`A-…` for an agent).
    pub actor_id: Option<String>,
    /// The sender's name as HubSpot gave it.
    pub sender_name: Option<String>,
    /// Attached files.
    pub attachments: Vec<Attachment>,
}

/// One thing HubSpot told us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A message was created on our channel (normally an agent's reply).
    ChannelMessage {
        /// Where it comes from.
        origin: Origin,
        /// The message.
        message: ChannelMessage,
    },
    /// A thread's assignee changed (`None`: unassigned).
    Assignment {
        /// Where it comes from.
        origin: Origin,
        /// The thread.
        thread_id: String,
        /// The new assignee's actor id.
        actor_id: Option<String>,
        /// When it happened (ms).
        occurred_at: u64,
    },
    /// A thread was closed, archived or deleted.
    Ended {
        /// Where it comes from.
        origin: Origin,
        /// The thread.
        thread_id: String,
        /// What happened, for logs (`status=CLOSED`, `archived`, `deletion`).
        how: String,
    },
    /// Something we do not act on (reopened threads, new-message notices, other event types).
    Ignored {
        /// The event's type, for logs.
        kind: String,
    },
}

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Not JSON.
    NotJson(String),
    /// JSON, but neither an event object nor an array of them.
    Shape(&'static str),
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ParseError::NotJson(e) => write!(f, "the body is not JSON ({e})"),
            ParseError::Shape(m) => f.write_str(m),
        }
    }
}

impl core::error::Error for ParseError {}

/// Reads every event in a webhook body.
pub fn parse(body: &[u8]) -> Result<Vec<Event>, ParseError> {
    let value: Value = json::parse(body).map_err(|e| ParseError::NotJson(e.to_string()))?;
    match value {
        Value::Array(items) => {
            if items.len() > MAX_EVENTS {
                return Err(ParseError::Shape("too many events in one body"));
            }
            Ok(items.iter().map(event).collect())
        }
        Value::Object(_) => Ok(vec![event(&value)]),
        _ => Err(ParseError::Shape(
            "the body must be an event object or an array of events",
        )),
    }
}

fn event(v: &Value) -> Event {
    if !v.is_object() {
        return Event::Ignored {
            kind: "not an object".into(),
        };
    }
    if let Some(kind) = text(v, "subscriptionType").or_else(|| text(v, "eventType")) {
        return app_event(v, &kind);
    }
    if let Some(kind) = text(v, "type") {
        return channel_event(v, &kind);
    }
    Event::Ignored {
        kind: "untyped".into(),
    }
}

fn origin(v: &Value) -> Origin {
    Origin {
        portal_id: number(v, "portalId"),
        app_id: text(v, "appId"),
        channel_id: text(v, "channelId"),
    }
}

fn app_event(v: &Value, kind: &str) -> Event {
    let Some(thread_id) = text(v, "objectId") else {
        return Event::Ignored {
            kind: kind.to_owned(),
        };
    };
    let origin = origin(v);
    match kind {
        "conversation.propertyChange" => {
            let property = text(v, "propertyName").unwrap_or_default();
            let value = text(v, "propertyValue").unwrap_or_default();
            match property.as_str() {
                "assignedTo" => Event::Assignment {
                    origin,
                    thread_id,
                    actor_id: normalize_actor(&value),
                    occurred_at: number(v, "occurredAt").unwrap_or(0),
                },
                "status" if value.eq_ignore_ascii_case("CLOSED") => Event::Ended {
                    origin,
                    thread_id,
                    how: "status=CLOSED".into(),
                },
                "isArchived" | "archived" if value.eq_ignore_ascii_case("true") => Event::Ended {
                    origin,
                    thread_id,
                    how: "archived".into(),
                },
                _ => Event::Ignored {
                    kind: format!("{kind}:{property}"),
                },
            }
        }
        "conversation.deletion" | "conversation.privacyDeletion" => Event::Ended {
            origin,
            thread_id,
            how: kind.trim_start_matches("conversation.").into(),
        },
        _ => Event::Ignored {
            kind: kind.to_owned(),
        },
    }
}

fn channel_event(v: &Value, kind: &str) -> Event {
    if kind != "OUTGOING_CHANNEL_MESSAGE_CREATED" {
        return Event::Ignored {
            kind: kind.to_owned(),
        };
    }
    let Some(m) = v.get("message").filter(|m| m.is_object()) else {
        return Event::Ignored {
            kind: format!("{kind} without message"),
        };
    };
    let (Some(message_id), Some(thread_id)) = (text(m, "id"), text(m, "conversationsThreadId"))
    else {
        return Event::Ignored {
            kind: format!("{kind} without ids"),
        };
    };
    let sender = m
        .get("senders")
        .and_then(Value::as_array)
        .and_then(|s| s.first());
    let attachments = m
        .get("attachments")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|a| {
                    Some(Attachment {
                        url: text(a, "url")?,
                        name: text(a, "name"),
                        usage: text(a, "fileUsageType").or_else(|| text(a, "fileType")),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut origin = origin(v);
    if origin.channel_id.is_none() {
        origin.channel_id = text(m, "channelId");
    }
    Event::ChannelMessage {
        origin,
        message: ChannelMessage {
            message_id,
            thread_id,
            direction: text(m, "direction").unwrap_or_default(),
            text: text(m, "text").unwrap_or_default(),
            actor_id: sender.and_then(|s| text(s, "actorId")),
            sender_name: sender.and_then(|s| text(s, "name")),
            attachments,
        },
    }
}

/// An actor id as `A-<digits>`; HubSpot sometimes sends the bare number. Empty → none.
pub fn normalize_actor(value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() {
        None
    } else if v.bytes().all(|b| b.is_ascii_digit()) {
        Some(format!("A-{v}"))
    } else {
        Some(v.to_owned())
    }
}

/// A field as text, whether given as a string, a number or a boolean.
fn text(v: &Value, key: &str) -> Option<String> {
    match v.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A field as a number, whether given as a number or as digits.
fn number(v: &Value, key: &str) -> Option<u64> {
    match v.get(key)? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_batch_of_subscription_events() -> Result<(), Box<dyn core::error::Error>> {
        let body = json!([
            {"eventId": 1, "subscriptionType": "conversation.propertyChange", "portalId": 62515, "appId": 7,
             "occurredAt": 1000, "objectId": 555, "propertyName": "assignedTo", "propertyValue": "A-12"},
            {"eventId": 1, "subscriptionType": "conversation.propertyChange", "portalId": 62515,
             "objectId": "555", "propertyName": "assignedTo", "propertyValue": ""},
            {"eventType": "conversation.propertyChange", "objectId": 555, "propertyName": "status", "propertyValue": "CLOSED"},
            {"subscriptionType": "conversation.newMessage", "objectId": 555, "messageId": "m"},
            7
        ]);
        let events = parse(body.to_string().as_bytes())?;
        assert_eq!(
            events[0],
            Event::Assignment {
                origin: Origin {
                    portal_id: Some(62515),
                    app_id: Some("7".into()),
                    channel_id: None
                },
                thread_id: "555".into(),
                actor_id: Some("A-12".into()),
                occurred_at: 1000
            }
        );
        assert!(matches!(
            &events[1],
            Event::Assignment { actor_id: None, .. }
        ));
        assert!(matches!(&events[2], Event::Ended { how, .. } if how == "status=CLOSED"));
        assert!(matches!(&events[3], Event::Ignored { .. }));
        assert!(matches!(&events[4], Event::Ignored { .. }));
        Ok(())
    }

    #[test]
    fn reads_an_agent_reply() -> Result<(), Box<dyn core::error::Error>> {
        let body = json!({
            "type": "OUTGOING_CHANNEL_MESSAGE_CREATED", "portalId": "62515", "channelId": 9,
            "message": {"id": "m1", "conversationsThreadId": "555", "direction": "OUTGOING", "text": "Hi",
                "senders": [{"actorId": "A-12", "name": "Ann"}],
                "attachments": [{"type": "FILE", "fileId": "f", "url": "https://f/x.png", "name": "x.png", "fileUsageType": "IMAGE"}]}
        });
        let events = parse(body.to_string().as_bytes())?;
        let Event::ChannelMessage { origin, message } = &events[0] else {
            return Err(format!("not a channel message: {events:?}").into());
        };
        assert_eq!(origin.portal_id, Some(62515));
        assert_eq!(origin.channel_id.as_deref(), Some("9"));
        assert_eq!(message.actor_id.as_deref(), Some("A-12"));
        assert_eq!(message.attachments.len(), 1);
        Ok(())
    }

    #[test]
    fn refuses_what_is_not_an_event_body() {
        assert!(matches!(parse(b"{oops"), Err(ParseError::NotJson(_))));
        assert!(matches!(parse(b"\"x\""), Err(ParseError::Shape(_))));
        assert_eq!(normalize_actor("42"), Some("A-42".into()));
        assert_eq!(normalize_actor(" "), None);
    }
}
