//! The byte classes the scanner reads a head with, as httparse and hyper read them: header-name
//! tokens, the LF search, hex digits of a chunk size, trimmed values, a `Content-Length` number.

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

pub(super) fn is_token(byte: u8) -> bool {
    TOKEN[usize::from(byte)]
}

/// The first LF in `bytes` (header values are most of a head's bytes: a SIMD search).
pub(super) fn find_lf(bytes: &[u8]) -> Option<usize> {
    memchr::memchr(b'\n', bytes)
}

pub(super) fn hex(byte: u8) -> Option<u8> {
    char::from(byte)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Strips a trailing CR (the line ending) and surrounding blanks, as httparse does.
pub(super) fn trim(value: &[u8]) -> &[u8] {
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
pub(super) fn digits(value: &[u8]) -> Option<u64> {
    if value.is_empty() {
        return None;
    }
    value.iter().try_fold(0u64, |n, &b| {
        let digit = char::from(b).to_digit(10)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}
