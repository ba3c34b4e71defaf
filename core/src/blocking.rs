//! Clients blocked on keys (BLPOP, BLMOVE, BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP), as
//! Redis's `blocked.c`: a registry keyed by (db, key) holding waiters in the order
//! they blocked, their deadlines on the node's monotonic clock, and the queue of
//! clients unblocked since, whose pipelined input runs next. Keys become ready when
//! the keyspace adds a list (or sorted set) under a watched key (`Db::insert`); each
//! waiter's operation decides whether it can be served ("try serve", run by the node's
//! dispatch, which owns the commands). Nothing here reads a clock, touches I/O, runs a
//! command or sees the node: it is handed the keyspace and the client it changes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::client::Client;
use crate::io::ConnId;
use crate::keyspace::Keyspace;
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

/// A blocked command, by value type; each has its own try-serve function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlockedOp {
    List(ListTarget),
    /// BZPOPMIN / BZPOPMAX (`count` None) and BZMPOP.
    ZSet {
        max: bool,
        count: Option<u64>,
    },
    /// WAIT (on no key): replicas must ACK `offset`; the node serves it
    /// (`node/repl_master.rs`), and its timeout replies with the count so far.
    Wait {
        offset: u64,
    },
}

/// What a try-serve function did for one waiter.
pub(crate) enum Served {
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

    /// INFO's `clients_in_timeout_table`: waiters with a deadline.
    pub fn clients_with_timeout(&self) -> usize {
        self.timeouts.len()
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

    /// Parks `client` on `keys` (Redis's `blockForKeys`); the reply comes when a key
    /// is served, the deadline passes or CLIENT UNBLOCK. Repeated keys count once.
    pub fn block(
        &mut self,
        client: &mut Client,
        keyspace: &mut Keyspace,
        keys: Vec<Vec<u8>>,
        deadline_ms: u64,
        op: BlockedOp,
    ) {
        let id = client.id;
        let db = client.db;
        let mut unique: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
        for k in keys {
            if !unique.contains(&k) {
                unique.push(k);
            }
        }
        for k in &unique {
            self.by_key
                .entry((db, k.clone()))
                .or_default()
                .push_back(id);
        }
        if deadline_ms != 0 {
            self.timeouts.insert((deadline_ms, id));
        }
        self.waiting.insert(
            id,
            Blocked {
                conn: client.conn,
                db,
                keys: unique,
                deadline_ms,
                op,
            },
        );
        client.blocked = true;
        // Every database watches: SWAPDB moves databases under the waiters' indices.
        for d in &mut keyspace.dbs {
            d.watch_ready = true;
        }
    }

    /// Unblocks `client` (whose reply is written) and queues its pending input.
    /// Stops watching for ready keys once nobody waits.
    pub fn release(&mut self, client: &mut Client, keyspace: &mut Keyspace) {
        self.remove(client.id);
        client.blocked = false;
        self.unblocked.push_back(client.conn);
        self.stop_watching_if_idle(keyspace);
    }

    /// Once nobody waits, inserts stop recording ready keys (and what was recorded goes).
    pub fn stop_watching_if_idle(&self, keyspace: &mut Keyspace) {
        // Every database's flag is set and cleared together: the first one speaks for all.
        if self.is_empty() && keyspace.dbs.first().is_some_and(|d| d.watch_ready) {
            for db in &mut keyspace.dbs {
                db.watch_ready = false;
                db.ready_keys = Vec::new();
            }
        }
    }

    /// The waiter with client id `id`.
    pub fn get(&self, id: u64) -> Option<&Blocked> {
        self.waiting.get(&id)
    }

    /// Client ids blocked on (db, key), first blocked first.
    pub fn waiters_on(&self, db: usize, key: &[u8]) -> Vec<u64> {
        self.by_key
            .get(&(db, key.to_vec()))
            .map(|q| q.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The waiter with the earliest deadline at or before `now_mono_ms`, if any:
    /// (client id, its connection if it is still registered).
    pub fn first_expired(&self, now_mono_ms: u64) -> Option<(u64, Option<ConnId>)> {
        let &(deadline, id) = self.timeouts.first()?;
        (deadline <= now_mono_ms).then(|| (id, self.waiting.get(&id).map(|b| b.conn)))
    }

    /// Drops waiters `gone` says left (their client went away unheard of).
    pub fn sweep(&mut self, gone: impl Fn(u64, ConnId) -> bool) {
        let ids: Vec<u64> = self
            .waiting
            .iter()
            .filter(|(id, b)| gone(**id, b.conn))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            self.remove(id);
        }
    }

    /// The connections unblocked since the last call, whose pipelined input runs next.
    pub fn take_unblocked(&mut self) -> VecDeque<ConnId> {
        std::mem::take(&mut self.unblocked)
    }

    /// Marks every watched key of database `db` ready, for SWAPDB (Redis's
    /// `scanDatabaseForReadyKeys`): the database under the waiters' index changed whole.
    pub fn signal_db(&self, keyspace: &mut Keyspace, db: usize) {
        let keys: Vec<Vec<u8>> = self
            .by_key
            .keys()
            .filter(|(d, _)| *d == db)
            .map(|(_, k)| k.clone())
            .collect();
        if let Some(d) = keyspace.dbs.get_mut(db) {
            for k in keys {
                if d.find(&k).is_some() {
                    d.ready_keys.push(k);
                }
            }
        }
    }

    /// Waiters still blocked on a key that could serve them (a live list for a list
    /// op, a live sorted set for a sorted-set op): a client hung for nothing. Once an
    /// input has been handled, this is empty, whatever the commands did (SWAPDB, MOVE,
    /// RENAME, MULTI/EXEC, FLUSH ...): an invariant for tests and the simulator.
    pub fn stuck_waiters(&self, keyspace: &Keyspace, now_wall_ms: u64) -> Vec<u64> {
        self.waiting
            .iter()
            .filter(|(_, b)| {
                let Some(db) = keyspace.dbs.get(b.db) else {
                    return false;
                };
                b.keys.iter().any(|k| {
                    db.find(k)
                        .and_then(|id| db.get(id))
                        .filter(|e| !e.is_expired(now_wall_ms))
                        .is_some_and(|e| {
                            matches!(
                                (&b.op, &e.value),
                                (BlockedOp::List(_), crate::types::Value::List(_))
                                    | (BlockedOp::ZSet { .. }, crate::types::Value::ZSet(_))
                            )
                        })
                })
            })
            .map(|(&id, _)| id)
            .collect()
    }
}

/// Redis's reply to a blocked client that timed out: a null array (`*-1`, RESP3 `_`).
pub fn reply_timeout(client: &mut Client) {
    client.out.null_array();
}

/// What a served blocking command propagates as — whether it waited or was served at
/// once: its non-blocking form on the key that served it, as Redis 7.0 rewrites a
/// served BLPOP into LPOP and so on (LMPOP too, as LPOP/RPOP with its count).
pub(crate) fn served_as(key: &[u8], op: &BlockedOp) -> Vec<Vec<u8>> {
    let end = |e: &End| -> &'static [u8] {
        match e {
            End::Head => b"LEFT",
            End::Tail => b"RIGHT",
        }
    };
    let pop = |e: &End| -> &'static [u8] {
        match e {
            End::Head => b"LPOP",
            End::Tail => b"RPOP",
        }
    };
    match op {
        BlockedOp::List(ListTarget::Pop { from }) => crate::propagate::argv(&[pop(from), key]),
        BlockedOp::List(ListTarget::MultiPop { from, count }) => {
            crate::propagate::argv(&[pop(from), key, count.to_string().as_bytes()])
        }
        BlockedOp::List(ListTarget::Move { from, to, dst }) => {
            crate::propagate::argv(&[b"LMOVE", key, dst, end(from), end(to)])
        }
        BlockedOp::ZSet { max, count } => {
            let name: &[u8] = if *max { b"ZPOPMAX" } else { b"ZPOPMIN" };
            match count {
                Some(n) => crate::propagate::argv(&[name, key, n.to_string().as_bytes()]),
                None => crate::propagate::argv(&[name, key]),
            }
        }
        // Never served on a key, so never propagated.
        BlockedOp::Wait { .. } => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use crate::io::{ConnId, Input};
    use crate::testkit::Kit;

    /// A kit whose node has clients 1..=`conns`.
    fn world(conns: u64) -> Kit {
        let mut w = Kit::new("");
        for conn in 1..=conns {
            w.connect(conn);
        }
        w
    }

    /// Sends the commands (`;`-separated) in one packet; returns what `conn` got.
    fn cmds(w: &mut Kit, conn: ConnId, lines: &str) -> String {
        w.send_lines(conn, lines);
        w.take(conn)
    }

    #[test]
    fn first_blocked_is_served_first_and_list_is_deleted() {
        let mut w = world(4);
        w.send_lines(1, "BLPOP q 0");
        w.send_lines(2, "BRPOP q 0");
        w.send_lines(3, "BLPOP q 0");
        assert_eq!(w.take(1), "");
        assert_eq!(w.node().clients().blocking.blocked_clients(), 3);
        assert!(w
            .node()
            .clients()
            .table
            .get(&1)
            .is_some_and(|c| c.info_line(0).contains("flags=b")));
        assert_eq!(w.cmd(4, "RPUSH q a b c"), ":3\r\n");
        assert_eq!(w.take(1), "*2\r\n$1\r\nq\r\n$1\r\na\r\n");
        assert_eq!(w.take(2), "*2\r\n$1\r\nq\r\n$1\r\nc\r\n");
        assert_eq!(w.take(3), "*2\r\n$1\r\nq\r\n$1\r\nb\r\n");
        assert_eq!(w.cmd(4, "EXISTS q"), ":0\r\n");
        assert!(w.node().clients().blocking.is_empty());
        assert!(w.node().keyspace().dbs.iter().all(|d| !d.watch_ready));
    }

    #[test]
    fn served_in_order_until_the_list_runs_out() {
        let mut w = world(3);
        w.send_lines(1, "BLPOP q 0");
        w.send_lines(2, "BLPOP q 0");
        assert_eq!(w.cmd(3, "RPUSH q only"), ":1\r\n");
        assert_eq!(w.take(1), "*2\r\n$1\r\nq\r\n$4\r\nonly\r\n");
        assert_eq!(w.take(2), "");
        assert_eq!(w.node().clients().blocking.blocked_clients(), 1);
        // A push and a pop in one packet: the waiter is served between them.
        assert_eq!(cmds(&mut w, 3, "RPUSH q x; LPOP q"), ":1\r\n$-1\r\n");
        assert_eq!(w.take(2), "*2\r\n$1\r\nq\r\n$1\r\nx\r\n");
    }

    #[test]
    fn timeout_fires_at_the_deadline_on_the_injected_clock() {
        let mut w = world(2);
        w.send_lines(1, "BLPOP k 1.5");
        assert!(w.node().next_deadline() <= 1510);
        w.advance_to(1509);
        assert_eq!(w.take(1), "");
        w.advance_to(1510);
        assert_eq!(w.take(1), "*-1\r\n");
        assert!(w.node().clients().blocking.is_empty());
        // RESP3: a null; BLMOVE times out with the same reply as BLPOP.
        w.cmd(2, "HELLO 3");
        w.send_lines(2, "BLMOVE k d LEFT LEFT 0.2");
        w.advance_to(1800);
        assert_eq!(w.take(2), "_\r\n");
        // Timeout 0 never fires.
        w.send_lines(1, "BRPOP k 0");
        w.advance_to(1_000_000);
        assert_eq!(w.take(1), "");
        assert_eq!(w.node().clients().blocking.next_deadline(), None);
    }

    #[test]
    fn pipelined_commands_wait_for_the_blocked_one() {
        let mut w = world(2);
        w.send_lines(1, "BLPOP k 0; RPUSH after 1; PING");
        assert_eq!(w.take(1), "");
        assert_eq!(w.cmd(2, "EXISTS after"), ":0\r\n");
        // More input while blocked also waits.
        w.send_lines(1, "LLEN after");
        assert_eq!(w.take(1), "");
        assert_eq!(w.cmd(2, "RPUSH k v"), ":1\r\n");
        assert_eq!(
            w.take(1),
            "*2\r\n$1\r\nk\r\n$1\r\nv\r\n:1\r\n+PONG\r\n:1\r\n"
        );
    }

    #[test]
    fn a_blocked_client_that_disconnects_is_forgotten() {
        let mut w = world(3);
        w.send_lines(1, "BLPOP k 0");
        w.send_lines(3, "BLPOP k 5");
        w.input(
            0,
            Input::Closed {
                conn: 1,
                reason: crate::io::CloseReason::Dropped,
            },
        );
        w.input(
            0,
            Input::Closed {
                conn: 3,
                reason: crate::io::CloseReason::Dropped,
            },
        );
        assert!(w.node().clients().blocking.is_empty());
        assert_eq!(w.node().clients().blocking.next_deadline(), None);
        assert_eq!(cmds(&mut w, 2, "RPUSH k v; LLEN k"), ":1\r\n:1\r\n");
        // Nobody waits: list inserts are no longer recorded.
        assert_eq!(w.cmd(2, "RPUSH k2 v"), ":1\r\n");
        assert!(w
            .node()
            .keyspace()
            .dbs
            .iter()
            .all(|d| !d.watch_ready && d.ready_keys.is_empty()));
    }

    #[test]
    fn killed_blocked_client_is_swept_on_the_next_tick() {
        let mut w = world(2);
        w.send_lines(1, "CLIENT SETNAME waiter");
        w.take(1);
        w.send_lines(1, "BLPOP k 0");
        let id = w
            .node()
            .clients()
            .table
            .get(&1)
            .map(|c| c.id)
            .unwrap_or_default();
        assert_eq!(w.cmd(2, &format!("CLIENT KILL ID {id}")), ":1\r\n");
        w.advance_to(500);
        assert!(w.node().clients().blocking.is_empty());
        assert_eq!(w.cmd(2, "RPUSH k v"), ":1\r\n");
        assert_eq!(w.cmd(2, "LLEN k"), ":1\r\n");
    }

    #[test]
    fn client_unblock_with_timeout_or_error() {
        let mut w = world(2);
        let id = w
            .node()
            .clients()
            .table
            .get(&1)
            .map(|c| c.id)
            .unwrap_or_default();
        w.send_lines(1, "BLPOP k 0; PING");
        assert_eq!(w.cmd(2, &format!("CLIENT UNBLOCK {id}")), ":1\r\n");
        assert_eq!(w.take(1), "*-1\r\n+PONG\r\n");
        assert_eq!(w.cmd(2, &format!("CLIENT UNBLOCK {id}")), ":0\r\n");
        w.send_lines(1, "BLMPOP 0 1 k LEFT");
        assert_eq!(w.cmd(2, &format!("CLIENT UNBLOCK {id} error")), ":1\r\n");
        assert_eq!(
            w.take(1),
            "-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n"
        );
        assert_eq!(
            w.cmd(2, &format!("CLIENT UNBLOCK {id} maybe")),
            "-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n"
        );
        assert_eq!(w.cmd(2, "CLIENT UNBLOCK -1"), ":0\r\n");
        assert!(w.node().clients().blocking.is_empty());
    }

    #[test]
    fn rename_and_blmove_wake_waiters_in_chain() {
        let mut w = world(4);
        w.send_lines(1, "BLMOVE a b RIGHT LEFT 0");
        w.send_lines(2, "BLPOP b 0");
        w.send_lines(3, "BLPOP renamed 0");
        assert_eq!(w.cmd(4, "RPUSH a x"), ":1\r\n");
        assert_eq!(w.take(1), "$1\r\nx\r\n");
        assert_eq!(w.take(2), "*2\r\n$1\r\nb\r\n$1\r\nx\r\n");
        assert_eq!(w.cmd(4, "EXISTS a b"), ":0\r\n");
        assert_eq!(
            cmds(&mut w, 4, "RPUSH tmp v; RENAME tmp renamed"),
            ":1\r\n+OK\r\n"
        );
        assert_eq!(w.take(3), "*2\r\n$7\r\nrenamed\r\n$1\r\nv\r\n");
        assert!(w.node().clients().blocking.is_empty());
    }

    #[test]
    fn blmpop_and_several_keys() {
        let mut w = world(3);
        w.send_lines(1, "BLMPOP 0 2 k1 k2 RIGHT COUNT 2");
        w.send_lines(2, "BLPOP k1 k2 k1 0");
        assert_eq!(w.cmd(3, "RPUSH k2 a b c"), ":3\r\n");
        assert_eq!(w.take(1), "*2\r\n$2\r\nk2\r\n*2\r\n$1\r\nc\r\n$1\r\nb\r\n");
        assert_eq!(w.take(2), "*2\r\n$2\r\nk2\r\n$1\r\na\r\n");
        assert!(w.node().clients().blocking.is_empty());
        assert!(w.node().clients().blocking.by_key.is_empty());
    }

    #[test]
    fn a_key_of_another_type_does_not_serve() {
        let mut w = world(2);
        w.send_lines(1, "BLPOP k 0");
        assert_eq!(cmds(&mut w, 2, "SET k str; DEL k"), "+OK\r\n:1\r\n");
        assert_eq!(w.take(1), "");
        assert_eq!(w.cmd(2, "LPUSH k v"), ":1\r\n");
        assert_eq!(w.take(1), "*2\r\n$1\r\nk\r\n$1\r\nv\r\n");
    }

    #[test]
    fn blmove_to_a_wrong_type_unblocks_with_the_error() {
        let mut w = world(2);
        w.send_lines(1, "BLMOVE src dst LEFT LEFT 0");
        assert_eq!(cmds(&mut w, 2, "SET dst s; RPUSH src a"), "+OK\r\n:1\r\n");
        assert_eq!(
            w.take(1),
            "-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
        );
        assert_eq!(w.cmd(2, "LLEN src"), ":1\r\n");
    }

    #[test]
    fn signal_db_serves_keys_that_appeared_under_a_waiter() {
        let mut w = world(2);
        w.send_lines(1, "BLPOP k 0");
        // A list that is there without an insert the waiter saw (as after SWAPDB).
        w.node().keyspace_mut().dbs[0].watch_ready = false;
        assert_eq!(w.cmd(2, "RPUSH k v"), ":1\r\n");
        w.node().keyspace_mut().dbs[0].watch_ready = true;
        assert_eq!(w.take(1), "");
        let (ks, clients) = w.node().parts_mut();
        clients.blocking.signal_db(ks, 0);
        assert_eq!(w.cmd(2, "PING"), "+PONG\r\n");
        assert_eq!(w.take(1), "*2\r\n$1\r\nk\r\n$1\r\nv\r\n");
    }

    #[test]
    fn client_reply_off_stays_silent_when_served() {
        let mut w = world(2);
        w.send_lines(1, "CLIENT REPLY OFF; BLPOP k 0; CLIENT REPLY ON; LLEN k");
        assert_eq!(w.cmd(2, "RPUSH k a b"), ":2\r\n");
        assert_eq!(w.take(1), "+OK\r\n:1\r\n");
    }

    #[test]
    fn deny_blocking_answers_as_a_timeout() {
        let mut w = world(1);
        w.node()
            .clients_mut()
            .table
            .with_mut(&1, |c| c.deny_blocking = true);
        assert_eq!(w.cmd(1, "BLPOP k 0"), "*-1\r\n");
        assert_eq!(w.cmd(1, "BLMOVE k d LEFT LEFT 0"), "$-1\r\n");
        assert_eq!(w.cmd(1, "BLMPOP 0 1 k LEFT"), "*-1\r\n");
        assert!(w.node().clients().blocking.is_empty());
    }

    #[test]
    fn blocked_clients_are_not_closed_as_idle() {
        let mut w = world(2);
        w.cmd(2, "CONFIG SET timeout 1");
        w.send_lines(1, "BLPOP k 0");
        w.advance_to(5_000);
        assert!(!w.closed.contains(&(0, 1)));
        assert!(w.closed.contains(&(0, 2)));
    }

    /// Random waiters and writers over two databases: after every input no waiter may
    /// stay blocked on a key that could serve it (the SWAPDB hang was one such).
    mod no_stuck_waiters {
        use super::*;
        use proptest::prelude::*;

        fn waiter_op() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("BLPOP a 0"),
                Just("BRPOP a b 0"),
                Just("BLMOVE a b LEFT RIGHT 0"),
                Just("BRPOPLPUSH b a 0"),
                Just("BLMPOP 0 2 a b RIGHT COUNT 2"),
                Just("BZPOPMIN z 0"),
                Just("BZPOPMAX z a 0"),
                Just("BZMPOP 0 2 a z MIN"),
            ]
            .prop_map(String::from)
        }

        fn writer_op() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("RPUSH a x"),
                Just("LPUSH b y z"),
                Just("ZADD z 1 m 2 n"),
                Just("ZADD a 3 q"),
                Just("DEL a"),
                Just("DEL z"),
                Just("SET a s"),
                Just("SET b s"),
                Just("LPOP a"),
                Just("SWAPDB 0 1"),
                Just("MOVE a 1"),
                Just("MOVE z 0"),
                Just("RENAME b a"),
                Just("RENAME a z"),
                Just("COPY b a REPLACE"),
                Just("COPY z z DB 1"),
                Just("LMOVE b a LEFT LEFT"),
                Just("FLUSHDB"),
                Just("MULTI; RPUSH a w; DEL a; RPUSH a v; EXEC"),
                Just("MULTI; SELECT 1; RPUSH a w; SWAPDB 0 1; EXEC"),
                Just("EXPIRE a 1"),
            ]
            .prop_map(String::from)
        }

        #[derive(Debug, Clone)]
        enum Step {
            Wait { conn: u64, db: u8, op: String },
            Write { db: u8, op: String },
            Advance { ms: u64 },
        }

        fn step() -> impl Strategy<Value = Step> {
            prop_oneof![
                2 => (1u64..=3, 0u8..2, waiter_op()).prop_map(|(conn, db, op)| Step::Wait { conn, db, op }),
                5 => (0u8..2, writer_op()).prop_map(|(db, op)| Step::Write { db, op }),
                1 => (1u64..1500).prop_map(|ms| Step::Advance { ms }),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn no_waiter_is_left_on_a_ready_key(steps in proptest::collection::vec(step(), 1..40)) {
                let mut w = world(4);
                for (i, s) in steps.iter().enumerate() {
                    match s {
                        Step::Wait { conn, db, op } => w.send_lines(*conn, &format!("SELECT {db}; {op}")),
                        Step::Write { db, op } => w.send_lines(4, &format!("SELECT {db}; {op}")),
                        Step::Advance { ms } => {
                            let to = w.now.mono_ms + ms;
                            w.advance_to(to);
                        }
                    }
                    let stuck = w.nodes[0].stuck_waiters(w.now.wall_ms);
                    prop_assert!(stuck.is_empty(), "after step {i} ({s:?}): waiters {stuck:?} stuck on ready keys");
                }
            }
        }
    }
}
