//! The embedded backend: one log file in the data directory.
//!
//! Files in `DIR` (created 0700 if missing):
//! - `chain.log` (0600): header + records, see [`crate::format`];
//! - `chain.lock` (0600): the `flock` target. The log itself is not locked
//!   because compaction replaces it by rename; the lock file is never
//!   replaced (and must not be deleted while nodes run);
//! - `chain.log.tmp`: a snapshot or fresh log being written (under the lock).
//!
//! Rules, which hold across processes sharing `DIR` (several nodes in
//! different network namespaces on one host; local file systems only):
//! - **Writers** take the exclusive lock, bring their folded view up to the
//!   end of the log, truncate a torn tail (a writer that died mid-append),
//!   append one record with a single positioned write, and `fdatasync` before
//!   the lock is released and before `append` returns. So at most the last
//!   record can ever be torn, and an acknowledged event is on disk.
//! - **Readers** take the shared lock while they read, so they never see a
//!   record half written; a torn tail left by a dead writer is skipped, not
//!   an error. Damage that is not a torn tail (an intact record after a bad
//!   one) is never truncated: it is reported as [`Error::Corrupt`].
//! - **Compaction**: after an append, if more than
//!   [`Options::compact_after`] records are superseded (renewed presence,
//!   nodes that left, overwritten settings), the writer, still under the
//!   lock, writes the live records (see `liveness.rs`) to
//!   `chain.log.tmp` with the next epoch in its header, syncs it and renames
//!   it over `chain.log`. A reader whose cursor names the old epoch gets
//!   `reset`.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Error, Result};
use crate::event::Event;
use crate::files::{self, LockGuard};
use crate::format::{self, Stop, HEADER_LEN, MAX_RECORD_LEN};
use crate::liveness::Tracker;
use crate::store::{Batch, Cursor, Store};

/// The log's file name in the data directory.
pub const LOG_FILE: &str = "chain.log";
/// The lock file's name in the data directory.
pub const LOCK_FILE: &str = "chain.lock";
const TMP_FILE: &str = "chain.log.tmp";

/// Tunables of a [`FileStore`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Compact when more than this many records are superseded.
    pub compact_after: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            compact_after: 1024,
        }
    }
}

/// A chain kept in a data directory. Cheap to share (`Arc`) between threads;
/// any number of processes may open the same directory.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    log: PathBuf,
    lock: PathBuf,
    tmp: PathBuf,
    options: Options,
    /// The writer's folded view of the log (for torn-tail detection and the
    /// compaction decision), kept between appends so that an append reads
    /// only what other writers added since. `None` until the first write.
    writer: Mutex<Option<Tracker>>,
}

impl FileStore {
    /// Opens (creating if missing) the chain in `dir` with default options.
    pub fn open(dir: impl AsRef<Path>) -> Result<FileStore> {
        FileStore::open_with(dir, Options::default())
    }

    /// Opens (creating if missing) the chain in `dir`.
    pub fn open_with(dir: impl AsRef<Path>, options: Options) -> Result<FileStore> {
        let dir = dir.as_ref().to_path_buf();
        files::create_dir(&dir)?;
        let store = FileStore {
            log: dir.join(LOG_FILE),
            lock: dir.join(LOCK_FILE),
            tmp: dir.join(TMP_FILE),
            dir,
            options,
            writer: Mutex::new(None),
        };
        let _lock = LockGuard::acquire(&store.lock, true)?;
        store.open_log_for_write()?;
        Ok(store)
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The log file.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Compacts now if any record is superseded. Returns the cursor at the
    /// end of the new log, or `None` if there was nothing to drop.
    pub fn compact(&self) -> Result<Option<Cursor>> {
        let mut writer = self.writer.lock().unwrap_or_else(PoisonError::into_inner);
        let _lock = LockGuard::acquire(&self.lock, true)?;
        let (mut log, epoch) = self.open_log_for_write()?;
        let tracker = self.catch_up(&mut writer, &mut log, epoch)?;
        if tracker.superseded() == 0 {
            return Ok(None);
        }
        self.compact_locked(tracker, &mut log)
    }

    /// Opens the log read-write, creating it (header only) if it is missing
    /// or shorter than a header: such a file holds no record, so nothing is
    /// lost. Caller holds the exclusive lock.
    fn open_log_for_write(&self) -> Result<(File, u64)> {
        match OpenOptions::new().read(true).write(true).open(&self.log) {
            Ok(mut f) => {
                let len = f.metadata().map_err(Error::io("stat", &self.log))?.len();
                if len >= HEADER_LEN {
                    let epoch = self.read_header(&mut f)?;
                    return Ok((f, epoch));
                }
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io("opening", &self.log)(e)),
        }
        let epoch = fresh_epoch();
        files::replace_atomically(
            &self.dir,
            &self.tmp,
            &self.log,
            &format::encode_header(epoch),
        )?;
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.log)
            .map_err(Error::io("opening", &self.log))?;
        Ok((f, epoch))
    }

    fn read_header(&self, f: &mut File) -> Result<u64> {
        let mut h = [0u8; HEADER_LEN as usize];
        f.seek(SeekFrom::Start(0))
            .and_then(|_| f.read_exact(&mut h))
            .map_err(|e| match e.kind() {
                ErrorKind::UnexpectedEof => Error::BadHeader {
                    path: self.log.clone(),
                    reason: "shorter than its header",
                },
                _ => Error::io("reading", &self.log)(e),
            })?;
        format::decode_header(&h).map_err(|reason| Error::BadHeader {
            path: self.log.clone(),
            reason,
        })
    }

    fn read_tail(&self, f: &mut File, from: u64) -> Result<Vec<u8>> {
        let mut buf = Vec::new();
        f.seek(SeekFrom::Start(from))
            .and_then(|_| f.read_to_end(&mut buf))
            .map_err(Error::io("reading", &self.log))?;
        Ok(buf)
    }

    /// Brings the writer's view to the end of the log, truncating a torn
    /// tail. Caller holds the exclusive lock.
    fn catch_up<'t>(
        &self,
        writer: &'t mut Option<Tracker>,
        log: &mut File,
        epoch: u64,
    ) -> Result<&'t mut Tracker> {
        let len = log.metadata().map_err(Error::io("stat", &self.log))?.len();
        if !matches!(writer, Some(t) if t.epoch == epoch && t.end <= len) {
            // First write, or the log was compacted or replaced meanwhile.
            *writer = Some(Tracker::new(epoch));
        }
        let tracker = writer.get_or_insert_with(|| Tracker::new(epoch));
        let buf = self.read_tail(log, tracker.end)?;
        let scan = format::scan(&buf, tracker.end);
        for r in &scan.records {
            tracker.fold_record(r.offset, r.framed.len(), r.body);
        }
        match scan.stop {
            Stop::End => {}
            Stop::Torn { offset, .. } => {
                log.set_len(offset)
                    .and_then(|()| log.sync_data())
                    .map_err(Error::io("truncating torn tail of", &self.log))?;
            }
            Stop::Corrupt { offset, reason } => {
                return Err(Error::Corrupt {
                    path: self.log.clone(),
                    offset,
                    reason,
                })
            }
        }
        Ok(tracker)
    }

    /// Rewrites the log as its live records under a new epoch. Caller holds
    /// the exclusive lock and `tracker` is at the end of `log`.
    fn compact_locked(&self, tracker: &mut Tracker, log: &mut File) -> Result<Option<Cursor>> {
        let buf = self.read_tail(log, HEADER_LEN)?;
        let scan = format::scan(&buf, HEADER_LEN);
        if scan.stop != Stop::End {
            return Ok(None); // only ever compact a log read to its end
        }
        let live = tracker.live_offsets();
        let epoch = next_epoch(tracker.epoch);
        let mut out = format::encode_header(epoch).to_vec();
        let mut fresh = Tracker::new(epoch);
        for r in scan.records.iter().filter(|r| live.contains(&r.offset)) {
            fresh.fold_record(out.len() as u64, r.framed.len(), r.body);
            out.extend_from_slice(r.framed);
        }
        // Insurance against a liveness bug: never replace the log with a
        // snapshot that folds differently.
        if fresh.state() != tracker.state() {
            return Ok(None);
        }
        files::replace_atomically(&self.dir, &self.tmp, &self.log, &out)?;
        *tracker = fresh;
        Ok(Some(Cursor {
            epoch,
            offset: tracker.end,
        }))
    }
}

impl Store for FileStore {
    fn append(&self, ev: &Event) -> Result<Cursor> {
        ev.validate()?;
        let body = serde_json::to_vec(ev)?;
        if body.len() > MAX_RECORD_LEN {
            return Err(Error::TooLarge {
                len: body.len(),
                max: MAX_RECORD_LEN,
            });
        }
        let mut framed = Vec::with_capacity(body.len() + format::RECORD_OVERHEAD);
        format::encode_record(&body, &mut framed);

        let mut writer = self.writer.lock().unwrap_or_else(|poisoned| {
            // A panic mid-update may have left the view half folded: refold.
            let mut guard = poisoned.into_inner();
            *guard = None;
            guard
        });
        let _lock = LockGuard::acquire(&self.lock, true)?;
        let (mut log, epoch) = self.open_log_for_write()?;
        let tracker = self.catch_up(&mut writer, &mut log, epoch)?;
        let at = tracker.end;
        // A failure here may leave a partial record: it is a torn tail that
        // the next append truncates, and the view was not advanced.
        log.write_all_at(&framed, at)
            .and_then(|()| log.sync_data())
            .map_err(Error::io("appending to", &self.log))?;
        tracker.fold_record(at, framed.len(), &body);
        let cursor = Cursor {
            epoch,
            offset: tracker.end,
        };
        if tracker.superseded() > self.options.compact_after {
            if let Some(compacted) = self.compact_locked(tracker, &mut log)? {
                return Ok(compacted);
            }
        }
        Ok(cursor)
    }

    fn read_from(&self, cursor: Cursor) -> Result<Batch> {
        let lock = LockGuard::acquire(&self.lock, false)?;
        let mut log = File::open(&self.log).map_err(Error::io("opening", &self.log))?;
        let epoch = self.read_header(&mut log)?;
        let len = log.metadata().map_err(Error::io("stat", &self.log))?.len();
        let (start, reset) = if cursor == Cursor::START {
            (HEADER_LEN, false)
        } else if cursor.epoch == epoch && (HEADER_LEN..=len).contains(&cursor.offset) {
            (cursor.offset, false)
        } else {
            (HEADER_LEN, true)
        };
        let buf = self.read_tail(&mut log, start)?;
        drop(lock);

        let scan = format::scan(&buf, start);
        if let Stop::Corrupt { offset, reason } = scan.stop {
            // Hand out what precedes the damage first; report it when
            // nothing else is left to read.
            if scan.records.is_empty() {
                return Err(Error::Corrupt {
                    path: self.log.clone(),
                    offset,
                    reason,
                });
            }
        }
        let mut events = Vec::with_capacity(scan.records.len());
        let mut skipped = 0;
        for r in &scan.records {
            match serde_json::from_slice::<Event>(r.body) {
                Ok(ev) => events.push(ev),
                Err(_) => skipped += 1,
            }
        }
        Ok(Batch {
            events,
            next: Cursor {
                epoch,
                offset: scan.end,
            },
            reset,
            skipped,
        })
    }

    /// One open, one 24-byte read and one stat, without the lock.
    fn changed_since(&self, cursor: Cursor) -> Result<bool> {
        let mut log = File::open(&self.log).map_err(Error::io("opening", &self.log))?;
        let epoch = self.read_header(&mut log)?;
        let len = log.metadata().map_err(Error::io("stat", &self.log))?.len();
        Ok(if cursor == Cursor::START {
            len > HEADER_LEN
        } else {
            cursor.epoch != epoch || cursor.offset != len
        })
    }
}

/// The epoch of a newly created log: taken from the clock so that a log
/// deleted and created again is not mistaken for the old one by a reader
/// still holding a cursor into it. Never 0 (that is [`Cursor::START`]).
fn fresh_epoch() -> u64 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    (nanos ^ (u64::from(std::process::id()) << 48)).max(1)
}

fn next_epoch(epoch: u64) -> u64 {
    epoch.wrapping_add(1).max(1)
}
