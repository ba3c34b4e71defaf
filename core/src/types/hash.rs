//! The hash type with Redis's two encodings as `OBJECT ENCODING` reports them:
//! `listpack` (one contiguous buffer of field/value pairs in insertion order, each
//! field front-coded against the one before it) while small, and `hashtable` once a
//! threshold is crossed, one way, as Redis. Thresholds count uncompressed lengths.
//! Storage is keel's own; nothing here knows about clients, config or the keyspace.

use std::borrow::Cow;

use crate::slab::{ScanBudget, Slab, SlabEntry};

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

/// A field and its value as the hash hands them out: the field is rebuilt when the
/// listpack front-coded it, borrowed otherwise.
pub type Pair<'a> = (Cow<'a, [u8]>, &'a [u8]);

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
            Hash::Table(t) => t.len(),
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

    /// Every pair: insertion order for `listpack`, slot order for `hashtable`. A field
    /// is borrowed unless the listpack front-coded it, then it is rebuilt.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Pair<'_>> + '_> {
        match self {
            Hash::Packed(p) => Box::new(p.iter()),
            Hash::Table(t) => Box::new(t.pairs.iter().map(|(_, p)| p.borrowed())),
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
                t.set(&f, v);
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
        mut visit: impl FnMut(Cow<'a, [u8]>, &'a [u8]),
    ) -> u64 {
        match self {
            Hash::Packed(p) => {
                for (f, v) in p.iter() {
                    visit(f, v);
                }
                0
            }
            Hash::Table(t) => t
                .pairs
                .scan(cursor, ScanBudget::Entries(max_entries), |_, p| {
                    let (f, v) = p.pair();
                    visit(Cow::Borrowed(f), v)
                }),
        }
    }

    /// A uniformly drawn pair, using `draw(n)` -> [0, n).
    pub fn random_pair(&self, mut draw: impl FnMut(u64) -> u64) -> Option<(Cow<'_, [u8]>, &[u8])> {
        if self.is_empty() {
            return None;
        }
        match self {
            Hash::Packed(p) => p.iter().nth(draw(p.len() as u64) as usize),
            Hash::Table(t) => t
                .pairs
                .random_id(RANDOM_TRIES, draw)
                .and_then(|id| t.pairs.get(id))
                .map(TablePair::borrowed),
        }
    }
}

impl PartialEq for Hash {
    /// Same pairs, whatever the encoding or order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(&f) == Some(v))
    }
}

impl std::fmt::Debug for Hash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (k, v) in self.iter() {
            m.entry(&String::from_utf8_lossy(&k), &String::from_utf8_lossy(v));
        }
        m.finish()
    }
}

// ---------------------------------------------------------------------------------
// listpack: the pairs in insertion order, each field front-coded against the field
// before it, each value stored whole (so HGET, HMGET and friends read it in place):
//   varint(suffix_len << 1)                  suffix   field sharing nothing
//   varint(suffix_len << 1 | 1) varint(shared) suffix field = previous[..shared] + suffix
//   varint(value_len) value
// ---------------------------------------------------------------------------------

/// One exactly sized allocation, no spare capacity, so a small hash's buffer is its
/// memory: a 4-byte little-endian pair count, then the pairs. Empty when no pairs.
#[derive(Clone, Default)]
pub struct Packed {
    buf: Box<[u8]>,
}

/// Bytes of the pair count at the start of a non-empty `Packed` buffer.
const PACKED_HEADER_BYTES: usize = 4;
/// A shared prefix shorter than this is not worth its length byte.
const MIN_SHARED_BYTES: usize = 2;

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
#[inline(always)]
fn get_varint(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
    // Lengths under 128 (64 for a field's tagged length) are the common case.
    match buf.get(pos) {
        Some(&b) if b < 0x80 => Some((b as usize, 1)),
        Some(_) => get_long_varint(buf, pos),
        None => None,
    }
}

fn get_long_varint(buf: &[u8], pos: usize) -> Option<(usize, usize)> {
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

fn common_prefix_len(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// The prefix of `previous` a field is coded against: all it shares, or nothing.
fn shared_for(previous: &[u8], field: &[u8]) -> usize {
    worth_sharing(common_prefix_len(previous, field))
}

fn worth_sharing(common: usize) -> usize {
    if common >= MIN_SHARED_BYTES {
        common
    } else {
        0
    }
}

fn field_code_len(shared: usize, suffix_len: usize) -> usize {
    let tagged = suffix_len << 1;
    if shared == 0 {
        varint_len(tagged) + suffix_len
    } else {
        varint_len(tagged | 1) + varint_len(shared) + suffix_len
    }
}

fn put_field(out: &mut Vec<u8>, shared: usize, suffix: &[u8]) {
    let tagged = suffix.len() << 1;
    if shared == 0 {
        put_varint(out, tagged);
    } else {
        put_varint(out, tagged | 1);
        put_varint(out, shared);
    }
    out.extend_from_slice(suffix);
}

fn put_value(out: &mut Vec<u8>, value: &[u8]) {
    put_varint(out, value.len());
    out.extend_from_slice(value);
}

/// One pair's place in the buffer: the field is `shared` bytes of the previous field
/// then `buf[suffix_start..suffix_end]`; the value's code is `buf[value_code_start..end]`
/// and the value itself `buf[value_start..end]`.
#[derive(Debug, Clone, Copy)]
struct PackedEntry {
    start: usize,
    shared: usize,
    suffix_start: usize,
    suffix_end: usize,
    value_code_start: usize,
    value_start: usize,
    end: usize,
}

/// Where a field is, or, when it is absent, what an append must know.
enum Found {
    At(PackedEntry),
    Absent {
        /// Bytes the field shares with the last field (0 when there is none).
        common_with_last: usize,
    },
}

/// Decodes the entry at `pos`; None at the end or on a malformed buffer. Forced inline:
/// left out of line (release, thin LTO) it returned the entry through memory and made
/// the find walk of HSET on a 128-field listpack about twice as costly (perf).
#[inline(always)]
fn decode_entry(buf: &[u8], pos: usize) -> Option<PackedEntry> {
    let (tagged, a) = get_varint(buf, pos)?;
    let (shared, b) = if tagged & 1 == 1 {
        get_varint(buf, pos + a)?
    } else {
        (0, 0)
    };
    let suffix_start = pos + a + b;
    let suffix_end = suffix_start.checked_add(tagged >> 1)?;
    let (vlen, c) = get_varint(buf, suffix_end)?;
    let value_start = suffix_end + c;
    let end = value_start.checked_add(vlen)?;
    (end <= buf.len()).then_some(PackedEntry {
        start: pos,
        shared,
        suffix_start,
        suffix_end,
        value_code_start: suffix_end,
        value_start,
        end,
    })
}

/// Pairs in order with each field rebuilt in one reused buffer: a field that shares
/// nothing is lent from the packed buffer, one that does is copied out.
pub struct PackedIter<'a> {
    buf: &'a [u8],
    pos: usize,
    field: Vec<u8>,
}

impl<'a> PackedIter<'a> {
    /// The next entry, with `self.field` holding its whole field.
    fn advance(&mut self) -> Option<PackedEntry> {
        if self.pos >= self.buf.len() {
            return None;
        }
        let e = decode_entry(self.buf, self.pos)?;
        debug_assert!(
            e.shared <= self.field.len(),
            "shared past the previous field"
        );
        self.field.truncate(e.shared);
        self.field
            .extend_from_slice(self.buf.get(e.suffix_start..e.suffix_end)?);
        self.pos = e.end;
        Some(e)
    }
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = Pair<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let e = self.advance()?;
        let field = if e.shared == 0 {
            Cow::Borrowed(self.buf.get(e.suffix_start..e.suffix_end)?)
        } else {
            Cow::Owned(self.field.clone())
        };
        Some((field, self.buf.get(e.value_start..e.end)?))
    }
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

    pub fn iter(&self) -> PackedIter<'_> {
        PackedIter {
            buf: &self.buf,
            pos: PACKED_HEADER_BYTES,
            field: Vec::new(),
        }
    }

    /// Finds `field` without rebuilding any field: `common` is how many bytes the field
    /// being walked shares with `field`. An entry sharing more of the previous field
    /// than `common` has the previous field's mismatch too, so keeps `common`; one
    /// sharing at most `common` matches `field` that far and is compared from there.
    fn find(&self, field: &[u8]) -> Found {
        let buf = &self.buf[..];
        let mut pos = PACKED_HEADER_BYTES;
        let mut common = 0usize;
        while pos < buf.len() {
            let Some(e) = decode_entry(buf, pos) else {
                break;
            };
            if e.shared <= common {
                let suffix = buf.get(e.suffix_start..e.suffix_end).unwrap_or(b"");
                let rest = field.get(e.shared..).unwrap_or(b"");
                common = e.shared + common_prefix_len(rest, suffix);
                if common == field.len() && e.shared + suffix.len() == field.len() {
                    return Found::At(e);
                }
            }
            pos = e.end;
        }
        Found::Absent {
            common_with_last: common,
        }
    }

    fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self.find(field) {
            Found::At(entry) => self.buf.get(entry.value_start..entry.end),
            Found::Absent { .. } => None,
        }
    }

    fn set(&mut self, field: &[u8], value: &[u8]) -> SetOutcome {
        let found = self.find(field);
        let len = self.len();
        let mut buf = std::mem::take(&mut self.buf).into_vec();
        if buf.is_empty() {
            buf.extend_from_slice(&[0; PACKED_HEADER_BYTES]);
        }
        let value_code_len = varint_len(value.len()) + value.len();
        let outcome = match found {
            Found::At(entry) => {
                // Values are not front-coded: replacing one touches nothing else.
                let mut encoded = Vec::with_capacity(value_code_len);
                put_value(&mut encoded, value);
                let old = entry.end - entry.value_code_start;
                if encoded.len() > old {
                    buf.reserve_exact(encoded.len() - old);
                }
                buf.splice(entry.value_code_start..entry.end, encoded);
                SetOutcome::Updated
            }
            Found::Absent { common_with_last } => {
                let shared = worth_sharing(common_with_last);
                let suffix = field.get(shared..).unwrap_or(b"");
                buf.reserve_exact(field_code_len(shared, suffix.len()) + value_code_len);
                put_field(&mut buf, shared, suffix);
                put_value(&mut buf, value);
                Self::write_len(&mut buf, len + 1);
                SetOutcome::Created
            }
        };
        self.buf = buf.into_boxed_slice();
        outcome
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let Found::At(entry) = self.find(field) else {
            return false;
        };
        let len = self.len();
        if len <= 1 {
            self.buf = Box::default();
            return true;
        }
        // The next entry's field may take bytes from the removed one: code it against
        // the field before the removed one instead, in the same splice.
        let mut replacement = Vec::new();
        let mut replaced_end = entry.end;
        let mut walk = self.iter();
        let mut before = Vec::new();
        while let Some(e) = walk.advance() {
            if e.start == entry.start {
                if let Some(next) = walk.advance() {
                    let shared = shared_for(&before, &walk.field);
                    put_field(
                        &mut replacement,
                        shared,
                        walk.field.get(shared..).unwrap_or(b""),
                    );
                    replacement.extend_from_slice(
                        self.buf.get(next.value_code_start..next.end).unwrap_or(b""),
                    );
                    replaced_end = next.end;
                }
                break;
            }
            before.clear();
            before.extend_from_slice(&walk.field);
        }
        let mut buf = std::mem::take(&mut self.buf).into_vec();
        buf.splice(entry.start..replaced_end, replacement);
        Self::write_len(&mut buf, len - 1);
        self.buf = buf.into_boxed_slice();
        true
    }
}

// ---------------------------------------------------------------------------------
// hashtable: a `Slab` of 32-byte pairs (field plus value up to 29 bytes inline).
// ---------------------------------------------------------------------------------

/// Field plus value bytes kept inside a slot without a heap allocation.
const SLOT_INLINE_CAP: usize = 29;
/// Random slots HRANDFIELD tries before walking.
const RANDOM_TRIES: usize = 64;

#[derive(Clone)]
enum TablePair {
    Inline {
        field_len: u8,
        value_len: u8,
        buf: [u8; SLOT_INLINE_CAP],
    },
    /// Field then value in one allocation.
    Heap { field_len: u32, data: Box<[u8]> },
}

impl TablePair {
    fn new(field: &[u8], value: &[u8]) -> TablePair {
        let total = field.len() + value.len();
        if total <= SLOT_INLINE_CAP {
            let mut buf = [0u8; SLOT_INLINE_CAP];
            if let Some(dst) = buf.get_mut(..field.len()) {
                dst.copy_from_slice(field);
            }
            if let Some(dst) = buf.get_mut(field.len()..total) {
                dst.copy_from_slice(value);
            }
            TablePair::Inline {
                field_len: field.len() as u8,
                value_len: value.len() as u8,
                buf,
            }
        } else {
            let mut data = Vec::with_capacity(total);
            data.extend_from_slice(field);
            data.extend_from_slice(value);
            TablePair::Heap {
                // Fields are bounded by proto-max-bulk-len (512 MB) on the way in.
                field_len: u32::try_from(field.len()).unwrap_or(u32::MAX),
                data: data.into_boxed_slice(),
            }
        }
    }

    fn pair(&self) -> (&[u8], &[u8]) {
        match self {
            TablePair::Inline {
                field_len,
                value_len,
                buf,
            } => {
                let (f, rest) = buf.split_at((*field_len as usize).min(SLOT_INLINE_CAP));
                (f, rest.get(..*value_len as usize).unwrap_or(rest))
            }
            TablePair::Heap { field_len, data } => {
                data.split_at((*field_len as usize).min(data.len()))
            }
        }
    }

    fn borrowed(&self) -> Pair<'_> {
        let (f, v) = self.pair();
        (Cow::Borrowed(f), v)
    }
}

impl SlabEntry for TablePair {
    fn key(&self) -> &[u8] {
        self.pair().0
    }

    fn heap_bytes(&self) -> usize {
        match self {
            TablePair::Heap { data, .. } => data.len(),
            TablePair::Inline { .. } => 0,
        }
    }
}

#[derive(Clone)]
pub struct Table {
    pairs: Slab<TablePair>,
}

impl Table {
    fn new(seeds: [u64; 4], capacity: usize) -> Table {
        Table {
            pairs: Slab::with_capacity(seeds, capacity),
        }
    }

    fn len(&self) -> usize {
        self.pairs.len()
    }

    fn heap_bytes(&self) -> usize {
        std::mem::size_of::<Table>() + self.pairs.heap_bytes()
    }

    fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.pairs.get_by_key(field).map(|p| p.pair().1)
    }

    fn set(&mut self, field: &[u8], value: &[u8]) -> SetOutcome {
        let pair = TablePair::new(field, value);
        match self.pairs.find(field) {
            Some(id) => {
                self.pairs.replace(id, pair);
                SetOutcome::Updated
            }
            None => {
                self.pairs.insert(pair);
                SetOutcome::Created
            }
        }
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        let removed = self.pairs.remove_key(field).is_some();
        self.pairs.release_if_empty();
        removed
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

    fn packed_of(pairs: &[(&[u8], &[u8])]) -> Hash {
        let mut h = Hash::new();
        for (f, v) in pairs {
            h.set(f, v, limits(usize::MAX, usize::MAX), || [0; 4]);
        }
        h
    }

    fn buf_of(h: &Hash) -> &[u8] {
        match h {
            Hash::Packed(p) => &p.buf,
            Hash::Table(_) => panic!("not packed"),
        }
    }

    fn pairs_of(h: &Hash) -> Vec<(Vec<u8>, Vec<u8>)> {
        h.iter()
            .map(|(f, v)| (f.into_owned(), v.to_vec()))
            .collect()
    }

    #[test]
    fn packed_layout_front_codes_fields_and_keeps_values_whole() {
        let h = packed_of(&[
            (b"name:first", b"Ada"),
            (b"name:last", b"Lovelace"),
            (b"x", b""),
        ]);
        let mut want = vec![3, 0, 0, 0];
        want.extend_from_slice(&[10 << 1]);
        want.extend_from_slice(b"name:first");
        want.extend_from_slice(&[3]);
        want.extend_from_slice(b"Ada");
        // "name:last" shares "name:" (5 bytes) with "name:first".
        want.extend_from_slice(&[4 << 1 | 1, 5]);
        want.extend_from_slice(b"last");
        want.extend_from_slice(&[8]);
        want.extend_from_slice(b"Lovelace");
        // "x" shares nothing.
        want.extend_from_slice(&[1 << 1]);
        want.extend_from_slice(b"x");
        want.extend_from_slice(&[0]);
        assert_eq!(buf_of(&h), &want[..]);
        assert_eq!(h.heap_bytes(), want.len());
        assert_eq!(h.get(b"name:last"), Some(&b"Lovelace"[..]));
        assert_eq!(h.get(b"name:"), None);
        assert_eq!(h.get(b"name:lastx"), None);
        assert_eq!(h.get(b"x"), Some(&b""[..]));
    }

    #[test]
    fn packed_bench_shape_is_218_bytes() {
        // The hash-100k benchmark's hashes: 10 fields f:%014d, values v:%014d.
        let fields: Vec<String> = (0..10).map(|i| format!("f:{i:014}")).collect();
        let values: Vec<String> = (0..10)
            .map(|i| format!("v:{:014}", 4242 * 10 + i))
            .collect();
        let pairs: Vec<(&[u8], &[u8])> = fields
            .iter()
            .zip(&values)
            .map(|(f, v)| (f.as_bytes(), v.as_bytes()))
            .collect();
        let h = packed_of(&pairs);
        // Header 4; first pair 1+16 + 1+16; the others 3 (tag, shared, 1 byte) + 17.
        assert_eq!(h.heap_bytes(), 4 + 34 + 9 * 20);
        let back = pairs_of(&h);
        assert_eq!(back.len(), 10);
        for ((f, v), (bf, bv)) in pairs.iter().zip(&back) {
            assert_eq!((&f[..], &v[..]), (&bf[..], &bv[..]));
        }
    }

    #[test]
    fn packed_removal_recodes_the_successor() {
        let mut h = packed_of(&[
            (b"abc1", b"1"),
            (b"abc2", b"2"),
            (b"abcd3", b"3"),
            (b"q", b"4"),
        ]);
        // The middle entry "abc2" is what "abcd3" takes its "abc" from.
        assert!(h.remove(b"abc2"));
        assert_eq!(
            buf_of(&h),
            buf_of(&packed_of(&[
                (b"abc1", b"1"),
                (b"abcd3", b"3"),
                (b"q", b"4")
            ]))
        );
        // Removing the first leaves "abcd3" first, whole.
        assert!(h.remove(b"abc1"));
        assert_eq!(
            buf_of(&h),
            buf_of(&packed_of(&[(b"abcd3", b"3"), (b"q", b"4")]))
        );
        assert_eq!(h.get(b"abcd3"), Some(&b"3"[..]));
        assert!(h.remove(b"q"));
        assert!(h.remove(b"abcd3"));
        assert!(h.is_empty());
        assert_eq!(h.heap_bytes(), 0);
    }

    #[test]
    fn packed_update_keeps_position_and_field_coding() {
        let mut h = packed_of(&[(b"k:1", b"a"), (b"k:2", b"b"), (b"k:3", b"c")]);
        assert_eq!(
            h.set(b"k:2", b"a much longer value", limits(8, 64), || [0; 4]),
            SetOutcome::Updated
        );
        assert_eq!(
            pairs_of(&h),
            vec![
                (b"k:1".to_vec(), b"a".to_vec()),
                (b"k:2".to_vec(), b"a much longer value".to_vec()),
                (b"k:3".to_vec(), b"c".to_vec()),
            ]
        );
        assert_eq!(
            buf_of(&h),
            buf_of(&packed_of(&[
                (b"k:1", b"a"),
                (b"k:2", b"a much longer value"),
                (b"k:3", b"c")
            ]))
        );
    }

    #[test]
    fn packed_fields_that_prefix_each_other() {
        let mut h = packed_of(&[
            (b"abc", b"1"),
            (b"ab", b"2"),
            (b"", b"3"),
            (b"abcd", b"4"),
            (b"abc", b"5"),
        ]);
        assert_eq!(h.len(), 4);
        assert_eq!(h.get(b"abc"), Some(&b"5"[..]));
        assert_eq!(h.get(b"ab"), Some(&b"2"[..]));
        assert_eq!(h.get(b""), Some(&b"3"[..]));
        assert_eq!(h.get(b"abcd"), Some(&b"4"[..]));
        assert_eq!(h.get(b"a"), None);
        assert_eq!(h.get(b"abcde"), None);
        assert!(h.remove(b""));
        assert_eq!(h.get(b"abcd"), Some(&b"4"[..]));
    }

    #[test]
    fn packed_thresholds_count_uncompressed_lengths() {
        // Front coding shrinks "aaaaaaaa2" to one stored byte; the limit still sees 9.
        let l = limits(128, 8);
        let mut h = Hash::new();
        h.set(b"aaaaaaa1", b"v", l, || [0; 4]);
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"aaaaaaaa2", b"v", l, || [0; 4]);
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.get(b"aaaaaaa1"), Some(&b"v"[..]));
    }

    mod model {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone)]
        enum Op {
            Set(Vec<u8>, Vec<u8>),
            Del(Vec<u8>),
            Get(Vec<u8>),
        }

        /// Fields from a few shared stems plus short tails, so prefixes are shared,
        /// partly shared, nested, or not at all.
        fn field() -> impl Strategy<Value = Vec<u8>> {
            let stem = prop_oneof![
                Just(&b""[..]),
                Just(&b"a"[..]),
                Just(&b"user:"[..]),
                Just(&b"user:10"[..]),
                Just(&b"f:0000000000"[..]),
            ];
            (
                stem,
                proptest::collection::vec(prop_oneof![Just(b'0'), Just(b'1'), Just(b'a')], 0..4),
            )
                .prop_map(|(s, tail)| [s, &tail[..]].concat())
        }

        fn op() -> impl Strategy<Value = Op> {
            let value = proptest::collection::vec(any::<u8>(), 0..20);
            prop_oneof![
                4 => (field(), value).prop_map(|(f, v)| Op::Set(f, v)),
                2 => field().prop_map(Op::Del),
                1 => field().prop_map(Op::Get),
            ]
        }

        proptest! {
            /// Packed against an ordered list of pairs: same pairs in the same order,
            /// same lookups, and a buffer byte-identical to packing the model afresh
            /// (so deletions leave no stale prefix references and no slack).
            #[test]
            fn packed_matches_model(ops in proptest::collection::vec(op(), 1..120)) {
                let no_limit = limits(usize::MAX, usize::MAX);
                let mut h = Hash::new();
                let mut model: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
                for op in ops {
                    match op {
                        Op::Set(f, v) => {
                            let outcome = h.set(&f, &v, no_limit, || [0; 4]);
                            match model.iter_mut().find(|(mf, _)| *mf == f) {
                                Some(pair) => {
                                    prop_assert_eq!(outcome, SetOutcome::Updated);
                                    pair.1 = v;
                                }
                                None => {
                                    prop_assert_eq!(outcome, SetOutcome::Created);
                                    model.push((f, v));
                                }
                            }
                        }
                        Op::Del(f) => {
                            let at = model.iter().position(|(mf, _)| *mf == f);
                            prop_assert_eq!(h.remove(&f), at.is_some());
                            if let Some(i) = at {
                                model.remove(i);
                            }
                        }
                        Op::Get(f) => {
                            let want = model.iter().find(|(mf, _)| *mf == f).map(|(_, v)| &v[..]);
                            prop_assert_eq!(h.get(&f), want);
                        }
                    }
                    prop_assert_eq!(h.encoding_name(), "listpack");
                    prop_assert_eq!(h.len(), model.len());
                    prop_assert_eq!(&pairs_of(&h), &model);
                    let fresh: Vec<(&[u8], &[u8])> =
                        model.iter().map(|(f, v)| (&f[..], &v[..])).collect();
                    let fresh = packed_of(&fresh);
                    prop_assert_eq!(buf_of(&h), buf_of(&fresh));
                    prop_assert_eq!(h.heap_bytes(), buf_of(&h).len());
                    for (f, v) in &model {
                        prop_assert_eq!(h.get(f), Some(&v[..]));
                    }
                }
            }
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(Slab::<TablePair>::slot_bytes(), 32);
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
        let keys: Vec<Vec<u8>> = h.iter().map(|(f, _)| f.into_owned()).collect();
        assert_eq!(
            keys,
            vec![
                b"f0".to_vec(),
                b"f1".to_vec(),
                b"f2".to_vec(),
                b"f3".to_vec()
            ]
        );
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
            assert_eq!(t.heap_bytes(), std::mem::size_of::<Table>());
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
        assert_eq!(pair, Some((Cow::Borrowed(&b"f9"[..]), &b"v"[..])));
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
