//! Which destinations a client may reach through NAT.
//!
//! A node is a host on someone's network: without a policy, every client of
//! every network could reach the node's loopback services, the cloud metadata
//! endpoint (169.254.169.254), the node's own addresses and the chain store
//! (issue 6, item 2). Those are denied unless a `nat-allow CIDR` of the
//! network covers them. Addresses that no host socket can sensibly reach
//! (0/8, multicast, 240/4 and broadcast) are never translated.

use std::net::Ipv4Addr;

use smoltcp::wire::{Ipv4Address, Ipv4Cidr};

/// Why a destination was denied; counted per reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// NAT is off for this network (`tok network set N nat off`).
    NatDisabled,
    /// 0/8, multicast, 240/4 or broadcast: not a unicast destination.
    Unroutable,
    /// 127/8.
    Loopback,
    /// 169.254/16, including the metadata service.
    LinkLocal,
    /// One of the node host's own addresses.
    HostAddress,
    /// A chain store endpoint's address.
    StoreEndpoint,
}

impl DenyReason {
    pub const ALL: [DenyReason; 6] = [
        DenyReason::NatDisabled,
        DenyReason::Unroutable,
        DenyReason::Loopback,
        DenyReason::LinkLocal,
        DenyReason::HostAddress,
        DenyReason::StoreEndpoint,
    ];

    pub fn name(self) -> &'static str {
        match self {
            DenyReason::NatDisabled => "nat_disabled",
            DenyReason::Unroutable => "unroutable",
            DenyReason::Loopback => "loopback",
            DenyReason::LinkLocal => "link_local",
            DenyReason::HostAddress => "host_address",
            DenyReason::StoreEndpoint => "store_endpoint",
        }
    }

    pub(crate) fn index(self) -> usize {
        DenyReason::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or_default()
    }
}

/// One network's NAT policy on one node. Applies to new flows: replace it
/// with `Translator::set_policy` when the chain changes; flows already open
/// run to their end.
#[derive(Debug, Clone)]
pub struct Policy {
    /// `nat on|off` (default on).
    pub enabled: bool,
    /// The node host's own addresses (every interface), denied by default.
    pub host_addrs: Vec<Ipv4Addr>,
    /// Addresses of the chain store's endpoints (etcd). The whole address is
    /// denied, not just the client port: etcd's peer port and metrics
    /// listen on the same host.
    pub store_addrs: Vec<Ipv4Addr>,
    /// `nat-allow CIDR` entries: an allow wins over every deny except
    /// `NatDisabled` and `Unroutable`.
    pub allow: Vec<Ipv4Cidr>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            enabled: true,
            host_addrs: Vec::new(),
            store_addrs: Vec::new(),
            allow: Vec::new(),
        }
    }
}

impl Policy {
    /// May a client open a flow to `dst`?
    pub fn check(&self, dst: Ipv4Addr) -> Result<(), DenyReason> {
        if !self.enabled {
            return Err(DenyReason::NatDisabled);
        }
        let octets = dst.octets();
        // RFC 1122 3.2.1.3: 0/8 is "this network", never a destination;
        // RFC 5771: 224/4 is multicast; RFC 1112 4: 240/4 is reserved (incl.
        // the limited broadcast).
        if octets[0] == 0 || octets[0] >= 224 {
            return Err(DenyReason::Unroutable);
        }
        let denied = if dst.is_loopback() {
            Some(DenyReason::Loopback)
        } else if dst.is_link_local() {
            Some(DenyReason::LinkLocal)
        } else if self.host_addrs.contains(&dst) {
            Some(DenyReason::HostAddress)
        } else if self.store_addrs.contains(&dst) {
            Some(DenyReason::StoreEndpoint)
        } else {
            None
        };
        match denied {
            Some(reason) if !self.allowed(dst) => Err(reason),
            _ => Ok(()),
        }
    }

    fn allowed(&self, dst: Ipv4Addr) -> bool {
        let dst: Ipv4Address = dst;
        self.allow.iter().any(|cidr| cidr.contains_addr(&dst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn denies_by_default() {
        let p = Policy {
            host_addrs: vec![ip("192.0.2.10")],
            store_addrs: vec![ip("192.0.2.20")],
            ..Policy::default()
        };
        assert_eq!(p.check(ip("127.0.0.1")), Err(DenyReason::Loopback));
        assert_eq!(p.check(ip("169.254.169.254")), Err(DenyReason::LinkLocal));
        assert_eq!(p.check(ip("192.0.2.10")), Err(DenyReason::HostAddress));
        assert_eq!(p.check(ip("192.0.2.20")), Err(DenyReason::StoreEndpoint));
        assert_eq!(p.check(ip("0.1.2.3")), Err(DenyReason::Unroutable));
        assert_eq!(p.check(ip("224.0.0.1")), Err(DenyReason::Unroutable));
        assert_eq!(p.check(ip("255.255.255.255")), Err(DenyReason::Unroutable));
        assert_eq!(p.check(ip("93.184.216.34")), Ok(()));
    }

    #[test]
    fn allow_wins_over_deny_but_not_over_unroutable_or_off() {
        let mut p = Policy {
            host_addrs: vec![ip("192.0.2.10")],
            allow: vec![
                Ipv4Cidr::new(ip("192.0.2.0"), 24),
                Ipv4Cidr::new(ip("127.0.0.0"), 8),
                Ipv4Cidr::new(ip("0.0.0.0"), 0),
            ],
            ..Policy::default()
        };
        assert_eq!(p.check(ip("192.0.2.10")), Ok(()));
        assert_eq!(p.check(ip("127.0.0.53")), Ok(()));
        assert_eq!(p.check(ip("255.255.255.255")), Err(DenyReason::Unroutable));
        p.enabled = false;
        assert_eq!(p.check(ip("8.8.8.8")), Err(DenyReason::NatDisabled));
    }
}
