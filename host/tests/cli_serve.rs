//! `hitl-host serve` as a process against a simulator: a handoff driven through the local HTTP API
//! survives the process being killed and restarted on the same state file.

mod cli_support;

use cli_support::{free_port, handoff_through_api, serve, texts, write_config};
use hubspot_sim::{SimConfig, Simulator};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handoff_survives_a_restart_of_serve() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "hitl.json", &sim, "hubspot");
    let state = dir.path().join("state.sqlite");
    let ports = (free_port(), free_port());
    let base = sim.base_url();

    let mut first = serve(&config, &state, &sim, Some(&base), ports).await;
    assert!(
        first.proc.stdout.iter().any(|l| l.contains("(made)")),
        "{}",
        first.proc.output()
    );
    let (conversation, thread, agent) = handoff_through_api(&first, &sim).await;

    // Killed mid-handoff: no clean shutdown at all.
    first.proc.kill().await;

    let mut second = serve(&config, &state, &sim, Some(&base), ports).await;
    assert_eq!(second.webhook_url, first.webhook_url);
    assert!(
        second.proc.stdout.iter().any(|l| l.contains("(found)")),
        "the restart finds the channel instead of making one\n{}",
        second.proc.output()
    );
    assert!(second.proc.stdout.iter().any(|l| l == "live handoffs: 1"));
    assert_eq!(sim.channels().len(), 1, "one channel only");

    // The agent's next reply reaches the user through the restarted process.
    let outcomes = sim
        .agent_reply(&thread, &agent, "Still here after the restart", vec![])
        .await
        .unwrap();
    assert!(
        outcomes.iter().all(|o| o.status == Some(200)),
        "{outcomes:?}"
    );
    let api = &second.api;
    let (status, messages) = api
        .get(&format!("/api/conversations/{conversation}/messages"))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        texts(&messages),
        [
            "Are you there?",
            "Hello Ada, looking into it",
            "Still here after the restart"
        ],
        "{messages}"
    );
    second
        .proc
        .wait_line(|l| l.contains("agent Grace Hopper: Still here after the restart"))
        .await;

    // The user can still write (the handoff's user comes from the persisted state), then stop.
    let (status, sent) = api
        .post(
            &format!("/api/handoffs/{conversation}/messages"),
            json!({ "text": "Great, thanks" }),
        )
        .await;
    assert_eq!(status, 201, "{sent}");
    assert!(
        sim.thread_messages(&thread)
            .iter()
            .any(|m| m["text"] == "Great, thanks")
    );
    let (status, _) = api
        .post(
            &format!("/api/handoffs/{conversation}/stop"),
            json!({ "reason": "solved" }),
        )
        .await;
    assert_eq!(status, 200);
    let closed = sim
        .threads()
        .into_iter()
        .find(|t| cli_support::id_text(&t["id"]) == thread)
        .unwrap();
    assert_eq!(closed["status"], "CLOSED");
    second.proc.kill().await;
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_errors_as_json() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "hitl.json", &sim, "hubspot");
    let state = dir.path().join("state.sqlite");
    let base = sim.base_url();
    let mut serving = serve(
        &config,
        &state,
        &sim,
        Some(&base),
        (free_port(), free_port()),
    )
    .await;
    let api = &serving.api;

    let (status, body) = api.post("/api/users", json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("email"));

    let (status, body) = api
        .post("/api/users", json!({ "email": "nobody@example.com" }))
        .await;
    assert_eq!(status, 404, "no such contact: {body}");
    assert_eq!(body["error"]["kind"], "not-found");

    let (status, body) = api.post("/api/handoffs", json!({ "title": "x" })).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("userId")
    );

    let (status, body) = api.get("/api/conversations/conv-404/messages").await;
    assert_eq!(status, 404, "{body}");

    let (status, body) = api.get("/api/health").await;
    assert_eq!(status, 200);
    assert_eq!(body["webhookUrl"], serving.webhook_url.as_str());
    serving.proc.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_waits_for_hubspot_to_come_up() {
    // The configuration of an account whose HubSpot is down when serve starts.
    let hubspot_port = free_port();
    let hubspot_addr = std::net::SocketAddr::from(([127, 0, 0, 1], hubspot_port));
    let first = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "hitl.json", &first, "hubspot");
    first.shutdown().await;
    let state = dir.path().join("state.sqlite");
    let base = format!("http://{hubspot_addr}");
    let mut proc =
        cli_support::start_serve(&config, &state, Some(&base), (free_port(), free_port()));
    proc.wait_line(|l| l.contains("HubSpot is not available") && l.contains("retrying"))
        .await;

    // HubSpot comes up: serve registers by itself and gets ready.
    let sim = Simulator::start_on(SimConfig::default(), hubspot_addr)
        .await
        .unwrap();
    proc.wait_line(|l| l == "ready").await;
    assert_eq!(sim.channels().len(), 1, "{}", proc.output());
    proc.kill().await;
}
