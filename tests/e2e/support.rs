//! Shared set-up for the end-to-end tests.

use anyhow::{Result, anyhow};
use hitl_host::testkit::TestBed;
use hitl_host::types::{Event, HitlError};
use hubspot_sim::{NewContact, SimConfig};

/// The end user every test hands over.
pub const EMAIL: &str = "ada@example.com";
/// Her phone number.
pub const PHONE: &str = "+1 555 0100";

/// A registered test bed with one contact (Ada) and one agent (Grace); returns the agent's actor id.
pub async fn registered_bed(config: SimConfig) -> Result<(TestBed, String)> {
    let bed = TestBed::with_config(config).await?;
    bed.registered().await?;
    bed.sim.add_contact(NewContact {
        email: Some(EMAIL.into()),
        phone: Some(PHONE.into()),
        firstname: Some("Ada".into()),
        lastname: Some("Lovelace".into()),
        ..Default::default()
    });
    let agent = bed.sim.add_agent(
        "Grace Hopper",
        "grace@helpdesk.example",
        Some("https://avatars.example/grace.png"),
    );
    Ok((bed, agent))
}

/// A registered bed with a live handoff: (bed, agent actor id, bot user id, conversation id, thread id).
pub async fn live_handoff(config: SimConfig) -> Result<(TestBed, String, String, String, String)> {
    let (bed, agent) = registered_bed(config).await?;
    let user = ok(bed
        .runtime
        .create_user(&bed.ctx, None, Some(EMAIL), None, None)
        .await?)?;
    let conversation = ok(bed
        .runtime
        .start_hitl(&bed.ctx, &user, Some("Help"), None, &[])
        .await?)?;
    let thread = thread_of(&bed, &conversation)?;
    Ok((bed, agent, user, conversation, thread))
}

/// The component's own result, as an anyhow error when it refused.
pub fn ok<T>(result: std::result::Result<T, HitlError>) -> Result<T> {
    result.map_err(|e| anyhow!("the component refused: {e:?}"))
}

/// The HubSpot thread id tagged on a handoff conversation.
pub fn thread_of(bed: &TestBed, conversation_id: &str) -> Result<String> {
    let (_, conversation) = bed
        .bot
        .conversation(conversation_id)?
        .ok_or_else(|| anyhow!("no conversation"))?;
    conversation
        .tags
        .iter()
        .find(|(k, _)| k == "hubspotThreadId")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| anyhow!("conversation has no hubspotThreadId tag"))
}

/// The endpoints the simulator saw (API calls only, in order).
pub fn endpoints(bed: &TestBed) -> Vec<String> {
    bed.sim
        .requests()
        .into_iter()
        .filter(|r| !r.path.starts_with("/_sim") && !r.path.starts_with("/hubfs"))
        .map(|r| r.endpoint)
        .collect()
}

/// The first installation's events.
pub fn events(bed: &TestBed) -> Vec<Event> {
    bed.events_of(&bed.ctx.integration_id)
}
