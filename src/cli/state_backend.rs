//! Where a command finds its state: the fleet file's `[state]` (or, for the local backend,
//! `--state PATH`) turned into a backend, with its secret (an access key, a connection string)
//! read only now; and what a command does when the backend refuses the state it must save: it
//! writes `errored.state.json` and says how to push it. Nothing here prints.

use super::GlobalArgs;
use crate::config::{self, DesiredFleet, StateSettings};
use crate::state::{
    self, AzurermConfig, BackendConfig, BlobAuth, LockedState, PgConfig, StateBackend, StateError,
};
use anyhow::{Context, bail};
use std::path::{Path, PathBuf};

/// A fleet's state as the state commands find it: from a fleet file whose other sections may
/// be invalid.
pub(crate) struct Located {
    /// `[fleet] name`.
    pub name: String,
    pub config: BackendConfig,
}

/// The backend `settings` name for fleet `name`; secrets are read relative to `fleet_dir`.
/// `--state` names the local backend's file, and only that.
///
/// # Errors
/// When `--state` is given with a remote backend, or a secret cannot be read.
pub(crate) fn backend_config(
    global: &GlobalArgs,
    name: &str,
    settings: &StateSettings,
    fleet_dir: &Path,
) -> anyhow::Result<BackendConfig> {
    if global.state.is_some() && !matches!(settings, StateSettings::Local) {
        bail!(
            "--state names a local state file, but the fleet file keeps the state in the {} backend ([state])\n\
             hint: leave out --state (and PGFLEET_STATE); to move a local state there, run `pgfleet state migrate \
             --from local --state PATH`",
            settings.kind()
        );
    }
    Ok(match settings {
        StateSettings::Local => BackendConfig::Local { path: local_path(global, name) },
        StateSettings::Azurerm(azurerm) => {
            let auth = match &azurerm.access_key {
                Some(reference) => BlobAuth::SharedKey(
                    reference.resolve(fleet_dir).context("could not read [state.azurerm] access_key")?,
                ),
                None => BlobAuth::CredentialChain,
            };
            BackendConfig::Azurerm(AzurermConfig {
                account: azurerm.account.clone(),
                container: azurerm.container.clone(),
                key: azurerm.key.clone(),
                endpoint: azurerm.endpoint.clone(),
                auth,
            })
        }
        StateSettings::Pg(pg) => BackendConfig::Pg(PgConfig {
            conn_str: pg.conn_str.resolve(fleet_dir).context("could not read [state.pg] conn_str")?,
            schema: pg.schema.clone(),
            name: name.to_string(),
        }),
    })
}

/// The local state file: `--state`, else `state/<fleet>.state.json`.
pub(crate) fn local_path(global: &GlobalArgs, name: &str) -> PathBuf {
    global.state.clone().unwrap_or_else(|| state::default_state_path(name))
}

/// The directory of a fleet file (secret files are relative to it).
pub(crate) fn fleet_dir(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The backend of a validated fleet.
///
/// # Errors
/// As [`backend_config`]; when the backend cannot be opened.
pub(crate) fn open_backend(global: &GlobalArgs, fleet: &DesiredFleet) -> anyhow::Result<StateBackend> {
    let config = backend_config(global, &fleet.name, &fleet.state, &fleet_dir(&fleet.source.path))?;
    Ok(StateBackend::open(&config)?)
}

/// Where a migration keeps its dumps: beside a local state file, else `state/` under the
/// working directory.
pub(crate) fn work_dir(global: &GlobalArgs, fleet: &DesiredFleet) -> PathBuf {
    let path = match fleet.state {
        StateSettings::Local => local_path(global, &fleet.name),
        _ => state::default_state_path(&fleet.name),
    };
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The fleet's name and state backend, read from the fleet file `path` with `--state` as the
/// local file (a broken fleet file is fine as long as `[fleet] name` and `[state]` are sound);
/// `with_state` is false for another fleet's file, whose local state is its default one.
///
/// # Errors
/// When the file cannot be read, has no `[fleet] name` or a broken `[state]` (its diagnostics
/// are returned as the second value for the caller to print).
pub(crate) fn locate(
    global: &GlobalArgs,
    path: &Path,
    with_state: bool,
) -> anyhow::Result<Result<Located, (Vec<u8>, config::Diagnostics)>> {
    let hint = "hint: name the state file with --state PATH";
    if with_state && let Some(state) = &global.state {
        // A local state named on the command line needs no fleet file: the fleet's name is the
        // fleet file's when there is one, else the one the state records.
        let name = std::fs::read(path)
            .ok()
            .and_then(|bytes| config::parse_state_section(path, &bytes).ok())
            .and_then(|(section, _)| section.name)
            .or_else(|| state::read_state(state).ok().map(|recorded| recorded.fleet))
            .unwrap_or_default();
        return Ok(Ok(Located { name, config: BackendConfig::Local { path: state.clone() } }));
    }
    let bytes = std::fs::read(path).with_context(|| {
        format!("could not read the fleet file {} to find the fleet's state\n{hint}", path.display())
    })?;
    let (section, _warnings) = match config::parse_state_section(path, &bytes) {
        Ok(parsed) => parsed,
        Err(diagnostics) => return Ok(Err((bytes, diagnostics))),
    };
    let Some(name) = section.name else {
        bail!("{} has no `[fleet] name` to name the state file\n{hint}", path.display());
    };
    let local = GlobalArgs { state: None, ..global.clone() };
    let global = if with_state { global } else { &local };
    let config = backend_config(global, &name, &section.state, &fleet_dir(path))?;
    Ok(Ok(Located { name, config }))
}

/// What a command says when the backend refuses the state it must save at its end: the state
/// goes to `errored.state.json` in the working directory, and the message says how to push it.
pub(crate) fn errored(locked: &LockedState, error: StateError) -> anyhow::Error {
    let pending = locked.pending();
    // The working directory, as a bare name: the hint's command then reads as typed.
    match state::save_errored(Path::new(""), &pending) {
        Ok(path) => anyhow::anyhow!(
            "could not save the state to {}: {error}\nthe state (serial {}) is saved in {} instead, with everything \
             this command recorded: nothing is lost\nhint: once the backend can be written again, upload it: \
             pgfleet state push {}",
            locked.describe(),
            pending.serial,
            path.display(),
            path.display()
        ),
        Err(local) => anyhow::anyhow!(
            "could not save the state to {}: {error}\nand not to {} either: {local}",
            locked.describe(),
            state::ERRORED_STATE_FILE
        ),
    }
}
