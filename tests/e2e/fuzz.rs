//! Fuzzing through the real component under wasmtime: arbitrary bytes, headers and configurations
//! to `webhook`, arbitrary payloads to `message`, arbitrary configurations to `register`. A trap or a
//! panic fails the test (the runtime reports it as a host error); every answer must be one of the
//! documented statuses or error variants.
//!
//! `HITL_FUZZ_CASES` sets the number of webhook cases (message and register get a fifth each);
//! `HITL_FUZZ_SEED` replays a run. CI runs a small count; the README gives the 100,000-case command.

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Result, bail};
use hitl_host::testkit::TestBed;
use hitl_host::types::{Context, FileRef, HitlError, HttpRequest, MessagePayload, SimplePayload};
use hubspot_sim::SimConfig;
use serde_json::{Value, json};

use crate::support::live_handoff;

/// A small deterministic generator (xorshift64*), so a failing seed replays.
struct Gen(u64);

impl Gen {
    fn new() -> (Self, u64) {
        let seed = std::env::var("HITL_FUZZ_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
                    | 1
            });
        (Gen(seed), seed)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
    fn bytes(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max + 1);
        (0..n).map(|_| self.next() as u8).collect()
    }
    fn text(&mut self, max: u64) -> String {
        const PIECES: &[&str] = &[
            "a", "Z", "0", " ", "%", "%3A", "\"", "\\", "{", "}", "[", "]", ",", ":", "é", "🙂",
            "\u{0}", "\n", "null", "A-", "-1", "1e999",
        ];
        let n = self.below(max + 1);
        (0..n).map(|_| *self.pick(PIECES)).collect()
    }
    fn json(&mut self, depth: u32) -> Value {
        match self.below(if depth > 3 { 5 } else { 7 }) {
            0 => Value::Null,
            1 => json!(self.chance(50)),
            2 => json!(self.next() as i64 >> self.below(64)),
            3 => json!(
                f64::from_bits(self.next())
                    .is_finite()
                    .then(|| (self.next() % 1000) as f64 / 7.0)
            ),
            4 => json!(self.text(20)),
            5 => Value::Array((0..self.below(4)).map(|_| self.json(depth + 1)).collect()),
            _ => {
                let keys = [
                    "type",
                    "subscriptionType",
                    "objectId",
                    "portalId",
                    "appId",
                    "propertyName",
                    "propertyValue",
                    "message",
                    "id",
                    "occurredAt",
                    "channelId",
                    "x",
                ];
                Value::Object(
                    (0..self.below(6))
                        .map(|_| (self.pick(&keys).to_string(), self.json(depth + 1)))
                        .collect(),
                )
            }
        }
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn cases() -> u64 {
    std::env::var("HITL_FUZZ_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400)
}

/// A webhook event that is close to a real one, with some fields replaced by noise.
fn plausible_event(g: &mut Gen, thread: &str, agent: &str) -> Value {
    let thread_value = if g.chance(70) {
        json!(thread)
    } else {
        g.json(2)
    };
    let actor = if g.chance(60) {
        json!(agent)
    } else {
        g.json(1)
    };
    let mut event = match g.below(4) {
        0 => {
            json!({"subscriptionType": "conversation.propertyChange", "objectId": thread_value, "portalId": 62515,
                    "appId": 1234567, "occurredAt": now_ms(), "propertyName": "assignedTo", "propertyValue": actor})
        }
        1 => {
            json!({"subscriptionType": "conversation.propertyChange", "objectId": thread_value, "portalId": 62515,
                    "propertyName": *g.pick(&["status", "isArchived", "assignedTo"]), "propertyValue": *g.pick(&["CLOSED", "OPEN", "true", ""])})
        }
        2 => json!({"type": "OUTGOING_CHANNEL_MESSAGE_CREATED", "portalId": "62515",
                    "message": {"id": g.text(8), "conversationsThreadId": thread_value, "direction": *g.pick(&["OUTGOING", "INCOMING", ""]),
                                "text": g.text(40), "senders": [{"actorId": actor, "name": g.text(6)}],
                                "attachments": [{"type": "FILE", "url": *g.pick(&["http://127.0.0.1:1/x.png", "", "not a url"]), "name": g.text(5)}]}}),
        _ => g.json(0),
    };
    if g.chance(20)
        && let Value::Object(map) = &mut event
    {
        let keys: Vec<String> = map.keys().cloned().collect();
        if !keys.is_empty() {
            let key = g.pick(&keys).clone();
            map.insert(key, g.json(1));
        }
    }
    event
}

fn signed_request(ctx: &Context, g: &mut Gen, body: Vec<u8>) -> HttpRequest {
    let timestamp = match g.below(10) {
        0 => now_ms() - 10 * 60 * 1000,
        1 => now_ms() + 10 * 60 * 1000,
        _ => now_ms(),
    };
    let body_text = String::from_utf8_lossy(&body).into_owned();
    let mut signature = hubspot_sim::sign_v3(
        "sim-client-secret",
        "POST",
        &ctx.webhook_url,
        &body_text,
        timestamp,
    );
    if body_text.as_bytes() != body.as_slice() || g.chance(5) {
        signature = base64_noise(g);
    }
    let mut headers = vec![
        ("x-hubspot-signature-v3".to_owned(), signature.into_bytes()),
        (
            "x-hubspot-request-timestamp".to_owned(),
            timestamp.to_string().into_bytes(),
        ),
        (
            "content-type".to_owned(),
            if g.chance(90) {
                b"application/json".to_vec()
            } else {
                g.bytes(12)
            },
        ),
    ];
    if g.chance(10) {
        headers.push((g.text(10), g.bytes(30)));
    }
    HttpRequest {
        method: "POST".into(),
        url: ctx.webhook_url.clone(),
        headers,
        body,
    }
}

fn base64_noise(g: &mut Gen) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    (0..g.below(60))
        .map(|_| *g.pick(ALPHABET) as char)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_webhook_with_arbitrary_bytes_headers_and_events() -> Result<()> {
    let (bed, agent, _user, _conversation, thread) = live_handoff(SimConfig {
        rate_limit: None,
        ..SimConfig::default()
    })
    .await?;
    let (mut g, seed) = Gen::new();
    let n = cases();
    for case in 0..n {
        let request = match g.below(4) {
            0 => HttpRequest {
                method: g.pick(&["POST", "GET", "post", "", "PATCH"]).to_string(),
                url: if g.chance(80) {
                    bed.ctx.webhook_url.clone()
                } else {
                    g.text(30)
                },
                headers: (0..g.below(5)).map(|_| (g.text(12), g.bytes(40))).collect(),
                body: g.bytes(300),
            },
            1 => {
                let body = g.bytes(200);
                signed_request(&bed.ctx, &mut g, body)
            }
            _ => {
                let events: Vec<Value> = (0..1 + g.below(4))
                    .map(|_| plausible_event(&mut g, &thread, &agent))
                    .collect();
                let body = if g.chance(70) {
                    Value::Array(events)
                } else {
                    events[0].clone()
                };
                signed_request(&bed.ctx, &mut g, body.to_string().into_bytes())
            }
        };
        let response = match bed.runtime.webhook(&bed.ctx, request.clone()).await {
            Ok(r) => r,
            Err(e) => bail!("case {case} (seed {seed}) trapped: {e:#}\nrequest: {request:?}"),
        };
        if ![200, 400, 401, 405, 413, 415, 500, 503].contains(&response.status) {
            bail!(
                "case {case} (seed {seed}): unexpected status {}",
                response.status
            );
        }
    }
    println!("fuzz webhook: {n} cases, seed {seed}, no trap");
    bed.shutdown().await;
    Ok(())
}

fn arbitrary_payload(g: &mut Gen, hosted: &str) -> MessagePayload {
    let url = |g: &mut Gen| {
        g.pick(&[
            hosted,
            "http://127.0.0.1:1/gone.png",
            "",
            "::::",
            "ftp://x/y",
            "http://127.0.0.1:1/%zz",
        ])
        .to_string()
    };
    let simple = |g: &mut Gen| match g.below(5) {
        0 => SimplePayload::Text(g.text(50)),
        1 => SimplePayload::Image(url(g)),
        2 => SimplePayload::Audio(url(g)),
        3 => SimplePayload::Video(url(g)),
        _ => SimplePayload::File(FileRef {
            url: url(g),
            title: g.chance(50).then(|| g.text(10)),
        }),
    };
    match g.below(7) {
        0 => {
            let long = g.chance(5);
            MessagePayload::Text(g.text(if long { 20_000 } else { 80 }))
        }
        1 => MessagePayload::Image(url(g)),
        2 => MessagePayload::Audio(url(g)),
        3 => MessagePayload::Video(url(g)),
        4 => MessagePayload::File(FileRef {
            url: url(g),
            title: g.chance(50).then(|| g.text(10)),
        }),
        _ => MessagePayload::Bloc((0..g.below(5)).map(|_| simple(g)).collect()),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_message_with_arbitrary_payloads() -> Result<()> {
    let (bed, _agent, user, conversation, _thread) = live_handoff(SimConfig {
        rate_limit: None,
        ..SimConfig::default()
    })
    .await?;
    let hosted = bed
        .sim
        .host_file("tiny.bin", "application/octet-stream", vec![1, 2, 3]);
    let (mut g, seed) = Gen::new();
    let n = (cases() / 5).max(20);
    for case in 0..n {
        let payload = arbitrary_payload(&mut g, &hosted);
        let conversation_id = if g.chance(85) {
            conversation.clone()
        } else {
            g.text(10)
        };
        let message_id = if g.chance(90) {
            format!("fuzz-{case}")
        } else {
            g.text(4)
        };
        match bed
            .runtime
            .message(&bed.ctx, &conversation_id, &user, &message_id, &payload)
            .await
        {
            Ok(Ok(())) | Ok(Err(HitlError::InvalidInput(_) | HitlError::NotFound(_))) => {}
            Ok(Err(other)) => {
                bail!("case {case} (seed {seed}): unexpected error {other:?} for {payload:?}")
            }
            Err(e) => bail!("case {case} (seed {seed}) trapped: {e:#}\npayload: {payload:?}"),
        }
    }
    println!("fuzz message: {n} cases, seed {seed}, no trap");
    bed.shutdown().await;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzz_register_with_arbitrary_configurations() -> Result<()> {
    let bed = TestBed::with_config(SimConfig {
        rate_limit: None,
        ..SimConfig::default()
    })
    .await?;
    let valid = hitl_host::testkit::configuration_for(&bed.sim.config());
    let (mut g, seed) = Gen::new();
    let n = (cases() / 5).max(20);
    for case in 0..n {
        let configuration = match g.below(3) {
            0 => String::from_utf8_lossy(&g.bytes(80)).into_owned(),
            1 => g.json(0).to_string(),
            _ => {
                let mut c = valid.clone();
                let keys: Vec<String> = c
                    .as_object()
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default();
                for _ in 0..1 + g.below(2) {
                    let key = if g.chance(85) {
                        g.pick(&keys).clone()
                    } else {
                        g.text(8)
                    };
                    c[key] = g.json(2);
                }
                c.to_string()
            }
        };
        let mut ctx = bed.ctx.clone();
        ctx.configuration = configuration.clone();
        if g.chance(10) {
            ctx.webhook_url = g.text(20);
        }
        match bed.runtime.register(&ctx).await {
            Ok(Ok(()))
            | Ok(Err(
                HitlError::InvalidConfiguration(_)
                | HitlError::InvalidInput(_)
                | HitlError::Unauthorized(_),
            )) => {}
            Ok(Err(other)) => {
                bail!("case {case} (seed {seed}): unexpected error {other:?} for {configuration}")
            }
            Err(e) => {
                bail!("case {case} (seed {seed}) trapped: {e:#}\nconfiguration: {configuration}")
            }
        }
    }
    println!("fuzz register: {n} cases, seed {seed}, no trap");
    bed.shutdown().await;
    Ok(())
}
