//! The string type with Redis's three encodings as `OBJECT ENCODING` reports them:
//! `int` (a canonical i64), `embstr` (≤ 44 bytes, never modified in place) and `raw`.
//! Storage is keel's own, 24 bytes in all: ints in 8 bytes, up to 22 bytes inline,
//! the rest on the heap.

use crate::malloc_model::chunk_bytes;
use crate::util::{parse_i64, write_i64};

/// Redis's `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`.
pub const EMBSTR_MAX_BYTES: usize = 44;
/// Bytes stored inline, without a heap allocation.
pub const INLINE_CAP: usize = 22;
/// In `Inline::meta`, the bit that marks a `raw` string; the low bits hold the length.
const RAW_BIT: u8 = 0x80;

#[derive(Clone)]
pub enum StrValue {
    Int(i64),
    Inline {
        meta: u8,
        buf: [u8; INLINE_CAP],
    },
    /// `raw` is true once the value was modified in place (APPEND, SETRANGE) or is
    /// longer than the embstr limit, as Redis reports it.
    Heap {
        raw: bool,
        data: Box<[u8]>,
    },
    /// A `raw` string modified in place (APPEND, SETRANGE): it grows with amortised
    /// doubling, as Redis's sds does, so repeated APPENDs stay linear.
    Growable(Box<Vec<u8>>),
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
        Self::with_encoding(data, data.len() > EMBSTR_MAX_BYTES)
    }

    /// `from_set` of bytes the caller owns already: a heap string keeps the vector's
    /// buffer (no copy) when it has no spare capacity to carry.
    pub fn from_set_owned(data: std::borrow::Cow<'_, [u8]>) -> Self {
        match data {
            std::borrow::Cow::Owned(v) if v.len() > EMBSTR_MAX_BYTES && v.len() == v.capacity() => {
                StrValue::Heap {
                    raw: true,
                    data: v.into_boxed_slice(),
                }
            }
            data => Self::from_set(&data),
        }
    }

    /// Bytes with an explicit raw flag (no int encoding).
    pub fn with_encoding(data: &[u8], raw: bool) -> Self {
        if data.len() <= INLINE_CAP {
            let mut buf = [0u8; INLINE_CAP];
            if let Some(dst) = buf.get_mut(..data.len()) {
                dst.copy_from_slice(data);
            }
            StrValue::Inline {
                meta: data.len() as u8 | if raw { RAW_BIT } else { 0 },
                buf,
            }
        } else {
            StrValue::Heap {
                raw,
                data: data.into(),
            }
        }
    }

    /// A value modified in place: Redis keeps such strings `raw`.
    pub fn raw(data: Vec<u8>) -> Self {
        if data.len() <= INLINE_CAP {
            Self::with_encoding(&data, true)
        } else {
            StrValue::Heap {
                raw: true,
                data: data.into_boxed_slice(),
            }
        }
    }

    /// Runs `f` on the bytes for in-place modification, first turning the value into a
    /// growable raw string (Redis keeps modified strings `raw`).
    pub fn modify<R>(&mut self, f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
        let mut data = match std::mem::replace(self, StrValue::Int(0)) {
            StrValue::Growable(data) => data,
            // The heap bytes become the vector as they are: no copy of a big value.
            StrValue::Heap { data, .. } => Box::new(data.into_vec()),
            other => Box::new(other.to_vec()),
        };
        let result = f(&mut data);
        *self = StrValue::Growable(data);
        result
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            StrValue::Int(_) => "int",
            StrValue::Inline { meta, .. } if meta & RAW_BIT != 0 => "raw",
            StrValue::Heap { raw: true, .. } | StrValue::Growable(_) => "raw",
            _ => "embstr",
        }
    }

    /// The bytes when not int-encoded.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            StrValue::Int(_) => None,
            StrValue::Inline { meta, buf } => buf.get(..usize::from(meta & !RAW_BIT)).or(Some(buf)),
            StrValue::Heap { data, .. } => Some(data),
            StrValue::Growable(data) => Some(data),
        }
    }

    /// The bytes, materialising an int into `scratch`.
    pub fn bytes<'a>(&'a self, scratch: &'a mut Vec<u8>) -> &'a [u8] {
        match self.as_bytes() {
            Some(b) => b,
            None => {
                scratch.clear();
                if let StrValue::Int(n) = self {
                    write_i64(scratch, *n);
                }
                scratch
            }
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let mut scratch = Vec::new();
        self.bytes(&mut scratch).to_vec()
    }

    pub fn len(&self) -> usize {
        match self.as_bytes() {
            Some(b) => b.len(),
            None => self.to_vec().len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The value as an integer, for INCR and friends.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            StrValue::Int(n) => Some(*n),
            other => other.as_bytes().and_then(parse_i64),
        }
    }

    /// Heap bytes owned, each allocation counted as its chunk (`malloc_model`).
    pub fn heap_bytes(&self) -> usize {
        match self {
            StrValue::Heap { data, .. } => chunk_bytes(data.len()),
            StrValue::Growable(data) => {
                chunk_bytes(std::mem::size_of::<Vec<u8>>()) + chunk_bytes(data.capacity())
            }
            _ => 0,
        }
    }
}

impl PartialEq for StrValue {
    fn eq(&self, other: &Self) -> bool {
        self.to_vec() == other.to_vec()
    }
}

impl std::fmt::Debug for StrValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?}({:?})",
            self.encoding_name(),
            String::from_utf8_lossy(&self.to_vec())
        )
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
        assert_eq!(StrValue::raw(vec![b'x'; 30]).encoding_name(), "raw");
        assert_eq!(StrValue::from_set(b"-42").to_vec(), b"-42");
        assert_eq!(StrValue::from_set(&[b'z'; 30]).to_vec(), vec![b'z'; 30]);
        assert_eq!(std::mem::size_of::<StrValue>(), 24);
        let mut g = StrValue::from_set(b"12");
        g.modify(|d| d.extend_from_slice(b"ab"));
        assert_eq!(g.to_vec(), b"12ab");
        assert_eq!(g.encoding_name(), "raw");
        assert_eq!(g.as_i64(), None);
        assert_eq!(std::mem::size_of::<super::super::Value>(), 24);
    }
}
