//! `pgfleet failover SERVER`: a planned failover of a Flexible Server with high availability.
//! Its standby becomes the primary behind the server's endpoint (clients reconnect to the same
//! address) and the former primary becomes the standby; the zones swap, which later plans do
//! not treat as a change. The window in which connections failed is measured and printed.

use super::session;
use super::{GlobalArgs, Outcome, Printer};
use crate::model::Address;
use anyhow::bail;

#[derive(Debug, clap::Args)]
pub(crate) struct FailoverArgs {
    /// The server to fail over (`orders` or `servers.orders`); it needs high availability.
    pub server: String,
    /// Print the measurements as JSON lines on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `pgfleet failover`.
///
/// # Errors
/// When the server is not in the fleet file, has no standby, or the failover fails.
pub(crate) fn run(global: &GlobalArgs, args: &FailoverArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let server = Address::server_named(&args.server);
    let fleet = session::load_fleet(global, printer)?;
    if !fleet.servers.contains_key(&server) {
        bail!(
            "{server} is not a server of {}\nhint: name a [servers.NAME] table of the fleet file",
            fleet.source.path.display()
        );
    }
    let mut locked = session::open_state(global, &fleet, &format!("failover {server}"), printer)?;
    let runtime = session::runtime()?;
    let (events, receiver) = tokio::sync::mpsc::unbounded_channel();
    let provider = session::build_provider_with_events(
        &fleet,
        Some(events),
        session::RetryReport::for_json(args.json),
        printer,
    )?;
    let observed = runtime.block_on(async {
        let measurements = session::report_provider_events(receiver, args.json, printer.clone(), None);
        session::recover_interrupted(&mut locked, provider.as_ref(), printer).await?;
        let result = provider.failover(&server).await;
        drop(provider);
        measurements.await.ok();
        result.map_err(|error| anyhow::anyhow!("{server} did not fail over: {error}"))
    })?;
    let mut state = locked.state().clone();
    state.record_observed(observed.clone());
    session::save(&mut locked, state)?;
    let zones = observed.spec.flexible.as_ref().map(|flexible| {
        format!(
            " (primary now in zone {}, standby in zone {})",
            flexible.zone.as_deref().unwrap_or("?"),
            flexible.standby_zone.as_deref().unwrap_or("?")
        )
    });
    printer.info(&format!("{server} failed over to its standby{}", zones.unwrap_or_default()));
    Ok(Outcome::Success)
}
