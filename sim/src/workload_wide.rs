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

/// A random request of the wide workload: the string, EXPIRE and keyspace families on
/// keys `x0..x2` and the collection keys. `now_ms` is the plan's start wall time, for
/// the absolute-time options (EXAT, PXAT, EXPIREAT, PEXPIREAT).
pub fn random_wide_request(rng: &mut ChaCha8Rng, now_ms: u64) -> Vec<Vec<u8>> {
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
        35 => vec![b("PING")],
        36 => vec![b("TYPE"), key],
        37 => vec![b("GET"), key],
        38 => vec![b("APPEND"), key, b("ab")],
        _ => vec![b("INCR"), key],
    }
}
