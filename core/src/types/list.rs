//! The list type (scaffold: the lists work replaces this with Redis's `listpack` /
//! `quicklist` encodings and their operations).

#[derive(Debug, Clone, Default, PartialEq)]
pub struct List {}

impl List {
    pub fn encoding_name(&self) -> &'static str {
        "listpack"
    }

    pub fn heap_bytes(&self) -> usize {
        0
    }
}
