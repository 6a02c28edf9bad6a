//! Where an apply's journal records go, and the one writer task that sends them there. It owns
//! the `StateSink` contract (durable before returning), an in-memory sink for tests, and the
//! batching writer; it must not decide what a record says.

use crate::state::{JournalRecord, State};
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::{mpsc, oneshot};

/// Durable storage of journal records.
pub trait StateSink: Send {
    /// Records `records`, in order, durably: when this returns `Ok`, a crash cannot lose them.
    ///
    /// # Errors
    /// When they could not be made durable; the apply then stops starting steps.
    fn persist(&mut self, records: &[JournalRecord]) -> Result<(), SinkError>;
}

/// Why records could not be persisted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not save the state: {message}")]
pub struct SinkError {
    pub message: String,
}

impl SinkError {
    pub fn new(message: impl Into<String>) -> SinkError {
        SinkError { message: message.into() }
    }
}

/// A sink that keeps the state in memory, applying records with `State::apply_record`. Its
/// `durable` handle is what a crash would leave behind: tests reload from it.
#[derive(Debug, Clone)]
pub struct MemorySink {
    durable: Arc<Mutex<State>>,
    /// How many `persist` calls were made (batching shows as fewer calls than records).
    batches: Arc<Mutex<Vec<usize>>>,
}

impl MemorySink {
    pub fn new(state: State) -> MemorySink {
        MemorySink { durable: Arc::new(Mutex::new(state)), batches: Arc::default() }
    }

    /// The state as persisted so far.
    pub fn state(&self) -> State {
        self.durable.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// The size of every batch persisted so far, in order.
    pub fn batches(&self) -> Vec<usize> {
        self.batches.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl StateSink for MemorySink {
    fn persist(&mut self, records: &[JournalRecord]) -> Result<(), SinkError> {
        let mut state = self.durable.lock().unwrap_or_else(PoisonError::into_inner);
        for record in records {
            state.apply_record(record);
        }
        state.serial += 1;
        self.batches.lock().unwrap_or_else(PoisonError::into_inner).push(records.len());
        Ok(())
    }
}

/// A request to the writer: records, and whom to tell once they are durable.
struct WriteRequest {
    records: Vec<JournalRecord>,
    done: oneshot::Sender<Result<(), SinkError>>,
}

/// The handle steps use to persist records through the writer task.
#[derive(Clone)]
pub(crate) struct Journal {
    sender: mpsc::UnboundedSender<WriteRequest>,
}

impl Journal {
    /// Sends `record` to the writer and waits until it is durable.
    pub(crate) async fn write(&self, record: JournalRecord) -> Result<(), SinkError> {
        self.queue(record).wait().await
    }

    /// Queues `record` without waiting. The writer persists records in the order they were
    /// queued, so anything queued later (a dependent's `Started`) is durable only after this.
    pub(crate) fn queue(&self, record: JournalRecord) -> Durable {
        let (done, wait) = oneshot::channel();
        // A stopped writer drops `done`, which `Durable::wait` reports.
        let _ = self.sender.send(WriteRequest { records: vec![record], done });
        Durable { wait }
    }
}

/// A queued record's promise of durability.
#[derive(Debug)]
pub(crate) struct Durable {
    wait: oneshot::Receiver<Result<(), SinkError>>,
}

impl Durable {
    /// Waits until the record is durable.
    ///
    /// # Errors
    /// When the sink failed or the writer stopped first.
    pub(crate) async fn wait(self) -> Result<(), SinkError> {
        self.wait.await.unwrap_or_else(|_| Err(SinkError::new("the state writer has stopped")))
    }
}

/// Starts the writer task. It persists whatever has queued up in one `persist` call (so a busy
/// apply writes in batches), on a blocking thread (a real sink fsyncs). It ends when every
/// `Journal` is dropped and returns the sink's first error, if any.
pub(crate) fn start_writer(
    sink: Box<dyn StateSink>,
) -> (Journal, tokio::task::JoinHandle<Option<SinkError>>) {
    let (sender, receiver) = mpsc::unbounded_channel();
    let handle = tokio::spawn(run_writer(sink, receiver));
    (Journal { sender }, handle)
}

async fn run_writer(
    mut sink: Box<dyn StateSink>,
    mut receiver: mpsc::UnboundedReceiver<WriteRequest>,
) -> Option<SinkError> {
    let mut first_error = None;
    while let Some(request) = receiver.recv().await {
        let mut requests = vec![request];
        while let Ok(more) = receiver.try_recv() {
            requests.push(more);
        }
        let records: Vec<JournalRecord> =
            requests.iter_mut().flat_map(|request| std::mem::take(&mut request.records)).collect();
        let (returned, result) = tokio::task::spawn_blocking(move || {
            let result = sink.persist(&records);
            (sink, result)
        })
        .await
        .unwrap_or_else(|join| std::panic::resume_unwind(join.into_panic()));
        sink = returned;
        if let Err(error) = &result {
            first_error.get_or_insert_with(|| error.clone());
        }
        for request in requests {
            let _ = request.done.send(result.clone());
        }
    }
    first_error
}
