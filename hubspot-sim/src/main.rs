//! `hubspot-sim`: runs the HubSpot simulator until Ctrl-C.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use hubspot_sim::{SimConfig, Simulator};

/// A faithful HubSpot stand-in on loopback (see the crate docs for the endpoints).
#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Port to listen on (0 = any free port).
    #[arg(long, env = "HUBSPOT_SIM_PORT", default_value_t = 0)]
    port: u16,
    /// Account (hub) id.
    #[arg(long, default_value_t = 62515)]
    portal_id: u64,
    /// App id.
    #[arg(long, default_value = "1234567")]
    app_id: String,
    /// Developer API key.
    #[arg(long, default_value = "sim-dev-api-key")]
    developer_api_key: String,
    /// OAuth client id.
    #[arg(long, default_value = "sim-client-id")]
    client_id: String,
    /// OAuth client secret.
    #[arg(long, default_value = "sim-client-secret")]
    client_secret: String,
    /// The valid refresh token.
    #[arg(long, default_value = "sim-refresh-token")]
    refresh_token: String,
    /// Answer a new refresh token on each refresh.
    #[arg(long)]
    rotate_refresh_token: bool,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = 1800)]
    token_lifetime_secs: u64,
    /// Seconds before a new channel shows in the channel list.
    #[arg(long, default_value_t = 60)]
    channel_list_delay_secs: u64,
    /// Seconds before a new channel accepts channel accounts.
    #[arg(long, default_value_t = 0)]
    channel_account_delay_secs: u64,
    /// The app's webhook target URL.
    #[arg(long)]
    app_webhook_url: Option<String>,
    /// A registered OAuth redirect URI (repeatable).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Requests per 10 s per account (0 = unlimited).
    #[arg(long, default_value_t = 110)]
    rate_limit: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let a = Args::parse();
    let defaults = SimConfig::default();
    let config = SimConfig {
        portal_id: a.portal_id,
        app_id: a.app_id,
        developer_api_key: a.developer_api_key,
        client_id: a.client_id,
        client_secret: a.client_secret,
        refresh_token: a.refresh_token,
        rotate_refresh_token: a.rotate_refresh_token,
        token_lifetime: Duration::from_secs(a.token_lifetime_secs),
        channel_list_delay: Duration::from_secs(a.channel_list_delay_secs),
        channel_account_delay: Duration::from_secs(a.channel_account_delay_secs),
        app_webhook_url: a.app_webhook_url,
        redirect_uris: if a.redirect_uris.is_empty() {
            defaults.redirect_uris.clone()
        } else {
            a.redirect_uris
        },
        rate_limit: (a.rate_limit > 0).then(|| (a.rate_limit, Duration::from_secs(10))),
        ..defaults
    };
    let sim =
        Simulator::start_on(config.clone(), SocketAddr::from(([127, 0, 0, 1], a.port))).await?;
    println!("hubspot-sim listening on {}", sim.base_url());
    println!("  portal id:          {}", config.portal_id);
    println!("  app id:             {}", config.app_id);
    println!("  developer API key:  {}", config.developer_api_key);
    println!("  client id:          {}", config.client_id);
    println!("  client secret:      {}", config.client_secret);
    println!("  refresh token:      {}", config.refresh_token);
    for i in &config.inboxes {
        println!(
            "  inbox:              {} {} ({})",
            i.id,
            i.name,
            i.kind.as_str()
        );
    }
    println!(
        "  operator endpoints: {}/_sim/... (see the crate docs)",
        sim.base_url()
    );
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
