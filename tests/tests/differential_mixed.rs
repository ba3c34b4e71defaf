//! Generated differential sequences mixing every type on the same few keys: strings,
//! hashes, lists, sets and sorted sets, generic commands (TYPE, RENAME, COPY, SORT,
//! OBJECT ENCODING) and MULTI/EXEC blocks, against a real redis-server and keel,
//! compared byte for byte (multisets where Redis's order is unspecified). Shared keys
//! make WRONGTYPE, cross-type RENAME/COPY, *STORE over other types and encoding
//! conversions (thresholds lowered) part of every run.

mod common;

use common::{pick, Pair};
use proptest::prelude::*;

const KEYS: &[&str] = &["k1", "k2", "k3"];
const ELEMS: &[&str] = &["a", "b", "c", "1", "2", "10", "-3", "xyzzy"];
const SCORES: &[&str] = &["0", "1", "2", "-1", "1.5", "+inf", "-inf", "3e2", "x"];
const INDEXES: &[&str] = &["0", "1", "-1", "2", "-2", "5", "-10"];

fn line(parts: &[&str], rest: Vec<String>) -> Vec<String> {
    parts.iter().map(|s| s.to_string()).chain(rest).collect()
}

/// Commands whose reply order Redis leaves unspecified: compared as multisets.
fn unordered_command(name: &str) -> bool {
    matches!(
        name,
        "SMEMBERS" | "SINTER" | "SUNION" | "SDIFF" | "HGETALL" | "HKEYS" | "HVALS" | "SRANDMEMBER"
    )
}

/// One command from any type, on shared keys.
fn command() -> BoxedStrategy<Vec<String>> {
    let k = || pick(KEYS);
    let e = || pick(ELEMS);
    let i = || pick(INDEXES);
    let s = || pick(SCORES);
    let elems = || proptest::collection::vec(pick(ELEMS), 1..4);
    let scored = || {
        proptest::collection::vec((pick(SCORES), pick(ELEMS)), 1..3)
            .prop_map(|p| p.into_iter().flat_map(|(a, b)| [a, b]).collect::<Vec<_>>())
    };
    let strings = prop_oneof![
        (k(), e()).prop_map(|(k, e)| line(&["SET"], vec![k, e])),
        k().prop_map(|k| line(&["GET"], vec![k])),
        (k(), e()).prop_map(|(k, e)| line(&["APPEND"], vec![k, e])),
        k().prop_map(|k| line(&["INCR"], vec![k])),
    ];
    let hashes = prop_oneof![
        (k(), e(), e()).prop_map(|(k, f, v)| line(&["HSET"], vec![k, f, v])),
        (k(), e()).prop_map(|(k, f)| line(&["HGET"], vec![k, f])),
        (k(), elems()).prop_map(|(k, f)| line(&["HDEL", &k], f)),
        k().prop_map(|k| line(&["HGETALL"], vec![k])),
        k().prop_map(|k| line(&["HLEN"], vec![k])),
    ];
    let lists = prop_oneof![
        (k(), elems()).prop_map(|(k, v)| line(&["LPUSH", &k], v)),
        (k(), elems()).prop_map(|(k, v)| line(&["RPUSH", &k], v)),
        (k(), e()).prop_map(|(k, v)| line(&["LPUSHX"], vec![k, v])),
        k().prop_map(|k| line(&["LPOP"], vec![k])),
        (k(), pick(&["0", "1", "3"])).prop_map(|(k, n)| line(&["RPOP"], vec![k, n])),
        (k(), i(), i()).prop_map(|(k, a, b)| line(&["LRANGE"], vec![k, a, b])),
        k().prop_map(|k| line(&["LLEN"], vec![k])),
        (k(), i()).prop_map(|(k, a)| line(&["LINDEX"], vec![k, a])),
        (k(), i(), e()).prop_map(|(k, a, v)| line(&["LSET"], vec![k, a, v])),
        (k(), pick(&["0", "1", "-1", "2"]), e())
            .prop_map(|(k, n, v)| line(&["LREM"], vec![k, n, v])),
        (k(), i(), i()).prop_map(|(k, a, b)| line(&["LTRIM"], vec![k, a, b])),
        (k(), pick(&["BEFORE", "AFTER"]), e(), e())
            .prop_map(|(k, w, p, v)| line(&["LINSERT"], vec![k, w, p, v])),
        (k(), e()).prop_map(|(k, v)| line(&["LPOS"], vec![k, v, "COUNT".into(), "0".into()])),
        (k(), k(), pick(&["LEFT", "RIGHT"]), pick(&["LEFT", "RIGHT"]))
            .prop_map(|(a, b, x, y)| line(&["LMOVE"], vec![a, b, x, y])),
        (k(), k()).prop_map(|(a, b)| line(&["RPOPLPUSH"], vec![a, b])),
        (k(), k()).prop_map(|(a, b)| line(
            &["LMPOP", "2"],
            vec![a, b, "LEFT".into(), "COUNT".into(), "2".into()]
        )),
    ];
    let sets = prop_oneof![
        (k(), elems()).prop_map(|(k, v)| line(&["SADD", &k], v)),
        (k(), elems()).prop_map(|(k, v)| line(&["SREM", &k], v)),
        k().prop_map(|k| line(&["SCARD"], vec![k])),
        (k(), e()).prop_map(|(k, v)| line(&["SISMEMBER"], vec![k, v])),
        (k(), elems()).prop_map(|(k, v)| line(&["SMISMEMBER", &k], v)),
        k().prop_map(|k| line(&["SMEMBERS"], vec![k])),
        (k(), k()).prop_map(|(a, b)| line(&["SINTER"], vec![a, b])),
        (k(), k()).prop_map(|(a, b)| line(&["SUNION"], vec![a, b])),
        (k(), k()).prop_map(|(a, b)| line(&["SDIFF"], vec![a, b])),
        (k(), k(), k()).prop_map(|(d, a, b)| line(&["SUNIONSTORE"], vec![d, a, b])),
        (k(), k(), k()).prop_map(|(d, a, b)| line(&["SINTERSTORE"], vec![d, a, b])),
        (k(), k(), k()).prop_map(|(d, a, b)| line(&["SDIFFSTORE"], vec![d, a, b])),
        (k(), k()).prop_map(|(a, b)| line(&["SINTERCARD", "2"], vec![a, b])),
        (k(), k(), e()).prop_map(|(a, b, v)| line(&["SMOVE"], vec![a, b, v])),
    ];
    let zsets = prop_oneof![
        (k(), scored()).prop_map(|(k, p)| line(&["ZADD", &k], p)),
        (
            k(),
            pick(&["NX", "XX", "GT", "LT", "CH", "GT CH", "XX LT CH"]),
            s(),
            e()
        )
            .prop_map(|(k, f, sc, m)| {
                let mut c = line(&["ZADD", &k], f.split(' ').map(str::to_string).collect());
                c.extend([sc, m]);
                c
            }),
        (k(), s(), e()).prop_map(|(k, sc, m)| line(&["ZINCRBY"], vec![k, sc, m])),
        (k(), e()).prop_map(|(k, m)| line(&["ZSCORE"], vec![k, m])),
        (k(), i(), i()).prop_map(|(k, a, b)| line(&["ZRANGE"], vec![k, a, b, "WITHSCORES".into()])),
        (k(), s(), s())
            .prop_map(|(k, a, b)| line(&["ZRANGEBYSCORE"], vec![k, a, b, "WITHSCORES".into()])),
        (k(), i(), i()).prop_map(|(k, a, b)| line(&["ZREVRANGE"], vec![k, a, b])),
        (k(), e()).prop_map(|(k, m)| line(&["ZRANK"], vec![k, m])),
        (k(), elems()).prop_map(|(k, m)| line(&["ZREM", &k], m)),
        k().prop_map(|k| line(&["ZCARD"], vec![k])),
        (k(), s(), s()).prop_map(|(k, a, b)| line(&["ZCOUNT"], vec![k, a, b])),
        (k(), pick(&["1", "2"])).prop_map(|(k, n)| line(&["ZPOPMIN"], vec![k, n])),
        (k(), k(), k()).prop_map(|(d, a, b)| line(&["ZUNIONSTORE", &d, "2"], vec![a, b])),
        (k(), k(), k()).prop_map(|(d, a, b)| line(
            &["ZINTERSTORE", &d, "2"],
            vec![a, b, "AGGREGATE".into(), "MAX".into()]
        )),
        (k(), k()).prop_map(|(a, b)| line(&["ZUNION", "2"], vec![a, b, "WITHSCORES".into()])),
        (k(), k()).prop_map(|(a, b)| line(&["ZDIFF", "2"], vec![a, b])),
        (k(), k(), i(), i()).prop_map(|(d, a, x, y)| line(&["ZRANGESTORE"], vec![d, a, x, y])),
        (k(), k()).prop_map(|(a, b)| line(&["ZMPOP", "2"], vec![a, b, "MAX".into()])),
    ];
    let generic = prop_oneof![
        k().prop_map(|k| line(&["DEL"], vec![k])),
        k().prop_map(|k| line(&["TYPE"], vec![k])),
        k().prop_map(|k| line(&["EXISTS"], vec![k])),
        k().prop_map(|k| line(&["OBJECT", "ENCODING"], vec![k])),
        (k(), k()).prop_map(|(a, b)| line(&["RENAME"], vec![a, b])),
        (k(), k()).prop_map(|(a, b)| line(&["COPY"], vec![a, b, "REPLACE".into()])),
        k().prop_map(|k| line(&["SORT"], vec![k])),
        k().prop_map(|k| line(
            &["SORT"],
            vec![
                k,
                "ALPHA".into(),
                "DESC".into(),
                "LIMIT".into(),
                "0".into(),
                "3".into()
            ]
        )),
    ];
    prop_oneof![
        2 => strings,
        2 => hashes,
        4 => lists,
        4 => sets,
        4 => zsets,
        3 => generic,
    ]
    .boxed()
}

/// A step: one command, or a MULTI/EXEC block of commands whose replies are ordered.
fn step() -> BoxedStrategy<Vec<Vec<String>>> {
    prop_oneof![
        8 => command().prop_map(|c| vec![c]),
        1 => proptest::collection::vec(command(), 1..4)
            .prop_filter("ordered replies inside EXEC", |cs| cs.iter().all(|c| !unordered_command(&c[0])))
            .prop_map(|cs| {
                let mut block = vec![vec!["MULTI".to_string()]];
                block.extend(cs);
                block.push(vec!["EXEC".to_string()]);
                block
            }),
    ]
    .boxed()
}

/// Small encoding thresholds so short sequences cross every conversion.
const LIMITS: &[&str] = &[
    "CONFIG SET hash-max-listpack-entries 3",
    "CONFIG SET set-max-intset-entries 3",
    "CONFIG SET zset-max-listpack-entries 3",
    "CONFIG SET zset-max-listpack-value 4",
    "CONFIG SET list-max-listpack-size 3",
];

#[test]
fn differential_mixed_type_sequences() {
    if !common::require_redis_or_skip() {
        return;
    }
    let strategy = proptest::collection::vec(step(), 1..40).prop_map(|steps| {
        let setup = LIMITS.iter().map(|l| l.to_string()).collect();
        (setup, steps.into_iter().flatten().collect())
    });
    common::run_generated(&Pair::start(), strategy, |c, reply| {
        if unordered_command(&c[0]) {
            common::unordered_deep(reply)
        } else {
            reply.to_vec()
        }
    });
}
