//! What most commands share: loading the fleet file (rendering its diagnostics), opening the
//! state under its lock, and building the provider of the fleet's kind.

use super::{GlobalArgs, Printer};
use crate::config::{self, DesiredFleet, ProviderSettings};
use crate::model::{LiveFleet, ServerName};
use crate::providers::Provider;
use crate::providers::local::{LocalProvider, LocalProviderOptions};
use crate::secret::Redacted;
use crate::state::{self, LockedState};
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Loads and validates the fleet file. Problems are rendered (and, on GitHub Actions, also
/// printed as annotations) before the error returns.
pub fn load_fleet(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<DesiredFleet> {
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
                printer.stderr_raw(&config::Diagnostics(warnings).render(&source, printer.stderr_color()));
            }
            Ok(fleet)
        }
        Err(diagnostics) => {
            printer.stderr_raw(&diagnostics.render(&source, printer.stderr_color()));
            super::github::annotate(&diagnostics.0, printer);
            let errors = diagnostics.errors().count();
            bail!("{} is not valid: {errors} error(s); `pgfleet validate` shows them alone", path.display())
        }
    }
}

/// The state file of a fleet: `--state`, else `state/<fleet>.state.json`.
pub fn state_path(global: &GlobalArgs, fleet: &DesiredFleet) -> PathBuf {
    global.state.clone().unwrap_or_else(|| state::default_state_path(&fleet.name))
}

/// Opens the fleet's state under its exclusive lock (held until the value drops), printing what
/// the store noticed on the way (a lock taken over from a dead process, a torn journal line).
pub fn open_state(
    global: &GlobalArgs,
    fleet: &DesiredFleet,
    command: &str,
    printer: &Printer,
) -> anyhow::Result<LockedState> {
    let path = state_path(global, fleet);
    let locked = state::StateStore::open(&path, &fleet.name, command)?;
    for note in locked.notes() {
        printer.warn(note);
    }
    Ok(locked)
}

/// Which secrets the provider gets.
pub enum Secrets {
    /// None: planning and refreshing never need a password.
    None,
    /// Every server's admin password, resolved from its reference (apply may create servers
    /// and migrate data).
    All,
}

/// Builds the provider of the fleet's kind.
pub fn build_provider(fleet: &DesiredFleet, secrets: Secrets) -> anyhow::Result<Arc<dyn Provider>> {
    let passwords = match secrets {
        Secrets::None => BTreeMap::new(),
        Secrets::All => resolve_passwords(fleet)?,
    };
    Ok(match &fleet.provider {
        ProviderSettings::Local(settings) => {
            let options = LocalProviderOptions {
                passwords,
                ..LocalProviderOptions::from_settings(settings, &fleet.name)
            };
            Arc::new(LocalProvider::new(options)?)
        }
        ProviderSettings::Azure(_) => bail!("the azure provider is not part of this build yet"),
    })
}

fn resolve_passwords(fleet: &DesiredFleet) -> anyhow::Result<BTreeMap<ServerName, Redacted<String>>> {
    let fleet_dir = fleet_dir(&fleet.source.path);
    let mut passwords = BTreeMap::new();
    for (name, server) in &fleet.servers {
        let password = server
            .admin_password
            .resolve(&fleet_dir)
            .with_context(|| format!("could not read the admin password of servers.{name}"))?;
        passwords.insert(name.clone(), password);
    }
    Ok(passwords)
}

fn fleet_dir(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Reads the live servers of the fleet.
pub async fn refresh(provider: &dyn Provider) -> anyhow::Result<LiveFleet> {
    provider
        .refresh()
        .await
        .with_context(|| format!("could not read the live servers ({} provider)", provider.kind()))
}

/// The async runtime commands use to talk to providers.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("could not start the async runtime")
}
