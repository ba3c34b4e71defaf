//! Hash commands (Redis's `t_hash.c`): HSET and friends, counters, HRANDFIELD, HSCAN.
//! Replies, error texts and encoding conversions as Redis 7.0; an emptied hash is
//! deleted; nothing here panics on client input.

use crate::notify;
use rand::Rng;
use std::borrow::Cow;

use super::keys::parse_cursor;
use super::{arg_i64, cmd, delete_if_empty, errors, Argv, CommandSpec, Ctx};
use crate::longdouble;
use crate::resp::{Proto, ReplyBuf};
use crate::types::hash::{Pair, SetOutcome};
use crate::types::{Hash, HashLimits, Value};
use crate::util::{i64_to_bytes, parse_i64};

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("hdel", -3, [WRITE, FAST], hdel),
    cmd!("hexists", 3, [READONLY, FAST], hexists),
    cmd!("hget", 3, [READONLY, FAST], hget),
    cmd!("hgetall", 2, [READONLY], hgetall),
    cmd!("hincrby", 4, [WRITE, DENYOOM, FAST], hincrby),
    cmd!("hincrbyfloat", 4, [WRITE, DENYOOM, FAST], hincrbyfloat),
    cmd!("hkeys", 2, [READONLY], hkeys),
    cmd!("hlen", 2, [READONLY, FAST], hlen),
    cmd!("hmget", -3, [READONLY, FAST], hmget),
    cmd!("hmset", -4, [WRITE, DENYOOM, FAST], hmset),
    cmd!("hrandfield", -2, [READONLY], hrandfield),
    cmd!("hscan", -3, [READONLY], hscan),
    cmd!("hset", -4, [WRITE, DENYOOM, FAST], hset),
    cmd!("hsetnx", 4, [WRITE, DENYOOM, FAST], hsetnx),
    cmd!("hstrlen", 3, [READONLY, FAST], hstrlen),
    cmd!("hvals", 2, [READONLY], hvals),
];

/// The node's `hash-max-listpack-*` thresholds.
fn limits(ctx: &Ctx<'_>) -> HashLimits {
    let s = ctx.server.config.settings();
    HashLimits {
        max_listpack_entries: s.hash_max_listpack_entries,
        max_listpack_value_bytes: s.hash_max_listpack_value_bytes,
    }
}

/// A live hash key; reads count keyspace hits and misses. `Err(())`: the key holds
/// another type (WRONGTYPE written).
fn lookup_hash(ctx: &mut Ctx<'_>, key: &[u8], read: bool) -> Result<Option<u32>, ()> {
    super::lookup_typed(ctx, key, "hash", read)
}

fn hash_of<'c>(ctx: &'c Ctx<'_>, id: u32) -> Option<&'c Hash> {
    match ctx.keyspace.value(ctx.client.db, id) {
        Some(Value::Hash(h)) => Some(h),
        _ => None,
    }
}

/// A hash key for writing, created empty when missing (Redis's
/// `hashTypeLookupWriteOrCreate`); the caller writes at least one field into a new one.
fn lookup_or_create(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<u32, ()> {
    match lookup_hash(ctx, key, false)? {
        Some(id) => Ok(id),
        None => {
            let db = ctx.db();
            Ok(ctx
                .keyspace
                .set_found(db, None, key, Value::Hash(Hash::default()), false))
        }
    }
}

/// Runs `f` on the hash in slot `id` with memory kept accounted; `seeds` draws the
/// keys of a table built by a conversion from the node's RNG.
fn update_hash<R>(
    ctx: &mut Ctx<'_>,
    id: u32,
    f: impl FnOnce(&mut Hash, &mut dyn FnMut() -> [u64; 4]) -> R,
) -> Option<R> {
    super::update_with_seeds(ctx, id, |v, seeds| match v {
        Value::Hash(h) => Some(f(h, seeds)),
        _ => None,
    })
    .flatten()
}

fn set_field(
    ctx: &mut Ctx<'_>,
    id: u32,
    field: &[u8],
    value: &[u8],
    limits: HashLimits,
) -> Option<SetOutcome> {
    let lose = ctx
        .server
        .mutants
        .is(crate::mutants::Mutant::HashConvertLosesField);
    update_hash(ctx, id, |h, seeds| {
        let packed = lose && h.encoding_name() == "listpack";
        let outcome = h.set(field, value, limits, seeds);
        if packed && h.encoding_name() == "hashtable" {
            // Planted: the conversion dropped the first field it copied.
            let first = h.iter().map(|(f, _)| f.to_vec()).find(|f| f != field);
            if let Some(f) = first {
                h.remove(&f);
            }
        }
        outcome
    })
}

fn hset_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, name: &str) -> Option<i64> {
    if !argv.len().is_multiple_of(2) {
        ctx.out().error(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
        return None;
    }
    let id = lookup_or_create(ctx, argv.get(1)).ok()?;
    let limits = limits(ctx);
    let mut created = 0i64;
    let mut i = 2;
    while i + 1 < argv.len() {
        let outcome = set_field(ctx, id, argv.get(i), argv.get(i + 1), limits);
        // Planted: updated fields counted as created.
        if outcome == Some(SetOutcome::Created)
            || (outcome.is_some()
                && ctx
                    .server
                    .mutants
                    .is(crate::mutants::Mutant::HsetCountsUpdates))
        {
            created += 1;
        }
        i += 2;
    }
    ctx.key_modified(argv.get(1));
    ctx.notify(notify::HASH, "hset", argv.get(1));
    Some(created)
}

fn hset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if let Some(n) = hset_generic(ctx, argv, "hset") {
        ctx.out().int(n);
    }
}

fn hmset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if hset_generic(ctx, argv, "hmset").is_some() {
        ctx.out().ok();
    }
}

fn hsetnx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(id) = lookup_or_create(ctx, argv.get(1)) else {
        return;
    };
    if hash_of(ctx, id).is_some_and(|h| h.get(argv.get(2)).is_some()) {
        ctx.out().int(0);
        return;
    }
    set_field(ctx, id, argv.get(2), argv.get(3), limits(ctx));
    ctx.key_modified(argv.get(1));
    ctx.notify(notify::HASH, "hset", argv.get(1));
    ctx.out().int(1);
}

fn hget(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(found) = lookup_hash(ctx, argv.get(1), true) else {
        return;
    };
    let value = found.and_then(|id| hash_of(ctx, id)?.get(argv.get(2)).map(Cow::into_owned));
    match value {
        Some(v) => ctx.out().bulk(&v),
        None => ctx.out().null(),
    }
}

fn hmget(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(found) = lookup_hash(ctx, argv.get(1), true) else {
        return;
    };
    let db = ctx.db();
    let Ctx { client, .. } = ctx;
    let hash = match found.and_then(|id| ctx.keyspace.value(db, id)) {
        Some(Value::Hash(h)) => Some(h),
        _ => None,
    };
    let out = &mut client.out;
    out.array(argv.len() - 2);
    for field in argv.iter().skip(2) {
        if hash
            .and_then(|h| h.with_value(field, |v| out.bulk(v)))
            .is_none()
        {
            out.null();
        }
    }
}

fn hdel(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(found) = lookup_hash(ctx, argv.get(1), false) else {
        return;
    };
    let Some(id) = found else {
        ctx.out().int(0);
        return;
    };
    let mut deleted = 0i64;
    let mut key_removed = false;
    for field in argv.iter().skip(2) {
        if update_hash(ctx, id, |h, _| h.remove(field)) == Some(true) {
            deleted += 1;
            if delete_if_empty(ctx, id) {
                key_removed = true;
                break;
            }
        }
    }
    if deleted > 0 {
        let key = argv.get(1);
        ctx.key_modified(key);
        ctx.notify(notify::HASH, "hdel", key);
        if key_removed {
            ctx.notify(notify::GENERIC, "del", key);
        }
    }
    ctx.out().int(deleted);
}

fn hlen(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(found) = lookup_hash(ctx, argv.get(1), true) else {
        return;
    };
    let n = found.and_then(|id| hash_of(ctx, id)).map_or(0, Hash::len);
    ctx.out().int(n as i64);
}

fn hstrlen(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(found) = lookup_hash(ctx, argv.get(1), true) else {
        return;
    };
    let n = found
        .and_then(|id| hash_of(ctx, id)?.value_len(argv.get(2)))
        .unwrap_or(0);
    ctx.out().int(n as i64);
}

fn hexists(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(found) = lookup_hash(ctx, argv.get(1), true) else {
        return;
    };
    let exists = found
        .and_then(|id| hash_of(ctx, id)?.value_len(argv.get(2)))
        .is_some();
    ctx.out().int(i64::from(exists));
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Parts {
    Keys,
    Values,
    Both,
}

fn getall_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, parts: Parts) {
    let Ok(found) = lookup_hash(ctx, argv.get(1), true) else {
        return;
    };
    let db = ctx.db();
    let Ctx { client, .. } = ctx;
    let hash = match found.and_then(|id| ctx.keyspace.value(db, id)) {
        Some(Value::Hash(h)) => Some(h),
        _ => None,
    };
    let out = &mut client.out;
    let len = hash.map_or(0, |h| h.len());
    if parts == Parts::Both {
        out.map(len);
    } else {
        out.array(len);
    }
    if let Some(h) = hash {
        h.for_each_pair(|f, v| {
            if parts != Parts::Values {
                out.bulk(f);
            }
            if parts != Parts::Keys {
                out.bulk(v);
            }
        });
    }
}

fn hgetall(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    getall_generic(ctx, argv, Parts::Both);
}

fn hkeys(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    getall_generic(ctx, argv, Parts::Keys);
}

fn hvals(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    getall_generic(ctx, argv, Parts::Values);
}

fn hincrby(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(by) = arg_i64(ctx, argv, 3) else {
        return;
    };
    let Ok(found) = lookup_hash(ctx, argv.get(1), false) else {
        return;
    };
    let field = argv.get(2);
    let current = match found.and_then(|id| hash_of(ctx, id)?.get(field)) {
        None => 0,
        Some(v) => match parse_i64(&v) {
            Some(n) => n,
            None => {
                ctx.out().error("ERR hash value is not an integer");
                return;
            }
        },
    };
    let Some(next) = current.checked_add(by) else {
        ctx.out().error(errors::OVERFLOW);
        return;
    };
    let Ok(id) = lookup_or_create(ctx, argv.get(1)) else {
        return;
    };
    set_field(ctx, id, field, &i64_to_bytes(next), limits(ctx));
    ctx.key_modified(argv.get(1));
    ctx.notify(notify::HASH, "hincrby", argv.get(1));
    ctx.out().int(next);
}

/// HINCRBYFLOAT in x87 80-bit precision, printed as Redis prints long doubles (see
/// `longdouble`), so replies and stored texts match byte for byte.
fn hincrbyfloat(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let incr = argv.get(3);
    match longdouble::parse(incr) {
        None => {
            ctx.out().error(errors::NOT_FLOAT);
            return;
        }
        Some(longdouble::Parsed::Infinite { .. }) => {
            ctx.out().error("ERR value is NaN or Infinity");
            return;
        }
        Some(longdouble::Parsed::Finite(_)) => {}
    }
    let Ok(found) = lookup_hash(ctx, argv.get(1), false) else {
        return;
    };
    let field = argv.get(2);
    let current = found
        .and_then(|id| hash_of(ctx, id)?.get(field))
        .map(Cow::into_owned);
    if current
        .as_deref()
        .is_some_and(|c| longdouble::parse(c).is_none())
    {
        ctx.out().error("ERR hash value is not a float");
        return;
    }
    let text = match longdouble::incr_by_float(current.as_deref(), incr) {
        Ok(text) => text,
        Err(longdouble::IncrError::NotAFloat) => {
            ctx.out().error("ERR hash value is not a float");
            return;
        }
        Err(longdouble::IncrError::NanOrInfinity) => {
            ctx.out()
                .error("ERR increment would produce NaN or Infinity");
            return;
        }
    };
    let Ok(id) = lookup_or_create(ctx, argv.get(1)) else {
        return;
    };
    set_field(ctx, id, field, text.as_bytes(), limits(ctx));
    ctx.propagate_as(|| crate::propagate::argv(&[b"HSET", argv.get(1), field, text.as_bytes()]));
    ctx.key_modified(argv.get(1));
    ctx.notify(notify::HASH, "hincrbyfloat", argv.get(1));
    ctx.out().bulk(text.as_bytes());
}

/// HRANDFIELD with a negative count answers at most this many draws. Redis has no
/// cap and would build a reply of any size; keel bounds the work of one command.
pub const HRANDFIELD_MAX_REPEATS: usize = 10_000_000;

/// The header of `n` field/value pairs as HRANDFIELD replies: flat, or (RESP3
/// WITHVALUES) an array of 2-arrays.
fn reply_pairs_header(out: &mut ReplyBuf, n: usize, with_values: bool) {
    let nested = with_values && out.proto == Proto::Resp3;
    out.array(if with_values && !nested { n * 2 } else { n });
}

fn reply_pair(out: &mut ReplyBuf, field: &[u8], value: &[u8], with_values: bool) {
    if with_values && out.proto == Proto::Resp3 {
        out.array(2);
    }
    out.bulk(field);
    if with_values {
        out.bulk(value);
    }
}

fn hrandfield(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if argv.len() == 2 {
        let Ok(found) = lookup_hash(ctx, argv.get(1), true) else {
            return;
        };
        let Ctx { client, .. } = ctx;
        let rng = &mut ctx.server.rng;
        let hash = match found.and_then(|id| ctx.keyspace.value(client.db, id)) {
            Some(Value::Hash(h)) => Some(h),
            _ => None,
        };
        match hash.and_then(|h| h.random_pair(|n| rng.gen_range(0..n.max(1)))) {
            Some((f, _)) => client.out.bulk(&f),
            None => client.out.null(),
        }
        return;
    }
    let Some((count, with_values)) = super::parse_random_count(ctx, argv, Some("withvalues"))
    else {
        return;
    };
    let Ok(found) = lookup_hash(ctx, argv.get(1), true) else {
        return;
    };
    let Ctx { client, .. } = ctx;
    let rng = &mut ctx.server.rng;
    let hash = match found.and_then(|id| ctx.keyspace.value(client.db, id)) {
        Some(Value::Hash(h)) if count != 0 => h,
        _ => {
            client.out.array(0);
            return;
        }
    };
    let size = hash.len();
    let wanted = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    let out = &mut client.out;
    if count < 0 {
        // Repeats allowed: independent draws, written as they are drawn. A listpack is
        // indexed once so each draw is O(1).
        let wanted = wanted.min(HRANDFIELD_MAX_REPEATS);
        let packed: Option<Vec<Pair<'_>>> =
            matches!(hash, Hash::Packed(_)).then(|| hash.iter().collect());
        reply_pairs_header(out, wanted, with_values);
        for _ in 0..wanted {
            match &packed {
                Some(all) => {
                    let pair = all.get(rng.gen_range(0..all.len().max(1)));
                    let (f, v) = pair.map_or((&b""[..], &b""[..]), |(f, v)| (&f[..], &v[..]));
                    reply_pair(out, f, v, with_values);
                }
                None => {
                    let pair = hash.random_pair(|n| rng.gen_range(0..n.max(1)));
                    let (f, v) = pair.unwrap_or_default();
                    reply_pair(out, &f, &v, with_values);
                }
            }
        }
        return;
    }
    let pairs: Vec<Pair<'_>> = if wanted >= size {
        hash.iter().collect()
    } else if matches!(hash, Hash::Packed(_)) || wanted.saturating_mul(3) > size {
        let all: Vec<Pair<'_>> = hash.iter().collect();
        distinct_sample(&all, wanted, |n| rng.gen_range(0..n.max(1)))
    } else {
        // Few of many (Redis's case 4): random draws, repeats skipped, O(count) —
        // copying a million-field table to answer HRANDFIELD h 3 is what Redis avoids.
        // Each draw is new with probability at least 2/3, so this ends.
        let mut seen: std::collections::BTreeSet<Vec<u8>> = std::collections::BTreeSet::new();
        let mut picked: Vec<Pair<'_>> = Vec::with_capacity(wanted);
        while picked.len() < wanted {
            let Some((f, v)) = hash.random_pair(|n| rng.gen_range(0..n.max(1))) else {
                break;
            };
            if seen.insert(f.to_vec()) {
                picked.push((f, v));
            }
        }
        picked
    };
    reply_pairs_header(out, pairs.len(), with_values);
    for (f, v) in pairs {
        reply_pair(out, &f, &v, with_values);
    }
}

/// `wanted` distinct items of `all` (wanted < all.len()), kept in their order.
fn distinct_sample<T: Clone>(
    all: &[T],
    wanted: usize,
    mut draw: impl FnMut(usize) -> usize,
) -> Vec<T> {
    let mut keep = vec![false; all.len()];
    let mut picked = 0;
    // Partial Fisher-Yates over positions.
    let mut positions: Vec<usize> = (0..all.len()).collect();
    while picked < wanted && picked < positions.len() {
        let j = picked + draw(positions.len() - picked);
        positions.swap(picked, j);
        if let Some(k) = positions.get(picked).and_then(|&p| keep.get_mut(p)) {
            *k = true;
        }
        picked += 1;
    }
    all.iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(item, _)| item.clone())
        .collect()
}

fn hscan(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(cursor) = parse_cursor(argv.get(2)) else {
        ctx.out().error("ERR invalid cursor");
        return;
    };
    let Ok(found) = lookup_hash(ctx, argv.get(1), true) else {
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
    let Some(Value::Hash(hash)) = ctx.keyspace.value(db, id) else {
        return;
    };
    let mut found: Vec<Pair<'_>> = Vec::new();
    let next = hash.scan(cursor, opts.count, |f, v| {
        if opts.matches(&f) {
            found.push((f, v));
        }
    });
    let out = &mut client.out;
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(found.len() * 2);
    for (f, v) in found {
        out.bulk(&f);
        out.bulk(&v);
    }
}
