//! Building the component from the current source, so tests never run a stale `.wasm`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use anyhow::{Result, anyhow};

/// How many lines of cargo's stderr a build failure quotes.
const STDERR_TAIL_LINES: usize = 40;

/// The workspace root (the directory of the root `Cargo.toml`, the component's package).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// The target directory cargo builds into (`$CARGO_TARGET_DIR`, else `<workspace>/target`).
pub fn target_dir() -> PathBuf {
    let root = workspace_root();
    match std::env::var_os("CARGO_TARGET_DIR") {
        // Relative to the directory cargo runs in, which is the workspace root for our builds.
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

/// Builds the component from the current source (cargo build --profile component --target
/// wasm32-wasip2 -p hubspot-hitl) once per process; error text names ./build.sh on failure.
pub fn build_component() -> Result<PathBuf> {
    static BUILT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    BUILT
        .get_or_init(|| build().map_err(|error| format!("{error:#}")))
        .clone()
        .map_err(|error| anyhow!(error))
}

fn build() -> Result<PathBuf> {
    let root = workspace_root();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(&cargo)
        .current_dir(&root)
        .args([
            "build",
            "--profile",
            "component",
            "--target",
            "wasm32-wasip2",
            "-p",
            "hubspot-hitl",
        ])
        .output()
        .map_err(|error| {
            anyhow!(
                "could not run cargo to build the component ({error}); run ./build.sh in {} first",
                root.display()
            )
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        let tail = lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..].join("\n");
        return Err(anyhow!(
            "building the component failed ({}); run ./build.sh in {} (it adds the wasm32-wasip2 \
             target) and fix what it reports. cargo said:\n{tail}",
            output.status,
            root.display()
        ));
    }
    let wasm = target_dir()
        .join("wasm32-wasip2")
        .join("component")
        .join("hubspot_hitl.wasm");
    if !wasm.is_file() {
        return Err(anyhow!(
            "cargo built the component but {} is missing; run ./build.sh",
            wasm.display()
        ));
    }
    Ok(wasm)
}
