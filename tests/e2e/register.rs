//! register / unregister: configuration errors, idempotency, help desk discovery, a slow channel.

use std::time::Duration;

use anyhow::Result;
use hitl_host::testkit::TestBed;
use hitl_host::types::{HitlError, Scope};
use hubspot_sim::{Inbox, InboxKind, SimConfig};

use crate::support::{endpoints, ok};

fn field_error(result: std::result::Result<(), HitlError>) -> String {
    match result {
        Err(HitlError::InvalidConfiguration(m)) => m,
        other => panic!("expected invalid-configuration, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_configuration_is_refused_naming_the_field() -> Result<()> {
    let mut bed = TestBed::start().await?;
    bed.reconfigure(|c| {
        c.as_object_mut().unwrap().remove("clientSecret");
    });
    assert!(field_error(bed.register().await?).contains("clientSecret"));
    bed.reconfigure(|c| c["clientSecret"] = "x y".into());
    assert!(field_error(bed.register().await?).contains("clientSecret"));
    bed.reconfigure(|c| {
        c["clientSecret"] = "sim-client-secret".into();
        c["appId"] = "not-a-number".into();
    });
    assert!(field_error(bed.register().await?).contains("appId"));
    assert!(
        endpoints(&bed).is_empty(),
        "nothing reaches HubSpot with a bad configuration"
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_credentials_say_which() -> Result<()> {
    let mut bed = TestBed::start().await?;
    bed.reconfigure(|c| c["refreshToken"] = "not-the-refresh-token".into());
    match bed.register().await? {
        Err(HitlError::Unauthorized(m)) => assert!(m.contains("refreshToken"), "{m}"),
        other => panic!("{other:?}"),
    }
    bed.reconfigure(|c| {
        c["refreshToken"] = "sim-refresh-token".into();
        c["clientSecret"] = "wrong-client-secret".into();
    });
    let message = format!("{:?}", bed.register().await?.unwrap_err());
    assert!(message.contains("clientSecret"), "{message}");
    assert!(
        !message.contains("wrong-client-secret"),
        "the secret itself never appears: {message}"
    );
    bed.reconfigure(|c| {
        c["clientSecret"] = "sim-client-secret".into();
        c["helpDeskId"] = "999".into();
    });
    let message = field_error(bed.register().await?);
    assert!(
        message.contains("helpDeskId") && message.contains("1431487401"),
        "names the field and the candidates: {message}"
    );
    assert!(
        bed.sim.channels().is_empty(),
        "no channel made for a wrong inbox"
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saving_the_same_configuration_again_creates_nothing() -> Result<()> {
    let bed = TestBed::start().await?;
    bed.registered().await?;
    bed.sim.clear_requests();
    bed.registered().await?;
    bed.registered().await?;
    let calls = endpoints(&bed);
    assert!(
        calls.iter().all(|c| c.starts_with("GET ")),
        "no creates, no token refresh: {calls:?}"
    );
    assert_eq!(
        calls,
        [
            "GET /conversations/v3/custom-channels/{channelId}",
            "GET /conversations/v3/custom-channels/{channelId}"
        ],
        "found by its id, not by listing"
    );
    assert_eq!(bed.sim.channels().len(), 1);
    assert_eq!(bed.sim.channel_accounts().len(), 1);
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_channel_hubspot_does_not_know_yet_is_waited_for_without_polling_the_list()
-> Result<()> {
    let config = SimConfig {
        channel_account_delay: Duration::from_millis(1500),
        ..SimConfig::default()
    };
    let bed = TestBed::with_config(config).await?;
    bed.registered().await?;
    assert_eq!(
        bed.sim.call_count("GET /conversations/v3/custom-channels"),
        1,
        "listed once, before creating"
    );
    assert!(
        bed.sim
            .call_count("POST /conversations/v3/custom-channels/{channelId}/channel-accounts")
            >= 2,
        "the connection was retried"
    );
    assert_eq!(bed.sim.channel_accounts().len(), 1);
    let logs = bed.logs_of(&bed.ctx.integration_id);
    assert!(
        logs.iter()
            .any(|(_, l)| l.contains("waiting for HubSpot to know the new channel")),
        "{logs:?}"
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_only_help_desk_is_found_without_an_id() -> Result<()> {
    let mut bed = TestBed::start().await?;
    bed.reconfigure(|c| {
        c.as_object_mut().unwrap().remove("helpDeskId");
    });
    bed.registered().await?;
    let account = &bed.sim.channel_accounts()[0];
    assert_eq!(
        account["inboxId"], "1431487401",
        "connected to the HELP_DESK inbox, not the plain inbox"
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_help_desks_need_a_choice() -> Result<()> {
    let mut bed = TestBed::start().await?;
    bed.sim.add_inbox(Inbox {
        id: "1431487555".into(),
        name: "Billing desk".into(),
        kind: InboxKind::HelpDesk,
    });
    bed.reconfigure(|c| {
        c.as_object_mut().unwrap().remove("helpDeskId");
    });
    let message = field_error(bed.register().await?);
    assert!(message.contains("helpDeskId"), "{message}");
    assert!(
        message.contains("1431487401")
            && message.contains("1431487555")
            && message.contains("Billing desk"),
        "{message}"
    );
    assert!(bed.sim.channels().is_empty());
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregister_deletes_the_channel_and_forgets_the_state() -> Result<()> {
    let bed = TestBed::start().await?;
    bed.registered().await?;
    assert_eq!(bed.sim.channels().len(), 1);
    ok(bed.runtime.unregister(&bed.ctx).await?)?;
    assert!(
        bed.sim.channels().is_empty(),
        "the channel is gone from HubSpot"
    );
    let left: Vec<_> = bed
        .bot
        .state()
        .into_iter()
        .filter(|(s, id, _, _)| *s == Scope::Integration && id == &bed.ctx.integration_id)
        .collect();
    assert!(left.is_empty(), "state forgotten: {left:?}");
    bed.shutdown().await;
    Ok(())
}
