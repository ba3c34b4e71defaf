//! keel as a replica (issue 12, the replica side): of a real redis-server 7.0 — full
//! sync of every type in both transfer forms (EOF-marked diskless and `$<len>`), the
//! stream after it, equal DEBUG DIGEST, a killed link continued with a partial resync,
//! REPLICAOF NO ONE keeping the data — and of a hostile fake master (a TcpListener
//! here speaking the protocol): garbage instead of +FULLRESYNC, a truncated RDB, a
//! wrong EOF mark, a broken frame in the stream. The link drops with a log line, keel
//! keeps serving reads, and nothing already applied is lost.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{info_field, require_redis_or_skip, scratch_dir, text, Conn, Server};

const WAIT: Duration = Duration::from_secs(20);

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until keel applied everything redis produced (equal offsets).
fn wait_caught_up(master: &mut Conn, replica: &mut Conn) {
    wait_until("the replica to catch up", || {
        let m = info_field(master, "replication", "master_repl_offset");
        let r = info_field(replica, "replication", "slave_repl_offset");
        let up = info_field(replica, "replication", "master_link_status");
        up.as_deref() == Some("up") && m.is_some() && m == r
    });
}

/// Every type in both encodings, TTLs, two databases.
fn populate(c: &mut Conn) {
    let mut cmds: Vec<String> = vec![
        "SET s1 hello".into(),
        "SET n1 12345".into(),
        "SET ttl1 v EX 1000".into(),
        "RPUSH l1 a b c".into(),
        "HSET h1 f1 v1 f2 v2".into(),
        "SADD si 1 2 3".into(),
        "SADD ss a b c".into(),
        "ZADD z1 1 a 2 b 3.5 c".into(),
        "SELECT 3".into(),
        "SET other db3".into(),
        "SELECT 0".into(),
    ];
    let big: Vec<String> = (0..300).map(|i| format!("member-{i}")).collect();
    cmds.push(format!("RPUSH lbig {}", big.join(" ")));
    cmds.push(format!("SADD sbig {}", big.join(" ")));
    let pairs: Vec<String> = big.iter().map(|m| format!("{m} {m}")).collect();
    cmds.push(format!("HSET hbig {}", pairs.join(" ")));
    let scored: Vec<String> = (0..300).map(|i| format!("{i} m{i}")).collect();
    cmds.push(format!("ZADD zbig {}", scored.join(" ")));
    for line in cmds {
        let reply = c.cmds(&line);
        assert!(!reply.starts_with(b"-"), "{line}: {}", text(&reply));
    }
}

/// Writes of many kinds on the master, after the sync.
fn write_load(c: &mut Conn, round: usize) {
    let lines = [
        format!("SET w{round} {round}"),
        "INCR n1".to_string(),
        format!("LPUSH l1 x{round}"),
        format!("HSET h1 g{round} y"),
        format!("SADD si {}", 100 + round),
        format!("ZINCRBY z1 2 m{round}"),
        "SPOP ss".to_string(),
        format!("EXPIRE w{round} 500"),
        "DEL s1".to_string(),
        "MULTI".to_string(),
        format!("SET tx{round} a"),
        format!("APPEND tx{round} b"),
        "EXEC".to_string(),
        "SELECT 3".to_string(),
        format!("SET other{round} v"),
        "SELECT 0".to_string(),
    ];
    for line in lines {
        c.cmds(&line);
    }
}

fn digest(c: &mut Conn) -> String {
    text(&c.cmds("DEBUG DIGEST"))
}

fn keel_replica(dir: &Path) -> Server {
    let log = dir.join("keel.log");
    Server::keel(&[
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--enable-debug-command",
        "yes",
        "--logfile",
        log.to_str().expect("utf-8 path"),
    ])
}

fn sync_then_stream_then_partial(diskless: &str) {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir(&format!("repl-replica-{diskless}"));
    // The master's RDB (disk transfer) goes to the scratch dir, never the cwd.
    let master_dir = dir.join("master");
    std::fs::create_dir_all(&master_dir).expect("master dir");
    let redis = Server::redis(&[
        "--dir",
        master_dir.to_str().expect("utf-8 path"),
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync",
        diskless,
        "--repl-diskless-sync-delay",
        "0",
    ]);
    let keel = keel_replica(&dir);
    let mut m = redis.conn();
    let mut r = keel.conn();
    populate(&mut m);
    let reply = r.cmds(&format!("REPLICAOF 127.0.0.1 {}", redis.port));
    assert_eq!(reply, b"+OK\r\n");
    wait_caught_up(&mut m, &mut r);
    assert_eq!(digest(&mut m), digest(&mut r), "after the full sync");
    assert_eq!(
        text(&r.cmds("SET x 1")),
        "-READONLY You can't write against a read only replica.\r\n"
    );
    for round in 0..20 {
        write_load(&mut m, round);
    }
    wait_caught_up(&mut m, &mut r);
    assert_eq!(digest(&mut m), digest(&mut r), "after the stream");
    let list = text(&r.cmds("CLIENT LIST"));
    assert!(list.contains("flags=M"), "{list}");

    // Kill the link on the master: keel comes back with a partial resync.
    let partial_before = info_field(&mut m, "stats", "sync_partial_ok").expect("field");
    let full_before = info_field(&mut m, "stats", "sync_full").expect("field");
    m.cmds("CLIENT KILL TYPE replica");
    for round in 20..25 {
        write_load(&mut m, round);
    }
    wait_until("a partial resync", || {
        info_field(&mut m, "stats", "sync_partial_ok").as_deref() != Some(partial_before.as_str())
    });
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").expect("field"),
        full_before,
        "no second full sync"
    );
    for round in 25..30 {
        write_load(&mut m, round);
    }
    wait_caught_up(&mut m, &mut r);
    assert_eq!(digest(&mut m), digest(&mut r), "after the partial resync");

    // REPLICAOF NO ONE keeps the data and makes keel writable.
    let before = digest(&mut r);
    assert_eq!(r.cmds("REPLICAOF NO ONE"), b"+OK\r\n");
    assert_eq!(digest(&mut r), before);
    assert_eq!(r.cmds("SET x 1"), b"+OK\r\n");
    assert_eq!(
        info_field(&mut r, "replication", "role").as_deref(),
        Some("master")
    );
    let log = std::fs::read_to_string(dir.join("keel.log")).unwrap_or_default();
    for line in [
        "Connecting to MASTER 127.0.0.1:",
        "MASTER <-> REPLICA sync started",
        "Full resync from master:",
        "MASTER <-> REPLICA sync: Finished with success",
        "Successful partial resynchronization with master.",
        "MASTER MODE enabled (user request from",
    ] {
        assert!(log.contains(line), "no '{line}' in the log:\n{log}");
    }
}

#[test]
fn keel_replicates_redis_over_a_diskless_transfer() {
    sync_then_stream_then_partial("yes");
}

#[test]
fn keel_replicates_redis_over_a_disk_transfer() {
    sync_then_stream_then_partial("no");
}

/// keel as a replica of keel (the master side from wt-rmaster): full sync, the stream,
/// a killed link continued with a partial resync, equal digests.
#[test]
fn keel_replicates_keel() {
    let dir = scratch_dir("repl-replica-keel-keel");
    let master_dir = dir.join("master");
    std::fs::create_dir_all(&master_dir).expect("master dir");
    let master = Server::keel(&[
        "--dir",
        master_dir.to_str().expect("utf-8 path"),
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ]);
    let replica = keel_replica(&dir);
    let mut m = master.conn();
    let mut r = replica.conn();
    populate(&mut m);
    let reply = r.cmds(&format!("REPLICAOF 127.0.0.1 {}", master.port));
    assert_eq!(reply, b"+OK\r\n");
    wait_caught_up(&mut m, &mut r);
    assert_eq!(digest(&mut m), digest(&mut r), "after the full sync");
    for round in 0..10 {
        write_load(&mut m, round);
    }
    wait_caught_up(&mut m, &mut r);
    assert_eq!(digest(&mut m), digest(&mut r), "after the stream");
    let partial_before = info_field(&mut m, "stats", "sync_partial_ok").expect("field");
    m.cmds("CLIENT KILL TYPE replica");
    for round in 10..15 {
        write_load(&mut m, round);
    }
    wait_until("a partial resync", || {
        info_field(&mut m, "stats", "sync_partial_ok").as_deref() != Some(partial_before.as_str())
    });
    wait_caught_up(&mut m, &mut r);
    assert_eq!(digest(&mut m), digest(&mut r), "after the partial resync");
    let role = text(&r.cmds("ROLE"));
    assert!(
        role.starts_with("*5\r\n$5\r\nslave\r\n$9\r\n127.0.0.1\r\n"),
        "{role}"
    );
    assert!(role.contains("$9\r\nconnected\r\n"), "{role}");
}

/// The master's side of a link, played by the test.
struct FakeMaster {
    listener: TcpListener,
}

impl FakeMaster {
    fn new() -> FakeMaster {
        // A port from `free_port`, so no server of a test running beside this one
        // is handed it too.
        let listener = TcpListener::bind(("127.0.0.1", common::free_port())).expect("bind");
        FakeMaster { listener }
    }

    fn port(&self) -> u16 {
        self.listener.local_addr().expect("addr").port()
    }

    /// Accepts keel's next connection and plays the handshake up to its PSYNC.
    fn handshake(&self) -> TcpStream {
        let (mut s, _) = self.listener.accept().expect("accept");
        s.set_read_timeout(Some(WAIT)).expect("timeout");
        read_until(&mut s, b"PING\r\n");
        s.write_all(b"+PONG\r\n").expect("write");
        read_until(&mut s, b"psync2\r\n");
        s.write_all(b"+OK\r\n+OK\r\n").expect("write");
        let psync = read_until(&mut s, b"PSYNC\r\n");
        // PSYNC's two arguments follow.
        let mut have = psync;
        while have.iter().filter(|&&b| b == b'\n').count() < 4 {
            let mut chunk = [0u8; 256];
            let n = s.read(&mut chunk).expect("read");
            assert!(n > 0, "keel closed during the handshake");
            have.extend_from_slice(&chunk[..n]);
        }
        s
    }
}

/// Reads until `needle` was received; returns what came after it.
fn read_until(s: &mut TcpStream, needle: &[u8]) -> Vec<u8> {
    let mut have = Vec::new();
    loop {
        if let Some(pos) = have.windows(needle.len()).position(|w| w == needle) {
            return have.split_off(pos + needle.len());
        }
        let mut chunk = [0u8; 1024];
        let n = s.read(&mut chunk).expect("read from keel");
        assert!(n > 0, "keel closed before sending {}", text(needle));
        have.extend_from_slice(&chunk[..n]);
    }
}

/// A small RDB 9 (database 0, string keys), no checksum (a stored 0).
fn rdb(keys: &[(&str, &str)]) -> Vec<u8> {
    let mut out = b"REDIS0009".to_vec();
    out.extend_from_slice(&[0xFE, 0x00]);
    for (k, v) in keys {
        out.push(0x00);
        out.push(k.len() as u8);
        out.extend_from_slice(k.as_bytes());
        out.push(v.len() as u8);
        out.extend_from_slice(v.as_bytes());
    }
    out.push(0xFF);
    out.extend_from_slice(&[0u8; 8]);
    out
}

const ID: &str = "cccccccccccccccccccccccccccccccccccccccc";
const MARK: &str = "0123456789012345678901234567890123456789";

fn wait_log(path: &PathBuf, line: &str) {
    wait_until(&format!("'{line}' in keel's log"), || {
        std::fs::read_to_string(path).is_ok_and(|l| l.contains(line))
    });
}

#[test]
fn a_hostile_master_drops_the_link_and_keel_keeps_serving() {
    let dir = scratch_dir("repl-replica-hostile");
    let log = dir.join("keel.log");
    let keel = keel_replica(&dir);
    let mut r = keel.conn();
    assert_eq!(r.cmds("SET kept 1"), b"+OK\r\n");
    let fake = FakeMaster::new();
    assert_eq!(
        r.cmds(&format!("REPLICAOF 127.0.0.1 {}", fake.port())),
        b"+OK\r\n"
    );

    // Garbage instead of +FULLRESYNC.
    let mut s = fake.handshake();
    s.write_all(b"%garbage\r\n").expect("write");
    wait_log(&log, "Unexpected reply to PSYNC from master: %garbage");
    assert_eq!(r.cmds("GET kept"), b"$1\r\n1\r\n");

    // A truncated RDB (the master goes away mid-transfer).
    let mut s = fake.handshake();
    let body = rdb(&[("a", "1"), ("b", "2")]);
    let mut bytes = format!("+FULLRESYNC {ID} 0\r\n${}\r\n", body.len()).into_bytes();
    bytes.extend_from_slice(&body[..body.len() - 10]);
    s.write_all(&bytes).expect("write");
    drop(s);
    wait_log(
        &log,
        "I/O error trying to sync with MASTER: connection lost",
    );
    assert_eq!(r.cmds("GET kept"), b"$1\r\n1\r\n");
    assert_eq!(r.cmds("GET a"), b"$-1\r\n");

    // A wrong EOF mark.
    let mut s = fake.handshake();
    let mut bytes = format!("+FULLRESYNC {ID} 0\r\n$EOF:{MARK}\r\n").into_bytes();
    bytes.extend_from_slice(&rdb(&[("a", "1")]));
    bytes.extend_from_slice("x".repeat(40).as_bytes());
    s.write_all(&bytes).expect("write");
    wait_log(&log, "Replication stream EOF marker is broken");
    assert_eq!(r.cmds("GET kept"), b"$1\r\n1\r\n");
    assert_eq!(r.cmds("GET a"), b"$-1\r\n");

    // A good sync, a command, then a broken frame: what was applied stays.
    let mut s = fake.handshake();
    let mut bytes = format!("+FULLRESYNC {ID} 0\r\n$EOF:{MARK}\r\n").into_bytes();
    bytes.extend_from_slice(&rdb(&[("a", "1")]));
    bytes.extend_from_slice(MARK.as_bytes());
    bytes.extend_from_slice(b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n");
    bytes.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$zz\r\n");
    s.write_all(&bytes).expect("write");
    wait_log(&log, "Protocol error");
    assert_eq!(r.cmds("GET a"), b"$1\r\n1\r\n");
    assert_eq!(r.cmds("GET b"), b"$1\r\n2\r\n");
    assert_eq!(r.cmds("GET kept"), b"$-1\r\n", "the full sync replaced it");
    // It comes back asking to continue after what it applied.
    let mut s2 = fake.listener.accept().expect("accept").0;
    s2.set_read_timeout(Some(WAIT)).expect("timeout");
    drop(s);
    read_until(&mut s2, b"PING\r\n");
    s2.write_all(b"+PONG\r\n").expect("write");
    read_until(&mut s2, b"psync2\r\n");
    s2.write_all(b"+OK\r\n+OK\r\n").expect("write");
    let after = read_until(&mut s2, ID.as_bytes());
    let set_len = "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n".len();
    let want = format!("{}", set_len + 1);
    let mut have = after;
    while !text(&have).contains(&want) {
        let mut chunk = [0u8; 64];
        let n = s2.read(&mut chunk).expect("read");
        assert!(n > 0);
        have.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(r.cmds("REPLICAOF NO ONE"), b"+OK\r\n");
    assert_eq!(r.cmds("GET b"), b"$1\r\n2\r\n");
}

/// A replica restarted from its own RDB continues its master's history: the file
/// records `repl-id`, `repl-offset` and `repl-stream-db`, and the restart ends in a
/// partial resync, as Redis's.
#[test]
fn a_restarted_replica_continues_with_a_partial_resync() {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir("repl-replica-restart");
    let master_dir = dir.join("master");
    let keel_dir = dir.join("keel");
    std::fs::create_dir_all(&master_dir).expect("master dir");
    std::fs::create_dir_all(&keel_dir).expect("keel dir");
    let redis = Server::redis(&[
        "--dir",
        master_dir.to_str().expect("utf-8 path"),
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ]);
    let port = redis.port.to_string();
    let args = [
        "--dir",
        keel_dir.to_str().expect("utf-8 path"),
        "--enable-debug-command",
        "yes",
        "--replicaof",
        "127.0.0.1",
        port.as_str(),
    ];
    let mut m = redis.conn();
    populate(&mut m);
    let keel = Server::keel(&args);
    let mut r = keel.conn();
    wait_caught_up(&mut m, &mut r);
    for round in 0..5 {
        write_load(&mut m, round);
    }
    // Leave the stream in database 3: the continuation must go on there.
    m.cmds("SELECT 3");
    m.cmds("SET before-restart 1");
    wait_caught_up(&mut m, &mut r);
    assert_eq!(r.cmds("SAVE"), b"+OK\r\n");
    drop(r);
    drop(keel);
    m.cmds("SET while-down 1");
    m.cmds("SELECT 0");
    let partial_before = info_field(&mut m, "stats", "sync_partial_ok").expect("field");
    let full_before = info_field(&mut m, "stats", "sync_full").expect("field");
    let keel = Server::keel(&args);
    let mut r = keel.conn();
    wait_until("a partial resync after the restart", || {
        info_field(&mut m, "stats", "sync_partial_ok").as_deref() != Some(partial_before.as_str())
    });
    wait_caught_up(&mut m, &mut r);
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").expect("field"),
        full_before,
        "no full sync after the restart"
    );
    assert_eq!(digest(&mut m), digest(&mut r), "after the restart");
}
