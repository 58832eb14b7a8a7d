//! `hubspot-sim`: a faithful, stateful HubSpot stand-in on loopback, for the tests, benchmarks and
//! demo of `hubspot-hitl`.
//!
//! It serves real HTTP on `127.0.0.1` and is strict where HubSpot is: the auth kind of each
//! endpoint (developer API key + app id on channel management, bearer everywhere else), required
//! fields, status codes (201 on creates, 204 on deletes), HubSpot's error bodies, the
//! 110-per-10-s rate limit with its headers, token expiry, and signed webhooks with retries.
//!
//! # HubSpot endpoints
//! - `POST /oauth/v1/token` (form): `refresh_token` and `authorization_code` grants.
//! - `GET /oauth/authorize?client_id&redirect_uri&scope[&state]`: the consent screen, already
//!   consented: 302 to the (registered) redirect URI with `code`.
//! - `POST|GET /conversations/v3/custom-channels`, `GET|PATCH|DELETE .../{channelId}` (hapikey).
//! - `POST|GET .../{channelId}/channel-accounts`, `GET|PATCH .../channel-accounts/{id}` (bearer).
//! - `POST .../{channelId}/messages`, `GET|PATCH .../messages/{messageId}` (bearer).
//! - `GET /conversations/v3/conversations/inboxes[/{inboxId}]`, `GET .../threads`,
//!   `GET|PATCH|DELETE .../threads/{threadId}`, `GET .../threads/{threadId}/messages[/{messageId}]`,
//!   `GET .../actors/{actorId}` (bearer).
//! - `GET /crm/v3/objects/contacts/{contactId}[?idProperty=email]`,
//!   `POST /crm/v3/objects/contacts/search` (bearer; search has its own 5/s limit).
//! - `POST /files/v3/files` (multipart), `GET /files/v3/files/{fileId}[/signed-url]` (bearer);
//!   files are served at `GET /hubfs/{portalId}/{fileId}/{name}`.
//!
//! # Operator endpoints (for a CLI; no auth, not rate limited, not faulted)
//! - `POST /_sim/threads/{threadId}/assign {"actorId"}`, `.../unassign`, `.../close`,
//!   `.../reply {"actorId","text","files":[{"name","contentType","base64"}]}`: answer the
//!   outcomes of the deliveries made (`[{url, kind, status, body}]`).
//! - `POST /_sim/agents {"name","email","avatar"}` → `{"id":"A-…"}`;
//!   `POST /_sim/contacts {"email","phone","mobilephone","firstname","lastname"}` → `{"id"}`;
//!   `POST /_sim/inboxes {"id","name","type"}`.
//! - `GET /_sim/requests`, `DELETE /_sim/requests`, `GET /_sim/deliveries`, `GET /_sim/state`.
//! - `POST /_sim/faults {"kind":"failNext"|"slow"|"expireTokens"|"revokeRefreshToken"|
//!   "duplicateDeliveries"|"reorderDeliveries", "endpoint", "status", "count", "retryAfterSecs",
//!   "delayMs"}`, `DELETE /_sim/faults`.
//! - `PUT /_sim/app-webhook-url {"url"}`, `POST /_sim/auth-codes {"redirectUri"}` → `{"code"}`.
//! - `GET /_sim/hosted/{id}/{name}`: bytes served by [`Simulator::host_file`].
//!
//! Anything else answers HubSpot's 404 error JSON; a known path with another method answers 405.

mod auth;
mod channels;
mod config;
mod conversations;
mod crm;
mod errors;
mod faults;
mod files;
mod operator;
mod server;
mod state;
mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::{Inbox, InboxKind, SimConfig};
pub use faults::Fault;
pub use state::{NewContact, RecordedRequest, UploadedFile};
pub use webhooks::{DeliveryKind, DeliveryOutcome, DeliveryRecord, sign_v1, sign_v3, v3_uri};

use state::Shared;

struct Handle {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A running simulator on 127.0.0.1. Cheap to clone; stops when the last clone is dropped or on
/// [`Simulator::shutdown`].
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Handle>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("base_url", &self.inner.shared.base_url)
            .finish()
    }
}

impl Simulator {
    /// Starts a simulator on an ephemeral loopback port.
    pub async fn start(config: SimConfig) -> anyhow::Result<Simulator> {
        Simulator::start_on(config, SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Starts a simulator on the given address (an addition to the agreed interface, for the binary).
    pub async fn start_on(config: SimConfig, addr: SocketAddr) -> anyhow::Result<Simulator> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let shared = Shared::new(config, format!("http://{local}"))?;
        let (stop, mut stopped) = watch::channel(false);
        let app = server::router(shared.clone());
        let task = tokio::spawn(async move {
            let signal = async move {
                let _ = stopped.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(signal)
                .await
            {
                tracing::error!("hubspot-sim server failed: {e}");
            }
        });
        Ok(Simulator {
            inner: Arc::new(Handle {
                shared,
                stop,
                task: Mutex::new(Some(task)),
            }),
        })
    }

    fn shared(&self) -> &Arc<Shared> {
        &self.inner.shared
    }

    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub fn base_url(&self) -> String {
        self.shared().base_url.clone()
    }

    /// The current configuration (with the current app webhook URL and inboxes).
    pub fn config(&self) -> SimConfig {
        let mut c = self.shared().config();
        c.inboxes = self.shared().state().inboxes.clone();
        c
    }

    /// Sets (or clears) the app's webhook target URL.
    pub fn set_app_webhook_url(&self, url: Option<String>) {
        self.shared().set_app_webhook_url(url);
    }

    /// Stops serving (in-flight requests finish first).
    pub async fn shutdown(&self) {
        let _ = self.inner.stop.send(true);
        let task = self
            .inner
            .task
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Adds a CRM contact and returns its id.
    pub fn add_contact(&self, contact: NewContact) -> String {
        crm::add_contact(&mut self.shared().state(), contact)
    }

    /// Adds an agent and returns its actor id `A-<n>`.
    pub fn add_agent(&self, name: &str, email: &str, avatar: Option<&str>) -> String {
        operator::add_agent(self.shared(), name, email, avatar)
    }

    /// Adds an inbox to the account.
    pub fn add_inbox(&self, inbox: Inbox) {
        self.shared().state().inboxes.push(inbox);
    }

    /// Serves bytes at a public loopback URL (stands for a bot's CDN) and returns the URL.
    pub fn host_file(&self, name: &str, content_type: &str, bytes: Vec<u8>) -> String {
        files::host_file(self.shared(), name, content_type, bytes)
    }

    /// Issues an authorization code (what HubSpot's consent screen redirects with) for redirect_uri.
    pub fn issue_auth_code(&self, redirect_uri: &str) -> String {
        auth::issue_auth_code(self.shared(), redirect_uri)
    }

    /// An agent takes the thread: app event `conversation.propertyChange` `assignedTo`.
    pub async fn assign(
        &self,
        thread_id: &str,
        actor_id: &str,
    ) -> anyhow::Result<Vec<DeliveryOutcome>> {
        operator::assign(self.shared(), thread_id, actor_id).await
    }

    /// The thread loses its agent: `assignedTo` with an empty value.
    pub async fn unassign(&self, thread_id: &str) -> anyhow::Result<Vec<DeliveryOutcome>> {
        operator::unassign(self.shared(), thread_id).await
    }

    /// An agent replies with text and files: channel webhook `OUTGOING_CHANNEL_MESSAGE_CREATED`
    /// and app event `conversation.newMessage`.
    pub async fn agent_reply(
        &self,
        thread_id: &str,
        actor_id: &str,
        text: &str,
        files: Vec<UploadedFile>,
    ) -> anyhow::Result<Vec<DeliveryOutcome>> {
        operator::agent_reply(self.shared(), thread_id, actor_id, text, files).await
    }

    /// An agent closes the thread: `conversation.propertyChange` `status` = `CLOSED`.
    pub async fn close_thread(&self, thread_id: &str) -> anyhow::Result<Vec<DeliveryOutcome>> {
        operator::close_thread(self.shared(), thread_id).await
    }

    /// Every request received, in order of arrival.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared()
            .state()
            .requests
            .iter()
            .map(|(_, r)| r.clone())
            .collect()
    }

    /// Forgets the recorded requests and the call counts.
    pub fn clear_requests(&self) {
        let mut st = self.shared().state();
        st.requests.clear();
        st.call_counts.clear();
    }

    /// Requests received for an endpoint `"METHOD /path/{template}"` (a trailing slash is ignored).
    pub fn call_count(&self, endpoint: &str) -> usize {
        let key = faults::normalize_endpoint(endpoint);
        self.shared()
            .state()
            .call_counts
            .get(&key)
            .copied()
            .unwrap_or(0)
    }

    /// Every channel (including ones not yet listed), as HubSpot returns them.
    pub fn channels(&self) -> Vec<serde_json::Value> {
        self.shared()
            .state()
            .channels
            .values()
            .map(|c| c.body.clone())
            .collect()
    }

    /// Every channel account, as HubSpot returns them.
    pub fn channel_accounts(&self) -> Vec<serde_json::Value> {
        self.shared()
            .state()
            .accounts
            .values()
            .map(|a| a.body.clone())
            .collect()
    }

    /// Every thread, as HubSpot returns them.
    pub fn threads(&self) -> Vec<serde_json::Value> {
        let st = self.shared().state();
        st.threads
            .values()
            .map(|t| t.to_json(&st.messages))
            .collect()
    }

    /// The messages of a thread, in order (empty for an unknown thread).
    pub fn thread_messages(&self, thread_id: &str) -> Vec<serde_json::Value> {
        let st = self.shared().state();
        let Some(t) = thread_id
            .parse::<u64>()
            .ok()
            .and_then(|id| st.threads.get(&id))
        else {
            return vec![];
        };
        t.message_ids
            .iter()
            .filter_map(|m| st.messages.get(m))
            .map(|m| m.body.clone())
            .collect()
    }

    /// The bytes of a file in the file store.
    pub fn file_bytes(&self, file_id: &str) -> Option<Vec<u8>> {
        self.shared()
            .state()
            .files
            .get(file_id)
            .map(|f| f.bytes.clone())
    }

    /// Every webhook POST attempt made so far.
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.shared().state().deliveries.clone()
    }

    /// Injects a fault.
    pub fn inject(&self, fault: Fault) {
        faults::inject(self.shared(), fault);
    }

    /// Removes every pending fault.
    pub fn clear_faults(&self) {
        faults::clear(self.shared());
    }
}
