//! On GitHub Actions, validation problems also become workflow annotations (on stderr, so
//! data on stdout such as `plan --format markdown > plan.md` stays clean).

use assert_cmd::Command;

fn validate_on_actions(file: &str) -> (i32, String) {
    let output = Command::cargo_bin("pgfleet")
        .unwrap()
        .env("GITHUB_ACTIONS", "true")
        .env_remove("GITHUB_WORKSPACE")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("NO_COLOR", "1")
        .args(["validate", "-c", file])
        .output()
        .unwrap();
    assert!(output.stdout.is_empty(), "annotations must not reach stdout");
    (output.status.code().unwrap(), String::from_utf8(output.stderr).unwrap())
}

#[test]
fn errors_become_escaped_annotations() {
    let (code, stdout) = validate_on_actions("tests/fixtures/invalid/replica-fewer-vcores.toml");
    assert_eq!(code, 1);
    let lines: Vec<&str> = stdout.lines().filter(|line| line.starts_with("::")).collect();
    assert!(!lines.is_empty(), "no annotation printed");
    for line in &lines {
        assert!(
            line.starts_with("::error file=tests/fixtures/invalid/replica-fewer-vcores.toml,line="),
            "{line}"
        );
        assert!(line.contains(",title=pgfleet%3A servers."), "{line}");
        assert!(line.contains("%0Ahint: "), "{line}");
    }
}

#[test]
fn many_errors_are_capped_at_ten_with_a_count() {
    let mut fleet = String::from(
        "[fleet]\nname = \"capped\"\n[provider]\nkind = \"local\"\n[defaults]\nversion = \"11\"\n\
         tier = \"GeneralPurpose\"\nstorage_gb = 100\nadmin_login = \"fleetadmin\"\n\
         admin_password = { env = \"PGFLEET_ADMIN_PASSWORD\" }\n",
    );
    for index in 0..15 {
        fleet.push_str(&format!("[servers.server-{index:02}]\nvcores = 3\n"));
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fleet.toml");
    std::fs::write(&path, fleet).unwrap();
    let (code, stdout) = validate_on_actions(path.to_str().unwrap());
    assert_eq!(code, 1);
    let errors: Vec<&str> = stdout.lines().filter(|line| line.starts_with("::error ")).collect();
    assert_eq!(errors.len(), 10, "{stdout}");
    assert!(errors.iter().all(|line| line.contains("vcores")), "{stdout}");
    assert!(stdout.contains("pgfleet: 5 more errors not shown as annotations"), "{stdout}");
}

#[test]
fn valid_files_print_no_annotations() {
    let (code, stderr) = validate_on_actions("examples/quickstart.toml");
    assert_eq!(code, 0);
    assert!(!stderr.contains("::"), "{stderr}");
}

#[test]
fn plan_annotations_stay_out_of_the_markdown_on_stdout() {
    let output = Command::cargo_bin("pgfleet")
        .unwrap()
        .env("GITHUB_ACTIONS", "true")
        .env_remove("GITHUB_WORKSPACE")
        .env_remove("GITHUB_STEP_SUMMARY")
        .env("NO_COLOR", "1")
        .args(["plan", "--format", "markdown", "-c", "tests/fixtures/invalid/replica-fewer-vcores.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty(), "{}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.lines().any(|line| line.starts_with("::error file=")), "{stderr}");
}

/// A plan of a local fleet, as a workflow makes it: the comment names the commit and links to
/// the run, offers `apply PLANFILE` for a plan that can be applied (the Markdown tests check it is
/// not offered otherwise) and draws the apply order.
#[test]
fn the_comment_names_the_commit_and_the_run_and_draws_the_apply_order() {
    let dir = tempfile::tempdir().unwrap();
    let fleet = |servers: &str| {
        format!(
            "[fleet]\nname = \"reviewed\"\n[provider]\nkind = \"local\"\n[defaults]\nversion = \"11\"\n\
             tier = \"GeneralPurpose\"\nstorage_gb = 100\nadmin_login = \"fleetadmin\"\n\
             admin_password = {{ env = \"PGFLEET_ADMIN_PASSWORD\" }}\n{servers}"
        )
    };
    let plan = |file: &str| {
        std::fs::write(dir.path().join("fleet.toml"), file).unwrap();
        let output = Command::cargo_bin("pgfleet")
            .unwrap()
            .current_dir(dir.path())
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567")
            .env("GITHUB_SERVER_URL", "https://github.example")
            .env("GITHUB_REPOSITORY", "infra/fleet")
            .env("GITHUB_RUN_ID", "4242")
            .env_remove("GITHUB_WORKSPACE")
            .env_remove("GITHUB_STEP_SUMMARY")
            .env("NO_COLOR", "1")
            .args([
                "plan",
                "--refresh=false",
                "--format",
                "markdown",
                "-c",
                "fleet.toml",
                "--state",
                "s.json",
            ])
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8(output.stdout).unwrap())
    };
    let (code, markdown) = plan(&fleet(
        "[servers.pay-main]\nvcores = 4\n[servers.pay-ro]\nreplica_of = \"pay-main\"\nvcores = 4\n",
    ));
    assert_eq!(code, Some(0));
    assert!(
        markdown.contains(
            "· commit `0123456789ab` · [workflow run](https://github.example/infra/fleet/actions/runs/4242)"
        ),
        "{markdown}"
    );
    assert!(markdown.contains("`pgfleet apply PLANFILE`"), "{markdown}");
    assert!(markdown.contains("```mermaid\nflowchart LR\n"), "{markdown}");
}
