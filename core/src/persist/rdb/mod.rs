//! The RDB codec, Redis 7.0's format (RDB version 10) byte for byte: `RdbWriter`
//! appends a file's bytes (header and aux fields, databases, keys, EOF and CRC64),
//! `RdbReader` streams them back from bounded chunks (RDB 1..=10, with the older
//! encodings Redis 5 and 6 wrote), and `dump` does DUMP/RESTORE payloads on the same
//! value encoding. Nothing here reads a file, a clock or OS randomness; nothing panics
//! on hostile bytes or allocates on a length prefix's word.

pub mod crc64;
mod decode;
mod dump;
mod encode;
mod listpack;
pub mod lzf;
#[cfg(test)]
mod tests;

pub use decode::RdbReader;
pub use dump::{dump_payload, dump_payload_with, restore_payload, RestoreError};
pub use encode::{write_value, RdbWriter};

use crate::config::Settings;
use crate::keyspace::HashSeeds;
use crate::types::hash::HashLimits;
use crate::types::list::ListLimits;
use crate::types::zset::ZSetLimits;
use crate::types::Value;

/// The RDB version keel writes (Redis 7.0's `RDB_VERSION`).
pub const RDB_VERSION: u16 = 10;

/// Opcodes (Redis's `RDB_OPCODE_*`).
pub(crate) mod opcode {
    pub const FUNCTION2: u8 = 245;
    pub const FUNCTION_PRE_GA: u8 = 246;
    pub const MODULE_AUX: u8 = 247;
    pub const IDLE: u8 = 248;
    pub const FREQ: u8 = 249;
    pub const AUX: u8 = 250;
    pub const RESIZEDB: u8 = 251;
    pub const EXPIRETIME_MS: u8 = 252;
    pub const EXPIRETIME: u8 = 253;
    pub const SELECTDB: u8 = 254;
    pub const EOF: u8 = 255;
}

/// Value types (Redis's `RDB_TYPE_*`).
pub(crate) mod vtype {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE_PRE_GA: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    /// Redis 7.2's listpack sets (RDB 11); refused as an unknown type.
    #[allow(dead_code)]
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// How the writer encodes (`rdbcompression`, `rdbchecksum`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RdbOptions {
    pub compression: bool,
    pub checksum: bool,
}

impl Default for RdbOptions {
    fn default() -> Self {
        RdbOptions {
            compression: true,
            checksum: true,
        }
    }
}

/// One key as a snapshot sees it.
#[derive(Debug, Clone, Copy)]
pub struct KeyRecord<'a> {
    pub key: &'a [u8],
    pub value: &'a Value,
    /// Absolute unix ms.
    pub expire_ms: Option<u64>,
    /// Written as `RDB_OPCODE_IDLE` (an LRU policy is configured).
    pub lru_idle_secs: Option<u64>,
    /// Written as `RDB_OPCODE_FREQ` (an LFU policy is configured).
    pub lfu_freq: Option<u8>,
}

/// An aux field's value; an integer is written as its decimal text, as Redis's
/// `rdbSaveAuxFieldStrInt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuxValue<'a> {
    Str(&'a [u8]),
    Int(i64),
}

/// What loaded values are built as: the encodings the config asks for (Redis
/// converts on load), hash-table seeds, and whether the CRC64 footer is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadLimits {
    pub list: ListLimits,
    pub hash: HashLimits,
    pub zset: ZSetLimits,
    pub set_max_intset_entries: usize,
    /// Keys the tables loading builds; each table gets its own keys derived from these.
    pub seeds: [u64; 4],
    /// `rdbchecksum`: verify the footer (a stored 0 means the writer had it off).
    pub verify_checksum: bool,
}

impl Default for LoadLimits {
    fn default() -> Self {
        LoadLimits {
            list: ListLimits::default(),
            hash: HashLimits::default(),
            zset: ZSetLimits::default(),
            set_max_intset_entries: crate::types::set::DEFAULT_MAX_INTSET_ENTRIES,
            seeds: [0x9e37_79b9_7f4a_7c15, 1, 2, 3],
            verify_checksum: true,
        }
    }
}

impl LoadLimits {
    pub fn from_settings(settings: &Settings, seeds: HashSeeds) -> Self {
        LoadLimits {
            list: ListLimits::from_fill(i64::from(settings.list_max_listpack_size)),
            hash: HashLimits {
                max_listpack_entries: settings.hash_max_listpack_entries,
                max_listpack_value_bytes: settings.hash_max_listpack_value_bytes,
            },
            zset: ZSetLimits {
                max_listpack_entries: settings.zset_max_listpack_entries,
                max_listpack_value_bytes: settings.zset_max_listpack_value_bytes,
            },
            set_max_intset_entries: settings.set_max_intset_entries,
            seeds: seeds.0,
            verify_checksum: settings.rdbchecksum,
        }
    }
}

/// One thing an RDB stream holds, in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum RdbItem {
    Aux {
        key: Vec<u8>,
        value: Vec<u8>,
    },
    SelectDb(usize),
    ResizeDb {
        keys: u64,
        expires: u64,
    },
    Key {
        db: usize,
        key: Vec<u8>,
        value: Value,
        expire_ms: Option<u64>,
        lru_idle_secs: Option<u64>,
        lfu_freq: Option<u8>,
    },
    /// The EOF opcode and a valid (or disabled) checksum: nothing follows.
    End,
}

/// A refused RDB stream: what was wrong and the byte offset (from the stream's start)
/// where the item holding it begins or where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RdbError {
    pub offset: u64,
    pub message: String,
}

impl std::fmt::Display for RdbError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} at offset {}", self.message, self.offset)
    }
}

impl std::error::Error for RdbError {}

/// Per-table hash keys derived from the loader's seeds (splitmix64 of a counter), so
/// no two loaded tables share keys and a seed reproduces them all.
#[derive(Debug, Clone)]
pub(crate) struct SeedSource {
    base: [u64; 4],
    drawn: u64,
}

impl SeedSource {
    pub(crate) fn new(base: [u64; 4]) -> Self {
        SeedSource { base, drawn: 0 }
    }

    pub(crate) fn draw(&mut self) -> [u64; 4] {
        self.drawn = self.drawn.wrapping_add(1);
        let mut out = self.base;
        for (i, s) in out.iter_mut().enumerate() {
            let mut z = s
                .wrapping_add(self.drawn.wrapping_mul(0x9e37_79b9_7f4a_7c15))
                .wrapping_add(i as u64);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            *s = z ^ (z >> 31);
        }
        out
    }
}

/// The idle and frequency fields a snapshot writes for the key in slot `id`, as
/// Redis's `rdbSaveKeyValuePair`: idle seconds under an LRU policy, the decayed LFU
/// counter under an LFU one, neither under the others.
pub fn saved_access(
    keyspace: &crate::keyspace::Keyspace,
    db: usize,
    id: u32,
    policy: crate::config::MaxmemoryPolicy,
) -> (Option<u64>, Option<u8>) {
    if policy.is_lru() {
        (Some(keyspace.idle_ms(db, id) / 1000), None)
    } else if policy.is_lfu() {
        (None, Some(keyspace.lfu_freq(db, id)))
    } else {
        (None, None)
    }
}

/// The access field a loaded or restored key gets (Redis's `objectSetLRUOrLFU`): the
/// given frequency under an LFU policy, the given idle time (seconds) under any
/// other; None when the matching one was not given (the caller stamps a fresh access).
pub fn loaded_access(
    lfu_policy: bool,
    now_secs: u32,
    lru_idle_secs: Option<u64>,
    lfu_freq: Option<u8>,
) -> Option<u32> {
    use crate::keyspace::evict::{lfu_minutes, lfu_pack, lru_clock, LRU_CLOCK_MAX};
    if lfu_policy {
        return lfu_freq.map(|f| lfu_pack(lfu_minutes(now_secs), f));
    }
    let idle = i64::try_from(lru_idle_secs?).unwrap_or(i64::MAX);
    let mut abs = i64::from(lru_clock(now_secs)).saturating_sub(idle);
    if abs < 0 {
        abs += i64::from(LRU_CLOCK_MAX);
    }
    Some(abs.rem_euclid(i64::from(LRU_CLOCK_MAX) + 1) as u32)
}
