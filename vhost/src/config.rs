//! What a virtual host is built with.

use std::net::Ipv4Addr;
use std::time::Duration;

/// Settings of one [`crate::VirtualHost`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The gateway address the services listen on (the only address the
    /// host answers for).
    pub address: Ipv4Addr,
    /// Largest IP packet sent (the network's MTU).
    pub mtu: usize,
    /// TCP connections (any state) in total; a SYN over it gets RST.
    pub max_sockets_total: usize,
    /// TCP connections per peer IPv4 address; a SYN over it gets RST.
    pub max_sockets_per_peer_ip: usize,
    /// smoltcp interfaces the connections are spread over by a hash of
    /// their 4-tuple. smoltcp walks every socket of an interface for each
    /// packet and each poll, so a packet costs O(sockets / shards).
    pub shards: usize,
    /// Seeds the shard hash and each shard's smoltcp RNG (initial sequence
    /// numbers, RFC 6528: pass a random value).
    pub seed: u64,
    /// Receive and transmit buffer of each TCP connection, bytes each.
    /// Memory at the total cap is `2 * tcp_buffer * max_sockets_total`.
    pub tcp_buffer: usize,
    /// A connection whose peer stays silent this long while we wait for
    /// it (handshake, unacknowledged data, keep-alive) is aborted.
    pub tcp_timeout: Duration,
    /// Keep-alive interval on idle connections, so a vanished peer is
    /// noticed within `tcp_keep_alive + tcp_timeout`. Must be below
    /// `tcp_timeout` (smoltcp aborts an idle socket whose peer was silent
    /// for `tcp_timeout`, keep-alive or not).
    pub tcp_keep_alive: Option<Duration>,
    /// IP packets queued for [`crate::VirtualHost::poll_transmit`]; more are
    /// dropped and counted (TCP retransmits).
    pub max_tx_queue: usize,
    /// UDP datagrams queued as events; more are dropped and counted.
    pub max_udp_queue: usize,
}

impl Config {
    /// The defaults for a gateway at `address`.
    pub fn new(address: Ipv4Addr) -> Self {
        Config {
            address,
            ..Config::default()
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            address: Ipv4Addr::new(10, 0, 0, 1),
            mtu: 1380,
            max_sockets_total: 16384,
            max_sockets_per_peer_ip: 256,
            // 16 sockets per shard at the total cap.
            shards: 1024,
            seed: 0,
            tcp_buffer: 8192,
            tcp_timeout: Duration::from_secs(60),
            // Below `tcp_timeout`, so a live idle peer answers in time.
            tcp_keep_alive: Some(Duration::from_secs(20)),
            max_tx_queue: 4096,
            max_udp_queue: 1024,
        }
    }
}
