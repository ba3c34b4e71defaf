//! The node: keel's whole single-server behaviour as one Sans-IO state machine.
//!
//! A driver hands it inputs with the current time (`handle`), executes the effects it
//! asks for in order (`poll_effect`) and calls back at `next_deadline`. It never reads
//! a clock, touches a socket or a file, or draws OS randomness: all of that is handed in.

use std::collections::{BTreeSet, VecDeque};

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::client::{Client, ClientTable};
use crate::commands::{self, CommandTable};
use crate::config::Config;
use crate::keyspace::{HashSeeds, Keyspace};
use crate::multi::WatchRegistry;
use crate::mutants::Mutants;
use crate::pubsub::PubSub;
use crate::resp::{ParseLimits, Request};

pub use crate::io::{
    CloseReason, ConnId, DiskError, DiskOp, DiskResult, Effect, Input, IoId, Listener, LogLevel,
    Now, Signal,
};

/// Client classes of `client-output-buffer-limit` (no replicas yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputClass {
    Normal,
    Pubsub,
}

impl OutputClass {
    /// A client's class: `pubsub` while it has subscriptions.
    pub fn of(client: &Client) -> OutputClass {
        if client.is_pubsub() {
            OutputClass::Pubsub
        } else {
            OutputClass::Normal
        }
    }

    /// Index into `Config::client_output_buffer_limits` (normal, replica, pubsub).
    pub fn limits_index(self) -> usize {
        match self {
            OutputClass::Normal => 0,
            OutputClass::Pubsub => 2,
        }
    }
}

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
    /// Samples of (mono_ms, commands processed) for instantaneous_ops_per_sec.
    pub ops_samples: VecDeque<(u64, u64)>,
}

/// `client-output-buffer-limit` by `OutputClass::limits_index`.
type OutputLimits = [crate::config::ClientOutputBufferLimit; 3];

pub struct Node {
    pub config: Config,
    /// The `client-output-buffer-limit`s clients were last armed with, so that
    /// `config_changed` re-arms them only when the limits changed.
    armed_output_limits: OutputLimits,
    pub keyspace: Keyspace,
    pub(crate) clients: ClientTable,
    /// Where the query-buffer cron resumes (a connection id).
    qbuf_cron_cursor: ConnId,
    pub(crate) effects: VecDeque<Effect>,
    pub(crate) rng: ChaCha8Rng,
    pub stats: Stats,
    pub(crate) commands: CommandTable,
    pub(crate) run_id: String,
    pub(crate) started: Now,
    pub(crate) last_now: Now,
    next_client_id: u64,
    next_tick_mono_ms: u64,
    pub(crate) active_expire_enabled: bool,
    /// DEBUG PAUSE-CRON: timers (active expiry, idle clients, the query-buffer cron)
    /// stop while set.
    pub(crate) cron_paused: bool,
    /// The replication id (INFO `master_replid`); the run id until DEBUG
    /// CHANGE-REPL-ID draws a new one.
    pub(crate) repl_id: Option<String>,
    /// DEBUG QUICKLIST-PACKED-THRESHOLD (keel's lists have no plain nodes; kept and
    /// validated as Redis does).
    pub(crate) quicklist_packed_threshold_bytes: u64,
    /// The propagation stream (`crate::propagate`).
    pub(crate) propagation: crate::propagate::Propagation,
    /// Commands that changed the dataset (Redis's `server.dirty`, counted once per
    /// command rather than per key).
    pub(crate) dirty: u64,
    pub(crate) shutting_down: bool,
    /// The process's resident set size, reported by a production driver for INFO.
    pub(crate) rss_bytes: Option<u64>,
    pub(crate) process: ProcessInfo,
    /// Buffer bytes of the client whose batch is running (it is out of `clients`
    /// meanwhile), so `used_memory` still counts them.
    running_client_bytes: usize,
    pub mutants: Mutants,
    /// Clients blocked on keys (BLPOP and friends).
    pub(crate) blocking: crate::blocking::Registry,
    /// Subscribers of channels, patterns and shard channels.
    pub(crate) pubsub: PubSub,
    /// WATCHed keys and the clients whose transaction they invalidated.
    pub(crate) watch: WatchRegistry,
    /// Clients other than the running one that got output (pub/sub messages) and
    /// must be flushed once the command is done.
    pub(crate) pending_flush: BTreeSet<ConnId>,
}

/// A query buffer emptied by a request is kept for the next one up to this size and
/// freed above it (Redis's `PROTO_RESIZE_THRESHOLD`).
const QBUF_KEEP_BYTES: usize = 32 * 1024;
/// Spare query-buffer room the cron leaves alone (Redis: 4 KB).
const QBUF_SPARE_KEPT_BYTES: usize = 4 * 1024;
/// A query buffer idle this long loses its spare room (Redis: 2 s).
const QBUF_IDLE_MS: u64 = 2000;
/// Clients the cron visits per tick at least (Redis's `CLIENTS_CRON_MIN_ITERATIONS`).
const CLIENTS_CRON_MIN_ITERATIONS: u64 = 5;

/// Sets how far a client's reply buffer may grow: its class's hard limit less what
/// the driver still holds for it.
pub(crate) fn arm_output_limit(limits: &OutputLimits, client: &mut Client) {
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

/// One client's share of `resize_query_buffers` (Redis's rules and thresholds).
fn resize_query_buffer(client: &mut Client, now: Now) {
    let len = client.qbuf.len();
    let spare = client.qbuf.capacity() - len;
    if spare > QBUF_SPARE_KEPT_BYTES {
        let idle_ms = now.mono_ms.saturating_sub(client.last_interaction_mono_ms);
        if idle_ms > QBUF_IDLE_MS {
            client.qbuf.shrink_to_fit();
        } else if client.qbuf.capacity() > QBUF_KEEP_BYTES
            && client.qbuf.capacity() / 2 > client.qbuf_peak
        {
            client.qbuf.shrink_to(len.max(client.qbuf_peak));
        }
    }
    client.qbuf_peak = len;
    client.out_peak = client.out.len();
}

/// Baseline bytes a node counts before any key or client (tables, shared state), so
/// `used_memory` of an empty node is in the range Redis reports.
pub(crate) const BASELINE_USED_BYTES: usize = 800 * 1024;

impl Node {
    pub fn new(config: Config, seeds: NodeSeeds, now: Now) -> Node {
        let mut rng = ChaCha8Rng::seed_from_u64(seeds.rng_seed);
        let mut id_bytes = [0u8; 20];
        rng.fill_bytes(&mut id_bytes);
        let run_id = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
        let databases = config.settings().databases;
        let mut node = Node {
            keyspace: Keyspace::new(databases, HashSeeds(seeds.hash_seeds)),
            armed_output_limits: config.settings().client_output_buffer_limits,
            config,
            clients: ClientTable::default(),
            qbuf_cron_cursor: 0,
            effects: VecDeque::new(),
            rng,
            stats: Stats::default(),
            commands: CommandTable::new(),
            run_id,
            started: now,
            last_now: now,
            next_client_id: 1,
            next_tick_mono_ms: now.mono_ms,
            active_expire_enabled: true,
            cron_paused: false,
            repl_id: None,
            quicklist_packed_threshold_bytes: 1 << 30,
            propagation: crate::propagate::Propagation::default(),
            dirty: 0,
            shutting_down: false,
            rss_bytes: None,
            process: ProcessInfo::default(),
            running_client_bytes: 0,
            mutants: Mutants::default(),
            blocking: crate::blocking::Registry::default(),
            pubsub: PubSub::default(),
            watch: WatchRegistry::default(),
            pending_flush: BTreeSet::new(),
        };
        node.config_changed();
        node
    }

    /// Plants a bug (simulator only).
    #[cfg(feature = "mutants")]
    pub fn set_mutant(&mut self, m: Option<crate::mutants::Mutant>) {
        self.mutants.active = m;
        self.keyspace.mutants.active = m;
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Turns active expiry on or off (DEBUG SET-ACTIVE-EXPIRE; a replica-like shadow
    /// that must only expire what it is told to).
    pub fn set_active_expire(&mut self, enabled: bool) {
        self.active_expire_enabled = enabled;
    }

    /// Starts recording the propagation stream (see `crate::propagate`); take it
    /// with `take_propagated`. Off by default: nothing is kept when nobody reads it.
    pub fn enable_propagation(&mut self) {
        self.propagation.enable();
    }

    /// Everything propagated since the last call, oldest first.
    pub fn take_propagated(&mut self) -> Vec<crate::propagate::Propagated> {
        self.propagation.take()
    }

    /// Commands that changed the dataset since start (Redis's dirty counter).
    pub fn dirty(&self) -> u64 {
        self.dirty
    }

    /// The replication id INFO reports as `master_replid`.
    pub fn repl_id(&self) -> &str {
        self.repl_id.as_deref().unwrap_or(&self.run_id)
    }

    /// Call after changing `config` from outside a command, so cached values follow.
    pub fn config_changed(&mut self) {
        let settings = self.config.settings();
        self.keyspace.log_new_keys =
            settings.notify_keyspace_events_flags & u32::from(crate::notify::NEW) != 0;
        let limits = settings.client_output_buffer_limits;
        if self.armed_output_limits != limits {
            // Rare (CONFIG SET client-output-buffer-limit): re-arm every client.
            self.armed_output_limits = limits;
            let conns: Vec<ConnId> = self.clients.keys().copied().collect();
            for conn in conns {
                self.clients
                    .with_mut(&conn, |c| arm_output_limit(&limits, c));
            }
        }
    }

    pub fn set_rss_bytes(&mut self, rss: u64) {
        self.rss_bytes = Some(rss);
    }

    pub fn set_process_info(&mut self, info: ProcessInfo) {
        self.process = info;
    }

    /// Reply bytes handed to the driver for `conn` and not yet reported written (what
    /// counts against its output limit); None when no client has that connection.
    pub fn client_unwritten_bytes(&self, conn: ConnId) -> Option<usize> {
        self.clients.get(&conn).map(|c| c.unwritten_bytes)
    }

    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    pub fn handle(&mut self, now: Now, input: Input<'_>) {
        // The hottest input after Data, and pure bookkeeping: no clock, no timers.
        if let Input::Written { conn, bytes } = input {
            self.on_written(conn, bytes);
            return;
        }
        // Clocks given to a node only move forward as far as timers are concerned.
        self.last_now = Now {
            mono_ms: now.mono_ms.max(self.last_now.mono_ms),
            wall_ms: now.wall_ms,
        };
        let now = self.last_now;
        self.keyspace.now_secs = now.mono_secs();
        match input {
            Input::Accepted {
                conn,
                listener,
                peer,
                local,
                peer_is_loopback,
            } => match listener {
                Listener::Client => self.on_accept(now, conn, peer, local, peer_is_loopback),
                Listener::ClusterBus => {
                    // No cluster yet: nothing should listen there. Refuse, don't panic.
                    self.log(
                        LogLevel::Warning,
                        format!("Refusing a cluster bus connection from {peer}: cluster support is disabled"),
                    );
                    self.effects.push_back(Effect::Abort { conn });
                }
            },
            Input::Connected { conn } => self.on_unknown_outbound(conn, "connected"),
            Input::ConnectFailed { conn, error } => {
                self.on_unknown_outbound(conn, &format!("failed ({error})"))
            }
            Input::Disk { io, result } => self.on_disk_completion(io, result),
            Input::Signal(signal) => self.on_signal(signal),
            Input::Data { conn, bytes } => self.on_data(now, conn, bytes),
            Input::Written { .. } => {}
            Input::Closed { conn, reason: _ } => {
                if let Some(mut client) = self.clients.remove(&conn) {
                    self.forget_client(&mut client);
                }
            }
            Input::Tick => {}
        }
        let ticked = now.mono_ms >= self.next_tick_mono_ms;
        if ticked {
            self.on_tick(now);
        }
        self.run_unblocked(now, ticked);
        if let Some(garbage) = self.keyspace.take_garbage() {
            self.effects.push_back(Effect::Free {
                garbage: Box::new(garbage),
            });
        }
    }

    /// Times out blocked clients and runs the pipelined input of clients unblocked
    /// since (Redis's `processUnblockedClients`).
    fn run_unblocked(&mut self, now: Now, sweep: bool) {
        if self.blocking.is_empty() && self.blocking.nothing_unblocked() {
            return;
        }
        loop {
            let unblocked = crate::blocking::after_input(self, now, sweep);
            if unblocked.is_empty() {
                return;
            }
            for conn in unblocked {
                if self.clients.get(&conn).is_some_and(|c| !c.blocked) {
                    self.on_data(now, conn, &[]);
                }
            }
        }
    }

    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.effects.pop_front()
    }

    /// When the node wants `handle(now, Tick)` next (monotonic ms).
    pub fn next_deadline(&self) -> u64 {
        let blocked = self.blocking.next_deadline().unwrap_or(u64::MAX);
        self.next_tick_mono_ms.min(blocked)
    }

    /// An outbound connection nobody here asked for (no subsystem makes any yet):
    /// a driver bug or a stale completion. Logged and closed, never a panic.
    fn on_unknown_outbound(&mut self, conn: ConnId, what: &str) {
        self.log(
            LogLevel::Warning,
            format!("Outbound connection {conn} {what}, but nothing asked for it; closing it"),
        );
        self.effects.push_back(Effect::Abort { conn });
    }

    /// A disk completion. No subsystem issues disk operations yet, so every id is
    /// unknown: logged, nothing else changes.
    fn on_disk_completion(&mut self, io: IoId, result: DiskResult) {
        let outcome = match result {
            DiskResult::Done { .. } => "done".to_string(),
            DiskResult::Failed(e) => format!("failed ({e:?})"),
        };
        self.log(
            LogLevel::Warning,
            format!(
                "Disk operation {} completed ({outcome}) but none is pending with that id; ignored",
                io.0
            ),
        );
    }

    /// Redis's signal handling: SIGTERM/SIGINT schedule a shutdown (no persistence yet,
    /// so it is immediate), SIGHUP is ignored.
    fn on_signal(&mut self, signal: Signal) {
        match signal {
            // Redis ignores SIGHUP (SIG_IGN) and logs nothing.
            Signal::Hangup => {}
            Signal::Terminate | Signal::Interrupt => {
                if self.shutting_down {
                    return;
                }
                self.shutting_down = true;
                let name = signal.name();
                self.log(
                    LogLevel::Warning,
                    format!("Received {name} scheduling shutdown..."),
                );
                self.log(LogLevel::Warning, "User requested shutdown...".to_string());
                self.effects.push_back(Effect::Shutdown { exit_code: 0 });
            }
        }
    }

    pub(crate) fn log(&mut self, level: LogLevel, message: String) {
        self.effects.push_back(Effect::Log { level, message });
    }

    fn on_accept(
        &mut self,
        now: Now,
        conn: ConnId,
        peer: String,
        local: String,
        peer_is_loopback: bool,
    ) {
        self.stats.total_connections_received += 1;
        if self.clients.len() >= self.config.settings().maxclients {
            self.stats.rejected_connections += 1;
            self.send_and_close(conn, b"-ERR max number of clients reached\r\n");
            return;
        }
        // Redis 7's protected mode: no password for the default user and a
        // non-loopback peer (bind is not consulted, as in Redis 7.0).
        if self.config.settings().protected_mode
            && !peer_is_loopback
            && self.config.settings().requirepass.is_none()
        {
            self.send_and_close(conn, PROTECTED_MODE_ERROR.as_bytes());
            return;
        }
        let id = self.next_client_id;
        self.next_client_id += 1;
        let authenticated = self.config.settings().requirepass.is_none();
        let mut client = Client::new(id, conn, peer, local, now.mono_ms, authenticated);
        client.is_local = peer_is_loopback;
        arm_output_limit(
            &self.config.settings().client_output_buffer_limits,
            &mut client,
        );
        self.clients.insert(conn, client);
    }

    fn send_and_close(&mut self, conn: ConnId, bytes: &[u8]) {
        self.effects.push_back(Effect::Send {
            conn,
            bytes: bytes.to_vec(),
        });
        self.effects.push_back(Effect::Close { conn });
    }

    fn on_data(&mut self, now: Now, conn: ConnId, bytes: &[u8]) {
        let Some(mut client) = self.clients.remove(&conn) else {
            return;
        };
        self.stats.total_net_input_bytes += bytes.len() as u64;
        client.last_interaction_mono_ms = now.mono_ms;
        if client.close_after_reply || client.close_asap {
            self.clients.insert(conn, client);
            return;
        }
        client.qbuf.extend_from_slice(bytes);
        client.qbuf_peak = client.qbuf_peak.max(client.qbuf.len());
        self.running_client_bytes = client.memory_bytes();
        let mut qbuf = std::mem::take(&mut client.qbuf);
        let mut parser = std::mem::take(&mut client.parser);
        let mut req = std::mem::take(&mut client.request);
        let mut qpos = 0usize;
        let proto_max = self.config.settings().proto_max_bulk_len_bytes;
        arm_output_limit(
            &self.config.settings().client_output_buffer_limits,
            &mut client,
        );
        while !client.close_after_reply
            && !client.close_asap
            && !self.shutting_down
            && !client.blocked
        {
            let limits = ParseLimits {
                proto_max_bulk_len_bytes: proto_max,
                authenticated: client.authenticated,
            };
            let Some(rest) = qbuf.get(qpos..) else { break };
            match parser.next_request(rest, limits, &mut req) {
                Ok(None) => break,
                Ok(Some(())) => {
                    let base = if req.inline {
                        &parser.scratch[..]
                    } else {
                        rest
                    };
                    client.more_pipelined = rest.len() > req.consumed_bytes;
                    if !req.ranges.is_empty() {
                        let argv = commands::Argv::new(base, &req.ranges);
                        commands::execute(self, now, &mut client, &argv);
                        crate::blocking::after_command(self, now);
                        // The command may have changed the client's class (SUBSCRIBE)
                        // or filled its output: Redis checks the limits as each reply
                        // is added and stops reading a client it will close.
                        arm_output_limit(
                            &self.config.settings().client_output_buffer_limits,
                            &mut client,
                        );
                        if self.output_over_limit(&mut client, now) {
                            client.close_asap = true;
                        }
                    }
                    qpos += req.consumed_bytes;
                }
                Err(e) => {
                    client.out.error_bytes(&e.reply_text());
                    self.stats.total_error_replies += 1;
                    client.close_after_reply = true;
                    let peer = client.peer.clone();
                    self.log(
                        LogLevel::Verbose,
                        format!("Protocol error ({}) from client: addr={peer}", e.reason()),
                    );
                }
            }
        }
        qbuf.drain(..qpos.min(qbuf.len()));
        if qbuf.is_empty() && qbuf.capacity() > QBUF_KEEP_BYTES {
            // A big request was served: give its buffer back now rather than keep it
            // until the client disconnects (Redis hands a big argument's buffer to the
            // command for the same reason).
            qbuf = Vec::new();
        }
        client.qbuf = qbuf;
        client.parser = parser;
        client.request = req;
        let qbuf_limit = self.config.settings().client_query_buffer_limit_bytes;
        if client.qbuf.len() as u64 > qbuf_limit {
            let name = client.peer.clone();
            self.log(LogLevel::Warning, format!("Closing client that reached max query buffer length: addr={name} (qbuf initial bytes omitted)"));
            client.qbuf = Vec::new();
            client.out.discard();
            client.close_after_reply = true;
        }
        self.running_client_bytes = 0;
        self.put_back(now, client);
        self.flush_pending();
    }

    /// Ends a step of `client` (out of the table): hands its output to the driver and
    /// puts it back, or closes it — after its last reply (`close_after_reply`), or at
    /// once, output discarded, when it went over its output-buffer limit.
    pub(crate) fn put_back(&mut self, now: Now, mut client: Client) {
        if !client.close_asap && self.output_over_limit(&mut client, now) {
            client.close_asap = true;
        }
        let conn = client.conn;
        if client.close_asap {
            let line = client.info_line(now.mono_ms);
            self.log(
                LogLevel::Warning,
                format!("Client {line} scheduled to be closed ASAP for overcoming of output buffer limits."),
            );
            client.out.discard();
            self.forget_client(&mut client);
            self.effects.push_back(Effect::Abort { conn });
            return;
        }
        self.flush_client(&mut client);
        if client.close_after_reply {
            self.forget_client(&mut client);
            self.effects.push_back(Effect::Close { conn });
        } else {
            self.clients.insert(conn, client);
        }
    }

    /// Redis's `checkClientOutputBufferLimits`: the hard limit (the reply buffer
    /// refused a write, or output reached it) or the soft limit held longer than its
    /// seconds. Starts or clears the soft-limit timer.
    fn output_over_limit(&self, client: &mut Client, now: Now) -> bool {
        if client.out.over_limit() {
            return true;
        }
        let class = OutputClass::of(client);
        let Some(limit) = self
            .config
            .settings()
            .client_output_buffer_limits
            .get(class.limits_index())
        else {
            return false;
        };
        let used = client.output_bytes() as u64;
        if limit.hard_limit_bytes > 0 && used >= limit.hard_limit_bytes {
            return true;
        }
        if limit.soft_limit_bytes == 0 || used < limit.soft_limit_bytes {
            client.obuf_soft_since_ms = None;
            return false;
        }
        let since = *client.obuf_soft_since_ms.get_or_insert(now.mono_ms);
        let soft_ms = (limit.soft_limit_secs.max(0) as u64).saturating_mul(1000);
        now.mono_ms.saturating_sub(since) > soft_ms
    }

    /// The driver wrote `bytes` of `conn`'s output.
    fn on_written(&mut self, conn: ConnId, bytes: usize) {
        let limits = self.config.settings().client_output_buffer_limits;
        self.clients.with_mut(&conn, |c| {
            c.unwritten_bytes = c.unwritten_bytes.saturating_sub(bytes);
            arm_output_limit(&limits, c);
        });
    }

    /// Drops what the node keeps about a client beside the client itself: its
    /// subscriptions and its WATCHed keys.
    pub(crate) fn forget_client(&mut self, client: &mut Client) {
        self.blocking.remove(client.id);
        self.pubsub.forget(&mut client.subs, client.conn);
        self.watch.forget(client.conn);
        self.pending_flush.remove(&client.conn);
    }

    /// Closes another client (CLIENT KILL): forgets it and asks the driver to close.
    pub(crate) fn kill_client(&mut self, conn: ConnId) {
        if let Some(mut client) = self.clients.remove(&conn) {
            self.forget_client(&mut client);
        }
        self.effects.push_back(Effect::Close { conn });
    }

    /// Flushes the clients that received pub/sub messages during the last step.
    pub(crate) fn flush_pending(&mut self) {
        let now = self.last_now;
        while let Some(conn) = self.pending_flush.pop_first() {
            if let Some(client) = self.clients.remove(&conn) {
                self.put_back(now, client);
            }
        }
    }

    /// Turns keys deleted by expiry since the last call into WATCH invalidations and
    /// `expired` notifications, in deletion order, then keys created into `new`
    /// notifications. `running`: the client whose command
    /// runs, if any (it is out of `clients` meanwhile).
    pub(crate) fn drain_keyspace_log(&mut self, mut running: Option<&mut Client>) {
        if self.keyspace.expired_log.is_empty() && self.keyspace.new_log.is_empty() {
            return;
        }
        for (db, key) in std::mem::take(&mut self.keyspace.expired_log) {
            let key = key.as_bytes();
            // An expired key leaves every copy of the dataset by an explicit DEL.
            self.propagation
                .record(db, crate::propagate::argv(&[b"DEL", key]));
            if !self.mutants.is(crate::mutants::Mutant::WatchMissesExpiry) {
                self.watch.touch_expired(db, key);
            }
            self.notify_keyspace_event(
                running.as_deref_mut(),
                crate::notify::EXPIRED,
                "expired",
                key,
                db,
            );
        }
        for (db, key) in std::mem::take(&mut self.keyspace.new_log) {
            self.notify_keyspace_event(
                running.as_deref_mut(),
                crate::notify::NEW,
                "new",
                key.as_bytes(),
                db,
            );
        }
    }

    /// Redis's `notifyKeyspaceEvent`: publishes `__keyspace@<db>__:<key>` (message:
    /// the event) and `__keyevent@<db>__:<event>` (message: the key) when the class
    /// is enabled.
    pub(crate) fn notify_keyspace_event(
        &mut self,
        running: Option<&mut Client>,
        class: crate::notify::Class,
        event: &str,
        key: &[u8],
        db: usize,
    ) {
        let flags = self.config.settings().notify_keyspace_events_flags as crate::notify::Class;
        if flags & class == 0 {
            return;
        }
        let mut running = running;
        if flags & crate::notify::KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            crate::pubsub::publish(
                self,
                running.as_deref_mut(),
                &channel,
                event.as_bytes(),
                false,
            );
        }
        if flags & crate::notify::KEYEVENT != 0 {
            let channel = format!("__keyevent@{db}__:{event}").into_bytes();
            crate::pubsub::publish(self, running, &channel, key, false);
        }
    }

    /// Moves a client's pending output into a Send effect; the driver holds it (and
    /// it counts against the client's output limit) until reported written.
    fn flush_client(&mut self, client: &mut Client) {
        if !client.out.is_empty() {
            client.out_peak = client.out_peak.max(client.out.len());
            // The next batch likely needs as much: start it with that capacity.
            let bytes = client.out.take(client.out.len().clamp(256, 64 * 1024));
            self.stats.total_net_output_bytes += bytes.len() as u64;
            client.unwritten_bytes = client.unwritten_bytes.saturating_add(bytes.len());
            arm_output_limit(&self.config.settings().client_output_buffer_limits, client);
            self.effects.push_back(Effect::Send {
                conn: client.conn,
                bytes,
            });
        }
    }

    fn on_tick(&mut self, now: Now) {
        let hz = self.config.settings().hz.clamp(1, 500) as u64;
        let period_ms = 1000 / hz;
        self.next_tick_mono_ms = now.mono_ms + period_ms;
        if self.cron_paused {
            return;
        }
        if self.active_expire_enabled {
            let effort = self.config.settings().active_expire_effort;
            let mut rng = std::mem::replace(&mut self.rng, ChaCha8Rng::seed_from_u64(0));
            self.keyspace
                .active_expire_cycle(now.wall_ms, effort, |n| rng.gen_range(0..n.max(1)));
            self.rng = rng;
        }
        self.drain_keyspace_log(None);
        self.flush_pending();
        self.close_idle_clients(now);
        self.resize_query_buffers(now, hz);
        // instantaneous_ops_per_sec: one sample per 100 ms, 16 kept, as Redis.
        let samples = &mut self.stats.ops_samples;
        if samples.back().is_none_or(|&(t, _)| now.mono_ms >= t + 100) {
            samples.push_back((now.mono_ms, self.stats.total_commands_processed));
            if samples.len() > 16 {
                samples.pop_front();
            }
        }
    }

    fn close_idle_clients(&mut self, now: Now) {
        let timeout_secs = self.config.settings().timeout_secs;
        if timeout_secs == 0 {
            return;
        }
        let limit_ms = timeout_secs.saturating_mul(1000);
        let idle: Vec<ConnId> = self
            .clients
            .values()
            // As Redis, blocked clients and subscribers are never timed out.
            .filter(|c| !c.blocked && !c.is_pubsub())
            .filter(|c| now.mono_ms.saturating_sub(c.last_interaction_mono_ms) > limit_ms)
            .map(|c| c.conn)
            .collect();
        for conn in idle {
            if let Some(mut client) = self.clients.remove(&conn) {
                self.forget_client(&mut client);
            }
            self.log(LogLevel::Verbose, "Closing idle client".into());
            self.effects.push_back(Effect::Close { conn });
        }
    }

    /// Redis's `clientsCronResizeQueryBuffer`, over all clients once a second (a
    /// slice each tick): frees the spare room of a query buffer idle for over two
    /// seconds, and trims one much bigger than its recent peak.
    fn resize_query_buffers(&mut self, now: Now, hz: u64) {
        let count = self.clients.len();
        if count == 0 {
            return;
        }
        let per_tick = (count as u64 / hz.max(1)).max(CLIENTS_CRON_MIN_ITERATIONS) as usize;
        for _ in 0..per_tick.min(count) {
            let conn = match self.clients.next_conn_from(self.qbuf_cron_cursor) {
                Some(c) => c,
                None => match self.clients.next_conn_from(0) {
                    Some(c) => c,
                    None => return,
                },
            };
            self.qbuf_cron_cursor = conn + 1;
            self.clients
                .with_mut(&conn, |c| resize_query_buffer(c, now));
        }
    }

    pub fn instantaneous_ops_per_sec(&self) -> u64 {
        let s = &self.stats.ops_samples;
        match (s.front(), s.back()) {
            (Some(&(t0, c0)), Some(&(t1, c1))) if t1 > t0 => (c1 - c0) * 1000 / (t1 - t0),
            _ => 0,
        }
    }

    /// True when `maxmemory` is set and used memory is over it. Eviction policies come
    /// later; until then every policy behaves as `noeviction` (writes refused, reads served).
    pub fn over_maxmemory(&self) -> bool {
        let max = self.config.settings().maxmemory_bytes;
        max > 0 && self.used_memory_bytes() as u64 > max
    }

    /// `used_memory`: logical bytes of the dataset, clients and a fixed baseline.
    pub fn used_memory_bytes(&self) -> usize {
        BASELINE_USED_BYTES
            + self.keyspace.used_bytes()
            + self.clients.memory_bytes()
            + self.running_client_bytes
    }

    /// Bytes the clients hold (buffers, queued transactions, subscriptions), the
    /// running one included.
    pub fn clients_memory_bytes(&self) -> usize {
        self.clients.memory_bytes() + self.running_client_bytes
    }

    /// Request-free helper for tests and the simulator: a fresh request buffer.
    pub fn new_request() -> Request {
        Request::default()
    }
}

pub const PROTECTED_MODE_ERROR: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";
