//! Shared set-up of the host benchmarks: a registered test bed against `hubspot-sim` on loopback
//! (rate limits off, token warm), live handoffs with an agent already known, and the signed webhook
//! bodies HubSpot would send for them.

#![allow(dead_code)] // each bench target uses its own part of this module

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use hitl_host::RuntimeConfig;
use hitl_host::testkit::TestBed;
use hitl_host::types::{HitlError, MessagePayload};
use hubspot_sim::{DeliveryKind, NewContact, SimConfig};
use serde_json::{Value, json};

/// How many live handoffs the webhook batches spread their events over.
pub const LIVE_HANDOFFS: usize = 10;

/// The simulator's configuration for benchmarks: HubSpot's rate limits off (they would throttle a
/// benchmark, not measure it), everything else as in the tests.
pub fn sim_config() -> SimConfig {
    SimConfig {
        rate_limit: None,
        search_rate_limit: None,
        ..Default::default()
    }
}

/// A current-thread tokio runtime: the simulator, the webhook server, the wasmtime calls and the
/// HTTP clients all run on this one thread, so "per core" figures mean one core.
pub fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("building the tokio runtime")
}

/// A registered installation with live handoffs assigned to one agent.
pub struct Bench {
    /// Simulator, bot store, runtime (default allocator) and webhook server.
    pub bed: TestBed,
    /// The agent (actor id) assigned to every handoff; the component already knows them.
    pub agent: String,
    /// The bot user (Ada) every handoff is for.
    pub user: String,
    /// Live handoffs: (bot conversation id, HubSpot thread id).
    pub handoffs: Vec<(String, String)>,
    /// A real `OUTGOING_CHANNEL_MESSAGE_CREATED` body as the simulator delivered it.
    template: Value,
    /// The app's client secret, which signs webhooks.
    secret: String,
    client: reqwest::Client,
    next: AtomicU64,
}

/// The component's own result as an error when it refused.
pub fn ok<T>(result: std::result::Result<T, HitlError>) -> Result<T> {
    result.map_err(|e| anyhow!("the component refused: {e:?}"))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Bench {
    /// Builds the component, starts the simulator and the server, registers (which warms the
    /// token), creates Ada, starts [`LIVE_HANDOFFS`] handoffs, assigns each to Grace (so the agent
    /// is known), and has Grace reply once to capture a real channel-event body.
    pub async fn start(runtime_config: RuntimeConfig) -> Result<Self> {
        let config = sim_config();
        let secret = config.client_secret.clone();
        let mut bed = TestBed::with_configs(config, runtime_config.clone()).await?;
        if let Some(wasm) = std::env::var_os("HITL_BENCH_WASM") {
            // Profiling: run another build of the component (e.g. one with its name section).
            bed.runtime = hitl_host::Runtime::load(
                std::path::Path::new(&wasm),
                bed.bot.clone(),
                RuntimeConfig {
                    hubspot_base_url: Some(bed.sim.base_url()),
                    ..runtime_config
                },
            )
            .await?;
            bed.server
                .add_installation_with(bed.ctx.clone(), bed.runtime.clone());
        }
        bed.registered().await?;
        bed.sim.add_contact(NewContact {
            email: Some("ada@example.com".into()),
            firstname: Some("Ada".into()),
            lastname: Some("Lovelace".into()),
            ..Default::default()
        });
        let agent = bed
            .sim
            .add_agent("Grace Hopper", "grace@helpdesk.example", None);
        let user = ok(bed
            .runtime
            .create_user(&bed.ctx, None, Some("ada@example.com"), None, None)
            .await?)?;
        let mut handoffs = Vec::new();
        for i in 0..LIVE_HANDOFFS {
            let conversation = ok(bed
                .runtime
                .start_hitl(&bed.ctx, &user, Some(&format!("Handoff {i}")), None, &[])
                .await?)?;
            let thread = thread_of(&bed, &conversation)?;
            let outcomes = bed.sim.assign(&thread, &agent).await?;
            ensure!(
                outcomes.iter().all(|o| o.status == Some(200)),
                "assignment delivery refused: {outcomes:?}"
            );
            handoffs.push((conversation, thread));
        }
        bed.sim
            .agent_reply(&handoffs[0].1, &agent, "Hello Ada, how can I help?", vec![])
            .await?;
        let template = bed
            .sim
            .deliveries()
            .into_iter()
            .rev()
            .find(|d| d.kind == DeliveryKind::ChannelWebhook)
            .context("the simulator delivered no channel event")?;
        ensure!(
            template.status == Some(200),
            "the channel event was refused"
        );
        let template: Value = serde_json::from_str(&template.body)?;
        Ok(Self {
            bed,
            agent,
            user,
            handoffs,
            template,
            secret,
            client: reqwest::Client::new(),
            next: AtomicU64::new(1),
        })
    }

    fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// A webhook body of `n` agent messages (`OUTGOING_CHANNEL_MESSAGE_CREATED`), each with a new
    /// HubSpot message id, spread round-robin over the live handoffs: every one is delivered to the
    /// bot (no HubSpot call: the agent is known). One event is sent as an object, as HubSpot does;
    /// several as an array.
    pub fn agent_messages(&self, n: usize) -> String {
        let events: Vec<Value> = (0..n)
            .map(|i| {
                let id = self.next();
                let (_, thread) = &self.handoffs[i % self.handoffs.len()];
                let mut event = self.template.clone();
                event["message"]["id"] = json!(format!("bench-{id}"));
                event["message"]["conversationsThreadId"] = json!(thread);
                event["message"]["text"] = json!(format!("Agent answer {id}"));
                event["eventTimestamp"] = json!(now_ms());
                event
            })
            .collect();
        match <[Value; 1]>::try_from(events) {
            Ok([one]) => one.to_string(),
            Err(events) => Value::Array(events).to_string(),
        }
    }

    /// POSTs `body` to the installation's webhook URL, signed (v3) now; returns status and body.
    pub async fn post_webhook(&self, body: String) -> Result<(u16, String)> {
        let (request, _) = self.signed_request(body);
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    /// A signed webhook request, ready to send (signing is kept out of timed sections).
    pub fn signed_request(&self, body: String) -> (reqwest::RequestBuilder, usize) {
        let url = &self.bed.ctx.webhook_url;
        let timestamp = now_ms();
        let signature = hubspot_sim::sign_v3(&self.secret, "POST", url, &body, timestamp);
        let len = body.len();
        let request = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-hubspot-request-timestamp", timestamp.to_string())
            .header("x-hubspot-signature-v3", signature)
            .body(body);
        (request, len)
    }

    /// Sends a signed request and insists on 200 with every event handled.
    pub async fn send_checked(request: reqwest::RequestBuilder, events: usize) -> Result<()> {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let text = response.text().await?;
        if status != 200 {
            bail!("the webhook answered {status}: {text}");
        }
        let answer: Value = serde_json::from_str(&text)?;
        if answer["handled"].as_u64() != Some(events as u64) {
            bail!("the webhook did not handle all {events} events: {text}");
        }
        Ok(())
    }

    /// `message` with a text payload and a new message id, on the first live handoff.
    pub async fn message_text(&self) -> Result<()> {
        let id = self.next();
        ok(self
            .bed
            .runtime
            .message(
                &self.bed.ctx,
                &self.handoffs[0].0,
                &self.user,
                &format!("bench-msg-{id}"),
                &MessagePayload::Text(format!("Still there? ({id})")),
            )
            .await?)
    }

    /// `start-hitl` for Ada with a title and a two-entry transcript; returns the conversation id.
    pub async fn start_hitl(&self) -> Result<String> {
        use hitl_host::types::{Author, HistoryEntry};
        let history = [
            HistoryEntry {
                author: Author::User,
                payload: MessagePayload::Text("My parcel 1234 never arrived".into()),
                sent_at: Some(1_700_000_000_000),
            },
            HistoryEntry {
                author: Author::Bot,
                payload: MessagePayload::Text("Sorry to hear that! Let me find a human.".into()),
                sent_at: None,
            },
        ];
        ok(self
            .bed
            .runtime
            .start_hitl(
                &self.bed.ctx,
                &self.user,
                Some("Parcel missing"),
                Some("Order 1234 was not delivered"),
                &history,
            )
            .await?)
    }

    /// `stop-hitl` of a conversation (so benchmarks of `start-hitl` keep the state's size steady).
    pub async fn stop_hitl(&self, conversation: &str) -> Result<()> {
        ok(self
            .bed
            .runtime
            .stop_hitl(&self.bed.ctx, conversation, Some("benchmark"))
            .await?)
    }

    /// The API endpoints the simulator saw since `clear_requests` (operator calls left out).
    pub fn endpoints(&self) -> Vec<String> {
        self.bed
            .sim
            .requests()
            .into_iter()
            .filter(|r| !r.path.starts_with("/_sim") && !r.path.starts_with("/hubfs"))
            .map(|r| r.endpoint)
            .collect()
    }
}

/// The HubSpot thread id tagged on a handoff conversation.
pub fn thread_of(bed: &TestBed, conversation_id: &str) -> Result<String> {
    let (_, conversation) = bed
        .bot
        .conversation(conversation_id)?
        .context("no such conversation")?;
    conversation
        .tags
        .iter()
        .find(|(k, _)| k == "hubspotThreadId")
        .map(|(_, v)| v.clone())
        .context("the conversation has no hubspotThreadId tag")
}

/// Runs `f` `iters` times and returns the time spent in the timed part only.
pub async fn timed<F, Fut>(iters: u64, mut f: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Duration>,
{
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        total += f().await;
    }
    total
}
