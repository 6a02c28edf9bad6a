//! What can go wrong with the state file, its lock and its journal. Each message says what
//! happened to which file and, on `hint:` lines, what the user can do about it. This module
//! only describes errors; it does no I/O.

use super::lock::LockHolder;
use std::path::PathBuf;

/// An error reading, locking or writing the state.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file system operation failed.
    #[error("could not {action} {}", path.display())]
    Io {
        /// What pgfleet was doing (`read`, `rename … to`, `lock` …).
        action: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Another process holds the state lock (and still held it after `waited`).
    #[error(
        "the state {} is locked by {}{}\nhint: wait for that command to finish{}; if it is stuck, stop it \
         (a lock whose process has ended is taken over by the next command), or break the lock with \
         `pgfleet force-unlock --even-if-held`",
        path.display(),
        describe_holder(holder.as_ref()),
        describe_wait(*waited),
        if waited.is_zero() { " (or let pgfleet wait for it: --lock-timeout 5m)" } else { "" }
    )]
    Locked { path: PathBuf, holder: Option<LockHolder>, waited: std::time::Duration },

    /// The state file is not valid JSON, or not a valid state.
    #[error(
        "the state file {} is corrupt at line {line}, column {column}: {message}\nhint: pgfleet left it \
         untouched; restore the previous version from {}.backup or repair it by hand",
        path.display(),
        path.display()
    )]
    Corrupt { path: PathBuf, line: usize, column: usize, message: String },

    /// The state file was written by a newer pgfleet in a format this build cannot read.
    #[error(
        "the state file {} has format version {found} (written by pgfleet {written_by}); this pgfleet \
         reads format version {supported} at most\nhint: upgrade pgfleet to {written_by} or later",
        path.display()
    )]
    NewerFormat { path: PathBuf, found: u64, supported: u32, written_by: String },

    /// The state file belongs to another fleet.
    #[error(
        "the state file {} records fleet {found:?}, not {expected:?}\nhint: check `[fleet] name` in the \
         fleet file, or pass the right file with --state",
        path.display()
    )]
    WrongFleet { path: PathBuf, found: String, expected: String },

    /// A journal line before the last one cannot be read: not a torn write but damage.
    #[error(
        "the journal {} is corrupt at line {line}: {message}\nhint: pgfleet left it untouched; the state \
         file without the journal is the state before the last apply",
        path.display()
    )]
    JournalCorrupt { path: PathBuf, line: usize, message: String },

    /// The journal does not continue the state file beside it.
    #[error(
        "the journal {} continues state {journal_lineage} serial {journal_serial}, but the state file \
         is {state_lineage} serial {state_serial}\nhint: the state file was replaced while an apply was \
         interrupted; move the journal aside if the state file is the one to keep",
        path.display()
    )]
    JournalMismatch {
        path: PathBuf,
        journal_lineage: uuid::Uuid,
        journal_serial: u64,
        state_lineage: uuid::Uuid,
        state_serial: u64,
    },

    /// A journal without the state file it continues.
    #[error(
        "the journal {} has no state file beside it\nhint: the state file was removed while an apply was \
         interrupted; restore it (for example from its .backup) or move the journal aside",
        path.display()
    )]
    OrphanJournal { path: PathBuf },

    /// The state file is gone but its backup is there: starting a new, empty state would begin
    /// a new lineage and, at its second write, overwrite the only copy of what was recorded.
    #[error(
        "the state file {} is missing, but its backup {} is there; pgfleet will not start a new state over \
         it\nhint: restore it: cp {} {}\nhint: the backup is the state before its last write; \
         `pgfleet refresh` then brings it up to date with the live servers (to start over on purpose, \
         move the backup aside instead)",
        path.display(),
        backup.display(),
        shell_quoted(backup),
        shell_quoted(path)
    )]
    MissingWithBackup { path: PathBuf, backup: PathBuf },

    /// There is no state file (nothing recorded yet) where a reader expected one.
    #[error("there is no state file at {}\nhint: nothing has been applied to this fleet yet", path.display())]
    Missing { path: PathBuf },

    /// The state could not be turned into JSON (a bug: every state type serializes).
    #[error("could not serialize the state for {}", path.display())]
    Serialize {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl StateError {
    pub(crate) fn io(
        action: impl Into<String>,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> StateError {
        StateError::Io { action: action.into(), path: path.into(), source }
    }
}

fn describe_holder(holder: Option<&LockHolder>) -> String {
    match holder {
        Some(holder) => holder.to_string(),
        None => "another process that has not yet recorded who it is".to_string(),
    }
}

fn describe_wait(waited: std::time::Duration) -> String {
    if waited.is_zero() {
        String::new()
    } else {
        format!(" (waited {} for it)", humantime::format_duration(waited))
    }
}

/// A path as a POSIX shell reads it: as it is when it holds only characters a shell leaves
/// alone, else in single quotes (a quote inside written as `'\''`).
fn shell_quoted(path: &std::path::Path) -> String {
    let text = path.to_string_lossy();
    let plain = |c: char| c.is_ascii_alphanumeric() || "/._-+:@,=%".contains(c);
    if !text.is_empty() && text.chars().all(plain) {
        text.into_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::shell_quoted;
    use std::path::Path;

    #[test]
    fn paths_are_quoted_only_where_a_shell_would_split_or_expand_them() {
        assert_eq!(shell_quoted(Path::new("state/payments.state.json")), "state/payments.state.json");
        assert_eq!(shell_quoted(Path::new("/srv/my fleet/x.json")), "'/srv/my fleet/x.json'");
        assert_eq!(shell_quoted(Path::new("it's $HOME")), r"'it'\''s $HOME'");
    }
}
