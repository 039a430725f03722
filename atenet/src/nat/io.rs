//! The host sockets of NAT flows and the tasks that read them.
//!
//! Datagram flows (UDP, ICMP echo) own a connected non-blocking socket: the
//! node task sends on it directly (`try_send`; a full socket buffer drops
//! the datagram and counts it) and a reader task posts what arrives. A TCP
//! flow is one task that connects, then reads only while the translator
//! wants bytes (one chunk at a time: after posting a chunk it waits for
//! the node's go-ahead, which follows `tcp_received` taking all of it or a
//! later `ResumeRecv`) and writes what `SendTcp` queued, reporting each
//! write so the translator extends its credit. Every task posts to the
//! node through one bounded channel and waits when it is full.

use std::collections::VecDeque;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nat::udp::Unreachable;
use nat::FlowId;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinHandle;
use vswitch::key::ChainId;

use super::wire;

/// What the socket tasks tell the node task.
#[derive(Debug)]
pub(crate) enum IoEvent {
    Flow(FlowEvent),
    /// A gateway service's host socket brought something back.
    Host {
        service: usize,
        message: crate::gateway_host::HostMessage,
    },
    InboundTcp {
        network: ChainId,
        host_port: u16,
        remote: SocketAddr,
        stream: TcpStream,
    },
    InboundUdp {
        network: ChainId,
        host_port: u16,
        remote: SocketAddr,
        payload: Vec<u8>,
    },
}

/// Bytes read from a host TCP socket at a time.
const READ_CHUNK: usize = 16 * 1024;
/// Largest datagram read from a host UDP or ping socket.
const DATAGRAM_BUF: usize = 65_536;
/// How long a closed TCP flow may take to write what was queued before it.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// What a socket task tells the node.
#[derive(Debug)]
pub(crate) enum What {
    Udp(Vec<u8>),
    Unreachable(Unreachable),
    Ping { seq: u16, payload: Vec<u8> },
    TcpConnected,
    TcpRefused,
    TcpReceived(Vec<u8>),
    TcpWritten(usize),
    TcpClosed,
    TcpReset,
}

/// One report of a flow's socket.
#[derive(Debug)]
pub(crate) struct FlowEvent {
    pub network: ChainId,
    pub flow: FlowId,
    pub what: What,
}

/// Where socket tasks post.
#[derive(Debug, Clone)]
pub(crate) struct Reporter {
    pub network: ChainId,
    pub flow: FlowId,
    pub tx: mpsc::Sender<IoEvent>,
}

impl Reporter {
    /// False once the node is gone.
    async fn send(&self, what: What) -> bool {
        let event = FlowEvent {
            network: self.network,
            flow: self.flow,
            what,
        };
        self.tx.send(IoEvent::Flow(event)).await.is_ok()
    }
}

/// A flow's host side, as the node task holds it.
#[derive(Debug)]
pub(crate) enum FlowIo {
    /// `socket` is a duplicate of the reader's, non-blocking, for sends:
    /// tokio's `try_send` would refuse until the reactor saw the socket
    /// writable, dropping a flow's first datagram.
    Udp {
        socket: std::net::UdpSocket,
        task: JoinHandle<()>,
    },
    Ping {
        socket: std::net::UdpSocket,
        task: JoinHandle<()>,
    },
    Tcp {
        ctl: Arc<TcpCtl>,
        task: JoinHandle<()>,
        /// Bytes read that `tcp_received` did not take yet.
        pending: Option<Vec<u8>>,
    },
}

impl FlowIo {
    /// Stops the flow's tasks (after pending writes for a TCP `Close`).
    pub(crate) fn end(self, reset: bool) {
        match self {
            FlowIo::Udp { task, .. } | FlowIo::Ping { task, .. } => task.abort(),
            FlowIo::Tcp { ctl, .. } => ctl.update(|s| {
                if reset {
                    s.reset = true;
                } else {
                    s.close = true;
                }
            }),
        }
    }

    /// Stops at once (node shutdown).
    pub(crate) fn abort(&self) {
        match self {
            FlowIo::Udp { task, .. } | FlowIo::Ping { task, .. } | FlowIo::Tcp { task, .. } => {
                task.abort();
            }
        }
    }
}

/// What the node asks of a TCP flow's task.
#[derive(Debug, Default)]
pub(crate) struct TcpCtl {
    state: Mutex<TcpState>,
    notify: Notify,
}

#[derive(Debug, Default)]
pub(crate) struct TcpState {
    /// `SendTcp` bytes not yet taken by the task (bounded by the
    /// translator's `tcp_in_flight`).
    pub out: VecDeque<Vec<u8>>,
    pub shutdown: bool,
    pub close: bool,
    pub reset: bool,
    /// The translator takes bytes again: read the next chunk.
    pub resume: bool,
}

impl TcpCtl {
    pub(crate) fn update(&self, f: impl FnOnce(&mut TcpState)) {
        f(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
        self.notify.notify_one();
    }
}

/// Maps a socket error to what the client is told (`None`: not an ICMP
/// error; the socket is unusable).
pub(crate) fn unreachable_of(err: &io::Error) -> Option<Unreachable> {
    match err.raw_os_error() {
        Some(libc::ECONNREFUSED) => Some(Unreachable::Port),
        Some(libc::EHOSTUNREACH) => Some(Unreachable::Host),
        Some(libc::ENETUNREACH) => Some(Unreachable::Net),
        _ => None,
    }
}

/// A UDP socket of its own (ephemeral port) connected to `dst`.
pub(crate) fn open_udp(dst: SocketAddrV4, report: Reporter) -> io::Result<FlowIo> {
    let std = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    std.connect(dst)?;
    std.set_nonblocking(true)?;
    let socket = std.try_clone()?;
    let reader = UdpSocket::from_std(std)?;
    let task = tokio::spawn(read_datagrams(reader, report, false));
    Ok(FlowIo::Udp { socket, task })
}

/// An unprivileged ICMP echo socket connected to `dst` (needs the
/// process's group in `net.ipv4.ping_group_range`).
pub(crate) fn open_ping(dst: Ipv4Addr, report: Reporter) -> io::Result<FlowIo> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4))?;
    socket.set_nonblocking(true)?;
    socket.connect(&SocketAddr::from(SocketAddrV4::new(dst, 0)).into())?;
    let std: std::net::UdpSocket = socket.into();
    let socket = std.try_clone()?;
    let reader = UdpSocket::from_std(std)?;
    let task = tokio::spawn(read_datagrams(reader, report, true));
    Ok(FlowIo::Ping { socket, task })
}

async fn read_datagrams(socket: UdpSocket, report: Reporter, ping: bool) {
    let mut buf = vec![0u8; DATAGRAM_BUF];
    loop {
        let what = match socket.recv(&mut buf).await {
            Ok(len) if ping => {
                let Some((seq, payload)) = buf.get(..len).and_then(wire::echo_reply) else {
                    continue;
                };
                What::Ping {
                    seq,
                    payload: payload.to_vec(),
                }
            }
            Ok(len) => What::Udp(buf.get(..len).unwrap_or_default().to_vec()),
            Err(err) => {
                let Some(why) = unreachable_of(&err) else {
                    tracing::debug!(flow = %report.flow, %err, "NAT datagram socket failed");
                    return;
                };
                What::Unreachable(why)
            }
        };
        if !report.send(what).await {
            return;
        }
    }
}

/// Starts a TCP flow's task: connect within `connect_timeout`, then splice.
pub(crate) fn open_tcp(dst: SocketAddrV4, connect_timeout: Duration, report: Reporter) -> FlowIo {
    let ctl = Arc::new(TcpCtl::default());
    let task = tokio::spawn(tcp_task(dst, connect_timeout, Arc::clone(&ctl), report));
    FlowIo::Tcp {
        ctl,
        task,
        pending: None,
    }
}

async fn tcp_task(
    dst: SocketAddrV4,
    connect_timeout: Duration,
    ctl: Arc<TcpCtl>,
    report: Reporter,
) {
    let Ok(Ok(stream)) = tokio::time::timeout(connect_timeout, TcpStream::connect(dst)).await
    else {
        report.send(What::TcpRefused).await;
        return;
    };
    let _ = stream.set_nodelay(true);
    if !report.send(What::TcpConnected).await {
        return;
    }
    splice(stream, &ctl, &report).await;
}

/// Splices a connection a published TCP port accepted.
pub(crate) fn splice_accepted(stream: TcpStream, report: Reporter) -> FlowIo {
    let ctl = Arc::new(TcpCtl::default());
    let task_ctl = Arc::clone(&ctl);
    let task = tokio::spawn(async move {
        let _ = stream.set_nodelay(true);
        splice(stream, &task_ctl, &report).await;
    });
    FlowIo::Tcp {
        ctl,
        task,
        pending: None,
    }
}

async fn splice(mut stream: TcpStream, ctl: &TcpCtl, report: &Reporter) {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut reading = true;
    let mut eof = false;
    let mut shut = false;
    let mut front: Option<(Vec<u8>, usize)> = None;
    let mut close_by: Option<tokio::time::Instant> = None;
    loop {
        let (shutdown, close, reset) = {
            let mut s = ctl.state.lock().unwrap_or_else(PoisonError::into_inner);
            if std::mem::take(&mut s.resume) {
                reading = true;
            }
            if front.is_none() {
                front = s.out.pop_front().map(|bytes| (bytes, 0));
            }
            (s.shutdown, s.close, s.reset)
        };
        if reset {
            let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
            return;
        }
        if front.is_none() {
            if close {
                return; // dropping the stream closes it
            }
            if shutdown && !shut {
                shut = true;
                let _ = stream.shutdown().await;
            }
        }
        if close && close_by.is_none() {
            close_by = Some(tokio::time::Instant::now() + CLOSE_GRACE);
        }
        let want_read = reading && !eof && !close;
        tokio::select! {
            ready = stream.readable(), if want_read => {
                if ready.is_err() {
                    report.send(What::TcpReset).await;
                    return;
                }
                let what = match stream.try_read(&mut buf) {
                    Ok(0) => {
                        eof = true;
                        What::TcpClosed
                    }
                    Ok(n) => {
                        reading = false;
                        What::TcpReceived(buf.get(..n).unwrap_or_default().to_vec())
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(_) => {
                        report.send(What::TcpReset).await;
                        return;
                    }
                };
                if !report.send(what).await {
                    return;
                }
            }
            ready = stream.writable(), if front.is_some() => {
                if ready.is_err() {
                    report.send(What::TcpReset).await;
                    return;
                }
                let Some((bytes, off)) = front.as_mut() else { continue };
                match stream.try_write(bytes.get(*off..).unwrap_or_default()) {
                    Ok(n) => {
                        *off += n;
                        if *off >= bytes.len() {
                            front = None;
                        }
                        if !close && !report.send(What::TcpWritten(n)).await {
                            return;
                        }
                    }
                    Err(err) if err.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => {
                        if !close {
                            report.send(What::TcpReset).await;
                        }
                        return;
                    }
                }
            }
            () = ctl.notify.notified() => {}
            () = sleep_until_opt(close_by) => return,
        }
    }
}

async fn sleep_until_opt(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
