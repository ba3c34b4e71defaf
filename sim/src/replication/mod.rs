//! The replication checker (invariants 12–13), judged from outside the nodes: a
//! replica whose (replid, offset) equals its master's holds its master's dataset —
//! every key alive at the master's wall time, with its exact expire time (a full sync's
//! snapshot leaves out keys already expired at its start, which the master still holds
//! until it deletes them; no client of either can read them) — and after the faults
//! heal and the clients are done, every replica reaches its master's offset. Host 0 is the master of the `replication`
//! scenario; the others are made its replicas by an operator's REPLICAOF.

use crate::checkers::Checker;
use crate::scenario::reach;
use crate::world::{log, World};
use keel_core::Node;

mod wait;
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
    if crate::host::loading(node) || node.repl_syncing() {
        return None;
    }
    Some((node.repl_id().to_string(), node.repl_offset()))
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
    /// its master's stream says so, so at every moment the DELs a replica has
    /// propagated for a key are no more than the DELs its master has (a master's DEL
    /// is produced before any replica applies it; a DEL of a key already gone
    /// propagates nothing).
    pub(crate) fn note_repl_records(
        &mut self,
        h: usize,
        records: &[keel_core::propagate::Propagated],
    ) {
        if !is_replication(&self.scenario.name) {
            return;
        }
        self.note_wait_target(h, records);
        for r in records {
            let is_del = r.argv.first().is_some_and(|c| {
                c.eq_ignore_ascii_case(b"DEL") || c.eq_ignore_ascii_case(b"UNLINK")
            });
            if !is_del {
                continue;
            }
            for key in r.argv.iter().skip(1) {
                let entry = (h, r.db, key.clone());
                *self.repl_dels.entry(entry).or_insert(0) += 1;
                if h == 0 {
                    continue;
                }
                let mine = self
                    .repl_dels
                    .get(&(h, r.db, key.clone()))
                    .copied()
                    .unwrap_or(0);
                let master = self
                    .repl_dels
                    .get(&(0, r.db, key.clone()))
                    .copied()
                    .unwrap_or(0);
                if mine > master && self.judging(Checker::Replication) {
                    let message = format!(
                        "host {h} (a replica) deleted {:?} in db {} on its own: {mine} DELs against its master's {master}",
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

    /// After every event of the `replication` scenario: replicas at the master's
    /// position compare their whole dataset with the master's (once per offset).
    pub(crate) fn check_replication(&mut self) {
        if !is_replication(&self.scenario.name) || !self.judging(Checker::Replication) {
            return;
        }
        let Some(master) = self.hosts.first().and_then(|h| h.node.as_ref()) else {
            return;
        };
        let Some(at) = position(master) else {
            return;
        };
        if at.1 == 0 {
            return;
        }
        for r in 1..self.hosts.len() {
            let Some(replica) = self.hosts[r].node.as_ref() else {
                continue;
            };
            if position(replica).as_ref() != Some(&at)
                || self.repl_compared.get(r).copied().flatten() == Some(at.1)
            {
                continue;
            }
            let wall_ms = self.hosts[0].clock.peek(self.now_ms).wall_ms;
            let (want, got) = (digest_at(master, wall_ms), digest_at(replica, wall_ms));
            if let Some(slot) = self.repl_compared.get_mut(r) {
                *slot = Some(at.1);
            }
            self.reached.insert(reach::REPLICA_COMPARED);
            if want != got {
                let message = format!(
                    "host {r} is at its master's position ({} {}) but its dataset differs (digest {} vs the master's {})",
                    at.0,
                    at.1,
                    crate::durability::hex(&got),
                    crate::durability::hex(&want)
                );
                return self.flag(
                    Checker::Replication,
                    ("equal-offset-differs", None),
                    message,
                );
            }
        }
    }

    /// At the end of a `replication` run (faults healed, clients done, a quiet
    /// period passed): every replica reached the master's position.
    pub(crate) fn check_replicas_converged(&mut self) {
        if !is_replication(&self.scenario.name) || !self.judging(Checker::Replication) {
            return;
        }
        let Some(master) = self.hosts.first().and_then(|h| h.node.as_ref()) else {
            return;
        };
        let at = position(master);
        for r in 1..self.hosts.len() {
            let Some(replica) = self.hosts[r].node.as_ref() else {
                continue;
            };
            let got = position(replica);
            if got != at {
                let message =
                    format!("after heal and quiet host {r} is at {got:?}, its master at {at:?}");
                return self.flag(Checker::Replication, ("not-converged", None), message);
            }
            self.reached.insert(reach::REPLICA_CAUGHT_UP);
            log!(self, "host {r}: caught up with host 0 at {at:?}");
        }
        self.check_replication();
    }
}
