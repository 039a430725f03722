//! Compaction: presence and lease renewals do not grow the log without bound, the
//! folded state is preserved, and readers holding old cursors are reset.

mod common;

use chain::format::encode_record;
use chain::{Cursor, FileStore, Follower, Options, State, Store};
use common::*;

fn small(dir: &std::path::Path) -> FileStore {
    FileStore::open_with(dir, Options { compact_after: 10 }).unwrap()
}

#[test]
fn compaction_preserves_state_and_resets_old_cursors() {
    let tmp = tempfile::tempdir().unwrap();
    let store = small(tmp.path());
    let mut appended = vec![network(1, "lab"), key(1, 1), key(1, 2), revoke(1, 1)];
    for ev in &appended {
        store.append(ev).unwrap();
    }
    let old = store.read_from(Cursor::START).unwrap().next;
    let mut follower = Follower::new();
    follower.poll(&store).unwrap();

    for i in 0..8 {
        appended.push(setting(1, "mtu", &(1300 + i).to_string()));
        appended.push(join(2, i));
    }
    appended.push(join(3, 0));
    appended.push(leave(3));
    let mut last = old;
    for ev in &appended[4..] {
        last = store.append(ev).unwrap();
    }
    let expected = State::fold(&appended);

    assert_ne!(last.epoch, old.epoch, "more than 10 superseded: compacted");
    let b = store.read_from(old).unwrap();
    assert!(b.reset, "an old cursor is reset");
    assert_eq!(State::fold(&b.events), expected);
    assert!(b.events.len() < appended.len());
    assert_eq!(b.next, last);

    let update = follower.poll(&store).unwrap();
    assert!(update.reset);
    assert_eq!(follower.state(), &expected);

    // A cursor returned after compaction is valid in the new log.
    store.append(&key(1, 3)).unwrap();
    let b = store.read_from(last).unwrap();
    assert!(!b.reset);
    assert_eq!(b.events, [key(1, 3)]);

    // Compacted completely, the log is the minimal list of events.
    let end = store
        .compact()
        .unwrap()
        .expect("renewals since the last compaction");
    let b = store.read_from(Cursor::START).unwrap();
    assert_eq!(b.next, end);
    assert_eq!(
        b.events,
        [
            network(1, "lab"),
            key(1, 1),
            key(1, 2),
            revoke(1, 1),
            setting(1, "mtu", "1307"),
            join(2, 7),
            key(1, 3)
        ]
    );
}

#[test]
fn presence_renewals_keep_the_log_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let store = small(tmp.path());
    store.append(&network(1, "lab")).unwrap();
    let mut max_len = 0;
    for i in 0..200 {
        store.append(&join(1, i)).unwrap();
        max_len = max_len.max(std::fs::metadata(store.log_path()).unwrap().len());
    }
    let b = store.read_from(Cursor::START).unwrap();
    assert!(b.events.len() <= 12, "{} records", b.events.len());
    assert!(max_len < 2_000, "log grew to {max_len} bytes");
    assert_eq!(State::fold(&b.events).node(&node_id(1)).unwrap().at_ms, 199);
}

#[test]
fn explicit_compaction_and_records_of_newer_versions() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStore::open(tmp.path()).unwrap();
    store.append(&network(1, "lab")).unwrap();
    assert_eq!(store.compact().unwrap(), None, "nothing superseded");

    let mut rec = Vec::new();
    encode_record(br#"{"type":"route_added","from":"a","to":"b"}"#, &mut rec);
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(store.log_path())
        .unwrap();
    std::io::Write::write_all(&mut f, &rec).unwrap();
    store.append(&join(1, 1)).unwrap();
    store.append(&join(1, 2)).unwrap();

    let cursor = store.compact().unwrap().expect("one renewal superseded");
    let b = store.read_from(Cursor::START).unwrap();
    assert_eq!(b.next, cursor);
    assert_eq!(b.events, [network(1, "lab"), join(1, 2)]);
    assert_eq!(
        b.skipped, 1,
        "a record this version cannot read survives compaction"
    );
    let bytes = std::fs::read(store.log_path()).unwrap();
    assert!(
        bytes.windows(rec.len()).any(|w| w == rec.as_slice()),
        "kept byte for byte"
    );
}

fn claim(mac: u8, ip: u8, at_ms: u64) -> chain::Event {
    chain::Event::LeaseClaimed {
        network: net_id(1),
        mac: format!("02:00:00:00:00:{mac:02x}"),
        ip: format!("10.1.0.{ip}"),
        client_id: None,
        hostname: None,
        node_id: "00000000000000aa".into(),
        at_ms,
        expires_ms: at_ms + 1000,
    }
}

#[test]
fn lease_renewals_releases_and_expiries_keep_the_log_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let store = small(tmp.path());
    let mut appended = vec![network(1, "lab")];
    // 5 clients renewing 40 times each; one releases, one is retired.
    for round in 0..40u64 {
        for c in 1..=5u8 {
            appended.push(claim(c, 10 + c, round * 500));
        }
    }
    appended.push(chain::Event::LeaseReleased {
        network: net_id(1),
        mac: "02:00:00:00:00:01".into(),
        ip: "10.1.0.11".into(),
        at_ms: 20_000,
    });
    appended.push(chain::Event::LeaseExpired {
        network: net_id(1),
        mac: "02:00:00:00:00:02".into(),
        ip: "10.1.0.12".into(),
        expires_ms: 39 * 500 + 1000,
    });
    for ev in &appended {
        store.append(ev).unwrap();
    }
    let expected = State::fold(&appended);
    assert_eq!(expected.leases(&net_id(1)).count(), 3);
    store.compact().unwrap();
    let b = store.read_from(Cursor::START).unwrap();
    assert_eq!(State::fold(&b.events), expected);
    // The network and the three live leases.
    assert_eq!(b.events.len(), 4, "{:?}", b.events);
}
