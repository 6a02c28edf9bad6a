//! `pgfleet validate`: checks the fleet file and reports every problem at once.

use super::{GlobalArgs, Outcome, Printer};

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {}

pub fn run(_global: &GlobalArgs, _args: &ValidateArgs, _printer: &Printer) -> anyhow::Result<Outcome> {
    anyhow::bail!("validate is being built (issue 2)")
}
