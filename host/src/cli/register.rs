//! `hitl-host register`: register once and show the channel and its account.

use anyhow::Result;
use clap::Args;

use super::InstallArgs;
use super::local::{Local, print_install};

/// `hitl-host register` options.
#[derive(Args, Debug)]
pub struct RegisterArgs {
    /// The installation.
    #[command(flatten)]
    pub install: InstallArgs,
}

/// Runs `register` once and prints the channel and channel account it found or made.
pub async fn run(args: RegisterArgs) -> Result<i32> {
    let local = Local::open(&args.install).await?;
    let (install, found) = local.register().await?;
    print_install(&install, found);
    Ok(0)
}
