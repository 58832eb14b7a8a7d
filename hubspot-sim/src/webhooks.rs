//! Webhooks out: HubSpot's signatures (v3, and v1 on app webhooks), delivery with a timeout,
//! retries on any failure, and the duplicate / reorder faults.

use std::sync::Arc;

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::state::{Shared, now_ms};

/// Which webhook a delivery is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryKind {
    /// The custom channel's own webhook (one JSON object, to the channel's `webhookUrl`).
    ChannelWebhook,
    /// The app's subscription webhook (a JSON array of events, to the app's target URL).
    AppWebhook,
}

/// How the first attempt of a delivery went.
#[derive(Clone, Debug)]
pub struct DeliveryOutcome {
    /// The URL POSTed to.
    pub url: String,
    /// Which webhook.
    pub kind: DeliveryKind,
    /// The receiver's status; None on a timeout or a failed connection.
    pub status: Option<u16>,
    /// The receiver's answer body (or the transport error).
    pub body: String,
}

/// One POST attempt the simulator made.
#[derive(Clone, Debug)]
pub struct DeliveryRecord {
    /// The URL POSTed to.
    pub url: String,
    /// Which webhook.
    pub kind: DeliveryKind,
    /// 0 for the first attempt, then 1, 2, ... (the events' `attemptNumber`).
    pub attempt: u32,
    /// The body sent.
    pub body: String,
    /// The receiver's status; None on a timeout or a failed connection.
    pub status: Option<u16>,
}

/// What a delivery carries.
#[derive(Clone, Debug)]
pub enum Payload {
    /// A fixed JSON body (the channel webhook).
    Object(Value),
    /// App events: `attemptNumber` is set per attempt.
    Events(Vec<Value>),
}

/// One webhook delivery (retried until it succeeds or the retry delays run out).
#[derive(Clone, Debug)]
pub struct Delivery {
    /// Target URL.
    pub url: String,
    /// Which webhook.
    pub kind: DeliveryKind,
    /// The content.
    pub payload: Payload,
}

impl Delivery {
    fn body_for(&self, attempt: u32) -> String {
        match &self.payload {
            Payload::Object(v) => v.to_string(),
            Payload::Events(events) => {
                let events: Vec<Value> = events
                    .iter()
                    .map(|e| {
                        let mut e = e.clone();
                        e["attemptNumber"] = json!(attempt);
                        e
                    })
                    .collect();
                Value::Array(events).to_string()
            }
        }
    }
}

/// The URI as HubSpot signs it: exactly `%3A %2F %3F %40 %21 %24 %27 %28 %29 %2A %2C %3B` decoded.
pub fn v3_uri(url: &str) -> String {
    const DECODE: &[(&str, char)] = &[
        ("3A", ':'),
        ("2F", '/'),
        ("3F", '?'),
        ("40", '@'),
        ("21", '!'),
        ("24", '$'),
        ("27", '\''),
        ("28", '('),
        ("29", ')'),
        ("2A", '*'),
        ("2C", ','),
        ("3B", ';'),
    ];
    let mut out = String::with_capacity(url.len());
    let mut rest = url;
    while let Some(pos) = rest.find('%') {
        out.push_str(&rest[..pos]);
        let code = rest.get(pos + 1..pos + 3).map(str::to_ascii_uppercase);
        match code.and_then(|c| DECODE.iter().find(|(k, _)| *k == c)) {
            Some((_, ch)) => {
                out.push(*ch);
                rest = &rest[pos + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[pos + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// `X-HubSpot-Signature-v3`: base64(HMAC-SHA256(secret, method + uri + body + timestamp)).
pub fn sign_v3(secret: &str, method: &str, url: &str, body: &str, timestamp_ms: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{method}{}{body}{timestamp_ms}", v3_uri(url)).as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// `X-HubSpot-Signature` v1: hex(SHA-256(secret + body)).
pub fn sign_v1(secret: &str, body: &str) -> String {
    hex::encode(Sha256::digest(format!("{secret}{body}").as_bytes()))
}

/// An app subscription event (`attemptNumber` is filled in per attempt).
pub fn app_event(
    shared: &Shared,
    subscription_type: &str,
    thread_id: u64,
    property: Option<(&str, &str)>,
    change_source: &str,
) -> Value {
    let config = shared.config();
    let subscription_id = match subscription_type {
        "conversation.creation" => 2_401_001,
        "conversation.deletion" => 2_401_002,
        "conversation.privacyDeletion" => 2_401_003,
        "conversation.propertyChange" => 2_401_004,
        _ => 2_401_005,
    };
    let mut e = json!({
        "eventId": rand::random::<u32>() as u64,
        "subscriptionId": subscription_id,
        "portalId": config.portal_id,
        "appId": config.app_id.parse::<u64>().map(Value::from).unwrap_or(json!(config.app_id)),
        "occurredAt": now_ms(),
        "subscriptionType": subscription_type,
        "attemptNumber": 0,
        "objectId": thread_id,
        "changeSource": change_source,
    });
    if let Some((name, value)) = property {
        e["propertyName"] = json!(name);
        e["propertyValue"] = json!(value);
    }
    e
}

async fn attempt(shared: &Shared, d: &Delivery, attempt: u32) -> (Option<u16>, String) {
    let config = shared.config();
    let body = d.body_for(attempt);
    let ts = now_ms();
    let mut request = shared
        .http
        .post(&d.url)
        .timeout(config.webhook_timeout)
        .header("content-type", "application/json")
        .header(
            "user-agent",
            "HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nonretryable)",
        )
        .header("x-hubspot-request-timestamp", ts.to_string())
        .header(
            "x-hubspot-signature-v3",
            sign_v3(&config.client_secret, "POST", &d.url, &body, ts),
        );
    if d.kind == DeliveryKind::AppWebhook {
        request = request
            .header("x-hubspot-signature", sign_v1(&config.client_secret, &body))
            .header("x-hubspot-signature-version", "v1");
    }
    let (status, answer) = match request.body(body.clone()).send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            (Some(status), r.text().await.unwrap_or_default())
        }
        Err(e) => (
            None,
            if e.is_timeout() {
                "timeout".to_string()
            } else {
                "connection failed".to_string()
            },
        ),
    };
    tracing::debug!(url = %d.url, attempt, ?status, "webhook delivery");
    shared
        .state()
        .deliveries
        .push(crate::webhooks::DeliveryRecord {
            url: d.url.clone(),
            kind: d.kind,
            attempt,
            body,
            status,
        });
    (status, answer)
}

fn failed(status: Option<u16>) -> bool {
    !status.is_some_and(|s| (200..300).contains(&s))
}

/// Makes the first attempt of a delivery; on failure, retries continue in the background.
pub async fn deliver(shared: Arc<Shared>, d: Delivery) -> DeliveryOutcome {
    let (status, body) = attempt(&shared, &d, 0).await;
    if failed(status) {
        let delays = shared.config().webhook_retry_delays;
        let shared = shared.clone();
        let d = d.clone();
        tokio::spawn(async move {
            for (i, delay) in delays.into_iter().enumerate() {
                tokio::time::sleep(delay).await;
                let (status, _) = attempt(&shared, &d, i as u32 + 1).await;
                if !failed(status) {
                    break;
                }
            }
        });
    }
    DeliveryOutcome {
        url: d.url,
        kind: d.kind,
        status,
        body,
    }
}

/// Delivers the deliveries of one action in order (reversed under `ReorderDeliveries`, each twice
/// under `DuplicateDeliveries`), returning once each first attempt has been answered.
pub async fn deliver_all(
    shared: Arc<Shared>,
    mut deliveries: Vec<Delivery>,
) -> Vec<DeliveryOutcome> {
    let (duplicate, reorder) = {
        let st = shared.state();
        (st.duplicate_deliveries, st.reorder_deliveries)
    };
    if reorder {
        deliveries.reverse();
        for d in deliveries.iter_mut() {
            if let Payload::Events(e) = &mut d.payload {
                e.reverse();
            }
        }
    }
    let mut outcomes = Vec::new();
    for d in deliveries {
        let times = if duplicate { 2 } else { 1 };
        for _ in 0..times {
            outcomes.push(deliver(shared.clone(), d.clone()).await);
        }
    }
    outcomes
}

/// The app-webhook delivery of a batch of events, when the app has a target URL.
pub fn app_delivery(shared: &Shared, events: Vec<Value>) -> Option<Delivery> {
    let url = shared.config().app_webhook_url?;
    (!events.is_empty()).then_some(Delivery {
        url,
        kind: DeliveryKind::AppWebhook,
        payload: Payload::Events(events),
    })
}

/// Sends a batch of app events in the background (for changes made through the API).
pub fn spawn_app_batch(shared: Arc<Shared>, events: Vec<Value>) {
    if let Some(d) = app_delivery(&shared, events) {
        tokio::spawn(deliver_all(shared, vec![d]));
    }
}
