//! The set type with Redis 7.0's two encodings as `OBJECT ENCODING` reports them:
//! `intset` (sorted integers packed as offsets from the smallest at the narrowest
//! width, 1/2/4/8 bytes, while every member is an integer and the count is within
//! `set-max-intset-entries`) and
//! `hashtable` (24-byte slots, members up to 22 bytes inline, stable slot ids that
//! SSCAN's cursor walks). Conversion is one way, as in Redis 7.0 (no listpack sets
//! before 7.2). Nothing here knows about clients, config or the keyspace.

use super::SmallBytes;
use crate::malloc_model::chunk_bytes;
use crate::slab::{ScanBudget, Slab, SlabEntry};
use crate::util::{i64_to_bytes, parse_i64};

/// Keys a hash table built by a conversion (drawn from the node's RNG by the caller).
pub type Seeds<'a> = &'a mut dyn FnMut() -> [u64; 4];

/// Redis 7.0's compiled-in `set-max-intset-entries`.
pub const DEFAULT_MAX_INTSET_ENTRIES: usize = 512;

/// 16 bytes, so `Value::Set` holds it inline (no extra allocation per set).
#[derive(Clone)]
pub enum Set {
    Ints(IntSet),
    /// Boxed so a set stays 16 bytes.
    Table(Box<Table>),
}

impl Default for Set {
    /// An empty `intset`, as Redis's `createIntsetObject`.
    fn default() -> Self {
        Set::Ints(IntSet::default())
    }
}

/// One member as a set holds it: an integer of an intset, or bytes of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl Member<'_> {
    /// Runs `f` on the member's string form (an integer printed as Redis prints it).
    pub fn with_bytes<R>(self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Member::Int(n) => f(&i64_to_bytes(n)),
            Member::Bytes(b) => f(b),
        }
    }

    pub fn to_vec(self) -> Vec<u8> {
        match self {
            Member::Int(n) => i64_to_bytes(n),
            Member::Bytes(b) => b.to_vec(),
        }
    }
}

impl Set {
    /// Redis's `setTypeCreate`: an intset when `first` is an integer, else a table.
    pub fn create(first: &[u8], seeds: Seeds<'_>) -> Set {
        if parse_i64(first).is_some() {
            Set::default()
        } else {
            Set::Table(Box::new(Table::new(seeds(), 0)))
        }
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            Set::Ints(_) => "intset",
            Set::Table(_) => "hashtable",
        }
    }

    pub fn is_intset(&self) -> bool {
        matches!(self, Set::Ints(_))
    }

    pub fn len(&self) -> usize {
        match self {
            Set::Ints(i) => i.len(),
            Set::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes owned, O(1) (the keyspace asks before and after every change), each
    /// allocation counted as the allocator's chunk for it (`malloc_model`).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Set::Ints(i) => chunk_bytes(i.buf.len()),
            Set::Table(t) => t.heap_bytes(),
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match self {
            Set::Ints(i) => parse_i64(member).is_some_and(|n| i.find(n).is_ok()),
            Set::Table(t) => t.find(member).is_some(),
        }
    }

    /// `contains` for a member taken from another set (no string round trip for
    /// intset against intset).
    pub fn contains_member(&self, member: Member<'_>) -> bool {
        match (self, member) {
            (Set::Ints(i), Member::Int(n)) => i.find(n).is_ok(),
            (_, m) => m.with_bytes(|b| self.contains(b)),
        }
    }

    /// Redis's `setTypeAdd`: adds `member`, converting to a table when it is not an
    /// integer (before) or when the intset grows past `max_intset_entries` (after).
    /// True when it was not there.
    pub fn add(&mut self, member: &[u8], max_intset_entries: usize, seeds: Seeds<'_>) -> bool {
        if let Set::Ints(ints) = self {
            match parse_i64(member) {
                Some(n) => {
                    if !ints.insert(n) {
                        return false;
                    }
                    if ints.len() > max_intset_entries {
                        self.convert(seeds);
                    }
                    return true;
                }
                None => self.convert(seeds),
            }
        }
        match self {
            Set::Table(t) => t.insert(member),
            Set::Ints(_) => false,
        }
    }

    /// `add` for a member taken from another set.
    pub fn add_member(
        &mut self,
        member: Member<'_>,
        max_intset_entries: usize,
        seeds: Seeds<'_>,
    ) -> bool {
        member.with_bytes(|b| self.add(b, max_intset_entries, seeds))
    }

    /// Removes `member`; true when it was there. An intset never converts back.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self {
            Set::Ints(i) => parse_i64(member).is_some_and(|n| i.remove(n)),
            Set::Table(t) => t.remove(member),
        }
    }

    pub fn remove_member(&mut self, member: Member<'_>) -> bool {
        match (&mut *self, member) {
            (Set::Ints(i), Member::Int(n)) => i.remove(n),
            (_, m) => m.with_bytes(|b| self.remove(b)),
        }
    }

    /// Every member: ascending for an intset (as Redis, observable in SMEMBERS),
    /// slot order for a table.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Member<'_>> + '_> {
        match self {
            Set::Ints(i) => Box::new(i.iter().map(Member::Int)),
            Set::Table(t) => Box::new(t.members.iter().map(|(_, m)| Member::Bytes(m.as_bytes()))),
        }
    }

    /// The one-way conversion to a table (Redis's `setTypeConvert`).
    pub fn convert(&mut self, seeds: Seeds<'_>) {
        if let Set::Ints(ints) = self {
            let mut t = Table::new(seeds(), ints.len());
            for n in ints.iter() {
                t.insert(&i64_to_bytes(n));
            }
            *self = Set::Table(Box::new(t));
        }
    }

    /// A position usable with `member_at`: an index in an intset, a slot id in a
    /// table. Uniform over members; `draw(n)` returns a value in [0, n).
    pub fn random_position(&self, mut draw: impl FnMut(u64) -> u64) -> Option<u64> {
        if self.is_empty() {
            return None;
        }
        match self {
            Set::Ints(i) => Some(draw(i.len() as u64)),
            Set::Table(t) => t.members.random_id(RANDOM_TRIES, draw).map(u64::from),
        }
    }

    pub fn member_at(&self, position: u64) -> Option<Member<'_>> {
        match self {
            Set::Ints(i) => i.get(usize::try_from(position).ok()?).map(Member::Int),
            Set::Table(t) => t
                .members
                .get(u32::try_from(position).ok()?)
                .map(|m| Member::Bytes(m.as_bytes())),
        }
    }

    /// Every member with its `member_at` position, in `iter` order.
    pub fn iter_positions(&self) -> Box<dyn Iterator<Item = (u64, Member<'_>)> + '_> {
        match self {
            Set::Ints(i) => Box::new(
                i.iter()
                    .enumerate()
                    .map(|(p, n)| (p as u64, Member::Int(n))),
            ),
            Set::Table(t) => Box::new(
                t.members
                    .iter()
                    .map(|(id, m)| (u64::from(id), Member::Bytes(m.as_bytes()))),
            ),
        }
    }

    pub fn random_member(&self, draw: impl FnMut(u64) -> u64) -> Option<Member<'_>> {
        self.member_at(self.random_position(draw)?)
    }

    /// For SSCAN: members from `cursor` on, visiting up to `max_entries` live slots'
    /// members of a table (an intset answers everything at once, as Redis). The
    /// cursor is (table generation << 32) | slot id. A member keeps its slot while it
    /// stays, so one present for a whole scan is returned at least once however the
    /// set grows or shrinks; when a very sparse table is compacted (its generation
    /// changes) a cursor of the old generation restarts from the first slot, which
    /// may repeat members (as SCAN may) but never skips one. Returns the next
    /// cursor, 0 at the end.
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        max_entries: usize,
        mut visit: impl FnMut(Member<'a>),
    ) -> u64 {
        match self {
            Set::Ints(i) => {
                i.iter().for_each(|n| visit(Member::Int(n)));
                0
            }
            Set::Table(t) => {
                let generation = t.members.generation();
                let from = if cursor >> 32 == u64::from(generation) {
                    cursor & u64::from(u32::MAX)
                } else {
                    0
                };
                let next = t
                    .members
                    .scan(from, ScanBudget::Entries(max_entries), |_, m| {
                        visit(Member::Bytes(m.as_bytes()))
                    });
                if next == 0 {
                    0
                } else {
                    (u64::from(generation) << 32) | next
                }
            }
        }
    }
}

impl PartialEq for Set {
    /// Same members, whatever the encoding or order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|m| other.contains_member(m))
    }
}

impl std::fmt::Debug for Set {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = f.debug_set();
        for m in self.iter() {
            s.entry(&String::from_utf8_lossy(&m.to_vec()));
        }
        s.finish()
    }
}

// ---------------------------------------------------------------------------------
// intset: the members ascending, stored as unsigned offsets from the smallest (a
// frame of reference) at the narrowest width that holds the range (1, 2, 4 or 8
// bytes): a width byte, the base as a zigzag varint, then the offsets little-endian.
// One exact allocation; empty when no members. Redis packs the values themselves at
// 2, 4 or 8 bytes; offsets make a set of nearby ids (1000000..1000500) 2 bytes each.
// ---------------------------------------------------------------------------------

#[derive(Clone, Default)]
pub struct IntSet {
    buf: Box<[u8]>,
}

/// Bytes per offset for offsets up to `max_offset`.
fn width_for_range(max_offset: u64) -> usize {
    if max_offset <= u8::MAX as u64 {
        1
    } else if max_offset <= u16::MAX as u64 {
        2
    } else if max_offset <= u32::MAX as u64 {
        4
    } else {
        8
    }
}

/// The decoded header of a non-empty intset.
#[derive(Clone, Copy)]
struct Frame {
    width: usize,
    base: i64,
    data_start: usize,
    len: usize,
}

impl Frame {
    /// The largest offset this width can hold.
    fn max_offset(self) -> u64 {
        match self.width {
            1 => u8::MAX as u64,
            2 => u16::MAX as u64,
            4 => u32::MAX as u64,
            _ => u64::MAX,
        }
    }
}

impl IntSet {
    fn frame(&self) -> Option<Frame> {
        let width = *self.buf.first()? as usize;
        if !matches!(width, 1 | 2 | 4 | 8) {
            return None;
        }
        let mut zigzag = 0u64;
        let mut used = 0;
        for (i, &b) in self.buf.get(1..)?.iter().take(10).enumerate() {
            zigzag |= ((b & 0x7f) as u64).checked_shl(7 * i as u32)?;
            used = i + 1;
            if b & 0x80 == 0 {
                break;
            }
        }
        let base = ((zigzag >> 1) as i64) ^ -((zigzag & 1) as i64);
        let data_start = 1 + used;
        let len = self.buf.len().saturating_sub(data_start) / width;
        Some(Frame {
            width,
            base,
            data_start,
            len,
        })
    }

    pub fn len(&self) -> usize {
        self.frame().map_or(0, |f| f.len)
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    fn offset_at(&self, f: Frame, i: usize) -> Option<u64> {
        let start = f.data_start.checked_add(i.checked_mul(f.width)?)?;
        let b = self.buf.get(start..start.checked_add(f.width)?)?;
        let mut word = [0u8; 8];
        word.get_mut(..f.width)?.copy_from_slice(b);
        Some(u64::from_le_bytes(word))
    }

    pub fn get(&self, i: usize) -> Option<i64> {
        let f = self.frame()?;
        if i >= f.len {
            return None;
        }
        let off = self.offset_at(f, i)?;
        Some((f.base as u64).wrapping_add(off) as i64)
    }

    pub fn iter(&self) -> impl Iterator<Item = i64> + '_ {
        let frame = self.frame();
        (0..frame.map_or(0, |f| f.len)).filter_map(move |i| {
            let f = frame?;
            Some((f.base as u64).wrapping_add(self.offset_at(f, i)?) as i64)
        })
    }

    /// Binary search: Ok(index) when present, Err(insertion index) when not.
    fn find(&self, n: i64) -> Result<usize, usize> {
        let Some(f) = self.frame() else {
            return Err(0);
        };
        if n < f.base {
            return Err(0);
        }
        // Exact: n >= base, so the difference fits in a u64.
        let target = (n as u64).wrapping_sub(f.base as u64);
        if target > f.max_offset() {
            return Err(f.len);
        }
        let (mut lo, mut hi) = (0usize, f.len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.offset_at(f, mid) {
                Some(v) if v < target => lo = mid + 1,
                Some(v) if v > target => hi = mid,
                Some(_) => return Ok(mid),
                None => return Err(lo),
            }
        }
        Err(lo)
    }

    /// Re-encodes `values` (ascending, distinct) at the narrowest width.
    fn encode(values: impl ExactSizeIterator<Item = i64> + Clone) -> Box<[u8]> {
        let len = values.len();
        let (Some(min), Some(max)) = (values.clone().next(), values.clone().last()) else {
            return Box::default();
        };
        let width = width_for_range((max as u64).wrapping_sub(min as u64));
        let mut zigzag = ((min << 1) ^ (min >> 63)) as u64;
        let mut out = Vec::with_capacity(1 + 10 + len * width);
        out.push(width as u8);
        loop {
            let byte = (zigzag & 0x7f) as u8;
            zigzag >>= 7;
            if zigzag == 0 {
                out.push(byte);
                break;
            }
            out.push(byte | 0x80);
        }
        for v in values {
            let off = (v as u64).wrapping_sub(min as u64);
            out.extend_from_slice(off.to_le_bytes().get(..width).unwrap_or_default());
        }
        out.into_boxed_slice()
    }

    /// True when added.
    fn insert(&mut self, n: i64) -> bool {
        match self.find(n) {
            Ok(_) => false,
            Err(at) => {
                if let Some(f) = self.frame().filter(|f| at > 0 && at < f.len) {
                    // Strictly between the smallest and largest: same base and width,
                    // so the offset's bytes go in as they are (a memmove, as Redis).
                    let off = (n as u64).wrapping_sub(f.base as u64);
                    let pos = f.data_start + at * f.width;
                    let mut buf = Vec::with_capacity(self.buf.len() + f.width);
                    buf.extend_from_slice(self.buf.get(..pos).unwrap_or_default());
                    buf.extend_from_slice(off.to_le_bytes().get(..f.width).unwrap_or_default());
                    buf.extend_from_slice(self.buf.get(pos..).unwrap_or_default());
                    self.buf = buf.into_boxed_slice();
                    return true;
                }
                let old: Vec<i64> = self.iter().collect();
                let (head, tail) = old.split_at(at.min(old.len()));
                let all: Vec<i64> = head
                    .iter()
                    .copied()
                    .chain([n])
                    .chain(tail.iter().copied())
                    .collect();
                self.buf = Self::encode(all.iter().copied());
                true
            }
        }
    }

    fn remove(&mut self, n: i64) -> bool {
        match self.find(n) {
            Ok(at) => {
                if let Some(f) = self.frame().filter(|f| at > 0 && at + 1 < f.len) {
                    // Neither end: base and width stay; cut the offset's bytes out.
                    let pos = f.data_start + at * f.width;
                    let mut buf = Vec::with_capacity(self.buf.len() - f.width);
                    buf.extend_from_slice(self.buf.get(..pos).unwrap_or_default());
                    buf.extend_from_slice(self.buf.get(pos + f.width..).unwrap_or_default());
                    self.buf = buf.into_boxed_slice();
                    return true;
                }
                let rest: Vec<i64> = self
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| (i != at).then_some(v))
                    .collect();
                self.buf = Self::encode(rest.iter().copied());
                true
            }
            Err(_) => false,
        }
    }
}

// ---------------------------------------------------------------------------------
// hashtable: a `Slab` of members as `SmallBytes` (24-byte slots, members up to 22
// bytes inline), compacted when very sparse.
// ---------------------------------------------------------------------------------

/// Random slots SPOP and SRANDMEMBER try before walking.
const RANDOM_TRIES: usize = 64;

impl SlabEntry for SmallBytes {
    fn key(&self) -> &[u8] {
        self.as_bytes()
    }

    fn heap_bytes(&self) -> usize {
        SmallBytes::heap_bytes(self)
    }
}

#[derive(Clone)]
pub struct Table {
    members: Slab<SmallBytes>,
}

/// A table this sparse (live members under 1/8 of its slots, and at least this many
/// slots) is compacted, so memory returns after mass removals as Redis's dict shrinks.
const COMPACT_MIN_SLOTS: u64 = 64;
const COMPACT_SPARSENESS: u64 = 8;

impl Table {
    fn new(seeds: [u64; 4], capacity: usize) -> Table {
        Table {
            members: Slab::with_capacity(seeds, capacity),
        }
    }

    fn len(&self) -> usize {
        self.members.len()
    }

    fn heap_bytes(&self) -> usize {
        chunk_bytes(std::mem::size_of::<Table>()) + self.members.heap_bytes()
    }

    fn find(&self, member: &[u8]) -> Option<u32> {
        self.members.find(member)
    }

    /// True when added.
    fn insert(&mut self, member: &[u8]) -> bool {
        if self.find(member).is_some() {
            return false;
        }
        self.members.insert(SmallBytes::new(member));
        true
    }

    /// Compaction moves members to dense slots (keeping their order) and starts a new
    /// generation for SSCAN cursors. Amortized O(1): it follows at least 7/8 of the
    /// slots being emptied.
    fn remove(&mut self, member: &[u8]) -> bool {
        if self.members.remove_key(member).is_none() {
            return false;
        }
        self.members.release_if_empty();
        if self
            .members
            .is_sparse(COMPACT_MIN_SLOTS, COMPACT_SPARSENESS)
        {
            self.members.compact();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn seeds() -> [u64; 4] {
        [9, 8, 7, 6]
    }

    fn add(s: &mut Set, m: &[u8], max: usize) -> bool {
        s.add(m, max, &mut seeds)
    }

    fn members(s: &Set) -> Vec<Vec<u8>> {
        s.iter().map(Member::to_vec).collect()
    }

    /// The intset buffer's length (its layout), beside the chunk `heap_bytes` counts.
    fn ints_bytes(s: &Set) -> usize {
        match s {
            Set::Ints(i) => i.buf.len(),
            Set::Table(_) => panic!("not an intset"),
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(Slab::<SmallBytes>::slot_bytes(), 24);
        assert_eq!(std::mem::size_of::<Set>(), 16);
        assert_eq!(std::mem::size_of::<crate::types::Value>(), 24);
    }

    #[test]
    fn intset_sorted_widths_and_conversion() {
        let mut s = Set::default();
        for m in ["5", "-3", "70000", "1", "-9223372036854775808", "1", "300"] {
            add(&mut s, m.as_bytes(), 512);
        }
        assert_eq!(s.encoding_name(), "intset");
        assert_eq!(s.len(), 6);
        let want: Vec<Vec<u8>> = ["-9223372036854775808", "-3", "1", "5", "300", "70000"]
            .iter()
            .map(|m| m.as_bytes().to_vec())
            .collect();
        assert_eq!(members(&s), want);
        assert!(s.contains(b"70000"));
        assert!(!s.contains(b"070000"));
        assert!(!s.contains(b"x"));
        assert!(s.remove(b"-9223372036854775808"));
        assert!(!s.remove(b"-9223372036854775808"));
        assert!(!s.remove(b"99999999999"));
        assert_eq!(s.len(), 5);
        // Not an integer as Redis reads integers: converts.
        assert!(add(&mut s, b"01", 512));
        assert_eq!(s.encoding_name(), "hashtable");
        assert!(s.contains(b"70000") && s.contains(b"01") && !s.contains(b"1 "));
        assert_eq!(s.len(), 6);
    }

    #[test]
    fn intset_converts_past_max_entries() {
        let mut s = Set::default();
        for i in 0..3 {
            add(&mut s, i.to_string().as_bytes(), 3);
        }
        assert_eq!(s.encoding_name(), "intset");
        assert!(!add(&mut s, b"2", 3));
        assert_eq!(s.encoding_name(), "intset");
        assert!(add(&mut s, b"3", 3));
        assert_eq!(s.encoding_name(), "hashtable");
        assert_eq!(s.len(), 4);
        let mut ms = members(&s);
        ms.sort();
        assert_eq!(
            ms,
            vec![b"0".to_vec(), b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]
        );
        // Max 0: the first add converts, as Redis.
        let mut z = Set::default();
        add(&mut z, b"1", 0);
        assert_eq!(z.encoding_name(), "hashtable");
    }

    #[test]
    fn intset_matches_model() {
        let mut s = Set::default();
        let mut model = BTreeSet::new();
        let mut x = 12345u64;
        for step in 0..5000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let scale = [100u64, 1 << 20, 1 << 40, u64::MAX][step % 4];
            let n = ((x >> 11) % scale) as i64 - (scale / 2) as i64;
            if x.is_multiple_of(3) {
                assert_eq!(s.remove(n.to_string().as_bytes()), model.remove(&n));
            } else {
                assert_eq!(
                    add(&mut s, n.to_string().as_bytes(), usize::MAX),
                    model.insert(n)
                );
            }
        }
        let got: Vec<i64> = s
            .iter()
            .map(|m| match m {
                Member::Int(n) => n,
                Member::Bytes(_) => panic!("intset yields integers"),
            })
            .collect();
        assert_eq!(got, model.into_iter().collect::<Vec<_>>());
        // The last values span the whole i64 range: 8-byte offsets.
        let header = ints_bytes(&s) - s.len() * 8;
        assert!((2..=11).contains(&header), "{header}");
    }

    #[test]
    fn intset_offsets_use_the_narrowest_width_for_the_range() {
        let mut s = Set::default();
        for n in 1_000_000..=1_000_500 {
            add(&mut s, n.to_string().as_bytes(), 1000);
        }
        // Width byte, 3-byte varint base, 501 two-byte offsets.
        assert_eq!(ints_bytes(&s), 1 + 3 + 501 * 2);
        assert_eq!(s.heap_bytes(), chunk_bytes(1 + 3 + 501 * 2));
        assert!(s.contains(b"1000000") && s.contains(b"1000500"));
        assert!(!s.contains(b"999999") && !s.contains(b"1000501"));
        // A new smallest member rebases; removing the extremes narrows again.
        add(&mut s, b"-5", 1000);
        assert_eq!(s.iter().next(), Some(Member::Int(-5)));
        assert!(ints_bytes(&s) > 1 + 502 * 4);
        assert!(s.remove(b"-5"));
        assert_eq!(ints_bytes(&s), 1 + 3 + 501 * 2);
        let mut t = Set::default();
        for n in [i64::MIN, i64::MAX, 0] {
            add(&mut t, n.to_string().as_bytes(), 10);
        }
        let got: Vec<Vec<u8>> = members(&t);
        assert_eq!(
            got,
            vec![
                i64::MIN.to_string().into_bytes(),
                b"0".to_vec(),
                i64::MAX.to_string().into_bytes()
            ]
        );
        assert!(t.contains(i64::MAX.to_string().as_bytes()));
        for n in [1u8, 2, 3] {
            let mut d = Set::default();
            for i in 0..200 {
                add(&mut d, (i * n as i64 - 7).to_string().as_bytes(), 1000);
            }
            assert_eq!(ints_bytes(&d), 1 + 1 + 200 * if n == 1 { 1 } else { 2 });
        }
    }

    #[test]
    fn table_insert_remove_and_memory_returns() {
        let mut s = Set::Table(Box::new(Table::new(seeds(), 0)));
        let mut model = BTreeSet::new();
        for round in 0..3 {
            for i in 0..3000 {
                let m = if i % 5 == 0 {
                    format!("a-long-member-that-does-not-fit-inline-{i}-{round}")
                } else {
                    format!("m:{i}")
                };
                assert_eq!(add(&mut s, m.as_bytes(), 0), model.insert(m.into_bytes()));
            }
            for i in (0..3000).step_by(3) {
                let m = format!("m:{i}");
                assert_eq!(s.remove(m.as_bytes()), model.remove(m.as_bytes()));
            }
            assert_eq!(s.len(), model.len());
            let got: BTreeSet<Vec<u8>> = members(&s).into_iter().collect();
            assert_eq!(got, model);
        }
        for m in model.clone() {
            assert!(s.remove(&m));
        }
        assert!(s.is_empty());
        if let Set::Table(t) = &s {
            assert_eq!(t.heap_bytes(), chunk_bytes(std::mem::size_of::<Table>()));
        }
    }

    #[test]
    fn random_member_is_present() {
        let mut s = Set::Table(Box::new(Table::new(seeds(), 0)));
        for i in 0..100 {
            add(&mut s, format!("x{i}").as_bytes(), 0);
        }
        for i in 0..99 {
            s.remove(format!("x{i}").as_bytes());
        }
        let mut x = 1u64;
        let mut draw = |n: u64| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            (x >> 33) % n
        };
        for _ in 0..10 {
            assert_eq!(s.random_member(&mut draw), Some(Member::Bytes(b"x99")));
        }
        let mut ints = Set::default();
        add(&mut ints, b"7", 512);
        assert_eq!(ints.random_member(&mut draw), Some(Member::Int(7)));
        assert_eq!(Set::default().random_member(&mut draw), None);
    }

    fn full_scan(s: &Set, count: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut cursor = 0;
        loop {
            cursor = s.scan(cursor, count, |m| out.push(m.to_vec()));
            if cursor == 0 {
                return out;
            }
        }
    }

    #[test]
    fn scan_intset_all_at_once_and_table_every_member_once() {
        let mut s = Set::default();
        for i in [3, 1, 2] {
            add(&mut s, i.to_string().as_bytes(), 512);
        }
        let mut got = Vec::new();
        assert_eq!(s.scan(0, 1, |m| got.push(m.to_vec())), 0);
        assert_eq!(got, vec![b"1".to_vec(), b"2".to_vec(), b"3".to_vec()]);
        for i in 0..1000 {
            add(&mut s, format!("k{i}").as_bytes(), 512);
        }
        let got = full_scan(&s, 7);
        assert_eq!(got.len(), 1003);
        assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), 1003);
    }

    #[test]
    fn compaction_returns_memory_and_scans_survive_it() {
        let mut s = Set::Table(Box::new(Table::new(seeds(), 0)));
        for i in 0..1000 {
            add(&mut s, format!("member-{i}").as_bytes(), 0);
        }
        let full = s.heap_bytes();
        let mut returned = BTreeSet::new();
        let mut cursor = s.scan(0, 100, |m| {
            returned.insert(m.to_vec());
        });
        assert_ne!(cursor, 0);
        for i in 0..1000 {
            if i % 20 != 0 {
                assert!(s.remove(format!("member-{i}").as_bytes()));
            }
        }
        assert_eq!(s.len(), 50);
        assert!(s.heap_bytes() * 5 < full, "{} of {full}", s.heap_bytes());
        while cursor != 0 {
            cursor = s.scan(cursor, 7, |m| {
                returned.insert(m.to_vec());
            });
        }
        for i in (0..1000).step_by(20) {
            assert!(returned.contains(format!("member-{i}").as_bytes()));
            assert!(s.contains(format!("member-{i}").as_bytes()));
        }
        // Still a working table after compaction.
        assert!(add(&mut s, b"member-1", 0));
        assert!(!add(&mut s, b"member-20", 0));
        assert_eq!(s.len(), 51);
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Add(u16),
            Remove(u16),
            /// Removes nine members in ten: compacts a table.
            Shrink,
            Scan(u8),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                3 => (0u16..2000).prop_map(Op::Add),
                3 => (0u16..2000).prop_map(Op::Remove),
                1 => Just(Op::Shrink),
                2 => (1u8..20).prop_map(Op::Scan),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(64))]

            /// SSCAN's guarantee: a member present from the first call to the last is
            /// returned at least once, while the set grows and shrinks in between
            /// (bursts of adds and removes between calls), across encodings.
            #[test]
            fn scan_returns_every_member_present_throughout(
                initial in proptest::collection::vec(0u16..2000, 0..600),
                ops in proptest::collection::vec(op(), 1..400),
                int_members in any::<bool>(),
            ) {
                let name = |i: u16| if int_members { i.to_string() } else { format!("m{i}") };
                let mut s = Set::default();
                let mut model = BTreeSet::new();
                for i in initial {
                    add(&mut s, name(i).as_bytes(), 64);
                    model.insert(i);
                }
                let mut present_throughout = model.clone();
                let mut returned = BTreeSet::new();
                let mut cursor = 0u64;
                let mut started = false;
                for o in ops {
                    match o {
                        Op::Add(i) => {
                            // Burst: grow by a run of members.
                            for j in i..i.saturating_add(20) {
                                add(&mut s, name(j).as_bytes(), 64);
                                model.insert(j);
                            }
                        }
                        Op::Remove(i) => {
                            for j in i..i.saturating_add(25) {
                                s.remove(name(j).as_bytes());
                                model.remove(&j);
                                present_throughout.remove(&j);
                            }
                        }
                        Op::Shrink => {
                            let doomed: Vec<u16> =
                                model.iter().copied().filter(|j| j % 10 != 0).collect();
                            for j in doomed {
                                s.remove(name(j).as_bytes());
                                model.remove(&j);
                                present_throughout.remove(&j);
                            }
                        }
                        Op::Scan(count) => {
                            cursor = s.scan(cursor, count as usize, |m| {
                                returned.insert(m.to_vec());
                            });
                            started = true;
                            if cursor == 0 {
                                break;
                            }
                        }
                    }
                }
                // Finish the scan without further changes.
                if !started || cursor != 0 {
                    loop {
                        cursor = s.scan(cursor, 10, |m| {
                            returned.insert(m.to_vec());
                        });
                        if cursor == 0 {
                            break;
                        }
                    }
                }
                for i in &present_throughout {
                    prop_assert!(returned.contains(name(*i).as_bytes()), "missed {}", name(*i));
                }
                prop_assert_eq!(s.len(), model.len());
            }
        }
    }
}
