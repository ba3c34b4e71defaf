//! Chained replicas over the kit's in-memory links: node 0 is the top master, node 1
//! its replica, node 2 node 1's replica (a sub-replica). The middle serves PSYNC/SYNC
//! from its own backlog and snapshot, relays its master's bytes verbatim, and
//! disconnects its replicas when its history changes, as Redis 7.0's.

use crate::testkit::{Kit, START};

const CONF: &str = "repl-diskless-sync-delay 0\n";
/// The client connection every node's test client uses.
const C: u64 = 1;

fn chain(n: usize) -> Kit {
    let mut k = Kit::with_nodes(n, CONF, START);
    for i in 0..n {
        k.connect_on(i, C);
    }
    k
}

fn run(k: &mut Kit, i: usize, args: &[&str]) -> String {
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    String::from_utf8_lossy(&k.cmd_on(i, C, &args)).into_owned()
}

/// Node `replica` follows node `master`.
fn replicaof(k: &mut Kit, replica: usize, master: usize) {
    let addr = Kit::addr_of(master);
    let (host, port) = addr.split_once(':').unwrap();
    assert_eq!(run(k, replica, &["REPLICAOF", host, port]), "+OK\r\n");
}

/// Lets links connect, syncs finish and ACKs flow.
fn settle(k: &mut Kit) {
    for _ in 0..30 {
        k.advance_ms(100);
    }
}

fn info(k: &mut Kit, i: usize, field: &str) -> String {
    let text = run(k, i, &["INFO", "all"]);
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .unwrap_or_else(|| panic!("node {i}: no {field} in {text}"))
        .trim()
        .to_string()
}

fn digest(k: &mut Kit, i: usize) -> String {
    run(k, i, &["DEBUG", "DIGEST"])
}

/// Node 0 → node 1 → node 2, synced, with some data written on the top.
fn synced_chain() -> Kit {
    let mut k = chain(3);
    run(&mut k, 0, &["SET", "before", "1"]);
    replicaof(&mut k, 1, 0);
    settle(&mut k);
    replicaof(&mut k, 2, 1);
    settle(&mut k);
    k
}

/// Writes in two databases, a transaction, and a PING period's worth of time.
fn write_load(k: &mut Kit) {
    run(k, 0, &["SET", "a", "1"]);
    run(k, 0, &["RPUSH", "l", "x", "y", "z"]);
    run(k, 0, &["SELECT", "3"]);
    run(k, 0, &["HSET", "h", "f", "v"]);
    run(k, 0, &["MULTI"]);
    run(k, 0, &["INCR", "n"]);
    run(k, 0, &["SADD", "s", "m"]);
    assert_eq!(run(k, 0, &["EXEC"]), "*2\r\n:1\r\n:1\r\n");
    // 11 s: the top's PING (repl-ping-replica-period 10) goes down the chain.
    for _ in 0..110 {
        k.advance_ms(100);
    }
    run(k, 0, &["SET", "b", "2"]);
    run(k, 0, &["SELECT", "0"]);
    settle(k);
}

fn assert_chain_equal(k: &mut Kit) {
    let d0 = digest(k, 0);
    assert_eq!(d0, digest(k, 1), "middle's digest");
    assert_eq!(d0, digest(k, 2), "sub-replica's digest");
    let o0 = info(k, 0, "master_repl_offset");
    assert_eq!(o0, info(k, 1, "master_repl_offset"), "middle's offset");
    assert_eq!(o0, info(k, 2, "master_repl_offset"), "sub-replica's offset");
    assert_eq!(o0, info(k, 2, "slave_repl_offset"));
    let id0 = info(k, 0, "master_replid");
    assert_eq!(id0, info(k, 1, "master_replid"));
    assert_eq!(id0, info(k, 2, "master_replid"));
}

#[test]
fn a_replica_full_syncs_its_own_replica_and_relays_the_stream() {
    let mut k = synced_chain();
    assert_eq!(info(&mut k, 1, "role"), "slave");
    assert_eq!(info(&mut k, 1, "master_link_status"), "up");
    assert_eq!(info(&mut k, 1, "connected_slaves"), "1");
    let slave0 = info(&mut k, 1, "slave0");
    assert!(
        slave0.starts_with("ip=127.0.0.1,port=6379,state=online,"),
        "{slave0}"
    );
    assert_eq!(info(&mut k, 2, "master_link_status"), "up");
    assert_eq!(info(&mut k, 2, "master_port"), "6380");
    // The sub-replica was labelled with the top's history at the middle's offset.
    assert_eq!(info(&mut k, 1, "sync_full"), "1");
    assert_eq!(info(&mut k, 1, "repl_backlog_active"), "1");
    assert_chain_equal(&mut k);
    write_load(&mut k);
    assert_chain_equal(&mut k);
    run(&mut k, 2, &["SELECT", "3"]);
    assert_eq!(run(&mut k, 2, &["SMEMBERS", "s"]), "*1\r\n$1\r\nm\r\n");
    // Writes are refused at the middle, WAIT too.
    assert!(run(&mut k, 1, &["SET", "x", "1"]).starts_with("-READONLY"));
    assert!(run(&mut k, 1, &["WAIT", "1", "0"]).starts_with("-ERR WAIT cannot be used"));
}

/// A full sync from a middle whose master's stream has another database selected:
/// the RDB's `repl-stream-db` tells the sub-replica where the stream continues.
#[test]
fn a_sub_replica_starts_in_the_database_the_stream_selected() {
    let mut k = chain(3);
    replicaof(&mut k, 1, 0);
    settle(&mut k);
    run(&mut k, 0, &["SELECT", "5"]);
    run(&mut k, 0, &["SET", "k", "1"]);
    settle(&mut k);
    replicaof(&mut k, 2, 1);
    settle(&mut k);
    // No SELECT comes again from the top: the sub must already be in database 5.
    run(&mut k, 0, &["SET", "k2", "2"]);
    settle(&mut k);
    run(&mut k, 2, &["SELECT", "5"]);
    assert_eq!(run(&mut k, 2, &["GET", "k2"]), "$1\r\n2\r\n");
    assert_chain_equal(&mut k);
}

#[test]
fn a_replica_without_its_link_refuses_sync() {
    let mut k = chain(2);
    // Nobody listens at node 9's address: the link never comes up.
    let addr = Kit::addr_of(9);
    let (host, port) = addr.split_once(':').unwrap();
    run(&mut k, 1, &["REPLICAOF", host, port]);
    settle(&mut k);
    k.connect_on(1, 7);
    assert_eq!(
        String::from_utf8_lossy(&k.cmd_on(1, 7, &[b"PSYNC", b"?", b"-1"])),
        "-NOMASTERLINK Can't SYNC while not connected with my master\r\n"
    );
}

#[test]
fn a_sub_replica_continues_from_the_middles_backlog() {
    let mut k = synced_chain();
    write_load(&mut k);
    assert_eq!(
        run(&mut k, 1, &["CLIENT", "KILL", "TYPE", "replica"]),
        ":1\r\n"
    );
    run(&mut k, 0, &["SET", "while-down", "1"]);
    settle(&mut k);
    assert_eq!(info(&mut k, 1, "sync_full"), "1");
    assert_eq!(info(&mut k, 1, "sync_partial_ok"), "1");
    assert_eq!(run(&mut k, 2, &["GET", "while-down"]), "$1\r\n1\r\n");
    assert_chain_equal(&mut k);
}

#[test]
fn the_middles_upstream_link_lost_then_continued_keeps_its_replicas() {
    let mut k = synced_chain();
    write_load(&mut k);
    let list = run(&mut k, 1, &["CLIENT", "LIST"]);
    let id = list
        .lines()
        .find(|l| l.contains("flags=M"))
        .and_then(|l| l.split(' ').next())
        .and_then(|w| w.strip_prefix("id="))
        .expect("a master client")
        .to_string();
    assert_eq!(run(&mut k, 1, &["CLIENT", "KILL", "ID", &id]), ":1\r\n");
    run(&mut k, 0, &["SET", "after", "1"]);
    settle(&mut k);
    assert_eq!(info(&mut k, 0, "sync_partial_ok"), "1");
    assert_eq!(info(&mut k, 0, "sync_full"), "1");
    // The sub-replica never noticed: no new sync of any kind at the middle.
    assert_eq!(info(&mut k, 1, "sync_full"), "1");
    assert_eq!(info(&mut k, 1, "sync_partial_ok"), "0");
    assert_eq!(info(&mut k, 1, "connected_slaves"), "1");
    assert_eq!(run(&mut k, 2, &["GET", "after"]), "$1\r\n1\r\n");
    assert_chain_equal(&mut k);
}

#[test]
fn a_middle_full_resync_disconnects_its_replicas() {
    let mut k = chain(5);
    // Node 3's history runs further than node 0's (node 4 follows it while it is
    // written), so the sub-replica's ACKs look plausible to the middle afterwards:
    // only the disconnect makes it sync again.
    replicaof(&mut k, 4, 3);
    settle(&mut k);
    for i in 0..50 {
        run(
            &mut k,
            3,
            &["SET", &format!("filler{i}"), "some longer value here"],
        );
    }
    run(&mut k, 3, &["SET", "other", "history"]);
    settle(&mut k);
    replicaof(&mut k, 1, 0);
    settle(&mut k);
    replicaof(&mut k, 2, 1);
    settle(&mut k);
    run(&mut k, 0, &["SET", "a", "1"]);
    settle(&mut k);
    let closed_before = k.closed.iter().filter(|(n, _)| *n == 1).count();
    // The middle follows node 3 now: a new history, a full sync.
    replicaof(&mut k, 1, 3);
    settle(&mut k);
    let closed_after = k.closed.iter().filter(|(n, _)| *n == 1).count();
    assert!(
        closed_after >= closed_before + 2,
        "the old master link and the sub-replica's link are closed"
    );
    assert_eq!(
        info(&mut k, 1, "sync_full"),
        "2",
        "the sub-replica synced again"
    );
    assert_eq!(run(&mut k, 2, &["GET", "other"]), "$7\r\nhistory\r\n");
    assert_eq!(run(&mut k, 2, &["GET", "a"]), "$-1\r\n");
    let d3 = digest(&mut k, 3);
    assert_eq!(d3, digest(&mut k, 1));
    assert_eq!(d3, digest(&mut k, 2));
    let id3 = info(&mut k, 3, "master_replid");
    assert_eq!(id3, info(&mut k, 2, "master_replid"));
    run(&mut k, 3, &["SET", "more", "1"]);
    settle(&mut k);
    assert_eq!(run(&mut k, 2, &["GET", "more"]), "$1\r\n1\r\n");
    let o3 = info(&mut k, 3, "master_repl_offset");
    assert_eq!(o3, info(&mut k, 2, "master_repl_offset"));
}

#[test]
fn a_promoted_middle_keeps_its_replicas_with_a_partial_resync() {
    let mut k = synced_chain();
    write_load(&mut k);
    let old_id = info(&mut k, 1, "master_replid");
    assert_eq!(run(&mut k, 1, &["REPLICAOF", "NO", "ONE"]), "+OK\r\n");
    settle(&mut k);
    assert_eq!(info(&mut k, 1, "role"), "master");
    assert_eq!(info(&mut k, 1, "master_replid2"), old_id);
    assert_eq!(info(&mut k, 1, "connected_slaves"), "1");
    assert_eq!(info(&mut k, 1, "sync_full"), "1");
    assert_eq!(info(&mut k, 1, "sync_partial_ok"), "1");
    run(&mut k, 1, &["SELECT", "3"]);
    run(&mut k, 1, &["SET", "promoted", "yes"]);
    settle(&mut k);
    run(&mut k, 2, &["SELECT", "3"]);
    assert_eq!(run(&mut k, 2, &["GET", "promoted"]), "$3\r\nyes\r\n");
    assert_eq!(digest(&mut k, 1), digest(&mut k, 2));
    let id1 = info(&mut k, 1, "master_replid");
    assert_eq!(id1, info(&mut k, 2, "master_replid"));
    assert_eq!(
        info(&mut k, 1, "master_repl_offset"),
        info(&mut k, 2, "master_repl_offset")
    );
}

#[cfg(feature = "mutants")]
#[test]
fn mutant_chain_relay_reencodes_is_caught() {
    let mut k = synced_chain();
    k.nodes[1].set_mutant(Some(crate::mutants::Mutant::ChainRelayReencodes));
    write_load(&mut k);
    // The checks of `assert_chain_equal` fail: the sub-replica is behind.
    assert_eq!(digest(&mut k, 0), digest(&mut k, 2));
    let o1: u64 = info(&mut k, 1, "master_repl_offset").parse().unwrap();
    let o2: u64 = info(&mut k, 2, "master_repl_offset").parse().unwrap();
    assert!(o2 < o1, "offsets drift: middle {o1}, sub-replica {o2}");
}

/// The middle's master changes its id and the middle continues (`+CONTINUE <new
/// id>`): its replicas are disconnected to learn the id, and they continue too,
/// with the old id as the middle's replid2 (Redis 7.0's
/// slaveTryPartialResynchronization).
#[test]
fn a_middle_continuing_a_new_history_passes_it_down_with_partial_resyncs() {
    let mut k = chain(4);
    replicaof(&mut k, 1, 0);
    replicaof(&mut k, 3, 0);
    settle(&mut k);
    replicaof(&mut k, 2, 1);
    settle(&mut k);
    write_load(&mut k);
    let old_id = info(&mut k, 0, "master_replid");
    // Node 3, a sibling of the middle, is promoted; the middle follows it.
    assert_eq!(run(&mut k, 3, &["REPLICAOF", "NO", "ONE"]), "+OK\r\n");
    settle(&mut k);
    let new_id = info(&mut k, 3, "master_replid");
    assert_ne!(new_id, old_id);
    replicaof(&mut k, 1, 3);
    settle(&mut k);
    assert_eq!(
        info(&mut k, 3, "sync_partial_ok"),
        "1",
        "the middle continued"
    );
    assert_eq!(info(&mut k, 3, "sync_full"), "0");
    assert_eq!(info(&mut k, 1, "master_replid"), new_id);
    assert_eq!(info(&mut k, 1, "master_replid2"), old_id);
    assert_eq!(info(&mut k, 1, "sync_full"), "1", "no new full sync below");
    assert_eq!(info(&mut k, 1, "sync_partial_ok"), "1", "the sub continued");
    assert_eq!(info(&mut k, 2, "master_replid"), new_id);
    run(&mut k, 3, &["SET", "from-new-top", "1"]);
    settle(&mut k);
    assert_eq!(run(&mut k, 2, &["GET", "from-new-top"]), "$1\r\n1\r\n");
    let o3 = info(&mut k, 3, "master_repl_offset");
    assert_eq!(o3, info(&mut k, 1, "master_repl_offset"));
    assert_eq!(o3, info(&mut k, 2, "master_repl_offset"));
    let d3 = digest(&mut k, 3);
    assert_eq!(d3, digest(&mut k, 1));
    assert_eq!(d3, digest(&mut k, 2));
}

/// A raw replica on `node` (`conn`): REPLCONF, `PSYNC ? -1`, the whole full sync
/// read, then its first ACK; returns the offset of its `+FULLRESYNC`.
fn raw_replica(k: &mut Kit, node: usize, conn: u64) -> u64 {
    k.connect_on(node, conn);
    let ok = k.cmd_on(
        node,
        conn,
        &[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"],
    );
    assert_eq!(ok, b"+OK\r\n");
    k.input(
        node,
        crate::io::Input::Data {
            conn,
            bytes: &crate::resp::encode_request(&["PSYNC", "?", "-1"]),
        },
    );
    settle(k);
    let sync = String::from_utf8_lossy(&k.take_bytes_on(node, conn)).into_owned();
    let line = sync.split("\r\n").next().unwrap_or_default().to_string();
    let words: Vec<&str> = line.split(' ').collect();
    assert_eq!(words[0], "+FULLRESYNC", "{line}");
    let offset: u64 = words[2].parse().unwrap();
    let ack = crate::resp::encode_request(&["REPLCONF", "ACK", words[2]]);
    k.input(node, crate::io::Input::Data { conn, bytes: &ack });
    offset
}

/// The middle's replicas get the top's stream byte for byte: the same bytes a raw
/// replica of the top gets, PINGs, GETACKs, SELECTs and transactions included.
#[test]
fn the_relay_is_byte_for_byte_the_masters_stream() {
    let mut k = synced_chain();
    let at_top = raw_replica(&mut k, 0, 9);
    let at_middle = raw_replica(&mut k, 1, 9);
    assert_eq!(at_top, at_middle, "both start at the same offset");
    write_load(&mut k);
    k.connect_on(0, 2);
    assert_eq!(k.cmd_on(0, 2, &[b"SET", b"w", b"1"]), b"+OK\r\n");
    k.cmd_on(0, 2, &[b"WAIT", b"1", b"100"]);
    settle(&mut k);
    let from_top = k.take_bytes_on(0, 9);
    let from_middle = k.take_bytes_on(1, 9);
    let text = String::from_utf8_lossy(&from_top).into_owned();
    assert!(text.contains("PING") && text.contains("GETACK"), "{text}");
    assert!(text.contains("MULTI") && text.contains("SELECT"), "{text}");
    assert_eq!(
        String::from_utf8_lossy(&from_middle),
        text,
        "the middle relays exactly what the top sent"
    );
    assert_chain_equal(&mut k);
}

/// After a diskless (EOF-marked) full sync the replica ACKs at once, as Redis 7.0's
/// readSyncBulkPayload does, so the master streams to it at once instead of holding
/// the stream until the replica's cron ACKs a second later (simulator seed
/// repl-promote-rejoin: a replica promoted in that second had none of the writes).
#[test]
fn a_diskless_full_sync_acks_at_once_and_the_stream_flows() {
    let mut k = chain(2);
    replicaof(&mut k, 1, 0);
    let mut waited_ms = 0;
    while info(&mut k, 1, "master_link_status") != "up" {
        k.advance_ms(10);
        waited_ms += 10;
        assert!(waited_ms < 2_000, "no sync in {waited_ms} ms");
    }
    k.advance_ms(10);
    let slave0 = info(&mut k, 0, "slave0");
    assert!(slave0.contains("state=online"), "{slave0}");
    run(&mut k, 0, &["SET", "k", "v"]);
    k.advance_ms(20);
    assert_eq!(run(&mut k, 1, &["GET", "k"]), "$1\r\nv\r\n");
    assert_eq!(
        info(&mut k, 1, "master_repl_offset"),
        info(&mut k, 0, "master_repl_offset")
    );
}
