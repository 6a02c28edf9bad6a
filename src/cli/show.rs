//! `pgfleet show PLANFILE`: renders a saved plan (human, JSON or Markdown) without touching the
//! state or the servers.

use super::plan::{Format, print_plan};
use super::{GlobalArgs, Outcome, Printer};
use crate::plan::saved;
use anyhow::Context;
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct ShowArgs {
    /// A plan saved by `pgfleet plan --out PLANFILE`.
    pub plan_file: PathBuf,
    /// Print the plan as JSON (the same as `--format json`).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// The output format.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

pub(crate) fn run(_global: &GlobalArgs, args: &ShowArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let saved = saved::load(&args.plan_file)
        .with_context(|| format!("could not read the saved plan {}", args.plan_file.display()))?;
    let format = if args.json { Format::Json } else { args.format.unwrap_or(Format::Human) };
    print_plan(&saved.plan, format, printer, Some(saved.plan_id.clone()));
    Ok(Outcome::Success)
}
