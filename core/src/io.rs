//! The contract between a node and whatever drives it (keel-net in production, keel-sim
//! in simulation): the ids, the time a node is handed, and the two enums — what happened
//! outside ([`Input`]) and what the node asks for ([`Effect`]).
//!
//! A leaf: it imports nothing of keel-core, so every module may import it and nothing
//! here can grow a cycle. Every outbound connection the node asks for is answered by
//! exactly one `Connected` or `ConnectFailed`; every disk operation by exactly one
//! `Disk` completion carrying the same [`IoId`]. After the node's own `Close` or
//! `Abort` of a connection the driver says nothing more about it: no `Closed`, and no
//! `Connected`/`ConnectFailed` for a connect not yet answered.

use std::any::Any;

/// A connection, accepted or asked for; chosen by the driver for accepted ones and by
/// the node for outbound ones (see [`Effect::Connect`]). Ids never repeat in a process.
pub type ConnId = u64;

/// Outbound connection ids the node draws start here, so they never meet the ids a
/// driver hands out for accepted connections (which count up from 1).
pub const OUTBOUND_CONN_ID_BASE: ConnId = 1 << 62;

/// A disk operation, drawn by the node; its completion carries it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IoId(pub u64);

/// The time a node is handed: a monotonic clock for timers and a wall clock (unix ms)
/// for TTLs. The simulator skews and jumps them independently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Now {
    pub mono_ms: u64,
    pub wall_ms: u64,
}

impl Now {
    pub fn mono_secs(&self) -> u32 {
        (self.mono_ms / 1000) as u32
    }
}

/// Which listening socket accepted a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Listener {
    /// The client port (`port`, `bind`).
    #[default]
    Client,
    /// The cluster bus (`port` + 10000, `cluster-port`); nothing listens on it yet.
    ClusterBus,
}

/// Why a connection ended, as the driver saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed its side (read returned 0).
    PeerClosed,
    /// The connection was reset or a read/write failed; the OS error text.
    Error(String),
    /// The driver dropped it (a partition's reset in the simulator, shutdown).
    Dropped,
}

/// Signals a driver passes on. The node decides what they mean (SIGTERM and SIGINT
/// schedule a shutdown as Redis's do; SIGHUP reloads the config file, which Redis
/// ignores).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Terminate,
    Interrupt,
    Hangup,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Terminate => "SIGTERM",
            Signal::Interrupt => "SIGINT",
            Signal::Hangup => "SIGHUP",
        }
    }
}

/// A disk operation. Paths are relative to the node's `dir`; the driver keeps open
/// files by path, so `Append`/`WriteAt`/`Fsync` after `Open` need no handle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskOp {
    /// Opens (creating when `create`, emptying when `truncate`) for later writes.
    Open {
        path: String,
        create: bool,
        truncate: bool,
    },
    /// Appends at the end of an open file.
    Append { path: String, bytes: Vec<u8> },
    /// Writes at an offset of an open file.
    WriteAt {
        path: String,
        offset: u64,
        bytes: Vec<u8>,
    },
    /// fsync(2) of a file or a directory ("." for `dir` itself).
    Fsync { path: String },
    /// rename(2): atomic replace of `to`.
    Rename { from: String, to: String },
    /// Cuts a file to `len` bytes.
    Truncate { path: String, len: u64 },
    /// Removes a file (and forgets it if open). A missing file is `NotFound`.
    Remove { path: String },
    /// Reads up to `len` bytes from `offset` (fewer at the end of the file).
    Read { path: String, offset: u64, len: u64 },
    /// Closes an open file (without fsync).
    Close { path: String },
    /// chdir(2) for the node's files (CONFIG SET dir): later operations' relative
    /// paths are under `path` (absolute, or relative to the directory now); files
    /// already open stay open where they are. `Done` carries the new directory's
    /// absolute path (Redis's getcwd, what CONFIG GET dir then shows); a path that is
    /// missing, not a directory or not searchable fails as chdir(2) would.
    ChangeDir { path: String },
}

impl DiskOp {
    /// The file the operation is about (the source of a rename).
    pub fn path(&self) -> &str {
        match self {
            DiskOp::Open { path, .. }
            | DiskOp::Append { path, .. }
            | DiskOp::WriteAt { path, .. }
            | DiskOp::Fsync { path }
            | DiskOp::Truncate { path, .. }
            | DiskOp::Remove { path }
            | DiskOp::Read { path, .. }
            | DiskOp::Close { path }
            | DiskOp::ChangeDir { path } => path,
            DiskOp::Rename { from, .. } => from,
        }
    }
}

/// Why a disk operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskError {
    /// EIO and anything else the OS reports.
    Io,
    /// ENOSPC / EDQUOT.
    NoSpace,
    /// ENOENT.
    NotFound,
    /// ENOTDIR.
    NotADirectory,
    /// EACCES / EPERM.
    PermissionDenied,
}

/// The answer to one [`DiskOp`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiskResult {
    /// Done; for `Read`, the bytes read (empty at end of file).
    Done {
        read: Vec<u8>,
    },
    Failed(DiskError),
}

/// What happened outside the node.
#[derive(Debug)]
pub enum Input<'a> {
    /// A listener accepted a connection. `peer`/`local` are `ip:port` texts.
    Accepted {
        conn: ConnId,
        listener: Listener,
        peer: String,
        local: String,
        peer_is_loopback: bool,
    },
    /// An outbound connection the node asked for (`Effect::Connect`) is up.
    Connected { conn: ConnId },
    /// An outbound connection the node asked for could not be made; the OS error text.
    ConnectFailed { conn: ConnId, error: String },
    /// Bytes arrived on a connection.
    Data { conn: ConnId, bytes: &'a [u8] },
    /// The driver wrote this many bytes of a connection's output (what `Send` effects
    /// handed it) to the socket. Output the driver still holds counts against the
    /// client's `client-output-buffer-limit`, so a driver reports every write; one that
    /// never does makes every byte it was sent count for good. (This is the contract's
    /// "drained": the node knows a connection's queue is empty when its unwritten count
    /// reaches zero.)
    Written { conn: ConnId, bytes: usize },
    /// The connection ended.
    Closed { conn: ConnId, reason: CloseReason },
    /// A disk operation finished. `elapsed_us` is how long the operation itself took
    /// as the driver measured it (keel-net: the system calls on its disk thread, not
    /// the wait in the queue; keel-sim: the modelled service time), or 0 when unknown.
    /// Only the latency monitor reads it (`aof-fsync-always`, `aof-write` ...), so a
    /// driver's clock never changes what the node does.
    Disk {
        io: IoId,
        result: DiskResult,
        elapsed_us: u64,
    },
    /// The answer to an [`Effect::Listen`] with the same `io`: the client listeners are
    /// now the ones asked for, or (`Err`, the driver's log-ready reason) they are
    /// still the ones open before.
    Listened {
        io: IoId,
        result: Result<(), String>,
    },
    /// A signal arrived.
    Signal(Signal),
    /// A deadline passed (or the driver just wants timers run).
    Tick,
}

/// What the node asks the driver to do, in order.
#[derive(Debug)]
pub enum Effect {
    /// Write these bytes to the connection.
    Send { conn: ConnId, bytes: Vec<u8> },
    /// Close the connection once what was sent before is flushed.
    Close { conn: ConnId },
    /// Close the connection now, discarding output not yet written: a client over
    /// its output-buffer limit (Redis frees such a client without flushing).
    Abort { conn: ConnId },
    /// Open a connection to `addr` (`host:port`); answered by `Connected` or
    /// `ConnectFailed` for `conn`.
    Connect { conn: ConnId, addr: String },
    /// Run a disk operation; answered by exactly one `Input::Disk` with `io`.
    Disk { io: IoId, op: DiskOp },
    /// Listen for clients on `bind` (Redis's `bind` words: addresses, `*`, `::*`, an
    /// optional leading `-` for "may be unavailable"; none means every IPv4 address)
    /// at `port` with `backlog`, instead of the client listeners open now (Redis's
    /// `changeListenPort`: the new sockets are opened first, the old ones closed only
    /// when all opened). Answered by exactly one `Input::Listened` with `io`;
    /// connections already accepted are not touched either way.
    Listen {
        io: IoId,
        bind: Vec<String>,
        port: u16,
        backlog: u32,
    },
    /// Stop accepting work and exit the process with this code.
    Shutdown { exit_code: i32 },
    /// Block the whole node for this long (DEBUG SLEEP).
    Sleep { ms: u64 },
    /// A log line at a Redis log level.
    Log { level: LogLevel, message: String },
    /// Memory to free off the event loop (lazyfree: big deleted values, flushed
    /// databases). Drop it; a production driver drops it on another thread.
    Free { garbage: Box<dyn Any + Send> },
    /// Give memory the allocator holds free back to the OS (MEMORY PURGE). A driver
    /// whose allocator has nothing to give back ignores it.
    PurgeMemory,
}

impl PartialEq for Effect {
    /// Garbage is never equal to anything: two `Free`s hold different memory.
    fn eq(&self, other: &Effect) -> bool {
        use Effect::*;
        match (self, other) {
            (Send { conn: a, bytes: x }, Send { conn: b, bytes: y }) => a == b && x == y,
            (Close { conn: a }, Close { conn: b }) | (Abort { conn: a }, Abort { conn: b }) => {
                a == b
            }
            (Connect { conn: a, addr: x }, Connect { conn: b, addr: y }) => a == b && x == y,
            (Disk { io: a, op: x }, Disk { io: b, op: y }) => a == b && x == y,
            (
                Listen {
                    io: a,
                    bind: x,
                    port: p,
                    backlog: l,
                },
                Listen {
                    io: b,
                    bind: y,
                    port: q,
                    backlog: m,
                },
            ) => a == b && x == y && p == q && l == m,
            (Shutdown { exit_code: a }, Shutdown { exit_code: b }) => a == b,
            (Sleep { ms: a }, Sleep { ms: b }) => a == b,
            (PurgeMemory, PurgeMemory) => true,
            (
                Log {
                    level: a,
                    message: x,
                },
                Log {
                    level: b,
                    message: y,
                },
            ) => a == b && x == y,
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Debug,
    Verbose,
    Notice,
    Warning,
}

/// How a node measures time inside a command (SLOWLOG, LATENCY, INFO commandstats and
/// latencystats): a reader of a microsecond counter the driver hands in with
/// `Node::set_command_clock`, read twice around each command. The node itself never
/// reads a clock; what the counter means is the driver's choice:
///
/// - keel-net reads the monotonic clock (`Instant`), so durations are real;
/// - the simulator and core tests hand in a modelled cost (a counter advanced by a
///   cost per argument byte, say) so a seed replays bit for bit.
///
/// With no clock set every duration is 0: deterministic, and commandstats still count
/// calls. Only differences between two readings are used, so the origin is free.
pub trait CommandClock: Send {
    fn now_micros(&mut self) -> u64;
}
