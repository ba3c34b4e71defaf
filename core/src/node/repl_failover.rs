//! FAILOVER's and the rollback file's wiring. The failover (`crate::repl::failover`
//! decides, `commands::failover` starts and aborts): each step, while waiting for sync,
//! look at the replicas' ACKs and hand over (become a replica of the target, which the
//! replica link asks `PSYNC ... FAILOVER`), or give up at the timeout; the PSYNC's answer
//! ends it. The rollback file (`crate::repl::rollback`): cut when the node is demoted,
//! written through `Effect::Disk` when the sync that follows is full.

use crate::commands;
use crate::io::{DiskResult, Effect, IoId, LogLevel, Now};
use crate::mutants::Mutant;
use crate::repl::failover::{Candidate, Decision};
use crate::repl::rollback::{self, FileJob, Next};

use super::Node;

impl Node {
    /// Redis's `updateFailoverStatus` (its beforeSleep call): while waiting for sync,
    /// hand over once a replica ACKed the whole stream (or at the timeout with
    /// FORCE); abort at the timeout without.
    pub(super) fn failover_step(&mut self, now: Now) {
        if self.server.failover.state != crate::repl::failover::FailoverState::WaitForSync {
            return;
        }
        let server = &mut self.server;
        server
            .repl_master
            .feed(&mut server.propagation, &mut server.repl);
        let replicas: Vec<Candidate> = server
            .repl_master
            .replicas
            .values()
            .map(|l| Candidate {
                ip: l.ip(),
                port: l.conf.listening_port,
                ack_offset: l.ack_offset,
            })
            .collect();
        let offset = server.repl.master_repl_offset;
        let skip = server.mutants.is(Mutant::FailoverSkipsCatchup);
        match server.failover.decide(now.mono_ms, &replicas, offset, skip) {
            Decision::Wait => {}
            Decision::Abort(reason) => commands::failover::abort(&mut self.server, reason),
            Decision::HandOver { host, port, forced } => {
                let line = if forced {
                    format!("FAILOVER to {host}:{port} time out exceeded, failing over.")
                } else {
                    format!("Failover target {host}:{port} is synced, failing over.")
                };
                self.server.log(LogLevel::Notice, line);
                // Redis's replicationSetMaster: the link connects at once, and this
                // node's own replicas are dropped (they may continue with the target).
                self.server
                    .config
                    .set_replicaof(Some((host.clone().into_bytes(), port)));
                self.server.replica.set_master(now, host, port, true);
            }
        }
    }

    /// The target answered the PSYNC: a failover in progress is done when it took it
    /// (`+CONTINUE` or `+FULLRESYNC`), aborted when it refused (Redis's syncWithMaster).
    pub(super) fn failover_psync_outcome(&mut self, accepted: bool) {
        if self.server.failover.state != crate::repl::failover::FailoverState::InProgress {
            return;
        }
        if accepted {
            commands::failover::clear(&mut self.server);
        } else {
            commands::failover::abort(&mut self.server, "Failover target rejected psync request");
        }
    }

    /// The node was a master and becomes a replica: cut what it wrote past the lowest
    /// ACK of its replicas from the backlog, kept until the sync says whether it is
    /// lost (a full resync) or not (a partial one).
    pub(super) fn rollback_take_cut(&mut self) {
        let server = &mut self.server;
        server
            .repl_master
            .feed(&mut server.propagation, &mut server.repl);
        let m = &server.repl_master;
        let Some(backlog) = m.backlog.as_ref() else {
            // No backlog (no replica ever attached, or it was freed): no stream to
            // cut. What a full resync then replaces is said, not kept.
            let keys = self.keyspace.total_keys() as u64;
            self.server.rollback.cut = None;
            self.server.rollback.unkept_keys = (keys > 0).then_some(keys);
            return;
        };
        let start = backlog.first_byte_offset().saturating_sub(1);
        let end = server.repl.master_repl_offset;
        let (mut from, truncated) = rollback::floor(&m.last_acks, start);
        let from_ack = m.last_acks.values().min().is_some_and(|&ack| ack >= start);
        if !from_ack {
            // The backlog's first byte may be inside a command (it keeps the newest
            // bytes): start at the first command boundary known from there.
            from = m.boundary_at_or_after(start).unwrap_or(end);
        }
        if from >= end {
            server.rollback.cut = None;
            return;
        }
        let Some(stream) = backlog.read_from(from + 1, false) else {
            return;
        };
        let db = m.db_after(from).unwrap_or(0);
        let mut cut = rollback::cut(&server.repl.replid, from, end, db, &stream, truncated);
        for (mutant, first) in [
            (Mutant::RollbackCutStartsLate, true),
            (Mutant::RollbackFileDropsLast, false),
        ] {
            if server.mutants.is(mutant) {
                rollback::plant_drop_write(&mut cut, first);
            }
        }
        server.rollback.cut = (cut.writes > 0).then_some(cut);
    }

    /// A full resync is replacing the dataset: the cut taken at demotion, if any, goes
    /// to its file first.
    pub(super) fn rollback_write_cut(&mut self) {
        if let Some(keys) = self.server.rollback.unkept_keys.take() {
            self.server.rollback.unkept_syncs += 1;
            self.server.log(
                LogLevel::Warning,
                format!("The full resynchronization replaces the {keys} keys this node held as a master without a rollback file: it had no replication backlog (no replica attached), so no stream of its writes to keep"),
            );
        }
        let Some(cut) = self.server.rollback.cut.take() else {
            return;
        };
        let mut line = format!(
            "Writing {} writes this node accepted as a master (stream {} offsets {}..{}), which its new master may lack, to rollback file {} before the full resynchronization replaces the dataset",
            cut.writes,
            cut.replid,
            cut.from_offset + 1,
            cut.to_offset,
            cut.file_name()
        );
        if cut.truncated {
            line.push_str(
                "; older writes past the lowest replica ACK were no longer in the backlog",
            );
        }
        self.server.log(LogLevel::Warning, line);
        if self.server.rollback.job.is_some() {
            self.server.rollback.queued.push(cut);
            return;
        }
        self.rollback_start(cut);
    }

    fn rollback_start(&mut self, cut: rollback::Cut) {
        let io = self.server.draw_io_id();
        let (job, op) = FileJob::start(io, cut);
        self.server.rollback.job = Some(job);
        self.server.effects.push_back(Effect::Disk { io, op });
    }

    /// A disk completion for the rollback file's write; true when it was its.
    pub(super) fn rollback_disk_done(&mut self, io: IoId, result: &DiskResult) -> bool {
        let Some(mut job) = self.server.rollback.job.take_if(|j| j.io == io) else {
            return false;
        };
        match job.on_done(result) {
            Next::Op(op) => {
                let io = self.server.draw_io_id();
                job.io = io;
                self.server.rollback.job = Some(job);
                self.server.effects.push_back(Effect::Disk { io, op });
            }
            Next::Done(Ok(())) => {
                let r = &mut self.server.rollback;
                r.files += 1;
                r.writes += job.writes;
                r.last_file = job.name.clone();
                self.server.log(
                    LogLevel::Warning,
                    format!("Rollback file {} written: {} writes", job.name, job.writes),
                );
                self.rollback_next();
            }
            Next::Done(Err(e)) => {
                self.server.log(
                    LogLevel::Warning,
                    format!(
                        "Failed writing rollback file {} ({e:?}): its {} writes are lost",
                        job.name, job.writes
                    ),
                );
                self.server.rollback.write_errors += 1;
                self.rollback_next();
            }
        }
        true
    }

    fn rollback_next(&mut self) {
        if self.server.rollback.queued.is_empty() {
            return;
        }
        let cut = self.server.rollback.queued.remove(0);
        self.rollback_start(cut);
    }
}
