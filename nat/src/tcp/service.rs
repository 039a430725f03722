//! Moving bytes and state between a flow's smoltcp socket and the I/O side,
//! and ending flows.

use std::time::Instant;

use smoltcp::socket::tcp::State;

use super::{Phase, TcpFlow};
use crate::command::Command;
use crate::flow::{FlowId, FlowState};
use crate::frames;
use crate::translator::Translator;

impl Translator {
    pub(crate) fn tcp_flow(&self, id: FlowId) -> Option<&TcpFlow> {
        match &self.table.get(id)?.state {
            FlowState::Tcp(tcp) => Some(tcp),
            _ => None,
        }
    }

    pub(crate) fn tcp_flow_mut(&mut self, id: FlowId) -> Option<&mut TcpFlow> {
        match &mut self.table.get_mut(id)?.state {
            FlowState::Tcp(tcp) => Some(tcp),
            _ => None,
        }
    }

    /// Restarts the flow's timer for its phase.
    pub(crate) fn touch_tcp(&mut self, now: Instant, id: FlowId) {
        let t = &self.config.timeouts;
        let Some(tcp) = self.tcp_flow(id) else { return };
        let after = if tcp.closing() {
            t.tcp_closing
        } else if tcp.established {
            t.tcp_idle
        } else {
            t.tcp_connect
        };
        self.table.set_deadline(id, now + after);
    }

    /// Splices what can move now and notices state changes. Call after
    /// anything that may have changed the flow's socket, then `flush_stack`.
    pub(crate) fn service_tcp(&mut self, now: Instant, id: FlowId) {
        let limit = self.config.limits.tcp_in_flight;
        let Some(f) = self.table.get_mut(id) else {
            return;
        };
        let FlowState::Tcp(tcp) = &mut f.state else {
            return;
        };
        let Phase::Open { handle } = tcp.phase else {
            return;
        };
        let socket = self.stack.socket(handle);
        let mut commands = Vec::new();
        let mut became_established = false;

        if !tcp.established && matches!(socket.state(), State::Established | State::CloseWait) {
            tcp.established = true;
            became_established = true;
        }
        // Client -> host, within the in-flight credit.
        let mut read = false;
        while tcp.in_flight < limit && socket.can_recv() {
            let room = limit - tcp.in_flight;
            let bytes = socket
                .recv(|buf| {
                    let n = buf.len().min(room);
                    (n, buf[..n].to_vec())
                })
                .unwrap_or_default();
            if bytes.is_empty() {
                break;
            }
            tcp.in_flight += bytes.len();
            read = true;
            commands.push(Command::SendTcp { flow: id, bytes });
        }
        // The client's FIN, once every byte before it went out.
        if matches!(
            socket.state(),
            State::CloseWait | State::LastAck | State::Closing | State::TimeWait
        ) {
            tcp.peer_fin = true;
        }
        if tcp.peer_fin && !tcp.client_fin && socket.recv_queue() == 0 {
            tcp.client_fin = true;
            commands.push(Command::ShutdownWrite { flow: id });
        }
        // Host -> client: room again in the send buffer. A quarter of it,
        // so a slow client does not cause a wake-up per segment.
        let free = socket.send_capacity() - socket.send_queue();
        if tcp.host_blocked && socket.may_send() && free >= socket.send_capacity() / 4 {
            tcp.host_blocked = false;
            commands.push(Command::ResumeRecv { flow: id });
        }
        for command in commands {
            self.push_command(command);
        }
        if read {
            // The client's window reopened: the caller's `flush_stack` sends
            // the update (one poll for many flows after a timer).
            self.stack_dirty = true;
        }
        if became_established {
            self.touch_tcp(now, id);
        }
        self.check_tcp_end(now, id, handle);
    }

    fn check_tcp_end(&mut self, now: Instant, id: FlowId, handle: smoltcp::iface::SocketHandle) {
        let socket = self.stack.socket(handle);
        let (state, unread) = (socket.state(), socket.recv_queue());
        let Some(tcp) = self.tcp_flow_mut(id) else {
            return;
        };
        match state {
            // Released only once the client's bytes and FIN were handed
            // over: smoltcp's TIME-WAIT expiry clears its buffer.
            State::TimeWait if !tcp.released && tcp.client_fin => {
                tcp.released = true;
                self.counters.closed += 1;
                self.push_command(Command::Close { flow: id });
                self.touch_tcp(now, id);
            }
            // LAST-ACK -> CLOSED keeps unread bytes: hand them over first
            // (the closing timer bounds the wait); after a RST they go.
            // A RST in SYN-RECEIVED sends a smoltcp listener back to
            // LISTEN, where it would take other clients' SYNs: end it too.
            State::Closed | State::Listen
                if state == State::Listen || unread == 0 || !(tcp.peer_fin && tcp.host_eof) =>
            {
                let graceful = state == State::Closed && tcp.client_fin && tcp.host_eof;
                let released = tcp.released;
                self.remove_tcp(id);
                if !released {
                    if graceful {
                        self.counters.closed += 1;
                        self.push_command(Command::Close { flow: id });
                    } else {
                        // The client reset, or smoltcp gave up on it.
                        self.counters.reset += 1;
                        self.push_command(Command::Reset { flow: id });
                    }
                }
            }
            _ => {}
        }
    }

    /// Sends what servicing flows made smoltcp owe (window updates).
    pub(crate) fn flush_stack(&mut self, now: Instant) {
        if std::mem::take(&mut self.stack_dirty) {
            self.stack.poll(now);
            self.drain_stack(None);
        }
    }

    /// Aborts a flow both ways: RST to the client (for a held SYN or an open
    /// socket) and `Reset` to the I/O side unless it was already released.
    pub(crate) fn reset_tcp(&mut self, id: FlowId) {
        let now = self.last_now;
        let Some(f) = self.table.get(id) else { return };
        let mac = f.client_mac;
        let FlowState::Tcp(tcp) = &f.state else {
            return;
        };
        let released = tcp.released;
        match &tcp.phase {
            Phase::Connecting { syn } => {
                if let Some(rst) = frames::tcp_rst(self.macs(mac), syn) {
                    self.push_frame(rst);
                }
            }
            Phase::Open { handle } => {
                let handle = *handle;
                self.stack.socket(handle).abort();
                self.stack.poll(now);
                self.drain_stack(None);
            }
        }
        self.remove_tcp(id);
        if !released {
            self.counters.reset += 1;
            self.push_command(Command::Reset { flow: id });
        }
    }

    /// Removes a flow whose end was already reported (TIME-WAIT over, or the
    /// client reused the port).
    pub(crate) fn finish_tcp(&mut self, id: FlowId) {
        self.remove_tcp(id);
    }

    /// A TCP flow's timer fired.
    pub(crate) fn expire_tcp(&mut self, id: FlowId) {
        self.counters.expired += 1;
        if self.tcp_flow(id).is_some_and(|t| t.released) {
            self.finish_tcp(id);
        } else {
            self.reset_tcp(id);
        }
    }

    fn remove_tcp(&mut self, id: FlowId) {
        if let Some(flow) = self.table.remove(id) {
            if let FlowState::Tcp(tcp) = flow.state {
                if let Some(handle) = tcp.handle() {
                    self.stack.remove(handle);
                }
            }
        }
    }
}
