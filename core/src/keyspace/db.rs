//! One database: keys, values and TTLs in a slab of 64-byte slots with stable
//! indices, found through a keyed hash index of 4-byte slot ids.
//!
//! Stable slot ids give SCAN Redis's guarantee for free (an entry present for the
//! whole scan never moves, so the cursor, a slot id, passes it exactly once) and keep
//! memory tight: no per-key allocation for keys and values up to 22 bytes. The index
//! is keyed per process (per seed in simulation), so iteration order is reproducible
//! and hash flooding is not.

use hashbrown::HashTable;

use crate::types::{SmallBytes, Value};

/// Slots per slab chunk; chunks are never moved, so growth copies no entries.
const CHUNK_SLOTS: usize = 4096;
const NO_SLOT: u32 = u32::MAX;
/// Index bytes per bucket in hashbrown: a 4-byte slot id plus one control byte.
const INDEX_BYTES_PER_BUCKET: usize = 5;

#[derive(Debug, Clone)]
pub struct Entry {
    pub key: SmallBytes,
    pub value: Value,
    /// Absolute unix time in ms after which the key is gone; 0: no TTL.
    pub expire_at_ms: u64,
    /// Last access, in seconds of the node's monotonic clock (OBJECT IDLETIME, LRU).
    pub access_secs: u32,
    /// Position in `Db::volatile` when the key has a TTL.
    volatile_pos: u32,
}

impl Entry {
    pub fn is_expired(&self, now_wall_ms: u64) -> bool {
        self.expire_at_ms != 0 && now_wall_ms > self.expire_at_ms
    }

    fn heap_bytes(&self) -> usize {
        self.key.heap_bytes() + self.value.heap_bytes()
    }
}

#[derive(Debug, Clone)]
enum Slot {
    Used(Entry),
    Free { next_free: u32 },
}

/// Hash seeds for the index; random from the OS in production, from the seed in simulation.
#[derive(Debug, Clone, Copy)]
pub struct HashSeeds(pub [u64; 4]);

#[derive(Clone)]
pub struct Db {
    chunks: Vec<Vec<Slot>>,
    free_head: u32,
    index: HashTable<u32>,
    hasher: ahash::RandomState,
    /// Slot ids of keys with a TTL, for expiry sampling.
    volatile: Vec<u32>,
    len: usize,
    heap_bytes: usize,
    /// Set while clients are blocked on keys (`crate::blocking`): inserts of lists
    /// and sorted sets are then recorded in `ready_keys`, as Redis's `dbAdd` signals.
    pub(crate) watch_ready: bool,
    pub(crate) ready_keys: Vec<Vec<u8>>,
    /// Changes made to this database (inserts, removals, value and TTL updates), a
    /// wrapping count: the call layer compares it around a command to know whether
    /// the command changed anything and must be propagated (Redis's `server.dirty`).
    pub(crate) mutations: u64,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("len", &self.len).finish()
    }
}

impl Db {
    pub fn new(seeds: HashSeeds) -> Self {
        let [a, b, c, d] = seeds.0;
        Db {
            chunks: Vec::new(),
            free_head: NO_SLOT,
            index: HashTable::new(),
            hasher: ahash::RandomState::with_seeds(a, b, c, d),
            volatile: Vec::new(),
            len: 0,
            heap_bytes: 0,
            watch_ready: false,
            ready_keys: Vec::new(),
            mutations: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn volatile_len(&self) -> usize {
        self.volatile.len()
    }

    /// Logical bytes this database holds: slots, index, TTL list and heap payloads.
    pub fn used_bytes(&self) -> usize {
        self.chunks.len() * CHUNK_SLOTS * std::mem::size_of::<Slot>()
            + self.index.capacity() * INDEX_BYTES_PER_BUCKET
            + self.volatile.capacity() * 4
            + self.heap_bytes
    }

    /// The table's own bytes (slots and index), MEMORY STATS's
    /// `overhead.hashtable.main`.
    pub fn overhead_bytes(&self) -> usize {
        self.chunks.len() * CHUNK_SLOTS * std::mem::size_of::<Slot>()
            + self.index.capacity() * INDEX_BYTES_PER_BUCKET
    }

    /// The TTL list's bytes, MEMORY STATS's `overhead.hashtable.expires`.
    pub fn volatile_overhead_bytes(&self) -> usize {
        self.volatile.capacity() * 4
    }

    /// Bytes one key costs, for `MEMORY USAGE`-like reporting.
    pub fn entry_bytes(&self, id: u32) -> usize {
        self.get(id).map_or(0, |e| {
            std::mem::size_of::<Slot>() + INDEX_BYTES_PER_BUCKET + e.heap_bytes()
        })
    }

    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    fn slot(&self, id: u32) -> Option<&Slot> {
        let id = id as usize;
        self.chunks.get(id / CHUNK_SLOTS)?.get(id % CHUNK_SLOTS)
    }

    fn slot_mut(&mut self, id: u32) -> Option<&mut Slot> {
        let id = id as usize;
        self.chunks
            .get_mut(id / CHUNK_SLOTS)?
            .get_mut(id % CHUNK_SLOTS)
    }

    pub fn get(&self, id: u32) -> Option<&Entry> {
        match self.slot(id)? {
            Slot::Used(e) => Some(e),
            Slot::Free { .. } => None,
        }
    }

    /// Mutable access to an entry's bookkeeping. Use `set_value`/`update_value` to
    /// change the value so memory stays accounted.
    fn get_mut(&mut self, id: u32) -> Option<&mut Entry> {
        match self.slot_mut(id)? {
            Slot::Used(e) => Some(e),
            Slot::Free { .. } => None,
        }
    }

    /// The slot id of `key`, expired or not.
    pub fn find(&self, key: &[u8]) -> Option<u32> {
        let hash = self.hash(key);
        self.index
            .find(hash, |&id| {
                self.get(id).is_some_and(|e| e.key.as_bytes() == key)
            })
            .copied()
    }

    /// Inserts a key known to be absent; returns its slot id.
    pub fn insert(&mut self, key: &[u8], value: Value) -> u32 {
        self.mutations = self.mutations.wrapping_add(1);
        debug_assert!(self.find(key).is_none(), "insert of a present key");
        if self.watch_ready && matches!(value, Value::List(_) | Value::ZSet(_)) {
            self.ready_keys.push(key.to_vec());
        }
        let entry = Entry {
            key: SmallBytes::new(key),
            value,
            expire_at_ms: 0,
            access_secs: 0,
            volatile_pos: NO_SLOT,
        };
        self.heap_bytes += entry.heap_bytes();
        let id = self.alloc_slot(entry);
        let hash = self.hash(key);
        let (chunks, hasher) = (&self.chunks, &self.hasher);
        self.index.insert_unique(hash, id, |&other| {
            let i = other as usize;
            match chunks
                .get(i / CHUNK_SLOTS)
                .and_then(|c| c.get(i % CHUNK_SLOTS))
            {
                Some(Slot::Used(e)) => hasher.hash_one(e.key.as_bytes()),
                _ => 0,
            }
        });
        self.len += 1;
        id
    }

    fn alloc_slot(&mut self, entry: Entry) -> u32 {
        if self.free_head != NO_SLOT {
            let id = self.free_head;
            if let Some(slot) = self.slot_mut(id) {
                if let Slot::Free { next_free } = *slot {
                    *slot = Slot::Used(entry);
                    self.free_head = next_free;
                    return id;
                }
            }
            // A broken free list would corrupt data: stop here rather than go on.
            panic!("keyspace free list points at a used slot {id}");
        }
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK_SLOTS) {
            self.chunks.push(Vec::with_capacity(CHUNK_SLOTS));
        }
        let chunk_no = self.chunks.len() - 1;
        // In range: a chunk was pushed above when there was none with room.
        #[allow(clippy::indexing_slicing)]
        let chunk = &mut self.chunks[chunk_no];
        let id = chunk_no * CHUNK_SLOTS + chunk.len();
        chunk.push(Slot::Used(entry));
        assert!(id < NO_SLOT as usize, "keyspace over 4 billion keys");
        id as u32
    }

    /// Removes the entry in slot `id` and returns it.
    pub fn remove(&mut self, id: u32) -> Option<Entry> {
        self.mutations = self.mutations.wrapping_add(1);
        let key_hash = self.hash(self.get(id)?.key.as_bytes());
        if let Ok(found) = self.index.find_entry(key_hash, |&other| other == id) {
            found.remove();
        }
        self.untrack_volatile(id);
        let free_head = self.free_head;
        let slot = self.slot_mut(id)?;
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
        self.heap_bytes -= entry.heap_bytes();
        Some(entry)
    }

    /// Replaces a value, keeping key and TTL.
    /// Replaces the value in slot `id`; returns the old one (for the caller to free,
    /// perhaps off the event loop).
    pub fn set_value(&mut self, id: u32, value: Value) -> Option<Value> {
        self.mutations = self.mutations.wrapping_add(1);
        let added = value.heap_bytes();
        let e = self.get_mut(id)?;
        let removed = e.value.heap_bytes();
        let old = std::mem::replace(&mut e.value, value);
        self.heap_bytes = self.heap_bytes + added - removed;
        Some(old)
    }

    /// Changes a value in place, keeping memory accounted.
    pub fn update_value<R>(&mut self, id: u32, f: impl FnOnce(&mut Value) -> R) -> Option<R> {
        self.mutations = self.mutations.wrapping_add(1);
        let e = self.get_mut(id)?;
        let before = e.value.heap_bytes();
        let result = f(&mut e.value);
        let after = e.value.heap_bytes();
        self.heap_bytes = self.heap_bytes + after - before;
        Some(result)
    }

    pub fn set_expire(&mut self, id: u32, at_ms: u64) {
        self.mutations = self.mutations.wrapping_add(1);
        debug_assert!(at_ms != 0);
        let pos = self.volatile.len() as u32;
        let Some(e) = self.get_mut(id) else { return };
        let was_volatile = e.expire_at_ms != 0;
        e.expire_at_ms = at_ms;
        if !was_volatile {
            e.volatile_pos = pos;
            self.volatile.push(id);
        }
    }

    /// Removes a TTL; true when the key had one.
    pub fn clear_expire(&mut self, id: u32) -> bool {
        self.mutations = self.mutations.wrapping_add(1);
        let had = self.get(id).is_some_and(|e| e.expire_at_ms != 0);
        if had {
            self.untrack_volatile(id);
            if let Some(e) = self.get_mut(id) {
                e.expire_at_ms = 0;
            }
        }
        had
    }

    /// Drops `id` from the TTL list, leaving its `expire_at_ms` as it is: a removed
    /// entry keeps its TTL for RENAME and MOVE to carry over.
    fn untrack_volatile(&mut self, id: u32) {
        let Some(e) = self.get(id) else { return };
        if e.volatile_pos == NO_SLOT {
            return;
        }
        let pos = e.volatile_pos as usize;
        debug_assert_eq!(self.volatile.get(pos), Some(&id));
        self.volatile.swap_remove(pos);
        if let Some(&moved) = self.volatile.get(pos) {
            if let Some(m) = self.get_mut(moved) {
                m.volatile_pos = pos as u32;
            }
        }
        if let Some(e) = self.get_mut(id) {
            e.volatile_pos = NO_SLOT;
        }
    }

    pub fn touch(&mut self, id: u32, now_secs: u32) {
        if let Some(e) = self.get_mut(id) {
            e.access_secs = now_secs;
        }
    }

    /// Slot ids in slot order from `cursor`, visiting up to `max_slots` slots. Returns
    /// the next cursor, 0 when the scan is complete.
    pub fn scan(&self, cursor: u64, max_slots: usize, mut visit: impl FnMut(u32, &Entry)) -> u64 {
        let total = self.chunks.iter().map(Vec::len).sum::<usize>() as u64;
        let mut id = cursor;
        let mut visited = 0usize;
        while id < total && visited < max_slots.max(1) {
            if let Some(e) = self.get(id as u32) {
                visit(id as u32, e);
            }
            id += 1;
            visited += 1;
        }
        if id >= total {
            0
        } else {
            id
        }
    }

    /// Every entry, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &Entry)> {
        self.chunks.iter().enumerate().flat_map(|(c, chunk)| {
            chunk.iter().enumerate().filter_map(move |(i, s)| match s {
                Slot::Used(e) => Some(((c * CHUNK_SLOTS + i) as u32, e)),
                Slot::Free { .. } => None,
            })
        })
    }

    /// A uniformly drawn slot id of a present key, using `draw(n)` -> [0, n).
    pub fn random_id(&self, mut draw: impl FnMut(u64) -> u64) -> Option<u32> {
        if self.len == 0 {
            return None;
        }
        let total = self.chunks.iter().map(Vec::len).sum::<usize>() as u64;
        // Dense slabs hit quickly; a sparse one falls back to a walk from a random point.
        for _ in 0..32 {
            let id = draw(total) as u32;
            if self.get(id).is_some() {
                return Some(id);
            }
        }
        let start = draw(total);
        (0..total)
            .map(|i| ((start + i) % total) as u32)
            .find(|&id| self.get(id).is_some())
    }

    /// A random key with a TTL.
    pub fn random_volatile(&self, mut draw: impl FnMut(u64) -> u64) -> Option<u32> {
        if self.volatile.is_empty() {
            return None;
        }
        self.volatile
            .get(draw(self.volatile.len() as u64) as usize)
            .copied()
    }

    /// Shrinks storage after mass deletion, when no scan can be running across it is
    /// not knowable, so only an empty database is compacted.
    /// Empties the database; returns the old storage for the caller to free (a big
    /// database is freed off the event loop).
    pub fn clear(&mut self) -> Garbage {
        let hasher = self.hasher.clone();
        let watch_ready = self.watch_ready;
        let mutations = self.mutations.wrapping_add(1);
        let old = std::mem::replace(
            self,
            Db {
                hasher,
                watch_ready,
                mutations,
                ..Db::new(HashSeeds([0; 4]))
            },
        );
        Garbage {
            values: Vec::new(),
            chunks: old.chunks,
            index: Some(old.index),
            volatile: old.volatile,
            objects: old.len,
        }
    }
}

/// Memory to free off the event loop (Redis's lazyfree): values too big to drop
/// without stalling, or a whole flushed database. Opaque to drivers, which only drop
/// it (on another thread, in production); the simulator drops it in place.
#[derive(Default)]
pub struct Garbage {
    values: Vec<Value>,
    chunks: Vec<Vec<Slot>>,
    index: Option<HashTable<u32>>,
    volatile: Vec<u32>,
    /// Keys or values this holds, for INFO's `lazyfreed_objects`.
    objects: usize,
}

impl Garbage {
    pub fn push(&mut self, value: Value) {
        self.values.push(value);
        self.objects += 1;
    }

    pub fn append(&mut self, other: Garbage) {
        self.values.extend(other.values);
        self.chunks.extend(other.chunks);
        if self.index.is_none() {
            self.index = other.index;
        }
        self.volatile.extend(other.volatile);
        self.objects += other.objects;
    }

    pub fn objects(&self) -> usize {
        self.objects
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.chunks.is_empty() && self.index.is_none()
    }
}

impl std::fmt::Debug for Garbage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Garbage")
            .field("values", &self.values.len())
            .field("chunks", &self.chunks.len())
            .field("objects", &self.objects)
            .finish()
    }
}

/// Garbage compares by size only: effects are compared in tests, never freed memory.
impl PartialEq for Garbage {
    fn eq(&self, other: &Self) -> bool {
        self.objects == other.objects && self.values.len() == other.values.len()
    }
}

impl Eq for Garbage {}

/// Cloning garbage gives empty garbage: nothing should ever copy memory on its way out.
impl Clone for Garbage {
    fn clone(&self) -> Self {
        Garbage::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::StrValue;

    fn v(s: &str) -> Value {
        Value::Str(StrValue::from_set(s.as_bytes()))
    }

    #[test]
    fn insert_find_remove() {
        let mut db = Db::new(HashSeeds([1, 2, 3, 4]));
        assert_eq!(std::mem::size_of::<Slot>(), 64);
        let mut ids = Vec::new();
        for i in 0..10_000 {
            let k = format!("key:{i}");
            ids.push(db.insert(k.as_bytes(), v("x")));
        }
        assert_eq!(db.len(), 10_000);
        for i in (0..10_000).step_by(2) {
            let id = db.find(format!("key:{i}").as_bytes()).unwrap();
            db.set_expire(id, 100 + i as u64);
            db.remove(id).unwrap();
        }
        assert_eq!(db.len(), 5_000);
        assert_eq!(db.volatile_len(), 0);
        assert!(db.find(b"key:2").is_none());
        assert!(db.find(b"key:3").is_some());
        // Reuses freed slots.
        let id = db.insert(b"new", v("y"));
        assert!((id as usize) < 10_000);
        assert_eq!(db.iter().count(), 5_001);
    }

    #[test]
    fn volatile_tracking() {
        let mut db = Db::new(HashSeeds([0; 4]));
        let a = db.insert(b"a", v("1"));
        let b = db.insert(b"b", v("1"));
        let c = db.insert(b"c", v("1"));
        db.set_expire(a, 10);
        db.set_expire(b, 20);
        db.set_expire(c, 30);
        db.set_expire(b, 25);
        assert_eq!(db.volatile_len(), 3);
        let removed = db.remove(c).unwrap();
        assert_eq!(removed.expire_at_ms, 30, "a removed entry keeps its TTL");
        let c = db.insert(b"c", v("1"));
        db.set_expire(c, 30);
        assert!(db.clear_expire(a));
        assert!(!db.clear_expire(a));
        db.remove(c);
        assert_eq!(db.volatile_len(), 1);
        assert_eq!(db.random_volatile(|_| 0), Some(b));
        assert_eq!(db.get(b).unwrap().expire_at_ms, 25);
    }

    #[test]
    fn scan_returns_every_stable_key_once() {
        let mut db = Db::new(HashSeeds([9; 4]));
        for i in 0..1000 {
            db.insert(format!("k{i}").as_bytes(), v("x"));
        }
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = 0;
        let mut round = 0;
        loop {
            cursor = db.scan(cursor, 10, |_, e| {
                seen.insert(e.key.as_bytes().to_vec());
            });
            // Churn during the scan: add and delete other keys.
            round += 1;
            db.insert(format!("tmp{round}").as_bytes(), v("y"));
            if let Some(id) = db.find(format!("tmp{}", round - 1).as_bytes()) {
                db.remove(id);
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..1000 {
            assert!(seen.contains(format!("k{i}").as_bytes()));
        }
    }
}
