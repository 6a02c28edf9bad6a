//! `pgfleet validate`: checks the fleet file and reports every problem at once, rendered like a
//! compiler's messages (colour only on a terminal). Exit 0 when valid, 1 otherwise.

use super::{GlobalArgs, Outcome, Printer};
use crate::config::DesiredFleet;
use crate::rules::Tier;
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub(crate) struct ValidateArgs {}

pub(crate) fn run(global: &GlobalArgs, _args: &ValidateArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    match super::session::check_fleet(global, printer)? {
        Ok(fleet) => {
            printer.info(&summary(&fleet));
            Ok(Outcome::Success)
        }
        Err(errors) => {
            let noun = if errors == 1 { "error" } else { "errors" };
            printer.stderr_raw(&format!("{} is not valid: {errors} {noun}\n", global.config.display()));
            Ok(Outcome::Error)
        }
    }
}

/// `examples/quickstart.toml is valid: fleet "quickstart", 4 servers (1 Basic, 3 GeneralPurpose), provider local`
fn summary(fleet: &DesiredFleet) -> String {
    let mut per_tier: BTreeMap<Tier, usize> = BTreeMap::new();
    for server in fleet.servers.values() {
        *per_tier.entry(server.spec.tier).or_default() += 1;
    }
    let tiers: Vec<String> = per_tier.iter().map(|(tier, count)| format!("{count} {tier}")).collect();
    let count = fleet.servers.len();
    let noun = if count == 1 { "server" } else { "servers" };
    let breakdown = if tiers.is_empty() { String::new() } else { format!(" ({})", tiers.join(", ")) };
    format!(
        "{} is valid: fleet {:?}, {count} {noun}{breakdown}, provider {}",
        fleet.source.path.display(),
        fleet.name,
        fleet.provider.kind()
    )
}
