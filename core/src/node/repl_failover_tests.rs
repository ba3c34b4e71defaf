//! FAILOVER and the rollback file on nodes wired by the test kit: keel master and keel
//! replica over in-memory links (node 0 at 127.0.0.1:6379, node 1 at :6380), and a
//! scripted replica on a client connection where a test needs one that lags.

use crate::io::{DiskOp, DiskResult, Effect, Input};
use crate::testkit::{Kit, START};

const CONF: &str = "repl-diskless-sync-delay 0\n";

fn run(k: &mut Kit, node: usize, line: &str) -> String {
    let args: Vec<&[u8]> = line.split_whitespace().map(str::as_bytes).collect();
    String::from_utf8_lossy(&k.cmd_on(node, 1, &args)).into_owned()
}

fn info(k: &mut Kit, node: usize, name: &str) -> String {
    let text = run(k, node, "INFO replication rollback");
    text.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("{name} in {text}"))
        .to_string()
}

fn logs(k: &Kit, node: usize) -> Vec<String> {
    k.effects
        .iter()
        .filter(|(i, _)| *i == node)
        .filter_map(|(_, e)| match e {
            Effect::Log { message, .. } => Some(message.clone()),
            _ => None,
        })
        .collect()
}

fn logged(k: &Kit, node: usize, text: &str) -> bool {
    logs(k, node).iter().any(|l| l.contains(text))
}

/// Node 1 (announcing port 6380) a replica of node 0, synced and ACKed.
fn pair(nodes: usize) -> Kit {
    let mut k = Kit::with_nodes(nodes, CONF, START);
    for i in 0..nodes {
        k.connect_on(i, 1);
    }
    assert_eq!(run(&mut k, 0, "SET a 1"), "+OK\r\n");
    assert_eq!(
        run(&mut k, 1, "CONFIG SET replica-announce-port 6380"),
        "+OK\r\n"
    );
    assert_eq!(run(&mut k, 1, "REPLICAOF 127.0.0.1 6379"), "+OK\r\n");
    for _ in 0..25 {
        k.advance_ms(100);
    }
    assert_eq!(info(&mut k, 1, "master_link_status"), "up");
    k
}

/// A scripted replica on node 0's client `conn`, announcing `port`, online, that
/// ACKed offset 0 only.
fn lagging_replica(k: &mut Kit, conn: u64, port: u16) {
    psync_without_ack(k, conn, port);
    k.send_lines(conn, "REPLCONF ACK 0");
    k.take(conn);
}

#[test]
fn failover_hands_over_to_a_synced_replica_and_it_continues_the_history() {
    let mut k = pair(2);
    let replid = info(&mut k, 0, "master_replid");
    assert_eq!(run(&mut k, 0, "FAILOVER"), "+OK\r\n");
    k.advance_ms(1100);
    assert_eq!(info(&mut k, 0, "role"), "slave");
    assert_eq!(info(&mut k, 0, "master_port"), "6380");
    assert_eq!(info(&mut k, 0, "master_failover_state"), "no-failover");
    assert_eq!(info(&mut k, 0, "master_link_status"), "up");
    assert_eq!(info(&mut k, 1, "role"), "master");
    assert_eq!(info(&mut k, 1, "master_replid2"), replid);
    assert_eq!(info(&mut k, 1, "connected_slaves"), "1");
    assert!(logged(&k, 0, "FAILOVER requested to any replica."));
    assert!(logged(
        &k,
        0,
        "Failover target 127.0.0.1:6380 is synced, failing over."
    ));
    assert!(logged(
        &k,
        1,
        "MASTER MODE enabled (failover request from '"
    ));
    assert!(logged(
        &k,
        0,
        "Successful partial resynchronization with master."
    ));
    // The old master's replica... is now the new master's: writes go there.
    assert_eq!(
        run(&mut k, 0, "SET b 2"),
        "-READONLY You can't write against a read only replica.\r\n"
    );
    assert_eq!(run(&mut k, 1, "SET b 2"), "+OK\r\n");
    k.advance_ms(10);
    assert_eq!(run(&mut k, 0, "GET b"), "$1\r\n2\r\n");
    let digest = |k: &mut Kit, i| run(k, i, "DEBUG DIGEST");
    assert_eq!(digest(&mut k, 0), digest(&mut k, 1));
    assert_eq!(info(&mut k, 0, "rollback_files"), "0");
}

/// A write the replica has not ACKed yet: FAILOVER waits; a client's write during the
/// pause is held, then answered -READONLY once the node is a replica. The mutant
/// `failover-skips-catchup` hands over at once and is caught here.
#[test]
fn failover_waits_for_the_ack_and_a_held_write_is_refused_after() {
    let mut k = pair(2);
    assert_eq!(run(&mut k, 0, "SET b 2"), "+OK\r\n");
    assert_eq!(run(&mut k, 0, "FAILOVER TO 127.0.0.1 6380"), "+OK\r\n");
    assert_eq!(info(&mut k, 0, "master_failover_state"), "waiting-for-sync");
    assert!(logged(&k, 0, "FAILOVER requested to 127.0.0.1:6380."));
    k.connect_on(0, 2);
    let held = k.cmd_on(0, 2, &[b"SET", b"c", b"3"]);
    assert_eq!(held, b"", "a write waits during the failover");
    assert_eq!(run(&mut k, 0, "GET b"), "$1\r\n2\r\n", "reads go on");
    assert_eq!(
        run(&mut k, 0, "CLIENT UNPAUSE"),
        "+OK\r\n",
        "CLIENT UNPAUSE does not end a failover's pause"
    );
    assert_eq!(k.take_bytes_on(0, 2), b"");
    assert_eq!(
        run(&mut k, 0, "REPLICAOF NO ONE"),
        "-ERR REPLICAOF not allowed while failing over.\r\n"
    );
    assert_eq!(
        run(&mut k, 0, "FAILOVER"),
        "-ERR FAILOVER already in progress.\r\n"
    );
    k.advance_ms(1100);
    assert_eq!(info(&mut k, 0, "role"), "slave");
    assert_eq!(
        k.take_bytes_on(0, 2),
        b"-READONLY You can't write against a read only replica.\r\n"
    );
    assert_eq!(
        run(&mut k, 1, "GET b"),
        "$1\r\n2\r\n",
        "no acknowledged write lost"
    );
}

#[test]
fn the_timeout_aborts_without_force() {
    let mut k = Kit::with_nodes(1, CONF, START);
    k.connect(1);
    lagging_replica(&mut k, 9, 7000);
    assert_eq!(k.cmd(1, "SET a 1"), "+OK\r\n");
    assert_eq!(
        k.cmd(1, "FAILOVER TO 127.0.0.1 7000 TIMEOUT 500"),
        "+OK\r\n"
    );
    k.connect(2);
    k.send_lines(2, "SET b 2");
    assert_eq!(k.take(2), "");
    k.advance_ms(400);
    assert_eq!(info(&mut k, 0, "master_failover_state"), "waiting-for-sync");
    k.advance_ms(200);
    assert_eq!(info(&mut k, 0, "master_failover_state"), "no-failover");
    assert!(logged(
        &k,
        0,
        "FAILOVER to 127.0.0.1:7000 aborted: Replica never caught up before timeout"
    ));
    assert_eq!(k.take(2), "+OK\r\n", "the held write runs");
    assert_eq!(info(&mut k, 0, "role"), "master");
}

/// A write that arrives in the very step the timeout aborts the failover is held by
/// the pause, then runs in that step (the failover is updated before the held clients
/// run, as in Redis's beforeSleep), not at the next tick.
#[test]
fn a_write_arriving_as_the_timeout_aborts_runs_in_that_step() {
    let mut k = Kit::with_nodes(1, CONF, START);
    k.connect(1);
    lagging_replica(&mut k, 9, 7000);
    assert_eq!(k.cmd(1, "SET a 1"), "+OK\r\n");
    assert_eq!(
        k.cmd(1, "FAILOVER TO 127.0.0.1 7000 TIMEOUT 500"),
        "+OK\r\n"
    );
    k.connect(2);
    k.advance_ms(499);
    assert_eq!(info(&mut k, 0, "master_failover_state"), "waiting-for-sync");
    // The deadline passes with the client's bytes, no tick.
    k.now.mono_ms += 1;
    k.now.wall_ms += 1;
    k.send_lines(2, "SET b 2");
    assert_eq!(k.take(2), "+OK\r\n", "released in the step that aborted");
    assert_eq!(info(&mut k, 0, "master_failover_state"), "no-failover");
}

/// FORCE at the timeout hands over to a target that may lack writes; a target that
/// refuses PSYNC FAILOVER (here a master) aborts it and the node is a master again.
#[test]
fn force_hands_over_at_the_timeout_and_a_refusal_aborts() {
    let mut k = Kit::with_nodes(3, CONF, START);
    k.connect(1);
    lagging_replica(&mut k, 9, 6381);
    assert_eq!(k.cmd(1, "SET a 1"), "+OK\r\n");
    assert_eq!(
        k.cmd(1, "FAILOVER TO 127.0.0.1 6381 FORCE TIMEOUT 300"),
        "+OK\r\n"
    );
    k.advance_ms(400);
    assert!(logged(
        &k,
        0,
        "FAILOVER to 127.0.0.1:6381 time out exceeded, failing over."
    ));
    assert!(logged(
        &k,
        0,
        "FAILOVER to 127.0.0.1:6381 aborted: Failover target rejected psync request"
    ));
    assert_eq!(info(&mut k, 0, "role"), "master");
    assert_eq!(info(&mut k, 0, "master_failover_state"), "no-failover");
    assert_eq!(k.cmd(1, "SET b 2"), "+OK\r\n");
}

#[test]
fn force_to_a_lagging_replica_still_ends_with_the_target_as_master() {
    let mut k = pair(2);
    assert_eq!(run(&mut k, 0, "SET b 2"), "+OK\r\n");
    assert_eq!(
        run(&mut k, 0, "FAILOVER TO 127.0.0.1 6380 FORCE TIMEOUT 100"),
        "+OK\r\n"
    );
    k.advance_ms(150);
    assert!(logged(
        &k,
        0,
        "FAILOVER to 127.0.0.1:6380 time out exceeded, failing over."
    ));
    assert_eq!(info(&mut k, 1, "role"), "master");
    assert_eq!(info(&mut k, 0, "role"), "slave");
    assert_eq!(info(&mut k, 0, "master_failover_state"), "no-failover");
}

#[test]
fn abort_while_in_progress_makes_the_node_a_master_again() {
    let mut k = Kit::with_nodes(1, CONF, START);
    k.connect(1);
    lagging_replica(&mut k, 9, 7000);
    assert_eq!(
        k.cmd(1, "FAILOVER ABORT"),
        "-ERR No failover in progress.\r\n"
    );
    assert_eq!(
        k.cmd(1, "FAILOVER TO 127.0.0.1 7000 TIMEOUT 100 FORCE"),
        "+OK\r\n"
    );
    k.advance_ms(200);
    // 127.0.0.1:7000 is nobody: the link retries, the failover stays in progress.
    assert_eq!(
        info(&mut k, 0, "master_failover_state"),
        "failover-in-progress"
    );
    assert_eq!(info(&mut k, 0, "role"), "slave");
    assert_eq!(k.cmd(1, "FAILOVER ABORT"), "+OK\r\n");
    assert!(logged(
        &k,
        0,
        "FAILOVER to 127.0.0.1:7000 aborted: Failover manually aborted"
    ));
    assert_eq!(info(&mut k, 0, "role"), "master");
    assert_eq!(k.cmd(1, "SET a 1"), "+OK\r\n");
}

#[test]
fn failover_errors_are_redis_s() {
    let mut k = pair(3);
    let e = |k: &mut Kit, node, line| run(k, node, line);
    assert_eq!(
        e(&mut k, 1, "FAILOVER"),
        "-ERR FAILOVER is not valid when server is a replica.\r\n"
    );
    assert_eq!(
        e(&mut k, 0, "FAILOVER TO 127.0.0.1 9999"),
        "-ERR FAILOVER target HOST and PORT is not a replica.\r\n"
    );
    assert_eq!(
        e(&mut k, 0, "FAILOVER TO 127.0.0.1 6380 FORCE"),
        "-ERR FAILOVER with force option requires both a timeout and target HOST and IP.\r\n"
    );
    assert_eq!(
        e(&mut k, 0, "FAILOVER FORCE TIMEOUT 10"),
        "-ERR FAILOVER with force option requires both a timeout and target HOST and IP.\r\n"
    );
    assert_eq!(
        e(&mut k, 0, "FAILOVER TIMEOUT 0"),
        "-ERR FAILOVER timeout must be greater than 0\r\n"
    );
    assert_eq!(
        e(&mut k, 0, "FAILOVER TIMEOUT x"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(
        e(&mut k, 0, "FAILOVER TO a b"),
        "-ERR value is not an integer or out of range\r\n"
    );
    assert_eq!(e(&mut k, 0, "FAILOVER foo"), "-ERR syntax error\r\n");
    assert_eq!(
        e(&mut k, 0, "FAILOVER TIMEOUT 5 TIMEOUT 6"),
        "-ERR syntax error\r\n"
    );
    assert_eq!(
        e(&mut k, 0, "FAILOVER ABORT"),
        "-ERR No failover in progress.\r\n"
    );
    assert_eq!(
        e(&mut k, 2, "FAILOVER"),
        "-ERR FAILOVER requires connected replicas.\r\n"
    );
    assert_eq!(info(&mut k, 0, "master_failover_state"), "no-failover");
}

#[test]
fn psync_failover_needs_a_replica_with_that_replid() {
    let mut k = pair(2);
    k.connect_on(1, 5);
    let reply = k.cmd_on(1, 5, &[b"PSYNC", b"0123", b"10", b"FAILOVER"]);
    assert_eq!(
        reply,
        b"-ERR PSYNC FAILOVER replid must match my replid.\r\n"
    );
    k.connect_on(0, 5);
    let reply = k.cmd_on(0, 5, &[b"PSYNC", b"0123", b"10", b"FAILOVER"]);
    assert_eq!(reply, b"-ERR PSYNC FAILOVER can't be sent to a master.\r\n");
    assert_eq!(info(&mut k, 1, "role"), "slave");
    // With its replid the replica promotes itself and continues the asker.
    let replid = info(&mut k, 1, "master_replid");
    let offset: u64 = info(&mut k, 1, "master_repl_offset").parse().unwrap();
    let next = (offset + 1).to_string();
    k.cmd_on(1, 5, &[b"REPLCONF", b"capa", b"psync2"]);
    let reply = k.cmd_on(
        1,
        5,
        &[b"PSYNC", replid.as_bytes(), next.as_bytes(), b"failover"],
    );
    let text = String::from_utf8_lossy(&reply).into_owned();
    assert!(text.starts_with("+CONTINUE "), "{text}");
    assert_eq!(info(&mut k, 1, "role"), "master");
    assert_eq!(info(&mut k, 1, "master_replid2"), replid);
}

/// Answers node `node`'s disk operations in memory until none is left; returns the
/// files written (renamed into place) and the names of the operations.
fn answer_disk(k: &mut Kit, node: usize) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    answer_disk_failing(k, node, |_| false)
}

/// `answer_disk`, failing (no space) the operations `fail` picks.
fn answer_disk_failing(
    k: &mut Kit,
    node: usize,
    fail: impl Fn(&DiskOp) -> bool,
) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    let mut open: std::collections::BTreeMap<String, Vec<u8>> = Default::default();
    let mut files = Vec::new();
    let mut ops = Vec::new();
    loop {
        let pending: Vec<(crate::io::IoId, DiskOp)> = k
            .effects
            .iter()
            .filter_map(|(i, e)| match e {
                Effect::Disk { io, op } if *i == node => Some((*io, op.clone())),
                _ => None,
            })
            .collect();
        k.effects
            .retain(|(i, e)| !(matches!(e, Effect::Disk { .. }) && *i == node));
        if pending.is_empty() {
            return (files, ops);
        }
        for (io, op) in pending {
            match &op {
                _ if fail(&op) => ops.push(format!("failed {}", op.path())),
                DiskOp::Open { path, .. } => {
                    open.insert(path.clone(), Vec::new());
                    ops.push(format!("open {path}"));
                }
                DiskOp::Append { path, bytes } => {
                    open.entry(path.clone())
                        .or_default()
                        .extend_from_slice(bytes);
                    ops.push(format!("append {path}"));
                }
                DiskOp::Rename { from, to } => {
                    files.push((to.clone(), open.remove(from).unwrap_or_default()));
                    ops.push(format!("rename {from} {to}"));
                }
                other => ops.push(format!("{other:?}").chars().take(20).collect()),
            }
            let result = if fail(&op) {
                DiskResult::Failed(crate::io::DiskError::NoSpace)
            } else {
                DiskResult::Done { read: Vec::new() }
            };
            k.input(
                node,
                Input::Disk {
                    io,
                    result,
                    elapsed_us: 0,
                },
            );
        }
    }
}

/// Invariant 17: node 0, cut off from its replica (which was promoted), takes writes;
/// made a replica of the promoted node, it full-resyncs, and the writes past the
/// replica's last ACK are in its rollback file, replayable.
#[test]
fn a_demoted_master_keeps_its_lost_writes_in_a_rollback_file() {
    let mut k = pair(3);
    assert_eq!(run(&mut k, 0, "SET b 2"), "+OK\r\n");
    k.advance_ms(1100);
    let acked = info(&mut k, 0, "master_repl_offset");
    assert!(info(&mut k, 0, "slave0").contains(&format!("offset={acked}")));
    // The partition: the replica is promoted; its link to node 0 goes.
    assert_eq!(run(&mut k, 1, "REPLICAOF NO ONE"), "+OK\r\n");
    assert_eq!(run(&mut k, 0, "SET lost1 x"), "+OK\r\n");
    assert_eq!(run(&mut k, 0, "SELECT 4"), "+OK\r\n");
    assert_eq!(run(&mut k, 0, "INCR lost2"), ":1\r\n");
    assert_eq!(run(&mut k, 0, "SELECT 0"), "+OK\r\n");
    let replid = info(&mut k, 0, "master_replid");
    let end = info(&mut k, 0, "master_repl_offset");
    assert_eq!(run(&mut k, 1, "SET fresh 1"), "+OK\r\n");
    assert_eq!(run(&mut k, 0, "REPLICAOF 127.0.0.1 6380"), "+OK\r\n");
    for _ in 0..5 {
        k.advance_ms(100);
    }
    assert_eq!(info(&mut k, 0, "master_link_status"), "up");
    assert_eq!(
        run(&mut k, 0, "GET lost1"),
        "$-1\r\n",
        "the full sync replaced it"
    );
    let (files, ops) = answer_disk(&mut k, 0);
    let name = format!("rollback-{replid}-{acked}.resp");
    assert_eq!(files.len(), 1, "{ops:?}");
    assert_eq!(files[0].0, name);
    let want = crate::resp::encode_request(&["SELECT", "0"])
        .into_iter()
        .chain(crate::resp::encode_request(&["SET", "lost1", "x"]))
        .chain(crate::resp::encode_request(&["SELECT", "4"]))
        .chain(crate::resp::encode_request(&["INCR", "lost2"]))
        .collect::<Vec<u8>>();
    assert_eq!(
        String::from_utf8_lossy(&files[0].1),
        String::from_utf8_lossy(&want)
    );
    assert_eq!(
        ops.iter().filter(|o| o.starts_with("Fsync")).count(),
        2,
        "the file and the directory: {ops:?}"
    );
    assert!(logged(&k, 0, &format!("rollback file {name}")));
    assert!(logged(
        &k,
        0,
        &format!("offsets {}..{end}", acked.parse::<u64>().unwrap() + 1)
    ));
    assert_eq!(info(&mut k, 0, "rollback_files"), "1");
    assert_eq!(info(&mut k, 0, "rollback_writes"), "2");
    assert_eq!(info(&mut k, 0, "rollback_last_file"), name);
    // Replayed into a fresh node, the writes come back.
    k.connect_on(2, 3);
    k.input(
        2,
        Input::Data {
            conn: 3,
            bytes: &files[0].1,
        },
    );
    assert_eq!(run(&mut k, 2, "GET lost1"), "$1\r\nx\r\n");
    assert_eq!(run(&mut k, 2, "SELECT 4"), "+OK\r\n");
    assert_eq!(run(&mut k, 2, "GET lost2"), "$1\r\n1\r\n");
}

/// A demotion whose sync continues (the new master has every write) writes no file.
#[test]
fn a_partial_resync_after_demotion_writes_no_rollback_file() {
    let mut k = pair(2);
    assert_eq!(run(&mut k, 0, "SET b 2"), "+OK\r\n");
    assert_eq!(run(&mut k, 0, "FAILOVER"), "+OK\r\n");
    k.advance_ms(1100);
    assert_eq!(info(&mut k, 0, "role"), "slave");
    let (files, _) = answer_disk(&mut k, 0);
    assert!(files.is_empty());
    assert_eq!(info(&mut k, 0, "rollback_files"), "0");
}

#[cfg(feature = "mutants")]
mod planted {
    use super::*;
    use crate::mutants::Mutant;

    /// `failover-skips-catchup`: FAILOVER hands over before the replica ACKed the last
    /// write; the waiting state the clean node shows is never seen.
    #[test]
    fn failover_skips_catchup_is_caught() {
        let mut k = pair(2);
        k.nodes[0].set_mutant(Some(Mutant::FailoverSkipsCatchup));
        assert_eq!(run(&mut k, 0, "SET b 2"), "+OK\r\n");
        assert_eq!(run(&mut k, 0, "FAILOVER TO 127.0.0.1 6380"), "+OK\r\n");
        assert_ne!(info(&mut k, 0, "master_failover_state"), "waiting-for-sync");
    }
}

/// The lowest ACK is older than the backlog (it wrapped): the cut starts at the first
/// command boundary the backlog holds, says so, and the file still replays whole.
#[test]
fn a_wrapped_backlog_cuts_from_a_command_boundary() {
    let mut k = Kit::with_nodes(3, &format!("{CONF}repl-backlog-size 16384\n"), START);
    for i in 0..3 {
        k.connect_on(i, 1);
    }
    run(&mut k, 1, "CONFIG SET replica-announce-port 6380");
    run(&mut k, 1, "REPLICAOF 127.0.0.1 6379");
    for _ in 0..25 {
        k.advance_ms(100);
    }
    assert_eq!(info(&mut k, 1, "master_link_status"), "up");
    assert_eq!(run(&mut k, 1, "REPLICAOF NO ONE"), "+OK\r\n");
    let value = "v".repeat(97);
    for i in 0..300 {
        assert_eq!(run(&mut k, 0, &format!("SET lost:{i} {value}")), "+OK\r\n");
    }
    let first: u64 = info(&mut k, 0, "repl_backlog_first_byte_offset")
        .parse()
        .unwrap();
    assert!(first > 1, "the backlog wrapped");
    assert_eq!(run(&mut k, 0, "REPLICAOF 127.0.0.1 6380"), "+OK\r\n");
    for _ in 0..5 {
        k.advance_ms(100);
    }
    let (files, ops) = answer_disk(&mut k, 0);
    assert_eq!(files.len(), 1, "{ops:?}");
    assert!(logged(&k, 0, "were no longer in the backlog"));
    // Whole commands only: SELECT 0, then SETs up to the last one.
    let bytes = &files[0].1;
    let mut pos = 0;
    let mut names = Vec::new();
    while pos < bytes.len() {
        let (v, n) = crate::resp::decode(&bytes[pos..]).unwrap().unwrap();
        let crate::resp::Value::Array(args) = v else {
            panic!("{v:?}")
        };
        let words: Vec<String> = args
            .iter()
            .map(|a| match a {
                crate::resp::Value::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                other => panic!("{other:?}"),
            })
            .collect();
        names.push(words.join(" "));
        pos += n;
    }
    assert!(names[0].contains("SELECT"), "{}", names[0]);
    let writes = names.len() as u64 - 1;
    assert!(names[1..].iter().all(|n| n.contains("SET")));
    assert!(names.last().unwrap().contains("lost:299"));
    assert!(writes > 50 && writes < 300, "{writes}");
    assert_eq!(info(&mut k, 0, "rollback_writes"), writes.to_string());
}

/// A master that never had a replica has no stream to cut: the full resync that
/// replaces its dataset is logged and counted, not silent.
#[test]
fn a_demotion_without_a_backlog_is_said_not_kept() {
    let mut k = Kit::with_nodes(2, CONF, START);
    k.connect_on(0, 1);
    k.connect_on(1, 1);
    assert_eq!(run(&mut k, 0, "SET mine 1"), "+OK\r\n");
    assert_eq!(run(&mut k, 0, "REPLICAOF 127.0.0.1 6380"), "+OK\r\n");
    for _ in 0..5 {
        k.advance_ms(100);
    }
    assert_eq!(info(&mut k, 0, "master_link_status"), "up");
    assert!(logged(
        &k,
        0,
        "replaces the 1 keys this node held as a master without a rollback file"
    ));
    assert_eq!(info(&mut k, 0, "rollback_unkept_syncs"), "1");
    assert_eq!(info(&mut k, 0, "rollback_files"), "0");
}

/// While a FAILOVER with a timeout holds writes, no PING goes into the stream: the
/// offset the replica must reach stays where the last write left it.
#[test]
fn no_ping_moves_the_offset_during_a_timed_failover() {
    let mut k = Kit::with_nodes(1, &format!("{CONF}repl-ping-replica-period 1\n"), START);
    k.connect(1);
    lagging_replica(&mut k, 9, 7000);
    k.advance_ms(1100);
    let before = info(&mut k, 0, "master_repl_offset");
    k.advance_ms(1100);
    assert_ne!(
        info(&mut k, 0, "master_repl_offset"),
        before,
        "pings move it"
    );
    assert_eq!(
        k.cmd(1, "FAILOVER TO 127.0.0.1 7000 TIMEOUT 10000"),
        "+OK\r\n"
    );
    let held = info(&mut k, 0, "master_repl_offset");
    for _ in 0..3 {
        k.advance_ms(1000);
    }
    assert_eq!(info(&mut k, 0, "master_repl_offset"), held);
}

/// A FORCEd failover to a target that lacks writes: the target promotes itself, the
/// old master's PSYNC cannot continue past the target's switch point, so it full-
/// resyncs, and the writes the target lacked are in the old master's rollback file.
#[test]
fn a_forced_failover_that_full_resyncs_keeps_the_lost_writes() {
    let mut k = pair(2);
    assert_eq!(run(&mut k, 0, "SET kept 1"), "+OK\r\n");
    k.advance_ms(1100);
    // Node 1 stops following (its master is nowhere) but keeps node 0's history.
    assert_eq!(run(&mut k, 1, "REPLICAOF 127.0.0.1 9999"), "+OK\r\n");
    // A scripted replica announcing node 1's address stands in for it on node 0.
    lagging_replica(&mut k, 9, 6380);
    assert_eq!(run(&mut k, 0, "SET lost 1"), "+OK\r\n");
    assert_eq!(
        run(&mut k, 0, "FAILOVER TO 127.0.0.1 6380 FORCE TIMEOUT 100"),
        "+OK\r\n"
    );
    for _ in 0..5 {
        k.advance_ms(100);
    }
    assert!(logged(&k, 0, "time out exceeded, failing over."));
    assert!(logged(&k, 0, "Full resync from master: "));
    assert_eq!(info(&mut k, 0, "master_failover_state"), "no-failover");
    assert_eq!(info(&mut k, 1, "role"), "master");
    assert_eq!(
        run(&mut k, 0, "GET lost"),
        "$-1\r\n",
        "the full sync replaced it"
    );
    let (files, ops) = answer_disk(&mut k, 0);
    assert_eq!(files.len(), 1, "{ops:?}");
    let text = String::from_utf8_lossy(&files[0].1).into_owned();
    assert!(text.contains("$4\r\nlost\r\n"), "{text}");
    assert_eq!(info(&mut k, 0, "rollback_files"), "1");
}

/// A rollback file that cannot be written (no space): the temp file is removed, the
/// loss is logged and counted, and the sync goes on.
#[test]
fn a_failed_rollback_write_is_logged_and_counted() {
    let mut k = pair(2);
    k.advance_ms(1100);
    assert_eq!(run(&mut k, 1, "REPLICAOF NO ONE"), "+OK\r\n");
    assert_eq!(run(&mut k, 0, "SET lost 1"), "+OK\r\n");
    assert_eq!(run(&mut k, 0, "REPLICAOF 127.0.0.1 6380"), "+OK\r\n");
    for _ in 0..5 {
        k.advance_ms(100);
    }
    let (files, ops) = answer_disk_failing(&mut k, 0, |op| matches!(op, DiskOp::Fsync { .. }));
    assert!(files.is_empty(), "{ops:?}");
    assert!(ops.iter().any(|o| o.starts_with("Remove")), "{ops:?}");
    assert!(logged(&k, 0, "Failed writing rollback file"));
    assert_eq!(info(&mut k, 0, "rollback_write_errors"), "1");
    assert_eq!(info(&mut k, 0, "rollback_files"), "0");
    assert_eq!(info(&mut k, 0, "master_link_status"), "up");
}

/// No replica ever ACKed: the cut is the whole backlog, from its creation point.
#[test]
fn without_any_ack_the_cut_is_the_whole_backlog() {
    let mut k = Kit::with_nodes(2, CONF, START);
    k.connect_on(0, 1);
    k.connect_on(1, 1);
    k.connect(9);
    assert_eq!(
        k.cmd(9, "REPLCONF listening-port 7000 capa eof capa psync2"),
        "+OK\r\n"
    );
    k.send_lines(9, "PSYNC ? -1");
    for _ in 0..5 {
        k.advance_ms(1);
    }
    assert_eq!(run(&mut k, 0, "SET x1 1"), "+OK\r\n");
    assert_eq!(run(&mut k, 0, "SET x2 2"), "+OK\r\n");
    assert_eq!(run(&mut k, 0, "REPLICAOF 127.0.0.1 6380"), "+OK\r\n");
    for _ in 0..5 {
        k.advance_ms(100);
    }
    let (files, ops) = answer_disk(&mut k, 0);
    assert_eq!(files.len(), 1, "{ops:?}");
    let want = [
        crate::resp::encode_request(&["SELECT", "0"]),
        crate::resp::encode_request(&["SET", "x1", "1"]),
        crate::resp::encode_request(&["SET", "x2", "2"]),
    ]
    .concat();
    assert_eq!(
        String::from_utf8_lossy(&files[0].1),
        String::from_utf8_lossy(&want)
    );
}

/// A scripted replica on node 0's client `conn`, announcing `port`, sent PSYNC and
/// was handed its snapshot, but never ACKed.
fn psync_without_ack(k: &mut Kit, conn: u64, port: u16) {
    k.connect(conn);
    let conf = format!("REPLCONF listening-port {port} capa eof capa psync2");
    assert_eq!(k.cmd(conn, &conf), "+OK\r\n");
    k.send_lines(conn, "PSYNC ? -1");
    for _ in 0..5 {
        k.advance_ms(1);
    }
    k.take(conn);
}

/// The rollback cut's lower bound counts a replica from its PSYNC, before its first
/// (once-a-second) ACK: replica B synced at offset `synced_at` and never ACKed, A
/// ACKed the whole stream. B may be the one promoted, so the write after B's sync is
/// lost and must be in the file; with only the ACKs remembered the cut started at A's
/// ACK and kept nothing (seeds repl-failover-force 0x4, 0x8).
#[test]
fn a_replica_that_never_acked_bounds_the_cut_from_its_psync_offset() {
    let mut k = Kit::with_nodes(2, CONF, START);
    k.connect_on(0, 1);
    k.connect_on(1, 1);
    psync_without_ack(&mut k, 8, 7001);
    assert_eq!(run(&mut k, 0, "SET kept 1"), "+OK\r\n");
    let synced_at = info(&mut k, 0, "master_repl_offset");
    psync_without_ack(&mut k, 9, 7002);
    assert_eq!(info(&mut k, 0, "master_repl_offset"), synced_at);
    assert_eq!(run(&mut k, 0, "SET lost 1"), "+OK\r\n");
    let end = info(&mut k, 0, "master_repl_offset");
    k.send_lines(8, &format!("REPLCONF ACK {end}"));
    k.advance_ms(1);
    assert!(info(&mut k, 0, "slave0").contains(&format!("offset={end}")));
    let replid = info(&mut k, 0, "master_replid");
    assert_eq!(run(&mut k, 0, "REPLICAOF 127.0.0.1 6380"), "+OK\r\n");
    for _ in 0..5 {
        k.advance_ms(100);
    }
    let (files, ops) = answer_disk(&mut k, 0);
    assert_eq!(files.len(), 1, "{ops:?}");
    assert_eq!(files[0].0, format!("rollback-{replid}-{synced_at}.resp"));
    let want = [
        crate::resp::encode_request(&["SELECT", "0"]),
        crate::resp::encode_request(&["SET", "lost", "1"]),
    ]
    .concat();
    assert_eq!(
        String::from_utf8_lossy(&files[0].1),
        String::from_utf8_lossy(&want)
    );
}

/// With a second replica: after the hand-over it stays on the old master, now a
/// replica of the target (a chain, as Redis 7.0 keeps it), and every node ends with
/// the new master's data.
#[test]
fn a_second_replica_follows_through_the_old_master() {
    let mut k = pair(3);
    assert_eq!(
        run(&mut k, 2, "CONFIG SET replica-announce-port 6381"),
        "+OK\r\n"
    );
    assert_eq!(run(&mut k, 2, "REPLICAOF 127.0.0.1 6379"), "+OK\r\n");
    for _ in 0..25 {
        k.advance_ms(100);
    }
    assert_eq!(info(&mut k, 2, "master_link_status"), "up");
    assert_eq!(run(&mut k, 0, "FAILOVER TO 127.0.0.1 6380"), "+OK\r\n");
    k.advance_ms(1100);
    assert_eq!(info(&mut k, 1, "role"), "master");
    assert_eq!(info(&mut k, 0, "master_port"), "6380");
    assert_eq!(run(&mut k, 1, "SET after 1"), "+OK\r\n");
    for _ in 0..30 {
        k.advance_ms(100);
    }
    let digest = |k: &mut Kit, i| run(k, i, "DEBUG DIGEST");
    let d1 = digest(&mut k, 1);
    assert_eq!(digest(&mut k, 0), d1);
    assert_eq!(digest(&mut k, 2), d1);
    assert_eq!(run(&mut k, 2, "GET after"), "$1\r\n1\r\n");
}

const NOREPLICAS: &str = "-NOREPLICAS Not enough good replicas to write.\r\n";

/// `min-replicas-to-write` on a promoted master: the node promoted by REPLICAOF NO
/// ONE has no replica yet and refuses writes, then takes them once the old master
/// follows it and ACKs.
fn promoted_master_under_min_replicas(mutant: Option<crate::mutants::Mutant>) -> String {
    let mut k = pair(2);
    #[cfg(feature = "mutants")]
    k.nodes[1].set_mutant(mutant);
    #[cfg(not(feature = "mutants"))]
    let _ = mutant;
    for node in 0..2 {
        assert_eq!(
            run(&mut k, node, "CONFIG SET min-replicas-to-write 1"),
            "+OK\r\n"
        );
    }
    k.advance_ms(1100);
    assert_eq!(run(&mut k, 0, "SET b 1"), "+OK\r\n");
    assert_eq!(run(&mut k, 1, "REPLICAOF NO ONE"), "+OK\r\n");
    let promoted_alone = run(&mut k, 1, "SET c 1");
    if mutant.is_none() {
        assert_eq!(run(&mut k, 0, "REPLICAOF 127.0.0.1 6380"), "+OK\r\n");
        for _ in 0..25 {
            k.advance_ms(100);
        }
        assert_eq!(info(&mut k, 0, "master_link_status"), "up");
        assert_eq!(
            run(&mut k, 1, "SET c 2"),
            "+OK\r\n",
            "node 0 follows and ACKs"
        );
    }
    promoted_alone
}

#[test]
fn a_promoted_master_refuses_writes_without_good_replicas() {
    assert_eq!(promoted_master_under_min_replicas(None), NOREPLICAS);
}

#[cfg(feature = "mutants")]
#[test]
fn min_replicas_off_after_promotion_takes_the_write() {
    let m = crate::mutants::Mutant::MinReplicasOffAfterPromotion;
    assert_eq!(promoted_master_under_min_replicas(Some(m)), "+OK\r\n");
}
