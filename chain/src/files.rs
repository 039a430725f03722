//! File-system primitives the file store is built from: creation with the
//! modes DESIGN.md asks for (directory 0700, files 0600), the `flock` guard,
//! and atomic replacement of the log.

use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;

use crate::error::{Error, Result};

/// Creates `dir` (and missing parents) with mode 0700. An existing directory
/// is left as it is: it may be shared with other things the user put there.
pub fn create_dir(dir: &Path) -> Result<()> {
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(Error::io("creating directory", dir))
}

/// A held `flock` on the lock file; released on drop.
///
/// Each guard opens the lock file anew: `flock` belongs to an open file
/// description, so a second `lock()` on a shared descriptor would silently
/// convert (not wait for) the first, even between threads.
#[derive(Debug)]
pub struct LockGuard {
    file: File,
}

impl LockGuard {
    /// Blocks until the lock is held: exclusive for writers (append,
    /// truncate, compaction), shared for readers.
    pub fn acquire(path: &Path, exclusive: bool) -> Result<LockGuard> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(Error::io("opening lock file", path))?;
        let locked = if exclusive {
            file.lock()
        } else {
            file.lock_shared()
        };
        locked.map_err(Error::io("locking", path))?;
        Ok(LockGuard { file })
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Closing the file would release it too; unlocking first is explicit.
        let _ = self.file.unlock();
    }
}

/// Replaces `path` with `bytes` so that no reader ever sees a partial file:
/// write a temporary file (0600) beside it, `fdatasync` it, rename it over
/// `path`, then sync the directory so the rename itself is durable.
/// The caller holds the exclusive lock, so `tmp` is not contended.
pub fn replace_atomically(dir: &Path, tmp: &Path, path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(tmp)
        .map_err(Error::io("creating", tmp))?;
    f.write_all(bytes).map_err(Error::io("writing", tmp))?;
    f.sync_data().map_err(Error::io("syncing", tmp))?;
    drop(f);
    std::fs::rename(tmp, path).map_err(Error::io("renaming over", path))?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::io("syncing directory", dir))
}
