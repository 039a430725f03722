//! Segments from clients.

use std::net::SocketAddrV4;
use std::time::Instant;

use smoltcp::wire::{TcpControl, TcpPacket, TcpRepr};

use super::{Phase, TcpFlow};
use crate::command::Command;
use crate::counters::DropReason;
use crate::flow::{FlowKey, FlowKind, FlowState, Transport};
use crate::frames::{self, ClientPacket};
use crate::translator::Translator;

impl Translator {
    pub(crate) fn client_tcp(&mut self, now: Instant, pkt: &ClientPacket<'_>) {
        let (src, dst) = (pkt.ip.src_addr, pkt.ip.dst_addr);
        let Ok(seg) = TcpPacket::new_checked(pkt.payload) else {
            return self.counters.drop(DropReason::BadTcp);
        };
        let Ok(repr) = TcpRepr::parse(&seg, &src.into(), &dst.into(), &frames::checksums()) else {
            return self.counters.drop(DropReason::BadTcp);
        };
        let key = FlowKey {
            transport: Transport::Tcp,
            client: SocketAddrV4::new(src, repr.src_port),
            remote: SocketAddrV4::new(dst, repr.dst_port),
        };
        let is_syn = repr.control == TcpControl::Syn && repr.ack_number.is_none();
        let mut existing = self.table.lookup(&key);
        if let Some(id) = existing {
            // The client reuses its port after our TIME-WAIT side: start over.
            if is_syn && self.tcp_flow(id).is_some_and(|t| t.released) {
                self.finish_tcp(id);
                existing = None;
            }
        }
        match existing {
            Some(id) => {
                if self.tcp_flow(id).is_some_and(|t| t.handle().is_none()) {
                    if repr.control == TcpControl::Rst {
                        self.reset_tcp(id);
                    } else {
                        // SYN retransmits while the host connects.
                        self.counters.drop(DropReason::ConnectPending);
                    }
                    return;
                }
                self.touch_tcp(now, id);
                self.stack.feed(now, pkt.packet);
                self.drain_stack(None);
                self.service_tcp(now, id);
                self.flush_stack(now);
            }
            None if is_syn => self.open_tcp(now, pkt, key),
            None => {
                // A segment of no connection: smoltcp answers RST (or
                // nothing, for a RST), as a host with a closed port would.
                self.stack.feed(now, pkt.packet);
                self.drain_stack(Some((src, pkt.src_mac)));
            }
        }
    }

    fn open_tcp(&mut self, now: Instant, pkt: &ClientPacket<'_>, key: FlowKey) {
        if let Err(reason) = self.policy.check(*key.remote.ip()) {
            return self.deny(pkt, reason);
        }
        if let Err(reason) = self
            .table
            .admit(&self.config.limits, *key.client.ip(), FlowKind::Tcp)
        {
            // Over a cap: refuse at once rather than leave the client to
            // retransmit SYNs into a full table.
            self.counters.drop(reason);
            if let Some(rst) = frames::tcp_rst(self.macs(pkt.src_mac), pkt.packet) {
                self.push_frame(rst);
            }
            return;
        }
        let flow = TcpFlow::new(Phase::Connecting {
            syn: pkt.packet.to_vec(),
        });
        let deadline = now + self.config.timeouts.tcp_connect;
        let id = self.table.insert(
            key,
            FlowKind::Tcp,
            pkt.src_mac,
            deadline,
            FlowState::Tcp(Box::new(flow)),
        );
        self.counters.open(FlowKind::Tcp);
        self.push_command(Command::OpenTcp {
            flow: id,
            dst: key.remote,
        });
    }
}
