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
#[derive(Debug)]
pub struct ReplyBuf {
    pub bytes: Vec<u8>,
    pub proto: Proto,
}

impl Default for ReplyBuf {
    fn default() -> Self {
        ReplyBuf {
            bytes: Vec::new(),
            proto: Proto::Resp2,
        }
    }
}

impl ReplyBuf {
    fn header(&mut self, tag: u8, n: i64) {
        self.bytes.push(tag);
        write_i64(&mut self.bytes, n);
        self.bytes.extend_from_slice(b"\r\n");
    }

    pub fn simple(&mut self, s: &str) {
        self.bytes.push(b'+');
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.extend_from_slice(b"\r\n");
    }

    pub fn ok(&mut self) {
        self.bytes.extend_from_slice(b"+OK\r\n");
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
        self.header(b'$', data.len() as i64);
        self.bytes.extend_from_slice(data);
        self.bytes.extend_from_slice(b"\r\n");
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
            Proto::Resp2 => self.bytes.extend_from_slice(b"$-1\r\n"),
            Proto::Resp3 => self.bytes.extend_from_slice(b"_\r\n"),
        }
    }

    /// Null array: `*-1` in RESP2, `_` in RESP3.
    pub fn null_array(&mut self) {
        match self.proto {
            Proto::Resp2 => self.bytes.extend_from_slice(b"*-1\r\n"),
            Proto::Resp3 => self.bytes.extend_from_slice(b"_\r\n"),
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
        let text = fmt_f64(v);
        match self.proto {
            Proto::Resp2 => self.bulk(text.as_bytes()),
            Proto::Resp3 => {
                self.bytes.push(b',');
                self.bytes.extend_from_slice(text.as_bytes());
                self.bytes.extend_from_slice(b"\r\n");
            }
        }
    }

    pub fn boolean(&mut self, v: bool) {
        match self.proto {
            Proto::Resp2 => self.int(v as i64),
            Proto::Resp3 => self
                .bytes
                .extend_from_slice(if v { b"#t\r\n" } else { b"#f\r\n" }),
        }
    }

    /// Verbatim text (`=` with a `txt:` prefix in RESP3, a bulk string in RESP2), as
    /// Redis sends INFO and CLIENT LIST.
    pub fn verbatim(&mut self, text: &[u8]) {
        match self.proto {
            Proto::Resp2 => self.bulk(text),
            Proto::Resp3 => {
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
        let mut r = ReplyBuf {
            bytes: Vec::new(),
            proto: Proto::Resp3,
        };
        r.map(1);
        r.bulk(b"k");
        r.null();
        r.double(1.5);
        r.boolean(true);
        assert_eq!(r.bytes, b"%1\r\n$1\r\nk\r\n_\r\n,1.5\r\n#t\r\n");
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
