//! `--metrics ADDR`: Prometheus text exposition over a tiny HTTP/1.0
//! responder (one request per connection, then close). Rendered from the
//! same [`Snapshot`] that `tok status` reads.

use std::fmt::Write as _;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};

use crate::status::NodeHandle;
use crate::status::Snapshot;

/// At most this many scrapes are served at once.
const MAX_SCRAPES: usize = 16;
/// The whole request must arrive, and the answer leave, within this long.
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest request head read; the rest is ignored.
const MAX_REQUEST: usize = 4096;

/// Serves scrapes on `listener` until `shutdown` turns true.
pub async fn serve(listener: TcpListener, node: NodeHandle, mut shutdown: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(MAX_SCRAPES));
    loop {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = crate::shutdown::stopped(&mut shutdown) => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(err) => {
                tracing::warn!(%err, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let node = node.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(SCRAPE_TIMEOUT, answer(stream, node)).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => tracing::debug!(%err, "metrics scrape failed"),
                Err(_) => tracing::debug!("metrics scrape timed out"),
            }
        });
    }
}

async fn answer(mut stream: TcpStream, node: NodeHandle) -> io::Result<()> {
    let mut head = [0u8; MAX_REQUEST];
    let mut len = 0;
    while len < head.len() && !head[..len].windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut head[len..]).await?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let path = request_path(&head[..len]);
    let (status, body) = match path {
        Some("/metrics" | "/") => match node.snapshot().await {
            Some(snapshot) => ("200 OK", render(&snapshot)),
            None => (
                "503 Service Unavailable",
                "node is shutting down\n".to_owned(),
            ),
        },
        Some(_) => ("404 Not Found", "try /metrics\n".to_owned()),
        None => ("400 Bad Request", "expected GET /metrics\n".to_owned()),
    };
    let response = format!(
        "HTTP/1.0 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}

/// The path of a `GET PATH HTTP/1.x` request line.
fn request_path(head: &[u8]) -> Option<&str> {
    let line = head.split(|&b| b == b'\r' || b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    if parts.next()? != "GET" {
        return None;
    }
    let target = parts.next()?;
    Some(target.split('?').next().unwrap_or(target))
}

/// The Prometheus text exposition of one node's snapshot.
pub fn render(snapshot: &Snapshot) -> String {
    let mut out = String::with_capacity(4096);
    let counters = &snapshot.counters;
    let metric =
        |out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, value) in samples {
                if labels.is_empty() {
                    let _ = writeln!(out, "{name} {value}");
                } else {
                    let _ = writeln!(out, "{name}{{{labels}}} {value}");
                }
            }
        };
    let plain = |value: u64| vec![(String::new(), value)];
    let by_reason = |map: &std::collections::BTreeMap<String, u64>| {
        map.iter()
            .map(|(reason, count)| (format!("reason=\"{reason}\""), *count))
            .collect::<Vec<_>>()
    };
    let reachable = snapshot.peers.iter().filter(|peer| peer.reachable).count() as u64;
    let connected = snapshot.peers.iter().filter(|peer| peer.connected).count() as u64;
    let peers = snapshot.peers.len() as u64;

    metric(
        &mut out,
        "atenet_packets_dropped_total",
        "counter",
        "UDP packets dropped, by the check that failed.",
        &by_reason(&snapshot.packet_drops),
    );
    metric(
        &mut out,
        "atenet_frames_dropped_total",
        "counter",
        "Ethernet frames dropped by a switch, by the check that failed.",
        &by_reason(&snapshot.frame_drops),
    );
    metric(
        &mut out,
        "atenet_router_dropped_total",
        "counter",
        "Frames the gateways and router dropped, by reason.",
        &by_reason(&snapshot.router_drops),
    );
    metric(
        &mut out,
        "atenet_dhcp_dropped_total",
        "counter",
        "DHCP messages left unanswered, by reason.",
        &by_reason(&snapshot.dhcp_drops),
    );
    let by_event = |map: &std::collections::BTreeMap<String, u64>| {
        map.iter()
            .map(|(event, count)| (format!("event=\"{event}\""), *count))
            .collect::<Vec<_>>()
    };
    metric(
        &mut out,
        "atenet_router_events_total",
        "counter",
        "What the gateways and router did (replies, routed packets, probes, ICMP errors).",
        &by_event(&snapshot.router),
    );
    metric(
        &mut out,
        "atenet_dhcp_events_total",
        "counter",
        "What the DHCP servers did (messages, offers, ACKs, claims).",
        &by_event(&snapshot.dhcp),
    );
    metric(
        &mut out,
        "atenet_ws_events_total",
        "counter",
        "What the --wss listener did (upgrades, frames, drops, refusals, closes).",
        &by_event(&snapshot.ws),
    );
    metric(
        &mut out,
        "atenet_ws_clients",
        "gauge",
        "Websocket clients attached now.",
        &plain(snapshot.ws_clients as u64),
    );
    metric(
        &mut out,
        "atenet_nat_flows",
        "gauge",
        "NAT flows open now, by kind (all networks).",
        &snapshot
            .nat_flows
            .iter()
            .map(|(kind, n)| (format!("kind=\"{kind}\""), *n))
            .collect::<Vec<_>>(),
    );
    metric(
        &mut out,
        "atenet_nat_events_total",
        "counter",
        "What NAT did: drops and denials by reason, flows opened, expired, reset, closed; socket events.",
        &by_event(&snapshot.nat),
    );
    metric(
        &mut out,
        "atenet_dns_events_total",
        "counter",
        "What the gateways' DNS forwarder did (queries, answers, timeouts, drops).",
        &by_event(&snapshot.dns),
    );
    metric(
        &mut out,
        "atenet_vhost_events_total",
        "counter",
        "What the gateways' virtual hosts did (TCP connections, UDP datagrams, drops by reason; tcp_active is a gauge).",
        &by_event(&snapshot.vhost),
    );
    metric(
        &mut out,
        "atenet_leases",
        "gauge",
        "DHCP leases in the chain, all networks.",
        &plain(snapshot.networks.iter().map(|net| net.leases as u64).sum()),
    );
    metric(
        &mut out,
        "atenet_chain_appends_total",
        "counter",
        "Lease events appended to the chain, by outcome.",
        &[
            ("outcome=\"written\"".to_owned(), counters.chain_appends),
            (
                "outcome=\"failed\"".to_owned(),
                counters.chain_append_errors,
            ),
            (
                "outcome=\"dropped\"".to_owned(),
                counters.chain_appends_dropped,
            ),
        ],
    );
    metric(
        &mut out,
        "atenet_service_frames_unsent_total",
        "counter",
        "Frames a service produced with nowhere to go.",
        &plain(counters.service_frames_unsent),
    );
    metric(
        &mut out,
        "atenet_packets_received_total",
        "counter",
        "UDP packets received.",
        &plain(counters.packets_received),
    );
    metric(
        &mut out,
        "atenet_packets_sent_total",
        "counter",
        "UDP packets sent.",
        &plain(counters.packets_sent),
    );
    metric(
        &mut out,
        "atenet_send_calls_total",
        "counter",
        "sendmsg calls that carried the packets sent (GSO glues several).",
        &plain(counters.send_calls),
    );
    metric(
        &mut out,
        "atenet_receive_calls_total",
        "counter",
        "recvmmsg calls that carried the packets received.",
        &plain(counters.receive_calls),
    );
    metric(
        &mut out,
        "atenet_send_errors_total",
        "counter",
        "UDP sends that failed.",
        &plain(counters.send_errors),
    );
    metric(
        &mut out,
        "atenet_frames_received_total",
        "counter",
        "Ethernet frames opened from a session.",
        &plain(counters.frames_received),
    );
    metric(
        &mut out,
        "atenet_frames_forwarded_total",
        "counter",
        "Ethernet frame copies sealed and sent to a session.",
        &plain(counters.frames_forwarded),
    );
    metric(
        &mut out,
        "atenet_handshakes_accepted_total",
        "counter",
        "Sessions accepted as responder.",
        &plain(counters.handshakes_accepted),
    );
    metric(
        &mut out,
        "atenet_handshakes_completed_total",
        "counter",
        "Sessions established as initiator.",
        &plain(counters.handshakes_completed),
    );
    metric(
        &mut out,
        "atenet_sessions_expired_total",
        "counter",
        "Sessions removed after 60 s of silence.",
        &plain(counters.sessions_expired),
    );
    metric(
        &mut out,
        "atenet_clients_moved_total",
        "counter",
        "Client sessions dropped because their MAC appeared behind a peer.",
        &plain(counters.clients_moved),
    );
    metric(
        &mut out,
        "atenet_clients",
        "gauge",
        "Client sessions.",
        &plain(snapshot.clients.len() as u64),
    );
    metric(
        &mut out,
        "atenet_peers",
        "gauge",
        "Peer nodes per network, by state.",
        &[
            ("state=\"known\"".to_owned(), peers),
            ("state=\"connected\"".to_owned(), connected),
            ("state=\"reachable\"".to_owned(), reachable),
            ("state=\"unreachable\"".to_owned(), peers - reachable),
        ],
    );
    metric(
        &mut out,
        "atenet_networks",
        "gauge",
        "Networks served.",
        &plain(snapshot.networks.len() as u64),
    );
    metric(
        &mut out,
        "atenet_uptime_seconds",
        "gauge",
        "Seconds since the node started.",
        &plain(snapshot.uptime_secs),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_drops_by_reason() {
        let mut snapshot = Snapshot::default();
        snapshot.packet_drops.insert("bad_tag".into(), 5);
        snapshot.counters.frames_forwarded = 9;
        let text = render(&snapshot);
        assert!(
            text.contains("atenet_packets_dropped_total{reason=\"bad_tag\"} 5\n"),
            "{text}"
        );
        assert!(text.contains("atenet_frames_forwarded_total 9\n"), "{text}");
        assert!(text.contains("# TYPE atenet_peers gauge\n"));
        let mut snapshot = Snapshot::default();
        snapshot.router_drops.insert("no_route".into(), 2);
        snapshot.dhcp.insert("ack_sent".into(), 1);
        let text = render(&snapshot);
        assert!(
            text.contains("atenet_router_dropped_total{reason=\"no_route\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("atenet_dhcp_events_total{event=\"ack_sent\"} 1\n"),
            "{text}"
        );
    }

    #[test]
    fn parses_request_line() {
        assert_eq!(
            request_path(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some("/metrics")
        );
        assert_eq!(request_path(b"GET /?x=1 HTTP/1.0\r\n\r\n"), Some("/"));
        assert_eq!(request_path(b"POST / HTTP/1.0\r\n\r\n"), None);
        assert_eq!(request_path(b"\xff\xfe"), None);
        assert_eq!(request_path(b""), None);
    }
}
