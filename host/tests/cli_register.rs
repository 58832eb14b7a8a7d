//! `hitl-host register` as a process against a simulator: it prints the channel and channel account
//! it made (then found), and a bad config file gets a message naming the field and the fix.

mod cli_support;

use cli_support::{Proc, component, id_text, write_config};
use hubspot_sim::{SimConfig, Simulator};

fn register_args<'a>(config: &'a str, state: &'a str, component: &'a str) -> Vec<&'a str> {
    vec![
        "register",
        "--config",
        config,
        "--state",
        state,
        "--component",
        component,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_prints_the_channel_and_account_it_made_then_found() {
    let component = component();
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "hitl.json", &sim, "hubspot");
    let state = dir.path().join("hitl.sqlite");
    let args = register_args(
        config.to_str().unwrap(),
        state.to_str().unwrap(),
        component.to_str().unwrap(),
    );

    let mut first = Proc::start(&args);
    assert_eq!(first.finish().await, 0, "{}", first.output());
    let channel = id_text(&sim.channels()[0]["id"]);
    let account = id_text(&sim.channel_accounts()[0]["id"]);
    let out = first.stdout.join("\n");
    assert!(
        out.contains(&format!(
            "channel:          {channel} \"Bot handoff\" (made)"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("channel account:  {account}")),
        "{out}"
    );
    assert!(out.contains("help desk inbox:  1431487401"), "{out}");

    let mut again = Proc::start(&args);
    assert_eq!(again.finish().await, 0, "{}", again.output());
    let out = again.stdout.join("\n");
    assert!(
        out.contains(&format!("{channel} \"Bot handoff\" (found)")),
        "{out}"
    );
    assert_eq!(sim.channels().len(), 1, "nothing made twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_missing_a_field_names_it_and_the_fix() {
    let component = component();
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "hitl.json", &sim, "hubspot");
    let mut file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config).unwrap()).unwrap();
    file["configuration"]
        .as_object_mut()
        .unwrap()
        .remove("clientSecret");
    std::fs::write(&config, file.to_string()).unwrap();
    let state = dir.path().join("hitl.sqlite");

    let mut register = Proc::start(&register_args(
        config.to_str().unwrap(),
        state.to_str().unwrap(),
        component.to_str().unwrap(),
    ));
    assert_eq!(register.finish().await, 1, "{}", register.output());
    let stderr = register.stderr();
    assert!(stderr.contains("`clientSecret` is required"), "{stderr}");
    assert!(stderr.contains("hitl-host setup"), "{stderr}");
    assert!(sim.channels().is_empty(), "nothing made");
    assert!(
        !stderr.contains(&sim.config().developer_api_key)
            && !stderr.contains(&sim.config().refresh_token),
        "no secret in the output: {stderr}"
    );
}

#[tokio::test]
async fn a_missing_or_broken_config_file_says_how_to_fix_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let mut register = Proc::start(&["register", "--config", missing.to_str().unwrap()]);
    assert_eq!(register.finish().await, 1);
    let stderr = register.stderr();
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(stderr.contains("hitl-host setup"), "{stderr}");

    let broken = dir.path().join("broken.json");
    std::fs::write(&broken, "{\"configuration\": {\"appId\": \"1\",}").unwrap();
    let mut register = Proc::start(&["register", "--config", broken.to_str().unwrap()]);
    assert_eq!(register.finish().await, 1);
    let stderr = register.stderr();
    assert!(stderr.contains("not valid JSON (line 1"), "{stderr}");

    let misplaced = dir.path().join("misplaced.json");
    std::fs::write(&misplaced, "{\"configuration\": {}, \"clientId\": \"x\"}").unwrap();
    let mut register = Proc::start(&["register", "--config", misplaced.to_str().unwrap()]);
    assert_eq!(register.finish().await, 1);
    let stderr = register.stderr();
    assert!(stderr.contains("`clientId` is not a key"), "{stderr}");
}
