//! `pgfleet validate` as a user runs it: exit 0 and a summary for every example, exit 1 with
//! every error (snapshotted, colour off) for bad files, and no file written either way.

use assert_cmd::Command;
use std::path::Path;

fn pgfleet() -> Command {
    let mut command = Command::cargo_bin("pgfleet").unwrap();
    command.current_dir(env!("CARGO_MANIFEST_DIR")).env("NO_COLOR", "1").env_remove("PGFLEET_CONFIG");
    command
}

fn stderr_of(args: &[&str]) -> (i32, String, String) {
    let output = pgfleet().args(args).output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[test]
fn every_example_is_valid() {
    for (name, summary) in [
        (
            "quickstart",
            "fleet \"quickstart\", 4 servers (1 Basic, 1 Burstable, 2 GeneralPurpose), provider local",
        ),
        ("single-basic", "fleet \"single-basic\", 1 server (1 Basic), provider azure"),
        ("primary-with-replicas", "fleet \"payments\", 3 servers (3 GeneralPurpose), provider azure"),
        (
            "mixed-fleet",
            "fleet \"commerce\", 12 servers (2 Basic, 6 GeneralPurpose, 4 MemoryOptimized), provider azure",
        ),
    ] {
        let file = format!("examples/{name}.toml");
        let (code, stdout, stderr) = stderr_of(&["validate", "-c", &file]);
        assert_eq!(code, 0, "{name}: {stderr}");
        assert_eq!(stderr, format!("{file} is valid: {summary}\n"));
        assert!(stdout.is_empty(), "messages go to stderr");
    }
}

#[test]
fn many_problems_are_all_reported_with_positions() {
    let (code, stdout, stderr) =
        stderr_of(&["validate", "--color", "never", "-c", "tests/fixtures/invalid/many-problems.toml"]);
    assert_eq!(code, 1);
    assert!(stdout.is_empty());
    assert!(!stderr.contains('\u{1b}'), "no colour off a terminal");
    insta::assert_snapshot!("many_problems", stderr);
}

#[test]
fn wrong_types_literal_password_and_unknown_keys() {
    for name in
        ["wrong-types", "literal-password", "unknown-key", "inherited-bad-vcores", "not-utf8", "empty"]
    {
        let file = format!("tests/fixtures/invalid/{name}.toml");
        let (code, _, stderr) = stderr_of(&["validate", "-c", &file]);
        assert_eq!(code, 1, "{name}");
        insta::assert_snapshot!(format!("invalid_{name}"), stderr);
    }
}

#[test]
fn reserved_tags_are_refused_where_each_is_written() {
    let file = "tests/fixtures/invalid/reserved-tags.toml";
    let (code, stdout, stderr) = stderr_of(&["validate", "-c", file]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stdout.is_empty());
    for at in [":12:29", ":21:1", ":28:6"] {
        assert!(stderr.contains(&format!("--> {file}{at}")), "{at}: {stderr}");
    }
    insta::assert_snapshot!("invalid_reserved-tags", stderr);
}

/// `[state]`: names Azure refuses, a literal access key (masked where its line is shown), a
/// misspelt key, a section of another backend (a warning); each at its line and column.
#[test]
fn a_bad_state_section_is_reported_with_positions_and_hints() {
    for name in ["bad-state", "literal-access-key"] {
        let file = format!("tests/fixtures/invalid/{name}.toml");
        let (code, _, stderr) = stderr_of(&["validate", "-c", &file]);
        assert_eq!(code, 1, "{stderr}");
        assert!(!stderr.contains("c2VjcmV0"), "the access key is printed: {stderr}");
        insta::assert_snapshot!(format!("invalid_{name}"), stderr);
    }
}

#[test]
fn a_literal_password_is_masked_where_the_source_line_is_shown() {
    let file = "tests/fixtures/invalid/literal-password.toml";
    let password = std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .find_map(|line| {
            line.strip_prefix("admin_password = \"").map(|rest| rest.trim_end_matches('"').to_string())
        })
        .expect("the fixture writes a literal password");
    for color in ["never", "always"] {
        let (code, stdout, stderr) = stderr_of(&["validate", "-c", file, "--color", color]);
        assert_eq!(code, 1);
        assert!(!stderr.contains(&password) && !stdout.contains(&password), "{stderr}");
        assert!(stderr.contains(&"*".repeat(password.chars().count())), "{stderr}");
    }
    let github = pgfleet().args(["validate", "-c", file]).env("GITHUB_ACTIONS", "true").output().unwrap();
    let all =
        format!("{}{}", String::from_utf8_lossy(&github.stdout), String::from_utf8_lossy(&github.stderr));
    assert!(all.contains("::error") && !all.contains(&password), "{all}");
}

#[test]
fn a_missing_file_is_an_error_with_a_hint() {
    let (code, _, stderr) = stderr_of(&["validate", "-c", "no/such/fleet.toml"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("cannot read the fleet file no/such/fleet.toml"), "{stderr}");
    assert!(stderr.contains("hint: create it"), "{stderr}");
}

#[test]
fn validating_writes_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for name in [
        "examples/quickstart.toml",
        "examples/quickstart.password",
        "tests/fixtures/invalid/many-problems.toml",
    ] {
        std::fs::copy(root.join(name), dir.path().join(Path::new(name).file_name().unwrap())).unwrap();
    }
    let listing = || {
        let mut names: Vec<_> = walk(dir.path());
        names.sort();
        names
    };
    let before = listing();
    for file in ["quickstart.toml", "many-problems.toml"] {
        Command::cargo_bin("pgfleet")
            .unwrap()
            .current_dir(dir.path())
            .args(["validate", "-c", file])
            .output()
            .unwrap();
    }
    assert_eq!(listing(), before);
}

fn walk(dir: &Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            found.push((path.clone(), 0));
            found.extend(walk(&path));
        } else {
            found.push((path, entry.metadata().unwrap().len()));
        }
    }
    found
}

#[test]
fn colour_only_when_asked_for_off_a_terminal() {
    let file = "tests/fixtures/invalid/replica-fewer-vcores.toml";
    let (_, _, plain) = stderr_of(&["validate", "-c", file]);
    assert!(!plain.contains('\u{1b}'), "{plain}");
    let output = Command::cargo_bin("pgfleet")
        .unwrap()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .args(["validate", "--color", "always", "-c", file])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains('\u{1b}'), "colour when forced");
}

#[test]
fn warnings_are_shown_on_a_valid_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(root.join("examples/single-basic.toml"))
        .unwrap()
        .replace("version = \"11\"", "version = \"9.6\"");
    std::fs::write(dir.path().join("retired.toml"), text).unwrap();
    let output = Command::cargo_bin("pgfleet")
        .unwrap()
        .current_dir(dir.path())
        .env("NO_COLOR", "1")
        .args(["validate", "-c", "retired.toml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning: servers.notes-db.version: PostgreSQL 9.6 is retired"), "{stderr}");
    assert!(stderr.contains("retired.toml is valid"), "{stderr}");
}

/// A misspelt required key (`teir`) is reported as the unknown key with its suggestion, not
/// first as a "missing required key `tier`" that is not what is wrong.
#[test]
fn a_typo_of_a_required_key_is_not_also_missing() {
    let file = "tests/fixtures/invalid/typo-of-required.toml";
    let (code, _, stderr) = stderr_of(&["validate", "-c", file]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.starts_with("error: servers.db-main.teir: unknown key `teir`"), "{stderr}");
    assert!(stderr.contains("help: did you mean `tier`?"), "{stderr}");
    assert!(!stderr.contains("missing required key"), "{stderr}");
    assert!(stderr.ends_with("is not valid: 1 error\n"), "{stderr}");
}

/// An error in `[defaults]` is reported once, at `[defaults]`, naming the servers that
/// inherit it; and a duplicate key shows where the key was first set.
#[test]
fn an_error_in_defaults_is_reported_once_and_a_duplicate_names_the_first() {
    let file = "tests/fixtures/invalid/defaults-for-many.toml";
    let (code, _, stderr) = stderr_of(&["validate", "-c", file]);
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    assert!(
        stderr.starts_with(
            "error: defaults.backup_retention_days: 3 days is outside the retention range (inherited by 3 servers: db-one, db-three, db-two)"
        ),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("--> {file}:13:25")), "{stderr}");
    let file = "tests/fixtures/invalid/duplicate-keys.toml";
    let (code, _, stderr) = stderr_of(&["validate", "-c", file]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("error: duplicate key `tier`"), "{stderr}");
    assert!(stderr.contains("help: it is first set on line 8; keep one of them"), "{stderr}");
}
