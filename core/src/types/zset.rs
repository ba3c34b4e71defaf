//! The sorted-set type (scaffold: the sorted-sets work replaces this with Redis's
//! `listpack` / `skiplist` encodings and their operations).

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZSet {}

impl ZSet {
    pub fn encoding_name(&self) -> &'static str {
        "listpack"
    }

    pub fn heap_bytes(&self) -> usize {
        0
    }
}
