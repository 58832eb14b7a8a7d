//! The whole handoff, end to end, and the agent closing the thread.

use anyhow::Result;
use hitl_host::types::{
    Author, Event, FileRef, HistoryEntry, HitlAssigned, HitlStopped, MessagePayload, Scope,
    SimplePayload,
};
use hubspot_sim::{DeliveryKind, SimConfig, UploadedFile};
use serde_json::Value;

use crate::support::{EMAIL, endpoints, events, live_handoff, ok, registered_bed, thread_of};

/// A tiny but real PNG (a 1×1 image).
const PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0, 0, 0,
    1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0a, 0x49, 0x44, 0x41, 0x54,
    0x78, 0x9c, 0x63, 0, 1, 0, 0, 5, 0, 1, 0x0d, 0x0a, 0x2d, 0xb4, 0, 0, 0, 0, 0x49, 0x45, 0x4e,
    0x44, 0xae, 0x42, 0x60, 0x82,
];

fn incoming_texts(messages: &[Value]) -> Vec<String> {
    messages
        .iter()
        .filter(|m| m["direction"] == "INCOMING")
        .map(|m| m["text"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_handoff_from_escalation_to_the_user_leaving() -> Result<()> {
    let (bed, agent) = registered_bed(SimConfig::default()).await?;
    let (rt, ctx) = (&bed.runtime, &bed.ctx);
    let registered_calls = endpoints(&bed);
    assert_eq!(
        registered_calls,
        [
            "POST /oauth/v1/token",
            "GET /conversations/v3/conversations/inboxes",
            "GET /conversations/v3/custom-channels",
            "POST /conversations/v3/custom-channels",
            "POST /conversations/v3/custom-channels/{channelId}/channel-accounts",
        ],
        "register: one token, the inbox check, no channel of ours yet, create it, connect the help desk"
    );
    bed.sim.clear_requests();

    // create-user: the contact is found by email; the bot user carries its id, email and phone.
    let user_id = ok(rt
        .create_user(ctx, None, Some(EMAIL), Some("+1 555 0100"), None)
        .await?)?;
    let (_, user) = bed.bot.user(&user_id)?.expect("the user exists");
    assert_eq!(
        user.name.as_deref(),
        Some("Ada Lovelace"),
        "named after the contact"
    );
    assert!(user.tags.iter().any(|(k, v)| k == "email" && v == EMAIL));
    assert!(user.tags.iter().any(|(k, _)| k == "hubspotContactId"));

    // start-hitl with the transcript.
    let history = vec![
        HistoryEntry {
            author: Author::User,
            payload: MessagePayload::Text("My parcel 1234 never arrived".into()),
            sent_at: Some(1_700_000_000_000),
        },
        HistoryEntry {
            author: Author::Bot,
            payload: MessagePayload::Text("Sorry to hear that! Let me find a human.".into()),
            sent_at: None,
        },
    ];
    let conversation = ok(rt
        .start_hitl(
            ctx,
            &user_id,
            Some("Parcel missing"),
            Some("Order 1234 was not delivered"),
            &history,
        )
        .await?)?;
    let thread = thread_of(&bed, &conversation)?;
    let threads = bed.sim.threads();
    assert_eq!(threads.len(), 1, "one thread");
    assert_eq!(threads[0]["id"].as_str(), Some(thread.as_str()));
    let contact_id = user
        .tags
        .iter()
        .find(|(k, _)| k == "hubspotContactId")
        .map(|(_, v)| v.clone());
    assert_eq!(
        threads[0]["associatedContactId"]
            .as_str()
            .map(str::to_owned),
        contact_id,
        "the thread belongs to Ada's contact"
    );
    let opening = incoming_texts(&bed.sim.thread_messages(&thread)).remove(0);
    for needle in [
        "Ada Lovelace",
        "Parcel missing",
        "Order 1234 was not delivered",
        "My parcel 1234 never arrived",
        "Let me find a human",
    ] {
        assert!(
            opening.contains(needle),
            "the opening message carries {needle:?}: {opening}"
        );
    }

    // Two user messages of different kinds: text, and an image that becomes a real attachment.
    ok(rt
        .message(
            ctx,
            &conversation,
            &user_id,
            "bot-msg-1",
            &MessagePayload::Text("Are you there?".into()),
        )
        .await?)?;
    let image_url = bed.sim.host_file("receipt.png", "image/png", PNG.to_vec());
    ok(rt
        .message(
            ctx,
            &conversation,
            &user_id,
            "bot-msg-2",
            &MessagePayload::Image(image_url),
        )
        .await?)?;
    let messages = bed.sim.thread_messages(&thread);
    assert_eq!(incoming_texts(&messages)[1], "Are you there?");
    let with_file = messages
        .iter()
        .find(|m| m["attachments"].as_array().is_some_and(|a| !a.is_empty()))
        .expect("an attachment arrived");
    let file_id = with_file["attachments"][0]["fileId"]
        .as_str()
        .expect("by file id")
        .to_owned();
    assert_eq!(
        bed.sim.file_bytes(&file_id).as_deref(),
        Some(PNG),
        "HubSpot holds the very bytes the user sent"
    );

    // The agent is assigned: hitl-assigned names the agent's bot user, with name and avatar.
    let outcomes = bed.sim.assign(&thread, &agent).await?;
    assert!(
        outcomes.iter().all(|o| o.status == Some(200)),
        "{outcomes:?}"
    );
    let events_now = events(&bed);
    let [
        Event::HitlAssigned(HitlAssigned {
            conversation_id,
            user_id: agent_user,
        }),
    ] = events_now.as_slice()
    else {
        panic!("one hitl-assigned expected: {events_now:?}")
    };
    assert_eq!(conversation_id, &conversation);
    let (_, agent_record) = bed.bot.user(agent_user)?.expect("agent user");
    assert_eq!(agent_record.name.as_deref(), Some("Grace Hopper"));
    assert_eq!(
        agent_record.picture_url.as_deref(),
        Some("https://avatars.example/grace.png")
    );
    assert!(
        agent_record
            .tags
            .iter()
            .any(|(k, v)| k == "hubspotActorId" && v == &agent)
    );

    // The agent replies with text and a file: one bot message, from the agent, with both.
    let label = b"%PDF-1.4 shipping label".to_vec();
    let outcomes = bed
        .sim
        .agent_reply(
            &thread,
            &agent,
            "Found it, here is the new label",
            vec![UploadedFile {
                name: "label.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: label.clone(),
            }],
        )
        .await?;
    assert!(
        outcomes.iter().all(|o| o.status == Some(200)),
        "{outcomes:?}"
    );
    let delivered = bed.messages(&conversation);
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(&delivered[0].user_id, agent_user);
    let MessagePayload::Bloc(parts) = &delivered[0].payload else {
        panic!("text and file in one bloc: {:?}", delivered[0].payload)
    };
    assert!(matches!(&parts[0], SimplePayload::Text(t) if t == "Found it, here is the new label"));
    let SimplePayload::File(FileRef { url, title }) = &parts[1] else {
        panic!("a file part: {parts:?}")
    };
    assert_eq!(title.as_deref(), Some("label.pdf"));
    let fetched = reqwest::get(url).await?.bytes().await?;
    assert_eq!(
        fetched.as_ref(),
        label.as_slice(),
        "the bot receives the agent's very file"
    );

    // The user stops: the agent is told, the thread closes, the mapping ends, no hitl-stopped.
    ok(rt
        .stop_hitl(ctx, &conversation, Some("problem solved"))
        .await?)?;
    let thread_state = bed
        .sim
        .threads()
        .into_iter()
        .find(|t| t["id"] == thread.as_str())
        .expect("thread");
    assert_eq!(thread_state["status"], "CLOSED");
    let last = incoming_texts(&bed.sim.thread_messages(&thread))
        .pop()
        .unwrap_or_default();
    assert!(
        last.contains("left") && last.contains("problem solved"),
        "{last}"
    );
    assert!(
        bed.bot
            .state_get(Scope::Conversation, &conversation, "handoff")?
            .is_none(),
        "the mapping ended"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        events(&bed).len(),
        1,
        "our own close emits no hitl-stopped: {:?}",
        events(&bed)
    );

    assert_eq!(
        endpoints(&bed),
        [
            "GET /crm/v3/objects/contacts/{contactId}",
            "POST /conversations/v3/custom-channels/{channelId}/messages",
            "POST /conversations/v3/custom-channels/{channelId}/messages",
            "POST /files/v3/files",
            "POST /conversations/v3/custom-channels/{channelId}/messages",
            "GET /conversations/v3/conversations/actors/{actorId}",
            "POST /conversations/v3/custom-channels/{channelId}/messages",
            "PATCH /conversations/v3/conversations/threads/{threadId}",
        ],
        "every HubSpot call of the handoff, and no other"
    );
    let deliveries = bed.sim.deliveries();
    assert!(
        deliveries
            .iter()
            .any(|d| matches!(d.kind, DeliveryKind::ChannelWebhook))
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_closing_the_thread_stops_the_handoff_once() -> Result<()> {
    let (bed, agent, _user, conversation, thread) = live_handoff(SimConfig::default()).await?;
    bed.sim.assign(&thread, &agent).await?;
    let outcomes = bed.sim.close_thread(&thread).await?;
    assert!(
        outcomes.iter().all(|o| o.status == Some(200)),
        "{outcomes:?}"
    );
    let all = events(&bed);
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(
        all[1],
        Event::HitlStopped(HitlStopped {
            conversation_id: conversation.clone()
        })
    );
    assert!(
        bed.bot
            .state_get(Scope::Conversation, &conversation, "handoff")?
            .is_none(),
        "the mapping ended"
    );
    // A second close (HubSpot retrying, or the thread closed again) emits nothing more.
    bed.sim.close_thread(&thread).await?;
    assert_eq!(events(&bed).len(), 2);
    // Stopping afterwards from the bot is harmless.
    ok(bed.runtime.stop_hitl(&bed.ctx, &conversation, None).await?)?;
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_payload_kind_reaches_the_agent() -> Result<()> {
    let (bed, _agent, user, conversation, thread) = live_handoff(SimConfig::default()).await?;
    let (rt, ctx) = (&bed.runtime, &bed.ctx);
    let audio = bed
        .sim
        .host_file("note.ogg", "audio/ogg", b"OggS voice".to_vec());
    let video = bed
        .sim
        .host_file("clip.mp4", "video/mp4", b"....ftypmp42".to_vec());
    let doc = bed.sim.host_file(
        "invoice-42.pdf",
        "application/pdf",
        b"%PDF invoice".to_vec(),
    );
    let image = bed.sim.host_file("photo.png", "image/png", PNG.to_vec());
    ok(rt
        .message(
            ctx,
            &conversation,
            &user,
            "a",
            &MessagePayload::Audio(audio),
        )
        .await?)?;
    ok(rt
        .message(
            ctx,
            &conversation,
            &user,
            "v",
            &MessagePayload::Video(video),
        )
        .await?)?;
    ok(rt
        .message(
            ctx,
            &conversation,
            &user,
            "f",
            &MessagePayload::File(FileRef {
                url: doc,
                title: Some("Invoice 42".into()),
            }),
        )
        .await?)?;
    let bloc = MessagePayload::Bloc(vec![
        SimplePayload::Text("first this".into()),
        SimplePayload::Image(image),
        SimplePayload::Text("then that".into()),
    ]);
    ok(rt.message(ctx, &conversation, &user, "b", &bloc).await?)?;

    let messages: Vec<Value> = bed
        .sim
        .thread_messages(&thread)
        .into_iter()
        .skip(1)
        .collect();
    let summary: Vec<(String, Option<String>)> = messages
        .iter()
        .map(|m| {
            (
                m["text"].as_str().unwrap_or_default().to_owned(),
                m["attachments"][0]["fileUsageType"]
                    .as_str()
                    .map(str::to_owned),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("note.ogg".to_owned(), Some("AUDIO".to_owned())),
            ("clip.mp4".to_owned(), Some("OTHER".to_owned())),
            ("Invoice 42".to_owned(), Some("OTHER".to_owned())),
            ("first this".to_owned(), None),
            ("photo.png".to_owned(), Some("IMAGE".to_owned())),
            ("then that".to_owned(), None),
        ],
        "each kind as a real attachment, the bloc's parts in order"
    );
    let invoice = messages[2]["attachments"][0]["fileId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(
        bed.sim.file_bytes(&invoice).as_deref(),
        Some(&b"%PDF invoice"[..])
    );
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_cannot_be_attached_arrives_as_a_link_with_a_log_line() -> Result<()> {
    let (bed, _agent, user, conversation, thread) = live_handoff(SimConfig::default()).await?;
    let (rt, ctx) = (&bed.runtime, &bed.ctx);
    let huge = bed
        .sim
        .host_file("scan.tiff", "image/tiff", vec![7u8; 10 * 1024 * 1024 + 1]);
    ok(rt
        .message(
            ctx,
            &conversation,
            &user,
            "big",
            &MessagePayload::Image(huge.clone()),
        )
        .await?)?;
    bed.sim.inject(hubspot_sim::Fault::FailNext {
        endpoint: Some("POST /files/v3/files".into()),
        status: 400,
        count: 1,
        retry_after_secs: None,
    });
    let small = bed.sim.host_file("ok.png", "image/png", PNG.to_vec());
    ok(rt
        .message(
            ctx,
            &conversation,
            &user,
            "refused",
            &MessagePayload::Image(small.clone()),
        )
        .await?)?;
    let gone = "http://127.0.0.1:1/nowhere.png".to_owned();
    ok(rt
        .message(
            ctx,
            &conversation,
            &user,
            "gone",
            &MessagePayload::Image(gone.clone()),
        )
        .await?)?;

    let texts = incoming_texts(&bed.sim.thread_messages(&thread));
    for (url, i) in [(&huge, 1), (&small, 2), (&gone, 3)] {
        assert!(
            texts[i].contains(url.as_str()),
            "message {i} links {url}: {}",
            texts[i]
        );
    }
    let warnings = bed
        .logs_of(&bed.ctx.integration_id)
        .into_iter()
        .filter(|(_, l)| l.contains("sending a link instead"))
        .count();
    assert_eq!(warnings, 3, "one log line per file sent as a link");
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_never_fails_because_the_thread_was_already_closed() -> Result<()> {
    let (bed, _agent, _user, conversation, thread) = live_handoff(SimConfig::default()).await?;
    // The agent closes the thread, but the notice never reaches us (no app webhook URL).
    bed.sim.set_app_webhook_url(None);
    bed.sim.close_thread(&thread).await?;
    assert!(events(&bed).is_empty());
    ok(bed.runtime.stop_hitl(&bed.ctx, &conversation, None).await?)?;
    let thread_state = bed
        .sim
        .threads()
        .into_iter()
        .find(|t| t["id"] == thread.as_str())
        .expect("thread");
    assert_eq!(thread_state["status"], "CLOSED");
    assert!(
        bed.bot
            .state_get(Scope::Conversation, &conversation, "handoff")?
            .is_none(),
        "the mapping ended"
    );
    // And a second stop of the same handoff is a no-op.
    ok(bed.runtime.stop_hitl(&bed.ctx, &conversation, None).await?)?;
    bed.shutdown().await;
    Ok(())
}
