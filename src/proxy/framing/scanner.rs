//! The incremental HTTP/1 framing follower behind `proxy::framing`: request heads, the two
//! length headers, `Content-Length` and chunked bodies, as hyper's own decoder reads them. It
//! allocates nothing, keeps a fixed few hundred bytes of state and does constant work per head
//! byte; body bytes are skipped by count.
//!
//! This file holds the state and the fast paths of `feed` (body bytes, skipped values, the
//! request line and header names taken a run at a time); `machine` is the per-byte state
//! machine the rest goes through, `bytes` the byte classes both read with.

mod bytes;
mod machine;
#[cfg(test)]
mod tests;

use super::Refusal;
use bytes::{find_lf, is_token};

/// Room for the longest header name the watch cares about (`transfer-encoding`, 17 bytes).
const NAME_CAP: usize = 20;
/// Room for a `Content-Length` or `Transfer-Encoding` value; a longer one is not followed.
const VALUE_CAP: usize = 64;
/// Room for the start of the request line (`CONNECT `, the HTTP/2 preface's `PRI * HTTP/2.0`).
const LINE_CAP: usize = 16;
/// hyper caps a chunked body's trailer section at 16 KiB; the watch's cap is above it.
const TRAILER_CAP: usize = 64 * 1024;
/// Slack over hyper's read buffer size: hyper may read a little past it before refusing.
const HEAD_SLACK: usize = 8 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Other,
    ContentLength,
    TransferEncoding,
    Upgrade,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between messages: httparse skips empty lines before a request line.
    Between,
    RequestLine,
    /// At the start of a header line, or of the empty line that ends the head.
    LineStart,
    /// A CR at the start of a line: the head ends if LF follows.
    HeadEndLf,
    Name,
    Value(Field),
    /// A `Content-Length` body: bytes left.
    Body(u64),
    // Chunked (RFC 9112 §7.1), state for state as hyper's decoder, which is strict about CRLF.
    ChunkStart,
    ChunkSize,
    ChunkLws,
    ChunkExtension,
    ChunkSizeLf,
    ChunkData(u64),
    ChunkDataCr,
    ChunkDataLf,
    EndCr,
    EndLf,
    Trailer,
    TrailerLf,
    /// Not watching (HTTP/2, after an upgrade, or after a refusal).
    Off,
}

/// What the watch remembers about the head it is reading.
#[derive(Clone, Copy)]
struct Head {
    index: u64,
    /// Bytes of this head (or of this body's trailer section) so far.
    bytes: usize,
    line: [u8; LINE_CAP],
    line_len: usize,
    name: [u8; NAME_CAP],
    name_len: usize,
    value: [u8; VALUE_CAP],
    value_len: usize,
    content_length: Option<u64>,
    transfer_encoding: bool,
    chunked: bool,
    upgrade: bool,
}

impl Head {
    fn new(index: u64) -> Head {
        Head {
            index,
            bytes: 0,
            line: [0; LINE_CAP],
            line_len: 0,
            name: [0; NAME_CAP],
            name_len: 0,
            value: [0; VALUE_CAP],
            value_len: 0,
            content_length: None,
            transfer_encoding: false,
            chunked: false,
            upgrade: false,
        }
    }
}

/// The incremental framing follower. Feed it the bytes of a connection in any split; it counts
/// request heads and records the first refusal. Public so that a fuzz target can drive it.
#[derive(Clone)]
pub struct Scanner {
    state: State,
    /// Request heads begun so far.
    heads: u64,
    head: Head,
    chunk_size: u64,
    head_limit: usize,
    /// A head asked for an upgrade: what follows may be opaque.
    upgrading: bool,
    refusal: Option<(u64, Refusal)>,
}

impl Scanner {
    /// A scanner that refuses heads longer than `head_limit` bytes (trailer sections: 64 KiB).
    pub fn new(head_limit: usize) -> Scanner {
        Scanner {
            state: State::Between,
            heads: 0,
            head: Head::new(0),
            chunk_size: 0,
            head_limit,
            upgrading: false,
            refusal: None,
        }
    }

    /// A scanner behind hyper, whose HTTP/1 read buffer holds at most `max_buf_size` bytes.
    pub fn behind_hyper(max_buf_size: usize) -> Scanner {
        Self::new(max_buf_size.saturating_add(HEAD_SLACK))
    }

    /// A scanner that watches nothing: the connection is HTTP/2 (ALPN chose `h2`).
    pub fn off() -> Scanner {
        Scanner {
            state: State::Off,
            ..Self::new(0)
        }
    }

    /// True once the scanner has stopped watching (HTTP/2, an upgrade, or after a refusal).
    pub fn is_off(&self) -> bool {
        self.state == State::Off
    }

    /// Heads begun so far.
    pub fn heads(&self) -> u64 {
        self.heads
    }

    /// The first request index to refuse, and why.
    pub fn refusal(&self) -> Option<(u64, Refusal)> {
        self.refusal
    }

    /// Follows `input`, the next bytes of the connection.
    pub fn feed(&mut self, mut input: &[u8]) {
        while let Some((&byte, rest)) = input.split_first() {
            match self.state {
                State::Off => return,
                State::Body(left) | State::ChunkData(left) => {
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    input = &input[take..];
                    let left = left - take as u64;
                    self.state = match (self.state, left) {
                        (State::Body(_), 0) => State::Between,
                        (State::Body(_), left) => State::Body(left),
                        (_, 0) => State::ChunkDataCr,
                        (_, left) => State::ChunkData(left),
                    };
                }
                // The long runs of a head are taken in one go; what ends them goes to `step`.
                State::Value(Field::Other) => {
                    // Values the watch does not read are skipped up to their LF.
                    let end = find_lf(input);
                    let take = end.map_or(input.len(), |at| at + 1);
                    if !self.count_head(take) {
                        return;
                    }
                    if end.is_some() {
                        self.state = State::LineStart;
                    }
                    input = &input[take..];
                }
                State::RequestLine if byte != b'\n' => {
                    let end = find_lf(input).unwrap_or(input.len());
                    let line = &input[..end];
                    if line.iter().any(|&b| (b < b' ' && b != b'\r') || b == 0x7f) {
                        // httparse admits no control bytes in a request line.
                        return self.refuse_this(Refusal::Unparsable);
                    }
                    if !self.count_head(end) {
                        return;
                    }
                    let kept = self.head.line_len;
                    let copy = line.len().min(LINE_CAP - kept);
                    self.head.line[kept..kept + copy].copy_from_slice(&line[..copy]);
                    self.head.line_len += copy;
                    input = &input[end..];
                }
                State::Name if is_token(byte) => {
                    let end = input
                        .iter()
                        .position(|&b| !is_token(b))
                        .unwrap_or(input.len());
                    if !self.count_head(end) {
                        return;
                    }
                    for &b in &input[..end] {
                        self.push_name(b);
                    }
                    input = &input[end..];
                }
                _ => {
                    self.step(byte);
                    input = rest;
                }
            }
        }
    }

    /// Counts `n` more bytes of the current head; false (and refused) when over the limit.
    fn count_head(&mut self, n: usize) -> bool {
        self.head.bytes = self.head.bytes.saturating_add(n);
        if self.head.bytes > self.head_limit {
            self.refuse_this(Refusal::Unparsable);
            return false;
        }
        true
    }

    fn refuse_this(&mut self, reason: Refusal) {
        self.refuse(self.head.index, reason);
    }

    fn refuse_next(&mut self) {
        self.refuse(self.head.index.saturating_add(1), Refusal::Unparsable);
    }

    fn refuse(&mut self, index: u64, reason: Refusal) {
        self.state = State::Off;
        if self.upgrading && reason == Refusal::Unparsable {
            // Probably the opaque bytes of an upgraded connection, where no request follows.
            return;
        }
        self.refusal.get_or_insert((index, reason));
        self.state = State::Off;
    }
}
