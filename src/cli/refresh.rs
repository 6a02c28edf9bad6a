//! `pgfleet refresh`: reads the live servers and records what exists in the state, changing no
//! server. Servers recorded but gone live are removed from the state, with a warning.

use super::session;
use super::{GlobalArgs, Outcome, Printer};
use crate::model::ServerName;

#[derive(Debug, clap::Args)]
pub(crate) struct RefreshArgs {}

pub(crate) fn run(global: &GlobalArgs, _args: &RefreshArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let fleet = session::load_fleet(global, printer)?;
    let mut locked = session::open_state(global, &fleet, "refresh", printer)?;
    let provider = session::build_provider(&fleet, session::RetryReport::Verbose, printer)?;
    let live = session::runtime()?.block_on(async {
        session::recover_interrupted(&mut locked, provider.as_ref(), printer).await?;
        session::refresh(provider.as_ref()).await
    })?;
    let mut state = locked.state().clone();
    let recorded: Vec<ServerName> = state.servers.keys().cloned().collect();
    for name in recorded {
        if !live.contains_key(&name) {
            printer.warn(&format!("{name} no longer exists; removed it from the state"));
            state.servers.remove(&name);
        }
    }
    let mut updated = 0;
    for (name, observed) in &live {
        if !state.servers.contains_key(name) {
            // Never adopted silently: only `pgfleet import` records a server pgfleet did not make.
            if fleet.servers.contains_key(name) {
                printer.warn(&format!(
                    "{name} exists but is not managed by this state; import it: pgfleet import {} {}",
                    name.address(),
                    observed.provider_id
                ));
            }
            continue;
        }
        if state.servers.get(name).map(|record| &record.observed) != Some(observed) {
            updated += 1;
        }
        state.record_observed(observed.clone());
    }
    let count = state.servers.len();
    session::save(&mut locked, state)?;
    printer
        .info(&format!("Refreshed {count} servers ({updated} changed) in the state {}", locked.describe()));
    Ok(Outcome::Success)
}
