//! The forwarder driven through its public API with a fake clock.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dns::{
    AnswerOutcome, Config, DropReason, Forwarder, QueryOutcome, Refusal, Reply, Transmit, Transport,
};
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

type Net = u32;
type Client = u16;

const UP1: &str = "192.0.2.1:53";
const UP2: &str = "192.0.2.2:53";

fn up(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn config(upstreams: &[&str]) -> Config {
    Config {
        upstreams: upstreams.iter().map(|s| up(s)).collect(),
        ..Config::default()
    }
}

/// A query for `name` (one label) type A, RD set, with an OPT record.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    q.push(name.len() as u8);
    q.extend_from_slice(name.as_bytes());
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0, 0, 0, 0]);
    q
}

/// What a resolver would answer to `sent`: its header and question, QR and
/// RA, one A record.
fn answer_to(sent: &[u8]) -> Vec<u8> {
    let qend = 12 + 1 + usize::from(sent[12]) + 1 + 4;
    let mut a = sent[..qend].to_vec();
    a[2] |= 0x80;
    a[3] = 0x80;
    a[6..8].copy_from_slice(&1u16.to_be_bytes());
    a[8..12].fill(0);
    a.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 51, 100, 7]);
    a
}

struct Fixture {
    fwd: Forwarder<Net, Client>,
    rng: StdRng,
    now: Instant,
}

impl Fixture {
    fn new(config: Config) -> Self {
        Self {
            fwd: Forwarder::new(config),
            rng: StdRng::seed_from_u64(7),
            now: Instant::now(),
        }
    }

    fn ask(&mut self, net: Net, client: Client, transport: Transport, q: &[u8]) -> QueryOutcome {
        self.fwd
            .handle_query(self.now, net, client, transport, q, &mut self.rng)
    }

    fn ask_udp(&mut self, net: Net, client: Client, id: u16) -> QueryOutcome {
        self.ask(net, client, Transport::Udp, &query(id, "example"))
    }

    fn answer(&mut self, from: &str, transport: Transport, a: &[u8]) -> AnswerOutcome {
        self.fwd.handle_upstream(self.now, up(from), transport, a)
    }

    fn transmit(&mut self) -> Transmit {
        let t = self.fwd.poll_transmit().expect("a transmit");
        assert!(self.fwd.poll_transmit().is_none(), "one transmit only");
        t
    }

    fn reply(&mut self) -> Reply<Net, Client> {
        let r = self.fwd.poll_reply().expect("a reply");
        assert!(self.fwd.poll_reply().is_none(), "one reply only");
        r
    }

    fn assert_servfail(&mut self, net: Net, client: Client, id: u16) {
        let r = self.reply();
        assert_eq!((r.network, r.client), (net, client));
        assert_eq!(&r.bytes[..2], &id.to_be_bytes());
        assert_eq!(r.bytes[2] & 0x80, 0x80, "QR");
        assert_eq!(r.bytes[3] & 0x0f, 2, "SERVFAIL");
        let q = query(id, "example");
        assert_eq!(&r.bytes[4..6], &[0, 1]);
        assert_eq!(&r.bytes[12..], &q[12..25], "question echoed, OPT not");
        assert!(self.fwd.poll_transmit().is_none());
    }
}

#[test]
fn forward_and_answer_round_trip_rewrites_the_id() {
    let mut f = Fixture::new(config(&[UP1]));
    let q = query(0x1234, "example");
    assert_eq!(f.ask(1, 40, Transport::Udp, &q), QueryOutcome::Forwarded);
    let t = f.transmit();
    assert_eq!((t.to, t.transport), (up(UP1), Transport::Udp));
    assert_eq!(&t.bytes[2..], &q[2..], "only the id changes");
    assert!(f.fwd.poll_reply().is_none());
    assert_eq!(f.fwd.in_flight(), 1);

    let ans = answer_to(&t.bytes);
    assert_eq!(f.answer(UP1, Transport::Udp, &ans), AnswerOutcome::Answered);
    let reply = f.reply();
    assert_eq!(
        (reply.network, reply.client, reply.transport),
        (1, 40, Transport::Udp)
    );
    assert_eq!(&reply.bytes[..2], &[0x12, 0x34], "the client's id restored");
    assert_eq!(&reply.bytes[2..], &ans[2..]);
    assert_eq!(f.fwd.in_flight(), 0);
    assert_eq!(f.fwd.in_flight_network(1), 0);
    assert_eq!(f.fwd.poll_timeout(), None);
    let n = f.fwd.counters();
    assert_eq!((n.queries, n.forwarded, n.answered), (1, 1, 1));

    // Answered once: a duplicate is unmatched.
    assert_eq!(
        f.answer(UP1, Transport::Udp, &ans),
        AnswerOutcome::Dropped(DropReason::AnswerUnmatched)
    );
}

#[test]
fn upstream_ids_are_random_and_unique_per_upstream() {
    /// The worst RNG: always the same number.
    struct Stuck;
    impl RngCore for Stuck {
        fn next_u32(&mut self) -> u32 {
            0xabcd
        }
        fn next_u64(&mut self) -> u64 {
            0xabcd
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            dest.fill(0xab);
        }
        fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand::Error> {
            dest.fill(0xab);
            Ok(())
        }
    }
    let mut fwd: Forwarder<Net, Client> = Forwarder::new(Config {
        max_per_client: 1000,
        max_per_network: 1000,
        ..config(&[UP1])
    });
    let now = Instant::now();
    let mut ids = std::collections::HashSet::new();
    for i in 0..200 {
        let q = query(7, "example");
        let got = fwd.handle_query(now, 1, i, Transport::Udp, &q, &mut Stuck);
        assert_eq!(got, QueryOutcome::Forwarded);
        let t = fwd.poll_transmit().unwrap();
        assert!(ids.insert(u16::from_be_bytes([t.bytes[0], t.bytes[1]])));
    }
}

#[test]
fn spoofed_answers_are_ignored_and_counted() {
    let mut f = Fixture::new(config(&[UP1, UP2]));
    assert_eq!(f.ask_udp(1, 40, 5), QueryOutcome::Forwarded);
    let t = f.transmit();
    assert_eq!(t.to, up(UP1));
    let good = answer_to(&t.bytes);

    // From the other upstream (or anybody else).
    let from = |a| AnswerOutcome::Dropped(a);
    assert_eq!(
        f.answer(UP2, Transport::Udp, &good),
        from(DropReason::AnswerUnmatched)
    );
    assert_eq!(
        f.answer("203.0.113.9:53", Transport::Udp, &good),
        from(DropReason::AnswerUnmatched)
    );
    // Another id.
    let mut wrong_id = good.clone();
    wrong_id[1] ^= 1;
    assert_eq!(
        f.answer(UP1, Transport::Udp, &wrong_id),
        from(DropReason::AnswerUnmatched)
    );
    // Right source and id, another question (name, type, or none at all).
    let mut wrong_name = good.clone();
    wrong_name[13] = b'x';
    let mut wrong_type = good.clone();
    wrong_type[22] = 28;
    let mut no_question = good[..12].to_vec();
    no_question[5] = 0;
    for a in [&wrong_name, &wrong_type, &no_question, &good[..15].to_vec()] {
        assert_eq!(
            f.answer(UP1, Transport::Udp, a),
            from(DropReason::AnswerQuestionMismatch)
        );
    }
    // A query, not an answer; a runt.
    assert_eq!(
        f.answer(UP1, Transport::Udp, &t.bytes),
        from(DropReason::AnswerNotResponse)
    );
    assert_eq!(
        f.answer(UP1, Transport::Udp, &good[..11]),
        from(DropReason::AnswerShort)
    );
    assert!(f.fwd.poll_reply().is_none(), "nothing reached the client");
    let c = *f.fwd.counters();
    assert_eq!(c.drop_answer_unmatched, 3);
    assert_eq!(c.drop_answer_question_mismatch, 4);
    assert_eq!(c.drop_answer_not_response, 1);
    assert_eq!(c.drop_answer_short, 1);
    assert_eq!(c.drops(DropReason::AnswerUnmatched), 3);

    // The spoofs did not cancel the query: the real answer still gets through.
    assert_eq!(f.fwd.in_flight(), 1);
    assert_eq!(
        f.answer(UP1, Transport::Udp, &good),
        AnswerOutcome::Answered
    );
    assert_eq!(&f.reply().bytes[..2], &5u16.to_be_bytes());
}

#[test]
fn a_client_at_its_cap_gets_servfail_and_its_neighbour_is_still_forwarded() {
    let mut f = Fixture::new(Config {
        max_per_client: 3,
        ..config(&[UP1])
    });
    for id in 0..3 {
        assert_eq!(f.ask_udp(1, 40, id), QueryOutcome::Forwarded);
        f.transmit();
    }
    assert_eq!(
        f.ask_udp(1, 40, 99),
        QueryOutcome::Refused(Refusal::ClientFull)
    );
    f.assert_servfail(1, 40, 99);
    assert_eq!(f.ask_udp(1, 41, 100), QueryOutcome::Forwarded);
    f.transmit();
    // The same client number in another network is another client.
    assert_eq!(f.ask_udp(2, 40, 101), QueryOutcome::Forwarded);
    f.transmit();
    assert_eq!(f.fwd.counters().servfail_client_full, 1);
}

#[test]
fn a_network_at_its_cap_does_not_block_another_network() {
    let mut f = Fixture::new(Config {
        max_per_network: 4,
        ..config(&[UP1])
    });
    for client in 0..4 {
        assert_eq!(f.ask_udp(1, client, 1), QueryOutcome::Forwarded);
        f.transmit();
    }
    assert_eq!(f.fwd.in_flight_network(1), 4);
    assert_eq!(
        f.ask_udp(1, 77, 2),
        QueryOutcome::Refused(Refusal::NetworkFull)
    );
    f.assert_servfail(1, 77, 2);
    assert_eq!(f.ask_udp(2, 77, 3), QueryOutcome::Forwarded);
    f.transmit();
    assert_eq!(f.fwd.counters().servfail_network_full, 1);
}

#[test]
fn the_total_cap_holds_across_networks_and_frees_on_answer() {
    let mut f = Fixture::new(Config {
        max_in_flight_total: 3,
        ..config(&[UP1])
    });
    let mut sent = Vec::new();
    for net in 0..3 {
        assert_eq!(f.ask_udp(net, 1, 1), QueryOutcome::Forwarded);
        sent.push(f.transmit());
    }
    assert_eq!(
        f.ask_udp(9, 1, 4),
        QueryOutcome::Refused(Refusal::TotalFull)
    );
    f.assert_servfail(9, 1, 4);
    let a = answer_to(&sent[0].bytes);
    assert_eq!(f.answer(UP1, Transport::Udp, &a), AnswerOutcome::Answered);
    f.reply();
    assert_eq!(f.ask_udp(9, 1, 5), QueryOutcome::Forwarded);
    assert_eq!(f.fwd.counters().servfail_total_full, 1);
}

#[test]
fn an_expired_query_frees_its_slot_silently() {
    let mut f = Fixture::new(Config {
        max_per_client: 1,
        ..config(&[UP1])
    });
    let start = f.now;
    assert_eq!(f.ask_udp(1, 40, 1), QueryOutcome::Forwarded);
    let t = f.transmit();
    assert_eq!(f.fwd.poll_timeout(), Some(start + Duration::from_secs(3)));
    assert_eq!(
        f.ask_udp(1, 40, 2),
        QueryOutcome::Refused(Refusal::ClientFull)
    );
    f.reply();

    f.fwd.handle_timeout(start + Duration::from_millis(2999));
    assert_eq!(f.fwd.in_flight(), 1);
    f.fwd.handle_timeout(start + Duration::from_secs(3));
    assert_eq!(f.fwd.in_flight(), 0);
    assert_eq!(f.fwd.poll_timeout(), None);
    assert!(f.fwd.poll_reply().is_none(), "no reply on timeout");
    assert_eq!(f.fwd.counters().timeouts, 1);

    f.now = start + Duration::from_secs(3);
    assert_eq!(
        f.answer(UP1, Transport::Udp, &answer_to(&t.bytes)),
        AnswerOutcome::Dropped(DropReason::AnswerUnmatched),
        "too late"
    );
    assert_eq!(f.ask_udp(1, 40, 3), QueryOutcome::Forwarded);
    assert_eq!(
        f.fwd.poll_timeout(),
        Some(start + Duration::from_secs(6)),
        "its own deadline"
    );
}

#[test]
fn deadlines_expire_in_order() {
    let mut f = Fixture::new(config(&[UP1]));
    let start = f.now;
    for i in 0..5 {
        f.now = start + Duration::from_secs(i);
        assert_eq!(f.ask_udp(1, 40, 1), QueryOutcome::Forwarded);
    }
    f.fwd.handle_timeout(start + Duration::from_secs(5));
    assert_eq!(f.fwd.in_flight(), 2);
    assert_eq!(f.fwd.poll_timeout(), Some(start + Duration::from_secs(6)));
}

#[test]
fn a_truncated_answer_for_a_tcp_client_is_retried_over_tcp() {
    let mut f = Fixture::new(config(&[UP1]));
    let start = f.now;
    let q = query(0x0a0b, "example");
    assert_eq!(f.ask(1, 40, Transport::Tcp, &q), QueryOutcome::Forwarded);
    let first = f.transmit();
    assert_eq!(first.transport, Transport::Udp, "UDP first");

    let mut tc = answer_to(&first.bytes);
    tc[2] |= 0x02;
    f.now = start + Duration::from_secs(2);
    assert_eq!(
        f.answer(UP1, Transport::Udp, &tc),
        AnswerOutcome::RetryOverTcp
    );
    let retry = f.transmit();
    assert_eq!(retry.to, up(UP1));
    assert_eq!(retry.transport, Transport::Tcp);
    assert_eq!(retry.bytes, first.bytes, "the same query, same upstream id");
    assert!(f.fwd.poll_reply().is_none());
    assert_eq!(
        f.fwd.poll_timeout(),
        Some(start + Duration::from_secs(5)),
        "a fresh timeout for the TCP attempt"
    );

    // A late UDP copy no longer counts; the TCP answer does.
    assert_eq!(
        f.answer(UP1, Transport::Udp, &tc),
        AnswerOutcome::Dropped(DropReason::AnswerWrongTransport)
    );
    let full = answer_to(&retry.bytes);
    assert_eq!(
        f.answer(UP1, Transport::Tcp, &full),
        AnswerOutcome::Answered
    );
    let r = f.reply();
    assert_eq!((r.client, r.transport), (40, Transport::Tcp));
    assert_eq!(&r.bytes[..2], &[0x0a, 0x0b]);
    assert_eq!(&r.bytes[2..], &full[2..]);
    assert_eq!(f.fwd.counters().tcp_retries, 1);
    assert_eq!(f.fwd.in_flight(), 0);
    assert_eq!(f.fwd.poll_timeout(), None);
}

#[test]
fn a_truncated_answer_for_a_udp_client_is_passed_through() {
    let mut f = Fixture::new(config(&[UP1]));
    assert_eq!(f.ask_udp(1, 40, 9), QueryOutcome::Forwarded);
    let t = f.transmit();
    let mut tc = answer_to(&t.bytes);
    tc[2] |= 0x02;
    assert_eq!(f.answer(UP1, Transport::Udp, &tc), AnswerOutcome::Answered);
    let r = f.reply();
    assert_eq!(
        r.bytes[2] & 0x02,
        0x02,
        "TC kept: the client retries over TCP"
    );
    assert!(f.fwd.poll_transmit().is_none());
}

#[test]
fn a_tcp_answer_to_a_udp_attempt_is_dropped() {
    let mut f = Fixture::new(config(&[UP1]));
    assert_eq!(f.ask_udp(1, 40, 9), QueryOutcome::Forwarded);
    let t = f.transmit();
    assert_eq!(
        f.answer(UP1, Transport::Tcp, &answer_to(&t.bytes)),
        AnswerOutcome::Dropped(DropReason::AnswerWrongTransport)
    );
}

#[test]
fn no_upstream_means_servfail() {
    let mut f = Fixture::new(config(&[]));
    assert_eq!(
        f.ask_udp(1, 40, 77),
        QueryOutcome::Refused(Refusal::NoUpstream)
    );
    f.assert_servfail(1, 40, 77);
    assert_eq!(f.fwd.counters().servfail_no_upstream, 1);
}

#[test]
fn other_opcodes_get_notimp() {
    let mut f = Fixture::new(config(&[UP1]));
    let mut q = query(3, "example");
    q[2] |= 5 << 3; // UPDATE
    assert_eq!(
        f.ask(1, 40, Transport::Udp, &q),
        QueryOutcome::Refused(Refusal::NotImplemented)
    );
    let r = f.reply();
    assert_eq!(r.bytes[3] & 0x0f, 4);
    assert_eq!((r.bytes[2] >> 3) & 0x0f, 5, "opcode echoed");
}

#[test]
fn bad_queries_are_dropped_without_a_word() {
    let mut f = Fixture::new(Config {
        max_query_len: 100,
        ..config(&[UP1])
    });
    let q = query(3, "example");
    let mut response = q.clone();
    response[2] |= 0x80;
    let mut no_question = q.clone();
    no_question[5] = 0;
    let mut long = q.clone();
    long.resize(101, 0);
    let cases: [(&[u8], DropReason); 5] = [
        (&q[..11], DropReason::QueryShort),
        (&response, DropReason::QueryIsResponse),
        (&no_question, DropReason::QueryNoQuestion),
        (&q[..20], DropReason::QueryMalformed),
        (&long, DropReason::QueryOversize),
    ];
    for (bytes, why) in cases {
        assert_eq!(
            f.ask(1, 40, Transport::Udp, bytes),
            QueryOutcome::Dropped(why)
        );
        assert_eq!(f.fwd.counters().drops(why), 1);
    }
    assert!(f.fwd.poll_reply().is_none());
    assert!(f.fwd.poll_transmit().is_none());
    assert_eq!(f.fwd.counters().queries, 5);
}

#[test]
fn upstreams_take_turns() {
    let mut f = Fixture::new(config(&[UP1, UP2]));
    let mut to = Vec::new();
    for id in 0..4 {
        f.ask_udp(1, 40, id);
        to.push(f.transmit().to);
    }
    assert_eq!(to, [up(UP1), up(UP2), up(UP1), up(UP2)]);
}

#[test]
fn cancelling_a_client_frees_its_slots() {
    let mut f = Fixture::new(Config {
        max_per_client: 2,
        ..config(&[UP1])
    });
    f.ask(1, 40, Transport::Tcp, &query(1, "a"));
    f.ask(1, 40, Transport::Tcp, &query(2, "b"));
    f.ask(1, 41, Transport::Udp, &query(3, "c"));
    let sent: Vec<_> = std::iter::from_fn(|| f.fwd.poll_transmit()).collect();
    f.fwd.cancel_client(1, 40);
    assert_eq!(f.fwd.in_flight(), 1);
    assert_eq!(f.fwd.counters().cancelled, 2);
    assert_eq!(
        f.answer(UP1, Transport::Udp, &answer_to(&sent[0].bytes)),
        AnswerOutcome::Dropped(DropReason::AnswerUnmatched)
    );
    assert_eq!(
        f.answer(UP1, Transport::Udp, &answer_to(&sent[2].bytes)),
        AnswerOutcome::Answered
    );
    assert_eq!(f.ask_udp(1, 40, 4), QueryOutcome::Forwarded);
}

#[test]
fn counter_names_are_unique() {
    let f = Fixture::new(config(&[UP1]));
    let names: Vec<_> = f.fwd.counters().iter().map(|(n, _)| n).collect();
    let unique: std::collections::HashSet<_> = names.iter().collect();
    assert_eq!(names.len(), unique.len());
    assert!(names.contains(&"drop_answer_question_mismatch"));
}
