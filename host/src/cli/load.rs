//! Loading the component, with progress lines while the first run compiles it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use hitl_host::{BotStore, LoadSource, Runtime, RuntimeConfig};

/// How often a still-running compile says so.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The component file to run: `path` as given, or for the default path, the project's
/// `dist/hubspot-hitl.wasm` when run from elsewhere; the error says to run ./build.sh.
pub fn component_path(path: &Path) -> Result<PathBuf> {
    if path.is_file() {
        return Ok(path.to_path_buf());
    }
    if path == Path::new(super::DEFAULT_COMPONENT) {
        let in_project = hitl_host::component::workspace_root().join(super::DEFAULT_COMPONENT);
        if in_project.is_file() {
            return Ok(in_project);
        }
        bail!(
            "the component {} is missing: run ./build.sh in the project's root first (it builds \
             dist/hubspot-hitl.wasm), or pass --component PATH",
            path.display()
        );
    }
    bail!(
        "the component {} does not exist: check --component, or run ./build.sh to build \
         dist/hubspot-hitl.wasm",
        path.display()
    )
}

/// Loads the component at `path` against `bot`, sending HubSpot calls to `hubspot_base_url` when
/// given; prints progress on stderr (the first run compiles for a while, later runs use a cache).
pub async fn runtime(
    path: &Path,
    bot: BotStore,
    hubspot_base_url: Option<String>,
) -> Result<Runtime> {
    let path = component_path(path)?;
    eprintln!("loading the component {}", path.display());
    let started = Instant::now();
    let ticker = tokio::spawn(async move {
        let mut tick = tokio::time::interval(PROGRESS_EVERY);
        tick.tick().await;
        loop {
            tick.tick().await;
            eprintln!(
                "  still compiling the component ({} s; only the first run compiles, later runs \
                 load it from a cache)",
                started.elapsed().as_secs()
            );
        }
    });
    let loaded = Runtime::load(
        &path,
        bot,
        RuntimeConfig {
            hubspot_base_url,
            ..RuntimeConfig::default()
        },
    )
    .await;
    ticker.abort();
    let runtime = loaded?;
    match runtime.load_source() {
        LoadSource::Compiled => eprintln!(
            "  compiled in {:.1} s (cached for next time)",
            started.elapsed().as_secs_f64()
        ),
        LoadSource::DiskCache | LoadSource::Memory => eprintln!("  loaded from the cache"),
    }
    Ok(runtime)
}
