//! What the terminal chat and the local HTTP API do with a handoff: create the user, start, send a
//! user message, stop, and read a conversation's messages and events.

use std::sync::atomic::{AtomicU64, Ordering};

use hitl_host::types::{Context, Event, HistoryEntry, MessagePayload, Scope};
use hitl_host::{BotMessage, BotStore, HitlError, Runtime};
use serde_json::{Value, json};

use super::errors;
use super::payload;

/// The tag that marks a message the end user sent through this host (not the agent's).
pub const FROM_TAG: (&str, &str) = ("from", "end-user");

/// Why an operation failed.
#[derive(Debug)]
pub enum OpError {
    /// The request itself is unusable (a missing field, an unknown conversation).
    BadRequest(String),
    /// Nothing by that id.
    NotFound(String),
    /// The component refused.
    Component(HitlError),
    /// The host failed (the state file, the runtime).
    Host(anyhow::Error),
}

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OpError::BadRequest(text) | OpError::NotFound(text) => f.write_str(text),
            OpError::Component(error) => {
                write!(f, "{}: {}", errors::kind(error), errors::message(error))
            }
            OpError::Host(error) => write!(f, "{error:#}"),
        }
    }
}

impl From<anyhow::Error> for OpError {
    fn from(error: anyhow::Error) -> Self {
        OpError::Host(error)
    }
}

/// A call's double result: the host's failure, or the component's answer.
fn flatten<T>(result: anyhow::Result<Result<T, HitlError>>) -> Result<T, OpError> {
    result?.map_err(OpError::Component)
}

/// The handoff operations of one installation.
#[derive(Clone)]
pub struct Ops {
    /// The component.
    pub runtime: Runtime,
    /// The bot side.
    pub bot: BotStore,
    /// What every call passes.
    pub ctx: Context,
}

impl Ops {
    /// `create-user`: finds the HubSpot contact by email or phone; returns the bot user's id.
    pub async fn create_user(
        &self,
        name: Option<&str>,
        email: Option<&str>,
        phone: Option<&str>,
        picture_url: Option<&str>,
    ) -> Result<String, OpError> {
        if email.is_none() && phone.is_none() {
            return Err(OpError::BadRequest(
                "give `email` or `phone` of a contact that exists in HubSpot".into(),
            ));
        }
        flatten(
            self.runtime
                .create_user(&self.ctx, name, email, phone, picture_url)
                .await,
        )
    }

    /// `start-hitl`: opens the help desk thread; returns the handoff conversation's id.
    pub async fn start(
        &self,
        user_id: &str,
        title: Option<&str>,
        description: Option<&str>,
        history: &[HistoryEntry],
    ) -> Result<String, OpError> {
        flatten(
            self.runtime
                .start_hitl(&self.ctx, user_id, title, description, history)
                .await,
        )
    }

    /// `message`: forwards the end user's message to the agent, then keeps it in the conversation.
    /// `user_id` defaults to the handoff's user; `message_id` (stable across retries) to a new id.
    pub async fn send(
        &self,
        conversation_id: &str,
        user_id: Option<&str>,
        message_id: Option<&str>,
        payload: &MessagePayload,
    ) -> Result<BotMessage, OpError> {
        self.known_conversation(conversation_id)?;
        let user_id = match user_id {
            Some(user) => user.to_owned(),
            None => self.handoff_user(conversation_id).ok_or_else(|| {
                OpError::BadRequest(format!(
                    "conversation {conversation_id} has no live handoff: give `userId`, or start \
                     a handoff first"
                ))
            })?,
        };
        let message_id = message_id.map_or_else(new_message_id, str::to_owned);
        flatten(
            self.runtime
                .message(&self.ctx, conversation_id, &user_id, &message_id, payload)
                .await,
        )?;
        let tags = [
            (FROM_TAG.0.to_owned(), FROM_TAG.1.to_owned()),
            ("messageId".to_owned(), message_id),
        ];
        self.bot
            .create_message(
                &self.ctx.integration_id,
                conversation_id,
                &user_id,
                payload,
                &tags,
            )?
            .map_err(OpError::BadRequest)
    }

    /// `stop-hitl`: closes the help desk thread and ends the handoff.
    pub async fn stop(&self, conversation_id: &str, reason: Option<&str>) -> Result<(), OpError> {
        self.known_conversation(conversation_id)?;
        flatten(
            self.runtime
                .stop_hitl(&self.ctx, conversation_id, reason)
                .await,
        )
    }

    /// The conversation's messages as JSON, in order.
    pub fn messages_json(&self, conversation_id: &str) -> Result<Value, OpError> {
        self.known_conversation(conversation_id)?;
        let messages = self
            .bot
            .messages(conversation_id)
            .into_iter()
            .map(|message| {
                let from = if message
                    .tags
                    .iter()
                    .any(|(k, v)| k == FROM_TAG.0 && v == FROM_TAG.1)
                {
                    "user"
                } else {
                    "agent"
                };
                json!({
                    "id": message.id,
                    "from": from,
                    "userId": message.user_id,
                    "userName": self.user_name(&message.user_id),
                    "payload": payload::to_json(&message.payload),
                    "tags": tags_json(&message.tags),
                })
            })
            .collect();
        Ok(Value::Array(messages))
    }

    /// The conversation's events as JSON, in order.
    pub fn events_json(&self, conversation_id: &str) -> Result<Value, OpError> {
        self.known_conversation(conversation_id)?;
        let events = self
            .bot
            .events()
            .into_iter()
            .filter(|(integration, _)| integration == &self.ctx.integration_id)
            .filter(|(_, event)| event_conversation(event) == conversation_id)
            .map(|(_, event)| self.event_json(&event))
            .collect();
        Ok(Value::Array(events))
    }

    /// An event as JSON (`{"type": "hitlAssigned", "conversationId", "userId", "userName"}`).
    pub fn event_json(&self, event: &Event) -> Value {
        match event {
            Event::HitlAssigned(assigned) => json!({
                "type": "hitlAssigned",
                "conversationId": assigned.conversation_id,
                "userId": assigned.user_id,
                "userName": self.user_name(&assigned.user_id),
            }),
            Event::HitlStopped(stopped) => json!({
                "type": "hitlStopped",
                "conversationId": stopped.conversation_id,
            }),
        }
    }

    /// A bot user's display name.
    pub fn user_name(&self, user_id: &str) -> Option<String> {
        self.bot
            .user(user_id)
            .ok()
            .flatten()
            .and_then(|(_, user)| user.name)
    }

    /// The HubSpot thread of a handoff conversation (its `hubspotThreadId` tag).
    pub fn thread_of(&self, conversation_id: &str) -> Option<String> {
        let (_, conversation) = self.bot.conversation(conversation_id).ok()??;
        conversation
            .tags
            .into_iter()
            .find(|(k, _)| k == "hubspotThreadId")
            .map(|(_, v)| v)
    }

    /// The end user of a live handoff (from the component's `handoff` record).
    pub fn handoff_user(&self, conversation_id: &str) -> Option<String> {
        let raw = self
            .bot
            .state_get(Scope::Conversation, conversation_id, "handoff")
            .ok()??;
        let record: Value = serde_json::from_str(&raw).ok()?;
        record["userId"].as_str().map(str::to_owned)
    }

    /// The live handoff conversation of `user_id`, if any (to resume it after a restart).
    pub fn live_handoff_of(&self, user_id: &str) -> Option<String> {
        self.bot
            .state()
            .into_iter()
            .filter(|(scope, _, name, _)| *scope == Scope::Conversation && name == "handoff")
            .filter(|(_, id, _, _)| {
                self.bot
                    .conversation(id)
                    .ok()
                    .flatten()
                    .is_some_and(|(integration, _)| integration == self.ctx.integration_id)
            })
            .find(|(_, _, _, value)| {
                serde_json::from_str::<Value>(value)
                    .is_ok_and(|record| record["userId"].as_str() == Some(user_id))
            })
            .map(|(_, id, _, _)| id)
    }

    /// How many handoffs of this installation are live.
    pub fn live_handoffs(&self) -> usize {
        let raw = self
            .bot
            .state_get(Scope::Integration, &self.ctx.integration_id, "threads")
            .ok()
            .flatten();
        raw.and_then(|raw| serde_json::from_str::<serde_json::Map<String, Value>>(&raw).ok())
            .map_or(0, |threads| threads.len())
    }

    fn known_conversation(&self, conversation_id: &str) -> Result<(), OpError> {
        match self.bot.conversation(conversation_id)? {
            Some((integration, _)) if integration == self.ctx.integration_id => Ok(()),
            _ => Err(OpError::NotFound(format!(
                "no conversation {conversation_id} in this installation"
            ))),
        }
    }
}

/// The conversation an event is about.
pub fn event_conversation(event: &Event) -> &str {
    match event {
        Event::HitlAssigned(assigned) => &assigned.conversation_id,
        Event::HitlStopped(stopped) => &stopped.conversation_id,
    }
}

fn tags_json(tags: &[(String, String)]) -> Value {
    Value::Object(
        tags.iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

/// A message id unique to this host: the time and a counter.
fn new_message_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!(
        "hitl-host-{now}-{}",
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
