//! Replacing a file atomically: write a temporary file in the same directory, fsync it, keep the
//! previous file as `.backup`, rename the temporary over the file, fsync the directory. A crash
//! at any point leaves either the old or the new file in place, never a mix. This module knows
//! nothing of what the bytes mean.

use super::StateError;
use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The steps of [`replace_file`], in order; tests stop after one of them to simulate a crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WriteStep {
    /// The new contents are durable in `<file>.tmp`; nothing else changed.
    TempWritten,
    /// The previous file is also `<file>.backup`; the file itself is unchanged.
    BackupKept,
    /// The temporary file was renamed over the file; the directory is not yet fsynced.
    Renamed,
}

/// A path beside `path` whose file name has `suffix` appended (`a.json` → `a.json.backup`).
pub(crate) fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(OsString::from).unwrap_or_default();
    name.push(suffix);
    path.with_file_name(name)
}

/// The directory a path lives in (`.` for a bare file name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// Replaces `path` with `bytes` atomically, keeping the previous file as `<path>.backup` when
/// `keep_backup` is set and there is a previous file.
///
/// # Errors
/// [`StateError::Io`] naming the step that failed; `path` is then unchanged (or, if only the
/// final directory fsync failed, already replaced).
pub(crate) fn replace_file(path: &Path, bytes: &[u8], keep_backup: bool) -> Result<(), StateError> {
    replace_file_until(path, bytes, keep_backup, None)
}

/// [`replace_file`], stopping after `stop_after` as a crash there would.
pub(crate) fn replace_file_until(
    path: &Path,
    bytes: &[u8],
    keep_backup: bool,
    stop_after: Option<WriteStep>,
) -> Result<(), StateError> {
    let temp = sibling(path, ".tmp");
    write_durably(&temp, bytes)?;
    if stop_after == Some(WriteStep::TempWritten) {
        return Ok(());
    }
    if keep_backup && path.exists() {
        keep_as_backup(path)?;
    }
    if stop_after == Some(WriteStep::BackupKept) {
        return Ok(());
    }
    std::fs::rename(&temp, path)
        .map_err(|e| StateError::io(format!("rename {} to", temp.display()), path, e))?;
    if stop_after == Some(WriteStep::Renamed) {
        return Ok(());
    }
    sync_dir(parent_dir(path))
}

/// Makes `<path>.backup` a copy of `path`, itself replaced atomically: a hard link where the
/// file system has them (no bytes copied), a copy otherwise.
fn keep_as_backup(path: &Path) -> Result<(), StateError> {
    let backup = sibling(path, ".backup");
    let staging = sibling(path, ".backup.tmp");
    match std::fs::remove_file(&staging) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StateError::io("remove the leftover", &staging, e)),
    }
    if std::fs::hard_link(path, &staging).is_err() {
        let bytes = std::fs::read(path).map_err(|e| StateError::io("read", path, e))?;
        write_durably(&staging, &bytes)?;
    }
    std::fs::rename(&staging, &backup)
        .map_err(|e| StateError::io(format!("rename {} to", staging.display()), &backup, e))
}

/// Writes `bytes` to `path` (created or truncated) and fsyncs it.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), StateError> {
    let mut file = File::create(path).map_err(|e| StateError::io("create", path, e))?;
    file.write_all(bytes).map_err(|e| StateError::io("write", path, e))?;
    file.sync_all().map_err(|e| StateError::io("fsync", path, e))
}

/// Fsyncs a directory, so that renames and removals in it survive a power loss.
///
/// # Errors
/// [`StateError::Io`] when the directory cannot be opened or synced.
#[cfg(unix)]
pub(crate) fn sync_dir(dir: &Path) -> Result<(), StateError> {
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    File::open(dir)
        .and_then(|handle| handle.sync_all())
        .map_err(|e| StateError::io("fsync the directory", dir, e))
}

/// Directories cannot be fsynced on this platform; renames are made durable by the OS.
#[cfg(not(unix))]
pub(crate) fn sync_dir(_dir: &Path) -> Result<(), StateError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_keeps_the_previous_file_as_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        replace_file(&path, b"one", true).unwrap();
        assert!(!sibling(&path, ".backup").exists(), "no backup of a file that did not exist");
        replace_file(&path, b"two", true).unwrap();
        replace_file(&path, b"three", true).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"three");
        assert_eq!(std::fs::read(sibling(&path, ".backup")).unwrap(), b"two");
        assert!(!sibling(&path, ".tmp").exists());
        assert!(!sibling(&path, ".backup.tmp").exists());
    }

    #[test]
    fn a_crash_before_the_rename_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        replace_file(&path, b"old", true).unwrap();
        for step in [WriteStep::TempWritten, WriteStep::BackupKept] {
            replace_file_until(&path, b"new", true, Some(step)).unwrap();
            assert_eq!(std::fs::read(&path).unwrap(), b"old", "{step:?}");
        }
        replace_file_until(&path, b"new", true, Some(WriteStep::Renamed)).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read(sibling(&path, ".backup")).unwrap(), b"old");
    }
}
