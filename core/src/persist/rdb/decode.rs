//! Reading: a streaming parser over bytes fed in chunks. Each item (an opcode and
//! what follows it, or one key) is parsed from the bytes buffered so far; when they
//! run out the item is retried once more arrive, so memory is bounded by the largest
//! single item, never the file, and nothing is allocated because a length prefix
//! says so (a string is taken only once its bytes are all here).

use std::borrow::Cow;

use super::listpack::{read_intset, read_listpack, read_ziplist, read_zipmap, Elem};
use super::{
    crc64::crc64, lzf, opcode, vtype, LoadLimits, RdbError, RdbItem, SeedSource, RDB_VERSION,
};
use crate::mutants::{Mutant, Mutants};
use crate::types::hash::SetOutcome;
use crate::types::{Hash, List, Set, StrValue, Value, ZSet};

/// Why an item could not be parsed from the bytes at hand.
#[derive(Debug)]
pub(crate) enum Stop {
    /// At least this many bytes (from the item's start) are needed.
    Need(usize),
    /// Malformed at this position (from the item's start).
    Bad { at: usize, message: String },
}

/// A position in the buffered bytes of one item.
pub(crate) struct Cur<'a> {
    data: &'a [u8],
    pub(crate) pos: usize,
}

/// A length as `rdbLoadLen` reads it: a plain length, or a special string encoding.
enum Len {
    Plain(u64),
    Encoded(u8),
}

impl<'a> Cur<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Cur { data, pos: 0 }
    }

    pub(crate) fn bad(&self, message: impl Into<String>) -> Stop {
        Stop::Bad {
            at: self.pos,
            message: message.into(),
        }
    }

    fn bad_at(&self, at: usize, message: impl Into<String>) -> Stop {
        Stop::Bad {
            at,
            message: message.into(),
        }
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Stop> {
        let b = *self.data.get(self.pos).ok_or(Stop::Need(self.pos + 1))?;
        self.pos += 1;
        Ok(b)
    }

    /// `n` bytes, where `n` came from the input: nothing is taken (or allocated)
    /// until they are all buffered.
    pub(crate) fn take(&mut self, n: u64) -> Result<&'a [u8], Stop> {
        let need = usize::try_from(n)
            .ok()
            .and_then(|n| self.pos.checked_add(n))
            .ok_or(Stop::Need(usize::MAX))?;
        let bytes = self.data.get(self.pos..need).ok_or(Stop::Need(need))?;
        self.pos = need;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Stop> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N as u64)?);
        Ok(out)
    }

    pub(crate) fn u64_le(&mut self) -> Result<u64, Stop> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn len_or_encoding(&mut self) -> Result<Len, Stop> {
        let at = self.pos;
        let b = self.u8()?;
        match b >> 6 {
            0 => Ok(Len::Plain(u64::from(b & 0x3f))),
            1 => Ok(Len::Plain(
                (u64::from(b & 0x3f) << 8) | u64::from(self.u8()?),
            )),
            2 => match b {
                0x80 => Ok(Len::Plain(u64::from(u32::from_be_bytes(self.array()?)))),
                0x81 => Ok(Len::Plain(u64::from_be_bytes(self.array()?))),
                _ => Err(self.bad_at(at, format!("Unknown length encoding {b} in rdbLoadLen()"))),
            },
            _ => Ok(Len::Encoded(b & 0x3f)),
        }
    }

    /// A plain length (an encoded-string marker here is corruption).
    pub(crate) fn len(&mut self) -> Result<u64, Stop> {
        let at = self.pos;
        match self.len_or_encoding()? {
            Len::Plain(n) => Ok(n),
            Len::Encoded(_) => Err(self.bad_at(at, "encoded string where a length was expected")),
        }
    }

    /// A length that must fit a `usize` (a count or an index).
    pub(crate) fn len_usize(&mut self) -> Result<usize, Stop> {
        let at = self.pos;
        let n = self.len()?;
        usize::try_from(n).map_err(|_| self.bad_at(at, format!("length {n} out of range")))
    }

    /// Redis's `rdbGenericLoadStringObject`: raw, int-encoded or LZF.
    pub(crate) fn string(&mut self) -> Result<Cow<'a, [u8]>, Stop> {
        let at = self.pos;
        match self.len_or_encoding()? {
            Len::Plain(n) => Ok(Cow::Borrowed(self.take(n)?)),
            Len::Encoded(0) => Ok(Cow::Owned((self.u8()? as i8).to_string().into_bytes())),
            Len::Encoded(1) => Ok(Cow::Owned(
                i16::from_le_bytes(self.array()?).to_string().into_bytes(),
            )),
            Len::Encoded(2) => Ok(Cow::Owned(
                i32::from_le_bytes(self.array()?).to_string().into_bytes(),
            )),
            Len::Encoded(3) => {
                let clen = self.len()?;
                let ulen = self.len()?;
                let data = self.take(clen)?;
                if ulen == 0 {
                    return Err(self.bad_at(at, "LZF string with zero length"));
                }
                let ulen = usize::try_from(ulen)
                    .map_err(|_| self.bad_at(at, "LZF length out of range"))?;
                lzf::decompress(data, ulen)
                    .map(Cow::Owned)
                    .map_err(|e| self.bad_at(at, format!("Invalid LZF compressed string ({e:?})")))
            }
            Len::Encoded(e) => {
                Err(self.bad_at(at, format!("Unknown RDB string encoding type {e}")))
            }
        }
    }

    /// Steps over one string without building it (no decompression, no copy).
    fn skip_string(&mut self) -> Result<(), Stop> {
        let at = self.pos;
        match self.len_or_encoding()? {
            Len::Plain(n) => self.take(n).map(|_| ()),
            Len::Encoded(0) => self.take(1).map(|_| ()),
            Len::Encoded(1) => self.take(2).map(|_| ()),
            Len::Encoded(2) => self.take(4).map(|_| ()),
            Len::Encoded(3) => {
                let clen = self.len()?;
                self.len()?;
                self.take(clen).map(|_| ())
            }
            Len::Encoded(e) => {
                Err(self.bad_at(at, format!("Unknown RDB string encoding type {e}")))
            }
        }
    }

    /// Redis's `rdbLoadDoubleValue` (RDB ZSET type 3: scores as text).
    fn double_text(&mut self) -> Result<f64, Stop> {
        let at = self.pos;
        match self.u8()? {
            255 => Ok(f64::NEG_INFINITY),
            254 => Ok(f64::INFINITY),
            253 => Ok(f64::NAN),
            n => {
                let text = self.take(u64::from(n))?;
                std::str::from_utf8(text)
                    .ok()
                    .and_then(|t| t.trim().parse::<f64>().ok())
                    .ok_or_else(|| self.bad_at(at, "unreadable double value"))
            }
        }
    }

    fn binary_double(&mut self) -> Result<f64, Stop> {
        Ok(f64::from_le_bytes(self.array()?))
    }
}

/// A key as error messages show it.
pub(crate) fn show_key(key: &[u8]) -> String {
    let shown: String = String::from_utf8_lossy(key).chars().take(64).collect();
    format!("'{shown}'")
}

/// "key 'k': " before a message about a value, or nothing when there is no key
/// (a RESTORE payload).
fn key_prefix(key: &[u8]) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("key {}: ", show_key(key))
    }
}

/// Which types keel refuses, by name.
fn unsupported_type(t: u8) -> Option<&'static str> {
    match t {
        vtype::STREAM_LISTPACKS | vtype::STREAM_LISTPACKS_2 | vtype::STREAM_LISTPACKS_3 => {
            Some("stream")
        }
        vtype::MODULE_PRE_GA | vtype::MODULE_2 => Some("module"),
        _ => None,
    }
}

/// Whether `t` is a value type byte this codec knows (loadable or refused by name).
pub(crate) fn is_value_type(t: u8) -> bool {
    matches!(t, 0..=7 | 9..=21)
}

fn duplicate_error(cur: &Cur<'_>, what: &str) -> Stop {
    cur.bad(format!("Duplicate {what} detected"))
}

/// Reads one value of RDB type `t` (`rdbLoadObject`), built in the encodings
/// `limits` asks for. `key` names the key in errors.
pub(crate) fn read_value(
    cur: &mut Cur<'_>,
    t: u8,
    type_at: usize,
    key: &[u8],
    limits: &LoadLimits,
    seeds: &mut SeedSource,
) -> Result<Value, Stop> {
    if let Some(name) = unsupported_type(t) {
        return Err(cur.bad_at(
            type_at,
            format!(
                "key {} holds a {name} (RDB type {t}), which keel does not support",
                show_key(key)
            ),
        ));
    }
    match t {
        vtype::STRING => Ok(Value::Str(StrValue::from_set_owned(cur.string()?))),
        vtype::LIST => {
            let n = cur.len()?;
            let mut list = List::new(limits.list);
            for _ in 0..n {
                list.push_back(&cur.string()?);
            }
            Ok(Value::List(Box::new(list)))
        }
        vtype::LIST_QUICKLIST | vtype::LIST_QUICKLIST_2 => {
            let nodes = cur.len()?;
            let mut list = List::new(limits.list);
            for _ in 0..nodes {
                let container = if t == vtype::LIST_QUICKLIST_2 {
                    cur.len()?
                } else {
                    2
                };
                let at = cur.pos;
                let blob = cur.string()?;
                match container {
                    // QUICKLIST_NODE_CONTAINER_PLAIN: one big element as a string.
                    1 => list.push_back(&blob),
                    2 => {
                        let elems = if t == vtype::LIST_QUICKLIST_2 {
                            read_listpack(&blob)
                        } else {
                            read_ziplist(&blob)
                        }
                        .map_err(|m| cur.bad_at(at, format!("{}{m}", key_prefix(key))))?;
                        if elems.is_empty() {
                            return Err(
                                cur.bad_at(at, format!("{}empty quicklist node", key_prefix(key)))
                            );
                        }
                        for e in elems {
                            push_elem(&mut list, &e);
                        }
                    }
                    c => {
                        return Err(cur.bad_at(
                            at,
                            format!("Quicklist integrity check failed (container {c})"),
                        ))
                    }
                }
            }
            Ok(Value::List(Box::new(list)))
        }
        vtype::LIST_ZIPLIST => {
            let at = cur.pos;
            let blob = cur.string()?;
            let elems = read_ziplist(&blob)
                .map_err(|m| cur.bad_at(at, format!("{}{m}", key_prefix(key))))?;
            let mut list = List::new(limits.list);
            for e in elems {
                push_elem(&mut list, &e);
            }
            Ok(Value::List(Box::new(list)))
        }
        vtype::SET => {
            let n = cur.len()?;
            let mut set = Set::default();
            for _ in 0..n {
                let m = cur.string()?;
                if !set.add(&m, limits.set_max_intset_entries, &mut || seeds.draw()) {
                    return Err(duplicate_error(cur, "set members"));
                }
            }
            Ok(Value::Set(set))
        }
        vtype::SET_INTSET => {
            let at = cur.pos;
            let blob = cur.string()?;
            let ints = read_intset(&blob)
                .map_err(|m| cur.bad_at(at, format!("{}{m}", key_prefix(key))))?;
            let mut set = Set::default();
            for n in ints {
                set.add(
                    n.to_string().as_bytes(),
                    limits.set_max_intset_entries,
                    &mut || seeds.draw(),
                );
            }
            Ok(Value::Set(set))
        }
        vtype::ZSET | vtype::ZSET_2 => {
            let n = cur.len()?;
            let mut z = ZSet::new();
            for _ in 0..n {
                let m = cur.string()?;
                let score = if t == vtype::ZSET_2 {
                    cur.binary_double()?
                } else {
                    cur.double_text()?
                };
                if score.is_nan() {
                    return Err(cur.bad("Zset with NAN score detected"));
                }
                if !z.set_score(&m, score, limits.zset, || seeds.draw()) {
                    return Err(duplicate_error(cur, "zset fields"));
                }
            }
            Ok(Value::ZSet(Box::new(z)))
        }
        vtype::ZSET_ZIPLIST | vtype::ZSET_LISTPACK => {
            let at = cur.pos;
            let blob = cur.string()?;
            let elems = if t == vtype::ZSET_LISTPACK {
                read_listpack(&blob)
            } else {
                read_ziplist(&blob)
            }
            .map_err(|m| cur.bad_at(at, format!("{}{m}", key_prefix(key))))?;
            if elems.len() % 2 != 0 {
                return Err(cur.bad_at(
                    at,
                    format!("{}odd element count in a sorted set", key_prefix(key)),
                ));
            }
            let mut z = ZSet::new();
            for pair in elems.chunks_exact(2) {
                let (m, s) = match pair {
                    [m, s] => (m.to_vec(), s),
                    _ => continue,
                };
                let score = match s {
                    Elem::Int(v) => *v as f64,
                    Elem::Str(text) => crate::types::zset::parse_score(text)
                        .filter(|s| !s.is_nan())
                        .ok_or_else(|| cur.bad_at(at, format!("{}bad score", key_prefix(key))))?,
                };
                if !z.set_score(&m, score, limits.zset, || seeds.draw()) {
                    return Err(cur.bad_at(at, "Duplicate zset fields detected"));
                }
            }
            Ok(Value::ZSet(Box::new(z)))
        }
        vtype::HASH => {
            let n = cur.len()?;
            let mut h = Hash::new();
            for _ in 0..n {
                let field = cur.string()?;
                let value = cur.string()?;
                if h.set(&field, &value, limits.hash, || seeds.draw()) == SetOutcome::Updated {
                    return Err(duplicate_error(cur, "hash fields"));
                }
            }
            Ok(Value::Hash(h))
        }
        vtype::HASH_ZIPMAP => {
            let at = cur.pos;
            let blob = cur.string()?;
            let pairs = read_zipmap(&blob)
                .map_err(|m| cur.bad_at(at, format!("{}{m}", key_prefix(key))))?;
            let mut h = Hash::new();
            for (f, v) in pairs {
                if h.set(f, v, limits.hash, || seeds.draw()) == SetOutcome::Updated {
                    return Err(cur.bad_at(at, "Duplicate hash fields detected"));
                }
            }
            Ok(Value::Hash(h))
        }
        vtype::HASH_ZIPLIST | vtype::HASH_LISTPACK => {
            let at = cur.pos;
            let blob = cur.string()?;
            let elems = if t == vtype::HASH_LISTPACK {
                read_listpack(&blob)
            } else {
                read_ziplist(&blob)
            }
            .map_err(|m| cur.bad_at(at, format!("{}{m}", key_prefix(key))))?;
            if elems.len() % 2 != 0 {
                return Err(cur.bad_at(
                    at,
                    format!("{}odd element count in a hash", key_prefix(key)),
                ));
            }
            let mut h = Hash::new();
            for pair in elems.chunks_exact(2) {
                if let [f, v] = pair {
                    if h.set(&f.to_vec(), &v.to_vec(), limits.hash, || seeds.draw())
                        == SetOutcome::Updated
                    {
                        return Err(cur.bad_at(at, "Duplicate hash fields detected"));
                    }
                }
            }
            Ok(Value::Hash(h))
        }
        _ => Err(cur.bad_at(
            type_at,
            format!("Unknown RDB encoding type {t} for key {}", show_key(key)),
        )),
    }
}

fn push_elem(list: &mut List, e: &Elem<'_>) {
    match e {
        Elem::Str(s) => list.push_back(s),
        Elem::Int(_) => list.push_back(&e.to_vec()),
    }
}

/// One repeated unit of a value's layout, for the completeness scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    /// A string.
    Str,
    /// A member and a score as text (RDB ZSET).
    StrTextDouble,
    /// A member and a binary double (ZSET_2).
    StrBinDouble,
    /// A quicklist 2 node: a container length and a string.
    LenStr,
}

/// How far the completeness scan of a pending big item got: the next unit starts at
/// `pos` (from the item's start) and `left` units remain.
#[derive(Debug, Clone, Copy)]
struct Scan {
    pos: usize,
    left: u64,
    unit: Unit,
}

/// Where the item at the start of `data` begins its repeated units. `Bad` means
/// "parse it now" (the full parse reports what is wrong).
fn scan_start(data: &[u8]) -> Result<Scan, Stop> {
    let mut cur = Cur::new(data);
    let t = cur.u8()?;
    let (left, unit) = if t == opcode::AUX {
        (2, Unit::Str)
    } else if is_value_type(t) && unsupported_type(t).is_none() {
        cur.skip_string()?;
        match t {
            vtype::LIST | vtype::SET | vtype::LIST_QUICKLIST => (cur.len()?, Unit::Str),
            vtype::HASH => (cur.len()?.saturating_mul(2), Unit::Str),
            vtype::ZSET => (cur.len()?, Unit::StrTextDouble),
            vtype::ZSET_2 => (cur.len()?, Unit::StrBinDouble),
            vtype::LIST_QUICKLIST_2 => (cur.len()?, Unit::LenStr),
            _ => (1, Unit::Str),
        }
    } else {
        return Err(cur.bad("not scanned"));
    };
    Ok(Scan {
        pos: cur.pos,
        left,
        unit,
    })
}

/// Steps over the remaining units; on `Need` the scan keeps where it got.
fn scan_resume(data: &[u8], scan: &mut Scan) -> Result<(), Stop> {
    let mut cur = Cur::new(data);
    cur.pos = scan.pos;
    while scan.left > 0 {
        match scan.unit {
            Unit::Str => cur.skip_string()?,
            Unit::StrTextDouble => {
                cur.skip_string()?;
                let n = cur.u8()?;
                if n < 253 {
                    cur.take(u64::from(n))?;
                }
            }
            Unit::StrBinDouble => {
                cur.skip_string()?;
                cur.take(8)?;
            }
            Unit::LenStr => {
                cur.len()?;
                cur.skip_string()?;
            }
        }
        scan.left -= 1;
        scan.pos = cur.pos;
    }
    Ok(())
}

/// Where the reader is in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Header,
    Body,
    Done,
}

/// An item still incomplete after this many buffered bytes is not parsed again on
/// every feed: a cheap scan that steps over its strings (resumed where it stopped, so
/// linear in all) says when its last byte has arrived, and only then (or once the
/// buffer grew by half) is it parsed. A huge collection fed in small chunks thus costs
/// linear time, and every item still comes out of the `next()` that follows the feed
/// completing it.
const RETRY_GROWTH_MIN_BYTES: usize = 64 << 10;

/// Streams an RDB file's items out of bytes fed in any chunking.
#[derive(Debug)]
pub struct RdbReader {
    limits: LoadLimits,
    seeds: SeedSource,
    mutants: Mutants,
    buf: Vec<u8>,
    /// Start of the unread bytes in `buf`.
    start: usize,
    /// Stream offset of `buf[start]`.
    offset: u64,
    ended: bool,
    phase: Phase,
    version: u32,
    crc: u64,
    db: usize,
    expire_ms: Option<u64>,
    lru_idle_secs: Option<u64>,
    lfu_freq: Option<u8>,
    /// Unread bytes needed before the pending item is worth parsing again.
    retry_at: usize,
    /// The completeness scan of a big pending item (reset when the item is parsed).
    scan: Option<Scan>,
    failed: Option<RdbError>,
    /// Items parsed or attempted (a retry counts again): the cost of the chunking.
    parse_attempts: u64,
}

/// What parsing one item gave.
enum Parsed {
    Item(RdbItem),
    /// An opcode that only set state (expiry, idle, freq), or an empty key skipped.
    Nothing,
    /// The EOF opcode and, from RDB 5 on, the stored checksum (the last 8 bytes used).
    End {
        stored_crc: Option<u64>,
    },
}

impl RdbReader {
    pub fn new(limits: LoadLimits) -> Self {
        RdbReader {
            seeds: SeedSource::new(limits.seeds),
            limits,
            mutants: Mutants::default(),
            buf: Vec::new(),
            start: 0,
            offset: 0,
            ended: false,
            phase: Phase::Header,
            version: 0,
            crc: 0,
            db: 0,
            expire_ms: None,
            lru_idle_secs: None,
            lfu_freq: None,
            retry_at: 0,
            scan: None,
            failed: None,
            parse_attempts: 0,
        }
    }

    /// Hands the reader the node's planted bug, if any (the `mutants` feature).
    pub fn set_mutants(&mut self, mutants: Mutants) {
        self.mutants = mutants;
    }

    /// Parse attempts so far (an item re-parsed after more bytes came counts again).
    pub fn parse_attempts(&self) -> u64 {
        self.parse_attempts
    }

    /// The file's RDB version (0 until the header was read).
    pub fn version(&self) -> u32 {
        self.version
    }

    /// Hands the reader more input. After `End` or an error nothing more is kept:
    /// what followed the RDB (an AOF's commands after its preamble) is the caller's,
    /// from `take_unconsumed()` and then its own next bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.phase == Phase::Done || self.failed.is_some() {
            return;
        }
        if self.start > 0 && self.start >= self.buf.len() / 2 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// Whether the pending big item's bytes are all buffered (the resumable scan), or
    /// it is malformed in a way the full parse should report now.
    fn pending_item_complete(&mut self) -> bool {
        let data = self.buf.get(self.start..).unwrap_or_default();
        let mut scan = match self.scan {
            Some(scan) => scan,
            None => match scan_start(data) {
                Ok(scan) => scan,
                Err(Stop::Need(_)) => return false,
                Err(Stop::Bad { .. }) => return true,
            },
        };
        let done = match scan_resume(data, &mut scan) {
            Ok(()) => true,
            Err(Stop::Need(_)) => false,
            Err(Stop::Bad { .. }) => true,
        };
        self.scan = Some(scan);
        done
    }

    /// The bytes fed but not consumed, handed over (and forgotten). After `End` these
    /// are what followed the RDB (the tail of the chunk that held its end).
    pub fn take_unconsumed(&mut self) -> Vec<u8> {
        let rest = self.buf.split_off(self.start.min(self.buf.len()));
        self.buf = Vec::new();
        self.start = 0;
        rest
    }

    /// No more bytes will come: an incomplete item is now an error, and a big item
    /// waiting for its retry is parsed at once.
    pub fn end_of_input(&mut self) {
        self.ended = true;
    }

    /// Bytes of input consumed: after `RdbItem::End`, where whatever follows the RDB
    /// (an AOF's commands after its RDB preamble) begins.
    pub fn consumed_bytes(&self) -> u64 {
        self.offset
    }

    fn unread(&self) -> &[u8] {
        self.buf.get(self.start..).unwrap_or_default()
    }

    fn fail(&mut self, offset: u64, message: String) -> RdbError {
        let e = RdbError { offset, message };
        self.failed = Some(e.clone());
        e
    }

    /// The next item; `Ok(None)` when more bytes are needed (or after `End`).
    // The persistence contract names it `next`; it is fallible, so not an Iterator.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<RdbItem>, RdbError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        loop {
            if self.phase == Phase::Done {
                return Ok(None);
            }
            let unread_len = self.unread().len();
            if unread_len < self.retry_at && !self.ended && !self.pending_item_complete() {
                return Ok(None);
            }
            self.scan = None;
            self.parse_attempts += 1;
            let buf = std::mem::take(&mut self.buf);
            let seeds_before = self.seeds.clone();
            let (result, used) = {
                let mut cur = Cur::new(buf.get(self.start..).unwrap_or_default());
                let r = match self.phase {
                    Phase::Header => Self::parse_header(&mut cur).map(|v| {
                        self.version = v;
                        Parsed::Nothing
                    }),
                    _ => self.parse_item(&mut cur),
                };
                (r, cur.pos)
            };
            self.buf = buf;
            match result {
                Ok(Parsed::Nothing) => {
                    self.consume(used);
                    self.retry_at = 0;
                    self.phase = Phase::Body;
                }
                Ok(Parsed::Item(item)) => {
                    self.consume(used);
                    self.retry_at = 0;
                    return Ok(Some(item));
                }
                Ok(Parsed::End { stored_crc }) => {
                    let footer = if stored_crc.is_some() { 8 } else { 0 };
                    self.consume(used - footer);
                    let expected = self.crc;
                    self.start += footer;
                    self.offset += footer as u64;
                    self.phase = Phase::Done;
                    let skip = self.mutants.is(Mutant::RdbCrcCheckSkipped);
                    if let Some(stored) = stored_crc {
                        if self.limits.verify_checksum && stored != 0 && stored != expected && !skip
                        {
                            let offset = self.offset - 8;
                            return Err(self.fail(
                                offset,
                                format!(
                                    "Wrong RDB checksum expected: ({expected:x}) got ({stored:x})"
                                ),
                            ));
                        }
                    }
                    return Ok(Some(RdbItem::End));
                }
                Err(Stop::Need(n)) => {
                    self.seeds = seeds_before;
                    if self.ended {
                        let offset = self.offset + unread_len as u64;
                        return Err(self.fail(offset, "Unexpected EOF reading RDB file".into()));
                    }
                    self.retry_at = if unread_len > RETRY_GROWTH_MIN_BYTES {
                        n.max(unread_len + unread_len / 2)
                    } else {
                        n
                    };
                    return Ok(None);
                }
                Err(Stop::Bad { at, message }) => {
                    let offset = self.offset + at as u64;
                    return Err(self.fail(offset, message));
                }
            }
        }
    }

    fn consume(&mut self, used: usize) {
        let bytes = self
            .buf
            .get(self.start..self.start + used)
            .unwrap_or_default();
        self.crc = crc64(self.crc, bytes);
        self.start += used;
        self.offset += used as u64;
    }

    fn parse_header(cur: &mut Cur<'_>) -> Result<u32, Stop> {
        let magic = cur.take(9)?;
        if magic.get(..5) != Some(b"REDIS") {
            return Err(Stop::Bad {
                at: 0,
                message: "Wrong signature trying to load DB from file".into(),
            });
        }
        let version = std::str::from_utf8(magic.get(5..).unwrap_or_default())
            .ok()
            .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u32>().ok())
            .ok_or(Stop::Bad {
                at: 5,
                message: "Wrong signature trying to load DB from file".into(),
            })?;
        if version < 1 || version > u32::from(RDB_VERSION) {
            return Err(Stop::Bad {
                at: 5,
                message: format!("Can't handle RDB format version {version}"),
            });
        }
        Ok(version)
    }

    /// One opcode and what follows it, or one key. State (pending expiry, db) changes
    /// only once the whole item parsed.
    fn parse_item(&mut self, cur: &mut Cur<'_>) -> Result<Parsed, Stop> {
        let op = cur.u8()?;
        match op {
            opcode::EXPIRETIME_MS => {
                let ms = cur.u64_le()?;
                self.expire_ms = Some(ms);
                Ok(Parsed::Nothing)
            }
            opcode::EXPIRETIME => {
                let secs = u32::from_le_bytes(cur.array()?);
                self.expire_ms = Some(u64::from(secs) * 1000);
                Ok(Parsed::Nothing)
            }
            opcode::IDLE => {
                let idle = cur.len()?;
                self.lru_idle_secs = Some(idle);
                Ok(Parsed::Nothing)
            }
            opcode::FREQ => {
                let freq = cur.u8()?;
                self.lfu_freq = Some(freq);
                Ok(Parsed::Nothing)
            }
            opcode::AUX => {
                let key = cur.string()?.into_owned();
                let value = cur.string()?.into_owned();
                Ok(Parsed::Item(RdbItem::Aux { key, value }))
            }
            opcode::RESIZEDB => {
                let keys = cur.len()?;
                let expires = cur.len()?;
                Ok(Parsed::Item(RdbItem::ResizeDb { keys, expires }))
            }
            opcode::SELECTDB => {
                let db = cur.len_usize()?;
                self.db = db;
                Ok(Parsed::Item(RdbItem::SelectDb(db)))
            }
            opcode::EOF => {
                let stored_crc = if self.version >= 5 {
                    Some(cur.u64_le()?)
                } else {
                    None
                };
                Ok(Parsed::End { stored_crc })
            }
            opcode::MODULE_AUX => Err(Stop::Bad {
                at: 0,
                message: "the RDB holds module aux data (opcode 247), which keel does not support"
                    .into(),
            }),
            opcode::FUNCTION2 | opcode::FUNCTION_PRE_GA => Err(Stop::Bad {
                at: 0,
                message: format!(
                    "the RDB holds functions (opcode {op}), which keel does not support"
                ),
            }),
            t if is_value_type(t) => {
                let key = cur.string()?.into_owned();
                let value = read_value(cur, t, 0, &key, &self.limits, &mut self.seeds)?;
                let expire_ms = self.expire_ms.take();
                let lru_idle_secs = self.lru_idle_secs.take();
                let lfu_freq = self.lfu_freq.take();
                if value.is_empty_collection() {
                    // Redis 7.0 skips empty keys on load (an older server could save them).
                    return Ok(Parsed::Nothing);
                }
                Ok(Parsed::Item(RdbItem::Key {
                    db: self.db,
                    key,
                    value,
                    expire_ms,
                    lru_idle_secs,
                    lfu_freq,
                }))
            }
            _ => Err(Stop::Bad {
                at: 0,
                message: format!("Unknown RDB encoding type {op}"),
            }),
        }
    }
}
