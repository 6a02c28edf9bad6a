//! Waves and order: each change's wave is one more than the latest wave it depends on
//! (longest-path layering, 1-based), and changes are sorted by (wave, server, id). Also the
//! summary counts. It adds and removes no edge: it only reads them.

use super::model::{Action, Change, Summary};
use std::collections::{BTreeSet, HashMap};

/// Sets every change's wave. The planner only adds edges that form a DAG; should a cycle slip
/// through anyway, its changes are placed after everything else rather than dropped.
pub(super) fn assign_waves(changes: &mut [Change]) {
    let waves = waves(changes);
    for (change, wave) in changes.iter_mut().zip(waves) {
        change.wave = wave;
    }
}

/// Each change's wave, by position, without touching the changes.
pub(super) fn waves(changes: &[Change]) -> Vec<u32> {
    let index: HashMap<&str, usize> = changes.iter().enumerate().map(|(at, c)| (c.id.as_str(), at)).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); changes.len()];
    let mut waiting: Vec<usize> = vec![0; changes.len()];
    for (at, change) in changes.iter().enumerate() {
        for before in &change.depends_on {
            if let Some(&before_at) = index.get(before.as_str()) {
                dependents[before_at].push(at);
                waiting[at] += 1;
            }
        }
    }
    let mut waves = vec![1u32; changes.len()];
    let mut ready: Vec<usize> = (0..changes.len()).filter(|&at| waiting[at] == 0).collect();
    let mut placed = vec![false; changes.len()];
    while let Some(at) = ready.pop() {
        placed[at] = true;
        for &next in &dependents[at] {
            waves[next] = waves[next].max(waves[at] + 1);
            waiting[next] -= 1;
            if waiting[next] == 0 {
                ready.push(next);
            }
        }
    }
    let last = waves.iter().copied().max().unwrap_or(0);
    debug_assert!(placed.iter().all(|&p| p), "the plan graph has a cycle");
    for (wave, placed) in waves.iter_mut().zip(placed) {
        if !placed {
            *wave = last + 1;
        }
    }
    waves
}

/// Sorts changes by wave, then server, then id (ids are unique: the order is total, and the
/// sort needs no buffer).
pub(super) fn sort(changes: &mut [Change]) {
    changes.sort_unstable_by(|a, b| (a.wave, &a.server, &a.id).cmp(&(b.wave, &b.server, &b.id)));
}

/// Counts per action, servers restarting, irreversible changes, and configured servers with
/// no change.
pub(super) fn summary(changes: &[Change], unchanged: usize, blocked: usize) -> Summary {
    let mut summary = Summary { unchanged, blocked, ..Summary::default() };
    let mut restarting = BTreeSet::new();
    for change in changes {
        match change.action {
            Action::Create => summary.create += 1,
            Action::Update => summary.update += 1,
            Action::Migrate => summary.migrate += 1,
            Action::Promote => summary.promote += 1,
            Action::Delete => summary.delete += 1,
        }
        if change.impact.restart {
            restarting.insert(&change.server);
        }
        if !change.impact.reversible {
            summary.irreversible += 1;
        }
    }
    summary.restarts = restarting.len();
    summary
}
