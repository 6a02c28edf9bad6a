//! Harness of the shared-state tests (`state_azurerm`, `state_pg`, `state_backends`): the
//! backends a team shares, run by the test on 127.0.0.1 — Azurite (the Blob service emulator,
//! the npm package `.ci/run` installs in `target/azurite`) and a real PostgreSQL cluster — and
//! working copies: temporary directories, each with its own fleet file, whose `[state]` points
//! at the same backend and whose servers are the same local clusters. Guards stop Azurite, the
//! clusters and every pgfleet child whatever happens.

#![allow(dead_code)] // Each test module uses a different subset.

use crate::cli_support::{PASSWORD, Running, free_port_base, text};
use crate::local_support::Harness;
use pgfleet::providers::local::{LocalProvider, find_pg_bindir};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Azurite's well-known development account and key (published by Microsoft; not a secret).
pub const AZURITE_ACCOUNT: &str = "devstoreaccount1";
pub const AZURITE_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The variables the working copies' fleet files name for their secrets.
pub const KEY_VARIABLE: &str = "PGFLEET_TEST_STORAGE_KEY";
pub const CONN_VARIABLE: &str = "PGFLEET_TEST_STATE_PG";

/// How long any one wait of these tests may take (clusters are slow to build on a busy machine).
pub const PATIENCE: Duration = Duration::from_secs(180);

/// An Azurite Blob service on 127.0.0.1 with its data in a temporary directory, so that it can
/// be stopped and started again on the same port with the same blobs. Killed when dropped.
pub struct Azurite {
    child: Option<Child>,
    pub port: u16,
    location: tempfile::TempDir,
}

impl Azurite {
    /// Starts Azurite on a free port.
    pub fn start() -> Azurite {
        let location = tempfile::tempdir().unwrap();
        let (child, port) = spawn_azurite(location.path(), 0);
        Azurite { child: Some(child), port, location }
    }

    /// The Blob endpoint, path-style as Azurite serves it.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{AZURITE_ACCOUNT}", self.port)
    }

    /// A `[state]` section keeping the state in `container`.
    pub fn state_section(&self, container: &str) -> String {
        format!(
            "[state]\nbackend = \"azurerm\"\n\n[state.azurerm]\naccount = \"{AZURITE_ACCOUNT}\"\n\
             container = \"{container}\"\naccess_key = {{ env = \"{KEY_VARIABLE}\" }}\nendpoint = \"{}\"\n",
            self.endpoint()
        )
    }

    /// Stops Azurite as an operator would (SIGTERM: it saves its data and exits), and waits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on the child this harness started and has not reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            child.wait().unwrap();
        }
    }

    /// Starts Azurite again, on the same port, with the data it had.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "stop it first");
        let (child, port) = spawn_azurite(self.location.path(), self.port);
        assert_eq!(port, self.port);
        self.child = Some(child);
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `azurite-blob` script: `PGFLEET_AZURITE`, else `target/azurite` where `.ci/run` installs it.
fn azurite_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("PGFLEET_AZURITE") {
        return PathBuf::from(path);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/azurite/node_modules/.bin/azurite-blob");
    assert!(
        path.exists(),
        "Azurite is not installed at {}\nhint: run .ci/run, or: npm install --prefix target/azurite azurite@3.35.0",
        path.display()
    );
    path
}

/// Starts Azurite on `port` (0: any) and returns it with the port it listens on.
fn spawn_azurite(location: &Path, port: u16) -> (Child, u16) {
    let mut child = Command::new(azurite_bin())
        .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string(), "--location"])
        .arg(location)
        .args(["--silent", "--disableTelemetry", "--skipApiVersionCheck"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("Azurite starts");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let listening = lines.by_ref().map_while(Result::ok).find_map(|line| {
        let url = line.split("successfully listens on ").nth(1)?;
        url.trim().rsplit(':').next()?.parse::<u16>().ok()
    });
    let Some(listening) = listening else {
        let _ = child.kill();
        panic!("Azurite did not start on port {port}");
    };
    // Whatever else it prints is read and dropped, so that it never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.map_while(Result::ok) {});
    (child, listening)
}

/// A PostgreSQL cluster on 127.0.0.1 that holds states (made by the local provider).
pub struct StateDatabase {
    harness: Harness,
    pub port: u16,
}

impl StateDatabase {
    pub async fn start() -> StateDatabase {
        let harness = Harness::new(free_port_base(16));
        let server = harness
            .create("statedb", crate::local_support::spec(pgfleet::rules::Tier::GeneralPurpose, 2, 20))
            .await;
        let port = server.endpoint.expect("a local server has an endpoint").port;
        StateDatabase { harness, port }
    }

    /// A libpq connection string with the password (what `[state.pg] conn_str` reads).
    pub fn conn_str(&self) -> String {
        format!(
            "host=127.0.0.1 port={} user=fleetadmin password={} dbname=postgres",
            self.port,
            crate::local_support::PASSWORD
        )
    }

    /// A `[state]` section keeping the state in `schema`.
    pub fn state_section(&self, schema: &str) -> String {
        format!(
            "[state]\nbackend = \"pg\"\n\n[state.pg]\nconn_str = {{ env = \"{CONN_VARIABLE}\" }}\nschema = \"{schema}\"\n"
        )
    }

    /// A session on the state database.
    pub async fn connect(&self) -> tokio_postgres::Client {
        crate::local_support::admin(self.port).await
    }
}

/// The servers a team manages: one set of local clusters (one root, one port range) that
/// every working copy's fleet file names. Dropping it stops every cluster.
pub struct Team {
    root: tempfile::TempDir,
    pub name: String,
    port_base: u16,
    /// The `[state]` section every working copy writes.
    state: String,
    /// The variables every pgfleet child gets (the secrets the `[state]` section names).
    env: Vec<(String, String)>,
}

impl Team {
    pub fn new(name: &str, state: String, env: Vec<(String, String)>) -> Team {
        Team {
            root: tempfile::tempdir().unwrap(),
            name: name.into(),
            port_base: free_port_base(16),
            state,
            env,
        }
    }

    /// A team whose state is in `container` of `azurite`.
    pub fn on_azurite(name: &str, azurite: &Azurite, container: &str) -> Team {
        Team::new(name, azurite.state_section(container), vec![(KEY_VARIABLE.into(), AZURITE_KEY.into())])
    }

    /// A team whose state is in `schema` of `database`.
    pub fn on_pg(name: &str, database: &StateDatabase, schema: &str) -> Team {
        Team::new(name, database.state_section(schema), vec![(CONN_VARIABLE.into(), database.conn_str())])
    }

    /// A working copy whose fleet file has `servers`.
    pub fn checkout(&self, servers: &str) -> WorkingCopy {
        let copy = WorkingCopy { dir: tempfile::tempdir().unwrap(), env: self.env.clone() };
        std::fs::write(copy.path("password"), PASSWORD).unwrap();
        copy.write_fleet(self, servers);
        copy
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        if let Ok(bindir) = find_pg_bindir() {
            LocalProvider::stop_all_blocking(self.root.path(), &bindir);
        }
    }
}

/// One engineer's checkout: a directory with `fleet.toml`, where pgfleet runs.
pub struct WorkingCopy {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl WorkingCopy {
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `fleet.toml`: the team's provider and `[state]`, and `servers`.
    pub fn write_fleet(&self, team: &Team, servers: &str) {
        self.write_fleet_with_state(team, &team.state, servers);
    }

    /// Writes `fleet.toml` with another `[state]` section (empty: the local file).
    pub fn write_fleet_with_state(&self, team: &Team, state: &str, servers: &str) {
        let text = format!(
            "[fleet]\nname = \"{name}\"\n\n[provider]\nkind = \"local\"\n\n[provider.local]\nroot = {root:?}\n\
             port_base = {port}\n\n{state}\n[defaults]\nversion = \"11\"\ngeneration = \"Gen5\"\nstorage_gb = 20\n\
             ssl_enforcement = false\nminimal_tls_version = \"TLSEnforcementDisabled\"\n\
             admin_login = \"fleetadmin\"\nadmin_password = {{ file = \"password\" }}\n\n{servers}",
            name = team.name,
            root = team.root().display().to_string(),
            port = team.port_base,
        );
        std::fs::write(self.path("fleet.toml"), text).unwrap();
    }

    /// `pgfleet ARGS` in this copy (its `fleet.toml`), off a terminal, with the team's secrets.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_pgfleet"));
        command
            .args(args)
            .current_dir(self.dir.path())
            .env("NO_COLOR", "1")
            .env_remove("PGFLEET_STATE")
            .env_remove("PGFLEET_CONFIG")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .stdin(Stdio::null());
        for (name, value) in &self.env {
            command.env(name, value);
        }
        command
    }

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

    /// Starts pgfleet as a child whose output is read as it comes.
    pub fn spawn(&self, args: &[&str]) -> Running {
        Running::start(self.command(args))
    }

    /// The current state, as `pgfleet state pull` prints it.
    pub fn pull(&self) -> serde_json::Value {
        let output = self.run_expecting(&["state", "pull"], 0);
        serde_json::from_slice(&output.stdout).unwrap()
    }
}

/// Starts `pgfleet apply --auto-approve --json` in `copy` and returns it once its first step
/// has started: it holds the lock and is in the middle of its apply.
pub async fn apply_in_progress(copy: &WorkingCopy) -> Running {
    let mut apply = copy.spawn(&["apply", "--auto-approve", "--json"]);
    apply.events_until(PATIENCE, |event| event["type"] == "step_started").await;
    apply
}

pub use crate::common::host;
