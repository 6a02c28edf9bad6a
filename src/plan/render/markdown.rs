//! The sections of the Markdown plan (pull-request comments, job summaries): marker, verdict
//! title, alerts, the per-server table, collapsible per-server diffs, apply order, drift,
//! blocked and refused changes, footer. `budget` decides which sections fit.
//!
//! Every section is a self-contained block (fences and `<details>` closed inside it), so a
//! caller can drop whole sections and never cut through one. Code blocks hold text verbatim:
//! never HTML-escaped, each line with its diff marker at column 0 (line breaks and other
//! control characters inside a value or key are shown escaped, `\n`, so they cannot start an
//! unmarked line). Prose outside them is HTML-escaped and kept on one line, so text from the
//! fleet file (tag keys and values reach reasons and drift messages) cannot open a fence, end a
//! `<details>` or a list, or start a block of its own.

use super::{
    AttributeKind, Risk, ServerGroup, action_symbol, counts, format_downtime, format_value, line_diff,
    multiline_pair, plan_risk, plural, restarts, verdict, widest,
};
use crate::plan::{AttributeChange, Change, Plan};
use similar::ChangeTag;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How many names an alert lists before "and N more" (the table lists all).
const ALERT_NAMES: usize = 10;

/// The hidden first line a workflow finds its sticky comment by.
pub(super) fn marker(plan: &Plan) -> String {
    let fleet: String = plan
        .fleet
        .bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || b"._-".contains(&byte) {
                char::from(byte).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect();
    format!("<!-- pgfleet:plan fleet={fleet} -->\n")
}

/// The title (emoji and headline from the worst risk) and the verdict with counts.
pub(super) fn title(plan: &Plan) -> String {
    let risk = plan_risk(plan);
    let (emoji, mut headline) = match risk {
        Risk::None if plan.refused.is_empty() => ("🟢", "no changes".to_string()),
        Risk::None => ("🔴", "changes refused".to_string()),
        Risk::Online => ("🔵", "online changes only".to_string()),
        Risk::Restart => ("🟠", restarts(plan.summary.restarts.max(1))),
        Risk::DataMigration => ("🔴", plural(plan.summary.migrate.max(1), "data migration")),
        Risk::Delete if plan.summary.delete > 0 => {
            ("🔴", format!("deletes {}", plural(plan.summary.delete, "server")))
        }
        Risk::Delete => ("⛔", "delete blocked".to_string()),
    };
    if plan.is_blocked() && risk != Risk::Delete {
        headline.push_str(" — blocked");
    }
    let mut out = format!("### {emoji} pgfleet plan — {}: {headline}\n\n", code_span(&plan.fleet));
    let _ = writeln!(out, "**{}**  \n{}\n", escape(&verdict(plan)), counts(plan));
    out
}

/// GitHub alert blocks: unfinished migrations first, then deletes and migrations (CAUTION),
/// refusals (IMPORTANT), restarts (WARNING) and drift (NOTE).
pub(super) fn alerts(plan: &Plan, groups: &[ServerGroup<'_>]) -> String {
    let mut out = String::new();
    let unfinished: Vec<String> = plan
        .unfinished_migrations
        .iter()
        .map(|migration| format!("**{}**", escape(&migration.message)))
        .collect();
    alert(&mut out, "CAUTION", &unfinished);
    alert(&mut out, "CAUTION", &caution_lines(plan, groups));
    let refused: Vec<String> =
        plan.refused.iter().map(|r| format!("`{}` {}", r.server, escape(r.path.as_str()))).collect();
    if !refused.is_empty() {
        let lines =
            [format!("{} the service cannot make: {}.", plural(refused.len(), "change"), list_of(&refused))];
        alert(&mut out, "IMPORTANT", &lines);
    }
    // Every server with a restarting change, as the summary counts them (a migrated server
    // whose new copy restarts after cutover included), with the restarts' own downtime.
    let restarting: Vec<(&str, Vec<&Change>)> = groups
        .iter()
        .map(|group| {
            let changes = group.changes.iter().copied().filter(|change| change.impact.restart).collect();
            (group.server.as_str(), changes)
        })
        .filter(|(_, changes): &(&str, Vec<&Change>)| !changes.is_empty())
        .collect();
    if !restarting.is_empty() {
        let list: Vec<&str> = restarting.iter().map(|(server, _)| *server).collect();
        let downtime = widest(
            restarting
                .iter()
                .flat_map(|(_, changes)| changes.iter())
                .map(|change| change.impact.downtime_seconds),
        );
        let lines = [format!(
            "{} during apply (downtime {} each): {}.",
            restarts(list.len()),
            format_downtime(downtime),
            names(&list)
        )];
        alert(&mut out, "WARNING", &lines);
    }
    if !plan.drift.is_empty() {
        let servers: std::collections::BTreeSet<&str> =
            plan.drift.iter().map(|drift| drift.server.as_str()).collect();
        let lines = [format!(
            "{} changed outside pgfleet on {} (see Drift).",
            plural(plan.drift.len(), "attribute"),
            plural(servers.len(), "server")
        )];
        alert(&mut out, "NOTE", &lines);
    }
    out
}

/// Deletes, blocked changes and data migrations.
fn caution_lines(plan: &Plan, groups: &[ServerGroup<'_>]) -> Vec<String> {
    let named = |risk: Risk| -> Vec<&str> {
        groups.iter().filter(|group| group.risk == risk).map(|group| group.server.as_str()).collect()
    };
    let mut caution = Vec::new();
    let deleted = named(Risk::Delete);
    if !deleted.is_empty() {
        caution.push(format!(
            "{} deleted, data included: {}.",
            plural(deleted.len(), "server"),
            names(&deleted)
        ));
    }
    let blocked: Vec<&str> = plan.blocked.iter().map(|blocked| blocked.server.as_str()).collect();
    if !blocked.is_empty() {
        caution.push(format!(
            "{} blocked: the plan cannot be applied until allowed: {}.",
            plural(blocked.len(), "change"),
            names(&blocked)
        ));
    }
    let migrating: Vec<&ServerGroup<'_>> =
        groups.iter().filter(|group| group.risk == Risk::DataMigration).collect();
    if !migrating.is_empty() {
        let list: Vec<&str> = migrating.iter().map(|group| group.server.as_str()).collect();
        caution.push(format!(
            "{} by dump/restore to a new server; writes are frozen until cutover ({} each): {}.",
            plural(list.len(), "data migration"),
            format_downtime(widest(migrating.iter().map(|group| group.downtime()))),
            names(&list)
        ));
    }
    for change in &plan.changes {
        if let Some(endpoint) = &change.endpoint {
            caution.push(format!("`{}`: {}.", change.server, escape(&endpoint.message)));
        }
    }
    caution
}

fn alert(out: &mut String, kind: &str, lines: &[String]) {
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "> [!{kind}]");
    for (index, line) in lines.iter().enumerate() {
        if index > 0 {
            out.push_str(">\n");
        }
        let _ = writeln!(out, "> {line}");
    }
    out.push('\n');
}

/// Up to [`ALERT_NAMES`] server names in code spans, then "and N more".
fn names(servers: &[&str]) -> String {
    let quoted: Vec<String> = servers.iter().map(|server| format!("`{server}`")).collect();
    list_of(&quoted)
}

fn list_of(items: &[String]) -> String {
    if items.len() <= ALERT_NAMES {
        return items.join(", ");
    }
    format!("{} and {} more", items[..ALERT_NAMES].join(", "), items.len() - ALERT_NAMES)
}

/// The plan's cost under the verdict: "**Cost:** +$259.88/month · fleet … → …/month".
pub(super) fn cost_line(plan: &Plan) -> String {
    super::cost_summary(plan).map_or_else(String::new, |cost| format!("**Cost:** {}\n\n", escape(&cost)))
}

/// Timetabled servers' months, unknown prices and where the prices come from, as a list.
pub(super) fn cost_details(plan: &Plan) -> String {
    let lines = super::cost_details(plan);
    if lines.is_empty() {
        return String::new();
    }
    let mut out = String::from("**Cost details**\n\n");
    for line in lines {
        let _ = writeln!(out, "- {}", escape(&line));
    }
    out.push('\n');
    out
}

/// The table header; rows come from [`table_row`].
pub(super) const TABLE_HEADER: &str =
    "| server | change | impact | expected downtime | why |\n|---|---|---|---|---|\n";

/// The table header when the plan is priced: a monthly cost column before the reasons.
pub(super) const PRICED_TABLE_HEADER: &str =
    "| server | change | impact | expected downtime | cost / month | why |\n|---|---|---|---|---:|---|\n";

/// The table header for `plan`.
pub(super) fn table_header(plan: &Plan) -> &'static str {
    if plan.cost.is_some() { PRICED_TABLE_HEADER } else { TABLE_HEADER }
}

/// One table row per affected server.
pub(super) fn table_row(group: &ServerGroup<'_>, plan: &Plan) -> String {
    let mut impact = match group.risk {
        Risk::Delete => "🗑️ delete".to_string(),
        Risk::DataMigration => "📦 data migration".to_string(),
        Risk::Restart => "🔁 restart".to_string(),
        Risk::Online | Risk::None => "online".to_string(),
    };
    if group.irreversible() {
        impact.push_str(" · irreversible");
    }
    let why: Vec<&str> = group.changes.iter().map(|change| change.reason.as_str()).collect();
    let cost = super::group_cost(group, plan).map_or_else(String::new, |cost| format!(" {} |", cell(&cost)));
    format!(
        "| `{}` | {} | {impact} | {} |{cost} {} |\n",
        group.server,
        cell(&server_change_summary(group)),
        format_downtime(group.downtime()),
        cell(&why.join("; "))
    )
}

/// What happens to a server: "~ update: vcores; ⇡ promote".
pub(super) fn server_change_summary(group: &ServerGroup<'_>) -> String {
    let changes: Vec<String> = group.changes.iter().map(|change| change_summary(change)).collect();
    changes.join("; ")
}

/// "~ update: vcores, storage_gb".
fn change_summary(change: &Change) -> String {
    const SHOWN: usize = 4;
    let paths: Vec<String> = change.attributes.iter().map(|attribute| attribute.path.to_string()).collect();
    let mut text = format!("{} {}", action_symbol(change.action), change.action.as_str());
    if !paths.is_empty() {
        let _ = write!(text, ": {}", paths.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", "));
        if paths.len() > SHOWN {
            let _ = write!(text, " +{}", paths.len() - SHOWN);
        }
    }
    text
}

/// A collapsible block with the server's diffs, reasons, impacts, ordering and steps.
pub(super) fn server_details(group: &ServerGroup<'_>, plan: &Plan) -> String {
    let mut what: Vec<String> = group
        .changes
        .iter()
        .map(|change| format!("{} {}", action_symbol(change.action), change.action.as_str()))
        .collect();
    if group.changes.iter().all(|change| change.action.as_str() != group.risk.label()) {
        what.push(group.risk.label().to_string());
    }
    let mut out = format!(
        "<details><summary><code>{}</code> — {}</summary>\n\n",
        escape(group.server.as_str()),
        escape(&what.join(" · "))
    );
    for change in &group.changes {
        change_details(&mut out, change, plan);
    }
    out.push_str("</details>\n\n");
    out
}

fn change_details(out: &mut String, change: &Change, plan: &Plan) {
    let _ = writeln!(
        out,
        "**`{}`** · wave {} · {}\n",
        change.id,
        change.wave,
        escape(&super::human::impact_line(change))
    );
    if !change.attributes.is_empty() {
        out.push_str(&diff_block(&change.attributes));
        out.push('\n');
    }
    let _ = writeln!(out, "- why: {}", escape(&change.reason));
    if change.impact.downtime_seconds.max > 0 {
        let _ = writeln!(out, "- downtime basis: {}", escape(&change.impact.downtime_basis));
    }
    if let Some(cost) = super::change_cost(change, plan) {
        let _ = writeln!(out, "- cost: {}", escape(&cost));
    }
    if let Some(endpoint) = &change.endpoint {
        let _ = writeln!(out, "- endpoint: {}", escape(&endpoint.message));
    }
    for edge in &change.ordering {
        let _ = writeln!(out, "- after `{}`: {}", edge.after, escape(&edge.reason));
    }
    if !change.steps.is_empty() {
        out.push_str("- steps:\n");
        for (number, step) in change.steps.iter().enumerate() {
            let _ = writeln!(out, "  {}. {}", number + 1, escape(step));
        }
    }
    out.push('\n');
}

/// A `diff` code block: `+` added, `-` removed, `!` changed, at column 0 so GitHub colours them.
pub(super) fn diff_block(attributes: &[AttributeChange]) -> String {
    let mut body = String::new();
    for attribute in attributes {
        let kind = AttributeKind::of(attribute);
        let name = attribute.path.name();
        let path = code_line(&name);
        if let Some((before, after)) = multiline_pair(attribute) {
            let _ = writeln!(body, "! {path}:");
            for (tag, line) in line_diff(before, after) {
                let mark = match tag {
                    ChangeTag::Delete => '-',
                    ChangeTag::Insert => '+',
                    ChangeTag::Equal => ' ',
                };
                let _ = writeln!(body, "{mark}   {}", code_line(&line));
            }
            continue;
        }
        let _ = match kind {
            AttributeKind::Added => writeln!(body, "+ {path}: {}", format_value(&attribute.after)),
            AttributeKind::Removed => writeln!(body, "- {path}: {}", format_value(&attribute.before)),
            AttributeKind::Changed => writeln!(
                body,
                "! {path}: {} → {}",
                format_value(&attribute.before),
                format_value(&attribute.after)
            ),
            AttributeKind::Irreversible => writeln!(
                body,
                "! {path}: {} → {}  # cannot be undone",
                format_value(&attribute.before),
                format_value(&attribute.after)
            ),
        };
    }
    let fence = "`".repeat(longest_backtick_run(&body).max(2) + 1);
    format!("{fence}diff\n{body}{fence}\n")
}

/// One line of a code block: control characters (a line break or a lone carriage return, which
/// Markdown also reads as a line end) shown escaped, tabs kept. Nothing is HTML-escaped.
fn code_line(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return text.into();
    }
    text.chars()
        .map(|c| match c {
            '\n' => "\\n".to_string(),
            '\r' => "\\r".to_string(),
            c if c.is_control() && c != '\t' => c.escape_unicode().to_string(),
            c => c.to_string(),
        })
        .collect::<String>()
        .into()
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// The apply order: waves, their changes and the reason of every edge.
pub(super) fn apply_order(plan: &Plan) -> String {
    let mut waves: BTreeMap<u32, Vec<&Change>> = BTreeMap::new();
    for change in &plan.changes {
        waves.entry(change.wave).or_default().push(change);
    }
    if waves.is_empty() {
        return String::new();
    }
    let mut out = format!("<details><summary>Apply order: {}</summary>\n\n", plural(waves.len(), "wave"));
    for (wave, changes) in waves {
        let ids: Vec<String> = changes.iter().map(|change| format!("`{}`", change.id)).collect();
        let parallel = if ids.len() > 1 { " (in parallel)" } else { "" };
        let _ = writeln!(out, "{wave}. **wave {wave}**{parallel}: {}", ids.join(", "));
        for change in changes {
            for edge in &change.ordering {
                let _ =
                    writeln!(out, "   - `{}` after `{}`: {}", change.id, edge.after, escape(&edge.reason));
            }
        }
    }
    out.push_str("\n</details>\n\n");
    out
}

/// Drift, collapsed: each attribute with its recorded and live values.
pub(super) fn drift(plan: &Plan) -> String {
    if plan.drift.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "<details><summary>Drift: {} changed outside pgfleet</summary>\n\n",
        plural(plan.drift.len(), "attribute")
    );
    for drift in &plan.drift {
        let _ = writeln!(
            out,
            "- `{}` {}: recorded {}, live {} — {}",
            drift.server,
            escape(&drift.path),
            code_span(&format_value(&drift.recorded)),
            code_span(&format_value(&drift.live)),
            escape(&drift.message)
        );
    }
    out.push_str("\n</details>\n\n");
    out
}

/// Blocked changes with what allows them, refusals with what to do instead, notes.
pub(super) fn blocked_refused_notes(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.blocked.is_empty() {
        out.push_str("#### Blocked\n\n");
        for blocked in &plan.blocked {
            let _ = writeln!(
                out,
                "- **{}** `{}`: {} **Hint:** {}",
                blocked.action.as_str(),
                blocked.server,
                escape(&blocked.reason),
                escape(&blocked.hint)
            );
        }
        out.push('\n');
    }
    if !plan.refused.is_empty() {
        out.push_str("#### Refused\n\n");
        for refusal in &plan.refused {
            let rule = refusal.rule.map(|rule| format!(" (rule `{rule}`)")).unwrap_or_default();
            let _ = writeln!(
                out,
                "- `{}` {}: {} **Hint:** {}{rule}",
                refusal.server,
                escape(refusal.path.as_str()),
                escape(&refusal.reason),
                escape(&refusal.hint)
            );
        }
        out.push('\n');
    }
    if !plan.notes.is_empty() {
        out.push_str("#### Notes\n\n");
        for note in &plan.notes {
            let subject = note.address.as_ref().map(|address| format!("`{address}`: ")).unwrap_or_default();
            let _ = writeln!(out, "- {subject}{}", escape(&note.message));
        }
        out.push('\n');
    }
    out
}

/// The CI run a plan was made in, for the footer: the commit planned and a link to the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Run {
    /// The commit the fleet file was read at (`GITHUB_SHA`).
    pub commit: Option<String>,
    /// The run's page (`GITHUB_SERVER_URL/GITHUB_REPOSITORY/actions/runs/GITHUB_RUN_ID`).
    pub url: Option<String>,
}

/// The plan id, where it was made, and how to apply it — offered only when it can be applied.
pub(super) fn footer(plan: &Plan, plan_id: &str, run: &Run) -> String {
    let mut made = String::new();
    if let Some(commit) = &run.commit {
        let short: String = commit.chars().take(12).collect();
        let _ = write!(made, " · commit {}", code_span(&short));
    }
    if let Some(url) = &run.url {
        let _ = write!(made, " · [workflow run]({})", url.replace(['(', ')', ' '], ""));
    }
    let next = if !plan.refused.is_empty() {
        format!(
            "this plan cannot be applied: the service refuses {}; change the fleet file.",
            plural(plan.refused.len(), "change")
        )
    } else if plan.is_blocked() {
        format!(
            "this plan cannot be applied: {} blocked until allowed (see Blocked).",
            plural(plan.blocked.len(), "change")
        )
    } else if !plan.has_changes() {
        "nothing to apply.".to_string()
    } else {
        "apply exactly this plan with `pgfleet apply PLANFILE` (the file `pgfleet plan --out PLANFILE` saved); \
         it is refused if the fleet file or the servers changed since."
            .to_string()
    };
    format!(
        "---\n<sub>plan {} · fleet {} · pgfleet {} · planned {}{made} · {next}</sub>\n",
        code_span(plan_id),
        code_span(&plan.fleet),
        escape(&plan.inputs.tool_version),
        plan.inputs.created_at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// Blocked and refused changes as table rows, with their reasons, so the table holds everything
/// the verdict counts.
pub(super) fn blocked_refused_rows(plan: &Plan) -> String {
    let mut rows = String::new();
    let priced = plan.cost.is_some();
    let cost = if priced { " — |" } else { "" };
    for blocked in &plan.blocked {
        let _ = writeln!(
            rows,
            "| `{}` | ⛔ {} blocked | not applied | — |{cost} {} |",
            blocked.server,
            blocked.action.as_str(),
            cell(&format!("{} — {}", blocked.reason, blocked.hint))
        );
    }
    for refusal in &plan.refused {
        let _ = writeln!(
            rows,
            "| `{}` | ✖ refused: {} | not possible | — |{cost} {} |",
            refusal.server,
            cell(refusal.path.as_str()),
            cell(&format!("{} — {}", refusal.reason, refusal.hint))
        );
    }
    rows
}

/// The apply order as a Mermaid flowchart (GitHub draws it), collapsed: one node per change,
/// an arrow from each change to those that wait for it.
pub(super) fn apply_graph(plan: &Plan) -> String {
    if plan.changes.len() < 2 {
        return String::new();
    }
    let node: BTreeMap<&str, usize> =
        plan.changes.iter().enumerate().map(|(index, change)| (change.id.as_str(), index)).collect();
    let mut out =
        String::from("<details><summary>Apply order as a graph</summary>\n\n```mermaid\nflowchart LR\n");
    for (index, change) in plan.changes.iter().enumerate() {
        // Ids are KIND:SERVER, server names letters, digits and hyphens: nothing to escape.
        let _ = writeln!(out, "  c{index}[\"{} {}\"]", action_symbol(change.action), change.id);
    }
    for (index, change) in plan.changes.iter().enumerate() {
        for dependency in &change.depends_on {
            if let Some(before) = node.get(dependency.as_str()) {
                let _ = writeln!(out, "  c{before} --> c{index}");
            }
        }
    }
    out.push_str("```\n\n</details>\n\n");
    out
}

/// Escapes prose for Markdown outside code: HTML-significant characters; backticks (and the
/// backslash that escapes them), so fleet-file text cannot open a code span, inside which the
/// HTML escapes would show; and line endings (`\n`, `\r`) turned into spaces, so the text
/// stays inside the line it is placed on.
pub(super) fn escape(text: &str) -> String {
    one_line(text)
        .replace('\\', "\\\\")
        .replace('`', "\\`")
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Line endings as spaces (a code span shows them so anyway; a heading, a table row, a list item
/// or an alert line would end at them).
fn one_line(text: &str) -> String {
    text.replace("\r\n", " ").replace(['\r', '\n'], " ")
}

/// A table cell: escaped (so on one line) and `|` escaped.
fn cell(text: &str) -> String {
    escape(text).replace('|', "\\|")
}

/// An inline code span on one line, whose delimiter is longer than any backtick run inside.
fn code_span(text: &str) -> String {
    let text = &one_line(text);
    let ticks = "`".repeat(longest_backtick_run(text) + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') { " " } else { "" };
    format!("{ticks}{pad}{text}{pad}{ticks}")
}
