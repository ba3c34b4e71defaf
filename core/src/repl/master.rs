//! The master's side of replication, as plain state the commands and the node share:
//! the replica links (what each said in REPLCONF, where it is in its sync, what it
//! ACKed), the backlog, the encoder of the replication stream, the PSYNC rules and the
//! counters INFO reports. Nothing here reads a clock, sends a byte or sees a client:
//! the node (`node/repl_master.rs`) moves the bytes, the commands
//! (`commands/repl.rs`) change the state.

use std::collections::{BTreeMap, VecDeque};

use crate::io::ConnId;
use crate::mutants::{Mutant, Mutants};
use crate::propagate::{Propagation, StreamEncoder};
use crate::repl::backlog::Backlog;
use crate::repl::ReplIds;

/// Where a replica is in its sync (Redis's `SLAVE_STATE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Waits for a snapshot to start (`wait_bgsave`: the diskless delay, or another
    /// snapshot running).
    WaitSnapshot,
    /// The snapshot's RDB is being streamed to it (`wait_bgsave` in INFO too: Redis
    /// reports a diskless transfer so).
    Transferring,
    /// Gets the command stream.
    Online,
}

impl LinkState {
    /// INFO's `state=` word.
    pub fn info_name(self) -> &'static str {
        match self {
            LinkState::WaitSnapshot | LinkState::Transferring => "wait_bgsave",
            LinkState::Online => "online",
        }
    }
}

/// What a connection said in REPLCONF before (or after) its PSYNC.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplConf {
    pub listening_port: u16,
    pub announced_ip: Option<String>,
    /// `capa eof`: it reads the EOF-marked diskless RDB.
    pub capa_eof: bool,
    /// `capa psync2`: it understands `+CONTINUE <replid>`.
    pub capa_psync2: bool,
}

/// One replica connection.
#[derive(Debug, Clone)]
pub struct ReplicaLink {
    pub conn: ConnId,
    pub client_id: u64,
    pub conf: ReplConf,
    /// The peer's address (`ip:port`) as accepted.
    pub peer: String,
    pub state: LinkState,
    /// Sent SYNC, not PSYNC (Redis's `CLIENT_PRE_PSYNC`): no `+FULLRESYNC` line, and
    /// no timeout for missing ACKs (it never sends any).
    pub pre_psync: bool,
    /// The highest offset it ACKed (`repl_ack_off`).
    pub ack_offset: u64,
    /// When it last ACKed (monotonic ms; the link's start before any ACK).
    pub ack_mono_ms: u64,
    /// The wall clock then (read by the `min-replicas-lag-on-wall-clock` mutant only:
    /// Redis's `repl_ack_time` is wall seconds, keel's lag is monotonic).
    pub ack_wall_ms: u64,
    /// Whether it ever ACKed.
    pub acked: bool,
    /// When it started waiting for a snapshot (monotonic ms).
    pub waiting_since_mono_ms: u64,
    /// The stream offset its snapshot was taken at (`psync_initial_offset`).
    pub snapshot_offset: u64,
    /// The offset of the last stream byte handed to it (sent or held).
    pub stream_offset: u64,
    /// Stream bytes produced since its snapshot, held until the RDB is sent (and,
    /// after an EOF-marked transfer, until its first ACK: Redis's
    /// `repl_start_cmd_stream_on_ack`, so the replica can find the mark).
    pub held: Vec<u8>,
    /// The stream waits for its first ACK.
    pub hold_until_ack: bool,
}

impl ReplicaLink {
    /// INFO's and ROLE's address: the announced one, else the peer's.
    pub fn ip(&self) -> String {
        if let Some(ip) = &self.conf.announced_ip {
            return ip.clone();
        }
        match self.peer.rsplit_once(':') {
            Some((host, _)) => host.trim_start_matches('[').trim_end_matches(']').into(),
            None => self.peer.clone(),
        }
    }

    /// Redis's `replicationGetSlaveName`: `ip:listening-port`, or the peer address.
    pub fn name(&self) -> String {
        if self.conf.listening_port != 0 {
            format!("{}:{}", self.ip(), self.conf.listening_port)
        } else {
            self.peer.clone()
        }
    }
}

/// A WAIT in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiter {
    pub conn: ConnId,
    pub client_id: u64,
    /// The offset a replica must have ACKed to count.
    pub offset: u64,
    pub numreplicas: u64,
}

/// The master's replication state (one per node; a replica's stays idle).
#[derive(Debug, Default)]
pub struct MasterState {
    /// Created with the first replica (Redis's `createReplicationBacklog`).
    pub backlog: Option<Backlog>,
    pub replicas: BTreeMap<ConnId, ReplicaLink>,
    /// REPLCONF options of connections not yet replicas.
    pub conf: BTreeMap<ConnId, ReplConf>,
    /// The stream's encoder (one SELECT state for the backlog and every replica).
    pub encoder: StreamEncoder,
    /// Encoded stream bytes not yet handed to the replicas (the node sends them).
    pub unsent: Vec<u8>,
    /// Replica links the node must close (Redis's `disconnectSlaves` asked by a
    /// command: a promotion changes the id they must learn).
    pub disconnect_asked: Vec<ConnId>,
    /// Connections whose full sync the node must set up (a PSYNC/SYNC just ran).
    pub new_syncs: Vec<ConnId>,
    /// Partial resyncs just accepted: (conn, backlog bytes to send after the reply).
    pub new_continues: Vec<(ConnId, Vec<u8>)>,
    pub waiters: Vec<Waiter>,
    /// A WAIT asked for `REPLCONF GETACK *` this round.
    pub getack_requested: bool,
    /// Online replicas whose last ACK is within `min-replicas-max-lag`.
    pub good_replicas: usize,
    /// When the last replica went away (for `repl-backlog-ttl`).
    pub no_replicas_since_mono_ms: Option<u64>,
    pub last_ping_mono_ms: u64,
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
    /// Bytes sent to replicas (INFO `total_net_repl_output_bytes`).
    pub repl_output_bytes: u64,
    /// (records recorded, stream offset) after each feed, newest last, at most
    /// `CHECKPOINTS_MAX`: the offset a client's last write reached (WAIT).
    checkpoints: VecDeque<(u64, u64)>,
    /// (offset, db): the stream's bytes after `offset` run in `db` (a SELECT starts
    /// at `offset + 1`), newest last, none older than the backlog needs: where a
    /// rollback cut starts (`crate::repl::rollback`).
    pub select_marks: VecDeque<(u64, usize)>,
    /// The last ACK of each replica of this history (by `ip:port`), kept after its
    /// link went away, at most `rollback::ACKS_REMEMBERED_MAX`: the lower bound of a
    /// demoted master's rollback cut.
    pub last_acks: BTreeMap<String, u64>,
    /// The offset the backlog was created at: while its first byte is the next one,
    /// nothing was dropped and its start is a command boundary.
    pub backlog_created_offset: u64,
    /// A copy of every byte added to the backlog since the driver last took it
    /// (`Node::enable_repl_tap`; None, and no copy, unless asked).
    pub tap: Option<Vec<u8>>,
}

/// Feeds remembered for WAIT's offsets; an older write waits for the oldest one kept
/// (never for less than its own offset).
const CHECKPOINTS_MAX: usize = 4096;

/// Why a PSYNC cannot continue: Redis's log line.
pub type FullResyncReason = String;

impl MasterState {
    /// Redis's `masterTryPartialResynchronization` rules: continue when `replid` is
    /// ours, or our previous one with `psync_offset` not past the switch point, and the
    /// backlog holds `psync_offset`. `Err` carries the log line (None: the replica
    /// asked for a full sync with `?`). `mutants` may plant the PSYNC mutants.
    pub fn psync_decision(
        &self,
        ids: &ReplIds,
        replid: &[u8],
        psync_offset: i64,
        replica_name: &str,
        mutants: &Mutants,
    ) -> Result<u64, Option<FullResyncReason>> {
        let asked = String::from_utf8_lossy(replid);
        let is_ours = asked.eq_ignore_ascii_case(&ids.replid);
        let is_previous =
            asked.eq_ignore_ascii_case(&ids.replid2) && !mutants.is(Mutant::PsyncPreviousIdRefused);
        let past_switch = psync_offset > ids.second_replid_offset
            && !mutants.is(Mutant::PsyncPreviousIdPastSwitch);
        if !is_ours
            && !mutants.is(Mutant::PsyncWrongReplidAccepted)
            && (!is_previous || past_switch)
        {
            if replid.first() == Some(&b'?') {
                return Err(None);
            }
            let line = if !is_previous {
                format!(
                    "Partial resynchronization not accepted: Replication ID mismatch (Replica asked for '{asked}', my replication IDs are '{}' and '{}')",
                    ids.replid, ids.replid2
                )
            } else {
                format!(
                    "Partial resynchronization not accepted: Requested offset for second ID was {psync_offset}, but I can reply up to {}",
                    ids.second_replid_offset
                )
            };
            return Err(Some(line));
        }
        let offset = u64::try_from(psync_offset).ok();
        match (offset, self.backlog.as_ref()) {
            (Some(o), Some(b)) if b.covers(o) => Ok(o),
            _ => {
                let mut line = format!(
                    "Unable to partial resync with replica {replica_name} for lack of backlog (Replica request was: {psync_offset})."
                );
                if psync_offset > i64::try_from(ids.master_repl_offset).unwrap_or(i64::MAX) {
                    line.push_str(&format!(
                        " Warning: replica {replica_name} tried to PSYNC with an offset that is greater than the master replication offset."
                    ));
                }
                Err(Some(line))
            }
        }
    }

    /// Creates the backlog (with the first replica): as Redis, the node then starts
    /// a new replication history (`changeReplicationId`, `clearReplicationId2`).
    pub fn create_backlog(
        &mut self,
        ids: &mut ReplIds,
        new_replid: String,
        capacity_bytes: usize,
        propagation: &mut Propagation,
    ) {
        ids.replid = new_replid;
        ids.replid2 = crate::repl::NO_REPLID.to_string();
        ids.second_replid_offset = -1;
        self.start_backlog(ids.master_repl_offset, capacity_bytes, propagation);
    }

    /// A promoted replica (REPLICAOF NO ONE, PSYNC FAILOVER) starts a backlog at its
    /// offset, keeping its ids (Redis's replica keeps one already), so its former
    /// master and fellow replicas can continue with `+CONTINUE`.
    pub fn resume_backlog(
        &mut self,
        ids: &ReplIds,
        capacity_bytes: usize,
        propagation: &mut Propagation,
    ) {
        if self.backlog.is_some() {
            return;
        }
        self.start_backlog(ids.master_repl_offset, capacity_bytes, propagation);
    }

    /// A new backlog at `offset`, fed from the propagation stream from now on.
    fn start_backlog(&mut self, offset: u64, capacity_bytes: usize, propagation: &mut Propagation) {
        self.backlog = Some(Backlog::new(capacity_bytes, offset));
        self.encoder.reset();
        propagation.set_repl(true);
        self.checkpoint(propagation.recorded_total(), offset);
        self.select_marks.clear();
        self.last_acks.clear();
        self.backlog_created_offset = offset;
    }

    /// Redis's `rebaseReplicationBuffer` at a master's boot: the stream fed while
    /// loading (from offset 0) moves `delta` bytes on, to follow the history the
    /// RDB file recorded; the caller moved `master_repl_offset` by as much.
    pub fn rebase(&mut self, delta: u64) {
        if let Some(backlog) = self.backlog.as_mut() {
            backlog.rebase(delta);
        }
        for (_, offset) in self.checkpoints.iter_mut() {
            *offset = offset.saturating_add(delta);
        }
        for (offset, _) in self.select_marks.iter_mut() {
            *offset = offset.saturating_add(delta);
        }
        self.backlog_created_offset = self.backlog_created_offset.saturating_add(delta);
    }

    /// Remembers a replica's ACK for the rollback cut's lower bound.
    pub fn remember_ack(&mut self, name: String, offset: u64) {
        if !self.last_acks.contains_key(&name)
            && self.last_acks.len() >= crate::repl::rollback::ACKS_REMEMBERED_MAX
        {
            // Dropping the highest keeps the lowest, the bound that matters.
            let highest = self
                .last_acks
                .iter()
                .max_by_key(|(_, &o)| o)
                .map(|(n, _)| n.clone());
            if let Some(highest) = highest {
                self.last_acks.remove(&highest);
            }
        }
        self.last_acks.insert(name, offset);
    }

    /// The first offset at or after `offset` where a command starts: the backlog's
    /// creation point, or the end of a feed (feeds never split a command or a
    /// transaction), among those remembered.
    pub fn boundary_at_or_after(&self, offset: u64) -> Option<u64> {
        if offset == self.backlog_created_offset {
            return Some(offset);
        }
        self.checkpoints
            .iter()
            .map(|&(_, o)| o)
            .filter(|&o| o >= offset)
            .min()
    }

    /// The database the stream's bytes after `offset` run in, if known.
    pub fn db_after(&self, offset: u64) -> Option<usize> {
        self.select_marks
            .iter()
            .rev()
            .find(|&&(o, _)| o <= offset)
            .map(|&(_, db)| db)
    }

    fn checkpoint(&mut self, recorded: u64, offset: u64) {
        if self.checkpoints.back().is_some_and(|&(r, _)| r == recorded) {
            return;
        }
        if self.checkpoints.len() >= CHECKPOINTS_MAX {
            self.checkpoints.pop_front();
        }
        self.checkpoints.push_back((recorded, offset));
    }

    /// The stream offset a client whose last write was record `woff_seq` waits
    /// for: the end of the feed that carried it (0 for a client that never wrote).
    /// Call after `feed`, so every record is in the stream.
    pub fn write_offset(&self, woff_seq: u64, master_repl_offset: u64) -> u64 {
        if woff_seq == 0 {
            return 0;
        }
        self.checkpoints
            .iter()
            .find(|&&(recorded, _)| recorded >= woff_seq)
            .map_or(master_repl_offset, |&(_, offset)| offset)
    }

    /// Encodes the propagation stream recorded since the last call into the backlog
    /// (advancing `master_repl_offset` by exactly the bytes added) and `unsent`.
    pub fn feed(&mut self, propagation: &mut Propagation, ids: &mut ReplIds) {
        let Some(backlog) = self.backlog.as_mut() else {
            return;
        };
        let start = self.unsent.len();
        let encoder = &mut self.encoder;
        let unsent = &mut self.unsent;
        let marks = &mut self.select_marks;
        let base = ids.master_repl_offset;
        propagation.drain_for_repl(|record| {
            if encoder.selected_db() != Some(record.db) {
                let at = base + (unsent.len() - start) as u64;
                marks.push_back((at, record.db));
            }
            encoder.encode_record(record, unsent)
        });
        let added = unsent.get(start..).unwrap_or_default();
        backlog.append(added);
        if let Some(tap) = self.tap.as_mut() {
            tap.extend_from_slice(added);
        }
        ids.master_repl_offset += added.len() as u64;
        // Marks the backlog no longer needs: all but the last one before its start.
        let first = backlog.first_byte_offset().saturating_sub(1);
        while self.select_marks.get(1).is_some_and(|&(o, _)| o <= first) {
            self.select_marks.pop_front();
        }
        self.checkpoint(propagation.recorded_total(), ids.master_repl_offset);
    }

    /// Redis's `disconnectSlaves` from a command (REPLICAOF NO ONE, a promotion):
    /// every replica attached now is closed by the node after the command, so it
    /// reconnects and learns the new id. A replica that attaches later in the same
    /// command (the PSYNC of a FAILOVER) is not.
    pub fn ask_disconnect_replicas(&mut self) {
        self.disconnect_asked.extend(self.replicas.keys().copied());
    }

    /// A promoted replica's own stream starts with a SELECT (Redis sets
    /// `slaveseldb` to -1 in replicationUnsetMaster).
    pub fn pending_promotion_reset(&mut self) {
        self.encoder.reset();
    }

    /// A replica's backlog (Redis creates it when the link to its master is set
    /// up, so it can serve PSYNC later): it continues its master's history, so no new
    /// replication id; the next byte is `master_repl_offset + 1`.
    pub fn create_relay_backlog(&mut self, capacity_bytes: usize, master_repl_offset: u64) {
        if self.backlog.is_none() {
            self.backlog = Some(Backlog::new(capacity_bytes, master_repl_offset));
        }
    }

    /// A replica relays the exact bytes of each command it applied from its master
    /// (Redis's `replicationFeedStreamFromMasterStream`): into its backlog and to its
    /// own replicas, so offsets agree along a chain. The caller advanced
    /// `master_repl_offset` by the same bytes. Nothing without a backlog.
    pub fn relay(&mut self, stream: &[u8]) {
        if stream.is_empty() {
            return;
        }
        let Some(backlog) = self.backlog.as_mut() else {
            return;
        };
        backlog.append(stream);
        if let Some(tap) = self.tap.as_mut() {
            tap.extend_from_slice(stream);
        }
        self.unsent.extend_from_slice(stream);
    }

    /// Appends a command that is part of the stream but of no database (PING,
    /// REPLCONF GETACK): no SELECT before it.
    pub fn feed_command(&mut self, ids: &mut ReplIds, argv: &[&[u8]]) {
        let Some(backlog) = self.backlog.as_mut() else {
            return;
        };
        let start = self.unsent.len();
        crate::resp::encode_request_into(&mut self.unsent, argv);
        let added = self.unsent.get(start..).unwrap_or_default();
        backlog.append(added);
        if let Some(tap) = self.tap.as_mut() {
            tap.extend_from_slice(added);
        }
        ids.master_repl_offset += added.len() as u64;
    }

    /// Redis's `replicationCountAcksByOffset`: online replicas that ACKed `offset`
    /// or later. `stale_counts` is the planted mutant `wait-counts-stale-ack`
    /// (any ACK counts, however old).
    pub fn count_acks(&self, offset: u64, stale_counts: bool) -> u64 {
        self.replicas
            .values()
            .filter(|r| r.state == LinkState::Online)
            .filter(|r| r.ack_offset >= offset || (stale_counts && r.acked))
            .count() as u64
    }

    /// Recomputes `good_replicas` (Redis's `refreshGoodSlavesCount`): online replicas
    /// whose last ACK is within `max_lag_secs` (every online one under the planted
    /// `min-replicas-counts-lagging`).
    pub fn refresh_good(
        &mut self,
        now: crate::io::Now,
        max_lag_secs: u64,
        mutants: &crate::mutants::Mutants,
    ) {
        if mutants.is(crate::mutants::Mutant::MinReplicasLagOnWallClock) {
            // Redis's rule: signed whole wall seconds, so a backward jump makes a
            // silent replica good (negative lag).
            let now_secs = (now.wall_ms / 1000) as i64;
            self.good_replicas = self
                .replicas
                .values()
                .filter(|r| r.state == LinkState::Online)
                .filter(|r| now_secs - (r.ack_wall_ms / 1000) as i64 <= max_lag_secs as i64)
                .count();
            return;
        }
        let now_mono_ms = now.mono_ms;
        let max_lag_secs = if mutants.is(crate::mutants::Mutant::MinReplicasCountsLagging) {
            u64::MAX
        } else {
            max_lag_secs
        };
        self.good_replicas = self
            .replicas
            .values()
            .filter(|r| r.state == LinkState::Online)
            .filter(|r| now_mono_ms.saturating_sub(r.ack_mono_ms) / 1000 <= max_lag_secs)
            .count();
    }
}

/// Redis 7.0's `-NOREPLICAS` reply (`shared.noreplicaserr`).
pub const NOREPLICAS: &str = "NOREPLICAS Not enough good replicas to write.";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::propagate::argv;

    fn ids() -> ReplIds {
        ReplIds::new("a".repeat(40))
    }

    fn master_with_stream(ids: &mut ReplIds) -> MasterState {
        let mut m = MasterState::default();
        let mut p = Propagation::default();
        m.create_backlog(ids, "b".repeat(40), 1024, &mut p);
        p.record(0, &argv(&[b"SET", b"k", b"v"]));
        m.feed(&mut p, ids);
        m
    }

    #[test]
    fn feeding_advances_the_offset_by_the_bytes_added() {
        let mut ids = ids();
        let m = master_with_stream(&mut ids);
        let want = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n";
        assert_eq!(m.unsent, want.to_vec());
        assert_eq!(ids.master_repl_offset, want.len() as u64);
        let b = m.backlog.as_ref().unwrap();
        assert_eq!(b.first_byte_offset(), 1);
        assert_eq!(b.read_from(1, false).unwrap(), want.to_vec());
        assert_eq!(ids.replid, "b".repeat(40), "a new history starts");
    }

    #[test]
    fn psync_continues_only_as_redis_allows() {
        let mut ids = ids();
        let m = master_with_stream(&mut ids);
        let end = ids.master_repl_offset as i64;
        let ours = ids.replid.clone();
        assert_eq!(
            m.psync_decision(&ids, ours.as_bytes(), 1, "r", &none()),
            Ok(1)
        );
        assert_eq!(
            m.psync_decision(&ids, ours.as_bytes(), end + 1, "r", &none()),
            Ok(end as u64 + 1)
        );
        assert!(m
            .psync_decision(&ids, ours.as_bytes(), end + 2, "r", &none())
            .is_err());
        assert!(m
            .psync_decision(&ids, ours.as_bytes(), 0, "r", &none())
            .is_err());
        assert_eq!(m.psync_decision(&ids, b"?", -1, "r", &none()), Err(None));
        let other = "c".repeat(40);
        let err = m.psync_decision(&ids, other.as_bytes(), 1, "r", &none());
        assert!(matches!(err, Err(Some(ref l)) if l.contains("Replication ID mismatch")));
        // The previous history, up to the switch point only.
        let mut promoted = ids.clone();
        promoted.shift("d".repeat(40));
        let old = ids.replid.clone();
        let switch = promoted.second_replid_offset;
        assert!(m
            .psync_decision(&promoted, old.as_bytes(), switch, "r", &none())
            .is_ok());
        assert!(m
            .psync_decision(&promoted, old.as_bytes(), switch + 1, "r", &none())
            .is_err());
    }

    fn none() -> Mutants {
        Mutants::default()
    }

    #[cfg(feature = "mutants")]
    #[test]
    fn the_planted_psync_mutants_break_the_rules() {
        let planted = |m| Mutants { active: Some(m) };
        let mut ids = ids();
        let m = master_with_stream(&mut ids);
        let other = "c".repeat(40);
        assert_eq!(
            m.psync_decision(
                &ids,
                other.as_bytes(),
                1,
                "r",
                &planted(Mutant::PsyncWrongReplidAccepted)
            ),
            Ok(1)
        );
        let mut promoted = ids.clone();
        promoted.shift("d".repeat(40));
        let old = ids.replid.clone();
        let switch = promoted.second_replid_offset;
        // A switch point inside the backlog: the old master wrote past it.
        promoted.second_replid_offset = switch - 5;
        let past = planted(Mutant::PsyncPreviousIdPastSwitch);
        assert!(m
            .psync_decision(&promoted, old.as_bytes(), switch - 4, "r", &none())
            .is_err());
        assert!(m
            .psync_decision(&promoted, old.as_bytes(), switch - 4, "r", &past)
            .is_ok());
        promoted.second_replid_offset = switch;
        let refused = planted(Mutant::PsyncPreviousIdRefused);
        assert!(m
            .psync_decision(&promoted, old.as_bytes(), switch, "r", &refused)
            .is_err());
    }

    fn link(conn: ConnId, ack: u64, acked: bool) -> ReplicaLink {
        ReplicaLink {
            conn,
            client_id: conn,
            conf: ReplConf::default(),
            peer: "127.0.0.1:5000".into(),
            state: LinkState::Online,
            pre_psync: false,
            ack_offset: ack,
            ack_mono_ms: 0,
            ack_wall_ms: 0,
            acked,
            waiting_since_mono_ms: 0,
            snapshot_offset: 0,
            stream_offset: 0,
            held: Vec::new(),
            hold_until_ack: false,
        }
    }

    #[test]
    fn only_acks_at_or_past_the_offset_count() {
        let mut m = MasterState::default();
        m.replicas.insert(1, link(1, 100, true));
        m.replicas.insert(2, link(2, 99, true));
        m.replicas.insert(3, link(3, 0, false));
        let mut syncing = link(4, 500, true);
        syncing.state = LinkState::Transferring;
        m.replicas.insert(4, syncing);
        assert_eq!(m.count_acks(100, false), 1);
        assert_eq!(m.count_acks(99, false), 2);
        assert_eq!(
            m.count_acks(100, true),
            2,
            "the planted bug counts a stale ACK"
        );
    }

    #[test]
    fn a_write_waits_for_the_offset_of_the_feed_that_carried_it() {
        let mut ids = ids();
        let mut m = MasterState::default();
        let mut p = Propagation::default();
        m.create_backlog(&mut ids, "b".repeat(40), 1024, &mut p);
        p.record(0, &argv(&[b"SET", b"a", b"1"]));
        let first = p.recorded_total();
        m.feed(&mut p, &mut ids);
        let after_first = ids.master_repl_offset;
        p.record(0, &argv(&[b"SET", b"b", b"1"]));
        m.feed(&mut p, &mut ids);
        assert!(ids.master_repl_offset > after_first);
        assert_eq!(m.write_offset(first, ids.master_repl_offset), after_first);
        assert_eq!(
            m.write_offset(p.recorded_total(), ids.master_repl_offset),
            ids.master_repl_offset
        );
        assert_eq!(m.write_offset(0, ids.master_repl_offset), 0);
    }

    #[test]
    fn a_link_is_named_by_its_announced_address() {
        let mut l = link(1, 0, false);
        assert_eq!(l.name(), "127.0.0.1:5000");
        l.conf.listening_port = 6380;
        assert_eq!(l.name(), "127.0.0.1:6380");
        l.conf.announced_ip = Some("10.0.0.1".into());
        assert_eq!(l.name(), "10.0.0.1:6380");
    }
}
