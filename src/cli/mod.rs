//! The command line: clap definitions, one file per command, and the mapping of outcomes to
//! exit codes (DESIGN.md: 0 success / no changes, 1 error, 2 changes present with
//! `--detailed-exitcode`, 3 plan blocked). This is the only layer that prints and the only one
//! that uses `anyhow`.

mod apply;
mod completions;
mod destroy;
#[cfg(feature = "emulator")]
mod emulator;
mod endpoint;
mod failover;
mod fmt;
mod github;
mod graph;
mod import;
mod migrate_cmd;
mod output;
mod plan;
pub(crate) mod progress;
mod refresh;
mod schedule_cmd;
mod session;
mod show;
mod state_backend;
mod state_cmd;
mod state_move;
mod validate;

pub(crate) use output::{Outcome, Printer};

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Declarative reconciler for fleets of Azure Database for PostgreSQL servers.
#[derive(Debug, Parser)]
#[command(name = "pgfleet", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes.
#[derive(Debug, Args, Clone)]
pub(crate) struct GlobalArgs {
    /// The fleet file.
    #[arg(short = 'c', long = "config", global = true, default_value = "fleet.toml", env = "PGFLEET_CONFIG")]
    pub config: PathBuf,
    /// The local state file (default: `state/<fleet>.state.json`); only with the local backend.
    #[arg(long, global = true, env = "PGFLEET_STATE")]
    pub state: Option<PathBuf>,
    /// How long to wait for the state lock while another command holds it, e.g. 30s or 5m
    /// (0: fail at once, naming the holder).
    #[arg(long, global = true, value_name = "DURATION", default_value = "0", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more detail (debug messages).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// When to use colour: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, global = true, value_enum, default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,
}

/// A duration as people write it (`30s`, `5m`, `1h30m`, `0`), parsed by `humantime`.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text)
        .map_err(|error| format!("{error}; expected a duration such as 30s, 5m or 0"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ColorWhen {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Check the fleet file against every rule and report all problems at once.
    Validate(validate::ValidateArgs),
    /// Show the changes that would make the live servers match the fleet file.
    Plan(plan::PlanArgs),
    /// Apply the changes (a fresh plan, confirmed, or a saved plan file).
    Apply(apply::ApplyArgs),
    /// Print the change graph of a plan as Graphviz DOT (`pgfleet graph | dot -Tsvg`).
    Graph(graph::GraphArgs),
    /// Rewrite fleet files in the canonical layout (keys in a stable order, comments kept).
    Fmt(fmt::FmtArgs),
    /// Update the state from the live servers without changing them.
    Refresh(refresh::RefreshArgs),
    /// Adopt servers that exist but that this state does not manage: write them into the fleet
    /// file and record them in the state.
    Import(import::ImportArgs),
    /// List the fleet's scheduled changes for the coming week.
    Schedule(schedule_cmd::ScheduleArgs),
    /// Delete every server of the fleet (needs --allow-delete).
    Destroy(destroy::DestroyArgs),
    /// Run an ARM-compatible emulator of Azure Database for PostgreSQL on loopback.
    #[cfg(feature = "emulator")]
    Emulator(emulator::EmulatorArgs),
    /// Render a saved plan.
    Show(show::ShowArgs),
    /// Print a server's connection URI (without the password).
    Endpoint(endpoint::EndpointArgs),
    /// Print every recorded server's connection URI (without passwords), or JSON for scripts.
    Output(endpoint::OutputArgs),
    /// Fail a Flexible Server with high availability over to its standby (planned failover).
    Failover(failover::FailoverArgs),
    /// Abandon a migration an interrupted apply left unfinished (before its cutover).
    #[command(subcommand)]
    Migrate(migrate_cmd::MigrateCommand),
    /// Inspect the state, forget servers, push a state file or move the state between backends.
    #[command(subcommand)]
    State(state_cmd::StateCommand),
    /// Remove a stale state lock left by a process that no longer runs.
    ForceUnlock(state_cmd::ForceUnlockArgs),
    /// Print a shell completion script.
    Completions(completions::CompletionsArgs),
    /// Print pgfleet's version.
    Version,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage(&error),
    };
    let printer = Printer::new(&cli.global);
    let outcome = match &cli.command {
        Command::Validate(args) => validate::run(&cli.global, args, &printer),
        Command::Plan(args) => plan::run(&cli.global, args, &printer),
        Command::Apply(args) => apply::run(&cli.global, args, &printer),
        Command::Graph(args) => graph::run(&cli.global, args, &printer),
        Command::Fmt(args) => fmt::run(&cli.global, args, &printer),
        Command::Refresh(args) => refresh::run(&cli.global, args, &printer),
        Command::Import(args) => import::run(&cli.global, args, &printer),
        Command::Schedule(args) => schedule_cmd::run(&cli.global, args, &printer),
        Command::Destroy(args) => destroy::run(&cli.global, args, &printer),
        #[cfg(feature = "emulator")]
        Command::Emulator(args) => emulator::run(&cli.global, args, &printer),
        Command::Show(args) => show::run(&cli.global, args, &printer),
        Command::Endpoint(args) => endpoint::run(&cli.global, args, &printer),
        Command::Output(args) => endpoint::output(&cli.global, args, &printer),
        Command::Failover(args) => failover::run(&cli.global, args, &printer),
        Command::Migrate(command) => migrate_cmd::run(&cli.global, command, &printer),
        Command::State(command) => state_cmd::run(&cli.global, command, &printer),
        Command::ForceUnlock(args) => state_cmd::force_unlock(&cli.global, args, &printer),
        Command::Completions(args) => completions::run(args, &printer),
        Command::Version => {
            printer.data(&format!("pgfleet {}", env!("CARGO_PKG_VERSION")));
            Ok(Outcome::Success)
        }
    };
    match outcome {
        Ok(outcome) => outcome.exit_code(),
        Err(error) => {
            printer.error_chain(&error);
            Outcome::Error.exit_code()
        }
    }
}

/// What a command line clap could not take becomes: help and `--version` print and succeed;
/// anything else is a usage error, exit 1 (2 means "changes present").
fn usage(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    // A closed stdout or stderr is no reason to fail louder.
    let _ = error.print();
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Outcome::Success.exit_code(),
        _ => Outcome::Error.exit_code(),
    }
}

#[cfg(test)]
mod tests {
    use super::Cli;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    /// Every command and subcommand renders `--help` with a description of itself.
    #[test]
    fn every_command_has_help() {
        fn visit(command: &mut clap::Command, path: &str) {
            let name = format!("{path} {}", command.get_name());
            assert!(command.get_about().is_some() || path.is_empty(), "{name} has no description");
            let help = command.render_help().to_string();
            assert!(help.contains("Usage:"), "{name}: {help}");
            for sub in command.get_subcommands_mut() {
                visit(sub, &name);
            }
        }
        visit(&mut Cli::command(), "");
    }
}
