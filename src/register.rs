//! `register` / `unregister`: the custom channel and its account in the help desk.
//!
//! register validates the configuration, obtains an access token (naming the credential HubSpot
//! refuses), then finds or creates, in this order: the help desk inbox (the configured one, or the
//! only `HELP_DESK`), the custom channel (by the id in state; else one of the app's channels that
//! already calls our webhook URL; else a new one) and the channel account for that inbox. A channel
//! HubSpot does not know yet is waited for by retrying the account connection with a backoff, not by
//! polling the channel list. Saving the same configuration again creates nothing. Concurrent
//! registers of one installation are serialised by a lease in state.

use alloc::{format, string::String, vec, vec::Vec};

use crate::bindings::hitl::integration::types::Context;
use crate::config::Config;
use crate::error::{HitlError, Result};
use crate::fetch::Target;
use crate::hubspot::{ApiError, HubSpot, Inbox, error_for, id_of, tolerate};
use crate::json::{self, Object, Value};
use crate::oauth;
use crate::platform::{info, now_ms, sleep_ms, warn};
use crate::state::{
    self, AGENTS, HANDOFF, INSTALL, Install, OAUTH, REGISTER_LOCK, SEEN, Scope, THREADS, Threads,
};

/// How long a register lease lasts.
const REGISTER_LEASE_MS: u64 = 150_000;
/// How long to wait for HubSpot to know a new channel before giving up.
const CHANNEL_WAIT_MS: u64 = 90_000;
/// Largest attachment the channel accepts from agents.
pub const MAX_ATTACHMENT_BYTES: u64 = 10 * 1024 * 1024;

/// Validates the configuration and sets up (or finds) the channel and its account.
pub fn register(ctx: &Context) -> Result<()> {
    let config = Config::parse(&ctx.configuration)?;
    check_webhook_url(&ctx.webhook_url)?;
    let client = HubSpot::new(&ctx.integration_id, &config);
    let token = oauth::current(&client)?;
    let owner = wait_for_lease(&ctx.integration_id)?;
    let outcome = setup(ctx, &config, &client, token.hub_id);
    state::release_lease(
        Scope::Integration,
        &ctx.integration_id,
        REGISTER_LOCK,
        &owner,
    );
    let install = outcome?;
    info(&format!(
        "registered: channel {} with account {} in inbox {}",
        install.channel_id, install.channel_account_id, install.inbox_id
    ));
    Ok(())
}

/// Deletes the channel (HubSpot archives it) and forgets the installation's state. A failure to
/// reach HubSpot keeps the state so that a retry can finish the job.
pub fn unregister(ctx: &Context) -> Result<()> {
    let id = &ctx.integration_id;
    if let Some(install) = state::get::<Install>(Scope::Integration, id, INSTALL)? {
        let config = Config::parse(&ctx.configuration)?;
        HubSpot::new(id, &config).delete_channel(&install.channel_id)?;
        info(&format!("deleted custom channel {}", install.channel_id));
    }
    if let Some(threads) = state::get::<Threads>(Scope::Integration, id, THREADS)? {
        for conversation in threads.values() {
            state::delete(Scope::Conversation, &conversation, HANDOFF);
            state::delete(Scope::Conversation, &conversation, SEEN);
        }
    }
    for name in [
        INSTALL,
        THREADS,
        AGENTS,
        OAUTH,
        REGISTER_LOCK,
        state::OAUTH_LOCK,
    ] {
        state::delete(Scope::Integration, id, name);
    }
    Ok(())
}

/// The installation record, or an error telling the caller to register first.
pub fn installed(ctx: &Context) -> Result<Install> {
    state::get::<Install>(Scope::Integration, &ctx.integration_id, INSTALL)?.ok_or_else(|| {
        HitlError::InvalidConfiguration(
            "the integration is not registered yet: save its configuration (register) first".into(),
        )
    })
}

fn check_webhook_url(url: &str) -> Result<()> {
    if Target::parse(url).is_ok() {
        Ok(())
    } else {
        Err(HitlError::InvalidInput(
            "the context's webhook-url must be an absolute http(s) URL".into(),
        ))
    }
}

fn wait_for_lease(integration_id: &str) -> Result<String> {
    let deadline = now_ms() + REGISTER_LEASE_MS;
    loop {
        if let Some(owner) = state::try_lease(
            Scope::Integration,
            integration_id,
            REGISTER_LOCK,
            REGISTER_LEASE_MS,
        ) {
            return Ok(owner);
        }
        if now_ms() > deadline {
            return Err(HitlError::Internal(
                "another register of this installation is still running".into(),
            ));
        }
        sleep_ms(200);
    }
}

fn setup(ctx: &Context, config: &Config, client: &HubSpot, hub_id: Option<u64>) -> Result<Install> {
    let id = &ctx.integration_id;
    let existing = state::get::<Install>(Scope::Integration, id, INSTALL)?
        .filter(|i| i.channel_fingerprint == config.channel_fingerprint());
    let inbox_id = resolve_inbox(client, config, existing.as_ref())?;
    let (channel_id, fresh) = ensure_channel(ctx, config, client, existing.as_ref())?;
    let reuse_account = existing
        .as_ref()
        .filter(|i| i.channel_id == channel_id && i.inbox_id == inbox_id)
        .map(|i| (i.channel_account_id.clone(), i.account_identifier.clone()));
    let (channel_account_id, account_identifier) = match reuse_account {
        Some(account) => account,
        None => ensure_account(ctx, config, client, &channel_id, &inbox_id, fresh)?,
    };
    let install = Install {
        channel_fingerprint: config.channel_fingerprint(),
        channel_id,
        webhook_url: ctx.webhook_url.clone(),
        channel_name: config.channel_name.clone(),
        channel_account_id,
        account_identifier,
        inbox_id,
        portal_id: hub_id.or_else(|| existing.as_ref().and_then(|i| i.portal_id)),
        app_id: config.app_id.clone(),
    };
    if existing.as_ref() != Some(&install) {
        state::set(Scope::Integration, id, INSTALL, &install)?;
    }
    Ok(install)
}

/// The inbox to connect: the configured one (checked to exist), or the account's only help desk.
fn resolve_inbox(client: &HubSpot, config: &Config, existing: Option<&Install>) -> Result<String> {
    match (&config.help_desk_id, existing) {
        (Some(wanted), Some(i)) if &i.inbox_id == wanted => return Ok(wanted.clone()),
        (None, Some(i)) => return Ok(i.inbox_id.clone()),
        _ => {}
    }
    let inboxes: Vec<Inbox> = client
        .list_inboxes()?
        .into_iter()
        .filter(|i| !i.archived)
        .collect();
    let help_desks: Vec<&Inbox> = inboxes.iter().filter(|i| i.kind == "HELP_DESK").collect();
    let describe = |list: &[&Inbox]| {
        let names: Vec<String> = list
            .iter()
            .map(|i| format!("{} ({})", i.id, i.name))
            .collect();
        crate::platform::join(&names, ", ")
    };
    match &config.help_desk_id {
        Some(wanted) => {
            let Some(inbox) = inboxes.iter().find(|i| &i.id == wanted) else {
                let all: Vec<&Inbox> = inboxes.iter().collect();
                return Err(HitlError::InvalidConfiguration(format!(
                    "`helpDeskId` {wanted} is not an inbox of this HubSpot account; its inboxes are: {}",
                    describe(&all)
                )));
            };
            if inbox.kind != "HELP_DESK" {
                warn(&format!("inbox {wanted} is a {} inbox, not a help desk; connecting it anyway", inbox.kind));
            }
            Ok(wanted.clone())
        }
        None => match help_desks.as_slice() {
            [only] => {
                info(&format!("using the account's only help desk: {} ({})", only.id, only.name));
                Ok(only.id.clone())
            }
            [] => Err(HitlError::InvalidConfiguration(
                "`helpDeskId`: this HubSpot account has no help desk inbox; create one in HubSpot, or set `helpDeskId` to an inbox id".into(),
            )),
            several => Err(HitlError::InvalidConfiguration(format!(
                "`helpDeskId` is needed: this HubSpot account has several help desks: {}",
                describe(several)
            ))),
        },
    }
}

/// The channel's capabilities: one thread per handoff, text with links, files both ways.
fn channel_body(ctx: &Context, config: &Config) -> Value {
    let capabilities = Object::new()
        .with("threadingModel", "INTEGRATION_THREAD_ID")
        .with(
            "deliveryIdentifierTypes",
            vec![
                "HS_EMAIL_ADDRESS",
                "HS_PHONE_NUMBER",
                "CHANNEL_SPECIFIC_OPAQUE_ID",
            ],
        )
        .with("richText", vec!["HYPERLINK"])
        .with("allowInlineImages", false)
        .with("allowOutgoingMessages", true)
        .with("allowConversationStart", false)
        .with("allowMultipleRecipients", false)
        .with("outgoingAttachmentTypes", vec!["FILE"])
        .with("maxFileAttachmentCount", 5u64)
        .with("maxFileAttachmentSizeBytes", MAX_ATTACHMENT_BYTES)
        .with("maxTotalFileAttachmentSizeBytes", 5 * MAX_ATTACHMENT_BYTES);
    Object::new()
        .with("name", config.channel_name.as_str())
        .with("webhookUrl", ctx.webhook_url.as_str())
        .with(
            "channelDescription",
            "Conversations handed over by a chatbot",
        )
        .with("capabilities", capabilities)
        .into()
}

/// Finds the channel (by the id in state, else by our webhook URL) or creates it; `true` when new.
fn ensure_channel(
    ctx: &Context,
    config: &Config,
    client: &HubSpot,
    existing: Option<&Install>,
) -> Result<(String, bool)> {
    if let Some(install) = existing {
        if let Some(channel) = client.get_channel(&install.channel_id)? {
            let stale = channel.webhook_url.as_deref() != Some(ctx.webhook_url.as_str())
                || channel.name.as_deref() != Some(config.channel_name.as_str());
            if stale {
                client.update_channel(
                    &channel.id,
                    Object::new()
                        .with("webhookUrl", ctx.webhook_url.as_str())
                        .with("name", config.channel_name.as_str())
                        .into(),
                )?;
                info(&format!("updated custom channel {}", channel.id));
            }
            return Ok((channel.id, false));
        }
        warn(&format!(
            "custom channel {} is gone from HubSpot; making a new one",
            install.channel_id
        ));
    } else if let Some(channel) = client
        .list_channels()?
        .into_iter()
        .find(|c| c.webhook_url.as_deref() == Some(ctx.webhook_url.as_str()))
    {
        info(&format!(
            "found existing custom channel {} for this webhook URL",
            channel.id
        ));
        return Ok((channel.id, false));
    }
    let channel = client.create_channel(channel_body(ctx, config))?;
    info(&format!("created custom channel {}", channel.id));
    Ok((channel.id, true))
}

/// Finds the channel's account for the inbox, or connects one (waiting for HubSpot to know a new
/// channel).
fn ensure_account(
    ctx: &Context,
    config: &Config,
    client: &HubSpot,
    channel_id: &str,
    inbox_id: &str,
    fresh_channel: bool,
) -> Result<(String, String)> {
    let identifier = account_identifier(&ctx.integration_id);
    if !fresh_channel {
        let accounts = client.list_channel_accounts(channel_id)?;
        if let Some(account) = accounts
            .iter()
            .find(|a| !a.archived && a.inbox_id.as_deref() == Some(inbox_id))
        {
            let value = account
                .delivery_identifier
                .as_ref()
                .map_or(identifier, |d| d.value.clone());
            return Ok((account.id.clone(), value));
        }
    }
    let body: Value = Object::new()
        .with("inboxId", inbox_id)
        .with("name", config.channel_name.as_str())
        .with("authorized", true)
        .with(
            "deliveryIdentifier",
            Object::new()
                .with("type", "CHANNEL_SPECIFIC_OPAQUE_ID")
                .with("value", identifier.as_str()),
        )
        .into();
    let deadline = now_ms() + CHANNEL_WAIT_MS;
    let mut wait = 500;
    loop {
        let response = client.create_channel_account(channel_id, body.clone())?;
        if response.is_success() {
            let account = json::parse(&response.body)?;
            let id = id_of(&account).ok_or_else(|| HitlError::Upstream {
                status: response.status,
                message: "connect channel account: HubSpot's answer has no id".into(),
            })?;
            info(&format!(
                "connected channel account {id} to inbox {inbox_id}"
            ));
            return Ok((id, identifier));
        }
        let api = ApiError::parse(&response);
        let mentions_inbox = api
            .message
            .as_deref()
            .is_some_and(|m| m.to_ascii_lowercase().contains("inbox"));
        if matches!(response.status, 400 | 404) && mentions_inbox {
            return Err(HitlError::InvalidConfiguration(format!(
                "`helpDeskId` {inbox_id} was refused by HubSpot ({})",
                api.summary()
            )));
        }
        if fresh_channel && matches!(response.status, 400 | 404) && now_ms() + wait < deadline {
            tolerate(&response, "connect channel account");
            info(&format!(
                "waiting for HubSpot to know the new channel {channel_id} (retrying in {wait} ms)"
            ));
            sleep_ms(wait);
            wait = (wait * 2).min(8_000);
            continue;
        }
        return Err(error_for(&response, "connect channel account"));
    }
}

/// The channel account's own address: opaque, stable per installation.
fn account_identifier(integration_id: &str) -> String {
    let safe: String = integration_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
        .take(64)
        .collect();
    format!("hitl-{safe}")
}
