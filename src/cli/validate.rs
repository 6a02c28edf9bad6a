//! `pgfleet validate`: checks the fleet file and reports every problem at once, rendered like a
//! compiler's messages (colour only on a terminal). Exit 0 when valid, 1 otherwise.

use super::{GlobalArgs, Outcome, Printer};
use crate::config::{self, DesiredFleet};
use crate::rules::Tier;
use anyhow::Context;
use std::collections::BTreeMap;

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {}

pub fn run(global: &GlobalArgs, _args: &ValidateArgs, printer: &Printer) -> anyhow::Result<Outcome> {
    let path = &global.config;
    let bytes = std::fs::read(path).with_context(|| {
        format!(
            "cannot read the fleet file {}\nhint: create it, or name another with -c FILE",
            path.display()
        )
    })?;
    let source = String::from_utf8_lossy(&bytes);
    match config::parse(path, &bytes) {
        Ok((fleet, warnings)) => {
            if !warnings.is_empty() {
                printer.stderr_raw(
                    &config::Diagnostics(warnings.clone()).render(&source, printer.stderr_color()),
                );
                super::github::annotate(&warnings, printer);
            }
            printer.info(&summary(&fleet));
            Ok(Outcome::Success)
        }
        Err(diagnostics) => {
            printer.stderr_raw(&diagnostics.render(&source, printer.stderr_color()));
            super::github::annotate(&diagnostics.0, printer);
            let errors = diagnostics.errors().count();
            let noun = if errors == 1 { "error" } else { "errors" };
            printer.stderr_raw(&format!("{} is not valid: {errors} {noun}\n", path.display()));
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
