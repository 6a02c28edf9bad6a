//! `pgfleet fmt [FILE…] [--check]` as a user runs it: the canonical layout (keys in the model's
//! order, comments kept, one blank line between tables), the names of the files it changed,
//! `--check` writing nothing and exiting 1, a file that is not TOML left alone, and every
//! example already formatted.

use assert_cmd::Command;
use std::path::Path;

fn pgfleet() -> Command {
    let mut command = Command::cargo_bin("pgfleet").unwrap();
    command.current_dir(env!("CARGO_MANIFEST_DIR")).env("NO_COLOR", "1").env_remove("PGFLEET_CONFIG");
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

const MESSY: &str = "# The payments fleet.\n\n[servers.pay-main]\n  vcores=8   # busy at noon\ntier = \"GeneralPurpose\"\n\n\n\
                     [defaults]\nadmin_password = { env = \"PGFLEET_ADMIN_PASSWORD\" }\nadmin_login = \"fleetadmin\"\n\
                     version = \"11\"\nstorage_gb = 100\n[provider]\nkind = \"local\"\n[fleet]\nname = \"payments\"\n";

const FORMATTED: &str = "# The payments fleet.\n\n[fleet]\nname = \"payments\"\n\n[provider]\nkind = \"local\"\n\n\
                         [defaults]\nstorage_gb = 100\nversion = \"11\"\nadmin_login = \"fleetadmin\"\n\
                         admin_password = { env = \"PGFLEET_ADMIN_PASSWORD\" }\n\n[servers.pay-main]\n\
                         tier = \"GeneralPurpose\"\nvcores = 8 # busy at noon\n";

#[test]
fn fmt_rewrites_in_the_canonical_layout_and_check_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("fleet.toml");
    let name = file.to_str().unwrap();
    std::fs::write(&file, MESSY).unwrap();
    let (code, _, before) = run(&["validate", "-c", name]);
    assert_eq!(code, 0, "{before}");

    let (code, stdout, stderr) = run(&["fmt", "--check", "-c", name]);
    assert_eq!((code, stdout.as_str()), (1, format!("{name}\n").as_str()), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), MESSY, "--check writes nothing");

    let (code, stdout, stderr) = run(&["fmt", name]);
    assert_eq!((code, stdout), (0, format!("{name}\n")), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), FORMATTED);
    let (_, _, validated) = run(&["validate", "-c", name]);
    assert_eq!(validated, before, "the same fleet");
    assert!(
        validated.ends_with("is valid: fleet \"payments\", 1 server (1 GeneralPurpose), provider local\n")
    );

    // Formatted already: nothing printed, nothing written, --check passes.
    assert_eq!(run(&["fmt", name]), (0, String::new(), String::new()));
    assert_eq!(run(&["fmt", "--check", name]), (0, String::new(), String::new()));
}

#[test]
fn fmt_leaves_a_file_that_is_not_toml_alone() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("broken.toml");
    std::fs::write(&file, "[fleet\nname = \"x\"\n").unwrap();
    let (code, stdout, stderr) = run(&["fmt", file.to_str().unwrap()]);
    assert_eq!((code, stdout.as_str()), (1, ""), "{stderr}");
    assert!(stderr.contains("broken.toml is not TOML, so it was not formatted"), "{stderr}");
    assert!(stderr.contains("line 1"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "[fleet\nname = \"x\"\n");
}

#[test]
fn every_example_is_formatted() {
    let mut examples: Vec<String> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|extension| extension == "toml"))
        .map(|path| format!("examples/{}", path.file_name().unwrap().to_string_lossy()))
        .collect();
    examples.sort();
    assert!(examples.len() >= 4, "{examples:?}");
    let mut args = vec!["fmt", "--check"];
    args.extend(examples.iter().map(String::as_str));
    assert_eq!(run(&args), (0, String::new(), String::new()));
}
