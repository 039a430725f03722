//! Errors of the chain's stores.

use std::path::PathBuf;

use crate::validate::InvalidEvent;

/// Result of a store operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The event was refused before anything was written.
    #[error(transparent)]
    Invalid(#[from] InvalidEvent),
    /// The encoded event is larger than the record size cap.
    #[error("event of {len} bytes is larger than the {max}-byte record limit")]
    TooLarge { len: usize, max: usize },
    /// A file or directory operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file does not start with a chain log header this version reads.
    #[error("{} is not a chain log this version can read: {reason}", path.display())]
    BadHeader { path: PathBuf, reason: &'static str },
    /// A damaged record with intact records after it: not a torn tail, so it
    /// is not truncated (that would drop valid events, a revocation maybe).
    /// Needs an operator: restore a backup, or cut the file at `offset`
    /// accepting the loss of what follows.
    #[error("{} is damaged at byte {offset}: {reason}; intact records follow, so it is not truncated automatically", path.display())]
    Corrupt {
        path: PathBuf,
        offset: u64,
        reason: &'static str,
    },
    /// A store spec ([`crate::open`]) this version does not accept.
    #[error(
        "bad store `{spec}`: {reason}; expected {}",
        crate::open::ACCEPTED_SPECS
    )]
    BadSpec { spec: String, reason: String },
    /// A well-formed store spec naming a backend this build lacks.
    #[error("store `{spec}`: etcd store not built in this version (see issue 19); use file:PATH")]
    NotBuiltIn { spec: String },
    /// An event could not be encoded (should not happen for [`Event`](crate::Event)).
    #[error("encoding event: {0}")]
    Encode(#[from] serde_json::Error),
}

impl Error {
    pub(crate) fn io(
        op: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Io { op, path, source }
    }
}
