//! MULTI/EXEC state: the queue of one client's transaction, and the node-wide WATCH
//! registry (Redis's `db->watched_keys` plus each client's watched list and its
//! `CLIENT_DIRTY_CAS` flag). Keyed by connection id, so touching a key never needs the
//! client itself (the running client is out of the node's table meanwhile).

use std::collections::BTreeMap;

use crate::io::ConnId;
use crate::keyspace::Keyspace;

/// One queued command: its arguments copied out of the query buffer.
#[derive(Debug, Clone)]
pub struct QueuedCommand {
    pub buf: Vec<u8>,
    pub ranges: Vec<(usize, usize)>,
}

impl QueuedCommand {
    pub fn new<'a>(args: impl Iterator<Item = &'a [u8]>) -> Self {
        let mut buf = Vec::new();
        let mut ranges = Vec::new();
        for a in args {
            let start = buf.len();
            buf.extend_from_slice(a);
            ranges.push((start, buf.len()));
        }
        QueuedCommand { buf, ranges }
    }

    pub fn memory_bytes(&self) -> usize {
        self.buf.capacity() + self.ranges.capacity() * std::mem::size_of::<(usize, usize)>()
    }
}

/// A client inside MULTI (Redis's `CLIENT_MULTI` with `c->mstate`).
#[derive(Debug, Default)]
pub struct MultiState {
    pub commands: Vec<QueuedCommand>,
    /// A command was rejected while queueing (`CLIENT_DIRTY_EXEC`): EXEC aborts.
    pub exec_error: bool,
    /// Some queued command may use memory (`mstate.cmd_flags & CMD_DENYOOM`).
    pub denyoom: bool,
    /// Some queued command may change the dataset or replicate (`mstate.cmd_flags &
    /// (CMD_WRITE|CMD_MAY_REPLICATE)`): CLIENT PAUSE WRITE holds the EXEC.
    pub may_replicate: bool,
    /// Some queued command writes (`mstate.cmd_flags & CMD_WRITE`): `-MISCONF` applies.
    pub write: bool,
    /// Bytes held by the queue, counted in the client's memory.
    pub queued_bytes: usize,
    /// Commands queued (CLIENT LIST's `multi=`; still set while EXEC runs them).
    pub count: usize,
}

#[derive(Debug, Clone)]
struct WatchedKey {
    db: usize,
    key: Vec<u8>,
    /// The key was already logically expired when WATCH ran (Redis 7.0's `wk->expired`).
    expired: bool,
}

#[derive(Debug, Default)]
struct ClientWatch {
    keys: Vec<WatchedKey>,
    /// `CLIENT_DIRTY_CAS`: a watched key was touched; EXEC will fail.
    dirty: bool,
}

/// Every watched key, and every client's watch state.
#[derive(Debug, Default)]
pub struct WatchRegistry {
    /// (db, key) -> clients watching it, in the order they started to.
    by_key: BTreeMap<(usize, Vec<u8>), Vec<ConnId>>,
    by_client: BTreeMap<ConnId, ClientWatch>,
}

/// Present in the database's table but past its TTL (Redis's `keyIsExpired`).
fn key_is_expired(ks: &Keyspace, db: usize, key: &[u8], now_wall_ms: u64) -> bool {
    let d = ks.db(db);
    d.find(key)
        .and_then(|id| d.get(id))
        .is_some_and(|e| e.is_expired(now_wall_ms))
}

fn key_in_table(ks: &Keyspace, db: usize, key: &[u8]) -> bool {
    ks.db(db).find(key).is_some()
}

impl WatchRegistry {
    /// True when nobody watches anything: the hot path of every write.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    pub fn is_dirty(&self, conn: ConnId) -> bool {
        self.by_client.get(&conn).is_some_and(|w| w.dirty)
    }

    /// WATCH of one key (Redis's `watchForKey`).
    pub fn watch(&mut self, conn: ConnId, db: usize, key: &[u8], ks: &Keyspace, now_wall_ms: u64) {
        let cw = self.by_client.entry(conn).or_default();
        if cw.keys.iter().any(|w| w.db == db && w.key == key) {
            return;
        }
        cw.keys.push(WatchedKey {
            db,
            key: key.to_vec(),
            expired: key_is_expired(ks, db, key, now_wall_ms),
        });
        self.by_key
            .entry((db, key.to_vec()))
            .or_default()
            .push(conn);
    }

    /// Drops every key `conn` watches (Redis's `unwatchAllKeys`), keeping its dirty flag.
    fn unwatch_keys(&mut self, conn: ConnId) {
        let Some(cw) = self.by_client.get_mut(&conn) else {
            return;
        };
        for wk in std::mem::take(&mut cw.keys) {
            let slot = (wk.db, wk.key);
            if let Some(list) = self.by_key.get_mut(&slot) {
                list.retain(|&c| c != conn);
                if list.is_empty() {
                    self.by_key.remove(&slot);
                }
            }
        }
    }

    /// UNWATCH, DISCARD, EXEC, RESET and a closed connection: no keys, no dirty flag.
    pub fn forget(&mut self, conn: ConnId) {
        self.unwatch_keys(conn);
        self.by_client.remove(&conn);
    }

    /// Redis 7.0's `isWatchedKeyExpired`: a watched key that was alive at WATCH time
    /// and is logically expired now (deleted or not).
    pub fn any_expired_since_watch(&self, conn: ConnId, ks: &Keyspace, now_wall_ms: u64) -> bool {
        self.by_client.get(&conn).is_some_and(|cw| {
            cw.keys
                .iter()
                .any(|w| !w.expired && key_is_expired(ks, w.db, &w.key, now_wall_ms))
        })
    }

    fn mark_dirty(&mut self, conn: ConnId) {
        self.unwatch_keys(conn);
        self.by_client.entry(conn).or_default().dirty = true;
    }

    /// Redis's `touchWatchedKey`: `key` in `db` changed (called after the change).
    pub fn touch(&mut self, db: usize, key: &[u8], ks: &Keyspace) {
        if self.by_key.is_empty() {
            return;
        }
        let Some(conns) = self.by_key.get(&(db, key.to_vec())).cloned() else {
            return;
        };
        for conn in conns {
            let Some(cw) = self.by_client.get_mut(&conn) else {
                continue;
            };
            if let Some(wk) = cw
                .keys
                .iter_mut()
                .find(|w| w.db == db && w.key == key && w.expired)
            {
                // Watched while already expired: its deletion is no logical change.
                // A write that finds it still in the table (alive again after the
                // clock went back, chaos 0x77) is one: Redis's `break` there falls
                // through to CLIENT_DIRTY_CAS.
                if !key_in_table(ks, db, key) {
                    wk.expired = false;
                    continue;
                }
            }
            self.mark_dirty(conn);
        }
    }

    /// `touch` for a key expiry just deleted. The log is drained after the command
    /// may have re-created the key, so this applies Redis's rules as they stood at
    /// deletion time: the key was not in the table.
    pub fn touch_expired(&mut self, db: usize, key: &[u8]) {
        let Some(conns) = self.by_key.get(&(db, key.to_vec())).cloned() else {
            return;
        };
        for conn in conns {
            let Some(cw) = self.by_client.get_mut(&conn) else {
                continue;
            };
            if let Some(wk) = cw
                .keys
                .iter_mut()
                .find(|w| w.db == db && w.key == key && w.expired)
            {
                wk.expired = false;
                continue;
            }
            self.mark_dirty(conn);
        }
    }

    /// Redis's `touchAllWatchedKeysInDb`: `emptied` was flushed (`replaced_with`
    /// None) or swapped with `replaced_with`. Call before the change, with the
    /// keyspace as it was.
    pub fn touch_db(
        &mut self,
        emptied: usize,
        replaced_with: Option<usize>,
        ks: &Keyspace,
        now_wall_ms: u64,
    ) {
        let slots: Vec<(usize, Vec<u8>)> = self
            .by_key
            .keys()
            .filter(|(db, _)| *db == emptied)
            .cloned()
            .collect();
        for (db, key) in slots {
            let in_emptied = key_in_table(ks, db, &key);
            let in_replacement = replaced_with.is_some_and(|r| key_in_table(ks, r, &key));
            if !in_emptied && !in_replacement {
                continue;
            }
            let replacement_expired =
                replaced_with.is_some_and(|r| key_is_expired(ks, r, &key, now_wall_ms));
            let conns = self
                .by_key
                .get(&(db, key.clone()))
                .cloned()
                .unwrap_or_default();
            for conn in conns {
                let Some(cw) = self.by_client.get_mut(&conn) else {
                    continue;
                };
                let Some(wk) = cw.keys.iter_mut().find(|w| w.db == db && w.key == key) else {
                    continue;
                };
                if wk.expired {
                    if !in_replacement {
                        wk.expired = false;
                        continue;
                    } else if replacement_expired {
                        continue;
                    }
                } else if !in_emptied && replacement_expired {
                    wk.expired = true;
                    continue;
                }
                self.mark_dirty(conn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::HashSeeds;
    use crate::types::{StrValue, Value};

    fn ks_with(keys: &[(usize, &str, u64)]) -> Keyspace {
        let mut ks = Keyspace::new(2, HashSeeds([1; 4]));
        for &(db, k, ttl) in keys {
            let id = ks.set(
                db,
                k.as_bytes(),
                Value::Str(StrValue::from_set(b"v")),
                false,
                0,
            );
            if ttl > 0 {
                ks.db_mut(db).set_expire(id, ttl);
            }
        }
        ks
    }

    #[test]
    fn touch_marks_watchers_dirty_and_unwatches() {
        let ks = ks_with(&[(0, "a", 0)]);
        let mut w = WatchRegistry::default();
        w.watch(1, 0, b"a", &ks, 10);
        w.watch(2, 0, b"a", &ks, 10);
        w.watch(2, 0, b"b", &ks, 10);
        w.touch(1, b"a", &ks);
        assert!(!w.is_dirty(1) && !w.is_dirty(2), "other db untouched");
        w.touch(0, b"a", &ks);
        assert!(w.is_dirty(1) && w.is_dirty(2));
        assert!(w.is_empty(), "dirty clients watch nothing more");
        w.forget(1);
        assert!(!w.is_dirty(1));
    }

    #[test]
    fn expiry_rules_of_redis_7_0() {
        // "a" alive at WATCH, expired by EXEC time; "b" already expired at WATCH.
        let ks = ks_with(&[(0, "a", 100), (0, "b", 5)]);
        let mut w = WatchRegistry::default();
        w.watch(1, 0, b"a", &ks, 10);
        w.watch(2, 0, b"b", &ks, 10);
        assert!(w.any_expired_since_watch(1, &ks, 200));
        assert!(!w.any_expired_since_watch(2, &ks, 200));
        // Deleting the already-expired "b" is no logical change.
        let mut ks2 = ks_with(&[(0, "a", 100)]);
        w.touch(0, b"b", &ks2);
        assert!(!w.is_dirty(2));
        // But a write after that is.
        ks2.set(0, b"b", Value::Str(StrValue::from_set(b"x")), false, 0);
        w.touch(0, b"b", &ks2);
        assert!(w.is_dirty(2));
        // Watched while expired, written while still in the table (the wall clock
        // went back and made it live again): Redis marks the watcher dirty.
        let ks3 = ks_with(&[(0, "c", 5)]);
        w.watch(3, 0, b"c", &ks3, 10);
        w.touch(0, b"c", &ks3);
        assert!(w.is_dirty(3));
    }

    #[test]
    fn flush_touches_only_existing_keys() {
        let ks = ks_with(&[(0, "a", 0), (1, "z", 0)]);
        let mut w = WatchRegistry::default();
        w.watch(1, 0, b"a", &ks, 0);
        w.watch(2, 0, b"nokey", &ks, 0);
        w.watch(3, 0, b"z", &ks, 0);
        w.touch_db(0, None, &ks, 0);
        assert!(w.is_dirty(1));
        assert!(!w.is_dirty(2));
        assert!(!w.is_dirty(3));
        w.touch_db(0, Some(1), &ks, 0);
        assert!(w.is_dirty(3), "swapped in from db 1");
        assert!(!w.is_dirty(2));
    }
}

/// Node-level tests of MULTI/EXEC/WATCH: requests in, effects out, several clients.
#[cfg(test)]
pub(crate) mod node_level {
    use crate::testkit::Kit;

    #[test]
    fn queue_exec_discard_and_errors() {
        let mut b = Kit::new("");
        b.connect(1);
        assert_eq!(b.cmd(1, "EXEC"), "-ERR EXEC without MULTI\r\n");
        assert_eq!(b.cmd(1, "DISCARD"), "-ERR DISCARD without MULTI\r\n");
        assert_eq!(b.cmd(1, "MULTI"), "+OK\r\n");
        assert_eq!(b.cmd(1, "MULTI"), "-ERR MULTI calls can not be nested\r\n");
        assert_eq!(
            b.cmd(1, "WATCH x"),
            "-ERR WATCH inside MULTI is not allowed\r\n"
        );
        assert_eq!(b.cmd(1, "SET a 1"), "+QUEUED\r\n");
        assert_eq!(b.cmd(1, "INCR a"), "+QUEUED\r\n");
        assert_eq!(b.cmd(1, "HSET a f v"), "+QUEUED\r\n");
        assert!(b.cmd(1, "CLIENT INFO").starts_with("+QUEUED"));
        // Runtime errors do not stop the rest; nested errors are not counted as aborts.
        let reply = b.cmd(1, "EXEC");
        assert!(reply.starts_with("*4\r\n+OK\r\n:2\r\n-"), "{reply}");
        assert!(
            reply.contains("flags=x "),
            "inside EXEC the client is still in MULTI: {reply}"
        );
        assert!(
            reply.contains(" multi=4 ") && reply.contains(" cmd=exec "),
            "{reply}"
        );
        assert_eq!(b.cmd(1, "GET a"), "$1\r\n2\r\n");
        assert_eq!(b.cmd(1, "MULTI"), "+OK\r\n");
        assert_eq!(b.cmd(1, "SET a 3"), "+QUEUED\r\n");
        assert_eq!(b.cmd(1, "DISCARD"), "+OK\r\n");
        assert_eq!(b.cmd(1, "GET a"), "$1\r\n2\r\n");
        // Errors while queueing doom the transaction.
        assert_eq!(b.cmd(1, "MULTI"), "+OK\r\n");
        assert!(b.cmd(1, "NOSUCHCMD").starts_with("-ERR unknown command"));
        assert_eq!(b.cmd(1, "SET a 4"), "+QUEUED\r\n");
        assert_eq!(
            b.cmd(1, "EXEC"),
            "-EXECABORT Transaction discarded because of previous errors.\r\n"
        );
        assert_eq!(b.cmd(1, "MULTI"), "+OK\r\n");
        assert!(b
            .cmd(1, "GET")
            .starts_with("-ERR wrong number of arguments"));
        assert_eq!(b.cmd(1, "EXEC").as_bytes()[0], b'-');
        assert_eq!(b.cmd(1, "MULTI"), "+OK\r\n");
        assert_eq!(
            b.cmd(1, "SHUTDOWN"),
            "-ERR Command not allowed inside a transaction\r\n"
        );
        assert!(b.cmd(1, "EXEC").starts_with("-EXECABORT"));
        assert_eq!(b.cmd(1, "GET a"), "$1\r\n2\r\n");
    }

    #[test]
    fn watch_is_invalidated_by_writes_from_anyone() {
        let mut b = Kit::new("");
        b.connect(1);
        b.connect(2);
        b.cmd(1, "SET k 1");
        assert_eq!(b.cmd(1, "WATCH k"), "+OK\r\n");
        b.cmd(2, "INCR k");
        assert!(b.cmd(1, "CLIENT INFO").contains(" flags=d "));
        assert!(b.cmd(2, "CLIENT LIST").contains(" flags=d "));
        b.cmd(1, "MULTI");
        assert!(b.cmd(2, "CLIENT LIST").contains(" flags=xd "));
        b.cmd(1, "SET k 10");
        assert_eq!(b.cmd(1, "EXEC"), "*-1\r\n");
        assert_eq!(b.cmd(1, "GET k"), "$1\r\n2\r\n");
        // Own write before MULTI counts too; UNWATCH forgets.
        b.cmd(1, "WATCH k");
        b.cmd(1, "DEL k");
        b.cmd(1, "MULTI");
        assert_eq!(b.cmd(1, "EXEC"), "*-1\r\n");
        b.cmd(1, "WATCH k");
        b.cmd(2, "SET k 5");
        b.cmd(1, "UNWATCH");
        b.cmd(1, "MULTI");
        assert_eq!(b.cmd(1, "EXEC"), "*0\r\n");
        // A read does not invalidate; nor does a write to another database.
        b.cmd(1, "WATCH k");
        b.cmd(2, "GET k");
        b.cmd(2, "SELECT 1");
        b.cmd(2, "SET k other-db");
        b.cmd(1, "MULTI");
        b.cmd(1, "GET k");
        assert_eq!(b.cmd(1, "EXEC"), "*1\r\n$1\r\n5\r\n");
        // Generic commands: RENAME, EXPIRE, PERSIST, MOVE, HSET.
        for (setup, write) in [
            ("SET k 1", "RENAME k k2"),
            ("SET k2 1", "RENAME k2 k"),
            ("SET k 1", "EXPIRE k 100"),
            ("SET k 1 EX 100", "PERSIST k"),
            ("SET k 1", "MOVE k 3"),
            ("DEL k", "HSET k f v"),
            ("SET k 1", "APPEND k x"),
            ("SET k 1", "GETDEL k"),
        ] {
            b.cmd(2, "SELECT 0");
            b.cmd(2, "FLUSHALL");
            b.cmd(2, setup);
            b.cmd(1, "WATCH k");
            b.cmd(2, write);
            b.cmd(1, "MULTI");
            assert_eq!(b.cmd(1, "EXEC"), "*-1\r\n", "{setup} / {write}");
        }
        // RESP3: the aborted EXEC is a null.
        b.cmd(1, "HELLO 3");
        b.cmd(1, "WATCH k");
        b.cmd(2, "SET k 9");
        b.cmd(1, "MULTI");
        assert_eq!(b.cmd(1, "EXEC"), "_\r\n");
    }

    #[test]
    fn watch_and_flush_swapdb() {
        let mut b = Kit::new("");
        b.connect(1);
        b.cmd(1, "WATCH nokey");
        b.cmd(1, "FLUSHALL");
        b.cmd(1, "MULTI");
        assert_eq!(
            b.cmd(1, "EXEC"),
            "*0\r\n",
            "flushing an absent key is no change"
        );
        b.cmd(1, "SET w 1");
        b.cmd(1, "WATCH w");
        b.cmd(1, "FLUSHDB");
        b.cmd(1, "MULTI");
        assert_eq!(b.cmd(1, "EXEC"), "*-1\r\n");
        b.cmd(1, "SELECT 1");
        b.cmd(1, "SET z 1");
        b.cmd(1, "SELECT 0");
        b.cmd(1, "WATCH z");
        b.cmd(1, "SWAPDB 0 1");
        b.cmd(1, "MULTI");
        assert_eq!(b.cmd(1, "EXEC"), "*-1\r\n", "z swapped into the watched db");
        b.cmd(1, "WATCH nokey");
        b.cmd(1, "SWAPDB 0 1");
        b.cmd(1, "MULTI");
        assert_eq!(b.cmd(1, "EXEC"), "*0\r\n");
    }

    #[test]
    fn watched_key_expiring_fails_exec_as_redis_7_0() {
        let mut b = Kit::new("");
        b.connect(1);
        b.connect(2);
        // Expires between WATCH and EXEC, nobody touches it: EXEC fails.
        b.cmd(1, "SET k v PX 100");
        b.cmd(1, "WATCH k");
        b.node().set_active_expire(false);
        b.advance_ms(200);
        b.cmd(1, "MULTI");
        assert_eq!(b.cmd(1, "EXEC"), "*-1\r\n");
        // Lazily deleted by another client's read: fails too.
        b.cmd(1, "SET k v PX 100");
        b.cmd(1, "WATCH k");
        b.advance_ms(200);
        assert_eq!(b.cmd(2, "GET k"), "$-1\r\n");
        b.cmd(1, "MULTI");
        assert_eq!(b.cmd(1, "EXEC"), "*-1\r\n");
        // Actively expired: fails too.
        b.node().set_active_expire(true);
        b.cmd(1, "SET k v PX 100");
        b.cmd(1, "WATCH k");
        b.advance_ms(200);
        assert_eq!(b.cmd(2, "DBSIZE"), ":0\r\n");
        b.cmd(1, "MULTI");
        assert_eq!(b.cmd(1, "EXEC"), "*-1\r\n");
        // Already expired when watched: no logical change, EXEC runs.
        b.node().set_active_expire(false);
        b.cmd(1, "SET k v PX 100");
        b.advance_ms(200);
        b.cmd(1, "WATCH k");
        b.cmd(2, "GET k");
        b.cmd(1, "MULTI");
        b.cmd(1, "PING");
        assert_eq!(b.cmd(1, "EXEC"), "*1\r\n+PONG\r\n");
        // ... unless it is written afterwards.
        b.cmd(1, "SET k v PX 100");
        b.advance_ms(200);
        b.cmd(1, "WATCH k");
        b.cmd(2, "SET k 2");
        b.cmd(1, "MULTI");
        assert_eq!(b.cmd(1, "EXEC"), "*-1\r\n");
    }

    #[cfg(feature = "mutants")]
    #[test]
    fn mutant_watch_misses_expiry() {
        let mut b = Kit::new("");
        b.node()
            .set_mutant(Some(crate::mutants::Mutant::WatchMissesExpiry));
        b.connect(1);
        b.cmd(1, "SET k v PX 100");
        b.cmd(1, "WATCH k");
        b.advance_ms(200);
        b.cmd(1, "MULTI");
        assert_eq!(b.cmd(1, "EXEC"), "*0\r\n", "the planted bug lets EXEC run");
    }

    #[test]
    fn oom_inside_multi() {
        let mut b = Kit::new("maxmemory 1\n");
        b.connect(1);
        b.connect(2);
        assert_eq!(b.cmd(1, "MULTI"), "+OK\r\n");
        // Under memory pressure even a read is refused while queueing.
        assert!(b.cmd(1, "GET a").starts_with("-OOM"));
        assert!(b.cmd(1, "EXEC").starts_with("-EXECABORT"));
        assert_eq!(b.cmd(1, "MULTI"), "+OK\r\n");
        assert_eq!(b.cmd(1, "DISCARD"), "+OK\r\n");
        // EXEC of a queued write under memory pressure: refused, and the transaction
        // is gone (redis-server 7.0.15's execCommandAbort).
        b.cmd(1, "CONFIG SET maxmemory 0");
        b.cmd(1, "MULTI");
        assert_eq!(b.cmd(1, "SET a 1"), "+QUEUED\r\n");
        b.cmd(2, "CONFIG SET maxmemory 1");
        assert_eq!(
            b.cmd(1, "EXEC"),
            "-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.\r\n"
        );
        assert_eq!(b.cmd(1, "DISCARD"), "-ERR DISCARD without MULTI\r\n");
        // A queue of reads still runs.
        b.cmd(2, "CONFIG SET maxmemory 0");
        b.cmd(1, "MULTI");
        b.cmd(1, "PING");
        b.cmd(2, "CONFIG SET maxmemory 1");
        assert_eq!(b.cmd(1, "EXEC"), "*1\r\n+PONG\r\n");
        b.cmd(1, "MULTI");
        assert_eq!(
            b.cmd(1, "EXEC x"),
            "-EXECABORT Transaction discarded because of: wrong number of arguments for 'exec' command\r\n"
        );
    }
}
