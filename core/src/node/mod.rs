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
mod persist;

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
    /// Loading at boot and the running save (`persist`).
    persist: persist::Persist,
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
            persist: persist::Persist::default(),
        };
        node.server
            .observe
            .set_command_names(node.commands.slot_names());
        node.server.aof.hash_seeds = seeds.hash_seeds;
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

    /// Hands the node the clock it times commands with (see `io::CommandClock`).
    /// Without one every duration is 0.
    pub fn set_command_clock(&mut self, clock: Box<dyn crate::io::CommandClock>) {
        self.server.observe.set_clock(clock);
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
        if !self.server.aof.booted {
            self.aof_boot(now);
        }
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
            Input::Connected { conn } => self.on_unknown_outbound(conn, "connected"),
            Input::ConnectFailed { conn, error } => {
                self.on_unknown_outbound(conn, &format!("failed ({error})"))
            }
            Input::Disk { io, result } => self.on_disk_completion(io, result),
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
        }
        self.continue_evictions();
        self.run_unblocked(now, ticked);
        self.run_persist_requests(now);
        if save_turn {
            self.step_save(now);
        }
        if let Some(garbage) = self.keyspace.take_garbage() {
            self.server.effects.push_back(Effect::Free {
                garbage: Box::new(garbage),
            });
        }
        self.aof_after_step(now);
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
        if self.server.eviction_running || self.save_wants_step() || self.aof_wants_step() {
            return self.last_now.mono_ms;
        }
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

    /// Hands a completion to the subsystem that issued it; gives it back when none did.
    fn claim_disk_completion(&mut self, io: IoId, result: DiskResult) -> Option<DiskResult> {
        if self.server.aof.pending.contains_key(&io) {
            self.aof_on_disk(io, result);
            return None;
        }
        Some(result)
    }

    /// Redis's signal handling: SIGTERM/SIGINT schedule a shutdown (no persistence yet,
    /// so it is immediate), SIGHUP is ignored.
    fn on_signal(&mut self, signal: Signal) {
        match signal {
            // Redis ignores SIGHUP (SIG_IGN) and logs nothing.
            Signal::Hangup => {}
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
