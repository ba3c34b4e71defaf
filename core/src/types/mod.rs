//! Value types, one file per type. Each keeps a compact in-memory encoding and
//! reports its own logical size; none knows about the keyspace or clients.

pub mod bytes;
pub mod string;

pub use bytes::SmallBytes;
pub use string::StrValue;

/// A value stored under a key. Later types (list, hash, set, zset) join as boxed
/// variants so this stays 24 bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(StrValue),
}

impl Value {
    /// Redis's `TYPE` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }

    /// `OBJECT ENCODING`.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding_name(),
        }
    }

    /// Heap bytes owned beyond the value's inline 24 bytes.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_bytes(),
        }
    }
}
