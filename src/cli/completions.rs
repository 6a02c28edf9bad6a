//! `pgfleet completions SHELL`: prints a completion script for the shell.

use super::{Cli, Outcome};
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

pub(crate) fn run(args: &CompletionsArgs) -> anyhow::Result<Outcome> {
    let mut command = Cli::command();
    clap_complete::generate(args.shell, &mut command, "pgfleet", &mut std::io::stdout());
    Ok(Outcome::Success)
}
