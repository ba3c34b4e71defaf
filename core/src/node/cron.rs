//! The node's timers (Redis's `serverCron` and `clientsCron`, at `hz`): active
//! expiry, idle-client timeouts, query-buffer trimming and the ops/sec samples. Time
//! is the handed-in `now`; nothing here reads a clock.

use crate::client::Client;
use crate::io::{ConnId, Effect, LogLevel, Now};

use super::dispatch::QBUF_KEEP_BYTES;
use super::Node;

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

/// `Node::auto_purge`: the excess of RSS over `used_memory` worth a purge, how often
/// one may be asked for, and the back-off after one that gave back little.
const AUTO_PURGE_MIN_EXCESS_BYTES: u64 = 16 * 1024 * 1024;
const AUTO_PURGE_PERIOD_MS: u64 = 5_000;
const AUTO_PURGE_BACKOFF_MS: u64 = 300_000;

impl Node {
    pub(super) fn on_tick(&mut self, now: Now) {
        let hz = self.server.config.settings().hz.clamp(1, 500) as u64;
        let period_ms = 1000 / hz;
        self.next_tick_mono_ms = now.mono_ms + period_ms;
        if self.server.cron_paused {
            return;
        }
        // A paused server keeps its dataset still: no active expiry either.
        // Nor while loading: the loaded commands find keys as they were when they ran.
        // A replica waits for its master's DELs (planted: it expires keys itself).
        let replica_waits = self.server.replica.is_replica()
            && !self
                .server
                .mutants
                .is(crate::mutants::Mutant::ReplicaExpiresKeys);
        if self.server.active_expire_enabled
            && !replica_waits
            && self.server.pause.is_none()
            && !self.server.persist.loading
            // A SHUTDOWN waiting for replicas is a pause too (Redis's
            // PAUSE_DURING_SHUTDOWN): an expiry would move the offset they must reach.
            && self.persist.shutdown_wait.is_none()
        {
            let effort = self.server.config.settings().active_expire_effort;
            let started_us = self.server.observe.now_micros();
            // Planted: TTLs (wall-clock times) compared with the monotonic clock.
            let clock_ms = if self
                .server
                .mutants
                .is(crate::mutants::Mutant::ActiveExpireOnMonotonicClock)
            {
                now.mono_ms
            } else {
                now.wall_ms
            };
            self.keyspace.active_expire_cycle(clock_ms, effort);
            // Timed by the command clock, as Redis times it (expire_cycle_cpu_milliseconds,
            // the `expire-cycle` latency event).
            let elapsed_us = self.server.observe.now_micros().saturating_sub(started_us);
            self.server.stats.expire_cycle_time_used_us += elapsed_us;
            let threshold_ms = self.server.hot.latency_monitor_threshold_ms;
            if threshold_ms > 0 && elapsed_us / 1000 >= threshold_ms {
                self.server.observe.latency.add_sample(
                    "expire-cycle",
                    now.wall_ms / 1000,
                    elapsed_us / 1000,
                );
            }
        }
        self.auto_purge(now);
        // Redis's evictionTimeProc: a deficit left by a command's bounded eviction
        // keeps being paid without waiting for the next command.
        if self.server.hot.maxmemory_bytes > 0 {
            self.clients
                .evict_keys(&mut self.keyspace, &mut self.server);
        }
        self.clients
            .drain_keyspace_log(&mut self.keyspace, &mut self.server, None);
        self.persist_cron(now);
        self.flush_pending();
        self.close_idle_clients(now);
        self.evict_clients(None, now);
        self.resize_query_buffers(now, hz);
        // instantaneous_ops_per_sec: one sample per 100 ms, 16 kept, as Redis.
        let samples = &mut self.server.stats.ops_samples;
        if samples.back().is_none_or(|&(t, _)| now.mono_ms >= t + 100) {
            samples.push_back((now.mono_ms, self.server.stats.total_commands_processed));
            if samples.len() > 16 {
                samples.pop_front();
            }
            let stats = &mut self.server.stats;
            let net = (
                now.mono_ms,
                stats.total_net_input_bytes,
                stats.total_net_output_bytes,
            );
            stats.net_samples.push_back(net);
            if stats.net_samples.len() > 16 {
                stats.net_samples.pop_front();
            }
        }
    }

    /// Memory the allocator keeps free after mass deletes goes back to the OS without
    /// MEMORY PURGE (jemalloc, Redis's allocator, decays on its own; glibc keeps it
    /// until `malloc_trim`): when the RSS the driver reports exceeds `used_memory` by
    /// more than `AUTO_PURGE_MIN_EXCESS_BYTES` and by half, the node asks for a purge,
    /// at most once per `AUTO_PURGE_PERIOD_MS`. The next tick judges it by the RSS
    /// the driver reports after it (keel-server reads it right after the trim): one
    /// that gave back less than an eighth (survivors scattered over every page keep
    /// them) backs off for `AUTO_PURGE_BACKOFF_MS`. Without an RSS (the simulator)
    /// it never fires.
    pub(super) fn auto_purge(&mut self, now: Now) {
        let Some(rss) = self.server.rss_bytes else {
            return;
        };
        let state = &mut self.server.auto_purge;
        if let Some(before) = state.rss_before.take() {
            if rss > before.saturating_sub(before / 8) {
                state.next_mono_ms = now.mono_ms.saturating_add(AUTO_PURGE_BACKOFF_MS);
            }
            return;
        }
        if now.mono_ms < state.next_mono_ms {
            return;
        }
        let used = self.used_memory_bytes() as u64;
        let state = &mut self.server.auto_purge;
        let excess = rss.saturating_sub(used);
        if excess < AUTO_PURGE_MIN_EXCESS_BYTES || rss < used.saturating_add(used / 2) {
            return;
        }
        state.rss_before = Some(rss);
        state.next_mono_ms = now.mono_ms.saturating_add(AUTO_PURGE_PERIOD_MS);
        state.count += 1;
        self.server.log(
            LogLevel::Verbose,
            format!("Purging allocator memory: RSS {rss} bytes, used_memory {used} bytes"),
        );
        self.server.effects.push_back(Effect::PurgeMemory);
    }

    pub(super) fn close_idle_clients(&mut self, now: Now) {
        let timeout_secs = self.server.config.settings().timeout_secs;
        if timeout_secs == 0 {
            return;
        }
        let limit_ms = timeout_secs.saturating_mul(1000);
        let idle: Vec<ConnId> = self
            .clients
            .table
            .values()
            // As Redis, blocked clients and subscribers are never timed out.
            .filter(|c| {
                !c.blocked && !c.postponed && !c.is_pubsub() && !c.is_master && !c.is_replica
            })
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
    pub(super) fn resize_query_buffers(&mut self, now: Now, hz: u64) {
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
}
