//! Invariant 16's second half, `min-replicas-to-write N` / `min-replicas-max-lag L`,
//! judged from the world's own books (the bytes it delivered and sent on each
//! replica link), never from the master's good-replica count.
//!
//! Redis 7.0 counts a replica good when it is online and `server.unixtime -
//! repl_ack_time <= L` (whole wall seconds; keel: whole seconds of its monotonic
//! clock), and refreshes the count (`refreshGoodSlavesCount`) once a second in
//! `replicationCron`, when a replica goes online (full sync done, partial resync
//! accepted) and when a replica's link is freed — not on REPLCONF ACK. `repl_ack_time`
//! is set by an ACK and by the two ways of going online. So with the count last
//! refreshed at `t_r`, no more than `REFRESH_MS` before a write at `t`:
//! - a write that ran needs N links whose last such event came after
//!   `t_r - (L+1) s >= t - REFRESH_MS - (L+1) s`;
//! - a `-NOREPLICAS` refusal is wrong when N links still open at the master each had
//!   an ACK delivered at or before `t - REFRESH_MS` (so before `t_r`) and after
//!   `t - L s` (within L whole seconds on any clock that counts seconds).
//!
//! Clocks. Every time above is read on the master's own monotonic clock (the world
//! knows it: `HostClock::peek`), which is what its cron and keel's lag run on, so a
//! drifting monotonic clock (repl-min-replicas-clock) stretches the windows with it.
//! Redis 7.0 reads the lag on the wall clock instead (replication.c,
//! `refreshGoodSlavesCount`: `time_t lag = server.unixtime - slave->repl_ack_time;`
//! then `good++` when `lag <= server.repl_min_slaves_max_lag`; `repl_ack_time =
//! server.unixtime` on REPLCONF ACK). So in Redis a wall jump back by D seconds makes
//! the lag negative, hence good, and a silent replica stays good for up to L + D
//! seconds (writes Redis accepts that this check refuses to allow); a jump forward
//! makes every replica lag until its next ACK and the next cron (about 1-2 s of
//! spurious -NOREPLICAS). keel keeps its lag on the monotonic clock on purpose, so
//! the check allows no slack for a wall jump: a jump must change nothing.
//!
//! The world's events per link: each REPLCONF ACK delivered to the master; each byte
//! the master sent during a full sync until the link's first ACK (the master puts the
//! replica online in the step that sends the payload's end, keel holding the stream
//! until that first ACK); the `+CONTINUE` of a partial resync.

use std::collections::{BTreeMap, VecDeque};

use crate::checkers::Checker;
use crate::net::{ConnId, End};
use crate::scenario::reach;
use crate::world::{log, World};

/// The longest time between two refreshes of the master's count: its replication
/// cron's second plus a tick of lateness.
pub(crate) const REFRESH_MS: u64 = 1_200;

/// Redis 7.0's `shared.noreplicaserr`.
pub(crate) const NOREPLICAS_REPLY: &[u8] = b"-NOREPLICAS Not enough good replicas to write.\r\n";

/// ACK times kept per link (the refusal rule looks back at most L seconds).
const ACKS_KEPT: usize = 16;

/// Where a replica link is, as the world saw its bytes.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before the master's PSYNC reply.
    #[default]
    Handshake,
    /// After `+FULLRESYNC`, until the replica's first ACK.
    FullSync,
    /// After the first ACK, or after `+CONTINUE`.
    Streaming,
}

/// One replica link (a connection a host opened to its master's host).
#[derive(Debug, Default)]
struct Link {
    master: usize,
    replica: usize,
    phase: Phase,
    /// Bytes delivered to the master not yet framed as a whole command.
    unread: Vec<u8>,
    /// The latest event that sets the master's `repl_ack_time` (the master's
    /// monotonic clock then, ms).
    fresh_mono_ms: Option<u64>,
    /// The master's monotonic clock when ACKs were delivered to it, newest last.
    acks_mono_ms: VecDeque<u64>,
}

/// What the min-replicas check keeps between events.
#[derive(Debug, Default)]
pub(crate) struct MinReplBooks {
    links: BTreeMap<ConnId, Link>,
}

/// The scenario's `(min-replicas-to-write, min-replicas-max-lag)`, when both are set
/// (else Redis never refuses).
pub(crate) fn settings(persist: &[(String, String)]) -> Option<(usize, u64)> {
    let get = |name: &str| {
        persist
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.parse::<u64>().ok())
    };
    let n = usize::try_from(get("min-replicas-to-write")?).ok()?;
    let lag_secs = get("min-replicas-max-lag")?;
    (n > 0 && lag_secs > 0).then_some((n, lag_secs))
}

/// The whole commands at the start of `unread` (taken out of it); a line that is not
/// RESP (an inline command) is skipped whole.
pub(super) fn take_commands(unread: &mut Vec<u8>) -> Vec<Vec<Vec<u8>>> {
    use keel_core::resp::Value;
    let mut commands = Vec::new();
    let mut at = 0;
    while at < unread.len() {
        let rest = unread.get(at..).unwrap_or_default();
        match keel_core::resp::decode(rest) {
            Ok(Some((value, n))) => {
                at += n;
                if let Value::Array(items) = value {
                    let args = items
                        .into_iter()
                        .filter_map(|v| match v {
                            Value::Bulk(b) => Some(b),
                            _ => None,
                        })
                        .collect();
                    commands.push(args);
                }
            }
            Ok(None) => break,
            Err(_) => match rest.iter().position(|&b| b == b'\n') {
                Some(i) => at += i + 1,
                None => break,
            },
        }
    }
    unread.drain(..at);
    commands
}

fn is_ack(args: &[Vec<u8>]) -> bool {
    matches!(args, [c, a, ..] if c.eq_ignore_ascii_case(b"REPLCONF") && a.eq_ignore_ascii_case(b"ACK"))
}

impl World<'_> {
    /// Host `h`'s monotonic clock now, as its node reads it (without handing it out).
    fn master_mono_ms(&self, h: usize) -> u64 {
        self.hosts
            .get(h)
            .map_or(self.now_ms, |host| host.clock.peek(self.now_ms).mono_ms)
    }

    /// A judgement of a master other than host 0 (every scenario's first master): one
    /// promoted by FAILOVER or REPLICAOF NO ONE.
    fn note_promoted_judged(&mut self, h: usize) {
        if h != 0 {
            self.reached.insert(reach::MIN_REPLICAS_PROMOTED_JUDGED);
        }
    }

    fn min_repl_settings(&self) -> Option<(usize, u64)> {
        if !super::is_replication(&self.scenario.name) {
            return None;
        }
        settings(&self.scenario.persist)
    }

    /// The books of connection `id`, which a host opened to host `master`, when the
    /// scenario sets min-replicas (None otherwise, or for a client's connection).
    fn min_repl_link(&mut self, master: usize, id: ConnId) -> Option<&mut Link> {
        self.min_repl_settings()?;
        let Some(End::Host(replica)) = self.net.conns.get(&id).map(|c| c.initiator) else {
            return None;
        };
        Some(self.min_repl.links.entry(id).or_insert_with(|| Link {
            master,
            replica,
            ..Link::default()
        }))
    }

    /// Bytes a host sent on a connection it opened were delivered to host `master`:
    /// the REPLCONF ACKs among them.
    pub(crate) fn min_repl_delivered(&mut self, master: usize, id: ConnId, bytes: &[u8]) {
        let now = self.master_mono_ms(master);
        let Some(link) = self.min_repl_link(master, id) else {
            return;
        };
        link.unread.extend_from_slice(bytes);
        let acks = take_commands(&mut link.unread)
            .iter()
            .filter(|c| is_ack(c))
            .count();
        if acks == 0 {
            return;
        }
        link.phase = Phase::Streaming;
        link.fresh_mono_ms = Some(now);
        link.acks_mono_ms.push_back(now);
        while link.acks_mono_ms.len() > ACKS_KEPT {
            link.acks_mono_ms.pop_front();
        }
    }

    /// Host `master` sent `bytes` on a connection a host opened to it: the PSYNC reply,
    /// and a full sync's payload until the first ACK.
    pub(crate) fn min_repl_sent(&mut self, master: usize, id: ConnId, bytes: &[u8]) {
        let now = self.master_mono_ms(master);
        let Some(link) = self.min_repl_link(master, id) else {
            return;
        };
        let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        match link.phase {
            Phase::Handshake if has(b"+FULLRESYNC") => {
                link.phase = Phase::FullSync;
                link.fresh_mono_ms = Some(now);
            }
            Phase::Handshake if has(b"+CONTINUE") => {
                link.phase = Phase::Streaming;
                link.fresh_mono_ms = Some(now);
            }
            Phase::FullSync => link.fresh_mono_ms = Some(now),
            Phase::Handshake | Phase::Streaming => {}
        }
    }

    /// Host `h` ran a client's write at this moment (it propagated a record other than
    /// a DEL, which a read's lazy expiry also sends): at least N of its replica links
    /// had an ACK or went online within `REFRESH_MS + (L+1) s`.
    pub(crate) fn judge_min_repl_write(&mut self, h: usize) {
        let Some((n, lag_secs)) = self.min_repl_settings() else {
            return;
        };
        if !self.judging(Checker::Replication) {
            return;
        }
        self.note_promoted_judged(h);
        let now = self.master_mono_ms(h);
        let window_ms = REFRESH_MS + (lag_secs + 1) * 1000;
        let since = now.saturating_sub(window_ms);
        let fresh: Vec<(ConnId, usize, Option<u64>)> = self
            .min_repl
            .links
            .iter()
            .filter(|(_, l)| l.master == h)
            .map(|(&id, l)| (id, l.replica, l.fresh_mono_ms))
            .collect();
        let good = fresh
            .iter()
            .filter(|(_, _, at)| at.is_some_and(|at| at >= since))
            .count();
        self.reached.insert(reach::MIN_REPLICAS_WRITE_JUDGED);
        if good < n {
            let message = format!(
                "host {h} ran a write at {now} ms of its monotonic clock with min-replicas-to-write {n} and min-replicas-max-lag {lag_secs}, but only {good} replica links had an ACK (or went online) since {since} ms; links (conn, replica host, last event): {fresh:?}"
            );
            self.flag(
                Checker::Replication,
                ("min-replicas-accepted-stale", None),
                message,
            );
        }
    }

    /// Host `h` answered a request with `reply`, which starts with `-NOREPLICAS`: its
    /// text is Redis's, and fewer than N of its replica links still open had an ACK
    /// delivered within `(now - L s, now - REFRESH_MS]`.
    pub(crate) fn judge_noreplicas(&mut self, h: usize, reply: &[u8]) {
        let Some((n, lag_secs)) = self.min_repl_settings() else {
            return;
        };
        if !self.judging(Checker::Replication) {
            return;
        }
        self.reached.insert(reach::NOREPLICAS_REFUSED);
        self.note_promoted_judged(h);
        if reply != NOREPLICAS_REPLY {
            let message = format!(
                "host {h} refused a write with {:?}, not Redis's {:?}",
                String::from_utf8_lossy(reply),
                String::from_utf8_lossy(NOREPLICAS_REPLY)
            );
            return self.flag(Checker::Replication, ("noreplicas-text", None), message);
        }
        let now = self.master_mono_ms(h);
        let (after, until) = (
            now.saturating_sub(lag_secs * 1000),
            now.saturating_sub(REFRESH_MS),
        );
        if until <= after {
            return;
        }
        let net = &self.net;
        let good: Vec<(ConnId, usize, u64)> = self
            .min_repl
            .links
            .iter()
            .filter(|(id, l)| {
                l.master == h
                    && l.phase == Phase::Streaming
                    && net.conns.get(id).is_some_and(|c| c.acceptor_knows)
            })
            .filter_map(|(&id, l)| {
                let ack = l
                    .acks_mono_ms
                    .iter()
                    .rev()
                    .find(|&&a| a > after && a <= until)?;
                Some((id, l.replica, *ack))
            })
            .collect();
        log!(
            self,
            "host {h}: -NOREPLICAS at {now} ms of its monotonic clock; links with an ACK in ({after}, {until}]: {good:?}"
        );
        if good.len() >= n {
            let message = format!(
                "host {h} refused a write with -NOREPLICAS at {now} ms of its monotonic clock (min-replicas-to-write {n}, min-replicas-max-lag {lag_secs}), but {} open replica links had an ACK delivered in ({after}, {until}] ms: {good:?}",
                good.len()
            );
            self.flag(
                Checker::Replication,
                ("min-replicas-refused-good", None),
                message,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_framed_across_deliveries() {
        let ack = crate::workload::encode(&[b"REPLCONF".to_vec(), b"ACK".to_vec(), b"42".to_vec()]);
        let (head, tail) = ack.split_at(9);
        let mut unread = head.to_vec();
        assert!(take_commands(&mut unread).is_empty());
        unread.extend_from_slice(tail);
        unread.extend_from_slice(b"PING\r\n");
        unread.extend_from_slice(&ack);
        let commands = take_commands(&mut unread);
        assert_eq!(commands.len(), 2);
        assert!(commands.iter().all(|c| is_ack(c)));
        assert!(unread.is_empty());
        assert!(!is_ack(&[b"REPLCONF".to_vec(), b"GETACK".to_vec()]));
    }

    #[test]
    fn settings_need_both_directives() {
        let d = |n: &str, v: &str| (n.to_string(), v.to_string());
        let both = [
            d("min-replicas-to-write", "2"),
            d("min-replicas-max-lag", "3"),
        ];
        assert_eq!(settings(&both), Some((2, 3)));
        assert_eq!(settings(&both[..1]), None);
        let off = [
            d("min-replicas-to-write", "0"),
            d("min-replicas-max-lag", "3"),
        ];
        assert_eq!(settings(&off), None);
    }
}
