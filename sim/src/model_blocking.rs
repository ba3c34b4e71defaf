//! The reference model's blocking commands (BLPOP, BRPOP, BLMOVE, BRPOPLPUSH, BLMPOP,
//! BZPOPMIN, BZPOPMAX, BZMPOP), as Redis 7.0.15 runs them (every rule asked of
//! redis-server): served at once when a key can serve, acting as their non-blocking
//! form inside MULTI, otherwise parked in a FIFO the model keeps itself. After every
//! command the model runs, it serves its own waiters on the keys that command made
//! ready, first blocked first, and remembers what each must have got; the node's
//! late reply is compared with that, or, when the model served nothing, must be a
//! timeout that its clocks allow. It never asks the node who waits or in what order.

use crate::model::{bulk, Model};
use crate::model_types::Coll;
use crate::model_wide_types::mpop_args;
use crate::net::ConnId;

/// The blocking commands the model knows.
pub const BLOCKING: [&str; 8] = [
    "BLPOP",
    "BRPOP",
    "BLMOVE",
    "BRPOPLPUSH",
    "BLMPOP",
    "BZPOPMIN",
    "BZPOPMAX",
    "BZMPOP",
];

/// Coverage events (names shared with `crate::reach`).
pub const SERVED_BY_WRITE: &str = "a blocked client was served by another client's write";
pub const TIMED_OUT: &str = "a blocked client timed out";

/// A blocked client's reply when its timeout fires (RESP2, every blocking command).
pub const TIMEOUT_REPLY: &[u8] = b"*-1\r\n";

pub fn is_blocking_name(name: &[u8]) -> bool {
    BLOCKING
        .iter()
        .any(|b| name.eq_ignore_ascii_case(b.as_bytes()))
}

/// Whether a request is one of the blocking commands.
pub fn is_blocking(req: &[Vec<u8>]) -> bool {
    req.first().is_some_and(|n| is_blocking_name(n))
}

/// The node's clocks at a moment (what the world handed it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clocks {
    pub mono_ms: u64,
    pub wall_ms: u64,
}

/// What a waiter's key must hold to serve it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    ZSet,
}

/// A blocking request, parsed as Redis checks it.
#[derive(Debug, Clone)]
struct Parsed {
    keys: Vec<Vec<u8>>,
    kind: Kind,
    /// The smallest timeout in ms the argument can mean (0: for ever).
    timeout_ms: u64,
}

/// One client the model has parked.
#[derive(Debug, Clone)]
pub(crate) struct Waiter {
    conn: ConnId,
    db: u32,
    request: Vec<Vec<u8>>,
    parsed: Parsed,
    at: Clocks,
    /// When it started waiting, in the world's order of inputs: the queue's order.
    since: u64,
}

/// The model's blocked clients and the replies in flight between the model's serving
/// and the node's (which may come first: a served client's reply leaves before the
/// reply of the command that served it).
#[derive(Debug, Default)]
pub struct Blocking {
    /// First blocked first.
    waiters: Vec<Waiter>,
    /// Replies the model worked out for waiters it served, not yet seen from the node.
    expected: Vec<(ConnId, Vec<u8>, Vec<Vec<u8>>)>,
    /// Late replies the node sent that the model has not matched yet.
    arrived: Vec<(ConnId, Vec<u8>, Clocks)>,
    /// While EXEC runs: the arguments of its queued commands (the order keys became
    /// ready in).
    pub(crate) exec_args: Vec<Vec<u8>>,
    /// While EXEC runs: the waited-on keys its queued commands made able to serve,
    /// in the order they did (`note_ready_in_exec`).
    pub(crate) exec_ready: Vec<(u32, Vec<u8>)>,
    /// EXEC is running its queued commands: blocking commands act as non-blocking.
    pub(crate) in_exec: bool,
}

/// A verdict on one late reply, or on a waiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub request: Vec<Vec<u8>>,
    pub why: String,
}

const WRONGTYPE_FREE_NULL_BULK: &[u8] = b"$-1\r\n";

/// `timeout` in seconds, as Redis 7.0 reads it: a decimal (negative is an error);
/// Ok(ms) with the fraction below a millisecond dropped (the smallest deadline it
/// can mean). Only plain decimals are modelled.
fn parse_timeout(v: &[u8]) -> Result<u64, Vec<u8>> {
    let s = std::str::from_utf8(v).unwrap_or("");
    let not_float = || b"-ERR timeout is not a float or out of range\r\n".to_vec();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() && frac.is_empty() || !all_digits(int) || !all_digits(frac) {
        return Err(not_float());
    }
    if int.len() > 9 {
        return Err(not_float());
    }
    let whole: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| not_float())?
    };
    let mut ms = whole * 1000;
    let mut scale = 100;
    for d in frac.bytes().take(3) {
        ms += u64::from(d - b'0') * scale;
        scale /= 10;
    }
    let nonzero = whole > 0 || frac.bytes().any(|b| b != b'0');
    if neg && nonzero {
        return Err(b"-ERR timeout is negative\r\n".to_vec());
    }
    Ok(ms)
}

fn syntax() -> Vec<u8> {
    b"-ERR syntax error\r\n".to_vec()
}

/// The request's keys, the type they wait for and the timeout; Err(the reply) when
/// Redis refuses it before looking at a key. None: not a request the model knows.
fn parse(req: &[Vec<u8>]) -> Option<Result<Parsed, Vec<u8>>> {
    let name = String::from_utf8_lossy(req.first()?).to_ascii_uppercase();
    let args = req.get(1..)?;
    let side_ok = |v: &Vec<u8>| v.eq_ignore_ascii_case(b"LEFT") || v.eq_ignore_ascii_case(b"RIGHT");
    let r = match name.as_str() {
        "BLPOP" | "BRPOP" | "BZPOPMIN" | "BZPOPMAX" => {
            let (timeout, keys) = args.split_last()?;
            if keys.is_empty() {
                return None;
            }
            let kind = if name.starts_with("BZ") {
                Kind::ZSet
            } else {
                Kind::List
            };
            parse_timeout(timeout).map(|timeout_ms| Parsed {
                keys: keys.to_vec(),
                kind,
                timeout_ms,
            })
        }
        "BLMOVE" => {
            let [src, _dst, from, to, timeout] = args else {
                return None;
            };
            if !side_ok(from) || !side_ok(to) {
                Err(syntax())
            } else {
                parse_timeout(timeout).map(|timeout_ms| Parsed {
                    keys: vec![src.clone()],
                    kind: Kind::List,
                    timeout_ms,
                })
            }
        }
        "BRPOPLPUSH" => {
            let [src, _dst, timeout] = args else {
                return None;
            };
            parse_timeout(timeout).map(|timeout_ms| Parsed {
                keys: vec![src.clone()],
                kind: Kind::List,
                timeout_ms,
            })
        }
        "BLMPOP" | "BZMPOP" => {
            let (timeout, rest) = args.split_first()?;
            let (first, second, kind): (&[u8], &[u8], _) = if name == "BLMPOP" {
                (b"LEFT", b"RIGHT", Kind::List)
            } else {
                (b"MIN", b"MAX", Kind::ZSet)
            };
            parse_timeout(timeout).and_then(|timeout_ms| {
                let (keys, _, _) = mpop_args(rest, first, second)?;
                Ok(Parsed {
                    keys: keys.to_vec(),
                    kind,
                    timeout_ms,
                })
            })
        }
        _ => return None,
    };
    Some(r)
}

/// The reply a blocking command gives inside MULTI when nothing can serve it.
fn null_in_multi(req: &[Vec<u8>]) -> Vec<u8> {
    let name = req
        .first()
        .map(|n| n.to_ascii_uppercase())
        .unwrap_or_default();
    if name == b"BLMOVE" || name == b"BRPOPLPUSH" {
        WRONGTYPE_FREE_NULL_BULK.to_vec()
    } else {
        TIMEOUT_REPLY.to_vec()
    }
}

fn s(v: &str) -> Vec<u8> {
    v.as_bytes().to_vec()
}

impl Model {
    /// A blocking command run now: Some(Ok(reply)) when it answers at once (an error,
    /// or a key that serves it), Some(Err(())) when it blocks.
    fn blocking_now(&mut self, req: &[Vec<u8>]) -> Option<Result<Vec<u8>, ()>> {
        let parsed = match parse(req)? {
            Ok(p) => p,
            Err(e) => return Some(Ok(e)),
        };
        let name = String::from_utf8_lossy(req.first()?).to_ascii_uppercase();
        let args = req.get(1..).unwrap_or_default();
        let reply = match name.as_str() {
            "BLPOP" | "BRPOP" | "BZPOPMIN" | "BZPOPMAX" => {
                for key in &parsed.keys {
                    let ty = if parsed.kind == Kind::List {
                        "list"
                    } else {
                        "zset"
                    };
                    match self.coll_of(key, ty) {
                        Err(e) => return Some(Ok(e)),
                        Ok(None) => continue,
                        Ok(Some(_)) => {}
                    }
                    let pop = match name.as_str() {
                        "BLPOP" => "LPOP",
                        "BRPOP" => "RPOP",
                        "BZPOPMIN" => "ZPOPMIN",
                        _ => "ZPOPMAX",
                    };
                    let inner = self.apply_wide_or_typed(&[s(pop), key.clone()])?;
                    let mut out = if parsed.kind == Kind::List {
                        b"*2\r\n".to_vec()
                    } else {
                        b"*3\r\n".to_vec()
                    };
                    out.extend_from_slice(&bulk(key));
                    // LPOP's bulk, or ZPOPMIN's `*2 member score` flattened.
                    let body = if parsed.kind == Kind::List {
                        inner
                    } else {
                        inner.get(4..)?.to_vec()
                    };
                    out.extend_from_slice(&body);
                    return Some(Ok(out));
                }
                return Some(Err(()));
            }
            "BLMOVE" | "BRPOPLPUSH" => {
                let src = args.first()?;
                match self.coll_of(src, "list") {
                    Err(e) => return Some(Ok(e)),
                    Ok(None) => return Some(Err(())),
                    Ok(Some(_)) => {}
                }
                let lmove = if name == "BLMOVE" {
                    let mut r = vec![s("LMOVE")];
                    r.extend(args.get(..4)?.iter().cloned());
                    r
                } else {
                    vec![s("RPOPLPUSH"), src.clone(), args.get(1)?.clone()]
                };
                self.apply_wide_or_typed(&lmove)?
            }
            _ => {
                let non_blocking = if name == "BLMPOP" { "LMPOP" } else { "ZMPOP" };
                let mut r = vec![s(non_blocking)];
                r.extend(args.get(1..)?.iter().cloned());
                let reply = self.apply_wide_or_typed(&r)?;
                if reply == TIMEOUT_REPLY {
                    return Some(Err(()));
                }
                reply
            }
        };
        Some(Ok(reply))
    }

    /// One of the model's own non-blocking commands (LPOP, LMOVE, ZMPOP ...), in the
    /// current database.
    fn apply_wide_or_typed(&mut self, req: &[Vec<u8>]) -> Option<Vec<u8>> {
        let name = String::from_utf8_lossy(req.first()?).to_ascii_uppercase();
        if Model::wide_zset_handles(&name) {
            return self.apply_wide_zset(&name, req);
        }
        if Model::wide_types_handles(&name) {
            return self.apply_wide_types(&name, req);
        }
        // LPOP/RPOP live in the typed model, which has no TTL or touch of its own.
        let key = req.get(1)?.clone();
        let before = self.colls.get(&key).cloned();
        let reply = crate::model_types::apply(&mut self.colls, &name, req)?;
        if before.as_ref() != self.colls.get(&key) {
            self.touch(&key);
        }
        if !self.colls.contains_key(&key) {
            self.coll_ttl.remove(&key);
        }
        Some(reply)
    }

    /// A blocking command inside EXEC (or any place it must not block): the null
    /// reply when nothing serves it.
    pub(crate) fn apply_blocking_in_exec(&mut self, req: &[Vec<u8>]) -> Option<Vec<u8>> {
        Some(match self.blocking_now(req)? {
            Ok(r) => r,
            Err(()) => null_in_multi(req),
        })
    }

    /// A blocking command the node answered in the same step it ran it: the model's
    /// reply, or one the node cannot match when the model says it had to block.
    pub(crate) fn apply_blocking_at_once(&mut self, req: &[Vec<u8>]) -> Option<Vec<u8>> {
        Some(match self.blocking_now(req)? {
            Ok(r) => r,
            Err(()) => b"-model: nothing could serve it: it must block\r\n".to_vec(),
        })
    }

    /// Whether `req` on `conn` would block now: none of its keys exists (an existing
    /// key serves it or answers WRONGTYPE). Unlike `block`, it runs nothing.
    pub fn would_block(&mut self, now_ms: u64, conn: ConnId, req: &[Vec<u8>]) -> bool {
        let db = self.conn_db.get(&conn).copied().unwrap_or(0);
        self.switch_db(db);
        let blocks = match parse(req) {
            Some(Ok(parsed)) => parsed.keys.iter().all(|key| {
                self.purge(now_ms, key);
                !self.keys.contains_key(key) && !self.colls.contains_key(key)
            }),
            _ => false,
        };
        self.switch_db(0);
        blocks
    }

    /// Whether the model holds `conn` as blocked.
    pub fn is_waiting(&self, conn: ConnId) -> bool {
        self.blocking.waiters.iter().any(|w| w.conn == conn)
    }

    /// The node ran `req` on `conn` and left it unanswered (it blocked) at `at`.
    /// Err(what the model expected instead) when something could have served it.
    pub fn block(
        &mut self,
        now_ms: u64,
        conn: ConnId,
        req: &[Vec<u8>],
        at: Clocks,
        since: u64,
    ) -> Result<(), Vec<u8>> {
        let db = self.conn_db.get(&conn).copied().unwrap_or(0);
        self.switch_db(db);
        for arg in req.get(1..).unwrap_or_default() {
            self.purge(now_ms, arg);
        }
        let result = match parse(req) {
            None => Err(b"-model: unknown blocking request".to_vec()),
            Some(Err(e)) => Err(e),
            Some(Ok(parsed)) => match self.blocking_now(req) {
                Some(Err(())) => {
                    // A request judged late (its connection's replies were held)
                    // takes its place among those that started waiting after it.
                    let pos = self
                        .blocking
                        .waiters
                        .iter()
                        .position(|w| w.since > since)
                        .unwrap_or(self.blocking.waiters.len());
                    self.blocking.waiters.insert(
                        pos,
                        Waiter {
                            conn,
                            db,
                            request: req.to_vec(),
                            parsed,
                            at,
                            since,
                        },
                    );
                    Ok(())
                }
                Some(Ok(reply)) => Err(reply),
                None => Err(b"-model: unknown blocking request".to_vec()),
            },
        };
        self.switch_db(0);
        result
    }

    /// The connection closed: its waiter (if any) is gone, unserved.
    pub(crate) fn blocking_conn_closed(&mut self, conn: ConnId) {
        self.blocking.waiters.retain(|w| w.conn != conn);
    }

    /// Whether the key (current database) holds what a waiter of `kind` wants.
    fn serves(&mut self, now_ms: u64, key: &[u8], kind: Kind) -> bool {
        self.purge(now_ms, key);
        matches!(
            (self.colls.get(key), kind),
            (Some(Coll::List(_)), Kind::List) | (Some(Coll::ZSet(_)), Kind::ZSet)
        )
    }

    /// While EXEC runs, after each queued command: the waited-on keys that became
    /// able to serve, in the order they did. Redis signals a key ready when a command
    /// creates it and serves ready keys in signal order, so a BLPOP on `bl1 bl0`
    /// after `MULTI; LPUSH bl0 ..; RPUSH bl1 ..; EXEC` pops bl0 (chaos 0xc54: the
    /// queue's first mention of bl1 was a BRPOPLPUSH that found it empty). Reads
    /// only: no lazy expiry here.
    pub(crate) fn note_ready_in_exec(&mut self, now_ms: u64) {
        if self.blocking.waiters.is_empty() {
            return;
        }
        let mut keys: Vec<(u32, Vec<u8>, Kind)> = Vec::new();
        for w in &self.blocking.waiters {
            for k in &w.parsed.keys {
                let c = (w.db, k.clone(), w.parsed.kind);
                if !keys.contains(&c) {
                    keys.push(c);
                }
            }
        }
        let cur = self.cur_db;
        for (db, key, kind) in keys {
            if self
                .blocking
                .exec_ready
                .iter()
                .any(|(d, k)| *d == db && *k == key)
            {
                continue;
            }
            self.switch_db(db);
            let live = !matches!(self.coll_ttl.get(&key), Some(at) if now_ms > *at);
            let holds = matches!(
                (self.colls.get(&key), kind),
                (Some(Coll::List(_)), Kind::List) | (Some(Coll::ZSet(_)), Kind::ZSet)
            );
            if live && holds {
                self.blocking.exec_ready.push((db, key));
            }
        }
        self.switch_db(cur);
    }

    /// After a command (`req`) ran: serves the waiters its writes made servable, as
    /// Redis's `handleClientsBlockedOnKeys` — each ready key's waiters first blocked
    /// first, while the key can serve; a key a served BLMOVE creates is served after
    /// the keys of this round. Keys are taken in Redis's order of signals: after
    /// EXEC, the order its queued commands made them servable; then (and for one
    /// command) the order the request names them.
    pub fn serve_waiters(&mut self, now_ms: u64, req: &[Vec<u8>]) {
        let exec_args = std::mem::take(&mut self.blocking.exec_args);
        let exec_ready = std::mem::take(&mut self.blocking.exec_ready);
        if self.blocking.waiters.is_empty() {
            return;
        }
        let named: Vec<Vec<u8>> = req.iter().chain(exec_args.iter()).cloned().collect();
        let mut ready = self.ready_keys(now_ms, &named);
        let became =
            |k: &(u32, Vec<u8>)| exec_ready.iter().position(|r| r == k).unwrap_or(usize::MAX);
        // Stable: the named order stays among keys of one queued command.
        ready.sort_by_key(became);
        while !ready.is_empty() {
            let round = std::mem::take(&mut ready);
            for (db, key) in round {
                self.serve_key(now_ms, db, &key, &mut ready);
            }
        }
    }

    /// Waited-on keys that can serve one of their waiters now, ordered by where the
    /// request names them first, then by waiter order.
    fn ready_keys(&mut self, now_ms: u64, named: &[Vec<u8>]) -> Vec<(u32, Vec<u8>)> {
        let mut candidates: Vec<(u32, Vec<u8>, Kind)> = Vec::new();
        for w in &self.blocking.waiters {
            for k in &w.parsed.keys {
                let c = (w.db, k.clone(), w.parsed.kind);
                if !candidates.contains(&c) {
                    candidates.push(c);
                }
            }
        }
        let mut servable: Vec<(u32, Vec<u8>)> = Vec::new();
        for (db, key, kind) in candidates {
            self.switch_db(db);
            let ok = self.serves(now_ms, &key, kind);
            self.switch_db(0);
            if ok && !servable.contains(&(db, key.clone())) {
                servable.push((db, key));
            }
        }
        let pos = |k: &Vec<u8>| named.iter().position(|n| n == k).unwrap_or(usize::MAX);
        // Stable: keys the request does not name keep waiter order after the rest.
        servable.sort_by_key(|(_, k)| pos(k));
        servable
    }

    /// Serves (db, key)'s waiters in blocking order while the key can serve them;
    /// keys a served BLMOVE made servable join `next`.
    fn serve_key(&mut self, now_ms: u64, db: u32, key: &[u8], next: &mut Vec<(u32, Vec<u8>)>) {
        let ids: Vec<usize> = (0..self.blocking.waiters.len()).collect();
        let mut served_conns = Vec::new();
        for i in ids {
            let Some(w) = self.blocking.waiters.get(i).cloned() else {
                continue;
            };
            if w.db != db || !w.parsed.keys.iter().any(|k| k == key) {
                continue;
            }
            // Its timeout reply already came out, ahead of this write's: the node
            // timed it out first (its deadline met the write; chaos 0xd5d). Whether
            // that was early is judged when it settles.
            let timed_out = self
                .blocking
                .arrived
                .iter()
                .any(|(c, r, _)| *c == w.conn && r.as_slice() == TIMEOUT_REPLY);
            if timed_out {
                continue;
            }
            self.switch_db(db);
            if !self.serves(now_ms, key, w.parsed.kind) {
                // Another type (stays blocked), or emptied by a waiter before.
                self.switch_db(0);
                continue;
            }
            let dst = match w.request.first().map(|n| n.to_ascii_uppercase()).as_deref() {
                Some(b"BLMOVE") | Some(b"BRPOPLPUSH") => w.request.get(2).cloned(),
                _ => None,
            };
            // The destination is looked up when the waiter is served: expired by then,
            // it is gone (Redis's `lookupKeyWrite`), whatever type it had.
            if let Some(d) = &dst {
                self.purge(now_ms, d);
            }
            let one_key = with_one_key(&w.request, key);
            let reply = self.blocking_now(&one_key);
            // A BLMOVE's destination may now serve others (next round).
            let dst_serves = dst
                .as_ref()
                .is_some_and(|d| self.serves(now_ms, d, Kind::List));
            self.switch_db(0);
            let reply = match reply {
                Some(Ok(r)) => r,
                _ => b"-model: a ready key did not serve its waiter\r\n".to_vec(),
            };
            served_conns.push(w.conn);
            self.blocking
                .expected
                .push((w.conn, reply, w.request.clone()));
            if let Some(d) = dst.filter(|_| dst_serves) {
                if !next.contains(&(db, d.clone())) {
                    next.push((db, d));
                }
            }
        }
        self.blocking
            .waiters
            .retain(|w| !served_conns.contains(&w.conn));
    }

    /// The node's late reply to `conn`'s blocked request, at `at`.
    pub fn blocking_reply(&mut self, conn: ConnId, reply: Vec<u8>, at: Clocks) {
        self.blocking.arrived.push((conn, reply, at));
    }

    /// Matches the late replies of one step with what the model served: a reply the
    /// model served must be exactly its reply; one it did not serve must be a timeout
    /// whose time may have come by the node's monotonic or wall clock; a waiter the
    /// model served must have had its reply from the node in the same step. Waiters
    /// still blocked whose timeout passed more than `late_ms` ago on both clocks are
    /// reported too (a timeout that never fires).
    pub fn settle_blocking(&mut self, now: Clocks, late_ms: u64) -> Vec<Violation> {
        let mut out = Vec::new();
        let arrived = std::mem::take(&mut self.blocking.arrived);
        let mut expected = std::mem::take(&mut self.blocking.expected);
        for (conn, reply, at) in arrived {
            if let Some(pos) = expected.iter().position(|(c, _, _)| *c == conn) {
                let (_, want, request) = expected.remove(pos);
                self.seen.insert(SERVED_BY_WRITE);
                if want != reply {
                    out.push(Violation {
                        request,
                        why: format!(
                            "served by a write: node replied {:?}, model expected {:?}",
                            String::from_utf8_lossy(&reply),
                            String::from_utf8_lossy(&want)
                        ),
                    });
                }
                continue;
            }
            let Some(pos) = self.blocking.waiters.iter().position(|w| w.conn == conn) else {
                out.push(Violation {
                    request: Vec::new(),
                    why: format!(
                        "conn {conn}: a late reply {:?} to a request the model does not hold as blocked",
                        String::from_utf8_lossy(&reply)
                    ),
                });
                continue;
            };
            let w = self.blocking.waiters.remove(pos);
            if reply != TIMEOUT_REPLY {
                out.push(Violation {
                    request: w.request,
                    why: format!(
                        "nothing the model ran could serve it, yet the node replied {:?}",
                        String::from_utf8_lossy(&reply)
                    ),
                });
                continue;
            }
            self.seen.insert(TIMED_OUT);
            let mono = at.mono_ms.saturating_sub(w.at.mono_ms);
            let wall = at.wall_ms.saturating_sub(w.at.wall_ms);
            if w.parsed.timeout_ms == 0
                || (mono < w.parsed.timeout_ms && wall < w.parsed.timeout_ms)
            {
                out.push(Violation {
                    request: w.request,
                    why: format!(
                        "timed out after {mono} ms (monotonic) and {wall} ms (wall) of a {} ms timeout",
                        w.parsed.timeout_ms
                    ),
                });
            }
        }
        for (conn, want, request) in expected {
            out.push(Violation {
                request,
                why: format!(
                    "conn {conn}: the model served it ({:?}) but the node sent no reply",
                    String::from_utf8_lossy(&want)
                ),
            });
        }
        let mut late = Vec::new();
        for w in &self.blocking.waiters {
            let t = w.parsed.timeout_ms;
            let mono = now.mono_ms.saturating_sub(w.at.mono_ms);
            let wall = now.wall_ms.saturating_sub(w.at.wall_ms);
            if t > 0 && mono > t + late_ms && wall > t + late_ms {
                late.push(Violation {
                    request: w.request.clone(),
                    why: format!(
                        "conn {}: still blocked {mono} ms (monotonic) and {wall} ms (wall) into a {t} ms timeout",
                        w.conn
                    ),
                });
            }
        }
        out.extend(late);
        out
    }
}

/// The request as if it named only `key` (the key that serves it).
fn with_one_key(req: &[Vec<u8>], key: &[u8]) -> Vec<Vec<u8>> {
    let name = req
        .first()
        .map(|n| n.to_ascii_uppercase())
        .unwrap_or_default();
    match name.as_slice() {
        b"BLPOP" | b"BRPOP" | b"BZPOPMIN" | b"BZPOPMAX" => {
            let timeout = req.last().cloned().unwrap_or_default();
            vec![
                req.first().cloned().unwrap_or_default(),
                key.to_vec(),
                timeout,
            ]
        }
        b"BLMPOP" | b"BZMPOP" => {
            // name timeout numkeys k.. rest
            let n = req
                .get(2)
                .and_then(|n| crate::model::parse_int(n))
                .and_then(|n| usize::try_from(n).ok())
                .unwrap_or(0);
            let mut out = vec![
                req.first().cloned().unwrap_or_default(),
                req.get(1).cloned().unwrap_or_default(),
                b"1".to_vec(),
                key.to_vec(),
            ];
            out.extend(req.iter().skip(3 + n).cloned());
            out
        }
        _ => req.to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(line: &str) -> Vec<Vec<u8>> {
        line.split(' ').map(|p| p.as_bytes().to_vec()).collect()
    }

    fn at(ms: u64) -> Clocks {
        Clocks {
            mono_ms: ms,
            wall_ms: ms,
        }
    }

    /// Runs `line` on `conn` as the world does: the reply, then the waiters it serves.
    fn run(m: &mut Model, conn: ConnId, line: &str) -> String {
        let r = req(line);
        let reply = m.apply_on(0, conn, &r).unwrap_or_default();
        m.serve_waiters(0, &r);
        String::from_utf8_lossy(&reply).into_owned()
    }

    /// What the model served, per connection, in serving order.
    fn served(m: &Model) -> Vec<(ConnId, String)> {
        m.blocking
            .expected
            .iter()
            .map(|(c, r, _)| (*c, String::from_utf8_lossy(r).into_owned()))
            .collect()
    }

    /// A waiter whose timeout reply came out ahead of a write's reply was timed out
    /// before that write ran (its deadline met it): the write does not serve it, and
    /// the element stays (chaos 0xd5d).
    #[test]
    fn a_waiter_timed_out_before_the_write_is_not_served_by_it() {
        let mut m = Model::new(0);
        assert_eq!(m.block(0, 1, &req("BLPOP bl1 0.05"), at(0), 0), Ok(()));
        m.blocking_reply(1, TIMEOUT_REPLY.to_vec(), at(50));
        assert_eq!(run(&mut m, 2, "RPUSH bl1 d"), ":1\r\n");
        assert_eq!(served(&m), vec![]);
        assert_eq!(m.settle_blocking(at(50), 1000), vec![]);
        assert_eq!(run(&mut m, 2, "LRANGE bl1 0 -1"), "*1\r\n$1\r\nd\r\n");
        // Too early a timeout is still caught.
        let mut m = Model::new(0);
        assert_eq!(m.block(0, 1, &req("BLPOP bl1 0.05"), at(0), 0), Ok(()));
        m.blocking_reply(1, TIMEOUT_REPLY.to_vec(), at(20));
        run(&mut m, 2, "RPUSH bl1 d");
        assert_eq!(m.settle_blocking(at(20), 1000).len(), 1);
    }

    /// A request judged late (its connection's replies were held for an fsync) that
    /// started waiting before another takes its place ahead of it (chaos 0x1584:
    /// `BZPOPMAX bz1` ran behind a held `SET`, another client's BZPOPMAX bz1 was
    /// delivered after it but found waiting first; keel served the first, as Redis).
    #[test]
    fn a_waiter_judged_late_keeps_its_place() {
        let mut m = Model::new(0);
        assert_eq!(m.block(0, 2, &req("BZPOPMAX bz1 5"), at(0), 7), Ok(()));
        assert_eq!(m.block(0, 1, &req("BZPOPMAX bz1 5"), at(0), 5), Ok(()));
        assert_eq!(m.block(0, 3, &req("BZPOPMAX bz1 5"), at(0), 7), Ok(()));
        assert_eq!(run(&mut m, 4, "ZADD bz1 3 c 2 b 1 a"), ":3\r\n");
        let got: Vec<ConnId> = served(&m).into_iter().map(|(c, _)| c).collect();
        assert_eq!(got, vec![1, 2, 3]);
    }

    /// Redis 7.0.15 (asked with redis-cli): after EXEC a waiter is served from the
    /// key the transaction made ready first, whatever the order it waits on them
    /// and wherever the queue first names them (chaos 0xc54).
    #[test]
    fn after_exec_the_first_key_made_ready_serves() {
        for (pushes, want) in [
            (["LPUSH bl0 d c", "RPUSH bl1 c d d"], "bl0"),
            (["RPUSH bl1 c d d", "LPUSH bl0 d c"], "bl1"),
        ] {
            let mut m = Model::new(0);
            assert_eq!(m.block(0, 1, &req("BLPOP bl1 bl0 5"), at(0), 0), Ok(()));
            assert_eq!(run(&mut m, 2, "MULTI"), "+OK\r\n");
            // Names bl1 first, but finds it empty: no signal.
            assert_eq!(run(&mut m, 2, "BRPOPLPUSH bl1 l2 0.05"), "+QUEUED\r\n");
            for p in pushes {
                assert_eq!(run(&mut m, 2, p), "+QUEUED\r\n");
            }
            run(&mut m, 2, "EXEC");
            assert_eq!(
                served(&m),
                vec![(1, format!("*2\r\n$3\r\n{want}\r\n$1\r\nc\r\n"))],
                "{pushes:?}"
            );
        }
    }

    /// Redis 7.0.15: three clients blocked on `l` (BLPOP, BLMOVE RIGHT LEFT, BLMPOP
    /// COUNT 2 over `l2 l`) are served first blocked first by one RPUSH, before the
    /// pusher's next command (its LPOP gets `d`).
    #[test]
    fn waiters_are_served_in_blocking_order_right_after_the_write() {
        let mut m = Model::new(0);
        for (conn, line) in [
            (1, "BLPOP l 5"),
            (2, "BLMOVE l dst RIGHT LEFT 5"),
            (3, "BLMPOP 5 2 l2 l LEFT COUNT 2"),
        ] {
            assert_eq!(m.block(0, conn, &req(line), at(0), 0), Ok(()));
        }
        assert_eq!(run(&mut m, 4, "RPUSH l a b c d e"), ":5\r\n");
        assert_eq!(
            served(&m),
            vec![
                (1, "*2\r\n$1\r\nl\r\n$1\r\na\r\n".to_string()),
                (2, "$1\r\ne\r\n".to_string()),
                (
                    3,
                    "*2\r\n$1\r\nl\r\n*2\r\n$1\r\nb\r\n$1\r\nc\r\n".to_string()
                ),
            ]
        );
        assert_eq!(run(&mut m, 4, "LPOP l"), "$1\r\nd\r\n");
        assert_eq!(run(&mut m, 4, "LRANGE dst 0 -1"), "*1\r\n$1\r\ne\r\n");
        // The node's replies, in any order, match.
        for (conn, reply) in served(&m) {
            m.blocking_reply(conn, reply.into_bytes(), at(1));
        }
        assert_eq!(m.settle_blocking(at(1), 1000), vec![]);
        assert!(!m.is_waiting(1));
    }

    /// Redis 7.0.15 (scores made integers): BZPOPMIN, BZMPOP MAX COUNT 3, BZPOPMAX
    /// blocked on `z`, one ZADD of five members.
    #[test]
    fn sorted_set_waiters() {
        let mut m = Model::new(0);
        for (conn, line) in [
            (1, "BZPOPMIN z 5"),
            (2, "BZMPOP 5 1 z MAX COUNT 3"),
            (3, "BZPOPMAX z 5"),
        ] {
            assert_eq!(m.block(0, conn, &req(line), at(0), 0), Ok(()));
        }
        assert_eq!(run(&mut m, 4, "ZADD z 1 m 2 n 3 o 4 p 5 q"), ":5\r\n");
        assert_eq!(
            served(&m),
            vec![
                (1, "*3\r\n$1\r\nz\r\n$1\r\nm\r\n$1\r\n1\r\n".to_string()),
                (
                    2,
                    "*2\r\n$1\r\nz\r\n*3\r\n*2\r\n$1\r\nq\r\n$1\r\n5\r\n*2\r\n$1\r\np\r\n$1\r\n4\r\n*2\r\n$1\r\no\r\n$1\r\n3\r\n"
                        .to_string()
                ),
                (3, "*3\r\n$1\r\nz\r\n$1\r\nn\r\n$1\r\n2\r\n".to_string()),
            ]
        );
    }

    /// Redis 7.0.15: inside MULTI nothing blocks; timeouts are checked when EXEC runs.
    #[test]
    fn blocking_commands_inside_multi_do_not_block() {
        let mut m = Model::new(0);
        run(&mut m, 1, "MULTI");
        for line in [
            "BLPOP l 0",
            "BLMOVE l d LEFT LEFT 0",
            "BRPOPLPUSH l d 0",
            "BLMPOP 0 1 l LEFT",
            "BZPOPMIN z 0",
            "BZMPOP 0 1 z MIN",
            "BLPOP l -1",
            "BZPOPMAX z 0",
            "BLPOP l 0.5x",
            "BLMPOP -1 1 l LEFT",
        ] {
            assert_eq!(run(&mut m, 1, line), "+QUEUED\r\n");
        }
        assert_eq!(
            run(&mut m, 1, "EXEC"),
            "*10\r\n*-1\r\n$-1\r\n$-1\r\n*-1\r\n*-1\r\n*-1\r\n-ERR timeout is negative\r\n*-1\r\n-ERR timeout is not a float or out of range\r\n-ERR timeout is negative\r\n"
        );
    }

    /// Redis 7.0.15: a waiter is served after the whole EXEC, from what it left.
    #[test]
    fn a_transaction_serves_its_waiters_once_it_is_done() {
        let mut m = Model::new(0);
        assert_eq!(m.block(0, 1, &req("BLPOP l 5"), at(0), 0), Ok(()));
        run(&mut m, 2, "MULTI");
        run(&mut m, 2, "RPUSH l x y");
        run(&mut m, 2, "LPOP l");
        assert_eq!(run(&mut m, 2, "EXEC"), "*2\r\n:2\r\n$1\r\nx\r\n");
        assert_eq!(
            served(&m),
            vec![(1, "*2\r\n$1\r\nl\r\n$1\r\ny\r\n".to_string())]
        );
    }

    /// A sorted-set waiter stays blocked on a key that became a list; a key that can
    /// serve at once is no reason to block; errors come before any key is looked at.
    #[test]
    fn what_blocks_and_what_does_not() {
        let mut m = Model::new(0);
        assert_eq!(m.block(0, 1, &req("BZPOPMIN k 1"), at(0), 0), Ok(()));
        run(&mut m, 2, "RPUSH k v");
        assert!(served(&m).is_empty() && m.is_waiting(1));
        assert_eq!(
            m.block(0, 3, &req("BLPOP k 1"), at(0), 0),
            Err(b"*2\r\n$1\r\nk\r\n$1\r\nv\r\n".to_vec())
        );
        assert_eq!(
            m.block(0, 3, &req("BLPOP k -1"), at(0), 0),
            Err(b"-ERR timeout is negative\r\n".to_vec())
        );
        run(&mut m, 2, "SET s x");
        assert_eq!(
            m.block(0, 3, &req("BRPOP none s 1"), at(0), 0),
            Err(crate::model_types::WRONGTYPE.to_vec())
        );
        assert!(!m.is_waiting(3));
        m.conn_closed(1);
        assert!(!m.is_waiting(1));
    }

    /// A timeout is accepted once either clock says it may have passed; early, for
    /// ever, a reply nothing served, or a served waiter the node left silent are not.
    #[test]
    fn late_replies_are_judged() {
        let mut m = Model::new(0);
        let t0 = Clocks {
            mono_ms: 1000,
            wall_ms: 5000,
        };
        m.block(0, 1, &req("BLPOP a 0.05"), t0, 0).ok();
        m.block(0, 2, &req("BLPOP b 0.05"), t0, 0).ok();
        m.block(0, 3, &req("BLPOP c 0"), t0, 0).ok();
        m.block(0, 4, &req("BLPOP d 0.5"), t0, 0).ok();
        // Conn 1: the wall clock jumped back, the monotonic one went 50 ms: a timeout.
        m.blocking_reply(
            1,
            TIMEOUT_REPLY.to_vec(),
            Clocks {
                mono_ms: 1050,
                wall_ms: 10,
            },
        );
        // Conn 2: 49 ms on both clocks: early.
        m.blocking_reply(
            2,
            TIMEOUT_REPLY.to_vec(),
            Clocks {
                mono_ms: 1049,
                wall_ms: 5049,
            },
        );
        // Conn 3: no timeout at all; conn 4: an element nobody pushed.
        m.blocking_reply(3, TIMEOUT_REPLY.to_vec(), t0);
        m.blocking_reply(4, b"*2\r\n$1\r\nd\r\n$1\r\nv\r\n".to_vec(), t0);
        let v = m.settle_blocking(t0, 1000);
        let requests: Vec<String> = v
            .iter()
            .map(|v| String::from_utf8_lossy(&v.request.concat()).into_owned())
            .collect();
        assert_eq!(requests, vec!["BLPOPb0.05", "BLPOPc0", "BLPOPd0.5"]);
        // Served by the model, never answered by the node.
        m.block(0, 5, &req("BLPOP e 1"), t0, 0).ok();
        run(&mut m, 6, "RPUSH e x");
        assert_eq!(m.settle_blocking(t0, 1000).len(), 1);
        // Still blocked long past its timeout on both clocks.
        m.block(0, 7, &req("BLPOP f 0.1"), t0, 0).ok();
        let later = Clocks {
            mono_ms: 2200,
            wall_ms: 6200,
        };
        assert_eq!(m.settle_blocking(later, 1000).len(), 1);
    }

    #[test]
    fn timeouts_parse_as_redis() {
        assert_eq!(parse_timeout(b"0.05"), Ok(50));
        assert_eq!(parse_timeout(b"0"), Ok(0));
        assert_eq!(parse_timeout(b"1.2345"), Ok(1234));
        assert_eq!(parse_timeout(b"-0"), Ok(0));
        assert_eq!(
            parse_timeout(b"-0.5"),
            Err(b"-ERR timeout is negative\r\n".to_vec())
        );
        assert_eq!(
            parse_timeout(b"x"),
            Err(b"-ERR timeout is not a float or out of range\r\n".to_vec())
        );
    }
}
