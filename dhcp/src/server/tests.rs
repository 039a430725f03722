//! Server tests: every message type, the claim rule across two servers
//! sharing one chain, reservations, exhaustion and expiry, with a fake clock.

use std::sync::Arc;
use std::time::Duration;

use chain::{Event, MemoryStore, Store};
use smoltcp::wire::DhcpMessageType;

use super::*;
use crate::codec::client_frame;
use crate::codec::tests::{parse_reply, SeenReply};
use crate::lease_store::MemoryLeaseStore;

pub(crate) const NET: &str = "0123456789abcdef0123456789abcdef";
pub(crate) const GW_MAC: [u8; 6] = [0x02, 0xaa, 0, 0, 0, 1];
const T0_MS: u64 = 1_700_000_000_000;

pub(crate) fn log_with_network(subnet: &str) -> Arc<MemoryStore> {
    let log = Arc::new(MemoryStore::new());
    log.append(&Event::NetworkCreated {
        network: NET.into(),
        name: "lab".into(),
        subnet: subnet.into(),
        node_key_id: 1,
        node_secret: "aa".repeat(32),
    })
    .unwrap();
    log
}

/// One node: a server, its view of the shared chain, and a fake clock.
pub(crate) struct Node {
    pub server: Server,
    pub store: MemoryLeaseStore,
    pub now: Instant,
    pub now_ms: u64,
    /// Addresses whose probes get an ARP reply (static clients).
    pub answering: Vec<Ipv4Addr>,
}

impl Node {
    pub fn new(log: &Arc<MemoryStore>, node: u8) -> Node {
        let mut store = MemoryLeaseStore::new(log.clone());
        store.sync();
        let net = store.state().network(NET).unwrap().clone();
        let cfg = ServerConfig::from_network(&net, GW_MAC, &format!("{node:016x}")).unwrap();
        let t0 = Instant::now();
        Node {
            server: Server::new(cfg, t0),
            store,
            now: t0,
            now_ms: T0_MS,
            answering: Vec::new(),
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        self.now_ms += d.as_millis() as u64;
    }

    /// Carries out actions: chain writes go to the log, probes to the
    /// "network" (answered for `answering`), frames are returned.
    fn perform(&mut self, actions: Vec<Action>) -> Vec<SeenReply> {
        let mut replies = Vec::new();
        let mut queue = actions;
        while !queue.is_empty() {
            let mut next = Vec::new();
            for a in queue {
                match &a {
                    Action::Transmit(frame) => replies.push(parse_reply(frame)),
                    Action::Probe { ip } => {
                        if self.answering.contains(ip) {
                            self.server.observe_arp_reply(
                                self.now,
                                self.now_ms,
                                *ip,
                                [2, 0x55, 0, 0, 0, 1],
                                &self.store,
                                &mut next,
                            );
                        }
                    }
                    _ => assert!(a.write_to(&mut self.store)),
                }
            }
            queue = next;
        }
        replies
    }

    pub fn send(&mut self, msg: &ClientMessage) -> Vec<SeenReply> {
        let mut out = Vec::new();
        let _ = self.server.handle_frame(
            self.now,
            self.now_ms,
            &client_frame(msg),
            &self.store,
            &mut out,
        );
        self.perform(out)
    }

    /// Lets timers run for `d`.
    pub fn wait(&mut self, d: Duration) -> Vec<SeenReply> {
        let end = self.now + d;
        let mut replies = Vec::new();
        while let Some(t) = self.server.poll_timeout().filter(|t| *t <= end) {
            let step = t.saturating_duration_since(self.now);
            self.advance(step);
            let mut out = Vec::new();
            self.server
                .handle_timeout(self.now, self.now_ms, &self.store, &mut out);
            replies.extend(self.perform(out));
        }
        let rest = end.saturating_duration_since(self.now);
        self.advance(rest);
        replies
    }

    /// The node's follower catches up with the chain.
    pub fn sync(&mut self) -> Vec<SeenReply> {
        self.store.sync();
        let mut out = Vec::new();
        self.server
            .chain_updated(self.now, self.now_ms, &self.store, &mut out);
        self.perform(out)
    }

    pub fn lease_of(&self, mac: [u8; 6]) -> Option<chain::Lease> {
        self.store
            .state()
            .lease_by_mac(NET, &chain::validate::format_mac(mac))
            .cloned()
    }
}

pub(crate) fn mac(i: u8) -> [u8; 6] {
    [0x02, 0, 0, 0, 1, i]
}

pub(crate) fn msg(kind: ClientKind, client: [u8; 6], xid: u32) -> ClientMessage {
    ClientMessage {
        kind,
        src_mac: client,
        dst_ip: Ipv4Addr::BROADCAST,
        transaction_id: xid,
        secs: 0,
        broadcast: false,
        chaddr: client,
        ciaddr: Ipv4Addr::UNSPECIFIED,
        giaddr: Ipv4Addr::UNSPECIFIED,
        requested_ip: None,
        server_id: None,
        client_id: None,
        hostname: None,
    }
}

const PROBE: Duration = Duration::from_millis(300);
const GW: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);

fn select(client: [u8; 6], xid: u32, ip: Ipv4Addr) -> ClientMessage {
    let mut m = msg(ClientKind::Request, client, xid);
    m.server_id = Some(GW);
    m.requested_ip = Some(ip);
    m
}

/// DISCOVER, probe, OFFER, REQUEST, claim, chain, ACK.
pub(crate) fn obtain(node: &mut Node, client: [u8; 6]) -> SeenReply {
    let offer = offer(node, client);
    let ip = offer.yiaddr;
    assert!(
        node.send(&select(client, 2, ip)).is_empty(),
        "no ACK before the chain"
    );
    let acks = node.sync();
    assert_eq!(acks.len(), 1, "{acks:?}");
    acks.into_iter().next().unwrap()
}

fn offer(node: &mut Node, client: [u8; 6]) -> SeenReply {
    let now_replies = node.send(&msg(ClientKind::Discover, client, 1));
    let mut replies = now_replies;
    if replies.is_empty() {
        replies = node.wait(PROBE);
    }
    assert_eq!(replies.len(), 1, "{replies:?}");
    let offer = replies.into_iter().next().unwrap();
    assert_eq!(offer.kind, DhcpMessageType::Offer);
    offer
}

fn net() -> (Arc<MemoryStore>, Node) {
    let log = log_with_network("10.9.0.0/24");
    let node = Node::new(&log, 1);
    (log, node)
}

#[test]
fn discover_probe_offer_request_ack() {
    let (_log, mut node) = net();
    let mut d = msg(ClientKind::Discover, mac(1), 1);
    d.hostname = Some(b"alice".to_vec());
    let mut out = Vec::new();
    node.server
        .handle_frame(
            node.now,
            node.now_ms,
            &client_frame(&d),
            &node.store,
            &mut out,
        )
        .unwrap();
    // The address is probed, not offered yet.
    let [Action::Probe { ip }] = out.as_slice() else {
        panic!("{out:?}")
    };
    let ip = *ip;
    assert!(node.server.config().subnet.is_assignable(ip));
    assert!(node.wait(Duration::from_millis(299)).is_empty());
    let offers = node.wait(Duration::from_millis(1));
    let o = &offers[0];
    assert_eq!(o.kind, DhcpMessageType::Offer);
    assert_eq!(o.yiaddr, ip);
    assert_eq!(o.transaction_id, 1);
    assert_eq!(o.src_mac, GW_MAC);
    assert_eq!(o.src_ip, GW);
    // No broadcast flag, no ciaddr: unicast to chaddr/yiaddr (RFC 2131 4.1).
    assert_eq!((o.dst.mac, o.dst.ip), (mac(1), ip));
    assert_eq!(o.server_id, Some(GW));
    assert_eq!(o.router, Some(GW));
    assert_eq!(o.dns, vec![GW]);
    assert_eq!(o.subnet_mask, Some(Ipv4Addr::new(255, 255, 255, 0)));
    assert_eq!(o.mtu, Some(1380));
    assert_eq!(
        (o.lease_secs, o.t1, o.t2),
        (Some(3600), Some(1800), Some(3150))
    );
    assert_eq!(o.hostname.as_deref(), Some(&b"alice"[..]));

    let mut r = select(mac(1), 2, ip);
    r.hostname = Some(b"alice".to_vec());
    r.broadcast = true;
    assert!(node.send(&r).is_empty());
    assert_eq!(node.server.pending(), 1);
    let acks = node.sync();
    let a = &acks[0];
    assert_eq!(a.kind, DhcpMessageType::Ack);
    assert_eq!((a.yiaddr, a.transaction_id), (ip, 2));
    // Broadcast flag: broadcast reply.
    assert_eq!((a.dst.mac, a.dst.ip), ([0xff; 6], Ipv4Addr::BROADCAST));
    let lease = node.lease_of(mac(1)).unwrap();
    assert_eq!(lease.ip, ip);
    assert_eq!(lease.hostname.as_deref(), Some("alice"));
    assert_eq!(lease.expires_ms, node.now_ms + 3_600_000);
    assert_eq!(node.server.counters().stat(Stat::AckSent), 1);
    assert_eq!(node.server.pending(), 0);
}

#[test]
fn renew_and_rebind_extend_the_lease() {
    let (_log, mut node) = net();
    let ip = obtain(&mut node, mac(1)).yiaddr;
    let first = node.lease_of(mac(1)).unwrap().expires_ms;
    node.advance(Duration::from_secs(1800)); // T1
    let mut renew = msg(ClientKind::Request, mac(1), 3);
    renew.ciaddr = ip;
    renew.dst_ip = GW;
    assert!(node.send(&renew).is_empty());
    let ack = node.sync();
    assert_eq!(ack[0].kind, DhcpMessageType::Ack);
    // ciaddr set: unicast to it.
    assert_eq!((ack[0].dst.mac, ack[0].dst.ip), (mac(1), ip));
    assert_eq!(ack[0].ciaddr, ip);
    let renewed = node.lease_of(mac(1)).unwrap().expires_ms;
    assert_eq!(renewed, first + 1_800_000);
    node.advance(Duration::from_secs(3150)); // T2
    let mut rebind = renew.clone();
    rebind.dst_ip = Ipv4Addr::BROADCAST;
    rebind.transaction_id = 4;
    node.send(&rebind);
    let ack = node.sync();
    assert_eq!(ack[0].kind, DhcpMessageType::Ack);
    assert!(node.lease_of(mac(1)).unwrap().expires_ms > renewed);
    assert_eq!(node.server.counters().stat(Stat::Renew), 1);
    assert_eq!(node.server.counters().stat(Stat::Rebind), 1);
    // One lease in the chain state, whatever the number of renewals.
    assert_eq!(node.store.state().leases(NET).count(), 1);
}

#[test]
fn init_reboot_acks_own_address_and_naks_a_foreign_one() {
    let (log, mut node) = net();
    let ip = obtain(&mut node, mac(1)).yiaddr;
    let mut reboot = msg(ClientKind::Request, mac(1), 9);
    reboot.requested_ip = Some(ip);
    node.send(&reboot);
    assert_eq!(node.sync()[0].kind, DhcpMessageType::Ack);
    // Another client asking for that address: NAK at once, broadcast.
    let mut other = msg(ClientKind::Request, mac(2), 10);
    other.requested_ip = Some(ip);
    let nak = node.send(&other);
    assert_eq!(nak[0].kind, DhcpMessageType::Nak);
    assert_eq!(
        (nak[0].dst.mac, nak[0].dst.ip),
        ([0xff; 6], Ipv4Addr::BROADCAST)
    );
    assert_eq!(nak[0].yiaddr, Ipv4Addr::UNSPECIFIED);
    assert!(nak[0].lease_secs.is_none() && nak[0].router.is_none());
    // A wrong network: NAK.
    let mut wrong = msg(ClientKind::Request, mac(3), 11);
    wrong.requested_ip = Some(Ipv4Addr::new(192, 168, 1, 5));
    assert_eq!(node.send(&wrong)[0].kind, DhcpMessageType::Nak);
    drop(log);
}

#[test]
fn selecting_another_server_withdraws_the_offer() {
    let (_log, mut node) = net();
    let o = offer(&mut node, mac(1));
    let mut r = select(mac(1), 2, o.yiaddr);
    r.server_id = Some(Ipv4Addr::new(10, 9, 0, 99));
    assert!(node.send(&r).is_empty());
    assert_eq!(node.server.counters().drops(DropReason::NotForUs), 1);
    assert_eq!(node.server.offers(), 0);
}

#[test]
fn release_removes_the_lease() {
    let (_log, mut node) = net();
    let ip = obtain(&mut node, mac(1)).yiaddr;
    let mut rel = msg(ClientKind::Release, mac(1), 5);
    rel.ciaddr = ip;
    rel.server_id = Some(GW);
    rel.dst_ip = GW;
    assert!(node.send(&rel).is_empty());
    node.sync();
    assert!(node.lease_of(mac(1)).is_none());
    // Releasing what one does not hold is dropped and counted.
    node.send(&rel);
    assert_eq!(node.server.counters().drops(DropReason::UnknownLease), 1);
}

#[test]
fn decline_marks_the_address_bad() {
    let (_log, mut node) = net();
    let ip = obtain(&mut node, mac(1)).yiaddr;
    let mut dec = msg(ClientKind::Decline, mac(1), 6);
    dec.requested_ip = Some(ip);
    dec.server_id = Some(GW);
    assert!(node.send(&dec).is_empty());
    node.sync();
    assert!(node.lease_of(mac(1)).is_none());
    let d = node
        .store
        .state()
        .lease_table_of(NET)
        .unwrap()
        .declined(ip)
        .unwrap();
    assert_eq!(d.until_ms, node.now_ms + 600_000);
    // The client starts over and gets another address.
    let again = obtain(&mut node, mac(1));
    assert_ne!(again.yiaddr, ip);
    // A decline of someone else's address is refused.
    let mut other = msg(ClientKind::Decline, mac(2), 7);
    other.requested_ip = Some(again.yiaddr);
    node.send(&other);
    assert_eq!(node.server.counters().drops(DropReason::UnknownLease), 1);
}

#[test]
fn inform_gets_options_without_a_lease() {
    let (_log, mut node) = net();
    let mut inf = msg(ClientKind::Inform, mac(7), 8);
    inf.ciaddr = Ipv4Addr::new(10, 9, 0, 77);
    let r = node.send(&inf);
    assert_eq!(r[0].kind, DhcpMessageType::Ack);
    assert_eq!(r[0].yiaddr, Ipv4Addr::UNSPECIFIED);
    assert!(r[0].lease_secs.is_none() && r[0].t1.is_none());
    assert_eq!(r[0].router, Some(GW));
    assert_eq!(
        (r[0].dst.mac, r[0].dst.ip),
        (mac(7), Ipv4Addr::new(10, 9, 0, 77))
    );
    assert!(node.lease_of(mac(7)).is_none());
    inf.ciaddr = Ipv4Addr::UNSPECIFIED;
    assert!(node.send(&inf).is_empty());
    assert_eq!(node.server.counters().drops(DropReason::MissingField), 1);
}

#[test]
fn probe_answer_moves_the_offer_elsewhere() {
    let (_log, mut node) = net();
    // Find which address mac(1) would be probed for, then make it answer.
    let mut out = Vec::new();
    let frame = client_frame(&msg(ClientKind::Discover, mac(1), 1));
    node.server
        .handle_frame(node.now, node.now_ms, &frame, &node.store, &mut out)
        .unwrap();
    let Action::Probe { ip: first } = out[0] else {
        panic!()
    };
    let (log, mut node) = net();
    node.answering.push(first);
    let o = offer(&mut node, mac(1));
    assert_ne!(o.yiaddr, first);
    assert_eq!(node.server.counters().stat(Stat::ProbeConflict), 1);
    drop(log);
}

#[test]
fn a_client_answering_its_own_probe_is_not_a_conflict() {
    let (_log, mut node) = net();
    let mut out = Vec::new();
    let frame = client_frame(&msg(ClientKind::Discover, mac(1), 1));
    node.server
        .handle_frame(node.now, node.now_ms, &frame, &node.store, &mut out)
        .unwrap();
    let Action::Probe { ip } = out[0] else {
        panic!()
    };
    out.clear();
    node.server
        .observe_arp_reply(node.now, node.now_ms, ip, mac(1), &node.store, &mut out);
    assert!(out.is_empty());
    assert_eq!(node.wait(PROBE)[0].yiaddr, ip);
}

#[test]
fn two_servers_claiming_one_address_one_acks_one_naks() {
    let log = log_with_network("10.9.0.0/24");
    let mut a = Node::new(&log, 1);
    let mut b = Node::new(&log, 2);
    let ip = Ipv4Addr::new(10, 9, 0, 50);
    // Both clients INIT-REBOOT into the same free address, on different nodes.
    let mut ra = msg(ClientKind::Request, mac(1), 1);
    ra.requested_ip = Some(ip);
    let mut rb = msg(ClientKind::Request, mac(2), 2);
    rb.requested_ip = Some(ip);
    assert!(a.send(&ra).is_empty());
    b.advance(Duration::from_millis(1));
    assert!(b.send(&rb).is_empty());
    let (ra, rb) = (a.sync(), b.sync());
    assert_eq!(ra[0].kind, DhcpMessageType::Ack);
    assert_eq!(rb[0].kind, DhcpMessageType::Nak);
    assert_eq!(b.server.counters().stat(Stat::ClaimLost), 1);
    assert_eq!(a.lease_of(mac(1)).unwrap().ip, ip);
    assert!(b.lease_of(mac(2)).is_none());
    // The loser starts over and gets another address.
    let again = obtain(&mut b, mac(2));
    assert_ne!(again.yiaddr, ip);
}

#[test]
fn twenty_clients_across_two_servers_get_distinct_addresses() {
    let log = log_with_network("10.9.0.0/24");
    let mut nodes = [Node::new(&log, 1), Node::new(&log, 2)];
    let mut acked = std::collections::BTreeMap::new();
    let mut rounds = 0;
    // All 20 DISCOVER at once, REQUEST at once; NAKed ones start over.
    let mut waiting: Vec<u8> = (1..=20).collect();
    while !waiting.is_empty() {
        rounds += 1;
        assert!(rounds < 10, "no progress: {waiting:?}");
        let mut offers = Vec::new();
        for c in &waiting {
            let node = &mut nodes[usize::from(*c % 2)];
            node.send(&msg(ClientKind::Discover, mac(*c), u32::from(*c)));
        }
        for (i, node) in nodes.iter_mut().enumerate() {
            for o in node.wait(PROBE) {
                offers.push((i, o));
            }
        }
        for (i, o) in &offers {
            let c = o.dst.mac[5];
            nodes[*i].send(&select(mac(c), o.transaction_id, o.yiaddr));
        }
        for node in &mut nodes {
            for r in node.sync() {
                let c = r.dst.mac[5];
                if r.kind == DhcpMessageType::Ack {
                    acked.insert(c, r.yiaddr);
                }
            }
        }
        waiting.retain(|c| !acked.contains_key(c));
        for node in &mut nodes {
            node.advance(Duration::from_secs(1));
        }
    }
    let distinct: std::collections::BTreeSet<_> = acked.values().collect();
    assert_eq!(distinct.len(), 20);
    // The chain agrees with every ACK.
    nodes[0].sync();
    for (c, ip) in &acked {
        assert_eq!(nodes[0].lease_of(mac(*c)).unwrap().ip, *ip);
    }
}

#[test]
fn reserved_mac_always_gets_its_address_and_nobody_else_does() {
    let log = log_with_network("10.9.0.0/29"); // 5 addresses: .2 ..= .6
    log.append(&Event::ReservationAdded {
        network: NET.into(),
        mac: chain::validate::format_mac(mac(9)),
        ip: "10.9.0.4".into(),
    })
    .unwrap();
    let mut node = Node::new(&log, 1);
    // Fill the rest of the pool with others.
    let mut got = Vec::new();
    for c in 1..=4 {
        got.push(obtain(&mut node, mac(c)).yiaddr);
    }
    assert!(!got.contains(&Ipv4Addr::new(10, 9, 0, 4)));
    // The pool is now exhausted for a fifth client.
    assert!(node.send(&msg(ClientKind::Discover, mac(5), 1)).is_empty());
    assert_eq!(node.server.counters().drops(DropReason::PoolExhausted), 1);
    // The reserved MAC gets its address at once (no probe), even when it asks for another.
    let mut d = msg(ClientKind::Discover, mac(9), 1);
    d.requested_ip = Some(Ipv4Addr::new(10, 9, 0, 6));
    let o = node.send(&d);
    assert_eq!(o[0].yiaddr, Ipv4Addr::new(10, 9, 0, 4));
    node.send(&select(mac(9), 2, o[0].yiaddr));
    assert_eq!(node.sync()[0].kind, DhcpMessageType::Ack);
}

#[test]
fn a_reserved_client_with_an_old_lease_is_sent_back_to_discover() {
    let log = log_with_network("10.9.0.0/24");
    let mut node = Node::new(&log, 1);
    let old = obtain(&mut node, mac(9)).yiaddr;
    let reserved = if old == Ipv4Addr::new(10, 9, 0, 4) {
        "10.9.0.5"
    } else {
        "10.9.0.4"
    };
    log.append(&Event::ReservationAdded {
        network: NET.into(),
        mac: chain::validate::format_mac(mac(9)),
        ip: reserved.into(),
    })
    .unwrap();
    node.sync();
    let mut renew = msg(ClientKind::Request, mac(9), 3);
    renew.ciaddr = old;
    renew.dst_ip = GW;
    assert_eq!(node.send(&renew)[0].kind, DhcpMessageType::Nak);
    assert_eq!(obtain(&mut node, mac(9)).yiaddr.to_string(), reserved);
}

#[test]
fn expired_leases_are_reused_and_retired_by_chain_time() {
    let log = log_with_network("10.9.0.0/30"); // exactly one address: .2
    let mut node = Node::new(&log, 1);
    let ip = obtain(&mut node, mac(1)).yiaddr;
    assert_eq!(ip, Ipv4Addr::new(10, 9, 0, 2));
    // While the lease runs, another client gets nothing.
    node.advance(Duration::from_secs(3599));
    assert!(node.send(&msg(ClientKind::Discover, mac(2), 1)).is_empty());
    node.wait(PROBE);
    assert_eq!(node.server.counters().drops(DropReason::PoolExhausted), 1);
    // At expires_ms (chain time) the address is free again.
    node.advance(Duration::from_secs(1));
    assert_eq!(obtain(&mut node, mac(2)).yiaddr, ip);
    assert!(node.lease_of(mac(1)).is_none());
    // A lease left to lapse is retired `retire_after` past its end.
    node.wait(Duration::from_secs(3600 + 3600 + 60));
    node.sync();
    assert!(node.lease_of(mac(2)).is_none());
    assert_eq!(node.server.counters().stat(Stat::LeaseRetired), 1);
}

#[test]
fn claims_that_the_chain_never_shows_time_out() {
    let (_log, mut node) = net();
    let o = offer(&mut node, mac(1));
    let mut out = Vec::new();
    let frame = client_frame(&select(mac(1), 2, o.yiaddr));
    node.server
        .handle_frame(node.now, node.now_ms, &frame, &node.store, &mut out)
        .unwrap();
    assert!(matches!(out.as_slice(), [Action::Claim(_)])); // never appended
    node.wait(Duration::from_secs(3));
    assert_eq!(node.server.pending(), 0);
    assert_eq!(node.server.counters().drops(DropReason::ClaimTimeout), 1);
}

#[test]
fn offers_and_pending_claims_are_capped() {
    let log = log_with_network("10.9.0.0/16");
    let mut node = Node::new(&log, 1);
    node.server.cfg.max_offers = 3;
    for c in 1..=4 {
        node.send(&msg(ClientKind::Discover, mac(c), 1));
    }
    assert_eq!(node.server.offers(), 3);
    assert_eq!(node.server.counters().drops(DropReason::OffersFull), 1);
}

#[test]
fn spoofed_and_relayed_messages_are_dropped() {
    let (_log, mut node) = net();
    let mut spoof = msg(ClientKind::Discover, mac(1), 1);
    spoof.src_mac = mac(2);
    assert!(node.send(&spoof).is_empty());
    let mut relayed = msg(ClientKind::Discover, mac(1), 1);
    relayed.giaddr = Ipv4Addr::new(10, 9, 0, 200);
    assert!(node.send(&relayed).is_empty());
    let c = node.server.counters();
    assert_eq!(c.drops(DropReason::ChaddrMismatch), 1);
    assert_eq!(c.drops(DropReason::Relayed), 1);
}

#[test]
fn client_id_identifies_the_lease() {
    let (_log, mut node) = net();
    let cid = vec![0xff, 0, 0, 0, 1, 0, 1, 2, 3, 4, 5];
    let mut d = msg(ClientKind::Discover, mac(1), 1);
    d.client_id = Some(cid.clone());
    node.send(&d);
    let o = node.wait(PROBE).remove(0);
    assert_eq!(o.client_id.as_deref(), Some(&cid[..]));
    let mut r = select(mac(1), 2, o.yiaddr);
    r.client_id = Some(cid.clone());
    node.send(&r);
    assert_eq!(node.sync()[0].kind, DhcpMessageType::Ack);
    // Same client id behind a new MAC: same address, offered without a probe.
    let mut d2 = msg(ClientKind::Discover, mac(2), 3);
    d2.client_id = Some(cid);
    let o2 = node.send(&d2);
    assert_eq!(o2[0].yiaddr, o.yiaddr);
}

proptest::proptest! {
    #[test]
    fn arbitrary_frames_never_panic_the_server(
        frames in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600), 1..8)
    ) {
        let (_log, mut node) = net();
        for f in frames {
            let mut out = Vec::new();
            let _ = node.server.handle_frame(node.now, node.now_ms, &f, &node.store, &mut out);
            node.perform(out);
        }
    }
}
