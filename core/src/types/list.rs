//! The list type: a deque of chunks, each one buffer of up to 128 entries that share
//! a prefix with the chunk's base string (front coding), or, for a full chunk of
//! equal-length elements front coding cannot shrink, raw fixed-width entries. Lists of
//! similar elements cost a few bytes per element, unrelated ones their bytes plus
//! about half a byte, and no element owns an allocation. Hex digits of one case are
//! packed two a byte (`hexpack`), in an entry or a whole fixed-width chunk, so random
//! hex identifiers cost half their length. Element `i` is found by
//! walking chunk counts from the nearer end.
//! `OBJECT ENCODING` says `quicklist` for every list, as Redis 7.0 does. Storage is
//! keel's own; nothing here knows about clients, config or the keyspace.

use std::collections::VecDeque;

use crate::malloc_model;
use crate::types::hexpack::{self, Hex};

/// Most entries one chunk holds. Popping from the tail walks a chunk from its start,
/// so this bounds that walk.
pub const CHUNK_MAX_ENTRIES: usize = 128;
/// Longest base (shared prefix source) a chunk keeps.
const BASE_MAX_BYTES: usize = 32;
/// A prefix shorter than this is not worth a two-byte header.
const MIN_SHARED_BYTES: usize = 2;
/// Redis's `SIZE_SAFETY_LIMIT`: the byte bound of a chunk when the fill is a count.
const SAFETY_CHUNK_BYTES: usize = 8192;

/// Chunk bounds from Redis's `list-max-listpack-size` (`fill`): a positive fill is an
/// entry count, a negative one a byte size (-1: 4 KB ... -5: 64 KB). Taken when the
/// list is created, as Redis's `quicklistSetOptions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListLimits {
    pub max_entries: u16,
    pub max_bytes: u32,
}

impl ListLimits {
    pub fn from_fill(fill: i64) -> ListLimits {
        if fill > 0 {
            ListLimits {
                max_entries: fill.min(CHUNK_MAX_ENTRIES as i64) as u16,
                max_bytes: SAFETY_CHUNK_BYTES as u32,
            }
        } else {
            // Redis clamps to the -5 (64 KB) class and treats 0 as -1... as a size.
            let class = fill.clamp(-5, -1).unsigned_abs() as u32;
            ListLimits {
                max_entries: CHUNK_MAX_ENTRIES as u16,
                max_bytes: 4096 << (class - 1),
            }
        }
    }
}

impl Default for ListLimits {
    /// Redis's default fill, -2 (8 KB chunks).
    fn default() -> Self {
        ListLimits::from_fill(-2)
    }
}

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

// ---------------------------------------------------------------------------------
// Entry encoding. A chunk's buffer is `base_len:u8 base entries...`; an entry is a
// header then the suffix that follows the `shared` bytes it takes from the base:
//   0xxxxxxx                       shared 0, raw suffix of length x (< 128)
//   10ssssss varint(len)           shared s (2..=32), raw suffix
//   11000000 varint(len)           shared 0, raw suffix of length >= 128
//   0xC1 varint(digits)            shared 0, suffix of hex digits packed, lower case
//   0xC2 varint(digits)            the same, upper case
//   0xC3 s:u8 varint(digits)       shared s, suffix packed, lower case
//   0xC4 s:u8 varint(digits)       shared s, suffix packed, upper case
// A suffix is packed only when that takes fewer bytes than raw (ties stay raw).
// ---------------------------------------------------------------------------------

const TAG_SHARED: u8 = 0x80;
/// First byte of a fixed-width chunk (`FIXED_MARK varint(width) entries...`): every
/// entry is `width` raw bytes, no header. Chosen when a full chunk's entries all have
/// one length and front coding saves less than their headers cost.
const FIXED_MARK: u8 = 0xFF;
/// First byte of a fixed-width chunk of packed hex digits
/// (`FIXED_HEX_MARK varint(digits << 1 | upper) entries...`): every entry is `digits`
/// digits of that case packed, no header.
const FIXED_HEX_MARK: u8 = 0xFE;
const TAG_LONG: u8 = 0xC0;
const TAG_HEX_LOWER: u8 = 0xC1;
const TAG_HEX_UPPER: u8 = 0xC2;
const TAG_SHARED_HEX_LOWER: u8 = 0xC3;
const TAG_SHARED_HEX_UPPER: u8 = 0xC4;

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

fn shared_len(base: &[u8], elem: &[u8]) -> usize {
    let n = base.iter().zip(elem).take_while(|(a, b)| a == b).count();
    if n >= MIN_SHARED_BYTES {
        n
    } else {
        0
    }
}

fn raw_entry_len(shared: usize, suffix_len: usize) -> usize {
    if shared == 0 && suffix_len < 0x80 {
        1 + suffix_len
    } else {
        1 + varint_len(suffix_len) + suffix_len
    }
}

fn hex_entry_len(shared: usize, hex: Hex) -> usize {
    1 + usize::from(shared != 0) + varint_len(hex.digits) + hex.packed_bytes()
}

/// How `suffix` is stored after `shared` bytes of the base: packed when smaller.
fn entry_hex(shared: usize, suffix: &[u8]) -> Option<Hex> {
    hexpack::classify(suffix)
        .filter(|&h| hex_entry_len(shared, h) < raw_entry_len(shared, suffix.len()))
}

fn encoded_len(base: &[u8], elem: &[u8]) -> usize {
    let shared = shared_len(base, elem);
    let suffix = elem.get(shared..).unwrap_or_default();
    match entry_hex(shared, suffix) {
        Some(h) => hex_entry_len(shared, h),
        None => raw_entry_len(shared, suffix.len()),
    }
}

fn encode_entry(out: &mut Vec<u8>, base: &[u8], elem: &[u8]) {
    let shared = shared_len(base, elem);
    let suffix = elem.get(shared..).unwrap_or_default();
    if let Some(h) = entry_hex(shared, suffix) {
        // shared <= BASE_MAX_BYTES (32): one byte.
        match (shared, h.upper) {
            (0, false) => out.push(TAG_HEX_LOWER),
            (0, true) => out.push(TAG_HEX_UPPER),
            (_, false) => out.extend_from_slice(&[TAG_SHARED_HEX_LOWER, shared as u8]),
            (_, true) => out.extend_from_slice(&[TAG_SHARED_HEX_UPPER, shared as u8]),
        }
        put_varint(out, h.digits);
        hexpack::pack_into(suffix, out);
        return;
    }
    if shared == 0 && suffix.len() < 0x80 {
        out.push(suffix.len() as u8);
    } else {
        out.push(if shared == 0 {
            TAG_LONG
        } else {
            TAG_SHARED | shared as u8
        });
        put_varint(out, suffix.len());
    }
    out.extend_from_slice(suffix);
}

/// One decoded entry: `shared` bytes of the base, then `buf[start..end]`, raw or
/// (`hex`) packed.
#[derive(Debug, Clone, Copy)]
struct EntryPos {
    shared: usize,
    hex: Option<Hex>,
    start: usize,
    end: usize,
}

impl EntryPos {
    /// Bytes of the element after the shared prefix.
    fn suffix_len(&self) -> usize {
        self.hex.map_or(self.end - self.start, |h| h.digits)
    }
}

fn decode_entry(buf: &[u8], off: usize) -> Option<EntryPos> {
    let tag = *buf.get(off)?;
    let (shared, hex, len, used) = match tag {
        0x00..=0x7F => (0, None, tag as usize, 1),
        TAG_LONG | 0x80..=0xBF => {
            let shared = if tag == TAG_LONG {
                0
            } else {
                (tag & 0x3f) as usize
            };
            let (len, n) = get_varint(buf, off + 1)?;
            (shared, None, len, 1 + n)
        }
        TAG_HEX_LOWER | TAG_HEX_UPPER => {
            let (digits, n) = get_varint(buf, off + 1)?;
            let h = Hex {
                digits,
                upper: tag == TAG_HEX_UPPER,
            };
            (0, Some(h), h.packed_bytes(), 1 + n)
        }
        TAG_SHARED_HEX_LOWER | TAG_SHARED_HEX_UPPER => {
            let shared = *buf.get(off + 1)? as usize;
            let (digits, n) = get_varint(buf, off + 2)?;
            let h = Hex {
                digits,
                upper: tag == TAG_SHARED_HEX_UPPER,
            };
            (shared, Some(h), h.packed_bytes(), 2 + n)
        }
        _ => return None,
    };
    let start = off + used;
    let end = start.checked_add(len)?;
    (end <= buf.len()).then_some(EntryPos {
        shared,
        hex,
        start,
        end,
    })
}

// ---------------------------------------------------------------------------------
// Chunks.
// ---------------------------------------------------------------------------------

/// Where a fixed-width chunk's entries start, how wide each is, and whether packed.
#[derive(Debug, Clone, Copy)]
struct Fixed {
    start: usize,
    width: usize,
    hex: Option<Hex>,
}

impl Fixed {
    /// True when `elem` can be an entry of this chunk as it is.
    fn holds(&self, elem: &[u8]) -> bool {
        match self.hex {
            None => elem.len() == self.width,
            Some(h) => hexpack::fits(elem, h),
        }
    }
}

#[derive(Clone)]
struct Chunk {
    buf: Vec<u8>,
    count: u32,
}

impl Chunk {
    /// The heap its buffer takes: the allocator's chunk for its capacity.
    fn alloc_bytes(&self) -> usize {
        malloc_model::chunk_bytes(self.buf.capacity())
    }

    /// An empty chunk whose base is a prefix of `first`, sized for `first` exactly.
    fn new(first: &[u8]) -> Chunk {
        let base = first.get(..BASE_MAX_BYTES).unwrap_or(first);
        let mut buf = Vec::with_capacity(1 + base.len() + encoded_len(base, first));
        buf.push(base.len() as u8);
        buf.extend_from_slice(base);
        Chunk { buf, count: 0 }
    }

    /// The layout of a fixed-width chunk; None for a front-coded one.
    fn fixed(&self) -> Option<Fixed> {
        let mark = *self.buf.first()?;
        if mark != FIXED_MARK && mark != FIXED_HEX_MARK {
            return None;
        }
        let (code, n) = get_varint(&self.buf, 1)?;
        Some(if mark == FIXED_MARK {
            Fixed {
                start: 1 + n,
                width: code,
                hex: None,
            }
        } else {
            let h = Hex {
                digits: code >> 1,
                upper: code & 1 == 1,
            };
            Fixed {
                start: 1 + n,
                width: h.packed_bytes(),
                hex: Some(h),
            }
        })
    }

    fn entries_start(&self) -> usize {
        match self.fixed() {
            Some(f) => f.start,
            None => 1 + self.buf.first().copied().unwrap_or(0) as usize,
        }
    }

    fn base(&self) -> &[u8] {
        if self.fixed().is_some() {
            return b"";
        }
        self.buf.get(1..self.entries_start()).unwrap_or(b"")
    }

    fn entry(&self, off: usize) -> EntryPos {
        let e = match self.fixed() {
            Some(f) => Some(EntryPos {
                shared: 0,
                hex: f.hex,
                start: off,
                end: off + f.width,
            })
            .filter(|e| e.end <= self.buf.len()),
            None => decode_entry(&self.buf, off),
        };
        debug_assert!(e.is_some(), "corrupt list chunk at {off}");
        e.unwrap_or(EntryPos {
            shared: 0,
            hex: None,
            start: self.buf.len(),
            end: self.buf.len(),
        })
    }

    /// Writes the element at `e` into `out` (cleared first).
    fn value_into(&self, e: EntryPos, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(self.base().get(..e.shared).unwrap_or(b""));
        let stored = self.buf.get(e.start..e.end).unwrap_or(b"");
        match e.hex {
            None => out.extend_from_slice(stored),
            Some(h) => hexpack::unpack_into(stored, h, out),
        }
    }

    fn value(&self, e: EntryPos) -> Vec<u8> {
        let mut v = Vec::with_capacity(e.shared + e.suffix_len());
        self.value_into(e, &mut v);
        v
    }

    fn equals(&self, e: EntryPos, elem: &[u8]) -> bool {
        let stored = self.buf.get(e.start..e.end).unwrap_or(b"");
        let suffix = elem.get(e.shared..).unwrap_or(b"");
        elem.len() == e.shared + e.suffix_len()
            && elem.get(..e.shared) == self.base().get(..e.shared)
            && match e.hex {
                None => suffix == stored,
                Some(h) => hexpack::equals(stored, h, suffix),
            }
    }

    /// Entry start offsets, in order.
    fn offsets(&self, out: &mut Vec<usize>) {
        out.clear();
        let mut off = self.entries_start();
        while off < self.buf.len() {
            out.push(off);
            off = self.entry(off).end;
        }
        debug_assert_eq!(out.len(), self.count as usize);
    }

    fn nth_offset(&self, n: usize) -> usize {
        if let Some(f) = self.fixed() {
            return f.start + n * f.width;
        }
        let mut off = self.entries_start();
        for _ in 0..n {
            off = self.entry(off).end;
        }
        off
    }

    fn last_offset(&self) -> usize {
        self.nth_offset((self.count as usize).saturating_sub(1))
    }

    fn fits(&self, elem: &[u8], limits: ListLimits) -> bool {
        let added = match self.fixed() {
            Some(f) if f.holds(elem) => f.width,
            // Another width or form: the chunk would have to go back to front coding.
            Some(_) => return false,
            None => encoded_len(self.base(), elem),
        };
        self.count < u32::from(limits.max_entries)
            && self.buf.len() + added <= limits.max_bytes as usize
    }

    /// The entry bytes `elem` takes here, converting a fixed-width chunk back to front
    /// coding first when `elem` has another width.
    fn encode_for(&mut self, elem: &[u8]) -> Vec<u8> {
        match self.fixed() {
            Some(f) if f.holds(elem) => {
                if f.hex.is_none() {
                    return elem.to_vec();
                }
                let mut packed = Vec::with_capacity(f.width);
                hexpack::pack_into(elem, &mut packed);
                return packed;
            }
            Some(_) => self.unfix(),
            None => {}
        }
        let mut enc = Vec::with_capacity(encoded_len(self.base(), elem));
        encode_entry(&mut enc, self.base(), elem);
        enc
    }

    /// Re-encodes a full chunk as fixed width when every entry has the same (non-zero)
    /// length and that is smaller: packed when every entry is hex digits of one case
    /// (decimal digits fit either), raw otherwise. Then trims capacity to size.
    fn seal(&mut self) {
        if self.fixed().is_none() && self.count >= 2 {
            let values = self.values();
            let w = values.first().map_or(0, Vec::len);
            if w > 0 && values.iter().all(|v| v.len() == w) {
                let fits_all = |upper| {
                    let h = Hex { digits: w, upper };
                    values.iter().all(|v| hexpack::fits(v, h)).then_some(h)
                };
                let hex = fits_all(false).or_else(|| fits_all(true));
                let (mark, code, width) = match hex {
                    Some(h) => (
                        FIXED_HEX_MARK,
                        (h.digits << 1) | usize::from(h.upper),
                        h.packed_bytes(),
                    ),
                    None => (FIXED_MARK, w, w),
                };
                let fixed_bytes = 1 + varint_len(code) + width * values.len();
                if fixed_bytes < self.buf.len() {
                    let mut buf = Vec::with_capacity(fixed_bytes);
                    buf.push(mark);
                    put_varint(&mut buf, code);
                    for v in &values {
                        if hex.is_some() {
                            hexpack::pack_into(v, &mut buf);
                        } else {
                            buf.extend_from_slice(v);
                        }
                    }
                    debug_assert_eq!(buf.len(), fixed_bytes);
                    self.buf = buf;
                }
            }
        }
        self.buf.shrink_to_fit();
    }

    /// Back from fixed width to front coding (an element of another width arrives).
    fn unfix(&mut self) {
        let values = self.values();
        let Some(first) = values.first() else {
            return;
        };
        let mut c = Chunk::new(first);
        for v in &values {
            let mut enc = Vec::new();
            encode_entry(&mut enc, c.base(), v);
            c.buf.extend_from_slice(&enc);
            c.count += 1;
        }
        *self = c;
    }

    /// Grows capacity for `extra` more bytes by about half the size at a time (only
    /// the chunks at the ends grow; full ones are trimmed to size).
    fn reserve(&mut self, extra: usize) {
        if self.buf.capacity() - self.buf.len() < extra {
            self.buf.reserve_exact(extra.max(self.buf.len() / 2));
        }
    }

    fn push_back(&mut self, elem: &[u8]) {
        let enc = self.encode_for(elem);
        self.reserve(enc.len());
        self.buf.extend_from_slice(&enc);
        self.count += 1;
    }

    fn push_front(&mut self, elem: &[u8]) {
        let enc = self.encode_for(elem);
        self.reserve(enc.len());
        let at = self.entries_start();
        self.buf.splice(at..at, enc);
        self.count += 1;
    }

    fn pop_front(&mut self) -> Vec<u8> {
        let at = self.entries_start();
        let e = self.entry(at);
        let v = self.value(e);
        self.buf.drain(at..e.end);
        self.count -= 1;
        self.trim_slack();
        v
    }

    fn pop_back(&mut self) -> Vec<u8> {
        let off = self.last_offset();
        let v = self.value(self.entry(off));
        self.buf.truncate(off);
        self.count -= 1;
        self.trim_slack();
        v
    }

    /// Gives back capacity once a chunk shrank to under half of it.
    fn trim_slack(&mut self) {
        if self.buf.capacity() > 64 && self.buf.capacity() > self.buf.len() * 2 {
            self.buf.shrink_to(self.buf.len() + self.buf.len() / 4);
        }
    }

    fn values(&self) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(self.count as usize);
        let mut off = self.entries_start();
        while off < self.buf.len() {
            let e = self.entry(off);
            out.push(self.value(e));
            off = e.end;
        }
        out
    }
}

/// Packs `values` into exactly sized chunks within `limits`.
fn pack(values: &[Vec<u8>], limits: ListLimits) -> Vec<Chunk> {
    let mut chunks: Vec<Chunk> = Vec::new();
    for v in values {
        let full = chunks.last().is_none_or(|c| !c.fits(v, limits));
        if full {
            chunks.push(Chunk::new(v));
        }
        if let Some(c) = chunks.last_mut() {
            let mut enc = Vec::new();
            encode_entry(&mut enc, c.base(), v);
            c.buf.extend_from_slice(&enc);
            c.count += 1;
        }
    }
    for c in &mut chunks {
        c.seal();
    }
    chunks
}

// ---------------------------------------------------------------------------------
// The list.
// ---------------------------------------------------------------------------------

#[derive(Clone, Default)]
pub struct List {
    chunks: VecDeque<Chunk>,
    len: usize,
    /// Sum of the chunks' `alloc_bytes`.
    chunk_bytes: usize,
    limits: ListLimitsPacked,
}

/// `ListLimits` kept in 4 bytes inside a list.
#[derive(Clone, Copy, Debug)]
struct ListLimitsPacked {
    max_entries: u8,
    /// Bytes in KB units.
    max_kb: u8,
}

impl Default for ListLimitsPacked {
    fn default() -> Self {
        ListLimitsPacked::from(ListLimits::default())
    }
}

impl From<ListLimits> for ListLimitsPacked {
    fn from(l: ListLimits) -> Self {
        ListLimitsPacked {
            max_entries: l.max_entries.clamp(1, CHUNK_MAX_ENTRIES as u16) as u8,
            max_kb: (l.max_bytes / 1024).clamp(1, 255) as u8,
        }
    }
}

impl ListLimitsPacked {
    fn get(self) -> ListLimits {
        ListLimits {
            max_entries: u16::from(self.max_entries),
            max_bytes: u32::from(self.max_kb) * 1024,
        }
    }
}

impl List {
    pub fn new(limits: ListLimits) -> List {
        List {
            chunks: VecDeque::new(),
            len: 0,
            chunk_bytes: 0,
            limits: limits.into(),
        }
    }

    /// Redis 7.0 reports every list as a quicklist.
    pub fn encoding_name(&self) -> &'static str {
        "quicklist"
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// Chunks (Redis's quicklist nodes) the list is stored in.
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes owned, O(1), each allocation counted as its chunk (`malloc_model`).
    pub fn heap_bytes(&self) -> usize {
        malloc_model::chunk_bytes(self.chunks.capacity() * std::mem::size_of::<Chunk>())
            + self.chunk_bytes
    }

    /// Runs `f` on chunk `i` keeping `chunk_bytes` exact.
    fn with_chunk<R>(&mut self, i: usize, f: impl FnOnce(&mut Chunk) -> R) -> Option<R> {
        let c = self.chunks.get_mut(i)?;
        let before = c.alloc_bytes();
        let r = f(c);
        self.chunk_bytes = self.chunk_bytes + c.alloc_bytes() - before;
        Some(r)
    }

    fn remove_chunk(&mut self, i: usize) -> Option<Chunk> {
        let c = self.chunks.remove(i)?;
        self.chunk_bytes -= c.alloc_bytes();
        self.len -= c.count as usize;
        if self.chunks.is_empty() {
            self.chunks = VecDeque::new();
        } else if self.chunks.capacity() > 8 && self.chunks.capacity() > self.chunks.len() * 4 {
            self.chunks.shrink_to(self.chunks.len() * 2);
        }
        Some(c)
    }

    fn insert_chunks(&mut self, at: usize, chunks: Vec<Chunk>) {
        for (k, c) in chunks.into_iter().enumerate() {
            self.chunk_bytes += c.alloc_bytes();
            self.len += c.count as usize;
            if self.chunks.len() == self.chunks.capacity() && self.chunks.len() < 4 {
                self.chunks.reserve_exact(1);
            }
            self.chunks.insert(at + k, c);
        }
    }

    pub fn push(&mut self, elem: &[u8], end: End) {
        match end {
            End::Head => self.push_front(elem),
            End::Tail => self.push_back(elem),
        }
    }

    pub fn push_back(&mut self, elem: &[u8]) {
        let limits = self.limits.get();
        let last = self.chunks.len().wrapping_sub(1);
        if self.chunks.back().is_some_and(|c| c.fits(elem, limits)) {
            self.with_chunk(last, |c| c.push_back(elem));
            self.len += 1;
            return;
        }
        // The old tail chunk is full for good: trim it to size.
        self.with_chunk(last, Chunk::seal);
        let mut c = Chunk::new(elem);
        c.push_back(elem);
        let at = self.chunks.len();
        self.insert_chunks(at, vec![c]);
    }

    pub fn push_front(&mut self, elem: &[u8]) {
        let limits = self.limits.get();
        if self.chunks.front().is_some_and(|c| c.fits(elem, limits)) {
            self.with_chunk(0, |c| c.push_front(elem));
            self.len += 1;
            return;
        }
        self.with_chunk(0, Chunk::seal);
        let mut c = Chunk::new(elem);
        c.push_back(elem);
        self.insert_chunks(0, vec![c]);
    }

    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        let i = match end {
            End::Head => 0,
            End::Tail => self.chunks.len() - 1,
        };
        let v = self.with_chunk(i, |c| match end {
            End::Head => c.pop_front(),
            End::Tail => c.pop_back(),
        })?;
        self.len -= 1;
        if self.chunks.get(i).is_some_and(|c| c.count == 0) {
            self.remove_chunk(i);
        }
        Some(v)
    }

    /// (chunk, position inside it) of element `index` (< len), walking chunk counts
    /// from the nearer end.
    fn locate(&self, index: usize) -> Option<(usize, usize)> {
        if index >= self.len {
            return None;
        }
        if index < self.len / 2 {
            let mut rest = index;
            for (i, c) in self.chunks.iter().enumerate() {
                if rest < c.count as usize {
                    return Some((i, rest));
                }
                rest -= c.count as usize;
            }
        } else {
            let mut from_end = self.len - index; // >= 1
            for (i, c) in self.chunks.iter().enumerate().rev() {
                if from_end <= c.count as usize {
                    return Some((i, c.count as usize - from_end));
                }
                from_end -= c.count as usize;
            }
        }
        None
    }

    pub fn get(&self, index: usize) -> Option<Vec<u8>> {
        let (ci, pos) = self.locate(index)?;
        let c = self.chunks.get(ci)?;
        Some(c.value(c.entry(c.nth_offset(pos))))
    }

    /// Replaces chunk `ci` by `values` packed afresh; returns how many chunks replaced it.
    fn rebuild(&mut self, ci: usize, values: &[Vec<u8>]) -> usize {
        self.remove_chunk(ci);
        let packed = pack(values, self.limits.get());
        let n = packed.len();
        self.insert_chunks(ci, packed);
        n
    }

    /// True when chunks `i` and `i + 1` fit in one.
    fn mergeable(&self, i: usize) -> bool {
        let limits = self.limits.get();
        match (self.chunks.get(i), self.chunks.get(i + 1)) {
            (Some(a), Some(b)) => {
                a.count + b.count <= u32::from(limits.max_entries)
                    && a.buf.len() + b.buf.len() <= limits.max_bytes as usize
            }
            _ => false,
        }
    }

    fn merge(&mut self, i: usize) {
        let (Some(a), Some(b)) = (self.chunks.get(i), self.chunks.get(i + 1)) else {
            return;
        };
        let mut values = a.values();
        values.extend(b.values());
        self.remove_chunk(i + 1);
        self.rebuild(i, &values);
    }

    /// Merges chunk `ci` with a neighbour when both fit in one, so deletions in the
    /// middle do not leave a trail of small chunks.
    fn merge_around(&mut self, ci: usize) {
        if ci > 0 && self.mergeable(ci - 1) {
            self.merge(ci - 1);
        } else if self.mergeable(ci) {
            self.merge(ci);
        }
    }

    /// One pass merging every adjacent pair that fits in one chunk.
    fn compact(&mut self) {
        let mut i = 0;
        while i + 1 < self.chunks.len() {
            if self.mergeable(i) {
                self.merge(i);
            } else {
                i += 1;
            }
        }
    }

    /// LSET: replaces element `index`; false when out of range.
    pub fn set(&mut self, index: usize, elem: &[u8]) -> bool {
        let Some((ci, pos)) = self.locate(index) else {
            return false;
        };
        let Some(mut values) = self.chunks.get(ci).map(Chunk::values) else {
            return false;
        };
        if let Some(v) = values.get_mut(pos) {
            *v = elem.to_vec();
        }
        self.rebuild(ci, &values);
        true
    }

    /// Inserts `elem` so it becomes element `index` (`index <= len`).
    pub fn insert(&mut self, index: usize, elem: &[u8]) {
        if index == 0 {
            return self.push_front(elem);
        }
        if index >= self.len {
            return self.push_back(elem);
        }
        let Some((ci, pos)) = self.locate(index) else {
            return;
        };
        // Before the first element of a chunk: append to the previous one if it has room.
        let limits = self.limits.get();
        if pos == 0
            && ci > 0
            && self
                .chunks
                .get(ci - 1)
                .is_some_and(|c| c.fits(elem, limits))
        {
            self.with_chunk(ci - 1, |c| c.push_back(elem));
            self.len += 1;
            return;
        }
        let Some(mut values) = self.chunks.get(ci).map(Chunk::values) else {
            return;
        };
        values.insert(pos, elem.to_vec());
        self.rebuild(ci, &values);
    }

    /// Removes `count` elements from `start` on (clamped to the list).
    pub fn remove_range(&mut self, start: usize, count: usize) {
        let count = count.min(self.len.saturating_sub(start));
        if count == 0 {
            return;
        }
        let Some((mut ci, mut within)) = self.locate(start) else {
            return;
        };
        let mut remaining = count;
        let mut touched = None;
        while remaining > 0 {
            let Some(c) = self.chunks.get(ci) else { break };
            let n = c.count as usize;
            if within == 0 && n <= remaining {
                self.remove_chunk(ci);
                remaining -= n;
                continue;
            }
            let take = (n - within).min(remaining);
            let mut values = c.values();
            values.drain(within..within + take);
            let made = self.rebuild(ci, &values);
            touched = Some(ci);
            remaining -= take;
            ci += made;
            within = 0;
        }
        if let Some(ci) = touched {
            self.merge_around(ci.min(self.chunks.len().saturating_sub(1)));
        }
    }

    /// Removes up to `limit` elements equal to `elem` (all when `limit` is 0), from
    /// the head or from the tail. Returns how many went.
    pub fn remove_matching(&mut self, elem: &[u8], limit: usize, from: End) -> usize {
        let mut removed = 0usize;
        let n_chunks = self.chunks.len();
        let order: Vec<usize> = match from {
            End::Head => (0..n_chunks).collect(),
            End::Tail => (0..n_chunks).rev().collect(),
        };
        let mut offsets = Vec::new();
        // Chunk indices shift as chunks are rebuilt: find the matches first.
        let mut edits: Vec<(usize, Vec<bool>)> = Vec::new();
        for ci in order {
            if limit != 0 && removed >= limit {
                break;
            }
            let Some(c) = self.chunks.get(ci) else {
                continue;
            };
            c.offsets(&mut offsets);
            let mut drop = vec![false; offsets.len()];
            let mut any = false;
            let positions: Vec<usize> = match from {
                End::Head => (0..offsets.len()).collect(),
                End::Tail => (0..offsets.len()).rev().collect(),
            };
            for p in positions {
                if limit != 0 && removed >= limit {
                    break;
                }
                let (Some(&offset), Some(flag)) = (offsets.get(p), drop.get_mut(p)) else {
                    continue;
                };
                if c.equals(c.entry(offset), elem) {
                    *flag = true;
                    any = true;
                    removed += 1;
                }
            }
            if any {
                edits.push((ci, drop));
            }
        }
        // Apply from the highest chunk index down so earlier indices stay valid.
        edits.sort_by_key(|e| std::cmp::Reverse(e.0));
        for (ci, drop) in edits {
            let Some(c) = self.chunks.get(ci) else {
                continue;
            };
            let values: Vec<Vec<u8>> = c
                .values()
                .into_iter()
                .zip(drop)
                .filter_map(|(v, d)| (!d).then_some(v))
                .collect();
            self.rebuild(ci, &values);
        }
        if removed > 0 {
            self.compact();
        }
        removed
    }

    /// Calls `f(index, element)` from `index` towards the tail (or the head when
    /// `reverse`) until `f` returns false or the list ends.
    pub fn walk(&self, index: usize, reverse: bool, mut f: impl FnMut(usize, &[u8]) -> bool) {
        let Some((ci, pos)) = self.locate(index) else {
            return;
        };
        let mut scratch = Vec::new();
        let mut offsets = Vec::new();
        let mut i = index;
        if !reverse {
            for (k, c) in self.chunks.iter().enumerate().skip(ci) {
                let mut off = if k == ci {
                    c.nth_offset(pos)
                } else {
                    c.entries_start()
                };
                while off < c.buf.len() {
                    let e = c.entry(off);
                    c.value_into(e, &mut scratch);
                    if !f(i, &scratch) {
                        return;
                    }
                    i += 1;
                    off = e.end;
                }
            }
        } else {
            for (k, c) in self.chunks.iter().enumerate().take(ci + 1).rev() {
                c.offsets(&mut offsets);
                let upto = if k == ci { pos + 1 } else { offsets.len() };
                for &off in offsets.iter().take(upto).rev() {
                    c.value_into(c.entry(off), &mut scratch);
                    if !f(i, &scratch) {
                        return;
                    }
                    i = i.wrapping_sub(1);
                }
            }
        }
    }

    /// Every element, head to tail (for tests, DEBUG and comparisons).
    pub fn iter_values(&self) -> impl Iterator<Item = Vec<u8>> + '_ {
        self.chunks.iter().flat_map(Chunk::values)
    }

    /// Checks the structure's invariants (tests and debug builds).
    pub fn check(&self) -> Result<(), String> {
        let limits = self.limits.get();
        let mut len = 0;
        let mut bytes = 0;
        for (i, c) in self.chunks.iter().enumerate() {
            if c.count == 0 {
                return Err(format!("chunk {i} is empty"));
            }
            if c.count > u32::from(limits.max_entries) {
                return Err(format!("chunk {i} holds {} entries", c.count));
            }
            if c.count > 1 && c.buf.len() > limits.max_bytes as usize {
                return Err(format!("chunk {i} holds {} bytes", c.buf.len()));
            }
            let mut n = 0;
            let mut off = c.entries_start();
            if let Some(f) = c.fixed() {
                let w = f.width;
                if w == 0 || (c.buf.len() - off) % w != 0 {
                    return Err(format!(
                        "chunk {i} of width {w} holds {} bytes",
                        c.buf.len()
                    ));
                }
            }
            while off < c.buf.len() {
                let e = match c.fixed() {
                    Some(f) => EntryPos {
                        shared: 0,
                        hex: f.hex,
                        start: off,
                        end: off + f.width,
                    },
                    None => {
                        decode_entry(&c.buf, off).ok_or(format!("chunk {i} corrupt at {off}"))?
                    }
                };
                if e.shared > c.base().len() {
                    return Err(format!("chunk {i} entry shares beyond the base"));
                }
                off = e.end;
                n += 1;
            }
            if n != c.count {
                return Err(format!("chunk {i} counts {} but holds {n}", c.count));
            }
            len += n as usize;
            bytes += c.alloc_bytes();
        }
        if len != self.len {
            return Err(format!("len {} but chunks hold {len}", self.len));
        }
        if bytes != self.chunk_bytes {
            return Err(format!("chunk_bytes {} but {bytes}", self.chunk_bytes));
        }
        Ok(())
    }
}

impl PartialEq for List {
    /// Same elements in the same order, whatever the chunking.
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter_values().eq(other.iter_values())
    }
}

impl std::fmt::Debug for List {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.iter_values()
                    .map(|v| String::from_utf8_lossy(&v).into_owned()),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model_check(list: &List, model: &VecDeque<Vec<u8>>) {
        list.check().unwrap();
        assert_eq!(list.len(), model.len());
        let got: Vec<Vec<u8>> = list.iter_values().collect();
        let want: Vec<Vec<u8>> = model.iter().cloned().collect();
        assert_eq!(got, want);
    }

    fn elem(x: u64) -> Vec<u8> {
        let h = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        match x % 9 {
            0 => format!("{:016}", x / 5).into_bytes(),
            1 => format!("{}", x).into_bytes(),
            2 => vec![b'z'; (x % 300) as usize],
            3 => Vec::new(),
            // Hex of either case, odd lengths, mixed case (stays raw), a long run.
            4 => format!("{h:x}").into_bytes(),
            5 => format!("{:X}", h >> 4).into_bytes(),
            6 => format!("{h:x}{h:X}").into_bytes(),
            7 => format!("{:0>300}", format!("{h:x}")).into_bytes(),
            _ => format!("user:{}:name", x % 17).into_bytes(),
        }
    }

    #[test]
    fn encoding_round_trips() {
        let base = b"prefix-0000";
        for e in [
            &b""[..],
            b"p",
            b"pr",
            b"prefix-0000",
            b"prefix-0000-and-more",
            b"other",
            &[b'x'; 127],
            &[b'x'; 128],
            &[b'x'; 20000],
            &[b'0'; 20000],
            b"0",
            b"00",
            b"000",
            b"deadbeef",
            b"DEADBEEF",
            b"DeadBeef",
            b"prefix-0000abcdef01",
            b"prefix-0000ABCDEF01",
            b"prefix-0000ABCDEF012",
        ] {
            let mut out = Vec::new();
            encode_entry(&mut out, base, e);
            assert_eq!(out.len(), encoded_len(base, e));
            let d = decode_entry(&out, 0).unwrap();
            assert_eq!(d.end, out.len());
            let mut v = base[..d.shared].to_vec();
            match d.hex {
                None => v.extend_from_slice(&out[d.start..d.end]),
                Some(h) => hexpack::unpack_into(&out[d.start..d.end], h, &mut v),
            }
            assert_eq!(v, e);
            assert_eq!(d.shared + d.suffix_len(), e.len());
        }
        // The packed forms: tag, (shared), digit count, digits.
        let mut out = Vec::new();
        encode_entry(&mut out, base, b"DEADBEEF");
        assert_eq!(out, [TAG_HEX_UPPER, 8, 0xDE, 0xAD, 0xBE, 0xEF]);
        out.clear();
        encode_entry(&mut out, base, b"prefix-0000abcdef01");
        assert_eq!(out, [TAG_SHARED_HEX_LOWER, 11, 8, 0xAB, 0xCD, 0xEF, 0x01]);
        // Three digits: raw 4 bytes, packed 4 bytes: raw.
        out.clear();
        encode_entry(&mut out, base, b"123");
        assert_eq!(out, [3, b'1', b'2', b'3']);
        // Unknown tags are corrupt, not misread.
        for tag in [0xC5u8, 0xFD, 0xFE, 0xFF] {
            assert!(decode_entry(&[tag, 1, 0], 0).is_none(), "{tag:#x}");
        }
    }

    mod round_trip {
        use super::*;
        use proptest::prelude::*;

        /// Arbitrary bytes, hex of each case and mixed, odd lengths, empty, and hex
        /// after stems neighbours share (so packed suffixes follow shared prefixes).
        fn element() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..24),
                "[0-9a-f]{0,40}".prop_map(String::into_bytes),
                "[0-9A-F]{0,40}".prop_map(String::into_bytes),
                "[0-9a-fA-F]{0,12}".prop_map(String::into_bytes),
                "(id:|0123456789ab|DEAD)[0-9a-f]{0,20}".prop_map(String::into_bytes),
                "[0-9a-f]{16}".prop_map(String::into_bytes),
                "[0-9A-F]{7}".prop_map(String::into_bytes),
            ]
        }

        proptest! {
            /// Pushed at either end (chunks seal, some fixed-width and packed), read
            /// back element for element, then edited in the middle.
            #[test]
            fn elements_read_back_exactly(
                fill in prop_oneof![Just(-2i64), Just(3), Just(16)],
                pushes in proptest::collection::vec((element(), any::<bool>()), 1..300),
                edit in element(),
            ) {
                let mut list = List::new(ListLimits::from_fill(fill));
                let mut model = VecDeque::new();
                for (e, front) in pushes {
                    if front {
                        list.push_front(&e);
                        model.push_front(e);
                    } else {
                        list.push_back(&e);
                        model.push_back(e);
                    }
                }
                prop_assert!(list.check().is_ok());
                prop_assert!(list.iter_values().eq(model.iter().cloned()));
                for (i, e) in model.iter().enumerate() {
                    let got = list.get(i);
                    prop_assert_eq!(got.as_ref(), Some(e));
                }
                let mid = model.len() / 2;
                list.set(mid, &edit);
                model[mid] = edit.clone();
                let first = model[0].clone();
                let want = model.iter().filter(|e| **e == first).count();
                prop_assert_eq!(list.remove_matching(&first, 0, End::Head), want);
                model.retain(|e| *e != first);
                prop_assert!(list.check().is_ok());
                prop_assert!(list.iter_values().eq(model.iter().cloned()));
            }
        }
    }

    #[test]
    fn random_hex_lists_pack_to_half() {
        for upper in [false, true] {
            let mut list = List::new(ListLimits::default());
            let mut model = VecDeque::new();
            let mut x = 0x2545_f491_4f6c_dd1du64;
            for _ in 0..10_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let e = if upper {
                    format!("{x:016X}")
                } else {
                    format!("{x:016x}")
                };
                list.push_back(e.as_bytes());
                model.push_back(e.into_bytes());
            }
            model_check(&list, &model);
            let per = list.heap_bytes() as f64 / 10_000.0;
            assert!(per < 8.6, "{per} bytes per element");
            let packed = list
                .chunks
                .iter()
                .filter(|c| {
                    c.fixed()
                        .is_some_and(|f| f.hex == Some(Hex { digits: 16, upper }))
                })
                .count();
            assert!(packed > 70, "{packed} packed chunks");
            // Reads, searches and edits of packed entries.
            assert_eq!(list.get(4321), model.get(4321).cloned());
            let probe = model[777].clone();
            assert_eq!(list.remove_matching(&probe, 1, End::Head), 1);
            model.remove(777);
            // Decimal digits fit either case; another case or width unpacks the chunk.
            list.set(10, b"0123456789012345");
            model[10] = b"0123456789012345".to_vec();
            list.set(
                300,
                if upper {
                    b"abcdef0123456789"
                } else {
                    b"ABCDEF0123456789"
                },
            );
            model[300] = if upper {
                b"abcdef0123456789".to_vec()
            } else {
                b"ABCDEF0123456789".to_vec()
            };
            list.insert(600, b"abc");
            model.insert(600, b"abc".to_vec());
            model_check(&list, &model);
            assert_eq!(list.remove_matching(b"0123456789012345", 0, End::Tail), 1);
            model.remove(10);
            model_check(&list, &model);
        }
    }

    #[test]
    fn limits_from_fill() {
        assert_eq!(ListLimits::from_fill(-2).max_bytes, 8192);
        assert_eq!(ListLimits::from_fill(-1).max_bytes, 4096);
        assert_eq!(ListLimits::from_fill(-5).max_bytes, 65536);
        assert_eq!(ListLimits::from_fill(-100).max_bytes, 65536);
        assert_eq!(ListLimits::from_fill(0).max_bytes, 4096);
        assert_eq!(ListLimits::from_fill(5).max_entries, 5);
        assert_eq!(ListLimits::from_fill(100000).max_entries, 128);
    }

    /// Random operations against a VecDeque model, with several chunk limits.
    #[test]
    fn matches_model_under_random_operations() {
        for (fill, uniform) in [
            (-2, false),
            (1, false),
            (3, false),
            (7, false),
            (-2, true),
            (5, true),
        ] {
            let mut list = List::new(ListLimits::from_fill(fill));
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            let mut saw_fixed = false;
            let mut saw_fixed_hex = false;
            let mut x = 0x9e3779b97f4a7c15u64 ^ fill as u64;
            let mut next = || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            };
            for step in 0..4000 {
                let r = next();
                let e = if uniform && r % 19 != 0 {
                    // One width mostly, so full chunks go fixed-width (and back).
                    let pool = (next() % 50).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    if fill % 2 == 0 {
                        format!("{pool:016x}").into_bytes()
                    } else {
                        format!("{pool:016X}").into_bytes()
                    }
                } else {
                    elem(next() % 40)
                };
                match r % 12 {
                    0 | 1 => {
                        list.push_back(&e);
                        model.push_back(e);
                    }
                    2 | 3 => {
                        list.push_front(&e);
                        model.push_front(e);
                    }
                    4 => assert_eq!(list.pop(End::Head), model.pop_front()),
                    5 => assert_eq!(list.pop(End::Tail), model.pop_back()),
                    6 if !model.is_empty() => {
                        let i = (next() as usize) % model.len();
                        assert_eq!(list.get(i).as_ref(), model.get(i));
                        assert!(list.set(i, &e));
                        model[i] = e;
                    }
                    7 => {
                        let i = (next() as usize) % (model.len() + 1);
                        list.insert(i, &e);
                        model.insert(i, e);
                    }
                    8 if !model.is_empty() => {
                        let start = (next() as usize) % model.len();
                        let n = (next() as usize) % 20;
                        list.remove_range(start, n);
                        let end = (start + n).min(model.len());
                        model.drain(start..end);
                    }
                    9 => {
                        let limit = (next() % 4) as usize;
                        let from = if next() % 2 == 0 {
                            End::Head
                        } else {
                            End::Tail
                        };
                        let got = list.remove_matching(&e, limit, from);
                        let mut removed = 0;
                        let idx: Vec<usize> = match from {
                            End::Head => (0..model.len()).collect(),
                            End::Tail => (0..model.len()).rev().collect(),
                        };
                        let mut gone = vec![];
                        for i in idx {
                            if limit != 0 && removed == limit {
                                break;
                            }
                            if model[i] == e {
                                gone.push(i);
                                removed += 1;
                            }
                        }
                        gone.sort_unstable();
                        for i in gone.into_iter().rev() {
                            model.remove(i);
                        }
                        assert_eq!(got, removed, "step {step}");
                    }
                    10 if !model.is_empty() => {
                        let i = (next() as usize) % model.len();
                        let mut fwd = Vec::new();
                        list.walk(i, false, |k, v| {
                            fwd.push((k, v.to_vec()));
                            true
                        });
                        let want: Vec<(usize, Vec<u8>)> =
                            (i..model.len()).map(|k| (k, model[k].clone())).collect();
                        assert_eq!(fwd, want);
                        let mut back = Vec::new();
                        list.walk(i, true, |k, v| {
                            back.push((k, v.to_vec()));
                            k > 0
                        });
                        let want: Vec<(usize, Vec<u8>)> =
                            (0..=i).rev().map(|k| (k, model[k].clone())).collect();
                        assert_eq!(back, want);
                    }
                    _ => {}
                }
                if step % 97 == 0 {
                    model_check(&list, &model);
                }
                saw_fixed |= list.chunks.iter().any(|c| c.fixed().is_some());
                saw_fixed_hex |= list
                    .chunks
                    .iter()
                    .any(|c| c.fixed().is_some_and(|f| f.hex.is_some()));
            }
            assert!(
                saw_fixed || !uniform,
                "fill {fill}: no fixed-width chunk formed"
            );
            assert!(
                saw_fixed_hex || !uniform || fill == 1,
                "fill {fill}: no packed fixed-width chunk formed"
            );
            model_check(&list, &model);
            while list.pop(End::Head).is_some() {}
            assert_eq!(list.heap_bytes(), 0);
        }
    }

    #[test]
    fn similar_elements_are_compact() {
        let mut list = List::new(ListLimits::default());
        for i in 0..100_000 {
            list.push_back(format!("{i:016}").as_bytes());
        }
        list.check().unwrap();
        let per = list.heap_bytes() as f64 / 100_000.0;
        assert!(per < 8.0, "{per} bytes per element");
        assert_eq!(list.get(54321), Some(format!("{:016}", 54321).into_bytes()));
        // Unrelated elements: about the raw bytes plus one header byte.
        let mut list = List::new(ListLimits::default());
        for i in 0..10_000u64 {
            let v = i.wrapping_mul(0x9e3779b97f4a7c15).to_le_bytes();
            let mut e = v.to_vec();
            e.extend_from_slice(&v);
            list.push_back(&e);
        }
        let per = list.heap_bytes() as f64 / 10_000.0;
        assert!(per < 16.6, "{per} bytes per element");
        assert!(
            list.chunks
                .iter()
                .filter(|c| c.fixed().is_some_and(|f| f.width == 16 && f.hex.is_none()))
                .count()
                > 70
        );
        list.check().unwrap();
        // A different width into a fixed-width chunk turns it back to front coding.
        list.set(5, b"short");
        list.insert(130, b"");
        list.check().unwrap();
        assert_eq!(list.get(5), Some(b"short".to_vec()));
        assert_eq!(list.get(130), Some(Vec::new()));
        assert_eq!(list.len(), 10_001);
    }
}
