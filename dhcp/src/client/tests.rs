//! The client against canned server replies (built with smoltcp), on a fake
//! clock: `t0 + offset`.

use smoltcp::wire::DhcpMessageType;

use super::wire::tests::{parse_sent, server_frame, Canned, Sent, MAC, SERVER_MAC};
use super::wire::MAX_CLIENT_FRAME;
use super::*;

const ADDR: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 50);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 1, 2, 1);

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

struct Rig {
    t0: Instant,
    client: Client,
}

impl Rig {
    fn new() -> Rig {
        let t0 = Instant::now();
        Rig {
            t0,
            client: Client::new(MAC, 42, t0).with_hostname(Some("laptop".into())),
        }
    }

    fn at(&self, s: f64) -> Instant {
        self.t0 + secs(s)
    }

    /// Runs the timers at `t0 + s` (a deadline within a microsecond counts
    /// as reached: offsets go through f64).
    fn tick(&mut self, s: f64) {
        let mut now = self.at(s);
        if let Some(t) = self.client.poll_timeout() {
            if t > now && t - now < Duration::from_micros(1) {
                now = t;
            }
        }
        self.client.handle_timeout(now);
    }

    /// Every frame queued, parsed back.
    fn sent(&mut self) -> Vec<Sent> {
        let mut buf = [0u8; MAX_CLIENT_FRAME];
        let mut out = Vec::new();
        while let Some(n) = self.client.poll_transmit(&mut buf) {
            out.push(parse_sent(&buf[..n]));
        }
        out
    }

    fn one_sent(&mut self) -> Sent {
        let mut s = self.sent();
        assert_eq!(s.len(), 1, "expected exactly one frame");
        s.remove(0)
    }

    fn reply(&mut self, s: f64, c: &Canned) -> bool {
        let now = self.at(s);
        self.client.handle_frame(now, &server_frame(c))
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    fn next_in(&self) -> f64 {
        self.client
            .poll_timeout()
            .expect("a timer")
            .duration_since(self.t0)
            .as_secs_f64()
    }

    /// DISCOVER at 0, OFFER and REQUEST at 0.1, ACK at 0.2 with `lease`.
    fn bind(&mut self, lease: u32) -> u32 {
        self.tick(0.0);
        let d = self.one_sent();
        let mut offer = Canned::new(DhcpMessageType::Offer, d.xid);
        offer.lease = Some(lease);
        assert!(self.reply(0.1, &offer));
        let r = self.one_sent();
        let mut ack = Canned::new(DhcpMessageType::Ack, r.xid);
        ack.lease = Some(lease);
        assert!(self.reply(0.2, &ack));
        self.events();
        d.xid
    }
}

#[test]
fn full_dora() {
    let mut rig = Rig::new();
    assert_eq!(rig.client.phase(), Phase::Init);
    assert!(rig.next_in().abs() < 1e-9);
    rig.tick(0.0);
    assert_eq!(rig.client.phase(), Phase::Selecting);

    let d = rig.one_sent();
    assert_eq!(d.kind, DhcpMessageType::Discover);
    assert_eq!(d.dst_mac, [0xff; 6]);
    assert_eq!(
        (d.src_ip, d.dst_ip),
        (Ipv4Addr::UNSPECIFIED, Ipv4Addr::BROADCAST)
    );
    assert_eq!(d.client_id, Some(MAC));
    assert_eq!(d.chaddr, MAC);
    assert_eq!(d.hostname.as_deref(), Some(&b"laptop"[..]));
    assert_eq!(d.requested_ip, None);

    // Replies for someone else, or another transaction, are not ours.
    let mut other = Canned::new(DhcpMessageType::Offer, d.xid);
    other.chaddr = [2, 9, 9, 9, 9, 9];
    assert!(!rig.reply(0.1, &other));
    assert!(!rig.reply(0.1, &Canned::new(DhcpMessageType::Offer, d.xid ^ 1)));
    assert!(!rig.reply(0.1, &Canned::new(DhcpMessageType::Ack, d.xid)));
    assert_eq!(rig.client.phase(), Phase::Selecting);
    assert!(rig.sent().is_empty());

    let mut offer = Canned::new(DhcpMessageType::Offer, d.xid);
    offer.dst_ip = ADDR; // unicast to yiaddr / chaddr
    assert!(rig.reply(1.5, &offer));
    assert_eq!(rig.client.phase(), Phase::Requesting);
    let r = rig.one_sent();
    assert_eq!(r.kind, DhcpMessageType::Request);
    assert_eq!(r.xid, d.xid);
    assert_eq!(r.secs, 1);
    assert_eq!(r.dst_ip, Ipv4Addr::BROADCAST);
    assert_eq!(r.ciaddr, Ipv4Addr::UNSPECIFIED);
    assert_eq!(r.requested_ip, Some(ADDR));
    assert_eq!(r.server_id, Some(SERVER));
    assert_eq!(r.client_id, Some(MAC));

    // A second OFFER (another server) is ignored once requesting.
    assert!(!rig.reply(1.6, &Canned::new(DhcpMessageType::Offer, d.xid)));

    let mut ack = Canned::new(DhcpMessageType::Ack, d.xid);
    ack.mtu = Some(1400);
    assert!(rig.reply(2.0, &ack));
    assert_eq!(rig.client.phase(), Phase::Bound);
    let lease = Lease {
        addr: ADDR,
        prefix: 24,
        server: SERVER,
        router: Some(SERVER),
        dns: vec![SERVER],
        mtu: Some(1400),
        secs: 3600,
    };
    assert_eq!(
        rig.events(),
        vec![Event::Bound {
            lease: lease.clone()
        }]
    );
    assert_eq!(rig.client.lease(), Some(&lease));
    // T1 = half the lease, counted from the REQUEST (1.5 s).
    assert!((rig.next_in() - 1801.5).abs() < 1e-6, "{}", rig.next_in());
    assert!(rig.sent().is_empty());
}

#[test]
fn retransmission_backoff() {
    let mut rig = Rig::new();
    rig.tick(0.0);
    let xid = rig.one_sent().xid;
    let mut at = 0.0;
    for base in [4.0, 8.0, 16.0, 32.0, 64.0, 64.0, 64.0] {
        let next = rig.next_in();
        let wait = next - at;
        assert!(
            (base - 1.0..=base + 1.0).contains(&wait),
            "wait {wait} for base {base}"
        );
        // Nothing before it is due.
        rig.tick(next - 0.01);
        assert!(rig.sent().is_empty());
        rig.tick(next);
        let d = rig.one_sent();
        assert_eq!(d.kind, DhcpMessageType::Discover);
        assert_eq!(d.xid, xid, "retransmissions keep the xid");
        assert_eq!(u64::from(d.secs), next as u64);
        at = next;
    }

    // REQUESTING: MAX_REQUESTS requests, then INIT and a new DISCOVER.
    assert!(rig.reply(at, &Canned::new(DhcpMessageType::Offer, xid)));
    let mut requests = rig.sent().len();
    while rig.client.phase() == Phase::Requesting {
        let next = rig.next_in();
        assert!(next - at <= 65.0);
        rig.tick(next);
        at = next;
        let sent = rig.sent();
        let (req, disc): (Vec<_>, Vec<_>) = sent
            .iter()
            .partition(|s| s.kind == DhcpMessageType::Request);
        requests += req.len();
        if !disc.is_empty() {
            assert_ne!(disc[0].xid, xid, "a new exchange, a new xid");
        }
    }
    assert_eq!(requests, MAX_REQUESTS as usize);
    assert_eq!(rig.client.phase(), Phase::Selecting);
}

#[test]
fn nak_while_requesting_starts_over() {
    let mut rig = Rig::new();
    rig.tick(0.0);
    let xid = rig.one_sent().xid;
    assert!(rig.reply(0.1, &Canned::new(DhcpMessageType::Offer, xid)));
    rig.one_sent();
    // A NAK from another server is not about our request.
    let mut foreign = Canned::new(DhcpMessageType::Nak, xid);
    foreign.server = Ipv4Addr::new(10, 1, 2, 254);
    assert!(!rig.reply(0.2, &foreign));
    assert_eq!(rig.client.phase(), Phase::Requesting);

    assert!(rig.reply(0.2, &Canned::new(DhcpMessageType::Nak, xid)));
    assert_eq!(rig.client.phase(), Phase::Init);
    assert!(rig.events().is_empty(), "nothing was bound");
    assert!((rig.next_in() - 1.2).abs() < 1e-6);
    rig.tick(1.2);
    let d = rig.one_sent();
    assert_eq!(d.kind, DhcpMessageType::Discover);
    assert_ne!(d.xid, xid);
}

#[test]
fn renewing_rebinding_expiry() {
    let mut rig = Rig::new();
    rig.bind(3600);
    // Requested at 0.1: T1 1800.1, T2 3150.1, expiry 3600.1.
    let t1 = 1800.1;
    let t2 = 3150.1;
    let end = 3600.1;
    assert!((rig.next_in() - t1).abs() < 1e-6);
    rig.tick(t1);
    assert_eq!(rig.client.phase(), Phase::Renewing);
    let r = rig.one_sent();
    assert_eq!(r.kind, DhcpMessageType::Request);
    assert_eq!(r.dst_mac, SERVER_MAC, "RENEWING unicasts to the server");
    assert_eq!((r.src_ip, r.dst_ip), (ADDR, SERVER));
    assert_eq!(r.ciaddr, ADDR);
    assert_eq!((r.requested_ip, r.server_id), (None, None));

    // Half of the time left until T2, at least 60 s, never past T2.
    let mut at = t1;
    while rig.client.phase() == Phase::Renewing {
        let next = rig.next_in();
        let want = (at + ((t2 - at) / 2.0).max(60.0)).min(t2);
        assert!((next - want).abs() < 1e-3, "next {next} want {want}");
        rig.tick(next);
        at = next;
        let s = rig.one_sent();
        if rig.client.phase() == Phase::Rebinding {
            assert_eq!(s.dst_mac, [0xff; 6], "REBINDING broadcasts");
            assert_eq!((s.src_ip, s.dst_ip), (ADDR, Ipv4Addr::BROADCAST));
            assert_eq!(s.ciaddr, ADDR);
        } else {
            assert_eq!(s.dst_ip, SERVER);
        }
    }
    assert!((at - t2).abs() < 1e-3);
    let mut last = Vec::new();
    while rig.client.phase() == Phase::Rebinding {
        let next = rig.next_in();
        let want = (at + ((end - at) / 2.0).max(60.0)).min(end);
        assert!((next - want).abs() < 1e-3, "next {next} want {want}");
        rig.tick(next);
        at = next;
        last = rig.sent();
    }
    assert!((at - end).abs() < 1e-3);
    let events = rig.events();
    assert!(
        matches!(&events[..], [Event::Lost { lease, why: Lost::Expired }] if lease.addr == ADDR),
        "{events:?}"
    );
    assert_eq!(rig.client.lease(), None);
    // Straight back to INIT, asking for the old address.
    assert_eq!(rig.client.phase(), Phase::Selecting);
    assert_eq!(last.len(), 1);
    assert_eq!(last[0].kind, DhcpMessageType::Discover);
    assert_eq!(last[0].requested_ip, Some(ADDR));
    assert_eq!(last[0].ciaddr, Ipv4Addr::UNSPECIFIED);
}

#[test]
fn renewal_ack_extends_and_nak_ends() {
    let mut rig = Rig::new();
    rig.bind(600);
    rig.tick(300.1);
    let r = rig.one_sent();
    assert_eq!(rig.client.phase(), Phase::Renewing);
    let mut ack = Canned::new(DhcpMessageType::Ack, r.xid);
    ack.lease = Some(600);
    ack.dst_ip = ADDR;
    assert!(rig.reply(300.2, &ack));
    assert_eq!(rig.client.phase(), Phase::Bound);
    let events = rig.events();
    assert!(
        matches!(&events[..], [Event::Renewed { .. }]),
        "a renewal is not a new lease: {events:?}"
    );
    // New T1 counts from the renewal REQUEST.
    assert!((rig.next_in() - 600.1).abs() < 1e-6);

    // Options changed on renewal: a new lease for the caller to apply.
    rig.tick(600.1);
    let r = rig.one_sent();
    let mut ack = Canned::new(DhcpMessageType::Ack, r.xid);
    ack.lease = Some(600);
    ack.mtu = Some(1300);
    assert!(rig.reply(600.2, &ack));
    assert!(matches!(&rig.events()[..], [Event::Bound { .. }]));

    // A NAK to a renewal: stop using the address, start over after a pause.
    rig.tick(900.1);
    let r = rig.one_sent();
    assert!(rig.reply(900.2, &Canned::new(DhcpMessageType::Nak, r.xid)));
    let events = rig.events();
    assert!(
        matches!(&events[..], [Event::Lost { why: Lost::Nak, .. }]),
        "{events:?}"
    );
    assert_eq!(rig.client.phase(), Phase::Init);
    assert!((rig.next_in() - 901.2).abs() < 1e-6);
}

#[test]
fn another_address_on_renewal_replaces_the_lease() {
    let mut rig = Rig::new();
    rig.bind(600);
    rig.tick(300.1);
    let r = rig.one_sent();
    let mut ack = Canned::new(DhcpMessageType::Ack, r.xid);
    ack.yiaddr = Ipv4Addr::new(10, 1, 2, 60);
    assert!(rig.reply(300.2, &ack));
    let events = rig.events();
    assert!(
        matches!(&events[..], [
            Event::Lost { lease: old, why: Lost::Replaced },
            Event::Bound { lease: new },
        ] if old.addr == ADDR && new.addr == Ipv4Addr::new(10, 1, 2, 60)),
        "{events:?}"
    );
}

#[test]
fn release_unicasts_and_stops() {
    let mut rig = Rig::new();
    rig.bind(3600);
    let lease = rig.client.release().expect("a lease");
    assert_eq!(lease.addr, ADDR);
    let r = rig.one_sent();
    assert_eq!(r.kind, DhcpMessageType::Release);
    assert_eq!(r.dst_mac, SERVER_MAC);
    assert_eq!((r.src_ip, r.dst_ip), (ADDR, SERVER));
    assert_eq!(r.ciaddr, ADDR);
    assert_eq!(r.server_id, Some(SERVER));
    assert_eq!(r.client_id, Some(MAC));
    assert_eq!(rig.client.phase(), Phase::Stopped);
    assert_eq!(rig.client.poll_timeout(), None);
    assert_eq!(rig.client.release(), None);
    assert!(rig.sent().is_empty());
}

#[test]
fn kick_restarts_an_exchange_but_keeps_a_lease() {
    let mut rig = Rig::new();
    rig.tick(0.0);
    rig.one_sent();
    rig.client.kick(rig.at(2.0));
    assert!((rig.next_in() - 2.0).abs() < 1e-6);
    rig.tick(2.0);
    assert_eq!(rig.one_sent().kind, DhcpMessageType::Discover);

    let mut rig = Rig::new();
    rig.bind(3600);
    rig.client.kick(rig.at(5.0));
    assert_eq!(rig.client.phase(), Phase::Bound);
    assert!(rig.next_in() > 1000.0);
}

#[test]
fn ack_sanity() {
    let mut rig = Rig::new();
    rig.tick(0.0);
    let xid = rig.one_sent().xid;
    assert!(rig.reply(0.1, &Canned::new(DhcpMessageType::Offer, xid)));
    rig.one_sent();
    let mut ack = Canned::new(DhcpMessageType::Ack, xid);
    ack.lease = None;
    assert!(!rig.reply(0.2, &ack), "an ACK needs a lease time");
    let mut ack = Canned::new(DhcpMessageType::Ack, xid);
    ack.lease = Some(INFINITE);
    assert!(rig.reply(0.2, &ack));
    assert_eq!(
        rig.client.poll_timeout(),
        None,
        "an infinite lease is never renewed"
    );
}

#[test]
fn renewal_time_rules() {
    assert_eq!(
        renewal_times(3600, None, None),
        (secs(1800.0), secs(3150.0))
    );
    assert_eq!(
        renewal_times(3600, Some(100), Some(200)),
        (secs(100.0), secs(200.0))
    );
    // Insane server values fall back to the defaults.
    assert_eq!(
        renewal_times(3600, Some(300), Some(200)),
        (secs(200.0), secs(200.0))
    );
    assert_eq!(
        renewal_times(3600, None, Some(4000)),
        (secs(1800.0), secs(3150.0))
    );
    assert_eq!(prefix_of(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
    assert_eq!(prefix_of(Ipv4Addr::BROADCAST), Some(32));
    assert_eq!(prefix_of(Ipv4Addr::UNSPECIFIED), Some(0));
    assert_eq!(prefix_of(Ipv4Addr::new(255, 0, 255, 0)), None);
}

mod hostile {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Any bytes, in any state: no panic, no event, nothing sent
        /// that the timers did not ask for.
        #[test]
        fn any_bytes_never_panic(frames in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..700), 1..8), bound in any::<bool>()) {
            let mut rig = Rig::new();
            if bound {
                rig.bind(3600);
            } else {
                rig.tick(0.0);
                rig.sent();
            }
            let before = rig.client.phase();
            for f in &frames {
                prop_assert!(!rig.client.handle_frame(rig.at(1.0), f));
            }
            prop_assert_eq!(rig.client.phase(), before);
            prop_assert!(rig.events().is_empty());
            prop_assert!(rig.sent().is_empty());
        }

        /// A real reply with bytes flipped or cut: no panic.
        #[test]
        fn mangled_replies_never_panic(flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..16), cut in any::<usize>()) {
            let mut rig = Rig::new();
            rig.tick(0.0);
            let xid = rig.one_sent().xid;
            let mut frame = server_frame(&Canned::new(DhcpMessageType::Offer, xid));
            for (at, x) in flips {
                let i = at % frame.len();
                frame[i] ^= x;
            }
            frame.truncate(cut % (frame.len() + 1));
            let _ = rig.client.handle_frame(rig.at(1.0), &frame);
            let _ = rig.events();
            let _ = rig.sent();
        }
    }
}
