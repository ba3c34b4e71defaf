//! The node-wide state every command may read or change, beside the keyspace and the
//! clients: configuration (and its hot cache), counters, the RNG, planted bugs, the
//! propagation stream, the effect queue and a few server flags. Plain data with small
//! helpers; it never runs a command, never sees a client and imports nothing above it.

use std::collections::VecDeque;

use rand_chacha::ChaCha8Rng;

use crate::config::{ClientOutputBufferLimit, Config};
use crate::io::{Effect, LogLevel, Now};
use crate::mutants::Mutants;
use crate::observe::Observer;
use crate::propagate::Propagation;

/// Seeds for everything random in a node: its RNG (sampling, run id) and its hash keys.
#[derive(Debug, Clone, Copy)]
pub struct NodeSeeds {
    pub rng_seed: u64,
    pub hash_seeds: [u64; 4],
}

/// Facts about the process a production driver hands in for INFO.
#[derive(Debug, Clone, Default)]
pub struct ProcessInfo {
    pub os: String,
    pub process_id: u32,
    pub executable: String,
    pub config_file: String,
    pub cpu_user_secs: f64,
    pub cpu_sys_secs: f64,
    /// The machine's memory (INFO total_system_memory); 0 when unknown.
    pub total_system_memory_bytes: u64,
}

/// Counters INFO reports.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub total_connections_received: u64,
    pub total_commands_processed: u64,
    pub total_net_input_bytes: u64,
    pub total_net_output_bytes: u64,
    pub rejected_connections: u64,
    pub keyspace_hits: u64,
    pub keyspace_misses: u64,
    pub total_error_replies: u64,
    pub unexpected_error_replies: u64,
    pub evicted_keys: u64,
    /// Clients closed by `maxmemory-clients` (INFO `evicted_clients`).
    pub evicted_clients: u64,
    /// Samples of (mono_ms, commands processed) for instantaneous_ops_per_sec.
    pub ops_samples: VecDeque<(u64, u64)>,
    /// Samples of (mono_ms, net input bytes, net output bytes), taken with
    /// `ops_samples`, for instantaneous_input_kbps / instantaneous_output_kbps.
    pub net_samples: VecDeque<(u64, u64, u64)>,
    /// Time the active expiry cycles took, by the command clock (Redis's
    /// `stat_expire_cycle_time_used`).
    pub expire_cycle_time_used_us: u64,
    /// Batches of input handled (Redis's `stat_total_reads_processed`).
    pub total_reads_processed: u64,
    /// Batches of output handed to the driver (`stat_total_writes_processed`).
    pub total_writes_processed: u64,
    /// The highest `used_memory` INFO has seen (Redis samples it in its cron and on
    /// every INFO; keel on INFO only, as computing it walks the clients).
    pub used_memory_peak_bytes: u64,
}

impl Stats {
    pub fn instantaneous_ops_per_sec(&self) -> u64 {
        let s = &self.ops_samples;
        match (s.front(), s.back()) {
            (Some(&(t0, c0)), Some(&(t1, c1))) if t1 > t0 => (c1 - c0) * 1000 / (t1 - t0),
            _ => 0,
        }
    }

    /// (input, output) KiB per second over the samples kept.
    pub fn instantaneous_kbps(&self) -> (f64, f64) {
        let s = &self.net_samples;
        match (s.front(), s.back()) {
            (Some(&(t0, i0, o0)), Some(&(t1, i1, o1))) if t1 > t0 => {
                let secs = (t1 - t0) as f64 / 1000.0;
                (
                    (i1 - i0) as f64 / 1024.0 / secs,
                    (o1 - o0) as f64 / 1024.0 / secs,
                )
            }
            _ => (0.0, 0.0),
        }
    }
}

/// Config values read on every request, cached so the hot path skips the directive
/// table. Refreshed whenever the config changes.
#[derive(Debug, Clone, Copy, Default)]
pub struct HotConfig {
    pub proto_max_bulk_len_bytes: u64,
    pub client_query_buffer_limit_bytes: u64,
    pub maxmemory_bytes: u64,
    /// `notify-keyspace-events` as `crate::notify` class bits.
    pub notify_flags: crate::notify::Class,
    /// `client-output-buffer-limit` by `OutputClass::limits_index`.
    pub output_limits: [ClientOutputBufferLimit; 3],
    /// `slowlog-log-slower-than` (None: off).
    pub slowlog_log_slower_than_us: Option<u64>,
    pub slowlog_max_len: usize,
    /// `latency-monitor-threshold` (0: off).
    pub latency_monitor_threshold_ms: u64,
    /// `latency-tracking`.
    pub latency_tracking: bool,
    /// The shortest command (µs) the slow log or the latency monitor wants to hear
    /// about; u64::MAX when both are off. One comparison on the hot path.
    pub observe_threshold_us: u64,
}

impl HotConfig {
    fn from(config: &Config) -> Self {
        let s = config.settings();
        HotConfig {
            proto_max_bulk_len_bytes: s.proto_max_bulk_len_bytes,
            client_query_buffer_limit_bytes: s.client_query_buffer_limit_bytes,
            maxmemory_bytes: s.maxmemory_bytes,
            notify_flags: s.notify_keyspace_events_flags as crate::notify::Class,
            output_limits: s.client_output_buffer_limits,
            slowlog_log_slower_than_us: s.slowlog_log_slower_than_us,
            slowlog_max_len: s.slowlog_max_len,
            latency_monitor_threshold_ms: s.latency_monitor_threshold_ms,
            latency_tracking: s.latency_tracking,
            observe_threshold_us: s.slowlog_log_slower_than_us.unwrap_or(u64::MAX).min(
                match s.latency_monitor_threshold_ms {
                    0 => u64::MAX,
                    ms => ms.saturating_mul(1000),
                },
            ),
        }
    }
}

/// What a command asks of the persistence machines (`crate::persist`), which the node
/// runs right after the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersistRequest {
    /// BGSAVE (the reply was written: started or scheduled).
    Bgsave,
    /// SAVE from the client on `conn` (blocked until the file is durable).
    Save { conn: crate::io::ConnId },
    /// SHUTDOWN from `conn` (None: a signal) with `config::SHUTDOWN_*` bits.
    Shutdown {
        conn: Option<crate::io::ConnId>,
        flags: u32,
    },
    /// SHUTDOWN ABORT: cancel a shutdown waiting for its save.
    AbortShutdown,
    /// DEBUG RELOAD from `conn` (blocked until reloaded): save the RDB file unless
    /// NOSAVE, empty the dataset unless NOFLUSH, load the file (MERGE: a key in both
    /// is replaced by the file's).
    DebugReload {
        conn: crate::io::ConnId,
        save: bool,
        flush: bool,
        merge: bool,
    },
    /// FLUSHALL with save points set: kill a running BGSAVE, save the empty dataset.
    FlushallSave,
}

/// The AOF's part of INFO persistence and of `-MISCONF`, filled by the AOF machine.
#[derive(Debug, Clone, Default)]
pub struct AofStatus {
    pub enabled: bool,
    pub rewrite_in_progress: bool,
    pub rewrite_scheduled: bool,
    /// Seconds the last rewrite took (None: never).
    pub last_rewrite_time_secs: Option<u64>,
    /// When the running rewrite started (monotonic ms).
    pub rewrite_started_mono_ms: Option<u64>,
    pub last_bgrewrite_ok: bool,
    pub rewrites: u64,
    pub rewrites_consecutive_failures: u64,
    /// The last write or fsync failed: the OS error text (`-MISCONF Errors writing
    /// to the AOF file: <text>` while set).
    pub last_write_error: Option<String>,
    pub last_cow_size_bytes: u64,
    /// The AOF is being appended to (not booting, not off): BGREWRITEAOF may run.
    pub appending: bool,
    /// A chain of disk operations (a rewrite's switch, a boot) is running: a
    /// BGREWRITEAOF now is scheduled.
    pub chain_running: bool,
    /// BGREWRITEAOF asked for a rewrite; the node takes it after the command.
    pub rewrite_asked: bool,
    /// INFO's fields shown while the AOF is on (`aof_current_size` ...).
    pub current_bytes: u64,
    pub base_bytes: u64,
    pub buffer_bytes: u64,
    pub fsync_in_flight: bool,
    pub delayed_fsyncs: u64,
}

/// Persistence state commands and INFO read (the machines live in `crate::persist`
/// and the node; this is their public face).
#[derive(Debug, Clone)]
pub struct PersistInfo {
    /// The dataset is being loaded at startup: commands without the `loading` flag
    /// get `-LOADING`.
    pub loading: bool,
    /// Booted, and the loader has not yet said whether there is anything to load:
    /// clients' input waits unparsed (as in Redis's listen backlog before it loads),
    /// then runs against the empty dataset (no file) or gets `-LOADING`.
    pub boot_probe: bool,
    pub loading_started_wall_secs: u64,
    pub loading_total_bytes: u64,
    pub loading_loaded_bytes: u64,
    pub loading_rdb_used_mem_bytes: u64,
    /// A snapshot (BGSAVE, SAVE or a shutdown's save) is running.
    pub bgsave_in_progress: bool,
    /// BGSAVE SCHEDULE (or a save point) waits for the running snapshot to end.
    pub bgsave_scheduled: bool,
    /// When the running snapshot started (monotonic ms).
    pub bgsave_started_mono_ms: Option<u64>,
    /// Unix seconds of the last successful save (LASTSAVE; the start time before).
    pub last_save_wall_secs: u64,
    /// Unix seconds of the last BGSAVE attempt (the save points' retry delay).
    pub last_bgsave_try_wall_secs: u64,
    pub last_bgsave_ok: bool,
    pub last_bgsave_time_secs: Option<u64>,
    /// Successful saves (`rdb_saves`).
    pub rdb_saves: u64,
    /// The most extra memory the last snapshot held (`rdb_last_cow_size`).
    pub last_cow_size_bytes: u64,
    /// The running snapshot's extra memory now and at its peak.
    pub current_extra_bytes: u64,
    pub current_extra_peak_bytes: u64,
    pub current_save_keys_processed: u64,
    pub current_save_keys_total: u64,
    pub last_load_keys_loaded: u64,
    pub last_load_keys_expired: u64,
    /// The replication history the loaded RDB recorded (`repl-id`, `repl-offset`,
    /// `repl-stream-db`): a replica continues it after a restart, a master keeps it
    /// as its previous history (`Node::repl_after_load`).
    pub loaded_repl: LoadedRepl,
    /// A shutdown waits for its save.
    pub shutdown_pending: bool,
    pub requests: Vec<PersistRequest>,
    pub aof: AofStatus,
}

/// The replication aux fields an RDB load found (Redis's `rdbSaveInfo`): each as
/// the file said, None when absent or unreadable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadedRepl {
    /// `repl-id`, only when it is 40 characters long (Redis's `repl_id_is_set`).
    pub replid: Option<String>,
    pub offset: Option<i64>,
    pub stream_db: Option<i64>,
}

impl LoadedRepl {
    /// (replid, offset, stream db) when the file carries a history to continue:
    /// an id, an offset and a database that are not -1 (Redis's loadDataFromDisk
    /// test; old versions saved a stream db of -1 by mistake).
    pub fn history(&self) -> Option<(String, u64, usize)> {
        let replid = self.replid.clone()?;
        let offset = u64::try_from(self.offset?).ok()?;
        let db = usize::try_from(self.stream_db?).ok()?;
        Some((replid, offset, db))
    }
}

impl PersistInfo {
    fn new(now: Now) -> PersistInfo {
        PersistInfo {
            loading: false,
            boot_probe: false,
            loading_started_wall_secs: 0,
            loading_total_bytes: 0,
            loading_loaded_bytes: 0,
            loading_rdb_used_mem_bytes: 0,
            bgsave_in_progress: false,
            bgsave_scheduled: false,
            bgsave_started_mono_ms: None,
            last_save_wall_secs: now.wall_ms / 1000,
            last_bgsave_try_wall_secs: 0,
            last_bgsave_ok: true,
            last_bgsave_time_secs: None,
            rdb_saves: 0,
            last_cow_size_bytes: 0,
            current_extra_bytes: 0,
            current_extra_peak_bytes: 0,
            current_save_keys_processed: 0,
            current_save_keys_total: 0,
            last_load_keys_loaded: 0,
            last_load_keys_expired: 0,
            loaded_repl: LoadedRepl::default(),
            shutdown_pending: false,
            requests: Vec::new(),
            aof: AofStatus {
                last_bgrewrite_ok: true,
                ..AofStatus::default()
            },
        }
    }

    /// Redis's `writeCommandsDeniedByDiskError`: the `-MISCONF` text write commands
    /// get, if any.
    /// A save or an AOF write failed (the cheap test every command makes before
    /// asking `write_denied_error`).
    #[inline]
    pub fn disk_error(&self) -> bool {
        !self.last_bgsave_ok || self.aof.last_write_error.is_some()
    }

    pub fn write_denied_error(&self, settings: &crate::config::Settings) -> Option<String> {
        if settings.stop_writes_on_bgsave_error
            && !settings.save_points.is_empty()
            && !self.last_bgsave_ok
        {
            return Some(MISCONF_RDB.to_string());
        }
        if self.aof.enabled {
            if let Some(e) = &self.aof.last_write_error {
                return Some(format!("MISCONF Errors writing to the AOF file: {e}"));
            }
        }
        None
    }
}

/// Redis 7.0's `shared.bgsaveerr`.
pub const MISCONF_RDB: &str = "MISCONF Redis is configured to save RDB snapshots, but it's currently unable to persist to disk. Commands that may modify the data set are disabled, because this instance is configured to report errors during writes if RDB snapshotting fails (stop-writes-on-bgsave-error option). Please check the Redis logs for details about the RDB error.";

/// Node-wide state handed to commands (`Ctx::server`).
pub struct Server {
    pub config: Config,
    pub hot: HotConfig,
    pub stats: Stats,
    /// Per-command stats, error codes, the slow log and the latency monitor, with the
    /// driver's command clock.
    pub observe: Observer,
    pub rng: ChaCha8Rng,
    pub mutants: Mutants,
    /// The propagation stream (`crate::propagate`).
    pub propagation: Propagation,
    /// Commands that changed the dataset (Redis's `server.dirty`, counted once per
    /// command rather than per key).
    pub dirty: u64,
    /// What the driver is asked to do, in order.
    pub effects: VecDeque<Effect>,
    pub run_id: String,
    /// The replication identity (INFO `master_replid`, `master_repl_offset` ...);
    /// the replid starts as the run id.
    pub repl: crate::repl::ReplIds,
    /// The link to this node's master when it is a replica (`crate::repl::replica`).
    pub replica: crate::repl::replica::ReplicaLink,
    /// The master's side of replication (`crate::repl::master`): replica links, the
    /// backlog, WAIT.
    pub repl_master: crate::repl::master::MasterState,
    pub started: Now,
    pub active_expire_enabled: bool,
    /// DEBUG PAUSE-CRON: timers (active expiry, idle clients, the query-buffer cron)
    /// stop while set.
    pub cron_paused: bool,
    /// DEBUG QUICKLIST-PACKED-THRESHOLD (keel's lists have no plain nodes; kept and
    /// validated as Redis does).
    pub quicklist_packed_threshold_bytes: u64,
    pub shutting_down: bool,
    /// A bounded eviction left memory over `maxmemory`: the node keeps evicting at
    /// once, between inputs (Redis's `evictionTimeProc`).
    pub eviction_running: bool,
    /// The process's resident set size, reported by a production driver for INFO.
    pub rss_bytes: Option<u64>,
    /// When the cron may next ask for a purge on its own (`Node::auto_purge`).
    pub auto_purge: AutoPurge,
    pub process: ProcessInfo,
    /// The pause in force, if any (see `ClientPause`): CLIENT PAUSE's and a
    /// FAILOVER's together (`set_pause`), what every command checks.
    pub pause: Option<ClientPause>,
    /// CLIENT PAUSE's own pause (Redis's `PAUSE_BY_CLIENT_COMMAND`): CLIENT UNPAUSE
    /// ends this one, not a FAILOVER's.
    pub client_pause: Option<ClientPause>,
    /// A FAILOVER holds writes (Redis's `PAUSE_DURING_FAILOVER`) until it ends.
    pub failover_pause: bool,
    /// FAILOVER's state (`crate::repl::failover`; the node drives it).
    pub failover: crate::repl::failover::Failover,
    /// A demoted master's writes its new master may lack (`crate::repl::rollback`).
    pub rollback: crate::repl::rollback::Rollback,
    /// The pause ended or became less restrictive: the node lets held clients try
    /// again after the running command.
    pub pause_relaxed: bool,
    /// A CONFIG SET of `bind`/`port` waiting for the driver's `Input::Listened`.
    pub pending_listen: Option<PendingListen>,
    /// A CONFIG SET of `dir` waiting for the driver's chdir (`DiskOp::ChangeDir`).
    pub pending_dir: Option<PendingDir>,
    /// The process's open-files limit, as the driver raised it (None: not known);
    /// CONFIG SET maxclients must fit in it, 32 descriptors kept aside, as in Redis.
    pub open_files_limit: Option<u64>,
    /// CONFIG REWRITE in progress (`Node::rewrite_step` drives it).
    pub rewrite: Option<Rewrite>,
    /// Persistence state (snapshots, loading, the AOF's status) and requests.
    pub persist: PersistInfo,
    /// The next disk operation id (`draw_io_id`); one counter for every subsystem
    /// that touches the disk, so ids never repeat in a node's life.
    next_io_id: u64,
}

impl Server {
    pub fn new(config: Config, rng: ChaCha8Rng, run_id: String, now: Now) -> Server {
        Server {
            hot: HotConfig::from(&config),
            config,
            stats: Stats::default(),
            observe: Observer::default(),
            rng,
            mutants: Mutants::default(),
            propagation: Propagation::default(),
            dirty: 0,
            effects: VecDeque::new(),
            repl: crate::repl::ReplIds::new(run_id.clone()),
            replica: Default::default(),
            repl_master: Default::default(),
            run_id,
            started: now,
            active_expire_enabled: true,
            cron_paused: false,
            quicklist_packed_threshold_bytes: 1 << 30,
            shutting_down: false,
            eviction_running: false,
            rss_bytes: None,
            auto_purge: AutoPurge::default(),
            process: ProcessInfo::default(),
            persist: PersistInfo::new(now),
            next_io_id: 1,
            pause: None,
            client_pause: None,
            failover_pause: false,
            failover: Default::default(),
            rollback: Default::default(),
            pause_relaxed: false,
            pending_listen: None,
            pending_dir: None,
            rewrite: None,
            open_files_limit: None,
        }
    }

    pub fn log(&mut self, level: LogLevel, message: String) {
        self.effects.push_back(Effect::Log { level, message });
    }

    /// Re-reads the hot values after a config change; true when the output-buffer
    /// limits changed (every client's limit must then be re-armed).
    pub fn refresh_hot(&mut self) -> bool {
        let limits_before = self.hot.output_limits;
        self.hot = HotConfig::from(&self.config);
        limits_before != self.hot.output_limits
    }

    /// A fresh id for a disk operation (`Effect::Disk`). The subsystem that draws it
    /// keeps it pending and claims its completion in `Node::on_disk_completion`.
    pub fn draw_io_id(&mut self) -> crate::io::IoId {
        let id = self.next_io_id;
        self.next_io_id = self.next_io_id.wrapping_add(1);
        crate::io::IoId(id)
    }

    /// Sets CLIENT PAUSE's pause and FAILOVER's, and the pause in force from both
    /// (the more restrictive mode; a FAILOVER's write pause has no end). A pause that
    /// became less restrictive lets held clients try again.
    pub fn set_pause(&mut self, client: Option<ClientPause>, failover: bool) {
        self.client_pause = client;
        self.failover_pause = failover;
        let before = self.pause;
        self.pause = match (client, failover) {
            (c, false) => c,
            (None, true) => Some(ClientPause {
                mode: PauseMode::Write,
                end_mono_ms: u64::MAX,
            }),
            (Some(c), true) if c.mode == PauseMode::All => Some(c),
            (Some(_), true) => Some(ClientPause {
                mode: PauseMode::Write,
                end_mono_ms: u64::MAX,
            }),
        };
        let relaxed = match (before, self.pause) {
            (Some(_), None) => true,
            (Some(b), Some(a)) => a.mode < b.mode,
            _ => false,
        };
        if relaxed {
            self.pause_relaxed = true;
        }
    }

    /// The replication id INFO reports as `master_replid`.
    pub fn repl_id(&self) -> &str {
        &self.repl.replid
    }

    /// The (offset, stream database) an RDB save records with the replication id
    /// (Redis's `rdbPopulateSaveInfo`): a replica's position and the database its
    /// master's stream has selected; a master's only when it has a backlog (it is in
    /// a replication chain), with the database its own stream selected last (0 when
    /// none: its next write selects one). None: the file records no history.
    pub fn rdb_repl_position(&self) -> Option<(u64, usize)> {
        let offset = self.repl.master_repl_offset;
        if self.replica.is_replica() {
            return Some((offset, self.replica.stream_db));
        }
        let stream = &self.repl_master;
        stream.backlog.as_ref()?;
        Some((offset, stream.encoder.selected_db().unwrap_or(0)))
    }

    /// Whether used memory (asked of `used_bytes` only when `maxmemory` is set) is
    /// over `maxmemory`; eviction (`Clients::evict_keys`) brings it back under.
    pub fn over_maxmemory(&self, used_bytes: impl FnOnce() -> usize) -> bool {
        let max = self.hot.maxmemory_bytes;
        max > 0 && used_bytes() as u64 > max
    }
}

/// What CLIENT PAUSE holds (Redis's `pause_type`): `All` every command, `Write` the
/// commands that may change the dataset or replicate (writes, PUBLISH, an EXEC
/// with a queued write). Ordered: `All` is the more restrictive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum PauseMode {
    Write,
    All,
}

/// A CLIENT PAUSE in force. While it lasts the dataset stays as it is: held commands
/// wait (their clients are "postponed"), keys that expire are reported missing but
/// not deleted, and nothing is evicted (Redis 7.0's `checkClientPauseTimeoutAndReturnIfPaused`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientPause {
    pub mode: PauseMode,
    /// When it ends on the monotonic clock.
    pub end_mono_ms: u64,
}

impl ClientPause {
    /// Whether a command with these properties waits: every command under `All`;
    /// under `Write`, Redis's `is_may_replicate_command`.
    pub fn holds(&self, may_replicate: bool) -> bool {
        self.mode == PauseMode::All || may_replicate
    }
}

/// A CONFIG SET that changes the listeners (`bind`, `port`) and waits for the driver
/// to open them (`Effect::Listen`, answered by `Input::Listened` with `io`).
#[derive(Debug)]
pub struct PendingListen {
    pub io: crate::io::IoId,
    /// The client that asked; it gets `+OK` or `error` when the answer comes.
    pub conn: crate::io::ConnId,
    pub outcome: ListenOutcome,
    /// Redis's reply if the listen fails.
    pub error: Vec<u8>,
}

#[derive(Debug)]
pub enum ListenOutcome {
    /// The client waits; the whole CONFIG SET is committed only if the listen works.
    Commit(Box<Config>),
    /// Inside EXEC, which cannot wait: the change was applied and answered at once;
    /// a failed listen puts back these `bind` and `port` values and logs it.
    Undo { bind: String, port: String },
}

/// A CONFIG SET that changes `dir`: Redis chdirs before answering and fails the whole
/// CONFIG SET with chdir's error. keel asks the driver (`DiskOp::ChangeDir`, in order
/// with the other disk operations) and answers when it has (`Node::config_dir_done`).
#[derive(Debug)]
pub struct PendingDir {
    pub io: crate::io::IoId,
    /// The client that asked (None inside EXEC: answered already).
    pub conn: Option<crate::io::ConnId>,
    /// The config to commit when the chdir works (None inside EXEC: applied already).
    pub next: Option<Box<Config>>,
    /// `dir` before, put back when the chdir fails inside EXEC.
    pub previous: Vec<u8>,
    /// The directive's name for the error (Redis's `config->name`).
    pub name: Vec<u8>,
}

/// A CONFIG REWRITE in progress: one disk operation at a time, each started when the
/// one before is answered, so a failure stops before the rename.
#[derive(Debug)]
pub struct Rewrite {
    /// The operation in flight.
    pub io: crate::io::IoId,
    /// The client waiting for the answer (None inside EXEC: answered already).
    pub conn: Option<crate::io::ConnId>,
    /// The config file (absolute) and the temporary file beside it.
    pub path: String,
    pub tmp: String,
    pub step: RewriteStep,
    /// Set once a step failed: the temporary file is being removed.
    pub failed: Option<crate::io::DiskError>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RewriteStep {
    Reading,
    Opening(Vec<u8>),
    Writing,
    Syncing,
    Closing,
    Renaming,
    /// fsync of the config file's directory after the rename (Redis's `fsyncFileDir`),
    /// so the new name survives a crash.
    SyncingDir,
    Cleaning,
}

/// The cron's own purges of memory the allocator holds free (`Node::auto_purge`).
#[derive(Debug, Clone, Copy, Default)]
pub struct AutoPurge {
    /// Monotonic time before which no purge is asked for.
    pub next_mono_ms: u64,
    /// The RSS when the last purge was asked for, until the next tick judges it.
    pub rss_before: Option<u64>,
    /// Purges the cron has asked for.
    pub count: u64,
}
