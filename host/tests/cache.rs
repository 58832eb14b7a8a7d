//! The compiled component is cached on disk: a second process deserializes it instead of compiling,
//! and a damaged cache file is replaced by a fresh compile.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use hitl_host::{BotStore, LoadSource, Runtime, RuntimeConfig};

const CHILD_ENV: &str = "HITL_HOST_CACHE_TEST_CHILD";

/// Loads `wasm` with `cache_dir` in a fresh process and returns how it was loaded.
fn load_in_child(wasm: &Path, cache_dir: &Path) -> String {
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_loads_the_component",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(
            CHILD_ENV,
            format!("{}\n{}", wasm.display(), cache_dir.display()),
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "child failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
        .lines()
        .find_map(|line| line.split("load-source: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no load source in child output: {stdout}"))
        .to_owned()
}

/// Not a test of its own: the body of the child process of `the_cache_file_is_reused_by_a_second_process`.
#[tokio::test]
async fn child_loads_the_component() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (wasm, cache_dir) = spec.split_once('\n').unwrap();
    let runtime = Runtime::load(
        Path::new(wasm),
        BotStore::in_memory().unwrap(),
        RuntimeConfig {
            cache_dir: Some(PathBuf::from(cache_dir)),
            ..RuntimeConfig::default()
        },
    )
    .await
    .unwrap();
    let ctx = common::context("inst-1", "http://127.0.0.1:1/webhooks/inst-1");
    assert_eq!(runtime.register(&ctx).await.unwrap(), Ok(()));
    println!("load-source: {:?}", runtime.load_source());
}

fn cache_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn the_cache_file_is_reused_by_a_second_process() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = common::test_component(dir.path(), "ok", &[("register", common::OK_UNIT)]);
    let cache_dir = dir.path().join("cache");

    assert_eq!(
        load_in_child(&wasm, &cache_dir),
        format!("{:?}", LoadSource::Compiled)
    );
    let files = cache_files(&cache_dir);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        load_in_child(&wasm, &cache_dir),
        format!("{:?}", LoadSource::DiskCache)
    );

    // A damaged file is not trusted: the component is compiled again and the file replaced.
    std::fs::write(&files[0], b"not a compiled component").unwrap();
    assert_eq!(
        load_in_child(&wasm, &cache_dir),
        format!("{:?}", LoadSource::Compiled)
    );
    assert_eq!(
        load_in_child(&wasm, &cache_dir),
        format!("{:?}", LoadSource::DiskCache)
    );
    assert_eq!(cache_files(&cache_dir), files);
}

#[tokio::test]
async fn a_second_load_in_one_process_reuses_the_compiled_component() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = common::test_component(dir.path(), "ok-mem", &[("register", "(i32.const 520)")]);
    let config = RuntimeConfig {
        cache_dir: Some(dir.path().join("cache")),
        ..RuntimeConfig::default()
    };
    let first = Runtime::load(&wasm, BotStore::in_memory().unwrap(), config.clone())
        .await
        .unwrap();
    assert_ne!(first.load_source(), LoadSource::Memory);
    let second = Runtime::load(&wasm, BotStore::in_memory().unwrap(), config)
        .await
        .unwrap();
    assert_eq!(second.load_source(), LoadSource::Memory);
}

#[tokio::test]
async fn the_cache_keeps_only_the_newest_compiled_components() {
    let dir = tempfile::tempdir().unwrap();
    let cache_dir = dir.path().join("cache");
    for n in 0..10 {
        // Distinct bodies make distinct wasm hashes, as source changes do.
        let body = format!("(i32.const {})", 1024 + n * 8);
        let wasm = common::test_component(dir.path(), &format!("v{n}"), &[("register", &body)]);
        Runtime::load(
            &wasm,
            BotStore::in_memory().unwrap(),
            RuntimeConfig {
                cache_dir: Some(cache_dir.clone()),
                ..RuntimeConfig::default()
            },
        )
        .await
        .unwrap();
    }
    assert_eq!(cache_files(&cache_dir).len(), 8);
}
