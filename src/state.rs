//! What the component keeps between calls, all of it in the host's state store (never in memory):
//! typed records, JSON-encoded, and compare-and-set updates that keep several instances consistent.
//!
//! | scope / id | name | record |
//! | --- | --- | --- |
//! | integration / integration id | `oauth` | [`TokenState`]: access token, expiry, rotated refresh token |
//! | integration | `oauth-lock` | [`Lease`]: who is refreshing the token right now |
//! | integration | `install` | [`Install`]: channel, channel account, inbox, portal |
//! | integration | `register-lock` | [`Lease`]: who is registering right now |
//! | integration | `threads` | HubSpot thread id → bot conversation id, for live handoffs |
//! | integration | `agents` | HubSpot actor id → [`Agent`] (the bot-side user standing for an agent) |
//! | conversation / conversation id | `handoff` | [`Handoff`]: the live handoff's HubSpot side |
//! | conversation | `seen` | HubSpot message ids already delivered into the conversation (bounded) |
//!
//! Everything kept for a handoff is deleted when it ends.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::bindings::hitl::integration::host;
pub use crate::bindings::hitl::integration::types::Scope;
use crate::error::{HitlError, Result};
use crate::platform::{now_ms, sleep_ms};

/// Name of the token record.
pub const OAUTH: &str = "oauth";
/// Name of the token-refresh lease.
pub const OAUTH_LOCK: &str = "oauth-lock";
/// Name of the installation record.
pub const INSTALL: &str = "install";
/// Name of the register lease.
pub const REGISTER_LOCK: &str = "register-lock";
/// Name of the thread index.
pub const THREADS: &str = "threads";
/// Name of the agent cache.
pub const AGENTS: &str = "agents";
/// Name of a conversation's handoff record.
pub const HANDOFF: &str = "handoff";
/// Name of a conversation's delivered-message list.
pub const SEEN: &str = "seen";

/// How many delivered HubSpot message ids a conversation remembers for dedupe.
pub const SEEN_LIMIT: usize = 256;

/// The cached OAuth access token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct TokenState {
    /// Fingerprint of the credentials it was obtained with.
    pub fingerprint: String,
    /// The bearer token.
    pub access_token: String,
    /// When it expires, in ms since the epoch.
    pub expires_at_ms: u64,
    /// A refresh token HubSpot rotated to, when it differs from the configured one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// The HubSpot account (portal) the token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hub_id: Option<u64>,
}

/// A short exclusive claim on some work (a token refresh, a registration), with a deadline.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Lease {
    /// A random id of the call holding it.
    pub owner: String,
    /// When it lapses, in ms since the epoch: a crashed holder does not block others for ever.
    pub until_ms: u64,
}

/// What `register` set up in HubSpot.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Install {
    /// Fingerprint of the developer credentials the channel was made with.
    pub channel_fingerprint: String,
    /// The custom channel's id.
    pub channel_id: String,
    /// The webhook URL the channel calls.
    pub webhook_url: String,
    /// The channel's name.
    pub channel_name: String,
    /// The channel account connected to the help desk.
    pub channel_account_id: String,
    /// The channel account's delivery identifier (recipient of incoming messages).
    pub account_identifier: String,
    /// The help desk inbox.
    pub inbox_id: String,
    /// The HubSpot account (portal) id, when HubSpot told us.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub portal_id: Option<u64>,
    /// The public app's id.
    pub app_id: String,
}

/// The bot-side user standing for a HubSpot agent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Agent {
    /// The bot-side user id.
    pub user_id: String,
    /// The agent's name, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// A live handoff, kept in the bot conversation's state.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Handoff {
    /// HubSpot's conversation thread id.
    pub thread_id: String,
    /// Our `integrationThreadId` (keeps all messages of the handoff in one thread).
    pub integration_thread_id: String,
    /// The bot-side end user.
    pub user_id: String,
    /// HubSpot's contact id for the end user.
    pub contact_id: String,
    /// How the end user is identified to HubSpot (`HS_EMAIL_ADDRESS` / `HS_PHONE_NUMBER`).
    pub sender_type: String,
    /// The identifier's value.
    pub sender_value: String,
    /// The end user's display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_name: Option<String>,
    /// The agent (HubSpot actor id) assigned now, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assigned_to: Option<String>,
    /// `occurredAt` of the latest assignment change applied: older events are stale.
    #[serde(default)]
    pub assignment_at_ms: u64,
    /// Set while our own `stop-hitl` closes the thread: the echoed close emits nothing.
    #[serde(default)]
    pub stopping: bool,
    /// When the handoff started.
    pub started_at_ms: u64,
}

/// Reads the raw text of a state entry.
pub fn get_raw(scope: Scope, id: &str, name: &str) -> Option<String> {
    host::state_get(scope, id, name)
}

/// Reads and decodes a state entry; an entry that does not decode is an internal error.
pub fn get<T: DeserializeOwned>(scope: Scope, id: &str, name: &str) -> Result<Option<T>> {
    match host::state_get(scope, id, name) {
        None => Ok(None),
        Some(raw) => serde_json::from_str(&raw)
            .map(Some)
            .map_err(|e| HitlError::Internal(format!("state `{name}` does not decode: {e}"))),
    }
}

/// Encodes and writes a state entry.
pub fn set<T: Serialize>(scope: Scope, id: &str, name: &str, value: &T) -> Result<()> {
    host::state_set(scope, id, name, &serde_json::to_string(value)?);
    Ok(())
}

/// Removes a state entry.
pub fn delete(scope: Scope, id: &str, name: &str) {
    host::state_delete(scope, id, name);
}

/// Compare-and-set on raw texts: see the host's `state-swap`.
pub fn swap(scope: Scope, id: &str, name: &str, expected: Option<&str>, new: Option<&str>) -> bool {
    host::state_swap(scope, id, name, expected, new)
}

/// Applies `f` to the current value atomically (compare-and-set, retried on conflict) and returns
/// the value before and the value after. `f` returning `None` deletes the entry; `f` is called again
/// when another call changed the entry in between, so it must be free of side effects.
pub fn update<T, F>(scope: Scope, id: &str, name: &str, mut f: F) -> Result<(Option<T>, Option<T>)>
where
    T: Serialize + DeserializeOwned + Clone,
    F: FnMut(Option<T>) -> Option<T>,
{
    for attempt in 0..64u64 {
        let raw = host::state_get(scope, id, name);
        let old: Option<T> = match &raw {
            None => None,
            Some(r) => Some(serde_json::from_str(r).map_err(|e| {
                HitlError::Internal(format!("state `{name}` does not decode: {e}"))
            })?),
        };
        let new = f(old.clone());
        let new_raw = new.as_ref().map(serde_json::to_string).transpose()?;
        if new_raw == raw {
            return Ok((old, new));
        }
        if host::state_swap(scope, id, name, raw.as_deref(), new_raw.as_deref()) {
            return Ok((old, new));
        }
        sleep_ms(attempt.min(10));
    }
    Err(HitlError::Internal(format!(
        "state `{name}` kept changing under us"
    )))
}

/// Tries to take the lease `name` for `ttl_ms`; returns its owner id when taken.
pub fn try_lease(scope: Scope, id: &str, name: &str, ttl_ms: u64) -> Option<String> {
    let now = now_ms();
    let raw = host::state_get(scope, id, name);
    if let Some(r) = &raw {
        match serde_json::from_str::<Lease>(r) {
            Ok(lease) if lease.until_ms > now => return None,
            _ => {}
        }
    }
    let owner = crate::platform::uuid_v4();
    let lease = Lease {
        owner: owner.clone(),
        until_ms: now + ttl_ms,
    };
    let text = serde_json::to_string(&lease).ok()?;
    host::state_swap(scope, id, name, raw.as_deref(), Some(&text)).then_some(owner)
}

/// Gives back a lease taken with [`try_lease`] (only if still ours).
pub fn release_lease(scope: Scope, id: &str, name: &str, owner: &str) {
    if let Some(raw) = host::state_get(scope, id, name) {
        if serde_json::from_str::<Lease>(&raw).is_ok_and(|l| l.owner == owner) {
            host::state_swap(scope, id, name, Some(&raw), None);
        }
    }
}

/// The thread index: HubSpot thread id → bot conversation id.
pub type Threads = BTreeMap<String, String>;

/// The agent cache: HubSpot actor id → bot-side agent user.
pub type Agents = BTreeMap<String, Agent>;

/// Finds the bot conversation of a live handoff by HubSpot thread id.
pub fn conversation_for_thread(integration_id: &str, thread_id: &str) -> Result<Option<String>> {
    Ok(get::<Threads>(Scope::Integration, integration_id, THREADS)?
        .and_then(|t| t.get(thread_id).cloned()))
}
