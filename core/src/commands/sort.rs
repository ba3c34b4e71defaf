//! SORT and SORT_RO (Redis 7.0's `sort.c`): numeric or ALPHA order, DESC, LIMIT, BY
//! and GET patterns (`*` substitution, `->field` of a hash, `#` for the element), and
//! STORE. The source's elements come through `sort_source`, the one place that knows
//! value types. Nothing here panics on client input.

use super::keyspec::GetKeysProc;
use super::{cmd, errors, Argv, CommandSpec, Ctx};
use crate::notify;
use crate::types::set::Member;
use crate::types::zset::score_cmp;
use crate::types::Value;
use crate::util::parse_i64;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("sort", -2, [WRITE, DENYOOM, MOVABLEKEYS], sort, getkeys: GetKeysProc::Sort),
    cmd!("sort_ro", -2, [READONLY, MOVABLEKEYS], sort_ro, getkeys: GetKeysProc::SortRo),
];

/// The elements SORT works on.
pub(crate) struct SortSource {
    pub elements: Vec<Vec<u8>>,
    /// True for lists and sorted sets: without sorting (BY a constant), their own
    /// order is kept (reversed by DESC), as Redis; a set's order is not meaningful.
    pub ordered: bool,
}

/// The elements of the value to sort; a missing key is an empty list, as Redis.
/// `Err(())` for a type SORT does not accept (WRONGTYPE). A sorted set comes by rank,
/// `ordered`.
pub(crate) fn sort_source(value: Option<&Value>) -> Result<SortSource, ()> {
    match value {
        None => Ok(SortSource {
            elements: Vec::new(),
            ordered: true,
        }),
        Some(Value::Set(s)) => Ok(SortSource {
            elements: s.iter().map(Member::to_vec).collect(),
            ordered: false,
        }),
        Some(Value::ZSet(z)) => Ok(SortSource {
            elements: z.entries().into_iter().map(|(m, _)| m.to_vec()).collect(),
            ordered: true,
        }),
        Some(Value::List(l)) => Ok(SortSource {
            elements: l.iter_values().collect(),
            ordered: true,
        }),
        Some(Value::Str(_) | Value::Hash(_)) => Err(()),
    }
}

/// Writes a SORT ... STORE result as Redis's `setKey` does: a list replacing whatever
/// `dst` held (TTL dropped); an empty result deletes `dst`. Replies with the count.
fn store_list(ctx: &mut Ctx<'_>, dst: &[u8], items: Vec<Vec<u8>>) {
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    if items.is_empty() {
        if ctx.keyspace.delete(db, dst, now_ms) {
            ctx.key_modified(dst);
            ctx.notify(notify::GENERIC, "del", dst);
        }
        ctx.out().int(0);
        return;
    }
    let value = super::lists::list_value(ctx, &items);
    ctx.keyspace.set(db, dst, value, false, now_ms);
    ctx.key_modified(dst);
    ctx.notify(notify::LIST, "sortstore", dst);
    ctx.out().int(items.len() as i64);
}

fn sort(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    sort_generic(ctx, argv, false);
}

fn sort_ro(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    sort_generic(ctx, argv, true);
}

struct SortOptions<'a> {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    store: Option<&'a [u8]>,
    by: Option<&'a [u8]>,
    /// BY a pattern without `*`: nothing to sort by.
    dont_sort: bool,
    gets: Vec<&'a [u8]>,
}

/// Parses SORT's options as Redis does, writing the error on a bad one.
fn parse_options<'a>(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'a>,
    readonly: bool,
) -> Option<SortOptions<'a>> {
    let mut o = SortOptions {
        desc: false,
        alpha: false,
        limit: None,
        store: None,
        by: None,
        dont_sort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        if argv.is(j, "asc") {
            o.desc = false;
        } else if argv.is(j, "desc") {
            o.desc = true;
        } else if argv.is(j, "alpha") {
            o.alpha = true;
        } else if argv.is(j, "limit") && left >= 2 {
            let (Some(start), Some(count)) =
                (parse_i64(argv.get(j + 1)), parse_i64(argv.get(j + 2)))
            else {
                ctx.out().error(errors::NOT_INTEGER);
                return None;
            };
            o.limit = Some((start, count));
            j += 2;
        } else if !readonly && argv.is(j, "store") && left >= 1 {
            o.store = Some(argv.get(j + 1));
            j += 1;
        } else if argv.is(j, "by") && left >= 1 {
            let pattern = argv.get(j + 1);
            o.by = Some(pattern);
            o.dont_sort = !c_str(pattern).contains(&b'*');
            j += 1;
        } else if argv.is(j, "get") && left >= 1 {
            o.gets.push(argv.get(j + 1));
            j += 1;
        } else {
            ctx.out().error(errors::SYNTAX);
            return None;
        }
        j += 1;
    }
    Some(o)
}

/// The bytes C string functions see: up to the first NUL.
fn c_str(b: &[u8]) -> &[u8] {
    // `split` yields at least one piece, the bytes before the first NUL.
    b.split(|&c| c == 0).next().unwrap_or(b)
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the first `*`
/// takes the element, and a `->field` after it reads that field of a hash; a string
/// key gives its value. None when there is no `*`, no key, or the wrong type.
fn lookup_by_pattern(ctx: &mut Ctx<'_>, pattern: &[u8], element: &[u8]) -> Option<Vec<u8>> {
    let spat = c_str(pattern);
    if spat == b"#" {
        return Some(element.to_vec());
    }
    let star = spat.iter().position(|&c| c == b'*')?;
    let (prefix, from_star) = pattern.split_at_checked(star)?;
    let after_star = from_star.get(1..).unwrap_or_default();
    let after = spat.get(star + 1..).unwrap_or_default();
    // `->` with a non-empty field name after it; the field runs to the end of the
    // pattern, the key stops before the arrow.
    let arrow = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&f| after.len() > f + 2);
    let (key_tail, field) = match arrow {
        Some(f) => (
            after_star.get(..f).unwrap_or_default(),
            Some(after_star.get(f + 2..).unwrap_or_default()),
        ),
        None => (after_star, None),
    };
    let mut key = Vec::with_capacity(prefix.len() + element.len() + key_tail.len());
    key.extend_from_slice(prefix);
    key.extend_from_slice(element);
    key.extend_from_slice(key_tail);
    let db = ctx.db();
    let (now_ms, secs) = (ctx.now.wall_ms, ctx.now.mono_secs());
    let found = if ctx.client.no_touch {
        ctx.keyspace.lookup(db, &key, now_ms)
    } else {
        ctx.keyspace.lookup_touch(db, &key, now_ms, secs)
    };
    match found {
        Some(_) => ctx.server.stats.keyspace_hits += 1,
        None => ctx.server.stats.keyspace_misses += 1,
    }
    match (ctx.keyspace.value(db, found?)?, field) {
        (Value::Str(s), None) => Some(s.to_vec()),
        (Value::Hash(h), Some(f)) => h.get(f).map(std::borrow::Cow::into_owned),
        _ => None,
    }
}

/// A SORT score as Redis 7.0's `sortCommandGeneric` reads one: `strtod` over the C
/// string (up to a NUL), failing on anything left unread, ERANGE (overflow, or an
/// inexact subnormal) or NaN. An empty text is 0, as strtod leaves it.
///
/// Redis does not clear `errno` before this strtod, so an ERANGE left by an earlier
/// strtod in the same event-loop turn (a subnormal ZADD score, in a pipeline or a
/// MULTI) fails a SORT of plain numbers. keel does not model that stale errno.
fn sort_score(text: &[u8]) -> Option<f64> {
    let s = c_str(text);
    let r = crate::strtod::strtod(s);
    (r.consumed == s.len() && !r.erange && !r.value.is_nan()).then_some(r.value)
}

/// One element with what it sorts by.
struct Item {
    element: Vec<u8>,
    score: f64,
    /// The BY value for ALPHA BY (None when the key is missing).
    by_value: Option<Vec<u8>>,
}

fn sort_generic(ctx: &mut Ctx<'_>, argv: &Argv<'_>, readonly: bool) {
    let Some(mut o) = parse_options(ctx, argv, readonly) else {
        return;
    };
    let db = ctx.db();
    let key = argv.get(1);
    let (now_ms, secs) = (ctx.now.wall_ms, ctx.now.mono_secs());
    let found = if ctx.client.no_touch {
        ctx.keyspace.lookup(db, key, now_ms)
    } else {
        ctx.keyspace.lookup_touch(db, key, now_ms, secs)
    };
    match found {
        Some(_) => ctx.server.stats.keyspace_hits += 1,
        None => ctx.server.stats.keyspace_misses += 1,
    }
    let value = found.and_then(|id| ctx.keyspace.value(db, id));
    let Ok(source) = sort_source(value) else {
        ctx.out().error(errors::WRONGTYPE);
        return;
    };
    // Redis destructively converts the sorted set it sorts to a skiplist.
    if let Some(id) = found.filter(|_| matches!(value, Some(Value::ZSet(_)))) {
        super::zsets::convert_for_sort(ctx, id);
    }
    // A set stored without sorting would store an arbitrary order: Redis sorts it
    // ALPHA instead.
    if o.dont_sort && !source.ordered && o.store.is_some() {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    let len = source.elements.len() as i64;
    let (limit_start, limit_count) = o.limit.unwrap_or((0, -1));
    let mut start = limit_start.max(0);
    let mut end = if limit_count < 0 {
        len - 1
    } else {
        start.saturating_add(limit_count).saturating_sub(1)
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    if end >= len {
        end = len - 1;
    }
    let mut elements = source.elements;
    if o.dont_sort && source.ordered && o.desc {
        elements.reverse();
    }
    let mut items: Vec<Item> = elements
        .into_iter()
        .map(|element| Item {
            element,
            score: 0.0,
            by_value: None,
        })
        .collect();
    if !o.dont_sort {
        let mut conversion_error = false;
        for item in &mut items {
            let by_value = match o.by {
                Some(pattern) => match lookup_by_pattern(ctx, pattern, &item.element) {
                    Some(v) => Some(v),
                    None => continue,
                },
                None => None,
            };
            if o.alpha {
                item.by_value = by_value;
            } else {
                match sort_score(by_value.as_deref().unwrap_or(&item.element)) {
                    Some(score) => item.score = score,
                    None => conversion_error = true,
                }
            }
        }
        if conversion_error {
            // Redis sorts and then replies with the error: the order is never seen.
            ctx.out()
                .error("ERR One or more scores can't be converted into double");
            return;
        }
        sort_items(&mut items, &o);
    }
    let range: &[Item] = if end >= start && start >= 0 {
        items.get(start as usize..=end as usize).unwrap_or_default()
    } else {
        &[]
    };
    match o.store {
        None => {
            let per = o.gets.len().max(1);
            let mut rows: Vec<Option<Vec<u8>>> = Vec::with_capacity(range.len() * per);
            for item in range {
                if o.gets.is_empty() {
                    rows.push(Some(item.element.clone()));
                }
                for pattern in &o.gets {
                    rows.push(lookup_by_pattern(ctx, pattern, &item.element));
                }
            }
            let out = ctx.out();
            out.array(rows.len());
            for row in rows {
                match row {
                    Some(v) => out.bulk(&v),
                    None => out.null(),
                }
            }
        }
        Some(dst) => {
            let mut list = Vec::new();
            for item in range {
                if o.gets.is_empty() {
                    list.push(item.element.clone());
                }
                for pattern in &o.gets {
                    list.push(lookup_by_pattern(ctx, pattern, &item.element).unwrap_or_default());
                }
            }
            store_list(ctx, dst, list);
        }
    }
}

/// Redis's `sortCompare`: numeric by score, ties by the element's bytes; ALPHA by the
/// element, or by the BY value with missing values first. DESC reverses.
fn sort_items(items: &mut [Item], o: &SortOptions<'_>) {
    use std::cmp::Ordering;
    let by_pattern = o.by.is_some();
    items.sort_by(|a, b| {
        let cmp = if !o.alpha {
            // A total order even over NaN, though no NaN score gets here (it is a
            // conversion error): Rust's sort may panic on a comparator that is not.
            score_cmp(a.score, b.score).then_with(|| a.element.cmp(&b.element))
        } else if by_pattern {
            match (&a.by_value, &b.by_value) {
                (Some(x), Some(y)) => x.cmp(y),
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Less,
                (Some(_), None) => Ordering::Greater,
            }
        } else {
            a.element.cmp(&b.element)
        };
        if o.desc {
            cmp.reverse()
        } else {
            cmp
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{sort_items, sort_score, Item, SortOptions};
    use proptest::prelude::*;

    proptest! {
        /// Any scores, NaN of any sign and payload included, under every option that
        /// changes the comparator: sorting never panics and leaves a sorted run.
        #[test]
        fn sorting_any_score_bits_never_panics(
            raw in proptest::collection::vec((any::<u64>(), 0u8..3, proptest::option::of(0u8..3)), 0..100),
            desc: bool,
            alpha: bool,
            by: bool,
        ) {
            let mut items: Vec<Item> = raw
                .iter()
                .map(|&(bits, e, by_value)| Item {
                    element: vec![e],
                    score: f64::from_bits(bits),
                    by_value: by_value.map(|b| vec![b]),
                })
                .collect();
            let o = SortOptions {
                desc,
                alpha,
                limit: None,
                store: None,
                by: by.then_some(&b"w_*"[..]),
                dont_sort: false,
                gets: Vec::new(),
            };
            sort_items(&mut items, &o);
            let again: Vec<(u64, Vec<u8>)> =
                items.iter().map(|i| (i.score.to_bits(), i.element.clone())).collect();
            sort_items(&mut items, &o);
            let twice: Vec<(u64, Vec<u8>)> =
                items.iter().map(|i| (i.score.to_bits(), i.element.clone())).collect();
            // A total order sorts a sorted run into itself (the sort is stable).
            prop_assert_eq!(again, twice);
        }
    }

    #[test]
    fn scores_parse_like_strtod() {
        for (text, want) in [
            (&b"1"[..], Some(1.0)),
            (b"-2.5", Some(-2.5)),
            (b" 3", Some(3.0)),
            (b"+4e2", Some(400.0)),
            (b".5", Some(0.5)),
            (b"5.", Some(5.0)),
            (b"0x10", Some(16.0)),
            (b"0x1p4", Some(16.0)),
            (b"inf", Some(f64::INFINITY)),
            (b"-Infinity", Some(f64::NEG_INFINITY)),
            (b"", Some(0.0)),
            (b"1\0junk", Some(1.0)),
            (b"1e", None),
            (b"1 ", None),
            (b" ", None),
            (b"abc", None),
            (b"nan", None),
            (b"1e400", None),
            (b"1e-400", None),
            (b"0e-400", Some(0.0)),
            // An exact subnormal sets no ERANGE; an inexact one does, and SORT fails.
            (b"0x1p-1074", Some(5e-324)),
            (b"1e-310", None),
            (b"0x1000000000p-1050", Some(5.696189077778436e-306)),
            (b"0x", None),
            (b"--1", None),
        ] {
            assert_eq!(
                sort_score(text),
                want,
                "{:?}",
                String::from_utf8_lossy(text)
            );
        }
    }
}
