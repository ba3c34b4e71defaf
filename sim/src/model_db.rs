//! The reference model's databases: SELECT (per connection, until it closes), SWAPDB,
//! MOVE, FLUSHDB and FLUSHALL. The model's key maps hold one database at a time (`cur_db`): the
//! one the connection being judged selected while its request is applied, and 0
//! between requests; the others wait in `other_dbs`. Written from Redis 7.0's
//! behaviour (replies asked of redis-server 7.0.15, `databases 16`).

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{int, parse_int, Model};
use crate::model_types::Coll;
use crate::net::ConnId;

/// The databases keel and Redis start with (`databases 16`).
pub const DATABASES: i64 = 16;

const OK: &[u8] = b"+OK\r\n";
const NOT_INTEGER: &[u8] = b"-ERR value is not an integer or out of range\r\n";
const OUT_OF_RANGE: &[u8] = b"-ERR DB index is out of range\r\n";

/// One database's keys, while it is not the current one.
#[derive(Debug, Default)]
pub struct DbState {
    pub(crate) keys: BTreeMap<Vec<u8>, (Vec<u8>, Option<u64>)>,
    pub(crate) colls: BTreeMap<Vec<u8>, Coll>,
    pub(crate) coll_ttl: BTreeMap<Vec<u8>, u64>,
    pub(crate) maybe_present: BTreeSet<Vec<u8>>,
}

impl Model {
    /// Makes `db` the current database (its keys in the model's key maps).
    pub(crate) fn switch_db(&mut self, db: u32) {
        if db == self.cur_db {
            return;
        }
        let cur = self.take_current();
        self.other_dbs.insert(self.cur_db, cur);
        let next = self.other_dbs.remove(&db).unwrap_or_default();
        self.put_current(next);
        self.cur_db = db;
    }

    fn take_current(&mut self) -> DbState {
        DbState {
            keys: std::mem::take(&mut self.keys),
            colls: std::mem::take(&mut self.colls),
            coll_ttl: std::mem::take(&mut self.coll_ttl),
            maybe_present: std::mem::take(&mut self.maybe_present),
        }
    }

    fn put_current(&mut self, d: DbState) {
        self.keys = d.keys;
        self.colls = d.colls;
        self.coll_ttl = d.coll_ttl;
        self.maybe_present = d.maybe_present;
    }

    /// Every watcher of a key in `db` gets DIRTY_CAS (SWAPDB; a flush when `flushed`,
    /// which spares the watches that saw their key expired).
    fn touch_db_as(&mut self, db: u32, flushed: bool) {
        let cur = self.cur_db;
        self.switch_db(db);
        let keys: Vec<Vec<u8>> = self.keys.keys().chain(self.colls.keys()).cloned().collect();
        for k in keys {
            if flushed {
                self.touch_flushed(&k);
            } else {
                self.touch(&k);
            }
        }
        self.switch_db(cur);
    }

    fn touch_db(&mut self, db: u32) {
        self.touch_db_as(db, false);
    }

    /// SELECT, SWAPDB, MOVE, FLUSHDB on `conn` (outside MULTI), already in the
    /// connection's database; None for any other request.
    pub(crate) fn apply_db_command(
        &mut self,
        now_ms: u64,
        conn: ConnId,
        req: &[Vec<u8>],
    ) -> Option<Vec<u8>> {
        let name = String::from_utf8_lossy(req.first()?).to_ascii_uppercase();
        let args = req.get(1..).unwrap_or_default();
        let index = |v: &[u8], not_int: &[u8]| -> Result<u32, Vec<u8>> {
            let n = parse_int(v).ok_or_else(|| not_int.to_vec())?;
            if (0..DATABASES).contains(&n) {
                Ok(n as u32)
            } else {
                Err(OUT_OF_RANGE.to_vec())
            }
        };
        Some(match name.as_str() {
            "SELECT" if args.len() == 1 => match index(args.first()?, NOT_INTEGER) {
                Err(e) => e,
                Ok(db) => {
                    self.conn_db.insert(conn, db);
                    OK.to_vec()
                }
            },
            "SWAPDB" if args.len() == 2 => {
                let a = index(args.first()?, b"-ERR invalid first DB index\r\n");
                let b = index(args.get(1)?, b"-ERR invalid second DB index\r\n");
                let (a, b) = match (a, b) {
                    (Err(e), _) | (_, Err(e)) => return Some(e),
                    (Ok(a), Ok(b)) => (a, b),
                };
                if a != b {
                    self.touch_db(a);
                    self.touch_db(b);
                    let cur = self.cur_db;
                    self.switch_db(a);
                    let b_state = self.other_dbs.remove(&b).unwrap_or_default();
                    let a_state = self.take_current();
                    self.put_current(b_state);
                    self.other_dbs.insert(b, a_state);
                    self.switch_db(cur);
                }
                OK.to_vec()
            }
            "FLUSHDB" | "FLUSHALL" => {
                match args {
                    [] => {}
                    [m] if m.eq_ignore_ascii_case(b"SYNC") || m.eq_ignore_ascii_case(b"ASYNC") => {}
                    _ => return Some(b"-ERR syntax error\r\n".to_vec()),
                }
                if name == "FLUSHDB" {
                    let db = self.cur_db;
                    self.touch_db_as(db, true);
                    self.take_current();
                } else {
                    // Redis's flushall: every database's watched keys that exist are
                    // touched, then every database is emptied.
                    for db in 0..DATABASES as u32 {
                        self.touch_db_as(db, true);
                    }
                    self.take_current();
                    self.other_dbs.clear();
                }
                OK.to_vec()
            }
            "MOVE" if args.len() == 2 => {
                let key = args.first()?.clone();
                let dst = match index(args.get(1)?, NOT_INTEGER) {
                    Err(e) => return Some(e),
                    Ok(d) => d,
                };
                let src = self.cur_db;
                if dst == src {
                    return Some(b"-ERR source and destination objects are the same\r\n".to_vec());
                }
                self.purge(now_ms, &key);
                let ttl = self.ttl_of(&key);
                let string = self.keys.get(&key).map(|(v, _)| v.clone());
                let coll = self.colls.get(&key).cloned();
                if string.is_none() && coll.is_none() {
                    return Some(int(0));
                }
                self.switch_db(dst);
                self.purge(now_ms, &key);
                if self.keys.contains_key(&key) || self.colls.contains_key(&key) {
                    self.switch_db(src);
                    return Some(int(0));
                }
                if let Some(v) = string {
                    self.keys.insert(key.clone(), (v, ttl));
                } else if let Some(c) = coll {
                    self.colls.insert(key.clone(), c);
                    if let Some(at) = ttl {
                        self.coll_ttl.insert(key.clone(), at);
                    }
                }
                self.touch(&key);
                self.switch_db(src);
                self.keys.remove(&key);
                self.colls.remove(&key);
                self.coll_ttl.remove(&key);
                self.touch(&key);
                int(1)
            }
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(m: &mut Model, conn: ConnId, line: &str) -> String {
        let req: Vec<Vec<u8>> = line.split(' ').map(|s| s.as_bytes().to_vec()).collect();
        String::from_utf8_lossy(&m.apply_on(0, conn, &req).expect("modelled")).into_owned()
    }

    /// Each reply checked against redis-server 7.0.15.
    #[test]
    fn databases_as_redis() {
        let mut m = Model::new(0);
        assert_eq!(
            run(&mut m, 1, "SELECT x"),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            run(&mut m, 1, "SELECT 16"),
            "-ERR DB index is out of range\r\n"
        );
        assert_eq!(
            run(&mut m, 1, "SELECT -1"),
            "-ERR DB index is out of range\r\n"
        );
        assert_eq!(run(&mut m, 1, "SELECT 1"), "+OK\r\n");
        assert_eq!(run(&mut m, 1, "SET a 1"), "+OK\r\n");
        assert_eq!(run(&mut m, 2, "EXISTS a"), ":0\r\n", "conn 2 is in db 0");
        assert_eq!(
            run(&mut m, 1, "MOVE a 1"),
            "-ERR source and destination objects are the same\r\n"
        );
        assert_eq!(run(&mut m, 1, "MOVE a 0"), ":1\r\n");
        assert_eq!(run(&mut m, 2, "GET a"), "$1\r\n1\r\n");
        assert_eq!(run(&mut m, 1, "EXISTS a"), ":0\r\n");
        assert_eq!(
            run(&mut m, 1, "MOVE a x"),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            run(&mut m, 1, "MOVE a 16"),
            "-ERR DB index is out of range\r\n"
        );
        assert_eq!(run(&mut m, 1, "MOVE nokey 2"), ":0\r\n");
        assert_eq!(run(&mut m, 1, "SET a 3"), "+OK\r\n");
        assert_eq!(run(&mut m, 1, "MOVE a 0"), ":0\r\n", "db 0 holds a");
        assert_eq!(
            run(&mut m, 1, "SWAPDB x 1"),
            "-ERR invalid first DB index\r\n"
        );
        assert_eq!(
            run(&mut m, 1, "SWAPDB 1 x"),
            "-ERR invalid second DB index\r\n"
        );
        assert_eq!(
            run(&mut m, 1, "SWAPDB 1 16"),
            "-ERR DB index is out of range\r\n"
        );
        assert_eq!(run(&mut m, 1, "SWAPDB 1 1"), "+OK\r\n");
        assert_eq!(run(&mut m, 1, "SWAPDB 1 2"), "+OK\r\n");
        assert_eq!(
            run(&mut m, 1, "EXISTS a"),
            ":0\r\n",
            "db 1 now holds db 2's keys"
        );
        assert_eq!(run(&mut m, 1, "SELECT 2"), "+OK\r\n");
        assert_eq!(run(&mut m, 1, "GET a"), "$1\r\n3\r\n");
        assert_eq!(run(&mut m, 1, "FLUSHDB x"), "-ERR syntax error\r\n");
        assert_eq!(run(&mut m, 1, "FLUSHDB ASYNC"), "+OK\r\n");
        assert_eq!(run(&mut m, 1, "DBSIZE"), ":0\r\n");
        assert_eq!(run(&mut m, 2, "DBSIZE"), ":1\r\n", "db 0 untouched");
        assert_eq!(run(&mut m, 1, "SET b 1"), "+OK\r\n");
        assert_eq!(run(&mut m, 1, "FLUSHALL x"), "-ERR syntax error\r\n");
        assert_eq!(run(&mut m, 1, "FLUSHALL SYNC x"), "-ERR syntax error\r\n");
        assert_eq!(
            run(&mut m, 1, "DBSIZE"),
            ":1\r\n",
            "a refused FLUSHALL keeps it"
        );
        assert_eq!(run(&mut m, 2, "WATCH a"), "+OK\r\n");
        assert_eq!(run(&mut m, 3, "WATCH nokey"), "+OK\r\n");
        assert_eq!(run(&mut m, 1, "FLUSHALL ASYNC"), "+OK\r\n");
        assert_eq!(run(&mut m, 1, "DBSIZE"), ":0\r\n", "db 2 emptied");
        assert_eq!(run(&mut m, 2, "DBSIZE"), ":0\r\n", "db 0 emptied");
        assert_eq!(run(&mut m, 2, "MULTI"), "+OK\r\n");
        assert_eq!(
            run(&mut m, 2, "EXEC"),
            "*-1\r\n",
            "a flushed watched key aborts"
        );
        assert_eq!(run(&mut m, 3, "MULTI"), "+OK\r\n");
        assert_eq!(
            run(&mut m, 3, "EXEC"),
            "*0\r\n",
            "Redis 7.0 touches only watched keys that existed"
        );
        assert_eq!(run(&mut m, 2, "SET a 1"), "+OK\r\n");
        m.conn_closed(1);
        assert_eq!(
            run(&mut m, 1, "GET a"),
            "$1\r\n1\r\n",
            "a new connection is in db 0"
        );
        assert_eq!(m.stored_bytes().1, 1);
    }
}
