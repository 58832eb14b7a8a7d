//! Lines typed on (or piped into) standard input, read by a background thread so that waiting for
//! a line can be raced against other work and abandoned.

use std::io::{BufRead, IsTerminal};

use rustix::termios::{self, LocalModes, OptionalActions, Termios};

use tokio::sync::mpsc;

/// Standard input, line by line.
pub struct Input {
    lines: mpsc::UnboundedReceiver<String>,
}

impl Input {
    /// Starts reading standard input in a background thread.
    pub fn spawn() -> Self {
        let (tx, lines) = mpsc::unbounded_channel();
        let reader = std::thread::Builder::new()
            .name("hitl-stdin".into())
            .spawn(move || {
                let stdin = std::io::stdin();
                for line in stdin.lock().lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        if let Err(error) = reader {
            tracing::warn!(%error, "cannot read standard input");
        }
        Self { lines }
    }

    /// The next line (without its line ending), or `None` at the end of input.
    pub async fn line(&mut self) -> Option<String> {
        self.lines
            .recv()
            .await
            .map(|line| line.trim_end_matches(['\r', '\n']).to_owned())
    }

    /// Prints `prompt` on stderr and reads the answer, trimmed; `None` at the end of input.
    pub async fn ask(&mut self, prompt: &str) -> Option<String> {
        eprint!("{prompt}");
        let _ = std::io::Write::flush(&mut std::io::stderr());
        self.line().await.map(|line| line.trim().to_owned())
    }

    /// Like [`Input::ask`], with the terminal's echo off while the answer is typed (when standard
    /// input is a terminal), so that a secret does not stay on the screen.
    pub async fn ask_secret(&mut self, prompt: &str) -> Option<String> {
        let echo = EchoOff::new();
        let answer = self.ask(prompt).await;
        if echo.0.is_some() {
            eprintln!();
        }
        answer
    }
}

/// Turns the terminal's echo off until dropped; does nothing when standard input is no terminal.
struct EchoOff(Option<Termios>);

impl EchoOff {
    fn new() -> Self {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Self(None);
        }
        let Ok(saved) = termios::tcgetattr(&stdin) else {
            return Self(None);
        };
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        match termios::tcsetattr(&stdin, OptionalActions::Now, &quiet) {
            Ok(()) => Self(Some(saved)),
            Err(_) => Self(None),
        }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, saved);
        }
    }
}
