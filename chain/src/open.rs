//! Choosing a backend from what a user typed: `chain::open(spec, data_dir)`.
//!
//! Specs (`--store SPEC`, `ATENET_STORE`):
//! - `""` or `default`: the file store in the data directory (the files
//!   [`FileStore`] always used: `DATA_DIR/chain.log`, `DATA_DIR/chain.lock`);
//! - `file:PATH`: the file store in directory `PATH` (`file:` alone is the
//!   data directory);
//! - `etcd://HOST:PORT[,HOST:PORT...]`: the etcd backend, not built in this
//!   version (issue 19): refused with an error that says so.
//!
//! Anything else is refused with an error naming the bad value and listing
//! these forms.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::event::Event;
use crate::file_store::FileStore;
use crate::store::{Batch, Cursor, Store};

/// The forms [`open`] accepts, for error messages and `--help`.
pub const ACCEPTED_SPECS: &str =
    "`file:PATH`, `etcd://HOST:PORT[,HOST:PORT...]`, or empty/`default` (the file store in the data directory)";

/// A parsed store spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// The file store in this directory.
    File(PathBuf),
    /// etcd endpoints (`HOST:PORT`), in the order given.
    Etcd(Vec<String>),
}

impl StoreSpec {
    /// Parses `spec`; an empty spec or `default` is the file store in
    /// `data_dir`.
    pub fn parse(spec: &str, data_dir: &Path) -> Result<StoreSpec> {
        let spec = spec.trim();
        if spec.is_empty() || spec == "default" {
            return Ok(StoreSpec::File(data_dir.to_owned()));
        }
        if let Some(path) = spec.strip_prefix("file:") {
            // `file://PATH` is a common way to write a local path too.
            let path = path.strip_prefix("//").unwrap_or(path);
            return Ok(StoreSpec::File(if path.is_empty() {
                data_dir.to_owned()
            } else {
                PathBuf::from(path)
            }));
        }
        if let Some(list) = spec.strip_prefix("etcd://") {
            let endpoints: Vec<String> = list.split(',').map(|e| e.trim().to_owned()).collect();
            if let Some(bad) = endpoints.iter().find(|e| !is_host_port(e)) {
                return Err(Error::BadSpec {
                    spec: spec.to_owned(),
                    reason: format!("etcd endpoint `{bad}` is not HOST:PORT"),
                });
            }
            return Ok(StoreSpec::Etcd(endpoints));
        }
        Err(Error::BadSpec {
            spec: spec.to_owned(),
            reason: "unknown store kind".to_owned(),
        })
    }
}

/// `HOST:PORT` with a non-empty host (a name, IPv4, or `[IPv6]`) and a port
/// in 1..=65535.
fn is_host_port(s: &str) -> bool {
    let Some((host, port)) = s.rsplit_once(':') else {
        return false;
    };
    let host_ok = if let Some(inner) = host.strip_prefix('[') {
        inner
            .strip_suffix(']')
            .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
    } else {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
    };
    host_ok && port.parse::<u16>().is_ok_and(|p| p != 0)
}

/// A store opened by [`open`]: whichever backend the spec named.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyStore {
    /// The embedded file store.
    File(FileStore),
}

impl AnyStore {
    /// The file store, when that is the backend.
    pub fn as_file(&self) -> Option<&FileStore> {
        match self {
            AnyStore::File(s) => Some(s),
        }
    }
}

impl Store for AnyStore {
    fn append(&self, ev: &Event) -> Result<Cursor> {
        match self {
            AnyStore::File(s) => s.append(ev),
        }
    }

    fn read_from(&self, cursor: Cursor) -> Result<Batch> {
        match self {
            AnyStore::File(s) => s.read_from(cursor),
        }
    }

    fn changed_since(&self, cursor: Cursor) -> Result<bool> {
        match self {
            AnyStore::File(s) => s.changed_since(cursor),
        }
    }
}

/// Opens the store `spec` names (see the module docs); `data_dir` is the
/// node's data directory, where the default file store lives.
pub fn open(spec: &str, data_dir: &Path) -> Result<AnyStore> {
    match StoreSpec::parse(spec, data_dir)? {
        StoreSpec::File(dir) => FileStore::open(dir).map(AnyStore::File),
        StoreSpec::Etcd(_) => Err(Error::NotBuiltIn {
            spec: spec.trim().to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::file_store::LOG_FILE;

    fn err(spec: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        open(spec, dir.path()).unwrap_err().to_string()
    }

    #[test]
    fn empty_and_default_are_the_file_store_in_the_data_dir() {
        for spec in ["", "default", "  ", "file:"] {
            let dir = tempfile::tempdir().unwrap();
            let store = open(spec, dir.path()).unwrap();
            let file = store.as_file().unwrap();
            assert_eq!(file.dir(), dir.path(), "{spec:?}");
            assert_eq!(file.log_path(), dir.path().join(LOG_FILE));
            assert!(dir.path().join(LOG_FILE).exists());
        }
    }

    #[test]
    fn file_path_opens_that_directory() {
        let data = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let chain_dir = other.path().join("chain");
        for spec in [
            format!("file:{}", chain_dir.display()),
            format!("file://{}", chain_dir.display()),
        ] {
            let store = open(&spec, data.path()).unwrap();
            assert_eq!(store.as_file().unwrap().dir(), chain_dir);
            assert!(chain_dir.join(LOG_FILE).exists());
            assert!(!data.path().join(LOG_FILE).exists(), "not the data dir");
        }
    }

    #[test]
    fn opened_store_reads_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let store = open("", dir.path()).unwrap();
        let ev = Event::NodeJoined {
            node_id: "00000000000000aa".into(),
            advertise: vec!["127.0.0.1:1".into()],
            at_ms: 1,
        };
        store.append(&ev).unwrap();
        let again = FileStore::open(dir.path()).unwrap();
        assert_eq!(again.read_from(Cursor::START).unwrap().events, [ev]);
        assert!(store.changed_since(Cursor::START).unwrap());
    }

    #[test]
    fn etcd_is_refused_as_not_built_in() {
        for spec in [
            "etcd://127.0.0.1:2379",
            "etcd://a:2379,b.example:2380",
            "etcd://[::1]:2379",
        ] {
            let dir = tempfile::tempdir().unwrap();
            assert!(matches!(
                StoreSpec::parse(spec, dir.path()).unwrap(),
                StoreSpec::Etcd(_)
            ));
            assert_eq!(
                err(spec),
                format!("store `{spec}`: etcd store not built in this version (see issue 19); use file:PATH")
            );
        }
    }

    #[test]
    fn malformed_etcd_endpoints_are_named() {
        let e = err("etcd://a:2379,nope");
        assert!(e.contains("`etcd://a:2379,nope`"), "{e}");
        assert!(e.contains("etcd endpoint `nope` is not HOST:PORT"), "{e}");
        assert!(e.contains(ACCEPTED_SPECS), "{e}");
        for bad in ["etcd://", "etcd://a:0", "etcd://:2379", "etcd://a:99999"] {
            assert!(err(bad).contains("is not HOST:PORT"), "{bad}");
        }
    }

    #[test]
    fn unknown_specs_name_the_value_and_the_accepted_forms() {
        for bad in ["/var/lib/atenet", "sqlite:x.db", "etcd:host:2379", "FILE:x"] {
            let e = err(bad);
            assert_eq!(
                e,
                format!("bad store `{bad}`: unknown store kind; expected {ACCEPTED_SPECS}")
            );
        }
    }
}
