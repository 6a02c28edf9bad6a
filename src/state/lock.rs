//! The exclusive state lock, held for a whole command: an OS file lock (`flock` through `fs4`)
//! on `<state>.lock`, whose contents name the holder (pid, host, command, since when) so that a
//! second process can say who is in its way.
//!
//! Policy for a holder that died (even by SIGKILL): the operating system releases its file lock,
//! so the next command takes the lock over and reports the dead holder as a note (its apply may
//! have been interrupted). `force-unlock` is for a lock whose holder still exists but is stuck
//! (or sits on another host): it removes the lock file, after which new commands lock a fresh
//! file. This module does not read or write the state itself.

use super::StateError;
use super::atomic::{sibling, sync_dir};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// How often `acquire` retries when the lock file it locked was removed under it (by a holder
/// releasing, or by `force-unlock`) before it could check. Each retry opens the new file.
const ACQUIRE_ATTEMPTS: usize = 5;

/// Who holds (or last held) the state lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    pub host: String,
    /// The command line that took the lock (`pgfleet apply`).
    pub command: String,
    pub since: DateTime<Utc>,
}

impl LockHolder {
    /// This process, running `command`, from now on.
    pub(crate) fn current(command: &str) -> LockHolder {
        LockHolder {
            pid: std::process::id(),
            host: gethostname::gethostname().to_string_lossy().into_owned(),
            command: command.to_string(),
            since: Utc::now(),
        }
    }
}

/// The note for a command that took the lock over from `previous`, which ended without
/// releasing it.
pub fn abandoned_lock_note(previous: &LockHolder) -> String {
    format!(
        "took over the state lock from {previous}, which ended without releasing it; an apply it ran \
         may have been interrupted"
    )
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} on host {} running `{}` since {}",
            self.pid,
            self.host,
            self.command,
            self.since.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }
}

/// What the lock file of a state says right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockStatus {
    /// No lock file: nobody holds the lock.
    Free,
    /// A lock file without a live lock: its holder ended without releasing it.
    Abandoned(Option<LockHolder>),
    /// A live process holds the lock (the holder is `None` if it has not recorded itself yet).
    Held(Option<LockHolder>),
}

/// The lock file beside a state file (`payments.state.json.lock`).
pub fn lock_path(state_path: &Path) -> PathBuf {
    sibling(state_path, ".lock")
}

/// The held state lock; released (and its file removed) on drop.
#[derive(Debug)]
pub struct StateLock {
    /// The locked file; closing it releases the OS lock.
    file: File,
    path: PathBuf,
    holder: LockHolder,
}

impl StateLock {
    /// Takes the exclusive lock of the state at `state_path` for `command`, creating the parent
    /// directories. Returns the lock and, when the previous holder ended without releasing it,
    /// that holder (so the caller can say that an apply may have been interrupted).
    ///
    /// # Errors
    /// [`StateError::Locked`] naming the holder when another process holds the lock;
    /// [`StateError::Io`] when the lock file cannot be created, locked or written.
    pub(crate) fn acquire(
        state_path: &Path,
        command: &str,
    ) -> Result<(StateLock, Option<LockHolder>), StateError> {
        let path = lock_path(state_path);
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StateError::io("create the directory", parent, e))?;
        }
        for _ in 0..ACQUIRE_ATTEMPTS {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(|e| StateError::io("open the lock file", &path, e))?;
            match fs4::FileExt::try_lock(&file) {
                Ok(()) => {}
                Err(fs4::TryLockError::WouldBlock) => {
                    return Err(StateError::Locked {
                        path: state_path.to_path_buf(),
                        holder: read_holder(&file),
                    });
                }
                Err(fs4::TryLockError::Error(e)) => return Err(StateError::io("lock", &path, e)),
            }
            if !is_same_file(&file, &path) {
                continue;
            }
            let previous = read_holder(&file);
            let holder = LockHolder::current(command);
            write_holder(&file, &holder).map_err(|e| StateError::io("write the lock file", &path, e))?;
            return Ok((StateLock { file, path, holder }, previous));
        }
        Err(StateError::Locked { path: state_path.to_path_buf(), holder: None })
    }

    /// Who holds the lock: this process.
    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Remove the file while still holding the lock, so that a file left behind always means
        // a holder that did not release it. A process that opened the old file meanwhile finds
        // it unlinked after locking it and retries with a new one.
        if is_same_file(&self.file, &self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
        let _ = fs4::FileExt::unlock(&self.file);
    }
}

/// Whether the lock of the state at `state_path` is free, abandoned or held.
///
/// # Errors
/// [`StateError::Io`] when the lock file exists but cannot be read or tested.
pub fn lock_status(state_path: &Path) -> Result<LockStatus, StateError> {
    let path = lock_path(state_path);
    let file = match OpenOptions::new().read(true).write(true).open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(LockStatus::Free),
        Err(e) => return Err(StateError::io("open the lock file", &path, e)),
    };
    let holder = read_holder(&file);
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => {
            let _ = fs4::FileExt::unlock(&file);
            Ok(LockStatus::Abandoned(holder))
        }
        Err(fs4::TryLockError::WouldBlock) => Ok(LockStatus::Held(holder)),
        Err(fs4::TryLockError::Error(e)) => Err(StateError::io("test the lock", &path, e)),
    }
}

/// Breaks the lock of the state at `state_path` by removing its lock file, whoever holds it,
/// and returns the holder it recorded (`None` when there was no lock file or it named nobody).
/// A process still holding the old file keeps running unaware: break only a stuck lock.
///
/// # Errors
/// [`StateError::Io`] when the lock file exists but cannot be read or removed.
pub fn force_unlock(state_path: &Path) -> Result<Option<LockHolder>, StateError> {
    let path = lock_path(state_path);
    let file = match File::open(&path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StateError::io("open the lock file", &path, e)),
    };
    let holder = read_holder(&file);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(StateError::io("remove the lock file", &path, e)),
    }
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(holder)
}

/// The holder recorded in a lock file, if it names one.
fn read_holder(mut file: &File) -> Option<LockHolder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn write_holder(mut file: &File, holder: &LockHolder) -> std::io::Result<()> {
    let text = serde_json::to_string(holder).map_err(std::io::Error::other)? + "\n";
    file.seek(SeekFrom::Start(0))?;
    file.write_all(text.as_bytes())?;
    file.set_len(text.len() as u64)?;
    file.sync_data()
}

/// Whether `path` still names the open `file` (it was not removed or replaced meanwhile).
#[cfg(unix)]
fn is_same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::metadata(path)) {
        (Ok(open), Ok(named)) => open.dev() == named.dev() && open.ino() == named.ino(),
        _ => false,
    }
}

/// Whether `path` still names the open `file`. Windows cannot remove a file another process
/// holds open, so the name cannot move under a holder.
#[cfg(not(unix))]
fn is_same_file(_file: &File, path: &Path) -> bool {
    path.exists()
}
