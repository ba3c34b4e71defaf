//! Invariant 14, PSYNC, judged on the simulated wire from the world's own books:
//! every `PSYNC <replid> <offset>` a host sends to another host, and that host's
//! answer (`+CONTINUE` or `+FULLRESYNC`), against what the world knows of the
//! answering node's histories and backlog. The node's sync counters and its
//! replid2 are never read.
//!
//! The books, per host, kept from its role, replid and offset after every event:
//! - its current history id; its previous one and the switch point up to which a
//!   PSYNC may name it (set when a replica's id changes without a full sync: a
//!   promotion or a `+CONTINUE <new id>`; the switch point is the offset it had
//!   before, plus one, as Redis's `shiftReplicationId`);
//! - `held_from`: the lowest PSYNC offset its backlog can serve (a backlog starts
//!   empty where it is made: at a boot, at the offset of a `+FULLRESYNC` the host
//!   adopted, at a master's new history). With `repl-backlog-size` and the host's
//!   offset this bounds the range a backlog can hold.
//!
//! A `+CONTINUE` is forbidden when the id is neither the current one nor the
//! previous one with the offset at or before the switch point, when the offset is
//! below what the backlog can still hold, or past the master's offset plus one. A
//! `+FULLRESYNC` is wrong when the id matched and the offset was inside the backlog
//! with a margin, at the PSYNC's arrival and at the answer (a full sync may be
//! answered late, when its snapshot starts).

use std::collections::BTreeMap;

use crate::checkers::Checker;
use crate::net::{ConnId, End};
use crate::scenario::reach;
use crate::world::{log, World};

/// A `+FULLRESYNC` is judged wrong only for an offset at least this far above the
/// lowest one the backlog can hold (the books bound that offset from below).
const MARGIN_BYTES: u64 = 16;

/// What the world knows of one host's replication position and histories.
#[derive(Debug, Clone, PartialEq, Eq)]
struct HostBook {
    epoch: u32,
    /// Seen only loading (or not yet at all): the next look starts the books anew.
    settled: bool,
    replica: bool,
    replid: String,
    offset: u64,
    /// The previous history and the highest PSYNC offset that may name it.
    prev: Option<(String, u64)>,
    /// The lowest PSYNC offset the backlog can serve.
    held_from: u64,
}

/// A PSYNC delivered to a host, waiting for its answer.
#[derive(Debug, Clone)]
struct Asked {
    replid: String,
    offset: i64,
    /// The answering host's books when the PSYNC arrived.
    book: HostBook,
}

#[derive(Debug, Default)]
struct LinkBook {
    unread: Vec<u8>,
    asked: Option<Asked>,
}

/// The PSYNC checker's books.
#[derive(Debug, Default)]
pub(crate) struct PsyncBooks {
    hosts: BTreeMap<usize, HostBook>,
    links: BTreeMap<ConnId, LinkBook>,
    /// Per replica host: the `+FULLRESYNC <replid> <offset>` it was sent last,
    /// until it adopts that id.
    full_pending: BTreeMap<usize, (String, u64)>,
    /// Per (host, history id): the highest offset of that history the host was
    /// seen to hold, not loading nor mid full sync (the WAIT books' "applied").
    applied: BTreeMap<usize, BTreeMap<String, u64>>,
}

/// The verdict on a `+CONTINUE`: None when the rules allow it.
fn continue_verdict(
    book: &HostBook,
    asked: &Asked,
    offset_before: u64,
    offset_now: u64,
    backlog_bytes: u64,
) -> Option<(&'static str, String)> {
    let o = asked.offset;
    let by_prev = book
        .prev
        .as_ref()
        .is_some_and(|(id, upto)| id.eq_ignore_ascii_case(&asked.replid) && o <= *upto as i64);
    if !asked.replid.eq_ignore_ascii_case(&book.replid) && !by_prev {
        return Some((
            "psync-continue-wrong-id",
            format!(
                "continued {} {o}: its ids are {} and {:?}",
                asked.replid, book.replid, book.prev
            ),
        ));
    }
    let Ok(o) = u64::try_from(o) else {
        return Some((
            "psync-continue-outside-backlog",
            format!("continued at {o}"),
        ));
    };
    if o > offset_now.saturating_add(1) {
        return Some((
            "psync-continue-future",
            format!("continued at {o}, past its offset {offset_now} plus one"),
        ));
    }
    let lowest = book.held_from.max(
        offset_before
            .saturating_add(1)
            .saturating_sub(backlog_bytes),
    );
    if o < lowest {
        return Some((
            "psync-continue-outside-backlog",
            format!(
                "continued at {o}, but its backlog ({backlog_bytes} bytes, offset {offset_before}, made at {}) holds nothing before {lowest}",
                book.held_from
            ),
        ));
    }
    None
}

/// Whether the rules clearly required a `+CONTINUE` (then a `+FULLRESYNC` is wrong):
/// the master kept its history from the PSYNC's arrival to the answer (or was
/// promoted right then), the id matched at the arrival, and the offset is inside the
/// backlog with a margin.
fn continue_required(
    then: &HostBook,
    now: &HostBook,
    asked: &Asked,
    offset_now: u64,
    backlog_bytes: u64,
) -> bool {
    // The same history since, or a promotion that kept it as the previous one
    // (a PSYNC FAILOVER promotes the replica it is sent to, then is served).
    let kept = then.replid == now.replid
        || now
            .prev
            .as_ref()
            .is_some_and(|(id, upto)| *id == then.replid && *upto == then.offset.saturating_add(1));
    let same = then.epoch == now.epoch
        && kept
        && then.held_from == now.held_from
        && then.settled
        && now.settled;
    let Ok(o) = u64::try_from(asked.offset) else {
        return false;
    };
    let by_prev = then
        .prev
        .as_ref()
        .is_some_and(|(id, upto)| id.eq_ignore_ascii_case(&asked.replid) && o <= *upto);
    let id_ok = asked.replid.eq_ignore_ascii_case(&then.replid) || by_prev;
    let lowest = then
        .held_from
        .max(offset_now.saturating_add(1).saturating_sub(backlog_bytes))
        .saturating_add(MARGIN_BYTES);
    same && id_ok && o >= lowest && o <= then.offset.saturating_add(1)
}

/// `+FULLRESYNC <replid> <offset>` at the start of `bytes`.
fn parse_fullresync(bytes: &[u8]) -> Option<(String, u64)> {
    let line = bytes.split(|&b| b == b'\r').next()?;
    let text = std::str::from_utf8(line.strip_prefix(b"+FULLRESYNC ")?).ok()?;
    let (id, offset) = text.split_once(' ')?;
    Some((id.to_string(), offset.trim().parse().ok()?))
}

impl World<'_> {
    /// Brings host `h`'s books up to its node's role, id and offset.
    fn observe_psync_host(&mut self, h: usize) {
        let Some(node) = self.hosts[h].node.as_ref() else {
            return;
        };
        let epoch = self.hosts[h].epoch;
        let loading = crate::host::loading(node);
        if !loading && !node.repl_syncing() {
            let books = &mut self.psync;
            if let Some(book) = books
                .hosts
                .get_mut(&h)
                .filter(|b| b.epoch == epoch && b.settled && b.replid == node.repl_id())
            {
                // The common case, once per host and event: the same history as
                // last time (its `applied` entry exists: it was booked then), so
                // only the offsets move.
                let offset = node.repl_offset();
                let most = books
                    .applied
                    .get_mut(&h)
                    .and_then(|by_id| by_id.get_mut(book.replid.as_str()));
                if let Some(most) = most {
                    *most = (*most).max(offset);
                    book.replica = node.is_replica();
                    book.offset = offset;
                    return;
                }
            }
            let most = self
                .psync
                .applied
                .entry(h)
                .or_default()
                .entry(node.repl_id().to_string())
                .or_insert(0);
            *most = (*most).max(node.repl_offset());
        }
        let (replica, replid, offset) = (
            node.is_replica(),
            node.repl_id().to_string(),
            node.repl_offset(),
        );
        let fresh = HostBook {
            epoch,
            settled: !loading,
            replica,
            replid: replid.clone(),
            offset,
            prev: None,
            held_from: offset.saturating_add(1),
        };
        let books = &mut self.psync;
        let Some(book) = books
            .hosts
            .get_mut(&h)
            .filter(|b| b.epoch == epoch && b.settled && !loading)
        else {
            books.full_pending.remove(&h);
            books.hosts.insert(h, fresh);
            return;
        };
        if book.replid != replid {
            let adopted = books
                .full_pending
                .get(&h)
                .and_then(|(id, x)| (*id == replid).then_some(*x));
            if let Some(x) = adopted {
                // A full sync: a new history, its backlog from the snapshot's offset.
                books.full_pending.remove(&h);
                book.prev = None;
                book.held_from = x.saturating_add(1);
            } else if book.replica {
                // A promotion or a `+CONTINUE <new id>`: the old history up to here.
                let upto = book.offset.saturating_add(1);
                log!(
                    self,
                    "psync books: host {h} left {} at {upto} for {replid}",
                    self.psync.hosts[&h].replid
                );
                let Some(book) = self.psync.hosts.get_mut(&h) else {
                    return;
                };
                book.prev = Some((book.replid.clone(), upto));
            } else {
                // A master's new history (its first backlog, or one freed).
                book.prev = None;
                book.held_from = book.offset.saturating_add(1);
            }
        }
        let Some(book) = self.psync.hosts.get_mut(&h) else {
            return;
        };
        book.replica = replica;
        book.replid = replid;
        book.offset = offset;
    }

    /// The highest offset of history `replid` host `r` was seen to hold, whatever
    /// it holds now (a promotion, or a full sync from another master, since).
    pub(crate) fn applied_in_history(&self, r: usize, replid: &str) -> Option<u64> {
        self.psync
            .applied
            .get(&r)
            .and_then(|by_id| by_id.get(replid))
            .copied()
    }

    /// After every event: every host's books.
    pub(crate) fn observe_psync(&mut self) {
        for h in 0..self.hosts.len() {
            self.observe_psync_host(h);
        }
    }

    /// Bytes a host sent on a connection it opened were delivered to host `master`:
    /// a PSYNC among them waits for its answer, with `master`'s books as they are.
    pub(crate) fn psync_delivered(&mut self, master: usize, id: ConnId, bytes: &[u8]) {
        if !super::is_replication(&self.scenario.name) {
            return;
        }
        let Some(End::Host(_)) = self.net.conns.get(&id).map(|c| c.initiator) else {
            return;
        };
        self.observe_psync_host(master);
        let book = self.psync.hosts.get(&master).cloned();
        let link = self.psync.links.entry(id).or_default();
        link.unread.extend_from_slice(bytes);
        for args in super::min_replicas::take_commands(&mut link.unread) {
            let is_psync = args
                .first()
                .is_some_and(|c| c.eq_ignore_ascii_case(b"PSYNC"));
            let (Some(replid), Some(offset), Some(book)) = (args.get(1), args.get(2), &book) else {
                continue;
            };
            let offset = std::str::from_utf8(offset)
                .ok()
                .and_then(|o| o.parse::<i64>().ok());
            if let (true, Some(offset)) = (is_psync, offset) {
                link.asked = Some(Asked {
                    replid: String::from_utf8_lossy(replid).into_owned(),
                    offset,
                    book: book.clone(),
                });
            }
        }
    }

    /// Host `master` sent `bytes` on a connection a host opened to it: the answer to
    /// a PSYNC waiting there is judged.
    pub(crate) fn psync_sent(&mut self, master: usize, id: ConnId, bytes: &[u8]) {
        let Some(End::Host(replica)) = self.net.conns.get(&id).map(|c| c.initiator) else {
            return;
        };
        let Some(asked) = self.psync.links.get_mut(&id).and_then(|l| l.asked.take()) else {
            return;
        };
        let continued = bytes.starts_with(b"+CONTINUE");
        let full = parse_fullresync(bytes);
        if !continued && full.is_none() {
            if !bytes.starts_with(b"-") {
                // Not the answer yet.
                if let Some(link) = self.psync.links.get_mut(&id) {
                    link.asked = Some(asked);
                }
            }
            return;
        }
        // A PSYNC FAILOVER promotes the answering replica in this very event.
        self.observe_psync_host(master);
        let Some(node) = self.hosts[master].node.as_ref() else {
            return;
        };
        let backlog_bytes = node.config().settings().repl_backlog_size_bytes;
        let offset_now = node.repl_offset();
        let Some(book) = self.psync.hosts.get(&master).cloned() else {
            return;
        };
        let what = format!(
            "host {master} answered host {replica}'s PSYNC {} {}",
            asked.replid, asked.offset
        );
        if continued {
            self.psync.full_pending.remove(&replica);
            let line = bytes.split(|&b| b == b'\r').next().unwrap_or_default();
            let named = line
                .strip_prefix(b"+CONTINUE ")
                .map(|id| String::from_utf8_lossy(id).into_owned());
            let mut verdict =
                continue_verdict(&book, &asked, asked.book.offset, offset_now, backlog_bytes);
            if let Some(named) = named.filter(|n| !n.eq_ignore_ascii_case(&book.replid)) {
                verdict = verdict.or(Some((
                    "psync-continue-wrong-id",
                    format!("+CONTINUE {named}, but its id is {}", book.replid),
                )));
            }
            log!(self, "psync: {what} with +CONTINUE ({verdict:?})");
            self.reached.insert(reach::PSYNC_CONTINUE_JUDGED);
            if !asked.replid.eq_ignore_ascii_case(&book.replid) {
                self.reached.insert(reach::PSYNC_PREVIOUS_ID_CONTINUED);
            }
            if let Some((kind, why)) = verdict.filter(|_| self.judging(Checker::Psync)) {
                let message = format!("{what} with +CONTINUE: {why}");
                self.flag(Checker::Psync, (kind, None), message);
            }
            return;
        }
        let Some((replid, x)) = full else {
            return;
        };
        self.psync.full_pending.insert(replica, (replid, x));
        let required = continue_required(&asked.book, &book, &asked, offset_now, backlog_bytes);
        log!(
            self,
            "psync: {what} with +FULLRESYNC (then {:?}, now {book:?}, offset {offset_now}; required continue: {required})",
            asked.book
        );
        if required && self.judging(Checker::Psync) {
            let message = format!(
                "{what} with +FULLRESYNC, but the id matched ({} / {:?}) and the offset is inside its backlog (from {}, offset {} then, {offset_now} now, {backlog_bytes} bytes)",
                book.replid, book.prev, book.held_from, asked.book.offset
            );
            self.flag(Checker::Psync, ("psync-full-not-needed", None), message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn book(replid: &str, offset: u64, prev: Option<(&str, u64)>, held_from: u64) -> HostBook {
        HostBook {
            epoch: 1,
            settled: true,
            replica: false,
            replid: replid.into(),
            offset,
            prev: prev.map(|(id, o)| (id.into(), o)),
            held_from,
        }
    }

    fn asked(replid: &str, offset: i64, b: &HostBook) -> Asked {
        Asked {
            replid: replid.into(),
            offset,
            book: b.clone(),
        }
    }

    fn kind(b: &HostBook, replid: &str, offset: i64, size: u64) -> Option<&'static str> {
        continue_verdict(b, &asked(replid, offset, b), b.offset, b.offset, size).map(|v| v.0)
    }

    #[test]
    fn continues_are_judged_by_the_rules() {
        let b = book("new", 1000, Some(("old", 600)), 300);
        assert_eq!(kind(&b, "new", 1001, 1 << 20), None);
        assert_eq!(kind(&b, "new", 500, 1 << 20), None);
        assert_eq!(kind(&b, "old", 600, 1 << 20), None);
        assert_eq!(
            kind(&b, "old", 601, 1 << 20),
            Some("psync-continue-wrong-id"),
            "the previous id past the switch point"
        );
        assert_eq!(
            kind(&b, "other", 900, 1 << 20),
            Some("psync-continue-wrong-id")
        );
        assert_eq!(
            kind(&b, "new", 1002, 1 << 20),
            Some("psync-continue-future")
        );
        assert_eq!(
            kind(&b, "new", 299, 1 << 20),
            Some("psync-continue-outside-backlog"),
            "before the backlog was made"
        );
        assert_eq!(
            kind(&b, "new", 900, 100),
            Some("psync-continue-outside-backlog"),
            "older than the backlog's size"
        );
        assert_eq!(kind(&b, "new", 901, 100), None);
        assert_eq!(
            kind(&b, "new", -1, 100),
            Some("psync-continue-outside-backlog")
        );
    }

    #[test]
    fn a_full_sync_is_wrong_only_well_inside_an_unchanged_backlog() {
        let b = book("new", 1000, Some(("old", 600)), 300);
        let req = |id: &str, o: i64, now: &HostBook, off: u64, size: u64| {
            continue_required(&b, now, &asked(id, o, &b), off, size)
        };
        assert!(req("new", 1001, &b, 1000, 1 << 20));
        assert!(req("old", 600, &b, 1000, 1 << 20));
        assert!(!req("old", 601, &b, 1000, 1 << 20));
        assert!(!req("new", 1002, &b, 1000, 1 << 20), "from the future");
        assert!(!req("new", 310, &b, 1000, 1 << 20), "inside the margin");
        assert!(req("new", 316, &b, 1000, 1 << 20));
        assert!(
            !req("new", 950, &b, 1040, 100),
            "the backlog moved on meanwhile"
        );
        assert!(!req("?", -1, &b, 1000, 1 << 20));
        let moved = book("newer", 1000, None, 1001);
        assert!(
            !req("new", 1001, &moved, 1000, 1 << 20),
            "a new history since"
        );
        let promoted = book("newer", 1000, Some(("new", 1001)), 300);
        assert!(
            req("new", 1001, &promoted, 1000, 1 << 20),
            "promoted at the PSYNC"
        );
    }

    #[test]
    fn fullresync_lines_parse() {
        assert_eq!(
            parse_fullresync(b"+FULLRESYNC abc 42\r\n$EOF:xyz\r\n"),
            Some(("abc".to_string(), 42))
        );
        assert_eq!(parse_fullresync(b"+CONTINUE abc\r\n"), None);
        assert_eq!(parse_fullresync(b"+FULLRESYNC abc x\r\n"), None);
    }
}
