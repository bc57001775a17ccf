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
    let both =
        b"GET / HTTP/1.1\r\nUpgrade: x\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
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
                out.extend_from_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
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
