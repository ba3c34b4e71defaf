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
    out.push(b'*');
    crate::util::write_i64(out, args.len() as i64);
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        crate::util::write_i64(out, a.len() as i64);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
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
