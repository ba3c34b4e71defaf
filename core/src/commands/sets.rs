//! Set commands (Redis 7.0's `t_set.c`): SADD and friends, SPOP/SRANDMEMBER drawing
//! from the node's seeded RNG, the SINTER/SUNION/SDIFF family with their STORE forms,
//! SSCAN. Replies, error texts, encodings and keyspace events as Redis 7.0.15; an
//! emptied set is deleted; nothing here panics on client input.

use rand::Rng;

use super::keys::parse_cursor;
use super::keyspec::GetKeysProc;
use super::{cmd, delete_if_empty, errors, Argv, CommandSpec, Ctx};
use crate::mutants::Mutant;
use crate::notify;
use crate::propagate;
use crate::resp::ReplyBuf;
use crate::types::set::Member;
use crate::types::{Set, Value};
use crate::util::parse_i64;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("sadd", -3, [WRITE, DENYOOM, FAST], sadd),
    cmd!("scard", 2, [READONLY, FAST], scard),
    cmd!("sdiff", -2, [READONLY], sdiff),
    cmd!("sdiffstore", -3, [WRITE, DENYOOM], sdiffstore),
    cmd!("sinter", -2, [READONLY], sinter),
    cmd!("sintercard", -3, [READONLY, MOVABLEKEYS], sintercard, getkeys: GetKeysProc::NUMKEYS_AT_1),
    cmd!("sinterstore", -3, [WRITE, DENYOOM], sinterstore),
    cmd!("sismember", 3, [READONLY, FAST], sismember),
    cmd!("smembers", 2, [READONLY], smembers),
    cmd!("smismember", -3, [READONLY, FAST], smismember),
    cmd!("smove", 4, [WRITE, FAST], smove),
    cmd!("spop", -2, [WRITE, FAST], spop),
    cmd!("srandmember", -2, [READONLY], srandmember),
    cmd!("srem", -3, [WRITE, FAST], srem),
    cmd!("sscan", -3, [READONLY], sscan),
    cmd!("sunion", -2, [READONLY], sunion),
    cmd!("sunionstore", -3, [WRITE, DENYOOM], sunionstore),
];

/// SRANDMEMBER with a negative count answers at most this many draws. Redis has no
/// cap and would build a reply of any size; keel bounds the work of one command.
pub const SRANDMEMBER_MAX_REPEATS: u64 = 10_000_000;
/// Redis's `SPOP_MOVE_STRATEGY_MUL`: SPOP with a count keeps the rest and rebuilds
/// when fewer than count/5 members would remain.
const SPOP_MOVE_STRATEGY_MUL: u64 = 5;
/// Redis's `SRANDMEMBER_SUB_STRATEGY_MUL`.
const SRANDMEMBER_SUB_STRATEGY_MUL: u64 = 3;

/// The node's `set-max-intset-entries`.
fn max_intset(ctx: &Ctx<'_>) -> usize {
    ctx.server.config.settings().set_max_intset_entries
}

/// A live set key; reads count keyspace hits and misses. `Err(())`: the key holds
/// another type (WRONGTYPE written).
fn lookup_set(ctx: &mut Ctx<'_>, key: &[u8], read: bool) -> Result<Option<u32>, ()> {
    super::lookup_typed(ctx, key, "set", read)
}

/// Live keys of any type, in order, as Redis's `lookupKeyWrite` (no stats).
fn lookup_any(ctx: &mut Ctx<'_>, key: &[u8]) -> Option<u32> {
    let db = ctx.db();
    let (now_ms, secs) = (ctx.now.wall_ms, ctx.now.mono_secs());
    if ctx.client.no_touch {
        ctx.keyspace.lookup(db, key, now_ms)
    } else {
        ctx.keyspace.lookup_touch(db, key, now_ms, secs)
    }
}

/// Each key's set (None when missing), looked up in order; stops at the first key of
/// another type with WRONGTYPE written, as Redis's loops over `checkType`.
fn lookup_sets(ctx: &mut Ctx<'_>, keys: &[&[u8]], read: bool) -> Result<Vec<Option<u32>>, ()> {
    keys.iter().map(|k| lookup_set(ctx, k, read)).collect()
}

fn set_in(db: &crate::keyspace::Db, id: u32) -> Option<&Set> {
    match db.value(id) {
        Some(Value::Set(s)) => Some(s),
        _ => None,
    }
}

fn set_of<'c>(ctx: &'c Ctx<'_>, id: u32) -> Option<&'c Set> {
    set_in(ctx.keyspace.db(ctx.client.db), id)
}

/// Runs `f` on the set in slot `id` with memory kept accounted; the seeds key a
/// table built by a conversion, drawn from the node's RNG.
fn update_set<R>(
    ctx: &mut Ctx<'_>,
    id: u32,
    f: impl FnOnce(&mut Set, &mut dyn FnMut() -> [u64; 4]) -> R,
) -> Option<R> {
    super::update_with_seeds(ctx, id, |v, seeds| match v {
        Value::Set(s) => Some(f(s, seeds)),
        _ => None,
    })
    .flatten()
}

fn reply_member(out: &mut ReplyBuf, m: Member<'_>) {
    match m {
        Member::Int(n) => out.bulk_i64(n),
        Member::Bytes(b) => out.bulk(b),
    }
}

/// A uniform draw in [0, n) from the node's RNG.
fn draw(rng: &mut impl Rng, n: u64) -> u64 {
    rng.gen_range(0..n.max(1))
}

fn sadd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let key = argv.get(1);
    let Ok(found) = lookup_set(ctx, key, false) else {
        return;
    };
    let id = match found {
        Some(id) => id,
        None => {
            let db = ctx.db();
            let rng = &mut ctx.server.rng;
            let set = Set::create(argv.get(2), &mut || {
                [rng.gen(), rng.gen(), rng.gen(), rng.gen()]
            });
            ctx.keyspace
                .set_found(db, None, key, Value::Set(set), false)
        }
    };
    let max = max_intset(ctx);
    let mut added = 0i64;
    for member in argv.iter().skip(2) {
        if update_set(ctx, id, |s, seeds| s.add(member, max, seeds)) == Some(true) {
            added += 1;
        }
    }
    if added > 0 {
        ctx.key_modified(key);
        ctx.notify(notify::SET, "sadd", key);
    }
    ctx.out().int(added);
}

fn srem(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let key = argv.get(1);
    let Ok(found) = lookup_set(ctx, key, false) else {
        return;
    };
    let Some(id) = found else {
        ctx.out().int(0);
        return;
    };
    let mut deleted = 0i64;
    let mut key_removed = false;
    for member in argv.iter().skip(2) {
        if update_set(ctx, id, |s, _| s.remove(member)) == Some(true) {
            deleted += 1;
            if delete_if_empty(ctx, id) {
                key_removed = true;
                break;
            }
        } else if ctx.server.mutants.is(Mutant::SremCountsMissingMember) {
            // Planted: a member that was not there counts as removed.
            deleted += 1;
        }
    }
    if deleted > 0 {
        ctx.key_modified(key);
        ctx.notify(notify::SET, "srem", key);
        if key_removed {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    ctx.out().int(deleted);
}

fn smove(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let (src, dst, member) = (argv.get(1), argv.get(2), argv.get(3));
    let src_id = lookup_any(ctx, src);
    let dst_id = lookup_any(ctx, dst);
    let Some(src_id) = src_id else {
        ctx.out().int(0);
        return;
    };
    let is_set = |ctx: &Ctx<'_>, id: u32| set_of(ctx, id).is_some();
    if !is_set(ctx, src_id) || dst_id.is_some_and(|d| !is_set(ctx, d)) {
        ctx.out().error(errors::WRONGTYPE);
        return;
    }
    if Some(src_id) == dst_id {
        let here = set_of(ctx, src_id).is_some_and(|s| s.contains(member));
        ctx.out().int(i64::from(here));
        return;
    }
    if update_set(ctx, src_id, |s, _| s.remove(member)) != Some(true) {
        ctx.out().int(0);
        return;
    }
    ctx.notify(notify::SET, "srem", src);
    if delete_if_empty(ctx, src_id) {
        ctx.notify(notify::GENERIC, "del", src);
    }
    let dst_id = match dst_id {
        Some(id) => id,
        None => {
            let db = ctx.db();
            let rng = &mut ctx.server.rng;
            let set = Set::create(member, &mut || [rng.gen(), rng.gen(), rng.gen(), rng.gen()]);
            ctx.keyspace
                .set_found(db, None, dst, Value::Set(set), false)
        }
    };
    ctx.key_modified(src);
    let max = max_intset(ctx);
    if update_set(ctx, dst_id, |s, seeds| s.add(member, max, seeds)) == Some(true) {
        ctx.key_modified(dst);
        ctx.notify(notify::SET, "sadd", dst);
    }
    ctx.out().int(1);
}

fn sismember(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(found) = lookup_set(ctx, argv.get(1), true) else {
        return;
    };
    let here = found
        .and_then(|id| set_of(ctx, id))
        .is_some_and(|s| s.contains(argv.get(2)));
    ctx.out().int(i64::from(here));
}

fn smismember(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(found) = lookup_set(ctx, argv.get(1), true) else {
        return;
    };
    let db = ctx.db();
    let Ctx { client, .. } = ctx;
    let set = found.and_then(|id| set_in(ctx.keyspace.db(db), id));
    let out = &mut client.out;
    out.array(argv.len() - 2);
    for member in argv.iter().skip(2) {
        out.int(i64::from(set.is_some_and(|s| s.contains(member))));
    }
}

fn scard(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(found) = lookup_set(ctx, argv.get(1), true) else {
        return;
    };
    let n = found.and_then(|id| set_of(ctx, id)).map_or(0, Set::len);
    ctx.out().int(n as i64);
}

// ---- SINTER family -----------------------------------------------------------------

/// Members of the intersection, in the order of the smallest set (Redis sorts the
/// sets by size, stably here, and walks the first). `limit` 0 is no limit.
fn intersection<'a>(sets: &[&'a Set], limit: usize) -> Vec<Member<'a>> {
    let mut sorted: Vec<&Set> = sets.to_vec();
    sorted.sort_by_key(|s| s.len());
    let Some((&first, rest)) = sorted.split_first() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for m in first.iter() {
        if rest
            .iter()
            .all(|&s| std::ptr::eq(s, first) || s.contains_member(m))
        {
            found.push(m);
            if limit != 0 && found.len() >= limit {
                break;
            }
        }
    }
    found
}

/// Writes a STORE command's result to `dst` (any old value overwritten, TTL
/// dropped) or deletes `dst` when the result is empty; replies with the size.
fn store_result(ctx: &mut Ctx<'_>, dst: &[u8], result: Set, event: &str) {
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    if result.is_empty() {
        ctx.out().int(0);
        if ctx.keyspace.delete(db, dst, now_ms) {
            ctx.key_modified(dst);
            ctx.notify(notify::GENERIC, "del", dst);
        }
        return;
    }
    let n = result.len();
    ctx.keyspace.set(db, dst, Value::Set(result), false, now_ms);
    ctx.key_modified(dst);
    ctx.out().int(n as i64);
    ctx.notify(notify::SET, event, dst);
}

/// Redis's `sinterGenericCommand`: the intersection replied (`dst` None), stored
/// (`dst`), or only counted up to `limit` (`count_only`).
fn sinter_generic(
    ctx: &mut Ctx<'_>,
    keys: &[&[u8]],
    dst: Option<&[u8]>,
    count_only: bool,
    limit: usize,
) {
    let Ok(ids) = lookup_sets(ctx, keys, dst.is_none()) else {
        return;
    };
    let max = max_intset(ctx);
    let db = ctx.db();
    let rng = &mut ctx.server.rng;
    let dbr = ctx.keyspace.db(db);
    // A missing key is an empty set: the intersection is empty.
    let sets: Option<Vec<&Set>> = ids.iter().map(|id| set_in(dbr, (*id)?)).collect();
    let found = sets.map_or_else(Vec::new, |sets| intersection(&sets, limit));
    if count_only {
        let n = found.len();
        ctx.out().int(n as i64);
        return;
    }
    match dst {
        None => {
            let out = &mut ctx.client.out;
            out.set(found.len());
            for m in found {
                reply_member(out, m);
            }
        }
        Some(dst) => {
            let mut result = Set::default();
            let mut seeds = || [rng.gen(), rng.gen(), rng.gen(), rng.gen()];
            for m in found {
                result.add_member(m, max, &mut seeds);
            }
            store_result(ctx, dst, result, "sinterstore");
        }
    }
}

fn sinter(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let keys: Vec<&[u8]> = argv.iter().skip(1).collect();
    sinter_generic(ctx, &keys, None, false, 0);
}

/// SMEMBERS is SINTER of one key in Redis 7.0 (same replies, same order).
fn smembers(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    sinter_generic(ctx, &[argv.get(1)], None, false, 0);
}

fn sinterstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let keys: Vec<&[u8]> = argv.iter().skip(2).collect();
    sinter_generic(ctx, &keys, Some(argv.get(1)), false, 0);
}

fn sintercard(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let numkeys = match parse_i64(argv.get(1)) {
        Some(n) if n >= 1 => n as u64,
        _ => {
            ctx.out().error("ERR numkeys should be greater than 0");
            return;
        }
    };
    if numkeys > (argv.len() - 2) as u64 {
        ctx.out()
            .error("ERR Number of keys can't be greater than number of args");
        return;
    }
    let numkeys = numkeys as usize;
    let mut limit = 0usize;
    let mut j = 2 + numkeys;
    while j < argv.len() {
        if argv.is(j, "limit") && j + 1 < argv.len() {
            j += 1;
            match parse_i64(argv.get(j)) {
                Some(n) if n >= 0 => limit = usize::try_from(n).unwrap_or(usize::MAX),
                _ => {
                    ctx.out().error("ERR LIMIT can't be negative");
                    return;
                }
            }
        } else {
            ctx.out().error(errors::SYNTAX);
            return;
        }
        j += 1;
    }
    let keys: Vec<&[u8]> = argv.iter().skip(2).take(numkeys).collect();
    sinter_generic(ctx, &keys, None, true, limit);
}

// ---- SUNION / SDIFF ----------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum SetOp {
    Union,
    Diff,
}

/// Redis's `sunionDiffGenericCommand` result, built the way Redis builds it (into a
/// fresh intset, adding and removing), so the result's encoding and, for an intset,
/// its order match. Missing keys are None.
fn union_or_diff(
    sets: &[Option<&Set>],
    op: SetOp,
    max_intset: usize,
    seeds: &mut dyn FnMut() -> [u64; 4],
) -> Set {
    let mut dst = Set::default();
    if op == SetOp::Union {
        for s in sets.iter().flatten() {
            for m in s.iter() {
                dst.add_member(m, max_intset, seeds);
            }
        }
        return dst;
    }
    let Some((&Some(first), rest)) = sets.split_first() else {
        return dst;
    };
    // Redis's choice between its two algorithms changes the result's encoding
    // (algorithm 2 may grow past the intset limit before removing), so keep it.
    let (mut one_work, mut two_work) = (0usize, 0usize);
    for s in sets.iter().flatten() {
        one_work = one_work.saturating_add(first.len());
        two_work = two_work.saturating_add(s.len());
    }
    one_work /= 2;
    if one_work <= two_work {
        let mut others: Vec<&Set> = rest.iter().flatten().copied().collect();
        others.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for m in first.iter() {
            if !others
                .iter()
                .any(|&o| std::ptr::eq(o, first) || o.contains_member(m))
            {
                dst.add_member(m, max_intset, seeds);
            }
        }
    } else {
        for m in first.iter() {
            dst.add_member(m, max_intset, seeds);
        }
        for o in rest.iter().flatten() {
            for m in o.iter() {
                if dst.is_empty() {
                    return dst;
                }
                dst.remove_member(m);
            }
        }
    }
    dst
}

fn sunion_diff_generic(ctx: &mut Ctx<'_>, keys: &[&[u8]], dst: Option<&[u8]>, op: SetOp) {
    let Ok(ids) = lookup_sets(ctx, keys, dst.is_none()) else {
        return;
    };
    let max = max_intset(ctx);
    let db = ctx.db();
    let rng = &mut ctx.server.rng;
    let dbr = ctx.keyspace.db(db);
    let sets: Vec<Option<&Set>> = ids
        .iter()
        .map(|id| id.and_then(|id| set_in(dbr, id)))
        .collect();
    let mut seeds = || [rng.gen(), rng.gen(), rng.gen(), rng.gen()];
    let result = union_or_diff(&sets, op, max, &mut seeds);
    match dst {
        None => {
            let out = ctx.out();
            out.set(result.len());
            for m in result.iter() {
                reply_member(out, m);
            }
        }
        Some(dst) => {
            let event = match op {
                SetOp::Union => "sunionstore",
                SetOp::Diff => "sdiffstore",
            };
            store_result(ctx, dst, result, event);
        }
    }
}

fn sunion(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let keys: Vec<&[u8]> = argv.iter().skip(1).collect();
    sunion_diff_generic(ctx, &keys, None, SetOp::Union);
}

fn sunionstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let keys: Vec<&[u8]> = argv.iter().skip(2).collect();
    sunion_diff_generic(ctx, &keys, Some(argv.get(1)), SetOp::Union);
}

fn sdiff(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let keys: Vec<&[u8]> = argv.iter().skip(1).collect();
    sunion_diff_generic(ctx, &keys, None, SetOp::Diff);
}

fn sdiffstore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let keys: Vec<&[u8]> = argv.iter().skip(2).collect();
    sunion_diff_generic(ctx, &keys, Some(argv.get(1)), SetOp::Diff);
}

// ---- random members --------------------------------------------------------------

/// `count` distinct positions (count < set size) drawn uniformly: a partial shuffle
/// of all positions when count is a large share of the set, else repeated draws.
fn distinct_positions(set: &Set, count: usize, rng: &mut impl Rng) -> Vec<u64> {
    let size = set.len();
    if (count as u64).saturating_mul(SRANDMEMBER_SUB_STRATEGY_MUL) > size as u64 {
        let mut all: Vec<u64> = set.iter_positions().map(|(p, _)| p).collect();
        let wanted = count.min(all.len());
        for i in 0..wanted {
            let j = i + draw(rng, (all.len() - i) as u64) as usize;
            all.swap(i, j);
        }
        all.truncate(wanted);
        return all;
    }
    let mut picked = std::collections::BTreeSet::new();
    let mut order = Vec::with_capacity(count);
    while order.len() < count {
        match set.random_position(|n| draw(rng, n)) {
            Some(p) => {
                if picked.insert(p) {
                    order.push(p);
                }
            }
            None => break,
        }
    }
    order
}

fn srandmember(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if argv.len() == 3 {
        srandmember_count(ctx, argv);
        return;
    }
    if argv.len() > 3 {
        ctx.out().error(errors::SYNTAX);
        return;
    }
    let Ok(found) = lookup_set(ctx, argv.get(1), true) else {
        return;
    };
    let db = ctx.db();
    let Ctx { client, .. } = ctx;
    let rng = &mut ctx.server.rng;
    let set = found.and_then(|id| set_in(ctx.keyspace.db(db), id));
    match set.and_then(|s| s.random_member(|n| draw(rng, n))) {
        Some(m) => reply_member(&mut client.out, m),
        None => client.out.null(),
    }
}

fn srandmember_count(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some((l, _)) = super::parse_random_count(ctx, argv, None) else {
        return;
    };
    let (count, unique) = (l.unsigned_abs(), l >= 0);
    let Ok(found) = lookup_set(ctx, argv.get(1), true) else {
        return;
    };
    let db = ctx.db();
    let Ctx { client, .. } = ctx;
    let rng = &mut ctx.server.rng;
    let out = &mut client.out;
    let set = match found.and_then(|id| set_in(ctx.keyspace.db(db), id)) {
        Some(s) if count != 0 => s,
        _ => {
            out.array(0);
            return;
        }
    };
    let size = set.len() as u64;
    if !unique || count == 1 {
        // Repeats allowed: independent draws, written as they are drawn.
        let n = count.min(SRANDMEMBER_MAX_REPEATS);
        out.array(n as usize);
        for _ in 0..n {
            let m = set.random_member(|n| draw(rng, n));
            reply_member(out, m.unwrap_or(Member::Bytes(b"")));
        }
        return;
    }
    if count >= size {
        // The whole set, in its order (ascending for an intset, as Redis).
        out.array(set.len());
        for m in set.iter() {
            reply_member(out, m);
        }
        return;
    }
    let positions = distinct_positions(set, count as usize, rng);
    out.array(positions.len());
    for p in positions {
        reply_member(out, set.member_at(p).unwrap_or(Member::Bytes(b"")));
    }
}

fn spop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if argv.len() == 3 {
        spop_count(ctx, argv);
        return;
    }
    if argv.len() > 3 {
        ctx.out().error(errors::SYNTAX);
        return;
    }
    let key = argv.get(1);
    let Ok(found) = lookup_set(ctx, key, false) else {
        return;
    };
    let Some(id) = found else {
        ctx.out().null();
        return;
    };
    let popped = {
        let db = ctx.db();
        let rng = &mut ctx.server.rng;
        set_in(ctx.keyspace.db(db), id)
            .and_then(|s| s.random_member(|n| draw(rng, n)))
            .map(Member::to_vec)
    };
    let Some(popped) = popped else {
        ctx.out().null();
        return;
    };
    update_set(ctx, id, |s, _| s.remove(&popped));
    // The member drawn here is this node's choice: replay it, not the draw.
    if !ctx
        .server
        .mutants
        .is(crate::mutants::Mutant::SpopPropagatedVerbatim)
    {
        ctx.propagate_as(|| propagate::argv(&[b"SREM", key, &popped]));
    }
    ctx.notify(notify::SET, "spop", key);
    ctx.out().bulk(&popped);
    if delete_if_empty(ctx, id) {
        ctx.notify(notify::GENERIC, "del", key);
    }
    ctx.key_modified(key);
}

fn spop_count(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let key = argv.get(1);
    let count = match parse_i64(argv.get(2)) {
        Some(n) if n >= 0 => n as u64,
        _ => {
            ctx.out()
                .error("ERR value is out of range, must be positive");
            return;
        }
    };
    let Ok(found) = lookup_set(ctx, key, false) else {
        return;
    };
    let Some(id) = found else {
        ctx.out().set(0);
        return;
    };
    if count == 0 {
        ctx.out().set(0);
        return;
    }
    let size = set_of(ctx, id).map_or(0, Set::len) as u64;
    ctx.notify(notify::SET, "spop", key);
    let max = max_intset(ctx);
    let db = ctx.db();
    if count >= size {
        // The whole set, answered as SUNION of the key answers it; then the key goes.
        let result = {
            let rng = &mut ctx.server.rng;
            let set = set_in(ctx.keyspace.db(db), id);
            let mut seeds = || [rng.gen(), rng.gen(), rng.gen(), rng.gen()];
            union_or_diff(&[set], SetOp::Union, max, &mut seeds)
        };
        let out = ctx.out();
        out.set(result.len());
        for m in result.iter() {
            reply_member(out, m);
        }
        ctx.keyspace.db_mut(db).remove(id);
        ctx.propagate_as(|| propagate::argv(&[b"DEL", key]));
        ctx.notify(notify::GENERIC, "del", key);
        ctx.key_modified(key);
        return;
    }
    let remaining = size - count;
    if remaining.saturating_mul(SPOP_MOVE_STRATEGY_MUL) > count {
        // Few to pop: draw and remove them one at a time.
        ctx.out().set(count as usize);
        let mut srem = propagate::argv(&[b"SREM", key]);
        for _ in 0..count {
            let popped = {
                let rng = &mut ctx.server.rng;
                set_in(ctx.keyspace.db(db), id)
                    .and_then(|s| s.random_member(|n| draw(rng, n)))
                    .map(Member::to_vec)
            };
            let Some(popped) = popped else { break };
            update_set(ctx, id, |s, _| s.remove(&popped));
            ctx.out().bulk(&popped);
            if ctx.server.propagation.enabled() {
                srem.push(popped);
            }
        }
        ctx.propagate_as(|| srem);
    } else {
        spop_keep_few(ctx, key, id, remaining as usize, max);
    }
    ctx.key_modified(key);
}

/// SPOP of most of a set (Redis's case 3): draw the few members that stay, pop and
/// answer every other one in the set's order. Redis rebuilds the rest as a new set
/// (an intset again when it is all integers within the limit); keel removes in
/// place so slot ids, and SSCAN cursors, stay valid, and converts only when Redis's
/// rebuilt set would be an intset.
fn spop_keep_few(ctx: &mut Ctx<'_>, key: &[u8], id: u32, remaining: usize, max_intset: usize) {
    let db = ctx.db();
    let (popped, kept_all_ints): (Vec<Vec<u8>>, bool) = {
        let rng = &mut ctx.server.rng;
        let Some(set) = set_in(ctx.keyspace.db(db), id) else {
            return;
        };
        let mut keep = distinct_positions(set, remaining, rng);
        keep.sort_unstable();
        let mut all_ints = true;
        let mut popped = Vec::with_capacity(set.len().saturating_sub(remaining));
        for (p, m) in set.iter_positions() {
            if keep.binary_search(&p).is_ok() {
                all_ints &= match m {
                    Member::Int(_) => true,
                    Member::Bytes(b) => parse_i64(b).is_some(),
                };
            } else {
                popped.push(m.to_vec());
            }
        }
        (popped, all_ints)
    };
    let out = ctx.out();
    out.set(popped.len());
    for m in &popped {
        out.bulk(m);
    }
    ctx.propagate_as(|| {
        let mut srem = propagate::argv(&[b"SREM", key]);
        srem.extend(popped.iter().cloned());
        srem
    });
    let want_intset = kept_all_ints && remaining <= max_intset;
    update_set(ctx, id, |s, seeds| {
        for m in &popped {
            s.remove(m);
        }
        if want_intset && !s.is_intset() {
            let mut ints = Set::default();
            for m in s.iter() {
                ints.add_member(m, usize::MAX, seeds);
            }
            *s = ints;
        } else if !want_intset && s.is_intset() {
            s.convert(seeds);
        }
    });
}

// ---- SSCAN -------------------------------------------------------------------------

fn sscan(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(cursor) = parse_cursor(argv.get(2)) else {
        ctx.out().error("ERR invalid cursor");
        return;
    };
    let Ok(found) = lookup_set(ctx, argv.get(1), true) else {
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
    let Some(set) = set_in(ctx.keyspace.db(db), id) else {
        return;
    };
    let mut found: Vec<Member<'_>> = Vec::new();
    let next = set.scan(cursor, opts.count, |m| {
        if opts.pattern.is_none() || m.with_bytes(|b| opts.matches(b)) {
            found.push(m);
        }
    });
    let out = &mut client.out;
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(found.len());
    for m in found {
        reply_member(out, m);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use crate::resp::Value;
    use crate::testkit::Kit;

    /// One connected client (conn 1) on a fresh node, speaking RESP2.
    struct Client {
        kit: Kit,
    }

    impl Client {
        fn new() -> Client {
            let mut kit = Kit::new("");
            kit.connect(1);
            Client { kit }
        }

        fn node(&mut self) -> &mut crate::node::Node {
            self.kit.node()
        }

        /// Sends one command (arguments split at spaces); returns the raw reply.
        fn cmd(&mut self, line: &str) -> Vec<u8> {
            let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
            self.kit.cmd_on(0, 1, &args)
        }

        /// The bulk strings of a flat array reply.
        fn members(&mut self, line: &str) -> Vec<String> {
            let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
            let reply = self.kit.cmd_on(0, 1, &args);
            let Ok(Some((Value::Array(items), _))) = crate::resp::decode(&reply) else {
                panic!("{line}: {:?}", String::from_utf8_lossy(&reply));
            };
            items
                .iter()
                .map(|i| {
                    String::from_utf8(i.as_bytes().expect("bulk item").to_vec()).expect("utf-8")
                })
                .collect()
        }

        fn text(&mut self, line: &str) -> String {
            String::from_utf8(self.cmd(line)).expect("utf-8 reply")
        }
    }

    fn fill(c: &mut Client, key: &str, members: impl Iterator<Item = String>) {
        let all: Vec<String> = members.collect();
        let line = format!("SADD {key} {}", all.join(" "));
        assert_eq!(c.text(&line), format!(":{}\r\n", all.len()));
    }

    #[test]
    fn srandmember_counts_membership_and_distinctness() {
        let mut c = Client::new();
        fill(&mut c, "s", (0..300).map(|i| format!("m{i}")));
        fill(&mut c, "i", (0..300).map(|i| i.to_string()));
        c.text("CONFIG SET set-max-intset-entries 1000");
        fill(&mut c, "j", (0..300).map(|i| (i * 3).to_string()));
        for key in ["s", "i", "j"] {
            let all: BTreeSet<String> = c.members(&format!("SMEMBERS {key}")).into_iter().collect();
            assert_eq!(all.len(), 300);
            // Case 1 (repeats), 3 (count*3 > size) and 4 (sparse draws).
            for count in [1i64, 5, 99, 100, 101, 299, -1, -50, -1000] {
                let got = c.members(&format!("SRANDMEMBER {key} {count}"));
                assert_eq!(got.len() as u64, count.unsigned_abs(), "{key} {count}");
                assert!(got.iter().all(|m| all.contains(m)));
                if count > 0 {
                    assert_eq!(got.iter().collect::<BTreeSet<_>>().len(), got.len());
                }
            }
            // Repeats over many draws reach most members (uniformity, coarsely).
            let many: BTreeSet<String> = c
                .members(&format!("SRANDMEMBER {key} -3000"))
                .into_iter()
                .collect();
            assert!(many.len() > 250, "{key}: only {} distinct", many.len());
        }
        assert_eq!(c.text("SRANDMEMBER j 0"), "*0\r\n");
    }

    #[test]
    fn spop_strategies_pop_what_they_return() {
        for (key_members, count) in [(20usize, 3u64), (20, 17), (20, 19), (600, 100), (600, 550)] {
            for ints in [false, true] {
                let mut c = Client::new();
                let name = |i: usize| if ints { i.to_string() } else { format!("x{i}") };
                fill(&mut c, "s", (0..key_members).map(name));
                let mut left: BTreeSet<String> = (0..key_members).map(name).collect();
                let popped = c.members(&format!("SPOP s {count}"));
                assert_eq!(popped.len() as u64, count);
                for m in &popped {
                    assert!(left.remove(m), "{m} popped twice or never there");
                }
                let rest: BTreeSet<String> = c.members("SMEMBERS s").into_iter().collect();
                assert_eq!(rest, left);
                // Redis rebuilds the rest of a mostly popped set: all integers within
                // the limit make it an intset again.
                let enc = c.text("OBJECT ENCODING s");
                let rebuilt = (key_members as u64 - count) * 5 <= count;
                let small = key_members <= 512 || rebuilt && left.len() <= 512;
                let want = if ints && small { "intset" } else { "hashtable" };
                if ints || key_members > 512 {
                    let want = format!("${}\r\n{want}\r\n", want.len());
                    assert_eq!(enc, want, "{key_members} {count} {ints}");
                }
            }
        }
    }

    #[test]
    fn spop_keeping_few_turns_an_all_integer_table_into_an_intset() {
        let mut c = Client::new();
        c.text("CONFIG SET set-max-intset-entries 4");
        fill(&mut c, "s", (0..30).map(|i| i.to_string()));
        assert_eq!(c.text("OBJECT ENCODING s"), "$9\r\nhashtable\r\n");
        assert_eq!(c.members("SPOP s 27").len(), 27);
        assert_eq!(c.text("OBJECT ENCODING s"), "$6\r\nintset\r\n");
        let rest = c.members("SMEMBERS s");
        let mut sorted = rest.clone();
        sorted.sort_by_key(|m| m.parse::<i64>().unwrap_or(0));
        assert_eq!(rest, sorted, "an intset answers in order");
        // A limit lowered under the remaining count keeps it a table.
        c.text("DEL s");
        c.text("CONFIG SET set-max-intset-entries 1000");
        fill(&mut c, "s", (0..60).map(|i| i.to_string()));
        c.text("CONFIG SET set-max-intset-entries 2");
        assert_eq!(c.members("SPOP s 55").len(), 55);
        assert_eq!(c.text("OBJECT ENCODING s"), "$9\r\nhashtable\r\n");
        assert_eq!(c.text("SCARD s"), ":5\r\n");
    }

    #[test]
    fn random_picks_follow_the_node_seed() {
        let run = || {
            let mut c = Client::new();
            fill(&mut c, "s", (0..100).map(|i| format!("m{i}")));
            let mut replies = Vec::new();
            for line in [
                "SRANDMEMBER s",
                "SRANDMEMBER s 7",
                "SRANDMEMBER s -7",
                "SPOP s",
                "SPOP s 4",
            ] {
                replies.push(c.cmd(line));
            }
            replies
        };
        assert_eq!(run(), run());
    }

    #[test]
    fn spop_last_member_deletes_the_key() {
        let mut c = Client::new();
        c.text("SADD s a");
        assert_eq!(c.text("SPOP s"), "$1\r\na\r\n");
        assert_eq!(c.text("EXISTS s"), ":0\r\n");
        assert_eq!(c.text("SPOP s"), "$-1\r\n");
        c.text("SADD s 1 2");
        assert_eq!(c.members("SPOP s 2"), vec!["1", "2"]);
        assert_eq!(c.text("EXISTS s"), ":0\r\n");
    }

    #[test]
    fn memory_is_accounted_and_returned() {
        let mut c = Client::new();
        // Keys created once first, so the keyspace's own index is already grown.
        c.text("MSET anchor x s x i x u x");
        c.text("DEL s i u");
        let used = |c: &mut Client| c.node().keyspace().used_bytes();
        let start = used(&mut c);
        fill(&mut c, "s", (0..2000).map(|i| format!("member-{i:016}")));
        fill(&mut c, "i", (0..100).map(|i| i.to_string()));
        assert!(used(&mut c) > start + 2000 * 24);
        c.text("SUNIONSTORE u s i");
        c.text("DEL u");
        c.text("SPOP i 100");
        for i in 0..2000 {
            c.text(&format!("SREM s member-{i:016}"));
        }
        assert_eq!(c.text("EXISTS s"), ":0\r\n");
        assert_eq!(used(&mut c), start);
    }

    #[cfg(feature = "mutants")]
    #[test]
    fn srem_mutant_counts_missing_members() {
        let mut c = Client::new();
        c.text("SADD s a b");
        c.node()
            .set_mutant(Some(crate::mutants::Mutant::SremCountsMissingMember));
        assert_eq!(c.text("SREM s a nope"), ":2\r\n");
        c.node().set_mutant(None);
        assert_eq!(c.text("SREM s b nope"), ":1\r\n");
    }
}
