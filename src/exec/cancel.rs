//! The two-level cancellation signal an apply takes (Ctrl-C once: stop; twice: abort). It owns
//! the signal only; the CLI decides when to raise it and the scheduler how to react.

use std::sync::Arc;
use tokio::sync::watch;

/// How far cancellation has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CancelLevel {
    Running,
    /// Start no new step; let running steps finish and record them.
    Stop,
    /// Abort running steps too; they stay recorded as in flight.
    Abort,
}

/// A cloneable handle: every clone sees and raises the same level.
#[derive(Debug, Clone)]
pub struct Cancel {
    level: Arc<watch::Sender<CancelLevel>>,
}

impl Default for Cancel {
    fn default() -> Cancel {
        Cancel::new()
    }
}

impl Cancel {
    pub fn new() -> Cancel {
        Cancel { level: Arc::new(watch::Sender::new(CancelLevel::Running)) }
    }

    /// The first Ctrl-C: no new steps.
    pub fn stop(&self) {
        self.raise(CancelLevel::Stop);
    }

    /// The second Ctrl-C: abort running steps.
    pub fn abort(&self) {
        self.raise(CancelLevel::Abort);
    }

    /// One Ctrl-C: `stop` the first time, `abort` after that. Returns the new level.
    pub fn escalate(&self) -> CancelLevel {
        let next = match self.level() {
            CancelLevel::Running => CancelLevel::Stop,
            _ => CancelLevel::Abort,
        };
        self.raise(next);
        next
    }

    pub(crate) fn level(&self) -> CancelLevel {
        *self.level.borrow()
    }

    /// Resolves once the level is at least `level`.
    pub(crate) async fn reached(&self, level: CancelLevel) {
        let mut receiver = self.level.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = receiver.wait_for(|current| *current >= level).await;
    }

    fn raise(&self, level: CancelLevel) {
        self.level.send_if_modified(|current| {
            let raised = level > *current;
            if raised {
                *current = level;
            }
            raised
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn escalates_stop_then_abort_and_never_lowers() {
        let cancel = Cancel::new();
        let waiter = cancel.clone();
        let stopped = tokio::spawn(async move { waiter.reached(CancelLevel::Stop).await });
        assert_eq!(cancel.escalate(), CancelLevel::Stop);
        stopped.await.unwrap();
        assert_eq!(cancel.escalate(), CancelLevel::Abort);
        cancel.stop();
        assert_eq!(cancel.level(), CancelLevel::Abort);
    }
}
