//! The change graph as Graphviz DOT (`pgfleet graph`): one node per change, labelled with its
//! action, server and cost, and one edge per ordering, from the change that goes first to the
//! one that waits for it, labelled with the ordering's reason. Blocked and refused changes are
//! dashed nodes with no edges (they are not applied). A pure function of the plan.

use super::model::Plan;

/// The plan's changes and their order as a DOT digraph (`dot -Tsvg` draws it).
pub fn dot(plan: &Plan) -> String {
    let mut out = format!("digraph {} {{\n", quote(&format!("pgfleet plan: {}", plan.fleet)));
    out.push_str("  rankdir = \"LR\";\n  node [shape = \"box\"];\n");
    for change in &plan.changes {
        let mut costs = Vec::new();
        if change.impact.restart {
            costs.push("restart");
        }
        if change.impact.data_migration {
            costs.push("data migration");
        }
        if !change.impact.reversible {
            costs.push("irreversible");
        }
        let mut label = format!("{} {}\nwave {}", change.action.as_str(), change.address, change.wave);
        if !costs.is_empty() {
            label.push_str(&format!(" · {}", costs.join(", ")));
        }
        out.push_str(&format!("  {} [label = {}];\n", quote(&change.id), quote(&label)));
    }
    for blocked in &plan.blocked {
        let label = format!("{} {}\nblocked: {}", blocked.action.as_str(), blocked.address, blocked.reason);
        let id = format!("blocked:{}", blocked.server);
        out.push_str(&format!("  {} [label = {}, style = \"dashed\"];\n", quote(&id), quote(&label)));
    }
    for refused in &plan.refused {
        let label = format!("{}\nrefused: {}", refused.address, refused.reason);
        let id = format!("refused:{}:{}", refused.server, refused.path.as_str());
        out.push_str(&format!("  {} [label = {}, style = \"dashed\"];\n", quote(&id), quote(&label)));
    }
    for change in &plan.changes {
        for before in &change.depends_on {
            let reason = change.ordering.iter().find(|ordering| &ordering.after == before);
            let attributes =
                reason.map_or_else(String::new, |ordering| format!(" [label = {}]", quote(&ordering.reason)));
            out.push_str(&format!("  {} -> {}{attributes};\n", quote(before), quote(&change.id)));
        }
    }
    out.push_str("}\n");
    out
}

/// A DOT string: quoted, with quotes and backslashes escaped and line breaks as `\n`.
fn quote(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    format!("\"{escaped}\"")
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(quote("a \"b\"\\c\nd"), r#""a \"b\"\\c\nd""#);
    }
}
