//! UDP: one flow per (client address, client port, remote address, remote
//! port), each on its own connected host socket, so each has its own host
//! source port and replies find their flow by socket, not by a port table
//! (the seed's "unique source port per flow"). Flows end after
//! `Timeouts::udp_idle` without a datagram either way.

use std::net::SocketAddrV4;
use std::time::Instant;

use smoltcp::wire::{UdpPacket, UdpRepr};

use crate::command::Command;
use crate::counters::DropReason;
use crate::flow::{FlowId, FlowKey, FlowKind, FlowState, Transport};
use crate::frames::{self, ClientPacket};
use crate::translator::Translator;

impl Translator {
    pub(crate) fn client_udp(&mut self, now: Instant, pkt: &ClientPacket<'_>) {
        let (src, dst) = (pkt.ip.src_addr, pkt.ip.dst_addr);
        let Ok(datagram) = UdpPacket::new_checked(pkt.payload) else {
            return self.counters.drop(DropReason::BadUdp);
        };
        let Ok(repr) = UdpRepr::parse(&datagram, &src.into(), &dst.into(), &frames::checksums())
        else {
            return self.counters.drop(DropReason::BadUdp);
        };
        let key = FlowKey {
            transport: Transport::Udp,
            client: SocketAddrV4::new(src, repr.src_port),
            remote: SocketAddrV4::new(dst, repr.dst_port),
        };
        let id = match self.table.lookup(&key) {
            Some(id) => id,
            None => match self.open_datagram(now, pkt, key, FlowKind::Udp) {
                Some(id) => id,
                None => return,
            },
        };
        self.table
            .set_deadline(id, now + self.config.timeouts.udp_idle);
        let payload = datagram.payload().to_vec();
        let command = match self.table.get(id).map(|f| &f.state) {
            Some(FlowState::PublishedUdp { host_port }) => Command::SendUdpTo {
                host_port: *host_port,
                remote: key.remote,
                payload,
            },
            _ => Command::SendUdp { flow: id, payload },
        };
        self.push_command(command);
    }

    /// Opens an outbound UDP or echo flow after policy and caps.
    pub(crate) fn open_datagram(
        &mut self,
        now: Instant,
        pkt: &ClientPacket<'_>,
        key: FlowKey,
        kind: FlowKind,
    ) -> Option<FlowId> {
        if let Err(reason) = self.policy.check(*key.remote.ip()) {
            self.deny(pkt, reason);
            return None;
        }
        if let Err(reason) = self
            .table
            .admit(&self.config.limits, *key.client.ip(), kind)
        {
            // A full table drops datagrams silently, like a NAT box.
            self.counters.drop(reason);
            return None;
        }
        let idle = match kind {
            FlowKind::Ping => self.config.timeouts.ping_idle,
            _ => self.config.timeouts.udp_idle,
        };
        let id = self
            .table
            .insert(key, kind, pkt.src_mac, now + idle, FlowState::Datagram);
        self.counters.open(kind);
        self.push_command(match kind {
            FlowKind::Ping => Command::OpenPing {
                flow: id,
                dst: *key.remote.ip(),
            },
            _ => Command::OpenUdp {
                flow: id,
                dst: key.remote,
            },
        });
        Some(id)
    }

    /// A datagram arrived on `flow`'s host socket: deliver it to the client
    /// as if from the remote.
    pub fn udp_received(&mut self, now: Instant, flow: FlowId, payload: &[u8]) {
        self.last_now = now;
        let Some(f) = self.table.get(flow) else {
            return self.counters.drop(DropReason::UnknownFlow);
        };
        if f.kind != FlowKind::Udp {
            return self.counters.drop(DropReason::WrongFlow);
        }
        if frames::udp_ip_len(payload.len()) > self.config.mtu {
            return self.counters.drop(DropReason::Oversize);
        }
        let frame = frames::udp(self.macs(f.client_mac), f.key.remote, f.key.client, payload);
        self.push_frame(frame);
        self.table
            .set_deadline(flow, now + self.config.timeouts.udp_idle);
    }
}

/// Why the host could not deliver a flow's datagram, as the I/O side learnt
/// it (`ECONNREFUSED`, `EHOSTUNREACH`, `ENETUNREACH` on the socket, from
/// the ICMP error the host kernel received).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unreachable {
    /// The remote host said the port is closed.
    Port,
    /// No route to the remote host.
    Host,
    /// No route to the remote network.
    Net,
}

impl Translator {
    /// Tells the client that `flow`'s datagrams do not arrive, with the ICMP
    /// error it would have got without NAT (so a DNS client fails over at
    /// once instead of timing out). Port unreachable comes from the remote,
    /// host/net unreachable from the gateway (we do not know which router
    /// sent it). Works for UDP and echo flows; the flow stays open.
    pub fn datagram_unreachable(&mut self, now: Instant, flow: FlowId, why: Unreachable) {
        use smoltcp::wire::{Icmpv4DstUnreachable, IpProtocol};
        self.last_now = now;
        let Some(f) = self.table.get(flow) else {
            return self.counters.drop(DropReason::UnknownFlow);
        };
        let (client, remote) = (f.key.client, f.key.remote);
        let (proto, transport) = match f.kind {
            FlowKind::Udp => {
                let mut t = [0u8; frames::QUOTE_DATA];
                t[..2].copy_from_slice(&client.port().to_be_bytes());
                t[2..4].copy_from_slice(&remote.port().to_be_bytes());
                t[4..6].copy_from_slice(&8u16.to_be_bytes());
                (IpProtocol::Udp, t)
            }
            FlowKind::Ping => {
                // Echo request (type 8), identifier in bytes 4..6.
                let mut t = [8u8, 0, 0, 0, 0, 0, 0, 0];
                t[4..6].copy_from_slice(&client.port().to_be_bytes());
                (IpProtocol::Icmp, t)
            }
            _ => return self.counters.drop(DropReason::WrongFlow),
        };
        let quote = frames::synthetic_quote(*client.ip(), *remote.ip(), proto, transport);
        let (from, reason) = match why {
            Unreachable::Port => (*remote.ip(), Icmpv4DstUnreachable::PortUnreachable),
            Unreachable::Host => (
                self.config.gateway_ip,
                Icmpv4DstUnreachable::HostUnreachable,
            ),
            Unreachable::Net => (self.config.gateway_ip, Icmpv4DstUnreachable::NetUnreachable),
        };
        let frame =
            frames::unreachable(self.macs(f.client_mac), from, *client.ip(), reason, &quote);
        self.push_frame(frame);
    }
}
