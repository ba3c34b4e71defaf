//! String commands (Redis's `t_string.c`): GET/SET and options, counters, ranges, LCS.
//! Replies and error texts as Redis 7.0; every length and offset is checked arithmetic.

use super::keyspec::GetKeysProc;
use super::{arg_i64, cmd, errors, Argv, CommandSpec, Ctx};
use crate::longdouble;
use crate::mutants::Mutant;
use crate::notify;
use crate::resp::ReplyBuf;
use crate::types::{StrValue, Value};
use crate::util::parse_i64;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("append", 3, [WRITE, DENYOOM, FAST], append),
    cmd!("decr", 2, [WRITE, DENYOOM, FAST], decr),
    cmd!("decrby", 3, [WRITE, DENYOOM, FAST], decrby),
    cmd!("get", 2, [READONLY, FAST], get),
    cmd!("getdel", 2, [WRITE, FAST], getdel),
    cmd!("getex", -2, [WRITE, FAST], getex),
    cmd!("getrange", 4, [READONLY], getrange),
    cmd!("getset", 3, [WRITE, DENYOOM, FAST], getset),
    cmd!("incr", 2, [WRITE, DENYOOM, FAST], incr),
    cmd!("incrby", 3, [WRITE, DENYOOM, FAST], incrby),
    cmd!("incrbyfloat", 3, [WRITE, DENYOOM, FAST], incrbyfloat),
    cmd!("lcs", -3, [READONLY], lcs),
    cmd!("mget", -2, [READONLY, FAST], mget),
    cmd!("mset", -3, [WRITE, DENYOOM], mset),
    cmd!("msetnx", -3, [WRITE, DENYOOM], msetnx),
    cmd!("psetex", 4, [WRITE, DENYOOM], psetex),
    cmd!("set", -3, [WRITE, DENYOOM], set, getkeys: GetKeysProc::Set),
    cmd!("setex", 4, [WRITE, DENYOOM], setex),
    cmd!("setnx", 3, [WRITE, DENYOOM, FAST], setnx),
    cmd!("setrange", 4, [WRITE, DENYOOM], setrange),
    cmd!("strlen", 2, [READONLY, FAST], strlen),
    cmd!("substr", 4, [READONLY], getrange),
];

/// A live string key for reading. `Err(())`: the key holds another type (error written).
pub(crate) fn lookup_str(ctx: &mut Ctx<'_>, key: &[u8]) -> Result<Option<u32>, ()> {
    super::lookup_typed(ctx, key, "string", true)
}

fn str_of<'c>(ctx: &'c Ctx<'_>, id: u32) -> Option<&'c StrValue> {
    match ctx.keyspace.value(ctx.client.db, id) {
        Some(Value::Str(s)) => Some(s),
        _ => None,
    }
}

pub(crate) fn reply_str(out: &mut ReplyBuf, s: &StrValue) {
    match s {
        StrValue::Int(n) => out.bulk_i64(*n),
        other => out.bulk(other.as_bytes().unwrap_or_default()),
    }
}

fn reply_key_str(ctx: &mut Ctx<'_>, id: u32) {
    let db = ctx.client.db;
    match ctx.keyspace.value(db, id) {
        Some(Value::Str(s)) => reply_str(&mut ctx.client.out, s),
        _ => ctx.client.out.null(),
    }
}

fn get(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    match lookup_str(ctx, argv.get(1)) {
        Ok(Some(id)) => reply_key_str(ctx, id),
        Ok(None) => ctx.out().null(),
        Err(()) => {}
    }
}

/// SET-family flags, parsed as Redis's `parseExtendedStringArgumentsOrReply`.
#[derive(Default, Clone, Copy)]
struct SetFlags {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    persist: bool,
    ex: bool,
    px: bool,
    exat: bool,
    pxat: bool,
}

#[derive(PartialEq, Eq, Clone, Copy)]
enum SetCommandKind {
    Set,
    GetEx,
}

/// Parses options from `argv[start..]`; returns the flags and the raw expire argument.
fn parse_set_flags<'a>(
    argv: &Argv<'a>,
    start: usize,
    kind: SetCommandKind,
) -> Option<(SetFlags, Option<&'a [u8]>)> {
    let mut f = SetFlags::default();
    let mut expire = None;
    let mut j = start;
    while j < argv.len() {
        let a = argv.get(j);
        let next = (j + 1 < argv.len()).then(|| argv.get(j + 1));
        let is = |k: &str| a.eq_ignore_ascii_case(k.as_bytes());
        if is("nx") && !f.xx && kind == SetCommandKind::Set {
            f.nx = true;
        } else if is("xx") && !f.nx && kind == SetCommandKind::Set {
            f.xx = true;
        } else if is("get") && kind == SetCommandKind::Set {
            f.get = true;
        } else if is("keepttl")
            && !f.persist
            && !f.ex
            && !f.exat
            && !f.px
            && !f.pxat
            && kind == SetCommandKind::Set
        {
            f.keepttl = true;
        } else if is("persist")
            && kind == SetCommandKind::GetEx
            && !f.ex
            && !f.exat
            && !f.px
            && !f.pxat
            && !f.keepttl
        {
            f.persist = true;
        } else if is("ex")
            && !f.keepttl
            && !f.persist
            && !f.exat
            && !f.px
            && !f.pxat
            && next.is_some()
        {
            f.ex = true;
            expire = next;
            j += 1;
        } else if is("px")
            && !f.keepttl
            && !f.persist
            && !f.ex
            && !f.exat
            && !f.pxat
            && next.is_some()
        {
            f.px = true;
            expire = next;
            j += 1;
        } else if is("exat")
            && !f.keepttl
            && !f.persist
            && !f.ex
            && !f.px
            && !f.pxat
            && next.is_some()
        {
            f.exat = true;
            expire = next;
            j += 1;
        } else if is("pxat")
            && !f.keepttl
            && !f.persist
            && !f.ex
            && !f.exat
            && !f.px
            && next.is_some()
        {
            f.pxat = true;
            expire = next;
            j += 1;
        } else {
            return None;
        }
        j += 1;
    }
    Some((f, expire))
}

/// Redis's `getExpireMillisecondsOrReply`: the absolute unix ms of an expire argument.
fn expire_at_ms(
    ctx: &mut Ctx<'_>,
    raw: &[u8],
    seconds: bool,
    relative: bool,
    command: &str,
) -> Option<i64> {
    let Some(mut v) = parse_i64(raw) else {
        ctx.out().error(errors::NOT_INTEGER);
        return None;
    };
    let invalid = |ctx: &mut Ctx<'_>| {
        ctx.out()
            .error(&format!("ERR invalid expire time in '{command}' command"))
    };
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        invalid(ctx);
        return None;
    }
    if seconds {
        v *= 1000;
    }
    if relative {
        match v.checked_add(ctx.now.wall_ms as i64) {
            Some(abs) => v = abs,
            None => {
                invalid(ctx);
                return None;
            }
        }
    }
    Some(v)
}

fn set(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some((flags, expire_raw)) = parse_set_flags(argv, 3, SetCommandKind::Set) else {
        ctx.out().error(errors::SYNTAX);
        return;
    };
    let expire = match expire_raw {
        Some(raw) => match expire_at_ms(
            ctx,
            raw,
            flags.ex || flags.exat,
            flags.ex || flags.px,
            "set",
        ) {
            Some(at) => Some(at),
            None => return,
        },
        None => None,
    };
    set_generic(ctx, argv.get(1), argv.get(2), flags, expire);
}

fn set_generic(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    value: &[u8],
    flags: SetFlags,
    expire_at: Option<i64>,
) {
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    let existing = ctx.keyspace.lookup(db, key, now_ms);
    if flags.get {
        match existing.and_then(|id| ctx.keyspace.value(db, id)) {
            Some(Value::Str(_)) | None => {}
            #[allow(unreachable_patterns)]
            Some(_) => {
                ctx.out().error(errors::WRONGTYPE);
                return;
            }
        }
    }
    let old = if flags.get {
        existing.and_then(|id| str_of(ctx, id).cloned())
    } else {
        None
    };
    let allowed = !((flags.nx && existing.is_some()) || (flags.xx && existing.is_none()));
    if allowed && !ctx.server.mutants.is(Mutant::SetAckedNotApplied) {
        let stored = Value::Str(StrValue::from_set(value));
        let id = ctx
            .keyspace
            .set_found(db, existing, key, stored, flags.keepttl);
        ctx.key_modified(key);
        ctx.notify(notify::STRING, "set", key);
        if let Some(at) = expire_at {
            // A time already past leaves a logically expired key, as Redis 7.0: it
            // is gone for every reader and deleted (`expired`) when next looked at.
            let at_ms = (at as u64).max(1);
            ctx.keyspace.db_mut(db).set_expire(id, at_ms);
            ctx.notify(notify::GENERIC, "expire", key);
            // A relative TTL replays as the absolute time it became (Redis 7.0).
            ctx.propagate_as(|| {
                let at_text = at_ms.to_string();
                crate::propagate::argv(&[b"SET", key, value, b"PXAT", at_text.as_bytes()])
            });
        }
    }
    if flags.get {
        match old {
            Some(s) => reply_str(ctx.out(), &s),
            None => ctx.out().null(),
        }
    } else if allowed {
        ctx.out().ok();
    } else {
        ctx.out().null();
    }
}

fn setnx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    if ctx.keyspace.lookup(db, argv.get(1), now_ms).is_some() {
        ctx.out().int(0);
    } else {
        ctx.keyspace.set(
            db,
            argv.get(1),
            Value::Str(StrValue::from_set(argv.get(2))),
            false,
            now_ms,
        );
        ctx.key_modified(argv.get(1));
        ctx.notify(notify::STRING, "set", argv.get(1));
        ctx.out().int(1);
    }
}

fn setex_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, seconds: bool, command: &str) {
    let Some(at) = expire_at_ms(ctx, argv.get(2), seconds, true, command) else {
        return;
    };
    let flags = SetFlags::default();
    set_generic(ctx, argv.get(1), argv.get(3), flags, Some(at));
}

fn setex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    setex_generic(ctx, argv, true, "setex");
}

fn psetex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    setex_generic(ctx, argv, false, "psetex");
}

fn getset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let flags = SetFlags {
        get: true,
        ..SetFlags::default()
    };
    set_generic(ctx, argv.get(1), argv.get(2), flags, None);
}

fn getdel(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(found) = lookup_str(ctx, argv.get(1)) else {
        return;
    };
    match found {
        Some(id) => {
            reply_key_str(ctx, id);
            let db = ctx.db();
            ctx.keyspace.db_mut(db).remove(id);
            ctx.propagate_as(|| crate::propagate::argv(&[b"DEL", argv.get(1)]));
            ctx.key_modified(argv.get(1));
            ctx.notify(notify::GENERIC, "del", argv.get(1));
        }
        None => ctx.out().null(),
    }
}

fn getex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some((flags, expire_raw)) = parse_set_flags(argv, 2, SetCommandKind::GetEx) else {
        ctx.out().error(errors::SYNTAX);
        return;
    };
    // Redis's order: syntax, then the key (nil when missing) and its type, and only
    // then the expire value.
    let Ok(found) = lookup_str(ctx, argv.get(1)) else {
        return;
    };
    let Some(id) = found else {
        ctx.out().null();
        return;
    };
    let mut expire = None;
    if let Some(raw) = expire_raw {
        let seconds = flags.ex || flags.exat;
        let relative = flags.ex || flags.px;
        let Some(at) = expire_at_ms(ctx, raw, seconds, relative, "getex") else {
            return;
        };
        expire = Some(at);
    }
    reply_key_str(ctx, id);
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    let key = argv.get(1);
    let loading = ctx.keyspace.loading;
    let d = ctx.keyspace.db_mut(db);
    if let Some(at) = expire {
        // Only an absolute time can be past here (Redis's checkAlreadyExpired).
        if at as u64 <= now_ms && !loading {
            d.remove(id);
            ctx.propagate_as(|| crate::propagate::argv(&[b"DEL", key]));
            ctx.key_modified(key);
            ctx.notify(notify::GENERIC, "del", key);
        } else {
            d.set_expire(id, at as u64);
            let at_text = (at as u64).to_string();
            ctx.propagate_as(|| crate::propagate::argv(&[b"PEXPIREAT", key, at_text.as_bytes()]));
            ctx.key_modified(key);
            ctx.notify(notify::GENERIC, "expire", key);
        }
    } else if flags.persist && d.clear_expire(id) {
        ctx.propagate_as(|| crate::propagate::argv(&[b"PERSIST", key]));
        ctx.key_modified(key);
        ctx.notify(notify::GENERIC, "persist", key);
    }
}

fn mget(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    ctx.out().array(argv.len() - 1);
    let db = ctx.db();
    let (now_ms, secs) = (ctx.now.wall_ms, ctx.now.mono_secs());
    for key in argv.iter().skip(1) {
        let found = if ctx.client.no_touch {
            ctx.keyspace.lookup(db, key, now_ms)
        } else {
            ctx.keyspace.lookup_touch(db, key, now_ms, secs)
        };
        match found.and_then(|id| ctx.keyspace.value(db, id)) {
            Some(Value::Str(s)) => {
                ctx.server.stats.keyspace_hits += 1;
                reply_str(&mut ctx.client.out, s);
            }
            #[allow(unreachable_patterns)]
            Some(_) => ctx.client.out.null(),
            None => {
                ctx.server.stats.keyspace_misses += 1;
                ctx.client.out.null();
                ctx.notify(notify::KEY_MISS, "keymiss", key);
            }
        }
    }
}

fn mset_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, nx: bool) {
    if argv.len().is_multiple_of(2) {
        let name = if nx { "msetnx" } else { "mset" };
        ctx.out().error(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
        return;
    }
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    if nx {
        let mut i = 1;
        while i < argv.len() {
            if ctx.keyspace.lookup(db, argv.get(i), now_ms).is_some() {
                ctx.out().int(0);
                return;
            }
            i += 2;
        }
    }
    let mut i = 1;
    while i + 1 < argv.len() {
        ctx.keyspace.set(
            db,
            argv.get(i),
            Value::Str(StrValue::from_set(argv.get(i + 1))),
            false,
            now_ms,
        );
        ctx.key_modified(argv.get(i));
        ctx.notify(notify::STRING, "set", argv.get(i));
        i += 2;
    }
    if nx {
        ctx.out().int(1);
    } else {
        ctx.out().ok();
    }
}

fn mset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    mset_generic(ctx, argv, false);
}

fn msetnx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    mset_generic(ctx, argv, true);
}

fn incr_generic(ctx: &mut Ctx<'_>, key: &[u8], by: i64) {
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    let existing = ctx.keyspace.lookup(db, key, now_ms);
    // Planted: the event goes out before the checks that may refuse the write.
    let early = ctx.server.mutants.is(Mutant::IncrNotifiesBeforeCheck);
    if early {
        ctx.notify(notify::STRING, "incrby", key);
    }
    let current = match existing.and_then(|id| ctx.keyspace.value(db, id)) {
        None => 0,
        Some(Value::Str(s)) => match s.as_i64() {
            Some(n) => n,
            None => {
                ctx.out().error(errors::NOT_INTEGER);
                return;
            }
        },
        #[allow(unreachable_patterns)]
        Some(_) => {
            ctx.out().error(errors::WRONGTYPE);
            return;
        }
    };
    let Some(next) = current.checked_add(by) else {
        ctx.out().error(errors::OVERFLOW);
        return;
    };
    let stored =
        if ctx.server.mutants.is(Mutant::IncrLosesPipelinedUpdate) && ctx.client.more_pipelined {
            current
        } else {
            next
        };
    let value = Value::Str(StrValue::Int(stored));
    // Planted: the new value replaces the key's TTL instead of keeping it.
    let keep_ttl = !ctx.server.mutants.is(Mutant::IncrDropsTtl);
    ctx.keyspace.set_found(db, existing, key, value, keep_ttl);
    ctx.key_modified(key);
    // Planted: INCR's own name as its event.
    let event = if by == 1 && ctx.server.mutants.is(Mutant::IncrNotifiesWrongEvent) {
        "incr"
    } else {
        "incrby"
    };
    if !early {
        ctx.notify(notify::STRING, event, key);
    }
    ctx.out().int(next);
}

fn incr(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    incr_generic(ctx, argv.get(1), 1);
}

fn decr(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    incr_generic(ctx, argv.get(1), -1);
}

fn incrby(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(by) = arg_i64(ctx, argv, 2) else {
        return;
    };
    incr_generic(ctx, argv.get(1), by);
}

fn decrby(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(by) = arg_i64(ctx, argv, 2) else {
        return;
    };
    let Some(neg) = by.checked_neg() else {
        ctx.out().error("ERR decrement would overflow");
        return;
    };
    incr_generic(ctx, argv.get(1), neg);
}

/// INCRBYFLOAT computes in x87 80-bit precision and prints `%.17Lf`, exactly as Redis
/// does on x86-64 (see `longdouble`), so replies match byte for byte.
fn incrbyfloat(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    let key = argv.get(1);
    let existing = ctx.keyspace.lookup(db, key, now_ms);
    let mut scratch = Vec::new();
    // Borrowed: a huge string is refused by the parser without being copied.
    let Ok(current) = string_bytes(ctx.keyspace, db, existing, &mut scratch) else {
        ctx.out().error(errors::WRONGTYPE);
        return;
    };
    let current = existing.map(|_| current);
    let result = longdouble::incr_by_float(current, argv.get(2));
    match result {
        Ok(text) => {
            // Redis stores the text as a plain string object: never int-encoded.
            let value = StrValue::with_encoding(
                text.as_bytes(),
                text.len() > crate::types::string::EMBSTR_MAX_BYTES,
            );
            ctx.keyspace.set(db, key, Value::Str(value), true, now_ms);
            // The result, not the float arithmetic, is what replays exactly.
            ctx.propagate_as(|| {
                crate::propagate::argv(&[b"SET", key, text.as_bytes(), b"KEEPTTL"])
            });
            ctx.key_modified(key);
            ctx.notify(notify::STRING, "incrbyfloat", key);
            ctx.out().bulk(text.as_bytes());
        }
        Err(longdouble::IncrError::NotAFloat) => ctx.out().error(errors::NOT_FLOAT),
        Err(longdouble::IncrError::NanOrInfinity) => ctx
            .out()
            .error("ERR increment would produce NaN or Infinity"),
    }
}

fn append(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    let key = argv.get(1);
    let extra = argv.get(2);
    let Ok(found) = super::lookup_typed(ctx, key, "string", false) else {
        return;
    };
    match found {
        None => {
            ctx.keyspace.set(
                db,
                key,
                Value::Str(StrValue::from_set(extra)),
                false,
                now_ms,
            );
            ctx.key_modified(key);
            ctx.notify(notify::STRING, "append", key);
            ctx.out().int(extra.len() as i64);
        }
        Some(id) => {
            let current = str_of(ctx, id).map_or(0, StrValue::len);
            let total = current as u64 + extra.len() as u64;
            if total > ctx.server.config.settings().proto_max_bulk_len_bytes {
                ctx.out().error(errors::STRING_TOO_LONG);
                return;
            }
            // In place: a string appended to repeatedly grows amortised, never copied whole.
            let len = ctx.keyspace.db_mut(db).update_value(id, |v| match v {
                Value::Str(s) => s.modify(|data| {
                    data.extend_from_slice(extra);
                    data.len()
                }),
                _ => 0,
            });
            ctx.key_modified(key);
            ctx.notify(notify::STRING, "append", key);
            // Planted: the length before the append.
            let len = if ctx.server.mutants.is(Mutant::AppendRepliesOldLength) {
                Some(current)
            } else {
                len
            };
            ctx.out().int(len.unwrap_or(0) as i64);
        }
    }
}

fn strlen(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    match lookup_str(ctx, argv.get(1)) {
        Ok(Some(id)) => {
            let n = str_of(ctx, id).map_or(0, StrValue::len);
            ctx.out().int(n as i64);
        }
        Ok(None) => ctx.out().int(0),
        Err(()) => {}
    }
}

fn getrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(mut start) = arg_i64(ctx, argv, 2) else {
        return;
    };
    let Some(mut end) = arg_i64(ctx, argv, 3) else {
        return;
    };
    let Ok(found) = lookup_str(ctx, argv.get(1)) else {
        return;
    };
    let Some(id) = found else {
        ctx.out().bulk(b"");
        return;
    };
    // Borrowed, never copied: a range of a 200 MB string costs the range.
    let mut scratch = Vec::new();
    let data: &[u8] = match ctx.keyspace.value(ctx.client.db, id) {
        Some(Value::Str(s)) => s.bytes(&mut scratch),
        _ => &[],
    };
    let out = &mut ctx.client.out;
    let len = data.len() as i64;
    // Redis 7.0's exact clamping, including its quirks.
    if start < 0 && end < 0 && start > end {
        out.bulk(b"");
        return;
    }
    if start < 0 {
        start += len;
    }
    if end < 0 {
        end += len;
    }
    start = start.max(0);
    end = end.max(0);
    if end >= len {
        end = len - 1;
    }
    if start > end || len == 0 {
        out.bulk(b"");
        return;
    }
    out.bulk(data.get(start as usize..=end as usize).unwrap_or_default());
}

fn setrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(offset) = arg_i64(ctx, argv, 2) else {
        return;
    };
    if offset < 0 {
        ctx.out().error("ERR offset is out of range");
        return;
    }
    let value = argv.get(3);
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    let key = argv.get(1);
    let Ok(found) = super::lookup_typed(ctx, key, "string", false) else {
        return;
    };
    let existing_len = found
        .and_then(|id| str_of(ctx, id))
        .map_or(0, StrValue::len);
    if value.is_empty() {
        ctx.out().int(existing_len as i64);
        return;
    }
    let max = ctx.server.config.settings().proto_max_bulk_len_bytes;
    let total = (offset as u64).checked_add(value.len() as u64);
    if total.is_none_or(|t| t > max) {
        ctx.out().error(errors::STRING_TOO_LONG);
        return;
    }
    let start = offset as usize;
    let end = start + value.len();
    let write = |data: &mut Vec<u8>| {
        if data.len() < end {
            data.resize(end, 0);
        }
        if let Some(dst) = data.get_mut(start..end) {
            dst.copy_from_slice(value);
        }
        data.len()
    };
    let len = match found {
        Some(id) => ctx.keyspace.db_mut(db).update_value(id, |v| match v {
            Value::Str(s) => s.modify(write),
            _ => 0,
        }),
        None => {
            let mut data = Vec::new();
            let len = write(&mut data);
            ctx.keyspace
                .set(db, key, Value::Str(StrValue::raw(data)), false, now_ms);
            Some(len)
        }
    };
    ctx.key_modified(key);
    ctx.notify(notify::STRING, "setrange", key);
    ctx.out().int(len.unwrap_or(0) as i64);
}

/// Transient memory LCS may use for its table before it refuses, in cells (u32 each).
/// Redis allows up to UINT32_MAX/4 cells (~4 GB); keel refuses above 256 MB.
const LCS_MAX_CELLS: u64 = 64 * 1024 * 1024;

/// The bytes of a string key (an int materialised in `scratch`), empty when there is
/// no key; Err for another type.
fn string_bytes<'a>(
    keyspace: &'a crate::keyspace::Keyspace,
    db: usize,
    id: Option<u32>,
    scratch: &'a mut Vec<u8>,
) -> Result<&'a [u8], ()> {
    match id.and_then(|id| keyspace.value(db, id)) {
        None => Ok(&[]),
        Some(Value::Str(s)) => Ok(s.bytes(scratch)),
        #[allow(unreachable_patterns)]
        Some(_) => Err(()),
    }
}

fn lcs(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    // Look both keys up first (lookup may expire them) and check their types before
    // the options, as Redis does; then borrow their bytes: the size check below must
    // run before anything as big as the values is allocated.
    let id_a = ctx.keyspace.lookup(db, argv.get(1), now_ms);
    let id_b = ctx.keyspace.lookup(db, argv.get(2), now_ms);
    let is_string_or_missing = |ctx: &Ctx<'_>, id| {
        let mut scratch = Vec::new();
        string_bytes(ctx.keyspace, db, id, &mut scratch).is_ok()
    };
    if !is_string_or_missing(ctx, id_a) || !is_string_or_missing(ctx, id_b) {
        ctx.client
            .out
            .error("ERR The specified keys must contain string values");
        return;
    }
    let (mut get_len, mut get_idx, mut with_match_len) = (false, false, false);
    let mut min_match_len: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        if argv.is(j, "idx") {
            get_idx = true;
        } else if argv.is(j, "len") {
            get_len = true;
        } else if argv.is(j, "withmatchlen") {
            with_match_len = true;
        } else if argv.is(j, "minmatchlen") && j + 1 < argv.len() {
            let Some(v) = arg_i64(ctx, argv, j + 1) else {
                return;
            };
            min_match_len = v.max(0);
            j += 1;
        } else {
            ctx.out().error(errors::SYNTAX);
            return;
        }
        j += 1;
    }
    let keyspace = &ctx.keyspace;
    let (mut scratch_a, mut scratch_b) = (Vec::new(), Vec::new());
    let (Ok(a), Ok(b)) = (
        string_bytes(keyspace, db, id_a, &mut scratch_a),
        string_bytes(keyspace, db, id_b, &mut scratch_b),
    ) else {
        ctx.client
            .out
            .error("ERR The specified keys must contain string values");
        return;
    };
    let out = &mut ctx.client.out;
    if get_idx && get_len {
        out.error("ERR If you want both the length and indexes, please just use IDX.");
        return;
    }
    let cells = (a.len() as u64 + 1).saturating_mul(b.len() as u64 + 1);
    if cells >= LCS_MAX_CELLS {
        out.error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
        return;
    }
    let (alen, blen) = (a.len(), b.len());
    let width = blen + 1;
    let mut table = vec![0u32; (alen + 1) * width];
    // LCS(i, k): the length for a[..i] and b[..k]; row i of the table at i * width.
    let cell = |table: &[u32], i: usize, k: usize| table.get(i * width + k).copied().unwrap_or(0);
    for (i, &ca) in (1..).zip(a) {
        for (k, &cb) in (1..).zip(b) {
            let v = if ca == cb {
                cell(&table, i - 1, k - 1) + 1
            } else {
                cell(&table, i - 1, k).max(cell(&table, i, k - 1))
            };
            if let Some(slot) = table.get_mut(i * width + k) {
                *slot = v;
            }
        }
    }
    let total = cell(&table, alen, blen) as usize;
    let mut result = vec![0u8; total];
    // matches: [a_start, a_end, b_start, b_end, len], from the ends backwards, as Redis.
    let mut matches: Vec<[usize; 5]> = Vec::new();
    let (mut i, mut k, mut idx) = (alen, blen, total);
    // Redis's bookkeeping, with `alen` meaning "no range open".
    let (mut a_start, mut a_end, mut b_start, mut b_end) = (alen, 0usize, 0usize, 0usize);
    while i > 0 && k > 0 {
        let mut emit_range = false;
        let (ca, cb) = (a.get(i - 1), b.get(k - 1));
        if ca == cb {
            if let (Some(slot), Some(&c)) = (result.get_mut(idx - 1), ca) {
                *slot = c;
            }
            if a_start == alen {
                (a_start, a_end, b_start, b_end) = (i - 1, i - 1, k - 1, k - 1);
            } else if a_start == i && b_start == k {
                a_start -= 1;
                b_start -= 1;
            } else {
                emit_range = true;
            }
            if a_start == 0 || b_start == 0 {
                emit_range = true;
            }
            idx -= 1;
            i -= 1;
            k -= 1;
        } else {
            if cell(&table, i - 1, k) > cell(&table, i, k - 1) {
                i -= 1;
            } else {
                k -= 1;
            }
            if a_start != alen {
                emit_range = true;
            }
        }
        if emit_range {
            let len = a_end + 1 - a_start;
            if min_match_len == 0 || len as i64 >= min_match_len {
                matches.push([a_start, a_end, b_start, b_end, len]);
            }
            a_start = alen;
        }
    }
    if get_idx {
        out.map(2);
        out.bulk(b"matches");
        out.array(matches.len());
        for m in &matches {
            out.array(if with_match_len { 3 } else { 2 });
            out.array(2);
            out.int(m[0] as i64);
            out.int(m[1] as i64);
            out.array(2);
            out.int(m[2] as i64);
            out.int(m[3] as i64);
            if with_match_len {
                out.int(m[4] as i64);
            }
        }
        out.bulk(b"len");
        out.int(total as i64);
    } else if get_len {
        out.int(total as i64);
    } else {
        out.bulk(&result);
    }
}
