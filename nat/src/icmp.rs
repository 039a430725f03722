//! ICMP echo: one flow per (client address, echo identifier, remote
//! address), each on an unprivileged ping socket
//! (`socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP)`). Linux allows those to
//! the groups in the sysctl `net.ipv4.ping_group_range` (default "1 0":
//! nobody), so a node that should answer pings sets it to include its
//! group. The kernel rewrites the echo identifier to the socket's; replies
//! get the client's identifier back here. Other ICMP from clients (errors,
//! timestamps) is dropped and counted.

use std::net::SocketAddrV4;
use std::time::Instant;

use smoltcp::wire::{Icmpv4Packet, Icmpv4Repr};

use crate::command::Command;
use crate::counters::DropReason;
use crate::flow::{FlowId, FlowKey, FlowKind, Transport};
use crate::frames::{self, ClientPacket};
use crate::translator::Translator;

impl Translator {
    pub(crate) fn client_icmp(&mut self, now: Instant, pkt: &ClientPacket<'_>) {
        let Ok(packet) = Icmpv4Packet::new_checked(pkt.payload) else {
            return self.counters.drop(DropReason::BadIcmp);
        };
        let Ok(repr) = Icmpv4Repr::parse(&packet, &frames::checksums()) else {
            return self.counters.drop(DropReason::BadIcmp);
        };
        let Icmpv4Repr::EchoRequest {
            ident,
            seq_no,
            data,
        } = repr
        else {
            return self.counters.drop(DropReason::IcmpNotEcho);
        };
        let key = FlowKey {
            transport: Transport::Icmp,
            client: SocketAddrV4::new(pkt.ip.src_addr, ident),
            remote: SocketAddrV4::new(pkt.ip.dst_addr, 0),
        };
        let id = match self.table.lookup(&key) {
            Some(id) => id,
            None => match self.open_datagram(now, pkt, key, FlowKind::Ping) {
                Some(id) => id,
                None => return,
            },
        };
        self.table
            .set_deadline(id, now + self.config.timeouts.ping_idle);
        self.push_command(Command::SendPing {
            flow: id,
            seq: seq_no,
            payload: data.to_vec(),
        });
    }

    /// An echo reply arrived on `flow`'s ping socket.
    pub fn ping_reply(&mut self, now: Instant, flow: FlowId, seq: u16, payload: &[u8]) {
        self.last_now = now;
        let Some(f) = self.table.get(flow) else {
            return self.counters.drop(DropReason::UnknownFlow);
        };
        if f.kind != FlowKind::Ping {
            return self.counters.drop(DropReason::WrongFlow);
        }
        if frames::echo_ip_len(payload.len()) > self.config.mtu {
            return self.counters.drop(DropReason::Oversize);
        }
        let frame = frames::echo_reply(
            self.macs(f.client_mac),
            *f.key.remote.ip(),
            *f.key.client.ip(),
            f.key.client.port(),
            seq,
            payload,
        );
        self.push_frame(frame);
        self.table
            .set_deadline(flow, now + self.config.timeouts.ping_idle);
    }
}
