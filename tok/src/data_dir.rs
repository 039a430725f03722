//! Where the chain and the nodes' status sockets live: `--data-dir DIR`, else
//! `ATENET_DATA_DIR` (clap reads it), else the same default as `atenet serve`:
//! `/var/lib/atenet` for root, `$HOME/.local/state/atenet` for anyone else.

use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

use anyhow::{Context, Result};

/// The default data directory for the user running `tok`.
pub fn default_dir() -> Result<PathBuf> {
    if effective_uid_is_root() {
        return Ok(PathBuf::from("/var/lib/atenet"));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("HOME is not set: pass --data-dir DIR or set ATENET_DATA_DIR")?;
    Ok(PathBuf::from(home).join(".local/state/atenet"))
}

/// `/proc/self` is owned by the effective uid of the process.
fn effective_uid_is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// `--data-dir` if given, else the default.
pub fn resolve(flag: Option<PathBuf>) -> Result<PathBuf> {
    match flag {
        Some(dir) => Ok(dir),
        None => default_dir(),
    }
}
