//! In-memory doubles of a migration's two collaborators, so the engine's tests run the real
//! orchestration ([`super::run_migration`]) against the test provider: a copier that moves no
//! data but records which phase ran against which endpoint, and a journal held in memory.
//! Behind the `test-support` feature.

use super::copy::{Copier, Dumps};
use super::protocol::{MigrationRecord, Phase};
use super::run::MigrationJournal;
use super::verify::{DatabaseCheck, SourceChecksums};
use super::{MigrateError, Progress};
use crate::model::ServerName;
use crate::providers::Connection;
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// A copier that copies nothing: each phase records `(phase, port)` (the source's port for
/// freeze and dump, the target's for restore) and succeeds; unfreezes are recorded apart.
#[derive(Debug, Clone, Default)]
pub struct MemoryCopier {
    calls: Arc<Mutex<Vec<(Phase, u16)>>>,
    unfrozen: Arc<Mutex<Vec<u16>>>,
}

impl MemoryCopier {
    /// The phases run so far, in order, with the port each ran against.
    pub fn calls(&self) -> Vec<(Phase, u16)> {
        self.calls.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// The ports of the sources unfrozen so far, in order.
    pub fn unfrozen(&self) -> Vec<u16> {
        self.unfrozen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn call(&self, phase: Phase, server: &Connection) -> Result<(), MigrateError> {
        self.calls
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((phase, server.endpoint.port));
        Ok(())
    }
}

#[async_trait]
impl Copier for MemoryCopier {
    async fn freeze(&self, source: &Connection, _work_dir: &Path) -> Result<(), MigrateError> {
        self.call(Phase::FreezeWrites, source)
    }

    async fn unfreeze(&self, source: &Connection, _work_dir: &Path) -> Result<(), MigrateError> {
        self.unfrozen.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(source.endpoint.port);
        Ok(())
    }

    async fn dump(
        &self,
        source: &Connection,
        _work_dir: &Path,
        _progress: Progress<'_>,
    ) -> Result<Dumps, MigrateError> {
        self.call(Phase::Dump, source).map(|()| Dumps::default())
    }

    async fn restore(
        &self,
        target: &Connection,
        _dumps: &Dumps,
        _progress: Progress<'_>,
    ) -> Result<(), MigrateError> {
        self.call(Phase::Restore, target)
    }

    async fn checksum_source(
        &self,
        _source: &Connection,
        _progress: Progress<'_>,
    ) -> Result<SourceChecksums, MigrateError> {
        Ok(SourceChecksums::default())
    }

    async fn analyze(&self, _target: &Connection) -> Result<(), MigrateError> {
        Ok(())
    }

    async fn verify(
        &self,
        _source: &Connection,
        target: &Connection,
        _checked: Option<&SourceChecksums>,
        _progress: Progress<'_>,
    ) -> Result<(Vec<DatabaseCheck>, Vec<String>), MigrateError> {
        self.call(Phase::Verify, target).map(|()| (Vec::new(), Vec::new()))
    }
}

/// One write to a migration journal: the server and its record (`None` when a migration ended).
pub(crate) type JournalWrite = (ServerName, Option<MigrationRecord>);

/// A migration journal in memory, shared by the runs of one test (as the state file is).
#[derive(Debug, Clone, Default)]
pub struct MemoryJournal {
    records: Arc<Mutex<BTreeMap<ServerName, MigrationRecord>>>,
    /// Every record written, in order (`None` when a migration ended).
    history: Arc<Mutex<Vec<JournalWrite>>>,
}

impl MemoryJournal {
    /// Every record written so far, in order.
    pub fn history(&self) -> Vec<JournalWrite> {
        self.history.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

#[async_trait]
impl MigrationJournal for MemoryJournal {
    fn unfinished(&self, server: &ServerName) -> Option<MigrationRecord> {
        self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(server).cloned()
    }

    async fn record(
        &self,
        server: &ServerName,
        record: Option<&MigrationRecord>,
    ) -> Result<(), MigrateError> {
        let mut records = self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match record {
            Some(record) => records.insert(server.clone(), record.clone()),
            None => records.remove(server),
        };
        self.history
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push((server.clone(), record.cloned()));
        Ok(())
    }
}
