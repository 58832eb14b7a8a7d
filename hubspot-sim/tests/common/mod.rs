//! Helpers shared by the simulator's tests.
#![allow(dead_code)]

use hubspot_sim::{SimConfig, Simulator};
use serde_json::{Value, json};

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

pub fn config() -> SimConfig {
    SimConfig {
        channel_list_delay: std::time::Duration::ZERO,
        ..SimConfig::default()
    }
}

pub async fn start() -> Simulator {
    Simulator::start(config()).await.expect("sim starts")
}

pub fn dev_query(sim: &Simulator) -> String {
    let c = sim.config();
    format!("hapikey={}&appId={}", c.developer_api_key, c.app_id)
}

pub async fn token(sim: &Simulator) -> String {
    let c = sim.config();
    let r = http()
        .post(format!("{}/oauth/v1/token", sim.base_url()))
        .form(&[
            ("grant_type", "refresh_token"),
            ("client_id", c.client_id.as_str()),
            ("client_secret", c.client_secret.as_str()),
            ("refresh_token", c.refresh_token.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

pub fn capabilities() -> Value {
    json!({
        "threadingModel": "INTEGRATION_THREAD_ID",
        "deliveryIdentifierTypes": ["CHANNEL_SPECIFIC_OPAQUE_ID", "HS_EMAIL_ADDRESS", "HS_PHONE_NUMBER"],
        "richText": ["HYPERLINK"],
        "allowOutgoingMessages": true,
        "allowConversationStart": true,
        "outgoingAttachmentTypes": ["FILE"],
        "maxFileAttachmentCount": 2,
    })
}

/// Creates a channel (with a webhook URL) and an account on the help desk; returns their ids.
pub async fn channel_and_account(
    sim: &Simulator,
    token: &str,
    webhook_url: Option<&str>,
) -> (String, String) {
    let mut body = json!({ "name": "Bot handoff", "capabilities": capabilities() });
    if let Some(u) = webhook_url {
        body["webhookUrl"] = json!(u);
    }
    let r = http()
        .post(format!(
            "{}/conversations/v3/custom-channels/?{}",
            sim.base_url(),
            dev_query(sim)
        ))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let channel: Value = r.json().await.unwrap();
    let channel_id = channel["id"].as_str().unwrap().to_string();
    let r = http()
        .post(format!("{}/conversations/v3/custom-channels/{channel_id}/channel-accounts", sim.base_url()))
        .bearer_auth(token)
        .json(&json!({ "inboxId": "1431487401", "name": "Bot", "authorized": true,
                        "deliveryIdentifier": {"type": "CHANNEL_SPECIFIC_OPAQUE_ID", "value": "bot"} }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let account: Value = r.json().await.unwrap();
    (channel_id, account["id"].as_str().unwrap().to_string())
}

pub fn incoming(account: &str, thread: &str, text: &str, email: &str) -> Value {
    json!({
        "text": text,
        "messageDirection": "INCOMING",
        "channelAccountId": account,
        "integrationThreadId": thread,
        "senders": [{ "deliveryIdentifier": { "type": "HS_EMAIL_ADDRESS", "value": email }, "name": "Ada" }],
        "recipients": [{ "deliveryIdentifier": { "type": "CHANNEL_SPECIFIC_OPAQUE_ID", "value": "bot" } }],
        "timestamp": "2024-05-01T10:00:00Z",
        "attachments": [],
    })
}

pub async fn publish(sim: &Simulator, token: &str, channel: &str, body: &Value) -> (u16, Value) {
    let r = http()
        .post(format!(
            "{}/conversations/v3/custom-channels/{channel}/messages",
            sim.base_url()
        ))
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// Polls until `f` is true (checks behaviour, not timing: gives up after a generous while).
pub async fn eventually(mut f: impl FnMut() -> bool) {
    for _ in 0..500 {
        if f() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("condition never became true");
}
