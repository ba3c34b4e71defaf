//! RDB interoperability with the real redis-server 7.0: its dump.rdb (every type in
//! both encodings, TTLs, several databases) read by keel's `RdbReader` gives the same
//! DEBUG DIGEST, encodings and TTLs; a file keel's `RdbWriter` wrote passes
//! `redis-check-rdb` and starts redis-server with the same digest; and an RDB 9 file
//! with the encodings Redis 5/6 wrote (ziplist, zipmap, quicklist of ziplists) loads
//! into both with equal digests.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{decoded, require_redis_or_skip, scratch_dir, Conn, Server};
use keel_core::digest;
use keel_core::keyspace::{HashSeeds, Keyspace};
use keel_core::persist::rdb::{
    crc64::crc64, AuxValue, KeyRecord, LoadLimits, RdbItem, RdbOptions, RdbReader, RdbWriter,
};
use keel_core::resp::Value as Resp;
use keel_core::types::hash::HashLimits;
use keel_core::types::list::ListLimits;
use keel_core::types::zset::ZSetLimits;
use keel_core::types::{Hash, List, Set, StrValue, Value, ZSet};

/// Small thresholds so both encodings of every type appear with few elements.
const LIMIT_ARGS: &[&str] = &[
    "--list-max-listpack-size",
    "4",
    "--hash-max-listpack-entries",
    "8",
    "--set-max-intset-entries",
    "8",
    "--zset-max-listpack-entries",
    "8",
];

fn limits() -> LoadLimits {
    LoadLimits {
        list: ListLimits::from_fill(4),
        hash: HashLimits {
            max_listpack_entries: 8,
            max_listpack_value_bytes: 64,
        },
        zset: ZSetLimits {
            max_listpack_entries: 8,
            max_listpack_value_bytes: 64,
        },
        set_max_intset_entries: 8,
        seeds: [1, 2, 3, 4],
        verify_checksum: true,
    }
}

/// One key of the test dataset.
#[derive(Debug, Clone)]
enum Spec {
    Str(Vec<u8>),
    List(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(Vec<u8>, f64)>),
}

struct Key {
    db: usize,
    name: Vec<u8>,
    spec: Spec,
    expire_ms: Option<u64>,
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// Every type in both encodings, ints and binary, TTLs, three databases.
fn dataset() -> Vec<Key> {
    let mut keys = Vec::new();
    let mut rng: u64 = 0x1234_5678;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for db in [0usize, 1, 5] {
        let mut add = |name: String, spec: Spec, ttl: bool| {
            keys.push(Key {
                db,
                name: name.into_bytes(),
                spec,
                expire_ms: ttl.then_some(4_000_000_000_000 + db as u64),
            })
        };
        add(format!("s:int:{db}"), Spec::Str(b("12345")), false);
        add(
            format!("s:bigint:{db}"),
            Spec::Str(b("-9223372036854775808")),
            true,
        );
        add(format!("s:short:{db}"), Spec::Str(b("hello")), false);
        add(format!("s:long:{db}"), Spec::Str(vec![b'a'; 300]), true);
        add(
            format!("s:bin:{db}"),
            Spec::Str((0..=255u8).collect()),
            false,
        );
        add(
            format!("l:small:{db}"),
            Spec::List(vec![b("a"), b("1"), b("-70000")]),
            false,
        );
        let long_list: Vec<Vec<u8>> = (0..50)
            .map(|i| {
                if i % 3 == 0 {
                    i.to_string().into_bytes()
                } else {
                    format!("elem-{i}-{}", next() % 1000).into_bytes()
                }
            })
            .collect();
        add(format!("l:big:{db}"), Spec::List(long_list), true);
        add(
            format!("l:huge-elem:{db}"),
            Spec::List(vec![vec![b'z'; 10_000], b("x")]),
            false,
        );
        add(
            format!("h:small:{db}"),
            Spec::Hash(vec![(b("f1"), b("v1")), (b("n"), b("42"))]),
            false,
        );
        let big_hash = (0..20)
            .map(|i| {
                (
                    format!("field{i}").into_bytes(),
                    format!("{}", next() % 100_000).into_bytes(),
                )
            })
            .collect();
        add(format!("h:big:{db}"), Spec::Hash(big_hash), true);
        add(
            format!("h:longval:{db}"),
            Spec::Hash(vec![(b("f"), vec![b'v'; 100])]),
            false,
        );
        // Hex digits of one case, which keel packs two a byte in lists and small
        // hashes: both cases, odd lengths, leading zeros, digit-only (integers too),
        // mixed case (kept raw), longer than the hash value limit.
        let hex_list: Vec<Vec<u8>> = (0..24)
            .map(|i| {
                let x = next();
                match i % 6 {
                    0 | 1 => format!("{x:016x}").into_bytes(),
                    2 => format!("{x:016X}").into_bytes(),
                    3 => format!("{:07x}", x % 0x1000_0000).into_bytes(),
                    4 => format!("{:04}", x % 100).into_bytes(),
                    _ => format!("{x:x}{x:X}").into_bytes(),
                }
            })
            .collect();
        add(format!("l:hex:{db}"), Spec::List(hex_list), db == 1);
        let same_width: Vec<Vec<u8>> = (0..12)
            .map(|_| format!("{:032X}", u128::from(next()) << 40).into_bytes())
            .collect();
        add(format!("l:hexwide:{db}"), Spec::List(same_width), false);
        add(
            format!("h:hex:{db}"),
            Spec::Hash(vec![
                (
                    format!("{:016x}", next()).into_bytes(),
                    format!("{:016x}", next()).into_bytes(),
                ),
                (
                    format!("{:016X}", next()).into_bytes(),
                    format!("{:015X}", next() >> 4).into_bytes(),
                ),
                (b("0000000000000001"), b("0012")),
                (b("0000000000000002"), b("DeadBeef")),
                (b("abc"), vec![b'f'; 64]),
            ]),
            false,
        );
        let hex_table = (0..20)
            .map(|_| {
                (
                    format!("{:016x}", next()).into_bytes(),
                    format!("{:016X}", next()).into_bytes(),
                )
            })
            .collect();
        add(format!("h:hextable:{db}"), Spec::Hash(hex_table), true);
        add(
            format!("set:ints:{db}"),
            Spec::Set(vec![b("1"), b("-5"), b("100000"), b("7")]),
            false,
        );
        let many_ints = (0..20)
            .map(|i| (i * 1000 - 7).to_string().into_bytes())
            .collect();
        add(format!("set:manyints:{db}"), Spec::Set(many_ints), true);
        add(
            format!("set:strs:{db}"),
            Spec::Set(vec![b("a"), b("b"), b("c")]),
            false,
        );
        add(
            format!("z:small:{db}"),
            Spec::ZSet(vec![
                (b("a"), 1.5),
                (b("b"), -2.0),
                (b("c"), f64::INFINITY),
                (b("d"), 1e300),
            ]),
            false,
        );
        let big_z = (0..20)
            .map(|i| (format!("m{i}").into_bytes(), (next() % 1000) as f64 / 7.0))
            .collect();
        add(format!("z:big:{db}"), Spec::ZSet(big_z), true);
        add(
            format!("z:longmember:{db}"),
            Spec::ZSet(vec![(vec![b'm'; 100], 3.0)]),
            false,
        );
    }
    keys
}

fn fill_redis(c: &mut Conn, keys: &[Key]) {
    for k in keys {
        assert_eq!(
            c.cmdv(&[b("SELECT"), k.db.to_string().into_bytes()]),
            b"+OK\r\n"
        );
        let mut args: Vec<Vec<u8>> = match &k.spec {
            Spec::Str(v) => vec![b("SET"), k.name.clone(), v.clone()],
            Spec::List(v) => [vec![b("RPUSH"), k.name.clone()], v.clone()].concat(),
            Spec::Hash(p) => {
                let mut a = vec![b("HSET"), k.name.clone()];
                for (f, v) in p {
                    a.push(f.clone());
                    a.push(v.clone());
                }
                a
            }
            Spec::Set(m) => [vec![b("SADD"), k.name.clone()], m.clone()].concat(),
            Spec::ZSet(e) => {
                let mut a = vec![b("ZADD"), k.name.clone()];
                for (m, s) in e {
                    a.push(keel_core::types::zset::fmt_score(*s).into_bytes());
                    a.push(m.clone());
                }
                a
            }
        };
        let reply = c.cmdv(&args);
        assert!(
            !reply.starts_with(b"-"),
            "{:?}",
            String::from_utf8_lossy(&reply)
        );
        if let Some(at) = k.expire_ms {
            args = vec![b("PEXPIREAT"), k.name.clone(), at.to_string().into_bytes()];
            assert_eq!(c.cmdv(&args), b":1\r\n");
        }
    }
    c.cmds("SELECT 0");
}

/// The dataset as keel values, built under `limits` (as commands would build them).
fn keel_keyspace(keys: &[Key], limits: &LoadLimits) -> Keyspace {
    let mut ks = Keyspace::new(16, HashSeeds([9; 4]));
    let mut seeds = || [5u64, 6, 7, 8];
    for k in keys {
        let value = match &k.spec {
            Spec::Str(v) => Value::Str(StrValue::from_set(v)),
            Spec::List(v) => {
                let mut l = List::new(limits.list);
                for e in v {
                    l.push_back(e);
                }
                Value::List(Box::new(l))
            }
            Spec::Hash(p) => {
                let mut h = Hash::new();
                for (f, v) in p {
                    h.set(f, v, limits.hash, seeds);
                }
                Value::Hash(h)
            }
            Spec::Set(m) => {
                let mut s = Set::default();
                for e in m {
                    s.add(e, limits.set_max_intset_entries, &mut seeds);
                }
                Value::Set(s)
            }
            Spec::ZSet(e) => {
                let mut z = ZSet::new();
                for (m, s) in e {
                    z.set_score(m, *s, limits.zset, seeds);
                }
                Value::ZSet(Box::new(z))
            }
        };
        let db = ks.db_mut(k.db);
        let id = db.insert(&k.name, value);
        if let Some(at) = k.expire_ms {
            db.set_expire(id, at);
        }
    }
    ks
}

/// Reads a whole RDB file through the streaming reader in small chunks.
/// Aux fields as read: (key, value).
type AuxFields = Vec<(Vec<u8>, Vec<u8>)>;

fn load(bytes: &[u8], limits: LoadLimits) -> (Keyspace, AuxFields) {
    let mut ks = Keyspace::new(16, HashSeeds([9; 4]));
    let mut aux = Vec::new();
    let mut r = RdbReader::new(limits);
    let mut ended = false;
    let mut take = |item: RdbItem, ks: &mut Keyspace| match item {
        RdbItem::Key {
            db,
            key,
            value,
            expire_ms,
            ..
        } => {
            let d = ks.db_mut(db);
            let id = d.insert(&key, value);
            if let Some(at) = expire_ms {
                d.set_expire(id, at);
            }
        }
        RdbItem::Aux { key, value } => aux.push((key, value)),
        RdbItem::End => ended = true,
        _ => {}
    };
    for chunk in bytes.chunks(4096) {
        r.feed(chunk);
        while let Some(item) = r.next().unwrap_or_else(|e| panic!("{e}")) {
            take(item, &mut ks);
        }
    }
    r.end_of_input();
    while let Some(item) = r.next().unwrap_or_else(|e| panic!("{e}")) {
        take(item, &mut ks);
    }
    assert!(ended, "no EOF item");
    assert_eq!(r.consumed_bytes(), bytes.len() as u64);
    (ks, aux)
}

fn bulk(reply: &[u8]) -> Vec<u8> {
    match decoded(reply) {
        Resp::Bulk(b) | Resp::Simple(b) => b,
        other => panic!("not a bulk: {other:?}"),
    }
}

fn redis_digest(c: &mut Conn) -> String {
    String::from_utf8(bulk(&c.cmds("DEBUG DIGEST"))).unwrap()
}

/// (db, key) -> (OBJECT ENCODING, PEXPIRETIME) as redis-server reports them.
fn redis_meta(c: &mut Conn, keys: &[Key]) -> BTreeMap<(usize, Vec<u8>), (String, i64)> {
    let mut out = BTreeMap::new();
    for k in keys {
        c.cmdv(&[b("SELECT"), k.db.to_string().into_bytes()]);
        let enc = String::from_utf8(bulk(&c.cmdv(&[b("OBJECT"), b("ENCODING"), k.name.clone()])))
            .unwrap();
        let ttl = match decoded(&c.cmdv(&[b("PEXPIRETIME"), k.name.clone()])) {
            Resp::Int(n) => n,
            other => panic!("{other:?}"),
        };
        out.insert((k.db, k.name.clone()), (enc, ttl));
    }
    c.cmds("SELECT 0");
    out
}

fn keel_meta(ks: &Keyspace, keys: &[Key]) -> BTreeMap<(usize, Vec<u8>), (String, i64)> {
    let mut out = BTreeMap::new();
    for k in keys {
        let db = ks.db(k.db);
        let id = db
            .find(&k.name)
            .unwrap_or_else(|| panic!("{:?} missing", String::from_utf8_lossy(&k.name)));
        let e = db.get(id).unwrap();
        let ttl = if e.expire_at_ms == 0 {
            -1
        } else {
            e.expire_at_ms as i64
        };
        out.insert(
            (k.db, k.name.clone()),
            (e.value.encoding_name().to_string(), ttl),
        );
    }
    out
}

#[test]
fn redis_dump_rdb_loads_into_keel() {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir("rdb-from-redis");
    let dir_arg = dir.display().to_string();
    let mut args = vec!["--dir", &dir_arg, "--enable-debug-command", "yes"];
    args.extend_from_slice(LIMIT_ARGS);
    let redis = Server::redis(&args);
    let mut c = redis.conn();
    let keys = dataset();
    fill_redis(&mut c, &keys);
    for compression in ["yes", "no"] {
        c.cmdv(&[b("CONFIG"), b("SET"), b("rdbcompression"), b(compression)]);
        assert_eq!(c.cmds("SAVE"), b"+OK\r\n");
        let bytes = std::fs::read(dir.join("dump.rdb")).unwrap();
        assert!(bytes.starts_with(b"REDIS0010"));
        let (ks, aux) = load(&bytes, limits());
        assert_eq!(
            digest::hex(&digest::dataset_digest(&ks)),
            redis_digest(&mut c),
            "rdbcompression {compression}"
        );
        assert_eq!(keel_meta(&ks, &keys), redis_meta(&mut c, &keys));
        let aux_keys: Vec<&[u8]> = aux.iter().map(|(k, _)| k.as_slice()).collect();
        for want in ["redis-ver", "redis-bits", "ctime", "used-mem", "aof-base"] {
            assert!(
                aux_keys.contains(&want.as_bytes()),
                "{want} missing from {aux_keys:?}"
            );
        }
    }
    // The encodings Redis chose must be both kinds for every collection type.
    let meta = redis_meta(&mut c, &keys);
    let encodings: std::collections::BTreeSet<&str> =
        meta.values().map(|(e, _)| e.as_str()).collect();
    for e in [
        "int",
        "embstr",
        "raw",
        "quicklist",
        "listpack",
        "hashtable",
        "intset",
        "skiplist",
    ] {
        assert!(encodings.contains(e), "{e} not covered: {encodings:?}");
    }
}

/// Idle times and LFU counters cross both ways: Redis writes them under an LRU or LFU
/// policy and keel reads them; keel writes them and Redis's OBJECT IDLETIME / FREQ
/// report them after loading.
#[test]
fn idle_and_freq_fields_cross_both_ways() {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir("rdb-access");
    let dir_arg = dir.display().to_string();
    let redis = Server::redis(&["--dir", &dir_arg, "--maxmemory-policy", "allkeys-lfu"]);
    let mut c = redis.conn();
    c.cmds("SET hot v");
    for _ in 0..50 {
        c.cmds("GET hot");
    }
    c.cmds("SET cold v");
    assert_eq!(c.cmds("SAVE"), b"+OK\r\n");
    let freq_of = |bytes: &[u8]| {
        let mut r = RdbReader::new(LoadLimits::default());
        r.feed(bytes);
        r.end_of_input();
        let mut out = BTreeMap::new();
        while let Some(item) = r.next().unwrap() {
            if let RdbItem::Key {
                key,
                lfu_freq,
                lru_idle_secs,
                ..
            } = item
            {
                out.insert(key, (lfu_freq, lru_idle_secs));
            }
        }
        out
    };
    let got = freq_of(&std::fs::read(dir.join("dump.rdb")).unwrap());
    let redis_freq = |c: &mut Conn, k: &str| match decoded(&c.cmdv(&[b("OBJECT"), b("FREQ"), b(k)]))
    {
        Resp::Int(n) => n as u8,
        other => panic!("{other:?}"),
    };
    assert_eq!(got[&b("hot")], (Some(redis_freq(&mut c, "hot")), None));
    assert_eq!(got[&b("cold")], (Some(redis_freq(&mut c, "cold")), None));
    assert!(got[&b("hot")].0 > got[&b("cold")].0);
    // Under an LRU policy Redis writes idle seconds instead.
    c.cmds("CONFIG SET maxmemory-policy allkeys-lru");
    // The access field still holds LFU data until the key is touched.
    c.cmds("GET hot");
    assert_eq!(c.cmds("SAVE"), b"+OK\r\n");
    let got = freq_of(&std::fs::read(dir.join("dump.rdb")).unwrap());
    assert!(matches!(got[&b("hot")], (None, Some(idle)) if idle < 60));
    drop(c);
    drop(redis);

    // keel writes them; Redis reads them back.
    for (policy, rec_idle, rec_freq) in [
        ("allkeys-lru", Some(5000u64), None),
        ("allkeys-lfu", None, Some(123u8)),
    ] {
        let dir = scratch_dir(&format!("rdb-access-{policy}"));
        let value = Value::Str(StrValue::from_set(b"v"));
        let mut w = RdbWriter::new(RdbOptions::default());
        let mut out = Vec::new();
        w.header(&[("redis-ver", AuxValue::Str(b"7.0.15"))], &mut out);
        w.select_db(0, 1, 0, &mut out);
        w.entry(
            &KeyRecord {
                key: b"k",
                value: &value,
                expire_ms: None,
                lru_idle_secs: rec_idle,
                lfu_freq: rec_freq,
            },
            &mut out,
        );
        w.finish(&mut out);
        std::fs::write(dir.join("dump.rdb"), &out).unwrap();
        check_rdb(&dir.join("dump.rdb"));
        let dir_arg = dir.display().to_string();
        let redis = Server::redis(&["--dir", &dir_arg, "--maxmemory-policy", policy]);
        let mut c = redis.conn();
        if let Some(freq) = rec_freq {
            assert_eq!(redis_freq(&mut c, "k"), freq);
        } else {
            let idle = match decoded(&c.cmds("OBJECT IDLETIME k")) {
                Resp::Int(n) => n,
                other => panic!("{other:?}"),
            };
            assert!((5000..5010).contains(&idle), "{idle}");
        }
    }
}

/// Writes `ks` as an RDB file with Redis 7.0's aux fields.
fn write_rdb(ks: &Keyspace, opts: RdbOptions) -> Vec<u8> {
    let mut w = RdbWriter::new(opts);
    let mut out = Vec::new();
    w.header(
        &[
            ("redis-ver", AuxValue::Str(b"7.0.15")),
            ("redis-bits", AuxValue::Int(64)),
            ("ctime", AuxValue::Int(1_765_000_000)),
            ("used-mem", AuxValue::Int(1_000_000)),
            ("repl-stream-db", AuxValue::Int(0)),
            (
                "repl-id",
                AuxValue::Str(b"0123456789abcdef0123456789abcdef01234567"),
            ),
            ("repl-offset", AuxValue::Int(0)),
            ("aof-base", AuxValue::Int(0)),
        ],
        &mut out,
    );
    for index in 0..ks.databases() {
        let db = ks.db(index);
        if db.is_empty() {
            continue;
        }
        w.select_db(index, db.len() as u64, db.volatile_len() as u64, &mut out);
        for (_, e) in db.iter() {
            w.entry(
                &KeyRecord {
                    key: e.key.as_bytes(),
                    value: e.value,
                    expire_ms: (e.expire_at_ms != 0).then_some(e.expire_at_ms),
                    lru_idle_secs: Some(3),
                    lfu_freq: None,
                },
                &mut out,
            );
        }
    }
    w.finish(&mut out);
    out
}

fn check_rdb(path: &Path) {
    let out = Command::new("redis-check-rdb")
        .arg(path)
        .output()
        .expect("run redis-check-rdb");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && text.contains("RDB looks OK"),
        "redis-check-rdb refused {}:\n{text}",
        path.display()
    );
}

#[test]
fn keel_rdb_loads_into_redis() {
    if !require_redis_or_skip() {
        return;
    }
    let keys = dataset();
    let ks = keel_keyspace(&keys, &limits());
    let keel_digest = digest::hex(&digest::dataset_digest(&ks));
    for (tag, opts) in [
        (
            "plain",
            RdbOptions {
                compression: false,
                checksum: true,
            },
        ),
        (
            "lzf",
            RdbOptions {
                compression: true,
                checksum: true,
            },
        ),
        (
            "nocrc",
            RdbOptions {
                compression: true,
                checksum: false,
            },
        ),
    ] {
        let dir = scratch_dir(&format!("rdb-to-redis-{tag}"));
        let bytes = write_rdb(&ks, opts);
        std::fs::write(dir.join("dump.rdb"), &bytes).unwrap();
        check_rdb(&dir.join("dump.rdb"));
        // keel reads back what it wrote.
        let (back, _) = load(&bytes, limits());
        assert_eq!(digest::hex(&digest::dataset_digest(&back)), keel_digest);
        let dir_arg = dir.display().to_string();
        let mut args = vec!["--dir", &dir_arg, "--enable-debug-command", "yes"];
        args.extend_from_slice(LIMIT_ARGS);
        let redis = Server::redis(&args);
        let mut c = redis.conn();
        assert_eq!(redis_digest(&mut c), keel_digest, "{tag}");
        assert_eq!(redis_meta(&mut c, &keys), keel_meta(&ks, &keys), "{tag}");
    }
}

// ---- RDB 9: the encodings Redis 5 and 6 wrote --------------------------------------

/// A ziplist as Redis <= 6 wrote it.
fn ziplist(elems: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    let mut prev = 0usize;
    let mut tail = 10usize;
    for e in elems {
        tail = 10 + body.len();
        let start = body.len();
        if prev < 254 {
            body.push(prev as u8);
        } else {
            body.push(254);
            body.extend_from_slice(&(prev as u32).to_le_bytes());
        }
        let as_int = std::str::from_utf8(e)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|v| v.to_string().as_bytes() == *e);
        match as_int {
            Some(v) if (0..=12).contains(&v) => body.push(0xf1 + v as u8),
            Some(v) if i8::try_from(v).is_ok() => {
                body.push(0xfe);
                body.push(v as i8 as u8);
            }
            Some(v) if i16::try_from(v).is_ok() => {
                body.push(0xc0);
                body.extend_from_slice(&(v as i16).to_le_bytes());
            }
            Some(v) if (-(1 << 23)..(1 << 23)).contains(&v) => {
                body.push(0xf0);
                body.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
            }
            Some(v) if i32::try_from(v).is_ok() => {
                body.push(0xd0);
                body.extend_from_slice(&(v as i32).to_le_bytes());
            }
            Some(v) => {
                body.push(0xe0);
                body.extend_from_slice(&v.to_le_bytes());
            }
            None if e.len() < 64 => {
                body.push(e.len() as u8);
                body.extend_from_slice(e);
            }
            None if e.len() < 16384 => {
                body.push(0x40 | (e.len() >> 8) as u8);
                body.push(e.len() as u8);
                body.extend_from_slice(e);
            }
            None => {
                body.push(0x80);
                body.extend_from_slice(&(e.len() as u32).to_be_bytes());
                body.extend_from_slice(e);
            }
        }
        prev = body.len() - start;
    }
    let mut out = Vec::new();
    out.extend_from_slice(&((10 + body.len() + 1) as u32).to_le_bytes());
    out.extend_from_slice(&(tail as u32).to_le_bytes());
    out.extend_from_slice(&(elems.len() as u16).to_le_bytes());
    out.extend_from_slice(&body);
    out.push(0xff);
    out
}

/// A zipmap (Redis <= 2.4 hashes, still loadable by 7.0).
fn zipmap(pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
    let mut out = vec![pairs.len() as u8];
    for (k, v) in pairs {
        out.push(k.len() as u8);
        out.extend_from_slice(k);
        out.push(v.len() as u8);
        out.push(0);
        out.extend_from_slice(v);
    }
    out.push(0xff);
    out
}

fn rdb_string(out: &mut Vec<u8>, s: &[u8]) {
    assert!(s.len() < 16384);
    if s.len() < 64 {
        out.push(s.len() as u8);
    } else {
        out.push(0x40 | (s.len() >> 8) as u8);
        out.push(s.len() as u8);
    }
    out.extend_from_slice(s);
}

fn rdb9_file() -> Vec<u8> {
    let mut f = b"REDIS0009".to_vec();
    let aux = |f: &mut Vec<u8>, k: &str, v: &str| {
        f.push(250);
        rdb_string(f, k.as_bytes());
        rdb_string(f, v.as_bytes());
    };
    aux(&mut f, "redis-ver", "6.2.14");
    aux(&mut f, "redis-bits", "64");
    f.extend_from_slice(&[254, 0, 251, 9, 1]);
    let key = |f: &mut Vec<u8>, t: u8, name: &str, body: &[u8]| {
        f.push(t);
        rdb_string(f, name.as_bytes());
        f.extend_from_slice(body);
    };
    let blob = |b: Vec<u8>| {
        let mut out = Vec::new();
        rdb_string(&mut out, &b);
        out
    };
    // 14: quicklist of ziplists.
    let mut ql = vec![2u8];
    ql.extend(blob(ziplist(&[
        b"a",
        b"7",
        b"-300",
        b"100000",
        b"5000000000",
    ])));
    ql.extend(blob(ziplist(&[b"zz", &[b'q'; 300]])));
    key(&mut f, 14, "ql", &ql);
    key(&mut f, 10, "zl-list", &blob(ziplist(&[b"x", b"-1", b"y"])));
    key(
        &mut f,
        13,
        "zl-hash",
        &blob(ziplist(&[b"f", b"1", b"g", b"value"])),
    );
    key(
        &mut f,
        12,
        "zl-zset",
        &blob(ziplist(&[b"m", b"2", b"n", b"1.5", b"o", b"-7"])),
    );
    key(
        &mut f,
        9,
        "zipmap",
        &blob(zipmap(&[(b"a", b"hi"), (b"b", b"there")])),
    );
    let mut intset = Vec::new();
    intset.extend_from_slice(&4u32.to_le_bytes());
    intset.extend_from_slice(&3u32.to_le_bytes());
    for v in [-70000i32, 4, 100000] {
        intset.extend_from_slice(&v.to_le_bytes());
    }
    key(&mut f, 11, "intset", &blob(intset));
    key(&mut f, 1, "plain-list", &[2, 1, b'p', 1, b'q']);
    // 3: scores as text (253 nan, 254 +inf, 255 -inf).
    key(
        &mut f,
        3,
        "text-zset",
        &[3, 1, b'a', 3, b'2', b'.', b'5', 1, b'b', 254, 1, b'c', 255],
    );
    // EXPIRETIME_MS then a string.
    f.push(252);
    f.extend_from_slice(&4_000_000_000_000u64.to_le_bytes());
    key(&mut f, 0, "with-ttl", &[0xc1, 0x39, 0x30]); // int16 12345
    f.push(255);
    let crc = crc64(0, &f);
    f.extend_from_slice(&crc.to_le_bytes());
    f
}

#[test]
fn redis6_encodings_load_into_keel_and_redis() {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir("rdb9");
    let bytes = rdb9_file();
    std::fs::write(dir.join("dump.rdb"), &bytes).unwrap();
    check_rdb(&dir.join("dump.rdb"));
    let (ks, _) = load(&bytes, LoadLimits::default());
    assert_eq!(ks.db(0).len(), 9);
    let dir_arg = dir.display().to_string();
    let redis = Server::redis(&["--dir", &dir_arg, "--enable-debug-command", "yes"]);
    let mut c = redis.conn();
    assert_eq!(c.cmds("DBSIZE"), b":9\r\n");
    assert_eq!(
        digest::hex(&digest::dataset_digest(&ks)),
        redis_digest(&mut c)
    );
    // And each key's encoding after conversion matches Redis's under default limits.
    for (_, e) in ks.db(0).iter() {
        let enc = bulk(&c.cmdv(&[b("OBJECT"), b("ENCODING"), e.key.as_bytes().to_vec()]));
        assert_eq!(
            e.value.encoding_name().as_bytes(),
            enc.as_slice(),
            "{:?}",
            e.key
        );
    }
}

#[test]
fn corrupt_redis_file_is_refused_with_offset() {
    let mut bytes = rdb9_file();
    let n = bytes.len();
    bytes[n - 20] ^= 0x55;
    let mut r = RdbReader::new(LoadLimits::default());
    r.feed(&bytes);
    r.end_of_input();
    let err = loop {
        match r.next() {
            Ok(Some(_)) => continue,
            Ok(None) => panic!("a corrupt file was accepted"),
            Err(e) => break e,
        }
    };
    assert!(err.offset as usize <= n, "{err}");
    assert!(err.to_string().contains("at offset"), "{err}");
}

/// Codec speed beside Redis's own on the same 1M keys (`DEBUG POPULATE 1000000`):
/// keel's writer and reader in memory, Redis's SAVE and `DEBUG RELOAD NOSAVE` (which
/// include the file write and read). A measurement, not a check:
/// `cargo test --release -p keel-tests --test rdb_interop -- --ignored --nocapture`.
#[test]
#[ignore]
fn codec_speed_against_redis_1m_keys() {
    use std::time::Instant;
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir("rdb-speed");
    let dir_arg = dir.display().to_string();
    let redis = Server::redis(&["--dir", &dir_arg, "--enable-debug-command", "yes"]);
    let mut c = redis.conn();
    c.cmds("DEBUG POPULATE 1000000");
    let t = Instant::now();
    assert_eq!(c.cmds("SAVE"), b"+OK\r\n");
    let redis_save = t.elapsed();
    let t = Instant::now();
    assert_eq!(c.cmds("DEBUG RELOAD NOSAVE"), b"+OK\r\n");
    let redis_load = t.elapsed();
    let redis_bytes = std::fs::read(dir.join("dump.rdb")).unwrap();

    let mut ks = Keyspace::new(16, HashSeeds([9; 4]));
    for i in 0..1_000_000 {
        let db = ks.db_mut(0);
        db.insert(
            format!("key:{i}").as_bytes(),
            Value::Str(StrValue::from_set(format!("value:{i}").as_bytes())),
        );
    }
    let t = Instant::now();
    let bytes = write_rdb(&ks, RdbOptions::default());
    let keel_write = t.elapsed();
    let t = Instant::now();
    let (back, _) = load(&bytes, LoadLimits::default());
    let keel_read = t.elapsed();
    assert_eq!(back.total_keys(), 1_000_000);
    let t = Instant::now();
    let mut r = RdbReader::new(LoadLimits::default());
    let mut parsed_keys = 0u64;
    for chunk in bytes.chunks(64 * 1024) {
        r.feed(chunk);
        while let Some(item) = r.next().unwrap() {
            parsed_keys += u64::from(matches!(item, RdbItem::Key { .. }));
        }
    }
    let keel_parse_only = t.elapsed();
    assert_eq!(parsed_keys, 1_000_000);
    let t = Instant::now();
    let (from_redis, _) = load(&redis_bytes, LoadLimits::default());
    let keel_read_redis = t.elapsed();
    assert_eq!(from_redis.total_keys(), 1_000_000);
    println!(
        "1M keys: keel write {:?} ({} bytes), keel parse only {:?}, keel read {:?} (+ keyspace inserts), keel read of redis's file {:?}; \
         redis SAVE {:?} ({} bytes), redis DEBUG RELOAD NOSAVE {:?}",
        keel_write,
        bytes.len(),
        keel_parse_only,
        keel_read,
        keel_read_redis,
        redis_save,
        redis_bytes.len(),
        redis_load
    );
}
