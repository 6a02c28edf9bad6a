//! The exclusive state lock, held for a whole command, as every backend shares it: who holds
//! it ([`LockHolder`]), how a command waits for it ([`acquire_with`]), and the local file's lock:
//! an OS file lock (`flock` through `fs4`)
//! on `<state>.lock`, whose contents name the holder (pid, host, command, since when) so that a
//! second process can say who is in its way. A command fails at once when a live process holds
//! the lock, or waits for it up to a timeout (`--lock-timeout`), trying again with backoff.
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
use std::time::{Duration, Instant};

/// How often `acquire` retries when the lock it took was removed under it (by a holder
/// releasing, or by `force-unlock`) before it could check. Each retry opens the new one.
const ACQUIRE_ATTEMPTS: usize = 5;

/// The first pause between two attempts to take a held lock; it doubles up to
/// [`LOCK_POLL_MAX`]. An OS file lock cannot be waited for with a timeout, so a waiting
/// command tries again (reopening the file, which the holder removes on release).
const LOCK_POLL_FIRST: Duration = Duration::from_millis(10);

/// The longest pause between two attempts: a released lock is taken within this.
const LOCK_POLL_MAX: Duration = Duration::from_millis(250);

/// What a waiting command is told, once, about the holder it waits for.
pub type OnWait<'a> = &'a dyn Fn(Option<&LockHolder>);

/// How [`StateLock::acquire`] meets a lock that another live process holds.
#[derive(Clone, Copy)]
pub struct LockWait<'a> {
    /// How long to keep trying; zero fails at once.
    pub timeout: Duration,
    /// Told once, when the lock is first found held and there is time to wait, who holds it.
    pub waiting: Option<OnWait<'a>>,
}

impl LockWait<'_> {
    /// Fail at once when the lock is held.
    pub const NEVER: LockWait<'static> = LockWait { timeout: Duration::ZERO, waiting: None };
}

impl fmt::Debug for LockWait<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockWait").field("timeout", &self.timeout).finish_non_exhaustive()
    }
}

/// One attempt to take a lock, in any backend.
pub(crate) enum Attempt<Guard> {
    /// Taken, with the holder that had it before and ended without releasing it.
    Taken(Guard, Option<LockHolder>),
    /// A live process holds it.
    Held(Option<LockHolder>),
    /// The lock moved under this process before it could check (a lock file removed, a lock
    /// blob deleted): try again at once, a bounded number of times.
    Replaced,
}

/// How a backend waits for its lock: the pauses between attempts, and what it says about a
/// dead holder's lock.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Polling {
    /// The first pause between two attempts; it doubles up to `max`.
    pub first: Duration,
    /// The longest pause: a released lock is taken within this.
    pub max: Duration,
    /// When a dead holder's lock frees itself (`None`: at once).
    pub expiry: Option<&'static str>,
}

/// Tries `attempt` until the lock is taken, waiting as `wait` says while a live process holds
/// it (blocking the calling thread), and telling `wait.waiting` once whom it waits for.
///
/// # Errors
/// [`StateError::Locked`] naming the holder when the wait is over; the errors of `attempt`.
pub(crate) fn acquire_with<Guard>(
    state: &str,
    wait: LockWait<'_>,
    polling: Polling,
    mut attempt: impl FnMut() -> Result<Attempt<Guard>, StateError>,
) -> Result<(Guard, Option<LockHolder>), StateError> {
    let started = Instant::now();
    let mut pause = polling.first;
    let mut replaced = 0;
    let mut announced = false;
    let locked = |holder: Option<LockHolder>| StateError::Locked {
        state: state.to_string(),
        holder: holder.map(Box::new),
        waited: wait.timeout,
        expiry: polling.expiry.map(str::to_string),
    };
    loop {
        match attempt()? {
            Attempt::Taken(guard, previous) => return Ok((guard, previous)),
            Attempt::Replaced if replaced + 1 < ACQUIRE_ATTEMPTS => replaced += 1,
            Attempt::Replaced => return Err(locked(None)),
            Attempt::Held(holder) => {
                let left = wait.timeout.saturating_sub(started.elapsed());
                if left.is_zero() {
                    return Err(locked(holder));
                }
                if let Some(waiting) = wait.waiting.filter(|_| !announced) {
                    waiting(holder.as_ref());
                    announced = true;
                }
                std::thread::sleep(pause.min(left));
                pause = (pause * 2).min(polling.max);
            }
        }
    }
}

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
    /// directories, and trying again while another process holds it for up to `wait.timeout`
    /// (blocking the calling thread meanwhile; zero fails at once). Returns the lock and, when
    /// the previous holder ended without releasing it, that holder (so the caller can say that
    /// an apply may have been interrupted).
    ///
    /// # Errors
    /// [`StateError::Locked`] naming the holder when another process still holds the lock at
    /// the end of the wait; [`StateError::Io`] when the lock file cannot be created, locked or
    /// written.
    pub(crate) fn acquire(
        state_path: &Path,
        command: &str,
        wait: LockWait<'_>,
    ) -> Result<(StateLock, Option<LockHolder>), StateError> {
        let path = lock_path(state_path);
        if let Some(parent) = path.parent().filter(|parent| !parent.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| StateError::io("create the directory", parent, e))?;
        }
        let polling = Polling { first: LOCK_POLL_FIRST, max: LOCK_POLL_MAX, expiry: None };
        let state = format!("file {}", state_path.display());
        acquire_with(&state, wait, polling, || attempt(&path, command))
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

/// Opens (or creates) the lock file at `path` and tries once to lock it for `command`.
fn attempt(path: &Path, command: &str) -> Result<Attempt<StateLock>, StateError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StateError::io("open the lock file", path, e))?;
    match fs4::FileExt::try_lock(&file) {
        Ok(()) => {}
        Err(fs4::TryLockError::WouldBlock) => return Ok(Attempt::Held(read_holder(&file))),
        Err(fs4::TryLockError::Error(e)) => return Err(StateError::io("lock", path, e)),
    }
    if !is_same_file(&file, path) {
        return Ok(Attempt::Replaced);
    }
    let previous = read_holder(&file);
    let holder = LockHolder::current(command);
    write_holder(&file, &holder).map_err(|e| StateError::io("write the lock file", path, e))?;
    Ok(Attempt::Taken(StateLock { file, path: path.to_path_buf(), holder }, previous))
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
