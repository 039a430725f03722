//! Where leases live: the chain, behind [`LeaseStore`].
//!
//! The server never decides alone that an address is a client's. It reads
//! the network's lease table (leases, reservations, declines) from the store
//! and asks it to append claims, releases, declines and expiries. Appends are
//! asynchronous from the server's point of view: the outcome of a claim is
//! known only once the store has folded the chain past it
//! ([`LeaseStore::claim_outcome`]), which is when the server ACKs or NAKs.
//!
//! atenet implements the trait over its chain follower (appends go to a
//! writer task); [`MemoryLeaseStore`] implements it over a shared
//! [`chain::MemoryStore`] with the very same fold, for tests and benches.

use std::net::Ipv4Addr;
use std::sync::Arc;

use chain::{ClaimId, ClaimOutcome, Event, Follower, MemoryStore, NetworkLeases, State, Store};

/// A claim: append a `LeaseClaimed`, ACK only if it wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseClaim {
    pub network: String,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    /// Option 61, raw.
    pub client_id: Option<Vec<u8>>,
    pub hostname: Option<String>,
    pub node_id: String,
    pub at_ms: u64,
    pub expires_ms: u64,
}

impl LeaseClaim {
    /// What identifies this claim's outcome in the chain.
    pub fn id(&self) -> ClaimId {
        ClaimId {
            network: self.network.clone(),
            node_id: self.node_id.clone(),
            mac: chain::validate::format_mac(self.mac),
            ip: self.ip,
            at_ms: self.at_ms,
        }
    }

    pub fn to_event(&self) -> Event {
        Event::LeaseClaimed {
            network: self.network.clone(),
            mac: chain::validate::format_mac(self.mac),
            ip: self.ip.to_string(),
            client_id: self
                .client_id
                .as_deref()
                .and_then(crate::options::client_id_hex),
            hostname: self.hostname.clone(),
            node_id: self.node_id.clone(),
            at_ms: self.at_ms,
            expires_ms: self.expires_ms,
        }
    }
}

/// A DHCPRELEASE to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRelease {
    pub network: String,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    pub at_ms: u64,
}

impl LeaseRelease {
    pub fn to_event(&self) -> Event {
        Event::LeaseReleased {
            network: self.network.clone(),
            mac: chain::validate::format_mac(self.mac),
            ip: self.ip.to_string(),
            at_ms: self.at_ms,
        }
    }
}

/// A DHCPDECLINE to record: the address is bad until `until_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseDecline {
    pub network: String,
    pub mac: [u8; 6],
    pub ip: Ipv4Addr,
    pub at_ms: u64,
    pub until_ms: u64,
}

impl LeaseDecline {
    pub fn to_event(&self) -> Event {
        Event::LeaseDeclined {
            network: self.network.clone(),
            ip: self.ip.to_string(),
            mac: chain::validate::format_mac(self.mac),
            at_ms: self.at_ms,
            until_ms: self.until_ms,
        }
    }
}

/// A lease long past its end, to retire so compaction can drop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseExpiry {
    pub network: String,
    /// Canonical MAC, as the chain holds it.
    pub mac: String,
    pub ip: Ipv4Addr,
    pub expires_ms: u64,
}

impl LeaseExpiry {
    pub fn to_event(&self) -> Event {
        Event::LeaseExpired {
            network: self.network.clone(),
            mac: self.mac.clone(),
            ip: self.ip.to_string(),
            expires_ms: self.expires_ms,
        }
    }
}

/// The chain as the DHCP server sees it.
pub trait LeaseStore {
    /// The network's lease table as folded so far (`None`: nothing yet).
    fn table(&self, network: &str) -> Option<&NetworkLeases>;
    /// Whether a claim won, once the fold has passed it.
    fn claim_outcome(&self, id: &ClaimId) -> Option<ClaimOutcome>;
    /// Appends a `LeaseClaimed` (asynchronously: the outcome comes later).
    fn claim(&mut self, claim: &LeaseClaim);
    /// Appends a `LeaseReleased`.
    fn release(&mut self, release: &LeaseRelease);
    /// Appends a `LeaseDeclined`.
    fn decline(&mut self, decline: &LeaseDecline);
    /// Appends a `LeaseExpired`.
    fn expire(&mut self, expiry: &LeaseExpiry);
}

/// A [`LeaseStore`] over an in-memory chain log that several stores (one
/// per simulated node) may share. Appends go to the log at once; this
/// store's view moves only when [`MemoryLeaseStore::sync`] is called, which
/// is how a node's follower sees the chain: later.
#[derive(Debug)]
pub struct MemoryLeaseStore {
    log: Arc<MemoryStore>,
    follower: Follower,
    /// Appends the log refused (invalid events): a bug if ever non-zero.
    pub refused: u64,
}

impl MemoryLeaseStore {
    pub fn new(log: Arc<MemoryStore>) -> MemoryLeaseStore {
        MemoryLeaseStore {
            log,
            follower: Follower::new(),
            refused: 0,
        }
    }

    /// Folds what is new in the log; returns how many events that was.
    pub fn sync(&mut self) -> usize {
        self.follower
            .poll(self.log.as_ref())
            .map_or(0, |u| u.events.len())
    }

    pub fn state(&self) -> &State {
        self.follower.state()
    }

    pub fn log(&self) -> &Arc<MemoryStore> {
        &self.log
    }

    fn append(&mut self, ev: &Event) {
        if self.log.append(ev).is_err() {
            self.refused += 1;
        }
    }
}

impl LeaseStore for MemoryLeaseStore {
    fn table(&self, network: &str) -> Option<&NetworkLeases> {
        self.state().lease_table_of(network)
    }

    fn claim_outcome(&self, id: &ClaimId) -> Option<ClaimOutcome> {
        self.state().claim_outcome(id)
    }

    fn claim(&mut self, claim: &LeaseClaim) {
        self.append(&claim.to_event());
    }

    fn release(&mut self, release: &LeaseRelease) {
        self.append(&release.to_event());
    }

    fn decline(&mut self, decline: &LeaseDecline) {
        self.append(&decline.to_event());
    }

    fn expire(&mut self, expiry: &LeaseExpiry) {
        self.append(&expiry.to_event());
    }
}
