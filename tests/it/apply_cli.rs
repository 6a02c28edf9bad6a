//! `pgfleet apply` as a user runs it against real PostgreSQL (local provider): confirmation,
//! saved plans that are refused once stale (fleet file, state, live servers), and `--json`
//! event lines.

use pgfleet::model::ServerName;
use pgfleet::providers::local::{LocalProvider, LocalProviderOptions, find_pg_bindir};
use pgfleet::providers::{CreateRequest, Provider};
use pgfleet::secret::Redacted;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

const PASSWORD: &str = "Apply-Cli-Test-Password-1";

/// A fleet of one Basic server in a temporary directory; dropping it stops every cluster.
struct Fleet {
    dir: tempfile::TempDir,
    port_base: u16,
}

impl Fleet {
    fn new(port_base: u16) -> Fleet {
        let fleet = Fleet { dir: tempfile::tempdir().unwrap(), port_base };
        std::fs::write(fleet.path("password"), PASSWORD).unwrap();
        fleet.write(1);
        fleet
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes the fleet file with `vcores` on its one Basic server.
    fn write(&self, vcores: u32) {
        let text = format!(
            "[fleet]\nname = \"applytest\"\n[provider]\nkind = \"local\"\n[provider.local]\nroot = {root:?}\n\
             port_base = {port}\n[defaults]\nversion = \"11\"\nadmin_login = \"fleetadmin\"\n\
             admin_password = {{ file = \"password\" }}\n[servers.one-basic]\ntier = \"Basic\"\n\
             vcores = {vcores}\nstorage_gb = 10\n",
            root = self.path("local").display().to_string(),
            port = self.port_base,
        );
        std::fs::write(self.path("fleet.toml"), text).unwrap();
    }

    fn run(&self, args: &[&str]) -> Output {
        let config = self.path("fleet.toml");
        let state = self.path("state.json");
        Command::new(env!("CARGO_BIN_EXE_pgfleet"))
            .args(args)
            .args(["-c", config.to_str().unwrap(), "--state", state.to_str().unwrap()])
            .env("NO_COLOR", "1")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITHUB_STEP_SUMMARY")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn provider(&self) -> LocalProvider {
        let settings = pgfleet::config::LocalSettings { root: self.path("local"), port_base: self.port_base };
        LocalProvider::new(LocalProviderOptions::from_settings(&settings, "applytest")).unwrap()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        if let Ok(bindir) = find_pg_bindir() {
            LocalProvider::stop_all_blocking(&self.path("local"), &bindir);
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_stale(output: &Output, reason: &str) {
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("plan is stale"), "{stderr}");
    assert!(stderr.contains(reason), "{stderr}");
}

fn clusters(root: &Path) -> usize {
    std::fs::read_dir(root.join("applytest")).map(|entries| entries.count()).unwrap_or(0)
}

#[test]
fn apply_off_a_terminal_needs_auto_approve_and_changes_nothing() {
    let fleet = Fleet::new(56900);
    let output = fleet.run(&["apply"]);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--auto-approve"), "{stderr}");
    assert_eq!(clusters(&fleet.path("local")), 0);
    assert!(!fleet.path("state.json").exists());
}

#[test]
fn a_saved_plan_is_refused_once_the_fleet_file_changed() {
    let fleet = Fleet::new(56910);
    let plan = fleet.path("plan.pgfleet");
    assert_eq!(fleet.run(&["plan", "--out", plan.to_str().unwrap()]).status.code(), Some(0));
    fleet.write(2);
    assert_stale(&fleet.run(&["apply", plan.to_str().unwrap()]), "fleet file");
    assert_eq!(clusters(&fleet.path("local")), 0);
}

#[test]
fn a_saved_plan_is_refused_once_the_state_moved() {
    let fleet = Fleet::new(56920);
    let plan = fleet.path("plan.pgfleet");
    assert_eq!(fleet.run(&["plan", "--out", plan.to_str().unwrap()]).status.code(), Some(0));
    let refresh = fleet.run(&["refresh"]);
    assert_eq!(refresh.status.code(), Some(0), "{}", text(&refresh.stderr));
    assert_stale(&fleet.run(&["apply", plan.to_str().unwrap()]), "state");
    assert_eq!(clusters(&fleet.path("local")), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saved_plan_is_refused_once_a_live_server_changed() {
    let fleet = Fleet::new(56930);
    let plan = fleet.path("plan.pgfleet");
    assert_eq!(fleet.run(&["plan", "--out", plan.to_str().unwrap()]).status.code(), Some(0));
    // Out of band: the server the plan would create now exists.
    let spec =
        pgfleet::config::parse(&fleet.path("fleet.toml"), &std::fs::read(fleet.path("fleet.toml")).unwrap())
            .unwrap()
            .0
            .servers[&ServerName::from("one-basic")]
            .spec
            .clone();
    let request = CreateRequest {
        name: ServerName::from("one-basic"),
        spec,
        admin_password: Some(Redacted::new(PASSWORD.to_string())),
    };
    fleet.provider().create(request).await.unwrap();
    let output = tokio::task::spawn_blocking({
        let plan = plan.clone();
        let fleet_config = fleet.path("fleet.toml");
        let state = fleet.path("state.json");
        move || {
            Command::new(env!("CARGO_BIN_EXE_pgfleet"))
                .args(["apply", plan.to_str().unwrap(), "-c", fleet_config.to_str().unwrap()])
                .args(["--state", state.to_str().unwrap()])
                .env("NO_COLOR", "1")
                .stdin(Stdio::null())
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert_stale(&output, "one-basic");
}

#[test]
fn apply_json_prints_one_event_per_line_and_a_fresh_saved_plan_applies() {
    let fleet = Fleet::new(56940);
    let plan = fleet.path("plan.pgfleet");
    assert_eq!(fleet.run(&["plan", "--out", plan.to_str().unwrap()]).status.code(), Some(0));
    let output = fleet.run(&["apply", plan.to_str().unwrap(), "--json"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let events: Vec<serde_json::Value> =
        text(&output.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    // The plan first (as `plan --json` prints it), the summary last, every time in one form.
    let types: Vec<&str> = events.iter().map(|event| event["type"].as_str().unwrap()).collect();
    assert_eq!(types[..2], ["plan", "step_started"], "{types:?}");
    assert!(types.contains(&"step_succeeded"), "{types:?}");
    assert_eq!(types.last(), Some(&"apply_finished"), "{types:?}");
    for event in &events {
        let time = event["@timestamp"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(time).is_ok() && time.ends_with('Z'), "{event}");
    }
    assert_eq!(events[0]["plan"]["changes"][0]["address"], "servers.one-basic");
    assert_eq!(events[0]["plan"]["summary"]["create"], 1);
    assert_eq!(events[1]["address"], "servers.one-basic");
    assert_eq!(events.last().unwrap()["summary"]["created"], 1);
    assert!(!text(&output.stdout).contains(PASSWORD) && !text(&output.stderr).contains(PASSWORD));
    // The server exists, is recorded, and a new plan has nothing to do.
    let again = fleet.run(&["plan", "--detailed-exitcode"]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again.stdout));
    // Nothing to apply: the plan, what the refresh measured, then a summary of nothing.
    let nothing = fleet.run(&["apply", "--auto-approve", "--json"]);
    let events: Vec<serde_json::Value> =
        text(&nothing.stdout).lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let types: Vec<&str> = events.iter().map(|event| event["type"].as_str().unwrap()).collect();
    assert_eq!((types.first(), types.last()), (Some(&"plan"), Some(&"apply_finished")), "{types:?}");
    assert!(types[1..types.len() - 1].iter().all(|kind| *kind == "storage_usage"), "{types:?}");
    assert_eq!(events.last().unwrap()["summary"]["created"], 0);
    let state = std::fs::read_to_string(fleet.path("state.json")).unwrap();
    assert!(state.contains("one-basic") && !state.contains(PASSWORD));
    // The port is the first free one from port_base (another test may hold 56940 right now).
    let recorded: serde_json::Value = serde_json::from_str(&state).unwrap();
    let port = recorded["servers"]["one-basic"]["endpoint"]["port"]
        .as_u64()
        .unwrap_or_else(|| panic!("a recorded port: {recorded:#}"));
    assert!((56940..56950).contains(&port), "{port}");
    let endpoint = fleet.run(&["endpoint", "one-basic"]);
    assert_eq!(text(&endpoint.stdout).trim(), format!("postgresql://fleetadmin@127.0.0.1:{port}/postgres"));
}
