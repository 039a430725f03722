//! Hostile input: any bytes into every entry point are dropped and counted,
//! never a panic, and never state past the caps.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use dns::{AnswerOutcome, Config, Forwarder, QueryOutcome, TcpFramer, Transport};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

const UPSTREAMS: [&str; 2] = ["192.0.2.1:53", "192.0.2.2:53"];

fn upstream(i: u8) -> SocketAddr {
    match i % 3 {
        0 => UPSTREAMS[0].parse().unwrap(),
        1 => UPSTREAMS[1].parse().unwrap(),
        _ => "203.0.113.9:53".parse().unwrap(),
    }
}

fn transport(tcp: bool) -> Transport {
    if tcp {
        Transport::Tcp
    } else {
        Transport::Udp
    }
}

/// Something shaped like a query (header then a small question) or any bytes.
fn message() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        (
            any::<[u8; 4]>(),
            0u8..3,
            proptest::collection::vec(0u8..8, 0..12),
            proptest::collection::vec(any::<u8>(), 0..8)
        )
            .prop_map(|(head, qd, name, tail)| {
                let mut m = vec![head[0], head[1], head[2], head[3], 0, qd, 0, 0, 0, 0, 0, 0];
                m.extend_from_slice(&name);
                m.extend_from_slice(&tail);
                m
            }),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    Query {
        net: u8,
        client: u8,
        tcp: bool,
        bytes: Vec<u8>,
    },
    /// An answer made from a transmit the forwarder sent, then mangled.
    Echo {
        which: u8,
        tcp: bool,
        flip: Option<(usize, u8)>,
        cut: Option<usize>,
    },
    Answer {
        from: u8,
        tcp: bool,
        bytes: Vec<u8>,
    },
    Wait(u16),
    Cancel {
        net: u8,
        client: u8,
    },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u8..3, 0u8..4, any::<bool>(), message()).prop_map(|(net, client, tcp, bytes)| {
            Step::Query {
                net,
                client,
                tcp,
                bytes,
            }
        }),
        (
            any::<u8>(),
            any::<bool>(),
            proptest::option::of((0usize..64, 1u8..=255)),
            proptest::option::of(0usize..64)
        )
            .prop_map(|(which, tcp, flip, cut)| Step::Echo {
                which,
                tcp,
                flip,
                cut
            }),
        (any::<u8>(), any::<bool>(), message()).prop_map(|(from, tcp, bytes)| Step::Answer {
            from,
            tcp,
            bytes
        }),
        (0u16..4000).prop_map(Step::Wait),
        (0u8..3, 0u8..4).prop_map(|(net, client)| Step::Cancel { net, client }),
    ]
}

proptest! {
    #[test]
    fn any_sequence_of_inputs_is_counted_and_bounded(
        steps in proptest::collection::vec(step(), 1..80),
        seed in any::<u64>(),
    ) {
        let config = Config {
            upstreams: UPSTREAMS.iter().map(|s| s.parse().unwrap()).collect(),
            max_in_flight_total: 8,
            max_per_network: 5,
            max_per_client: 3,
            ..Config::default()
        };
        let mut fwd: Forwarder<u8, u8> = Forwarder::new(config);
        let mut rng = StdRng::seed_from_u64(seed);
        let mut now = Instant::now();
        let mut sent = Vec::new();
        let (mut queries, mut forwarded, mut answered, mut retries) = (0u64, 0u64, 0u64, 0u64);
        for step in steps {
            match step {
                Step::Query { net, client, tcp, bytes } => {
                    queries += 1;
                    let out = fwd.handle_query(now, net, client, transport(tcp), &bytes, &mut rng);
                    if out == QueryOutcome::Forwarded {
                        forwarded += 1;
                    }
                }
                Step::Echo { which, tcp, flip, cut } => {
                    if sent.is_empty() {
                        continue;
                    }
                    let (to, bytes): &(SocketAddr, Vec<u8>) = &sent[usize::from(which) % sent.len()];
                    let mut a = bytes.clone();
                    if let Some(b) = a.get_mut(2) {
                        *b |= 0x80 | (which & 0x02);
                    }
                    if let Some((at, x)) = flip {
                        if let Some(b) = a.get_mut(at) {
                            *b ^= x;
                        }
                    }
                    if let Some(cut) = cut {
                        a.truncate(cut);
                    }
                    match fwd.handle_upstream(now, *to, transport(tcp), &a) {
                        AnswerOutcome::Answered => answered += 1,
                        AnswerOutcome::RetryOverTcp => retries += 1,
                        AnswerOutcome::Dropped(_) => {}
                    }
                }
                Step::Answer { from, tcp, bytes } => {
                    match fwd.handle_upstream(now, upstream(from), transport(tcp), &bytes) {
                        AnswerOutcome::Answered => answered += 1,
                        AnswerOutcome::RetryOverTcp => retries += 1,
                        AnswerOutcome::Dropped(_) => {}
                    }
                }
                Step::Wait(ms) => {
                    now += Duration::from_millis(u64::from(ms));
                    fwd.handle_timeout(now);
                }
                Step::Cancel { net, client } => fwd.cancel_client(net, client),
            }
            // The drain rule, and what is drained is well formed.
            while let Some(t) = fwd.poll_transmit() {
                prop_assert!(t.bytes.len() >= 12);
                sent.push((t.to, t.bytes));
            }
            while let Some(r) = fwd.poll_reply() {
                prop_assert!(r.bytes.len() >= 12);
                prop_assert!(r.bytes[2] & 0x80 != 0, "replies are responses");
            }
            prop_assert!(fwd.in_flight() <= 8);
            for net in 0..3 {
                prop_assert!(fwd.in_flight_network(net) <= 5);
            }
            if let Some(at) = fwd.poll_timeout() {
                prop_assert!(at > now);
            }
        }
        let c = *fwd.counters();
        prop_assert_eq!(c.queries, queries);
        prop_assert_eq!(c.forwarded, forwarded);
        prop_assert_eq!(c.answered, answered);
        prop_assert_eq!(c.tcp_retries, retries);
        let refused = c.servfail_no_upstream + c.servfail_total_full + c.servfail_network_full
            + c.servfail_client_full + c.servfail_no_free_id + c.notimp;
        let query_drops = c.drop_query_short + c.drop_query_oversize + c.drop_query_is_response
            + c.drop_query_no_question + c.drop_query_malformed;
        prop_assert_eq!(c.queries, c.forwarded + refused + query_drops, "each query counted once");
        prop_assert_eq!(
            c.forwarded,
            c.answered + c.timeouts + c.cancelled + fwd.in_flight() as u64,
            "each forwarded query ends once"
        );
    }

    #[test]
    fn random_bytes_into_the_framer_never_exceed_its_caps(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..20),
    ) {
        let mut f = TcpFramer::new(200, 600);
        for chunk in chunks {
            let lens: Option<Vec<usize>> = f.push(&chunk).ok().map(|msgs| msgs.map(|m| m.len()).collect());
            if let Some(lens) = lens {
                prop_assert!(lens.iter().all(|&len| len <= 200));
            } else {
                prop_assert_eq!(f.room(), 0);
            }
            prop_assert!(f.buffered() <= 600);
        }
    }

    #[test]
    fn framed_messages_come_back_in_order_however_the_stream_is_cut(
        msgs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..100), 0..10),
        cuts in proptest::collection::vec(1usize..50, 0..40),
    ) {
        let stream: Vec<u8> = msgs.iter().flat_map(|m| TcpFramer::frame(m).unwrap()).collect();
        let mut f = TcpFramer::for_queries();
        let mut out = Vec::new();
        let mut rest = stream.as_slice();
        for cut in cuts.into_iter().chain(std::iter::once(usize::MAX)) {
            let (now, later) = rest.split_at(cut.min(rest.len()));
            out.extend(f.push(now).unwrap());
            rest = later;
        }
        prop_assert_eq!(out, msgs);
        prop_assert_eq!(f.buffered(), 0);
    }
}
