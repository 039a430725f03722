//! The ethereal services of a node, driven by in-process clients over
//! loopback UDP: the gateway answers ARP and ping, the DHCP server leases
//! through the chain, and routes between networks follow the chain (a
//! client of one network reaches a client of another attached to another
//! node, with MAC substitution and TTL - 1, until the route is removed).

mod common;

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::Duration;

use chain::{Event, FileStore, Follower, Store};
use common::{start_node, wait_for, TestClient};
use dhcp::codec::{client_frame, ClientKind, ClientMessage};
use rand::rngs::StdRng;
use rand::SeedableRng;
use smoltcp::phy::ChecksumCapabilities;
use smoltcp::wire::{
    ArpOperation, ArpPacket, ArpRepr, DhcpMessageType, DhcpPacket, DhcpRepr, EthernetAddress,
    EthernetFrame, EthernetProtocol, EthernetRepr, Icmpv4Packet, Icmpv4Repr, IpProtocol,
    Ipv4Packet, Ipv4Repr,
};
use vrouter::{gateway_mac, NetworkId};
use vswitch::key::{AccessKey, ChainId};
use vswitch::wire::PacketKind;

const BROADCAST: [u8; 6] = [0xff; 6];
const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0xa, 1];
const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0xb, 1];
const WAIT: Duration = Duration::from_secs(3);

fn ethernet(dst: [u8; 6], src: [u8; 6], ethertype: EthernetProtocol, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0u8; 14 + payload.len()];
    let mut eth = EthernetFrame::new_unchecked(&mut frame[..]);
    EthernetRepr {
        src_addr: EthernetAddress(src),
        dst_addr: EthernetAddress(dst),
        ethertype,
    }
    .emit(&mut eth);
    eth.payload_mut().copy_from_slice(payload);
    frame
}

/// "Who has `target`" from (`mac`, `sender`); a gratuitous ARP when
/// `target` is `sender`.
fn arp_request(mac: [u8; 6], sender: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let repr = ArpRepr::EthernetIpv4 {
        operation: ArpOperation::Request,
        source_hardware_addr: EthernetAddress(mac),
        source_protocol_addr: sender,
        target_hardware_addr: EthernetAddress([0; 6]),
        target_protocol_addr: target,
    };
    let mut arp = vec![0u8; repr.buffer_len()];
    repr.emit(&mut ArpPacket::new_unchecked(&mut arp[..]));
    ethernet(BROADCAST, mac, EthernetProtocol::Arp, &arp)
}

fn arp_of(frame: &[u8]) -> Option<ArpRepr> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Arp {
        return None;
    }
    ArpRepr::parse(&ArpPacket::new_checked(eth.payload()).ok()?).ok()
}

/// An ICMP echo request in an Ethernet frame.
fn ping(
    (src_mac, dst_mac): ([u8; 6], [u8; 6]),
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    seq_no: u16,
) -> Vec<u8> {
    let caps = ChecksumCapabilities::default();
    let data = b"atenet ping";
    let icmp = Icmpv4Repr::EchoRequest {
        ident: 7,
        seq_no,
        data,
    };
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: IpProtocol::Icmp,
        payload_len: icmp.buffer_len(),
        hop_limit: ttl,
    };
    let mut packet = vec![0u8; ip.buffer_len() + icmp.buffer_len()];
    let mut ipp = Ipv4Packet::new_unchecked(&mut packet[..]);
    ip.emit(&mut ipp, &caps);
    icmp.emit(&mut Icmpv4Packet::new_unchecked(ipp.payload_mut()), &caps);
    ethernet(dst_mac, src_mac, EthernetProtocol::Ipv4, &packet)
}

/// (IPv4 header, ICMP message) of an ICMP frame.
fn icmp_of(frame: &[u8]) -> Option<(Ipv4Repr, Vec<u8>)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let repr = Ipv4Repr::parse(&ip, &ChecksumCapabilities::default()).ok()?;
    (repr.next_header == IpProtocol::Icmp).then(|| (repr, ip.payload().to_vec()))
}

/// DHCP options as (code, data) pairs.
type Options = Vec<(u8, Vec<u8>)>;

/// The DHCP reply in a frame: its repr's message type, your address, and
/// options.
fn dhcp_of(frame: &[u8]) -> Option<(DhcpMessageType, Ipv4Addr, Options)> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    if ip.next_header() != IpProtocol::Udp {
        return None;
    }
    let udp = smoltcp::wire::UdpPacket::new_checked(ip.payload()).ok()?;
    if udp.dst_port() != 68 {
        return None;
    }
    let packet = DhcpPacket::new_checked(udp.payload()).ok()?;
    let repr = DhcpRepr::parse(&packet).ok()?;
    let options = packet
        .options()
        .map(|o| (o.kind, o.data.to_vec()))
        .collect();
    Some((repr.message_type, repr.your_ip, options))
}

fn option(options: &[(u8, Vec<u8>)], code: u8) -> Option<&[u8]> {
    options
        .iter()
        .find(|(kind, _)| *kind == code)
        .map(|(_, data)| &data[..])
}

fn dhcp_message(kind: ClientKind, xid: u32, requested: Option<Ipv4Addr>) -> Vec<u8> {
    client_frame(&ClientMessage {
        kind,
        src_mac: MAC_A,
        dst_ip: Ipv4Addr::BROADCAST,
        transaction_id: xid,
        secs: 0,
        broadcast: false,
        chaddr: MAC_A,
        ciaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        requested_ip: requested,
        server_id: None,
        client_id: None,
        hostname: Some(b"client-a".to_vec()),
    })
}

fn host(subnet: &str, last: u8) -> Ipv4Addr {
    let base: Ipv4Addr = subnet.split('/').next().unwrap().parse().unwrap();
    let [a, b, c, _] = base.octets();
    Ipv4Addr::new(a, b, c, last)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_answers_and_dhcp_leases_through_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let node = start_node(dir.path(), true).await;
    let key = node.first_key.clone().unwrap();
    let status = wait_for(&node, "a gateway", |s| {
        s.networks.len() == 1 && !s.networks[0].gateway.is_empty()
    })
    .await;
    let subnet = status.networks[0].subnet.clone();
    let gateway: Ipv4Addr = status.networks[0].gateway.parse().unwrap();
    assert_eq!(gateway, host(&subnet, 1));
    let gw_mac = gateway_mac(NetworkId(key.chain_id.0));

    let mut client = TestClient::connect(node.local_addr, &key).await;
    wait_for(&node, "client", |s| s.clients.len() == 1).await;

    // ARP: who has the gateway? The answer comes from the gateway MAC.
    let me = host(&subnet, 10);
    client
        .send(PacketKind::Frame, &arp_request(MAC_A, me, gateway))
        .await;
    let reply = client
        .next_where(WAIT, |f| arp_of(f).is_some())
        .await
        .expect("ARP reply");
    assert_eq!(&reply[..12], [MAC_A, gw_mac].concat());
    let ArpRepr::EthernetIpv4 {
        operation,
        source_hardware_addr,
        source_protocol_addr,
        target_protocol_addr,
        ..
    } = arp_of(&reply).unwrap()
    else {
        panic!("not Ethernet/IPv4 ARP");
    };
    assert_eq!(operation, ArpOperation::Reply);
    assert_eq!(source_hardware_addr.0, gw_mac);
    assert_eq!(source_protocol_addr, gateway);
    assert_eq!(target_protocol_addr, me);

    // ICMP echo to the gateway.
    client
        .send(
            PacketKind::Frame,
            &ping((MAC_A, gw_mac), me, gateway, 64, 1),
        )
        .await;
    let echo = client
        .next_where(WAIT, |f| icmp_of(f).is_some())
        .await
        .expect("echo reply");
    let (ip, icmp) = icmp_of(&echo).unwrap();
    assert_eq!((ip.src_addr, ip.dst_addr), (gateway, me));
    assert_eq!(icmp[0], 0, "echo reply type");

    // DHCP: DISCOVER -> OFFER (after the ARP probe), REQUEST -> ACK once
    // the claim won in the chain.
    client
        .send(
            PacketKind::Frame,
            &dhcp_message(ClientKind::Discover, 0x1234, None),
        )
        .await;
    let offer = client
        .next_where(WAIT, |f| dhcp_of(f).is_some())
        .await
        .expect("OFFER");
    let (kind, offered, options) = dhcp_of(&offer).unwrap();
    assert_eq!(kind, DhcpMessageType::Offer);
    assert_eq!(&offer[6..12], gw_mac);
    assert_eq!(option(&options, 3), Some(&gateway.octets()[..]), "router");
    assert_eq!(option(&options, 6), Some(&gateway.octets()[..]), "DNS");
    assert_eq!(
        option(&options, 26),
        Some(&1380u16.to_be_bytes()[..]),
        "MTU"
    );
    assert!(offered != gateway && offered.octets()[..3] == gateway.octets()[..3]);

    client
        .send(
            PacketKind::Frame,
            &dhcp_message(ClientKind::Request, 0x1235, Some(offered)),
        )
        .await;
    let ack = client
        .next_where(WAIT, |f| dhcp_of(f).is_some())
        .await
        .expect("ACK");
    let (kind, acked, options) = dhcp_of(&ack).unwrap();
    assert_eq!(kind, DhcpMessageType::Ack);
    assert_eq!(acked, offered);
    assert_eq!(option(&options, 26), Some(&1380u16.to_be_bytes()[..]));

    // The lease is in the chain (`tok lease list`), and in the status.
    let store = FileStore::open(dir.path()).unwrap();
    let mut follower = Follower::new();
    follower.poll(&store).unwrap();
    let network = hex::encode(key.chain_id.0);
    let leases: Vec<_> = follower.state().leases(&network).cloned().collect();
    assert_eq!(leases.len(), 1, "{leases:?}");
    assert_eq!(leases[0].ip, offered);
    assert_eq!(leases[0].mac, "02:00:00:00:0a:01");
    assert_eq!(leases[0].hostname.as_deref(), Some("client-a"));
    assert_eq!(leases[0].node_id, node.node_id.to_string());
    let status = wait_for(&node, "the lease in the status", |s| {
        s.networks[0].leases == 1
    })
    .await;
    assert_eq!(status.dhcp.get("ack_sent"), Some(&1), "{:?}", status.dhcp);
    assert_eq!(
        status.router.get("arp_replies"),
        Some(&1),
        "{:?}",
        status.router
    );
    assert_eq!(status.router.get("echo_replies"), Some(&1));
    assert_eq!(status.counters.chain_appends, 1);

    node.shutdown().await.unwrap();
}

/// A network with its own node key and one client key, written to the
/// chain in `dir`.
fn create_network(dir: &Path, name: &str, subnet: &str, rng: &mut StdRng) -> AccessKey {
    let chain = ChainId::generate(rng);
    let node_key = AccessKey::generate(chain, rng);
    let key = AccessKey::generate(chain, rng);
    let store = FileStore::open(dir).unwrap();
    let network = hex::encode(chain.0);
    store
        .append(&Event::NetworkCreated {
            network: network.clone(),
            name: name.into(),
            subnet: subnet.into(),
            node_key_id: node_key.key_id.0,
            node_secret: hex::encode(node_key.secret),
        })
        .unwrap();
    store
        .append(&Event::KeyIssued {
            network,
            key_id: key.key_id.0,
            secret: hex::encode(key.secret),
            label: None,
        })
        .unwrap();
    key
}

fn route(a: &AccessKey, b: &AccessKey, add: bool) -> Event {
    let (network_a, network_b) = (hex::encode(a.chain_id.0), hex::encode(b.chain_id.0));
    if add {
        Event::RouteAdded {
            network_a,
            network_b,
        }
    } else {
        Event::RouteRemoved {
            network_a,
            network_b,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_between_networks_follow_the_chain_across_nodes() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = StdRng::seed_from_u64(5);
    let (subnet_a, subnet_b) = ("10.201.0.0/24", "10.202.0.0/24");
    let key_a = create_network(dir.path(), "net-a", subnet_a, &mut rng);
    let key_b = create_network(dir.path(), "net-b", subnet_b, &mut rng);
    let one = start_node(dir.path(), false).await;
    let two = start_node(dir.path(), false).await;
    assert!(one.first_key.is_none());
    let meshed = |s: &atenet::status::Snapshot| {
        s.peers.len() == 2 && s.peers.iter().all(|p| p.connected && p.reachable)
    };
    wait_for(&one, "node one peered in both networks", meshed).await;
    wait_for(&two, "node two peered in both networks", meshed).await;

    // Client A of net-a on node one, client B of net-b on node two.
    let mut a = TestClient::connect(one.local_addr, &key_a).await;
    let mut b = TestClient::connect(two.local_addr, &key_b).await;
    wait_for(&one, "client A", |s| s.clients.len() == 1).await;
    wait_for(&two, "client B", |s| s.clients.len() == 1).await;
    let (ip_a, ip_b) = (host(subnet_a, 10), host(subnet_b, 20));
    let gw_a = host(subnet_a, 1);
    let gw_mac_a = gateway_mac(NetworkId(key_a.chain_id.0));
    let gw_mac_b = gateway_mac(NetworkId(key_b.chain_id.0));

    // B announces itself (tok's gratuitous ARP): node one snoops it from
    // its peer and can route to B without asking.
    b.send(PacketKind::Frame, &arp_request(MAC_B, ip_b, ip_b))
        .await;

    let store = FileStore::open(dir.path()).unwrap();
    store.append(&route(&key_a, &key_b, true)).unwrap();

    // A pings B through its gateway until the route is in force.
    let mut routed = None;
    for seq in 0..30 {
        a.send(
            PacketKind::Frame,
            &ping((MAC_A, gw_mac_a), ip_a, ip_b, 64, seq),
        )
        .await;
        routed = b
            .next_where(Duration::from_millis(300), |f| {
                icmp_of(f).is_some_and(|(ip, _)| ip.src_addr == ip_a)
            })
            .await;
        if routed.is_some() {
            break;
        }
    }
    let routed = routed.expect("A's ping never reached B");
    assert_eq!(&routed[..6], MAC_B, "destination = B's MAC");
    assert_eq!(&routed[6..12], gw_mac_b, "source = net-b's gateway MAC");
    let (ip, icmp) = icmp_of(&routed).unwrap();
    assert_eq!(ip.dst_addr, ip_b);
    assert_eq!(ip.hop_limit, 63, "TTL - 1");
    assert_eq!(icmp[0], 8, "still an echo request");
    // B pings A through its own gateway on node two. A's frames never
    // reached node two (they stop at node one's gateway), so node two's
    // router probes for A from its node MAC; A answers the probe, the
    // answer crosses back to node two, and the queued ping is released.
    b.send(
        PacketKind::Frame,
        &ping((MAC_B, gw_mac_b), ip_b, ip_a, 64, 100),
    )
    .await;
    let back = loop {
        let frame = a.next_frame(WAIT).await.expect("B's ping never reached A");
        if let Some(ArpRepr::EthernetIpv4 {
            operation: ArpOperation::Request,
            source_hardware_addr,
            target_protocol_addr,
            ..
        }) = arp_of(&frame)
        {
            if target_protocol_addr == ip_a {
                // The router's probe (sender 0.0.0.0): answer it.
                let answer = ArpRepr::EthernetIpv4 {
                    operation: ArpOperation::Reply,
                    source_hardware_addr: EthernetAddress(MAC_A),
                    source_protocol_addr: ip_a,
                    target_hardware_addr: source_hardware_addr,
                    target_protocol_addr: Ipv4Addr::UNSPECIFIED,
                };
                let mut arp = vec![0u8; answer.buffer_len()];
                answer.emit(&mut ArpPacket::new_unchecked(&mut arp[..]));
                let reply = ethernet(source_hardware_addr.0, MAC_A, EthernetProtocol::Arp, &arp);
                a.send(PacketKind::Frame, &reply).await;
            }
            continue;
        }
        if icmp_of(&frame).is_some_and(|(ip, _)| ip.src_addr == ip_b) {
            break frame;
        }
    };
    assert_eq!(&back[..12], [MAC_A, gw_mac_a].concat());
    assert_eq!(icmp_of(&back).unwrap().0.hop_limit, 63);

    // The route goes: A's ping now gets net unreachable from its gateway.
    store.append(&route(&key_a, &key_b, false)).unwrap();
    let mut unreachable = None;
    for seq in 200..230 {
        a.send(
            PacketKind::Frame,
            &ping((MAC_A, gw_mac_a), ip_a, ip_b, 64, seq),
        )
        .await;
        unreachable = a
            .next_where(Duration::from_millis(300), |f| {
                icmp_of(f).is_some_and(|(ip, icmp)| ip.src_addr == gw_a && icmp[0] == 3)
            })
            .await;
        if unreachable.is_some() {
            break;
        }
    }
    let unreachable = unreachable.expect("no net unreachable after the route went");
    let (ip, icmp) = icmp_of(&unreachable).unwrap();
    assert_eq!(ip.dst_addr, ip_a);
    assert_eq!(icmp[1], 0, "code 0: net unreachable");
    // From now on nothing reaches B (pings sent before node one saw the
    // removal may have been routed; drain them first).
    while b.next_frame(Duration::from_millis(300)).await.is_some() {}
    a.send(
        PacketKind::Frame,
        &ping((MAC_A, gw_mac_a), ip_a, ip_b, 64, 300),
    )
    .await;
    assert!(
        a.next_where(WAIT, |f| {
            icmp_of(f).is_some_and(|(ip, icmp)| ip.src_addr == gw_a && icmp[0] == 3)
        })
        .await
        .is_some(),
        "no net unreachable for the last ping"
    );
    assert_eq!(
        b.next_frame(Duration::from_millis(500)).await,
        None,
        "routed after the route was removed"
    );
    let status = one.handle.snapshot().await.unwrap();
    assert!(status.router_drops.get("no_route").is_some_and(|n| *n >= 1));

    one.shutdown().await.unwrap();
    two.shutdown().await.unwrap();
}
