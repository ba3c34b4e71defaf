//! The AOF's wiring into the node: booting it (read the manifest, load the files as a
//! fake client, create the first files), feeding it the propagation stream after
//! every step, holding replies under `appendfsync always` until the fsync that covers
//! them, routing its disk completions, and rewrites (BGREWRITEAOF, auto rewrite,
//! CONFIG SET appendonly yes). The machines themselves are in `persist::aof`.

use crate::client::Client;
use crate::commands;
use crate::config::AppendFsync;
use crate::io::{DiskError, DiskOp, DiskResult, Effect, IoId, LogLevel, Now};
use crate::keyspace::HashSeeds;
use crate::persist::aof::loader::{LoadFailure, LoadStep, Loader};
use crate::persist::aof::manifest::{Manifest, MANIFEST_MAX_BYTES};
use crate::persist::aof::rewrite::{self, Rewrite};
use crate::persist::aof::writer::{AofWriter, WriteEvent};
use crate::persist::aof::{AofIo, Chain, ChainEnd, Phase, Step};
use crate::persist::load::RdbApplier;
use crate::persist::rdb::{LoadLimits, RdbItem};
use crate::persist::snapshot::{AccessMeta, SliceBudget, Snapshot};

use super::Node;

use crate::client::AOF_LOADER_CONN as LOAD_CLIENT_CONN;

/// A rewrite's base goes to the disk in appends of about this much.
const REWRITE_CHUNK_BYTES: usize = 1 << 20;

/// Bounded slices of the rewrite's walk per node step.
const WALK_SLICES_PER_STEP: usize = 4;

/// Redis's `AOF_REWRITE_LIMITE_THRESHOLD`: after this many consecutive failed
/// rewrites, automatic ones back off.
const REWRITE_LIMIT_THRESHOLD: u64 = 3;
/// Redis's `AOF_REWRITE_LIMITE_MAX_MINUTES`: the back-off doubles up to this.
const REWRITE_LIMIT_MAX_MINUTES: u64 = 60;

impl Node {
    fn aof_dir(&self) -> String {
        String::from_utf8_lossy(&self.server.config.settings().appenddirname).into_owned()
    }

    fn aof_prefix(&self) -> String {
        String::from_utf8_lossy(&self.server.config.settings().appendfilename).into_owned()
    }

    fn aof_issue(&mut self, what: AofIo, op: DiskOp) {
        let io = self.server.draw_io_id();
        // The writer's appends and fsyncs, and a rewrite's renames (not the rewrite's
        // own writes, which Redis's child does unmonitored, nor the boot's first base,
        // which Redis renames unmonitored too).
        let rewrite_rename = matches!(op, DiskOp::Rename { .. }) && self.aof.rewrite.is_some();
        if matches!(what, AofIo::Write(_)) || rewrite_rename {
            self.aof_time_op(io, &op);
        }
        self.aof.pending.insert(io, what);
        self.server.effects.push_back(Effect::Disk { io, op });
    }

    /// Tells the latency monitor which events this operation's duration counts as
    /// (`aof-write`, `aof-fsync-always`, `aof-rename`; `observe::latency::aof_op_events`).
    fn aof_time_op(&mut self, io: IoId, op: &DiskOp) {
        let threshold_ms = self.server.hot.latency_monitor_threshold_ms;
        if threshold_ms == 0 {
            return;
        }
        let writer = self.aof.writer.as_ref();
        let fsync_always = writer.is_some_and(|w| w.policy == AppendFsync::Always);
        let fsync_in_flight = writer.is_some_and(|w| w.fsync_in_flight());
        let save_running = self.server.persist.bgsave_in_progress || self.aof.rewrite.is_some();
        let events =
            crate::observe::latency::aof_op_events(op, fsync_always, fsync_in_flight, save_running);
        self.server.observe.time_disk(io, events, threshold_ms);
    }

    /// Starts the AOF at boot when `appendonly yes`: reads the manifest; clients wait
    /// until it is loaded and open.
    pub fn aof_boot(&mut self, now: Now) {
        self.aof.booted = true;
        if !self.server.config.settings().appendonly || self.aof.phase != Phase::Off {
            return;
        }
        self.aof.phase = Phase::Booting;
        self.aof.load_started_ms = now.mono_ms;
        // Clients get -LOADING until the AOF is loaded and open.
        self.server.persist.loading = true;
        self.server.persist.loading_started_wall_secs = now.wall_ms / 1000;
        let path = format!("{}/{}.manifest", self.aof_dir(), self.aof_prefix());
        self.aof_issue(
            AofIo::ManifestRead,
            DiskOp::Read {
                path,
                offset: 0,
                len: MANIFEST_MAX_BYTES as u64 + 1,
            },
        );
    }

    fn aof_fatal(&mut self, lines: Vec<String>) {
        for line in lines {
            self.server.log(LogLevel::Warning, line);
        }
        self.aof.phase = Phase::Fatal;
        self.server.persist.loading = false;
        // Never acknowledged: the replies waiting for the fsync die with the process.
        self.aof.held.clear();
        self.aof.chain = None;
        self.server.shutting_down = true;
        self.server
            .effects
            .push_back(Effect::Shutdown { exit_code: 1 });
    }

    /// Claims an AOF disk completion; false when the id is not the AOF's.
    pub(super) fn aof_on_disk(&mut self, io: IoId, result: DiskResult) -> bool {
        let Some(what) = self.aof.pending.remove(&io) else {
            return false;
        };
        if self.aof.phase == Phase::Fatal {
            return true;
        }
        let now = self.last_now;
        match what {
            AofIo::Write(tag) => {
                let outcome = match &result {
                    DiskResult::Done { .. } => Ok(()),
                    DiskResult::Failed(e) => Err(*e),
                };
                let Some(writer) = self.aof.writer.as_mut() else {
                    return true;
                };
                match writer.complete(tag, outcome, now.mono_ms) {
                    WriteEvent::Nothing | WriteEvent::Synced => {}
                    WriteEvent::Fatal(line) => self.aof_fatal(vec![line]),
                    WriteEvent::WriteFailed(line) => self.server.log(LogLevel::Warning, line),
                    WriteEvent::Recovered => self.server.log(
                        LogLevel::Warning,
                        "AOF write error looks solved, Redis can write again.".to_string(),
                    ),
                }
            }
            AofIo::ManifestRead => self.aof_manifest_read(now, result),
            AofIo::OffManifestRead => self.aof_off_manifest_read(now, result),
            AofIo::LegacyProbe { in_dir } => self.aof_legacy_probed(now, in_dir, result),
            AofIo::LoadRead => self.aof_load_read(now, result),
            AofIo::Chain => self.aof_chain_step_done(now, result),
            AofIo::Ignore => {}
        }
        true
    }

    fn aof_manifest_read(&mut self, now: Now, result: DiskResult) {
        let name = format!("{}.manifest", self.aof_prefix());
        let manifest = match result {
            DiskResult::Failed(DiskError::NotFound) => {
                self.server.log(
                    LogLevel::Notice,
                    format!("The AOF manifest file {name} doesn't exist"),
                );
                Manifest::default()
            }
            DiskResult::Failed(e) => {
                return self.aof_fatal(vec![format!(
                    "Fatal error: can't open the AOF manifest file {name} for reading: {}",
                    crate::persist::aof::writer::strerror(e)
                )])
            }
            DiskResult::Done { read } => match Manifest::parse(&read) {
                Ok(m) => m,
                Err(e) => return self.aof_fatal(e.log_lines()),
            },
        };
        self.aof.manifest = manifest;
        if self.aof_legacy_candidate() {
            // Redis 7.0's loadAppendOnlyFiles: an `appendonly.aof` in `dir` may be a
            // Redis 6 AOF to migrate.
            let path = self.aof_prefix();
            return self.aof_issue(
                AofIo::LegacyProbe { in_dir: false },
                DiskOp::Read {
                    path,
                    offset: 0,
                    len: 1,
                },
            );
        }
        self.aof_start_loading(now);
    }

    /// Redis 7.0's upgrade conditions, but for the old file's existence (probed
    /// next): no manifest (or one naming nothing), or one naming only a base called
    /// `appendfilename` (a migration cut between the manifest and the rename).
    fn aof_legacy_candidate(&self) -> bool {
        let m = &self.aof.manifest;
        let prefix = self.aof_prefix();
        m.is_empty() || (m.incrs.is_empty() && m.base.as_ref().is_some_and(|b| b.name == prefix))
    }

    /// A probe for the old single-file AOF came back.
    fn aof_legacy_probed(&mut self, now: Now, in_dir: bool, result: DiskResult) {
        let exists = match result {
            DiskResult::Done { .. } => true,
            DiskResult::Failed(DiskError::NotFound) => false,
            DiskResult::Failed(e) => {
                return self.aof_fatal(vec![format!(
                    "Fatal error: can't read the append only file {}: {}",
                    self.aof_prefix(),
                    crate::persist::aof::writer::strerror(e)
                )])
            }
        };
        let prefix = self.aof_prefix();
        match (in_dir, exists) {
            (false, true) if self.aof.manifest.is_empty() => self.aof_migrate_legacy(),
            (false, true) => {
                // The manifest names it already: is it in the directory yet?
                let path = format!("{}/{prefix}", self.aof_dir());
                self.aof_issue(
                    AofIo::LegacyProbe { in_dir: true },
                    DiskOp::Read {
                        path,
                        offset: 0,
                        len: 1,
                    },
                );
            }
            (true, false) => self.aof_migrate_legacy(),
            (false, false) | (true, true) => self.aof_start_loading(now),
        }
    }

    /// Redis 7.0's `aofUpgradePrepare`: the manifest naming `appendonly.aof` as the
    /// base (seq 1) is made durable in the (created) AOF directory, then the file is
    /// moved there; loading goes on as usual, and the first incr file follows it.
    fn aof_migrate_legacy(&mut self) {
        let dir = self.aof_dir();
        let prefix = self.aof_prefix();
        let mut manifest = Manifest::default();
        manifest.base = Some(crate::persist::aof::manifest::AofFile {
            name: prefix.clone(),
            seq: 1,
            kind: crate::persist::aof::manifest::FileType::Base,
        });
        manifest.curr_base_seq = 1;
        self.aof.manifest = manifest.clone();
        let mut steps = manifest_steps(&dir, &prefix, &manifest);
        steps.push(Step::Disk(DiskOp::Rename {
            from: prefix.clone(),
            to: format!("{dir}/{prefix}"),
        }));
        // Both directories changed: the file left one and arrived in the other.
        steps.push(Step::Disk(DiskOp::Fsync { path: dir }));
        steps.push(Step::Disk(DiskOp::Fsync { path: ".".into() }));
        self.aof_start_chain(steps, ChainEnd::Migrated, true);
    }

    /// Loads the files the manifest names (or creates the first ones when it names
    /// none).
    fn aof_start_loading(&mut self, now: Now) {
        if self.aof.manifest.is_empty() {
            self.aof_create_first_files(now);
        } else {
            let load_truncated = self.server.config.settings().aof_load_truncated;
            let files = self.aof.manifest.load_order();
            let limits = LoadLimits::from_settings(
                self.server.config.settings(),
                HashSeeds(self.aof.hash_seeds),
            );
            self.aof.loader = Some(Loader::new(
                self.aof_dir(),
                files,
                load_truncated,
                Some(limits),
            ));
            let mut client = Client::new(
                0,
                LOAD_CLIENT_CONN,
                String::new(),
                String::new(),
                now.mono_ms,
                true,
            );
            client.deny_blocking = true;
            self.aof.load_client = Some(client);
            self.aof_next_load_read();
        }
    }

    fn aof_next_load_read(&mut self) {
        let op = self.aof.loader.as_mut().and_then(|l| l.next_op());
        if let Some(op) = op {
            self.aof_issue(AofIo::LoadRead, op);
        }
    }

    fn aof_load_read(&mut self, now: Now, result: DiskResult) {
        let Some(loader) = self.aof.loader.as_mut() else {
            return;
        };
        let file_name = loader.current().map(|f| f.name.clone()).unwrap_or_default();
        match loader.on_read(result) {
            LoadStep::Failed(LoadFailure::Fatal(lines)) => return self.aof_fatal(lines),
            LoadStep::Run {
                items,
                commands,
                log,
            } => {
                for line in log {
                    self.server.log(LogLevel::Notice, line);
                }
                let mut applier = std::mem::take(&mut loader.applier);
                let applied = items
                    .into_iter()
                    .try_for_each(|item| self.aof_apply_rdb_item(&mut applier, item));
                if let Some(l) = self.aof.loader.as_mut() {
                    l.applier = applier;
                }
                if let Err(e) = applied {
                    return self.aof_fatal(vec![
                        format!("Error reading the RDB preamble of the AOF file {file_name}, AOF loading aborted"),
                        e,
                    ]);
                }
                for (argv, end_offset) in commands {
                    let is_multi = argv
                        .first()
                        .is_some_and(|n| n.eq_ignore_ascii_case(b"multi"));
                    if let Err(lines) = self.aof_run_loaded(now, &argv, &file_name) {
                        return self.aof_fatal(lines);
                    }
                    if let Some(l) = self.aof.loader.as_mut() {
                        l.ran(end_offset, is_multi);
                    }
                }
            }
        }
        let Some(loader) = self.aof.loader.as_mut() else {
            return;
        };
        if loader.at_eof {
            let in_multi = self
                .aof
                .load_client
                .as_ref()
                .is_some_and(|c| c.multi.is_some());
            match loader.finish_file(in_multi) {
                Err(LoadFailure::Fatal(lines)) => return self.aof_fatal(lines),
                Ok(end) => {
                    let done = loader.done;
                    for line in end.log {
                        let level = if line.starts_with("DB loaded") {
                            LogLevel::Notice
                        } else {
                            LogLevel::Warning
                        };
                        self.server.log(level, line);
                    }
                    if let Some(c) = self.aof.load_client.as_mut() {
                        c.multi = None;
                    }
                    if let Some(op) = end.truncate {
                        self.aof.boot_truncates.push(op);
                    }
                    if done {
                        return self.aof_loaded(now, end.file_bytes);
                    }
                }
            }
        }
        self.aof_next_load_read();
    }

    /// One item of a base's RDB preamble into the keyspace. Keys already expired
    /// are kept, as Redis does for an AOF preamble (RDBFLAGS_AOF_PREAMBLE): the
    /// commands after it assume the exact keyspace it was written from.
    fn aof_apply_rdb_item(
        &mut self,
        applier: &mut RdbApplier,
        item: RdbItem,
    ) -> Result<(), String> {
        match item {
            RdbItem::SelectDb(db) => applier.select(&self.keyspace, db),
            RdbItem::ResizeDb { keys, expires } => {
                applier.resize(&mut self.keyspace, keys, expires);
                Ok(())
            }
            RdbItem::Key {
                db,
                key,
                value,
                expire_ms,
                ..
            } => applier.insert(&mut self.keyspace, db, &key, value, expire_ms),
            RdbItem::Aux { .. } | RdbItem::End => Ok(()),
        }
    }

    /// Runs one loaded command as the fake client; its reply is dropped and it
    /// propagates nothing.
    fn aof_run_loaded(
        &mut self,
        now: Now,
        argv: &[Vec<u8>],
        file: &str,
    ) -> Result<(), Vec<String>> {
        let name = argv.first().map(|n| n.as_slice()).unwrap_or_default();
        if self.commands.lookup(name).is_none() {
            return Err(vec![format!(
                "Unknown command '{}' reading the append only file {file}",
                String::from_utf8_lossy(name)
            )]);
        }
        let mut buf = Vec::new();
        let mut ranges = Vec::with_capacity(argv.len());
        for arg in argv {
            let start = buf.len();
            buf.extend_from_slice(arg);
            ranges.push((start, buf.len()));
        }
        let Some(mut client) = self.aof.load_client.take() else {
            return Ok(());
        };
        // Redis runs loaded commands outside call(): they are not counted.
        let processed = self.server.stats.total_commands_processed;
        let errors = self.server.stats.total_error_replies;
        // Nothing propagates while loading (the commands are in the files already),
        // and nothing expires: a key past its TTL is still there for the commands
        // that follow, as it was when they ran.
        self.server.propagation.set_muted(true);
        self.keyspace.loading = true;
        commands::execute(
            &mut self.ctx(&mut client, now),
            &commands::Argv::new(&buf, &ranges),
        );
        self.keyspace.loading = false;
        self.server.propagation.set_muted(false);
        self.server.stats.total_commands_processed = processed;
        self.server.stats.total_error_replies = errors;
        client.out.discard();
        self.aof.load_client = Some(client);
        Ok(())
    }

    fn aof_loaded(&mut self, now: Now, last_file_bytes: u64) {
        let Some(loader) = self.aof.loader.take() else {
            return;
        };
        if let Some(mut client) = self.aof.load_client.take() {
            self.clients.forget(&mut client);
        }
        let ms = now.mono_ms.saturating_sub(self.aof.load_started_ms);
        self.server.log(
            LogLevel::Notice,
            format!(
                "DB loaded from append only file: {}.{:03} seconds",
                ms / 1000,
                ms % 1000
            ),
        );
        let dir = self.aof_dir();
        let prefix = self.aof_prefix();
        let aof = &mut self.aof;
        aof.stats.base_bytes = loader.base_bytes;
        let mut steps: Vec<Step> = aof.boot_truncates.drain(..).map(Step::Disk).collect();
        // What was loaded may be written but never synced (a process that died after
        // a failed fsync, whose page cache survived): serving it, then losing it to a
        // power cut, would take back state clients saw. Every loaded file, the
        // manifest and the directories that name them are made durable before the
        // first reply (Redis 7.0 does not: keel is safer here).
        for file in aof.manifest.load_order() {
            steps.push(Step::Disk(DiskOp::Fsync {
                path: format!("{dir}/{}", file.name),
            }));
        }
        steps.push(Step::Disk(DiskOp::Fsync {
            path: format!("{dir}/{prefix}.manifest"),
        }));
        steps.push(Step::Disk(DiskOp::Fsync { path: dir.clone() }));
        steps.push(Step::Disk(DiskOp::Fsync { path: ".".into() }));
        let (incr, incr_bytes) = match aof.manifest.incrs.last() {
            Some(last) => {
                aof.stats.incr_bytes_before_current = loader
                    .total_bytes
                    .saturating_sub(loader.base_bytes)
                    .saturating_sub(last_file_bytes);
                (last.name.clone(), last_file_bytes)
            }
            None => {
                // Only a base: a first incr file, named by a new manifest.
                let name = aof.manifest.new_incr(&prefix);
                steps.push(Step::Disk(DiskOp::Open {
                    path: format!("{dir}/{name}"),
                    create: true,
                    truncate: true,
                }));
                steps.extend(manifest_steps(&dir, &prefix, &aof.manifest.clone()));
                (name, 0)
            }
        };
        steps.push(Step::Disk(DiskOp::Open {
            path: format!("{dir}/{incr}"),
            create: true,
            truncate: false,
        }));
        self.aof_start_chain(steps, ChainEnd::StartWriting { incr, incr_bytes }, true);
    }

    /// No manifest (or an empty one): Redis 7.0 creates the base and the first incr
    /// file on start.
    fn aof_create_first_files(&mut self, now: Now) {
        let dir = self.aof_dir();
        let prefix = self.aof_prefix();
        let preamble = self.server.config.settings().aof_use_rdb_preamble;
        let base = self.aof.manifest.new_base(&prefix, preamble);
        self.server.log(
            LogLevel::Notice,
            format!("Creating AOF base file {base} on server start"),
        );
        // The dataset is empty at boot: the sink's header and footer are the base.
        let mut sink = self.aof_base_sink(now, preamble);
        let mut bytes = Vec::new();
        sink.begin(&mut bytes);
        sink.finish(&mut bytes);
        self.aof.stats.base_bytes = bytes.len() as u64;
        let incr = self.aof.manifest.new_incr(&prefix);
        self.server.log(
            LogLevel::Notice,
            format!("Creating AOF incr file {incr} on server start"),
        );
        // Opening the incr file first makes the directory (Redis's dirCreateIfMissing).
        let mut steps = vec![Step::Disk(DiskOp::Open {
            path: format!("{dir}/{incr}"),
            create: true,
            truncate: true,
        })];
        let temp = format!("temp-rewriteaof-{}.aof", self.server.run_id);
        steps.extend(base_steps(&dir, &temp, &base, bytes, false));
        steps.extend(manifest_steps(&dir, &prefix, &self.aof.manifest.clone()));
        self.aof_start_chain(
            steps,
            ChainEnd::StartWriting {
                incr,
                incr_bytes: 0,
            },
            true,
        );
    }

    fn aof_start_chain(&mut self, steps: Vec<Step>, end: ChainEnd, fatal_on_error: bool) {
        self.aof.chain = Some(Chain {
            steps: steps.into(),
            in_flight: false,
            last_op: None,
            end: Some(end),
            fatal_on_error,
        });
        self.aof_chain_advance();
    }

    /// Issues the chain's next disk operation (acting on markers on the way); at its
    /// end, does what it was for.
    fn aof_chain_advance(&mut self) {
        loop {
            let Some(chain) = self.aof.chain.as_mut() else {
                return;
            };
            if chain.in_flight {
                return;
            }
            match chain.steps.pop_front() {
                Some(Step::Disk(op)) => {
                    chain.in_flight = true;
                    chain.last_op = Some(op.clone());
                    self.aof_issue(AofIo::Chain, op);
                    return;
                }
                Some(Step::Unpause) => {
                    if let Some(w) = self.aof.writer.as_mut() {
                        w.resume();
                    }
                }
                Some(Step::Adopt(manifest)) => self.aof.manifest = *manifest,
                Some(Step::Walk(temp)) => {
                    let Some(walk) = self.aof.walk.as_mut() else {
                        continue;
                    };
                    let finished = walk.snapshot.is_finished();
                    if walk.out.len() >= REWRITE_CHUNK_BYTES || (finished && !walk.out.is_empty()) {
                        let bytes = std::mem::take(&mut walk.out);
                        if let Some(rw) = self.aof.rewrite.as_mut() {
                            rw.base_bytes += bytes.len() as u64;
                        }
                        chain.steps.push_front(Step::Walk(temp.clone()));
                        chain.in_flight = true;
                        let op = DiskOp::Append { path: temp, bytes };
                        chain.last_op = Some(DiskOp::Close {
                            path: String::new(),
                        });
                        self.aof_issue(AofIo::Chain, op);
                        return;
                    }
                    if finished {
                        self.aof.walk = None;
                        continue;
                    }
                    // More to walk: `aof_step` steps it and comes back here.
                    chain.steps.push_front(Step::Walk(temp));
                    return;
                }
                None => {
                    let end = chain.end.take();
                    self.aof.chain = None;
                    if let Some(end) = end {
                        self.aof_chain_end(end);
                    }
                    return;
                }
            }
        }
    }

    fn aof_chain_step_done(&mut self, now: Now, result: DiskResult) {
        let Some(chain) = self.aof.chain.as_mut() else {
            return;
        };
        chain.in_flight = false;
        let op = chain.last_op.take();
        if let DiskResult::Failed(e) = result {
            let why = format!(
                "{} ({})",
                crate::persist::aof::writer::strerror(e),
                op.as_ref().map_or_else(String::new, describe)
            );
            if chain.fatal_on_error {
                return self.aof_fatal(vec![format!(
                    "Can't open or create the append-only files: {why}"
                )]);
            }
            // A failed rewrite: the old base and incrs stay named by the manifest;
            // the walk stops and its temp file goes.
            self.aof.chain = None;
            if let Some(walk) = self.aof.walk.take() {
                let mut garbage = crate::keyspace::Garbage::default();
                walk.snapshot.abort(&mut self.keyspace, &mut garbage);
                self.keyspace.garbage.append(garbage);
            }
            if let Some(rw) = self.aof.rewrite.as_ref() {
                let path = rw.temp.clone();
                self.aof_issue(AofIo::Ignore, DiskOp::Remove { path });
            }
            if let Some(rw) = self.aof.rewrite.take() {
                self.server.log(
                    LogLevel::Warning,
                    format!(
                        "Background AOF rewrite failed: {why} (temp file {})",
                        rw.temp
                    ),
                );
            }
            self.aof.stats.rewrites_consecutive_failures += 1;
            // The writer may have been paused waiting for the manifest naming its new
            // incr file: it goes back to the old one (Redis keeps appending to it).
            // A writer just created by CONFIG SET appendonly yes has no old file.
            if let Some(w) = self.aof.writer.as_mut() {
                if w.paused {
                    match w.switch_back() {
                        Some(old_bytes) => {
                            let before = &mut self.aof.stats.incr_bytes_before_current;
                            *before = before.saturating_sub(old_bytes);
                        }
                        None => return self.aof_enable_failed(),
                    }
                }
            }
            let _ = now;
            return;
        }
        self.aof_chain_advance();
    }

    fn aof_chain_end(&mut self, end: ChainEnd) {
        let now = self.last_now;
        match end {
            ChainEnd::StartWriting { incr, incr_bytes } => {
                let s = self.server.config.settings();
                let mut writer = AofWriter::new(
                    format!("{}/{incr}", self.aof_dir()),
                    s.appendfsync,
                    incr_bytes,
                    now.mono_ms,
                );
                writer.reply_before_fsync = self
                    .server
                    .mutants
                    .is(crate::mutants::Mutant::ReplyBeforeFsync);
                self.aof.writer = Some(writer);
                self.aof.encoder.reset();
                self.aof.phase = Phase::On;
                self.aof.stats.rewrite_base_bytes = self.aof.current_bytes();
                self.server.propagation.set_aof(true);
                self.persist.resume_waiting = true;
                if self.server.persist.loading {
                    self.loading_ended(crate::persist::load::LoadOutcome::Loaded);
                }
            }
            ChainEnd::RewriteDone { history } => {
                let dir = self.aof_dir();
                let prefix = self.aof_prefix();
                if let Some(rw) = self.aof.rewrite.take() {
                    let secs = now.mono_ms.saturating_sub(rw.started_ms) / 1000;
                    let stats = &mut self.aof.stats;
                    stats.rewrites += 1;
                    stats.rewrites_consecutive_failures = 0;
                    stats.last_rewrite_time_secs = Some(secs);
                    stats.base_bytes = rw.base_bytes;
                    stats.incr_bytes_before_current = 0;
                    self.aof.stats.rewrite_base_bytes = self.aof.current_bytes();
                    self.server.log(
                        LogLevel::Notice,
                        "Background AOF rewrite finished successfully".to_string(),
                    );
                }
                if history.is_empty() || self.server.config.settings().aof_disable_auto_gc {
                    return;
                }
                let mut steps = Vec::new();
                for name in &history {
                    self.server.log(
                        LogLevel::Notice,
                        format!("Removing the history file {name} in the background"),
                    );
                    steps.push(Step::Disk(DiskOp::Remove {
                        path: format!("{dir}/{name}"),
                    }));
                }
                let mut manifest = self.aof.manifest.clone();
                manifest.history.clear();
                steps.extend(manifest_steps(&dir, &prefix, &manifest));
                steps.push(Step::Adopt(Box::new(manifest)));
                self.aof.chain = Some(Chain {
                    steps: steps.into(),
                    in_flight: false,
                    last_op: None,
                    end: Some(ChainEnd::Nothing),
                    fatal_on_error: false,
                });
                self.aof_chain_advance();
            }
            ChainEnd::Migrated => {
                self.server.log(
                    LogLevel::Notice,
                    format!(
                        "Successfully migrated an old-style AOF file ({}) into the AOF directory ({}).",
                        self.aof_prefix(),
                        self.aof_dir()
                    ),
                );
                self.aof_start_loading(now);
            }
            ChainEnd::Nothing => {}
        }
    }

    /// Starts a rewrite (BGREWRITEAOF, auto rewrite, CONFIG SET appendonly yes): a new
    /// incr file named by a durable manifest first, the writer moving to it; then the
    /// base — the dataset as of now — to a temp file, fsynced, renamed; then the
    /// manifest naming it; then the history files go.
    fn aof_start_rewrite(&mut self, now: Now) {
        // One snapshot at a time: a replica's sync gives way (CONFIG SET appendonly
        // yes starts a rewrite without waiting).
        self.repl_yield_snapshot();
        let dir = self.aof_dir();
        let prefix = self.aof_prefix();
        self.aof.rewrite_requested = false;
        let starting = self.aof.phase == Phase::Off;
        // 1. The new incr file, named by a manifest (old base and incrs still in it).
        let mut manifest = self.aof.manifest.clone();
        let incr = manifest.new_incr(&prefix);
        let incr_path = format!("{dir}/{incr}");
        let mut steps = vec![Step::Disk(DiskOp::Open {
            path: incr_path.clone(),
            create: true,
            truncate: true,
        })];
        steps.extend(manifest_steps(&dir, &prefix, &manifest));
        steps.push(Step::Adopt(Box::new(manifest.clone())));
        steps.push(Step::Unpause);
        // 2. The base: the dataset as of now (the fork-less walk captures a key about
        //    to change before it reaches it), to a temp file, fsynced, renamed.
        let preamble = self.server.config.settings().aof_use_rdb_preamble;
        let base = manifest.new_base(&prefix, preamble);
        manifest.mark_rewritten_incrs_as_history();
        let temp = format!("temp-rewriteaof-bg-{}.aof", self.server.draw_io_id().0);
        let sink = self.aof_base_sink(now, preamble);
        let mut out = Vec::new();
        let snapshot = Snapshot::start(
            &mut self.keyspace,
            sink,
            now.wall_ms,
            AccessMeta::None,
            &mut out,
        );
        self.aof.walk = Some(rewrite::Walk { snapshot, out });
        let base_bytes = 0;
        let skip_fsync = self
            .server
            .mutants
            .is(crate::mutants::Mutant::ManifestBeforeBaseSynced);
        steps.push(Step::Disk(DiskOp::Open {
            path: temp.clone(),
            create: true,
            truncate: true,
        }));
        steps.push(Step::Walk(temp.clone()));
        steps.extend(finish_base_steps(&dir, &temp, &base, skip_fsync));
        // 3. The manifest naming the new base; then history goes.
        steps.extend(manifest_steps(&dir, &prefix, &manifest));
        let history: Vec<String> = manifest.history.iter().map(|f| f.name.clone()).collect();
        steps.push(Step::Adopt(Box::new(manifest)));
        // The writer moves to the new incr file now: what was produced before goes to
        // the old one (issued first), what comes next waits for the manifest.
        let policy = self.server.config.settings().appendfsync;
        if starting {
            let mut writer = AofWriter::new(incr_path, policy, 0, now.mono_ms);
            writer.paused = true;
            writer.reply_before_fsync = self
                .server
                .mutants
                .is(crate::mutants::Mutant::ReplyBeforeFsync);
            self.aof.writer = Some(writer);
            self.aof.phase = Phase::On;
            self.server.propagation.set_aof(true);
        } else if let Some(writer) = self.aof.writer.as_mut() {
            let (old_bytes, ops) = writer.switch_file(incr_path);
            self.aof.stats.incr_bytes_before_current = self
                .aof
                .stats
                .incr_bytes_before_current
                .saturating_add(old_bytes);
            for (tag, op) in ops {
                self.aof_issue(AofIo::Write(tag), op);
            }
        }
        self.aof.encoder.reset();
        self.server.log(
            LogLevel::Notice,
            "Background append only file rewriting started".to_string(),
        );
        self.aof.rewrite = Some(Rewrite {
            temp,
            base_name: base,
            base_bytes,
            started_ms: now.mono_ms,
        });
        self.aof.stats.rewrite_started_ms = Some(now.mono_ms);
        self.aof_start_chain(steps, ChainEnd::RewriteDone { history }, false);
    }

    /// After every input: config changes, the propagation stream into the writer,
    /// replies held under `always`, the writer's next operations, rewrites; then the
    /// status INFO and -MISCONF read (`Server::persist.aof`).
    /// `walk_turn`: a Tick or a disk answer, when a running rewrite walks a step (as
    /// a save does: never a slice in front of every client request).
    pub(super) fn aof_after_step(&mut self, now: Now, walk_turn: bool) {
        if std::mem::take(&mut self.server.persist.aof.rewrite_asked) {
            self.aof.rewrite_requested = true;
            // The command answered "scheduled" on these (commands/server.rs).
            self.aof.rewrite_was_scheduled = self.aof.chain.is_some()
                || self.server.persist.bgsave_in_progress
                || self.aof.phase == Phase::Booting;
        }
        self.aof_step(now, walk_turn);
        self.aof_sync_status();
    }

    fn aof_sync_status(&mut self) {
        let aof = &self.aof;
        let status = &mut self.server.persist.aof;
        status.enabled = aof.enabled();
        status.rewrite_in_progress = aof.rewrite.is_some() || aof.off_manifest_reading;
        status.rewrite_scheduled = aof.rewrite_requested && aof.rewrite.is_none();
        status.last_rewrite_time_secs = aof.stats.last_rewrite_time_secs;
        status.rewrite_started_mono_ms = aof.rewrite.as_ref().map(|r| r.started_ms);
        status.last_bgrewrite_ok = aof.stats.rewrites_consecutive_failures == 0;
        status.rewrites = aof.stats.rewrites;
        status.rewrites_consecutive_failures = aof.stats.rewrites_consecutive_failures;
        status.last_write_error = aof
            .writer
            .as_ref()
            .and_then(|w| w.misconf_reason())
            .map(|e| crate::persist::aof::writer::strerror(e).to_string());
        status.appending = aof.phase == Phase::On;
        status.chain_running = aof.chain.is_some();
        status.current_bytes = aof.current_bytes();
        status.base_bytes = aof.stats.base_bytes;
        let w = aof.writer.as_ref();
        status.buffer_bytes = w.map_or(0, |w| w.buffered_bytes() as u64);
        status.fsync_in_flight = w.is_some_and(|w| w.busy());
        status.delayed_fsyncs = w.map_or(0, |w| w.delayed_fsync);
    }

    fn aof_step(&mut self, now: Now, walk_turn: bool) {
        let settings = self.server.config.settings();
        let (appendonly, policy) = (settings.appendonly, settings.appendfsync);
        match self.aof.phase {
            Phase::On => {}
            Phase::Off if appendonly && self.aof.booted => {
                // Never a base walked from a half-loaded dataset (DEBUG RELOAD).
                if self.aof_off_rewrite_running() || self.is_loading() {
                    // CONFIG SET appendonly yes during a BGREWRITEAOF of `appendonly
                    // no`: it starts once that one is done.
                    return self.aof_off_step(walk_turn);
                }
                // CONFIG SET appendonly yes: Redis starts a rewrite.
                self.aof_start_rewrite(now);
            }
            Phase::Off if self.aof.booted => return self.aof_off_step(walk_turn),
            _ => return,
        }
        if !appendonly {
            return self.aof_stop(now);
        }
        self.aof_feed(now);
        let aof = &mut self.aof;
        let Some(writer) = aof.writer.as_mut() else {
            return;
        };
        writer.policy = policy;
        writer.reply_before_fsync = self
            .server
            .mutants
            .is(crate::mutants::Mutant::ReplyBeforeFsync);
        // Replies wait for the fsync of what was written before them (Redis writes
        // replies only after the loop iteration's fsync); a shutdown waits for the
        // last fsync whatever the policy.
        let unsynced = writer.produced() > writer.durable_offset();
        let hold_replies = policy == AppendFsync::Always && unsynced;
        let shutdown_now = unsynced
            && self
                .server
                .effects
                .iter()
                .any(|e| matches!(e, Effect::Shutdown { .. }));
        if hold_replies || shutdown_now || !self.aof.held.is_empty() {
            let tag = self.aof.writer.as_ref().map_or(0, |w| w.produced());
            let effects = std::mem::take(&mut self.server.effects);
            for effect in effects {
                match effect {
                    Effect::Send { .. }
                    | Effect::Close { .. }
                    | Effect::Abort { .. }
                    | Effect::Shutdown { .. } => {
                        if matches!(effect, Effect::Shutdown { .. }) {
                            self.aof.shutdown_held = true;
                        }
                        self.aof.held.push_back((tag, effect));
                    }
                    other => self.server.effects.push_back(other),
                }
            }
        }
        let force = self.aof.shutdown_held;
        while let Some((tag, op)) = self
            .aof
            .writer
            .as_mut()
            .and_then(|w| w.poll_op(now.mono_ms, force))
        {
            self.aof_issue(AofIo::Write(tag), op);
        }
        self.aof_release_held();
        if walk_turn {
            self.aof_walk_step();
        }
        self.aof_maybe_auto_rewrite(now);
        if self.aof.rewrite_requested
            && self.aof.rewrite.is_none()
            && self.aof.chain.is_none()
            && !self.server.persist.bgsave_in_progress
            && !self.is_loading()
            && !(self.aof.rewrite_was_scheduled && self.aof_rewrite_limited(now))
        {
            self.aof.rewrite_was_scheduled = false;
            self.aof_start_rewrite(now);
        }
    }

    fn aof_release_held(&mut self) {
        let durable = self
            .aof
            .writer
            .as_ref()
            .map_or(u64::MAX, |w| w.durable_offset());
        while self
            .aof
            .held
            .front()
            .is_some_and(|(tag, _)| *tag <= durable)
        {
            if let Some((_, effect)) = self.aof.held.pop_front() {
                if matches!(effect, Effect::Shutdown { .. }) {
                    self.aof.shutdown_held = false;
                }
                self.server.effects.push_back(effect);
            }
        }
    }

    /// The propagation stream since the last step, encoded into the writer.
    fn aof_feed(&mut self, now: Now) {
        let timestamps = self.server.config.settings().aof_timestamp_enabled;
        let relative_expiry = self
            .server
            .mutants
            .is(crate::mutants::Mutant::RelativeExpiryInAof);
        let aof = &mut self.aof;
        let Some(writer) = aof.writer.as_mut() else {
            return;
        };
        let encoder = &mut aof.encoder;
        let last_ts = &mut aof.last_timestamp_secs;
        let propagation = &mut self.server.propagation;
        // Encoded straight into the writer's buffer: no copy per step.
        writer.feed_with(|bytes| {
            // One step's records share one time: the annotation goes before the
            // first of them.
            let mut stamp = |bytes: &mut Vec<u8>| {
                if timestamps && now.wall_ms / 1000 > *last_ts {
                    *last_ts = now.wall_ms / 1000;
                    bytes.extend_from_slice(format!("#TS:{}\r\n", *last_ts).as_bytes());
                }
            };
            if relative_expiry {
                propagation.drain_for_aof(|record| {
                    stamp(bytes);
                    let mut planted = record.to_owned();
                    make_expiry_relative(&mut planted.argv, now.wall_ms);
                    encoder.encode(&planted, bytes);
                });
            } else {
                // Runs of one database are copied whole.
                propagation.drain_runs_for_aof(|run| {
                    stamp(bytes);
                    encoder.encode_record(run, bytes);
                });
            }
        });
    }

    /// Walks the rewrite's snapshot a few bounded slices (while its output waiting
    /// for the disk is small) and hands what it produced to the chain.
    fn aof_walk_step(&mut self) {
        let Some(walk) = self.aof.walk.as_mut() else {
            return;
        };
        let mut garbage = crate::keyspace::Garbage::default();
        for _ in 0..WALK_SLICES_PER_STEP {
            if walk.snapshot.is_finished() || walk.out.len() >= REWRITE_CHUNK_BYTES {
                break;
            }
            walk.snapshot.step(
                &mut self.keyspace,
                SliceBudget::BACKGROUND,
                &mut walk.out,
                &mut garbage,
            );
        }
        self.keyspace.garbage.append(garbage);
        self.aof_chain_advance();
    }

    /// The walk wants to run again at once (the node's next deadline is now).
    pub(crate) fn aof_wants_step(&self) -> bool {
        self.aof
            .walk
            .as_ref()
            .is_some_and(|w| !w.snapshot.is_finished() && w.out.len() < REWRITE_CHUNK_BYTES)
    }

    /// The base's snapshot sink: an RDB preamble or AOF commands.
    fn aof_base_sink(
        &self,
        now: Now,
        preamble: bool,
    ) -> Box<dyn crate::persist::snapshot::SnapshotSink> {
        let s = self.server.config.settings();
        if preamble {
            Box::new(rewrite::PreambleSink {
                writer: crate::persist::rdb::RdbWriter::new(crate::persist::rdb::RdbOptions {
                    compression: s.rdbcompression,
                    checksum: s.rdbchecksum,
                }),
                ctime_secs: (now.wall_ms / 1000) as i64,
                used_mem_bytes: self.used_memory_bytes() as i64,
                repl_id: self.server.repl_id().to_string(),
            })
        } else {
            Box::new(rewrite::CommandsSink {
                timestamp_secs: s.aof_timestamp_enabled.then_some(now.wall_ms / 1000),
            })
        }
    }

    /// Redis's auto rewrite: the AOF grew by `auto-aof-rewrite-percentage` since the
    /// last rewrite (or load) and is over `auto-aof-rewrite-min-size`.
    fn aof_maybe_auto_rewrite(&mut self, now: Now) {
        let s = self.server.config.settings();
        let (percentage, min_size) = (
            s.auto_aof_rewrite_percentage,
            s.auto_aof_rewrite_min_size_bytes,
        );
        let aof = &self.aof;
        if percentage == 0 || aof.rewrite.is_some() || aof.rewrite_requested || aof.chain.is_some()
        {
            return;
        }
        let current = aof.current_bytes();
        let base = aof.stats.rewrite_base_bytes.max(1);
        if current <= min_size {
            return;
        }
        let growth = current.saturating_sub(base).saturating_mul(100) / base;
        if growth >= percentage && !self.aof_rewrite_limited(now) {
            self.server.log(
                LogLevel::Notice,
                format!("Starting automatic rewriting of AOF on {growth}% growth"),
            );
            self.aof.rewrite_requested = true;
        }
    }

    /// CONFIG SET appendonly yes could not make its first files durable: the AOF
    /// stays off and `appendonly` goes back to `no`, with Redis's line (Redis fails
    /// the CONFIG SET itself; keel has answered it already).
    fn aof_enable_failed(&mut self) {
        self.aof.writer = None;
        self.aof.phase = Phase::Off;
        // Replies held for an fsync that will never come go now: with the AOF off
        // nothing waits for it.
        self.aof.shutdown_held = false;
        for (_, effect) in std::mem::take(&mut self.aof.held) {
            self.server.effects.push_back(effect);
        }
        self.server.propagation.set_aof(false);
        let pairs: [(&[u8], &[u8]); 1] = [(b"appendonly", b"no")];
        if self.server.config.set(&pairs).is_ok() {
            self.config_changed();
        }
        self.server.log(
            LogLevel::Warning,
            "Redis needs to enable the AOF but can't trigger a background AOF rewrite operation. Check the above logs for more info about the error.".into(),
        );
    }

    /// A BGREWRITEAOF of `appendonly no` is under way (manifest read, walk, chain).
    fn aof_off_rewrite_running(&self) -> bool {
        self.aof.off_manifest_reading || self.aof.rewrite.is_some() || self.aof.chain.is_some()
    }

    /// `appendonly no`: BGREWRITEAOF still writes a base and a manifest naming only
    /// it, as Redis 7.0 does (its incr files, if any, become history and go). Its
    /// first step reads the manifest on disk (Redis reads it at startup whatever
    /// `appendonly` says); `aof_off_manifest_read` goes on from there.
    fn aof_off_step(&mut self, walk_turn: bool) {
        if walk_turn {
            self.aof_walk_step();
        }
        if self.aof.rewrite_requested
            && !self.aof_off_rewrite_running()
            && !self.server.persist.bgsave_in_progress
            && !self.is_loading()
        {
            self.aof.rewrite_requested = false;
            self.aof.off_manifest_reading = true;
            let path = format!("{}/{}.manifest", self.aof_dir(), self.aof_prefix());
            self.aof_issue(
                AofIo::OffManifestRead,
                DiskOp::Read {
                    path,
                    offset: 0,
                    len: MANIFEST_MAX_BYTES as u64 + 1,
                },
            );
        }
    }

    /// The manifest a BGREWRITEAOF of `appendonly no` starts from is read: the base
    /// goes to a temp file, is fsynced and renamed into the AOF directory, then the
    /// manifest names it alone; the old files are history and are removed.
    fn aof_off_manifest_read(&mut self, now: Now, result: DiskResult) {
        self.aof.off_manifest_reading = false;
        let parsed = match result {
            DiskResult::Failed(DiskError::NotFound) => Ok(Manifest::default()),
            DiskResult::Failed(e) => Err(vec![format!(
                "Can't open the AOF manifest file for reading: {}",
                crate::persist::aof::writer::strerror(e)
            )]),
            DiskResult::Done { read } => Manifest::parse(&read).map_err(|e| e.log_lines()),
        };
        let mut manifest = match parsed {
            Ok(m) => m,
            Err(lines) => {
                for line in lines {
                    self.server.log(LogLevel::Warning, line);
                }
                self.server.log(
                    LogLevel::Warning,
                    "Background AOF rewrite failed: the AOF manifest could not be read".into(),
                );
                self.aof.stats.rewrites_consecutive_failures += 1;
                return;
            }
        };
        if self.server.config.settings().appendonly {
            // CONFIG SET appendonly yes came meanwhile: its own rewrite does it all.
            return;
        }
        let dir = self.aof_dir();
        let prefix = self.aof_prefix();
        self.aof.manifest = manifest.clone();
        let preamble = self.server.config.settings().aof_use_rdb_preamble;
        let base = manifest.new_base(&prefix, preamble);
        manifest.mark_all_incrs_as_history();
        let temp = format!("temp-rewriteaof-bg-{}.aof", self.server.draw_io_id().0);
        let sink = self.aof_base_sink(now, preamble);
        let mut out = Vec::new();
        let snapshot = Snapshot::start(
            &mut self.keyspace,
            sink,
            now.wall_ms,
            AccessMeta::None,
            &mut out,
        );
        self.aof.walk = Some(rewrite::Walk { snapshot, out });
        // The directory may not exist yet (Redis's dirCreateIfMissing): opening the
        // manifest's temp file makes it.
        let mut steps = vec![
            Step::Disk(DiskOp::Open {
                path: format!("{dir}/temp_{prefix}.manifest"),
                create: true,
                truncate: true,
            }),
            Step::Disk(DiskOp::Open {
                path: temp.clone(),
                create: true,
                truncate: true,
            }),
            Step::Walk(temp.clone()),
        ];
        steps.extend(finish_base_steps(&dir, &temp, &base, false));
        steps.extend(manifest_steps(&dir, &prefix, &manifest));
        let history: Vec<String> = manifest.history.iter().map(|f| f.name.clone()).collect();
        steps.push(Step::Adopt(Box::new(manifest)));
        self.server.log(
            LogLevel::Notice,
            "Background append only file rewriting started".to_string(),
        );
        self.aof.rewrite = Some(Rewrite {
            temp,
            base_name: base,
            base_bytes: 0,
            started_ms: now.mono_ms,
        });
        self.aof.stats.rewrite_started_ms = Some(now.mono_ms);
        self.aof_start_chain(steps, ChainEnd::RewriteDone { history }, false);
    }

    /// Redis 7.0's `aofRewriteLimited`: once rewrites failed
    /// `REWRITE_LIMIT_THRESHOLD` times in a row, an automatic one waits 1 minute, then
    /// 2, 4 ... up to an hour after each further failure (a failed rewrite leaves a new
    /// incr file behind: retrying at every cron would pile them up). BGREWRITEAOF is
    /// never limited. Timed on the monotonic clock (Redis: unix seconds).
    fn aof_rewrite_limited(&mut self, now: Now) -> bool {
        let aof = &mut self.aof;
        if aof.stats.rewrites_consecutive_failures < REWRITE_LIMIT_THRESHOLD {
            aof.limit_delay_minutes = 0;
            aof.limit_next_rewrite_ms = None;
            return false;
        }
        if let Some(next_ms) = aof.limit_next_rewrite_ms {
            if now.mono_ms < next_ms {
                return true;
            }
            aof.limit_next_rewrite_ms = None;
            return false;
        }
        aof.limit_delay_minutes = match aof.limit_delay_minutes {
            0 => 1,
            m => m.saturating_mul(2).min(REWRITE_LIMIT_MAX_MINUTES),
        };
        let minutes = aof.limit_delay_minutes;
        aof.limit_next_rewrite_ms = Some(now.mono_ms.saturating_add(minutes * 60 * 1000));
        self.server.log(
            LogLevel::Warning,
            format!("Background AOF rewrite has repeatedly failed and triggered the limit, will retry in {minutes} minutes"),
        );
        true
    }

    /// CONFIG SET appendonly no: what is buffered is written and fsynced, then the
    /// writer stops (replies held for it go once that fsync lands).
    fn aof_stop(&mut self, now: Now) {
        self.aof_feed(now);
        let Some(writer) = self.aof.writer.as_mut() else {
            self.aof.phase = Phase::Off;
            self.server.propagation.set_aof(false);
            return;
        };
        writer.paused = false;
        while let Some((tag, op)) = self
            .aof
            .writer
            .as_mut()
            .and_then(|w| w.poll_op(now.mono_ms, true))
        {
            self.aof_issue(AofIo::Write(tag), op);
        }
        self.aof_release_held();
        let idle = self.aof.writer.as_ref().is_some_and(|w| w.idle());
        if idle && self.aof.held.is_empty() && self.aof.chain.is_none() {
            self.aof.writer = None;
            self.aof.phase = Phase::Off;
            self.server.propagation.set_aof(false);
        }
    }
}

/// Writes `bytes` as the base `name`: temp file, fsync, rename into the AOF directory.
fn base_steps(dir: &str, temp: &str, name: &str, bytes: Vec<u8>, skip_fsync: bool) -> Vec<Step> {
    let mut steps = vec![Step::Disk(DiskOp::Open {
        path: temp.to_string(),
        create: true,
        truncate: true,
    })];
    for chunk in bytes.chunks(REWRITE_CHUNK_BYTES) {
        steps.push(Step::Disk(DiskOp::Append {
            path: temp.to_string(),
            bytes: chunk.to_vec(),
        }));
    }
    steps.extend(finish_base_steps(dir, temp, name, skip_fsync));
    steps
}

/// After the base's bytes: fsync the temp file, close it, rename it into place.
fn finish_base_steps(dir: &str, temp: &str, name: &str, skip_fsync: bool) -> Vec<Step> {
    let mut steps = Vec::new();
    if !skip_fsync {
        steps.push(Step::Disk(DiskOp::Fsync {
            path: temp.to_string(),
        }));
    }
    steps.push(Step::Disk(DiskOp::Close {
        path: temp.to_string(),
    }));
    steps.push(Step::Disk(DiskOp::Rename {
        from: temp.to_string(),
        to: format!("{dir}/{name}"),
    }));
    steps
}

/// Persists `manifest` as Redis does (temp_<name>, fsync, rename), then fsyncs the
/// directory so the rename itself survives a crash.
fn manifest_steps(dir: &str, prefix: &str, manifest: &Manifest) -> Vec<Step> {
    let temp = format!("{dir}/temp_{prefix}.manifest");
    vec![
        Step::Disk(DiskOp::Open {
            path: temp.clone(),
            create: true,
            truncate: true,
        }),
        Step::Disk(DiskOp::Append {
            path: temp.clone(),
            bytes: manifest.render(),
        }),
        Step::Disk(DiskOp::Fsync { path: temp.clone() }),
        Step::Disk(DiskOp::Close { path: temp.clone() }),
        Step::Disk(DiskOp::Rename {
            from: temp,
            to: format!("{dir}/{prefix}.manifest"),
        }),
        Step::Disk(DiskOp::Fsync {
            path: dir.to_string(),
        }),
    ]
}

/// An operation as a log line names it.
fn describe(op: &DiskOp) -> String {
    match op {
        DiskOp::Open { path, .. } => format!("opening {path}"),
        DiskOp::Append { path, .. } | DiskOp::WriteAt { path, .. } => format!("writing {path}"),
        DiskOp::Fsync { path } => format!("fsync of {path}"),
        DiskOp::Rename { from, to } => format!("renaming {from} to {to}"),
        DiskOp::Truncate { path, .. } => format!("truncating {path}"),
        DiskOp::Remove { path } => format!("removing {path}"),
        DiskOp::Read { path, .. } => format!("reading {path}"),
        DiskOp::Close { path } => format!("closing {path}"),
        DiskOp::ChangeDir { path } => format!("changing directory to {path}"),
    }
}

/// The planted bug: absolute expiries written back as relative ones.
fn make_expiry_relative(argv: &mut [Vec<u8>], now_ms: u64) {
    let relative = |at: &[u8]| -> Option<Vec<u8>> {
        let at: u64 = std::str::from_utf8(at).ok()?.parse().ok()?;
        Some(at.saturating_sub(now_ms).max(1).to_string().into_bytes())
    };
    let is_pexpireat = argv
        .first()
        .is_some_and(|n| n.eq_ignore_ascii_case(b"PEXPIREAT"));
    if is_pexpireat {
        if let Some(rel) = argv.get(2).and_then(|a| relative(a)) {
            if let Some(name) = argv.get_mut(0) {
                *name = b"PEXPIRE".to_vec();
            }
            if let Some(a) = argv.get_mut(2) {
                *a = rel;
            }
        }
        return;
    }
    let pxat = argv.iter().position(|a| a.eq_ignore_ascii_case(b"PXAT"));
    if let Some(i) = pxat {
        if let Some(rel) = argv.get(i + 1).and_then(|a| relative(a)) {
            if let Some(a) = argv.get_mut(i) {
                *a = b"PX".to_vec();
            }
            if let Some(a) = argv.get_mut(i + 1) {
                *a = rel;
            }
        }
    }
}
