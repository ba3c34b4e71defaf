//! The fork-less snapshot: a point-in-time walk of every database in bounded slices
//! between commands, without copying the dataset. It hands each key of the start's
//! dataset exactly once to a [`SnapshotSink`] (an RDB writer, or wt-aof's AOF-base
//! writer): keys the walk has not reached yet that are about to change are captured by
//! the keyspace first (`crate::keyspace::snap`), keys created after the start are
//! skipped. It never reads a clock (the start's wall time is handed in) and never
//! touches a file: the sink writes bytes into a buffer the caller drains.
//!
//! Order of the output: databases by their index at the start, each as one section
//! (`start_db`, then its keys: pre-images first, then the slots in id order).

use crate::keyspace::evict::{lru_clock, lru_idle_ms};
use crate::keyspace::{Garbage, Keyspace, SlotAt, Storage};

pub use crate::persist::rdb::KeyRecord;

/// Where a snapshot's keys go. The same walk writes an RDB file or an AOF base.
pub trait SnapshotSink: Send {
    /// Before anything else (a file header).
    fn begin(&mut self, out: &mut Vec<u8>);
    /// Database `db` starts (only for databases that had keys at the start);
    /// `keys`/`expires` are the counts at the start (RESIZEDB's hints).
    fn start_db(&mut self, db: usize, keys: u64, expires: u64, out: &mut Vec<u8>);
    /// One key of the current database, as it was at the start.
    fn record(&mut self, rec: &KeyRecord<'_>, out: &mut Vec<u8>);
    /// After the last key (a footer).
    fn finish(&mut self, out: &mut Vec<u8>);
}

/// Which access metadata goes with each key (Redis saves LRU idle time under an LRU
/// `maxmemory-policy` and the LFU counter under an LFU one).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum AccessMeta {
    #[default]
    None,
    LruIdle,
    LfuFreq,
}

/// How much one slice may do: slots visited and output bytes produced.
#[derive(Debug, Clone, Copy)]
pub struct SliceBudget {
    pub max_slots: usize,
    pub max_out_bytes: usize,
}

impl SliceBudget {
    /// A slice of a background snapshot: about 0.1-0.4 ms of work. (1024 slots and
    /// 128 KB was up to ~1.5 ms with 100-byte values, mostly LZF, on the 2-vCPU
    /// bench machine: one slice per loop turn put that in front of every command.)
    pub const BACKGROUND: SliceBudget = SliceBudget {
        max_slots: 256,
        max_out_bytes: 32 * 1024,
    };
}

/// A running snapshot. Start it with [`Snapshot::start`], call [`Snapshot::step`]
/// between commands until it returns true, or [`Snapshot::abort`] it; either way the
/// keyspace's tracks are removed when it ends.
pub struct Snapshot {
    sink: Box<dyn SnapshotSink>,
    /// The database (by its index at the start) being walked.
    db: usize,
    databases: usize,
    db_started: bool,
    access: AccessMeta,
    /// The node's monotonic seconds at the start (for LRU idle times).
    start_secs: u32,
    pub keys_processed: u64,
    pub keys_total: u64,
    /// The most extra memory the snapshot held at once (pre-images, skip sets, a
    /// flushed storage, output not yet handed over).
    pub peak_extra_bytes: usize,
    finished: bool,
}

impl std::fmt::Debug for Snapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Snapshot")
            .field("db", &self.db)
            .field("keys_processed", &self.keys_processed)
            .field("keys_total", &self.keys_total)
            .finish()
    }
}

impl Snapshot {
    /// Starts a snapshot of `ks` as it is now; writes the sink's header into `out`.
    /// Every key the table holds is part of it, those past their TTL at
    /// `_start_wall_ms` too (as Redis writes them: see `Walk::emit`).
    pub fn start(
        ks: &mut Keyspace,
        mut sink: Box<dyn SnapshotSink>,
        _start_wall_ms: u64,
        access: AccessMeta,
        out: &mut Vec<u8>,
    ) -> Snapshot {
        let mut keys_total = 0;
        for (i, db) in ks.dbs.iter_mut().enumerate() {
            keys_total += db.len() as u64;
            db.snap_begin(i);
        }
        sink.begin(out);
        Snapshot {
            sink,
            db: 0,
            databases: ks.dbs.len(),
            db_started: false,
            access,
            start_secs: ks.now_secs,
            keys_processed: 0,
            keys_total,
            peak_extra_bytes: 0,
            finished: false,
        }
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Extra memory held now by the keyspace's tracks.
    pub fn extra_bytes(ks: &Keyspace) -> usize {
        ks.dbs
            .iter()
            .filter_map(|d| d.snap_track())
            .map(|t| t.extra_bytes())
            .sum()
    }

    /// Walks one slice; returns true when the whole snapshot was handed to the sink
    /// (its footer included). Memory a flush froze is handed to `garbage` once walked.
    pub fn step(
        &mut self,
        ks: &mut Keyspace,
        budget: SliceBudget,
        out: &mut Vec<u8>,
        garbage: &mut Garbage,
    ) -> bool {
        if self.finished {
            return true;
        }
        let extra = Self::extra_bytes(ks) + out.len();
        self.peak_extra_bytes = self.peak_extra_bytes.max(extra);
        let out_limit = out.len().saturating_add(budget.max_out_bytes);
        let mut slots_left = budget.max_slots;
        while self.db < self.databases {
            let orig = self.db;
            let Some(pos) = ks
                .dbs
                .iter()
                .position(|d| d.snap_track().is_some_and(|t| t.orig_db == orig))
            else {
                // No track: the database was never tracked (cannot happen) — skip it.
                self.db += 1;
                self.db_started = false;
                continue;
            };
            let now_clock = lru_clock(self.start_secs.max(ks.now_secs));
            let Some(db) = ks.dbs.get_mut(pos) else {
                break;
            };
            let Some((track, live)) = db.snap_parts() else {
                break;
            };
            if !self.db_started && track.keys_at_start > 0 {
                self.sink
                    .start_db(orig, track.keys_at_start, track.expires_at_start, out);
            }
            self.db_started = true;
            // Pre-images first: they may hold memory, and they are this db's keys.
            let walker = Walk {
                access: self.access,
                now_clock,
            };
            for c in track.captured.drain(..) {
                let e = &c.entry;
                let key = (e.key.as_bytes(), &e.value, e.expire_at_ms, e.access);
                if walker.emit(&mut *self.sink, key, out) {
                    self.keys_processed += 1;
                }
            }
            track.captured_bytes = 0;
            let source: &Storage = track.frozen.as_ref().unwrap_or(live);
            let mut cursor = track.cursor;
            while cursor < track.start_span && slots_left > 0 && out.len() < out_limit {
                match source.at(u64::from(cursor)) {
                    SlotAt::Key(e) => {
                        let key = (e.key.as_bytes(), e.value, e.expire_at_ms, e.access);
                        if !track.skipped(cursor) && walker.emit(&mut *self.sink, key, out) {
                            self.keys_processed += 1;
                        }
                        cursor += 1;
                    }
                    SlotAt::Free => cursor += 1,
                    // A released chunk (or an unwritten tail) holds nothing: one step.
                    SlotAt::Vacant(next) => {
                        cursor = u32::try_from(next)
                            .unwrap_or(u32::MAX)
                            .min(track.start_span);
                    }
                }
                slots_left -= 1;
            }
            track.cursor = cursor;
            if cursor < track.start_span {
                return false;
            }
            if let Some(frozen) = db.snap_end() {
                garbage.push_db(frozen);
            }
            self.db += 1;
            self.db_started = false;
        }
        self.sink.finish(out);
        self.finished = true;
        true
    }

    /// Stops a snapshot before its end: the keyspace forgets it, pre-images and a
    /// flushed storage go to `garbage`.
    pub fn abort(self, ks: &mut Keyspace, garbage: &mut Garbage) {
        end_tracks(ks, garbage);
    }
}

/// Removes every database's track (a finished or aborted snapshot).
pub fn end_tracks(ks: &mut Keyspace, garbage: &mut Garbage) {
    for db in ks.dbs.iter_mut() {
        if let Some(frozen) = db.snap_end() {
            garbage.push_db(frozen);
        }
    }
}

struct Walk {
    access: AccessMeta,
    now_clock: u32,
}

impl Walk {
    /// Hands one key (bytes, value, expire time or 0, access field) to the sink.
    fn emit(
        &self,
        sink: &mut dyn SnapshotSink,
        (key, value, expire_at_ms, access): (&[u8], &crate::types::Value, u64, u32),
        out: &mut Vec<u8>,
    ) -> bool {
        // A key whose TTL has passed but that is still in the table is written, as
        // Redis 7.0's rdbSaveKeyValuePair does: a master that loads the file drops it
        // and puts its DEL in the stream, so a replica that continues by PSYNC (and
        // still holds the key, waiting for that DEL) loses it too. Leaving it out
        // left such a replica with the key for ever (repl-crash 0x74).
        let (lru_idle_secs, lfu_freq) = match self.access {
            AccessMeta::None => (None, None),
            AccessMeta::LruIdle => (Some(lru_idle_ms(self.now_clock, access) / 1000), None),
            AccessMeta::LfuFreq => (None, Some((access & 0xff) as u8)),
        };
        let rec = KeyRecord {
            key,
            value,
            expire_ms: (expire_at_ms != 0).then_some(expire_at_ms),
            lru_idle_secs,
            lfu_freq,
        };
        sink.record(&rec, out);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::HashSeeds;
    use crate::types::{StrValue, Value};
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    type Dataset = BTreeMap<(usize, Vec<u8>), (Vec<u8>, Option<u64>)>;

    /// A sink that keeps what it was handed, and checks the section order.
    #[derive(Default)]
    struct Collect {
        db: Option<usize>,
        got: std::sync::Arc<std::sync::Mutex<(Dataset, Vec<String>)>>,
    }

    fn str_of(v: &Value) -> Vec<u8> {
        match v {
            Value::Str(s) => s.to_vec(),
            other => other.type_name().as_bytes().to_vec(),
        }
    }

    impl SnapshotSink for Collect {
        fn begin(&mut self, _out: &mut Vec<u8>) {
            self.got.lock().unwrap().1.push("begin".into());
        }
        fn start_db(&mut self, db: usize, _k: u64, _e: u64, _out: &mut Vec<u8>) {
            self.db = Some(db);
            self.got.lock().unwrap().1.push(format!("db{db}"));
        }
        fn record(&mut self, rec: &KeyRecord<'_>, out: &mut Vec<u8>) {
            let db = self.db.expect("a record before any start_db");
            out.extend_from_slice(rec.key);
            let mut g = self.got.lock().unwrap();
            let dup =
                g.0.insert((db, rec.key.to_vec()), (str_of(rec.value), rec.expire_ms));
            assert!(dup.is_none(), "key handed twice: {:?}", rec.key);
        }
        fn finish(&mut self, _out: &mut Vec<u8>) {
            self.got.lock().unwrap().1.push("finish".into());
        }
    }

    fn sv(s: &[u8]) -> Value {
        Value::Str(StrValue::from_set(s))
    }

    /// Every key the table holds at `_now_wall_ms`, those past their TTL included (a
    /// snapshot writes them, as Redis does; a master drops them when it loads).
    fn dataset(ks: &Keyspace, _now_wall_ms: u64) -> Dataset {
        let mut d = Dataset::new();
        for (i, db) in ks.dbs.iter().enumerate() {
            for (_, e) in db.iter() {
                let exp = (e.expire_at_ms != 0).then_some(e.expire_at_ms);
                d.insert((i, e.key.as_bytes().to_vec()), (str_of(e.value), exp));
            }
        }
        d
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set(usize, u8, u8),
        Del(usize, u8),
        Expire(usize, u8, u64),
        Persist(usize, u8),
        Append(usize, u8),
        Flush(usize),
        FlushAll,
        Swap(usize, usize),
        Move(usize, u8, usize),
        Rename(usize, u8, u8),
        Step(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        let db = 0usize..3;
        let key = 0u8..40;
        prop_oneof![
            6 => (db.clone(), key.clone(), any::<u8>()).prop_map(|(d, k, v)| Op::Set(d, k, v)),
            3 => (db.clone(), key.clone()).prop_map(|(d, k)| Op::Del(d, k)),
            2 => (db.clone(), key.clone(), 1u64..200).prop_map(|(d, k, t)| Op::Expire(d, k, t)),
            1 => (db.clone(), key.clone()).prop_map(|(d, k)| Op::Persist(d, k)),
            2 => (db.clone(), key.clone()).prop_map(|(d, k)| Op::Append(d, k)),
            1 => db.clone().prop_map(Op::Flush),
            1 => Just(Op::FlushAll),
            1 => (db.clone(), db.clone()).prop_map(|(a, b)| Op::Swap(a, b)),
            1 => (db.clone(), key.clone(), db.clone()).prop_map(|(a, k, b)| Op::Move(a, k, b)),
            1 => (db.clone(), key.clone(), key.clone()).prop_map(|(d, a, b)| Op::Rename(d, a, b)),
            6 => (1usize..8).prop_map(Op::Step),
        ]
    }

    fn k(n: u8) -> Vec<u8> {
        format!("key:{n}").into_bytes()
    }

    fn apply(ks: &mut Keyspace, op: &Op, now: u64) {
        match *op {
            Op::Set(d, n, v) => {
                ks.set(d, &k(n), sv(&[v]), false, now);
            }
            Op::Del(d, n) => {
                ks.delete(d, &k(n), now);
            }
            Op::Expire(d, n, t) => {
                if let Some(id) = ks.lookup(d, &k(n), now) {
                    ks.db_mut(d).set_expire(id, now + t);
                }
            }
            Op::Persist(d, n) => {
                if let Some(id) = ks.lookup(d, &k(n), now) {
                    ks.db_mut(d).clear_expire(id);
                }
            }
            Op::Append(d, n) => {
                if let Some(id) = ks.lookup(d, &k(n), now) {
                    ks.db_mut(d).update_value(id, |v| {
                        if let Value::Str(s) = v {
                            let mut b = s.to_vec();
                            b.push(b'+');
                            *s = StrValue::from_set(&b);
                        }
                    });
                }
            }
            Op::Flush(d) => ks.flush_db(d),
            Op::FlushAll => {
                for d in 0..ks.dbs.len() {
                    ks.flush_db(d);
                }
            }
            Op::Swap(a, b) => ks.dbs.swap(a, b),
            Op::Move(a, n, b) => {
                if a != b && ks.lookup(b, &k(n), now).is_none() {
                    if let Some(id) = ks.lookup(a, &k(n), now) {
                        if let Some(e) = ks.db_mut(a).remove(id) {
                            let nid = ks.db_mut(b).insert(&k(n), e.value);
                            if e.expire_at_ms != 0 {
                                ks.db_mut(b).set_expire(nid, e.expire_at_ms);
                            }
                        }
                    }
                }
            }
            Op::Rename(d, a, b) => {
                if let Some(id) = ks.lookup(d, &k(a), now) {
                    if let Some(e) = ks.db_mut(d).remove(id) {
                        ks.delete(d, &k(b), now);
                        ks.set(d, &k(b), e.value, false, now);
                    }
                }
            }
            Op::Step(_) => {}
        }
    }

    fn run(initial: &[Op], during: &[Op]) {
        let mut ks = Keyspace::new(3, HashSeeds([5, 6, 7, 8]));
        let mut now = 1000;
        for o in initial {
            apply(&mut ks, o, now);
        }
        now += 50; // some keys have expired by the start, unremoved
        let expected = dataset(&ks, now);
        let sink = Collect::default();
        let got = sink.got.clone();
        let mut out = Vec::new();
        let mut garbage = Garbage::default();
        let mut snap = Snapshot::start(&mut ks, Box::new(sink), now, AccessMeta::None, &mut out);
        let budget = SliceBudget {
            max_slots: 3,
            max_out_bytes: 1 << 20,
        };
        let mut done = false;
        for o in during {
            now += 1;
            if let Op::Step(n) = o {
                for _ in 0..*n {
                    done = snap.step(&mut ks, budget, &mut out, &mut garbage);
                }
            } else {
                apply(&mut ks, o, now);
            }
        }
        while !done {
            done = snap.step(&mut ks, budget, &mut out, &mut garbage);
        }
        assert!(ks.dbs.iter().all(|d| d.snap_track().is_none()));
        let g = got.lock().unwrap();
        assert_eq!(g.0, expected, "the snapshot is the dataset at the start");
        assert_eq!(g.1.first().map(String::as_str), Some("begin"));
        assert_eq!(g.1.last().map(String::as_str), Some("finish"));
        let dbs: Vec<&String> = g.1.iter().filter(|s| s.starts_with("db")).collect();
        let mut sorted = dbs.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(dbs, sorted, "each database is one section, in order");
    }

    #[test]
    fn changes_during_the_walk_do_not_leak_in() {
        let mut initial = Vec::new();
        for n in 0..30 {
            initial.push(Op::Set(0, n, n));
            initial.push(Op::Set(1, n, n + 100));
        }
        initial.push(Op::Expire(0, 3, 10)); // expired at the start
        initial.push(Op::Expire(0, 4, 1000));
        let during = vec![
            Op::Step(2),
            Op::Set(0, 29, 7),
            Op::Del(0, 28),
            Op::Set(0, 35, 1),
            Op::Append(1, 2),
            Op::Swap(0, 1),
            Op::Step(3),
            Op::Flush(1),
            Op::Set(1, 1, 1),
            Op::Rename(0, 5, 6),
            Op::Move(0, 7, 2),
            Op::Expire(0, 20, 5),
            Op::Persist(1, 4),
            Op::Step(1),
            Op::FlushAll,
        ];
        run(&initial, &during);
    }

    #[test]
    fn the_walk_crosses_chunks_released_and_refilled_during_it() {
        use crate::slab::CHUNK_SLOTS;
        let key = |i: usize| format!("key:{i}").into_bytes();
        let mut ks = Keyspace::new(1, HashSeeds([2, 3, 4, 5]));
        let total = 4 * CHUNK_SLOTS + 10;
        for i in 0..total {
            ks.set(0, &key(i), sv(&i.to_le_bytes()), false, 0);
        }
        let now = 1000;
        let expected = dataset(&ks, now);
        let sink = Collect::default();
        let got = sink.got.clone();
        let (mut out, mut garbage) = (Vec::new(), Garbage::default());
        let mut snap = Snapshot::start(&mut ks, Box::new(sink), now, AccessMeta::None, &mut out);
        let budget = SliceBudget {
            max_slots: 1000,
            max_out_bytes: 1 << 20,
        };
        // The walk is inside chunk 0; chunks 1..=3 empty (two released, one spare),
        // before it reaches them, so their keys go out as pre-images.
        assert!(!snap.step(&mut ks, budget, &mut out, &mut garbage));
        for i in CHUNK_SLOTS..4 * CHUNK_SLOTS {
            assert!(ks.delete(0, &key(i), now));
        }
        assert_eq!(ks.db(0).released_chunks(), 2);
        // New keys refill the spare and part of a released chunk behind the walk's
        // back (not in the file); the other released chunk and the unwritten rest of the
        // refilled one are jumped over.
        for i in 0..CHUNK_SLOTS + 100 {
            ks.set(0, format!("new:{i}").as_bytes(), sv(b"n"), false, now);
        }
        let mut steps = 0;
        while !snap.step(&mut ks, budget, &mut out, &mut garbage) {
            steps += 1;
        }
        // 1000 slots a step: chunks 0 and 1 take 9 steps, the rest one or two each
        // (without the jumps it would be 21).
        assert!(steps < 14, "{steps} steps for a 5-chunk span");
        let got = &got.lock().unwrap().0;
        let missing = expected.keys().filter(|k| !got.contains_key(*k)).count();
        assert!(
            *got == expected,
            "{} keys in the file, {} at the start, {missing} missing",
            got.len(),
            expected.len()
        );
    }

    #[test]
    fn no_snapshot_no_track() {
        let mut ks = Keyspace::new(2, HashSeeds([1; 4]));
        ks.set(0, b"a", sv(b"1"), false, 0);
        ks.flush_db(0);
        assert!(ks.db(0).snap_track().is_none());
        assert!(
            ks.take_garbage().is_some(),
            "a flush without a snapshot frees"
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        #[test]
        fn the_file_holds_the_dataset_at_the_start(
            initial in prop::collection::vec(op(), 0..80),
            during in prop::collection::vec(op(), 0..80),
        ) {
            run(&initial, &during);
        }
    }
}
