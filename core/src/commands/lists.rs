//! List commands (Redis's `t_list.c`): pushes and pops at both ends, ranges, LPOS,
//! LMOVE/LMPOP and the blocking variants (which park the client in `crate::blocking`
//! when nothing can be served). Replies, error texts, keyspace events and argument
//! order as Redis 7.0; an emptied list is deleted; nothing here panics on client input.

use super::keyspec::GetKeysProc;
use super::{arg_i64, cmd, errors, Argv, CommandSpec, Ctx};
use crate::blocking::{self, BlockedOp, ListTarget};
use crate::mutants::Mutant;
use crate::notify;
use crate::types::list::{End, ListLimits};
use crate::types::{List, Value};
use crate::util::parse_i64;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("blmove", 6, [WRITE, DENYOOM, NOSCRIPT, BLOCKING], blmove),
    cmd!("blmpop", -5, [WRITE, BLOCKING, MOVABLEKEYS], blmpop, getkeys: GetKeysProc::NUMKEYS_AT_2),
    cmd!("blpop", -3, [WRITE, NOSCRIPT, BLOCKING], blpop),
    cmd!("brpop", -3, [WRITE, NOSCRIPT, BLOCKING], brpop),
    cmd!(
        "brpoplpush",
        4,
        [WRITE, DENYOOM, NOSCRIPT, BLOCKING],
        brpoplpush
    ),
    cmd!("lindex", 3, [READONLY], lindex),
    cmd!("linsert", 5, [WRITE, DENYOOM], linsert),
    cmd!("llen", 2, [READONLY, FAST], llen),
    cmd!("lmove", 5, [WRITE, DENYOOM], lmove),
    cmd!("lmpop", -4, [WRITE, MOVABLEKEYS], lmpop, getkeys: GetKeysProc::NUMKEYS_AT_1),
    cmd!("lpop", -2, [WRITE, FAST], lpop),
    cmd!("lpos", -3, [READONLY], lpos),
    cmd!("lpush", -3, [WRITE, DENYOOM, FAST], lpush),
    cmd!("lpushx", -3, [WRITE, DENYOOM, FAST], lpushx),
    cmd!("lrange", 4, [READONLY], lrange),
    cmd!("lrem", 4, [WRITE], lrem),
    cmd!("lset", 4, [WRITE, DENYOOM], lset),
    cmd!("ltrim", 4, [WRITE], ltrim),
    cmd!("rpop", -2, [WRITE, FAST], rpop),
    cmd!("rpoplpush", 3, [WRITE, DENYOOM], rpoplpush),
    cmd!("rpush", -3, [WRITE, DENYOOM, FAST], rpush),
    cmd!("rpushx", -3, [WRITE, DENYOOM, FAST], rpushx),
];

/// Redis 7.0's `LIST_MAX_ITEM_SIZE`.
const LIST_MAX_ITEM_BYTES: usize = (1 << 32) - 1024;

/// The node's `list-max-listpack-size`, fixed for a list when it is created.
fn limits(ctx: &Ctx<'_>) -> ListLimits {
    ListLimits::from_fill(i64::from(
        ctx.server.config.settings().list_max_listpack_size,
    ))
}

/// A live list key. `read`: counts keyspace hits and misses (Redis's lookupKeyRead).
/// `Err(())`: the key holds another type (WRONGTYPE written).
fn lookup_list(ctx: &mut Ctx<'_>, key: &[u8], read: bool) -> Result<Option<u32>, ()> {
    super::lookup_typed(ctx, key, "list", read)
}

fn list_of<'c>(ctx: &'c Ctx<'_>, id: u32) -> Option<&'c List> {
    match ctx.keyspace.value(ctx.client.db, id) {
        Some(Value::List(l)) => Some(l),
        _ => None,
    }
}

fn list_len(ctx: &Ctx<'_>, id: u32) -> usize {
    list_of(ctx, id).map_or(0, List::len)
}

/// Runs `f` on the list in slot `id` with memory kept accounted.
fn update_list<R>(ctx: &mut Ctx<'_>, id: u32, f: impl FnOnce(&mut List) -> R) -> Option<R> {
    let db = ctx.db();
    ctx.keyspace
        .db_mut(db)
        .update_value(id, |v| match v {
            Value::List(l) => Some(f(l)),
            _ => None,
        })
        .flatten()
}

/// A new list value holding `items` head to tail, with the node's chunk limits (SORT
/// ... STORE).
pub(crate) fn list_value(ctx: &Ctx<'_>, items: &[Vec<u8>]) -> Value {
    let mut list = List::new(limits(ctx));
    for item in items {
        list.push_back(item);
    }
    Value::List(Box::new(list))
}

/// Adds an empty list under `key` (known absent); the caller pushes into it at once.
fn create_list(ctx: &mut Ctx<'_>, key: &[u8]) -> u32 {
    let db = ctx.db();
    let list = Value::List(Box::new(List::new(limits(ctx))));
    ctx.keyspace.set_found(db, None, key, list, false)
}

/// Redis's `listElementsRemoved`: the pop event, the deletion of an emptied list.
/// True when the key was deleted.
fn elements_removed(ctx: &mut Ctx<'_>, key: &[u8], id: u32, from: End) -> bool {
    ctx.notify(notify::LIST, pop_event(from), key);
    let deleted = delete_if_empty(ctx, key, id);
    ctx.key_modified(key);
    deleted
}

/// Deletes an emptied list and notifies `del`; true when it did.
fn delete_if_empty(ctx: &mut Ctx<'_>, key: &[u8], id: u32) -> bool {
    let deleted = super::delete_if_empty(ctx, id);
    if deleted {
        ctx.notify(notify::GENERIC, "del", key);
    }
    deleted
}

fn pop_event(from: End) -> &'static str {
    match from {
        End::Head => "lpop",
        End::Tail => "rpop",
    }
}

fn push_event(to: End) -> &'static str {
    match to {
        End::Head => "lpush",
        End::Tail => "rpush",
    }
}

/// A list index as Redis resolves it (negative from the tail); None when outside.
fn resolve_index(index: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if index < 0 { len + index } else { index };
    (0..len).contains(&i).then_some(i as usize)
}

// ---------------------------------------------------------------------------------
// Pushes.
// ---------------------------------------------------------------------------------

fn push_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, to: End, only_existing: bool) {
    if argv.iter().skip(2).any(|e| e.len() > LIST_MAX_ITEM_BYTES) {
        ctx.out().error("ERR Element too large");
        return;
    }
    let key = argv.get(1);
    let Ok(found) = lookup_list(ctx, key, false) else {
        return;
    };
    let id = match found {
        Some(id) => id,
        None if only_existing => {
            ctx.out().int(0);
            return;
        }
        None => create_list(ctx, key),
    };
    let len = update_list(ctx, id, |l| {
        for e in argv.iter().skip(2) {
            l.push(e, to);
        }
        l.len()
    })
    .unwrap_or(0);
    ctx.out().int(len as i64);
    ctx.key_modified(key);
    ctx.notify(notify::LIST, push_event(to), key);
}

fn lpush(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    push_generic(ctx, argv, End::Head, false);
}

fn rpush(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    push_generic(ctx, argv, End::Tail, false);
}

fn lpushx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    push_generic(ctx, argv, End::Head, true);
}

fn rpushx(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    push_generic(ctx, argv, End::Tail, true);
}

fn linsert(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let after = if argv.is(2, "after") {
        true
    } else if argv.is(2, "before") {
        false
    } else {
        ctx.out().error(errors::SYNTAX);
        return;
    };
    if argv.get(4).len() > LIST_MAX_ITEM_BYTES {
        ctx.out().error("ERR Element too large");
        return;
    }
    let key = argv.get(1);
    let Ok(found) = lookup_list(ctx, key, false) else {
        return;
    };
    let Some(id) = found else {
        ctx.out().int(0);
        return;
    };
    let pivot = argv.get(3);
    let mut at = None;
    if let Some(l) = list_of(ctx, id) {
        l.walk(0, false, |i, e| {
            if e == pivot {
                at = Some(i);
                return false;
            }
            true
        });
    }
    let Some(at) = at else {
        ctx.out().int(-1);
        return;
    };
    let index = if after { at + 1 } else { at };
    let len = update_list(ctx, id, |l| {
        l.insert(index, argv.get(4));
        l.len()
    })
    .unwrap_or(0);
    ctx.key_modified(key);
    ctx.notify(notify::LIST, "linsert", key);
    ctx.out().int(len as i64);
}

// ---------------------------------------------------------------------------------
// Reads.
// ---------------------------------------------------------------------------------

fn llen(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(found) = lookup_list(ctx, argv.get(1), true) else {
        return;
    };
    let n = found.map_or(0, |id| list_len(ctx, id));
    ctx.out().int(n as i64);
}

fn lindex(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ok(found) = lookup_list(ctx, argv.get(1), true) else {
        return;
    };
    let Some(id) = found else {
        ctx.out().null();
        return;
    };
    let Some(index) = arg_i64(ctx, argv, 2) else {
        return;
    };
    let value = list_of(ctx, id).and_then(|l| l.get(resolve_index(index, l.len())?));
    match value {
        Some(v) => ctx.out().bulk(&v),
        None => ctx.out().null(),
    }
}

/// Redis's `addListRangeReply`: elements `start..=end` (negative from the tail,
/// clamped), tail first when `reverse`. Returns (first index, count) replied.
fn reply_range(ctx: &mut Ctx<'_>, id: u32, start: i64, end: i64, reverse: bool) -> (usize, usize) {
    let db = ctx.db();
    let Ctx { client, .. } = ctx;
    let list = match ctx.keyspace.value(db, id) {
        Some(Value::List(l)) => l,
        _ => {
            client.out.array(0);
            return (0, 0);
        }
    };
    let len = list.len() as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= len {
        client.out.array(0);
        return (0, 0);
    }
    if end >= len {
        end = len - 1;
    }
    let count = (end - start + 1) as usize;
    let out = &mut client.out;
    out.array(count);
    let mut left = count;
    let from = if reverse { end } else { start } as usize;
    list.walk(from, reverse, |_, e| {
        out.bulk(e);
        left -= 1;
        left > 0
    });
    (start as usize, count)
}

fn lrange(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(start) = arg_i64(ctx, argv, 2) else {
        return;
    };
    let Some(end) = arg_i64(ctx, argv, 3) else {
        return;
    };
    let Ok(found) = lookup_list(ctx, argv.get(1), true) else {
        return;
    };
    // Planted: the end index taken as exclusive.
    let end = if end > 0 && ctx.server.mutants.is(Mutant::LrangeEndExclusive) {
        end - 1
    } else {
        end
    };
    match found {
        Some(id) => {
            reply_range(ctx, id, start, end, false);
        }
        None => ctx.out().array(0),
    }
}

/// Parses an LPOS option value: an integer, else `msg` (Redis's
/// `getPositiveLongFromObjectOrReply` with a message).
fn non_negative(ctx: &mut Ctx<'_>, arg: &[u8], msg: &str) -> Option<i64> {
    match parse_i64(arg) {
        Some(v) if v >= 0 => Some(v),
        _ => {
            ctx.out().error(msg);
            None
        }
    }
}

fn lpos(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let mut rank: i64 = 1;
    let mut count: i64 = -1;
    let mut maxlen: i64 = 0;
    let mut j = 3;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if argv.is(j, "rank") && more {
            j += 1;
            let Some(r) = arg_i64(ctx, argv, j) else {
                return;
            };
            if r == 0 {
                ctx.out().error("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list");
                return;
            }
            rank = r;
        } else if argv.is(j, "count") && more {
            j += 1;
            let Some(c) = non_negative(ctx, argv.get(j), "ERR COUNT can't be negative") else {
                return;
            };
            count = c;
        } else if argv.is(j, "maxlen") && more {
            j += 1;
            let Some(m) = non_negative(ctx, argv.get(j), "ERR MAXLEN can't be negative") else {
                return;
            };
            maxlen = m;
        } else {
            ctx.out().error(errors::SYNTAX);
            return;
        }
        j += 1;
    }
    // A negative rank searches from the tail. Redis negates in a C long, so
    // LONG_MIN stays negative and then matches the first hit: wrapping_neg keeps that.
    let reverse = rank < 0;
    if reverse {
        rank = rank.wrapping_neg();
    }
    let Ok(found) = lookup_list(ctx, argv.get(1), true) else {
        return;
    };
    let Some(id) = found else {
        if count != -1 {
            ctx.out().array(0);
        } else {
            ctx.out().null();
        }
        return;
    };
    let element = argv.get(2);
    let mut hits: Vec<usize> = Vec::new();
    let mut matches: i64 = 0;
    if let Some(list) = list_of(ctx, id) {
        let len = list.len();
        let from = if reverse { len.saturating_sub(1) } else { 0 };
        let mut scanned: i64 = 0;
        list.walk(from, reverse, |i, e| {
            if maxlen != 0 && scanned >= maxlen {
                return false;
            }
            scanned += 1;
            if e == element {
                matches += 1;
                if matches >= rank {
                    hits.push(i);
                    if count == -1 {
                        return false;
                    }
                    if count != 0 && hits.len() as i64 >= count {
                        return false;
                    }
                }
            }
            !(reverse && i == 0)
        });
    }
    let out = ctx.out();
    if count != -1 {
        out.array(hits.len());
        for h in hits {
            out.int(h as i64);
        }
    } else {
        match hits.first() {
            Some(&h) => out.int(h as i64),
            None => out.null(),
        }
    }
}

// ---------------------------------------------------------------------------------
// Changes in place.
// ---------------------------------------------------------------------------------

fn lset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let key = argv.get(1);
    let Ok(found) = lookup_list(ctx, key, false) else {
        return;
    };
    let Some(id) = found else {
        ctx.out().error(errors::NO_SUCH_KEY);
        return;
    };
    let Some(index) = arg_i64(ctx, argv, 2) else {
        return;
    };
    let element = argv.get(3);
    if element.len() > LIST_MAX_ITEM_BYTES {
        ctx.out().error("ERR Element too large");
        return;
    }
    let replaced = update_list(ctx, id, |l| match resolve_index(index, l.len()) {
        Some(i) => l.set(i, element),
        None => false,
    })
    .unwrap_or(false);
    if !replaced {
        ctx.out().error("ERR index out of range");
        return;
    }
    ctx.out().ok();
    ctx.key_modified(key);
    ctx.notify(notify::LIST, "lset", key);
}

fn lrem(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(count) = arg_i64(ctx, argv, 2) else {
        return;
    };
    let key = argv.get(1);
    let Ok(found) = lookup_list(ctx, key, false) else {
        return;
    };
    let Some(id) = found else {
        ctx.out().int(0);
        return;
    };
    let from = if count < 0 { End::Tail } else { End::Head };
    let mut limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    // Planted: one more removal than asked for.
    if limit != 0 && ctx.server.mutants.is(Mutant::LremRemovesOneTooMany) {
        limit = limit.saturating_add(1);
    }
    let element = argv.get(3);
    let removed = update_list(ctx, id, |l| l.remove_matching(element, limit, from)).unwrap_or(0);
    if removed > 0 {
        ctx.key_modified(key);
        ctx.notify(notify::LIST, "lrem", key);
    }
    delete_if_empty(ctx, key, id);
    ctx.out().int(removed as i64);
}

fn ltrim(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(start) = arg_i64(ctx, argv, 2) else {
        return;
    };
    let Some(end) = arg_i64(ctx, argv, 3) else {
        return;
    };
    let key = argv.get(1);
    let Ok(found) = lookup_list(ctx, key, false) else {
        return;
    };
    let Some(id) = found else {
        ctx.out().ok();
        return;
    };
    let len = list_len(ctx, id) as i64;
    let mut start = if start < 0 { len + start } else { start };
    let mut end = if end < 0 { len + end } else { end };
    if start < 0 {
        start = 0;
    }
    let (ltrim, rtrim) = if start > end || start >= len {
        (len, 0)
    } else {
        if end >= len {
            end = len - 1;
        }
        (start, len - end - 1)
    };
    update_list(ctx, id, |l| {
        l.remove_range(0, ltrim as usize);
        let left = l.len();
        l.remove_range(left.saturating_sub(rtrim as usize), rtrim as usize);
    });
    ctx.notify(notify::LIST, "ltrim", key);
    delete_if_empty(ctx, key, id);
    ctx.key_modified(key);
    ctx.out().ok();
}

// ---------------------------------------------------------------------------------
// Pops.
// ---------------------------------------------------------------------------------

/// Redis's `listPopRangeAndReplyWithKey` minus the key: replies up to `count`
/// elements from `from` and removes them. True when the list was deleted.
fn pop_range_reply(ctx: &mut Ctx<'_>, key: &[u8], id: u32, from: End, count: usize) -> bool {
    let len = list_len(ctx, id);
    let n = count.min(len);
    let (start, end, reverse) = match from {
        End::Head => (0, n as i64 - 1, false),
        End::Tail => (-(n as i64), -1, true),
    };
    reply_range(ctx, id, start, end, reverse);
    update_list(ctx, id, |l| match from {
        End::Head => l.remove_range(0, n),
        End::Tail => l.remove_range(len - n, n),
    });
    elements_removed(ctx, key, id, from)
}

fn pop_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, from: End) {
    if argv.len() > 3 {
        let name = if from == End::Head { "lpop" } else { "rpop" };
        ctx.out().error(&format!(
            "ERR wrong number of arguments for '{name}' command"
        ));
        return;
    }
    let has_count = argv.len() == 3;
    let mut count = 0usize;
    if has_count {
        match parse_i64(argv.get(2)) {
            Some(c) if c >= 0 => count = usize::try_from(c).unwrap_or(usize::MAX),
            _ => {
                ctx.out()
                    .error("ERR value is out of range, must be positive");
                return;
            }
        }
    }
    let key = argv.get(1);
    let Ok(found) = lookup_list(ctx, key, false) else {
        return;
    };
    let Some(id) = found else {
        if has_count {
            ctx.out().null_array();
        } else {
            ctx.out().null();
        }
        return;
    };
    if has_count && count == 0 {
        ctx.out().array(0);
        return;
    }
    if !has_count {
        let value = update_list(ctx, id, |l| l.pop(from)).flatten();
        match value {
            Some(v) => ctx.out().bulk(&v),
            None => ctx.out().null(),
        }
        elements_removed(ctx, key, id, from);
        return;
    }
    // Planted: one element short when a count is given.
    if count > 1 && ctx.server.mutants.is(Mutant::PopCountOneShort) {
        count -= 1;
    }
    pop_range_reply(ctx, key, id, from, count);
}

fn lpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    pop_generic(ctx, argv, End::Head);
}

fn rpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    pop_generic(ctx, argv, End::Tail);
}

fn where_arg(ctx: &mut Ctx<'_>, arg: &[u8]) -> Option<End> {
    if arg.eq_ignore_ascii_case(b"left") {
        Some(End::Head)
    } else if arg.eq_ignore_ascii_case(b"right") {
        Some(End::Tail)
    } else {
        ctx.out().error(errors::SYNTAX);
        None
    }
}

/// Redis's `lmoveHandlePush`: pushes `value` onto `dst` (created when missing) and
/// replies with it. `dst_id`: the destination's slot, None when absent.
fn lmove_push(ctx: &mut Ctx<'_>, dst: &[u8], dst_id: Option<u32>, value: &[u8], to: End) {
    let id = match dst_id {
        Some(id) => id,
        None => create_list(ctx, dst),
    };
    ctx.key_modified(dst);
    update_list(ctx, id, |l| l.push(value, to));
    ctx.notify(notify::LIST, push_event(to), dst);
    ctx.out().bulk(value);
}

/// Redis's `lmoveGenericCommand` once the source is known to be a non-empty list in
/// slot `src_id`: checks the destination, moves one element, replies.
fn lmove_from(ctx: &mut Ctx<'_>, src: &[u8], src_id: u32, dst: &[u8], from: End, to: End) {
    let Ok(dst_found) = lookup_list(ctx, dst, false) else {
        return;
    };
    let Some(value) = update_list(ctx, src_id, |l| l.pop(from)).flatten() else {
        ctx.out().null();
        return;
    };
    // The source slot may be the destination: it stays alive until the emptiness
    // check below, which runs after the push as in Redis.
    lmove_push(ctx, dst, dst_found, &value, to);
    ctx.notify(notify::LIST, pop_event(from), src);
    let db = ctx.db();
    let src_id_now = ctx.keyspace.db(db).find(src);
    if let Some(id) = src_id_now {
        delete_if_empty(ctx, src, id);
    }
    ctx.key_modified(src);
}

fn lmove_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, from: End, to: End) {
    let src = argv.get(1);
    let Ok(found) = lookup_list(ctx, src, false) else {
        return;
    };
    match found {
        Some(id) if list_len(ctx, id) > 0 => lmove_from(ctx, src, id, argv.get(2), from, to),
        _ => ctx.out().null(),
    }
}

fn lmove(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(from) = where_arg(ctx, argv.get(3)) else {
        return;
    };
    let Some(to) = where_arg(ctx, argv.get(4)) else {
        return;
    };
    lmove_generic(ctx, argv, from, to);
}

fn rpoplpush(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    lmove_generic(ctx, argv, End::Tail, End::Head);
}

/// LMPOP/BLMPOP arguments: keys, side and count, parsed as Redis's
/// `lmpopGenericCommand` with `numkeys` at argument `numkeys_at`.
struct MpopArgs {
    first_key: usize,
    numkeys: usize,
    from: End,
    count: usize,
}

fn parse_mpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>, numkeys_at: usize) -> Option<MpopArgs> {
    let numkeys = match parse_i64(argv.get(numkeys_at)) {
        Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
        _ => {
            ctx.out().error("ERR numkeys should be greater than 0");
            return None;
        }
    };
    let where_at = numkeys_at
        .checked_add(numkeys)
        .and_then(|w| w.checked_add(1))
        .filter(|&w| w < argv.len());
    let Some(where_at) = where_at else {
        ctx.out().error(errors::SYNTAX);
        return None;
    };
    let from = where_arg(ctx, argv.get(where_at))?;
    let mut count: Option<usize> = None;
    let mut j = where_at + 1;
    while j < argv.len() {
        if count.is_none() && argv.is(j, "count") && j + 1 < argv.len() {
            j += 1;
            match parse_i64(argv.get(j)) {
                Some(c) if c > 0 => count = Some(usize::try_from(c).unwrap_or(usize::MAX)),
                _ => {
                    ctx.out().error("ERR count should be greater than 0");
                    return None;
                }
            }
        } else {
            ctx.out().error(errors::SYNTAX);
            return None;
        }
        j += 1;
    }
    Some(MpopArgs {
        first_key: numkeys_at + 1,
        numkeys,
        from,
        count: count.unwrap_or(1),
    })
}

/// Pops from the first non-empty list of `keys`, replying [key, [elements]]. Ok(true)
/// when served, Ok(false) when every list is empty or missing, Err on WRONGTYPE.
fn mpop_first(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    keys: std::ops::Range<usize>,
    from: End,
    count: usize,
) -> Result<bool, ()> {
    for j in keys {
        let key = argv.get(j);
        let Some(id) = lookup_list(ctx, key, false)? else {
            continue;
        };
        if list_len(ctx, id) == 0 {
            continue;
        }
        // LMPOP and BLMPOP replay as the pop they did on the key that had elements.
        ctx.propagate_as(|| {
            blocking::served_as(key, &BlockedOp::List(ListTarget::MultiPop { from, count }))
        });
        ctx.out().array(2);
        ctx.out().bulk(key);
        pop_range_reply(ctx, key, id, from, count);
        return Ok(true);
    }
    Ok(false)
}

fn lmpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(a) = parse_mpop(ctx, argv, 1) else {
        return;
    };
    let keys = a.first_key..a.first_key + a.numkeys;
    if let Ok(false) = mpop_first(ctx, argv, keys, a.from, a.count) {
        ctx.out().null_array();
    }
}

// ---------------------------------------------------------------------------------
// Blocking variants: serve at once when a list has elements, else park the client.
// ---------------------------------------------------------------------------------

/// Redis's `getTimeoutFromObjectOrReply` in seconds: milliseconds, 0 for none.
pub(crate) fn timeout_arg(ctx: &mut Ctx<'_>, arg: &[u8]) -> Option<u64> {
    let secs = match crate::longdouble::parse(arg) {
        Some(crate::longdouble::Parsed::Finite(f)) => {
            // (-1)^neg * mantissa * 2^exp; overflow to infinity reads as out of range.
            let (neg, mantissa, exp) = f.parts();
            let mut v = mantissa as f64 * 2f64.powi(exp);
            if v == 0.0 && mantissa != 0 {
                // Below f64's range but not zero: still rounds up to 1 ms.
                v = f64::MIN_POSITIVE;
            }
            Some(if neg { -v } else { v })
        }
        // `(long long)` of an infinite long double is LLONG_MIN on x86: "negative".
        Some(crate::longdouble::Parsed::Infinite { .. }) => Some(f64::NEG_INFINITY),
        None => None,
    };
    let Some(secs) = secs else {
        ctx.out()
            .error("ERR timeout is not a float or out of range");
        return None;
    };
    let ms = (secs * 1000.0).ceil();
    // The C cast of an out-of-range value gives LLONG_MIN, which reads as negative.
    if !(ms > -1.0 && ms < 9.223_372_036_854_775e18) {
        ctx.out().error("ERR timeout is negative");
        return None;
    }
    Some(ms.max(0.0) as u64)
}

/// The absolute deadline (monotonic ms) of a relative timeout; 0 blocks forever.
pub(crate) fn deadline(ctx: &Ctx<'_>, timeout_ms: u64) -> u64 {
    if timeout_ms == 0 {
        0
    } else if ctx.server.mutants.is(Mutant::BlockTimeoutHalved) {
        ctx.now.mono_ms.saturating_add(timeout_ms / 2)
    } else {
        ctx.now.mono_ms.saturating_add(timeout_ms)
    }
}

fn bpop_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, from: End) {
    let Some(timeout_ms) = timeout_arg(ctx, argv.get(argv.len() - 1)) else {
        return;
    };
    for j in 1..argv.len() - 1 {
        let key = argv.get(j);
        let Ok(found) = lookup_list(ctx, key, false) else {
            return;
        };
        let Some(id) = found.filter(|&id| list_len(ctx, id) > 0) else {
            continue;
        };
        let value = update_list(ctx, id, |l| l.pop(from)).flatten();
        // Served at once: it replays as the pop it was (Redis 7.0 rewrites BLPOP).
        ctx.propagate_as(|| blocking::served_as(key, &BlockedOp::List(ListTarget::Pop { from })));
        let out = ctx.out();
        out.array(2);
        out.bulk(key);
        out.bulk(value.as_deref().unwrap_or(b""));
        elements_removed(ctx, key, id, from);
        return;
    }
    if ctx.client.may_not_block() {
        ctx.out().null_array();
        return;
    }
    let keys: Vec<Vec<u8>> = (1..argv.len() - 1).map(|j| argv.get(j).to_vec()).collect();
    let deadline = deadline(ctx, timeout_ms);
    ctx.block(keys, deadline, BlockedOp::List(ListTarget::Pop { from }));
}

fn blpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    bpop_generic(ctx, argv, End::Head);
}

fn brpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    bpop_generic(ctx, argv, End::Tail);
}

fn blmove_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, from: End, to: End, timeout_at: usize) {
    let Some(timeout_ms) = timeout_arg(ctx, argv.get(timeout_at)) else {
        return;
    };
    let src = argv.get(1);
    let Ok(found) = lookup_list(ctx, src, false) else {
        return;
    };
    if let Some(id) = found.filter(|&id| list_len(ctx, id) > 0) {
        ctx.propagate_as(|| {
            let dst = argv.get(2).to_vec();
            blocking::served_as(src, &BlockedOp::List(ListTarget::Move { from, to, dst }))
        });
        lmove_from(ctx, src, id, argv.get(2), from, to);
        return;
    }
    if ctx.client.may_not_block() {
        ctx.out().null();
        return;
    }
    let deadline = deadline(ctx, timeout_ms);
    let target = ListTarget::Move {
        from,
        to,
        dst: argv.get(2).to_vec(),
    };
    ctx.block(vec![src.to_vec()], deadline, BlockedOp::List(target));
}

fn blmove(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(from) = where_arg(ctx, argv.get(3)) else {
        return;
    };
    let Some(to) = where_arg(ctx, argv.get(4)) else {
        return;
    };
    blmove_generic(ctx, argv, from, to, 5);
}

fn brpoplpush(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    blmove_generic(ctx, argv, End::Tail, End::Head, 3);
}

fn blmpop(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(a) = parse_mpop(ctx, argv, 2) else {
        return;
    };
    let Some(timeout_ms) = timeout_arg(ctx, argv.get(1)) else {
        return;
    };
    let keys = a.first_key..a.first_key + a.numkeys;
    match mpop_first(ctx, argv, keys.clone(), a.from, a.count) {
        Err(()) | Ok(true) => return,
        Ok(false) => {}
    }
    if ctx.client.may_not_block() {
        ctx.out().null_array();
        return;
    }
    let keys: Vec<Vec<u8>> = keys.map(|j| argv.get(j).to_vec()).collect();
    let deadline = deadline(ctx, timeout_ms);
    let target = ListTarget::MultiPop {
        from: a.from,
        count: a.count,
    };
    ctx.block(keys, deadline, BlockedOp::List(target));
}

/// Serves a client blocked on `key` (a non-empty list in slot `id`), as Redis's
/// `serveClientBlockedOnList`. The reply goes to `ctx.client`. Returns true when the
/// list was deleted (emptied).
pub(crate) fn serve_blocked(ctx: &mut Ctx<'_>, key: &[u8], id: u32, target: &ListTarget) -> bool {
    match target {
        ListTarget::Pop { from } => {
            let value = update_list(ctx, id, |l| l.pop(*from)).flatten();
            let out = ctx.out();
            out.array(2);
            out.bulk(key);
            out.bulk(value.as_deref().unwrap_or(b""));
            elements_removed(ctx, key, id, *from)
        }
        ListTarget::MultiPop { from, count } => {
            ctx.out().array(2);
            ctx.out().bulk(key);
            pop_range_reply(ctx, key, id, *from, *count)
        }
        ListTarget::Move { from, to, dst } => {
            let Ok(dst_found) = lookup_list(ctx, dst, false) else {
                // WRONGTYPE went to the blocked client, which is unblocked with it.
                return false;
            };
            let Some(value) = update_list(ctx, id, |l| l.pop(*from)).flatten() else {
                return false;
            };
            lmove_push(ctx, dst, dst_found, &value, *to);
            ctx.notify(notify::LIST, pop_event(*from), key);
            let db = ctx.db();
            let deleted = match ctx.keyspace.db(db).find(key) {
                Some(id) => delete_if_empty(ctx, key, id),
                None => false,
            };
            ctx.key_modified(key);
            deleted
        }
    }
}

/// The slot of `key` in the client's database when it is a list with elements.
pub(crate) fn is_ready(ctx: &mut Ctx<'_>, key: &[u8]) -> Option<u32> {
    let db = ctx.db();
    let id = ctx.keyspace.lookup(db, key, ctx.now.wall_ms)?;
    match ctx.keyspace.value(db, id) {
        Some(Value::List(l)) if !l.is_empty() => Some(id),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::Kit;

    #[test]
    fn resolve_index_like_redis() {
        assert_eq!(resolve_index(0, 3), Some(0));
        assert_eq!(resolve_index(-1, 3), Some(2));
        assert_eq!(resolve_index(-3, 3), Some(0));
        assert_eq!(resolve_index(-4, 3), None);
        assert_eq!(resolve_index(3, 3), None);
        assert_eq!(resolve_index(i64::MIN, 3), None);
        assert_eq!(resolve_index(i64::MAX, 3), None);
    }

    /// Runs `lines` on the kit's node, one connection; returns the replies.
    fn run(kit: &mut Kit, lines: &[&str]) -> String {
        kit.connect(1);
        lines.iter().map(|line| kit.cmd(1, line)).collect()
    }

    #[test]
    fn lrem_removes_exactly_count() {
        let mut node = Kit::new("");
        let out = run(
            &mut node,
            &[
                "RPUSH l a b a c a",
                "LREM l 2 a",
                "LRANGE l 0 -1",
                "LREM l -1 a",
                "LREM l 0 zz",
            ],
        );
        assert_eq!(
            out,
            ":5\r\n:2\r\n*3\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\na\r\n:1\r\n:0\r\n"
        );
    }

    #[cfg(feature = "mutants")]
    #[test]
    fn planted_lrem_removes_one_too_many() {
        let mut node = Kit::new("");
        node.node().set_mutant(Some(Mutant::LremRemovesOneTooMany));
        let out = run(
            &mut node,
            &["RPUSH l a b a c a", "LREM l 1 a", "LLEN l", "LREM l 0 a"],
        );
        // Two removed where one was asked for; count 0 (all) is unaffected.
        assert_eq!(out, ":5\r\n:2\r\n:3\r\n:1\r\n");
    }
}
