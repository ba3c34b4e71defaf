//! Differential tests: the same command scripts against a real redis-server and keel,
//! replies compared byte for byte.
//!
//! Scripts are data: one command per line, in redis-cli syntax (`""` is an empty
//! argument, `"a b"` one argument with a space, `\xHH` escapes inside quotes). A line
//! may start with a marker:
//!
//! * `~ ` the reply is an array whose order is unspecified (KEYS, ...): compared after
//!   sorting its elements, as multisets;
//! * `! ` run on both servers but do not compare (state set-up whose reply differs on
//!   purpose, such as SCAN cursors);
//! * `# ` a comment.
//!
//! Never compared: SCAN cursors, RANDOMKEY with several keys, INFO, CLIENT LIST/INFO/ID,
//! TIME, HELLO's id, DEBUG, `CONFIG GET port`, COMMAND output (`differential_command.rs`
//! compares that).

mod common;

use common::{escape, parse_line, sorted_reply, Compare, Pair};
use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestCaseError, TestRunner};

/// Runs one script on fresh connections after FLUSHALL; returns the first mismatch,
/// described with the command, both replies and the whole script.
fn run_script(pair: &Pair, name: &str, script: &str) -> Result<(), String> {
    // KEEL_DIFF_ALL=1 keeps going after a mismatch (later lines may then differ only
    // because the states diverged): for surveying, not for CI.
    let keep_going = std::env::var("KEEL_DIFF_ALL").as_deref() == Ok("1");
    let script = script.trim_matches('\n');
    let (mut r, mut k) = pair.fresh();
    let mut mismatches = Vec::new();
    for (n, raw) in script.lines().enumerate() {
        let Some((how, line)) = parse_line(raw) else {
            continue;
        };
        let args = common::s(line);
        let want = r.cmdv(&args);
        let got = k.cmdv(&args);
        let same = match how {
            Compare::Exact => want == got,
            Compare::Unordered => sorted_reply(&want) == sorted_reply(&got),
            Compare::Skip => true,
        };
        if !same {
            mismatches.push(format!(
                "script '{name}', line {}: {line}\n  redis: {}\n  keel:  {}",
                n + 1,
                escape(&want),
                escape(&got)
            ));
            if !keep_going {
                break;
            }
        }
    }
    if !mismatches.is_empty() {
        return Err(format!(
            "{}\n--- script '{name}' ---\n{script}",
            mismatches.join("\n")
        ));
    }
    // Leave the servers as we found them for the next script.
    for line in ["CONFIG SET maxmemory 0", "FLUSHALL"] {
        r.cmds(line);
        k.cmds(line);
    }
    Ok(())
}

/// Runs every script; fails listing each script's first mismatch.
fn run_scripts(scripts: &[(&str, &str)]) {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    let failures: Vec<String> = scripts
        .iter()
        .filter_map(|(name, script)| {
            // A server hanging up or sending garbage fails this script, not the rest.
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_script(&pair, name, script)
            }))
            .unwrap_or_else(|p| {
                let msg = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                Err(format!(
                    "script '{name}' broke the connection: {msg}\n--- script ---\n{}",
                    script.trim()
                ))
            })
            .err()
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} scripts differ from redis:\n\n{}",
        failures.len(),
        scripts.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------
// Fixed scripts. Add lines freely; each script starts from an empty server.
// ---------------------------------------------------------------------------------

const STRINGS: &[(&str, &str)] = &[
    (
        "set-options",
        r#"
SET k v
GET k
SET k v2 NX
GET k
SET k v3 XX
GET k
SET k2 v XX
GET k2
SET k2 v NX
SET k2 w NX GET
SET k v4 GET
SET nokey v GET
GET nokey
SET k v NX XX
SET k v XX NX
SET k v EX 10 PX 100
SET k v EX 10 EX 10
SET k v EX 0
SET k v EX -1
SET k v EX abc
SET k v EX 1.5
SET k v EX ""
SET k v PX 0
SET k v PX -100
SET k v EXAT 0
SET k v PXAT -1
SET k v EX 9223372036854775807
SET k v PX 9223372036854775807
SET k v EX 99999999999999999999
SET k v EX
SET k v FOO
SET k v KEEPTTL EX 10
SET k v EX 100 KEEPTTL
GET k
SET k v EX 100
TTL k
SET k v2 KEEPTTL
TTL k
GET k
SET k v3
TTL k
SET k v PX 100000
TTL k
SET k v EXAT 4102444800
EXPIRETIME k
PEXPIRETIME k
SET k v PXAT 4102444800123
PEXPIRETIME k
EXPIRETIME k
SET k v GET EX 100
TTL k
SET k v nx
SET k v xx get
SET k
SET
SET k v ex 100 px
SET "" empty
GET ""
SET k "with space"
GET k
SET k "\x00\xff\r\n"
GET k
STRLEN k
"#,
    ),
    (
        "setnx-setex-psetex",
        r#"
SETNX k v
SETNX k w
GET k
SETEX k 100 v2
GET k
TTL k
SETEX k 0 v
SETEX k -1 v
SETEX k abc v
SETEX k 1.5 v
SETEX k 9223372036854775807 v
SETEX k 100
PSETEX k 100000 v3
GET k
TTL k
PSETEX k 0 v
PSETEX k -5 v
PSETEX k abc v
SETNX k
SETNX nokey
"#,
    ),
    (
        "mget-mset-msetnx",
        r#"
MSET a 1 b 2 c 3
MGET a b c nokey
MGET nokey
MSET a
MSET a 1 b
MSET
MSETNX a 1 d 4
MGET d
MSETNX d 4 e 5
MGET d e
MSETNX x 1 x 2
GET x
MSETNX y
MGET
MSET a 10 a 20
GET a
"#,
    ),
    (
        "getset-getdel-getex",
        r#"
GETSET k v
GETSET k w
GET k
GETSET k
GETDEL k
GETDEL k
EXISTS k
GETDEL
SET k v EX 100
GETSET k x
TTL k
SET k v
GETEX k
GETEX k EX 100
TTL k
GETEX k PERSIST
TTL k
GETEX k PX 100000
TTL k
GETEX k EXAT 4102444800
EXPIRETIME k
GETEX k PXAT 4102444800999
PEXPIRETIME k
GETEX k EX 10 PX 10
GETEX k EX 10 PERSIST
GETEX k PERSIST EX 10
GETEX k EX 0
GETEX k EX -1
GETEX k PX abc
GETEX k EX
GETEX k FOO
GETEX k EX 9223372036854775807
GETEX nokey EX 10
GETEX nokey
GETEX nokey FOO
GET k
"#,
    ),
    (
        "getex-missing-key",
        r#"
# Redis looks the key up before it validates the expire time.
GETEX nokey EX 0
GETEX nokey PX -1
GETEX nokey EX abc
GETEX nokey EXAT 9223372036854775807
"#,
    ),
    (
        "append-strlen",
        r#"
APPEND s hello
APPEND s " world"
GET s
STRLEN s
STRLEN nokey
APPEND s ""
STRLEN s
APPEND n 1
APPEND n 2
GET n
INCR n
APPEND
APPEND s
STRLEN
STRLEN a b
"#,
    ),
    (
        "incr-decr",
        r#"
INCR n
INCR n
DECR n
DECR n
DECR n
GET n
SET n 10
INCRBY n 5
DECRBY n 3
INCRBY n -20
DECRBY n -20
GET n
INCRBY n abc
INCRBY n 1.5
INCRBY n ""
INCRBY n " 1"
INCRBY n "1 "
INCRBY n +1
INCRBY n -0
INCRBY n 99999999999999999999
INCRBY n 9223372036854775808
DECRBY n -9223372036854775808
INCRBY n -9223372036854775808
GET n
SET s hello
INCR s
DECR s
INCRBY s 1
SET big 9223372036854775807
INCR big
INCRBY big 0
DECR big
INCR big
SET small -9223372036854775808
DECR small
DECRBY small 1
INCRBY small -1
INCR small
SET lead 01
INCR lead
SET plus +1
INCR plus
SET sp " 1"
INCR sp
SET neg0 -0
INCR neg0
SET flt 1.0
INCR flt
SET e 1e3
INCR e
SET empty ""
INCR empty
INCR
INCR a b
INCRBY a
DECRBY a
DECR
"#,
    ),
    (
        "incrbyfloat",
        r#"
# Values whose float text is the same in long double (Redis) and double arithmetic.
INCRBYFLOAT f 10.5
GET f
SET d 10.50
INCRBYFLOAT d 0.1
GET d
SET e 5.0e3
INCRBYFLOAT e 2.0e2
INCRBYFLOAT e 3.0e3
INCRBYFLOAT e 5
INCRBYFLOAT e -2.5
INCRBYFLOAT e -2.5
GET e
INCRBYFLOAT f abc
INCRBYFLOAT f ""
INCRBYFLOAT f nan
INCRBYFLOAT f " 1"
INCRBYFLOAT f "1 "
GET f
SET s hello
INCRBYFLOAT s 1
SET i 5
INCRBYFLOAT i 2
GET i
OBJECT ENCODING i
INCRBYFLOAT g -2.5
INCRBYFLOAT g 5
INCRBYFLOAT g 1.5e1
INCRBYFLOAT h 3.0e3
INCRBYFLOAT
INCRBYFLOAT f
"#,
    ),
    (
        "incrbyfloat-infinity",
        r#"
SET f 1
INCRBYFLOAT f inf
INCRBYFLOAT f -inf
INCRBYFLOAT f +inf
INCRBYFLOAT f infinity
GET f
"#,
    ),
    (
        "incrbyfloat-strtold-syntax",
        r#"
SET f 5
INCRBYFLOAT f 0x10
INCRBYFLOAT f 1e-2
INCRBYFLOAT f .5
INCRBYFLOAT f 5.
INCRBYFLOAT f -.5
GET f
"#,
    ),
    (
        "getrange-substr",
        r#"
SET g "This is a string"
GETRANGE g 0 3
GETRANGE g -3 -1
GETRANGE g 0 -1
GETRANGE g 10 100
GETRANGE g 0 -100
GETRANGE g -1 -5
GETRANGE g 5 3
GETRANGE g -100 -50
GETRANGE g -100 2
GETRANGE g 15 15
GETRANGE g 16 16
GETRANGE g 0 0
GETRANGE g -9223372036854775808 9223372036854775807
GETRANGE nokey 0 1
GETRANGE g a b
GETRANGE g 0 1.5
GETRANGE g 0
SUBSTR g 0 3
SUBSTR g -3 -1
SUBSTR g 0
SET empty ""
GETRANGE empty 0 -1
GETRANGE empty 0 0
SET n 12345
GETRANGE n 1 2
GETRANGE n -2 -1
"#,
    ),
    (
        "setrange",
        r#"
SET r "Hello World"
SETRANGE r 6 Redis
GET r
SETRANGE r 20 x
GET r
STRLEN r
SETRANGE new 5 x
GET new
SETRANGE r 0 ""
SETRANGE nokey 0 ""
SETRANGE nokey 10 ""
EXISTS nokey
SETRANGE r -1 x
SETRANGE r abc x
SETRANGE r 1.5 x
SETRANGE r 536870912 x
SETRANGE r 9223372036854775807 x
SETRANGE nokey2 536870912 x
SETRANGE r 0
SET n 123
SETRANGE n 1 9
GET n
OBJECT ENCODING n
"#,
    ),
    (
        "lcs",
        r#"
SET key1 ohmytext
SET key2 mynewtext
LCS key1 key2
LCS key1 key2 LEN
LCS key1 key2 IDX
LCS key1 key2 IDX MINMATCHLEN 4
LCS key1 key2 IDX MINMATCHLEN 4 WITHMATCHLEN
LCS key1 key2 IDX WITHMATCHLEN
LCS key1 key2 LEN IDX
LCS key1 key2 WITHMATCHLEN
LCS key1 key2 MINMATCHLEN 4
LCS key1 key2 idx minmatchlen 0 withmatchlen
LCS key1 key2 IDX MINMATCHLEN -1
LCS key1 key2 IDX MINMATCHLEN abc
LCS key1 key2 IDX MINMATCHLEN
LCS key1 key2 FOO
LCS key1 nokey
LCS nokey nokey2
LCS nokey nokey2 LEN
LCS nokey nokey2 IDX
LCS key1 key1
LCS key1
SET a ""
LCS a key1 IDX
SET x ABCBDAB
SET y BDCABA
LCS x y
LCS x y LEN
LCS x y IDX WITHMATCHLEN
RPUSH lst a
LCS x lst FOO
LCS lst x MINMATCHLEN
LCS x lst IDX MINMATCHLEN abc
LCS x lst LEN IDX
"#,
    ),
    (
        "object-encoding",
        r#"
SET e 123
OBJECT ENCODING e
SET e -123
OBJECT ENCODING e
SET e 9223372036854775807
OBJECT ENCODING e
SET e 12345678901234567890
OBJECT ENCODING e
SET e abc
OBJECT ENCODING e
SET e 01
OBJECT ENCODING e
SET e " 12"
OBJECT ENCODING e
SET e 123456789012345678901234567890123456789012345
OBJECT ENCODING e
SET e 12345678901234567890123456789012345678901234
OBJECT ENCODING e
SET e abc
APPEND e x
OBJECT ENCODING e
SET e 1
APPEND e 2
OBJECT ENCODING e
GET e
INCR e
OBJECT ENCODING e
SET e ""
OBJECT ENCODING e
SETRANGE e2 0 abc
OBJECT ENCODING e2
INCRBYFLOAT e3 1.5
OBJECT ENCODING e3
OBJECT ENCODING nokey
SET r 123
OBJECT REFCOUNT r
SET r 100000
OBJECT REFCOUNT r
SET r abc
OBJECT REFCOUNT r
OBJECT REFCOUNT nokey
OBJECT FREQ r
OBJECT FOO r
OBJECT ENCODING
OBJECT ENCODING a b
OBJECT
"#,
    ),
];

const KEYS: &[(&str, &str)] = &[
    (
        "del-unlink-exists-type",
        r#"
MSET a 1 b 2 c 3
DEL a b nokey
DEL a
EXISTS a b c c nokey
UNLINK c c
EXISTS c
TYPE b
TYPE nokey
DEL
UNLINK
EXISTS
TYPE
TYPE a b
"#,
    ),
    (
        "keys",
        r#"
MSET a 1 b 2 ab 3 abc 4 "x y" 5 h?llo 6 hello 7 hallo 8 hxllo 9
~ KEYS *
~ KEYS a*
~ KEYS a?
~ KEYS ?
~ KEYS h[ae]llo
~ KEYS h[^e]llo
~ KEYS h[a-b]llo
~ KEYS h\?llo
~ KEYS "x *"
~ KEYS *c
~ KEYS nomatch*
~ KEYS [
~ KEYS [a
~ KEYS \\
KEYS
KEYS a b
SELECT 1
~ KEYS *
"#,
    ),
    (
        "glob-edges",
        r#"
# An empty key or field matches no pattern but a lone * (which skips matching).
MSET "" e b b "\x80" h "\xff" f
~ KEYS **
~ KEYS *
~ KEYS ?*
# Class ranges compare C's signed chars: [a-\xff] is -1..=97.
~ KEYS "[a-\xff]"
~ KEYS "[\x7f-\x81]"
~ KEYS "[^a-\xff]"
HSET h "" 1 f 2
~ HSCAN h 0 MATCH **
~ HSCAN h 0 MATCH *
# With nocase (CONFIG GET), an escaped byte in a class still compares exactly, and
# range ends are swapped before they are lower-cased.
CONFIG GET "[\\M]axmemory"
CONFIG GET "[\\m]axmemory"
CONFIG GET "[Z-a]axmemory"
CONFIG GET "[L-N]axmemory"
"#,
    ),
    (
        "rename",
        r#"
SET a 1
RENAME a b
GET a
GET b
RENAME nokey x
RENAME b b
GET b
RENAME nokey nokey
SET c 3
RENAME b c
GET c
SET b 2
RENAMENX b c
RENAMENX b e
GET e
RENAMENX e e
RENAMENX nokey x
RENAME a
RENAMENX a
"#,
    ),
    (
        "rename-keeps-ttl",
        r#"
SET b 2 EX 100
RENAME b d
TTL d
RENAMENX d e
TTL e
SET f 1
RENAME e f
TTL f
SET g 1 EXAT 4102444800
RENAME g h
EXPIRETIME h
"#,
    ),
    (
        "expire-family",
        r#"
SET e v
EXPIRE e 100
TTL e
EXPIRE e 100 NX
EXPIRE e 200 XX
TTL e
EXPIRE e 50 GT
EXPIRE e 300 GT
TTL e
EXPIRE e 50 LT
TTL e
EXPIRE e 500 LT
EXPIRE e 10 NX XX
EXPIRE e 10 GT LT
EXPIRE e 10 NX GT
EXPIRE e 10 XX GT
TTL e
EXPIRE e 10 FOO
EXPIRE e 10 nx
EXPIRE e abc
EXPIRE e 1.5
EXPIRE e ""
EXPIRE nokey 10
EXPIRE nokey 10 XX
PERSIST e
PERSIST e
PERSIST nokey
TTL e
TTL nokey
PTTL e
PTTL nokey
EXPIRE e 10 XX
EXPIRE e 10 GT
EXPIRE e 100 LT
TTL e
PERSIST e
EXPIRE e 100 NX
TTL e
PEXPIRE e 200000
TTL e
PEXPIRE e 200000 NX
PEXPIRE e 300000 GT
TTL e
PEXPIRE e abc
EXPIREAT e 4102444800
EXPIRETIME e
PEXPIRETIME e
TTL nokey
EXPIREAT e 4102444800 NX
EXPIREAT e 4102444801 GT
EXPIRETIME e
PEXPIREAT e 4102444800123
PEXPIRETIME e
EXPIRETIME e
PEXPIREAT e 4102444800123 LT
EXPIRETIME nokey
PEXPIRETIME nokey
SET p v
EXPIRETIME p
PEXPIRETIME p
EXPIRE e 0
EXISTS e
SET e v
EXPIRE e -1
EXISTS e
SET e v
EXPIREAT e 1
EXISTS e
SET e v
PEXPIRE e -100
EXISTS e
SET e v
PEXPIREAT e 1000
EXISTS e
SET e v
EXPIRE e 9223372036854775807
EXPIRE e -9223372036854775808
EXPIRE e 9223372036854775
PEXPIRE e 9223372036854775807
EXPIREAT e 9223372036854775807
PEXPIREAT e 9223372036854775807
EXPIRE e -9223372036854775
TTL e
EXPIRE e
EXPIRE
TTL
PTTL a b
EXPIRETIME
PERSIST
"#,
    ),
    (
        "touch-copy-move",
        r#"
MSET a 1 b 2
TOUCH a b nokey
TOUCH nokey
TOUCH
COPY a c
GET c
COPY a c
COPY a c REPLACE
SET a2 x
COPY a2 c REPLACE
GET c
COPY a c DB 1
SELECT 1
GET c
SELECT 0
COPY a a
COPY a a DB 0
COPY a a DB 1
COPY a c DB 16
COPY a c DB -1
COPY a c DB abc
COPY a c FOO
COPY a c DB
COPY a c REPLACE REPLACE
COPY nokey x
SET t v EX 100
COPY t t2
TTL t2
COPY
COPY a
MOVE a 1
MOVE a 1
SET a 1
MOVE a 1
MOVE a 0
MOVE nokey 1
MOVE a 16
MOVE a -1
MOVE a abc
MOVE a
SELECT 1
GET a
MOVE a 0
"#,
    ),
    (
        "dbsize-flush-swapdb-select",
        r#"
MSET a 1 b 2 c 3
DBSIZE
FLUSHDB
DBSIZE
MSET a 1 b 2
FLUSHDB ASYNC
DBSIZE
SET a 1
FLUSHDB SYNC
DBSIZE
FLUSHDB FOO
FLUSHDB SYNC ASYNC
SET a 1
SWAPDB 0 1
DBSIZE
SELECT 1
DBSIZE
GET a
SWAPDB 1 0
SWAPDB 0 0
SWAPDB 0 16
SWAPDB 16 0
SWAPDB -1 0
SWAPDB a 1
SWAPDB 0 b
SWAPDB 0
SELECT 0
GET a
SELECT 15
SET z 1
DBSIZE
SELECT 16
SELECT -1
SELECT abc
SELECT 1.5
SELECT ""
SELECT
SELECT 0
DBSIZE
FLUSHALL
SELECT 15
DBSIZE
FLUSHALL ASYNC
FLUSHALL SYNC
FLUSHALL FOO
DBSIZE x
"#,
    ),
    (
        "scan-negative-cursor",
        r#"
# Redis reads the cursor with strtoul: -1 wraps around (on an empty db the answer is 0).
SCAN -1
SCAN 18446744073709551615
SCAN 18446744073709551616
"#,
    ),
    (
        "randomkey-scan",
        r#"
RANDOMKEY
SCAN 0
SCAN abc
SCAN 1.5
SET only 1
RANDOMKEY
RANDOMKEY x
SCAN 0 MATCH nomatch*
SCAN 0 COUNT 0
SCAN 0 COUNT -1
SCAN 0 COUNT abc
SCAN 0 MATCH
SCAN 0 FOO bar
SCAN
"#,
    ),
];

const CONNECTION: &[(&str, &str)] = &[
    (
        "ping-echo",
        r#"
PING
PING hello
PING ""
PING a b
ECHO hello
ECHO ""
ECHO
ECHO a b
ping
Ping HeLLo
"#,
    ),
    (
        "client-names",
        r#"
CLIENT GETNAME
CLIENT SETNAME foo
CLIENT GETNAME
CLIENT SETNAME "a b"
CLIENT SETNAME "a\nb"
CLIENT SETNAME "caf\xc3\xa9"
CLIENT GETNAME
CLIENT SETNAME ""
CLIENT GETNAME
CLIENT SETNAME
CLIENT SETNAME a b
CLIENT GETNAME x
CLIENT FOO
CLIENT
"#,
    ),
    (
        "hello-auth",
        r#"
HELLO 4
HELLO 1
HELLO 0
HELLO abc
HELLO -1
HELLO 2 FOO
HELLO 3 AUTH
HELLO 2 SETNAME "a b"
AUTH x
AUTH default x
AUTH nouser x
AUTH
AUTH a b c
"#,
    ),
    (
        "config",
        r#"
CONFIG GET maxmemory
CONFIG GET maxmemory-policy
CONFIG GET databases
CONFIG GET timeout
CONFIG GET nonexistent-param
CONFIG SET maxmemory 100mb
CONFIG GET maxmemory
CONFIG SET maxmemory 1gb
CONFIG GET maxmemory
CONFIG SET maxmemory abc
CONFIG SET maxmemory 0
CONFIG GET maxmemory
CONFIG SET nonexistent-param 1
CONFIG SET maxmemory
CONFIG GET
CONFIG FOO
"#,
    ),
    (
        "config-set-bind",
        r#"
# Lists no listen can take; valid ones would make Redis rebind, so they are not here.
CONFIG SET bind 999.1.1.1
CONFIG SET BIND -999.1.1.1
CONFIG SET bind abc
CONFIG SET bind --127.0.0.1
CONFIG SET bind "127.0.0.1 999.1.1.1"
CONFIG SET bind " 127.0.0.1"
CONFIG SET bind "127.0.0.1 127.0.0.1"
CONFIG SET bind "* 127.0.0.1"
CONFIG SET bind "::1 ::*"
CONFIG SET bind 999.1.1.1 maxmemory foo
CONFIG SET maxmemory 5mb bind 999.1.1.1
CONFIG GET maxmemory
CONFIG SET bind "a b c d e f g h i j k l m n o p q"
"#,
    ),
];

const ERRORS: &[(&str, &str)] = &[
    (
        "unknown-commands",
        r#"
FOO
FOO bar baz
FOO "" x
"foo bar" x
""
NOTACOMMAND 01234567890123456789012345678901234567890123456789012345678901234567890123456789 01234567890123456789012345678901234567890123456789012345678901234567890123456789
"#,
    ),
    (
        "wrong-arity",
        r#"
GET
GET a b
SET a
MGET
DEL
UNLINK
EXISTS
INCR
INCR a b
DECR
INCRBY a
INCRBY a 1 2
DECRBY a
APPEND a
STRLEN
GETRANGE a 0
SETRANGE a 0
SUBSTR a
EXPIRE a
EXPIREAT a
PEXPIRE a
TTL
PTTL
RENAME a
RENAMENX a
KEYS
DBSIZE x
TYPE
TOUCH
LCS a
COPY a
MOVE a
SWAPDB 0
SELECT
GETSET a
GETDEL
GETEX
SETNX a
SETEX a 10
PSETEX a 10
MSETNX
MSETNX a
OBJECT ENCODING
OBJECT REFCOUNT
CLIENT GETNAME extra
CONFIG GET
ECHO
PING a b
"#,
    ),
    (
        "bad-argument-types",
        r#"
SET a 5
INCRBY a 1.5
INCRBY a 99999999999999999999
INCRBY a abc
DECRBY a 1e3
EXPIRE a 1.5
EXPIRE a 99999999999999999999
SETEX a 1.5 v
SETEX a 99999999999999999999 v
PSETEX a 1.5 v
GETRANGE a x y
GETRANGE a 0 99999999999999999999
SETRANGE a 1.5 x
SETRANGE a 99999999999999999999 x
SET a b EX 1.5
SET a b PX 99999999999999999999
SELECT 1.5
SELECT 99999999999999999999
MOVE a 99999999999999999999
COPY a b DB 1.5
SWAPDB 1.5 0
SWAPDB 0 99999999999999999999
LCS a a IDX MINMATCHLEN 1.5
INCRBYFLOAT a 1,5
GET a
"#,
    ),
    (
        "shutdown-flags",
        r#"
# Redis 7.0: ABORT with any flag, or NOSAVE with SAVE, is a syntax error.
SHUTDOWN NOSAVE SAVE
SHUTDOWN save nosave
SHUTDOWN NOW NOSAVE SAVE
SHUTDOWN ABORT NOW
SHUTDOWN NOW ABORT
SHUTDOWN ABORT FORCE
SHUTDOWN ABORT NOSAVE
SHUTDOWN SAVE ABORT
SHUTDOWN ABORT ABORT
SHUTDOWN abort
SHUTDOWN FOO
SHUTDOWN ABORT FOO
SHUTDOWN NOSAVE FOO
"#,
    ),
    (
        "errors-echo-client-bytes",
        r#"
# The client's bytes come back as sent (C strings: cut at a NUL), \r and \n as spaces;
# addReplyErrorFormat texts trim them at the end.
"F\xadOO" "a\xadb"
"FOO\x00BAR" "x\x00y" z
"foo\r\n" "a\nb\r"
CONFIG "g\xade\x00t"
CONFIG "x\r\n"
OBJECT "\xad"
PUBSUB "NUMSUB\xad"
PUBSUB CHANNELS a "b\xad"
PUBSUB "CHANNELS\xad\x00x" a b
CLIENT UNBLOCK 1 TIMEOUT x
EXPIRE k 10 "fo\xado\n"
EXPIRE k 10 "\nfo\x00o"
EXPIRE k 10 "\r\n"
HELLO 2 "x\xad\x00y"
HELLO 2 "x\n"
CLIENT LIST TYPE "t\xad\x00y"
CLIENT KILL USER "u\xad\x00y"
CLIENT KILL TYPE "u\xad\x00y"
CONFIG SET "fo\xad\x00o" 1
CONFIG SET "foo\n" 1
"#,
    ),
    (
        "select-beyond-int",
        r#"
SELECT 2147483648
SELECT -2147483649
SELECT 2147483647
"#,
    ),
];

#[test]
fn differential_strings() {
    run_scripts(STRINGS);
}

#[test]
fn differential_keys() {
    run_scripts(KEYS);
}

#[test]
fn differential_connection() {
    run_scripts(CONNECTION);
}

#[test]
fn differential_errors() {
    run_scripts(ERRORS);
}

/// Error texts that echo long client arguments: Redis cuts them at 128 bytes, not
/// characters, and at a NUL.
#[test]
fn differential_error_echo_lengths() {
    let e_acute = "\\xc3\\xa9".repeat(100);
    let x200 = "x".repeat(200);
    let script = format!(
        r#"
"{e_acute}"
foo "{e_acute}"
{x200} {x200} z
foo a "{e_acute}"
CONFIG "{e_acute}"
PUBSUB "{e_acute}" a b
CONFIG SET "{e_acute}" 1
"#
    );
    run_scripts(&[("error-echo-lengths", &script)]);
}

/// DEBUG's unknown subcommands (it is no container in Redis 7.0: its own error).
#[test]
fn differential_debug_unknown_subcommand() {
    if !common::require_redis_or_skip() {
        return;
    }
    let args = ["--enable-debug-command", "yes"];
    let pair = Pair {
        redis: common::Server::redis(&args),
        keel: common::Server::keel(&args),
    };
    let (mut r, mut k) = pair.conns();
    for line in [
        r#"DEBUG nosuchthing"#,
        r#"DEBUG "f\xad\x00o""#,
        r#"DEBUG "a\nb""#,
    ] {
        let args = common::s(line);
        let (want, got) = (r.cmdv(&args), k.cmdv(&args));
        assert_eq!(
            escape(&got),
            escape(&want),
            "{line}: keel's reply differs from redis's"
        );
    }
}

/// Redis's glob gives up past 1000 nested `*`, and matches no empty text but with a lone
/// `*` skipped before matching (a PSUBSCRIBE `*` gets no message on the channel "").
#[test]
fn differential_glob_limits() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    let (mut r, mut k) = pair.fresh();
    let key = vec![b'a'; 1100];
    let mut failures = Vec::new();
    for c in [&mut r, &mut k] {
        c.cmd(&[b"SET", &key, b"1"]);
    }
    for runs in [999, 1000, 1001, 1002] {
        for (unit, tail) in [
            (&b"*a"[..], &b""[..]),
            (b"*a", b"*"),
            (b"?", b"*"),
            (b"[a]", b"*"),
        ] {
            let pattern = [unit.repeat(runs), tail.to_vec()].concat();
            let (want, got) = (r.cmd(&[b"KEYS", &pattern]), k.cmd(&[b"KEYS", &pattern]));
            if want != got {
                failures.push(format!(
                    "KEYS ({}) x {runs} + {}: redis {} keel {}",
                    escape(unit),
                    escape(tail),
                    escape(&want).chars().take(80).collect::<String>(),
                    escape(&got).chars().take(80).collect::<String>()
                ));
            }
        }
    }
    let (mut rsub, mut ksub) = pair.conns();
    for c in [&mut rsub, &mut ksub] {
        c.cmds("PSUBSCRIBE *");
    }
    for channel in ["", "x"] {
        let args = [&b"PUBLISH"[..], channel.as_bytes(), b"m"];
        let (want, got) = (r.cmd(&args), k.cmd(&args));
        if want != got {
            failures.push(format!(
                "PUBLISH {channel:?} to PSUBSCRIBE *: redis {} keel {}",
                escape(&want),
                escape(&got)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Raw client bytes (inline commands, odd framing, protocol errors). Each is sent on a
/// fresh connection, which is then half-closed; everything the server writes until it
/// closes the connection is compared.
const RAW: &[&[u8]] = &[
    b"PING\r\n",
    b"PING\n",
    b"ping hello\r\n",
    b"  PING   \r\n",
    b"PING\r\nPING\r\nECHO x\r\n",
    b"\r\n\r\nPING\r\n",
    b"\n\nPING\n",
    b"ECHO \"a b\"\r\n",
    b"ECHO 'a b'\r\n",
    b"ECHO \"\\x41\\n\\t\\\"q\"\r\n",
    b"ECHO 'it\\'s'\r\n",
    b"ECHO \"a\"b\r\n",
    b"ECHO 'a'b\r\n",
    b"ECHO \"unterminated\r\n",
    b"ECHO \"\"\r\n",
    b"SET k \"v 1\"\r\nGET k\r\nDEL k\r\n",
    b"+PING\r\n",
    b"$4\r\nPING\r\n",
    b":1\r\n",
    b"*0\r\nPING\r\n",
    b"*-1\r\nPING\r\n",
    b"*-5\r\nPING\r\n",
    b"*1\r\n$4\r\nPING\r\n",
    b"*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n",
    b"*2\r\n$4\r\nECHO\r\n$0\r\n\r\n",
    b"*1\r\n$-1\r\n",
    b"*1\r\n$abc\r\n",
    b"*1\r\n$\r\n",
    b"*\r\n",
    b"*abc\r\n",
    b"* 1\r\n",
    b"*1 \r\n",
    b"*+1\r\n$4\r\nPING\r\n",
    b"*01\r\n$4\r\nPING\r\n",
    b"*1\r\n$04\r\nPING\r\n",
    b"*1\r\n:5\r\n",
    b"*1\r\nPING\r\n",
    b"*2\r\n$4\r\nECHO\r\n*1\r\n",
    b"*3000000000\r\n",
    b"*2147483648\r\n",
    b"*1\r\n$536870913\r\n",
    b"*1\r\n$2147483648\r\n",
    b"*2\r\n$3\r\nGET\r\n",
    b"*1\r\n$4\r\nPI",
    b"PING",
    b"PING\r",
    b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n",
    b"*1\n$4\nPING\n",
    b"*1\r\n$4\nPING\r\n",
    b"PING\r\n*abc\r\nPING\r\n",
    b"QUIT\r\nPING\r\n",
    b"*1\r\n$4\r\nQUIT\r\n*1\r\n$4\r\nPING\r\n",
    // Redis finds line ends with strchr on the query buffer: a NUL before the end hides
    // it, and the request waits (here: until the client hangs up).
    b"SET a b\0c\r\nGET a\r\n",
    b"PING\r\nECHO \"b\0c\"\r\nPING\r\n",
    b"*1\0\r\n$4\r\nPING\r\n",
    b"*1\r\n$4\0\r\nPING\r\n",
    b"*1\r\n\0x\r\n",
    // The '$' is checked once the bulk header is complete.
    b"*1\r\n+x",
    b"*1\r\n+x\r",
    b"*1\r\n\xad\r\n",
    b"*1\r\n\r\r\n",
    // C isspace: \v and \f separate inline arguments; only space, \t, \r, \n end one.
    b"\x0bPING\r\n",
    b"ECHO 'a'\x0b\r\n",
    b"ECHO \"a\"\x0cb\r\n",
    b"ECHO a\x0bb\r\n",
    // Inside a bulk a NUL is a byte; the error text cuts the name there (C string).
    b"*1\r\n$4\r\nPI\0G\r\n",
    b"F\xadOO a\xadb\r\n",
];

#[test]
fn differential_raw_protocol() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    let mut failures = Vec::new();
    for input in RAW {
        let (mut r, mut k) = pair.conns();
        let mut outputs = Vec::new();
        for c in [&mut r, &mut k] {
            c.send_raw(input);
            c.shutdown_write();
            let closed = c.closed_within(std::time::Duration::from_secs(5));
            outputs.push((c.take_pending(), closed));
        }
        let (want, got) = (&outputs[0], &outputs[1]);
        if want != got {
            failures.push(format!(
                "input {}\n  redis: {} (closed: {})\n  keel:  {} (closed: {})",
                escape(input),
                escape(&want.0),
                want.1,
                escape(&got.0),
                got.1
            ));
        }
    }
    // Overlong lines without a newline.
    for (what, input) in [
        ("inline", vec![b'a'; 70 * 1024]),
        (
            "multibulk count",
            [&b"*"[..], &vec![b'1'; 70 * 1024]].concat(),
        ),
        (
            "bulk length",
            [&b"*1\r\n$"[..], &vec![b'1'; 70 * 1024]].concat(),
        ),
        (
            "inline with a NUL before its newline",
            [&b"SET a b\0c\r\n"[..], &vec![b'x'; 70 * 1024]].concat(),
        ),
        (
            "multibulk count with a NUL before its \\r",
            [&b"*1\0\r\n"[..], &vec![b'x'; 70 * 1024]].concat(),
        ),
        (
            "bulk length with a NUL before its \\r",
            [&b"*1\r\n\0"[..], &vec![b'x'; 70 * 1024]].concat(),
        ),
    ] {
        let (mut r, mut k) = pair.conns();
        let mut outputs = Vec::new();
        for c in [&mut r, &mut k] {
            let _ = std::io::Write::write_all(&mut c.stream, &input);
            let closed = c.closed_within(std::time::Duration::from_secs(5));
            outputs.push((c.take_pending(), closed));
        }
        if outputs[0] != outputs[1] {
            failures.push(format!(
                "70 KB {what} without a newline\n  redis: {} (closed: {})\n  keel:  {} (closed: {})",
                escape(&outputs[0].0),
                outputs[0].1,
                escape(&outputs[1].0),
                outputs[1].1
            ));
        }
    }
    // Lines over 64 KB whose end is in the buffer when they are parsed: Redis reads
    // them (refusing a line only while 64 KB hold no end). A little over 64 KB, so both
    // servers have the whole line after the read that takes them past 64 KB.
    let over = 64 * 1024 + 100;
    for (what, input) in [
        (
            "inline",
            [&b"ECHO "[..], &vec![b'a'; over], b"\r\nPING\r\n"].concat(),
        ),
        (
            "multibulk count",
            [&b"*"[..], &vec![b'1'; over], b"\r\n"].concat(),
        ),
        (
            "bulk length",
            [&b"*1\r\n$"[..], &vec![b'1'; over], b"\r\n"].concat(),
        ),
    ] {
        let (mut r, mut k) = pair.conns();
        let mut outputs = Vec::new();
        for c in [&mut r, &mut k] {
            c.send_raw(&input);
            c.shutdown_write();
            let closed = c.closed_within(std::time::Duration::from_secs(5));
            outputs.push((c.take_pending(), closed));
        }
        if outputs[0] != outputs[1] {
            failures.push(format!(
                "complete {what} line over 64 KB\n  redis: {} (closed: {})\n  keel:  {} (closed: {})",
                escape(&outputs[0].0),
                outputs[0].1,
                escape(&outputs[1].0),
                outputs[1].1
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} raw inputs differ from redis:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

// ---------------------------------------------------------------------------------
// Generated sequences over a tiny keyspace.
// ---------------------------------------------------------------------------------

const KEYSPACE: &[&str] = &["a", "b", "c"];
const VALUES: &[&str] = &["1", "-3", "abc", "", "9223372036854775807", "3.5"];
const INTS: &[&str] = &[
    "0",
    "1",
    "-1",
    "2",
    "5",
    "100",
    "abc",
    "1.5",
    "",
    "9223372036854775807",
    "-9223372036854775808",
    "99999999999999999999",
];
/// Expire times: long enough never to lapse mid-run, or non-positive (delete), or bad.
const SECONDS: &[&str] = &[
    "100",
    "1000",
    "0",
    "-1",
    "abc",
    "1.5",
    "9223372036854775807",
];
/// Never equal to a `SECONDS` value × 1000: two TTLs set a few microseconds apart would
/// make GT/LT depend on whether the server's clock ticked in between (a flaky diff).
const MILLIS: &[&str] = &["150000", "1500000", "0", "-5", "abc", "9223372036854775807"];
const OFFSETS: &[&str] = &[
    "0",
    "1",
    "3",
    "10",
    "-1",
    "abc",
    "536870912",
    "9223372036854775807",
];
/// INCRBYFLOAT has its own key `f` so float texts stay short and exact.
const FLOATS: &[&str] = &["1", "-3", "3.5", "0.5", "abc", "", "10", "1e3"];

fn pick(set: &'static [&'static str]) -> BoxedStrategy<String> {
    proptest::sample::select(set)
        .prop_map(str::to_string)
        .boxed()
}

fn key() -> BoxedStrategy<String> {
    pick(KEYSPACE)
}

fn keys(min: usize) -> BoxedStrategy<Vec<String>> {
    proptest::collection::vec(key(), min..4).boxed()
}

fn cmd(parts: Vec<Vec<String>>) -> Vec<String> {
    parts.into_iter().flatten().collect()
}

fn fixed(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// Optional SET / GETEX / EXPIRE options, sometimes conflicting or malformed.
fn set_options() -> BoxedStrategy<Vec<String>> {
    let opt = prop_oneof![
        Just(fixed(&["NX"])),
        Just(fixed(&["XX"])),
        Just(fixed(&["GET"])),
        Just(fixed(&["KEEPTTL"])),
        pick(SECONDS).prop_map(|s| vec!["EX".into(), s]),
        pick(MILLIS).prop_map(|s| vec!["PX".into(), s]),
        Just(fixed(&["EXAT", "4102444800"])),
        Just(fixed(&["PXAT", "4102444800123"])),
        Just(fixed(&["EX"])),
        Just(fixed(&["FOO"])),
    ];
    proptest::collection::vec(opt, 0..3)
        .prop_map(|v| v.into_iter().flatten().collect())
        .boxed()
}

fn getex_options() -> BoxedStrategy<Vec<String>> {
    let opt = prop_oneof![
        Just(fixed(&["PERSIST"])),
        pick(SECONDS).prop_map(|s| vec!["EX".into(), s]),
        pick(MILLIS).prop_map(|s| vec!["PX".into(), s]),
        Just(fixed(&["EXAT", "4102444800"])),
        Just(fixed(&["FOO"])),
    ];
    proptest::collection::vec(opt, 0..3)
        .prop_map(|v| v.into_iter().flatten().collect())
        .boxed()
}

fn expire_flags() -> BoxedStrategy<Vec<String>> {
    proptest::collection::vec(pick(&["NX", "XX", "GT", "LT", "FOO"]), 0..3).boxed()
}

fn lcs_options() -> BoxedStrategy<Vec<String>> {
    let opt = prop_oneof![
        Just(fixed(&["LEN"])),
        Just(fixed(&["IDX"])),
        Just(fixed(&["WITHMATCHLEN"])),
        pick(&["0", "1", "2", "-1", "abc"]).prop_map(|s| vec!["MINMATCHLEN".into(), s]),
    ];
    proptest::collection::vec(opt, 0..3)
        .prop_map(|v| v.into_iter().flatten().collect())
        .boxed()
}

fn one(word: &str) -> Vec<String> {
    vec![word.to_string()]
}

/// One string or keyspace command with plausible (and sometimes wrong) arguments.
fn command() -> BoxedStrategy<Vec<String>> {
    let k = key;
    let v = || pick(VALUES);
    let base = prop_oneof![
        k().prop_map(|k| cmd(vec![one("GET"), vec![k]])),
        (k(), v(), set_options()).prop_map(|(k, v, o)| cmd(vec![one("SET"), vec![k, v], o])),
        (k(), v()).prop_map(|(k, v)| cmd(vec![one("SETNX"), vec![k, v]])),
        (k(), pick(SECONDS), v()).prop_map(|(k, s, v)| cmd(vec![one("SETEX"), vec![k, s, v]])),
        (k(), pick(MILLIS), v()).prop_map(|(k, s, v)| cmd(vec![one("PSETEX"), vec![k, s, v]])),
        keys(1).prop_map(|ks| cmd(vec![one("MGET"), ks])),
        proptest::collection::vec((k(), v()), 1..3).prop_map(|kv| cmd(vec![
            one("MSET"),
            kv.into_iter().flat_map(|(k, v)| [k, v]).collect()
        ])),
        proptest::collection::vec((k(), v()), 1..3).prop_map(|kv| cmd(vec![
            one("MSETNX"),
            kv.into_iter().flat_map(|(k, v)| [k, v]).collect()
        ])),
        (k(), v()).prop_map(|(k, v)| cmd(vec![one("GETSET"), vec![k, v]])),
        k().prop_map(|k| cmd(vec![one("GETDEL"), vec![k]])),
        (k(), getex_options()).prop_map(|(k, o)| cmd(vec![one("GETEX"), vec![k], o])),
        (k(), v()).prop_map(|(k, v)| cmd(vec![one("APPEND"), vec![k, v]])),
        k().prop_map(|k| cmd(vec![one("STRLEN"), vec![k]])),
        k().prop_map(|k| cmd(vec![one("INCR"), vec![k]])),
        k().prop_map(|k| cmd(vec![one("DECR"), vec![k]])),
        (k(), pick(INTS)).prop_map(|(k, n)| cmd(vec![one("INCRBY"), vec![k, n]])),
        (k(), pick(INTS)).prop_map(|(k, n)| cmd(vec![one("DECRBY"), vec![k, n]])),
        pick(FLOATS).prop_map(|n| cmd(vec![one("INCRBYFLOAT"), vec!["f".into(), n]])),
        Just(fixed(&["GET", "f"])),
        (k(), pick(INTS), pick(INTS))
            .prop_map(|(k, a, b)| cmd(vec![one("GETRANGE"), vec![k, a, b]])),
        (k(), pick(INTS), pick(INTS)).prop_map(|(k, a, b)| cmd(vec![one("SUBSTR"), vec![k, a, b]])),
        (k(), pick(OFFSETS), v()).prop_map(|(k, o, v)| cmd(vec![one("SETRANGE"), vec![k, o, v]])),
        (k(), k(), lcs_options()).prop_map(|(a, b, o)| cmd(vec![one("LCS"), vec![a, b], o])),
        keys(1).prop_map(|ks| cmd(vec![one("DEL"), ks])),
        keys(1).prop_map(|ks| cmd(vec![one("UNLINK"), ks])),
        keys(1).prop_map(|ks| cmd(vec![one("EXISTS"), ks])),
        keys(1).prop_map(|ks| cmd(vec![one("TOUCH"), ks])),
        k().prop_map(|k| cmd(vec![one("TYPE"), vec![k]])),
        (k(), k()).prop_map(|(a, b)| cmd(vec![one("RENAME"), vec![a, b]])),
        (k(), k()).prop_map(|(a, b)| cmd(vec![one("RENAMENX"), vec![a, b]])),
        (k(), k(), proptest::bool::ANY).prop_map(|(a, b, r)| {
            let mut c = cmd(vec![one("COPY"), vec![a, b]]);
            if r {
                c.push("REPLACE".into());
            }
            c
        }),
        (k(), pick(SECONDS), expire_flags()).prop_map(|(k, s, f)| cmd(vec![
            one("EXPIRE"),
            vec![k, s],
            f
        ])),
        (k(), pick(MILLIS), expire_flags()).prop_map(|(k, s, f)| cmd(vec![
            one("PEXPIRE"),
            vec![k, s],
            f
        ])),
        (k(), expire_flags()).prop_map(|(k, f)| cmd(vec![
            one("EXPIREAT"),
            vec![k, "4102444800".into()],
            f
        ])),
        k().prop_map(|k| cmd(vec![one("PERSIST"), vec![k]])),
        k().prop_map(|k| cmd(vec![one("TTL"), vec![k]])),
        k().prop_map(|k| cmd(vec![one("OBJECT"), one("ENCODING"), vec![k]])),
        Just(fixed(&["DBSIZE"])),
        Just(fixed(&["KEYS", "*"])),
    ];
    // Now and then one argument too few or too many.
    (base, 0u8..20)
        .prop_map(|(mut c, arity)| {
            match arity {
                // Never down to an empty command: Redis ignores `*0` without a reply.
                0 if c.len() > 1 => {
                    c.pop();
                }
                1 => c.push("x".into()),
                _ => {}
            }
            c
        })
        .boxed()
}

/// A command line in redis-cli syntax, quoting what needs it.
fn render(cmd: &[String]) -> String {
    cmd.iter()
        .map(|a| {
            if a.is_empty() || a.contains(' ') {
                format!("{a:?}")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn differential_generated_sequences() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    // PROPTEST_CASES overrides the 64 cases, for a longer hunt.
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(64);
    let config = ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    let mut runner = TestRunner::new(config);
    let strategy = proptest::collection::vec(command(), 1..40);
    // KEEL_DIFF_EXCLUDE=GETEX,RENAME leaves those commands out, to look past a known bug.
    let excluded: Vec<String> = std::env::var("KEEL_DIFF_EXCLUDE")
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_ascii_uppercase)
        .collect();
    let result = runner.run(&strategy, |seq| {
        let seq: Vec<Vec<String>> = seq
            .into_iter()
            .filter(|c| !excluded.contains(&c[0]))
            .collect();
        // Fresh connections per case: a failed case cannot desynchronise the next.
        let (mut r, mut k) = pair.conns();
        pair.flushall(&mut r, &mut k);
        for (i, c) in seq.iter().enumerate() {
            let args: Vec<Vec<u8>> = c.iter().map(|a| a.clone().into_bytes()).collect();
            let want = r.cmdv(&args);
            let got = k.cmdv(&args);
            let (cw, cg) = if c.first().map(String::as_str) == Some("KEYS") {
                (sorted_reply(&want), sorted_reply(&got))
            } else {
                (want.clone(), got.clone())
            };
            if cw != cg {
                let script: Vec<String> = seq.iter().map(|c| render(c)).collect();
                return Err(TestCaseError::fail(format!(
                    "command {} of {}: {}\n  redis: {}\n  keel:  {}\n--- sequence ---\n{}",
                    i + 1,
                    seq.len(),
                    render(c),
                    escape(&want),
                    escape(&got),
                    script.join("\n")
                )));
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("keel differs from redis (minimal sequence after shrinking):\n{e}");
    }
}
