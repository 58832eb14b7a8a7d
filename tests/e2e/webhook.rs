//! The webhook: refusals (signature, shape), events that are not ours, dedupe and ordering.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use hitl_host::testkit::TestBed;
use hitl_host::types::{Event, HitlAssigned, MessagePayload};
use hubspot_sim::{Fault, SimConfig};
use serde_json::json;

use crate::support::{events, live_handoff, ok};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// POSTs `body` to the bed's webhook URL, signed with `secret` at `timestamp`, with extra headers.
async fn post(
    bed: &TestBed,
    body: &str,
    secret: Option<&str>,
    timestamp: i64,
    content_type: &str,
) -> Result<u16> {
    let url = &bed.ctx.webhook_url;
    let mut request = reqwest::Client::new()
        .post(url)
        .header("content-type", content_type)
        .body(body.to_owned());
    request = request.header("x-hubspot-request-timestamp", timestamp.to_string());
    if let Some(secret) = secret {
        request = request.header(
            "x-hubspot-signature-v3",
            hubspot_sim::sign_v3(secret, "POST", url, body, timestamp),
        );
    }
    Ok(request.send().await?.status().as_u16())
}

fn assignment(thread: &str, actor: &str, portal: u64, occurred_at: i64) -> String {
    json!([{
        "eventId": 1, "subscriptionId": 7, "portalId": portal, "appId": 1234567, "occurredAt": occurred_at,
        "subscriptionType": "conversation.propertyChange", "attemptNumber": 0, "objectId": thread.parse::<u64>().unwrap_or(0),
        "changeSource": "CONVERSATIONS", "propertyName": "assignedTo", "propertyValue": actor
    }])
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_signatures_are_refused_with_401_and_change_nothing() -> Result<()> {
    let (bed, agent, ..) = live_handoff(SimConfig::default()).await?;
    let thread = crate::support::thread_of(&bed, &bed.bot.conversations()[0].1.id)?;
    let body = assignment(&thread, &agent, 62515, now_ms());
    let secret = "sim-client-secret";
    assert_eq!(
        post(&bed, &body, None, now_ms(), "application/json").await?,
        401,
        "missing"
    );
    assert_eq!(
        post(
            &bed,
            &body,
            Some("another-secret"),
            now_ms(),
            "application/json"
        )
        .await?,
        401,
        "wrong secret"
    );
    assert_eq!(
        post(
            &bed,
            &body,
            Some(secret),
            now_ms() - 6 * 60 * 1000,
            "application/json"
        )
        .await?,
        401,
        "stale"
    );
    assert_eq!(
        post(
            &bed,
            &body,
            Some(secret),
            now_ms() + 10 * 60 * 1000,
            "application/json"
        )
        .await?,
        401,
        "future"
    );
    let short = reqwest::Client::new()
        .post(&bed.ctx.webhook_url)
        .header("content-type", "application/json")
        .header("x-hubspot-request-timestamp", now_ms().to_string())
        .header("x-hubspot-signature-v3", "c2hvcnQ=")
        .body(body.clone())
        .send()
        .await?;
    assert_eq!(short.status().as_u16(), 401, "wrong length");
    assert!(events(&bed).is_empty(), "no event from a refused call");
    assert_eq!(
        post(&bed, &body, Some(secret), now_ms(), "application/json").await?,
        200,
        "the same body, signed, is taken"
    );
    assert_eq!(events(&bed).len(), 1);
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_clear_statuses() -> Result<()> {
    let (bed, ..) = live_handoff(SimConfig::default()).await?;
    let secret = Some("sim-client-secret");
    assert_eq!(
        post(&bed, "{not json", secret, now_ms(), "application/json").await?,
        400
    );
    assert_eq!(
        post(&bed, "42", secret, now_ms(), "application/json").await?,
        400
    );
    assert_eq!(post(&bed, "[]", secret, now_ms(), "text/plain").await?, 415);
    let huge = format!("[{}]", "1,".repeat(600_000) + "1");
    assert_eq!(
        post(&bed, &huge, secret, now_ms(), "application/json").await?,
        413
    );
    let get = reqwest::get(&bed.ctx.webhook_url).await?.status().as_u16();
    assert!(get == 405, "GET answered {get}");
    assert_eq!(post(&bed, r#"[{"subscriptionType":"contact.creation","objectId":1},{"type":"CHANNEL_ACCOUNT_CREATED"}]"#, secret, now_ms(), "application/json").await?, 200, "unknown event types are acknowledged");
    assert!(events(&bed).is_empty());
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_that_are_not_ours_are_ignored() -> Result<()> {
    let (bed, agent, _user, conversation, thread) = live_handoff(SimConfig::default()).await?;
    let secret = Some("sim-client-secret");
    assert_eq!(
        post(
            &bed,
            &assignment(&thread, &agent, 99999, now_ms()),
            secret,
            now_ms(),
            "application/json"
        )
        .await?,
        200,
        "another portal"
    );
    assert_eq!(
        post(
            &bed,
            &assignment("777777", &agent, 62515, now_ms()),
            secret,
            now_ms(),
            "application/json"
        )
        .await?,
        200,
        "a thread we never started"
    );
    let mut other_app: serde_json::Value =
        serde_json::from_str(&assignment(&thread, &agent, 62515, now_ms()))?;
    other_app[0]["appId"] = json!(999);
    assert_eq!(
        post(
            &bed,
            &other_app.to_string(),
            secret,
            now_ms(),
            "application/json"
        )
        .await?,
        200,
        "another app"
    );
    let foreign_reply = json!({"type": "OUTGOING_CHANNEL_MESSAGE_CREATED", "portalId": "62515", "channelId": "424242",
        "message": {"id": "x1", "conversationsThreadId": thread, "direction": "OUTGOING", "text": "hi", "senders": [{"actorId": agent}]}});
    assert_eq!(
        post(
            &bed,
            &foreign_reply.to_string(),
            secret,
            now_ms(),
            "application/json"
        )
        .await?,
        200,
        "another channel"
    );
    assert!(events(&bed).is_empty());
    assert!(bed.messages(&conversation).is_empty());
    assert_eq!(bed.bot.conversations().len(), 1, "no phantom conversations");
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_reassignments_and_unassignments() -> Result<()> {
    let (bed, agent, user, conversation, thread) = live_handoff(SimConfig::default()).await?;
    bed.sim.inject(Fault::DuplicateDeliveries);
    bed.sim.assign(&thread, &agent).await?;
    bed.sim
        .agent_reply(&thread, &agent, "Hello Ada", vec![])
        .await?;
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(
        bed.messages(&conversation).len(),
        1,
        "a reply delivered twice is one bot message"
    );
    assert_eq!(
        events(&bed).len(),
        1,
        "an assignment delivered twice is one event"
    );
    bed.sim.clear_faults();

    bed.sim.unassign(&thread).await?;
    assert_eq!(events(&bed).len(), 1, "unassignment emits nothing");
    let second = bed
        .sim
        .add_agent("Alan Turing", "alan@helpdesk.example", None);
    bed.sim.assign(&thread, &second).await?;
    let all = events(&bed);
    let Some(Event::HitlAssigned(HitlAssigned { user_id, .. })) = all.get(1) else {
        panic!("{all:?}")
    };
    let (_, agent_user) = bed.bot.user(user_id)?.expect("agent");
    assert_eq!(
        agent_user.name.as_deref(),
        Some("Alan Turing"),
        "a reassignment names the new agent"
    );

    // Our own messages echoed back as INCOMING are not delivered to the user.
    ok(bed
        .runtime
        .message(
            &bed.ctx,
            &conversation,
            &user,
            "m-echo",
            &MessagePayload::Text("thanks".into()),
        )
        .await?)?;
    let echo = json!({"type": "OUTGOING_CHANNEL_MESSAGE_CREATED", "portalId": "62515",
        "message": {"id": "echo-1", "conversationsThreadId": thread, "direction": "INCOMING", "text": "thanks"}});
    assert_eq!(
        post(
            &bed,
            &echo.to_string(),
            Some("sim-client-secret"),
            now_ms(),
            "application/json"
        )
        .await?,
        200
    );
    assert_eq!(bed.messages(&conversation).len(), 1);
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_assignment_delivered_late_is_ignored() -> Result<()> {
    let (bed, agent, _user, _conversation, thread) = live_handoff(SimConfig::default()).await?;
    let second = bed
        .sim
        .add_agent("Alan Turing", "alan@helpdesk.example", None);
    let secret = Some("sim-client-secret");
    let t = now_ms();
    assert_eq!(
        post(
            &bed,
            &assignment(&thread, &second, 62515, t),
            secret,
            now_ms(),
            "application/json"
        )
        .await?,
        200
    );
    assert_eq!(
        post(
            &bed,
            &assignment(&thread, &agent, 62515, t - 5_000),
            secret,
            now_ms(),
            "application/json"
        )
        .await?,
        200
    );
    let all = events(&bed);
    assert_eq!(
        all.len(),
        1,
        "the older assignment arrived late and changes nothing: {all:?}"
    );
    bed.shutdown().await;
    Ok(())
}
