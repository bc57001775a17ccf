//! The scanner's per-byte state machine: what one byte of a request line, a header, the end of
//! a head or a chunked body's framing (size line, data CRLF, trailers) does to the state, and
//! what a finished length header or head decides (the body to skip, or a refusal).

use super::bytes::{digits, hex, is_token, trim};
use super::{Field, Head, LINE_CAP, NAME_CAP, Refusal, Scanner, State, TRAILER_CAP, VALUE_CAP};

impl Scanner {
    /// One byte of a head or of a chunked body's framing.
    pub(super) fn step(&mut self, byte: u8) {
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

    pub(super) fn in_head(&self) -> bool {
        matches!(
            self.state,
            State::RequestLine
                | State::LineStart
                | State::HeadEndLf
                | State::Name
                | State::Value(_)
        )
    }

    pub(super) fn expect(&mut self, byte: u8, wanted: u8, next: State) {
        if byte == wanted {
            self.state = next;
        } else {
            self.refuse_next();
        }
    }

    pub(super) fn count_trailer(&mut self) {
        self.head.bytes += 1;
        if self.head.bytes > TRAILER_CAP {
            self.refuse_next();
        }
    }

    pub(super) fn push_name(&mut self, byte: u8) {
        if self.head.name_len < NAME_CAP {
            self.head.name[self.head.name_len] = byte.to_ascii_lowercase();
        }
        self.head.name_len = self.head.name_len.saturating_add(1);
    }

    pub(super) fn field(&self) -> Field {
        match self.head.name.get(..self.head.name_len) {
            Some(b"content-length") => Field::ContentLength,
            Some(b"transfer-encoding") => Field::TransferEncoding,
            Some(b"upgrade") => Field::Upgrade,
            _ => Field::Other,
        }
    }

    pub(super) fn request_line_done(&mut self) {
        let line = &self.head.line[..self.head.line_len];
        if self.head.index == 0 && line.starts_with(b"PRI * HTTP/2.0") {
            // The HTTP/2 prior-knowledge preface (RFC 9113 §3.4): h2 frames its own bodies.
            self.state = State::Off;
            return;
        }
        self.head.upgrade = line.starts_with(b"CONNECT ");
        self.state = State::LineStart;
    }

    pub(super) fn value_done(&mut self, field: Field) {
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

    pub(super) fn head_done(&mut self) {
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
