//! `pgfleet graph [PLANFILE]`: the change graph of a fresh plan (or of a saved one) as
//! Graphviz DOT on stdout, as `terraform graph` prints its own: `pgfleet graph | dot -Tsvg`.

use super::plan::{Planning, fresh_plan, parse_moment};
use super::{GlobalArgs, Outcome, Printer};
use crate::plan::saved;
use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct GraphArgs {
    /// A plan saved by `pgfleet plan --out PLANFILE` (without it: a fresh plan).
    #[arg(conflicts_with_all = ["refresh", "allow_delete", "at", "target"])]
    pub plan_file: Option<PathBuf>,
    /// Read the live servers first (`--refresh=false` plans from the state alone).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
    /// Allow deleting servers removed from the fleet file.
    #[arg(long)]
    pub allow_delete: bool,
    /// Plan for another moment (RFC 3339), as `plan --at`.
    #[arg(long, value_parser = parse_moment, value_name = "TIME")]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// Only this server and what its changes depend on, as `plan --target`; repeatable.
    #[arg(long, value_name = "ADDRESS")]
    pub target: Vec<String>,
}

pub(crate) fn run(global: &GlobalArgs, args: &GraphArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let plan = match &args.plan_file {
        Some(path) => {
            saved::load(path)
                .with_context(|| format!("could not read the saved plan {}", path.display()))?
                .plan
        }
        None => {
            let planning = Planning {
                refresh: args.refresh,
                allow_delete: args.allow_delete,
                at: args.at.unwrap_or_else(chrono::Utc::now),
                target: &args.target,
            };
            fresh_plan(global, &planning, printer)?.1
        }
    };
    printer.data(&crate::plan::dot(&plan));
    Ok(Outcome::Success)
}
