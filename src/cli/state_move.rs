//! `pgfleet state push FILE` and `pgfleet state migrate --from local|FLEET_FILE`: putting a
//! whole state into the fleet's backend without breaking its history. A push must continue the
//! backend's state (same lineage, a newer serial); a migration copies the state and its journal
//! as they are (lineage and serial kept) into a backend that holds no other state, and leaves the
//! source readable. Both hold the destination's lock; a migration also holds the source's.

use super::state_backend::{Located, local_path};
use super::state_cmd::locate_file;
use super::{GlobalArgs, Printer};
use crate::state::{self, BackendConfig, LockWait, LockedState, State, StateBackend, StateStore};
use anyhow::{Context, bail};
use std::path::Path;

/// Uploads the state file `file` to the backend of `located`.
///
/// # Errors
/// When the file is not a state of this fleet, does not continue the backend's state (another
/// lineage, or a serial not above the backend's), or cannot be written.
pub(crate) fn push(
    located: &Located,
    file: &Path,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<()> {
    let incoming =
        state::read_state_file(file).with_context(|| format!("could not read {}", file.display()))?;
    if incoming.fleet != located.name {
        bail!(
            "{} records fleet {:?}, not {:?}\nhint: push it with the fleet file of fleet {:?}",
            file.display(),
            incoming.fleet,
            located.name,
            incoming.fleet
        );
    }
    let mut locked =
        open_destination(located, &format!("pgfleet state push {}", file.display()), global, printer)?;
    if !locked.is_new() {
        let current = locked.state();
        if current.lineage != incoming.lineage {
            bail!(
                "{} is a state of lineage {}, but {} holds lineage {}: pushing it would replace another state\n\
                 hint: check that the file belongs to this backend; `pgfleet state pull` prints what the backend holds",
                file.display(),
                incoming.lineage,
                locked.describe(),
                current.lineage
            );
        }
        if incoming.serial <= current.serial {
            bail!(
                "{} has serial {}, but {} already has serial {}: it was written since, and pushing the file would \
                 lose that\nhint: `pgfleet state pull` prints the backend's state; `pgfleet refresh` records what \
                 exists if the file knew more",
                file.display(),
                incoming.serial,
                locked.describe(),
                current.serial
            );
        }
    }
    let serial = incoming.serial;
    locked.replace(incoming).with_context(|| format!("could not push {}", file.display()))?;
    printer.info(&format!(
        "Pushed {} (serial {serial}) to the state {}; the file can be removed.",
        file.display(),
        locked.describe()
    ));
    Ok(())
}

/// Moves the state of `from` (`local`, or another fleet file's backend) into `located`'s.
///
/// # Errors
/// When the source has no state of this fleet, source and destination are the same, or the
/// destination already holds another state.
pub(crate) fn migrate(
    located: &Located,
    from: &str,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<()> {
    let source_config = if from == "local" {
        BackendConfig::Local { path: local_path(global, &located.name) }
    } else {
        locate_file(global, Path::new(from), false, printer)?.config
    };
    let mut source = StateBackend::open(&source_config)?;
    let destination = StateBackend::open(&located.config)?;
    let (from_name, to_name) = (source.describe().to_string(), destination.describe().to_string());
    if from_name == to_name {
        bail!(
            "the state is already in {to_name}: source and destination are the same\nhint: set `[state] backend` \
             in {} to the backend to move the state to",
            global.config.display()
        );
    }
    let waiting = super::session::waiting_message(from_name.clone(), global.lock_timeout, printer);
    let wait = LockWait { timeout: global.lock_timeout, waiting: Some(&waiting) };
    let _source_lock = source.lock("pgfleet state migrate (source)", wait)?;
    let parts = source.read_parts()?;
    for note in &parts.notes {
        printer.warn(note);
    }
    let Some(moved) = parts.state else {
        bail!(
            "there is no state in {from_name}: nothing to migrate\nhint: --from names where the state is now"
        );
    };
    if moved.fleet != located.name {
        bail!("{from_name} records fleet {:?}, not {:?}", moved.fleet, located.name);
    }
    let mut current = moved.clone();
    for record in &parts.records {
        current.apply_record(record);
    }
    let mut locked =
        open_destination(located, &format!("pgfleet state migrate --from {from}"), global, printer)?;
    if !locked.is_new() {
        if locked.state() == &current {
            printer.info(&format!(
                "{to_name} already holds this state (serial {}): nothing to move",
                current.serial
            ));
            return Ok(());
        }
        bail!(
            "{to_name} already holds a state (lineage {}, serial {}); pgfleet will not overwrite it with the one in \
             {from_name} (lineage {}, serial {})\nhint: `pgfleet state pull` prints what it holds; remove it from the \
             backend first if the state to keep is the one in {from_name}",
            locked.state().lineage,
            locked.state().serial,
            moved.lineage,
            moved.serial
        );
    }
    copy(&mut locked, moved, &parts.records)?;
    printer.info(&format!(
        "Moved the state (serial {}, lineage {}, {} journal records) from {from_name} to {to_name}; the source is \
         left as it was. Commands with this fleet file now use {to_name}.",
        current.serial,
        current.lineage,
        parts.records.len()
    ));
    Ok(())
}

/// Writes `moved` exactly, then its journal's records as a journal continuing it.
fn copy(locked: &mut LockedState, moved: State, records: &[state::JournalRecord]) -> anyhow::Result<()> {
    locked.replace(moved).context("could not write the state")?;
    locked.append(records).context("could not write the journal")?;
    Ok(())
}

/// The destination, under its lock.
fn open_destination(
    located: &Located,
    command_line: &str,
    global: &GlobalArgs,
    printer: &Printer,
) -> anyhow::Result<LockedState> {
    let backend = StateBackend::open(&located.config)?;
    let waiting =
        super::session::waiting_message(backend.describe().to_string(), global.lock_timeout, printer);
    let wait = LockWait { timeout: global.lock_timeout, waiting: Some(&waiting) };
    let locked = StateStore::open_in(backend, &located.name, command_line, wait)?;
    for note in locked.notes() {
        printer.warn(note);
    }
    Ok(locked)
}
