//! Tests of the journal through the store: a crash that cuts the journal at any byte, and
//! random sequences of appends, compactions and reopenings that must read back as recorded.

use super::journal::journal_path;
use super::tests_support::{observed, started};
use super::*;
use crate::model::ServerName;
use proptest::prelude::*;

#[test]
fn a_journal_cut_at_any_byte_reads_as_the_records_before_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    let mut store = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
    store.append(&[started("c1", "pay-main")]).unwrap();
    let journal = journal_path(&path);
    let before_last = std::fs::read(&journal).unwrap().len();
    let state_before_last = store.state().clone();
    let last = JournalRecord::Finished {
        change_id: "c1".into(),
        outcome: RecordOutcome::Upsert(observed("pay-main", 8)),
        configured_storage_gb: Some(100),
        configured_zone: None,
        configured_carried: None,
    };
    store.append(std::slice::from_ref(&last)).unwrap();
    let state_after_last = store.state().clone();
    drop(store);
    let full = std::fs::read(&journal).unwrap();

    for cut in before_last..full.len() {
        std::fs::write(&journal, &full[..cut]).unwrap();
        let read = read_state_with_notes(&path).unwrap();
        assert_eq!(read.state, state_before_last, "cut at byte {cut}");
        assert_eq!(read.notes.len(), usize::from(cut > before_last), "cut at byte {cut}: {:?}", read.notes);
    }
    std::fs::write(&journal, &full).unwrap();
    assert_eq!(read_state(&path).unwrap(), state_after_last);
}

#[test]
fn the_open_state_can_move_to_the_executors_writer_task() {
    fn assert_send<T: Send + 'static>() {}
    assert_send::<LockedState>();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("payments.state.json");
    let mut store = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
    let writer = std::thread::spawn(move || {
        store.append(&[started("c1", "pay-main")]).unwrap();
        store.state().in_flight.len()
    });
    assert_eq!(writer.join().unwrap(), 1);
}

/// One operation of a random apply.
#[derive(Debug, Clone)]
enum Operation {
    Append(Vec<JournalRecord>),
    Compact,
    /// Drop the store and open it again, as the next command would.
    Reopen,
}

fn record() -> impl Strategy<Value = JournalRecord> {
    let server = (0..4usize).prop_map(|index| format!("pay-{index}"));
    let change = (0..3usize).prop_map(|index| format!("c{index}"));
    prop_oneof![
        (server.clone(), prop::sample::select(vec![2u32, 4, 8])).prop_map(|(name, vcores)| {
            JournalRecord::Observed { outcome: RecordOutcome::Upsert(observed(&name, vcores)) }
        }),
        (change.clone(), server.clone()).prop_map(|(change, name)| started(&change, &name)),
        (change, server).prop_map(|(change, name)| JournalRecord::Finished {
            change_id: change,
            outcome: RecordOutcome::Remove(ServerName::new(name)),
            configured_storage_gb: None,
            configured_zone: None,
            configured_carried: None,
        }),
    ]
}

fn operation() -> impl Strategy<Value = Operation> {
    prop_oneof![
        4 => prop::collection::vec(record(), 1..4).prop_map(Operation::Append),
        1 => Just(Operation::Compact),
        1 => Just(Operation::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn whatever_is_appended_reads_back_as_recorded(operations in prop::collection::vec(operation(), 1..10)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("payments.state.json");
        let mut store = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
        let mut expected = State::new("payments");
        for operation in operations {
            match operation {
                Operation::Append(records) => {
                    store.append(&records).unwrap();
                    records.iter().for_each(|record| expected.apply_record(record));
                }
                Operation::Compact => store.compact().unwrap(),
                Operation::Reopen => {
                    drop(store);
                    store = StateStore::open(&path, "payments", "pgfleet apply").unwrap();
                }
            }
            prop_assert_eq!(&store.state().servers, &expected.servers);
            prop_assert_eq!(&store.state().in_flight, &expected.in_flight);
        }
        let in_memory = store.state().clone();
        drop(store);
        if path.exists() {
            prop_assert_eq!(read_state(&path).unwrap(), in_memory);
        }
    }
}
