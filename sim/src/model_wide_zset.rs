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

/// Redis 7.0's `zset-max-listpack-entries` and `zset-max-listpack-value` defaults (no
/// scenario that sends lex ranges changes them).
const LISTPACK_MAX_ENTRIES: usize = 128;
const LISTPACK_MAX_MEMBER_BYTES: usize = 64;

/// Whether Redis would keep this sorted set as a listpack, had it never been larger.
fn fits_listpack(z: &BTreeMap<Vec<u8>, i64>) -> bool {
    z.len() <= LISTPACK_MAX_ENTRIES && z.keys().all(|m| m.len() <= LISTPACK_MAX_MEMBER_BYTES)
}

/// Where a range end sits among all strings (`sdscmplex`: `-` below every string,
/// `+` above), for the empty-range test.
fn lex_rank(l: &Lex) -> (u8, &[u8]) {
    match l {
        Lex::Min => (0, &[]),
        Lex::Incl(v) | Lex::Excl(v) => (1, v.as_slice()),
        Lex::Max => (2, &[]),
    }
}

/// How a lex range over one sorted set is judged. Redis documents lex ranges only
/// for equal scores; over mixed scores it walks its encoding: a listpack from the
/// first member (in score order) at or above the minimum while members stay at or
/// below the maximum, after `zzlIsInLexRange`'s test of the first and last members;
/// a skiplist from a member its level descent finds (random levels), so any member
/// inside the range may start the walk and ZLEXCOUNT subtracts the ranks of two such.
#[derive(Debug, Clone, Copy, PartialEq)]
enum LexMode {
    /// All scores equal: lex order is score order, every encoding filters.
    Filter,
    /// Mixed scores in a set Redis certainly holds as a listpack.
    Listpack,
    /// Mixed scores in a set that is, or may be, a skiplist: the node's walk is
    /// judged by what a walk may give.
    NodePick,
}

/// A sorted set in score order with one lex range: Redis's walks over it.
struct LexWalk<'a> {
    all: &'a [(Vec<u8>, i64)],
    min: &'a Lex,
    max: &'a Lex,
}

impl LexWalk<'_> {
    fn member(&self, i: usize) -> Option<&[u8]> {
        self.all.get(i).map(|(m, _)| m.as_slice())
    }

    fn inside(&self, i: usize) -> bool {
        self.member(i)
            .is_some_and(|m| gte_min(m, self.min) && lte_max(m, self.max))
    }

    /// `zslIsInLexRange` / `zzlIsInLexRange`: not an empty range, the last member
    /// at or above the minimum, the first at or below the maximum.
    fn touches(&self) -> bool {
        let (lo, hi) = (lex_rank(self.min), lex_rank(self.max));
        let exclusive = !matches!(self.min, Lex::Incl(_)) || !matches!(self.max, Lex::Incl(_));
        if lo > hi || (lo == hi && exclusive) {
            return false;
        }
        let (Some((first, _)), Some((last, _))) = (self.all.first(), self.all.last()) else {
            return false;
        };
        gte_min(last, self.min) && lte_max(first, self.max)
    }

    /// `zzlFirstInLexRange`: the first member at or above the minimum, if inside.
    fn listpack_first(&self) -> Option<usize> {
        if !self.touches() {
            return None;
        }
        let i = self.all.iter().position(|(m, _)| gte_min(m, self.min))?;
        self.inside(i).then_some(i)
    }

    /// `zzlLastInLexRange`: the last member at or below the maximum, if inside.
    fn listpack_last(&self) -> Option<usize> {
        if !self.touches() {
            return None;
        }
        let i = self.all.iter().rposition(|(m, _)| lte_max(m, self.max))?;
        self.inside(i).then_some(i)
    }

    /// The range walk of `genericZrangebylexCommand` from `start`: skip `offset`
    /// members unchecked (a negative offset skips them all), then take up to `count`
    /// (negative: no bound) while they stay below the maximum (above the minimum,
    /// reversed).
    fn walk(&self, start: usize, rev: bool, offset: i64, count: i64) -> Vec<(Vec<u8>, i64)> {
        let Ok(offset) = usize::try_from(offset) else {
            return Vec::new();
        };
        let at = if rev {
            start.checked_sub(offset)
        } else {
            start.checked_add(offset)
        };
        let mut out = Vec::new();
        let mut i = at;
        while let Some(k) = i.filter(|&k| k < self.all.len()) {
            if count >= 0 && out.len() as i64 >= count {
                break;
            }
            let Some(m) = self.member(k) else {
                break;
            };
            let stays = if rev {
                gte_min(m, self.min)
            } else {
                lte_max(m, self.max)
            };
            if !stays {
                break;
            }
            out.extend(self.all.get(k).cloned());
            i = if rev {
                k.checked_sub(1)
            } else {
                k.checked_add(1)
            };
        }
        out
    }

    /// The listpack's answer to a range.
    fn listpack_range(&self, rev: bool, offset: i64, count: i64) -> Vec<(Vec<u8>, i64)> {
        let start = if rev {
            self.listpack_last()
        } else {
            self.listpack_first()
        };
        start.map_or_else(Vec::new, |s| self.walk(s, rev, offset, count))
    }

    /// Every answer a skiplist may give to a range: nothing, or a walk from any
    /// member inside it.
    fn skiplist_ranges(&self, rev: bool, offset: i64, count: i64) -> Vec<Vec<(Vec<u8>, i64)>> {
        let mut out = vec![Vec::new()];
        for start in (0..self.all.len()).filter(|&i| self.inside(i)) {
            let w = self.walk(start, rev, offset, count);
            if !out.contains(&w) {
                out.push(w);
            }
        }
        out
    }

    /// The members ZLEXCOUNT counts and ZREMRANGEBYLEX removes in a listpack: from
    /// the first inside the range while they stay at or below the maximum.
    fn listpack_run(&self) -> Vec<Vec<u8>> {
        self.listpack_first()
            .map_or_else(Vec::new, |s| self.run_from(s))
    }

    fn run_from(&self, start: usize) -> Vec<Vec<u8>> {
        self.all
            .iter()
            .skip(start)
            .take_while(|(m, _)| lte_max(m, self.max))
            .map(|(m, _)| m.clone())
            .collect()
    }

    /// The counts a skiplist's ZLEXCOUNT may give: 0, or the rank difference of two
    /// members inside the range (to the end when no last one is found).
    fn skiplist_counts(&self) -> Vec<i64> {
        let inside: Vec<i64> = (0..self.all.len())
            .filter(|&i| self.inside(i))
            .map(|i| i as i64)
            .collect();
        let n = self.all.len() as i64;
        let mut out = vec![0];
        for &p in &inside {
            out.push(n - p);
            out.extend(inside.iter().map(|&q| q - p + 1));
        }
        out
    }

    /// The member sets a skiplist's ZREMRANGEBYLEX may remove (besides none): from
    /// a member inside the range while they stay at or below the maximum.
    fn skiplist_runs(&self) -> Vec<Vec<Vec<u8>>> {
        let mut out: Vec<Vec<Vec<u8>>> = Vec::new();
        for start in (0..self.all.len()).filter(|&i| self.inside(i)) {
            let run = self.run_from(start);
            if !out.contains(&run) {
                out.push(run);
            }
        }
        out
    }
}

/// The members of an array reply of bulk strings.
fn bulk_items(reply: &[u8]) -> Option<Vec<Vec<u8>>> {
    crate::workload::split_array(reply)?
        .iter()
        .map(|i| bulk_payload(i))
        .collect()
}

/// An integer reply's value.
fn int_reply(reply: &[u8]) -> Option<i64> {
    let digits = reply.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
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
        let all = ordered(&z);
        let walk = LexWalk {
            all: &all,
            min: &min,
            max: &max,
        };
        let (offset, count) = limit.unwrap_or((0, -1));
        let members =
            |w: Vec<(Vec<u8>, i64)>| -> Vec<Vec<u8>> { w.into_iter().map(|(m, _)| m).collect() };
        match self.lex_mode(key, &z) {
            LexMode::Filter => {
                let mut hit: Vec<Vec<u8>> = all
                    .iter()
                    .map(|(m, _)| m.clone())
                    .filter(|m| gte_min(m, &min) && lte_max(m, &max))
                    .collect();
                if rev {
                    hit.reverse();
                }
                Ok(crate::model_wide::array(&apply_limit(hit, limit)))
            }
            LexMode::Listpack => Ok(crate::model_wide::array(&members(
                walk.listpack_range(rev, offset, count),
            ))),
            LexMode::NodePick => {
                let Some(observed) = self.observed.take() else {
                    self.lost_track =
                        Some("a lex range over a skiplist's mixed scores, unseen".into());
                    return Err(b"-model: unseen\r\n".to_vec());
                };
                let got = bulk_items(&observed);
                let allowed = walk
                    .skiplist_ranges(rev, offset, count)
                    .into_iter()
                    .any(|w| got.as_ref() == Some(&members(w)));
                if allowed {
                    Ok(observed)
                } else {
                    Err(b"-model: a lex range over a skiplist's mixed scores must be a walk from a member inside it\r\n".to_vec())
                }
            }
        }
    }

    /// How a lex range over `key` (holding `z`) is judged.
    fn lex_mode(&mut self, key: &[u8], z: &BTreeMap<Vec<u8>, i64>) -> LexMode {
        if z.values().min() == z.values().max() {
            LexMode::Filter
        } else if fits_listpack(z) && !self.zset_maybe_skiplist.contains(key) {
            self.seen.insert(crate::model::seen::LEX_LISTPACK_WALK);
            LexMode::Listpack
        } else {
            self.seen.insert(crate::model::seen::LEX_SKIPLIST_PICK);
            LexMode::NodePick
        }
    }

    /// After a command: the sorted sets it wrote that Redis may now hold as a
    /// skiplist whatever their size later: past a listpack's bounds (a skiplist never
    /// converts back, but for a load), or written by a command that named such a
    /// set (RENAME, COPY and the STOREs carry or rebuild one; the model does not
    /// follow which). Names are never dropped: a deleted set's name may again hold a
    /// small listpack, which is only judged less.
    pub(crate) fn note_zset_encodings(&mut self, req: &[Vec<u8>]) {
        let args = req.get(1..).unwrap_or_default();
        let from_unsure = !crate::workload::is_read_only(req)
            && args.iter().any(|a| self.zset_maybe_skiplist.contains(a));
        for a in args {
            if let Some(Coll::ZSet(z)) = self.colls.get(a) {
                if from_unsure || !fits_listpack(z) {
                    self.zset_maybe_skiplist.insert(a.clone());
                }
            }
        }
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
        let all = ordered(&z);
        let walk = LexWalk {
            all: &all,
            min: &min,
            max: &max,
        };
        let hit: Vec<Vec<u8>> = match self.lex_mode(key, &z) {
            LexMode::Filter => z
                .keys()
                .filter(|m| gte_min(m, &min) && lte_max(m, &max))
                .cloned()
                .collect(),
            LexMode::Listpack => walk.listpack_run(),
            LexMode::NodePick => {
                let Some(n) = self.observed.take().as_deref().and_then(int_reply) else {
                    self.lost_track =
                        Some(format!("{name} over a skiplist's mixed scores, unseen"));
                    return Err(b"-model: unseen\r\n".to_vec());
                };
                if name == "ZLEXCOUNT" {
                    return if n <= z.len() as i64 && walk.skiplist_counts().contains(&n) {
                        Ok(int(n))
                    } else {
                        Err(b"-model: ZLEXCOUNT over a skiplist's mixed scores must subtract the ranks of members inside the range\r\n".to_vec())
                    };
                }
                let fits: Vec<Vec<Vec<u8>>> = walk
                    .skiplist_runs()
                    .into_iter()
                    .filter(|r| r.len() as i64 == n)
                    .collect();
                match fits.as_slice() {
                    _ if n == 0 => Vec::new(),
                    [one] => one.clone(),
                    [] => {
                        return Err(b"-model: ZREMRANGEBYLEX over a skiplist's mixed scores must remove a run from a member inside the range\r\n".to_vec())
                    }
                    _ => {
                        // Which members went is the node's pick, and its count
                        // does not say: the model can no longer follow the key.
                        self.lost_track = Some(format!(
                            "ZREMRANGEBYLEX removed {n} of a skiplist's mixed-score members, which ones unknown"
                        ));
                        return Ok(int(n));
                    }
                }
            }
        };
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
        if let RangeBy::Lex(min, max) = &range {
            let mode = self.lex_mode(&src, &z);
            if mode != LexMode::Filter {
                let walk = LexWalk {
                    all: &all,
                    min,
                    max,
                };
                let (offset, count) = limit.unwrap_or((0, -1));
                let picked = if mode == LexMode::Listpack {
                    walk.listpack_range(rev, offset, count)
                } else {
                    let Some(n) = self.observed.take().as_deref().and_then(int_reply) else {
                        self.lost_track =
                            Some("ZRANGESTORE BYLEX over a skiplist's mixed scores, unseen".into());
                        return Err(b"-model: unseen\r\n".to_vec());
                    };
                    let mut fits: Vec<BTreeMap<Vec<u8>, i64>> = Vec::new();
                    for w in walk.skiplist_ranges(rev, offset, count) {
                        let w: BTreeMap<Vec<u8>, i64> = w.into_iter().collect();
                        if w.len() as i64 == n && !fits.contains(&w) {
                            fits.push(w);
                        }
                    }
                    match fits.as_slice() {
                        [one] => one.clone().into_iter().collect(),
                        [] => return Err(b"-model: ZRANGESTORE BYLEX over a skiplist's mixed scores must store a walk from a member inside the range\r\n".to_vec()),
                        _ => {
                            self.lost_track = Some(format!(
                                "ZRANGESTORE BYLEX stored {n} of a skiplist's mixed-score members, which ones unknown"
                            ));
                            return Ok(int(n));
                        }
                    }
                };
                let out: BTreeMap<Vec<u8>, f64> =
                    picked.into_iter().map(|(m, s)| (m, s as f64)).collect();
                return self.zstore_result(&dst, &out);
            }
        }
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

    /// Lex ranges over mixed scores in a listpack: Redis's walk (`zzlFirstInLexRange`
    /// and friends), not a filter (chaos 0x6a0). Each reply checked against
    /// redis-server 7.0.15 (OBJECT ENCODING listpack).
    #[test]
    fn lex_over_mixed_scores_in_a_listpack_walks_as_redis() {
        let mut m = Model::new(0);
        assert_eq!(run(&mut m, "ZADD s1 NX CH 1 c 2 b"), ":2\r\n");
        // From the first member at or above `[b` (c, in score order), which is not
        // below `(c`: nothing, where a filter finds b.
        assert_eq!(run(&mut m, "ZRANGEBYLEX s1 [b (c"), "*0\r\n");
        assert_eq!(run(&mut m, "ZADD s1 3 a 3 e"), ":2\r\n");
        let arr = |items: &[&str]| {
            let mut out = format!("*{}\r\n", items.len());
            for i in items {
                out.push_str(&format!("${}\r\n{i}\r\n", i.len()));
            }
            out
        };
        for (line, want) in [
            ("ZRANGEBYLEX s1 [b (c", arr(&[])),
            ("ZRANGEBYLEX s1 - +", arr(&["c", "b", "a", "e"])),
            ("ZRANGEBYLEX s1 [a [c", arr(&["c", "b", "a"])),
            ("ZRANGEBYLEX s1 [c +", arr(&["c", "b", "a", "e"])),
            ("ZRANGEBYLEX s1 [c + LIMIT 1 2", arr(&["b", "a"])),
            ("ZREVRANGEBYLEX s1 + [b", arr(&["e"])),
            ("ZREVRANGEBYLEX s1 (c [b", arr(&[])),
            ("ZREVRANGEBYLEX s1 [d -", arr(&["a", "b", "c"])),
            ("ZLEXCOUNT s1 [b +", ":4\r\n".to_string()),
            // The first member (c) is above `[b`: the range misses the set.
            ("ZLEXCOUNT s1 - [b", ":0\r\n".to_string()),
            ("ZLEXCOUNT s1 [c [e", ":4\r\n".to_string()),
            ("ZRANGESTORE d s1 [c + BYLEX", ":4\r\n".to_string()),
            (
                "ZRANGE d 0 -1 WITHSCORES",
                arr(&["c", "1", "b", "2", "a", "3", "e", "3"]),
            ),
            ("ZREMRANGEBYLEX s1 [b [d", ":3\r\n".to_string()),
            ("ZRANGE s1 0 -1 WITHSCORES", arr(&["e", "3"])),
            ("ZREMRANGEBYLEX s1 - [a", ":0\r\n".to_string()),
        ] {
            assert_eq!(run(&mut m, line), want, "{line}");
        }
    }

    /// Lex ranges over mixed scores in a skiplist (a listpack that grew past 128
    /// members and shrank, as Redis never converts back): the node's walk, judged by
    /// the walks Redis's level descent may start (any member inside the range);
    /// ZREMRANGEBYLEX's count picks the members when one run fits it, and when
    /// several do the model stops following (`lost_track`). The allowed sets were
    /// checked against redis-server 7.0.15: 4000 random skiplists of mixed scores
    /// (zset-max-listpack-entries 0) and 300 of 130-180 members, every reply inside.
    #[test]
    fn lex_over_mixed_scores_in_a_skiplist_is_judged_by_the_walks_it_allows() {
        let mut m = Model::new(0);
        let mut add = "ZADD big".to_string();
        let mut rem = "ZREM big".to_string();
        for i in 0..130 {
            add.push_str(&format!(" 0 m{i:03}"));
            rem.push_str(&format!(" m{i:03}"));
        }
        add.push_str(" 1 c 2 b 3 a 3 e");
        assert_eq!(run(&mut m, &add), ":134\r\n");
        assert_eq!(run(&mut m, &rem), ":130\r\n");
        // Renamed, it is still the skiplist.
        assert_eq!(run(&mut m, "RENAME big sk"), "+OK\r\n");
        // c(1) b(2) a(3) e(3); inside [b (c: b alone, whose walk goes on to a.
        let range = "ZRANGEBYLEX sk [b (c";
        assert_eq!(run_seen(&mut m, range, "*0\r\n"), "*0\r\n");
        let walked = "*2\r\n$1\r\nb\r\n$1\r\na\r\n";
        assert_eq!(run_seen(&mut m, range, walked), walked);
        for wrong in [
            "*1\r\n$1\r\nb\r\n",
            "*1\r\n$1\r\nc\r\n",
            "*2\r\n$1\r\nb\r\n$1\r\nb\r\n",
        ] {
            assert!(
                run_seen(&mut m, range, wrong).starts_with("-model:"),
                "{wrong}"
            );
        }
        // From b backwards while at or above `[b`: c too, though above `(c`.
        let rev = "ZREVRANGEBYLEX sk (c [b";
        let back = "*2\r\n$1\r\nb\r\n$1\r\nc\r\n";
        assert_eq!(run_seen(&mut m, rev, back), back);
        assert!(run_seen(&mut m, rev, "*1\r\n$1\r\nb\r\n").starts_with("-model:"));
        // Counts: 0, 1 (b to b) or 3 (b to the end).
        for (n, ok) in [(0, true), (1, true), (2, false), (3, true), (4, false)] {
            let reply = format!(":{n}\r\n");
            let got = run_seen(&mut m, "ZLEXCOUNT sk [b (c", &reply);
            assert_eq!(got == reply, ok, "{n}: {got}");
        }
        assert!(m.lost_track.is_none());
        // [a [c holds c, b, a: runs c-b-a, b-a, a; the count says which.
        assert_eq!(
            run_seen(&mut m, "ZREMRANGEBYLEX sk [a [c", ":2\r\n"),
            ":2\r\n"
        );
        assert_eq!(
            run(&mut m, "ZRANGE sk 0 -1 WITHSCORES"),
            "*4\r\n$1\r\nc\r\n$1\r\n1\r\n$1\r\ne\r\n$1\r\n3\r\n"
        );
        assert!(m.lost_track.is_none());
        // c(1) x(2) b(3) y(4): [a [c's runs from c and from b both hold one member.
        assert_eq!(run(&mut m, "ZADD sk 2 x 3 b 4 y"), ":3\r\n");
        assert_eq!(
            run_seen(&mut m, "ZREMRANGEBYLEX sk [a [c", ":1\r\n"),
            ":1\r\n"
        );
        assert!(m.lost_track.take().is_some());
        // A count no run gives is wrong.
        let mut m2 = Model::new(0);
        m2.load_coll(
            b"r".to_vec(),
            Coll::ZSet(
                [(b"c".to_vec(), 1), (b"b".to_vec(), 2)]
                    .into_iter()
                    .collect(),
            ),
        );
        assert!(run_seen(&mut m2, "ZREMRANGEBYLEX r [a [c", ":3\r\n").starts_with("-model:"));
        // A recovered set's encoding is unknown: the node's walk is accepted, and
        // ZRANGESTORE's count picks what it stored.
        assert_eq!(run_seen(&mut m2, "ZRANGEBYLEX r [b (c", "*0\r\n"), "*0\r\n");
        assert_eq!(
            run_seen(&mut m2, "ZRANGESTORE d r [b (c BYLEX", ":1\r\n"),
            ":1\r\n"
        );
        assert_eq!(
            run(&mut m2, "ZRANGE d 0 -1 WITHSCORES"),
            "*2\r\n$1\r\nb\r\n$1\r\n2\r\n"
        );
        assert!(m2.lost_track.is_none());
        // Equal scores are filtered whatever the encoding.
        m2.load_coll(
            b"eq".to_vec(),
            Coll::ZSet(
                [(b"c".to_vec(), 0), (b"b".to_vec(), 0)]
                    .into_iter()
                    .collect(),
            ),
        );
        assert_eq!(run(&mut m2, "ZRANGEBYLEX eq [b (c"), "*1\r\n$1\r\nb\r\n");
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
