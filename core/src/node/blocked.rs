//! Serving clients blocked on keys (Redis's `handleClientsBlockedOnKeys` and the
//! timeouts of `blocked.c`): the node's dispatch runs each waiter's try-serve through
//! the commands that own the data types. The registry itself (`crate::blocking`)
//! knows no commands; this is the only place that joins the two.

use std::collections::VecDeque;

use crate::blocking::{reply_timeout, served_as, BlockedOp, Served};
use crate::client::{Client, ReplyMode};
use crate::commands::{self, lists, zsets, Ctx};
use crate::io::{ConnId, Now};
use crate::mutants::Mutant;

use super::Node;

impl Node {
    /// Unblocks `client` (out of the map) after its reply was written, sends the
    /// reply (nothing under CLIENT REPLY OFF, which was on when it blocked) and puts
    /// it back.
    pub(super) fn finish_blocked(&mut self, mut client: Client) {
        let failed = client.out.as_bytes().first() == Some(&b'-');
        commands::count_unblocked_call(
            &mut self.server,
            &self.commands,
            client.last_command,
            failed,
        );
        self.clients
            .blocking
            .release(&mut client, &mut self.keyspace);
        if client.reply_mode == ReplyMode::Off {
            client.out.discard();
        }
        let now = self.last_now;
        self.put_back(now, client);
    }

    /// Runs after every command: serves clients blocked on keys that became ready
    /// (Redis's `handleClientsBlockedOnKeys`), until no key is ready.
    pub(super) fn serve_ready_keys(&mut self, now: Now) {
        if self.clients.blocking.is_empty() {
            self.clients
                .blocking
                .stop_watching_if_idle(&mut self.keyspace);
            return;
        }
        loop {
            let mut ready: Vec<(usize, Vec<u8>)> = Vec::new();
            for (i, db) in self.keyspace.dbs.iter_mut().enumerate() {
                ready.extend(db.ready_keys.drain(..).map(|k| (i, k)));
            }
            if ready.is_empty() {
                return;
            }
            for (db, key) in ready {
                self.serve_key(now, db, &key);
            }
        }
    }

    /// Serves the waiters on (db, key) in blocking order while the key can serve them.
    fn serve_key(&mut self, now: Now, db: usize, key: &[u8]) {
        let mut waiters = self.clients.blocking.waiters_on(db, key);
        if self.server.mutants.is(Mutant::BlockedServedLifo) {
            waiters.reverse();
        }
        for id in waiters {
            let Some(b) = self.clients.blocking.get(id) else {
                continue;
            };
            let (conn, op) = (b.conn, b.op.clone());
            let Some(mut client) = self.clients.table.remove(&conn) else {
                self.clients.blocking.remove(id);
                continue;
            };
            if client.id != id || !client.blocked {
                self.clients.table.insert(conn, client);
                self.clients.blocking.remove(id);
                continue;
            }
            let mutations_before = self.keyspace.mutations();
            let served = {
                let mut ctx = self.ctx(&mut client, now);
                let served = try_serve(&mut ctx, key, &op);
                // A key the look-up found expired goes (WATCH, notifications, its DEL
                // in the stream) before what the serve did, as it happened.
                ctx.drain_keyspace_log();
                served
            };
            if self.keyspace.mutations() != mutations_before {
                self.server.dirty = self.server.dirty.wrapping_add(1);
                self.server.propagation.record(db, &served_as(key, &op));
                client.woff_seq = self.server.propagation.recorded_total();
            }
            let deleted = match served {
                Served::NotReady => {
                    self.clients.table.insert(conn, client);
                    continue;
                }
                Served::Done { deleted } => deleted,
            };
            self.finish_blocked(client);
            if deleted {
                return;
            }
        }
    }

    /// Runs after each input: times out waiters whose deadline passed, on `sweep` drops
    /// waiters whose connection is gone, and returns the connections unblocked since,
    /// whose pipelined input the node runs next.
    pub(super) fn blocked_after_input(&mut self, now: Now, sweep: bool) -> VecDeque<ConnId> {
        while let Some((id, conn)) = self.clients.blocking.first_expired(now.mono_ms) {
            match conn.and_then(|c| self.clients.table.remove(&c)) {
                Some(mut client) if client.id == id => {
                    match self.clients.blocking.get(id).map(|b| b.op.clone()) {
                        Some(BlockedOp::Wait { offset }) => self.reply_wait(&mut client, offset),
                        _ => reply_timeout(&mut client),
                    }
                    self.finish_blocked(client);
                }
                Some(client) => {
                    self.clients.table.insert(client.conn, client);
                    self.clients.blocking.remove(id);
                }
                None => {
                    self.clients.blocking.remove(id);
                }
            }
        }
        if sweep {
            // Waiters whose client went away without the node hearing of it.
            let table = &self.clients.table;
            self.clients
                .blocking
                .sweep(|id, conn| table.get(&conn).is_none_or(|c| c.id != id));
        }
        self.clients.blocking.take_unblocked()
    }
}

/// The per-operation try-serve functions.
fn try_serve(ctx: &mut Ctx<'_>, key: &[u8], op: &BlockedOp) -> Served {
    match op {
        BlockedOp::List(target) => match lists::is_ready(ctx, key) {
            Some(id) => Served::Done {
                deleted: lists::serve_blocked(ctx, key, id, target),
            },
            None => Served::NotReady,
        },
        BlockedOp::Wait { .. } => Served::NotReady,
        BlockedOp::ZSet { max, count } => {
            if zsets::is_ready(ctx, key) {
                Served::Done {
                    deleted: zsets::serve_blocked(ctx, key, *max, *count),
                }
            } else {
                Served::NotReady
            }
        }
    }
}
