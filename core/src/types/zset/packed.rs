//! The `listpack` encoding: a sorted vector of (score, member), searched linearly (at
//! most zset-max-listpack-entries long). It keeps `-0` as 0, as Redis's listpack does;
//! it never converts itself (the face in `mod.rs` decides).

use std::cmp::Ordering;

use super::score::entry_cmp;
use crate::types::SmallBytes;

#[derive(Clone)]
pub struct PackedEntry {
    pub(super) score: f64,
    pub(super) member: SmallBytes,
}

#[derive(Clone, Default)]
pub struct Packed {
    pub(super) entries: Vec<PackedEntry>,
    /// Sum of the members' own heap allocations.
    pub(super) payload_bytes: usize,
}

/// A listpack keeps `-0` as the integer 0.
fn packed_score(score: f64) -> f64 {
    if score == 0.0 {
        0.0
    } else {
        score
    }
}

impl Packed {
    pub(super) fn find(&self, member: &[u8]) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.member.as_bytes() == member)
    }

    pub(super) fn insert(&mut self, member: &[u8], score: f64) {
        let score = packed_score(score);
        let pos = self.entries.partition_point(|e| {
            entry_cmp(e.score, e.member.as_bytes(), score, member) == Ordering::Less
        });
        let member = SmallBytes::new(member);
        self.payload_bytes += member.heap_bytes();
        if self.entries.len() == self.entries.capacity() {
            // Grow by a little: small sets are the common case, memory matters.
            self.entries.reserve_exact((self.entries.len() / 4).max(2));
        }
        self.entries.insert(pos, PackedEntry { score, member });
    }

    pub(super) fn remove_at(&mut self, i: usize) -> Option<PackedEntry> {
        if i >= self.entries.len() {
            return None;
        }
        let e = self.entries.remove(i);
        self.payload_bytes -= e.member.heap_bytes();
        if self.entries.is_empty() {
            self.entries = Vec::new();
        }
        Some(e)
    }

    pub(super) fn update(&mut self, i: usize, score: f64) {
        if let Some(mut e) = self.remove_at(i) {
            let member = std::mem::replace(&mut e.member, SmallBytes::new(b""));
            let score = packed_score(score);
            let pos = self.entries.partition_point(|o| {
                entry_cmp(o.score, o.member.as_bytes(), score, member.as_bytes()) == Ordering::Less
            });
            self.payload_bytes += member.heap_bytes();
            self.entries.insert(pos, PackedEntry { score, member });
        }
    }
}
