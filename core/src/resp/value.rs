//! RESP values (RESP2 and RESP3 replies, pushes and attributes) as data: one decoder
//! and one encoder for everything that reads replies — tests, tools, the simulator.
//! The decoder never panics and never allocates from a declared length; partial input
//! is `Ok(None)` ("need more"). Text types keep their bytes as sent (a double's text,
//! a big number's digits), so encoding a decoded reply gives back the same bytes.

/// One RESP value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// `+text`
    Simple(Vec<u8>),
    /// `-text`
    Error(Vec<u8>),
    /// `:n`
    Int(i64),
    /// `$n` then n bytes.
    Bulk(Vec<u8>),
    /// `$-1`, RESP2's null.
    NullBulk,
    /// `*n` then n values.
    Array(Vec<Value>),
    /// `*-1`, RESP2's null array.
    NullArray,
    /// `_`, RESP3's null.
    Null,
    /// `#t` / `#f`
    Bool(bool),
    /// `,text`: the double as sent (`1.5`, `inf`, `0.10000000000000001`).
    Double(Vec<u8>),
    /// `(digits`
    BigNumber(Vec<u8>),
    /// `!n` then n bytes.
    BulkError(Vec<u8>),
    /// `=n` then a 3-byte format, `:`, and the text.
    Verbatim { format: [u8; 3], text: Vec<u8> },
    /// `%n` then n key/value pairs.
    Map(Vec<(Value, Value)>),
    /// `~n` then n values.
    Set(Vec<Value>),
    /// `>n` then n values: an out-of-band message.
    Push(Vec<Value>),
    /// `|n` then n pairs, decorating the value that follows.
    Attribute {
        attrs: Vec<(Value, Value)>,
        value: Box<Value>,
    },
}

/// Nesting deeper than this is refused, so a hostile reply cannot exhaust the stack.
pub const MAX_DEPTH: usize = 128;
/// Elements reserved ahead for an aggregate, whatever its header claims.
const MAX_RESERVE: usize = 1024;

/// Bytes that are not RESP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A type byte RESP does not have.
    UnknownType { byte: u8, at: usize },
    /// A length or count that is not a number of the allowed range.
    BadLength { at: usize },
    /// A line that does not hold what its type requires (an integer, `t`/`f` ...).
    BadLine { at: usize },
    /// A bulk not followed by CRLF.
    MissingCrlf { at: usize },
    /// Nested more than `MAX_DEPTH` deep.
    TooDeep { at: usize },
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::UnknownType { byte, at } => {
                write!(f, "unknown type byte {:?} at {at}", *byte as char)
            }
            DecodeError::BadLength { at } => write!(f, "bad length at {at}"),
            DecodeError::BadLine { at } => write!(f, "bad line at {at}"),
            DecodeError::MissingCrlf { at } => write!(f, "bulk not followed by CRLF at {at}"),
            DecodeError::TooDeep { at } => write!(f, "nested over {MAX_DEPTH} deep at {at}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Decodes the one value at the start of `buf`: the value and the bytes it took,
/// `Ok(None)` when `buf` holds only part of it.
pub fn decode(buf: &[u8]) -> Result<Option<(Value, usize)>, DecodeError> {
    decode_at(buf, 0, 0)
}

/// The length of the one value at the start of `buf`, `Ok(None)` when incomplete.
pub fn frame_len(buf: &[u8]) -> Result<Option<usize>, DecodeError> {
    Ok(decode(buf)?.map(|(_, n)| n))
}

/// The type byte and the raw frames of the elements of the aggregate that `reply`
/// holds (a map's keys and values alternate; an attribute's pairs then its value);
/// None for a scalar, a null or anything incomplete or malformed. For reply surgery
/// that must keep the bytes exactly as sent.
pub fn element_frames(reply: &[u8]) -> Option<(u8, Vec<&[u8]>)> {
    let kind = *reply.first()?;
    let per_item = match kind {
        b'*' | b'~' | b'>' => 1,
        b'%' | b'|' => 2,
        _ => return None,
    };
    let (line, mut pos) = line_at(reply, 1).ok()??;
    let n = usize::try_from(parse_len(line, 1).ok()?).ok()?;
    let items = n.checked_mul(per_item)? + usize::from(kind == b'|');
    let mut out = Vec::with_capacity(items.min(MAX_RESERVE));
    for _ in 0..items {
        let len = frame_len(reply.get(pos..)?).ok()??;
        out.push(reply.get(pos..pos + len)?);
        pos += len;
    }
    Some((kind, out))
}

/// The line starting at `pos` (without CRLF) and the position after its CRLF.
fn line_at(buf: &[u8], pos: usize) -> Result<Option<(&[u8], usize)>, DecodeError> {
    let Some(rest) = buf.get(pos..) else {
        return Ok(None);
    };
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(i) => Ok(rest.get(..i).map(|line| (line, pos + i + 2))),
        None => Ok(None),
    }
}

/// A length or count: -1 (a null) or more.
fn parse_len(line: &[u8], at: usize) -> Result<i64, DecodeError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|t| t.parse::<i64>().ok())
        .filter(|&n| n >= -1)
        .ok_or(DecodeError::BadLength { at })
}

/// `n` bytes then CRLF starting at `pos`: the bytes and the position after.
fn blob_at(buf: &[u8], pos: usize, n: i64) -> Result<Option<(&[u8], usize)>, DecodeError> {
    let n = usize::try_from(n).map_err(|_| DecodeError::BadLength { at: pos })?;
    let end = pos
        .checked_add(n)
        .ok_or(DecodeError::BadLength { at: pos })?;
    let Some(crlf) = buf.get(end..end.saturating_add(2)) else {
        return Ok(None);
    };
    if crlf.len() < 2 {
        return Ok(None);
    }
    if crlf != b"\r\n" {
        return Err(DecodeError::MissingCrlf { at: end });
    }
    Ok(buf.get(pos..end).map(|b| (b, end + 2)))
}

type Decoded = Result<Option<(Value, usize)>, DecodeError>;

fn decode_at(buf: &[u8], pos: usize, depth: usize) -> Decoded {
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    if depth > MAX_DEPTH {
        return Err(DecodeError::TooDeep { at: pos });
    }
    let Some((line, after)) = line_at(buf, pos + 1)? else {
        return Ok(None);
    };
    let at = pos + 1;
    let value = match kind {
        b'+' => Value::Simple(line.to_vec()),
        b'-' => Value::Error(line.to_vec()),
        b':' => Value::Int(
            std::str::from_utf8(line)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or(DecodeError::BadLine { at })?,
        ),
        b'_' if line.is_empty() => Value::Null,
        b'#' => match line {
            b"t" => Value::Bool(true),
            b"f" => Value::Bool(false),
            _ => return Err(DecodeError::BadLine { at }),
        },
        b',' => Value::Double(line.to_vec()),
        b'(' => Value::BigNumber(line.to_vec()),
        b'$' | b'!' | b'=' => {
            let n = parse_len(line, at)?;
            if n == -1 {
                return match kind {
                    b'$' => Ok(Some((Value::NullBulk, after))),
                    _ => Err(DecodeError::BadLength { at }),
                };
            }
            let Some((blob, end)) = blob_at(buf, after, n)? else {
                return Ok(None);
            };
            let value = match kind {
                b'$' => Value::Bulk(blob.to_vec()),
                b'!' => Value::BulkError(blob.to_vec()),
                _ => match blob {
                    [a, b, c, b':', text @ ..] => Value::Verbatim {
                        format: [*a, *b, *c],
                        text: text.to_vec(),
                    },
                    _ => return Err(DecodeError::BadLine { at: after }),
                },
            };
            return Ok(Some((value, end)));
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n = parse_len(line, at)?;
            if n == -1 {
                return match kind {
                    b'*' => Ok(Some((Value::NullArray, after))),
                    _ => Err(DecodeError::BadLength { at }),
                };
            }
            return decode_aggregate(buf, kind, n.unsigned_abs(), after, depth);
        }
        _ => {
            return Err(DecodeError::UnknownType {
                byte: kind,
                at: pos,
            })
        }
    };
    Ok(Some((value, after)))
}

fn decode_aggregate(buf: &[u8], kind: u8, n: u64, mut pos: usize, depth: usize) -> Decoded {
    let reserve = usize::try_from(n).unwrap_or(usize::MAX).min(MAX_RESERVE);
    if matches!(kind, b'%' | b'|') {
        let mut pairs = Vec::with_capacity(reserve);
        for _ in 0..n {
            let Some((k, p)) = decode_at(buf, pos, depth + 1)? else {
                return Ok(None);
            };
            let Some((v, p)) = decode_at(buf, p, depth + 1)? else {
                return Ok(None);
            };
            pairs.push((k, v));
            pos = p;
        }
        if kind == b'%' {
            return Ok(Some((Value::Map(pairs), pos)));
        }
        let Some((value, end)) = decode_at(buf, pos, depth + 1)? else {
            return Ok(None);
        };
        let value = Box::new(value);
        return Ok(Some((
            Value::Attribute {
                attrs: pairs,
                value,
            },
            end,
        )));
    }
    let mut items = Vec::with_capacity(reserve);
    for _ in 0..n {
        let Some((v, p)) = decode_at(buf, pos, depth + 1)? else {
            return Ok(None);
        };
        items.push(v);
        pos = p;
    }
    let value = match kind {
        b'*' => Value::Array(items),
        b'~' => Value::Set(items),
        _ => Value::Push(items),
    };
    Ok(Some((value, pos)))
}

impl Value {
    /// The RESP bytes of this value.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the RESP bytes of this value to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        fn line(out: &mut Vec<u8>, tag: u8, text: &[u8]) {
            out.push(tag);
            out.extend_from_slice(text);
            out.extend_from_slice(b"\r\n");
        }
        fn header(out: &mut Vec<u8>, tag: u8, n: usize) {
            line(out, tag, n.to_string().as_bytes());
        }
        fn blob(out: &mut Vec<u8>, tag: u8, parts: &[&[u8]]) {
            header(out, tag, parts.iter().map(|p| p.len()).sum());
            for p in parts {
                out.extend_from_slice(p);
            }
            out.extend_from_slice(b"\r\n");
        }
        match self {
            Value::Simple(t) => line(out, b'+', t),
            Value::Error(t) => line(out, b'-', t),
            Value::Int(n) => line(out, b':', n.to_string().as_bytes()),
            Value::Bulk(b) => blob(out, b'$', &[b]),
            Value::NullBulk => out.extend_from_slice(b"$-1\r\n"),
            Value::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Value::Null => out.extend_from_slice(b"_\r\n"),
            Value::Bool(b) => line(out, b'#', if *b { b"t" } else { b"f" }),
            Value::Double(t) => line(out, b',', t),
            Value::BigNumber(t) => line(out, b'(', t),
            Value::BulkError(b) => blob(out, b'!', &[b]),
            Value::Verbatim { format, text } => blob(out, b'=', &[format, b":", text]),
            Value::Array(items) | Value::Set(items) | Value::Push(items) => {
                let tag = match self {
                    Value::Array(_) => b'*',
                    Value::Set(_) => b'~',
                    _ => b'>',
                };
                header(out, tag, items.len());
                for i in items {
                    i.encode_into(out);
                }
            }
            Value::Map(pairs) | Value::Attribute { attrs: pairs, .. } => {
                let tag = if matches!(self, Value::Map(_)) {
                    b'%'
                } else {
                    b'|'
                };
                header(out, tag, pairs.len());
                for (k, v) in pairs {
                    k.encode_into(out);
                    v.encode_into(out);
                }
                if let Value::Attribute { value, .. } = self {
                    value.encode_into(out);
                }
            }
        }
    }

    /// The bytes of a string-like value (simple, bulk, verbatim text, double text,
    /// big number, either error kind).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Simple(b)
            | Value::Error(b)
            | Value::Bulk(b)
            | Value::Double(b)
            | Value::BigNumber(b)
            | Value::BulkError(b)
            | Value::Verbatim { text: b, .. } => Some(b),
            _ => None,
        }
    }

    /// The elements of an array, set or push.
    pub fn as_items(&self) -> Option<&[Value]> {
        match self {
            Value::Array(items) | Value::Set(items) | Value::Push(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// Whether this is an error reply (simple or bulk).
    pub fn is_error(&self) -> bool {
        matches!(self, Value::Error(_) | Value::BulkError(_))
    }

    /// Whether this is a null of either protocol.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null | Value::NullBulk | Value::NullArray)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decoded(bytes: &[u8]) -> Value {
        let (v, n) = decode(bytes).unwrap().unwrap();
        assert_eq!(n, bytes.len(), "{:?}", String::from_utf8_lossy(bytes));
        v
    }

    #[test]
    fn every_type_decodes_and_encodes_back() {
        let cases: &[(&[u8], Value)] = &[
            (b"+OK\r\n", Value::Simple(b"OK".to_vec())),
            (b"-ERR no\r\n", Value::Error(b"ERR no".to_vec())),
            (b":-42\r\n", Value::Int(-42)),
            (b"$3\r\na\r\n\r\n", Value::Bulk(b"a\r\n".to_vec())),
            (b"$0\r\n\r\n", Value::Bulk(Vec::new())),
            (b"$-1\r\n", Value::NullBulk),
            (b"*-1\r\n", Value::NullArray),
            (b"*0\r\n", Value::Array(Vec::new())),
            (b"_\r\n", Value::Null),
            (b"#t\r\n", Value::Bool(true)),
            (b"#f\r\n", Value::Bool(false)),
            (
                b",0.10000000000000001\r\n",
                Value::Double(b"0.10000000000000001".to_vec()),
            ),
            (b",-inf\r\n", Value::Double(b"-inf".to_vec())),
            (
                b"(12345678901234567890\r\n",
                Value::BigNumber(b"12345678901234567890".to_vec()),
            ),
            (b"!3\r\nERR\r\n", Value::BulkError(b"ERR".to_vec())),
            (
                b"=7\r\ntxt:a:b\r\n",
                Value::Verbatim {
                    format: *b"txt",
                    text: b"a:b".to_vec(),
                },
            ),
            (
                b"*2\r\n:1\r\n*1\r\n+x\r\n",
                Value::Array(vec![
                    Value::Int(1),
                    Value::Array(vec![Value::Simple(b"x".to_vec())]),
                ]),
            ),
            (
                b"%1\r\n+k\r\n~2\r\n:1\r\n_\r\n",
                Value::Map(vec![(
                    Value::Simple(b"k".to_vec()),
                    Value::Set(vec![Value::Int(1), Value::Null]),
                )]),
            ),
            (
                b">2\r\n$7\r\nmessage\r\n$1\r\nc\r\n",
                Value::Push(vec![
                    Value::Bulk(b"message".to_vec()),
                    Value::Bulk(b"c".to_vec()),
                ]),
            ),
            (
                b"|1\r\n+key\r\n+val\r\n:5\r\n",
                Value::Attribute {
                    attrs: vec![(
                        Value::Simple(b"key".to_vec()),
                        Value::Simple(b"val".to_vec()),
                    )],
                    value: Box::new(Value::Int(5)),
                },
            ),
        ];
        for (bytes, want) in cases {
            assert_eq!(&decoded(bytes), want);
            assert_eq!(want.encode(), *bytes);
        }
    }

    #[test]
    fn partial_input_needs_more_and_trailing_bytes_are_left() {
        let whole = b"*2\r\n$3\r\nfoo\r\n%1\r\n+a\r\n:1\r\n";
        for cut in 0..whole.len() {
            assert_eq!(decode(&whole[..cut]), Ok(None), "cut at {cut}");
        }
        let mut more = whole.to_vec();
        more.extend_from_slice(b"+next\r\n");
        assert_eq!(decode(&more).unwrap().map(|(_, n)| n), Some(whole.len()));
        assert_eq!(frame_len(&more), Ok(Some(whole.len())));
        // A huge declared length is incomplete, not an allocation.
        assert_eq!(decode(b"*9223372036854775807\r\n:1\r\n"), Ok(None));
        assert_eq!(decode(b"$9223372036854775807\r\nab"), Ok(None));
    }

    #[test]
    fn malformed_input_is_an_error() {
        for bad in [
            &b"?x\r\n"[..],
            b":12a\r\n",
            b"$-2\r\n",
            b"$x\r\n",
            b"$1\r\nab\r\n",
            b"#x\r\n",
            b"_x\r\n",
            b"%-1\r\n",
            b"!-1\r\n",
            b"=2\r\nab\r\n",
            b"*1\r\n?\r\n",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "*1\r\n".repeat(MAX_DEPTH + 2) + ":1\r\n";
        assert!(matches!(
            decode(deep.as_bytes()),
            Err(DecodeError::TooDeep { .. })
        ));
    }

    #[test]
    fn element_frames_keep_bytes_as_sent() {
        let reply = b"%2\r\n+a\r\n:1\r\n+b\r\n*1\r\n:2\r\n";
        let (kind, items) = element_frames(reply).unwrap();
        assert_eq!(kind, b'%');
        assert_eq!(
            items,
            vec![&b"+a\r\n"[..], b":1\r\n", b"+b\r\n", b"*1\r\n:2\r\n"]
        );
        assert_eq!(element_frames(b"+OK\r\n"), None);
        assert_eq!(element_frames(b"*-1\r\n"), None);
        assert_eq!(element_frames(b"*2\r\n:1\r\n"), None);
        let (_, items) = element_frames(b"|1\r\n+k\r\n+v\r\n:5\r\n").unwrap();
        assert_eq!(items.len(), 3);
    }

    #[test]
    fn replies_the_writer_builds_decode() {
        use crate::resp::{Proto, ReplyBuf};
        for proto in [Proto::Resp2, Proto::Resp3] {
            let mut out = ReplyBuf::new(proto);
            out.map(2);
            out.bulk(b"k");
            out.double(1.5);
            out.bulk(b"b");
            out.boolean(true);
            out.verbatim(b"info");
            out.null();
            let bytes = out.as_bytes().to_vec();
            let mut pos = 0;
            let mut values = Vec::new();
            while let Some((v, n)) = decode(&bytes[pos..]).unwrap() {
                values.push(v);
                pos += n;
            }
            assert_eq!(pos, bytes.len());
            assert_eq!(values.len(), 3);
            let reencoded: Vec<u8> = values.iter().flat_map(Value::encode).collect();
            assert_eq!(reencoded, bytes);
        }
    }

    fn line_text() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
            0..8,
        )
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            line_text().prop_map(Value::Simple),
            line_text().prop_map(Value::Error),
            any::<i64>().prop_map(Value::Int),
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(Value::Bulk),
            Just(Value::NullBulk),
            Just(Value::NullArray),
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<f64>().prop_map(|f| Value::Double(f.to_string().into_bytes())),
            any::<i128>().prop_map(|n| Value::BigNumber(n.to_string().into_bytes())),
            proptest::collection::vec(any::<u8>(), 0..12).prop_map(Value::BulkError),
            (
                any::<[u8; 3]>(),
                proptest::collection::vec(any::<u8>(), 0..12)
            )
                .prop_map(|(format, text)| Value::Verbatim { format, text }),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Set),
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Push),
                proptest::collection::vec((inner.clone(), inner.clone()), 0..3)
                    .prop_map(Value::Map),
                (
                    proptest::collection::vec((inner.clone(), inner.clone()), 0..2),
                    inner
                )
                    .prop_map(|(attrs, v)| Value::Attribute {
                        attrs,
                        value: Box::new(v)
                    }),
            ]
        })
    }

    proptest! {
        /// Encode then decode gives the value back, taking every byte; every proper
        /// prefix needs more.
        #[test]
        fn round_trips(v in value(), trailing in proptest::collection::vec(any::<u8>(), 0..4)) {
            let bytes = v.encode();
            let mut with_trailing = bytes.clone();
            with_trailing.extend_from_slice(&trailing);
            prop_assert_eq!(decode(&with_trailing), Ok(Some((v.clone(), bytes.len()))));
            for cut in 0..bytes.len() {
                prop_assert_eq!(decode(&bytes[..cut]), Ok(None));
            }
        }

        /// Arbitrary bytes never panic, and whatever decodes encodes back to the bytes
        /// it took when they were canonical.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            if let Ok(Some((v, n))) = decode(&bytes) {
                prop_assert!(n <= bytes.len());
                let again = v.encode();
                prop_assert_eq!(decode(&again), Ok(Some((v, again.len()))));
            }
        }

        /// RESP-shaped noise (type bytes, digits, CRLFs) reaches the deeper paths.
        #[test]
        fn resp_shaped_noise_never_panics(
            parts in proptest::collection::vec(
                prop_oneof![
                    Just(&b"*"[..]), Just(&b"%"[..]), Just(&b"|"[..]), Just(&b"$"[..]),
                    Just(&b"="[..]), Just(&b"!"[..]), Just(&b"_"[..]), Just(&b"#"[..]),
                    Just(&b"-1"[..]), Just(&b"2"[..]), Just(&b"9999999999999999999"[..]),
                    Just(&b"\r\n"[..]), Just(&b"txt:"[..]), Just(&b":"[..]), Just(&b"t"[..]),
                ],
                0..24,
            )
        ) {
            let bytes = parts.concat();
            let _ = decode(&bytes);
            let _ = element_frames(&bytes);
        }
    }
}
