//! Differential tests for MULTI/EXEC/DISCARD/WATCH/UNWATCH against a real
//! redis-server 7.0.15, several connections per server (see `multiconn`).

mod common;
mod multiconn;

const QUEUEING: &str = r#"
EXEC
DISCARD
UNWATCH
MULTI
MULTI
WATCH x
SET a 1
INCR a
HSET a f v
GET a
EXEC
GET a
MULTI
SET a 2
DISCARD
GET a
MULTI
NOSUCHCOMMAND x y
SET a 3
EXEC
GET a
MULTI
GET
EXEC
MULTI
SHUTDOWN
DISCARD
MULTI
CONFIG NOSUCHSUB
EXEC
MULTI
EXEC
MULTI
PING
ECHO hi
SELECT 2
SET b 1
SELECT 0
EXEC
GET b
SELECT 2
GET b
SELECT 0
"#;

const RESP3: &str = r#"
! HELLO 3
MULTI
SET k v
GET k
HGETALL nokey
EXEC
WATCH k
2> SET k other
MULTI
GET k
EXEC
! HELLO 2
"#;

const WATCH_WRITES: &str = r#"
SET k 1
WATCH k
2> INCR k
MULTI
SET k 10
EXEC
GET k
WATCH k
DEL k
MULTI
SET k 1
EXEC
WATCH k
2> SET k 5
UNWATCH
MULTI
GET k
EXEC
WATCH k
2> GET k
2> EXISTS k
MULTI
GET k
EXEC
WATCH k
2> SELECT 1
2> SET k other-db
MULTI
GET k
EXEC
2> SELECT 0
WATCH nokey k
2> SET nokey 1
MULTI
PING
EXEC
WATCH k
MULTI
DISCARD
2> SET k 9
MULTI
PING
EXEC
"#;

const WATCH_GENERIC: &str = r#"
SET k 1
WATCH k
2> RENAME k k2
MULTI
EXEC
WATCH k
2> RENAME k2 k
MULTI
EXEC
WATCH k
2> EXPIRE k 100
MULTI
EXEC
WATCH k
2> PERSIST k
MULTI
EXEC
WATCH k
2> PERSIST k
MULTI
EXEC
WATCH k
2> EXPIRE k 100 XX GT
MULTI
EXEC
WATCH k
2> MOVE k 3
MULTI
EXEC
WATCH k
2> HSET k f v
MULTI
EXEC
WATCH k
2> HDEL k nofield
MULTI
EXEC
WATCH k
2> HDEL k f
MULTI
EXEC
SET k abc
WATCH k
2> APPEND k d
MULTI
EXEC
WATCH k
2> SETRANGE k 1 zz
MULTI
EXEC
WATCH k
2> GETDEL k
MULTI
EXEC
WATCH k
2> SET k 1 NX
MULTI
EXEC
WATCH k
2> SET k 1 XX
MULTI
EXEC
WATCH k
2> MSET a 1 k 2
MULTI
EXEC
WATCH k
2> INCRBYFLOAT k 1.5
MULTI
EXEC
WATCH k
2> COPY a k REPLACE
MULTI
EXEC
WATCH k
2> GETEX k PX 100000
MULTI
EXEC
WATCH k
2> GETEX k
MULTI
EXEC
"#;

const WATCH_FLUSH_SWAP: &str = r#"
WATCH nokey
FLUSHALL
MULTI
PING
EXEC
SET w 1
WATCH w
FLUSHALL
MULTI
PING
EXEC
SET w 1
WATCH w
2> FLUSHDB
MULTI
PING
EXEC
SET w 1
WATCH w
2> SELECT 5
2> FLUSHDB
MULTI
PING
EXEC
SELECT 1
SET z 1
SELECT 0
WATCH z
SWAPDB 0 1
MULTI
PING
EXEC
WATCH z
SWAPDB 0 1
MULTI
PING
EXEC
WATCH nokey
SWAPDB 0 1
MULTI
PING
EXEC
WATCH z
SWAPDB 3 4
MULTI
PING
EXEC
"#;

const WATCH_EXPIRY: &str = r#"
SET k v PX 300
WATCH k
sleep 500
MULTI
PING
EXEC
SET k v PX 300
WATCH k
sleep 500
GET k
MULTI
PING
EXEC
SET k v PX 300
WATCH k
sleep 500
2> GET k
MULTI
PING
EXEC
SET k v PX 50
sleep 200
WATCH k
MULTI
PING
EXEC
SET k v PX 50
sleep 200
WATCH k
GET k
MULTI
PING
EXEC
SET k v PX 50
sleep 200
WATCH k
2> SET k 2
MULTI
PING
EXEC
"#;

const RUNTIME_ERRORS: &str = r#"
SET s str
MULTI
INCR s
SET t 1
HSET s f v
INCRBY t notanumber
GET t
EXEC
GET t
MULTI
SUBSCRIBE ch
PING
UNSUBSCRIBE ch
EXEC
PING
"#;

const OOM: &str = r#"
MULTI
SET a 1
GET a
2> CONFIG SET maxmemory 1
EXEC
DISCARD
MULTI
GET a
2> CONFIG SET maxmemory 0
EXEC
MULTI
PING
2> CONFIG SET maxmemory 1
EXEC
MULTI
SET a 1
DISCARD
2> CONFIG SET maxmemory 0
MULTI
EXEC x
EXEC
"#;

#[test]
fn transactions_match_redis() {
    multiconn::run_scripts(&[
        ("queueing", QUEUEING),
        ("resp3", RESP3),
        ("watch_writes", WATCH_WRITES),
        ("watch_generic", WATCH_GENERIC),
        ("watch_flush_swap", WATCH_FLUSH_SWAP),
        ("watch_expiry", WATCH_EXPIRY),
        ("runtime_errors", RUNTIME_ERRORS),
        ("oom", OOM),
    ]);
}

/// One generated line: a connection prefix and a command over a few keys.
fn generated_line() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let key = || proptest::sample::select(vec!["k1", "k2", "k3"]);
    let command = prop_oneof![
        Just("MULTI".to_string()),
        Just("EXEC".to_string()),
        Just("EXEC".to_string()),
        Just("DISCARD".to_string()),
        Just("UNWATCH".to_string()),
        key().prop_map(|k| format!("WATCH {k}")),
        (key(), key()).prop_map(|(a, b)| format!("WATCH {a} {b}")),
        key().prop_map(|k| format!("SET {k} v")),
        key().prop_map(|k| format!("INCR {k}")),
        key().prop_map(|k| format!("GET {k}")),
        key().prop_map(|k| format!("DEL {k}")),
        key().prop_map(|k| format!("EXPIRE {k} 100")),
        key().prop_map(|k| format!("PERSIST {k}")),
        key().prop_map(|k| format!("HSET {k} f v")),
        (key(), key()).prop_map(|(a, b)| format!("RENAME {a} {b}")),
        key().prop_map(|k| format!("MOVE {k} 1")),
        Just("FLUSHDB".to_string()),
        Just("SWAPDB 0 1".to_string()),
        Just("SELECT 1".to_string()),
        Just("SELECT 0".to_string()),
        Just("NOSUCHCOMMAND".to_string()),
        Just("GET".to_string()),
        Just("PING".to_string()),
    ];
    (1..=2u8, command).prop_map(|(conn, c)| format!("{conn}> {c}"))
}

#[test]
fn transactions_generated_sequences_match_redis() {
    use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = common::Pair::start();
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
    let mut runner = TestRunner::new(ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let strategy = proptest::collection::vec(generated_line(), 1..40);
    let result = runner.run(&strategy, |lines| {
        // Both connections leave MULTI and WATCH behind at the end: fresh ones each case.
        let script = lines.join("\n");
        multiconn::run_script(&pair, "generated", &script).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
