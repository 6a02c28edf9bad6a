//! `pgfleet state list|show` and `pgfleet force-unlock`: inspecting the state file and breaking
//! a stuck lock. These commands work without a valid fleet file when `--state` is given; without
//! it they read only `[fleet] name` from the fleet file to find `state/<name>.state.json`. They
//! never write the state.

use super::{GlobalArgs, Outcome, Printer};
use crate::model::Address;
use crate::state::{
    self, LockStatus, LockWait, ServerRecord, State, StateError, StateLock, abandoned_lock_note,
    default_state_path, read_state_with_notes,
};
use anyhow::Context;
use std::path::{Path, PathBuf};

#[derive(Debug, clap::Subcommand)]
pub(crate) enum StateCommand {
    /// List the addresses of every recorded server.
    List,
    /// Show what is recorded of one server (never secrets).
    Show {
        /// The server's address (`servers.pay-main`) or name (`pay-main`).
        address: String,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct ForceUnlockArgs {
    /// Break the lock even though a running process holds it (it may still write the state).
    #[arg(long)]
    pub even_if_held: bool,
}

/// Runs `pgfleet state list|show`, under the state lock so that it never reads a state that a
/// running apply is halfway through compacting.
///
/// # Errors
/// When the state path cannot be found, the state is locked, unreadable or corrupt, or (for
/// `show`) the address is not recorded.
pub(crate) fn run(global: &GlobalArgs, command: &StateCommand, printer: &Printer) -> anyhow::Result<Outcome> {
    let path = state_path(global)?;
    let command_line = match command {
        StateCommand::List => "pgfleet state list".to_string(),
        StateCommand::Show { address, .. } => format!("pgfleet state show {address}"),
    };
    let state = read_locked(&path, &command_line, global.lock_timeout, printer)?;
    match command {
        StateCommand::List => {
            if state.is_none() {
                printer.info(&format!("no state file at {}: nothing is recorded yet", path.display()));
            }
            let servers = state.as_ref().map(|state| &state.servers);
            let lines: String = servers
                .into_iter()
                .flat_map(|servers| servers.values())
                .map(|r| format!("{}\n", r.address))
                .collect();
            if !lines.is_empty() {
                printer.data(&lines);
            }
        }
        StateCommand::Show { address, json } => {
            let record = find_record(state.as_ref(), address, &path)?;
            let migration = state.as_ref().and_then(|state| state.migrations.get(&record.observed.name));
            let mut value = serde_json::to_value(record)?;
            if let (Some(migration), serde_json::Value::Object(fields)) = (migration, &mut value) {
                fields.insert("migration".into(), serde_json::to_value(migration)?);
            }
            let text = if *json { serde_json::to_string_pretty(&value)? } else { describe(record, &value) };
            printer.data(&text);
        }
    }
    Ok(Outcome::Success)
}

/// Runs `pgfleet force-unlock`.
///
/// # Errors
/// When the state path cannot be found, the lock file cannot be removed, or a running process
/// holds the lock and `--even-if-held` was not given.
pub(crate) fn force_unlock(
    global: &GlobalArgs,
    args: &ForceUnlockArgs,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let path = state_path(global)?;
    match state::lock_status(&path)? {
        LockStatus::Free => {
            printer.info(&format!("the state {} is not locked", path.display()));
            return Ok(Outcome::Success);
        }
        LockStatus::Held(holder) if !args.even_if_held => {
            let holder = holder.map_or_else(|| "a process".to_string(), |holder| holder.to_string());
            anyhow::bail!(
                "the state {} is locked by {holder}, which still holds the lock\nhint: let it finish or stop \
                 it; if it is stuck, run `pgfleet force-unlock --even-if-held`",
                path.display()
            );
        }
        LockStatus::Held(_) | LockStatus::Abandoned(_) => {}
    }
    let holder = state::force_unlock(&path)?;
    let holder = holder.map_or_else(|| "nobody recorded".to_string(), |holder| holder.to_string());
    printer.info(&format!("removed the lock of the state {} (held by {holder})", path.display()));
    Ok(Outcome::Success)
}

/// The state file: `--state`, or `state/<fleet name>.state.json` with the name read from the
/// fleet file's `[fleet] name` alone (the rest of the fleet file may be invalid).
///
/// # Errors
/// When `--state` is not given and the fleet file cannot be read or has no `[fleet] name`.
pub(crate) fn state_path(global: &GlobalArgs) -> anyhow::Result<PathBuf> {
    if let Some(path) = &global.state {
        return Ok(path.clone());
    }
    let config = &global.config;
    let hint = "hint: name the state file with --state PATH";
    let text = std::fs::read_to_string(config).with_context(|| {
        format!("could not read the fleet file {} to find the fleet's name\n{hint}", config.display())
    })?;
    let table: toml::Table = toml::from_str(&text)
        .with_context(|| format!("could not read the fleet's name from {}\n{hint}", config.display()))?;
    match table.get("fleet").and_then(|fleet| fleet.get("name")).and_then(toml::Value::as_str) {
        Some(name) => Ok(default_state_path(name)),
        None => anyhow::bail!("{} has no `[fleet] name` to name the state file\n{hint}", config.display()),
    }
}

/// Reads the state under its lock (waiting for it up to `lock_timeout`); `None` when there is
/// no state file.
fn read_locked(
    path: &Path,
    command_line: &str,
    lock_timeout: std::time::Duration,
    printer: &Printer,
) -> anyhow::Result<Option<State>> {
    let parent = path.parent().filter(|parent| !parent.as_os_str().is_empty());
    if parent.is_some_and(|parent| !parent.exists()) {
        return Ok(None);
    }
    let waiting = super::session::waiting_message(path, lock_timeout, printer);
    let wait = LockWait { timeout: lock_timeout, waiting: Some(&waiting) };
    let (_lock, previous) = StateLock::acquire(path, command_line, wait)?;
    let read = read_state_with_notes(path);
    // An unfinished migration is the first thing said; then what the store noticed.
    if let Ok(read) = &read {
        super::session::warn_unfinished_migrations(&read.state, printer);
    }
    if let Some(previous) = previous {
        printer.warn(&abandoned_lock_note(&previous));
    }
    match read {
        Ok(read) => {
            for note in &read.notes {
                printer.warn(note);
            }
            Ok(Some(read.state))
        }
        Err(StateError::Missing { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// The record at `address`, or an error suggesting the closest recorded address.
fn find_record<'a>(state: Option<&'a State>, address: &str, path: &Path) -> anyhow::Result<&'a ServerRecord> {
    let Some(state) = state else {
        anyhow::bail!("{address} is not recorded: there is no state file at {}", path.display());
    };
    let name = Address::server_named(address);
    if let Some(record) = state.servers.get(&name) {
        return Ok(record);
    }
    let recorded: Vec<String> = state.servers.values().map(|record| record.address.to_string()).collect();
    let typed = name.address().to_string();
    let closest = recorded
        .iter()
        .map(|candidate| (strsim::normalized_damerau_levenshtein(&typed, candidate), candidate))
        .filter(|(similarity, _)| *similarity >= 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    let hint = match closest {
        Some((_, candidate)) => format!("\nhint: did you mean {candidate}?"),
        None if recorded.is_empty() => "\nhint: no server is recorded yet".to_string(),
        None => "\nhint: `pgfleet state list` shows the recorded addresses".to_string(),
    };
    anyhow::bail!("{address} is not recorded in the state {}{hint}", path.display())
}

/// The record as `path = value` lines, one per attribute in the state file's order (an
/// unfinished migration's under `migration.`), then the derived SKU name and connection URI
/// (without a password).
fn describe(record: &ServerRecord, value: &serde_json::Value) -> String {
    let mut lines = Vec::new();
    flatten("", value, &mut lines);
    // Derived, for people: the SKU name the service shows and the URI to connect with.
    lines.push(("sku".to_string(), record.observed.spec.sku_name()));
    if let Some(endpoint) = &record.observed.endpoint {
        lines.push(("endpoint.uri".to_string(), endpoint.uri()));
    }
    let width = lines.iter().map(|(key, _)| key.len()).max().unwrap_or(0);
    let mut text = format!("# {}\n", record.address);
    for (key, value) in lines {
        text.push_str(&format!("{key:width$} = {value}\n"));
    }
    text
}

fn flatten(prefix: &str, value: &serde_json::Value, lines: &mut Vec<(String, String)>) {
    match value {
        serde_json::Value::Object(map) if !map.is_empty() => {
            for (key, inner) in map {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten(&path, inner, lines);
            }
        }
        serde_json::Value::String(text) => lines.push((prefix.to_string(), text.clone())),
        other => lines.push((prefix.to_string(), other.to_string())),
    }
}
