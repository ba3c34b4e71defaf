//! A master restarted from its RDB file keeps the file's replication history (Redis
//! 7.0's loadDataFromDisk: replid2 and `second_repl_offset`, a new replid, the backlog
//! made at the file's offset), so a replica at exactly that offset continues with
//! `+CONTINUE` after the restart, and one past it full-syncs. Real processes: a keel
//! master with a keel replica, and with a redis-server 7.0 replica.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{
    info_field_present as info_field, keel_bin, require_redis_or_skip, scratch_dir, text, wait_for,
    Conn, Server,
};

fn wait_caught_up(master: &mut Conn, replica: &mut Conn) {
    wait_for("the replica to catch up", || {
        let m = info_field(master, "replication", "master_repl_offset");
        let r = info_field(replica, "replication", "master_repl_offset");
        let up = info_field(replica, "replication", "master_link_status");
        up == "up" && m == r
    });
}

fn digest(c: &mut Conn) -> String {
    text(&c.cmds("DEBUG DIGEST"))
}

fn writes(c: &mut Conn, tag: &str) {
    for i in 0..100 {
        c.cmds(&format!("SET {tag}:{i} v{i}"));
        c.cmds(&format!("RPUSH {tag}:l a{i}"));
    }
    c.cmds("SELECT 2");
    c.cmds(&format!("HSET {tag}:h f v"));
    c.cmds("SELECT 0");
}

/// keel's arguments for the master: its files in `dir`, its log in `dir/master.log`.
fn master_args(port: u16, dir: &Path) -> Vec<String> {
    [
        "--port",
        &port.to_string(),
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        dir.to_str().unwrap(),
        "--logfile",
        dir.join("master.log").to_str().unwrap(),
        "--repl-diskless-sync-delay",
        "0",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn start_master(port: u16, dir: &Path) -> Server {
    Server::start_on("keel", keel_bin(), port, &master_args(port, dir))
}

/// SHUTDOWN SAVE (the connection closes when the node exits), then the exit.
fn shutdown(server: &mut Server, c: &mut Conn) {
    c.send_raw(b"SHUTDOWN SAVE\r\n");
    // Redis waits up to `shutdown-timeout` (10 s) for lagging replicas' ACKs.
    assert!(c.closed_within(Duration::from_secs(20)), "SHUTDOWN closes");
    assert!(server.wait_exit(Duration::from_secs(20)).is_some(), "exits");
}

/// The restarted master's INFO replication fields as Redis 7.0.15 reports them after
/// such a restart, given the history (id, offset) it had before: the file's offset
/// is that one or, for redis-server, a little past it (its SHUTDOWN sends REPLCONF
/// GETACK to replicas whose ACK lags). Returns the new id and the file's offset.
fn check_restored(m: &mut Conn, old_id: &str, before: u64) -> (String, u64) {
    let new_id = info_field(m, "replication", "master_replid");
    assert_ne!(new_id, old_id, "a new history");
    assert_eq!(info_field(m, "replication", "master_replid2"), old_id);
    let old_offset: u64 = info_field(m, "replication", "master_repl_offset")
        .parse()
        .unwrap();
    assert!(
        (before..before + 64).contains(&old_offset),
        "{old_offset} {before}"
    );
    assert_eq!(
        info_field(m, "replication", "second_repl_offset"),
        (old_offset + 1).to_string()
    );
    assert_eq!(info_field(m, "replication", "repl_backlog_active"), "1");
    assert_eq!(
        info_field(m, "replication", "repl_backlog_first_byte_offset"),
        (old_offset + 1).to_string()
    );
    (new_id, old_offset)
}

/// The replica at exactly the file's offset continues after the master's restart;
/// then a replica past the file's offset (the master killed after writes the file
/// lacks) full-syncs, with Redis's log line.
fn restart_continues_then_a_mismatch_full_syncs(
    tag: &str,
    replica: Server,
    replica_log: Option<&Path>,
) {
    let dir = scratch_dir(tag);
    let port = common::free_port();
    let mut master = start_master(port, &dir);
    let mut m = master.conn();
    let mut r = replica.conn();
    writes(&mut m, "before");
    assert_eq!(
        text(&r.cmds(&format!("REPLICAOF 127.0.0.1 {port}"))),
        "+OK\r\n"
    );
    wait_caught_up(&mut m, &mut r);
    writes(&mut m, "synced");
    wait_caught_up(&mut m, &mut r);
    let old_id = info_field(&mut m, "replication", "master_replid");
    let old_offset: u64 = info_field(&mut m, "replication", "master_repl_offset")
        .parse()
        .unwrap();
    let before = digest(&mut m);
    shutdown(&mut master, &mut m);

    let mut master = start_master(port, &dir);
    let mut m = master.conn();
    let (new_id, old_offset) = check_restored(&mut m, &old_id, old_offset);
    wait_for("the replica's partial resync", || {
        info_field(&mut m, "stats", "sync_partial_ok") == "1"
    });
    wait_caught_up(&mut m, &mut r);
    assert_eq!(info_field(&mut m, "stats", "sync_full"), "0");
    assert_eq!(info_field(&mut r, "replication", "master_replid"), new_id);
    assert_eq!(digest(&mut m), before);
    assert_eq!(digest(&mut r), before);
    let log = std::fs::read_to_string(dir.join("master.log")).unwrap_or_default();
    assert!(
        log.contains(&format!(
            "accepted. Sending 0 bytes of backlog starting from offset {}.",
            old_offset + 1
        )),
        "{log}"
    );
    if let Some(path) = replica_log {
        let rlog = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            rlog.contains(&format!(
                "Trying a partial resynchronization (request {old_id}:{})",
                old_offset + 1
            )) && rlog.contains("Successful partial resynchronization with master.")
                && rlog.contains(&format!("Master replication ID changed to {new_id}")),
            "{rlog}"
        );
    }
    writes(&mut m, "after");
    wait_caught_up(&mut m, &mut r);
    assert_eq!(digest(&mut m), digest(&mut r), "the stream flows on");

    // The file at offset X, then writes the replica gets and the file lacks, then a
    // kill: the restarted master's history ends at X, the replica asks past it.
    assert_eq!(text(&m.cmds("SAVE")), "+OK\r\n");
    let saved_id = info_field(&mut m, "replication", "master_replid");
    let saved_offset: u64 = info_field(&mut m, "replication", "master_repl_offset")
        .parse()
        .unwrap();
    writes(&mut m, "lost");
    wait_caught_up(&mut m, &mut r);
    let asked = info_field(&mut r, "replication", "master_repl_offset")
        .parse::<u64>()
        .unwrap()
        + 1;
    let killed = std::process::Command::new("kill")
        .args(["-9", &master.pid().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    assert!(master.wait_exit(Duration::from_secs(10)).is_some());
    let _ = std::fs::remove_file(dir.join("master.log"));
    let master = start_master(port, &dir);
    let mut m = master.conn();
    let (_, saved_offset) = check_restored(&mut m, &saved_id, saved_offset);
    wait_for("the replica's full sync", || {
        info_field(&mut m, "stats", "sync_full") == "1"
    });
    wait_caught_up(&mut m, &mut r);
    assert_eq!(info_field(&mut m, "stats", "sync_partial_err"), "1");
    assert_eq!(
        digest(&mut m),
        digest(&mut r),
        "the replica follows the file's state"
    );
    assert_eq!(text(&r.cmds("EXISTS lost:1")), ":0\r\n");
    let log = std::fs::read_to_string(dir.join("master.log")).unwrap_or_default();
    assert!(
        log.contains(&format!(
            "Partial resynchronization not accepted: Requested offset for second ID was {asked}, but I can reply up to {}",
            saved_offset + 1
        )),
        "{log}"
    );
    drop(master);
}

#[test]
fn a_keel_replica_continues_after_its_masters_restart() {
    // Its own directory: a replica's full sync may write an RDB file there.
    let dir = scratch_dir("repl-restart-keel-replica");
    let replica = Server::keel(&["--dir", dir.to_str().unwrap()]);
    restart_continues_then_a_mismatch_full_syncs("repl-restart-keel", replica, None);
}

#[test]
fn a_redis_replica_continues_after_its_keel_masters_restart() {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir("repl-restart-redis-replica");
    let log = dir.join("replica.log");
    let replica = Server::redis(&[
        "--dir",
        dir.to_str().unwrap(),
        "--logfile",
        log.to_str().unwrap(),
    ]);
    restart_continues_then_a_mismatch_full_syncs("repl-restart-redis", replica, Some(&log));
}
