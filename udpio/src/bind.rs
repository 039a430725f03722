//! Binding: one socket with large kernel buffers, for the node and `tok`.
//!
//! At full speed a burst of frames outruns one loop iteration, and the
//! default buffer (~200 KiB) overflowed under iperf3 (kernel drops at the
//! node and at the receiving tok).

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use crate::UdpIo;

/// Asked for SO_RCVBUF and SO_SNDBUF. The kernel caps it at
/// `net.core.rmem_max` / `wmem_max`; raise those to get all of it.
pub const SOCKET_BUFFER: usize = 4 << 20;

impl UdpIo {
    /// Binds `addr` with [`SOCKET_BUFFER`]-sized kernel buffers (best
    /// effort: a smaller buffer works, only with more drops under load;
    /// that is logged at info). `dual_stack` on an IPv6 address also
    /// accepts and reaches IPv4 (v4-mapped addresses). Must be called
    /// inside a tokio runtime.
    pub fn bind(addr: SocketAddr, dual_stack: bool) -> io::Result<UdpIo> {
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
        if dual_stack && addr.is_ipv6() {
            socket.set_only_v6(false)?;
        }
        set_buffers(&socket);
        socket.bind(&addr.into())?;
        UdpIo::from_std(socket.into())
    }
}

fn set_buffers(socket: &Socket) {
    if let Err(err) = socket.set_recv_buffer_size(SOCKET_BUFFER) {
        tracing::debug!(%err, "SO_RCVBUF not set");
    }
    if let Err(err) = socket.set_send_buffer_size(SOCKET_BUFFER) {
        tracing::debug!(%err, "SO_SNDBUF not set");
    }
    // Linux reports twice what it grants (bookkeeping), capped by
    // net.core.rmem_max / wmem_max.
    let rcv = socket.recv_buffer_size().unwrap_or(0);
    let snd = socket.send_buffer_size().unwrap_or(0);
    if rcv < SOCKET_BUFFER || snd < SOCKET_BUFFER {
        tracing::info!(
            rcvbuf = rcv,
            sndbuf = snd,
            wanted = SOCKET_BUFFER,
            "UDP socket buffers smaller than asked; raise net.core.rmem_max and net.core.wmem_max for fewer drops under load"
        );
    } else {
        tracing::debug!(rcvbuf = rcv, sndbuf = snd, "UDP socket buffers");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn binds_with_bigger_buffers() {
        let io = UdpIo::bind("127.0.0.1:0".parse().unwrap(), false).unwrap();
        assert!(io.socket().local_addr().unwrap().port() != 0);
        let s = socket2::SockRef::from(io.socket());
        // Never below the kernel default; the exact value depends on rmem_max.
        assert!(s.recv_buffer_size().unwrap() >= 200_000);
        // Hosts without IPv6 may refuse; when it works it is dual-stack.
        if let Ok(io6) = UdpIo::bind("[::]:0".parse().unwrap(), true) {
            assert!(!socket2::SockRef::from(io6.socket()).only_v6().unwrap());
        }
    }
}
