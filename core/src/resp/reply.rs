//! The reply encoder: writes RESP2 or RESP3 into a client's output buffer.
//!
//! Commands write replies through this one type, so the protocol switch (`HELLO 3`)
//! and the RESP2 fallbacks (maps as flat arrays, nulls as `$-1`) live in one place.

use crate::util::{fmt_f64, write_i64};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Resp2,
    Resp3,
}

/// Output buffer plus the protocol the client speaks.
///
/// It refuses to grow past its limit (the client's `client-output-buffer-limit` hard
/// limit less what the driver still holds for it): once a write would cross it, the
/// buffer is *over* and takes nothing more until it is reset, so a client that never
/// reads cannot make one command (or a pipeline of them) build gigabytes of replies.
/// The node closes such a client, as Redis's `closeClientOnOutputBufferLimitReached`.
#[derive(Debug)]
pub struct ReplyBuf {
    bytes: Vec<u8>,
    pub proto: Proto,
    /// Length this buffer must stay under; 0 once it went over.
    limit_bytes: usize,
    /// While a command runs under CLIENT REPLY OFF/SKIP: the (start, end) of each
    /// push (pub/sub message, subscription confirmation) it wrote, which Redis
    /// delivers anyway (`CLIENT_PUSHING`); None otherwise.
    pushes: Option<Vec<(usize, usize)>>,
}

/// Longest RESP header a reply writes: tag, sign, 19 digits, CRLF.
const HEADER_MAX_BYTES: usize = 23;

impl Default for ReplyBuf {
    fn default() -> Self {
        ReplyBuf {
            bytes: Vec::new(),
            proto: Proto::Resp2,
            limit_bytes: usize::MAX,
            pushes: None,
        }
    }
}

impl ReplyBuf {
    pub fn new(proto: Proto) -> Self {
        ReplyBuf {
            proto,
            ..ReplyBuf::default()
        }
    }

    /// True when `extra` more bytes keep the buffer under its limit; otherwise marks
    /// it over (for good: every later write is refused too).
    #[inline]
    fn room(&mut self, extra: usize) -> bool {
        if self.bytes.len().saturating_add(extra) < self.limit_bytes {
            true
        } else {
            self.limit_bytes = 0;
            false
        }
    }

    /// Sets how long the buffer may grow (`usize::MAX`: no limit). A buffer already
    /// over stays over.
    pub fn set_limit(&mut self, limit_bytes: usize) {
        if self.limit_bytes != 0 {
            self.limit_bytes = limit_bytes.max(1);
            if self.bytes.len() >= self.limit_bytes {
                self.limit_bytes = 0;
            }
        }
    }

    /// A write was refused because the buffer reached its limit.
    pub fn over_limit(&self) -> bool {
        self.limit_bytes == 0
    }

    /// The bytes written so far.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// Drops what was written from `len` on (CLIENT REPLY OFF/SKIP).
    pub fn truncate(&mut self, len: usize) {
        self.bytes.truncate(len);
    }

    /// Starts remembering where pushes are written (a command under CLIENT REPLY
    /// OFF/SKIP runs).
    pub fn record_pushes(&mut self) {
        self.pushes = Some(Vec::new());
    }

    pub fn stop_recording_pushes(&mut self) {
        self.pushes = None;
    }

    /// Marks what was written since `start` as a push.
    pub fn mark_push(&mut self, start: usize) {
        if let Some(pushes) = self.pushes.as_mut() {
            pushes.push((start, self.bytes.len()));
        }
    }

    /// Drops what was written from `len` on except the pushes, and stops recording
    /// them: a silenced command's replies go, its pub/sub pushes stay, in order.
    pub fn truncate_keeping_pushes(&mut self, len: usize) {
        let pushes = self.pushes.take().unwrap_or_default();
        let kept: Vec<u8> = pushes
            .iter()
            .filter(|&&(start, _)| start >= len)
            .filter_map(|&(start, end)| self.bytes.get(start..end))
            .flatten()
            .copied()
            .collect();
        self.bytes.truncate(len);
        self.bytes.extend_from_slice(&kept);
    }

    /// Drops everything written and frees the allocation.
    pub fn discard(&mut self) {
        self.bytes = Vec::new();
    }

    /// Hands out what was written, leaving an empty buffer with `next_capacity`.
    pub fn take(&mut self, next_capacity: usize) -> Vec<u8> {
        std::mem::replace(&mut self.bytes, Vec::with_capacity(next_capacity))
    }

    fn header(&mut self, tag: u8, n: i64) {
        if !self.room(HEADER_MAX_BYTES) {
            return;
        }
        self.bytes.push(tag);
        write_i64(&mut self.bytes, n);
        self.bytes.extend_from_slice(b"\r\n");
    }

    /// A line `<tag><text>\r\n` whose text is trusted to hold no newline.
    fn line(&mut self, tag: u8, text: &[u8]) {
        if !self.room(text.len() + 3) {
            return;
        }
        self.bytes.push(tag);
        self.bytes.extend_from_slice(text);
        self.bytes.extend_from_slice(b"\r\n");
    }

    pub fn simple(&mut self, s: &str) {
        self.line(b'+', s.as_bytes());
    }

    pub fn ok(&mut self) {
        self.line(b'+', b"OK");
    }

    /// An error line. `msg` carries its own code ("ERR ...", "WRONGTYPE ..."); newlines
    /// are turned into spaces so the reply stays one line, as Redis does.
    pub fn error(&mut self, msg: &str) {
        self.error_bytes(msg.as_bytes());
    }

    /// [`ReplyBuf::error`] for a text that echoes client bytes: they go out as the client
    /// sent them (Redis formats them with `%s`, so no UTF-8 repair), except `\r` and `\n`,
    /// which become spaces so the reply stays one line (Redis's `sdsmapchars`).
    pub fn error_bytes(&mut self, msg: &[u8]) {
        if !self.room(msg.len() + 3) {
            return;
        }
        self.bytes.push(b'-');
        self.bytes.extend(
            msg.iter()
                .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
        );
        self.bytes.extend_from_slice(b"\r\n");
    }

    /// An error formatted the way Redis's `addReplyErrorFormat` does it: `\r` and `\n`
    /// at either end are trimmed (`sdstrim`) before the rest become spaces. Only matters
    /// for texts that end with client bytes ("Unsupported option <arg>").
    pub fn error_format_bytes(&mut self, msg: &[u8]) {
        let is_newline = |b: &u8| *b == b'\r' || *b == b'\n';
        let start = msg.iter().position(|b| !is_newline(b)).unwrap_or(msg.len());
        let end = msg
            .iter()
            .rposition(|b| !is_newline(b))
            .map_or(start, |i| i + 1);
        self.error_bytes(msg.get(start..end).unwrap_or_default());
    }

    pub fn int(&mut self, n: i64) {
        self.header(b':', n);
    }

    pub fn bulk(&mut self, data: &[u8]) {
        if !self.room(data.len().saturating_add(HEADER_MAX_BYTES + 2)) {
            return;
        }
        self.header(b'$', data.len() as i64);
        self.bytes.extend_from_slice(data);
        self.bytes.extend_from_slice(b"\r\n");
    }

    /// A big number: `(` in RESP3, a bulk string in RESP2.
    pub fn big_number(&mut self, digits: &[u8]) {
        match self.proto {
            Proto::Resp2 => self.bulk(digits),
            Proto::Resp3 => self.line(b'(', digits),
        }
    }

    /// A RESP3 attribute header (`|`) of `pairs` entries; RESP2 has none (callers skip
    /// the attribute there).
    pub fn attribute(&mut self, pairs: usize) {
        self.header(b'|', pairs as i64);
    }

    /// A RESP3 push header (`>`); callers write the RESP2 form (an array) themselves.
    pub fn push(&mut self, len: usize) {
        self.header(b'>', len as i64);
    }

    /// A bulk whose text is an integer (GET of an int-encoded string).
    pub fn bulk_i64(&mut self, n: i64) {
        let mut tmp = Vec::with_capacity(20);
        write_i64(&mut tmp, n);
        self.bulk(&tmp);
    }

    /// Null bulk: `$-1` in RESP2, `_` in RESP3.
    pub fn null(&mut self) {
        match self.proto {
            Proto::Resp2 => self.line(b'$', b"-1"),
            Proto::Resp3 => self.line(b'_', b""),
        }
    }

    /// Null array: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        match self.proto {
            Proto::Resp2 => self.line(b'*', b"-1"),
            Proto::Resp3 => self.line(b'_', b""),
        }
    }

    pub fn array(&mut self, len: usize) {
        self.header(b'*', len as i64);
    }

    /// A map of `pairs` entries: `%` in RESP3, a flat array in RESP2.
    pub fn map(&mut self, pairs: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', (pairs * 2) as i64),
            Proto::Resp3 => self.header(b'%', pairs as i64),
        }
    }

    /// A set: `~` in RESP3, an array in RESP2.
    pub fn set(&mut self, len: usize) {
        match self.proto {
            Proto::Resp2 => self.header(b'*', len as i64),
            Proto::Resp3 => self.header(b'~', len as i64),
        }
    }

    /// A double: `,` in RESP3, a bulk string in RESP2.
    pub fn double(&mut self, v: f64) {
        self.double_text(fmt_f64(v).as_bytes());
    }

    /// A double already formatted (`%.17g` scores): `,` in RESP3, a bulk in RESP2.
    pub fn double_text(&mut self, text: &[u8]) {
        match self.proto {
            Proto::Resp2 => self.bulk(text),
            Proto::Resp3 => self.line(b',', text),
        }
    }

    pub fn boolean(&mut self, v: bool) {
        match self.proto {
            Proto::Resp2 => self.int(v as i64),
            Proto::Resp3 => self.line(b'#', if v { b"t" } else { b"f" }),
        }
    }

    /// Verbatim text (`=` with a `txt:` prefix in RESP3, a bulk string in RESP2), as
    /// Redis sends INFO and CLIENT LIST.
    pub fn verbatim(&mut self, text: &[u8]) {
        match self.proto {
            Proto::Resp2 => self.bulk(text),
            Proto::Resp3 => {
                if !self.room(text.len().saturating_add(HEADER_MAX_BYTES + 6)) {
                    return;
                }
                self.header(b'=', text.len() as i64 + 4);
                self.bytes.extend_from_slice(b"txt:");
                self.bytes.extend_from_slice(text);
                self.bytes.extend_from_slice(b"\r\n");
            }
        }
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resp2_and_resp3() {
        let mut r = ReplyBuf::default();
        r.map(1);
        r.bulk(b"k");
        r.null();
        r.double(1.5);
        r.error("ERR a\r\nb");
        assert_eq!(
            r.bytes,
            b"*2\r\n$1\r\nk\r\n$-1\r\n$3\r\n1.5\r\n-ERR a  b\r\n"
        );
        let mut r = ReplyBuf::new(Proto::Resp3);
        r.map(1);
        r.bulk(b"k");
        r.null();
        r.double(1.5);
        r.boolean(true);
        assert_eq!(r.bytes, b"%1\r\n$1\r\nk\r\n_\r\n,1.5\r\n#t\r\n");
    }

    #[test]
    fn a_limited_buffer_refuses_what_would_cross_the_limit_and_everything_after() {
        let mut r = ReplyBuf::default();
        r.set_limit(64);
        r.bulk(b"small");
        let before = r.as_bytes().to_vec();
        r.bulk(&[b'x'; 100]);
        assert!(r.over_limit());
        assert_eq!(
            r.as_bytes(),
            &before[..],
            "nothing of the big reply written"
        );
        r.ok();
        r.int(1);
        assert_eq!(r.as_bytes(), &before[..], "nothing after it either");
        r.set_limit(usize::MAX);
        assert!(r.over_limit(), "over stays over");
    }

    #[test]
    fn every_writer_respects_the_limit() {
        type Writer = fn(&mut ReplyBuf);
        let writers: [Writer; 13] = [
            |r| r.simple("PONG"),
            |r| r.ok(),
            |r| r.error("ERR x"),
            |r| r.int(-12345),
            |r| r.bulk(b"abcdef"),
            |r| r.push(3),
            |r| r.null(),
            |r| r.null_array(),
            |r| r.array(7),
            |r| r.map(2),
            |r| r.double(1.25),
            |r| r.boolean(true),
            |r| r.verbatim(b"text"),
        ];
        for proto in [Proto::Resp2, Proto::Resp3] {
            for (i, w) in writers.iter().enumerate() {
                for limit in 1..40 {
                    let mut r = ReplyBuf::new(proto);
                    r.set_limit(limit);
                    w(&mut r);
                    assert!(
                        r.as_bytes().len() < limit,
                        "writer {i} wrote {} bytes under limit {limit}",
                        r.as_bytes().len()
                    );
                }
            }
        }
    }

    #[test]
    fn errors_keep_client_bytes() {
        let mut r = ReplyBuf::default();
        r.error_bytes(b"ERR '\xad\x00' a\r\nb\n");
        r.error_format_bytes(b"ERR option x\xad\r\n");
        r.error_format_bytes(b"ERR option \r\n");
        r.error_format_bytes(b"\n\r");
        assert_eq!(
            r.bytes,
            b"-ERR '\xad\x00' a  b \r\n-ERR option x\xad\r\n-ERR option \r\n-\r\n"
        );
    }
}
