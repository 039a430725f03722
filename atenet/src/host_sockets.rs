//! The gateway services' sockets on the host network (the edge of
//! [`crate::gateway_host`]): one UDP socket per service, bound on first
//! use, whose reader reports every datagram; and one short TCP connection
//! per TCP message (RFC 7766 framing: two-byte length), bounded in number
//! and time. Reports reach the node task as [`IoEvent::Host`].

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;

use crate::gateway_host::{HostMessage, HostTransmit, HostTransport};
use crate::nat::io::IoEvent;

/// TCP exchanges with the host network at once (all services).
const MAX_TCP: usize = 64;
/// How long one TCP exchange may take, connect to answer.
const TCP_TIMEOUT: Duration = Duration::from_secs(5);

/// Counters of the host sockets.
#[derive(Debug, Clone, Copy, Default)]
pub struct HostSocketCounters {
    pub udp_sent: u64,
    pub drop_send_failed: u64,
    pub drop_bind_failed: u64,
    pub drop_tcp_busy: u64,
}

#[derive(Debug)]
struct Bound {
    socket: std::net::UdpSocket,
    reader: JoinHandle<()>,
}

/// The host sockets of every gateway service.
#[derive(Debug)]
pub(crate) struct HostSockets {
    udp: HashMap<usize, Bound>,
    events: mpsc::Sender<IoEvent>,
    tcp: Arc<Semaphore>,
    pub counters: HostSocketCounters,
    bind_error_logged: bool,
}

impl Drop for HostSockets {
    fn drop(&mut self) {
        for bound in self.udp.values() {
            bound.reader.abort();
        }
    }
}

impl HostSockets {
    pub(crate) fn new(events: mpsc::Sender<IoEvent>) -> Self {
        Self {
            udp: HashMap::new(),
            events,
            tcp: Arc::new(Semaphore::new(MAX_TCP)),
            counters: HostSocketCounters::default(),
            bind_error_logged: false,
        }
    }

    /// Counters by name, `host_` first (beside the virtual hosts').
    pub(crate) fn counters(&self) -> impl Iterator<Item = (String, u64)> {
        let c = self.counters;
        [
            ("host_udp_sent", c.udp_sent),
            ("host_drop_send_failed", c.drop_send_failed),
            ("host_drop_bind_failed", c.drop_bind_failed),
            ("host_drop_tcp_busy", c.drop_tcp_busy),
        ]
        .into_iter()
        .map(|(name, n)| (name.to_owned(), n))
    }

    /// Sends one service's message (never waits: a full socket or too many
    /// TCP exchanges drop it, counted; the service's timer copes).
    pub(crate) fn send(&mut self, transmit: HostTransmit) {
        match transmit.transport {
            HostTransport::Udp => self.send_udp(&transmit),
            HostTransport::Tcp => self.send_tcp(transmit),
        }
    }

    fn send_udp(&mut self, t: &HostTransmit) {
        if !self.udp.contains_key(&t.service) {
            match bind(t.service, self.events.clone()) {
                Ok(bound) => {
                    self.udp.insert(t.service, bound);
                }
                Err(err) => {
                    self.counters.drop_bind_failed += 1;
                    if !self.bind_error_logged {
                        self.bind_error_logged = true;
                        tracing::warn!(%err, "a gateway service's host UDP socket could not be opened");
                    }
                    return;
                }
            }
        }
        let Some(bound) = self.udp.get(&t.service) else {
            return;
        };
        match bound.socket.send_to(&t.bytes, t.to) {
            Ok(_) => self.counters.udp_sent += 1,
            Err(_) => self.counters.drop_send_failed += 1,
        }
    }

    fn send_tcp(&mut self, t: HostTransmit) {
        let Ok(permit) = Arc::clone(&self.tcp).try_acquire_owned() else {
            self.counters.drop_tcp_busy += 1;
            return;
        };
        let Ok(len) = u16::try_from(t.bytes.len()) else {
            self.counters.drop_send_failed += 1;
            return;
        };
        let events = self.events.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let exchange = async {
                let mut stream = TcpStream::connect(t.to).await?;
                let mut out = Vec::with_capacity(2 + t.bytes.len());
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&t.bytes);
                stream.write_all(&out).await?;
                let mut len = [0u8; 2];
                stream.read_exact(&mut len).await?;
                let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
                stream.read_exact(&mut answer).await?;
                std::io::Result::Ok(answer)
            };
            match tokio::time::timeout(TCP_TIMEOUT, exchange).await {
                Ok(Ok(bytes)) => {
                    let message = HostMessage {
                        from: t.to,
                        transport: HostTransport::Tcp,
                        bytes,
                    };
                    let _ = events
                        .send(IoEvent::Host {
                            service: t.service,
                            message,
                        })
                        .await;
                }
                Ok(Err(err)) => tracing::debug!(to = %t.to, %err, "host TCP exchange failed"),
                Err(_) => tracing::debug!(to = %t.to, "host TCP exchange timed out"),
            }
        });
    }
}

/// A UDP socket for `service` and its reader task.
fn bind(service: usize, events: mpsc::Sender<IoEvent>) -> std::io::Result<Bound> {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    socket.set_nonblocking(true)?;
    let reader = UdpSocket::from_std(socket.try_clone()?)?;
    let task = tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        loop {
            let Ok((len, from)) = reader.recv_from(&mut buf).await else {
                // An ICMP error for an earlier send: keep reading, gently.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            };
            let message = HostMessage {
                from,
                transport: HostTransport::Udp,
                bytes: buf.get(..len).unwrap_or_default().to_vec(),
            };
            if events
                .send(IoEvent::Host { service, message })
                .await
                .is_err()
            {
                return;
            }
        }
    });
    Ok(Bound {
        socket,
        reader: task,
    })
}

/// The node's resolvers when no `--dns` was given: the IPv4 `nameserver`
/// lines of `/etc/resolv.conf`.
pub(crate) fn system_resolvers() -> Vec<SocketAddr> {
    std::fs::read_to_string("/etc/resolv.conf")
        .map(|text| dns::parse_resolv_conf(&text))
        .unwrap_or_default()
}
