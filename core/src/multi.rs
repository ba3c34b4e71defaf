//! MULTI/EXEC state: the queue of one client's transaction, and the node-wide WATCH
//! registry (Redis's `db->watched_keys` plus each client's watched list and its
//! `CLIENT_DIRTY_CAS` flag). Keyed by connection id, so touching a key never needs the
//! client itself (the running client is out of the node's table meanwhile).

use std::collections::BTreeMap;

use crate::keyspace::Keyspace;
use crate::node::ConnId;

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
    /// Bytes held by the queue, counted in the client's memory.
    pub queued_bytes: usize,
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

    pub fn watched_count(&self, conn: ConnId) -> usize {
        self.by_client.get(&conn).map_or(0, |w| w.keys.len())
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
                if !key_in_table(ks, db, key) {
                    wk.expired = false;
                }
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
            let conns = self.by_key.get(&(db, key.clone())).cloned().unwrap_or_default();
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
            let id = ks.set(db, k.as_bytes(), Value::Str(StrValue::from_set(b"v")), false, 0);
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
