//! Incremental RESP2 request parser: multibulk (`*N\r\n$L\r\n...`) and inline
//! (`PING\r\n`, quoted arguments) requests, fed bytes split at any point.
//!
//! It keeps its position between calls, so a 512 MB bulk arriving in 16 KB reads is
//! scanned once, and it never allocates from a length a client declared: limits are
//! checked first, with Redis's names and error texts.

use crate::util::parse_i64;

/// Redis's `PROTO_INLINE_MAX_SIZE`: an inline request or a `*`/`$` header line longer
/// than this without a newline is a protocol error.
pub const INLINE_MAX_BYTES: usize = 64 * 1024;
/// Redis 7.0's cap on the argument count of one multibulk request (INT_MAX; older
/// Redis used 1024*1024). Memory stays bounded: argument slots are reserved as they
/// arrive, under `client-query-buffer-limit`.
pub const MULTIBULK_MAX_ARGS: i64 = i32::MAX as i64;
/// Before AUTH, Redis allows at most this many arguments ...
pub const UNAUTH_MAX_ARGS: i64 = 10;
/// ... and bulks of at most this many bytes.
pub const UNAUTH_MAX_BULK_BYTES: i64 = 16 * 1024;

#[derive(Debug, Clone, Copy)]
pub struct ParseLimits {
    pub proto_max_bulk_len_bytes: u64,
    pub authenticated: bool,
}

/// Where the arguments of a parsed command live: ranges into the query buffer for a
/// multibulk request, into the parser's scratch buffer for an inline one.
#[derive(Debug, Default)]
pub struct Request {
    pub ranges: Vec<(usize, usize)>,
    pub inline: bool,
    /// Bytes of the query buffer this request used; the caller drops them after running it.
    pub consumed_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl ProtocolError {
    /// The error line Redis sends before closing the connection.
    pub fn reply_text(&self) -> String {
        format!("ERR Protocol error: {}", self.0)
    }
}

#[derive(Debug, Default)]
pub struct RequestParser {
    /// Arguments still to read for the multibulk request in progress (None: none in progress).
    pending_args: Option<usize>,
    /// Parse position in the query buffer, past the parts already read.
    pos: usize,
    /// Argument ranges read so far for the request in progress.
    ranges: Vec<(usize, usize)>,
    /// Unquoted inline arguments.
    pub scratch: Vec<u8>,
}

fn find_lf(buf: &[u8], from: usize) -> Option<usize> {
    buf.get(from..)?
        .iter()
        .position(|&b| b == b'\n')
        .map(|i| from + i)
}

/// The end of a `*`/`$` header as Redis reads it: the first `\r`, which must have one
/// more byte after it (taken as the `\n` without checking, as Redis does). Returns the
/// index of that byte, so `buf[from..end]` is the header with its `\r`.
fn find_header_end(buf: &[u8], from: usize) -> Option<usize> {
    let cr = buf.get(from..)?.iter().position(|&b| b == b'\r')? + from;
    (cr + 1 < buf.len()).then_some(cr + 1)
}

impl RequestParser {
    /// Parses the next complete request in `buf`. `Ok(None)`: need more bytes. The
    /// returned request's ranges index `buf` (or `self.scratch` when `inline`).
    /// `buf` must start where the previous complete request ended and may only grow
    /// between calls that return `Ok(None)`.
    pub fn next_request(
        &mut self,
        buf: &[u8],
        limits: ParseLimits,
        out: &mut Request,
    ) -> Result<Option<()>, ProtocolError> {
        loop {
            if self.pending_args.is_none() {
                // Skip blank lines between requests, as Redis does for inline.
                let Some(&first) = buf.get(self.pos) else {
                    return Ok(None);
                };
                if first != b'*' {
                    return self.parse_inline(buf, out);
                }
                let Some(nl) = find_header_end(buf, self.pos) else {
                    if buf.len() - self.pos > INLINE_MAX_BYTES {
                        return Err(ProtocolError("too big mbulk count string".into()));
                    }
                    return Ok(None);
                };
                let line = strip_cr(&buf[self.pos + 1..nl]);
                if nl - self.pos > INLINE_MAX_BYTES {
                    return Err(ProtocolError("too big mbulk count string".into()));
                }
                let count = match parse_i64(line) {
                    Some(n) if n <= MULTIBULK_MAX_ARGS => n,
                    _ => return Err(ProtocolError("invalid multibulk length".into())),
                };
                if !limits.authenticated && count > UNAUTH_MAX_ARGS {
                    return Err(ProtocolError("unauthenticated multibulk length".into()));
                }
                self.pos = nl + 1;
                if count <= 0 {
                    // `*0` and `*-1` are empty requests: skip them.
                    out.ranges.clear();
                    out.inline = false;
                    out.consumed_bytes = self.pos;
                    self.pos = 0;
                    return Ok(Some(()));
                }
                // Bounded reservation: never trust the declared count for memory.
                self.ranges.clear();
                self.ranges.reserve((count as usize).min(1024));
                self.pending_args = Some(count as usize);
            }
            let Some(remaining) = self.pending_args else {
                continue;
            };
            if remaining == 0 {
                out.ranges.clear();
                std::mem::swap(&mut out.ranges, &mut self.ranges);
                out.inline = false;
                out.consumed_bytes = self.pos;
                self.pending_args = None;
                self.pos = 0;
                return Ok(Some(()));
            }
            // One bulk: `$len\r\n<len bytes>\r\n`.
            let Some(&marker) = buf.get(self.pos) else {
                return Ok(None);
            };
            if marker != b'$' {
                return Err(ProtocolError(expected_dollar(marker)));
            }
            let Some(nl) = find_header_end(buf, self.pos) else {
                if buf.len() - self.pos > INLINE_MAX_BYTES {
                    return Err(ProtocolError("too big bulk count string".into()));
                }
                return Ok(None);
            };
            if nl - self.pos > INLINE_MAX_BYTES {
                return Err(ProtocolError("too big bulk count string".into()));
            }
            let len = match parse_i64(strip_cr(&buf[self.pos + 1..nl])) {
                Some(n) if n >= 0 && (n as u64) <= limits.proto_max_bulk_len_bytes => n,
                _ => return Err(ProtocolError("invalid bulk length".into())),
            };
            if !limits.authenticated && len > UNAUTH_MAX_BULK_BYTES {
                return Err(ProtocolError("unauthenticated bulk length".into()));
            }
            let start = nl + 1;
            let len = len as usize;
            // Need the payload plus its CRLF.
            let Some(end) = start.checked_add(len) else {
                return Err(ProtocolError("invalid bulk length".into()));
            };
            if buf.len() < end + 2 {
                return Ok(None);
            }
            self.ranges.push((start, end));
            self.pos = end + 2;
            self.pending_args = Some(remaining - 1);
        }
    }

    fn parse_inline(&mut self, buf: &[u8], out: &mut Request) -> Result<Option<()>, ProtocolError> {
        let Some(nl) = find_lf(buf, self.pos) else {
            if buf.len() - self.pos > INLINE_MAX_BYTES {
                return Err(ProtocolError("too big inline request".into()));
            }
            return Ok(None);
        };
        if nl - self.pos > INLINE_MAX_BYTES {
            return Err(ProtocolError("too big inline request".into()));
        }
        let line = strip_cr(&buf[self.pos..nl]);
        self.scratch.clear();
        out.ranges.clear();
        if !split_args(line, &mut self.scratch, &mut out.ranges) {
            return Err(ProtocolError("unbalanced quotes in request".into()));
        }
        out.inline = true;
        out.consumed_bytes = nl + 1;
        self.pos = 0;
        Ok(Some(()))
    }
}

fn expected_dollar(got: u8) -> String {
    format!("expected '$', got '{}'", got as char)
}

fn strip_cr(line: &[u8]) -> &[u8] {
    match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    }
}

fn hex_val(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// Redis's `sdssplitargs`: splits a line into arguments with double-quote escapes
/// (`\n \r \t \b \a \\ \" \xHH`) and single quotes (`\'` only). Appends the unquoted
/// bytes to `scratch` and their ranges to `ranges`; false on unbalanced quotes or a
/// closing quote not followed by a space.
pub fn split_args(line: &[u8], scratch: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> bool {
    let mut i = 0usize;
    let n = line.len();
    loop {
        while i < n && line[i].is_ascii_whitespace() {
            i += 1;
        }
        if i >= n {
            return true;
        }
        let start = scratch.len();
        let mut in_dq = false;
        let mut in_sq = false;
        loop {
            if in_dq {
                if i >= n {
                    return false;
                }
                let c = line[i];
                if c == b'\\'
                    && i + 3 < n
                    && line[i + 1] == b'x'
                    && hex_val(line[i + 2]).is_some()
                    && hex_val(line[i + 3]).is_some()
                {
                    let hi = hex_val(line[i + 2]).unwrap_or(0);
                    let lo = hex_val(line[i + 3]).unwrap_or(0);
                    scratch.push(hi * 16 + lo);
                    i += 3;
                } else if c == b'\\' && i + 1 < n {
                    i += 1;
                    scratch.push(match line[i] {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 8,
                        b'a' => 7,
                        other => other,
                    });
                } else if c == b'"' {
                    // A closing quote must be followed by a space or the end.
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return false;
                    }
                    i += 1;
                    break;
                } else {
                    scratch.push(c);
                }
            } else if in_sq {
                if i >= n {
                    return false;
                }
                let c = line[i];
                if c == b'\\' && i + 1 < n && line[i + 1] == b'\'' {
                    i += 1;
                    scratch.push(b'\'');
                } else if c == b'\'' {
                    if i + 1 < n && !line[i + 1].is_ascii_whitespace() {
                        return false;
                    }
                    i += 1;
                    break;
                } else {
                    scratch.push(c);
                }
            } else {
                if i >= n {
                    break;
                }
                match line[i] {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => {
                        i += 1;
                        break;
                    }
                    b'"' => in_dq = true,
                    b'\'' => in_sq = true,
                    c => scratch.push(c),
                }
            }
            i += 1;
        }
        ranges.push((start, scratch.len()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: ParseLimits = ParseLimits {
        proto_max_bulk_len_bytes: 512 * 1024 * 1024,
        authenticated: true,
    };

    fn parse_all(input: &[u8], limits: ParseLimits) -> Result<Vec<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = RequestParser::default();
        let mut buf = input.to_vec();
        let mut out = Vec::new();
        let mut req = Request::default();
        while p.next_request(&buf, limits, &mut req)?.is_some() {
            let src = if req.inline { &p.scratch } else { &buf };
            out.push(
                req.ranges
                    .iter()
                    .map(|&(s, e)| src[s..e].to_vec())
                    .collect::<Vec<_>>(),
            );
            buf.drain(..req.consumed_bytes);
        }
        Ok(out)
    }

    #[test]
    fn multibulk_and_inline() {
        let got = parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n", LIMITS).unwrap();
        assert_eq!(
            got,
            vec![vec![b"GET".to_vec(), b"k".to_vec()], vec![b"PING".to_vec()]]
        );
        let got = parse_all(b"set \"a b\" 'c\\'d' \"\\x41\\n\"\n", LIMITS).unwrap();
        assert_eq!(
            got,
            vec![vec![
                b"set".to_vec(),
                b"a b".to_vec(),
                b"c'd".to_vec(),
                b"A\n".to_vec()
            ]]
        );
    }

    #[test]
    fn limits_and_errors() {
        assert_eq!(
            parse_all(b"*2147483648\r\n", LIMITS),
            Err(ProtocolError("invalid multibulk length".into()))
        );
        let unauth = ParseLimits {
            authenticated: false,
            ..LIMITS
        };
        // Redis checks proto-max-bulk-len first, then the unauthenticated limit.
        assert_eq!(
            parse_all(b"*1\r\n$2147483648\r\n", unauth),
            Err(ProtocolError("invalid bulk length".into()))
        );
        assert_eq!(
            parse_all(b"*1\r\n$16385\r\n", unauth),
            Err(ProtocolError("unauthenticated bulk length".into()))
        );
        assert_eq!(
            parse_all(b"*1\r\n$536870913\r\n", LIMITS),
            Err(ProtocolError("invalid bulk length".into()))
        );
        assert_eq!(
            parse_all(b"*1\r\n+x\r\n", LIMITS),
            Err(ProtocolError("expected '$', got '+'".into()))
        );
        assert_eq!(
            parse_all(b"set \"a\r\n", LIMITS),
            Err(ProtocolError("unbalanced quotes in request".into()))
        );
        // Headers end at '\r', as in Redis: a bare '\n' is part of the number.
        assert_eq!(
            parse_all(b"*1\r\n$4\nPING\r\n", LIMITS),
            Err(ProtocolError("invalid bulk length".into()))
        );
        assert!(parse_all(b"*1\n$4\nPING\n", LIMITS).unwrap().is_empty());
        assert!(parse_all(b"*0\r\n*-1\r\n", LIMITS)
            .unwrap()
            .iter()
            .all(|r| r.is_empty()));
    }

    proptest::proptest! {
        #[test]
        fn split_anywhere_gives_same_requests(
            args in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20), 1..6),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let mut wire = format!("*{}\r\n", args.len()).into_bytes();
            for a in &args {
                wire.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
                wire.extend_from_slice(a);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(&wire.clone());
            let whole = parse_all(&wire, LIMITS).unwrap();
            // Feed in pieces.
            let mut p = RequestParser::default();
            let mut buf = Vec::new();
            let mut got = Vec::new();
            let mut req = Request::default();
            let mut cut_points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
            cut_points.sort();
            cut_points.push(wire.len());
            let mut prev = 0;
            for c in cut_points {
                buf.extend_from_slice(&wire[prev..c]);
                prev = c;
                while p.next_request(&buf, LIMITS, &mut req).unwrap().is_some() {
                    got.push(req.ranges.iter().map(|&(s, e)| buf[s..e].to_vec()).collect::<Vec<_>>());
                    buf.drain(..req.consumed_bytes);
                }
            }
            proptest::prop_assert_eq!(whole, got);
        }
    }
}
