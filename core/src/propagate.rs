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

/// One propagated command, to run in database `db`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Propagated {
    pub db: usize,
    pub argv: Vec<Vec<u8>>,
}

/// Records beyond this many waiting are a consumer that stopped draining: the
/// stream is then dropped and counted, never grown without bound.
const STREAM_MAX_RECORDS: usize = 1 << 20;

#[derive(Debug, Default)]
pub struct Propagation {
    /// Off until a consumer asks (`Node::enable_propagation`): nothing is recorded,
    /// at no cost, when nobody reads the stream.
    enabled: bool,
    stream: VecDeque<Propagated>,
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
    /// Records the AOF has seen of those still in `stream` (when `external`).
    aof_seen: usize,
    /// Records the outside reader has taken of those still in `stream`.
    external_seen: usize,
    /// The AOF consumes the stream.
    aof: bool,
    /// Replication consumes the stream (from the first replica on, as Redis creates
    /// its backlog then).
    repl: bool,
    /// Records replication has seen of those still in `stream`.
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
        self.aof_seen = self.aof_seen.min(self.stream.len());
        self.trim();
    }

    /// Replication starts reading the stream (it never stops: the backlog lives on
    /// after the last replica, as Redis's does until `repl-backlog-ttl`).
    pub fn set_repl(&mut self, on: bool) {
        if on && !self.repl {
            self.repl_seen = self.stream.len();
        }
        self.repl = on;
        self.enabled = self.external || self.aof || on;
        self.trim();
    }

    /// Hands replication every record it has not seen, oldest first.
    pub fn drain_for_repl(&mut self, mut each: impl FnMut(&Propagated)) {
        if !self.repl {
            return;
        }
        for record in self.stream.iter().skip(self.repl_seen) {
            each(record);
        }
        self.repl_seen = self.stream.len();
        self.trim();
    }

    /// Drops the records every internal consumer has seen (nobody outside reads
    /// the stream; when someone does, `take` empties it).
    fn trim(&mut self) {
        let mut seen = self.stream.len();
        if self.external {
            seen = seen.min(self.external_seen);
        }
        if self.aof {
            seen = seen.min(self.aof_seen);
        }
        if self.repl {
            seen = seen.min(self.repl_seen);
        }
        self.stream.drain(..seen);
        self.aof_seen = self.aof_seen.saturating_sub(seen);
        self.repl_seen = self.repl_seen.saturating_sub(seen);
        self.external_seen = self.external_seen.saturating_sub(seen);
    }

    /// Hands the AOF every record it has not seen, oldest first: taken when nobody
    /// else reads the stream, left for `take` when someone does.
    pub fn drain_for_aof(&mut self, mut each: impl FnMut(&Propagated)) {
        for record in self.stream.iter().skip(self.aof_seen) {
            each(record);
        }
        self.aof_seen = self.stream.len();
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
    pub fn record(&mut self, db: usize, argv: Vec<Vec<u8>>) {
        if !self.enabled || self.muted {
            return;
        }
        if self.stream.len() >= STREAM_MAX_RECORDS {
            self.dropped += self.stream.len() as u64;
            self.stream.clear();
            self.aof_seen = 0;
            self.repl_seen = 0;
            self.external_seen = 0;
        }
        self.stream.push_back(Propagated { db, argv });
        self.recorded_total += 1;
    }

    /// Records ever recorded (see `recorded_total`).
    pub fn recorded_total(&self) -> u64 {
        self.recorded_total
    }

    /// Ends a command: records it (as rewritten, if it was) when `propagate`, and
    /// forgets the rewrite either way.
    pub fn end_command(&mut self, db: usize, propagate: bool, argv: impl FnOnce() -> Vec<Vec<u8>>) {
        let rewrite = self.rewrite.take();
        if self.enabled && propagate {
            let argv = rewrite.unwrap_or_else(argv);
            self.record(db, argv);
        }
    }

    /// Where the stream ends now (for `wrap_transaction`).
    pub fn mark(&self) -> usize {
        self.stream.len()
    }

    /// Wraps what was recorded since `mark` in MULTI ... EXEC, as Redis 7.0 propagates
    /// a transaction that wrote anything.
    pub fn wrap_transaction(&mut self, mark: usize) {
        let Some(first_db) = self.stream.get(mark).map(|p| p.db) else {
            return;
        };
        let last_db = self.stream.back().map_or(first_db, |p| p.db);
        self.stream.insert(
            mark,
            Propagated {
                db: first_db,
                argv: vec![b"MULTI".to_vec()],
            },
        );
        self.stream.push_back(Propagated {
            db: last_db,
            argv: vec![b"EXEC".to_vec()],
        });
        self.recorded_total += 2;
    }

    /// Hands out everything recorded since the last call, oldest first. Records the
    /// AOF or replication have not read yet stay for them (this reset their cursors
    /// and dropped such records, e.g. one recorded after the step's feed of the
    /// backlog; no simulator seed was seen to lose one that way).
    pub fn take(&mut self) -> Vec<Propagated> {
        let taken = self
            .stream
            .iter()
            .skip(self.external_seen)
            .cloned()
            .collect();
        self.external_seen = self.stream.len();
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
        if self.selected_db != Some(record.db) {
            let db = record.db.to_string();
            crate::resp::encode_request_into(out, &[&b"SELECT"[..], db.as_bytes()]);
            self.selected_db = Some(record.db);
        }
        crate::resp::encode_request_into(out, &record.argv);
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

    #[test]
    fn take_leaves_what_replication_has_not_read() {
        let mut p = Propagation::default();
        p.enable();
        p.set_repl(true);
        p.record(0, vec![b"SET".to_vec(), b"a".to_vec(), b"1".to_vec()]);
        let mut fed = Vec::new();
        p.drain_for_repl(|r| fed.push(r.clone()));
        p.record(0, vec![b"SET".to_vec(), b"b".to_vec(), b"2".to_vec()]);
        assert_eq!(p.take().len(), 2);
        assert!(p.take().is_empty());
        p.drain_for_repl(|r| fed.push(r.clone()));
        let keys: Vec<&[u8]> = fed
            .iter()
            .filter_map(|r| r.argv.get(1))
            .map(|k| &k[..])
            .collect();
        assert_eq!(keys, [&b"a"[..], &b"b"[..]]);
        assert!(p.stream.is_empty());
    }

    #[test]
    fn nothing_is_recorded_until_enabled() {
        let mut p = Propagation::default();
        p.record(0, argv(&[b"SET", b"k", b"v"]));
        p.rewrite(argv(&[b"DEL", b"k"]));
        p.end_command(0, true, || argv(&[b"SET", b"k", b"v"]));
        assert!(p.take().is_empty());
    }

    #[test]
    fn nothing_is_recorded_while_muted() {
        let mut p = Propagation::default();
        p.enable();
        p.set_muted(true);
        p.record(0, argv(&[b"DEL", b"k"]));
        p.rewrite(argv(&[b"SREM", b"s", b"m"]));
        p.end_command(0, true, || argv(&[b"SPOP", b"s"]));
        p.set_muted(false);
        p.end_command(0, true, || argv(&[b"SET", b"k", b"v"]));
        let got = p.take();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].argv, argv(&[b"SET", b"k", b"v"]));
    }

    #[test]
    fn a_rewrite_replaces_the_command_once() {
        let mut p = Propagation::default();
        p.enable();
        p.rewrite(argv(&[b"SREM", b"s", b"m"]));
        p.end_command(2, true, || argv(&[b"SPOP", b"s"]));
        p.end_command(2, true, || argv(&[b"SADD", b"s", b"n"]));
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
        p.end_command(0, false, || argv(&[b"SPOP", b"s"]));
        p.end_command(0, true, || argv(&[b"SADD", b"s", b"n"]));
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
        p.record(0, argv(&[b"SET", b"a", b"1"]));
        p.set_repl(true);
        p.record(0, argv(&[b"SET", b"b", b"1"]));
        let mut aof = Vec::new();
        p.drain_for_aof(|r| aof.push(r.argv[1].clone()));
        p.record(0, argv(&[b"SET", b"c", b"1"]));
        let mut repl = Vec::new();
        p.drain_for_repl(|r| repl.push(r.argv[1].clone()));
        p.drain_for_aof(|r| aof.push(r.argv[1].clone()));
        assert_eq!(aof, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
        // Replication starts with what is recorded after it joined.
        assert_eq!(repl, vec![b"b".to_vec(), b"c".to_vec()]);
        assert_eq!(p.mark(), 0, "records both consumers saw are dropped");
        p.set_aof(false);
        p.record(0, argv(&[b"DEL", b"a"]));
        p.drain_for_repl(|_| {});
        assert_eq!(p.mark(), 0);
    }

    #[test]
    fn transactions_are_wrapped() {
        let mut p = Propagation::default();
        p.enable();
        p.record(0, argv(&[b"SET", b"a", b"1"]));
        let mark = p.mark();
        p.wrap_transaction(mark);
        assert_eq!(p.mark(), 1, "nothing written inside: no MULTI/EXEC");
        p.record(1, argv(&[b"SET", b"b", b"1"]));
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
