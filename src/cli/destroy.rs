//! `pgfleet destroy --allow-delete`: deletes every server of the fleet, replicas before their
//! primaries, after showing the plan and asking for confirmation.

use super::session;
use super::{GlobalArgs, Outcome, Printer};
use crate::config::DesiredFleet;
use crate::plan::{self, PlanRequest, render};
use anyhow::bail;

#[derive(Debug, clap::Args)]
pub(crate) struct DestroyArgs {
    /// Required: destroying deletes servers and their data.
    #[arg(long)]
    pub allow_delete: bool,
    /// Destroy without asking for confirmation.
    #[arg(long)]
    pub auto_approve: bool,
    /// The most provider operations running at once.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..))]
    pub parallelism: u16,
    /// Print events as JSON lines on stdout instead of progress.
    #[arg(long)]
    pub json: bool,
}

pub(crate) fn run(global: &GlobalArgs, args: &DestroyArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    if !args.allow_delete {
        bail!(
            "destroy deletes every server of the fleet and their data\nhint: pass --allow-delete to confirm that this is what you want"
        );
    }
    let fleet = session::load_fleet(global, printer)?;
    let mut locked = session::open_state(global, &fleet, "destroy", printer)?;
    let provider = session::build_provider(&fleet, session::RetryReport::for_json(args.json), printer)?;
    session::runtime()?.block_on(async {
        session::recover_interrupted(&mut locked, provider.as_ref(), printer).await?;
        let live = session::refresh(provider.as_ref()).await?;
        let nothing = DesiredFleet { servers: Default::default(), ..fleet.clone() };
        let plan = plan::build(&PlanRequest {
            desired: &nothing,
            stored: (!locked.is_new()).then(|| locked.state()),
            live: &live,
            refreshed: true,
            allow_delete: true,
            now: chrono::Utc::now(),
            at: chrono::Utc::now(),
        });
        if args.json {
            printer.data(&session::plan_event(&plan));
        } else {
            printer.data_stream(|out| render::write_human(&plan, printer.stdout_color(), out));
        }
        if !plan.has_changes() {
            printer.info("Nothing to destroy: the state records no server of this fleet.");
            return Ok(Outcome::Success);
        }
        if !args.auto_approve
            && !super::apply::confirm(&plan, super::progress::Command::Destroy, printer).await?
        {
            printer.info("Destroy cancelled: nothing was changed.");
            return Ok(Outcome::Error);
        }
        session::execute(session::Execution {
            plan: &plan,
            fleet: &fleet,
            provider,
            locked,
            work_dir: super::state_backend::work_dir(global, &fleet),
            parallelism: usize::from(args.parallelism),
            json: args.json,
            printer,
            command: super::progress::Command::Destroy,
            measurements: None,
        })
        .await
    })
}
