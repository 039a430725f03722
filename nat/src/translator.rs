//! The translator: dispatch of client frames, the output queues, timers.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::Instant;

use smoltcp::wire::{EthernetAddress, Icmpv4DstUnreachable, IpProtocol};

use crate::command::Command;
use crate::config::Config;
use crate::counters::{Counters, DropReason};
use crate::flow::{FlowKind, FlowStats};
use crate::frames::{self, ClientPacket};
use crate::policy::{DenyReason, Policy};
use crate::publish::PublishTable;
use crate::table::FlowTable;
use crate::tcp::TcpStack;

/// NAT for one network on one node. See the crate docs for the drain rule.
pub struct Translator {
    pub(crate) config: Config,
    pub(crate) policy: Policy,
    pub(crate) table: FlowTable,
    pub(crate) publish: PublishTable,
    pub(crate) stack: TcpStack,
    commands: VecDeque<Command>,
    frames: VecDeque<Vec<u8>>,
    pub(crate) counters: Counters,
    /// The latest `now` given; smoltcp's timer query needs one.
    pub(crate) last_now: Instant,
    /// Sockets owe segments (window updates) to a `flush_stack`.
    pub(crate) stack_dirty: bool,
}

impl std::fmt::Debug for Translator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Translator")
            .field("gateway_ip", &self.config.gateway_ip)
            .field("flows", &self.table.len())
            .field("commands", &self.commands.len())
            .field("frames", &self.frames.len())
            .finish_non_exhaustive()
    }
}

impl Translator {
    /// `seed` feeds TCP initial sequence numbers; pass a random one.
    pub fn new(config: Config, policy: Policy, seed: u64, now: Instant) -> Self {
        let stack = TcpStack::new(config.gateway_ip, config.mtu, seed, now);
        Translator {
            config,
            policy,
            table: FlowTable::default(),
            publish: PublishTable::default(),
            stack,
            commands: VecDeque::new(),
            frames: VecDeque::new(),
            counters: Counters::default(),
            last_now: now,
            stack_dirty: false,
        }
    }

    /// Replaces the policy (the chain changed `nat`/`nat-allow`). Applies to
    /// new flows.
    pub fn set_policy(&mut self, policy: Policy) {
        self.policy = policy;
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    /// A client frame the gateway routed to NAT (IPv4 in Ethernet, to the
    /// gateway MAC, destination outside every routed subnet). Never panics;
    /// what it cannot use it drops and counts.
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        self.last_now = now;
        match frames::parse_client_frame(frame) {
            Ok(pkt) => self.handle_client_packet(now, &pkt),
            Err(reason) => self.counters.drop(reason),
        }
    }

    /// The same for a bare IPv4 packet (vrouter's `Output::ToNat`) from the
    /// client at `client_mac` (the source MAC of the frame it came in).
    pub fn handle_packet(&mut self, now: Instant, client_mac: EthernetAddress, packet: &[u8]) {
        self.last_now = now;
        match frames::parse_client_ip(client_mac, packet) {
            Ok(pkt) => self.handle_client_packet(now, &pkt),
            Err(reason) => self.counters.drop(reason),
        }
    }

    fn handle_client_packet(&mut self, now: Instant, pkt: &ClientPacket<'_>) {
        match pkt.ip.next_header {
            IpProtocol::Udp => self.client_udp(now, pkt),
            IpProtocol::Tcp => self.client_tcp(now, pkt),
            IpProtocol::Icmp => self.client_icmp(now, pkt),
            _ => self.counters.drop(DropReason::UnsupportedProtocol),
        }
    }

    /// The next request for the I/O side.
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// Writes the next frame for a client into `buf` and returns its length.
    /// A frame larger than `buf` is dropped and counted; size `buf` for the
    /// MTU plus 14.
    pub fn poll_frame(&mut self, buf: &mut [u8]) -> Option<usize> {
        while let Some(frame) = self.frames.pop_front() {
            if let Some(dst) = buf.get_mut(..frame.len()) {
                dst.copy_from_slice(&frame);
                return Some(frame.len());
            }
            self.counters.drop(DropReason::BufferTooSmall);
        }
        None
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        let stack = self.stack.poll_at(self.last_now);
        match (self.table.next_deadline(), stack) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs smoltcp's timers (retransmits, TIME-WAIT) and the flow timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        self.stack.poll(now);
        self.drain_stack(None);
        for id in self.table.tcp_ids() {
            self.service_tcp(now, id);
        }
        self.flush_stack(now);
        for id in self.table.expired(now) {
            let Some(flow) = self.table.get(id) else {
                continue;
            };
            match flow.kind {
                FlowKind::Tcp | FlowKind::PublishedTcp => self.expire_tcp(id),
                FlowKind::Udp | FlowKind::Ping => {
                    self.table.remove(id);
                    self.counters.expired += 1;
                    self.push_command(Command::Close { flow: id });
                }
                FlowKind::PublishedUdp => {
                    self.table.remove(id);
                    self.counters.expired += 1;
                }
            }
        }
    }

    /// Flow counts per kind and per client, for status.
    pub fn flows(&self) -> FlowStats {
        self.table.stats()
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// (destination, source) MACs of a frame to `client_mac`.
    pub(crate) fn macs(&self, client_mac: EthernetAddress) -> (EthernetAddress, EthernetAddress) {
        (client_mac, self.config.gateway_mac)
    }

    pub(crate) fn push_command(&mut self, command: Command) {
        if command.is_droppable() && self.commands.len() >= self.config.limits.max_queued_commands {
            return self.counters.drop(DropReason::CommandQueueFull);
        }
        self.commands.push_back(command);
    }

    pub(crate) fn push_frame(&mut self, frame: Vec<u8>) {
        if self.frames.len() >= self.config.limits.max_queued_frames {
            return self.counters.drop(DropReason::FrameQueueFull);
        }
        self.counters.frames_out += 1;
        self.frames.push_back(frame);
    }

    /// Policy said no: ICMP "communication administratively prohibited"
    /// (RFC 1812 5.2.7.1, code 13) from the gateway, for every protocol. A
    /// TCP client fails at once ("No route to host") and the reason is told
    /// apart from a refused port (RST) or a silent drop.
    pub(crate) fn deny(&mut self, pkt: &ClientPacket<'_>, reason: DenyReason) {
        self.counters.deny(reason);
        let frame = frames::unreachable(
            self.macs(pkt.src_mac),
            self.config.gateway_ip,
            pkt.ip.src_addr,
            Icmpv4DstUnreachable::CommProhibited,
            frames::quote(pkt),
        );
        self.push_frame(frame);
    }

    /// Turns the IP packets smoltcp sent into frames to their clients.
    /// `fallback` names a client with no flow (a RST to a stray segment).
    pub(crate) fn drain_stack(&mut self, fallback: Option<(Ipv4Addr, EthernetAddress)>) {
        while let Some(packet) = self.stack.take_tx() {
            let Some(dst) = frames::ip_dst(&packet) else {
                continue;
            };
            let mac = self
                .table
                .client_mac(dst)
                .or(fallback.filter(|(ip, _)| *ip == dst).map(|(_, mac)| mac));
            match mac {
                Some(mac) => {
                    let frame = frames::wrap_ip(mac, self.config.gateway_mac, &packet);
                    self.push_frame(frame);
                }
                None => self.counters.drop(DropReason::UnknownClient),
            }
        }
    }
}
