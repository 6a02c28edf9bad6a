//! Apply benchmark (`cargo bench --bench apply`): prints figures, asserts nothing.
//!
//! 1. Apply of N in-place updates against the test provider with zero-latency operations and a
//!    durable journal (JSON lines, fsync per batch): wall time and peak memory (VmHWM), each N
//!    in a child process so peaks do not mix.
//! 2. Makespan: replica chains with per-operation latencies (create 50 ms, update 30 ms,
//!    restart 20 ms) against the critical-path lower bound.
//! 3. If `terraform` is on PATH: `terraform plan` / `apply` of N in-place updates of built-in
//!    `terraform_data` resources (no provider download), timed in the same run.
//!
//! `PGFLEET_BENCH_QUICK=1` runs only the smallest sizes; `PGFLEET_BENCH_NO_TERRAFORM=1` skips
//! the side-by-side. The makespan runs three times per sink: timer rounding and a busy machine
//! show as spread.

use pgfleet::exec::PhasedMigrator;
use pgfleet::exec::{ApplyOptions, Cancel, EventSender, MemorySink, SinkError, StateSink, apply};
use pgfleet::migrate::MemoryCopier;
use pgfleet::model::{ServerName, ServerPatch, ServerSpec};
use pgfleet::plan::{
    Action, Change, DowntimeRange, Impact, Operation, PLAN_FORMAT_VERSION, Plan, PlanInputs, Summary,
};
use pgfleet::providers::test_provider::{Op, TestProvider, observed};
use pgfleet::rules::{PgVersion, ReplicationSupport, Tier};
use pgfleet::state::{JournalRecord, State};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn spec(vcores: u32, replica_of: Option<&str>) -> ServerSpec {
    ServerSpec {
        replica_of: replica_of.map(ServerName::new),
        ..ServerSpec::new(Tier::GeneralPurpose, vcores, 100, PgVersion::V11, "fleetadmin", "westeurope")
    }
}

fn change(id: String, server: &str, operation: Operation, depends_on: Vec<String>) -> Change {
    let action = match operation {
        Operation::Create { .. } => Action::Create,
        _ => Action::Update,
    };
    Change {
        id,
        address: ServerName::new(server).address(),
        server: ServerName::new(server),
        action,
        depends_on,
        ordering: Vec::new(),
        attributes: Vec::new(),
        impact: Impact {
            restart: true,
            downtime_seconds: DowntimeRange { min: 0, max: 60 },
            downtime_basis: String::new(),
            data_migration: false,
            reversible: true,
        },
        reason: String::new(),
        steps: Vec::new(),
        wave: 1,
        operation,
        configured_storage_gb: None,
        configured_zone: None,
        configured_carried: None,
        endpoint: None,
        cost: None,
    }
}

fn plan(changes: Vec<Change>) -> Plan {
    Plan {
        format_version: PLAN_FORMAT_VERSION.into(),
        fleet: "bench".into(),
        unfinished_migrations: Vec::new(),
        changes,
        blocked: Vec::new(),
        refused: Vec::new(),
        drift: Vec::new(),
        notes: Vec::new(),
        summary: Summary::default(),
        cost: None,
        inputs: PlanInputs {
            config_files: BTreeMap::new(),
            state_lineage: None,
            state_serial: None,
            refreshed: true,
            live_fingerprints: BTreeMap::new(),
            created_at: chrono::Utc::now(),
            tool_version: "bench".into(),
        },
    }
}

/// A durable journal: one JSON line per record, fsync per batch, as the real state store does.
struct FileJournal {
    file: File,
    buffer: Vec<u8>,
}

impl StateSink for FileJournal {
    fn persist(&mut self, records: &[JournalRecord]) -> Result<(), SinkError> {
        self.buffer.clear();
        for record in records {
            serde_json::to_writer(&mut self.buffer, record).map_err(|e| SinkError::new(e.to_string()))?;
            self.buffer.push(b'\n');
        }
        self.file.write_all(&self.buffer).map_err(|e| SinkError::new(e.to_string()))?;
        self.file.sync_data().map_err(|e| SinkError::new(e.to_string()))
    }
}

fn file_journal(dir: &Path) -> Box<dyn StateSink> {
    let file = File::create(dir.join("bench.journal")).expect("create the journal");
    Box::new(FileJournal { file, buffer: Vec::new() })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime")
}

/// Child mode: N zero-latency in-place updates; prints "wall_ms peak_kb batches".
fn child(servers: usize) {
    let provider = TestProvider::new();
    let mut changes = Vec::with_capacity(servers);
    for i in 0..servers {
        let name = format!("db-{i:05}");
        provider.insert(observed(&ServerName::new(&name), spec(4, None)));
        let patch = ServerPatch { vcores: Some(8), ..ServerPatch::default() };
        changes.push(change(
            format!("update:{name}"),
            &name,
            Operation::Update { patch, replication_support: None },
            Vec::new(),
        ));
    }
    let plan = plan(changes);
    let dir = tempfile::tempdir().expect("temp dir");
    let sink = file_journal(dir.path());
    let started = Instant::now();
    let report = runtime().block_on(apply(
        &plan,
        Arc::new(provider),
        Arc::new(PhasedMigrator::in_memory(&plan, dir.path(), MemoryCopier::default())),
        sink,
        ApplyOptions::default(),
        EventSender::discard(),
        Cancel::new(),
    ));
    let wall = started.elapsed();
    assert!(report.succeeded(), "the benchmark apply failed: {:?}", report.summary);
    println!("{} {}", wall.as_millis(), peak_kb());
}

fn peak_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// One child run of N updates: (wall ms, peak KB).
fn child_run(exe: &Path, n: usize) -> Result<(u64, u64), String> {
    let output = Command::new(exe).args(["--child", &n.to_string()]).output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).trim().to_string());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut fields = text.split_whitespace().map(|f| f.parse::<u64>().unwrap_or(0));
    Ok((fields.next().unwrap_or(0), fields.next().unwrap_or(0)))
}

/// Each N three times (a shared machine is noisy): the best and the median wall time.
fn scale_table(sizes: &[usize]) -> BTreeMap<usize, u64> {
    let mut walls = BTreeMap::new();
    println!(
        "\n## apply of N in-place updates (zero-latency test provider, fsync'd journal, parallelism 10)\n"
    );
    println!("| N | wall time (best of 3) | median | best per change | peak memory (VmHWM) |");
    println!("|---:|---:|---:|---:|---:|");
    let exe = std::env::current_exe().expect("current exe");
    for &n in sizes {
        let runs: Result<Vec<(u64, u64)>, String> = (0..3).map(|_| child_run(&exe, n)).collect();
        let mut runs = match runs {
            Ok(runs) => runs,
            Err(error) => {
                println!("| {n} | failed: {error} | | | |");
                continue;
            }
        };
        runs.sort();
        let (best, peak) = runs[0];
        walls.insert(n, best);
        let per = best as f64 * 1000.0 / n as f64;
        println!("| {n} | {best} ms | {} ms | {per:.0} µs | {:.1} MB |", runs[1].0, peak as f64 / 1024.0);
    }
    walls
}

const CREATE: Duration = Duration::from_millis(50);
const UPDATE: Duration = Duration::from_millis(30);
const RESTART: Duration = Duration::from_millis(20);

/// `groups` of: a primary scaled up after its two replicas, and a new primary that gets
/// replication support, a replica, then a scale-up of both (replica first).
fn chains(groups: usize) -> (TestProvider, Plan) {
    let provider = TestProvider::new();
    provider.set_latency(Op::Create, CREATE);
    provider.set_latency(Op::Update, UPDATE);
    provider.set_latency(Op::Restart, RESTART);
    let scale = |vcores| Operation::Update {
        patch: ServerPatch { vcores: Some(vcores), ..ServerPatch::default() },
        replication_support: None,
    };
    let mut changes = Vec::new();
    for g in 0..groups {
        let (p, r1, r2, n, nr) = (
            format!("p{g}"),
            format!("p{g}-ro-1"),
            format!("p{g}-ro-2"),
            format!("n{g}"),
            format!("n{g}-ro"),
        );
        let mut primary = observed(&ServerName::new(&p), spec(4, None));
        primary.replication_support = ReplicationSupport::Replica;
        provider.insert(primary);
        for replica in [&r1, &r2] {
            provider.insert(observed(&ServerName::new(replica), spec(4, Some(&p))));
            changes.push(change(format!("update:{replica}"), replica, scale(8), Vec::new()));
        }
        changes.push(change(
            format!("update:{p}"),
            &p,
            scale(8),
            vec![format!("update:{r1}"), format!("update:{r2}")],
        ));
        changes.push(change(
            format!("create:{n}"),
            &n,
            Operation::Create { spec: spec(4, None) },
            Vec::new(),
        ));
        let replication = Operation::Update {
            patch: ServerPatch::default(),
            replication_support: Some(ReplicationSupport::Replica),
        };
        changes.push(change(format!("replication:{n}"), &n, replication, vec![format!("create:{n}")]));
        let replica = Operation::Create { spec: spec(4, Some(&n)) };
        changes.push(change(format!("create:{nr}"), &nr, replica, vec![format!("replication:{n}")]));
        changes.push(change(format!("update:{nr}"), &nr, scale(8), vec![format!("create:{nr}")]));
        changes.push(change(format!("update:{n}"), &n, scale(8), vec![format!("update:{nr}")]));
    }
    (provider, plan(changes))
}

/// The longest path through the plan, each change weighted by its operations' latencies.
fn critical_path(plan: &Plan) -> Duration {
    let mut finish: BTreeMap<&str, Duration> = BTreeMap::new();
    for change in &plan.changes {
        let own = match &change.operation {
            Operation::Create { .. } => CREATE,
            Operation::Update { patch, replication_support } => {
                let patch_time = if patch.is_empty() { Duration::ZERO } else { UPDATE };
                let restart = replication_support.is_some() && !patch.changes_compute();
                patch_time + if restart { RESTART } else { Duration::ZERO }
            }
            _ => Duration::ZERO,
        };
        let start = change.depends_on.iter().filter_map(|id| finish.get(id.as_str())).max().copied();
        finish.insert(&change.id, start.unwrap_or_default() + own);
    }
    finish.values().max().copied().unwrap_or_default()
}

fn makespan(groups: usize) {
    println!("\n## makespan: replica chains, create 50 ms / update 30 ms / restart 20 ms\n");
    println!("| changes | sink | parallelism | apply wall | critical path | ratio |");
    println!("|---:|---|---:|---:|---:|---:|");
    for durable in [true, true, true, false, false, false] {
        let (provider, plan) = chains(groups);
        let bound = critical_path(&plan);
        let dir = tempfile::tempdir().expect("temp dir");
        let sink: Box<dyn StateSink> =
            if durable { file_journal(dir.path()) } else { Box::new(MemorySink::new(State::new("bench"))) };
        let options = ApplyOptions { parallelism: plan.changes.len(), ..ApplyOptions::default() };
        let started = Instant::now();
        let report = runtime().block_on(apply(
            &plan,
            Arc::new(provider),
            Arc::new(PhasedMigrator::in_memory(&plan, dir.path(), MemoryCopier::default())),
            sink,
            options,
            EventSender::discard(),
            Cancel::new(),
        ));
        let wall = started.elapsed();
        assert!(report.succeeded(), "the makespan apply failed: {:?}", report.summary);
        println!(
            "| {} | {} | {} | {} ms | {} ms | {:.3} |",
            plan.changes.len(),
            if durable { "fsync'd journal" } else { "memory" },
            plan.changes.len(),
            wall.as_millis(),
            bound.as_millis(),
            wall.as_secs_f64() / bound.as_secs_f64()
        );
    }
}

fn terraform_available() -> bool {
    Command::new("terraform").arg("version").output().is_ok_and(|out| out.status.success())
}

fn terraform(dir: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    let output = Command::new("terraform")
        .args(args)
        .current_dir(dir)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .output()
        .expect("run terraform");
    assert!(output.status.success(), "terraform {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    started.elapsed()
}

fn write_config(dir: &Path, n: usize, value: &str) {
    let text =
        format!("resource \"terraform_data\" \"server\" {{\n  count = {n}\n  input = \"{value}\"\n}}\n");
    std::fs::write(dir.join("main.tf"), text).expect("write main.tf");
}

/// (plan, apply) of N in-place updates of `terraform_data` resources, local backend.
fn terraform_update(n: usize) -> (Duration, Duration) {
    let dir: PathBuf = tempfile::tempdir().expect("temp dir").keep();
    write_config(&dir, n, "v1");
    terraform(&dir, &["init", "-input=false", "-no-color"]);
    terraform(&dir, &["apply", "-input=false", "-auto-approve", "-no-color"]);
    write_config(&dir, n, "v2");
    let plan = terraform(&dir, &["plan", "-input=false", "-no-color", "-out=update.tfplan"]);
    let apply = terraform(&dir, &["apply", "-input=false", "-no-color", "update.tfplan"]);
    let _ = std::fs::remove_dir_all(&dir);
    (plan, apply)
}

fn terraform_table(sizes: &[usize], pgfleet: &BTreeMap<usize, u64>) {
    if !terraform_available() {
        println!("\n(terraform is not on PATH: no side-by-side figures)");
        return;
    }
    println!("\n## side by side: N in-place updates (terraform_data, local backend, parallelism 10)\n");
    println!("| N | terraform plan | terraform apply | pgfleet apply | terraform apply / pgfleet apply |");
    println!("|---:|---:|---:|---:|---:|");
    for &n in sizes {
        let (plan, apply) = terraform_update(n);
        let ours = pgfleet.get(&n).copied();
        let ratio = ours.map(|ms| format!("{:.0}×", apply.as_millis() as f64 / ms.max(1) as f64));
        println!(
            "| {n} | {:.1} s | {:.1} s | {} | {} |",
            plan.as_secs_f64(),
            apply.as_secs_f64(),
            ours.map(|ms| format!("{ms} ms")).unwrap_or_default(),
            ratio.unwrap_or_default()
        );
        // 2,000 only when 1,000 was quick enough that it finishes in a couple of minutes.
        if n == 1000 && apply > Duration::from_secs(30) {
            println!("(skipping N=2000: N=1000 took {:.0} s)", apply.as_secs_f64());
            break;
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(position) = args.iter().position(|arg| arg == "--child") {
        let n = args.get(position + 1).and_then(|n| n.parse().ok()).expect("--child N");
        child(n);
        return;
    }
    let quick = std::env::var_os("PGFLEET_BENCH_QUICK").is_some();
    let sizes: &[usize] = if quick { &[100, 1000] } else { &[100, 1000, 2000, 10_000] };
    let walls = scale_table(sizes);
    makespan(if quick { 10 } else { 50 });
    let tf_sizes: &[usize] = if quick { &[100] } else { &[100, 1000, 2000] };
    if std::env::var_os("PGFLEET_BENCH_NO_TERRAFORM").is_none() {
        terraform_table(tf_sizes, &walls);
    }
}
