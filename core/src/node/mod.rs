//! The node: keel's whole single-server behaviour as one Sans-IO state machine.
//!
//! A driver hands it inputs with the current time (`handle`), executes the effects it
//! asks for in order (`poll_effect`) and calls back at `next_deadline`. It never reads
//! a clock, touches a socket or a file, or draws OS randomness: all of that is handed in.
//! This file routes inputs and holds the parts; `dispatch` (clients and their commands),
//! `blocked` (serving blocked clients) and `cron` (timers) do the work.

mod aof;
#[cfg(test)]
mod aof_tests;
mod blocked;
mod cron;
mod dispatch;
mod evict;
#[cfg(test)]
mod latency_tests;
mod persist;
mod reload;
#[cfg(test)]
mod repl_chain_tests;
mod repl_failover;
#[cfg(test)]
mod repl_failover_tests;
mod repl_master;
mod repl_replica;
#[cfg(test)]
mod repl_replica_tests;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::client::Client;
use crate::clients::Clients;
use crate::commands::{self, CommandTable, Ctx};
use crate::config::Config;
use crate::io::{ConnId, DiskResult, Effect, Input, IoId, Listener, LogLevel, Now, Signal};
use crate::keyspace::{HashSeeds, Keyspace};
use crate::server::{NodeSeeds, ProcessInfo, Server, Stats};

/// The node: it routes each input to the sub-machine that owns it — the clients and
/// their dispatch (`dispatch`, `blocked`) for now; persistence, replication and
/// cluster to come — and runs the timers (`cron`). Each part is borrowed on its own, so a
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
    /// The config file SIGHUP re-reads (`reload`).
    reload: reload::ReloadState,
    /// Loading at boot and the running save (`persist`).
    persist: persist::Persist,
    /// The append-only file (`crate::persist::aof`); commands see its status in
    /// `Server::persist.aof`.
    aof: crate::persist::aof::AofState,
    /// The master's side of replication (`repl_master`); commands see its state in
    /// `Server::repl_master`.
    repl: repl_master::ReplMaster,
}

impl Node {
    pub fn new(config: Config, seeds: NodeSeeds, now: Now) -> Node {
        let mut rng = ChaCha8Rng::seed_from_u64(seeds.rng_seed);
        let mut id_bytes = [0u8; 20];
        rng.fill_bytes(&mut id_bytes);
        let run_id = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
        let databases = config.settings().databases;
        let mut node = Node {
            keyspace: Keyspace::new(databases, HashSeeds(seeds.hash_seeds)),
            server: Server::new(config, rng, run_id, now),
            clients: Clients::default(),
            commands: CommandTable::new(),
            qbuf_cron_cursor: 0,
            last_now: now,
            next_client_id: 1,
            next_tick_mono_ms: now.mono_ms,
            reload: reload::ReloadState::default(),
            persist: persist::Persist::default(),
            aof: Default::default(),
            repl: Default::default(),
        };
        node.server
            .observe
            .set_command_names(node.commands.slot_names());
        node.aof.hash_seeds = seeds.hash_seeds;
        node.config_changed();
        node.repl_boot();
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
        let drops = m == Some(crate::mutants::Mutant::TtlDenseDropsEntry);
        let misplaces = m == Some(crate::mutants::Mutant::IndexSplitMisplaces);
        let scale = self
            .keyspace
            .index_scale()
            .with_dense_drop(drops)
            .with_split_misplace(misplaces);
        self.keyspace.set_index_scale(scale);
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

    /// The replication offset INFO reports as `master_repl_offset`: bytes of the
    /// stream produced (a master) or applied (a replica).
    pub fn repl_offset(&self) -> u64 {
        self.server.repl.master_repl_offset
    }

    /// The node is a replica (REPLICAOF): it expires no key on its own.
    pub fn is_replica(&self) -> bool {
        self.server.replica.is_replica()
    }

    /// The address (host, port) this node replicates from (`REPLICAOF`), None on a
    /// master. Read by the simulator to follow the topology over time.
    pub fn repl_master(&self) -> Option<(&str, u16)> {
        self.server
            .replica
            .master
            .as_ref()
            .map(|m| (m.host.as_str(), m.port))
    }

    /// The syncs this node served as a master (INFO `sync_full`, `sync_partial_ok`).
    pub fn repl_syncs_served(&self) -> (u64, u64) {
        let m = &self.server.repl_master;
        (m.sync_full, m.sync_partial_ok)
    }

    /// Keeps a copy of every byte this node adds to its replication stream (its
    /// backlog), for `take_repl_tap`: the simulator's record of what each node
    /// produced, against which it judges what a `+CONTINUE` serves. Off in
    /// production.
    pub fn enable_repl_tap(&mut self) {
        self.server.repl_master.tap.get_or_insert_with(Vec::new);
    }

    /// The stream bytes added since the last call (they end at `repl_offset`).
    pub fn take_repl_tap(&mut self) -> Vec<u8> {
        self.server
            .repl_master
            .tap
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    /// A FAILOVER is in progress: writes are held by its pause until it ends.
    pub fn failover_in_progress(&self) -> bool {
        self.server.failover.in_progress()
    }

    /// Where every database's TTL index changes shape (`keyspace::IndexScale`): the
    /// simulator's `ttl-index` scenario sets `IndexScale::SMALL` at boot.
    pub fn set_index_scale(&mut self, scale: crate::keyspace::IndexScale) {
        self.keyspace.set_index_scale(scale);
    }

    /// A SHUTDOWN waits for lagging replicas (`shutdown-timeout`), writes held.
    pub fn shutdown_waiting_for_replicas(&self) -> bool {
        self.persist.shutdown_wait.is_some()
    }

    /// A replica is receiving a full sync (its offset is its master's, its data not
    /// yet).
    pub fn repl_syncing(&self) -> bool {
        self.server.replica.sync_in_progress()
    }

    /// Call after changing the config through `config_mut`, so cached values follow.
    pub fn config_changed(&mut self) {
        commands::config_changed(&mut self.server, &mut self.keyspace, &mut self.clients);
    }

    /// Hands the node the clock it times commands with (see `io::CommandClock`).
    /// Without one every duration is 0.
    pub fn set_command_clock(&mut self, clock: Box<dyn crate::io::CommandClock>) {
        self.server.observe.set_clock(clock);
    }

    /// The open-files limit the driver runs under (CONFIG SET maxclients checks it).
    pub fn set_open_files_limit(&mut self, limit: u64) {
        self.server.open_files_limit = Some(limit);
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
        self.server.observe.wall_secs = now.wall_ms / 1000;
        self.end_pause_if_due(now);
        if !self.aof.booted {
            self.aof_boot(now);
        }
        self.resume_waiting_clients(now);
        // A running save walks one step per loop turn (the driver's Tick) or disk
        // answer, not per client input: under many clients a step per input would put
        // a slice in front of every request.
        let save_turn = matches!(input, Input::Tick | Input::Disk { .. });
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
            Input::Connected { conn } if self.repl_owns(conn) => self.repl_on_connected(now, conn),
            Input::ConnectFailed { conn, error } if self.repl_owns(conn) => {
                self.repl_on_connect_failed(now, conn, &error)
            }
            Input::Data { conn, bytes } if self.repl_owns(conn) => {
                self.repl_on_data(now, conn, bytes)
            }
            Input::Closed { conn, reason } if self.repl_owns(conn) => {
                self.repl_on_closed(now, conn, &reason)
            }
            Input::Connected { conn } => self.on_unknown_outbound(conn, "connected"),
            Input::ConnectFailed { conn, error } => {
                self.on_unknown_outbound(conn, &format!("failed ({error})"))
            }
            Input::Disk {
                io,
                result,
                elapsed_us,
            } => {
                let threshold_ms = self.server.hot.latency_monitor_threshold_ms;
                self.server
                    .observe
                    .disk_done(io, elapsed_us, threshold_ms, now.wall_ms / 1000);
                if !self.reload_read_done(now, io, &result)
                    && !self.rewrite_step(now, io, &result)
                    && !self.config_dir_done(now, io, &result)
                    && !self.rollback_disk_done(io, &result)
                {
                    self.on_disk_completion(io, result)
                }
            }
            Input::Listened { io, result } => self.on_listened(now, io, result),
            Input::Signal(signal) => self.on_signal(signal),
            Input::Data { conn, bytes } => {
                if self.clients.table.get(&conn).is_some() {
                    self.on_data(now, conn, bytes);
                } else {
                    // A driver bug or a race with our own close: never a panic.
                    self.server.log(
                        LogLevel::Verbose,
                        format!(
                            "Ignoring {} bytes for unknown connection {conn}",
                            bytes.len()
                        ),
                    );
                }
            }
            Input::Written { .. } => {}
            Input::Closed { conn, reason } => {
                if !self.clients.remove_and_forget(conn) {
                    self.server.log(
                        LogLevel::Verbose,
                        format!("Connection {conn} closed ({reason:?}) but no client had it"),
                    );
                }
            }
            Input::Tick => {}
        }
        let ticked = now.mono_ms >= self.next_tick_mono_ms;
        if ticked {
            self.on_tick(now);
            self.repl_replica_cron(now);
        }
        self.continue_evictions();
        self.run_unblocked(now, ticked);
        // Before the held clients run, as Redis's beforeSleep updates the failover
        // first: a timeout that aborts it releases them in this same step (after, they
        // waited for the next tick).
        self.failover_step(now);
        if self.server.pause_relaxed {
            self.run_postponed(now);
        }
        self.run_persist_requests(now);
        self.repl_run_events(now);
        if save_turn {
            self.step_save(now);
        }
        if let Some(garbage) = self.keyspace.take_garbage() {
            self.server.effects.push_back(Effect::Free {
                garbage: Box::new(garbage),
            });
        }
        self.aof_after_step(now, save_turn);
        self.repl_master_step(now);
        self.shutdown_wait_step(now);
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

    /// Ends a CLIENT PAUSE whose time is up (Redis's
    /// `checkClientPauseTimeoutAndReturnIfPaused`, run before anything else here).
    fn end_pause_if_due(&mut self, now: Now) {
        if self
            .server
            .pause
            .is_some_and(|p| p.end_mono_ms <= now.mono_ms)
        {
            // CLIENT PAUSE's time is up; a FAILOVER's write pause (no end) stays.
            let failover = self.server.failover_pause;
            self.server.set_pause(None, failover);
        }
        // Commands run after this input see the dataset still only while paused.
        // Outside commands too (timers, served blocked clients) a replica deletes nothing.
        self.keyspace.keep_expired = self.server.replica.is_replica();
    }

    /// Lets the clients CLIENT PAUSE held try again, in the order they were held
    /// (Redis's `unblockPostponedClients`); under a pause still in force (ALL became
    /// WRITE) a held write waits again.
    fn run_postponed(&mut self, now: Now) {
        self.server.pause_relaxed = false;
        let held = std::mem::take(&mut self.clients.postponed);
        for conn in held {
            let found = self.clients.table.with_mut(&conn, |c| c.postponed = false);
            if found.is_some() {
                self.on_data(now, conn, &[]);
            }
        }
        self.keyspace.keep_expired = self.server.replica.is_replica();
    }

    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.server.effects.pop_front()
    }

    /// When the node wants `handle(now, Tick)` next (monotonic ms).
    pub fn next_deadline(&self) -> u64 {
        let blocked = self.clients.blocking.next_deadline().unwrap_or(u64::MAX);
        if self.server.eviction_running
            || self.save_wants_step()
            || self.aof_wants_step()
            || self.repl_wants_step()
            || self.persist.resume_waiting
        {
            return self.last_now.mono_ms;
        }
        let pause_end = self.server.pause.map_or(u64::MAX, |p| p.end_mono_ms);
        self.next_tick_mono_ms.min(blocked).min(pause_end)
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

    /// A disk completion, routed to the part that issued it (loading and saving in
    /// `persist`); an unknown id is logged, nothing else changes.
    fn on_disk_completion(&mut self, io: IoId, result: DiskResult) {
        let Some(result) = self.persist_disk(io, result) else {
            return;
        };
        let Some(result) = self.claim_disk_completion(io, result) else {
            return;
        };
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

    /// The driver's answer to the listeners a CONFIG SET asked for: commits or drops
    /// the change and answers the client, which then goes on with its input.
    fn on_listened(&mut self, now: Now, io: IoId, result: Result<(), String>) {
        use crate::server::ListenOutcome;
        let Some(pending) = self.server.pending_listen.take_if(|p| p.io == io) else {
            self.server.log(
                LogLevel::Warning,
                format!(
                    "Listen {} answered, but none is pending with that id; ignored",
                    io.0
                ),
            );
            return;
        };
        if let Err(why) = &result {
            self.server
                .log(LogLevel::Warning, format!("Failed to listen: {why}"));
        }
        let reply: Option<Result<(), Vec<u8>>> = match (pending.outcome, result.is_ok()) {
            (ListenOutcome::Commit(next), true) => {
                self.server.config = *next;
                self.config_changed();
                Some(Ok(()))
            }
            (ListenOutcome::Commit(_), false) => {
                self.server.stats.total_error_replies += 1;
                self.server.observe.count_error(&pending.error);
                Some(Err(pending.error))
            }
            (ListenOutcome::Undo { .. }, true) => None,
            (ListenOutcome::Undo { bind, port }, false) => {
                let pairs: [(&[u8], &[u8]); 2] =
                    [(b"bind", bind.as_bytes()), (b"port", port.as_bytes())];
                if self.server.config.set(&pairs).is_ok() {
                    self.config_changed();
                }
                None
            }
        };
        let conn = pending.conn;
        let answered = self.clients.table.with_mut(&conn, |c| {
            c.awaiting_driver = false;
            match &reply {
                Some(Ok(())) => c.out.ok(),
                Some(Err(error)) => c.out.error_bytes(error),
                None => {}
            }
        });
        if answered.is_some() {
            self.on_data(now, conn, &[]);
        }
    }

    /// Hands a completion to the subsystem that issued it; gives it back when none did.
    fn claim_disk_completion(&mut self, io: IoId, result: DiskResult) -> Option<DiskResult> {
        if self.aof.pending.contains_key(&io) {
            self.aof_on_disk(io, result);
            return None;
        }
        Some(result)
    }

    /// Redis's signal handling: SIGTERM/SIGINT schedule a shutdown (no persistence yet,
    /// so it is immediate), SIGHUP is ignored.
    fn on_signal(&mut self, signal: Signal) {
        match signal {
            // Redis ignores SIGHUP; keel reloads its config file (`reload`).
            Signal::Hangup => self.start_reload(),
            Signal::Terminate | Signal::Interrupt => {
                if self.server.shutting_down || self.server.persist.shutdown_pending {
                    return;
                }
                let name = signal.name();
                self.server.log(
                    LogLevel::Warning,
                    format!("Received {name} scheduling shutdown..."),
                );
                let s = self.server.config.settings();
                let flags = if signal == Signal::Interrupt {
                    s.shutdown_on_sigint
                } else {
                    s.shutdown_on_sigterm
                };
                let now = self.last_now;
                self.begin_shutdown(now, None, flags);
            }
        }
    }

    /// True when `maxmemory` is set and used memory, less replicas' output, is over it.
    pub fn over_maxmemory(&self) -> bool {
        self.server
            .over_maxmemory(|| self.clients.used_for_evict_bytes(&self.keyspace))
    }

    /// Whether replies for `conn` are held until an AOF fsync (`appendfsync always`):
    /// a request that ran may have its answer waiting there.
    pub fn holds_reply_for(&self, conn: ConnId) -> bool {
        self.aof
            .held
            .iter()
            .any(|(_, e)| matches!(e, Effect::Send { conn: c, .. } if *c == conn))
    }

    /// Whether any reply is held until an AOF fsync: some request that ran may not
    /// have its answer out yet.
    pub fn holds_replies(&self) -> bool {
        self.aof
            .held
            .iter()
            .any(|(_, e)| matches!(e, Effect::Send { .. }))
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

#[cfg(test)]
mod pause_tests {
    use crate::testkit::Kit;

    #[test]
    fn write_pause_holds_writes_and_publish_until_it_ends() {
        let mut k = Kit::new("");
        k.connect(1);
        k.connect(2);
        k.connect(3);
        assert_eq!(k.cmd(1, "CLIENT PAUSE 1000 WRITE"), "+OK\r\n");
        assert_eq!(k.cmd(2, "SET k v"), "");
        assert_eq!(k.cmd(3, "PUBLISH ch x"), "");
        // Reads run; the held clients show as blocked, with their command.
        assert_eq!(k.cmd(1, "GET k"), "$-1\r\n");
        let info = k.cmd(1, "INFO clients");
        assert!(info.contains("blocked_clients:2\r\n"), "{info}");
        let list = k.cmd(1, "CLIENT LIST");
        assert!(
            list.contains("flags=b db=0") && list.contains("cmd=set "),
            "{list}"
        );
        k.advance_ms(999);
        assert_eq!(k.take(2), "");
        k.advance_ms(1);
        assert_eq!(k.take(2), "+OK\r\n");
        assert_eq!(k.take(3), ":0\r\n");
        assert_eq!(k.cmd(1, "GET k"), "$1\r\nv\r\n");
    }

    #[test]
    fn all_pause_holds_everything_and_unpause_releases_in_order() {
        let mut k = Kit::new("");
        k.connect(1);
        k.connect(2);
        k.connect(3);
        assert_eq!(k.cmd(1, "CLIENT PAUSE 100000"), "+OK\r\n");
        // Pipelined commands wait behind the held one.
        k.send_lines(2, "RPUSH l a;RPUSH l b");
        assert_eq!(k.cmd(3, "RPUSH l c"), "");
        assert_eq!(k.cmd(1, "PING"), "");
        k.advance_ms(100_000);
        assert_eq!(k.take(1), "+PONG\r\n");
        assert_eq!(k.take(2), ":1\r\n:2\r\n");
        assert_eq!(k.take(3), ":3\r\n");
    }

    #[test]
    fn mode_is_replaced_end_is_the_later_and_unpause_ends_it() {
        let mut k = Kit::new("");
        k.connect(1);
        k.connect(2);
        assert_eq!(k.cmd(1, "CLIENT PAUSE 5000 WRITE"), "+OK\r\n");
        assert_eq!(k.cmd(1, "CLIENT PAUSE 10 ALL"), "+OK\r\n");
        k.advance_ms(100);
        assert_eq!(k.cmd(2, "PING"), "");
        k.advance_ms(4900);
        assert_eq!(k.take(2), "+PONG\r\n");
        assert_eq!(k.cmd(1, "CLIENT PAUSE 100000 WRITE"), "+OK\r\n");
        assert_eq!(k.cmd(2, "SET a b"), "");
        assert_eq!(k.cmd(1, "CLIENT UNPAUSE"), "+OK\r\n");
        assert_eq!(k.take(2), "+OK\r\n");
    }

    #[test]
    fn a_write_is_held_before_it_is_queued_and_exec_of_a_write_is_held() {
        let mut k = Kit::new("");
        k.connect(1);
        k.connect(2);
        k.connect(3);
        assert_eq!(k.cmd(2, "MULTI"), "+OK\r\n");
        assert_eq!(k.cmd(2, "SET x 1"), "+QUEUED\r\n");
        assert_eq!(k.cmd(3, "MULTI"), "+OK\r\n");
        assert_eq!(k.cmd(1, "CLIENT PAUSE 1000 WRITE"), "+OK\r\n");
        assert_eq!(k.cmd(2, "EXEC"), "");
        assert_eq!(k.cmd(3, "SET y 1"), "");
        k.advance_ms(1000);
        assert_eq!(k.take(2), "*1\r\n+OK\r\n");
        assert_eq!(k.take(3), "+QUEUED\r\n");
    }

    #[test]
    fn a_paused_server_keeps_expired_keys_and_evicts_nothing() {
        let mut k = Kit::new("");
        k.connect(1);
        assert_eq!(k.cmd(1, "SET e 1 PX 100"), "+OK\r\n");
        assert_eq!(k.cmd(1, "CLIENT PAUSE 5000 WRITE"), "+OK\r\n");
        k.advance_ms(1000);
        assert_eq!(k.cmd(1, "GET e"), "$-1\r\n");
        assert_eq!(k.cmd(1, "EXISTS e"), ":0\r\n");
        assert_eq!(k.cmd(1, "DBSIZE"), ":1\r\n");
        k.advance_ms(4000);
        assert_eq!(k.cmd(1, "GET e"), "$-1\r\n");
        assert_eq!(k.cmd(1, "DBSIZE"), ":0\r\n");
    }

    #[test]
    fn pause_arguments_are_checked_as_redis_does() {
        let mut k = Kit::new("");
        k.connect(1);
        assert_eq!(
            k.cmd(1, "CLIENT PAUSE abc"),
            "-ERR timeout is not an integer or out of range\r\n"
        );
        assert_eq!(k.cmd(1, "CLIENT PAUSE -1"), "-ERR timeout is negative\r\n");
        assert_eq!(
            k.cmd(1, "CLIENT PAUSE 10 foo"),
            "-ERR CLIENT PAUSE mode must be WRITE or ALL\r\n"
        );
        assert!(k
            .cmd(1, "CLIENT pause 10 write extra")
            .starts_with("-ERR unknown subcommand or wrong number of arguments for 'pause'"));
        assert_eq!(
            k.cmd(1, "CLIENT UNPAUSE extra"),
            "-ERR wrong number of arguments for 'client|unpause' command\r\n"
        );
        assert_eq!(k.cmd(1, "CLIENT PAUSE 0 WRITE"), "+OK\r\n");
        assert_eq!(k.cmd(1, "SET a b"), "+OK\r\n");
    }
}

#[cfg(test)]
mod listen_tests {
    use crate::io::{Effect, Input, IoId};
    use crate::testkit::Kit;

    /// The `Listen` effects the node asked for since the last look.
    fn listens(k: &mut Kit) -> Vec<(IoId, Vec<String>, u16)> {
        let mut found = Vec::new();
        k.effects.retain(|(_, e)| match e {
            Effect::Listen { io, bind, port, .. } => {
                found.push((*io, bind.clone(), *port));
                false
            }
            _ => true,
        });
        found
    }

    #[test]
    fn config_set_port_waits_for_the_listen_and_commits_everything_on_success() {
        let mut k = Kit::new("");
        k.connect(1);
        k.send_lines(1, "CONFIG SET port 7000 hz 20;PING");
        assert_eq!(k.take(1), "", "no answer before the driver's");
        let asked = listens(&mut k);
        assert_eq!(asked.len(), 1);
        let (io, _, port) = asked[0].clone();
        assert_eq!(port, 7000);
        assert_eq!(k.node().config().settings().hz, 10, "nothing committed yet");
        k.input(0, Input::Listened { io, result: Ok(()) });
        assert_eq!(k.take(1), "+OK\r\n+PONG\r\n");
        assert_eq!(k.node().config().settings().port, 7000);
        assert_eq!(k.node().config().settings().hz, 20);
    }

    #[test]
    fn a_failed_listen_changes_nothing_and_answers_redis_error() {
        let mut k = Kit::new("");
        k.connect(1);
        k.send_lines(1, "CONFIG SET hz 20 bind 127.0.0.1 port 7000");
        let (io, bind, _) = listens(&mut k).remove(0);
        assert_eq!(bind, vec!["127.0.0.1".to_string()]);
        k.input(
            0,
            Input::Listened {
                io,
                result: Err("Address already in use".into()),
            },
        );
        assert_eq!(
            k.take(1),
            "-ERR CONFIG SET failed (possibly related to argument 'bind') - Failed to bind to specified addresses.\r\n"
        );
        let s = k.node().config().settings();
        assert_eq!((s.hz, s.port), (10, 6379));
        // An unchanged port and bind ask for nothing.
        assert_eq!(k.cmd(1, "CONFIG SET port 6379 hz 30"), "+OK\r\n");
        assert!(listens(&mut k).is_empty());
    }

    #[test]
    fn inside_exec_the_change_applies_at_once_and_a_failure_undoes_the_listener_part() {
        let mut k = Kit::new("");
        k.connect(1);
        k.send_lines(1, "MULTI;CONFIG SET port 7001;EXEC");
        assert_eq!(k.take(1), "+OK\r\n+QUEUED\r\n*1\r\n+OK\r\n");
        let (io, _, _) = listens(&mut k).remove(0);
        assert_eq!(k.node().config().settings().port, 7001);
        k.input(
            0,
            Input::Listened {
                io,
                result: Err("Address already in use".into()),
            },
        );
        assert_eq!(k.node().config().settings().port, 6379);
    }
}
