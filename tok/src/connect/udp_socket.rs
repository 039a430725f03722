//! The UDP socket to the nodes, with large kernel buffers: at full speed a
//! burst of frames from the node outruns one loop iteration, and the
//! default buffer (~200 KiB) overflowed under iperf3 (kernel drops at the
//! receiving tok).

use std::net::SocketAddr;

use anyhow::{Context, Result};
use socket2::{Domain, Protocol, Socket, Type};

/// Asked for SO_RCVBUF and SO_SNDBUF. The kernel caps it at
/// `net.core.rmem_max` / `wmem_max`; raise those to get all of it.
pub const SOCKET_BUFFER: usize = 4 << 20;

/// A non-blocking UDP socket bound to the wildcard address and an
/// ephemeral port: IPv6 dual-stack when `dual_stack`, else IPv4.
pub fn bind(dual_stack: bool) -> Result<udpio::UdpIo> {
    let (domain, bind): (Domain, SocketAddr) = if dual_stack {
        (Domain::IPV6, "[::]:0".parse()?)
    } else {
        (Domain::IPV4, "0.0.0.0:0".parse()?)
    };
    let socket = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))
        .with_context(|| format!("creating a UDP socket for {bind}"))?;
    if dual_stack {
        socket
            .set_only_v6(false)
            .context("making the UDP socket dual-stack (IPV6_V6ONLY off)")?;
    }
    set_buffers(&socket);
    socket
        .bind(&bind.into())
        .with_context(|| format!("binding a UDP socket on {bind}"))?;
    socket.set_nonblocking(true)?;
    let std_socket: std::net::UdpSocket = socket.into();
    udpio::UdpIo::from_std(std_socket).context("setting up batched UDP I/O")
}

/// Best effort: a smaller buffer than asked works, only with more drops.
fn set_buffers(socket: &Socket) {
    if let Err(e) = socket.set_recv_buffer_size(SOCKET_BUFFER) {
        tracing::debug!(error = %e, "SO_RCVBUF");
    }
    if let Err(e) = socket.set_send_buffer_size(SOCKET_BUFFER) {
        tracing::debug!(error = %e, "SO_SNDBUF");
    }
    let rcv = socket.recv_buffer_size().unwrap_or(0);
    let snd = socket.send_buffer_size().unwrap_or(0);
    // Linux reports twice the value it accepted (bookkeeping overhead).
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
    #[tokio::test]
    async fn binds_with_bigger_buffers() {
        let s = super::bind(false).unwrap();
        let s = s.socket();
        assert!(s.local_addr().unwrap().port() != 0);
        let s = socket2::SockRef::from(s);
        // Never below the kernel default; the exact value depends on rmem_max.
        assert!(s.recv_buffer_size().unwrap() >= 200_000);
        let s6 = super::bind(true);
        // Hosts without IPv6 may refuse; when it works it is dual-stack.
        if let Ok(s6) = s6 {
            assert!(!socket2::SockRef::from(s6.socket()).only_v6().unwrap());
        }
    }
}
