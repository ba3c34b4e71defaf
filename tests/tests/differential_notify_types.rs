//! Keyspace notifications of the collection commands, against a real redis-server:
//! a subscriber on `__key*` with `notify-keyspace-events KEA` (plus `n`), a writer that
//! runs a script of list, set, sorted-set, hash, SORT, blocking and generic commands,
//! and the whole stream of notifications compared message by message — names, order
//! and which commands stay silent.

mod common;

use common::{escape, Conn, Pair};

/// Every line runs on the writer; replies are compared too.
const SCRIPT: &str = r#"
RPUSH l a b c a
LPUSH l z
LPUSHX l y
RPUSHX nolist x
LPOP l
RPOP l 2
LSET l 0 q
LINSERT l BEFORE q p
LINSERT l BEFORE missing p
LREM l 0 a
LTRIM l 0 0
LTRIM l 5 10
RPUSH src 1 2 3
LMOVE src dst LEFT RIGHT
RPOPLPUSH src dst
LMPOP 2 nolist src RIGHT COUNT 5
BLPOP dst 0
SADD s a b c 1
SADD s a
SREM s a x
SREM s nothing
SPOP s
SPOP s 10
SADD s1 a b c
SADD s2 b c d
SMOVE s1 s2 a
SMOVE s1 s2 zz
SINTERSTORE si s1 s2
SUNIONSTORE su s1 s2
SDIFFSTORE sd s1 s2
SDIFFSTORE sd s2 s2
ZADD z 1 a 2 b 3 c
ZADD z XX 5 a
ZADD z NX 5 a
ZADD z GT 1 b
ZADD z INCR 2 b
ZINCRBY z 1 c
ZREM z a nope
ZREMRANGEBYSCORE z 100 200
ZREMRANGEBYRANK z 0 0
ZADD z 1 x 2 y 3 w
ZREMRANGEBYLEX z [a [b
ZPOPMIN z
ZPOPMAX z 5
ZADD z1 1 a 2 b
ZADD z2 2 b 3 c
ZUNIONSTORE zu 2 z1 z2
ZINTERSTORE zi 2 z1 z2
ZDIFFSTORE zd 2 z1 z2
ZDIFFSTORE zd 2 z1 z1
ZRANGESTORE zr z1 0 0
ZMPOP 1 z1 MIN COUNT 9
BZPOPMIN z2 0
HSET h f v g w
HDEL h f nope
HINCRBY h n 5
HINCRBYFLOAT h n 1.5
RPUSH sortme 3 1 2
SORT sortme STORE sorted
SORT sortme BY nosort STORE sorted
SORT nokey STORE sorted
RENAME sorted renamed
COPY renamed copied
MOVE copied 1
EXPIRE renamed 100
PERSIST renamed
DEL renamed zu zi nokey
PUBLISH __end done
"#;

/// Runs the script on one server; returns (writer replies, notifications received).
fn run(server: &common::Server) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut admin = server.conn();
    admin.cmds("FLUSHALL");
    admin.cmds("CONFIG SET notify-keyspace-events KEAn");
    let mut sub: Conn = server.conn();
    sub.send_raw(&common::encode_line("PSUBSCRIBE __key* __end"));
    let _ = sub.read_reply();
    let _ = sub.read_reply();
    let mut writer = server.conn();
    let replies: Vec<Vec<u8>> = SCRIPT
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| writer.cmds(l))
        .collect();
    let mut messages = Vec::new();
    loop {
        let m = sub.read_reply();
        let end = m.windows(6).any(|w| w == b"__end\r");
        messages.push(m);
        if end || messages.len() > 10_000 {
            break;
        }
    }
    admin.cmds("CONFIG SET notify-keyspace-events \"\"");
    (replies, messages)
}

#[test]
fn collection_commands_notify_as_redis() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    let (redis_replies, redis_msgs) = run(&pair.redis);
    let (keel_replies, keel_msgs) = run(&pair.keel);
    let lines: Vec<&str> = SCRIPT
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    for (i, line) in lines.iter().enumerate() {
        // SPOP picks at random: only its shape is comparable.
        if line.starts_with("SPOP") {
            continue;
        }
        assert_eq!(
            escape(&redis_replies[i]),
            escape(&keel_replies[i]),
            "reply to {line}"
        );
    }
    // Every write above notifies twice (keyspace and keyevent): the stream is long.
    assert!(
        redis_msgs.len() > 150,
        "only {} notifications from redis",
        redis_msgs.len()
    );
    let show = |ms: &[Vec<u8>]| ms.iter().map(|m| escape(m)).collect::<Vec<_>>().join("\n");
    // SPOP's event payloads name the key, not the members, so streams compare exactly.
    assert_eq!(
        show(&redis_msgs),
        show(&keel_msgs),
        "notification streams differ (redis left, keel right)"
    );
}
