//! Renders an apply's events for people on stderr: on a terminal, an indicatif spinner per
//! running step plus an overall bar with a live timer, drawn through the [`Printer`] (which
//! writes every other line above them); otherwise one line per event and a "still updating
//! pay-main… [1m20s elapsed]" line every 10 s; then a summary. Both say the same facts: what
//! each step reported (bytes dumped, rows verified) is a line in either. With `-q` only the
//! summary is printed. It only renders: it never changes what the engine does, and machine
//! output (`apply --json`) is `Event::to_json_line`, not this.

use super::Printer;
use crate::exec::{ApplySummary, Event, EventKind};
use crate::model::Address;
use crate::plan::Action;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;

/// How to render.
#[derive(Debug, Clone)]
pub(crate) struct ProgressOptions {
    /// What the command does (the summary's first word).
    pub command: Command,
    /// Bars (stderr is a terminal) or lines.
    pub terminal: bool,
    /// How many changes the plan has (the overall bar's length).
    pub total: usize,
    /// How often lines mode says which steps are still running.
    pub heartbeat: Duration,
}

/// The command that runs the changes: `apply`, or `destroy` (which speaks of destroying).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Command {
    Apply,
    Destroy,
}

impl Command {
    /// "Apply", "Destroy".
    pub(crate) fn title(self) -> &'static str {
        match self {
            Command::Apply => "Apply",
            Command::Destroy => "Destroy",
        }
    }

    /// "apply", "destroy".
    pub(crate) fn name(self) -> &'static str {
        match self {
            Command::Apply => "apply",
            Command::Destroy => "destroy",
        }
    }
}

/// `count` and the noun, plural when it is not 1 ("1 change", "3 changes").
pub(crate) fn count(count: usize, noun: &str) -> String {
    if count == 1 { format!("1 {noun}") } else { format!("{count} {noun}s") }
}

/// The present participle and past tense of an action, for people.
fn verbs(action: Action) -> (&'static str, &'static str) {
    match action {
        Action::Create => ("creating", "created"),
        Action::Update => ("updating", "updated"),
        Action::Migrate => ("migrating", "migrated"),
        Action::Promote => ("promoting", "promoted"),
        Action::Delete => ("deleting", "deleted"),
    }
}

/// `45s`, `1m20s`, `1h02m`.
pub(crate) fn format_elapsed(elapsed: Duration) -> String {
    let seconds = elapsed.as_secs();
    match seconds {
        0..60 => format!("{seconds}s"),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!("{}h{:02}m", seconds / 3600, (seconds % 3600) / 60),
    }
}

/// The line for one event in lines mode (`None` for events only bars show).
pub(crate) fn event_line(event: &Event) -> Option<String> {
    let server = |address: &Address| address.server_name().to_string();
    Some(match &event.kind {
        EventKind::StepStarted { address, action, .. } => {
            format!("{} {}…", capitalize(verbs(*action).0), server(address))
        }
        EventKind::StepProgress { address, message, .. } => format!("{}: {message}", server(address)),
        EventKind::StepSucceeded { address, action, elapsed_ms, .. } => format!(
            "{} {} [{}]",
            server(address),
            verbs(*action).1,
            format_elapsed(Duration::from_millis(*elapsed_ms))
        ),
        EventKind::StepFailed { address, action, error, .. } => {
            format!("error: {} {} failed: {error}", verbs(*action).0, server(address))
        }
        EventKind::StepSkipped { address, reason, .. } => format!("{}: {reason}", server(address)),
        // Retries are printed by the retrying layer's observer (`-v`), not by the progress.
        EventKind::Retry { .. } | EventKind::ApplyFinished { .. } => return None,
    })
}

fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    chars.next().map(|first| first.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// "Apply complete: 1 created, 3 updated, … 2 restarts, 1m02s." (or "Apply failed: …");
/// for `destroy`, "Destroy complete: 3 destroyed, 0 failed, 0 skipped; 4s.".
pub(crate) fn summary_line(summary: &ApplySummary, command: Command) -> String {
    let verdict =
        if summary.failed + summary.aborted > 0 || summary.skipped > 0 { "failed" } else { "complete" };
    let done = match command {
        Command::Apply => format!(
            "{} created, {} updated, {} migrated, {} promoted, {} deleted",
            summary.created, summary.updated, summary.migrated, summary.promoted, summary.deleted
        ),
        Command::Destroy => format!("{} destroyed", summary.deleted),
    };
    let mut line = format!(
        "{} {verdict}: {done}, {} failed, {} skipped",
        command.title(),
        summary.failed,
        summary.skipped
    );
    if summary.aborted > 0 {
        line.push_str(&format!(", {} aborted (still in flight in the state)", summary.aborted));
    }
    if command == Command::Apply || summary.restarts > 0 {
        line.push_str(&format!("; {}", count(summary.restarts as usize, "restart")));
    }
    line.push_str(&format!("; {}.", format_elapsed(Duration::from_millis(summary.wall_time_ms))));
    line
}

/// A running step: its verb and server, and when it started.
struct Running {
    label: String,
    started: Instant,
    bar: Option<ProgressBar>,
}

/// Reads events until the engine's sender is dropped, rendering them; returns the summary of
/// the `apply_finished` event, if one came.
pub(crate) async fn render(
    events: UnboundedReceiver<Event>,
    options: ProgressOptions,
    printer: &Printer,
) -> Option<ApplySummary> {
    // `-q` prints the summary alone: no bars, no lines.
    let options = ProgressOptions { terminal: options.terminal && !printer.is_quiet(), ..options };
    let bars = options.terminal.then(|| Bars::new(options.total, ProgressDrawTarget::stderr()));
    if let Some(bars) = &bars {
        printer.attach(bars.multi.clone());
    }
    // Progress lines are hidden by `-q`; the summary never is.
    let summary =
        render_to(events, options, bars.as_ref(), |line| printer.info(line), |line| printer.result(line))
            .await;
    printer.detach();
    summary
}

/// `render`, with progress lines going to `say` (above the bars, when there are bars) and the
/// summary to `conclude`.
async fn render_to(
    mut events: UnboundedReceiver<Event>,
    options: ProgressOptions,
    bars: Option<&Bars>,
    mut say: impl FnMut(&str),
    conclude: impl FnOnce(&str),
) -> Option<ApplySummary> {
    let mut running: BTreeMap<String, Running> = BTreeMap::new();
    let mut heartbeat = tokio::time::interval(options.heartbeat);
    heartbeat.tick().await;
    let mut summary = None;
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                if let EventKind::ApplyFinished { summary: finished } = &event.kind {
                    summary = Some(finished.clone());
                }
                track(&mut running, &event, bars);
                if let Some(bars) = bars {
                    bars.count(&event);
                }
                // A started step is a spinner on a terminal; every other fact is a line in both.
                let spinner = bars.is_some() && matches!(event.kind, EventKind::StepStarted { .. });
                if let Some(line) = event_line(&event).filter(|_| !spinner) {
                    say(&line);
                }
            }
            _ = heartbeat.tick(), if bars.is_none() => {
                for step in running.values() {
                    say(&format!("still {}… [{} elapsed]", step.label, format_elapsed(step.started.elapsed())));
                }
            }
        }
    }
    if let Some(bars) = bars {
        // Steps that never reported an end (an aborted apply) leave no spinner behind.
        for step in running.into_values() {
            if let Some(bar) = step.bar {
                bar.finish_and_clear();
            }
        }
        bars.overall.finish_and_clear();
        let _ = bars.multi.clear();
    }
    if let Some(summary) = &summary {
        conclude(&summary_line(summary, options.command));
    }
    summary
}

/// Keeps the set of running steps (and their bars) in step with the events.
fn track(running: &mut BTreeMap<String, Running>, event: &Event, bars: Option<&Bars>) {
    match &event.kind {
        EventKind::StepStarted { change_id, address, action } => {
            let label = format!("{} {}", verbs(*action).0, address.server_name());
            let bar = bars.map(|bars| bars.step(&label));
            running.insert(change_id.clone(), Running { label, started: Instant::now(), bar });
        }
        EventKind::StepProgress { change_id, message, .. } => {
            if let Some(bar) = running.get(change_id).and_then(|step| step.bar.as_ref()) {
                bar.set_message(message.clone());
            }
        }
        EventKind::StepSucceeded { change_id, .. } | EventKind::StepFailed { change_id, .. } => {
            if let Some(bar) = running.remove(change_id).and_then(|step| step.bar) {
                bar.finish_and_clear();
            }
        }
        _ => {}
    }
}

/// The terminal view: one spinner per running step above an overall bar whose timer runs on
/// its own (a steady tick), so it moves while a long step reports nothing.
struct Bars {
    multi: MultiProgress,
    overall: ProgressBar,
}

impl Bars {
    fn new(total: usize, target: ProgressDrawTarget) -> Bars {
        let multi = MultiProgress::with_draw_target(target);
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} changes")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        overall.enable_steady_tick(Duration::from_millis(500));
        Bars { multi, overall }
    }

    fn step(&self, label: &str) -> ProgressBar {
        let bar = self.multi.insert_before(&self.overall, ProgressBar::new_spinner());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {prefix} {msg} [{elapsed}]")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_prefix(label.to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    }

    /// Finished, failed and skipped steps move the overall bar; each counts once.
    fn count(&self, event: &Event) {
        if matches!(
            event.kind,
            EventKind::StepSucceeded { .. } | EventKind::StepFailed { .. } | EventKind::StepSkipped { .. }
        ) {
            self.overall.inc(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServerName;

    #[tokio::test(start_paused = true)]
    async fn lines_mode_says_what_is_still_running_every_heartbeat() {
        let (sender, receiver) = crate::exec::EventSender::channel();
        let options = ProgressOptions {
            command: Command::Apply,
            terminal: false,
            total: 1,
            heartbeat: Duration::from_secs(10),
        };
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let collected = lines.clone();
        let renderer = tokio::spawn(async move {
            let summary = collected.clone();
            render_to(
                receiver,
                options,
                None,
                |line| collected.lock().unwrap().push(line.to_string()),
                |line| summary.lock().unwrap().push(line.to_string()),
            )
            .await
        });
        let address = ServerName::new("pay-main").address();
        sender.emit(EventKind::StepStarted {
            change_id: "u".into(),
            address: address.clone(),
            action: Action::Update,
        });
        tokio::time::sleep(Duration::from_secs(85)).await;
        sender.emit(EventKind::StepSucceeded {
            change_id: "u".into(),
            address,
            action: Action::Update,
            elapsed_ms: 85_000,
            restarts: 1,
        });
        sender.emit(EventKind::ApplyFinished {
            summary: ApplySummary {
                updated: 1,
                restarts: 1,
                wall_time_ms: 85_000,
                ..ApplySummary::default()
            },
        });
        drop(sender);
        let summary = renderer.await.unwrap();
        assert_eq!(summary.map(|s| s.updated), Some(1));
        let lines = lines.lock().unwrap().clone();
        assert_eq!(lines[0], "Updating pay-main…");
        let still: Vec<_> =
            lines.iter().filter(|line| line.starts_with("still updating pay-main…")).collect();
        assert_eq!(still.len(), 8, "{lines:?}");
        assert_eq!(still[7], "still updating pay-main… [1m20s elapsed]");
        assert_eq!(lines[lines.len() - 2], "pay-main updated [1m25s]");
        assert!(lines.last().unwrap().starts_with("Apply complete: 0 created, 1 updated"));
    }

    /// A terminal (bars) prints every fact the plain log prints, but the start of a step,
    /// which is its spinner; no spinner outlives the apply.
    #[tokio::test(start_paused = true)]
    async fn a_terminal_says_what_the_log_says() {
        async fn rendered(terminal: bool) -> (Vec<String>, bool) {
            let (sender, receiver) = crate::exec::EventSender::channel();
            let address = ServerName::new("qs-legacy").address();
            let change_id = "migrate:qs-legacy".to_string();
            sender.emit(EventKind::StepStarted {
                change_id: change_id.clone(),
                address: address.clone(),
                action: Action::Migrate,
            });
            for message in ["dumped 211.8 MB", "verified 1200 rows in 3 tables"] {
                sender.emit(EventKind::StepProgress {
                    change_id: change_id.clone(),
                    address: address.clone(),
                    message: message.into(),
                });
            }
            sender.emit(EventKind::StepStarted {
                change_id: "update:qs-main".into(),
                address: ServerName::new("qs-main").address(),
                action: Action::Update,
            });
            sender.emit(EventKind::StepSucceeded {
                change_id,
                address,
                action: Action::Migrate,
                elapsed_ms: 17_000,
                restarts: 0,
            });
            sender.emit(EventKind::ApplyFinished {
                summary: ApplySummary {
                    migrated: 1,
                    aborted: 1,
                    wall_time_ms: 17_000,
                    ..ApplySummary::default()
                },
            });
            drop(sender);
            let options = ProgressOptions {
                command: Command::Apply,
                terminal,
                total: 2,
                heartbeat: Duration::from_secs(60),
            };
            let bars = terminal.then(|| Bars::new(2, ProgressDrawTarget::hidden()));
            let mut lines = Vec::new();
            let mut last = String::new();
            render_to(
                receiver,
                options,
                bars.as_ref(),
                |line| lines.push(line.to_string()),
                |line| last = line.to_string(),
            )
            .await;
            lines.push(last);
            (lines, bars.is_none_or(|bars| bars.overall.is_finished()))
        }
        let (log, _) = rendered(false).await;
        let (terminal, finished) = rendered(true).await;
        assert!(finished, "the overall bar is cleared at the end");
        let without_starts: Vec<&String> = log.iter().filter(|line| !line.ends_with('…')).collect();
        assert_eq!(terminal.iter().collect::<Vec<_>>(), without_starts, "{log:?}");
        assert!(terminal.contains(&"qs-legacy: dumped 211.8 MB".to_string()), "{terminal:?}");
        assert!(terminal.contains(&"qs-legacy: verified 1200 rows in 3 tables".to_string()), "{terminal:?}");
    }

    #[test]
    fn elapsed_reads_like_terraform() {
        assert_eq!(format_elapsed(Duration::from_secs(45)), "45s");
        assert_eq!(format_elapsed(Duration::from_secs(80)), "1m20s");
        assert_eq!(format_elapsed(Duration::from_secs(3720)), "1h02m");
    }

    #[test]
    fn lines_name_the_server_and_what_happened() {
        let address = ServerName::new("pay-main").address();
        let started = Event::now(EventKind::StepStarted {
            change_id: "migrate:pay-main".into(),
            address: address.clone(),
            action: Action::Migrate,
        });
        assert_eq!(event_line(&started).unwrap(), "Migrating pay-main…");
        let skipped = Event::now(EventKind::StepSkipped {
            change_id: "update:pay-main".into(),
            address,
            action: Action::Update,
            reason: "skipped because update:pay-ro-1 failed".into(),
        });
        assert_eq!(event_line(&skipped).unwrap(), "pay-main: skipped because update:pay-ro-1 failed");
    }

    #[test]
    fn summary_counts_everything_and_says_failed_when_anything_failed() {
        let summary = ApplySummary {
            created: 1,
            updated: 3,
            failed: 1,
            skipped: 2,
            restarts: 3,
            wall_time_ms: 62_000,
            ..ApplySummary::default()
        };
        assert_eq!(
            summary_line(&summary, Command::Apply),
            "Apply failed: 1 created, 3 updated, 0 migrated, 0 promoted, 0 deleted, 1 failed, 2 skipped; 3 restarts; 1m02s."
        );
        let clean = ApplySummary { updated: 1, restarts: 1, ..ApplySummary::default() };
        assert!(summary_line(&clean, Command::Apply).starts_with("Apply complete:"));
        assert!(summary_line(&clean, Command::Apply).contains("1 restart;"));
        // `destroy` speaks of destroying, and of restarts only when there were some.
        let destroyed = ApplySummary { deleted: 3, restarts: 0, ..clean.clone() };
        assert_eq!(
            summary_line(&destroyed, Command::Destroy),
            format!(
                "Destroy complete: 3 destroyed, 0 failed, 0 skipped; {}.",
                format_elapsed(Duration::from_millis(destroyed.wall_time_ms))
            )
        );
        assert_eq!(
            (count(1, "error"), count(2, "error"), count(0, "server")),
            ("1 error".into(), "2 errors".into(), "0 servers".into())
        );
    }
}
