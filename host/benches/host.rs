//! Host benchmarks of the `hubspot-hitl` component under wasmtime (`cargo bench -p hitl-host --bench
//! host`; BENCHMARKS.md at the workspace root has the numbers and how to read them):
//!
//! - `compile`: the component compiled cold (`Component::new`, no cache), deserialized from the
//!   serialized artefact in memory, and from the cache file (what `Runtime::load` does on a start);
//! - `instantiate`: a fresh store and instance from the `InstancePre`, default and pooling allocator;
//! - `call`: end-to-end latency of `message` (text) and `start-hitl` against `hubspot-sim` on
//!   loopback with a warm token;
//! - `webhook`: a signed POST of 1 and of 50 agent-message events to the webhook server on loopback,
//!   each answered 200 with every event delivered; criterion's throughput is events per second, on
//!   one core (everything runs on one current-thread tokio runtime).

mod common;

use std::time::{Duration, Instant};

use criterion::{
    BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main,
};
use hitl_host::{Runtime, RuntimeConfig};
use wasmtime::component::Component;

use common::{Bench, tokio_runtime};

fn compile(c: &mut Criterion) {
    let rt = tokio_runtime();
    let bench = rt
        .block_on(Bench::start(RuntimeConfig::default()))
        .expect("setting up the test bed");
    let wasm_path = hitl_host::build_component().expect("building the component");
    let wasm = std::fs::read(&wasm_path).expect("reading the component");
    let engine = bench.bed.runtime.engine().clone();
    let serialized = Component::new(&engine, &wasm)
        .and_then(|component| component.serialize())
        .expect("compiling and serializing the component");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let cwasm = dir.path().join("hubspot-hitl.cwasm");
    std::fs::write(&cwasm, &serialized).expect("writing the artefact");
    println!(
        "component: {} bytes of wasm, {} bytes compiled (serialized)",
        wasm.len(),
        serialized.len()
    );

    let mut group = c.benchmark_group("compile");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(12));
    group.bench_function("cold", |b| {
        b.iter(|| Component::new(&engine, &wasm).expect("compiling"))
    });
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(3));
    group.bench_function("deserialize", |b| {
        // SAFETY: `serialized` was made just above by this engine.
        b.iter(|| unsafe { Component::deserialize(&engine, &serialized) }.expect("deserializing"))
    });
    group.bench_function("deserialize_file", |b| {
        // SAFETY: the file was written just above from this engine's serialization.
        b.iter(|| unsafe { Component::deserialize_file(&engine, &cwasm) }.expect("deserializing"))
    });
    group.finish();
    rt.block_on(bench.bed.shutdown());
}

fn instantiate(c: &mut Criterion) {
    let rt = tokio_runtime();
    let bench = rt
        .block_on(Bench::start(RuntimeConfig::default()))
        .expect("setting up the test bed");
    let wasm_path = hitl_host::build_component().expect("building the component");
    let pooling = rt
        .block_on(Runtime::load(
            &wasm_path,
            bench.bed.bot.clone(),
            RuntimeConfig {
                hubspot_base_url: Some(bench.bed.sim.base_url()),
                pooling: true,
                ..RuntimeConfig::default()
            },
        ))
        .expect("loading the component with the pooling allocator");
    let ctx = bench.bed.ctx.clone();

    let mut group = c.benchmark_group("instantiate");
    group
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (name, runtime) in [("default", &bench.bed.runtime), ("pooling", &pooling)] {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let start = Instant::now();
                    for _ in 0..iters {
                        runtime.instantiate_only(&ctx).await.expect("instantiating");
                    }
                    start.elapsed()
                })
            })
        });
    }
    group.finish();
    rt.block_on(bench.bed.shutdown());
}

fn calls(c: &mut Criterion) {
    let rt = tokio_runtime();
    let bench = rt
        .block_on(Bench::start(RuntimeConfig::default()))
        .expect("setting up the test bed");
    let bench = &bench;

    let mut group = c.benchmark_group("call");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    group.bench_function("message_text", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    bench.message_text().await.expect("message");
                }
                start.elapsed()
            })
        })
    });
    group.bench_function("start_hitl", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                // A fresh installation per sample: the bot store finds a conversation by its tags
                // by reading every conversation (`BotStore::get_or_create_conversation`), so
                // thousands of handoffs in one store would measure the store, not the component.
                let fresh = Bench::start(RuntimeConfig::default())
                    .await
                    .expect("setting up a fresh test bed");
                let fresh = &fresh;
                let elapsed = common::timed(iters, || async move {
                    let start = Instant::now();
                    let conversation = fresh.start_hitl().await.expect("start-hitl");
                    let elapsed = start.elapsed();
                    // Not timed: end the handoff so the installation's thread map keeps its size.
                    fresh.stop_hitl(&conversation).await.expect("stop-hitl");
                    elapsed
                })
                .await;
                fresh.bed.shutdown().await;
                elapsed
            })
        })
    });
    group.finish();

    let mut group = c.benchmark_group("webhook");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for events in [1usize, 50] {
        group.throughput(Throughput::Elements(events as u64));
        group.bench_with_input(
            BenchmarkId::new("agent_messages", events),
            &events,
            |b, &events| {
                b.iter_custom(|iters| {
                    rt.block_on(common::timed(iters, || async move {
                        // Building and signing the body is the sender's work: not timed.
                        let (request, _) = bench.signed_request(bench.agent_messages(events));
                        let start = Instant::now();
                        Bench::send_checked(request, events)
                            .await
                            .expect("the webhook handled the batch");
                        start.elapsed()
                    }))
                })
            },
        );
    }
    group.finish();
    rt.block_on(bench.bed.shutdown());
}

criterion_group!(benches, compile, instantiate, calls);
criterion_main!(benches);
