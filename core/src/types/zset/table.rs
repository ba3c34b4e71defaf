//! The `skiplist` encoding, which is not a skiplist: a member table (a `Slab` of
//! (score, member) with stable slot ids, O(1) member -> score) plus the order-statistic
//! tree of (score, slot id) keys in `tree.rs`. Both change together or not at all.

use std::cmp::Ordering;

use super::score::{fmt_score, score_cmp};
use super::tree::{KeyOrder, Tree};
use crate::slab::{ScanBudget, Slab, SlabEntry};
use crate::types::SmallBytes;

/// A member and its score, as the member table holds them.
#[derive(Clone)]
struct Scored {
    score: f64,
    member: SmallBytes,
}

impl SlabEntry for Scored {
    fn key(&self) -> &[u8] {
        self.member.as_bytes()
    }

    fn heap_bytes(&self) -> usize {
        self.member.heap_bytes()
    }
}

/// The member table: member -> slot id -> score, the ids the tree orders.
type Members = Slab<Scored>;

#[derive(Clone)]
pub struct Big {
    members: Members,
    tree: Tree,
}

impl Big {
    pub(super) fn new(seeds: [u64; 4], capacity: usize) -> Big {
        Big {
            members: Slab::with_capacity(seeds, capacity),
            tree: Tree::new(),
        }
    }

    pub(super) fn len(&self) -> usize {
        self.members.len()
    }

    pub(super) fn heap_bytes(&self) -> usize {
        self.members.heap_bytes() + self.tree.heap_bytes()
    }

    fn slot_member(&self, id: u32) -> &[u8] {
        member_of(&self.members, id)
    }

    fn slot_score(&self, id: u32) -> f64 {
        self.members.get(id).map_or(0.0, |s| s.score)
    }

    pub(super) fn score(&self, member: &[u8]) -> Option<f64> {
        self.members.get_by_key(member).map(|s| s.score)
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        self.members.find(member)
    }

    pub(super) fn rank(&self, member: &[u8]) -> Option<usize> {
        let id = self.find(member)?;
        let score = self.slot_score(id);
        let members = &self.members;
        Some(
            self.tree
                .root
                .partition(&mut |s, other| members.key_cmp(s, other, score, id) == Ordering::Less),
        )
    }

    /// Number of members, in order, for which `pred` holds (a true prefix).
    pub(super) fn partition(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let members = &self.members;
        self.tree
            .root
            .partition(&mut |s, id| pred(s, member_of(members, id)))
    }

    pub(super) fn set_score(&mut self, member: &[u8], score: f64) -> bool {
        if let Some(id) = self.find(member) {
            let old = self.slot_score(id);
            if old.to_bits() == score.to_bits() {
                return false;
            }
            self.tree.remove(&self.members, old, id);
            if let Some(s) = self.members.get_mut(id) {
                s.score = score;
            }
            self.tree.insert(&self.members, score, id);
            return false;
        }
        let id = self.members.insert(Scored {
            score,
            member: SmallBytes::new(member),
        });
        self.tree.insert(&self.members, score, id);
        true
    }

    pub(super) fn remove(&mut self, member: &[u8]) -> bool {
        let Some(id) = self.find(member) else {
            return false;
        };
        // The tree finds the key by (score, member), so the member leaves it first.
        let removed = self.tree.remove(&self.members, self.slot_score(id), id);
        debug_assert!(removed, "member in the index but not in the tree");
        self.members.remove(id);
        self.members.release_if_empty();
        true
    }
    /// The member and score at ascending rank `rank`.
    pub(super) fn at(&self, rank: usize) -> Option<(&[u8], f64)> {
        let (score, id) = self.tree.get(rank)?;
        Some((self.slot_member(id), score))
    }

    /// Visits ranks `lo..hi` in ascending order, or descending when `rev`, while
    /// `visit` returns true.
    pub(super) fn visit<'a>(
        &'a self,
        lo: usize,
        hi: usize,
        rev: bool,
        visit: &mut impl FnMut(&'a [u8], f64) -> bool,
    ) {
        let members: &'a Members = &self.members;
        self.tree.root.visit(lo, hi, rev, &mut |score, id| {
            visit(member_of(members, id), score)
        });
    }

    /// ZSCAN over slot ids, with scores as `%.17g` text.
    pub(super) fn scan<'a>(
        &'a self,
        cursor: u64,
        max_entries: usize,
        mut visit: impl FnMut(&'a [u8], String),
    ) -> u64 {
        self.members
            .scan(cursor, ScanBudget::Entries(max_entries), |_, s| {
                visit(s.member.as_bytes(), fmt_score(s.score))
            })
    }

    /// Checks the tree against the member table (tests only).
    #[cfg(test)]
    pub(super) fn check_tree(&self) {
        self.tree.check(&self.members, self.len());
    }

    /// (leaves, inner nodes) of the tree (tests only).
    #[cfg(test)]
    pub(super) fn tree_nodes(&self) -> (usize, usize) {
        self.tree.nodes()
    }

    #[cfg(test)]
    pub(super) fn payload_bytes(&self) -> usize {
        self.members.heap_bytes()
    }
}

fn member_of(members: &Members, id: u32) -> &[u8] {
    members.get(id).map_or(&b""[..], |s| s.member.as_bytes())
}

/// (score, member) order of two tree keys; a key equals only itself. Members are
/// looked up only on a score tie.
impl KeyOrder for Members {
    fn key_cmp(&self, a_score: f64, a_id: u32, b_score: f64, b_id: u32) -> Ordering {
        if a_id == b_id {
            return Ordering::Equal;
        }
        score_cmp(a_score, b_score).then_with(|| member_of(self, a_id).cmp(member_of(self, b_id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_slots_are_32_bytes() {
        assert_eq!(Slab::<Scored>::slot_bytes(), 32);
    }
}
