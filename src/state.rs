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

use alloc::{
    borrow::ToOwned,
    format,
    string::{String, ToString},
    vec::Vec,
};
use core::marker::PhantomData;

use crate::bindings::hitl::integration::host;
pub use crate::bindings::hitl::integration::types::Scope;
use crate::error::{HitlError, Result};
use crate::json::{
    self, FieldError, FromJson, Map, Object, ToJson, Value, flag, number, number_or_zero,
    opt_number, opt_string, string,
};
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

/// How many delivered HubSpot message ids a conversation remembers for dedupe, at the least.
pub const SEEN_LIMIT: usize = 256;

/// How long the delivered list's text may grow before it is trimmed to its newest [`SEEN_LIMIT`] ids.
const SEEN_MAX_BYTES: usize = 24 * 1024;

/// The cached OAuth access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenState {
    /// Fingerprint of the credentials it was obtained with.
    pub fingerprint: String,
    /// The bearer token.
    pub access_token: String,
    /// When it was obtained, in ms since the epoch (0 in records written before this field).
    pub obtained_at_ms: u64,
    /// When it expires, in ms since the epoch.
    pub expires_at_ms: u64,
    /// A refresh token HubSpot rotated to, when it differs from the configured one.
    pub refresh_token: Option<String>,
    /// The HubSpot account (portal) the token belongs to.
    pub hub_id: Option<u64>,
}

impl TokenState {
    /// Most time before expiry at which a token is refreshed.
    pub const REFRESH_MARGIN_MS: u64 = 5 * 60 * 1000;

    /// Whether the token can still be used at `now_ms`: until a margin before it expires (five
    /// minutes, or a quarter of its lifetime when that is shorter, so a short-lived token is not
    /// refreshed on every call).
    pub fn is_fresh(&self, now_ms: u64) -> bool {
        let lifetime = self.expires_at_ms.saturating_sub(self.obtained_at_ms);
        let margin = if self.obtained_at_ms == 0 {
            Self::REFRESH_MARGIN_MS
        } else {
            Self::REFRESH_MARGIN_MS.min(lifetime / 4)
        };
        now_ms.saturating_add(margin) < self.expires_at_ms
    }
}

/// A short exclusive claim on some work (a token refresh, a registration), with a deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// A random id of the call holding it.
    pub owner: String,
    /// When it lapses, in ms since the epoch: a crashed holder does not block others for ever.
    pub until_ms: u64,
}

/// What `register` set up in HubSpot.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub portal_id: Option<u64>,
    /// The public app's id.
    pub app_id: String,
}

/// The bot-side user standing for a HubSpot agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// The bot-side user id.
    pub user_id: String,
    /// The agent's name, when known.
    pub name: Option<String>,
}

/// A live handoff, kept in the bot conversation's state.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub sender_name: Option<String>,
    /// The agent (HubSpot actor id) assigned now, if any.
    pub assigned_to: Option<String>,
    /// `occurredAt` of the latest assignment change applied: older events are stale.
    pub assignment_at_ms: u64,
    /// Set while our own `stop-hitl` closes the thread: the echoed close emits nothing.
    pub stopping: bool,
    /// When the handoff started.
    pub started_at_ms: u64,
}

impl FromJson for TokenState {
    fn from_json(v: &Value) -> core::result::Result<Self, FieldError> {
        Ok(TokenState {
            fingerprint: string(v, "fingerprint")?,
            access_token: string(v, "accessToken")?,
            obtained_at_ms: number_or_zero(v, "obtainedAtMs")?,
            expires_at_ms: number(v, "expiresAtMs")?,
            refresh_token: opt_string(v, "refreshToken")?,
            hub_id: opt_number(v, "hubId")?,
        })
    }
}

impl ToJson for TokenState {
    fn to_json(&self) -> Value {
        Object::new()
            .with("fingerprint", self.fingerprint.as_str())
            .with("accessToken", self.access_token.as_str())
            .with("obtainedAtMs", self.obtained_at_ms)
            .with("expiresAtMs", self.expires_at_ms)
            .with_some("refreshToken", self.refresh_token.as_deref())
            .with_some("hubId", self.hub_id)
            .into()
    }
}

impl FromJson for Lease {
    fn from_json(v: &Value) -> core::result::Result<Self, FieldError> {
        Ok(Lease {
            owner: string(v, "owner")?,
            until_ms: number(v, "untilMs")?,
        })
    }
}

impl ToJson for Lease {
    fn to_json(&self) -> Value {
        Object::new()
            .with("owner", self.owner.as_str())
            .with("untilMs", self.until_ms)
            .into()
    }
}

impl FromJson for Install {
    fn from_json(v: &Value) -> core::result::Result<Self, FieldError> {
        Ok(Install {
            channel_fingerprint: string(v, "channelFingerprint")?,
            channel_id: string(v, "channelId")?,
            webhook_url: string(v, "webhookUrl")?,
            channel_name: string(v, "channelName")?,
            channel_account_id: string(v, "channelAccountId")?,
            account_identifier: string(v, "accountIdentifier")?,
            inbox_id: string(v, "inboxId")?,
            portal_id: opt_number(v, "portalId")?,
            app_id: string(v, "appId")?,
        })
    }
}

impl ToJson for Install {
    fn to_json(&self) -> Value {
        Object::new()
            .with("channelFingerprint", self.channel_fingerprint.as_str())
            .with("channelId", self.channel_id.as_str())
            .with("webhookUrl", self.webhook_url.as_str())
            .with("channelName", self.channel_name.as_str())
            .with("channelAccountId", self.channel_account_id.as_str())
            .with("accountIdentifier", self.account_identifier.as_str())
            .with("inboxId", self.inbox_id.as_str())
            .with_some("portalId", self.portal_id)
            .with("appId", self.app_id.as_str())
            .into()
    }
}

impl FromJson for Agent {
    fn from_json(v: &Value) -> core::result::Result<Self, FieldError> {
        Ok(Agent {
            user_id: string(v, "userId")?,
            name: opt_string(v, "name")?,
        })
    }
}

impl ToJson for Agent {
    fn to_json(&self) -> Value {
        Object::new()
            .with("userId", self.user_id.as_str())
            .with_some("name", self.name.as_deref())
            .into()
    }
}

impl FromJson for Handoff {
    fn from_json(v: &Value) -> core::result::Result<Self, FieldError> {
        Ok(Handoff {
            thread_id: string(v, "threadId")?,
            integration_thread_id: string(v, "integrationThreadId")?,
            user_id: string(v, "userId")?,
            contact_id: string(v, "contactId")?,
            sender_type: string(v, "senderType")?,
            sender_value: string(v, "senderValue")?,
            sender_name: opt_string(v, "senderName")?,
            assigned_to: opt_string(v, "assignedTo")?,
            assignment_at_ms: number_or_zero(v, "assignmentAtMs")?,
            stopping: flag(v, "stopping")?,
            started_at_ms: number(v, "startedAtMs")?,
        })
    }
}

impl ToJson for Handoff {
    fn to_json(&self) -> Value {
        Object::new()
            .with("threadId", self.thread_id.as_str())
            .with("integrationThreadId", self.integration_thread_id.as_str())
            .with("userId", self.user_id.as_str())
            .with("contactId", self.contact_id.as_str())
            .with("senderType", self.sender_type.as_str())
            .with("senderValue", self.sender_value.as_str())
            .with_some("senderName", self.sender_name.as_deref())
            .with_some("assignedTo", self.assigned_to.as_deref())
            .with("assignmentAtMs", self.assignment_at_ms)
            .with("stopping", self.stopping)
            .with("startedAtMs", self.started_at_ms)
            .into()
    }
}

/// A record mapping ids to entries (the thread index, the agent cache), kept as one JSON object.
///
/// The entries stay in their JSON form and are decoded when read; every entry is checked when the
/// record is loaded, so a record that loads never hides an entry that does not decode.
#[derive(Debug, Clone, PartialEq)]
pub struct IdMap<T> {
    entries: Map,
    entry: PhantomData<T>,
}

impl<T> Default for IdMap<T> {
    fn default() -> Self {
        IdMap {
            entries: Map::new(),
            entry: PhantomData,
        }
    }
}

impl<T: FromJson + ToJson> IdMap<T> {
    /// The entry for `id`.
    pub fn get(&self, id: &str) -> Option<T> {
        self.entries.get(id).and_then(|v| T::from_json(v).ok())
    }

    /// Adds or replaces the entry for `id`.
    pub fn insert(&mut self, id: &str, entry: &T) {
        self.entries.insert(id.to_owned(), entry.to_json());
    }

    /// Removes the entry for `id`, if any.
    pub fn remove(&mut self, id: &str) {
        self.entries.remove(id);
    }

    /// Whether there is no entry.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Every entry, in id order.
    pub fn values(&self) -> impl Iterator<Item = T> + '_ {
        self.entries.values().filter_map(|v| T::from_json(v).ok())
    }
}

impl<T: FromJson> FromJson for IdMap<T> {
    fn from_json(v: &Value) -> core::result::Result<Self, FieldError> {
        let entries = v
            .as_object()
            .ok_or_else(|| FieldError::new("(the record)", "an object"))?;
        if let Some((id, e)) = entries
            .iter()
            .find_map(|(id, entry)| T::from_json(entry).err().map(|e| (id, e)))
        {
            return Err(FieldError::new(&format!("{id}: {}", e.field), e.expected));
        }
        Ok(IdMap {
            entries: entries.clone(),
            entry: PhantomData,
        })
    }
}

impl<T> ToJson for IdMap<T> {
    fn to_json(&self) -> Value {
        Value::Object(self.entries.clone())
    }
}

impl FromJson for String {
    fn from_json(v: &Value) -> core::result::Result<Self, FieldError> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| FieldError::new("(the entry)", "a text"))
    }
}

impl ToJson for String {
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
}

/// The thread index: HubSpot thread id → bot conversation id.
pub type Threads = IdMap<String>;

/// The agent cache: HubSpot actor id → bot-side agent user.
pub type Agents = IdMap<Agent>;

/// A conversation's delivered HubSpot message ids, oldest first.
pub type Seen = Vec<String>;

impl FromJson for Seen {
    fn from_json(v: &Value) -> core::result::Result<Self, FieldError> {
        let items = v
            .as_array()
            .ok_or_else(|| FieldError::new(SEEN, "a list"))?;
        items
            .iter()
            .map(|id| {
                id.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| FieldError::new(SEEN, "a list of texts"))
            })
            .collect()
    }
}

impl ToJson for Seen {
    fn to_json(&self) -> Value {
        Value::Array(self.iter().map(|id| id.as_str().into()).collect())
    }
}

/// Adds `message_id` to a conversation's delivered list; false when it was there already.
///
/// Called for every agent message, so it avoids decoding and re-encoding the list each time. The list
/// is a compact JSON array that only this function writes, of ids made of letters, digits and `-_.:`
/// (HubSpot's ids are; any other id is stored percent-encoded), so the lookup and the append
/// work on the stored text. The list is decoded only to trim it once its text passes
/// [`SEEN_MAX_BYTES`].
pub fn claim_seen(conversation: &str, message_id: &str) -> Result<bool> {
    let item = alloc::format!("\"{}\"", seen_key(message_id));
    let mut claimed = false;
    update_raw(Scope::Conversation, conversation, SEEN, &mut |raw| {
        claimed = false;
        let appended = match raw {
            Some(text) if lists(text, &item) => return Ok(Some(text.to_owned())),
            Some(text) if text.len() > 2 && text.starts_with('[') && text.ends_with(']') => {
                alloc::format!("{},{item}]", &text[..text.len() - 1])
            }
            _ => alloc::format!("[{item}]"),
        };
        claimed = true;
        if appended.len() <= SEEN_MAX_BYTES {
            return Ok(Some(appended));
        }
        let seen: Seen = decode(SEEN, &appended)?;
        Ok(Some(trim_seen(seen).to_json().to_string()))
    })?;
    Ok(claimed)
}

/// Takes `message_id` off a conversation's delivered list (its delivery failed: HubSpot retries it).
pub fn release_seen(conversation: &str, message_id: &str) -> Result<()> {
    let key = seen_key(message_id);
    update::<Seen, _>(Scope::Conversation, conversation, SEEN, |seen| {
        seen.map(|mut s| {
            s.retain(|x| *x != key);
            s
        })
    })?;
    Ok(())
}

/// How an id is kept in the delivered list: itself when plain, else `#` and its percent-encoding
/// (which has no `,`, `"` or brackets, and cannot be mistaken for a plain id).
pub fn seen_key(message_id: &str) -> String {
    let plain = !message_id.is_empty()
        && message_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b));
    if plain {
        return message_id.to_owned();
    }
    let mut key = String::from("#");
    key.extend(form_urlencoded::byte_serialize(message_id.as_bytes()));
    key
}

/// Whether the compact JSON array of plain ids `text` has the element whose JSON text is `item`.
fn lists(text: &str, item: &str) -> bool {
    text.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .is_some_and(|inner| inner.split(',').any(|element| element == item))
}

/// Keeps the newest [`SEEN_LIMIT`] ids.
fn trim_seen(mut seen: Seen) -> Seen {
    if seen.len() > SEEN_LIMIT {
        seen.drain(..seen.len() - SEEN_LIMIT);
    }
    seen
}

/// Reads the raw text of a state entry.
pub fn get_raw(scope: Scope, id: &str, name: &str) -> Option<String> {
    host::state_get(scope, id, name)
}

/// Reads and decodes a state entry; an entry that does not decode is an internal error.
pub fn get<T: FromJson>(scope: Scope, id: &str, name: &str) -> Result<Option<T>> {
    host::state_get(scope, id, name)
        .map(|raw| decode(name, &raw))
        .transpose()
}

/// Encodes and writes a state entry.
pub fn set<T: ToJson>(scope: Scope, id: &str, name: &str, value: &T) -> Result<()> {
    host::state_set(scope, id, name, &value.to_json().to_string());
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
    T: FromJson + ToJson + Clone,
    F: FnMut(Option<T>) -> Option<T>,
{
    let mut outcome = (None, None);
    update_raw(scope, id, name, &mut |raw| {
        let old: Option<T> = raw.map(|r| decode(name, r)).transpose()?;
        let new = f(old.clone());
        let new_raw = new.as_ref().map(|n| n.to_json().to_string());
        outcome = (old, new);
        Ok(new_raw)
    })?;
    Ok(outcome)
}

/// The untyped core of [`update`]: `f` maps the current text (`None`: no entry) to the new one.
fn update_raw(
    scope: Scope,
    id: &str,
    name: &str,
    f: &mut dyn FnMut(Option<&str>) -> Result<Option<String>>,
) -> Result<()> {
    for attempt in 0..64u64 {
        let raw = host::state_get(scope, id, name);
        let new_raw = f(raw.as_deref())?;
        if new_raw == raw || host::state_swap(scope, id, name, raw.as_deref(), new_raw.as_deref()) {
            return Ok(());
        }
        sleep_ms(attempt.min(10));
    }
    Err(HitlError::Internal(format!(
        "state `{name}` kept changing under us"
    )))
}

/// Decodes the text of the state entry `name`; one that does not decode is an internal error.
pub fn decode<T: FromJson>(name: &str, raw: &str) -> Result<T> {
    T::from_json(&parse_entry(name, raw)?).map_err(|e| undecodable_entry(name, &e))
}

/// Parses the text of the state entry `name` as JSON.
fn parse_entry(name: &str, raw: &str) -> Result<Value> {
    json::parse(raw.as_bytes()).map_err(|e| undecodable_entry(name, &e))
}

fn undecodable_entry(name: &str, e: &dyn core::fmt::Display) -> HitlError {
    HitlError::Internal(format!("state `{name}` does not decode: {e}"))
}

/// Tries to take the lease `name` for `ttl_ms`; returns its owner id when taken.
pub fn try_lease(scope: Scope, id: &str, name: &str, ttl_ms: u64) -> Option<String> {
    let now = now_ms();
    let raw = host::state_get(scope, id, name);
    if let Some(r) = &raw {
        match decode::<Lease>(name, r) {
            Ok(lease) if lease.until_ms > now => return None,
            _ => {}
        }
    }
    let owner = crate::platform::uuid_v4();
    let lease = Lease {
        owner: owner.clone(),
        until_ms: now + ttl_ms,
    };
    let text = lease.to_json().to_string();
    host::state_swap(scope, id, name, raw.as_deref(), Some(&text)).then_some(owner)
}

/// Gives back a lease taken with [`try_lease`] (only if still ours).
pub fn release_lease(scope: Scope, id: &str, name: &str, owner: &str) {
    if let Some(raw) = host::state_get(scope, id, name)
        && decode::<Lease>(name, &raw).is_ok_and(|l| l.owner == owner)
    {
        host::state_swap(scope, id, name, Some(&raw), None);
    }
}

#[cfg(test)]
mod seen_tests {
    use super::*;

    #[test]
    fn lists_finds_whole_elements_only() {
        let text = r#"["101","2020","abc-1"]"#;
        for (item, expected) in [
            (r#""101""#, true),
            (r#""2020""#, true),
            (r#""abc-1""#, true),
            (r#""10""#, false),
            (r#""020""#, false),
            (r#""abc""#, false),
            (r#""101","2020""#, false),
        ] {
            assert_eq!(lists(text, item), expected, "{item}");
        }
        assert!(!lists("[]", r#""1""#));
        assert_eq!(seen_key("m-42:7"), "m-42:7");
        assert!(seen_key("a,\"b\"").starts_with('#'));
    }

    #[test]
    fn trimming_keeps_the_newest_ids() {
        let seen: Seen = (0..SEEN_LIMIT + 10).map(|i| i.to_string()).collect();
        let trimmed = trim_seen(seen);
        assert_eq!(trimmed.len(), SEEN_LIMIT);
        assert_eq!(trimmed[0], "10");
    }
}
