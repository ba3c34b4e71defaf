//! DEBUG against a real redis-server. DIGEST and DIGEST-VALUE: the same data must give
//! the same 20 bytes, in every encoding of every type, with TTLs and in several
//! databases (the shadow-node and replication checkers compare nodes by this digest,
//! so it must be Redis's own). The subcommands client libraries use (PROTOCOL, ERROR)
//! and the test knobs: the same replies, RESP2 and RESP3.

mod common;

use common::{one, pick, words, Pair, Server};
use proptest::prelude::*;

fn debug_pair() -> Pair {
    let args = ["--enable-debug-command", "yes"];
    Pair {
        redis: Server::redis(&args),
        keel: Server::keel(&args),
    }
}

const KEYS: &[&str] = &["s", "n", "l", "h", "t", "z", "y", "e"];

/// The digest of everything, and of each key's value.
fn digests() -> Vec<Vec<String>> {
    let mut all = vec![vec!["DEBUG".to_string(), "DIGEST".to_string()]];
    let mut per_key = vec!["DEBUG".to_string(), "DIGEST-VALUE".to_string()];
    per_key.extend(KEYS.iter().map(|k| k.to_string()));
    per_key.push("missing".to_string());
    all.push(per_key);
    all
}

#[test]
fn digests_match_redis_for_every_type_and_encoding() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = debug_pair();
    let script = [
        "DEBUG DIGEST",
        "SET s hello",
        "SET n 12345",
        "SET raw xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "RPUSH l a b 3 -4 c",
        "HSET h f1 v1 f2 2 f3 v3",
        "SADD t 1 2 3 300000 -7",
        "SADD u a b c",
        "ZADD z 1 a 2.5 b -3 c 0.1 d",
        "ZADD y inf top -inf bottom 1e300 big 5e-324 tiny",
        "SET e v EX 1000",
        "DEBUG DIGEST",
        "DEBUG DIGEST-VALUE s n raw l h t u z y e missing",
        // Table encodings.
        "CONFIG SET hash-max-listpack-entries 1",
        "CONFIG SET set-max-intset-entries 1",
        "CONFIG SET zset-max-listpack-entries 1",
        "HSET h f4 v4",
        "SADD t 4",
        "ZADD z 7 e",
        "DEBUG DIGEST-VALUE h t z",
        "DEBUG DIGEST",
        // Another database, a persisted TTL.
        "SELECT 3",
        "SET s hello",
        "DEBUG DIGEST",
        "SELECT 0",
        "PERSIST e",
        "DEBUG DIGEST",
        "DEBUG DIGEST-VALUE e",
        "FLUSHALL",
        "DEBUG DIGEST",
    ];
    let (mut r, mut k) = pair.fresh();
    for line in script {
        let (want, got) = (r.cmds(line), k.cmds(line));
        assert_eq!(
            common::escape(&want),
            common::escape(&got),
            "after {line:?}"
        );
    }
}

fn command() -> BoxedStrategy<Vec<String>> {
    let key = || pick(KEYS);
    let member = || {
        pick(&[
            "a",
            "b",
            "c",
            "1",
            "2",
            "-3",
            "300000",
            "x-long-member-name",
        ])
    };
    let score = || pick(&["0", "1", "-1", "2.5", "0.1", "1e-300", "inf", "-inf", "3"]);
    prop_oneof![
        (key(), member()).prop_map(|(k, v)| words(vec![one("SET"), vec![k, v]])),
        (key(), member()).prop_map(|(k, v)| words(vec![one("APPEND"), vec![k, v]])),
        key().prop_map(|k| words(vec![one("INCR"), vec![k]])),
        (key(), member()).prop_map(|(k, v)| words(vec![one("RPUSH"), vec![k, v]])),
        (key(), member()).prop_map(|(k, v)| words(vec![one("LPUSH"), vec![k, v]])),
        key().prop_map(|k| words(vec![one("LPOP"), vec![k]])),
        (key(), member(), member()).prop_map(|(k, f, v)| words(vec![one("HSET"), vec![k, f, v]])),
        (key(), member()).prop_map(|(k, f)| words(vec![one("HDEL"), vec![k, f]])),
        (key(), member()).prop_map(|(k, m)| words(vec![one("SADD"), vec![k, m]])),
        (key(), member()).prop_map(|(k, m)| words(vec![one("SREM"), vec![k, m]])),
        (key(), score(), member()).prop_map(|(k, s, m)| words(vec![one("ZADD"), vec![k, s, m]])),
        (key(), member()).prop_map(|(k, m)| words(vec![one("ZREM"), vec![k, m]])),
        key().prop_map(|k| words(vec![one("EXPIRE"), vec![k, "1000".into()]])),
        key().prop_map(|k| words(vec![one("PERSIST"), vec![k]])),
        key().prop_map(|k| words(vec![one("DEL"), vec![k]])),
        (key(), key()).prop_map(|(a, b)| words(vec![one("RENAME"), vec![a, b]])),
        key().prop_map(|k| words(vec![one("MOVE"), vec![k, "1".into()]])),
        Just(words(vec![one("SWAPDB"), vec!["0".into(), "1".into()]])),
    ]
    .boxed()
}

#[test]
fn digests_match_redis_after_generated_writes() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = debug_pair();
    let strategy = (
        proptest::bool::ANY,
        proptest::collection::vec(command(), 1..30),
    )
        .prop_map(|(tables, mut seq)| {
            seq.extend(digests());
            let setup = if tables {
                vec![
                    "CONFIG SET hash-max-listpack-entries 2".to_string(),
                    "CONFIG SET set-max-intset-entries 2".to_string(),
                    "CONFIG SET zset-max-listpack-entries 2".to_string(),
                ]
            } else {
                vec![
                    "CONFIG SET hash-max-listpack-entries 128".to_string(),
                    "CONFIG SET set-max-intset-entries 512".to_string(),
                    "CONFIG SET zset-max-listpack-entries 128".to_string(),
                ]
            };
            (setup, seq)
        });
    common::run_generated(&pair, strategy, |_, reply| reply.to_vec());
}

#[test]
fn debug_subcommands_match_redis() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = debug_pair();
    let lines = [
        "DEBUG PROTOCOL string",
        "DEBUG PROTOCOL integer",
        "DEBUG PROTOCOL double",
        "DEBUG PROTOCOL bignum",
        "DEBUG PROTOCOL null",
        "DEBUG PROTOCOL array",
        "DEBUG PROTOCOL set",
        "DEBUG PROTOCOL map",
        "DEBUG PROTOCOL attrib",
        "DEBUG PROTOCOL push",
        "DEBUG PROTOCOL verbatim",
        "DEBUG PROTOCOL true",
        "DEBUG PROTOCOL false",
        "DEBUG PROTOCOL FALSE",
        "DEBUG PROTOCOL nope",
        "DEBUG PROTOCOL",
        "DEBUG ERROR \"LOADING Redis is loading the dataset in memory\"",
        "DEBUG ERROR \"READONLY You can't write against a read only replica.\"",
        "DEBUG ERROR oops",
        "DEBUG ERROR a b",
        "DEBUG LOG \"a line for the log\"",
        "DEBUG LOG",
        "DEBUG CHANGE-REPL-ID",
        "DEBUG CHANGE-REPL-ID x",
        "DEBUG QUICKLIST-PACKED-THRESHOLD 100",
        "DEBUG QUICKLIST-PACKED-THRESHOLD 0",
        "DEBUG QUICKLIST-PACKED-THRESHOLD 1gb",
        "DEBUG QUICKLIST-PACKED-THRESHOLD 4gb",
        "DEBUG QUICKLIST-PACKED-THRESHOLD -1",
        "DEBUG QUICKLIST-PACKED-THRESHOLD x",
        "HSET h a 1",
        "RPUSH l a b",
        "SET s v",
        "DEBUG LISTPACK h",
        "DEBUG LISTPACK l",
        "DEBUG LISTPACK s",
        "DEBUG LISTPACK nokey",
        "DEBUG QUICKLIST l",
        "DEBUG QUICKLIST l 1",
        "DEBUG QUICKLIST h",
        "DEBUG REPLYBUFFER RESIZING 0",
        "DEBUG REPLYBUFFER RESIZING 1",
        "DEBUG REPLYBUFFER PEAK-RESET-TIME NEVER",
        "DEBUG REPLYBUFFER PEAK-RESET-TIME reset",
        "DEBUG REPLYBUFFER PEAK-RESET-TIME 100",
        "DEBUG REPLYBUFFER PEAK-RESET-TIME x",
        "DEBUG REPLYBUFFER FOO 1",
        "DEBUG REPLYBUFFER",
        "DEBUG PAUSE-CRON 1",
        "DEBUG PAUSE-CRON 0",
        "DEBUG PAUSE-CRON x",
        "DEBUG CLIENT-EVICTION",
        "DEBUG DIGEST x",
        "DEBUG DIGEST-VALUE",
        "DEBUG NOPE",
        "DEBUG nope 1 2",
        "DEBUG SLEEP 0",
    ];
    for proto in ["2", "3"] {
        let (mut r, mut k) = pair.fresh();
        r.cmds(&format!("HELLO {proto}"));
        k.cmds(&format!("HELLO {proto}"));
        for line in lines {
            let (want, got) = (r.cmds(line), k.cmds(line));
            assert_eq!(
                common::escape(&want),
                common::escape(&got),
                "RESP{proto}: {line}"
            );
        }
    }
}
