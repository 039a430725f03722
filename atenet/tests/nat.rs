//! NAT through a node's gateway, driven by an in-process client over
//! loopback (no root): UDP to a loopback echo server (denied by default with
//! ICMP admin-prohibited, allowed by `nat-allow 127.0.0.0/8`), TCP through
//! the translator to a loopback echo server, and DNS to the gateway
//! forwarded to a fake resolver given with `--dns`.

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use atenet::{Config, Running};
use chain::{Event, FileStore, Store};
use common::{wait_for, TestClient};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use vrouter::{gateway_mac, NetworkId};
use vswitch::wire::PacketKind;

const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0xa, 1];
const WAIT: Duration = Duration::from_secs(3);

fn sum_words(mut acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut sum: u32) -> u16 {
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet/IPv4 frame around a transport segment (checksum filled in
/// at `csum_at` of the segment, with the pseudo header).
fn ip_frame(
    macs: ([u8; 6], [u8; 6]),
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    mut segment: Vec<u8>,
    csum_at: usize,
) -> Vec<u8> {
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&src.octets());
    pseudo.extend_from_slice(&dst.octets());
    pseudo.extend_from_slice(&[0, proto]);
    pseudo.extend_from_slice(&(segment.len() as u16).to_be_bytes());
    let sum = fold(sum_words(sum_words(0, &pseudo), &segment));
    segment[csum_at..csum_at + 2].copy_from_slice(&sum.to_be_bytes());
    let total = 20 + segment.len();
    let mut f = Vec::new();
    f.extend_from_slice(&macs.1);
    f.extend_from_slice(&macs.0);
    f.extend_from_slice(&[0x08, 0x00, 0x45, 0]);
    f.extend_from_slice(&(total as u16).to_be_bytes());
    f.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    let ip_sum = fold(sum_words(0, &f[14..34]));
    f[24..26].copy_from_slice(&ip_sum.to_be_bytes());
    f.extend_from_slice(&segment);
    f
}

fn udp(macs: ([u8; 6], [u8; 6]), src: SocketAddrV4, dst: SocketAddrV4, data: &[u8]) -> Vec<u8> {
    let mut seg = Vec::new();
    seg.extend_from_slice(&src.port().to_be_bytes());
    seg.extend_from_slice(&dst.port().to_be_bytes());
    seg.extend_from_slice(&((8 + data.len()) as u16).to_be_bytes());
    seg.extend_from_slice(&[0, 0]);
    seg.extend_from_slice(data);
    ip_frame(macs, *src.ip(), *dst.ip(), 17, seg, 6)
}

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;

fn tcp(
    macs: ([u8; 6], [u8; 6]),
    src: SocketAddrV4,
    dst: SocketAddrV4,
    seq: u32,
    ack: u32,
    flags: u8,
    data: &[u8],
) -> Vec<u8> {
    let mut seg = Vec::new();
    seg.extend_from_slice(&src.port().to_be_bytes());
    seg.extend_from_slice(&dst.port().to_be_bytes());
    seg.extend_from_slice(&seq.to_be_bytes());
    seg.extend_from_slice(&ack.to_be_bytes());
    seg.extend_from_slice(&[0x50, flags]);
    seg.extend_from_slice(&8192u16.to_be_bytes());
    seg.extend_from_slice(&[0, 0, 0, 0]);
    seg.extend_from_slice(data);
    ip_frame(macs, *src.ip(), *dst.ip(), 6, seg, 16)
}

/// (src, dst, protocol, transport bytes) of an IPv4 frame.
fn ip_of(frame: &[u8]) -> Option<(Ipv4Addr, Ipv4Addr, u8, Vec<u8>)> {
    if frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let ip = frame.get(14..)?;
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
    let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
    Some((src, dst, ip[9], ip.get(ihl..total)?.to_vec()))
}

/// A UDP datagram: (from, to, payload).
fn udp_of(frame: &[u8]) -> Option<(SocketAddrV4, SocketAddrV4, Vec<u8>)> {
    let (src, dst, proto, seg) = ip_of(frame)?;
    if proto != 17 || seg.len() < 8 {
        return None;
    }
    let sp = u16::from_be_bytes([seg[0], seg[1]]);
    let dp = u16::from_be_bytes([seg[2], seg[3]]);
    Some((
        SocketAddrV4::new(src, sp),
        SocketAddrV4::new(dst, dp),
        seg[8..].to_vec(),
    ))
}

#[derive(Debug)]
struct Seg {
    seq: u32,
    ack: u32,
    flags: u8,
    data: Vec<u8>,
}

fn tcp_of(frame: &[u8], from: SocketAddrV4) -> Option<Seg> {
    let (src, _, proto, seg) = ip_of(frame)?;
    if proto != 6 || src != *from.ip() || u16::from_be_bytes([seg[0], seg[1]]) != from.port() {
        return None;
    }
    let off = usize::from(seg[12] >> 4) * 4;
    Some(Seg {
        seq: u32::from_be_bytes(seg[4..8].try_into().ok()?),
        ack: u32::from_be_bytes(seg[8..12].try_into().ok()?),
        flags: seg[13],
        data: seg.get(off..)?.to_vec(),
    })
}

async fn start(dir: &std::path::Path, dns: SocketAddr) -> Running {
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    atenet::start(Config {
        data_dir: dir.to_path_buf(),
        store: String::new(),
        listen: any,
        advertise: any,
        metrics: None,
        wss: None,
        dns: vec![dns],
        nat_idle: None,
    })
    .await
    .unwrap()
}

fn host(subnet: &str, last: u8) -> Ipv4Addr {
    let base: Ipv4Addr = subnet.split('/').next().unwrap().parse().unwrap();
    let o = base.octets();
    Ipv4Addr::new(o[0], o[1], o[2], last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_tcp_and_dns_through_the_gateway() {
    // The outside: a UDP echo, a TCP echo and a fake resolver on loopback.
    let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = echo.recv_from(&mut buf).await {
            let _ = echo.send_to(&buf[..n], from).await;
        }
    });
    let tcp_echo = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp_addr = tcp_echo.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = tcp_echo.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let resolver = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let resolver_addr = resolver.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = resolver.recv_from(&mut buf).await {
            // Answer: the query with QR set and "ANSWER" appended.
            let mut answer = buf[..n].to_vec();
            answer[2] |= 0x80;
            answer.extend_from_slice(b"ANSWER");
            let _ = resolver.send_to(&answer, from).await;
        }
    });

    let dir = tempfile::tempdir().unwrap();
    let node = start(dir.path(), resolver_addr).await;
    let key = node.first_key.clone().unwrap();
    let status = wait_for(&node, "a gateway", |s| {
        s.networks.len() == 1 && !s.networks[0].gateway.is_empty()
    })
    .await;
    let subnet = status.networks[0].subnet.clone();
    let gateway: Ipv4Addr = status.networks[0].gateway.parse().unwrap();
    let gw_mac = gateway_mac(NetworkId(key.chain_id.0));
    let macs = (MAC_A, gw_mac);
    let me = host(&subnet, 10);
    let mut client = TestClient::connect(node.local_addr, &key).await;
    wait_for(&node, "client", |s| s.clients.len() == 1).await;

    // Loopback is denied by default: admin-prohibited from the gateway.
    let SocketAddr::V4(echo_v4) = echo_addr else {
        unreachable!()
    };
    let mine = SocketAddrV4::new(me, 40000);
    client
        .send(PacketKind::Frame, &udp(macs, mine, echo_v4, b"ping?"))
        .await;
    let denied = client
        .next_where(WAIT, |f| {
            ip_of(f).is_some_and(|(src, _, proto, seg)| {
                src == gateway && proto == 1 && seg[0] == 3 && seg[1] == 13
            })
        })
        .await;
    if denied.is_none() {
        let s = node.handle.snapshot().await.unwrap();
        panic!(
            "no admin-prohibited for loopback: router {:?} {:?} nat {:?}",
            s.router_drops, s.router, s.nat
        );
    }

    // DNS to the gateway reaches the resolver and comes back from gateway:53.
    let query = [
        0xab, 0xcd, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 4, b't', b'e', b's', b't', 0, 0, 1, 0, 1,
    ];
    let gw53 = SocketAddrV4::new(gateway, 53);
    let dns_client = SocketAddrV4::new(me, 5353);
    client
        .send(PacketKind::Frame, &udp(macs, dns_client, gw53, &query))
        .await;
    let Some(answer) = client
        .next_where(WAIT, |f| udp_of(f).is_some_and(|(from, _, _)| from == gw53))
        .await
    else {
        let s = node.handle.snapshot().await.unwrap();
        panic!("no DNS answer: dns {:?} router {:?}", s.dns, s.router_drops);
    };
    let (_, to, payload) = udp_of(&answer).unwrap();
    assert_eq!(to, dns_client);
    assert_eq!(&payload[..2], &[0xab, 0xcd], "the client's id restored");
    assert!(payload.ends_with(b"ANSWER"));
    assert_eq!(&answer[..12], [MAC_A, gw_mac].concat());

    // nat-allow 127.0.0.0/8: the echo answers through the NAT.
    let store = FileStore::open(dir.path()).unwrap();
    store
        .append(&Event::SettingChanged {
            network: hex::encode(key.chain_id.0),
            name: "nat-allow".into(),
            value: "127.0.0.0/8".into(),
        })
        .unwrap();
    let mut echoed = None;
    for _ in 0..30 {
        client
            .send(PacketKind::Frame, &udp(macs, mine, echo_v4, b"ping?"))
            .await;
        echoed = client
            .next_where(Duration::from_millis(300), |f| {
                udp_of(f).is_some_and(|(from, _, _)| from == echo_v4)
            })
            .await;
        if echoed.is_some() {
            break;
        }
    }
    let (_, to, payload) = udp_of(&echoed.expect("no UDP echo through NAT")).unwrap();
    assert_eq!(to, mine);
    assert_eq!(payload, b"ping?");

    // TCP: handshake with the translator, data echoed by the host server.
    let SocketAddr::V4(tcp_v4) = tcp_addr else {
        unreachable!()
    };
    let me_tcp = SocketAddrV4::new(me, 41000);
    let isn = 1000u32;
    client
        .send(
            PacketKind::Frame,
            &tcp(macs, me_tcp, tcp_v4, isn, 0, SYN, &[]),
        )
        .await;
    let synack = client
        .next_where(WAIT, |f| {
            tcp_of(f, tcp_v4).is_some_and(|s| s.flags & (SYN | ACK) == SYN | ACK)
        })
        .await
        .expect("no SYN-ACK");
    let synack = tcp_of(&synack, tcp_v4).unwrap();
    assert_eq!(synack.ack, isn + 1);
    let their = synack.seq.wrapping_add(1);
    let mut seq = isn + 1;
    client
        .send(
            PacketKind::Frame,
            &tcp(macs, me_tcp, tcp_v4, seq, their, ACK | PSH, b"hello nat"),
        )
        .await;
    seq += 9;
    let mut got = Vec::new();
    let mut ack = their;
    while got.len() < 9 {
        let frame = client
            .next_where(WAIT, |f| tcp_of(f, tcp_v4).is_some())
            .await
            .expect("no echoed TCP data");
        let s = tcp_of(&frame, tcp_v4).unwrap();
        assert_eq!(s.flags & RST, 0, "reset: {s:?}");
        if !s.data.is_empty() && s.seq == ack {
            got.extend_from_slice(&s.data);
            ack = ack.wrapping_add(s.data.len() as u32);
            client
                .send(
                    PacketKind::Frame,
                    &tcp(macs, me_tcp, tcp_v4, seq, ack, ACK, &[]),
                )
                .await;
        }
    }
    assert_eq!(got, b"hello nat");
    let snapshot = node.handle.snapshot().await.unwrap();
    assert_eq!(snapshot.nat_flows.get("tcp"), Some(&1), "{snapshot:#?}");
    assert!(snapshot.nat_flows.get("udp").copied().unwrap_or(0) >= 1);
    assert_eq!(snapshot.dns.get("answered"), Some(&1));
    assert!(snapshot.nat.get("deny_loopback").copied().unwrap_or(0) >= 1);
    assert_eq!(snapshot.nat_clients[0].ip, me.to_string());

    // FIN from the client: the host side closes, the echo server closes,
    // the client gets FIN back.
    client
        .send(
            PacketKind::Frame,
            &tcp(macs, me_tcp, tcp_v4, seq, ack, FIN | ACK, &[]),
        )
        .await;
    let fin = client
        .next_where(WAIT, |f| {
            tcp_of(f, tcp_v4).is_some_and(|s| s.flags & FIN != 0)
        })
        .await
        .expect("no FIN back");
    let fin = tcp_of(&fin, tcp_v4).unwrap();
    client
        .send(
            PacketKind::Frame,
            &tcp(
                macs,
                me_tcp,
                tcp_v4,
                seq + 1,
                fin.seq.wrapping_add(1),
                ACK,
                &[],
            ),
        )
        .await;

    // A published UDP port: the client answers ARP-visible as `me`, the
    // node listens on the host port while the client is attached here.
    if let Some(host_ip) = atenet::host::first_non_loopback_ipv4() {
        published_udp_reaches_the_client(&store, &key, &mut client, macs, me, host_ip).await;
    } else {
        eprintln!("no non-loopback IPv4 address: published port not tested");
    }

    node.shutdown().await.unwrap();
}

fn arp_request(mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    f.extend_from_slice(&mac);
    f.extend_from_slice(&sender.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f
}

async fn published_udp_reaches_the_client(
    store: &FileStore,
    key: &vswitch::key::AccessKey,
    client: &mut TestClient,
    macs: ([u8; 6], [u8; 6]),
    me: Ipv4Addr,
    host_ip: Ipv4Addr,
) {
    let port = {
        let probe = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let gateway = Ipv4Addr::from(u32::from(me) & 0xffff_ff00 | 1);
    client
        .send(PacketKind::Frame, &arp_request(MAC_A, me, gateway))
        .await;
    store
        .append(&Event::PortPublished {
            network: hex::encode(key.chain_id.0),
            proto: "udp".into(),
            host_port: port,
            client_ip: me.to_string(),
            client_port: 7000,
        })
        .unwrap();
    let remote = UdpSocket::bind((host_ip, 0)).await.unwrap();
    let SocketAddr::V4(remote_addr) = remote.local_addr().unwrap() else {
        unreachable!()
    };
    let mut inbound = None;
    for _ in 0..30 {
        remote.send_to(b"knock", (host_ip, port)).await.unwrap();
        inbound = client
            .next_where(Duration::from_millis(300), |f| {
                udp_of(f).is_some_and(|(_, to, _)| to == SocketAddrV4::new(me, 7000))
            })
            .await;
        if inbound.is_some() {
            break;
        }
    }
    let (from, _, payload) =
        udp_of(&inbound.expect("published port never reached the client")).unwrap();
    assert_eq!(payload, b"knock");
    assert_eq!(from, remote_addr, "the client sees the real remote");
    // The client's reply leaves from the published port.
    client
        .send(
            PacketKind::Frame,
            &udp(
                macs,
                SocketAddrV4::new(me, 7000),
                remote_addr,
                b"who's there",
            ),
        )
        .await;
    let mut buf = [0u8; 64];
    let (n, from) = tokio::time::timeout(WAIT, remote.recv_from(&mut buf))
        .await
        .expect("no reply from the published port")
        .unwrap();
    assert_eq!(&buf[..n], b"who's there");
    assert_eq!(from.port(), port);
}
