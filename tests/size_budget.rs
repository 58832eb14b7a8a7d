//! The release component's size budget (issue 8): growth has to be a conscious choice.
//!
//! The goal is 200 KiB and the ceiling 250 KiB. [`BUDGET_BYTES`] is the size the component is held
//! to today: lower it whenever the component shrinks, so that it never grows back unnoticed.

/// The ceiling this test enforces, in bytes: issue 8's hard ceiling (the component is about 246 KiB).
const BUDGET_BYTES: u64 = 250 * 1024;

/// Issue 8's goal, in bytes (reported, not yet enforced).
const GOAL_BYTES: u64 = 200 * 1024;

#[test]
fn the_release_component_stays_within_its_size_budget() -> anyhow::Result<()> {
    let wasm = hitl_host::build_component()?;
    let size = std::fs::metadata(&wasm)?.len();
    println!(
        "component size: {size} bytes ({} KiB); budget {} KiB, goal {} KiB ({})",
        size / 1024,
        BUDGET_BYTES / 1024,
        GOAL_BYTES / 1024,
        wasm.display()
    );
    assert!(
        size <= BUDGET_BYTES,
        "the component grew to {size} bytes, over its budget of {BUDGET_BYTES} bytes: \
         find what grew (see the README's size notes) or raise the budget on purpose"
    );
    Ok(())
}
