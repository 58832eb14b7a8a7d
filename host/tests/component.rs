//! The real component, built from the current source, under this host.

mod common;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use hitl_host::types::HitlError;
use hitl_host::{BotStore, Runtime, RuntimeConfig, build_component};

async fn runtime(config: RuntimeConfig) -> Runtime {
    let wasm = tokio::task::spawn_blocking(build_component)
        .await
        .unwrap()
        .unwrap();
    Runtime::load(&wasm, BotStore::in_memory().unwrap(), config)
        .await
        .unwrap()
}

#[tokio::test]
async fn register_with_an_empty_configuration_names_a_missing_field() {
    let runtime = runtime(RuntimeConfig::default()).await;
    let ctx = common::context("inst-1", "http://127.0.0.1:1/webhooks/inst-1");
    match runtime.register(&ctx).await.unwrap() {
        Err(HitlError::InvalidConfiguration(text)) => {
            assert!(text.contains("developerApiKey"), "{text}")
        }
        other => panic!("expected invalid-configuration, got {other:?}"),
    }
}

/// What a stand-in for HubSpot received: method, path, query, Host header.
type Seen = Arc<Mutex<Vec<(String, String, Option<String>, String)>>>;

async fn record(
    State(seen): State<Seen>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> (StatusCode, &'static str) {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    seen.lock().unwrap().push((
        method.to_string(),
        uri.path().to_owned(),
        uri.query().map(str::to_owned),
        host,
    ));
    (
        StatusCode::BAD_REQUEST,
        r#"{"status":"BAD_REFRESH_TOKEN","message":"missing or unknown refresh token"}"#,
    )
}

#[tokio::test]
async fn hubspot_requests_go_to_the_configured_base_url() {
    let seen: Seen = Arc::default();
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new()
        .fallback(record)
        .with_state(seen.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let runtime = runtime(RuntimeConfig {
        hubspot_base_url: Some(format!("http://{addr}")),
        ..RuntimeConfig::default()
    })
    .await;
    let mut ctx = common::context("inst-1", "http://127.0.0.1:1/webhooks/inst-1");
    ctx.configuration = serde_json::json!({
        "developerApiKey": "dev-key",
        "appId": "1234567",
        "clientId": "client-id",
        "clientSecret": "client-secret",
        "refreshToken": "refresh-token",
        "helpDeskId": "1431487401",
    })
    .to_string();

    // HubSpot refused the token, so register fails, but as the component's own error, not a trap.
    let outcome = runtime.register(&ctx).await.unwrap();
    assert!(outcome.is_err(), "{outcome:?}");

    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "the stand-in saw no request");
    let (method, path, _, host) = &seen[0];
    assert_eq!(method, "POST");
    assert_eq!(path, "/oauth/v1/token");
    assert_eq!(host, &addr.to_string());
}

#[test]
fn the_component_exports_the_handlers_interface_and_imports_the_world() {
    let wasm = build_component().unwrap();
    let engine = wasmtime::Engine::default();
    let component = wasmtime::component::Component::from_file(&engine, &wasm).unwrap();
    let ty = component.component_type();
    let exports: Vec<String> = ty
        .exports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    assert_eq!(exports, ["hitl:integration/handlers@0.1.0"]);
    let imports: Vec<String> = ty
        .imports(&engine)
        .map(|(name, _)| name.to_owned())
        .collect();
    for needed in [
        "hitl:integration/host@0.1.0",
        "wasi:http/outgoing-handler@0.2.12",
        "wasi:clocks/wall-clock@0.2.12",
        "wasi:random/random@0.2.12",
    ] {
        assert!(
            imports.iter().any(|i| i == needed),
            "imports {needed}: {imports:?}"
        );
    }
}
