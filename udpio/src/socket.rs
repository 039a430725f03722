//! [`UdpIo`]: a tokio UDP socket driven through `quinn-udp`.

use std::io;
use std::net::SocketAddr;

use quinn_udp::{Transmit, UdpSockRef, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

use crate::rx::RxBatch;
use crate::tx::{Lane, Sent, LANES, MAX_SEGMENT, MAX_SEGMENTS};
use crate::MAX_DATAGRAM;

/// A UDP socket with batched receive and GSO send lanes.
pub struct UdpIo {
    socket: UdpSocket,
    state: UdpSocketState,
    lanes: Vec<Lane>,
    staging: Box<[u8]>,
    order: u64,
}

impl std::fmt::Debug for UdpIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpIo")
            .field("socket", &self.socket)
            .field("gso_segments", &self.state.max_gso_segments())
            .field("gro_segments", &self.state.gro_segments())
            .finish_non_exhaustive()
    }
}

impl UdpIo {
    /// Takes a bound socket (buffers already sized). Must be called inside
    /// a tokio runtime.
    ///
    /// `quinn-udp` turns on UDP GRO, `IP_PKTINFO` and "do not fragment"
    /// (`IP_PMTUDISC_PROBE`); the last is put back to the kernel's default
    /// (`IP_PMTUDISC_WANT`), so a frame that outgrows the underlay's MTU is
    /// fragmented by the kernel as before rather than refused.
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpIo> {
        socket.set_nonblocking(true)?;
        let state = UdpSocketState::new(UdpSockRef::from(&socket))?;
        allow_fragments(&socket);
        let socket = UdpSocket::from_std(socket)?;
        tracing::debug!(
            gso = state.max_gso_segments(),
            gro = state.gro_segments(),
            "UDP offloads"
        );
        Ok(UdpIo {
            socket,
            state,
            lanes: (0..LANES).map(|_| Lane::new()).collect(),
            staging: vec![0; MAX_DATAGRAM].into_boxed_slice(),
            order: 0,
        })
    }

    /// The tokio socket (addresses, readiness).
    pub fn socket(&self) -> &UdpSocket {
        &self.socket
    }

    /// Segments one send may carry: 1 when the kernel has no GSO.
    pub fn gso_segments(&self) -> usize {
        self.state.max_gso_segments().min(MAX_SEGMENTS)
    }

    /// Datagrams one receive buffer may hold: 1 when the kernel has no GRO.
    pub fn gro_segments(&self) -> usize {
        self.state.gro_segments()
    }

    /// Waits for datagrams and receives as many as one `recvmmsg` gives.
    pub async fn recv(&self, rx: &mut RxBatch) -> io::Result<usize> {
        loop {
            self.socket.readable().await?;
            match self.try_recv(rx) {
                Ok(0) => {}
                other => return other,
            }
        }
    }

    /// Receives what is queued without waiting: `Ok(0)` when nothing is.
    pub fn try_recv(&self, rx: &mut RxBatch) -> io::Result<usize> {
        let result = self.socket.try_io(Interest::READABLE, || {
            rx.fill(|bufs, meta| self.state.recv(UdpSockRef::from(&self.socket), bufs, meta))
        });
        match result {
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(0),
            other => other,
        }
    }

    /// Where the caller writes the next packet (then [`UdpIo::tx_commit`]).
    pub fn tx_slot(&mut self) -> &mut [u8] {
        &mut self.staging[..]
    }

    /// Queues the `len` bytes written to the slot for `to`. Sends whatever
    /// must leave first to keep the order to `to`, or to free a lane.
    pub async fn tx_commit(&mut self, len: usize, to: SocketAddr) -> Sent {
        let len = len.min(MAX_DATAGRAM);
        let max = self.gso_segments();
        let mut sent = Sent::default();
        self.order += 1;
        let own = self.lanes.iter().position(|l| l.to == Some(to));
        if len > MAX_SEGMENT {
            if let Some(i) = own {
                sent += self.flush_lane(i).await;
            }
            sent += self.transmit(&self.staging[..len], None, 1, to).await;
            return sent;
        }
        let lane = if let Some(i) = own {
            if !self.lanes[i].accepts(len, max) {
                sent += self.flush_lane(i).await;
            }
            i
        } else if let Some(i) = self.lanes.iter().position(Lane::is_empty) {
            i
        } else {
            let oldest = (0..self.lanes.len())
                .min_by_key(|&i| self.lanes[i].since)
                .unwrap_or(0);
            sent += self.flush_lane(oldest).await;
            oldest
        };
        self.lanes[lane].push(&self.staging[..len], to, self.order);
        if self.lanes[lane].count >= max {
            sent += self.flush_lane(lane).await;
        }
        sent
    }

    /// Sends every queued packet. Call at the end of each burst of work,
    /// before waiting for more input.
    pub async fn flush(&mut self) -> Sent {
        let mut sent = Sent::default();
        for i in 0..self.lanes.len() {
            if !self.lanes[i].is_empty() {
                sent += self.flush_lane(i).await;
            }
        }
        sent
    }

    /// Sends one packet now, after everything queued (control packets,
    /// handshakes).
    pub async fn send_to(&mut self, packet: &[u8], to: SocketAddr) -> Sent {
        let mut sent = self.flush().await;
        sent += self.transmit(packet, None, 1, to).await;
        sent
    }

    async fn flush_lane(&mut self, i: usize) -> Sent {
        let lane = &self.lanes[i];
        let Some(to) = lane.to else {
            return Sent::default();
        };
        let segment = (lane.count > 1).then_some(lane.segment);
        let sent = self
            .transmit(&lane.buf[..lane.len], segment, lane.count as u64, to)
            .await;
        self.lanes[i].clear();
        sent
    }

    /// One `sendmsg` (GSO when `segment` is set); waits while the socket
    /// buffer is full (backpressure, not a drop).
    async fn transmit(
        &self,
        contents: &[u8],
        segment: Option<usize>,
        count: u64,
        to: SocketAddr,
    ) -> Sent {
        let transmit = Transmit {
            destination: to,
            ecn: None,
            contents,
            segment_size: segment,
            src_ip: None,
        };
        loop {
            let result = self.socket.try_io(Interest::WRITABLE, || {
                self.state
                    .try_send(UdpSockRef::from(&self.socket), &transmit)
            });
            match result {
                Ok(()) => {
                    return Sent {
                        packets: count,
                        errors: 0,
                        calls: 1,
                    }
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(err) = self.socket.writable().await {
                        tracing::debug!(%to, %err, "UDP socket not writable");
                        return Sent {
                            packets: 0,
                            errors: count,
                            calls: 1,
                        };
                    }
                }
                Err(err) => {
                    tracing::debug!(%to, %err, count, ?segment, "UDP send failed");
                    return Sent {
                        packets: 0,
                        errors: count,
                        calls: 1,
                    };
                }
            }
        }
    }
}

/// Puts path-MTU discovery back to the kernel's default for UDP (see
/// [`UdpIo::from_std`]). Best effort: a socket that keeps "do not
/// fragment" still works for packets that fit the path.
fn allow_fragments(socket: &std::net::UdpSocket) {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    let want: libc::c_int = libc::IP_PMTUDISC_WANT;
    let set = |level, name, value: libc::c_int| {
        set_int(fd, level, name, value);
    };
    set(libc::IPPROTO_IP, libc::IP_MTU_DISCOVER, want);
    if matches!(socket.local_addr(), Ok(SocketAddr::V6(_))) {
        set(
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_WANT,
        );
        set(libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, 0);
    }
}

#[allow(unsafe_code)]
fn set_int(fd: std::os::fd::RawFd, level: libc::c_int, name: libc::c_int, value: libc::c_int) {
    // SAFETY: `fd` is an open socket owned by the caller for the duration of
    // the call; the option value is a live `c_int` whose size we pass.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::from_ref(&value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!(level, name, err = %io::Error::last_os_error(), "setsockopt");
    }
}
