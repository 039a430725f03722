//! Everything the translator needs to know that is not a frame: who the
//! gateway is, how large frames to clients may be, caps and timers.

use std::net::Ipv4Addr;
use std::time::Duration;

use smoltcp::wire::EthernetAddress;

/// One network's NAT settings on one node.
#[derive(Debug, Clone)]
pub struct Config {
    /// Source MAC of every frame sent to a client (the gateway's pinned MAC).
    pub gateway_mac: EthernetAddress,
    /// Source of ICMP errors the translator itself originates (policy
    /// denials): RFC 1812 5.2.7.1 has the router that refuses say so.
    pub gateway_ip: Ipv4Addr,
    /// IP MTU towards clients (the network's MTU, DHCP option 26). TCP MSS
    /// is derived from it; UDP and echo replies larger than it are dropped
    /// and counted (no IP fragmentation towards clients).
    pub mtu: usize,
    pub limits: Limits,
    pub timeouts: Timeouts,
}

impl Config {
    /// Defaults for a gateway at `gateway_ip`/`gateway_mac` and the DESIGN.md
    /// default tap MTU of 1380.
    pub fn new(gateway_mac: EthernetAddress, gateway_ip: Ipv4Addr) -> Self {
        Config {
            gateway_mac,
            gateway_ip,
            mtu: 1380,
            limits: Limits::default(),
            timeouts: Timeouts::default(),
        }
    }
}

/// Caps: every table and queue is bounded so that a client (or a slow
/// outside peer) cannot grow the node's memory without bound.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Flows of every kind in total (including TCP in TIME-WAIT).
    pub max_flows: usize,
    /// Flows of one client IP.
    pub max_flows_per_client: usize,
    /// TCP flows in total: each holds two buffers of `tcp_buffer` bytes.
    pub max_tcp_flows: usize,
    /// Bytes of each of a TCP flow's smoltcp buffers (client->host and
    /// host->client); bounds the memory per flow and the client's window.
    pub tcp_buffer: usize,
    /// Bytes handed to the I/O side in `SendTcp` and not yet confirmed by
    /// `tcp_written`: beyond this the translator stops reading the client's
    /// socket, whose receive window then closes (backpressure).
    pub tcp_in_flight: usize,
    /// Published ports.
    pub max_published: usize,
    /// Frames waiting in `poll_frame`.
    pub max_queued_frames: usize,
    /// Packet-carrying commands (`SendUdp`, `SendPing`, `SendUdpTo`)
    /// waiting in `poll_command`; control commands are never dropped.
    pub max_queued_commands: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_flows: 4096,
            max_flows_per_client: 512,
            max_tcp_flows: 1024,
            tcp_buffer: 64 * 1024,
            tcp_in_flight: 64 * 1024,
            max_published: 256,
            max_queued_frames: 1024,
            max_queued_commands: 1024,
        }
    }
}

/// Timers; all measured from the flow's last activity.
#[derive(Debug, Clone)]
pub struct Timeouts {
    /// UDP flow without a datagram either way (the seed's 60 s).
    pub udp_idle: Duration,
    /// Echo flow without a request or reply.
    pub ping_idle: Duration,
    /// TCP: SYN held while the host connects, or our SYN to a published
    /// client unanswered.
    pub tcp_connect: Duration,
    /// Established TCP without bytes either way.
    pub tcp_idle: Duration,
    /// TCP after the first FIN or in TIME-WAIT: how long the other side has
    /// to finish before the flow is reset and removed.
    pub tcp_closing: Duration,
    /// smoltcp user timeout: unacknowledged data towards the client for this
    /// long aborts the connection (a vanished client).
    pub tcp_user_timeout: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            udp_idle: Duration::from_secs(60),
            ping_idle: Duration::from_secs(30),
            tcp_connect: Duration::from_secs(75),
            tcp_idle: Duration::from_secs(2 * 3600),
            tcp_closing: Duration::from_secs(60),
            tcp_user_timeout: Duration::from_secs(60),
        }
    }
}
