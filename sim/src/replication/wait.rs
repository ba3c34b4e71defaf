//! Invariant 16, WAIT's count is honest, judged from outside the nodes: a master's
//! reply to `WAIT n t` counts no more replicas than had really applied (the world
//! reads each replica node's replid and offset when the reply leaves) the client's
//! last write. It keeps the books that needs (where each connection's last write ends
//! in its master's stream) and never trusts the master's ACK table.

use std::collections::{BTreeMap, BTreeSet};

use crate::checkers::Checker;
use crate::net::ConnId;
use crate::scenario::reach;
use crate::world::{log, World};

/// What the WAIT check keeps between events.
#[derive(Debug, Default)]
pub(crate) struct ReplBooks {
    /// The master being handed a client's bytes, and its stream offset before them.
    step_start: Option<(usize, u64)>,
    /// The connections whose requests were delivered or answered in that step (an
    /// unblocked client's pipeline runs in whichever step comes next, so the step's
    /// records are one connection's only when the step touched one connection).
    step_conns: BTreeSet<ConnId>,
    /// Per client connection: its host's boot (epoch) and a lower bound of where its
    /// last write ends in that host's stream.
    wait_targets: BTreeMap<ConnId, (u32, u64)>,
}

/// The bytes a propagated command takes in the stream (RESP, as the encoder writes
/// it; the SELECT or MULTI/EXEC the encoder may add around it are not counted, so a
/// sum of these is a lower bound).
fn encoded_len(argv: &[Vec<u8>]) -> u64 {
    let header = |n: usize| 3 + n.to_string().len() as u64;
    argv.iter().fold(header(argv.len()), |sum, a| {
        sum + header(a.len()) + a.len() as u64 + 2
    })
}

/// Whether a request is WAIT (its reply goes to this check, not the model).
pub(crate) fn is_wait(request: &[Vec<u8>]) -> bool {
    request
        .first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"WAIT"))
}

/// `:<n>\r\n` -> n.
fn integer_reply(reply: &[u8]) -> Option<u64> {
    let digits = reply.strip_prefix(b":")?.strip_suffix(b"\r\n")?;
    std::str::from_utf8(digits).ok()?.parse().ok()
}

impl World<'_> {
    /// Before a client's bytes on `conn` are handed to host `h`: its stream offset,
    /// if it is a master of a replication scenario.
    pub(crate) fn repl_step_starts(&mut self, h: usize, conn: ConnId) {
        self.repl_books.step_start = None;
        self.repl_books.step_conns.clear();
        self.repl_books.step_conns.insert(conn);
        if !super::is_replication(&self.scenario.name) {
            return;
        }
        let Some(node) = self.hosts[h].node.as_ref() else {
            return;
        };
        if !node.is_replica() {
            self.repl_books.step_start = Some((h, node.repl_offset()));
        }
    }

    /// After the client's bytes were handled.
    pub(crate) fn repl_step_ends(&mut self) {
        self.repl_books.step_start = None;
        self.repl_books.step_conns.clear();
    }

    /// A request on `conn` was answered by host `h`.
    pub(crate) fn repl_step_answered(&mut self, h: usize, conn: ConnId) {
        if self.repl_books.step_start.is_some_and(|(m, _)| m == h) {
            self.repl_books.step_conns.insert(conn);
        }
    }

    /// Host `h` propagated `records` while running the batch being delivered: the
    /// batch's connection's last write ends at least at the offset before the step
    /// plus their encoded bytes (the node feeds its stream after every input, before
    /// it appends a PING or a GETACK), and not past where the stream is now.
    pub(super) fn note_wait_target(
        &mut self,
        h: usize,
        records: &[keel_core::propagate::Propagated],
    ) {
        let Some((master, before)) = self.repl_books.step_start else {
            return;
        };
        let mut conns = self.repl_books.step_conns.iter();
        let (Some(&conn), None, true) = (conns.next(), conns.next(), master == h) else {
            return;
        };
        let Some(now) = self.hosts[h].node.as_ref().map(|n| n.repl_offset()) else {
            return;
        };
        let added: u64 = records.iter().map(|r| encoded_len(&r.argv)).sum();
        let target = before.saturating_add(added).min(now);
        if target > before {
            log!(self, "host {h}: conn {conn}'s last write ends at {target} or later (stream {before} -> {now})");
            let epoch = self.hosts[h].epoch;
            self.repl_books.wait_targets.insert(conn, (epoch, target));
        }
    }

    /// Host `h` propagated `records` while running a client's batch: a write other
    /// than a DEL (a read's lazy expiry sends one too) ran now, past the
    /// min-replicas check.
    pub(super) fn note_min_repl_write(
        &mut self,
        h: usize,
        records: &[keel_core::propagate::Propagated],
    ) {
        if self.repl_books.step_start.is_none_or(|(m, _)| m != h) {
            return;
        }
        let write = records.iter().any(|r| {
            r.argv.first().is_some_and(|c| {
                !c.eq_ignore_ascii_case(b"DEL") && !c.eq_ignore_ascii_case(b"UNLINK")
            })
        });
        if write {
            self.judge_min_repl_write(h);
        }
    }

    /// Host `h` answered a WAIT on `conn` with `reply`: the count is at most the
    /// replicas that have applied the connection's last write, as the world reads
    /// them now (same replication id as the master, not mid full sync, offset at or
    /// past the write's end; or a host that left that history since, by a promotion,
    /// a full sync or a crash, after it was seen at or past it).
    pub(crate) fn judge_wait(&mut self, h: usize, conn: ConnId, reply: &[u8]) {
        if !super::is_replication(&self.scenario.name) || !self.judging(Checker::Replication) {
            return;
        }
        let Some(count) = integer_reply(reply) else {
            return;
        };
        self.reached.insert(reach::WAIT_ANSWERED);
        let Some(&(epoch, target)) = self.repl_books.wait_targets.get(&conn) else {
            return;
        };
        let Some(master) = self.hosts[h].node.as_ref() else {
            return;
        };
        if epoch != self.hosts[h].epoch || master.is_replica() {
            return;
        }
        let replid = master.repl_id();
        let applied: Vec<(usize, u64)> = (0..self.hosts.len())
            .filter(|&r| r != h)
            .filter_map(|r| {
                // A host down now (crashed in the same millisecond as the WAIT's
                // timeout, its link not yet closed at the master) had applied what
                // it was last seen holding.
                let Some(node) = self.hosts[r].node.as_ref() else {
                    return self.applied_in_history(r, replid).map(|at| (r, at));
                };
                let usable = !crate::host::loading(node) && !node.repl_syncing();
                if usable && node.repl_id() == replid {
                    return Some((r, node.repl_offset()));
                }
                // A host that left the master's history since (promoted, or
                // full-synced from another master) had applied it this far.
                self.applied_in_history(r, replid).map(|at| (r, at))
            })
            .collect();
        let honest = applied.iter().filter(|(_, at)| *at >= target).count() as u64;
        log!(
            self,
            "host {h}: WAIT on conn {conn} answered {count}; write ends at {target}, replicas at {applied:?}"
        );
        if count > 0 {
            self.reached.insert(reach::WAIT_COUNTED);
        }
        if count > honest {
            let message = format!(
                "host {h} answered WAIT with {count} on conn {conn}, but only {honest} replicas had applied its last write (which ends at offset {target} or later); replicas at {applied:?}"
            );
            self.flag(Checker::Replication, ("wait-overcounted", None), message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_len_matches_the_encoder() {
        let argv = vec![b"SET".to_vec(), b"k0".to_vec(), b"0123456789".to_vec()];
        let bytes = crate::workload::encode(&argv);
        assert_eq!(encoded_len(&argv), bytes.len() as u64);
        assert_eq!(integer_reply(b":12\r\n"), Some(12));
        assert_eq!(integer_reply(b"-ERR x\r\n"), None);
    }
}
