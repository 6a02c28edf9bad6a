//! A small async runtime owned by a remote backend, so that the store's blocking calls can be
//! made from anywhere — the command's own runtime included (the executor's journal writer calls
//! from a blocking thread of it) — and so that work the lock needs (renewing a lease, keeping
//! the advisory lock's session open) goes on for as long as pgfleet runs, whatever the command's
//! runtime does. It owns no I/O of its own.

use std::future::Future;

/// A runtime of one worker thread, shut down (without waiting) when the last user drops it.
#[derive(Debug)]
pub(crate) struct Bridge {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Bridge {
    /// Starts the runtime.
    ///
    /// # Errors
    /// When the OS refuses a thread.
    pub(crate) fn new() -> std::io::Result<Bridge> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("pgfleet-state")
            .enable_all()
            .build()?;
        Ok(Bridge { runtime: Some(runtime) })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.runtime.as_ref().expect("the runtime lives until drop").handle()
    }

    /// Runs `future` on the bridge's runtime and blocks the calling thread until it ends. Must
    /// not be called from the bridge's own runtime.
    pub(crate) fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        self.handle().spawn(async move {
            let _ = sender.send(future.await);
        });
        match receiver.recv() {
            Ok(output) => output,
            // The task panicked; its panic message is already printed.
            Err(_) => panic!("a state backend task panicked"),
        }
    }

    /// Starts `future` in the background; it stops when its handle is aborted or the bridge is
    /// dropped.
    pub(crate) fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.handle().spawn(future)
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        // Dropping a runtime waits for its tasks, which is not allowed inside another runtime
        // (where a command may drop its state); everything that had to finish has finished.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Bridge;

    #[test]
    fn runs_from_inside_another_runtime_and_drops_there() {
        let outer = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        outer.block_on(async {
            let bridge = Bridge::new().unwrap();
            let answer = bridge.run(async {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                42
            });
            assert_eq!(answer, 42);
            drop(bridge);
        });
    }
}
