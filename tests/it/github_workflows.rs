//! The GitHub files users copy: examples/github-workflow.yml, examples/github-workflow-schedule.yml
//! and the composite action.yml at the repository root. Each must parse as YAML and do what the
//! README promises: install pgfleet from a pinned tag with `cargo install --locked`, cached under
//! that tag; pass the admin password secret; replace the sticky comment with the error when the
//! plan fails; allow deletes through the `pgfleet:allow-delete` label; apply the saved plan after
//! merge. GitHub's own schema is not checked here; what a user relies on is.

use yaml_rust2::{Yaml, YamlLoader};

fn load(path: &str) -> Yaml {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
    let mut documents = YamlLoader::load_from_str(&text).unwrap_or_else(|error| panic!("{path}: {error}"));
    assert_eq!(documents.len(), 1, "{path}: one document");
    documents.remove(0)
}

fn text(value: &Yaml) -> &str {
    value.as_str().unwrap_or("")
}

fn steps(job: &Yaml) -> &[Yaml] {
    job["steps"].as_vec().map_or(&[], Vec::as_slice)
}

/// The step whose `name` is `name`.
fn step<'a>(job: &'a Yaml, name: &str) -> &'a Yaml {
    steps(job).iter().find(|step| text(&step["name"]) == name).unwrap_or_else(|| panic!("no step {name:?}"))
}

/// The steps that cache the binary and install it: the cache keyed by the pinned tag, the
/// install (`cargo install --locked --tag`) only on a cache miss.
fn assert_cached_install(job: &Yaml, tag: &str) {
    let cache = step(job, "Cache pgfleet");
    assert!(text(&cache["uses"]).starts_with("actions/cache@"), "{cache:?}");
    assert_eq!(text(&cache["with"]["path"]), "~/.cargo/bin/pgfleet");
    assert!(text(&cache["with"]["key"]).contains(tag), "the cache is keyed by the tag: {cache:?}");
    let install = step(job, "Install pgfleet");
    let run = text(&install["run"]);
    assert!(run.starts_with("cargo install --locked --git ") && run.contains(" --tag "), "{run}");
    assert!(text(&install["if"]).contains("steps.cache.outputs.cache-hit != 'true'"), "{install:?}");
}

#[test]
fn the_pull_request_workflow_plans_comments_allows_deletes_by_label_and_applies_after_merge() {
    let workflow = load("examples/github-workflow.yml");
    // Both events, and a change of labels plans again.
    let pull_request = &workflow["on"]["pull_request"];
    let types: Vec<&str> = pull_request["types"].as_vec().unwrap().iter().map(text).collect();
    assert!(types.contains(&"labeled") && types.contains(&"unlabeled"), "{types:?}");
    assert_eq!(text(&workflow["on"]["push"]["branches"][0]), "main");
    // The pinned tag and the password secret reach every job.
    let env = &workflow["env"];
    assert_eq!(text(&env["PGFLEET_TAG"]), "${{ vars.PGFLEET_TAG }}");
    assert_eq!(text(&env["PGFLEET_ADMIN_PASSWORD"]), "${{ secrets.PGFLEET_ADMIN_PASSWORD }}");

    let plan = &workflow["jobs"]["plan"];
    assert_cached_install(plan, "vars.PGFLEET_TAG");
    let planning = step(plan, "Plan");
    assert!(text(&planning["env"]["ALLOW_DELETE"]).contains("'pgfleet:allow-delete'"), "{planning:?}");
    let run = text(&planning["run"]);
    assert!(run.contains("flags+=(--allow-delete)") && run.contains("\"${flags[@]}\""), "{run}");
    assert!(run.contains("--out plan.pgfleet") && run.contains("> plan.md 2> plan.err"), "{run}");
    assert!(!run.contains("exit 1"), "a failed plan still reaches the comment: {run}");
    // The comment step runs after a failed plan too, and then carries the error.
    let comment = step(plan, "Update the sticky comment");
    assert!(text(&comment["if"]).starts_with("always()"), "{comment:?}");
    let script = text(&comment["with"]["script"]);
    assert!(script.contains("process.env.CODE === '1'") && script.contains("readFileSync('plan.err'"));
    assert!(script.contains("pgfleet plan failed") && script.contains("updateComment"), "{script}");
    let gate = text(&step(plan, "Gate on the plan")["run"]);
    assert!(gate.contains("1) echo") && gate.contains("3) echo"), "{gate}");
    let kept = step(plan, "Keep the saved plan");
    assert_eq!(text(&kept["with"]["name"]), "pgfleet-plan");

    // After merge: the reviewed plan's artifact is applied as it is.
    let apply = &workflow["jobs"]["apply"];
    assert_eq!(text(&apply["if"]), "github.event_name == 'push'");
    assert_cached_install(apply, "vars.PGFLEET_TAG");
    let find = text(&step(apply, "Find the plan of the merged pull request")["run"]);
    assert!(find.contains("--name pgfleet-plan"), "{find}");
    let applied = text(&step(apply, "Apply the reviewed plan")["run"]);
    assert!(applied.contains("pgfleet apply plan/plan.pgfleet --auto-approve"), "{applied}");
}

#[test]
fn the_scheduled_workflow_installs_the_pinned_tag_and_applies_timetables_only() {
    let workflow = load("examples/github-workflow-schedule.yml");
    assert_eq!(text(&workflow["on"]["schedule"][0]["cron"]), "0 * * * *");
    assert_eq!(text(&workflow["env"]["PGFLEET_ADMIN_PASSWORD"]), "${{ secrets.PGFLEET_ADMIN_PASSWORD }}");
    let job = &workflow["jobs"]["apply-timetables"];
    assert_eq!(text(&job["concurrency"]["group"]), "pgfleet-apply", "never beside pull-request applies");
    assert_cached_install(job, "vars.PGFLEET_TAG");
    let run = text(&step(job, "Apply what the timetables say now")["run"]);
    assert!(run.contains("pgfleet plan --out now.pgfleet --json --detailed-exitcode"), "{run}");
    assert!(run.contains("pgfleet apply now.pgfleet --auto-approve"), "{run}");
}

#[test]
fn the_composite_action_installs_plans_and_comments_in_one_step() {
    let action = load("action.yml");
    assert_eq!(text(&action["runs"]["using"]), "composite");
    assert_eq!(action["inputs"]["version"]["required"].as_bool(), Some(true));
    assert_eq!(text(&action["outputs"]["exit-code"]["value"]), "${{ steps.plan.outputs.exit-code }}");
    let runs = &action["runs"];
    assert_cached_install(runs, "inputs.version");
    // A composite action's `run` steps must name their shell.
    for step in steps(runs).iter().filter(|step| !step["run"].is_badvalue()) {
        assert_eq!(text(&step["shell"]), "bash", "{step:?}");
    }
    let plan = step(runs, "Plan");
    let run = text(&plan["run"]);
    assert!(run.contains("pgfleet plan --format markdown --out \"$PLAN_FILE\" --detailed-exitcode"), "{run}");
    assert!(text(&plan["env"]["ALLOW_DELETE"]).contains("'pgfleet:allow-delete'"));
    let comment = step(runs, "Comment");
    assert!(text(&comment["uses"]).starts_with("actions/github-script@"));
    assert!(text(&comment["with"]["script"]).contains("process.env.CODE === '1'"));
    let fail = text(&step(runs, "Fail on an error or a blocked plan")["run"]);
    assert!(fail.contains("0|2) ;;") && fail.contains("exit 1"), "{fail}");
}
