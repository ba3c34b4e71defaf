//! Sorted-set commands (Redis's `t_zset.c`): ZADD and friends, ranges by rank, score
//! and lex, removals, pops, ZRANDMEMBER, the set operations and ZSCAN. Replies, error
//! texts, score text and encoding choices as Redis 7.0; an emptied sorted set is
//! deleted; nothing here panics on client input. Blocking pops live elsewhere and
//! reuse `zpop_generic`.

use rand::Rng;

use super::keys::parse_cursor;
use super::keyspec::GetKeysProc;
use super::{arg_i64, cmd, delete_if_empty, errors, Argv, CommandSpec, Ctx};
use crate::mutants::Mutant;
use crate::notify;
use crate::resp::{Proto, ReplyBuf};
use crate::types::set::{Member, Set};
use crate::types::zset::{fmt_score, parse_score, score_cmp, LexRange, ScoreRange, ZSetLimits};
use crate::types::{Value, ZSet};
use crate::util::parse_i64;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("zadd", -4, [WRITE, DENYOOM, FAST], zadd),
    cmd!("zcard", 2, [READONLY, FAST], zcard),
    cmd!("zcount", 4, [READONLY, FAST], zcount),
    cmd!("zdiff", -3, [READONLY, MOVABLEKEYS], zdiff, getkeys: GetKeysProc::NUMKEYS_AT_1),
    cmd!("zdiffstore", -4, [WRITE, DENYOOM, MOVABLEKEYS], zdiffstore, getkeys: GetKeysProc::STORE_NUMKEYS_AT_2),
    cmd!("zincrby", 4, [WRITE, DENYOOM, FAST], zincrby),
    cmd!("zinter", -3, [READONLY, MOVABLEKEYS], zinter, getkeys: GetKeysProc::NUMKEYS_AT_1),
    cmd!("zintercard", -3, [READONLY, MOVABLEKEYS], zintercard, getkeys: GetKeysProc::NUMKEYS_AT_1),
    cmd!("zinterstore", -4, [WRITE, DENYOOM, MOVABLEKEYS], zinterstore, getkeys: GetKeysProc::STORE_NUMKEYS_AT_2),
    cmd!("zlexcount", 4, [READONLY, FAST], zlexcount),
    cmd!("bzmpop", -5, [WRITE, BLOCKING, MOVABLEKEYS], bzmpop, getkeys: GetKeysProc::NUMKEYS_AT_2),
    cmd!("bzpopmax", -3, [WRITE, NOSCRIPT, BLOCKING, FAST], bzpopmax),
    cmd!("bzpopmin", -3, [WRITE, NOSCRIPT, BLOCKING, FAST], bzpopmin),
    cmd!("zmpop", -4, [WRITE, MOVABLEKEYS], zmpop, getkeys: GetKeysProc::NUMKEYS_AT_1),
    cmd!("zmscore", -3, [READONLY, FAST], zmscore),
    cmd!("zpopmax", -2, [WRITE, FAST], zpopmax),
    cmd!("zpopmin", -2, [WRITE, FAST], zpopmin),
    cmd!("zrandmember", -2, [READONLY], zrandmember),
    cmd!("zrange", -4, [READONLY], zrange),
    cmd!("zrangebylex", -4, [READONLY], zrangebylex),
    cmd!("zrangebyscore", -4, [READONLY], zrangebyscore),
    cmd!("zrangestore", -5, [WRITE, DENYOOM], zrangestore),
    cmd!("zrank", 3, [READONLY, FAST], zrank),
    cmd!("zrem", -3, [WRITE, FAST], zrem),
    cmd!("zremrangebylex", 4, [WRITE], zremrangebylex),
    cmd!("zremrangebyrank", 4, [WRITE], zremrangebyrank),
    cmd!("zremrangebyscore", 4, [WRITE], zremrangebyscore),
    cmd!("zrevrange", -4, [READONLY], zrevrange),
    cmd!("zrevrangebylex", -4, [READONLY], zrevrangebylex),
    cmd!("zrevrangebyscore", -4, [READONLY], zrevrangebyscore),
    cmd!("zrevrank", 3, [READONLY, FAST], zrevrank),
    cmd!("zscan", -3, [READONLY], zscan),
    cmd!("zscore", 3, [READONLY, FAST], zscore),
    cmd!("zunion", -3, [READONLY, MOVABLEKEYS], zunion, getkeys: GetKeysProc::NUMKEYS_AT_1),
    cmd!("zunionstore", -4, [WRITE, DENYOOM, MOVABLEKEYS], zunionstore, getkeys: GetKeysProc::STORE_NUMKEYS_AT_2),
];

const NAN_ERR: &str = "ERR resulting score is not a number (NaN)";
const RANGE_NOT_FLOAT: &str = "ERR min or max is not a float";
const RANGE_NOT_LEX: &str = "ERR min or max not valid string range item";
const NOT_POSITIVE: &str = "ERR value is out of range, must be positive";

/// ZRANDMEMBER with a negative count answers at most this many draws. Redis has no
/// cap and would build a reply of any size; keel bounds the work of one command.
pub const ZRANDMEMBER_MAX_REPEATS: usize = 10_000_000;

// ---------------------------------------------------------------------------------
// Shared pieces.
// ---------------------------------------------------------------------------------

/// The node's `zset-max-listpack-*` thresholds.
fn limits(ctx: &Ctx<'_>) -> ZSetLimits {
    let s = ctx.server.config.settings();
    ZSetLimits {
        max_listpack_entries: s.zset_max_listpack_entries,
        max_listpack_value_bytes: s.zset_max_listpack_value_bytes,
    }
}

fn lookup_zset(ctx: &mut Ctx<'_>, key: &[u8], read: bool) -> Result<Option<u32>, ()> {
    super::lookup_typed(ctx, key, "zset", read)
}

fn zset_of<'c>(ctx: &'c Ctx<'_>, id: u32) -> Option<&'c ZSet> {
    match ctx.keyspace.value(ctx.client.db, id) {
        Some(Value::ZSet(z)) => Some(z),
        _ => None,
    }
}

/// Runs `f` on the sorted set in slot `id` with memory kept accounted; `seeds` draws
/// the keys of a hash index built by a conversion from the node's RNG.
fn update_zset<R>(
    ctx: &mut Ctx<'_>,
    id: u32,
    f: impl FnOnce(&mut ZSet, &mut dyn FnMut() -> [u64; 4]) -> R,
) -> Option<R> {
    super::update_with_seeds(ctx, id, |v, seeds| match v {
        Value::ZSet(z) => Some(f(z, seeds)),
        _ => None,
    })
    .flatten()
}

/// A score as Redis 7.0's `addReplyDouble`: `%.17g` in a bulk (RESP2) or a double (RESP3).
pub fn reply_score(out: &mut ReplyBuf, v: f64) {
    out.double_text(fmt_score(v).as_bytes());
}

/// Members, with scores when asked: flat in RESP2, [member, score] pairs in RESP3.
fn reply_entries<M: AsRef<[u8]>>(out: &mut ReplyBuf, entries: &[(M, f64)], withscores: bool) {
    let nested = withscores && out.proto == Proto::Resp3;
    out.array(if withscores && !nested {
        entries.len() * 2
    } else {
        entries.len()
    });
    for (m, s) in entries {
        reply_entry(out, m.as_ref(), *s, withscores);
    }
}

fn reply_entry(out: &mut ReplyBuf, member: &[u8], score: f64, withscores: bool) {
    if withscores && out.proto == Proto::Resp3 {
        out.array(2);
    }
    out.bulk(member);
    if withscores {
        reply_score(out, score);
    }
}

/// Builds a sorted set from (member, score) pairs; the encoding follows from the
/// result as Redis's `zsetConvertToListpackIfNeeded` picks it.
fn build_zset<M: AsRef<[u8]>>(ctx: &mut Ctx<'_>, entries: &[(M, f64)]) -> ZSet {
    let limits = limits(ctx);
    let rng = &mut ctx.server.rng;
    let mut z = ZSet::new();
    for (m, s) in entries {
        z.set_score(m.as_ref(), *s, limits, || {
            [rng.gen(), rng.gen(), rng.gen(), rng.gen()]
        });
    }
    z
}

/// Stores a command's result at `dst` (Redis's `setKey` + notification), or deletes
/// `dst` when the result is empty; replies with the result size.
fn store_result<M: AsRef<[u8]>>(ctx: &mut Ctx<'_>, dst: &[u8], entries: &[(M, f64)], event: &str) {
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    if entries.is_empty() {
        ctx.out().int(0);
        if ctx.keyspace.delete(db, dst, now_ms) {
            ctx.key_modified(dst);
            ctx.notify(notify::GENERIC, "del", dst);
        }
        return;
    }
    let z = build_zset(ctx, entries);
    let len = z.len();
    ctx.keyspace
        .set(db, dst, Value::ZSet(Box::new(z)), false, now_ms);
    ctx.key_modified(dst);
    ctx.out().int(len as i64);
    ctx.notify(notify::ZSET, event, dst);
}

/// Redis's `getLongFromObjectOrReply`.
fn arg_long(ctx: &mut Ctx<'_>, argv: &Argv<'_>, i: usize) -> Option<i64> {
    arg_i64(ctx, argv, i)
}

/// Redis's `getRangeLongFromObjectOrReply` with a message for both failures.
fn arg_range_msg(ctx: &mut Ctx<'_>, raw: &[u8], min: i64, msg: &str) -> Option<i64> {
    match parse_i64(raw) {
        Some(v) if v >= min => Some(v),
        _ => {
            ctx.out().error(msg);
            None
        }
    }
}

// ---------------------------------------------------------------------------------
// ZADD, ZINCRBY
// ---------------------------------------------------------------------------------

fn zadd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    zadd_generic(ctx, argv, false);
}

fn zincrby(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    zadd_generic(ctx, argv, true);
}

/// Redis's `zaddGenericCommand`: options, then all scores parsed before anything is
/// changed, then each pair through `zsetAdd`'s rules.
fn zadd_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, incr_command: bool) {
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, incr_command);
    let mut idx = 2;
    while idx < argv.len() {
        if argv.is(idx, "nx") {
            nx = true;
        } else if argv.is(idx, "xx") {
            xx = true;
        } else if argv.is(idx, "ch") {
            ch = true;
        } else if argv.is(idx, "incr") {
            incr = true;
        } else if argv.is(idx, "gt") {
            gt = true;
        } else if argv.is(idx, "lt") {
            lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let elements = argv.len() - idx;
    if elements == 0 || !elements.is_multiple_of(2) {
        ctx.out().error(errors::SYNTAX);
        return;
    }
    let pairs = elements / 2;
    if nx && xx {
        ctx.out()
            .error("ERR XX and NX options at the same time are not compatible");
        return;
    }
    if (nx && (gt || lt)) || (gt && lt) {
        ctx.out()
            .error("ERR GT, LT, and/or NX options at the same time are not compatible");
        return;
    }
    if incr && pairs > 1 {
        ctx.out()
            .error("ERR INCR option supports a single increment-element pair");
        return;
    }
    let mut scores = Vec::with_capacity(pairs);
    for j in 0..pairs {
        match parse_score(argv.get(idx + j * 2)) {
            Some(s) => scores.push(s),
            None => {
                ctx.out().error(errors::NOT_FLOAT);
                return;
            }
        }
    }
    let key = argv.get(1);
    let Ok(mut found) = lookup_zset(ctx, key, false) else {
        return;
    };
    let limits = limits(ctx);
    let mutant_gt_equal = ctx.server.mutants.is(Mutant::ZaddGtUpdatesOnEqual);
    let (mut added, mut updated, mut processed) = (0i64, 0i64, 0i64);
    let mut last_score = 0.0;
    let mut nan = false;
    if found.is_some() || !xx {
        for (j, &score) in scores.iter().enumerate() {
            let member = argv.get(idx + 1 + j * 2);
            let current = found.and_then(|id| zset_of(ctx, id)?.score(member));
            match current {
                Some(cur) => {
                    if nx {
                        continue;
                    }
                    let mut score = score;
                    if incr {
                        score += cur;
                        if score.is_nan() {
                            nan = true;
                            break;
                        }
                    }
                    // Planted: GT also updates on an equal score (and counts it).
                    let forced = mutant_gt_equal && gt && score == cur;
                    if !forced && ((lt && score >= cur) || (gt && score <= cur)) {
                        continue;
                    }
                    last_score = score;
                    processed += 1;
                    if score != cur || forced {
                        if let Some(id) = found {
                            update_zset(ctx, id, |z, seeds| {
                                z.set_score(member, score, limits, seeds)
                            });
                        }
                        updated += 1;
                    }
                }
                None if !xx => {
                    let id = match found {
                        Some(id) => id,
                        None => {
                            let db = ctx.db();
                            let id = ctx.keyspace.set_found(
                                db,
                                None,
                                key,
                                Value::ZSet(Box::default()),
                                false,
                            );
                            found = Some(id);
                            id
                        }
                    };
                    let lose = ctx
                        .server
                        .mutants
                        .is(crate::mutants::Mutant::ZsetConvertLosesMember);
                    update_zset(ctx, id, |z, seeds| {
                        let packed = lose && z.encoding_name() == "listpack";
                        let r = z.set_score(member, score, limits, seeds);
                        if packed && z.encoding_name() == "skiplist" {
                            // Planted: the conversion lost the lowest-ranked member.
                            let first = z.at(0).map(|(m, _)| m.to_vec());
                            if let Some(m) = first.filter(|m| m.as_slice() != member) {
                                z.remove(&m);
                            }
                        }
                        r
                    });
                    added += 1;
                    processed += 1;
                    last_score = score;
                }
                None => {}
            }
        }
    }
    if nan {
        ctx.out().error(NAN_ERR);
    } else if incr {
        if processed > 0 {
            reply_score(ctx.out(), last_score);
        } else {
            ctx.out().null();
        }
    } else {
        ctx.out().int(if ch { added + updated } else { added });
    }
    if added > 0 || updated > 0 {
        ctx.key_modified(key);
        ctx.notify(notify::ZSET, if incr { "zincr" } else { "zadd" }, key);
    }
}

// ---------------------------------------------------------------------------------
// Point reads.
// ---------------------------------------------------------------------------------

fn zcard(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(found) = lookup_zset(ctx, argv.get(1), true) else {
        return;
    };
    let n = found.and_then(|id| zset_of(ctx, id)).map_or(0, ZSet::len);
    ctx.out().int(n as i64);
}

fn zscore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(found) = lookup_zset(ctx, argv.get(1), true) else {
        return;
    };
    match found.and_then(|id| zset_of(ctx, id)?.score(argv.get(2))) {
        Some(s) => reply_score(ctx.out(), s),
        None => ctx.out().null(),
    }
}

fn zmscore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(found) = lookup_zset(ctx, argv.get(1), true) else {
        return;
    };
    let db = ctx.db();
    let Ctx { client, .. } = ctx;
    let zset = match found.and_then(|id| ctx.keyspace.value(db, id)) {
        Some(Value::ZSet(z)) => Some(z),
        _ => None,
    };
    let out = &mut client.out;
    out.array(argv.len() - 2);
    for member in argv.iter().skip(2) {
        match zset.and_then(|z| z.score(member)) {
            Some(s) => reply_score(out, s),
            None => out.null(),
        }
    }
}

fn zrank(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    rank_generic(ctx, argv, false);
}

fn zrevrank(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    rank_generic(ctx, argv, true);
}

fn rank_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, rev: bool) {
    let Ok(found) = lookup_zset(ctx, argv.get(1), true) else {
        return;
    };
    let rank = found.and_then(|id| {
        let z = zset_of(ctx, id)?;
        let r = z.rank(argv.get(2))?;
        Some(if rev { z.len() - 1 - r } else { r })
    });
    // Planted: ranks counted from one.
    let rank = rank.map(|r| r + usize::from(ctx.server.mutants.is(Mutant::ZrankFromOne)));
    match rank {
        Some(r) => ctx.out().int(r as i64),
        None => ctx.out().null(),
    }
}

fn zcount(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(range) = ScoreRange::parse(argv.get(2), argv.get(3)) else {
        ctx.out().error(RANGE_NOT_FLOAT);
        return;
    };
    let Ok(found) = lookup_zset(ctx, argv.get(1), true) else {
        return;
    };
    let n = match found.and_then(|id| zset_of(ctx, id)) {
        Some(z) if !range.is_empty() => {
            count_in_range(z, |s, _| range.gte_min(s), |s, _| range.lte_max(s))
        }
        _ => 0,
    };
    ctx.out().int(n);
}

fn zlexcount(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(range) = LexRange::parse(argv.get(2), argv.get(3)) else {
        ctx.out().error(RANGE_NOT_LEX);
        return;
    };
    let Ok(found) = lookup_zset(ctx, argv.get(1), true) else {
        return;
    };
    let n = match found.and_then(|id| zset_of(ctx, id)) {
        Some(z) if !range.is_empty() => {
            count_in_range(z, |_, m| range.gte_min(m), |_, m| range.lte_max(m))
        }
        _ => 0,
    };
    ctx.out().int(n);
}

/// ZCOUNT / ZLEXCOUNT: a listpack walks from the first member in range while members
/// stay at or below the maximum; the skiplist encoding subtracts ranks.
fn count_in_range(
    z: &ZSet,
    gte_min: impl Fn(f64, &[u8]) -> bool + Copy,
    lte_max: impl Fn(f64, &[u8]) -> bool + Copy,
) -> i64 {
    let Some(first) = z.first_in_range(gte_min, lte_max) else {
        return 0;
    };
    if z.is_packed() {
        let mut n = 0i64;
        z.visit(first, z.len(), false, |m, s| {
            if lte_max(s, m) {
                n += 1;
                true
            } else {
                false
            }
        });
        return n;
    }
    match z.last_in_range(gte_min, lte_max) {
        Some(last) => last as i64 - first as i64 + 1,
        None => (z.len() - first) as i64,
    }
}

// ---------------------------------------------------------------------------------
// Ranges: ZRANGE and its older forms, ZRANGESTORE.
// ---------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum RangeKind {
    Auto,
    Rank,
    Score,
    Lex,
}

/// The parsed range of a ZRANGE-family command.
enum Range {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

fn zrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    zrange_generic(ctx, argv, 1, None, RangeKind::Auto, None);
}

fn zrangestore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    zrange_generic(ctx, argv, 2, Some(argv.get(1)), RangeKind::Auto, None);
}

fn zrevrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    zrange_generic(ctx, argv, 1, None, RangeKind::Rank, Some(true));
}

fn zrangebyscore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    zrange_generic(ctx, argv, 1, None, RangeKind::Score, Some(false));
}

fn zrevrangebyscore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    zrange_generic(ctx, argv, 1, None, RangeKind::Score, Some(true));
}

fn zrangebylex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    zrange_generic(ctx, argv, 1, None, RangeKind::Lex, Some(false));
}

fn zrevrangebylex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    zrange_generic(ctx, argv, 1, None, RangeKind::Lex, Some(true));
}

/// Redis's `zrangeGenericCommand`. `rev` None: REV may be given.
fn zrange_generic(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    start: usize,
    store: Option<&[u8]>,
    mut kind: RangeKind,
    rev: Option<bool>,
) {
    let key = argv.get(start);
    let mut withscores = false;
    let (mut offset, mut limit) = (0i64, -1i64);
    let mut reverse = rev;
    let mut j = start + 3;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        if store.is_none() && argv.is(j, "withscores") {
            withscores = true;
        } else if argv.is(j, "limit") && left >= 2 {
            let Some(o) = arg_long(ctx, argv, j + 1) else {
                return;
            };
            let Some(l) = arg_long(ctx, argv, j + 2) else {
                return;
            };
            (offset, limit) = (o, l);
            j += 2;
        } else if reverse.is_none() && argv.is(j, "rev") {
            reverse = Some(true);
        } else if kind == RangeKind::Auto && argv.is(j, "bylex") {
            kind = RangeKind::Lex;
        } else if kind == RangeKind::Auto && argv.is(j, "byscore") {
            kind = RangeKind::Score;
        } else {
            ctx.out().error(errors::SYNTAX);
            return;
        }
        j += 1;
    }
    let reverse = reverse.unwrap_or(false);
    if kind == RangeKind::Auto {
        kind = RangeKind::Rank;
    }
    if limit != -1 && kind == RangeKind::Rank {
        ctx.out().error(
            "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
        );
        return;
    }
    if withscores && kind == RangeKind::Lex {
        ctx.out()
            .error("ERR syntax error, WITHSCORES not supported in combination with BYLEX");
        return;
    }
    let (mut min_i, mut max_i) = (start + 1, start + 2);
    if reverse && kind != RangeKind::Rank {
        std::mem::swap(&mut min_i, &mut max_i);
    }
    let range = match kind {
        RangeKind::Score => match ScoreRange::parse(argv.get(min_i), argv.get(max_i)) {
            Some(r) => Range::Score(r),
            None => {
                ctx.out().error(RANGE_NOT_FLOAT);
                return;
            }
        },
        RangeKind::Lex => match LexRange::parse(argv.get(min_i), argv.get(max_i)) {
            Some(r) => Range::Lex(r),
            None => {
                ctx.out().error(RANGE_NOT_LEX);
                return;
            }
        },
        RangeKind::Auto | RangeKind::Rank => {
            let Some(a) = arg_long(ctx, argv, min_i) else {
                return;
            };
            let Some(b) = arg_long(ctx, argv, max_i) else {
                return;
            };
            Range::Rank(a, b)
        }
    };
    let Ok(found) = lookup_zset(ctx, key, true) else {
        return;
    };
    let db = ctx.db();
    let Some(id) = found else {
        match store {
            Some(dst) => store_result::<&[u8]>(ctx, dst, &[], "zrangestore"),
            None => ctx.out().array(0),
        }
        return;
    };
    match store {
        Some(dst) => {
            let owned: Vec<(Vec<u8>, f64)> = match zset_of(ctx, id) {
                Some(z) => select_range(z, &range, reverse, offset, limit)
                    .into_iter()
                    .map(|(m, s)| (m.to_vec(), s))
                    .collect(),
                None => Vec::new(),
            };
            store_result(ctx, dst, &owned, "zrangestore");
        }
        None => {
            let Ctx { client, .. } = ctx;
            let Some(Value::ZSet(zset)) = ctx.keyspace.value(db, id) else {
                return;
            };
            let picked = select_range(zset, &range, reverse, offset, limit);
            reply_entries(&mut client.out, &picked, withscores);
        }
    }
}

/// The members a range selects, in reply order.
fn select_range<'z>(
    z: &'z ZSet,
    range: &Range,
    rev: bool,
    offset: i64,
    limit: i64,
) -> Vec<(&'z [u8], f64)> {
    let len = z.len();
    let mut out = Vec::new();
    match range {
        Range::Rank(start, end) => {
            let llen = len as i64;
            let mut start = if *start < 0 { llen + start } else { *start };
            let mut end = if *end < 0 { llen + end } else { *end };
            if start < 0 {
                start = 0;
            }
            if start > end || start >= llen {
                return out;
            }
            if end >= llen {
                end = llen - 1;
            }
            let (lo, hi) = if rev {
                (llen - 1 - end, llen - start)
            } else {
                (start, end + 1)
            };
            out.reserve((hi - lo) as usize);
            z.visit(lo as usize, hi as usize, rev, |m, s| {
                out.push((m, s));
                true
            });
        }
        Range::Score(r) => {
            if r.is_empty() {
                return out;
            }
            walk_range(
                z,
                |s, _| r.gte_min(s),
                |s, _| r.lte_max(s),
                rev,
                offset,
                limit,
                &mut out,
            );
        }
        Range::Lex(r) => {
            if r.is_empty() {
                return out;
            }
            walk_range(
                z,
                |_, m| r.gte_min(m),
                |_, m| r.lte_max(m),
                rev,
                offset,
                limit,
                &mut out,
            );
        }
    }
    out
}

/// Redis's by-score / by-lex walk: from the first (last, reversed) member in range,
/// skip `offset` members (a negative offset skips everything), then take up to
/// `limit` (negative: no limit) while members stay in range.
fn walk_range<'z>(
    z: &'z ZSet,
    gte_min: impl Fn(f64, &[u8]) -> bool + Copy,
    lte_max: impl Fn(f64, &[u8]) -> bool + Copy,
    rev: bool,
    offset: i64,
    limit: i64,
    out: &mut Vec<(&'z [u8], f64)>,
) {
    if offset > 0 && offset as u64 >= z.len() as u64 {
        return;
    }
    if offset < 0 {
        return;
    }
    let from = if rev {
        z.last_in_range(gte_min, lte_max)
    } else {
        z.first_in_range(gte_min, lte_max)
    };
    let Some(from) = from else {
        return;
    };
    let mut skip = offset;
    let mut left = limit;
    let (lo, hi) = if rev { (0, from + 1) } else { (from, z.len()) };
    z.visit(lo, hi, rev, |m, s| {
        if skip > 0 {
            skip -= 1;
            return true;
        }
        if left == 0 {
            return false;
        }
        let inside = if rev { gte_min(s, m) } else { lte_max(s, m) };
        if !inside {
            return false;
        }
        out.push((m, s));
        left -= 1;
        true
    });
}

// ---------------------------------------------------------------------------------
// Removals.
// ---------------------------------------------------------------------------------

fn zrem(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let key = argv.get(1);
    let Ok(found) = lookup_zset(ctx, key, false) else {
        return;
    };
    let Some(id) = found else {
        ctx.out().int(0);
        return;
    };
    let mut deleted = 0i64;
    let mut key_removed = false;
    for member in argv.iter().skip(2) {
        if update_zset(ctx, id, |z, _| z.remove(member)) == Some(true) {
            deleted += 1;
        }
        if delete_if_empty(ctx, id) {
            key_removed = true;
            break;
        }
    }
    if deleted > 0 {
        ctx.notify(notify::ZSET, "zrem", key);
        if key_removed {
            ctx.notify(notify::GENERIC, "del", key);
        }
        ctx.key_modified(key);
    }
    ctx.out().int(deleted);
}

fn zremrangebyrank(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(start) = arg_long(ctx, argv, 2) else {
        return;
    };
    let Some(end) = arg_long(ctx, argv, 3) else {
        return;
    };
    zremrange_generic(ctx, argv, Range::Rank(start, end), "zremrangebyrank");
}

fn zremrangebyscore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(range) = ScoreRange::parse(argv.get(2), argv.get(3)) else {
        ctx.out().error(RANGE_NOT_FLOAT);
        return;
    };
    zremrange_generic(ctx, argv, Range::Score(range), "zremrangebyscore");
}

fn zremrangebylex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(range) = LexRange::parse(argv.get(2), argv.get(3)) else {
        ctx.out().error(RANGE_NOT_LEX);
        return;
    };
    zremrange_generic(ctx, argv, Range::Lex(range), "zremrangebylex");
}

fn zremrange_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, range: Range, event: &str) {
    let key = argv.get(1);
    let Ok(found) = lookup_zset(ctx, key, false) else {
        return;
    };
    let Some(id) = found else {
        ctx.out().int(0);
        return;
    };
    let members: Vec<Vec<u8>> = match zset_of(ctx, id) {
        Some(z) => select_range(z, &range, false, 0, -1)
            .into_iter()
            .map(|(m, _)| m.to_vec())
            .collect(),
        None => Vec::new(),
    };
    update_zset(ctx, id, |z, _| {
        for m in &members {
            z.remove(m);
        }
    });
    let key_removed = delete_if_empty(ctx, id);
    if !members.is_empty() {
        ctx.key_modified(key);
        ctx.notify(notify::ZSET, event, key);
        if key_removed {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    ctx.out().int(members.len() as i64);
}

// ---------------------------------------------------------------------------------
// Pops.
// ---------------------------------------------------------------------------------

fn zpopmin(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    zpop_command(ctx, argv, false);
}

fn zpopmax(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    zpop_command(ctx, argv, true);
}

fn zpop_command(ctx: &mut Ctx<'_>, argv: &Argv<'_>, max: bool) {
    if argv.len() > 3 {
        ctx.out().error(errors::SYNTAX);
        return;
    }
    let mut count = None;
    if argv.len() == 3 {
        // Redis's `getPositiveLongFromObjectOrReply`: one message for both failures.
        match parse_i64(argv.get(2)) {
            Some(c) if c >= 0 => count = Some(c as u64),
            _ => {
                ctx.out().error(NOT_POSITIVE);
                return;
            }
        }
    }
    let nested = ctx.client.out.proto == Proto::Resp3 && count.is_some();
    zpop_generic(ctx, &[argv.get(1)], max, false, count, nested, false);
}

/// Redis's `genericZpopCommand`, shared with the blocking pops: pops from the first
/// existing key of `keys` (WRONGTYPE if it is not a sorted set) up to `count` members
/// (None: one, the plain form), min or `max` first, and writes the reply in the shape
/// the caller asks for: `emit_key` puts the key first (BZPOP*, ZMPOP), `nested` uses
/// [member, score] pairs, `nil_when_empty` answers a null array when no key exists.
/// Returns how many members were popped.
pub fn zpop_generic(
    ctx: &mut Ctx<'_>,
    keys: &[&[u8]],
    max: bool,
    emit_key: bool,
    count: Option<u64>,
    nested: bool,
    nil_when_empty: bool,
) -> usize {
    let mut target = None;
    for &key in keys {
        match lookup_zset(ctx, key, false) {
            Err(()) => return 0,
            Ok(Some(id)) => {
                target = Some((key, id));
                break;
            }
            Ok(None) => {}
        }
    }
    let Some((key, id)) = target else {
        if nil_when_empty {
            ctx.out().null_array();
        } else {
            ctx.out().array(0);
        }
        return 0;
    };
    if count == Some(0) {
        ctx.out().array(0);
        return 0;
    }
    let popped = pop_members(ctx, id, max, count.unwrap_or(1));
    let out = ctx.out();
    let n = popped.len();
    match (nested, emit_key) {
        (false, false) => out.array(n * 2),
        (true, false) => out.array(n),
        (false, true) => {
            out.array(n * 2 + 1);
            out.bulk(key);
        }
        (true, true) => {
            out.array(2);
            out.bulk(key);
            out.array(n);
        }
    }
    for (m, s) in &popped {
        if nested {
            out.array(2);
        }
        out.bulk(m);
        reply_score(out, *s);
    }
    if n > 0 {
        ctx.notify(notify::ZSET, if max { "zpopmax" } else { "zpopmin" }, key);
        ctx.key_modified(key);
    }
    if delete_if_empty(ctx, id) {
        ctx.notify(notify::GENERIC, "del", key);
    }
    n
}

/// Removes up to `count` members from the low (or high, `max`) end of the sorted set
/// in slot `id` and returns them in pop order. The key is left for the caller to
/// delete when emptied.
pub fn pop_members(ctx: &mut Ctx<'_>, id: u32, max: bool, count: u64) -> Vec<(Vec<u8>, f64)> {
    let Some(z) = zset_of(ctx, id) else {
        return Vec::new();
    };
    let len = z.len();
    let n = usize::try_from(count).unwrap_or(usize::MAX).min(len);
    let mut popped = Vec::with_capacity(n);
    let (lo, hi) = if max { (len - n, len) } else { (0, n) };
    z.visit(lo, hi, max, |m, s| {
        popped.push((m.to_vec(), s));
        true
    });
    update_zset(ctx, id, |z, _| {
        for (m, _) in &popped {
            z.remove(m);
        }
    });
    popped
}

/// ZMPOP / BZMPOP arguments from `numkeys_at` on: the key range, MIN/MAX and COUNT,
/// parsed in Redis's order; the error is written on a bad one.
struct MpopArgs {
    keys: std::ops::Range<usize>,
    max: bool,
    count: u64,
}

fn parse_mpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>, numkeys_at: usize) -> Option<MpopArgs> {
    let numkeys = arg_range_msg(
        ctx,
        argv.get(numkeys_at),
        1,
        "ERR numkeys should be greater than 0",
    )?;
    let where_idx = usize::try_from(numkeys)
        .ok()
        .and_then(|n| n.checked_add(numkeys_at + 1))
        .filter(|&w| w < argv.len());
    let Some(where_idx) = where_idx else {
        ctx.out().error(errors::SYNTAX);
        return None;
    };
    let max = if argv.is(where_idx, "min") {
        false
    } else if argv.is(where_idx, "max") {
        true
    } else {
        ctx.out().error(errors::SYNTAX);
        return None;
    };
    let mut count = None;
    let mut j = where_idx + 1;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if count.is_none() && argv.is(j, "count") && more > 0 {
            j += 1;
            let c = arg_range_msg(ctx, argv.get(j), 1, "ERR count should be greater than 0")?;
            count = Some(c as u64);
        } else {
            ctx.out().error(errors::SYNTAX);
            return None;
        }
        j += 1;
    }
    Some(MpopArgs {
        keys: numkeys_at + 1..where_idx,
        max,
        count: count.unwrap_or(1),
    })
}

fn zmpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(a) = parse_mpop(ctx, argv, 1) else {
        return;
    };
    let keys: Vec<&[u8]> = a.keys.map(|i| argv.get(i)).collect();
    zpop_generic(ctx, &keys, a.max, true, Some(a.count), true, true);
}

// ---------------------------------------------------------------------------------
// BZPOPMIN BZPOPMAX BZMPOP
// ---------------------------------------------------------------------------------

fn bzpopmin(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let keys = 1..argv.len() - 1;
    blocking_zpop(ctx, argv, keys, argv.len() - 1, false, None);
}

fn bzpopmax(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let keys = 1..argv.len() - 1;
    blocking_zpop(ctx, argv, keys, argv.len() - 1, true, None);
}

fn bzmpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(a) = parse_mpop(ctx, argv, 2) else {
        return;
    };
    blocking_zpop(ctx, argv, a.keys, 1, a.max, Some(a.count));
}

/// Redis's `blockingGenericZpopCommand`: pops from the first non-empty sorted set of
/// `keys` like ZPOPMIN/ZPOPMAX (BZMPOP: like ZMPOP, `count` given), else blocks until
/// one is served, the timeout passes (a null array) or the client may not block.
fn blocking_zpop(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    keys: std::ops::Range<usize>,
    timeout_at: usize,
    max: bool,
    count: Option<u64>,
) {
    let Some(timeout_ms) = super::lists::timeout_arg(ctx, argv.get(timeout_at)) else {
        return;
    };
    let nested = count.is_some();
    for j in keys.clone() {
        let key = argv.get(j);
        let Ok(found) = lookup_zset(ctx, key, false) else {
            return;
        };
        if found.is_some_and(|id| zset_of(ctx, id).is_some_and(|z| !z.is_empty())) {
            // Served at once: it replays as ZPOPMIN/ZPOPMAX of that key.
            ctx.propagate_as(|| {
                crate::blocking::served_as(key, &crate::blocking::BlockedOp::ZSet { max, count })
            });
            zpop_generic(ctx, &[key], max, true, count, nested, nested);
            return;
        }
    }
    if ctx.client.may_not_block() {
        ctx.out().null_array();
        return;
    }
    let keys: Vec<Vec<u8>> = keys.map(|j| argv.get(j).to_vec()).collect();
    let deadline = super::lists::deadline(ctx, timeout_ms);
    ctx.block(
        keys,
        deadline,
        crate::blocking::BlockedOp::ZSet { max, count },
    );
}

/// Converts the sorted set in slot `id` to the skiplist encoding, as Redis's SORT
/// does to the sorted set it sorts.
pub(crate) fn convert_for_sort(ctx: &mut Ctx<'_>, id: u32) {
    update_zset(ctx, id, |z, seeds| {
        if matches!(z, ZSet::Packed(_)) {
            z.convert(seeds());
        }
    });
}

/// A non-empty sorted set under `key`, for a blocked client to be served from.
pub(crate) fn is_ready(ctx: &mut Ctx<'_>, key: &[u8]) -> bool {
    let db = ctx.db();
    let Some(id) = ctx.keyspace.lookup(db, key, ctx.now.wall_ms) else {
        return false;
    };
    matches!(ctx.keyspace.value(db, id), Some(Value::ZSet(z)) if !z.is_empty())
}

/// Serves a client blocked by BZPOPMIN/BZPOPMAX (`count` None) or BZMPOP; true when
/// the key was emptied and deleted.
pub(crate) fn serve_blocked(ctx: &mut Ctx<'_>, key: &[u8], max: bool, count: Option<u64>) -> bool {
    let nested = count.is_some();
    zpop_generic(ctx, &[key], max, true, count, nested, nested);
    let db = ctx.db();
    ctx.keyspace.lookup(db, key, ctx.now.wall_ms).is_none()
}

// ---------------------------------------------------------------------------------
// ZRANDMEMBER
// ---------------------------------------------------------------------------------

fn zrandmember(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if argv.len() == 2 {
        let Ok(found) = lookup_zset(ctx, argv.get(1), true) else {
            return;
        };
        let Ctx { client, .. } = ctx;
        let rng = &mut ctx.server.rng;
        let zset = match found.and_then(|id| ctx.keyspace.value(client.db, id)) {
            Some(Value::ZSet(z)) if !z.is_empty() => z,
            _ => {
                client.out.null();
                return;
            }
        };
        let rank = rng.gen_range(0..zset.len());
        match zset.at(rank) {
            Some((m, _)) => client.out.bulk(m),
            None => client.out.null(),
        }
        return;
    }
    let Some((count, withscores)) = super::parse_random_count(ctx, argv, Some("withscores")) else {
        return;
    };
    let Ok(found) = lookup_zset(ctx, argv.get(1), true) else {
        return;
    };
    let Ctx { client, .. } = ctx;
    let rng = &mut ctx.server.rng;
    let zset = match found.and_then(|id| ctx.keyspace.value(client.db, id)) {
        Some(Value::ZSet(z)) if count != 0 => &**z,
        _ => {
            client.out.array(0);
            return;
        }
    };
    let size = zset.len();
    let wanted = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let out = &mut client.out;
    if count < 0 || wanted == 1 {
        // Repeats allowed: independent uniform draws by rank, written as drawn.
        let wanted = wanted.min(ZRANDMEMBER_MAX_REPEATS);
        let nested = withscores && out.proto == Proto::Resp3;
        out.array(if withscores && !nested {
            wanted * 2
        } else {
            wanted
        });
        for _ in 0..wanted {
            let (m, s) = zset.at(rng.gen_range(0..size.max(1))).unwrap_or((b"", 0.0));
            reply_entry(out, m, s, withscores);
        }
        return;
    }
    if wanted >= size {
        // The whole set, highest first (Redis 7.0 serves this case as a reversed
        // rank range).
        let mut all = zset.entries();
        all.reverse();
        reply_entries(out, &all, withscores);
        return;
    }
    // Distinct ranks: a partial shuffle when most of the set is wanted, else draws
    // until enough distinct ones (expected < 1.5 draws each as wanted < size / 3).
    let ranks: Vec<usize> = if wanted.saturating_mul(3) > size {
        let mut all: Vec<usize> = (0..size).collect();
        for i in 0..wanted {
            let j = rng.gen_range(i..size);
            all.swap(i, j);
        }
        all.truncate(wanted);
        all
    } else {
        let mut seen = std::collections::BTreeSet::new();
        let mut picked = Vec::with_capacity(wanted);
        while picked.len() < wanted {
            let r = rng.gen_range(0..size);
            if seen.insert(r) {
                picked.push(r);
            }
        }
        picked
    };
    let picked: Vec<(&[u8], f64)> = ranks.into_iter().filter_map(|r| zset.at(r)).collect();
    reply_entries(out, &picked, withscores);
}

// ---------------------------------------------------------------------------------
// ZSCAN
// ---------------------------------------------------------------------------------

fn zscan(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(cursor) = parse_cursor(argv.get(2)) else {
        ctx.out().error("ERR invalid cursor");
        return;
    };
    let Ok(found) = lookup_zset(ctx, argv.get(1), true) else {
        return;
    };
    let Some(id) = found else {
        let out = ctx.out();
        out.array(2);
        out.bulk(b"0");
        out.array(0);
        return;
    };
    let Some(opts) = super::parse_scan_options(ctx, argv, 3, false) else {
        return;
    };
    let db = ctx.db();
    let Ctx { client, .. } = ctx;
    let Some(Value::ZSet(zset)) = ctx.keyspace.value(db, id) else {
        return;
    };
    let mut found: Vec<(&[u8], String)> = Vec::new();
    let next = zset.scan(cursor, opts.count, |m, s| {
        if opts.matches(m) {
            found.push((m, s));
        }
    });
    let out = &mut client.out;
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(found.len() * 2);
    for (m, s) in found {
        out.bulk(m);
        out.bulk(s.as_bytes());
    }
}

// ---------------------------------------------------------------------------------
// ZUNION, ZINTER, ZDIFF, their STORE forms, ZINTERCARD.
// ---------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

/// One input of a set operation, borrowed from the keyspace.
enum Input<'a> {
    Missing,
    Sorted(&'a ZSet),
    /// A plain set and its members (intset members printed); each counts with
    /// score 1, as Redis.
    Plain(&'a Set, Vec<Vec<u8>>),
}

impl<'a> Input<'a> {
    fn plain(set: &'a Set) -> Input<'a> {
        Input::Plain(set, set.iter().map(Member::to_vec).collect())
    }

    fn len(&self) -> usize {
        match self {
            Input::Missing => 0,
            Input::Sorted(z) => z.len(),
            Input::Plain(_, v) => v.len(),
        }
    }

    fn find(&self, member: &[u8]) -> Option<f64> {
        match self {
            Input::Missing => None,
            Input::Sorted(z) => z.score(member),
            Input::Plain(set, _) => set.contains(member).then_some(1.0),
        }
    }

    fn entries(&self) -> Vec<(&[u8], f64)> {
        match self {
            Input::Missing => Vec::new(),
            Input::Sorted(z) => z.entries(),
            Input::Plain(_, v) => v.iter().map(|m| (m.as_slice(), 1.0)).collect(),
        }
    }
}

/// Reads one input of ZUNION / ZINTER / ZDIFF: a sorted set, or a plain set whose
/// members count with score 1, as Redis. `Err(())`: another type (WRONGTYPE).
fn read_input(value: &Value) -> Result<Input<'_>, ()> {
    match value {
        Value::ZSet(z) => Ok(Input::Sorted(z)),
        Value::Set(s) => Ok(Input::plain(s)),
        _ => Err(()),
    }
}

fn zunion(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    setop_generic(ctx, argv, None, 1, SetOp::Union, false, "zunion");
}

fn zinter(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    setop_generic(ctx, argv, None, 1, SetOp::Inter, false, "zinter");
}

fn zdiff(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    setop_generic(ctx, argv, None, 1, SetOp::Diff, false, "zdiff");
}

fn zintercard(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    setop_generic(ctx, argv, None, 1, SetOp::Inter, true, "zintercard");
}

fn zunionstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    setop_generic(
        ctx,
        argv,
        Some(argv.get(1)),
        2,
        SetOp::Union,
        false,
        "zunionstore",
    );
}

fn zinterstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    setop_generic(
        ctx,
        argv,
        Some(argv.get(1)),
        2,
        SetOp::Inter,
        false,
        "zinterstore",
    );
}

fn zdiffstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    setop_generic(
        ctx,
        argv,
        Some(argv.get(1)),
        2,
        SetOp::Diff,
        false,
        "zdiffstore",
    );
}

fn aggregate(target: &mut f64, value: f64, how: Aggregate) {
    match how {
        Aggregate::Sum => {
            *target += value;
            // inf + -inf: Redis's convention is 0.
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggregate::Min => {
            if value < *target {
                *target = value;
            }
        }
        Aggregate::Max => {
            if value > *target {
                *target = value;
            }
        }
    }
}

/// Redis's `zunionInterDiffGenericCommand`.
fn setop_generic(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    dst: Option<&[u8]>,
    numkeys_idx: usize,
    op: SetOp,
    card_only: bool,
    name: &str,
) {
    let Some(setnum) = arg_long(ctx, argv, numkeys_idx) else {
        return;
    };
    if setnum < 1 {
        ctx.out().error(&format!(
            "ERR at least 1 input key is needed for '{name}' command"
        ));
        return;
    }
    let available = argv.len() - (numkeys_idx + 1);
    if setnum as u64 > available as u64 {
        ctx.out().error(errors::SYNTAX);
        return;
    }
    let setnum = setnum as usize;
    let first_key = numkeys_idx + 1;
    // Look every key up first (lazy expiry, stats), as Redis does before the options.
    let db = ctx.db();
    let mut ids = Vec::with_capacity(setnum);
    for i in 0..setnum {
        let key = argv.get(first_key + i);
        let (now_ms, secs) = (ctx.now.wall_ms, ctx.now.mono_secs());
        let found = if ctx.client.no_touch {
            ctx.keyspace.lookup(db, key, now_ms)
        } else {
            ctx.keyspace.lookup_touch(db, key, now_ms, secs)
        };
        match found {
            Some(id) => {
                ctx.server.stats.keyspace_hits += 1;
                let bad = ctx
                    .keyspace
                    .value(db, id)
                    .is_some_and(|v| read_input(v).is_err());
                if bad {
                    ctx.out().error(errors::WRONGTYPE);
                    return;
                }
                ids.push(Some(id));
            }
            None => {
                ctx.server.stats.keyspace_misses += 1;
                ids.push(None);
            }
        }
    }
    let mut weights = vec![1.0f64; setnum];
    let mut how = Aggregate::Sum;
    let mut withscores = false;
    let mut limit = 0u64;
    let mut j = first_key + setnum;
    while j < argv.len() {
        let remaining = argv.len() - j;
        if op != SetOp::Diff && !card_only && remaining > setnum && argv.is(j, "weights") {
            j += 1;
            for w in weights.iter_mut() {
                match parse_score(argv.get(j)) {
                    Some(v) => *w = v,
                    None => {
                        ctx.out().error("ERR weight value is not a float");
                        return;
                    }
                }
                j += 1;
            }
        } else if op != SetOp::Diff && !card_only && remaining >= 2 && argv.is(j, "aggregate") {
            how = if argv.is(j + 1, "sum") {
                Aggregate::Sum
            } else if argv.is(j + 1, "min") {
                Aggregate::Min
            } else if argv.is(j + 1, "max") {
                Aggregate::Max
            } else {
                ctx.out().error(errors::SYNTAX);
                return;
            };
            j += 2;
        } else if dst.is_none() && !card_only && argv.is(j, "withscores") {
            withscores = true;
            j += 1;
        } else if card_only && remaining >= 2 && argv.is(j, "limit") {
            match parse_i64(argv.get(j + 1)) {
                Some(l) if l >= 0 => limit = l as u64,
                _ => {
                    ctx.out().error("ERR LIMIT can't be negative");
                    return;
                }
            }
            j += 2;
        } else {
            ctx.out().error(errors::SYNTAX);
            return;
        }
    }
    let mut inputs = Vec::with_capacity(setnum);
    // One weight per key (all 1 without WEIGHTS).
    for (id, &weight) in ids.iter().zip(&weights) {
        let input = match id.and_then(|id| ctx.keyspace.value(db, id)) {
            // Checked while looking the keys up.
            Some(v) => read_input(v).unwrap_or(Input::Missing),
            None => Input::Missing,
        };
        inputs.push((input, weight, *id));
    }
    if op != SetOp::Diff {
        // Smallest first (a stable sort, as glibc's qsort merge sort is here).
        inputs.sort_by_key(|(input, _, _)| input.len());
    }
    let mut cardinality = 0u64;
    let mut result: Vec<(Vec<u8>, f64)> = Vec::new();
    match op {
        SetOp::Inter => {
            if let Some(((first, w0, id0), rest)) = inputs.split_first() {
                for (m, s) in first.entries() {
                    let mut score = w0 * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    let mut all = true;
                    for (input, w, id) in rest {
                        let value = if id.is_some() && id == id0 {
                            Some(s)
                        } else {
                            input.find(m)
                        };
                        match value {
                            Some(v) => aggregate(&mut score, v * w, how),
                            None => {
                                all = false;
                                break;
                            }
                        }
                    }
                    if !all {
                        continue;
                    }
                    if card_only {
                        cardinality += 1;
                        if limit > 0 && cardinality >= limit {
                            break;
                        }
                    } else {
                        result.push((m.to_vec(), score));
                    }
                }
            }
        }
        SetOp::Union => {
            let mut index: hashbrown::HashMap<&[u8], usize, ahash::RandomState> =
                hashbrown::HashMap::with_hasher(ahash::RandomState::with_seeds(7, 11, 13, 17));
            let mut acc: Vec<(&[u8], f64)> = Vec::new();
            for (input, w, _) in &inputs {
                for (m, s) in input.entries() {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match index.get(m) {
                        Some(&i) => {
                            if let Some(e) = acc.get_mut(i) {
                                aggregate(&mut e.1, score, how);
                            }
                        }
                        None => {
                            index.insert(m, acc.len());
                            acc.push((m, score));
                        }
                    }
                }
            }
            result = acc.into_iter().map(|(m, s)| (m.to_vec(), s)).collect();
        }
        SetOp::Diff => {
            if let Some(((first, _, id0), rest)) = inputs.split_first() {
                for (m, s) in first.entries() {
                    let elsewhere = rest.iter().any(|(input, _, id)| {
                        (id.is_some() && id == id0) || input.find(m).is_some()
                    });
                    if !elsewhere {
                        result.push((m.to_vec(), s));
                    }
                }
            }
        }
    }
    drop(inputs);
    if card_only {
        ctx.out().int(cardinality as i64);
        return;
    }
    // Aggregates turn NaN into 0, as Redis does; score_cmp is total regardless, which
    // Rust's sort needs.
    result.sort_by(|a, b| score_cmp(a.1, b.1).then_with(|| a.0.cmp(&b.0)));
    match dst {
        Some(dst) => store_result(ctx, dst, &result, name),
        None => reply_entries(ctx.out(), &result, withscores),
    }
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    /// A node with client 1 connected.
    fn node() -> Kit {
        let mut kit = Kit::new("");
        kit.connect(1);
        kit
    }

    /// Runs one command line (space separated) and returns the reply bytes.
    fn run(kit: &mut Kit, line: &str) -> Vec<u8> {
        let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
        kit.cmd_on(0, 1, &args)
    }

    #[test]
    fn memory_is_accounted_and_returns_after_deletes() {
        let mut n = node();
        run(&mut n, "SET anchor v");
        // z's keyspace slot, once written and freed, is on the free list (not counted)
        // rather than in the growing first chunk's unwritten room (counted): start
        // from there, so the end state is the start state.
        run(&mut n, "SET z v");
        run(&mut n, "DEL z");
        let start = n.node().keyspace().used_bytes();
        for i in 0..3000 {
            let reply = run(
                &mut n,
                &format!("ZADD z {} member:{i:09}", (i * 7919) % 1000),
            );
            assert_eq!(reply, b":1\r\n");
        }
        assert_eq!(run(&mut n, "OBJECT ENCODING z"), b"$8\r\nskiplist\r\n");
        let grown = n.node().keyspace().used_bytes();
        assert!(grown > start + 3000 * 40, "{grown} vs {start}");
        // What the keyspace accounts is what the value reports, after every change.
        for i in 0..3000 {
            assert_eq!(run(&mut n, &format!("ZREM z member:{i:09}")), b":1\r\n");
        }
        assert_eq!(run(&mut n, "EXISTS z"), b":0\r\n");
        assert_eq!(n.node().keyspace().used_bytes(), start);
    }

    #[test]
    fn big_range_reads_agree_with_ranks() {
        let mut n = node();
        for i in 0..2000 {
            run(&mut n, &format!("ZADD z {} m{i:05}", i / 3));
        }
        assert_eq!(run(&mut n, "ZRANK z m01500"), b":1500\r\n");
        assert_eq!(run(&mut n, "ZREVRANK z m01500"), b":499\r\n");
        assert_eq!(
            run(&mut n, "ZRANGE z 1500 1501 WITHSCORES"),
            b"*4\r\n$6\r\nm01500\r\n$3\r\n500\r\n$6\r\nm01501\r\n$3\r\n500\r\n"
        );
        assert_eq!(run(&mut n, "ZCOUNT z (100 200"), b":300\r\n");
        assert_eq!(
            run(&mut n, "ZRANGE z (201 200 BYSCORE REV LIMIT 1 1"),
            b"*1\r\n$6\r\nm00601\r\n"
        );
        assert_eq!(run(&mut n, "ZREMRANGEBYSCORE z 0 (100"), b":300\r\n");
        assert_eq!(run(&mut n, "ZCARD z"), b":1700\r\n");
        assert_eq!(
            run(&mut n, "ZPOPMIN z"),
            b"*2\r\n$6\r\nm00300\r\n$3\r\n100\r\n"
        );
    }

    #[cfg(feature = "mutants")]
    #[test]
    fn planted_gt_update_on_equal_changes_the_ch_reply() {
        use crate::mutants::Mutant;
        let mut n = node();
        run(&mut n, "ZADD z 1 a");
        assert_eq!(run(&mut n, "ZADD z GT CH 1 a"), b":0\r\n");
        n.node().set_mutant(Some(Mutant::ZaddGtUpdatesOnEqual));
        assert_eq!(run(&mut n, "ZADD z GT CH 1 a"), b":1\r\n");
        assert_eq!(run(&mut n, "ZADD z GT CH 0 a"), b":0\r\n");
    }
}
