//! `hitl-host serve`: the local runner.

use std::io::IsTerminal;
use std::net::SocketAddr;

use anyhow::{Context as _, Result};
use clap::Args;
use hitl_host::{BotNotice, WebhookServer};
use tokio::sync::broadcast;

use super::chat::{self, ChatEnd};
use super::input::Input;
use super::local::{Local, print_install};
use super::ops::{FROM_TAG, Ops, event_conversation};
use super::{DEFAULT_API_LISTEN, InstallArgs, api, payload};

/// `serve --help`.
pub const LONG_ABOUT: &str = "\
Runs the integration for a bot on this machine, against HubSpot (or a hubspot-sim with \
--hubspot-base-url):
  - the webhook endpoint POST /webhooks/<integration id> on --listen (point a tunnel at it and pass \
its public URL as --public-url; HubSpot calls the channel's webhook URL and the app's webhook URL, \
both <public URL>/webhooks/<integration id>);
  - all state (tokens, the channel, live handoffs, users, conversations, messages, events) in the \
SQLite file --state, so a restart loses no handoff;
  - `register` on start (idempotent: nothing is made twice);
  - a terminal chat when standard input is a terminal (or with --chat): type as the end user, \
`/human` to hand over to an agent, `/stop` to end the handoff, `/quit` to stop serving; what the \
agent sends and the events are printed as they arrive;
  - a local HTTP API for scripts on --api-listen (loopback; never expose it):
      POST /api/users                              {\"email\"|\"phone\", \"name\"?}      -> {\"userId\"}
      POST /api/handoffs                           {\"userId\", \"title\"?, \"description\"?, \
\"messageHistory\"?: [{\"author\": \"user\"|\"bot\", \"text\"}]} -> {\"conversationId\", \"threadId\"}
      POST /api/handoffs/{conversation}/messages   {\"text\"} or {\"type\": \"file\", \"fileUrl\", \
\"title\"?} (also image/audio/video/bloc)
      POST /api/handoffs/{conversation}/stop       {\"reason\"?}
      GET  /api/conversations/{conversation}/messages
      GET  /api/conversations/{conversation}/events
      GET  /api/health

The config file (`hitl-host setup` writes it, mode 0600) is JSON:
  {\"integrationId\": \"hubspot\", \"botId\": \"hitl-host\", \"hubspotBaseUrl\": URL?, \
\"publicUrl\": URL?,
   \"configuration\": {\"developerApiKey\", \"appId\", \"clientId\", \"clientSecret\", \
\"refreshToken\", \"helpDeskId\"?, \"channelName\"?}}
Only `configuration` is required; a file holding just the configuration object works too.";

/// `hitl-host serve` options.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The installation.
    #[command(flatten)]
    pub install: InstallArgs,
    /// Where the local HTTP API listens (keep it on loopback: it acts as the bot).
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_API_LISTEN)]
    pub api_listen: SocketAddr,
    /// Chat in the terminal even when standard input is not a terminal.
    #[arg(long, conflicts_with = "no_chat")]
    pub chat: bool,
    /// No terminal chat, even on a terminal.
    #[arg(long)]
    pub no_chat: bool,
    /// The chat's end user: the email of a contact in HubSpot (asked on `/human` when not given).
    #[arg(long, value_name = "EMAIL")]
    pub user_email: Option<String>,
}

/// Runs `serve` until Ctrl-C, SIGTERM or the chat's `/quit`.
pub async fn run(args: ServeArgs) -> Result<i32> {
    let local = Local::open(&args.install).await?;
    let server = WebhookServer::start(local.runtime.clone(), args.install.listen)
        .await
        .with_context(|| {
            format!(
                "is another hitl-host serve running? choose another address with --listen (now {})",
                args.install.listen
            )
        })?;
    server.add_installation(local.ctx.clone());
    let (install, found) = local.register_when_reachable().await?;
    print_install(&install, found);

    let ops = Ops {
        runtime: local.runtime.clone(),
        bot: local.bot.clone(),
        ctx: local.ctx.clone(),
    };
    let api_listener = tokio::net::TcpListener::bind(args.api_listen)
        .await
        .with_context(|| {
            format!(
                "listening for the local API on {}; choose another address with --api-listen",
                args.api_listen
            )
        })?;
    let api_addr = api_listener
        .local_addr()
        .context("reading the API listener's address")?;
    let app = api::router(ops.clone());
    tokio::spawn(async move {
        if let Err(error) = axum::serve(api_listener, app).await {
            tracing::error!(%error, "the local API stopped");
        }
    });
    tokio::spawn(print_notices(ops.clone(), local.bot.subscribe()));

    println!(
        "webhooks: {} (listening on {})",
        local.ctx.webhook_url,
        server.addr()
    );
    println!("api:      http://{api_addr}/api");
    println!("state:    {}", local.state_path.display());
    println!("live handoffs: {}", ops.live_handoffs());
    println!("ready");

    let chat = !args.no_chat && (args.chat || std::io::stdin().is_terminal());
    let stop = shutdown_signal();
    tokio::pin!(stop);
    if chat {
        tokio::select! {
            end = chat::run(ops, Input::spawn(), args.user_email) => match end {
                ChatEnd::Quit => {}
                ChatEnd::InputClosed => {
                    eprintln!("the chat's input closed; still serving (Ctrl-C to stop)");
                    (&mut stop).await;
                }
            },
            () = &mut stop => {}
        }
    } else {
        stop.await;
    }
    server.shutdown();
    eprintln!("stopped serving");
    Ok(0)
}

/// Prints what arrives from the help desk (the agents' messages and the events) as it arrives.
async fn print_notices(ops: Ops, mut notices: broadcast::Receiver<BotNotice>) {
    loop {
        match notices.recv().await {
            Ok(BotNotice::Message {
                integration,
                message,
            }) if integration == ops.ctx.integration_id => {
                let ours = message
                    .tags
                    .iter()
                    .any(|(k, v)| k == FROM_TAG.0 && v == FROM_TAG.1);
                if !ours {
                    let name = ops
                        .user_name(&message.user_id)
                        .unwrap_or_else(|| message.user_id.clone());
                    println!(
                        "[{}] agent {name}: {}",
                        message.conversation_id,
                        payload::describe(&message.payload)
                    );
                }
            }
            Ok(BotNotice::Event { integration, event })
                if integration == ops.ctx.integration_id =>
            {
                let conversation = event_conversation(&event).to_owned();
                match &event {
                    hitl_host::types::Event::HitlAssigned(assigned) => println!(
                        "[{conversation}] event hitl-assigned: {} took the handoff",
                        ops.user_name(&assigned.user_id)
                            .unwrap_or_else(|| assigned.user_id.clone())
                    ),
                    hitl_host::types::Event::HitlStopped(_) => {
                        println!(
                            "[{conversation}] event hitl-stopped: the agent closed the handoff"
                        )
                    }
                }
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(error) => {
                    tracing::warn!(%error, "cannot watch for SIGTERM");
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
