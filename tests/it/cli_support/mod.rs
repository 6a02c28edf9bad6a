//! Harness of the binary tests against real PostgreSQL (`local_cli_*`): a fleet directory in a
//! temporary root with its own free ports, the built `pgfleet` run there (to completion, or as a
//! child whose `--json` events are read as they come), SQL connections as the fleet's admin,
//! and guards that kill every child and stop every cluster under the root whatever happens.
//!
//! When the tests run as root, pgfleet itself runs the clusters as the `postgres` OS user (the
//! provider decides, see `providers::local::tools`); nothing here assumes either.

#![allow(dead_code)] // Each test binary uses a different subset.

use pgfleet::providers::local::{LocalProvider, find_pg_bindir};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// The admin password of every fleet these tests write.
pub const PASSWORD: &str = "Cli-Test-Password-1";

/// How long a wait for streaming replicas may take.
pub const STREAMING_TIMEOUT: Duration = Duration::from_secs(30);

/// A block of `span` consecutive ports on 127.0.0.1 that nothing listens on, below the
/// ephemeral range and at a random place, so test binaries and worktrees running at once
/// rarely meet (the provider also skips ports in use when it allocates).
pub fn free_port_base(span: u16) -> u16 {
    use rand::Rng;
    let mut random = rand::rng();
    loop {
        let base = random.random_range(200..1900u16) * 16;
        if (base..base + span).all(|port| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()) {
            return base;
        }
    }
}

/// A fleet in a temporary directory: `fleet.toml`, the password file, the state and the
/// clusters' root. Dropping it stops every cluster under the root.
pub struct Fleet {
    dir: tempfile::TempDir,
    pub name: String,
    pub port_base: u16,
}

impl Fleet {
    /// A fleet called `name` whose servers are `servers` (TOML `[servers.*]` sections), with
    /// the defaults every test shares.
    pub fn new(name: &str, servers: &str) -> Fleet {
        let fleet = Fleet::empty(name);
        std::fs::write(fleet.path("password"), PASSWORD).unwrap();
        fleet.write_servers(servers);
        fleet
    }

    /// A fleet directory with nothing written yet.
    pub fn empty(name: &str) -> Fleet {
        Fleet { dir: tempfile::tempdir().unwrap(), name: name.into(), port_base: free_port_base(16) }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The clusters' root (`[provider.local] root`).
    pub fn root(&self) -> PathBuf {
        self.path("local")
    }

    pub fn config(&self) -> PathBuf {
        self.path("fleet.toml")
    }

    pub fn state(&self) -> PathBuf {
        self.path("state.json")
    }

    /// Rewrites `fleet.toml` with other servers.
    pub fn write_servers(&self, servers: &str) {
        let text = format!(
            "[fleet]\nname = \"{name}\"\n\n[provider]\nkind = \"local\"\n\n[provider.local]\nroot = {root:?}\n\
             port_base = {port}\n\n[defaults]\nversion = \"11\"\ngeneration = \"Gen5\"\nstorage_gb = 20\n\
             ssl_enforcement = false\nminimal_tls_version = \"TLSEnforcementDisabled\"\n\
             admin_login = \"fleetadmin\"\nadmin_password = {{ file = \"password\" }}\n\n{servers}",
            name = self.name,
            root = self.root().display().to_string(),
            port = self.port_base,
        );
        std::fs::write(self.config(), text).unwrap();
    }

    /// `pgfleet ARGS -c fleet.toml --state state.json`, off a terminal, no colour.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pgfleet"));
        command
            .args(args)
            .arg("-c")
            .arg(self.config())
            .arg("--state")
            .arg(self.state())
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("PGFLEET_STATE")
            .env_remove("PGFLEET_CONFIG")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .stdin(Stdio::null());
        command
    }

    /// Runs pgfleet to completion.
    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs pgfleet and fails the test, showing its output, unless it exits with `code`.
    pub fn run_expecting(&self, args: &[&str], code: i32) -> Output {
        let output = self.run(args);
        assert_eq!(
            output.status.code(),
            Some(code),
            "pgfleet {args:?}\nstdout:\n{}\nstderr:\n{}",
            text(&output.stdout),
            text(&output.stderr)
        );
        output
    }

    /// Starts `pgfleet ARGS` as a child whose stdout and stderr lines arrive as they are
    /// printed.
    pub fn spawn(&self, args: &[&str]) -> Running {
        Running::start(self.command(args))
    }

    /// The port pgfleet recorded for a server, read through `pgfleet endpoint`.
    pub fn port(&self, server: &str) -> u16 {
        let output = self.run_expecting(&["endpoint", server], 0);
        let uri = text(&output.stdout);
        let port = uri.trim().rsplit(':').next().unwrap().split('/').next().unwrap();
        port.parse().unwrap_or_else(|_| panic!("no port in {uri}"))
    }

    /// The directories under `<root>/<fleet>/`, hidden ones (cutover leftovers) included.
    pub fn cluster_dirs(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.root().join(&self.name))
            .map(|entries| {
                entries
                    .filter_map(Result::ok)
                    .map(|entry| entry.file_name().to_string_lossy().into())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if let Ok(bindir) = find_pg_bindir() {
            LocalProvider::stop_all_blocking(&self.root(), &bindir);
        }
    }
}

/// A pgfleet child process, started as a terminal starts a foreground job: the leader of a
/// process group of its own, so that [`Running::interrupt`] reaches the whole group as Ctrl-C
/// does. Dropping it kills it (SIGKILL) and reaps it.
pub struct Running {
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
    stderr_lines: mpsc::UnboundedReceiver<String>,
    /// Every stderr line so far, for failure messages.
    stderr: Arc<Mutex<Vec<String>>>,
    /// Disconnected once stderr reached its end and every line of it is in `stderr`.
    stderr_read: std::sync::mpsc::Receiver<()>,
}

impl Running {
    /// Starts `command` with its stdout and stderr read line by line as they come.
    pub fn start(mut command: Command) -> Running {
        use std::os::unix::process::CommandExt;
        let mut child =
            command.process_group(0).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let (lines, _) = forward_lines(child.stdout.take().unwrap(), None);
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (stderr_lines, stderr_read) = forward_lines(child.stderr.take().unwrap(), Some(stderr.clone()));
        Running { child, lines, stderr_lines, stderr, stderr_read }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGINT to the process group, as Ctrl-C at the terminal does.
    pub fn interrupt(&self) {
        // SAFETY: kill(2) on the group this test started (its leader is not reaped yet).
        assert_eq!(unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGINT) }, 0);
    }

    /// Waits for a stderr line containing `needle` (returned); panics after `timeout` or
    /// when stderr closes first.
    pub async fn stderr_until(&mut self, timeout: Duration, needle: &str) -> String {
        let wait = async {
            while let Some(line) = self.stderr_lines.recv().await {
                if line.contains(needle) {
                    return Some(line);
                }
            }
            None
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Some(line)) => line,
            _ => panic!("no stderr line with {needle:?} within {timeout:?}; stderr:\n{}", self.stderr_text()),
        }
    }

    /// The next stdout line, or `None` once stdout closed; panics after `timeout`.
    pub async fn next_line(&mut self, timeout: Duration) -> Option<String> {
        tokio::time::timeout(timeout, self.lines.recv())
            .await
            .unwrap_or_else(|_| panic!("no stdout line within {timeout:?}; stderr:\n{}", self.stderr_text()))
    }

    /// The next `--json` event, or `None` once stdout closed; panics after `timeout`.
    pub async fn next_event(&mut self, timeout: Duration) -> Option<serde_json::Value> {
        let line = self.next_line(timeout).await?;
        Some(serde_json::from_str(&line).unwrap_or_else(|error| panic!("{error}: {line}")))
    }

    /// Events until one satisfies `wanted` (returned with the ones before it); panics when
    /// the child ends first.
    pub async fn events_until(
        &mut self,
        timeout: Duration,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> Vec<serde_json::Value> {
        let mut seen = Vec::new();
        loop {
            let Some(event) = self.next_event(timeout).await else {
                panic!(
                    "the apply ended before the awaited event; events: {seen:#?}\nstderr:\n{}",
                    self.stderr_text()
                )
            };
            let found = wanted(&event);
            seen.push(event);
            if found {
                return seen;
            }
        }
    }

    /// Every event until stdout closes (the process ended or is ending).
    pub async fn remaining_events(&mut self, timeout: Duration) -> Vec<serde_json::Value> {
        let mut seen = Vec::new();
        while let Some(event) = self.next_event(timeout).await {
            seen.push(event);
        }
        seen
    }

    /// Kills the process with SIGKILL, as a crash or the OOM killer would, and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the exit and for the last of its stderr (read by another thread, which may
    /// still be at it when the process has exited), and returns the code.
    pub fn wait(&mut self) -> Option<i32> {
        let code = self.child.wait().unwrap().code();
        // The pipe ends with the process: nothing pgfleet starts inherits its stderr.
        let ended = self.stderr_read.recv_timeout(Duration::from_secs(30));
        assert_eq!(ended, Err(std::sync::mpsc::RecvTimeoutError::Disconnected), "stderr outlived pgfleet");
        code
    }

    pub fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap_or_else(std::sync::PoisonError::into_inner).join("\n")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Sends each line read from `stream` to the returned channel (and appends it to `kept`); the
/// second receiver disconnects once the stream has ended and every line was handled.
fn forward_lines(
    stream: impl std::io::Read + Send + 'static,
    kept: Option<Arc<Mutex<Vec<String>>>>,
) -> (mpsc::UnboundedReceiver<String>, std::sync::mpsc::Receiver<()>) {
    let (sender, lines) = mpsc::unbounded_channel();
    let (finished, read) = std::sync::mpsc::channel::<()>();
    std::thread::spawn(move || {
        let _finished = finished;
        for line in std::io::BufReader::new(stream).lines().map_while(Result::ok) {
            if let Some(kept) = &kept {
                kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(line.clone());
            }
            // The receiver may be gone; the rest is still kept for failure messages.
            let _ = sender.send(line);
        }
    });
    (lines, read)
}

/// Runs pgfleet in `dir` on its `fleet.toml`, with the state in `dir/state.json` and an admin
/// password in `PGFLEET_ADMIN_PASSWORD`, outside GitHub Actions, without colour.
pub fn in_dir(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pgfleet"))
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("PGFLEET_ADMIN_PASSWORD", "Fleet-Test-Password-1")
        .env_remove("PGFLEET_CONFIG")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .args(args)
        .arg("-c")
        .arg(dir.join("fleet.toml"))
        .arg("--state")
        .arg(dir.join("state.json"))
        .output()
        .unwrap()
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One JSON value per stdout line.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    text(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|error| panic!("{error}: {line}")))
        .collect()
}

/// The (type, server) of every step event, in the order printed.
pub fn step_events(events: &[serde_json::Value]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|event| event["type"].as_str().is_some_and(|kind| kind.starts_with("step_")))
        .map(|event| {
            let address = event["address"].as_str().unwrap_or_default();
            (event["type"].as_str().unwrap().to_string(), address.trim_start_matches("servers.").to_string())
        })
        .collect()
}

/// Where in `events` the step event `kind` of `server` is.
pub fn position(events: &[(String, String)], kind: &str, server: &str) -> usize {
    events
        .iter()
        .position(|(event, name)| event == kind && name == server)
        .unwrap_or_else(|| panic!("no {kind} of {server} in {events:?}"))
}

/// A connection to one database as `fleetadmin`.
pub async fn connect_as(port: u16, password: &str, database: &str) -> tokio_postgres::Client {
    let mut config = tokio_postgres::Config::new();
    config.host("127.0.0.1").port(port).user("fleetadmin").password(password).dbname(database);
    config.connect_timeout(Duration::from_secs(5));
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|error| panic!("connecting to 127.0.0.1:{port}/{database}: {error}"));
    tokio::spawn(connection);
    client
}

/// A connection to `postgres` with the tests' password.
pub async fn admin(port: u16) -> tokio_postgres::Client {
    connect_as(port, PASSWORD, "postgres").await
}

pub async fn show(port: u16, password: &str, setting: &str) -> String {
    connect_as(port, password, "postgres")
        .await
        .query_one(&format!("SHOW {setting}"), &[])
        .await
        .unwrap()
        .get(0)
}

/// Whether the primary streams to exactly the replicas named (by slot) and each of them
/// reports a streaming WAL receiver; connection failures (a restart) count as not streaming.
async fn streaming(primary: u16, replicas: &[(&str, u16)], password: &str) -> Result<bool, String> {
    let connect = |port: u16| async move {
        let mut config = tokio_postgres::Config::new();
        config.host("127.0.0.1").port(port).user("fleetadmin").password(password).dbname("postgres");
        config.connect_timeout(Duration::from_secs(2));
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        Ok::<_, String>(client)
    };
    let client = connect(primary).await?;
    for (name, port) in replicas {
        let slot = format!("pgfleet_{}", name.replace('-', "_"));
        let sending: i64 = client
            .query_one(
                "SELECT count(*) FROM pg_replication_slots s JOIN pg_stat_replication r ON r.pid = s.active_pid \
                 WHERE s.slot_name = $1 AND r.state = 'streaming'",
                &[&slot],
            )
            .await
            .map_err(|e| e.to_string())?
            .get(0);
        if sending != 1 {
            return Ok(false);
        }
        let rows = connect(*port)
            .await?
            .query("SELECT status FROM pg_stat_wal_receiver", &[])
            .await
            .map_err(|e| e.to_string())?;
        if rows.first().map(|row| row.get::<_, String>(0)).as_deref() != Some("streaming") {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Waits (bounded by [`STREAMING_TIMEOUT`]) until `primary` streams to every replica through
/// its slot and each replica's WAL receiver streams; a restart in between only delays it.
pub async fn wait_streaming(primary: u16, replicas: &[(&str, u16)], password: &str) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + STREAMING_TIMEOUT;
    let mut last = String::from("never checked");
    while tokio::time::Instant::now() < deadline {
        match streaming(primary, replicas, password).await {
            Ok(true) => return Ok(()),
            Ok(false) => last = "not every replica streams".into(),
            Err(error) => last = error,
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("replicas {replicas:?} of port {primary} not streaming after {STREAMING_TIMEOUT:?}: {last}"))
}

/// Connection failure windows the provider reported (`restart_window` events), in ms, by server.
pub fn restart_windows(events: &[serde_json::Value]) -> Vec<(String, u64)> {
    events
        .iter()
        .filter(|event| event["type"] == "restart_window")
        .map(|event| {
            let message = event["message"].as_str().unwrap();
            let millis = message
                .split("failed for ")
                .nth(1)
                .and_then(|rest| rest.split(" ms").next())
                .and_then(|number| number.parse().ok())
                .unwrap_or_else(|| panic!("no window in {message:?}"));
            let server = event["address"].as_str().unwrap().trim_start_matches("servers.").to_string();
            (server, millis)
        })
        .collect()
}

/// Every process whose command line mentions `needle` (for leftovers of a killed pgfleet).
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else { continue };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if cmdline.contains(needle) {
            found.push((pid, cmdline));
        }
    }
    found
}

/// Every live process whose working directory is `dir` (as every postgres process of a data
/// directory has), with its command line; zombies have none and are not listed.
pub fn processes_working_in(dir: &Path) -> Vec<(u32, String)> {
    let Ok(dir) = std::fs::canonicalize(dir) else { return Vec::new() };
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().filter_map(Result::ok) {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        if std::fs::read_link(entry.path().join("cwd")).is_ok_and(|cwd| cwd == dir) {
            let raw = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            found.push((pid, String::from_utf8_lossy(&raw).replace('\0', " ")));
        }
    }
    found
}

/// Sends `signal` to process `pid` (a process this test found, such as a tool of pgfleet).
pub fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2); at worst the process is already gone.
    unsafe { libc::kill(pid as libc::pid_t, signal) };
}

/// Polls `condition` until it holds or `timeout` passes; returns whether it held. For what
/// only /proc shows (processes of other process trees), where there is no event to await.
pub fn poll_until(timeout: Duration, condition: impl Fn() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while !condition() {
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

/// A pseudo-terminal: its controlling side (kept by the test; nothing is ever typed on it) and
/// the terminal side, to give pgfleet as its standard input, where a person would answer.
pub fn terminal() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::OpenOptionsExt;
    // SAFETY: the libc calls get valid arguments; the descriptor is owned by the File at once.
    let (controller, name) = unsafe {
        let controller = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
        assert!(controller >= 0, "posix_openpt: {}", std::io::Error::last_os_error());
        let controller_file = std::fs::File::from_raw_fd(controller);
        assert_eq!(libc::grantpt(controller), 0, "grantpt");
        assert_eq!(libc::unlockpt(controller), 0, "unlockpt");
        let mut name = [0 as libc::c_char; 128];
        assert_eq!(libc::ptsname_r(controller, name.as_mut_ptr(), name.len()), 0, "ptsname_r");
        let name = std::ffi::CStr::from_ptr(name.as_ptr()).to_string_lossy().into_owned();
        (controller_file, name)
    };
    let terminal = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&name)
        .unwrap_or_else(|error| panic!("{name}: {error}"));
    (controller, terminal)
}

/// The tests' copy of a file next to the repository's examples.
pub fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples").join(name)
}
