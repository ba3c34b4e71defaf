//! One database: keys and values in a `crate::slab::Slab` of 48-byte slots with
//! stable ids (SCAN's cursor is a slot id), and the TTLs of the keys that have one
//! out of their slots (`super::ttls`). No per-key
//! allocation for keys up to 19 bytes and values up to 22. Nothing here reads a
//! clock: expiry is decided by the caller's `now`.

use super::key::KeyBytes;
use super::snap::SnapTrack;
pub use super::ttls::TTL_ENTRY_BYTES;
use super::ttls::{IndexScale, Ttls};
use crate::slab::{At, ScanBudget, Slab, SlabEntry};
use crate::types::{SmallBytes, Value};

/// Random slots RANDOMKEY and eviction sampling try before walking.
const RANDOM_TRIES: usize = 32;

/// What a slot holds: the key (which carries the access field and a "has TTL" bit)
/// and the value, 48 bytes. A key's TTL lives in `Storage::ttls`, paid for only by
/// keys that have one.
#[derive(Debug, Clone)]
pub struct Stored {
    key: KeyBytes,
    value: Value,
}

const _: () = assert!(std::mem::size_of::<Stored>() == 48);

impl SlabEntry for Stored {
    fn key(&self) -> &[u8] {
        self.key.as_bytes()
    }

    fn heap_bytes(&self) -> usize {
        self.key.heap_bytes() + self.value.heap_bytes()
    }
}

/// A database's keys: the slots and the TTLs of the keys that have one. A flush
/// hands the whole of it to a running snapshot or to the garbage.
#[derive(Clone)]
pub struct Storage {
    slab: Slab<Stored>,
    /// The keys with a TTL and their expire times, for active expiry's walk and
    /// volatile sampling, and where each is in that list.
    ttls: Ttls,
}

impl Storage {
    fn new(seeds: [u64; 4]) -> Storage {
        Storage {
            slab: Slab::new(seeds),
            ttls: Ttls::default(),
        }
    }

    /// The expire time of the key with a TTL in slot `id`.
    #[inline]
    fn ttl_of(&self, id: u32) -> u64 {
        self.ttls.get(id).unwrap_or(0)
    }

    /// The key in slot `id`, with its TTL.
    #[inline]
    pub fn get(&self, id: u32) -> Option<EntryRef<'_>> {
        self.slab.get(id).map(|s| self.view(id, s))
    }

    #[inline]
    fn view<'a>(&self, id: u32, s: &'a Stored) -> EntryRef<'a> {
        let expire_at_ms = if s.key.has_ttl() { self.ttl_of(id) } else { 0 };
        debug_assert!(
            !s.key.has_ttl() || expire_at_ms != 0 || self.ttls.planted(),
            "TTL bit without a TTL"
        );
        EntryRef {
            key: &s.key,
            value: &s.value,
            expire_at_ms,
            access: s.key.access(),
        }
    }

    /// What a walk finds at `id` (`Slab::at`), with the TTL of a key found.
    #[inline]
    pub fn at(&self, id: u64) -> SlotAt<'_> {
        match self.slab.at(id) {
            At::Entry(s) => SlotAt::Key(self.view(id as u32, s)),
            At::Free => SlotAt::Free,
            At::Vacant(next) => SlotAt::Vacant(next),
        }
    }

    pub fn len(&self) -> usize {
        self.slab.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }

    /// Heap bytes: slots, index, payloads, the TTL table and list.
    pub fn heap_bytes(&self) -> usize {
        self.slab.heap_bytes() + self.ttl_bytes()
    }

    fn ttl_bytes(&self) -> usize {
        self.ttls.bytes()
    }

    pub fn overhead_bytes(&self) -> usize {
        self.slab.overhead_bytes()
    }

    /// Bytes one key costs beyond its heap payload: its slot, its index bucket, and
    /// its TTL's entries when it has one.
    pub fn entry_overhead_bytes(e: &EntryRef<'_>) -> usize {
        Slab::<Stored>::entry_overhead_bytes()
            + if e.expire_at_ms != 0 {
                TTL_ENTRY_BYTES
            } else {
                0
            }
    }
}

/// What a walk of slot ids finds at one id (`crate::slab::At` with the key's TTL).
pub enum SlotAt<'a> {
    Key(EntryRef<'a>),
    /// A free slot.
    Free,
    /// No slot: the walk goes on at this id.
    Vacant(u64),
}

/// A key as readers see it: borrowed key and value, with its TTL (0: none) and its
/// access field.
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    pub key: &'a KeyBytes,
    pub value: &'a Value,
    /// Absolute unix time in ms after which the key is gone; 0: no TTL.
    pub expire_at_ms: u64,
    /// Access metadata in 24 bits, as Redis's robj `lru` (`super::evict`): the LRU
    /// clock of the last access under LRU and other policies, or the LFU counter in
    /// the low 8 bits and the minutes of its last decrement above under LFU.
    pub access: u32,
}

impl EntryRef<'_> {
    pub fn is_expired(&self, now_wall_ms: u64) -> bool {
        self.expire_at_ms != 0 && now_wall_ms > self.expire_at_ms
    }

    pub fn heap_bytes(&self) -> usize {
        self.key.heap_bytes() + self.value.heap_bytes()
    }

    pub fn to_entry(&self) -> Entry {
        Entry {
            key: SmallBytes::new(self.key.as_bytes()),
            value: self.value.clone(),
            expire_at_ms: self.expire_at_ms,
            access: self.access,
        }
    }
}

/// A key taken out of its database (a removal, a snapshot's pre-image): it keeps its
/// TTL and access field for RENAME and MOVE to carry over.
#[derive(Debug, Clone)]
pub struct Entry {
    pub key: SmallBytes,
    pub value: Value,
    /// Absolute unix time in ms after which the key is gone; 0: no TTL.
    pub expire_at_ms: u64,
    pub access: u32,
}

impl Entry {
    pub fn is_expired(&self, now_wall_ms: u64) -> bool {
        self.expire_at_ms != 0 && now_wall_ms > self.expire_at_ms
    }

    pub fn heap_bytes(&self) -> usize {
        self.key.heap_bytes() + self.value.heap_bytes()
    }
}

/// Hash seeds for the index; random from the OS in production, from the seed in simulation.
#[derive(Debug, Clone, Copy)]
pub struct HashSeeds(pub [u64; 4]);

#[derive(Clone)]
pub struct Db {
    store: Storage,
    /// Where active expiry's walk of the TTL list goes on (Redis's `expires_cursor`).
    expire_cursor: usize,
    /// Set while clients are blocked on keys (`crate::blocking`): inserts of lists
    /// and sorted sets are then recorded in `ready_keys`, as Redis's `dbAdd` signals.
    pub(crate) watch_ready: bool,
    pub(crate) ready_keys: Vec<Vec<u8>>,
    /// Changes made to this database (inserts, removals, value and TTL updates), a
    /// wrapping count: the call layer compares it around a command to know whether
    /// the command changed anything and must be propagated (Redis's `server.dirty`).
    pub(crate) mutations: u64,
    /// Set while a snapshot walks this database (`super::snap`): every change below
    /// first lets it keep the key's old state. One branch when no snapshot runs.
    snap: Option<Box<SnapTrack>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("len", &self.len()).finish()
    }
}

impl Db {
    pub fn new(seeds: HashSeeds) -> Self {
        Db {
            store: Storage::new(seeds.0),
            expire_cursor: 0,
            watch_ready: false,
            ready_keys: Vec::new(),
            mutations: 0,
            snap: None,
        }
    }

    /// A snapshot is about to change slot `id`: hand it the old state first.
    #[inline(always)]
    fn before_change(&mut self, id: u32) {
        if self.snap.is_some() {
            self.capture(id);
        }
    }

    #[cold]
    #[inline(never)]
    fn capture(&mut self, id: u32) {
        if let Some(track) = self.snap.as_deref_mut() {
            track.before_change(&self.store, id);
        }
    }

    /// Starts a snapshot's bookkeeping on this database (as database `orig_db`).
    pub fn snap_begin(&mut self, orig_db: usize) {
        let track = SnapTrack::new(
            orig_db,
            self.store.slab.span(),
            self.store.len() as u64,
            self.store.ttls.len() as u64,
        );
        self.snap = Some(Box::new(track));
    }

    /// Ends it; returns a storage a flush froze, for the caller to free.
    pub fn snap_end(&mut self) -> Option<Storage> {
        self.snap.take().and_then(|t| t.frozen)
    }

    pub fn snap_track(&self) -> Option<&SnapTrack> {
        self.snap.as_deref()
    }

    /// The track and the storage the walk reads, together.
    pub fn snap_parts(&mut self) -> Option<(&mut SnapTrack, &Storage)> {
        let live = &self.store;
        self.snap.as_deref_mut().map(|t| (t, live))
    }

    pub fn len(&self) -> usize {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    pub fn volatile_len(&self) -> usize {
        self.store.ttls.len()
    }

    /// Logical bytes this database holds: slots, index, TTL table and list, heap
    /// payloads.
    pub fn used_bytes(&self) -> usize {
        self.store.heap_bytes()
    }

    /// The table's own bytes (slots and index), MEMORY STATS's
    /// `overhead.hashtable.main`.
    pub fn overhead_bytes(&self) -> usize {
        self.store.overhead_bytes()
    }

    /// The TTL table's and list's bytes, MEMORY STATS's `overhead.hashtable.expires`.
    pub fn volatile_overhead_bytes(&self) -> usize {
        self.store.ttl_bytes()
    }

    /// Keys the index has room for before a table grows or splits: it drops after mass
    /// deletes, as Redis's dict shrinks under 10% fill.
    pub fn index_capacity(&self) -> usize {
        self.store.slab.index_capacity()
    }

    /// Slab chunks given back after their last key left (their ids read as free).
    pub fn released_chunks(&self) -> usize {
        self.store.slab.released_chunks()
    }

    /// Bytes one key costs, for `MEMORY USAGE`-like reporting.
    pub fn entry_bytes(&self, id: u32) -> usize {
        self.get(id)
            .map_or(0, |e| Storage::entry_overhead_bytes(&e) + e.heap_bytes())
    }

    /// The key in slot `id`, with its TTL and access field.
    #[inline]
    pub fn get(&self, id: u32) -> Option<EntryRef<'_>> {
        self.store.get(id)
    }

    /// The value in slot `id`, without looking its TTL up (reads that need only it).
    #[inline]
    pub fn value(&self, id: u32) -> Option<&Value> {
        self.store.slab.get(id).map(|s| &s.value)
    }

    /// The slot id of `key`, expired or not.
    #[inline]
    pub fn find(&self, key: &[u8]) -> Option<u32> {
        self.store.slab.find(key)
    }

    /// Makes room for `keys` more keys, `volatile` of them with a TTL, so a loader
    /// that knows the counts (RDB's RESIZEDB) fills the index without rehashing it.
    pub fn reserve(&mut self, keys: usize, volatile: usize) {
        self.store.slab.reserve(keys);
        // Only the TTL list's page table: its pages and the chunk indexes come as
        // TTLs arrive, a claim's worth of room up front could cost more than the keys.
        self.store.ttls.reserve(volatile.min(keys));
    }

    /// Inserts a key known to be absent; returns its slot id.
    pub fn insert(&mut self, key: &[u8], value: Value) -> u32 {
        let id = self.store.slab.insert(Self::new_entry(key, value));
        self.inserted(id);
        id
    }

    /// Inserts `key` unless it is there: Ok(its slot id), or Err(the present key's
    /// id, `value` back). One probe where `find` then `insert` take two (loaders).
    pub fn try_insert(&mut self, key: &[u8], value: Value) -> Result<u32, (u32, Value)> {
        match self.store.slab.try_insert(Self::new_entry(key, value)) {
            Ok(id) => {
                self.inserted(id);
                Ok(id)
            }
            Err((id, entry)) => Err((id, entry.value)),
        }
    }

    fn new_entry(key: &[u8], value: Value) -> Stored {
        Stored {
            key: KeyBytes::new(key),
            value,
        }
    }

    /// The bookkeeping of a new key in slot `id`.
    fn inserted(&mut self, id: u32) {
        self.mutations = self.mutations.wrapping_add(1);
        if self.watch_ready {
            if let Some(e) = self.store.slab.get(id) {
                if matches!(e.value, Value::List(_) | Value::ZSet(_)) {
                    self.ready_keys.push(e.key.as_bytes().to_vec());
                }
            }
        }
        if self.snap.is_some() {
            self.created(id);
        }
    }

    #[cold]
    #[inline(never)]
    fn created(&mut self, id: u32) {
        if let Some(track) = self.snap.as_deref_mut() {
            track.created(id);
        }
    }

    /// Removes the entry in slot `id` and returns it, with its TTL.
    pub fn remove(&mut self, id: u32) -> Option<Entry> {
        self.mutations = self.mutations.wrapping_add(1);
        self.before_change(id);
        let expire_at_ms = self.untrack_volatile(id);
        self.store.slab.remove(id).map(|s| Entry {
            access: s.key.access(),
            key: s.key.into_small(),
            value: s.value,
            expire_at_ms,
        })
    }

    /// Replaces the value in slot `id`, keeping key and TTL; returns the old one (for
    /// the caller to free, perhaps off the event loop).
    #[inline]
    pub fn set_value(&mut self, id: u32, value: Value) -> Option<Value> {
        self.mutations = self.mutations.wrapping_add(1);
        self.before_change(id);
        self.store
            .slab
            .update(id, |e| std::mem::replace(&mut e.value, value))
    }

    /// Changes a value in place, keeping memory accounted.
    #[inline]
    pub fn update_value<R>(&mut self, id: u32, f: impl FnOnce(&mut Value) -> R) -> Option<R> {
        self.mutations = self.mutations.wrapping_add(1);
        self.before_change(id);
        self.store.slab.update(id, |e| f(&mut e.value))
    }

    pub fn set_expire(&mut self, id: u32, at_ms: u64) {
        self.mutations = self.mutations.wrapping_add(1);
        self.before_change(id);
        debug_assert!(at_ms != 0);
        let Some(e) = self.store.slab.get_mut(id) else {
            return;
        };
        e.key.set_has_ttl(true);
        self.store.ttls.set(id, at_ms);
    }

    /// Removes a TTL; true when the key had one.
    pub fn clear_expire(&mut self, id: u32) -> bool {
        self.mutations = self.mutations.wrapping_add(1);
        let had = self.store.slab.get(id).is_some_and(|e| e.key.has_ttl());
        if had {
            self.before_change(id);
            self.untrack_volatile(id);
        }
        had
    }

    /// Drops `id`'s TTL (its table entry, its place in the TTL list, its bit) and
    /// returns it, 0 when it had none: a removed entry keeps its TTL for RENAME and
    /// MOVE to carry over.
    fn untrack_volatile(&mut self, id: u32) -> u64 {
        let Some(e) = self.store.slab.get_mut(id) else {
            return 0;
        };
        if !e.key.has_ttl() {
            return 0;
        }
        e.key.set_has_ttl(false);
        let at_ms = self.store.ttls.remove(id);
        debug_assert!(
            at_ms.is_some() || self.store.ttls.planted(),
            "slot {id} had the TTL bit but no TTL"
        );
        at_ms.unwrap_or(0)
    }

    /// Stores a key's access field (computed by `Keyspace::touch`/`fresh_access`).
    pub fn touch(&mut self, id: u32, access: u32) {
        if let Some(e) = self.store.slab.get_mut(id) {
            e.key.set_access(access);
        }
    }

    /// Slot ids in slot order from `cursor`, visiting up to `max_slots` slots. Returns
    /// the next cursor, 0 when the scan is complete.
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        max_slots: usize,
        mut visit: impl FnMut(u32, EntryRef<'a>),
    ) -> u64 {
        let store = &self.store;
        store
            .slab
            .scan(cursor, ScanBudget::Slots(max_slots), |id, s| {
                visit(id, store.view(id, s))
            })
    }

    /// Every entry, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, EntryRef<'_>)> {
        let store = &self.store;
        store
            .slab
            .iter()
            .map(move |(id, s)| (id, store.view(id, s)))
    }

    /// A uniformly drawn slot id of a present key, using `draw(n)` -> [0, n).
    pub fn random_id(&self, draw: impl FnMut(u64) -> u64) -> Option<u32> {
        self.store.slab.random_id(RANDOM_TRIES, draw)
    }

    /// Slot ids of the keys with a TTL.
    pub fn volatile_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.store.ttls.ids()
    }

    /// The next key with a TTL in active expiry's walk, which visits them in turn as
    /// Redis's cycle walks its `expires` table from `expires_cursor`: a cycle that
    /// looks at as many keys as there are sees each one (random draws, with
    /// replacement, could miss a key cycle after cycle). After removing the key it
    /// returned, call `expire_walk_removed`: the last key took its place.
    pub fn expire_walk_next(&mut self) -> Option<u32> {
        if self.store.ttls.is_empty() {
            return None;
        }
        let pos = self.expire_cursor % self.store.ttls.len();
        self.expire_cursor = pos + 1;
        self.store.ttls.id_at(pos)
    }

    /// The key `expire_walk_next` returned was removed: its place holds another key
    /// now, which the walk visits next.
    pub fn expire_walk_removed(&mut self) {
        self.expire_cursor = self.expire_cursor.saturating_sub(1);
    }

    /// A random key with a TTL.
    pub fn random_volatile(&self, mut draw: impl FnMut(u64) -> u64) -> Option<u32> {
        if self.store.ttls.is_empty() {
            return None;
        }
        let pos = draw(self.store.ttls.len() as u64) as usize;
        self.store.ttls.id_at(pos)
    }

    /// Replaces the contents with `other`'s (a replica's full sync): the old ones go
    /// as a flush sends them (to a walking snapshot, or the garbage returned).
    pub fn replace_with(&mut self, other: Db) -> Garbage {
        let garbage = self.clear();
        let scale = self.store.ttls.scale();
        self.store = other.store;
        self.set_index_scale(scale);
        garbage
    }

    pub fn index_scale(&self) -> IndexScale {
        self.store.ttls.scale()
    }

    /// How many times a TTL index chunk turned dense, and back into a map, since
    /// this database was last emptied.
    pub fn ttl_shape_changes(&self) -> (u64, u64) {
        self.store.ttls.shape_changes()
    }

    /// Key index segment splits, and returns to one table, since this database was
    /// last emptied.
    pub fn key_index_shape_changes(&self) -> (u64, u64) {
        self.store.slab.index_shape_changes()
    }

    /// Where the TTL index changes shape (`IndexScale`; the simulator's small scale
    /// reaches every edge with a few keys). Rebuilds the index when it differs,
    /// keeping the TTL list's order.
    pub fn set_index_scale(&mut self, scale: IndexScale) {
        self.store.slab.set_index_scale(
            scale.key_segment_shift,
            scale.key_collapse_shift,
            scale.key_index_planted(),
        );
        if self.store.ttls.scale() == scale {
            return;
        }
        let old = std::mem::replace(&mut self.store.ttls, Ttls::new(scale));
        for id in old.ids() {
            if let Some(at_ms) = old.get(id) {
                self.store.ttls.set(id, at_ms);
            }
        }
    }

    /// Empties the database; returns the old storage for the caller to free (a big
    /// database is freed off the event loop). Storage is never shrunk otherwise: a
    /// scan may be running across it.
    pub fn clear(&mut self) -> Garbage {
        self.mutations = self.mutations.wrapping_add(1);
        // Keys made ready before the flush are gone with it.
        self.ready_keys = Vec::new();
        let scale = self.store.ttls.scale();
        let keys = Storage {
            slab: self.store.slab.take(),
            ttls: std::mem::replace(&mut self.store.ttls, Ttls::new(scale)),
        };
        if let Some(track) = self.snap.as_deref_mut() {
            if track.frozen.is_none() {
                // A snapshot still has to walk the old storage: it keeps it (no copy)
                // and frees it when done with this database.
                track.frozen = Some(keys);
                return Garbage::default();
            }
        }
        let objects = keys.len();
        Garbage {
            values: Vec::new(),
            dbs: vec![keys],
            objects,
        }
    }
}

/// Memory to free off the event loop (Redis's lazyfree): values too big to drop
/// without stalling, or a whole flushed database. Opaque to drivers, which only drop
/// it (on another thread, in production); the simulator drops it in place.
#[derive(Default)]
pub struct Garbage {
    values: Vec<Value>,
    dbs: Vec<Storage>,
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
        self.dbs.extend(other.dbs);
        self.objects += other.objects;
    }

    pub fn objects(&self) -> usize {
        self.objects
    }

    /// A whole database's storage (one a snapshot kept after a flush).
    pub fn push_db(&mut self, keys: Storage) {
        self.objects += keys.len();
        self.dbs.push(keys);
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty() && self.dbs.is_empty()
    }
}

impl std::fmt::Debug for Garbage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Garbage")
            .field("values", &self.values.len())
            .field("dbs", &self.dbs.len())
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
        assert_eq!(Slab::<Stored>::slot_bytes(), 48);
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
    fn the_ttl_list_gives_its_room_back() {
        let mut db = Db::new(HashSeeds([2; 4]));
        for i in 0..100_000u64 {
            let id = db.insert(format!("k{i}").as_bytes(), v("x"));
            db.set_expire(id, 1_000 + i);
        }
        let full = db.volatile_overhead_bytes();
        for i in 0..99_000u64 {
            let id = db.find(format!("k{i}").as_bytes()).unwrap();
            db.remove(id).unwrap();
        }
        assert_eq!(db.volatile_len(), 1_000);
        assert!(
            db.volatile_overhead_bytes() * 10 < full,
            "{full} -> {}",
            db.volatile_overhead_bytes()
        );
        // Positions stay right after the shrinks.
        for i in 99_000..100_000u64 {
            let id = db.find(format!("k{i}").as_bytes()).unwrap();
            assert!(db.clear_expire(id));
        }
        assert_eq!(db.volatile_len(), 0);
    }

    /// The TTL table, the TTL list and the slots' TTL bits agree: every listed id has
    /// its bit and a table entry pointing back at its position, and nothing else does.
    fn assert_ttls_consistent(db: &Db) {
        db.store.ttls.assert_consistent();
        for id in db.store.ttls.ids() {
            assert!(db.store.slab.get(id).unwrap().key.has_ttl());
        }
        let with_bit = db.iter().filter(|(_, e)| e.key.has_ttl()).count();
        assert_eq!(with_bit, db.store.ttls.len());
    }

    /// Random inserts, removals, TTL sets and clears against a model: every key's TTL
    /// and access field read back as set, and the side table stays consistent.
    #[test]
    fn ttls_out_of_the_slot_follow_a_model() {
        ttls_follow_a_model(IndexScale::PRODUCTION);
    }

    #[test]
    fn ttls_at_the_simulators_small_scale_follow_a_model() {
        ttls_follow_a_model(IndexScale::SMALL);
    }

    /// A database at the small scale keeps it through a flush and a full sync's
    /// replacement (whose database came at the production scale), and changing the
    /// scale keeps every TTL and the list's order.
    #[test]
    fn the_index_scale_survives_a_flush_and_a_replacement() {
        let mut db = Db::new(HashSeeds([3; 4]));
        for i in 0..20u64 {
            let id = db.insert(format!("k{i}").as_bytes(), v("x"));
            db.set_expire(id, 100 + i);
        }
        let order: Vec<u32> = db.volatile_ids().collect();
        db.set_index_scale(IndexScale::SMALL);
        assert_ttls_consistent(&db);
        assert_eq!(db.volatile_ids().collect::<Vec<_>>(), order);
        for i in 0..20u64 {
            let id = db.find(format!("k{i}").as_bytes()).unwrap();
            assert_eq!(db.get(id).unwrap().expire_at_ms, 100 + i);
        }
        let _ = db.clear();
        assert_eq!(db.store.ttls.scale(), IndexScale::SMALL);
        let mut other = Db::new(HashSeeds([4; 4]));
        for i in 0..10u64 {
            let id = other.insert(format!("o{i}").as_bytes(), v("y"));
            other.set_expire(id, 500 + i);
        }
        let _ = db.replace_with(other);
        assert_eq!(db.store.ttls.scale(), IndexScale::SMALL);
        assert_ttls_consistent(&db);
        let id = db.find(b"o7").unwrap();
        assert_eq!(db.get(id).unwrap().expire_at_ms, 507);
    }

    fn ttls_follow_a_model(scale: IndexScale) {
        use std::collections::BTreeMap;
        let mut db = Db::new(HashSeeds([5; 4]));
        db.set_index_scale(scale);
        let mut model: BTreeMap<u32, (u64, u32)> = BTreeMap::new();
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for step in 0..20_000u64 {
            let k = next() % 500;
            let key = format!("key-{k}-{}", "x".repeat((k % 30) as usize));
            let id = db.find(key.as_bytes());
            match (next() % 5, id) {
                (0, None) | (1, None) => {
                    let id = db.insert(key.as_bytes(), v("v"));
                    model.insert(id, (0, 0));
                }
                (0, Some(id)) => {
                    let e = db.remove(id).unwrap();
                    let (at, access) = model.remove(&id).unwrap();
                    assert_eq!((e.expire_at_ms, e.access), (at, access));
                    assert_eq!(e.key.as_bytes(), key.as_bytes());
                }
                (1, Some(id)) | (2, Some(id)) => {
                    let at = 1 + next() % (1 << 40);
                    db.set_expire(id, at);
                    model.get_mut(&id).unwrap().0 = at;
                }
                (3, Some(id)) => {
                    let had = model.get(&id).unwrap().0 != 0;
                    assert_eq!(db.clear_expire(id), had);
                    model.get_mut(&id).unwrap().0 = 0;
                }
                (4, Some(id)) => {
                    let access = (next() as u32) & 0xff_ffff;
                    db.touch(id, access);
                    model.get_mut(&id).unwrap().1 = access;
                }
                _ => {}
            }
            if step % 1000 == 0 {
                assert_ttls_consistent(&db);
            }
        }
        assert_ttls_consistent(&db);
        assert_eq!(db.len(), model.len());
        for (&id, &(at, access)) in &model {
            let e = db.get(id).unwrap();
            assert_eq!((e.expire_at_ms, e.access), (at, access), "slot {id}");
        }
        let volatile = model.values().filter(|(at, _)| *at != 0).count();
        assert!(
            volatile > 50 && volatile < model.len(),
            "{volatile} of {}",
            model.len()
        );
    }

    #[test]
    fn a_slot_is_48_bytes_and_a_ttl_costs_only_its_key() {
        assert_eq!(Slab::<Stored>::slot_bytes(), 48);
        let mut db = Db::new(HashSeeds([6; 4]));
        for i in 0..10_000u64 {
            db.insert(format!("key:{i}").as_bytes(), v("x"));
        }
        assert_eq!(db.volatile_overhead_bytes(), 0, "no TTL, no side table");
        let plain = db.used_bytes();
        for i in 0..1_000u64 {
            let id = db.find(format!("key:{i}").as_bytes()).unwrap();
            db.set_expire(id, 1_000 + i);
        }
        let per_ttl = (db.used_bytes() - plain) / 1_000;
        assert!((16..=48).contains(&per_ttl), "{per_ttl} bytes a TTL");
        let id = db.find(b"key:1").unwrap();
        let other = db.find(b"key:5000").unwrap();
        assert_eq!(db.entry_bytes(id), db.entry_bytes(other) + TTL_ENTRY_BYTES);
    }

    /// Stall timing, not a check: the slowest single inserts (with a TTL when
    /// `KEEL_TIMING_TTL=1`) while a database grows to `KEEL_TIMING_KEYS` (default 10M)
    /// keys. `KEEL_TIMING_TTL=1 cargo test --release -p keel-core --lib
    /// keyspace::db::tests::timing_growth -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing only; run in release with --ignored --nocapture"]
    fn timing_growth_worst_inserts() {
        let n: u64 = std::env::var("KEEL_TIMING_KEYS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10_000_000);
        let ttl = std::env::var("KEEL_TIMING_TTL").is_ok_and(|v| v == "1");
        let mut db = Db::new(HashSeeds([7; 4]));
        let mut worst: Vec<(u128, u64)> = Vec::new();
        let mut key = Vec::with_capacity(32);
        let started = std::time::Instant::now();
        for i in 0..n {
            key.clear();
            key.extend_from_slice(
                format!("key:{:012}", i.wrapping_mul(0x9e37_79b9) % 100_000_000_000).as_bytes(),
            );
            let t = std::time::Instant::now();
            let id = db.insert(&key, v("xxx"));
            if ttl {
                db.set_expire(id, 1_000_000 + i);
            }
            let us = t.elapsed().as_micros();
            if worst.len() < 8 || us > worst[worst.len() - 1].0 {
                worst.push((us, i));
                worst.sort_by_key(|w| std::cmp::Reverse(w.0));
                worst.truncate(8);
            }
        }
        eprintln!(
            "{n} inserts (ttl={ttl}) in {:.2} s; worst (us, at key #): {worst:?}",
            started.elapsed().as_secs_f64()
        );
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

    /// 1M keys, 99% deleted in a scattered order while a SCAN runs: the index
    /// shrinks (a segment at a time, while the scan is under way), `used_bytes` drops
    /// with it, and the scan returns every key present throughout.
    #[test]
    fn index_shrinks_after_mass_deletes_and_scan_keeps_its_guarantee() {
        const KEYS: u64 = 1_000_000;
        let mut db = Db::new(HashSeeds([4; 4]));
        for i in 0..KEYS {
            db.insert(format!("key:{i}").as_bytes(), v("x"));
        }
        let full_capacity = db.index_capacity();
        let full_bytes = db.used_bytes();
        assert!(full_capacity >= KEYS as usize);
        // Deletes in a scattered order (a multiplicative permutation), keeping 1%.
        let doomed: Vec<u64> = (0..KEYS)
            .map(|i| i.wrapping_mul(7_919) % KEYS)
            .filter(|i| i % 100 != 0)
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        let (mut cursor, mut next) = (0u64, 0usize);
        let (mut scan_steps, mut steps_while_shrinking) = (0u32, 0u32);
        loop {
            cursor = db.scan(cursor, 400, |_, e| {
                seen.insert(e.key.as_bytes().to_vec());
            });
            scan_steps += 1;
            let capacity = db.index_capacity();
            for i in doomed.iter().skip(next).take(400) {
                let id = db.find(format!("key:{i}").as_bytes()).unwrap();
                db.remove(id).unwrap();
            }
            next += 400;
            if db.index_capacity() < capacity {
                steps_while_shrinking += 1;
            }
            if cursor == 0 {
                break;
            }
        }
        assert!(
            next >= doomed.len(),
            "the deletes ran across the whole scan"
        );
        assert!(
            steps_while_shrinking > 1 && steps_while_shrinking < scan_steps,
            "the scan ran across the shrinks ({steps_while_shrinking} of {scan_steps} steps)"
        );
        for i in (0..KEYS).step_by(100) {
            assert!(
                seen.contains(format!("key:{i}").as_bytes()),
                "key:{i} missed"
            );
        }
        assert_eq!(db.len(), 10_000);
        let small_capacity = db.index_capacity();
        assert!(
            small_capacity * 16 <= full_capacity,
            "index capacity {full_capacity} -> {small_capacity}"
        );
        // The index was ~5 bytes a bucket of ~1.1M buckets; 10k keys' slots are 640 kB.
        let small_bytes = db.used_bytes();
        assert!(
            small_bytes * 20 < full_bytes && small_bytes < 1_000_000,
            "used bytes {full_bytes} -> {small_bytes}"
        );
        for i in (0..KEYS).step_by(100) {
            assert!(db.find(format!("key:{i}").as_bytes()).is_some());
        }
        // Growing again works from the small table.
        for i in 0..20_000u64 {
            db.insert(format!("again:{i}").as_bytes(), v("y"));
        }
        assert_eq!(db.len(), 30_000);
        assert!(db.find(b"again:19999").is_some() && db.find(b"key:500").is_some());
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
