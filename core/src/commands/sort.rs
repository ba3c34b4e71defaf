//! SORT and SORT_RO (Redis 7.0's `sort.c`): numeric or ALPHA order, DESC, LIMIT, BY
//! and GET patterns (`*` substitution, `->field` of a hash, `#` for the element), and
//! STORE. The source's elements come through `sort_source`, the one place that knows
//! value types. Nothing here panics on client input.

use super::{cmd, errors, Argv, CommandSpec, Ctx};
use crate::notify;
use crate::types::set::Member;
use crate::types::Value;
use crate::util::parse_i64;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "sort",
        -2,
        ["write", "denyoom", "movablekeys"],
        1,
        1,
        1,
        "generic",
        "1.0.0",
        "Sort the elements in a list, set or sorted set",
        sort
    ),
    cmd!(
        "sort_ro",
        -2,
        ["readonly", "movablekeys"],
        1,
        1,
        1,
        "generic",
        "7.0.0",
        "Sort the elements in a list, set or sorted set. Read-only variant of SORT.",
        sort_ro
    ),
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
        if ctx.node.keyspace.delete(db, dst, now_ms) {
            ctx.key_modified(dst);
            ctx.notify(notify::GENERIC, "del", dst);
        }
        ctx.out().int(0);
        return;
    }
    let value = super::lists::list_value(ctx, &items);
    ctx.node.keyspace.set(db, dst, value, false, now_ms);
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
    b.iter().position(|&c| c == 0).map_or(b, |i| &b[..i])
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
    let after = &spat[star + 1..];
    let field = after
        .windows(2)
        .position(|w| w == b"->")
        .filter(|&f| after.len() > f + 2)
        .map(|f| (star + 1 + f, &pattern[star + 1 + f + 2..]));
    let key_end = field.map_or(pattern.len(), |(f, _)| f);
    let mut key = Vec::with_capacity(key_end + element.len());
    key.extend_from_slice(&pattern[..star]);
    key.extend_from_slice(element);
    key.extend_from_slice(pattern.get(star + 1..key_end).unwrap_or_default());
    let db = ctx.db();
    let (now_ms, secs) = (ctx.now.wall_ms, ctx.now.mono_secs());
    let found = if ctx.client.no_touch {
        ctx.node.keyspace.lookup(db, &key, now_ms)
    } else {
        ctx.node.keyspace.lookup_touch(db, &key, now_ms, secs)
    };
    match found {
        Some(_) => ctx.node.stats.keyspace_hits += 1,
        None => ctx.node.stats.keyspace_misses += 1,
    }
    match (ctx.node.keyspace.value(db, found?)?, field) {
        (Value::Str(s), None) => Some(s.to_vec()),
        (Value::Hash(h), Some((_, f))) => h.get(f).map(<[u8]>::to_vec),
        _ => None,
    }
}

/// C's `strtod` as Redis's SORT uses it: Some(score) when the whole text (up to a
/// NUL) is a number, None when Redis reports "can't be converted" (trailing bytes,
/// NaN, overflow or underflow). An empty text is 0, as strtod leaves it.
fn sort_score(text: &[u8]) -> Option<f64> {
    let s = c_str(text);
    let mut i = s
        .iter()
        .take_while(|c| b" \t\n\x0b\x0c\r".contains(c))
        .count();
    let body_start = i;
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let rest = &s[i..];
    let lower: Vec<u8> = rest.iter().take(8).map(u8::to_ascii_lowercase).collect();
    let sign = if neg { -1.0 } else { 1.0 };
    if lower.starts_with(b"nan") {
        return None;
    }
    if lower.starts_with(b"inf") {
        let used = if lower.starts_with(b"infinity") { 8 } else { 3 };
        return (rest.len() == used).then_some(sign * f64::INFINITY);
    }
    let (value, used, nonzero) = if (lower.starts_with(b"0x")) && hex_digits(&rest[2..]) > 0 {
        parse_hex(&rest[2..]).map(|(v, n, nz)| (v, n + 2, nz))?
    } else {
        let (v, n, nz) = parse_decimal(rest)?;
        if n == 0 {
            // No conversion: strtod points back at the start of the text.
            return (body_start == 0 && s.is_empty()).then_some(0.0);
        }
        (v, n, nz)
    };
    if used != rest.len() {
        return None;
    }
    if value.is_infinite() || (nonzero && (value == 0.0 || value.abs() < f64::MIN_POSITIVE)) {
        return None; // ERANGE
    }
    Some(sign * value)
}

fn hex_digits(s: &[u8]) -> usize {
    s.iter().take_while(|c| c.is_ascii_hexdigit()).count()
}

/// A decimal float at the start of `s`: (value, bytes used, any nonzero digit).
fn parse_decimal(s: &[u8]) -> Option<(f64, usize, bool)> {
    let int_digits = s.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut n = int_digits;
    let mut frac_digits = 0;
    if s.get(n) == Some(&b'.') {
        frac_digits = s[n + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if int_digits + frac_digits > 0 {
            n += 1 + frac_digits;
        }
    }
    if int_digits + frac_digits == 0 {
        return Some((0.0, 0, false));
    }
    if matches!(s.get(n), Some(b'e' | b'E')) {
        let mut e = n + 1;
        if matches!(s.get(e), Some(b'+' | b'-')) {
            e += 1;
        }
        let exp_digits = s[e.min(s.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if exp_digits > 0 {
            n = e + exp_digits;
        }
    }
    let text = std::str::from_utf8(&s[..n]).ok()?;
    let nonzero = s[..int_digits + frac_digits + usize::from(frac_digits > 0)]
        .iter()
        .any(|c| (b'1'..=b'9').contains(c));
    Some((text.parse::<f64>().ok()?, n, nonzero))
}

/// A hex float's digits after `0x`: (value, bytes used, any nonzero digit).
fn parse_hex(s: &[u8]) -> Option<(f64, usize, bool)> {
    let mut value = 0f64;
    let mut n = 0;
    let mut scale = 0i32;
    let mut nonzero = false;
    let mut seen_dot = false;
    while let Some(&c) = s.get(n) {
        if c == b'.' && !seen_dot {
            seen_dot = true;
            n += 1;
            continue;
        }
        let Some(d) = (c as char).to_digit(16) else {
            break;
        };
        nonzero |= d != 0;
        value = value * 16.0 + f64::from(d);
        if seen_dot {
            scale -= 4;
        }
        n += 1;
    }
    if matches!(s.get(n), Some(b'p' | b'P')) {
        let mut e = n + 1;
        let neg = s.get(e) == Some(&b'-');
        if matches!(s.get(e), Some(b'+' | b'-')) {
            e += 1;
        }
        let digits = s[e.min(s.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits > 0 {
            let exp: i32 = std::str::from_utf8(&s[e..e + digits])
                .ok()?
                .parse()
                .unwrap_or(i32::MAX);
            scale = scale.saturating_add(if neg { -exp } else { exp });
            n = e + digits;
        }
    }
    Some((value * 2f64.powi(scale), n, nonzero))
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
        ctx.node.keyspace.lookup(db, key, now_ms)
    } else {
        ctx.node.keyspace.lookup_touch(db, key, now_ms, secs)
    };
    match found {
        Some(_) => ctx.node.stats.keyspace_hits += 1,
        None => ctx.node.stats.keyspace_misses += 1,
    }
    let value = found.and_then(|id| ctx.node.keyspace.value(db, id));
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
        sort_items(&mut items, &o);
        if conversion_error {
            ctx.out()
                .error("ERR One or more scores can't be converted into double");
            return;
        }
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
            a.score
                .partial_cmp(&b.score)
                .unwrap_or(Ordering::Equal)
                .then_with(|| a.element.cmp(&b.element))
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
    use super::sort_score;

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
