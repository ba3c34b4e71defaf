//! The node's persistence glue: boot-time loading (`-LOADING` meanwhile), the running
//! save (BGSAVE, SAVE, a shutdown's save, save points), routing of their disk
//! completions, and the requests commands leave in `Server::persist`. The machines
//! themselves are `crate::persist::{load, save, snapshot}`.

use crate::config::{SHUTDOWN_FORCE, SHUTDOWN_NOSAVE, SHUTDOWN_NOW, SHUTDOWN_SAVE};
use crate::io::{ConnId, DiskResult, Effect, IoId, LogLevel, Now};
use crate::keyspace::{Garbage, HashSeeds};
use crate::persist::load::{LoadOutcome, LoadPlan, Loader, RdbLoad};
use crate::persist::save::{SaveJob, SaveOutcome};
use crate::persist::snapshot::SliceBudget;
use crate::server::PersistRequest;

use super::Node;

/// Redis's `CONFIG_BGSAVE_RETRY_DELAY`: after a failed BGSAVE, save points and a
/// scheduled BGSAVE wait this long before trying again.
const BGSAVE_RETRY_DELAY_SECS: u64 = 5;

/// Redis 7.0.15's reply to a DEBUG RELOAD whose load failed.
const RELOAD_ERROR: &str = "ERR Error trying to load the RDB dump";

/// Redis 7.0's reply to a SHUTDOWN whose save failed.
const SHUTDOWN_ERROR: &str = "ERR Errors trying to SHUTDOWN. Check logs.";

/// Slices a background save walks per node step (one slice is bounded by
/// `SliceBudget::BACKGROUND`).
const BACKGROUND_SLICES_PER_STEP: usize = 1;
/// A save a client waits for (SAVE, SHUTDOWN) walks more per step; other clients
/// are still served between steps.
const FOREGROUND_SLICES_PER_STEP: usize = 128;

/// The latency event of one step of a running save's walk (keel's own: Redis has
/// `fork` instead, the stall of starting its child).
pub(super) const SNAPSHOT_SLICE_EVENT: &str = "snapshot-slice";

/// Who waits for the running save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SaveKind {
    Background,
    /// SAVE from this client.
    Foreground(ConnId),
    /// SHUTDOWN (from a client, or a signal), with its flags.
    Shutdown {
        conn: Option<ConnId>,
        flags: u32,
    },
    /// DEBUG RELOAD's save, from this client.
    Reload(ConnId),
}

/// A DEBUG RELOAD: who waits, and its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ReloadRequest {
    conn: ConnId,
    save: bool,
    flush: bool,
    merge: bool,
}

/// The running DEBUG RELOAD: saving first (no loader yet), then loading.
pub(super) struct ReloadRun {
    request: ReloadRequest,
    loader: Option<Box<RdbLoad>>,
}

/// The node's persistence part.
#[derive(Default)]
pub(super) struct Persist {
    pub(super) loader: Option<Box<dyn Loader>>,
    pub(super) save: Option<(SaveJob, SaveKind)>,
    /// Saves that ended but still have operations in flight (a failed one's
    /// remove), kept to claim their completions.
    pub(super) draining: Vec<SaveJob>,
    /// `server.dirty` when the running save started.
    dirty_at_start: u64,
    /// The load ended: clients' held input runs at the start of the next step, so
    /// the step that ended it leaves exactly the loaded dataset (what a driver, or
    /// the simulator's durability checker, sees as recovered).
    pub(super) resume_waiting: bool,
    /// DEBUG RELOADs waiting for the running one, or for a snapshot to end.
    reload_queue: std::collections::VecDeque<ReloadRequest>,
    reload: Option<ReloadRun>,
    /// A SHUTDOWN waiting for lagging replicas (Redis 7.0's `shutdown-timeout`).
    pub(super) shutdown_wait: Option<ShutdownWait>,
    /// SHUTDOWNs sent while one was already under way (waiting for replicas or
    /// saving): as Redis's, they wait for its outcome whatever their flags, and
    /// share it (the connection closes at the exit, Redis's error if it is refused
    /// or aborted).
    shutdown_joined: Vec<ConnId>,
}

/// A SHUTDOWN waiting, writes held, until every replica has ACKed the master's
/// offset or its deadline passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ShutdownWait {
    conn: Option<ConnId>,
    flags: u32,
    deadline_mono_ms: u64,
}

impl Node {
    /// Starts loading the dataset from disk, as the config says (the RDB file at
    /// `dir/dbfilename`; with `appendonly yes`, the AOF loader once it plugs in
    /// through `boot_with`). A driver calls this once, after `Node::new` and before
    /// serving; a node nobody boots starts empty (the simulator's default). Returns
    /// true when a load started (the node logs "Ready to accept connections" when it
    /// ends).
    pub fn boot(&mut self, now: Now, seeds: HashSeeds) -> bool {
        if self.server.config.settings().appendonly {
            // Redis loads the AOF instead of the RDB file (`node/aof.rs`).
            self.aof_boot(now);
            return true;
        }
        self.aof.booted = true;
        let mut load = RdbLoad::for_config(&self.server, seeds);
        // A master makes its backlog before loading (Redis's loadDataFromDisk), so
        // the DELs of keys dropped as expired are in its stream.
        load.feed_repl = self.repl_backlog_before_load();
        self.boot_with(now, LoadPlan::Rdb(Box::new(load)))
    }

    /// `boot` with an explicit plan.
    pub fn boot_with(&mut self, now: Now, plan: LoadPlan) -> bool {
        let mut loader: Box<dyn Loader> = match plan {
            LoadPlan::Nothing => return false,
            LoadPlan::Rdb(l) => l,
            LoadPlan::Custom(l) => l,
        };
        // Loading starts once the loader finds something to load; until it knows,
        // clients wait (`boot_probe`).
        self.server.persist.boot_probe = true;
        self.server.persist.loading_started_wall_secs = now.wall_ms / 1000;
        self.server.persist.loading_loaded_bytes = 0;
        loader.start(&mut self.keyspace, &mut self.server, now);
        self.persist.loader = Some(loader);
        true
    }

    /// Whether the dataset is still loading, or the boot has not yet found out
    /// whether there is anything to load (clients wait meanwhile: the dataset is
    /// not the one the node will serve yet).
    pub fn is_loading(&self) -> bool {
        self.server.persist.loading || self.server.persist.boot_probe
    }

    /// Routes a disk completion to the part that issued it; gives it back when none did.
    pub(super) fn persist_disk(&mut self, io: IoId, result: DiskResult) -> Option<DiskResult> {
        let now = self.last_now;
        let reload_claims = self
            .persist
            .reload
            .as_ref()
            .and_then(|r| r.loader.as_ref())
            .is_some_and(|l| l.claims(io));
        if reload_claims {
            self.reload_read(now, io, result);
            return None;
        }
        if let Some(loader) = self.persist.loader.as_mut() {
            if loader.claims(io) {
                let outcome = loader.on_disk(io, result, &mut self.keyspace, &mut self.server, now);
                let ended = outcome.is_some();
                if let Some(outcome) = outcome {
                    self.persist.loader = None;
                    self.loading_ended(outcome);
                }
                if self.server.persist.boot_probe && (ended || self.server.persist.loading) {
                    self.server.persist.boot_probe = false;
                    self.persist.resume_waiting = true;
                }
                return None;
            }
        }
        if let Some((job, _)) = self.persist.save.as_mut() {
            if job.claims(io) {
                let mut garbage = Garbage::default();
                job.on_disk(
                    io,
                    &result,
                    &mut self.keyspace,
                    &mut self.server,
                    &mut garbage,
                );
                self.keyspace.garbage.append(garbage);
                self.check_save_outcome(now);
                return None;
            }
        }
        if let Some(pos) = self.persist.draining.iter().position(|j| j.claims(io)) {
            let mut garbage = Garbage::default();
            if let Some(job) = self.persist.draining.get_mut(pos) {
                job.on_disk(
                    io,
                    &result,
                    &mut self.keyspace,
                    &mut self.server,
                    &mut garbage,
                );
                if job.idle() {
                    self.persist.draining.swap_remove(pos);
                }
            }
            self.keyspace.garbage.append(garbage);
            return None;
        }
        Some(result)
    }

    /// Runs the input clients sent while the boot probe or the load held it.
    pub(super) fn resume_waiting_clients(&mut self, now: Now) {
        if !std::mem::take(&mut self.persist.resume_waiting) {
            return;
        }
        let waiting: Vec<ConnId> = self
            .clients
            .table
            .values()
            .filter(|c| !c.qbuf.is_empty() && !c.blocked)
            .map(|c| c.conn)
            .collect();
        for conn in waiting {
            self.on_data(now, conn, &[]);
        }
    }

    pub(super) fn loading_ended(&mut self, outcome: LoadOutcome) {
        self.server.persist.loading = false;
        match outcome {
            LoadOutcome::Loaded => {
                self.repl_after_load();
                self.server
                    .log(LogLevel::Notice, "Ready to accept connections".into());
            }
            LoadOutcome::Fatal(line) => {
                self.server.log(LogLevel::Warning, line);
                self.server.shutting_down = true;
                self.server
                    .effects
                    .push_back(Effect::Shutdown { exit_code: 1 });
            }
        }
    }

    /// Starts a save now (nothing else is running).
    fn start_save(&mut self, now: Now, kind: SaveKind) {
        // One snapshot at a time: a replica's sync gives way to a save.
        self.repl_yield_snapshot();
        let used = self.used_memory_bytes() as u64;
        let budget = SliceBudget::BACKGROUND;
        let job = SaveJob::start(
            &mut self.keyspace,
            &mut self.server,
            now.wall_ms,
            used,
            budget,
        );
        self.persist.dirty_at_start = self.server.dirty;
        let p = &mut self.server.persist;
        p.bgsave_in_progress = true;
        p.bgsave_started_mono_ms = Some(now.mono_ms);
        p.current_save_keys_total = job.keys_total;
        p.current_save_keys_processed = 0;
        p.current_extra_peak_bytes = 0;
        if kind == SaveKind::Background {
            p.last_bgsave_try_wall_secs = now.wall_ms / 1000;
            self.server.log(
                LogLevel::Notice,
                "Background saving started (fork-less snapshot)".into(),
            );
        }
        self.persist.save = Some((job, kind));
    }

    /// Walks the running save a little; called after every input.
    pub(super) fn step_save(&mut self, now: Now) {
        let Some((job, kind)) = self.persist.save.as_mut() else {
            return;
        };
        let slices = match kind {
            SaveKind::Background => BACKGROUND_SLICES_PER_STEP,
            _ => FOREGROUND_SLICES_PER_STEP,
        };
        let mut garbage = Garbage::default();
        // How long the walk held the loop: keel's counterpart of Redis's `fork` latency
        // event (the stall a BGSAVE puts in front of commands), timed by the command
        // clock.
        let started_us = self.server.observe.now_micros();
        job.step(&mut self.keyspace, &mut self.server, slices, &mut garbage);
        let elapsed_us = self.server.observe.now_micros().saturating_sub(started_us);
        let threshold_ms = self.server.hot.latency_monitor_threshold_ms;
        self.server.observe.latency_sample(
            SNAPSHOT_SLICE_EVENT,
            threshold_ms,
            now.wall_ms / 1000,
            elapsed_us,
        );
        let extra = job.extra_bytes(&self.keyspace) as u64;
        let p = &mut self.server.persist;
        p.current_save_keys_processed = job.keys_processed();
        p.current_extra_bytes = extra;
        p.current_extra_peak_bytes = p
            .current_extra_peak_bytes
            .max(extra)
            .max(job.peak_extra_bytes() as u64);
        self.keyspace.garbage.append(garbage);
        self.check_save_outcome(now);
    }

    /// Whether the save wants the node called again at once.
    pub(super) fn save_wants_step(&self) -> bool {
        self.persist
            .save
            .as_ref()
            .is_some_and(|(job, _)| job.wants_step())
    }

    fn check_save_outcome(&mut self, now: Now) {
        let Some((job, _)) = self.persist.save.as_mut() else {
            return;
        };
        let Some(outcome) = job.take_outcome() else {
            return;
        };
        let Some((job, kind)) = self.persist.save.take() else {
            return;
        };
        let peak = self
            .server
            .persist
            .current_extra_peak_bytes
            .max(job.peak_extra_bytes() as u64);
        if !job.idle() {
            self.persist.draining.push(job);
        }
        let p = &mut self.server.persist;
        p.bgsave_in_progress = false;
        let took_secs = p
            .bgsave_started_mono_ms
            .take()
            .map(|t| now.mono_ms.saturating_sub(t) / 1000);
        p.current_save_keys_processed = 0;
        p.current_save_keys_total = 0;
        p.current_extra_bytes = 0;
        let ok = outcome == SaveOutcome::Saved;
        if ok {
            p.last_save_wall_secs = now.wall_ms / 1000;
            p.rdb_saves += 1;
            self.server.dirty = self.server.dirty.wrapping_sub(self.persist.dirty_at_start);
            self.server.log(LogLevel::Notice, "DB saved on disk".into());
        }
        let p = &mut self.server.persist;
        match kind {
            SaveKind::Background => {
                p.last_bgsave_ok = ok;
                p.last_bgsave_time_secs = took_secs;
                p.last_cow_size_bytes = peak;
                let line = if ok {
                    "Background saving terminated with success"
                } else {
                    "Background saving error"
                };
                let level = if ok {
                    LogLevel::Notice
                } else {
                    LogLevel::Warning
                };
                self.server.log(level, line.into());
            }
            SaveKind::Foreground(conn) => {
                // A successful SAVE clears a failed BGSAVE's status (Redis's rdbSave);
                // a failed one leaves it.
                p.last_bgsave_ok |= ok;
                let reply = if ok { Ok(()) } else { Err("ERR") };
                self.reply_to_waiter(now, conn, reply);
            }
            SaveKind::Reload(conn) => {
                p.last_bgsave_ok |= ok;
                if ok {
                    self.reload_load(now);
                } else {
                    // Redis answers a failed rdbSave with the bare `-ERR`.
                    self.reload_end();
                    self.reply_to_waiter(now, conn, Err("ERR"));
                }
            }
            SaveKind::Shutdown { conn, flags } => {
                p.last_bgsave_ok |= ok;
                if ok || flags & SHUTDOWN_FORCE != 0 {
                    self.finish_shutdown(conn);
                } else {
                    self.refuse_shutdown(now, conn);
                }
            }
        }
    }

    /// Answers a client blocked on a save and runs its pipelined input.
    fn reply_to_waiter(&mut self, now: Now, conn: ConnId, reply: Result<(), &str>) {
        let Some(mut client) = self.clients.table.remove(&conn) else {
            return;
        };
        client.blocked = false;
        match reply {
            Ok(()) => client.out.ok(),
            Err(text) => {
                client.out.error(text);
                self.server.stats.total_error_replies += 1;
                self.server.observe.count_error(text.as_bytes());
            }
        }
        self.put_back(now, client);
        self.on_data(now, conn, &[]);
    }

    /// Runs what commands asked of persistence (after each command batch).
    pub(super) fn run_persist_requests(&mut self, now: Now) {
        if !self.persist.reload_queue.is_empty() {
            self.reload_next(now);
        }
        if self.server.persist.requests.is_empty() {
            return;
        }
        for req in std::mem::take(&mut self.server.persist.requests) {
            match req {
                PersistRequest::Bgsave => {
                    if self.persist.save.is_none() {
                        self.start_save(now, SaveKind::Background);
                    } else {
                        self.server.persist.bgsave_scheduled = true;
                    }
                }
                PersistRequest::Save { conn } => {
                    if self.persist.save.is_some() {
                        self.reply_to_waiter(
                            now,
                            conn,
                            Err("ERR Background save already in progress"),
                        );
                    } else {
                        self.start_save(now, SaveKind::Foreground(conn));
                    }
                }
                PersistRequest::Shutdown { conn, flags } => self.begin_shutdown(now, conn, flags),
                PersistRequest::FlushallSave => self.flushall_save(now),
                PersistRequest::DebugReload {
                    conn,
                    save,
                    flush,
                    merge,
                } => {
                    self.persist.reload_queue.push_back(ReloadRequest {
                        conn,
                        save,
                        flush,
                        merge,
                    });
                    self.reload_next(now);
                }
                PersistRequest::AbortShutdown => {
                    if let Some(wait) = self.persist.shutdown_wait.take() {
                        // Redis's abortShutdown: the pause ends, the waiting client
                        // gets its error.
                        self.server.persist.shutdown_pending = false;
                        self.server.pause_relaxed = true;
                        self.server
                            .log(LogLevel::Warning, "Shutdown manually aborted.".into());
                        self.shutdown_refused(now, wait.conn);
                    } else if let Some((job, SaveKind::Shutdown { conn, .. })) =
                        self.persist.save.as_mut()
                    {
                        let conn = *conn;
                        let mut garbage = Garbage::default();
                        job.kill(&mut self.keyspace, &mut self.server, &mut garbage);
                        self.keyspace.garbage.append(garbage);
                        if let Some((job, _)) = self.persist.save.take() {
                            if !job.idle() {
                                self.persist.draining.push(job);
                            }
                        }
                        self.server.persist.bgsave_in_progress = false;
                        self.server.persist.shutdown_pending = false;
                        // The writes it held run now.
                        self.server.pause_relaxed = true;
                        self.shutdown_refused(now, conn);
                    }
                }
            }
        }
    }

    /// Starts the next DEBUG RELOAD when none runs and, if it saves, no snapshot
    /// (a BGSAVE, an AOF rewrite's walk) is running: keel walks one at a time, so
    /// the reload waits for it (Redis saves in the foreground beside a child).
    fn reload_next(&mut self, now: Now) {
        if self.persist.reload.is_some() || self.server.shutting_down {
            return;
        }
        let Some(&request) = self.persist.reload_queue.front() else {
            return;
        };
        let snapshot_running = self.persist.save.is_some()
            || self.server.persist.bgsave_in_progress
            || self.server.persist.aof.rewrite_in_progress;
        if (request.save && snapshot_running) || self.is_loading() {
            return;
        }
        self.persist.reload_queue.pop_front();
        // Other clients' input waits until the reload ends (Redis serves nobody
        // during its foreground save and load): a write between the save's snapshot
        // and the flush would be lost, and nobody sees the emptied dataset.
        self.server.persist.boot_probe = true;
        self.persist.reload = Some(ReloadRun {
            request,
            loader: None,
        });
        if request.save {
            self.start_save(now, SaveKind::Reload(request.conn));
        } else {
            self.reload_load(now);
        }
    }

    /// DEBUG RELOAD after its save: empties the dataset (unless NOFLUSH; nothing is
    /// propagated, WATCHers see it), then reads `dir/dbfilename` as at boot.
    fn reload_load(&mut self, now: Now) {
        let Some(run) = self.persist.reload.as_mut() else {
            return;
        };
        let request = run.request;
        // From the flush on the dataset is not one to snapshot: save points, a
        // scheduled BGSAVE and AOF rewrites wait for the end (Redis's `loading`).
        self.server.persist.loading = true;
        if request.flush {
            let dbs = self.keyspace.dbs.len();
            for db in 0..dbs {
                if !self.clients.watch.is_empty() {
                    self.clients
                        .watch
                        .touch_db(db, None, &self.keyspace, now.wall_ms);
                }
                self.keyspace.flush_db(db);
            }
        }
        let mut loader = Box::new(RdbLoad::for_config(
            &self.server,
            HashSeeds(self.aof.hash_seeds),
        ));
        loader.applier.allow_dup = request.merge;
        loader.start(&mut self.keyspace, &mut self.server, now);
        if let Some(run) = self.persist.reload.as_mut() {
            run.loader = Some(loader);
        }
    }

    /// A read of DEBUG RELOAD's load came back; at the end, the client is answered
    /// (a missing or bad file is `-ERR Error trying to load the RDB dump`, never an
    /// exit: what loaded so far stays, as in Redis).
    fn reload_read(&mut self, now: Now, io: IoId, result: DiskResult) {
        let Some(run) = self.persist.reload.as_mut() else {
            return;
        };
        let Some(loader) = run.loader.as_mut() else {
            return;
        };
        let Some(outcome) = loader.on_disk(io, result, &mut self.keyspace, &mut self.server, now)
        else {
            return;
        };
        let found = loader.found();
        let conn = run.request.conn;
        self.reload_end();
        let reply = match outcome {
            LoadOutcome::Loaded if found => {
                self.server
                    .log(LogLevel::Warning, "DB reloaded by DEBUG RELOAD".into());
                Ok(())
            }
            LoadOutcome::Loaded => {
                self.server.log(
                    LogLevel::Warning,
                    "DEBUG RELOAD: the RDB file does not exist".into(),
                );
                Err(RELOAD_ERROR)
            }
            LoadOutcome::Fatal(line) => {
                let line = line.trim_end_matches(" Exiting.").to_string();
                self.server.log(LogLevel::Warning, line);
                Err(RELOAD_ERROR)
            }
        };
        self.reply_to_waiter(now, conn, reply);
        self.reload_next(now);
    }

    /// The running DEBUG RELOAD is over: the others' input runs again.
    fn reload_end(&mut self) {
        self.persist.reload = None;
        self.server.persist.loading = false;
        self.server.persist.boot_probe = false;
        self.persist.resume_waiting = true;
    }

    /// FLUSHALL with save points: a background save is killed (its snapshot is of
    /// the dataset before the flush) and the empty dataset saved. A SAVE or a
    /// shutdown's save already running is left to finish.
    fn flushall_save(&mut self, now: Now) {
        if let Some((job, SaveKind::Background)) = self.persist.save.as_mut() {
            let mut garbage = Garbage::default();
            job.kill(&mut self.keyspace, &mut self.server, &mut garbage);
            self.keyspace.garbage.append(garbage);
            if let Some((job, _)) = self.persist.save.take() {
                if !job.idle() {
                    self.persist.draining.push(job);
                }
            }
            self.server.persist.bgsave_in_progress = false;
        }
        if self.persist.save.is_none() {
            self.start_save(now, SaveKind::Background);
        }
    }

    /// Redis 7.0's `prepareForShutdown`: save when asked (SAVE), or when save points
    /// are set and not NOSAVE; a running BGSAVE is killed first.
    pub(super) fn begin_shutdown(&mut self, now: Now, conn: Option<ConnId>, flags: u32) {
        if self.server.persist.shutdown_pending {
            // Redis blocks the client before `prepareForShutdown` finds a shutdown
            // initiated, and answers it with the first one's outcome.
            self.persist.shutdown_joined.extend(conn);
            return;
        }
        self.server
            .log(LogLevel::Warning, "User requested shutdown...".into());
        // Redis 7.0's prepareForShutdown: unless NOW, let lagging replicas catch up
        // first (writes held, a GETACK asked), for up to `shutdown-timeout` seconds.
        let timeout_s = self.server.config.settings().shutdown_timeout_s;
        if flags & SHUTDOWN_NOW == 0 && timeout_s != 0 && !self.replicas_caught_up() {
            self.server.persist.shutdown_pending = true;
            self.persist.shutdown_wait = Some(ShutdownWait {
                conn,
                flags,
                deadline_mono_ms: now.mono_ms.saturating_add(timeout_s.saturating_mul(1000)),
            });
            self.server.repl_master.getack_requested = true;
            self.server.log(
                LogLevel::Notice,
                "Waiting for replicas before shutting down.".into(),
            );
            return;
        }
        self.shutdown_after_replicas(now, conn, flags);
    }

    /// Redis's `isReadyToShutdown`: every replica has ACKed the master's offset.
    fn replicas_caught_up(&self) -> bool {
        let offset = self.server.repl.master_repl_offset;
        self.server
            .repl_master
            .replicas
            .values()
            .all(|r| r.ack_offset == offset)
    }

    /// A SHUTDOWN waiting for replicas goes on when they caught up or its deadline
    /// passed (Redis checks in its cron; keel after every input, so the ACK that
    /// completes the wait ends it at once), naming the replicas still behind.
    pub(super) fn shutdown_wait_step(&mut self, now: Now) {
        let Some(wait) = self.persist.shutdown_wait else {
            return;
        };
        let caught_up = self.replicas_caught_up();
        if !caught_up && now.mono_ms < wait.deadline_mono_ms {
            return;
        }
        self.persist.shutdown_wait = None;
        if !caught_up {
            let offset = self.server.repl.master_repl_offset;
            let lagging: Vec<String> = self
                .server
                .repl_master
                .replicas
                .values()
                .filter(|r| r.ack_offset != offset)
                .map(|r| {
                    format!(
                        "Lagging replica {} reported offset {} behind master, lag={}, state={}.",
                        r.name(),
                        offset.saturating_sub(r.ack_offset),
                        now.mono_ms.saturating_sub(r.ack_mono_ms) / 1000,
                        r.state.info_name()
                    )
                })
                .collect();
            for line in lagging {
                self.server.log(LogLevel::Warning, line);
            }
        }
        // The wait held writes as `shutdown_pending`; the save (or the exit) takes over.
        self.server.persist.shutdown_pending = false;
        self.shutdown_after_replicas(now, wait.conn, wait.flags);
    }

    /// The rest of `prepareForShutdown` (Redis's `finishShutdown`): kill a running
    /// snapshot, save when asked, exit.
    fn shutdown_after_replicas(&mut self, now: Now, conn: Option<ConnId>, flags: u32) {
        if let Some((mut job, kind)) = self.persist.save.take() {
            self.server.log(
                LogLevel::Warning,
                "There is a child saving an .rdb. Killing it!".into(),
            );
            let mut garbage = Garbage::default();
            job.kill(&mut self.keyspace, &mut self.server, &mut garbage);
            self.keyspace.garbage.append(garbage);
            if !job.idle() {
                self.persist.draining.push(job);
            }
            self.server.persist.bgsave_in_progress = false;
            if let SaveKind::Foreground(waiter) | SaveKind::Reload(waiter) = kind {
                if matches!(kind, SaveKind::Reload(_)) {
                    self.reload_end();
                }
                self.reply_to_waiter(now, waiter, Err("ERR"));
            }
        }
        let save_points = !self.server.config.settings().save_points.is_empty();
        let save = flags & SHUTDOWN_SAVE != 0 || (save_points && flags & SHUTDOWN_NOSAVE == 0);
        if !save {
            self.finish_shutdown(conn);
            return;
        }
        self.server.log(
            LogLevel::Notice,
            "Saving the final RDB snapshot before exiting.".into(),
        );
        self.server.persist.shutdown_pending = true;
        self.start_save(now, SaveKind::Shutdown { conn, flags });
    }

    fn finish_shutdown(&mut self, conn: Option<ConnId>) {
        self.server.persist.shutdown_pending = false;
        self.server.shutting_down = true;
        let joined = std::mem::take(&mut self.persist.shutdown_joined);
        for conn in conn.into_iter().chain(joined) {
            if let Some(mut client) = self.clients.table.remove(&conn) {
                client.blocked = false;
                client.close_after_reply = true;
                self.put_back(self.last_now, client);
            }
        }
        self.server
            .effects
            .push_back(Effect::Shutdown { exit_code: 0 });
    }

    fn refuse_shutdown(&mut self, now: Now, conn: Option<ConnId>) {
        self.server.persist.shutdown_pending = false;
        self.server.pause_relaxed = true;
        self.server.log(
            LogLevel::Warning,
            "Error trying to save the DB, can't exit.".into(),
        );
        match conn {
            Some(_) => {
                self.server.log(
                    LogLevel::Warning,
                    "Errors trying to shut down the server. Check the logs for more information."
                        .into(),
                );
            }
            None => self.server.log(
                LogLevel::Warning,
                "SIGTERM received but errors trying to shut down the server, check the logs for more information".into(),
            ),
        }
        self.shutdown_refused(now, conn);
    }

    /// A shutdown did not happen (refused or aborted): its client and every SHUTDOWN
    /// that joined it get Redis's error (its `replyToClientsBlockedOnShutdown`).
    fn shutdown_refused(&mut self, now: Now, conn: Option<ConnId>) {
        let joined = std::mem::take(&mut self.persist.shutdown_joined);
        for conn in conn.into_iter().chain(joined) {
            self.reply_to_waiter(now, conn, Err(SHUTDOWN_ERROR));
        }
    }

    /// The cron's part: save points and a scheduled BGSAVE (Redis's serverCron rules).
    pub(super) fn persist_cron(&mut self, now: Now) {
        if self.server.persist.loading
            || self.persist.save.is_some()
            || self.repl.walk.is_some()
            || self.server.persist.shutdown_pending
            || self.server.persist.aof.rewrite_in_progress
        {
            return;
        }
        let now_secs = now.wall_ms / 1000;
        let p = &self.server.persist;
        let may_retry = p.last_bgsave_ok
            || now_secs.saturating_sub(p.last_bgsave_try_wall_secs) > BGSAVE_RETRY_DELAY_SECS;
        if p.bgsave_scheduled && may_retry {
            self.server.persist.bgsave_scheduled = false;
            self.start_save(now, SaveKind::Background);
            return;
        }
        let since_save = now_secs.saturating_sub(p.last_save_wall_secs);
        let dirty = self.server.dirty;
        let due = self
            .server
            .config
            .settings()
            .save_points
            .iter()
            .find(|sp| {
                dirty >= sp.min_changes.max(0) as u64
                    && since_save > sp.after_secs.max(0) as u64
                    && may_retry
            })
            .copied();
        if let Some(sp) = due {
            self.server.log(
                LogLevel::Notice,
                format!(
                    "{} changes in {} seconds. Saving...",
                    sp.min_changes, sp.after_secs
                ),
            );
            self.start_save(now, SaveKind::Background);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::io::{DiskError, DiskOp, DiskResult, Effect, Input, LogLevel};
    use crate::keyspace::HashSeeds;
    use crate::persist::rdb::{LoadLimits, RdbItem, RdbReader};
    use crate::testkit::Kit;

    /// An in-memory disk that answers the node's operations, and can fail the n-th
    /// one (counted from `arm`).
    #[derive(Default)]
    struct MemDisk {
        files: BTreeMap<String, Vec<u8>>,
        /// Every operation answered, in order (kind and path).
        log: Vec<String>,
        fail_nth: Option<(usize, DiskError)>,
        seen: usize,
        /// Hold answers (a slow disk): operations wait in `held`.
        hold: bool,
        held: Vec<(crate::io::IoId, DiskOp)>,
    }

    impl MemDisk {
        fn answer(&mut self, op: &DiskOp) -> DiskResult {
            self.seen += 1;
            let name = match op {
                DiskOp::Open { .. } => "open",
                DiskOp::Append { .. } => "append",
                DiskOp::Fsync { .. } => "fsync",
                DiskOp::Rename { .. } => "rename",
                DiskOp::Remove { .. } => "remove",
                DiskOp::Read { .. } => "read",
                DiskOp::Close { .. } => "close",
                _ => "other",
            };
            self.log.push(format!("{name} {}", op.path()));
            if let Some((n, e)) = self.fail_nth {
                if self.seen == n {
                    return DiskResult::Failed(e);
                }
            }
            let done = DiskResult::Done { read: Vec::new() };
            match op {
                DiskOp::Open { path, truncate, .. } => {
                    let f = self.files.entry(path.clone()).or_default();
                    if *truncate {
                        f.clear();
                    }
                    done
                }
                DiskOp::Append { path, bytes } => match self.files.get_mut(path) {
                    Some(f) => {
                        f.extend_from_slice(bytes);
                        done
                    }
                    None => DiskResult::Failed(DiskError::NotFound),
                },
                DiskOp::Rename { from, to } => match self.files.remove(from) {
                    Some(f) => {
                        self.files.insert(to.clone(), f);
                        done
                    }
                    None => DiskResult::Failed(DiskError::NotFound),
                },
                DiskOp::Remove { path } => match self.files.remove(path) {
                    Some(_) => done,
                    None => DiskResult::Failed(DiskError::NotFound),
                },
                DiskOp::Read { path, offset, len } => match self.files.get(path) {
                    Some(f) => {
                        let start = (*offset as usize).min(f.len());
                        let end = (start + *len as usize).min(f.len());
                        DiskResult::Done {
                            read: f[start..end].to_vec(),
                        }
                    }
                    None => DiskResult::Failed(DiskError::NotFound),
                },
                _ => done,
            }
        }
    }

    /// Runs the node until it is quiet: disk operations answered, save slices walked.
    fn pump(k: &mut Kit, disk: &mut MemDisk) {
        for _ in 0..100_000 {
            k.drive();
            let mut pending = std::mem::take(&mut disk.held);
            for (_, e) in std::mem::take(&mut k.effects) {
                match e {
                    Effect::Disk { io, op } => pending.push((io, op)),
                    other => k.effects.push((0, other)),
                }
            }
            if disk.hold {
                disk.held = pending;
                pending = Vec::new();
            }
            let now = k.now;
            let busy = !pending.is_empty();
            for (io, op) in pending {
                let result = disk.answer(&op);
                k.nodes[0].handle(
                    now,
                    Input::Disk {
                        io,
                        result,
                        elapsed_us: 0,
                    },
                );
            }
            let wants = k.nodes[0].next_deadline() <= now.mono_ms;
            if wants {
                k.nodes[0].handle(now, Input::Tick);
            }
            if !busy && !wants {
                k.drive();
                if !k
                    .effects
                    .iter()
                    .any(|(_, e)| matches!(e, Effect::Disk { .. }))
                {
                    return;
                }
            }
        }
        panic!("the node never went quiet");
    }

    fn logs(k: &Kit) -> Vec<String> {
        k.effects
            .iter()
            .filter_map(|(_, e)| match e {
                Effect::Log { message, .. } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    fn read_rdb(bytes: &[u8]) -> Vec<(usize, Vec<u8>, Option<u64>)> {
        let mut r = RdbReader::new(LoadLimits::default());
        r.feed(bytes);
        r.end_of_input();
        let mut keys = Vec::new();
        loop {
            match r.next().expect("a valid file") {
                Some(RdbItem::Key {
                    db, key, expire_ms, ..
                }) => keys.push((db, key, expire_ms)),
                Some(RdbItem::End) => return keys,
                Some(_) => {}
                None => panic!("incomplete file"),
            }
        }
    }

    fn populate(k: &mut Kit, n: usize) {
        let mut cmds = String::new();
        for i in 0..n {
            cmds.push_str(&format!("SET key:{i} value:{i};"));
        }
        k.send_lines(1, &cmds);
        k.take(1);
    }

    #[test]
    fn bgsave_writes_temp_fsyncs_renames_and_syncs_the_directory() {
        let mut k = Kit::new("save \"\"");
        let mut disk = MemDisk::default();
        k.connect(1);
        populate(&mut k, 5000);
        k.cmd(1, "SELECT 3");
        k.cmd(1, "SET other x");
        k.cmd(1, "PEXPIRE other 100000");
        assert_eq!(k.cmd(1, "BGSAVE"), "+Background saving started\r\n");
        // Writes while the walk runs: not in the file.
        k.cmd(1, "SELECT 0");
        k.cmd(1, "SET key:4999 changed");
        k.cmd(1, "SET newkey 1");
        k.cmd(1, "DEL key:1");
        pump(&mut k, &mut disk);
        let file = disk.files.get("dump.rdb").expect("dump.rdb written");
        let keys = read_rdb(file);
        assert_eq!(keys.len(), 5001);
        assert!(keys
            .iter()
            .any(|(db, key, exp)| *db == 3 && key == b"other" && exp.is_some()));
        assert!(!keys.iter().any(|(_, key, _)| key == b"newkey"));
        assert!(keys.iter().any(|(_, key, _)| key == b"key:1"));
        assert_eq!(
            disk.files.len(),
            1,
            "no temp file left: {:?}",
            disk.files.keys()
        );
        let ops: Vec<&str> = disk.log.iter().map(String::as_str).collect();
        let n = ops.len();
        assert!(ops[0].starts_with("open temp-"), "{ops:?}");
        assert!(ops[n - 4].starts_with("fsync temp-"));
        assert!(ops[n - 3].starts_with("close temp-"), "{ops:?}");
        assert!(ops[n - 2].starts_with("rename temp-"));
        assert_eq!(ops[n - 1], "fsync .");
        let info = k.cmd(1, "INFO persistence");
        assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
        assert!(info.contains("rdb_saves:1\r\n"));
        assert!(info.contains("rdb_bgsave_in_progress:0"));
        // The three writes after the start are the changes since the save.
        assert!(info.contains("rdb_changes_since_last_save:3\r\n"), "{info}");
        assert!(logs(&k)
            .iter()
            .any(|l| l == "Background saving terminated with success"));
    }

    #[test]
    fn every_failed_disk_operation_fails_the_save_cleanly() {
        // Ops of a save of a small dataset: open, append, fsync, close, rename,
        // fsync "." (a failed close changes nothing: the data is synced).
        for nth in [1, 2, 3, 5, 6] {
            for err in [DiskError::Io, DiskError::NoSpace] {
                let mut k = Kit::new("save \"3600 1\"");
                let mut disk = MemDisk::default();
                disk.files.insert("dump.rdb".into(), b"old".to_vec());
                k.connect(1);
                populate(&mut k, 10);
                disk.fail_nth = Some((nth, err));
                k.cmd(1, "BGSAVE");
                pump(&mut k, &mut disk);
                let info = k.cmd(1, "INFO persistence");
                assert!(
                    info.contains("rdb_last_bgsave_status:err"),
                    "op {nth}: {info}"
                );
                let temps: Vec<_> = disk
                    .files
                    .keys()
                    .filter(|f| f.starts_with("temp-"))
                    .collect();
                assert!(temps.is_empty(), "op {nth}: temp left {temps:?}");
                if nth < 5 {
                    assert_eq!(
                        disk.files.get("dump.rdb").map(Vec::as_slice),
                        Some(&b"old"[..])
                    );
                }
                // stop-writes-on-bgsave-error with save points: writes and PING refused.
                let misconf = format!("-{}\r\n", crate::server::MISCONF_RDB);
                assert_eq!(k.cmd(1, "SET a b"), misconf, "op {nth}");
                assert_eq!(k.cmd(1, "PING"), misconf);
                assert_eq!(k.cmd(1, "GET key:1"), "$7\r\nvalue:1\r\n");
                // A save that works clears it.
                disk.fail_nth = None;
                k.cmd(1, "BGSAVE");
                pump(&mut k, &mut disk);
                assert_eq!(k.cmd(1, "SET a b"), "+OK\r\n");
            }
        }
    }

    #[test]
    fn flushall_with_save_points_kills_the_bgsave_and_saves_the_empty_dataset() {
        let mut k = Kit::new("save \"3600 1\"");
        let mut disk = MemDisk::default();
        k.connect(1);
        populate(&mut k, 5000);
        k.cmd(1, "BGSAVE");
        k.cmd(1, "FLUSHALL");
        pump(&mut k, &mut disk);
        assert_eq!(read_rdb(&disk.files["dump.rdb"]).len(), 0);
        assert_eq!(disk.files.len(), 1, "{:?}", disk.files.keys());
        // Without save points FLUSHALL saves nothing and the BGSAVE keeps its image.
        let mut k = Kit::new("save \"\"");
        let mut disk = MemDisk::default();
        k.connect(1);
        populate(&mut k, 5000);
        k.cmd(1, "BGSAVE");
        k.cmd(1, "FLUSHALL");
        pump(&mut k, &mut disk);
        assert_eq!(read_rdb(&disk.files["dump.rdb"]).len(), 5000);
    }

    #[test]
    fn misconf_needs_save_points_and_the_option() {
        for (conf, refused) in [
            ("save \"\"", false),
            ("save \"3600 1\"\nstop-writes-on-bgsave-error no", false),
            ("save \"3600 1\"", true),
        ] {
            let mut k = Kit::new(conf);
            let mut disk = MemDisk {
                fail_nth: Some((1, DiskError::Io)),
                ..MemDisk::default()
            };
            k.connect(1);
            k.cmd(1, "BGSAVE");
            pump(&mut k, &mut disk);
            assert_eq!(
                k.cmd(1, "SET a b").starts_with("-MISCONF"),
                refused,
                "{conf}"
            );
        }
    }

    #[test]
    fn save_replies_once_the_file_is_durable() {
        let mut k = Kit::new("save \"\"");
        let mut disk = MemDisk {
            hold: true,
            ..MemDisk::default()
        };
        k.connect(1);
        k.connect(2);
        populate(&mut k, 100);
        assert_eq!(k.cmd(1, "SAVE"), "");
        pump(&mut k, &mut disk);
        assert_eq!(k.take(1), "", "no reply before the disk answered");
        // Other clients are served meanwhile; a second save is refused.
        assert_eq!(k.cmd(2, "GET key:1"), "$7\r\nvalue:1\r\n");
        assert_eq!(
            k.cmd(2, "BGSAVE"),
            "-ERR Background save already in progress\r\n"
        );
        disk.hold = false;
        pump(&mut k, &mut disk);
        assert_eq!(k.take(1), "+OK\r\n");
        assert!(disk.files.contains_key("dump.rdb"));
        assert_eq!(
            k.cmd(1, "LASTSAVE"),
            format!(":{}\r\n", k.now.wall_ms / 1000)
        );
        // Pipelined commands behind SAVE run after it.
        k.send_lines(1, "SAVE;PING");
        pump(&mut k, &mut disk);
        assert_eq!(k.take(1), "+OK\r\n+PONG\r\n");
    }

    #[test]
    fn shutdown_saves_first_and_refuses_when_the_save_fails() {
        let mut k = Kit::new("save \"3600 1\"");
        let mut disk = MemDisk {
            fail_nth: Some((2, DiskError::NoSpace)),
            ..MemDisk::default()
        };
        k.connect(1);
        populate(&mut k, 10);
        k.cmd(1, "SHUTDOWN");
        pump(&mut k, &mut disk);
        assert_eq!(k.take(1), "-ERR Errors trying to SHUTDOWN. Check logs.\r\n");
        assert!(!k
            .effects
            .iter()
            .any(|(_, e)| matches!(e, Effect::Shutdown { .. })));
        assert!(logs(&k)
            .iter()
            .any(|l| l == "Error trying to save the DB, can't exit."));
        // FORCE exits all the same.
        disk.fail_nth = Some((disk.seen + 2, DiskError::NoSpace));
        k.cmd(1, "SHUTDOWN FORCE");
        pump(&mut k, &mut disk);
        assert!(k
            .effects
            .iter()
            .any(|(_, e)| *e == Effect::Shutdown { exit_code: 0 }));
    }

    #[test]
    fn shutdown_exits_only_after_the_save_is_durable() {
        let mut k = Kit::new("save \"\"");
        let mut disk = MemDisk::default();
        k.connect(1);
        populate(&mut k, 10);
        k.cmd(1, "SHUTDOWN SAVE");
        k.drive();
        let order: Vec<String> = {
            pump(&mut k, &mut disk);
            k.effects
                .iter()
                .filter_map(|(_, e)| match e {
                    Effect::Shutdown { .. } => Some("shutdown".to_string()),
                    Effect::Log { message, .. } if message == "DB saved on disk" => {
                        Some("saved".to_string())
                    }
                    _ => None,
                })
                .collect()
        };
        assert_eq!(order, ["saved", "shutdown"]);
        assert_eq!(disk.log.last().map(String::as_str), Some("fsync ."));
        // NOSAVE with save points: no save.
        let mut k = Kit::new("save \"3600 1\"");
        let mut disk = MemDisk::default();
        k.connect(1);
        k.cmd(1, "SHUTDOWN NOSAVE");
        pump(&mut k, &mut disk);
        assert!(disk.log.is_empty());
        assert!(k
            .effects
            .iter()
            .any(|(_, e)| *e == Effect::Shutdown { exit_code: 0 }));
    }

    /// Writes wait while SHUTDOWN saves (Redis runs nothing during its final save):
    /// none is acknowledged and then missing from the file; reads are served. A
    /// refused shutdown lets them run.
    #[test]
    fn writes_wait_for_the_shutdown_save_and_run_if_it_is_refused() {
        let mut k = Kit::new("save \"\"");
        let mut disk = MemDisk {
            hold: true,
            ..MemDisk::default()
        };
        k.connect(1);
        k.connect(2);
        k.cmd(2, "SET a 1");
        k.cmd(1, "SHUTDOWN SAVE");
        pump(&mut k, &mut disk);
        assert_eq!(k.cmd(2, "SET b 2"), "", "held while the save runs");
        assert_eq!(k.cmd(2, "GET a"), "", "behind the held write");
        let mut k2 = Kit::new("save \"\"");
        let mut disk2 = MemDisk {
            hold: true,
            ..MemDisk::default()
        };
        k2.connect(1);
        k2.connect(2);
        k2.connect(3);
        k2.cmd(1, "SHUTDOWN SAVE");
        pump(&mut k2, &mut disk2);
        assert_eq!(k2.cmd(3, "GET a"), "$-1\r\n", "reads are served");
        assert_eq!(k2.cmd(2, "SET b 2"), "");
        // The save fails: the shutdown is refused and the write runs.
        disk2.hold = false;
        disk2.fail_nth = Some((disk2.seen + 1, DiskError::NoSpace));
        pump(&mut k2, &mut disk2);
        assert_eq!(k2.take(2), "+OK\r\n");
        assert_eq!(k2.cmd(3, "GET b"), "$1\r\n2\r\n");
        // The file the first node saves holds `a` only, and it exits.
        disk.hold = false;
        pump(&mut k, &mut disk);
        let keys = read_rdb(disk.files.get("dump.rdb").expect("saved"));
        assert_eq!(keys.len(), 1, "{keys:?}");
        assert!(k
            .effects
            .iter()
            .any(|(_, e)| *e == Effect::Shutdown { exit_code: 0 }));
    }

    #[test]
    fn sigterm_saves_when_save_points_are_set() {
        let mut k = Kit::new("save \"3600 1\"");
        let mut disk = MemDisk::default();
        k.connect(1);
        populate(&mut k, 3);
        let now = k.now;
        k.nodes[0].handle(now, Input::Signal(crate::io::Signal::Terminate));
        pump(&mut k, &mut disk);
        assert!(disk.files.contains_key("dump.rdb"));
        assert!(k
            .effects
            .iter()
            .any(|(_, e)| *e == Effect::Shutdown { exit_code: 0 }));
    }

    #[test]
    fn save_points_fire_from_the_cron_and_wait_after_a_failure() {
        let mut k = Kit::new("save \"10 2\"");
        let mut disk = MemDisk::default();
        k.connect(1);
        k.cmd(1, "SET a 1");
        k.advance_ms(11_000);
        pump(&mut k, &mut disk);
        assert!(disk.log.is_empty(), "one change is below the save point");
        k.cmd(1, "SET b 1");
        disk.fail_nth = Some((1, DiskError::Io));
        k.advance_ms(200);
        pump(&mut k, &mut disk);
        assert!(logs(&k)
            .iter()
            .any(|l| l == "2 changes in 10 seconds. Saving..."));
        assert_eq!(
            disk.log.last().map(String::as_str),
            Some("remove temp-1.rdb")
        );
        let tried = disk.log.len();
        // The retry waits CONFIG_BGSAVE_RETRY_DELAY (5 s).
        k.advance_ms(2000);
        pump(&mut k, &mut disk);
        assert_eq!(disk.log.len(), tried);
        k.advance_ms(4000);
        pump(&mut k, &mut disk);
        assert!(disk.files.contains_key("dump.rdb"), "{:?}", disk.log);
        assert!(k
            .cmd(1, "INFO persistence")
            .contains("rdb_changes_since_last_save:0"));
    }

    fn saved_file(setup: &str) -> Vec<u8> {
        let mut k = Kit::new("save \"\"\nrdbcompression no");
        let mut disk = MemDisk::default();
        k.connect(1);
        k.send_lines(1, setup);
        k.take(1);
        k.cmd(1, "SAVE");
        pump(&mut k, &mut disk);
        disk.files.remove("dump.rdb").expect("saved")
    }

    #[test]
    fn boot_loads_the_file_answering_loading_meanwhile() {
        let file =
            saved_file("SET a 1;RPUSH l x y z;SET gone 1;PEXPIRE gone 5000;SELECT 2;HSET h f v");
        let mut k = Kit::new("save \"\"");
        let mut disk = MemDisk {
            hold: true,
            ..MemDisk::default()
        };
        disk.files.insert("dump.rdb".into(), file);
        // The expiring key has expired by the time the restarted node loads.
        k.advance_ms(10_000);
        let now = k.now;
        assert!(k.nodes[0].boot(now, HashSeeds([1, 2, 3, 4])));
        k.connect(1);
        pump(&mut k, &mut disk);
        // Until the loader knows whether there is a file, input waits unparsed.
        assert_eq!(k.cmd(1, "GET a"), "");
        disk.hold = false;
        pump(&mut k, &mut disk);
        assert_eq!(
            k.take(1),
            "$1\r\n1\r\n",
            "the waiting GET ran after the load"
        );
        assert_eq!(
            k.cmd(1, "LRANGE l 0 -1"),
            "*3\r\n$1\r\nx\r\n$1\r\ny\r\n$1\r\nz\r\n"
        );
        assert_eq!(k.cmd(1, "EXISTS gone"), ":0\r\n");
        k.cmd(1, "SELECT 2");
        assert_eq!(k.cmd(1, "HGET h f"), "$1\r\nv\r\n");
        let l = logs(&k);
        assert!(
            l.iter()
                .any(|l| l == "Loading RDB produced by version 7.0.15"),
            "{l:?}"
        );
        assert!(l.iter().any(|l| l == "RDB age 10 seconds"), "{l:?}");
        assert!(
            l.iter()
                .any(|l| l == "Done loading RDB, keys loaded: 3, keys expired: 1."),
            "{l:?}"
        );
        assert!(l.iter().any(|l| l.starts_with("DB loaded from disk: ")));
        let info = k.cmd(1, "INFO persistence");
        assert!(
            info.contains("rdb_last_load_keys_loaded:3")
                && info.contains("rdb_last_load_keys_expired:1")
        );
        assert!(info.contains("rdb_changes_since_last_save:0"));
    }

    #[test]
    fn a_resizedb_claim_is_room_made_ahead_not_an_allocation_trusted() {
        let file = saved_file("SET a 1;SET b 2");
        // SELECTDB 0, RESIZEDB 2 0 -> RESIZEDB 2^62 2^62 (64-bit lengths), checksum redone.
        let at = file
            .windows(5)
            .position(|w| w == [0xfe, 0x00, 0xfb, 0x02, 0x00])
            .expect("SELECTDB 0 RESIZEDB 2 0");
        let mut huge = file[..at + 3].to_vec();
        for _ in 0..2 {
            huge.push(0x81);
            huge.extend_from_slice(&(1u64 << 62).to_be_bytes());
        }
        huge.extend_from_slice(&file[at + 5..file.len() - 8]);
        let crc = crate::persist::rdb::crc64::crc64(0, &huge);
        huge.extend_from_slice(&crc.to_le_bytes());
        let mut k = Kit::new("save \"\"");
        let mut disk = MemDisk::default();
        disk.files.insert("dump.rdb".into(), huge);
        let now = k.now;
        assert!(k.nodes[0].boot(now, HashSeeds([1, 2, 3, 4])));
        k.connect(1);
        pump(&mut k, &mut disk);
        assert_eq!(k.cmd(1, "MGET a b"), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
        // The room made ahead is bounded, not 2^62 keys' worth.
        let info = k.cmd(1, "INFO memory");
        let used: u64 = info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .expect("used_memory");
        assert!(used < 64 << 20, "used_memory {used}");
    }

    #[test]
    fn boot_without_a_file_starts_empty() {
        let mut k = Kit::new("");
        let mut disk = MemDisk::default();
        let now = k.now;
        k.nodes[0].boot(now, HashSeeds([1; 4]));
        pump(&mut k, &mut disk);
        k.connect(1);
        assert_eq!(k.cmd(1, "DBSIZE"), ":0\r\n");
        assert!(!k
            .effects
            .iter()
            .any(|(_, e)| matches!(e, Effect::Shutdown { .. })));
    }

    #[test]
    fn a_corrupt_file_stops_the_node_naming_file_and_offset() {
        let mut file = saved_file("SET a 1;SET b 2");
        let at = file.len() - 12;
        file[at] ^= 0x40;
        for bytes in [file.clone(), file[..20].to_vec(), Vec::new()] {
            let mut k = Kit::new("");
            let mut disk = MemDisk::default();
            disk.files.insert("dump.rdb".into(), bytes.clone());
            let now = k.now;
            k.nodes[0].boot(now, HashSeeds([1; 4]));
            pump(&mut k, &mut disk);
            assert!(k
                .effects
                .iter()
                .any(|(_, e)| *e == Effect::Shutdown { exit_code: 1 }));
            let fatal = k
                .effects
                .iter()
                .find_map(|(_, e)| match e {
                    Effect::Log {
                        level: LogLevel::Warning,
                        message,
                    } if message.starts_with("Fatal error loading the DB (dump.rdb)") => {
                        Some(message.clone())
                    }
                    _ => None,
                })
                .expect("a fatal line");
            assert!(fatal.contains("offset"), "{fatal}");
            assert_eq!(
                disk.files.get("dump.rdb"),
                Some(&bytes),
                "the bad file is untouched"
            );
            assert_eq!(
                disk.log.iter().filter(|l| !l.starts_with("read")).count(),
                0
            );
        }
    }

    #[test]
    fn reads_are_bounded_chunks() {
        let mut setup = String::new();
        for i in 0..3000 {
            setup.push_str(&format!("SET k{i} {};", "x".repeat(1000)));
        }
        let file = saved_file(&setup);
        assert!(file.len() > 2 << 20);
        let mut k = Kit::new("");
        let mut disk = MemDisk {
            hold: true,
            ..MemDisk::default()
        };
        disk.files.insert("dump.rdb".into(), file);
        let now = k.now;
        k.nodes[0].boot(now, HashSeeds([1; 4]));
        k.connect(1);
        pump(&mut k, &mut disk);
        // Answer the first read only: the node is loading, clients get -LOADING.
        let (io, op) = disk.held.remove(0);
        let result = disk.answer(&op);
        k.nodes[0].handle(
            now,
            Input::Disk {
                io,
                result,
                elapsed_us: 0,
            },
        );
        k.drive();
        let loading = "-LOADING Redis is loading the dataset in memory\r\n";
        assert_eq!(k.cmd(1, "DBSIZE"), loading);
        assert_eq!(k.cmd(1, "PING"), loading);
        let info = k.cmd(1, "INFO persistence");
        assert!(info.contains("loading:1"), "{info}");
        disk.hold = false;
        pump(&mut k, &mut disk);
        assert!(disk.log.len() >= 3, "{:?}", disk.log);
        assert_eq!(k.cmd(1, "DBSIZE"), ":3000\r\n");
    }

    #[cfg(feature = "mutants")]
    #[test]
    fn mutant_renames_before_the_fsync() {
        let mut k = Kit::new("save \"\"");
        k.nodes[0].set_mutant(Some(crate::mutants::Mutant::RenameBeforeFsync));
        let mut disk = MemDisk::default();
        k.connect(1);
        k.cmd(1, "SAVE");
        pump(&mut k, &mut disk);
        let n = disk.log.len();
        assert!(disk.log[n - 3].starts_with("rename"), "{:?}", disk.log);
        assert!(disk.log[n - 2].starts_with("fsync temp-"), "{:?}", disk.log);
    }

    /// An RDB 10 file by hand: aux fields, then database 0's string keys (an
    /// optional absolute expiry in unix ms), no checksum (a stored 0).
    fn file_with_aux(aux: &[(&str, &str)], keys: &[(&str, &str, Option<u64>)]) -> Vec<u8> {
        let mut out = b"REDIS0010".to_vec();
        let string = |out: &mut Vec<u8>, s: &str| {
            out.push(s.len() as u8);
            out.extend_from_slice(s.as_bytes());
        };
        for (k, v) in aux {
            out.push(0xFA);
            string(&mut out, k);
            string(&mut out, v);
        }
        out.extend_from_slice(&[0xFE, 0x00]);
        for (k, v, exp) in keys {
            if let Some(at) = exp {
                out.push(0xFC);
                out.extend_from_slice(&at.to_le_bytes());
            }
            out.push(0x00);
            string(&mut out, k);
            string(&mut out, v);
        }
        out.push(0xFF);
        out.extend_from_slice(&[0u8; 8]);
        out
    }

    const OLD_ID: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn history_aux(offset: &str) -> Vec<(&'static str, String)> {
        vec![
            ("repl-stream-db", "0".to_string()),
            ("repl-id", OLD_ID.to_string()),
            ("repl-offset", offset.to_string()),
        ]
    }

    /// A master booted from `file`, with a client on connection 1.
    fn booted_master(file: Vec<u8>, config: &str) -> Kit {
        let mut k = Kit::new(config);
        let mut disk = MemDisk::default();
        disk.files.insert("dump.rdb".into(), file);
        let now = k.now;
        assert!(k.nodes[0].boot(now, HashSeeds([1; 4])));
        pump(&mut k, &mut disk);
        k.connect(1);
        k
    }

    fn info_field(k: &mut Kit, field: &str) -> String {
        k.info_field(1, "replication", field)
    }

    /// A replica's PSYNC on a fresh connection; the reply and what follows it.
    fn psync(k: &mut Kit, conn: u64, replid: &str, offset: u64) -> String {
        k.connect(conn);
        k.send_lines(conn, "REPLCONF capa eof capa psync2");
        k.take(conn);
        k.send_lines(conn, &format!("PSYNC {replid} {offset}"));
        let mut got = k.take(conn);
        // A full sync answers when its snapshot starts (no diskless delay here).
        for _ in 0..3 {
            if got.is_empty() {
                k.advance_ms(10);
                got = k.take(conn);
            }
        }
        got
    }

    /// Redis 7.0's loadDataFromDisk on a master (checked against redis-server 7.0.15:
    /// SHUTDOWN with a replica in sync, restart, the replica's PSYNC continues): the
    /// file's history becomes replid2 up to its offset plus one, a new replid, the
    /// backlog made at the file's offset; a replica at exactly that offset continues.
    #[test]
    fn a_master_restarted_from_its_file_keeps_the_history_as_replid2() {
        let aux = history_aux("639");
        let aux: Vec<(&str, &str)> = aux.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut k = booted_master(
            file_with_aux(&aux, &[("a", "1", None)]),
            "save \"\"\nrepl-diskless-sync-delay 0",
        );
        let replid = info_field(&mut k, "master_replid");
        assert_eq!(replid.len(), 40);
        assert_ne!(replid, OLD_ID, "a new history starts");
        assert_eq!(info_field(&mut k, "master_replid2"), OLD_ID);
        assert_eq!(info_field(&mut k, "master_repl_offset"), "639");
        assert_eq!(info_field(&mut k, "second_repl_offset"), "640");
        assert_eq!(info_field(&mut k, "repl_backlog_active"), "1");
        assert_eq!(info_field(&mut k, "repl_backlog_first_byte_offset"), "640");
        assert_eq!(info_field(&mut k, "repl_backlog_histlen"), "0");
        // A replica at exactly the file's offset continues, learning the new id.
        assert_eq!(
            psync(&mut k, 2, OLD_ID, 640),
            format!("+CONTINUE {replid}\r\n")
        );
        let l = logs(&k);
        assert!(
            l.iter()
                .any(|l| l
                    .ends_with("accepted. Sending 0 bytes of backlog starting from offset 640.")),
            "{l:?}"
        );
        // One past it never was in the file's history: a full sync, Redis's line.
        let full = psync(&mut k, 3, OLD_ID, 641);
        assert!(
            full.starts_with(&format!("+FULLRESYNC {replid} 639")),
            "{full}"
        );
        assert!(logs(&k).iter().any(|l| l
            == "Partial resynchronization not accepted: Requested offset for second ID was 641, but I can reply up to 640"));
        // The backlog existed: a full sync keeps the ids (no "backlog created").
        assert_eq!(info_field(&mut k, "master_replid"), replid);
        assert_eq!(info_field(&mut k, "master_replid2"), OLD_ID);
    }

    /// A key the master drops as expired while it loads is deleted in its stream, at
    /// the file's offset: a replica that continues drops it too.
    #[test]
    fn keys_expired_at_the_restart_are_dels_in_the_rebased_stream() {
        let aux = history_aux("100");
        let aux: Vec<(&str, &str)> = aux.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let file = file_with_aux(&aux, &[("a", "1", None), ("gone", "1", Some(1000))]);
        let mut k = booted_master(file, "save \"\"");
        assert_eq!(k.cmd(1, "EXISTS gone"), ":0\r\n");
        let del = "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*2\r\n$3\r\nDEL\r\n$4\r\ngone\r\n";
        let end = 100 + del.len();
        assert_eq!(info_field(&mut k, "master_repl_offset"), end.to_string());
        assert_eq!(info_field(&mut k, "repl_backlog_first_byte_offset"), "101");
        assert_eq!(info_field(&mut k, "second_repl_offset"), "101");
        let replid = info_field(&mut k, "master_replid");
        assert_eq!(
            psync(&mut k, 2, OLD_ID, 101),
            format!("+CONTINUE {replid}\r\n{del}")
        );
        // With lazyfree-lazy-expire, UNLINK (Redis's rdbLoadRio).
        let file = file_with_aux(&aux, &[("gone", "1", Some(1000))]);
        let mut k = booted_master(file, "save \"\"\nlazyfree-lazy-expire yes");
        let replid = info_field(&mut k, "master_replid");
        let got = psync(&mut k, 2, OLD_ID, 101);
        assert_eq!(
            got,
            format!(
                "+CONTINUE {replid}\r\n{}",
                del.replace("$3\r\nDEL", "$6\r\nUNLINK")
            )
        );
    }

    /// No history in the file (a master in no replication chain saves none, as
    /// Redis's rdbPopulateSaveInfo), or a partial one: no replid2, and no backlog
    /// unless the load fed the stream.
    #[test]
    fn a_file_without_a_history_restores_none() {
        let file = saved_file("SET a 1");
        assert!(
            !file.windows(7).any(|w| w == b"repl-id"),
            "a master without a backlog records no history"
        );
        let mut k = booted_master(file, "save \"\"");
        assert_eq!(info_field(&mut k, "master_replid2"), crate::repl::NO_REPLID);
        assert_eq!(info_field(&mut k, "second_repl_offset"), "-1");
        assert_eq!(info_field(&mut k, "repl_backlog_active"), "0");
        // An id without an offset, a stream db of -1, an id of the wrong length.
        for aux in [
            vec![("repl-stream-db", "0"), ("repl-id", OLD_ID)],
            vec![
                ("repl-stream-db", "-1"),
                ("repl-id", OLD_ID),
                ("repl-offset", "5"),
            ],
            vec![
                ("repl-stream-db", "0"),
                ("repl-id", "abc"),
                ("repl-offset", "5"),
            ],
        ] {
            let mut k = booted_master(file_with_aux(&aux, &[("a", "1", None)]), "save \"\"");
            assert_eq!(
                info_field(&mut k, "master_replid2"),
                crate::repl::NO_REPLID,
                "{aux:?}"
            );
            assert_eq!(info_field(&mut k, "repl_backlog_active"), "0", "{aux:?}");
        }
        // Expired keys fed the stream: the backlog stays, from offset 0 (Redis).
        let file = file_with_aux(&[], &[("gone", "1", Some(1000))]);
        let mut k = booted_master(file, "save \"\"");
        assert_eq!(info_field(&mut k, "repl_backlog_active"), "1");
        assert_eq!(info_field(&mut k, "repl_backlog_first_byte_offset"), "1");
        assert_ne!(info_field(&mut k, "master_repl_offset"), "0");
    }

    /// A master in a replication chain records its history; restarted, it keeps
    /// it (the whole cycle through the node's own save).
    #[test]
    fn a_master_with_a_backlog_saves_its_history_and_continues_it_after_a_restart() {
        let mut k = Kit::new("save \"\"\nrdbcompression no");
        let mut disk = MemDisk::default();
        k.connect(1);
        // A replica's PSYNC makes the backlog (and a new history).
        psync(&mut k, 2, "?", 0);
        k.cmd(1, "SELECT 3");
        k.cmd(1, "SET a 1");
        let replid = info_field(&mut k, "master_replid");
        let offset = info_field(&mut k, "master_repl_offset");
        k.cmd(1, "SAVE");
        pump(&mut k, &mut disk);
        let file = disk.files.remove("dump.rdb").expect("saved");
        let aux = read_aux(&file);
        assert!(
            aux.contains(&("repl-id".to_string(), replid.clone())),
            "{aux:?}"
        );
        assert!(
            aux.contains(&("repl-offset".to_string(), offset.clone())),
            "{aux:?}"
        );
        assert!(
            aux.contains(&("repl-stream-db".to_string(), "3".to_string())),
            "{aux:?}"
        );
        let mut k = booted_master(file, "save \"\"");
        assert_eq!(info_field(&mut k, "master_replid2"), replid);
        assert_eq!(info_field(&mut k, "master_repl_offset"), offset);
        let at: u64 = offset.parse::<u64>().unwrap() + 1;
        let new_id = info_field(&mut k, "master_replid");
        assert_eq!(
            psync(&mut k, 2, &replid, at),
            format!("+CONTINUE {new_id}\r\n")
        );
        // The stream after the restart selects its database again.
        k.cmd(1, "SELECT 3");
        k.cmd(1, "SET b 2");
        assert_eq!(
            k.take(2),
            "*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$1\r\n2\r\n"
        );
    }

    fn read_aux(bytes: &[u8]) -> Vec<(String, String)> {
        let mut r = RdbReader::new(LoadLimits::default());
        r.feed(bytes);
        r.end_of_input();
        let mut aux = Vec::new();
        while let Ok(Some(item)) = r.next() {
            match item {
                RdbItem::Aux { key, value } => aux.push((
                    String::from_utf8_lossy(&key).into_owned(),
                    String::from_utf8_lossy(&value).into_owned(),
                )),
                RdbItem::End => break,
                _ => {}
            }
        }
        aux
    }

    /// The planted bug: the restarted master forgets the file's history.
    #[cfg(feature = "mutants")]
    #[test]
    fn mutant_restart_forgets_replid_full_syncs_the_replica() {
        let aux = history_aux("639");
        let aux: Vec<(&str, &str)> = aux.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut k = Kit::new("save \"\"\nrepl-diskless-sync-delay 0");
        k.nodes[0].set_mutant(Some(crate::mutants::Mutant::RestartForgetsReplid));
        let mut disk = MemDisk::default();
        disk.files
            .insert("dump.rdb".into(), file_with_aux(&aux, &[("a", "1", None)]));
        let now = k.now;
        k.nodes[0].boot(now, HashSeeds([1; 4]));
        pump(&mut k, &mut disk);
        k.connect(1);
        assert_eq!(info_field(&mut k, "master_replid2"), crate::repl::NO_REPLID);
        assert!(psync(&mut k, 2, OLD_ID, 640).starts_with("+FULLRESYNC"));
    }
}
