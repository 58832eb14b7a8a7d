//! The simulator's HubSpot endpoints over real loopback HTTP: happy paths and refusals.

mod common;

use std::time::Duration;

use common::*;
use hubspot_sim::{Fault, Inbox, InboxKind, NewContact, SimConfig, Simulator};
use serde_json::{Value, json};

async fn form(sim: &Simulator, fields: &[(&str, &str)]) -> (u16, Value) {
    let r = http()
        .post(format!("{}/oauth/v1/token", sim.base_url()))
        .form(fields)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn refresh_grant_answers_tokens_and_refuses_bad_credentials() {
    let sim = start().await;
    let (s, v) = form(
        &sim,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "sim-client-id"),
            ("client_secret", "sim-client-secret"),
            ("refresh_token", "sim-refresh-token"),
        ],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["token_type"], "bearer");
    assert_eq!(v["expires_in"], 1800);
    assert_eq!(v["hub_id"], 62515);
    assert_eq!(v["refresh_token"], "sim-refresh-token");
    assert!(
        v["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "conversations.read")
    );
    assert!(v["access_token"].as_str().is_some_and(|t| !t.is_empty()));

    for (fields, status) in [
        (
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", "nope"),
                ("client_secret", "sim-client-secret"),
                ("refresh_token", "sim-refresh-token"),
            ],
            "BAD_CLIENT_ID",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", "sim-client-id"),
                ("client_secret", "nope"),
                ("refresh_token", "sim-refresh-token"),
            ],
            "BAD_CLIENT_SECRET",
        ),
        (
            vec![
                ("grant_type", "refresh_token"),
                ("client_id", "sim-client-id"),
                ("client_secret", "sim-client-secret"),
                ("refresh_token", "nope"),
            ],
            "BAD_REFRESH_TOKEN",
        ),
        (
            vec![
                ("client_id", "sim-client-id"),
                ("client_secret", "sim-client-secret"),
                ("refresh_token", "sim-refresh-token"),
            ],
            "BAD_GRANT_TYPE",
        ),
    ] {
        let (s, v) = form(&sim, &fields).await;
        assert_eq!(s, 400, "{status}");
        assert_eq!(v["status"], status);
        assert!(v["message"].is_string() && v["correlationId"].is_string());
    }
}

#[tokio::test]
async fn rotated_refresh_token_replaces_the_old_one() {
    let sim = Simulator::start(SimConfig {
        rotate_refresh_token: true,
        ..config()
    })
    .await
    .unwrap();
    let base = [
        ("grant_type", "refresh_token"),
        ("client_id", "sim-client-id"),
        ("client_secret", "sim-client-secret"),
    ];
    let mut f = base.to_vec();
    f.push(("refresh_token", "sim-refresh-token"));
    let (s, v) = form(&sim, &f).await;
    assert_eq!(s, 200);
    let rotated = v["refresh_token"].as_str().unwrap().to_string();
    assert_ne!(rotated, "sim-refresh-token");
    let (s, v) = form(&sim, &f).await;
    assert_eq!((s, v["status"].as_str()), (400, Some("BAD_REFRESH_TOKEN")));
    let mut f = base.to_vec();
    f.push(("refresh_token", rotated.as_str()));
    assert_eq!(form(&sim, &f).await.0, 200);
}

#[tokio::test]
async fn authorization_code_grant_checks_the_redirect_uri_and_is_single_use() {
    let sim = start().await;
    let uri = "http://127.0.0.1:9/callback";
    let code = sim.issue_auth_code(uri);
    let grant = |redirect: &'static str, code: String| {
        let sim = sim.clone();
        async move {
            form(
                &sim,
                &[
                    ("grant_type", "authorization_code"),
                    ("client_id", "sim-client-id"),
                    ("client_secret", "sim-client-secret"),
                    ("redirect_uri", redirect),
                    ("code", code.as_str()),
                ],
            )
            .await
        }
    };
    let (s, v) = grant("http://127.0.0.1:9/other", code.clone()).await;
    assert_eq!((s, v["status"].as_str()), (400, Some("BAD_REDIRECT_URI")));
    let (s, v) = grant("http://127.0.0.1:9/callback", code.clone()).await;
    assert_eq!(s, 200, "{v}");
    let refresh = v["refresh_token"].as_str().unwrap().to_string();
    let (s, v) = grant("http://127.0.0.1:9/callback", code.clone()).await;
    assert_eq!((s, v["status"].as_str()), (400, Some("BAD_AUTH_CODE")));
    let (s, v) = grant("http://127.0.0.1:9/callback", "made-up".into()).await;
    assert_eq!((s, v["status"].as_str()), (400, Some("BAD_AUTH_CODE")));
    let (s, _) = form(
        &sim,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", "sim-client-id"),
            ("client_secret", "sim-client-secret"),
            ("refresh_token", refresh.as_str()),
        ],
    )
    .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn authorize_redirects_only_to_registered_uris() {
    let uri = "http://127.0.0.1:9/cb";
    let sim = Simulator::start(SimConfig {
        redirect_uris: vec![uri.into()],
        ..config()
    })
    .await
    .unwrap();
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let url = |redirect: &str| {
        let mut u = url::Url::parse(&format!("{}/oauth/authorize", sim.base_url())).unwrap();
        u.query_pairs_mut()
            .append_pair("client_id", "sim-client-id")
            .append_pair("redirect_uri", redirect)
            .append_pair("scope", "conversations.read crm.objects.contacts.read")
            .append_pair("state", "xyz");
        u
    };
    let r = client.get(url(uri)).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let location = url::Url::parse(r.headers()["location"].to_str().unwrap()).unwrap();
    assert!(location.as_str().starts_with(uri));
    let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
    assert_eq!(q["state"], "xyz");
    let (s, _) = form(
        &sim,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", "sim-client-id"),
            ("client_secret", "sim-client-secret"),
            ("redirect_uri", uri),
            ("code", q["code"].as_str()),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let r = client
        .get(url("http://127.0.0.1:9/elsewhere"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn expired_revoked_and_missing_tokens_answer_401() {
    let sim = Simulator::start(SimConfig {
        token_lifetime: Duration::ZERO,
        ..config()
    })
    .await
    .unwrap();
    let t = token(&sim).await;
    let r = http()
        .get(format!(
            "{}/conversations/v3/conversations/inboxes",
            sim.base_url()
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["category"], "EXPIRED_AUTHENTICATION");
    assert!(v["message"].as_str().unwrap().contains("expired"));

    let sim = start().await;
    let t = token(&sim).await;
    let inboxes = format!("{}/conversations/v3/conversations/inboxes", sim.base_url());
    assert_eq!(
        http()
            .get(&inboxes)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let r = http().get(&inboxes).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.json::<Value>().await.unwrap()["category"],
        "INVALID_AUTHENTICATION"
    );
    sim.inject(Fault::ExpireTokens);
    let r = http().get(&inboxes).bearer_auth(&t).send().await.unwrap();
    assert_eq!(
        r.json::<Value>().await.unwrap()["category"],
        "EXPIRED_AUTHENTICATION"
    );
    let t2 = token(&sim).await;
    assert_eq!(
        http()
            .get(&inboxes)
            .bearer_auth(&t2)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    sim.inject(Fault::RevokeRefreshToken);
    assert_eq!(
        http()
            .get(&inboxes)
            .bearer_auth(&t2)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let c = sim.config();
    let (s, v) = form(
        &sim,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", &c.client_id),
            ("client_secret", &c.client_secret),
            ("refresh_token", &c.refresh_token),
        ],
    )
    .await;
    assert_eq!((s, v["status"].as_str()), (400, Some("BAD_REFRESH_TOKEN")));
}

#[tokio::test]
async fn channels_need_the_developer_key_and_validate_their_body() {
    let sim = start().await;
    let t = token(&sim).await;
    let base = format!("{}/conversations/v3/custom-channels/", sim.base_url());
    let q = dev_query(&sim);
    let body = json!({ "name": "C", "capabilities": capabilities(), "webhookUrl": "https://example.com/hook" });

    let r = http()
        .post(&base)
        .bearer_auth(&t)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "bearer on a hapikey endpoint");
    let r = http()
        .post(format!("{base}?{q}"))
        .bearer_auth(&t)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "bearer beside a hapikey");
    let r = http()
        .post(format!("{base}?hapikey=wrong&appId=1234567"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = http()
        .post(format!("{base}?{q}"))
        .json(&json!({"name": "C"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["category"], "VALIDATION_ERROR");
    assert!(v["message"].as_str().unwrap().contains("capabilities"));
    let mut bad = body.clone();
    bad["capabilities"]["richText"] = json!("HYPERLINK");
    assert_eq!(
        http()
            .post(format!("{base}?{q}"))
            .json(&bad)
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let r = http()
        .post(format!("{base}?{q}"))
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(
        r.json::<Value>().await.unwrap()["category"],
        "VALIDATION_ERROR"
    );

    let mut ids = vec![];
    for i in 0..3 {
        let mut b = body.clone();
        b["name"] = json!(format!("C{i}"));
        let r = http()
            .post(format!("{base}?{q}"))
            .json(&b)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["capabilities"]["richText"], json!(["HYPERLINK"]));
        assert_eq!(v["webhookUrl"], "https://example.com/hook");
        ids.push(v["id"].as_str().unwrap().to_string());
    }
    let v: Value = http()
        .get(format!("{base}?{q}&limit=2"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["total"], 3);
    assert_eq!(v["results"].as_array().unwrap().len(), 2);
    let after = v["paging"]["next"]["after"].as_str().unwrap();
    let v: Value = http()
        .get(format!("{base}?{q}&limit=2&after={after}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["results"][0]["id"], ids[2].as_str());
    assert!(v.get("paging").is_none());

    let one = format!("{base}{}?{q}", ids[0]);
    let r = http()
        .patch(&one)
        .json(&json!({"name": "Renamed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["name"], "Renamed");
    assert_eq!(
        http()
            .get(&one)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["name"],
        "Renamed"
    );
    assert_eq!(http().delete(&one).send().await.unwrap().status(), 204);
    let r = http().get(&one).send().await.unwrap();
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.json::<Value>().await.unwrap()["category"],
        "OBJECT_NOT_FOUND"
    );
    assert_eq!(
        http()
            .get(format!("{base}999?{q}"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

#[tokio::test]
async fn a_new_channel_is_listed_only_after_the_delay() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let q = dev_query(&sim);
    let base = format!("{}/conversations/v3/custom-channels", sim.base_url());
    let r = http()
        .post(format!("{base}?{q}"))
        .json(&json!({"name": "C", "capabilities": capabilities()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let v: Value = http()
        .get(format!("{base}?{q}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["total"], 0);
    assert_eq!(
        http()
            .get(format!("{base}/{id}?{q}"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(sim.channels().len(), 1);
}

#[tokio::test]
async fn channel_accounts_validate_and_honour_the_account_delay() {
    let sim = start().await;
    let t = token(&sim).await;
    let (channel, account) = channel_and_account(&sim, &t, None).await;
    let accounts = format!(
        "{}/conversations/v3/custom-channels/{channel}/channel-accounts",
        sim.base_url()
    );

    let r = http()
        .post(&accounts)
        .query(&[("hapikey", "sim-dev-api-key")])
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "hapikey on a bearer endpoint");
    let r = http()
        .post(&accounts)
        .bearer_auth(&t)
        .json(&json!({"inboxId": "1431487401", "name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(
        r.json::<Value>().await.unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("authorized")
    );
    let r = http()
        .post(&accounts)
        .bearer_auth(&t)
        .json(&json!({"inboxId": "42", "name": "x", "authorized": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http()
        .post(format!(
            "{}/conversations/v3/custom-channels/777/channel-accounts",
            sim.base_url()
        ))
        .bearer_auth(&t)
        .json(&json!({"inboxId": "1431487401", "name": "x", "authorized": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let v: Value = http()
        .get(&accounts)
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["total"], 1);
    assert_eq!(v["results"][0]["inboxId"], "1431487401");
    let v: Value = http()
        .get(format!("{accounts}?deliveryIdentifierType=CHANNEL_SPECIFIC_OPAQUE_ID&deliveryIdentifierValue=other"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["total"], 0);
    let one = format!("{accounts}/{account}");
    let v: Value = http()
        .get(&one)
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (v["authorized"].as_bool(), v["active"].as_bool()),
        (Some(true), Some(true))
    );
    let r = http()
        .patch(&one)
        .bearer_auth(&t)
        .json(&json!({"authorized": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.json::<Value>().await.unwrap()["authorized"], false);
    assert_eq!(
        http()
            .get(format!("{accounts}/1"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let slow = Simulator::start(SimConfig {
        channel_account_delay: Duration::from_secs(3600),
        ..config()
    })
    .await
    .unwrap();
    let t = token(&slow).await;
    let r = http()
        .post(format!(
            "{}/conversations/v3/custom-channels/?{}",
            slow.base_url(),
            dev_query(&slow)
        ))
        .json(&json!({"name": "C", "capabilities": capabilities()}))
        .send()
        .await
        .unwrap();
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = http()
        .post(format!(
            "{}/conversations/v3/custom-channels/{id}/channel-accounts",
            slow.base_url()
        ))
        .bearer_auth(&t)
        .json(&json!({"inboxId": "1431487401", "name": "x", "authorized": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "a channel HubSpot does not know yet");
}

#[tokio::test]
async fn publishing_messages_makes_threads_and_validates() {
    let sim = start().await;
    let contact = sim.add_contact(NewContact {
        email: Some("ada@example.com".into()),
        ..Default::default()
    });
    let t = token(&sim).await;
    let (channel, account) = channel_and_account(&sim, &t, None).await;

    let mut no_attachments = incoming(&account, "it-1", "hi", "ada@example.com");
    no_attachments
        .as_object_mut()
        .unwrap()
        .remove("attachments");
    let (s, v) = publish(&sim, &t, &channel, &no_attachments).await;
    assert_eq!(s, 400);
    assert_eq!(v["category"], "VALIDATION_ERROR");
    assert!(v["message"].as_str().unwrap().contains("attachments"));

    let (s, first) = publish(
        &sim,
        &t,
        &channel,
        &incoming(&account, "it-1", "hello", "ada@example.com"),
    )
    .await;
    assert_eq!(s, 201, "{first}");
    let thread = first["conversationsThreadId"].as_str().unwrap().to_string();
    assert_eq!(first["direction"], "INCOMING");
    assert_eq!(first["senders"][0]["actorId"], format!("V-{contact}"));
    assert!(first.get("integrationThreadId").is_none());
    let (_, second) = publish(
        &sim,
        &t,
        &channel,
        &incoming(&account, "it-1", "again", "ada@example.com"),
    )
    .await;
    assert_eq!(second["conversationsThreadId"], thread.as_str());
    let (_, other) = publish(
        &sim,
        &t,
        &channel,
        &incoming(&account, "it-2", "new", "ada@example.com"),
    )
    .await;
    assert_ne!(other["conversationsThreadId"], thread.as_str());

    let mut idem = incoming(&account, "it-1", "once", "ada@example.com");
    idem["integrationIdempotencyId"] = json!("msg-1");
    let (s1, a) = publish(&sim, &t, &channel, &idem).await;
    let (s2, b) = publish(&sim, &t, &channel, &idem).await;
    assert_eq!((s1, s2), (201, 201));
    assert_eq!(a["id"], b["id"]);
    assert_eq!(sim.thread_messages(&thread).len(), 3);

    let mut bad_file = incoming(&account, "it-1", "f", "ada@example.com");
    bad_file["attachments"] = json!([{"type": "FILE", "fileId": "123"}]);
    assert_eq!(publish(&sim, &t, &channel, &bad_file).await.0, 400);
    let mut bad_account = incoming("999", "it-1", "x", "ada@example.com");
    bad_account["channelAccountId"] = json!("999");
    assert_eq!(publish(&sim, &t, &channel, &bad_account).await.0, 404);
    assert_eq!(
        publish(&sim, &t, "4242", &incoming(&account, "it-1", "x", "a@b.c"))
            .await
            .0,
        404
    );
    let mut bad_time = incoming(&account, "it-1", "x", "ada@example.com");
    bad_time["timestamp"] = json!("yesterday");
    assert_eq!(publish(&sim, &t, &channel, &bad_time).await.0, 400);

    let msg_url = format!(
        "{}/conversations/v3/custom-channels/{channel}/messages/{}",
        sim.base_url(),
        first["id"].as_str().unwrap()
    );
    let v: Value = http()
        .get(&msg_url)
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["text"], "hello");
    let r = http()
        .patch(&msg_url)
        .bearer_auth(&t)
        .json(&json!({"statusType": "FAILED", "errorMessage": "bounced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<Value>().await.unwrap()["status"]["statusType"],
        "FAILED"
    );
    assert_eq!(
        http()
            .patch(&msg_url)
            .bearer_auth(&t)
            .json(&json!({"statusType": "LOST"}))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );

    let th = format!(
        "{}/conversations/v3/conversations/threads/{thread}",
        sim.base_url()
    );
    let v: Value = http()
        .get(&th)
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["status"], "OPEN");
    assert_eq!(v["associatedContactId"], contact.as_str());
    assert_eq!(v["inboxId"], "1431487401");
    assert_eq!(v["originalChannelId"], channel.as_str());
    let v: Value = http()
        .get(format!("{th}/messages"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["results"].as_array().unwrap().len(), 3);
    let r = http()
        .get(format!("{th}/messages/{}", first["id"].as_str().unwrap()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn file_attachments_reference_uploaded_files() {
    let sim = start().await;
    let t = token(&sim).await;
    let (channel, account) = channel_and_account(&sim, &t, None).await;
    let bytes = b"\x89PNG fake image bytes".to_vec();
    let upload = |name: &'static str, with_options: bool, bytes: Vec<u8>| {
        let sim = sim.clone();
        let t = t.clone();
        async move {
            let mut form = reqwest::multipart::Form::new()
                .part(
                    "file",
                    reqwest::multipart::Part::bytes(bytes)
                        .file_name(name)
                        .mime_str("image/png")
                        .unwrap(),
                )
                .text("folderPath", "/conversations");
            if with_options {
                form = form.text("options", r#"{"access":"PRIVATE"}"#);
            }
            let r = http()
                .post(format!("{}/files/v3/files", sim.base_url()))
                .bearer_auth(&t)
                .multipart(form)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, v) = upload("pic.png", false, bytes.clone()).await;
    assert_eq!(s, 400, "{v}");
    let (s, file) = upload("pic.png", true, bytes.clone()).await;
    assert_eq!(s, 201, "{file}");
    assert_eq!(file["size"], bytes.len());
    assert_eq!(file["extension"], "png");
    let served = http()
        .get(file["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(served.headers()["content-type"], "image/png");
    assert_eq!(served.bytes().await.unwrap().to_vec(), bytes);
    assert_eq!(sim.file_bytes(file["id"].as_str().unwrap()).unwrap(), bytes);

    let mut msg = incoming(&account, "it-f", "see", "x@example.com");
    msg["attachments"] = json!([{"type": "FILE", "fileId": file["id"], "fileUsageType": "IMAGE"}]);
    let (s, v) = publish(&sim, &t, &channel, &msg).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["attachments"][0]["url"], file["url"]);
    assert_eq!(v["attachments"][0]["name"], "pic.png");

    let small = Simulator::start(SimConfig {
        max_attachment_bytes: 8,
        ..config()
    })
    .await
    .unwrap();
    let t = token(&small).await;
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![0u8; 64]).file_name("big.bin"),
        )
        .text("folderPath", "/x")
        .text("options", r#"{"access":"PRIVATE"}"#);
    let r = http()
        .post(format!("{}/files/v3/files", small.base_url()))
        .bearer_auth(&t)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);

    let url = sim.host_file("photo one.jpg", "image/jpeg", vec![1, 2, 3]);
    let r = http().get(&url).send().await.unwrap();
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.bytes().await.unwrap().to_vec(), vec![1, 2, 3]);
}

#[tokio::test]
async fn conversations_inboxes_threads_and_actors() {
    let sim = start().await;
    sim.add_inbox(Inbox {
        id: "555".into(),
        name: "Second desk".into(),
        kind: InboxKind::HelpDesk,
    });
    let t = token(&sim).await;
    let v: Value = http()
        .get(format!(
            "{}/conversations/v3/conversations/inboxes",
            sim.base_url()
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = v["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["INBOX", "HELP_DESK", "HELP_DESK"]);

    let agent = sim.add_agent(
        "Grace Hopper",
        "grace@example.com",
        Some("https://example.com/g.png"),
    );
    assert!(agent.starts_with("A-"));
    let actor = |id: String| {
        let (sim, t) = (sim.clone(), t.clone());
        async move {
            let r = http()
                .get(format!(
                    "{}/conversations/v3/conversations/actors/{id}",
                    sim.base_url()
                ))
                .bearer_auth(&t)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, v) = actor(agent.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"id": agent, "type": "AGENT", "name": "Grace Hopper", "email": "grace@example.com", "avatar": "https://example.com/g.png"})
    );
    assert_eq!(actor("A-1".into()).await.0, 404);

    let (channel, account) = channel_and_account(&sim, &t, None).await;
    let (_, m) = publish(
        &sim,
        &t,
        &channel,
        &incoming(&account, "t1", "hi", "v@example.com"),
    )
    .await;
    let visitor = m["senders"][0]["actorId"].as_str().unwrap().to_string();
    let (s, v) = actor(visitor).await;
    assert_eq!(
        (s, v["type"].as_str(), v["email"].as_str()),
        (200, Some("VISITOR"), Some("v@example.com"))
    );

    let th = format!(
        "{}/conversations/v3/conversations/threads/{}",
        sim.base_url(),
        m["conversationsThreadId"].as_str().unwrap()
    );
    let r = http()
        .patch(&th)
        .bearer_auth(&t)
        .json(&json!({"status": "CLOSED"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "CLOSED");
    assert!(v["closedAt"].is_string());
    assert_eq!(
        http()
            .patch(&th)
            .bearer_auth(&t)
            .json(&json!({"status": "DONE"}))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let (_, again) = publish(
        &sim,
        &t,
        &channel,
        &incoming(&account, "t1", "back", "v@example.com"),
    )
    .await;
    assert_eq!(again["conversationsThreadId"], m["conversationsThreadId"]);
    assert_eq!(
        http()
            .get(&th)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .json::<Value>()
            .await
            .unwrap()["status"],
        "OPEN"
    );
    assert_eq!(
        http()
            .delete(&th)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        http()
            .get(&th)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    let r = http()
        .get(format!(
            "{}/conversations/v3/conversations/threads/123",
            sim.base_url()
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn crm_contacts_by_email_and_search_by_phone() {
    let sim = start().await;
    let id = sim.add_contact(NewContact {
        email: Some("ada@example.com".into()),
        phone: Some("+1 555 0100".into()),
        firstname: Some("Ada".into()),
        ..Default::default()
    });
    let t = token(&sim).await;
    let get = |email: &str| {
        let (sim, t) = (sim.clone(), t.clone());
        let url = format!(
            "{}/crm/v3/objects/contacts/{email}?idProperty=email&properties=email,firstname,phone",
            sim.base_url()
        );
        async move {
            let r = http().get(url).bearer_auth(&t).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let (s, v) = get("ada@example.com").await;
    assert_eq!(s, 200);
    assert_eq!(v["id"], id.as_str());
    assert_eq!(v["properties"]["phone"], "+1 555 0100");
    assert_eq!(v["properties"]["firstname"], "Ada");
    let (s, v) = get("nobody@example.com").await;
    assert_eq!((s, v["category"].as_str()), (404, Some("OBJECT_NOT_FOUND")));

    let search = |prop: &str, value: &str| {
        let (sim, t) = (sim.clone(), t.clone());
        let body = json!({"filterGroups": [{"filters": [{"propertyName": prop, "operator": "EQ", "value": value}]}],
                          "properties": ["email", "phone"], "limit": 1});
        async move {
            let r = http()
                .post(format!("{}/crm/v3/objects/contacts/search", sim.base_url()))
                .bearer_auth(&t)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(
                r.headers().get("x-hubspot-ratelimit-max").is_none(),
                "search is outside the app limit"
            );
            r.json::<Value>().await.unwrap()
        }
    };
    let v = search("phone", "+1 555 0100").await;
    assert_eq!(v["total"], 1);
    assert_eq!(v["results"][0]["id"], id.as_str());
    assert_eq!(search("mobilephone", "+1 555 0100").await["total"], 0);
}

#[tokio::test]
async fn unknown_paths_wrong_methods_and_introspection() {
    let sim = start().await;
    let t = token(&sim).await;
    let r = http()
        .get(format!("{}/crm/v3/objects/deals", sim.base_url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        (v["status"].as_str(), v["category"].as_str()),
        (Some("error"), Some("OBJECT_NOT_FOUND"))
    );
    assert!(v["correlationId"].is_string());
    let r = http()
        .put(format!(
            "{}/conversations/v3/conversations/inboxes",
            sim.base_url()
        ))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 405);

    let (channel, account) = channel_and_account(&sim, &t, None).await;
    publish(&sim, &t, &channel, &incoming(&account, "x", "hi", "a@b.c")).await;
    assert_eq!(
        sim.call_count("POST /conversations/v3/custom-channels/{channelId}/messages"),
        1
    );
    assert_eq!(sim.call_count("POST /conversations/v3/custom-channels/"), 1);
    assert_eq!(sim.call_count("POST /oauth/v1/token"), 1);
    let reqs = sim.requests();
    let last = reqs.last().unwrap();
    assert_eq!(last.method, "POST");
    assert_eq!(last.status, 201);
    assert_eq!(
        last.endpoint,
        "POST /conversations/v3/custom-channels/{channelId}/messages"
    );
    assert!(String::from_utf8_lossy(&last.body).contains("\"hi\""));
    assert!(reqs.iter().any(|r| r.status == 405));
    sim.clear_requests();
    assert!(sim.requests().is_empty());
    assert_eq!(sim.call_count("POST /oauth/v1/token"), 0);
}

#[tokio::test]
async fn rate_limit_headers_and_429() {
    let sim = Simulator::start(SimConfig {
        rate_limit: Some((3, Duration::from_secs(3600))),
        ..config()
    })
    .await
    .unwrap();
    let t = token(&sim).await;
    let url = format!("{}/conversations/v3/conversations/inboxes", sim.base_url());
    for remaining in ["2", "1", "0"] {
        let r = http().get(&url).bearer_auth(&t).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-hubspot-ratelimit-max"], "3");
        assert_eq!(r.headers()["x-hubspot-ratelimit-remaining"], remaining);
        assert_eq!(
            r.headers()["x-hubspot-ratelimit-interval-milliseconds"],
            "3600000"
        );
    }
    let r = http().get(&url).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["x-hubspot-ratelimit-remaining"], "0");
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["errorType"], "RATE_LIMIT");
    assert_eq!(v["policyName"], "TEN_SECONDLY_ROLLING");
    assert_eq!(v["status"], "error");
    assert!(!token(&sim).await.is_empty(), "OAuth is outside the limit");
}

#[tokio::test]
async fn injected_failures_and_slow_answers() {
    let sim = start().await;
    let t = token(&sim).await;
    let url = format!("{}/conversations/v3/conversations/inboxes", sim.base_url());
    sim.inject(Fault::FailNext {
        endpoint: Some("GET /conversations/v3/conversations/inboxes".into()),
        status: 429,
        count: 1,
        retry_after_secs: Some(7),
    });
    sim.inject(Fault::FailNext {
        endpoint: None,
        status: 503,
        count: 1,
        retry_after_secs: None,
    });
    let r = http().get(&url).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "7");
    assert!(r.headers().get("x-hubspot-ratelimit-max").is_some());
    assert_eq!(r.json::<Value>().await.unwrap()["errorType"], "RATE_LIMIT");
    let r = http().get(&url).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert!(r.headers().get("retry-after").is_none());
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "error");
    assert_eq!(
        http()
            .get(&url)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    sim.inject(Fault::FailNext {
        endpoint: Some("POST /oauth/v1/token".into()),
        status: 502,
        count: 2,
        retry_after_secs: None,
    });
    sim.clear_faults();
    token(&sim).await;

    sim.inject(Fault::Slow {
        endpoint: None,
        delay: Duration::from_millis(50),
        count: 1,
    });
    assert_eq!(
        http()
            .get(&url)
            .bearer_auth(&t)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
}

#[tokio::test]
async fn shutdown_stops_serving_even_with_idle_keep_alive_connections() {
    let sim = start().await;
    let client = http();
    let url = format!("{}/nope", sim.base_url());
    assert_eq!(client.get(&url).send().await.unwrap().status(), 404);
    tokio::time::timeout(Duration::from_secs(30), sim.shutdown())
        .await
        .expect("shutdown completes");
    assert!(http().get(&url).send().await.is_err());
}
