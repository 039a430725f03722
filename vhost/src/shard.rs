//! One shard: a smoltcp interface (IP medium, bound to the gateway address
//! only, any_ip off) with its own socket set and device. smoltcp walks every
//! socket of a set for each packet and each `poll_at`, so the host keeps
//! each set small and only polls the shard a packet or timer is for.

use std::net::Ipv4Addr;

use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet};
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{HardwareAddress, IpCidr};

use crate::device::Pipe;
use crate::event::ConnId;

pub(crate) struct Shard {
    pub iface: Interface,
    pub device: Pipe,
    pub sockets: SocketSet<'static>,
    /// The connections whose sockets live here.
    pub conns: Vec<ConnId>,
    /// When smoltcp wants a poll (micros since the host's base), as last
    /// computed; mirrored in the host's timer set.
    pub deadline: Option<i64>,
    /// The dirty-flush round this shard was last polled in.
    pub flushed_in: u64,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("conns", &self.conns.len())
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Shard {
    pub fn new(address: Ipv4Addr, mtu: usize, seed: u64) -> Self {
        let mut device = Pipe::new(mtu);
        let mut config = IfaceConfig::new(HardwareAddress::Ip);
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut device, SmolInstant::ZERO);
        iface.update_ip_addrs(|addrs| {
            // The table holds two addresses; one always fits.
            let _ = addrs.push(IpCidr::new(address.into(), 32));
        });
        // Clients are not on a subnet of a /32: a default route via our own
        // address lets smoltcp send to them (IP medium: no neighbour to
        // resolve). With any_ip off it accepts nothing more than before.
        let _ = iface.routes_mut().add_default_ipv4_route(address);
        Shard {
            iface,
            device,
            sockets: SocketSet::new(Vec::new()),
            conns: Vec::new(),
            deadline: None,
            flushed_in: 0,
        }
    }

    pub fn poll(&mut self, at: SmolInstant) {
        self.iface.poll(at, &mut self.device, &mut self.sockets);
        self.device.clear_rx();
    }

    pub fn next_deadline(&mut self, at: SmolInstant) -> Option<i64> {
        self.iface
            .poll_at(at, &self.sockets)
            .map(|i| i.total_micros())
    }
}

/// SplitMix64: spreads the caller's seed over the shards' RNG seeds.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
