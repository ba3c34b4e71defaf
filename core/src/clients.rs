//! The clients sub-machine's state: the table of connected clients and the registries
//! keyed by them (blocked clients, WATCHed keys, pub/sub subscribers), with what
//! crosses them — forgetting a client everywhere, publishing into subscribers' output,
//! turning keyspace events into WATCH invalidations and notifications. It never runs a
//! command, never builds an effect other than a log line, and never sees the node.

use std::collections::BTreeSet;

use crate::blocking::{self, reply_timeout};
use crate::client::{arm_output_limit, Client, ClientTable, ReplyMode};
use crate::config::ClientOutputBufferLimit;
use crate::io::ConnId;
use crate::keyspace::{EvictParams, EvictResult, Keyspace};
use crate::multi::WatchRegistry;
use crate::pubsub::PubSub;
use crate::server::Server;
use rand::Rng;

/// Baseline bytes a node counts before any key or client (tables, shared state), so
/// `used_memory` of an empty node is in the range Redis reports.
pub const BASELINE_USED_BYTES: usize = 800 * 1024;

#[derive(Debug, Default)]
pub struct Clients {
    /// Every client but the one whose batch is running.
    pub table: ClientTable,
    /// Clients other than the running one that got output (pub/sub messages, CLIENT
    /// UNBLOCK) and must be flushed once the command is done.
    pub pending_flush: BTreeSet<ConnId>,
    /// Clients blocked on keys (BLPOP and friends).
    pub blocking: blocking::Registry,
    /// WATCHed keys and the clients whose transaction they invalidated.
    pub watch: WatchRegistry,
    /// Subscribers of channels, patterns and shard channels.
    pub pubsub: PubSub,
    /// Clients in MONITOR mode, fed every command run (Redis's `server.monitors`).
    pub monitors: BTreeSet<ConnId>,
    /// Clients whose command waits for a CLIENT PAUSE to end, in arrival order
    /// (Redis's `server.postponed_clients`).
    pub postponed: Vec<ConnId>,
    /// Buffer bytes of the client whose batch is running (it is out of `table`
    /// meanwhile), so `used_memory` still counts them.
    pub running_client_bytes: usize,
}

impl Clients {
    /// Drops what is kept about a client beside the client itself: its blocked
    /// operation, its subscriptions and its WATCHed keys.
    pub fn forget(&mut self, client: &mut Client) {
        self.blocking.remove(client.id);
        self.pubsub.forget(&mut client.subs, client.conn);
        self.watch.forget(client.conn);
        self.pending_flush.remove(&client.conn);
        self.monitors.remove(&client.conn);
        if client.postponed {
            self.postponed.retain(|&c| c != client.conn);
        }
    }

    /// Writes a MONITOR line to every monitor (`running` is the client whose command
    /// ran; it is out of the table meanwhile). Others are flushed after the command.
    pub fn feed_monitors(&mut self, mut running: Option<&mut Client>, line: &str) {
        let Clients {
            monitors,
            table,
            pending_flush,
            ..
        } = self;
        for &conn in monitors.iter() {
            if let Some(r) = running.as_deref_mut().filter(|r| r.conn == conn) {
                r.out.simple(line);
            } else if table.with_mut(&conn, |c| c.out.simple(line)).is_some() {
                pending_flush.insert(conn);
            }
        }
    }

    /// Takes `conn`'s client out of the table and forgets it (CLIENT KILL, an idle
    /// or closed connection). False when no client has that connection.
    pub fn remove_and_forget(&mut self, conn: ConnId) -> bool {
        match self.table.remove(&conn) {
            Some(mut client) => {
                self.forget(&mut client);
                true
            }
            None => false,
        }
    }

    /// `used_memory`: logical bytes of the dataset, clients and a fixed baseline.
    pub fn used_memory_bytes(&self, keyspace: &Keyspace) -> usize {
        BASELINE_USED_BYTES
            + keyspace.used_bytes()
            + self.table.memory_bytes()
            + self.running_client_bytes
    }

    /// Redis's `performEvictions`: when `used_memory` is over `maxmemory`, evicts keys
    /// under the configured policy, bounded by `maxmemory-eviction-tenacity`. The
    /// evicted keys wait in `keyspace.evicted_log` for `drain_keyspace_log`.
    pub fn evict_keys(&self, keyspace: &mut Keyspace, server: &mut Server) -> EvictResult {
        let max_bytes = server.hot.maxmemory_bytes;
        // A paused server keeps its dataset as it is, and a loading one is still
        // building it: no eviction, and no OOM either (Redis's
        // isSafeToPerformEvictions).
        if server.pause.is_some() || server.persist.loading || server.persist.boot_probe {
            return EvictResult::Ok;
        }
        // Replicas' output is left out, as Redis's freeMemoryGetNotCountedMemory
        // leaves it: the DELs an eviction propagates must not call for more.
        let others = (BASELINE_USED_BYTES + self.memory_bytes())
            .saturating_sub(self.table.not_counted_for_evict_bytes()) as u64;
        let used = |ks: &Keyspace| others + ks.used_bytes() as u64;
        if max_bytes == 0 || used(keyspace) <= max_bytes {
            server.eviction_running = false;
            return EvictResult::Ok;
        }
        let s = server.config.settings();
        let params = EvictParams {
            policy: s.maxmemory_policy,
            samples: s.maxmemory_samples,
            budget_keys: crate::keyspace::evict::eviction_budget_keys(
                s.maxmemory_eviction_tenacity,
            ),
            lazy: s.lazyfree_lazy_eviction,
        };
        let before = keyspace.evicted_keys;
        let rng = &mut server.rng;
        // Timed by the command clock, as Redis times `eviction-cycle` and
        // `eviction-del`; with the monitor off no clock is read per key.
        let threshold_ms = server.hot.latency_monitor_threshold_ms;
        let observe = &mut server.observe;
        let cycle_started_us = if threshold_ms > 0 {
            observe.now_micros()
        } else {
            0
        };
        let (result, slowest_del_us) = keyspace.evict_timed(
            &params,
            max_bytes,
            used,
            |n| rng.gen_range(0..n.max(1)),
            || {
                if threshold_ms > 0 {
                    observe.now_micros()
                } else {
                    0
                }
            },
        );
        if threshold_ms > 0 {
            let now_secs = server.observe.wall_secs;
            let cycle_us = server.observe.now_micros().saturating_sub(cycle_started_us);
            let observe = &mut server.observe;
            observe.latency_sample("eviction-del", threshold_ms, now_secs, slowest_del_us);
            observe.latency_sample("eviction-cycle", threshold_ms, now_secs, cycle_us);
        }
        server.stats.evicted_keys += keyspace.evicted_keys - before;
        server.eviction_running = result == EvictResult::Running;
        result
    }

    /// `used_memory` less what the eviction decision leaves out (replicas' output):
    /// what `maxmemory` is compared with, as Redis's `getMaxmemoryState` does.
    pub fn used_for_evict_bytes(&self, keyspace: &Keyspace) -> usize {
        self.used_memory_bytes(keyspace)
            .saturating_sub(self.table.not_counted_for_evict_bytes())
    }

    /// Bytes the clients hold (buffers, queued transactions, subscriptions), the
    /// running one included: MEMORY STATS's `clients.normal`.
    pub fn memory_bytes(&self) -> usize {
        self.table.memory_bytes() + self.running_client_bytes
    }

    /// Re-arms every client's output limit (CONFIG SET client-output-buffer-limit).
    pub fn rearm_output_limits(&mut self, limits: &[ClientOutputBufferLimit; 3]) {
        let conns: Vec<ConnId> = self.table.keys().copied().collect();
        for conn in conns {
            self.table.with_mut(&conn, |c| arm_output_limit(limits, c));
        }
    }

    /// Delivers a pub/sub message (`crate::pubsub::publish`) into the subscribers'
    /// output; `running` is the client whose command runs (it is out of the table
    /// meanwhile). Others are flushed after the command. Returns the receivers.
    pub fn publish(
        &mut self,
        mut running: Option<&mut Client>,
        channel: &[u8],
        message: &[u8],
        shard: bool,
    ) -> usize {
        let Clients {
            pubsub,
            table,
            pending_flush,
            ..
        } = self;
        crate::pubsub::publish(pubsub, channel, message, shard, |conn, write| {
            if let Some(r) = running.as_deref_mut().filter(|r| r.conn == conn) {
                write(&mut r.out);
                true
            } else if table.with_mut(&conn, |c| write(&mut c.out)).is_some() {
                pending_flush.insert(conn);
                true
            } else {
                false
            }
        })
    }

    /// Unblocks client `id` as CLIENT UNBLOCK does: with the timeout reply, or with
    /// `-UNBLOCKED` when `error`; its reply is flushed after the command. False when
    /// that client is not blocked.
    pub fn unblock(&mut self, keyspace: &mut Keyspace, id: u64, error: bool) -> bool {
        let Some(conn) = self.blocking.get(id).map(|b| b.conn) else {
            return false;
        };
        let Clients {
            table, blocking, ..
        } = self;
        let done = table.with_mut(&conn, |client| {
            if client.id != id {
                return false;
            }
            if error {
                client
                    .out
                    .error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
            } else {
                reply_timeout(client);
            }
            blocking.release(client, keyspace);
            // CLIENT REPLY OFF was on when it blocked: the reply goes.
            if client.reply_mode == ReplyMode::Off {
                client.out.discard();
            }
            true
        });
        if done == Some(true) {
            self.pending_flush.insert(conn);
            true
        } else {
            self.blocking.remove(id);
            false
        }
    }

    /// Turns keys deleted by expiry since the last call into WATCH invalidations and
    /// `expired` notifications (and a propagated DEL), in deletion order, then keys
    /// created into `new` notifications. `running`: the client whose command runs, if
    /// any (it is out of the table meanwhile).
    pub fn drain_keyspace_log(
        &mut self,
        keyspace: &mut Keyspace,
        server: &mut Server,
        mut running: Option<&mut Client>,
    ) {
        if keyspace.expired_log.is_empty()
            && keyspace.new_log.is_empty()
            && keyspace.evicted_log.is_empty()
        {
            return;
        }
        for (db, key, lazy) in std::mem::take(&mut keyspace.evicted_log) {
            let key = key.as_bytes();
            // Redis's propagateDeletion: UNLINK when freed lazily, DEL otherwise.
            let verb: &[u8] = if lazy { b"UNLINK" } else { b"DEL" };
            if !server
                .mutants
                .is(crate::mutants::Mutant::EvictionNotPropagated)
            {
                server.propagation.record(db, &[verb, key]);
            }
            self.watch.touch_expired(db, key);
            self.notify_keyspace_event(
                server,
                running.as_deref_mut(),
                crate::notify::EVICTED,
                "evicted",
                key,
                db,
            );
        }
        for (db, key) in std::mem::take(&mut keyspace.expired_log) {
            let key = key.as_bytes();
            // An expired key leaves every copy of the dataset by an explicit DEL.
            server.propagation.record(db, &[&b"DEL"[..], key]);
            if !server.mutants.is(crate::mutants::Mutant::WatchMissesExpiry) {
                self.watch.touch_expired(db, key);
            }
            self.notify_keyspace_event(
                server,
                running.as_deref_mut(),
                crate::notify::EXPIRED,
                "expired",
                key,
                db,
            );
        }
        for (db, key) in std::mem::take(&mut keyspace.new_log) {
            self.notify_keyspace_event(
                server,
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
    pub fn notify_keyspace_event(
        &mut self,
        server: &Server,
        mut running: Option<&mut Client>,
        class: crate::notify::Class,
        event: &str,
        key: &[u8],
        db: usize,
    ) {
        let flags = server.hot.notify_flags;
        if flags & class == 0 {
            return;
        }
        if flags & crate::notify::KEYSPACE != 0 {
            let mut channel = format!("__keyspace@{db}__:").into_bytes();
            channel.extend_from_slice(key);
            self.publish(running.as_deref_mut(), &channel, event.as_bytes(), false);
        }
        if flags & crate::notify::KEYEVENT != 0 {
            let channel = format!("__keyevent@{db}__:{event}").into_bytes();
            self.publish(running, &channel, key, false);
        }
    }
}
