//! The TTLs of one database's keys that have one, kept out of their slots: the TTL
//! list (slot id and expire time) that active expiry walks and volatile sampling
//! draws from, and an index from a key's slot id to its place in the list.
//!
//! Neither ever grows or shrinks in one big step, so no command pays for the whole
//! keyspace (issue 13's "no stalls while the keyspace grows"). The list is kept in
//! pages of `PAGE` entries: growing it adds a page, never copies the list. The index
//! is split by slab chunk (`CHUNK_SLOTS` slot ids each): a chunk with few TTLs has a
//! small hash map of its own, and one with many a dense array of positions, 4 bytes a
//! slot, which is cheaper than the map from `DENSE_FROM` TTLs on. The biggest step
//! any change takes is converting one chunk between the two (a walk of 4096 slots).
//! A keyspace where every key has a TTL pays 12 bytes in the list and 4 in the index
//! per key, where one hash table over every TTL cost 12 + 9–18.

use crate::malloc_model::chunk_bytes;
use crate::slab::CHUNK_SLOTS;

/// TTL list entries per page (48 KiB): the copy a growing list pays at most.
const PAGE: usize = 4096;
/// A chunk's map that would need more than 1024 buckets (9 KiB; hashbrown keeps
/// buckets at most 7/8 full) turns into a dense array (16 KiB) instead of doubling.
const DENSE_FROM: usize = 1024 * 7 / 8 + 1;
/// A dense chunk that falls under this many TTLs goes back to a map (well under
/// `DENSE_FROM`, so a chunk at the edge does not flip back and forth).
const MAP_UNDER: usize = DENSE_FROM / 2;

/// Where the keyspace's indexes change shape: the TTL index's entries per list page
/// and the TTL counts at which a chunk's map turns dense and back, and the key index's
/// segment size (`crate::slab`'s index splits a full segment of 2^`key_segment_shift`
/// buckets). Production uses the constants above; the simulator's `ttl-index`
/// scenario uses `SMALL`, so its keyspaces of a few dozen keys cross every edge that
/// production crosses only at thousands of keys (a bug there is otherwise out of the
/// simulator's reach).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexScale {
    page_shift: u32,
    dense_from: usize,
    map_under: usize,
    /// Planted (`Mutant::TtlDenseDropsEntry`): a chunk turning dense drops an entry.
    /// Carried with the scale so a flush or a full sync's replacement keeps it.
    drops_on_dense: bool,
    pub key_segment_shift: u8,
    pub key_collapse_shift: u8,
    /// Planted (`Mutant::IndexSplitMisplaces`): a key index split files one id under
    /// the wrong half. Carried as `drops_on_dense` is.
    misplaces_on_split: bool,
}

impl IndexScale {
    pub const PRODUCTION: IndexScale = IndexScale {
        page_shift: PAGE.trailing_zeros(),
        dense_from: DENSE_FROM,
        map_under: MAP_UNDER,
        drops_on_dense: false,
        key_segment_shift: crate::slab::SEGMENT_SHIFT,
        key_collapse_shift: crate::slab::COLLAPSE_SHIFT,
        misplaces_on_split: false,
    };
    /// Pages of 8 entries; a chunk goes dense at its 6th TTL, back under 3; key index
    /// segments of 32 buckets (28 keys), one table again under 28 keys (so a keyspace
    /// of a few dozen keys splits and collapses back and forth).
    pub const SMALL: IndexScale = IndexScale {
        page_shift: 3,
        dense_from: 6,
        map_under: 3,
        drops_on_dense: false,
        key_segment_shift: 5,
        key_collapse_shift: 0,
        misplaces_on_split: false,
    };

    /// This scale with the planted dense-conversion bug on or off (simulator only).
    #[cfg(feature = "mutants")]
    pub fn with_dense_drop(self, on: bool) -> IndexScale {
        IndexScale {
            drops_on_dense: on,
            ..self
        }
    }

    /// This scale with the planted key index split bug on or off (simulator only).
    #[cfg(feature = "mutants")]
    pub fn with_split_misplace(self, on: bool) -> IndexScale {
        IndexScale {
            misplaces_on_split: on,
            ..self
        }
    }

    /// The planted key index bug is on; always false without the `mutants` feature.
    pub fn key_index_planted(&self) -> bool {
        cfg!(feature = "mutants") && self.misplaces_on_split
    }

    fn page(&self) -> usize {
        1 << self.page_shift
    }

    /// The planted bug is on; always false without the `mutants` feature, so
    /// production builds drop its branches.
    fn planted(&self) -> bool {
        cfg!(feature = "mutants") && self.drops_on_dense
    }
}

impl Default for IndexScale {
    fn default() -> Self {
        IndexScale::PRODUCTION
    }
}

const _: () = assert!(PAGE.is_power_of_two());
/// A list page or chunk map this big or smaller is never shrunk.
const SHRINK_MIN: usize = 64;
/// A dense chunk's entry for a slot without a TTL.
const NONE: u32 = u32::MAX;
/// Slot ids per chunk, as a shift.
const CHUNK_SHIFT: u32 = CHUNK_SLOTS.trailing_zeros();

const _: () = assert!(CHUNK_SLOTS.is_power_of_two() && CHUNK_SLOTS <= 1 << 16);

/// A key's TTL out of its slot, an entry of the TTL list: the key's slot id and its
/// absolute expire time, 12 bytes (the time as two halves, so no padding).
#[derive(Debug, Clone, Copy)]
struct Ttl {
    id: u32,
    at_ms: [u32; 2],
}

impl Ttl {
    fn new(id: u32, at_ms: u64) -> Ttl {
        Ttl {
            id,
            at_ms: [at_ms as u32, (at_ms >> 32) as u32],
        }
    }

    fn at_ms(&self) -> u64 {
        let [lo, hi] = self.at_ms;
        (u64::from(hi) << 32) | u64::from(lo)
    }
}

const _: () = assert!(std::mem::size_of::<Ttl>() == 12);

/// The chunk maps' hasher: slot ids are handed out by the slab, never chosen by a
/// client, so a fixed mix (splitmix64's finalizer) spreads them without a seed and
/// keeps runs deterministic.
#[derive(Debug, Default, Clone, Copy)]
pub struct SlotIdHasher(u64);

impl std::hash::Hasher for SlotIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        self.0 = z ^ (z >> 31);
    }
}

/// Offset in its chunk -> position in the TTL list.
type ChunkMap = hashbrown::HashMap<u32, u32, std::hash::BuildHasherDefault<SlotIdHasher>>;

/// Heap bytes of a chunk map with room for `capacity` entries: hashbrown's one
/// allocation (buckets — a power of two at most 7/8 full — of an 8-byte entry, then a
/// control byte each and a trailing 16-byte group) as the allocator's chunk for it.
fn map_bytes(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity.saturating_mul(8) / 7).next_power_of_two()
    };
    let entries = buckets.saturating_mul(std::mem::size_of::<(u32, u32)>());
    chunk_bytes(entries.saturating_add(buckets).saturating_add(16))
}

/// Bytes a key's TTL adds, for `MEMORY USAGE` and a snapshot's pre-images: its list
/// entry and a map entry at a map's lowest fill (a dense chunk's 4 bytes a slot are
/// paid whether or not this key has a TTL).
pub const TTL_ENTRY_BYTES: usize =
    (std::mem::size_of::<(u32, u32)>() + 1) * 8 / 7 + std::mem::size_of::<Ttl>();

/// One slab chunk's slot -> list position index.
#[derive(Clone)]
enum ChunkIndex {
    Map(ChunkMap),
    /// A position per slot of the chunk (`NONE`: no TTL), and how many are set.
    Dense(Box<[u32]>, usize),
}

impl Default for ChunkIndex {
    fn default() -> Self {
        ChunkIndex::Map(ChunkMap::default())
    }
}

impl ChunkIndex {
    fn get(&self, offset: u32) -> Option<u32> {
        match self {
            ChunkIndex::Map(map) => map.get(&offset).copied(),
            ChunkIndex::Dense(slots, _) => slots
                .get(offset as usize)
                .copied()
                .filter(|&pos| pos != NONE),
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        match self {
            ChunkIndex::Map(map) => map.len(),
            ChunkIndex::Dense(_, n) => *n,
        }
    }

    /// Points `offset` at `pos`, adding it when absent; true when the chunk turned
    /// dense for it.
    fn set(&mut self, offset: u32, pos: u32, scale: IndexScale) -> bool {
        let mut turned = false;
        if let ChunkIndex::Map(map) = self {
            if map.len() + 1 >= scale.dense_from && !map.contains_key(&offset) {
                turned = true;
                let mut slots = vec![NONE; CHUNK_SLOTS].into_boxed_slice();
                let dropped = usize::from(scale.planted());
                for (&o, &p) in map.iter().skip(dropped) {
                    if let Some(slot) = slots.get_mut(o as usize) {
                        *slot = p;
                    }
                }
                *self = ChunkIndex::Dense(slots, map.len());
            }
        }
        match self {
            ChunkIndex::Map(map) => {
                map.insert(offset, pos);
            }
            ChunkIndex::Dense(slots, n) => {
                if let Some(slot) = slots.get_mut(offset as usize) {
                    if *slot == NONE {
                        *n += 1;
                    }
                    *slot = pos;
                }
            }
        }
        turned
    }

    /// Moves an entry known to be there to `pos`.
    fn repoint(&mut self, offset: u32, pos: u32) {
        match self {
            ChunkIndex::Map(map) => {
                if let Some(p) = map.get_mut(&offset) {
                    *p = pos;
                }
            }
            ChunkIndex::Dense(slots, _) => {
                if let Some(p) = slots.get_mut(offset as usize).filter(|p| **p != NONE) {
                    *p = pos;
                }
            }
        }
    }

    /// Drops `offset`'s entry: its position, and whether the chunk turned back into
    /// a map.
    fn remove(&mut self, offset: u32, scale: IndexScale) -> Option<(u32, bool)> {
        match self {
            ChunkIndex::Map(map) => {
                let pos = map.remove(&offset)?;
                // Like the key index, a map gives its room back under 1/10 full.
                if map.capacity() > SHRINK_MIN && map.len() * 10 < map.capacity() {
                    map.shrink_to(map.len() * 2);
                }
                Some((pos, false))
            }
            ChunkIndex::Dense(slots, n) => {
                let slot = slots.get_mut(offset as usize)?;
                let pos = std::mem::replace(slot, NONE);
                if pos == NONE {
                    return None;
                }
                *n -= 1;
                if *n < scale.map_under {
                    let mut map = ChunkMap::with_capacity_and_hasher(*n, Default::default());
                    for (o, &p) in slots.iter().enumerate() {
                        if p != NONE {
                            map.insert(o as u32, p);
                        }
                    }
                    *self = ChunkIndex::Map(map);
                    return Some((pos, true));
                }
                Some((pos, false))
            }
        }
    }

    fn bytes(&self) -> usize {
        match self {
            ChunkIndex::Map(map) => map_bytes(map.capacity()),
            ChunkIndex::Dense(slots, _) => chunk_bytes(std::mem::size_of_val(&**slots)),
        }
    }
}

/// The TTLs of one database's keys (see the module doc).
#[derive(Clone, Default)]
pub struct Ttls {
    /// The TTL list in pages: every page but the last is full; the last may be
    /// empty (kept so a list at a page's edge does not allocate and free it in turn).
    pages: Vec<Vec<Ttl>>,
    len: usize,
    /// Per slab chunk (slot id >> `CHUNK_SHIFT`), where in the list its slots' TTLs are.
    chunks: Vec<ChunkIndex>,
    scale: IndexScale,
    /// Chunks turned dense, and back into maps (the simulator's coverage).
    turned_dense: u64,
    turned_map: u64,
}

impl Ttls {
    fn split(id: u32) -> (usize, u32) {
        ((id >> CHUNK_SHIFT) as usize, id & (CHUNK_SLOTS as u32 - 1))
    }

    /// No TTLs, changing shape at `scale`'s points.
    pub fn new(scale: IndexScale) -> Ttls {
        Ttls {
            scale,
            ..Ttls::default()
        }
    }

    pub fn scale(&self) -> IndexScale {
        self.scale
    }

    /// A planted bug runs here (`Mutant::TtlDenseDropsEntry`): the "TTL bit means a
    /// TTL" debug checks stand aside so the simulator's checkers, not a debug
    /// assertion, are what catches it.
    pub fn planted(&self) -> bool {
        self.scale.planted()
    }

    fn entry(&self, pos: usize) -> Option<&Ttl> {
        let shift = self.scale.page_shift;
        self.pages
            .get(pos >> shift)?
            .get(pos & (self.scale.page() - 1))
    }

    fn entry_mut(&mut self, pos: usize) -> Option<&mut Ttl> {
        let (shift, mask) = (self.scale.page_shift, self.scale.page() - 1);
        self.pages.get_mut(pos >> shift)?.get_mut(pos & mask)
    }

    fn position(&self, id: u32) -> Option<usize> {
        let (chunk, offset) = Self::split(id);
        self.chunks.get(chunk)?.get(offset).map(|p| p as usize)
    }

    /// How many times a chunk turned dense, and back into a map.
    pub fn shape_changes(&self) -> (u64, u64) {
        (self.turned_dense, self.turned_map)
    }

    /// Keys with a TTL.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The expire time of slot `id`'s key, if it has a TTL.
    #[inline]
    pub fn get(&self, id: u32) -> Option<u64> {
        let pos = self.position(id)?;
        let ttl = self.entry(pos)?;
        debug_assert_eq!(ttl.id, id);
        Some(ttl.at_ms())
    }

    /// Sets slot `id`'s expire time, adding it to the list when it had none.
    pub fn set(&mut self, id: u32, at_ms: u64) {
        if let Some(pos) = self.position(id) {
            if let Some(ttl) = self.entry_mut(pos) {
                debug_assert_eq!(ttl.id, id);
                *ttl = Ttl::new(id, at_ms);
                return;
            }
        }
        let pos = self.len;
        self.push(Ttl::new(id, at_ms));
        let (chunk, offset) = Self::split(id);
        if self.chunks.len() <= chunk {
            self.chunks.resize_with(chunk + 1, ChunkIndex::default);
        }
        let scale = self.scale;
        if let Some(index) = self.chunks.get_mut(chunk) {
            if index.set(offset, pos as u32, scale) {
                self.turned_dense += 1;
            }
        }
    }

    fn push(&mut self, ttl: Ttl) {
        let page_size = self.scale.page();
        match self.pages.last_mut() {
            Some(page) if page.len() < page_size => {
                if page.len() == page.capacity() {
                    // A lone first page grows by doubling, never past a page.
                    let want = (page.capacity() * 2).clamp(4, page_size);
                    page.reserve_exact(want - page.len());
                }
                page.push(ttl)
            }
            _ => {
                // Pages after the first are allocated whole: they fill up.
                let first = self.pages.is_empty();
                let mut page = Vec::with_capacity(if first { 0 } else { page_size });
                page.push(ttl);
                self.pages.push(page);
            }
        }
        self.len += 1;
    }

    /// Takes the list's last entry off.
    fn pop(&mut self) -> Option<Ttl> {
        if self.pages.last().is_some_and(|p| p.is_empty()) && self.pages.len() > 1 {
            self.pages.pop();
        }
        let lone = self.pages.len() == 1;
        let page = self.pages.last_mut()?;
        let ttl = page.pop()?;
        self.len -= 1;
        if lone {
            // A lone page gives its room back under 1/10 full, as the key index does.
            let cap = page.capacity();
            if cap > SHRINK_MIN && page.len() * 10 < cap {
                page.shrink_to(page.len() * 2);
            }
        }
        Some(ttl)
    }

    /// Drops slot `id`'s TTL and returns it; the list's last entry takes its place.
    pub fn remove(&mut self, id: u32) -> Option<u64> {
        let (chunk, offset) = Self::split(id);
        let scale = self.scale;
        let (pos, turned) = self.chunks.get_mut(chunk)?.remove(offset, scale)?;
        self.turned_map += u64::from(turned);
        let pos = pos as usize;
        let last = self.pop()?;
        if pos == self.len {
            debug_assert_eq!(last.id, id);
            return Some(last.at_ms());
        }
        let slot = self.entry_mut(pos)?;
        let removed = std::mem::replace(slot, last);
        debug_assert_eq!(removed.id, id);
        let (chunk, offset) = Self::split(last.id);
        if let Some(index) = self.chunks.get_mut(chunk) {
            index.repoint(offset, pos as u32);
        }
        Some(removed.at_ms())
    }

    /// The slot id at `pos` of the list (active expiry's walk, volatile sampling).
    pub fn id_at(&self, pos: usize) -> Option<u32> {
        self.entry(pos).map(|t| t.id)
    }

    /// Slot ids in list order.
    pub fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.pages.iter().flatten().map(|t| t.id)
    }

    /// Makes room in the page table for `n` more TTLs (a loader's hint): pages
    /// themselves arrive as TTLs do.
    pub fn reserve(&mut self, n: usize) {
        self.pages.reserve((n >> self.scale.page_shift) + 1);
    }

    /// Heap bytes: the pages, the page table and the chunk indexes.
    pub fn bytes(&self) -> usize {
        let pages: usize = self
            .pages
            .iter()
            .map(|p| chunk_bytes(p.capacity() * std::mem::size_of::<Ttl>()))
            .sum();
        let chunks: usize = self.chunks.iter().map(ChunkIndex::bytes).sum();
        pages
            + chunks
            + chunk_bytes(self.pages.capacity() * std::mem::size_of::<Vec<Ttl>>())
            + chunk_bytes(self.chunks.capacity() * std::mem::size_of::<ChunkIndex>())
    }

    /// Checks the list and the index agree (tests): every listed id's index entry
    /// points back at its place, and the index holds nothing else.
    #[cfg(test)]
    pub fn assert_consistent(&self) {
        assert_eq!(self.ids().count(), self.len);
        for (pos, id) in self.ids().enumerate() {
            assert_eq!(self.position(id), Some(pos), "slot {id}");
        }
        let indexed: usize = self.chunks.iter().map(ChunkIndex::len).sum();
        assert_eq!(indexed, self.len);
        for (i, page) in self.pages.iter().enumerate() {
            if i + 1 < self.pages.len() {
                assert_eq!(
                    page.len(),
                    self.scale.page(),
                    "page {i} of {} not full",
                    self.pages.len()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Random sets and removals over slot ids spread across chunks (some chunks
    /// crowded enough to go dense and back) against a map model.
    #[test]
    fn follows_a_model_through_pages_and_dense_chunks() {
        follows_a_model(IndexScale::PRODUCTION);
    }

    #[test]
    fn follows_a_model_at_the_simulators_small_scale() {
        follows_a_model(IndexScale::SMALL);
    }

    fn follows_a_model(scale: IndexScale) {
        let mut ttls = Ttls::new(scale);
        let mut model: BTreeMap<u32, u64> = BTreeMap::new();
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        let mut went_dense = false;
        for step in 0..200_000u64 {
            // Phases: fill chunk 0 densely, spread thinly, then drain.
            let id = match step / 50_000 {
                0 => (next() % 3000) as u32,
                1 => (next() % 40_000) as u32,
                _ => (next() % 3000) as u32,
            };
            let remove_bias = if step >= 100_000 { 3 } else { 1 };
            if next() % 4 < remove_bias {
                assert_eq!(ttls.remove(id), model.remove(&id), "remove {id}");
            } else {
                let at = 1 + next() % (1 << 44);
                ttls.set(id, at);
                model.insert(id, at);
            }
            went_dense |= matches!(ttls.chunks.first(), Some(ChunkIndex::Dense(..)));
            if step % 5_000 == 0 {
                ttls.assert_consistent();
            }
        }
        ttls.assert_consistent();
        assert!(went_dense, "chunk 0 never went dense");
        assert_eq!(ttls.len(), model.len());
        for id in 0..40_000u32 {
            assert_eq!(ttls.get(id), model.get(&id).copied(), "slot {id}");
        }
        while let Some((&id, &at)) = model.iter().next() {
            assert_eq!(ttls.remove(id), Some(at));
            model.remove(&id);
        }
        ttls.assert_consistent();
        assert!(ttls.is_empty());
        // Chunk 0 turned dense, and (drained) back into a map, at least once each.
        let (dense, map) = ttls.shape_changes();
        assert!(dense >= 1 && map >= 1, "{dense} {map}");
        assert!(
            ttls.chunks
                .iter()
                .all(|c| matches!(c, ChunkIndex::Map(m) if m.is_empty())),
            "every chunk back to an empty map"
        );
    }

    /// A keyspace where every key has a TTL pays 12 bytes in the list and about 4 in
    /// the index per key, and nothing is ever copied whole: the biggest step is one
    /// page or one chunk.
    #[test]
    fn an_all_ttl_keyspace_costs_sixteen_bytes_a_key() {
        let mut ttls = Ttls::default();
        let n = 1_000_000u32;
        for id in 0..n {
            ttls.set(id, 1_000 + u64::from(id));
        }
        ttls.assert_consistent();
        let per_key = ttls.bytes() as f64 / f64::from(n);
        assert!((16.0..17.0).contains(&per_key), "{per_key} B a TTL");
        let (full, last) = ttls.chunks.split_at(ttls.chunks.len() - 1);
        assert!(full.iter().all(|c| matches!(c, ChunkIndex::Dense(..))));
        assert!(matches!(last, [ChunkIndex::Map(m)] if m.len() == n as usize % CHUNK_SLOTS));
        assert_eq!(ttls.get(123_456), Some(1_000 + 123_456));
    }

    #[test]
    fn a_list_at_a_page_edge_keeps_one_spare_page_and_shrinks_when_emptied() {
        let mut ttls = Ttls::default();
        for id in 0..PAGE as u32 {
            ttls.set(id, 5);
        }
        assert_eq!(ttls.pages.len(), 1);
        ttls.set(PAGE as u32, 5);
        assert_eq!(ttls.pages.len(), 2);
        assert_eq!(ttls.remove(PAGE as u32), Some(5));
        assert_eq!(ttls.pages.len(), 2, "the emptied page is kept as the spare");
        ttls.set(PAGE as u32, 6);
        assert_eq!(ttls.pages.len(), 2, "the spare took it");
        assert_eq!(ttls.remove(0), Some(5));
        assert_eq!(ttls.pages.len(), 2);
        assert_eq!(ttls.remove(1), Some(5));
        assert_eq!(
            ttls.pages.len(),
            1,
            "the spare went once the list shrank past it"
        );
        ttls.assert_consistent();
        let full = ttls.bytes();
        for id in 2..PAGE as u32 {
            ttls.remove(id);
        }
        assert_eq!(ttls.len(), 1);
        assert!(ttls.bytes() * 10 < full, "{full} -> {}", ttls.bytes());
        assert_eq!(ttls.get(PAGE as u32), Some(6));
    }
}
