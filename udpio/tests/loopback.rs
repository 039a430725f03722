//! Real sockets on loopback: what is committed arrives, in order, intact,
//! and same-size runs leave in fewer system calls than packets when the
//! kernel has GSO.

use std::net::SocketAddr;
use std::time::Duration;

use udpio::{RxBatch, UdpIo};

fn bound() -> UdpIo {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    UdpIo::from_std(socket).unwrap()
}

fn addr(io: &UdpIo) -> SocketAddr {
    io.socket().local_addr().unwrap()
}

/// Packet `n` of `len` bytes: its number, then a pattern.
fn packet(n: u16, len: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len).map(|i| (i as u8) ^ (n as u8)).collect();
    p[..2].copy_from_slice(&n.to_be_bytes());
    p
}

async fn receive_all(io: &UdpIo, rx: &mut RxBatch, want: usize) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut got = Vec::new();
    while got.len() < want {
        tokio::time::timeout(Duration::from_secs(5), io.recv(rx))
            .await
            .expect("datagrams within 5 s")
            .unwrap();
        got.extend(rx.datagrams().map(|(from, d)| (from, d.to_vec())));
    }
    got
}

async fn commit(io: &mut UdpIo, bytes: &[u8], to: SocketAddr) -> udpio::Sent {
    io.tx_slot()[..bytes.len()].copy_from_slice(bytes);
    io.tx_commit(bytes.len(), to).await
}

#[tokio::test]
async fn a_run_of_equal_packets_arrives_in_order_in_few_calls() {
    let mut tx = bound();
    let rx_io = bound();
    let to = addr(&rx_io);
    let mut sent = udpio::Sent::default();
    // 100 x 1200 B, then a short one that closes the lane, then more.
    let mut lens = vec![1200; 100];
    lens.push(300);
    lens.extend([1200; 20]);
    for (n, &len) in lens.iter().enumerate() {
        sent += commit(&mut tx, &packet(n as u16, len), to).await;
    }
    sent += tx.flush().await;
    assert_eq!(sent.packets, lens.len() as u64);
    assert_eq!(sent.errors, 0);
    if tx.gso_segments() > 1 {
        assert!(
            sent.calls <= 6,
            "{} calls for {} packets with GSO",
            sent.calls,
            lens.len()
        );
    }
    let mut rx = RxBatch::new();
    let got = receive_all(&rx_io, &mut rx, lens.len()).await;
    assert_eq!(got.len(), lens.len());
    for (n, (from, bytes)) in got.iter().enumerate() {
        assert_eq!(*from, addr(&tx));
        assert_eq!(bytes, &packet(n as u16, lens[n]), "packet {n}");
    }
}

#[tokio::test]
async fn interleaved_destinations_keep_each_ones_order() {
    let mut tx = bound();
    let (a, b) = (bound(), bound());
    for n in 0..60u16 {
        // Data one way, short "ACKs" the other, alternating, as at a node.
        commit(&mut tx, &packet(n, 1400), addr(&a)).await;
        commit(&mut tx, &packet(n, 80), addr(&b)).await;
    }
    // A control packet leaves after everything queued before it.
    let sent = tx.send_to(&packet(999, 50), addr(&a)).await;
    assert!(sent.packets >= 1);
    let mut rx = RxBatch::new();
    let got_a = receive_all(&a, &mut rx, 61).await;
    let got_b = receive_all(&b, &mut rx, 60).await;
    for n in 0..60u16 {
        assert_eq!(got_a[n as usize].1, packet(n, 1400));
        assert_eq!(got_b[n as usize].1, packet(n, 80));
    }
    assert_eq!(got_a[60].1, packet(999, 50));
}

#[tokio::test]
async fn packets_too_large_for_one_segment_leave_alone_and_in_order() {
    let mut tx = bound();
    let rx_io = bound();
    let to = addr(&rx_io);
    let lens = [1400, 1400, 1800, 1400, 1800, 1800, 1400];
    let mut sent = udpio::Sent::default();
    for (n, &len) in lens.iter().enumerate() {
        sent += commit(&mut tx, &packet(n as u16, len), to).await;
    }
    sent += tx.flush().await;
    assert_eq!((sent.packets, sent.errors), (7, 0));
    // 1400 x2 | 1800 | 1400 | 1800 | 1800 | 1400: six calls with GSO.
    if tx.gso_segments() > 1 {
        assert_eq!(sent.calls, 6);
    }
    let mut rx = RxBatch::new();
    let got = receive_all(&rx_io, &mut rx, lens.len()).await;
    for (n, (_, bytes)) in got.iter().enumerate() {
        assert_eq!(bytes, &packet(n as u16, lens[n]), "packet {n}");
    }
}

#[tokio::test]
async fn try_recv_without_data_is_zero() {
    let io = bound();
    let mut rx = RxBatch::new();
    assert_eq!(io.try_recv(&mut rx).unwrap(), 0);
    assert!(rx.is_empty());
}

#[tokio::test]
async fn a_dual_stack_socket_reaches_ipv4_through_mapped_addresses() {
    // tok's socket when some node is IPv6: IPv4 nodes are v4-mapped.
    let socket = socket2::Socket::new(socket2::Domain::IPV6, socket2::Type::DGRAM, None).unwrap();
    if socket.set_only_v6(false).is_err()
        || socket
            .bind(&"[::]:0".parse::<SocketAddr>().unwrap().into())
            .is_err()
    {
        return; // no IPv6 on this host
    }
    let mut tx = UdpIo::from_std(socket.into()).unwrap();
    let rx_io = bound();
    let SocketAddr::V4(v4) = addr(&rx_io) else {
        unreachable!()
    };
    let mapped = SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port());
    for n in 0..10u16 {
        commit(&mut tx, &packet(n, 1000), mapped).await;
    }
    let sent = tx.flush().await;
    assert_eq!((sent.packets, sent.errors), (10, 0));
    let mut rx = RxBatch::new();
    let got = receive_all(&rx_io, &mut rx, 10).await;
    for (n, (_, bytes)) in got.iter().enumerate() {
        assert_eq!(bytes, &packet(n as u16, 1000));
    }
}
