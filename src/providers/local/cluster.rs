//! One server's cluster on disk: `<root>/<fleet>/<server>/` holds `pgfleet.json` (what the
//! provider knows of the server: its port, spec and replication support, so refresh works
//! without the state file), `internal.secret` (the password of the provider's own role),
//! `postgres.log` and the data directory `data/`.
//!
//! Owns: that layout, initdb, starting and stopping with explicit timeouts, and the provider's
//! own SQL connection. Must not: decide what the service allows (see `checks`).

use super::LocalError;
use super::settings::ClusterSettings;
use crate::model::{ServerName, ServerSpec};
use crate::pgtools::Tools;
use crate::rules::ReplicationSupport;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The provider's own superuser on every cluster: it creates slots, promotes and measures,
/// without needing the admin password. Replicas inherit it with the base backup.
pub const INTERNAL_ROLE: &str = "pgfleet_internal";

/// How long starting or stopping a cluster may take.
pub const START_STOP_TIMEOUT: Duration = Duration::from_secs(90);

/// How long the processes left in a discarded data directory get to quit before they are killed.
pub const LEFTOVER_GRACE: Duration = Duration::from_secs(10);

/// How long one SQL connection attempt may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one of the provider's own statements may run (promote waits 60 s at most).
pub const STATEMENT_TIMEOUT: Duration = Duration::from_secs(120);

const META_FILE: &str = "pgfleet.json";
/// The directory, inside a server's, of its HA standby cluster.
pub const STANDBY_DIR: &str = "standby";
const SECRET_FILE: &str = "internal.secret";
/// The admin password initdb reads while it runs (never kept).
const INIT_PASSWORD_FILE: &str = "initdb.pw";

/// What the provider records beside each cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMeta {
    pub name: ServerName,
    /// The TCP port on 127.0.0.1; allocated once, kept across restarts and cutover.
    pub port: u16,
    pub spec: ServerSpec,
    /// The configured `azure.replication_support`; it takes effect at the next restart.
    pub replication_support: ReplicationSupport,
    /// False while the create that made the cluster has not finished; such a cluster is
    /// rebuilt by the next create.
    pub complete: bool,
    /// The migration staging server whose data this server holds after a cutover.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cutover_from: Option<ServerName>,
    /// Flexible Server: the `max_connections` parameter, set at create (the SKU's default, or
    /// a replica's primary's) and kept when the SKU changes, as the service does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// Flexible Server with HA: the port of the synchronous standby beside the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standby_port: Option<u16>,
}

/// The directory of one server's cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cluster {
    pub dir: PathBuf,
}

impl Cluster {
    pub fn new(dir: PathBuf) -> Cluster {
        Cluster { dir }
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn meta_path(&self) -> PathBuf {
        self.dir.join(META_FILE)
    }

    /// Whether the directory holds a cluster pgfleet made.
    pub fn exists(&self) -> bool {
        self.meta_path().is_file()
    }

    /// Reads `pgfleet.json`.
    ///
    /// # Errors
    /// When the file is missing or malformed.
    pub fn read_meta(&self) -> Result<ClusterMeta, LocalError> {
        let path = self.meta_path();
        let text = std::fs::read_to_string(&path)
            .map_err(|source| LocalError::Io { context: format!("reading {}", path.display()), source })?;
        serde_json::from_str(&text).map_err(|source| LocalError::Metadata { path, source })
    }

    /// Writes `pgfleet.json` atomically.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write_meta(&self, meta: &ClusterMeta, tools: &Tools) -> Result<(), LocalError> {
        let text = serde_json::to_string_pretty(meta)
            .map_err(|source| LocalError::Metadata { path: self.meta_path(), source })?;
        write_atomically(&self.meta_path(), &text, tools)
    }

    /// The provider role's password.
    ///
    /// # Errors
    /// When the secret file cannot be read.
    pub fn internal_secret(&self) -> Result<String, LocalError> {
        let path = self.dir.join(SECRET_FILE);
        std::fs::read_to_string(&path)
            .map(|text| text.trim().to_string())
            .map_err(|source| LocalError::Io { context: format!("reading {}", path.display()), source })
    }

    /// Stores the provider role's password, readable only by its owner.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write_internal_secret(&self, secret: &str, tools: &Tools) -> Result<(), LocalError> {
        write_atomically(&self.dir.join(SECRET_FILE), secret, tools)
    }

    /// Writes the settings file the cluster's `postgresql.conf` includes.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write_settings(&self, settings: &ClusterSettings, tools: &Tools) -> Result<(), LocalError> {
        write_atomically(&self.data_dir().join("pgfleet.conf"), &settings.render(), tools)
    }

    /// Writes the cluster's `pg_hba.conf` (`carried::hba`); a reload applies it.
    ///
    /// # Errors
    /// When the file cannot be written.
    pub fn write_hba(&self, hba: &str, tools: &Tools) -> Result<(), LocalError> {
        write_atomically(&self.data_dir().join("pg_hba.conf"), hba, tools)
    }

    /// Removes the admin password file initdb reads (0600, written just before it runs and
    /// removed after it), which a crash in between leaves behind.
    ///
    /// # Errors
    /// When the file exists and cannot be removed.
    pub fn remove_init_password(&self) -> Result<(), LocalError> {
        let path = self.dir.join(INIT_PASSWORD_FILE);
        match std::fs::remove_file(&path) {
            Err(source) if source.kind() != std::io::ErrorKind::NotFound => {
                Err(LocalError::Io { context: format!("removing {}", path.display()), source })
            }
            _ => Ok(()),
        }
    }

    /// Runs initdb with the admin role and password, then writes pg_hba.conf (SCRAM over TCP
    /// from 127.0.0.1, replication included) and includes `pgfleet.conf`.
    ///
    /// # Errors
    /// When initdb fails or the files cannot be written.
    pub async fn init(&self, tools: &Tools, admin_login: &str, password: &str) -> Result<(), LocalError> {
        let password_file = self.dir.join(INIT_PASSWORD_FILE);
        write_atomically(&password_file, password, tools)?;
        let data = self.data_dir();
        let result = tools
            .run(
                "initdb",
                [
                    "-D".as_ref(),
                    data.as_os_str(),
                    "-U".as_ref(),
                    admin_login.as_ref(),
                    format!("--pwfile={}", password_file.display()).as_ref(),
                    "--auth=scram-sha-256".as_ref(),
                    "--encoding=UTF8".as_ref(),
                    "--no-locale".as_ref(),
                    "--no-instructions".as_ref(),
                ],
                Duration::from_secs(120),
            )
            .await;
        let _ = std::fs::remove_file(&password_file);
        result?;
        let hba = super::carried::hba(&std::collections::BTreeMap::new());
        write_atomically(&data.join("pg_hba.conf"), &hba, tools)?;
        let conf_path = data.join("postgresql.conf");
        let mut conf = std::fs::read_to_string(&conf_path).map_err(|source| LocalError::Io {
            context: format!("reading {}", conf_path.display()),
            source,
        })?;
        conf.push_str("\ninclude 'pgfleet.conf'\n");
        write_atomically(&conf_path, &conf, tools)
    }

    /// Whether a postmaster runs in the data directory: the lock file names a positive pid and
    /// that process works in this data directory (a postmaster writes its lock file only after
    /// moving into it). Read from the lock file and /proc rather than asked of `pg_ctl status`:
    /// a status check that failed or timed out (a loaded machine, a pgfleet stopped and
    /// continued) used to answer "not running", and a create rebuilding the directory then
    /// removed it under a postmaster that kept its port.
    pub fn is_running(&self) -> bool {
        let data = self.data_dir();
        pid_recorded(&data.join("postmaster.pid")).is_some_and(|pid| pid > 0 && works_in(pid, &data))
    }

    /// The port a running postmaster of this data directory recorded in its lock file.
    pub fn port_in_use(&self) -> Option<u16> {
        if !self.is_running() {
            return None;
        }
        let text = std::fs::read_to_string(self.data_dir().join("postmaster.pid")).ok()?;
        // The lock file's fourth line is the port (PostgreSQL's LOCK_FILE_LINE_PORT).
        text.lines().nth(3)?.trim().parse().ok()
    }

    /// Ends every process working in the data directory, whatever it is: a postmaster and its
    /// children (with or without a lock file naming them), or initdb's standalone backend. For
    /// a directory about to be discarded (the leftover of a create that did not finish), so
    /// that nothing keeps its port or writes into it once it is gone. Each process is asked to
    /// quit at once (SIGQUIT: a postmaster then removes its shared memory), and killed if it
    /// has not within [`LEFTOVER_GRACE`]. Only processes whose working directory is this data
    /// directory are signalled, so a reused pid is never touched. A no-op when none works there.
    ///
    /// # Errors
    /// `LocalError::Timeout` when they have not ended within [`START_STOP_TIMEOUT`].
    pub async fn end_every_process(&self) -> Result<(), LocalError> {
        let data = self.data_dir();
        let started = tokio::time::Instant::now();
        let mut quit_sent = false;
        loop {
            let working = processes_working_in(&data);
            if working.is_empty() {
                break;
            }
            let elapsed = started.elapsed();
            if elapsed >= START_STOP_TIMEOUT {
                return Err(LocalError::Timeout(format!(
                    "the postgres processes {working:?} left in {} did not end",
                    data.display()
                )));
            }
            let signal = if elapsed < LEFTOVER_GRACE { libc::SIGQUIT } else { libc::SIGKILL };
            if signal == libc::SIGKILL || !quit_sent {
                for pid in working {
                    // SAFETY: kill(2) on a process verified to work in this data directory.
                    unsafe { libc::kill(pid, signal) };
                }
                quit_sent = true;
            }
            // They are not our children to wait for: their exit is polled.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let lock = data.join("postmaster.pid");
        if lock.exists() {
            std::fs::remove_file(&lock).map_err(|source| LocalError::Io {
                context: format!("removing {}", lock.display()),
                source,
            })?;
        }
        Ok(())
    }

    /// Starts the cluster and waits until it accepts connections (a no-op when it runs).
    ///
    /// # Errors
    /// When pg_ctl fails or times out; the message includes the log's tail.
    pub async fn start(&self, tools: &Tools) -> Result<(), LocalError> {
        if self.is_running() {
            return Ok(());
        }
        let data = self.data_dir();
        let log = self.dir.join("postgres.log");
        let timeout = START_STOP_TIMEOUT.as_secs().to_string();
        let args = ["start", "-w", "-s", "-t", &timeout, "-D"];
        let mut command = tools.command("pg_ctl");
        command.args(args).arg(&data).arg("-l").arg(&log);
        crate::pgtools::run_command("pg_ctl start", command, START_STOP_TIMEOUT + Duration::from_secs(5))
            .await
            .map_err(|error| {
                LocalError::Tool(crate::pgtools::ToolError::Tool {
                    tool: "pg_ctl start".into(),
                    message: format!("{error}; log tail: {}", log_tail(&log)),
                })
            })?;
        Ok(())
    }

    /// Stops the cluster (fast shutdown: sessions are ended, nothing is lost); a no-op when it
    /// is not running. A standalone backend a killed initdb left is ended first.
    ///
    /// # Errors
    /// When pg_ctl fails or times out.
    pub async fn stop(&self, tools: &Tools) -> Result<(), LocalError> {
        self.end_standalone_backend().await?;
        if !self.is_running() {
            return Ok(());
        }
        let data = self.data_dir();
        let timeout = START_STOP_TIMEOUT.as_secs().to_string();
        let args = ["stop", "-w", "-s", "-m", "fast", "-t", &timeout, "-D"];
        tools.run("pg_ctl", args.iter().map(Path::new).chain([data.as_path()]), START_STOP_TIMEOUT).await?;
        Ok(())
    }

    /// Ends a standalone `postgres` (bootstrap or single-user mode) still working in the data
    /// directory, waits until it is gone, and removes the lock file it left: initdb's child,
    /// left behind when initdb was killed where the tool's watchdog could not run (see
    /// `pgtools::group`), or by an older pgfleet. Such a process names itself in
    /// `postmaster.pid` with its pid negated, and `pg_ctl` refuses the directory ("single-user
    /// server is running") for as long as that pid exists, even as a zombie its new parent has
    /// not reaped yet. It is killed only when its working directory is this data directory, so
    /// a reused pid is never touched. A no-op when the lock file names no standalone backend.
    ///
    /// # Errors
    /// `LocalError::Timeout` when it does not end within [`START_STOP_TIMEOUT`].
    pub async fn end_standalone_backend(&self) -> Result<(), LocalError> {
        let data = self.data_dir();
        let lock = data.join("postmaster.pid");
        let Some(pid) = pid_recorded(&lock).and_then(standalone) else { return Ok(()) };
        if works_in(pid, &data) {
            // SAFETY: kill(2) on a process verified to be this data directory's backend.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let deadline = tokio::time::Instant::now() + START_STOP_TIMEOUT;
            // It is not our child to wait for: its exit is polled.
            while works_in(pid, &data) {
                if tokio::time::Instant::now() >= deadline {
                    return Err(LocalError::Timeout(format!(
                        "the standalone postgres (pid {pid}) left in {} did not end",
                        data.display()
                    )));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        // Nothing works in the directory under that pid any more: the lock file is stale.
        if pid_recorded(&lock).and_then(standalone) == Some(pid) {
            let _ = std::fs::remove_file(&lock);
        }
        Ok(())
    }

    /// A connection as the provider's role.
    ///
    /// # Errors
    /// When the server does not accept it within [`CONNECT_TIMEOUT`].
    pub async fn connect(&self, port: u16) -> Result<tokio_postgres::Client, LocalError> {
        let secret = self.internal_secret()?;
        connect(port, INTERNAL_ROLE, &secret, "postgres").await
    }
}

/// Opens a SQL connection to 127.0.0.1 and drives it on a background task.
///
/// # Errors
/// `LocalError::Sql` when the connection fails or times out.
pub async fn connect(
    port: u16,
    user: &str,
    password: &str,
    database: &str,
) -> Result<tokio_postgres::Client, LocalError> {
    let mut config = tokio_postgres::Config::new();
    config.host("127.0.0.1").port(port).user(user).password(password).dbname(database);
    config.connect_timeout(CONNECT_TIMEOUT);
    // The provider's statements are short; a hung server must not hold an operation forever.
    config.options(format!("-c statement_timeout={}", STATEMENT_TIMEOUT.as_millis()));
    let attempt = tokio::time::timeout(CONNECT_TIMEOUT, config.connect(tokio_postgres::NoTls)).await;
    let (client, connection) = attempt
        .map_err(|_| LocalError::Unavailable(format!("connecting to 127.0.0.1:{port} timed out")))?
        .map_err(|source| LocalError::Sql { context: format!("connecting to 127.0.0.1:{port}"), source })?;
    tokio::spawn(connection);
    Ok(client)
}

/// The pid on the first line of a `postmaster.pid`: a postmaster's, or a standalone backend's
/// negated.
fn pid_recorded(lock: &Path) -> Option<libc::pid_t> {
    let text = std::fs::read_to_string(lock).ok()?;
    text.lines().next()?.trim().parse().ok()
}

/// The pid of a standalone backend, from the negated pid it records.
fn standalone(recorded: libc::pid_t) -> Option<libc::pid_t> {
    recorded.checked_neg().filter(|pid| *pid > 0)
}

/// Every live process (not a zombie) whose working directory is `dir`.
fn processes_working_in(dir: &Path) -> Vec<libc::pid_t> {
    let Ok(dir) = std::fs::canonicalize(dir) else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<libc::pid_t>().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir))
        .collect()
}

/// Whether process `pid` runs (not a zombie: its working directory is gone with it) with
/// `dir` as its working directory, as every postgres process does with its data directory.
fn works_in(pid: libc::pid_t, dir: &Path) -> bool {
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd"));
    match (cwd, std::fs::canonicalize(dir)) {
        (Ok(cwd), Ok(dir)) => cwd == dir,
        _ => false,
    }
}

/// Writes a file through a temporary file and a rename, owned by the cluster user, mode 0600.
fn write_atomically(path: &Path, contents: &str, tools: &Tools) -> Result<(), LocalError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let temporary = path.with_extension("tmp");
    let io = |source| LocalError::Io { context: format!("writing {}", path.display()), source };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temporary)
        .map_err(io)?;
    file.write_all(contents.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)?;
    tools.give(&temporary)?;
    std::fs::rename(&temporary, path).map_err(io)
}

/// The last lines of a server log, for error messages.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join(" | ")
}

/// Makes a server directory owned by the cluster user, mode 0700, and lets that user reach it
/// through the fleet directory and the root.
///
/// # Errors
/// When a directory cannot be created or its ownership changed.
pub fn prepare_dir(root: &Path, fleet_dir: &Path, dir: &Path, tools: &Tools) -> Result<(), LocalError> {
    use std::os::unix::fs::PermissionsExt;
    let io = |source| LocalError::Io { context: format!("creating {}", dir.display()), source };
    std::fs::create_dir_all(dir).map_err(io)?;
    if tools.run_as.is_some() {
        for parent in [root, fleet_dir] {
            let mode = std::fs::metadata(parent).map_err(io)?.permissions().mode();
            if mode & 0o001 == 0 {
                std::fs::set_permissions(parent, std::fs::Permissions::from_mode((mode | 0o011) & 0o7777))
                    .map_err(io)?;
            }
        }
    }
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    Ok(tools.give(dir)?)
}

/// Stops every cluster under `root` at once (immediate shutdown), synchronously: for drop
/// guards and emergencies. Errors are ignored: a cluster that is not running is what we want.
pub fn stop_all_blocking(root: &Path, tools: &Tools) {
    let Ok(fleets) = std::fs::read_dir(root) else { return };
    for fleet in fleets.filter_map(Result::ok) {
        let Ok(servers) = std::fs::read_dir(fleet.path()) else { continue };
        let data_dirs = servers
            .filter_map(Result::ok)
            .flat_map(|server| [server.path().join("data"), server.path().join(STANDBY_DIR).join("data")]);
        for data in data_dirs {
            if !data.join("postmaster.pid").is_file() {
                continue;
            }
            use std::os::unix::process::CommandExt;
            let mut command = std::process::Command::new(tools.bindir.join("pg_ctl"));
            if let Some(run_as) = tools.run_as {
                command.uid(run_as.uid).gid(run_as.gid).current_dir("/");
            }
            // Out of reach of a second Ctrl-C at the terminal while the clusters stop.
            command.process_group(0);
            let _ = command
                .args(["stop", "-w", "-s", "-m", "immediate", "-t", "30", "-D"])
                .arg(&data)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        }
    }
}
