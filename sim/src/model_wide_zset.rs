//! The reference model, widened over the sorted-set families `model_wide_types` leaves
//! out: the lex ranges (ZRANGEBYLEX, ZREVRANGEBYLEX, ZLEXCOUNT, ZREMRANGEBYLEX), the
//! set algebra (ZUNION, ZINTER, ZDIFF, ZINTERCARD, ZDIFFSTORE, ZRANGESTORE, ZMPOP) and
//! the collection scans (HSCAN, SSCAN, ZSCAN). Written from Redis 7.0's documented
//! behaviour and its replies (each edge case asked of redis-server 7.0.15), never from
//! keel's code.
//!
//! Stored scores stay integers (`Coll::ZSet` holds i64); the replies that never store
//! (ZUNION, ZINTER with WITHSCORES) compute in doubles as Redis does: `weight * score`,
//! a NaN from `inf * 0` or `inf + -inf` turned into 0, printed as `%.17g`. A scan's
//! reply is the node's pick: judged by what it may hold, not by its bytes.

use std::collections::BTreeMap;

use crate::model::{bulk, int, parse_int, Model};
use crate::model_types::{Coll, WRONGTYPE};
use crate::model_wide::{bulk_payload, glob};
use crate::model_wide_types::{above, below, bound, index_range, mpop_args, ordered};

const SYNTAX: &[u8] = b"-ERR syntax error\r\n";
const NOT_INTEGER: &[u8] = b"-ERR value is not an integer or out of range\r\n";
const NOT_FLOAT: &[u8] = b"-ERR min or max is not a float\r\n";
const NOT_LEX: &[u8] = b"-ERR min or max not valid string range item\r\n";

type Reply = Result<Vec<u8>, Vec<u8>>;

/// One end of a lex range: `-`, `+`, `[v` (inclusive), `(v` (exclusive).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lex {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

/// Redis's `zslParseLexRangeItem`.
pub(crate) fn lex(v: &[u8]) -> Option<Lex> {
    match v.split_first()? {
        (b'+', []) => Some(Lex::Max),
        (b'-', []) => Some(Lex::Min),
        (b'[', rest) => Some(Lex::Incl(rest.to_vec())),
        (b'(', rest) => Some(Lex::Excl(rest.to_vec())),
        _ => None,
    }
}

fn gte_min(v: &[u8], min: &Lex) -> bool {
    match min {
        Lex::Min => true,
        Lex::Max => false,
        Lex::Incl(m) => v >= m.as_slice(),
        Lex::Excl(m) => v > m.as_slice(),
    }
}

fn lte_max(v: &[u8], max: &Lex) -> bool {
    match max {
        Lex::Max => true,
        Lex::Min => false,
        Lex::Incl(m) => v <= m.as_slice(),
        Lex::Excl(m) => v < m.as_slice(),
    }
}

/// A double as Redis's RESP2 `addReplyDouble` prints it (`%.17g`, `inf`, `-inf`). The
/// workload's scores and weights are dyadic with few digits, where the shortest
/// round-trip form is `%.17g`'s.
pub(crate) fn fmt_score(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    if v == v.trunc() && v.abs() < 1e17 {
        return format!("{}", v as i64);
    }
    format!("{v}")
}

/// Redis's weight parse (`strtod`: `inf`, `-inf`, decimals); None is "weight value is
/// not a float".
fn weight(v: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(v).ok()?;
    if s.is_empty() || s.trim() != s {
        return None;
    }
    let f: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => f64::INFINITY,
        "-inf" | "-infinity" => f64::NEG_INFINITY,
        _ => s.parse().ok()?,
    };
    (!f.is_nan()).then_some(f)
}

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Agg {
    Sum,
    Min,
    Max,
}

/// Redis's `zunionInterAggregate`.
fn aggregate(agg: Agg, target: f64, val: f64) -> f64 {
    match agg {
        Agg::Sum => {
            let s = target + val;
            if s.is_nan() {
                0.0
            } else {
                s
            }
        }
        Agg::Min => {
            if val < target {
                val
            } else {
                target
            }
        }
        Agg::Max => {
            if val > target {
                val
            } else {
                target
            }
        }
    }
}

/// Members sorted as Redis replies them: by score, then member.
fn by_score(out: &BTreeMap<Vec<u8>, f64>) -> Vec<(Vec<u8>, f64)> {
    let mut v: Vec<(Vec<u8>, f64)> = out.iter().map(|(m, s)| (m.clone(), *s)).collect();
    // -0 and 0 are equal scores to Redis: the member decides.
    v.sort_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    v
}

fn scored_f(items: &[(Vec<u8>, f64)], with_scores: bool) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len() * if with_scores { 2 } else { 1 }).into_bytes();
    for (m, s) in items {
        out.extend_from_slice(&bulk(m));
        if with_scores {
            out.extend_from_slice(&bulk(fmt_score(*s).as_bytes()));
        }
    }
    out
}

/// Redis's LIMIT offset count over a range's result: a negative offset empties it, a
/// negative count takes everything after the offset.
fn apply_limit<T>(all: Vec<T>, limit: Option<(i64, i64)>) -> Vec<T> {
    match limit {
        None => all,
        Some((o, _)) if o < 0 => Vec::new(),
        Some((o, c)) => {
            let rest = all.into_iter().skip(o as usize);
            if c < 0 {
                rest.collect()
            } else {
                rest.take(c as usize).collect()
            }
        }
    }
}

/// What a ZRANGE-like command selects.
enum RangeBy {
    Rank(i64, i64),
    Score((f64, bool), (f64, bool)),
    Lex(Lex, Lex),
}

impl Model {
    pub(crate) fn wide_zset_handles(name: &str) -> bool {
        matches!(
            name,
            "ZRANGEBYLEX"
                | "ZREVRANGEBYLEX"
                | "ZLEXCOUNT"
                | "ZREMRANGEBYLEX"
                | "ZUNION"
                | "ZINTER"
                | "ZDIFF"
                | "ZINTERCARD"
                | "ZDIFFSTORE"
                | "ZRANGESTORE"
                | "ZMPOP"
                | "HSCAN"
                | "SSCAN"
                | "ZSCAN"
        )
    }

    pub(crate) fn apply_wide_zset(&mut self, name: &str, req: &[Vec<u8>]) -> Option<Vec<u8>> {
        let args = req.get(1..).unwrap_or_default();
        let r = match name {
            "ZRANGEBYLEX" | "ZREVRANGEBYLEX" => self.zrangebylex(name == "ZREVRANGEBYLEX", args),
            "ZLEXCOUNT" | "ZREMRANGEBYLEX" => self.zlex_count_or_remove(name, args),
            "ZUNION" | "ZINTER" | "ZDIFF" | "ZINTERCARD" => self.zalgebra(name, args, None),
            "ZDIFFSTORE" => {
                let dst = args.first().ok_or_else(|| SYNTAX.to_vec());
                match dst {
                    Ok(d) => self.zalgebra(name, args.get(1..).unwrap_or_default(), Some(d)),
                    Err(e) => Err(e),
                }
            }
            "ZRANGESTORE" => self.zrangestore(args),
            "ZMPOP" => self.zmpop(args),
            "HSCAN" | "SSCAN" | "ZSCAN" => self.coll_scan(name, args),
            _ => return None,
        };
        Some(r.unwrap_or_else(|e| e))
    }

    fn zrangebylex(&mut self, rev: bool, args: &[Vec<u8>]) -> Reply {
        let key = args.first().ok_or_else(|| SYNTAX.to_vec())?;
        let (a, b) = (
            args.get(1).ok_or_else(|| SYNTAX.to_vec())?,
            args.get(2).ok_or_else(|| SYNTAX.to_vec())?,
        );
        let (mut ws, mut limit) = (false, None);
        let mut i = 3;
        while let Some(opt) = args.get(i) {
            let left = args.len() - i - 1;
            if opt.eq_ignore_ascii_case(b"WITHSCORES") {
                ws = true;
                i += 1;
            } else if opt.eq_ignore_ascii_case(b"LIMIT") && left >= 2 {
                let (Some(o), Some(c)) = (
                    args.get(i + 1).and_then(|v| parse_int(v)),
                    args.get(i + 2).and_then(|v| parse_int(v)),
                ) else {
                    return Err(NOT_INTEGER.to_vec());
                };
                limit = Some((o, c));
                i += 3;
            } else {
                return Err(SYNTAX.to_vec());
            }
        }
        if ws {
            return Err(
                b"-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"
                    .to_vec(),
            );
        }
        let (min, max) = if rev { (b, a) } else { (a, b) };
        let (Some(min), Some(max)) = (lex(min), lex(max)) else {
            return Err(NOT_LEX.to_vec());
        };
        let z = self.zset_of(key)?;
        let mut all: Vec<Vec<u8>> = ordered(&z)
            .into_iter()
            .map(|(m, _)| m)
            .filter(|m| gte_min(m, &min) && lte_max(m, &max))
            .collect();
        if rev {
            all.reverse();
        }
        Ok(crate::model_wide::array(&apply_limit(all, limit)))
    }

    fn zlex_count_or_remove(&mut self, name: &str, args: &[Vec<u8>]) -> Reply {
        let key = args.first().ok_or_else(|| SYNTAX.to_vec())?;
        let (Some(min), Some(max)) = (
            args.get(1).and_then(|v| lex(v)),
            args.get(2).and_then(|v| lex(v)),
        ) else {
            return Err(NOT_LEX.to_vec());
        };
        let mut z = self.zset_of(key)?;
        let hit: Vec<Vec<u8>> = z
            .keys()
            .filter(|m| gte_min(m, &min) && lte_max(m, &max))
            .cloned()
            .collect();
        if name == "ZREMRANGEBYLEX" && !hit.is_empty() {
            for m in &hit {
                z.remove(m);
            }
            self.put_coll(key, Coll::ZSet(z), false);
        }
        Ok(int(hit.len() as i64))
    }

    /// The inputs of a set-algebra command: sets count as members of score 1; a key of
    /// another type is WRONGTYPE (checked before the options, as Redis).
    fn zinputs(&self, keys: &[Vec<u8>]) -> Result<Vec<BTreeMap<Vec<u8>, f64>>, Vec<u8>> {
        let mut inputs = Vec::new();
        for k in keys {
            if self.keys.contains_key(k) {
                return Err(WRONGTYPE.to_vec());
            }
            inputs.push(match self.colls.get(k) {
                None => BTreeMap::new(),
                Some(Coll::ZSet(z)) => z.iter().map(|(m, s)| (m.clone(), *s as f64)).collect(),
                Some(Coll::Set(s)) => s.iter().map(|m| (m.clone(), 1.0)).collect(),
                Some(_) => return Err(WRONGTYPE.to_vec()),
            });
        }
        Ok(inputs)
    }

    /// `ZUNION|ZINTER|ZDIFF|ZINTERCARD numkeys key... [options]` and `ZDIFFSTORE dst
    /// numkeys key...` (`dst` given): Redis's `zunionInterDiffGenericCommand`.
    fn zalgebra(&mut self, name: &str, args: &[Vec<u8>], dst: Option<&Vec<u8>>) -> Reply {
        let op = match name {
            "ZUNION" => SetOp::Union,
            "ZINTER" | "ZINTERCARD" => SetOp::Inter,
            _ => SetOp::Diff,
        };
        let card_only = name == "ZINTERCARD";
        let n = parse_int(args.first().ok_or_else(|| SYNTAX.to_vec())?)
            .ok_or_else(|| NOT_INTEGER.to_vec())?;
        if n < 1 {
            return Err(format!(
                "-ERR at least 1 input key is needed for '{}' command\r\n",
                name.to_ascii_lowercase()
            )
            .into_bytes());
        }
        let n = n as usize;
        let keys = args.get(1..1 + n).ok_or_else(|| SYNTAX.to_vec())?;
        let inputs = self.zinputs(keys)?;
        let mut weights = vec![1.0; n];
        let (mut agg, mut ws, mut limit) = (Agg::Sum, false, 0i64);
        let mut i = 1 + n;
        while let Some(opt) = args.get(i) {
            let left = args.len() - i - 1;
            let is = |w: &[u8]| opt.eq_ignore_ascii_case(w);
            if op != SetOp::Diff && !card_only && left >= n && is(b"WEIGHTS") {
                for (j, w) in weights.iter_mut().enumerate() {
                    *w = args
                        .get(i + 1 + j)
                        .and_then(|v| weight(v))
                        .ok_or_else(|| b"-ERR weight value is not a float\r\n".to_vec())?;
                }
                i += 1 + n;
            } else if op != SetOp::Diff && !card_only && left >= 1 && is(b"AGGREGATE") {
                let a = args.get(i + 1).map(|a| a.to_ascii_uppercase());
                agg = match a.as_deref() {
                    Some(b"SUM") => Agg::Sum,
                    Some(b"MIN") => Agg::Min,
                    Some(b"MAX") => Agg::Max,
                    _ => return Err(SYNTAX.to_vec()),
                };
                i += 2;
            } else if dst.is_none() && !card_only && is(b"WITHSCORES") {
                ws = true;
                i += 1;
            } else if card_only && left >= 1 && is(b"LIMIT") {
                limit = match args.get(i + 1).and_then(|v| parse_int(v)) {
                    Some(l) if l >= 0 => l,
                    _ => return Err(b"-ERR LIMIT can't be negative\r\n".to_vec()),
                };
                i += 2;
            } else {
                return Err(SYNTAX.to_vec());
            }
        }
        let weighted = |s: f64, w: f64| {
            let v = s * w;
            if v.is_nan() {
                0.0
            } else {
                v
            }
        };
        let mut out: BTreeMap<Vec<u8>, f64> = BTreeMap::new();
        match op {
            SetOp::Union => {
                for (z, w) in inputs.iter().zip(&weights) {
                    for (m, s) in z {
                        let v = weighted(*s, *w);
                        let next = out.get(m).map_or(v, |cur| aggregate(agg, *cur, v));
                        out.insert(m.clone(), next);
                    }
                }
            }
            SetOp::Inter => {
                // Redis sorts the inputs smallest first (a stable sort for equal
                // sizes) and zeroes a NaN product only for that first input: `inf *
                // 0` from another input makes the sum NaN, then 0 (asked of 7.0.15:
                // `ZINTER 2 z y WEIGHTS inf inf` with z={c:2}, y={c:0,a:0} gives c 0).
                let mut sorted: Vec<(&BTreeMap<Vec<u8>, f64>, f64)> = inputs
                    .iter()
                    .zip(weights.iter().copied().chain(std::iter::repeat(1.0)))
                    .collect();
                sorted.sort_by_key(|(z, _)| z.len());
                if let Some(((first, w0), others)) = sorted.split_first() {
                    'members: for (m, s) in first.iter() {
                        let mut v = weighted(*s, *w0);
                        for (z, w) in others {
                            match z.get(m) {
                                Some(x) => v = aggregate(agg, v, *x * *w),
                                None => continue 'members,
                            }
                        }
                        out.insert(m.clone(), v);
                    }
                }
            }
            SetOp::Diff => {
                if let Some((first, others)) = inputs.split_first() {
                    for (m, s) in first {
                        if others.iter().all(|z| !z.contains_key(m)) {
                            out.insert(m.clone(), *s);
                        }
                    }
                }
            }
        }
        if card_only {
            let c = out.len() as i64;
            return Ok(int(if limit > 0 { c.min(limit) } else { c }));
        }
        if let Some(dst) = dst {
            return self.zstore_result(dst, &out);
        }
        Ok(scored_f(&by_score(&out), ws))
    }

    /// Stores a computed sorted set at `dst` (replacing whatever it held, deleting it
    /// when empty). Stored scores are integers in the model: the workload stores only
    /// integer results, and anything else is flagged rather than rounded.
    fn zstore_result(&mut self, dst: &[u8], out: &BTreeMap<Vec<u8>, f64>) -> Reply {
        let mut z = BTreeMap::new();
        for (m, s) in out {
            if *s != s.trunc() || !s.is_finite() || s.abs() >= 1e15 {
                return Err(b"-model: a stored score the model cannot hold\r\n".to_vec());
            }
            z.insert(m.clone(), *s as i64);
        }
        let len = z.len() as i64;
        let existed = self.colls.contains_key(dst) || self.keys.contains_key(dst);
        if len > 0 || existed {
            self.put_coll(dst, Coll::ZSet(z), true);
        }
        Ok(int(len))
    }

    /// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`:
    /// Redis's `zrangeGenericCommand` with a store handler.
    fn zrangestore(&mut self, args: &[Vec<u8>]) -> Reply {
        let dst = args.first().ok_or_else(|| SYNTAX.to_vec())?.clone();
        let src = args.get(1).ok_or_else(|| SYNTAX.to_vec())?.clone();
        let (a, b) = (
            args.get(2).ok_or_else(|| SYNTAX.to_vec())?,
            args.get(3).ok_or_else(|| SYNTAX.to_vec())?,
        );
        let (mut rev, mut by, mut limit): (bool, Option<&str>, Option<(i64, i64)>) =
            (false, None, None);
        let mut i = 4;
        while let Some(opt) = args.get(i) {
            let left = args.len() - i - 1;
            let is = |w: &[u8]| opt.eq_ignore_ascii_case(w);
            if is(b"LIMIT") && left >= 2 {
                let (Some(o), Some(c)) = (
                    args.get(i + 1).and_then(|v| parse_int(v)),
                    args.get(i + 2).and_then(|v| parse_int(v)),
                ) else {
                    return Err(NOT_INTEGER.to_vec());
                };
                limit = Some((o, c));
                i += 3;
                continue;
            } else if !rev && is(b"REV") {
                rev = true;
            } else if by.is_none() && is(b"BYLEX") {
                by = Some("lex");
            } else if by.is_none() && is(b"BYSCORE") {
                by = Some("score");
            } else {
                return Err(SYNTAX.to_vec());
            }
            i += 1;
        }
        if by.is_none() && limit.is_some_and(|(_, c)| c != -1) {
            return Err(b"-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n".to_vec());
        }
        let (lo, hi) = if rev && by.is_some() { (b, a) } else { (a, b) };
        let range = match by {
            None => match (parse_int(lo), parse_int(hi)) {
                (Some(x), Some(y)) => RangeBy::Rank(x, y),
                _ => return Err(NOT_INTEGER.to_vec()),
            },
            Some("score") => match (bound(lo), bound(hi)) {
                (Some(x), Some(y)) => RangeBy::Score(x, y),
                _ => return Err(NOT_FLOAT.to_vec()),
            },
            _ => match (lex(lo), lex(hi)) {
                (Some(x), Some(y)) => RangeBy::Lex(x, y),
                _ => return Err(NOT_LEX.to_vec()),
            },
        };
        let z = self.zset_of(&src)?;
        let mut all = ordered(&z);
        if rev {
            all.reverse();
        }
        let picked: Vec<(Vec<u8>, i64)> = match range {
            RangeBy::Rank(x, y) => match index_range(all.len(), x, y) {
                Some((x, y)) => all.get(x..=y).unwrap_or_default().to_vec(),
                None => Vec::new(),
            },
            RangeBy::Score(min, max) => apply_limit(
                all.into_iter()
                    .filter(|(_, s)| above(*s as f64, min) && below(*s as f64, max))
                    .collect(),
                limit,
            ),
            RangeBy::Lex(min, max) => apply_limit(
                all.into_iter()
                    .filter(|(m, _)| gte_min(m, &min) && lte_max(m, &max))
                    .collect(),
                limit,
            ),
        };
        let out: BTreeMap<Vec<u8>, f64> = picked.into_iter().map(|(m, s)| (m, s as f64)).collect();
        self.zstore_result(&dst, &out)
    }

    /// `ZMPOP numkeys key... MIN|MAX [COUNT n]`: pops from the first non-empty sorted
    /// set; `*-1` when all are empty.
    fn zmpop(&mut self, args: &[Vec<u8>]) -> Reply {
        let (keys, max, count) = mpop_args(args, b"MAX", b"MIN")?;
        for k in keys {
            let mut z = self.zset_of(k)?;
            if z.is_empty() {
                continue;
            }
            let mut all = ordered(&z);
            if max {
                all.reverse();
            }
            all.truncate(count);
            for (m, _) in &all {
                z.remove(m);
            }
            self.put_coll(k, Coll::ZSet(z), false);
            let mut out = b"*2\r\n".to_vec();
            out.extend_from_slice(&bulk(k));
            out.extend_from_slice(format!("*{}\r\n", all.len()).as_bytes());
            for (m, s) in &all {
                out.extend_from_slice(b"*2\r\n");
                out.extend_from_slice(&bulk(m));
                out.extend_from_slice(&bulk(s.to_string().as_bytes()));
            }
            return Ok(out);
        }
        Ok(b"*-1\r\n".to_vec())
    }

    /// `HSCAN|SSCAN|ZSCAN key cursor [MATCH p] [COUNT n]`, judged by the scan's
    /// guarantee rather than its bytes: a reply whose next cursor is 0 after a scan
    /// started at cursor 0 must hold every matching element exactly once (nothing
    /// changes between the two ends of one call); any other reply, only matching
    /// elements, each once. Hash fields come with their values and sorted-set members
    /// with their scores, as pairs that must match the collection's.
    fn coll_scan(&mut self, name: &str, args: &[Vec<u8>]) -> Reply {
        let key = args.first().ok_or_else(|| SYNTAX.to_vec())?;
        let cursor = args.get(1).ok_or_else(|| SYNTAX.to_vec())?;
        let c = std::str::from_utf8(cursor).ok();
        // strtoull: an optional sign, digits, nothing else.
        let valid = c.is_some_and(|c| {
            let d = c.strip_prefix(['-', '+']).unwrap_or(c);
            !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) && d.parse::<u64>().is_ok()
        });
        if !valid {
            return Err(b"-ERR invalid cursor\r\n".to_vec());
        }
        let ty = match name {
            "HSCAN" => "hash",
            "SSCAN" => "set",
            _ => "zset",
        };
        let Some(coll) = self.coll_of(key, ty)? else {
            return Ok(b"*2\r\n$1\r\n0\r\n*0\r\n".to_vec());
        };
        let mut pattern: Option<Vec<u8>> = None;
        let mut i = 2;
        while let Some(opt) = args.get(i) {
            let v = args.get(i + 1).ok_or_else(|| SYNTAX.to_vec())?;
            if opt.eq_ignore_ascii_case(b"MATCH") {
                pattern = Some(v.clone());
            } else if opt.eq_ignore_ascii_case(b"COUNT") {
                match parse_int(v) {
                    None => return Err(NOT_INTEGER.to_vec()),
                    Some(n) if n < 1 => return Err(SYNTAX.to_vec()),
                    Some(_) => {}
                }
            } else {
                return Err(SYNTAX.to_vec());
            }
            i += 2;
        }
        // Each element as the frames it takes in the reply (one, or a pair).
        let elements: Vec<Vec<Vec<u8>>> = match coll {
            Coll::Hash(h) => h.into_iter().map(|(f, v)| vec![f, v]).collect(),
            Coll::Set(s) => s.into_iter().map(|m| vec![m]).collect(),
            Coll::ZSet(z) => z
                .into_iter()
                .map(|(m, s)| vec![m, s.to_string().into_bytes()])
                .collect(),
            Coll::List(_) => Vec::new(),
        };
        let want: Vec<Vec<Vec<u8>>> = elements
            .into_iter()
            .filter(|e| {
                pattern
                    .as_ref()
                    .is_none_or(|p| e.first().is_some_and(|m| glob(p, m)))
            })
            .collect();
        let width = if ty == "set" { 1 } else { 2 };
        let from_zero = cursor.as_slice() == b"0";
        let observed = self.observed.clone().unwrap_or_default();
        if let Some([next, items]) = crate::workload::split_array(&observed).as_deref() {
            let next = bulk_payload(next).unwrap_or_default();
            let got: Option<Vec<Vec<u8>>> = crate::workload::split_array(items)
                .and_then(|v| v.iter().map(|i| bulk_payload(i)).collect());
            if let Some(got) = got.filter(|g| g.len() % width == 0) {
                let mut got: Vec<Vec<Vec<u8>>> = got.chunks(width).map(<[_]>::to_vec).collect();
                got.sort();
                let distinct = got.windows(2).all(|w| w.first() != w.get(1));
                let ok = if next == b"0" && from_zero {
                    got == want
                } else {
                    distinct && got.iter().all(|e| want.contains(e))
                };
                if ok {
                    return Ok(observed);
                }
            }
        }
        // Not a reply the guarantee allows: the full scan, which the node's differs
        // from.
        let mut out = b"*2\r\n$1\r\n0\r\n".to_vec();
        let flat: Vec<Vec<u8>> = want.into_iter().flatten().collect();
        out.extend_from_slice(&crate::model_wide::array(&flat));
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(m: &mut Model, line: &str) -> String {
        let req: Vec<Vec<u8>> = line.split(' ').map(|s| s.as_bytes().to_vec()).collect();
        String::from_utf8_lossy(&m.apply(0, &req).expect("modelled")).into_owned()
    }

    fn run_seen(m: &mut Model, line: &str, node: &str) -> String {
        let req: Vec<Vec<u8>> = line.split(' ').map(|s| s.as_bytes().to_vec()).collect();
        m.observe_for(&req, node.as_bytes());
        String::from_utf8_lossy(&m.apply(0, &req).expect("modelled")).into_owned()
    }

    /// Each reply checked against redis-server 7.0.15.
    #[test]
    fn lex_family_as_redis() {
        let mut m = Model::new(0);
        assert_eq!(run(&mut m, "ZADD y 0 a 0 b 0 c 0 d"), ":4\r\n");
        assert_eq!(run(&mut m, "SET str v"), "+OK\r\n");
        assert_eq!(
            run(&mut m, "ZRANGEBYLEX y [b (d"),
            "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"
        );
        assert_eq!(run(&mut m, "ZRANGEBYLEX y + -"), "*0\r\n");
        assert_eq!(
            run(&mut m, "ZRANGEBYLEX y (a [c LIMIT 0 1"),
            "*1\r\n$1\r\nb\r\n"
        );
        assert_eq!(
            run(&mut m, "ZRANGEBYLEX y - + LIMIT 1 -1"),
            "*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"
        );
        assert_eq!(run(&mut m, "ZRANGEBYLEX y - + LIMIT -1 2"), "*0\r\n");
        assert_eq!(
            run(&mut m, "ZRANGEBYLEX y a +"),
            "-ERR min or max not valid string range item\r\n"
        );
        assert_eq!(
            run(&mut m, "ZRANGEBYLEX y - + LIMIT 1"),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&mut m, "ZRANGEBYLEX y - + WITHSCORES"),
            "-ERR syntax error, WITHSCORES not supported in combination with BYLEX\r\n"
        );
        assert_eq!(
            run(&mut m, "ZRANGEBYLEX nokey - + LIMIT 0 x"),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            run(&mut m, "ZRANGEBYLEX str a +"),
            "-ERR min or max not valid string range item\r\n"
        );
        assert_eq!(
            run(&mut m, "ZRANGEBYLEX str - +"),
            String::from_utf8_lossy(WRONGTYPE)
        );
        assert_eq!(
            run(&mut m, "ZRANGEBYLEX y ( +"),
            "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n"
        );
        assert_eq!(
            run(&mut m, "ZREVRANGEBYLEX y (c - LIMIT 0 1"),
            "*1\r\n$1\r\nb\r\n"
        );
        assert_eq!(run(&mut m, "ZLEXCOUNT y [b +"), ":3\r\n");
        assert_eq!(run(&mut m, "ZLEXCOUNT nokey [a [b"), ":0\r\n");
        assert_eq!(
            run(&mut m, "ZLEXCOUNT nokey a b"),
            "-ERR min or max not valid string range item\r\n"
        );
        assert_eq!(run(&mut m, "ZREMRANGEBYLEX y [b (d"), ":2\r\n");
        assert_eq!(
            run(&mut m, "ZRANGEBYLEX y - +"),
            "*2\r\n$1\r\na\r\n$1\r\nd\r\n"
        );
        assert_eq!(run(&mut m, "ZREMRANGEBYLEX y - +"), ":2\r\n");
        assert_eq!(run(&mut m, "EXISTS y"), ":0\r\n");
    }

    /// Each reply checked against redis-server 7.0.15.
    #[test]
    fn set_algebra_as_redis() {
        let mut m = Model::new(0);
        run(&mut m, "ZADD z1 1 a 2 b 3 c");
        run(&mut m, "ZADD z2 5 b 10 c 20 d");
        run(&mut m, "SADD s1 a d");
        run(&mut m, "SET str v");
        let pairs = |v: &[(&str, &str)]| {
            let mut out = format!("*{}\r\n", v.len() * 2);
            for (a, b) in v {
                out += &format!("${}\r\n{a}\r\n${}\r\n{b}\r\n", a.len(), b.len());
            }
            out
        };
        assert_eq!(
            run(&mut m, "ZUNION 2 z1 z2 WITHSCORES"),
            pairs(&[("a", "1"), ("b", "7"), ("c", "13"), ("d", "20")])
        );
        assert_eq!(
            run(&mut m, "ZUNION 2 z1 z2 WEIGHTS 0.5 inf WITHSCORES"),
            pairs(&[("a", "0.5"), ("b", "inf"), ("c", "inf"), ("d", "inf")])
        );
        assert_eq!(
            run(&mut m, "ZUNION 2 z1 z2 WEIGHTS inf -inf WITHSCORES"),
            pairs(&[("d", "-inf"), ("b", "0"), ("c", "0"), ("a", "inf")])
        );
        assert_eq!(
            run(
                &mut m,
                "ZUNION 2 z1 z2 WEIGHTS inf -inf AGGREGATE MIN WITHSCORES"
            ),
            pairs(&[("b", "-inf"), ("c", "-inf"), ("d", "-inf"), ("a", "inf")])
        );
        assert_eq!(
            run(&mut m, "ZUNION 2 z1 z2 WEIGHTS 1.5 2 WITHSCORES"),
            pairs(&[("a", "1.5"), ("b", "13"), ("c", "24.5"), ("d", "40")])
        );
        assert_eq!(
            run(&mut m, "ZINTER 2 z1 z2 WEIGHTS 1 -1 WITHSCORES"),
            pairs(&[("c", "-7"), ("b", "-3")])
        );
        assert_eq!(
            run(&mut m, "ZINTER 2 z1 s1 WITHSCORES"),
            pairs(&[("a", "2")])
        );
        assert_eq!(
            run(&mut m, "ZDIFF 2 z1 z2 WITHSCORES"),
            pairs(&[("a", "1")])
        );
        assert_eq!(
            run(&mut m, "ZDIFF 2 z1 z2 WEIGHTS 1 1"),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&mut m, "ZDIFF 2 s1 z1 WITHSCORES"),
            pairs(&[("d", "1")])
        );
        assert_eq!(run(&mut m, "ZDIFF 1 nokey"), "*0\r\n");
        assert_eq!(
            run(&mut m, "ZUNION 0 z1"),
            "-ERR at least 1 input key is needed for 'zunion' command\r\n"
        );
        assert_eq!(run(&mut m, "ZUNION 3 z1 z2"), "-ERR syntax error\r\n");
        assert_eq!(
            run(&mut m, "ZUNION 2 z1 str"),
            String::from_utf8_lossy(WRONGTYPE)
        );
        assert_eq!(
            run(&mut m, "ZUNION 2 z1 z2 WEIGHTS 1"),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&mut m, "ZUNION 2 z1 z2 WEIGHTS 1 x"),
            "-ERR weight value is not a float\r\n"
        );
        assert_eq!(
            run(&mut m, "ZUNION 2 z1 z2 AGGREGATE avg"),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&mut m, "ZUNION x z1"),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(run(&mut m, "ZINTERCARD 2 z1 z2"), ":2\r\n");
        assert_eq!(run(&mut m, "ZINTERCARD 2 z1 z2 LIMIT 1"), ":1\r\n");
        assert_eq!(
            run(&mut m, "ZINTERCARD 2 z1 z2 LIMIT x"),
            "-ERR LIMIT can't be negative\r\n"
        );
        assert_eq!(
            run(&mut m, "ZINTERCARD 0 z1"),
            "-ERR at least 1 input key is needed for 'zintercard' command\r\n"
        );
        assert_eq!(run(&mut m, "ZINTERCARD 2 z1 s1"), ":1\r\n");
        assert_eq!(run(&mut m, "ZDIFFSTORE d 2 z1 z2"), ":1\r\n");
        assert_eq!(
            run(&mut m, "ZRANGE d 0 -1 WITHSCORES"),
            pairs(&[("a", "1")])
        );
        assert_eq!(run(&mut m, "ZDIFFSTORE d 2 nokey z2"), ":0\r\n");
        assert_eq!(run(&mut m, "EXISTS d"), ":0\r\n");
        // ZRANGESTORE
        run(&mut m, "ZADD lx 0 a 0 b 0 c 0 d");
        assert_eq!(run(&mut m, "ZRANGESTORE d z1 (1 +inf BYSCORE"), ":2\r\n");
        assert_eq!(
            run(&mut m, "ZRANGESTORE d z1 +inf (1 BYSCORE REV LIMIT 0 1"),
            ":1\r\n"
        );
        assert_eq!(
            run(&mut m, "ZRANGE d 0 -1 WITHSCORES"),
            pairs(&[("c", "3")])
        );
        assert_eq!(
            run(&mut m, "ZRANGESTORE d lx + [b BYLEX REV LIMIT 1 5"),
            ":2\r\n"
        );
        assert_eq!(
            run(&mut m, "ZRANGE d 0 -1 WITHSCORES"),
            pairs(&[("b", "0"), ("c", "0")])
        );
        assert_eq!(run(&mut m, "ZRANGESTORE d z1 5 10"), ":0\r\n");
        assert_eq!(run(&mut m, "EXISTS d"), ":0\r\n");
        assert_eq!(
            run(&mut m, "ZRANGESTORE d str 0 -1"),
            String::from_utf8_lossy(WRONGTYPE)
        );
        assert_eq!(
            run(&mut m, "ZRANGESTORE d z1 0 -1 WITHSCORES"),
            "-ERR syntax error\r\n"
        );
        assert_eq!(
            run(&mut m, "ZRANGESTORE d z1 0 -1 LIMIT 0 1"),
            "-ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX\r\n"
        );
        assert_eq!(
            run(&mut m, "ZRANGESTORE d z1 a b BYSCORE"),
            "-ERR min or max is not a float\r\n"
        );
        assert_eq!(
            run(&mut m, "ZRANGESTORE d z1 0 -1 BYLEX"),
            "-ERR min or max not valid string range item\r\n"
        );
        assert_eq!(
            run(&mut m, "ZRANGESTORE d z1 0 -1 BYSCORE BYLEX"),
            "-ERR syntax error\r\n"
        );
        assert_eq!(run(&mut m, "ZRANGESTORE str z1 0 -1"), ":3\r\n");
        assert_eq!(run(&mut m, "TYPE str"), "+zset\r\n");
        // ZMPOP
        assert_eq!(
            run(&mut m, "ZMPOP 1 z1 MIN"),
            "*2\r\n$2\r\nz1\r\n*1\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n"
        );
        assert_eq!(
            run(&mut m, "ZMPOP 2 nokey z1 MAX COUNT 5"),
            "*2\r\n$2\r\nz1\r\n*2\r\n*2\r\n$1\r\nc\r\n$1\r\n3\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
        );
        assert_eq!(run(&mut m, "EXISTS z1"), ":0\r\n");
        assert_eq!(run(&mut m, "ZMPOP 1 nokey MIN"), "*-1\r\n");
        assert_eq!(
            run(&mut m, "ZMPOP 0 z2 MIN"),
            "-ERR numkeys should be greater than 0\r\n"
        );
        assert_eq!(
            run(&mut m, "ZMPOP 1 lx MIN COUNT 0"),
            "-ERR count should be greater than 0\r\n"
        );
        assert_eq!(run(&mut m, "ZMPOP 2 lx MIN"), "-ERR syntax error\r\n");
        assert_eq!(
            run(&mut m, "ZMPOP 1 s1 MIN"),
            String::from_utf8_lossy(WRONGTYPE)
        );
    }

    #[test]
    fn scans_judge_the_guarantee() {
        let mut m = Model::new(0);
        run(&mut m, "HSET h f1 1 f2 2");
        run(&mut m, "ZADD z 1 a 2 b");
        run(&mut m, "SADD s a b c");
        run(&mut m, "SET str v");
        let full = "*2\r\n$1\r\n0\r\n*4\r\n$2\r\nf2\r\n$1\r\n2\r\n$2\r\nf1\r\n$1\r\n1\r\n";
        assert_eq!(run_seen(&mut m, "HSCAN h 0", full), full, "any order");
        // A field with another field's value, a missing element, a duplicate, an
        // element outside MATCH: each refused.
        for bad in [
            "*2\r\n$1\r\n0\r\n*4\r\n$2\r\nf2\r\n$1\r\n1\r\n$2\r\nf1\r\n$1\r\n2\r\n",
            "*2\r\n$1\r\n0\r\n*2\r\n$2\r\nf1\r\n$1\r\n1\r\n",
            "*2\r\n$1\r\n5\r\n*4\r\n$2\r\nf1\r\n$1\r\n1\r\n$2\r\nf1\r\n$1\r\n1\r\n",
        ] {
            assert_ne!(run_seen(&mut m, "HSCAN h 0", bad), bad);
        }
        let partial = "*2\r\n$1\r\n5\r\n*1\r\n$1\r\nb\r\n";
        assert_eq!(run_seen(&mut m, "SSCAN s 0 COUNT 1", partial), partial);
        assert_ne!(run_seen(&mut m, "SSCAN s 0 MATCH a", partial), partial);
        let zs = "*2\r\n$1\r\n0\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n";
        assert_eq!(run_seen(&mut m, "ZSCAN z 0 MATCH b", zs), zs);
        assert_ne!(run_seen(&mut m, "ZSCAN z 0", zs), zs, "a is missing");
        assert_eq!(run(&mut m, "HSCAN nokey 0"), "*2\r\n$1\r\n0\r\n*0\r\n");
        assert_eq!(
            run(&mut m, "HSCAN str 0"),
            String::from_utf8_lossy(WRONGTYPE)
        );
        assert_eq!(run(&mut m, "HSCAN str x"), "-ERR invalid cursor\r\n");
        assert_eq!(run(&mut m, "HSCAN h 0 COUNT 0"), "-ERR syntax error\r\n");
        assert_eq!(run(&mut m, "HSCAN h 0 FOO 1"), "-ERR syntax error\r\n");
        assert_eq!(run(&mut m, "HSCAN h 0 MATCH"), "-ERR syntax error\r\n");
    }

    #[test]
    fn helpers() {
        assert_eq!(fmt_score(0.5), "0.5");
        assert_eq!(fmt_score(-0.0), "-0");
        assert_eq!(fmt_score(f64::NEG_INFINITY), "-inf");
        assert_eq!(fmt_score(40.0), "40");
        assert_eq!(weight(b"inf"), Some(f64::INFINITY));
        assert_eq!(weight(b"x"), None);
        assert_eq!(lex(b"["), Some(Lex::Incl(vec![])));
        assert_eq!(lex(b"+a"), None);
    }
}
