//! Incremental RESP2 request parser: multibulk (`*N\r\n$L\r\n...`) and inline
//! (`PING\r\n`, quoted arguments) requests, fed bytes split at any point.
//!
//! It keeps its position between calls, so a 512 MB bulk arriving in 16 KB reads is
//! scanned once, and it never allocates from a length a client declared: limits are
//! checked first, with Redis's names and error texts. It must never panic on what a
//! client sends: every read of the buffer is checked.

use crate::util::{c_str, parse_i64};

/// Redis's `PROTO_INLINE_MAX_SIZE`: when this many unparsed bytes hold no end for the
/// inline request or `*`/`$` header at their start, that is a protocol error. A line
/// whose end is already in the buffer is read whatever its length, as Redis does.
pub const INLINE_MAX_BYTES: usize = 64 * 1024;
/// Redis 7.0's cap on the argument count of one multibulk request (INT_MAX; older
/// Redis used 1024*1024). Memory stays bounded: argument slots are reserved as they
/// arrive, under `client-query-buffer-limit`.
pub const MULTIBULK_MAX_ARGS: i64 = i32::MAX as i64;
/// Before AUTH, Redis allows at most this many arguments ...
pub const UNAUTH_MAX_ARGS: i64 = 10;
/// ... and bulks of at most this many bytes.
pub const UNAUTH_MAX_BULK_BYTES: u64 = 16 * 1024;
/// Argument slots reserved up front for a multibulk request, whatever count it declares.
const RESERVED_ARGS_MAX: usize = 1024;

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

/// A request Redis refuses; it replies [`ProtocolError::reply_text`] and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    TooBigInline,
    UnbalancedQuotes,
    TooBigMultibulkCount,
    InvalidMultibulkLength,
    UnauthenticatedMultibulkLength,
    TooBigBulkCount,
    /// The byte found where a bulk's `$` should be.
    ExpectedDollar(u8),
    InvalidBulkLength,
    UnauthenticatedBulkLength,
}

impl ProtocolError {
    /// The error line Redis sends before closing the connection. Bytes, not text: the
    /// byte of `ExpectedDollar` is the client's, sent back as it came (Redis's `%c`).
    pub fn reply_text(&self) -> Vec<u8> {
        let what: &[u8] = match self {
            ProtocolError::TooBigInline => b"too big inline request",
            ProtocolError::UnbalancedQuotes => b"unbalanced quotes in request",
            ProtocolError::TooBigMultibulkCount => b"too big mbulk count string",
            ProtocolError::InvalidMultibulkLength => b"invalid multibulk length",
            ProtocolError::UnauthenticatedMultibulkLength => b"unauthenticated multibulk length",
            ProtocolError::TooBigBulkCount => b"too big bulk count string",
            ProtocolError::ExpectedDollar(got) => {
                return [
                    &b"ERR Protocol error: expected '$', got '"[..],
                    &[*got],
                    b"'",
                ]
                .concat();
            }
            ProtocolError::InvalidBulkLength => b"invalid bulk length",
            ProtocolError::UnauthenticatedBulkLength => b"unauthenticated bulk length",
        };
        [&b"ERR Protocol error: "[..], what].concat()
    }

    /// Why, for the log line: Redis's `setProtocolError` reasons.
    pub fn reason(&self) -> &'static str {
        match self {
            ProtocolError::TooBigInline => "too big inline request",
            ProtocolError::UnbalancedQuotes => "unbalanced quotes in inline request",
            ProtocolError::TooBigMultibulkCount => "too big mbulk count string",
            ProtocolError::InvalidMultibulkLength => "invalid mbulk count",
            ProtocolError::UnauthenticatedMultibulkLength => "unauthenticated multibulk length",
            ProtocolError::TooBigBulkCount => "too big bulk count string",
            ProtocolError::ExpectedDollar(_) => "expected $ but got something else",
            ProtocolError::InvalidBulkLength => "invalid bulk length",
            ProtocolError::UnauthenticatedBulkLength => "unauthenticated bulk length",
        }
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

/// Redis's `strchr(querybuf + from, stop)`: the first `stop` byte at or after `from`,
/// unless a NUL comes first. The query buffer is a C string to `strchr`, so a NUL
/// hides every line end after it: Redis then waits for more bytes (and refuses the
/// request once [`INLINE_MAX_BYTES`] have piled up), and so does keel.
fn find_before_nul(buf: &[u8], from: usize, stop: u8) -> Option<usize> {
    let rest = buf.get(from..)?;
    let at = rest.iter().position(|&b| b == stop || b == 0)?;
    (rest.get(at) == Some(&stop)).then_some(from + at)
}

/// The first `\r` at or after `from`: where Redis ends a `*`/`$` header, if no NUL
/// comes first (see [`find_before_nul`]). The NUL is looked for only when the header
/// does not parse ([`header_refused`]): one that parses holds none, and this search is
/// on the hottest path there is.
fn find_cr(buf: &[u8], from: usize) -> Option<usize> {
    let at = buf.get(from..)?.iter().position(|&b| b == b'\r')?;
    from.checked_add(at)
}

fn nul_in(buf: &[u8], from: usize, to: usize) -> bool {
    buf.get(from..to).is_some_and(|bytes| bytes.contains(&0))
}

/// The header at `from` has no end Redis can see yet: no `\r` (or a NUL before it), or
/// a `\r` (`cr`) that is the last byte, so the `\n` it takes unchecked is missing.
/// Redis waits, but refuses once more than [`INLINE_MAX_BYTES`] are waiting with no
/// `\r` found.
fn header_incomplete(
    buf: &[u8],
    from: usize,
    cr: Option<usize>,
    too_big: ProtocolError,
) -> Result<Option<()>, ProtocolError> {
    let cr_unseen = cr.is_none_or(|cr| nul_in(buf, from, cr));
    if cr_unseen && buf.len().saturating_sub(from) > INLINE_MAX_BYTES {
        return Err(too_big);
    }
    Ok(None)
}

/// A complete header at `from..cr` that does not parse: `error`, unless a NUL before
/// the `\r` hid it from Redis, which then still waits for the header's end.
fn header_refused(
    buf: &[u8],
    from: usize,
    cr: usize,
    too_big: ProtocolError,
    error: ProtocolError,
) -> Result<Option<()>, ProtocolError> {
    if nul_in(buf, from, cr) {
        return header_incomplete(buf, from, None, too_big);
    }
    Err(error)
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
            let Some(remaining) = self.pending_args else {
                let Some(&first) = buf.get(self.pos) else {
                    return Ok(None);
                };
                if first != b'*' {
                    return self.parse_inline(buf, out);
                }
                let too_big = ProtocolError::TooBigMultibulkCount;
                let cr = match find_cr(buf, self.pos) {
                    Some(cr) if cr + 1 < buf.len() => cr,
                    cr => return header_incomplete(buf, self.pos, cr, too_big),
                };
                // Any header longer than a number fails here, with Redis's text.
                let digits = buf.get(self.pos + 1..cr).unwrap_or_default();
                let count = match parse_i64(digits) {
                    Some(n) if n <= MULTIBULK_MAX_ARGS => n,
                    _ => {
                        let invalid = ProtocolError::InvalidMultibulkLength;
                        return header_refused(buf, self.pos, cr, too_big, invalid);
                    }
                };
                if !limits.authenticated && count > UNAUTH_MAX_ARGS {
                    return Err(ProtocolError::UnauthenticatedMultibulkLength);
                }
                self.pos = cr + 2;
                // `*0` and `*-1` are empty requests: skip them.
                let Some(count) = usize::try_from(count).ok().filter(|&n| n > 0) else {
                    out.ranges.clear();
                    out.inline = false;
                    out.consumed_bytes = self.pos;
                    self.pos = 0;
                    return Ok(Some(()));
                };
                // Bounded reservation: never trust the declared count for memory.
                self.ranges.clear();
                self.ranges.reserve(count.min(RESERVED_ARGS_MAX));
                self.pending_args = Some(count);
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
            // One bulk: `$len\r\n<len bytes>\r\n`. Redis finds the header's end before
            // it looks at the `$`: `*1\r\n+x` waits for more, `*1\r\n+x\r\n` is refused.
            let too_big = ProtocolError::TooBigBulkCount;
            let cr = match find_cr(buf, self.pos) {
                Some(cr) if cr + 1 < buf.len() => cr,
                cr => return header_incomplete(buf, self.pos, cr, too_big),
            };
            if let Some(&marker) = buf.get(self.pos).filter(|&&b| b != b'$') {
                let expected = ProtocolError::ExpectedDollar(marker);
                return header_refused(buf, self.pos, cr, too_big, expected);
            }
            let digits = buf.get(self.pos + 1..cr).unwrap_or_default();
            let len = match parse_i64(digits).and_then(|n| u64::try_from(n).ok()) {
                Some(n) if n <= limits.proto_max_bulk_len_bytes => n,
                _ => {
                    let invalid = ProtocolError::InvalidBulkLength;
                    return header_refused(buf, self.pos, cr, too_big, invalid);
                }
            };
            if !limits.authenticated && len > UNAUTH_MAX_BULK_BYTES {
                return Err(ProtocolError::UnauthenticatedBulkLength);
            }
            let start = cr + 2;
            // Need the payload plus the two bytes after it (taken as its CRLF without
            // checking, as Redis does).
            let Some(next) = usize::try_from(len)
                .ok()
                .and_then(|len| start.checked_add(len)?.checked_add(2))
            else {
                return Err(ProtocolError::InvalidBulkLength);
            };
            if buf.len() < next {
                return Ok(None);
            }
            self.ranges.push((start, next - 2));
            self.pos = next;
            self.pending_args = Some(remaining - 1);
        }
    }

    fn parse_inline(&mut self, buf: &[u8], out: &mut Request) -> Result<Option<()>, ProtocolError> {
        let Some(nl) = find_before_nul(buf, self.pos, b'\n') else {
            if buf.len().saturating_sub(self.pos) > INLINE_MAX_BYTES {
                return Err(ProtocolError::TooBigInline);
            }
            return Ok(None);
        };
        let line = strip_cr(buf.get(self.pos..nl).unwrap_or_default());
        self.scratch.clear();
        out.ranges.clear();
        // find_before_nul stopped before any NUL: the line is a C string already.
        if !split_c_string(line, &mut self.scratch, &mut out.ranges) {
            return Err(ProtocolError::UnbalancedQuotes);
        }
        out.inline = true;
        out.consumed_bytes = nl + 1;
        self.pos = 0;
        Ok(Some(()))
    }
}

fn strip_cr(line: &[u8]) -> &[u8] {
    match line.split_last() {
        Some((b'\r', rest)) => rest,
        _ => line,
    }
}

/// C `isspace` in the C locale (Redis never sets `LC_CTYPE`): `\v` and `\f` count.
pub(crate) use crate::strtod::is_c_space;

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Redis's `sdssplitargs`, for inline requests and config lines: splits a line into
/// arguments with double-quote escapes (`\n \r \t \b \a \xHH`, `\<any>`) and single
/// quotes (`\'` only); a closing quote must be followed by a space or the end. Appends
/// the unquoted bytes to `scratch` and their ranges to `ranges`; false on unbalanced
/// quotes. It reads a C string, so a NUL byte ends the line.
pub fn split_args(line: &[u8], scratch: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> bool {
    split_c_string(c_str(line), scratch, ranges)
}

/// [`split_args`] of a line that holds no NUL (an inline request, which ends before
/// any NUL), so it need not be looked for again.
fn split_c_string(line: &[u8], scratch: &mut Vec<u8>, ranges: &mut Vec<(usize, usize)>) -> bool {
    debug_assert!(!line.contains(&0), "a C string ends at its first NUL");
    // `*p` in Redis's C: past the end it reads the terminating NUL.
    let at = |k: usize| line.get(k).copied().unwrap_or(0);
    let mut i = 0usize;
    loop {
        while at(i) != 0 && is_c_space(at(i)) {
            i = i.saturating_add(1);
        }
        if at(i) == 0 {
            return true;
        }
        let start = scratch.len();
        let (mut in_double, mut in_single, mut done) = (false, false, false);
        while !done {
            let c = at(i);
            if in_double {
                let escaped_hex = match (
                    at(i.saturating_add(1)),
                    at(i.saturating_add(2)),
                    at(i.saturating_add(3)),
                ) {
                    (b'x', hi, lo) => hex_digit(hi).zip(hex_digit(lo)),
                    _ => None,
                };
                if let (b'\\', Some((hi, lo))) = (c, escaped_hex) {
                    scratch.push((hi << 4) | lo);
                    i = i.saturating_add(3);
                } else if c == b'\\' && at(i.saturating_add(1)) != 0 {
                    i = i.saturating_add(1);
                    scratch.push(match at(i) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    let next = at(i.saturating_add(1));
                    if next != 0 && !is_c_space(next) {
                        return false;
                    }
                    done = true;
                } else if c == 0 {
                    return false;
                } else {
                    scratch.push(c);
                }
            } else if in_single {
                if c == b'\\' && at(i.saturating_add(1)) == b'\'' {
                    i = i.saturating_add(1);
                    scratch.push(b'\'');
                } else if c == b'\'' {
                    let next = at(i.saturating_add(1));
                    if next != 0 && !is_c_space(next) {
                        return false;
                    }
                    done = true;
                } else if c == 0 {
                    return false;
                } else {
                    scratch.push(c);
                }
            } else {
                // The plain bytes up to whatever ends or quotes the argument, copied in
                // one go (most inline arguments are nothing else); then that byte: a
                // space, \t, \r or \n ends the argument, as does the end of the line.
                let rest = line.get(i..).unwrap_or_default();
                let plain = rest
                    .iter()
                    .position(|&b| matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b'"' | b'\''))
                    .unwrap_or(rest.len());
                scratch.extend_from_slice(rest.get(..plain).unwrap_or_default());
                i = i.saturating_add(plain);
                match at(i) {
                    b'"' => in_double = true,
                    b'\'' => in_single = true,
                    _ => done = true,
                }
            }
            if at(i) != 0 {
                i = i.saturating_add(1);
            }
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
            Err(ProtocolError::InvalidMultibulkLength)
        );
        let unauth = ParseLimits {
            authenticated: false,
            ..LIMITS
        };
        // Redis checks proto-max-bulk-len first, then the unauthenticated limit.
        assert_eq!(
            parse_all(b"*1\r\n$2147483648\r\n", unauth),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n$16385\r\n", unauth),
            Err(ProtocolError::UnauthenticatedBulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n$536870913\r\n", LIMITS),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert_eq!(
            parse_all(b"*1\r\n+x\r\n", LIMITS),
            Err(ProtocolError::ExpectedDollar(b'+'))
        );
        assert_eq!(
            parse_all(b"set \"a\r\n", LIMITS),
            Err(ProtocolError::UnbalancedQuotes)
        );
        // Headers end at '\r', as in Redis: a bare '\n' is part of the number.
        assert_eq!(
            parse_all(b"*1\r\n$4\nPING\r\n", LIMITS),
            Err(ProtocolError::InvalidBulkLength)
        );
        assert!(parse_all(b"*1\n$4\nPING\n", LIMITS).unwrap().is_empty());
        assert!(parse_all(b"*0\r\n*-1\r\n", LIMITS)
            .unwrap()
            .iter()
            .all(|r| r.is_empty()));
    }

    /// Feeds `input` once and reports what the parser says about its first request:
    /// Ok(None) when it waits for more bytes.
    fn first(input: &[u8]) -> Result<Option<Vec<Vec<u8>>>, ProtocolError> {
        let mut p = RequestParser::default();
        let mut req = Request::default();
        if p.next_request(input, LIMITS, &mut req)?.is_none() {
            return Ok(None);
        }
        let src: &[u8] = if req.inline { &p.scratch } else { input };
        Ok(Some(
            req.ranges
                .iter()
                .map(|&(s, e)| src[s..e].to_vec())
                .collect(),
        ))
    }

    #[test]
    fn long_lines_are_read_when_their_end_is_in_the_buffer() {
        // Redis refuses a line only while INLINE_MAX_BYTES unparsed bytes hold no end.
        let long = vec![b'a'; INLINE_MAX_BYTES + 100];
        let line = [&b"ECHO "[..], &long, b"\r\n"].concat();
        assert_eq!(first(&line), Ok(Some(vec![b"ECHO".to_vec(), long.clone()])));
        assert_eq!(first(&line[..INLINE_MAX_BYTES]), Ok(None));
        assert_eq!(
            first(&line[..INLINE_MAX_BYTES + 1]),
            Err(ProtocolError::TooBigInline)
        );
        // A complete overlong header is read, and is then no number.
        let digits = vec![b'1'; INLINE_MAX_BYTES + 100];
        let count = [&b"*"[..], &digits, b"\r\n"].concat();
        assert_eq!(first(&count), Err(ProtocolError::InvalidMultibulkLength));
        assert_eq!(
            first(&count[..INLINE_MAX_BYTES + 1]),
            Err(ProtocolError::TooBigMultibulkCount)
        );
        let bulk = [&b"*1\r\n$"[..], &digits, b"\r\n"].concat();
        assert_eq!(first(&bulk), Err(ProtocolError::InvalidBulkLength));
        assert_eq!(
            first(&bulk[..INLINE_MAX_BYTES + 5]),
            Err(ProtocolError::TooBigBulkCount)
        );
    }

    #[test]
    fn a_nul_hides_the_line_end_as_strchr_does() {
        assert_eq!(first(b"SET a b\0c\r\nGET a\r\n"), Ok(None));
        assert_eq!(first(b"ECHO \"b\0c\"\r\n"), Ok(None));
        assert_eq!(first(b"*1\0\r\n$4\r\nPING\r\n"), Ok(None));
        assert_eq!(first(b"*1\r\n$4\0\r\nPING\r\n"), Ok(None));
        assert_eq!(first(b"*1\r\n\0x\r\n"), Ok(None));
        // Inside a bulk a NUL is just a byte.
        assert_eq!(
            first(b"*1\r\n$4\r\nPI\0G\r\n"),
            Ok(Some(vec![b"PI\0G".to_vec()]))
        );
        let mut stuck = b"SET a b\0c\r\n".to_vec();
        stuck.resize(INLINE_MAX_BYTES + 1, b'x');
        assert_eq!(first(&stuck), Err(ProtocolError::TooBigInline));
    }

    #[test]
    fn the_dollar_is_checked_once_the_header_is_complete() {
        assert_eq!(first(b"*1\r\n+x"), Ok(None));
        assert_eq!(first(b"*1\r\n+x\r"), Ok(None));
        assert_eq!(
            first(b"*1\r\n+x\r\n"),
            Err(ProtocolError::ExpectedDollar(b'+'))
        );
        assert_eq!(
            first(b"*1\r\n\xad\r\n"),
            Err(ProtocolError::ExpectedDollar(0xad))
        );
        assert_eq!(
            ProtocolError::ExpectedDollar(0xad).reply_text(),
            b"ERR Protocol error: expected '$', got '\xad'"
        );
    }

    #[test]
    fn split_args_like_sdssplitargs() {
        let words = |line: &[u8]| {
            let (mut scratch, mut ranges) = (Vec::new(), Vec::new());
            split_args(line, &mut scratch, &mut ranges).then(|| {
                ranges
                    .iter()
                    .map(|&(s, e)| scratch[s..e].to_vec())
                    .collect::<Vec<_>>()
            })
        };
        // A NUL ends the line (C string), in quotes too.
        assert_eq!(
            words(b"SET a b\0c"),
            Some(vec![b"SET".to_vec(), b"a".to_vec(), b"b".to_vec()])
        );
        assert_eq!(words(b"SET \"a\0b\""), None);
        // C isspace: \v and \f separate arguments and may follow a closing quote, but
        // inside an unquoted argument only space, \t, \r and \n end it.
        assert_eq!(words(b"\x0bPING"), Some(vec![b"PING".to_vec()]));
        assert_eq!(words(b"'a'\x0bb"), Some(vec![b"a".to_vec(), b"b".to_vec()]));
        assert_eq!(words(b"a\x0bb\x0cc"), Some(vec![b"a\x0bb\x0cc".to_vec()]));
        assert_eq!(words(b"\"\\x4\""), Some(vec![b"x4".to_vec()]));
        assert_eq!(words(b"\"a\\"), None);
    }

    proptest::proptest! {
        #[test]
        fn split_anywhere_gives_same_requests(
            args in proptest::collection::vec(proptest::collection::vec(proptest::prelude::any::<u8>(), 0..20), 1..6),
            cuts in proptest::collection::vec(0usize..200, 0..8),
        ) {
            let mut wire = crate::resp::encode_request(&args);
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
