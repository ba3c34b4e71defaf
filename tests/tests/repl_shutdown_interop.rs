//! Redis 7.0's `shutdown-timeout`: a master asked to SHUTDOWN while a replica lags
//! holds writes, asks for an ACK and waits (up to the timeout) for the replica to
//! reach its offset before it exits, so the last acknowledged write is not lost.
//! Real processes: a keel master with a redis-server 7.0 replica (and a keel one),
//! the replica stopped with SIGSTOP while the master shuts down, as Redis's own
//! `tests/integration/shutdown.tcl` does.

mod common;

use std::time::Duration;

use common::{
    info_field_present as info_field, keel_bin, require_redis_or_skip, scratch_dir, text, wait_for,
    Conn, Server,
};

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .expect("kill");
    assert!(ok.success(), "kill {sig} {pid}");
}

/// A keel master (its log in its directory) with `replica` attached and caught up.
fn master_with(tag: &str, replica: &Server, timeout_s: u32) -> (Server, Conn, std::path::PathBuf) {
    let dir = scratch_dir(tag);
    let port = common::free_port();
    let log = dir.join("master.log");
    let args: Vec<String> = [
        "--port",
        &port.to_string(),
        "--save",
        "",
        "--dir",
        dir.to_str().unwrap(),
        "--logfile",
        log.to_str().unwrap(),
        "--repl-diskless-sync-delay",
        "0",
        "--shutdown-timeout",
        &timeout_s.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let master = Server::start_on("keel", keel_bin(), port, &args);
    let mut m = master.conn();
    let mut r = replica.conn();
    m.cmds("SET k 1");
    assert_eq!(
        text(&r.cmds(&format!("REPLICAOF 127.0.0.1 {port}"))),
        "+OK\r\n"
    );
    wait_for("the replica to catch up", || {
        info_field(&mut r, "replication", "master_link_status") == "up"
            && info_field(&mut r, "replication", "master_repl_offset")
                == info_field(&mut m, "replication", "master_repl_offset")
    });
    (master, m, log)
}

fn waits_then_exits_when_the_replica_catches_up(tag: &str, replica: Server) {
    let (mut master, mut m, log) = master_with(tag, &replica, 60);
    signal(replica.pid(), "-STOP");
    assert_eq!(text(&m.cmds("INCR k")), ":2\r\n");
    m.send_raw(b"SHUTDOWN NOSAVE\r\n");
    // The replica is stopped: the master waits (its connection stays open).
    assert!(!m.closed_within(Duration::from_millis(700)), "waits");
    let text_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text_log.contains("Waiting for replicas before shutting down."),
        "{text_log}"
    );
    // Writes are held, reads answered, meanwhile.
    let mut other = master.conn();
    assert_eq!(text(&other.cmds("GET k")), "$1\r\n2\r\n");
    // A second SHUTDOWN, even NOW, joins the wait as Redis's does (no reply yet).
    let mut second = master.conn();
    second.send_raw(b"SHUTDOWN NOW\r\n");
    assert!(!second.closed_within(Duration::from_millis(300)), "joins");
    signal(replica.pid(), "-CONT");
    assert!(m.closed_within(Duration::from_secs(20)), "SHUTDOWN closes");
    assert!(
        second.closed_within(Duration::from_secs(20)),
        "the second closes too"
    );
    assert_eq!(
        text(second.pending()),
        "",
        "no reply, the connection closed"
    );
    assert!(master.wait_exit(Duration::from_secs(20)).is_some(), "exits");
    let text_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!text_log.contains("Lagging replica"), "{text_log}");
    // The last write reached the replica before the master went.
    let mut r = replica.conn();
    wait_for("the replica to see the link down", || {
        info_field(&mut r, "replication", "master_link_status") == "down"
    });
    assert_eq!(text(&r.cmds("GET k")), "$1\r\n2\r\n");
    r.cmds("REPLICAOF NO ONE");
}

#[test]
fn a_keel_master_waits_for_a_stopped_redis_replica() {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir("repl-shutdown-redis-replica");
    let replica = Server::redis(&["--dir", dir.to_str().unwrap()]);
    waits_then_exits_when_the_replica_catches_up("repl-shutdown-redis", replica);
}

#[test]
fn a_keel_master_waits_for_a_stopped_keel_replica() {
    let dir = scratch_dir("repl-shutdown-keel-replica");
    let replica = Server::keel(&["--dir", dir.to_str().unwrap()]);
    waits_then_exits_when_the_replica_catches_up("repl-shutdown-keel", replica);
}

/// A replica that stays stopped: the master gives up after `shutdown-timeout` and
/// names it in its log, as Redis does.
#[test]
fn a_keel_master_gives_up_on_a_replica_after_the_timeout() {
    let dir = scratch_dir("repl-shutdown-timeout-replica");
    let replica = Server::keel(&["--dir", dir.to_str().unwrap()]);
    let (mut master, mut m, log) = master_with("repl-shutdown-timeout", &replica, 1);
    signal(replica.pid(), "-STOP");
    m.cmds("INCR k");
    m.send_raw(b"SHUTDOWN NOSAVE\r\n");
    assert!(m.closed_within(Duration::from_secs(20)), "SHUTDOWN closes");
    assert!(master.wait_exit(Duration::from_secs(20)).is_some(), "exits");
    signal(replica.pid(), "-CONT");
    let text_log = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text_log.contains("Lagging replica") && text_log.contains("reported offset"),
        "{text_log}"
    );
}
