//! The webhook endpoint: routing by installation, the public URL plus query as the request URL, the
//! component's answer passed through, and failures mapped to 404 / 413 / 500.

mod common;

use std::net::SocketAddr;

use hitl_host::{BotStore, Runtime, RuntimeConfig, WebhookServer};

async fn server(dir: &std::path::Path, webhook_body: &str) -> WebhookServer {
    let wasm = common::test_component(dir, "webhook", &[("webhook", webhook_body)]);
    let runtime = Runtime::load(
        &wasm,
        BotStore::in_memory().unwrap(),
        RuntimeConfig {
            cache_dir: Some(dir.join("cache")),
            ..RuntimeConfig::default()
        },
    )
    .await
    .unwrap();
    WebhookServer::start(runtime, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap()
}

#[tokio::test]
async fn forwards_to_the_installation_with_its_public_url_and_the_query() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), common::ECHO_URL).await;
    let public = "https://bot.example.com/hooks/inst-1";
    server.add_installation(common::context("inst-1", public));

    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}?portalId=7&x=a%20b", server.url_for("inst-1")))
        .header("content-type", "application/json")
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        format!("{public}?portalId=7&x=a%20b")
    );

    let response = client
        .post(server.url_for("inst-1"))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(response.text().await.unwrap(), public);
}

#[tokio::test]
async fn unknown_installations_answer_404() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), common::ECHO_URL).await;
    server.add_installation(common::context("inst-1", "http://x/webhooks/inst-1"));
    let client = reqwest::Client::new();
    let response = client
        .post(server.url_for("inst-2"))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);

    server.remove_installation("inst-1");
    let response = client
        .post(server.url_for("inst-1"))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
}

#[tokio::test]
async fn oversized_bodies_answer_413() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), common::ECHO_URL).await;
    server.add_installation(common::context("inst-1", "http://x/webhooks/inst-1"));
    let response = reqwest::Client::new()
        .post(server.url_for("inst-1"))
        .body(vec![b'x'; hitl_host::webhook_server::MAX_WEBHOOK_BODY + 1])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
}

#[tokio::test]
async fn a_trap_answers_500_with_a_generic_body() {
    let dir = tempfile::tempdir().unwrap();
    let server = server(dir.path(), "unreachable").await;
    server.add_installation(common::context("inst-1", "http://x/webhooks/inst-1"));
    let response = reqwest::Client::new()
        .post(server.url_for("inst-1"))
        .body("[]")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    assert_eq!(response.text().await.unwrap(), "internal error\n");
}
