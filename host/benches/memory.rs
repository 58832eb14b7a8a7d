//! Peak linear memory per instance, and HubSpot calls per operation with a warm token
//! (`cargo bench -p hitl-host --bench memory`; criterion does not measure memory, so this prints).
//!
//! Each operation runs in a fresh instance (as every call does); `Runtime::peak_memory_bytes` is
//! the most linear memory any one instance used during it. The figures are deterministic for a
//! given component build.

mod common;

use anyhow::Result;
use hitl_host::RuntimeConfig;

use common::{Bench, tokio_runtime};

/// One operation's row: its name, the peak memory of its instance, the HubSpot calls it made.
struct Row {
    name: &'static str,
    peak: usize,
    calls: Vec<String>,
}

async fn measure<F, Fut>(bench: &Bench, name: &'static str, op: F) -> Result<Row>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    bench.bed.runtime.reset_peak_memory();
    bench.bed.sim.clear_requests();
    op().await?;
    Ok(Row {
        name,
        peak: bench.bed.runtime.peak_memory_bytes(),
        calls: bench.endpoints(),
    })
}

async fn run() -> Result<Vec<Row>> {
    let bench = Bench::start(RuntimeConfig::default()).await?;
    let bench = &bench;
    let mut rows = Vec::new();
    rows.push(
        measure(bench, "register (already registered)", || async move {
            bench.bed.registered().await
        })
        .await?,
    );
    rows.push(
        measure(bench, "create-user (known contact)", || async move {
            common::ok(
                bench
                    .bed
                    .runtime
                    .create_user(&bench.bed.ctx, None, Some("ada@example.com"), None, None)
                    .await?,
            )
            .map(drop)
        })
        .await?,
    );
    let mut started = String::new();
    rows.push(
        measure(bench, "start-hitl (2-entry transcript)", || async {
            started = bench.start_hitl().await?;
            Ok(())
        })
        .await?,
    );
    rows.push(measure(bench, "message (text)", || bench.message_text()).await?);
    for (name, events) in [
        ("webhook, 1 agent message", 1),
        ("webhook, 50 agent messages", 50),
    ] {
        rows.push(
            measure(bench, name, || async move {
                let (request, _) = bench.signed_request(bench.agent_messages(events));
                Bench::send_checked(request, events).await
            })
            .await?,
        );
    }
    rows.push(
        measure(bench, "stop-hitl", || async {
            bench.stop_hitl(&started).await
        })
        .await?,
    );
    bench.bed.shutdown().await;
    Ok(rows)
}

fn main() -> Result<()> {
    let rows = tokio_runtime().block_on(run())?;
    println!();
    println!("| operation | peak linear memory per instance | HubSpot calls (warm token) |");
    println!("| --- | ---: | --- |");
    for row in rows {
        let calls = if row.calls.is_empty() {
            "0".to_owned()
        } else {
            format!("{}: {}", row.calls.len(), row.calls.join(", "))
        };
        println!(
            "| {} | {} KiB ({} bytes) | {} |",
            row.name,
            row.peak / 1024,
            row.peak,
            calls
        );
    }
    Ok(())
}
