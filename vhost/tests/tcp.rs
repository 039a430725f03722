//! TCP through a `VirtualHost` against plain smoltcp clients in memory.
#![allow(clippy::needless_pass_by_value)] // apps take events by value

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use common::{echo_app, Net, GW};
use smoltcp::socket::tcp::State;
use vhost::{Config, Event, Protocol, VirtualHost};

const PORT: u16 = 7;

fn config() -> Config {
    Config {
        address: GW,
        tcp_buffer: 4096,
        seed: 7,
        ..Config::default()
    }
}

fn echo_host(config: Config) -> Net {
    let mut vh = VirtualHost::new(config);
    vh.listen_tcp(PORT);
    Net::new(vh)
}

fn silent_app(_: &mut VirtualHost, _: Instant, _: Event) {}

fn client_ip(i: usize) -> Ipv4Addr {
    // 10.0.1.0 upwards: not the gateway.
    Ipv4Addr::new(10, 0, 1 + (i / 250) as u8, 1 + (i % 250) as u8)
}

#[test]
fn echo_one_connection() {
    let mut net = echo_host(config());
    assert!(net.vhost.is_listening(Protocol::Tcp, PORT));
    assert!(!net.vhost.is_listening(Protocol::Udp, PORT));
    let msg = b"hello, gateway".to_vec();
    let c = net.connect(SocketAddrV4::new(client_ip(0), 40000), PORT, msg.clone());
    let mut events = Vec::new();
    let mut app = |vh: &mut VirtualHost, now: Instant, ev: Event| {
        events.push(ev.clone());
        echo_app(vh, now, ev);
    };
    let ok = net.run(&mut app, Duration::from_secs(30), &|n| {
        n.vhost.counters().tcp_active == 0 && n.conn(c).got.len() == 14
    });
    assert!(ok, "echo did not complete: {:?}", net.vhost.counters());
    assert_eq!(net.conn(c).got, msg);
    assert!(
        matches!(events[0], Event::TcpAccepted { local_port: PORT, peer, .. } if peer == SocketAddrV4::new(client_ip(0), 40000))
    );
    assert!(matches!(events.last(), Some(Event::TcpClosed(_))));
    let k = net.vhost.counters();
    assert_eq!((k.tcp_accepted, k.tcp_closed, k.tcp_active), (1, 1, 0));
    assert_eq!(k.dropped_total(), 0, "{k:?}");
}

/// 10 000 connections from 40 addresses open at once, each echoes, all
/// close and every socket is freed.
#[test]
fn ten_thousand_concurrent_connections() {
    const N: usize = 10_000;
    let mut net = echo_host(config());
    let mut conns = Vec::with_capacity(N);
    for i in 0..N {
        let ip = client_ip(i % 40);
        let port = 10_000 + (i / 40) as u16;
        let msg = format!("message {i}").into_bytes();
        conns.push((net.connect(SocketAddrV4::new(ip, port), PORT, msg), i));
    }
    // All handshakes first: every connection is live at the same time.
    let mut peak = 0;
    let mut app = |vh: &mut VirtualHost, now: Instant, ev: Event| {
        peak = peak.max(vh.counters().tcp_active);
        echo_app(vh, now, ev);
    };
    let ok = net.run(&mut app, Duration::from_secs(120), &|n| {
        n.vhost.counters().tcp_active == 0 && n.vhost.counters().tcp_closed == N as u64
    });
    let k = net.vhost.counters();
    assert!(ok, "not all done: {k:?}");
    assert_eq!(peak, N as u64, "all {N} were open at once");
    for (c, i) in conns {
        assert_eq!(net.conn(c).got, format!("message {i}").into_bytes());
    }
    assert_eq!((k.tcp_accepted, k.tcp_active), (N as u64, 0));
    assert_eq!(k.dropped_total(), 0, "{k:?}");
}

#[test]
fn cap_per_peer_ip_answers_rst_and_counts() {
    let mut net = echo_host(Config {
        max_sockets_per_peer_ip: 3,
        ..config()
    });
    let ip = client_ip(0);
    // The service never answers: connections stay open.
    let held: Vec<_> = (0..4)
        .map(|i| net.connect(SocketAddrV4::new(ip, 5000 + i), PORT, b"x".to_vec()))
        .collect();
    let other = net.connect(SocketAddrV4::new(client_ip(1), 5000), PORT, b"x".to_vec());
    net.run(&mut silent_app, Duration::from_secs(1), &|_| false);
    let k = net.vhost.counters();
    assert_eq!(k.drop_cap_per_peer_ip, 1, "{k:?}");
    assert_eq!(
        k.tcp_accepted, 4,
        "three from one address, one from another"
    );
    // The fourth from `ip` was refused with RST: its socket is closed.
    let refused = held
        .iter()
        .filter(|c| net.clients[&c.0].state(c.1) == State::Closed)
        .count();
    assert_eq!(refused, 1);
    assert_eq!(net.clients[&other.0].state(other.1), State::Established);
}

#[test]
fn cap_total_answers_rst_and_counts() {
    let mut net = echo_host(Config {
        max_sockets_total: 5,
        ..config()
    });
    let conns: Vec<_> = (0..7)
        .map(|i| net.connect(SocketAddrV4::new(client_ip(i), 6000), PORT, b"x".to_vec()))
        .collect();
    net.run(&mut silent_app, Duration::from_secs(1), &|_| false);
    let k = net.vhost.counters();
    assert_eq!(k.drop_cap_total, 2, "{k:?} lost {}", net.lost);
    assert_eq!(k.tcp_active, 5);
    let refused = conns
        .iter()
        .filter(|c| net.clients[&c.0].state(c.1) == State::Closed)
        .count();
    assert_eq!(refused, 2);
}

#[test]
fn closed_sockets_are_freed_and_ports_reusable() {
    let mut net = echo_host(config());
    for round in 0..3 {
        for i in 0..50 {
            // The same 4-tuples every round: freed entries do not linger.
            let from = SocketAddrV4::new(client_ip(i % 5), 7000 + i as u16 + round * 100);
            net.connect(from, PORT, b"bye".to_vec());
        }
        let want = 50 * (u64::from(round) + 1);
        let ok = net.run(&mut echo_app, Duration::from_secs(60), &|n| {
            n.vhost.counters().tcp_closed == want && n.vhost.counters().tcp_active == 0
        });
        assert!(ok, "round {round}: {:?}", net.vhost.counters());
    }
    // Nothing is left to time out either.
    assert_eq!(net.vhost.poll_timeout(), None);
}

#[test]
fn syn_to_unlistened_port_gets_rst() {
    let mut net = echo_host(config());
    let c = net.connect(SocketAddrV4::new(client_ip(0), 8000), 81, b"x".to_vec());
    net.run(&mut echo_app, Duration::from_secs(1), &|_| false);
    assert_eq!(net.vhost.counters().drop_tcp_not_listening, 1);
    assert_eq!(net.clients[&c.0].state(c.1), State::Closed);
    assert_eq!(net.vhost.counters().tcp_active, 0);
}

#[test]
fn tcp_connect_reaches_a_client() {
    let mut net = echo_host(config());
    let server = SocketAddrV4::new(client_ip(3), 9000);
    let s = net.listen(server);
    let t0 = net.now;
    let conn = net.vhost.tcp_connect(t0, 8444, server).expect("connect");
    assert!(
        net.vhost.tcp_connect(t0, 8444, server).is_err(),
        "same 4-tuple twice"
    );
    let mut got = Vec::new();
    let mut closed = false;
    let mut app = |vh: &mut VirtualHost, _now: Instant, ev: Event| match ev {
        Event::TcpConnected(c) => {
            assert_eq!(c, conn);
            assert_eq!(vh.tcp_send(c, b"ping"), 4);
        }
        Event::TcpReadable(c) => {
            let mut buf = [0u8; 64];
            let n = vh.tcp_recv(c, &mut buf);
            got.extend_from_slice(&buf[..n]);
            if got.len() == 4 {
                vh.tcp_close(c);
            }
        }
        Event::TcpClosed(c) => {
            assert_eq!(c, conn);
            closed = true;
        }
        _ => {}
    };
    let ok = net.run(&mut app, Duration::from_secs(30), &|n| {
        n.vhost.counters().tcp_active == 0
    });
    assert!(ok, "{:?}", net.vhost.counters());
    assert!(closed);
    assert_eq!(got, b"ping");
    assert_eq!(net.conn(s).got, b"ping");
    assert_eq!(net.vhost.counters().tcp_connected, 1);
}

#[test]
fn tcp_connect_refused_reports_closed() {
    let mut net = echo_host(config());
    // A client host with no listener: smoltcp answers RST.
    net.client(client_ip(4));
    let conn = net
        .vhost
        .tcp_connect(net.now, 8445, SocketAddrV4::new(client_ip(4), 9001))
        .expect("connect");
    let mut closed = None;
    let mut app = |_: &mut VirtualHost, _: Instant, ev: Event| {
        if let Event::TcpClosed(c) = ev {
            closed = Some(c);
        }
    };
    net.run(&mut app, Duration::from_secs(5), &|n| {
        n.vhost.counters().tcp_active == 0
    });
    assert_eq!(closed, Some(conn));
    assert_eq!(net.vhost.counters().tcp_handshake_failed, 1);
}

#[test]
fn idle_connection_survives_on_keep_alive() {
    let mut net = echo_host(config());
    let c = net.connect(SocketAddrV4::new(client_ip(0), 41000), PORT, b"x".to_vec());
    net.run(&mut silent_app, Duration::from_secs(300), &|_| false);
    assert_eq!(net.vhost.counters().tcp_active, 1);
    assert_eq!(net.clients[&c.0].state(c.1), State::Established);
}
