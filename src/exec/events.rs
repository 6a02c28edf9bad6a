//! The engine's event stream: what happened to each step, sent on a tokio mpsc channel for the
//! CLI to render (bars, lines or JSON lines). It owns the event types and their JSON form; it
//! must not print or decide how events look to people.

use crate::model::Address;
use crate::plan::{Action, ChangeId};
use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio::sync::mpsc;

/// One thing that happened during an apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Wall-clock time, for logs (`apply --json`).
    #[serde(rename = "@timestamp")]
    pub timestamp: DateTime<Utc>,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    pub(crate) fn now(kind: EventKind) -> Event {
        Event { timestamp: Utc::now(), kind }
    }

    /// The event as one JSON object on one line (no trailing newline), for `apply --json`.
    pub(crate) fn to_json_line(&self) -> String {
        // Serializing plain strings, numbers and timestamps cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// What happened. Every step event names its change and address.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EventKind {
    /// A step was recorded as in flight and is about to call the provider.
    StepStarted {
        change_id: ChangeId,
        address: Address,
        action: Action,
    },
    /// A step moved on inside (a migration stage, a restart).
    StepProgress {
        change_id: ChangeId,
        address: Address,
        message: String,
    },
    /// A provider call failed with an error a retry can fix and will be tried again. Sent by
    /// the retrying provider layer ([`super::RetryingProvider`]) for any call of a command,
    /// the refresh before the plan included, so it names the call and server, not a step.
    Retry {
        /// `refresh`, `create`, `update`, `delete`, `restart`, `promote`, `set_parameter`,
        /// `cutover` or `connection`.
        call: &'static str,
        /// The server the call is about (a migration's staging server has its own name);
        /// absent for `refresh`.
        #[serde(skip_serializing_if = "Option::is_none")]
        server: Option<crate::model::ServerName>,
        /// The attempt that failed (1-based), of at most `max_attempts` failed by faults (an
        /// answer that another operation is in progress is waited out and not counted).
        attempt: u32,
        max_attempts: u32,
        /// The wait before the next attempt (at least the service's `Retry-After`).
        delay_ms: u64,
        error: String,
    },
    StepSucceeded {
        change_id: ChangeId,
        address: Address,
        action: Action,
        elapsed_ms: u64,
        /// How many times the server restarted during the step.
        restarts: u32,
    },
    StepFailed {
        change_id: ChangeId,
        address: Address,
        action: Action,
        error: String,
    },
    /// The step did not run: a step it depends on failed, or the apply was cancelled.
    StepSkipped {
        change_id: ChangeId,
        address: Address,
        action: Action,
        reason: String,
    },
    ApplyFinished {
        summary: ApplySummary,
    },
}

impl EventKind {
    /// The address the event is about, when it is about one server.
    pub fn address(&self) -> Option<&Address> {
        match self {
            EventKind::StepStarted { address, .. }
            | EventKind::StepProgress { address, .. }
            | EventKind::StepSucceeded { address, .. }
            | EventKind::StepFailed { address, .. }
            | EventKind::StepSkipped { address, .. } => Some(address),
            EventKind::Retry { .. } | EventKind::ApplyFinished { .. } => None,
        }
    }
}

/// The counts of a finished apply.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ApplySummary {
    pub created: usize,
    pub updated: usize,
    pub migrated: usize,
    pub promoted: usize,
    pub deleted: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Steps a second Ctrl-C stopped while they ran; the state keeps them in flight.
    pub aborted: usize,
    /// Server restarts the apply caused.
    pub restarts: u32,
    pub wall_time_ms: u64,
}

/// Where the engine sends events. Sending never blocks and never fails the apply: when nobody
/// listens any more, events are dropped.
#[derive(Debug, Clone)]
pub struct EventSender {
    sender: Option<mpsc::UnboundedSender<Event>>,
}

impl EventSender {
    /// A sender and the receiver the CLI reads.
    pub fn channel() -> (EventSender, mpsc::UnboundedReceiver<Event>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        (EventSender { sender: Some(sender) }, receiver)
    }

    /// A sender whose events go nowhere (benchmarks, callers that only want the report).
    pub fn discard() -> EventSender {
        EventSender { sender: None }
    }

    pub(crate) fn emit(&self, kind: EventKind) {
        if let Some(sender) = &self.sender {
            let _ = sender.send(Event::now(kind));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ServerName;

    #[test]
    fn json_line_carries_type_timestamp_and_address() {
        let event = Event::now(EventKind::StepStarted {
            change_id: "update:pay-main".into(),
            address: ServerName::new("pay-main").address(),
            action: Action::Update,
        });
        let line = event.to_json_line();
        assert!(!line.contains('\n'));
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(value["type"], "step_started");
        assert_eq!(value["address"], "servers.pay-main");
        assert_eq!(value["action"], "update");
        assert!(value["@timestamp"].as_str().unwrap().contains('T'));
    }

    #[test]
    fn a_retry_names_its_call_and_server_only_when_there_is_one() {
        let retry = |server: Option<ServerName>| {
            let line = Event::now(EventKind::Retry {
                call: "refresh",
                server,
                attempt: 1,
                max_attempts: 10,
                delay_ms: 1300,
                error: "Injected server error. (InternalServerError)".into(),
            })
            .to_json_line();
            serde_json::from_str::<serde_json::Value>(&line).unwrap()
        };
        let refresh = retry(None);
        assert_eq!((refresh["type"].as_str(), refresh["call"].as_str()), (Some("retry"), Some("refresh")));
        assert!(refresh.get("server").is_none(), "{refresh}");
        assert_eq!(refresh["delay_ms"], 1300);
        assert_eq!(retry(Some(ServerName::new("pay-main")))["server"], "pay-main");
    }
}
