//! Running the PostgreSQL tools: finding the binaries, the OS user clusters run as, and one
//! tool run with an explicit timeout that dies with pgfleet. A leaf module: the local provider
//! (initdb, pg_ctl, pg_basebackup) and the migration (pg_dump, pg_restore) both use it.
//!
//! Owns: the search order for the binaries, the user clusters run as (the unprivileged
//! `postgres` user when pgfleet runs as root, since initdb refuses root), running one tool
//! with an explicit timeout, and the process group each tool runs in (`group`). Must not:
//! know about servers, specs or the fleet.

/// Why a tool could not be found or run.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("PostgreSQL binaries not found: {0}")]
    BinariesNotFound(String),
    #[error("{context}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{tool} failed: {message}")]
    Tool { tool: String, message: String },
}

mod group;

pub use group::{Descendants, end_with_pgfleet};

/// The one tool whose child is meant to outlive it: `pg_ctl start` leaves the postmaster running.
const SERVER_LAUNCHER: &str = "pg_ctl";

use ToolError as LocalError;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;
use tokio::process::Command;

/// The environment variable that names the directory of the PostgreSQL binaries.
pub const BINDIR_VARIABLE: &str = "PGFLEET_PG_BINDIR";

/// The OS user clusters run as when pgfleet runs as root.
pub(crate) const CLUSTER_OS_USER: &str = "postgres";

/// The major version of the PostgreSQL server binaries in `bindir` (`postgres --version`:
/// "postgres (PostgreSQL) 15.14" → 15), or `None` when it cannot be read.
pub fn installed_major(bindir: &Path) -> Option<u32> {
    let output = std::process::Command::new(bindir.join("postgres")).arg("--version").output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let version = text.split_whitespace().last()?;
    version.split(['.', ' ']).next()?.parse().ok()
}

/// Finds the directory holding `initdb`, `pg_ctl`, `postgres` and the client tools: the
/// `PGFLEET_PG_BINDIR` variable, then `pg_config --bindir`, then the newest
/// `/usr/lib/postgresql/<major>/bin`, then the `PATH`.
///
/// # Errors
/// `LocalError::BinariesNotFound`, naming what to install, when none of them has `initdb`.
pub fn find_pg_bindir() -> Result<PathBuf, LocalError> {
    find_bindir_with(&["initdb", "pg_ctl", "postgres"])
}

/// Finds the first directory, in [`find_pg_bindir`]'s order, that holds every tool named.
///
/// # Errors
/// `LocalError::BinariesNotFound`, naming what to install, when no directory has them all.
pub fn find_bindir_with(tools: &[&str]) -> Result<PathBuf, LocalError> {
    let has_tools = |dir: &Path| tools.iter().all(|tool| dir.join(tool).is_file());
    let wanted = tools.join(", ");
    if let Some(dir) = std::env::var_os(BINDIR_VARIABLE) {
        let dir = PathBuf::from(dir);
        return if has_tools(&dir) {
            Ok(dir)
        } else {
            Err(LocalError::BinariesNotFound(format!(
                "{BINDIR_VARIABLE}={} lacks one of {wanted}",
                dir.display()
            )))
        };
    }
    let candidates =
        pg_config_bindir().into_iter().chain(newest_debian_bindir()).chain(path_bindir(tools[0]));
    for dir in candidates {
        if has_tools(&dir) {
            return Ok(dir);
        }
    }
    Err(LocalError::BinariesNotFound(format!(
        "no directory with {wanted} found via {BINDIR_VARIABLE}, pg_config --bindir, /usr/lib/postgresql/*/bin \
         or PATH; install the PostgreSQL server (for example `apt-get install postgresql`) or set {BINDIR_VARIABLE}"
    )))
}

fn pg_config_bindir() -> Option<PathBuf> {
    let output = std::process::Command::new("pg_config").arg("--bindir").output().ok()?;
    output.status.success().then(|| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
}

fn newest_debian_bindir() -> Option<PathBuf> {
    let entries = std::fs::read_dir("/usr/lib/postgresql").ok()?;
    entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let major: u32 = entry.file_name().to_str()?.parse().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .max_by_key(|(major, _)| *major)
        .map(|(_, dir)| dir)
}

fn path_bindir(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).find(|dir| dir.join(tool).is_file())
}

/// The uid and gid that run the clusters: `postgres`'s when the process is root, none otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunAs {
    pub uid: u32,
    pub gid: u32,
}

/// Decides who runs the clusters.
///
/// # Errors
/// When pgfleet runs as root and there is no `postgres` OS user.
pub(crate) fn cluster_user() -> Result<Option<RunAs>, LocalError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").map_err(|source| LocalError::Io {
        context: "reading /etc/passwd to find the postgres user".into(),
        source,
    })?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&CLUSTER_OS_USER) && fields.len() > 3)
        .and_then(|fields| Some(RunAs { uid: fields[2].parse().ok()?, gid: fields[3].parse().ok()? }))
        .map(Some)
        .ok_or_else(|| {
            LocalError::BinariesNotFound(format!(
                "pgfleet runs as root and PostgreSQL refuses to; create the `{CLUSTER_OS_USER}` OS user \
                 (installed with the PostgreSQL server package) or run pgfleet as an ordinary user"
            ))
        })
}

/// The PostgreSQL binaries and the user they run as.
#[derive(Debug, Clone)]
pub(crate) struct Tools {
    pub bindir: PathBuf,
    pub run_as: Option<RunAs>,
}

impl Tools {
    /// A command for one tool of the bindir, run as the cluster user.
    pub(crate) fn command(&self, tool: &str) -> Command {
        let mut command = Command::new(self.bindir.join(tool));
        if let Some(run_as) = self.run_as {
            command.uid(run_as.uid).gid(run_as.gid);
            command.current_dir("/");
        }
        command.env("LC_ALL", "C").kill_on_drop(true);
        // Ctrl-C must not reach the tool, and a pgfleet killed outright must not leave a base
        // backup writing into the directory the next run rebuilds, nor initdb's single-user
        // server behind. The postmaster `pg_ctl start` forks is a server: it stays (`group`).
        let descendants =
            if tool == SERVER_LAUNCHER { Descendants::Outlive } else { Descendants::EndWithTool };
        end_with_pgfleet(&mut command, descendants);
        command
    }

    /// Runs a tool to completion within `timeout`, failing on a non-zero exit.
    ///
    /// # Errors
    /// `LocalError::Tool` with the tool's stderr, or a timeout.
    pub(crate) async fn run<I, S>(&self, tool: &str, args: I, timeout: Duration) -> Result<Output, LocalError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut command = self.command(tool);
        command.args(args);
        run_command(tool, command, timeout).await
    }

    /// Gives a path to the cluster user (a no-op when not running as root).
    ///
    /// # Errors
    /// When the ownership cannot be changed.
    pub(crate) fn give(&self, path: &Path) -> Result<(), LocalError> {
        if let Some(run_as) = self.run_as {
            std::os::unix::fs::chown(path, Some(run_as.uid), Some(run_as.gid)).map_err(|source| {
                LocalError::Io { context: format!("giving {} to {CLUSTER_OS_USER}", path.display()), source }
            })?;
        }
        Ok(())
    }
}

/// Runs a prepared command within `timeout`.
///
/// # Errors
/// `LocalError::Tool` on a non-zero exit (with stderr) or a timeout.
pub(crate) async fn run_command(
    tool: &str,
    mut command: Command,
    timeout: Duration,
) -> Result<Output, LocalError> {
    command.stdin(std::process::Stdio::null());
    let output = tokio::time::timeout(timeout, command.output())
        .await
        .map_err(|_| LocalError::Tool { tool: tool.into(), message: format!("timed out after {timeout:?}") })?
        .map_err(|source| LocalError::Io { context: format!("running {tool}"), source })?;
    if output.status.success() {
        Ok(output)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        Err(LocalError::Tool { tool: tool.into(), message: format!("{}: {}", output.status, stderr.trim()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_tool_is_named_in_the_error() {
        let error = find_bindir_with(&["pgfleet-no-such-tool"]).unwrap_err();
        assert!(matches!(error, LocalError::BinariesNotFound(_)));
        assert!(error.to_string().contains("pgfleet-no-such-tool"), "{error}");
    }

    #[test]
    fn the_user_running_the_clusters_is_never_root() {
        if let Some(run_as) = cluster_user().unwrap() {
            assert_ne!(run_as.uid, 0);
        }
    }
}
