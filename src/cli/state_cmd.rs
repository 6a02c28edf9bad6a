//! `pgfleet state list|show|pull|rm|push|migrate` and `pgfleet force-unlock`: inspecting the
//! state, forgetting a server, moving a state between backends, breaking a stuck lock — in
//! whichever backend `[state]` names (`push` and `migrate` live in `state_move`). These
//! commands work on a fleet file whose servers are invalid: they read only `[fleet] name` and
//! `[state]` (or `--state PATH` for a local file). Only `rm`, `push` and `migrate` write.

use super::state_backend::{self, Located};
use super::{GlobalArgs, Outcome, Printer};
use crate::model::{Address, ServerName};
use crate::state::{
    BackendConfig, LockStatus, LockWait, ServerRecord, State, StateBackend, StateError, StateStore,
    abandoned_lock_note,
};
use anyhow::bail;
use std::path::PathBuf;

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
    /// Print the current state as JSON (the journal of an unfinished apply included).
    Pull,
    /// Forget servers: remove them from the state without touching them.
    Rm {
        /// The servers' addresses (`servers.pay-main`) or names (`pay-main`).
        #[arg(required = true)]
        addresses: Vec<String>,
    },
    /// Upload a state file (such as errored.state.json) to the backend, after checking that it
    /// continues the backend's state (same lineage, newer serial).
    Push {
        /// The state file to upload.
        file: PathBuf,
    },
    /// Move a state, journal included, into the backend of this fleet file, keeping its lineage
    /// and serial; the source is left as it was.
    Migrate {
        /// `local` (the local state file: `state/<fleet>.state.json`, or --state PATH), or another
        /// fleet file whose `[state]` names the backend to move from.
        #[arg(long, value_name = "local|FLEET_FILE")]
        from: String,
    },
}

#[derive(Debug, clap::Args)]
pub(crate) struct ForceUnlockArgs {
    /// Break the lock even though a running process holds it (it may still write the state).
    #[arg(long)]
    pub even_if_held: bool,
}

/// Runs `pgfleet state …`. Reads happen under the state lock, so that they never see a state
/// that a running apply is halfway through compacting.
///
/// # Errors
/// When the state cannot be found, is locked, unreadable or corrupt, or (for `show` and `rm`)
/// an address is not recorded; `push` and `migrate` as [`super::state_move`] says.
pub(crate) fn run(global: &GlobalArgs, command: &StateCommand, printer: &Printer) -> anyhow::Result<Outcome> {
    // `migrate` moves into the fleet file's backend; there, `--state` names the local source.
    let located = match command {
        StateCommand::Migrate { .. } => locate_file(global, &global.config, false, printer)?,
        _ => locate(global, printer)?,
    };
    match command {
        StateCommand::List => {
            let Some(state) = read_locked(&located, "pgfleet state list", global, printer)? else {
                printer.info(&format!("no state in {}: nothing is recorded yet", describe(&located)?));
                return Ok(Outcome::Success);
            };
            let lines: String = state.servers.values().map(|r| format!("{}\n", r.address)).collect();
            if !lines.is_empty() {
                printer.data(&lines);
            }
        }
        StateCommand::Show { address, json } => {
            let command_line = format!("pgfleet state show {address}");
            let state = read_locked(&located, &command_line, global, printer)?;
            let record = find_record(state.as_ref(), address, &located)?;
            let migration = state.as_ref().and_then(|state| state.migrations.get(&record.observed.name));
            let mut value = serde_json::to_value(record)?;
            if let (Some(migration), serde_json::Value::Object(fields)) = (migration, &mut value) {
                fields.insert("migration".into(), serde_json::to_value(migration)?);
            }
            let text =
                if *json { serde_json::to_string_pretty(&value)? } else { show_record(record, &value) };
            printer.data(&text);
        }
        StateCommand::Pull => match read_locked(&located, "pgfleet state pull", global, printer)? {
            Some(state) => printer.data(&serde_json::to_string_pretty(&state)?),
            None => bail!(
                "there is no state in {}\nhint: nothing has been applied to this fleet yet",
                describe(&located)?
            ),
        },
        StateCommand::Rm { addresses } => remove(&located, addresses, global, printer)?,
        StateCommand::Push { file } => super::state_move::push(&located, file, global, printer)?,
        StateCommand::Migrate { from } => super::state_move::migrate(&located, from, global, printer)?,
    }
    Ok(Outcome::Success)
}

/// Runs `pgfleet force-unlock`.
///
/// # Errors
/// When the state cannot be found, the lock cannot be broken, or a running process holds the
/// lock and `--even-if-held` was not given.
pub(crate) fn force_unlock(
    global: &GlobalArgs,
    args: &ForceUnlockArgs,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let located = locate(global, printer)?;
    let mut backend = StateBackend::open(&located.config)?;
    let state = backend.describe().to_string();
    match backend.lock_status()? {
        LockStatus::Free => {
            printer.info(&format!("the state {state} is not locked"));
            return Ok(Outcome::Success);
        }
        LockStatus::Held(holder) if !args.even_if_held => {
            let holder = holder.map_or_else(|| "a process".to_string(), |holder| holder.to_string());
            bail!(
                "the state {state} is locked by {holder}, which still holds the lock\nhint: let it finish or stop \
                 it; if it is stuck, run `pgfleet force-unlock --even-if-held`"
            );
        }
        LockStatus::Held(_) | LockStatus::Abandoned(_) => {}
    }
    let holder = backend.force_unlock()?;
    let holder = holder.map_or_else(|| "nobody recorded".to_string(), |holder| holder.to_string());
    printer.info(&format!("removed the lock of the state {state} (held by {holder})"));
    Ok(Outcome::Success)
}

/// The fleet's name and backend, from `-c FILE` (or `--state PATH`), printing the diagnostics
/// of a broken `[state]`.
///
/// # Errors
/// When the fleet file cannot be read, names no fleet, or its `[state]` is broken.
pub(crate) fn locate(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<Located> {
    locate_file(global, &global.config, true, printer)
}

/// [`locate`] for the fleet file `path`; `with_state`: whether `--state` applies to it.
pub(crate) fn locate_file(
    global: &GlobalArgs,
    path: &std::path::Path,
    with_state: bool,
    printer: &Printer,
) -> anyhow::Result<Located> {
    match state_backend::locate(global, path, with_state)? {
        Ok(located) => Ok(located),
        Err((bytes, diagnostics)) => {
            let source = crate::config::shown_source(&bytes);
            printer.stderr_raw(&diagnostics.render(&source, printer.stderr_color()));
            super::github::annotate(&diagnostics.0, printer);
            bail!("the [state] section of {} is not valid", path.display());
        }
    }
}

/// How messages name a located state.
pub(crate) fn describe(located: &Located) -> anyhow::Result<String> {
    Ok(match &located.config {
        BackendConfig::Local { path } => format!("file {}", path.display()),
        config => StateBackend::open(config)?.describe().to_string(),
    })
}

/// Reads the state under its lock (waiting for it up to `--lock-timeout`); `None` when there
/// is none. A local state in a directory that does not exist is not looked for: a read creates
/// nothing.
pub(crate) fn read_locked(
    located: &Located,
    command_line: &str,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<Option<State>> {
    if let BackendConfig::Local { path } = &located.config {
        let parent = path.parent().filter(|parent| !parent.as_os_str().is_empty());
        if parent.is_some_and(|parent| !parent.exists()) {
            return Ok(None);
        }
    }
    let mut backend = StateBackend::open(&located.config)?;
    let waiting =
        super::session::waiting_message(backend.describe().to_string(), global.lock_timeout, printer);
    let wait = LockWait { timeout: global.lock_timeout, waiting: Some(&waiting) };
    let lock = backend.lock(command_line, wait)?;
    let read = backend.read();
    // An unfinished migration is the first thing said; then what the store noticed.
    if let Ok(read) = &read {
        super::session::warn_unfinished_migrations(&read.state, printer);
    }
    if let Some(previous) = &lock.previous {
        printer.warn(&abandoned_lock_note(previous));
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

/// Reads the state without its lock (`endpoint`, `output`); `None` when there is none.
///
/// # Errors
/// When the state cannot be found or read.
pub(crate) fn read_unlocked(global: &GlobalArgs, printer: &Printer) -> anyhow::Result<Option<State>> {
    let located = locate(global, printer)?;
    match StateBackend::open(&located.config)?.read() {
        Ok(read) => Ok(Some(read.state)),
        Err(StateError::Missing { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}

/// `state rm`: every address must be recorded, and none may be in the middle of a migration or
/// an interrupted step (forgetting it would lose what finishes it).
fn remove(
    located: &Located,
    addresses: &[String],
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<()> {
    let backend = StateBackend::open(&located.config)?;
    let waiting =
        super::session::waiting_message(backend.describe().to_string(), global.lock_timeout, printer);
    let wait = LockWait { timeout: global.lock_timeout, waiting: Some(&waiting) };
    let command_line = format!("pgfleet state rm {}", addresses.join(" "));
    let mut locked = StateStore::open_in(backend, &located.name, &command_line, wait)?;
    for note in locked.notes() {
        printer.warn(note);
    }
    let mut state = locked.state().clone();
    let mut removed = Vec::new();
    for address in addresses {
        let name = find_record(Some(&state), address, located)?.observed.name.clone();
        if state.migrations.contains_key(&name) {
            bail!(
                "{} is in the middle of a migration; forgetting it would lose what finishes or undoes it\nhint: \
                 finish it with `pgfleet apply`, or abort it with `pgfleet migrate abort {name}`, first",
                name.address()
            );
        }
        if state.in_flight.iter().any(|step| step.server == name) {
            bail!(
                "{} has a step an interrupted apply left unfinished\nhint: run `pgfleet apply` (or `pgfleet refresh`) \
                 first, so that the state says what exists",
                name.address()
            );
        }
        state.servers.remove(&name);
        removed.push(name);
    }
    super::session::save(&mut locked, state)?;
    for name in &removed {
        printer.info(&format!(
            "Removed {} from the state {}; the server itself was not changed.",
            name.address(),
            locked.describe()
        ));
    }
    Ok(())
}

/// The record at `address`, or an error suggesting the closest recorded address.
fn find_record<'a>(
    state: Option<&'a State>,
    address: &str,
    located: &Located,
) -> anyhow::Result<&'a ServerRecord> {
    let Some(state) = state else {
        bail!("{address} is not recorded: there is no state in {}", describe(located)?);
    };
    let name: ServerName = Address::server_named(address);
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
    bail!("{address} is not recorded in the state {}{hint}", describe(located)?)
}

/// The record as `path = value` lines, one per attribute in the state file's order (an
/// unfinished migration's under `migration.`), then the derived SKU name and connection URI
/// (without a password).
fn show_record(record: &ServerRecord, value: &serde_json::Value) -> String {
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
