//! Guest-only cost of a webhook, natively and without network (`cargo bench -p hubspot-hitl --bench
//! guest`): verifying HubSpot's v3 signature and parsing the events, for a body of 1 agent message
//! (a channel event object, as HubSpot sends it) and of 50 (an array). Uses only the public
//! `signature::sign_v3`, `signature::verify_v3` and `events::parse`.
//!
//! Native code runs faster than the same code compiled to wasm under wasmtime (typically 1.2–2×);
//! these figures are the floor of the guest's own work per webhook, before any host call.

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hubspot_hitl::{events, signature};

const SECRET: &str = "sim-client-secret";
const URL: &str = "http://127.0.0.1:40123/webhooks/hubspot-1";

/// One agent message as HubSpot's custom channel webhook delivers it.
fn agent_message(i: usize) -> String {
    format!(
        r#"{{"type":"OUTGOING_CHANNEL_MESSAGE_CREATED","portalId":"62515","channelId":"1001","eventTimestamp":1767225600000,"channelIntegrationThreadIds":["5c7e1d0a-2f4b-4c1e-9a53-0d1f3e2b7a{i:02}"],"message":{{"id":"msg-{i}","conversationsThreadId":"{thread}","channelId":"1001","channelAccountId":"2001","createdAt":"2026-01-01T00:00:00Z","direction":"OUTGOING","type":"MESSAGE","text":"Hello Ada, this is answer {i}: your parcel is on its way.","richText":"<p>Hello Ada, this is answer {i}: your parcel is on its way.</p>","senders":[{{"actorId":"A-1","name":"Grace Hopper","senderField":"FROM"}}],"recipients":[{{"actorId":"V-1","recipientField":"TO"}}],"attachments":[]}}}}"#,
        thread = 9000 + i % 10,
    )
}

/// A webhook body of `n` agent messages (an object for one, an array for several).
fn body(n: usize) -> Vec<u8> {
    if n == 1 {
        agent_message(0).into_bytes()
    } else {
        let items: Vec<String> = (0..n).map(agent_message).collect();
        format!("[{}]", items.join(",")).into_bytes()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn guest(c: &mut Criterion) {
    let mut group = c.benchmark_group("guest");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    for n in [1usize, 50] {
        let body = body(n);
        let now = now_ms();
        let timestamp = now.to_string();
        let signed = signature::sign_v3(SECRET, "POST", URL, &body, &timestamp);
        // The benchmark measures the accepting path: make sure it is the one taken.
        signature::verify_v3(
            SECRET,
            "POST",
            URL,
            &body,
            Some(&signed),
            Some(&timestamp),
            now,
        )
        .expect("the signature verifies");
        assert_eq!(events::parse(&body).expect("the body parses").len(), n);

        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_with_input(BenchmarkId::new("verify_v3", n), &body, |b, body| {
            b.iter(|| {
                signature::verify_v3(
                    black_box(SECRET),
                    "POST",
                    black_box(URL),
                    black_box(body),
                    Some(&signed),
                    Some(&timestamp),
                    now,
                )
            })
        });
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("parse", n), &body, |b, body| {
            b.iter(|| events::parse(black_box(body)))
        });
        group.bench_with_input(BenchmarkId::new("verify_and_parse", n), &body, |b, body| {
            b.iter(|| {
                signature::verify_v3(
                    SECRET,
                    "POST",
                    URL,
                    black_box(body),
                    Some(&signed),
                    Some(&timestamp),
                    now,
                )
                .map(|()| events::parse(body))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, guest);
criterion_main!(benches);
