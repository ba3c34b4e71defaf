//! The node's master side of replication: it feeds the propagation stream into the
//! backlog and the replicas, serves full syncs from the fork-less snapshot (the RDB
//! streamed to the replica's connection, EOF-marked for replicas that said
//! `capa eof`, `$<len>` otherwise), pings replicas, drops the silent ones, and answers
//! WAIT. The state is `Server::repl_master` (`crate::repl::master`); this file moves
//! bytes. Bounded: a replica's pending output obeys `client-output-buffer-limit
//! replica`, and the walk pauses while a replica's socket has not taken what it got.

use rand::RngCore;

use crate::client::{arm_output_limit, Client};
use crate::io::{ConnId, Effect, LogLevel, Now};
use crate::keyspace::Garbage;
use crate::persist::rdb::RdbOptions;
use crate::persist::save::RdbSink;
use crate::persist::snapshot::{AccessMeta, SliceBudget, Snapshot};
use crate::repl::master::{LinkState, ReplicaLink};

use super::Node;

/// Slices the sync walk takes per node step.
const WALK_SLICES_PER_STEP: usize = 4;
/// A replica whose driver holds more than this of its output pauses the walk.
const WALK_MAX_UNWRITTEN_BYTES: usize = 8 << 20;
/// Redis's `replicationCron` period.
const CRON_PERIOD_MS: u64 = 1000;
/// Redis's `RDB_EOF_MARK_SIZE`.
const EOF_MARK_BYTES: usize = 40;

/// A running full sync: the snapshot walk and who gets it.
pub(super) struct SyncWalk {
    snapshot: Snapshot,
    /// Replicas that read the EOF-marked form: the RDB is streamed as it is walked.
    streamed: Vec<ConnId>,
    /// Replicas that need `$<len>`: the RDB is kept until its length is known
    /// (bounded by their output-buffer limit, as Redis bounds what it holds).
    buffered: Vec<ConnId>,
    rdb: Vec<u8>,
    mark: String,
}

/// The node's replication part (the state commands see is `Server::repl_master`).
#[derive(Default)]
pub(super) struct ReplMaster {
    pub(super) walk: Option<SyncWalk>,
    next_cron_mono_ms: u64,
    ping_loops: u64,
    /// The node was a replica at the last look: its stream is its master's,
    /// relayed (`repl_role_changed`).
    was_replica: bool,
}

impl Node {
    /// After every input: the stream, the syncs, WAIT.
    pub(super) fn repl_master_step(&mut self, now: Now) {
        let m = &self.server.repl_master;
        if m.backlog.is_none() && m.replicas.is_empty() && m.conf.is_empty() {
            return;
        }
        self.repl_prune(now);
        let server = &mut self.server;
        server
            .repl_master
            .feed(&mut server.propagation, &mut server.repl);
        for (conn, bytes) in std::mem::take(&mut self.server.repl_master.new_continues) {
            self.send_to_replica(now, conn, bytes);
        }
        self.repl_distribute(now);
        self.repl_release_held(now);
        self.repl_start_walk_if_due(now);
        self.repl_walk_step(now);
        if now.mono_ms >= self.repl.next_cron_mono_ms {
            self.repl.next_cron_mono_ms = now.mono_ms + CRON_PERIOD_MS;
            self.repl_cron(now);
        }
        self.repl_serve_waiters(now);
        if std::mem::take(&mut self.server.repl_master.getack_requested)
            && !self.server.replica.is_replica()
        {
            let server = &mut self.server;
            server
                .repl_master
                .feed_command(&mut server.repl, &[b"REPLCONF", b"GETACK", b"*"]);
            self.repl_distribute(now);
        }
    }

    /// The node became a replica, or a master again (REPLICAOF). A replica's stream
    /// is its master's, relayed byte for byte: its own propagation stops feeding the
    /// backlog, while its replicas stay (Redis 7.0's replicationSetMaster keeps them;
    /// they are disconnected only when the history changes). A promoted replica's
    /// own writes feed the stream again, starting with a SELECT; its replicas were
    /// asked to go by the promotion (`MasterState::ask_disconnect_replicas`).
    pub(super) fn repl_role_changed(&mut self, now: Now) {
        self.repl_disconnect_asked();
        let is_replica = self.server.replica.is_replica();
        if is_replica == self.repl.was_replica {
            return;
        }
        self.repl.was_replica = is_replica;
        if is_replica {
            // A demoted master: what its new master may lack is cut from the backlog
            // now, for the rollback file if the sync turns out full (invariant 17).
            self.rollback_take_cut();
        }
        let server = &mut self.server;
        if is_replica {
            // What the node wrote as a master is in the stream before it stops.
            server
                .repl_master
                .feed(&mut server.propagation, &mut server.repl);
            server.propagation.set_repl(false);
            self.repl_distribute(now);
        } else {
            server.repl_master.pending_promotion_reset();
            if server.repl_master.backlog.is_some() {
                server.propagation.set_repl(true);
            }
            server.repl_master.no_replicas_since_mono_ms = Some(now.mono_ms);
        }
    }

    /// Closes the replica links a command asked to close (a promotion: they
    /// reconnect, learn the new id and continue with a partial resync, Redis's
    /// replicationUnsetMaster).
    fn repl_disconnect_asked(&mut self) {
        for conn in std::mem::take(&mut self.server.repl_master.disconnect_asked) {
            let Some(name) = self
                .server
                .repl_master
                .replicas
                .get(&conn)
                .map(ReplicaLink::name)
            else {
                continue;
            };
            if let Some(mut client) = self.clients.table.remove(&conn) {
                self.clients.forget(&mut client);
            }
            self.server.effects.push_back(Effect::Close { conn });
            self.repl_forget_link(conn, &name);
        }
    }

    /// Whether the sync walk wants the node called again at once.
    pub(super) fn repl_wants_step(&self) -> bool {
        self.repl.walk.as_ref().is_some_and(|w| {
            !w.snapshot.is_finished()
                && w.streamed.iter().all(|c| {
                    self.clients
                        .table
                        .get(c)
                        .is_none_or(|cl| cl.unwritten_bytes < WALK_MAX_UNWRITTEN_BYTES)
                })
        })
    }

    /// Forgets links, REPLCONF options and waiters whose client went away.
    fn repl_prune(&mut self, _now: Now) {
        let table = &self.clients.table;
        let alive = |conn: &ConnId, id: u64| table.get(conn).is_some_and(|c| c.id == id);
        let m = &mut self.server.repl_master;
        let gone: Vec<ReplicaLink> = m
            .replicas
            .values()
            .filter(|l| !alive(&l.conn, l.client_id))
            .cloned()
            .collect();
        m.conf.retain(|conn, _| table.get(conn).is_some());
        m.waiters.retain(|w| {
            table
                .get(&w.conn)
                .is_some_and(|c| c.id == w.client_id && c.blocked)
        });
        for link in gone {
            self.repl_forget_link(link.conn, &link.name());
        }
    }

    /// Drops a link from the replica table (its client is gone or going).
    pub(super) fn repl_forget_link(&mut self, conn: ConnId, name: &str) {
        let m = &mut self.server.repl_master;
        if m.replicas.remove(&conn).is_none() {
            return;
        }
        self.server.log(
            LogLevel::Notice,
            format!("Connection with replica {name} lost."),
        );
        if self.server.repl_master.replicas.is_empty() {
            self.server.repl_master.no_replicas_since_mono_ms = Some(self.last_now.mono_ms);
        }
        if let Some(walk) = self.repl.walk.as_mut() {
            walk.streamed.retain(|c| *c != conn);
            walk.buffered.retain(|c| *c != conn);
            if walk.streamed.is_empty() && walk.buffered.is_empty() {
                self.server.log(
                    LogLevel::Warning,
                    "Diskless rdb transfer, last replica dropped, killing fork child.".into(),
                );
                self.repl_end_walk();
            }
        }
        self.repl_refresh_good(self.last_now);
    }

    /// Redis's `refreshGoodSlavesCount`.
    fn repl_refresh_good(&mut self, now: Now) {
        let server = &mut self.server;
        let max_lag_secs = server.config.settings().min_replicas_max_lag_secs;
        server
            .repl_master
            .refresh_good(now, max_lag_secs, &server.mutants);
    }

    /// Hands `bytes` to a replica's connection; false (and the link dropped with
    /// Redis's log line) when its output goes over `client-output-buffer-limit
    /// replica`.
    fn send_to_replica(&mut self, now: Now, conn: ConnId, bytes: Vec<u8>) -> bool {
        if bytes.is_empty() {
            return true;
        }
        let Some(mut client) = self.clients.table.remove(&conn) else {
            return false;
        };
        let len = bytes.len();
        client.unwritten_bytes = client.unwritten_bytes.saturating_add(len);
        self.server.repl_master.repl_output_bytes += len as u64;
        self.server.effects.push_back(Effect::Send { conn, bytes });
        if self.output_over_limit(&mut client, now) {
            self.repl_drop_over_limit(now, client);
            return false;
        }
        arm_output_limit(&self.server.hot.output_limits, &mut client);
        self.clients.table.insert(conn, client);
        true
    }

    /// A replica over its output limit: closed at once, as Redis's
    /// `closeClientOnOutputBufferLimitReached`.
    fn repl_drop_over_limit(&mut self, now: Now, mut client: Client) {
        let conn = client.conn;
        let line = client.info_line(now.mono_ms);
        self.server.log(
            LogLevel::Warning,
            format!(
                "Client {line} scheduled to be closed ASAP for overcoming of output buffer limits."
            ),
        );
        let name = self
            .server
            .repl_master
            .replicas
            .get(&conn)
            .map(ReplicaLink::name)
            .unwrap_or_default();
        client.out.discard();
        self.clients.forget(&mut client);
        self.server.effects.push_back(Effect::Abort { conn });
        self.repl_forget_link(conn, &name);
    }

    /// Hands the stream encoded since the last call to every replica: sent to the
    /// online ones, held for those still syncing.
    fn repl_distribute(&mut self, now: Now) {
        let m = &mut self.server.repl_master;
        if m.unsent.is_empty() {
            return;
        }
        let unsent = std::mem::take(&mut m.unsent);
        let end = self.server.repl.master_repl_offset;
        let first = end.saturating_sub(unsent.len() as u64) + 1;
        let hard_limit = self
            .server
            .hot
            .output_limits
            .get(1)
            .map_or(0, |l| l.hard_limit_bytes);
        let mut sends: Vec<(ConnId, Vec<u8>)> = Vec::new();
        let mut over: Vec<ConnId> = Vec::new();
        for link in self.server.repl_master.replicas.values_mut() {
            if link.state == LinkState::WaitSnapshot || link.stream_offset >= end {
                continue;
            }
            let from = link.stream_offset.max(first - 1) + 1;
            let skip = usize::try_from(from - first).unwrap_or(usize::MAX);
            let part = unsent.get(skip..).unwrap_or_default();
            link.stream_offset = end;
            // Bytes still held (an ACK that let the link go arrived in this step, and
            // `repl_release_held` has not sent them yet) go first: sending the new
            // part now would put it ahead of them (the simulator's replication seed
            // 0x11: equal offsets, different data).
            if link.state == LinkState::Online && !link.hold_until_ack && link.held.is_empty() {
                sends.push((link.conn, part.to_vec()));
            } else {
                link.held.extend_from_slice(part);
                if hard_limit > 0 && link.held.len() as u64 >= hard_limit {
                    over.push(link.conn);
                }
            }
        }
        for (conn, bytes) in sends {
            self.send_to_replica(now, conn, bytes);
        }
        for conn in over {
            if let Some(client) = self.clients.table.remove(&conn) {
                self.repl_drop_over_limit(now, client);
            }
        }
    }

    /// Sends what was held for replicas that came online (and ACKed, after an
    /// EOF-marked transfer).
    fn repl_release_held(&mut self, now: Now) {
        let ready: Vec<(ConnId, Vec<u8>)> = self
            .server
            .repl_master
            .replicas
            .values_mut()
            .filter(|l| l.state == LinkState::Online && !l.hold_until_ack && !l.held.is_empty())
            .map(|l| (l.conn, std::mem::take(&mut l.held)))
            .collect();
        for (conn, bytes) in ready {
            self.send_to_replica(now, conn, bytes);
        }
    }

    /// Redis's `replicationCron`, once a second: PING in the stream every
    /// `repl-ping-replica-period`, a newline to replicas waiting for their snapshot,
    /// timeouts, the good-replica count, the backlog's TTL.
    fn repl_cron(&mut self, now: Now) {
        let s = self.server.config.settings();
        let period = s.repl_ping_replica_period_secs.max(1);
        let timeout_ms = s.repl_timeout_secs.saturating_mul(1000);
        let ttl_ms = s.repl_backlog_ttl_secs.saturating_mul(1000);
        // No PING while a FAILOVER with a timeout holds writes: it would move the
        // offset the replicas must reach (Redis's replicationCron skips it too). A
        // replica relays its master's PINGs instead (Redis's replicationFeedSlaves
        // returns at once on a replica).
        let failover_pause =
            self.server.failover.end_mono_ms.is_some() && self.server.pause.is_some();
        let relaying = self.server.replica.is_replica();
        if self.repl.ping_loops.is_multiple_of(period)
            && !self.server.repl_master.replicas.is_empty()
            && !failover_pause
            && !relaying
        {
            let server = &mut self.server;
            server
                .repl_master
                .feed_command(&mut server.repl, &[b"PING"]);
            self.repl_distribute(now);
        }
        self.repl.ping_loops += 1;
        let waiting: Vec<ConnId> = self
            .server
            .repl_master
            .replicas
            .values()
            .filter(|l| l.state == LinkState::WaitSnapshot)
            .map(|l| l.conn)
            .collect();
        for conn in waiting {
            self.send_to_replica(now, conn, b"\n".to_vec());
        }
        let timed_out: Vec<(ConnId, String)> = self
            .server
            .repl_master
            .replicas
            .values()
            .filter(|l| l.state == LinkState::Online && !l.pre_psync)
            .filter(|l| now.mono_ms.saturating_sub(l.ack_mono_ms) > timeout_ms)
            .map(|l| (l.conn, l.name()))
            .collect();
        for (conn, name) in timed_out {
            self.server.log(
                LogLevel::Warning,
                format!("Disconnecting timedout replica (streaming sync): {name}"),
            );
            if let Some(mut client) = self.clients.table.remove(&conn) {
                self.clients.forget(&mut client);
            }
            self.server.effects.push_back(Effect::Close { conn });
            self.repl_forget_link(conn, &name);
        }
        self.repl_refresh_good(now);
        let m = &mut self.server.repl_master;
        if relaying {
            // A replica keeps its backlog (Redis frees it only on a master).
        } else if !m.replicas.is_empty() {
            m.no_replicas_since_mono_ms = None;
        } else if let (Some(since), true) = (m.no_replicas_since_mono_ms, m.backlog.is_some()) {
            if ttl_ms > 0 && now.mono_ms.saturating_sub(since) >= ttl_ms {
                self.repl_free_backlog(ttl_ms / 1000);
            }
        } else if m.backlog.is_some() {
            m.no_replicas_since_mono_ms = Some(now.mono_ms);
        }
    }

    /// `repl-backlog-ttl` passed without replicas: the backlog goes and a new
    /// history starts (Redis changes the replication id then, so no replica can
    /// continue past bytes nobody kept).
    fn repl_free_backlog(&mut self, secs: u64) {
        let mut bytes = [0u8; 20];
        self.server.rng.fill_bytes(&mut bytes);
        let replid: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let server = &mut self.server;
        server.repl_master.backlog = None;
        server.repl_master.no_replicas_since_mono_ms = None;
        server.propagation.set_repl(false);
        server.repl.replid = replid;
        server.repl.replid2 = crate::repl::NO_REPLID.to_string();
        server.repl.second_replid_offset = -1;
        server.log(
            LogLevel::Notice,
            format!("Replication backlog freed after {secs} seconds without connected replicas."),
        );
    }

    /// Starts a snapshot for the replicas waiting for one, once no other snapshot
    /// runs and the diskless delay passed (or enough replicas wait).
    fn repl_start_walk_if_due(&mut self, now: Now) {
        if self.repl.walk.is_some()
            || self.persist.save.is_some()
            || self.aof.walk.is_some()
            || self.server.persist.bgsave_in_progress
        {
            return;
        }
        let s = self.server.config.settings();
        let (delay_ms, max_replicas) = (
            s.repl_diskless_sync_delay_secs.saturating_mul(1000),
            s.repl_diskless_sync_max_replicas,
        );
        let diskless = s.repl_diskless_sync;
        let waiting: Vec<&ReplicaLink> = self
            .server
            .repl_master
            .replicas
            .values()
            .filter(|l| l.state == LinkState::WaitSnapshot)
            .collect();
        if waiting.is_empty() {
            return;
        }
        let oldest = waiting
            .iter()
            .map(|l| l.waiting_since_mono_ms)
            .min()
            .unwrap_or(now.mono_ms);
        let all_eof = waiting.iter().all(|l| l.conf.capa_eof);
        let enough = max_replicas > 0 && waiting.len() as u64 >= max_replicas;
        if diskless && all_eof && now.mono_ms.saturating_sub(oldest) < delay_ms && !enough {
            return;
        }
        let targets: Vec<(ConnId, bool, bool)> = waiting
            .iter()
            .map(|l| (l.conn, l.conf.capa_eof, l.pre_psync))
            .collect();
        self.repl_start_walk(now, targets);
    }

    fn repl_start_walk(&mut self, now: Now, targets: Vec<(ConnId, bool, bool)>) {
        // The stream up to here is in the backlog: the snapshot is of this offset.
        let server = &mut self.server;
        server
            .repl_master
            .feed(&mut server.propagation, &mut server.repl);
        self.repl_distribute(now);
        // The stream after the snapshot starts with a SELECT (Redis resets
        // `slaveseldb`), whichever database the replica loads last.
        self.server.repl_master.encoder.reset();
        let offset = self.server.repl.master_repl_offset;
        let replid = self.server.repl.replid.clone();
        let mut mark_bytes = [0u8; EOF_MARK_BYTES / 2];
        self.server.rng.fill_bytes(&mut mark_bytes);
        let mark: String = mark_bytes.iter().map(|b| format!("{b:02x}")).collect();
        let s = self.server.config.settings();
        let opts = RdbOptions {
            compression: s.rdbcompression,
            checksum: s.rdbchecksum,
        };
        let target_word = if targets.iter().all(|t| t.1) {
            "replicas sockets"
        } else {
            "replicas sockets (and a buffer for replicas without capa eof)"
        };
        self.server.log(
            LogLevel::Notice,
            format!("Starting BGSAVE for SYNC with target: {target_word}"),
        );
        let used = self.used_memory_bytes() as i64;
        // A replica's stream is its master's, which sends no SELECT for the database
        // it has selected: the RDB says which one it is (`repl-stream-db`).
        let stream_db = match self.server.replica.is_replica() {
            true => self.server.replica.stream_db,
            false => 0,
        };
        let sink = RdbSink::new(opts, (now.wall_ms / 1000) as i64, used, replid.clone())
            .with_repl_position(offset, stream_db);
        let mut out = Vec::new();
        let snapshot = Snapshot::start(
            &mut self.keyspace,
            Box::new(sink),
            now.wall_ms,
            AccessMeta::None,
            &mut out,
        );
        let mut walk = SyncWalk {
            snapshot,
            streamed: Vec::new(),
            buffered: Vec::new(),
            rdb: Vec::new(),
            mark: mark.clone(),
        };
        self.server.persist.bgsave_in_progress = true;
        for (conn, eof, pre_psync) in targets {
            if let Some(link) = self.server.repl_master.replicas.get_mut(&conn) {
                link.state = LinkState::Transferring;
                link.snapshot_offset = offset;
                link.stream_offset = offset;
                link.held.clear();
            }
            let mut head = Vec::new();
            if !pre_psync {
                head.extend_from_slice(format!("+FULLRESYNC {replid} {offset}\r\n").as_bytes());
            }
            if eof {
                head.extend_from_slice(format!("$EOF:{mark}\r\n").as_bytes());
                walk.streamed.push(conn);
            } else {
                walk.buffered.push(conn);
            }
            self.send_to_replica(now, conn, head);
        }
        self.repl.walk = Some(walk);
        self.repl_hand_out(now, out);
    }

    /// Walks the sync's snapshot a few slices and hands out what it produced.
    fn repl_walk_step(&mut self, now: Now) {
        if !self.repl_wants_step() {
            return;
        }
        let Some(walk) = self.repl.walk.as_mut() else {
            return;
        };
        let mut garbage = Garbage::default();
        let mut out = Vec::new();
        for _ in 0..WALK_SLICES_PER_STEP {
            if walk.snapshot.step(
                &mut self.keyspace,
                SliceBudget::BACKGROUND,
                &mut out,
                &mut garbage,
            ) {
                break;
            }
        }
        let finished = walk.snapshot.is_finished();
        self.keyspace.garbage.append(garbage);
        self.repl_hand_out(now, out);
        if finished {
            self.repl_finish_walk(now);
        }
    }

    /// RDB bytes to the replicas: streamed, or kept for those that need a length.
    fn repl_hand_out(&mut self, now: Now, out: Vec<u8>) {
        if out.is_empty() {
            return;
        }
        let Some(walk) = self.repl.walk.as_mut() else {
            return;
        };
        let streamed = walk.streamed.clone();
        if !walk.buffered.is_empty() {
            walk.rdb.extend_from_slice(&out);
            let hard = self
                .server
                .hot
                .output_limits
                .get(1)
                .map_or(0, |l| l.hard_limit_bytes);
            if hard > 0 && walk.rdb.len() as u64 >= hard {
                for conn in std::mem::take(&mut walk.buffered) {
                    if let Some(client) = self.clients.table.remove(&conn) {
                        self.repl_drop_over_limit(now, client);
                    }
                }
                if let Some(w) = self.repl.walk.as_mut() {
                    w.rdb = Vec::new();
                }
            }
        }
        for conn in streamed {
            self.send_to_replica(now, conn, out.clone());
        }
    }

    /// The RDB is whole: the EOF mark (or the length and the bytes), then the
    /// replicas are online; the stream held meanwhile follows (after the first ACK
    /// for an EOF-marked transfer).
    fn repl_finish_walk(&mut self, now: Now) {
        let Some(walk) = self.repl.walk.take() else {
            return;
        };
        self.server.persist.bgsave_in_progress = false;
        for conn in walk.streamed {
            self.send_to_replica(now, conn, walk.mark.as_bytes().to_vec());
            self.repl_put_online(now, conn, true);
        }
        if !walk.buffered.is_empty() {
            let mut bulk = format!("${}\r\n", walk.rdb.len()).into_bytes();
            bulk.extend_from_slice(&walk.rdb);
            for conn in walk.buffered {
                self.send_to_replica(now, conn, bulk.clone());
                self.repl_put_online(now, conn, false);
            }
        }
        self.server.log(
            LogLevel::Notice,
            "Background RDB transfer terminated with success".into(),
        );
        self.repl_release_held(now);
    }

    fn repl_put_online(&mut self, now: Now, conn: ConnId, eof: bool) {
        let Some(link) = self.server.repl_master.replicas.get_mut(&conn) else {
            return;
        };
        link.state = LinkState::Online;
        link.ack_mono_ms = now.mono_ms;
        link.ack_wall_ms = now.wall_ms;
        // A replica reading an EOF mark must find it at the end of what it read:
        // the stream waits for its first ACK (Redis's `repl_start_cmd_stream_on_ack`;
        // `redis-cli --replica` sends `REPLCONF ACK 0` after the RDB for this reason).
        link.hold_until_ack = eof;
        let name = link.name();
        self.server.log(
            LogLevel::Notice,
            format!("Synchronization with replica {name} succeeded"),
        );
        self.repl_refresh_good(now);
    }

    /// Stops the sync walk (its replicas are gone, or a save needs the snapshot).
    pub(super) fn repl_end_walk(&mut self) {
        if let Some(walk) = self.repl.walk.take() {
            let mut garbage = Garbage::default();
            walk.snapshot.abort(&mut self.keyspace, &mut garbage);
            self.keyspace.garbage.append(garbage);
            self.server.persist.bgsave_in_progress = false;
        }
    }

    /// A save must start while a sync walks (SHUTDOWN, FLUSHALL's save): the sync
    /// gives way, its replicas are dropped and will sync again.
    pub(super) fn repl_yield_snapshot(&mut self) {
        let Some(walk) = self.repl.walk.as_ref() else {
            return;
        };
        let conns: Vec<ConnId> = walk
            .streamed
            .iter()
            .chain(&walk.buffered)
            .copied()
            .collect();
        self.repl_end_walk();
        for conn in conns {
            let name = self
                .server
                .repl_master
                .replicas
                .get(&conn)
                .map(ReplicaLink::name)
                .unwrap_or_default();
            if let Some(mut client) = self.clients.table.remove(&conn) {
                self.clients.forget(&mut client);
            }
            self.server.effects.push_back(Effect::Close { conn });
            self.repl_forget_link(conn, &name);
        }
    }

    /// Answers the WAITs whose replicas have ACKed enough.
    fn repl_serve_waiters(&mut self, _now: Now) {
        if self.server.repl_master.waiters.is_empty() {
            return;
        }
        let stale = self
            .server
            .mutants
            .is(crate::mutants::Mutant::WaitCountsStaleAck);
        let m = &self.server.repl_master;
        let (done, keep): (Vec<_>, Vec<_>) = m
            .waiters
            .iter()
            .copied()
            .partition(|w| m.count_acks(w.offset, stale) >= w.numreplicas);
        self.server.repl_master.waiters = keep;
        for w in done {
            let Some(mut client) = self.clients.table.remove(&w.conn) else {
                continue;
            };
            if client.id != w.client_id || !client.blocked {
                self.clients.table.insert(w.conn, client);
                continue;
            }
            self.reply_wait(&mut client, w.offset);
            self.finish_blocked(client);
        }
    }

    /// WAIT's reply: how many replicas ACKed `offset`.
    pub(super) fn reply_wait(&mut self, client: &mut Client, offset: u64) {
        let stale = self
            .server
            .mutants
            .is(crate::mutants::Mutant::WaitCountsStaleAck);
        let n = self.server.repl_master.count_acks(offset, stale);
        client.out.int(i64::try_from(n).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
pub(super) mod tests {
    use crate::io::{CloseReason, Effect, Input};
    use crate::persist::rdb::{LoadLimits, RdbItem, RdbReader};
    use crate::testkit::Kit;

    /// No diskless delay, so a sync starts at once.
    pub(crate) const CONF: &str = "repl-diskless-sync-delay 0\n";

    /// The keys an RDB holds, in file order.
    fn rdb_keys(rdb: &[u8]) -> Vec<String> {
        let mut r = RdbReader::new(LoadLimits::default());
        r.feed(rdb);
        r.end_of_input();
        let mut keys = Vec::new();
        loop {
            match r.next() {
                Ok(Some(RdbItem::Key { key, .. })) => {
                    keys.push(String::from_utf8_lossy(&key).into_owned())
                }
                Ok(Some(RdbItem::End)) => return keys,
                Ok(Some(_)) => {}
                other => panic!("bad rdb: {other:?}"),
            }
        }
    }

    /// What a full sync sent: (replid, offset, the RDB).
    pub(crate) struct FullSync {
        pub(crate) replid: String,
        pub(crate) offset: u64,
        pub(crate) rdb: Vec<u8>,
    }

    fn parse_full_sync(out: &[u8]) -> FullSync {
        let text = String::from_utf8_lossy(out);
        let line_end = text.find("\r\n").expect("a reply line");
        let words: Vec<&str> = text[..line_end].split(' ').collect();
        assert_eq!(words[0], "+FULLRESYNC", "{text}");
        let rest = &out[line_end + 2..];
        assert!(
            rest.starts_with(b"$EOF:"),
            "{}",
            String::from_utf8_lossy(rest)
        );
        let mark = &rest[5..45];
        let body = &rest[47..];
        assert!(body.ends_with(mark), "the RDB ends with the mark");
        FullSync {
            replid: words[1].to_string(),
            offset: words[2].parse().unwrap(),
            rdb: body[..body.len() - 40].to_vec(),
        }
    }

    /// Attaches `conn` as a replica (capa eof psync2) and runs its full sync.
    pub(crate) fn attach(k: &mut Kit, conn: u64) -> FullSync {
        k.connect(conn);
        assert_eq!(
            k.cmd(conn, "REPLCONF listening-port 6380 capa eof capa psync2"),
            "+OK\r\n"
        );
        k.send_lines(conn, "PSYNC ? -1");
        for _ in 0..10 {
            k.advance_ms(1);
        }
        parse_full_sync(&k.take_bytes_on(0, conn))
    }

    fn info_field(k: &mut Kit, conn: u64, name: &str) -> String {
        k.info_field(conn, "replication", name)
    }

    #[test]
    fn a_full_sync_sends_the_dataset_then_the_stream_after_the_first_ack() {
        let mut k = Kit::new(CONF);
        k.connect(1);
        k.send_lines(1, "SET a 1;SELECT 2;SET b 2");
        k.take(1);
        let sync = attach(&mut k, 9);
        assert_eq!(rdb_keys(&sync.rdb), vec!["a", "b"]);
        assert_eq!(sync.offset, 0);
        assert_eq!(
            k.node().repl_id(),
            sync.replid,
            "a new history with the backlog"
        );
        assert_eq!(k.cmd(1, "SET c 3"), "+OK\r\n");
        assert_eq!(k.take(9), "", "the stream waits for the first ACK");
        k.send_lines(9, "REPLCONF ACK 0");
        let stream = k.take(9);
        assert_eq!(
            stream,
            "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n"
        );
        assert_eq!(
            info_field(&mut k, 1, "master_repl_offset"),
            stream.len().to_string()
        );
        assert_eq!(k.cmd(1, "SET d 4"), "+OK\r\n");
        assert_eq!(k.take(9), "*3\r\n$3\r\nSET\r\n$1\r\nd\r\n$1\r\n4\r\n");
        let list = k.cmd(1, "CLIENT LIST TYPE replica");
        assert!(list.contains("flags=S "), "{list}");
        let memory = k.cmd(1, "INFO memory");
        assert!(
            memory.contains(&format!(
                "mem_replication_backlog:{}\r\n",
                stream.len() + 27
            )),
            "{memory}"
        );
        assert!(!memory.contains("mem_clients_slaves:0\r\n"), "{memory}");
    }

    #[test]
    fn writes_during_the_walk_reach_the_replica_through_the_stream_only() {
        let mut k = Kit::new(CONF);
        k.connect(1);
        for i in 0..3000 {
            k.send_lines(1, &format!("SET key:{i} {i}"));
        }
        k.take(1);
        k.connect(9);
        k.cmd(9, "REPLCONF capa eof capa psync2");
        k.send_lines(9, "PSYNC ? -1");
        // The walk has started; these change keys it may not have reached.
        k.send_lines(1, "DEL key:2999;SET key:0 changed;SET new 1");
        for _ in 0..20 {
            k.advance_ms(1);
        }
        let sync = parse_full_sync(&k.take_bytes_on(0, 9));
        let keys = rdb_keys(&sync.rdb);
        assert_eq!(keys.len(), 3000, "the dataset at the start");
        assert!(keys.contains(&"key:2999".to_string()) && !keys.contains(&"new".to_string()));
        k.send_lines(9, "REPLCONF ACK 0");
        let stream = k.take(9);
        assert!(
            stream.contains("key:2999") && stream.contains("changed") && stream.contains("new")
        );
    }

    #[test]
    fn psync_continues_from_the_backlog_after_a_lost_link() {
        let mut k = Kit::new(CONF);
        k.connect(1);
        let sync = attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 0");
        k.cmd(1, "SET a 1");
        let applied = k.take(9).len() as u64;
        k.input(
            0,
            Input::Closed {
                conn: 9,
                reason: CloseReason::PeerClosed,
            },
        );
        k.cmd(1, "SET b 2");
        k.cmd(1, "INCR n");
        k.connect(10);
        k.cmd(10, "REPLCONF capa eof capa psync2");
        let out = k.cmd(10, &format!("PSYNC {} {}", sync.replid, applied + 1));
        let want_tail = "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n";
        assert_eq!(out, format!("+CONTINUE {}\r\n{want_tail}", sync.replid));
        let stats = k.cmd(1, "INFO stats");
        assert!(stats.contains("sync_partial_ok:1\r\n"), "{stats}");
        assert!(stats.contains("sync_full:1\r\n"), "{stats}");
        // The link goes on from there.
        k.cmd(1, "SET c 3");
        assert_eq!(k.take(10), "*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n");
        // A wrong id, or an offset past the stream, is a full sync.
        k.connect(11);
        k.cmd(11, "REPLCONF capa eof");
        let end = info_field(&mut k, 1, "master_repl_offset");
        let out = k.cmd(11, &format!("PSYNC {} {}", "f".repeat(40), 1));
        assert!(!out.starts_with("+CONTINUE"), "{out}");
        k.connect(12);
        let past = end.parse::<u64>().unwrap() + 2;
        let out = k.cmd(12, &format!("PSYNC {} {past}", sync.replid));
        assert!(!out.starts_with("+CONTINUE"), "{out}");
        assert!(k.cmd(1, "INFO stats").contains("sync_partial_err:2\r\n"));
    }

    #[test]
    fn wait_counts_only_acks_at_or_past_the_write() {
        let mut k = Kit::new(CONF);
        k.connect(1);
        attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 0");
        assert_eq!(k.cmd(1, "WAIT 1 0"), ":0\r\n".replace(":0", ":1"));
        k.cmd(1, "SET a 1");
        let sent = k.take(9).len();
        assert_eq!(k.cmd(1, "WAIT 1 0"), "", "blocked");
        assert!(k.take(9).contains("GETACK"), "asked for an ACK");
        // An ACK of an offset before the write does not count.
        k.send_lines(9, "REPLCONF ACK 0");
        assert_eq!(k.take(1), "");
        k.send_lines(9, &format!("REPLCONF ACK {sent}"));
        assert_eq!(k.take(1), ":1\r\n");
        // A timeout answers with the count so far.
        k.cmd(1, "SET b 2");
        assert_eq!(k.cmd(1, "WAIT 1 100"), "");
        k.advance_ms(100);
        assert_eq!(k.take(1), ":0\r\n");
        assert_eq!(k.cmd(1, "WAIT 0 0"), ":0\r\n");
        // A client that never wrote waits for nothing: the replica counts.
        k.connect(2);
        assert_eq!(k.cmd(2, "WAIT 1 0"), ":1\r\n");
        assert_eq!(k.cmd(1, "WAIT 1 -1"), "-ERR timeout is negative\r\n");
        assert_eq!(
            k.cmd(1, "WAIT x 1"),
            "-ERR value is not an integer or out of range\r\n"
        );
    }

    fn shut_down(k: &Kit) -> bool {
        k.effects
            .iter()
            .any(|(_, e)| matches!(e, Effect::Shutdown { exit_code: 0 }))
    }

    fn logged(k: &Kit, text: &str) -> bool {
        k.effects
            .iter()
            .any(|(_, e)| matches!(e, Effect::Log { message, .. } if message.contains(text)))
    }

    /// Redis 7.0's `shutdown-timeout`: a SHUTDOWN with a replica behind holds writes,
    /// asks for an ACK and exits once the replica has ACKed the master's offset.
    #[test]
    fn shutdown_waits_for_a_lagging_replica_to_ack() {
        let mut k = Kit::new(CONF);
        k.connect(1);
        k.connect(2);
        attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 0");
        k.cmd(1, "SET a 1");
        let sent = k.take(9).len();
        assert_eq!(k.cmd(1, "SHUTDOWN NOSAVE"), "", "waits");
        assert!(k.take(9).contains("GETACK"), "asked for an ACK");
        assert!(logged(&k, "Waiting for replicas before shutting down."));
        assert!(!shut_down(&k));
        // Writes are held meanwhile; reads run.
        assert_eq!(k.cmd(2, "SET b 2"), "");
        k.advance_ms(1000);
        assert!(!shut_down(&k), "no ACK yet");
        k.connect(3);
        let offset = info_field(&mut k, 3, "master_repl_offset");
        k.send_lines(9, &format!("REPLCONF ACK {sent}"));
        assert!(!shut_down(&k), "an ACK short of the offset does not end it");
        k.send_lines(9, &format!("REPLCONF ACK {offset}"));
        assert!(shut_down(&k), "the ACK ends the wait");
        assert!(!logged(&k, "Lagging replica"));
    }

    #[test]
    fn shutdown_gives_up_on_a_silent_replica_after_the_timeout() {
        let mut k = Kit::new(&format!("{CONF}shutdown-timeout 2\n"));
        k.connect(1);
        attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 0");
        k.cmd(1, "SET a 1");
        assert_eq!(k.cmd(1, "SHUTDOWN NOSAVE"), "");
        k.advance_ms(1900);
        assert!(!shut_down(&k));
        k.advance_ms(200);
        assert!(shut_down(&k), "the deadline passed");
        assert!(logged(&k, "Lagging replica 127.0.0.1:6380 reported offset"));
    }

    #[test]
    fn shutdown_now_abort_and_a_zero_timeout_do_not_wait() {
        // NOW: at once.
        let mut k = Kit::new(CONF);
        k.connect(1);
        attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 0");
        k.cmd(1, "SET a 1");
        k.cmd(1, "SHUTDOWN NOW NOSAVE");
        assert!(shut_down(&k));
        // shutdown-timeout 0: at once.
        let mut k = Kit::new(&format!("{CONF}shutdown-timeout 0\n"));
        k.connect(1);
        attach(&mut k, 9);
        k.cmd(1, "SET a 1");
        k.cmd(1, "SHUTDOWN NOSAVE");
        assert!(shut_down(&k));
        // No replica behind: at once.
        let mut k = Kit::new(CONF);
        k.connect(1);
        k.cmd(1, "SET a 1");
        k.cmd(1, "SHUTDOWN NOSAVE");
        assert!(shut_down(&k));
        // ABORT ends the wait: the SHUTDOWN gets Redis's error, held writes run.
        let mut k = Kit::new(CONF);
        k.connect(1);
        k.connect(2);
        k.connect(3);
        attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 0");
        k.cmd(1, "SET a 1");
        assert_eq!(k.cmd(1, "SHUTDOWN NOSAVE"), "");
        assert_eq!(k.cmd(2, "SET b 2"), "");
        assert_eq!(k.cmd(3, "SHUTDOWN ABORT"), "+OK\r\n");
        assert_eq!(k.take(1), "-ERR Errors trying to SHUTDOWN. Check logs.\r\n");
        k.advance_ms(1);
        assert_eq!(k.take(2), "+OK\r\n");
        k.advance_ms(20_000);
        assert!(!shut_down(&k));
    }

    /// As Redis 7.0 (asked 2026-12-07): a SHUTDOWN sent while one waits for replicas
    /// waits too, whatever its flags (NOW does not cut the wait short), is not logged
    /// as a new request, and shares the outcome: its connection closes at the exit,
    /// or it gets the error when the wait is aborted.
    #[test]
    fn a_second_shutdown_joins_the_waiting_one() {
        for abort in [false, true] {
            let mut k = Kit::new(CONF);
            for c in 1..=3 {
                k.connect(c);
            }
            attach(&mut k, 9);
            k.send_lines(9, "REPLCONF ACK 0");
            k.cmd(1, "SET a 1");
            assert_eq!(k.cmd(1, "SHUTDOWN NOSAVE"), "");
            assert_eq!(k.cmd(2, "SHUTDOWN NOW"), "", "abort={abort}");
            assert!(
                !shut_down(&k),
                "NOW joined the wait instead of cutting it short"
            );
            let requested = k
                .effects
                .iter()
                .filter(|(_, e)| {
                    matches!(e, Effect::Log { message, .. } if message.contains("User requested shutdown"))
                })
                .count();
            assert_eq!(requested, 1);
            if abort {
                assert_eq!(k.cmd(3, "SHUTDOWN ABORT"), "+OK\r\n");
                for c in [1, 2] {
                    assert_eq!(k.take(c), "-ERR Errors trying to SHUTDOWN. Check logs.\r\n");
                }
                k.advance_ms(20_000);
                assert!(!shut_down(&k));
                // A later SHUTDOWN starts afresh and is not joined to the old one.
                assert_eq!(k.cmd(2, "SHUTDOWN NOW NOSAVE"), "");
                assert!(shut_down(&k));
            } else {
                let offset = info_field(&mut k, 3, "master_repl_offset");
                k.send_lines(9, &format!("REPLCONF ACK {offset}"));
                assert!(shut_down(&k));
                for c in [1, 2] {
                    assert!(
                        k.closed.contains(&(0, c)),
                        "client {c} not closed at the exit"
                    );
                    assert_eq!(k.take(c), "");
                }
            }
        }
    }

    #[test]
    fn role_and_info_describe_the_replicas() {
        let mut k = Kit::new(CONF);
        k.connect(1);
        assert_eq!(info_field(&mut k, 1, "repl_backlog_active"), "0");
        attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 0");
        let info = k.cmd(1, "INFO replication");
        let names: Vec<&str> = info
            .split("\r\n")
            .skip(1)
            .filter_map(|l| l.split(':').next())
            .filter(|n| !n.is_empty())
            .collect();
        assert_eq!(
            names,
            vec![
                "# Replication",
                "role",
                "connected_slaves",
                "slave0",
                "master_failover_state",
                "master_replid",
                "master_replid2",
                "master_repl_offset",
                "second_repl_offset",
                "repl_backlog_active",
                "repl_backlog_size",
                "repl_backlog_first_byte_offset",
                "repl_backlog_histlen",
            ]
        );
        assert!(
            info.contains("slave0:ip=127.0.0.1,port=6380,state=online,offset=0,lag=0\r\n"),
            "{info}"
        );
        assert!(
            info.contains("repl_backlog_first_byte_offset:1\r\n"),
            "{info}"
        );
        assert!(info.contains("repl_backlog_size:1048576\r\n"), "{info}");
        k.cmd(1, "CONFIG SET repl-backlog-size 16384");
        let info = k.cmd(1, "INFO replication");
        assert!(info.contains("repl_backlog_size:16384\r\n"), "{info}");
        assert_eq!(
            k.cmd(1, "ROLE"),
            "*3\r\n$6\r\nmaster\r\n:0\r\n*1\r\n*3\r\n$9\r\n127.0.0.1\r\n$4\r\n6380\r\n$1\r\n0\r\n"
        );
    }

    #[test]
    fn min_replicas_to_write_refuses_writes_without_fresh_replicas() {
        let mut k = Kit::new(CONF);
        k.connect(1);
        assert_eq!(k.cmd(1, "CONFIG SET min-replicas-to-write 1"), "+OK\r\n");
        assert_eq!(
            k.cmd(1, "SET a 1"),
            "-NOREPLICAS Not enough good replicas to write.\r\n"
        );
        assert_eq!(k.cmd(1, "GET a"), "$-1\r\n");
        attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 0");
        assert_eq!(k.cmd(1, "SET a 1"), "+OK\r\n");
        // Silent for longer than min-replicas-max-lag (10 s): refused again.
        k.advance_ms(12_000);
        assert_eq!(
            k.cmd(1, "SET a 2"),
            "-NOREPLICAS Not enough good replicas to write.\r\n"
        );
    }

    /// Redis's masterTryPartialResynchronization refreshes the good-replica count: a
    /// replica that continues is good at once, not at the next once-a-second cron.
    #[test]
    fn a_partial_resync_makes_the_replica_good_at_once() {
        let mut k = Kit::new(CONF);
        k.connect(1);
        assert_eq!(k.cmd(1, "CONFIG SET min-replicas-to-write 1"), "+OK\r\n");
        let sync = attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 0");
        assert_eq!(k.cmd(1, "SET a 1"), "+OK\r\n");
        let applied = k.take(9).len() as u64;
        k.input(
            0,
            Input::Closed {
                conn: 9,
                reason: CloseReason::PeerClosed,
            },
        );
        assert_eq!(
            k.cmd(1, "SET a 2"),
            "-NOREPLICAS Not enough good replicas to write.\r\n",
            "the count is refreshed when the link goes"
        );
        k.connect(10);
        k.cmd(10, "REPLCONF capa eof capa psync2");
        let reply = k.cmd(10, &format!("PSYNC {} {}", sync.replid, applied + 1));
        assert!(reply.starts_with("+CONTINUE"), "{reply}");
        assert_eq!(k.cmd(1, "SET a 3"), "+OK\r\n");
    }

    #[test]
    fn pings_are_part_of_the_stream_and_silent_replicas_time_out() {
        let mut k = Kit::new(&format!(
            "{CONF}repl-ping-replica-period 1\nrepl-timeout 5\n"
        ));
        k.connect(1);
        attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 0");
        k.take(9);
        k.advance_ms(1000);
        assert_eq!(k.take(9), "*1\r\n$4\r\nPING\r\n");
        assert_eq!(info_field(&mut k, 1, "master_repl_offset"), "14");
        k.advance_ms(5000);
        assert!(k.closed.iter().any(|c| c.1 == 9), "timed out");
        assert_eq!(info_field(&mut k, 1, "connected_slaves"), "0");
    }

    #[test]
    fn bad_replication_input_is_refused_or_drops_the_link() {
        let mut k = Kit::new(CONF);
        k.connect(1);
        assert_eq!(k.cmd(1, "REPLCONF listening-port"), "-ERR syntax error\r\n");
        assert_eq!(
            k.cmd(1, "REPLCONF foo bar"),
            "-ERR Unrecognized REPLCONF option: foo\r\n"
        );
        assert_eq!(
            k.cmd(1, "REPLCONF listening-port abc"),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(k.cmd(1, "REPLCONF ACK 5"), "", "not a replica: ignored");
        assert_eq!(
            k.cmd(1, "PSYNC ? abc"),
            "-ERR value is not an integer or out of range\r\n",
            "a wrong offset: no sync"
        );
        assert_eq!(info_field(&mut k, 1, "connected_slaves"), "0");
        attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 1000000");
        assert!(k.closed.iter().any(|c| c.1 == 9), "an ACK from the future");
        assert_eq!(info_field(&mut k, 1, "connected_slaves"), "0");
    }

    /// Redis's freeMemoryGetNotCountedMemory: the stream waiting for a replica is
    /// left out of the maxmemory decision, so writes go on (and nothing is evicted)
    /// while `used_memory`, which counts it, is over the limit.
    #[test]
    fn a_replicas_output_does_not_count_against_maxmemory() {
        let mut k = Kit::new(CONF);
        k.connect(1);
        attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 0");
        let field = |k: &mut Kit, name: &str| -> u64 {
            let info = k.cmd(1, "INFO memory");
            info.split("\r\n")
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| panic!("{name} in {info}"))
        };
        let used = field(&mut k, "used_memory");
        let limit = used + 60_000;
        assert_eq!(
            k.cmd(1, &format!("CONFIG SET maxmemory {limit}")),
            "+OK\r\n"
        );
        // The driver never reports these writes done: the stream piles up for the
        // replica, about as many bytes as the dataset grows.
        let value = "x".repeat(1000);
        for i in 0..40 {
            assert_eq!(
                k.cmd(1, &format!("SET k{i} {value}")),
                "+OK\r\n",
                "SET k{i}"
            );
        }
        let not_counted = field(&mut k, "mem_not_counted_for_evict");
        assert!(
            not_counted >= 40_000,
            "mem_not_counted_for_evict {not_counted}"
        );
        assert!(
            field(&mut k, "used_memory") > limit,
            "used_memory counts the replica's output"
        );
        assert_eq!(k.cmd(1, "DBSIZE"), ":40\r\n");
        // The dataset alone still reaches the limit: noeviction refuses then.
        let refused = (40..200)
            .map(|i| k.cmd(1, &format!("SET k{i} {value}")))
            .position(|r| r.starts_with("-OOM"));
        assert!(refused.is_some(), "the dataset alone fills maxmemory");
    }

    #[test]
    fn a_replica_over_its_output_limit_is_dropped() {
        let mut k = Kit::new(&format!(
            "{CONF}client-output-buffer-limit replica 1kb 0 0\n"
        ));
        k.connect(1);
        attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 0");
        let big = "x".repeat(2000);
        k.cmd(1, &format!("SET a {big}"));
        assert!(k.closed.iter().any(|c| c.1 == 9));
        assert_eq!(info_field(&mut k, 1, "connected_slaves"), "0");
    }

    #[test]
    fn a_sync_walk_gives_way_to_a_snapshot_that_cannot_wait() {
        let mut k = Kit::new(CONF);
        k.connect(1);
        assert_eq!(k.cmd(1, "DEBUG POPULATE 20000"), "+OK\r\n");
        k.connect(9);
        k.cmd(9, "REPLCONF capa eof");
        k.send_lines(9, "PSYNC ? -1");
        assert_eq!(
            k.cmd(1, "BGSAVE"),
            "-ERR Background save already in progress\r\n",
            "the sync counts as the running snapshot"
        );
        k.cmd(1, "CONFIG SET appendonly yes");
        assert!(
            k.closed.iter().any(|c| c.1 == 9),
            "the replica will sync again"
        );
        assert_eq!(info_field(&mut k, 1, "connected_slaves"), "0");
        let persistence = k.cmd(1, "INFO persistence");
        assert!(
            persistence.contains("aof_rewrite_in_progress:1"),
            "{persistence}"
        );
    }

    #[test]
    fn sync_without_capa_eof_gets_the_length_form_and_the_stream_at_once() {
        let mut k = Kit::new("");
        k.connect(1);
        k.cmd(1, "SET a 1");
        k.connect(9);
        k.send_lines(9, "SYNC");
        k.advance_ms(1);
        let out = k.take_bytes_on(0, 9);
        let text = String::from_utf8_lossy(&out).into_owned();
        assert!(text.starts_with('$'), "{text}");
        let nl = text.find("\r\n").unwrap();
        let len: usize = text[1..nl].parse().unwrap();
        assert_eq!(rdb_keys(&out[nl + 2..nl + 2 + len]), vec!["a"]);
        // Then the stream at once (the first cron's PING here).
        assert_eq!(&out[nl + 2 + len..], b"*1\r\n$4\r\nPING\r\n");
        k.cmd(1, "SET b 2");
        assert!(k.take(9).ends_with("$1\r\nb\r\n$1\r\n2\r\n"));
    }
}

/// The replication mutants, each seen by a node test here (the simulator's
/// replication scenarios will catch them by their checkers later).
#[cfg(all(test, feature = "mutants"))]
mod planted {
    use super::tests::*;
    use crate::io::{CloseReason, Input};
    use crate::mutants::Mutant;
    use crate::testkit::Kit;

    /// A replica that applied the stream up to some offset loses its link; another
    /// write follows; it asks to continue. Returns what it got after the reply line.
    fn continue_after_loss(mutant: Mutant, replid_of: impl Fn(&str) -> String) -> String {
        let mut k = Kit::new(CONF);
        k.nodes[0].set_mutant(Some(mutant));
        k.connect(1);
        let sync = attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 0");
        k.cmd(1, "SET a 1");
        let applied = k.take(9).len() as u64;
        k.input(
            0,
            Input::Closed {
                conn: 9,
                reason: CloseReason::PeerClosed,
            },
        );
        k.cmd(1, "SET b 2");
        k.connect(10);
        k.cmd(10, "REPLCONF capa eof capa psync2");
        k.cmd(
            10,
            &format!("PSYNC {} {}", replid_of(&sync.replid), applied + 1),
        )
    }

    #[test]
    fn backlog_offset_off_by_one_corrupts_a_partial_resync() {
        let out = continue_after_loss(Mutant::BacklogOffsetOffByOne, |id| id.to_string());
        let (_, stream) = out.split_once("\r\n").unwrap();
        assert_ne!(stream, "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n");
        assert_eq!(stream, "3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n");
    }

    #[test]
    fn psync_wrong_replid_accepted_continues_a_foreign_history() {
        let out = continue_after_loss(Mutant::PsyncWrongReplidAccepted, |_| "e".repeat(40));
        assert!(out.starts_with("+CONTINUE"), "{out}");
    }

    #[test]
    fn wait_counts_stale_ack_answers_before_the_write_is_acked() {
        let mut k = Kit::new(CONF);
        k.nodes[0].set_mutant(Some(Mutant::WaitCountsStaleAck));
        k.connect(1);
        attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 0");
        k.cmd(1, "SET a 1");
        assert_eq!(
            k.cmd(1, "WAIT 1 0"),
            ":1\r\n",
            "counted the ACK of offset 0"
        );
    }

    #[test]
    fn min_replicas_counts_lagging_accepts_writes_past_the_lag() {
        let mut k = Kit::new(CONF);
        k.nodes[0].set_mutant(Some(Mutant::MinReplicasCountsLagging));
        k.connect(1);
        k.cmd(1, "CONFIG SET min-replicas-to-write 1");
        attach(&mut k, 9);
        k.send_lines(9, "REPLCONF ACK 0");
        k.advance_ms(12_000);
        assert_eq!(k.cmd(1, "SET a 2"), "+OK\r\n", "a replica silent for 12 s");
    }
}

/// Invariants 12–14 in a core test: a shadow node fed only what the master sent a
/// replica (the RDB of each full sync, then the stream), through link kills, partial
/// resyncs and full resyncs forced by a tiny backlog, ends with the master's digest.
#[cfg(test)]
mod convergence {
    use proptest::prelude::*;

    use super::tests::CONF;
    use crate::io::{CloseReason, Input};
    use crate::persist::rdb::{LoadLimits, RdbItem, RdbReader};
    use crate::testkit::{Kit, START};

    #[derive(Debug, Clone)]
    enum Op {
        Write(String),
        Kill,
        Attach,
        Tick,
    }

    fn op() -> impl Strategy<Value = Op> {
        let key = prop::sample::select(vec!["a", "b", "c", "l", "s", "h", "z", "n"]);
        let write = (key, 0..12u8, 0..5u8).prop_map(|(k, kind, v)| {
            Op::Write(match kind {
                0 => format!("SET {k} v{v}"),
                1 => format!("DEL {k}"),
                2 => format!("LPUSH {k} e{v}"),
                3 => format!("SADD {k} m{v} m{}", v + 1),
                4 => format!("SPOP {k}"),
                5 => format!("HSET {k} f{v} x"),
                6 => format!("ZADD {k} {v} m{v}"),
                7 => format!("INCRBYFLOAT {k} 1.5"),
                8 => format!("SELECT {}", v % 3),
                9 => format!("MULTI;INCR {k};SET {k}x {v};EXEC"),
                10 => format!("SET {k} v EX 1000"),
                _ => format!("EXPIRE {k} 500"),
            })
        });
        prop_oneof![6 => write, 1 => Just(Op::Kill), 1 => Just(Op::Attach), 1 => Just(Op::Tick)]
    }

    /// The shadow (node 1, client 1) as a replica: where it is in the master's stream.
    struct Shadow {
        conn: u64,
        replid: String,
        offset: u64,
    }

    fn load_rdb(k: &mut Kit, rdb: &[u8]) {
        k.cmd_on(1, 1, &[b"FLUSHALL"]);
        let mut r = RdbReader::new(LoadLimits::default());
        r.feed(rdb);
        r.end_of_input();
        while let Ok(Some(item)) = r.next() {
            if let RdbItem::Key {
                db,
                key,
                value,
                expire_ms,
                ..
            } = item
            {
                let d = k.node_at(1).keyspace_mut().db_mut(db);
                let id = d.insert(&key, value);
                if let Some(at) = expire_ms {
                    d.set_expire(id, at);
                }
            }
        }
    }

    /// Applies stream bytes to the shadow and ACKs them.
    fn apply(k: &mut Kit, s: &mut Shadow, stream: &[u8]) {
        if stream.is_empty() {
            return;
        }
        k.input(
            1,
            Input::Data {
                conn: 1,
                bytes: stream,
            },
        );
        k.take_bytes_on(1, 1);
        s.offset += stream.len() as u64;
        let ack = format!("REPLCONF ACK {}", s.offset);
        k.send_lines(s.conn, &ack);
    }

    fn attach(k: &mut Kit, shadow: &mut Option<Shadow>, next_conn: &mut u64) {
        *next_conn += 1;
        let conn = *next_conn;
        k.connect(conn);
        k.cmd(conn, "REPLCONF capa eof capa psync2");
        let psync = match shadow.as_ref() {
            Some(s) => format!("PSYNC {} {}", s.replid, s.offset + 1),
            None => "PSYNC ? -1".to_string(),
        };
        k.send_lines(conn, &psync);
        for _ in 0..5 {
            k.advance_ms(1);
        }
        let out = k.take_bytes_on(0, conn);
        if let Some(rest) = out.strip_prefix(b"+CONTINUE ") {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let s = shadow.as_mut().unwrap();
            s.conn = conn;
            let stream = rest[nl + 2..].to_vec();
            apply(k, s, &stream);
            return;
        }
        let text = String::from_utf8_lossy(&out).into_owned();
        assert!(text.starts_with("+FULLRESYNC "), "{text}");
        let line_end = text.find("\r\n").unwrap();
        let words: Vec<&str> = text[..line_end].split(' ').collect();
        let body = &out[line_end + 2 + 47..];
        let rdb = &body[..body.len() - 40];
        load_rdb(k, rdb);
        // The shadow's client starts in db 0 again, as a replica's master client.
        k.cmd_on(1, 1, &[b"SELECT", b"0"]);
        let mut s = Shadow {
            conn,
            replid: words[1].to_string(),
            offset: words[2].parse().unwrap(),
        };
        let ack = format!("REPLCONF ACK {}", s.offset);
        k.send_lines(conn, &ack);
        let stream = k.take_bytes_on(0, conn);
        apply(k, &mut s, &stream);
        *shadow = Some(s);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn a_replica_fed_only_what_the_master_sent_converges(ops in prop::collection::vec(op(), 1..50)) {
            let mut k = Kit::with_nodes(2, &format!("{CONF}repl-backlog-size 200\n"), START);
            k.node_at(1).set_active_expire(false);
            k.connect(1);
            k.connect_on(1, 1);
            let mut shadow: Option<Shadow> = None;
            let mut linked = false;
            let mut next_conn = 100;
            for op in ops {
                match op {
                    Op::Write(line) => {
                        k.send_lines(1, &line);
                        k.take(1);
                    }
                    Op::Kill => {
                        if let (Some(s), true) = (shadow.as_ref(), linked) {
                            k.input(0, Input::Closed { conn: s.conn, reason: CloseReason::PeerClosed });
                            linked = false;
                        }
                    }
                    Op::Attach => {
                        if !linked {
                            attach(&mut k, &mut shadow, &mut next_conn);
                            linked = true;
                        }
                    }
                    Op::Tick => k.advance_ms(300),
                }
                if let (Some(s), true) = (shadow.as_mut(), linked) {
                    let stream = k.take_bytes_on(0, s.conn);
                    apply(&mut k, s, &stream);
                }
            }
            if !linked {
                attach(&mut k, &mut shadow, &mut next_conn);
            }
            let s = shadow.as_mut().unwrap();
            let stream = k.take_bytes_on(0, s.conn);
            apply(&mut k, s, &stream);
            let master = crate::digest::hex(&crate::digest::dataset_digest(k.node_at(0).keyspace()));
            let replica = crate::digest::hex(&crate::digest::dataset_digest(k.node_at(1).keyspace()));
            prop_assert_eq!(master, replica);
            let info = k.cmd(1, "INFO replication");
            prop_assert!(info.contains(&format!("master_repl_offset:{}\r\n", s.offset)), "{}", info);
        }
    }
}
