//! Lines typed on (or piped into) standard input, read by a background thread so that waiting for
//! a line can be raced against other work and abandoned.

use std::io::BufRead;

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
}
