//! Invariant 17, the rollback file, judged from outside the nodes: a master demoted
//! to a replica loses, at its next full sync, the writes its new master never
//! received, and keel must keep them in `rollback-<replid>-<offset>.resp`. The world
//! keeps its own books of each master's stream (the records it propagated, where
//! each starts) and of where the new master left the old history, reads the file
//! from the demoted host's simulated disk, and never reads the node's rollback
//! counters or its cut.
//!
//! The rule, for a host O that was a master of history R and has left R (its replid
//! is no longer R) after a host M, a replica of R, was promoted:
//! - S is M's last offset in R that the world saw while M was a replica (M applied
//!   the stream up to S, no further). A record O propagated in R whose start offset
//!   (a lower bound: O's offset before the input that ran it plus the RESP length of
//!   the records before it in that input) is at or past S never reached M: it is
//!   **lost**.
//! - If any record is lost, O's disk holds a file `rollback-R-*.resp`.
//! - Every such file parses as RESP commands; its first command is a SELECT; its
//!   data commands (SELECT, MULTI and EXEC set aside), each in the database the last
//!   SELECT named, are a contiguous run of O's records in R (no command O never ran,
//!   none reordered) that ends with O's last record in R (the file misses no tail)
//!   and starts at or before the first lost record (it misses no head).
//!
//! The records cover every write O ran, acknowledged or not: an acknowledged write
//! that changed the dataset is one of them, so "every acknowledged write missing at
//! M is in the file" follows. Scope: one demotion per history; a backlog that
//! wrapped (the node then logs that the oldest writes are gone) is not exempted, so
//! scenarios keep the default `repl-backlog-size`.

use std::collections::BTreeMap;

use keel_core::propagate::Propagated;
use keel_core::resp::Value;

use crate::checkers::Checker;
use crate::scenario::reach;
use crate::world::{log, World};

/// One record a master propagated: where it starts at the earliest, its database
/// and its arguments. MULTI/EXEC count for offsets and are kept out of the sequence.
#[derive(Debug, Clone)]
struct StreamRecord {
    start_at_least: u64,
    db: usize,
    argv: Vec<Vec<u8>>,
}

/// What a host was when the world last looked.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    replica: bool,
    replid: String,
    offset: u64,
}

/// The rollback checker's books.
#[derive(Debug, Default)]
pub(crate) struct RollbackBooks {
    /// Per host, the last look.
    seen: BTreeMap<usize, Seen>,
    /// Per host, its last position (replid, offset) while a replica, not loading
    /// and not mid full sync.
    replica_at: BTreeMap<usize, (String, u64)>,
    /// Per (host, replid): the data records it propagated as a master of that history.
    streams: BTreeMap<(usize, String), Vec<StreamRecord>>,
    /// (host, replid): a master of that history became a replica.
    demoted: Vec<(usize, String)>,
    /// (host, old replid, S, new replid): a replica of the old history was promoted
    /// after applying it up to S.
    switches: Vec<(usize, String, u64, String)>,
    /// Per host, the history step from which the model and linearizability no longer
    /// judge it (a forced hand-over may lose acknowledged writes by design).
    pub(crate) forced_cut_step: BTreeMap<usize, u64>,
}

/// The bytes a command takes in the stream (RESP multibulk).
fn encoded_len(argv: &[Vec<u8>]) -> u64 {
    let header = |n: usize| 3 + n.to_string().len() as u64;
    argv.iter().fold(header(argv.len()), |sum, a| {
        sum + header(a.len()) + a.len() as u64 + 2
    })
}

fn is_named(argv: &[Vec<u8>], name: &[u8]) -> bool {
    argv.first().is_some_and(|n| n.eq_ignore_ascii_case(name))
}

/// A data command of a rollback file: its database and its arguments.
type FileCommand = (usize, Vec<Vec<u8>>);
/// A file's name and its parsed commands, or why it does not parse.
type ParsedFile = (String, Result<Vec<FileCommand>, String>);

/// A rollback file's data commands as (db, argv), SELECT/MULTI/EXEC set aside; Err
/// says why the file is not what the rule asks (it is hostile input: never panics).
fn parse_file(bytes: &[u8]) -> Result<Vec<FileCommand>, String> {
    let mut rest = bytes;
    let mut db: Option<usize> = None;
    let mut commands = Vec::new();
    while !rest.is_empty() {
        let (value, used) = match keel_core::resp::decode(rest) {
            Ok(Some(v)) => v,
            Ok(None) => {
                return Err(format!(
                    "a torn command at byte {}",
                    bytes.len() - rest.len()
                ))
            }
            Err(e) => {
                return Err(format!(
                    "not RESP at byte {}: {e:?}",
                    bytes.len() - rest.len()
                ))
            }
        };
        rest = rest.get(used..).unwrap_or_default();
        let argv: Option<Vec<Vec<u8>>> = value
            .as_items()
            .and_then(|items| {
                items
                    .iter()
                    .map(|v| match v {
                        Value::Bulk(b) => Some(b.clone()),
                        _ => None,
                    })
                    .collect()
            })
            .filter(|a: &Vec<Vec<u8>>| !a.is_empty());
        let Some(argv) = argv else {
            return Err(format!("{value:?} is not a command"));
        };
        if is_named(&argv, b"SELECT") {
            let n = argv
                .get(1)
                .and_then(|n| std::str::from_utf8(n).ok()?.parse().ok());
            match n {
                Some(n) if argv.len() == 2 => db = Some(n),
                _ => return Err(format!("a malformed SELECT {argv:?}")),
            }
            continue;
        }
        if is_named(&argv, b"PING") || is_named(&argv, b"REPLCONF") {
            return Err(format!("{} in the file", String::from_utf8_lossy(&argv[0])));
        }
        if is_named(&argv, b"MULTI") || is_named(&argv, b"EXEC") {
            continue;
        }
        let Some(db) = db else {
            return Err("a command before any SELECT".to_string());
        };
        commands.push((db, argv));
    }
    Ok(commands)
}

/// Where `file` sits in `stream`: the index of its first command, if its commands
/// are a contiguous run of the stream's (the last such run: a file ends late).
fn find_run(stream: &[StreamRecord], file: &[FileCommand]) -> Option<usize> {
    let n = file.len();
    if n > stream.len() {
        return None;
    }
    (0..=stream.len() - n).rev().find(|&k| {
        stream.get(k..k + n).is_some_and(|run| {
            run.iter()
                .zip(file)
                .all(|(r, (db, argv))| r.db == *db && &r.argv == argv)
        })
    })
}

/// The verdict on one history's file(s): None when the rule holds.
fn judge(
    stream: &[StreamRecord],
    switch_offset: u64,
    files: &[ParsedFile],
) -> Option<(&'static str, String)> {
    let first_lost = stream
        .iter()
        .position(|r| r.start_at_least >= switch_offset);
    let lost = first_lost.map_or(0, |i| stream.len() - i);
    if lost > 0 && files.is_empty() {
        return Some((
            "rollback-file-missing",
            format!("{lost} writes past the switch point {switch_offset} and no rollback file"),
        ));
    }
    for (name, parsed) in files {
        let commands = match parsed {
            Ok(c) => c,
            Err(why) => return Some(("rollback-file-unreadable", format!("{name}: {why}"))),
        };
        let Some(k) = find_run(stream, commands) else {
            let shown: Vec<String> = commands
                .iter()
                .take(3)
                .map(|(db, a)| format!("{db}:{}", crate::world::show(a)))
                .collect();
            return Some((
                "rollback-file-foreign",
                format!(
                    "{name}: its {} commands (first {shown:?}) are no run of the {} the old master propagated",
                    commands.len(),
                    stream.len()
                ),
            ));
        };
        let end = k + commands.len();
        if end < stream.len() {
            return Some((
                "rollback-file-short",
                format!(
                    "{name}: ends at the old master's record {end} of {} (its last writes are missing)",
                    stream.len()
                ),
            ));
        }
        if let Some(first) = first_lost.filter(|&f| k > f) {
            return Some((
                "rollback-file-short",
                format!(
                    "{name}: starts at record {k} but record {first} ({}) starts at {} >= the switch point {switch_offset}: {} lost writes are not in it",
                    crate::world::show(&stream[first].argv),
                    stream[first].start_at_least,
                    k - first
                ),
            ));
        }
    }
    None
}

impl World<'_> {
    /// Host `h` propagated `records`: a master's go into its history's stream, each
    /// with a lower bound of where it starts (the host's offset when last looked at,
    /// plus the records before it; at most where the stream is now).
    pub(crate) fn note_rollback_records(&mut self, h: usize, records: &[Propagated]) {
        let Some(node) = self.hosts[h].node.as_ref() else {
            return;
        };
        if node.is_replica() {
            return;
        }
        let (replid, now) = (node.repl_id().to_string(), node.repl_offset());
        let before = self
            .rollback
            .seen
            .get(&h)
            .filter(|s| s.replid == replid && !s.replica)
            .map_or(0, |s| s.offset);
        let stream = self
            .rollback
            .streams
            .entry((h, replid.clone()))
            .or_default();
        let mut at = before;
        for r in records {
            let multi_exec = is_named(&r.argv, b"MULTI") || is_named(&r.argv, b"EXEC");
            if !multi_exec {
                stream.push(StreamRecord {
                    start_at_least: at.min(now),
                    db: r.db,
                    argv: r.argv.clone(),
                });
            }
            at = at.saturating_add(encoded_len(&r.argv));
        }
        // Only a look at this same master moves on (a promotion in this input is
        // for `observe_rollback` to see).
        if let Some(seen) = self
            .rollback
            .seen
            .get_mut(&h)
            .filter(|s| s.replid == replid && !s.replica)
        {
            seen.offset = now;
        }
    }

    /// After every event: each host's role and position, so demotions and
    /// promotions (with the promoted replica's last position in the old history)
    /// are in the books.
    pub(crate) fn observe_rollback(&mut self) {
        for h in 0..self.hosts.len() {
            let Some(node) = self.hosts[h].node.as_ref() else {
                continue;
            };
            // The common case, once per host and event: same role, same history, so
            // only the offsets move (nothing below would log or book a switch).
            let books = &mut self.rollback;
            if let Some(seen) = books
                .seen
                .get_mut(&h)
                .filter(|s| s.replica == node.is_replica() && s.replid == node.repl_id())
            {
                seen.offset = node.repl_offset();
                let settled = !crate::host::loading(node) && !node.repl_syncing();
                if seen.replica && settled {
                    match books.replica_at.get_mut(&h) {
                        Some(at) if at.0 == seen.replid => at.1 = seen.offset,
                        _ => {
                            books
                                .replica_at
                                .insert(h, (seen.replid.clone(), seen.offset));
                        }
                    }
                }
                continue;
            }
            let now = Seen {
                replica: node.is_replica(),
                replid: node.repl_id().to_string(),
                offset: node.repl_offset(),
            };
            let settled = !crate::host::loading(node) && !node.repl_syncing();
            if now.replica && settled {
                self.rollback
                    .replica_at
                    .insert(h, (now.replid.clone(), now.offset));
            }
            let before = self.rollback.seen.insert(h, now.clone());
            let Some(before) = before else { continue };
            if before.replica != now.replica || before.replid != now.replid {
                log!(self, "host {h}: was {before:?}, now {now:?}");
            }
            if !before.replica && now.replica {
                log!(self, "host {h}: demoted from master of {}", before.replid);
                self.rollback.demoted.push((h, before.replid.clone()));
                // repl-min-replicas-clock: host 0's clients read host 1's writes
                // once host 0 follows host 1, which its model never saw.
                if self.scenario.name == "repl-failover-force"
                    || self.scenario.name == "repl-promote-rejoin"
                    || self.scenario.name == "repl-min-replicas-clock"
                {
                    // A forced hand-over (or a promotion by hand while the master
                    // still takes writes) may lose acknowledged writes by design: from
                    // here the rollback file judges them, not the model.
                    self.oracles[h].model_off = true;
                    let step = self.step;
                    self.rollback.forced_cut_step.entry(h).or_insert(step);
                }
            }
            if before.replica && !now.replica && before.replid != now.replid {
                if let Some((old, at)) = self
                    .rollback
                    .replica_at
                    .get(&h)
                    .filter(|(old, _)| *old == before.replid)
                    .cloned()
                {
                    log!(self, "host {h}: promoted, left {old} at {at}");
                    self.rollback.switches.push((h, old, at, now.replid));
                }
            }
        }
    }

    /// At the end of a run, invariant 17 for every demoted master that left its
    /// history after a promotion (see the module's rule).
    pub(crate) fn check_rollback_files(&mut self) {
        if !self.judging(Checker::Replication) {
            return;
        }
        let demoted = self.rollback.demoted.clone();
        for (o, replid) in demoted {
            let Some(node) = self.hosts[o].node.as_ref() else {
                continue;
            };
            if node.repl_id() == replid || !node.is_replica() {
                continue;
            }
            // The promotion that ended history R (one per history in these scenarios).
            let Some(&(m, _, switch_offset, _)) = self
                .rollback
                .switches
                .iter()
                .find(|(_, old, _, _)| *old == replid)
            else {
                continue;
            };
            let prefix = format!("rollback-{replid}-");
            let files: Vec<ParsedFile> = self.hosts[o]
                .disk
                .files()
                .filter(|p| {
                    p.rsplit('/')
                        .next()
                        .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".resp"))
                })
                .map(|p| {
                    let parsed = self.hosts[o]
                        .disk
                        .contents(p)
                        .ok_or_else(|| "unreadable".to_string())
                        .and_then(parse_file);
                    (p.to_string(), parsed)
                })
                .collect();
            let empty = Vec::new();
            let stream = self
                .rollback
                .streams
                .get(&(o, replid.clone()))
                .unwrap_or(&empty);
            let lost = stream
                .iter()
                .filter(|r| r.start_at_least >= switch_offset)
                .count();
            let records = stream.len();
            let verdict = judge(stream, switch_offset, &files);
            log!(
                self,
                "host {o}: left {replid}; host {m} switched at {switch_offset}; {lost} of {records} records lost; files {:?}",
                files.iter().map(|f| &f.0).collect::<Vec<_>>()
            );
            if let Some((kind, why)) = verdict {
                let message = format!("host {o} (demoted master of {replid}): {why}");
                return self.flag(Checker::Replication, (kind, None), message);
            }
            if lost > 0 {
                self.reached.insert(reach::ROLLBACK_JUDGED);
            }
        }
    }

    /// The history the linearizability checker judges: in a forced hand-over
    /// scenario, a demoted host's requests completed before its demotion only.
    pub(crate) fn judged_history(&self) -> std::borrow::Cow<'_, [crate::workload::Op]> {
        if self.rollback.forced_cut_step.is_empty() {
            return std::borrow::Cow::Borrowed(&self.history);
        }
        let kept = self
            .history
            .iter()
            .filter(|op| match self.rollback.forced_cut_step.get(&op.host) {
                None => true,
                Some(&cut) => op.complete_step.is_some_and(|s| s < cut),
            })
            .cloned()
            .collect();
        std::borrow::Cow::Owned(kept)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(start: u64, argv: &[&str]) -> StreamRecord {
        StreamRecord {
            start_at_least: start,
            db: 0,
            argv: argv.iter().map(|a| a.as_bytes().to_vec()).collect(),
        }
    }

    fn file(cmds: &[&[&str]]) -> Vec<u8> {
        let mut out = Vec::new();
        for c in cmds {
            let argv: Vec<String> = c.iter().map(|s| s.to_string()).collect();
            out.extend(keel_core::resp::encode_request(&argv));
        }
        out
    }

    fn stream() -> Vec<StreamRecord> {
        vec![
            rec(0, &["SET", "a", "1"]),
            rec(31, &["SET", "b", "2"]),
            rec(62, &["SET", "c", "3"]),
            rec(93, &["SET", "d", "4"]),
        ]
    }

    fn verdict(bytes: &[u8], switch: u64) -> Option<&'static str> {
        let files = vec![("rollback-x-50.resp".to_string(), parse_file(bytes))];
        judge(&stream(), switch, &files).map(|(k, _)| k)
    }

    #[test]
    fn a_file_from_at_or_before_the_switch_to_the_end_passes() {
        let exact = file(&[&["SELECT", "0"], &["SET", "c", "3"], &["SET", "d", "4"]]);
        assert_eq!(verdict(&exact, 62), None);
        // A superset (the cut starts at the lowest ACK, before the switch point).
        let more = file(&[
            &["SELECT", "0"],
            &["SET", "b", "2"],
            &["MULTI"],
            &["SET", "c", "3"],
            &["SET", "d", "4"],
            &["EXEC"],
        ]);
        assert_eq!(verdict(&more, 62), None);
    }

    #[test]
    fn a_file_that_starts_late_or_ends_early_fails() {
        let late = file(&[&["SELECT", "0"], &["SET", "d", "4"]]);
        assert_eq!(verdict(&late, 62), Some("rollback-file-short"));
        let early_end = file(&[&["SELECT", "0"], &["SET", "c", "3"]]);
        assert_eq!(verdict(&early_end, 62), Some("rollback-file-short"));
    }

    #[test]
    fn a_command_the_master_never_ran_fails() {
        let foreign = file(&[&["SELECT", "0"], &["SET", "c", "X"], &["SET", "d", "4"]]);
        assert_eq!(verdict(&foreign, 62), Some("rollback-file-foreign"));
        let wrong_db = file(&[&["SELECT", "1"], &["SET", "c", "3"], &["SET", "d", "4"]]);
        assert_eq!(verdict(&wrong_db, 62), Some("rollback-file-foreign"));
    }

    #[test]
    fn lost_writes_without_a_file_fail_and_none_lost_needs_none() {
        assert_eq!(
            judge(&stream(), 62, &[]).map(|v| v.0),
            Some("rollback-file-missing")
        );
        assert_eq!(judge(&stream(), 124, &[]), None);
    }

    #[test]
    fn hostile_files_are_refused_without_a_panic() {
        for bad in [
            &b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET"[..],
            b"*1\r\n:5\r\n",
            b"+OK\r\n",
            b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n",
            b"*2\r\n$6\r\nSELECT\r\n$2\r\nzz\r\n",
            b"*99999999999\r\n",
            b"*1\r\n$4\r\nPING\r\n",
            b"*0\r\n",
        ] {
            assert!(parse_file(bad).is_err(), "{bad:?}");
            assert_eq!(verdict(bad, 62), Some("rollback-file-unreadable"));
        }
    }
}
