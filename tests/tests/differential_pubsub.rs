//! Differential tests for pub/sub and keyspace notifications against a real
//! redis-server 7.0.15: subscribers on one connection, publishers on another (see
//! `multiconn`), and the pubsub output-buffer limit with a subscriber that never reads.

mod common;
mod multiconn;

use std::time::{Duration, Instant};

use common::{Conn, Server};

const SUBSCRIBE: &str = r#"
UNSUBSCRIBE
PUNSUBSCRIBE
SUNSUBSCRIBE
UNSUBSCRIBE a b
PUNSUBSCRIBE a*
SUBSCRIBE a b a
PING
PING hello
GET x
CLIENT LIST
CONFIG SET notify-keyspace-events KEA
SSUBSCRIBE s1
PSUBSCRIBE p* q*
2> PUBLISH a hi
1<
2> PUBLISH pz msg
1<
2> SPUBLISH s1 shard
1<
2> PUBLISH s1 notshard
2> SPUBLISH a notchannel
2> PUBLISH nobody x
~ 2> PUBSUB CHANNELS
2> PUBSUB CHANNELS a*
2> PUBSUB CHANNELS zz*
2> PUBSUB CHANNELS a b
2> PUBSUB NUMSUB a b c
2> PUBSUB NUMSUB
2> PUBSUB NUMPAT
2> PUBSUB NUMPAT x
2> PUBSUB SHARDCHANNELS
2> PUBSUB SHARDCHANNELS s*
2> PUBSUB SHARDNUMSUB s1 s2
2> PUBSUB HELP
2> PUBSUB NOPE
2> PUBSUB
2> PUBLISH a
2> PUBLISH q1 last
1<
UNSUBSCRIBE b
UNSUBSCRIBE a
PUNSUBSCRIBE
PING
SUNSUBSCRIBE s1
PING
SUBSCRIBE again
RESET
PING
2> PUBSUB NUMSUB again
"#;

const TWO_SUBSCRIBERS: &str = r#"
SUBSCRIBE news
3> SUBSCRIBE news
3> PSUBSCRIBE n*
2> PUBLISH news hello
1<
3<
3<
2> PUBSUB NUMSUB news
2> PUBSUB NUMPAT
3> QUIT
2> PUBSUB NUMSUB news
2> PUBSUB NUMPAT
2> PUBLISH news bye
1<
"#;

const RESP3: &str = r#"
! HELLO 3
SUBSCRIBE a
PING
GET x
PUBLISH a self
1<
2> PUBLISH a other
1<
UNSUBSCRIBE
UNSUBSCRIBE
PSUBSCRIBE x*
2> PUBLISH xy z
1<
PUNSUBSCRIBE
SSUBSCRIBE s
2> SPUBLISH s z
1<
SUNSUBSCRIBE
! HELLO 2
"#;

const NOTIFY_CONFIG: &str = r#"
CONFIG GET notify-keyspace-events
CONFIG SET notify-keyspace-events KEA
CONFIG GET notify-keyspace-events
CONFIG SET notify-keyspace-events Elgx
CONFIG GET notify-keyspace-events
CONFIG SET notify-keyspace-events mnEKdtexzhsl
CONFIG GET notify-keyspace-events
CONFIG SET notify-keyspace-events g$lshzxetd
CONFIG GET notify-keyspace-events
CONFIG SET notify-keyspace-events Q
CONFIG GET notify-keyspace-events
CONFIG SET notify-keyspace-events ""
CONFIG GET notify-keyspace-events
"#;

/// Every notification of the string, hash and generic commands, read one by one.
const NOTIFY_EVENTS: &str = r#"
3> CONFIG SET notify-keyspace-events KEAnm
PSUBSCRIBE __key*
2> SET foo bar
1<
1<
1<
1<
2> SET foo baz
1<
1<
2> SET foo x NX
2> SET foo y XX EX 100
1<
1<
1<
1<
2> SETEX foo 100 z
1<
1<
1<
1<
2> GETEX foo PERSIST
1<
1<
2> GETEX foo PERSIST
2> GETEX foo EX 50
1<
1<
2> GETEX foo
2> GETDEL foo
1<
1<
2> GET foo
1<
1<
2> MSET a 1 b 2
1<
1<
1<
1<
1<
1<
1<
1<
2> INCR a
1<
1<
2> DECRBY a 3
1<
1<
2> INCRBYFLOAT a 1.5
1<
1<
2> APPEND a x
1<
1<
2> SETRANGE a 1 yy
1<
1<
2> SETRANGE a 0 ""
2> SETRANGE new 2 z
1<
1<
1<
1<
2> DEL a b nokey
1<
1<
1<
1<
2> HSET h f1 1 f2 2
1<
1<
1<
1<
2> HSETNX h f1 x
2> HSETNX h f3 x
1<
1<
2> HINCRBY h f1 5
1<
1<
2> HINCRBYFLOAT h f1 0.5
1<
1<
2> HDEL h nofield
2> HDEL h f1 f2
1<
1<
2> HDEL h f3
1<
1<
1<
1<
2> HGET nohash f
1<
1<
2> MGET foo nokey1 nokey2
1<
1<
1<
1<
1<
1<
2> SET k v
1<
1<
1<
1<
2> EXPIRE k 100
1<
1<
2> EXPIRE k 100 NX
2> PERSIST k
1<
1<
2> RENAME k k2
1<
1<
1<
1<
1<
1<
2> COPY k2 k3
1<
1<
1<
1<
2> MOVE k3 5
1<
1<
1<
1<
1<
1<
2> PEXPIREAT k2 1
1<
1<
2> SET t v PX 50
1<
1<
1<
1<
1<
1<
sleep 200
2> GET t
1<
1<
1<
1<
2> PUBLISH __keyend done
1<
"#;

#[test]
fn pubsub_matches_redis() {
    multiconn::run_scripts(&[
        ("subscribe", SUBSCRIBE),
        ("two_subscribers", TWO_SUBSCRIBERS),
        ("resp3", RESP3),
        ("notify_config", NOTIFY_CONFIG),
        ("notify_events", NOTIFY_EVENTS),
    ]);
}

/// Publishes until the subscriber that never reads is cut off by the pubsub class's
/// hard limit; the server lives. Returns false when it was not cut off.
fn slow_subscriber_is_disconnected(server: &Server) -> bool {
    let mut sub = server.conn();
    assert_eq!(
        sub.cmds("SUBSCRIBE firehose"),
        b"*3\r\n$9\r\nsubscribe\r\n$8\r\nfirehose\r\n:1\r\n"
    );
    let mut publisher: Conn = server.conn();
    let payload = vec![b'x'; 256 * 1024];
    let mut cut_off = false;
    // At most 64 MB: far beyond the 1 MB hard limit plus the sockets' buffers.
    for _ in 0..256 {
        let reply = publisher.cmd(&[b"PUBLISH", b"firehose", &payload]);
        if reply == b":0\r\n" {
            cut_off = true;
            break;
        }
    }
    if !cut_off {
        // The limit is enforced when the driver next looks: give it a moment.
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if publisher.cmds("PUBSUB NUMSUB firehose") == b"*2\r\n$8\r\nfirehose\r\n:0\r\n" {
                cut_off = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert_eq!(publisher.cmds("PING"), b"+PONG\r\n", "the server lives");
    assert!(
        sub.is_closed(),
        "the slow subscriber's connection is closed"
    );
    cut_off
}

#[test]
fn pubsub_output_limit_disconnects_slow_subscriber() {
    let limits = [
        "--client-output-buffer-limit",
        "pubsub",
        "1mb",
        "512kb",
        "60",
    ];
    let keel = Server::keel(&limits);
    assert!(slow_subscriber_is_disconnected(&keel), "keel");
    if common::require_redis_or_skip() {
        let redis = Server::redis(&limits);
        assert!(slow_subscriber_is_disconnected(&redis), "redis");
    }
}

/// Under CLIENT REPLY OFF (and SKIP), Redis still delivers pushes — subscription
/// confirmations and messages, RESP2 or RESP3 — while every other reply is dropped
/// (its `CLIENT_PUSHING` flag). keel used to drop them too, and a subscriber waited
/// forever.
#[test]
fn pushes_are_delivered_under_client_reply_off() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = common::Pair::start();
    for proto in ["2", "3"] {
        let (mut r, mut k) = pair.fresh();
        let (mut rp, mut kp) = pair.conns();
        for c in [&mut r, &mut k] {
            c.cmds(&format!("HELLO {proto}"));
            c.cmds("CONFIG SET notify-keyspace-events KEA");
        }
        // Silenced: no reply to these, only the pushes they cause.
        let silenced = [
            "CLIENT REPLY OFF",
            "SUBSCRIBE ch __keyspace@0__:k",
            "PING",
            "SET k v",
            "PUBLISH ch self",
            "CLIENT REPLY SKIP",
            "PSUBSCRIBE p*",
            "PING",
        ];
        for line in silenced {
            r.send_raw(&common::encode_line(line));
            k.send_raw(&common::encode_line(line));
        }
        // Pushes the silenced commands caused, in order.
        // In RESP2 subscribed mode SET and PUBLISH are refused (silently here).
        let caused: &[&str] = if proto == "3" {
            &[
                "subscribe ch",
                "subscribe key",
                "keyspace set",
                "message self",
                "psubscribe",
            ]
        } else {
            &["subscribe ch", "subscribe key", "psubscribe"]
        };
        for what in caused {
            let (a, b) = (r.read_reply(), k.read_reply());
            assert_eq!(
                common::escape(&a),
                common::escape(&b),
                "RESP{proto}: {what}"
            );
        }
        // A message from another client, then the replies come back with REPLY ON.
        assert_eq!(rp.cmds("PUBLISH ch other"), kp.cmds("PUBLISH ch other"));
        assert_eq!(rp.cmds("PUBLISH pz pattern"), kp.cmds("PUBLISH pz pattern"));
        for what in ["message other", "pmessage"] {
            let (a, b) = (r.read_reply(), k.read_reply());
            assert_eq!(
                common::escape(&a),
                common::escape(&b),
                "RESP{proto}: {what}"
            );
        }
        if proto == "2" {
            // RESP2 subscribed mode refuses CLIENT (silently, under REPLY OFF).
            continue;
        }
        let on_reply = |c: &mut Conn| {
            c.send_raw(&common::encode_line("CLIENT REPLY ON"));
            c.read_reply()
        };
        assert_eq!(
            common::escape(&on_reply(&mut r)),
            common::escape(&on_reply(&mut k)),
            "RESP{proto}: CLIENT REPLY ON"
        );
    }
}
