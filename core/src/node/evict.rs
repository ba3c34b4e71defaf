//! Client eviction (Redis 7.0's `maxmemory-clients`): when the clients' buffers
//! together reach the limit, the clients using the most memory are closed, except
//! those marked CLIENT NO-EVICT; and the rounds of key eviction a command's bounded
//! one left (the choice of keys is `Clients::evict_keys`'s).

use crate::client::Client;
use crate::io::{Effect, LogLevel, Now};

use super::Node;

impl Node {
    /// Redis's `evictionTimeProc`: another bounded round of key eviction while the
    /// last one left memory over the limit (`next_deadline` is then "now").
    pub(super) fn continue_evictions(&mut self) {
        if self.server.eviction_running {
            self.clients
                .evict_keys(&mut self.keyspace, &mut self.server);
            self.clients
                .drain_keyspace_log(&mut self.keyspace, &mut self.server, None);
            self.flush_pending();
        }
    }

    /// `maxmemory-clients` in bytes (a percent of `maxmemory` when given as `N%`);
    /// 0: no limit.
    fn clients_memory_limit_bytes(&self) -> u64 {
        let s = self.server.config.settings();
        match s.maxmemory_clients {
            n if n > 0 => n as u64,
            n if n < 0 => s.maxmemory_bytes.saturating_mul(n.unsigned_abs()) / 100,
            _ => 0,
        }
    }

    /// Redis's `evictClients`: closes the biggest evictable clients while the
    /// clients' memory is at or over the limit. `running` is the client whose input
    /// is being handled (out of the table, its bytes in `running_client_bytes`);
    /// true when it was the one evicted, and the caller must stop its command.
    pub(super) fn evict_clients(&mut self, mut running: Option<&mut Client>, now: Now) -> bool {
        let limit_bytes = self.clients_memory_limit_bytes();
        if limit_bytes == 0 {
            return false;
        }
        // Each round closes one client, so the table's size bounds the loop.
        for _ in 0..=self.clients.table.len() {
            if (self.clients.memory_bytes() as u64) < limit_bytes {
                return false;
            }
            let biggest = self
                .clients
                .table
                .values()
                .filter(|c| !c.no_evict && !c.is_master)
                .max_by_key(|c| (c.memory_bytes(), std::cmp::Reverse(c.id)))
                .map(|c| (c.conn, c.memory_bytes()));
            let running_bytes = self.clients.running_client_bytes;
            let running_evictable = running.as_ref().is_some_and(|c| !c.no_evict);
            match biggest {
                Some((conn, bytes)) if !running_evictable || bytes >= running_bytes => {
                    if let Some(mut client) = self.clients.table.remove(&conn) {
                        let line = client.info_line(now.mono_ms);
                        self.server
                            .log(LogLevel::Verbose, format!("Evicting client: {line}"));
                        self.clients.forget(&mut client);
                    }
                    self.server.stats.evicted_clients += 1;
                    self.server.effects.push_back(Effect::Close { conn });
                }
                _ => {
                    let Some(client) = running.as_deref_mut().filter(|_| running_evictable) else {
                        return false;
                    };
                    let line = client.info_line(now.mono_ms);
                    self.server
                        .log(LogLevel::Verbose, format!("Evicting client: {line}"));
                    self.server.stats.evicted_clients += 1;
                    client.out.discard();
                    client.close_after_reply = true;
                    self.clients.running_client_bytes = 0;
                    return true;
                }
            }
        }
        false
    }
}
