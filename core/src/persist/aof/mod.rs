//! Redis 7.0's multi-part AOF: the manifest and file naming (`manifest`), the writer
//! with its fsync policies and group commit (`writer`), loading at boot (`loader`),
//! the AOF-commands form of a key for rewrites (`rewrite`), and the state the node
//! keeps between them (`AofState`, which INFO reads). The node (`node/aof.rs`) wires
//! them to the propagation stream, the disk effects and the clients' replies.

pub mod loader;
pub mod manifest;
pub mod rewrite;
pub mod writer;

use std::collections::{BTreeMap, VecDeque};

use crate::io::{DiskOp, Effect, IoId};
use crate::propagate::StreamEncoder;

use loader::Loader;
use manifest::Manifest;
use writer::{AofWriter, WriteTag};

/// Where the AOF is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Phase {
    /// `appendonly no` (or not started yet).
    #[default]
    Off,
    /// Reading the manifest, loading the files, creating the first ones: clients wait.
    Booting,
    /// Appending the propagation stream.
    On,
    /// A write or fsync failed under `always`: the node exits; nothing more is done.
    Fatal,
}

/// What an in-flight disk operation was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AofIo {
    Write(WriteTag),
    /// The manifest read at boot.
    ManifestRead,
    /// The manifest read by a BGREWRITEAOF with `appendonly no`.
    OffManifestRead,
    /// Boot: is there a Redis 6 style `appendonly.aof` in `dir` (`in_dir: false`), or
    /// the manifest's base of that name in the AOF directory (`in_dir: true`)?
    LegacyProbe {
        in_dir: bool,
    },
    /// A chunk of a file being loaded.
    LoadRead,
    /// A step of the current chain (boot setup, rewrite): one at a time, in order.
    Chain,
    /// Cleanup whose outcome does not matter (a failed rewrite's temp file).
    Ignore,
}

/// What to do when the chain of disk operations ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainEnd {
    /// The files exist and the manifest names them: append to `incr`.
    StartWriting { incr: String, incr_bytes: u64 },
    /// A rewrite's new base and manifest are durable: delete these history files.
    RewriteDone { history: Vec<String> },
    /// An old single-file AOF was moved into the directory and named as the base by
    /// a durable manifest: load the files.
    Migrated,
    /// Nothing (history deletions).
    Nothing,
}

/// One step of a chain: a disk operation, or a point where the node acts.
#[derive(Debug)]
pub enum Step {
    Disk(DiskOp),
    /// The new incr file is named by a durable manifest: the writer may append.
    Unpause,
    /// Switch the manifest in memory to this one (it is durable on disk now).
    Adopt(Box<Manifest>),
    /// Append the rewrite's walk output to this temp file until the walk ends.
    Walk(String),
}

/// A sequence of disk operations run one after the other; a failure stops it.
#[derive(Debug, Default)]
pub struct Chain {
    pub steps: VecDeque<Step>,
    pub in_flight: bool,
    /// The operation in flight (named when it fails).
    pub last_op: Option<DiskOp>,
    pub end: Option<ChainEnd>,
    /// Failures are fatal (boot) or only fail the rewrite.
    pub fatal_on_error: bool,
}

/// The AOF's state, inside the node's `Server` so commands (INFO, BGREWRITEAOF,
/// CONFIG SET) can read it.
#[derive(Default)]
pub struct AofState {
    pub phase: Phase,
    pub manifest: Manifest,
    pub writer: Option<AofWriter>,
    pub encoder: StreamEncoder,
    /// Disk operations in flight and what each is for.
    pub pending: BTreeMap<IoId, AofIo>,
    /// Effects (replies, closes, a shutdown) waiting for the stream offset they
    /// follow to be durable, in the order they were produced.
    pub held: VecDeque<(u64, Effect)>,
    pub chain: Option<Chain>,
    pub loader: Option<Loader>,
    /// The fake client loaded commands run as.
    pub load_client: Option<crate::client::Client>,
    /// The manifest read so far at boot.
    pub manifest_bytes: Vec<u8>,
    /// `#TS:` annotations: the last second written.
    pub last_timestamp_secs: u64,
    pub load_started_ms: u64,
    /// A BGREWRITEAOF was asked for (command, auto rewrite, CONFIG SET appendonly yes).
    pub rewrite_requested: bool,
    pub rewrite: Option<rewrite::Rewrite>,
    pub stats: AofStats,
    /// Truncations of a torn tail found while loading, run before appending.
    pub boot_truncates: Vec<DiskOp>,
    /// A shutdown is among the held effects: the writer fsyncs whatever the policy.
    pub shutdown_held: bool,
    /// The boot decision was made (`appendonly` read once at start).
    pub booted: bool,
    /// The node's hash seeds (RDB preambles build sets and hashes with them).
    pub hash_seeds: [u64; 4],
    /// The running rewrite's fork-less walk of the dataset.
    pub walk: Option<rewrite::Walk>,
    /// Redis's `aofRewriteLimited` state: after repeated failures, automatic
    /// rewrites wait this many minutes (1, 2, 4 ... 60) ...
    pub limit_delay_minutes: u64,
    /// ... until this monotonic time.
    pub limit_next_rewrite_ms: Option<u64>,
    /// The BGREWRITEAOF waiting in `rewrite_requested` was answered "scheduled" (a
    /// BGSAVE or a chain was running): like the automatic one, it waits out the
    /// back-off (Redis's serverCron checks `aofRewriteLimited` for both).
    pub rewrite_was_scheduled: bool,
    /// A BGREWRITEAOF with `appendonly no` is reading the manifest (its first step).
    pub off_manifest_reading: bool,
}

/// Counters and sizes INFO reports (`aof_*`).
#[derive(Debug, Default, Clone)]
pub struct AofStats {
    pub rewrites: u64,
    pub rewrites_consecutive_failures: u64,
    pub last_bgrewrite_ok: bool,
    pub last_rewrite_time_secs: Option<u64>,
    pub rewrite_started_ms: Option<u64>,
    /// Bytes of the base and of the base + incrs (`aof_base_size`, `aof_current_size`).
    pub base_bytes: u64,
    pub incr_bytes_before_current: u64,
    /// `aof_current_size` after the last rewrite or load (auto rewrite's base).
    pub rewrite_base_bytes: u64,
}

impl AofState {
    /// `appendonly` state as INFO says it.
    pub fn enabled(&self) -> bool {
        matches!(self.phase, Phase::On | Phase::Booting)
    }

    /// Clients' commands wait while the AOF boots.
    pub fn blocks_clients(&self) -> bool {
        self.phase == Phase::Booting
    }

    /// `aof_current_size`.
    pub fn current_bytes(&self) -> u64 {
        let incr = self.writer.as_ref().map_or(0, |w| w.file_bytes());
        self.stats
            .base_bytes
            .saturating_add(self.stats.incr_bytes_before_current)
            .saturating_add(incr)
    }

    /// Why writes are refused (`-MISCONF Errors writing to the AOF file: ...`).
    pub fn misconf(&self) -> Option<String> {
        if self.phase != Phase::On {
            return None;
        }
        let reason = self.writer.as_ref()?.misconf_reason()?;
        Some(format!(
            "MISCONF Errors writing to the AOF file: {}",
            writer::strerror(reason)
        ))
    }
}
