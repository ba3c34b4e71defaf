//! Where a command's keys are: Redis 7.0's key specs (begin_search + find_keys), the
//! legacy first/last/step range derived from them, and the getkeys procedures for the
//! commands whose keys the specs cannot find alone. Reads arguments, never the keyspace;
//! every index is checked (a client controls `numkeys`).

use super::flags::KeySpecFlags;
use super::Argv;

/// One key spec, as Redis's `keySpec`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeySpec {
    pub notes: Option<&'static str>,
    pub flags: KeySpecFlags,
    pub begin_search: BeginSearch,
    pub find_keys: FindKeys,
}

/// Where the search for a spec's keys starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BeginSearch {
    /// At this argument.
    Index(i32),
    /// After the first `keyword` found from `startfrom` (negative: from the end,
    /// searching backwards). Redis's table has it; keel's rows do not use it yet.
    #[allow(dead_code)]
    Keyword {
        keyword: &'static str,
        startfrom: i32,
    },
    /// Only a getkeys procedure knows.
    Unknown,
}

/// Which arguments from the beginning are keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FindKeys {
    /// `lastkey` relative to the beginning (negative: from the end); `limit` > 1 with
    /// lastkey -1: only the first 1/limit of the remaining arguments.
    Range {
        lastkey: i32,
        keystep: i32,
        limit: i32,
    },
    /// `numkeys` at `keynumidx` (relative to the beginning), keys from `firstkey`.
    Keynum {
        keynumidx: i32,
        firstkey: i32,
        keystep: i32,
    },
    Unknown,
}

/// Redis's getkeys procedures for keel's commands (`*GetKeys` in Redis's db.c): used
/// when the specs cannot answer (an unknown or incomplete spec, variable flags, or a
/// `numkeys` the specs reject).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetKeysProc {
    /// Redis's `genericGetKeys`: `numkeys` at `count_at` (read as C's `atoi`), that many
    /// keys from `first_at`, then the destination at `store_at` when non-zero. No flags.
    NumKeys {
        store_at: u8,
        count_at: u8,
        first_at: u8,
    },
    /// SORT: the sorted key, then the last `STORE` destination.
    Sort,
    /// SORT_RO: the sorted key.
    SortRo,
    /// SET: the key, read too when `GET` is given.
    Set,
}

impl GetKeysProc {
    /// ZUNION, ZINTER, ZDIFF, ZINTERCARD, SINTERCARD, LMPOP, ZMPOP.
    pub const NUMKEYS_AT_1: GetKeysProc = GetKeysProc::NumKeys {
        store_at: 0,
        count_at: 1,
        first_at: 2,
    };
    /// BLMPOP, BZMPOP (a timeout first).
    pub const NUMKEYS_AT_2: GetKeysProc = GetKeysProc::NumKeys {
        store_at: 0,
        count_at: 2,
        first_at: 3,
    };
    /// ZUNIONSTORE, ZINTERSTORE, ZDIFFSTORE.
    pub const STORE_NUMKEYS_AT_2: GetKeysProc = GetKeysProc::NumKeys {
        store_at: 1,
        count_at: 2,
        first_at: 3,
    };
}

/// A key found in a command's arguments: its index in argv and how it is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRef {
    pub pos: usize,
    pub flags: KeySpecFlags,
}

/// Whether at least one spec names real keys, not channels (Redis tests
/// `getAllKeySpecsFlags(cmd, 1) & CMD_KEY_NOT_KEY`).
fn has_real_key_spec(specs: &[KeySpec]) -> bool {
    specs
        .iter()
        .any(|s| !s.flags.contains(KeySpecFlags::NOT_KEY))
}

/// Redis's `doesCommandHaveKeys`.
pub fn has_keys(specs: &[KeySpec], proc_: Option<GetKeysProc>) -> bool {
    proc_.is_some() || has_real_key_spec(specs)
}

/// The legacy (first, last, step) `COMMAND INFO` prints and whether the command is
/// `movablekeys`, derived from the specs as Redis's `populateCommandLegacyRangeSpec`.
pub fn legacy_range(specs: &[KeySpec]) -> ((i32, i32, i32), bool) {
    if let [KeySpec {
        flags,
        begin_search: BeginSearch::Index(pos),
        find_keys: FindKeys::Range {
            lastkey, keystep, ..
        },
        ..
    }] = specs
    {
        let last = if *lastkey >= 0 {
            pos.saturating_add(*lastkey)
        } else {
            *lastkey
        };
        return (
            (*pos, last, *keystep),
            flags.contains(KeySpecFlags::INCOMPLETE),
        );
    }
    if specs.is_empty() {
        return ((0, 0, 0), false);
    }
    let mut movable = false;
    let mut first = i32::MAX;
    let mut last = 0i32;
    let mut prev_last = 0i32;
    for spec in specs {
        let (
            BeginSearch::Index(pos),
            FindKeys::Range {
                lastkey, keystep, ..
            },
        ) = (spec.begin_search, spec.find_keys)
        else {
            movable = true;
            continue;
        };
        if keystep != 1 || (prev_last != 0 && prev_last != pos.saturating_sub(1)) {
            movable = true;
            continue;
        }
        if spec.flags.contains(KeySpecFlags::INCOMPLETE) {
            movable = true;
        }
        first = first.min(pos);
        let abs_last = if lastkey >= 0 {
            lastkey.saturating_add(pos)
        } else {
            lastkey
        };
        // Redis compares as unsigned, so a from-the-end (negative) last wins.
        if (abs_last as u32) > (last as u32) {
            last = abs_last;
        }
        prev_last = last;
    }
    if first == i32::MAX {
        return ((0, 0, 0), true);
    }
    ((first, last, 1), movable)
}

/// Whether the specs make a command `movablekeys`.
#[cfg(test)]
pub fn is_movable(specs: &[KeySpec]) -> bool {
    legacy_range(specs).1
}

/// The keys of `argv` (argv[0] is the command name, or the container's for a
/// subcommand) as Redis's `getKeysFromCommandWithSpecs`: the specs when they have real
/// keys and fixed flags and can answer, else the procedure. An empty result is what
/// Redis returns for arguments it cannot make sense of.
pub fn get_keys(specs: &[KeySpec], proc_: Option<GetKeysProc>, argv: &Argv<'_>) -> Vec<KeyRef> {
    let variable_flags = specs
        .iter()
        .any(|s| s.flags.contains(KeySpecFlags::VARIABLE_FLAGS));
    if has_real_key_spec(specs) && !variable_flags {
        if let Some(keys) = keys_from_specs(specs, argv) {
            return keys;
        }
    }
    match proc_ {
        Some(p) => keys_from_proc(p, argv),
        None => Vec::new(),
    }
}

/// Redis's `getKeysUsingKeySpecs` (no partial results): None when a spec cannot answer.
/// Arithmetic is C `int` arithmetic, wrapping where Redis's would.
fn keys_from_specs(specs: &[KeySpec], argv: &Argv<'_>) -> Option<Vec<KeyRef>> {
    let argc = i32::try_from(argv.len()).unwrap_or(i32::MAX);
    let mut keys = Vec::new();
    for spec in specs {
        if spec.flags.contains(KeySpecFlags::NOT_KEY) {
            continue;
        }
        let mut first = match spec.begin_search {
            BeginSearch::Index(pos) => pos,
            BeginSearch::Keyword { keyword, startfrom } => {
                match find_keyword(argv, argc, keyword, startfrom) {
                    Some(at) => at.wrapping_add(1),
                    // Keyword absent: this spec has no keys.
                    None => continue,
                }
            }
            BeginSearch::Unknown => return None,
        };
        let (last, step) = match spec.find_keys {
            FindKeys::Range {
                lastkey,
                keystep,
                limit,
            } => {
                let last = if lastkey >= 0 {
                    first.wrapping_add(lastkey)
                } else if limit == 0 {
                    argc.wrapping_add(lastkey)
                } else {
                    // Redis asserts lastkey == -1 here.
                    first.wrapping_add(
                        argc.wrapping_sub(first)
                            .checked_div(limit)
                            .unwrap_or(0)
                            .wrapping_add(lastkey),
                    )
                };
                (last, keystep)
            }
            FindKeys::Keynum {
                keynumidx,
                firstkey,
                keystep,
            } => {
                if keynumidx >= argc {
                    return None;
                }
                let at = usize::try_from(first.wrapping_add(keynumidx)).ok()?;
                if at >= argv.len() {
                    return None;
                }
                let numkeys = crate::util::parse_i64(argv.get(at)).filter(|n| *n >= 0)?;
                first = first.wrapping_add(firstkey);
                // Redis truncates numkeys to an int.
                (first.wrapping_add(numkeys as i32).wrapping_sub(1), keystep)
            }
            FindKeys::Unknown => return None,
        };
        if last >= argc || last < first || first >= argc {
            return None;
        }
        // Key specs never step backwards or in place; Redis would loop forever.
        let Ok(step) = usize::try_from(step) else {
            return None;
        };
        if step == 0 {
            return None;
        }
        // 1 <= first <= last < argc here, so every position is an argument.
        let (Ok(first), Ok(last)) = (usize::try_from(first), usize::try_from(last)) else {
            return None;
        };
        keys.extend((first..=last).step_by(step).map(|pos| KeyRef {
            pos,
            flags: spec.flags,
        }));
        if spec.flags.contains(KeySpecFlags::INCOMPLETE) {
            return None;
        }
    }
    Some(keys)
}

/// The index of `keyword` (ASCII case-insensitive, as C's `strcasecmp` compares up to
/// a NUL) searching from `startfrom`: forwards when positive, backwards from the end
/// when negative.
fn find_keyword(argv: &Argv<'_>, argc: i32, keyword: &str, startfrom: i32) -> Option<i32> {
    let (start, end) = if startfrom > 0 {
        (startfrom, argc.wrapping_sub(1))
    } else {
        (argc.wrapping_add(startfrom), 1)
    };
    let mut i = start;
    while i != end {
        if i >= argc || i < 1 {
            break;
        }
        if c_str_eq_ignore_case(argv.get(usize::try_from(i).ok()?), keyword) {
            return Some(i);
        }
        i = if start <= end { i + 1 } else { i - 1 };
    }
    None
}

/// `strcasecmp(arg, word) == 0` on a C string: `arg` ends at its first NUL.
fn c_str_eq_ignore_case(arg: &[u8], word: &str) -> bool {
    let arg = match arg.iter().position(|&b| b == 0) {
        Some(nul) => arg.get(..nul).unwrap_or_default(),
        None => arg,
    };
    arg.eq_ignore_ascii_case(word.as_bytes())
}

/// C's `atoi` as glibc has it: `(int) strtol(s, NULL, 10)`, so leading whitespace and a
/// sign, digits up to the first other byte, saturating at the `long` bounds, then
/// truncated to 32 bits.
fn c_atoi(arg: &[u8]) -> i32 {
    let mut rest = arg;
    while let Some((&b, tail)) = rest.split_first() {
        if !matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) {
            break;
        }
        rest = tail;
    }
    let negative = rest.first() == Some(&b'-');
    if matches!(rest.first(), Some(b'-' | b'+')) {
        rest = rest.get(1..).unwrap_or_default();
    }
    let mut value: i64 = 0;
    for &b in rest.iter().take_while(|b| b.is_ascii_digit()) {
        let digit = i64::from(b - b'0');
        value = if negative {
            value.saturating_mul(10).saturating_sub(digit)
        } else {
            value.saturating_mul(10).saturating_add(digit)
        };
    }
    value as i32
}

fn keys_from_proc(p: GetKeysProc, argv: &Argv<'_>) -> Vec<KeyRef> {
    let argc = argv.len();
    let key = |pos: usize, flags: KeySpecFlags| KeyRef { pos, flags };
    match p {
        GetKeysProc::NumKeys {
            store_at,
            count_at,
            first_at,
        } => {
            let (store_at, first_at) = (usize::from(store_at), usize::from(first_at));
            let num = c_atoi(argv.get(usize::from(count_at)));
            let Ok(num) = usize::try_from(num) else {
                return Vec::new();
            };
            if num < 1 || num > argc.saturating_sub(first_at) {
                return Vec::new();
            }
            let mut keys: Vec<KeyRef> = (first_at..first_at + num)
                .map(|pos| key(pos, KeySpecFlags::NONE))
                .collect();
            if store_at != 0 {
                keys.push(key(store_at, KeySpecFlags::NONE));
            }
            keys
        }
        GetKeysProc::SortRo => vec![key(1, KeySpecFlags::RO.union(KeySpecFlags::ACCESS))],
        GetKeysProc::Sort => {
            let mut keys = vec![key(1, KeySpecFlags::RO.union(KeySpecFlags::ACCESS))];
            let mut store = None;
            let mut i = 2;
            while i < argc {
                let arg = argv.get(i);
                if c_str_eq_ignore_case(arg, "limit") {
                    i += 2;
                } else if c_str_eq_ignore_case(arg, "get") || c_str_eq_ignore_case(arg, "by") {
                    i += 1;
                } else if c_str_eq_ignore_case(arg, "store") && i + 1 < argc {
                    // The last STORE wins, as SORT itself reads them.
                    store = Some(i + 1);
                }
                i += 1;
            }
            if let Some(pos) = store {
                keys.push(key(pos, KeySpecFlags::OW.union(KeySpecFlags::UPDATE)));
            }
            keys
        }
        GetKeysProc::Set => {
            // Redis tests the first three bytes and a NUL, so "get\0..." counts too.
            let is_get = |a: &[u8]| {
                a.get(..3).is_some_and(|p| p.eq_ignore_ascii_case(b"get"))
                    && a.get(3).is_none_or(|&b| b == 0)
            };
            let flags = if (3..argc).any(|i| is_get(argv.get(i))) {
                KeySpecFlags::RW
                    .union(KeySpecFlags::ACCESS)
                    .union(KeySpecFlags::UPDATE)
            } else {
                KeySpecFlags::OW.union(KeySpecFlags::UPDATE)
            };
            vec![key(1, flags)]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv_of(words: &[&str]) -> (Vec<u8>, Vec<(usize, usize)>) {
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        for w in words {
            let s = buf.len();
            buf.extend_from_slice(w.as_bytes());
            ranges.push((s, buf.len()));
        }
        (buf, ranges)
    }

    fn positions(specs: &[KeySpec], p: Option<GetKeysProc>, words: &[&str]) -> Vec<usize> {
        let (buf, ranges) = argv_of(words);
        let argv = Argv::new(&buf, &ranges);
        get_keys(specs, p, &argv).iter().map(|k| k.pos).collect()
    }

    const RANGE_1: KeySpec = KeySpec {
        notes: None,
        flags: KeySpecFlags::RO,
        begin_search: BeginSearch::Index(1),
        find_keys: FindKeys::Range {
            lastkey: -1,
            keystep: 2,
            limit: 0,
        },
    };
    const KEYNUM_1: KeySpec = KeySpec {
        notes: None,
        flags: KeySpecFlags::RO,
        begin_search: BeginSearch::Index(1),
        find_keys: FindKeys::Keynum {
            keynumidx: 0,
            firstkey: 1,
            keystep: 1,
        },
    };

    #[test]
    fn ranges_and_keynum() {
        assert_eq!(
            positions(&[RANGE_1], None, &["mset", "a", "1", "b", "2"]),
            [1, 3]
        );
        assert_eq!(
            positions(&[KEYNUM_1], None, &["zunion", "2", "a", "b"]),
            [2, 3]
        );
        // Too many keys claimed: the specs give up and so does the procedure.
        let p = Some(GetKeysProc::NUMKEYS_AT_1);
        assert!(positions(&[KEYNUM_1], p, &["zunion", "3", "a", "b"]).is_empty());
        // Unparsable for the spec, `atoi` for the procedure.
        assert_eq!(positions(&[KEYNUM_1], p, &["zunion", "1x", "a"]), [2]);
        // A numkeys past 2^32 truncates, as Redis's int does.
        assert_eq!(
            positions(&[KEYNUM_1], p, &["zunion", "4294967297", "a"]),
            [2]
        );
        assert!(positions(&[KEYNUM_1], p, &["zunion", "-1", "a"]).is_empty());
    }

    #[test]
    fn sort_finds_the_last_store() {
        let unknown = KeySpec {
            notes: None,
            flags: KeySpecFlags::OW,
            begin_search: BeginSearch::Unknown,
            find_keys: FindKeys::Unknown,
        };
        let specs = [RANGE_1, unknown];
        let p = Some(GetKeysProc::Sort);
        assert_eq!(positions(&specs, p, &["sort", "l", "store", "d"]), [1, 3]);
        assert_eq!(
            positions(
                &specs,
                p,
                &["sort", "l", "STORE", "d", "by", "store", "store", "e"]
            ),
            [1, 7]
        );
        assert_eq!(
            positions(&specs, p, &["sort", "l", "limit", "store", "x", "store"]),
            [1]
        );
    }

    #[test]
    fn atoi_as_glibc() {
        assert_eq!(c_atoi(b" 12x"), 12);
        assert_eq!(c_atoi(b"-3"), -3);
        assert_eq!(c_atoi(b"99999999999999999999"), -1);
        assert_eq!(c_atoi(b""), 0);
    }

    #[test]
    fn legacy_range_as_redis() {
        assert_eq!(legacy_range(&[RANGE_1]), ((1, -1, 2), false));
        assert_eq!(legacy_range(&[KEYNUM_1]), ((0, 0, 0), true));
        assert_eq!(legacy_range(&[]), ((0, 0, 0), false));
    }
}
