//! Renderers of the plan model: human (terminal), Markdown (pull requests, job summaries, with a
//! size budget), JSON (machines, with its JSON Schema) and GitHub workflow annotations.
//!
//! Every renderer is a pure function of a [`Plan`]: none re-derives a planning fact, parses
//! text or does I/O (the one exception, [`github::append_step_summary`], only appends a string
//! the caller rendered). Risk, symbols and value formatting shared by the renderers live here so
//! the terminal and the pull request say the same thing.

mod budget;
#[cfg(test)]
pub(crate) mod fixtures;
pub mod github;
mod human;
mod json;
mod markdown;
#[cfg(test)]
mod markdown_tests;

pub use budget::{COMMENT_BUDGET, STEP_SUMMARY_BUDGET, markdown, markdown_in_run};
pub use human::{human, write_human};
pub use json::{PlanDocument, json, plan_schema, write_json};
pub use markdown::Run;

use super::{Action, AttributeChange, Change, DowntimeRange, Plan};
use crate::model::ServerName;
use crate::rules;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How much a server's changes cost, worst last so `max` picks the riskiest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Risk {
    /// Nothing changes.
    None,
    /// Changes made while the server keeps serving.
    Online,
    /// The server restarts (connections drop).
    Restart,
    /// Data moves to a new server (dump/restore), writes frozen meanwhile.
    DataMigration,
    /// The server and its data go away.
    Delete,
}

impl Risk {
    pub(crate) fn of_change(change: &Change) -> Risk {
        if change.action == Action::Delete {
            Risk::Delete
        } else if change.impact.data_migration {
            Risk::DataMigration
        } else if change.impact.restart {
            Risk::Restart
        } else {
            Risk::Online
        }
    }

    /// Whether reviewers must always see the server (restart, migration or delete).
    pub(crate) fn is_risky(self) -> bool {
        self >= Risk::Restart
    }

    pub(crate) fn label(self) -> &'static str {
        match self {
            Risk::None => "no change",
            Risk::Online => "online",
            Risk::Restart => "restart",
            Risk::DataMigration => "data migration",
            Risk::Delete => "delete",
        }
    }
}

/// The changes of one server, in plan order.
pub(crate) struct ServerGroup<'a> {
    pub(crate) server: &'a ServerName,
    pub(crate) changes: Vec<&'a Change>,
    pub(crate) risk: Risk,
}

impl ServerGroup<'_> {
    /// The widest downtime range of the server's changes.
    pub(crate) fn downtime(&self) -> DowntimeRange {
        widest(self.changes.iter().map(|change| change.impact.downtime_seconds))
    }

    pub(crate) fn irreversible(&self) -> bool {
        self.changes.iter().any(|change| !change.impact.reversible)
    }
}

/// The widest of some downtime ranges (by maximum, then minimum); none when there are none.
pub(crate) fn widest(ranges: impl Iterator<Item = DowntimeRange>) -> DowntimeRange {
    ranges.fold(DowntimeRange { min: 0, max: 0 }, |widest, range| {
        if (range.max, range.min) > (widest.max, widest.min) { range } else { widest }
    })
}

/// The plan's changes grouped by server, riskiest first, then by server name.
pub(crate) fn server_groups(plan: &Plan) -> Vec<ServerGroup<'_>> {
    let mut by_server: BTreeMap<&ServerName, Vec<&Change>> = BTreeMap::new();
    for change in &plan.changes {
        by_server.entry(&change.server).or_default().push(change);
    }
    let mut groups: Vec<ServerGroup<'_>> = by_server
        .into_iter()
        .map(|(server, changes)| {
            let risk = changes.iter().map(|change| Risk::of_change(change)).max().unwrap_or(Risk::None);
            ServerGroup { server, changes, risk }
        })
        .collect();
    groups.sort_by(|a, b| b.risk.cmp(&a.risk).then_with(|| a.server.cmp(b.server)));
    groups
}

/// The riskiest thing the plan would do, counting blocked actions as if allowed.
pub(crate) fn plan_risk(plan: &Plan) -> Risk {
    let changes = plan.changes.iter().map(Risk::of_change);
    let blocked = plan.blocked.iter().map(|blocked| match blocked.action {
        Action::Delete => Risk::Delete,
        Action::Migrate => Risk::DataMigration,
        Action::Promote => Risk::Restart,
        Action::Create | Action::Update => Risk::Online,
    });
    changes.chain(blocked).max().unwrap_or(Risk::None)
}

/// The one-line verdict: "3 servers restart · no data loss · 1 irreversible".
pub(crate) fn verdict(plan: &Plan) -> String {
    if !plan.has_changes() && plan.blocked.is_empty() && plan.refused.is_empty() {
        return format!("no changes · {} up to date", plural(plan.summary.unchanged, "server"));
    }
    let summary = &plan.summary;
    let mut parts = Vec::new();
    parts.push(match summary.restarts {
        0 => "no restarts".to_string(),
        n => restarts(n),
    });
    if summary.migrate > 0 {
        parts.push(plural(summary.migrate, "data migration"));
    }
    parts.push(match summary.delete {
        0 => "no data loss".to_string(),
        n => format!("{} deleted (data loss)", plural(n, "server")),
    });
    if summary.irreversible > 0 {
        parts.push(format!("{} irreversible", summary.irreversible));
    }
    if summary.blocked > 0 {
        parts.push(format!("{} blocked", summary.blocked));
    }
    if !plan.refused.is_empty() {
        parts.push(format!("{} refused", plan.refused.len()));
    }
    parts.join(" · ")
}

/// "0 to create · 3 to update · … · 2 unchanged".
pub(crate) fn counts(plan: &Plan) -> String {
    let s = &plan.summary;
    let mut counts = format!(
        "{} to create · {} to update · {} to migrate · {} to promote · {} to delete · {} unchanged",
        s.create, s.update, s.migrate, s.promote, s.delete, s.unchanged
    );
    if s.blocked > 0 {
        let _ = write!(counts, " · {} blocked", s.blocked);
    }
    if !plan.refused.is_empty() {
        let _ = write!(counts, " · {} refused", plan.refused.len());
    }
    counts
}

/// `+` create, `~` update, `±` migrate (a new server takes over), `⇡` promote, `-` delete.
pub(crate) fn action_symbol(action: Action) -> &'static str {
    match action {
        Action::Create => "+",
        Action::Update => "~",
        Action::Migrate => "±",
        Action::Promote => "⇡",
        Action::Delete => "-",
    }
}

/// How one attribute changes, for its symbol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AttributeKind {
    Added,
    Removed,
    Changed,
    /// A change the rules say cannot be undone (storage grows and never shrinks).
    Irreversible,
}

impl AttributeKind {
    pub(crate) fn of(attribute: &AttributeChange) -> AttributeKind {
        if attribute.before.is_null() {
            AttributeKind::Added
        } else if attribute.after.is_null() {
            AttributeKind::Removed
        } else if attribute.path.key().is_some_and(rules::is_irreversible) {
            AttributeKind::Irreversible
        } else {
            AttributeKind::Changed
        }
    }

    pub(crate) fn symbol(self) -> &'static str {
        match self {
            AttributeKind::Added => "+",
            AttributeKind::Removed => "-",
            AttributeKind::Changed => "~",
            AttributeKind::Irreversible => "↑",
        }
    }
}

/// A value as one line: strings quoted, everything else as JSON.
pub(crate) fn format_value(value: &serde_json::Value) -> String {
    value.to_string()
}

/// The two sides of a multi-line string change, when either side spans lines.
pub(crate) fn multiline_pair(attribute: &AttributeChange) -> Option<(&str, &str)> {
    let before = attribute.before.as_str().or(attribute.before.is_null().then_some(""))?;
    let after = attribute.after.as_str().or(attribute.after.is_null().then_some(""))?;
    (before.contains('\n') || after.contains('\n')).then_some((before, after))
}

/// A line diff of a multi-line value: each line prefixed `-`, `+` or ` `.
pub(crate) fn line_diff(before: &str, after: &str) -> Vec<(similar::ChangeTag, String)> {
    similar::TextDiff::from_lines(before, after)
        .iter_all_changes()
        .map(|change| (change.tag(), change.value().trim_end_matches(['\n', '\r']).to_string()))
        .collect()
}

/// A duration for people: `45 s`, `1 min`, `2 min 30 s`, `1 h`.
pub(crate) fn format_seconds(seconds: u32) -> String {
    let (hours, minutes, secs) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    match (hours, minutes, secs) {
        (0, 0, s) => format!("{s} s"),
        (0, m, 0) => format!("{m} min"),
        (0, m, s) => format!("{m} min {s} s"),
        (h, 0, 0) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// A downtime range for people: `none`, `0 s – 1 min`.
pub(crate) fn format_downtime(range: DowntimeRange) -> String {
    if range.max == 0 {
        "none".to_string()
    } else if range.min == range.max {
        format_seconds(range.max)
    } else {
        format!("{} – {}", format_seconds(range.min), format_seconds(range.max))
    }
}

/// "1 server restarts", "3 servers restart".
pub(crate) fn restarts(servers: usize) -> String {
    if servers == 1 { "1 server restarts".to_string() } else { format!("{servers} servers restart") }
}

/// "1 server", "3 servers".
pub(crate) fn plural(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

/// A change's cost: "+$259.88/month ($274.60 → $534.48)", "· $0.18 once" for a migration's
/// overlap, "unknown (why)" when a price is missing; none when the plan is not priced.
pub(crate) fn change_cost(change: &Change, plan: &Plan) -> Option<String> {
    let (cost, currency) = (change.cost.as_ref()?, &plan.cost.as_ref()?.currency);
    let mut text = format!("{}/month", crate::cost::signed(cost.monthly_delta, currency));
    if let Some(why) = &cost.unknown {
        text = format!("unknown ({why})");
    } else if cost.monthly_before.is_some() && cost.monthly_after.is_some() && cost.monthly_delta != Some(0.0)
    {
        let _ = write!(
            text,
            " ({} → {})",
            crate::cost::amount(cost.monthly_before, currency),
            crate::cost::amount(cost.monthly_after, currency)
        );
    }
    if cost.one_time_basis.is_some() {
        let _ = write!(text, " · {} once", crate::cost::amount(cost.one_time, currency));
    }
    Some(text)
}

/// A server's changes' monthly deltas together: "+$259.88", "unknown"; none when not priced.
pub(crate) fn group_cost(group: &ServerGroup<'_>, plan: &Plan) -> Option<String> {
    let currency = &plan.cost.as_ref()?.currency;
    let deltas = group.changes.iter().map(|change| change.cost.as_ref().and_then(|cost| cost.monthly_delta));
    Some(crate::cost::signed(crate::cost::sum(deltas), currency))
}

/// The plan's cost in one line: "+$259.88/month · fleet $1,000.00 → $1,259.88/month · $0.18
/// once"; none when the plan is not priced.
pub(crate) fn cost_summary(plan: &Plan) -> Option<String> {
    let cost = plan.cost.as_ref()?;
    let currency = &cost.currency;
    let mut parts = vec![match cost.monthly_delta {
        Some(_) => format!("{}/month", crate::cost::signed(cost.monthly_delta, currency)),
        None => "unknown (a price is missing: see Cost)".to_string(),
    }];
    if cost.monthly_before.is_some() || cost.monthly_after.is_some() {
        parts.push(format!(
            "fleet {} → {}/month",
            crate::cost::amount(cost.monthly_before, currency),
            crate::cost::amount(cost.monthly_after, currency)
        ));
    }
    if let Some(one_time) = cost.one_time {
        parts.push(format!(
            "{} once while migrations copy data",
            crate::cost::amount(Some(one_time), currency)
        ));
    }
    Some(parts.join(" · "))
}

/// The lines under the plan's cost: timetabled servers' months, what is unknown and why, where
/// the prices come from and what they leave out.
pub(crate) fn cost_details(plan: &Plan) -> Vec<String> {
    let Some(cost) = plan.cost.as_ref() else { return Vec::new() };
    let currency = &cost.currency;
    let mut lines = Vec::new();
    for server in &cost.scheduled {
        lines.push(format!(
            "{} on its timetable: {}/month over the coming month ({}/month without it)",
            server.server,
            crate::cost::amount(server.monthly, currency),
            crate::cost::amount(server.monthly_unscheduled, currency)
        ));
    }
    for why in &cost.unknown {
        lines.push(format!("unknown: {why}"));
    }
    let table = cost.prices_file.as_deref().unwrap_or(crate::cost::SHIPPED_PATH);
    if let Some(region) = &cost.priced_as {
        lines.push(format!("local servers priced as if they ran in {region} ([pricing] location)"));
    }
    lines.push(format!(
        "prices: {table} (as of {}, pay-as-you-go {currency}); not counted: {}",
        cost.as_of, cost.excludes
    ));
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(format_seconds(0), "0 s");
        assert_eq!(format_seconds(60), "1 min");
        assert_eq!(format_seconds(150), "2 min 30 s");
        assert_eq!(format_seconds(3600), "1 h");
        assert_eq!(format_seconds(5400), "1 h 30 min");
        assert_eq!(format_downtime(DowntimeRange { min: 0, max: 0 }), "none");
        assert_eq!(format_downtime(DowntimeRange { min: 0, max: 60 }), "0 s – 1 min");
    }

    #[test]
    fn storage_growth_is_marked_irreversible_by_the_rules() {
        let storage =
            AttributeChange { path: rules::Key::StorageGb.into(), before: 512.into(), after: 1024.into() };
        assert_eq!(AttributeKind::of(&storage), AttributeKind::Irreversible);
        let vcores = AttributeChange { path: rules::Key::Vcores.into(), before: 4.into(), after: 8.into() };
        assert_eq!(AttributeKind::of(&vcores), AttributeKind::Changed);
    }

    #[test]
    fn risk_orders_deletes_above_migrations_above_restarts() {
        assert!(Risk::Delete > Risk::DataMigration);
        assert!(Risk::DataMigration > Risk::Restart);
        assert!(Risk::Restart.is_risky() && !Risk::Online.is_risky());
    }
}
