//! Readable tables for `tok status`.

use std::fmt::Write as _;

use super::model::Snapshot;

/// Rows of one section; the first row is the header.
#[derive(Debug)]
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|h| (*h).to_owned()).collect()],
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn is_empty(&self) -> bool {
        self.rows.len() <= 1
    }

    /// Appends the table, indented by two spaces.
    fn write(&self, out: &mut String) {
        for line in crate::table::render(&self.rows).lines() {
            out.push_str("  ");
            out.push_str(line);
            out.push('\n');
        }
    }
}

/// `1h02m`, `45s`, `3d04h`.
pub fn duration(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}d{h:02}h")
    } else if h > 0 {
        format!("{h}h{m:02}m")
    } else if m > 0 {
        format!("{m}m{s:02}s")
    } else {
        format!("{s}s")
    }
}

fn ago_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms}ms ago")
    } else {
        format!("{} ago", duration(ms / 1000))
    }
}

fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// Renders every node's document (and the sockets that could not be read).
pub fn render(nodes: &[Snapshot], unreadable: &[(String, String)]) -> String {
    let mut out = String::new();

    let mut t = Table::new(&[
        "NODE",
        "PID",
        "LISTEN",
        "ADVERTISE",
        "UPTIME",
        "NETWORKS",
        "PEERS UP",
        "CLIENTS",
    ]);
    for n in nodes {
        let up = n.peers.iter().filter(|p| p.reachable).count();
        t.row(vec![
            n.node_id.clone(),
            n.pid.to_string(),
            n.listen.clone(),
            n.advertise.clone(),
            duration(n.uptime_secs),
            n.networks.len().to_string(),
            format!("{up}/{}", n.peers.len()),
            n.clients.len().to_string(),
        ]);
    }
    for (socket, why) in unreadable {
        t.row(vec![
            socket.clone(),
            "-".into(),
            format!("unreadable: {why}"),
        ]);
    }
    out.push_str("NODES\n");
    t.write(&mut out);
    for n in nodes.iter().filter(|n| !n.data_path.is_empty()) {
        let _ = writeln!(out, "data path of {}: {}", n.node_id, n.data_path);
    }

    let mut t = Table::new(&["NODE", "NETWORK", "NAME", "SUBNET", "PORTS"]);
    for n in nodes {
        for net in &n.networks {
            t.row(vec![
                short(&n.node_id).to_owned(),
                net.id.clone(),
                net.name.clone(),
                net.subnet.clone(),
                net.ports.to_string(),
            ]);
        }
    }
    section(&mut out, "NETWORKS", &t, "no networks");

    let mut t = Table::new(&["NODE", "NETWORK", "PEER", "ADDR", "STATE", "LAST HEARD"]);
    for n in nodes {
        for p in &n.peers {
            let state = match (p.connected, p.reachable) {
                (_, true) => "reachable",
                (true, false) => "UNREACHABLE (silent)",
                (false, false) => "UNREACHABLE (no session)",
            };
            t.row(vec![
                short(&n.node_id).to_owned(),
                short(&p.network).to_owned(),
                p.node_id.clone(),
                p.addr.clone(),
                state.to_owned(),
                p.last_heard_ms.map_or_else(|| "never".to_owned(), ago_ms),
            ]);
        }
    }
    section(&mut out, "PEERS", &t, "no peers");

    let mut t = Table::new(&["NODE", "NETWORK", "KEY", "REMOTE", "MACS", "LAST HEARD"]);
    for n in nodes {
        for c in &n.clients {
            t.row(vec![
                short(&n.node_id).to_owned(),
                short(&c.network).to_owned(),
                c.key_id.clone(),
                c.remote.clone(),
                if c.macs.is_empty() {
                    "-".to_owned()
                } else {
                    c.macs.join(",")
                },
                ago_ms(c.last_heard_ms),
            ]);
        }
    }
    section(&mut out, "CLIENTS", &t, "no clients");

    let mut t = Table::new(&["NODE", "LAYER", "REASON", "COUNT"]);
    for n in nodes {
        for (layer, drops) in [("packet", &n.packet_drops), ("frame", &n.frame_drops)] {
            for (reason, count) in drops.iter().filter(|(_, c)| **c > 0) {
                t.row(vec![
                    short(&n.node_id).to_owned(),
                    layer.to_owned(),
                    reason.clone(),
                    count.to_string(),
                ]);
            }
        }
    }
    section(&mut out, "DROPS", &t, "no drops");

    // NAT and DNS: only for nodes that report them (older nodes do not).
    let with_nat: Vec<&Snapshot> = nodes
        .iter()
        .filter(|n| !n.nat_flows.is_empty() || !n.nat.is_empty() || !n.dns.is_empty())
        .collect();
    if !with_nat.is_empty() {
        let mut t = Table::new(&["NODE", "FLOWS", "BY KIND", "BUSIEST CLIENTS"]);
        for n in &with_nat {
            let total = n
                .nat_flows
                .get("total")
                .copied()
                .unwrap_or_else(|| n.nat_flows.values().sum());
            let kinds: Vec<String> = n
                .nat_flows
                .iter()
                .filter(|(k, v)| k.as_str() != "total" && **v > 0)
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            let clients: Vec<String> = n
                .nat_clients
                .iter()
                .take(3)
                .map(|c| format!("{}={}", c.ip, c.flows))
                .collect();
            t.row(vec![
                short(&n.node_id).to_owned(),
                total.to_string(),
                dash_if_empty(kinds.join(" ")),
                dash_if_empty(clients.join(" ")),
            ]);
        }
        section(&mut out, "NAT FLOWS", &t, "no NAT");

        let mut t = Table::new(&["NODE", "COUNTER", "COUNT"]);
        for n in &with_nat {
            for (prefix, counters) in [("nat", &n.nat), ("dns", &n.dns)] {
                for (name, count) in counters.iter().filter(|(_, c)| **c > 0) {
                    t.row(vec![
                        short(&n.node_id).to_owned(),
                        format!("{prefix}.{name}"),
                        count.to_string(),
                    ]);
                }
            }
        }
        section(&mut out, "NAT AND DNS COUNTERS", &t, "all zero");
    }
    out
}

fn dash_if_empty(s: String) -> String {
    if s.is_empty() {
        "-".to_owned()
    } else {
        s
    }
}

fn section(out: &mut String, title: &str, t: &Table, empty: &str) {
    out.push('\n');
    out.push_str(title);
    out.push('\n');
    if t.is_empty() {
        out.push_str("  (");
        out.push_str(empty);
        out.push_str(")\n");
    } else {
        t.write(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"version":1,"node_id":"00112233aabbccdd","pid":42,
        "listen":"0.0.0.0:7370","advertise":"198.18.0.1:7370","uptime_secs":3725,
        "data_path":"AES hardware, SHA-256 hardware; UDP GSO 64 and GRO 64 datagrams per call",
        "networks":[{"id":"0123456789abcdef0123456789abcdef","name":"default","subnet":"10.7.0.0/24","ports":3}],
        "peers":[{"node_id":"feedfacefeedface","network":"0123456789abcdef0123456789abcdef","addr":"198.18.0.2:7370","connected":true,"reachable":false,"last_heard_ms":4200}],
        "clients":[{"network":"0123456789abcdef0123456789abcdef","key_id":"0badc0de","remote":"198.18.0.9:40000","macs":["02:00:00:00:00:01"],"last_heard_ms":300}],
        "packet_drops":{"bad_tag":3,"replay":0},"frame_drops":{"spoofed_source":1},
        "counters":{"packets_received":10},"future_field":true}"#;

    #[test]
    fn renders_every_section() {
        let snap: Snapshot = serde_json::from_str(DOC).unwrap();
        let text = render(&[snap], &[("dead.sock".into(), "refused".into())]);
        for want in [
            "00112233aabbccdd",
            "198.18.0.1:7370",
            "1h02m",
            "0/1",
            "default",
            "10.7.0.0/24",
            "UNREACHABLE (silent)",
            "4s ago",
            "0badc0de",
            "02:00:00:00:00:01",
            "300ms ago",
            "bad_tag",
            "spoofed_source",
            "unreadable: refused",
            "data path of 00112233aabbccdd: AES hardware, SHA-256 hardware; UDP GSO 64",
        ] {
            assert!(text.contains(want), "missing {want}:\n{text}");
        }
        assert!(
            !text.contains("replay"),
            "zero counters are hidden:\n{text}"
        );
    }

    #[test]
    fn nat_and_dns_when_the_node_reports_them() {
        let doc = r#"{"node_id":"00112233aabbccdd",
            "nat_flows":{"total":5,"tcp":4,"udp":1,"ping":0},
            "nat_clients":[{"network":"ab","ip":"10.7.0.5","flows":5}],
            "nat":{"opened_tcp":200,"deny_loopback":2,"drop_runt":0},
            "dns":{"queries":3,"answered":3,"timeouts":0}}"#;
        let snap: Snapshot = serde_json::from_str(doc).unwrap();
        let text = render(&[snap], &[]);
        for want in [
            "NAT FLOWS",
            "tcp=4 udp=1",
            "10.7.0.5=5",
            "nat.opened_tcp",
            "200",
            "nat.deny_loopback",
            "dns.queries",
        ] {
            assert!(text.contains(want), "missing {want}:\n{text}");
        }
        for unwanted in ["ping=0", "drop_runt", "dns.timeouts"] {
            assert!(!text.contains(unwanted), "{unwanted}:\n{text}");
        }
        // An older node: no NAT sections at all.
        let text = render(&[Snapshot::default()], &[]);
        assert!(!text.contains("NAT"), "{text}");
    }

    #[test]
    fn empty_sections_say_so() {
        let text = render(&[Snapshot::default()], &[]);
        assert!(
            text.contains("(no peers)") && text.contains("(no drops)"),
            "{text}"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(duration(5), "5s");
        assert_eq!(duration(65), "1m05s");
        assert_eq!(duration(3725), "1h02m");
        assert_eq!(duration(90_000), "1d01h");
    }
}
