//! An RDB file on disk from a snapshot: the walk's bytes go to `temp-<n>.rdb` as
//! bounded appends (executed off the loop by the driver, in order), then fsync, rename
//! onto `dbfilename`, fsync of the directory — Redis's `rdbSave` sequence as effects.
//! Any failed operation ends the save: the walk stops, the temp file is removed, the
//! caller is told why. Never reads a clock or touches a file itself.

use std::collections::BTreeMap;

use crate::io::{DiskError, DiskOp, DiskResult, Effect, IoId, LogLevel};
use crate::keyspace::{Garbage, Keyspace};
use crate::mutants::Mutant;
use crate::persist::rdb::{AuxValue, KeyRecord, RdbOptions, RdbWriter};
use crate::persist::snapshot::{AccessMeta, SliceBudget, Snapshot, SnapshotSink};
use crate::server::Server;

/// Output handed to the driver per append.
pub const APPEND_CHUNK_BYTES: usize = 512 << 10;
/// Output handed to the driver and not yet written: the walk pauses above it, so a
/// slow disk bounds the memory the save holds instead of the walk running ahead.
pub const MAX_INFLIGHT_BYTES: usize = 2 << 20;

/// The redis version keel's files say they come from (`redis-ver` aux field).
pub const REDIS_VERSION: &str = "7.0.15";

/// The RDB writer as a snapshot sink.
pub struct RdbSink {
    writer: RdbWriter,
    ctime_secs: i64,
    used_mem_bytes: i64,
    repl_id: String,
    repl_offset: i64,
    repl_stream_db: i64,
    /// Writes `repl-stream-db`, `repl-id` and `repl-offset` (Redis's non-NULL
    /// `rdbSaveInfo`).
    with_repl: bool,
}

impl RdbSink {
    pub fn new(opts: RdbOptions, ctime_secs: i64, used_mem_bytes: i64, repl_id: String) -> Self {
        RdbSink {
            writer: RdbWriter::new(opts),
            ctime_secs,
            used_mem_bytes,
            repl_id,
            repl_offset: 0,
            repl_stream_db: 0,
            with_repl: true,
        }
    }

    /// No replication fields (Redis's `rdbPopulateSaveInfo` returning NULL: a master
    /// that is in no replication chain, with no backlog, records no history).
    pub fn without_repl(mut self) -> Self {
        self.with_repl = false;
        self
    }

    /// The replication offset the dataset is at and the database the stream last
    /// selected (`repl-offset`, `repl-stream-db`): a replica restarted from the file
    /// continues from there.
    pub fn with_repl_position(mut self, offset: u64, stream_db: usize) -> Self {
        self.repl_offset = i64::try_from(offset).unwrap_or(i64::MAX);
        self.repl_stream_db = i64::try_from(stream_db).unwrap_or(0);
        self
    }
}

impl SnapshotSink for RdbSink {
    fn begin(&mut self, out: &mut Vec<u8>) {
        let mut aux = vec![
            ("redis-ver", AuxValue::Str(REDIS_VERSION.as_bytes())),
            ("redis-bits", AuxValue::Int(64)),
            ("ctime", AuxValue::Int(self.ctime_secs)),
            ("used-mem", AuxValue::Int(self.used_mem_bytes)),
        ];
        if self.with_repl {
            aux.extend([
                ("repl-stream-db", AuxValue::Int(self.repl_stream_db)),
                ("repl-id", AuxValue::Str(self.repl_id.as_bytes())),
                ("repl-offset", AuxValue::Int(self.repl_offset)),
            ]);
        }
        aux.push(("aof-base", AuxValue::Int(0)));
        self.writer.header(&aux, out);
    }
    fn start_db(&mut self, db: usize, keys: u64, expires: u64, out: &mut Vec<u8>) {
        self.writer.select_db(db, keys, expires, out);
    }
    fn record(&mut self, rec: &KeyRecord<'_>, out: &mut Vec<u8>) {
        self.writer.entry(rec, out);
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        self.writer.finish(out);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Walking and appending.
    Writing,
    /// Waiting for the temp file's fsync.
    Syncing,
    /// Waiting for the rename.
    Renaming,
    /// Waiting for the directory's fsync.
    SyncingDir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Open,
    /// An append of this many bytes.
    Append(usize),
    Fsync,
    Rename,
    DirFsync,
    Remove,
    /// Closing the saved file's descriptor (its answer changes nothing).
    Close,
}

/// How a save ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaveOutcome {
    Saved,
    /// The log line saying why (Redis's texts).
    Failed(String),
}

/// One save of the keyspace to `dbfilename`, from start to the directory's fsync.
pub struct SaveJob {
    snapshot: Option<Snapshot>,
    pub temp_path: String,
    pub final_path: String,
    out: Vec<u8>,
    stage: Stage,
    /// Operations issued and not answered yet (answers after a failure are claimed
    /// and dropped).
    inflight: BTreeMap<IoId, OpKind>,
    inflight_bytes: usize,
    /// Set once the save has ended (the caller takes it with `take_outcome`).
    outcome: Option<SaveOutcome>,
    failed: bool,
    /// Slots visited per slice.
    budget: SliceBudget,
    pub keys_total: u64,
    pub bytes_written: u64,
}

impl std::fmt::Debug for SaveJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaveJob")
            .field("temp_path", &self.temp_path)
            .field("stage", &self.stage)
            .field("inflight", &self.inflight.len())
            .finish()
    }
}

fn error_text(e: DiskError) -> &'static str {
    match e {
        DiskError::Io => "Input/output error",
        DiskError::NoSpace => "No space left on device",
        DiskError::NotFound => "No such file or directory",
        DiskError::NotADirectory => "Not a directory",
        DiskError::PermissionDenied => "Permission denied",
    }
}

impl SaveJob {
    /// Starts a save of `ks` as it is now: opens the temp file and writes the header.
    pub fn start(
        ks: &mut Keyspace,
        server: &mut Server,
        now_wall_ms: u64,
        used_mem_bytes: u64,
        budget: SliceBudget,
    ) -> SaveJob {
        let s = server.config.settings();
        let opts = RdbOptions {
            compression: s.rdbcompression,
            checksum: s.rdbchecksum,
        };
        let access = if s.maxmemory_policy.is_lfu() {
            AccessMeta::LfuFreq
        } else if s.maxmemory_policy.is_lru() {
            AccessMeta::LruIdle
        } else {
            AccessMeta::None
        };
        let final_path = String::from_utf8_lossy(&s.dbfilename).into_owned();
        let sink = RdbSink::new(
            opts,
            (now_wall_ms / 1000) as i64,
            used_mem_bytes as i64,
            server.repl_id().to_string(),
        );
        let sink = match server.rdb_repl_position() {
            Some((offset, stream_db)) => sink.with_repl_position(offset, stream_db),
            None => sink.without_repl(),
        };
        let open_id = server.draw_io_id();
        let temp_path = format!("temp-{}.rdb", open_id.0);
        let mut out = Vec::new();
        let snapshot = Snapshot::start(ks, Box::new(sink), now_wall_ms, access, &mut out);
        let keys_total = snapshot.keys_total;
        let mut job = SaveJob {
            snapshot: Some(snapshot),
            temp_path,
            final_path,
            out,
            stage: Stage::Writing,
            inflight: BTreeMap::new(),
            inflight_bytes: 0,
            outcome: None,
            failed: false,
            budget,
            keys_total,
            bytes_written: 0,
        };
        let op = DiskOp::Open {
            path: job.temp_path.clone(),
            create: true,
            truncate: true,
        };
        job.issue_with(server, open_id, OpKind::Open, op);
        job
    }

    fn issue_with(&mut self, server: &mut Server, io: IoId, kind: OpKind, op: DiskOp) {
        if kind == OpKind::Remove {
            // Redis's `rdbRemoveTempFile`: the unlink of a failed or killed save's
            // temp file, which a big file makes slow.
            let threshold_ms = server.hot.latency_monitor_threshold_ms;
            server
                .observe
                .time_disk(io, &["rdb-unlink-temp-file"], threshold_ms);
        }
        self.inflight.insert(io, kind);
        server.effects.push_back(Effect::Disk { io, op });
    }

    fn issue(&mut self, server: &mut Server, kind: OpKind, op: DiskOp) {
        let io = server.draw_io_id();
        self.issue_with(server, io, kind, op);
    }

    pub fn keys_processed(&self) -> u64 {
        self.snapshot
            .as_ref()
            .map_or(self.keys_total, |s| s.keys_processed)
    }

    pub fn peak_extra_bytes(&self) -> usize {
        self.snapshot.as_ref().map_or(0, |s| s.peak_extra_bytes)
    }

    /// Extra memory now: the walk's, plus output held for the driver.
    pub fn extra_bytes(&self, ks: &Keyspace) -> usize {
        Snapshot::extra_bytes(ks) + self.out.capacity() + self.inflight_bytes
    }

    /// Whether the save has CPU work to do now (a slice to walk): the node then asks
    /// to be called again at once.
    pub fn wants_step(&self) -> bool {
        self.stage == Stage::Writing
            && !self.failed
            && self.snapshot.is_some()
            && self.inflight_bytes < MAX_INFLIGHT_BYTES
    }

    /// Walks slices while the output in flight stays under its bound (at most
    /// `slices`), appending full chunks; after the last key, the fsync.
    pub fn step(
        &mut self,
        ks: &mut Keyspace,
        server: &mut Server,
        slices: usize,
        garbage: &mut Garbage,
    ) {
        for _ in 0..slices {
            if !self.wants_step() {
                return;
            }
            let Some(snap) = self.snapshot.as_mut() else {
                return;
            };
            let done = snap.step(ks, self.budget, &mut self.out, garbage);
            let peak = snap.peak_extra_bytes;
            let extra = self.extra_bytes(ks);
            if let Some(snap) = self.snapshot.as_mut() {
                snap.peak_extra_bytes = peak.max(extra);
            }
            if self.out.len() >= APPEND_CHUNK_BYTES || done {
                self.flush_out(server);
            }
            if done {
                self.begin_sync(server);
                return;
            }
        }
    }

    fn flush_out(&mut self, server: &mut Server) {
        if self.out.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.out);
        let len = bytes.len();
        self.inflight_bytes += len;
        self.bytes_written += len as u64;
        let op = DiskOp::Append {
            path: self.temp_path.clone(),
            bytes,
        };
        self.issue(server, OpKind::Append(len), op);
    }

    fn begin_sync(&mut self, server: &mut Server) {
        self.stage = Stage::Syncing;
        let fsync = DiskOp::Fsync {
            path: self.temp_path.clone(),
        };
        if server.mutants.is(Mutant::RenameBeforeFsync) {
            // Planted: the rename goes out before the data is durable, so a crash
            // can leave a renamed file whose bytes never reached the disk.
            let rename = DiskOp::Rename {
                from: self.temp_path.clone(),
                to: self.final_path.clone(),
            };
            self.issue(server, OpKind::Rename, rename);
            self.issue(server, OpKind::Fsync, fsync);
            self.stage = Stage::Renaming;
            return;
        }
        self.issue(server, OpKind::Fsync, fsync);
    }

    /// Whether `io` is one of this save's operations.
    pub fn claims(&self, io: IoId) -> bool {
        self.inflight.contains_key(&io)
    }

    /// The answer to one of this save's operations.
    pub fn on_disk(
        &mut self,
        io: IoId,
        result: &DiskResult,
        ks: &mut Keyspace,
        server: &mut Server,
        garbage: &mut Garbage,
    ) {
        let Some(kind) = self.inflight.remove(&io) else {
            return;
        };
        if let OpKind::Append(len) = kind {
            self.inflight_bytes = self.inflight_bytes.saturating_sub(len);
        }
        match result {
            DiskResult::Failed(e) => {
                if matches!(kind, OpKind::Remove | OpKind::Close) || self.failed {
                    return;
                }
                let why = error_text(*e);
                let line = match kind {
                    OpKind::Open => format!(
                        "Failed opening the temp RDB file {} (in server root dir {}) for saving: {why}",
                        self.temp_path,
                        String::from_utf8_lossy(&server.config.settings().dir)
                    ),
                    OpKind::Rename => format!(
                        "Error moving temp DB file {} on the final destination {} (in server root dir {}): {why}",
                        self.temp_path,
                        self.final_path,
                        String::from_utf8_lossy(&server.config.settings().dir)
                    ),
                    OpKind::DirFsync => format!("Failed to fsync directory while saving DB: {why}"),
                    _ => format!("Write error saving DB on disk({}): {why}", self.temp_path),
                };
                self.fail(line, kind != OpKind::DirFsync, ks, server, garbage);
            }
            DiskResult::Done { .. } => {
                if self.failed {
                    return;
                }
                match kind {
                    OpKind::Fsync if self.stage == Stage::Syncing => {
                        self.stage = Stage::Renaming;
                        // The driver's descriptor is closed before the rename, as
                        // Redis's fclose: one left open would keep serving a later
                        // read of `dbfilename` after the file was replaced or deleted
                        // behind keel's back (DEBUG RELOAD NOSAVE).
                        let close = DiskOp::Close {
                            path: self.temp_path.clone(),
                        };
                        self.issue(server, OpKind::Close, close);
                        let op = DiskOp::Rename {
                            from: self.temp_path.clone(),
                            to: self.final_path.clone(),
                        };
                        self.issue(server, OpKind::Rename, op);
                    }
                    // Under the planted rename-first order both must finish.
                    OpKind::Fsync | OpKind::Rename
                        if self.stage == Stage::Renaming
                            && !self
                                .inflight
                                .values()
                                .any(|k| matches!(k, OpKind::Fsync | OpKind::Rename)) =>
                    {
                        self.stage = Stage::SyncingDir;
                        let op = DiskOp::Fsync { path: ".".into() };
                        self.issue(server, OpKind::DirFsync, op);
                    }
                    OpKind::DirFsync => {
                        self.outcome = Some(SaveOutcome::Saved);
                    }
                    _ => {}
                }
            }
        }
    }

    fn fail(
        &mut self,
        line: String,
        remove_temp: bool,
        ks: &mut Keyspace,
        server: &mut Server,
        garbage: &mut Garbage,
    ) {
        self.failed = true;
        if let Some(snap) = self.snapshot.take() {
            snap.abort(ks, garbage);
        }
        self.out = Vec::new();
        if remove_temp {
            let op = DiskOp::Remove {
                path: self.temp_path.clone(),
            };
            self.issue(server, OpKind::Remove, op);
        }
        server.log(LogLevel::Warning, line.clone());
        self.outcome = Some(SaveOutcome::Failed(line));
    }

    /// Ends the save at once (SHUTDOWN NOSAVE killing a BGSAVE, FLUSHALL's abort):
    /// the walk stops, the temp file goes.
    pub fn kill(&mut self, ks: &mut Keyspace, server: &mut Server, garbage: &mut Garbage) {
        if self.failed || self.outcome.is_some() {
            return;
        }
        self.fail("Background saving killed".into(), true, ks, server, garbage);
        self.outcome = None;
    }

    /// How the save ended, once it has.
    pub fn take_outcome(&mut self) -> Option<SaveOutcome> {
        self.outcome.take()
    }

    /// True once nothing of this save is in flight any more (it can be dropped).
    pub fn idle(&self) -> bool {
        self.inflight.is_empty()
    }
}
