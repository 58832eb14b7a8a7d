//! One installation run from a config file: its SQLite state, the component, and its context.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow};
use hitl_host::types::{Context, HitlError, Scope};
use hitl_host::{BotStore, Runtime};
use serde::Deserialize;

use super::InstallArgs;
use super::config::{ConfigFile, default_state_path};
use super::errors;

/// What `register` recorded in the integration-scope state `install` (fields the CLI shows).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Install {
    /// The custom channel's id.
    pub channel_id: String,
    /// The channel's name, as agents see it.
    pub channel_name: String,
    /// The channel account connected to the help desk.
    pub channel_account_id: String,
    /// The help desk inbox.
    pub inbox_id: String,
    /// The webhook URL the channel calls.
    pub webhook_url: String,
    /// The HubSpot account (portal) id, when known.
    #[serde(default)]
    pub portal_id: Option<u64>,
}

/// An installation on this machine.
pub struct Local {
    /// The config file it was loaded from.
    pub config_path: PathBuf,
    /// The bot side, kept in the state file.
    pub bot: BotStore,
    /// The component.
    pub runtime: Runtime,
    /// What every call passes.
    pub ctx: Context,
    /// The SQLite file.
    pub state_path: PathBuf,
}

impl Local {
    /// Loads the config file, opens the state and loads the component.
    pub async fn open(args: &InstallArgs) -> Result<Self> {
        let file = ConfigFile::load(&args.config)?;
        let state_path = args
            .state
            .clone()
            .unwrap_or_else(|| default_state_path(&args.config));
        let bot = BotStore::open(&state_path)?;
        let base_url = args
            .hubspot_base_url
            .clone()
            .or_else(|| file.hubspot_base_url.clone());
        if let Some(url) = &base_url {
            eprintln!("HubSpot API calls go to {url}");
        }
        let runtime =
            super::load::runtime(&args.component.component, bot.clone(), base_url).await?;
        let public = args.public_url.clone().or_else(|| file.public_url.clone());
        let ctx = Context {
            webhook_url: webhook_url(public.as_deref(), args.listen, &file.integration_id)?,
            integration_id: file.integration_id.clone(),
            bot_id: file.bot_id.clone(),
            configuration: serde_json::Value::Object(file.configuration).to_string(),
        };
        Ok(Self {
            config_path: args.config.clone(),
            bot,
            runtime,
            ctx,
            state_path,
        })
    }

    /// The installation record, when registered.
    pub fn install(&self) -> Option<Install> {
        install_of(&self.bot, &self.ctx.integration_id)
    }

    /// Runs `register`; the error explains a refusal with the field or credential to fix. Returns
    /// the record and whether the channel was already there before.
    pub async fn register(&self) -> Result<(Install, bool)> {
        let before = self.install();
        self.runtime
            .register(&self.ctx)
            .await
            .context("running the component's register")?
            .map_err(|error| anyhow!(errors::register_failure(&error, &self.config_path)))?;
        self.registered(before)
    }

    /// Like [`Local::register`], but waits out what a retry can cure (HubSpot unreachable, failing
    /// or rate limiting), saying so, with a backoff of up to a minute: a runner started before its
    /// network or HubSpot is up comes up by itself. A refused configuration still ends at once.
    pub async fn register_when_reachable(&self) -> Result<(Install, bool)> {
        let mut wait = Duration::from_secs(1);
        loop {
            let before = self.install();
            let outcome = self
                .runtime
                .register(&self.ctx)
                .await
                .context("running the component's register")?;
            match outcome {
                Ok(()) => return self.registered(before),
                Err(error @ (HitlError::Upstream(_) | HitlError::RateLimited(_))) => {
                    println!("register: HubSpot is not available ({error}); retrying in {wait:?}");
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(60));
                }
                Err(error) => {
                    return Err(anyhow!(errors::register_failure(&error, &self.config_path)));
                }
            }
        }
    }

    /// The record `register` left, and whether its channel was already there `before`.
    fn registered(&self, before: Option<Install>) -> Result<(Install, bool)> {
        let install = self
            .install()
            .context("register succeeded but left no `install` record")?;
        let found = before.is_some_and(|b| b.channel_id == install.channel_id);
        Ok((install, found))
    }
}

/// The installation record of `integration_id` in `bot`'s state.
pub fn install_of(bot: &BotStore, integration_id: &str) -> Option<Install> {
    let raw = bot
        .state_get(Scope::Integration, integration_id, "install")
        .ok()??;
    serde_json::from_str(&raw).ok()
}

/// Prints what register found or made.
pub fn print_install(install: &Install, found: bool) {
    let verb = if found { "found" } else { "made" };
    match install.portal_id {
        Some(portal) => println!("registered in HubSpot account {portal}:"),
        None => println!("registered:"),
    }
    println!(
        "  channel:          {} \"{}\" ({verb})",
        install.channel_id, install.channel_name
    );
    println!("  channel account:  {}", install.channel_account_id);
    println!("  help desk inbox:  {}", install.inbox_id);
    println!("  webhook URL:      {}", install.webhook_url);
}

/// The webhook URL of `integration_id`: `<public>/webhooks/<id>` (or `public` itself when it already
/// ends so), else on the listen address (an unspecified IP becomes 127.0.0.1).
pub fn webhook_url(
    public: Option<&str>,
    listen: SocketAddr,
    integration_id: &str,
) -> Result<String> {
    let tail = format!("/webhooks/{integration_id}");
    match public {
        Some(public) => {
            let url = url::Url::parse(public)
                .with_context(|| format!("the public URL {public:?} is not an absolute URL"))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(anyhow!(
                    "the public URL {public:?} must start with http:// or https://"
                ));
            }
            let base = public.trim_end_matches('/');
            if base.ends_with(&tail) {
                Ok(base.to_owned())
            } else {
                Ok(format!("{base}{tail}"))
            }
        }
        None => {
            let mut addr = listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            Ok(format!("http://{addr}{tail}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_webhook_url_follows_the_public_url_or_the_listen_address() {
        let listen: SocketAddr = "0.0.0.0:8787".parse().unwrap();
        assert_eq!(
            webhook_url(None, listen, "hubspot").unwrap(),
            "http://127.0.0.1:8787/webhooks/hubspot"
        );
        assert_eq!(
            webhook_url(Some("https://t.example/"), listen, "hubspot").unwrap(),
            "https://t.example/webhooks/hubspot"
        );
        assert_eq!(
            webhook_url(
                Some("https://t.example/webhooks/hubspot"),
                listen,
                "hubspot"
            )
            .unwrap(),
            "https://t.example/webhooks/hubspot"
        );
        assert!(webhook_url(Some("not a url"), listen, "hubspot").is_err());
    }
}
