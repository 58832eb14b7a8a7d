//! `hitl-host setup`: connects a HubSpot account without curl. OAuth in the browser (the code caught
//! on a loopback redirect URL, or pasted), the help desk picked from the account's inboxes, the
//! config file written with mode 0600, then `register`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use axum::Router;
use axum::http::{StatusCode, Uri};
use axum::response::Html;
use clap::Args;
use hitl_host::SCOPES;
use serde_json::{Map, Value};
use tokio::sync::mpsc;

use super::InstallArgs;
use super::config::ConfigFile;
use super::input::Input;
use super::local::{Local, print_install};

/// Where HubSpot's consent screen is.
const HUBSPOT_AUTHORIZE_URL: &str = "https://app.hubspot.com/oauth/authorize";

/// HubSpot's API.
const HUBSPOT_API: &str = "https://api.hubapi.com";

/// The redirect URL setup listens on by default (add it to the app's Auth → Redirect URLs).
pub const DEFAULT_REDIRECT_URI: &str = "http://localhost:3000/oauth-callback";

/// How long one HubSpot call of setup may take.
const HTTP_TIMEOUT: Duration = Duration::from_secs(30);

/// `setup --help`.
pub const LONG_ABOUT: &str = "\
Connects a HubSpot account and writes the config file that `serve` and `register` read:
  1. takes the developer API key, app id, client id and client secret (flags, environment, \
--from FILE, an existing config file, or asked here);
  2. prints the authorise URL with exactly the scopes the integration needs: open it, choose the \
account, approve;
  3. catches the code on the loopback redirect URL (--redirect-uri, which must be one of the app's \
redirect URLs), or takes the code or the whole address the browser was sent to, pasted here (for \
machines a browser cannot reach);
  4. exchanges the code for a refresh token;
  5. lists the account's inboxes and picks the help desk (by itself when there is one);
  6. writes the config file with mode 0600 (it holds secrets);
  7. runs register and prints the channel it made.";

/// `hitl-host setup` options.
#[derive(Args, Debug)]
pub struct SetupArgs {
    /// The config file to write, and the installation to register.
    #[command(flatten)]
    pub install: InstallArgs,
    /// The developer account's API key (developer account → Keys).
    #[arg(long, env = "HUBSPOT_DEVELOPER_API_KEY", hide_env_values = true)]
    pub developer_api_key: Option<String>,
    /// The public app's id (developer account → Apps).
    #[arg(long, env = "HUBSPOT_APP_ID")]
    pub app_id: Option<String>,
    /// The app's client id (your app → Auth).
    #[arg(long, env = "HUBSPOT_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The app's client secret (your app → Auth).
    #[arg(long, env = "HUBSPOT_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// Read the credentials from this JSON file (`developerApiKey`, `appId`, `clientId`,
    /// `clientSecret`, flat or under `configuration`).
    #[arg(long, value_name = "FILE")]
    pub from: Option<std::path::PathBuf>,
    /// The redirect URL HubSpot sends the browser to; one of the app's redirect URLs. On this
    /// machine (localhost, 127.0.0.1) setup listens there to catch the code.
    #[arg(long, value_name = "URL", default_value = DEFAULT_REDIRECT_URI)]
    pub redirect_uri: String,
    /// An authorisation code (or the whole redirect address) you already have.
    #[arg(long, value_name = "CODE")]
    pub code: Option<String>,
    /// The help desk inbox to connect (default: the only help desk, or asked).
    #[arg(long, value_name = "ID")]
    pub help_desk_id: Option<String>,
    /// The custom channel's name as agents see it.
    #[arg(long, value_name = "NAME")]
    pub channel_name: Option<String>,
    /// The installation's id, written to the config file (default `hubspot`).
    #[arg(long, value_name = "ID")]
    pub integration_id: Option<String>,
    /// Write the config file but do not register.
    #[arg(long)]
    pub no_register: bool,
}

/// The four credentials setup needs.
#[derive(Default)]
struct Credentials {
    developer_api_key: Option<String>,
    app_id: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

impl Credentials {
    /// Fills what is missing from a configuration object.
    fn fill_from(&mut self, configuration: &Map<String, Value>) {
        let get = |name: &str| {
            configuration
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
        };
        self.developer_api_key = self
            .developer_api_key
            .take()
            .or_else(|| get("developerApiKey"));
        self.app_id = self.app_id.take().or_else(|| get("appId"));
        self.client_id = self.client_id.take().or_else(|| get("clientId"));
        self.client_secret = self.client_secret.take().or_else(|| get("clientSecret"));
    }
}

/// Runs setup; the error says which step failed and what to do.
pub async fn run(args: SetupArgs) -> Result<i32> {
    let mut input = Input::spawn();
    let existing = ConfigFile::load(&args.install.config).ok();
    let base_url = args
        .install
        .hubspot_base_url
        .clone()
        .or_else(|| existing.as_ref().and_then(|e| e.hubspot_base_url.clone()));
    let api = base_url.clone().unwrap_or_else(|| HUBSPOT_API.to_owned());
    let api = api.trim_end_matches('/').to_owned();

    let mut credentials = Credentials {
        developer_api_key: args.developer_api_key.clone(),
        app_id: args.app_id.clone(),
        client_id: args.client_id.clone(),
        client_secret: args.client_secret.clone(),
    };
    if let Some(from) = &args.from {
        let file = ConfigFile::load(from)?;
        credentials.fill_from(&file.configuration);
    }
    if let Some(existing) = &existing {
        credentials.fill_from(&existing.configuration);
    }
    let developer_api_key = required(
        &mut input,
        credentials.developer_api_key,
        "developer API key (HubSpot developer account → Keys → Developer API key)",
        "--developer-api-key",
        Secret::Yes,
    )
    .await?;
    let app_id = required(
        &mut input,
        credentials.app_id,
        "app id (developer account → Apps → your app → App ID)",
        "--app-id",
        Secret::No,
    )
    .await?;
    if !app_id.bytes().all(|b| b.is_ascii_digit()) {
        bail!(
            "the app id must be digits (developer account → Apps → your app → App ID), not {app_id:?}"
        );
    }
    let client_id = required(
        &mut input,
        credentials.client_id,
        "client id (your app → Auth → Client ID)",
        "--client-id",
        Secret::No,
    )
    .await?;
    let client_secret = required(
        &mut input,
        credentials.client_secret,
        "client secret (your app → Auth → Client secret)",
        "--client-secret",
        Secret::Yes,
    )
    .await?;

    let state = random_state();
    let authorize = match &base_url {
        Some(base) => format!("{}/oauth/authorize", base.trim_end_matches('/')),
        None => HUBSPOT_AUTHORIZE_URL.to_owned(),
    };
    let authorize_url = authorize_url(&authorize, &client_id, &args.redirect_uri, &state)?;
    let code = match &args.code {
        Some(pasted) => match parse_pasted(pasted, &state) {
            Pasted::Code(code) => code,
            Pasted::Nothing => bail!("--code holds no authorisation code"),
            Pasted::OtherRun(text) => bail!("--code: {text}"),
            Pasted::Refused(error) => return Err(error),
        },
        None => obtain_code(&mut input, &authorize_url, &args.redirect_uri, &state).await?,
    };

    let http = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        .build()
        .context("making an HTTP client")?;
    eprintln!("exchanging the code for a refresh token");
    let tokens = exchange(
        &http,
        &api,
        &client_id,
        &client_secret,
        &args.redirect_uri,
        &code,
    )
    .await?;
    let help_desk = pick_help_desk(
        &http,
        &api,
        &tokens.access_token,
        args.help_desk_id.as_deref(),
        &mut input,
    )
    .await?;

    let mut configuration = existing
        .as_ref()
        .map(|e| e.configuration.clone())
        .unwrap_or_default();
    configuration.insert("developerApiKey".into(), developer_api_key.into());
    configuration.insert("appId".into(), app_id.into());
    configuration.insert("clientId".into(), client_id.into());
    configuration.insert("clientSecret".into(), client_secret.into());
    configuration.insert("refreshToken".into(), tokens.refresh_token.into());
    configuration.insert("helpDeskId".into(), help_desk.into());
    if let Some(name) = &args.channel_name {
        configuration.insert("channelName".into(), name.clone().into());
    }
    let mut file = existing.unwrap_or_else(|| ConfigFile::new(Map::new()));
    file.configuration = configuration;
    if let Some(id) = &args.integration_id {
        file.integration_id = id.clone();
    }
    if args.install.hubspot_base_url.is_some() {
        file.hubspot_base_url = args.install.hubspot_base_url.clone();
    }
    if args.install.public_url.is_some() {
        file.public_url = args.install.public_url.clone();
    }
    file.write(&args.install.config)?;
    println!(
        "wrote {} (mode 0600: it holds secrets)",
        args.install.config.display()
    );

    if args.no_register {
        println!(
            "next: hitl-host serve --config {}",
            args.install.config.display()
        );
        return Ok(0);
    }
    let local = Local::open(&args.install).await?;
    let (install, found) = local.register().await?;
    print_install(&install, found);
    println!(
        "next: hitl-host serve --config {}",
        args.install.config.display()
    );
    Ok(0)
}

/// Whether a credential must not show on the screen while it is typed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Secret {
    Yes,
    No,
}

/// A credential from the flags or files, else asked (a secret without echo on a terminal); the
/// error names the flag.
async fn required(
    input: &mut Input,
    given: Option<String>,
    what: &str,
    flag: &str,
    secret: Secret,
) -> Result<String> {
    if let Some(value) = given.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) {
        return Ok(value);
    }
    let prompt = format!("{what}: ");
    let answer = match secret {
        Secret::Yes => input.ask_secret(&prompt).await,
        Secret::No => input.ask(&prompt).await,
    };
    match answer {
        Some(value) if !value.is_empty() => Ok(value),
        _ => bail!("the {what} is needed: give {flag}, or type it when asked"),
    }
}

/// 32 hex digits that tie the redirect to this run (the OAuth `state`).
fn random_state() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut out = String::new();
    for round in 0..2u8 {
        // Each RandomState is seeded from the OS's randomness.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u8(round);
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        hasher.write_u32(std::process::id());
        out.push_str(&format!("{:016x}", hasher.finish()));
    }
    out
}

/// The consent screen's URL with the client, the redirect URL, [`SCOPES`] and the state.
fn authorize_url(base: &str, client_id: &str, redirect_uri: &str, state: &str) -> Result<String> {
    let mut url = url::Url::parse(base).with_context(|| format!("the authorise URL {base:?}"))?;
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", &SCOPES.join(" "))
        .append_pair("state", state);
    Ok(url.to_string())
}

/// What came back from the consent screen.
enum Redirect {
    /// The authorisation code.
    Code(String),
    /// HubSpot refused or the user declined: `error` and its description.
    Refused(String, String),
}

/// Reads a redirect's query: the code, or the error; checks `state` when present.
fn redirect_from_query(query: &str, state: &str) -> Result<Option<Redirect>, String> {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    if let Some(given) = get("state")
        && given != state
    {
        return Err(
            "this redirect belongs to another setup run (its `state` differs): use the \
                    authorise URL printed by this run"
                .into(),
        );
    }
    if let Some(error) = get("error") {
        return Ok(Some(Redirect::Refused(
            error,
            get("error_description").unwrap_or_default(),
        )));
    }
    Ok(get("code").filter(|c| !c.is_empty()).map(Redirect::Code))
}

/// What a pasted line holds.
enum Pasted {
    /// An authorisation code.
    Code(String),
    /// No code.
    Nothing,
    /// A redirect address of another setup run (its `state` differs): why it is ignored.
    OtherRun(String),
    /// A redirect address saying HubSpot did not authorise the app.
    Refused(anyhow::Error),
}

/// A pasted code, or a pasted redirect address (full URL or its query).
fn parse_pasted(pasted: &str, state: &str) -> Pasted {
    let pasted = pasted.trim();
    if pasted.is_empty() {
        return Pasted::Nothing;
    }
    let query = match url::Url::parse(pasted) {
        Ok(url) if matches!(url.scheme(), "http" | "https") => {
            Some(url.query().unwrap_or_default().to_owned())
        }
        _ => match pasted.split_once('?') {
            Some((_, query)) => Some(query.to_owned()),
            None if pasted.starts_with("code=") || pasted.starts_with("error=") => {
                Some(pasted.to_owned())
            }
            None => None,
        },
    };
    match query {
        Some(query) => match redirect_from_query(&query, state) {
            Ok(Some(Redirect::Code(code))) => Pasted::Code(code),
            Ok(Some(Redirect::Refused(error, description))) => {
                Pasted::Refused(refused(&error, &description))
            }
            Ok(None) => Pasted::Nothing,
            Err(text) => Pasted::OtherRun(text),
        },
        None if pasted.chars().any(char::is_whitespace) => Pasted::Nothing,
        None => Pasted::Code(pasted.to_owned()),
    }
}

/// The consent screen's refusal, with what to do.
fn refused(error: &str, description: &str) -> anyhow::Error {
    let detail = if description.is_empty() {
        error.to_owned()
    } else {
        format!("{error}: {description}")
    };
    if error.contains("scope") || description.to_ascii_lowercase().contains("scope") {
        anyhow!(
            "HubSpot refused the requested scopes ({detail}). The app must allow exactly these \
             scopes (your app → Auth → Scopes): {}. Add them, then run setup again",
            SCOPES.join(", ")
        )
    } else if error == "access_denied" {
        anyhow!(
            "the app was not authorised ({detail}): run setup again and approve the app on \
             HubSpot's page"
        )
    } else {
        anyhow!("HubSpot did not authorise the app ({detail}): run setup again")
    }
}

/// Whether a redirect URL points at this machine, so setup can listen on it.
fn loopback_address(redirect_uri: &str) -> Option<(SocketAddr, String)> {
    let url = url::Url::parse(redirect_uri).ok()?;
    if url.scheme() != "http" {
        return None;
    }
    let port = url.port_or_known_default()?;
    let ip: std::net::IpAddr = match url.host()? {
        url::Host::Domain("localhost") => std::net::Ipv4Addr::LOCALHOST.into(),
        url::Host::Domain(_) => return None,
        url::Host::Ipv4(ip) => ip.into(),
        url::Host::Ipv6(ip) => ip.into(),
    };
    ip.is_loopback()
        .then(|| (SocketAddr::new(ip, port), url.path().to_owned()))
}

/// Prints the authorise URL and waits for the code: from the loopback redirect, or pasted.
async fn obtain_code(
    input: &mut Input,
    authorize_url: &str,
    redirect_uri: &str,
    state: &str,
) -> Result<String> {
    let (tx, mut redirects) = mpsc::unbounded_channel::<Redirect>();
    let mut listening = false;
    if let Some((addr, path)) = loopback_address(redirect_uri) {
        match tokio::net::TcpListener::bind(addr).await {
            Ok(listener) => {
                let state = state.to_owned();
                let app = Router::new().fallback(move |uri: Uri| {
                    let tx = tx.clone();
                    let path = path.clone();
                    let state = state.clone();
                    async move { catch_redirect(uri, &path, &state, &tx) }
                });
                tokio::spawn(async move {
                    if let Err(error) = axum::serve(listener, app).await {
                        tracing::warn!(%error, "the redirect listener stopped");
                    }
                });
                listening = true;
            }
            Err(error) => eprintln!(
                "cannot listen on {addr} for the redirect ({error}); paste the code instead"
            ),
        }
    }
    println!(
        "Open this URL in a browser, sign in, choose the HubSpot account and approve the app:"
    );
    println!();
    println!("  {authorize_url}");
    println!();
    if listening {
        println!("Waiting for HubSpot to send the browser to {redirect_uri} ...");
        println!(
            "(No browser on this machine? Open the URL elsewhere, then paste here the code or the \
             whole address the browser was sent to.)"
        );
    } else {
        println!("Then paste here the code or the whole address the browser was sent to:");
    }
    let mut input_open = true;
    loop {
        tokio::select! {
            redirect = redirects.recv(), if listening => match redirect {
                Some(Redirect::Code(code)) => {
                    eprintln!("got the authorisation code from the browser");
                    return Ok(code);
                }
                Some(Redirect::Refused(error, description)) => return Err(refused(&error, &description)),
                None => listening = false,
            },
            line = input.line(), if input_open => match line {
                Some(line) => match parse_pasted(&line, state) {
                    Pasted::Code(code) => return Ok(code),
                    Pasted::Nothing => eprintln!(
                        "that holds no code: paste the code, or the whole address the browser \
                         was sent to"
                    ),
                    Pasted::OtherRun(text) => eprintln!("{text}"),
                    Pasted::Refused(error) => return Err(error),
                },
                None => input_open = false,
            },
            else => bail!("no authorisation code: nothing listens for the redirect and the input ended; pass --code"),
        }
    }
}

/// The loopback redirect's page; forwards the code (or the refusal) to setup.
fn catch_redirect(
    uri: Uri,
    path: &str,
    state: &str,
    tx: &mpsc::UnboundedSender<Redirect>,
) -> (StatusCode, Html<String>) {
    if uri.path() != path {
        return (StatusCode::NOT_FOUND, Html("not here".into()));
    }
    match redirect_from_query(uri.query().unwrap_or(""), state) {
        Ok(Some(Redirect::Code(code))) => {
            let _ = tx.send(Redirect::Code(code));
            (
                StatusCode::OK,
                Html("<h1>HubSpot is connected</h1><p>You can close this tab: hitl-host setup goes on in the terminal.</p>".into()),
            )
        }
        Ok(Some(Redirect::Refused(error, description))) => {
            let _ = tx.send(Redirect::Refused(error, description));
            (
                StatusCode::OK,
                Html(
                    "<h1>The app was not authorised</h1><p>See the terminal for what to do.</p>"
                        .into(),
                ),
            )
        }
        Ok(None) => (
            StatusCode::BAD_REQUEST,
            Html("<h1>No authorisation code in this address</h1>".into()),
        ),
        Err(text) => (StatusCode::BAD_REQUEST, Html(format!("<h1>{text}</h1>"))),
    }
}

/// The token endpoint's answer (only what setup uses; never logged).
struct Tokens {
    refresh_token: String,
    access_token: String,
}

/// `POST /oauth/v1/token` with the authorization_code grant; a refusal says which input was wrong.
async fn exchange(
    http: &reqwest::Client,
    api: &str,
    client_id: &str,
    client_secret: &str,
    redirect_uri: &str,
    code: &str,
) -> Result<Tokens> {
    let url = format!("{api}/oauth/v1/token");
    let response = http
        .post(&url)
        .form(&[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("client_secret", client_secret),
            ("redirect_uri", redirect_uri),
            ("code", code),
        ])
        .send()
        .await
        .map_err(|error| {
            anyhow!(
                "could not reach HubSpot's token endpoint {url}: {}",
                error.without_url()
            )
        })?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let kind = body["status"].as_str().unwrap_or_default();
        let message = body["message"].as_str().unwrap_or_default();
        return Err(match kind {
            "BAD_AUTH_CODE" => anyhow!(
                "HubSpot refused the authorisation code ({message}): a code works once and only \
                 for a few minutes. Run setup again and paste the new code promptly (only the \
                 text after `code=`)"
            ),
            "BAD_REDIRECT_URI" => anyhow!(
                "HubSpot refused the redirect URL ({message}): give --redirect-uri exactly as the \
                 app lists it (your app → Auth → Redirect URLs) and run setup again"
            ),
            "BAD_CLIENT_SECRET" => anyhow!(
                "HubSpot refused the client secret ({message}): copy it again from your app → \
                 Auth → Client secret, and run setup again"
            ),
            "BAD_CLIENT_ID" => anyhow!(
                "HubSpot does not know the client id ({message}): copy it from your app → Auth → \
                 Client ID, and run setup again"
            ),
            _ => anyhow!(
                "HubSpot refused the code exchange ({status} {kind}: {message}): check the \
                 client id, client secret and redirect URL, then run setup again"
            ),
        });
    }
    let text = |name: &str| {
        body[name]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("HubSpot's token answer has no `{name}`"))
    };
    if let Some(granted) = body["scopes"].as_array() {
        let granted: Vec<&str> = granted.iter().filter_map(Value::as_str).collect();
        let missing: Vec<&str> = SCOPES
            .iter()
            .copied()
            .filter(|s| !granted.contains(s))
            .collect();
        if !missing.is_empty() {
            bail!(
                "the token lacks scopes the integration needs: {}. Add them to the app (your app \
                 → Auth → Scopes), then run setup again to authorise it anew",
                missing.join(", ")
            );
        }
    }
    Ok(Tokens {
        refresh_token: text("refresh_token")?,
        access_token: text("access_token")?,
    })
}

/// An inbox of the account.
struct Inbox {
    id: String,
    name: String,
    kind: String,
}

/// Lists the inboxes and picks the help desk: the one given, the only one, or the user's choice.
async fn pick_help_desk(
    http: &reqwest::Client,
    api: &str,
    access_token: &str,
    wanted: Option<&str>,
    input: &mut Input,
) -> Result<String> {
    let url = format!("{api}/conversations/v3/conversations/inboxes");
    let response = http
        .get(&url)
        .bearer_auth(access_token)
        .send()
        .await
        .map_err(|error| {
            anyhow!(
                "could not list the inboxes at {url}: {}",
                error.without_url()
            )
        })?;
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body["message"].as_str().unwrap_or_default();
        if body["category"] == "MISSING_SCOPES" || status == reqwest::StatusCode::FORBIDDEN {
            bail!(
                "HubSpot refused to list the inboxes for a missing scope ({message}): the app \
                 needs {} (your app → Auth → Scopes); add them and run setup again",
                SCOPES.join(", ")
            );
        }
        bail!("HubSpot refused to list the inboxes ({status}: {message})");
    }
    let inboxes: Vec<Inbox> = body["results"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|i| i["archived"] != Value::Bool(true))
        .filter_map(|i| {
            Some(Inbox {
                id: match &i["id"] {
                    Value::String(s) => s.clone(),
                    Value::Number(n) => n.to_string(),
                    _ => return None,
                },
                name: i["name"].as_str().unwrap_or_default().to_owned(),
                kind: i["type"].as_str().unwrap_or_default().to_owned(),
            })
        })
        .collect();
    let describe = |list: &[&Inbox]| {
        list.iter()
            .map(|i| format!("{} ({}, {})", i.id, i.name, i.kind))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if let Some(wanted) = wanted {
        return match inboxes.iter().find(|i| i.id == wanted) {
            Some(inbox) => {
                if inbox.kind != "HELP_DESK" {
                    eprintln!(
                        "note: inbox {wanted} is a {} inbox, not a help desk",
                        inbox.kind
                    );
                }
                Ok(wanted.to_owned())
            }
            None => bail!(
                "--help-desk-id {wanted} is not an inbox of this account; its inboxes: {}",
                describe(&inboxes.iter().collect::<Vec<_>>())
            ),
        };
    }
    let help_desks: Vec<&Inbox> = inboxes.iter().filter(|i| i.kind == "HELP_DESK").collect();
    match help_desks.as_slice() {
        [] => bail!(
            "this HubSpot account has no help desk inbox (its inboxes: {}): create a help desk \
             in HubSpot, or pass --help-desk-id with an inbox id, and run setup again",
            describe(&inboxes.iter().collect::<Vec<_>>())
        ),
        [only] => {
            println!("help desk: {} ({})", only.id, only.name);
            Ok(only.id.clone())
        }
        several => {
            println!("this account has several help desks:");
            for (n, inbox) in several.iter().enumerate() {
                println!("  {}. {} ({})", n + 1, inbox.name, inbox.id);
            }
            loop {
                let Some(answer) = input
                    .ask(&format!(
                        "which one receives the handoffs? [1-{}]: ",
                        several.len()
                    ))
                    .await
                else {
                    bail!(
                        "several help desks ({}): pass --help-desk-id",
                        describe(several)
                    );
                };
                let chosen = answer
                    .parse::<usize>()
                    .ok()
                    .and_then(|n| n.checked_sub(1))
                    .and_then(|n| several.get(n))
                    .or_else(|| several.iter().find(|i| i.id == answer));
                match chosen {
                    Some(inbox) => {
                        println!("help desk: {} ({})", inbox.id, inbox.name);
                        return Ok(inbox.id.clone());
                    }
                    None => eprintln!("answer with a number from 1 to {}", several.len()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pasted_code_or_address_gives_the_code() {
        let state = "s1";
        let code = |pasted: &str| match parse_pasted(pasted, state) {
            Pasted::Code(code) => Some(code),
            _ => None,
        };
        assert_eq!(code("abc-123").as_deref(), Some("abc-123"));
        assert_eq!(
            code("http://localhost:3000/oauth-callback?code=xyz&state=s1").as_deref(),
            Some("xyz")
        );
        assert_eq!(code("code=xyz").as_deref(), Some("xyz"));
        assert!(matches!(
            parse_pasted("http://localhost:3000/cb?code=xyz&state=other", state),
            Pasted::OtherRun(_)
        ));
        assert!(matches!(
            parse_pasted("http://localhost:3000/cb?error=access_denied", state),
            Pasted::Refused(_)
        ));
        assert!(matches!(parse_pasted("two words", state), Pasted::Nothing));
    }

    #[test]
    fn the_authorise_url_carries_every_scope() {
        let url = authorize_url(HUBSPOT_AUTHORIZE_URL, "cid", DEFAULT_REDIRECT_URI, "st").unwrap();
        let parsed = url::Url::parse(&url).unwrap();
        let scope = parsed
            .query_pairs()
            .find(|(k, _)| k == "scope")
            .map(|(_, v)| v.into_owned())
            .unwrap();
        assert_eq!(scope.split(' ').collect::<Vec<_>>(), SCOPES);
    }

    #[test]
    fn only_loopback_redirects_are_listened_on() {
        assert!(loopback_address("http://localhost:3000/cb").is_some());
        assert!(loopback_address("http://127.0.0.1:9/cb").is_some());
        assert!(loopback_address("https://example.com/cb").is_none());
    }
}
