//! keel as a master of the real redis-server 7.0: a redis replica full-syncs from keel's
//! fork-less snapshot (EOF-marked diskless transfer), follows a write load with equal
//! `DEBUG DIGEST`s, continues with a partial resync after `CLIENT KILL TYPE replica`,
//! and counts in WAIT; `redis-cli --rdb` gets a file `redis-check-rdb` accepts, and
//! `redis-cli --replica` prints the stream.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    info_field, redis_cli_available, require_redis_or_skip, scratch_dir, text, wait_for, Conn,
    Server,
};

/// One field of `INFO <section>` (the reply's text).
/// Waits until the replica has applied everything the master produced.
fn wait_caught_up(master: &mut Conn, replica: &mut Conn) {
    wait_for("the replica to catch up", || {
        let m = info_field(master, "replication", "master_repl_offset");
        let r = info_field(replica, "replication", "master_repl_offset");
        let up = info_field(replica, "replication", "master_link_status");
        up.as_deref() == Some("up") && m.is_some() && m == r
    });
}

fn digest(c: &mut Conn) -> String {
    text(&c.cmds("DEBUG DIGEST"))
}

/// A dataset of every type keel has, in two databases, some keys with a TTL.
fn load_dataset(c: &mut Conn, tag: &str) {
    for i in 0..200 {
        c.cmds(&format!("SET {tag}:s:{i} value-{i}"));
        c.cmds(&format!("RPUSH {tag}:l:{} a{i} b{i}", i % 10));
        c.cmds(&format!("HSET {tag}:h:{} f{i} v{i}", i % 10));
        c.cmds(&format!("SADD {tag}:set:{} m{i} {i}", i % 10));
        c.cmds(&format!("ZADD {tag}:z:{} {i} m{i}", i % 10));
    }
    c.cmds(&format!("SET {tag}:ttl v EX 1000"));
    c.cmds(&format!("INCRBYFLOAT {tag}:f 1.5"));
    c.cmds("SELECT 1");
    c.cmds(&format!("SET {tag}:db1 x"));
    c.cmds(&format!("SPOP {tag}:missing"));
    c.cmds("SELECT 0");
    c.cmds(&format!("SADD {tag}:pop a b c d e"));
    c.cmds(&format!("SPOP {tag}:pop 2"));
    c.cmds(&format!("EXPIRE {tag}:s:1 1000"));
    c.cmds(&format!("DEL {tag}:s:2"));
    c.cmds("MULTI");
    c.cmds(&format!("INCR {tag}:n"));
    c.cmds(&format!("LPUSH {tag}:l:0 z"));
    c.cmds("EXEC");
}

#[test]
fn a_redis_replica_syncs_follows_and_continues_after_a_link_kill() {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir("repl-master");
    let log = dir.join("replica.log");
    let keel = Server::keel(&["--repl-diskless-sync-delay", "0"]);
    let redis = Server::redis(&[
        "--dir",
        dir.to_str().unwrap(),
        "--logfile",
        log.to_str().unwrap(),
    ]);
    let mut m = keel.conn();
    let mut r = redis.conn();
    load_dataset(&mut m, "before");
    let reply = r.cmds(&format!("REPLICAOF 127.0.0.1 {}", keel.port));
    assert_eq!(text(&reply), "+OK\r\n");
    wait_caught_up(&mut m, &mut r);
    assert_eq!(digest(&mut m), digest(&mut r), "after the full sync");
    assert_eq!(
        info_field(&mut m, "replication", "connected_slaves").as_deref(),
        Some("1")
    );
    let slave0 = info_field(&mut m, "replication", "slave0").unwrap();
    assert!(slave0.contains("state=online"), "{slave0}");
    // A write load, then a digest check.
    load_dataset(&mut m, "during");
    wait_caught_up(&mut m, &mut r);
    assert_eq!(digest(&mut m), digest(&mut r), "after the write load");
    // WAIT counts the redis replica.
    m.cmds("SET waited 1");
    assert_eq!(text(&m.cmds("WAIT 1 5000")), ":1\r\n");
    // Kill the link; redis reconnects and continues where it was.
    assert_eq!(text(&m.cmds("CLIENT KILL TYPE replica")), ":1\r\n");
    load_dataset(&mut m, "after");
    wait_for("the partial resync", || {
        info_field(&mut m, "stats", "sync_partial_ok").as_deref() == Some("1")
    });
    wait_caught_up(&mut m, &mut r);
    assert_eq!(digest(&mut m), digest(&mut r), "after the partial resync");
    assert_eq!(
        info_field(&mut m, "stats", "sync_full").as_deref(),
        Some("1"),
        "no second full sync"
    );
    let replica_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        replica_log.contains("Successful partial resynchronization with master."),
        "{replica_log}"
    );
    let role = text(&m.cmds("ROLE"));
    assert!(role.starts_with("*3\r\n$6\r\nmaster\r\n"), "{role}");
}

#[test]
fn redis_cli_rdb_gets_a_file_redis_check_rdb_accepts() {
    if !require_redis_or_skip() || !redis_cli_available() {
        return;
    }
    let dir = scratch_dir("repl-cli-rdb");
    let keel = Server::keel(&["--repl-diskless-sync-delay", "0"]);
    let mut m = keel.conn();
    load_dataset(&mut m, "k");
    let file = dir.join("out.rdb");
    let status = Command::new("redis-cli")
        .args([
            "-p",
            &keel.port.to_string(),
            "--rdb",
            file.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success(), "redis-cli --rdb: {status}");
    let check = Command::new("redis-check-rdb").arg(&file).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}

#[test]
fn redis_cli_replica_prints_the_stream() {
    if !require_redis_or_skip() || !redis_cli_available() {
        return;
    }
    let keel = Server::keel(&["--repl-diskless-sync-delay", "0"]);
    let mut m = keel.conn();
    m.cmds("SET before 1");
    let mut cli = Command::new("redis-cli")
        .args(["-p", &keel.port.to_string(), "--replica"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("redis-cli to attach", || {
        info_field(&mut m, "replication", "slave0").is_some_and(|l| l.contains("state=online"))
    });
    m.cmds("SET printed-key 42");
    // redis-cli sends its first `REPLCONF ACK 0` about a second after the RDB: the
    // stream waits for it (as Redis's does after a diskless transfer).
    wait_for("redis-cli's first ACK", || {
        info_field(&mut m, "replication", "slave0").is_some_and(|l| l.contains("offset=0,"))
            && text(&m.cmds("CLIENT LIST TYPE replica")).contains("cmd=replconf")
    });
    std::thread::sleep(Duration::from_millis(300));
    let _ = cli.kill();
    let mut out = String::new();
    if let Some(mut stdout) = cli.stdout.take() {
        let _ = stdout.read_to_string(&mut out);
    }
    let _ = cli.wait();
    assert!(out.contains("printed-key"), "{out}");
}

/// The field names of `INFO replication` (in order).
fn info_names(c: &mut Conn) -> Vec<String> {
    text(&c.cmds("INFO replication"))
        .split("\r\n")
        .skip(1)
        .filter_map(|l| l.split(':').next())
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn info_replication_and_role_have_redis_shape_with_a_replica() {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir("repl-info-shape");
    let dir_arg = dir.to_str().unwrap();
    let keel = Server::keel(&["--repl-diskless-sync-delay", "0"]);
    let redis = Server::redis(&["--repl-diskless-sync-delay", "0"]);
    let replica_of_keel = Server::redis(&["--dir", dir_arg]);
    let replica_of_redis = Server::redis(&["--dir", dir_arg]);
    let (mut k, mut r) = (keel.conn(), redis.conn());
    let (mut rk, mut rr) = (replica_of_keel.conn(), replica_of_redis.conn());
    rk.cmds(&format!("REPLICAOF 127.0.0.1 {}", keel.port));
    rr.cmds(&format!("REPLICAOF 127.0.0.1 {}", redis.port));
    wait_caught_up(&mut k, &mut rk);
    wait_caught_up(&mut r, &mut rr);
    assert_eq!(info_names(&mut k), info_names(&mut r));
    // ROLE: the same shape once both replicas have ACKed (digit runs masked: ports
    // and offsets differ).
    let shape = |c: &mut Conn| {
        let role = text(&c.cmds("ROLE"));
        let mut out = String::new();
        for ch in role.chars() {
            if !ch.is_ascii_digit() {
                out.push(ch);
            } else if !out.ends_with('#') {
                out.push('#');
            }
        }
        out
    };
    wait_for("both ROLE replies to list one replica", || {
        let (k_role, r_role) = (shape(&mut k), shape(&mut r));
        k_role.contains("#.#.#.#") && r_role.contains("#.#.#.#")
    });
    assert_eq!(shape(&mut k), shape(&mut r));
}
