//! The chain: the deployment's configuration as an ordered log of events.
//!
//! `tok` appends events, nodes poll for new ones and fold them into a
//! [`State`]. No network I/O lives here; the etcd backend comes later behind
//! the same [`Store`] trait. See `README.md` for the file format, locking,
//! durability and compaction rules.
//!
//! - [`event`]: what can happen ([`Event`]), extensible, JSON-tagged.
//! - [`validate`]: the shape of ids, secrets, names, subnets, addresses.
//! - [`state`]: the fold ([`State`]) and its lookups.
//! - [`leases`]: DHCP leases, reservations, declines of one network and the
//!   claim rule ([`NetworkLeases`], [`ClaimId`], [`ClaimOutcome`]).
//! - [`ipv4`]: subnet arithmetic ([`Ipv4Subnet`]: gateway, assignable hosts).
//! - [`store`]: the [`Store`] trait, [`Cursor`], [`Batch`], polling.
//! - [`follow`]: a subscriber's cursor + state, `reset` handled ([`Follower`]).
//! - [`file_store`]: the embedded backend ([`FileStore`]), built on
//!   [`format`](mod@format) (bytes on disk), `liveness` (which records compaction
//!   keeps) and `files` (locks, modes, atomic replace).
//! - [`mem_store`]: an in-memory [`Store`] for other crates' tests.
//! - [`ephemeral`]: TTL'd state beside the log (presence, diagnostics,
//!   session checkpoints), last writer wins, exchanged as deltas ([`Ephemeral`]).
//! - [`open()`]: the backend a spec names (`file:PATH`, `etcd://...`, default:
//!   the file store in the data directory) as an [`AnyStore`].

pub mod ephemeral;
pub mod error;
pub mod event;
pub mod file_store;
mod files;
pub mod follow;
pub mod format;
pub mod ipv4;
pub mod leases;
mod liveness;
pub mod mem_store;
pub mod open;
pub mod state;
pub mod store;
pub mod validate;

pub use ephemeral::Ephemeral;
pub use error::{Error, Result};
pub use event::Event;
pub use file_store::{FileStore, Options};
pub use follow::{Follower, Update};
pub use ipv4::Ipv4Subnet;
pub use leases::{ClaimId, ClaimLost, ClaimOutcome, Declined, Lease, NetworkLeases};
pub use mem_store::MemoryStore;
pub use open::{open, AnyStore, StoreSpec};
pub use state::{Applied, Ignored, Key, Network, Node, Proto, Published, State};
pub use store::{Batch, Cursor, Store, POLL_INTERVAL};
pub use validate::InvalidEvent;
