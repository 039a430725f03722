//! The embedded backend: appends, reads, permissions, replay, torn tails.

mod common;

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;

use chain::format::{encode_record, HEADER_LEN};
use chain::{Cursor, Error, Event, FileStore, State, Store};
use common::*;

fn all(store: &FileStore) -> Vec<Event> {
    store.read_from(Cursor::START).unwrap().events
}

fn append_raw(store: &FileStore, bytes: &[u8]) {
    let mut f = OpenOptions::new()
        .append(true)
        .open(store.log_path())
        .unwrap();
    f.write_all(bytes).unwrap();
}

fn log_len(store: &FileStore) -> u64 {
    std::fs::metadata(store.log_path()).unwrap().len()
}

#[test]
fn creates_dir_0700_and_files_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data").join("chain");
    let store = FileStore::open(&dir).unwrap();
    store.append(&network(1, "lab")).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&tmp.path().join("data")), 0o700);
    assert_eq!(mode(&dir.join(chain::file_store::LOG_FILE)), 0o600);
    assert_eq!(mode(&dir.join(chain::file_store::LOCK_FILE)), 0o600);
}

#[test]
fn appends_read_back_in_order_from_any_cursor() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStore::open(tmp.path()).unwrap();
    let evs = [network(1, "lab"), key(1, 7), join(1, 10)];
    let mut cursors = vec![];
    for ev in &evs {
        cursors.push(store.append(ev).unwrap());
    }
    assert_eq!(all(&store), evs);
    let b = store.read_from(cursors[0]).unwrap();
    assert_eq!(b.events, evs[1..]);
    assert!(!b.reset);
    assert_eq!(b.next, cursors[2]);
    let b = store.read_from(cursors[2]).unwrap();
    assert!(b.events.is_empty());
    assert_eq!(b.next, cursors[2]);
    assert!(!store.changed_since(cursors[2]).unwrap());
    assert!(store.changed_since(cursors[1]).unwrap());
    assert!(store.changed_since(Cursor::START).unwrap());
}

#[test]
fn replay_folds_to_the_same_state_after_reopen() {
    let tmp = tempfile::tempdir().unwrap();
    let evs = vec![
        network(1, "lab"),
        network(2, "lab"), // name taken: ignored
        network(2, "office"),
        key(1, 5),
        key(2, 6),
        revoke(1, 5),
        setting(2, "mtu", "1380"),
        join(1, 1),
        join(2, 1),
        leave(1),
    ];
    let expected = State::fold(&evs);
    {
        let store = FileStore::open(tmp.path()).unwrap();
        for ev in &evs {
            store.append(ev).unwrap();
        }
        assert_eq!(State::fold(all(&store)), expected);
        assert_eq!(State::fold(all(&store)), expected);
    }
    let reopened = FileStore::open(tmp.path()).unwrap();
    let folded = State::fold(all(&reopened));
    assert_eq!(folded, expected);
    assert_eq!(folded.network_by_name("lab").unwrap().id, net_id(1));
    assert_eq!(folded.live_keys(&net_id(1)).count(), 0);
    assert_eq!(
        folded
            .nodes()
            .map(|(id, _)| id.to_owned())
            .collect::<Vec<_>>(),
        [node_id(2)]
    );
}

#[test]
fn invalid_and_oversized_events_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStore::open(tmp.path()).unwrap();
    let bad = Event::KeyRevoked {
        network: "not-hex".into(),
        key_id: 1,
    };
    assert!(matches!(store.append(&bad), Err(Error::Invalid(_))));
    let huge = Event::NodeJoined {
        node_id: node_id(1),
        advertise: vec!["[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535".into(); 16],
        at_ms: 0,
    };
    assert!(store.append(&huge).is_ok(), "16 addresses fit in a record");
    assert_eq!(all(&store).len(), 1);
}

/// What a writer killed mid-append leaves: every prefix of a record, plus
/// garbage and a complete record with a bad checksum.
#[test]
fn torn_tail_is_skipped_by_readers_and_truncated_by_the_next_append() {
    let mut framed = Vec::new();
    encode_record(&serde_json::to_vec(&key(1, 99)).unwrap(), &mut framed);
    let mut bad_crc = framed.clone();
    *bad_crc.last_mut().unwrap() ^= 0x20;
    let mut tails: Vec<Vec<u8>> = (1..framed.len())
        .step_by(7)
        .map(|n| framed[..n].to_vec())
        .collect();
    tails.push(bad_crc);
    tails.push(vec![0; 40]);
    tails.push(vec![0xff; 3]);
    tails.push(b"\x00\x00\x00\x10garbage".to_vec());

    for tail in tails {
        let tmp = tempfile::tempdir().unwrap();
        let store = FileStore::open(tmp.path()).unwrap();
        store.append(&network(1, "lab")).unwrap();
        let intact = store.append(&key(1, 1)).unwrap();
        append_raw(&store, &tail);

        let b = store.read_from(Cursor::START).unwrap();
        assert_eq!(b.events, [network(1, "lab"), key(1, 1)], "tail {tail:?}");
        assert_eq!(b.next, intact);
        assert!(store.read_from(intact).unwrap().events.is_empty());

        // A fresh process (new FileStore) appends: the tail goes first.
        let other = FileStore::open(tmp.path()).unwrap();
        other.append(&key(1, 2)).unwrap();
        assert_eq!(all(&store), [network(1, "lab"), key(1, 1), key(1, 2)]);
        let mut expected_len = intact.offset;
        let mut rec = Vec::new();
        encode_record(&serde_json::to_vec(&key(1, 2)).unwrap(), &mut rec);
        expected_len += rec.len() as u64;
        assert_eq!(
            log_len(&store),
            expected_len,
            "no garbage left: tail {tail:?}"
        );
    }
}

#[test]
fn damage_followed_by_intact_records_is_reported_not_truncated() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStore::open(tmp.path()).unwrap();
    // `append` returns the cursor past the event: where the next one starts.
    let second = store.append(&network(1, "lab")).unwrap();
    store.append(&key(1, 1)).unwrap();
    store.append(&key(1, 2)).unwrap();
    // Flip a byte in the body of the second record.
    let mut bytes = std::fs::read(store.log_path()).unwrap();
    bytes[second.offset as usize + 20] ^= 0x01;
    std::fs::write(store.log_path(), &bytes).unwrap();

    let b = store.read_from(Cursor::START).unwrap();
    assert_eq!(
        b.events,
        [network(1, "lab")],
        "what precedes the damage is delivered"
    );
    assert!(
        matches!(store.read_from(b.next), Err(Error::Corrupt { offset, .. }) if offset == second.offset)
    );
    // A writer that has not read past the damage yet (another process, or
    // this one restarted) refuses to append rather than cut the log there.
    let other = FileStore::open(tmp.path()).unwrap();
    assert!(matches!(
        other.append(&key(1, 3)),
        Err(Error::Corrupt { .. })
    ));
    assert_eq!(
        std::fs::read(store.log_path()).unwrap(),
        bytes,
        "nothing was truncated"
    );
}

#[test]
fn unknown_kinds_are_skipped_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStore::open(tmp.path()).unwrap();
    store.append(&network(1, "lab")).unwrap();
    let mut rec = Vec::new();
    encode_record(br#"{"type":"route_added","from":"a","to":"b"}"#, &mut rec);
    append_raw(&store, &rec);
    store.append(&key(1, 1)).unwrap();
    let b = store.read_from(Cursor::START).unwrap();
    assert_eq!(b.events, [network(1, "lab"), key(1, 1)]);
    assert_eq!(b.skipped, 1);
}

/// A record of a kind a future version writes, between known ones: readers,
/// followers, the writer's fold and a reopened store all skip it, count it
/// and carry on; nothing fails.
#[test]
fn a_future_event_kind_is_skipped_and_counted_not_fatal() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStore::open(tmp.path()).unwrap();
    store.append(&network(1, "lab")).unwrap();
    let mut rec = Vec::new();
    encode_record(
        br#"{"type":"quantum_tunnel_opened","network":"0101","at_ms":1,"extra":{"x":[1,2]}}"#,
        &mut rec,
    );
    append_raw(&store, &rec);
    // A newer version of a known kind whose fields this one cannot decode.
    let mut rec2 = Vec::new();
    encode_record(br#"{"type":"key_issued","network":17}"#, &mut rec2);
    append_raw(&store, &rec2);
    store.append(&key(1, 1)).unwrap(); // the writer folds past them

    let mut follower = chain::Follower::new();
    let update = follower.poll(&store).unwrap();
    assert_eq!(update.events, [network(1, "lab"), key(1, 1)]);
    assert_eq!(follower.skipped(), 2);
    assert_eq!(
        follower.state(),
        &State::fold([network(1, "lab"), key(1, 1)])
    );

    let reopened = FileStore::open(tmp.path()).unwrap();
    reopened.append(&key(1, 2)).unwrap();
    let b = reopened.read_from(Cursor::START).unwrap();
    assert_eq!(b.events, [network(1, "lab"), key(1, 1), key(1, 2)]);
    assert_eq!(b.skipped, 2);
    // Reading on from the follower's cursor skips nothing new.
    let update = follower.poll(&reopened).unwrap();
    assert_eq!(update.events, [key(1, 2)]);
    assert_eq!(follower.skipped(), 2);
}

#[test]
fn a_foreign_file_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("chain.log"),
        b"this is not a chain log at all",
    )
    .unwrap();
    assert!(matches!(
        FileStore::open(tmp.path()),
        Err(Error::BadHeader { .. })
    ));
}

#[test]
fn a_log_shorter_than_its_header_is_recreated() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("chain.log"), b"ATECH").unwrap();
    let store = FileStore::open(tmp.path()).unwrap();
    assert_eq!(log_len(&store), HEADER_LEN);
    store.append(&network(1, "lab")).unwrap();
    assert_eq!(all(&store).len(), 1);
}
