//! The one keyed table behind the keyspace and the hash, set and sorted-set tables,
//! with its segmented index, and where a snapshot's pre-image hook will live. It knows an
//! entry only by its key and heap bytes; it never reads a clock or draws randomness.
//!
//! Entries sit in chunks of slots with stable `u32` ids, each chunk with its own
//! intrusive free list, found by key through a keyed hash index of 4-byte ids. New
//! entries go to the fullest chunk with room, and a chunk whose last entry leaves is
//! released (its ids stay valid and read as free), so mass deletes give memory back. Stable ids give SCAN Redis's
//! guarantee for free: an entry present for a whole scan never moves, so a cursor that
//! is a slot id passes it exactly once however the table grows or shrinks meanwhile;
//! only `compact` moves entries, and it bumps `generation` so a cursor can tell. Full
//! chunks never move, so growth copies at most one chunk; the first chunk grows
//! geometrically so a small table stays small. A snapshot will copy a chunk before its
//! first write. The index (`index.rs`) grows by splitting one segment at a time, so no
//! single command pays for a whole doubling, and shrinks a segment at a time after
//! removals; SCAN never sees it (cursors are slot ids, not buckets). It panics only
//! on a corrupted free list or past 4 billion entries (going on would hand out a used
//! slot).

mod index;

use crate::malloc_model::chunk_bytes;
use index::Index;
pub use index::{COLLAPSE_SHIFT, SEGMENT_SHIFT};

/// What the slab needs to know of an entry.
pub trait SlabEntry {
    /// The bytes the entry is found by; never changes while the entry is in a slab.
    fn key(&self) -> &[u8];
    /// Heap bytes owned beyond the slot itself, O(1): the slab asks on every change.
    fn heap_bytes(&self) -> usize;
}

/// Slots per chunk, a power of two so an id splits into chunk and offset by shifting.
pub const CHUNK_SLOTS: usize = 1 << CHUNK_SHIFT;
const CHUNK_SHIFT: u32 = 12;
/// Chunk capacity a growing chunk starts from.
const MIN_CHUNK_SLOTS: usize = 4;
const NO_SLOT: u32 = u32::MAX;
/// Index bytes per bucket in hashbrown: a 4-byte slot id plus one control byte.
const INDEX_BYTES_PER_BUCKET: usize = 5;

/// A free slot links to the next free one, so the free list costs no memory: with the
/// entry types used here (an enum tag or `SmallBytes` inside), `Slot<T>` is as big as
/// `T` (the tests below pin that for every user).
#[derive(Clone)]
enum Slot<T> {
    Used(T),
    Free { next_free: u32 },
}

/// How far one `scan` call may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanBudget {
    /// Stop after visiting this many slots, used or free (the keyspace's SCAN).
    Slots(usize),
    /// Stop after handing out this many entries (HSCAN, SSCAN, ZSCAN).
    Entries(usize),
}

#[derive(Clone)]
pub struct Slab<T> {
    store: Chunks<T>,
    index: Index,
    hasher: ahash::RandomState,
    len: u32,
    /// Bumped by each `compact`, which moves entries to new ids.
    generation: u32,
    /// Sum of the entries' own heap bytes.
    payload_bytes: usize,
}

/// Slots per fill band: open chunks are listed by how full they are, in bands this wide.
const BAND_SLOTS: usize = CHUNK_SLOTS / 16;
/// Band 0 holds the one empty chunk kept as a spare; bands 1..=16 chunks with
/// 1..=`CHUNK_SLOTS`-1 entries (full chunks are in no list).
const FILL_BANDS: usize = CHUNK_SLOTS / BAND_SLOTS + 1;
/// The list of released chunks, after the fill bands.
const RELEASED: u8 = FILL_BANDS as u8;
const LISTS: usize = FILL_BANDS + 1;
/// A full chunk is in no list.
const NOT_LISTED: u8 = u8::MAX;
const NO_CHUNK: u32 = u32::MAX;
/// Chunks a slab may hold: ids are `u32`.
const MAX_CHUNKS: usize = 1 << (32 - CHUNK_SHIFT);

/// One chunk of slots and its bookkeeping. Offsets at or past `slots.len()` are free
/// slots not yet written (a chunk grows by pushing); a released chunk has no slots
/// at all, and its ids read as free.
#[derive(Clone)]
struct Chunk<T> {
    slots: Vec<Slot<T>>,
    /// The first free offset below `slots.len()`, or `NO_SLOT`; free slots link on.
    free_head: u32,
    /// Entries in the chunk: `slots.len() - used` slots are on the free list.
    used: u16,
    /// The list the chunk is in: a fill band, `RELEASED` or `NOT_LISTED`.
    list: u8,
    prev: u32,
    next: u32,
}

/// The slots, chunk by chunk, and which chunk the next entry goes to: the fullest one
/// with room (to the nearest band), so sparse chunks drain; then the spare empty
/// chunk; then a released chunk, which is allocated again; then a new chunk at the
/// end. A chunk whose last entry leaves is released (its memory dropped) unless it
/// becomes the spare: one empty chunk stays, so a table that fills and empties one
/// slot back and forth does not allocate and free a chunk each time. Released chunks
/// at the end are popped, so the span shrinks back.
#[derive(Clone)]
struct Chunks<T> {
    /// Every chunk but released ones and the first one of a one-chunk slab is allocated
    /// at `CHUNK_SLOTS` capacity; the last chunk is never a released one.
    chunks: Vec<Chunk<T>>,
    /// The first chunk of each list, `NO_CHUNK` when empty.
    heads: [u32; LISTS],
    /// Bit b set when fill band b's list is not empty.
    open_bands: u32,
    /// The empty chunk kept allocated, or `NO_CHUNK`.
    spare: u32,
}

/// What a slot id holds, for walks in id order.
pub enum At<'a, T> {
    Entry(&'a T),
    /// A free slot.
    Free,
    /// No slot: a released chunk or a chunk's unwritten tail; the walk goes on at this id
    /// (the next chunk's first).
    Vacant(u64),
}

#[inline]
fn split(id: u32) -> (usize, usize) {
    (
        (id >> CHUNK_SHIFT) as usize,
        id as usize & (CHUNK_SLOTS - 1),
    )
}

#[inline]
fn band_of(used: u16) -> u8 {
    (usize::from(used).div_ceil(BAND_SLOTS)) as u8
}

impl<T> Chunks<T> {
    fn new() -> Self {
        Chunks {
            chunks: Vec::new(),
            heads: [NO_CHUNK; LISTS],
            open_bands: 0,
            spare: NO_CHUNK,
        }
    }

    /// Slots allocated but never written in a first chunk still growing towards
    /// `CHUNK_SLOTS` (a full-size chunk's tail is left out: see `overhead_bytes`).
    fn unwritten_growing_slots(&self) -> usize {
        match self.chunks.first() {
            Some(c) if c.slots.capacity() < CHUNK_SLOTS => c.slots.capacity() - c.slots.len(),
            _ => 0,
        }
    }

    /// Room for `first` slots in a first chunk, allocated now.
    fn with_first(first: usize) -> Self {
        let mut c = Chunks::new();
        if first > 0 {
            c.push_chunk(first);
        }
        c
    }

    #[inline]
    fn slot(&self, id: u32) -> Option<&Slot<T>> {
        let (c, off) = split(id);
        self.chunks.get(c)?.slots.get(off)
    }

    #[inline]
    fn entry(&self, id: u32) -> Option<&T> {
        match self.slot(id)? {
            Slot::Used(e) => Some(e),
            Slot::Free { .. } => None,
        }
    }

    #[inline]
    fn entry_mut(&mut self, id: u32) -> Option<&mut T> {
        let (c, off) = split(id);
        match self.chunks.get_mut(c)?.slots.get_mut(off)? {
            Slot::Used(e) => Some(e),
            Slot::Free { .. } => None,
        }
    }

    /// Ids handed out so far, used or free: every entry's id is below this.
    fn span(&self) -> u64 {
        match self.chunks.last() {
            Some(last) => ((self.chunks.len() - 1) * CHUNK_SLOTS + last.slots.len()) as u64,
            None => 0,
        }
    }

    /// What id `id` holds, in one lookup (walks in id order use it).
    #[inline]
    fn at(&self, id: u64) -> At<'_, T> {
        let c = id >> CHUNK_SHIFT;
        let off = (id & (CHUNK_SLOTS as u64 - 1)) as usize;
        match usize::try_from(c)
            .ok()
            .and_then(|c| self.chunks.get(c))
            .and_then(|chunk| chunk.slots.get(off))
        {
            Some(Slot::Used(e)) => At::Entry(e),
            Some(Slot::Free { .. }) => At::Free,
            None => At::Vacant((c + 1) << CHUNK_SHIFT),
        }
    }

    /// Chunks holding no slots (released), for tests and reports.
    fn released_chunks(&self) -> usize {
        self.chunks.iter().filter(|c| c.list == RELEASED).count()
    }

    fn unlink(&mut self, c: u32) {
        let Some(chunk) = self.chunks.get_mut(c as usize) else {
            return;
        };
        let (list, prev, next) = (chunk.list, chunk.prev, chunk.next);
        if list == NOT_LISTED {
            return;
        }
        chunk.list = NOT_LISTED;
        chunk.prev = NO_CHUNK;
        chunk.next = NO_CHUNK;
        if let Some(p) = self.chunks.get_mut(prev as usize) {
            p.next = next;
        } else if let Some(head) = self.heads.get_mut(usize::from(list)) {
            *head = next;
            if next == NO_CHUNK && usize::from(list) < FILL_BANDS {
                self.open_bands &= !(1 << list);
            }
        }
        if let Some(n) = self.chunks.get_mut(next as usize) {
            n.prev = prev;
        }
    }

    fn link(&mut self, c: u32, list: u8) {
        let Some(head) = self.heads.get_mut(usize::from(list)) else {
            return;
        };
        let old = std::mem::replace(head, c);
        if usize::from(list) < FILL_BANDS {
            self.open_bands |= 1 << list;
        }
        if let Some(chunk) = self.chunks.get_mut(c as usize) {
            chunk.list = list;
            chunk.prev = NO_CHUNK;
            chunk.next = old;
        }
        if let Some(o) = self.chunks.get_mut(old as usize) {
            o.prev = c;
        }
    }

    /// Puts an allocated chunk in the list its fill says.
    #[inline]
    fn relist(&mut self, c: u32) {
        let Some(chunk) = self.chunks.get(c as usize) else {
            return;
        };
        let want = if usize::from(chunk.used) == CHUNK_SLOTS {
            NOT_LISTED
        } else {
            band_of(chunk.used)
        };
        if chunk.list != want {
            self.unlink(c);
            if want != NOT_LISTED {
                self.link(c, want);
            }
        }
    }

    /// Appends an empty chunk with room for `capacity` slots.
    fn push_chunk(&mut self, capacity: usize) -> u32 {
        assert!(
            self.chunks.len() < MAX_CHUNKS,
            "slab over 4 billion entries"
        );
        let c = self.chunks.len() as u32;
        self.chunks.push(Chunk {
            slots: Vec::with_capacity(capacity),
            free_head: NO_SLOT,
            used: 0,
            list: NOT_LISTED,
            prev: NO_CHUNK,
            next: NO_CHUNK,
        });
        self.relist(c);
        c
    }

    /// The chunk the next entry goes to (see the type's comment).
    #[inline]
    fn pick(&mut self) -> u32 {
        if self.open_bands != 0 {
            let band = 31 - self.open_bands.leading_zeros();
            if let Some(&c) = self.heads.get(band as usize) {
                return c;
            }
        }
        let released = self.heads.get(usize::from(RELEASED)).copied();
        if let Some(c) = released.filter(|&c| c != NO_CHUNK) {
            self.unlink(c);
            if let Some(chunk) = self.chunks.get_mut(c as usize) {
                chunk.slots = Vec::with_capacity(CHUNK_SLOTS);
            }
            self.relist(c);
            return c;
        }
        // The first chunk grows as the table does; later ones are born full size.
        let capacity = if self.chunks.is_empty() {
            MIN_CHUNK_SLOTS
        } else {
            CHUNK_SLOTS
        };
        self.push_chunk(capacity)
    }

    /// A slot for `entry`; returns its id.
    fn alloc(&mut self, entry: T) -> u32 {
        let c = self.pick();
        let Some(chunk) = self.chunks.get_mut(c as usize) else {
            panic!("slab picked chunk {c} of {}", self.chunks.len());
        };
        let off = if chunk.free_head != NO_SLOT {
            let off = chunk.free_head;
            match chunk.slots.get_mut(off as usize) {
                Some(slot @ Slot::Free { .. }) => {
                    if let Slot::Free { next_free } = *slot {
                        chunk.free_head = next_free;
                    }
                    *slot = Slot::Used(entry);
                }
                // A broken free list would corrupt data: stop here rather than go on.
                _ => panic!("slab free list points at a used slot {off} of chunk {c}"),
            }
            off
        } else {
            let len = chunk.slots.len();
            assert!(len < CHUNK_SLOTS, "slab picked full chunk {c}");
            if len == chunk.slots.capacity() {
                let target = (len * 2).clamp(MIN_CHUNK_SLOTS, CHUNK_SLOTS);
                chunk.slots.reserve_exact(target - len);
            }
            chunk.slots.push(Slot::Used(entry));
            len as u32
        };
        chunk.used += 1;
        if c == self.spare {
            self.spare = NO_CHUNK;
        }
        self.relist(c);
        let id = (c << CHUNK_SHIFT) | off;
        assert!(id != u32::MAX, "slab over 4 billion entries");
        id
    }

    /// Frees slot `id`; returns its entry (None when it was free).
    fn free(&mut self, id: u32) -> Option<T> {
        let (c, off) = split(id);
        let chunk = self.chunks.get_mut(c)?;
        let slot = chunk.slots.get_mut(off)?;
        if matches!(slot, Slot::Free { .. }) {
            return None;
        }
        let Slot::Used(entry) = std::mem::replace(
            slot,
            Slot::Free {
                next_free: chunk.free_head,
            },
        ) else {
            return None;
        };
        chunk.free_head = off as u32;
        chunk.used -= 1;
        let c = c as u32;
        if chunk.used == 0 {
            self.emptied(c);
        } else {
            self.relist(c);
        }
        Some(entry)
    }

    /// Chunk `c` lost its last entry: it becomes the spare (the lower-numbered of it and
    /// the old spare stays), the other one is released.
    fn emptied(&mut self, c: u32) {
        let release = if self.spare == NO_CHUNK {
            self.spare = c;
            NO_CHUNK
        } else if c < self.spare {
            std::mem::replace(&mut self.spare, c)
        } else {
            c
        };
        self.relist(c);
        if release != NO_CHUNK {
            self.release(release);
        }
    }

    /// Drops chunk `c`'s slots (it holds no entry); its ids stay valid and read as free.
    fn release(&mut self, c: u32) {
        self.unlink(c);
        let Some(chunk) = self.chunks.get_mut(c as usize) else {
            return;
        };
        debug_assert_eq!(chunk.used, 0, "release of a chunk with entries");
        chunk.slots = Vec::new();
        chunk.free_head = NO_SLOT;
        self.link(c, RELEASED);
        // Released chunks at the end go: the span shrinks back.
        while self.chunks.last().is_some_and(|l| l.list == RELEASED) {
            let last = (self.chunks.len() - 1) as u32;
            self.unlink(last);
            self.chunks.pop();
        }
    }
}

/// The index's hash of the entry in slot `id` (an id the index holds is always used).
fn rehasher<'a, T: SlabEntry>(
    store: &'a Chunks<T>,
    hasher: &'a ahash::RandomState,
) -> impl Fn(&u32) -> u64 + 'a {
    move |&id| hasher.hash_one(store.entry(id).map_or(&b""[..], T::key))
}

impl<T: SlabEntry> Slab<T> {
    /// An empty slab whose index is keyed by `seeds` (random from the OS in production,
    /// from the seed in simulation), so iteration order is reproducible and hash
    /// flooding is not.
    pub fn new(seeds: [u64; 4]) -> Self {
        Self::with_capacity(seeds, 0)
    }

    /// An empty slab with room for `capacity` entries in its first chunk and index.
    pub fn with_capacity(seeds: [u64; 4], capacity: usize) -> Self {
        let [a, b, c, d] = seeds;
        let first = capacity.min(CHUNK_SLOTS);
        Slab {
            store: Chunks::with_first(first),
            index: Index::with_capacity(capacity),
            hasher: ahash::RandomState::with_seeds(a, b, c, d),
            len: 0,
            generation: 0,
            payload_bytes: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Ids handed out so far, used or free: every id is below this.
    pub fn span(&self) -> u64 {
        self.store.span()
    }

    /// What slot `id` holds, in one lookup: a walk in id order (a snapshot's, a
    /// rehash's, a scan's) jumps over a released chunk in one step.
    #[inline]
    pub fn at(&self, id: u64) -> At<'_, T> {
        self.store.at(id)
    }

    /// Chunks whose memory was given back after their last entry left.
    pub fn released_chunks(&self) -> usize {
        self.store.released_chunks()
    }

    /// Changes whenever `compact` moved entries to new ids.
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Bytes one slot takes.
    pub fn slot_bytes() -> usize {
        std::mem::size_of::<Slot<T>>()
    }

    /// Bytes one entry costs beyond its own heap bytes: its slot and its index bucket.
    pub fn entry_overhead_bytes() -> usize {
        Self::slot_bytes() + INDEX_BYTES_PER_BUCKET
    }

    /// Entries the index has room for before a table grows or splits (for tests and
    /// INFO-like reporting: it drops after mass deletes).
    pub fn index_capacity(&self) -> usize {
        self.index.capacity()
    }

    /// The index's segments: 1 until it outgrows one table.
    pub fn index_segments(&self) -> usize {
        self.index.segments()
    }

    /// Sets the index's segment size to 2^`shift` buckets, its collapse point to a
    /// segment's capacity >> `collapse_shift` (the simulator's small scale), and
    /// whether the planted split bug runs (`mutants` builds only).
    pub fn set_index_scale(&mut self, shift: u8, collapse_shift: u8, planted: bool) {
        self.index.set_scale(shift, collapse_shift, planted);
    }

    /// Index segment splits, and returns to one table, since the slab was emptied.
    pub fn index_shape_changes(&self) -> (u64, u64) {
        self.index.shape_changes()
    }

    /// Heap bytes held, O(1): slots, index and the entries' payloads (not the `Slab`
    /// struct itself, which its owner places).
    pub fn heap_bytes(&self) -> usize {
        self.overhead_bytes() + self.payload_bytes
    }

    /// The table's own bytes, O(1): used slots and the index, without the entries'
    /// payloads. Free slots are not counted: the next insert takes one before any
    /// new memory, so they are spare room as an allocator's free lists are (RSS, not
    /// `used_memory`), and eviction must see a removal give its slot back. The room a
    /// growing first chunk keeps past its last written slot is counted: it is part of
    /// a small heap allocation (a set of 10 members holds 16 slots), so it is RSS, where
    /// a full-size chunk's unwritten tail is untouched pages of an mmap.
    pub fn overhead_bytes(&self) -> usize {
        let slots = self.len as usize + self.store.unwritten_growing_slots();
        slots * Self::slot_bytes()
            + chunk_bytes(self.store.chunks.capacity() * std::mem::size_of::<Chunk<T>>())
            + self.index.alloc_bytes()
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    #[inline]
    pub fn get(&self, id: u32) -> Option<&T> {
        self.store.entry(id)
    }

    /// Mutable access for changes that keep the entry's key and heap bytes (TTLs,
    /// access times, scores); anything else goes through `update` or `replace`.
    #[inline]
    pub fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        self.store.entry_mut(id)
    }

    /// Changes an entry in place, keeping its heap bytes accounted. `f` must keep the
    /// entry's key.
    pub fn update<R>(&mut self, id: u32, f: impl FnOnce(&mut T) -> R) -> Option<R> {
        let e = self.get_mut(id)?;
        let before = e.heap_bytes();
        let result = f(e);
        let after = e.heap_bytes();
        debug_assert!(self.payload_bytes >= before);
        self.payload_bytes = self.payload_bytes - before + after;
        Some(result)
    }

    /// Puts `entry`, which has the same key, in slot `id`; returns the old entry.
    pub fn replace(&mut self, id: u32, entry: T) -> Option<T> {
        self.update(id, |e| {
            debug_assert!(e.key() == entry.key(), "replace changed the key");
            std::mem::replace(e, entry)
        })
    }

    /// The id of the entry with `key`.
    #[inline]
    pub fn find(&self, key: &[u8]) -> Option<u32> {
        let store = &self.store;
        let hash = self.hash(key);
        self.index
            .find(hash, |&id| store.entry(id).is_some_and(|e| e.key() == key))
    }

    /// The entry with `key`.
    pub fn get_by_key(&self, key: &[u8]) -> Option<&T> {
        self.get(self.find(key)?)
    }

    /// Inserts an entry whose key is known to be absent; returns its id.
    pub fn insert(&mut self, entry: T) -> u32 {
        debug_assert!(self.find(entry.key()).is_none(), "insert of a present key");
        let hash = self.hash(entry.key());
        self.payload_bytes += entry.heap_bytes();
        let id = self.alloc(entry);
        self.index
            .insert(hash, id, rehasher(&self.store, &self.hasher));
        self.len += 1;
        id
    }

    /// Inserts `entry` unless its key is there: Ok(its new id), or Err(the present
    /// entry's id, `entry` back). One hash and one probe of the index, where `find`
    /// then `insert` take two of each (a loader's duplicate check).
    pub fn try_insert(&mut self, entry: T) -> Result<u32, (u32, T)> {
        let hash = self.hash(entry.key());
        let heap = entry.heap_bytes();
        let Slab {
            store,
            index,
            hasher,
            ..
        } = self;
        let vacant = {
            let key = entry.key();
            let found = |&id: &u32| store.entry(id).is_some_and(|e| e.key() == key);
            match index.entry(hash, found, rehasher(store, hasher)) {
                Err(id) => return Err((id, entry)),
                Ok(vacant) => vacant,
            }
        };
        // The vacant bucket borrows only the index: the slot comes from the chunks.
        let id = store.alloc(entry);
        vacant.insert(id);
        self.payload_bytes += heap;
        self.len += 1;
        Ok(id)
    }

    /// Makes room in the index for `additional` more entries in one go (a loader that
    /// knows how many keys come: RDB's RESIZEDB), so filling it grows or splits nothing.
    pub fn reserve(&mut self, additional: usize) {
        self.index
            .reserve(additional, &rehasher(&self.store, &self.hasher));
        let slots = self.len().saturating_add(additional);
        let chunks = &mut self.store.chunks;
        chunks.reserve((slots / CHUNK_SLOTS + 1).saturating_sub(chunks.len()));
    }

    /// A slot for `entry`: the last one freed, else a new one at the end.
    fn alloc(&mut self, entry: T) -> u32 {
        self.store.alloc(entry)
    }

    /// Removes the entry in slot `id` and returns it.
    pub fn remove(&mut self, id: u32) -> Option<T> {
        let hash = self.hash(self.get(id)?.key());
        let removed = self
            .index
            .remove(hash, id, rehasher(&self.store, &self.hasher));
        debug_assert!(
            removed || self.index.planted(),
            "slot {id} was not in the index"
        );
        self.free(id)
    }

    /// Removes the entry with `key`; returns its id and the entry.
    pub fn remove_key(&mut self, key: &[u8]) -> Option<(u32, T)> {
        let id = self.find(key)?;
        Some((id, self.remove(id)?))
    }

    /// Frees slot `id`, already out of the index.
    fn free(&mut self, id: u32) -> Option<T> {
        let entry = self.store.free(id)?;
        self.len -= 1;
        self.payload_bytes -= entry.heap_bytes();
        Some(entry)
    }

    /// Every entry with its id, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.store.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk
                .slots
                .iter()
                .enumerate()
                .filter_map(move |(i, s)| match s {
                    Slot::Used(e) => Some(((c * CHUNK_SLOTS + i) as u32, e)),
                    Slot::Free { .. } => None,
                })
        })
    }

    /// Entries in id order from id `cursor` on, within `budget`. Returns the next
    /// cursor, 0 when the scan is complete (an id past the end completes it too).
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        budget: ScanBudget,
        mut visit: impl FnMut(u32, &'a T),
    ) -> u64 {
        let (max_slots, max_entries) = match budget {
            ScanBudget::Slots(n) => (n.max(1), usize::MAX),
            ScanBudget::Entries(n) => (usize::MAX, n.max(1)),
        };
        let span = self.span();
        let mut id = cursor;
        let (mut slots, mut entries) = (0usize, 0usize);
        while id < span && slots < max_slots && entries < max_entries {
            match self.at(id) {
                At::Entry(e) => {
                    visit(id as u32, e);
                    entries += 1;
                    id += 1;
                }
                At::Free => id += 1,
                // A released chunk or an unwritten tail counts as one slot.
                At::Vacant(next) => id = next,
            }
            slots += 1;
        }
        if id >= span {
            0
        } else {
            id
        }
    }

    /// A uniformly drawn id of a present entry, using `draw(n)` -> [0, n): up to
    /// `tries` random slots (a dense slab hits at once), then a walk from a random one.
    pub fn random_id(&self, tries: usize, mut draw: impl FnMut(u64) -> u64) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let span = self.span();
        for _ in 0..tries {
            let id = draw(span) as u32;
            if self.get(id).is_some() {
                return Some(id);
            }
        }
        let start = draw(span);
        self.first_present(start, span)
            .or_else(|| self.first_present(0, start))
    }

    /// The first id in `from..to` holding an entry, jumping over released chunks.
    fn first_present(&self, from: u64, to: u64) -> Option<u32> {
        let mut id = from;
        while id < to {
            match self.at(id) {
                At::Entry(_) => return Some(id as u32),
                At::Free => id += 1,
                At::Vacant(next) => id = next,
            }
        }
        None
    }

    /// Gives the storage of an empty slab back (nothing to keep stable for a scan).
    pub fn release_if_empty(&mut self) {
        if self.len == 0 {
            self.store = Chunks::new();
            self.index = self.index.empty_like(0);
            self.payload_bytes = 0;
        }
    }

    /// Empties the slab, keeping its hash keys; returns the old contents for the
    /// caller to free (perhaps off the event loop).
    pub fn take(&mut self) -> Slab<T> {
        let empty = Slab {
            store: Chunks::new(),
            index: self.index.empty_like(0),
            hasher: self.hasher.clone(),
            len: 0,
            generation: self.generation,
            payload_bytes: 0,
        };
        std::mem::replace(self, empty)
    }

    /// Whether at least `min_slots` slots are handed out and under 1/`sparseness` of
    /// them hold entries.
    pub fn is_sparse(&self, min_slots: u64, sparseness: u64) -> bool {
        let span = self.span();
        span >= min_slots && u64::from(self.len).saturating_mul(sparseness) < span
    }

    /// Moves the entries to dense ids (keeping their order), rebuilds the index at its
    /// size and starts a new generation. O(span): callers compact only once most slots
    /// are free, so it stays amortized O(1) per removal.
    pub fn compact(&mut self) {
        let old = std::mem::replace(&mut self.store, Chunks::new()).chunks;
        let mut fresh = Slab::with_capacity([0; 4], self.len());
        fresh.hasher = self.hasher.clone();
        fresh.index = self.index.empty_like(self.len());
        fresh.generation = self.generation.wrapping_add(1);
        for slot in old.into_iter().flat_map(|c| c.slots) {
            if let Slot::Used(e) = slot {
                fresh.insert(e);
            }
        }
        debug_assert_eq!(fresh.len, self.len);
        *self = fresh;
    }
}

#[cfg(test)]
mod tests {
    use super::index::table_bytes;
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};

    #[derive(Clone, Debug, PartialEq)]
    struct E {
        key: Vec<u8>,
        value: u64,
    }

    impl SlabEntry for E {
        fn key(&self) -> &[u8] {
            &self.key
        }
        fn heap_bytes(&self) -> usize {
            self.key.capacity()
        }
    }

    fn e(key: &str, value: u64) -> E {
        E {
            key: key.as_bytes().to_vec(),
            value,
        }
    }

    #[test]
    fn free_slots_cost_nothing_extra() {
        // Each user pins its own slot size beside its entry type; this one is the set's.
        assert_eq!(Slab::<crate::types::SmallBytes>::slot_bytes(), 24);
    }

    #[test]
    fn index_bytes_follow_hashbrowns_allocation() {
        let table = |capacity| table_bytes(&hashbrown::HashTable::<u32>::with_capacity(capacity));
        assert_eq!(table(0), 0);
        // 3 entries: 4 buckets, 16 bytes of ids, 4 + 16 control bytes: a 48-byte chunk.
        assert_eq!(table(3), 48);
        // 917,504 entries: 2^20 buckets, 5 MiB + 16 bytes and the chunk header.
        assert_eq!(table(917_504), 5 * (1 << 20) + 32);
        // A slab's index is counted the same way, 5 bytes a bucket.
        let mut s = Slab::new([1, 2, 3, 4]);
        for i in 0..5000 {
            s.insert(e(&format!("k{i}"), i));
        }
        assert_eq!(s.index_segments(), 1);
        let buckets = s.index_capacity() / 7 * 8;
        assert!(buckets.is_power_of_two(), "{buckets}");
        let counted = s.index.alloc_bytes();
        assert!(
            (buckets * 5..buckets * 5 + 64).contains(&counted),
            "{counted}"
        );
    }

    #[test]
    fn a_growing_first_chunks_room_is_counted_and_a_full_chunks_is_not() {
        // The chunk list and the index, apart from the slots.
        let tables = |s: &Slab<E>| {
            chunk_bytes(s.store.chunks.capacity() * std::mem::size_of::<Chunk<E>>())
                + s.index.alloc_bytes()
        };
        let slot = Slab::<E>::slot_bytes();
        let mut s = Slab::new([1, 2, 3, 4]);
        let ids: Vec<u32> = (0..10).map(|i| s.insert(e(&format!("k{i}"), i))).collect();
        // Capacity went 4, 8, 16: the six unwritten slots are part of the allocation.
        assert_eq!(s.overhead_bytes(), 16 * slot + tables(&s));
        // A removal still gives its slot back (eviction relies on it) ...
        s.remove(ids[3]).unwrap();
        assert_eq!(s.overhead_bytes(), 15 * slot + tables(&s));
        // ... and the next insert takes it from the free list, not from the room.
        s.insert(e("again", 0));
        assert_eq!(s.overhead_bytes(), 16 * slot + tables(&s));
        // Past one full-size chunk nothing unwritten is counted: an mmapped chunk's
        // untouched tail is no RSS.
        for i in 0..CHUNK_SLOTS as u64 {
            s.insert(e(&format!("m{i}"), i));
        }
        assert_eq!(s.store.chunks.len(), 2);
        assert_eq!(s.overhead_bytes(), s.len() * slot + tables(&s));
    }

    #[test]
    fn insert_find_remove_reuses_last_freed_first() {
        let mut s = Slab::new([1, 2, 3, 4]);
        for i in 0..10_000 {
            assert_eq!(s.insert(e(&format!("k{i}"), i)), i as u32);
        }
        assert_eq!(s.len(), 10_000);
        assert_eq!(s.span(), 10_000);
        assert_eq!(s.get_by_key(b"k4097").map(|e| e.value), Some(4097));
        assert_eq!(s.remove(7).map(|e| e.value), Some(7));
        assert_eq!(
            s.remove_key(b"k4097").map(|(id, e)| (id, e.value)),
            Some((4097, 4097))
        );
        assert_eq!(s.remove_key(b"k4097"), None);
        assert_eq!(s.remove(7), None);
        assert_eq!(s.find(b"k7"), None);
        assert_eq!(s.insert(e("a", 0)), 4097);
        assert_eq!(s.insert(e("b", 0)), 7);
        assert_eq!(s.insert(e("c", 0)), 10_000);
        assert_eq!(s.iter().count(), 10_001);
        assert_eq!(s.find(b"b"), Some(7));
    }

    #[test]
    fn index_splits_a_segment_at_a_time_and_finds_everything_meanwhile() {
        let mut s = Slab::new([3; 4]);
        let mut live = BTreeSet::new();
        let mut splits = 0;
        for i in 0..200_000u64 {
            let segments = s.index_segments();
            let id = s.insert(e(&format!("k{i}"), i));
            live.insert(i);
            if s.index_segments() > segments {
                splits += 1;
                // One split per insert at most, and what it moved is still found.
                assert_eq!(s.index_segments(), segments + 1);
                let victim = i / 2;
                if live.remove(&victim) {
                    assert!(s.remove_key(format!("k{victim}").as_bytes()).is_some());
                }
                assert_eq!(s.find(format!("k{i}").as_bytes()), Some(id));
            }
        }
        assert!(splits > 30, "{splits} splits");
        assert_eq!(s.len(), live.len());
        for i in &live {
            assert!(s.find(format!("k{i}").as_bytes()).is_some(), "k{i} lost");
        }
        // Removing everything leaves an empty one-table index.
        for i in &live {
            s.remove_key(format!("k{i}").as_bytes()).unwrap();
        }
        assert!(s.is_empty());
        assert_eq!(s.index_segments(), 1);
        assert!(s.index_capacity() <= 64, "{}", s.index_capacity());
    }

    #[test]
    fn try_insert_finds_a_present_key_across_segments_and_inserts_an_absent_one() {
        let mut s = Slab::new([6; 4]);
        let mut ids = BTreeMap::new();
        for i in 0..50_000u64 {
            let id = s.try_insert(e(&format!("k{i}"), i)).expect("absent");
            ids.insert(i, id);
            // Every so often, an earlier key is refused with its id.
            if i % 61 == 0 {
                let j = i / 3;
                let (found, back) = s.try_insert(e(&format!("k{j}"), 7)).unwrap_err();
                assert_eq!(found, ids[&j]);
                assert_eq!(back.value, 7);
                assert_eq!(s.get(found).map(|x| x.value), Some(j));
            }
        }
        assert!(s.index_segments() > 4, "the test never split a segment");
        assert_eq!(s.len(), 50_000);
        for (i, id) in &ids {
            assert_eq!(s.find(format!("k{i}").as_bytes()), Some(*id));
        }
        // Freed slots are reused by try_insert as by insert.
        let (id, _) = s.remove_key(b"k5").unwrap();
        assert_eq!(s.try_insert(e("again", 1)), Ok(id));
    }

    #[test]
    fn a_reserved_index_fills_without_splitting_or_growing() {
        let mut s = Slab::new([4; 4]);
        for i in 0..5_000u64 {
            s.insert(e(&format!("k{i}"), i));
        }
        s.reserve(100_000);
        let capacity = s.index.capacity();
        let segments = s.index_segments();
        assert!(capacity >= 105_000, "{capacity}");
        for i in 5_000..105_000u64 {
            s.insert(e(&format!("k{i}"), i));
        }
        assert_eq!(s.index.capacity(), capacity);
        assert_eq!(s.index_segments(), segments);
        for i in 0..105_000u64 {
            assert!(s.find(format!("k{i}").as_bytes()).is_some(), "k{i} lost");
        }
    }

    #[test]
    fn memory_is_accounted_and_returns() {
        let mut s = Slab::new([5; 4]);
        assert_eq!(s.heap_bytes(), 0);
        let id = s.insert(e("key", 1));
        let one = s.heap_bytes();
        assert!(one >= 3 + Slab::<E>::slot_bytes());
        s.update(id, |x| x.key.reserve_exact(100)).unwrap();
        assert!(s.heap_bytes() >= one + 100);
        let old = s.replace(id, e("key", 2)).unwrap();
        assert_eq!(old.value, 1);
        assert_eq!(s.heap_bytes(), one);
        s.remove(id).unwrap();
        s.release_if_empty();
        assert_eq!(s.heap_bytes(), 0);
        // Full chunks are exactly chunk sized; only the first grows geometrically.
        for i in 0..(CHUNK_SLOTS * 2 + 1) {
            s.insert(e(&i.to_string(), 0));
        }
        assert_eq!(s.store.chunks.len(), 3);
        assert!(s
            .store
            .chunks
            .iter()
            .take(2)
            .all(|c| c.slots.capacity() == CHUNK_SLOTS));
    }

    #[test]
    fn compact_keeps_order_and_bumps_generation() {
        let mut s = Slab::new([3; 4]);
        for i in 0..100 {
            s.insert(e(&i.to_string(), i));
        }
        for i in 0..100 {
            if i % 10 != 0 {
                s.remove_key(i.to_string().as_bytes()).unwrap();
            }
        }
        assert!(s.is_sparse(64, 8));
        let before: Vec<u64> = s.iter().map(|(_, e)| e.value).collect();
        s.compact();
        assert_eq!(s.generation(), 1);
        assert_eq!(s.span(), 10);
        let after: Vec<u64> = s.iter().map(|(_, e)| e.value).collect();
        assert_eq!(before, after);
        assert_eq!(s.find(b"50"), Some(5));
        assert!(!s.is_sparse(64, 8));
    }

    #[test]
    fn random_id_finds_the_one_entry_of_a_sparse_slab() {
        let mut s = Slab::new([0; 4]);
        for i in 0..5000 {
            s.insert(e(&i.to_string(), i));
        }
        for i in 0..5000 {
            if i != 4321 {
                s.remove_key(i.to_string().as_bytes());
            }
        }
        let mut x = 1u64;
        let id = s.random_id(8, |n| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            (x >> 33) % n
        });
        assert_eq!(id.and_then(|id| s.get(id)).map(|e| e.value), Some(4321));
        assert_eq!(Slab::<E>::new([0; 4]).random_id(8, |_| 0), None);
    }

    #[test]
    fn scan_budgets() {
        let mut s = Slab::new([9; 4]);
        for i in 0..10 {
            s.insert(e(&i.to_string(), i));
        }
        for i in [1, 2, 3] {
            s.remove(i);
        }
        let mut seen = Vec::new();
        assert_eq!(s.scan(0, ScanBudget::Slots(3), |id, _| seen.push(id)), 3);
        assert_eq!(seen, vec![0]);
        assert_eq!(s.scan(3, ScanBudget::Entries(2), |id, _| seen.push(id)), 6);
        assert_eq!(
            s.scan(6, ScanBudget::Entries(100), |id, _| seen.push(id)),
            0
        );
        assert_eq!(seen, vec![0, 4, 5, 6, 7, 8, 9]);
        assert_eq!(s.scan(u64::MAX, ScanBudget::Slots(1), |_, _| panic!()), 0);
    }

    /// A slab of `chunks` full chunks, entry i under key "i" at id i.
    fn filled(chunks: usize) -> Slab<E> {
        let mut s = Slab::new([8; 4]);
        for i in 0..chunks * CHUNK_SLOTS {
            assert_eq!(s.insert(e(&i.to_string(), i as u64)), i as u32);
        }
        s
    }

    fn remove_range(s: &mut Slab<E>, ids: std::ops::Range<usize>) {
        for i in ids {
            assert!(s.remove(i as u32).is_some(), "id {i}");
        }
    }

    /// Whether chunk `c` holds no slots (its memory was given back).
    fn released(s: &Slab<E>, c: usize) -> bool {
        s.store
            .chunks
            .get(c)
            .is_some_and(|c| c.slots.capacity() == 0)
    }

    #[test]
    fn an_emptied_chunk_is_released_and_its_ids_stay_valid() {
        let mut s = filled(5);
        // Chunks 1, 2 and 3 empty: the first to empty stays as the spare, the others go.
        remove_range(&mut s, CHUNK_SLOTS..4 * CHUNK_SLOTS);
        assert_eq!(s.len(), 2 * CHUNK_SLOTS);
        assert!(!released(&s, 1) && released(&s, 2) && released(&s, 3));
        assert_eq!(s.released_chunks(), 2);
        assert_eq!(
            s.span(),
            5 * CHUNK_SLOTS as u64,
            "chunk 4 still holds entries"
        );
        // Ids in a released chunk read as free, by id and by key.
        let mid = (2 * CHUNK_SLOTS + 7) as u32;
        assert!(s.get(mid).is_none() && s.get_mut(mid).is_none());
        assert!(s.remove(mid).is_none());
        assert!(s.find(mid.to_string().as_bytes()).is_none());
        assert_eq!(s.update(mid, |_| ()), None);
        // A scan cursor inside the released chunk goes on to the live entries after it.
        let mut seen = Vec::new();
        let mut cursor = u64::from(mid);
        loop {
            cursor = s.scan(cursor, ScanBudget::Entries(100), |id, _| seen.push(id));
            if cursor == 0 {
                break;
            }
        }
        let want: Vec<u32> = (4 * CHUNK_SLOTS..5 * CHUNK_SLOTS)
            .map(|i| i as u32)
            .collect();
        assert_eq!(seen, want);
        // The last chunk empties: it and the released chunks before it are popped.
        remove_range(&mut s, 4 * CHUNK_SLOTS..5 * CHUNK_SLOTS);
        assert_eq!(s.store.chunks.len(), 2);
        assert_eq!(s.span(), 2 * CHUNK_SLOTS as u64);
        assert_eq!(s.released_chunks(), 0);
        assert!(s.get((4 * CHUNK_SLOTS) as u32).is_none());
        // The slab still works: every kept entry is found where it was.
        for i in 0..CHUNK_SLOTS {
            assert_eq!(s.find(i.to_string().as_bytes()), Some(i as u32));
        }
        assert_eq!(s.iter().count(), CHUNK_SLOTS);
    }

    #[test]
    fn removing_everything_keeps_one_spare_chunk() {
        let mut s = filled(3);
        remove_range(&mut s, 0..3 * CHUNK_SLOTS);
        assert!(s.is_empty());
        // Chunk 0 emptied first and is the spare; the rest were released and popped.
        assert_eq!(s.store.chunks.len(), 1);
        assert_eq!(s.span(), CHUNK_SLOTS as u64);
        assert_eq!(s.iter().count(), 0);
        assert_eq!(s.random_id(4, |n| n / 2), None);
    }

    #[test]
    fn allocation_fills_the_fullest_chunk_then_the_spare_then_released_ones() {
        let mut s = filled(5);
        // Chunk 0: 10 free slots; chunk 1: 100 entries left; chunk 2: empty (spare);
        // chunk 3: released; chunk 4 full.
        remove_range(&mut s, 0..10);
        remove_range(&mut s, CHUNK_SLOTS + 100..2 * CHUNK_SLOTS);
        remove_range(&mut s, 2 * CHUNK_SLOTS..4 * CHUNK_SLOTS);
        assert!(!released(&s, 2) && released(&s, 3));
        let chunk_of = |id: u32| id as usize / CHUNK_SLOTS;
        let mut order = Vec::new();
        for i in 0..(10 + (CHUNK_SLOTS - 100) + 2 * CHUNK_SLOTS + 1) {
            let id = s.insert(e(&format!("n{i}"), 0));
            if order.last() != Some(&chunk_of(id)) {
                order.push(chunk_of(id));
            }
        }
        assert_eq!(
            order,
            vec![0, 1, 2, 3, 5],
            "fullest, sparse, spare, released, new"
        );
        assert_eq!(s.released_chunks(), 0);
        // Within a chunk, the last freed slot is taken first.
        s.remove(5);
        s.remove(9);
        assert_eq!(s.insert(e("x", 0)), 9);
        assert_eq!(s.insert(e("y", 0)), 5);
    }

    #[test]
    fn one_slot_back_and_forth_at_a_chunk_edge_allocates_nothing() {
        let mut s = filled(2);
        for round in 0..100 {
            let id = s.insert(e("edge", round));
            assert_eq!(id as usize, 2 * CHUNK_SLOTS);
            let capacity = s.store.chunks.get(2).map(|c| c.slots.capacity());
            assert_eq!(
                capacity,
                Some(CHUNK_SLOTS),
                "the spare was kept, not reallocated"
            );
            s.remove(id).unwrap();
            assert_eq!(s.store.chunks.len(), 3);
            assert_eq!(s.released_chunks(), 0);
        }
    }

    #[test]
    fn scan_over_released_chunks_returns_every_live_entry_and_counts_each_as_one_slot() {
        let mut s = filled(6);
        remove_range(&mut s, CHUNK_SLOTS..5 * CHUNK_SLOTS);
        s.remove(3);
        assert_eq!(s.released_chunks(), 3);
        let mut seen = BTreeSet::new();
        let (mut cursor, mut calls) = (0, 0);
        loop {
            cursor = s.scan(cursor, ScanBudget::Slots(1000), |_, e| {
                assert!(seen.insert(e.value));
            });
            calls += 1;
            if cursor == 0 {
                break;
            }
        }
        let want: BTreeSet<u64> = (0..CHUNK_SLOTS as u64)
            .chain(5 * CHUNK_SLOTS as u64..6 * CHUNK_SLOTS as u64)
            .filter(|&i| i != 3)
            .collect();
        assert_eq!(seen, want);
        // 2 chunks of slots a thousand at a time, plus the spare's 4096 free ids; the
        // released chunks cost one slot each, not 4096.
        assert!(calls <= 3 * CHUNK_SLOTS / 1000 + 3, "{calls} calls");
    }

    #[test]
    fn random_id_never_lands_in_a_released_chunk() {
        let mut s = filled(8);
        // One entry left in chunk 7, the rest of chunks 1..=7 gone; chunk 0 full.
        remove_range(&mut s, CHUNK_SLOTS..8 * CHUNK_SLOTS - 1);
        assert_eq!(s.released_chunks(), 5);
        let mut x = 7u64;
        let mut draw = |n: u64| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n
        };
        let mut last_chunk = 0;
        for _ in 0..2000 {
            // Few tries: the fallback walk (which jumps released chunks) runs often.
            let id = s.random_id(1, &mut draw).unwrap();
            assert!(s.get(id).is_some(), "id {id} holds nothing");
            last_chunk += usize::from(id as usize == 8 * CHUNK_SLOTS - 1);
        }
        assert!(
            last_chunk > 0,
            "the lone entry past the released chunks is drawn"
        );
    }

    #[test]
    fn the_index_shrinks_back_to_one_table_across_released_chunks() {
        let mut s = filled(40);
        assert!(s.index_segments() > 1);
        // Remove all but chunk 0 and the last entry: the segments shrink as they empty.
        remove_range(&mut s, CHUNK_SLOTS..40 * CHUNK_SLOTS - 1);
        assert!(
            s.index_capacity() < 4 * CHUNK_SLOTS,
            "{}",
            s.index_capacity()
        );
        // Under half a segment left: one table again.
        remove_range(&mut s, 512..CHUNK_SLOTS);
        assert_eq!(s.index_segments(), 1);
        assert!(s.index_capacity() < 2048, "{}", s.index_capacity());
        assert_eq!(s.find(b"163839"), Some(40 * CHUNK_SLOTS as u32 - 1));
        assert_eq!(s.find(b"600"), None);
        for i in (0..512).step_by(7) {
            assert_eq!(s.find(i.to_string().as_bytes()), Some(i as u32));
        }
    }

    /// Hot-path timing, not a check: `cargo test --release -p keel-core --lib
    /// slab::tests::timing -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing only; run in release with --ignored --nocapture"]
    fn timing_1m_insert_find_remove() {
        use crate::types::SmallBytes;
        const N: u64 = 1_000_000;
        let keys: Vec<Vec<u8>> = (0..N).map(|i| format!("key:{i}").into_bytes()).collect();
        // A fixed scatter (multiplicative hash) for the removal order.
        let scattered = |i: u64| ((i * 2_654_435_761) % N) as usize;
        let mut best = [f64::MAX; 4];
        for _ in 0..3 {
            let mut s: Slab<SmallBytes> = Slab::new([1, 2, 3, 4]);
            let t = std::time::Instant::now();
            for k in &keys {
                s.insert(SmallBytes::new(k));
            }
            let insert = t.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            let mut found = 0;
            for i in 0..N {
                found += usize::from(s.find(&keys[scattered(i)]).is_some());
            }
            let find = t.elapsed().as_secs_f64();
            assert_eq!(found, N as usize);
            let t = std::time::Instant::now();
            for i in 0..N {
                assert!(s.remove_key(&keys[scattered(i)]).is_some());
            }
            let remove = t.elapsed().as_secs_f64();
            let t = std::time::Instant::now();
            for k in &keys {
                s.insert(SmallBytes::new(k));
            }
            let reinsert = t.elapsed().as_secs_f64();
            for (b, x) in best.iter_mut().zip([insert, find, remove, reinsert]) {
                *b = b.min(x);
            }
        }
        eprintln!(
            "1M SmallBytes, best of 3: insert {:.0} ms, find {:.0} ms, remove {:.0} ms, reinsert {:.0} ms",
            best[0] * 1e3,
            best[1] * 1e3,
            best[2] * 1e3,
            best[3] * 1e3
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Insert(u16),
            Remove(u16),
            Compact,
            Scan(u8),
        }

        fn op() -> impl Strategy<Value = Op> {
            prop_oneof![
                4 => (0u16..300).prop_map(Op::Insert),
                3 => (0u16..300).prop_map(Op::Remove),
                1 => Just(Op::Compact),
                2 => (1u8..20).prop_map(Op::Scan),
            ]
        }

        proptest! {
            /// Against a map: same contents, ids stable until a compaction, and a scan
            /// running through the changes returns every entry present throughout.
            #[test]
            fn matches_model(ops in proptest::collection::vec(op(), 1..300)) {
                let mut s = Slab::new([7; 4]);
                let mut model: BTreeMap<u16, u32> = BTreeMap::new();
                let mut present_throughout: BTreeSet<u16> = BTreeSet::new();
                let mut returned = BTreeSet::new();
                let mut cursor = 0u64;
                let mut scan_generation = s.generation();
                for o in ops {
                    match o {
                        Op::Insert(k) => {
                            let key = k.to_string();
                            if let std::collections::btree_map::Entry::Vacant(v) = model.entry(k) {
                                v.insert(s.insert(e(&key, u64::from(k))));
                            }
                        }
                        Op::Remove(k) => {
                            let got = s.remove_key(k.to_string().as_bytes()).map(|(id, _)| id);
                            prop_assert_eq!(got, model.remove(&k));
                            present_throughout.remove(&k);
                        }
                        Op::Compact => {
                            s.compact();
                            for (k, id) in model.iter_mut() {
                                *id = s.find(k.to_string().as_bytes()).unwrap();
                            }
                        }
                        Op::Scan(n) => {
                            if cursor == 0 || scan_generation != s.generation() {
                                // A new scan (or one a compaction restarted).
                                if cursor == 0 {
                                    present_throughout = model.keys().copied().collect();
                                    returned.clear();
                                }
                                cursor = 0;
                                scan_generation = s.generation();
                            }
                            cursor = s.scan(cursor, ScanBudget::Entries(n as usize), |_, e| {
                                returned.insert(e.value as u16);
                            });
                            if cursor == 0 {
                                for k in &present_throughout {
                                    prop_assert!(returned.contains(k), "scan missed {}", k);
                                }
                            }
                        }
                    }
                    prop_assert_eq!(s.len(), model.len());
                    for (k, id) in &model {
                        prop_assert_eq!(s.find(k.to_string().as_bytes()), Some(*id));
                        prop_assert_eq!(s.get(*id).map(|e| e.value), Some(u64::from(*k)));
                    }
                    let ids: Vec<u32> = s.iter().map(|(id, _)| id).collect();
                    let mut want: Vec<u32> = model.values().copied().collect();
                    want.sort_unstable();
                    prop_assert_eq!(ids, want);
                }
            }
        }

        #[derive(Debug, Clone)]
        enum BulkOp {
            /// Insert keys `from..from+n` (those absent).
            Insert(u16, u16),
            /// Remove keys `from..from+n` (those present).
            Remove(u16, u16),
            /// Remove every key in chunk c (whole chunks empty more often than ranges
            /// of keys empty them).
            EmptyChunk(u8),
            /// One step of a scan with this slot budget.
            Scan(u16),
            /// One random draw.
            Random(u64),
        }

        /// Keys span a few chunks, and ranges are wide, so whole chunks empty and refill.
        const BULK_KEYS: u16 = 4 * CHUNK_SLOTS as u16;

        fn bulk_op() -> impl Strategy<Value = BulkOp> {
            prop_oneof![
                3 => (0..BULK_KEYS, 1u16..6000).prop_map(|(a, n)| BulkOp::Insert(a, n)),
                3 => (0..BULK_KEYS, 1u16..6000).prop_map(|(a, n)| BulkOp::Remove(a, n)),
                2 => (0u8..5).prop_map(BulkOp::EmptyChunk),
                3 => (1u16..12_000).prop_map(BulkOp::Scan),
                1 => any::<u64>().prop_map(BulkOp::Random),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(48))]
            /// Against a map, with chunks released and refilled: ids stable, `get`,
            /// iteration and a scan running through it all agree with the model, and no
            /// chunk without entries keeps its memory but the one spare.
            #[test]
            fn matches_model_across_released_chunks(
                ops in proptest::collection::vec(bulk_op(), 1..40)
            ) {
                let mut s = Slab::new([11; 4]);
                let mut model: BTreeMap<u16, u32> = BTreeMap::new();
                let mut present_throughout: BTreeSet<u16> = BTreeSet::new();
                let mut returned = BTreeSet::new();
                let mut cursor = 0u64;
                for o in ops {
                    match o {
                        BulkOp::Insert(a, n) => {
                            for k in a..a.saturating_add(n).min(BULK_KEYS) {
                                if let std::collections::btree_map::Entry::Vacant(v) = model.entry(k) {
                                    v.insert(s.insert(e(&k.to_string(), u64::from(k))));
                                }
                            }
                        }
                        BulkOp::Remove(a, n) => {
                            for k in a..a.saturating_add(n).min(BULK_KEYS) {
                                let got = s.remove_key(k.to_string().as_bytes()).map(|(id, _)| id);
                                prop_assert_eq!(got, model.remove(&k));
                                present_throughout.remove(&k);
                            }
                        }
                        BulkOp::EmptyChunk(c) => {
                            let doomed: Vec<u16> = model
                                .iter()
                                .filter(|&(_, &id)| id as usize / CHUNK_SLOTS == usize::from(c))
                                .map(|(&k, _)| k)
                                .collect();
                            for k in doomed {
                                let got = s.remove_key(k.to_string().as_bytes()).map(|(id, _)| id);
                                prop_assert_eq!(got, model.remove(&k));
                                present_throughout.remove(&k);
                            }
                        }
                        BulkOp::Scan(n) => {
                            if cursor == 0 {
                                present_throughout = model.keys().copied().collect();
                                returned.clear();
                            }
                            cursor = s.scan(cursor, ScanBudget::Slots(usize::from(n)), |id, e| {
                                assert_eq!(s_get_key(e), e.value);
                                returned.insert((e.value as u16, id));
                            });
                            if cursor == 0 {
                                let keys: BTreeSet<u16> = returned.iter().map(|&(k, _)| k).collect();
                                for k in &present_throughout {
                                    prop_assert!(keys.contains(k), "scan missed {}", k);
                                }
                            }
                        }
                        BulkOp::Random(seed) => {
                            let mut x = seed;
                            let id = s.random_id(2, |n| {
                                x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                                (x >> 33) % n
                            });
                            match id {
                                Some(id) => {
                                    let k = s.get(id).map(|e| e.value as u16);
                                    prop_assert_eq!(k.and_then(|k| model.get(&k)), Some(&id));
                                }
                                None => prop_assert!(model.is_empty()),
                            }
                        }
                    }
                    prop_assert_eq!(s.len(), model.len());
                    for (k, id) in &model {
                        prop_assert_eq!(s.get(*id).map(|e| e.value), Some(u64::from(*k)));
                    }
                    let ids: Vec<u32> = s.iter().map(|(id, _)| id).collect();
                    let mut want: Vec<u32> = model.values().copied().collect();
                    want.sort_unstable();
                    prop_assert_eq!(ids, want);
                    // Every chunk with no entry is released, but at most one spare.
                    let mut empty_allocated = 0;
                    for (c, chunk) in s.store.chunks.iter().enumerate() {
                        let live = model
                            .values()
                            .filter(|&&id| id as usize / CHUNK_SLOTS == c)
                            .count();
                        prop_assert_eq!(usize::from(chunk.used), live);
                        if live == 0 && chunk.slots.capacity() > 0 {
                            empty_allocated += 1;
                        }
                    }
                    prop_assert!(empty_allocated <= 1, "{} empty chunks kept", empty_allocated);
                    prop_assert!(s.store.chunks.last().is_none_or(|c| c.list != RELEASED));
                }
                // A whole scan at the end, in small steps, returns exactly the entries.
                let mut seen = BTreeMap::new();
                let mut cursor = 0;
                loop {
                    cursor = s.scan(cursor, ScanBudget::Slots(700), |id, e| {
                        seen.insert(e.value as u16, id);
                    });
                    if cursor == 0 {
                        break;
                    }
                }
                prop_assert_eq!(seen, model);
            }
        }

        fn s_get_key(e: &E) -> u64 {
            std::str::from_utf8(&e.key)
                .ok()
                .and_then(|k| k.parse().ok())
                .unwrap_or(u64::MAX)
        }
    }
}
