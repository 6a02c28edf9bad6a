//! The Markdown plan under a size budget (a GitHub comment holds 65,536 characters, a step
//! summary 1 MiB and is dropped whole when larger). When the full form does not fit, whole
//! sections are dropped step by step, never cut: diffs only for risky servers, then the table
//! only, then the verdict with the risky servers' rows and "N more", then risky names only.
//!
//! The verdict and every server that restarts, migrates or is deleted (or whose change is blocked)
//! are present at every step. Sizes are measured in bytes, which is never less than characters,
//! so the result fits either way.

use super::markdown::{
    Run, alerts, apply_graph, apply_order, blocked_refused_notes, blocked_refused_rows, cost_details,
    cost_line, drift, escape, footer, marker, server_change_summary, server_details, table_header, table_row,
    title,
};
use super::{ServerGroup, plural, server_groups};
use crate::plan::Plan;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// A pull-request comment's limit in characters; the rendering stays strictly under it.
pub const COMMENT_BUDGET: usize = 65_536;

/// A job summary's limit per step (1 MiB); GitHub discards a larger summary entirely.
pub const STEP_SUMMARY_BUDGET: usize = 1 << 20;

/// The steps of the degradation ladder, fullest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    /// Everything, the apply order drawn as a Mermaid graph included.
    Full,
    /// Everything but the graph (dropped first).
    NoGraph,
    RiskyDiffs,
    TableOnly,
    RiskiestServers,
    NamesOnly,
}

impl Level {
    pub(crate) const ALL: [Level; 6] = [
        Level::Full,
        Level::NoGraph,
        Level::RiskyDiffs,
        Level::TableOnly,
        Level::RiskiestServers,
        Level::NamesOnly,
    ];
}

/// The fullest Markdown form of `plan` that is strictly shorter than `budget` bytes.
///
/// If even the names of the risky servers do not fit, as many as fit are listed with a count of
/// the rest; only then is a risky server left out. A budget smaller than the marker, verdict
/// and footer together yields just those, over the budget.
pub fn markdown(plan: &Plan, plan_id: &str, budget: usize) -> String {
    markdown_in_run(plan, plan_id, budget, &Run::default())
}

/// [`markdown`] with the CI run the plan was made in named in the footer.
pub fn markdown_in_run(plan: &Plan, plan_id: &str, budget: usize, run: &Run) -> String {
    let groups = server_groups(plan);
    for level in Level::ALL {
        // A step is abandoned as soon as it outgrows the budget: a large fleet's full form is
        // never rendered whole only to be dropped.
        if let Some(text) = render_within(plan, &groups, plan_id, level, budget, run, budget) {
            return text;
        }
    }
    render_level(plan, &groups, plan_id, Level::NamesOnly, budget, run)
}

/// The plan at one step of the ladder. `budget` only bounds the names-only list.
pub(crate) fn render_level(
    plan: &Plan,
    groups: &[ServerGroup<'_>],
    plan_id: &str,
    level: Level,
    budget: usize,
    run: &Run,
) -> String {
    render_within(plan, groups, plan_id, level, budget, run, usize::MAX)
        .expect("a rendering without a limit is never abandoned")
}

/// [`render_level`], or `None` as soon as the text reaches `limit` bytes.
fn render_within(
    plan: &Plan,
    groups: &[ServerGroup<'_>],
    plan_id: &str,
    level: Level,
    budget: usize,
    run: &Run,
    limit: usize,
) -> Option<String> {
    let over = |out: &String| out.len() >= limit;
    let mut out = marker(plan);
    out.push_str(&title(plan));
    out.push_str(&alerts(plan, groups));
    out.push_str(&cost_line(plan));
    if groups.is_empty() && plan.blocked.is_empty() && plan.refused.is_empty() {
        let _ = writeln!(out, "Every server in the fleet file matches its live server.\n");
    }
    let footer = footer(plan, plan_id, run);
    match level {
        Level::Full | Level::NoGraph | Level::RiskyDiffs => {
            table(&mut out, plan, groups.iter(), limit)?;
            let shown = groups.iter().filter(|group| level != Level::RiskyDiffs || group.risk.is_risky());
            for group in shown {
                out.push_str(&server_details(group, plan));
                if over(&out) {
                    return None;
                }
            }
            let hidden = groups.iter().filter(|group| !group.risk.is_risky()).count();
            if level == Level::RiskyDiffs && hidden > 0 {
                omitted(
                    &mut out,
                    &format!("the diffs of {} with online changes only", plural(hidden, "server")),
                );
            }
            out.push_str(&apply_order(plan));
            if level == Level::Full {
                out.push_str(&apply_graph(plan));
            }
            out.push_str(&drift(plan));
            out.push_str(&blocked_refused_notes(plan));
            out.push_str(&cost_details(plan));
        }
        Level::TableOnly => {
            table(&mut out, plan, groups.iter(), limit)?;
            omitted(&mut out, "the per-server diffs, the apply order and the drift details");
            out.push_str(&blocked_refused_notes(plan));
        }
        Level::RiskiestServers => {
            table(&mut out, plan, groups.iter().filter(|group| group.risk.is_risky()), limit)?;
            online_rest(&mut out, groups);
            blocked_names(&mut out, plan);
            omitted(&mut out, "the online changes, diffs, apply order, drift and hints");
        }
        Level::NamesOnly => {
            let room = budget.saturating_sub(out.len() + footer.len());
            out.push_str(&risky_names(plan, groups, room));
        }
    }
    out.push_str(&footer);
    (!over(&out)).then_some(out)
}

/// The table: a row per changed server, then blocked and refused changes with their reasons;
/// `None` as soon as `out` would reach `limit` bytes.
fn table<'a, 'g: 'a>(
    out: &mut String,
    plan: &Plan,
    groups: impl Iterator<Item = &'a ServerGroup<'g>>,
    limit: usize,
) -> Option<()> {
    let mut rows = String::new();
    for group in groups {
        rows.push_str(&table_row(group, plan));
        if out.len() + rows.len() >= limit {
            return None;
        }
    }
    rows.push_str(&blocked_refused_rows(plan));
    if !rows.is_empty() {
        out.push_str(table_header(plan));
        out.push_str(&rows);
        out.push('\n');
    }
    (out.len() < limit).then_some(())
}

/// "…and 1800 more servers with online changes only: 1800 × ~ update: tags.team", by kind.
fn online_rest(out: &mut String, groups: &[ServerGroup<'_>]) {
    const KINDS: usize = 5;
    let mut kinds: BTreeMap<String, usize> = BTreeMap::new();
    for group in groups.iter().filter(|group| !group.risk.is_risky()) {
        *kinds.entry(server_change_summary(group)).or_default() += 1;
    }
    let rest: usize = kinds.values().sum();
    if rest == 0 {
        return;
    }
    let mut by_count: Vec<(&String, &usize)> = kinds.iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let mut shown: Vec<String> =
        by_count.iter().take(KINDS).map(|(kind, count)| format!("{count} × {}", escape(kind))).collect();
    if by_count.len() > KINDS {
        shown.push(format!("{} other kinds", by_count.len() - KINDS));
    }
    let noun = if rest == 1 { "server" } else { "servers" };
    let _ = writeln!(out, "…and {rest} more {noun} with online changes only: {}.\n", shown.join("; "));
}

fn omitted(out: &mut String, what: &str) {
    let _ = writeln!(
        out,
        "_Left out to fit GitHub's size limit: {what}. `pgfleet show PLANFILE` prints the full plan._\n"
    );
}

fn blocked_names(out: &mut String, plan: &Plan) {
    if plan.blocked.is_empty() {
        return;
    }
    let names: Vec<String> = plan
        .blocked
        .iter()
        .map(|blocked| format!("{} `{}`", blocked.action.as_str(), blocked.server))
        .collect();
    let _ = writeln!(out, "**Blocked:** {}.\n", names.join(", "));
}

/// The risky servers and blocked changes by name, as many as fit in `room` bytes.
fn risky_names(plan: &Plan, groups: &[ServerGroup<'_>], room: usize) -> String {
    let mut names: Vec<String> = groups
        .iter()
        .filter(|group| group.risk.is_risky())
        .map(|group| format!("`{}` ({})", group.server, group.risk.label()))
        .collect();
    names.extend(
        plan.blocked
            .iter()
            .map(|blocked| format!("`{}` ({} blocked)", blocked.server, blocked.action.as_str())),
    );
    let rest = groups.iter().filter(|group| !group.risk.is_risky()).count();
    let head = "**Servers that restart, migrate or are deleted, and blocked changes:** ";
    let tail = format!(
        ".\n\n{} with online changes only. `pgfleet show PLANFILE` prints the full plan.\n\n",
        plural(rest, "more server")
    );
    let full = format!("{head}{}{tail}", names.join(", "));
    if full.len() < room || names.is_empty() {
        return full;
    }
    let mut out = head.to_string();
    let mut shown = 0;
    for name in &names {
        let reserve = format!(", … and {} more{tail}", names.len() - shown);
        if out.len() + name.len() + 2 + reserve.len() >= room {
            break;
        }
        if shown > 0 {
            out.push_str(", ");
        }
        out.push_str(name);
        shown += 1;
    }
    let _ = write!(out, ", … and {} more{tail}", names.len() - shown);
    out
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::plan::render::fixtures;

    /// Every code fence and `<details>` opened is closed, and none is cut.
    pub(crate) fn assert_balanced(text: &str, context: &str) {
        let mut fence: Option<usize> = None;
        let mut details = 0usize;
        for line in text.lines() {
            let ticks = line.chars().take_while(|&c| c == '`').count();
            match fence {
                Some(open) if ticks >= open && line.trim_end().chars().all(|c| c == '`') => fence = None,
                Some(_) => {}
                None if ticks >= 3 => fence = Some(ticks),
                None => {
                    details += line.matches("<details>").count();
                    let closed = line.matches("</details>").count();
                    assert!(closed <= details, "{context}: </details> without <details>");
                    details -= closed;
                }
            }
        }
        assert!(fence.is_none(), "{context}: unclosed code fence");
        assert_eq!(details, 0, "{context}: unclosed <details>");
    }

    fn risky_servers(plan: &Plan) -> Vec<String> {
        let groups = server_groups(plan);
        let mut names: Vec<String> = groups
            .iter()
            .filter(|group| group.risk.is_risky())
            .map(|group| group.server.to_string())
            .collect();
        names.extend(plan.blocked.iter().map(|blocked| blocked.server.to_string()));
        names
    }

    #[test]
    fn a_2000_server_plan_fits_a_comment_with_its_verdict_and_every_risky_server() {
        let plan = fixtures::large(2000);
        let text = markdown(&plan, "sha256:abc", COMMENT_BUDGET);
        assert!(text.len() < COMMENT_BUDGET, "{} bytes", text.len());
        assert!(text.starts_with("<!-- pgfleet:plan fleet=payments -->\n"));
        assert!(text.contains("pgfleet plan — `payments`: delete blocked"), "{}", &text[..400]);
        assert!(
            text.contains("**180 servers restart · 20 data migrations · no data loss"),
            "{}",
            &text[..400]
        );
        let risky = risky_servers(&plan);
        assert_eq!(risky.len(), 204);
        for server in risky {
            assert!(text.contains(&format!("`{server}`")), "{server} missing");
        }
        assert!(text.contains("sha256:abc"));
        assert!(
            text.contains(
                "…and 1800 more servers with online changes only: 1800 × ~ update: tags.cost-center."
            )
        );
        assert_balanced(&text, "comment");
    }

    #[test]
    fn every_degradation_step_is_balanced_and_keeps_the_risky_servers() {
        let plan = fixtures::large(300);
        let groups = server_groups(&plan);
        let risky = risky_servers(&plan);
        let mut sizes = Vec::new();
        for level in Level::ALL {
            let text = render_level(&plan, &groups, "sha256:abc", level, COMMENT_BUDGET, &Run::default());
            assert_balanced(&text, &format!("{level:?}"));
            for server in &risky {
                assert!(text.contains(&format!("`{server}`")), "{level:?}: {server} missing");
            }
            sizes.push(text.len());
        }
        assert!(sizes.windows(2).all(|pair| pair[0] > pair[1]), "each step is smaller: {sizes:?}");
    }

    /// Abandoning a step once it outgrows the budget picks the same step as rendering each whole.
    #[test]
    fn abandoning_an_oversized_step_picks_the_step_that_fits() {
        for servers in [10, 120, 700] {
            let plan = fixtures::large(servers);
            let groups = server_groups(&plan);
            for budget in [5_000, 20_000, COMMENT_BUDGET] {
                let whole = Level::ALL
                    .iter()
                    .map(|&level| render_level(&plan, &groups, "id", level, budget, &Run::default()))
                    .find(|text| text.len() < budget)
                    .unwrap_or_else(|| {
                        render_level(&plan, &groups, "id", Level::NamesOnly, budget, &Run::default())
                    });
                assert_eq!(markdown(&plan, "id", budget), whole, "{servers} servers, budget {budget}");
            }
        }
    }

    #[test]
    fn every_step_of_every_scenario_is_balanced() {
        for (name, plan) in fixtures::all() {
            let groups = server_groups(&plan);
            for level in Level::ALL {
                let text = render_level(&plan, &groups, "sha256:abc", level, COMMENT_BUDGET, &Run::default());
                assert_balanced(&text, &format!("{name} {level:?}"));
                assert!(text.contains(&super::super::verdict(&plan)), "{name} {level:?}: verdict missing");
            }
        }
    }

    #[test]
    fn invariants_hold_across_fleet_sizes_and_budgets() {
        for servers in [1, 10, 120, 700, 2000] {
            let plan = fixtures::large(servers);
            let risky = risky_servers(&plan);
            let verdict = super::super::verdict(&plan);
            for budget in [20_000, COMMENT_BUDGET, STEP_SUMMARY_BUDGET] {
                let text = markdown(&plan, "sha256:abc", budget);
                let context = format!("{servers} servers, budget {budget}");
                assert!(text.len() < budget, "{context}: {} bytes", text.len());
                assert!(text.contains(&verdict), "{context}: verdict missing");
                assert_balanced(&text, &context);
                let missing = risky.iter().filter(|server| !text.contains(&format!("`{server}`"))).count();
                if missing > 0 {
                    assert!(
                        text.contains(&format!("… and {missing} more.")),
                        "{context}: {missing} risky servers uncounted"
                    );
                }
            }
        }
    }

    #[test]
    fn the_ladder_stops_at_the_first_step_that_fits() {
        let plan = fixtures::large(300);
        let groups = server_groups(&plan);
        let run = Run::default();
        let full = render_level(&plan, &groups, "id", Level::Full, usize::MAX, &run);
        let no_graph = render_level(&plan, &groups, "id", Level::NoGraph, usize::MAX, &run);
        let risky = render_level(&plan, &groups, "id", Level::RiskyDiffs, usize::MAX, &run);
        assert!(full.contains("```mermaid") && !no_graph.contains("```mermaid"));
        assert_eq!(markdown(&plan, "id", full.len() + 1), full);
        assert_eq!(markdown(&plan, "id", full.len()), no_graph, "the graph is dropped first");
        assert_eq!(markdown(&plan, "id", no_graph.len()), risky);
        assert_eq!(markdown(&plan, "id", STEP_SUMMARY_BUDGET), full);
    }

    #[test]
    fn names_only_lists_as_many_as_fit_and_counts_the_rest() {
        let plan = fixtures::large(2000);
        let text = markdown(&plan, "sha256:abc", 6_000);
        assert!(text.len() < 6_000, "{} bytes", text.len());
        assert!(text.contains("pgfleet plan — `payments`"));
        assert!(text.contains("more.\n\n1800 more servers with online changes only"), "{text}");
        assert_balanced(&text, "names only");
    }
}
