//! One bad call cannot hold the host: runaway guest code and runaway memory end in an error, and the
//! same runtime serves the next call.

mod common;

use std::time::Duration;

use hitl_host::{BotStore, Runtime, RuntimeConfig};

fn config(dir: &std::path::Path) -> RuntimeConfig {
    RuntimeConfig {
        max_memory_bytes: 16 << 20,
        call_timeout: Duration::from_secs(1),
        cache_dir: Some(dir.join("cache")),
        ..RuntimeConfig::default()
    }
}

#[tokio::test]
async fn a_well_behaved_call_returns_the_component_answer() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = common::test_component(dir.path(), "ok", &[("register", common::OK_UNIT)]);
    let runtime = Runtime::load(&wasm, BotStore::in_memory().unwrap(), config(dir.path()))
        .await
        .unwrap();
    let ctx = common::context("inst-1", "http://127.0.0.1:1/webhooks/inst-1");
    assert_eq!(runtime.register(&ctx).await.unwrap(), Ok(()));
}

#[tokio::test]
async fn a_guest_that_never_returns_hits_the_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = common::test_component(
        dir.path(),
        "spin",
        &[("register", common::SPIN), ("unregister", common::OK_UNIT)],
    );
    let runtime = Runtime::load(&wasm, BotStore::in_memory().unwrap(), config(dir.path()))
        .await
        .unwrap();
    let ctx = common::context("inst-1", "http://127.0.0.1:1/webhooks/inst-1");

    let error = runtime.register(&ctx).await.unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("`register`"), "{text}");
    assert!(text.contains("time limit"), "{text}");

    // The host is not held: the next call of the same runtime runs.
    assert_eq!(runtime.unregister(&ctx).await.unwrap(), Ok(()));
}

#[tokio::test]
async fn a_guest_that_grows_past_the_memory_bound_fails() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = common::test_component(
        dir.path(),
        "grow",
        &[
            ("register", common::GROW_128_MIB),
            ("unregister", common::OK_UNIT),
        ],
    );
    let runtime = Runtime::load(&wasm, BotStore::in_memory().unwrap(), config(dir.path()))
        .await
        .unwrap();
    let ctx = common::context("inst-1", "http://127.0.0.1:1/webhooks/inst-1");

    let error = runtime.register(&ctx).await.unwrap_err();
    let text = format!("{error:#}");
    assert!(text.contains("`register`"), "{text}");
    assert!(text.contains("growing memory"), "{text}");

    assert_eq!(runtime.unregister(&ctx).await.unwrap(), Ok(()));
}

#[tokio::test]
async fn the_memory_bound_is_per_call_not_per_runtime() {
    // Each call gets a fresh store: many calls that each use a little memory never add up.
    let dir = tempfile::tempdir().unwrap();
    let wasm = common::test_component(
        dir.path(),
        "grow-small",
        &[(
            "register",
            "(drop (memory.grow (i32.const 64))) (i32.const 512)",
        )],
    );
    let runtime = Runtime::load(&wasm, BotStore::in_memory().unwrap(), config(dir.path()))
        .await
        .unwrap();
    let ctx = common::context("inst-1", "http://127.0.0.1:1/webhooks/inst-1");
    for _ in 0..8 {
        assert_eq!(runtime.register(&ctx).await.unwrap(), Ok(()));
    }
    // One page to start with, 64 more per call: the peak is one call's, not the sum.
    assert_eq!(runtime.peak_memory_bytes(), 65 * 65536);
    runtime.reset_peak_memory();
    assert_eq!(runtime.peak_memory_bytes(), 0);
}

#[tokio::test]
async fn pooling_allocator_runs_calls_and_bounds_memory() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = common::test_component(
        dir.path(),
        "pool",
        &[
            ("register", common::OK_UNIT),
            ("unregister", common::GROW_128_MIB),
        ],
    );
    let runtime = Runtime::load(
        &wasm,
        BotStore::in_memory().unwrap(),
        RuntimeConfig {
            pooling: true,
            ..config(dir.path())
        },
    )
    .await
    .unwrap();
    let ctx = common::context("inst-1", "http://127.0.0.1:1/webhooks/inst-1");
    // Several instances at once (spawned: the call futures are Send).
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let (runtime, ctx) = (runtime.clone(), ctx.clone());
        calls.spawn(async move { runtime.register(&ctx).await });
    }
    while let Some(outcome) = calls.join_next().await {
        assert_eq!(outcome.unwrap().unwrap(), Ok(()));
    }
    assert!(runtime.unregister(&ctx).await.is_err());
}
