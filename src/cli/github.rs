//! GitHub Actions integration of the CLI: on Actions (`GITHUB_ACTIONS=true`) validation
//! problems are also printed as workflow annotations, and when `GITHUB_STEP_SUMMARY` names a
//! file the Markdown plan is appended to it. The formatting lives in `plan::render::github`;
//! this file only decides when, converts, and writes.

use super::Printer;
use crate::config::{Diagnostic, Severity};
use crate::plan::Plan;
use crate::plan::render::{self, github};
use std::path::{Path, PathBuf};

/// Whether pgfleet runs as a GitHub Actions step.
pub(crate) fn on_actions() -> bool {
    std::env::var("GITHUB_ACTIONS").is_ok_and(|value| value == "true")
}

/// Prints the diagnostics as workflow annotations when running on GitHub Actions. The runner
/// reads workflow commands from the step's stderr as well as its stdout; stderr keeps them out
/// of data a workflow captures (`plan --format markdown > plan.md`, `plan --json`).
pub(crate) fn annotate(diagnostics: &[Diagnostic], printer: &Printer) {
    if !on_actions() || diagnostics.is_empty() {
        return;
    }
    let workspace = std::env::var_os("GITHUB_WORKSPACE").map(PathBuf::from);
    let items: Vec<github::Annotation> =
        diagnostics.iter().map(|diagnostic| annotation(diagnostic, workspace.as_deref())).collect();
    printer.stderr_raw(&github::annotations(&items));
}

/// Converts one diagnostic: the title is the key path, the message carries the hint.
pub(crate) fn annotation(diagnostic: &Diagnostic, workspace: Option<&Path>) -> github::Annotation {
    let level = match diagnostic.severity {
        Severity::Error => github::AnnotationLevel::Error,
        Severity::Warning => github::AnnotationLevel::Warning,
    };
    let file = workspace
        .and_then(|root| diagnostic.file.strip_prefix(root).ok())
        .unwrap_or(&diagnostic.file)
        .display()
        .to_string();
    let mut message = diagnostic.message.clone();
    if let Some(hint) = &diagnostic.hint {
        message.push_str("\nhint: ");
        message.push_str(hint);
    }
    let title = if diagnostic.path.is_empty() {
        "pgfleet".to_string()
    } else {
        format!("pgfleet: {}", diagnostic.path)
    };
    github::Annotation {
        level,
        file,
        line: diagnostic.line,
        column: diagnostic.column,
        end_line: Some(diagnostic.end_line),
        end_column: Some(diagnostic.end_column),
        title,
        message,
    }
}

/// The GitHub Actions run this is, from its environment (empty outside Actions).
pub(crate) fn run() -> render::Run {
    let var = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    if var("GITHUB_ACTIONS").as_deref() != Some("true") {
        return render::Run::default();
    }
    let url = match (var("GITHUB_SERVER_URL"), var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
        (Some(server), Some(repository), Some(run)) => {
            Some(format!("{}/{repository}/actions/runs/{run}", server.trim_end_matches('/')))
        }
        _ => None,
    };
    render::Run { commit: var("GITHUB_SHA"), url }
}

/// Whether plans go to a job summary (`$GITHUB_STEP_SUMMARY` is set).
pub(crate) fn wants_step_summary() -> bool {
    std::env::var_os("GITHUB_STEP_SUMMARY").is_some_and(|value| !value.is_empty())
}

/// Appends the Markdown plan to `$GITHUB_STEP_SUMMARY` when it is set (1 MiB budget, degraded
/// like a comment when larger). A failure to write is a warning: the plan itself was printed.
pub(crate) fn step_summary(plan: &Plan, plan_id: &str, printer: &Printer) {
    let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|value| !value.is_empty()) else {
        return;
    };
    let markdown = render::markdown_in_run(plan, plan_id, render::STEP_SUMMARY_BUDGET, &run());
    if let Err(error) = github::append_step_summary(Path::new(&path), &markdown) {
        printer.warn(&format!(
            "could not append the plan to the job summary {}: {error}",
            Path::new(&path).display()
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diagnostic_becomes_an_annotation_relative_to_the_workspace() {
        let diagnostic = Diagnostic {
            severity: Severity::Error,
            file: PathBuf::from("/repo/fleets/prod.toml"),
            line: 12,
            column: 3,
            end_line: 12,
            end_column: 9,
            path: "servers.pay-ro-1.vcores".into(),
            message: "the replica has 4 vCores, fewer than its primary pay-main (8)".into(),
            hint: Some("raise it to 8 or more".into()),
            rule: None,
        };
        let annotation = annotation(&diagnostic, Some(Path::new("/repo")));
        assert_eq!(annotation.file, "fleets/prod.toml");
        assert_eq!(annotation.level, github::AnnotationLevel::Error);
        assert_eq!(annotation.title, "pgfleet: servers.pay-ro-1.vcores");
        let line = github::annotations(&[annotation]);
        assert_eq!(
            line,
            "::error file=fleets/prod.toml,line=12,col=3,endLine=12,endColumn=9,title=pgfleet%3A servers.pay-ro-1.vcores::the replica has 4 vCores, fewer than its primary pay-main (8)%0Ahint: raise it to 8 or more\n"
        );
    }
}
