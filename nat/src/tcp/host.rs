//! What the I/O side reports about a flow's host TCP socket.

use std::time::Instant;

use smoltcp::socket::tcp::State;

use super::{Phase, SocketParams};
use crate::counters::DropReason;
use crate::flow::{FlowId, FlowState};
use crate::translator::Translator;

impl Translator {
    /// The host connection for `flow` is up: answer the client's SYN.
    pub fn tcp_connected(&mut self, now: Instant, flow: FlowId) {
        self.last_now = now;
        let params = self.socket_params();
        let Some(f) = self.table.get_mut(flow) else {
            return self.counters.drop(DropReason::UnknownFlow);
        };
        let remote = f.key.remote;
        let FlowState::Tcp(tcp) = &mut f.state else {
            return self.counters.drop(DropReason::WrongFlow);
        };
        let Phase::Connecting { syn } = &mut tcp.phase else {
            return self.counters.drop(DropReason::WrongFlow);
        };
        let syn = std::mem::take(syn);
        let Some(handle) = self.stack.listen(remote, params) else {
            return self.reset_tcp(flow);
        };
        tcp.phase = Phase::Open { handle };
        self.stack.feed(now, &syn);
        // The listener must have taken the SYN; a listener left behind
        // would accept other clients' SYNs for this address.
        if self.stack.socket(handle).state() == State::Listen {
            return self.reset_tcp(flow);
        }
        self.touch_tcp(now, flow);
        self.drain_stack(None);
        self.service_tcp(now, flow);
        self.flush_stack(now);
    }

    /// The host connect failed (refused, unreachable, timed out): the client
    /// gets a RST for its SYN.
    pub fn tcp_refused(&mut self, now: Instant, flow: FlowId) {
        self.last_now = now;
        if self.table.get(flow).is_none() {
            return self.counters.drop(DropReason::UnknownFlow);
        }
        self.reset_tcp(flow);
    }

    /// Bytes the host socket received. Returns how many were taken; the I/O
    /// side keeps the rest and stops reading until `Command::ResumeRecv`.
    /// A flow that has ended takes everything (and its `Close`/`Reset` is
    /// already queued).
    pub fn tcp_received(&mut self, now: Instant, flow: FlowId, bytes: &[u8]) -> usize {
        self.last_now = now;
        let Some(tcp) = self.tcp_flow_mut(flow) else {
            self.counters.drop(DropReason::UnknownFlow);
            return bytes.len();
        };
        let Some(handle) = tcp.handle() else {
            tcp.host_blocked = true;
            return 0;
        };
        if tcp.host_eof {
            return bytes.len();
        }
        let socket = self.stack.socket(handle);
        let taken = if socket.may_send() {
            socket.send_slice(bytes).unwrap_or(0)
        } else if matches!(socket.state(), State::SynSent | State::SynReceived) {
            // The client side is still shaking hands.
            0
        } else {
            // The client side is gone: nobody will read these.
            return bytes.len();
        };
        if taken < bytes.len() {
            if let Some(tcp) = self.tcp_flow_mut(flow) {
                tcp.host_blocked = true;
            }
        }
        self.touch_tcp(now, flow);
        self.stack.poll(now);
        self.drain_stack(None);
        self.service_tcp(now, flow);
        self.flush_stack(now);
        taken
    }

    /// The host socket took `n` more bytes of what `SendTcp` handed out:
    /// the translator may read that much more from the client.
    pub fn tcp_written(&mut self, now: Instant, flow: FlowId, n: usize) {
        self.last_now = now;
        let Some(tcp) = self.tcp_flow_mut(flow) else {
            return self.counters.drop(DropReason::UnknownFlow);
        };
        tcp.in_flight = tcp.in_flight.saturating_sub(n);
        self.touch_tcp(now, flow);
        self.service_tcp(now, flow);
        self.flush_stack(now);
    }

    /// The host socket reached EOF (the remote sent FIN) after all its bytes
    /// were taken by `tcp_received`: FIN to the client once they are sent.
    pub fn tcp_closed(&mut self, now: Instant, flow: FlowId) {
        self.last_now = now;
        let Some(tcp) = self.tcp_flow_mut(flow) else {
            return self.counters.drop(DropReason::UnknownFlow);
        };
        let Some(handle) = tcp.handle() else {
            return self.reset_tcp(flow);
        };
        tcp.host_eof = true;
        self.stack.socket(handle).close();
        self.touch_tcp(now, flow);
        self.stack.poll(now);
        self.drain_stack(None);
        self.service_tcp(now, flow);
        self.flush_stack(now);
    }

    /// The host connection was reset (or failed): reset the client's.
    pub fn tcp_reset(&mut self, now: Instant, flow: FlowId) {
        self.last_now = now;
        if self.tcp_flow(flow).is_none() {
            return self.counters.drop(DropReason::UnknownFlow);
        }
        self.reset_tcp(flow);
    }

    pub(crate) fn socket_params(&self) -> SocketParams {
        SocketParams {
            buffer: self.config.limits.tcp_buffer,
            user_timeout: self.config.timeouts.tcp_user_timeout,
        }
    }
}
