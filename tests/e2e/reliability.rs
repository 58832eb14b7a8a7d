//! Faults, load and hostile input: retries, nothing lost or doubled, tokens, secrets, tenants.

use std::time::Duration;

use anyhow::Result;
use hitl_host::testkit::TestBed;
use hitl_host::types::{Event, HitlError, MessagePayload};
use hubspot_sim::{Fault, NewContact, SimConfig};

use crate::support::{EMAIL, endpoints, events, live_handoff, ok, registered_bed, thread_of};

const PUBLISH: &str = "POST /conversations/v3/custom-channels/{channelId}/messages";
const TOKEN: &str = "POST /oauth/v1/token";

fn fail(endpoint: &str, status: u16, count: usize, retry_after_secs: Option<u64>) -> Fault {
    Fault::FailNext {
        endpoint: Some(endpoint.into()),
        status,
        count,
        retry_after_secs,
    }
}

fn text(t: &str) -> MessagePayload {
    MessagePayload::Text(t.into())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_after_its_retry_after() -> Result<()> {
    let (bed, _agent, user, conversation, thread) = live_handoff(SimConfig::default()).await?;
    bed.sim.inject(fail(PUBLISH, 429, 1, Some(1)));
    bed.sim.clear_requests();
    ok(bed
        .runtime
        .message(&bed.ctx, &conversation, &user, "m1", &text("hello"))
        .await?)?;
    assert_eq!(bed.sim.call_count(PUBLISH), 2, "one refusal, one retry");
    assert_eq!(bed.sim.thread_messages(&thread).len(), 2, "posted once");
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lasting_429_returns_rate_limited_with_the_wait() -> Result<()> {
    let (bed, _agent, user, conversation, _thread) = live_handoff(SimConfig::default()).await?;
    bed.sim.inject(fail(PUBLISH, 429, 50, Some(60)));
    match bed
        .runtime
        .message(&bed.ctx, &conversation, &user, "m1", &text("hello"))
        .await?
    {
        Err(HitlError::RateLimited(limit)) => assert_eq!(limit.retry_after_ms, Some(60_000)),
        other => panic!("expected rate-limited: {other:?}"),
    }
    bed.sim.clear_faults();
    let without_header = fail(PUBLISH, 429, 50, None);
    bed.sim.inject(without_header);
    match bed
        .runtime
        .message(&bed.ctx, &conversation, &user, "m2", &text("hello"))
        .await?
    {
        Err(HitlError::RateLimited(limit)) => assert!(limit.retry_after_ms.is_some()),
        other => panic!("expected rate-limited: {other:?}"),
    }
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_retried_a_bounded_number_of_times() -> Result<()> {
    let (bed, _agent, user, conversation, thread) = live_handoff(SimConfig::default()).await?;
    bed.sim.inject(fail(PUBLISH, 503, 2, None));
    ok(bed
        .runtime
        .message(
            &bed.ctx,
            &conversation,
            &user,
            "m1",
            &text("after two 503s"),
        )
        .await?)?;
    assert_eq!(bed.sim.thread_messages(&thread).len(), 2);

    bed.sim.clear_requests();
    bed.sim.inject(fail(PUBLISH, 500, 100, None));
    match bed
        .runtime
        .message(&bed.ctx, &conversation, &user, "m2", &text("lost?"))
        .await?
    {
        Err(HitlError::Upstream(e)) => assert_eq!(e.status, 500),
        other => {
            panic!("a message that could not be posted is an error, never swallowed: {other:?}")
        }
    }
    let attempts = bed.sim.call_count(PUBLISH);
    assert!(
        (2..=5).contains(&attempts),
        "bounded retries, got {attempts}"
    );
    bed.sim.clear_faults();
    ok(bed
        .runtime
        .message(&bed.ctx, &conversation, &user, "m2", &text("lost?"))
        .await?)?;
    assert_eq!(
        bed.sim.thread_messages(&thread).len(),
        3,
        "the runtime's retry posts it once"
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_message_call_posts_once() -> Result<()> {
    let (bed, _agent, user, conversation, thread) = live_handoff(SimConfig::default()).await?;
    for _ in 0..3 {
        ok(bed
            .runtime
            .message(
                &bed.ctx,
                &conversation,
                &user,
                "same-bot-message",
                &text("only once"),
            )
            .await?)?;
    }
    let bloc = MessagePayload::Bloc(vec![
        hitl_host::types::SimplePayload::Text("one".into()),
        hitl_host::types::SimplePayload::Text("two".into()),
    ]);
    ok(bed
        .runtime
        .message(&bed.ctx, &conversation, &user, "bloc-1", &bloc)
        .await?)?;
    ok(bed
        .runtime
        .message(&bed.ctx, &conversation, &user, "bloc-1", &bloc)
        .await?)?;
    let texts: Vec<String> = bed
        .sim
        .thread_messages(&thread)
        .iter()
        .skip(1)
        .map(|m| m["text"].as_str().unwrap_or("").to_owned())
        .collect();
    assert_eq!(texts, ["only once", "one", "two"]);
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_answer_times_out_and_is_retried() -> Result<()> {
    let (bed, _agent, user, conversation, thread) = live_handoff(SimConfig::default()).await?;
    bed.sim.inject(Fault::Slow {
        endpoint: Some(PUBLISH.into()),
        delay: Duration::from_secs(25),
        count: 1,
    });
    ok(bed
        .runtime
        .message(
            &bed.ctx,
            &conversation,
            &user,
            "slow-1",
            &text("eventually"),
        )
        .await?)?;
    assert_eq!(
        bed.sim.call_count(PUBLISH),
        3,
        "the opening message, then the slow attempt that timed out, and its retry"
    );
    let texts: Vec<_> = bed
        .sim
        .thread_messages(&thread)
        .iter()
        .filter(|m| m["text"] == "eventually")
        .cloned()
        .collect();
    assert_eq!(
        texts.len(),
        1,
        "the idempotency id kept the late first attempt from doubling it"
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_refreshed_once_per_lifetime_and_once_after_a_401() -> Result<()> {
    let (bed, _agent, user, conversation, _thread) = live_handoff(SimConfig::default()).await?;
    let before = bed.sim.call_count(TOKEN);
    assert_eq!(before, 1, "one token for register, create-user and start");
    for i in 0..5 {
        ok(bed
            .runtime
            .message(
                &bed.ctx,
                &conversation,
                &user,
                &format!("m{i}"),
                &text("hi"),
            )
            .await?)?;
    }
    assert_eq!(bed.sim.call_count(TOKEN), 1, "reused while fresh");
    bed.sim.inject(Fault::ExpireTokens);
    ok(bed
        .runtime
        .message(&bed.ctx, &conversation, &user, "after-expiry", &text("hi"))
        .await?)?;
    assert_eq!(bed.sim.call_count(TOKEN), 2, "one refresh after the 401");
    bed.sim.inject(Fault::RevokeRefreshToken);
    match bed
        .runtime
        .message(&bed.ctx, &conversation, &user, "after-revoke", &text("hi"))
        .await?
    {
        Err(HitlError::Unauthorized(m)) => assert!(m.contains("refreshToken"), "{m}"),
        other => panic!("expected unauthorized: {other:?}"),
    }
    assert_eq!(bed.sim.call_count(TOKEN), 3, "one refresh attempt, no loop");
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_short_lived_token_is_refreshed_before_it_expires_and_a_rotated_refresh_token_is_kept()
-> Result<()> {
    let config = SimConfig {
        token_lifetime: Duration::from_secs(1),
        rotate_refresh_token: true,
        ..SimConfig::default()
    };
    let (bed, _agent, user, conversation, _thread) = live_handoff(config).await?;
    let before = bed.sim.call_count(TOKEN);
    // Each wait outlives the token: the next call refreshes, with the refresh token HubSpot rotated
    // to (the simulator refuses the old one once a new one is issued).
    for i in 0..2 {
        tokio::time::sleep(Duration::from_millis(1100)).await;
        ok(bed
            .runtime
            .message(
                &bed.ctx,
                &conversation,
                &user,
                &format!("m{i}"),
                &text("hi"),
            )
            .await?)?;
    }
    assert_eq!(
        bed.sim.call_count(TOKEN),
        before + 2,
        "one refresh per lifetime"
    );
    let bodies: Vec<String> = bed
        .sim
        .requests()
        .iter()
        .filter(|r| r.endpoint == TOKEN)
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    assert!(bodies[0].contains("refresh_token=sim-refresh-token"));
    assert!(
        !bodies
            .last()
            .is_some_and(|b| b.contains("refresh_token=sim-refresh-token")),
        "the rotated refresh token is used"
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_calls_share_one_token_and_one_channel() -> Result<()> {
    let bed = TestBed::start().await?;
    let calls = (0..6).map(|_| {
        let rt = bed.runtime.clone();
        let ctx = bed.ctx.clone();
        tokio::spawn(async move { rt.register(&ctx).await })
    });
    for call in calls.collect::<Vec<_>>() {
        ok(call.await??)?;
    }
    assert_eq!(
        bed.sim.channels().len(),
        1,
        "one channel for six concurrent registers"
    );
    assert_eq!(bed.sim.channel_accounts().len(), 1);
    assert_eq!(
        bed.sim.call_count(TOKEN),
        1,
        "one token refresh for six instances"
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_user_can_have_two_handoffs_at_once() -> Result<()> {
    let (bed, agent) = registered_bed(SimConfig::default()).await?;
    let user = ok(bed
        .runtime
        .create_user(&bed.ctx, None, Some(EMAIL), None, None)
        .await?)?;
    let first = ok(bed
        .runtime
        .start_hitl(&bed.ctx, &user, Some("Order"), None, &[])
        .await?)?;
    let second = ok(bed
        .runtime
        .start_hitl(&bed.ctx, &user, Some("Invoice"), None, &[])
        .await?)?;
    assert_ne!(first, second);
    let (t1, t2) = (thread_of(&bed, &first)?, thread_of(&bed, &second)?);
    assert_ne!(t1, t2, "two HubSpot threads");
    bed.sim
        .agent_reply(&t2, &agent, "about the invoice", vec![])
        .await?;
    bed.sim
        .agent_reply(&t1, &agent, "about the order", vec![])
        .await?;
    assert!(
        matches!(&bed.messages(&first)[0].payload, MessagePayload::Text(t) if t == "about the order")
    );
    assert!(
        matches!(&bed.messages(&second)[0].payload, MessagePayload::Text(t) if t == "about the invoice")
    );
    ok(bed.runtime.stop_hitl(&bed.ctx, &first, None).await?)?;
    bed.sim
        .agent_reply(&t2, &agent, "still here", vec![])
        .await?;
    assert_eq!(
        bed.messages(&second).len(),
        2,
        "ending one handoff leaves the other alive"
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_installations_never_see_each_others_events_or_state() -> Result<()> {
    let (mut bed, agent) = registered_bed(SimConfig::default()).await?;
    let other_config = SimConfig {
        portal_id: 77001,
        app_id: "7654321".into(),
        developer_api_key: "other-dev-key".into(),
        client_id: "other-client".into(),
        client_secret: "other-client-secret".into(),
        refresh_token: "other-refresh-token".into(),
        ..SimConfig::default()
    };
    let other = bed.add_installation(other_config).await?;
    ok(other.register().await?)?;
    other.sim.add_contact(NewContact {
        email: Some(EMAIL.into()),
        ..Default::default()
    });
    let other_agent = other
        .sim
        .add_agent("Other Agent", "other@desk.example", None);

    let user_a = ok(bed
        .runtime
        .create_user(&bed.ctx, None, Some(EMAIL), None, None)
        .await?)?;
    let conv_a = ok(bed
        .runtime
        .start_hitl(&bed.ctx, &user_a, None, None, &[])
        .await?)?;
    let user_b = ok(other
        .runtime
        .create_user(&other.ctx, None, Some(EMAIL), None, None)
        .await?)?;
    let conv_b = ok(other
        .runtime
        .start_hitl(&other.ctx, &user_b, None, None, &[])
        .await?)?;
    let (thread_a, thread_b) = (thread_of(&bed, &conv_a)?, thread_of(&bed, &conv_b)?);

    bed.sim.assign(&thread_a, &agent).await?;
    other
        .sim
        .agent_reply(&thread_b, &other_agent, "from B", vec![])
        .await?;
    bed.sim
        .agent_reply(&thread_a, &agent, "from A", vec![])
        .await?;
    assert_eq!(events(&bed).len(), 1);
    assert!(
        bed.events_of(&other.ctx.integration_id).is_empty(),
        "B saw nothing of A's assignment"
    );
    let texts = |c: &str| {
        bed.messages(c)
            .iter()
            .map(|m| format!("{:?}", m.payload))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        texts(&conv_a),
        [r#"MessagePayload::Text("from A")"#],
        "A's conversation has A's reply only"
    );
    assert_eq!(
        texts(&conv_b),
        [r#"MessagePayload::Text("from B")"#],
        "B's conversation has B's reply only (even if the thread ids collide)"
    );
    let install_a = bed
        .bot
        .state_get(
            hitl_host::types::Scope::Integration,
            &bed.ctx.integration_id,
            "install",
        )?
        .unwrap_or_default();
    let install_b = bed
        .bot
        .state_get(
            hitl_host::types::Scope::Integration,
            &other.ctx.integration_id,
            "install",
        )?
        .unwrap_or_default();
    assert_ne!(install_a, install_b);
    assert!(install_b.contains("77001") && !install_a.contains("77001"));
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_leak_into_logs_errors_state_keys_or_the_wrong_requests() -> Result<()> {
    let secret = |name: &str| format!("LEAKCHECK-{name}-7f3a9c");
    let config = SimConfig {
        developer_api_key: secret("devkey"),
        client_secret: secret("clientsecret"),
        refresh_token: secret("refresh"),
        ..SimConfig::default()
    };
    let (mut bed, agent, user, conversation, thread) = live_handoff(config.clone()).await?;
    let mut errors = Vec::new();
    // Drive error paths: HubSpot failures, an expired token, bad input, a bad webhook, bad configs.
    bed.sim.inject(fail(PUBLISH, 500, 100, None));
    errors.push(format!(
        "{:?}",
        bed.runtime
            .message(&bed.ctx, &conversation, &user, "x", &text("x"))
            .await?
    ));
    bed.sim.clear_faults();
    bed.sim.inject(Fault::ExpireTokens);
    errors.push(format!(
        "{:?}",
        bed.runtime
            .message(&bed.ctx, &conversation, &user, "y", &text("y"))
            .await?
    ));
    bed.sim.agent_reply(&thread, &agent, "hi", vec![]).await?;
    errors.push(format!(
        "{:?}",
        bed.runtime
            .create_user(&bed.ctx, None, Some("nobody@example.com"), None, None)
            .await?
    ));
    errors.push(format!(
        "{:?}",
        bed.runtime
            .message(&bed.ctx, "no-such-conversation", &user, "z", &text("z"))
            .await?
    ));
    let bad_webhook = hitl_host::types::HttpRequest {
        method: "POST".into(),
        url: bed.ctx.webhook_url.clone(),
        headers: vec![("x-hubspot-signature-v3".into(), b"bm90IGl0".to_vec())],
        body: b"[]".to_vec(),
    };
    errors.push(format!(
        "{:?}",
        bed.runtime.webhook(&bed.ctx, bad_webhook).await?
    ));
    bed.sim.inject(Fault::RevokeRefreshToken);
    errors.push(format!(
        "{:?}",
        bed.runtime
            .message(&bed.ctx, &conversation, &user, "w", &text("w"))
            .await?
    ));
    bed.reconfigure(|c| {
        c["clientSecret"] = format!("{} with space", secret("clientsecret")).into()
    });
    errors.push(format!("{:?}", bed.register().await?));
    bed.reconfigure(|c| {
        c["clientSecret"] = secret("clientsecret").into();
        c["refreshToken"] = secret("wrongrefresh").into();
    });
    errors.push(format!("{:?}", bed.runtime.unregister(&bed.ctx).await?));

    let secrets = [
        secret("devkey"),
        secret("clientsecret"),
        secret("refresh"),
        secret("wrongrefresh"),
    ];
    let leaks = |text: &str| secrets.iter().any(|s| text.contains(s.as_str()));
    for e in &errors {
        assert!(!leaks(e), "error text leaks a secret: {e}");
    }
    for (_, level, line) in bed.bot.logs() {
        assert!(!leaks(&line), "log line leaks a secret ({level:?}): {line}");
    }
    let access_tokens: Vec<String> = bed
        .sim
        .requests()
        .iter()
        .filter_map(|r| {
            r.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
                .map(|(_, v)| v.trim_start_matches("Bearer ").to_owned())
        })
        .collect();
    for (_, _, line) in bed.bot.logs() {
        assert!(
            access_tokens.iter().all(|t| !line.contains(t.as_str())),
            "log line leaks an access token: {line}"
        );
    }
    for (_, id, name, _) in bed.bot.state() {
        assert!(
            !leaks(&id) && !leaks(&name),
            "state key leaks a secret: {id}/{name}"
        );
    }
    for r in bed.sim.requests() {
        let everything = format!(
            "{} {:?} {:?} {}",
            r.path,
            r.query,
            r.headers,
            String::from_utf8_lossy(&r.body)
        );
        let token_call = r.endpoint == TOKEN;
        let channel_call = r
            .endpoint
            .starts_with("POST /conversations/v3/custom-channels")
            && !r.endpoint.contains("{channelId}/")
            || r.endpoint
                .starts_with("GET /conversations/v3/custom-channels")
                && !r.endpoint.contains("{channelId}/")
            || r.endpoint
                .starts_with("PATCH /conversations/v3/custom-channels/{channelId}")
                && !r.endpoint.contains("{channelId}/")
            || r.endpoint
                .starts_with("DELETE /conversations/v3/custom-channels/{channelId}");
        if !token_call {
            assert!(
                !everything.contains(&secret("clientsecret"))
                    && !everything.contains(&secret("refresh")),
                "OAuth secrets outside the token call: {}",
                r.endpoint
            );
        }
        if !channel_call {
            assert!(
                !everything.contains(&secret("devkey")),
                "developer key outside channel management: {}",
                r.endpoint
            );
        } else {
            assert!(
                r.query.as_deref().unwrap_or("").contains(&secret("devkey")),
                "the developer key goes in the query"
            );
        }
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            !body.contains(&secret("devkey")),
            "developer key in a body: {}",
            r.endpoint
        );
    }
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_delivered_out_of_order_yield_one_message_and_one_event() -> Result<()> {
    let (bed, agent, _user, conversation, thread) = live_handoff(SimConfig::default()).await?;
    bed.sim.inject(Fault::ReorderDeliveries);
    bed.sim.inject(Fault::DuplicateDeliveries);
    bed.sim.assign(&thread, &agent).await?;
    bed.sim
        .agent_reply(&thread, &agent, "first", vec![])
        .await?;
    bed.sim
        .agent_reply(&thread, &agent, "second", vec![])
        .await?;
    let texts: Vec<_> = bed
        .messages(&conversation)
        .iter()
        .map(|m| format!("{:?}", m.payload))
        .collect();
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert_eq!(
        events(&bed)
            .iter()
            .filter(|e| matches!(e, Event::HitlAssigned(_)))
            .count(),
        1
    );
    let calls = endpoints(&bed);
    assert_eq!(
        calls.iter().filter(|c| c.contains("/actors/")).count(),
        1,
        "the agent is looked up once: {calls:?}"
    );
    bed.shutdown().await;
    Ok(())
}
