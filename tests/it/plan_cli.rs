//! `pgfleet plan` and `pgfleet show` as a user runs them, planning from a state file
//! (`--refresh=false`) so no server is needed: exit codes, JSON against its schema, saved plans.

use assert_cmd::Command;
use pgfleet::model::{ObservedServer, ServerName, ServerSpec, ServerStatus};
use pgfleet::rules::{PgVersion, ReplicationSupport, Tier};
use pgfleet::state::{ServerRecord, State, StateStore};
use std::path::{Path, PathBuf};

/// A Single Server fleet (the quickstart before it moved to Flexible Server).
const QUICKSTART: &str = "tests/fixtures/single-fleet/quickstart.toml";

fn pgfleet() -> Command {
    let mut command = Command::cargo_bin("pgfleet").unwrap();
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("NO_COLOR", "1")
        .env_remove("PGFLEET_CONFIG")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITHUB_STEP_SUMMARY");
    command
}

fn run(args: &[&str]) -> (i32, String, String) {
    let output = pgfleet().args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn spec(tier: Tier, vcores: u32, storage_gb: u32, replica_of: Option<&str>) -> ServerSpec {
    ServerSpec {
        replica_of: replica_of.map(ServerName::from),
        ..ServerSpec::new(tier, vcores, storage_gb, PgVersion::V11, "fleetadmin", "local")
    }
}

/// A state that records the quickstart fleet as it is configured, plus `extra` servers.
fn write_state(path: &Path, extra: &[(&str, ServerSpec)]) {
    let mut servers = vec![
        ("qs-basic", spec(Tier::Basic, 1, 20, None)),
        ("qs-main", spec(Tier::GeneralPurpose, 2, 50, None)),
        ("qs-ro-1", spec(Tier::GeneralPurpose, 2, 50, Some("qs-main"))),
        ("qs-ro-2", spec(Tier::GeneralPurpose, 4, 50, Some("qs-main"))),
    ];
    servers.extend(extra.iter().cloned());
    let mut state = State::new("quickstart");
    for (name, spec) in servers {
        let name = ServerName::from(name);
        let observed = ObservedServer {
            name: name.clone(),
            provider_id: format!("local/{name}"),
            spec,
            status: ServerStatus::Ready,
            replication_support: ReplicationSupport::Replica,
            endpoint: None,
        };
        state.servers.insert(name.clone(), ServerRecord::new(observed));
    }
    let mut locked = StateStore::open(path, "quickstart", "test").unwrap();
    locked.write(state).unwrap();
}

fn state_in(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("quickstart.state.json")
}

#[test]
fn a_matching_state_plans_no_changes() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_in(&dir);
    write_state(&state, &[]);
    let state = state.to_str().unwrap();
    let (code, stdout, stderr) =
        run(&["plan", "-c", QUICKSTART, "--state", state, "--refresh=false", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("no changes"), "{stdout}");
}

#[test]
fn an_empty_state_plans_creates_and_detailed_exitcode_says_changes() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_in(&dir);
    let state = state.to_str().unwrap();
    let (code, stdout, _) = run(&["plan", "-c", QUICKSTART, "--state", state, "--refresh=false"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("4 to create"), "{stdout}");
    let (code, _, _) =
        run(&["plan", "-c", QUICKSTART, "--state", state, "--refresh=false", "--detailed-exitcode"]);
    assert_eq!(code, 2);
    assert!(!dir.path().join("quickstart.state.json").exists(), "plan must not write the state");
}

#[test]
fn json_output_validates_against_the_plan_schema() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_in(&dir);
    let (code, stdout, stderr) =
        run(&["plan", "-c", QUICKSTART, "--state", state.to_str().unwrap(), "--refresh=false", "--json"]);
    assert_eq!(code, 0, "{stderr}");
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string("schemas/plan.schema.json").unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&document).map(|error| error.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(document["summary"]["create"], 4);
    assert!(document["plan_id"].as_str().unwrap().starts_with("sha256:"));
}

#[test]
fn a_server_removed_from_the_config_is_blocked_without_allow_delete() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_in(&dir);
    write_state(&state, &[("qs-old", spec(Tier::Basic, 1, 20, None))]);
    let state = state.to_str().unwrap();
    let (code, stdout, _) = run(&["plan", "-c", QUICKSTART, "--state", state, "--refresh=false"]);
    assert_eq!(code, 3, "{stdout}");
    assert!(stdout.contains("qs-old"), "{stdout}");
    let (code, stdout, _) =
        run(&["plan", "-c", QUICKSTART, "--state", state, "--refresh=false", "--allow-delete", "--json"]);
    assert_eq!(code, 0, "{stdout}");
    let document: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(document["summary"]["delete"], 1);
    assert_eq!(document["blocked"].as_array().unwrap().len(), 0);
}

#[test]
fn a_storage_shrink_is_refused_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_in(&dir);
    let mut bigger = spec(Tier::Basic, 1, 20, None);
    bigger.storage_gb = 40;
    write_state(&state, &[]);
    // Record qs-basic with more storage than the config asks for and no auto-grow: a shrink.
    let mut current = pgfleet::state::read_state(&state).unwrap();
    let record = current.servers.get_mut(&ServerName::from("qs-basic")).unwrap();
    record.observed.spec = ServerSpec { storage_autogrow: false, ..bigger };
    StateStore::open(&state, "quickstart", "test").unwrap().write(current).unwrap();
    let (code, stdout, stderr) =
        run(&["plan", "-c", QUICKSTART, "--state", state.to_str().unwrap(), "--refresh=false"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("storage_gb"), "{stdout}");
}

#[test]
fn a_saved_plan_shows_the_same_plan_id() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_in(&dir);
    let plan_file = dir.path().join("plan.pgfleet");
    let (code, stdout, stderr) = run(&[
        "plan",
        "-c",
        QUICKSTART,
        "--state",
        state.to_str().unwrap(),
        "--refresh=false",
        "--json",
        "--out",
        plan_file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let planned: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let (code, shown, _) = run(&["show", plan_file.to_str().unwrap(), "--json"]);
    assert_eq!(code, 0);
    let shown: serde_json::Value = serde_json::from_str(&shown).unwrap();
    assert_eq!(planned["plan_id"], shown["plan_id"]);
    assert_eq!(planned["changes"], shown["changes"]);
    let (code, markdown, _) = run(&["show", plan_file.to_str().unwrap(), "--format", "markdown"]);
    assert_eq!(code, 0);
    assert!(markdown.starts_with("<!-- pgfleet:plan fleet=quickstart"), "{markdown}");
    let secret = std::fs::read_to_string("tests/fixtures/single-fleet/quickstart.password").unwrap();
    let saved = std::fs::read_to_string(&plan_file).unwrap();
    assert!(!saved.contains(secret.trim()), "the saved plan holds the password");
}

#[test]
fn plan_on_github_actions_appends_to_the_step_summary() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_in(&dir);
    let summary = dir.path().join("summary.md");
    let output = pgfleet()
        .env("GITHUB_STEP_SUMMARY", &summary)
        .args(["plan", "-c", QUICKSTART, "--state", state.to_str().unwrap(), "--refresh=false"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let text = std::fs::read_to_string(&summary).unwrap();
    assert!(text.starts_with("<!-- pgfleet:plan fleet=quickstart"), "{text}");
    assert!(text.contains("4 to create"), "{text}");
}

/// Rewrites qs-main's record: observed at `observed_gb`, applied with `configured_gb`.
fn record_qs_main_storage(state: &Path, observed_gb: u32, configured_gb: u32) {
    let mut current = pgfleet::state::read_state(state).unwrap();
    let record = current.servers.get_mut(&ServerName::from("qs-main")).unwrap();
    record.observed.spec.storage_gb = observed_gb;
    record.configured_storage_gb = Some(configured_gb);
    StateStore::open(state, "quickstart", "test").unwrap().write(current).unwrap();
}

#[test]
fn storage_a_refresh_recorded_after_auto_growth_is_not_a_shrink() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_in(&dir);
    write_state(&state, &[]);
    // Applied at the configured 50 GB; auto-grew to 80 GB, which a refresh recorded.
    record_qs_main_storage(&state, 80, 50);
    let state = state.to_str().unwrap();
    let (code, stdout, stderr) =
        run(&["plan", "-c", QUICKSTART, "--state", state, "--refresh=false", "--detailed-exitcode"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("storage auto-grew to 80 GB, above the configured 50 GB"), "{stdout}");
}

#[test]
fn storage_configured_below_what_was_applied_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_in(&dir);
    write_state(&state, &[]);
    // Applied at 80 GB; the fleet file now says 50 GB.
    record_qs_main_storage(&state, 80, 80);
    let (code, stdout, stderr) =
        run(&["plan", "-c", QUICKSTART, "--state", state.to_str().unwrap(), "--refresh=false"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("storage_gb was lowered from 80 GB"), "{stdout}");
    assert!(stdout.contains("hint: set storage_gb = 80 or more"), "{stdout}");
}

/// A new fleet: the first replica's primary turns replication support on before anything uses
/// it, which no format counts as a restart.
#[test]
fn a_new_fleet_restarts_nothing_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_in(&dir);
    let state = state.to_str().unwrap();
    let base = ["plan", "-c", QUICKSTART, "--state", state, "--refresh=false"];
    let (_, human, _) = run(&base);
    assert!(human.starts_with("quickstart: no restarts · no data loss"), "{human}");
    let (_, json, _) = run(&[&base[..], &["--json"]].concat());
    let document: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(document["summary"]["restarts"], 0);
    assert!(
        document["changes"].as_array().unwrap().iter().all(|change| change["impact"]["restart"] == false)
    );
    let (_, markdown, _) = run(&[&base[..], &["--format", "markdown"]].concat());
    assert!(markdown.contains(": online changes only"), "{markdown}");
    assert!(!markdown.contains("[!WARNING]") && !markdown.contains("🔁 restart"), "{markdown}");
}

/// A mistyped option is an error (1), never "changes present" (2); `version` and `--version`
/// succeed; a reader that stops early (`completions bash | head -1`) ends the output quietly.
#[test]
fn usage_errors_exit_1_version_exits_0_and_a_closed_pipe_is_no_panic() {
    let typo = pgfleet().args(["plan", "--detaled-exitcode"]).output().unwrap();
    assert_eq!(typo.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&typo.stderr);
    assert!(stderr.contains("a similar argument exists: '--detailed-exitcode'"), "{stderr}");
    assert_eq!(pgfleet().arg("nosuchcommand").output().unwrap().status.code(), Some(1));
    for args in [&["version"][..], &["--version"][..]] {
        let output = pgfleet().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&output.stdout).trim(),
            format!("pgfleet {}", env!("CARGO_PKG_VERSION"))
        );
    }
    assert_eq!(pgfleet().arg("--help").output().unwrap().status.code(), Some(0));

    // Its stdout is a pipe whose reader is already gone: every write meets EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_pgfleet"))
        .args(["completions", "bash"])
        .stdout(writer)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!String::from_utf8_lossy(&output.stderr).contains("panicked"));
}

/// `pgfleet graph` prints the plan's changes and their order as Graphviz DOT: a node per
/// change, an edge from the change that goes first, labelled with why; a saved plan too.
#[test]
fn graph_prints_the_change_graph_as_dot() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_in(&dir);
    let state = state.to_str().unwrap();
    let (code, dot, stderr) = run(&["graph", "-c", QUICKSTART, "--state", state, "--refresh=false"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(dot.starts_with("digraph \"pgfleet plan: quickstart\" {\n"), "{dot}");
    assert!(dot.ends_with("}\n"), "{dot}");
    for node in ["create:qs-basic", "create:qs-main", "create:qs-ro-1", "create:qs-ro-2"] {
        assert!(dot.contains(&format!("  \"{node}\" [label = \"create servers.")), "{node}: {dot}");
    }
    assert!(
        dot.contains(
            "  \"create:qs-main\" -> \"create:qs-ro-1\" [label = \"a replica is created after its primary: qs-main must exist first\"];"
        ),
        "{dot}"
    );
    let edges = dot.lines().filter(|line| line.contains(" -> ")).count();
    assert_eq!(edges, 5, "{dot}");
    let plan = dir.path().join("plan.pgfleet");
    let (code, _, _) = run(&[
        "plan",
        "-c",
        QUICKSTART,
        "--state",
        state,
        "--refresh=false",
        "--out",
        plan.to_str().unwrap(),
    ]);
    assert_eq!(code, 0);
    let (code, saved, _) = run(&["graph", plan.to_str().unwrap()]);
    assert_eq!((code, saved), (0, dot));
}

/// `plan --target` (repeatable, a name or an address) keeps the targeted servers' changes and
/// those they depend on (a replica's primary created first), says the plan is targeted, and
/// refuses a server neither the file nor the state has.
#[test]
fn target_limits_the_plan_to_a_server_and_what_it_depends_on() {
    let dir = tempfile::tempdir().unwrap();
    let state = state_in(&dir);
    let state = state.to_str().unwrap();
    let plan_of = |targets: &[&str]| {
        let mut args = vec!["plan", "-c", QUICKSTART, "--state", state, "--refresh=false", "--json"];
        for target in targets {
            args.extend(["--target", target]);
        }
        let (code, stdout, stderr) = run(&args);
        assert_eq!(code, 0, "{stderr}");
        (serde_json::from_str::<serde_json::Value>(&stdout).unwrap(), stderr)
    };
    let ids = |plan: &serde_json::Value| -> Vec<String> {
        plan["changes"].as_array().unwrap().iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
    };
    let (plan, stderr) = plan_of(&["qs-ro-1"]);
    assert_eq!(ids(&plan), ["create:qs-main", "replication:qs-main", "create:qs-ro-1"], "{plan:#}");
    assert_eq!(plan["summary"]["create"], 2);
    assert!(
        stderr.contains("warning: targeting is in effect: this plan covers only servers.qs-ro-1"),
        "{stderr}"
    );
    let note = plan["notes"][0]["message"].as_str().unwrap();
    assert!(note.starts_with("this plan is targeted (--target servers.qs-ro-1)"), "{note}");
    assert!(note.contains("servers.qs-main included because the targeted changes depend on it"), "{note}");
    let (plan, _) = plan_of(&["servers.qs-basic", "qs-main"]);
    assert_eq!(ids(&plan), ["create:qs-basic", "create:qs-main", "replication:qs-main"], "{plan:#}");
    let (code, stdout, stderr) =
        run(&["plan", "-c", QUICKSTART, "--state", state, "--refresh=false", "--target", "qs-mian"]);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(
        stderr.contains(
            "--target qs-mian: neither the fleet file nor the state has a server qs-mian\nhint: did you mean servers.qs-main?"
        ),
        "{stderr}"
    );
}
