//! The blocking checker: two promises of Redis's blocking commands judged from what
//! the world saw, apart from the reference model (which keeps its own queue of
//! waiters and would share a misreading with it).
//!
//! - **A timeout no earlier than asked.** A blocking request answered with a timeout
//!   (`*-1`) was answered at least its timeout after the client sent it, on the host's
//!   monotonic clock or its wall clock (what the world handed the node at the send and
//!   at the reply; the node received the request after the send, so the interval it
//!   measured is shorter, never longer).
//! - **First come, first served.** Clients waiting on one key (the same database, the
//!   same family: lists or sorted sets) are served in the order they started waiting.
//!   A request started waiting when, after the node handled an input, it was the
//!   oldest unanswered request of its connection and still had no reply. When the node
//!   serves a request from key `k`, no request that started waiting on `k` at an
//!   earlier input may still be waiting with its client connected.
//!
//! Not judged: connections whose replies the node holds for an fsync (`appendfsync
//! always`: a held reply looks like a wait), connections whose database is unknown
//! (a SELECT in MULTI or of unknown outcome), and a host's epoch after a SWAPDB.

use std::collections::{BTreeMap, BTreeSet};

use keel_core::Now;

use crate::checkers::Checker;
use crate::net::ConnId;
use crate::world::World;

/// The command families that wait on a key's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    List,
    ZSet,
}

/// A blocking request's family, the keys it waits on and its timeout in ms (None when
/// the request is not a blocking command or does not parse).
fn parse(request: &[Vec<u8>]) -> Option<(Family, Vec<Vec<u8>>, u64)> {
    let name = String::from_utf8_lossy(request.first()?).to_ascii_uppercase();
    let secs = |a: &Vec<u8>| -> Option<u64> {
        let s: f64 = std::str::from_utf8(a).ok()?.parse().ok()?;
        (s.is_finite() && s >= 0.0).then(|| (s * 1000.0).floor() as u64)
    };
    match name.as_str() {
        "BLPOP" | "BRPOP" | "BZPOPMIN" | "BZPOPMAX" if request.len() >= 3 => {
            let family = if name.starts_with("BZ") {
                Family::ZSet
            } else {
                Family::List
            };
            let (timeout, keys) = request[1..].split_last()?;
            Some((family, keys.to_vec(), secs(timeout)?))
        }
        "BLMOVE" if request.len() == 6 => {
            Some((Family::List, vec![request[1].clone()], secs(&request[5])?))
        }
        "BRPOPLPUSH" if request.len() == 4 => {
            Some((Family::List, vec![request[1].clone()], secs(&request[3])?))
        }
        "BLMPOP" | "BZMPOP" => {
            let family = if name == "BZMPOP" {
                Family::ZSet
            } else {
                Family::List
            };
            let timeout = secs(request.get(1)?)?;
            let n: usize = std::str::from_utf8(request.get(2)?).ok()?.parse().ok()?;
            let keys = request.get(3..3usize.checked_add(n)?)?.to_vec();
            Some((family, keys, timeout))
        }
        _ => None,
    }
}

/// The key a served reply names (BLMOVE and BRPOPLPUSH: their source); None for a
/// timeout or a reply that names none.
fn served_key(request: &[Vec<u8>], reply: &[u8]) -> Option<Vec<u8>> {
    use keel_core::resp::Value;
    let (value, _) = keel_core::resp::decode(reply).ok()??;
    let name = String::from_utf8_lossy(request.first()?).to_ascii_uppercase();
    match value {
        Value::Bulk(_) if matches!(name.as_str(), "BLMOVE" | "BRPOPLPUSH") => {
            request.get(1).cloned()
        }
        Value::Array(items) => match items.first() {
            Some(Value::Bulk(k)) => Some(k.clone()),
            _ => None,
        },
        _ => None,
    }
}

fn is_timeout(reply: &[u8]) -> bool {
    reply == b"*-1\r\n" || reply == b"$-1\r\n"
}

/// One request found waiting.
#[derive(Debug, Clone)]
struct Waiter {
    host: usize,
    epoch: u32,
    db: u32,
    family: Family,
    keys: Vec<Vec<u8>>,
    /// The input count after which it was found waiting.
    since: u64,
}

/// The blocking checker's books.
#[derive(Debug, Default)]
pub(crate) struct BlockBooks {
    /// Inputs handed to any node so far.
    inputs: u64,
    /// Blocking requests sent, with the host's clocks at the send.
    sent: BTreeMap<usize, Now>,
    /// Blocking requests delivered, neither answered nor found waiting yet.
    pending: BTreeSet<usize>,
    waiting: BTreeMap<usize, Waiter>,
    /// Each connection's database as its replies showed it (None: unknown).
    conn_db: BTreeMap<ConnId, Option<u32>>,
    /// (host, epoch) after a SWAPDB.
    swapped: BTreeSet<(usize, u32)>,
    /// Blocking requests that ran when they were delivered (nothing ahead of them on
    /// their connection could block), with that input's number: a request behind
    /// replies held for an fsync waits from then, though it is found waiting only
    /// once they are out (chaos 0x1584). Kept after the reply: the model may judge
    /// the request's wait after it.
    ran_at: BTreeMap<usize, u64>,
    /// (earlier waiter, the request served past it, the served key).
    passed: Vec<(usize, usize, Vec<u8>)>,
    pub(crate) judged_timeouts: u64,
    pub(crate) judged_serves: u64,
}

impl World<'_> {
    /// A request is being sent: a blocking one keeps the host's clocks.
    pub(crate) fn block_books_sent(&mut self, h: usize, op: usize) {
        let Some(request) = self.history.get(op).map(|o| &o.request) else {
            return;
        };
        if parse(request).is_some() {
            let now = self.hosts[h].clock.peek(self.now_ms);
            self.block_books.sent.insert(op, now);
        }
    }

    /// Requests were delivered to a node (they join their connection's queue first).
    pub(crate) fn block_books_delivered(&mut self, delivered: &[usize]) {
        // The node runs a delivered request at once unless one ahead of it on its
        // connection may still be blocked (a blocking command, or WAIT).
        let may_block = |o: &crate::workload::Op| {
            parse(&o.request).is_some() || crate::checkers::request_name(&o.request) == "WAIT"
        };
        for &i in delivered {
            if !self.block_books.sent.contains_key(&i) {
                continue;
            }
            self.block_books.pending.insert(i);
            let Some(conn) = self.history.get(i).map(|o| o.conn) else {
                continue;
            };
            let clear = self.net.conns.get(&conn).is_some_and(|x| {
                x.awaiting
                    .iter()
                    .take_while(|&&j| j != i)
                    .all(|&j| self.history.get(j).is_some_and(|o| !may_block(o)))
            });
            if clear {
                // The input about to be handed over.
                let input = self.block_books.inputs + 1;
                self.block_books.ran_at.insert(i, input);
            }
        }
    }

    /// The input since which blocking request `i` waits, for the model's queue of
    /// waiters: the one it ran at when delivered (`ran_at`), else the latest.
    pub(crate) fn block_books_since(&self, i: usize) -> u64 {
        self.block_books
            .ran_at
            .get(&i)
            .copied()
            .unwrap_or(self.block_books.inputs)
    }

    /// After the node on host `h` handled an input (and its replies were judged):
    /// which delivered blocking requests now wait.
    pub(crate) fn block_books_after_input(&mut self, h: usize) {
        self.block_books.inputs += 1;
        let since = self.block_books.inputs;
        let pending: Vec<usize> = self.block_books.pending.iter().copied().collect();
        for i in pending {
            let Some(op) = self.history.get(i) else {
                continue;
            };
            if op.node_reply.is_some() || op.host != h {
                if op.node_reply.is_some() {
                    self.block_books.pending.remove(&i);
                }
                continue;
            }
            let front = self
                .net
                .conns
                .get(&op.conn)
                .and_then(|x| x.awaiting.front().copied());
            if front != Some(i) {
                // Behind an earlier request of its connection: not run yet.
                continue;
            }
            self.block_books.pending.remove(&i);
            let held = self.hosts[h]
                .node
                .as_ref()
                .is_none_or(|n| n.holds_reply_for(op.conn));
            let db = self
                .block_books
                .conn_db
                .get(&op.conn)
                .copied()
                .unwrap_or(Some(0));
            let (Some(db), Some((family, keys, _)), false) = (db, parse(&op.request), held) else {
                continue;
            };
            if self.block_books.swapped.contains(&(h, op.epoch)) {
                continue;
            }
            let since = self
                .block_books
                .ran_at
                .get(&i)
                .map_or(since, |&ran| ran.min(since));
            self.block_books.waiting.insert(
                i,
                Waiter {
                    host: h,
                    epoch: op.epoch,
                    db,
                    family,
                    keys,
                    since,
                },
            );
        }
    }

    /// Host `h`'s node replied `reply` to request `i` (in the order it sent replies).
    pub(crate) fn block_books_reply(&mut self, h: usize, i: usize, reply: &[u8]) {
        let Some(op) = self.history.get(i) else {
            return;
        };
        let name = crate::checkers::request_name(&op.request);
        let ok = reply.starts_with(b"+");
        match name.as_str() {
            "SELECT" if ok => {
                let db = std::str::from_utf8(op.request.get(1).map_or(&b""[..], |v| v))
                    .ok()
                    .and_then(|d| d.parse().ok());
                self.block_books.conn_db.insert(op.conn, db);
            }
            // Queued: it would take effect at the EXEC; the database is unknown from here.
            "SELECT" if reply == b"+QUEUED\r\n" => {
                self.block_books.conn_db.insert(op.conn, None);
            }
            "RESET" if ok => {
                self.block_books.conn_db.insert(op.conn, Some(0));
            }
            "SWAPDB" if !reply.starts_with(b"-") => {
                self.block_books.swapped.insert((h, op.epoch));
            }
            _ => {}
        }
        let Some(sent) = self.block_books.sent.remove(&i) else {
            return;
        };
        self.block_books.pending.remove(&i);
        let me = self.block_books.waiting.remove(&i);
        let Some((_, _, timeout_ms)) = parse(&op.request) else {
            return;
        };
        if is_timeout(reply) && self.checks.blocking {
            self.block_books.judged_timeouts += 1;
            let mono = self.drain.mono_ms().saturating_sub(sent.mono_ms);
            let wall = self.drain.wall_ms().saturating_sub(sent.wall_ms);
            // 1 ms for the timeout's rounding to whole milliseconds.
            if timeout_ms == 0 || (mono + 1 < timeout_ms && wall + 1 < timeout_ms) {
                let request = op.request.clone();
                self.flag(
                    Checker::Blocking,
                    ("timeout-early", Some(&request)),
                    format!(
                        "#{i} {} timed out {mono} ms (monotonic) and {wall} ms (wall) after it was sent, of a {timeout_ms} ms timeout",
                        crate::world::show(&request)
                    ),
                );
            }
            return;
        }
        let (Some(me), Some(key)) = (me, served_key(&op.request, reply)) else {
            return;
        };
        self.block_books.judged_serves += 1;
        // Every request that started waiting on this key before this one, still waiting
        // with its client there, was passed over.
        let passed: Vec<usize> = self
            .block_books
            .waiting
            .iter()
            .filter(|(_, w)| {
                w.host == me.host
                    && w.epoch == me.epoch
                    && w.db == me.db
                    && w.family == me.family
                    && w.since < me.since
                    && w.keys.contains(&key)
            })
            .map(|(&j, _)| j)
            .filter(|j| {
                self.history.get(*j).is_some_and(|o| {
                    self.net
                        .conns
                        .get(&o.conn)
                        .is_some_and(|x| x.client().is_some())
                })
            })
            .collect();
        for j in passed {
            self.block_books.passed.push((j, i, key.clone()));
        }
    }

    /// At the end of a run: a request passed over is a violation unless its own reply
    /// was an error (it could not have been served).
    pub(crate) fn block_books_finish(&mut self) {
        if !self.checks.blocking {
            return;
        }
        let passed = std::mem::take(&mut self.block_books.passed);
        for (j, i, key) in passed {
            let errored = self
                .history
                .get(j)
                .and_then(|o| o.node_reply.as_ref())
                .is_some_and(|r| r.starts_with(b"-"));
            if errored {
                continue;
            }
            let (Some(a), Some(b)) = (self.history.get(j), self.history.get(i)) else {
                continue;
            };
            let (ra, rb) = (a.request.clone(), b.request.clone());
            self.flag(
                Checker::Blocking,
                ("served-out-of-order", Some(&rb)),
                format!(
                    "#{i} {} was served from {} while #{j} {}, waiting on it since an earlier input, still waited",
                    crate::world::show(&rb),
                    String::from_utf8_lossy(&key),
                    crate::world::show(&ra)
                ),
            );
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Vec<Vec<u8>> {
        s.split(' ').map(|a| a.as_bytes().to_vec()).collect()
    }

    #[test]
    fn blocking_requests_parse_as_redis_reads_them() {
        let (f, keys, t) = parse(&req("BLPOP a b 1.5")).unwrap();
        assert_eq!((f, keys, t), (Family::List, req("a b"), 1500));
        let (f, keys, t) = parse(&req("BZMPOP 0.01 2 z1 z2 MIN COUNT 2")).unwrap();
        assert_eq!((f, keys, t), (Family::ZSet, req("z1 z2"), 10));
        let (_, keys, _) = parse(&req("BLMOVE s d LEFT RIGHT 0")).unwrap();
        assert_eq!(keys, req("s"));
        assert!(parse(&req("LPOP a")).is_none());
        assert!(parse(&req("BLPOP a x")).is_none());
    }

    #[test]
    fn served_keys_come_from_the_reply() {
        assert_eq!(
            served_key(&req("BLPOP a b 1"), b"*2\r\n$1\r\nb\r\n$1\r\nx\r\n"),
            Some(b"b".to_vec())
        );
        assert_eq!(
            served_key(&req("BLMOVE s d LEFT RIGHT 1"), b"$1\r\nx\r\n"),
            Some(b"s".to_vec())
        );
        assert_eq!(served_key(&req("BLPOP a 1"), b"*-1\r\n"), None);
    }
}
