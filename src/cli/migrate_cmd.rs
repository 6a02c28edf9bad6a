//! `pgfleet migrate abort SERVER`: abandons a migration an interrupted apply left unfinished,
//! as long as its cutover has not begun: the source's writes are unfrozen exactly as they were,
//! the staging server pgfleet made is deleted (it holds only a copy, so no `--allow-delete` is
//! asked for), the migration's work files are removed and the state forgets the migration.
//! From the cutover on it refuses: only `pgfleet apply` can finish a cutover safely.

use super::session;
use super::{GlobalArgs, Outcome, Printer};
use crate::migrate::{MigrateError, MigrationJournal, MigrationRecord, PgCopier, abort_migration};
use crate::model::{Address, ServerName};
use crate::providers::Connection;
use crate::state::{JournalRecord, LockedState};
use anyhow::{Context, bail};
use async_trait::async_trait;
use std::sync::Mutex;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum MigrateCommand {
    /// Abandon an unfinished migration before its cutover: unfreeze the source's writes and
    /// delete the staging server pgfleet made for it.
    Abort(AbortArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct AbortArgs {
    /// The server whose migration to abandon (`pay-main` or `servers.pay-main`).
    pub server: String,
}

/// Runs `pgfleet migrate abort`.
///
/// # Errors
/// When no unfinished migration of the server is recorded, its cutover has begun, or a step
/// fails (the record is then kept, so the abort can be run again).
pub(crate) fn run(
    global: &GlobalArgs,
    command: &MigrateCommand,
    printer: &Printer,
) -> anyhow::Result<Outcome> {
    let MigrateCommand::Abort(args) = command;
    let server = Address::server_named(&args.server);
    let fleet = session::load_fleet(global, printer)?;
    let mut locked = session::open_state(global, &fleet, &format!("migrate abort {server}"), printer)?;
    let Some(record) = locked.state().migrations.get(&server).cloned() else {
        bail!(
            "no unfinished migration of {server} is recorded in {}\nhint: `pgfleet plan` lists the migrations an \
             apply left unfinished first",
            locked.describe()
        );
    };
    if !record.phase.abortable() {
        bail!(
            "the cutover of {server} to {} has begun, so its migration can no longer be aborted\nhint: run \
             `pgfleet apply` to finish it",
            record.staging
        );
    }
    let password = session::resolve_password(&fleet, &server)?;
    let state_dir = super::state_backend::work_dir(global, &fleet);
    let provider = session::build_provider(&fleet, session::RetryReport::Verbose, printer)?;
    session::runtime()?.block_on(async {
        session::recover_interrupted(&mut locked, provider.as_ref(), printer).await?;
        let live = session::refresh(provider.as_ref()).await?;
        let source = match (live.get(&server).and_then(|observed| observed.endpoint.clone()), password) {
            (Some(endpoint), Some(password)) => Some(Connection { endpoint, password }),
            (Some(_), None) if record.writes_frozen_since.is_some() => bail!(
                "{server} has its writes frozen, and unfreezing them needs its admin password, which the fleet \
                 file no longer gives\nhint: put servers.{server} back in the fleet file, then run this again"
            ),
            _ => None,
        };
        let journal = StateJournal { locked: Mutex::new(&mut locked) };
        let copier = PgCopier { client_bindir: None };
        abort_migration(provider.as_ref(), &server, source.as_ref(), &copier, &journal, &state_dir)
            .await
            .with_context(|| format!("could not abort the migration of {server}; nothing else was changed"))
    })?;
    if let Err(error) = locked.compact() {
        return Err(super::state_backend::errored(&locked, error));
    }
    let unfrozen = if record.writes_frozen_since.is_some() { "writes unfrozen, " } else { "" };
    printer.info(&format!(
        "Aborted the migration of {server}: {unfrozen}staging server {} deleted. {server} is as it was; the next \
         `pgfleet plan` proposes the migration again while the fleet file asks for it.",
        record.staging
    ));
    Ok(Outcome::Success)
}

/// The state's journal as the abort writes to it: the migration's record, cleared when done.
struct StateJournal<'a> {
    locked: Mutex<&'a mut LockedState>,
}

#[async_trait]
impl MigrationJournal for StateJournal<'_> {
    fn unfinished(&self, server: &ServerName) -> Option<MigrationRecord> {
        let locked = self.locked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        locked.state().migrations.get(server).cloned()
    }

    async fn record(
        &self,
        server: &ServerName,
        record: Option<&MigrationRecord>,
    ) -> Result<(), MigrateError> {
        let mut locked = self.locked.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = JournalRecord::Migration { server: server.clone(), migration: record.cloned() };
        locked
            .append(&[entry])
            .map_err(|error| MigrateError::Invalid(format!("the state could not be saved: {error}")))
    }
}
