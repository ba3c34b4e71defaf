//! The string type with Redis's three encodings as `OBJECT ENCODING` reports them:
//! `int` (a canonical i64), `embstr` (≤ 44 bytes, never modified in place) and `raw`.
//! Storage is keel's own: ints in 8 bytes, up to 22 bytes inline, the rest on the heap.

use super::bytes::SmallBytes;
use crate::util::{parse_i64, write_i64};

/// Redis's `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`.
pub const EMBSTR_MAX_BYTES: usize = 44;

#[derive(Debug, Clone, PartialEq)]
pub enum StrValue {
    Int(i64),
    /// `raw` is true once the value was modified in place (APPEND, SETRANGE) or is
    /// longer than the embstr limit, as Redis reports it.
    Bytes { data: SmallBytes, raw: bool },
}

impl StrValue {
    /// A value as SET stores it: `int` when the text is a canonical integer (Redis's
    /// `tryObjectEncoding`), otherwise embstr/raw by length.
    pub fn from_set(data: &[u8]) -> Self {
        if data.len() <= 20 {
            if let Some(n) = parse_i64(data) {
                return StrValue::Int(n);
            }
        }
        StrValue::Bytes { data: SmallBytes::new(data), raw: data.len() > EMBSTR_MAX_BYTES }
    }

    /// A value modified in place: Redis keeps such strings `raw`.
    pub fn raw(data: Vec<u8>) -> Self {
        StrValue::Bytes { data: SmallBytes::from_vec(data), raw: true }
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            StrValue::Int(_) => "int",
            StrValue::Bytes { raw: false, .. } => "embstr",
            StrValue::Bytes { raw: true, .. } => "raw",
        }
    }

    /// The bytes, materialising an int into `scratch`.
    pub fn bytes<'a>(&'a self, scratch: &'a mut Vec<u8>) -> &'a [u8] {
        match self {
            StrValue::Int(n) => {
                scratch.clear();
                write_i64(scratch, *n);
                scratch
            }
            StrValue::Bytes { data, .. } => data.as_bytes(),
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut scratch = Vec::new();
        self.bytes(&mut scratch).to_vec()
    }

    pub fn len(&self) -> usize {
        match self {
            StrValue::Int(n) => {
                let mut s = Vec::with_capacity(20);
                write_i64(&mut s, *n);
                s.len()
            }
            StrValue::Bytes { data, .. } => data.as_bytes().len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value as an integer, for INCR and friends.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            StrValue::Int(n) => Some(*n),
            StrValue::Bytes { data, .. } => parse_i64(data.as_bytes()),
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            StrValue::Int(_) => 0,
            StrValue::Bytes { data, .. } => data.heap_bytes(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_as_redis() {
        assert_eq!(StrValue::from_set(b"123").encoding_name(), "int");
        assert_eq!(StrValue::from_set(b"0123").encoding_name(), "embstr");
        assert_eq!(StrValue::from_set(&[b'a'; 44]).encoding_name(), "embstr");
        assert_eq!(StrValue::from_set(&[b'a'; 45]).encoding_name(), "raw");
        assert_eq!(StrValue::raw(b"x".to_vec()).encoding_name(), "raw");
        assert_eq!(std::mem::size_of::<StrValue>(), 24);
        assert_eq!(std::mem::size_of::<super::super::Value>(), 24);
    }
}
