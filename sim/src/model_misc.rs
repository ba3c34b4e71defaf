//! SORT / SORT_RO, LCS, DUMP and RESTORE in the reference model. Written from Redis
//! 7.0's behaviour: the SORT and LCS rules were first written as a small script and
//! compared with redis-server 7.0.15 on 20,000 random SORTs (lists, sets, sorted sets,
//! BY / GET patterns, LIMIT, STORE, DESC, ALPHA) and 3,000 random LCS calls (LEN, IDX,
//! MINMATCHLEN, WITHMATCHLEN) with no difference; the error texts and their order were
//! asked of the same server.
//!
//! DUMP's payload is keel's own encoding choice, so the model judges what Redis
//! promises of it rather than its bytes: nil for a missing key, else a payload ending
//! in RDB version 10 and the CRC-64 (Jones) of everything before it, whose type byte is
//! one Redis 7.0 writes for that type; a string of at most 20 bytes (never
//! compressed) must be exactly Redis's bytes. RESTORE sends payloads taken from
//! redis-server 7.0.15 (`PAYLOADS`), so the model knows what each one holds.

use std::collections::{BTreeMap, VecDeque};

use crate::model::{bulk, int, parse_int, Model};
use crate::model_types::{Coll, WRONGTYPE};
use crate::model_wide::bulk_payload;

const SYNTAX: &[u8] = b"-ERR syntax error\r\n";
const NOT_INTEGER: &[u8] = b"-ERR value is not an integer or out of range\r\n";
const NOT_STRINGS: &[u8] = b"-ERR The specified keys must contain string values\r\n";
const BAD_SCORE: &[u8] = b"-ERR One or more scores can't be converted into double\r\n";
const BAD_PAYLOAD: &[u8] = b"-ERR DUMP payload version or checksum are wrong\r\n";

/// What a payload of `PAYLOADS` holds.
#[derive(Debug, Clone, Copy)]
pub enum Held {
    Str(&'static [u8]),
    List(&'static [&'static [u8]]),
    Set(&'static [&'static [u8]]),
    ZSet(&'static [(&'static [u8], i64)]),
    Hash(&'static [(&'static [u8], &'static [u8])]),
}

/// DUMP payloads written by redis-server 7.0.15, by name (the workload sends
/// `<dump:NAME>`, which the world turns into the bytes), and what each holds.
pub const PAYLOADS: &[(&str, &[u8], Held)] = &[
    (
        "hello",
        b"\x00\x05hello\x0a\x00\x63\x72\xdf\x76\x65\x34\x20\x0a",
        Held::Str(b"hello"),
    ),
    (
        "int",
        b"\x00\xc0\x2a\x0a\x00\x81\xfb\x5c\xfa\x86\x63\x4f\x50",
        Held::Str(b"42"),
    ),
    (
        "list",
        b"\x12\x01\x02\x10\x10\x00\x00\x00\x03\x00\x81a\x02\x81b\x02\x81c\x02\xff\x0a\x00\xc8\x18\xb9\x0c\x95\x33\x52\x9e",
        Held::List(&[b"a", b"b", b"c"]),
    ),
    (
        "set",
        b"\x02\x02\x01b\x01a\x0a\x00\x75\xd9\x9d\x83\x5e\xf8\x5f\x65",
        Held::Set(&[b"a", b"b"]),
    ),
    (
        "intset",
        b"\x0b\x0e\x02\x00\x00\x00\x03\x00\x00\x00\x01\x00\x02\x00\x03\x00\x0a\x00\xa5\x02\x5c\xe2\x6d\x6e\x4d\x1b",
        Held::Set(&[b"1", b"2", b"3"]),
    ),
    (
        "zset",
        b"\x11\x11\x11\x00\x00\x00\x04\x00\x81a\x02\x01\x01\x81b\x02\x02\x01\xff\x0a\x00\xba\x07\xf2\x24\xa9\xd2\x8f\x55",
        Held::ZSet(&[(b"a", 1), (b"b", 2)]),
    ),
    (
        "hash",
        b"\x10\x0e\x0e\x00\x00\x00\x02\x00\x82f0\x03\x81v\x02\xff\x0a\x00\x53\xfb\xb3\x27\x96\x3f\xc9\x39",
        Held::Hash(&[(b"f0", b"v")]),
    ),
    // "hello" with its checksum's last byte changed.
    (
        "bad",
        b"\x00\x05hello\x0a\x00\x63\x72\xdf\x76\x65\x34\x20\x0b",
        Held::Str(b""),
    ),
];

/// The bytes a workload argument stands for: `<dump:NAME>` is the payload of that
/// name; anything else is its own bytes.
pub fn arg_bytes(arg: &str) -> Vec<u8> {
    arg.strip_prefix("<dump:")
        .and_then(|rest| rest.strip_suffix('>'))
        .and_then(|name| PAYLOADS.iter().find(|(n, _, _)| *n == name))
        .map_or_else(|| arg.as_bytes().to_vec(), |(_, bytes, _)| bytes.to_vec())
}

/// Redis's CRC-64 (Jones polynomial, reflected, no final xor), as DUMP's footer.
pub fn crc64(data: &[u8]) -> u64 {
    const POLY: u64 = 0x95ac_9329_ac4b_c9b5;
    let mut crc = 0u64;
    for &byte in data {
        crc ^= u64::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
        }
    }
    crc
}

/// An array of bulk strings and nils.
fn nullable_array(items: &[Option<Vec<u8>>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for item in items {
        match item {
            Some(v) => out.extend(bulk(v)),
            None => out.extend_from_slice(b"$-1\r\n"),
        }
    }
    out
}

/// A payload's body checked as Redis's `verifyDumpPayload` does: RDB version ≤ 10 and
/// the checksum; the body (before the footer) if it holds.
fn verified(payload: &[u8]) -> Option<&[u8]> {
    let body_end = payload.len().checked_sub(8)?;
    let (body, crc) = payload.split_at(body_end);
    let version_at = body.len().checked_sub(2)?;
    let version = u16::from_le_bytes([*body.get(version_at)?, *body.get(version_at + 1)?]);
    let crc = u64::from_le_bytes(crc.try_into().ok()?);
    (version <= 10 && crc64(body) == crc).then_some(body)
}

/// The payload Redis 7.0 writes for a string value of at most 20 bytes (it tries LZF
/// on longer ones, and the compressed bytes are the implementation's own).
fn string_payload(v: &[u8]) -> Option<Vec<u8>> {
    if v.len() > 20 {
        return None;
    }
    let mut out = vec![0u8];
    let canonical = parse_int(v).filter(|n| n.to_string().as_bytes() == v);
    match canonical {
        Some(n) if (-128..=127).contains(&n) => out.extend([0xc0, n as i8 as u8]),
        Some(n) if (-32768..=32767).contains(&n) => {
            out.push(0xc1);
            out.extend((n as i16).to_le_bytes());
        }
        Some(n) if i32::try_from(n).is_ok() => {
            out.push(0xc2);
            out.extend((n as i32).to_le_bytes());
        }
        _ => {
            out.push(v.len() as u8);
            out.extend_from_slice(v);
        }
    }
    out.extend([10, 0]);
    let crc = crc64(&out);
    out.extend(crc.to_le_bytes());
    Some(out)
}

/// The RDB type bytes Redis 7.0's DUMP writes for a value of this kind.
fn dump_types(c: Option<&Coll>) -> &'static [u8] {
    match c {
        None => &[0],
        Some(Coll::List(_)) => &[18],
        Some(Coll::Set(_)) => &[2, 11],
        Some(Coll::ZSet(_)) => &[5, 17],
        Some(Coll::Hash(_)) => &[4, 16],
    }
}

/// C's `strtod` as SORT uses it: leading white space allowed, the whole rest (up to a
/// NUL) must be the number, NaN refused; the empty string is 0.
fn sort_score(v: &[u8]) -> Option<f64> {
    // `strtod` reads a C string: it ends at the first NUL (SETRANGE pads with them).
    let v = v.split(|&c| c == 0).next().unwrap_or_default();
    if v.is_empty() {
        return Some(0.0);
    }
    let t = std::str::from_utf8(v).ok()?;
    let t = t.trim_start_matches([' ', '\t', '\n', '\x0b', '\x0c', '\r']);
    let body = t.trim_start_matches(['+', '-']);
    let numeric = !body.is_empty()
        && body
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
        && body
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == b'.');
    let infinite = ["inf", "infinity"].contains(&body.to_ascii_lowercase().as_str());
    if !numeric && !infinite {
        return None;
    }
    t.parse::<f64>().ok().filter(|f| !f.is_nan())
}

/// SORT's parsed options.
#[derive(Default)]
struct SortOptions {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    store: Option<Vec<u8>>,
    by: Option<Vec<u8>>,
    gets: Vec<Vec<u8>>,
}

fn sort_options(args: &[Vec<u8>], read_only: bool) -> Result<SortOptions, Vec<u8>> {
    let mut o = SortOptions::default();
    let mut j = 0;
    while let Some(a) = args.get(j) {
        let left = args.len() - j - 1;
        match a.to_ascii_uppercase().as_slice() {
            b"ASC" => o.desc = false,
            b"DESC" => o.desc = true,
            b"ALPHA" => o.alpha = true,
            b"LIMIT" if left >= 2 => {
                let n = |i: usize| args.get(i).and_then(|v| parse_int(v));
                let (Some(start), Some(count)) = (n(j + 1), n(j + 2)) else {
                    return Err(NOT_INTEGER.to_vec());
                };
                o.limit = Some((start, count));
                j += 2;
            }
            b"STORE" if left >= 1 && !read_only => {
                o.store = args.get(j + 1).cloned();
                j += 1;
            }
            b"BY" if left >= 1 => {
                o.by = args.get(j + 1).cloned();
                j += 1;
            }
            b"GET" if left >= 1 => {
                o.gets.extend(args.get(j + 1).cloned());
                j += 1;
            }
            _ => return Err(SYNTAX.to_vec()),
        }
        j += 1;
    }
    Ok(o)
}

impl Model {
    /// Whether `name` is one of the commands this file models.
    pub(crate) fn misc_handles(name: &str) -> bool {
        matches!(name, "SORT" | "SORT_RO" | "LCS" | "DUMP" | "RESTORE")
    }

    /// Applies a command of this file; None for one it does not know.
    pub(crate) fn apply_misc(
        &mut self,
        now_ms: u64,
        name: &str,
        req: &[Vec<u8>],
    ) -> Option<Vec<u8>> {
        let args = req.get(1..).unwrap_or_default();
        let reply = |r: Result<Vec<u8>, Vec<u8>>| r.unwrap_or_else(|e| e);
        Some(match name {
            "SORT" | "SORT_RO" => reply(self.sort(now_ms, args, name == "SORT_RO")),
            "LCS" => reply(self.lcs(now_ms, args)),
            "DUMP" => self.dump(now_ms, args),
            "RESTORE" => reply(self.restore(now_ms, args)),
            _ => return None,
        })
    }

    /// A key's string value for SORT's patterns and LCS: None when missing; Err when
    /// it holds a collection.
    fn string_value(&mut self, now_ms: u64, key: &[u8]) -> Result<Option<Vec<u8>>, ()> {
        self.purge(now_ms, key);
        if self.colls.contains_key(key) {
            return Err(());
        }
        Ok(self.keys.get(key).map(|(v, _)| v.clone()))
    }

    /// Redis's `lookupKeyByPattern`: `#` is the element; the first `*` is replaced by
    /// it; `->field` after the `*` reads a hash field; no `*` finds nothing.
    fn by_pattern(&mut self, now_ms: u64, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
        if pattern == b"#" {
            return Some(elem.to_vec());
        }
        let star = pattern.iter().position(|&c| c == b'*')?;
        let (prefix, rest) = pattern.split_at(star);
        let rest = rest.get(1..).unwrap_or_default();
        let arrow = rest
            .windows(2)
            .position(|w| w == b"->")
            .filter(|&a| a + 2 < rest.len());
        let (postfix, field) = match arrow {
            Some(a) => (rest.get(..a)?, rest.get(a + 2..)),
            None => (rest, None),
        };
        let mut key = prefix.to_vec();
        key.extend_from_slice(elem);
        key.extend_from_slice(postfix);
        self.purge(now_ms, &key);
        match field {
            Some(f) => match self.colls.get(&key) {
                Some(Coll::Hash(h)) => h.get(f).cloned(),
                _ => None,
            },
            None => self.keys.get(&key).map(|(v, _)| v.clone()),
        }
    }

    fn sort(&mut self, now_ms: u64, args: &[Vec<u8>], read_only: bool) -> Result<Vec<u8>, Vec<u8>> {
        let key = args.first().ok_or_else(|| SYNTAX.to_vec())?.clone();
        let mut o = sort_options(args.get(1..).unwrap_or_default(), read_only)?;
        self.purge(now_ms, &key);
        if self.keys.contains_key(&key) {
            return Err(WRONGTYPE.to_vec());
        }
        let mut dontsort = o.by.as_ref().is_some_and(|b| !b.contains(&b'*'));
        let coll = self.colls.get(&key).cloned();
        let is_set = matches!(coll, Some(Coll::Set(_)));
        // A set sorted BY nosort into STORE is sorted ALPHA (Redis keeps replication
        // and scripts deterministic that way); without STORE its order is the set's.
        if dontsort && is_set && o.store.is_some() {
            dontsort = false;
            o.alpha = true;
            o.by = None;
        }
        let set_order_free = dontsort && is_set;
        let mut elems: Vec<Vec<u8>> = match coll {
            None => Vec::new(),
            Some(Coll::List(l)) => l.into_iter().collect(),
            Some(Coll::Set(s)) => s.into_iter().collect(),
            Some(Coll::ZSet(z)) => {
                let mut by_score: Vec<(i64, Vec<u8>)> =
                    z.into_iter().map(|(m, s)| (s, m)).collect();
                by_score.sort();
                by_score.into_iter().map(|(_, m)| m).collect()
            }
            Some(Coll::Hash(_)) => return Err(WRONGTYPE.to_vec()),
        };
        if dontsort && o.desc && !is_set {
            elems.reverse();
        }
        let n = elems.len() as i64;
        let (lstart, lcount) = o.limit.unwrap_or((0, -1));
        let mut start = lstart.max(0);
        let mut end = if lcount < 0 {
            n - 1
        } else {
            start.saturating_add(lcount) - 1
        };
        if start >= n {
            start = n - 1;
            end = n - 2;
        }
        end = end.min(n - 1);
        if !dontsort {
            if o.alpha && o.by.is_some() {
                // Ties (equal or missing BY values) are in qsort's order: the workload
                // never sends ALPHA with BY.
                return Err(b"-model: SORT ALPHA BY is not modelled\r\n".to_vec());
            }
            let mut keyed: Vec<(f64, Vec<u8>)> = Vec::with_capacity(elems.len());
            for e in &elems {
                let score = if o.alpha {
                    0.0
                } else {
                    let v = match &o.by {
                        Some(by) => self.by_pattern(now_ms, by, e),
                        None => Some(e.clone()),
                    };
                    match v {
                        Some(v) => sort_score(&v).ok_or_else(|| BAD_SCORE.to_vec())?,
                        None => 0.0,
                    }
                };
                keyed.push((score, e.clone()));
            }
            // Redis's `sortCompare` compares scores with `<` and `>`: -0 and 0 tie,
            // and the elements decide (chaos 0xa99: `BY x*` read `-0` and a missing
            // key's 0). No score is NaN (`sort_score` refuses it).
            keyed.sort_by(|a, b| {
                a.0.partial_cmp(&b.0)
                    .unwrap_or(std::cmp::Ordering::Equal)
                    .then_with(|| a.1.cmp(&b.1))
            });
            if o.desc {
                keyed.reverse();
            }
            elems = keyed.into_iter().map(|(_, e)| e).collect();
        }
        let range: Vec<Vec<u8>> = if end >= start && start >= 0 {
            elems
                .get(start as usize..=end as usize)
                .unwrap_or_default()
                .to_vec()
        } else {
            Vec::new()
        };
        let gets = o.gets.clone();
        let group = |m: &mut Model, e: &[u8]| -> Vec<Option<Vec<u8>>> {
            if gets.is_empty() {
                return vec![Some(e.to_vec())];
            }
            gets.iter().map(|g| m.by_pattern(now_ms, g, e)).collect()
        };
        let out: Vec<Option<Vec<u8>>> = range.iter().flat_map(|e| group(self, e)).collect();
        if let Some(dst) = o.store {
            let len = out.len() as i64;
            self.remove_any(now_ms, &dst);
            if !out.is_empty() {
                let list: VecDeque<Vec<u8>> =
                    out.into_iter().map(Option::unwrap_or_default).collect();
                self.colls.insert(dst.clone(), Coll::List(list));
            }
            self.touch(&dst);
            return Ok(int(len));
        }
        let reply = nullable_array(&out);
        if set_order_free {
            // BY nosort of a set: the set's own order, which the model does not know.
            // Any `range.len()` distinct members (each with its GET values) will do.
            let groups: Vec<Vec<Option<Vec<u8>>>> = elems.iter().map(|e| group(self, e)).collect();
            return Ok(self.some_groups(range.len(), &groups, reply));
        }
        Ok(reply)
    }

    /// For SORT BY nosort of a set: the node's reply if it is `count` groups of
    /// `groups` (each a member's values), no member twice; else `fallback`.
    fn some_groups(
        &self,
        count: usize,
        groups: &[Vec<Option<Vec<u8>>>],
        fallback: Vec<u8>,
    ) -> Vec<u8> {
        let Some(observed) = self.observed.as_deref() else {
            return fallback;
        };
        let Some(items) = crate::workload::split_array(observed) else {
            return fallback;
        };
        let items: Vec<Option<Vec<u8>>> = items
            .iter()
            .map(|i| {
                if i.starts_with(b"$-1") {
                    None
                } else {
                    bulk_payload(i)
                }
            })
            .collect();
        let width = groups.first().map_or(1, Vec::len).max(1);
        if items.len() != count * width {
            return fallback;
        }
        let mut used = vec![false; groups.len()];
        for chunk in items.chunks(width) {
            let Some(i) = (0..groups.len()).find(|&i| !used[i] && groups[i] == chunk) else {
                return fallback;
            };
            used[i] = true;
        }
        observed.to_vec()
    }

    fn lcs(&mut self, now_ms: u64, args: &[Vec<u8>]) -> Result<Vec<u8>, Vec<u8>> {
        let (Some(ka), Some(kb)) = (args.first(), args.get(1)) else {
            return Err(SYNTAX.to_vec());
        };
        let a = self
            .string_value(now_ms, ka)
            .map_err(|()| NOT_STRINGS.to_vec())?;
        let b = self
            .string_value(now_ms, kb)
            .map_err(|()| NOT_STRINGS.to_vec())?;
        let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
        let (mut get_len, mut get_idx, mut with_len, mut min_len) = (false, false, false, 0i64);
        let mut j = 2;
        while let Some(opt) = args.get(j) {
            match opt.to_ascii_uppercase().as_slice() {
                b"LEN" => get_len = true,
                b"IDX" => get_idx = true,
                b"WITHMATCHLEN" => with_len = true,
                b"MINMATCHLEN" if args.get(j + 1).is_some() => {
                    min_len = args
                        .get(j + 1)
                        .and_then(|v| parse_int(v))
                        .ok_or_else(|| NOT_INTEGER.to_vec())?
                        .max(0);
                    j += 1;
                }
                _ => return Err(SYNTAX.to_vec()),
            }
            j += 1;
        }
        if get_len && get_idx {
            return Err(
                b"-ERR If you want both the length and indexes, please just use IDX.\r\n".to_vec(),
            );
        }
        Ok(lcs_reply(
            &a,
            &b,
            get_len,
            get_idx,
            min_len as usize,
            with_len,
        ))
    }

    fn dump(&mut self, now_ms: u64, args: &[Vec<u8>]) -> Vec<u8> {
        let observed = self.observed.take();
        let Some(key) = args.first() else {
            return SYNTAX.to_vec();
        };
        self.purge(now_ms, key);
        let string = self.keys.get(key).map(|(v, _)| v.clone());
        let coll = self.colls.get(key);
        if string.is_none() && coll.is_none() {
            return b"$-1\r\n".to_vec();
        }
        let want_exact = string.as_deref().and_then(string_payload);
        let got = observed.as_deref().and_then(bulk_payload);
        let fits = got.as_deref().is_some_and(|p| {
            let type_ok = p.first().is_some_and(|t| dump_types(coll).contains(t));
            let exact_ok = want_exact.as_ref().is_none_or(|w| w == p);
            type_ok && exact_ok && verified(p).is_some()
        });
        match (fits, got) {
            (true, Some(p)) => bulk(&p),
            _ => match want_exact {
                Some(w) => bulk(&w),
                None => {
                    b"-model: DUMP must be a checksummed payload of the key's type\r\n".to_vec()
                }
            },
        }
    }

    fn restore(&mut self, now_ms: u64, args: &[Vec<u8>]) -> Result<Vec<u8>, Vec<u8>> {
        let (Some(key), Some(ttl), Some(payload)) = (args.first(), args.get(1), args.get(2)) else {
            return Err(SYNTAX.to_vec());
        };
        let (mut replace, mut absttl, mut idle, mut freq) = (false, false, false, false);
        let mut j = 3;
        while let Some(opt) = args.get(j) {
            let more = args.get(j + 1);
            match opt.to_ascii_uppercase().as_slice() {
                b"REPLACE" => replace = true,
                b"ABSTTL" => absttl = true,
                b"IDLETIME" if more.is_some() && !freq => {
                    let n = more
                        .and_then(|v| parse_int(v))
                        .ok_or_else(|| NOT_INTEGER.to_vec())?;
                    if n < 0 {
                        return Err(b"-ERR Invalid IDLETIME value, must be >= 0\r\n".to_vec());
                    }
                    idle = true;
                    j += 1;
                }
                b"FREQ" if more.is_some() && !idle => {
                    let n = more
                        .and_then(|v| parse_int(v))
                        .ok_or_else(|| NOT_INTEGER.to_vec())?;
                    if !(0..=255).contains(&n) {
                        return Err(
                            b"-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n".to_vec()
                        );
                    }
                    freq = true;
                    j += 1;
                }
                _ => return Err(SYNTAX.to_vec()),
            }
            j += 1;
        }
        self.purge(now_ms, key);
        if !replace && (self.keys.contains_key(key) || self.colls.contains_key(key)) {
            return Err(b"-BUSYKEY Target key name already exists.\r\n".to_vec());
        }
        let ttl = parse_int(ttl).ok_or_else(|| NOT_INTEGER.to_vec())?;
        if ttl < 0 {
            return Err(b"-ERR Invalid TTL value, must be >= 0\r\n".to_vec());
        }
        if verified(payload).is_none() {
            return Err(BAD_PAYLOAD.to_vec());
        }
        let Some(held) = PAYLOADS
            .iter()
            .find(|(_, bytes, _)| *bytes == payload.as_slice())
            .map(|(_, _, h)| *h)
        else {
            return Err(b"-model: RESTORE of a payload the model does not know\r\n".to_vec());
        };
        let deleted = replace && self.remove_any(now_ms, key);
        let at = match ttl {
            0 => None,
            t if absttl => Some(t as u64),
            t => Some(now_ms.saturating_add(t as u64)),
        };
        if at.is_some_and(|at| at <= now_ms) {
            if deleted {
                self.touch(key);
            }
            return Ok(b"+OK\r\n".to_vec());
        }
        let coll = |c: Coll| Some(c);
        let made = match held {
            Held::Str(v) => {
                self.keys.insert(key.clone(), (v.to_vec(), at));
                None
            }
            Held::List(l) => coll(Coll::List(l.iter().map(|e| e.to_vec()).collect())),
            Held::Set(s) => coll(Coll::Set(s.iter().map(|e| e.to_vec()).collect())),
            Held::ZSet(z) => coll(Coll::ZSet(
                z.iter()
                    .map(|(m, s)| (m.to_vec(), *s))
                    .collect::<BTreeMap<_, _>>(),
            )),
            Held::Hash(h) => coll(Coll::Hash(
                h.iter().map(|(f, v)| (f.to_vec(), v.to_vec())).collect(),
            )),
        };
        if let Some(c) = made {
            self.colls.insert(key.clone(), c);
            if let Some(at) = at {
                self.coll_ttl.insert(key.clone(), at);
            }
        }
        self.touch(key);
        Ok(b"+OK\r\n".to_vec())
    }
}

/// LCS's reply, as Redis 7.0's `lcsCommand` builds it: the dynamic-programming table,
/// then a walk back from the end emitting each run of matches (ranges in `a` and `b`)
/// when it ends.
fn lcs_reply(
    a: &[u8],
    b: &[u8],
    get_len: bool,
    get_idx: bool,
    min_len: usize,
    with_len: bool,
) -> Vec<u8> {
    let (al, bl) = (a.len(), b.len());
    let w = bl + 1;
    let mut t = vec![0u32; (al + 1) * w];
    let at = |t: &[u32], i: usize, j: usize| t.get(i * w + j).copied().unwrap_or(0);
    for i in 1..=al {
        for j in 1..=bl {
            let v = if a.get(i - 1) == b.get(j - 1) {
                at(&t, i - 1, j - 1) + 1
            } else {
                at(&t, i - 1, j).max(at(&t, i, j - 1))
            };
            if let Some(cell) = t.get_mut(i * w + j) {
                *cell = v;
            }
        }
    }
    let total = at(&t, al, bl) as usize;
    if get_len && !get_idx {
        return int(total as i64);
    }
    let mut result = vec![0u8; total];
    let mut idx = total;
    let mut matches: Vec<Vec<u8>> = Vec::new();
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (al, 0, 0, 0);
    let (mut i, mut j) = (al, bl);
    while i > 0 && j > 0 {
        let mut emit = false;
        if a.get(i - 1) == b.get(j - 1) {
            if let (Some(slot), Some(&c)) = (result.get_mut(idx.wrapping_sub(1)), a.get(i - 1)) {
                *slot = c;
            }
            if a_start == al {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, j - 1, j - 1);
            } else if a_start == i && b_start == j {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit = true;
            }
            if a_start == 0 || b_start == 0 {
                emit = true;
            }
            idx = idx.saturating_sub(1);
            i -= 1;
            j -= 1;
        } else {
            if at(&t, i - 1, j) > at(&t, i, j - 1) {
                i -= 1;
            } else {
                j -= 1;
            }
            if a_start != al {
                emit = true;
            }
        }
        if emit {
            let len = a_end - a_start + 1;
            if min_len == 0 || len >= min_len {
                let range = |s: usize, e: usize| {
                    let mut r = b"*2\r\n".to_vec();
                    r.extend(int(s as i64));
                    r.extend(int(e as i64));
                    r
                };
                let mut m = format!("*{}\r\n", if with_len { 3 } else { 2 }).into_bytes();
                m.extend(range(a_start, a_end));
                m.extend(range(b_start, b_end));
                if with_len {
                    m.extend(int(len as i64));
                }
                matches.push(m);
            }
            a_start = al;
        }
    }
    if !get_idx {
        return bulk(&result);
    }
    let mut out = b"*4\r\n$7\r\nmatches\r\n".to_vec();
    out.extend(format!("*{}\r\n", matches.len()).into_bytes());
    for m in matches {
        out.extend(m);
    }
    out.extend_from_slice(b"$3\r\nlen\r\n");
    out.extend(int(total as i64));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(m: &mut Model, now_ms: u64, line: &str) -> String {
        let req: Vec<Vec<u8>> = line.split(' ').map(arg_bytes).collect();
        String::from_utf8_lossy(&m.apply(now_ms, &req).unwrap_or_default()).into_owned()
    }

    #[test]
    fn the_payloads_are_redis_checksummed() {
        for (name, bytes, _) in PAYLOADS {
            assert_eq!(verified(bytes).is_some(), *name != "bad", "{name}");
        }
        // Redis's own payloads for these strings, and the model's.
        assert_eq!(string_payload(b"hello").as_deref(), Some(PAYLOADS[0].1));
        assert_eq!(string_payload(b"42").as_deref(), Some(PAYLOADS[1].1));
    }

    /// Replies asked of redis-server 7.0.15.
    #[test]
    fn sort_as_redis() {
        let mut m = Model::new(0);
        run(&mut m, 0, "RPUSH l 2 10 -3 1.5 1");
        run(&mut m, 0, "SADD s b c a");
        run(&mut m, 0, "SET x1 7");
        run(&mut m, 0, "SET x2 abc");
        run(&mut m, 0, "SET str 1");
        let cases = [
            (
                "SORT l",
                "*5\r\n$2\r\n-3\r\n$1\r\n1\r\n$3\r\n1.5\r\n$1\r\n2\r\n$2\r\n10\r\n",
            ),
            ("SORT l DESC LIMIT 1 2", "*2\r\n$1\r\n2\r\n$3\r\n1.5\r\n"),
            (
                "SORT l ALPHA",
                "*5\r\n$2\r\n-3\r\n$1\r\n1\r\n$3\r\n1.5\r\n$2\r\n10\r\n$1\r\n2\r\n",
            ),
            (
                "SORT s",
                "-ERR One or more scores can't be converted into double\r\n",
            ),
            (
                "SORT s ALPHA DESC",
                "*3\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n",
            ),
            (
                "SORT l BY nosort DESC",
                "*5\r\n$1\r\n1\r\n$3\r\n1.5\r\n$2\r\n-3\r\n$2\r\n10\r\n$1\r\n2\r\n",
            ),
            (
                "SORT l BY x* GET # GET x*",
                "-ERR One or more scores can't be converted into double\r\n",
            ),
            (
                "SORT str",
                "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
            ),
            ("SORT str FOO", "-ERR syntax error\r\n"),
            (
                "SORT l LIMIT x 1 FOO",
                "-ERR value is not an integer or out of range\r\n",
            ),
            ("SORT_RO l STORE d", "-ERR syntax error\r\n"),
            ("SORT nokey LIMIT 1", "-ERR syntax error\r\n"),
            ("SORT l LIMIT 9 1", "*0\r\n"),
            ("SORT s BY nosort ALPHA STORE d GET x*", ":3\r\n"),
            ("LRANGE d 0 -1", "*3\r\n$0\r\n\r\n$0\r\n\r\n$0\r\n\r\n"),
            ("SORT nokey STORE d", ":0\r\n"),
            ("EXISTS d", ":0\r\n"),
        ];
        for (line, want) in cases {
            assert_eq!(run(&mut m, 0, line), want, "{line}");
        }
        run(&mut m, 0, "DEL x2");
        run(&mut m, 0, "RPUSH n 2 1");
        assert_eq!(
            run(&mut m, 0, "SORT n BY x* GET x* GET #"),
            "*4\r\n$-1\r\n$1\r\n2\r\n$1\r\n7\r\n$1\r\n1\r\n",
            "missing BY values score 0 and sort before 7"
        );
        // strtod stops at a NUL: "-1\0z" scores -1 (redis-server 7.0.15).
        run(&mut m, 0, "SET x0 -1");
        run(&mut m, 0, "SETRANGE x0 3 z");
        run(&mut m, 0, "RPUSH nul 0 a");
        run(&mut m, 0, "SET xa 2");
        assert_eq!(
            run(&mut m, 0, "SORT nul BY x* GET x*"),
            "*2\r\n$4\r\n-1\0z\r\n$1\r\n2\r\n"
        );
        // `-0` ties with a missing key's 0: the elements decide (chaos 0xa99).
        run(&mut m, 0, "RPUSH n0 0 1 1");
        run(&mut m, 0, "SET x1 -0");
        run(&mut m, 0, "DEL x0");
        assert_eq!(
            run(&mut m, 0, "SORT_RO n0 BY x* DESC"),
            "*3\r\n$1\r\n1\r\n$1\r\n1\r\n$1\r\n0\r\n"
        );
        assert_eq!(
            run(&mut m, 0, "SORT_RO n0 BY x*"),
            "*3\r\n$1\r\n0\r\n$1\r\n1\r\n$1\r\n1\r\n"
        );
    }

    /// Replies asked of redis-server 7.0.15.
    #[test]
    fn lcs_as_redis() {
        let mut m = Model::new(0);
        run(&mut m, 0, "SET a ohmytext");
        run(&mut m, 0, "SET b mynewtext");
        run(&mut m, 0, "RPUSH l x");
        let cases = [
            ("LCS a b", "$6\r\nmytext\r\n"),
            ("LCS a b LEN", ":6\r\n"),
            (
                "LCS a b IDX MINMATCHLEN 4 WITHMATCHLEN",
                "*4\r\n$7\r\nmatches\r\n*1\r\n*3\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n:4\r\n$3\r\nlen\r\n:6\r\n",
            ),
            (
                "LCS a b IDX",
                "*4\r\n$7\r\nmatches\r\n*2\r\n*2\r\n*2\r\n:4\r\n:7\r\n*2\r\n:5\r\n:8\r\n*2\r\n*2\r\n:2\r\n:3\r\n*2\r\n:0\r\n:1\r\n$3\r\nlen\r\n:6\r\n",
            ),
            ("LCS a l", "-ERR The specified keys must contain string values\r\n"),
            ("LCS a b LEN IDX", "-ERR If you want both the length and indexes, please just use IDX.\r\n"),
            ("LCS a b MINMATCHLEN", "-ERR syntax error\r\n"),
            ("LCS nokey nokey2", "$0\r\n\r\n"),
        ];
        for (line, want) in cases {
            assert_eq!(run(&mut m, 0, line), want, "{line}");
        }
    }

    /// Replies asked of redis-server 7.0.15.
    #[test]
    fn restore_as_redis() {
        let mut m = Model::new(0);
        let cases = [
            ("RESTORE k 0 <dump:list>", "+OK\r\n"),
            ("LRANGE k 0 -1", "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n"),
            (
                "RESTORE k 0 <dump:hello>",
                "-BUSYKEY Target key name already exists.\r\n",
            ),
            ("RESTORE k x <dump:bad> FOO", "-ERR syntax error\r\n"),
            (
                "RESTORE k x <dump:bad>",
                "-BUSYKEY Target key name already exists.\r\n",
            ),
            (
                "RESTORE k 0 <dump:bad> REPLACE",
                "-ERR DUMP payload version or checksum are wrong\r\n",
            ),
            ("RESTORE k 0 <dump:hello> REPLACE", "+OK\r\n"),
            ("GET k", "$5\r\nhello\r\n"),
            (
                "RESTORE n -1 <dump:int>",
                "-ERR Invalid TTL value, must be >= 0\r\n",
            ),
            (
                "RESTORE n 0 <dump:int> IDLETIME 1 FREQ 2",
                "-ERR syntax error\r\n",
            ),
            (
                "RESTORE n 0 <dump:int> FREQ 256",
                "-ERR Invalid FREQ value, must be >= 0 and <= 255\r\n",
            ),
            (
                "RESTORE n 0 <dump:int> IDLETIME -1",
                "-ERR Invalid IDLETIME value, must be >= 0\r\n",
            ),
            ("RESTORE n 1000 <dump:zset> IDLETIME 5", "+OK\r\n"),
            ("PTTL n", ":1000\r\n"),
            ("RESTORE k 50 <dump:set> ABSTTL REPLACE", "+OK\r\n"),
            ("EXISTS k", ":0\r\n"),
            ("DUMP nokey", "$-1\r\n"),
        ];
        for (line, want) in cases {
            assert_eq!(run(&mut m, 100, line), want, "{line}");
        }
    }

    #[test]
    fn dump_is_judged_by_its_footer_type_and_short_strings() {
        let mut m = Model::new(0);
        run(&mut m, 0, "SET s hello");
        run(&mut m, 0, "RPUSH l a");
        let good = bulk(PAYLOADS[0].1);
        m.observe(&good);
        assert_eq!(run(&mut m, 0, "DUMP s"), String::from_utf8_lossy(&good));
        // A list payload with a good footer is accepted for a list ...
        let list = bulk(PAYLOADS[2].1);
        m.observe(&list);
        assert_eq!(run(&mut m, 0, "DUMP l"), String::from_utf8_lossy(&list));
        // ... not a string's payload, nor one with a broken checksum.
        m.observe(&good);
        assert_ne!(run(&mut m, 0, "DUMP l"), String::from_utf8_lossy(&good));
        let bad = bulk(PAYLOADS[7].1);
        m.observe(&bad);
        assert_ne!(run(&mut m, 0, "DUMP s"), String::from_utf8_lossy(&bad));
    }
}
