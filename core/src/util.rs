//! Number parsing and formatting exactly as Redis does it (`string2ll`, `ld2string`),
//! shared by the parser and the commands.

/// What C's `printf("%.*s", max_bytes, arg)` prints of a client argument: at most
/// `max_bytes` bytes, ending early at the first NUL. Redis formats arguments it echoes
/// in error texts this way, so keel's texts must cut them at the same byte.
pub fn c_str_prefix(arg: &[u8], max_bytes: usize) -> &[u8] {
    let head = arg.get(..max_bytes).unwrap_or(arg);
    match head.iter().position(|&b| b == 0) {
        Some(nul) => head.get(..nul).unwrap_or(head),
        None => head,
    }
}

/// `%s` of a client argument: up to its first NUL (see [`c_str_prefix`]).
pub fn c_str(arg: &[u8]) -> &[u8] {
    c_str_prefix(arg, usize::MAX)
}

/// Redis's `string2ll`: strict decimal i64 — no sign `+`, no leading zeros, no spaces,
/// no `-0`, at most 20 bytes, overflow rejected.
pub fn parse_i64(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((b - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Redis's `getLongDoubleFromObject` for INCRBYFLOAT and friends: a decimal or
/// exponent float, no surrounding spaces, not NaN or infinite.
pub fn parse_f64(s: &[u8]) -> Option<f64> {
    let (Some(first), Some(last)) = (s.first(), s.last()) else {
        return None;
    };
    if s.len() > 5000 || first.is_ascii_whitespace() || last.is_ascii_whitespace() {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    // strtold accepts hex floats and "inf"/"nan"; Redis then rejects NaN/inf. Rust's
    // parser accepts "inf", "infinity", "nan": rejected below too.
    let v: f64 = text.parse().ok()?;
    if v.is_nan() || v.is_infinite() {
        return None;
    }
    Some(v)
}

/// Appends the decimal text of `n`.
pub fn write_i64(out: &mut Vec<u8>, n: i64) {
    // u64::MAX has 20 digits: the buffer always has room. Digits come last first.
    let mut buf = [0u8; 20];
    let mut len = 0;
    let mut v = n.unsigned_abs();
    for slot in buf.iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if n < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(buf.get(buf.len() - len..).unwrap_or_default());
}

pub fn i64_to_bytes(n: i64) -> Vec<u8> {
    let mut v = Vec::with_capacity(20);
    write_i64(&mut v, n);
    v
}

/// Human-friendly float text as Redis's INCRBYFLOAT prints it: no exponent, no
/// trailing zeros. Redis computes in `long double`; keel in f64 (documented).
pub fn fmt_f64(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return "0".into();
    }
    let s = format!("{v}");
    s
}

/// Appends `bytes` quoted like Redis's `sdscatrepr` (MONITOR lines).
pub fn push_repr(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_integers() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-1"), Some(-1));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-0",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"9223372036854775808",
            b"1a",
            b"-",
        ] {
            assert_eq!(parse_i64(bad), None, "{:?}", bad);
        }
    }

    #[test]
    fn repr_quotes_as_sdscatrepr() {
        let mut out = Vec::new();
        push_repr(&mut out, b"a\"b\\\r\n\t\x07\x08\x00\xff ~");
        assert_eq!(out, br#""a\"b\\\r\n\t\a\b\x00\xff ~""#.to_vec());
    }

    #[test]
    fn floats() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"5.0e3"), Some(5000.0));
        assert_eq!(parse_f64(b"inf"), None);
        assert_eq!(parse_f64(b"nan"), None);
        assert_eq!(parse_f64(b" 1"), None);
        assert_eq!(fmt_f64(10.6), "10.6");
        assert_eq!(fmt_f64(5000.0), "5000");
        assert_eq!(fmt_f64(1e20), "100000000000000000000");
    }
}
