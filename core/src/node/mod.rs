//! The node: keel's whole single-server behaviour as one Sans-IO state machine.
//!
//! A driver hands it inputs with the current time (`handle`), executes the effects it
//! asks for in order (`poll_effect`) and calls back at `next_deadline`. It never reads
//! a clock, touches a socket or a file, or draws OS randomness: all of that is handed in.

mod blocked;

use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::client::{arm_output_limit, Client, OutputClass};
use crate::clients::Clients;
use crate::commands::{self, CommandTable, Ctx};
use crate::config::Config;
use crate::keyspace::{HashSeeds, Keyspace};
use crate::resp::ParseLimits;
use crate::server::{ProcessInfo, Server, Stats};

use crate::io::{ConnId, DiskResult, Effect, Input, IoId, Listener, LogLevel, Now, Signal};
use crate::server::NodeSeeds;

/// The node: it routes each input to the sub-machine that owns it — the clients and
/// their dispatch (below and in `blocked`) for now; persistence, replication and
/// cluster to come — and runs the timers. Each part is borrowed on its own, so a
/// command gets a narrow `Ctx`, never the node.
pub struct Node {
    /// Node-wide state commands read and change (config, stats, RNG, effects ...).
    server: Server,
    keyspace: Keyspace,
    /// The client table and the registries keyed by clients.
    clients: Clients,
    commands: CommandTable,
    /// Where the query-buffer cron resumes (a connection id).
    qbuf_cron_cursor: ConnId,
    last_now: Now,
    next_client_id: u64,
    next_tick_mono_ms: u64,
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

impl Node {
    pub fn new(config: Config, seeds: NodeSeeds, now: Now) -> Node {
        let mut rng = ChaCha8Rng::seed_from_u64(seeds.rng_seed);
        let mut id_bytes = [0u8; 20];
        rng.fill_bytes(&mut id_bytes);
        let run_id = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
        let databases = config.databases();
        let mut node = Node {
            keyspace: Keyspace::new(databases, HashSeeds(seeds.hash_seeds)),
            server: Server::new(config, rng, run_id, now),
            clients: Clients::default(),
            commands: CommandTable::new(),
            qbuf_cron_cursor: 0,
            last_now: now,
            next_client_id: 1,
            next_tick_mono_ms: now.mono_ms,
        };
        node.config_changed();
        node
    }

    /// A command context for `client` (out of the client table) over the node's parts.
    fn ctx<'a>(&'a mut self, client: &'a mut Client, now: Now) -> Ctx<'a> {
        Ctx {
            client,
            now,
            keyspace: &mut self.keyspace,
            server: &mut self.server,
            clients: &mut self.clients,
            commands: &self.commands,
        }
    }

    /// The dataset (digests, checkers, tests).
    pub fn keyspace(&self) -> &Keyspace {
        &self.keyspace
    }

    /// The dataset, for tests and the simulator that set it up or age it directly.
    pub fn keyspace_mut(&mut self) -> &mut Keyspace {
        &mut self.keyspace
    }

    pub fn config(&self) -> &Config {
        &self.server.config
    }

    /// The config to change from outside a command; call `config_changed` after.
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.server.config
    }

    /// Counters INFO reports.
    pub fn stats(&self) -> &Stats {
        &self.server.stats
    }

    /// The client table and its registries, for tests beside them.
    #[cfg(test)]
    pub(crate) fn clients(&self) -> &Clients {
        &self.clients
    }

    #[cfg(test)]
    pub(crate) fn clients_mut(&mut self) -> &mut Clients {
        &mut self.clients
    }

    #[cfg(test)]
    pub(crate) fn parts_mut(&mut self) -> (&mut Keyspace, &mut Clients) {
        (&mut self.keyspace, &mut self.clients)
    }

    /// Plants a bug (simulator only).
    #[cfg(feature = "mutants")]
    pub fn set_mutant(&mut self, m: Option<crate::mutants::Mutant>) {
        self.server.mutants.active = m;
        self.keyspace.mutants.active = m;
    }

    pub fn run_id(&self) -> &str {
        &self.server.run_id
    }

    /// Turns active expiry on or off (DEBUG SET-ACTIVE-EXPIRE; a replica-like shadow
    /// that must only expire what it is told to).
    pub fn set_active_expire(&mut self, enabled: bool) {
        self.server.active_expire_enabled = enabled;
    }

    /// Starts recording the propagation stream (see `crate::propagate`); take it
    /// with `take_propagated`. Off by default: nothing is kept when nobody reads it.
    pub fn enable_propagation(&mut self) {
        self.server.propagation.enable();
    }

    /// Everything propagated since the last call, oldest first.
    pub fn take_propagated(&mut self) -> Vec<crate::propagate::Propagated> {
        self.server.propagation.take()
    }

    /// Commands that changed the dataset since start (Redis's dirty counter).
    pub fn dirty(&self) -> u64 {
        self.server.dirty
    }

    /// The replication id INFO reports as `master_replid`.
    pub fn repl_id(&self) -> &str {
        self.server.repl_id()
    }

    /// Call after changing the config through `config_mut`, so cached values follow.
    pub fn config_changed(&mut self) {
        commands::config_changed(&mut self.server, &mut self.keyspace, &mut self.clients);
    }

    pub fn set_rss_bytes(&mut self, rss: u64) {
        self.server.rss_bytes = Some(rss);
    }

    pub fn set_process_info(&mut self, info: ProcessInfo) {
        self.server.process = info;
    }

    /// Reply bytes handed to the driver for `conn` and not yet reported written (what
    /// counts against its output limit); None when no client has that connection.
    pub fn client_unwritten_bytes(&self, conn: ConnId) -> Option<usize> {
        self.clients.table.get(&conn).map(|c| c.unwritten_bytes)
    }

    pub fn client_count(&self) -> usize {
        self.clients.table.len()
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
                    self.server.log(
                        LogLevel::Warning,
                        format!("Refusing a cluster bus connection from {peer}: cluster support is disabled"),
                    );
                    self.server.effects.push_back(Effect::Abort { conn });
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
                self.clients.remove_and_forget(conn);
            }
            Input::Tick => {}
        }
        let ticked = now.mono_ms >= self.next_tick_mono_ms;
        if ticked {
            self.on_tick(now);
        }
        self.run_unblocked(now, ticked);
        if let Some(garbage) = self.keyspace.take_garbage() {
            self.server.effects.push_back(Effect::Free {
                garbage: Box::new(garbage),
            });
        }
    }

    /// Times out blocked clients and runs the pipelined input of clients unblocked
    /// since (Redis's `processUnblockedClients`).
    fn run_unblocked(&mut self, now: Now, sweep: bool) {
        if self.clients.blocking.is_empty() && self.clients.blocking.nothing_unblocked() {
            return;
        }
        loop {
            let unblocked = self.blocked_after_input(now, sweep);
            if unblocked.is_empty() {
                return;
            }
            for conn in unblocked {
                if self.clients.table.get(&conn).is_some_and(|c| !c.blocked) {
                    self.on_data(now, conn, &[]);
                }
            }
        }
    }

    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.server.effects.pop_front()
    }

    /// When the node wants `handle(now, Tick)` next (monotonic ms).
    pub fn next_deadline(&self) -> u64 {
        let blocked = self.clients.blocking.next_deadline().unwrap_or(u64::MAX);
        self.next_tick_mono_ms.min(blocked)
    }

    /// An outbound connection nobody here asked for (no subsystem makes any yet):
    /// a driver bug or a stale completion. Logged and closed, never a panic.
    fn on_unknown_outbound(&mut self, conn: ConnId, what: &str) {
        self.server.log(
            LogLevel::Warning,
            format!("Outbound connection {conn} {what}, but nothing asked for it; closing it"),
        );
        self.server.effects.push_back(Effect::Abort { conn });
    }

    /// A disk completion. No subsystem issues disk operations yet, so every id is
    /// unknown: logged, nothing else changes.
    fn on_disk_completion(&mut self, io: IoId, result: DiskResult) {
        let outcome = match result {
            DiskResult::Done { .. } => "done".to_string(),
            DiskResult::Failed(e) => format!("failed ({e:?})"),
        };
        self.server.log(
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
            Signal::Hangup => self.server.log(
                LogLevel::Notice,
                "Received SIGHUP, ignoring it as Redis does".to_string(),
            ),
            Signal::Terminate | Signal::Interrupt => {
                if self.server.shutting_down {
                    return;
                }
                self.server.shutting_down = true;
                let name = signal.name();
                self.server.log(
                    LogLevel::Warning,
                    format!("Received {name} scheduling shutdown..."),
                );
                self.server
                    .log(LogLevel::Warning, "User requested shutdown...".to_string());
                self.server.log(
                    LogLevel::Warning,
                    "Redis is now ready to exit, bye bye...".to_string(),
                );
                self.server
                    .effects
                    .push_back(Effect::Shutdown { exit_code: 0 });
            }
        }
    }

    fn on_accept(
        &mut self,
        now: Now,
        conn: ConnId,
        peer: String,
        local: String,
        peer_is_loopback: bool,
    ) {
        self.server.stats.total_connections_received += 1;
        if self.clients.table.len() >= self.server.config.maxclients() {
            self.server.stats.rejected_connections += 1;
            self.send_and_close(conn, b"-ERR max number of clients reached\r\n");
            return;
        }
        // Redis 7's protected mode: no password for the default user and a
        // non-loopback peer (bind is not consulted, as in Redis 7.0).
        if self.server.config.protected_mode()
            && !peer_is_loopback
            && self.server.config.requirepass().is_none()
        {
            self.send_and_close(conn, PROTECTED_MODE_ERROR.as_bytes());
            return;
        }
        let id = self.next_client_id;
        self.next_client_id += 1;
        let authenticated = self.server.config.requirepass().is_none();
        let mut client = Client::new(id, conn, peer, local, now.mono_ms, authenticated);
        client.is_local = peer_is_loopback;
        arm_output_limit(&self.server.hot.output_limits, &mut client);
        self.clients.table.insert(conn, client);
    }

    fn send_and_close(&mut self, conn: ConnId, bytes: &[u8]) {
        self.server.effects.push_back(Effect::Send {
            conn,
            bytes: bytes.to_vec(),
        });
        self.server.effects.push_back(Effect::Close { conn });
    }

    fn on_data(&mut self, now: Now, conn: ConnId, bytes: &[u8]) {
        let Some(mut client) = self.clients.table.remove(&conn) else {
            return;
        };
        self.server.stats.total_net_input_bytes += bytes.len() as u64;
        client.last_interaction_mono_ms = now.mono_ms;
        if client.close_after_reply || client.close_asap {
            self.clients.table.insert(conn, client);
            return;
        }
        client.qbuf.extend_from_slice(bytes);
        client.qbuf_peak = client.qbuf_peak.max(client.qbuf.len());
        self.clients.running_client_bytes = client.memory_bytes();
        let mut qbuf = std::mem::take(&mut client.qbuf);
        let mut parser = std::mem::take(&mut client.parser);
        let mut req = std::mem::take(&mut client.request);
        let mut qpos = 0usize;
        let proto_max = self.server.hot.proto_max_bulk_len_bytes;
        arm_output_limit(&self.server.hot.output_limits, &mut client);
        while !client.close_after_reply
            && !client.close_asap
            && !self.server.shutting_down
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
                        commands::execute(&mut self.ctx(&mut client, now), &argv);
                        self.serve_ready_keys(now);
                        // The command may have changed the client's class (SUBSCRIBE)
                        // or filled its output: Redis checks the limits as each reply
                        // is added and stops reading a client it will close.
                        arm_output_limit(&self.server.hot.output_limits, &mut client);
                        if self.output_over_limit(&mut client, now) {
                            client.close_asap = true;
                        }
                    }
                    qpos += req.consumed_bytes;
                }
                Err(e) => {
                    client.out.error_bytes(&e.reply_text());
                    self.server.stats.total_error_replies += 1;
                    client.close_after_reply = true;
                    let peer = client.peer.clone();
                    self.server.log(
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
        let qbuf_limit = self.server.hot.client_query_buffer_limit_bytes;
        if client.qbuf.len() as u64 > qbuf_limit {
            let name = client.peer.clone();
            self.server.log(LogLevel::Warning, format!("Closing client that reached max query buffer length: addr={name} (qbuf initial bytes omitted)"));
            client.qbuf = Vec::new();
            client.out.discard();
            client.close_after_reply = true;
        }
        self.clients.running_client_bytes = 0;
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
            self.server.log(
                LogLevel::Warning,
                format!("Client {line} scheduled to be closed ASAP for overcoming of output buffer limits."),
            );
            client.out.discard();
            self.clients.forget(&mut client);
            self.server.effects.push_back(Effect::Abort { conn });
            return;
        }
        self.flush_client(&mut client);
        if client.close_after_reply {
            self.clients.forget(&mut client);
            self.server.effects.push_back(Effect::Close { conn });
        } else {
            self.clients.table.insert(conn, client);
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
        let Some(limit) = self.server.hot.output_limits.get(class.limits_index()) else {
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
        let hot = self.server.hot;
        self.clients.table.with_mut(&conn, |c| {
            c.unwritten_bytes = c.unwritten_bytes.saturating_sub(bytes);
            arm_output_limit(&hot.output_limits, c);
        });
    }

    /// Flushes the clients that received pub/sub messages during the last step.
    pub(crate) fn flush_pending(&mut self) {
        let now = self.last_now;
        while let Some(conn) = self.clients.pending_flush.pop_first() {
            if let Some(client) = self.clients.table.remove(&conn) {
                self.put_back(now, client);
            }
        }
    }

    /// Moves a client's pending output into a Send effect; the driver holds it (and
    /// it counts against the client's output limit) until reported written.
    fn flush_client(&mut self, client: &mut Client) {
        if !client.out.is_empty() {
            client.out_peak = client.out_peak.max(client.out.len());
            // The next batch likely needs as much: start it with that capacity.
            let bytes = client.out.take(client.out.len().clamp(256, 64 * 1024));
            self.server.stats.total_net_output_bytes += bytes.len() as u64;
            client.unwritten_bytes = client.unwritten_bytes.saturating_add(bytes.len());
            arm_output_limit(&self.server.hot.output_limits, client);
            self.server.effects.push_back(Effect::Send {
                conn: client.conn,
                bytes,
            });
        }
    }

    fn on_tick(&mut self, now: Now) {
        let hz = self.server.config.hz().clamp(1, 500) as u64;
        let period_ms = 1000 / hz;
        self.next_tick_mono_ms = now.mono_ms + period_ms;
        if self.server.cron_paused {
            return;
        }
        if self.server.active_expire_enabled {
            let effort = self.server.config.active_expire_effort();
            let mut rng = std::mem::replace(&mut self.server.rng, ChaCha8Rng::seed_from_u64(0));
            self.keyspace
                .active_expire_cycle(now.wall_ms, effort, |n| rng.gen_range(0..n.max(1)));
            self.server.rng = rng;
        }
        self.clients
            .drain_keyspace_log(&mut self.keyspace, &mut self.server, None);
        self.flush_pending();
        self.close_idle_clients(now);
        self.resize_query_buffers(now, hz);
        // instantaneous_ops_per_sec: one sample per 100 ms, 16 kept, as Redis.
        let samples = &mut self.server.stats.ops_samples;
        if samples.back().is_none_or(|&(t, _)| now.mono_ms >= t + 100) {
            samples.push_back((now.mono_ms, self.server.stats.total_commands_processed));
            if samples.len() > 16 {
                samples.pop_front();
            }
        }
    }

    fn close_idle_clients(&mut self, now: Now) {
        let timeout_secs = self.server.config.timeout_secs();
        if timeout_secs == 0 {
            return;
        }
        let limit_ms = timeout_secs.saturating_mul(1000);
        let idle: Vec<ConnId> = self
            .clients
            .table
            .values()
            // As Redis, blocked clients and subscribers are never timed out.
            .filter(|c| !c.blocked && !c.is_pubsub())
            .filter(|c| now.mono_ms.saturating_sub(c.last_interaction_mono_ms) > limit_ms)
            .map(|c| c.conn)
            .collect();
        for conn in idle {
            if let Some(mut client) = self.clients.table.remove(&conn) {
                self.clients.forget(&mut client);
            }
            self.server
                .log(LogLevel::Verbose, "Closing idle client".into());
            self.server.effects.push_back(Effect::Close { conn });
        }
    }

    /// Redis's `clientsCronResizeQueryBuffer`, over all clients once a second (a
    /// slice each tick): frees the spare room of a query buffer idle for over two
    /// seconds, and trims one much bigger than its recent peak.
    fn resize_query_buffers(&mut self, now: Now, hz: u64) {
        let count = self.clients.table.len();
        if count == 0 {
            return;
        }
        let per_tick = (count as u64 / hz.max(1)).max(CLIENTS_CRON_MIN_ITERATIONS) as usize;
        for _ in 0..per_tick.min(count) {
            let conn = match self.clients.table.next_conn_from(self.qbuf_cron_cursor) {
                Some(c) => c,
                None => match self.clients.table.next_conn_from(0) {
                    Some(c) => c,
                    None => return,
                },
            };
            self.qbuf_cron_cursor = conn + 1;
            self.clients
                .table
                .with_mut(&conn, |c| resize_query_buffer(c, now));
        }
    }

    /// True when `maxmemory` is set and used memory is over it.
    pub fn over_maxmemory(&self) -> bool {
        self.server.over_maxmemory(|| self.used_memory_bytes())
    }

    /// `used_memory`: logical bytes of the dataset, clients and a fixed baseline.
    pub fn used_memory_bytes(&self) -> usize {
        self.clients.used_memory_bytes(&self.keyspace)
    }

    /// Waiters still blocked on a key that could serve them (see
    /// `blocking::Registry::stuck_waiters`): empty once an input has been handled.
    pub fn stuck_waiters(&self, now_wall_ms: u64) -> Vec<u64> {
        self.clients
            .blocking
            .stuck_waiters(&self.keyspace, now_wall_ms)
    }
}

pub const PROTECTED_MODE_ERROR: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";
