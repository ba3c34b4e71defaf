//! FAILOVER against the real redis-server 7.0, both ways: a keel master hands over to a
//! redis replica (which then has keel as its replica, every acknowledged write kept,
//! equal `DEBUG DIGEST`s), and a redis master's FAILOVER promotes a keel replica
//! (PSYNC ... FAILOVER). And the rollback file: a keel master cut off from its promoted
//! keel replica takes writes, is made its replica, full-resyncs, and the writes are in
//! its rollback file, which `redis-cli --pipe` replays into a fresh server.

mod common;

use std::process::{Command, Stdio};

use common::{
    info_field, redis_cli_available, require_redis_or_skip, scratch_dir, text, wait_for, Conn,
    Server,
};

fn repl(c: &mut Conn, name: &str) -> String {
    info_field(c, "replication", name).unwrap_or_default()
}

/// The replica applied all the master produced, and its ACK says so.
fn wait_caught_up(master: &mut Conn, replica: &mut Conn) {
    wait_for("the replica to catch up", || {
        let m = repl(master, "master_repl_offset");
        let r = repl(replica, "master_repl_offset");
        repl(replica, "master_link_status") == "up"
            && !m.is_empty()
            && m == r
            && repl(master, "slave0").contains(&format!("state=online,offset={m},"))
    });
}

fn digest(c: &mut Conn) -> String {
    text(&c.cmds("DEBUG DIGEST"))
}

fn load(c: &mut Conn, tag: &str) {
    for i in 0..100 {
        c.cmds(&format!("SET {tag}:s:{i} v{i}"));
        c.cmds(&format!("RPUSH {tag}:l:{} a{i}", i % 7));
        c.cmds(&format!("HSET {tag}:h:{} f{i} v{i}", i % 5));
    }
    c.cmds("SELECT 3");
    c.cmds(&format!("INCR {tag}:n"));
    c.cmds("SELECT 0");
    c.cmds("MULTI");
    c.cmds(&format!("INCR {tag}:m"));
    c.cmds(&format!("ZADD {tag}:z 1 a"));
    c.cmds("EXEC");
}

#[test]
fn a_keel_master_fails_over_to_a_redis_replica() {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir("failover-keel-to-redis");
    let keel = Server::keel(&["--repl-diskless-sync-delay", "0"]);
    let redis = Server::redis(&["--dir", dir.to_str().unwrap()]);
    let (mut k, mut r) = (keel.conn(), redis.conn());
    load(&mut k, "before");
    assert_eq!(
        text(&r.cmds(&format!("REPLICAOF 127.0.0.1 {}", keel.port))),
        "+OK\r\n"
    );
    wait_caught_up(&mut k, &mut r);
    load(&mut k, "acked");
    let old_replid = repl(&mut k, "master_replid");
    assert_eq!(text(&k.cmds("FAILOVER")), "+OK\r\n");
    // A write sent during the failover waits, then finds a replica.
    let mut w = keel.conn();
    let reply = text(&w.cmds("SET during 1"));
    assert_eq!(
        reply,
        "-READONLY You can't write against a read only replica.\r\n"
    );
    wait_for("keel to follow redis", || {
        repl(&mut k, "role") == "slave"
            && repl(&mut k, "master_link_status") == "up"
            && repl(&mut k, "master_failover_state") == "no-failover"
    });
    assert_eq!(repl(&mut k, "master_port"), redis.port.to_string());
    assert_eq!(repl(&mut r, "role"), "master");
    assert_eq!(repl(&mut r, "master_replid2"), old_replid);
    assert_eq!(repl(&mut r, "connected_slaves"), "1");
    assert_eq!(digest(&mut k), digest(&mut r), "no acknowledged write lost");
    assert_eq!(
        info_field(&mut r, "stats", "sync_partial_ok").as_deref(),
        Some("1"),
        "keel continued redis's new history"
    );
    // The new master's writes reach keel.
    load(&mut r, "after");
    wait_caught_up(&mut r, &mut k);
    assert_eq!(digest(&mut k), digest(&mut r));
    if std::env::var("KEEL_E2E_TARGET").as_deref() != Ok("redis") {
        assert_eq!(
            info_field(&mut k, "rollback", "rollback_files").as_deref(),
            Some("0")
        );
    }
}

#[test]
fn a_redis_master_fails_over_to_a_keel_replica() {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir("failover-redis-to-keel");
    let redis = Server::redis(&[
        "--dir",
        dir.to_str().unwrap(),
        "--repl-diskless-sync-delay",
        "0",
    ]);
    let keel = Server::keel(&[]);
    let (mut r, mut k) = (redis.conn(), keel.conn());
    load(&mut r, "before");
    assert_eq!(
        text(&k.cmds(&format!("REPLICAOF 127.0.0.1 {}", redis.port))),
        "+OK\r\n"
    );
    wait_caught_up(&mut r, &mut k);
    load(&mut r, "acked");
    let old_replid = repl(&mut r, "master_replid");
    assert_eq!(
        text(&r.cmds(&format!(
            "FAILOVER TO 127.0.0.1 {} TIMEOUT 10000",
            keel.port
        ))),
        "+OK\r\n"
    );
    wait_for("redis to follow keel", || {
        repl(&mut r, "role") == "slave"
            && repl(&mut r, "master_link_status") == "up"
            && repl(&mut r, "master_failover_state") == "no-failover"
    });
    assert_eq!(repl(&mut k, "role"), "master");
    assert_eq!(repl(&mut k, "master_replid2"), old_replid);
    assert_eq!(repl(&mut k, "master_failover_state"), "no-failover");
    assert_eq!(digest(&mut k), digest(&mut r), "no acknowledged write lost");
    assert_eq!(
        info_field(&mut k, "stats", "sync_partial_ok").as_deref(),
        Some("1"),
        "redis continued keel's new history"
    );
    load(&mut k, "after");
    wait_caught_up(&mut k, &mut r);
    assert_eq!(digest(&mut k), digest(&mut r));
}

/// Invariant 17 end to end: the writes a demoted keel master took while cut off are in
/// its rollback file, and `redis-cli --pipe` gives them back.
#[test]
fn a_demoted_keel_master_writes_a_replayable_rollback_file() {
    if !require_redis_or_skip() || !redis_cli_available() {
        return;
    }
    if std::env::var("KEEL_E2E_TARGET").as_deref() == Ok("redis") {
        return; // Redis keeps no rollback file: nothing to check.
    }
    let dir = scratch_dir("failover-rollback");
    let old_dir = dir.join("old");
    std::fs::create_dir_all(&old_dir).unwrap();
    let old = Server::keel(&[
        "--repl-diskless-sync-delay",
        "0",
        "--dir",
        old_dir.to_str().unwrap(),
    ]);
    let new = Server::keel(&["--repl-diskless-sync-delay", "0"]);
    let (mut o, mut n) = (old.conn(), new.conn());
    load(&mut o, "shared");
    n.cmds(&format!("REPLICAOF 127.0.0.1 {}", old.port));
    wait_caught_up(&mut o, &mut n);
    // The partition: the replica is promoted and its link to the old master goes.
    assert_eq!(text(&n.cmds("REPLICAOF NO ONE")), "+OK\r\n");
    n.cmds("SET on-new 1");
    let lost = [
        "SET lost:a 1",
        "RPUSH lost:l x y",
        "SELECT 5",
        "INCRBY lost:n 7",
    ];
    for cmd in lost {
        assert!(!text(&o.cmds(cmd)).starts_with('-'), "{cmd}");
    }
    o.cmds("SELECT 0");
    assert_eq!(
        text(&o.cmds(&format!("REPLICAOF 127.0.0.1 {}", new.port))),
        "+OK\r\n"
    );
    wait_for("the rollback file", || {
        info_field(&mut o, "rollback", "rollback_files").as_deref() == Some("1")
    });
    wait_caught_up(&mut n, &mut o);
    assert_eq!(
        text(&o.cmds("EXISTS lost:a")),
        ":0\r\n",
        "the full sync replaced it"
    );
    assert_eq!(
        info_field(&mut o, "rollback", "rollback_writes").as_deref(),
        Some("3")
    );
    let name = info_field(&mut o, "rollback", "rollback_last_file").unwrap();
    assert!(
        name.starts_with("rollback-") && name.ends_with(".resp"),
        "{name}"
    );
    let file = old_dir.join(&name);
    let bytes = std::fs::read(&file).unwrap();
    // Replayed into a fresh server, the writes come back.
    let fresh = Server::redis(&["--dir", dir.to_str().unwrap()]);
    let status = Command::new("redis-cli")
        .args(["-p", &fresh.port.to_string(), "--pipe"])
        .stdin(std::fs::File::open(&file).unwrap())
        .stdout(Stdio::piped())
        .output()
        .unwrap();
    let out = text(&status.stdout);
    assert!(
        status.status.success() && out.contains("errors: 0"),
        "{out}"
    );
    let mut f = fresh.conn();
    assert_eq!(text(&f.cmds("GET lost:a")), "$1\r\n1\r\n");
    assert_eq!(
        text(&f.cmds("LRANGE lost:l 0 -1")),
        "*2\r\n$1\r\nx\r\n$1\r\ny\r\n"
    );
    f.cmds("SELECT 5");
    assert_eq!(text(&f.cmds("GET lost:n")), "$1\r\n7\r\n");
    assert!(!bytes.is_empty());
}
