//! `hitl-host setup` asks for secrets without echoing them when it runs in a terminal.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

/// Everything the terminal showed so far, read from the pseudo-terminal's master side.
fn drain(output: &mpsc::Receiver<Vec<u8>>, seen: &mut Vec<u8>, for_at_least: Duration) {
    let deadline = Instant::now() + for_at_least;
    while let Ok(chunk) = output.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        seen.extend(chunk);
    }
}

#[test]
fn typed_secrets_do_not_show_on_the_terminal() -> anyhow::Result<()> {
    let master: OwnedFd = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY)?;
    grantpt(&master)?;
    unlockpt(&master)?;
    let slave_path = ptsname(&master, Vec::new())?;
    let slave = File::options()
        .read(true)
        .write(true)
        .open(slave_path.to_str()?)?;
    let config = tempfile::tempdir()?.keep().join("hitl.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hitl-host"))
        .args([
            "setup",
            "--hubspot-base-url",
            "http://127.0.0.1:1",
            "--config",
        ])
        .arg(&config)
        .stdin(Stdio::from(slave.try_clone()?))
        .stdout(Stdio::from(slave.try_clone()?))
        .stderr(Stdio::from(slave))
        .spawn()?;

    let mut reader = File::from(master.try_clone()?);
    let (tx, output) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = reader.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut writer = File::from(master);
    let mut seen = Vec::new();
    for answer in [
        "LEAK-dev-key-1234",
        "1234567",
        "client-id-visible",
        "LEAK-client-secret-5678",
    ] {
        drain(&output, &mut seen, Duration::from_millis(1500));
        writer.write_all(format!("{answer}\n").as_bytes())?;
    }
    drain(&output, &mut seen, Duration::from_millis(1500));
    let _ = child.kill();
    let _ = child.wait();

    let screen = String::from_utf8_lossy(&seen);
    assert!(
        screen.contains("client secret"),
        "the prompts ran: {screen}"
    );
    assert!(
        screen.contains("client-id-visible"),
        "ordinary answers echo: {screen}"
    );
    assert!(
        !screen.contains("LEAK-dev-key-1234"),
        "the developer API key was echoed: {screen}"
    );
    assert!(
        !screen.contains("LEAK-client-secret-5678"),
        "the client secret was echoed: {screen}"
    );
    Ok(())
}
