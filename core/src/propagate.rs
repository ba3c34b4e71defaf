//! Propagation (Redis's `call()` → `propagate()`): every change to the dataset as a
//! command another node can replay to reach the same state — one stream, which the
//! AOF and replicas will consume, and which the simulator's shadow node consumes now.
//!
//! A write command that changed something is propagated as it was sent, unless its
//! handler rewrote it into a deterministic form (relative expiries become absolute,
//! SPOP becomes SREM of what it popped, INCRBYFLOAT becomes SET of the result, a
//! served blocking pop becomes its non-blocking form); keys removed by expiry become
//! DELs; MULTI/EXEC wraps a transaction's writes. Nothing here reads a clock or the
//! keyspace: the node hands it what happened.

use std::collections::VecDeque;

/// One propagated command, to run in database `db` (the owned form `take` hands out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Propagated {
    pub db: usize,
    pub argv: Vec<Vec<u8>>,
}

/// One record as the stream holds it: its database and its RESP multibulk encoding,
/// made once when it was recorded and copied as is by every consumer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    pub db: usize,
    pub resp: &'a [u8],
}

impl Record<'_> {
    /// The arguments, decoded back from the encoding (tests, planted bugs).
    pub fn argv(&self) -> Vec<Vec<u8>> {
        decode_multibulk(self.resp)
    }

    pub fn to_owned(&self) -> Propagated {
        Propagated {
            db: self.db,
            argv: self.argv(),
        }
    }
}

/// The arguments of a multibulk `encode_request_into` wrote (what the stream holds;
/// anything else decodes to as many whole arguments as it has).
fn decode_multibulk(resp: &[u8]) -> Vec<Vec<u8>> {
    fn number(bytes: &[u8], at: &mut usize, lead: u8) -> Option<usize> {
        if bytes.get(*at) != Some(&lead) {
            return None;
        }
        let rest = bytes.get(*at + 1..)?;
        let eol = rest.iter().position(|&b| b == b'\r')?;
        let n = std::str::from_utf8(rest.get(..eol)?).ok()?.parse().ok()?;
        *at = at.checked_add(eol)?.checked_add(3)?;
        Some(n)
    }
    let mut at = 0;
    let Some(argc) = number(resp, &mut at, b'*') else {
        return Vec::new();
    };
    let mut argv = Vec::with_capacity(argc.min(resp.len()));
    for _ in 0..argc {
        let Some(len) = number(resp, &mut at, b'$') else {
            break;
        };
        let Some(arg) = at.checked_add(len).and_then(|end| resp.get(at..end)) else {
            break;
        };
        argv.push(arg.to_vec());
        at = at.saturating_add(len).saturating_add(2);
    }
    argv
}

/// Where a record lives in the stream's bytes.
#[derive(Debug, Clone, Copy)]
struct Meta {
    db: usize,
    /// End of its encoding in `Propagation::bytes`.
    end: usize,
}

/// Records beyond this many waiting are a consumer that stopped draining: the
/// stream is then dropped and counted, never grown without bound.
const STREAM_MAX_RECORDS: usize = 1 << 20;

/// The stream: every record's encoding back to back in one buffer (no allocation per
/// record once the buffer has grown), with each record's database and end.
#[derive(Debug, Default)]
pub struct Propagation {
    /// Off until a consumer asks (`Node::enable_propagation`): nothing is recorded,
    /// at no cost, when nobody reads the stream.
    enabled: bool,
    bytes: Vec<u8>,
    records: VecDeque<Meta>,
    /// What the running command propagates as instead of its own arguments
    /// (Redis's `rewriteClientCommandVector`).
    rewrite: Option<Vec<Vec<u8>>>,
    /// Records dropped because nobody drained the stream.
    pub dropped: u64,
    /// Someone outside the node reads the stream (`Node::take_propagated`): the AOF
    /// then reads records without taking them (`drain_for_aof`).
    external: bool,
    /// Records ever recorded (a transaction's MULTI and EXEC included): what a
    /// client's last write is numbered by (`Client::woff_seq`, for WAIT).
    recorded_total: u64,
    /// Records the AOF has seen of those still in the stream (when `external`).
    aof_seen: usize,
    /// Records the outside reader has taken of those still in the stream.
    external_seen: usize,
    /// The AOF consumes the stream.
    aof: bool,
    /// Replication consumes the stream (from the first replica on, as Redis creates
    /// its backlog then).
    repl: bool,
    /// Records replication has seen of those still in the stream.
    repl_seen: usize,
    /// The AOF's commands are being loaded: nothing they change (nor a key they find
    /// expired) is propagated, as Redis propagates nothing while loading — those
    /// changes are already in the files, and a replica would get them twice.
    muted: bool,
}

impl Propagation {
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    pub fn enable(&mut self) {
        self.enabled = true;
        self.external = true;
    }

    /// The AOF starts (`on`) or stops reading the stream.
    pub fn set_aof(&mut self, on: bool) {
        self.aof = on;
        self.enabled = self.external || on || self.repl;
        self.aof_seen = self.aof_seen.min(self.records.len());
        self.trim();
    }

    /// Replication starts reading the stream (it never stops: the backlog lives on
    /// after the last replica, as Redis's does until `repl-backlog-ttl`).
    pub fn set_repl(&mut self, on: bool) {
        if on && !self.repl {
            self.repl_seen = self.records.len();
        }
        self.repl = on;
        self.enabled = self.external || self.aof || on;
        self.trim();
    }

    /// Where record `i` starts in `bytes`.
    fn start_of(&self, i: usize) -> usize {
        match i.checked_sub(1) {
            Some(prev) => self.records.get(prev).map_or(0, |m| m.end),
            None => 0,
        }
    }

    /// Records from `from` on, oldest first.
    fn records_from(&self, from: usize) -> impl Iterator<Item = Record<'_>> {
        let mut start = self.start_of(from);
        self.records.iter().skip(from).map(move |m| {
            let resp = self.bytes.get(start..m.end).unwrap_or_default();
            start = m.end;
            Record { db: m.db, resp }
        })
    }

    /// Hands replication every record it has not seen, oldest first.
    pub fn drain_for_repl(&mut self, mut each: impl FnMut(Record<'_>)) {
        if !self.repl {
            return;
        }
        for record in self.records_from(self.repl_seen) {
            each(record);
        }
        self.repl_seen = self.records.len();
        self.trim();
    }

    /// Drops the records every internal consumer has seen (nobody outside reads
    /// the stream; when someone does, `take` empties it).
    fn trim(&mut self) {
        let mut seen = self.records.len();
        if self.external {
            seen = seen.min(self.external_seen);
        }
        if self.aof {
            seen = seen.min(self.aof_seen);
        }
        if self.repl {
            seen = seen.min(self.repl_seen);
        }
        self.drop_first(seen);
    }

    /// Forgets the first `n` records.
    fn drop_first(&mut self, n: usize) {
        if n == 0 {
            return;
        }
        if n >= self.records.len() {
            self.records.clear();
            self.bytes.clear();
        } else {
            let cut = self.start_of(n);
            self.records.drain(..n);
            self.bytes.drain(..cut);
            for m in &mut self.records {
                m.end -= cut;
            }
        }
        self.aof_seen = self.aof_seen.saturating_sub(n);
        self.repl_seen = self.repl_seen.saturating_sub(n);
        self.external_seen = self.external_seen.saturating_sub(n);
    }

    /// Hands the AOF every record it has not seen, oldest first: taken when nobody
    /// else reads the stream, left for `take` when someone does.
    pub fn drain_for_aof(&mut self, mut each: impl FnMut(Record<'_>)) {
        for record in self.records_from(self.aof_seen) {
            each(record);
        }
        self.aof_seen = self.records.len();
        self.trim();
    }

    /// `drain_for_aof` by runs: each maximal run of consecutive records in one
    /// database as one `Record` whose `resp` holds them all, back to back.
    pub fn drain_runs_for_aof(&mut self, mut each: impl FnMut(Record<'_>)) {
        let mut start = self.start_of(self.aof_seen);
        let mut run: Option<Meta> = None;
        for m in self.records.iter().skip(self.aof_seen) {
            match &mut run {
                Some(r) if r.db == m.db => r.end = m.end,
                _ => {
                    if let Some(r) = run.take() {
                        each(Record {
                            db: r.db,
                            resp: self.bytes.get(start..r.end).unwrap_or_default(),
                        });
                        start = r.end;
                    }
                    run = Some(*m);
                }
            }
        }
        if let Some(r) = run {
            each(Record {
                db: r.db,
                resp: self.bytes.get(start..r.end).unwrap_or_default(),
            });
        }
        self.aof_seen = self.records.len();
        self.trim();
    }

    /// Stops (`true`) or resumes recording, around commands loaded from the AOF.
    pub fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
    }

    /// The running command propagates as `argv` (when it changed anything).
    pub fn rewrite(&mut self, argv: Vec<Vec<u8>>) {
        if self.enabled {
            self.rewrite = Some(argv);
        }
    }

    /// Appends one record.
    pub fn record<A: AsRef<[u8]>>(&mut self, db: usize, argv: &[A]) {
        self.record_with(db, |out| crate::resp::encode_request_into(out, argv));
    }

    /// Appends one record that `encode` writes as a RESP multibulk.
    fn record_with(&mut self, db: usize, encode: impl FnOnce(&mut Vec<u8>)) {
        if !self.enabled || self.muted {
            return;
        }
        if self.records.len() >= STREAM_MAX_RECORDS {
            self.dropped += self.records.len() as u64;
            self.records.clear();
            self.bytes.clear();
            self.aof_seen = 0;
            self.repl_seen = 0;
            self.external_seen = 0;
        }
        encode(&mut self.bytes);
        self.records.push_back(Meta {
            db,
            end: self.bytes.len(),
        });
        self.recorded_total += 1;
    }

    /// Records ever recorded (see `recorded_total`).
    pub fn recorded_total(&self) -> u64 {
        self.recorded_total
    }

    /// Ends a command: records it (as rewritten, if it was) when `propagate`, and
    /// forgets the rewrite either way. `encode_args` writes the command's own
    /// arguments as a RESP multibulk.
    pub fn end_command(
        &mut self,
        db: usize,
        propagate: bool,
        encode_args: impl FnOnce(&mut Vec<u8>),
    ) {
        let rewrite = self.rewrite.take();
        if self.enabled && propagate {
            match rewrite {
                Some(argv) => self.record(db, &argv),
                None => self.record_with(db, encode_args),
            }
        }
    }

    /// Where the stream ends now (for `wrap_transaction`).
    pub fn mark(&self) -> usize {
        self.records.len()
    }

    /// Wraps what was recorded since `mark` in MULTI ... EXEC, as Redis 7.0 propagates
    /// a transaction that wrote anything.
    pub fn wrap_transaction(&mut self, mark: usize) {
        let Some(first_db) = self.records.get(mark).map(|m| m.db) else {
            return;
        };
        let last_db = self.records.back().map_or(first_db, |m| m.db);
        let multi = crate::resp::encode_request(&[b"MULTI"]);
        let at = self.start_of(mark);
        self.bytes.splice(at..at, multi.iter().copied());
        for m in self.records.iter_mut().skip(mark) {
            m.end += multi.len();
        }
        self.records.insert(
            mark,
            Meta {
                db: first_db,
                end: at + multi.len(),
            },
        );
        crate::resp::encode_request_into(&mut self.bytes, &[b"EXEC"]);
        self.records.push_back(Meta {
            db: last_db,
            end: self.bytes.len(),
        });
        self.recorded_total += 2;
    }

    /// Hands out everything recorded since the last call, oldest first. Records the
    /// AOF or replication have not read yet stay for them (this reset their cursors
    /// and dropped such records, e.g. one recorded after the step's feed of the
    /// backlog; no simulator seed was seen to lose one that way).
    pub fn take(&mut self) -> Vec<Propagated> {
        let taken = self
            .records_from(self.external_seen)
            .map(|r| r.to_owned())
            .collect();
        self.external_seen = self.records.len();
        self.trim();
        taken
    }
}

/// Turns records into the byte stream a replica or the AOF reads: RESP commands, with
/// a SELECT before the first record and whenever the database changes (Redis's
/// `replicationFeedSlaves`/`feedAppendOnlyFile`). One per consumer: each stream (a
/// replica link, an AOF file) starts with no database selected.
#[derive(Debug, Default, Clone)]
pub struct StreamEncoder {
    selected_db: Option<usize>,
}

impl StreamEncoder {
    /// Appends `record` (and a SELECT if its database is not the selected one).
    pub fn encode(&mut self, record: &Propagated, out: &mut Vec<u8>) {
        self.select(record.db, out);
        crate::resp::encode_request_into(out, &record.argv);
    }

    /// Appends a record of the stream (and a SELECT if needed): its bytes as they are.
    pub fn encode_record(&mut self, record: Record<'_>, out: &mut Vec<u8>) {
        self.select(record.db, out);
        out.extend_from_slice(record.resp);
    }

    fn select(&mut self, db: usize, out: &mut Vec<u8>) {
        if self.selected_db != Some(db) {
            let mut digits = Vec::with_capacity(20);
            crate::util::write_i64(&mut digits, db as i64);
            crate::resp::encode_request_into(out, &[&b"SELECT"[..], &digits]);
            self.selected_db = Some(db);
        }
    }

    /// The database the stream's last SELECT chose (None before the first).
    pub fn selected_db(&self) -> Option<usize> {
        self.selected_db
    }

    /// A new stream (a new replica, a new AOF file): the next record selects its db.
    pub fn reset(&mut self) {
        self.selected_db = None;
    }
}

/// Argument vectors from text parts (for rewrites).
pub fn argv(parts: &[&[u8]]) -> Vec<Vec<u8>> {
    parts.iter().map(|p| p.to_vec()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A command's own arguments, as `end_command` is handed them.
    fn enc<'a>(parts: &'a [&'a [u8]]) -> impl FnOnce(&mut Vec<u8>) + 'a {
        move |out| crate::resp::encode_request_into(out, parts)
    }

    #[test]
    fn take_leaves_what_replication_has_not_read() {
        let mut p = Propagation::default();
        p.enable();
        p.set_repl(true);
        p.record(0, &argv(&[b"SET", b"a", b"1"]));
        let mut fed = Vec::new();
        p.drain_for_repl(|r| fed.push(r.to_owned()));
        p.record(0, &argv(&[b"SET", b"b", b"2"]));
        assert_eq!(p.take().len(), 2);
        assert!(p.take().is_empty());
        p.drain_for_repl(|r| fed.push(r.to_owned()));
        let keys: Vec<&[u8]> = fed
            .iter()
            .filter_map(|r| r.argv.get(1))
            .map(|k| &k[..])
            .collect();
        assert_eq!(keys, [&b"a"[..], &b"b"[..]]);
        assert_eq!(p.mark(), 0, "everyone has read everything");
    }

    #[test]
    fn nothing_is_recorded_until_enabled() {
        let mut p = Propagation::default();
        p.record(0, &argv(&[b"SET", b"k", b"v"]));
        p.rewrite(argv(&[b"DEL", b"k"]));
        p.end_command(0, true, enc(&[b"SET", b"k", b"v"]));
        assert!(p.take().is_empty());
    }

    #[test]
    fn nothing_is_recorded_while_muted() {
        let mut p = Propagation::default();
        p.enable();
        p.set_muted(true);
        p.record(0, &argv(&[b"DEL", b"k"]));
        p.rewrite(argv(&[b"SREM", b"s", b"m"]));
        p.end_command(0, true, enc(&[b"SPOP", b"s"]));
        p.set_muted(false);
        p.end_command(0, true, enc(&[b"SET", b"k", b"v"]));
        let got = p.take();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].argv, argv(&[b"SET", b"k", b"v"]));
    }

    #[test]
    fn a_rewrite_replaces_the_command_once() {
        let mut p = Propagation::default();
        p.enable();
        p.rewrite(argv(&[b"SREM", b"s", b"m"]));
        p.end_command(2, true, enc(&[b"SPOP", b"s"]));
        p.end_command(2, true, enc(&[b"SADD", b"s", b"n"]));
        let got = p.take();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].argv, argv(&[b"SREM", b"s", b"m"]));
        assert_eq!(got[1].argv, argv(&[b"SADD", b"s", b"n"]));
        assert!(got.iter().all(|r| r.db == 2));
    }

    #[test]
    fn an_unchanged_command_is_not_recorded_and_drops_its_rewrite() {
        let mut p = Propagation::default();
        p.enable();
        p.rewrite(argv(&[b"SREM", b"s", b"m"]));
        p.end_command(0, false, enc(&[b"SPOP", b"s"]));
        p.end_command(0, true, enc(&[b"SADD", b"s", b"n"]));
        assert_eq!(p.take()[0].argv, argv(&[b"SADD", b"s", b"n"]));
    }

    #[test]
    fn the_encoder_selects_a_database_first_and_on_every_change() {
        let mut enc = StreamEncoder::default();
        let mut out = Vec::new();
        let rec = |db, parts: &[&[u8]]| Propagated {
            db,
            argv: argv(parts),
        };
        enc.encode(&rec(0, &[b"SET", b"a", b"1"]), &mut out);
        enc.encode(&rec(0, &[b"DEL", b"a"]), &mut out);
        enc.encode(&rec(3, &[b"SET", b"b", b"2"]), &mut out);
        enc.encode(&rec(0, &[b"SET", b"c", b"3"]), &mut out);
        let want = [
            &b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"[..],
            b"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n",
            b"*2\r\n$3\r\nDEL\r\n$1\r\na\r\n",
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n",
            b"*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n",
            b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n",
            b"*3\r\n$3\r\nSET\r\n$1\r\nc\r\n$1\r\n3\r\n",
        ]
        .concat();
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&want)
        );
        enc.reset();
        let mut again = Vec::new();
        enc.encode(&rec(0, &[b"DEL", b"c"]), &mut again);
        assert!(again.starts_with(b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"));
    }

    #[test]
    fn the_aof_and_replication_each_see_every_record_once() {
        let mut p = Propagation::default();
        p.set_aof(true);
        p.record(0, &argv(&[b"SET", b"a", b"1"]));
        p.set_repl(true);
        p.record(0, &argv(&[b"SET", b"b", b"1"]));
        let mut aof = Vec::new();
        p.drain_for_aof(|r| aof.push(r.argv()[1].clone()));
        p.record(0, &argv(&[b"SET", b"c", b"1"]));
        let mut repl = Vec::new();
        p.drain_for_repl(|r| repl.push(r.argv()[1].clone()));
        p.drain_for_aof(|r| aof.push(r.argv()[1].clone()));
        assert_eq!(aof, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        // Replication starts with what is recorded after it joined.
        assert_eq!(repl, vec![b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(p.mark(), 0, "records both consumers saw are dropped");
        p.set_aof(false);
        p.record(0, &argv(&[b"DEL", b"a"]));
        p.drain_for_repl(|_| {});
        assert_eq!(p.mark(), 0);
    }

    #[test]
    fn the_aof_reads_runs_of_one_database_whole() {
        let mut p = Propagation::default();
        p.set_aof(true);
        p.record(0, &argv(&[b"SET", b"a", b"1"]));
        p.record(0, &argv(&[b"DEL", b"a"]));
        p.record(2, &argv(&[b"SET", b"b", b"2"]));
        p.record(0, &argv(&[b"SET", b"c", b"3"]));
        let mut runs = Vec::new();
        p.drain_runs_for_aof(|r| runs.push((r.db, r.resp.to_vec())));
        let one = |parts: &[&[u8]]| crate::resp::encode_request(parts);
        assert_eq!(
            runs,
            vec![
                (
                    0,
                    [one(&[b"SET", b"a", b"1"]), one(&[b"DEL", b"a"])].concat()
                ),
                (2, one(&[b"SET", b"b", b"2"])),
                (0, one(&[b"SET", b"c", b"3"])),
            ]
        );
        p.record(0, &argv(&[b"SET", b"d", b"4"]));
        runs.clear();
        p.drain_runs_for_aof(|r| runs.push((r.db, r.resp.to_vec())));
        assert_eq!(
            runs,
            vec![(0, one(&[b"SET", b"d", b"4"]))],
            "each record once"
        );
        assert_eq!(p.mark(), 0);
    }

    #[test]
    fn transactions_are_wrapped() {
        let mut p = Propagation::default();
        p.enable();
        p.record(0, &argv(&[b"SET", b"a", b"1"]));
        let mark = p.mark();
        p.wrap_transaction(mark);
        assert_eq!(p.mark(), 1, "nothing written inside: no MULTI/EXEC");
        p.record(1, &argv(&[b"SET", b"b", b"1"]));
        p.wrap_transaction(mark);
        let names: Vec<Vec<u8>> = p.take().into_iter().map(|r| r.argv[0].clone()).collect();
        assert_eq!(
            names,
            vec![
                b"SET".to_vec(),
                b"MULTI".to_vec(),
                b"SET".to_vec(),
                b"EXEC".to_vec()
            ]
        );
    }
}
