//! The terminal rendering of a plan: the verdict first, then changes grouped by server (riskiest
//! first) with Terraform-like symbols, field diffs, reasons and impacts, then the apply order as
//! waves with the reason of every edge, drift, notes, blocked and refused changes.
//!
//! Pure: it formats the plan it is given and never decides anything. Colour (anstyle escape
//! codes) only when the caller says the output is a terminal.

use super::{
    AttributeKind, ServerGroup, action_symbol, change_cost, cost_details, cost_summary, counts,
    format_downtime, format_value, line_diff, multiline_pair, server_groups, verdict,
};
use crate::plan::{Action, AttributeChange, Change, Plan};
use anstyle::{AnsiColor, Style};
use similar::ChangeTag;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The width server header rules are padded to.
const RULE_WIDTH: usize = 72;

/// Renders `plan` for a terminal; `color` adds ANSI styles (only on a terminal without NO_COLOR).
pub fn human(plan: &Plan, color: bool) -> String {
    let mut text = Vec::new();
    write_human(plan, color, &mut text).expect("writing to memory does not fail");
    String::from_utf8(text).expect("the rendering is UTF-8")
}

/// How much of the rendering is held before it is written out.
const CHUNK: usize = 64 * 1024;

/// [`human`], written to `sink` as it is rendered: a large plan is never held whole.
///
/// # Errors
/// When `sink` fails.
pub fn write_human(plan: &Plan, color: bool, sink: &mut dyn std::io::Write) -> std::io::Result<()> {
    let paint = Paint { color };
    let mut out = String::new();
    let headline = format!("{}: {}", plan.fleet, verdict(plan));
    let _ = writeln!(out, "{}", paint.apply(Style::new().bold(), &headline));
    let _ = writeln!(out, "  {}", counts(plan));
    if let Some(cost) = cost_summary(plan) {
        let _ = writeln!(out, "  cost: {cost}");
    }
    for group in server_groups(plan) {
        out.push('\n');
        server_section(&mut out, &group, &paint, plan);
        if out.len() >= CHUNK {
            sink.write_all(out.as_bytes())?;
            out.clear();
        }
    }
    apply_order(&mut out, plan, &paint);
    costs(&mut out, plan, &paint);
    drift(&mut out, plan, &paint);
    notes(&mut out, plan);
    blocked(&mut out, plan, &paint);
    refused(&mut out, plan, &paint);
    sink.write_all(out.as_bytes())
}

/// Styles text only when colour is on.
struct Paint {
    color: bool,
}

impl Paint {
    fn apply(&self, style: Style, text: &str) -> String {
        if self.color {
            format!("{}{text}{}", style.render(), style.render_reset())
        } else {
            text.to_string()
        }
    }

    fn fg(&self, color: AnsiColor, text: &str) -> String {
        self.apply(Style::new().fg_color(Some(color.into())), text)
    }

    fn dim(&self, text: &str) -> String {
        self.apply(Style::new().dimmed(), text)
    }

    fn symbol(&self, symbol: &str) -> String {
        let color = match symbol {
            "+" => AnsiColor::Green,
            "-" => AnsiColor::Red,
            "±" | "↑" => AnsiColor::Magenta,
            "⇡" => AnsiColor::Cyan,
            _ => AnsiColor::Yellow,
        };
        self.fg(color, symbol)
    }
}

fn server_section(out: &mut String, group: &ServerGroup<'_>, paint: &Paint, plan: &Plan) {
    let badge = if group.risk.is_risky() {
        format!("{} · {}", group.risk.label(), format_downtime(group.downtime()))
    } else {
        group.risk.label().to_string()
    };
    let name = format!("── {} ", group.server);
    let fill = RULE_WIDTH.saturating_sub(name.chars().count() + badge.chars().count() + 1).max(3);
    let badge_color = if group.risk.is_risky() { AnsiColor::Red } else { AnsiColor::Green };
    let _ = writeln!(
        out,
        "{}{} {}",
        paint.apply(Style::new().bold(), &name),
        "─".repeat(fill),
        paint.fg(badge_color, &badge)
    );
    for change in &group.changes {
        change_block(out, change, paint, plan);
    }
}

fn change_block(out: &mut String, change: &Change, paint: &Paint, plan: &Plan) {
    let symbol = action_symbol(change.action);
    let _ = writeln!(
        out,
        "  {} {}  {}",
        paint.symbol(symbol),
        paint.apply(Style::new().bold(), change.action.as_str()),
        paint.dim(&format!("{} · wave {}", change.id, change.wave))
    );
    let width =
        change.attributes.iter().map(|attribute| attribute.path.name().chars().count()).max().unwrap_or(0);
    for attribute in &change.attributes {
        attribute_lines(out, attribute, width, paint);
    }
    for (number, step) in change.steps.iter().enumerate() {
        let _ = writeln!(out, "      {}. {step}", number + 1);
    }
    let _ = writeln!(out, "    why: {}", change.reason);
    let _ = writeln!(out, "    impact: {}", impact_line(change));
    if change.impact.downtime_seconds.max > 0 {
        let _ = writeln!(out, "      {}", paint.dim(&format!("basis: {}", change.impact.downtime_basis)));
    }
    if let Some(cost) = change_cost(change, plan) {
        let _ = writeln!(out, "    cost: {cost}");
    }
    if let Some(endpoint) = &change.endpoint {
        let _ = writeln!(out, "    endpoint: {}", endpoint.message);
    }
}

/// Timetabled servers' months, unknown prices and where the prices come from.
fn costs(out: &mut String, plan: &Plan, paint: &Paint) {
    let lines = cost_details(plan);
    if lines.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", paint.apply(Style::new().bold(), "Cost"));
    for line in lines {
        let _ = writeln!(out, "  {line}");
    }
}

fn attribute_lines(out: &mut String, attribute: &AttributeChange, width: usize, paint: &Paint) {
    let kind = AttributeKind::of(attribute);
    let path = format!("{:width$}", attribute.path);
    if let Some((before, after)) = multiline_pair(attribute) {
        let _ = writeln!(out, "      {} {}", paint.symbol(kind.symbol()), attribute.path);
        for (tag, line) in line_diff(before, after) {
            let (mark, color) = match tag {
                ChangeTag::Delete => ("-", Some(AnsiColor::Red)),
                ChangeTag::Insert => ("+", Some(AnsiColor::Green)),
                ChangeTag::Equal => (" ", None),
            };
            let text = format!("{mark} {line}");
            let text = color.map_or(text.clone(), |color| paint.fg(color, &text));
            let _ = writeln!(out, "          {text}");
        }
        return;
    }
    let value = match kind {
        AttributeKind::Added => format_value(&attribute.after),
        AttributeKind::Removed => format_value(&attribute.before),
        AttributeKind::Changed | AttributeKind::Irreversible => {
            format!("{} → {}", format_value(&attribute.before), format_value(&attribute.after))
        }
    };
    let suffix =
        if kind == AttributeKind::Irreversible { paint.dim("  # cannot be undone") } else { String::new() };
    let _ = writeln!(out, "      {} {path}  {value}{suffix}", paint.symbol(kind.symbol()));
}

/// "restart · downtime 0 s – 1 min · reversible".
pub(super) fn impact_line(change: &Change) -> String {
    let impact = &change.impact;
    let mut parts = Vec::new();
    if change.action == Action::Delete {
        parts.push("server and data deleted".to_string());
    }
    if impact.data_migration {
        parts.push("data migration (dump/restore)".to_string());
    }
    parts.push(if impact.restart { "restart".to_string() } else { "no restart".to_string() });
    parts.push(format!("downtime {}", format_downtime(impact.downtime_seconds)));
    parts.push(if impact.reversible { "reversible".to_string() } else { "irreversible".to_string() });
    parts.join(" · ")
}

fn apply_order(out: &mut String, plan: &Plan, paint: &Paint) {
    if plan.changes.is_empty() {
        return;
    }
    let mut waves: BTreeMap<u32, Vec<&Change>> = BTreeMap::new();
    for change in &plan.changes {
        waves.entry(change.wave).or_default().push(change);
    }
    let _ = writeln!(out, "\n{}", paint.apply(Style::new().bold(), "Apply order"));
    for (wave, changes) in waves {
        let parallel = if changes.len() > 1 { " (in parallel)" } else { "" };
        let _ = writeln!(out, "  wave {wave}{parallel}");
        for change in changes {
            let _ = writeln!(out, "    {} {}", paint.symbol(action_symbol(change.action)), change.id);
            for edge in &change.ordering {
                let _ = writeln!(out, "        after {}: {}", edge.after, edge.reason);
            }
        }
    }
}

fn drift(out: &mut String, plan: &Plan, paint: &Paint) {
    if plan.drift.is_empty() {
        return;
    }
    let _ = writeln!(out, "\n{}", paint.apply(Style::new().bold(), "Drift (changed outside pgfleet)"));
    for drift in &plan.drift {
        // Once, in words: the message already names the server, the attribute and both values.
        let _ = writeln!(out, "  {} {}", paint.fg(AnsiColor::Yellow, "!"), drift.message);
    }
}

fn notes(out: &mut String, plan: &Plan) {
    if plan.notes.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nNotes");
    for note in &plan.notes {
        let subject = note.address.as_ref().map(|address| format!("{address}: ")).unwrap_or_default();
        let _ = writeln!(out, "  • {subject}{}", note.message);
    }
}

fn blocked(out: &mut String, plan: &Plan, paint: &Paint) {
    if plan.blocked.is_empty() {
        return;
    }
    let title = format!("Blocked ({} not applied without an allowance)", plan.blocked.len());
    let _ =
        writeln!(out, "\n{}", paint.apply(Style::new().bold().fg_color(Some(AnsiColor::Red.into())), &title));
    for blocked in &plan.blocked {
        let symbol = paint.symbol(action_symbol(blocked.action));
        let _ =
            writeln!(out, "  {symbol} {} {}: {}", blocked.action.as_str(), blocked.server, blocked.reason);
        let _ = writeln!(out, "      hint: {}", blocked.hint);
    }
}

fn refused(out: &mut String, plan: &Plan, paint: &Paint) {
    if plan.refused.is_empty() {
        return;
    }
    let title = format!("Refused ({} the service cannot make)", plan.refused.len());
    let _ =
        writeln!(out, "\n{}", paint.apply(Style::new().bold().fg_color(Some(AnsiColor::Red.into())), &title));
    for refusal in &plan.refused {
        let _ = writeln!(
            out,
            "  {} {} {}: {}",
            paint.fg(AnsiColor::Red, "✗"),
            refusal.server,
            refusal.path,
            refusal.reason
        );
        let _ = writeln!(out, "      hint: {}", refusal.hint);
        if let Some(rule) = refusal.rule {
            let _ = writeln!(out, "      rule: {rule} ({})", rule.doc_anchor());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::render::fixtures;

    #[test]
    fn snapshots() {
        for (name, plan) in fixtures::all() {
            insta::assert_snapshot!(format!("human_{name}"), human(&plan, false));
        }
    }

    #[test]
    fn verdict_comes_first_and_replicas_are_ordered_before_their_primary() {
        let text = human(&fixtures::restarts_with_replicas(), false);
        assert!(text.starts_with("payments: 3 servers restart · no data loss"), "{text}");
        let order = text.split("Apply order").nth(1).unwrap();
        let wave_2 = order.find("wave 2").unwrap();
        assert!(order.find("update:pay-ro-1").unwrap() < wave_2);
        assert!(order[wave_2..].contains("update:pay-main"));
        assert!(order[wave_2..].contains("after update:pay-ro-1: replica pay-ro-1 must reach 8 vCores"));
    }

    #[test]
    fn colour_only_when_asked() {
        let plan = fixtures::blocked_delete();
        assert!(!human(&plan, false).contains('\u{1b}'));
        let coloured = human(&plan, true);
        assert!(coloured.contains('\u{1b}'));
        assert_eq!(anstream::adapter::strip_str(&coloured).to_string(), human(&plan, false));
    }

    #[test]
    fn multi_line_values_get_a_line_diff() {
        let mut plan = fixtures::online_only();
        plan.changes[0].attributes.push(fixtures::attribute(
            "tags.notes",
            serde_json::json!("owner: payments\nreviewed: 2025"),
            serde_json::json!("owner: payments\nreviewed: 2026"),
        ));
        let text = human(&plan, false);
        assert!(text.contains("          - reviewed: 2025\n          + reviewed: 2026\n"), "{text}");
        assert!(text.contains("            owner: payments\n"), "{text}");
    }
}
