//! Tests of the Markdown rendering as GitHub shows it: snapshots of every scenario, code blocks
//! free of HTML escapes, diff markers at column 0, fences longer than the content's backticks.

use super::fixtures;
use super::{COMMENT_BUDGET, markdown};

/// The lines inside code blocks, with each block's info string.
fn code_blocks(text: &str) -> Vec<(String, Vec<String>)> {
    let mut blocks = Vec::new();
    let mut open: Option<(usize, String, Vec<String>)> = None;
    for line in text.lines() {
        let ticks = line.chars().take_while(|&c| c == '`').count();
        match open.take() {
            Some((fence, info, lines)) if ticks >= fence && line.trim_end().chars().all(|c| c == '`') => {
                blocks.push((info, lines));
            }
            Some((fence, info, mut lines)) => {
                lines.push(line.to_string());
                open = Some((fence, info, lines));
            }
            None if ticks >= 3 => open = Some((ticks, line[ticks..].to_string(), Vec::new())),
            None => {}
        }
    }
    assert!(open.is_none(), "unclosed fence");
    blocks
}

#[test]
fn snapshots() {
    for (name, plan) in fixtures::all() {
        insta::assert_snapshot!(
            format!("markdown_{name}"),
            markdown(&plan, "sha256:0123abcd", COMMENT_BUDGET)
        );
    }
}

#[test]
fn code_blocks_hold_raw_text_and_diff_markers_at_column_0() {
    let mut plan = fixtures::online_only();
    plan.changes[0].attributes.push(fixtures::attribute(
        "tags.note",
        serde_json::json!("a < b && c > d\n+1 `tick` ```fence```"),
        serde_json::json!("a < b && c > d\n+2 `tick` ```fence```"),
    ));
    plan.changes[0].attributes.push(fixtures::attribute(
        "tags.owner",
        serde_json::json!(null),
        "<team>".into(),
    ));
    let text = markdown(&plan, "sha256:0123abcd", COMMENT_BUDGET);
    let blocks = code_blocks(&text);
    let diffs: Vec<&Vec<String>> =
        blocks.iter().filter(|(info, _)| info == "diff").map(|(_, lines)| lines).collect();
    assert_eq!(diffs.len(), 2, "{text}");
    for lines in &diffs {
        for line in lines.iter() {
            for escape in ["&lt;", "&gt;", "&amp;", "&#43;", "&#"] {
                assert!(!line.contains(escape), "HTML escape {escape} in code block: {line}");
            }
            let marker = line.chars().next().unwrap();
            assert!(
                ['+', '-', '!', ' '].contains(&marker),
                "diff line without a marker at column 0: {line:?}"
            );
        }
    }
    let ledger = diffs.iter().find(|lines| lines.iter().any(|line| line.contains("tags.note"))).unwrap();
    assert!(ledger.contains(&"! backup_retention_days: 7 → 14".to_string()), "{ledger:?}");
    assert!(ledger.contains(&"+ tags.owner: \"<team>\"".to_string()), "{ledger:?}");
    assert!(ledger.contains(&"-   +1 `tick` ```fence```".to_string()), "{ledger:?}");
    assert!(ledger.contains(&"+   +2 `tick` ```fence```".to_string()), "{ledger:?}");
    assert!(text.contains("````diff\n"), "the fence is longer than the content's ``` runs");
    let reports = diffs.iter().find(|lines| lines.iter().any(|line| line.contains("storage_gb"))).unwrap();
    assert!(reports.contains(&"! storage_gb: 256 → 512  # cannot be undone".to_string()), "{reports:?}");
}

#[test]
fn marker_line_comes_first() {
    for (name, plan) in fixtures::all() {
        let text = markdown(&plan, "sha256:0123abcd", COMMENT_BUDGET);
        assert!(text.starts_with("<!-- pgfleet:plan fleet=payments -->\n"), "{name}");
        // Applying is offered only for a plan that can be applied.
        let applicable = plan.has_changes() && plan.blocked.is_empty() && plan.refused.is_empty();
        assert_eq!(text.contains("`pgfleet apply PLANFILE`"), applicable, "{name}");
        if !plan.blocked.is_empty() || !plan.refused.is_empty() {
            assert!(text.contains("this plan cannot be applied"), "{name}");
        }
        assert!(text.contains("`sha256:0123abcd`"), "{name}");
    }
}

#[test]
fn marker_cannot_be_closed_by_the_fleet_name() {
    let mut plan = fixtures::no_changes();
    plan.fleet = "pay --> <b>ü".into();
    let text = markdown(&plan, "id", COMMENT_BUDGET);
    assert!(text.starts_with("<!-- pgfleet:plan fleet=pay%20--%3E%20%3Cb%3E%C3%BC -->\n"), "{text}");
    assert!(text.contains("### 🟢 pgfleet plan — `pay --> <b>ü`: no changes"), "{text}");
}

#[test]
fn alerts_follow_the_risks() {
    let restarts = markdown(&fixtures::restarts_with_replicas(), "id", COMMENT_BUDGET);
    assert!(restarts.contains("> [!WARNING]\n> 3 servers restart during apply"), "{restarts}");
    assert!(!restarts.contains("[!CAUTION]"));
    let migration = markdown(&fixtures::basic_to_general_purpose(), "id", COMMENT_BUDGET);
    assert!(migration.contains("> [!CAUTION]\n> 1 data migration by dump/restore"), "{migration}");
    let blocked = markdown(&fixtures::blocked_delete(), "id", COMMENT_BUDGET);
    assert!(blocked.contains("> [!CAUTION]\n> 1 change blocked"), "{blocked}");
    let drift = markdown(&fixtures::drift(), "id", COMMENT_BUDGET);
    assert!(drift.contains("> [!NOTE]\n> 2 attributes changed outside pgfleet on 2 servers"), "{drift}");
    let online = markdown(&fixtures::online_only(), "id", COMMENT_BUDGET);
    assert!(!online.contains("> [!"), "{online}");
    assert!(online.contains("### 🔵 pgfleet plan — `payments`: online changes only"));
}

#[test]
fn example_workflow_finds_the_comment_by_the_marker_and_gates_on_the_exit_codes() {
    let workflow =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/github-workflow.yml"))
            .unwrap();
    let text = markdown(&fixtures::no_changes(), "id", COMMENT_BUDGET);
    let prefix = "<!-- pgfleet:plan ";
    assert!(text.starts_with(prefix));
    assert!(workflow.contains(&format!("marker.startsWith('{prefix}')")), "the workflow checks the marker");
    assert!(workflow.contains("pgfleet plan --format markdown --out plan.pgfleet --detailed-exitcode"));
    assert!(workflow.contains("exit-code == '2'") && workflow.contains("3) echo"));
    assert!(workflow.contains("pgfleet apply plan/plan.pgfleet"));
}

/// A plan whose user-supplied text (tag keys and values, and so reasons, drift messages and
/// notes) holds line breaks, carriage returns, fences and HTML: every degradation step keeps
/// each block whole, the only code blocks are the diff blocks, and every diff line starts with
/// its marker.
fn hostile() -> crate::plan::Plan {
    let mut plan = fixtures::drift();
    let key = "tags.note\n```\n</details>\r# heading";
    let value = "line one\r\n```\n<details>\rline\rtwo\n- item";
    plan.changes[0].attributes.push(fixtures::attribute(key, serde_json::json!("a\nb"), value.into()));
    plan.changes[0].attributes.push(fixtures::attribute("tags.cr", "x\ry".into(), "x\rz".into()));
    plan.changes[0].reason = format!("in-place changes: {key} a\nb → {value}");
    plan.changes[0].ordering.push(crate::plan::Ordering {
        after: "create:pay-ro-2".into(),
        reason: "because\n```\nof this".into(),
    });
    plan.changes[0].steps = vec!["first\n```".into(), "> second\r\nthird".into()];
    plan.drift[1].message = format!("changed outside pgfleet: reports {key} (none) → {value}");
    plan.drift[1].path = key.into();
    plan.notes.push(crate::plan::Note { address: None, message: "note\n```\n<b>".into() });
    plan.refused.push(crate::plan::Refusal {
        address: "servers.reports".parse().unwrap(),
        server: crate::model::ServerName::new("reports"),
        rule: None,
        path: crate::rules::Key::Tags,
        reason: "no\n```".into(),
        hint: "|\n> [!NOTE]".into(),
    });
    plan
}

#[test]
fn user_text_cannot_break_blocks_or_diff_markers_at_any_step() {
    use super::budget::{Level, render_level, tests::assert_balanced};
    let plan = hostile();
    let groups = super::server_groups(&plan);
    for level in Level::ALL {
        let text = render_level(
            &plan,
            &groups,
            "sha256:0123abcd",
            level,
            COMMENT_BUDGET,
            &super::markdown::Run::default(),
        );
        let context = format!("{level:?}");
        assert!(!text.contains('\r'), "{context}: a carriage return ends a Markdown line\n{text}");
        assert_balanced(&text, &context);
        for (info, lines) in code_blocks(&text) {
            if info == "mermaid" {
                // The graph holds change ids only: generated names, never fleet-file text.
                for line in lines {
                    assert!(line == "flowchart LR" || line.starts_with("  c"), "{context}: {line:?}\n{text}");
                }
                continue;
            }
            assert_eq!(info, "diff", "{context}: a code block the renderer did not open\n{text}");
            for line in lines {
                let marker = line.chars().next().unwrap_or(' ');
                assert!(['+', '-', '!', ' '].contains(&marker), "{context}: {line:?}\n{text}");
            }
        }
        assert!(!text.contains("<details>\r") && !text.contains("\n<b>"), "{context}\n{text}");
        // Prose never holds a backtick run that could open a code span (where `&lt;` would show).
        let mut in_code = false;
        for line in text.lines() {
            if line.starts_with("```") {
                in_code = !in_code;
            } else if !in_code {
                assert!(!line.contains("```"), "{context}: a backtick run in prose: {line}");
            }
        }
        // The hostile tag key is in the drift, which every level but the names-only one shows
        // (a refusal's path is a typed key, so it holds no user text).
        if level != Level::NamesOnly {
            assert!(text.contains(r"tags.note \`\`\` &lt;/details&gt; # heading"), "{context}\n{text}");
        }
        assert!(!text.contains("tags.note\n```"), "{context}\n{text}");
        assert_eq!(text.matches("<details>").count(), text.matches("</details>").count(), "{context}");
    }
}
