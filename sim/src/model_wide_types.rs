//! The reference model, widened over the collection types: the hash, set, list and
//! sorted-set commands beyond `model_types`'s, multi-key ones included (SINTER,
//! SMOVE, LMOVE, ZUNIONSTORE ...). Replies in an unspecified order (SMEMBERS,
//! HGETALL, SINTER ...) or the node's pick (SRANDMEMBER, HRANDFIELD) are judged by
//! what they may be. Sorted-set scores stay integers (bounds may be `-inf`, `+inf`
//! and exclusive); written the plainest way.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::model::{bulk, int, parse_int, Model};
use crate::model_types::{Coll, WRONGTYPE};
use crate::model_wide::{array, bulk_payload, human_float, parse_float};

const NIL: &[u8] = b"$-1\r\n";
const NOT_INTEGER: &[u8] = b"-ERR value is not an integer or out of range\r\n";
const SYNTAX: &[u8] = b"-ERR syntax error\r\n";

type Reply = Result<Vec<u8>, Vec<u8>>;

/// LMPOP's and ZMPOP's keys, whether the direction was the first word, the count.
pub(crate) type MpopArgs<'a> = (&'a [Vec<u8>], bool, usize);

/// The arguments of LMPOP and ZMPOP, `numkeys key... FIRST|SECOND [COUNT n]`, as
/// Redis checks them: the keys, whether the direction word was `first`, the count.
pub(crate) fn mpop_args<'a>(
    args: &'a [Vec<u8>],
    first: &[u8],
    second: &[u8],
) -> Result<MpopArgs<'a>, Vec<u8>> {
    let n = parse_int(args.first().ok_or_else(|| SYNTAX.to_vec())?)
        .filter(|n| *n > 0)
        .ok_or_else(|| b"-ERR numkeys should be greater than 0\r\n".to_vec())?;
    let end = usize::try_from(n)
        .ok()
        .and_then(|n| n.checked_add(1))
        .ok_or_else(|| SYNTAX.to_vec())?;
    let keys = args.get(1..end).ok_or_else(|| SYNTAX.to_vec())?;
    let rest = args.get(end..).unwrap_or_default();
    let is_first = match rest.first() {
        Some(w) if w.eq_ignore_ascii_case(first) => true,
        Some(w) if w.eq_ignore_ascii_case(second) => false,
        _ => return Err(SYNTAX.to_vec()),
    };
    let count = match rest.get(1..) {
        None | Some([]) => 1,
        Some([c, v]) if c.eq_ignore_ascii_case(b"COUNT") => match parse_int(v) {
            Some(n) if n > 0 => n as usize,
            _ => return Err(b"-ERR count should be greater than 0\r\n".to_vec()),
        },
        Some(_) => return Err(SYNTAX.to_vec()),
    };
    Ok((keys, is_first, count))
}

/// A score bound: `-inf`, `+inf`, `n`, `(n`.
pub(crate) fn bound(v: &[u8]) -> Option<(f64, bool)> {
    let (v, excl) = match v.strip_prefix(b"(") {
        Some(r) => (r, true),
        None => (v, false),
    };
    let f = match v {
        b"-inf" => f64::NEG_INFINITY,
        b"+inf" | b"inf" => f64::INFINITY,
        _ => parse_float(v)?,
    };
    Some((f, excl))
}

pub(crate) fn above(s: f64, (b, excl): (f64, bool)) -> bool {
    if excl {
        s > b
    } else {
        s >= b
    }
}

pub(crate) fn below(s: f64, (b, excl): (f64, bool)) -> bool {
    if excl {
        s < b
    } else {
        s <= b
    }
}

pub(crate) fn ordered(z: &BTreeMap<Vec<u8>, i64>) -> Vec<(Vec<u8>, i64)> {
    let mut v: Vec<(Vec<u8>, i64)> = z.iter().map(|(m, s)| (m.clone(), *s)).collect();
    v.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    v
}

fn scored(items: &[(Vec<u8>, i64)], with_scores: bool) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len() * if with_scores { 2 } else { 1 }).into_bytes();
    for (m, s) in items {
        out.extend_from_slice(&bulk(m));
        if with_scores {
            out.extend_from_slice(&bulk(s.to_string().as_bytes()));
        }
    }
    out
}

/// Redis's clamp of a [start, stop] index pair over `len` (as `model_types::range`).
pub(crate) fn index_range(len: usize, start: i64, stop: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 {
        len + stop
    } else {
        stop.min(len - 1)
    };
    (start <= stop && start < len).then_some((start as usize, stop as usize))
}

impl Model {
    pub(crate) fn wide_types_handles(name: &str) -> bool {
        matches!(
            name,
            "HMGET"
                | "HMSET"
                | "HGETALL"
                | "HKEYS"
                | "HVALS"
                | "HSETNX"
                | "HSTRLEN"
                | "HRANDFIELD"
                | "HINCRBYFLOAT"
                | "SMEMBERS"
                | "SRANDMEMBER"
                | "SINTER"
                | "SUNION"
                | "SDIFF"
                | "SINTERSTORE"
                | "SUNIONSTORE"
                | "SDIFFSTORE"
                | "SINTERCARD"
                | "SMOVE"
                | "LPUSHX"
                | "RPUSHX"
                | "LINSERT"
                | "LSET"
                | "LPOS"
                | "LMOVE"
                | "RPOPLPUSH"
                | "ZCOUNT"
                | "ZREVRANGE"
                | "ZRANGEBYSCORE"
                | "ZREVRANGEBYSCORE"
                | "ZPOPMIN"
                | "ZPOPMAX"
                | "ZMSCORE"
                | "ZREVRANK"
                | "ZREMRANGEBYRANK"
                | "ZREMRANGEBYSCORE"
                | "ZUNIONSTORE"
                | "ZINTERSTORE"
                | "ZRANDMEMBER"
                | "LMPOP"
        )
    }

    /// A key's collection of type `ty`, cloned; Err(WRONGTYPE) when it holds another.
    pub(crate) fn coll_of(&self, key: &[u8], ty: &str) -> Result<Option<Coll>, Vec<u8>> {
        if self.keys.contains_key(key) {
            return Err(WRONGTYPE.to_vec());
        }
        match self.colls.get(key) {
            None => Ok(None),
            Some(c) if c.type_name() == ty => Ok(Some(c.clone())),
            Some(_) => Err(WRONGTYPE.to_vec()),
        }
    }

    fn hash_of(&self, key: &[u8]) -> Result<BTreeMap<Vec<u8>, Vec<u8>>, Vec<u8>> {
        Ok(match self.coll_of(key, "hash")? {
            Some(Coll::Hash(h)) => h,
            _ => BTreeMap::new(),
        })
    }

    fn set_of(&self, key: &[u8]) -> Result<BTreeSet<Vec<u8>>, Vec<u8>> {
        Ok(match self.coll_of(key, "set")? {
            Some(Coll::Set(s)) => s,
            _ => BTreeSet::new(),
        })
    }

    fn list_of(&self, key: &[u8]) -> Result<Option<VecDeque<Vec<u8>>>, Vec<u8>> {
        Ok(match self.coll_of(key, "list")? {
            Some(Coll::List(l)) => Some(l),
            _ => None,
        })
    }

    pub(crate) fn zset_of(&self, key: &[u8]) -> Result<BTreeMap<Vec<u8>, i64>, Vec<u8>> {
        Ok(match self.coll_of(key, "zset")? {
            Some(Coll::ZSet(z)) => z,
            _ => BTreeMap::new(),
        })
    }

    /// Writes a collection back in place (keeping its TTL), deleting it when empty;
    /// `replace`: a STORE's destination, which loses whatever the key held.
    pub(crate) fn put_coll(&mut self, key: &[u8], c: Coll, replace: bool) {
        let empty = match &c {
            Coll::List(l) => l.is_empty(),
            Coll::Set(s) => s.is_empty(),
            Coll::ZSet(z) => z.is_empty(),
            Coll::Hash(h) => h.is_empty(),
        };
        if replace {
            self.keys.remove(key);
            self.coll_ttl.remove(key);
        }
        if empty {
            self.colls.remove(key);
        } else {
            self.colls.insert(key.to_vec(), c);
        }
        self.touch(key);
    }

    pub(crate) fn apply_wide_types(&mut self, name: &str, req: &[Vec<u8>]) -> Option<Vec<u8>> {
        let args = req.get(1..).unwrap_or_default();
        if name == "LMPOP" {
            return Some(self.lmpop(args).unwrap_or_else(|e| e));
        }
        let key = args.first()?.clone();
        let rest = args.get(1..).unwrap_or_default();
        let r = match &name[..1] {
            "H" => self.wide_hash(name, &key, rest),
            "S" => self.wide_set(name, &key, args),
            "Z" => self.wide_zset(name, &key, args),
            _ => self.wide_list(name, &key, rest),
        }?;
        Some(r.unwrap_or_else(|e| e))
    }

    fn wide_hash(&mut self, name: &str, key: &[u8], rest: &[Vec<u8>]) -> Option<Reply> {
        // HINCRBYFLOAT parses its increment before it looks the key up.
        if name == "HINCRBYFLOAT" && parse_float(rest.get(1)?).is_none() {
            return Some(Err(b"-ERR value is not a valid float\r\n".to_vec()));
        }
        let mut h = match self.hash_of(key) {
            Ok(h) => h,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(match name {
            "HMGET" => {
                let mut out = format!("*{}\r\n", rest.len()).into_bytes();
                for f in rest {
                    out.extend_from_slice(&h.get(f).map_or(NIL.to_vec(), |v| bulk(v)));
                }
                out
            }
            "HMSET" => {
                if rest.is_empty() || !rest.len().is_multiple_of(2) {
                    return Some(Err(
                        b"-ERR wrong number of arguments for 'hmset' command\r\n".to_vec(),
                    ));
                }
                for p in rest.chunks(2) {
                    h.insert(p[0].clone(), p[1].clone());
                }
                self.put_coll(key, Coll::Hash(h), false);
                b"+OK\r\n".to_vec()
            }
            "HGETALL" | "HKEYS" | "HVALS" => {
                // Field/value pairs must stay together: compare pairs as units.
                if name == "HGETALL" {
                    let want: Vec<(Vec<u8>, Vec<u8>)> = h.into_iter().collect();
                    return Some(Ok(self.unordered_pairs(want)));
                }
                let items: Vec<Vec<u8>> = if name == "HKEYS" {
                    h.keys().cloned().collect()
                } else {
                    h.values().cloned().collect()
                };
                self.unordered(items)
            }
            "HSETNX" => {
                let (f, v) = (rest.first()?, rest.get(1)?);
                if h.contains_key(f) {
                    int(0)
                } else {
                    h.insert(f.clone(), v.clone());
                    self.put_coll(key, Coll::Hash(h), false);
                    int(1)
                }
            }
            "HSTRLEN" => int(h.get(rest.first()?).map_or(0, |v| v.len() as i64)),
            "HRANDFIELD" => {
                if h.is_empty() {
                    return Some(Ok(NIL.to_vec()));
                }
                match self.observed.as_deref().and_then(bulk_payload) {
                    Some(f) if h.contains_key(&f) => bulk(&f),
                    _ => b"-model: HRANDFIELD must name a field\r\n".to_vec(),
                }
            }
            "HINCRBYFLOAT" => {
                let f = rest.first()?.clone();
                let Some(by) = parse_float(rest.get(1)?) else {
                    return Some(Err(b"-ERR value is not a valid float\r\n".to_vec()));
                };
                let cur = match h.get(&f) {
                    None => 0.0,
                    Some(v) => match parse_float(v) {
                        Some(x) => x,
                        None => return Some(Err(b"-ERR hash value is not a float\r\n".to_vec())),
                    },
                };
                let next = cur + by;
                if !next.is_finite() {
                    return Some(Err(
                        b"-ERR increment would produce NaN or Infinity\r\n".to_vec()
                    ));
                }
                let text = human_float(next).into_bytes();
                h.insert(f, text.clone());
                self.put_coll(key, Coll::Hash(h), false);
                bulk(&text)
            }
            _ => return None,
        }))
    }

    /// HGETALL's reply when it holds exactly `want`'s pairs in any order.
    fn unordered_pairs(&self, want: Vec<(Vec<u8>, Vec<u8>)>) -> Vec<u8> {
        let flat: Vec<Vec<u8>> = want
            .iter()
            .flat_map(|(f, v)| [f.clone(), v.clone()])
            .collect();
        if let Some(items) = self
            .observed
            .as_deref()
            .and_then(crate::workload::split_array)
            .and_then(|i| {
                i.iter()
                    .map(|x| bulk_payload(x))
                    .collect::<Option<Vec<_>>>()
            })
        {
            let mut got: Vec<(Vec<u8>, Vec<u8>)> = items
                .chunks(2)
                .filter_map(|p| Some((p.first()?.clone(), p.get(1)?.clone())))
                .collect();
            got.sort();
            if got == want && items.len() == flat.len() {
                if let Some(o) = &self.observed {
                    return o.clone();
                }
            }
        }
        array(&flat)
    }

    fn wide_set(&mut self, name: &str, key: &[u8], args: &[Vec<u8>]) -> Option<Reply> {
        let sets = |m: &Model, keys: &[Vec<u8>]| -> Result<Vec<BTreeSet<Vec<u8>>>, Vec<u8>> {
            keys.iter().map(|k| m.set_of(k)).collect()
        };
        let combine = |name: &str, all: Vec<BTreeSet<Vec<u8>>>| -> BTreeSet<Vec<u8>> {
            let mut it = all.into_iter();
            let first = it.next().unwrap_or_default();
            it.fold(first, |acc, s| match name {
                "SINTER" | "SINTERSTORE" | "SINTERCARD" => acc.intersection(&s).cloned().collect(),
                "SUNION" | "SUNIONSTORE" => acc.union(&s).cloned().collect(),
                _ => acc.difference(&s).cloned().collect(),
            })
        };
        Some(Ok(match name {
            "SMEMBERS" => match self.set_of(key) {
                Err(e) => e,
                Ok(s) => self.unordered(s.into_iter().collect()),
            },
            "SRANDMEMBER" => match self.set_of(key) {
                Err(e) => e,
                Ok(s) if s.is_empty() => NIL.to_vec(),
                Ok(s) => match self.observed.as_deref().and_then(bulk_payload) {
                    Some(m) if s.contains(&m) => bulk(&m),
                    _ => b"-model: SRANDMEMBER must name a member\r\n".to_vec(),
                },
            },
            "SINTER" | "SUNION" | "SDIFF" => match sets(self, args) {
                Err(e) => e,
                Ok(all) => self.unordered(combine(name, all).into_iter().collect()),
            },
            "SINTERSTORE" | "SUNIONSTORE" | "SDIFFSTORE" => {
                let srcs = args.get(1..).unwrap_or_default();
                match sets(self, srcs) {
                    Err(e) => e,
                    Ok(all) => {
                        let out = combine(name, all);
                        let n = out.len() as i64;
                        let existed = self.colls.contains_key(key) || self.keys.contains_key(key);
                        if n > 0 || existed {
                            self.put_coll(key, Coll::Set(out), true);
                        }
                        int(n)
                    }
                }
            }
            "SINTERCARD" => {
                let Some(n) = parse_int(args.first()?).filter(|n| *n > 0) else {
                    return Some(Err(b"-ERR numkeys should be greater than 0\r\n".to_vec()));
                };
                let keys = args.get(1..1 + n as usize)?;
                let mut limit = 0;
                if let Some(opt) = args.get(1 + n as usize) {
                    if !opt.eq_ignore_ascii_case(b"LIMIT") {
                        return Some(Err(SYNTAX.to_vec()));
                    }
                    limit = match args.get(2 + n as usize).and_then(|v| parse_int(v)) {
                        Some(l) if l >= 0 => l,
                        _ => return Some(Err(b"-ERR LIMIT can't be negative\r\n".to_vec())),
                    };
                }
                match sets(self, keys) {
                    Err(e) => e,
                    Ok(all) => {
                        let c = combine(name, all).len() as i64;
                        int(if limit > 0 { c.min(limit) } else { c })
                    }
                }
            }
            "SMOVE" => {
                let (dst, m) = (args.get(1)?.clone(), args.get(2)?.clone());
                if !self.colls.contains_key(key) && !self.keys.contains_key(key) {
                    return Some(Ok(int(0)));
                }
                let mut src = match self.set_of(key) {
                    Ok(s) => s,
                    Err(e) => return Some(Err(e)),
                };
                let mut to = match self.set_of(&dst) {
                    Ok(s) => s,
                    Err(e) => return Some(Err(e)),
                };
                if !src.contains(&m) {
                    return Some(Ok(int(0)));
                }
                if key == dst.as_slice() {
                    return Some(Ok(int(1)));
                }
                src.remove(&m);
                self.put_coll(key, Coll::Set(src), false);
                to.insert(m);
                self.put_coll(&dst, Coll::Set(to), false);
                int(1)
            }
            _ => return None,
        }))
    }

    fn wide_list(&mut self, name: &str, key: &[u8], rest: &[Vec<u8>]) -> Option<Reply> {
        let l = match self.list_of(key) {
            Ok(l) => l,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(match name {
            "LPUSHX" | "RPUSHX" => {
                let Some(mut l) = l else {
                    return Some(Ok(int(0)));
                };
                for v in rest {
                    if name == "LPUSHX" {
                        l.push_front(v.clone());
                    } else {
                        l.push_back(v.clone());
                    }
                }
                let n = l.len() as i64;
                self.put_coll(key, Coll::List(l), false);
                int(n)
            }
            "LINSERT" => {
                let (wher, pivot, v) = (rest.first()?, rest.get(1)?, rest.get(2)?);
                let after = if wher.eq_ignore_ascii_case(b"AFTER") {
                    true
                } else if wher.eq_ignore_ascii_case(b"BEFORE") {
                    false
                } else {
                    return Some(Err(SYNTAX.to_vec()));
                };
                let Some(mut l) = l else {
                    return Some(Ok(int(0)));
                };
                match l.iter().position(|x| x == pivot) {
                    None => int(-1),
                    Some(i) => {
                        l.insert(if after { i + 1 } else { i }, v.clone());
                        let n = l.len() as i64;
                        self.put_coll(key, Coll::List(l), false);
                        int(n)
                    }
                }
            }
            "LSET" => {
                let Some(mut l) = l else {
                    return Some(Err(b"-ERR no such key\r\n".to_vec()));
                };
                let Some(i) = parse_int(rest.first()?) else {
                    return Some(Err(NOT_INTEGER.to_vec()));
                };
                let i = if i < 0 { l.len() as i64 + i } else { i };
                match usize::try_from(i).ok().filter(|i| *i < l.len()) {
                    None => b"-ERR index out of range\r\n".to_vec(),
                    Some(i) => {
                        l[i] = rest.get(1)?.clone();
                        self.put_coll(key, Coll::List(l), false);
                        b"+OK\r\n".to_vec()
                    }
                }
            }
            "LPOS" => {
                let el = rest.first()?;
                let (mut rank, mut count) = (1i64, None);
                let mut i = 1;
                while let Some(opt) = rest.get(i) {
                    let v = rest.get(i + 1).and_then(|v| parse_int(v));
                    match opt.to_ascii_uppercase().as_slice() {
                        b"RANK" => match v {
                            Some(0) => return Some(Err(b"-ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list\r\n".to_vec())),
                            Some(r) => rank = r,
                            None => return Some(Err(NOT_INTEGER.to_vec())),
                        },
                        b"COUNT" => match v {
                            Some(c) if c >= 0 => count = Some(c),
                            _ => return Some(Err(b"-ERR COUNT can't be negative\r\n".to_vec())),
                        },
                        _ => return Some(Err(SYNTAX.to_vec())),
                    }
                    i += 2;
                }
                let l = l.unwrap_or_default();
                let mut idx: Vec<usize> = (0..l.len()).filter(|i| l[*i] == *el).collect();
                if rank < 0 {
                    idx.reverse();
                }
                let skip = (rank.unsigned_abs() - 1) as usize;
                let found: Vec<usize> = idx.into_iter().skip(skip).collect();
                match count {
                    None => match found.first() {
                        Some(i) => int(*i as i64),
                        None => NIL.to_vec(),
                    },
                    Some(c) => {
                        let take = if c == 0 { found.len() } else { c as usize };
                        let got: Vec<&usize> = found.iter().take(take).collect();
                        let mut out = format!("*{}\r\n", got.len()).into_bytes();
                        for i in got {
                            out.extend_from_slice(&int(*i as i64));
                        }
                        out
                    }
                }
            }
            "LMOVE" | "RPOPLPUSH" => {
                let dst = rest.first()?.clone();
                let (from_left, to_left) = if name == "RPOPLPUSH" {
                    (false, true)
                } else {
                    let side = |v: &Vec<u8>| {
                        if v.eq_ignore_ascii_case(b"LEFT") {
                            Some(true)
                        } else if v.eq_ignore_ascii_case(b"RIGHT") {
                            Some(false)
                        } else {
                            None
                        }
                    };
                    match (side(rest.get(1)?), side(rest.get(2)?)) {
                        (Some(a), Some(b)) => (a, b),
                        _ => return Some(Err(SYNTAX.to_vec())),
                    }
                };
                let Some(mut src) = l else {
                    return Some(Ok(NIL.to_vec()));
                };
                if let Err(e) = self.list_of(&dst) {
                    return Some(Err(e));
                }
                let v = if from_left {
                    src.pop_front()
                } else {
                    src.pop_back()
                }?;
                self.put_coll(key, Coll::List(src), false);
                let mut to = self.list_of(&dst).ok().flatten().unwrap_or_default();
                if to_left {
                    to.push_front(v.clone());
                } else {
                    to.push_back(v.clone());
                }
                self.put_coll(&dst, Coll::List(to), false);
                bulk(&v)
            }
            _ => return None,
        }))
    }

    fn wide_zset(&mut self, name: &str, key: &[u8], args: &[Vec<u8>]) -> Option<Reply> {
        let rest = args.get(1..).unwrap_or_default();
        if matches!(name, "ZUNIONSTORE" | "ZINTERSTORE") {
            return Some(self.zstore(name, key, rest));
        }
        let z = match self.zset_of(key) {
            Ok(z) => z,
            Err(e) => return Some(Err(e)),
        };
        Some(Ok(match name {
            "ZCOUNT" => {
                let (Some(min), Some(max)) = (bound(rest.first()?), bound(rest.get(1)?)) else {
                    return Some(Err(b"-ERR min or max is not a float\r\n".to_vec()));
                };
                int(z
                    .values()
                    .filter(|s| above(**s as f64, min) && below(**s as f64, max))
                    .count() as i64)
            }
            "ZREVRANGE" => {
                let (Some(a), Some(b)) = (parse_int(rest.first()?), parse_int(rest.get(1)?)) else {
                    return Some(Err(NOT_INTEGER.to_vec()));
                };
                let ws = match rest.get(2) {
                    None => false,
                    Some(w) if w.eq_ignore_ascii_case(b"WITHSCORES") => true,
                    Some(_) => return Some(Err(SYNTAX.to_vec())),
                };
                let mut all = ordered(&z);
                all.reverse();
                match index_range(all.len(), a, b) {
                    Some((a, b)) => scored(&all[a..=b], ws),
                    None => b"*0\r\n".to_vec(),
                }
            }
            "ZRANGEBYSCORE" | "ZREVRANGEBYSCORE" => {
                let rev = name == "ZREVRANGEBYSCORE";
                let (lo, hi) = if rev {
                    (rest.get(1)?, rest.first()?)
                } else {
                    (rest.first()?, rest.get(1)?)
                };
                let (Some(min), Some(max)) = (bound(lo), bound(hi)) else {
                    return Some(Err(b"-ERR min or max is not a float\r\n".to_vec()));
                };
                let (mut ws, mut limit) = (false, None);
                let mut i = 2;
                while let Some(opt) = rest.get(i) {
                    if opt.eq_ignore_ascii_case(b"WITHSCORES") {
                        ws = true;
                        i += 1;
                    } else if opt.eq_ignore_ascii_case(b"LIMIT") {
                        let (Some(o), Some(c)) = (
                            rest.get(i + 1).and_then(|v| parse_int(v)),
                            rest.get(i + 2).and_then(|v| parse_int(v)),
                        ) else {
                            return Some(Err(NOT_INTEGER.to_vec()));
                        };
                        limit = Some((o, c));
                        i += 3;
                    } else {
                        return Some(Err(SYNTAX.to_vec()));
                    }
                }
                let mut all: Vec<(Vec<u8>, i64)> = ordered(&z)
                    .into_iter()
                    .filter(|(_, s)| above(*s as f64, min) && below(*s as f64, max))
                    .collect();
                if rev {
                    all.reverse();
                }
                if let Some((o, c)) = limit {
                    if o < 0 {
                        all.clear();
                    } else {
                        all = all.into_iter().skip(o as usize).collect();
                        if c >= 0 {
                            all.truncate(c as usize);
                        }
                    }
                }
                scored(&all, ws)
            }
            "ZPOPMIN" | "ZPOPMAX" => {
                let count = match rest.first() {
                    None => None,
                    Some(c) => match parse_int(c) {
                        Some(c) if c >= 0 => Some(c as usize),
                        _ => {
                            return Some(Err(
                                b"-ERR value is out of range, must be positive\r\n".to_vec()
                            ))
                        }
                    },
                };
                let mut all = ordered(&z);
                if name == "ZPOPMAX" {
                    all.reverse();
                }
                all.truncate(count.unwrap_or(1));
                let mut z = z;
                for (m, _) in &all {
                    z.remove(m);
                }
                if !all.is_empty() {
                    self.put_coll(key, Coll::ZSet(z), false);
                }
                scored(&all, true)
            }
            "ZMSCORE" => {
                let mut out = format!("*{}\r\n", rest.len()).into_bytes();
                for m in rest {
                    out.extend_from_slice(
                        &z.get(m)
                            .map_or(NIL.to_vec(), |s| bulk(s.to_string().as_bytes())),
                    );
                }
                out
            }
            "ZRANDMEMBER" => {
                if z.is_empty() {
                    return Some(Ok(NIL.to_vec()));
                }
                match self.observed.as_deref().and_then(bulk_payload) {
                    Some(m) if z.contains_key(&m) => bulk(&m),
                    _ => b"-model: ZRANDMEMBER must name a member\r\n".to_vec(),
                }
            }
            "ZREVRANK" => {
                let m = rest.first()?;
                let mut all = ordered(&z);
                all.reverse();
                match all.iter().position(|(x, _)| x == m) {
                    Some(r) => int(r as i64),
                    None => NIL.to_vec(),
                }
            }
            "ZREMRANGEBYRANK" | "ZREMRANGEBYSCORE" => {
                let all = ordered(&z);
                let drop: Vec<Vec<u8>> = if name == "ZREMRANGEBYRANK" {
                    let (Some(a), Some(b)) = (parse_int(rest.first()?), parse_int(rest.get(1)?))
                    else {
                        return Some(Err(NOT_INTEGER.to_vec()));
                    };
                    match index_range(all.len(), a, b) {
                        Some((a, b)) => all[a..=b].iter().map(|(m, _)| m.clone()).collect(),
                        None => vec![],
                    }
                } else {
                    let (Some(min), Some(max)) = (bound(rest.first()?), bound(rest.get(1)?)) else {
                        return Some(Err(b"-ERR min or max is not a float\r\n".to_vec()));
                    };
                    all.iter()
                        .filter(|(_, s)| above(*s as f64, min) && below(*s as f64, max))
                        .map(|(m, _)| m.clone())
                        .collect()
                };
                let mut z = z;
                for m in &drop {
                    z.remove(m);
                }
                if !drop.is_empty() {
                    self.put_coll(key, Coll::ZSet(z), false);
                }
                int(drop.len() as i64)
            }
            _ => return None,
        }))
    }

    /// `LMPOP numkeys key... LEFT|RIGHT [COUNT n]`: pops from the first non-empty
    /// list; `*-1` when all are empty.
    fn lmpop(&mut self, args: &[Vec<u8>]) -> Reply {
        let (keys, left, count) = mpop_args(args, b"LEFT", b"RIGHT")?;
        for k in keys {
            let Some(mut l) = self.list_of(k)? else {
                continue;
            };
            let mut got = Vec::new();
            while got.len() < count {
                match if left { l.pop_front() } else { l.pop_back() } {
                    Some(v) => got.push(v),
                    None => break,
                }
            }
            self.put_coll(k, Coll::List(l), false);
            let mut out = b"*2\r\n".to_vec();
            out.extend_from_slice(&bulk(k));
            out.extend_from_slice(&array(&got));
            return Ok(out);
        }
        Ok(b"*-1\r\n".to_vec())
    }

    /// `ZUNIONSTORE|ZINTERSTORE dst numkeys key... [AGGREGATE SUM|MIN|MAX]` (no
    /// WEIGHTS); sets count as members of score 1, as Redis.
    fn zstore(&mut self, name: &str, dst: &[u8], rest: &[Vec<u8>]) -> Reply {
        let n = parse_int(rest.first().ok_or_else(|| SYNTAX.to_vec())?)
            .ok_or_else(|| NOT_INTEGER.to_vec())?;
        if n <= 0 {
            return Err(format!(
                "-ERR at least 1 input key is needed for '{}' command\r\n",
                name.to_ascii_lowercase()
            )
            .into_bytes());
        }
        let keys = rest.get(1..1 + n as usize).ok_or_else(|| SYNTAX.to_vec())?;
        let mut agg = "SUM".to_string();
        let mut i = 1 + n as usize;
        while let Some(opt) = rest.get(i) {
            if !opt.eq_ignore_ascii_case(b"AGGREGATE") {
                return Err(SYNTAX.to_vec());
            }
            let a = rest.get(i + 1).ok_or_else(|| SYNTAX.to_vec())?;
            agg = String::from_utf8_lossy(a).to_ascii_uppercase();
            if !matches!(agg.as_str(), "SUM" | "MIN" | "MAX") {
                return Err(SYNTAX.to_vec());
            }
            i += 2;
        }
        let mut inputs = Vec::new();
        for k in keys {
            if self.keys.contains_key(k) {
                return Err(WRONGTYPE.to_vec());
            }
            inputs.push(match self.colls.get(k) {
                None => BTreeMap::new(),
                Some(Coll::ZSet(z)) => z.clone(),
                Some(Coll::Set(s)) => s.iter().map(|m| (m.clone(), 1)).collect(),
                Some(_) => return Err(WRONGTYPE.to_vec()),
            });
        }
        let combine = |a: i64, b: i64| match agg.as_str() {
            "MIN" => a.min(b),
            "MAX" => a.max(b),
            _ => a.saturating_add(b),
        };
        let mut out: BTreeMap<Vec<u8>, i64> = BTreeMap::new();
        if name == "ZUNIONSTORE" {
            for z in &inputs {
                for (m, s) in z {
                    let v = out.get(m).map_or(*s, |cur| combine(*cur, *s));
                    out.insert(m.clone(), v);
                }
            }
        } else if let Some((first, others)) = inputs.split_first() {
            for (m, s) in first {
                let mut v = *s;
                let mut everywhere = true;
                for z in others {
                    match z.get(m) {
                        Some(x) => v = combine(v, *x),
                        None => everywhere = false,
                    }
                }
                if everywhere {
                    out.insert(m.clone(), v);
                }
            }
        }
        let len = out.len() as i64;
        let existed = self.colls.contains_key(dst) || self.keys.contains_key(dst);
        if len > 0 || existed {
            self.put_coll(dst, Coll::ZSet(out), true);
        }
        Ok(int(len))
    }
}
