//! Test helpers: frame builders for a client, and a client-side smoltcp
//! stack wired to a translator in memory (no sockets).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use nat::{Command, Config, EthernetAddress, Policy, Translator};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{
    EthernetFrame, EthernetProtocol, EthernetRepr, HardwareAddress, Icmpv4Packet, Icmpv4Repr,
    IpCidr, IpProtocol, Ipv4Packet, Ipv4Repr, UdpPacket, UdpRepr,
};

pub const GW_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
pub const CLIENT_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 2]);
pub const GW_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const CLIENT_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const REMOTE_IP: Ipv4Addr = Ipv4Addr::new(93, 184, 216, 34);

pub fn config() -> Config {
    let mut c = Config::new(GW_MAC, GW_IP);
    c.timeouts.udp_idle = Duration::from_secs(5);
    c.timeouts.ping_idle = Duration::from_secs(3);
    c.timeouts.tcp_connect = Duration::from_secs(5);
    c.timeouts.tcp_idle = Duration::from_secs(30);
    c.timeouts.tcp_closing = Duration::from_secs(10);
    c.limits.tcp_buffer = 8 * 1024;
    c.limits.tcp_in_flight = 8 * 1024;
    c
}

pub fn translator(now: Instant) -> Translator {
    Translator::new(config(), Policy::default(), 7, now)
}

pub fn drain_commands(t: &mut Translator) -> Vec<Command> {
    std::iter::from_fn(|| t.poll_command()).collect()
}

pub fn drain_frames(t: &mut Translator) -> Vec<Vec<u8>> {
    let mut buf = [0u8; 2048];
    std::iter::from_fn(|| t.poll_frame(&mut buf).map(|n| buf[..n].to_vec())).collect()
}

fn eth_ip(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: IpProtocol,
    payload_len: usize,
) -> (Vec<u8>, Ipv4Repr) {
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: proto,
        payload_len,
        hop_limit: 64,
    };
    let mut buf = vec![0u8; 14 + 20 + payload_len];
    EthernetRepr {
        src_addr: CLIENT_MAC,
        dst_addr: GW_MAC,
        ethertype: EthernetProtocol::Ipv4,
    }
    .emit(&mut EthernetFrame::new_unchecked(&mut buf[..]));
    ip.emit(
        &mut Ipv4Packet::new_unchecked(&mut buf[14..]),
        &ChecksumCapabilities::default(),
    );
    (buf, ip)
}

/// A UDP frame from the client.
pub fn udp_frame(from: SocketAddrV4, to: SocketAddrV4, payload: &[u8]) -> Vec<u8> {
    let (mut buf, _) = eth_ip(*from.ip(), *to.ip(), IpProtocol::Udp, 8 + payload.len());
    let repr = UdpRepr {
        src_port: from.port(),
        dst_port: to.port(),
    };
    repr.emit(
        &mut UdpPacket::new_unchecked(&mut buf[34..]),
        &(*from.ip()).into(),
        &(*to.ip()).into(),
        payload.len(),
        |b| b.copy_from_slice(payload),
        &ChecksumCapabilities::default(),
    );
    buf
}

/// An echo request frame from the client.
pub fn echo_frame(from: Ipv4Addr, to: Ipv4Addr, ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
    let repr = Icmpv4Repr::EchoRequest {
        ident,
        seq_no,
        data,
    };
    let (mut buf, _) = eth_ip(from, to, IpProtocol::Icmp, repr.buffer_len());
    repr.emit(
        &mut Icmpv4Packet::new_unchecked(&mut buf[34..]),
        &ChecksumCapabilities::default(),
    );
    buf
}

/// Parses a frame to the client: (ip header, IP payload).
pub fn parse_to_client(frame: &[u8]) -> (Ipv4Repr, Vec<u8>) {
    let eth = EthernetFrame::new_checked(frame).unwrap();
    assert_eq!(eth.dst_addr(), CLIENT_MAC);
    assert_eq!(eth.src_addr(), GW_MAC);
    let ip = Ipv4Packet::new_checked(eth.payload()).unwrap();
    let repr = Ipv4Repr::parse(&ip, &ChecksumCapabilities::default()).unwrap();
    (repr, ip.payload().to_vec())
}

pub fn parse_udp(frame: &[u8]) -> (SocketAddrV4, SocketAddrV4, Vec<u8>) {
    let (ip, payload) = parse_to_client(frame);
    let udp = UdpPacket::new_checked(&payload[..]).unwrap();
    let repr = UdpRepr::parse(
        &udp,
        &ip.src_addr.into(),
        &ip.dst_addr.into(),
        &ChecksumCapabilities::default(),
    )
    .unwrap();
    (
        SocketAddrV4::new(ip.src_addr, repr.src_port),
        SocketAddrV4::new(ip.dst_addr, repr.dst_port),
        udp.payload().to_vec(),
    )
}

/// (type, code) of an ICMP frame to the client.
pub fn parse_icmp(frame: &[u8]) -> (Ipv4Repr, u8, u8, Vec<u8>) {
    let (ip, payload) = parse_to_client(frame);
    let icmp = Icmpv4Packet::new_checked(&payload[..]).unwrap();
    assert!(icmp.verify_checksum());
    (ip, icmp.msg_type().into(), icmp.msg_code(), payload)
}

// ---------- a client-side smoltcp stack ----------

#[derive(Default)]
pub struct Queue {
    pub rx: VecDeque<Vec<u8>>,
    pub tx: VecDeque<Vec<u8>>,
}

pub struct Rx(Vec<u8>);
pub struct Tx<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::Device for Queue {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;
    fn receive(&mut self, _t: SmolInstant) -> Option<(Rx, Tx<'_>)> {
        let p = self.rx.pop_front()?;
        Some((Rx(p), Tx(&mut self.tx)))
    }
    fn transmit(&mut self, _t: SmolInstant) -> Option<Tx<'_>> {
        Some(Tx(&mut self.tx))
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut c = DeviceCapabilities::default();
        c.medium = Medium::Ip;
        c.max_transmission_unit = 1380;
        c
    }
}

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut b = vec![0u8; len];
        let r = f(&mut b);
        self.0.push_back(b);
        r
    }
}

/// A translator with a client TCP/IP stack in front of it; the test plays
/// the I/O side by reading `commands` and calling the translator.
pub struct World {
    pub t: Translator,
    pub iface: Interface,
    pub dev: Queue,
    pub sockets: SocketSet<'static>,
    pub epoch: Instant,
    pub now: Instant,
    pub commands: Vec<Command>,
}

impl World {
    pub fn new() -> Self {
        Self::with_config(config())
    }

    pub fn with_config(config: Config) -> Self {
        let epoch = Instant::now();
        let mut dev = Queue::default();
        let mut iface = Interface::new(
            IfaceConfig::new(HardwareAddress::Ip),
            &mut dev,
            SmolInstant::ZERO,
        );
        iface.update_ip_addrs(|a| a.push(IpCidr::new(CLIENT_IP.into(), 24)).unwrap());
        iface.routes_mut().add_default_ipv4_route(GW_IP).unwrap();
        World {
            t: Translator::new(config, Policy::default(), 42, epoch),
            iface,
            dev,
            sockets: SocketSet::new(Vec::new()),
            epoch,
            now: epoch,
            commands: Vec::new(),
        }
    }

    fn smol(&self) -> SmolInstant {
        SmolInstant::from_micros(i64::try_from((self.now - self.epoch).as_micros()).unwrap())
    }

    pub fn tcp_socket(&mut self, buf: usize) -> SocketHandle {
        let s = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; buf]),
            tcp::SocketBuffer::new(vec![0; buf]),
        );
        self.sockets.add(s)
    }

    pub fn sock(&mut self, h: SocketHandle) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut(h)
    }

    pub fn connect(&mut self, h: SocketHandle, dst: SocketAddrV4, local_port: u16) {
        let cx = self.iface.context();
        self.sockets
            .get_mut::<tcp::Socket>(h)
            .connect(cx, (*dst.ip(), dst.port()), local_port)
            .unwrap();
    }

    /// Moves packets both ways until nothing moves; advances the clock by
    /// 1 ms per round and runs due timers.
    pub fn pump(&mut self) {
        for _ in 0..10_000 {
            let at = self.smol();
            self.iface.poll(at, &mut self.dev, &mut self.sockets);
            let mut moved = false;
            while let Some(p) = self.dev.tx.pop_front() {
                moved = true;
                let mut frame = vec![0u8; 14 + p.len()];
                EthernetRepr {
                    src_addr: CLIENT_MAC,
                    dst_addr: GW_MAC,
                    ethertype: EthernetProtocol::Ipv4,
                }
                .emit(&mut EthernetFrame::new_unchecked(&mut frame[..]));
                frame[14..].copy_from_slice(&p);
                self.t.handle_frame(self.now, &frame);
            }
            if self.t.poll_timeout().is_some_and(|d| d <= self.now) {
                self.t.handle_timeout(self.now);
            }
            for frame in drain_frames(&mut self.t) {
                moved = true;
                let eth = EthernetFrame::new_checked(&frame[..]).unwrap();
                assert_eq!(eth.dst_addr(), CLIENT_MAC);
                self.dev.rx.push_back(eth.payload().to_vec());
            }
            let cmds = drain_commands(&mut self.t);
            moved |= !cmds.is_empty();
            self.commands.extend(cmds);
            if !moved {
                // Settle short timers too (delayed ACKs): anything due
                // within 50 ms runs before we call it quiet.
                let at = self.smol();
                let client = self
                    .iface
                    .poll_delay(at, &self.sockets)
                    .map(|d| Duration::from_micros(d.total_micros()));
                let ours = self
                    .t
                    .poll_timeout()
                    .map(|d| d.saturating_duration_since(self.now));
                let soon = [client, ours]
                    .into_iter()
                    .flatten()
                    .min()
                    .filter(|d| *d <= Duration::from_millis(50));
                match soon {
                    Some(d) => self.now += d.max(Duration::from_millis(1)),
                    None => return,
                }
                continue;
            }
            self.now += Duration::from_millis(1);
        }
        panic!("pump did not settle");
    }

    /// Advances the clock by `d` in steps, pumping.
    pub fn advance(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(100).min(end - self.now);
            self.pump();
        }
    }

    pub fn take_commands(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.commands)
    }
}

/// A TCP segment frame from the client with valid checksums.
pub fn tcp_frame(
    from: SocketAddrV4,
    to: SocketAddrV4,
    control: smoltcp::wire::TcpControl,
    seq: u32,
    ack: Option<u32>,
    payload: &[u8],
) -> Vec<u8> {
    use smoltcp::wire::{TcpPacket, TcpRepr, TcpSeqNumber};
    let repr = TcpRepr {
        src_port: from.port(),
        dst_port: to.port(),
        control,
        seq_number: TcpSeqNumber(seq.cast_signed()),
        ack_number: ack.map(|a| TcpSeqNumber(a.cast_signed())),
        window_len: 1024,
        window_scale: None,
        max_seg_size: None,
        sack_permitted: false,
        sack_ranges: [None; 3],
        timestamp: None,
        payload,
    };
    let (mut buf, _) = eth_ip(*from.ip(), *to.ip(), IpProtocol::Tcp, repr.buffer_len());
    repr.emit(
        &mut TcpPacket::new_unchecked(&mut buf[34..]),
        &(*from.ip()).into(),
        &(*to.ip()).into(),
        &ChecksumCapabilities::default(),
    );
    buf
}
