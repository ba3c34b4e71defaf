//! The hash type with Redis's two encodings as `OBJECT ENCODING` reports them:
//! `listpack` (one contiguous buffer of field/value pairs in insertion order, each
//! field front-coded against the one before it) while small, and `hashtable` once a
//! threshold is crossed, one way, as Redis. Thresholds count uncompressed lengths.
//! Storage is keel's own; nothing here knows about clients, config or the keyspace.

use std::borrow::Cow;

use crate::malloc_model::chunk_bytes;
use crate::slab::{ScanBudget, Slab, SlabEntry};
use crate::types::hexpack::{self, Hex};

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

/// A field and its value as the hash hands them out: each is rebuilt when the listpack
/// front-coded or packed it, borrowed otherwise.
pub type Pair<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

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

    /// The value of `field`: borrowed, or unpacked when the listpack packed its digits.
    pub fn get(&self, field: &[u8]) -> Option<Cow<'_, [u8]>> {
        match self {
            Hash::Packed(p) => p.get(field),
            Hash::Table(t) => t.get(field).map(Cow::Borrowed),
        }
    }

    /// Calls `f` with `field`'s value without copying it (unpacked on the stack when the
    /// listpack packed its digits); None when the field is absent (HMGET).
    pub fn with_value<R>(&self, field: &[u8], f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        match self {
            Hash::Packed(p) => p.with_value(field, f),
            Hash::Table(t) => t.get(field).map(f),
        }
    }

    /// Calls `f` with every pair in `iter`'s order, reusing two buffers for rebuilt
    /// fields and unpacked values, so a listpack's walk allocates nothing per pair
    /// (HGETALL, HKEYS, HVALS).
    pub fn for_each_pair(&self, mut f: impl FnMut(&[u8], &[u8])) {
        match self {
            Hash::Packed(p) => p.for_each_pair(f),
            Hash::Table(t) => {
                for (_, pair) in t.pairs.iter() {
                    let (field, value) = pair.pair();
                    f(field, value);
                }
            }
        }
    }

    /// The length of `field`'s value, without unpacking it (HSTRLEN, HEXISTS).
    pub fn value_len(&self, field: &[u8]) -> Option<usize> {
        match self {
            Hash::Packed(p) => p.value_len(field),
            Hash::Table(t) => t.get(field).map(<[u8]>::len),
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

    /// Heap bytes owned, O(1) (the keyspace asks before and after every change), each
    /// allocation counted as the allocator's chunk for it (`malloc_model`).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Hash::Packed(p) => chunk_bytes(p.buf.len()),
            Hash::Table(t) => t.heap_bytes(),
        }
    }

    /// The one-way conversion to the table encoding.
    fn convert(&mut self, seeds: [u64; 4]) {
        if let Hash::Packed(p) = self {
            let mut t = Table::new(seeds, p.len());
            for (f, v) in p.iter() {
                t.set(&f, &v);
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
        mut visit: impl FnMut(Cow<'a, [u8]>, Cow<'a, [u8]>),
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
                    visit(Cow::Borrowed(f), Cow::Borrowed(v))
                }),
        }
    }

    /// A uniformly drawn pair, using `draw(n)` -> [0, n).
    pub fn random_pair(&self, mut draw: impl FnMut(u64) -> u64) -> Option<Pair<'_>> {
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
            m.entry(&String::from_utf8_lossy(&k), &String::from_utf8_lossy(&v));
        }
        m.finish()
    }
}

// ---------------------------------------------------------------------------------
// listpack: the pairs in insertion order, each field front-coded against the field
// before it, each value stored whole. A field and a value are each one code, which
// starts with a tag byte:
//   0x00..=0x7F                raw, length = tag
//   0x80..=0x9F packed         hex lower case, digits = tag - 0x80 + 1 (1..=32)
//   0xA0..=0xBF packed         hex upper case, digits = tag - 0xA0 + 1
//   0xC0 varint(len)           raw
//   0xC1 varint(digits) packed hex lower case
//   0xC2 varint(digits) packed hex upper case
// and, for fields only, the front-coded forms (field = previous[..shared] + suffix):
//   0xC3 varint(shared) varint(len) suffix
//   0xC4 varint(shared) varint(digits) packed    hex lower-case suffix
//   0xC5 varint(shared) varint(digits) packed    hex upper-case suffix
//   0xC6..=0xFF varint(shared) suffix            raw suffix of length tag - 0xC6 (0..=57)
// Hex digits of one case are packed two a byte (`hexpack`) when that takes fewer bytes
// than the raw form, so a random 16-digit hex string costs 9 bytes instead of 17; a
// read unpacks it. Everything is a pure function of the pairs in order, so a buffer
// is byte-identical to packing its pairs afresh.
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

/// Longest raw string a one-byte tag holds (`0x00..=0x7F`).
const SHORT_RAW_MAX: usize = 0x7F;
const TAG_HEX_SHORT_LOWER: u8 = 0x80;
const TAG_HEX_SHORT_UPPER: u8 = 0xA0;
/// Most digits a one-byte hex tag holds.
const SHORT_HEX_MAX_DIGITS: usize = 32;
const TAG_RAW: u8 = 0xC0;
const TAG_HEX_LOWER: u8 = 0xC1;
const TAG_HEX_UPPER: u8 = 0xC2;
const TAG_SHARED_RAW: u8 = 0xC3;
const TAG_SHARED_HEX_LOWER: u8 = 0xC4;
const TAG_SHARED_HEX_UPPER: u8 = 0xC5;
const TAG_SHARED_SHORT_RAW: u8 = 0xC6;
/// Longest raw suffix a one-byte front-coded tag holds (`0xC6..=0xFF`).
const SHARED_SHORT_RAW_MAX: usize = (0xFF - TAG_SHARED_SHORT_RAW) as usize;

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
    // Lengths and shared counts under 128 are the common case.
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

/// Bytes of the raw code of a `len`-byte string after `shared` bytes of the previous field.
fn raw_code_len(shared: usize, len: usize) -> usize {
    let head = match shared {
        0 if len <= SHORT_RAW_MAX => 1,
        0 => 1 + varint_len(len),
        _ if len <= SHARED_SHORT_RAW_MAX => 1 + varint_len(shared),
        _ => 1 + varint_len(shared) + varint_len(len),
    };
    head + len
}

/// Bytes of the packed code of `hex` after `shared` bytes of the previous field.
fn hex_code_len(shared: usize, hex: Hex) -> usize {
    let head = match shared {
        0 if hex.digits <= SHORT_HEX_MAX_DIGITS => 1,
        0 => 1 + varint_len(hex.digits),
        _ => 1 + varint_len(shared) + varint_len(hex.digits),
    };
    head + hex.packed_bytes()
}

/// How a string is coded after `shared` bytes of the previous field (0 for a value and
/// for a field that shares nothing): packed (`hex`) or raw, in `code_bytes` bytes.
#[derive(Debug, Clone, Copy)]
struct Plan {
    shared: usize,
    hex: Option<Hex>,
    code_bytes: usize,
}

/// The plan for `s` after `shared` bytes: packed when that is strictly smaller.
fn plan(shared: usize, s: &[u8]) -> Plan {
    let raw = raw_code_len(shared, s.len());
    match hexpack::classify(s) {
        Some(h) if hex_code_len(shared, h) < raw => Plan {
            shared,
            hex: Some(h),
            code_bytes: hex_code_len(shared, h),
        },
        _ => Plan {
            shared,
            hex: None,
            code_bytes: raw,
        },
    }
}

/// Appends the code of `s` as `plan` (made for `s`) says.
fn put_code(out: &mut Vec<u8>, plan: Plan, s: &[u8]) {
    let shared = plan.shared;
    match (plan.hex, shared) {
        (Some(h), 0) if h.digits <= SHORT_HEX_MAX_DIGITS => {
            let tag = if h.upper {
                TAG_HEX_SHORT_UPPER
            } else {
                TAG_HEX_SHORT_LOWER
            };
            // 1..=32 digits: the tag's low five bits hold digits - 1.
            out.push(tag | (h.digits - 1) as u8);
            hexpack::pack_into(s, out);
        }
        (Some(h), _) => {
            out.push(match (shared, h.upper) {
                (0, false) => TAG_HEX_LOWER,
                (0, true) => TAG_HEX_UPPER,
                (_, false) => TAG_SHARED_HEX_LOWER,
                (_, true) => TAG_SHARED_HEX_UPPER,
            });
            if shared != 0 {
                put_varint(out, shared);
            }
            put_varint(out, h.digits);
            hexpack::pack_into(s, out);
        }
        (None, 0) if s.len() <= SHORT_RAW_MAX => {
            out.push(s.len() as u8);
            out.extend_from_slice(s);
        }
        (None, 0) => {
            out.push(TAG_RAW);
            put_varint(out, s.len());
            out.extend_from_slice(s);
        }
        (None, _) if s.len() <= SHARED_SHORT_RAW_MAX => {
            out.push(TAG_SHARED_SHORT_RAW + s.len() as u8);
            put_varint(out, shared);
            out.extend_from_slice(s);
        }
        (None, _) => {
            out.push(TAG_SHARED_RAW);
            put_varint(out, shared);
            put_varint(out, s.len());
            out.extend_from_slice(s);
        }
    }
}

/// How a new field is coded given all it shares with the previous field (`common`):
/// against all of it when that makes the field's code smaller, else whole. A pure
/// function of the two fields, so an append and a removal's re-coding agree. Returns
/// the plan and the part of `field` it codes.
fn field_plan(common: usize, field: &[u8]) -> (Plan, &[u8]) {
    let whole = plan(0, field);
    if common < MIN_SHARED_BYTES {
        return (whole, field);
    }
    let suffix = field.get(common..).unwrap_or(b"");
    let shared = plan(common, suffix);
    if shared.code_bytes < whole.code_bytes {
        (shared, suffix)
    } else {
        (whole, field)
    }
}

/// One decoded code: `shared` bytes of the previous field, then `buf[start..end]`,
/// raw or (`hex`) packed.
#[derive(Debug, Clone, Copy)]
struct Code {
    shared: usize,
    hex: Option<Hex>,
    start: usize,
    end: usize,
}

impl Code {
    /// Bytes of the string after the shared prefix.
    fn suffix_len(&self) -> usize {
        match self.hex {
            Some(h) => h.digits,
            None => self.end - self.start,
        }
    }

    /// The string after the shared prefix: lent when raw, unpacked when packed.
    #[inline]
    fn read<'a>(&self, buf: &'a [u8]) -> Cow<'a, [u8]> {
        let stored = buf.get(self.start..self.end).unwrap_or(b"");
        match self.hex {
            None => Cow::Borrowed(stored),
            Some(h) => Cow::Owned(hexpack::unpack(stored, h)),
        }
    }

    /// Appends the string after the shared prefix to `out`.
    fn read_into(&self, buf: &[u8], out: &mut Vec<u8>) {
        let stored = buf.get(self.start..self.end).unwrap_or(b"");
        match self.hex {
            None => out.extend_from_slice(stored),
            Some(h) => hexpack::unpack_into(stored, h, out),
        }
    }

    /// How many leading bytes of `s` the string after the shared prefix matches.
    #[inline]
    fn common_prefix_len(&self, buf: &[u8], s: &[u8]) -> usize {
        let stored = buf.get(self.start..self.end).unwrap_or(b"");
        match self.hex {
            None => common_prefix_len(stored, s),
            Some(h) => hexpack::common_prefix_len(stored, h, s),
        }
    }
}

/// Decodes the code at `pos`; None on a malformed buffer. One-byte tags and the
/// front-coded short raw form (the common cases) read at most one varint, inline.
#[inline(always)]
fn decode_code(buf: &[u8], pos: usize) -> Option<Code> {
    let tag = *buf.get(pos)?;
    let code = |shared: usize, hex: Option<Hex>, start: usize, stored_len: usize| {
        let end = start.checked_add(stored_len)?;
        (end <= buf.len()).then_some(Code {
            shared,
            hex,
            start,
            end,
        })
    };
    match tag {
        0x00..=0x7F => code(0, None, pos + 1, tag as usize),
        0x80..=0xBF => {
            let h = Hex {
                digits: (tag & 0x1F) as usize + 1,
                upper: tag >= TAG_HEX_SHORT_UPPER,
            };
            code(0, Some(h), pos + 1, h.packed_bytes())
        }
        TAG_SHARED_SHORT_RAW..=0xFF => {
            let (shared, used) = get_varint(buf, pos + 1)?;
            code(
                shared,
                None,
                pos + 1 + used,
                (tag - TAG_SHARED_SHORT_RAW) as usize,
            )
        }
        _ => decode_long_code(buf, pos, tag),
    }
}

/// The forms with a varint length (`0xC0..=0xC5`).
fn decode_long_code(buf: &[u8], pos: usize, tag: u8) -> Option<Code> {
    let mut at = pos + 1;
    let shared = if tag >= TAG_SHARED_RAW {
        let (n, used) = get_varint(buf, at)?;
        at += used;
        n
    } else {
        0
    };
    let (n, used) = get_varint(buf, at)?;
    at += used;
    let hex = match tag {
        TAG_HEX_LOWER | TAG_SHARED_HEX_LOWER => Some(Hex {
            digits: n,
            upper: false,
        }),
        TAG_HEX_UPPER | TAG_SHARED_HEX_UPPER => Some(Hex {
            digits: n,
            upper: true,
        }),
        _ => None,
    };
    let stored_len = hex.map_or(n, Hex::packed_bytes);
    let end = at.checked_add(stored_len)?;
    (end <= buf.len()).then_some(Code {
        shared,
        hex,
        start: at,
        end,
    })
}

/// Where the code at `pos` ends, decoding only what that takes (the find walk skips
/// every value this way; one-byte tags, the common case, need no varint).
#[inline(always)]
fn skip_code(buf: &[u8], pos: usize) -> Option<usize> {
    let tag = *buf.get(pos)?;
    let end = match tag {
        0x00..=0x7F => pos + 1 + tag as usize,
        0x80..=0xBF => pos + 1 + hexpack::packed_bytes((tag & 0x1F) as usize + 1),
        _ => decode_code(buf, pos)?.end,
    };
    (end <= buf.len()).then_some(end)
}

/// One pair's place in the buffer: the entry is `buf[start..end]`, the value's code
/// `buf[value_code_start..end]`.
#[derive(Debug, Clone, Copy)]
struct PackedEntry {
    start: usize,
    field: Code,
    value_code_start: usize,
    value: Code,
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
    let field = decode_code(buf, pos)?;
    let value = decode_code(buf, field.end)?;
    debug_assert_eq!(value.shared, 0, "a value coded as front-coded");
    Some(PackedEntry {
        start: pos,
        field,
        value_code_start: field.end,
        value,
        end: value.end,
    })
}

/// Pairs in order with each field rebuilt in one reused buffer: a raw field that shares
/// nothing and a raw value are lent from the packed buffer, the others copied out.
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
            e.field.shared <= self.field.len(),
            "shared past the previous field"
        );
        self.field.truncate(e.field.shared);
        e.field.read_into(self.buf, &mut self.field);
        self.pos = e.end;
        Some(e)
    }
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = Pair<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let e = self.advance()?;
        let field = if e.field.shared == 0 && e.field.hex.is_none() {
            Cow::Borrowed(self.buf.get(e.field.start..e.field.end)?)
        } else {
            Cow::Owned(self.field.clone())
        };
        Some((field, e.value.read(self.buf)))
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
    /// sharing at most `common` matches `field` that far and is compared from there
    /// (a packed suffix digit by digit, without unpacking it).
    fn find(&self, field: &[u8]) -> Found {
        let buf = &self.buf[..];
        let mut pos = PACKED_HEADER_BYTES;
        let mut common = 0usize;
        while pos < buf.len() {
            let Some(code) = decode_code(buf, pos) else {
                break;
            };
            let shared = code.shared;
            if shared <= common {
                let rest = field.get(shared..).unwrap_or(b"");
                common = shared + code.common_prefix_len(buf, rest);
                if common == field.len() && shared + code.suffix_len() == field.len() {
                    if let Some(e) = decode_entry(buf, pos) {
                        return Found::At(e);
                    }
                    break;
                }
            }
            let Some(end) = skip_code(buf, code.end) else {
                break;
            };
            pos = end;
        }
        Found::Absent {
            common_with_last: common,
        }
    }

    fn get(&self, field: &[u8]) -> Option<Cow<'_, [u8]>> {
        match self.find(field) {
            Found::At(entry) => Some(entry.value.read(&self.buf)),
            Found::Absent { .. } => None,
        }
    }

    fn with_value<R>(&self, field: &[u8], f: impl FnOnce(&[u8]) -> R) -> Option<R> {
        let Found::At(entry) = self.find(field) else {
            return None;
        };
        let stored = self.buf.get(entry.value.start..entry.value.end)?;
        Some(match entry.value.hex {
            None => f(stored),
            Some(h) => hexpack::with_unpacked(stored, h, f),
        })
    }

    fn for_each_pair(&self, mut f: impl FnMut(&[u8], &[u8])) {
        let mut walk = self.iter();
        let mut value = Vec::new();
        while let Some(e) = walk.advance() {
            let stored = self.buf.get(e.value.start..e.value.end).unwrap_or(b"");
            match e.value.hex {
                None => f(&walk.field, stored),
                Some(h) => {
                    value.clear();
                    hexpack::unpack_into(stored, h, &mut value);
                    f(&walk.field, &value);
                }
            }
        }
    }

    fn value_len(&self, field: &[u8]) -> Option<usize> {
        match self.find(field) {
            Found::At(entry) => Some(entry.value.suffix_len()),
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
        let value_plan = plan(0, value);
        let outcome = match found {
            Found::At(entry) => {
                // Values are not front-coded: replacing one touches nothing else.
                let mut encoded = Vec::with_capacity(value_plan.code_bytes);
                put_code(&mut encoded, value_plan, value);
                let old = entry.end - entry.value_code_start;
                if encoded.len() > old {
                    buf.reserve_exact(encoded.len() - old);
                }
                buf.splice(entry.value_code_start..entry.end, encoded);
                SetOutcome::Updated
            }
            Found::Absent { common_with_last } => {
                let (field_plan, coded) = field_plan(common_with_last, field);
                buf.reserve_exact(field_plan.code_bytes + value_plan.code_bytes);
                put_code(&mut buf, field_plan, coded);
                put_code(&mut buf, value_plan, value);
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
                    let common = common_prefix_len(&before, &walk.field);
                    let (plan, coded) = field_plan(common, &walk.field);
                    put_code(&mut replacement, plan, coded);
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
        (Cow::Borrowed(f), Cow::Borrowed(v))
    }
}

impl SlabEntry for TablePair {
    fn key(&self) -> &[u8] {
        self.pair().0
    }

    fn heap_bytes(&self) -> usize {
        match self {
            TablePair::Heap { data, .. } => chunk_bytes(data.len()),
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
        chunk_bytes(std::mem::size_of::<Table>()) + self.pairs.heap_bytes()
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
        want.extend_from_slice(&[10]);
        want.extend_from_slice(b"name:first");
        want.extend_from_slice(&[3]);
        want.extend_from_slice(b"Ada");
        // "name:last" shares "name:" (5 bytes) with "name:first".
        want.extend_from_slice(&[TAG_SHARED_SHORT_RAW + 4, 5]);
        want.extend_from_slice(b"last");
        want.extend_from_slice(&[8]);
        want.extend_from_slice(b"Lovelace");
        // "x" shares nothing.
        want.extend_from_slice(&[1]);
        want.extend_from_slice(b"x");
        want.extend_from_slice(&[0]);
        assert_eq!(buf_of(&h), &want[..]);
        assert_eq!(h.heap_bytes(), chunk_bytes(want.len()));
        assert_eq!(h.get(b"name:last").as_deref(), Some(&b"Lovelace"[..]));
        assert_eq!(h.get(b"name:").as_deref(), None);
        assert_eq!(h.get(b"name:lastx").as_deref(), None);
        assert_eq!(h.get(b"x").as_deref(), Some(&b""[..]));
    }

    #[test]
    fn packed_layout_packs_hex_digits() {
        let h = packed_of(&[
            (b"0123456789abcdef", b"DEADBEEF"),
            (b"0123456789abcdee", b"7"),
            (b"cafe:", b"00001"),
        ]);
        let mut want = vec![3, 0, 0, 0];
        // 16 lower-case digits: one tag, 8 bytes.
        want.extend_from_slice(&[TAG_HEX_SHORT_LOWER | 15]);
        want.extend_from_slice(&[0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef]);
        want.extend_from_slice(&[TAG_HEX_SHORT_UPPER | 7, 0xDE, 0xAD, 0xBE, 0xEF]);
        // Shares 15 bytes; the one-digit suffix is cheaper raw (3 bytes) than packed (4).
        want.extend_from_slice(&[TAG_SHARED_SHORT_RAW + 1, 15, b'e']);
        // One digit: raw and packed both take 2 bytes, so raw.
        want.extend_from_slice(&[1, b'7']);
        // "cafe:" is not all hex; "00001" packs into 3 bytes + tag, leading zeros kept.
        want.extend_from_slice(&[5]);
        want.extend_from_slice(b"cafe:");
        want.extend_from_slice(&[TAG_HEX_SHORT_LOWER | 4, 0x00, 0x00, 0x10]);
        assert_eq!(buf_of(&h), &want[..]);
        assert_eq!(
            h.get(b"0123456789abcdef").as_deref(),
            Some(&b"DEADBEEF"[..])
        );
        assert_eq!(h.get(b"0123456789abcdee").as_deref(), Some(&b"7"[..]));
        assert_eq!(h.get(b"cafe:").as_deref(), Some(&b"00001"[..]));
        assert_eq!(h.value_len(b"cafe:"), Some(5));
        assert_eq!(h.value_len(b"0123456789abcdef"), Some(8));
        // Other cases, prefixes and extensions of packed fields are absent.
        for absent in [
            &b"0123456789ABCDEF"[..],
            b"0123456789abcde",
            b"0123456789abcdeff",
            b"0123456789abcded",
            b"",
        ] {
            assert_eq!(h.get(absent), None, "{absent:?}");
        }
        assert_eq!(
            pairs_of(&h),
            vec![
                (b"0123456789abcdef".to_vec(), b"DEADBEEF".to_vec()),
                (b"0123456789abcdee".to_vec(), b"7".to_vec()),
                (b"cafe:".to_vec(), b"00001".to_vec()),
            ]
        );
    }

    #[test]
    fn packed_hex_framing_edges() {
        // A 33-digit value takes the long hex form; a 40-digit upper-case field too.
        let long_lower = b"0123456789abcdef0123456789abcdef0";
        let long_upper = b"0123456789ABCDEF0123456789ABCDEF01234567";
        let mut h = packed_of(&[(long_upper, long_lower)]);
        let mut want = vec![1, 0, 0, 0, TAG_HEX_UPPER, 40];
        hexpack::pack_into(long_upper, &mut want);
        want.extend_from_slice(&[TAG_HEX_LOWER, 33]);
        hexpack::pack_into(long_lower, &mut want);
        assert_eq!(buf_of(&h), &want[..]);
        // A field sharing a prefix with a packed suffix: the shared-hex form.
        let sharing = b"0123456789ABCDEF0123456789ABCDEF0FFFFFFF";
        h.set(sharing, b"", limits(usize::MAX, usize::MAX), || [0; 4]);
        let tail = &buf_of(&h)[want.len()..];
        let mut packed_suffix = Vec::new();
        hexpack::pack_into(&sharing[33..], &mut packed_suffix);
        assert_eq!(tail[..3], [TAG_SHARED_HEX_UPPER, 33, 7]);
        assert_eq!(&tail[3..7], &packed_suffix[..]);
        assert_eq!(tail[7..], [0]);
        assert_eq!(h.get(sharing).as_deref(), Some(&b""[..]));
        assert_eq!(h.get(long_upper).as_deref(), Some(&long_lower[..]));
        // Updating a value between raw and packed forms.
        h.set(long_upper, b"x", limits(usize::MAX, usize::MAX), || [0; 4]);
        assert_eq!(h.get(long_upper).as_deref(), Some(&b"x"[..]));
        h.set(
            long_upper,
            b"ffffffff",
            limits(usize::MAX, usize::MAX),
            || [0; 4],
        );
        assert_eq!(h.get(long_upper).as_deref(), Some(&b"ffffffff"[..]));
        // Removing the first field re-codes the second whole (long upper-case hex).
        assert!(h.remove(long_upper));
        assert_eq!(buf_of(&h), buf_of(&packed_of(&[(sharing, b"")])));
        assert_eq!(h.get(sharing).as_deref(), Some(&b""[..]));
        // Raw strings longer than a one-byte tag (128 bytes) and a 58-byte raw suffix.
        let long_raw = [b'x'; 200];
        let h = packed_of(&[(b"k", &long_raw[..]), (&long_raw[..70], b"1")]);
        assert_eq!(h.get(b"k").as_deref(), Some(&long_raw[..]));
        assert_eq!(h.get(&long_raw[..70]).as_deref(), Some(&b"1"[..]));
    }

    #[test]
    fn packed_random_hex_hash_is_184_bytes() {
        // The hash-100k-random benchmark's hashes: 10 random 16-digit fields and values,
        // 9 bytes each (17 raw); 344 bytes before packing.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("{x:016x}")
        };
        let pairs: Vec<(String, String)> = (0..10).map(|_| (next(), next())).collect();
        let borrowed: Vec<(&[u8], &[u8])> = pairs
            .iter()
            .map(|(f, v)| (f.as_bytes(), v.as_bytes()))
            .collect();
        let h = packed_of(&borrowed);
        assert_eq!(buf_of(&h).len(), 4 + 10 * 18);
        for (f, v) in &borrowed {
            assert_eq!(h.get(f).as_deref(), Some(*v));
        }
    }

    /// Hot-path timing, not a check: `cargo test --release -p keel-core --lib
    /// types::hash::tests::timing -- --ignored --nocapture`. 10-field listpacks of
    /// 16-hex-digit fields and values (packed) beside the same with a `g` first (raw):
    /// HGET of the 6th field, a miss, an HSET update, HSET of a new field, and HGETALL.
    #[test]
    #[ignore = "timing only; run in release with --ignored --nocapture"]
    fn timing_packed_vs_raw_listpack() {
        const HASHES: usize = 10_000;
        let no_limit = limits(usize::MAX, usize::MAX);
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut rand_hex = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            format!("{x:016x}")
        };
        let hex_hashes: Vec<Vec<(String, String)>> = (0..HASHES)
            .map(|_| (0..10).map(|_| (rand_hex(), rand_hex())).collect())
            .collect();
        // Twice each, alternated: the first run of a process pays for warming up.
        for (name, mark) in [("raw", "g"), ("packed", ""), ("raw", "g"), ("packed", "")] {
            let pairs: Vec<Vec<(Vec<u8>, Vec<u8>)>> = hex_hashes
                .iter()
                .map(|h| {
                    h.iter()
                        .map(|(f, v)| {
                            let f = format!("{mark}{}", &f[mark.len()..]).into_bytes();
                            let v = format!("{mark}{}", &v[mark.len()..]).into_bytes();
                            (f, v)
                        })
                        .collect()
                })
                .collect();
            let mut best = [f64::MAX; 7];
            for _ in 0..5 {
                let mut hashes: Vec<Hash> = pairs
                    .iter()
                    .map(|h| {
                        let mut hash = Hash::new();
                        for (f, v) in h {
                            hash.set(f, v, no_limit, || [0; 4]);
                        }
                        hash
                    })
                    .collect();
                let t = std::time::Instant::now();
                let mut bytes = 0;
                for (h, p) in hashes.iter().zip(&pairs) {
                    bytes += h.get(&p[5].0).map_or(0, |v| v.len());
                }
                let get = t.elapsed().as_secs_f64();
                assert_eq!(bytes, 16 * HASHES);
                let t = std::time::Instant::now();
                let mut misses = 0;
                for (h, p) in hashes.iter().zip(&pairs) {
                    misses += usize::from(h.get(&p[5].1).is_none());
                }
                let miss = t.elapsed().as_secs_f64();
                assert_eq!(misses, HASHES);
                let t = std::time::Instant::now();
                for (h, p) in hashes.iter_mut().zip(&pairs) {
                    h.set(&p[5].0, &p[4].1, no_limit, || [0; 4]);
                }
                let update = t.elapsed().as_secs_f64();
                let t = std::time::Instant::now();
                for (h, p) in hashes.iter_mut().zip(&pairs) {
                    h.set(&p[5].1, &p[4].1, no_limit, || [0; 4]);
                }
                let create = t.elapsed().as_secs_f64();
                let t = std::time::Instant::now();
                let mut n = 0;
                for h in &hashes {
                    n += h.iter().map(|(f, v)| f.len() + v.len()).sum::<usize>();
                }
                let all = t.elapsed().as_secs_f64();
                assert_eq!(n, 32 * 11 * HASHES);
                let t = std::time::Instant::now();
                let mut n = 0;
                for h in &hashes {
                    h.for_each_pair(|f, v| n += f.len() + v.len());
                }
                let walk = t.elapsed().as_secs_f64();
                assert_eq!(n, 32 * 11 * HASHES);
                let t = std::time::Instant::now();
                let mut n = 0;
                for (h, p) in hashes.iter().zip(&pairs) {
                    n += h.with_value(&p[3].0, <[u8]>::len).unwrap_or(0);
                }
                let lent = t.elapsed().as_secs_f64();
                assert_eq!(n, 16 * HASHES);
                for (b, t) in best
                    .iter_mut()
                    .zip([get, miss, update, create, all, walk, lent])
                {
                    *b = b.min(t);
                }
            }
            let ns = |s: f64| s * 1e9 / HASHES as f64;
            println!(
                "{name:>6}: get {:.0} ns, miss {:.0} ns, update {:.0} ns, new field {:.0} ns, \
                 iter {:.0} ns, for_each_pair {:.0} ns, with_value {:.0} ns",
                ns(best[0]),
                ns(best[1]),
                ns(best[2]),
                ns(best[3]),
                ns(best[4]),
                ns(best[5]),
                ns(best[6])
            );
        }
    }

    /// Timing of building hashes the way `redis-benchmark hset h:__rand_int__
    /// __rand_int__ __rand_int__` does (12-digit decimal fields and values, packed)
    /// beside the same with a `g` first (raw): 96 HSETs into each of 2000 hashes, fields
    /// from 10000 values (8 zeros shared with the previous field, then a 4-digit suffix
    /// that is packed), so each walk compares packed suffixes. `cargo test --release -p keel-core --lib
    /// types::hash::tests::timing -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing only; run in release with --ignored --nocapture"]
    fn timing_hset_stream_packed_vs_raw() {
        const HASHES: usize = 2000;
        const SETS: usize = 96;
        let no_limit = limits(usize::MAX, usize::MAX);
        // Twice each, alternated: the first run of a process pays for warming up.
        for mark in ["g", "", "g", ""] {
            let mut x = 0x2545_f491_4f6c_dd1du64;
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            let ops: Vec<(Vec<u8>, Vec<u8>)> = (0..HASHES * SETS)
                .map(|_| {
                    let f = format!("{mark}{:012}", next() % 10_000);
                    let v = format!("{mark}{:012}", next() % 1_000_000_000_000);
                    (f.into_bytes(), v.into_bytes())
                })
                .collect();
            let mut best = f64::MAX;
            for _ in 0..5 {
                let mut hashes: Vec<Hash> = (0..HASHES).map(|_| Hash::new()).collect();
                let t = std::time::Instant::now();
                for (i, (f, v)) in ops.iter().enumerate() {
                    if let Some(h) = hashes.get_mut(i % HASHES) {
                        h.set(f, v, no_limit, || [0; 4]);
                    }
                }
                best = best.min(t.elapsed().as_secs_f64());
            }
            let name = if mark.is_empty() { "packed" } else { "raw" };
            println!(
                "{name:>6}: hset into growing hashes {:.0} ns",
                best * 1e9 / (HASHES * SETS) as f64
            );
        }
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
        // Header 4; first pair 1+16 + 1+16; the others 3 (tag, shared, 1 byte) + 17
        // ("v:" keeps the values raw; a one-digit suffix is cheaper raw).
        assert_eq!(buf_of(&h).len(), 4 + 34 + 9 * 20);
        // glibc serves the 218 bytes from a 240-byte chunk; that is what is counted.
        assert_eq!(h.heap_bytes(), 240);
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
        assert_eq!(h.get(b"abcd3").as_deref(), Some(&b"3"[..]));
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
        assert_eq!(h.get(b"abc").as_deref(), Some(&b"5"[..]));
        assert_eq!(h.get(b"ab").as_deref(), Some(&b"2"[..]));
        assert_eq!(h.get(b"").as_deref(), Some(&b"3"[..]));
        assert_eq!(h.get(b"abcd").as_deref(), Some(&b"4"[..]));
        assert_eq!(h.get(b"a").as_deref(), None);
        assert_eq!(h.get(b"abcde").as_deref(), None);
        assert!(h.remove(b""));
        assert_eq!(h.get(b"abcd").as_deref(), Some(&b"4"[..]));
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
        assert_eq!(h.get(b"aaaaaaa1").as_deref(), Some(&b"v"[..]));
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
                // Hex stems of both cases, one past a one-byte hex tag (33 digits).
                Just(&b"0123456789abcdef"[..]),
                Just(&b"0123456789ABCDEF"[..]),
                Just(&b"deadbeef"[..]),
                Just(&b"000000000000000000000000000000000"[..]),
            ];
            (
                stem,
                proptest::collection::vec(
                    prop_oneof![Just(b'0'), Just(b'1'), Just(b'a'), Just(b'F'), Just(b'x')],
                    0..6,
                ),
            )
                .prop_map(|(s, tail)| [s, &tail[..]].concat())
        }

        /// Any bytes, or hex digits of one case or mixed case, up to past 64 digits.
        fn value() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..20),
                "[0-9a-f]{0,70}".prop_map(String::into_bytes),
                "[0-9A-F]{0,40}".prop_map(String::into_bytes),
                "[0-9aA]{0,8}".prop_map(String::into_bytes),
                "[0-9]{0,20}".prop_map(String::into_bytes),
            ]
        }

        fn op() -> impl Strategy<Value = Op> {
            let value = value();
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
                            let got = h.get(&f);
                            prop_assert_eq!(got.as_deref(), want);
                        }
                    }
                    prop_assert_eq!(h.encoding_name(), "listpack");
                    prop_assert_eq!(h.len(), model.len());
                    prop_assert_eq!(&pairs_of(&h), &model);
                    let fresh: Vec<(&[u8], &[u8])> =
                        model.iter().map(|(f, v)| (&f[..], &v[..])).collect();
                    let fresh = packed_of(&fresh);
                    prop_assert_eq!(buf_of(&h), buf_of(&fresh));
                    prop_assert_eq!(h.heap_bytes(), chunk_bytes(buf_of(&h).len()));
                    for (f, v) in &model {
                        let got = h.get(f);
                        prop_assert_eq!(got.as_deref(), Some(&v[..]));
                        prop_assert_eq!(h.value_len(f), Some(v.len()));
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
        assert_eq!(h.get(b"f1").as_deref(), Some(&b"longer value"[..]));
        assert!(h.remove(b"f0"));
        assert!(!h.remove(b"f0"));
        h.set(b"f4", b"v", l, || [1; 4]);
        assert_eq!(h.encoding_name(), "listpack");
        h.set(b"f5", b"v", l, || [1; 4]);
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.len(), 5);
        assert_eq!(h.get(b"f1").as_deref(), Some(&b"longer value"[..]));
        assert_eq!(h.get(b"f0").as_deref(), None);
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
                assert_eq!(h.get(f).as_deref(), Some(&v[..]));
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
            assert_eq!(t.heap_bytes(), chunk_bytes(std::mem::size_of::<Table>()));
        }
    }

    #[test]
    fn table_counts_each_pair_buffer_as_its_malloc_chunk() {
        let mut t = Table::new([2; 4], 0);
        // 16 + 16 bytes do not fit a slot: one 32-byte buffer, a 48-byte glibc chunk.
        for i in 0..1000 {
            t.set(
                format!("f:{i:014}").as_bytes(),
                format!("v:{i:014}").as_bytes(),
            );
        }
        assert_eq!(t.pairs.heap_bytes() - t.pairs.overhead_bytes(), 1000 * 48);
        // Pairs that fit the slot own no buffer.
        let mut small = Table::new([2; 4], 0);
        small.set(b"f", b"v");
        assert_eq!(small.pairs.heap_bytes(), small.pairs.overhead_bytes());
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
        assert_eq!(
            pair,
            Some((Cow::Borrowed(&b"f9"[..]), Cow::Borrowed(&b"v"[..])))
        );
    }

    #[test]
    fn db_memory_returns_to_start_after_deletes() {
        use crate::keyspace::{Db, HashSeeds};
        use crate::types::Value;
        let mut db = Db::new(HashSeeds([5; 4]));
        let anchor = db.insert(b"anchor", Value::Hash(Hash::new()));
        // A slot written and freed is on the free list (not counted), no longer in the
        // growing first chunk's unwritten room (counted): start from there.
        let warm = db.insert(b"h", Value::Hash(Hash::new()));
        db.remove(warm);
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
