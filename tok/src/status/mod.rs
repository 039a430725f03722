//! `tok status`: read the document every running node writes on
//! `DATA_DIR/nodes/*.sock` and print it as tables (or `--json`, raw).

mod model;
mod render;

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use model::Snapshot;

/// A node must hand over its document within this long.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Refuse documents larger than this (a node with a huge client list is fine).
const MAX_DOC: u64 = 64 << 20;

fn read_socket(path: &Path) -> Result<Vec<u8>> {
    let stream = UnixStream::connect(path)?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    let mut doc = Vec::new();
    stream.take(MAX_DOC).read_to_end(&mut doc)?;
    Ok(doc)
}

/// Runs `tok status [--json]`.
pub fn run(data_dir: &Path, json: bool) -> Result<()> {
    let dir = data_dir.join("nodes");
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "no node has run with data dir {}: {} does not exist (start one with `atenet serve --data-dir {}`)",
            data_dir.display(),
            dir.display(),
            data_dir.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    let mut sockets: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .collect();
    sockets.sort();

    let mut docs = Vec::new();
    let mut unreadable = Vec::new();
    for path in &sockets {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        match read_socket(path) {
            Ok(doc) => docs.push((name, doc)),
            Err(e) => {
                let refused = e
                    .downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused);
                if refused {
                    tracing::debug!(socket = %path.display(), "stale status socket (node gone)");
                } else {
                    unreadable.push((name, format!("{e:#}")));
                }
            }
        }
    }
    if docs.is_empty() && unreadable.is_empty() {
        bail!(
            "no running node found in {} (start one with `atenet serve --data-dir {}`)",
            dir.display(),
            data_dir.display()
        );
    }

    if json {
        let mut values = Vec::with_capacity(docs.len());
        for (name, doc) in &docs {
            match serde_json::from_slice::<serde_json::Value>(doc) {
                Ok(v) => values.push(v),
                Err(e) => unreadable.push((name.clone(), format!("not JSON: {e}"))),
            }
        }
        println!("{}", serde_json::to_string_pretty(&values)?);
        for (name, why) in &unreadable {
            eprintln!("warning: {name}: {why}");
        }
        return Ok(());
    }

    let mut nodes = Vec::with_capacity(docs.len());
    for (name, doc) in &docs {
        match serde_json::from_slice::<Snapshot>(doc) {
            Ok(s) => nodes.push(s),
            Err(e) => unreadable.push((name.clone(), format!("not a status document: {e}"))),
        }
    }
    print!("{}", render::render(&nodes, &unreadable));
    Ok(())
}
