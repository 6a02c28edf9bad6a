//! `pgfleet plan`: compares the fleet file with the state and the live servers and shows the
//! ordered changes; `--out` saves the plan for a later `apply`.

use super::session;
use super::{GlobalArgs, Outcome, Printer};
use crate::plan::{self, Plan, PlanRequest, render, saved};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct PlanArgs {
    /// Save the plan to this file, for `pgfleet apply PLANFILE`.
    #[arg(long, value_name = "PLANFILE")]
    pub out: Option<PathBuf>,
    /// Print the plan as JSON (the same as `--format json`).
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// The output format.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Exit 2 when the plan has changes (0 when none, 3 when blocked).
    #[arg(long)]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub planning: Planning,
}

/// A moment as RFC 3339 (`2026-12-07T08:00:00+01:00`, `2026-12-07T07:00:00Z`).
pub(crate) fn parse_moment(text: &str) -> Result<chrono::DateTime<chrono::Utc>, String> {
    chrono::DateTime::parse_from_rfc3339(text).map(|moment| moment.with_timezone(&chrono::Utc)).map_err(
        |error| format!("{error}; write a moment as RFC 3339, for example 2026-12-07T08:00:00+01:00"),
    )
}

/// How a plan is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// For people at a terminal.
    Human,
    /// The versioned JSON contract, for bots.
    Json,
    /// For a pull-request comment.
    Markdown,
}

impl PlanArgs {
    pub(crate) fn format(&self) -> Format {
        if self.json { Format::Json } else { self.format.unwrap_or(Format::Human) }
    }
}

pub(crate) fn run(global: &GlobalArgs, args: &PlanArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let at = args.planning.at.unwrap_or_else(chrono::Utc::now);
    let (fleet, plan, live) = fresh_plan(global, &args.planning, at, printer)?;
    let mut plan_id = None;
    if let Some(out) = &args.out {
        plan_id = Some(saved::save(&plan, &live, out)?);
        printer.info(&format!(
            "Saved the plan to {}; apply it with: pgfleet apply {}",
            out.display(),
            out.display()
        ));
    }
    print_plan(&plan, args.format(), printer, plan_id);
    for line in next_scheduled(&fleet, at) {
        printer.info(&line);
    }
    let outcome = outcome(&plan, args.detailed_exitcode);
    // The process ends next: its memory goes back at once, rather than plan, fleet and live
    // servers freed one allocation at a time (a tenth of a large fleet's plan).
    std::mem::forget((fleet, plan, live));
    Ok(outcome)
}

/// What a fresh plan is made with: `plan`'s and `graph`'s options.
#[derive(Debug, clap::Args)]
pub(crate) struct Planning {
    /// Read the live servers first (`--refresh=false` plans from the state alone).
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub refresh: bool,
    /// Allow deleting servers removed from the fleet file.
    #[arg(long)]
    pub allow_delete: bool,
    /// Plan for another moment (RFC 3339, `2026-12-07T08:00:00+01:00`): the servers'
    /// timetables as they stand then.
    #[arg(long, value_parser = parse_moment, value_name = "TIME")]
    pub at: Option<chrono::DateTime<chrono::Utc>>,
    /// Plan only this server (`pay-main` or `servers.pay-main`) and the changes its changes
    /// depend on; repeatable. For exceptional cases, as Terraform's -target.
    #[arg(long, value_name = "ADDRESS")]
    pub target: Vec<String>,
}

/// Loads the fleet file (at `at`), opens the state under its lock, reads the live
/// servers and plans; returns the fleet, the plan and the live servers it was made from.
pub(crate) fn fresh_plan(
    global: &GlobalArgs,
    planning: &Planning,
    at: chrono::DateTime<chrono::Utc>,
    printer: &Printer,
) -> anyhow::Result<(crate::config::DesiredFleet, Plan, crate::model::LiveFleet)> {
    let fleet = session::load_timetabled_fleet(global, printer)?.at(at);
    let locked = session::open_state(global, &fleet, "plan", printer)?;
    let live = if planning.refresh {
        let provider = session::build_provider(&fleet, session::RetryReport::Verbose, printer)?;
        session::runtime()?.block_on(session::refresh(provider.as_ref()))?
    } else {
        locked.state().observed()
    };
    let stored = (!locked.is_new()).then(|| locked.state());
    let targets = session::targets(&planning.target, &fleet, stored)?;
    let mut plan = plan::build(&PlanRequest {
        desired: &fleet,
        stored,
        live: &live,
        refreshed: planning.refresh,
        allow_delete: planning.allow_delete,
        now: chrono::Utc::now(),
        at,
    });
    session::add_local_version_note(&mut plan, &fleet);
    plan = session::narrow(plan, &targets, printer);
    session::warn_unplanned_migrations(&plan, printer);
    Ok((fleet, plan, live))
}

/// "next: orders → Standard_D8ds_v5 at Mon 2026-12-07 08:00 Europe/Amsterdam", per server with
/// a timetable.
pub(crate) fn next_scheduled(
    fleet: &crate::config::DesiredFleet,
    at: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    fleet
        .servers
        .values()
        .filter_map(|server| {
            let (moment, then) = crate::schedule::next_change(&server.schedule, at)?;
            let now = crate::schedule::in_force(&server.schedule, at);
            let (value, timezone) = match (then, now) {
                (Some(entry), _) => (entry.set.to_string(), entry.timezone),
                (None, Some(ending)) => (base_value(&server.base), ending.timezone),
                (None, None) => return None,
            };
            let local = moment.with_timezone(&timezone);
            Some(format!(
                "next: {} → {value} at {} {timezone}",
                server.name,
                local.format("%a %Y-%m-%d %H:%M")
            ))
        })
        .collect()
}

/// What a timetable changes, as the server has it outside its windows.
pub(crate) fn base_value(spec: &crate::model::ServerSpec) -> String {
    match &spec.flexible {
        Some(flexible) => flexible.sku.clone(),
        None => format!("{} vCores", spec.vcores),
    }
}

/// Prints a plan in a format, and appends it to the GitHub job summary when one is set. The
/// plan's id (`known_id` when the caller has it) is computed only for the forms that show it.
pub(crate) fn print_plan(plan: &Plan, format: Format, printer: &Printer, known_id: Option<String>) {
    let summary = super::github::wants_step_summary();
    let color = printer.stdout_color();
    if format == Format::Human && !summary {
        printer.data_stream(|out| render::write_human(plan, color, out));
        return;
    }
    let plan_id = known_id.unwrap_or_else(|| saved::plan_id(plan));
    match format {
        Format::Human => printer.data_stream(|out| render::write_human(plan, color, out)),
        Format::Json => printer.data_stream(|out| render::write_json(plan, &plan_id, out)),
        Format::Markdown => printer.data(&render::markdown_in_run(
            plan,
            &plan_id,
            render::COMMENT_BUDGET,
            &super::github::run(),
        )),
    }
    super::github::step_summary(plan, &plan_id, printer);
}

/// The exit code of a plan (DESIGN.md): refused changes are errors, blocked plans exit 3.
pub(crate) fn outcome(plan: &Plan, detailed: bool) -> Outcome {
    if !plan.refused.is_empty() {
        Outcome::Error
    } else if plan.is_blocked() {
        Outcome::Blocked
    } else if detailed && plan.has_changes() {
        Outcome::Changes
    } else {
        Outcome::Success
    }
}
