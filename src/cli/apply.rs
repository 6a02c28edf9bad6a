//! `pgfleet apply [PLANFILE]`: plans (or loads a saved plan and checks it is still fresh), asks
//! for confirmation, and applies the changes through the provider, recording every step in the
//! state as it goes. Ctrl-C once stops starting new steps; twice aborts.

use super::plan::outcome;
use super::progress::Command;
use super::session;
use super::{GlobalArgs, Outcome, Printer};
use crate::config::DesiredFleet;
use crate::plan::{self, Plan, PlanRequest, render, saved};
use crate::state::LockedState;
use anyhow::{Context, bail};
use std::io::{BufRead, IsTerminal};
use std::path::PathBuf;

#[derive(Debug, clap::Args)]
pub(crate) struct ApplyArgs {
    /// A plan saved by `pgfleet plan --out PLANFILE`; applied exactly, if still fresh.
    pub plan_file: Option<PathBuf>,
    /// Apply without asking for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// The most provider operations running at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
    /// Allow deleting servers removed from the fleet file.
    #[arg(long)]
    pub allow_delete: bool,
    /// Print events as JSON lines on stdout (for CI systems) instead of progress: the plan
    /// first, the summary last.
    #[arg(long)]
    pub json: bool,
    /// Apply only this server (`pay-main` or `servers.pay-main`) and the changes its changes
    /// depend on; repeatable. For exceptional cases, as Terraform's -target.
    #[arg(long, value_name = "ADDRESS", conflicts_with = "plan_file")]
    pub target: Vec<String>,
}

pub(crate) fn run(global: &GlobalArgs, args: &ApplyArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let fleet = session::load_fleet(global, printer)?;
    let mut locked = session::open_state(global, &fleet, "apply", printer)?;
    let runtime = session::runtime()?;
    let (provider_events, provider_receiver) = tokio::sync::mpsc::unbounded_channel();
    let provider = session::build_provider_with_events(
        &fleet,
        Some(provider_events),
        session::RetryReport::for_json(args.json),
        printer,
    )?;
    runtime.block_on(async {
        // What the first refresh measured waits: with --json for the opening plan event; for
        // people until the plan is confirmed, so that no line falls between the plan and the
        // question (it is printed above the progress instead).
        let (plan_shown, after_plan) = tokio::sync::oneshot::channel();
        let measurements =
            session::report_provider_events(provider_receiver, args.json, printer.clone(), Some(after_plan));
        session::recover_interrupted(&mut locked, provider.as_ref(), printer).await?;
        let live = session::refresh(provider.as_ref()).await?;
        let plan = match &args.plan_file {
            Some(path) => load_fresh_plan(path, &fleet, &locked, &live)?,
            None => {
                let stored = (!locked.is_new()).then(|| locked.state());
                let targets = session::targets(&args.target, &fleet, stored)?;
                let mut plan = plan::build(&PlanRequest {
                    desired: &fleet,
                    stored,
                    live: &live,
                    refreshed: true,
                    allow_delete: args.allow_delete,
                    now: chrono::Utc::now(),
                    at: chrono::Utc::now(),
                });
                session::add_local_version_note(&mut plan, &fleet);
                plan = session::narrow(plan, &targets, printer);
                plan
            }
        };
        // With `-q` the plan is shown only when it is to be confirmed.
        let confirming = args.plan_file.is_none() && !args.auto_approve;
        if args.json {
            printer.data(&session::plan_event(&plan));
        } else if confirming || !printer.is_quiet() {
            printer.data_stream(|out| render::write_human(&plan, printer.stdout_color(), out));
        }
        session::warn_unplanned_migrations(&plan, printer);
        let verdict = outcome(&plan, false);
        if verdict != Outcome::Success {
            return Ok(verdict);
        }
        if !plan.has_changes() {
            let _ = plan_shown.send(());
            if args.json {
                // What the refresh measured comes before the summary, which closes the output.
                drop(provider);
                measurements.await.ok();
                printer.data(&session::empty_summary_event());
            }
            printer.info("No changes: the servers match the fleet file.");
            return Ok(Outcome::Success);
        }
        if args.plan_file.is_none() && !args.auto_approve && !confirm(&plan, Command::Apply, printer).await? {
            printer.info("Apply cancelled: nothing was changed.");
            return Ok(Outcome::Error);
        }
        let _ = plan_shown.send(());
        session::execute(session::Execution {
            plan: &plan,
            fleet: &fleet,
            provider,
            locked,
            work_dir: super::state_backend::work_dir(global, &fleet),
            parallelism: usize::from(args.parallelism),
            json: args.json,
            printer,
            command: Command::Apply,
            measurements: Some(measurements),
        })
        .await
    })
}

/// Loads a saved plan and refuses it when anything it was based on moved.
fn load_fresh_plan(
    path: &std::path::Path,
    fleet: &DesiredFleet,
    locked: &LockedState,
    live: &crate::model::LiveFleet,
) -> anyhow::Result<Plan> {
    let saved =
        saved::load(path).with_context(|| format!("could not read the saved plan {}", path.display()))?;
    let stored = (!locked.is_new()).then(|| locked.state());
    let current = saved::CurrentInputs::new(fleet, stored, live);
    if let Err(stale) = saved::check_fresh(&saved, &current) {
        bail!("{stale}");
    }
    Ok(saved.plan)
}

/// Asks on the terminal; only `yes` applies. Off a terminal, `--auto-approve` is required.
/// Ctrl-C at the prompt answers no: the command then returns like any refusal, releasing the
/// state lock, instead of dying with the lock file left behind for the next command to take
/// over.
pub(super) async fn confirm(plan: &Plan, command: Command, printer: &Printer) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        match command {
            Command::Apply => bail!(
                "apply needs confirmation and standard input is not a terminal\nhint: review the plan, then run again with --auto-approve, or apply a saved plan: pgfleet plan --out PLANFILE; pgfleet apply PLANFILE"
            ),
            Command::Destroy => bail!(
                "destroy needs confirmation and standard input is not a terminal\nhint: review what it deletes, then run again with --auto-approve"
            ),
        }
    }
    // Listening before the question is asked, so that no Ctrl-C at the prompt is missed.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        .context("could not listen for Ctrl-C")?;
    let question = match command {
        Command::Apply => {
            let changes = plan.changes.len();
            let what =
                if changes == 1 { "this change".to_string() } else { format!("these {changes} changes") };
            format!("Do you want to apply {what} to fleet {:?}?", plan.fleet)
        }
        Command::Destroy => {
            let servers = super::progress::count(plan.changes.len(), "server");
            format!("Do you want to destroy {servers} of fleet {:?}, and their data?", plan.fleet)
        }
    };
    printer.info(&format!("{question} Only 'yes' will be accepted:"));
    // A thread of its own, not the runtime's blocking pool: a read of the terminal cannot be
    // cancelled, and the runtime would wait for it when it shuts down.
    let (sender, answer) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = sender.send(std::io::stdin().lock().read_line(&mut line).map(|_| line));
    });
    tokio::select! {
        answer = answer => {
            let answer = answer.context("the confirmation could not be read")??;
            Ok(answer.trim() == "yes")
        }
        _ = interrupt.recv() => {
            // The terminal echoed `^C` without a line break.
            printer.info("");
            Ok(false)
        }
    }
}
