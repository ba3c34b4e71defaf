//! Differential tests for the list type and its commands: the same command scripts
//! against a real redis-server and keel, replies compared byte for byte, plus
//! generated sequences and two-connection blocking scenarios. Script syntax as in
//! `differential.rs`: one command per line in redis-cli syntax, `! ` runs without
//! comparing, `# ` is a comment.

mod common;

use common::{escape, one, parse_line, pick, words, Compare, Conn, Pair};
use proptest::prelude::*;

fn run_script(pair: &Pair, name: &str, script: &str) -> Result<(), String> {
    let (mut r, mut k) = pair.fresh();
    for (n, raw) in script.lines().enumerate() {
        let Some((how, line)) = parse_line(raw) else {
            continue;
        };
        let args = common::s(line);
        let want = r.cmdv(&args);
        let got = k.cmdv(&args);
        let same = match how {
            Compare::Exact => want == got,
            Compare::Unordered => common::sorted_reply(&want) == common::sorted_reply(&got),
            Compare::Skip => true,
        };
        if !same {
            return Err(format!(
                "script '{name}', line {}: {line}\n  redis: {}\n  keel:  {}\n--- script ---\n{}",
                n + 1,
                escape(&want),
                escape(&got),
                script.trim()
            ));
        }
    }
    r.cmds("CONFIG SET list-max-listpack-size -2");
    k.cmds("CONFIG SET list-max-listpack-size -2");
    Ok(())
}

fn run_scripts(scripts: &[(&str, String)]) {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    let failures: Vec<String> = scripts
        .iter()
        .filter_map(|(name, script)| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_script(&pair, name, script)
            }))
            .unwrap_or_else(|_| Err(format!("script '{name}' broke the connection")))
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

const PUSH_POP: &str = r#"
LPUSH l a b c
RPUSH l d e
LRANGE l 0 -1
LLEN l
LLEN nokey
LPUSHX l x y
RPUSHX l z
LPUSHX nokey a
RPUSHX nokey a b
EXISTS nokey
LPUSH
LPUSH l
RPUSHX l
LRANGE l 0 -1
LPOP l
RPOP l
LPOP l 2
RPOP l 2
LPOP l 0
RPOP l 0
LRANGE l 0 -1
LPOP l 100
EXISTS l
LPOP l
RPOP l
LPOP l 1
RPOP l 0
LPOP l -1
LPOP l x
LPOP l 1.5
LPOP l 1 2
RPOP l 1 2 3
RPUSH l 1 2 3
LPOP l -1
LPOP l 9223372036854775807
EXISTS l
RPUSH n 1 -1 0 9223372036854775807 -9223372036854775808 01 1.5 "" " 1" 18446744073709551616
LRANGE n 0 -1
RPOP n 3
LPOP n
TYPE n
OBJECT ENCODING n
lpush n MiXeD
LINDEX n 0
"#;

const RANGES: &str = r#"
RPUSH l a b c d e f g
LRANGE l 0 0
LRANGE l 0 2
LRANGE l -3 -1
LRANGE l -100 100
LRANGE l 5 2
LRANGE l 7 10
LRANGE l -1 -2
LRANGE l 2 -3
LRANGE l -9223372036854775808 9223372036854775807
LRANGE l x 1
LRANGE l 1 y
LRANGE l 1
LRANGE nokey 0 -1
LRANGE nokey x 1
LINDEX l 0
LINDEX l -1
LINDEX l 6
LINDEX l 7
LINDEX l -7
LINDEX l -8
LINDEX l x
LINDEX nokey x
LINDEX nokey 0
LINDEX l 9223372036854775807
LINDEX l -9223372036854775808
LSET l 0 A
LSET l -1 G
LSET l 3 middle
LSET l 7 x
LSET l -8 x
LSET l x y
LSET nokey 0 x
LSET nokey x x
LRANGE l 0 -1
LTRIM l 1 -2
LRANGE l 0 -1
LTRIM l 0 100
LRANGE l 0 -1
LTRIM l -2 -1
LRANGE l 0 -1
LTRIM l x 1
LTRIM nokey 0 1
LTRIM l 5 1
EXISTS l
RPUSH l a b c
LTRIM l 1 0
EXISTS l
RPUSH l a b c
LTRIM l -100 -50
EXISTS l
RPUSH l a b c
LTRIM l 0 -1
LTRIM l 2 2
LRANGE l 0 -1
"#;

const INSERT_REM: &str = r#"
RPUSH l a b c a b c a
LINSERT l BEFORE b x
LINSERT l after c y
LINSERT l AFTER a z
LRANGE l 0 -1
LINSERT l BEFORE nope x
LINSERT l MIDDLE a x
LINSERT nokey BEFORE a x
LINSERT nokey MIDDLE a x
LINSERT l before a
LRANGE l 0 -1
LREM l 1 a
LRANGE l 0 -1
LREM l -1 a
LRANGE l 0 -1
LREM l 0 c
LRANGE l 0 -1
LREM l 0 nope
LREM l x a
LREM nokey 1 a
LREM nokey x a
LREM l 9223372036854775807 b
LREM l -9223372036854775808 x
LRANGE l 0 -1
LREM l 0 z
LREM l 0 y
LREM l 0 a
EXISTS l
RPUSH l "" "" a ""
LREM l 2 ""
LRANGE l 0 -1
LINSERT l before "" "q"
LRANGE l 0 -1
"#;

const LPOS: &str = r#"
RPUSH l a b c 1 2 3 c c
LPOS l a
LPOS l c
LPOS l nope
LPOS l c RANK 1
LPOS l c RANK 2
LPOS l c RANK -1
LPOS l c RANK -3
LPOS l c RANK 4
LPOS l c RANK 0
LPOS l c RANK x
LPOS l c RANK -9223372036854775807
LPOS l c COUNT 0
LPOS l c COUNT 2
LPOS l c COUNT 2 RANK 2
LPOS l c COUNT 0 RANK -1
LPOS l c COUNT 5 RANK -2
LPOS l c COUNT 1 RANK 10
LPOS l c COUNT 0 MAXLEN 3
LPOS l c COUNT 0 MAXLEN 7
LPOS l c MAXLEN 1
LPOS l c RANK -1 MAXLEN 1
LPOS l c RANK -1 MAXLEN 2 COUNT 0
LPOS l c COUNT -1
LPOS l c COUNT x
LPOS l c MAXLEN -1
LPOS l c MAXLEN x
LPOS l c COUNT
LPOS l c FOO 1
LPOS l c rank 1 rank 2
LPOS l 1
LPOS nokey a
LPOS nokey a COUNT 0
LPOS nokey a COUNT -1
LPOS nokey a RANK 0
"#;

const MOVE: &str = r#"
RPUSH src a b c
LMOVE src dst LEFT RIGHT
LMOVE src dst RIGHT LEFT
LMOVE src dst left left
LRANGE dst 0 -1
EXISTS src
LMOVE src dst LEFT RIGHT
LMOVE dst dst LEFT RIGHT
LRANGE dst 0 -1
LMOVE dst dst RIGHT LEFT
LRANGE dst 0 -1
LMOVE dst dst UP LEFT
LMOVE dst dst LEFT DOWN
LMOVE nokey dst UP LEFT
SET str x
LMOVE dst str LEFT LEFT
LMOVE str dst LEFT LEFT
LMOVE nokey str LEFT LEFT
LRANGE dst 0 -1
RPOPLPUSH dst other
RPOPLPUSH dst other
RPOPLPUSH dst other
RPOPLPUSH dst other
EXISTS dst
LRANGE other 0 -1
RPOPLPUSH other str
RPOPLPUSH str other
RPOPLPUSH nokey other
RPUSH one x
RPOPLPUSH one one
LRANGE one 0 -1
LMOVE one one LEFT LEFT
LRANGE one 0 -1
"#;

const MPOP: &str = r#"
RPUSH a 1 2 3
RPUSH b 4 5
LMPOP 2 nokey a LEFT
LMPOP 2 nokey a RIGHT COUNT 10
EXISTS a
LMPOP 2 a b left count 1
LMPOP 1 b RIGHT COUNT 1
LMPOP 2 a b LEFT
LMPOP 2 a b LEFT
LMPOP 0 a LEFT
LMPOP -1 a LEFT
LMPOP x a LEFT
LMPOP 1 a
LMPOP 1 a MIDDLE
LMPOP 3 a b LEFT
LMPOP 9223372036854775807 a LEFT
LMPOP 1 a LEFT COUNT 0
LMPOP 1 a LEFT COUNT -1
LMPOP 1 a LEFT COUNT x
LMPOP 1 a LEFT COUNT 1 COUNT 1
LMPOP 1 a LEFT FOO
LMPOP 1 a LEFT COUNT
SET s v
LMPOP 2 s a LEFT
RPUSH a x
LMPOP 2 a s LEFT
LMPOP 2 nokey s LEFT
"#;

const WRONGTYPE: &str = r#"
SET s v
LPUSH s a
RPUSH s a
LPUSHX s a
RPUSHX s a
LPOP s
RPOP s
LPOP s 2
LPOP s x
LLEN s
LRANGE s 0 -1
LRANGE s x 0
LINDEX s 0
LINDEX s x
LSET s 0 x
LSET s x x
LINSERT s BEFORE a b
LINSERT s MIDDLE a b
LREM s 0 a
LREM s x a
LTRIM s 0 1
LTRIM s x 1
LPOS s a
LPOS s a RANK 0
LMOVE s d LEFT LEFT
RPOPLPUSH s d
BLPOP s 0
BRPOP nokey s 0
BLPOP s x
BLMOVE s d LEFT LEFT 0
BRPOPLPUSH s d 0
BLMPOP 0 1 s LEFT
GET s
RPUSH l a
GET l
INCR l
HSET l f v
TYPE l
OBJECT ENCODING l
"#;

/// Blocking commands that are served at once, and argument errors, on one connection.
const BLOCKING_IMMEDIATE: &str = r#"
RPUSH a 1 2 3
RPUSH b 4
BLPOP nokey a 0
BRPOP nokey a 0
BLPOP a b 1.5
BLPOP a b 0
EXISTS a
BRPOP b 0.01
BLPOP nokey x
BLPOP nokey -1
BLPOP nokey ""
BLPOP nokey " 1"
BLPOP nokey nan
BLPOP nokey inf
BLPOP nokey -inf
BLPOP nokey 1e20
BLPOP nokey
BRPOP nokey
RPUSH a x y z
BLMOVE a b LEFT RIGHT 0
BLMOVE a b RIGHT LEFT 0
BLMOVE a b UP LEFT 0
BLMOVE a b LEFT LEFT x
BLMOVE a b LEFT LEFT -1
BRPOPLPUSH a b 0
BRPOPLPUSH a b x
LRANGE b 0 -1
EXISTS a
RPUSH a 1 2 3
BLMPOP 0 2 nokey a LEFT COUNT 2
BLMPOP 0 1 a RIGHT
BLMPOP x 1 a RIGHT
BLMPOP -1 1 a RIGHT
BLMPOP 0 0 a RIGHT
BLMPOP 0 1 a MIDDLE
BLMPOP 0 1 a LEFT COUNT 0
BLMPOP 0 5 a LEFT
BLMPOP x 5 a LEFT
BLMPOP 0 1 a
EXISTS a
BLPOP nokey 0.001
BLPOP nokey 1e-3
BLPOP nokey 0x1p-11
BLPOP nokey 0x1P-12
BLPOP nokey 0.0001e1
BLPOP nokey .0005
BLPOP nokey 5e-324
BRPOP nokey 0.001
BLMPOP 0.001 1 nokey LEFT
BLMOVE nokey b LEFT LEFT 0.001
BRPOPLPUSH nokey b 0.001
"#;

/// Many elements (several chunks) and the range commands across chunk borders.
fn big_script() -> String {
    let mut s = String::new();
    for b in 0..6 {
        s += "RPUSH big";
        for i in b * 100..(b + 1) * 100 {
            s += &format!(" e{i}");
        }
        s += "\n";
    }
    s += "LLEN big\nLRANGE big 0 -1\nLRANGE big 120 140\nLRANGE big -300 -250\n";
    s += "LINDEX big 127\nLINDEX big 128\nLINDEX big 129\nLINDEX big -129\nLINDEX big 300\n";
    s += "LSET big 128 changed\nLSET big -1 last\nLINDEX big 128\nLINSERT big BEFORE e300 ins\nLINSERT big AFTER e127 ins2\n";
    s += "LPOS big e500\nLPOS big e5 RANK -1\nLPOS big ins COUNT 0\nLREM big 0 ins2\nLREM big -1 e1\n";
    s += "LPOP big 130\nRPOP big 130\nLRANGE big 0 -1\nLTRIM big 10 -10\nLRANGE big 0 -1\nLLEN big\n";
    s += "LPUSH big2";
    for i in 0..300 {
        s += &format!(" {i}");
    }
    s += "\nLRANGE big2 0 -1\nLREM big2 0 7\nLMPOP 1 big2 RIGHT COUNT 250\nLRANGE big2 0 -1\n";
    // A long element, and small chunks set at run time.
    s += &format!(
        "RPUSH long {} b\nLRANGE long 0 -1\nOBJECT ENCODING long\n",
        "x".repeat(10000)
    );
    s += "CONFIG SET list-max-listpack-size 2\nCONFIG GET list-max-listpack-size\nCONFIG GET list-max-ziplist-size\n";
    s += "RPUSH small a b c d e f g\nOBJECT ENCODING small\nLINSERT small AFTER c x\nLRANGE small 0 -1\nLREM small 0 x\nLSET small 3 D\nLRANGE small 0 -1\n";
    s += "CONFIG SET list-max-ziplist-size -5\nCONFIG GET list-max-listpack-size\nRPUSH s5 a\nOBJECT ENCODING s5\n";
    s += "RENAME small small2\nLRANGE small2 0 -1\nCOPY small2 small3\nLRANGE small3 0 -1\nTYPE small3\n";
    s
}

/// SORT over lists and sorted sets (sets are covered with the set tests), STORE into
/// a list, BY nosort keeping the source's order.
const SORT_LISTS_ZSETS: &str = r#"
RPUSH l 3 1 2 10 -5 1.5
SORT l
SORT l DESC
SORT l LIMIT 1 3
SORT l ALPHA
SORT l BY nosort
SORT l BY nosort DESC
SORT l BY nosort LIMIT 2 2
SORT_RO l DESC LIMIT 0 2
SORT l STORE dst
LRANGE dst 0 -1
OBJECT ENCODING dst
TYPE dst
SET weight_3 30
SET weight_1 10
SORT l BY weight_* GET # GET weight_*
SORT l BY nosort STORE dst2
LRANGE dst2 0 -1
RPUSH bad a b
SORT bad
SORT bad ALPHA STORE dst
LRANGE dst 0 -1
ZADD z 3 c 1 a 2 b
SORT z ALPHA
SORT z BY nosort
SORT z BY nosort DESC LIMIT 1 5
SORT z BY nosort STORE zs
LRANGE zs 0 -1
SET dst x
EXPIRE dst 100
SORT z ALPHA STORE dst
TTL dst
SORT nokey STORE dst
EXISTS dst
"#;

/// Hex-digit elements, which keel packs two digits a byte (in entries and in whole
/// fixed-width chunks): 300 random 16-digit ones so chunks fill and seal, the other
/// case, odd lengths, leading zeros, mixed case; reads, searches and edits must not
/// show the packing.
fn hex_script() -> String {
    let mut x = 0x0bad_cafe_f00d_u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut s = String::new();
    let elems: Vec<String> = (0..300).map(|_| format!("{:016x}", next())).collect();
    for part in elems.chunks(50) {
        s.push_str(&format!("RPUSH l {}\n", part.join(" ")));
    }
    s.push_str(&format!(
        "LPUSH l {:016X} {:07x} 0000000000000042 {:x}{:X} 7 0\n",
        next(),
        next() % 0x1000_0000,
        next(),
        next()
    ));
    s.push_str(&format!(
        "RPUSH l2 {}\n",
        (0..20)
            .map(|_| format!("{:016X}", next()))
            .collect::<Vec<_>>()
            .join(" ")
    ));
    for (i, e) in elems.iter().enumerate().step_by(37) {
        s.push_str(&format!(
            "LPOS l {e}\nLPOS l {}\nLINDEX l {}\n",
            e.to_uppercase(),
            i + 6
        ));
    }
    s.push_str(&format!(
        "LRANGE l 0 -1\nLRANGE l2 0 -1\nLLEN l\nDEBUG DIGEST-VALUE l\nDEBUG DIGEST-VALUE l2\n\
         LREM l 0 {}\nLSET l 100 {}\nLSET l 101 abc\nLINSERT l BEFORE {} 0123456789ABCDEF\n\
         LSET l2 3 0123456789abcdef\nLRANGE l 90 120\nLRANGE l2 0 -1\nLPOS l 0000000000000042\n\
         RPOP l 3\nLPOP l 3\nSORT l2 ALPHA\nDEBUG DIGEST-VALUE l\nDEBUG DIGEST\nOBJECT ENCODING l\n",
        elems[5],
        elems[7].to_uppercase(),
        elems[200],
    ));
    s
}

#[test]
fn differential_list_scripts() {
    run_scripts(&[
        ("push-pop", PUSH_POP.to_string()),
        ("hex", hex_script()),
        ("sort", SORT_LISTS_ZSETS.to_string()),
        ("ranges", RANGES.to_string()),
        ("insert-rem", INSERT_REM.to_string()),
        ("lpos", LPOS.to_string()),
        ("move", MOVE.to_string()),
        ("mpop", MPOP.to_string()),
        ("wrongtype", WRONGTYPE.to_string()),
        ("blocking-immediate", BLOCKING_IMMEDIATE.to_string()),
        ("big", big_script()),
        ("resp3", format!("! HELLO 3\n{PUSH_POP}\n{MPOP}\nBLPOP nokey 0.001\nBLMOVE nokey x LEFT LEFT 0.001\n")),
    ]);
}

// ---------------------------------------------------------------------------------
// Blocking with two connections: a waiter and a pusher on each server.
// ---------------------------------------------------------------------------------

/// Polls CLIENT LIST on `c` until exactly `n` clients are blocked (flag b), so a
/// waiter's command is known to have run before the test goes on.
fn wait_blocked(c: &mut Conn, n: usize) {
    // A generous bound for a loaded CI machine; the loop ends as soon as it is seen.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        let list = String::from_utf8_lossy(&c.cmds("CLIENT LIST")).into_owned();
        if list.matches("flags=b").count() == n {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!("{}: never saw {n} blocked clients", c.label);
}

/// Sends `line` on `waiter` without reading (it blocks), then runs `steps` on
/// `other`, comparing every reply, and finally reads the waiter's reply.
fn blocking_case(pair: &Pair, name: &str, setup: &[&str], waiter_cmds: &[&str], steps: &[&str]) {
    let (mut r, mut k) = pair.fresh();
    for line in setup {
        let (a, b) = (r.cmds(line), k.cmds(line));
        assert_eq!(escape(&a), escape(&b), "{name}: setup {line}");
    }
    let (mut rw, mut kw) = pair.conns();
    for line in waiter_cmds {
        rw.send_raw(&common::encode_line(line));
        kw.send_raw(&common::encode_line(line));
    }
    // The waiters' commands have run once they block (a timeout may end it first).
    let blocks = waiter_cmds
        .iter()
        .any(|l| l.contains(" 0") && !l.contains("0."));
    if blocks {
        wait_blocked(&mut r, 1);
        wait_blocked(&mut k, 1);
    } else {
        r.cmds("PING");
        k.cmds("PING");
    }
    for line in steps {
        let (a, b) = (r.cmds(line), k.cmds(line));
        assert_eq!(escape(&a), escape(&b), "{name}: step {line}");
    }
    for line in waiter_cmds {
        let a = rw.read_reply();
        let b = kw.read_reply();
        assert_eq!(escape(&a), escape(&b), "{name}: waiter reply to {line}");
    }
}

#[test]
fn differential_list_blocking_two_connections() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    blocking_case(
        &pair,
        "blpop-served",
        &[],
        &["BLPOP k 0"],
        &["RPUSH k a b", "LRANGE k 0 -1"],
    );
    blocking_case(
        &pair,
        "brpop-many-keys",
        &[],
        &["BRPOP k1 k2 0"],
        &["RPUSH k2 x y", "LRANGE k2 0 -1"],
    );
    blocking_case(
        &pair,
        "pipelined-after-block",
        &[],
        &["BLPOP k 0", "RPUSH after 1", "LLEN k"],
        &["LLEN after", "RPUSH k a b c", "LLEN after"],
    );
    blocking_case(
        &pair,
        "blmove-served",
        &[],
        &["BLMOVE src dst RIGHT LEFT 0"],
        &["RPUSH src a b", "LRANGE src 0 -1", "LRANGE dst 0 -1"],
    );
    blocking_case(
        &pair,
        "blmove-wrongtype-dst",
        &["SET dst str"],
        &["BLMOVE src dst RIGHT LEFT 0"],
        &["RPUSH src a", "LRANGE src 0 -1", "GET dst"],
    );
    blocking_case(
        &pair,
        "blmpop-served",
        &[],
        &["BLMPOP 0 2 k1 k2 RIGHT COUNT 2"],
        &["RPUSH k2 a b c", "LRANGE k2 0 -1"],
    );
    blocking_case(
        &pair,
        "push-then-pop-in-multi-exec-like-pipeline",
        &[],
        &["BLPOP k 0"],
        &["RPUSH k a", "LPOP k", "EXISTS k"],
    );
    blocking_case(
        &pair,
        "rename-wakes",
        &["RPUSH tmp v"],
        &["BLPOP k 0"],
        &["RENAME tmp k", "EXISTS k"],
    );
    // The waiter's key only exists in the other database until SWAPDB brings it over.
    blocking_case(
        &pair,
        "swapdb-wakes-blpop",
        &["SELECT 1", "RPUSH a v", "SELECT 0"],
        &["BLPOP a 0"],
        &["SWAPDB 0 1", "LLEN a"],
    );
    blocking_case(
        &pair,
        "swapdb-wakes-blmove",
        &["SELECT 1", "RPUSH a v w", "SELECT 0"],
        &["BLMOVE a d LEFT RIGHT 0"],
        &["SWAPDB 1 0", "LRANGE a 0 -1", "LRANGE d 0 -1"],
    );
    blocking_case(
        &pair,
        "timeout",
        &[],
        &["BLPOP k 0.05", "BLMOVE k d LEFT LEFT 0.05"],
        &[],
    );
    blocking_case(
        &pair,
        "client-unblock",
        &["CLIENT SETNAME pusher"],
        &["CLIENT SETNAME waiter", "BLPOP k 0"],
        &[
            "CLIENT UNBLOCK 999999",
            "CLIENT UNBLOCK x",
            "CLIENT UNBLOCK 1 FOO",
            "CLIENT UNBLOCK 1 2 3",
            "RPUSH k z",
        ],
    );
    // Fairness: the first blocked is served first.
    let (mut r, mut k) = pair.fresh();
    let mut waiters: Vec<(Conn, Conn)> = (0..3).map(|_| pair.conns()).collect();
    for (i, (rw, kw)) in waiters.iter_mut().enumerate() {
        let line = if i == 1 { "BRPOP q 0" } else { "BLPOP q 0" };
        rw.send_raw(&common::encode_line(line));
        kw.send_raw(&common::encode_line(line));
        wait_blocked(&mut r, i + 1);
        wait_blocked(&mut k, i + 1);
    }
    assert_eq!(
        escape(&r.cmds("RPUSH q a b")),
        escape(&k.cmds("RPUSH q a b"))
    );
    assert_eq!(escape(&r.cmds("RPUSH q c")), escape(&k.cmds("RPUSH q c")));
    for (rw, kw) in waiters.iter_mut() {
        assert_eq!(
            escape(&rw.read_reply()),
            escape(&kw.read_reply()),
            "fairness"
        );
    }
    // A waiter that disconnects is forgotten: the pushed element stays; a blocked
    // client shows flag b in CLIENT LIST.
    let (mut r, mut k) = pair.fresh();
    for (c, port) in [(&mut r, pair.redis.port), (&mut k, pair.keel.port)] {
        let mut gone = Conn::connect(port);
        gone.send_raw(&common::encode_line("BLPOP k 0"));
        let mut still = Conn::connect(port);
        still.send_raw(&common::encode_line("BLPOP other 0"));
        wait_blocked(c, 2);
        gone.shutdown_write();
        drop(gone);
        wait_blocked(c, 1);
        assert_eq!(c.cmds("RPUSH k v"), b":1\r\n");
        assert_eq!(c.cmds("LLEN k"), b":1\r\n");
        assert_eq!(c.cmds("RPUSH other w"), b":1\r\n");
        assert_eq!(still.read_reply(), b"*2\r\n$5\r\nother\r\n$1\r\nw\r\n");
    }
    // CLIENT UNBLOCK with TIMEOUT and ERROR, by id.
    for how in ["TIMEOUT", "ERROR", ""] {
        let (mut r, mut k) = pair.fresh();
        let (mut rw, mut kw) = pair.conns();
        for (c, w) in [(&mut r, &mut rw), (&mut k, &mut kw)] {
            let id = String::from_utf8_lossy(&w.cmds("CLIENT ID"))
                .trim_start_matches(':')
                .trim()
                .to_string();
            w.send_raw(&common::encode_line("BLMPOP 0 1 k LEFT"));
            wait_blocked(c, 1);
            let reply = c.cmds(&format!("CLIENT UNBLOCK {id} {how}"));
            assert_eq!(reply, b":1\r\n", "CLIENT UNBLOCK {how}");
            let again = c.cmds(&format!("CLIENT UNBLOCK {id} {how}"));
            assert_eq!(again, b":0\r\n");
        }
        assert_eq!(
            escape(&rw.read_reply()),
            escape(&kw.read_reply()),
            "unblock {how}"
        );
    }
}

// ---------------------------------------------------------------------------------
// Generated sequences over a few keys.
// ---------------------------------------------------------------------------------

const KEYS: &[&str] = &["l1", "l2", "s"];
const ELEMS: &[&str] = &["a", "b", "", "1", "-7", "long-element-text", "a"];
const INDICES: &[&str] = &["0", "1", "-1", "2", "-3", "5", "100", "-100", "x"];
const COUNTS: &[&str] = &["0", "1", "2", "-1", "-2", "5", "x"];

/// One list (or string) command with plausible, sometimes wrong, arguments.
fn command() -> BoxedStrategy<Vec<String>> {
    let k = || pick(KEYS);
    let e = || pick(ELEMS);
    let i = || pick(INDICES);
    let c = || pick(COUNTS);
    let side = || pick(&["LEFT", "RIGHT", "left", "UP"]);
    let elems = || proptest::collection::vec(pick(ELEMS), 1..5);
    prop_oneof![
        (k(), elems()).prop_map(|(k, es)| words(vec![one("RPUSH"), vec![k], es])),
        (k(), elems()).prop_map(|(k, es)| words(vec![one("LPUSH"), vec![k], es])),
        (k(), elems()).prop_map(|(k, es)| words(vec![one("LPUSHX"), vec![k], es])),
        (k(), elems()).prop_map(|(k, es)| words(vec![one("RPUSHX"), vec![k], es])),
        k().prop_map(|k| words(vec![one("LPOP"), vec![k]])),
        (k(), c()).prop_map(|(k, c)| words(vec![one("RPOP"), vec![k, c]])),
        (k(), c()).prop_map(|(k, c)| words(vec![one("LPOP"), vec![k, c]])),
        k().prop_map(|k| words(vec![one("LLEN"), vec![k]])),
        (k(), i(), i()).prop_map(|(k, a, b)| words(vec![one("LRANGE"), vec![k, a, b]])),
        (k(), i()).prop_map(|(k, a)| words(vec![one("LINDEX"), vec![k, a]])),
        (k(), i(), e()).prop_map(|(k, a, e)| words(vec![one("LSET"), vec![k, a, e]])),
        (k(), pick(&["BEFORE", "AFTER", "x"]), e(), e())
            .prop_map(|(k, w, p, e)| words(vec![one("LINSERT"), vec![k, w, p, e]])),
        (k(), c(), e()).prop_map(|(k, c, e)| words(vec![one("LREM"), vec![k, c, e]])),
        (k(), i(), i()).prop_map(|(k, a, b)| words(vec![one("LTRIM"), vec![k, a, b]])),
        (k(), e(), c(), c()).prop_map(|(k, e, r, n)| {
            let r = if r == "0" { "1".to_string() } else { r };
            words(vec![
                one("LPOS"),
                vec![k, e, "RANK".into(), r, "COUNT".into(), n],
            ])
        }),
        (k(), e()).prop_map(|(k, e)| words(vec![one("LPOS"), vec![k, e]])),
        (k(), k(), side(), side())
            .prop_map(|(a, b, f, t)| words(vec![one("LMOVE"), vec![a, b, f, t]])),
        (k(), k()).prop_map(|(a, b)| words(vec![one("RPOPLPUSH"), vec![a, b]])),
        (k(), k(), side(), c()).prop_map(|(a, b, s, n)| {
            words(vec![
                one("LMPOP"),
                vec!["2".into(), a, b, s, "COUNT".into(), n],
            ])
        }),
        (k(), k()).prop_map(|(a, b)| words(vec![one("BLPOP"), vec![a, b, "0.01".into()]])),
        (k(), k(), side(), side()).prop_map(|(a, b, f, t)| {
            words(vec![one("BLMOVE"), vec![a, b, f, t, "0.01".into()]])
        }),
        (k(), e()).prop_map(|(k, v)| words(vec![one("SET"), vec![k, v]])),
        k().prop_map(|k| words(vec![one("DEL"), vec![k]])),
        k().prop_map(|k| words(vec![one("TYPE"), vec![k]])),
        k().prop_map(|k| words(vec![one("OBJECT"), one("ENCODING"), vec![k]])),
        (k(), k()).prop_map(|(a, b)| words(vec![one("RENAME"), vec![a, b]])),
    ]
    .boxed()
}

#[test]
fn differential_list_generated_sequences() {
    if !common::require_redis_or_skip() {
        return;
    }
    // Small chunks half the time, so sequences cross chunk borders.
    let strategy = (
        proptest::bool::ANY,
        proptest::collection::vec(command(), 1..40),
    )
        .prop_map(|(small_chunks, seq)| {
            let fill = if small_chunks { "2" } else { "-2" };
            (
                vec![format!("CONFIG SET list-max-listpack-size {fill}")],
                seq,
            )
        });
    common::run_generated(&Pair::start(), strategy, |_, reply| reply.to_vec());
}

/// The sorted-set blocking pops through the same registry: served, several keys,
/// BZMPOP's nested reply, a key of another type that does not serve, the timeout.
#[test]
fn differential_zset_blocking_two_connections() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    blocking_case(
        &pair,
        "bzpopmin-served",
        &[],
        &["BZPOPMIN z 0"],
        &["ZADD z 2 b 1 a 3 c", "ZRANGE z 0 -1 WITHSCORES"],
    );
    blocking_case(
        &pair,
        "bzpopmax-second-key",
        &[],
        &["BZPOPMAX z1 z2 0"],
        &["ZADD z2 1.5 x 2.5 y", "ZCARD z2"],
    );
    blocking_case(
        &pair,
        "bzmpop-count",
        &[],
        &["BZMPOP 0 2 z1 z2 MAX COUNT 2"],
        &["ZADD z1 1 a 2 b 3 c", "ZRANGE z1 0 -1"],
    );
    blocking_case(
        &pair,
        "bzpopmin-wrong-type-then-zset",
        &[],
        &["BZPOPMIN z 0"],
        &["RPUSH z a", "DEL z", "ZADD z 7 m", "EXISTS z"],
    );
    blocking_case(
        &pair,
        "bzpopmin-pipelined-and-emptied",
        &[],
        &["BZPOPMIN z 0", "ZCARD z"],
        &["ZADD z 1 only", "EXISTS z"],
    );
    blocking_case(
        &pair,
        "swapdb-wakes-bzpopmin",
        &["SELECT 1", "ZADD z 1 a 2 b", "SELECT 0"],
        &["BZPOPMIN z 0"],
        &["SWAPDB 0 1", "ZRANGE z 0 -1 WITHSCORES"],
    );
    blocking_case(&pair, "bzpopmin-timeout", &[], &["BZPOPMIN z 0.05"], &[]);
    blocking_case(&pair, "bzmpop-timeout", &[], &["BZMPOP 0.05 1 z MIN"], &[]);
    blocking_case(
        &pair,
        "bzpop-immediate-and-errors",
        &["ZADD z 1 a 2 b", "SET s x"],
        &[],
        &[
            "BZPOPMIN z 0",
            "BZPOPMAX z 0",
            "BZPOPMIN s 0",
            "BZPOPMIN z -1",
            "BZPOPMIN z nope",
            "BZMPOP 0 0 z MIN",
            "BZMPOP 0 1 z MIDDLE",
            "BZMPOP 0 1 z MIN COUNT 0",
            "MULTI",
            "BZPOPMIN nokey 0",
            "BZMPOP 0 1 nokey MIN",
            "EXEC",
        ],
    );
}
