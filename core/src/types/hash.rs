//! The hash type with Redis's two encodings as `OBJECT ENCODING` reports them:
//! `listpack` (one contiguous buffer of length-prefixed field/value pairs, insertion
//! order) while small, and `hashtable` once a threshold is crossed, one way, as Redis.
//! Storage is keel's own; nothing here knows about clients, config or the keyspace.

use hashbrown::HashTable;

/// Redis's thresholds (`hash-max-listpack-entries`, `hash-max-listpack-value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashLimits {
    pub max_listpack_entries: usize,
    pub max_listpack_value_bytes: usize,
}

impl Default for HashLimits {
    /// Redis 7.0's compiled-in defaults.
    fn default() -> Self {
        HashLimits {
            max_listpack_entries: 512,
            max_listpack_value_bytes: 64,
        }
    }
}

#[derive(Clone)]
pub enum Hash {
    Packed(Packed),
    /// Boxed so a hash stays 16 bytes, inline in `Value`.
    Table(Box<Table>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Packed(Packed::default())
    }
}

/// What a `set` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOutcome {
    Created,
    Updated,
}

impl Hash {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            Hash::Packed(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Hash::Packed(p) => p.len(),
            Hash::Table(t) => t.len as usize,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Packed(p) => p.get(field),
            Hash::Table(t) => t.get(field),
        }
    }

    /// Sets `field` to `value`, converting to a table first when either is too long for
    /// the compact encoding, and after when the entry count crosses the limit (as
    /// Redis's `hashTypeSet`). `seeds` keys the table if one is built.
    pub fn set(
        &mut self,
        field: &[u8],
        value: &[u8],
        limits: HashLimits,
        seeds: impl FnOnce() -> [u64; 4],
    ) -> SetOutcome {
        let mut seeds = Some(seeds);
        let mut take_seeds = || seeds.take().map_or([0; 4], |f| f());
        if matches!(self, Hash::Packed(_))
            && (field.len() > limits.max_listpack_value_bytes
                || value.len() > limits.max_listpack_value_bytes)
        {
            self.convert(take_seeds());
        }
        let outcome = match self {
            Hash::Packed(p) => p.set(field, value),
            Hash::Table(t) => t.set(field, value),
        };
        if matches!(self, Hash::Packed(_)) && self.len() > limits.max_listpack_entries {
            self.convert(take_seeds());
        }
        outcome
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Packed(p) => p.remove(field),
            Hash::Table(t) => t.remove(field),
        }
    }

    /// Every pair: insertion order for `listpack`, slot order for `hashtable`.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Packed(p) => Box::new(p.iter()),
            Hash::Table(t) => Box::new(t.slots.iter().filter_map(Slot::pair)),
        }
    }

    /// Heap bytes owned, O(1) (the keyspace asks before and after every change).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Hash::Packed(p) => p.buf.len(),
            Hash::Table(t) => t.heap_bytes(),
        }
    }

    /// The one-way conversion to the table encoding.
    fn convert(&mut self, seeds: [u64; 4]) {
        if let Hash::Packed(p) = self {
            let mut t = Table::new(seeds, p.len());
            for (f, v) in p.iter() {
                t.set(f, v);
            }
            *self = Hash::Table(Box::new(t));
        }
    }

    /// For HSCAN: pairs from `cursor` on, visiting up to `max_entries` live entries of a
    /// table (a listpack answers everything at once). Returns the next cursor, 0 at the end.
    pub fn scan<'a>(
        &'a self,
        cursor: u64,
        max_entries: usize,
        mut visit: impl FnMut(&'a [u8], &'a [u8]),
    ) -> u64 {
        match self {
            Hash::Packed(p) => {
                for (f, v) in p.iter() {
                    visit(f, v);
                }
                0
            }
            Hash::Table(t) => {
                let mut seen = 0usize;
                let mut i = usize::try_from(cursor).unwrap_or(usize::MAX);
                while i < t.slots.len() && seen < max_entries.max(1) {
                    if let Some((f, v)) = t.slots.get(i).and_then(Slot::pair) {
                        visit(f, v);
                        seen += 1;
                    }
                    i += 1;
                }
                if i >= t.slots.len() {
                    0
                } else {
                    i as u64
                }
            }
        }
    }

    /// A uniformly drawn pair, using `draw(n)` -> [0, n).
    pub fn random_pair(&self, mut draw: impl FnMut(u64) -> u64) -> Option<(&[u8], &[u8])> {
        if self.is_empty() {
            return None;
        }
        match self {
            Hash::Packed(p) => p.iter().nth(draw(p.len() as u64) as usize),
            Hash::Table(t) => {
                let total = t.slots.len() as u64;
                // Dense tables hit quickly; a sparse one falls back to a walk.
                for _ in 0..64 {
                    if let Some(pair) = t.slots.get(draw(total) as usize).and_then(Slot::pair) {
                        return Some(pair);
                    }
                }
                let start = draw(total);
                (0..total)
                    .map(|i| ((start + i) % total) as usize)
                    .find_map(|i| t.slots.get(i).and_then(Slot::pair))
            }
        }
    }
}

impl PartialEq for Hash {
    /// Same pairs, whatever the encoding or order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in self.iter() {
            m.entry(&String::from_utf8_lossy(k), &String::from_utf8_lossy(v));
        }
        m.finish()
    }
}

// ---------------------------------------------------------------------------------
// listpack: varint(len) field varint(len) value, repeated, in insertion order.
// ---------------------------------------------------------------------------------

/// One exactly sized allocation, no spare capacity, so a small hash's buffer is its
/// memory: a 4-byte little-endian pair count, then the pairs. Empty when no pairs.
#[derive(Clone, Default)]
pub struct Packed {
    buf: Box<[u8]>,
}

/// Bytes of the pair count at the start of a non-empty `Packed` buffer.
const PACKED_HEADER_BYTES: usize = 4;

fn put_varint(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn varint_len(mut n: usize) -> usize {
    let mut bytes = 1;
    while n >= 0x80 {
        n >>= 7;
        bytes += 1;
    }
    bytes
}

/// Reads a varint at `pos`: (value, bytes used). None on a malformed buffer.
fn get_varint(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    let mut n = 0usize;
    for i in 0..10 {
        let b = *buf.get(pos + i)?;
        n |= ((b & 0x7f) as usize).checked_shl(7 * i as u32)?;
        if b & 0x80 == 0 {
            return Some((n, i + 1));
        }
    }
    None
}

/// One pair's place in the buffer.
struct PackedEntry {
    start: usize,
    value_start: usize,
    end: usize,
}

impl Packed {
    pub fn len(&self) -> usize {
        match self.buf.get(..PACKED_HEADER_BYTES) {
            Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]) as usize,
            _ => 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn write_len(buf: &mut [u8], len: usize) {
        // Conversion to a table happens long before 4 billion pairs.
        let len = u32::try_from(len).unwrap_or(u32::MAX);
        if let Some(h) = buf.get_mut(..PACKED_HEADER_BYTES) {
            h.copy_from_slice(&len.to_le_bytes());
        }
    }

    fn entries(&self) -> impl Iterator<Item = PackedEntry> + '_ {
        let buf = &self.buf;
        let mut pos = PACKED_HEADER_BYTES;
        std::iter::from_fn(move || {
            if pos >= buf.len() {
                return None;
            }
            let start = pos;
            let (flen, a) = get_varint(buf, pos)?;
            let value_start = pos + a + flen;
            let (vlen, b) = get_varint(buf, value_start)?;
            let end = value_start + b + vlen;
            debug_assert!(end <= buf.len());
            pos = end;
            Some(PackedEntry {
                start,
                value_start,
                end,
            })
        })
    }

    /// The bytes of the length-prefixed string at `pos`.
    fn str_at(&self, pos: usize) -> &[u8] {
        match get_varint(&self.buf, pos) {
            Some((len, used)) => self.buf.get(pos + used..pos + used + len).unwrap_or(b""),
            None => b"",
        }
    }

    fn find(&self, field: &[u8]) -> Option<PackedEntry> {
        self.entries().find(|e| self.str_at(e.start) == field)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.entries()
            .map(|e| (self.str_at(e.start), self.str_at(e.value_start)))
    }

    fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.find(field).map(|e| self.str_at(e.value_start))
    }

    fn set(&mut self, field: &[u8], value: &[u8]) -> SetOutcome {
        let mut encoded = Vec::with_capacity(varint_len(value.len()) + value.len());
        put_varint(&mut encoded, value.len());
        encoded.extend_from_slice(value);
        let found = self.find(field);
        let len = self.len();
        let mut buf = std::mem::take(&mut self.buf).into_vec();
        if buf.is_empty() {
            buf.extend_from_slice(&[0; PACKED_HEADER_BYTES]);
        }
        let outcome = match found {
            Some(e) => {
                let old = e.end - e.value_start;
                if encoded.len() > old {
                    buf.reserve_exact(encoded.len() - old);
                }
                buf.splice(e.value_start..e.end, encoded);
                SetOutcome::Updated
            }
            None => {
                let extra = varint_len(field.len()) + field.len() + encoded.len();
                buf.reserve_exact(extra);
                put_varint(&mut buf, field.len());
                buf.extend_from_slice(field);
                buf.extend_from_slice(&encoded);
                Self::write_len(&mut buf, len + 1);
                SetOutcome::Created
            }
        };
        self.buf = buf.into_boxed_slice();
        outcome
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        match self.find(field) {
            Some(e) => {
                let len = self.len();
                let mut buf = std::mem::take(&mut self.buf).into_vec();
                buf.drain(e.start..e.end);
                if len <= 1 {
                    buf = Vec::new();
                } else {
                    Self::write_len(&mut buf, len - 1);
                }
                self.buf = buf.into_boxed_slice();
                true
            }
            None => false,
        }
    }
}

// ---------------------------------------------------------------------------------
// hashtable: 32-byte slots (pairs up to 29 bytes inline) with stable indices and a
// free list, found through a keyed index of 4-byte slot ids.
// ---------------------------------------------------------------------------------

/// Field plus value bytes kept inside a slot without a heap allocation.
const SLOT_INLINE_CAP: usize = 29;
const NO_SLOT: u32 = u32::MAX;
/// Index bytes per bucket in hashbrown: a 4-byte slot id plus one control byte.
const INDEX_BYTES_PER_BUCKET: usize = 5;

#[derive(Clone)]
enum Slot {
    Inline {
        field_len: u8,
        value_len: u8,
        buf: [u8; SLOT_INLINE_CAP],
    },
    /// Field then value in one allocation.
    Heap {
        field_len: u32,
        data: Box<[u8]>,
    },
    Free {
        next_free: u32,
    },
}

impl Slot {
    fn new(field: &[u8], value: &[u8]) -> Slot {
        let total = field.len() + value.len();
        if total <= SLOT_INLINE_CAP {
            let mut buf = [0u8; SLOT_INLINE_CAP];
            buf[..field.len()].copy_from_slice(field);
            buf[field.len()..total].copy_from_slice(value);
            Slot::Inline {
                field_len: field.len() as u8,
                value_len: value.len() as u8,
                buf,
            }
        } else {
            let mut data = Vec::with_capacity(total);
            data.extend_from_slice(field);
            data.extend_from_slice(value);
            Slot::Heap {
                // Fields are bounded by proto-max-bulk-len (512 MB) on the way in.
                field_len: u32::try_from(field.len()).unwrap_or(u32::MAX),
                data: data.into_boxed_slice(),
            }
        }
    }

    fn pair(&self) -> Option<(&[u8], &[u8])> {
        match self {
            Slot::Inline {
                field_len,
                value_len,
                buf,
            } => {
                let f = *field_len as usize;
                let v = *value_len as usize;
                Some((buf.get(..f)?, buf.get(f..f + v)?))
            }
            Slot::Heap { field_len, data } => {
                let split = (*field_len as usize).min(data.len());
                Some(data.split_at(split))
            }
            Slot::Free { .. } => None,
        }
    }

    fn field(&self) -> &[u8] {
        self.pair().map_or(b"", |(f, _)| f)
    }

    fn heap_bytes(&self) -> usize {
        match self {
            Slot::Heap { data, .. } => data.len(),
            _ => 0,
        }
    }
}

#[derive(Clone)]
pub struct Table {
    slots: Vec<Slot>,
    free_head: u32,
    index: HashTable<u32>,
    hasher: ahash::RandomState,
    len: u32,
    /// Sum of the slots' own heap allocations.
    payload_bytes: usize,
}

impl Table {
    fn new(seeds: [u64; 4], capacity: usize) -> Table {
        let [a, b, c, d] = seeds;
        Table {
            slots: Vec::with_capacity(capacity),
            free_head: NO_SLOT,
            index: HashTable::with_capacity(capacity),
            hasher: ahash::RandomState::with_seeds(a, b, c, d),
            len: 0,
            payload_bytes: 0,
        }
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Table>()
            + self.slots.capacity() * std::mem::size_of::<Slot>()
            + self.index.capacity() * INDEX_BYTES_PER_BUCKET
            + self.payload_bytes
    }

    fn find(&self, field: &[u8]) -> Option<u32> {
        let hash = self.hasher.hash_one(field);
        self.index
            .find(hash, |&id| {
                self.slots.get(id as usize).map(Slot::field) == Some(field)
            })
            .copied()
    }

    fn get(&self, field: &[u8]) -> Option<&[u8]> {
        let id = self.find(field)?;
        self.slots.get(id as usize)?.pair().map(|(_, v)| v)
    }

    fn set(&mut self, field: &[u8], value: &[u8]) -> SetOutcome {
        let slot = Slot::new(field, value);
        self.payload_bytes += slot.heap_bytes();
        if let Some(id) = self.find(field) {
            if let Some(old) = self.slots.get_mut(id as usize) {
                self.payload_bytes -= old.heap_bytes();
                *old = slot;
            }
            return SetOutcome::Updated;
        }
        let id = if self.free_head != NO_SLOT {
            let id = self.free_head;
            match self.slots.get_mut(id as usize) {
                Some(s @ Slot::Free { .. }) => {
                    if let Slot::Free { next_free } = *s {
                        self.free_head = next_free;
                    }
                    *s = slot;
                }
                // A broken free list would corrupt data: stop here rather than go on.
                _ => panic!("hash free list points at a used slot {id}"),
            }
            id
        } else {
            let id = self.slots.len();
            assert!(id < NO_SLOT as usize, "hash over 4 billion fields");
            self.slots.push(slot);
            id as u32
        };
        let hash = self.hasher.hash_one(field);
        let (slots, hasher) = (&self.slots, &self.hasher);
        self.index.insert_unique(hash, id, |&other| {
            hasher.hash_one(slots.get(other as usize).map_or(&b""[..], Slot::field))
        });
        self.len += 1;
        SetOutcome::Created
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let hash = self.hasher.hash_one(field);
        let slots = &self.slots;
        let Ok(found) = self.index.find_entry(hash, |&id| {
            slots.get(id as usize).map(Slot::field) == Some(field)
        }) else {
            return false;
        };
        let (id, _) = found.remove();
        let free_head = self.free_head;
        if let Some(s) = self.slots.get_mut(id as usize) {
            self.payload_bytes -= s.heap_bytes();
            *s = Slot::Free {
                next_free: free_head,
            };
            self.free_head = id;
        }
        self.len -= 1;
        if self.len == 0 {
            // Nothing to keep stable for a scan of an empty table: give memory back.
            self.slots = Vec::new();
            self.free_head = NO_SLOT;
            self.index = HashTable::new();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(entries: usize, value: usize) -> HashLimits {
        HashLimits {
            max_listpack_entries: entries,
            max_listpack_value_bytes: value,
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(std::mem::size_of::<Slot>(), 32);
        assert_eq!(std::mem::size_of::<Hash>(), 16);
    }

    #[test]
    fn packed_keeps_insertion_order_and_converts_on_count() {
        let mut h = Hash::new();
        let l = limits(4, 64);
        for i in 0..4 {
            assert_eq!(
                h.set(format!("f{i}").as_bytes(), b"v", l, || [1; 4]),
                SetOutcome::Created
            );
        }
        assert_eq!(
            h.set(b"f1", b"longer value", l, || [1; 4]),
            SetOutcome::Updated
        );
        assert_eq!(h.encoding_name(), "listpack");
        let keys: Vec<&[u8]> = h.iter().map(|(f, _)| f).collect();
        assert_eq!(keys, vec![&b"f0"[..], b"f1", b"f2", b"f3"]);
        assert_eq!(h.get(b"f1"), Some(&b"longer value"[..]));
        assert!(h.remove(b"f0"));
        assert!(!h.remove(b"f0"));
        h.set(b"f4", b"v", l, || [1; 4]);
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"f5", b"v", l, || [1; 4]);
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.len(), 5);
        assert_eq!(h.get(b"f1"), Some(&b"longer value"[..]));
        assert_eq!(h.get(b"f0"), None);
    }

    #[test]
    fn converts_on_long_field_or_value() {
        let l = limits(128, 8);
        let mut h = Hash::new();
        h.set(b"12345678", b"12345678", l, || [0; 4]);
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"a", b"123456789", l, || [0; 4]);
        assert_eq!(h.encoding_name(), "hashtable");
        let mut h = Hash::new();
        h.set(b"123456789", b"", l, || [0; 4]);
        assert_eq!(h.encoding_name(), "hashtable");
    }

    #[test]
    fn table_set_get_remove_and_memory_returns() {
        let l = limits(0, 64);
        let mut h = Hash::new();
        let mut model = std::collections::BTreeMap::new();
        for round in 0..3 {
            for i in 0..2000 {
                let f = format!("field:{i}");
                let v = if i % 3 == 0 {
                    vec![b'x'; 40 + round]
                } else {
                    format!("{i}").into_bytes()
                };
                h.set(f.as_bytes(), &v, l, || [7; 4]);
                model.insert(f.into_bytes(), v);
            }
            for i in (0..2000).step_by(2) {
                let f = format!("field:{i}");
                assert!(h.remove(f.as_bytes()));
                model.remove(f.as_bytes());
            }
            assert_eq!(h.len(), model.len());
            for (f, v) in &model {
                assert_eq!(h.get(f), Some(&v[..]));
            }
        }
        let mut cursor = 0;
        let mut seen = std::collections::BTreeSet::new();
        loop {
            cursor = h.scan(cursor, 10, |f, _| {
                seen.insert(f.to_vec());
            });
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), model.len());
        let fields: Vec<Vec<u8>> = model.keys().cloned().collect();
        for f in fields {
            assert!(h.remove(&f));
        }
        assert!(h.is_empty());
        if let Hash::Table(t) = &h {
            assert_eq!(t.payload_bytes, 0);
        }
    }

    #[test]
    fn random_pair_is_present() {
        let mut h = Hash::new();
        let l = limits(2, 64);
        for i in 0..10 {
            h.set(format!("f{i}").as_bytes(), b"v", l, || [3; 4]);
        }
        for i in 0..9 {
            h.remove(format!("f{i}").as_bytes());
        }
        let mut x = 1u64;
        let pair = h.random_pair(|n| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
            (x >> 33) % n
        });
        assert_eq!(pair, Some((&b"f9"[..], &b"v"[..])));
    }

    #[test]
    fn db_memory_returns_to_start_after_deletes() {
        use crate::keyspace::{Db, HashSeeds};
        use crate::types::Value;
        let mut db = Db::new(HashSeeds([5; 4]));
        let anchor = db.insert(b"anchor", Value::Hash(Hash::new()));
        let start = db.used_bytes();
        let id = db.insert(b"h", Value::Hash(Hash::new()));
        let l = limits(16, 64);
        let mut grown = 0;
        for i in 0..100 {
            let v = vec![b'v'; i % 80];
            db.update_value(id, |v_| match v_ {
                Value::Hash(h) => {
                    h.set(format!("f{i}").as_bytes(), &v, l, || [1; 4]);
                }
                _ => unreachable!(),
            });
            grown = grown.max(db.used_bytes());
            // What the Db accounts is what the value reports.
            let value_bytes = db.get(id).map_or(0, |e| e.value.heap_bytes());
            assert_eq!(db.entry_bytes(id) - db.entry_bytes(anchor), value_bytes);
        }
        assert!(grown > start);
        for i in 0..100 {
            db.update_value(id, |v_| match v_ {
                Value::Hash(h) => assert!(h.remove(format!("f{i}").as_bytes())),
                _ => unreachable!(),
            });
        }
        db.remove(id);
        assert_eq!(db.used_bytes(), start);
    }
}
