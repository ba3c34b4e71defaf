//! Generic keyspace commands (Redis's `db.c`, `expire.c`, `object.c`): deletion,
//! existence, TTLs, renames, copies, moves, scans and database-wide operations.

use super::{arg_i64, cmd, errors, reply_help, Argv, CommandSpec, Ctx};
use crate::glob::glob_match;
use crate::notify;
use crate::types::{StrValue, Value};
use crate::util::parse_i64;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("copy", -3, [WRITE, DENYOOM], copy),
    cmd!("dbsize", 1, [READONLY, FAST], dbsize),
    cmd!("del", -2, [WRITE], del),
    cmd!("exists", -2, [READONLY, FAST], exists),
    cmd!("expire", -3, [WRITE, FAST], expire),
    cmd!("expireat", -3, [WRITE, FAST], expireat),
    cmd!("expiretime", 2, [READONLY, FAST], expiretime),
    cmd!("flushall", -1, [WRITE], flushall),
    cmd!("flushdb", -1, [WRITE], flushdb),
    cmd!("keys", 2, [READONLY], keys),
    cmd!("move", 3, [WRITE, FAST], move_key),
    cmd!("object", -2, [], object_help, subcommands: OBJECT_SUBCOMMANDS),
    cmd!("persist", 2, [WRITE, FAST], persist),
    cmd!("pexpire", -3, [WRITE, FAST], pexpire),
    cmd!("pexpireat", -3, [WRITE, FAST], pexpireat),
    cmd!("pexpiretime", 2, [READONLY, FAST], pexpiretime),
    cmd!("pttl", 2, [READONLY, FAST], pttl),
    cmd!("randomkey", 1, [READONLY], randomkey),
    cmd!("rename", 3, [WRITE], rename),
    cmd!("renamenx", 3, [WRITE, FAST], renamenx),
    cmd!("scan", -2, [READONLY], scan),
    cmd!("swapdb", 3, [WRITE, FAST], swapdb),
    cmd!("touch", -2, [READONLY, FAST], touch),
    cmd!("ttl", 2, [READONLY, FAST], ttl),
    cmd!("type", 2, [READONLY, FAST], type_cmd),
    cmd!("unlink", -2, [WRITE, FAST], del),
];

static OBJECT_SUBCOMMANDS: &[CommandSpec] = &[
    cmd!("encoding", 3, [READONLY], object_encoding),
    cmd!("freq", 3, [READONLY], object_freq),
    cmd!("help", 2, [LOADING, STALE], object_help),
    cmd!("idletime", 3, [READONLY], object_idletime),
    cmd!("refcount", 3, [READONLY], object_refcount),
];

fn lookup(ctx: &mut Ctx<'_>, key: &[u8]) -> Option<u32> {
    let db = ctx.db();
    ctx.keyspace.lookup(db, key, ctx.now.wall_ms)
}

fn del(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    let mut deleted = 0i64;
    for key in argv.iter().skip(1) {
        if ctx.keyspace.delete(db, key, now_ms) {
            ctx.key_modified(key);
            ctx.notify(notify::GENERIC, "del", key);
            deleted += 1;
        } else if ctx
            .server
            .mutants
            .is(crate::mutants::Mutant::DelCountsMissingKey)
        {
            // Planted: a missing key counted as deleted.
            deleted += 1;
        }
    }
    ctx.out().int(deleted);
}

fn exists(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    // Planted: EXISTS looks in the table without asking whether the key expired.
    let raw = ctx
        .server
        .mutants
        .is(crate::mutants::Mutant::ExistsSeesExpired);
    let db = ctx.db();
    let n = (1..argv.len())
        .filter(|&i| {
            if raw {
                ctx.keyspace.db(db).find(argv.get(i)).is_some()
            } else {
                lookup(ctx, argv.get(i)).is_some()
            }
        })
        .count();
    ctx.out().int(n as i64);
}

fn touch(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let db = ctx.db();
    let (now_ms, secs) = (ctx.now.wall_ms, ctx.now.mono_secs());
    let n = argv
        .iter()
        .skip(1)
        .filter(|k| ctx.keyspace.lookup_touch(db, k, now_ms, secs).is_some())
        .count();
    ctx.out().int(n as i64);
}

fn type_cmd(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let db = ctx.db();
    let name = lookup(ctx, argv.get(1))
        .and_then(|id| ctx.keyspace.value(db, id))
        .map_or("none", Value::type_name);
    ctx.out().simple(name);
}

fn keys(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let pattern = argv.get(1);
    let all = pattern == b"*";
    let now_ms = ctx.now.wall_ms;
    let db = ctx.keyspace.db(ctx.client.db);
    let found: Vec<&[u8]> = db
        .iter()
        .filter(|(_, e)| !e.is_expired(now_ms))
        .map(|(_, e)| e.key.as_bytes())
        .filter(|k| all || glob_match(pattern, k, false))
        .collect();
    let out = &mut ctx.client.out;
    out.array(found.len());
    for k in found {
        out.bulk(k);
    }
}

/// Redis's `parseScanCursorOrReply`, which is C's `strtoul`: an optional sign
/// (a negative cursor wraps around), decimal digits, no spaces; "" reads as 0;
/// overflow is an error.
pub(crate) fn parse_cursor(raw: &[u8]) -> Option<u64> {
    let (neg, digits) = match raw.split_first() {
        None => return Some(0),
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        Some(_) => (false, raw),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

fn scan(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(cursor) = parse_cursor(argv.get(1)) else {
        ctx.out().error("ERR invalid cursor");
        return;
    };
    let Some(opts) = super::parse_scan_options(ctx, argv, 2, true) else {
        return;
    };
    let now_ms = ctx.now.wall_ms;
    let db_index = ctx.db();
    let db = ctx.keyspace.db(db_index);
    let mut found: Vec<Vec<u8>> = Vec::new();
    let mut expired: Vec<u32> = Vec::new();
    let next = db.scan(cursor, opts.count, |id, e| {
        if e.is_expired(now_ms) {
            expired.push(id);
            return;
        }
        let k = e.key.as_bytes();
        if !opts.matches(k) {
            return;
        }
        if opts
            .type_filter
            .is_some_and(|t| !t.eq_ignore_ascii_case(e.value.type_name().as_bytes()))
        {
            return;
        }
        found.push(k.to_vec());
    });
    for id in expired {
        ctx.keyspace.remove_expired(db_index, id);
    }
    let out = ctx.out();
    out.array(2);
    out.bulk(next.to_string().as_bytes());
    out.array(found.len());
    for k in &found {
        out.bulk(k);
    }
}

fn randomkey(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    let budget = ctx.keyspace.db(db).len() + 1;
    for _ in 0..budget {
        let picked = {
            let rng = &mut ctx.server.rng;
            ctx.keyspace
                .db(db)
                .random_id(|n| rand::Rng::gen_range(rng, 0..n.max(1)))
        };
        let Some(id) = picked else { break };
        let expired = ctx
            .keyspace
            .db(db)
            .get(id)
            .is_some_and(|e| e.is_expired(now_ms));
        if expired {
            ctx.keyspace.remove_expired(db, id);
            continue;
        }
        let key = ctx
            .keyspace
            .db(db)
            .get(id)
            .map(|e| e.key.as_bytes().to_vec())
            .unwrap_or_default();
        ctx.out().bulk(&key);
        return;
    }
    ctx.out().null();
}

fn rename_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, nx: bool) {
    let (src, dst) = (argv.get(1), argv.get(2));
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    let Some(src_id) = lookup(ctx, src) else {
        ctx.out().error(errors::NO_SUCH_KEY);
        return;
    };
    if src == dst {
        if nx {
            ctx.out().int(0);
        } else {
            ctx.out().ok();
        }
        return;
    }
    if let Some(dst_id) = ctx.keyspace.lookup(db, dst, now_ms) {
        if nx {
            ctx.out().int(0);
            return;
        }
        ctx.keyspace.db_mut(db).remove(dst_id);
    }
    let d = ctx.keyspace.db_mut(db);
    if let Some(entry) = d.remove(src_id) {
        let id = d.insert(dst, entry.value);
        d.touch(id, entry.access);
        if entry.expire_at_ms != 0 {
            d.set_expire(id, entry.expire_at_ms);
        }
    }
    ctx.notify(notify::NEW, "new", dst);
    ctx.key_modified(src);
    ctx.key_modified(dst);
    ctx.notify(notify::GENERIC, "rename_from", src);
    ctx.notify(notify::GENERIC, "rename_to", dst);
    if nx {
        ctx.out().int(1);
    } else {
        ctx.out().ok();
    }
}

fn rename(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    rename_generic(ctx, argv, false);
}

fn renamenx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    rename_generic(ctx, argv, true);
}

/// Redis's `getIntFromObjectOrReply` for database indexes.
/// Redis's `getIntFromObjectOrReply`: `error` (or the generic texts) for a value that
/// is not an integer or falls outside i32.
pub(crate) fn arg_i32(ctx: &mut Ctx<'_>, raw: &[u8], error: Option<&str>) -> Option<i32> {
    let Some(v) = parse_i64(raw) else {
        ctx.out().error(error.unwrap_or(errors::NOT_INTEGER));
        return None;
    };
    match i32::try_from(v) {
        Ok(v) => Some(v),
        Err(_) => {
            ctx.out().error(error.unwrap_or(
                "ERR value is out of range, value must between -2147483648 and 2147483647",
            ));
            None
        }
    }
}

fn db_index(ctx: &Ctx<'_>, id: i64) -> Option<usize> {
    (id >= 0 && (id as usize) < ctx.keyspace.dbs.len()).then_some(id as usize)
}

fn copy(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let mut replace = false;
    let src_db = ctx.db();
    let mut dst_db = src_db;
    let mut j = 3;
    while j < argv.len() {
        if argv.is(j, "replace") {
            replace = true;
        } else if argv.is(j, "db") && j + 1 < argv.len() {
            let Some(id) = arg_i64(ctx, argv, j + 1) else {
                return;
            };
            let Some(idx) = db_index(ctx, id) else {
                ctx.out().error(errors::DB_OUT_OF_RANGE);
                return;
            };
            dst_db = idx;
            j += 1;
        } else {
            ctx.out().error(errors::SYNTAX);
            return;
        }
        j += 1;
    }
    let (src, dst) = (argv.get(1), argv.get(2));
    if src_db == dst_db && src == dst {
        ctx.out().error(errors::SAME_OBJECT);
        return;
    }
    let now_ms = ctx.now.wall_ms;
    let Some(src_id) = ctx.keyspace.lookup(src_db, src, now_ms) else {
        ctx.out().int(0);
        return;
    };
    let Some(entry) = ctx.keyspace.db(src_db).get(src_id).map(|e| e.to_entry()) else {
        ctx.out().int(0);
        return;
    };
    if let Some(dst_id) = ctx.keyspace.lookup(dst_db, dst, now_ms) {
        if !replace {
            ctx.out().int(0);
            return;
        }
        ctx.keyspace.db_mut(dst_db).remove(dst_id);
    }
    let access = ctx.keyspace.fresh_access();
    let d = ctx.keyspace.db_mut(dst_db);
    let id = d.insert(dst, entry.value);
    d.touch(id, access);
    if entry.expire_at_ms != 0 {
        d.set_expire(id, entry.expire_at_ms);
    }
    ctx.notify_in(dst_db, notify::NEW, "new", dst);
    ctx.key_modified_in(dst_db, dst);
    ctx.notify_in(dst_db, notify::GENERIC, "copy_to", dst);
    ctx.out().int(1);
}

fn move_key(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(target) = arg_i32(ctx, argv.get(2), None) else {
        return;
    };
    let Some(dst_db) = db_index(ctx, target as i64) else {
        ctx.out().error(errors::DB_OUT_OF_RANGE);
        return;
    };
    let src_db = ctx.db();
    if src_db == dst_db {
        ctx.out().error(errors::SAME_OBJECT);
        return;
    }
    let key = argv.get(1);
    let now_ms = ctx.now.wall_ms;
    let Some(src_id) = ctx.keyspace.lookup(src_db, key, now_ms) else {
        ctx.out().int(0);
        return;
    };
    if ctx.keyspace.lookup(dst_db, key, now_ms).is_some() {
        ctx.out().int(0);
        return;
    }
    if let Some(entry) = ctx.keyspace.db_mut(src_db).remove(src_id) {
        let d = ctx.keyspace.db_mut(dst_db);
        let id = d.insert(key, entry.value);
        d.touch(id, entry.access);
        if entry.expire_at_ms != 0 {
            d.set_expire(id, entry.expire_at_ms);
        }
    }
    ctx.notify_in(dst_db, notify::NEW, "new", key);
    ctx.key_modified_in(src_db, key);
    ctx.key_modified_in(dst_db, key);
    ctx.notify_in(src_db, notify::GENERIC, "move_from", key);
    ctx.notify_in(dst_db, notify::GENERIC, "move_to", key);
    ctx.out().int(1);
}

fn dbsize(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let n = ctx.keyspace.db(ctx.client.db).len();
    ctx.out().int(n as i64);
}

/// `FLUSHDB`/`FLUSHALL` take an optional SYNC or ASYNC and nothing else.
fn flush_args_ok(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> bool {
    let ok = argv.len() == 1 || (argv.len() == 2 && (argv.is(1, "sync") || argv.is(1, "async")));
    if !ok {
        ctx.out().error(errors::SYNTAX);
    }
    ok
}

fn flushdb(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if !flush_args_ok(ctx, argv) {
        return;
    }
    let db = ctx.db();
    ctx.db_modified(db, None);
    ctx.keyspace.flush_db(db);
    ctx.out().ok();
}

fn flushall(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if !flush_args_ok(ctx, argv) {
        return;
    }
    // Planted: database 1 is skipped.
    let kept = ctx
        .server
        .mutants
        .is(crate::mutants::Mutant::FlushallKeepsDb1)
        .then_some(1);
    // Planted: no watched key is touched.
    let touch = !ctx
        .server
        .mutants
        .is(crate::mutants::Mutant::FlushallSkipsWatchTouch);
    for db in (0..ctx.keyspace.dbs.len()).filter(|&d| touch && Some(d) != kept) {
        ctx.db_modified(db, None);
    }
    for db in (0..ctx.keyspace.dbs.len()).filter(|&d| Some(d) != kept) {
        ctx.keyspace.flush_db(db);
    }
    // Redis's flushAllDataAndResetRDB: with save points set, the empty dataset is
    // saved at once (a running BGSAVE is killed first).
    if !ctx.server.config.settings().save_points.is_empty() {
        ctx.server
            .persist
            .requests
            .push(crate::server::PersistRequest::FlushallSave);
    }
    ctx.out().ok();
}

fn swapdb(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(a) = arg_i32(ctx, argv.get(1), Some("ERR invalid first DB index")) else {
        return;
    };
    let Some(b) = arg_i32(ctx, argv.get(2), Some("ERR invalid second DB index")) else {
        return;
    };
    let (Some(a), Some(b)) = (db_index(ctx, a as i64), db_index(ctx, b as i64)) else {
        ctx.out().error(errors::DB_OUT_OF_RANGE);
        return;
    };
    // Watchers of either database see the other's keys from now on.
    ctx.db_modified(a, Some(b));
    ctx.db_modified(b, Some(a));
    ctx.keyspace.dbs.swap(a, b);
    ctx.keyspace.swaps = ctx.keyspace.swaps.wrapping_add(1);
    // Waiters on either index may find their key there now (`scanDatabaseForReadyKeys`).
    // This must look at the databases as they are after the swap: before it, the key
    // a waiter of db a wants is still in db b.
    ctx.clients.blocking.signal_db(ctx.keyspace, a);
    ctx.clients.blocking.signal_db(ctx.keyspace, b);
    ctx.out().ok();
}

/// EXPIRE family: relative forms add the wall clock to the argument.
fn expire_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, relative: bool, seconds: bool, name: &str) {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for j in 3..argv.len() {
        if argv.is(j, "nx") {
            nx = true;
        } else if argv.is(j, "xx") {
            xx = true;
        } else if argv.is(j, "gt") {
            gt = true;
        } else if argv.is(j, "lt") {
            lt = true;
        } else {
            // Redis: addReplyErrorFormat("Unsupported option %s"), so the option is
            // cut at a NUL and a trailing newline of it is trimmed.
            let opt = crate::util::c_str(argv.get(j));
            ctx.out()
                .error_format_bytes(&[&b"ERR Unsupported option "[..], opt].concat());
            return;
        }
    }
    if nx && (xx || gt || lt) {
        ctx.out()
            .error("ERR NX and XX, GT or LT options at the same time are not compatible");
        return;
    }
    if gt && lt {
        ctx.out()
            .error("ERR GT and LT options at the same time are not compatible");
        return;
    }
    let Some(mut when) = arg_i64(ctx, argv, 2) else {
        return;
    };
    let invalid = format!("ERR invalid expire time in '{name}' command");
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            ctx.out().error(&invalid);
            return;
        }
        when *= 1000;
    }
    if relative {
        let base = ctx.now.wall_ms as i64;
        if when > i64::MAX - base {
            ctx.out().error(&invalid);
            return;
        }
        when += base;
    }
    let db = ctx.db();
    let Some(id) = lookup(ctx, argv.get(1)) else {
        ctx.out().int(0);
        return;
    };
    let current = ctx.keyspace.db(db).get(id).map_or(0, |e| e.expire_at_ms);
    let has_ttl = current != 0;
    let current = current as i64;
    // Each flag is its own gate; no TTL counts as an infinite one for GT and LT.
    let refused = (nx && has_ttl)
        || (xx && !has_ttl)
        || (gt && (!has_ttl || when <= current))
        || (lt && has_ttl && when >= current);
    if refused {
        ctx.out().int(0);
        return;
    }
    let now_ms = ctx.now.wall_ms as i64;
    let key = argv.get(1);
    // While loading the AOF a past time is set, not applied (Redis's
    // checkAlreadyExpired): the log's later commands expect the key.
    let past = when <= now_ms && !ctx.keyspace.loading;
    let d = ctx.keyspace.db_mut(db);
    if past {
        d.remove(id);
        ctx.propagate_as(|| crate::propagate::argv(&[b"DEL", key]));
        ctx.key_modified(key);
        ctx.notify(notify::GENERIC, "del", key);
    } else {
        d.set_expire(id, when as u64);
        // Every form replays as the absolute time it set (Redis 7.0's PEXPIREAT).
        let at_text = when.to_string();
        ctx.propagate_as(|| crate::propagate::argv(&[b"PEXPIREAT", key, at_text.as_bytes()]));
        ctx.key_modified(key);
        ctx.notify(notify::GENERIC, "expire", key);
    }
    ctx.out().int(1);
}

fn expire(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    expire_generic(ctx, argv, true, true, "expire");
}

fn pexpire(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    expire_generic(ctx, argv, true, false, "pexpire");
}

fn expireat(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    expire_generic(ctx, argv, false, true, "expireat");
}

fn pexpireat(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    expire_generic(ctx, argv, false, false, "pexpireat");
}

fn ttl_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, ms: bool, absolute: bool) {
    let db = ctx.db();
    let Some(id) = lookup(ctx, argv.get(1)) else {
        ctx.out().int(-2);
        return;
    };
    let at = ctx.keyspace.db(db).get(id).map_or(0, |e| e.expire_at_ms);
    if at == 0 {
        ctx.out().int(-1);
        return;
    }
    let v = if absolute {
        at as i64
    } else {
        (at as i64 - ctx.now.wall_ms as i64).max(0)
    };
    ctx.out().int(if ms { v } else { (v + 500) / 1000 });
}

fn ttl(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    ttl_generic(ctx, argv, false, false);
}

fn pttl(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    ttl_generic(ctx, argv, true, false);
}

fn expiretime(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    ttl_generic(ctx, argv, false, true);
}

fn pexpiretime(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    ttl_generic(ctx, argv, true, true);
}

fn persist(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let db = ctx.db();
    let removed = match lookup(ctx, argv.get(1)) {
        Some(id) => ctx.keyspace.db_mut(db).clear_expire(id),
        None => false,
    };
    if removed {
        ctx.key_modified(argv.get(1));
        ctx.notify(notify::GENERIC, "persist", argv.get(1));
    }
    ctx.out().int(removed as i64);
}

fn object_lookup(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> Option<u32> {
    let found = lookup(ctx, argv.get(2));
    if found.is_none() {
        ctx.out().null();
    }
    found
}

fn object_encoding(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(id) = object_lookup(ctx, argv) else {
        return;
    };
    let db = ctx.db();
    let enc = ctx
        .keyspace
        .value(db, id)
        .map_or("raw", Value::encoding_name);
    ctx.out().bulk(enc.as_bytes());
}

fn lfu_policy(ctx: &Ctx<'_>) -> bool {
    ctx.server.config.settings().maxmemory_policy.is_lfu()
}

fn object_freq(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(id) = object_lookup(ctx, argv) else {
        return;
    };
    if !lfu_policy(ctx) {
        ctx.out().error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        return;
    }
    let db = ctx.db();
    let freq = ctx.keyspace.lfu_freq(db, id);
    ctx.out().int(i64::from(freq));
}

fn object_idletime(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(id) = object_lookup(ctx, argv) else {
        return;
    };
    if lfu_policy(ctx) {
        ctx.out().error("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
        return;
    }
    let db = ctx.db();
    let idle_secs = ctx.keyspace.idle_ms(db, id) / 1000;
    ctx.out().int(idle_secs as i64);
}

/// Redis shares the integers 0..9999 (`OBJ_SHARED_INTEGERS`) unless an LRU/LFU policy
/// forbids it; shared objects report INT_MAX as their refcount.
fn object_refcount(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(id) = object_lookup(ctx, argv) else {
        return;
    };
    let db = ctx.db();
    let policy = ctx.server.config.settings().maxmemory_policy;
    let sharing =
        ctx.server.config.settings().maxmemory_bytes == 0 || !(policy.is_lru() || policy.is_lfu());
    let shared = matches!(ctx.keyspace.value(db, id), Some(Value::Str(StrValue::Int(n))) if (0..10_000).contains(n));
    ctx.out().int(if shared && sharing {
        i32::MAX as i64
    } else {
        1
    });
}

fn object_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    reply_help(
        ctx.out(),
        "OBJECT",
        &[
            "ENCODING <key>",
            "    Return the kind of internal representation used in order to store the value",
            "    associated with a <key>.",
            "FREQ <key>",
            "    Return the access frequency index of the <key>. The returned integer is",
            "    proportional to the logarithm of the recent access frequency of the key.",
            "IDLETIME <key>",
            "    Return the idle time of the <key>, that is the approximated number of",
            "    seconds elapsed since the last access to the key.",
            "REFCOUNT <key>",
            "    Return the number of references of the value associated with the specified",
            "    <key>.",
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn cursor_parses_like_strtoul() {
        assert_eq!(parse_cursor(b"0"), Some(0));
        assert_eq!(parse_cursor(b""), Some(0));
        assert_eq!(parse_cursor(b"+7"), Some(7));
        assert_eq!(parse_cursor(b"-1"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_cursor(b"18446744073709551616"), None);
        assert_eq!(parse_cursor(b" 1"), None);
        assert_eq!(parse_cursor(b"1a"), None);
        assert_eq!(parse_cursor(b"-"), None);
    }
}
