//! The incremental HTTP/1 framing follower behind `proxy::framing`: request heads, the two
//! length headers, `Content-Length` and chunked bodies, as hyper's own decoder reads them. It
//! allocates nothing, keeps a fixed few hundred bytes of state and does constant work per head
//! byte; body bytes are skipped by count.

use super::Refusal;

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

    /// One byte of a head or of a chunked body's framing.
    fn step(&mut self, byte: u8) {
        if self.in_head() {
            self.head.bytes += 1;
            if self.head.bytes > self.head_limit {
                return self.refuse_this(Refusal::Unparsable);
            }
        }
        match self.state {
            State::Between => {
                if byte != b'\r' && byte != b'\n' {
                    self.head = Head::new(self.heads);
                    self.heads = self.heads.saturating_add(1);
                    self.state = State::RequestLine;
                    self.step(byte);
                }
            }
            State::RequestLine => {
                if byte == b'\n' {
                    return self.request_line_done();
                }
                if (byte < b' ' && byte != b'\r') || byte == 0x7f {
                    // httparse admits no control bytes in a request line.
                    return self.refuse_this(Refusal::Unparsable);
                }
                if self.head.line_len < LINE_CAP {
                    self.head.line[self.head.line_len] = byte;
                    self.head.line_len += 1;
                }
            }
            State::LineStart => match byte {
                b'\r' => self.state = State::HeadEndLf,
                b'\n' => self.head_done(),
                // Obsolete line folding (RFC 9112 §5.2): httparse refuses it in requests.
                b' ' | b'\t' => self.refuse_this(Refusal::Unparsable),
                _ if is_token(byte) => {
                    self.head.name_len = 0;
                    self.push_name(byte);
                    self.state = State::Name;
                }
                _ => self.refuse_this(Refusal::Unparsable),
            },
            State::HeadEndLf => {
                if byte == b'\n' {
                    self.head_done();
                } else {
                    self.refuse_this(Refusal::Unparsable);
                }
            }
            State::Name => match byte {
                b':' => {
                    let field = self.field();
                    self.head.value_len = 0;
                    self.state = State::Value(field);
                }
                _ if is_token(byte) => self.push_name(byte),
                // No whitespace before the colon (RFC 9112 §5.1), no line without one.
                _ => self.refuse_this(Refusal::Unparsable),
            },
            State::Value(field) => {
                if byte == b'\n' {
                    self.state = State::LineStart;
                    return self.value_done(field);
                }
                if self.head.value_len < VALUE_CAP {
                    self.head.value[self.head.value_len] = byte;
                    self.head.value_len += 1;
                } else if field != Field::Upgrade {
                    self.refuse_this(Refusal::Unparsable);
                }
            }
            State::ChunkStart => match hex(byte) {
                Some(digit) => {
                    self.chunk_size = u64::from(digit);
                    self.state = State::ChunkSize;
                }
                None => self.refuse_next(),
            },
            State::ChunkSize => match (byte, hex(byte)) {
                (_, Some(digit)) => {
                    match self
                        .chunk_size
                        .checked_mul(16)
                        .and_then(|size| size.checked_add(u64::from(digit)))
                    {
                        Some(size) => self.chunk_size = size,
                        None => self.refuse_next(),
                    }
                }
                (b'\t' | b' ', _) => self.state = State::ChunkLws,
                (b';', _) => self.state = State::ChunkExtension,
                (b'\r', _) => self.state = State::ChunkSizeLf,
                _ => self.refuse_next(),
            },
            State::ChunkLws => match byte {
                b'\t' | b' ' => {}
                b';' => self.state = State::ChunkExtension,
                b'\r' => self.state = State::ChunkSizeLf,
                _ => self.refuse_next(),
            },
            State::ChunkExtension => match byte {
                b'\r' => self.state = State::ChunkSizeLf,
                b'\n' => self.refuse_next(),
                _ => {}
            },
            State::ChunkSizeLf => match (byte, self.chunk_size) {
                (b'\n', 0) => {
                    self.head.bytes = 0;
                    self.state = State::EndCr;
                }
                (b'\n', size) => self.state = State::ChunkData(size),
                _ => self.refuse_next(),
            },
            State::ChunkDataCr => self.expect(byte, b'\r', State::ChunkDataLf),
            State::ChunkDataLf => self.expect(byte, b'\n', State::ChunkStart),
            State::EndCr => {
                self.state = if byte == b'\r' {
                    State::EndLf
                } else {
                    State::Trailer
                };
                self.count_trailer();
            }
            State::EndLf => self.expect(byte, b'\n', State::Between),
            State::Trailer => {
                if byte == b'\r' {
                    self.state = State::TrailerLf;
                }
                self.count_trailer();
            }
            State::TrailerLf => self.expect(byte, b'\n', State::EndCr),
            State::Body(_) | State::ChunkData(_) | State::Off => {}
        }
    }

    fn in_head(&self) -> bool {
        matches!(
            self.state,
            State::RequestLine
                | State::LineStart
                | State::HeadEndLf
                | State::Name
                | State::Value(_)
        )
    }

    fn expect(&mut self, byte: u8, wanted: u8, next: State) {
        if byte == wanted {
            self.state = next;
        } else {
            self.refuse_next();
        }
    }

    fn count_trailer(&mut self) {
        self.head.bytes += 1;
        if self.head.bytes > TRAILER_CAP {
            self.refuse_next();
        }
    }

    fn push_name(&mut self, byte: u8) {
        if self.head.name_len < NAME_CAP {
            self.head.name[self.head.name_len] = byte.to_ascii_lowercase();
        }
        self.head.name_len = self.head.name_len.saturating_add(1);
    }

    fn field(&self) -> Field {
        match self.head.name.get(..self.head.name_len) {
            Some(b"content-length") => Field::ContentLength,
            Some(b"transfer-encoding") => Field::TransferEncoding,
            Some(b"upgrade") => Field::Upgrade,
            _ => Field::Other,
        }
    }

    fn request_line_done(&mut self) {
        let line = &self.head.line[..self.head.line_len];
        if self.head.index == 0 && line.starts_with(b"PRI * HTTP/2.0") {
            // The HTTP/2 prior-knowledge preface (RFC 9113 §3.4): h2 frames its own bodies.
            self.state = State::Off;
            return;
        }
        self.head.upgrade = line.starts_with(b"CONNECT ");
        self.state = State::LineStart;
    }

    fn value_done(&mut self, field: Field) {
        let value = trim(&self.head.value[..self.head.value_len]);
        match field {
            Field::ContentLength => match (digits(value), self.head.content_length) {
                // hyper refuses a bad value and differing repeats (RFC 9112 §6.3 item 5).
                (None, _) => self.refuse_this(Refusal::Unparsable),
                (Some(length), Some(earlier)) if length != earlier => {
                    self.refuse_this(Refusal::Unparsable);
                }
                (Some(length), _) => self.head.content_length = Some(length),
            },
            Field::TransferEncoding => {
                // As hyper: each line decides; chunked must be the final coding (RFC 9112 §6.1).
                self.head.transfer_encoding = true;
                let last = value.rsplit(|&b| b == b',').next().unwrap_or_default();
                self.head.chunked = trim(last).eq_ignore_ascii_case(b"chunked");
            }
            Field::Upgrade => self.head.upgrade = true,
            Field::Other => {}
        }
    }

    fn head_done(&mut self) {
        let head = self.head;
        if head.transfer_encoding && head.content_length.is_some() {
            return self.refuse_this(Refusal::BothLengths);
        }
        if head.transfer_encoding && !head.chunked {
            // hyper answers 400 itself; nothing after it is read.
            return self.refuse_this(Refusal::Unparsable);
        }
        self.upgrading |= head.upgrade;
        self.state = match (head.transfer_encoding, head.content_length) {
            (true, _) => State::ChunkStart,
            (false, Some(length)) if length > 0 => State::Body(length),
            _ => State::Between,
        };
    }
}

/// RFC 9110 §5.6.2 `tchar`, as a table: header names are checked byte by byte.
const TOKEN: [bool; 256] = {
    let mut table = [false; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        table[byte] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        byte += 1;
    }
    table
};

fn is_token(byte: u8) -> bool {
    TOKEN[usize::from(byte)]
}

/// The first LF in `bytes` (header values are most of a head's bytes: a SIMD search).
fn find_lf(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

fn hex(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Strips a trailing CR (the line ending) and surrounding blanks, as httparse does.
fn trim(value: &[u8]) -> &[u8] {
    let value = value.strip_suffix(b"\r").unwrap_or(value);
    let start = value
        .iter()
        .position(|&b| b != b' ' && b != b'\t')
        .unwrap_or(value.len());
    let end = value
        .iter()
        .rposition(|&b| b != b' ' && b != b'\t')
        .map_or(start, |at| at + 1);
    value.get(start..end).unwrap_or_default()
}

/// A `Content-Length` value: one decimal number, nothing else (no sign, no list).
fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &b| {
        let digit = char::from(b).to_digit(10)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LIMIT: usize = 64 * 1024;

    fn scan(bytes: &[u8]) -> (u64, Option<(u64, Refusal)>) {
        let mut scanner = Scanner::new(LIMIT);
        scanner.feed(bytes);
        (scanner.heads(), scanner.refusal())
    }

    #[test]
    fn keep_alive_requests_are_counted_and_never_refused() {
        let stream = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
            POST /x HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
            \r\n\r\nPOST /y HTTP/1.1\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n\
            3;ext=1\r\nabc\r\n0\r\nX-T: 1\r\n\r\n\
            GET /z HTTP/1.1\nHost: a\n\n";
        assert_eq!(scan(stream), (4, None));
    }

    #[test]
    fn both_lengths_are_refused_in_either_order_and_any_case() {
        for head in [
            "POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-LENGTH: 0\r\n\r\n",
            "POST / HTTP/1.1\r\nTRANSFER-ENCODING:chunked\r\nContent-Length:4\r\n\r\n",
        ] {
            let stream = format!("GET / HTTP/1.1\r\n\r\n{head}0\r\n\r\n");
            assert_eq!(
                scan(stream.as_bytes()),
                (2, Some((1, Refusal::BothLengths))),
                "{head:?}"
            );
        }
    }

    #[test]
    fn a_body_that_looks_like_a_head_is_skipped() {
        let body = "GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        let stream = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}\
             POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
            body.len(),
            body.len()
        );
        assert_eq!(scan(stream.as_bytes()), (2, None));
    }

    #[test]
    fn unparsable_framing_refuses_the_head_or_the_next_one() {
        for (stream, refusal) in [
            (
                &b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"[..],
                1,
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX",
                1,
            ),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\nabc",
                1,
            ),
            (
                b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
                0,
            ),
            (b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n", 0),
            (b"GET / HTTP/1.1\r\nX-Folded: a\r\n b\r\n\r\n", 0),
            (b"GET / HTTP/1.1\r\nX-Bad : a\r\n\r\n", 0),
            (
                b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
                0,
            ),
        ] {
            let (_, found) = scan(stream);
            assert_eq!(
                found,
                Some((refusal, Refusal::Unparsable)),
                "{:?}",
                String::from_utf8_lossy(stream)
            );
        }
    }

    #[test]
    fn a_head_over_the_limit_is_refused() {
        let head = format!("GET / HTTP/1.1\r\nX-Big: {}\r\n\r\n", "a".repeat(LIMIT));
        assert_eq!(scan(head.as_bytes()), (1, Some((0, Refusal::Unparsable))));
    }

    #[test]
    fn http2_preface_turns_the_watch_off_and_opaque_bytes_after_an_upgrade_do_too() {
        let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00garbage";
        assert_eq!(scan(preface), (1, None));
        let upgraded = b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n\x81\x05hello";
        assert_eq!(scan(upgraded), (2, None));
        let connect = b"CONNECT a:443 HTTP/1.1\r\n\r\n\x16\x03\x01\x02\x00\x01";
        assert_eq!(scan(connect), (2, None));
        // A refused upgrade cannot hide a later request.
        let refused = b"GET / HTTP/1.1\r\nUpgrade: h2c\r\n\r\n\
            POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(scan(refused), (2, Some((1, Refusal::BothLengths))));
        // A refusal on an upgrade head still counts.
        let both = b"GET / HTTP/1.1\r\nUpgrade: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(scan(both), (1, Some((0, Refusal::BothLengths))));
    }

    #[test]
    fn find_lf_finds_the_first_lf_at_any_position() {
        for len in 0..40 {
            for at in 0..=len {
                let mut bytes = vec![b'a'; len];
                if at < len {
                    bytes[at] = b'\n';
                    if at + 3 < len {
                        bytes[at + 3] = b'\n';
                    }
                }
                let expected = (at < len).then_some(at);
                assert_eq!(find_lf(&bytes), expected, "{len} {at}");
            }
        }
        assert_eq!(find_lf(b"\x8a\x0b\x09\xff\x0a"), Some(4));
    }

    #[derive(Debug, Clone)]
    enum Framing {
        None,
        Length(Vec<u8>),
        Chunked(Vec<Vec<u8>>, bool),
    }

    /// Leading empty lines, headers, body.
    type TestRequest = (u8, Vec<(String, String)>, Framing);

    fn request() -> impl Strategy<Value = TestRequest> {
        let header = ("[A-Za-z][A-Za-z0-9-]{0,24}", "[ -~]{0,40}")
            .prop_filter("not a framing header", |(name, _)| {
                let name = name.to_ascii_lowercase();
                name != "content-length" && name != "transfer-encoding" && name != "upgrade"
            })
            .prop_map(|(name, value)| (name, value.trim().to_owned()));
        let body = prop::collection::vec(any::<u8>(), 0..300);
        let framing = prop_oneof![
            Just(Framing::None),
            body.clone().prop_map(Framing::Length),
            (prop::collection::vec(body, 0..4), any::<bool>())
                .prop_map(|(chunks, trailer)| Framing::Chunked(chunks, trailer)),
        ];
        (0u8..3, prop::collection::vec(header, 0..6), framing)
    }

    fn render(requests: &[TestRequest]) -> Vec<u8> {
        let mut out = Vec::new();
        for (blank_lines, headers, framing) in requests {
            for _ in 0..*blank_lines {
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"POST /p?q=1 HTTP/1.1\r\nHost: gateway\r\n");
            for (name, value) in headers {
                out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
            }
            match framing {
                Framing::None => out.extend_from_slice(b"\r\n"),
                Framing::Length(body) => {
                    out.extend_from_slice(
                        format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
                    );
                    out.extend_from_slice(body);
                }
                Framing::Chunked(chunks, trailer) => {
                    out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                    for chunk in chunks.iter().filter(|c| !c.is_empty()) {
                        out.extend_from_slice(format!("{:X};e=v\r\n", chunk.len()).as_bytes());
                        out.extend_from_slice(chunk);
                        out.extend_from_slice(b"\r\n");
                    }
                    out.extend_from_slice(b"0\r\n");
                    if *trailer {
                        out.extend_from_slice(b"X-Checksum: abc\r\n");
                    }
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        out
    }

    proptest! {
        #[test]
        fn a_valid_stream_is_counted_and_never_refused(
            requests in prop::collection::vec(request(), 1..6),
        ) {
            let stream = render(&requests);
            prop_assert_eq!(scan(&stream), (requests.len() as u64, None));
        }

        #[test]
        fn any_split_into_reads_gives_the_same_answer(
            requests in prop::collection::vec(request(), 1..6),
            both_at in any::<prop::sample::Index>(),
            cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
        ) {
            let mut stream = render(&requests);
            // Half the cases end with a CL + TE request after the valid ones.
            if both_at.index(2) == 0 {
                stream.extend_from_slice(
                    b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                );
            }
            let whole = scan(&stream);
            let mut cuts: Vec<usize> = cuts.iter().map(|i| i.index(stream.len() + 1)).collect();
            cuts.sort_unstable();
            let mut scanner = Scanner::new(LIMIT);
            let mut from = 0;
            for cut in cuts.into_iter().chain([stream.len()]) {
                scanner.feed(&stream[from..cut]);
                from = cut;
            }
            prop_assert_eq!((scanner.heads(), scanner.refusal()), whole);
        }

        #[test]
        fn arbitrary_bytes_give_the_same_answer_in_any_split(
            bytes in prop::collection::vec(any::<u8>(), 0..2000),
            piece in 1usize..64,
        ) {
            // A small limit so that the head cap is reached too.
            let mut whole = Scanner::new(100);
            whole.feed(&bytes);
            let mut split = Scanner::new(100);
            for chunk in bytes.chunks(piece) {
                split.feed(chunk);
            }
            prop_assert_eq!(
                (split.heads(), split.refusal()),
                (whole.heads(), whole.refusal())
            );
        }
    }
}
