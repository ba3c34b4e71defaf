//! The sorted-set type with Redis's two encodings as `OBJECT ENCODING` reports them:
//! `listpack` (a sorted vector of (score, member), scanned linearly, while small) and
//! `skiplist` once a threshold is crossed, one way, as Redis. keel's `skiplist` is not a
//! skiplist: it is a member table (stable slot ids, O(1) member -> score through a keyed
//! hash index) plus an order-statistic B+tree of (score, slot id) keys with per-child
//! counts, so rank, rank-range and score-range operations are O(log n) with ~12 bytes of
//! order index per member instead of a skiplist node's ~50. Nothing here knows about
//! clients, config or the keyspace; nothing here panics on any input.

use std::cmp::Ordering;

use super::SmallBytes;
use crate::slab::{ScanBudget, Slab, SlabEntry};

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

    /// Heap bytes owned, O(1) (the keyspace asks before and after every change).
    pub fn heap_bytes(&self) -> usize {
        match self {
            ZSet::Packed(p) => {
                p.entries.capacity() * std::mem::size_of::<PackedEntry>() + p.payload_bytes
            }
            ZSet::Skiplist(b) => std::mem::size_of::<Big>() + b.heap_bytes(),
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            ZSet::Packed(p) => p
                .find(member)
                .and_then(|i| p.entries.get(i))
                .map(|e| e.score),
            ZSet::Skiplist(b) => b.find(member).map(|id| b.slot_score(id)),
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
            ZSet::Skiplist(b) => {
                let (score, id) = b.tree.get(rank)?;
                Some((b.slot_member(id), score))
            }
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
            ZSet::Skiplist(b) => {
                let members: &'a Members = &b.members;
                b.tree.root.visit(lo, hi, rev, &mut |score, id| {
                    visit(member_of(members, id), score)
                });
            }
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
            ZSet::Skiplist(b) => {
                b.members
                    .scan(cursor, ScanBudget::Entries(max_entries), |_, s| {
                        visit(s.member.as_bytes(), fmt_score(s.score))
                    })
            }
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

// ---------------------------------------------------------------------------------
// Score text and parsing, as Redis 7.0 prints and reads doubles.
// ---------------------------------------------------------------------------------

/// `%.17g`, with `inf` / `-inf` (Redis 7.0's `addReplyDouble` and the skiplist's ZSCAN).
pub fn fmt_score(v: f64) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // Rust's `{:e}` is exactly rounded like glibc's printf: 17 significant digits.
    let sci = format!("{:.16e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let mut out = String::with_capacity(26);
    if v < 0.0 {
        out.push('-');
    }
    if !(-4..17).contains(&exp) {
        let trimmed = digits.trim_end_matches('0');
        let (first, rest) = trimmed.split_at(1.min(trimmed.len()));
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.unsigned_abs()));
    } else if exp >= 0 {
        let split = (exp as usize + 1).min(digits.len());
        let (int, frac) = digits.split_at(split);
        out.push_str(int);
        let frac = frac.trim_end_matches('0');
        if !frac.is_empty() {
            out.push('.');
            out.push_str(frac);
        }
    } else {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(digits.trim_end_matches('0'));
    }
    out
}

/// A score as a listpack holds it (Redis 7.0's `d2string`): an integer when the value
/// is integral and within ±2^62, else `%.17g`.
pub fn fmt_listpack_score(v: f64) -> String {
    const LIMIT: f64 = 4_611_686_018_427_387_904.0; // 2^62
    if v.is_finite() && (-LIMIT..=LIMIT).contains(&v) && v.fract() == 0.0 {
        return format!("{}", v as i64);
    }
    fmt_score(v)
}

/// Redis's `getDoubleFromObject` (ZADD scores, ZINCRBY increments, WEIGHTS).
pub use crate::strtod::string2d as parse_score;

/// A score range (`zrangespec`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub max: f64,
    pub minex: bool,
    pub maxex: bool,
}

impl ScoreRange {
    /// Redis's `zslParseRange`: `(` makes an end exclusive; the rest is `strtod` over the
    /// whole text (so leading spaces and the empty string, as 0, pass), never NaN.
    pub fn parse(min: &[u8], max: &[u8]) -> Option<ScoreRange> {
        let (min, minex) = parse_bound(min)?;
        let (max, maxex) = parse_bound(max)?;
        Some(ScoreRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.minex || self.maxex))
    }

    pub fn gte_min(&self, v: f64) -> bool {
        if self.minex {
            v > self.min
        } else {
            v >= self.min
        }
    }

    pub fn lte_max(&self, v: f64) -> bool {
        if self.maxex {
            v < self.max
        } else {
            v <= self.max
        }
    }
}

fn parse_bound(s: &[u8]) -> Option<(f64, bool)> {
    let (text, ex) = match s.split_first() {
        Some((b'(', rest)) => (rest, true),
        _ => (s, false),
    };
    let r = crate::strtod::strtod(text);
    // `eptr[0] != '\0'`: what strtod left must be the end of the C string, so a NUL
    // byte ends the bound; ERANGE is not checked (1e-400 is 0, 1e400 is inf).
    let ends = matches!(text.get(r.consumed), None | Some(0));
    (ends && !r.value.is_nan()).then_some((r.value, ex))
}

/// One end of a lex range (`zlexrangespec`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LexBound {
    /// `-`
    Min,
    /// `+`
    Max,
    Inclusive(Vec<u8>),
    Exclusive(Vec<u8>),
}

impl LexBound {
    /// Redis's `zslParseLexRangeItem`.
    pub fn parse(s: &[u8]) -> Option<LexBound> {
        match s.split_first() {
            Some((b'+', [])) => Some(LexBound::Max),
            Some((b'-', [])) => Some(LexBound::Min),
            Some((b'(', rest)) => Some(LexBound::Exclusive(rest.to_vec())),
            Some((b'[', rest)) => Some(LexBound::Inclusive(rest.to_vec())),
            _ => None,
        }
    }

    fn exclusive(&self) -> bool {
        !matches!(self, LexBound::Inclusive(_))
    }

    /// Redis's `sdscmplex` of a member against this bound.
    fn cmp_member(&self, member: &[u8]) -> Ordering {
        match self {
            LexBound::Min => Ordering::Greater,
            LexBound::Max => Ordering::Less,
            LexBound::Inclusive(b) | LexBound::Exclusive(b) => member.cmp(b),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LexRange {
    pub min: LexBound,
    pub max: LexBound,
}

impl LexRange {
    pub fn parse(min: &[u8], max: &[u8]) -> Option<LexRange> {
        Some(LexRange {
            min: LexBound::parse(min)?,
            max: LexBound::parse(max)?,
        })
    }

    pub fn is_empty(&self) -> bool {
        use LexBound::*;
        let cmp = match (&self.min, &self.max) {
            (Min, Min) | (Max, Max) => Ordering::Equal,
            (Min, _) | (_, Max) => Ordering::Less,
            (Max, _) | (_, Min) => Ordering::Greater,
            (Inclusive(a) | Exclusive(a), Inclusive(b) | Exclusive(b)) => a.cmp(b),
        };
        cmp == Ordering::Greater
            || (cmp == Ordering::Equal && (self.min.exclusive() || self.max.exclusive()))
    }

    pub fn gte_min(&self, member: &[u8]) -> bool {
        let c = self.min.cmp_member(member);
        if self.min.exclusive() {
            c == Ordering::Greater
        } else {
            c != Ordering::Less
        }
    }

    pub fn lte_max(&self, member: &[u8]) -> bool {
        let c = self.max.cmp_member(member);
        if self.max.exclusive() {
            c == Ordering::Less
        } else {
            c != Ordering::Greater
        }
    }
}

// ---------------------------------------------------------------------------------
// listpack: a sorted vector of (score, member), searched linearly (at most
// zset-max-listpack-entries long).
// ---------------------------------------------------------------------------------

#[derive(Clone)]
pub struct PackedEntry {
    score: f64,
    member: SmallBytes,
}

#[derive(Clone, Default)]
pub struct Packed {
    entries: Vec<PackedEntry>,
    /// Sum of the members' own heap allocations.
    payload_bytes: usize,
}

/// Redis's score order (`<` and `>` on doubles, so -0 equals 0), made total: NaN, which
/// no sorted set holds (ZADD and ZINCRBY refuse it), sorts above every number and
/// equals itself. It is the order of the key (is NaN, the number with -0 as 0), hence
/// a total order, which `sort_by` and the B+tree need.
pub fn score_cmp(a: f64, b: f64) -> Ordering {
    match a.partial_cmp(&b) {
        Some(o) => o,
        // Unordered only when one or both are NaN.
        None => a.is_nan().cmp(&b.is_nan()),
    }
}

/// (score, member) order, the one both encodings keep: total, as `score_cmp` is.
fn entry_cmp(a_score: f64, a_member: &[u8], b_score: f64, b_member: &[u8]) -> Ordering {
    score_cmp(a_score, b_score).then_with(|| a_member.cmp(b_member))
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
    fn find(&self, member: &[u8]) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.member.as_bytes() == member)
    }

    fn insert(&mut self, member: &[u8], score: f64) {
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

    fn remove_at(&mut self, i: usize) -> Option<PackedEntry> {
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

    fn update(&mut self, i: usize, score: f64) {
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

// ---------------------------------------------------------------------------------
// skiplist: member table + hash index + order-statistic B+tree.
// ---------------------------------------------------------------------------------

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
    fn new(seeds: [u64; 4], capacity: usize) -> Big {
        Big {
            members: Slab::with_capacity(seeds, capacity),
            tree: Tree::new(),
        }
    }

    fn len(&self) -> usize {
        self.members.len()
    }

    fn heap_bytes(&self) -> usize {
        self.members.heap_bytes() + self.tree.heap_bytes()
    }

    fn slot_member(&self, id: u32) -> &[u8] {
        member_of(&self.members, id)
    }

    fn slot_score(&self, id: u32) -> f64 {
        self.members.get(id).map_or(0.0, |s| s.score)
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        self.members.find(member)
    }

    fn rank(&self, member: &[u8]) -> Option<usize> {
        let id = self.find(member)?;
        let score = self.slot_score(id);
        let members = &self.members;
        Some(
            self.tree
                .root
                .partition(&mut |s, other| key_cmp(members, s, other, score, id) == Ordering::Less),
        )
    }

    /// Number of members, in order, for which `pred` holds (a true prefix).
    fn partition(&self, pred: impl Fn(f64, &[u8]) -> bool) -> usize {
        let members = &self.members;
        self.tree
            .root
            .partition(&mut |s, id| pred(s, member_of(members, id)))
    }

    fn set_score(&mut self, member: &[u8], score: f64) -> bool {
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

    fn remove(&mut self, member: &[u8]) -> bool {
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
}

fn member_of(members: &Members, id: u32) -> &[u8] {
    members.get(id).map_or(&b""[..], |s| s.member.as_bytes())
}

/// (score, member) order of two tree keys; a key equals only itself.
fn key_cmp(members: &Members, a_score: f64, a_id: u32, b_score: f64, b_id: u32) -> Ordering {
    if a_id == b_id {
        return Ordering::Equal;
    }
    // Members are looked up only on a score tie.
    score_cmp(a_score, b_score).then_with(|| member_of(members, a_id).cmp(member_of(members, b_id)))
}

/// Index of the first child whose greatest key is not below (score, id).
fn first_not_below(
    members: &Members,
    max_scores: &[f64],
    max_ids: &[u32],
    score: f64,
    id: u32,
) -> Option<usize> {
    max_scores
        .iter()
        .zip(max_ids)
        .position(|(&s, &k)| key_cmp(members, s, k, score, id) != Ordering::Less)
}

/// Position of the first key of a leaf not below (score, id).
fn leaf_pos(members: &Members, scores: &[f64], ids: &[u32], score: f64, id: u32) -> usize {
    leaf_partition(scores, ids, &mut |s, other| {
        key_cmp(members, s, other, score, id) == Ordering::Less
    })
}

/// Number of keys of a leaf, in order, for which `pred` holds (true for a prefix):
/// a binary search. `get` costs the same bounds check indexing would.
fn leaf_partition(scores: &[f64], ids: &[u32], pred: &mut impl FnMut(f64, u32) -> bool) -> usize {
    let (mut lo, mut hi) = (0, ids.len().min(scores.len()));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let holds = match (scores.get(mid), ids.get(mid)) {
            (Some(&s), Some(&id)) => pred(s, id),
            _ => false,
        };
        if holds {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Keys per leaf before a split, and children per inner node.
const LEAF_CAP: usize = 64;
const INNER_CAP: usize = 32;

#[derive(Clone)]
enum Node {
    /// Keys in order: `scores[i]` with slot `ids[i]`. Allocated at full capacity so
    /// memory is known from the node count.
    Leaf { scores: Vec<f64>, ids: Vec<u32> },
    /// Children with their key counts and greatest keys.
    Inner {
        children: Vec<Node>,
        counts: Vec<u32>,
        max_scores: Vec<f64>,
        max_ids: Vec<u32>,
    },
}

#[derive(Clone)]
struct Tree {
    root: Node,
    leaves: usize,
    inners: usize,
}

fn new_leaf() -> Node {
    Node::Leaf {
        scores: Vec::with_capacity(LEAF_CAP + 1),
        ids: Vec::with_capacity(LEAF_CAP + 1),
    }
}

fn new_inner() -> Node {
    Node::Inner {
        children: Vec::with_capacity(INNER_CAP + 1),
        counts: Vec::with_capacity(INNER_CAP + 1),
        max_scores: Vec::with_capacity(INNER_CAP + 1),
        max_ids: Vec::with_capacity(INNER_CAP + 1),
    }
}

impl Tree {
    fn new() -> Tree {
        Tree {
            root: new_leaf(),
            leaves: 1,
            inners: 0,
        }
    }

    fn heap_bytes(&self) -> usize {
        self.leaves * (LEAF_CAP + 1) * 12
            + self.inners * (INNER_CAP + 1) * (std::mem::size_of::<Node>() + 16)
    }

    fn insert(&mut self, members: &Members, score: f64, id: u32) {
        let mut counts = (0, 0);
        if let Some(right) = self.root.insert(members, score, id, &mut counts) {
            let left = std::mem::replace(&mut self.root, new_inner());
            if let Node::Inner {
                children,
                counts: c,
                max_scores,
                max_ids,
            } = &mut self.root
            {
                for child in [left, right] {
                    let (s, i) = child.max_key().unwrap_or((0.0, 0));
                    c.push(child.count());
                    max_scores.push(s);
                    max_ids.push(i);
                    children.push(child);
                }
            }
            counts.1 += 1;
        }
        self.leaves += counts.0;
        self.inners += counts.1;
    }

    fn remove(&mut self, members: &Members, score: f64, id: u32) -> bool {
        let mut freed = (0, 0);
        let removed = self.root.remove(members, score, id, &mut freed);
        self.leaves -= freed.0;
        self.inners -= freed.1;
        // Collapse a root with a single child (or none).
        loop {
            match &mut self.root {
                Node::Inner { children, .. } if children.len() <= 1 => {
                    let next = match children.pop() {
                        Some(child) => child,
                        None => {
                            self.leaves += 1;
                            new_leaf()
                        }
                    };
                    self.root = next;
                    self.inners -= 1;
                }
                _ => break,
            }
        }
        removed
    }

    fn get(&self, rank: usize) -> Option<(f64, u32)> {
        let mut node = &self.root;
        let mut rank = rank;
        loop {
            match node {
                Node::Leaf { scores, ids } => {
                    return Some((*scores.get(rank)?, *ids.get(rank)?));
                }
                Node::Inner {
                    children, counts, ..
                } => {
                    let mut next = None;
                    for (child, &c) in children.iter().zip(counts) {
                        if rank < c as usize {
                            next = Some(child);
                            break;
                        }
                        rank -= c as usize;
                    }
                    node = next?;
                }
            }
        }
    }
}

impl Node {
    fn count(&self) -> u32 {
        match self {
            Node::Leaf { ids, .. } => ids.len() as u32,
            Node::Inner { counts, .. } => counts.iter().sum(),
        }
    }

    /// Entries of this node (keys of a leaf, children of an inner node).
    fn width(&self) -> usize {
        match self {
            Node::Leaf { ids, .. } => ids.len(),
            Node::Inner { children, .. } => children.len(),
        }
    }

    fn max_key(&self) -> Option<(f64, u32)> {
        match self {
            Node::Leaf { scores, ids } => Some((*scores.last()?, *ids.last()?)),
            Node::Inner {
                max_scores,
                max_ids,
                ..
            } => Some((*max_scores.last()?, *max_ids.last()?)),
        }
    }

    /// Index of the child whose key range holds (score, id): the first whose greatest
    /// key is not below it, or the last child.
    fn child_for(
        members: &Members,
        max_scores: &[f64],
        max_ids: &[u32],
        score: f64,
        id: u32,
    ) -> usize {
        first_not_below(members, max_scores, max_ids, score, id)
            .unwrap_or(max_ids.len().saturating_sub(1))
    }

    /// Inserts a key; returns the new right sibling when this node split. `grown`
    /// counts new (leaves, inner nodes).
    fn insert(
        &mut self,
        members: &Members,
        score: f64,
        id: u32,
        grown: &mut (usize, usize),
    ) -> Option<Node> {
        match self {
            Node::Leaf { scores, ids } => {
                let pos = leaf_pos(members, scores, ids, score, id);
                scores.insert(pos, score);
                ids.insert(pos, id);
                if ids.len() <= LEAF_CAP {
                    return None;
                }
                // Appends (sorted loads) leave the left leaf nearly full.
                let at = if pos + 1 == ids.len() {
                    LEAF_CAP - LEAF_CAP / 8
                } else {
                    ids.len() / 2
                };
                let mut right = new_leaf();
                if let Node::Leaf {
                    scores: rs,
                    ids: ri,
                } = &mut right
                {
                    rs.extend(scores.drain(at..));
                    ri.extend(ids.drain(at..));
                }
                grown.0 += 1;
                Some(right)
            }
            Node::Inner {
                children,
                counts,
                max_scores,
                max_ids,
            } => {
                let i = Node::child_for(members, max_scores, max_ids, score, id);
                let child = children.get_mut(i)?;
                let split = child.insert(members, score, id, grown);
                let child_max = child.max_key();
                // After a split the child kept only part of its keys: count them.
                let child_count = split.as_ref().map(|_| child.count());
                if let (Some((s, k)), Some(ms), Some(mk)) =
                    (child_max, max_scores.get_mut(i), max_ids.get_mut(i))
                {
                    *ms = s;
                    *mk = k;
                }
                if let Some(c) = counts.get_mut(i) {
                    *c = child_count.unwrap_or(*c + 1);
                }
                // The four vectors run in parallel and `i` is a child's index, so
                // `i + 1` is within each for `insert`.
                if let Some(right) = split {
                    let (s, k) = right.max_key().unwrap_or((0.0, 0));
                    counts.insert(i + 1, right.count());
                    max_scores.insert(i + 1, s);
                    max_ids.insert(i + 1, k);
                    children.insert(i + 1, right);
                }
                if children.len() <= INNER_CAP {
                    return None;
                }
                let at = children.len() / 2;
                let mut right = new_inner();
                if let Node::Inner {
                    children: rc,
                    counts: rn,
                    max_scores: rs,
                    max_ids: ri,
                } = &mut right
                {
                    rc.extend(children.drain(at..));
                    rn.extend(counts.drain(at..));
                    rs.extend(max_scores.drain(at..));
                    ri.extend(max_ids.drain(at..));
                }
                grown.1 += 1;
                Some(right)
            }
        }
    }

    /// Removes a key; true when found. Underfull children are merged with a neighbour
    /// when both fit in one node. `freed` counts dropped (leaves, inner nodes).
    fn remove(
        &mut self,
        members: &Members,
        score: f64,
        id: u32,
        freed: &mut (usize, usize),
    ) -> bool {
        match self {
            Node::Leaf { scores, ids } => {
                let pos = leaf_pos(members, scores, ids, score, id);
                if ids.get(pos) != Some(&id) {
                    return false;
                }
                scores.remove(pos);
                ids.remove(pos);
                true
            }
            Node::Inner {
                children,
                counts,
                max_scores,
                max_ids,
            } => {
                let Some(i) = first_not_below(members, max_scores, max_ids, score, id) else {
                    return false;
                };
                let Some(child) = children.get_mut(i) else {
                    return false;
                };
                if !child.remove(members, score, id, freed) {
                    return false;
                }
                let (child_max, child_width) = (child.max_key(), child.width());
                let cap = if matches!(child, Node::Leaf { .. }) {
                    LEAF_CAP
                } else {
                    INNER_CAP
                };
                let Some(count) = counts.get_mut(i) else {
                    return true;
                };
                *count = count.saturating_sub(1);
                // `i` indexes all four parallel vectors, so `remove(i)` is in range.
                if *count == 0 {
                    let gone = children.remove(i);
                    counts.remove(i);
                    max_scores.remove(i);
                    max_ids.remove(i);
                    gone.count_nodes(freed);
                    return true;
                }
                if let (Some((s, k)), Some(ms), Some(mk)) =
                    (child_max, max_scores.get_mut(i), max_ids.get_mut(i))
                {
                    *ms = s;
                    *mk = k;
                }
                if child_width >= cap / 4 {
                    return true;
                }
                let j = if i > 0 { i - 1 } else { i + 1 };
                let Some(neighbour_width) = children.get(j).map(Node::width) else {
                    return true;
                };
                if child_width + neighbour_width > cap {
                    return true;
                }
                // lo < hi, both children's indexes: in range of every vector.
                let (lo, hi) = (i.min(j), i.max(j));
                let right = children.remove(hi);
                let right_count = counts.remove(hi);
                let right_max = (max_scores.remove(hi), max_ids.remove(hi));
                if let (Some(c), Some(ms), Some(mk)) = (
                    counts.get_mut(lo),
                    max_scores.get_mut(lo),
                    max_ids.get_mut(lo),
                ) {
                    *c += right_count;
                    *ms = right_max.0;
                    *mk = right_max.1;
                }
                match (children.get_mut(lo), right) {
                    (
                        Some(Node::Leaf { scores, ids }),
                        Node::Leaf {
                            scores: rs,
                            ids: ri,
                        },
                    ) => {
                        scores.extend(rs);
                        ids.extend(ri);
                        freed.0 += 1;
                    }
                    (
                        Some(Node::Inner {
                            children: c,
                            counts: n,
                            max_scores: s,
                            max_ids: k,
                        }),
                        Node::Inner {
                            children: rc,
                            counts: rn,
                            max_scores: rs,
                            max_ids: rk,
                        },
                    ) => {
                        c.extend(rc);
                        n.extend(rn);
                        s.extend(rs);
                        k.extend(rk);
                        freed.1 += 1;
                    }
                    // Siblings are always at the same height, and `lo` is one.
                    _ => unreachable!("B+tree siblings of different heights"),
                }
                true
            }
        }
    }

    fn count_nodes(&self, acc: &mut (usize, usize)) {
        match self {
            Node::Leaf { .. } => acc.0 += 1,
            Node::Inner { children, .. } => {
                acc.1 += 1;
                for c in children {
                    c.count_nodes(acc);
                }
            }
        }
    }

    /// Number of keys, in order, for which `pred` holds (true for a prefix).
    fn partition(&self, pred: &mut impl FnMut(f64, u32) -> bool) -> usize {
        match self {
            Node::Leaf { scores, ids } => leaf_partition(scores, ids, pred),
            Node::Inner {
                children,
                counts,
                max_scores,
                max_ids,
            } => {
                let mut acc = 0usize;
                let keyed = max_scores.iter().zip(max_ids).zip(counts).zip(children);
                for (((&s, &k), &c), child) in keyed {
                    if pred(s, k) {
                        acc += c as usize;
                    } else {
                        return acc + child.partition(pred);
                    }
                }
                acc
            }
        }
    }

    /// Visits ranks `lo..hi` of this subtree (ascending, or descending when `rev`)
    /// while `f` returns true; false when `f` stopped the walk.
    fn visit(&self, lo: usize, hi: usize, rev: bool, f: &mut impl FnMut(f64, u32) -> bool) -> bool {
        match self {
            Node::Leaf { scores, ids } => {
                let hi = hi.min(ids.len()).min(scores.len());
                let (Some(scores), Some(ids)) = (scores.get(lo..hi), ids.get(lo..hi)) else {
                    // lo >= hi: nothing to visit.
                    return true;
                };
                let mut keys = scores.iter().zip(ids);
                if rev {
                    keys.rev().all(|(&s, &id)| f(s, id))
                } else {
                    keys.all(|(&s, &id)| f(s, id))
                }
            }
            Node::Inner {
                children, counts, ..
            } => {
                let ranked = children.iter().zip(counts);
                if rev {
                    let mut end: usize = counts.iter().map(|&c| c as usize).sum();
                    for (child, &c) in ranked.rev() {
                        let start = end.saturating_sub(c as usize);
                        if !child.visit_ranks(start, end, lo, hi, rev, f) {
                            return false;
                        }
                        end = start;
                    }
                } else {
                    let mut start = 0usize;
                    for (child, &c) in ranked {
                        let end = start + c as usize;
                        if !child.visit_ranks(start, end, lo, hi, rev, f) {
                            return false;
                        }
                        start = end;
                    }
                }
                true
            }
        }
    }

    /// `visit` of ranks `lo..hi` of the parent on this child, which holds the parent's
    /// ranks `start..end`.
    fn visit_ranks(
        &self,
        start: usize,
        end: usize,
        lo: usize,
        hi: usize,
        rev: bool,
        f: &mut impl FnMut(f64, u32) -> bool,
    ) -> bool {
        if end <= lo || start >= hi {
            return true;
        }
        self.visit(
            lo.saturating_sub(start),
            hi.min(end).saturating_sub(start),
            rev,
            f,
        )
    }
}

#[cfg(test)]
mod tests {
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
        assert_eq!(Slab::<Scored>::slot_bytes(), 32);
        assert_eq!(std::mem::size_of::<PackedEntry>(), 32);
    }

    #[test]
    fn score_text_as_redis() {
        for (v, want) in [
            (0.1, "0.10000000000000001"),
            (0.1 + 0.2, "0.30000000000000004"),
            (1e300, "1.0000000000000001e+300"),
            (-0.0, "-0"),
            (0.0, "0"),
            (5.0, "5"),
            (1e17, "1e+17"),
            (1e16, "10000000000000000"),
            (123456.789, "123456.789"),
            (9007199254740993.0, "9007199254740992"),
            (-1e18, "-1e+18"),
            (0.0001, "0.0001"),
            (0.00001, "1.0000000000000001e-05"),
            (1.5e-310, "1.5000000000000201e-310"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (2.5, "2.5"),
        ] {
            assert_eq!(fmt_score(v), want, "{v:e}");
        }
        assert_eq!(fmt_listpack_score(-0.0), "0");
        assert_eq!(fmt_listpack_score(4e18), "4000000000000000000");
        assert_eq!(
            fmt_listpack_score(4611686018427387904.0),
            "4611686018427387904"
        );
        assert_eq!(fmt_listpack_score(5e18), "5e+18");
        assert_eq!(fmt_listpack_score(0.5), "0.5");
    }

    #[test]
    fn parsing_as_strtod() {
        assert_eq!(parse_score(b"1.5"), Some(1.5));
        assert_eq!(parse_score(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_score(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_score(b"0x10"), Some(16.0));
        assert_eq!(parse_score(b"0x1.8p1"), Some(3.0));
        assert_eq!(parse_score(b".5"), Some(0.5));
        assert_eq!(parse_score(b"5."), Some(5.0));
        assert_eq!(parse_score(b"1e-310").map(|v| v > 0.0), Some(true));
        for (text, want) in [
            (&b"1.e5"[..], 1e5),
            (b".5e1", 5.0),
            (b"5.E-1", 0.5),
            (b"00012", 12.0),
            (b"-.5", -0.5),
            (b"1e+2", 100.0),
            (b"0X1P-2", 0.25),
            (b"-0x.8", -0.5),
        ] {
            assert_eq!(
                parse_score(text),
                Some(want),
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
        for bad in [
            &b""[..],
            b" 1",
            b"1 ",
            b"nan",
            b"1e400",
            b"1e-400",
            b"abc",
            b"1e",
            b"0x",
            b"--1",
            b"inf1",
        ] {
            assert_eq!(parse_score(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
        let r = ScoreRange::parse(b"", b"(").expect("empty texts are 0");
        assert_eq!((r.min, r.max, r.minex, r.maxex), (0.0, 0.0, false, true));
        assert!(ScoreRange::parse(b" 1", b"1e400").is_some());
        assert!(ScoreRange::parse(b"nan", b"1").is_none());
        assert!(ScoreRange::parse(b"1 ", b"1").is_none());
        assert!(ScoreRange::parse(b"(", b"((1").is_none());
        // A NUL ends a bound, as it ends the C string strtod reads; not a score.
        assert!(ScoreRange::parse(b"1\x00junk", b"(2\x00").is_some());
        assert_eq!(parse_score(b"1\x00"), None);
        // Scores below 2^-1022 keep their value (powi underflowed them to 0 once).
        assert_eq!(
            parse_score(b"0x1000000000p-1050"),
            Some(5.696189077778436e-306)
        );
        assert_eq!(parse_score(b"0x1p-5000"), None);
    }

    #[test]
    fn score_order_is_total() {
        use Ordering::*;
        assert_eq!(score_cmp(-0.0, 0.0), Equal);
        assert_eq!(score_cmp(f64::NAN, f64::INFINITY), Greater);
        assert_eq!(score_cmp(f64::NEG_INFINITY, f64::NAN), Less);
        assert_eq!(score_cmp(f64::NAN, -f64::NAN), Equal);
        assert_eq!(entry_cmp(f64::NAN, b"a", f64::NAN, b"b"), Less);
    }

    proptest::proptest! {
        /// Sorting arbitrary bit patterns (NaNs included) by `score_cmp` and
        /// `entry_cmp` never panics and yields an order consistent with them.
        #[test]
        fn score_order_sorts_any_bits(
            raw in proptest::collection::vec((proptest::prelude::any::<u64>(), 0u8..4), 0..200),
        ) {
            let mut scores: Vec<f64> = raw.iter().map(|&(b, _)| f64::from_bits(b)).collect();
            scores.sort_by(|a, b| score_cmp(*a, *b));
            proptest::prop_assert!(scores.windows(2).all(|w| score_cmp(w[0], w[1]) != Ordering::Greater));
            let mut entries: Vec<(f64, [u8; 1])> =
                raw.iter().map(|&(b, m)| (f64::from_bits(b), [m])).collect();
            entries.sort_by(|a, b| entry_cmp(a.0, &a.1, b.0, &b.1));
            proptest::prop_assert!(entries
                .windows(2)
                .all(|w| entry_cmp(w[0].0, &w[0].1, w[1].0, &w[1].1) != Ordering::Greater));
        }
    }

    #[test]
    fn lex_ranges() {
        let r = LexRange::parse(b"-", b"+").expect("valid");
        assert!(!r.is_empty() && r.gte_min(b"") && r.lte_max(b"\xff"));
        assert!(LexRange::parse(b"+", b"+").expect("valid").is_empty());
        assert!(LexRange::parse(b"[b", b"(b").expect("valid").is_empty());
        assert!(!LexRange::parse(b"[b", b"[b").expect("valid").is_empty());
        assert!(LexRange::parse(b"b", b"[b").is_none());
        assert!(LexRange::parse(b"", b"[b").is_none());
        let r = LexRange::parse(b"(a", b"[c").expect("valid");
        assert!(!r.gte_min(b"a") && r.gte_min(b"aa") && r.lte_max(b"c") && !r.lte_max(b"ca"));
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
                assert_eq!(b.members.heap_bytes(), 0);
                assert_eq!((b.tree.leaves, b.tree.inners), (1, 0));
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
            let mut acc = (0, 0);
            b.tree.root.count_nodes(&mut acc);
            assert_eq!(acc, (b.tree.leaves, b.tree.inners));
            assert_eq!(b.tree.root.count() as usize, want.len());
            check_node(&b.tree.root, &b.members);
        }
    }

    fn check_node(node: &Node, members: &Members) {
        match node {
            Node::Leaf { scores, ids } => {
                for w in 0..ids.len().saturating_sub(1) {
                    let order = key_cmp(members, scores[w], ids[w], scores[w + 1], ids[w + 1]);
                    assert_eq!(order, Ordering::Less, "leaf keys out of order");
                }
            }
            Node::Inner {
                children,
                counts,
                max_scores,
                max_ids,
            } => {
                for (i, c) in children.iter().enumerate() {
                    assert_eq!(c.count(), counts[i]);
                    assert_eq!(c.max_key(), Some((max_scores[i], max_ids[i])));
                    check_node(c, members);
                }
            }
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
