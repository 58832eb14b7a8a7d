//! Helpers for the tests that run the `hitl-host` binary as a process: the component (built from
//! the current source and compiled once into the shared cache), free loopback ports, a running
//! process whose output lines can be waited for, config files for a simulator, and the local API.

#![allow(dead_code, reason = "each test binary uses a different subset")]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use hitl_host::testkit::configuration_for;
use hitl_host::{BotStore, Runtime, RuntimeConfig, build_component};
use hubspot_sim::Simulator;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_hitl-host");

/// How long a process may take to print what a test waits for: a safety net against a hang (the
/// first run compiles the component), never an assertion about speed.
pub const PATIENCE: Duration = Duration::from_secs(600);

/// The component built from the current source, compiled once into the on-disk cache the binary
/// reads (so parallel tests do not each compile it).
pub fn component() -> PathBuf {
    static COMPONENT: OnceLock<PathBuf> = OnceLock::new();
    COMPONENT
        .get_or_init(|| {
            std::thread::spawn(|| {
                let wasm = build_component().expect("building the component");
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the warm-up");
                runtime
                    .block_on(Runtime::load(
                        &wasm,
                        BotStore::in_memory().expect("a store"),
                        RuntimeConfig::default(),
                    ))
                    .expect("compiling the component");
                wasm
            })
            .join()
            .expect("the warm-up thread")
        })
        .clone()
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A simulator's id field as text (HubSpot ids come as strings or numbers).
pub fn id_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Writes a config file for `sim`'s account (the simulator's base URL included) and returns it.
pub fn write_config(dir: &Path, name: &str, sim: &Simulator, integration_id: &str) -> PathBuf {
    let path = dir.join(name);
    let file = json!({
        "integrationId": integration_id,
        "hubspotBaseUrl": sim.base_url(),
        "configuration": configuration_for(&sim.config()),
    });
    std::fs::write(&path, serde_json::to_string_pretty(&file).unwrap()).unwrap();
    path
}

/// A running `hitl-host` process: its output lines can be waited for; killed when dropped.
pub struct Proc {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    /// Every stdout line read so far.
    pub stdout: Vec<String>,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    /// Starts `hitl-host ARGS` with piped standard streams.
    pub fn start(args: &[&str]) -> Proc {
        let mut child = Command::new(BIN)
            .args(args)
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("starting hitl-host");
        let (tx, lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout");
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = stderr.clone();
        let err = child.stderr.take().expect("stderr");
        tokio::spawn(async move {
            let mut reader = BufReader::new(err).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let mut text = sink.lock().unwrap();
                text.push_str(&line);
                text.push('\n');
            }
        });
        let stdin = child.stdin.take();
        Proc {
            child,
            stdin,
            lines,
            stdout: Vec::new(),
            stderr,
        }
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Everything so far, for failure messages.
    pub fn output(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            self.stdout.join("\n"),
            self.stderr()
        )
    }

    /// Waits for the first stdout line (from now on, or already read) that `accept` takes.
    pub async fn wait_line(&mut self, accept: impl Fn(&str) -> bool) -> String {
        if let Some(line) = self.stdout.iter().find(|l| accept(l)) {
            return line.clone();
        }
        let outcome = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = self.lines.recv().await {
                self.stdout.push(line.clone());
                if accept(&line) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match outcome {
            Ok(Some(line)) => line,
            _ => panic!("the expected line never came\n{}", self.output()),
        }
    }

    /// Writes a line to the process's standard input.
    pub async fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin is open");
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .expect("writing to stdin");
        stdin.flush().await.expect("flushing stdin");
    }

    /// Waits for the process to end and returns its exit code (reading the rest of stdout).
    pub async fn finish(&mut self) -> i32 {
        self.stdin.take();
        let status = tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .expect("the process ended")
            .expect("waiting for the process");
        while let Ok(Some(line)) =
            tokio::time::timeout(Duration::from_secs(5), self.lines.recv()).await
        {
            self.stdout.push(line);
        }
        status.code().unwrap_or(-1)
    }

    /// Kills the process at once (SIGKILL: no clean shutdown) and waits for it to go.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("killing hitl-host");
    }
}

/// The local API of a `serve` process at `base` (`http://127.0.0.1:PORT`).
pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// The API at `base`.
    pub fn new(base: String) -> Api {
        Api {
            base,
            http: reqwest::Client::new(),
        }
    }

    /// POSTs JSON and returns the status and the JSON answer.
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .expect("calling the local API");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GETs JSON.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("calling the local API");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }
}

/// The texts of a conversation's messages as the API lists them (text parts of blocs included).
pub fn texts(messages: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for message in messages.as_array().cloned().unwrap_or_default() {
        let payload = &message["payload"];
        if let Some(text) = payload["text"].as_str() {
            out.push(text.to_owned());
        }
        for item in payload["items"].as_array().cloned().unwrap_or_default() {
            if let Some(text) = item["text"].as_str() {
                out.push(text.to_owned());
            }
        }
    }
    out
}

/// A running `hitl-host serve`.
pub struct Serving {
    /// The process.
    pub proc: Proc,
    /// Its local API.
    pub api: Api,
    /// The webhook URL it registered.
    pub webhook_url: String,
}

/// Starts `serve` with `config` and `state` on fixed ports (`base_url` as --hubspot-base-url when
/// given), without waiting for it.
pub fn start_serve(config: &Path, state: &Path, base_url: Option<&str>, ports: (u16, u16)) -> Proc {
    let component = component();
    let listen = format!("127.0.0.1:{}", ports.0);
    let api_listen = format!("127.0.0.1:{}", ports.1);
    let mut args = vec![
        "serve",
        "--config",
        config.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--listen",
        &listen,
        "--api-listen",
        &api_listen,
        "--component",
        component.to_str().unwrap(),
        "--no-chat",
    ];
    if let Some(url) = base_url {
        args.extend(["--hubspot-base-url", url]);
    }
    Proc::start(&args)
}

/// Starts `serve` (see [`start_serve`]), waits until it is ready, and points the simulator's app
/// webhooks at it.
pub async fn serve(
    config: &Path,
    state: &Path,
    sim: &Simulator,
    base_url: Option<&str>,
    ports: (u16, u16),
) -> Serving {
    let api_listen = format!("127.0.0.1:{}", ports.1);
    let mut proc = start_serve(config, state, base_url, ports);
    let webhooks = proc.wait_line(|l| l.starts_with("webhooks: ")).await;
    proc.wait_line(|l| l == "ready").await;
    let webhook_url = webhooks
        .trim_start_matches("webhooks: ")
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    sim.set_app_webhook_url(Some(webhook_url.clone()));
    Serving {
        proc,
        api: Api::new(format!("http://{api_listen}")),
        webhook_url,
    }
}

/// Through a running `serve`: makes Ada's user, starts a handoff, sends a message, has an agent
/// take it and reply; checks each step and returns (conversation id, thread id, agent actor id).
pub async fn handoff_through_api(serving: &Serving, sim: &Simulator) -> (String, String, String) {
    let agent = sim.add_agent("Grace Hopper", "grace@helpdesk.example", None);
    sim.add_contact(hubspot_sim::NewContact {
        email: Some("ada@example.com".into()),
        firstname: Some("Ada".into()),
        lastname: Some("Lovelace".into()),
        ..Default::default()
    });
    let api = &serving.api;
    let (status, user) = api
        .post("/api/users", json!({ "email": "ada@example.com" }))
        .await;
    assert_eq!(status, 201, "{user}");
    let user_id = user["userId"].as_str().expect("a user id").to_owned();
    let (status, started) = api
        .post(
            "/api/handoffs",
            json!({
                "userId": user_id,
                "title": "Parcel missing",
                "messageHistory": [
                    { "author": "user", "text": "My parcel never arrived" },
                    { "author": "bot", "payload": { "type": "text", "text": "Let me find a human" } }
                ]
            }),
        )
        .await;
    assert_eq!(status, 201, "{started}");
    let conversation = started["conversationId"].as_str().unwrap().to_owned();
    let thread = started["threadId"]
        .as_str()
        .expect("a thread id")
        .to_owned();
    let opening = sim.thread_messages(&thread)[0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(opening.contains("My parcel never arrived"), "{opening}");

    let (status, sent) = api
        .post(
            &format!("/api/handoffs/{conversation}/messages"),
            json!({ "text": "Are you there?" }),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    assert!(
        sim.thread_messages(&thread)
            .iter()
            .any(|m| m["text"] == "Are you there?"),
        "the user's message reached the thread"
    );

    let outcomes = sim.assign(&thread, &agent).await.unwrap();
    assert!(
        outcomes.iter().all(|o| o.status == Some(200)),
        "{outcomes:?}"
    );
    let outcomes = sim
        .agent_reply(&thread, &agent, "Hello Ada, looking into it", vec![])
        .await
        .unwrap();
    assert!(
        outcomes.iter().all(|o| o.status == Some(200)),
        "{outcomes:?}"
    );
    let (status, messages) = api
        .get(&format!("/api/conversations/{conversation}/messages"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        texts(&messages),
        ["Are you there?", "Hello Ada, looking into it"],
        "{messages}"
    );
    assert_eq!(messages[1]["from"], "agent");
    assert_eq!(messages[1]["userName"], "Grace Hopper");
    let (_, events) = api
        .get(&format!("/api/conversations/{conversation}/events"))
        .await;
    assert_eq!(events[0]["type"], "hitlAssigned", "{events}");
    (conversation, thread, agent)
}
