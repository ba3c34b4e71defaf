//! Clients blocked on keys (BLPOP, BLMOVE, BLMPOP; later BZPOPMIN and friends), as
//! Redis's `blocked.c`: a registry keyed by (db, key) holding waiters in the order
//! they blocked, their deadlines on the node's monotonic clock, and the queue of
//! clients unblocked since, whose pipelined input runs next. Keys become ready when
//! the keyspace adds a list (or sorted set) under a watched key (`Db::insert`); each
//! waiter's operation decides whether it can be served ("try serve"). Nothing here
//! reads a clock or touches I/O.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::client::Client;
use crate::commands::{lists, Ctx};
use crate::node::{ConnId, Node, Now};
use crate::types::list::End;

/// What a list waiter does once its key holds elements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListTarget {
    /// BLPOP / BRPOP.
    Pop { from: End },
    /// BLMPOP.
    MultiPop { from: End, count: usize },
    /// BLMOVE / BRPOPLPUSH.
    Move { from: End, to: End, dst: Vec<u8> },
}

/// A blocked command, by value type. Sorted sets join as another variant with their
/// own try-serve function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockedOp {
    List(ListTarget),
}

/// What a try-serve function did for one waiter.
enum Served {
    /// The key does not hold what this waiter wants: it stays blocked.
    NotReady,
    /// The waiter got its reply; `deleted`: the key is gone (stop serving it).
    Done { deleted: bool },
}

/// One blocked client.
#[derive(Debug, Clone)]
pub struct Blocked {
    pub conn: ConnId,
    pub db: usize,
    pub keys: Vec<Vec<u8>>,
    /// Monotonic ms; 0 blocks forever.
    pub deadline_ms: u64,
    pub op: BlockedOp,
}

#[derive(Debug, Default)]
pub struct Registry {
    /// By client id (unique, never reused).
    waiting: BTreeMap<u64, Blocked>,
    /// Client ids blocked on each (db, key), first blocked first.
    by_key: BTreeMap<(usize, Vec<u8>), VecDeque<u64>>,
    /// (deadline, client id) of waiters with a timeout.
    timeouts: BTreeSet<(u64, u64)>,
    /// Connections unblocked since their input last ran.
    unblocked: VecDeque<ConnId>,
}

impl Registry {
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    pub fn nothing_unblocked(&self) -> bool {
        self.unblocked.is_empty()
    }

    /// INFO's `blocked_clients`.
    pub fn blocked_clients(&self) -> usize {
        self.waiting.len()
    }

    /// The earliest waiter deadline, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        self.timeouts.first().map(|&(d, _)| d)
    }

    /// Forgets client `id`; returns what it was blocked on.
    pub fn remove(&mut self, id: u64) -> Option<Blocked> {
        let b = self.waiting.remove(&id)?;
        for key in &b.keys {
            let slot = (b.db, key.clone());
            if let Some(q) = self.by_key.get_mut(&slot) {
                q.retain(|&w| w != id);
                if q.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
        if b.deadline_ms != 0 {
            self.timeouts.remove(&(b.deadline_ms, id));
        }
        Some(b)
    }
}

/// Parks the running client on `keys` (Redis's `blockForKeys`); the reply comes when
/// a key is served, the deadline passes or CLIENT UNBLOCK. Repeated keys count once.
pub fn block(ctx: &mut Ctx<'_>, keys: Vec<Vec<u8>>, deadline_ms: u64, op: BlockedOp) {
    let id = ctx.client.id;
    let db = ctx.client.db;
    let mut unique: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
    for k in keys {
        if !unique.contains(&k) {
            unique.push(k);
        }
    }
    let reg = &mut ctx.node.blocking;
    for k in &unique {
        reg.by_key.entry((db, k.clone())).or_default().push_back(id);
    }
    if deadline_ms != 0 {
        reg.timeouts.insert((deadline_ms, id));
    }
    reg.waiting.insert(
        id,
        Blocked {
            conn: ctx.client.conn,
            db,
            keys: unique,
            deadline_ms,
            op,
        },
    );
    ctx.client.blocked = true;
    // Every database watches: SWAPDB moves databases under the waiters' indices.
    for d in &mut ctx.node.keyspace.dbs {
        d.watch_ready = true;
    }
}

/// Unblocks `client` (taken out of the client map by the caller) and queues its
/// pending input. Stops watching for ready keys once nobody waits.
fn release(node: &mut Node, client: &mut Client) {
    node.blocking.remove(client.id);
    client.blocked = false;
    node.blocking.unblocked.push_back(client.conn);
    if node.blocking.is_empty() {
        for db in &mut node.keyspace.dbs {
            db.watch_ready = false;
            db.ready_keys.clear();
        }
    }
}

/// Redis's reply to a blocked client that timed out: a null array (`*-1`, RESP3 `_`).
fn reply_timeout(client: &mut Client) {
    client.out.null_array();
}

/// Runs after every command: serves clients blocked on keys that became ready
/// (Redis's `handleClientsBlockedOnKeys`), until no key is ready.
pub fn after_command(node: &mut Node, now: Now) {
    if node.blocking.is_empty() {
        return;
    }
    loop {
        let mut ready: Vec<(usize, Vec<u8>)> = Vec::new();
        for (i, db) in node.keyspace.dbs.iter_mut().enumerate() {
            ready.extend(db.ready_keys.drain(..).map(|k| (i, k)));
        }
        if ready.is_empty() {
            return;
        }
        for (db, key) in ready {
            serve_key(node, now, db, &key);
        }
    }
}

/// Serves the waiters on (db, key) in blocking order while the key can serve them.
fn serve_key(node: &mut Node, now: Now, db: usize, key: &[u8]) {
    let Some(queue) = node.blocking.by_key.get(&(db, key.to_vec())) else {
        return;
    };
    let waiters: Vec<u64> = queue.iter().copied().collect();
    for id in waiters {
        let Some(b) = node.blocking.waiting.get(&id) else {
            continue;
        };
        let (conn, op) = (b.conn, b.op.clone());
        let Some(mut client) = node.clients.remove(&conn) else {
            node.blocking.remove(id);
            continue;
        };
        if client.id != id || !client.blocked {
            node.clients.insert(conn, client);
            node.blocking.remove(id);
            continue;
        }
        let served = {
            let mut ctx = Ctx {
                node: &mut *node,
                client: &mut client,
                now,
            };
            try_serve(&mut ctx, key, &op)
        };
        let deleted = match served {
            Served::NotReady => {
                node.clients.insert(conn, client);
                continue;
            }
            Served::Done { deleted } => deleted,
        };
        node.stats.total_commands_processed += 1;
        release(node, &mut client);
        node.flush_client(&mut client);
        node.clients.insert(conn, client);
        if deleted {
            return;
        }
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
    }
}

/// Unblocks client `id` as CLIENT UNBLOCK does: with the timeout reply, or with
/// `-UNBLOCKED` when `error`. False when that client is not blocked.
pub fn client_unblock(node: &mut Node, id: u64, error: bool) -> bool {
    let Some(conn) = node.blocking.waiting.get(&id).map(|b| b.conn) else {
        return false;
    };
    let Some(mut client) = node.clients.remove(&conn) else {
        node.blocking.remove(id);
        return false;
    };
    if client.id != id {
        node.clients.insert(conn, client);
        node.blocking.remove(id);
        return false;
    }
    if error {
        client
            .out
            .error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
    } else {
        reply_timeout(&mut client);
    }
    release(node, &mut client);
    node.flush_client(&mut client);
    node.clients.insert(conn, client);
    true
}

/// Runs after each input: times out waiters whose deadline passed, on `sweep` drops
/// waiters whose connection is gone, and returns the connections unblocked since, whose
/// pipelined input the node runs next.
pub fn after_input(node: &mut Node, now: Now, sweep: bool) -> VecDeque<ConnId> {
    while let Some(&(deadline, id)) = node.blocking.timeouts.first() {
        if deadline > now.mono_ms {
            break;
        }
        let conn = node.blocking.waiting.get(&id).map(|b| b.conn);
        match conn.and_then(|c| node.clients.remove(&c)) {
            Some(mut client) if client.id == id => {
                reply_timeout(&mut client);
                release(node, &mut client);
                node.flush_client(&mut client);
                node.clients.insert(client.conn, client);
            }
            Some(client) => {
                node.clients.insert(client.conn, client);
                node.blocking.remove(id);
            }
            None => {
                node.blocking.remove(id);
            }
        }
    }
    if !sweep {
        return std::mem::take(&mut node.blocking.unblocked);
    }
    // Waiters whose client went away without the node hearing of it (CLIENT KILL).
    let gone: Vec<u64> = node
        .blocking
        .waiting
        .iter()
        .filter(|(id, b)| node.clients.get(&b.conn).is_none_or(|c| c.id != **id))
        .map(|(id, _)| *id)
        .collect();
    for id in gone {
        node.blocking.remove(id);
    }
    std::mem::take(&mut node.blocking.unblocked)
}
