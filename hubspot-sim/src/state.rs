//! The simulator's shared state: everything HubSpot would store, plus what tests introspect.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde_json::{Value, json};

use crate::config::{Inbox, SimConfig};
use crate::faults::FaultSlot;
use crate::webhooks::DeliveryRecord;

/// A request the simulator received, with the status it answered.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// The path as received (percent-encoded), without the query.
    pub path: String,
    /// The raw query string, if any.
    pub query: Option<String>,
    /// The endpoint template, e.g. `POST /conversations/v3/custom-channels/{channelId}/messages`;
    /// for an unknown path, the method and the path itself.
    pub endpoint: String,
    /// Every header, in order (names lower-case).
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
    /// The status answered (0 while the request is still being answered).
    pub status: u16,
}

/// A CRM contact to add as a fixture.
#[derive(Clone, Debug, Default)]
pub struct NewContact {
    /// `email`
    pub email: Option<String>,
    /// `phone`
    pub phone: Option<String>,
    /// `mobilephone`
    pub mobilephone: Option<String>,
    /// `firstname`
    pub firstname: Option<String>,
    /// `lastname`
    pub lastname: Option<String>,
}

/// A file an agent attaches to a reply (uploaded to the file store first, as HubSpot does).
#[derive(Clone, Debug)]
pub struct UploadedFile {
    /// File name, e.g. `photo.png`.
    pub name: String,
    /// MIME type, e.g. `image/png`.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A stored CRM contact.
#[derive(Clone, Debug)]
pub struct Contact {
    /// Contact id.
    pub id: String,
    /// Property values by name.
    pub properties: BTreeMap<String, String>,
    /// Creation time (ISO-8601).
    pub created_at: String,
}

/// An agent (a HubSpot user behind an `A-` actor id).
#[derive(Clone, Debug)]
pub struct Agent {
    /// Actor id `A-<n>`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Email.
    pub email: String,
    /// Avatar URL.
    pub avatar: Option<String>,
}

/// A visitor actor (the person on the custom channel's side).
#[derive(Clone, Debug)]
pub struct Visitor {
    /// Actor id `V-<n>`.
    pub id: String,
    /// Name given by the integration.
    pub name: Option<String>,
    /// Email, when the delivery identifier is one or a contact matched.
    pub email: Option<String>,
}

/// A custom channel.
#[derive(Clone, Debug)]
pub struct Channel {
    /// The channel object as HubSpot returns it.
    pub body: Value,
    /// When it was created (for the list and account delays).
    pub created: Instant,
}

/// A channel account (a channel connected to an inbox).
#[derive(Clone, Debug)]
pub struct ChannelAccount {
    /// The channel it belongs to.
    pub channel_id: u64,
    /// The object as HubSpot returns it.
    pub body: Value,
}

/// A conversations thread.
#[derive(Clone, Debug)]
pub struct Thread {
    /// Numeric id.
    pub id: u64,
    /// `OPEN` or `CLOSED`.
    pub status: String,
    /// The assigned agent's actor id.
    pub assigned_to: Option<String>,
    /// Inbox id.
    pub inbox_id: String,
    /// The associated contact's id.
    pub contact_id: Option<String>,
    /// The channel the thread started on.
    pub channel_id: u64,
    /// The channel account the thread started on.
    pub channel_account_id: u64,
    /// The integration's thread id, when it gave one.
    pub integration_thread_id: Option<String>,
    /// The visitor's participant object (deliveryIdentifier, name, actorId).
    pub visitor: Value,
    /// Creation time (ISO-8601).
    pub created_at: String,
    /// When it was closed (ISO-8601).
    pub closed_at: Option<String>,
    /// Archived (deleted) threads answer 404 unless asked for.
    pub archived: bool,
    /// Message ids in order.
    pub message_ids: Vec<String>,
}

impl Thread {
    /// The thread object as HubSpot returns it.
    pub fn to_json(&self, messages: &HashMap<String, Message>) -> Value {
        let latest = self
            .message_ids
            .last()
            .and_then(|m| messages.get(m))
            .map(|m| m.body["createdAt"].clone())
            .unwrap_or(Value::Null);
        let latest_of = |dir: &str| {
            self.message_ids
                .iter()
                .rev()
                .filter_map(|m| messages.get(m))
                .find(|m| m.body["direction"] == dir)
                .map(|m| m.body["createdAt"].clone())
                .unwrap_or(Value::Null)
        };
        let mut v = json!({
            "id": self.id.to_string(),
            "createdAt": self.created_at,
            "status": self.status,
            "originalChannelId": self.channel_id.to_string(),
            "originalChannelAccountId": self.channel_account_id.to_string(),
            "latestMessageTimestamp": latest,
            "latestMessageReceivedTimestamp": latest_of("INCOMING"),
            "latestMessageSentTimestamp": latest_of("OUTGOING"),
            "spam": false,
            "inboxId": self.inbox_id,
            "archived": self.archived,
        });
        if let Some(a) = &self.assigned_to {
            v["assignedTo"] = json!(a);
        }
        if let Some(c) = &self.contact_id {
            v["associatedContactId"] = json!(c);
        }
        if let Some(c) = &self.closed_at {
            v["closedAt"] = json!(c);
        }
        v
    }
}

/// A message in a thread.
#[derive(Clone, Debug)]
pub struct Message {
    /// The message object as HubSpot returns it.
    pub body: Value,
    /// The thread it is in.
    pub thread_id: u64,
    /// The channel it was published on.
    pub channel_id: u64,
}

/// A file in HubSpot's file store.
#[derive(Clone, Debug)]
pub struct StoredFile {
    /// The file object as HubSpot returns it.
    pub body: Value,
    /// MIME type to serve it with.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// An issued access token.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    /// When it stops working.
    pub expires_at: Instant,
    /// The same instant as wall-clock time (for the error text).
    pub expires_at_wall: chrono::DateTime<chrono::Utc>,
}

/// Everything mutable, behind one mutex.
#[derive(Debug, Default)]
pub struct State {
    /// The account's inboxes.
    pub inboxes: Vec<Inbox>,
    /// Valid access tokens.
    pub tokens: HashMap<String, TokenInfo>,
    /// Valid refresh tokens.
    pub refresh_tokens: HashSet<String>,
    /// Unused authorization codes and the redirect URI each was issued for.
    pub auth_codes: HashMap<String, String>,
    /// Channels by id (archived ones are removed).
    pub channels: BTreeMap<u64, Channel>,
    /// Channel accounts by id.
    pub accounts: BTreeMap<u64, ChannelAccount>,
    /// Threads by id.
    pub threads: BTreeMap<u64, Thread>,
    /// Threads by (channel account, integration thread key).
    pub thread_keys: HashMap<(u64, String), u64>,
    /// Messages by id.
    pub messages: HashMap<String, Message>,
    /// Message ids by (channel, integrationIdempotencyId).
    pub idempotency: HashMap<(u64, String), String>,
    /// CRM contacts by id.
    pub contacts: BTreeMap<u64, Contact>,
    /// Agents by actor id.
    pub agents: BTreeMap<String, Agent>,
    /// Visitors by actor id.
    pub visitors: BTreeMap<String, Visitor>,
    /// Visitor actor ids by delivery identifier (`TYPE:value`).
    pub visitor_keys: HashMap<String, String>,
    /// The file store by id.
    pub files: HashMap<String, StoredFile>,
    /// Bytes served by `host_file`, by id.
    pub hosted: HashMap<String, (String, Vec<u8>)>,
    /// Every request, with a sequence number.
    pub requests: Vec<(u64, RecordedRequest)>,
    /// Requests per endpoint template.
    pub call_counts: HashMap<String, usize>,
    /// Active one-shot faults.
    pub faults: Vec<FaultSlot>,
    /// `Fault::DuplicateDeliveries` is on.
    pub duplicate_deliveries: bool,
    /// `Fault::ReorderDeliveries` is on.
    pub reorder_deliveries: bool,
    /// Accepted request times per rate-limit bucket.
    pub rate_windows: HashMap<&'static str, VecDeque<Instant>>,
    /// Every webhook POST attempt.
    pub deliveries: Vec<DeliveryRecord>,
    /// The id counter.
    pub next_id: u64,
}

impl State {
    /// A fresh number for ids.
    pub fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// What the server, the operator controls and the `Simulator` handle share.
#[derive(Debug)]
pub struct Shared {
    /// The configuration (the app webhook URL may change).
    pub config: Mutex<SimConfig>,
    /// All mutable state.
    pub state: Mutex<State>,
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    /// The client webhooks are POSTed with.
    pub http: reqwest::Client,
}

impl Shared {
    /// Builds the shared state for a configuration.
    pub fn new(config: SimConfig, base_url: String) -> anyhow::Result<Arc<Shared>> {
        let state = State {
            inboxes: config.inboxes.clone(),
            refresh_tokens: HashSet::from([config.refresh_token.clone()]),
            next_id: 1000,
            ..State::default()
        };
        let http = reqwest::Client::builder().build()?;
        Ok(Arc::new(Shared {
            config: Mutex::new(config),
            state: Mutex::new(state),
            base_url,
            http,
        }))
    }

    /// Locks the state (a panic elsewhere does not poison it for tests).
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A copy of the configuration.
    pub fn config(&self) -> SimConfig {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets the app's webhook target URL.
    pub fn set_app_webhook_url(&self, url: Option<String>) {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .app_webhook_url = url;
    }
}

/// Now as HubSpot writes times: ISO-8601 UTC with milliseconds.
pub fn now_iso() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Now in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A random lower-case hex string of `bytes` bytes.
pub fn random_hex(bytes: usize) -> String {
    let v: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(v)
}
