//! Several processes sharing one data directory, as nodes in different
//! network namespaces do. The test binary re-runs itself (`current_exe`) with
//! `CHAIN_TEST_CHILD` set, selecting only the `child` test, which then acts
//! as one writer process.

mod common;

use std::process::{Child, Command, Stdio};

use chain::format::{scan, Stop, HEADER_LEN};
use chain::{Cursor, Event, FileStore, Follower, Options, State, Store};
use common::*;

const CHILD: &str = "CHAIN_TEST_CHILD";
const DIR: &str = "CHAIN_TEST_DIR";
/// More writers than cores (2 here) so that appends really contend.
const WRITERS: u32 = 4;
const KEYS_PER_WRITER: u32 = 250;
const RENEWALS_PER_WRITER: u64 = 300;
const COMPACT_AFTER: u64 = 50;

/// Key ids of writer `w`: its number in the top byte, its sequence below.
fn writer_key(w: u32, i: u32) -> u32 {
    (w << 24) | i
}

/// Runs only inside a child process (a no-op in the normal test run).
#[test]
fn child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let dir = std::env::var(DIR).unwrap();
    let (mode, w) = mode.split_once(':').unwrap();
    let w: u32 = w.parse().unwrap();
    match mode {
        "keys" => {
            let store = FileStore::open(&dir).unwrap();
            for i in 0..KEYS_PER_WRITER {
                store.append(&key(1, writer_key(w, i))).unwrap();
            }
        }
        "presence" => {
            let options = Options {
                compact_after: COMPACT_AFTER,
            };
            let store = FileStore::open_with(&dir, options).unwrap();
            for i in 0..RENEWALS_PER_WRITER {
                store.append(&join(u64::from(w), i)).unwrap();
                if i % 10 == 0 {
                    store.append(&key(1, writer_key(w, i as u32))).unwrap();
                }
            }
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn spawn(mode: &str, w: u32, dir: &std::path::Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("{mode}:{w}"))
        .env(DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn assert_success(child: Child) {
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "child failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn processes_appending_concurrently_lose_and_interleave_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStore::open(tmp.path()).unwrap();
    store.append(&network(1, "lab")).unwrap();

    let children: Vec<Child> = (1..=WRITERS)
        .map(|w| spawn("keys", w, tmp.path()))
        .collect();
    children.into_iter().for_each(assert_success);

    // Every record is intact, back to back, to the end of the file.
    let bytes = std::fs::read(store.log_path()).unwrap();
    let s = scan(&bytes[HEADER_LEN as usize..], HEADER_LEN);
    assert_eq!(s.stop, Stop::End);
    assert_eq!(s.end, bytes.len() as u64);
    assert_eq!(s.records.len(), 1 + (WRITERS * KEYS_PER_WRITER) as usize);

    let batch = store.read_from(Cursor::START).unwrap();
    assert_eq!(batch.skipped, 0);
    for w in 1..=WRITERS {
        let mine: Vec<u32> = batch
            .events
            .iter()
            .filter_map(|ev| match ev {
                Event::KeyIssued { key_id, .. } if key_id >> 24 == w => Some(*key_id),
                _ => None,
            })
            .collect();
        let expected: Vec<u32> = (0..KEYS_PER_WRITER).map(|i| writer_key(w, i)).collect();
        assert_eq!(mine, expected, "writer {w}: all present, in its own order");
    }
    let state = State::fold(&batch.events);
    assert_eq!(
        state.live_keys(&net_id(1)).count(),
        (WRITERS * KEYS_PER_WRITER) as usize
    );
}

#[test]
fn compaction_with_concurrent_writers_and_a_following_reader() {
    let tmp = tempfile::tempdir().unwrap();
    let store = FileStore::open(tmp.path()).unwrap();
    store.append(&network(1, "lab")).unwrap();
    let epoch_before = store.read_from(Cursor::START).unwrap().next.epoch;

    let mut children = vec![
        spawn("presence", 1, tmp.path()),
        spawn("presence", 2, tmp.path()),
    ];
    // Follow the log while they write; resets are handled by the follower.
    let mut follower = Follower::new();
    while children.iter_mut().any(|c| c.try_wait().unwrap().is_none()) {
        follower.poll(&store).unwrap();
        std::thread::yield_now();
    }
    children.into_iter().for_each(assert_success);
    follower.poll(&store).unwrap();

    let batch = store.read_from(Cursor::START).unwrap();
    let state = State::fold(&batch.events);
    assert_eq!(
        follower.state(),
        &state,
        "a follower through compactions sees the same state"
    );
    assert_ne!(batch.next.epoch, epoch_before, "the log was compacted");
    let appended = 1 + 2 * (RENEWALS_PER_WRITER + RENEWALS_PER_WRITER / 10);
    assert!((batch.events.len() as u64) < appended);
    for w in 1..=2u64 {
        assert_eq!(
            state.node(&node_id(w)).unwrap().at_ms,
            RENEWALS_PER_WRITER - 1
        );
    }
    assert_eq!(
        state.live_keys(&net_id(1)).count() as u64,
        2 * RENEWALS_PER_WRITER / 10,
        "no key was lost by a compaction"
    );
}
