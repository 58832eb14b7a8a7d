//! Deterministic budgets: how many HubSpot calls each operation costs with a warm token. These are
//! counts, not timings, so they hold on any machine; the README's capacity figures come from here.

use anyhow::Result;
use hitl_host::types::MessagePayload;
use hubspot_sim::SimConfig;

use crate::support::{EMAIL, endpoints, live_handoff, ok, registered_bed, thread_of};

/// Calls made by `f`, as endpoint templates.
async fn calls_of<F: std::future::Future<Output = Result<()>>>(
    bed: &hitl_host::testkit::TestBed,
    f: F,
) -> Result<Vec<String>> {
    bed.sim.clear_requests();
    f.await?;
    Ok(endpoints(bed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_operation_call_budgets() -> Result<()> {
    let (bed, agent, user, conversation, thread) = live_handoff(SimConfig::default()).await?;
    let (rt, ctx) = (&bed.runtime, &bed.ctx);

    let text = calls_of(&bed, async {
        ok(rt
            .message(
                ctx,
                &conversation,
                &user,
                "b1",
                &MessagePayload::Text("hi".into()),
            )
            .await?)
    })
    .await?;
    assert_eq!(
        text,
        ["POST /conversations/v3/custom-channels/{channelId}/messages"],
        "a forwarded text message: 1 call"
    );

    let assign = calls_of(&bed, async {
        bed.sim.assign(&thread, &agent).await.map(|_| ())
    })
    .await?;
    assert!(
        assign.len() <= 1,
        "an assignment to a new agent: at most 1 call, got {assign:?}"
    );

    let second_agent = bed.sim.add_agent("Alan Turing", "alan@desk.example", None);
    let first_reply = calls_of(&bed, async {
        bed.sim
            .agent_reply(&thread, &second_agent, "new agent speaking", vec![])
            .await
            .map(|_| ())
    })
    .await?;
    assert!(
        first_reply.len() <= 1,
        "an agent reply, agent seen the first time: at most 1 call, got {first_reply:?}"
    );
    let next_reply = calls_of(&bed, async {
        bed.sim
            .agent_reply(&thread, &second_agent, "again", vec![])
            .await
            .map(|_| ())
    })
    .await?;
    assert!(
        next_reply.is_empty(),
        "an agent reply, agent known: 0 calls, got {next_reply:?}"
    );
    let reassign = calls_of(&bed, async {
        bed.sim.assign(&thread, &second_agent).await.map(|_| ())
    })
    .await?;
    assert!(
        reassign.is_empty(),
        "an assignment to a known agent: 0 calls, got {reassign:?}"
    );

    let start = calls_of(&bed, async {
        ok(rt.start_hitl(ctx, &user, Some("again"), None, &[]).await?).map(|_| ())
    })
    .await?;
    assert_eq!(
        start,
        ["POST /conversations/v3/custom-channels/{channelId}/messages"],
        "start-hitl: 1 call"
    );

    let register = calls_of(&bed, async { bed.registered().await }).await?;
    assert!(
        register.iter().all(|c| c.starts_with("GET ")),
        "register when registered: no creates, got {register:?}"
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_handoff_costs_a_known_number_of_calls() -> Result<()> {
    let (bed, agent) = registered_bed(SimConfig::default()).await?;
    let (rt, ctx) = (&bed.runtime, &bed.ctx);
    bed.sim.clear_requests();
    let user = ok(rt.create_user(ctx, None, Some(EMAIL), None, None).await?)?;
    let conversation = ok(rt.start_hitl(ctx, &user, Some("Help"), None, &[]).await?)?;
    let thread = thread_of(&bed, &conversation)?;
    bed.sim.assign(&thread, &agent).await?;
    for i in 0..3 {
        ok(rt
            .message(
                ctx,
                &conversation,
                &user,
                &format!("u{i}"),
                &MessagePayload::Text("question".into()),
            )
            .await?)?;
        bed.sim
            .agent_reply(&thread, &agent, "answer", vec![])
            .await?;
    }
    ok(rt.stop_hitl(ctx, &conversation, None).await?)?;
    let calls = endpoints(&bed);
    // create-user 1, start 1, first sight of the agent 1, 3 user messages, stop 2 (goodbye + close).
    assert_eq!(calls.len(), 8, "{calls:?}");
    println!(
        "a handoff with 3 exchanges costs {} HubSpot calls: {} such handoffs fit in 110 requests per 10 s",
        calls.len(),
        110 / calls.len()
    );
    bed.shutdown().await;
    Ok(())
}
