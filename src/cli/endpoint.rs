//! `pgfleet endpoint SERVER`: prints the server's libpq connection URI, without the password,
//! from what the state recorded (`postgresql://fleetadmin@127.0.0.1:54321/postgres`);
//! `pgfleet output [--json]`: every recorded server's, for people or for scripts.

use super::{GlobalArgs, Outcome, Printer};
use crate::model::{Address, ServerName};
use anyhow::bail;

#[derive(Debug, clap::Args)]
pub(crate) struct OutputArgs {
    /// Print JSON: each server by name with its address, host, port, user, database and uri.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct EndpointArgs {
    /// The server's name (`pay-main`) or address (`servers.pay-main`).
    pub server: String,
}

pub(crate) fn run(global: &GlobalArgs, args: &EndpointArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let Some(state) = super::state_cmd::read_unlocked(global, printer)? else {
        bail!(
            "there is no state yet, so no endpoint of {}\nhint: `pgfleet apply` creates the servers",
            args.server
        );
    };
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

/// Runs `pgfleet output`: every recorded server's endpoint (never a password).
///
/// # Errors
/// When the state cannot be found or read.
pub(crate) fn output(global: &GlobalArgs, args: &OutputArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let state = super::state_cmd::read_unlocked(global, printer)?;
    let records = state.iter().flat_map(|state| state.servers.values());
    if args.json {
        let servers: serde_json::Map<String, serde_json::Value> = records
            .map(|record| {
                let endpoint = record.observed.endpoint.as_ref().map(|endpoint| {
                    serde_json::json!({
                        "host": endpoint.host,
                        "port": endpoint.port,
                        "user": endpoint.user,
                        "database": endpoint.database,
                        "uri": endpoint.uri(),
                    })
                });
                let mut entry = serde_json::json!({ "address": record.address.to_string() });
                entry["endpoint"] = endpoint.unwrap_or(serde_json::Value::Null);
                (record.observed.name.to_string(), entry)
            })
            .collect();
        printer.data(&serde_json::to_string_pretty(&serde_json::json!({ "servers": servers }))?);
        return Ok(Outcome::Success);
    }
    let lines =
        endpoint_lines(records.map(|record| (record.address.to_string(), record.observed.endpoint.as_ref())));
    if lines.is_empty() {
        printer.info("no server is recorded yet: `pgfleet apply` creates them");
    } else {
        printer.data(&lines.join("\n"));
    }
    Ok(Outcome::Success)
}

/// `servers.NAME  URI` lines, the addresses padded to one width ("(no endpoint yet)" when the
/// state has none).
pub(crate) fn endpoint_lines<'a>(
    servers: impl Iterator<Item = (String, Option<&'a crate::model::Endpoint>)>,
) -> Vec<String> {
    let servers: Vec<(String, String)> = servers
        .map(|(address, endpoint)| {
            (address, endpoint.map_or_else(|| "(no endpoint yet)".to_string(), crate::model::Endpoint::uri))
        })
        .collect();
    let width = servers.iter().map(|(address, _)| address.len()).max().unwrap_or(0);
    servers.into_iter().map(|(address, uri)| format!("{address:width$}  {uri}")).collect()
}
