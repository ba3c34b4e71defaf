//! The sorted-set type with Redis's two encodings as `OBJECT ENCODING` reports them:
//! `listpack` (a sorted vector of (score, member), scanned linearly, while small) and
//! `skiplist` once a threshold is crossed, one way, as Redis. keel's `skiplist` is not a
//! skiplist: it is a member table (stable slot ids, O(1) member -> score through a keyed
//! hash index) plus an order-statistic B+tree of (score, slot id) keys with per-child
//! counts, so rank, rank-range and score-range operations are O(log n) with ~12 bytes of
//! order index per member instead of a skiplist node's ~50. Nothing here knows about
//! clients, config or the keyspace; nothing here panics on any input.
//!
//! This file is the face (the encoding switch); `packed.rs` is the listpack,
//! `table.rs` the member table, `tree.rs` its order index, `score.rs` score text,
//! parsing, ranges and order.

mod packed;
mod score;
mod table;
mod tree;

use crate::malloc_model::chunk_bytes;
pub use packed::{Packed, PackedEntry};
pub use score::{
    fmt_listpack_score, fmt_score, parse_score, score_cmp, LexBound, LexRange, ScoreRange,
};
pub use table::Big;

/// Redis's thresholds (`zset-max-listpack-entries`, `zset-max-listpack-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZSetLimits {
    pub max_listpack_entries: usize,
    pub max_listpack_value_bytes: usize,
}

impl Default for ZSetLimits {
    /// Redis 7.0's compiled-in defaults.
    fn default() -> Self {
        ZSetLimits {
            max_listpack_entries: 128,
            max_listpack_value_bytes: 64,
        }
    }
}

impl ZSetLimits {
    /// Whether a sorted set of `len` members, the longest `max_member_bytes`, is kept
    /// as a listpack (Redis's `zsetConvertToListpackIfNeeded` and `zsetAdd` checks).
    pub fn fits_listpack(&self, len: usize, max_member_bytes: usize) -> bool {
        len <= self.max_listpack_entries && max_member_bytes <= self.max_listpack_value_bytes
    }
}

#[derive(Clone)]
pub enum ZSet {
    Packed(Packed),
    Skiplist(Box<Big>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::Packed(Packed::default())
    }
}

impl ZSet {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            ZSet::Packed(_) => "listpack",
            ZSet::Skiplist(_) => "skiplist",
        }
    }

    pub fn is_packed(&self) -> bool {
        matches!(self, ZSet::Packed(_))
    }

    pub fn len(&self) -> usize {
        match self {
            ZSet::Packed(p) => p.entries.len(),
            ZSet::Skiplist(b) => b.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes owned, O(1) (the keyspace asks before and after every change), each
    /// allocation counted as the allocator's chunk for it (`malloc_model`).
    pub fn heap_bytes(&self) -> usize {
        match self {
            ZSet::Packed(p) => {
                chunk_bytes(p.entries.capacity() * std::mem::size_of::<PackedEntry>())
                    + p.payload_bytes
            }
            ZSet::Skiplist(b) => chunk_bytes(std::mem::size_of::<Big>()) + b.heap_bytes(),
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(p) => p
                .find(member)
                .and_then(|i| p.entries.get(i))
                .map(|e| e.score),
            ZSet::Skiplist(b) => b.score(member),
        }
    }

    /// Sets `member`'s score, inserting it when missing; true when inserted. Converts to
    /// the skiplist encoding first when the member is too long or the set would grow
    /// past the entry limit (Redis's `zsetAdd`). `seeds` keys the hash index if one is
    /// built. A listpack stores a zero score as `0` (Redis prints `-0` into it as an
    /// integer), so `-0` only survives in the skiplist encoding, as in Redis.
    pub fn set_score(
        &mut self,
        member: &[u8],
        score: f64,
        limits: ZSetLimits,
        seeds: impl FnOnce() -> [u64; 4],
    ) -> bool {
        debug_assert!(!score.is_nan());
        if let ZSet::Packed(p) = self {
            match p.find(member) {
                Some(i) => {
                    p.update(i, score);
                    return false;
                }
                None => {
                    if limits.fits_listpack(p.entries.len() + 1, member.len()) {
                        p.insert(member, score);
                        return true;
                    }
                    self.convert(seeds());
                }
            }
        }
        match self {
            ZSet::Packed(_) => false,
            ZSet::Skiplist(b) => b.set_score(member, score),
        }
    }

    /// Removes `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            ZSet::Packed(p) => match p.find(member) {
                Some(i) => {
                    p.remove_at(i);
                    true
                }
                None => false,
            },
            ZSet::Skiplist(b) => b.remove(member),
        }
    }

    /// 0-based rank in ascending (score, member) order.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match self {
            ZSet::Packed(p) => p.find(member),
            ZSet::Skiplist(b) => b.rank(member),
        }
    }

    /// The member and score at ascending rank `rank`.
    pub fn at(&self, rank: usize) -> Option<(&[u8], f64)> {
        match self {
            ZSet::Packed(p) => p.entries.get(rank).map(|e| (e.member.as_bytes(), e.score)),
            ZSet::Skiplist(b) => b.at(rank),
        }
    }

    /// Visits ranks `lo..hi` in ascending order, or descending when `rev`, while
    /// `visit` returns true. O(log n + visited).
    pub fn visit<'a>(
        &'a self,
        lo: usize,
        hi: usize,
        rev: bool,
        mut visit: impl FnMut(&'a [u8], f64) -> bool,
    ) {
        let hi = hi.min(self.len());
        if lo >= hi {
            return;
        }
        match self {
            ZSet::Packed(p) => {
                let Some(slice) = p.entries.get(lo..hi) else {
                    return;
                };
                if rev {
                    for e in slice.iter().rev() {
                        if !visit(e.member.as_bytes(), e.score) {
                            return;
                        }
                    }
                } else {
                    for e in slice {
                        if !visit(e.member.as_bytes(), e.score) {
                            return;
                        }
                    }
                }
            }
            ZSet::Skiplist(b) => b.visit(lo, hi, rev, &mut visit),
        }
    }

    /// Every (member, score) in ascending order.
    pub fn entries(&self) -> Vec<(&[u8], f64)> {
        let mut all = Vec::with_capacity(self.len());
        self.visit(0, self.len(), false, |m, s| {
            all.push((m, s));
            true
        });
        all
    }

    /// Rank of the first member inside a range (Redis's `zslFirstInRange` /
    /// `zzlFirstInRange` and the lex variants): the listpack walks from the head to the
    /// first member at or above the minimum; the skiplist encoding finds the same member
    /// by descent. `gte_min` / `lte_max` say whether a member is past each end; the caller
    /// has already rejected an empty range.
    pub fn first_in_range(
        &self,
        gte_min: impl Fn(f64, &[u8]) -> bool,
        lte_max: impl Fn(f64, &[u8]) -> bool,
    ) -> Option<usize> {
        if !self.touches_range(&gte_min, &lte_max) {
            return None;
        }
        let first = match self {
            ZSet::Packed(p) => p
                .entries
                .iter()
                .position(|e| gte_min(e.score, e.member.as_bytes()))?,
            ZSet::Skiplist(b) => b.partition(|s, m| !gte_min(s, m)),
        };
        let (m, s) = self.at(first)?;
        lte_max(s, m).then_some(first)
    }

    /// Rank of the last member inside a range (`zslLastInRange` and friends).
    pub fn last_in_range(
        &self,
        gte_min: impl Fn(f64, &[u8]) -> bool,
        lte_max: impl Fn(f64, &[u8]) -> bool,
    ) -> Option<usize> {
        if !self.touches_range(&gte_min, &lte_max) {
            return None;
        }
        let last = match self {
            ZSet::Packed(p) => p
                .entries
                .iter()
                .rposition(|e| lte_max(e.score, e.member.as_bytes()))?,
            ZSet::Skiplist(b) => b.partition(|s, m| lte_max(s, m)).checked_sub(1)?,
        };
        let (m, s) = self.at(last)?;
        gte_min(s, m).then_some(last)
    }

    /// Redis's `zslIsInRange` tail checks: the last member is not below the minimum
    /// and the first not above the maximum.
    fn touches_range(
        &self,
        gte_min: &impl Fn(f64, &[u8]) -> bool,
        lte_max: &impl Fn(f64, &[u8]) -> bool,
    ) -> bool {
        let n = self.len();
        match (self.at(0), n.checked_sub(1).and_then(|l| self.at(l))) {
            (Some((fm, fs)), Some((lm, ls))) => gte_min(ls, lm) && lte_max(fs, fm),
            _ => false,
        }
    }

    /// One-way conversion to the skiplist encoding (also SORT's, as Redis converts
    /// the sorted set it sorts).
    pub fn convert(&mut self, seeds: [u64; 4]) {
        if let ZSet::Packed(p) = self {
            let mut b = Big::new(seeds, p.entries.len() + 1);
            for e in &p.entries {
                b.set_score(e.member.as_bytes(), e.score);
            }
            *self = ZSet::Skiplist(Box::new(b));
        }
    }

    /// For ZSCAN: (member, score text) from `cursor` on, visiting up to `max_entries`
    /// live slots of a skiplist (a listpack answers everything at once, its scores in
    /// the listpack's own text, as Redis). Slot ids are stable, so a member present for
    /// the whole scan is returned at least once whatever the set does meanwhile.
    /// Returns the next cursor, 0 at the end.
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        max_entries: usize,
        mut visit: impl FnMut(&'a [u8], String),
    ) -> u64 {
        match self {
            ZSet::Packed(p) => {
                for e in &p.entries {
                    visit(e.member.as_bytes(), fmt_listpack_score(e.score));
                }
                0
            }
            ZSet::Skiplist(b) => b.scan(cursor, max_entries, visit),
        }
    }
}

impl PartialEq for ZSet {
    /// Same members and scores, whatever the encoding.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .entries()
                .into_iter()
                .all(|(m, s)| other.score(m).is_some_and(|o| o == s))
    }
}

impl std::fmt::Debug for ZSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut l = f.debug_list();
        for (m, s) in self.entries() {
            l.entry(&(String::from_utf8_lossy(m), s));
        }
        l.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::score::entry_cmp;
    use super::*;
    use std::collections::BTreeMap;

    fn lim(entries: usize, value: usize) -> ZSetLimits {
        ZSetLimits {
            max_listpack_entries: entries,
            max_listpack_value_bytes: value,
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(std::mem::size_of::<PackedEntry>(), 32);
    }

    /// Both encodings against a BTreeMap model through random operations, with the
    /// tree's invariants checked as it grows and shrinks.
    #[test]
    fn matches_model_both_encodings() {
        for (entries, n) in [(128usize, 100u64), (0, 3000), (16, 1500)] {
            let l = lim(entries, 64);
            let mut z = ZSet::new();
            let mut model: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
            let mut x = 12345u64;
            let mut rnd = |m: u64| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (x >> 33) % m
            };
            for step in 0..(n * 4) {
                let member = format!("m{}", rnd(n)).into_bytes();
                let score = (rnd(50) as f64) - 25.0 + if rnd(4) == 0 { 0.5 } else { 0.0 };
                if rnd(3) == 0 {
                    assert_eq!(z.remove(&member), model.remove(&member).is_some());
                } else {
                    let created = z.set_score(&member, score, l, || [1, 2, 3, 4]);
                    assert_eq!(created, model.insert(member, score).is_none());
                }
                if step % 997 == 0 || step + 1 == n * 4 {
                    check(&z, &model);
                }
            }
            // Drain to empty through removals.
            let keys: Vec<Vec<u8>> = model.keys().cloned().collect();
            for k in keys {
                assert!(z.remove(&k));
                model.remove(&k);
            }
            check(&z, &model);
            assert!(z.is_empty());
            if let ZSet::Skiplist(b) = &z {
                assert_eq!(b.payload_bytes(), 0);
                assert_eq!(b.tree_nodes(), (1, 0));
            }
        }
    }

    fn check(z: &ZSet, model: &BTreeMap<Vec<u8>, f64>) {
        let mut want: Vec<(Vec<u8>, f64)> = model.iter().map(|(k, v)| (k.clone(), *v)).collect();
        want.sort_by(|a, b| entry_cmp(a.1, &a.0, b.1, &b.0));
        let got: Vec<(Vec<u8>, f64)> = z
            .entries()
            .into_iter()
            .map(|(m, s)| (m.to_vec(), s))
            .collect();
        assert_eq!(got, want);
        assert_eq!(z.len(), want.len());
        for (i, (m, s)) in want.iter().enumerate() {
            assert_eq!(z.rank(m), Some(i));
            assert_eq!(z.score(m), Some(*s));
            assert_eq!(z.at(i).map(|(m, s)| (m.to_vec(), s)), Some((m.clone(), *s)));
        }
        // Reverse ranges and score partitions.
        let mut rev = Vec::new();
        z.visit(1, want.len().saturating_sub(1), true, |m, _| {
            rev.push(m.to_vec());
            true
        });
        let mut expect: Vec<Vec<u8>> = want
            .iter()
            .skip(1)
            .take(want.len().saturating_sub(2))
            .map(|e| e.0.clone())
            .collect();
        expect.reverse();
        assert_eq!(rev, expect);
        let r = ScoreRange {
            min: -3.0,
            max: 7.5,
            minex: true,
            maxex: false,
        };
        let first = z.first_in_range(|s, _| r.gte_min(s), |s, _| r.lte_max(s));
        let last = z.last_in_range(|s, _| r.gte_min(s), |s, _| r.lte_max(s));
        let inside: Vec<usize> = (0..want.len())
            .filter(|&i| r.gte_min(want[i].1) && r.lte_max(want[i].1))
            .collect();
        assert_eq!(first, inside.first().copied());
        assert_eq!(last, inside.last().copied());
        if let ZSet::Skiplist(b) = z {
            b.check_tree();
        }
    }

    #[test]
    fn converts_one_way_at_thresholds() {
        let l = lim(3, 4);
        let mut z = ZSet::new();
        for (i, m) in ["a", "b", "c"].iter().enumerate() {
            z.set_score(m.as_bytes(), i as f64, l, || [0; 4]);
        }
        assert_eq!(z.encoding_name(), "listpack");
        z.set_score(b"a", -0.0, l, || [0; 4]);
        assert!(z.score(b"a").is_some_and(|s| s.is_sign_positive()));
        z.set_score(b"d", 3.0, l, || [0; 4]);
        assert_eq!(z.encoding_name(), "skiplist");
        z.set_score(b"a", -0.0, l, || [0; 4]);
        assert!(z.score(b"a").is_some_and(|s| s.is_sign_negative()));
        z.remove(b"d");
        z.remove(b"c");
        assert_eq!(z.encoding_name(), "skiplist");
        let mut y = ZSet::new();
        y.set_score(b"abcde", 1.0, l, || [0; 4]);
        assert_eq!(y.encoding_name(), "skiplist");
    }

    #[test]
    fn scan_returns_every_member_across_growth() {
        let l = lim(0, 64);
        let mut z = ZSet::new();
        for i in 0..500 {
            z.set_score(format!("m{i}").as_bytes(), i as f64, l, || [9; 4]);
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            let mut batch = Vec::new();
            cursor = z.scan(cursor, 10, |m, _| batch.push(m.to_vec()));
            seen.extend(batch);
            // Grow and churn while scanning.
            for k in 0..5 {
                z.set_score(format!("n{round}-{k}").as_bytes(), 1.0, l, || [9; 4]);
            }
            z.remove(format!("n{}-0", round.max(1) - 1).as_bytes());
            round += 1;
            if cursor == 0 {
                break;
            }
        }
        for i in 0..500 {
            assert!(seen.contains(format!("m{i}").as_bytes()));
        }
    }
}
