//! `hitl-host demo` as a process: a whole handoff against an in-process simulator, told as a
//! transcript, exit code 0.

mod cli_support;

use cli_support::{Proc, component};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_plays_a_whole_handoff_and_says_so() {
    let component = component();
    let mut demo = Proc::start(&["demo", "--component", component.to_str().unwrap()]);
    let code = demo.finish().await;
    let output = demo.output();
    assert_eq!(code, 0, "{output}");
    let transcript = demo.stdout.join("\n");
    for step in [
        // register and the HubSpot calls it made
        "[1/8] register",
        "POST /conversations/v3/custom-channels -> 201",
        // both sides of the chat, the escalation with the transcript
        "user     Ada: It was not. I would like to talk to a human, please.",
        "bot      Of course: I am handing you over",
        "| Conversation with the bot so far:",
        // the user's text and file
        "user     Ada: Are you there?",
        "POST /files/v3/files -> 201",
        // the agent's assignment, reply with a file, and the close
        "event    hitl-assigned: Grace Hopper",
        "agent    Grace Hopper: Found it! Here is your new shipping label. [file label.pdf",
        "the bot downloaded the agent's very file",
        "webhook  app conversation.propertyChange status -> 200",
        "event    hitl-stopped",
        "demo passed: all 8 steps happened",
    ] {
        assert!(transcript.contains(step), "missing {step:?}\n{output}");
    }
    assert_eq!(
        demo.stdout.last().map(|l| l.starts_with("demo passed")),
        Some(true),
        "the summary is the last line"
    );
}

#[tokio::test]
async fn the_demo_without_a_component_says_to_build_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("hubspot-hitl.wasm");
    let mut demo = Proc::start(&["demo", "--component", missing.to_str().unwrap()]);
    let code = demo.finish().await;
    assert_ne!(code, 0);
    assert!(demo.stderr().contains("./build.sh"), "{}", demo.output());
}
