//! `pgfleet state list|show` and `pgfleet force-unlock`.

use super::{GlobalArgs, Outcome, Printer};

#[derive(Debug, clap::Subcommand)]
pub enum StateCommand {
    /// List the addresses of every recorded server.
    List,
    /// Show what is recorded of one server (never secrets).
    Show {
        /// The server's address, such as servers.pay-main.
        address: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct ForceUnlockArgs {}

pub fn run(_global: &GlobalArgs, _command: &StateCommand, _printer: &Printer) -> anyhow::Result<Outcome> {
    anyhow::bail!("state commands are being built (issue 2)")
}

pub fn force_unlock(
    _global: &GlobalArgs,
    _args: &ForceUnlockArgs,
    _printer: &Printer,
) -> anyhow::Result<Outcome> {
    anyhow::bail!("force-unlock is being built (issue 2)")
}
