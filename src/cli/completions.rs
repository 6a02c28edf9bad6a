//! `pgfleet completions SHELL`: prints a completion script for the shell.

use super::{Cli, Outcome, Printer};
use clap::CommandFactory;

#[derive(Debug, clap::Args)]
pub(crate) struct CompletionsArgs {
    /// The shell to write completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Writes the script through the printer, so a reader that stops early (`| head`) ends the
/// output quietly instead of a panic on the closed pipe.
pub(crate) fn run(args: &CompletionsArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let mut command = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "pgfleet", &mut script);
    printer.data(&String::from_utf8_lossy(&script));
    Ok(Outcome::Success)
}
