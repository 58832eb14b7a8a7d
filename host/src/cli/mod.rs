//! The `hitl-host` command line: argument parsing, logging and the subcommands.

mod api;
mod chat;
mod config;
#[cfg(feature = "testkit")]
mod demo;
mod errors;
mod input;
mod load;
mod local;
mod ops;
mod payload;
mod register;
mod serve;
mod setup;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Where `./build.sh` writes the component.
pub const DEFAULT_COMPONENT: &str = "dist/hubspot-hitl.wasm";

/// The config file `setup` writes and the other commands read by default.
pub const DEFAULT_CONFIG: &str = "hitl.json";

/// The default address of the webhook endpoint (`serve`), also the default public URL's host.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";

/// The default address of the local HTTP API (`serve`).
pub const DEFAULT_API_LISTEN: &str = "127.0.0.1:8788";

/// Hands chatbot conversations to live agents in a HubSpot Help Desk: runs the hubspot-hitl
/// component locally.
#[derive(Parser, Debug)]
#[command(
    name = "hitl-host",
    version,
    about,
    long_about = "Runs the hubspot-hitl component (a wasm32-wasip2 component, built by ./build.sh) \
                  on this machine.\n\n\
                  First time: `hitl-host demo` plays a whole handoff against a simulated HubSpot. \
                  With a HubSpot account: `hitl-host setup` writes a config file, then \
                  `hitl-host serve --config FILE` runs the integration for a bot.\n\n\
                  Logs go to stderr; set RUST_LOG (e.g. RUST_LOG=debug, or \
                  RUST_LOG=hitl_component=debug for the component's own log lines) to see more.",
    after_help = "Run `hitl-host <COMMAND> --help` for what each command does and its options."
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
enum Command {
    /// Play a whole handoff against a simulated HubSpot (no account needed) and print the transcript.
    #[cfg(feature = "testkit")]
    #[command(
        long_about = "Starts hubspot-sim in this process, registers the integration, and \
        plays a whole handoff with the real component: the user asks for a human, the bot escalates \
        with its transcript, an agent is assigned, they chat with text and a file both ways, and the \
        agent closes the conversation. Prints who said what, which events fired and every HubSpot \
        call made, then a one-line summary. Exits 0 only if every step happened."
    )]
    Demo(demo::DemoArgs),
    /// Run the integration for a bot: webhook endpoint, SQLite state, terminal chat, local HTTP API.
    #[command(long_about = serve::LONG_ABOUT)]
    Serve(serve::ServeArgs),
    /// Register once (find or make the custom channel and its account) and print what it found or made.
    #[command(
        long_about = "Runs the component's `register` once with the config file, as serve \
        does on start: it checks the configuration, gets an access token, then finds or makes the \
        custom channel and connects it to the help desk. Prints the channel and the channel \
        account. A configuration problem is reported with the field to fix."
    )]
    Register(register::RegisterArgs),
    /// Connect a HubSpot account: OAuth in the browser, pick the help desk, write the config file.
    #[command(long_about = setup::LONG_ABOUT)]
    Setup(setup::SetupArgs),
}

/// Which component to run.
#[derive(Args, Debug, Clone)]
pub struct ComponentArgs {
    /// The component to run (built by ./build.sh).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_COMPONENT, env = "HITL_COMPONENT")]
    pub component: PathBuf,
}

/// Which installation: the config file, its state, and how HubSpot reaches the webhook.
#[derive(Args, Debug, Clone)]
pub struct InstallArgs {
    /// The config file that `hitl-host setup` writes and the other commands read (its format: see
    /// `hitl-host serve --help`).
    #[arg(long, value_name = "FILE", env = "HITL_CONFIG", default_value = DEFAULT_CONFIG)]
    pub config: PathBuf,
    /// Send HubSpot API calls here instead of https://api.hubapi.com (e.g. a hubspot-sim's URL);
    /// overrides `hubspotBaseUrl` of the config file.
    #[arg(long, value_name = "URL")]
    pub hubspot_base_url: Option<String>,
    /// The SQLite file that keeps all state (default: the config file's name with `.sqlite`).
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Where the webhook endpoint listens (serve) and, without --public-url, the webhook URL's host.
    #[arg(long, value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// The public URL HubSpot calls (what a tunnel exposes for --listen, e.g.
    /// https://abc.example-tunnel.app); the webhook URL is `<URL>/webhooks/<integration id>`.
    /// Default: `publicUrl` of the config file, else http://<listen>.
    #[arg(long, value_name = "URL")]
    pub public_url: Option<String>,
    /// Which component to run.
    #[command(flatten)]
    pub component: ComponentArgs,
}

/// Runs the command line and returns the process exit code.
pub fn run(cli: Cli) -> i32 {
    init_logging(&cli.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return 1;
        }
    };
    let outcome = runtime.block_on(async move {
        match cli.command {
            #[cfg(feature = "testkit")]
            Command::Demo(args) => demo::run(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Register(args) => register::run(args).await,
            Command::Setup(args) => setup::run(args).await,
        }
    });
    match outcome {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            1
        }
    }
}

/// Logs to stderr, filtered by RUST_LOG; by default warnings, plus the component's and this host's
/// progress except in the demo (whose transcript tells the story).
fn init_logging(command: &Command) {
    let default = match command {
        #[cfg(feature = "testkit")]
        Command::Demo(_) => "warn",
        _ => "warn,hitl_component=info,hitl_host=info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
