//! Value types, one file per type. Each keeps a compact in-memory encoding and
//! reports its own logical size; none knows about the keyspace or clients.

pub mod bytes;
pub mod hash;
pub mod hexpack;
pub mod list;
pub mod set;
pub mod string;
pub mod zset;

pub use bytes::SmallBytes;
pub use hash::{Hash, HashLimits};
pub use list::List;
pub use set::Set;
pub use string::StrValue;
pub use zset::ZSet;

use crate::malloc_model::chunk_bytes;

/// A value stored under a key. Later types (list, hash, set, zset) join as boxed
/// variants so this stays 24 bytes.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(StrValue),
    /// Inline: a `Hash` is 16 bytes, so no extra allocation per small hash.
    Hash(Hash),
    List(Box<List>),
    /// Inline: a `Set` is 16 bytes, so no extra allocation per small set.
    Set(Set),
    ZSet(Box<ZSet>),
}

impl Value {
    /// Redis's `TYPE` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// `OBJECT ENCODING`.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding_name(),
            Value::Hash(h) => h.encoding_name(),
            Value::List(l) => l.encoding_name(),
            Value::Set(s) => s.encoding_name(),
            Value::ZSet(z) => z.encoding_name(),
        }
    }

    /// An emptied collection (Redis deletes the key); a string is never empty here.
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::Hash(h) => h.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        }
    }

    /// Redis's `lazyfreeGetFreeEffort`: roughly the allocations freeing this value
    /// costs (elements of a table encoding, chunks of a list; 1 for compact ones).
    pub fn free_effort(&self) -> usize {
        match self {
            Value::Str(_) => 1,
            Value::Hash(h) if h.encoding_name() == "hashtable" => h.len(),
            Value::Set(s) if s.encoding_name() == "hashtable" => s.len(),
            Value::ZSet(z) if z.encoding_name() == "skiplist" => z.len(),
            Value::List(l) => l.len() / 128 + 1,
            Value::Hash(_) | Value::Set(_) | Value::ZSet(_) => 1,
        }
    }

    /// Heap bytes owned beyond the value's inline 24 bytes, each allocation counted as
    /// the allocator's chunk for it (`malloc_model`).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_bytes(),
            Value::Hash(h) => h.heap_bytes(),
            Value::List(l) => chunk_bytes(std::mem::size_of::<List>()) + l.heap_bytes(),
            Value::Set(s) => s.heap_bytes(),
            Value::ZSet(z) => chunk_bytes(std::mem::size_of::<ZSet>()) + z.heap_bytes(),
        }
    }
}
