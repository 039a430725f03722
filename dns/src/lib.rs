//! DNS forwarder of the gateway address (port 53, UDP and TCP), Sans-IO:
//! client queries, upstream answers and `now` in; upstream transmits,
//! client replies and a deadline out. No sockets, no clock, no ambient
//! randomness. See `README.md`.
//!
//! - [`forwarder`]: the state machine ([`Forwarder`], [`Config`],
//!   [`Transmit`], [`Reply`]) with caps per client, per network and in total.
//! - [`tcp`]: [`TcpFramer`], RFC 7766 length-prefixed framing.
//! - [`wire`]: the header and question section of a message.
//! - [`counters`]: what was done and dropped ([`Counters`], [`DropReason`], [`Refusal`]).
//! - [`resolv_conf`]: the upstreams of resolv.conf text ([`parse_resolv_conf`]).

pub mod counters;
pub mod forwarder;
pub mod resolv_conf;
pub mod tcp;
pub mod wire;

pub use counters::{Counters, DropReason, Refusal};
pub use forwarder::{
    AnswerOutcome, Config, Forwarder, Handle, QueryOutcome, Reply, Transmit, Transport,
};
pub use resolv_conf::parse_resolv_conf;
pub use tcp::{FrameError, Messages, TcpFramer};
