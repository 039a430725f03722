//! What the host did and why it dropped what it dropped.

/// Why a packet or connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a well-formed IPv4 packet, or a bad TCP/UDP header or checksum.
    Malformed,
    /// An IPv4 fragment (services here never need them).
    Fragment,
    /// Destination is not the host's address.
    NotForUs,
    /// Neither TCP nor UDP.
    UnsupportedProtocol,
    /// TCP SYN to a port nobody listens on (answered with RST).
    TcpNotListening,
    /// TCP segment of no connection (answered with RST unless it was one).
    TcpNoConnection,
    /// UDP to a port nobody listens on (answered with ICMP port unreachable).
    UdpNotListening,
    /// A new connection over `max_sockets_total` (answered with RST).
    CapTotal,
    /// A new connection over `max_sockets_per_peer_ip` (answered with RST).
    CapPerPeerIp,
    /// The UDP event queue was full.
    UdpQueueFull,
    /// The transmit queue was full.
    TxQueueFull,
}

/// Counters of one virtual host. `active` is a gauge, the rest only grow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub drop_malformed: u64,
    pub drop_fragment: u64,
    pub drop_not_for_us: u64,
    pub drop_unsupported_protocol: u64,
    pub drop_tcp_not_listening: u64,
    pub drop_tcp_no_connection: u64,
    pub drop_udp_not_listening: u64,
    pub drop_cap_total: u64,
    pub drop_cap_per_peer_ip: u64,
    pub drop_udp_queue_full: u64,
    pub drop_tx_queue_full: u64,
    /// Inbound connections that completed the handshake.
    pub tcp_accepted: u64,
    /// Outbound connections (`tcp_connect`) that completed the handshake.
    pub tcp_connected: u64,
    /// Connections that ended after being accepted or connected.
    pub tcp_closed: u64,
    /// Connections that ended before the handshake completed.
    pub tcp_handshake_failed: u64,
    /// Connections holding a socket now (any state).
    pub tcp_active: u64,
    pub udp_received: u64,
    pub udp_sent: u64,
}

impl Counters {
    pub(crate) fn drop(&mut self, reason: DropReason) {
        let c = match reason {
            DropReason::Malformed => &mut self.drop_malformed,
            DropReason::Fragment => &mut self.drop_fragment,
            DropReason::NotForUs => &mut self.drop_not_for_us,
            DropReason::UnsupportedProtocol => &mut self.drop_unsupported_protocol,
            DropReason::TcpNotListening => &mut self.drop_tcp_not_listening,
            DropReason::TcpNoConnection => &mut self.drop_tcp_no_connection,
            DropReason::UdpNotListening => &mut self.drop_udp_not_listening,
            DropReason::CapTotal => &mut self.drop_cap_total,
            DropReason::CapPerPeerIp => &mut self.drop_cap_per_peer_ip,
            DropReason::UdpQueueFull => &mut self.drop_udp_queue_full,
            DropReason::TxQueueFull => &mut self.drop_tx_queue_full,
        };
        *c += 1;
    }

    /// Drops of `reason` so far.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        match reason {
            DropReason::Malformed => self.drop_malformed,
            DropReason::Fragment => self.drop_fragment,
            DropReason::NotForUs => self.drop_not_for_us,
            DropReason::UnsupportedProtocol => self.drop_unsupported_protocol,
            DropReason::TcpNotListening => self.drop_tcp_not_listening,
            DropReason::TcpNoConnection => self.drop_tcp_no_connection,
            DropReason::UdpNotListening => self.drop_udp_not_listening,
            DropReason::CapTotal => self.drop_cap_total,
            DropReason::CapPerPeerIp => self.drop_cap_per_peer_ip,
            DropReason::UdpQueueFull => self.drop_udp_queue_full,
            DropReason::TxQueueFull => self.drop_tx_queue_full,
        }
    }

    /// Every drop counter, summed.
    pub fn dropped_total(&self) -> u64 {
        self.drop_malformed
            + self.drop_fragment
            + self.drop_not_for_us
            + self.drop_unsupported_protocol
            + self.drop_tcp_not_listening
            + self.drop_tcp_no_connection
            + self.drop_udp_not_listening
            + self.drop_cap_total
            + self.drop_cap_per_peer_ip
            + self.drop_udp_queue_full
            + self.drop_tx_queue_full
    }

    /// Every counter by its name (metrics: `vhost_<name>`).
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("drop_malformed", self.drop_malformed),
            ("drop_fragment", self.drop_fragment),
            ("drop_not_for_us", self.drop_not_for_us),
            ("drop_unsupported_protocol", self.drop_unsupported_protocol),
            ("drop_tcp_not_listening", self.drop_tcp_not_listening),
            ("drop_tcp_no_connection", self.drop_tcp_no_connection),
            ("drop_udp_not_listening", self.drop_udp_not_listening),
            ("drop_cap_total", self.drop_cap_total),
            ("drop_cap_per_peer_ip", self.drop_cap_per_peer_ip),
            ("drop_udp_queue_full", self.drop_udp_queue_full),
            ("drop_tx_queue_full", self.drop_tx_queue_full),
            ("tcp_accepted", self.tcp_accepted),
            ("tcp_connected", self.tcp_connected),
            ("tcp_closed", self.tcp_closed),
            ("tcp_handshake_failed", self.tcp_handshake_failed),
            ("tcp_active", self.tcp_active),
            ("udp_received", self.udp_received),
            ("udp_sent", self.udp_sent),
        ]
        .into_iter()
    }

    /// Adds `other`'s counts (totals over several hosts).
    pub fn add(&mut self, other: &Counters) {
        self.drop_malformed += other.drop_malformed;
        self.drop_fragment += other.drop_fragment;
        self.drop_not_for_us += other.drop_not_for_us;
        self.drop_unsupported_protocol += other.drop_unsupported_protocol;
        self.drop_tcp_not_listening += other.drop_tcp_not_listening;
        self.drop_tcp_no_connection += other.drop_tcp_no_connection;
        self.drop_udp_not_listening += other.drop_udp_not_listening;
        self.drop_cap_total += other.drop_cap_total;
        self.drop_cap_per_peer_ip += other.drop_cap_per_peer_ip;
        self.drop_udp_queue_full += other.drop_udp_queue_full;
        self.drop_tx_queue_full += other.drop_tx_queue_full;
        self.tcp_accepted += other.tcp_accepted;
        self.tcp_connected += other.tcp_connected;
        self.tcp_closed += other.tcp_closed;
        self.tcp_handshake_failed += other.tcp_handshake_failed;
        self.tcp_active += other.tcp_active;
        self.udp_received += other.udp_received;
        self.udp_sent += other.udp_sent;
    }
}
