//! The slab's index from a key's hash to slot ids, grown without a stall.
//!
//! A small index is one hashbrown table, grown the usual way (all at once, bounded
//! because the table is). Once that table is full at 2^`SEGMENT_SHIFT` buckets, the index
//! becomes a directory of segments (extendible hashing, as Dragonfly's dashtable): the
//! directory maps the leading bits of a key's hash (under hashbrown's tag bits) to a
//! segment, and a full segment splits in two by one more bit. A split moves at most one
//! segment's ids, so no insert pays for more than one segment's worth (7,168), whatever
//! the index's size; the directory doubles by copying 4-byte segment numbers (8–16 kB
//! at 10M keys). There is no second table to probe meanwhile, and nothing of the whole
//! index is ever allocated or filled in one go.
//!
//! After removals a sparse segment shrinks in place (at most one segment's work), and an
//! index back under half a segment's entries becomes one table again. Slot ids never move
//! for any of it, so SCAN (whose cursors are slot ids) cannot see it.
//!
//! Hash bits: hashbrown takes the top 7 for its tags and the low ones for the bucket; the
//! directory takes the bits just under the tags, so neither loses entropy within a
//! segment.

use hashbrown::hash_table::{Entry, VacantEntry};
use hashbrown::HashTable;

use crate::malloc_model::chunk_bytes;

/// A full-size segment, and the biggest table an index starts as, has 2^this buckets
/// (production; the simulator's small scale sets fewer, see `Index::set_scale`). A
/// split rehashes up to `seg_cap` ids: 7,168, under a millisecond.
pub const SEGMENT_SHIFT: u8 = 13;
/// Segment sizes `Index::set_scale` accepts.
const SHIFTS: std::ops::RangeInclusive<u8> = 3..=20;
/// Hash bits the directory may use: from bit 56 down to bit 25, clear of the tag bits
/// and of the bucket bits of any segment.
const MAX_DEPTH: u32 = 32;
/// The directory never doubles past this many entries per segment. With a keyed hash
/// it stays within a few per segment; ids whose hashes share many leading bits (a
/// flood the keyed hash should make impossible, or a bug) would otherwise double it on
/// every split, to 2^`MAX_DEPTH` entries. Past the bound a full segment grows as a
/// plain table does instead.
const DIR_PER_SEGMENT_MAX: usize = 256;

fn seg_buckets(shift: u8) -> usize {
    1 << shift
}

/// Ids a full-size segment holds (hashbrown's load factor is 7/8).
fn seg_cap(shift: u8) -> usize {
    seg_buckets(shift) / 8 * 7
}

/// A segmented index with fewer entries than this becomes one table again: in
/// production (`COLLAPSE_SHIFT`) half a segment, so an index going back and forth
/// across it pays one collapse (at most half a segment's ids rehashed) per half a
/// segment of removals, as a split is paid by half a segment of inserts.
fn collapse_below(shift: u8, collapse_shift: u8) -> usize {
    seg_cap(shift) >> collapse_shift
}

/// Production's `collapse_below` is half a segment.
pub const COLLAPSE_SHIFT: u8 = 1;
/// A table shrinks when under 1/`SHRINK_FILL_DIVISOR` of its capacity holds entries
/// (Redis's `HASHTABLE_MIN_FILL`, 10%, checked by `htNeedsResize` in its cron; keel
/// checks at each removal, the only thing that lowers the fill).
const SHRINK_FILL_DIVISOR: usize = 10;
/// Tables at or under this capacity are never shrunk: there is nothing worth giving back.
const SHRINK_MIN_CAPACITY: usize = 64;
/// A `reserve` spreads the entries to come over segments filled to at most this on
/// average: 15/16 of a segment leaves ~5 standard deviations of room at production's
/// size (a segment that overflows anyway just splits). A lower bound wastes memory
/// and cache: the segment count is a power of two, so an average of up to 3/4 would
/// often mean 3/8 (3M keys in 1024 segments where 512 do).
fn reserve_fill(shift: u8) -> usize {
    seg_cap(shift) - seg_cap(shift) / 16
}

/// Heap bytes of a table: hashbrown's one allocation (4-byte ids, padded to 16, then a
/// control byte per bucket and a trailing group) as the allocator's chunk for it.
pub(super) fn table_bytes(table: &HashTable<u32>) -> usize {
    match table.allocation_size() {
        0 => 0,
        n => chunk_bytes(n),
    }
}

/// Whether a table has a full-size segment's buckets (or more): it splits rather than
/// grow. Told by its allocation, as tombstones lower what `capacity` reports.
fn is_full_size(table: &HashTable<u32>, shift: u8) -> bool {
    table.allocation_size() >= seg_buckets(shift) * (std::mem::size_of::<u32>() + 1)
}

/// The index: one table, or (boxed, as few slabs get there) a directory of segments.
#[derive(Clone)]
pub(super) struct Index {
    /// The whole index while `more` is `None`; empty otherwise.
    first: HashTable<u32>,
    more: Option<Box<Segments>>,
    /// Segments have 2^`shift` buckets.
    shift: u8,
    /// It becomes one table again under a segment's capacity >> this.
    collapse_shift: u8,
    /// The planted bug (`Mutant::IndexSplitMisplaces`) is on.
    planted: bool,
    /// Times it became one table again, and segments split, since it was made (the
    /// simulator's coverage of both edges).
    collapses: u16,
    splits: u16,
}

impl Default for Index {
    fn default() -> Index {
        Index {
            first: HashTable::new(),
            more: None,
            shift: SEGMENT_SHIFT,
            collapse_shift: COLLAPSE_SHIFT,
            planted: false,
            collapses: 0,
            splits: 0,
        }
    }
}

#[derive(Clone)]
struct Segments {
    /// The directory has 2^`depth` entries.
    depth: u32,
    /// Segment number by the top `depth` bits under the tag bits of a hash.
    dir: Vec<u32>,
    segs: Vec<Segment>,
    totals: Totals,
    shift: u8,
    planted: bool,
}

/// Sums over the segments, kept so reading them is O(1).
#[derive(Clone, Default)]
struct Totals {
    len: usize,
    table_bytes: usize,
}

impl Totals {
    fn resized(&mut self, before: usize, after: usize) {
        self.table_bytes = self.table_bytes - before + after;
    }
}

/// A table's bytes now if an insert may grow it (no room left), else `None`: the
/// allocation changes only then.
fn bytes_if_full(table: &HashTable<u32>) -> Option<usize> {
    (table.len() == table.capacity()).then(|| table_bytes(table))
}

#[derive(Clone)]
struct Segment {
    table: HashTable<u32>,
    /// Hash bits every id in the segment shares: it covers 2^(dir depth - `depth`)
    /// directory entries.
    depth: u32,
}

/// The directory entry for `hash` in a directory of 2^`depth` entries.
fn dir_index(hash: u64, depth: u32) -> usize {
    if depth == 0 {
        0
    } else {
        ((hash << 7) >> (64 - depth)) as usize
    }
}

/// The hash bit a segment of local depth `depth` splits on.
fn split_bit(hash: u64, depth: u32) -> bool {
    ((hash << 7) >> (63 - depth)) & 1 == 1
}

/// Shrinks `table` when it is mostly empty; returns its bytes before and after if it did.
fn shrink_sparse(
    table: &mut HashTable<u32>,
    rehash: &impl Fn(&u32) -> u64,
) -> Option<(usize, usize)> {
    let capacity = table.capacity();
    let len = table.len();
    if capacity <= SHRINK_MIN_CAPACITY || len.saturating_mul(SHRINK_FILL_DIVISOR) >= capacity {
        return None;
    }
    let before = table_bytes(table);
    if len == 0 {
        *table = HashTable::new();
    } else {
        table.shrink_to(len.saturating_mul(2), rehash);
    }
    Some((before, table_bytes(table)))
}

/// A free bucket for an id, from `Index::entry`.
pub(super) struct Vacant<'a> {
    entry: VacantEntry<'a, u32>,
    /// The table's bytes before `entry` made room, if it had none.
    before: Option<usize>,
    totals: Option<&'a mut Totals>,
}

impl Vacant<'_> {
    pub fn insert(self, id: u32) {
        let table = self.entry.insert(id).into_table();
        if let Some(totals) = self.totals {
            totals.len += 1;
            if let Some(before) = self.before {
                totals.resized(before, table_bytes(table));
            }
        }
    }
}

impl Segments {
    fn from_table(table: HashTable<u32>, shift: u8, planted: bool) -> Segments {
        Segments {
            shift,
            planted,
            depth: 0,
            dir: vec![0],
            totals: Totals {
                len: table.len(),
                table_bytes: table_bytes(&table),
            },
            segs: vec![Segment { table, depth: 0 }],
        }
    }

    /// The segment number directory entry `at` holds (every entry holds one: the
    /// directory has 2^`depth` entries, each naming a segment).
    fn at(&self, at: usize) -> usize {
        self.dir.get(at).map_or(usize::MAX, |&n| n as usize)
    }

    fn segment_of(&self, hash: u64) -> usize {
        self.at(dir_index(hash, self.depth))
    }

    /// The segment directory entry `at` names.
    fn seg_at(&self, at: usize) -> Option<&Segment> {
        self.segs.get(self.at(at))
    }

    fn doubled(&mut self) {
        let mut dir = Vec::with_capacity(self.dir.len().saturating_mul(2));
        for &s in &self.dir {
            dir.push(s);
            dir.push(s);
        }
        self.dir = dir;
        self.depth += 1;
    }

    /// Splits the segment directory entry `at` points to by its next hash bit; false
    /// when there is none (never: see `at`).
    fn split(&mut self, mut at: usize, rehash: &impl Fn(&u32) -> u64) -> bool {
        self.debug_check_totals();
        let n = self.at(at);
        let Some(seg) = self.segs.get_mut(n) else {
            debug_assert!(false, "directory entry {at} names no segment");
            return false;
        };
        let depth = seg.depth;
        let old = std::mem::take(&mut seg.table);
        if depth == self.depth {
            self.doubled();
            at *= 2;
        }
        // The segment covers `span` directory entries from `start`; the upper half
        // (split bit set) goes to the new segment.
        let span = 1usize << (self.depth - depth);
        let start = at & !(span - 1);
        let before = table_bytes(&old);
        let mut low = HashTable::with_capacity(seg_cap(self.shift));
        let mut high = HashTable::with_capacity(seg_cap(self.shift));
        // The planted bug files the first id bound for the upper half in the lower.
        let mut misplace = cfg!(feature = "mutants") && self.planted;
        // Hashes first, in a loop of independent slab reads the CPU overlaps (each is
        // likely a cache miss), then the inserts.
        let hashed: Vec<(u64, u32)> = old.into_iter().map(|id| (rehash(&id), id)).collect();
        for (hash, id) in hashed {
            let half = if split_bit(hash, depth) && !std::mem::take(&mut misplace) {
                &mut high
            } else {
                &mut low
            };
            half.insert_unique(hash, id, rehash);
        }
        let new = u32::try_from(self.segs.len()).unwrap_or(u32::MAX);
        self.totals
            .resized(before, table_bytes(&low) + table_bytes(&high));
        if let Some(seg) = self.segs.get_mut(n) {
            *seg = Segment {
                table: low,
                depth: depth + 1,
            };
        }
        self.segs.push(Segment {
            table: high,
            depth: depth + 1,
        });
        for e in self.dir.iter_mut().skip(start + span / 2).take(span / 2) {
            *e = new;
        }
        true
    }

    /// Splits the segment `hash` goes to until it has room (or has no bits left);
    /// returns how many splits that took.
    fn make_room(&mut self, hash: u64, rehash: &impl Fn(&u32) -> u64) -> u32 {
        let mut splits = 0;
        loop {
            let at = dir_index(hash, self.depth);
            let Some(seg) = self.seg_at(at) else {
                return splits;
            };
            let table = &seg.table;
            let must_double = seg.depth >= self.depth;
            if table.len() < table.capacity()
                || !is_full_size(table, self.shift)
                || seg.depth >= MAX_DEPTH
                || (must_double
                    && self.dir.len() >= self.segs.len().saturating_mul(DIR_PER_SEGMENT_MAX))
                || !self.split(at, rehash)
            {
                return splits;
            }
            splits += 1;
        }
    }

    /// Debug builds: the running sums still match the segments (O(segments), so only
    /// before a split or a collapse, which are rare). Catches drift from any change
    /// of a table, not only the one being made.
    fn debug_check_totals(&self) {
        if cfg!(debug_assertions) {
            let bytes: usize = self.segs.iter().map(|g| table_bytes(&g.table)).sum();
            let len: usize = self.segs.iter().map(|g| g.table.len()).sum();
            let totals = (self.totals.table_bytes, self.totals.len);
            debug_assert_eq!((bytes, len), totals, "index sums drifted");
        }
    }

    /// The segments' ids in one table (an index that shrank back to a small one).
    fn collapse(self, rehash: &impl Fn(&u32) -> u64) -> HashTable<u32> {
        self.debug_check_totals();
        let mut one = HashTable::with_capacity(self.totals.len.saturating_mul(2));
        for seg in self.segs {
            for id in seg.table {
                one.insert_unique(rehash(&id), id, rehash);
            }
        }
        one
    }
}

impl Index {
    pub fn new() -> Index {
        Index::default()
    }

    /// An empty index with room for `capacity` ids.
    pub fn with_capacity(capacity: usize) -> Index {
        Index::new().empty_like(capacity)
    }

    /// An empty index of this one's scale, with room for `capacity` ids.
    pub fn empty_like(&self, capacity: usize) -> Index {
        let mut index = Index {
            shift: self.shift,
            collapse_shift: self.collapse_shift,
            planted: self.planted,
            ..Index::default()
        };
        // Nothing is there to rehash.
        index.reserve(capacity, &|_| 0);
        index
    }

    /// Sets the segment size to 2^`shift` buckets (clamped to 8..=2^20; production's
    /// is `SEGMENT_SHIFT`), the collapse point to a segment's capacity >>
    /// `collapse_shift` (production's is `COLLAPSE_SHIFT`), and whether the planted bug
    /// runs (ignored without the `mutants` feature). Segments already there keep their
    /// tables; what splits or grows next follows the new size.
    pub fn set_scale(&mut self, shift: u8, collapse_shift: u8, planted: bool) {
        self.shift = shift.clamp(*SHIFTS.start(), *SHIFTS.end());
        self.collapse_shift = collapse_shift.min(self.shift);
        self.planted = cfg!(feature = "mutants") && planted;
        if let Some(s) = &mut self.more {
            s.shift = self.shift;
            s.planted = self.planted;
        }
    }

    /// Whether the planted bug runs (a removal may then miss a misplaced id).
    pub fn planted(&self) -> bool {
        self.planted
    }

    /// Segment splits, and returns to one table, since the index was made (each
    /// counted up to 65,535).
    pub fn shape_changes(&self) -> (u64, u64) {
        (u64::from(self.splits), u64::from(self.collapses))
    }

    pub fn len(&self) -> usize {
        match &self.more {
            None => self.first.len(),
            Some(s) => s.totals.len,
        }
    }

    /// Ids the index has room for before any table grows or splits (O(segments): for
    /// tests and reports).
    pub fn capacity(&self) -> usize {
        match &self.more {
            None => self.first.capacity(),
            Some(s) => s.segs.iter().map(|g| g.table.capacity()).sum(),
        }
    }

    /// Segments: 1 for an index that is one table.
    pub fn segments(&self) -> usize {
        self.more.as_ref().map_or(1, |s| s.segs.len())
    }

    /// Heap bytes, O(1): the tables as allocator chunks, and the directory's.
    pub fn alloc_bytes(&self) -> usize {
        match &self.more {
            None => table_bytes(&self.first),
            Some(s) => {
                s.totals.table_bytes
                    + chunk_bytes(std::mem::size_of::<Segments>())
                    + chunk_bytes(s.dir.capacity() * std::mem::size_of::<u32>())
                    + chunk_bytes(s.segs.capacity() * std::mem::size_of::<Segment>())
            }
        }
    }

    #[inline]
    fn table(&self, hash: u64) -> &HashTable<u32> {
        match &self.more {
            None => &self.first,
            // `first` is empty while there are segments.
            Some(s) => s
                .segs
                .get(s.segment_of(hash))
                .map_or(&self.first, |g| &g.table),
        }
    }

    fn table_mut(&mut self, hash: u64) -> (&mut HashTable<u32>, Option<&mut Totals>) {
        let Index { first, more, .. } = self;
        let Some(s) = more else {
            return (first, None);
        };
        let n = s.segment_of(hash);
        let Segments { segs, totals, .. } = &mut **s;
        match segs.get_mut(n) {
            Some(g) => (&mut g.table, Some(totals)),
            None => (first, None),
        }
    }

    #[inline]
    pub fn find(&self, hash: u64, eq: impl FnMut(&u32) -> bool) -> Option<u32> {
        self.table(hash).find(hash, eq).copied()
    }

    /// Before an insert: a full one-table index at full size becomes segmented, and a
    /// full segment at full size splits. A smaller table grows as hashbrown grows it.
    fn make_room(&mut self, hash: u64, rehash: &impl Fn(&u32) -> u64) {
        if self.more.is_none() {
            let t = &self.first;
            if t.len() < t.capacity() || !is_full_size(t, self.shift) {
                return;
            }
        }
        let splits = self.segmented().make_room(hash, rehash);
        self.count_splits(splits);
    }

    /// The segments, the one table becoming the first of them if it is not yet.
    fn segmented(&mut self) -> &mut Segments {
        let Index {
            first,
            more,
            shift,
            planted,
            ..
        } = self;
        more.get_or_insert_with(|| {
            Box::new(Segments::from_table(
                std::mem::take(first),
                *shift,
                *planted,
            ))
        })
    }

    fn count_splits(&mut self, splits: u32) {
        let splits = u16::try_from(splits).unwrap_or(u16::MAX);
        self.splits = self.splits.saturating_add(splits);
    }

    /// Adds `id`, whose key hashes to `hash` and is not in the index.
    pub fn insert(&mut self, hash: u64, id: u32, rehash: impl Fn(&u32) -> u64) {
        self.make_room(hash, &rehash);
        let (table, totals) = self.table_mut(hash);
        let before = bytes_if_full(table);
        table.insert_unique(hash, id, &rehash);
        if let Some(totals) = totals {
            totals.len += 1;
            if let Some(before) = before {
                totals.resized(before, table_bytes(table));
            }
        }
    }

    /// The id `eq` accepts among those hashing to `hash`, or a free bucket for one.
    pub fn entry(
        &mut self,
        hash: u64,
        eq: impl FnMut(&u32) -> bool,
        rehash: impl Fn(&u32) -> u64,
    ) -> Result<Vacant<'_>, u32> {
        self.make_room(hash, &rehash);
        let (table, totals) = self.table_mut(hash);
        let before = bytes_if_full(table);
        match table.entry(hash, eq, &rehash) {
            Entry::Occupied(o) => Err(*o.get()),
            Entry::Vacant(entry) => Ok(Vacant {
                entry,
                before,
                totals,
            }),
        }
    }

    /// Takes `id`, whose key hashes to `hash`, out; false when it was not there. The
    /// table it was in shrinks if that left it sparse.
    pub fn remove(&mut self, hash: u64, id: u32, rehash: impl Fn(&u32) -> u64) -> bool {
        let (table, totals) = self.table_mut(hash);
        let Ok(found) = table.find_entry(hash, |&other| other == id) else {
            return false;
        };
        let table = found.remove().1.into_table();
        let shrunk = shrink_sparse(table, &rehash);
        let Some(totals) = totals else {
            return true;
        };
        totals.len -= 1;
        if let Some((before, after)) = shrunk {
            totals.resized(before, after);
        }
        if totals.len < collapse_below(self.shift, self.collapse_shift) {
            if let Some(s) = self.more.take() {
                self.first = s.collapse(&rehash);
                self.collapses = self.collapses.saturating_add(1);
            }
        }
        true
    }

    /// Makes room for `additional` more ids: a table within one segment's size grows to
    /// it; a bigger index is split into enough full-size segments now, so filling it
    /// splits none (RDB's RESIZEDB before a load).
    pub fn reserve(&mut self, additional: usize, rehash: &impl Fn(&u32) -> u64) {
        let target = self.len().saturating_add(additional);
        if self.more.is_none() && target <= seg_cap(self.shift) {
            self.first.reserve(additional, rehash);
            return;
        }
        let s = self.segmented();
        let mut depth = 0;
        while depth < MAX_DEPTH && (target >> depth) > reserve_fill(s.shift) {
            depth += 1;
        }
        // Doubling first, so no split below doubles the directory under the walk.
        while s.depth < depth {
            s.doubled();
        }
        let mut splits = 0;
        for at in 0..s.dir.len() {
            while s.seg_at(at).is_some_and(|g| g.depth < depth) && s.split(at, rehash) {
                splits += 1;
            }
        }
        self.count_splits(splits);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids are their own keys: the hash of id i is a fixed mix of i.
    fn h(id: &u32) -> u64 {
        let mut x = u64::from(*id).wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^ (x >> 31)
    }

    fn present(index: &Index, id: u32) -> bool {
        index.find(h(&id), |&o| o == id).is_some()
    }

    #[test]
    fn grows_by_splitting_one_segment_at_a_time_and_finds_everything() {
        let mut index = Index::new();
        let n = 20 * seg_cap(SEGMENT_SHIFT) as u32;
        let mut most_moved = 0;
        for id in 0..n {
            let (segs, cap) = (index.segments(), index.capacity());
            index.insert(h(&id), id, h);
            if index.segments() != segs {
                // One split: at most one segment's ids moved, into two new segments.
                assert_eq!(index.segments(), segs + 1, "one split per insert");
                most_moved = most_moved.max(cap);
            }
            assert_eq!(index.len(), id as usize + 1);
        }
        assert!(index.segments() > 20, "{} segments", index.segments());
        assert!(most_moved > 0);
        for id in 0..n {
            assert!(present(&index, id), "{id} lost");
        }
        assert!(!present(&index, n));
        // The load stays well above half at any size.
        assert!(
            index.len() * 2 > index.capacity(),
            "{} of {}",
            index.len(),
            index.capacity()
        );
        assert_eq!(index.alloc_bytes(), recount(&index));
    }

    #[test]
    fn follows_a_model_through_growth_shrinks_and_collapse() {
        let mut index = Index::new();
        let mut model = std::collections::BTreeSet::new();
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let check = |index: &Index, model: &std::collections::BTreeSet<u32>| {
            assert_eq!(index.len(), model.len());
            assert_eq!(index.alloc_bytes(), recount(index));
        };
        // Grow to ~60k with one removal for every three inserts, then shrink to nothing.
        for round in 0..240_000u32 {
            let growing = round < 120_000;
            let r = next();
            if (growing && r % 4 != 0) || model.is_empty() {
                let id = (r >> 8) as u32 % 1_000_000;
                if model.insert(id) {
                    index.insert(h(&id), id, h);
                }
            } else {
                let pick = (r >> 8) as u32 % 1_000_000;
                let id = *model
                    .range(pick..)
                    .next()
                    .or(model.iter().next())
                    .expect("nonempty");
                model.remove(&id);
                assert!(index.remove(h(&id), id, h));
                assert!(!index.remove(h(&id), id, h), "removed twice");
            }
            if round % 10_007 == 0 {
                check(&index, &model);
            }
            if round == 120_000 {
                assert!(index.segments() > 4, "{} segments", index.segments());
            }
        }
        check(&index, &model);
        for id in 0..1_000_000 {
            assert_eq!(present(&index, id), model.contains(&id), "{id}");
        }
        // The shrink ended back at one table once under half a segment.
        assert!(model.len() < collapse_below(SEGMENT_SHIFT, COLLAPSE_SHIFT));
        assert_eq!(index.segments(), 1);
    }

    #[test]
    fn entry_finds_or_takes_a_bucket_and_keeps_the_sums() {
        let mut index = Index::new();
        for id in 0..3 * seg_cap(SEGMENT_SHIFT) as u32 {
            match index.entry(h(&id), |&o| o == id, h) {
                Ok(vacant) => vacant.insert(id),
                Err(_) => panic!("{id} was absent"),
            }
        }
        assert!(index.segments() > 1);
        assert_eq!(index.entry(h(&7), |&o| o == 7, h).err(), Some(7));
        assert_eq!(index.len(), 3 * seg_cap(SEGMENT_SHIFT));
        assert_eq!(index.alloc_bytes(), recount(&index));
    }

    #[test]
    fn reserve_splits_up_front_and_filling_splits_nothing() {
        let mut index = Index::with_capacity(100_000);
        let (segments, capacity) = (index.segments(), index.capacity());
        assert!(
            capacity >= 100_000 && segments > 1,
            "{capacity} in {segments}"
        );
        for id in 0..100_000 {
            index.insert(h(&id), id, h);
        }
        assert_eq!((index.segments(), index.capacity()), (segments, capacity));
        assert_eq!(index.alloc_bytes(), recount(&index));
    }

    #[test]
    fn hashes_sharing_their_leading_bits_cannot_blow_the_directory_up() {
        // Every hash has the same leading 57 bits: each split sends all ids one way.
        let flat = |id: &u32| u64::from(*id);
        let mut index = Index::new();
        let n = 3 * seg_cap(SEGMENT_SHIFT) as u32;
        for id in 0..n {
            index.insert(flat(&id), id, flat);
        }
        let s = index.more.as_ref().expect("segmented");
        // The last doubling allowed may take it to twice the bound, no further.
        assert!(
            s.dir.len() <= 2 * s.segs.len() * DIR_PER_SEGMENT_MAX,
            "{} entries",
            s.dir.len()
        );
        for id in 0..n {
            assert!(index.find(flat(&id), |&o| o == id).is_some(), "{id} lost");
        }
    }

    /// What `alloc_bytes` keeps a running sum of, counted afresh.
    fn recount(index: &Index) -> usize {
        match &index.more {
            None => table_bytes(&index.first),
            Some(s) => {
                let tables: usize = s.segs.iter().map(|g| table_bytes(&g.table)).sum();
                let lens: usize = s.segs.iter().map(|g| g.table.len()).sum();
                assert_eq!(lens, s.totals.len);
                // Every id is in the segment the directory sends its hash to, and each
                // segment covers as many directory entries as its depth says.
                for (n, seg) in s.segs.iter().enumerate() {
                    assert!(seg.depth <= s.depth);
                    let covered = s.dir.iter().filter(|&&d| d as usize == n).count();
                    assert_eq!(covered, 1 << (s.depth - seg.depth));
                    for id in seg.table.iter() {
                        assert_eq!(s.dir[dir_index(h(id), s.depth)] as usize, n, "misplaced");
                    }
                }
                tables
                    + chunk_bytes(std::mem::size_of::<Segments>())
                    + chunk_bytes(s.dir.capacity() * 4)
                    + chunk_bytes(s.segs.capacity() * std::mem::size_of::<Segment>())
            }
        }
    }
}
