//! The wide workload: the string, EXPIRE and keyspace families beyond the original
//! workload's GET/SET/INCR, on keys `x0..x2` (never the linearizability checker's
//! `k..`/`w..` nor the transactions' `t..`) and the collection keys. Plain-load sends
//! it; the model (`model_wide`) judges it.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::workload::{b, pick, TYPED_PREFIXES};

/// String keys of the wide workload: never the linearizability checker's `k..`/`w..`.
const WIDE_STRING_KEYS: [&str; 3] = ["x0", "x1", "x2"];

/// A key of the wide workload: mostly its own strings, sometimes a collection key (the
/// type-blind commands, and WRONGTYPE).
fn wide_key(rng: &mut ChaCha8Rng) -> Vec<u8> {
    if rng.gen_bool(0.75) {
        b(pick(rng, &WIDE_STRING_KEYS))
    } else {
        format!(
            "{}{}",
            TYPED_PREFIXES[rng.gen_range(0..4)],
            rng.gen_range(0..3)
        )
        .into_bytes()
    }
}

/// Values that reach integer and float edges: `+5`, `-0`, ` 1` and `1 ` are not
/// integers to Redis; near i64::MAX, INCRBY overflows. Now and then a value over 64
/// bytes (the raw encoding).
fn wide_value(rng: &mut ChaCha8Rng) -> Vec<u8> {
    if rng.gen_bool(0.03) {
        return vec![b'v'; rng.gen_range(65..=90)];
    }
    b(pick(
        rng,
        &[
            "0",
            "1",
            "7",
            "-3",
            "+5",
            "-0",
            " 1",
            "1 ",
            "abc",
            "1.5",
            "2.25",
            "9223372036854775806",
            "-9223372036854775807",
            "",
        ],
    ))
}

fn wide_int(rng: &mut ChaCha8Rng) -> Vec<u8> {
    b(pick(
        rng,
        &[
            "1",
            "2",
            "-1",
            "0",
            "5",
            "+5",
            "x",
            "9223372036854775807",
            "-9223372036854775808",
        ],
    ))
}

fn ttl_ms(rng: &mut ChaCha8Rng) -> u64 {
    rng.gen_range(1..400)
}

/// The wide workload's next requests: mostly one (`random_wide_request`), now and
/// then a run in another database: `SELECT n` (1..=2), a few wide requests there,
/// perhaps MOVE, SWAPDB (never database 0: the linearizability checker's `k..` keys
/// live there) or FLUSHDB, and `SELECT 0` back. A connection that closes inside the
/// run is back in database 0, as the model knows.
pub fn random_wide_requests(rng: &mut ChaCha8Rng, now_ms: u64) -> Vec<Vec<Vec<u8>>> {
    let db = |rng: &mut ChaCha8Rng, lo: u32| rng.gen_range(lo..=3).to_string().into_bytes();
    if rng.gen_bool(0.01) {
        return vec![match rng.gen_range(0..3) {
            0 => vec![b("MOVE"), wide_key(rng), db(rng, 1)],
            1 => vec![b("SWAPDB"), db(rng, 1), db(rng, 1)],
            _ => vec![b("SELECT"), b(pick(rng, &["x", "16", "-1"]))],
        }];
    }
    if !rng.gen_bool(0.03) {
        return vec![random_wide_request(rng, now_ms)];
    }
    let n = rng.gen_range(1..=2u32);
    let mut reqs = vec![vec![b("SELECT"), n.to_string().into_bytes()]];
    for _ in 0..rng.gen_range(1..=4) {
        reqs.push(random_wide_request(rng, now_ms));
    }
    match rng.gen_range(0..6) {
        0 => reqs.push(vec![
            b("MOVE"),
            wide_key(rng),
            b(pick(rng, &["0", "1", "2", "3", "16", "x"])),
        ]),
        1 => reqs.push(vec![b("SWAPDB"), db(rng, 1), db(rng, 1)]),
        2 if rng.gen_bool(0.3) => reqs.push(vec![b("SWAPDB"), b("x"), b("1")]),
        3 => {
            let mut r = vec![b("FLUSHDB")];
            if rng.gen_bool(0.4) {
                r.push(b(pick(rng, &["ASYNC", "SYNC", "x"])));
            }
            reqs.push(r);
        }
        _ => {}
    }
    // Back to database 0: SELECT 0, or now and then RESET (which also drops MULTI and
    // watches). Never RESET inside the run: what follows would run in database 0.
    if rng.gen_bool(0.1) {
        reqs.push(vec![b("RESET")]);
    } else {
        reqs.push(vec![b("SELECT"), b("0")]);
    }
    reqs
}

/// A flush of database 0 (where every checker's keys live) or of all databases: mostly
/// FLUSHALL, with SYNC, ASYNC or now and then an argument Redis refuses. Rare in the
/// plan (`scenario`): it wipes what every checker is following.
pub fn random_flush_request(rng: &mut ChaCha8Rng) -> Vec<Vec<u8>> {
    let mut req = vec![b(if rng.gen_bool(0.6) {
        "FLUSHALL"
    } else {
        "FLUSHDB"
    })];
    match rng.gen_range(0..20) {
        0..=2 => req.push(b("ASYNC")),
        3..=5 => req.push(b("SYNC")),
        6 => req.push(b(pick(rng, &["x", "ASYNCX"]))),
        7 => {
            req.push(b("SYNC"));
            req.push(b("ASYNC"));
        }
        _ => {}
    }
    req
}

/// The keys blocking commands wait on, and the writes that wake them push to: keys of
/// their own, which no other request writes as another type. (A key overwritten by a
/// store command, e.g. ZUNIONSTORE over a string, does not wake its waiters in Redis
/// (`dbOverwrite` signals nothing); the model serves any waited key that can serve,
/// so it must never meet one.)
const BLOCKING_LISTS: [&str; 2] = ["bl0", "bl1"];
const BLOCKING_ZSETS: [&str; 2] = ["bz0", "bz1"];

/// A blocking command's timeout in seconds: mostly 10–500 ms, rarely 0 (for ever: the
/// client's own timeout ends it), now and then one Redis refuses.
fn blocking_timeout(rng: &mut ChaCha8Rng) -> Vec<u8> {
    if rng.gen_bool(0.03) {
        return b(pick(rng, &["-1", "x", "-0.5"]));
    }
    if rng.gen_bool(0.02) {
        return b("0");
    }
    b(pick(rng, &["0.01", "0.05", "0.1", "0.2", "0.3", "0.5"]))
}

/// One or two keys of the blocking family's kind, now and then a key of another type.
fn blocking_keys(rng: &mut ChaCha8Rng, zset: bool) -> Vec<Vec<u8>> {
    let pool = if zset {
        &BLOCKING_ZSETS
    } else {
        &BLOCKING_LISTS
    };
    let mut keys = vec![b(pick(rng, pool))];
    if rng.gen_bool(0.3) {
        keys.push(b(pick(rng, pool)));
    }
    if rng.gen_bool(0.05) {
        keys.insert(0, b(pick(rng, &["x0", "h0", "s0", "z2", "l2"])));
    }
    keys
}

/// A blocking command (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP, BZPOPMIN, BZPOPMAX,
/// BZMPOP) on the keys `bl0`, `bl1`, `bz0`, `bz1`.
pub fn random_blocking_request(rng: &mut ChaCha8Rng) -> Vec<Vec<u8>> {
    let side = |rng: &mut ChaCha8Rng| b(pick(rng, &["LEFT", "RIGHT"]));
    let count = |rng: &mut ChaCha8Rng, r: &mut Vec<Vec<u8>>| {
        if rng.gen_bool(0.5) {
            r.extend([b("COUNT"), b(pick(rng, &["1", "2", "3"]))]);
        }
    };
    let name = pick(rng, &crate::model_blocking::BLOCKING);
    let zset = name.starts_with("BZ");
    let keys = blocking_keys(rng, zset);
    let mut r = vec![b(name)];
    match name {
        "BLMOVE" | "BRPOPLPUSH" => {
            r.push(keys.first().cloned().unwrap_or_default());
            r.push(b(pick(rng, &["bl0", "bl1", "l2", "x0"])));
            if name == "BLMOVE" {
                r.extend([side(rng), side(rng)]);
            }
            r.push(blocking_timeout(rng));
        }
        "BLMPOP" | "BZMPOP" => {
            r.push(blocking_timeout(rng));
            r.push(keys.len().to_string().into_bytes());
            r.extend(keys);
            r.push(if zset {
                b(pick(rng, &["MIN", "MAX"]))
            } else {
                side(rng)
            });
            count(rng, &mut r);
        }
        _ => {
            r.extend(keys);
            r.push(blocking_timeout(rng));
        }
    }
    r
}

/// A write that may wake a blocked client: a push or ZADD on the blocking family's keys.
fn blocking_wake(rng: &mut ChaCha8Rng) -> Vec<Vec<u8>> {
    if rng.gen_bool(0.5) {
        let mut r = vec![
            b(pick(rng, &["RPUSH", "LPUSH"])),
            b(pick(rng, &BLOCKING_LISTS)),
        ];
        for _ in 0..rng.gen_range(1..=3) {
            r.push(member(rng));
        }
        r
    } else {
        let mut r = vec![b("ZADD"), b(pick(rng, &BLOCKING_ZSETS))];
        for _ in 0..rng.gen_range(1..=2) {
            r.push(rng.gen_range(0..4).to_string().into_bytes());
            r.push(member(rng));
        }
        r
    }
}

/// The blocking family's requests: a blocking command (half the time), a write that
/// may wake one, or now and then a transaction with a blocking command inside (where
/// it does not block) beside such writes.
pub fn random_blocking_requests(rng: &mut ChaCha8Rng) -> Vec<Vec<Vec<u8>>> {
    if rng.gen_bool(0.08) {
        let mut reqs = vec![vec![b("MULTI")]];
        for _ in 0..rng.gen_range(1..=3) {
            reqs.push(if rng.gen_bool(0.5) {
                random_blocking_request(rng)
            } else {
                blocking_wake(rng)
            });
        }
        reqs.push(vec![b("EXEC")]);
        return reqs;
    }
    if rng.gen_bool(0.5) {
        vec![random_blocking_request(rng)]
    } else {
        vec![blocking_wake(rng)]
    }
}

/// A random request of the wide workload: the string, EXPIRE and keyspace families on
/// keys `x0..x2` and the collection keys. `now_ms` is the plan's start wall time, for
/// the absolute-time options (EXAT, PXAT, EXPIREAT, PEXPIREAT).
pub fn random_wide_request(rng: &mut ChaCha8Rng, now_ms: u64) -> Vec<Vec<u8>> {
    if rng.gen_bool(0.05) {
        return crate::workload_misc::random_misc_request(rng, now_ms);
    }
    if rng.gen_bool(0.4) {
        return random_wide_typed_request(rng);
    }
    let key = wide_key(rng);
    let num = |n: u64| n.to_string().into_bytes();
    let abs_ms = now_ms + rng.gen_range(0..3000);
    match rng.gen_range(0..40) {
        0..=3 => {
            let mut req = vec![b("SET"), key, wide_value(rng)];
            if rng.gen_bool(0.3) {
                req.push(b(pick(rng, &["NX", "XX"])));
            }
            if rng.gen_bool(0.3) {
                req.push(b("GET"));
            }
            match rng.gen_range(0..7) {
                0 => req.extend([b("EX"), num(rng.gen_range(1..3))]),
                1 => req.extend([b("PX"), num(ttl_ms(rng))]),
                2 => req.extend([b("EXAT"), num(abs_ms / 1000)]),
                3 => req.extend([b("PXAT"), num(abs_ms)]),
                4 => req.push(b("KEEPTTL")),
                _ if rng.gen_bool(0.05) => req.extend([b("PX"), b(pick(rng, &["0", "-5", "x"]))]),
                _ => {}
            }
            req
        }
        4 => vec![b("SETNX"), key, wide_value(rng)],
        5 => vec![
            b(pick(rng, &["SETEX", "PSETEX"])),
            key,
            b(pick(rng, &["1", "2", "150", "0", "-1", "x"])),
            wide_value(rng),
        ],
        6 => vec![b("GETSET"), key, wide_value(rng)],
        7 => vec![b("GETDEL"), key],
        8 => {
            let mut req = vec![b("GETEX"), key];
            match rng.gen_range(0..6) {
                0 => req.extend([b("EX"), num(rng.gen_range(1..3))]),
                1 => req.extend([b("PX"), num(ttl_ms(rng))]),
                2 => req.extend([b("EXAT"), num(abs_ms / 1000)]),
                3 => req.extend([b("PXAT"), num(abs_ms)]),
                4 => req.push(b("PERSIST")),
                _ => {}
            }
            req
        }
        9 => {
            let mut req = vec![b("MGET")];
            for _ in 0..rng.gen_range(1..=3) {
                req.push(wide_key(rng));
            }
            req
        }
        10 | 11 => {
            let mut req = vec![b(pick(rng, &["MSET", "MSETNX"]))];
            for _ in 0..rng.gen_range(1..=2) {
                req.push(b(pick(rng, &WIDE_STRING_KEYS)));
                req.push(wide_value(rng));
            }
            req
        }
        12 => vec![b("DECR"), key],
        13 => vec![b("DECRBY"), key, wide_int(rng)],
        14 => vec![b("INCRBY"), key, wide_int(rng)],
        15 => vec![
            b("INCRBYFLOAT"),
            key,
            b(pick(rng, &["0.5", "-1.25", "3e2", "1", "abc", "-0.75"])),
        ],
        16 => vec![b("STRLEN"), key],
        17 => vec![
            b(pick(rng, &["GETRANGE", "GETRANGE", "SUBSTR"])),
            key,
            b(pick(rng, &["0", "1", "-2", "-100"])),
            b(pick(rng, &["-1", "2", "0", "100"])),
        ],
        18 => vec![
            b("SETRANGE"),
            key,
            b(pick(rng, &["0", "1", "3", "-1"])),
            b(pick(rng, &["ab", "", "z"])),
        ],
        19..=22 => {
            let (name, amount) = match rng.gen_range(0..4) {
                0 => ("EXPIRE", num(rng.gen_range(0..3))),
                1 => ("PEXPIRE", num(ttl_ms(rng))),
                2 => ("EXPIREAT", num(abs_ms / 1000)),
                _ => ("PEXPIREAT", num(abs_ms)),
            };
            let amount = if rng.gen_bool(0.05) { b("-1") } else { amount };
            let mut req = vec![b(name), key, amount];
            if rng.gen_bool(0.5) {
                req.push(b(pick(rng, &["NX", "XX", "GT", "LT"])));
                if rng.gen_bool(0.1) {
                    req.push(b(pick(rng, &["NX", "GT", "LT"])));
                }
            }
            req
        }
        23 => vec![b("PERSIST"), key],
        24 | 25 => vec![
            b(pick(rng, &["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"])),
            key,
        ],
        26 | 27 => vec![b(pick(rng, &["RENAME", "RENAMENX"])), key, wide_key(rng)],
        28 => {
            let mut req = vec![b("COPY"), key, wide_key(rng)];
            if rng.gen_bool(0.5) {
                req.push(b("REPLACE"));
            }
            req
        }
        29 | 30 => {
            let mut req = vec![b(pick(rng, &["DEL", "UNLINK", "EXISTS", "TOUCH"]))];
            for _ in 0..rng.gen_range(1..=3) {
                req.push(wide_key(rng));
            }
            req
        }
        31 => vec![b("DBSIZE")],
        32 => vec![b("RANDOMKEY")],
        33 => vec![b("KEYS"), b(pick(rng, &["*", "x*", "?0", "h*", "nomatch"]))],
        34 => {
            let mut req = vec![b("SCAN"), b("0")];
            if rng.gen_bool(0.5) {
                req.extend([b("MATCH"), b(pick(rng, &["x*", "*1", "l?"]))]);
            }
            req.extend([b("COUNT"), b("1000")]);
            if rng.gen_bool(0.3) {
                req.extend([b("TYPE"), b(pick(rng, &["string", "list", "zset"]))]);
            }
            req
        }
        35 if rng.gen_bool(0.3) => vec![b("UNWATCH")],
        35 => vec![b("PING")],
        36 => vec![b("TYPE"), key],
        37 => vec![b("GET"), key],
        38 => vec![b("APPEND"), key, b("ab")],
        _ => vec![b("INCR"), key],
    }
}

/// A collection key of one type (`l`, `s`, `z`, `h`), now and then another type's
/// (WRONGTYPE) or a wide string key.
fn typed_key(rng: &mut ChaCha8Rng, prefix: &str) -> Vec<u8> {
    if rng.gen_bool(0.04) {
        return wide_key(rng);
    }
    format!("{prefix}{}", rng.gen_range(0..3)).into_bytes()
}

fn member(rng: &mut ChaCha8Rng) -> Vec<u8> {
    b(pick(rng, &["a", "b", "c", "d"]))
}

fn bound(rng: &mut ChaCha8Rng) -> Vec<u8> {
    b(pick(rng, &["-inf", "+inf", "0", "1", "(1", "2", "(0", "3"]))
}

/// A random collection request of the wide workload (the commands
/// `workload::random_typed_request` does not send).
pub fn random_wide_typed_request(rng: &mut ChaCha8Rng) -> Vec<Vec<u8>> {
    if rng.gen_bool(0.3) {
        return random_wide_zset_request(rng);
    }
    let idx = |rng: &mut ChaCha8Rng| rng.gen_range(-3i64..3).to_string().into_bytes();
    match rng.gen_range(0..4) {
        0 => {
            let key = typed_key(rng, "h");
            let field = |rng: &mut ChaCha8Rng| b(pick(rng, &["f0", "f1", "f2", "f3"]));
            match rng.gen_range(0..9) {
                0 => {
                    let mut r = vec![b("HMGET"), key];
                    for _ in 0..rng.gen_range(1..=3) {
                        r.push(field(rng));
                    }
                    r
                }
                1 => vec![
                    b("HMSET"),
                    key,
                    field(rng),
                    b(pick(rng, &["1", "x", "2.5"])),
                    field(rng),
                    b("0"),
                ],
                2 => vec![b(pick(rng, &["HGETALL", "HKEYS", "HVALS"])), key],
                3 => vec![b("HSETNX"), key, field(rng), b("v")],
                4 => vec![b("HSTRLEN"), key, field(rng)],
                5 => vec![b("HRANDFIELD"), key],
                6 => vec![
                    b("HINCRBYFLOAT"),
                    key,
                    field(rng),
                    b(pick(rng, &["0.5", "-1.25", "2", "x"])),
                ],
                _ => {
                    // Now and then a hash past 128 fields: the hashtable encoding.
                    let mut r = vec![b("HSET"), key];
                    let n = if rng.gen_bool(0.1) { 130 } else { 3 };
                    for i in 0..n {
                        r.push(format!("g{i}").into_bytes());
                        r.push(b("1"));
                    }
                    r
                }
            }
        }
        1 => {
            let key = typed_key(rng, "s");
            let keys = |rng: &mut ChaCha8Rng| -> Vec<Vec<u8>> {
                (0..rng.gen_range(1..=3))
                    .map(|_| typed_key(rng, "s"))
                    .collect()
            };
            match rng.gen_range(0..9) {
                0 => vec![b("SMEMBERS"), key],
                1 => vec![b("SRANDMEMBER"), key],
                2 => {
                    let mut r = vec![b(pick(rng, &["SINTER", "SUNION", "SDIFF"]))];
                    r.extend(keys(rng));
                    r
                }
                3 => {
                    let mut r = vec![
                        b(pick(rng, &["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"])),
                        key,
                    ];
                    r.extend(keys(rng));
                    r
                }
                4 => {
                    let ks = keys(rng);
                    let mut r = vec![b("SINTERCARD"), ks.len().to_string().into_bytes()];
                    r.extend(ks);
                    if rng.gen_bool(0.5) {
                        r.extend([b("LIMIT"), b(pick(rng, &["0", "1", "2"]))]);
                    }
                    r
                }
                5 => vec![b("SMOVE"), key, typed_key(rng, "s"), member(rng)],
                6 => {
                    // Integers only (the intset), now and then a non-integer into it
                    // or more than 512 of them (the hashtable).
                    let mut r = vec![b("SADD"), key];
                    let n = if rng.gen_bool(0.05) { 520 } else { 3 };
                    for i in 0..n {
                        r.push(i.to_string().into_bytes());
                    }
                    if rng.gen_bool(0.3) {
                        r.push(member(rng));
                    }
                    r
                }
                _ => vec![b("SADD"), key, member(rng), member(rng)],
            }
        }
        2 => {
            let key = typed_key(rng, "l");
            match rng.gen_range(0..8) {
                0 => vec![b(pick(rng, &["LPUSHX", "RPUSHX"])), key, member(rng)],
                1 => vec![
                    b("LINSERT"),
                    key,
                    b(pick(rng, &["BEFORE", "AFTER"])),
                    member(rng),
                    b("i"),
                ],
                2 => vec![b("LSET"), key, idx(rng), b("s")],
                3 => {
                    let mut r = vec![b("LPOS"), key, member(rng)];
                    if rng.gen_bool(0.5) {
                        r.extend([b("RANK"), b(pick(rng, &["1", "-1", "2"]))]);
                    }
                    if rng.gen_bool(0.5) {
                        r.extend([b("COUNT"), b(pick(rng, &["0", "1", "2"]))]);
                    }
                    r
                }
                4 => vec![
                    b("LMOVE"),
                    key,
                    typed_key(rng, "l"),
                    b(pick(rng, &["LEFT", "RIGHT"])),
                    b(pick(rng, &["LEFT", "RIGHT"])),
                ],
                5 => vec![b("RPOPLPUSH"), key, typed_key(rng, "l")],
                6 if rng.gen_bool(0.3) => {
                    let n = rng.gen_range(1..=2);
                    let mut r = vec![b("LMPOP"), n.to_string().into_bytes()];
                    for _ in 0..n {
                        r.push(typed_key(rng, "l"));
                    }
                    r.push(b(pick(rng, &["LEFT", "RIGHT"])));
                    if rng.gen_bool(0.5) {
                        r.extend([b("COUNT"), b(pick(rng, &["1", "2", "5"]))]);
                    }
                    r
                }
                6 if rng.gen_bool(0.1) => {
                    // A value over 64 bytes: a listpack that converts.
                    vec![b("RPUSH"), key, vec![b'e'; 70]]
                }
                _ => vec![b("RPUSH"), key, member(rng), member(rng)],
            }
        }
        _ => {
            let key = typed_key(rng, "z");
            match rng.gen_range(0..12) {
                0 => vec![b("ZCOUNT"), key, bound(rng), bound(rng)],
                11 => vec![b("ZRANDMEMBER"), key],
                1 => {
                    let mut r = vec![b("ZREVRANGE"), key, idx(rng), idx(rng)];
                    if rng.gen_bool(0.5) {
                        r.push(b("WITHSCORES"));
                    }
                    r
                }
                2 => {
                    let mut r = vec![
                        b(pick(rng, &["ZRANGEBYSCORE", "ZREVRANGEBYSCORE"])),
                        key,
                        bound(rng),
                        bound(rng),
                    ];
                    if rng.gen_bool(0.5) {
                        r.push(b("WITHSCORES"));
                    }
                    if rng.gen_bool(0.4) {
                        r.extend([
                            b("LIMIT"),
                            b(pick(rng, &["0", "1", "-1"])),
                            b(pick(rng, &["1", "2", "-1"])),
                        ]);
                    }
                    r
                }
                3 => {
                    let mut r = vec![b(pick(rng, &["ZPOPMIN", "ZPOPMAX"])), key];
                    if rng.gen_bool(0.5) {
                        r.push(b(pick(rng, &["0", "1", "2", "5"])));
                    }
                    r
                }
                4 => vec![b("ZMSCORE"), key, member(rng), member(rng)],
                5 => vec![b("ZREVRANK"), key, member(rng)],
                6 => vec![b("ZREMRANGEBYRANK"), key, idx(rng), idx(rng)],
                7 => vec![b("ZREMRANGEBYSCORE"), key, bound(rng), bound(rng)],
                8 => {
                    let n = rng.gen_range(1..=3);
                    let mut r = vec![
                        b(pick(rng, &["ZUNIONSTORE", "ZINTERSTORE"])),
                        key,
                        n.to_string().into_bytes(),
                    ];
                    for _ in 0..n {
                        r.push(if rng.gen_bool(0.2) {
                            typed_key(rng, "s")
                        } else {
                            typed_key(rng, "z")
                        });
                    }
                    if rng.gen_bool(0.4) {
                        r.extend([b("AGGREGATE"), b(pick(rng, &["SUM", "MIN", "MAX"]))]);
                    }
                    r
                }
                9 if rng.gen_bool(0.1) => {
                    // More than 128 members: the skiplist encoding.
                    let mut r = vec![b("ZADD"), key];
                    for i in 0..130 {
                        r.push((i % 7).to_string().into_bytes());
                        r.push(format!("m{i}").into_bytes());
                    }
                    r
                }
                _ => vec![
                    b("ZADD"),
                    key,
                    rng.gen_range(0..4).to_string().into_bytes(),
                    member(rng),
                ],
            }
        }
    }
}

/// Mostly sorted sets whose members all have score 0 (`y0`, `y1`), where lex order
/// is documented: only the lex family, ZMPOP, ZREMRANGEBYLEX and ZRANGESTORE from a
/// lex key write them. Now and then a `z` key of mixed scores, where Redis walks its
/// encoding (the model follows a listpack's walk and judges a skiplist's by the walks
/// it allows), or another type's key (WRONGTYPE).
fn lex_key(rng: &mut ChaCha8Rng) -> Vec<u8> {
    if rng.gen_bool(0.2) {
        return b(pick(rng, &["x0", "h0", "s1", "z0", "z1", "z2"]));
    }
    format!("y{}", rng.gen_range(0..2)).into_bytes()
}

fn lex_member(rng: &mut ChaCha8Rng) -> Vec<u8> {
    b(pick(rng, &["a", "b", "c", "d", "e", "ab", ""]))
}

fn lex_bound(rng: &mut ChaCha8Rng) -> Vec<u8> {
    if rng.gen_bool(0.03) {
        return b(pick(rng, &["a", "+a", "-x"]));
    }
    b(pick(
        rng,
        &[
            "-", "+", "[a", "(a", "[b", "(c", "[d", "(e", "[", "(", "[ab", "[m050",
        ],
    ))
}

/// A key a set-algebra command reads: a sorted set (mixed or equal scores), now and
/// then a set (members of score 1) or another type (WRONGTYPE).
fn algebra_key(rng: &mut ChaCha8Rng) -> Vec<u8> {
    match rng.gen_range(0..10) {
        0..=4 => format!("z{}", rng.gen_range(0..3)).into_bytes(),
        5..=6 => format!("y{}", rng.gen_range(0..2)).into_bytes(),
        7 => format!("s{}", rng.gen_range(0..3)).into_bytes(),
        8 if rng.gen_bool(0.3) => b(pick(rng, &["x1", "l0", "h1"])),
        _ => b("znokey"),
    }
}

fn limit(rng: &mut ChaCha8Rng) -> [Vec<u8>; 3] {
    [
        b("LIMIT"),
        b(pick(rng, &["0", "1", "-1", "2"])),
        b(pick(rng, &["1", "2", "-1", "0"])),
    ]
}

/// The sorted-set families of the wide workload beyond `random_wide_typed_request`'s:
/// lex ranges, the set algebra (ZUNION, ZINTER, ZDIFF, ZINTERCARD, ZDIFFSTORE,
/// ZRANGESTORE, ZMPOP) and the collection scans (HSCAN, SSCAN, ZSCAN).
pub fn random_wide_zset_request(rng: &mut ChaCha8Rng) -> Vec<Vec<u8>> {
    let n_keys = |rng: &mut ChaCha8Rng, max: usize| -> (usize, Vec<Vec<u8>>) {
        let n = rng.gen_range(1..=max);
        (n, (0..n).map(|_| algebra_key(rng)).collect())
    };
    match rng.gen_range(0..16) {
        0..=2 => {
            let key = lex_key(rng);
            if rng.gen_bool(0.04) {
                // Past 128 members: the skiplist encoding, still all of score 0.
                let mut r = vec![b("ZADD"), key];
                for i in 0..130 {
                    r.push(b("0"));
                    r.push(format!("m{i:03}").into_bytes());
                }
                return r;
            }
            let mut r = vec![b("ZADD"), key];
            for _ in 0..rng.gen_range(1..=3) {
                r.push(b("0"));
                r.push(lex_member(rng));
            }
            r
        }
        3 | 4 => {
            let mut r = vec![
                b(pick(rng, &["ZRANGEBYLEX", "ZREVRANGEBYLEX"])),
                lex_key(rng),
                lex_bound(rng),
                lex_bound(rng),
            ];
            if rng.gen_bool(0.4) {
                r.extend(limit(rng));
            }
            if rng.gen_bool(0.03) {
                r.push(b(pick(rng, &["WITHSCORES", "LIMIT"])));
            }
            r
        }
        5 => vec![b("ZLEXCOUNT"), lex_key(rng), lex_bound(rng), lex_bound(rng)],
        6 => vec![
            b("ZREMRANGEBYLEX"),
            lex_key(rng),
            lex_bound(rng),
            lex_bound(rng),
        ],
        7 | 8 => {
            let name = pick(rng, &["ZUNION", "ZINTER", "ZDIFF"]);
            let (n, keys) = n_keys(rng, 3);
            let numkeys = if rng.gen_bool(0.03) {
                b(pick(rng, &["0", "x", "4"]))
            } else {
                n.to_string().into_bytes()
            };
            let mut r = vec![b(name), numkeys];
            r.extend(keys);
            let agg =
                (name != "ZDIFF" && rng.gen_bool(0.4)).then(|| pick(rng, &["SUM", "MIN", "MAX"]));
            if name != "ZDIFF" && rng.gen_bool(0.5) {
                // Dyadic weights (exact in doubles); an infinite one only over at most
                // two inputs (Redis's SUM order over three is its own); -1 only under
                // SUM (MIN/MAX of -0 and 0 keep whichever came first).
                r.push(b("WEIGHTS"));
                for _ in 0..n {
                    let mut choices = vec!["1", "2", "0.5", "0", "1.5"];
                    if n <= 2 {
                        choices.extend(["inf", "-inf"]);
                    }
                    if agg.is_none_or(|a| a == "SUM") {
                        choices.push("-1");
                    }
                    r.push(b(pick(rng, &choices)));
                }
            }
            if let Some(a) = agg {
                r.extend([b("AGGREGATE"), b(a)]);
            }
            if rng.gen_bool(0.6) {
                r.push(b("WITHSCORES"));
            }
            if rng.gen_bool(0.02) {
                r.push(b(pick(rng, &["WEIGHTS", "AGGREGATE", "LIMIT"])));
            }
            r
        }
        9 => {
            let (n, keys) = n_keys(rng, 3);
            let mut r = vec![b("ZINTERCARD"), n.to_string().into_bytes()];
            r.extend(keys);
            if rng.gen_bool(0.5) {
                r.extend([b("LIMIT"), b(pick(rng, &["0", "1", "2", "-1"]))]);
            }
            r
        }
        10 => {
            let (n, keys) = n_keys(rng, 3);
            let mut r = vec![
                b("ZDIFFSTORE"),
                format!("z{}", rng.gen_range(0..3)).into_bytes(),
                n.to_string().into_bytes(),
            ];
            r.extend(keys);
            r
        }
        11 => {
            let from_lex = rng.gen_bool(0.4);
            let src = if from_lex {
                lex_key(rng)
            } else {
                format!("z{}", rng.gen_range(0..3)).into_bytes()
            };
            // Only a lex key's range may land on a `y` key (a `z` one's may give it
            // mixed scores, which the model judges too).
            let dst = if from_lex && rng.gen_bool(0.5) {
                lex_key(rng)
            } else {
                format!("z{}", rng.gen_range(0..3)).into_bytes()
            };
            let mut r = vec![b("ZRANGESTORE"), dst, src];
            // BYLEX only over a lex key (mostly of equal scores).
            let by = if from_lex {
                rng.gen_range(0..3)
            } else {
                rng.gen_range(0..2)
            };
            match by {
                0 => {
                    let i = |rng: &mut ChaCha8Rng| rng.gen_range(-3i64..3).to_string().into_bytes();
                    r.extend([i(rng), i(rng)]);
                }
                1 => {
                    r.extend([bound(rng), bound(rng), b("BYSCORE")]);
                }
                _ => {
                    r.extend([lex_bound(rng), lex_bound(rng), b("BYLEX")]);
                }
            }
            if rng.gen_bool(0.3) {
                r.push(b("REV"));
            }
            if by != 0 && rng.gen_bool(0.4) || rng.gen_bool(0.03) {
                r.extend(limit(rng));
            }
            r
        }
        12 => {
            let n = rng.gen_range(1..=2);
            let mut r = vec![b("ZMPOP"), n.to_string().into_bytes()];
            for _ in 0..n {
                r.push(if rng.gen_bool(0.5) {
                    lex_key(rng)
                } else {
                    typed_key(rng, "z")
                });
            }
            r.push(b(pick(rng, &["MIN", "MAX"])));
            if rng.gen_bool(0.5) {
                r.extend([b("COUNT"), b(pick(rng, &["1", "2", "5", "0"]))]);
            }
            r
        }
        _ => {
            let (name, key, patterns): (&str, Vec<u8>, &[&str]) = match rng.gen_range(0..3) {
                0 => ("HSCAN", typed_key(rng, "h"), &["f*", "g1*", "f?", "*"]),
                1 => ("SSCAN", typed_key(rng, "s"), &["1*", "a", "?", "*"]),
                _ => (
                    "ZSCAN",
                    if rng.gen_bool(0.5) {
                        typed_key(rng, "z")
                    } else {
                        lex_key(rng)
                    },
                    &["m1*", "a", "*b*", "*"],
                ),
            };
            let cursor = if rng.gen_bool(0.05) {
                b(pick(rng, &["x", "7", "18446744073709551615"]))
            } else {
                b("0")
            };
            let mut r = vec![b(name), key, cursor];
            if rng.gen_bool(0.5) {
                r.extend([b("MATCH"), b(pick(rng, patterns))]);
            }
            if rng.gen_bool(0.6) {
                r.extend([b("COUNT"), b(pick(rng, &["1", "5", "1000", "0"]))]);
            }
            r
        }
    }
}
