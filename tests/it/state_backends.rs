//! The guarantees every state backend gives, checked through the library on the local file,
//! Azurite and a real PostgreSQL alike: one lock holder at a time, named to the others; a write
//! over a state that moved since it was read is refused (so a writer whose lock was broken
//! cannot overwrite the new holder's state); the previous state is kept as the backup.

use crate::team_support::{AZURITE_ACCOUNT, AZURITE_KEY, Azurite, StateDatabase};
use pgfleet::secret::Redacted;
use pgfleet::state::{
    AzurermConfig, BackendConfig, BlobAuth, LockWait, PgConfig, StateBackend, StateError, StateStore,
};

fn open(config: &BackendConfig, command: &str) -> Result<pgfleet::state::LockedState, StateError> {
    StateStore::open_in(StateBackend::open(config).unwrap(), "payments", command, LockWait::NEVER)
}

/// What every backend must do.
fn check_guarantees(config: &BackendConfig) {
    let mut first = open(config, "pgfleet apply").unwrap();
    assert!(first.state().servers.is_empty());
    first.append(&[crate::common::started("c1", "pay-main")]).unwrap();
    let serial = first.state().serial;

    let error = open(config, "pgfleet plan").unwrap_err();
    let StateError::Locked { holder: Some(holder), .. } = &error else { panic!("{error}") };
    assert_eq!((holder.pid, holder.command.as_str()), (std::process::id(), "pgfleet apply"));

    // The lock is broken under the first holder; a second one writes twice.
    let broken = StateBackend::open(config).unwrap().force_unlock().unwrap();
    assert_eq!(broken.map(|holder| holder.command), Some("pgfleet apply".to_string()));
    let mut second = open(config, "pgfleet refresh").unwrap();
    assert_eq!(second.state().in_flight.len(), 1, "the journal is read with the state");
    let mut state = second.state().clone();
    state.in_flight.clear();
    second.write(state.clone()).unwrap();
    second.write(state).unwrap();
    assert_eq!(second.state().serial, serial + 2);
    drop(second);

    // The first holder's write would overwrite them: refused, naming both versions.
    let error = first.write(first.state().clone()).unwrap_err();
    match &error {
        StateError::Conflict { expected, found, .. } => {
            assert_eq!(expected.map(|(_, serial)| serial), Some(serial));
            assert_eq!(found.map(|(_, serial)| serial), Some(serial + 2));
        }
        StateError::LockLost { .. } => {}
        other => panic!("expected a conflict, got {other}"),
    }
    drop(first);
    let read = StateBackend::open(config).unwrap().read().unwrap();
    assert_eq!(read.state.serial, serial + 2);
    assert!(read.state.in_flight.is_empty());
}

#[test]
fn the_local_file_gives_the_guarantees() {
    let dir = tempfile::tempdir().unwrap();
    check_guarantees(&BackendConfig::Local { path: dir.path().join("payments.state.json") });
}

#[test]
fn blob_storage_gives_the_guarantees() {
    let azurite = Azurite::start();
    check_guarantees(&BackendConfig::Azurerm(AzurermConfig {
        account: AZURITE_ACCOUNT.into(),
        container: "contract".into(),
        key: "payments.state.json".into(),
        endpoint: azurite.endpoint(),
        auth: BlobAuth::SharedKey(Redacted::new(AZURITE_KEY.into())),
    }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgresql_gives_the_guarantees() {
    let database = StateDatabase::start().await;
    let config = BackendConfig::Pg(PgConfig {
        conn_str: Redacted::new(database.conn_str()),
        schema: "contract".into(),
        name: "payments".into(),
    });
    tokio::task::spawn_blocking(move || check_guarantees(&config)).await.unwrap();
}
