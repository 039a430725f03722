//! No bytes in the log make a reader or writer panic; a random tail is a torn
//! tail that the next append removes.

mod common;

use std::sync::OnceLock;

use chain::format::{scan, Stop};
use chain::{Cursor, Event, FileStore, Follower, Store};
use common::*;
use proptest::prelude::*;

fn base_events() -> Vec<Event> {
    vec![
        network(1, "lab"),
        key(1, 1),
        join(1, 5),
        setting(1, "nat", "on"),
        revoke(1, 1),
    ]
}

/// The bytes of a log holding `base_events()`, made once.
fn base_log() -> &'static [u8] {
    static LOG: OnceLock<Vec<u8>> = OnceLock::new();
    LOG.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::open(tmp.path()).unwrap();
        for ev in base_events() {
            store.append(&ev).unwrap();
        }
        std::fs::read(store.log_path()).unwrap()
    })
}

fn store_with(bytes: &[u8]) -> (tempfile::TempDir, FileStore) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join(chain::file_store::LOG_FILE), bytes).unwrap();
    let store = FileStore::open(tmp.path()).unwrap();
    (tmp, store)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_tail_is_torn_and_truncated(tail in proptest::collection::vec(any::<u8>(), 1..300)) {
        let mut bytes = base_log().to_vec();
        bytes.extend_from_slice(&tail);
        let (_tmp, store) = store_with(&bytes);
        let b = store.read_from(Cursor::START).unwrap();
        prop_assert_eq!(&b.events, &base_events());
        store.append(&key(1, 2)).unwrap();
        let mut expected = base_events();
        expected.push(key(1, 2));
        prop_assert_eq!(store.read_from(Cursor::START).unwrap().events, expected);
    }

    #[test]
    fn flipped_bytes_never_panic(flips in proptest::collection::vec((any::<usize>(), 1u8..=255), 1..8)) {
        let mut bytes = base_log().to_vec();
        for (at, mask) in flips {
            let n = bytes.len();
            bytes[at % n] ^= mask;
        }
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(chain::file_store::LOG_FILE), &bytes).unwrap();
        // A damaged header is refused at open; anything else opens.
        if let Ok(store) = FileStore::open(tmp.path()) {
            if let Ok(b) = store.read_from(Cursor::START) {
                // What is delivered is a prefix of what was written, or decodes
                // to something else only where a flip kept its CRC valid (never).
                prop_assert!(base_events().starts_with(&b.events));
            }
            let _ = Follower::new().poll(&store);
            let _ = store.changed_since(Cursor::START);
            let _ = store.append(&key(1, 2));
            let _ = store.read_from(Cursor::START);
        }
    }

    #[test]
    fn truncation_anywhere_never_panics(cut in 0usize..2000) {
        let bytes = base_log();
        let cut = cut % (bytes.len() + 1);
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join(chain::file_store::LOG_FILE), &bytes[..cut]).unwrap();
        let store = FileStore::open(tmp.path()).unwrap();
        let b = store.read_from(Cursor::START).unwrap();
        prop_assert!(base_events().starts_with(&b.events));
    }
}

proptest! {
    #[test]
    fn scan_of_arbitrary_bytes_is_consistent(bytes in proptest::collection::vec(any::<u8>(), 0..2000), base in 0u64..1 << 40) {
        let s = scan(&bytes, base);
        let framed: usize = s.records.iter().map(|r| r.framed.len()).sum();
        prop_assert_eq!(s.end, base + framed as u64);
        match s.stop {
            Stop::End => prop_assert_eq!(framed, bytes.len()),
            Stop::Torn { offset, .. } | Stop::Corrupt { offset, .. } => prop_assert_eq!(offset, s.end),
        }
    }
}
