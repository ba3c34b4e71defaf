//! The replication checker (invariants 12–13), judged from outside the nodes: a
//! replica whose (replid, offset) equals its master's holds its master's dataset —
//! every key alive at the master's wall time, with its exact expire time (a full sync's
//! snapshot leaves out keys already expired at its start, which the master still holds
//! until it deletes them; no client of either can read them) — and after the faults
//! heal and the clients are done, every replica reaches its master's offset. Host 0 is the master of the `replication`
//! scenario; the others are made its replicas by an operator's REPLICAOF.

use crate::checkers::Checker;
use crate::faults::Fault;
use crate::scenario::reach;
use crate::world::{log, World};
use keel_core::Node;

mod min_replicas;
mod psync;
mod rollback;
mod wait;
pub(crate) use min_replicas::MinReplBooks;
pub(crate) use psync::PsyncBooks;
pub(crate) use rollback::RollbackBooks;
pub(crate) use wait::{is_wait, ReplBooks};

/// Whether a scenario runs replication (the `replication` scenario and the `repl-*`
/// ones): the replication checker judges it and replicas get no shadow.
pub fn is_replication(scenario: &str) -> bool {
    scenario == "replication" || scenario.starts_with("repl-")
}

/// Every key of every database alive at `wall_ms`, with its exact expire time.
fn digest_at(node: &Node, wall_ms: u64) -> crate::durability::Digest {
    crate::durability::live_digest(node.keyspace(), wall_ms)
}

/// The replication position a node reports: its replid and offset, unless it is
/// loading or syncing (a replica mid full sync has adopted the offset but not yet
/// the data).
fn position(node: &Node) -> Option<(String, u64)> {
    position_ref(node).map(|(id, offset)| (id.to_string(), offset))
}

/// `position`, borrowed from the node.
fn position_ref(node: &Node) -> Option<(&str, u64)> {
    if crate::host::loading(node) || node.repl_syncing() {
        return None;
    }
    Some((node.repl_id(), node.repl_offset()))
}

impl World<'_> {
    /// A node's log line: a master refusing a partial resync for lack of backlog
    /// (Redis's line) is the backlog scenario's coverage.
    pub(crate) fn note_repl_log(&mut self, message: &str) {
        if message.contains("for lack of backlog") {
            self.reached.insert(reach::BACKLOG_FULL_SYNC);
        }
    }

    /// Invariant 15, no replica-originated deletes: a replica removes a key only when
    /// a master's stream says so, so at every moment the DELs a host has propagated
    /// for a key while a replica are no more than the DELs the other hosts have
    /// propagated while masters (a master's DEL is produced before any replica — or
    /// sub-replica — applies it; a DEL of a key already gone propagates nothing). The
    /// role is the node's own at the moment, so a promoted replica's DELs count as a
    /// master's.
    pub(crate) fn note_repl_records(
        &mut self,
        h: usize,
        records: &[keel_core::propagate::Propagated],
    ) {
        if !is_replication(&self.scenario.name) {
            return;
        }
        self.note_wait_target(h, records);
        self.note_min_repl_write(h, records);
        self.note_rollback_records(h, records);
        let replica = self.hosts[h].node.as_ref().is_some_and(Node::is_replica);
        for r in records {
            let is_del = r.argv.first().is_some_and(|c| {
                c.eq_ignore_ascii_case(b"DEL") || c.eq_ignore_ascii_case(b"UNLINK")
            });
            if !is_del {
                continue;
            }
            for key in r.argv.iter().skip(1) {
                *self
                    .repl_dels
                    .entry((h, replica, r.db, key.clone()))
                    .or_insert(0) += 1;
                if !replica {
                    continue;
                }
                let count = |world: &Self, g: usize, as_replica: bool| {
                    world
                        .repl_dels
                        .get(&(g, as_replica, r.db, key.clone()))
                        .copied()
                        .unwrap_or(0)
                };
                let mine = count(self, h, true);
                let masters: u64 = (0..self.hosts.len())
                    .filter(|&g| g != h)
                    .map(|g| count(self, g, false))
                    .sum();
                if mine > masters && self.judging(Checker::Replication) {
                    let message = format!(
                        "host {h} (a replica) deleted {:?} in db {} on its own: {mine} DELs against its masters' {masters}",
                        String::from_utf8_lossy(key),
                        r.db
                    );
                    return self.flag(
                        Checker::Replication,
                        ("replica-originated-delete", None),
                        message,
                    );
                }
            }
        }
    }

    /// The host whose node host `h` replicates from, as the node itself says (the
    /// topology changes under REPLICAOF, FAILOVER and promotions; the plan is not
    /// trusted). None for a master, or an address no host has.
    pub(crate) fn master_of(&self, h: usize) -> Option<usize> {
        let (ip, port) = self.hosts.get(h)?.node.as_ref()?.repl_master()?;
        let addr = format!("{ip}:{port}");
        (0..self.hosts.len()).find(|&m| crate::host::Host::addr_of(m) == addr)
    }

    /// Host `h` replicates from a node that is itself a replica (a chain).
    fn is_sub_replica(&self, h: usize) -> bool {
        self.master_of(h)
            .is_some_and(|m| m != h && self.master_of(m).is_some())
    }

    /// After every event of a replication scenario, invariant 12: any two nodes at
    /// the same (replid, offset) — master and replica, two replicas, a sub-replica
    /// and the top master, a promoted replica and its former master — hold the same
    /// dataset (compared once per pair and position).
    pub(crate) fn check_replication(&mut self) {
        if !is_replication(&self.scenario.name) {
            return;
        }
        self.observe_rollback();
        self.observe_psync();
        if !self.judging(Checker::Replication) {
            return;
        }
        // This runs after every event: the pairs to compare are found on borrowed
        // positions, and only a new equal position is copied into the books.
        let positions: Vec<Option<(&str, u64)>> = self
            .hosts
            .iter()
            .map(|h| h.node.as_ref().and_then(position_ref).filter(|p| p.1 > 0))
            .collect();
        let mut due: Vec<(usize, usize, (String, u64))> = Vec::new();
        for b in 1..positions.len() {
            for a in 0..b {
                let (Some(at), Some(other)) = (positions[a], positions[b]) else {
                    continue;
                };
                let compared = self
                    .repl_compared
                    .get(&(a, b))
                    .is_some_and(|(id, offset)| id == at.0 && *offset == at.1);
                if at != other || compared {
                    continue;
                }
                due.push((a, b, (at.0.to_string(), at.1)));
            }
        }
        // Nothing changes a node inside this loop: a host's digest at one wall time
        // is taken once however many pairs it is in.
        let mut digests: Vec<(usize, u64, crate::durability::Digest)> = Vec::new();
        for (a, b, at) in due {
            self.repl_compared.insert((a, b), at.clone());
            if self.hosts[a].node.is_none() || self.hosts[b].node.is_none() {
                continue;
            }
            // Either wall time does: both datasets are read at the same one.
            let wall_ms = self.hosts[a].clock.peek(self.now_ms).wall_ms;
            let (da, db) = (
                self.digest_once(&mut digests, a, wall_ms),
                self.digest_once(&mut digests, b, wall_ms),
            );
            self.reached.insert(reach::REPLICA_COMPARED);
            if self.is_sub_replica(a) || self.is_sub_replica(b) {
                self.reached.insert(reach::SUB_REPLICA_COMPARED);
            }
            if da != db {
                let message = format!(
                    "hosts {a} and {b} are at the same position ({} {}) but their datasets differ (digest {} vs {})",
                    at.0,
                    at.1,
                    crate::durability::hex(&da),
                    crate::durability::hex(&db)
                );
                return self.flag(
                    Checker::Replication,
                    ("equal-offset-differs", None),
                    message,
                );
            }
        }
    }

    /// Host `h`'s dataset digest at `wall_ms`, from `cache` when this check took it
    /// already (all zeros for a host without a node, which the caller rules out).
    fn digest_once(
        &self,
        cache: &mut Vec<(usize, u64, crate::durability::Digest)>,
        h: usize,
        wall_ms: u64,
    ) -> crate::durability::Digest {
        if let Some((_, _, d)) = cache.iter().find(|(g, w, _)| *g == h && *w == wall_ms) {
            return *d;
        }
        let Some(node) = self.hosts[h].node.as_ref() else {
            return [0; 20];
        };
        let d = digest_at(node, wall_ms);
        cache.push((h, wall_ms, d));
        d
    }

    /// At the end of a replication run (faults healed, clients done, a quiet period
    /// passed), invariant 13 along each edge of the topology the nodes report: one
    /// master, every other node a replica of a live host and at that host's position
    /// (so along a chain all are equal), then 12 once more.
    pub(crate) fn check_replicas_converged(&mut self) {
        if !is_replication(&self.scenario.name) || !self.judging(Checker::Replication) {
            return;
        }
        // Invariant 17 first: a forced hand-over's lost writes are its to judge.
        self.observe_rollback();
        self.check_rollback_files();
        if !self.judging(Checker::Replication) {
            return;
        }
        let live: Vec<usize> = (0..self.hosts.len())
            .filter(|&h| self.hosts[h].node.is_some())
            .collect();
        let masters: Vec<usize> = live
            .iter()
            .copied()
            .filter(|&h| self.hosts[h].node.as_ref().is_some_and(|n| !n.is_replica()))
            .collect();
        if masters.len() != 1 {
            let message =
                format!("after heal and quiet the masters are hosts {masters:?}, not one");
            return self.flag(Checker::Replication, ("not-converged", None), message);
        }
        if let Some(&m) = masters.first().filter(|&&m| m != 0) {
            self.reached.insert(reach::FAILED_OVER);
            // Invariant 14 for a FAILOVER without FORCE: the target was promoted
            // only once it had ACKed the old master's whole stream, so the old
            // master's PSYNC (its replid = the target's replid2, its offset at the
            // switch point) must continue: the new master, a replica until then,
            // served no full sync.
            let forced = self
                .scenario
                .faults
                .iter()
                .any(|f| matches!(f.fault, Fault::Failover { force: true, .. }));
            let served = self.hosts[m].node.as_ref().map(Node::repl_syncs_served);
            if self.scenario.name == "repl-failover" && !forced {
                if let Some((full, partial)) = served {
                    if full > 0 {
                        let message = format!(
                            "host {m}, promoted by FAILOVER, served {full} full syncs ({partial} partial): the old master's history did not continue"
                        );
                        return self.flag(
                            Checker::Replication,
                            ("failover-full-sync", None),
                            message,
                        );
                    }
                }
            }
        }
        for &r in &live {
            if masters.contains(&r) {
                continue;
            }
            let m = self.master_of(r);
            let at = m
                .and_then(|m| self.hosts[m].node.as_ref())
                .and_then(position);
            let got = self.hosts[r].node.as_ref().and_then(position);
            if m.is_none() || got != at {
                let message = format!(
                    "after heal and quiet host {r} is at {got:?}, its master (host {m:?}) at {at:?}"
                );
                return self.flag(Checker::Replication, ("not-converged", None), message);
            }
            self.reached.insert(reach::REPLICA_CAUGHT_UP);
            log!(self, "host {r}: caught up with host {m:?} at {at:?}");
        }
        self.check_replication();
    }
}
