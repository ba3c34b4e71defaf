//! Per-connection client state: query buffer and parser position, selected database,
//! protocol version, authentication, name, reply mode, the MULTI queue and the
//! pub/sub subscriptions. Owned by the node, keyed by the driver's connection id;
//! holds no socket.

use std::collections::BTreeMap;

use crate::config::ClientOutputBufferLimit;
use crate::io::ConnId;
use crate::multi::MultiState;
use crate::pubsub::ClientSubs;
use crate::resp::{ReplyBuf, Request, RequestParser};

/// Redis's `PROTO_REPLY_CHUNK_BYTES`: the size of its static reply buffer and of
/// each reply-list node, used to present unsent output as CLIENT LIST does.
const REPLY_CHUNK_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Set while the command after CLIENT REPLY SKIP runs.
    Skipping,
}

#[derive(Debug)]
pub struct Client {
    /// CLIENT ID: unique, increasing, never reused.
    pub id: u64,
    pub conn: ConnId,
    pub peer: String,
    pub local: String,
    pub name: Option<Vec<u8>>,
    pub db: usize,
    pub out: ReplyBuf,
    pub(crate) qbuf: Vec<u8>,
    pub(crate) parser: RequestParser,
    pub(crate) request: Request,
    pub authenticated: bool,
    pub created_mono_ms: u64,
    pub last_interaction_mono_ms: u64,
    /// The last command run as (container, subcommand) names, for CLIENT LIST's
    /// `cmd=client|list`; static names so dispatch never allocates.
    pub last_command: (&'static str, Option<&'static str>),
    pub reply_mode: ReplyMode,
    pub no_evict: bool,
    pub no_touch: bool,
    /// The replica's link to its master (`node::repl_replica`): runs the master's
    /// stream, replies dropped (CLIENT LIST flag `M`).
    pub is_master: bool,
    pub close_after_reply: bool,
    /// The peer is on a loopback address (protected mode, `enable-debug-command local`).
    pub is_local: bool,
    /// More requests wait in the query buffer behind the one running.
    pub more_pipelined: bool,
    /// Parked by a blocking command (`crate::blocking`): its input waits meanwhile.
    pub blocked: bool,
    /// Its command waits for a CLIENT PAUSE to end (Redis's `BLOCKED_POSTPONE`): the
    /// command and what follows stay in the query buffer, run again when it ends.
    pub postponed: bool,
    /// Waits for the driver (new listeners for CONFIG SET bind/port, the file work of
    /// CONFIG REWRITE): its reply and what follows in its query buffer wait meanwhile.
    pub awaiting_driver: bool,
    /// Blocking commands answer at once as if timed out (MULTI/EXEC, scripts).
    pub deny_blocking: bool,
    /// Inside MULTI (`CLIENT_MULTI`): the queued commands. Still Some while EXEC runs
    /// them, so a command can tell it runs inside a transaction (as blocking ones must).
    pub multi: Option<MultiState>,
    /// Channels, patterns and shard channels this client listens to.
    pub subs: ClientSubs,
    /// Reply bytes handed to the driver (`Effect::Send`) that it has not reported
    /// written to the socket yet (`Input::Written`): Redis's reply list. Counted
    /// against `client-output-buffer-limit` and in `used_memory`.
    pub(crate) unwritten_bytes: usize,
    /// When the output first went over its class's soft limit (monotonic ms).
    pub(crate) obuf_soft_since_ms: Option<u64>,
    /// Over its output limit: closed at once, its pending output discarded
    /// (Redis's `CLIENT_CLOSE_ASAP`); nothing more is read or run for it.
    pub(crate) close_asap: bool,
    /// Largest query buffer length since the last cron pass (Redis's `querybuf_peak`).
    pub(crate) qbuf_peak: usize,
    /// Largest reply buffer length since the last cron pass (CLIENT LIST `rbp`).
    pub(crate) out_peak: usize,
    /// A replica of this node (after its PSYNC/SYNC; Redis's `CLIENT_SLAVE`).
    pub is_replica: bool,
    /// The propagation record its last write ended at
    /// (`Propagation::recorded_total`; Redis's `woff`, counted in records): WAIT
    /// waits for the stream offset that record reached.
    pub woff_seq: u64,
}

impl Client {
    /// Blocking commands answer at once as if timed out: inside MULTI/EXEC, or when
    /// the client was marked so (Redis's `CLIENT_DENY_BLOCKING`).
    pub fn may_not_block(&self) -> bool {
        self.deny_blocking || self.multi.is_some()
    }

    pub fn new(
        id: u64,
        conn: ConnId,
        peer: String,
        local: String,
        now_mono_ms: u64,
        authenticated: bool,
    ) -> Self {
        Client {
            id,
            conn,
            peer,
            local,
            name: None,
            db: 0,
            out: ReplyBuf::default(),
            qbuf: Vec::new(),
            parser: RequestParser::default(),
            request: Request::default(),
            authenticated,
            created_mono_ms: now_mono_ms,
            last_interaction_mono_ms: now_mono_ms,
            last_command: ("NULL", None),
            reply_mode: ReplyMode::On,
            no_evict: false,
            no_touch: false,
            is_master: false,
            close_after_reply: false,
            more_pipelined: false,
            is_local: false,
            blocked: false,
            postponed: false,
            awaiting_driver: false,
            deny_blocking: false,
            multi: None,
            subs: ClientSubs::default(),
            unwritten_bytes: 0,
            obuf_soft_since_ms: None,
            close_asap: false,
            qbuf_peak: 0,
            out_peak: 0,
            is_replica: false,
            woff_seq: 0,
        }
    }

    /// Bytes this client holds in buffers, counted in `used_memory`.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Client>()
            + self.qbuf.capacity()
            + self.out.capacity()
            + self.unwritten_bytes
            + self.multi.as_ref().map_or(0, |m| m.queued_bytes)
    }

    /// What Redis's `freeMemoryGetNotCountedMemory` leaves out of the eviction
    /// decision for this client: a replica's output (the replication stream waiting
    /// for it), so that evicting keys, whose DELs add to that output, cannot feed
    /// itself. Other clients: 0.
    pub fn not_counted_for_evict_bytes(&self) -> usize {
        if self.is_replica {
            self.out.capacity() + self.unwritten_bytes
        } else {
            0
        }
    }

    /// Output not yet on the socket: in the reply buffer or held by the driver.
    pub fn output_bytes(&self) -> usize {
        self.unwritten_bytes.saturating_add(self.out.len())
    }

    /// In pub/sub mode: RESP2 restricts its commands, and it takes the pubsub output class.
    pub fn is_pubsub(&self) -> bool {
        self.subs.active()
    }

    /// Redis's `getClientType` as CLIENT LIST/KILL TYPE spells it (`slave` is
    /// `replica`).
    pub fn type_name(&self) -> &'static str {
        if self.is_replica {
            "replica"
        } else if self.is_pubsub() {
            "pubsub"
        } else {
            "normal"
        }
    }

    /// The line CLIENT LIST and CLIENT INFO print for this client, in Redis 7.0's field order.
    pub fn info_line(&self, now_mono_ms: u64) -> String {
        self.info_line_with(now_mono_ms, false)
    }

    /// `info_line` with the node-held state it cannot see: `watch_dirty` is
    /// `CLIENT_DIRTY_CAS` (flag `d`: a watched key changed).
    pub fn info_line_with(&self, now_mono_ms: u64, watch_dirty: bool) -> String {
        let age = now_mono_ms.saturating_sub(self.created_mono_ms) / 1000;
        let idle = now_mono_ms.saturating_sub(self.last_interaction_mono_ms) / 1000;
        let name = self
            .name
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let mut flags = String::new();
        if self.is_master {
            flags.push('M');
        }
        if self.is_replica {
            flags.push('S');
        }
        if self.is_pubsub() {
            flags.push('P');
        }
        if self.multi.is_some() {
            flags.push('x');
        }
        if self.blocked || self.postponed {
            flags.push('b');
        }
        if watch_dirty {
            flags.push('d');
        }
        if self.close_asap {
            flags.push('A');
        } else if self.close_after_reply {
            flags.push('c');
        }
        if self.no_evict {
            flags.push('e');
        }
        if self.no_touch {
            flags.push('T');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        // Redis keeps the first 16 KB of replies in a fixed buffer (`obl`) and the
        // rest in a list of 16 KB nodes (`oll` nodes, `omem` bytes); keel's unsent
        // output is one stream, shown the same way.
        let pending = self.output_bytes();
        let obl = pending.min(REPLY_CHUNK_BYTES);
        let omem = pending - obl;
        let oll = omem.div_ceil(REPLY_CHUNK_BYTES);
        let resp = match self.out.proto {
            crate::resp::Proto::Resp2 => 2,
            crate::resp::Proto::Resp3 => 3,
        };
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem={} rbs={} rbp={} obl={} oll={} omem={} tot-mem={} events={} cmd={} user=default redir=-1 resp={}",
            self.id,
            self.peer,
            self.local,
            self.conn,
            name,
            age,
            idle,
            flags,
            self.db,
            self.subs.channels.len(),
            self.subs.patterns.len(),
            self.subs.shard_channels.len(),
            self.multi.as_ref().map_or(-1, |m| m.count as i64),
            self.qbuf.len(),
            self.qbuf.capacity().saturating_sub(self.qbuf.len()),
            self.multi.as_ref().map_or(0, |m| m.queued_bytes),
            self.out.capacity(),
            self.out_peak.max(self.out.len()),
            obl,
            oll,
            omem,
            self.memory_bytes(),
            if self.unwritten_bytes > 0 { "rw" } else { "r" },
            match self.last_command {
                (name, Some(sub)) => format!("{name}|{sub}"),
                (name, None) => name.to_string(),
            },
            resp
        )
    }
}

/// Client classes of `client-output-buffer-limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputClass {
    Normal,
    Replica,
    Pubsub,
}

impl OutputClass {
    /// A client's class: `pubsub` while it has subscriptions.
    pub fn of(client: &Client) -> OutputClass {
        if client.is_replica {
            OutputClass::Replica
        } else if client.is_pubsub() {
            OutputClass::Pubsub
        } else {
            OutputClass::Normal
        }
    }

    /// Index into `Config::client_output_buffer_limits` (normal, replica, pubsub).
    pub fn limits_index(self) -> usize {
        match self {
            OutputClass::Normal => 0,
            OutputClass::Replica => 1,
            OutputClass::Pubsub => 2,
        }
    }
}

/// Sets how far a client's reply buffer may grow: its class's hard limit (from
/// `limits`, by `OutputClass::limits_index`) less what the driver still holds for it.
pub fn arm_output_limit(limits: &[ClientOutputBufferLimit; 3], client: &mut Client) {
    let hard = limits
        .get(OutputClass::of(client).limits_index())
        .map_or(0, |l| l.hard_limit_bytes);
    let limit = if hard == 0 {
        usize::MAX
    } else {
        usize::try_from(hard)
            .unwrap_or(usize::MAX)
            .saturating_sub(client.unwritten_bytes)
    };
    client.out.set_limit(limit);
}

/// The connection id of the fake client an AOF's commands are loaded as (never a
/// driver's): it runs while the node answers others `-LOADING`.
pub const AOF_LOADER_CONN: ConnId = u64::MAX - 7;

/// The node's clients by connection, with a running total of their buffer bytes so
/// `used_memory` (read before every write under `maxmemory`) never walks them all.
/// Every change to a client in the table goes through `with_mut`, which keeps the
/// total; a client taken out (`remove`) is not counted until it is put back.
#[derive(Debug, Default)]
pub struct ClientTable {
    map: BTreeMap<ConnId, Client>,
    memory_bytes: usize,
    /// The running total of `Client::not_counted_for_evict_bytes`.
    not_counted_bytes: usize,
}

impl ClientTable {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn get(&self, conn: &ConnId) -> Option<&Client> {
        self.map.get(conn)
    }

    pub fn values(&self) -> impl Iterator<Item = &Client> {
        self.map.values()
    }

    pub fn keys(&self) -> impl Iterator<Item = &ConnId> {
        self.map.keys()
    }

    /// The first connection id at or after `from` (a cron's round-robin cursor).
    pub fn next_conn_from(&self, from: ConnId) -> Option<ConnId> {
        self.map.range(from..).next().map(|(&c, _)| c)
    }

    pub fn insert(&mut self, conn: ConnId, client: Client) {
        self.memory_bytes += client.memory_bytes();
        self.not_counted_bytes += client.not_counted_for_evict_bytes();
        if let Some(old) = self.map.insert(conn, client) {
            self.memory_bytes = self.memory_bytes.saturating_sub(old.memory_bytes());
            self.not_counted_bytes = self
                .not_counted_bytes
                .saturating_sub(old.not_counted_for_evict_bytes());
        }
    }

    pub fn remove(&mut self, conn: &ConnId) -> Option<Client> {
        let client = self.map.remove(conn)?;
        self.memory_bytes = self.memory_bytes.saturating_sub(client.memory_bytes());
        self.not_counted_bytes = self
            .not_counted_bytes
            .saturating_sub(client.not_counted_for_evict_bytes());
        Some(client)
    }

    /// Runs `f` on the client of `conn`, keeping the memory totals.
    pub fn with_mut<R>(&mut self, conn: &ConnId, f: impl FnOnce(&mut Client) -> R) -> Option<R> {
        let client = self.map.get_mut(conn)?;
        let before = client.memory_bytes();
        let not_counted_before = client.not_counted_for_evict_bytes();
        let r = f(client);
        self.memory_bytes = self.memory_bytes.saturating_sub(before) + client.memory_bytes();
        self.not_counted_bytes = self.not_counted_bytes.saturating_sub(not_counted_before)
            + client.not_counted_for_evict_bytes();
        Some(r)
    }

    /// Replicas' output bytes (`Client::not_counted_for_evict_bytes`), part of
    /// `memory_bytes`: INFO's `mem_not_counted_for_evict`.
    pub fn not_counted_for_evict_bytes(&self) -> usize {
        debug_assert!(
            self.map.len() > 256
                || self.not_counted_bytes
                    == self
                        .map
                        .values()
                        .map(Client::not_counted_for_evict_bytes)
                        .sum::<usize>(),
            "replica output total drifted"
        );
        self.not_counted_bytes
    }

    /// Buffer bytes of every client in the table.
    pub fn memory_bytes(&self) -> usize {
        // Checked in tests while the walk is cheap; the counter exists because it is not.
        debug_assert!(
            self.map.len() > 256
                || self.memory_bytes == self.map.values().map(Client::memory_bytes).sum::<usize>(),
            "client memory total drifted"
        );
        self.memory_bytes
    }
}
