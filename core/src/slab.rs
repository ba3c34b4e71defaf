//! The one keyed table behind the keyspace and the hash, set and sorted-set tables,
//! with its incremental rehash, and where a snapshot's pre-image hook will live. It knows an
//! entry only by its key and heap bytes; it never reads a clock or draws randomness.
//!
//! Entries sit in chunks of slots with stable `u32` ids and an intrusive free list,
//! found by key through a keyed hash index of 4-byte ids. Stable ids give SCAN Redis's
//! guarantee for free: an entry present for a whole scan never moves, so a cursor that
//! is a slot id passes it exactly once however the table grows or shrinks meanwhile;
//! only `compact` moves entries, and it bumps `generation` so a cursor can tell. Full
//! chunks never move, so growth copies at most one chunk; the first chunk grows
//! geometrically so a small table stays small. A snapshot will copy a chunk before its
//! first write. The index rehashes incrementally: when it would grow, a table twice
//! the size takes the new entries and every insert or removal moves a few old ones over
//! (`REHASH_SLOTS_PER_OP` slots walked), so no single command pays for the whole
//! doubling; lookups probe both tables meanwhile. SCAN never sees it (cursors are slot
//! ids, not buckets). It panics only
//! on a corrupted free list or past 4 billion entries (going on would hand out a used
//! slot).

use hashbrown::HashTable;

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
/// Slot ids one insert or removal walks to move old index entries to the new table
/// while a rehash is on. A table of n entries gets ~n inserts before the new one
/// (twice as big) fills, and the walk covers the span, so this finishes any slab no
/// sparser than 1/`REHASH_SLOTS_PER_OP` in time; a sparser one finishes the move at
/// once when the new table would otherwise grow (what a plain table does every time).
const REHASH_SLOTS_PER_OP: u32 = 16;
/// Indexes smaller than this rehash at once: copying them costs less than probing two.
const REHASH_MIN_INCREMENTAL: usize = 1024;
/// Slot ids one step may walk past without finding an entry to move: a step after mass
/// deletes crosses mostly free slots, and this keeps it bounded (a few µs) while
/// still finishing a walk over a 1/64-full slab as fast as a dense one.
const REHASH_VISITS_PER_OP: u32 = 1024;
/// The index shrinks when under 1/`SHRINK_FILL_DIVISOR` of its capacity holds entries
/// (Redis's `HASHTABLE_MIN_FILL`, 10%, checked by `htNeedsResize` in its cron; keel
/// checks at each removal, the only thing that lowers the fill).
const SHRINK_FILL_DIVISOR: usize = 10;
/// Indexes at or under this capacity are never shrunk: there is nothing worth giving back.
const SHRINK_MIN_CAPACITY: usize = 64;
/// Indexes over this capacity shrink incrementally (a walk like growth's); smaller ones
/// are rebuilt at once, which costs less than the bucket walk of a bigger one.
const SHRINK_MIN_INCREMENTAL: usize = 8 * 1024;

/// The old index while a rehash moves it into the new one, and the next slot id to move.
#[derive(Clone)]
struct Rehash {
    old: HashTable<u32>,
    cursor: u32,
}

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
    /// Every chunk but the last holds exactly `CHUNK_SLOTS` slots, at that capacity.
    chunks: Vec<Vec<Slot<T>>>,
    free_head: u32,
    index: HashTable<u32>,
    /// Set while the index rehashes incrementally (boxed: most slabs never see one).
    rehash: Option<Box<Rehash>>,
    hasher: ahash::RandomState,
    len: u32,
    /// Bumped by each `compact`, which moves entries to new ids.
    generation: u32,
    /// Sum of the entries' own heap bytes.
    payload_bytes: usize,
}

fn slot_at<T>(chunks: &[Vec<Slot<T>>], id: u32) -> Option<&Slot<T>> {
    chunks
        .get((id >> CHUNK_SHIFT) as usize)?
        .get(id as usize & (CHUNK_SLOTS - 1))
}

fn entry_at<T>(chunks: &[Vec<Slot<T>>], id: u32) -> Option<&T> {
    match slot_at(chunks, id)? {
        Slot::Used(e) => Some(e),
        Slot::Free { .. } => None,
    }
}

/// Ids handed out so far in `chunks`, used or free.
fn span_of<T>(chunks: &[Vec<Slot<T>>]) -> u64 {
    match chunks.last() {
        Some(last) => ((chunks.len() - 1) * CHUNK_SLOTS + last.len()) as u64,
        None => 0,
    }
}

/// A slot for `entry` in `chunks`: the last one freed, else a new one at the end.
fn alloc_in<T>(chunks: &mut Vec<Vec<Slot<T>>>, free_head: &mut u32, entry: T) -> u32 {
    if *free_head != NO_SLOT {
        let id = *free_head;
        if let Some(slot) = chunks
            .get_mut((id >> CHUNK_SHIFT) as usize)
            .and_then(|c| c.get_mut(id as usize & (CHUNK_SLOTS - 1)))
        {
            if let Slot::Free { next_free } = *slot {
                *slot = Slot::Used(entry);
                *free_head = next_free;
                return id;
            }
        }
        // A broken free list would corrupt data: stop here rather than go on.
        panic!("slab free list points at a used slot {id}");
    }
    let id = span_of(chunks);
    assert!(id < u64::from(NO_SLOT), "slab over 4 billion entries");
    if chunks.last().is_none_or(|c| c.len() == CHUNK_SLOTS) {
        // The first chunk grows as the table does; later ones are born full size.
        let capacity = if chunks.is_empty() {
            MIN_CHUNK_SLOTS
        } else {
            CHUNK_SLOTS
        };
        chunks.push(Vec::with_capacity(capacity));
    }
    if let Some(chunk) = chunks.last_mut() {
        if chunk.len() == chunk.capacity() {
            let target = (chunk.len() * 2).clamp(MIN_CHUNK_SLOTS, CHUNK_SLOTS);
            chunk.reserve_exact(target - chunk.len());
        }
        chunk.push(Slot::Used(entry));
    }
    id as u32
}

/// hashbrown's bucket count for a table reporting `capacity` (its load factor is 7/8,
/// and tables under 8 buckets fill all but one).
fn index_buckets(capacity: usize) -> usize {
    match capacity {
        0 => 0,
        1..=7 => (capacity + 1).next_power_of_two(),
        _ => capacity / 7 * 8,
    }
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
            chunks: if first == 0 {
                Vec::new()
            } else {
                vec![Vec::with_capacity(first)]
            },
            free_head: NO_SLOT,
            index: HashTable::with_capacity(capacity),
            rehash: None,
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
        span_of(&self.chunks)
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

    /// Entries the index has room for, both tables counted while a rehash is on (for
    /// tests and INFO-like reporting: it drops after mass deletes).
    pub fn index_capacity(&self) -> usize {
        self.index.capacity() + self.rehash.as_ref().map_or(0, |r| r.old.capacity())
    }

    /// Whether an incremental rehash (growth or shrink) is under way.
    pub fn is_rehashing(&self) -> bool {
        self.rehash.is_some()
    }

    /// Heap bytes held, O(1): slots, index and the entries' payloads (not the `Slab`
    /// struct itself, which its owner places).
    pub fn heap_bytes(&self) -> usize {
        self.overhead_bytes() + self.payload_bytes
    }

    /// The table's own bytes, O(1): used slots and the index, without the entries'
    /// payloads. Free slots are not counted: the next insert takes one before any
    /// new memory, so they are spare room as an allocator's free lists are (RSS, not
    /// `used_memory`), and eviction must see a removal give its slot back.
    pub fn overhead_bytes(&self) -> usize {
        let slots = self.len as usize;
        slots * Self::slot_bytes()
            + self.chunks.capacity() * std::mem::size_of::<Vec<Slot<T>>>()
            + index_buckets(self.index.capacity()) * INDEX_BYTES_PER_BUCKET
            + self.rehash.as_ref().map_or(0, |r| {
                index_buckets(r.old.capacity()) * INDEX_BYTES_PER_BUCKET
            })
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    #[inline]
    pub fn get(&self, id: u32) -> Option<&T> {
        entry_at(&self.chunks, id)
    }

    /// Mutable access for changes that keep the entry's key and heap bytes (TTLs,
    /// access times, scores); anything else goes through `update` or `replace`.
    #[inline]
    pub fn get_mut(&mut self, id: u32) -> Option<&mut T> {
        let slot = self
            .chunks
            .get_mut((id >> CHUNK_SHIFT) as usize)?
            .get_mut(id as usize & (CHUNK_SLOTS - 1))?;
        match slot {
            Slot::Used(e) => Some(e),
            Slot::Free { .. } => None,
        }
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
        let chunks = &self.chunks;
        let hash = self.hash(key);
        let matches = |&id: &u32| entry_at(chunks, id).is_some_and(|e| e.key() == key);
        match self.index.find(hash, matches) {
            Some(&id) => Some(id),
            None => self.rehash.as_ref()?.old.find(hash, matches).copied(),
        }
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
        self.make_room();
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.index.insert_unique(hash, id, |&other| {
            hasher.hash_one(entry_at(chunks, other).map_or(&b""[..], T::key))
        });
        self.len += 1;
        self.rehash_step();
        id
    }

    /// Inserts `entry` unless its key is there: Ok(its new id), or Err(the present
    /// entry's id, `entry` back). One hash and one probe of the index, where `find`
    /// then `insert` take two of each (a loader's duplicate check).
    pub fn try_insert(&mut self, entry: T) -> Result<u32, (u32, T)> {
        let hash = self.hash(entry.key());
        self.make_room();
        {
            let key = entry.key();
            let chunks = &self.chunks;
            let matches = |&id: &u32| entry_at(chunks, id).is_some_and(|e| e.key() == key);
            if let Some(&id) = self.rehash.as_ref().and_then(|r| r.old.find(hash, matches)) {
                return Err((id, entry));
            }
        }
        let heap = entry.heap_bytes();
        let Slab {
            chunks,
            index,
            hasher,
            free_head,
            ..
        } = self;
        let vacant = {
            let chunks = &*chunks;
            let key = entry.key();
            match index.entry(
                hash,
                |&id| entry_at(chunks, id).is_some_and(|e| e.key() == key),
                |&other| hasher.hash_one(entry_at(chunks, other).map_or(&b""[..], T::key)),
            ) {
                hashbrown::hash_table::Entry::Occupied(o) => return Err((*o.get(), entry)),
                hashbrown::hash_table::Entry::Vacant(v) => v,
            }
        };
        // The vacant bucket borrows only the index: the slot comes from the chunks.
        let id = alloc_in(chunks, free_head, entry);
        vacant.insert(id);
        self.payload_bytes += heap;
        self.len += 1;
        self.rehash_step();
        Ok(id)
    }

    /// Makes room in the index for `additional` more entries in one go (a loader that
    /// knows how many keys come: RDB's RESIZEDB), so filling it starts no rehash.
    /// Finishes a rehash under way first.
    pub fn reserve(&mut self, additional: usize) {
        self.finish_rehash();
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.index.reserve(additional, |&other| {
            hasher.hash_one(entry_at(chunks, other).map_or(&b""[..], T::key))
        });
        let slots = self.len().saturating_add(additional);
        self.chunks
            .reserve((slots / CHUNK_SLOTS + 1).saturating_sub(self.chunks.len()));
    }

    /// Before an insert into the index: when it is full, start an incremental
    /// rehash into a table twice the size (or, for a small index or one whose rehash
    /// is still on, grow it in one go as a plain table does).
    fn make_room(&mut self) {
        if self.index.len() < self.index.capacity() {
            return;
        }
        if self.rehash.is_some() {
            self.finish_rehash();
            if self.index.len() < self.index.capacity() {
                return;
            }
        }
        if self.index.len() < REHASH_MIN_INCREMENTAL {
            return; // `insert_unique` grows it.
        }
        // Twice the entries, not the capacity: tombstones may have shrunk the latter.
        let bigger = HashTable::with_capacity(self.index.len().saturating_mul(2));
        let old = std::mem::replace(&mut self.index, bigger);
        self.rehash = Some(Box::new(Rehash { old, cursor: 0 }));
    }

    /// Moves the old index entries of the next `REHASH_SLOTS_PER_OP` used slots, walking
    /// at most `REHASH_VISITS_PER_OP` slot ids.
    fn rehash_step(&mut self) {
        self.rehash_some(REHASH_SLOTS_PER_OP, REHASH_VISITS_PER_OP);
    }

    /// Moves the old index entries of up to `max_moves` used slots, walking at most
    /// `max_visits` slot ids; the rehash ends when the walk passes the span. A driver
    /// with nothing else to do calls it to finish a rehash no command is pushing on
    /// (Redis's `incrementallyRehash` in `databasesCron`). Returns whether a rehash is
    /// still on.
    pub fn rehash_some(&mut self, max_moves: u32, max_visits: u32) -> bool {
        let Some(mut r) = self.rehash.take() else {
            return false;
        };
        let span = self.span();
        let (mut moved, mut visited) = (0u32, 0u32);
        while moved < max_moves
            && visited < max_visits
            && u64::from(r.cursor) < span
            && !r.old.is_empty()
        {
            if self.move_to_new(&mut r.old, r.cursor) {
                moved += 1;
            }
            visited += 1;
            r.cursor += 1;
        }
        // Every id is below the span, and ids below the cursor were moved.
        debug_assert!(
            u64::from(r.cursor) < span || r.old.is_empty(),
            "rehash ended with entries left"
        );
        if !r.old.is_empty() && u64::from(r.cursor) < span {
            self.rehash = Some(r);
            return true;
        }
        self.maybe_shrink();
        self.rehash.is_some()
    }

    /// After a removal: when the index is under 1/`SHRINK_FILL_DIVISOR` full, start
    /// moving it into a table sized for twice its entries, by the same walk as growth
    /// (slot ids do not move, so neither SCAN cursors nor a running snapshot see it).
    fn maybe_shrink(&mut self) {
        if self.rehash.is_some() {
            return;
        }
        let capacity = self.index.capacity();
        let len = self.index.len();
        if capacity <= SHRINK_MIN_CAPACITY || len.saturating_mul(SHRINK_FILL_DIVISOR) >= capacity {
            return;
        }
        if len == 0 {
            self.index = HashTable::new();
            return;
        }
        let target = len.saturating_mul(2);
        if capacity <= SHRINK_MIN_INCREMENTAL {
            let (chunks, hasher) = (&self.chunks, &self.hasher);
            self.index.shrink_to(target, |&other| {
                hasher.hash_one(entry_at(chunks, other).map_or(&b""[..], T::key))
            });
            return;
        }
        let smaller = HashTable::with_capacity(target);
        let old = std::mem::replace(&mut self.index, smaller);
        self.rehash = Some(Box::new(Rehash { old, cursor: 0 }));
    }

    /// Moves the rest of the old index over (a new doubling is due before the walk
    /// ended: only a very sparse slab gets here).
    fn finish_rehash(&mut self) {
        if let Some(mut r) = self.rehash.take() {
            let span = self.span();
            while u64::from(r.cursor) < span && !r.old.is_empty() {
                self.move_to_new(&mut r.old, r.cursor);
                r.cursor += 1;
            }
            debug_assert!(r.old.is_empty());
        }
    }

    /// Moves slot `id`'s index entry from `old` to the index, if `old` has it; true
    /// when it did.
    fn move_to_new(&mut self, old: &mut HashTable<u32>, id: u32) -> bool {
        let Some(entry) = self.get(id) else {
            return false;
        };
        let hash = self.hash(entry.key());
        if let Ok(found) = old.find_entry(hash, |&other| other == id) {
            found.remove();
            let (chunks, hasher) = (&self.chunks, &self.hasher);
            self.index.insert_unique(hash, id, |&other| {
                hasher.hash_one(entry_at(chunks, other).map_or(&b""[..], T::key))
            });
            return true;
        }
        false
    }

    /// A slot for `entry`: the last one freed, else a new one at the end.
    fn alloc(&mut self, entry: T) -> u32 {
        alloc_in(&mut self.chunks, &mut self.free_head, entry)
    }

    /// Removes the entry in slot `id` and returns it.
    pub fn remove(&mut self, id: u32) -> Option<T> {
        let hash = self.hash(self.get(id)?.key());
        if let Ok(found) = self.index.find_entry(hash, |&other| other == id) {
            found.remove();
        } else if let Some(r) = self.rehash.as_mut() {
            if let Ok(found) = r.old.find_entry(hash, |&other| other == id) {
                found.remove();
            }
        }
        let entry = self.free(id);
        if self.rehash.is_some() {
            self.rehash_step();
        } else {
            self.maybe_shrink();
        }
        entry
    }

    /// Removes the entry with `key`; returns its id and the entry.
    pub fn remove_key(&mut self, key: &[u8]) -> Option<(u32, T)> {
        let id = self.find(key)?;
        Some((id, self.remove(id)?))
    }

    /// Frees slot `id`, already out of the index.
    fn free(&mut self, id: u32) -> Option<T> {
        let free_head = self.free_head;
        let slot = self
            .chunks
            .get_mut((id >> CHUNK_SHIFT) as usize)?
            .get_mut(id as usize & (CHUNK_SLOTS - 1))?;
        let Slot::Used(entry) = std::mem::replace(
            slot,
            Slot::Free {
                next_free: free_head,
            },
        ) else {
            return None;
        };
        self.free_head = id;
        self.len -= 1;
        self.payload_bytes -= entry.heap_bytes();
        Some(entry)
    }

    /// Every entry with its id, in id order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &T)> {
        self.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk.iter().enumerate().filter_map(move |(i, s)| match s {
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
            if let Some(e) = self.get(id as u32) {
                visit(id as u32, e);
                entries += 1;
            }
            id += 1;
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
        (0..span)
            .map(|i| ((start + i) % span) as u32)
            .find(|&id| self.get(id).is_some())
    }

    /// Gives the storage of an empty slab back (nothing to keep stable for a scan).
    pub fn release_if_empty(&mut self) {
        if self.len == 0 {
            self.chunks = Vec::new();
            self.free_head = NO_SLOT;
            self.index = HashTable::new();
            self.rehash = None;
            self.payload_bytes = 0;
        }
    }

    /// Empties the slab, keeping its hash keys; returns the old contents for the
    /// caller to free (perhaps off the event loop).
    pub fn take(&mut self) -> Slab<T> {
        let empty = Slab {
            chunks: Vec::new(),
            free_head: NO_SLOT,
            index: HashTable::new(),
            rehash: None,
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
        let old = std::mem::take(&mut self.chunks);
        let mut fresh = Slab::with_capacity([0; 4], self.len());
        fresh.hasher = self.hasher.clone();
        fresh.generation = self.generation.wrapping_add(1);
        for slot in old.into_iter().flatten() {
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
    fn index_rehashes_incrementally_and_finds_everything_meanwhile() {
        let mut s = Slab::new([3; 4]);
        let mut rehashing_inserts = 0;
        let mut live = BTreeSet::new();
        for i in 0..200_000u64 {
            let id = s.insert(e(&format!("k{i}"), i));
            live.insert(i);
            if s.rehash.is_some() {
                rehashing_inserts += 1;
                // Mid-rehash: old and new keys are found, removals work in both.
                if i % 97 == 0 {
                    let victim = i / 2;
                    if live.remove(&victim) {
                        assert!(s.remove_key(format!("k{victim}").as_bytes()).is_some());
                    }
                    assert_eq!(s.find(format!("k{i}").as_bytes()), Some(id));
                }
            }
        }
        assert!(
            rehashing_inserts > 10_000,
            "the doublings were spread over inserts"
        );
        assert_eq!(s.len(), live.len());
        for i in &live {
            assert!(s.find(format!("k{i}").as_bytes()).is_some(), "k{i} lost");
        }
        // Removing everything ends any rehash and leaves an empty index.
        for i in &live {
            s.remove_key(format!("k{i}").as_bytes()).unwrap();
        }
        assert!(s.is_empty());
        assert!(s.rehash.is_none() || s.rehash.as_ref().unwrap().old.is_empty());
    }

    #[test]
    fn try_insert_finds_a_present_key_in_either_table_and_inserts_an_absent_one() {
        let mut s = Slab::new([6; 4]);
        let mut ids = BTreeMap::new();
        let mut saw_rehash = false;
        for i in 0..50_000u64 {
            let id = s.try_insert(e(&format!("k{i}"), i)).expect("absent");
            ids.insert(i, id);
            saw_rehash |= s.rehash.is_some();
            // Every so often, an earlier key (old table or new) is refused with its id.
            if i % 61 == 0 {
                let j = i / 3;
                let (found, back) = s.try_insert(e(&format!("k{j}"), 7)).unwrap_err();
                assert_eq!(found, ids[&j]);
                assert_eq!(back.value, 7);
                assert_eq!(s.get(found).map(|x| x.value), Some(j));
            }
        }
        assert!(saw_rehash, "the test never met a rehash");
        assert_eq!(s.len(), 50_000);
        for (i, id) in &ids {
            assert_eq!(s.find(format!("k{i}").as_bytes()), Some(*id));
        }
        // Freed slots are reused by try_insert as by insert.
        let (id, _) = s.remove_key(b"k5").unwrap();
        assert_eq!(s.try_insert(e("again", 1)), Ok(id));
    }

    #[test]
    fn a_reserved_index_fills_without_rehashing() {
        let mut s = Slab::new([4; 4]);
        for i in 0..5_000u64 {
            s.insert(e(&format!("k{i}"), i));
        }
        // Mid-rehash or not, reserve finishes it and makes the room in one go.
        s.reserve(100_000);
        let capacity = s.index.capacity();
        assert!(capacity >= 105_000, "{capacity}");
        for i in 5_000..105_000u64 {
            s.insert(e(&format!("k{i}"), i));
            assert!(s.rehash.is_none(), "rehash started at insert {i}");
        }
        assert_eq!(s.index.capacity(), capacity);
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
        assert_eq!(s.chunks.len(), 3);
        assert!(s.chunks.iter().take(2).all(|c| c.capacity() == CHUNK_SLOTS));
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
    }
}
