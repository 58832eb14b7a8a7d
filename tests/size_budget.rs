//! The release component's size budget (issue 8): growth has to be a conscious choice.
//!
//! The goal is 200 KB and the ceiling 250 KB, read strictly as decimal kilobytes: 250 KB = 250,000
//! bytes. [`BUDGET_BYTES`] is the size the component is held to today: lower it whenever the
//! component shrinks, so that it never grows back unnoticed.

/// The ceiling this test enforces, in bytes: issue 8's hard ceiling, 250 KB = 250,000 bytes (the
/// component is about 247,300 bytes).
const BUDGET_BYTES: u64 = 250_000;

/// Issue 8's goal, in bytes: 200 KB = 200,000 bytes (reported, not yet enforced).
const GOAL_BYTES: u64 = 200_000;

#[test]
fn the_release_component_stays_within_its_size_budget() -> anyhow::Result<()> {
    let wasm = hitl_host::build_component()?;
    let size = std::fs::metadata(&wasm)?.len();
    println!(
        "component size: {size} bytes; budget {BUDGET_BYTES} bytes (250 KB), goal {GOAL_BYTES} \
         bytes (200 KB) ({})",
        wasm.display()
    );
    assert!(
        size <= BUDGET_BYTES,
        "the component grew to {size} bytes, over its budget of {BUDGET_BYTES} bytes: \
         find what grew (see the README's size notes) or raise the budget on purpose"
    );
    Ok(())
}
