//! DHCP leases, reservations and declined addresses of one network, and the
//! claim rule that makes nodes agree on them.
//!
//! **Claim rule.** Every node's DHCP server appends a `LeaseClaimed` before
//! it ACKs (RFC 2131 4.3.2 leaves the choice to "the server"; here the chain
//! is the server's memory). Folding the log in order, a claim *wins* if at
//! that point:
//! - the address is assignable: inside the subnet, not its network,
//!   broadcast or gateway address ([`Ipv4Subnet::is_assignable`]);
//! - it is not reserved for another MAC;
//! - no lease of another holder covers it at the claim's own `at_ms` (the
//!   existing lease's `expires_ms` against the claim's `at_ms`, never a
//!   reader's clock, so every node folds the same answer);
//! - it is not declined until after the claim's `at_ms`.
//!
//! Otherwise it is *lost* and changes nothing. A holder is a MAC; two leases
//! with the same client identifier (option 61, RFC 2131 4.2: "client
//! identifier or chaddr") are the same holder too. A won claim replaces every
//! lease of its holder, so a holder has at most one lease per network and an
//! address at most one lease: the table is bounded by the subnet's size.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::Ipv4Addr;

use crate::ipv4::Ipv4Subnet;

/// A lease as the chain holds it: the latest won claim of its holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// Canonical MAC (`02:00:00:00:00:01`).
    pub mac: String,
    pub ip: Ipv4Addr,
    /// DHCP option 61 as lowercase hex.
    pub client_id: Option<String>,
    pub hostname: Option<String>,
    /// The node whose claim set this lease (the latest renewal's).
    pub node_id: String,
    /// `at_ms` of that claim.
    pub at_ms: u64,
    /// Wall-clock ms when the lease ends unless renewed.
    pub expires_ms: u64,
}

impl Lease {
    /// Whether the lease has ended at wall-clock `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        now_ms >= self.expires_ms
    }

    /// Same client: same MAC, or the same client identifier.
    pub fn same_holder(&self, mac: &str, client_id: Option<&str>) -> bool {
        self.mac == mac || client_id.is_some() && self.client_id.as_deref() == client_id
    }
}

/// An address a client declined (it found it in use, RFC 2131 4.3.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declined {
    /// Who declined it.
    pub mac: String,
    pub at_ms: u64,
    /// Nobody may claim the address before this.
    pub until_ms: u64,
}

/// Why a claim lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClaimLost {
    #[error("address is not assignable in the subnet")]
    NotAssignable,
    #[error("address is reserved for {mac}")]
    Reserved { mac: String },
    #[error("address is leased to {mac} until {expires_ms}")]
    Held { mac: String, expires_ms: u64 },
    #[error("address is declined until {until_ms}")]
    Declined { until_ms: u64 },
}

/// What became of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    Won,
    Lost(ClaimLost),
}

/// Names one claim: what a node needs to find out whether *its* claim won.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClaimId {
    pub network: String,
    pub node_id: String,
    pub mac: String,
    pub ip: Ipv4Addr,
    pub at_ms: u64,
}

/// Why a lease, reservation or decline event left the table unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TableRefusal {
    NotAssignable,
    ReservedForOther(String),
    ReservationExists,
    NoReservation,
    NoLease,
    LeaseHeld(String),
}

/// One network's leases, reservations and declined addresses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkLeases {
    by_ip: BTreeMap<Ipv4Addr, Lease>,
    by_mac: BTreeMap<String, Ipv4Addr>,
    by_client: BTreeMap<String, Ipv4Addr>,
    /// MAC -> reserved address.
    reservations: BTreeMap<String, Ipv4Addr>,
    /// Reserved address -> MAC.
    reserved: BTreeMap<Ipv4Addr, String>,
    declined: BTreeMap<Ipv4Addr, Declined>,
}

impl NetworkLeases {
    /// Leases in address order, expired ones included (they stay until
    /// another holder claims the address, or a `LeaseExpired` retires them).
    pub fn leases(&self) -> impl Iterator<Item = &Lease> {
        self.by_ip.values()
    }

    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    /// No leases.
    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }

    /// No leases, reservations or declines.
    pub fn is_vacant(&self) -> bool {
        self.by_ip.is_empty() && self.reservations.is_empty() && self.declined.is_empty()
    }

    pub fn by_ip(&self, ip: Ipv4Addr) -> Option<&Lease> {
        self.by_ip.get(&ip)
    }

    pub fn by_mac(&self, mac: &str) -> Option<&Lease> {
        self.by_mac.get(mac).and_then(|ip| self.by_ip.get(ip))
    }

    pub fn by_client_id(&self, client_id: &str) -> Option<&Lease> {
        self.by_client
            .get(client_id)
            .and_then(|ip| self.by_ip.get(ip))
    }

    /// The holder's lease: by client id when it has one, else by MAC
    /// (RFC 2131 4.2).
    pub fn by_holder(&self, mac: &str, client_id: Option<&str>) -> Option<&Lease> {
        client_id
            .and_then(|id| self.by_client_id(id))
            .or_else(|| self.by_mac(mac))
    }

    /// Reservations as (MAC, address), in MAC order.
    pub fn reservations(&self) -> impl Iterator<Item = (&str, Ipv4Addr)> {
        self.reservations.iter().map(|(m, ip)| (m.as_str(), *ip))
    }

    pub fn reservation_for(&self, mac: &str) -> Option<Ipv4Addr> {
        self.reservations.get(mac).copied()
    }

    /// The MAC an address is reserved for.
    pub fn reserved_for(&self, ip: Ipv4Addr) -> Option<&str> {
        self.reserved.get(&ip).map(String::as_str)
    }

    pub fn declined(&self, ip: Ipv4Addr) -> Option<&Declined> {
        self.declined.get(&ip)
    }

    /// Declined addresses in address order (past ones included).
    pub fn declines(&self) -> impl Iterator<Item = (Ipv4Addr, &Declined)> {
        self.declined.iter().map(|(ip, d)| (*ip, d))
    }

    /// The claim rule (module docs). On a win the lease replaces every
    /// lease of its holder and any expired lease of the address.
    pub(crate) fn claim(&mut self, subnet: Ipv4Subnet, lease: Lease) -> Result<(), ClaimLost> {
        let ip = lease.ip;
        if !subnet.is_assignable(ip) {
            return Err(ClaimLost::NotAssignable);
        }
        if let Some(mac) = self.reserved.get(&ip) {
            if *mac != lease.mac {
                return Err(ClaimLost::Reserved { mac: mac.clone() });
            }
        }
        if let Some(cur) = self.by_ip.get(&ip) {
            if !cur.same_holder(&lease.mac, lease.client_id.as_deref())
                && lease.at_ms < cur.expires_ms
            {
                return Err(ClaimLost::Held {
                    mac: cur.mac.clone(),
                    expires_ms: cur.expires_ms,
                });
            }
        }
        if let Some(d) = self.declined.get(&ip) {
            if lease.at_ms < d.until_ms {
                return Err(ClaimLost::Declined {
                    until_ms: d.until_ms,
                });
            }
        }
        self.remove_ip(ip);
        if let Some(old) = self.by_mac.get(&lease.mac).copied() {
            self.remove_ip(old);
        }
        if let Some(id) = &lease.client_id {
            if let Some(old) = self.by_client.get(id).copied() {
                self.remove_ip(old);
            }
        }
        self.declined.remove(&ip);
        self.by_mac.insert(lease.mac.clone(), ip);
        if let Some(id) = &lease.client_id {
            self.by_client.insert(id.clone(), ip);
        }
        self.by_ip.insert(ip, lease);
        Ok(())
    }

    /// DHCPRELEASE: the MAC's lease on `ip` ends now.
    pub(crate) fn release(&mut self, mac: &str, ip: Ipv4Addr) -> Result<(), TableRefusal> {
        if self.by_mac.get(mac) != Some(&ip) {
            return Err(TableRefusal::NoLease);
        }
        self.remove_ip(ip);
        Ok(())
    }

    /// Retires a lease that was not renewed since it ended at `expires_ms`.
    pub(crate) fn expire(
        &mut self,
        mac: &str,
        ip: Ipv4Addr,
        expires_ms: u64,
    ) -> Result<(), TableRefusal> {
        match self.by_ip.get(&ip) {
            Some(l) if l.mac == mac && l.expires_ms == expires_ms => {
                self.remove_ip(ip);
                Ok(())
            }
            _ => Err(TableRefusal::NoLease),
        }
    }

    /// DHCPDECLINE: the address is marked bad until `d.until_ms`. Refused
    /// when another client holds it at `d.at_ms` (a client cannot evict
    /// another by declining its address).
    pub(crate) fn decline(
        &mut self,
        subnet: Ipv4Subnet,
        ip: Ipv4Addr,
        d: Declined,
    ) -> Result<(), TableRefusal> {
        if !subnet.is_assignable(ip) {
            return Err(TableRefusal::NotAssignable);
        }
        if let Some(cur) = self.by_ip.get(&ip) {
            if cur.mac != d.mac && d.at_ms < cur.expires_ms {
                return Err(TableRefusal::LeaseHeld(cur.mac.clone()));
            }
        }
        self.remove_ip(ip);
        self.declined.insert(ip, d);
        Ok(())
    }

    pub(crate) fn reserve(
        &mut self,
        subnet: Ipv4Subnet,
        mac: &str,
        ip: Ipv4Addr,
    ) -> Result<(), TableRefusal> {
        if !subnet.is_assignable(ip) {
            return Err(TableRefusal::NotAssignable);
        }
        match self.reserved.get(&ip) {
            Some(m) if m == mac => return Err(TableRefusal::ReservationExists),
            Some(m) => return Err(TableRefusal::ReservedForOther(m.clone())),
            None => {}
        }
        if let Some(old) = self.reservations.insert(mac.to_owned(), ip) {
            self.reserved.remove(&old);
        }
        self.reserved.insert(ip, mac.to_owned());
        Ok(())
    }

    pub(crate) fn unreserve(&mut self, mac: &str) -> Result<(), TableRefusal> {
        let ip = self
            .reservations
            .remove(mac)
            .ok_or(TableRefusal::NoReservation)?;
        self.reserved.remove(&ip);
        Ok(())
    }

    fn remove_ip(&mut self, ip: Ipv4Addr) {
        if let Some(old) = self.by_ip.remove(&ip) {
            self.by_mac.remove(&old.mac);
            if let Some(id) = &old.client_id {
                self.by_client.remove(id);
            }
        }
    }
}

/// Most claim outcomes a [`State`](crate::State) remembers.
pub const MAX_CLAIM_OUTCOMES: usize = 4096;

/// Outcomes of the most recent claims, so that a node can learn whether its
/// claim won or lost (a lost claim leaves no other trace in the state).
///
/// Not part of the state's identity: a compacted log no longer holds lost or
/// superseded claims, and must still fold to an equal [`State`](crate::State).
/// So `eq` is always true.
#[derive(Debug, Clone, Default)]
pub(crate) struct ClaimLog {
    order: VecDeque<ClaimId>,
    outcomes: HashMap<ClaimId, ClaimOutcome>,
}

impl PartialEq for ClaimLog {
    fn eq(&self, _: &ClaimLog) -> bool {
        true
    }
}

impl Eq for ClaimLog {}

impl ClaimLog {
    pub fn record(&mut self, id: ClaimId, outcome: ClaimOutcome) {
        if self.outcomes.insert(id.clone(), outcome).is_none() {
            self.order.push_back(id);
            if self.order.len() > MAX_CLAIM_OUTCOMES {
                if let Some(old) = self.order.pop_front() {
                    self.outcomes.remove(&old);
                }
            }
        }
    }

    pub fn get(&self, id: &ClaimId) -> Option<&ClaimOutcome> {
        self.outcomes.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subnet() -> Ipv4Subnet {
        Ipv4Subnet::parse("10.0.0.0/24").unwrap()
    }

    fn lease(mac: u8, ip: u8, at_ms: u64, expires_ms: u64) -> Lease {
        Lease {
            mac: format!("02:00:00:00:00:{mac:02x}"),
            ip: Ipv4Addr::new(10, 0, 0, ip),
            client_id: None,
            hostname: None,
            node_id: "00000000000000aa".into(),
            at_ms,
            expires_ms,
        }
    }

    #[test]
    fn first_claim_wins_until_it_expires() {
        let mut t = NetworkLeases::default();
        assert_eq!(t.claim(subnet(), lease(1, 5, 0, 100)), Ok(()));
        assert!(matches!(
            t.claim(subnet(), lease(2, 5, 99, 200)),
            Err(ClaimLost::Held { .. })
        ));
        // Judged by the claim's at_ms against the lease's expires_ms.
        assert_eq!(t.claim(subnet(), lease(2, 5, 100, 200)), Ok(()));
        assert_eq!(
            t.by_ip(Ipv4Addr::new(10, 0, 0, 5)).unwrap().mac,
            "02:00:00:00:00:02"
        );
        assert!(t.by_mac("02:00:00:00:00:01").is_none());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn one_lease_per_holder() {
        let mut t = NetworkLeases::default();
        t.claim(subnet(), lease(1, 5, 0, 100)).unwrap();
        t.claim(subnet(), lease(1, 6, 10, 110)).unwrap();
        assert_eq!(t.len(), 1);
        assert!(t.by_ip(Ipv4Addr::new(10, 0, 0, 5)).is_none());
        // Same client id, new MAC: same holder.
        let mut a = lease(3, 7, 0, 100);
        a.client_id = Some("ff01".into());
        t.claim(subnet(), a).unwrap();
        let mut b = lease(4, 7, 1, 100);
        b.client_id = Some("ff01".into());
        assert_eq!(t.claim(subnet(), b), Ok(()));
        assert!(t.by_mac("02:00:00:00:00:03").is_none());
        assert_eq!(t.by_client_id("ff01").unwrap().mac, "02:00:00:00:00:04");
    }

    #[test]
    fn unassignable_reserved_declined_lose() {
        let mut t = NetworkLeases::default();
        for ip in [0, 1, 255] {
            assert_eq!(
                t.claim(subnet(), lease(1, ip, 0, 1)),
                Err(ClaimLost::NotAssignable)
            );
        }
        t.reserve(subnet(), "02:00:00:00:00:09", Ipv4Addr::new(10, 0, 0, 9))
            .unwrap();
        assert!(matches!(
            t.claim(subnet(), lease(1, 9, 0, 1)),
            Err(ClaimLost::Reserved { .. })
        ));
        assert_eq!(t.claim(subnet(), lease(9, 9, 0, 1)), Ok(()));
        let d = Declined {
            mac: "02:00:00:00:00:01".into(),
            at_ms: 0,
            until_ms: 50,
        };
        t.decline(subnet(), Ipv4Addr::new(10, 0, 0, 3), d).unwrap();
        assert!(matches!(
            t.claim(subnet(), lease(2, 3, 49, 100)),
            Err(ClaimLost::Declined { until_ms: 50 })
        ));
        assert_eq!(t.claim(subnet(), lease(2, 3, 50, 100)), Ok(()));
        assert!(t.declined(Ipv4Addr::new(10, 0, 0, 3)).is_none());
    }

    #[test]
    fn decline_cannot_evict_another_holder() {
        let mut t = NetworkLeases::default();
        t.claim(subnet(), lease(1, 5, 0, 100)).unwrap();
        let d = Declined {
            mac: "02:00:00:00:00:02".into(),
            at_ms: 10,
            until_ms: 50,
        };
        assert!(t.decline(subnet(), Ipv4Addr::new(10, 0, 0, 5), d).is_err());
    }

    #[test]
    fn claim_log_is_bounded_and_not_compared() {
        let mut log = ClaimLog::default();
        for i in 0..(MAX_CLAIM_OUTCOMES as u64 + 10) {
            log.record(
                ClaimId {
                    network: String::new(),
                    node_id: String::new(),
                    mac: String::new(),
                    ip: Ipv4Addr::UNSPECIFIED,
                    at_ms: i,
                },
                ClaimOutcome::Won,
            );
        }
        assert_eq!(log.outcomes.len(), MAX_CLAIM_OUTCOMES);
        assert_eq!(log, ClaimLog::default());
    }
}
