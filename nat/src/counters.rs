//! Why frames and calls were dropped, and what happened to flows: plain
//! counters indexed by enums, so `tok status` and metrics can name them.

use crate::flow::FlowKind;
use crate::policy::DenyReason;

/// Why a frame from a client, a packet for a client, or an I/O call was
/// dropped. One reason per check; the first failing check wins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// Shorter than an Ethernet header.
    Runt,
    /// Not IPv4 (the gateway hands over IPv4 only).
    NotIpv4,
    /// IPv4 header invalid (length, version, checksum).
    BadIpv4,
    /// An IP fragment: no reassembly in the translator.
    Fragment,
    /// Source address not unicast (0.0.0.0, broadcast, multicast).
    BadSource,
    /// Neither TCP, UDP nor ICMP.
    UnsupportedProtocol,
    BadUdp,
    BadTcp,
    BadIcmp,
    /// ICMP other than echo request from a client.
    IcmpNotEcho,
    /// Destination denied by policy (see `Counters::denied`).
    Denied,
    /// The flow table is full.
    FlowCap,
    /// The client has too many flows.
    ClientCap,
    /// Too many TCP flows.
    TcpCap,
    /// A segment for a TCP flow whose host connect is still pending.
    ConnectPending,
    /// A reply that does not fit the client MTU.
    Oversize,
    /// The frame queue was full.
    FrameQueueFull,
    /// The packet-command queue was full.
    CommandQueueFull,
    /// An I/O call for a flow that no longer exists (it raced a close).
    UnknownFlow,
    /// An I/O call that does not fit the flow's kind or state.
    WrongFlow,
    /// A frame for a client whose MAC is unknown.
    UnknownClient,
    /// `poll_frame` was given a buffer smaller than the frame.
    BufferTooSmall,
}

impl DropReason {
    pub const ALL: [DropReason; 22] = [
        DropReason::Runt,
        DropReason::NotIpv4,
        DropReason::BadIpv4,
        DropReason::Fragment,
        DropReason::BadSource,
        DropReason::UnsupportedProtocol,
        DropReason::BadUdp,
        DropReason::BadTcp,
        DropReason::BadIcmp,
        DropReason::IcmpNotEcho,
        DropReason::Denied,
        DropReason::FlowCap,
        DropReason::ClientCap,
        DropReason::TcpCap,
        DropReason::ConnectPending,
        DropReason::Oversize,
        DropReason::FrameQueueFull,
        DropReason::CommandQueueFull,
        DropReason::UnknownFlow,
        DropReason::WrongFlow,
        DropReason::UnknownClient,
        DropReason::BufferTooSmall,
    ];

    /// snake_case name for metrics.
    pub fn name(self) -> &'static str {
        match self {
            DropReason::Runt => "runt",
            DropReason::NotIpv4 => "not_ipv4",
            DropReason::BadIpv4 => "bad_ipv4",
            DropReason::Fragment => "fragment",
            DropReason::BadSource => "bad_source",
            DropReason::UnsupportedProtocol => "unsupported_protocol",
            DropReason::BadUdp => "bad_udp",
            DropReason::BadTcp => "bad_tcp",
            DropReason::BadIcmp => "bad_icmp",
            DropReason::IcmpNotEcho => "icmp_not_echo",
            DropReason::Denied => "denied",
            DropReason::FlowCap => "flow_cap",
            DropReason::ClientCap => "client_cap",
            DropReason::TcpCap => "tcp_cap",
            DropReason::ConnectPending => "connect_pending",
            DropReason::Oversize => "oversize",
            DropReason::FrameQueueFull => "frame_queue_full",
            DropReason::CommandQueueFull => "command_queue_full",
            DropReason::UnknownFlow => "unknown_flow",
            DropReason::WrongFlow => "wrong_flow",
            DropReason::UnknownClient => "unknown_client",
            DropReason::BufferTooSmall => "buffer_too_small",
        }
    }

    fn index(self) -> usize {
        DropReason::ALL
            .iter()
            .position(|r| *r == self)
            .unwrap_or_default()
    }
}

/// Counters of one translator.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    drops: [u64; DropReason::ALL.len()],
    denied: [u64; DenyReason::ALL.len()],
    opened: [u64; FlowKind::ALL.len()],
    /// Flows removed by an idle/connect/closing timer.
    pub expired: u64,
    /// Flows that ended with `Command::Reset` or a RST to the client.
    pub reset: u64,
    /// Flows that ended normally.
    pub closed: u64,
    /// Frames queued for clients.
    pub frames_out: u64,
}

impl Counters {
    pub fn drops(&self, reason: DropReason) -> u64 {
        self.drops[reason.index()]
    }

    pub fn denied(&self, reason: DenyReason) -> u64 {
        self.denied[reason.index()]
    }

    pub fn opened(&self, kind: FlowKind) -> u64 {
        self.opened[kind.index()]
    }

    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Every counter with its metric name: `drop_<reason>`, `deny_<reason>`,
    /// `opened_<kind>`, `expired`, `reset`, `closed`, `frames_out`.
    pub fn iter(&self) -> impl Iterator<Item = (String, u64)> + '_ {
        let drops = DropReason::ALL
            .iter()
            .map(|r| (format!("drop_{}", r.name()), self.drops(*r)));
        let denied = DenyReason::ALL
            .iter()
            .map(|r| (format!("deny_{}", r.name()), self.denied(*r)));
        let opened = FlowKind::ALL
            .iter()
            .map(|k| (format!("opened_{}", k.name()), self.opened(*k)));
        let plain = [
            ("expired".to_owned(), self.expired),
            ("reset".to_owned(), self.reset),
            ("closed".to_owned(), self.closed),
            ("frames_out".to_owned(), self.frames_out),
        ];
        drops.chain(denied).chain(opened).chain(plain)
    }

    pub(crate) fn drop(&mut self, reason: DropReason) {
        self.drops[reason.index()] += 1;
    }

    pub(crate) fn deny(&mut self, reason: DenyReason) {
        self.drop(DropReason::Denied);
        self.denied[reason.index()] += 1;
    }

    pub(crate) fn open(&mut self, kind: FlowKind) {
        self.opened[kind.index()] += 1;
    }
}
