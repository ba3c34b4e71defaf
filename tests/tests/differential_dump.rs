//! DUMP and RESTORE against a real redis-server: payload bytes equal where Redis's
//! encoding is deterministic (strings, ints, listpack hashes and sorted sets,
//! intsets, skiplist sorted sets, single-node lists); otherwise each server RESTOREs
//! the other's payload and the values compare by DEBUG DIGEST-VALUE. Error replies
//! (bad payloads, BUSYKEY, TTL, IDLETIME, FREQ, syntax) are compared byte for byte.

mod common;

use common::{decoded, escape, require_redis_or_skip, Conn, Pair, Server};
use keel_core::persist::rdb::crc64::crc64;
use keel_core::resp::Value as Resp;

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn bulk(reply: &[u8]) -> Vec<u8> {
    match decoded(reply) {
        Resp::Bulk(b) => b,
        other => panic!("not a bulk: {other:?} ({})", escape(reply)),
    }
}

/// Runs `line` on both servers; the replies must be equal.
fn same(r: &mut Conn, k: &mut Conn, args: &[Vec<u8>]) -> Vec<u8> {
    let want = r.cmdv(args);
    let got = k.cmdv(args);
    assert_eq!(
        escape(&got),
        escape(&want),
        "{:?}",
        args.iter()
            .map(|a| String::from_utf8_lossy(a).to_string())
            .collect::<Vec<_>>()
    );
    got
}

/// DEBUG DIGEST-VALUE of `key` (a real digest, never an error).
fn digest_value(c: &mut Conn, key: &str) -> Vec<u8> {
    let reply = c.cmdv(&[b("DEBUG"), b("DIGEST-VALUE"), b(key)]);
    assert!(
        reply.starts_with(b"*1\r\n+") && reply.len() == 4 + 1 + 40 + 2,
        "{}",
        escape(&reply)
    );
    reply
}

/// Both servers, with DEBUG allowed.
fn debug_pair() -> Pair {
    let args = ["--enable-debug-command", "yes"];
    Pair {
        redis: Server::redis(&args),
        keel: Server::keel(&args),
    }
}

#[test]
fn dump_bytes_equal_where_the_encoding_is_deterministic() {
    if !require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    let (mut r, mut k) = pair.fresh();
    let long = "x".repeat(200);
    let scripts: Vec<String> = vec![
        "SET str hello".into(),
        "SET int 12345".into(),
        "SET neg -9223372036854775808".into(),
        "SET big 99999999999".into(),
        format!("SET long {long}"),
        "SET mixed abcabcabcabcabcabcabcabcabcabcabc0123456789".into(),
        "HSET h f1 v1 f2 2 f3 3.5 f4 -70000".into(),
        "SADD si 5 -3 100000 7 -9000000000".into(),
        "ZADD z 1.5 a 2 b -3 c 1e300 d inf e -inf f 0 g".into(),
        "RPUSH l a b 1 500 -5000 70000 hello 9223372036854775807".into(),
        "CONFIG SET zset-max-listpack-entries 2".into(),
        "ZADD zs 1.5 a 2 b -3 c 0.1 d".into(),
        "CONFIG SET zset-max-listpack-entries 128".into(),
    ];
    for line in &scripts {
        same(&mut r, &mut k, &common::s(line));
    }
    for key in [
        "str", "int", "neg", "big", "long", "mixed", "h", "hlong", "si", "z", "l", "zs",
    ] {
        let dump = [b("DUMP"), b(key)];
        same(&mut r, &mut k, &dump);
    }
    same(&mut r, &mut k, &[b("DUMP"), b("missing")]);
    // DUMP follows rdbcompression.
    same(&mut r, &mut k, &common::s("CONFIG SET rdbcompression no"));
    for key in ["long", "mixed", "h", "z"] {
        same(&mut r, &mut k, &[b("DUMP"), b(key)]);
    }
}

#[test]
fn payloads_cross_restore_with_equal_values() {
    if !require_redis_or_skip() {
        return;
    }
    let pair = debug_pair();
    let (mut r, mut k) = pair.fresh();
    let mut lines: Vec<String> = vec![
        "CONFIG SET list-max-listpack-size 4".into(),
        "CONFIG SET hash-max-listpack-entries 8".into(),
        "CONFIG SET set-max-intset-entries 8".into(),
        "CONFIG SET zset-max-listpack-entries 8".into(),
    ];
    let many: Vec<String> = (0..40).map(|i| format!("e{i}")).collect();
    lines.push(format!("RPUSH biglist {}", many.join(" ")));
    lines.push(format!("SADD strset {}", many.join(" ")));
    let ints: Vec<String> = (0..20).map(|i| (i * 37).to_string()).collect();
    lines.push(format!("SADD intset-big {}", ints.join(" ")));
    let pairs: Vec<String> = (0..20).map(|i| format!("f{i} {i}")).collect();
    lines.push(format!("HSET bighash {}", pairs.join(" ")));
    let scored: Vec<String> = (0..20).map(|i| format!("{i}.25 m{i}")).collect();
    lines.push(format!("ZADD bigz {}", scored.join(" ")));
    // A hashtable because one value is long, not because of the count.
    lines.push(format!("HSET hlong f {} g 1", "x".repeat(200)));
    for line in &lines {
        same(&mut r, &mut k, &common::s(line));
    }
    for key in [
        "biglist",
        "strset",
        "intset-big",
        "bighash",
        "bigz",
        "hlong",
    ] {
        let redis_payload = bulk(&r.cmdv(&[b("DUMP"), b(key)]));
        let keel_payload = bulk(&k.cmdv(&[b("DUMP"), b(key)]));
        // Redis's payload into keel, keel's into Redis.
        let restore = |p: &[u8]| vec![b("RESTORE"), b(&format!("{key}:copy")), b("0"), p.to_vec()];
        assert_eq!(
            k.cmdv(&restore(&redis_payload)),
            b"+OK\r\n",
            "{key}: redis payload into keel"
        );
        assert_eq!(
            r.cmdv(&restore(&keel_payload)),
            b"+OK\r\n",
            "{key}: keel payload into redis"
        );
        let want = digest_value(&mut r, key);
        for (who, c) in [("redis", &mut r), ("keel", &mut k)] {
            assert_eq!(digest_value(c, key), want, "{key} on {who}");
            assert_eq!(
                digest_value(c, &format!("{key}:copy")),
                want,
                "{key}:copy on {who}"
            );
        }
        same(
            &mut r,
            &mut k,
            &[b("OBJECT"), b("ENCODING"), b(&format!("{key}:copy"))],
        );
    }
}

/// A payload with the right footer around `body`.
fn with_footer(body: &[u8], version: u16) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&version.to_le_bytes());
    let crc = crc64(0, &p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

#[test]
fn restore_options_and_errors_match_redis() {
    if !require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    let (mut r, mut k) = pair.fresh();
    same(&mut r, &mut k, &common::s("SET src value"));
    let payload = bulk(&r.cmdv(&[b("DUMP"), b("src")]));
    let restore = |key: &str, ttl: &str, p: &[u8], extra: &[&str]| {
        let mut a = vec![b("RESTORE"), b(key), b(ttl), p.to_vec()];
        a.extend(extra.iter().map(|s| b(s)));
        a
    };
    let mut truncated = payload.clone();
    truncated.truncate(payload.len() - 3);
    let mut flipped = payload.clone();
    flipped[2] ^= 0x20;
    let newer = with_footer(&payload[..payload.len() - 10], 11);
    let bad_type = with_footer(b"\x08\x01a", 10);
    let bad_body = with_footer(b"\x00\x81\x10\x00\x00\x00\x00\x00\x00\x00ab", 10);
    let empty_list = with_footer(b"\x12\x00", 10);
    let stream = with_footer(b"\x0f\x00", 10);
    let cases: Vec<Vec<Vec<u8>>> = vec![
        restore("src", "0", &payload, &[]),
        restore("a", "0", &payload, &["REPLACE", "foo"]),
        restore("a", "0", &payload, &["IDLETIME"]),
        restore("a", "0", &payload, &["IDLETIME", "-1"]),
        restore("a", "0", &payload, &["IDLETIME", "x"]),
        restore("a", "0", &payload, &["FREQ", "256"]),
        restore("a", "0", &payload, &["FREQ", "-1"]),
        restore("a", "0", &payload, &["IDLETIME", "5", "FREQ", "3"]),
        restore("a", "0", &payload, &["FREQ", "3", "IDLETIME", "5"]),
        restore("a", "-1", &payload, &[]),
        restore("a", "1.5", &payload, &[]),
        restore("a", "0", b"short", &[]),
        restore("a", "0", &truncated, &[]),
        restore("a", "0", &flipped, &[]),
        restore("a", "0", &newer, &[]),
        restore("a", "0", &bad_type, &[]),
        restore("a", "0", &bad_body, &[]),
        restore("a", "0", &empty_list, &[]),
        restore("src", "0", &bad_type, &["REPLACE"]),
        restore(
            "a",
            "0",
            &payload,
            &["replace", "ABSTTL", "idletime", "100"],
        ),
        restore("b", "5000", &payload, &[]),
        restore("c", "1", &payload, &["ABSTTL"]),
        restore("src", "1", &payload, &["ABSTTL", "REPLACE"]),
    ];
    for args in &cases {
        same(&mut r, &mut k, args);
    }
    for line in [
        "EXISTS a b c src",
        "GET a",
        "OBJECT IDLETIME a",
        "TTL b",
        "DBSIZE",
    ] {
        same(&mut r, &mut k, &common::s(line));
    }
    // A stream payload: Redis has the type; keel refuses it as bad data.
    let got = k.cmdv(&restore("s", "0", &stream, &[]));
    assert_eq!(got, b"-ERR Bad data format\r\n");
    // FREQ under an LFU policy.
    same(
        &mut r,
        &mut k,
        &common::s("CONFIG SET maxmemory-policy allkeys-lfu"),
    );
    same(
        &mut r,
        &mut k,
        &restore("f", "0", &payload, &["FREQ", "77"]),
    );
    same(&mut r, &mut k, &common::s("OBJECT FREQ f"));
}

/// keel's LZF compressor emits Redis's bytes: DUMPs of compressible strings of many
/// lengths and shapes are equal. (The redis-server here is Debian's, linked to liblzf
/// 3.6, which keel follows; a redis-server built from source with its vendored LZF
/// picks other back-references for about a quarter of these strings.)
#[test]
fn lzf_output_equals_redis_for_many_strings() {
    if !require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    let (mut r, mut k) = pair.fresh();
    let mut rng: u64 = 0xfeed_beef;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for i in 0..300 {
        let len = 21 + (next() % 3000) as usize;
        let alphabet = 1 + (next() % 8) as u8;
        let value: Vec<u8> = match i % 3 {
            0 => (0..len)
                .map(|_| b'a' + (next() % u64::from(alphabet)) as u8)
                .collect(),
            1 => format!("user:{i}:")
                .into_bytes()
                .into_iter()
                .cycle()
                .take(len)
                .enumerate()
                .map(|(j, c)| {
                    if next() % 17 == 0 {
                        b'0' + (j % 10) as u8
                    } else {
                        c
                    }
                })
                .collect(),
            _ => (0..len).map(|j| (j / (1 + i % 5)) as u8).collect(),
        };
        let key = format!("s{i}");
        same(&mut r, &mut k, &[b("SET"), b(&key), value]);
        same(&mut r, &mut k, &[b("DUMP"), b(&key)]);
    }
}
