//! What the forwarder did, and why it dropped or refused what it did, by
//! name. Every query is counted once under `queries` and then under exactly
//! one outcome: `forwarded`, a `servfail_*`/`notimp` refusal or a `drop_*`
//! reason. Every upstream message is counted under `answered`,
//! `tcp_retries` or one `drop_answer_*` reason. Names are snake_case for
//! metrics (`dns_<name>`).

/// Why a query was answered with an error instead of being forwarded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// No upstream resolver is configured.
    NoUpstream,
    /// `max_in_flight_total` queries are in flight.
    TotalFull,
    /// `max_per_network` queries of this network are in flight.
    NetworkFull,
    /// `max_per_client` queries of this client are in flight.
    ClientFull,
    /// Every 16-bit ID towards the chosen upstream is in use.
    NoFreeId,
    /// OPCODE other than QUERY (NOTIFY, UPDATE, ...): answered NOTIMP.
    NotImplemented,
}

/// Why bytes from the network got no answer at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// A query shorter than the header.
    QueryShort,
    /// A query longer than `max_query_len`.
    QueryOversize,
    /// QR set in a "query": never answer a response (no reflection loops).
    QueryIsResponse,
    /// QDCOUNT 0.
    QueryNoQuestion,
    /// The question section is cut short or has a bad name.
    QueryMalformed,
    /// An upstream message shorter than the header.
    AnswerShort,
    /// An upstream message longer than `max_answer_len`.
    AnswerOversize,
    /// An upstream message with QR clear.
    AnswerNotResponse,
    /// No query in flight to that upstream under that ID (late, duplicate,
    /// or spoofed source or ID).
    AnswerUnmatched,
    /// Matched source and ID over the wrong transport (a late UDP answer
    /// after the retry over TCP, or a TCP answer to a UDP-only query).
    AnswerWrongTransport,
    /// Matched source and ID, but the question section is missing, cut
    /// short or differs from the one sent (RFC 5452 9.1: spoofed).
    AnswerQuestionMismatch,
}

/// Counters of one [`Forwarder`](crate::Forwarder), all networks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub queries: u64,
    pub forwarded: u64,
    /// Answers relayed to their client.
    pub answered: u64,
    /// TC answers for TCP clients turned into a retry over TCP.
    pub tcp_retries: u64,
    /// Queries forgotten unanswered after `timeout`.
    pub timeouts: u64,
    /// Queries forgotten by [`Forwarder::cancel_client`](crate::Forwarder::cancel_client).
    pub cancelled: u64,
    pub servfail_no_upstream: u64,
    pub servfail_total_full: u64,
    pub servfail_network_full: u64,
    pub servfail_client_full: u64,
    pub servfail_no_free_id: u64,
    pub notimp: u64,
    pub drop_query_short: u64,
    pub drop_query_oversize: u64,
    pub drop_query_is_response: u64,
    pub drop_query_no_question: u64,
    pub drop_query_malformed: u64,
    pub drop_answer_short: u64,
    pub drop_answer_oversize: u64,
    pub drop_answer_not_response: u64,
    pub drop_answer_unmatched: u64,
    pub drop_answer_wrong_transport: u64,
    pub drop_answer_question_mismatch: u64,
}

impl Counters {
    pub(crate) fn refused(&mut self, why: Refusal) {
        *match why {
            Refusal::NoUpstream => &mut self.servfail_no_upstream,
            Refusal::TotalFull => &mut self.servfail_total_full,
            Refusal::NetworkFull => &mut self.servfail_network_full,
            Refusal::ClientFull => &mut self.servfail_client_full,
            Refusal::NoFreeId => &mut self.servfail_no_free_id,
            Refusal::NotImplemented => &mut self.notimp,
        } += 1;
    }

    pub(crate) fn dropped(&mut self, why: DropReason) {
        *self.drop_mut(why) += 1;
    }

    /// The counter of one drop reason.
    pub fn drops(&self, why: DropReason) -> u64 {
        let mut copy = *self;
        *copy.drop_mut(why)
    }

    fn drop_mut(&mut self, why: DropReason) -> &mut u64 {
        match why {
            DropReason::QueryShort => &mut self.drop_query_short,
            DropReason::QueryOversize => &mut self.drop_query_oversize,
            DropReason::QueryIsResponse => &mut self.drop_query_is_response,
            DropReason::QueryNoQuestion => &mut self.drop_query_no_question,
            DropReason::QueryMalformed => &mut self.drop_query_malformed,
            DropReason::AnswerShort => &mut self.drop_answer_short,
            DropReason::AnswerOversize => &mut self.drop_answer_oversize,
            DropReason::AnswerNotResponse => &mut self.drop_answer_not_response,
            DropReason::AnswerUnmatched => &mut self.drop_answer_unmatched,
            DropReason::AnswerWrongTransport => &mut self.drop_answer_wrong_transport,
            DropReason::AnswerQuestionMismatch => &mut self.drop_answer_question_mismatch,
        }
    }

    /// Every counter with its metric name, in declaration order.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> {
        [
            ("queries", self.queries),
            ("forwarded", self.forwarded),
            ("answered", self.answered),
            ("tcp_retries", self.tcp_retries),
            ("timeouts", self.timeouts),
            ("cancelled", self.cancelled),
            ("servfail_no_upstream", self.servfail_no_upstream),
            ("servfail_total_full", self.servfail_total_full),
            ("servfail_network_full", self.servfail_network_full),
            ("servfail_client_full", self.servfail_client_full),
            ("servfail_no_free_id", self.servfail_no_free_id),
            ("notimp", self.notimp),
            ("drop_query_short", self.drop_query_short),
            ("drop_query_oversize", self.drop_query_oversize),
            ("drop_query_is_response", self.drop_query_is_response),
            ("drop_query_no_question", self.drop_query_no_question),
            ("drop_query_malformed", self.drop_query_malformed),
            ("drop_answer_short", self.drop_answer_short),
            ("drop_answer_oversize", self.drop_answer_oversize),
            ("drop_answer_not_response", self.drop_answer_not_response),
            ("drop_answer_unmatched", self.drop_answer_unmatched),
            (
                "drop_answer_wrong_transport",
                self.drop_answer_wrong_transport,
            ),
            (
                "drop_answer_question_mismatch",
                self.drop_answer_question_mismatch,
            ),
        ]
        .into_iter()
    }
}
