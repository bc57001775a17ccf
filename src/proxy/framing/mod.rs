//! The HTTP/1 framing watch: refuses requests whose head carries both `Content-Length` and
//! `Transfer-Encoding`, which hyper would otherwise accept.
//!
//! RFC 9112 §6.1 lets a server either reject such a request or frame it by `Transfer-Encoding`
//! and close the connection afterwards. hyper does the latter and drops `Content-Length` from the
//! header map, so the pipeline can never see that both were sent. The issue (and nginx) want a
//! 400 that reaches nothing, so the client stream wrapper (`proxy::client_stream`) hands every byte
//! hyper reads with a small incremental state machine (`Scanner`): it finds each request
//! head, skips its body (a `Content-Length` count, or chunked: size line, data, CRLF, last chunk,
//! trailers, mirroring hyper's decoder) and counts heads. When head *i* carries both headers, it
//! records "refuse from request *i*" in the connection's `Refusals`, shared with the connection's service, which
//! numbers its requests (HTTP/1 serves them strictly in order) and refuses every request from
//! that number on before the pipeline runs anything else.
//!
//! Safety property: the watch can only *add* refusals. It never changes a byte hyper reads, so it
//! can never let through anything hyper would refuse. When it cannot follow the framing (bytes it
//! cannot parse, a head or trailer section over its cap), it refuses from the head in question
//! (a broken head) or from the next head (a broken body) and stops watching: hyper has usually
//! refused the same bytes already, and when the two disagree the cost is a 400, never a bypass.
//! Losing count can only make the watch count *fewer* heads than hyper (it refuses earlier) or
//! see heads inside bytes hyper refuses (after which hyper serves nothing more on the connection).
//!
//! The watch is off for HTTP/2 (ALPN `h2`, or the prior-knowledge preface as the first bytes):
//! h2 frames bodies itself and hyper rejects `Transfer-Encoding` there. After a head that asks
//! for an upgrade (`Upgrade`, or `CONNECT`) the bytes may turn opaque (after a 101, when no
//! request follows and a refusal is moot) or stay HTTP/1 (the upgrade was refused). The watch
//! keeps following them as HTTP/1, so a refused upgrade cannot hide a later request, but the
//! first thing it cannot parse there switches it off instead of refusing: opaque data costs at
//! most one head's worth of scanning (a request line admits no control bytes, a head is capped).
//! The scanner allocates nothing, keeps a fixed few hundred bytes of state and does constant work
//! per head byte; body bytes are skipped by count.

//!
//! Layout: this file holds the verdict types (`Refusal`, `Refusals`); `scanner` the state
//! machine. The bytes reach the scanner through `proxy::client_stream::ClientStream`.

mod scanner;

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};

pub use scanner::Scanner;

/// Why requests on a connection are refused from some index on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The head carried both `Content-Length` and `Transfer-Encoding`.
    BothLengths,
    /// The watch could not follow the connection's framing up to this request.
    Unparsable,
}

impl Refusal {
    /// The 400 body's description, with what to do about it.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::BothLengths => {
                "the request carries both Content-Length and Transfer-Encoding, a request \
                 smuggling pattern (RFC 9112 §6.1); send only one of them"
            }
            Refusal::Unparsable => {
                "the request's HTTP/1 framing (request head, Content-Length or chunked body) \
                 is malformed; send a well-formed HTTP/1.1 message"
            }
        }
    }

    pub(super) fn code(self) -> u8 {
        match self {
            Refusal::BothLengths => 1,
            Refusal::Unparsable => 2,
        }
    }
}

/// What the watch found on one connection, shared with that connection's service.
#[derive(Debug)]
pub struct Refusals {
    /// The first request index to refuse; `u64::MAX` while there is none.
    refuse_from: AtomicU64,
    reason: AtomicU8,
    /// The index the next request the service sees will get.
    next_request: AtomicU64,
}

impl Default for Refusals {
    fn default() -> Self {
        Refusals {
            refuse_from: AtomicU64::new(u64::MAX),
            reason: AtomicU8::new(0),
            next_request: AtomicU64::new(0),
        }
    }
}

impl Refusals {
    /// Numbers the next request on the connection and says whether it must be refused. Called
    /// once per request, in order (HTTP/1 serves one request at a time). On HTTP/2 the watch
    /// is off and nothing is ever refused, so the order does not matter there.
    pub fn next_request(&self) -> Option<Refusal> {
        let index = self.next_request.fetch_add(1, Ordering::Relaxed);
        // hyper parses a head only after the watch has seen all of its bytes, on the same task.
        if index < self.refuse_from.load(Ordering::Acquire) {
            return None;
        }
        match self.reason.load(Ordering::Acquire) {
            1 => Some(Refusal::BothLengths),
            _ => Some(Refusal::Unparsable),
        }
    }

    pub(super) fn publish(&self, index: u64, reason: Refusal) {
        // The scanner stops at its first refusal, so this runs at most once per connection.
        self.reason.store(reason.code(), Ordering::Release);
        self.refuse_from.fetch_min(index, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_refused_from_the_flagged_one_on() {
        let refusals = Refusals::default();
        refusals.publish(1, Refusal::BothLengths);
        assert_eq!(refusals.next_request(), None);
        assert_eq!(refusals.next_request(), Some(Refusal::BothLengths));
        assert_eq!(refusals.next_request(), Some(Refusal::BothLengths));
    }
}
