//! Test kit used by tests, benches and `hitl-host demo`: a simulated HubSpot, the component under
//! wasmtime against it, a webhook server, and a [`Context`] whose webhook URL points at the server
//! and whose configuration matches the simulator's credentials.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use hubspot_sim::{InboxKind, SimConfig, Simulator};
use tokio::sync::broadcast;

use crate::component::build_component;
use crate::runtime::{Runtime, RuntimeConfig};
use crate::store::{BotMessage, BotNotice, BotStore};
use crate::types::{Context, Event, HitlError, LogLevel};
use crate::webhook_server::WebhookServer;

/// The integration id of a test bed's first installation.
pub const FIRST_INTEGRATION_ID: &str = "hubspot-1";

/// The bot id every test installation belongs to.
pub const BOT_ID: &str = "test-bot";

/// The installation configuration that matches `sim`'s app and account, as the hub would save it.
pub fn configuration_for(sim: &SimConfig) -> serde_json::Value {
    let help_desk = sim
        .inboxes
        .iter()
        .find(|inbox| inbox.kind == InboxKind::HelpDesk)
        .or_else(|| sim.inboxes.first())
        .map(|inbox| inbox.id.clone())
        .unwrap_or_default();
    serde_json::json!({
        "developerApiKey": sim.developer_api_key,
        "appId": sim.app_id,
        "clientId": sim.client_id,
        "clientSecret": sim.client_secret,
        "refreshToken": sim.refresh_token,
        "helpDeskId": help_desk,
    })
}

/// One installation of the component: its simulated HubSpot, the runtime aimed at it, its context.
#[derive(Clone)]
pub struct Installation {
    /// The simulated HubSpot account and app of this installation.
    pub sim: Simulator,
    /// The component, with HubSpot requests sent to `sim`.
    pub runtime: Runtime,
    /// What every call of this installation passes (webhook URL on the test bed's server).
    pub ctx: Context,
}

impl Installation {
    /// `register` with this installation's context.
    pub async fn register(&self) -> Result<Result<(), HitlError>> {
        self.runtime.register(&self.ctx).await
    }
}

/// A simulator, a bot store, the component and a webhook server wired together for one installation
/// (more with [`TestBed::add_installation`]).
pub struct TestBed {
    /// The first installation's simulator.
    pub sim: Simulator,
    /// The bot side shared by every installation.
    pub bot: BotStore,
    /// The component aimed at `sim`.
    pub runtime: Runtime,
    /// The webhook endpoint every installation's `webhook_url` points at.
    pub server: WebhookServer,
    /// The first installation's context.
    pub ctx: Context,
    runtime_config: RuntimeConfig,
    installations: usize,
}

impl TestBed {
    /// A test bed with the simulator's default configuration.
    pub async fn start() -> Result<Self> {
        Self::with_config(SimConfig::default()).await
    }

    /// A test bed whose simulator runs with `sim_config`.
    pub async fn with_config(sim_config: SimConfig) -> Result<Self> {
        Self::with_configs(sim_config, RuntimeConfig::default()).await
    }

    /// A test bed with both the simulator's and the runtime's options given (`hubspot_base_url` is
    /// always set to the simulator's).
    pub async fn with_configs(
        sim_config: SimConfig,
        runtime_config: RuntimeConfig,
    ) -> Result<Self> {
        let wasm = tokio::task::spawn_blocking(build_component)
            .await
            .context("the component build panicked")??;
        let bot = BotStore::in_memory()?;
        let sim = Simulator::start(sim_config)
            .await
            .context("starting the HubSpot simulator")?;
        let runtime = Runtime::load(
            &wasm,
            bot.clone(),
            RuntimeConfig {
                hubspot_base_url: Some(sim.base_url()),
                ..runtime_config.clone()
            },
        )
        .await?;
        let server =
            WebhookServer::start(runtime.clone(), SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let ctx = installation_context(&server, FIRST_INTEGRATION_ID, &sim.config());
        server.add_installation(ctx.clone());
        sim.set_app_webhook_url(Some(ctx.webhook_url.clone()));
        Ok(Self {
            sim,
            bot,
            runtime,
            server,
            ctx,
            runtime_config,
            installations: 1,
        })
    }

    /// The first installation as an [`Installation`].
    pub fn first(&self) -> Installation {
        Installation {
            sim: self.sim.clone(),
            runtime: self.runtime.clone(),
            ctx: self.ctx.clone(),
        }
    }

    /// A further installation (`hubspot-2`, `hubspot-3`, ...) with its own simulator started with
    /// `sim_config` (another portal, app and secrets), sharing this bed's bot store and webhook server.
    pub async fn add_installation(&mut self, sim_config: SimConfig) -> Result<Installation> {
        self.installations += 1;
        let integration_id = format!("hubspot-{}", self.installations);
        let sim = Simulator::start(sim_config)
            .await
            .context("starting another HubSpot simulator")?;
        let wasm = tokio::task::spawn_blocking(build_component)
            .await
            .context("the component build panicked")??;
        let runtime = Runtime::load(
            &wasm,
            self.bot.clone(),
            RuntimeConfig {
                hubspot_base_url: Some(sim.base_url()),
                ..self.runtime_config.clone()
            },
        )
        .await?;
        let ctx = installation_context(&self.server, &integration_id, &sim.config());
        self.server
            .add_installation_with(ctx.clone(), runtime.clone());
        sim.set_app_webhook_url(Some(ctx.webhook_url.clone()));
        Ok(Installation { sim, runtime, ctx })
    }

    /// Changes the first installation's configuration (as a hub does when it is saved) and serves
    /// webhooks with the new context. Call [`TestBed::register`] afterwards to apply it.
    pub fn reconfigure(&mut self, edit: impl FnOnce(&mut serde_json::Value)) {
        let mut configuration: serde_json::Value =
            serde_json::from_str(&self.ctx.configuration).unwrap_or_else(|_| serde_json::json!({}));
        edit(&mut configuration);
        self.ctx.configuration = configuration.to_string();
        self.server.add_installation(self.ctx.clone());
    }

    /// `register` of the first installation.
    pub async fn register(&self) -> Result<Result<(), HitlError>> {
        self.runtime.register(&self.ctx).await
    }

    /// `register`, failing unless the component accepted it.
    pub async fn registered(&self) -> Result<()> {
        self.register()
            .await?
            .map_err(|error| anyhow!("register failed: {error:?}"))
    }

    /// The messages of a bot conversation, in order.
    pub fn messages(&self, conversation_id: &str) -> Vec<BotMessage> {
        self.bot.messages(conversation_id)
    }

    /// The events of `integration_id`, in order.
    pub fn events_of(&self, integration_id: &str) -> Vec<Event> {
        self.bot
            .events()
            .into_iter()
            .filter(|(integration, _)| integration == integration_id)
            .map(|(_, event)| event)
            .collect()
    }

    /// The log lines of `integration_id`, in order.
    pub fn logs_of(&self, integration_id: &str) -> Vec<(LogLevel, String)> {
        self.bot
            .logs()
            .into_iter()
            .filter(|(integration, _, _)| integration == integration_id)
            .map(|(_, level, text)| (level, text))
            .collect()
    }

    /// Waits for the next bot-side notice that `accept` takes, up to `limit`.
    pub async fn wait_for(
        &self,
        notices: &mut broadcast::Receiver<BotNotice>,
        limit: Duration,
        mut accept: impl FnMut(&BotNotice) -> bool,
    ) -> Result<BotNotice> {
        tokio::time::timeout(limit, async {
            loop {
                match notices.recv().await {
                    Ok(notice) if accept(&notice) => return Ok(notice),
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => {
                        return Err(anyhow!("the bot store closed"));
                    }
                }
            }
        })
        .await
        .map_err(|_| anyhow!("no matching bot notice within {limit:?}"))?
    }

    /// Stops the simulator (others started by `add_installation` stop when dropped).
    pub async fn shutdown(&self) {
        self.server.shutdown();
        self.sim.shutdown().await;
    }
}

/// The context of installation `integration_id` served by `server` for `sim`'s account.
fn installation_context(server: &WebhookServer, integration_id: &str, sim: &SimConfig) -> Context {
    Context {
        integration_id: integration_id.to_owned(),
        bot_id: BOT_ID.to_owned(),
        webhook_url: server.url_for(integration_id),
        configuration: configuration_for(sim).to_string(),
    }
}
