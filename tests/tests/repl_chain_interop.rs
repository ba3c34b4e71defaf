//! Chained replicas (issue 12): keel as the middle of a chain, between a real
//! redis-server 7.0 master and a redis-server sub-replica, and keel → keel → keel.
//! After a write load the three hold the same DEBUG DIGEST and the same
//! master_repl_offset (the middle relays its master's bytes verbatim); a killed
//! upstream link ends in a partial resync while the sub-replica stays attached; INFO
//! replication of the keel middle lists the fields of a redis-server middle, in order;
//! a promoted keel middle keeps its sub-replica with a partial resync.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{info_field, require_redis_or_skip, scratch_dir, text, Conn, Server};

const WAIT: Duration = Duration::from_secs(30);

/// The field names of INFO replication, in order (`slaveN` lines included).
fn info_keys(c: &mut Conn) -> Vec<String> {
    text(&c.cmds("INFO replication"))
        .lines()
        .filter(|l| !l.starts_with('#') && l.contains(':'))
        .filter_map(|l| l.split(':').next().map(str::to_string))
        .collect()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn link_up(c: &mut Conn) -> bool {
    info_field(c, "replication", "master_link_status").as_deref() == Some("up")
}

/// Every node of the chain is linked and at the top's offset.
fn wait_chain_caught_up(chain: &mut [&mut Conn]) {
    wait_until("the chain to catch up", || {
        let offsets: Vec<Option<String>> = chain
            .iter_mut()
            .map(|c| info_field(c, "replication", "master_repl_offset"))
            .collect();
        let linked = chain.iter_mut().skip(1).all(|c| link_up(c));
        linked && offsets[0].is_some() && offsets.iter().all(|o| *o == offsets[0])
    });
}

fn replicaof(c: &mut Conn, master_port: u16) {
    let reply = c.cmds(&format!("REPLICAOF 127.0.0.1 {master_port}"));
    assert_eq!(text(&reply), "+OK\r\n");
}

fn populate(c: &mut Conn) {
    for line in [
        "SET s1 hello",
        "RPUSH l1 a b c",
        "HSET h1 f1 v1",
        "SADD s 1 2 3",
        "ZADD z 1 a 2 b",
        "SELECT 3",
        "SET other db3",
        "SELECT 0",
    ] {
        assert!(!c.cmds(line).starts_with(b"-"), "{line}");
    }
}

fn write_load(c: &mut Conn, round: usize) {
    for line in [
        format!("SET w{round} {round}"),
        "INCR n1".to_string(),
        format!("LPUSH l1 x{round}"),
        format!("HSET h1 g{round} y"),
        format!("ZINCRBY z 2 m{round}"),
        "SPOP s".to_string(),
        format!("EXPIRE w{round} 500"),
        "MULTI".to_string(),
        format!("SET tx{round} a"),
        format!("APPEND tx{round} b"),
        "EXEC".to_string(),
        "SELECT 3".to_string(),
        format!("SET other{round} v"),
        "SELECT 0".to_string(),
    ] {
        c.cmds(&line);
    }
}

fn digest(c: &mut Conn) -> String {
    text(&c.cmds("DEBUG DIGEST"))
}

fn assert_digests_equal(chain: &mut [&mut Conn]) {
    let d: Vec<String> = chain.iter_mut().map(|c| digest(c)).collect();
    assert!(d.iter().all(|x| *x == d[0]), "digests differ: {d:?}");
}

fn keel(dir: &Path, name: &str) -> Server {
    let log = dir.join(format!("{name}.log"));
    Server::keel(&[
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
        "--logfile",
        log.to_str().expect("utf-8 path"),
    ])
}

fn redis(dir: &Path, name: &str) -> Server {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).expect("redis dir");
    Server::redis(&[
        "--dir",
        d.to_str().expect("utf-8 path"),
        "--enable-debug-command",
        "yes",
        "--repl-diskless-sync-delay",
        "0",
    ])
}

fn log_has(dir: &Path, name: &str, line: &str) -> bool {
    std::fs::read_to_string(dir.join(format!("{name}.log")))
        .unwrap_or_default()
        .contains(line)
}

fn stat(c: &mut Conn, field: &str) -> String {
    info_field(c, "stats", field).unwrap_or_default()
}

/// redis-server → keel → redis-server, beside redis-server → redis-server →
/// redis-server from the same top (the reference for INFO's field list).
#[test]
fn redis_master_keel_middle_redis_sub_replica() {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir("repl-chain-redis");
    let top = redis(&dir, "top");
    let middle = keel(&dir, "middle");
    let sub = redis(&dir, "sub");
    let ref_middle = redis(&dir, "ref-middle");
    let ref_sub = redis(&dir, "ref-sub");
    let (mut t, mut m, mut s) = (top.conn(), middle.conn(), sub.conn());
    let (mut rm, mut rs) = (ref_middle.conn(), ref_sub.conn());
    populate(&mut t);
    replicaof(&mut m, top.port);
    replicaof(&mut rm, top.port);
    wait_chain_caught_up(&mut [&mut t, &mut m, &mut rm]);
    replicaof(&mut s, middle.port);
    replicaof(&mut rs, ref_middle.port);
    for round in 0..20 {
        write_load(&mut t, round);
    }
    wait_chain_caught_up(&mut [&mut t, &mut m, &mut s, &mut rm, &mut rs]);
    assert_digests_equal(&mut [&mut t, &mut m, &mut s, &mut rs]);
    let top_id = info_field(&mut t, "replication", "master_replid");
    assert_eq!(top_id, info_field(&mut s, "replication", "master_replid"));
    // The middle's INFO replication: role:slave, then connected_slaves and slave0,
    // the same fields as a redis-server middle's, in the same order.
    wait_until("the sub-replicas' ACKs", || {
        let a = info_field(&mut m, "replication", "slave0").unwrap_or_default();
        let b = info_field(&mut rm, "replication", "slave0").unwrap_or_default();
        a.contains("state=online") && b.contains("state=online")
    });
    assert_eq!(info_keys(&mut m), info_keys(&mut rm));
    assert_eq!(
        info_field(&mut m, "replication", "connected_slaves").as_deref(),
        Some("1")
    );
    assert_eq!(stat(&mut m, "sync_full"), "1");

    // The top drops its replicas' links: both middles continue with a partial
    // resync, and the sub-replicas stay attached (no new sync at the middle).
    assert_eq!(text(&t.cmds("CLIENT KILL TYPE replica")), ":2\r\n");
    for round in 20..30 {
        write_load(&mut t, round);
    }
    wait_chain_caught_up(&mut [&mut t, &mut m, &mut s]);
    assert_eq!(stat(&mut t, "sync_partial_ok"), "2");
    assert!(log_has(
        &dir,
        "middle",
        "Successful partial resynchronization with master."
    ));
    assert_eq!(stat(&mut m, "sync_full"), "1");
    assert_eq!(stat(&mut m, "sync_partial_ok"), "0");
    assert_digests_equal(&mut [&mut t, &mut m, &mut s]);

    // The sub-replica's link to the middle drops: it continues from the middle's
    // backlog.
    assert_eq!(text(&m.cmds("CLIENT KILL TYPE replica")), ":1\r\n");
    write_load(&mut t, 30);
    wait_chain_caught_up(&mut [&mut t, &mut m, &mut s]);
    wait_until("the middle's partial resync count", || {
        stat(&mut m, "sync_partial_ok") == "1"
    });
    assert_eq!(stat(&mut m, "sync_full"), "1");
    assert_digests_equal(&mut [&mut t, &mut m, &mut s]);
}

/// keel → keel → keel: full syncs down the chain, the stream relayed, a killed
/// upstream link continued, and the middle promoted keeping its sub-replica.
#[test]
fn keel_keel_keel_chain() {
    let dir = scratch_dir("repl-chain-keel");
    let top = keel(&dir, "top");
    let middle = keel(&dir, "middle");
    let sub = keel(&dir, "sub");
    let (mut t, mut m, mut s) = (top.conn(), middle.conn(), sub.conn());
    populate(&mut t);
    replicaof(&mut m, top.port);
    wait_chain_caught_up(&mut [&mut t, &mut m]);
    replicaof(&mut s, middle.port);
    for round in 0..20 {
        write_load(&mut t, round);
    }
    wait_chain_caught_up(&mut [&mut t, &mut m, &mut s]);
    assert_digests_equal(&mut [&mut t, &mut m, &mut s]);
    assert_eq!(
        info_field(&mut t, "replication", "master_replid"),
        info_field(&mut s, "replication", "master_replid")
    );

    assert_eq!(text(&t.cmds("CLIENT KILL TYPE replica")), ":1\r\n");
    for round in 20..30 {
        write_load(&mut t, round);
    }
    wait_chain_caught_up(&mut [&mut t, &mut m, &mut s]);
    assert_eq!(stat(&mut t, "sync_partial_ok"), "1");
    assert_eq!(stat(&mut m, "sync_full"), "1");
    assert_eq!(stat(&mut m, "sync_partial_ok"), "0");
    assert_digests_equal(&mut [&mut t, &mut m, &mut s]);

    // The middle becomes a master: its sub-replica continues (replid2) and follows
    // the middle's own writes.
    assert_eq!(text(&m.cmds("REPLICAOF NO ONE")), "+OK\r\n");
    wait_until("the sub-replica's partial resync", || {
        stat(&mut m, "sync_partial_ok") == "1" && link_up(&mut s)
    });
    write_load(&mut m, 40);
    wait_chain_caught_up(&mut [&mut m, &mut s]);
    assert_eq!(stat(&mut m, "sync_full"), "1");
    assert_digests_equal(&mut [&mut m, &mut s]);
}
