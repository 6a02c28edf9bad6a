//! `pgfleet graph [PLANFILE]`: the change graph of a fresh plan (or of a saved one) as
//! Graphviz DOT on stdout, as `terraform graph` prints its own: `pgfleet graph | dot -Tsvg`.

use super::plan::{Planning, fresh_plan};
use super::{GlobalArgs, Outcome, Printer};
use crate::plan::saved;
use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct GraphArgs {
    /// A plan saved by `pgfleet plan --out PLANFILE` (without it: a fresh plan).
    #[arg(conflicts_with_all = ["refresh", "allow_delete", "at", "target"])]
    pub plan_file: Option<PathBuf>,
    #[command(flatten)]
    pub planning: Planning,
}

pub(crate) fn run(global: &GlobalArgs, args: &GraphArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let plan = match &args.plan_file {
        Some(path) => {
            saved::load(path)
                .with_context(|| format!("could not read the saved plan {}", path.display()))?
                .plan
        }
        None => {
            let at = args.planning.at.unwrap_or_else(chrono::Utc::now);
            fresh_plan(global, &args.planning, at, printer)?.1
        }
    };
    printer.data(&crate::plan::dot(&plan));
    Ok(Outcome::Success)
}
