//! The set type (scaffold: the sets work replaces this with Redis's `intset` /
//! `listpack` / `hashtable` encodings and their operations).

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Set {}

impl Set {
    pub fn encoding_name(&self) -> &'static str {
        "intset"
    }

    pub fn heap_bytes(&self) -> usize {
        0
    }
}
