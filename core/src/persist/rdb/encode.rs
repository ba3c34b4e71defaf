//! Writing: Redis 7.0's `rdbSave*` byte for byte — lengths, strings (int-encoded,
//! LZF-compressed or raw, as `rdbSaveRawString` chooses), every value type in the
//! encoding Redis 7.0 writes for it, and the file's frame with its running CRC64.

use super::listpack::{write_intset, ListpackBuilder};
use super::{crc64::crc64, lzf, opcode, vtype, AuxValue, KeyRecord, RdbOptions, RDB_VERSION};
use crate::types::set::Member;
use crate::types::zset::fmt_listpack_score;
use crate::types::{Hash, Set, Value, ZSet};
use crate::util::parse_i64;

/// Redis's `rdbSaveLen`.
pub fn write_len(out: &mut Vec<u8>, len: u64) {
    if len < 1 << 6 {
        out.push(len as u8);
    } else if len < 1 << 14 {
        out.push(((len >> 8) as u8) | 0x40);
        out.push(len as u8);
    } else if len <= u64::from(u32::MAX) {
        out.push(0x80);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Redis's `rdbEncodeInteger` for a value that fits 32 bits.
fn write_encoded_int(out: &mut Vec<u8>, v: i64) -> bool {
    if let Ok(b) = i8::try_from(v) {
        out.push(0xc0);
        out.push(b as u8);
    } else if let Ok(h) = i16::try_from(v) {
        out.push(0xc1);
        out.extend_from_slice(&h.to_le_bytes());
    } else if let Ok(w) = i32::try_from(v) {
        out.push(0xc2);
        out.extend_from_slice(&w.to_le_bytes());
    } else {
        return false;
    }
    true
}

/// Redis's `rdbSaveRawString`: a short canonical integer as an encoded int, a long
/// compressible string as LZF (when `compression`), anything else raw.
pub fn write_string(out: &mut Vec<u8>, s: &[u8], compression: bool) {
    if s.len() <= 11 {
        if let Some(v) = parse_i64(s) {
            if write_encoded_int(out, v) {
                return;
            }
        }
    }
    if compression && s.len() > 20 {
        if let Some(c) = lzf::compress(s, s.len() - 4) {
            out.push(0xc3);
            write_len(out, c.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&c);
            return;
        }
    }
    write_len(out, s.len() as u64);
    out.extend_from_slice(s);
}

fn write_binary_double(out: &mut Vec<u8>, v: f64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// The RDB type byte Redis 7.0 writes for `value`'s encoding.
pub fn value_type(value: &Value) -> u8 {
    match value {
        Value::Str(_) => vtype::STRING,
        Value::List(_) => vtype::LIST_QUICKLIST_2,
        Value::Hash(Hash::Packed(_)) => vtype::HASH_LISTPACK,
        Value::Hash(Hash::Table(_)) => vtype::HASH,
        Value::Set(Set::Ints(_)) => vtype::SET_INTSET,
        Value::Set(Set::Table(_)) => vtype::SET,
        Value::ZSet(z) if z.is_packed() => vtype::ZSET_LISTPACK,
        Value::ZSet(_) => vtype::ZSET_2,
    }
}

/// Redis 7.0's quicklist node bound under the default fill (-2): 8 KB listpacks, an
/// entry's estimated cost being its bytes plus `SIZE_ESTIMATE_OVERHEAD`.
const LIST_NODE_MAX_BYTES: usize = 8192;
const SIZE_ESTIMATE_OVERHEAD: usize = 8;
/// Redis's `QUICKLIST_NODE_CONTAINER_PACKED`.
const QUICKLIST_NODE_PACKED: u64 = 2;

/// The value's type byte and body (`rdbSaveObjectType` + `rdbSaveObject`).
pub fn write_value(out: &mut Vec<u8>, value: &Value, compression: bool) {
    out.push(value_type(value));
    write_value_body(out, value, compression);
}

/// The value's body (`rdbSaveObject`).
pub fn write_value_body(out: &mut Vec<u8>, value: &Value, compression: bool) {
    match value {
        Value::Str(s) => {
            let mut scratch = Vec::new();
            write_string(out, s.bytes(&mut scratch), compression);
        }
        Value::List(list) => {
            let mut nodes: Vec<Vec<u8>> = Vec::new();
            let mut node = ListpackBuilder::new();
            list.walk(0, false, |_, elem| {
                if node.count() > 0
                    && node.bytes_len() + elem.len() + SIZE_ESTIMATE_OVERHEAD > LIST_NODE_MAX_BYTES
                {
                    nodes.push(std::mem::take(&mut node).finish());
                    node = ListpackBuilder::new();
                }
                node.push(elem);
                true
            });
            if node.count() > 0 {
                nodes.push(node.finish());
            }
            write_len(out, nodes.len() as u64);
            for n in &nodes {
                write_len(out, QUICKLIST_NODE_PACKED);
                write_string(out, n, compression);
            }
        }
        Value::Hash(Hash::Packed(_)) | Value::Hash(Hash::Table(_)) => {
            write_hash(out, value, compression)
        }
        Value::Set(Set::Ints(_)) => {
            let members: Vec<i64> = match value {
                Value::Set(s) => s
                    .iter()
                    .filter_map(|m| match m {
                        Member::Int(n) => Some(n),
                        Member::Bytes(_) => None,
                    })
                    .collect(),
                _ => Vec::new(),
            };
            write_string(out, &write_intset(&members), compression);
        }
        Value::Set(s) => {
            write_len(out, s.len() as u64);
            for m in s.iter() {
                m.with_bytes(|b| write_string(out, b, compression));
            }
        }
        Value::ZSet(z) => write_zset(out, z, compression),
    }
}

fn write_hash(out: &mut Vec<u8>, value: &Value, compression: bool) {
    let Value::Hash(h) = value else { return };
    match h {
        Hash::Packed(_) => {
            let mut lp = ListpackBuilder::new();
            for (field, val) in h.iter() {
                lp.push(&field);
                lp.push(&val);
            }
            write_string(out, &lp.finish(), compression);
        }
        Hash::Table(_) => {
            write_len(out, h.len() as u64);
            for (field, val) in h.iter() {
                write_string(out, &field, compression);
                write_string(out, &val, compression);
            }
        }
    }
}

fn write_zset(out: &mut Vec<u8>, z: &ZSet, compression: bool) {
    if z.is_packed() {
        let mut lp = ListpackBuilder::new();
        for (member, score) in z.entries() {
            lp.push(member);
            lp.push(fmt_listpack_score(score).as_bytes());
        }
        write_string(out, &lp.finish(), compression);
    } else {
        // Greatest first, as Redis (a reload then inserts at the skiplist's head).
        write_len(out, z.len() as u64);
        for (member, score) in z.entries().into_iter().rev() {
            write_string(out, member, compression);
            write_binary_double(out, score);
        }
    }
}

/// Appends an RDB file's bytes, keeping a running CRC64 over all of them.
#[derive(Debug, Clone)]
pub struct RdbWriter {
    opts: RdbOptions,
    crc: u64,
    written_bytes: u64,
}

impl RdbWriter {
    pub fn new(opts: RdbOptions) -> Self {
        RdbWriter {
            opts,
            crc: 0,
            written_bytes: 0,
        }
    }

    /// Bytes appended so far.
    pub fn written_bytes(&self) -> u64 {
        self.written_bytes
    }

    fn account(&mut self, out: &[u8], start: usize) {
        let added = out.get(start..).unwrap_or_default();
        if self.opts.checksum {
            self.crc = crc64(self.crc, added);
        }
        self.written_bytes += added.len() as u64;
    }

    /// `REDIS0010` and the aux fields in the order given.
    pub fn header(&mut self, aux: &[(&str, AuxValue<'_>)], out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(format!("REDIS{RDB_VERSION:04}").as_bytes());
        for (key, value) in aux {
            out.push(opcode::AUX);
            write_string(out, key.as_bytes(), self.opts.compression);
            match value {
                AuxValue::Str(s) => write_string(out, s, self.opts.compression),
                AuxValue::Int(n) => {
                    write_string(out, n.to_string().as_bytes(), self.opts.compression)
                }
            }
        }
        self.account(out, start);
    }

    /// SELECTDB and RESIZEDB for a database about to be written.
    pub fn select_db(&mut self, db: usize, keys: u64, expires: u64, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(opcode::SELECTDB);
        write_len(out, db as u64);
        out.push(opcode::RESIZEDB);
        write_len(out, keys);
        write_len(out, expires);
        self.account(out, start);
    }

    /// One key: its expiry, idle time or frequency, then type, key and value.
    pub fn entry(&mut self, rec: &KeyRecord<'_>, out: &mut Vec<u8>) {
        let start = out.len();
        if let Some(at_ms) = rec.expire_ms {
            out.push(opcode::EXPIRETIME_MS);
            out.extend_from_slice(&at_ms.to_le_bytes());
        }
        if let Some(idle) = rec.lru_idle_secs {
            out.push(opcode::IDLE);
            write_len(out, idle);
        }
        if let Some(freq) = rec.lfu_freq {
            out.push(opcode::FREQ);
            out.push(freq);
        }
        out.push(value_type(rec.value));
        write_string(out, rec.key, self.opts.compression);
        write_value_body(out, rec.value, self.opts.compression);
        self.account(out, start);
    }

    /// EOF and the CRC64 footer (8 zero bytes when `rdbchecksum` is off).
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        let start = out.len();
        out.push(opcode::EOF);
        self.account(out, start);
        let crc = if self.opts.checksum { self.crc } else { 0 };
        out.extend_from_slice(&crc.to_le_bytes());
        self.written_bytes += 8;
    }
}
