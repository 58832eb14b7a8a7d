//! The test kit end to end: the real component registers against the simulator through the runtime,
//! and a help desk webhook reaches the component through the webhook server.

#![cfg(feature = "testkit")]

use hitl_host::testkit::{FIRST_INTEGRATION_ID, TestBed};
use hubspot_sim::SimConfig;

#[tokio::test]
async fn a_test_bed_registers_against_the_simulator() {
    let bed = TestBed::start().await.unwrap();
    assert_eq!(bed.ctx.integration_id, FIRST_INTEGRATION_ID);
    assert_eq!(
        bed.ctx.webhook_url,
        bed.server.url_for(FIRST_INTEGRATION_ID)
    );
    let configuration: serde_json::Value = serde_json::from_str(&bed.ctx.configuration).unwrap();
    assert_eq!(configuration["clientId"], bed.sim.config().client_id);

    bed.registered().await.unwrap();
    // The component's HubSpot calls reached the simulator (the base URL was rewritten).
    assert!(
        bed.sim.call_count("POST /oauth/v1/token") >= 1,
        "{:?}",
        bed.sim.requests()
    );
    assert!(!bed.sim.channel_accounts().is_empty());
    bed.shutdown().await;
}

#[tokio::test]
async fn a_second_installation_is_served_by_its_own_simulator() {
    let mut bed = TestBed::start().await.unwrap();
    let second = bed
        .add_installation(SimConfig {
            portal_id: 777,
            client_secret: "other-secret".into(),
            ..SimConfig::default()
        })
        .await
        .unwrap();
    assert_ne!(second.ctx.integration_id, bed.ctx.integration_id);
    second.register().await.unwrap().unwrap();
    assert!(second.sim.call_count("POST /oauth/v1/token") >= 1);
    assert_eq!(bed.sim.requests().len(), 0);
}

#[tokio::test]
async fn reconfiguring_changes_what_register_sees() {
    let mut bed = TestBed::start().await.unwrap();
    bed.reconfigure(|c| c["appId"] = serde_json::json!("not digits"));
    match bed.register().await.unwrap() {
        Err(hitl_host::HitlError::InvalidConfiguration(text)) => {
            assert!(text.contains("appId"), "{text}")
        }
        other => panic!("expected invalid-configuration, got {other:?}"),
    }
}

#[tokio::test]
async fn an_agent_reply_reaches_the_bot_through_the_webhook_server() {
    use hitl_host::types::MessagePayload;
    use hubspot_sim::NewContact;

    let bed = TestBed::start().await.unwrap();
    bed.registered().await.unwrap();
    bed.sim.add_contact(NewContact {
        email: Some("ann@example.com".into()),
        firstname: Some("Ann".into()),
        ..NewContact::default()
    });
    let user_id = bed
        .runtime
        .create_user(&bed.ctx, Some("Ann"), Some("ann@example.com"), None, None)
        .await
        .unwrap()
        .unwrap();
    let conversation_id = bed
        .runtime
        .start_hitl(&bed.ctx, &user_id, Some("Help"), Some("needs a human"), &[])
        .await
        .unwrap()
        .unwrap();
    let thread_id = bed.sim.threads()[0]["id"].as_str().unwrap().to_owned();
    let agent = bed.sim.add_agent("Agent Smith", "smith@example.com", None);

    let outcomes = bed
        .sim
        .agent_reply(&thread_id, &agent, "hello from the help desk", vec![])
        .await
        .unwrap();
    assert!(!outcomes.is_empty());
    assert!(
        outcomes.iter().all(|o| o.status == Some(200)),
        "{outcomes:?}"
    );

    let texts: Vec<_> = bed
        .messages(&conversation_id)
        .into_iter()
        .map(|m| m.payload)
        .collect();
    assert_eq!(
        texts,
        vec![MessagePayload::Text("hello from the help desk".into())]
    );
}
