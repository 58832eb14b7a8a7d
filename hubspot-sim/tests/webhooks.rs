//! Webhooks out: what each operator action delivers, signatures checked with an independent
//! computation, retries and the delivery faults.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Request, State};
use base64::Engine;
use common::*;
use hmac::{Hmac, Mac};
use hubspot_sim::{DeliveryKind, Fault, NewContact, SimConfig, Simulator, UploadedFile};
use serde_json::Value;
use sha2::{Digest, Sha256};

#[derive(Clone, Debug)]
struct Received {
    path_and_query: String,
    headers: axum::http::HeaderMap,
    body: String,
}

#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Received>>>,
    fail_first: Arc<AtomicUsize>,
    stall_first: Arc<AtomicUsize>,
}

impl Receiver {
    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}

async fn receive(State(r): State<Receiver>, req: Request) -> axum::http::StatusCode {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    r.got.lock().unwrap().push(Received {
        path_and_query: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers: parts.headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    });
    if r.stall_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    if r.fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
    }
    axum::http::StatusCode::OK
}

/// A tiny webhook receiver on loopback; returns its base URL.
async fn receiver(r: Receiver) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(receive).with_state(r);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// A sim with a channel (webhook → receiver), an account, a contact, an agent and one thread.
async fn scene(config: SimConfig, r: &Receiver) -> (Simulator, String, String, String) {
    let base = receiver(r.clone()).await;
    let sim = Simulator::start(config).await.unwrap();
    sim.set_app_webhook_url(Some(format!("{base}/app?source=hubspot")));
    sim.add_contact(NewContact {
        email: Some("ada@example.com".into()),
        ..Default::default()
    });
    let agent = sim.add_agent("Grace", "grace@example.com", None);
    let t = token(&sim).await;
    let (channel, account) =
        channel_and_account(&sim, &t, Some(&format!("{base}/channel?cb=a%3Ab%20c"))).await;
    let (s, m) = publish(
        &sim,
        &t,
        &channel,
        &incoming(&account, "itid-1", "help", "ada@example.com"),
    )
    .await;
    assert_eq!(s, 201);
    let thread = m["conversationsThreadId"].as_str().unwrap().to_string();
    (sim, thread, agent, base)
}

/// Independent v3 check: HMAC-SHA256 over method + URI (with %3A decoded) + body + timestamp.
fn verify_v3(secret: &str, url: &str, got: &Received) {
    let ts = got.headers["x-hubspot-request-timestamp"].to_str().unwrap();
    let uri = url.replace("%3A", ":");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("POST{uri}{}{ts}", got.body).as_bytes());
    let expected = base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
    assert_eq!(
        got.headers["x-hubspot-signature-v3"].to_str().unwrap(),
        expected
    );
    let age = chrono::Utc::now().timestamp_millis() - ts.parse::<i64>().unwrap();
    assert!((0..300_000).contains(&age));
}

fn verify_v1(secret: &str, got: &Received) {
    let expected = hex::encode(Sha256::digest(format!("{secret}{}", got.body).as_bytes()));
    assert_eq!(
        got.headers["x-hubspot-signature"].to_str().unwrap(),
        expected
    );
    assert_eq!(got.headers["x-hubspot-signature-version"], "v1");
}

#[tokio::test]
async fn agent_reply_delivers_signed_channel_and_app_webhooks() {
    let r = Receiver::default();
    let (sim, thread, agent, base) = scene(config(), &r).await;
    let png = vec![0x89, b'P', b'N', b'G', 1, 2, 3];
    let outcomes = sim
        .agent_reply(
            &thread,
            &agent,
            "Hello, I am here",
            vec![UploadedFile {
                name: "shot.png".into(),
                content_type: "image/png".into(),
                bytes: png.clone(),
            }],
        )
        .await
        .unwrap();
    assert_eq!(outcomes.len(), 2);
    assert_eq!(outcomes[0].kind, DeliveryKind::ChannelWebhook);
    assert_eq!(outcomes[1].kind, DeliveryKind::AppWebhook);
    assert!(outcomes.iter().all(|o| o.status == Some(200)));

    let got = r.got();
    let secret = sim.config().client_secret;
    let channel_url = format!("{base}/channel?cb=a%3Ab%20c");
    assert_eq!(got[0].path_and_query, "/channel?cb=a%3Ab%20c");
    assert_eq!(got[0].headers["content-type"], "application/json");
    verify_v3(&secret, &channel_url, &got[0]);
    assert!(got[0].headers.get("x-hubspot-signature").is_none());
    let v: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(v["type"], "OUTGOING_CHANNEL_MESSAGE_CREATED");
    assert_eq!(v["portalId"], "62515");
    assert_eq!(v["channelIntegrationThreadIds"][0], "itid-1");
    assert!(v["eventTimestamp"].is_i64());
    let m = &v["message"];
    assert_eq!(m["direction"], "OUTGOING");
    assert_eq!(m["text"], "Hello, I am here");
    assert_eq!(m["conversationsThreadId"], thread.as_str());
    assert_eq!(m["senders"][0]["actorId"], agent.as_str());
    assert_eq!(m["attachments"][0]["type"], "FILE");
    let url = m["attachments"][0]["url"].as_str().unwrap();
    assert_eq!(
        http()
            .get(url)
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap()
            .to_vec(),
        png
    );
    assert_eq!(
        sim.file_bytes(m["attachments"][0]["fileId"].as_str().unwrap())
            .unwrap(),
        png
    );

    verify_v3(&secret, &format!("{base}/app?source=hubspot"), &got[1]);
    verify_v1(&secret, &got[1]);
    let events: Value = serde_json::from_str(&got[1].body).unwrap();
    let e = &events[0];
    assert_eq!(e["subscriptionType"], "conversation.newMessage");
    assert_eq!(e["objectId"].to_string(), thread);
    assert_eq!(e["messageId"], m["id"]);
    assert_eq!(
        (
            e["portalId"].as_u64(),
            e["appId"].as_u64(),
            e["attemptNumber"].as_u64()
        ),
        (Some(62515), Some(1234567), Some(0))
    );
    assert!(
        e["eventId"].is_u64()
            && e["subscriptionId"].is_u64()
            && e["occurredAt"].is_i64()
            && e["changeSource"].is_string()
    );
    assert_eq!(sim.thread_messages(&thread).len(), 2);
}

#[tokio::test]
async fn assign_unassign_and_close_send_property_changes() {
    let r = Receiver::default();
    let (sim, thread, agent, _) = scene(config(), &r).await;
    let events = |i: usize| -> Value { serde_json::from_str(&r.got()[i].body).unwrap() };
    let o = sim.assign(&thread, &agent).await.unwrap();
    assert_eq!((o.len(), o[0].kind), (1, DeliveryKind::AppWebhook));
    let e = events(0);
    assert_eq!(
        (
            e[0]["subscriptionType"].as_str(),
            e[0]["propertyName"].as_str()
        ),
        (Some("conversation.propertyChange"), Some("assignedTo"))
    );
    assert_eq!(e[0]["propertyValue"], agent.as_str());
    assert_eq!(sim.threads()[0]["assignedTo"], agent.as_str());
    sim.unassign(&thread).await.unwrap();
    assert_eq!(events(1)[0]["propertyValue"], "");
    sim.close_thread(&thread).await.unwrap();
    let e = events(2);
    assert_eq!(
        (
            e[0]["propertyName"].as_str(),
            e[0]["propertyValue"].as_str()
        ),
        (Some("status"), Some("CLOSED"))
    );
    assert_eq!(sim.threads()[0]["status"], "CLOSED");
    assert!(sim.assign("999", &agent).await.is_err());
    assert!(sim.assign(&thread, "A-404").await.is_err());
}

#[tokio::test]
async fn failed_deliveries_are_retried_until_answered() {
    let r = Receiver {
        fail_first: Arc::new(AtomicUsize::new(1)),
        ..Default::default()
    };
    let (sim, thread, agent, _) = scene(config(), &r).await;
    let o = sim.assign(&thread, &agent).await.unwrap();
    assert_eq!(o[0].status, Some(500));
    eventually(|| {
        sim.deliveries()
            .iter()
            .any(|d| d.attempt == 1 && d.status == Some(200))
    })
    .await;
    let got = r.got();
    assert_eq!(got.len(), 2);
    let retried: Value = serde_json::from_str(&got[1].body).unwrap();
    assert_eq!(retried[0]["attemptNumber"], 1);
    let first: Value = serde_json::from_str(&got[0].body).unwrap();
    assert_eq!(first[0]["eventId"], retried[0]["eventId"]);
}

#[tokio::test]
async fn a_receiver_that_does_not_answer_in_time_gets_a_retry() {
    let r = Receiver {
        stall_first: Arc::new(AtomicUsize::new(1)),
        ..Default::default()
    };
    let cfg = SimConfig {
        webhook_timeout: Duration::from_millis(200),
        ..config()
    };
    let (sim, thread, agent, _) = scene(cfg, &r).await;
    let o = sim.close_thread(&thread).await.unwrap();
    assert_eq!(o[0].status, None);
    eventually(|| {
        sim.deliveries()
            .iter()
            .any(|d| d.attempt >= 1 && d.status == Some(200))
    })
    .await;
    drop(agent);
}

#[tokio::test]
async fn a_refused_connection_is_retried_and_recorded() {
    let r = Receiver::default();
    let (sim, thread, agent, _) = scene(config(), &r).await;
    sim.set_app_webhook_url(Some("http://127.0.0.1:9/unreachable".into()));
    let o = sim.assign(&thread, &agent).await.unwrap();
    assert_eq!(o[0].status, None);
    let tries = 1 + sim.config().webhook_retry_delays.len();
    eventually(|| sim.deliveries().len() == tries).await;
    assert!(sim.deliveries().iter().all(|d| d.status.is_none()));
}

#[tokio::test]
async fn duplicate_and_reordered_deliveries() {
    let r = Receiver::default();
    let (sim, thread, agent, _) = scene(config(), &r).await;
    sim.inject(Fault::DuplicateDeliveries);
    let o = sim.assign(&thread, &agent).await.unwrap();
    assert_eq!(o.len(), 2);
    let got = r.got();
    assert_eq!(got[0].body, got[1].body);
    sim.clear_faults();
    sim.inject(Fault::ReorderDeliveries);
    let o = sim
        .agent_reply(&thread, &agent, "hi", vec![])
        .await
        .unwrap();
    assert_eq!(
        o.iter().map(|o| o.kind).collect::<Vec<_>>(),
        [DeliveryKind::AppWebhook, DeliveryKind::ChannelWebhook]
    );
}

#[test]
fn v3_uri_decodes_exactly_the_listed_escapes() {
    assert_eq!(
        hubspot_sim::v3_uri("https://x.test/a%2Fb?u=%3A%40%21%24%27%28%29%2A%2C%3B%20%26%3D%3a"),
        "https://x.test/a/b?u=:@!$'()*,;%20%26%3D:"
    );
}

#[tokio::test]
async fn operator_endpoints_drive_the_same_actions() {
    let r = Receiver::default();
    let (sim, thread, _, _) = scene(config(), &r).await;
    let base = sim.base_url();
    let post = |path: String, body: Value| {
        let url = format!("{base}{path}");
        async move {
            let resp = http().post(url).json(&body).send().await.unwrap();
            let status = resp.status().as_u16();
            (status, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, v) = post(
        "/_sim/agents".into(),
        serde_json::json!({"name": "Lin", "email": "lin@example.com"}),
    )
    .await;
    assert_eq!(s, 201);
    let agent = v["id"].as_str().unwrap().to_string();
    let (s, v) = post(
        format!("/_sim/threads/{thread}/assign"),
        serde_json::json!({"actorId": agent}),
    )
    .await;
    assert_eq!((s, v[0]["status"].as_u64()), (200, Some(200)));
    let (s, v) = post(
        format!("/_sim/threads/{thread}/reply"),
        serde_json::json!({"actorId": agent, "text": "hey", "files": [{"name": "a.txt", "contentType": "text/plain", "base64": "aGk="}]}),
    )
    .await;
    assert_eq!((s, v.as_array().unwrap().len()), (200, 2));
    let (s, _) = post(format!("/_sim/threads/{thread}/close"), Value::Null).await;
    assert_eq!(s, 200);
    let (s, _) = post("/_sim/threads/1/close".into(), Value::Null).await;
    assert_eq!(s, 404);
    let (s, v) = post(
        "/_sim/auth-codes".into(),
        serde_json::json!({"redirectUri": "http://127.0.0.1:1/cb"}),
    )
    .await;
    assert_eq!(s, 201);
    assert!(v["code"].is_string());
    let t = token(&sim).await;
    let (s, _) = post(
        "/_sim/faults".into(),
        serde_json::json!({"kind": "failNext", "status": 500}),
    )
    .await;
    assert_eq!(s, 204);
    let resp = http()
        .get(format!("{base}/conversations/v3/conversations/inboxes"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 500);
    let requests: Value = http()
        .get(format!("{base}/_sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        requests
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["status"] == 500)
    );
    let state: Value = http()
        .get(format!("{base}/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["threads"][0]["status"], "CLOSED");
    let deliveries: Value = http()
        .get(format!("{base}/_sim/deliveries"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(deliveries.as_array().unwrap().len(), 4);
}
