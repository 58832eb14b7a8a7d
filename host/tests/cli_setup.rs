//! `hitl-host setup` end to end against a simulator: the OAuth code caught on the loopback redirect
//! URL (the test plays the browser) or pasted, the help desk found or chosen, the config file written
//! with mode 0600, registered, and good for a whole handoff; refusals say which input was wrong.

mod cli_support;

use std::path::Path;

use cli_support::{Proc, component, free_port, handoff_through_api, serve};
use hubspot_sim::{Inbox, InboxKind, SimConfig, Simulator};
use serde_json::Value;

/// The one list of scopes is the definition's.
#[test]
fn the_scopes_are_the_definitions() {
    let definition: Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../integration.definition.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let scopes: Vec<&str> = definition["oauth"]["scopes"]
        .as_array()
        .expect("oauth.scopes in the definition")
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert_eq!(scopes, hitl_host::SCOPES);
}

/// A simulator whose app accepts `redirect` as a redirect URL.
async fn sim_with_redirect(redirect: &str, inboxes: Option<Vec<Inbox>>) -> Simulator {
    let mut config = SimConfig {
        redirect_uris: vec![redirect.to_owned()],
        ..SimConfig::default()
    };
    if let Some(inboxes) = inboxes {
        config.inboxes = inboxes;
    }
    Simulator::start(config).await.unwrap()
}

fn read_config(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_catches_the_code_on_loopback_and_its_config_runs_a_handoff() {
    let component = component();
    let redirect = format!("http://127.0.0.1:{}/oauth-callback", free_port());
    let sim = sim_with_redirect(&redirect, None).await;
    let secrets = sim.config();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hitl.json");
    let state = dir.path().join("hitl.sqlite");
    let ports = (free_port(), free_port());
    let listen = format!("127.0.0.1:{}", ports.0);
    let base = sim.base_url();

    let mut setup = Proc::start(&[
        "setup",
        "--config",
        config.to_str().unwrap(),
        "--state",
        state.to_str().unwrap(),
        "--listen",
        &listen,
        "--hubspot-base-url",
        &base,
        "--developer-api-key",
        &secrets.developer_api_key,
        "--app-id",
        &secrets.app_id,
        "--client-id",
        &secrets.client_id,
        "--client-secret",
        &secrets.client_secret,
        "--redirect-uri",
        &redirect,
        "--component",
        component.to_str().unwrap(),
    ]);
    let authorize = setup
        .wait_line(|l| l.contains("/oauth/authorize?"))
        .await
        .trim()
        .to_owned();
    let url = url::Url::parse(&authorize).unwrap();
    let scope = url
        .query_pairs()
        .find(|(k, _)| k == "scope")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert_eq!(scope.split(' ').collect::<Vec<_>>(), hitl_host::SCOPES);

    // The browser: HubSpot's consent screen redirects to setup's loopback listener.
    let page = reqwest::get(&authorize).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("HubSpot is connected"));

    assert_eq!(setup.finish().await, 0, "{}", setup.output());
    let out = setup.stdout.join("\n");
    assert!(out.contains("help desk: 1431487401 (Help Desk)"), "{out}");
    assert!(out.contains("\"Bot handoff\" (made)"), "{out}");
    assert!(out.contains("help desk inbox:  1431487401"), "{out}");

    #[cfg(unix)]
    assert_eq!(mode(&config), 0o600, "the config file is private");
    let file = read_config(&config);
    let refresh = file["configuration"]["refreshToken"].as_str().unwrap();
    assert!(
        refresh.starts_with("sim-rt-"),
        "a refresh token from the code: {file}"
    );
    assert_eq!(file["configuration"]["helpDeskId"], "1431487401");
    assert_eq!(
        file["configuration"]["clientSecret"],
        secrets.client_secret.as_str()
    );
    assert_eq!(file["hubspotBaseUrl"], base.as_str());
    let everything = setup.output();
    for secret in [refresh, &secrets.client_secret, &secrets.developer_api_key] {
        assert!(
            !everything.contains(secret),
            "a secret was printed\n{everything}"
        );
    }

    // The written config serves a whole handoff (the base URL comes from the file).
    let mut serving = serve(&config, &state, &sim, None, ports).await;
    assert!(
        serving.proc.stdout.iter().any(|l| l.contains("(found)")),
        "{}",
        serving.proc.output()
    );
    handoff_through_api(&serving, &sim).await;
    serving.proc.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_takes_asked_credentials_a_pasted_code_and_a_chosen_help_desk() {
    let component = component();
    let redirect = format!("http://127.0.0.1:{}/oauth-callback", free_port());
    let mut inboxes = SimConfig::default().inboxes;
    inboxes.push(Inbox {
        id: "1431487999".into(),
        name: "Support EU".into(),
        kind: InboxKind::HelpDesk,
    });
    let sim = sim_with_redirect(&redirect, Some(inboxes)).await;
    let secrets = sim.config();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hitl.json");
    let base = sim.base_url();

    let mut setup = Proc::start(&[
        "setup",
        "--config",
        config.to_str().unwrap(),
        "--hubspot-base-url",
        &base,
        "--redirect-uri",
        &redirect,
        "--component",
        component.to_str().unwrap(),
    ]);
    // The four credentials, typed when asked.
    for answer in [
        &secrets.developer_api_key,
        &secrets.app_id,
        &secrets.client_id,
        &secrets.client_secret,
    ] {
        setup.type_line(answer).await;
    }
    setup.wait_line(|l| l.contains("/oauth/authorize?")).await;
    // No browser reaches this machine: the code is pasted.
    let code = sim.issue_auth_code(&redirect);
    setup.type_line(&code).await;
    setup.wait_line(|l| l.contains("several help desks")).await;
    setup.type_line("2").await;

    assert_eq!(setup.finish().await, 0, "{}", setup.output());
    let out = setup.stdout.join("\n");
    assert!(out.contains("2. Support EU (1431487999)"), "{out}");
    assert!(out.contains("help desk inbox:  1431487999"), "{out}");
    #[cfg(unix)]
    assert_eq!(mode(&config), 0o600);
    let file = read_config(&config);
    assert_eq!(file["configuration"]["helpDeskId"], "1431487999");
    assert_eq!(sim.channel_accounts().len(), 1);
    assert_eq!(sim.channel_accounts()[0]["inboxId"], "1431487999");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn setup_says_which_input_hubspot_refused() {
    let redirect = format!("http://127.0.0.1:{}/oauth-callback", free_port());
    let sim = sim_with_redirect(&redirect, None).await;
    let secrets = sim.config();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("hitl.json");
    let base = sim.base_url();
    let run = |secret: String, code: String| {
        let (config, base, redirect) = (config.clone(), base.clone(), redirect.clone());
        let secrets = secrets.clone();
        async move {
            let mut setup = Proc::start(&[
                "setup",
                "--config",
                config.to_str().unwrap(),
                "--hubspot-base-url",
                &base,
                "--developer-api-key",
                &secrets.developer_api_key,
                "--app-id",
                &secrets.app_id,
                "--client-id",
                &secrets.client_id,
                "--client-secret",
                &secret,
                "--redirect-uri",
                &redirect,
                "--code",
                &code,
                "--no-register",
            ]);
            let code = setup.finish().await;
            (code, setup.stderr())
        }
    };

    let (code, stderr) = run("not-the-secret".into(), sim.issue_auth_code(&redirect)).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("refused the client secret"), "{stderr}");
    assert!(
        !stderr.contains("not-the-secret"),
        "the secret is not echoed: {stderr}"
    );

    let (code, stderr) = run(secrets.client_secret.clone(), "sim-code-made-up".into()).await;
    assert_eq!(code, 1);
    assert!(
        stderr.contains("refused the authorisation code"),
        "{stderr}"
    );

    let other = sim.issue_auth_code("http://localhost:9/elsewhere");
    let (code, stderr) = run(secrets.client_secret.clone(), other).await;
    assert_eq!(code, 1);
    assert!(stderr.contains("refused the redirect URL"), "{stderr}");
    assert!(
        !config.exists(),
        "no config file is written after a refusal"
    );
}
