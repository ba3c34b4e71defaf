//! RESP: the request parser (RESP2 multibulk and inline), the reply encoder (RESP2
//! and RESP3), the request encoder and the value codec every reply reader shares.
//! Pure byte work: no sockets, no allocation from declared lengths.

pub mod parser;
pub mod reply;
pub mod value;

pub use parser::{ParseLimits, ProtocolError, Request, RequestParser};
pub use reply::{Proto, ReplyBuf};
pub use value::{decode, element_frames, frame_len, DecodeError, Value};

/// Appends one request as a RESP multibulk (`*N` then `$len` bulks): the one request
/// encoder the propagation consumers, the simulator and every test use.
pub fn encode_request_into<A: AsRef<[u8]>>(out: &mut Vec<u8>, args: &[A]) {
    length_line(out, b'*', args.len());
    for a in args {
        let a = a.as_ref();
        length_line(out, b'$', a.len());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// `<lead><n>\r\n`, with the one- and two-digit lengths of most arguments written
/// without the integer formatter.
#[inline]
pub fn length_line(out: &mut Vec<u8>, lead: u8, n: usize) {
    if n < 10 {
        out.extend_from_slice(&[lead, b'0' + n as u8, b'\r', b'\n']);
    } else if n < 100 {
        out.extend_from_slice(&[
            lead,
            b'0' + (n / 10) as u8,
            b'0' + (n % 10) as u8,
            b'\r',
            b'\n',
        ]);
    } else {
        out.push(lead);
        crate::util::write_i64(out, n as i64);
        out.extend_from_slice(b"\r\n");
    }
}

/// One request as a RESP multibulk.
pub fn encode_request<A: AsRef<[u8]>>(args: &[A]) -> Vec<u8> {
    let mut out = Vec::new();
    encode_request_into(&mut out, args);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn requests_encode_as_multibulk() {
        assert_eq!(
            super::encode_request(&["SET", "k", ""]),
            b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
        );
        let none: [&[u8]; 0] = [];
        assert_eq!(super::encode_request(&none), b"*0\r\n");
    }
}
