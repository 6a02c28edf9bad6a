//! Conformance of the ARM emulator with Microsoft's own Python SDKs: `pgfleet emulator --tls`
//! (the binary, on 127.0.0.1, an ephemeral port) driven by `tests/conformance/*.py` with
//! azure-mgmt-rdbms (Single Server, 2017-12-01), azure-mgmt-postgresqlflexibleservers (Flexible
//! Server, 2025-08-01), azure-mgmt-resource and azure-identity, unpatched: each script checks
//! create, reads, lists, scaling, storage, replicas, promote, restart, parameters, firewall
//! rules, databases, name availability and delete, and prints `PASS name` / `FAIL name: reason`.
//! Each runs twice: without faults, and with injected throttling and server errors that the
//! SDK's own retry policy must carry it through.
//!
//! The Python comes from the venv `tests/conformance/setup-venv.sh` makes (`.ci/run` runs it):
//! `PGFLEET_SDK_PYTHON`, else `target/sdk-venv/bin/python`. A missing venv fails the test.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Operations take a fraction of a second, so a script runs in seconds; new servers stay
/// invisible (404) for less than their create takes, as on Azure the create's poll outlasts it.
const LATENCIES: &str = "create=300ms,update=150ms,restart=150ms,delete=100ms,invisible=100ms";
/// The faults of the second run: what azure-core's RetryPolicy retries for every method (429
/// with Retry-After; 500, which it retries even for POST and PATCH). 409s, dropped connections
/// and lost answers are not in it: azure-core does not retry a 409, nor a PATCH or POST whose
/// connection broke, and neither does a user of the SDK against Azure.
const FAULTS: &str = "429=0.05,500=0.05";
const FAULT_SEED: &str = "7";
/// The longest a script may run (each LRO has its own 120 s limit inside it).
const SCRIPT_DEADLINE: Duration = Duration::from_secs(420);
const SETUP: &str = "bash tests/conformance/setup-venv.sh";

#[test]
fn single_server_sdk_without_faults() {
    run_conformance("single_server.py", None);
}

#[test]
fn single_server_sdk_with_faults() {
    run_conformance("single_server.py", Some(FAULTS));
}

#[test]
fn flexible_server_sdk_without_faults() {
    run_conformance("flexible_server.py", None);
}

#[test]
fn flexible_server_sdk_with_faults() {
    run_conformance("flexible_server.py", Some(FAULTS));
}

fn repository() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's python, checked to be built from the current requirements file. Never skips:
/// a missing or stale venv fails the test and says how to make it.
fn sdk_python() -> PathBuf {
    if let Some(python) = std::env::var_os("PGFLEET_SDK_PYTHON") {
        let python = PathBuf::from(python);
        assert!(python.exists(), "PGFLEET_SDK_PYTHON={} does not exist; run `{SETUP}`", python.display());
        return python;
    }
    let venv = repository().join("target/sdk-venv");
    let python = venv.join("bin/python");
    assert!(
        python.exists(),
        "the SDK conformance venv is missing ({}): run `{SETUP}` from the repository \
         (python3 -m venv target/sdk-venv, then pip install -r tests/conformance/requirements.txt), \
         or set PGFLEET_SDK_PYTHON to a python that has those packages",
        python.display()
    );
    let wanted = std::fs::read(repository().join("tests/conformance/requirements.txt")).unwrap();
    let built_from = std::fs::read(venv.join("requirements.txt")).unwrap_or_default();
    assert!(
        wanted == built_from,
        "the SDK conformance venv {} was built from other requirements than \
         tests/conformance/requirements.txt: run `{SETUP}` to rebuild it",
        venv.display()
    );
    python
}

/// `pgfleet emulator --tls` as a child process, killed (SIGKILL) and reaped when dropped,
/// whatever the test did.
struct Emulator {
    child: Child,
    base_url: String,
    ca_file: PathBuf,
    stderr_file: PathBuf,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    /// Starts the emulator on an ephemeral port of 127.0.0.1, serving https with a certificate
    /// signed by a CA it writes to `--tls-ca FILE` before it prints its base URL
    /// (`https://127.0.0.1:PORT`) on the first line of stdout.
    fn start(dir: &Path, faults: Option<&str>) -> Emulator {
        let ca_file = dir.join("emulator-ca.pem");
        let stderr_file = dir.join("emulator.stderr");
        let mut command = Command::new(env!("CARGO_BIN_EXE_pgfleet"));
        command
            .args(["emulator", "--listen", "127.0.0.1:0", "--latency", LATENCIES, "--tls", "--tls-ca"])
            .arg(&ca_file)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_file).unwrap());
        if let Some(faults) = faults {
            command.args(["--faults", faults, "--seed", FAULT_SEED]);
        }
        let mut child = command.spawn().expect("the pgfleet binary starts");
        let stdout = child.stdout.take().unwrap();
        let (sender, receiver) = mpsc::channel();
        // Reads the first line, then drains stdout so the emulator never blocks on a full pipe.
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = sender.send(lines.next().and_then(Result::ok));
            for _ in lines {}
        });
        let mut emulator = Emulator { child, base_url: String::new(), ca_file, stderr_file };
        let first = receiver.recv_timeout(Duration::from_secs(30)).ok().flatten();
        match first {
            Some(url) if url.starts_with("https://127.0.0.1:") => emulator.base_url = url.trim().to_string(),
            other => panic!(
                "`pgfleet emulator --tls --tls-ca FILE` did not print an https base URL first (got {other:?}); \
                 stderr:\n{}",
                emulator.stderr()
            ),
        }
        assert!(emulator.ca_file.is_file(), "the emulator wrote no CA at {}", emulator.ca_file.display());
        emulator
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_file).unwrap_or_default()
    }
}

/// A child process killed and reaped when dropped (the script, if the test gives up on it).
struct Script(Child);

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `tests/conformance/{script}` against a fresh emulator (with `faults`, if any) and
/// asserts it passed every check, printing its PASS/FAIL lines either way.
fn run_conformance(script: &str, faults: Option<&str>) {
    let python = sdk_python();
    let dir = tempfile::tempdir().unwrap();
    let emulator = Emulator::start(dir.path(), faults);
    let started = Instant::now();
    let status = run_script(&python, script, &emulator, dir.path());
    let label = match faults {
        None => format!("{script} (no faults)"),
        Some(faults) => format!("{script} (faults {faults}, seed {FAULT_SEED})"),
    };
    println!("{label} against {} in {:.1}s:", emulator.base_url, started.elapsed().as_secs_f64());
    for line in read(&dir.path().join("script.stdout")).lines() {
        println!("  {line}");
    }
    if status.is_some_and(|s| s.success()) {
        return;
    }
    let wire = read(&dir.path().join("wire.log"));
    let lines: Vec<&str> = wire.lines().collect();
    println!("script stderr:\n{}", read(&dir.path().join("script.stderr")));
    println!("last requests on the wire:\n{}", lines[lines.len().saturating_sub(150)..].join("\n"));
    println!("emulator stderr:\n{}", emulator.stderr());
    match status {
        None => panic!("{label} did not finish within {SCRIPT_DEADLINE:?}"),
        Some(status) => panic!("{label} failed checks ({status}); its PASS/FAIL lines are above"),
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Runs the script with the environment `tests/conformance/harness.py` reads (and nothing else
/// from this process's: no stray AZURE_* or proxy), its output in `dir`; `None` when it did
/// not finish within [`SCRIPT_DEADLINE`] (it is killed then).
fn run_script(
    python: &Path,
    script: &str,
    emulator: &Emulator,
    dir: &Path,
) -> Option<std::process::ExitStatus> {
    let conformance = repository().join("tests/conformance");
    let mut command = Command::new(python);
    command
        .arg(conformance.join(script))
        .current_dir(&conformance)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("PGFLEET_SDK_ARM_ENDPOINT", &emulator.base_url)
        .env("AZURE_AUTHORITY_HOST", &emulator.base_url)
        .env("REQUESTS_CA_BUNDLE", &emulator.ca_file)
        .env("AZURE_TENANT_ID", "tenant-sdk")
        .env("AZURE_CLIENT_ID", "client-sdk")
        .env("AZURE_CLIENT_SECRET", "client-secret-sdk")
        .env("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000001")
        .env("PGFLEET_SDK_POLL_INTERVAL", "0.1")
        .env("PGFLEET_SDK_WIRE_LOG", dir.join("wire.log"))
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("script.stdout")).unwrap())
        .stderr(std::fs::File::create(dir.join("script.stderr")).unwrap());
    let started = Instant::now();
    let mut child = Script(command.spawn().expect("the venv's python starts"));
    while started.elapsed() < SCRIPT_DEADLINE {
        if let Some(status) = child.0.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}
