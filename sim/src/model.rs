//! The reference model: Redis string and keyspace semantics written the plainest way
//! (a sorted map of key -> (bytes, expire_at_ms)), the collection types beside it
//! (`model_types`), and MULTI/EXEC/WATCH per connection, judged against every reply
//! of a single-node run. It must stay obviously correct, never fast.

use std::collections::{BTreeMap, BTreeSet};

use crate::model_types::{self, Coll, WRONGTYPE};
use crate::net::ConnId;

/// Coverage events the model notices (names shared with `crate::reach`).
pub mod seen {
    pub const EMPTIED_DELETED: &str = "an emptied collection was deleted";
    pub const TXN_COMMITTED: &str = "a transaction committed";
    pub const CLOSED_IN_MULTI: &str = "a connection closed inside MULTI";
    pub const WATCH_ABORTED: &str = "WATCH aborted a transaction";
    pub const WATCH_EXPIRY_ABORTED: &str = "a watched key's expiry aborted a transaction";
    pub const LREM_DUPLICATES: &str = "LREM with a count left some of its duplicates";
    pub const SREM_ABSENT: &str = "SREM named a member the set does not hold";
    pub const SPOP_POPPED: &str = "SPOP popped a member the model accepted";
    pub const ZADD_EQUAL_KEPT: &str = "ZADD GT CH met a member's equal score";
    pub const LEX_LISTPACK_WALK: &str = "a lex range walked a listpack's mixed scores";
    pub const LEX_SKIPLIST_PICK: &str = "a lex range over a skiplist's mixed scores was judged";
}

/// One watched key: whether it was logically alive at WATCH time, and its expire time
/// then (Redis 7.0 fails EXEC when such a key expired since, deleted or not).
#[derive(Debug, Clone)]
struct Watched {
    /// The database the key was watched in.
    pub(crate) db: u32,
    pub(crate) key: Vec<u8>,
    alive_expire_at: Option<u64>,
    /// In the table but expired when watched (Redis 7.0's `wk->expired`): its
    /// deletion, a flush's included, is no logical change.
    pub(crate) expired_at_watch: bool,
}

/// A connection's transaction state (Redis's `c->mstate`, watched keys, DIRTY_CAS).
#[derive(Debug, Default)]
struct ConnState {
    multi: Option<Vec<Vec<Vec<u8>>>>,
    watched: Vec<Watched>,
    dirty: bool,
    /// A queued command was refused (`flag_transaction`).
    exec_abort: bool,
    /// Watches set while the node loaded: the AOF replay after them may have written
    /// a watched key (Redis's loader signals modified keys too), so EXEC may abort.
    watch_unsure: bool,
}

pub struct Model {
    pub(crate) keys: BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>,
    pub(crate) colls: BTreeMap<Vec<u8>, Coll>,
    /// Absolute expire times of collection keys (strings keep theirs beside the value).
    pub(crate) coll_ttl: BTreeMap<Vec<u8>, u64>,
    conns: BTreeMap<ConnId, ConnState>,
    /// Coverage events seen so far.
    pub seen: BTreeSet<&'static str>,
    /// The node's reply to the request being judged, for commands whose reply is the
    /// node's own random choice (SPOP): the model checks the choice is allowed
    /// instead of making one.
    pub(crate) observed: Option<Vec<u8>>,
    /// Keys the model expired lazily that the node may still hold (it expires a key
    /// only where it looks it up): DBSIZE's upper bound.
    pub(crate) maybe_present: BTreeSet<Vec<u8>>,
    /// The database the fields above hold (`model_db`): the one the connection being
    /// judged selected, and 0 between requests.
    pub(crate) cur_db: u32,
    /// The other databases' keys, while they are not the current one.
    pub(crate) other_dbs: BTreeMap<u32, crate::model_db::DbState>,
    /// Each connection's selected database (SELECT), until it closes.
    pub(crate) conn_db: BTreeMap<ConnId, u32>,
    /// Blocked clients and their late replies (`model_blocking`).
    pub(crate) blocking: crate::model_blocking::Blocking,
    /// Names (of any database) that may hold a sorted set Redis keeps as a skiplist
    /// though it would fit a listpack now (`model_wide_zset::note_zset_encodings`):
    /// a lex range over its mixed scores is not the listpack's walk.
    pub(crate) zset_maybe_skiplist: BTreeSet<Vec<u8>>,
    /// Set when a write's effect is the node's unspecified pick and its reply does
    /// not say which (ZREMRANGEBYLEX over a mixed-score skiplist): the world stops
    /// judging this host with the model (the reason, for the trace).
    pub lost_track: Option<String>,
}

pub(crate) fn bulk(v: &[u8]) -> Vec<u8> {
    let mut out = format!("${}\r\n", v.len()).into_bytes();
    out.extend_from_slice(v);
    out.extend_from_slice(b"\r\n");
    out
}

/// `ZADD key GT CH score member ...` where some member already has that score: the
/// case where Redis leaves the score alone and does not count it as changed.
fn zadd_gt_ch_meets_equal(before: Option<&Coll>, req: &[Vec<u8>]) -> bool {
    let Some(Coll::ZSet(z)) = before else {
        return false;
    };
    let args = req.get(2..).unwrap_or_default();
    let is_flag = |a: &Vec<u8>| {
        [b"NX".as_slice(), b"XX", b"GT", b"LT", b"CH", b"INCR"]
            .iter()
            .any(|f| a.eq_ignore_ascii_case(f))
    };
    let has = |f: &[u8]| args.iter().any(|a| a.eq_ignore_ascii_case(f));
    if !has(b"GT") || !has(b"CH") || has(b"INCR") {
        return false;
    }
    let pairs: Vec<&Vec<u8>> = args.iter().skip_while(|a| is_flag(a)).collect();
    pairs.chunks(2).any(|p| match p {
        [score, member] => parse_int(score).is_some_and(|s| z.get(*member) == Some(&s)),
        _ => false,
    })
}

pub(crate) fn int(n: i64) -> Vec<u8> {
    format!(":{n}\r\n").into_bytes()
}

pub(crate) fn parse_int(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

/// The collection keys `sync_expired` forgets (their TTL passed, the node lost them).
fn colls_gone_early(
    coll_ttl: &BTreeMap<Vec<u8>, u64>,
    max_wall_ms: u64,
    node_has: &impl Fn(&[u8]) -> bool,
) -> Vec<Vec<u8>> {
    coll_ttl
        .iter()
        .filter(|(k, at)| max_wall_ms > **at && !node_has(k))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Key and value bytes of one database, and its number of keys (`stored_bytes`).
fn stored(
    keys: &BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>,
    colls: &BTreeMap<Vec<u8>, Coll>,
) -> (usize, usize) {
    let strings: usize = keys.iter().map(|(k, (v, _))| k.len() + v.len()).sum();
    let coll_bytes: usize = colls
        .iter()
        .map(|(k, c)| {
            k.len()
                + match c {
                    Coll::List(l) => l.iter().map(|e| e.len() + 8).sum::<usize>(),
                    Coll::Set(s) => s.iter().map(|e| e.len() + 16).sum(),
                    // Past 128 members a sorted set is a skiplist and a hash table:
                    // keel's costs up to ~128 bytes for a 4-byte member, a table left
                    // sized for more members included (chaos 0x3 --duration 120: 73
                    // members in 9,328 bytes after deletes). Times the estimate's
                    // factor of 4, 32 bytes each covers it.
                    Coll::ZSet(z) => z.keys().map(|e| e.len() + 32).sum(),
                    Coll::Hash(h) => h.iter().map(|(f, v)| f.len() + v.len() + 16).sum(),
                }
        })
        .sum();
    (strings + coll_bytes, keys.len() + colls.len())
}

impl Model {
    pub fn new(_start_wall_ms: u64) -> Self {
        Model {
            keys: BTreeMap::new(),
            colls: BTreeMap::new(),
            coll_ttl: BTreeMap::new(),
            maybe_present: BTreeSet::new(),
            cur_db: 0,
            other_dbs: BTreeMap::new(),
            conn_db: BTreeMap::new(),
            conns: BTreeMap::new(),
            seen: BTreeSet::new(),
            observed: None,
            blocking: Default::default(),
            zset_maybe_skiplist: BTreeSet::new(),
            lost_track: None,
        }
    }

    /// Starts the model from a recovered dataset: a string key (with its absolute
    /// expire time, if any).
    pub fn load_string(&mut self, key: Vec<u8>, value: Vec<u8>, expire_at_ms: Option<u64>) {
        self.keys.insert(key, (value, expire_at_ms));
    }

    /// Starts the model from a recovered dataset: a collection key.
    pub fn load_coll(&mut self, key: Vec<u8>, coll: Coll) {
        // Its encoding is the load's (an AOF replay's history): unknown.
        if matches!(coll, Coll::ZSet(_)) {
            self.zset_maybe_skiplist.insert(key.clone());
        }
        self.colls.insert(key, coll);
    }

    /// The node's reply to the next request judged, when that request's reply is
    /// the node's random pick (SPOP).
    pub fn observe(&mut self, reply: &[u8]) {
        self.observed = Some(reply.to_vec());
    }

    /// A command queued inside MULTI on `conn` was refused before it ran (-OOM,
    /// -LOADING, -MISCONF: Redis's `rejectCommand` → `flagTransaction`): its EXEC
    /// answers EXECABORT.
    pub fn flag_transaction(&mut self, conn: ConnId) {
        if let Some(cs) = self.conns.get_mut(&conn).filter(|c| c.multi.is_some()) {
            cs.exec_abort = true;
        }
    }

    /// Takes over `old`'s connection states (MULTI queues, watches): the node keeps
    /// its clients when the model is rebuilt from a recovered dataset (MULTI and
    /// WATCH run while the node loads).
    pub fn keep_conns_of(&mut self, old: &mut Model) {
        self.conns = std::mem::take(&mut old.conns);
        self.conn_db = std::mem::take(&mut old.conn_db);
    }

    /// The node finished loading: every watch set meanwhile may have been dirtied by
    /// the AOF replay (its commands touch watched keys, as Redis's do).
    pub fn watches_unsure(&mut self) {
        for cs in self.conns.values_mut() {
            if !cs.watched.is_empty() {
                cs.watch_unsure = true;
            }
        }
    }

    /// Whether an EXEC on `conn` may abort for a watch the model cannot judge
    /// (`watches_unsure`): the node's `*-1` is then accepted.
    pub fn exec_may_abort(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .is_some_and(|c| c.multi.is_some() && c.watch_unsure && !c.exec_abort)
    }

    /// Whether `conn` is inside MULTI (its commands are queued, not run).
    pub fn in_multi(&self, conn: ConnId) -> bool {
        self.conns.get(&conn).is_some_and(|c| c.multi.is_some())
    }

    /// The commands queued so far on `conn` inside MULTI (empty outside MULTI).
    pub fn queued(&self, conn: ConnId) -> &[Vec<Vec<u8>>] {
        self.conns
            .get(&conn)
            .and_then(|c| c.multi.as_deref())
            .unwrap_or_default()
    }

    /// EXEC was refused before it ran (Redis's `execCommandAbort`, e.g. -OOM when
    /// a queued command is denyoom): the transaction is discarded, nothing queued
    /// runs, the connection's watches are dropped.
    pub fn discard_transaction(&mut self, conn: ConnId) {
        self.conns.remove(&conn);
    }

    /// `observe`s the reply when the request's reply is the node's pick or in the
    /// node's order (SPOP, RANDOMKEY, KEYS, SMEMBERS ...); forgets it otherwise.
    pub fn observe_for(&mut self, request: &[Vec<u8>], reply: &[u8]) {
        const OBSERVED: [&[u8]; 28] = [
            b"SPOP",
            b"RANDOMKEY",
            b"KEYS",
            b"SCAN",
            b"DBSIZE",
            b"INCRBYFLOAT",
            b"SMEMBERS",
            b"SRANDMEMBER",
            b"SINTER",
            b"SUNION",
            b"SDIFF",
            b"HGETALL",
            b"HKEYS",
            b"HVALS",
            b"HRANDFIELD",
            b"ZRANDMEMBER",
            b"HSCAN",
            b"SSCAN",
            b"ZSCAN",
            b"DUMP",
            b"SORT",
            b"SORT_RO",
            // A lex range over mixed scores in a skiplist: the node's walk.
            b"ZRANGEBYLEX",
            b"ZREVRANGEBYLEX",
            b"ZLEXCOUNT",
            b"ZREMRANGEBYLEX",
            b"ZRANGESTORE",
            // Commit or abort, when the watches were set while the node loaded.
            b"EXEC",
        ];
        let wanted = request
            .first()
            .is_some_and(|n| OBSERVED.iter().any(|o| n.eq_ignore_ascii_case(o)));
        self.observed = wanted.then(|| reply.to_vec());
    }

    /// The connection closed: a transaction in progress is discarded, watches dropped.
    pub fn conn_closed(&mut self, conn: ConnId) {
        self.conn_db.remove(&conn);
        self.blocking_conn_closed(conn);
        if self.conns.remove(&conn).is_some_and(|c| c.multi.is_some()) {
            self.seen.insert(seen::CLOSED_IN_MULTI);
        }
    }

    /// A flush's touch of `key` in the current database (Redis 7.0's
    /// `touchAllWatchedKeysInDb` for a key in the table): a watch that saw the key
    /// expired is no logical change.
    pub(crate) fn touch_flushed(&mut self, key: &[u8]) {
        for cs in self.conns.values_mut() {
            if cs
                .watched
                .iter()
                .any(|w| w.key == key && w.db == self.cur_db && !w.expired_at_watch)
            {
                cs.dirty = true;
                cs.watched.clear();
            }
        }
    }

    /// Redis's `touchWatchedKey`: every connection watching `key` gets DIRTY_CAS.
    pub(crate) fn touch(&mut self, key: &[u8]) {
        for cs in self.conns.values_mut() {
            if cs
                .watched
                .iter()
                .any(|w| w.key == key && w.db == self.cur_db)
            {
                cs.dirty = true;
                cs.watched.clear();
            }
        }
    }

    /// The exact reply bytes Redis gives on connection `conn` (MULTI/EXEC/WATCH state
    /// is per connection), or None for a request the model does not know.
    pub fn apply_on(&mut self, now_ms: u64, conn: ConnId, req: &[Vec<u8>]) -> Option<Vec<u8>> {
        let db = self.conn_db.get(&conn).copied().unwrap_or(0);
        self.switch_db(db);
        let reply = if self.in_multi(conn) {
            self.apply_on_db(now_ms, conn, req)
        } else {
            self.apply_db_command(now_ms, conn, req)
                .or_else(|| self.apply_on_db(now_ms, conn, req))
        };
        self.note_zset_encodings(req);
        self.switch_db(0);
        reply
    }

    /// `apply_on` in the connection's database.
    fn apply_on_db(&mut self, now_ms: u64, conn: ConnId, req: &[Vec<u8>]) -> Option<Vec<u8>> {
        let name = String::from_utf8_lossy(req.first()?).to_ascii_uppercase();
        let in_multi = self.conns.get(&conn).is_some_and(|c| c.multi.is_some());
        match name.as_str() {
            "MULTI" => {
                let cs = self.conns.entry(conn).or_default();
                if cs.multi.is_some() {
                    return Some(b"-ERR MULTI calls can not be nested\r\n".to_vec());
                }
                cs.multi = Some(Vec::new());
                Some(b"+OK\r\n".to_vec())
            }
            "DISCARD" => {
                if !in_multi {
                    return Some(b"-ERR DISCARD without MULTI\r\n".to_vec());
                }
                self.conns.remove(&conn);
                Some(b"+OK\r\n".to_vec())
            }
            "EXEC" => {
                if !in_multi {
                    return Some(b"-ERR EXEC without MULTI\r\n".to_vec());
                }
                let cs = self.conns.remove(&conn).unwrap_or_default();
                // The node's reply is for EXEC alone: no queued command reads it.
                let observed = self.observed.take();
                if cs.exec_abort {
                    return Some(
                        b"-EXECABORT Transaction discarded because of previous errors.\r\n"
                            .to_vec(),
                    );
                }
                let expired = cs
                    .watched
                    .iter()
                    .any(|w| matches!(w.alive_expire_at, Some(at) if now_ms > at));
                // Watches set while the node loaded were judged against a model that
                // had not loaded the dataset: whether a watched key was there, and
                // expired (which spares it from a flush or a deletion), is unknown,
                // so a commit is explained as well as an abort (`exec_may_abort`;
                // chaos 0x227c: WATCH w0 while loading, a FLUSHALL after, EXEC ran).
                let node_committed = observed.is_some_and(|r| r.as_slice() != b"*-1\r\n");
                let unsure_commit = cs.watch_unsure && node_committed;
                if (cs.dirty || expired) && !unsure_commit {
                    self.seen.insert(seen::WATCH_ABORTED);
                    if expired && !cs.dirty {
                        self.seen.insert(seen::WATCH_EXPIRY_ABORTED);
                    }
                    return Some(b"*-1\r\n".to_vec());
                }
                let queued = cs.multi.unwrap_or_default();
                let mut out = format!("*{}\r\n", queued.len()).into_bytes();
                self.blocking.exec_args = queued.iter().flatten().cloned().collect();
                self.blocking.in_exec = true;
                for q in &queued {
                    let reply = self.apply(now_ms, q);
                    let Some(reply) = reply else {
                        self.blocking.in_exec = false;
                        return None;
                    };
                    self.note_ready_in_exec(now_ms);
                    out.extend_from_slice(&reply);
                }
                self.blocking.in_exec = false;
                self.seen.insert(seen::TXN_COMMITTED);
                Some(out)
            }
            "WATCH" if !in_multi => {
                let already_dirty = self.conns.get(&conn).is_some_and(|c| c.dirty);
                if !already_dirty {
                    for key in req.get(1..).unwrap_or_default() {
                        // WATCH looks without expiring (Redis 7.0's `keyIsExpired`):
                        // an expired key stays in the table, and a backward clock
                        // jump makes it live again (chaos 0x39).
                        let expired = matches!(self.keys.get(key), Some((_, Some(at))) if now_ms > *at)
                            || matches!(self.coll_ttl.get(key), Some(at) if now_ms > *at);
                        let alive = !expired
                            && (self.keys.contains_key(key) || self.colls.contains_key(key));
                        let alive_expire_at = if alive { self.ttl_of(key) } else { None };
                        let db = self.cur_db;
                        let cs = self.conns.entry(conn).or_default();
                        if !cs.watched.iter().any(|w| w.key == *key && w.db == db) {
                            cs.watched.push(Watched {
                                db,
                                key: key.clone(),
                                alive_expire_at,
                                expired_at_watch: expired,
                            });
                        }
                    }
                }
                Some(b"+OK\r\n".to_vec())
            }
            "RESET" => {
                // Discards MULTI, drops watches, back to database 0 (Redis's
                // `resetCommand`; it runs at once inside MULTI).
                self.conns.remove(&conn);
                self.conn_db.remove(&conn);
                Some(b"+RESET\r\n".to_vec())
            }
            "UNWATCH" if !in_multi => {
                self.conns.remove(&conn);
                Some(b"+OK\r\n".to_vec())
            }
            _ if in_multi => {
                if !self.knows(&name) {
                    return None;
                }
                if let Some(q) = self.conns.get_mut(&conn).and_then(|c| c.multi.as_mut()) {
                    q.push(req.to_vec());
                }
                Some(b"+QUEUED\r\n".to_vec())
            }
            _ => self.apply(now_ms, req),
        }
    }

    fn knows(&self, name: &str) -> bool {
        model_types::handles(name)
            || crate::model_blocking::is_blocking_name(name.as_bytes())
            || Model::wide_handles(name)
            || Model::wide_types_handles(name)
            || Model::wide_zset_handles(name)
            || Model::misc_handles(name)
            || matches!(
                name,
                "GET" | "SET" | "INCR" | "INCRBY" | "DEL" | "EXISTS" | "APPEND" | "TYPE"
            )
    }

    /// Applies one command outside MULTI (or one queued command inside EXEC), touching
    /// the watched keys it modifies.
    pub fn apply(&mut self, now_ms: u64, req: &[Vec<u8>]) -> Option<Vec<u8>> {
        let reply = self.apply_command(now_ms, req);
        self.note_zset_encodings(req);
        reply
    }

    fn apply_command(&mut self, now_ms: u64, req: &[Vec<u8>]) -> Option<Vec<u8>> {
        let name = String::from_utf8_lossy(req.first()?).to_ascii_uppercase();
        for arg in req.get(1..).unwrap_or_default() {
            self.purge(now_ms, arg);
        }
        if Model::misc_handles(&name) {
            let reply = self.apply_misc(now_ms, &name, req);
            self.coll_ttl.retain(|k, _| self.colls.contains_key(k));
            return reply;
        }
        if crate::model_blocking::is_blocking_name(name.as_bytes()) {
            let reply = if self.blocking.in_exec {
                self.apply_blocking_in_exec(req)
            } else {
                self.apply_blocking_at_once(req)
            };
            self.coll_ttl.retain(|k, _| self.colls.contains_key(k));
            return reply;
        }
        if Model::wide_handles(&name)
            || Model::wide_types_handles(&name)
            || Model::wide_zset_handles(&name)
        {
            let reply = if Model::wide_handles(&name) {
                self.apply_wide(now_ms, &name, req)
            } else if Model::wide_zset_handles(&name) {
                self.apply_wide_zset(&name, req)
            } else {
                self.apply_wide_types(&name, req)
            };
            self.coll_ttl.retain(|k, _| self.colls.contains_key(k));
            return reply;
        }
        let key = req.get(1)?.clone();
        if !model_types::handles(&name) {
            return self.apply_keyspace(now_ms, &name, req);
        }
        if self.live(now_ms, &key).is_some() {
            // A string key: the collection commands refuse it (ZADD's own syntax
            // checks would come first; the workload never sends ZADD to a string).
            // ZADD checks its options first: its reply on an empty keyspace says
            // whether they were valid.
            if name == "ZADD" {
                let mut scratch = BTreeMap::new();
                let r = model_types::apply(&mut scratch, &name, req)?;
                if r.first() == Some(&b'-') {
                    return Some(r);
                }
            }
            return Some(WRONGTYPE.to_vec());
        }
        if name == "SPOP" {
            return self.spop(&key);
        }
        let before = self.colls.get(&key).cloned();
        let reply = model_types::apply(&mut self.colls, &name, req)?;
        let after = self.colls.get(&key);
        if before.is_some() && after.is_none() {
            self.seen.insert(seen::EMPTIED_DELETED);
        }
        if name == "LREM" {
            // Fewer asked for than there are: what an off-by-one in the count shows.
            let count = req.get(2).and_then(|c| parse_int(c)).unwrap_or(0);
            if let (Some(Coll::List(l)), Some(value)) = (&before, req.get(3)) {
                let matching = l.iter().filter(|v| *v == value).count() as u64;
                if count != 0 && matching > count.unsigned_abs() {
                    self.seen.insert(seen::LREM_DUPLICATES);
                }
            }
        }
        let always = matches!(name.as_str(), "HSET" | "HINCRBY") && reply.first() != Some(&b'-')
            || name == "LTRIM" && before.is_some();
        if name == "SREM" {
            if let Some(Coll::Set(set)) = &before {
                if req
                    .get(2..)
                    .unwrap_or_default()
                    .iter()
                    .any(|m| !set.contains(m))
                {
                    self.seen.insert(seen::SREM_ABSENT);
                }
            }
        }
        if name == "ZADD" && zadd_gt_ch_meets_equal(before.as_ref(), req) {
            self.seen.insert(seen::ZADD_EQUAL_KEPT);
        }
        if always || before.as_ref() != self.colls.get(&key) {
            self.touch(&key);
        }
        if !self.colls.contains_key(&key) {
            self.coll_ttl.remove(&key);
        }
        Some(reply)
    }

    /// SPOP key: the member is the node's draw, so the model accepts any member the
    /// set holds (and only those), then removes it as the node must have.
    fn spop(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        let observed = self.observed.take();
        let set = match self.colls.get_mut(key) {
            None => return Some(b"$-1\r\n".to_vec()),
            Some(Coll::Set(s)) => s,
            Some(_) => return Some(WRONGTYPE.to_vec()),
        };
        let member = observed
            .as_deref()
            .and_then(|r| r.strip_prefix(b"$"))
            .and_then(|r| {
                let nl = r.iter().position(|&b| b == b'\n')?;
                r.get(nl + 1..r.len().checked_sub(2)?)
            })
            .map(<[u8]>::to_vec);
        let Some(member) = member.filter(|m| set.remove(m)) else {
            // Not a member (or no pick seen): expect something the node cannot match.
            return Some(b"-model: SPOP must pop a member of the set\r\n".to_vec());
        };
        self.seen.insert(seen::SPOP_POPPED);
        if set.is_empty() {
            self.colls.remove(key);
            self.seen.insert(seen::EMPTIED_DELETED);
        }
        self.touch(key);
        Some(bulk(&member))
    }

    /// Lazy expiry of one key of any type.
    pub(crate) fn purge(&mut self, now_ms: u64, key: &[u8]) {
        if matches!(self.keys.get(key), Some((_, Some(at))) if now_ms > *at) {
            self.keys.remove(key);
            self.maybe_present.insert(key.to_vec());
            self.dirty_live_watches(self.cur_db, key);
        }
        if matches!(self.coll_ttl.get(key), Some(at) if now_ms > *at) {
            self.coll_ttl.remove(key);
            self.colls.remove(key);
            self.maybe_present.insert(key.to_vec());
            self.dirty_live_watches(self.cur_db, key);
        }
    }

    fn live(&mut self, now_ms: u64, key: &[u8]) -> Option<&mut Vec<u8>> {
        let expired = matches!(self.keys.get(key), Some((_, Some(at))) if now_ms > *at);
        if expired {
            self.keys.remove(key);
            // Lazy expiry deletes and signals the key like active expiry (Redis
            // 7.0's `deleteExpiredKeyAndPropagate`): a watch that saw it live is
            // dirty even if a backward clock jump puts EXEC before its TTL (chaos
            // 0x585: a queued GET of another client's EXEC expired the watched key).
            self.dirty_live_watches(self.cur_db, key);
        }
        self.keys.get_mut(key).map(|(v, _)| v)
    }

    /// What the workload stored, by the model's reckoning: key and value bytes (each
    /// element and score counted as 8 bytes), and the number of keys. The resource
    /// checker's independent memory estimate.
    pub fn stored_bytes(&self) -> (usize, usize) {
        let mut total = stored(&self.keys, &self.colls);
        for d in self.other_dbs.values() {
            let (bytes, keys) = stored(&d.keys, &d.colls);
            total.0 += bytes;
            total.1 += keys;
        }
        total
    }

    /// Forgets keys the node may have removed by active expiry: a key whose TTL passed
    /// at some wall time the node was handed (`max_wall_ms`) and that the node no
    /// longer holds. After a backward clock jump such a key would otherwise look live
    /// to the model. Returns how many keys were forgotten.
    ///
    /// `held`: a request that ran before now is not judged yet (its reply waits for
    /// an fsync). The node may have held a forgotten key, expired but not reclaimed,
    /// when that request ran, so DBSIZE keeps it in its upper bound (chaos 0x36:
    /// `SET w1 v PX 8`, DBSIZE counted it, active expiry took it before the reply).
    pub fn sync_expired(
        &mut self,
        max_wall_ms: u64,
        held: bool,
        node_has: impl Fn(u32, &[u8]) -> bool,
    ) -> usize {
        // Every database: active expiry reclaims keys in all of them (chaos 0x829:
        // `SET x2 1.5 PX 157` in database 2, reclaimed before a -2716 ms jump, then
        // SWAPDB 1 2 and `SETNX x2` in database 1).
        let cur = self.cur_db;
        let dbs: Vec<u32> = std::iter::once(cur)
            .chain(self.other_dbs.keys().copied())
            .collect();
        let mut forgotten = 0;
        for db in dbs {
            self.switch_db(db);
            let has = |k: &[u8]| node_has(db, k);
            let gone: Vec<Vec<u8>> = self
                .keys
                .iter()
                .filter(|(k, (_, at))| matches!(at, Some(at) if max_wall_ms > *at) && !has(k))
                .map(|(k, _)| k.clone())
                .collect();
            let colls_gone = colls_gone_early(&self.coll_ttl, max_wall_ms, &has);
            for k in gone.iter().chain(&colls_gone) {
                // Redis 7.0's `deleteExpiredKeyAndPropagate` signals the key: a watch
                // that saw it live is dirtied, even if a backward clock jump means it
                // has not expired by EXEC's clock (chaos 0x12f).
                self.dirty_live_watches(db, k);
            }
            for k in &gone {
                self.keys.remove(k);
            }
            for k in &colls_gone {
                self.coll_ttl.remove(k);
                self.colls.remove(k);
            }
            if held {
                self.maybe_present
                    .extend(gone.iter().chain(&colls_gone).cloned());
            }
            forgotten += gone.len() + colls_gone.len();
        }
        self.switch_db(cur);
        forgotten
    }

    /// Dirties the watches of `key` (in `db`) that saw it live, as Redis's
    /// `touchWatchedKey` does when expiry deletes it (a watch that saw it expired
    /// is skipped: the key is gone from the table).
    fn dirty_live_watches(&mut self, db: u32, key: &[u8]) {
        for cs in self.conns.values_mut() {
            if cs
                .watched
                .iter()
                .any(|w| w.key == key && w.db == db && w.alive_expire_at.is_some())
            {
                cs.dirty = true;
                cs.watched.clear();
            }
        }
    }

    /// Strings and the type-blind keyspace commands (DEL, EXISTS, TYPE).
    fn apply_keyspace(&mut self, now_ms: u64, name: &str, req: &[Vec<u8>]) -> Option<Vec<u8>> {
        let key = req.get(1)?.clone();
        if self.colls.contains_key(&key) {
            return Some(match name {
                "DEL" => {
                    self.colls.remove(&key);
                    self.touch(&key);
                    int(1)
                }
                "EXISTS" => int(1),
                "TYPE" => format!("+{}\r\n", self.colls.get(&key)?.type_name()).into_bytes(),
                "SET" => {
                    self.colls.remove(&key);
                    return self.apply_string(now_ms, name, req);
                }
                "GET" | "INCR" | "INCRBY" | "APPEND" => WRONGTYPE.to_vec(),
                _ => return None,
            });
        }
        if name == "TYPE" {
            return Some(if self.live(now_ms, &key).is_some() {
                b"+string\r\n".to_vec()
            } else {
                b"+none\r\n".to_vec()
            });
        }
        self.apply_string(now_ms, name, req)
    }

    fn apply_string(&mut self, now_ms: u64, name: &str, req: &[Vec<u8>]) -> Option<Vec<u8>> {
        let key = req.get(1)?.clone();
        let reply = self.apply_string_inner(now_ms, name, req)?;
        let modified = match name {
            "SET" | "APPEND" => true,
            "INCR" | "INCRBY" => reply.first() == Some(&b':'),
            "DEL" => reply == b":1\r\n",
            _ => false,
        };
        if modified {
            self.touch(&key);
        }
        Some(reply)
    }

    fn apply_string_inner(&mut self, now_ms: u64, name: &str, req: &[Vec<u8>]) -> Option<Vec<u8>> {
        let key = req.get(1)?.clone();
        Some(match name {
            "GET" => match self.live(now_ms, &key) {
                Some(v) => bulk(v),
                None => b"$-1\r\n".to_vec(),
            },
            "SET" => {
                let value = req.get(2)?.clone();
                let expire = match req.get(3) {
                    Some(opt) if opt.eq_ignore_ascii_case(b"PX") => {
                        Some(now_ms + parse_int(req.get(4)?)? as u64)
                    }
                    Some(_) => return None,
                    None => None,
                };
                self.keys.insert(key, (value, expire));
                b"+OK\r\n".to_vec()
            }
            "INCR" | "INCRBY" => {
                let by = if name == "INCR" {
                    1
                } else {
                    parse_int(req.get(2)?)?
                };
                let current = match self.live(now_ms, &key) {
                    None => 0,
                    Some(v) => match parse_int(v) {
                        Some(n) => n,
                        None => {
                            return Some(
                                b"-ERR value is not an integer or out of range\r\n".to_vec(),
                            )
                        }
                    },
                };
                let Some(next) = current.checked_add(by) else {
                    return Some(b"-ERR increment or decrement would overflow\r\n".to_vec());
                };
                let ttl = self.keys.get(&key).and_then(|(_, t)| *t);
                self.keys.insert(key, (next.to_string().into_bytes(), ttl));
                int(next)
            }
            "DEL" => int(i64::from(
                self.live(now_ms, &key).is_some() && self.keys.remove(&key).is_some(),
            )),
            "EXISTS" => int(i64::from(self.live(now_ms, &key).is_some())),
            "APPEND" => {
                let extra = req.get(2)?;
                match self.live(now_ms, &key) {
                    Some(v) => {
                        v.extend_from_slice(extra);
                        int(v.len() as i64)
                    }
                    None => {
                        self.keys.insert(key, (extra.clone(), None));
                        int(extra.len() as i64)
                    }
                }
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(parts: &[&str]) -> Vec<Vec<u8>> {
        parts.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    /// WATCH of an expired key leaves it in the table (Redis 7.0.15's `keyIsExpired`;
    /// checked: `DEBUG SET-ACTIVE-EXPIRE 0`, `SET w v PX 50`, 100 ms later WATCH w
    /// and DBSIZE -> 1, expired_keys 0): after a backward clock jump GET returns it
    /// (chaos 0x39). A later GET past its expiry does remove it.
    #[test]
    fn watch_does_not_expire_the_key() {
        let mut m = Model::new(0);
        let conn: ConnId = 3;
        m.apply_on(1_000, conn, &req(&["SET", "w0", "v", "PX", "10"]));
        m.apply_on(2_000, conn, &req(&["WATCH", "w0"]));
        assert_eq!(
            m.apply_on(1_005, conn, &req(&["GET", "w0"])),
            Some(b"$1\r\nv\r\n".to_vec())
        );
        m.apply_on(2_000, conn, &req(&["GET", "w0"]));
        assert_eq!(
            m.apply_on(1_005, conn, &req(&["GET", "w0"])),
            Some(b"$-1\r\n".to_vec())
        );
    }

    /// chaos 0x36: DBSIZE ran while the node still held an expired key (`SET w1 v
    /// PX 8`), its reply waited for an fsync, and active expiry took the key before
    /// the reply was judged. The model forgets the key but keeps it in DBSIZE's upper
    /// bound while a request is held; with none held, the bound is the live keys.
    #[test]
    fn a_key_forgotten_while_a_reply_is_held_stays_in_dbsize_bound() {
        let dbsize = |m: &mut Model, node: &str| {
            m.observe_for(&req(&["DBSIZE"]), node.as_bytes());
            m.apply_on(1_030, 3, &req(&["DBSIZE"]))
        };
        for held in [true, false] {
            let mut m = Model::new(0);
            m.apply_on(1_000, 3, &req(&["SET", "k0", "v"]));
            m.apply_on(1_000, 3, &req(&["SET", "w1", "v", "PX", "8"]));
            assert_eq!(m.sync_expired(1_040, held, |_, k| k == b"k0"), 1);
            let expected = if held { ":2\r\n" } else { ":1\r\n" };
            assert_eq!(dbsize(&mut m, ":2\r\n"), Some(expected.as_bytes().to_vec()));
            assert_eq!(dbsize(&mut m, ":1\r\n"), Some(b":1\r\n".to_vec()));
            assert_eq!(dbsize(&mut m, ":3\r\n"), Some(b":1\r\n".to_vec()));
        }
    }

    /// chaos 0x829: active expiry reclaims keys in every database; after a backward
    /// clock jump a key the node reclaimed in database 2 (then swapped into 1) must
    /// not look live to the model.
    #[test]
    fn active_expiry_is_followed_in_every_database() {
        let setnx = |synced: bool| {
            let mut m = Model::new(0);
            m.apply_on(1_000, 3, &req(&["SELECT", "2"]));
            m.apply_on(1_000, 3, &req(&["SET", "x2", "v", "PX", "10"]));
            m.apply_on(1_001, 3, &req(&["SET", "x1", "v", "PX", "10"]));
            m.apply_on(1_001, 3, &req(&["SET", "k0", "v"]));
            if synced {
                // The node still holds x1 (not reclaimed yet) and k0 (no TTL).
                let forgotten = m.sync_expired(1_020, false, |db, k| db == 2 && k != b"x2");
                assert_eq!(forgotten, 1);
            }
            m.apply_on(1_002, 3, &req(&["SWAPDB", "1", "2"]));
            m.apply_on(1_002, 3, &req(&["SELECT", "1"]));
            // Back before the TTLs by a jump.
            let x1 = m.apply_on(1_005, 3, &req(&["EXISTS", "x1"]));
            assert_eq!(x1, Some(b":1\r\n".to_vec()));
            m.apply_on(1_005, 3, &req(&["SETNX", "x2", "1.5"]))
        };
        assert_eq!(setnx(true), Some(b":1\r\n".to_vec()));
        assert_eq!(setnx(false), Some(b":0\r\n".to_vec()));
    }

    /// chaos 0x585: another client's GET lazily expires a watched key that was live
    /// at WATCH; a backward clock jump then puts EXEC before the key's TTL. Redis
    /// 7.0's lazy expiry signals the key, so EXEC aborts.
    #[test]
    fn lazy_expiry_by_another_client_dirties_a_watch() {
        let mut m = Model::new(0);
        let (watcher, reader): (ConnId, ConnId) = (3, 4);
        m.apply_on(1_000, watcher, &req(&["SET", "w0", "v", "PX", "10"]));
        m.apply_on(1_001, watcher, &req(&["WATCH", "w0"]));
        m.apply_on(1_002, watcher, &req(&["MULTI"]));
        m.apply_on(1_002, watcher, &req(&["GET", "k0"]));
        assert_eq!(
            m.apply_on(1_020, reader, &req(&["GET", "w0"])),
            Some(b"$-1\r\n".to_vec())
        );
        // EXEC's clock is back before the TTL: only the lazy expiry explains *-1.
        assert_eq!(
            m.apply_on(1_003, watcher, &req(&["EXEC"])),
            Some(b"*-1\r\n".to_vec())
        );
    }

    /// A WATCH run while the node loaded may be dirtied by the AOF replay (Redis's
    /// loader signals modified keys): once loading ends, such a conn's EXEC may abort;
    /// a conn that watched nothing then, or watched after, is judged as before.
    #[test]
    fn watches_set_while_loading_may_abort_exec() {
        let mut m = Model::new(0);
        let (loading, later, plain): (ConnId, ConnId, ConnId) = (3, 4, 5);
        m.apply_on(0, loading, &req(&["WATCH", "w0"]));
        m.apply_on(0, plain, &req(&["MULTI"]));
        m.watches_unsure();
        m.apply_on(0, later, &req(&["WATCH", "w1"]));
        for conn in [loading, later] {
            m.apply_on(0, conn, &req(&["MULTI"]));
        }
        assert!(m.exec_may_abort(loading));
        assert!(!m.exec_may_abort(later));
        assert!(!m.exec_may_abort(plain));
        assert_eq!(
            m.apply_on(0, later, &req(&["EXEC"])),
            Some(b"*0\r\n".to_vec())
        );
    }

    /// A watch set while the node loaded, then a FLUSHALL: the key may have been in
    /// the loading dataset already and expired (Redis's flush then spares the watch)
    /// or not, so the node's commit is explained as well as its abort (chaos 0x227c);
    /// a watch set after loading is judged as before.
    #[test]
    fn a_watch_set_while_loading_may_commit_after_a_flush() {
        let exec = |loading: bool, node: &[u8]| {
            let mut m = Model::new(0);
            m.apply_on(0, 3, &req(&["WATCH", "w0"]));
            if loading {
                m.watches_unsure();
            }
            m.apply_on(0, 4, &req(&["SET", "w0", "v"]));
            m.apply_on(0, 4, &req(&["FLUSHALL"]));
            m.apply_on(0, 3, &req(&["MULTI"]));
            m.apply_on(0, 3, &req(&["INCR", "k0"]));
            m.observe_for(&req(&["EXEC"]), node);
            m.apply_on(0, 3, &req(&["EXEC"]))
        };
        let committed = b"*1\r\n:1\r\n".as_slice();
        assert_eq!(exec(true, committed), Some(committed.to_vec()));
        assert_eq!(exec(true, b"*-1\r\n"), Some(b"*-1\r\n".to_vec()));
        assert_eq!(exec(false, committed), Some(b"*-1\r\n".to_vec()));
    }

    /// Redis 7.0.15: EXEC refused with `-EXECABORT Transaction discarded because of:
    /// OOM ...` discards the transaction: nothing queued runs, watches are dropped.
    #[test]
    fn an_exec_refused_for_oom_discards_the_transaction() {
        let mut m = Model::new(0);
        let (conn, other): (ConnId, ConnId) = (3, 4);
        m.apply_on(0, conn, &req(&["WATCH", "k1"]));
        m.apply_on(0, conn, &req(&["MULTI"]));
        assert!(m.in_multi(conn));
        m.apply_on(0, conn, &req(&["SET", "k0", "v"]));
        assert_eq!(m.queued(conn), &[req(&["SET", "k0", "v"])][..]);
        m.discard_transaction(conn);
        assert!(!m.in_multi(conn));
        assert!(m.queued(conn).is_empty());
        assert_eq!(
            m.apply_on(0, conn, &req(&["GET", "k0"])),
            Some(b"$-1\r\n".to_vec())
        );
        // The watch on k1 went with it: a later write of k1 does not doom the next
        // transaction.
        m.apply_on(0, other, &req(&["SET", "k1", "x"]));
        m.apply_on(0, conn, &req(&["MULTI"]));
        assert_eq!(
            m.apply_on(0, conn, &req(&["EXEC"])),
            Some(b"*0\r\n".to_vec())
        );
    }

    /// Redis 7.0.15: `MULTI`, a command refused with -LOADING/-OOM before it ran,
    /// `EXEC` → `-EXECABORT Transaction discarded because of previous errors.`, and
    /// nothing queued runs.
    #[test]
    fn a_refused_queued_command_aborts_the_exec() {
        let mut m = Model::new(0);
        let conn: ConnId = 7;
        assert_eq!(
            m.apply_on(0, conn, &req(&["MULTI"])),
            Some(b"+OK\r\n".to_vec())
        );
        assert_eq!(
            m.apply_on(0, conn, &req(&["SET", "k0", "v"])),
            Some(b"+QUEUED\r\n".to_vec())
        );
        m.flag_transaction(conn);
        assert_eq!(
            m.apply_on(0, conn, &req(&["EXEC"])),
            Some(b"-EXECABORT Transaction discarded because of previous errors.\r\n".to_vec())
        );
        assert_eq!(
            m.apply_on(0, conn, &req(&["GET", "k0"])),
            Some(b"$-1\r\n".to_vec())
        );
        // Outside MULTI a refusal flags nothing.
        m.flag_transaction(conn);
        assert_eq!(
            m.apply_on(0, conn, &req(&["MULTI"])),
            Some(b"+OK\r\n".to_vec())
        );
        assert_eq!(
            m.apply_on(0, conn, &req(&["EXEC"])),
            Some(b"*0\r\n".to_vec())
        );
    }
}
