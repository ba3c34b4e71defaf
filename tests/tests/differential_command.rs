//! Differential tests of COMMAND over keel's whole command table against a real
//! redis-server 7.0.15, in RESP2 and RESP3: for every command and subcommand keel lists,
//! `COMMAND INFO` and `COMMAND DOCS` byte for byte; `COMMAND GETKEYS` and
//! `COMMAND GETKEYSANDFLAGS` byte for byte over generated argument vectors (two per
//! command) and hand-picked tricky ones (every movablekeys command has some);
//! `COMMAND LIST FILTERBY` per ACL category and for a few patterns, as sets; the
//! no-argument forms and COMMAND COUNT against keel's own list.
//!
//! Two differences are expected and normalized away, nothing else:
//! * Redis lists a container's subcommands in its hash table's order, which changes from
//!   run to run: subcommand lists are compared sorted.
//! * keel lacks some subcommands Redis has (CLIENT TRACKING, CONFIG REWRITE, ...) and has
//!   one Redis 7.0 lacks (`KEEL_ONLY`): a container's subcommands are compared over the
//!   names both servers have, and keel-only names are checked to be absent from Redis.

mod common;

use std::collections::BTreeSet;

use common::{escape, Conn, Pair};

/// What keel has and redis-server 7.0.15 does not (CLIENT NO-TOUCH is Redis 7.2's).
const KEEL_ONLY: &[&str] = &["client|no-touch"];

/// Every ACL category Redis 7.0 has (`ACL CAT`), and one it does not.
const ACL_CATEGORIES: &[&str] = &[
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
    "SortedSet",
    "nosuchcategory",
];

const PATTERNS: &[&str] = &[
    "*", "z*", "*store", "config|*", "CLIENT|*", "*|*", "?et", "[gs]et*", "*range*", "nomatch",
];

/// Argument vectors for COMMAND GETKEYS / GETKEYSANDFLAGS beyond the generated ones:
/// every movablekeys command, numkeys the key specs reject or misread, keywords, and
/// commands without keys.
const GETKEYS_VECTORS: &str = r#"
SORT l
SORT l STORE dst
SORT l BY w* GET # GET h*->f STORE d1 STORE d2
SORT l LIMIT 0 1 STORE d
SORT l limit store x store
SORT l STORE
SORT l GET store STORE d
SORT l "store\x00x" d
SORT_RO l BY w* GET #
SORT_RO l STORE d
SET k v
SET k v GET
SET k v EX 10 get
SET k v NX XX KEEPTTL
SET k v "get\x00z"
SET k v ge
SET k get
ZUNION 2 a b WEIGHTS 1 2
ZUNION 1 a
ZUNION 0 a
ZUNION 3 a b
ZUNION -1 a b
ZUNION 1x a b
ZUNION " 2" a b
ZUNION +2 a b
ZUNION 02 a b
ZUNION 4294967297 a
ZUNION 2147483648 a
ZUNION 99999999999999999999 a
ZINTER 2 a b
ZDIFF 1 a
ZINTERCARD 2 a b LIMIT 1
ZINTERCARD 3 a b
ZUNIONSTORE d 2 a b
ZUNIONSTORE d 0 a
ZUNIONSTORE d 1x a
ZUNIONSTORE d 3 a b
ZINTERSTORE d 1 a
ZINTERSTORE d x1 a
ZDIFFSTORE d 2 a b
ZDIFFSTORE d " 1" a
SINTERCARD 1 a
SINTERCARD 2 a b LIMIT 3
SINTERCARD 3 a b
SINTERCARD 1y a
LMPOP 2 a b LEFT
LMPOP 1 a RIGHT COUNT 2
LMPOP 2x a b LEFT
LMPOP 3 a b LEFT
BLMPOP 0 2 a b LEFT COUNT 1
BLMPOP 0 x a b LEFT
BLMPOP 0 1 a RIGHT
ZMPOP 1 a MIN
ZMPOP 2 a b MAX COUNT 3
ZMPOP 9 a MIN
BZMPOP 1.5 2 a b MAX
BZMPOP 0 2z a b MIN
MSET a 1 b 2 c 3
MSET a 1 b
MSETNX a 1 b 2
MGET a b c
DEL a b c
EXISTS a a
BLPOP a b 0
BRPOP a 0
BZPOPMIN a b 0
BRPOPLPUSH a b 0
BLMOVE a b LEFT RIGHT 0
LMOVE a b LEFT LEFT
SMOVE a b m
RENAME a b
RENAMENX a b
COPY a b DB 1 REPLACE
ZRANGESTORE d s 0 -1
SDIFFSTORE d a b c
SUNIONSTORE d a
SINTERSTORE d a b
WATCH a b c
OBJECT ENCODING k
OBJECT FREQ k
OBJECT NOSUCH k
CONFIG GET maxmemory
CONFIG SET a b
PUBLISH ch msg
SPUBLISH ch msg
SUBSCRIBE a b
SSUBSCRIBE a b
SUNSUBSCRIBE a
PING
PING x
TIME x
GET
GET a b
GET a
NOSUCH a b
"config|get" x
MULTI
EXEC
CLIENT LIST
COMMAND GETKEYS get a
"#;

/// Replies that must be equal byte for byte, for COMMAND's own arguments and errors.
const EXACT: &str = r#"
COMMAND INFO get nosuch config|get CONFIG|GET get| |get a|b|c config| config|nosuch
COMMAND INFO GET Set zUnIoNsToRe
COMMAND DOCS get nosuch config|GET get| a|b|c config|nosuch
COMMAND DOCS nosuch
COMMAND INFO ""
COMMAND DOCS "" "|"
COMMAND HELP
COMMAND COUNT x
COMMAND NOSUCH
COMMAND GETKEYS
COMMAND GETKEYS get
COMMAND GETKEYSANDFLAGS get
COMMAND LIST FILTERBY
COMMAND LIST foo
COMMAND LIST FILTERBY bogus x
COMMAND LIST FILTERBY aclcat read extra
COMMAND LIST FILTERBY MODULE nosuchmodule
COMMAND LIST filterby pattern nomatch*
COMMAND LIST FILTERBY ACLCAT nosuchcategory
COMMAND LIST FILTERBY ACLCAT @read
"#;

// ---- reply surgery: raw frames, never re-encoded values ---------------------------

/// The header byte and the element frames of an aggregate reply (a map's keys and
/// values alternate); None for a scalar.
fn parts(reply: &[u8]) -> Option<(u8, Vec<Vec<u8>>)> {
    match keel_core::resp::element_frames(reply)? {
        (kind @ (b'*' | b'~' | b'%'), items) => {
            Some((kind, items.into_iter().map(<[u8]>::to_vec).collect()))
        }
        _ => None,
    }
}

/// Reassembles `parts` output (keeping its header byte; a map counts pairs).
fn join(kind: u8, items: &[Vec<u8>]) -> Vec<u8> {
    let n = if kind == b'%' {
        items.len() / 2
    } else {
        items.len()
    };
    let mut out = format!("{}{n}\r\n", kind as char).into_bytes();
    for i in items {
        out.extend_from_slice(i);
    }
    out
}

/// The text of a bulk or status reply.
fn text(reply: &[u8]) -> String {
    match reply.first() {
        Some(b'$') => {
            let start = reply.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
            String::from_utf8_lossy(&reply[start..reply.len() - 2]).into_owned()
        }
        _ => {
            String::from_utf8_lossy(reply.get(1..reply.len() - 2).unwrap_or_default()).into_owned()
        }
    }
}

fn strings(reply: &[u8]) -> Vec<String> {
    parts(reply)
        .unwrap_or_else(|| panic!("not an array: {}", escape(reply)))
        .1
        .iter()
        .map(|r| text(r))
        .collect()
}

/// One COMMAND INFO entry with its subcommand entries kept to `shared` names, sorted.
fn normalize_info_entry(entry: &[u8], shared: &BTreeSet<String>) -> Vec<u8> {
    let Some((kind, mut fields)) = parts(entry) else {
        return entry.to_vec(); // a null
    };
    assert_eq!(fields.len(), 10, "INFO entry: {}", escape(entry));
    if let Some((sub_kind, subs)) = parts(&fields[9]) {
        let mut subs: Vec<Vec<u8>> = subs
            .into_iter()
            .filter(|s| {
                let name = text(&parts(s).expect("subcommand entry").1[0]);
                shared.contains(&name)
            })
            .collect();
        subs.sort();
        fields[9] = join(sub_kind, &subs);
    }
    join(kind, &fields)
}

/// A COMMAND DOCS docs map with its `subcommands` map kept to `shared` names, sorted.
fn normalize_docs_map(docs: &[u8], shared: &BTreeSet<String>) -> Vec<u8> {
    let (kind, mut fields) = parts(docs).expect("docs map");
    for i in (0..fields.len()).step_by(2) {
        if text(&fields[i]) != "subcommands" {
            continue;
        }
        let (sub_kind, flat) = parts(&fields[i + 1]).expect("subcommands map");
        let mut pairs: Vec<&[Vec<u8>]> = flat
            .chunks(2)
            .filter(|p| shared.contains(&text(&p[0])))
            .collect();
        pairs.sort();
        fields[i + 1] = join(sub_kind, &pairs.concat());
    }
    join(kind, &fields)
}

/// A COMMAND DOCS reply (a map of name to docs) normalized pair by pair.
fn normalize_docs_reply(reply: &[u8], shared: &BTreeSet<String>) -> Vec<u8> {
    let (kind, flat) = parts(reply).expect("DOCS reply");
    let mut items = Vec::new();
    for p in flat.chunks(2) {
        items.push(p[0].clone());
        items.push(normalize_docs_map(&p[1], shared));
    }
    join(kind, &items)
}

// ---- the servers ----------------------------------------------------------------------

struct Sides {
    redis: Conn,
    keel: Conn,
    /// keel's COMMAND LIST.
    keel_names: BTreeSet<String>,
    /// Names both have.
    shared: BTreeSet<String>,
}

fn sides(pair: &Pair, resp3: bool) -> Sides {
    let (mut redis, mut keel) = pair.conns();
    if resp3 {
        redis.cmds("HELLO 3");
        keel.cmds("HELLO 3");
    }
    let keel_names: BTreeSet<String> = strings(&keel.cmds("COMMAND LIST")).into_iter().collect();
    let redis_names: BTreeSet<String> = strings(&redis.cmds("COMMAND LIST")).into_iter().collect();
    let shared = keel_names.intersection(&redis_names).cloned().collect();
    // (A subset: with KEEL_E2E_TARGET=redis, "keel" is a redis-server too.)
    for name in keel_names.difference(&redis_names) {
        assert!(
            KEEL_ONLY.contains(&name.as_str()),
            "keel has {name}, which redis-server lacks and KEEL_ONLY does not list"
        );
    }
    Sides {
        redis,
        keel,
        keel_names,
        shared,
    }
}

fn both(s: &mut Sides, args: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
    (s.redis.cmdv(args), s.keel.cmdv(args))
}

fn words(parts: &[&str]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.as_bytes().to_vec()).collect()
}

fn report(failures: Vec<String>, what: &str, compared: usize) {
    eprintln!("{what}: {compared} compared, {} differ", failures.len());
    assert!(
        failures.is_empty(),
        "{what}: {} of {compared} differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn pair_or_skip() -> Option<Pair> {
    common::require_redis_or_skip().then(Pair::start)
}

// ---- the tests ------------------------------------------------------------------------

/// COMMAND INFO and COMMAND DOCS of every name in keel's COMMAND LIST.
#[test]
fn info_and_docs_of_every_command() {
    let Some(pair) = pair_or_skip() else {
        return;
    };
    for resp3 in [false, true] {
        let mut s = sides(&pair, resp3);
        let mut failures = Vec::new();
        let names: Vec<String> = s.keel_names.iter().cloned().collect();
        for name in &names {
            if KEEL_ONLY.contains(&name.as_str()) {
                // Redis answers a null entry and no docs; keel answers its own.
                let (r, k) = both(&mut s, &words(&["COMMAND", "INFO", name]));
                assert!(matches!(r.as_slice(), b"*1\r\n$-1\r\n" | b"*1\r\n_\r\n"));
                assert!(k.len() > 20, "{name}: {}", escape(&k));
                continue;
            }
            let (r, k) = both(&mut s, &words(&["COMMAND", "INFO", name]));
            let (r_entry, k_entry) = (&parts(&r).unwrap().1[0], &parts(&k).unwrap().1[0]);
            let (r_norm, k_norm) = (
                normalize_info_entry(r_entry, &s.shared),
                normalize_info_entry(k_entry, &s.shared),
            );
            if r_norm != k_norm {
                failures.push(format!(
                    "RESP{} COMMAND INFO {name}\n  redis: {}\n  keel:  {}",
                    if resp3 { 3 } else { 2 },
                    escape(&r_norm),
                    escape(&k_norm)
                ));
            }
            let (r, k) = both(&mut s, &words(&["COMMAND", "DOCS", name]));
            let (r_norm, k_norm) = (
                normalize_docs_reply(&r, &s.shared),
                normalize_docs_reply(&k, &s.shared),
            );
            if r_norm != k_norm {
                failures.push(format!(
                    "RESP{} COMMAND DOCS {name}\n  redis: {}\n  keel:  {}",
                    if resp3 { 3 } else { 2 },
                    escape(&r_norm),
                    escape(&k_norm)
                ));
            }
        }
        report(
            failures,
            &format!("COMMAND INFO/DOCS, RESP{}", if resp3 { 3 } else { 2 }),
            2 * names.len(),
        );
    }
}

/// Two generated argument vectors per command (its minimum arity, and two more
/// arguments for a variadic one; `k0 k1 ...` as arguments), then the hand-picked ones.
fn getkeys_vectors(keel_names: &BTreeSet<String>, keel: &mut Conn) -> Vec<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    // Redis has no keel-only command to compare with.
    for name in keel_names
        .iter()
        .filter(|n| !KEEL_ONLY.contains(&n.as_str()))
    {
        let info = keel.cmdv(&words(&["COMMAND", "INFO", name]));
        let entry = &parts(&info).unwrap().1[0];
        let arity: i64 = text(&parts(entry).unwrap().1[1]).parse().unwrap();
        let prefix: Vec<&str> = name.split('|').collect();
        let argc = arity.unsigned_abs() as usize;
        let extra = if arity < 0 { vec![0, 2] } else { vec![0] };
        for more in extra {
            let mut v = words(&prefix);
            for i in v.len()..argc + more {
                v.push(format!("k{i}").into_bytes());
            }
            out.push(v);
        }
    }
    for line in GETKEYS_VECTORS.lines().filter(|l| !l.trim().is_empty()) {
        out.push(common::s(line));
    }
    out
}

#[test]
fn getkeys_and_flags() {
    let Some(pair) = pair_or_skip() else {
        return;
    };
    for resp3 in [false, true] {
        let mut s = sides(&pair, resp3);
        let vectors = getkeys_vectors(&s.keel_names, &mut s.keel);
        let mut failures = Vec::new();
        let mut found_keys = 0;
        for v in &vectors {
            for sub in ["GETKEYS", "GETKEYSANDFLAGS"] {
                let mut args = words(&["COMMAND", sub]);
                args.extend(v.iter().cloned());
                let (r, k) = both(&mut s, &args);
                if r.first() == Some(&b'*') {
                    found_keys += 1;
                }
                if r != k {
                    let line: Vec<String> = args.iter().map(|a| escape(a)).collect();
                    failures.push(format!(
                        "RESP{} {}\n  redis: {}\n  keel:  {}",
                        if resp3 { 3 } else { 2 },
                        line.join(" "),
                        escape(&r),
                        escape(&k)
                    ));
                }
            }
        }
        assert!(found_keys > vectors.len(), "too few vectors with keys");
        report(
            failures,
            &format!(
                "COMMAND GETKEYS[ANDFLAGS], RESP{}",
                if resp3 { 3 } else { 2 }
            ),
            2 * vectors.len(),
        );
    }
}

/// Every movablekeys command of keel's has hand-picked vectors, not only generated ones.
#[test]
fn every_movablekeys_command_has_vectors() {
    let Some(pair) = pair_or_skip() else {
        return;
    };
    if common::keel_bin() == "redis-server" {
        return; // Redis's own movablekeys commands (EVAL, GEORADIUS, ...) have none.
    }
    let mut s = sides(&pair, false);
    let picked: BTreeSet<String> = GETKEYS_VECTORS
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_ascii_lowercase)
        .collect();
    let all = s.keel.cmds("COMMAND");
    let mut movable = Vec::new();
    for entry in parts(&all).unwrap().1 {
        let fields = parts(&entry).unwrap().1;
        if strings(&fields[2]).iter().any(|f| f == "movablekeys") {
            movable.push(text(&fields[0]));
        }
    }
    assert!(movable.len() >= 14, "{movable:?}");
    for name in movable {
        assert!(picked.contains(&name), "no GETKEYS vectors for {name}");
    }
}

#[test]
fn list_filters_and_counts() {
    let Some(pair) = pair_or_skip() else {
        return;
    };
    for resp3 in [false, true] {
        let mut s = sides(&pair, resp3);
        let mut failures = Vec::new();
        let mut compared = 0;
        let filters = ACL_CATEGORIES
            .iter()
            .map(|c| ("ACLCAT", *c))
            .chain(PATTERNS.iter().map(|p| ("PATTERN", *p)))
            .chain([("MODULE", "nosuchmodule")]);
        for (kind, arg) in filters {
            let (r, k) = both(&mut s, &words(&["COMMAND", "LIST", "FILTERBY", kind, arg]));
            // Redis's answer over the names keel has; keel's over the names Redis has.
            let want: BTreeSet<String> = strings(&r)
                .into_iter()
                .filter(|n| s.keel_names.contains(n))
                .collect();
            let got: BTreeSet<String> = strings(&k)
                .into_iter()
                .filter(|n| !KEEL_ONLY.contains(&n.as_str()))
                .collect();
            compared += 1;
            if want != got {
                failures.push(format!(
                    "COMMAND LIST FILTERBY {kind} {arg}\n  redis only: {:?}\n  keel only:  {:?}",
                    want.difference(&got).collect::<Vec<_>>(),
                    got.difference(&want).collect::<Vec<_>>()
                ));
            }
        }
        for line in EXACT.lines().filter(|l| !l.trim().is_empty()) {
            let (r, k) = both(&mut s, &common::s(line));
            compared += 1;
            if r != k {
                failures.push(format!(
                    "{line}\n  redis: {}\n  keel:  {}",
                    escape(&r),
                    escape(&k)
                ));
            }
        }
        report(
            failures,
            &format!("COMMAND LIST/exact, RESP{}", if resp3 { 3 } else { 2 }),
            compared,
        );

        // COUNT is keel's own number of commands, which every whole-table form agrees on.
        let tops: Vec<String> = s
            .keel_names
            .iter()
            .filter(|n| !n.contains('|'))
            .cloned()
            .collect();
        let count = s.keel.cmds("COMMAND COUNT");
        assert_eq!(count, format!(":{}\r\n", tops.len()).into_bytes());
        let redis_count: usize = text(&s.redis.cmds("COMMAND COUNT")).parse().unwrap();
        assert!(
            tops.len() <= redis_count,
            "keel {} redis {redis_count}",
            tops.len()
        );
        for form in ["COMMAND", "COMMAND INFO", "COMMAND DOCS"] {
            let (r, k) = both(&mut s, &common::s(form));
            let (_, k_items) = parts(&k).unwrap();
            let (_, r_items) = parts(&r).unwrap();
            let per_entry = if form == "COMMAND DOCS" { 2 } else { 1 };
            assert_eq!(k_items.len(), tops.len() * per_entry, "{form}");
            // Each of keel's entries is the one COMMAND INFO / DOCS gives for its name,
            // and Redis's whole-table entry for that name.
            for chunk in k_items.chunks(per_entry) {
                let (name, k_norm, r_norm) = if per_entry == 2 {
                    let name = text(&chunk[0]);
                    let r_pair = r_items
                        .chunks(2)
                        .find(|p| text(&p[0]) == name)
                        .unwrap_or_else(|| panic!("{form}: redis lacks {name}"));
                    (
                        name,
                        normalize_docs_map(&chunk[1], &s.shared),
                        normalize_docs_map(&r_pair[1], &s.shared),
                    )
                } else {
                    let name = text(&parts(&chunk[0]).unwrap().1[0]);
                    let r_entry = r_items
                        .iter()
                        .find(|e| text(&parts(e).unwrap().1[0]) == name)
                        .unwrap_or_else(|| panic!("{form}: redis lacks {name}"));
                    (
                        name,
                        normalize_info_entry(&chunk[0], &s.shared),
                        normalize_info_entry(r_entry, &s.shared),
                    )
                };
                assert!(tops.contains(&name), "{form}: {name}");
                assert_eq!(escape(&k_norm), escape(&r_norm), "{form}: entry for {name}");
            }
        }
    }
}
