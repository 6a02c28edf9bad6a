//! `pgfleet endpoint SERVER`: prints the server's libpq connection URI, without the password,
//! from what the state recorded (`postgresql://fleetadmin@127.0.0.1:54321/postgres`).

use super::state_cmd::state_path;
use super::{GlobalArgs, Outcome, Printer};
use crate::model::{Address, ServerName};
use crate::state;
use anyhow::{Context, bail};

#[derive(Debug, clap::Args)]
pub(crate) struct EndpointArgs {
    /// The server's name (`pay-main`) or address (`servers.pay-main`).
    pub server: String,
}

pub(crate) fn run(global: &GlobalArgs, args: &EndpointArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let path = state_path(global)?;
    let state =
        state::read_state(&path).with_context(|| format!("could not read the state {}", path.display()))?;
    let name = Address::server_named(&args.server);
    let Some(record) = state.servers.get(&name) else {
        let known: Vec<&str> = state.servers.keys().map(ServerName::as_str).collect();
        let suggestion = known
            .iter()
            .filter(|candidate| strsim::jaro_winkler(candidate, name.as_str()) > 0.8)
            .map(|candidate| format!("\nhint: did you mean {candidate}?"))
            .next()
            .unwrap_or_else(|| {
                "\nhint: `pgfleet state list` lists the recorded servers; `pgfleet apply` creates them".into()
            });
        bail!("the state records no server {name}{suggestion}");
    };
    let Some(endpoint) = &record.observed.endpoint else {
        bail!("the state records no endpoint for {name} yet\nhint: run `pgfleet refresh`");
    };
    printer.data(&endpoint.uri());
    Ok(Outcome::Success)
}
