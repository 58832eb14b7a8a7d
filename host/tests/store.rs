//! The bot store: state (with an atomic swap), records found by tags, messages, events, logs.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use hitl_host::types::{Event, HitlStopped, LogLevel, MessagePayload, Scope};
use hitl_host::{BotNotice, BotStore};

fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn state_swap_writes_only_when_the_current_value_is_the_expected_one() {
    let store = BotStore::in_memory().unwrap();
    let (scope, id, name) = (Scope::Integration, "inst-1", "token");

    // absent → value, only when absence is expected
    assert!(
        !store
            .state_swap(scope, id, name, Some("x"), Some("a"))
            .unwrap()
    );
    assert!(store.state_swap(scope, id, name, None, Some("a")).unwrap());
    assert_eq!(
        store.state_get(scope, id, name).unwrap().as_deref(),
        Some("a")
    );

    // a second "create if absent" loses
    assert!(!store.state_swap(scope, id, name, None, Some("b")).unwrap());
    assert_eq!(
        store.state_get(scope, id, name).unwrap().as_deref(),
        Some("a")
    );

    // value → value
    assert!(
        store
            .state_swap(scope, id, name, Some("a"), Some("b"))
            .unwrap()
    );
    assert!(
        !store
            .state_swap(scope, id, name, Some("a"), Some("c"))
            .unwrap()
    );
    assert_eq!(
        store.state_get(scope, id, name).unwrap().as_deref(),
        Some("b")
    );

    // value → absent
    assert!(store.state_swap(scope, id, name, Some("b"), None).unwrap());
    assert_eq!(store.state_get(scope, id, name).unwrap(), None);

    // absent → absent is a successful no-op
    assert!(store.state_swap(scope, id, name, None, None).unwrap());
    assert_eq!(store.state_get(scope, id, name).unwrap(), None);
}

#[test]
fn state_swap_has_one_winner_among_concurrent_callers() {
    let store = BotStore::in_memory().unwrap();
    let winners = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let (store, winners) = (store.clone(), winners.clone());
            std::thread::spawn(move || {
                let mine = format!("caller-{i}");
                if store
                    .state_swap(Scope::Integration, "inst-1", "channel", None, Some(&mine))
                    .unwrap()
                {
                    winners.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(winners.load(Ordering::SeqCst), 1);
}

#[test]
fn state_is_keyed_by_scope_id_and_name() {
    let store = BotStore::in_memory().unwrap();
    store.state_set(Scope::Integration, "x", "n", "1").unwrap();
    store.state_set(Scope::Conversation, "x", "n", "2").unwrap();
    store.state_set(Scope::User, "x", "n", "3").unwrap();
    store.state_set(Scope::User, "x", "n", "4").unwrap();
    assert_eq!(
        store
            .state_get(Scope::Integration, "x", "n")
            .unwrap()
            .as_deref(),
        Some("1")
    );
    assert_eq!(
        store
            .state_get(Scope::Conversation, "x", "n")
            .unwrap()
            .as_deref(),
        Some("2")
    );
    assert_eq!(
        store.state_get(Scope::User, "x", "n").unwrap().as_deref(),
        Some("4")
    );
    store.state_delete(Scope::Conversation, "x", "n").unwrap();
    assert_eq!(store.state().len(), 2);
}

#[test]
fn users_are_found_by_all_their_tags_within_an_installation() {
    let store = BotStore::in_memory().unwrap();
    let agent = store
        .get_or_create_user(
            "inst-1",
            &tags(&[("actorId", "A-1"), ("kind", "agent")]),
            Some("Ann"),
            None,
        )
        .unwrap();
    // a subset of the tags finds it; name kept when not given, picture set when given
    let again = store
        .get_or_create_user(
            "inst-1",
            &tags(&[("actorId", "A-1")]),
            None,
            Some("https://pic"),
        )
        .unwrap();
    assert_eq!(again.id, agent.id);
    assert_eq!(again.name.as_deref(), Some("Ann"));
    assert_eq!(again.picture_url.as_deref(), Some("https://pic"));
    // a tag it does not carry makes a new user
    let other = store
        .get_or_create_user(
            "inst-1",
            &tags(&[("actorId", "A-1"), ("kind", "bot")]),
            None,
            None,
        )
        .unwrap();
    assert_ne!(other.id, agent.id);
    // another installation never finds it
    let elsewhere = store
        .get_or_create_user("inst-2", &tags(&[("actorId", "A-1")]), None, None)
        .unwrap();
    assert_ne!(elsewhere.id, agent.id);
    assert_eq!(store.users().len(), 3);
    assert_eq!(store.user(&agent.id).unwrap().unwrap().0, "inst-1");
}

#[test]
fn conversations_are_found_by_channel_and_tags() {
    let store = BotStore::in_memory().unwrap();
    let thread = tags(&[("threadId", "42")]);
    let conv = store
        .get_or_create_conversation("inst-1", "hitl", &thread)
        .unwrap();
    assert_eq!(
        store
            .get_or_create_conversation("inst-1", "hitl", &thread)
            .unwrap(),
        conv
    );
    assert_ne!(
        store
            .get_or_create_conversation("inst-1", "chat", &thread)
            .unwrap()
            .id,
        conv.id
    );
    assert_ne!(
        store
            .get_or_create_conversation("inst-2", "hitl", &thread)
            .unwrap()
            .id,
        conv.id
    );
    assert_eq!(store.conversations().len(), 3);
}

#[tokio::test]
async fn messages_go_only_into_known_conversations_and_are_announced() {
    let store = BotStore::in_memory().unwrap();
    let mut notices = store.subscribe();
    let user = store
        .get_or_create_user("inst-1", &[], Some("End user"), None)
        .unwrap();
    let conv = store.create_conversation("inst-1", "hitl", &[]).unwrap();
    let payload = MessagePayload::Text("hello".into());

    let refused = store
        .create_message("inst-1", "conv-404", &user.id, &payload, &[])
        .unwrap();
    assert!(refused.unwrap_err().contains("conv-404"));
    // another installation's conversation is unknown to this one
    let refused = store
        .create_message("inst-2", &conv.id, &user.id, &payload, &[])
        .unwrap();
    assert!(refused.is_err());

    let message = store
        .create_message(
            "inst-1",
            &conv.id,
            &user.id,
            &payload,
            &tags(&[("hsMessageId", "m1")]),
        )
        .unwrap()
        .unwrap();
    let second = store
        .create_message(
            "inst-1",
            &conv.id,
            &user.id,
            &MessagePayload::Image("https://i".into()),
            &[],
        )
        .unwrap()
        .unwrap();
    assert_eq!(store.messages(&conv.id), vec![message.clone(), second]);

    match notices.recv().await.unwrap() {
        BotNotice::Message {
            integration,
            message: announced,
        } => {
            assert_eq!(integration, "inst-1");
            assert_eq!(announced, message);
        }
        other => panic!("unexpected notice {other:?}"),
    }
}

#[tokio::test]
async fn events_and_logs_are_recorded_per_installation() {
    let store = BotStore::in_memory().unwrap();
    let mut notices = store.subscribe();
    let event = Event::HitlStopped(HitlStopped {
        conversation_id: "conv-1".into(),
    });
    store.emit_event("inst-1", &event).unwrap();
    store.log("inst-2", LogLevel::Warn, "careful").unwrap();
    assert_eq!(store.events(), vec![("inst-1".to_string(), event.clone())]);
    assert_eq!(
        store.logs(),
        vec![("inst-2".to_string(), LogLevel::Warn, "careful".to_string())]
    );
    assert!(
        matches!(notices.recv().await.unwrap(), BotNotice::Event { event: e, .. } if e == event)
    );
}

#[test]
fn a_file_store_keeps_records_across_opens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bot.sqlite");
    let user = {
        let store = BotStore::open(&path).unwrap();
        store.state_set(Scope::User, "u", "n", "v").unwrap();
        store
            .get_or_create_user("inst-1", &tags(&[("k", "v")]), None, None)
            .unwrap()
    };
    let store = BotStore::open(&path).unwrap();
    assert_eq!(
        store.state_get(Scope::User, "u", "n").unwrap().as_deref(),
        Some("v")
    );
    assert_eq!(
        store
            .get_or_create_user("inst-1", &tags(&[("k", "v")]), None, None)
            .unwrap(),
        user
    );
}
