//! A Basic → General Purpose migration against a bare `pg_dump -Fc` + `pg_restore -j2` of the
//! same database (`cargo bench --bench migration`): prints figures, asserts nothing.
//!
//! One local-provider fleet (real PostgreSQL clusters on 127.0.0.1, the server binaries found
//! as the local provider finds them) with one server, `ledger`, holding the database `bench`:
//! one table of 2,000,000 rows (~300 MB: a bigint key, an integer, a numeric, 96 characters of
//! text, a timestamp) and two indexes (its primary key and one on the integer). Then, per run:
//!
//! 1. bare: `pg_dump -Fc` of `bench` to a file, then `pg_restore -j2` of it into a new database
//!    on the same server (dropped afterwards), each timed;
//! 2. migration: the fleet file changes the tier (Basic → General Purpose, then back on the
//!    next run) and `pgfleet apply --auto-approve --json` migrates the server: dump, restore
//!    and verification of every row, with its phases timed from its JSON progress lines.
//!
//! Printed: both wall times and their ratio, and the write freeze (from "freezing writes" to
//! the end of the cutover) against the bare copy; and the bare copy again with the dump at the
//! migration's compression level (zlib 1), against which the migration's own work shows. The
//! migration's wall time also holds the staging server's create (initdb and start here;
//! minutes on Azure), printed apart.
//!
//! `PGFLEET_BENCH_ROWS` changes the row count (2,000,000), `PGFLEET_BENCH_RUNS` the number of
//! paired runs (2). Without PostgreSQL's server binaries it prints why and stops. The load
//! average is printed with each run: the machine's other work shows in the figures.
//! `PGFLEET_BENCH_BIN=PATH` measures another build of pgfleet (to compare).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The binary measured: this build's, or `PGFLEET_BENCH_BIN` (another build, to compare).
fn pgfleet_binary() -> String {
    std::env::var("PGFLEET_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_pgfleet").to_string())
}
const PASSWORD: &str = "Bench-Password-1";

fn fleet(root: &Path, port_base: u16, tier: &str) -> String {
    format!(
        "[fleet]\nname = \"bench\"\n\n[provider]\nkind = \"local\"\n\n[provider.local]\nroot = \"{}\"\n\
         port_base = {port_base}\n\n[defaults]\nversion = \"11\"\ngeneration = \"Gen5\"\nstorage_gb = 20\n\
         ssl_enforcement = false\nminimal_tls_version = \"TLSEnforcementDisabled\"\nadmin_login = \"fleetadmin\"\n\
         admin_password = {{ env = \"PGFLEET_ADMIN_PASSWORD\" }}\n\n[servers.ledger]\ntier = \"{tier}\"\nvcores = 2\n",
        root.join("local").display()
    )
}

fn pgfleet(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(pgfleet_binary());
    command
        .args(args)
        .args(["-c", "fleet.toml", "--state", "state.json"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("PGFLEET_ADMIN_PASSWORD", PASSWORD)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdin(Stdio::null());
    command
}

fn run(mut command: Command, what: &str) -> Duration {
    let started = Instant::now();
    let output = command.output().unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(output.status.success(), "{what}: {}", String::from_utf8_lossy(&output.stderr));
    started.elapsed()
}

/// The first of 20 consecutive free ports from 57300 on.
fn free_port_base() -> u16 {
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    (57300..60000).step_by(20).find(|&base| (base..base + 20).all(free)).expect("a free block of ports")
}

fn psql(bindir: &Path, port: u16, database: &str, sql: &str) -> Command {
    let mut command = Command::new(bindir.join("psql"));
    command
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-U", "fleetadmin", "-d", database, "-c", sql])
        .env("PGPASSWORD", PASSWORD);
    command
}

fn tool(bindir: &Path, name: &str, port: u16) -> Command {
    let mut command = Command::new(bindir.join(name));
    command
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "fleetadmin"])
        .env("PGPASSWORD", PASSWORD);
    command
}

/// The port `ledger` listens on, as the state records its endpoint.
fn ledger_port(dir: &Path) -> u16 {
    let text = std::fs::read_to_string(dir.join("state.json")).expect("the state");
    let state: serde_json::Value = serde_json::from_str(&text).expect("a JSON state");
    let server = state["servers"].get("ledger").expect("ledger in the state");
    server["endpoint"]["port"].as_u64().expect("an endpoint port") as u16
}

fn fill(bindir: &Path, port: u16, rows: u64) {
    run(psql(bindir, port, "postgres", "CREATE DATABASE bench"), "create the database");
    for sql in [
        "CREATE TABLE ledger (id bigserial PRIMARY KEY, account integer NOT NULL, amount numeric(12, 2) NOT NULL, \
         note text NOT NULL, created timestamptz NOT NULL)",
        &format!(
            "INSERT INTO ledger (account, amount, note, created) SELECT (g::bigint * 7919) % 100000, (g % 100000) / 10.0, \
             repeat(md5(g::text), 3), timestamptz '2024-01-01' + g * interval '1 second' \
             FROM generate_series(1, {rows}) g"
        ),
        "CREATE INDEX ledger_by_account ON ledger (account)",
        "VACUUM ANALYZE ledger",
    ] {
        run(psql(bindir, port, "bench", sql), "fill the database");
    }
}

/// Bare dump (zlib level `compression`, pg_dump's default 6 or the migration's 1) and
/// parallel restore of `bench`: (dump, restore).
fn bare(bindir: &Path, dir: &Path, port: u16, compression: u8) -> (Duration, Duration) {
    let file = dir.join("bare.dump");
    let mut dump = tool(bindir, "pg_dump", port);
    dump.args(["-Fc", &format!("-Z{compression}"), "-d", "bench", "-f"]).arg(&file);
    let dump = run(dump, "pg_dump");
    let mut restore = tool(bindir, "pg_restore", port);
    restore.args(["-j2", "-d", "bare_copy"]).arg(&file);
    run(psql(bindir, port, "postgres", "CREATE DATABASE bare_copy"), "create bare_copy");
    let restore = run(restore, "pg_restore");
    run(psql(bindir, port, "postgres", "DROP DATABASE bare_copy"), "drop bare_copy");
    let _ = std::fs::remove_file(&file);
    (dump, restore)
}

/// The migration's figures, from the receipt times of its progress lines.
#[derive(Default)]
struct Migration {
    wall: Duration,
    /// Phase → when its line arrived, from the apply's start.
    phases: Vec<(&'static str, Duration)>,
    /// Whether the source changed after it was checksummed during the copy, so verification
    /// read it again (an autovacuum ANALYZE on it is enough).
    source_read_again: bool,
}

impl Migration {
    fn at(&self, phase: &str) -> Option<Duration> {
        self.phases.iter().find(|(name, _)| *name == phase).map(|(_, at)| *at)
    }

    fn between(&self, from: &str, to: &str) -> Option<Duration> {
        Some(self.at(to)?.saturating_sub(self.at(from)?))
    }
}

const PHASES: [(&str, &str); 7] = [
    ("create", "creating the target server"),
    ("freeze", "freezing writes on the source"),
    ("dump", "dumping"),
    ("restore", "restoring into the target"),
    ("verify", "verifying every table"),
    ("cutover", "cutting over"),
    ("retire", "retiring the source"),
];

fn migrate(dir: &Path) -> Migration {
    let started = Instant::now();
    let mut child = pgfleet(dir, &["apply", "--auto-approve", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start pgfleet apply");
    let mut migration = Migration::default();
    for line in BufReader::new(child.stdout.take().expect("piped stdout")).lines() {
        let line = line.unwrap_or_default();
        migration.source_read_again |= line.contains("changed since it was checksummed");
        for (name, message) in PHASES {
            if line.contains(&format!("\"message\":\"{message}\"")) && migration.at(name).is_none() {
                migration.phases.push((name, started.elapsed()));
            }
        }
    }
    let output = child.wait_with_output().expect("pgfleet apply ends");
    migration.wall = started.elapsed();
    assert!(output.status.success(), "the migration failed: {}", String::from_utf8_lossy(&output.stderr));
    migration
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn seconds(duration: Option<Duration>) -> String {
    duration.map(|d| format!("{:.2} s", d.as_secs_f64())).unwrap_or_else(|| "–".into())
}

fn main() {
    let quick = !std::env::args().any(|arg| arg == "--bench");
    let bindir = match pgfleet::pgtools::find_bindir_with(&[
        "initdb",
        "pg_ctl",
        "postgres",
        "pg_dump",
        "pg_restore",
    ]) {
        Ok(dir) => dir,
        Err(error) => {
            println!("migration bench skipped: {error}");
            return;
        }
    };
    let rows: u64 = std::env::var("PGFLEET_BENCH_ROWS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if quick { 10_000 } else { 2_000_000 });
    let runs: usize = std::env::var("PGFLEET_BENCH_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(2);
    let fleet_dir = FleetDir(tempfile::tempdir().expect("temp dir").keep());
    let dir = fleet_dir.0.as_path();
    // The clusters run as `postgres` when this runs as root: it must reach the directory.
    let _ = std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755));
    let port_base = free_port_base();
    let mut tier = "Basic";
    std::fs::write(dir.join("fleet.toml"), fleet(dir, port_base, tier)).expect("write the fleet file");
    run(pgfleet(dir, &["apply", "--auto-approve", "-q"]), "create the Basic server");
    let started = Instant::now();
    fill(&bindir, ledger_port(dir), rows);
    println!("filled {rows} rows in {:.1} s", started.elapsed().as_secs_f64());

    println!("\n## migration vs bare pg_dump -Fc + pg_restore -j2 ({rows} rows, 2 indexes)\n");
    println!(
        "| run | load before | bare dump | bare restore -j2 | bare total | migration | of which create | \
         freeze | dump | restore | verify | cutover | migration / bare | freeze / bare | bare with -Z1 | \
         migration / bare -Z1 |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for index in 1..=runs {
        let load = load_average();
        let port = ledger_port(dir);
        let (dump, restore) = bare(&bindir, dir, port, 6);
        let bare_total = dump + restore;
        // The same at the migration's compression level: what the migration adds to the copy.
        let (fast_dump, fast_restore) = bare(&bindir, dir, port, 1);
        let fast_total = fast_dump + fast_restore;
        tier = if tier == "Basic" { "GeneralPurpose" } else { "Basic" };
        std::fs::write(dir.join("fleet.toml"), fleet(dir, port_base, tier)).expect("write the fleet file");
        let migration = migrate(dir);
        let freeze = migration.between("freeze", "retire");
        println!(
            "| {index} (→ {tier}) | {load} | {:.2} s | {:.2} s | {:.2} s | {:.2} s | {} | {} | {} | {} | {} | {} | {:.2}× | {} | {:.2} s | {:.2}× |",
            dump.as_secs_f64(),
            restore.as_secs_f64(),
            bare_total.as_secs_f64(),
            migration.wall.as_secs_f64(),
            seconds(migration.between("create", "freeze")),
            seconds(freeze),
            seconds(migration.between("dump", "restore")),
            seconds(migration.between("restore", "verify")),
            seconds(migration.between("verify", "cutover"))
                + if migration.source_read_again { " (source read again)" } else { "" },
            seconds(migration.between("cutover", "retire")),
            migration.wall.as_secs_f64() / bare_total.as_secs_f64(),
            freeze.map(|f| format!("{:.2}×", f.as_secs_f64() / bare_total.as_secs_f64())).unwrap_or_default(),
            fast_total.as_secs_f64(),
            migration.wall.as_secs_f64() / fast_total.as_secs_f64(),
        );
    }
}

/// The fleet's directory: its servers are destroyed and it is removed at the end, a failed run
/// (a panic) included.
struct FleetDir(PathBuf);

impl Drop for FleetDir {
    fn drop(&mut self) {
        let destroy = pgfleet(&self.0, &["destroy", "--allow-delete", "--auto-approve", "-q"]).output();
        if destroy.is_ok_and(|output| output.status.success()) {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            println!(
                "(the fleet could not be destroyed: its clusters may still run under {})",
                self.0.display()
            );
        }
    }
}
