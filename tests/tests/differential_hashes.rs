//! Differential tests for the hash type: the same command scripts against a real
//! redis-server and keel, replies compared byte for byte. Script syntax as in
//! `differential.rs`: one command per line in redis-cli syntax; `~ ` compares an array
//! reply as a multiset (hashtable order is unspecified), `! ` runs without comparing,
//! `# ` is a comment.

mod common;

use common::{escape, one, parse_line, pick, words, Compare, Pair, Server};
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
            Compare::Unordered => common::unordered(&want) == common::unordered(&got),
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
    for line in [
        "CONFIG SET hash-max-listpack-entries 512",
        "CONFIG SET hash-max-listpack-value 64",
    ] {
        r.cmds(line);
        k.cmds(line);
    }
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

const BASIC: &str = r#"
HSET h f1 v1 f2 v2
HGET h f1
HGET h nofield
HGET nokey f
HMGET h f1 nofield f2
HMGET nokey a b
HMGET h
HLEN h
HLEN nokey
HEXISTS h f1
HEXISTS h zz
HEXISTS nokey f
HSTRLEN h f1
HSTRLEN h zz
HSTRLEN nokey f
HKEYS h
HVALS h
HGETALL h
HGETALL nokey
HKEYS nokey
HVALS nokey
HSET h f1 new f3 v3
HGETALL h
HSET h
HSET h a
HSET h a b c
HMSET h a b c
HMSET h a b
HMSET h a
HGET h a
HSETNX h a zz
HSETNX h n1 v
HSETNX h n1
HGET h a
HGET h n1
HSETNX nk f v
TYPE nk
OBJECT ENCODING h
HGETALL h
HDEL h a nofield n1
HDEL h
HDEL nokey a
HDEL h f1 f2 f3
EXISTS h
HGETALL h
HSET h "" ""
HGET h ""
HSTRLEN h ""
HDEL h "" ""
EXISTS h
HSET h a 1 a 2 a 3
HGETALL h
HLEN h
HSET h "sp ace" "\x00\xff bin"
HGET h "sp ace"
HGETALL h
hset h B b
HKEYS h
"#;

/// Hex-digit fields and values, which keel's listpack packs two digits a byte: replies,
/// lengths, counters, digests and the conversion to a table must not show it.
const HEX: &str = r#"
HSET h 0123456789abcdef DEADBEEF 0123456789abcdee 7 0123456789ABCDEF 00ff
HSET h cafe: 00001 abc abC 1 0 0000000000000000000000000000000000001 fffffffffffffffffffffffffffffffffff
HGET h 0123456789abcdef
HGET h 0123456789ABCDEF
HGET h 0123456789abcde
HGET h 0123456789abcdeff
HGET h 0123456789ABCDEf
HMGET h 0123456789abcdef 0123456789abcdee cafe: abc 1 nofield 0000000000000000000000000000000000001
HSTRLEN h 0123456789abcdef
HSTRLEN h cafe:
HSTRLEN h 0000000000000000000000000000000000001
HEXISTS h 0123456789abcdee
HEXISTS h 0123456789ABCDEE
HGETALL h
HKEYS h
HVALS h
HLEN h
OBJECT ENCODING h
DEBUG DIGEST-VALUE h
HINCRBY h 1 41
HINCRBY h cafe: 1
HINCRBY h 0123456789abcdee 3
HINCRBYFLOAT h 0123456789abcdee 0.5
HINCRBY h 0123456789abcdef 1
HGETALL h
HSET h 0123456789abcdee 0123456789ABCDEF0123456789abcdef
HDEL h 0123456789abcdef
HGETALL h
HSCAN h 0
! HRANDFIELD h -5 WITHVALUES
HRANDFIELD h 100 WITHVALUES
DEBUG DIGEST-VALUE h
DEBUG DIGEST
HSET h2 a 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
OBJECT ENCODING h2
HSET h2 b 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0
OBJECT ENCODING h2
~ HGETALL h2
DEBUG DIGEST-VALUE h2
"#;

const WRONGTYPE: &str = r#"
SET s v
HSET s f v
HSETNX s f v
HMSET s f v
HGET s f
HMGET s f
HDEL s f
HLEN s
HEXISTS s f
HSTRLEN s f
HKEYS s
HVALS s
HGETALL s
HINCRBY s f 1
HINCRBY s f x
HINCRBYFLOAT s f 1
HINCRBYFLOAT s f x
HRANDFIELD s
HRANDFIELD s 0
HRANDFIELD s 1 WITHVALUES
HRANDFIELD s x
HSCAN s 0
HSCAN s x
HSCAN s 0 COUNT 0
GET s
HSET h f v
GET h
APPEND h x
INCR h
STRLEN h
TYPE h
TYPE s
SET h v
TYPE h
HGET h f
"#;

const COUNTERS: &str = r#"
HINCRBY h n 5
HINCRBY h n -7
HINCRBY h n x
HINCRBY h n 1.5
HINCRBY h n ""
HINCRBY h n 99999999999999999999
HINCRBY h n 9223372036854775807
HSET h big 9223372036854775807 small -9223372036854775808
HINCRBY h big 1
HINCRBY h big 0
HINCRBY h small -1
HINCRBY h small 1
HSET h s abc sp " 1" z 0123
HINCRBY h s 1
HINCRBY h sp 1
HINCRBY h z 1
HINCRBY h new 0
HGETALL h
HINCRBYFLOAT h f 1.5
HINCRBYFLOAT h f 0.1
HINCRBYFLOAT h f -3
HINCRBYFLOAT h f 1e3
HINCRBYFLOAT h f 3.0e-2
HINCRBYFLOAT h f abc
HINCRBYFLOAT h f ""
HINCRBYFLOAT h f inf
HINCRBYFLOAT h f -inf
HINCRBYFLOAT h f nan
HINCRBYFLOAT h f " 1"
HINCRBYFLOAT h s 1
HINCRBYFLOAT h sp 1
HINCRBYFLOAT h z 1
HINCRBYFLOAT h big 1
HINCRBYFLOAT h n 1e4000
HSET h huge 1e4932
HINCRBYFLOAT h huge 1e4932
HINCRBYFLOAT h f 1.0000000000000000000000000000000000000000000000000000000000000000000000001
HINCRBYFLOAT h g 5.0e3
HINCRBYFLOAT h g 1e70
OBJECT ENCODING h
~ HGETALL h
HINCRBYFLOAT h2 f 1e70
OBJECT ENCODING h2
HINCRBY h3 f 1
OBJECT ENCODING h3
HINCRBYFLOAT h4 f 1
OBJECT ENCODING h4
"#;

const RANDFIELD: &str = r#"
HRANDFIELD nokey
HRANDFIELD nokey 0
HRANDFIELD nokey 3
HRANDFIELD nokey -3 WITHVALUES
HRANDFIELD nokey x
HRANDFIELD nokey 1 y
HSET h a 1
HRANDFIELD h
HRANDFIELD h 1
HRANDFIELD h -1
HRANDFIELD h -3
HRANDFIELD h -3 WITHVALUES
HRANDFIELD h 3 withvalues
HSET h b 2 c 3
HRANDFIELD h 0
HRANDFIELD h 0 WITHVALUES
HRANDFIELD h 3
HRANDFIELD h 4 WITHVALUES
HRANDFIELD h 100
HRANDFIELD h x
HRANDFIELD h 1.5
HRANDFIELD h 1 y
HRANDFIELD h 1 WITHVALUES x
HRANDFIELD h 1 WITHVALUES WITHVALUES
HRANDFIELD h -9223372036854775808
HRANDFIELD h -9223372036854775807 WITHVALUES
HRANDFIELD h 9223372036854775807 WITHVALUES
HRANDFIELD h 4611686018427387904 WITHVALUES
HRANDFIELD h -4611686018427387904 WITHVALUES
HRANDFIELD h 4611686018427387903 WITHVALUES
HRANDFIELD h 9223372036854775807
! HELLO 3
HRANDFIELD h 3 WITHVALUES
HRANDFIELD h 5
! HRANDFIELD h -2 WITHVALUES
HRANDFIELD h 0 WITHVALUES
HGETALL h
HGETALL nokey
HRANDFIELD nokey
HRANDFIELD nokey 1 WITHVALUES
"#;

const SCAN: &str = r#"
HSCAN nokey 0
HSCAN nokey 0 COUNT 0
HSCAN nokey x
HSET h a 1 b 2 c 3 ab 4
HSCAN h 0
HSCAN h 5
HSCAN h 0 COUNT 1
HSCAN h 0 MATCH a*
HSCAN h 0 MATCH a* COUNT 100
HSCAN h 0 MATCH
HSCAN h 0 COUNT
HSCAN h 0 COUNT 0
HSCAN h 0 COUNT -1
HSCAN h 0 COUNT x
HSCAN h 0 TYPE string
HSCAN h 0 FOO bar
HSCAN h x
HSCAN h -1
HSCAN h 18446744073709551615
HSCAN h 18446744073709551616
HSCAN h ""
HSCAN h 0 match *b*
"#;

/// Encoding conversions at both thresholds, with small and default limits.
fn encoding_script() -> String {
    let v64 = "y".repeat(64);
    let v65 = "x".repeat(65);
    let mut s = String::new();
    s += "CONFIG GET hash-max-listpack-entries\nCONFIG GET hash-max-listpack-value\n";
    s += &format!("HSET a f {v64}\nOBJECT ENCODING a\nHSET a {v64} v\nOBJECT ENCODING a\n");
    s += &format!("HSET a g {v65}\nOBJECT ENCODING a\nHGET a g\nHDEL a g\nOBJECT ENCODING a\n");
    s += &format!("HSET b {v65} v\nOBJECT ENCODING b\n");
    s += &format!(
        "HSET c f v\nHSETNX c f {v65}\nOBJECT ENCODING c\nHSETNX c g {v65}\nOBJECT ENCODING c\n"
    );
    s += &format!("HMSET d f v g {v65}\nOBJECT ENCODING d\n");
    s += &format!("HSET e1 {v65} 1\nOBJECT ENCODING e1\nHINCRBY e2 {v65} 1\nOBJECT ENCODING e2\n");
    // 512 entries stay a listpack, the 513th converts.
    s += "HSET big f0 0";
    for i in 1..512 {
        s += &format!(" f{i} {i}");
    }
    s += "\nHLEN big\nOBJECT ENCODING big\nHGETALL big\nHKEYS big\nHVALS big\n";
    s += "HSET big f0 again\nOBJECT ENCODING big\nHSET big f512 x\nOBJECT ENCODING big\n";
    s += "~ HGETALL big\n~ HKEYS big\n~ HVALS big\nHLEN big\nHGET big f512\nHGET big f0\n";
    s += "HDEL big f512 f1\nOBJECT ENCODING big\nHLEN big\n~ HRANDFIELD big 1000\n~ HRANDFIELD big 511 WITHVALUES\n";
    s += "HSTRLEN big f3\nHEXISTS big f1\nHMGET big f2 f1 f511\n";
    // Small limits, set at run time.
    s += "CONFIG SET hash-max-listpack-entries 3\nCONFIG SET hash-max-listpack-value 4\n";
    s += "HSET s a 1 b 2 c 3\nOBJECT ENCODING s\nHGETALL s\nHSET s d 4\nOBJECT ENCODING s\n~ HGETALL s\n";
    s += "HSET t abcd abcd\nOBJECT ENCODING t\nHSET t abcde 1\nOBJECT ENCODING t\n";
    s += "HSET u a 1234\nHINCRBY u a 1\nOBJECT ENCODING u\nHINCRBYFLOAT u b 1.5\nOBJECT ENCODING u\nHINCRBYFLOAT u b 0.25\nOBJECT ENCODING u\n";
    s += "HDEL s a b c d\nEXISTS s\nHSET s a 1\nOBJECT ENCODING s\n";
    s += "CONFIG SET hash-max-listpack-entries 0\nHSET z a 1\nOBJECT ENCODING z\n";
    s += "CONFIG SET hash-max-listpack-entries 1\nCONFIG SET hash-max-listpack-value 0\nHSET y \"\" \"\"\nOBJECT ENCODING y\nHSET x a \"\"\nOBJECT ENCODING x\n";
    s += "~ HSCAN s 0 COUNT 100\n";
    s += "RENAME s s2\nOBJECT ENCODING s2\n~ HGETALL s2\nCOPY t t2\nOBJECT ENCODING t2\n~ HGETALL t2\n";
    s += "TYPE t2\n~ SCAN 0 TYPE hash COUNT 1000\n~ SCAN 0 TYPE string COUNT 1000\n";
    s
}

/// A hashtable-encoded hash scanned to the end returns every field exactly once.
fn scan_big_script() -> String {
    let mut s = String::from("HSET big");
    for i in 0..600 {
        s += &format!(" field:{i} {i}");
    }
    s += "\nOBJECT ENCODING big\n";
    s
}

#[test]
fn differential_hash_scripts() {
    run_scripts(&[
        ("basic", BASIC.to_string()),
        ("hex", HEX.to_string()),
        ("wrongtype", WRONGTYPE.to_string()),
        ("counters", COUNTERS.to_string()),
        ("randfield", RANDFIELD.to_string()),
        ("scan", SCAN.to_string()),
        ("encoding", encoding_script()),
        ("scan-big", scan_big_script()),
    ]);
}

/// Full HSCAN of a big hash on keel, following cursors: every field once (cursors and
/// batch sizes differ from Redis, so this checks the guarantee, not bytes).
#[test]
fn hscan_big_hash_returns_every_field() {
    if !common::require_redis_or_skip() {
        return;
    }
    let keel = Server::keel(&[]);
    let mut k = keel.conn();
    let script = scan_big_script();
    assert_eq!(
        k.cmds(script.lines().next().unwrap_or_default()),
        b":600\r\n"
    );
    let mut seen = std::collections::BTreeMap::new();
    let mut cursor = b"0".to_vec();
    loop {
        let reply = k.cmdv(&[
            b"HSCAN".to_vec(),
            b"big".to_vec(),
            cursor.clone(),
            b"COUNT".to_vec(),
            b"7".to_vec(),
        ]);
        let parts = common::array_elements(&reply).expect("HSCAN reply");
        // A bulk `$N\r\n<cursor>\r\n`: the cursor is the second line.
        let next = parts[0]
            .split(|&b| b == b'\n')
            .nth(1)
            .map(|l| l.strip_suffix(b"\r").unwrap_or(l).to_vec())
            .unwrap_or_default();
        let items = common::array_elements(&parts[1]).expect("HSCAN items");
        for pair in items.chunks(2) {
            *seen.entry(pair[0].clone()).or_insert(0) += 1;
        }
        if next == b"0" {
            break;
        }
        cursor = next;
    }
    assert_eq!(seen.len(), 600);
    assert!(seen.values().all(|&n| n == 1));
}

// ---------------------------------------------------------------------------------
// Generated sequences over a few keys and fields.
// ---------------------------------------------------------------------------------

const KEYS: &[&str] = &["h1", "h2", "s"];
const FIELDS: &[&str] = &[
    "a",
    "b",
    "c",
    "dd",
    "",
    "user:1",
    "user:10",
    "user:100",
    "f:0000000000",
];
const VALUES: &[&str] = &["1", "-2", "x", "", "1.5", "9223372036854775807", "0x"];
const INCRS: &[&str] = &[
    "1",
    "-1",
    "100",
    "x",
    "9223372036854775807",
    "-9223372036854775808",
];
const FLOAT_INCRS: &[&str] = &["1", "0.5", "-3.25", "x", "1e3", "inf"];

/// One hash (or string) command with plausible, sometimes wrong, arguments.
fn command() -> BoxedStrategy<Vec<String>> {
    let k = || pick(KEYS);
    let f = || pick(FIELDS);
    let v = || pick(VALUES);
    let fields = || proptest::collection::vec(pick(FIELDS), 1..4);
    let pairs = || {
        proptest::collection::vec((pick(FIELDS), pick(VALUES)), 1..4)
            .prop_map(|p| p.into_iter().flat_map(|(a, b)| [a, b]).collect::<Vec<_>>())
    };
    prop_oneof![
        (k(), pairs()).prop_map(|(k, p)| words(vec![one("HSET"), vec![k], p])),
        (k(), pairs()).prop_map(|(k, p)| words(vec![one("HMSET"), vec![k], p])),
        (k(), f(), v()).prop_map(|(k, f, v)| words(vec![one("HSETNX"), vec![k, f, v]])),
        (k(), f()).prop_map(|(k, f)| words(vec![one("HGET"), vec![k, f]])),
        (k(), fields()).prop_map(|(k, fs)| words(vec![one("HMGET"), vec![k], fs])),
        (k(), fields()).prop_map(|(k, fs)| words(vec![one("HDEL"), vec![k], fs])),
        k().prop_map(|k| words(vec![one("HLEN"), vec![k]])),
        (k(), f()).prop_map(|(k, f)| words(vec![one("HEXISTS"), vec![k, f]])),
        (k(), f()).prop_map(|(k, f)| words(vec![one("HSTRLEN"), vec![k, f]])),
        k().prop_map(|k| words(vec![one("HKEYS"), vec![k]])),
        k().prop_map(|k| words(vec![one("HVALS"), vec![k]])),
        k().prop_map(|k| words(vec![one("HGETALL"), vec![k]])),
        (k(), f(), pick(INCRS)).prop_map(|(k, f, n)| words(vec![one("HINCRBY"), vec![k, f, n]])),
        (k(), f(), pick(FLOAT_INCRS))
            .prop_map(|(k, f, n)| words(vec![one("HINCRBYFLOAT"), vec![k, f, n]])),
        (k(), proptest::bool::ANY).prop_map(|(k, w)| {
            // Counts at least the hash size: the whole hash, deterministic as a multiset.
            let mut c = words(vec![one("HRANDFIELD"), vec![k, "10".into()]]);
            if w {
                c.push("WITHVALUES".into());
            }
            c
        }),
        k().prop_map(|k| words(vec![one("HSCAN"), vec![k, "0".into()]])),
        (k(), v()).prop_map(|(k, v)| words(vec![one("SET"), vec![k, v]])),
        k().prop_map(|k| words(vec![one("DEL"), vec![k]])),
        k().prop_map(|k| words(vec![one("TYPE"), vec![k]])),
        k().prop_map(|k| words(vec![one("OBJECT"), one("ENCODING"), vec![k]])),
        (k(), k()).prop_map(|(a, b)| words(vec![one("RENAME"), vec![a, b]])),
    ]
    .boxed()
}

#[test]
fn differential_hash_generated_sequences() {
    if !common::require_redis_or_skip() {
        return;
    }
    // Small limits so sequences cross the conversion thresholds, with room for the
    // shared-prefix fields to stay packed.
    let setup = vec![
        "CONFIG SET hash-max-listpack-entries 6".to_string(),
        "CONFIG SET hash-max-listpack-value 12".to_string(),
    ];
    let strategy =
        proptest::collection::vec(command(), 1..40).prop_map(move |seq| (setup.clone(), seq));
    // Listpack order is Redis's insertion order; hashtable order is unspecified, so
    // whole-hash replies compare as multisets.
    common::run_generated(&Pair::start(), strategy, |c, reply| {
        if matches!(
            c[0].as_str(),
            "HGETALL" | "HKEYS" | "HVALS" | "HRANDFIELD" | "HSCAN"
        ) {
            common::unordered_deep(reply)
        } else {
            reply.to_vec()
        }
    });
}
