//! TCP through the translator: a client smoltcp stack on one side, the test
//! playing the I/O side (host sockets) on the other, with a fake clock.

mod common;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use common::*;
use nat::{Command, DropReason, FlowId, FlowKind, Protocol};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::State;

fn remote(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(REMOTE_IP, port)
}

/// Connects a client socket through the translator; returns it and its flow.
fn connected(w: &mut World, port: u16) -> (SocketHandle, FlowId) {
    let h = w.tcp_socket(16 * 1024);
    w.connect(h, remote(80), port);
    w.pump();
    let flow = match w.take_commands()[..] {
        [Command::OpenTcp { flow, dst }] => {
            assert_eq!(dst, remote(80));
            flow
        }
        ref other => panic!("unexpected {other:?}"),
    };
    // No SYN-ACK before the host connection is up.
    assert_eq!(w.sock(h).state(), State::SynSent);
    w.t.tcp_connected(w.now, flow);
    w.pump();
    assert_eq!(w.sock(h).state(), State::Established);
    assert_eq!(w.sock(h).remote_endpoint().unwrap().port, 80);
    (h, flow)
}

fn sent_bytes(cmds: &[Command], flow: FlowId) -> Vec<u8> {
    cmds.iter()
        .filter_map(|c| match c {
            Command::SendTcp { flow: f, bytes } if *f == flow => Some(bytes.clone()),
            _ => None,
        })
        .flatten()
        .collect()
}

fn client_read(w: &mut World, h: SocketHandle) -> Vec<u8> {
    let mut out = Vec::new();
    while w.sock(h).can_recv() {
        w.sock(h)
            .recv(|b| {
                out.extend_from_slice(b);
                (b.len(), ())
            })
            .unwrap();
    }
    out
}

#[test]
fn data_both_ways_then_client_closes_first() {
    let mut w = World::new();
    let (h, flow) = connected(&mut w, 40000);
    w.sock(h).send_slice(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    w.pump();
    let cmds = w.take_commands();
    assert_eq!(sent_bytes(&cmds, flow), b"GET / HTTP/1.0\r\n\r\n");
    w.t.tcp_written(w.now, flow, 18);

    assert_eq!(w.t.tcp_received(w.now, flow, b"HTTP/1.0 200 OK\r\n"), 17);
    w.pump();
    assert_eq!(client_read(&mut w, h), b"HTTP/1.0 200 OK\r\n");

    // Client half-closes: the host gets ShutdownWrite, and can still send.
    w.sock(h).close();
    w.pump();
    assert_eq!(w.take_commands(), vec![Command::ShutdownWrite { flow }]);
    assert_eq!(w.t.tcp_received(w.now, flow, b"body"), 4);
    w.pump();
    assert_eq!(client_read(&mut w, h), b"body");

    // Host EOF: FIN to the client, the flow ends with Close.
    w.t.tcp_closed(w.now, flow);
    w.pump();
    assert_eq!(w.sock(h).state(), State::TimeWait);
    assert_eq!(w.take_commands(), vec![Command::Close { flow }]);
    assert_eq!(w.t.flows().total(), 0);
    assert_eq!(w.t.counters().closed, 1);
}

#[test]
fn host_closes_first_client_keeps_sending_then_time_wait_drains() {
    let mut w = World::new();
    let (h, flow) = connected(&mut w, 40001);
    w.t.tcp_received(w.now, flow, b"bye");
    w.t.tcp_closed(w.now, flow);
    w.pump();
    assert_eq!(client_read(&mut w, h), b"bye");
    assert!(!w.sock(h).may_recv(), "client saw EOF");
    // Half-closed: the client may still send.
    w.sock(h).send_slice(b"late data").unwrap();
    w.pump();
    assert_eq!(sent_bytes(&w.take_commands(), flow), b"late data");
    w.sock(h).close();
    w.pump();
    assert_eq!(
        w.take_commands(),
        vec![Command::ShutdownWrite { flow }, Command::Close { flow }]
    );
    // Our side lingers in TIME-WAIT, counted, then goes.
    assert_eq!(w.t.flows().tcp_time_wait, 1);
    w.advance(Duration::from_secs(11));
    assert_eq!(w.t.flows().total(), 0);
    assert!(
        w.take_commands().is_empty(),
        "released flows say nothing more"
    );
}

#[test]
fn refused_connect_resets_the_client() {
    let mut w = World::new();
    let h = w.tcp_socket(4096);
    w.connect(h, remote(81), 40002);
    w.pump();
    let Command::OpenTcp { flow, .. } = w.take_commands()[0] else {
        panic!()
    };
    // SYN retransmits while pending are not answered.
    w.advance(Duration::from_millis(1500));
    assert_eq!(w.sock(h).state(), State::SynSent);
    w.t.tcp_refused(w.now, flow);
    w.pump();
    assert_eq!(w.sock(h).state(), State::Closed);
    assert_eq!(w.take_commands(), vec![Command::Reset { flow }]);
    assert_eq!(w.t.flows().total(), 0);
}

#[test]
fn unanswered_connect_times_out_with_rst() {
    let mut w = World::new();
    let h = w.tcp_socket(4096);
    w.connect(h, remote(81), 40003);
    w.pump();
    let Command::OpenTcp { flow, .. } = w.take_commands()[0] else {
        panic!()
    };
    w.advance(Duration::from_secs(6));
    assert_eq!(w.take_commands(), vec![Command::Reset { flow }]);
    assert_eq!(w.t.counters().expired, 1);
    assert_eq!(w.t.flows().total(), 0);
}

#[test]
fn rst_both_ways() {
    let mut w = World::new();
    let (h, flow) = connected(&mut w, 40004);
    w.sock(h).abort();
    w.pump();
    assert_eq!(w.take_commands(), vec![Command::Reset { flow }]);
    assert_eq!(w.t.flows().total(), 0);

    let (h, flow) = connected(&mut w, 40005);
    w.t.tcp_reset(w.now, flow);
    w.pump();
    assert_eq!(w.sock(h).state(), State::Closed);
    assert_eq!(w.take_commands(), vec![Command::Reset { flow }]);
    // A late call for the gone flow swallows the bytes.
    assert_eq!(w.t.tcp_received(w.now, flow, b"xyz"), 3);
    assert_eq!(w.t.counters().drops(DropReason::UnknownFlow), 1);
}

#[test]
fn client_to_host_backpressure_closes_the_window() {
    let mut w = World::new();
    let (h, flow) = connected(&mut w, 40006);
    let data: Vec<u8> = (0..60_000u32).map(|i| i as u8).collect();
    let mut offered = 0;
    let mut got = Vec::new();
    // The host side never confirms: only `tcp_in_flight` (8 KiB) leaves,
    // the translator's 8 KiB buffer fills, and the client stops.
    for _ in 0..50 {
        offered += w.sock(h).send_slice(&data[offered..]).unwrap();
        w.advance(Duration::from_millis(300));
        got.extend(sent_bytes(&w.take_commands(), flow));
    }
    assert_eq!(got.len(), 8 * 1024, "in flight is capped");
    let queued = w.sock(h).send_queue();
    assert!(queued > 0, "the client holds the rest");
    assert!(
        offered - queued <= 16 * 1024 + 1500,
        "translator holds at most its buffer"
    );
    // Confirming lets the rest through, in order.
    while got.len() < data.len() {
        w.t.tcp_written(w.now, flow, 8 * 1024);
        offered += w.sock(h).send_slice(&data[offered..]).unwrap();
        w.advance(Duration::from_millis(300));
        got.extend(sent_bytes(&w.take_commands(), flow));
    }
    assert!(got == data, "{} of {} bytes", got.len(), data.len());
}

#[test]
fn host_to_client_backpressure_until_resume() {
    let mut w = World::new();
    let (h, flow) = connected(&mut w, 40007);
    let chunk = [7u8; 4096];
    let mut taken = 0;
    // The client does not read: its 16 KiB window and our 8 KiB fill.
    for _ in 0..20 {
        taken += w.t.tcp_received(w.now, flow, &chunk);
        w.advance(Duration::from_millis(300));
    }
    assert!(taken <= 24 * 1024 + 4096, "bounded: {taken}");
    assert!(!w.take_commands().contains(&Command::ResumeRecv { flow }));
    assert_eq!(w.t.tcp_received(w.now, flow, &chunk), 0);
    // The client reads: the translator says resume.
    let read = client_read(&mut w, h).len();
    w.advance(Duration::from_millis(500));
    let read = read + client_read(&mut w, h).len();
    assert!(read > 0);
    assert!(w.take_commands().contains(&Command::ResumeRecv { flow }));
}

#[test]
fn tcp_cap_refuses_with_rst_and_deny_with_icmp() {
    let mut c = config();
    c.limits.max_tcp_flows = 1;
    let mut w = World::with_config(c);
    let _ = connected(&mut w, 40008);
    let h = w.tcp_socket(4096);
    w.connect(h, remote(80), 40009);
    w.pump();
    assert_eq!(w.sock(h).state(), State::Closed, "RST at once");
    assert_eq!(w.t.counters().drops(DropReason::TcpCap), 1);
    assert!(w.take_commands().is_empty());

    let h = w.tcp_socket(4096);
    w.connect(h, SocketAddrV4::new(Ipv4Addr::LOCALHOST, 22), 40010);
    w.pump();
    assert!(w.take_commands().is_empty());
    assert_eq!(w.t.counters().denied(nat::DenyReason::Loopback), 1);
}

#[test]
fn idle_established_flow_is_reset() {
    let mut w = World::new();
    let (h, flow) = connected(&mut w, 40011);
    w.advance(Duration::from_secs(31));
    assert_eq!(w.take_commands(), vec![Command::Reset { flow }]);
    assert_eq!(w.sock(h).state(), State::Closed);
}

#[test]
fn published_tcp_port_connects_to_the_client() {
    let mut w = World::new();
    let h = w.tcp_socket(4096);
    w.sock(h).listen(8080).unwrap();
    w.t.publish(Protocol::Tcp, 18080, SocketAddrV4::new(CLIENT_IP, 8080))
        .unwrap();
    let outside = SocketAddrV4::new(Ipv4Addr::new(198, 51, 100, 7), 50000);
    let flow = w.t.inbound_tcp(w.now, 18080, outside, CLIENT_MAC).unwrap();
    // Bytes from the outside before the client accepted wait.
    assert_eq!(w.t.tcp_received(w.now, flow, b"early"), 0);
    w.pump();
    assert_eq!(w.sock(h).state(), State::Established);
    let peer = w.sock(h).remote_endpoint().unwrap();
    assert_eq!(
        (peer.addr, peer.port),
        (outside.ip().to_owned().into(), 50000)
    );
    assert!(w.take_commands().contains(&Command::ResumeRecv { flow }));
    assert_eq!(w.t.tcp_received(w.now, flow, b"early"), 5);
    w.pump();
    assert_eq!(client_read(&mut w, h), b"early");
    w.sock(h).send_slice(b"served").unwrap();
    w.pump();
    assert_eq!(sent_bytes(&w.take_commands(), flow), b"served");
    assert_eq!(w.t.flows().kind(FlowKind::PublishedTcp), 1);
    assert_eq!(
        w.t.inbound_tcp(w.now, 18081, outside, CLIENT_MAC),
        Err(nat::InboundError::NotPublished)
    );
}

#[test]
fn two_hundred_concurrent_connections_complete_and_drain() {
    let mut w = World::new();
    let mut socks = Vec::new();
    for i in 0..200u16 {
        let h = w.tcp_socket(2048);
        w.connect(h, remote(80), 41000 + i);
        socks.push(h);
    }
    w.pump();
    let flows: Vec<FlowId> = w
        .take_commands()
        .into_iter()
        .filter_map(|c| match c {
            Command::OpenTcp { flow, .. } => Some(flow),
            _ => None,
        })
        .collect();
    assert_eq!(flows.len(), 200);
    for f in &flows {
        w.t.tcp_connected(w.now, *f);
    }
    w.pump();
    for (h, f) in socks.iter().zip(&flows) {
        assert_eq!(w.sock(*h).state(), State::Established);
        w.t.tcp_received(w.now, *f, b"hello");
        w.t.tcp_closed(w.now, *f);
    }
    w.pump();
    for h in &socks {
        assert_eq!(client_read(&mut w, *h), b"hello");
        w.sock(*h).close();
    }
    w.pump();
    let closes = w
        .take_commands()
        .iter()
        .filter(|c| matches!(c, Command::Close { .. }))
        .count();
    assert_eq!(closes, 200);
    assert_eq!(w.t.flows().kind(FlowKind::Tcp), 200, "TIME-WAIT");
    w.advance(Duration::from_secs(11));
    assert_eq!(w.t.flows().total(), 0);
}

#[test]
fn denied_syn_gets_admin_prohibited_quoting_it() {
    let t0 = std::time::Instant::now();
    let mut t = translator(t0);
    let from = SocketAddrV4::new(CLIENT_IP, 40100);
    let to = SocketAddrV4::new(Ipv4Addr::new(169, 254, 169, 254), 80);
    t.handle_frame(
        t0,
        &tcp_frame(from, to, smoltcp::wire::TcpControl::Syn, 1000, None, b""),
    );
    let frames = drain_frames(&mut t);
    let (ip, ty, code, payload) = parse_icmp(&frames[0]);
    assert_eq!((ip.src_addr, ty, code), (GW_IP, 3, 13));
    // Quoted IP header + the TCP ports and sequence number.
    assert_eq!(&payload[8 + 20..8 + 24], &[0x9c, 0xa4, 0, 80]);
    assert!(drain_commands(&mut t).is_empty());
}

#[test]
fn translator_can_move_between_threads() {
    fn assert_send<T: Send>() {}
    assert_send::<nat::Translator>();
}

#[test]
fn client_bytes_and_fin_survive_a_slow_host_after_both_closed() {
    let mut w = World::new();
    let (h, flow) = connected(&mut w, 40200);
    // The host confirms nothing: 8 KiB in flight, 8 KiB waiting in smoltcp.
    let data = vec![5u8; 12 * 1024];
    let sent = w.sock(h).send_slice(&data).unwrap();
    assert_eq!(sent, data.len());
    w.sock(h).close();
    w.advance(Duration::from_millis(500));
    // The host closes too: LAST-ACK -> CLOSED with bytes unread.
    w.t.tcp_closed(w.now, flow);
    w.advance(Duration::from_millis(500));
    let mut got = sent_bytes(&w.take_commands(), flow);
    assert_eq!(got.len(), 8 * 1024);
    w.t.tcp_written(w.now, flow, 8 * 1024);
    w.pump();
    let cmds = w.take_commands();
    got.extend(sent_bytes(&cmds, flow));
    assert!(got == data, "{} of {} bytes", got.len(), data.len());
    let tail: Vec<_> = cmds
        .into_iter()
        .filter(|c| !matches!(c, Command::SendTcp { .. }))
        .collect();
    assert_eq!(
        tail,
        vec![Command::ShutdownWrite { flow }, Command::Close { flow }]
    );
    assert_eq!(w.t.flows().total(), 0);
}

#[test]
fn rst_in_syn_received_leaves_no_listener_behind() {
    use smoltcp::wire::{TcpControl, TcpPacket};
    let t0 = std::time::Instant::now();
    let mut t = translator(t0);
    let a = SocketAddrV4::new(CLIENT_IP, 40300);
    t.handle_frame(
        t0,
        &tcp_frame(a, remote(80), TcpControl::Syn, 1000, None, b""),
    );
    let Command::OpenTcp { flow, .. } = drain_commands(&mut t)[0] else {
        panic!()
    };
    t.tcp_connected(t0, flow);
    let synack = drain_frames(&mut t);
    let (_, seg) = parse_to_client(&synack[0]);
    let seg = TcpPacket::new_checked(&seg[..]).unwrap();
    assert!(seg.syn() && seg.ack());
    t.handle_frame(
        t0,
        &tcp_frame(a, remote(80), TcpControl::Rst, 1001, None, b""),
    );
    assert_eq!(drain_commands(&mut t), vec![Command::Reset { flow }]);
    assert_eq!(t.flows().total(), 0);
    // Another client's SYN to the same remote is a new flow, not accepted
    // by a leftover listener.
    let b = SocketAddrV4::new(CLIENT_IP, 40301);
    t.handle_frame(
        t0,
        &tcp_frame(b, remote(80), TcpControl::Syn, 5000, None, b""),
    );
    assert!(drain_frames(&mut t).is_empty(), "no SYN-ACK before connect");
    assert!(matches!(
        drain_commands(&mut t)[..],
        [Command::OpenTcp { .. }]
    ));
}
