//! Apply through the ARM emulator (`cargo bench --bench apply_emulator`): prints figures,
//! asserts nothing.
//!
//! For each N (1,000 and 8,000 unless `PGFLEET_BENCH_SIZES=1000,8000,…` says otherwise): a
//! fresh `pgfleet emulator` (zero latencies, no throttling, its own process) and
//! `pgfleet apply --auto-approve` of a fleet of N Single Servers that none of exist yet, in
//! groups of four: a General Purpose primary with one read replica (so replication support is
//! switched on and the primary restarted first) and two standalone servers. Both are the
//! release binary cargo builds for the bench. Printed per N: the apply's wall time, per server,
//! its peak RSS (the child's `ru_maxrss`), the emulator's CPU time, and the ratios of the
//! largest N to the smallest (linear: per-server time and RSS per server ≈ 1).
//!
//! `PGFLEET_BENCH_RUNS=3` runs each N three times and keeps the fastest (a shared machine is
//! noisy). The load average is printed before each run. `PGFLEET_BENCH_BIN=PATH` measures
//! another build of pgfleet (an older release, to compare) with the same fleets.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The binary measured: this build's, or `PGFLEET_BENCH_BIN` (another build, to compare).
fn pgfleet_binary() -> String {
    std::env::var("PGFLEET_BENCH_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_pgfleet").to_string())
}

/// One apply: wall time, the apply's peak RSS (KB), the emulator's CPU time.
struct Figures {
    wall: Duration,
    peak_kb: u64,
    emulator_cpu: Duration,
}

fn fleet(endpoint: &str, servers: usize) -> String {
    let mut text = format!(
        "[fleet]\nname = \"bench\"\n\n[provider]\nkind = \"azure\"\n\n[provider.azure]\n\
         subscription_id = \"00000000-0000-0000-0000-00000000bench\"\nresource_group = \"rg-bench\"\n\
         location = \"westeurope\"\nendpoint = \"{endpoint}\"\n\n[defaults]\nversion = \"11\"\n\
         tier = \"GeneralPurpose\"\ngeneration = \"Gen5\"\nvcores = 4\nstorage_gb = 100\n\
         admin_login = \"fleetadmin\"\nadmin_password = {{ env = \"PGFLEET_ADMIN_PASSWORD\" }}\n"
    );
    for index in 0..servers {
        let group = index / 4;
        match index % 4 {
            0 => text.push_str(&format!("\n[servers.db-{group:05}]\n")),
            1 => text.push_str(&format!("\n[servers.db-{group:05}-ro]\nreplica_of = \"db-{group:05}\"\n")),
            other => text.push_str(&format!("\n[servers.solo-{group:05}-{other}]\n")),
        }
    }
    text
}

/// Starts `pgfleet emulator` and reads its base URL from its first line.
fn start_emulator() -> (Child, String) {
    let mut child = Command::new(pgfleet_binary())
        .args(["emulator", "--listen", "127.0.0.1:0", "--no-throttling"])
        .args(["--latency", "create=0s,update=0s,restart=0s,delete=0s,invisible=0s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start pgfleet emulator");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line).expect("its URL");
    (child, line.trim().to_string())
}

/// utime + stime of a running process, from /proc.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or("").split_whitespace().collect();
    let ticks: u64 = [11, 12].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// Waits for a child and returns whether it succeeded and its peak RSS in KB.
fn wait_with_rusage(child: &Child) -> (bool, u64) {
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid value; wait4 writes into both out-parameters.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pid is our own child's, not yet waited for.
    let pid = unsafe { libc::wait4(child.id() as i32, &mut status, 0, &mut usage) };
    let succeeded = pid > 0 && libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (succeeded, usage.ru_maxrss as u64)
}

fn apply(servers: usize) -> Figures {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut emulator, base) = start_emulator();
    std::fs::write(dir.path().join("fleet.toml"), fleet(&base, servers)).expect("write the fleet file");
    let cpu_before = cpu_time(emulator.id());
    let started = Instant::now();
    // Reaped by `wait_with_rusage` (wait4, for its peak RSS), which clippy cannot see.
    #[allow(clippy::zombie_processes)]
    let child = pgfleet(dir.path(), &base).spawn().expect("start pgfleet apply");
    let (succeeded, peak_kb) = wait_with_rusage(&child);
    let wall = started.elapsed();
    let emulator_cpu = cpu_time(emulator.id()).saturating_sub(cpu_before);
    let _ = emulator.kill();
    let _ = emulator.wait();
    let log = std::fs::read_to_string(dir.path().join("apply.log")).unwrap_or_default();
    assert!(succeeded, "the apply of {servers} servers failed:\n{log}");
    Figures { wall, peak_kb, emulator_cpu }
}

fn pgfleet(dir: &Path, base: &str) -> Command {
    let log = std::fs::File::create(dir.join("apply.log")).expect("the apply's log");
    let mut command = Command::new(pgfleet_binary());
    command
        .args(["apply", "--auto-approve", "-q", "-c", "fleet.toml", "--state", "state.json"])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("PGFLEET_ADMIN_PASSWORD", "Bench-Password-1")
        .env("AZURE_TENANT_ID", "bench")
        .env("AZURE_CLIENT_ID", "bench")
        .env("AZURE_CLIENT_SECRET", "bench-secret")
        .env("AZURE_AUTHORITY_HOST", base)
        .env("PGFLEET_AZURE_POLL_INTERVAL", "1ms")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    command
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn main() {
    // `cargo test --benches` runs this too: one small apply proves it works.
    if !std::env::args().any(|arg| arg == "--bench") {
        let figures = apply(8);
        println!(
            "apply_emulator: 8 servers in {:.2?} (run `cargo bench --bench apply_emulator`)",
            figures.wall
        );
        return;
    }
    let sizes: Vec<usize> = std::env::var("PGFLEET_BENCH_SIZES")
        .ok()
        .map(|text| text.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1000, 8000]);
    let runs: usize = std::env::var("PGFLEET_BENCH_RUNS").ok().and_then(|n| n.parse().ok()).unwrap_or(1);
    println!("\n## apply through the ARM emulator (zero latencies, no throttling)\n");
    println!("| N | load before | apply wall | per server | peak RSS | RSS per server | emulator CPU |");
    println!("|---:|---|---:|---:|---:|---:|---:|");
    let mut rows = Vec::new();
    for &n in &sizes {
        let load = load_average();
        let best = (0..runs.max(1)).map(|_| apply(n)).min_by_key(|figures| figures.wall).expect("one run");
        let per_ms = best.wall.as_secs_f64() * 1000.0 / n as f64;
        let per_kb = best.peak_kb as f64 / n as f64;
        println!(
            "| {n} | {load} | {:.2} s | {per_ms:.3} ms | {:.1} MB | {per_kb:.1} KB | {:.2} s |",
            best.wall.as_secs_f64(),
            best.peak_kb as f64 / 1024.0,
            best.emulator_cpu.as_secs_f64()
        );
        rows.push((n, per_ms, per_kb, best.emulator_cpu.as_secs_f64() / n as f64));
    }
    if let (Some(first), Some(last)) = (rows.first(), rows.last()) {
        if rows.len() > 1 {
            println!(
                "\nper-server wall time at {} / at {}: {:.2}×; RSS per server: {:.2}×; emulator CPU per server: {:.2}×",
                last.0,
                first.0,
                last.1 / first.1,
                last.2 / first.2,
                last.3 / first.3.max(f64::MIN_POSITIVE)
            );
        }
    }
}
