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
//! - a master that boots from an RDB file recording a history (`repl-id`,
//!   `repl-offset`, read by the world off the host's disk at the boot): that history
//!   is its previous one up to the file's offset plus one, its backlog starts there
//!   (Redis 7.0's loadDataFromDisk), and its offset is at least the file's.
//!
//! A `+CONTINUE` is forbidden when the id is neither the current one nor the
//! previous one with the offset at or before the switch point, when the offset is
//! below what the backlog can still hold, or past the master's offset plus one. A
//! `+FULLRESYNC` is wrong when the id matched and the offset was inside the backlog
//! with a margin (none where the books know the backlog's start exactly: a boot
//! from a file), at the PSYNC's arrival and at the answer (a full sync may be
//! answered late, when its snapshot starts).
//!
//! The bytes a `+CONTINUE` at offset O serves, and every byte the master sends on
//! that link after it, must be the master's own stream from O on: the world keeps
//! what each node added to its stream (`Node::take_repl_tap`, the last
//! `repl-backlog-size` bytes and a little more, by offset) and compares.

use std::collections::{BTreeMap, VecDeque};

use crate::checkers::Checker;
use crate::net::{ConnId, End};
use crate::scenario::reach;
use crate::world::{log, World};

/// A `+FULLRESYNC` is judged wrong only for an offset at least this far above the
/// lowest one the backlog can hold (the books bound that offset from below).
const MARGIN_BYTES: u64 = 16;

/// What the world keeps of a node's stream beyond its `repl-backlog-size`: the
/// backlog's bytes are always inside, whatever was sent in between.
const STREAM_SLACK_BYTES: u64 = 64 << 10;

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
    /// `prev` and `held_from` come from the RDB file the master booted from: the
    /// backlog starts exactly at `held_from`.
    from_file: bool,
}

/// The last bytes a node added to its replication stream, by offset.
#[derive(Debug, Default)]
struct StreamShadow {
    epoch: u32,
    /// The host's `held_from` when these bytes were taken: a new history (a full
    /// sync, a fresh backlog) starts the shadow again.
    held_from: u64,
    /// The offset of `bytes[0]`.
    first: u64,
    bytes: VecDeque<u8>,
}

impl StreamShadow {
    /// The offset after the last byte held (the node's offset plus one).
    fn next(&self) -> u64 {
        self.first + self.bytes.len() as u64
    }
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
    /// After a `+CONTINUE`: the offset of the next stream byte the master owes on
    /// this link.
    serving: Option<u64>,
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
    /// Per host: the boot (epoch) and the history its RDB file recorded then, if
    /// it boots from one (no AOF).
    boot_files: BTreeMap<usize, (u32, Option<(String, u64)>)>,
    /// Per host: what its node added to its replication stream.
    streams: BTreeMap<usize, StreamShadow>,
}

/// The history an RDB file's aux fields record (`repl-id`, `repl-offset`,
/// `repl-stream-db`), by Redis's loadDataFromDisk rule: a 40-character id, an
/// offset and a stream database that are not -1. Read here from the bytes, not with
/// the node's reader. None for anything else (no history, not an RDB file).
pub(crate) fn rdb_history(file: &[u8]) -> Option<(String, u64)> {
    let mut at = 9usize;
    if !file.starts_with(b"REDIS") || file.len() < at {
        return None;
    }
    let (mut id, mut offset, mut db) = (None, None, None);
    while file.get(at) == Some(&0xFA) {
        at += 1;
        let key = rdb_string(file, &mut at)?;
        let value = rdb_string(file, &mut at)?;
        let text = String::from_utf8(value).ok()?;
        match key.as_slice() {
            b"repl-id" => id = (text.len() == 40).then_some(text),
            b"repl-offset" => offset = text.parse::<i64>().ok(),
            b"repl-stream-db" => db = text.parse::<i64>().ok(),
            _ => {}
        }
    }
    let offset = u64::try_from(offset?).ok()?;
    (db? >= 0).then_some(())?;
    Some((id?, offset))
}

/// One RDB string at `at` (length-prefixed bytes, or an integer encoding as its
/// decimal text); None for what aux fields never hold (LZF).
fn rdb_string(file: &[u8], at: &mut usize) -> Option<Vec<u8>> {
    let first = *file.get(*at)?;
    *at += 1;
    let mut take = |n: usize| -> Option<&[u8]> {
        let bytes = file.get(*at..at.checked_add(n)?)?;
        *at += n;
        Some(bytes)
    };
    let len = match first >> 6 {
        0 => usize::from(first & 0x3F),
        1 => (usize::from(first & 0x3F) << 8) | usize::from(*take(1)?.first()?),
        2 if first == 0x80 => u32::from_be_bytes(take(4)?.try_into().ok()?) as usize,
        2 if first == 0x81 => {
            usize::try_from(u64::from_be_bytes(take(8)?.try_into().ok()?)).ok()?
        }
        3 => {
            let n: i64 = match first & 0x3F {
                0 => i64::from(i8::from_le_bytes(take(1)?.try_into().ok()?)),
                1 => i64::from(i16::from_le_bytes(take(2)?.try_into().ok()?)),
                2 => i64::from(i32::from_le_bytes(take(4)?.try_into().ok()?)),
                _ => return None,
            };
            return Some(n.to_string().into_bytes());
        }
        _ => return None,
    };
    take(len).map(<[u8]>::to_vec)
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
    let by_size = offset_now
        .saturating_add(1)
        .saturating_sub(backlog_bytes)
        .saturating_add(MARGIN_BYTES);
    let from = match then.from_file {
        true => then.held_from,
        false => then.held_from.saturating_add(MARGIN_BYTES),
    };
    let lowest = from.max(by_size);
    same && id_ok && o >= lowest && o <= then.offset.saturating_add(1)
}

/// The verdict on bytes a link serves after a `+CONTINUE`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Served {
    /// They are the node's stream from the link's offset.
    Right,
    /// Not judged: the offset is older than what the world kept.
    Older,
    Wrong(String),
}

/// Bytes served from offset `next` against what the node produced.
fn served_verdict(shadow: &StreamShadow, next: u64, bytes: &[u8]) -> Served {
    if next < shadow.first {
        return Served::Older;
    }
    let skip = usize::try_from(next - shadow.first).unwrap_or(usize::MAX);
    let produced = shadow.bytes.range(skip.min(shadow.bytes.len())..);
    let show = |b: &mut dyn Iterator<Item = u8>| -> String {
        String::from_utf8_lossy(&b.take(40).collect::<Vec<u8>>()).into_owned()
    };
    if let Some(i) = bytes
        .iter()
        .zip(produced)
        .position(|(got, want)| got != want)
    {
        let want = shadow
            .bytes
            .range(skip.saturating_add(i).min(shadow.bytes.len())..);
        return Served::Wrong(format!(
            "byte {} differs from the stream it produced (served {:?}, produced {:?})",
            next + i as u64,
            show(&mut bytes.iter().skip(i).copied()),
            show(&mut want.copied()),
        ));
    }
    let served_end = next.saturating_add(bytes.len() as u64);
    if served_end > shadow.next() {
        return Served::Wrong(format!(
            "served up to offset {}, but it produced only up to {}",
            served_end - 1,
            shadow.next().saturating_sub(1)
        ));
    }
    Served::Right
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
        let mut fresh = HostBook {
            epoch,
            settled: !loading,
            replica,
            replid: replid.clone(),
            offset,
            prev: None,
            held_from: offset.saturating_add(1),
            from_file: false,
        };
        // A master booted from a file that records a history keeps it (the file
        // read off the disk at the boot, not the node's replid2).
        let file = self
            .psync
            .boot_files
            .get(&h)
            .filter(|(e, _)| *e == epoch)
            .and_then(|(_, history)| history.clone())
            .filter(|_| !loading && !replica);
        if let Some((id, at)) = &file {
            fresh.prev = Some((id.clone(), at.saturating_add(1)));
            fresh.held_from = at.saturating_add(1);
            fresh.from_file = true;
        }
        let books = &mut self.psync;
        let Some(book) = books
            .hosts
            .get_mut(&h)
            .filter(|b| b.epoch == epoch && b.settled && !loading)
        else {
            books.full_pending.remove(&h);
            books.hosts.insert(h, fresh);
            if let Some((id, at)) = file.filter(|(_, at)| offset < *at) {
                if self.judging(Checker::Psync) {
                    let message = format!(
                        "host {h} booted as a master from a file recording {id} at {at}, but its offset is {offset}"
                    );
                    self.flag(Checker::Psync, ("psync-restart-offset", None), message);
                }
            }
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
                book.from_file = false;
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
                book.from_file = false;
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

    /// After every event: every host's books and stream.
    pub(crate) fn observe_psync(&mut self) {
        for h in 0..self.hosts.len() {
            self.observe_psync_host(h);
            self.observe_stream(h);
        }
    }

    /// Host `h` boots: the history its RDB file records, if it loads one (no AOF),
    /// and its stream is watched from here.
    pub(crate) fn psync_note_boot(&mut self, h: usize) {
        if !super::is_replication(&self.scenario.name) {
            return;
        }
        let epoch = self.hosts[h].epoch;
        let Some(node) = self.hosts[h].node.as_mut() else {
            return;
        };
        node.enable_repl_tap();
        let s = node.config().settings();
        let history = match s.appendonly {
            true => None,
            false => {
                let name = String::from_utf8_lossy(&s.dbfilename).into_owned();
                self.hosts[h].disk.contents(&name).and_then(rdb_history)
            }
        };
        log!(
            self,
            "psync books: host {h} boots from a file recording {history:?}"
        );
        self.psync.boot_files.insert(h, (epoch, history));
    }

    /// Takes what host `h`'s node added to its stream since the last look: the bytes
    /// end at its offset. A new boot, a new history, or bytes that do not follow the
    /// ones held start the shadow again.
    fn observe_stream(&mut self, h: usize) {
        let epoch = self.hosts[h].epoch;
        let held_from = self.psync.hosts.get(&h).map_or(0, |b| b.held_from);
        let Some(node) = self.hosts[h].node.as_mut() else {
            self.psync.streams.remove(&h);
            return;
        };
        let tapped = node.take_repl_tap();
        let offset = node.repl_offset();
        let keep = node
            .config()
            .settings()
            .repl_backlog_size_bytes
            .saturating_add(STREAM_SLACK_BYTES);
        let shadow = self.psync.streams.entry(h).or_default();
        let begin = offset.saturating_add(1).saturating_sub(tapped.len() as u64);
        if shadow.epoch != epoch || shadow.held_from != held_from || shadow.next() != begin {
            *shadow = StreamShadow {
                epoch,
                held_from,
                first: begin,
                bytes: VecDeque::new(),
            };
        }
        shadow.bytes.extend(tapped);
        let over = (shadow.bytes.len() as u64).saturating_sub(keep);
        if over > 0 {
            shadow.bytes.drain(..over as usize);
            shadow.first += over;
        }
    }

    /// Host `master` sent `bytes` on a link it serves after a `+CONTINUE`: they must
    /// be its stream from the offset the link is at.
    fn judge_served(&mut self, master: usize, id: ConnId, bytes: &[u8]) {
        let Some(next) = self.psync.links.get(&id).and_then(|l| l.serving) else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        self.observe_stream(master);
        let Some(shadow) = self.psync.streams.get(&master) else {
            return;
        };
        let verdict = served_verdict(shadow, next, bytes);
        if verdict == Served::Older {
            log!(
                self,
                "psync: host {master}'s link {id} serves offset {next}, older than the stream kept: not judged"
            );
            if let Some(link) = self.psync.links.get_mut(&id) {
                link.serving = None;
            }
            return;
        }
        if let Some(link) = self.psync.links.get_mut(&id) {
            link.serving = Some(next.saturating_add(bytes.len() as u64));
        }
        self.reached.insert(reach::PSYNC_BYTES_JUDGED);
        let verdict = match verdict {
            Served::Wrong(why) => Some(why),
            Served::Right | Served::Older => None,
        };
        let Some(why) = verdict else {
            return;
        };
        if let Some(link) = self.psync.links.get_mut(&id) {
            link.serving = None;
        }
        if self.judging(Checker::Psync) {
            let replica = match self.net.conns.get(&id).map(|c| c.initiator) {
                Some(End::Host(r)) => r.to_string(),
                _ => "?".into(),
            };
            let message = format!(
                "host {master} serves host {replica} after a +CONTINUE from offset {next}: {why}"
            );
            self.flag(
                Checker::Psync,
                ("psync-continue-wrong-bytes", None),
                message,
            );
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
        if self
            .psync
            .links
            .get(&id)
            .is_some_and(|l| l.serving.is_some())
        {
            return self.judge_served(master, id, bytes);
        }
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
                if book.from_file && book.prev.as_ref().is_some_and(|(p, _)| *p == asked.replid) {
                    self.reached.insert(reach::PSYNC_RESTART_CONTINUED);
                }
            }
            if let Some((kind, why)) = verdict.filter(|_| self.judging(Checker::Psync)) {
                let message = format!("{what} with +CONTINUE: {why}");
                self.flag(Checker::Psync, (kind, None), message);
                return;
            }
            // What follows the line is the stream from the offset asked.
            let line_end = bytes
                .windows(2)
                .position(|w| w == b"\r\n")
                .map_or(bytes.len(), |i| i + 2);
            if let (Ok(from), Some(link)) =
                (u64::try_from(asked.offset), self.psync.links.get_mut(&id))
            {
                link.serving = Some(from);
                self.judge_served(master, id, bytes.get(line_end..).unwrap_or_default());
            }
            return;
        }
        let Some((replid, x)) = full else {
            return;
        };
        if book.from_file && book.prev.as_ref().is_some_and(|(p, _)| *p == asked.replid) {
            self.reached.insert(reach::PSYNC_RESTART_FULL_SYNC);
        }
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
            from_file: false,
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
    fn a_book_from_a_file_requires_a_continue_at_its_very_start() {
        let mut b = book("new", 500, Some(("old", 401)), 401);
        let req = |b: &HostBook, o: i64| continue_required(b, b, &asked("old", o, b), 500, 1 << 20);
        assert!(!req(&b, 401), "an estimated start keeps its margin");
        b.from_file = true;
        assert!(req(&b, 401), "the file's offset plus one, exactly");
        assert!(!req(&b, 402), "past the switch point");
        assert!(!req(&b, 400), "before the backlog");
    }

    fn shadow(first: u64, bytes: &[u8]) -> StreamShadow {
        StreamShadow {
            epoch: 0,
            held_from: 0,
            first,
            bytes: bytes.iter().copied().collect(),
        }
    }

    #[test]
    fn served_bytes_must_be_the_stream_from_the_offset() {
        let s = shadow(100, b"*1\r\n$4\r\nPING\r\n");
        assert_eq!(served_verdict(&s, 100, b"*1\r\n$4"), Served::Right);
        assert_eq!(served_verdict(&s, 104, b"$4\r\nPING\r\n"), Served::Right);
        assert_eq!(served_verdict(&s, 114, b""), Served::Right);
        assert_eq!(served_verdict(&s, 99, b"x"), Served::Older);
        // The planted off-by-one: the bytes from one past the offset.
        assert!(
            matches!(served_verdict(&s, 100, b"1\r\n$4"), Served::Wrong(w) if w.contains("byte 100"))
        );
        assert!(
            matches!(served_verdict(&s, 110, b"NG\r\n*1"), Served::Wrong(w) if w.contains("produced only up to 113"))
        );
    }

    #[test]
    fn an_rdb_files_history_is_read_as_redis_reads_it() {
        let id = "0123456789abcdef0123456789abcdef01234567";
        let aux = |fields: &[(&[u8], &[u8])]| -> Vec<u8> {
            let mut f = b"REDIS0010".to_vec();
            for (k, v) in fields {
                f.push(0xFA);
                f.push(k.len() as u8);
                f.extend_from_slice(k);
                f.extend_from_slice(v);
            }
            f.extend_from_slice(&[0xFE, 0x00, 0xFF]);
            f
        };
        let text = |s: &str| [&[s.len() as u8][..], s.as_bytes()].concat();
        let idv = text(id);
        // repl-stream-db 0 as an int8, repl-offset 639 as an int16, as Redis saves.
        let db0: &[u8] = &[0xC0, 0x00];
        let off: &[u8] = &[0xC1, 0x7F, 0x02];
        let file = aux(&[
            (b"repl-stream-db", db0),
            (b"repl-id", &idv),
            (b"repl-offset", off),
        ]);
        assert_eq!(rdb_history(&file), Some((id.to_string(), 639)));
        let big = [&[0xC2][..], &100_000i32.to_le_bytes()].concat();
        let file = aux(&[
            (b"repl-stream-db", db0),
            (b"repl-id", &idv),
            (b"repl-offset", &big),
        ]);
        assert_eq!(rdb_history(&file), Some((id.to_string(), 100_000)));
        let minus = text("-1");
        for file in [
            aux(&[(b"repl-id", &idv), (b"repl-offset", off)]),
            aux(&[
                (b"repl-stream-db", &minus),
                (b"repl-id", &idv),
                (b"repl-offset", off),
            ]),
            aux(&[
                (b"repl-stream-db", db0),
                (b"repl-id", &text("abc")),
                (b"repl-offset", off),
            ]),
            aux(&[
                (b"repl-stream-db", db0),
                (b"repl-id", &idv),
                (b"repl-offset", &minus),
            ]),
            b"not an rdb file".to_vec(),
        ] {
            assert_eq!(rdb_history(&file), None);
        }
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
