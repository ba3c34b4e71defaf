//! The reference model, widened: the string commands beyond GET/SET/INCR (SET's
//! options, GETEX, GETDEL, SETNX/SETEX/PSETEX, GETSET, MGET/MSET/MSETNX, DECR/DECRBY,
//! INCRBYFLOAT, STRLEN, GETRANGE/SETRANGE), the EXPIRE family on every type, and the
//! type-blind keyspace commands (RENAME, COPY, UNLINK, TOUCH, DBSIZE, RANDOMKEY, KEYS,
//! SCAN). Replies whose order or pick is the node's own (RANDOMKEY, KEYS, SCAN) are
//! judged by what they may be: the node's reply is accepted when it is one the model
//! allows. Written the plainest way; it never has to be fast.

use crate::model::{bulk, int, parse_int, Model};
use crate::model_types::WRONGTYPE;

const NIL: &[u8] = b"$-1\r\n";
const OK: &[u8] = b"+OK\r\n";
const NOT_INTEGER: &[u8] = b"-ERR value is not an integer or out of range\r\n";
const SYNTAX: &[u8] = b"-ERR syntax error\r\n";

/// Redis's glob, for the workload's patterns (`*`, `?`, literal bytes).
pub fn glob(pattern: &[u8], s: &[u8]) -> bool {
    match pattern.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob(rest, s.get(i..).unwrap_or_default())),
        Some((b'?', rest)) => !s.is_empty() && glob(rest, s.get(1..).unwrap_or_default()),
        Some((c, rest)) => s.first() == Some(c) && glob(rest, s.get(1..).unwrap_or_default()),
    }
}

/// A float as Redis's INCRBYFLOAT and HINCRBYFLOAT print it (`%.17Lf`, trailing zeros
/// and point dropped). The workload only adds dyadic values with few digits, so f64
/// and the shortest round-trip form agree with the long double.
pub fn human_float(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e17 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A float as Redis parses an INCRBYFLOAT operand or value (no spaces, no NaN).
pub fn parse_float(v: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(v).ok()?;
    if s.is_empty() || s.trim() != s {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    (!f.is_nan()).then_some(f)
}

/// Option parsing of `SET key value [NX|XX] [GET] [EX s|PX ms|EXAT s|PXAT ms|KEEPTTL]`.
struct SetOptions {
    nx: bool,
    xx: bool,
    get: bool,
    keepttl: bool,
    /// Absolute expire time, when one was given (None: no TTL option).
    expire_at: Option<u64>,
}

fn set_options(args: &[Vec<u8>], now_ms: u64, cmd: &str) -> Result<SetOptions, Vec<u8>> {
    let mut o = SetOptions {
        nx: false,
        xx: false,
        get: false,
        keepttl: false,
        expire_at: None,
    };
    let mut expire: Option<(Vec<u8>, &Vec<u8>)> = None;
    let mut i = 0;
    while let Some(a) = args.get(i) {
        let up = a.to_ascii_uppercase();
        match up.as_slice() {
            b"NX" if !o.xx => o.nx = true,
            b"XX" if !o.nx => o.xx = true,
            b"GET" => o.get = true,
            b"KEEPTTL" if expire.is_none() => o.keepttl = true,
            b"EX" | b"PX" | b"EXAT" | b"PXAT" if expire.is_none() && !o.keepttl => {
                i += 1;
                let Some(v) = args.get(i) else {
                    return Err(SYNTAX.to_vec());
                };
                expire = Some((up, v));
            }
            _ => return Err(SYNTAX.to_vec()),
        }
        i += 1;
    }
    if let Some((unit, v)) = expire {
        let n = parse_int(v).ok_or_else(|| NOT_INTEGER.to_vec())?;
        let at = absolute(now_ms, &unit, n).ok_or_else(|| {
            format!("-ERR invalid expire time in '{cmd}' command\r\n").into_bytes()
        })?;
        o.expire_at = Some(at);
    }
    Ok(o)
}

/// An EX/PX/EXAT/PXAT amount as an absolute unix-ms time; None when not positive or
/// out of range (Redis's "invalid expire time").
fn absolute(now_ms: u64, unit: &[u8], n: i64) -> Option<u64> {
    if n <= 0 {
        return None;
    }
    let n = u64::try_from(n).ok()?;
    match unit {
        b"EX" => n.checked_mul(1000)?.checked_add(now_ms),
        b"PX" => n.checked_add(now_ms),
        b"EXAT" => n.checked_mul(1000),
        _ => Some(n),
    }
}

impl Model {
    /// Whether `name` is one of the commands this file models.
    pub(crate) fn wide_handles(name: &str) -> bool {
        matches!(
            name,
            "SET"
                | "SETNX"
                | "SETEX"
                | "PSETEX"
                | "GETSET"
                | "GETDEL"
                | "GETEX"
                | "MGET"
                | "MSET"
                | "MSETNX"
                | "DECR"
                | "DECRBY"
                | "INCR"
                | "INCRBY"
                | "INCRBYFLOAT"
                | "STRLEN"
                | "GETRANGE"
                | "SUBSTR"
                | "SETRANGE"
                | "EXPIRE"
                | "PEXPIRE"
                | "EXPIREAT"
                | "PEXPIREAT"
                | "PERSIST"
                | "TTL"
                | "PTTL"
                | "EXPIRETIME"
                | "PEXPIRETIME"
                | "RENAME"
                | "RENAMENX"
                | "COPY"
                | "UNLINK"
                | "TOUCH"
                | "DBSIZE"
                | "RANDOMKEY"
                | "KEYS"
                | "SCAN"
                | "PING"
        ) || (name == "DEL" || name == "EXISTS")
    }

    /// A key's string value, if it holds one (after lazy expiry).
    fn string_of(&mut self, now_ms: u64, key: &[u8]) -> Result<Option<Vec<u8>>, Vec<u8>> {
        self.purge(now_ms, key);
        if self.colls.contains_key(key) {
            return Err(WRONGTYPE.to_vec());
        }
        Ok(self.keys.get(key).map(|(v, _)| v.clone()))
    }

    /// Stores a string, replacing whatever the key held; `ttl` absolute.
    fn put_string(&mut self, key: &[u8], value: Vec<u8>, ttl: Option<u64>) {
        self.colls.remove(key);
        self.coll_ttl.remove(key);
        self.keys.insert(key.to_vec(), (value, ttl));
        self.touch(key);
    }

    /// Removes a key of any type; whether it existed.
    pub(crate) fn remove_any(&mut self, now_ms: u64, key: &[u8]) -> bool {
        self.purge(now_ms, key);
        let had = self.keys.remove(key).is_some() | self.colls.remove(key).is_some();
        self.coll_ttl.remove(key);
        if had {
            self.touch(key);
        }
        had
    }

    fn exists(&mut self, now_ms: u64, key: &[u8]) -> bool {
        self.purge(now_ms, key);
        self.keys.contains_key(key) || self.colls.contains_key(key)
    }

    pub(crate) fn ttl_of(&self, key: &[u8]) -> Option<u64> {
        match self.keys.get(key) {
            Some((_, t)) => *t,
            None => self.coll_ttl.get(key).copied(),
        }
    }

    fn set_ttl(&mut self, key: &[u8], ttl: Option<u64>) {
        if let Some((_, t)) = self.keys.get_mut(key) {
            *t = ttl;
        } else if self.colls.contains_key(key) {
            match ttl {
                Some(at) => self.coll_ttl.insert(key.to_vec(), at),
                None => self.coll_ttl.remove(key),
            };
        }
    }

    /// The keys live at `now_ms`, leaving the expired ones in place: Redis 7.0's KEYS
    /// skips an expired key without deleting it (`keyIsExpired`; checked on
    /// redis-server 7.0.15 with active expiry off: KEYS * on two expired keys, then
    /// DBSIZE -> 2), so after a backward clock jump the key is live again (chaos
    /// 0x276: KEYS * at 61 ms, a -117 ms jump, KEYS ?0 listed w0).
    fn unexpired_keys(&self, now_ms: u64) -> Vec<Vec<u8>> {
        let string_live = |at: &Option<u64>| !matches!(at, Some(at) if now_ms > *at);
        let coll_live = |k: &Vec<u8>| !matches!(self.coll_ttl.get(k), Some(at) if now_ms > *at);
        self.keys
            .iter()
            .filter(|(_, (_, at))| string_live(at))
            .map(|(k, _)| k.clone())
            .chain(self.colls.keys().filter(|k| coll_live(k)).cloned())
            .collect()
    }

    /// The node's reply when it is an array of exactly `want` (in any order), else
    /// `want` sorted (which the node's reply then differs from).
    pub(crate) fn unordered(&self, mut want: Vec<Vec<u8>>) -> Vec<u8> {
        want.sort();
        if let Some(mut got) = self
            .observed
            .as_deref()
            .and_then(crate::workload::split_array)
            .and_then(|items| {
                items
                    .iter()
                    .map(|i| bulk_payload(i))
                    .collect::<Option<Vec<_>>>()
            })
        {
            got.sort();
            if got == want {
                if let Some(o) = &self.observed {
                    return o.clone();
                }
            }
        }
        array(&want)
    }

    /// Applies a command of this file; None for one it does not know.
    pub(crate) fn apply_wide(
        &mut self,
        now_ms: u64,
        name: &str,
        req: &[Vec<u8>],
    ) -> Option<Vec<u8>> {
        let args = req.get(1..).unwrap_or_default();
        let key = args.first().cloned().unwrap_or_default();
        let reply = |r: Result<Vec<u8>, Vec<u8>>| r.unwrap_or_else(|e| e);
        Some(match name {
            "PING" => match args {
                [] => b"+PONG\r\n".to_vec(),
                [message] => bulk(message),
                _ => b"-ERR wrong number of arguments for 'ping' command\r\n".to_vec(),
            },
            "SET" => reply(self.set(now_ms, args, "set")),
            "SETNX" => {
                let v = args.get(1)?.clone();
                match self.string_of(now_ms, &key) {
                    Err(_) | Ok(Some(_)) => int(0),
                    Ok(None) => {
                        self.put_string(&key, v, None);
                        int(1)
                    }
                }
            }
            "SETEX" | "PSETEX" => {
                let Some(n) = parse_int(args.get(1)?) else {
                    return Some(NOT_INTEGER.to_vec());
                };
                let unit: &[u8] = if name == "SETEX" { b"EX" } else { b"PX" };
                let Some(at) = absolute(now_ms, unit, n) else {
                    return Some(
                        format!(
                            "-ERR invalid expire time in '{}' command\r\n",
                            name.to_ascii_lowercase()
                        )
                        .into_bytes(),
                    );
                };
                self.purge(now_ms, &key);
                self.put_string(&key, args.get(2)?.clone(), Some(at));
                OK.to_vec()
            }
            "GETSET" => match self.string_of(now_ms, &key) {
                Err(e) => e,
                Ok(old) => {
                    self.put_string(&key, args.get(1)?.clone(), None);
                    old.map_or(NIL.to_vec(), |v| bulk(&v))
                }
            },
            "GETDEL" => match self.string_of(now_ms, &key) {
                Err(e) => e,
                Ok(None) => NIL.to_vec(),
                Ok(Some(v)) => {
                    self.remove_any(now_ms, &key);
                    bulk(&v)
                }
            },
            "GETEX" => reply(self.getex(now_ms, args)),
            "MGET" => {
                let mut out = format!("*{}\r\n", args.len()).into_bytes();
                for k in args {
                    match self.string_of(now_ms, k) {
                        Ok(Some(v)) => out.extend_from_slice(&bulk(&v)),
                        _ => out.extend_from_slice(NIL),
                    }
                }
                out
            }
            "MSET" | "MSETNX" => {
                if args.is_empty() || args.len() % 2 != 0 {
                    return Some(
                        format!(
                            "-ERR wrong number of arguments for '{}' command\r\n",
                            name.to_ascii_lowercase()
                        )
                        .into_bytes(),
                    );
                }
                if name == "MSETNX" && args.chunks(2).any(|p| self.exists(now_ms, &p[0])) {
                    return Some(int(0));
                }
                for p in args.chunks(2) {
                    self.put_string(&p[0], p[1].clone(), None);
                }
                if name == "MSET" {
                    OK.to_vec()
                } else {
                    int(1)
                }
            }
            "INCR" | "INCRBY" | "DECR" | "DECRBY" => {
                let by = if name == "DECR" || name == "INCR" {
                    1
                } else {
                    match parse_int(args.get(1)?) {
                        Some(n) => n,
                        None => return Some(NOT_INTEGER.to_vec()),
                    }
                };
                if name.starts_with('I') {
                    return Some(self.incr_by(now_ms, &key, by));
                }
                let Some(neg) = by.checked_neg() else {
                    return Some(b"-ERR decrement would overflow\r\n".to_vec());
                };
                self.incr_by(now_ms, &key, neg)
            }
            "INCRBYFLOAT" => {
                let cur = match self.string_of(now_ms, &key) {
                    Err(e) => return Some(e),
                    Ok(None) => 0.0,
                    Ok(Some(v)) => match parse_float(&v) {
                        Some(f) => f,
                        None => return Some(b"-ERR value is not a valid float\r\n".to_vec()),
                    },
                };
                let Some(by) = parse_float(args.get(1)?) else {
                    return Some(b"-ERR value is not a valid float\r\n".to_vec());
                };
                let next = cur + by;
                if !next.is_finite() {
                    return Some(b"-ERR increment would produce NaN or Infinity\r\n".to_vec());
                }
                // Past 2^50 the node's long double keeps digits an f64 drops: accept
                // its reply when it is within the f64's rounding of the model's sum.
                let text = match self.observed.as_deref().and_then(bulk_payload) {
                    Some(got)
                        if next.abs() >= (1u64 << 50) as f64
                            && parse_float(&got)
                                .is_some_and(|g| ((g - next) / next).abs() < 1e-12) =>
                    {
                        got
                    }
                    _ => human_float(next).into_bytes(),
                };
                let ttl = self.ttl_of(&key);
                self.put_string(&key, text.clone(), ttl);
                bulk(&text)
            }
            "STRLEN" => match self.string_of(now_ms, &key) {
                Err(e) => e,
                Ok(v) => int(v.map_or(0, |v| v.len() as i64)),
            },
            "GETRANGE" | "SUBSTR" => {
                let (Some(start), Some(end)) = (parse_int(args.get(1)?), parse_int(args.get(2)?))
                else {
                    return Some(NOT_INTEGER.to_vec());
                };
                match self.string_of(now_ms, &key) {
                    Err(e) => e,
                    Ok(v) => bulk(&getrange(&v.unwrap_or_default(), start, end)),
                }
            }
            "SETRANGE" => {
                let Some(offset) = parse_int(args.get(1)?) else {
                    return Some(NOT_INTEGER.to_vec());
                };
                let value = args.get(2)?;
                if offset < 0 {
                    return Some(b"-ERR offset is out of range\r\n".to_vec());
                }
                let cur = match self.string_of(now_ms, &key) {
                    Err(e) => return Some(e),
                    Ok(v) => v,
                };
                if value.is_empty() {
                    return Some(int(cur.map_or(0, |v| v.len() as i64)));
                }
                let offset = usize::try_from(offset).ok()?;
                if offset + value.len() > 512 * 1024 * 1024 {
                    return Some(
                        b"-ERR string exceeds maximum allowed size (proto-max-bulk-len)\r\n"
                            .to_vec(),
                    );
                }
                let mut v = cur.unwrap_or_default();
                if v.len() < offset + value.len() {
                    v.resize(offset + value.len(), 0);
                }
                v[offset..offset + value.len()].copy_from_slice(value);
                let len = v.len();
                let ttl = self.ttl_of(&key);
                self.put_string(&key, v, ttl);
                int(len as i64)
            }
            "EXPIRE" | "PEXPIRE" | "EXPIREAT" | "PEXPIREAT" => {
                reply(self.expire(now_ms, name, args))
            }
            "PERSIST" => {
                if self.exists(now_ms, &key) && self.ttl_of(&key).is_some() {
                    self.set_ttl(&key, None);
                    self.touch(&key);
                    int(1)
                } else {
                    int(0)
                }
            }
            "TTL" | "PTTL" | "EXPIRETIME" | "PEXPIRETIME" => {
                if !self.exists(now_ms, &key) {
                    return Some(int(-2));
                }
                match self.ttl_of(&key) {
                    None => int(-1),
                    Some(at) => int(match name {
                        "TTL" => (at.saturating_sub(now_ms) as i64 + 500) / 1000,
                        "PTTL" => at.saturating_sub(now_ms) as i64,
                        "EXPIRETIME" => ((at + 500) / 1000) as i64,
                        _ => at as i64,
                    }),
                }
            }
            "DEL" | "UNLINK" => {
                let mut n = 0;
                for k in args {
                    n += i64::from(self.remove_any(now_ms, k));
                }
                int(n)
            }
            "EXISTS" | "TOUCH" => {
                let mut n = 0;
                for k in args {
                    n += i64::from(self.exists(now_ms, k));
                }
                int(n)
            }
            "RENAME" | "RENAMENX" => {
                let dst = args.get(1)?.clone();
                if !self.exists(now_ms, &key) {
                    return Some(b"-ERR no such key\r\n".to_vec());
                }
                if key == dst {
                    return Some(if name == "RENAME" {
                        OK.to_vec()
                    } else {
                        int(0)
                    });
                }
                if name == "RENAMENX" && self.exists(now_ms, &dst) {
                    return Some(int(0));
                }
                self.copy_key(now_ms, &key, &dst);
                self.remove_any(now_ms, &key);
                if name == "RENAME" {
                    OK.to_vec()
                } else {
                    int(1)
                }
            }
            "COPY" => {
                let dst = args.get(1)?.clone();
                let replace = match args.get(2) {
                    None => false,
                    Some(a) if a.eq_ignore_ascii_case(b"REPLACE") && args.len() == 3 => true,
                    Some(_) => return Some(SYNTAX.to_vec()),
                };
                if key == dst {
                    return Some(b"-ERR source and destination objects are the same\r\n".to_vec());
                }
                if !self.exists(now_ms, &key) || (!replace && self.exists(now_ms, &dst)) {
                    return Some(int(0));
                }
                self.copy_key(now_ms, &key, &dst);
                int(1)
            }
            "DBSIZE" => {
                // Keys the node may still hold: the live ones, plus expired ones no
                // one has touched (active expiry may or may not have taken them).
                let live = self
                    .keys
                    .iter()
                    .filter(|(_, (_, t))| !matches!(t, Some(at) if now_ms > *at))
                    .count()
                    + self
                        .colls
                        .keys()
                        .filter(|k| !matches!(self.coll_ttl.get(*k), Some(at) if now_ms > *at))
                        .count();
                let maybe = self
                    .maybe_present
                    .iter()
                    .filter(|k| !self.keys.contains_key(*k) && !self.colls.contains_key(*k))
                    .count();
                let all = self.keys.len() + self.colls.len() + maybe;
                let got = self
                    .observed
                    .as_deref()
                    .and_then(|r| r.strip_prefix(b":"))
                    .and_then(|r| r.strip_suffix(b"\r\n"))
                    .and_then(parse_int)
                    .and_then(|n| usize::try_from(n).ok());
                match got {
                    Some(n) if (live..=all).contains(&n) => int(n as i64),
                    _ => int(live as i64),
                }
            }
            // RANDOMKEY and SCAN delete only the expired keys they happen to visit:
            // the model forgets none here (a backward clock jump would make a key
            // live again in the model and not in the node, or the reverse). The keys
            // the node did delete are forgotten by `sync_expired`, which reads the
            // node's table after the step (chaos 0x189: RANDOMKEY at 84 ms, a -2325
            // ms jump, then GET w0 read `v` again).
            "RANDOMKEY" => {
                let live = self.unexpired_keys(now_ms);
                if live.is_empty() {
                    return Some(NIL.to_vec());
                }
                let got = self.observed.as_deref().and_then(bulk_payload);
                match got {
                    Some(k) if live.contains(&k) => bulk(&k),
                    _ => b"-model: RANDOMKEY must name a live key\r\n".to_vec(),
                }
            }
            "KEYS" => {
                let pattern = key.clone();
                let keys: Vec<Vec<u8>> = self
                    .unexpired_keys(now_ms)
                    .into_iter()
                    .filter(|k| glob(&pattern, k))
                    .collect();
                self.unordered(keys)
            }
            "SCAN" => reply(self.scan(now_ms, args)),
            _ => return None,
        })
    }

    fn incr_by(&mut self, now_ms: u64, key: &[u8], by: i64) -> Vec<u8> {
        let cur = match self.string_of(now_ms, key) {
            Err(e) => return e,
            Ok(None) => 0,
            Ok(Some(v)) => match parse_int(&v) {
                Some(n) => n,
                None => return NOT_INTEGER.to_vec(),
            },
        };
        let Some(next) = cur.checked_add(by) else {
            return b"-ERR increment or decrement would overflow\r\n".to_vec();
        };
        let ttl = self.ttl_of(key);
        self.put_string(key, next.to_string().into_bytes(), ttl);
        int(next)
    }

    fn set(&mut self, now_ms: u64, args: &[Vec<u8>], cmd: &str) -> Result<Vec<u8>, Vec<u8>> {
        let key = args.first().ok_or_else(|| SYNTAX.to_vec())?.clone();
        let value = args.get(1).ok_or_else(|| SYNTAX.to_vec())?.clone();
        let o = set_options(args.get(2..).unwrap_or_default(), now_ms, cmd)?;
        self.purge(now_ms, &key);
        let old = if o.get {
            Some(self.string_of(now_ms, &key)?)
        } else {
            None
        };
        let exists = self.keys.contains_key(&key) || self.colls.contains_key(&key);
        let applies = !(o.nx && exists || o.xx && !exists);
        if applies {
            let ttl = match o.expire_at {
                Some(at) => Some(at),
                _ if o.keepttl => self.ttl_of(&key),
                _ => None,
            };
            self.put_string(&key, value, ttl);
        }
        Ok(match old {
            Some(Some(v)) => bulk(&v),
            Some(None) => NIL.to_vec(),
            None if applies => OK.to_vec(),
            None => NIL.to_vec(),
        })
    }

    fn getex(&mut self, now_ms: u64, args: &[Vec<u8>]) -> Result<Vec<u8>, Vec<u8>> {
        let key = args.first().ok_or_else(|| SYNTAX.to_vec())?.clone();
        let mut change: Option<Option<u64>> = None;
        let mut i = 1;
        while let Some(a) = args.get(i) {
            let up = a.to_ascii_uppercase();
            match up.as_slice() {
                b"PERSIST" if change.is_none() => change = Some(None),
                b"EX" | b"PX" | b"EXAT" | b"PXAT" if change.is_none() => {
                    i += 1;
                    let n = args
                        .get(i)
                        .and_then(|v| parse_int(v))
                        .ok_or_else(|| NOT_INTEGER.to_vec())?;
                    let at = absolute(now_ms, &up, n).ok_or_else(|| {
                        b"-ERR invalid expire time in 'getex' command\r\n".to_vec()
                    })?;
                    change = Some(Some(at));
                }
                _ => return Err(SYNTAX.to_vec()),
            }
            i += 1;
        }
        let Some(v) = self.string_of(now_ms, &key)? else {
            return Ok(NIL.to_vec());
        };
        match change {
            Some(Some(at)) if at <= now_ms => {
                self.remove_any(now_ms, &key);
            }
            Some(ttl) if ttl.is_some() || self.ttl_of(&key).is_some() => {
                self.set_ttl(&key, ttl);
                self.touch(&key);
            }
            _ => {}
        }
        Ok(bulk(&v))
    }

    fn expire(&mut self, now_ms: u64, name: &str, args: &[Vec<u8>]) -> Result<Vec<u8>, Vec<u8>> {
        let key = args.first().ok_or_else(|| SYNTAX.to_vec())?.clone();
        let n = args
            .get(1)
            .and_then(|v| parse_int(v))
            .ok_or_else(|| NOT_INTEGER.to_vec())?;
        let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
        for a in args.get(2..).unwrap_or_default() {
            match a.to_ascii_uppercase().as_slice() {
                b"NX" => nx = true,
                b"XX" => xx = true,
                b"GT" => gt = true,
                b"LT" => lt = true,
                _ => {
                    return Err(format!(
                        "-ERR Unsupported option {}\r\n",
                        String::from_utf8_lossy(a)
                    )
                    .into_bytes())
                }
            }
        }
        if nx && (xx || gt || lt) {
            return Err(
                b"-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
                    .to_vec(),
            );
        }
        if gt && lt {
            return Err(b"-ERR GT and LT options at the same time are not compatible\r\n".to_vec());
        }
        let at: i64 = match name {
            "EXPIRE" => n
                .checked_mul(1000)
                .and_then(|ms| ms.checked_add(now_ms as i64)),
            "PEXPIRE" => n.checked_add(now_ms as i64),
            "EXPIREAT" => n.checked_mul(1000),
            _ => Some(n),
        }
        .ok_or_else(|| {
            format!(
                "-ERR invalid expire time in '{}' command\r\n",
                name.to_ascii_lowercase()
            )
            .into_bytes()
        })?;
        if !self.exists(now_ms, &key) {
            return Ok(int(0));
        }
        let cur = self.ttl_of(&key);
        let refused = match cur {
            None => xx || gt,
            Some(c) => nx || (gt && at <= c as i64) || (lt && at >= c as i64),
        };
        if refused {
            return Ok(int(0));
        }
        if at <= now_ms as i64 {
            self.remove_any(now_ms, &key);
        } else {
            self.set_ttl(&key, Some(at as u64));
            self.touch(&key);
        }
        Ok(int(1))
    }

    /// `SCAN 0 [MATCH p] [COUNT n] [TYPE t]`: a reply whose cursor is 0 must hold
    /// exactly the matching live keys; a partial one, a subset without duplicates.
    fn scan(&mut self, now_ms: u64, args: &[Vec<u8>]) -> Result<Vec<u8>, Vec<u8>> {
        let mut pattern: Vec<u8> = b"*".to_vec();
        let mut ty: Option<Vec<u8>> = None;
        let mut i = 1;
        while let Some(a) = args.get(i) {
            let v = args.get(i + 1).ok_or_else(|| SYNTAX.to_vec())?;
            match a.to_ascii_uppercase().as_slice() {
                b"MATCH" => pattern = v.clone(),
                b"COUNT" => {}
                b"TYPE" => ty = Some(v.clone()),
                _ => return Err(SYNTAX.to_vec()),
            }
            i += 2;
        }
        let want: Vec<Vec<u8>> = self
            .unexpired_keys(now_ms)
            .into_iter()
            .filter(|k| glob(&pattern, k))
            .filter(|k| {
                ty.as_ref().is_none_or(|t| {
                    let name = match self.colls.get(k) {
                        Some(c) => c.type_name(),
                        None => "string",
                    };
                    t.eq_ignore_ascii_case(name.as_bytes())
                })
            })
            .collect();
        let observed = self.observed.clone().unwrap_or_default();
        if let Some([cursor, items]) = crate::workload::split_array(&observed).as_deref() {
            let cursor = bulk_payload(cursor).unwrap_or_default();
            let got: Option<Vec<Vec<u8>>> = crate::workload::split_array(items)
                .and_then(|v| v.iter().map(|i| bulk_payload(i)).collect());
            if let Some(mut got) = got {
                got.sort();
                let distinct = got.windows(2).all(|w| w[0] != w[1]);
                let ok = if cursor == b"0" {
                    let mut w = want.clone();
                    w.sort();
                    got == w
                } else {
                    distinct && got.iter().all(|k| want.contains(k))
                };
                if ok {
                    return Ok(observed);
                }
            }
        }
        let mut out = b"*2\r\n$1\r\n0\r\n".to_vec();
        let mut want = want;
        want.sort();
        out.extend_from_slice(&array(&want));
        Ok(out)
    }

    /// Copies `src` (live) over `dst`, with its TTL.
    fn copy_key(&mut self, now_ms: u64, src: &[u8], dst: &[u8]) {
        let ttl = self.ttl_of(src);
        self.remove_any(now_ms, dst);
        if let Some((v, _)) = self.keys.get(src).cloned() {
            self.keys.insert(dst.to_vec(), (v, ttl));
        } else if let Some(c) = self.colls.get(src).cloned() {
            self.colls.insert(dst.to_vec(), c);
            if let Some(at) = ttl {
                self.coll_ttl.insert(dst.to_vec(), at);
            }
        }
        self.touch(dst);
    }
}

fn getrange(v: &[u8], start: i64, end: i64) -> Vec<u8> {
    let len = v.len() as i64;
    if len == 0 || (start < 0 && end < 0 && start > end) {
        return Vec::new();
    }
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { (len + end).max(0) } else { end };
    let end = end.min(len - 1);
    if start > end || start >= len {
        return Vec::new();
    }
    v[start as usize..=end as usize].to_vec()
}

/// The payload of one bulk-string reply frame.
pub fn bulk_payload(frame: &[u8]) -> Option<Vec<u8>> {
    let r = frame.strip_prefix(b"$")?;
    let nl = r.iter().position(|&b| b == b'\n')?;
    r.get(nl + 1..r.len().checked_sub(2)?).map(<[u8]>::to_vec)
}

pub fn array(items: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", items.len()).into_bytes();
    for i in items {
        out.extend_from_slice(&bulk(i));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(m: &mut Model, now_ms: u64, line: &str) -> String {
        let req: Vec<Vec<u8>> = line.split(' ').map(|s| s.as_bytes().to_vec()).collect();
        String::from_utf8_lossy(&m.apply(now_ms, &req).expect("modelled")).into_owned()
    }

    /// KEYS leaves expired keys in place (redis-server 7.0.15: DBSIZE after KEYS
    /// still counts them); a backward clock jump makes one live again (chaos 0x276).
    #[test]
    fn keys_does_not_expire_keys() {
        let mut m = Model::new(0);
        let t = 4_700_000_000_000;
        assert_eq!(run(&mut m, t, "SET w0 v PX 13"), "+OK\r\n");
        assert_eq!(run(&mut m, t, "SET k0 1"), "+OK\r\n");
        m.observe_for(&[b"KEYS".to_vec(), b"*".to_vec()], b"*1\r\n$2\r\nk0\r\n");
        assert_eq!(run(&mut m, t + 30, "KEYS *"), "*1\r\n$2\r\nk0\r\n");
        assert_eq!(run(&mut m, t + 5, "GET w0"), "$1\r\nv\r\n", "w0 still held");
    }

    /// RANDOMKEY and SCAN forget no expired key: the node deletes only the ones it
    /// visits, and `sync_expired` forgets those (chaos 0x189).
    #[test]
    fn randomkey_and_scan_do_not_expire_keys() {
        let mut m = Model::new(0);
        let t = 4_700_000_000_000;
        assert_eq!(run(&mut m, t, "SET w0 v PX 13"), "+OK\r\n");
        assert_eq!(run(&mut m, t, "SET k0 1"), "+OK\r\n");
        m.observe_for(&[b"RANDOMKEY".to_vec()], b"$2\r\nk0\r\n");
        assert_eq!(run(&mut m, t + 30, "RANDOMKEY"), "$2\r\nk0\r\n");
        m.observe_for(&[b"RANDOMKEY".to_vec()], b"$2\r\nw0\r\n");
        assert_eq!(
            run(&mut m, t + 30, "RANDOMKEY"),
            "-model: RANDOMKEY must name a live key\r\n"
        );
        let scan = "*2\r\n$1\r\n0\r\n*1\r\n$2\r\nk0\r\n";
        m.observe_for(&[b"SCAN".to_vec(), b"0".to_vec()], scan.as_bytes());
        assert_eq!(run(&mut m, t + 30, "SCAN 0"), scan);
        // A backward clock jump: the node never deleted w0, nor did the model.
        assert_eq!(run(&mut m, t + 5, "GET w0"), "$1\r\nv\r\n", "w0 still held");
    }

    /// Each reply checked against redis-server 7.0.15.
    #[test]
    fn strings_and_expiry_as_redis() {
        let mut m = Model::new(0);
        let t = 4_700_000_000_000;
        assert_eq!(run(&mut m, t, "SET a +5"), "+OK\r\n");
        assert_eq!(
            run(&mut m, t, "INCR a"),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(
            run(&mut m, t, "INCRBY h0 +5"),
            "-ERR value is not an integer or out of range\r\n"
        );
        assert_eq!(run(&mut m, t, "SET d 9223372036854775806"), "+OK\r\n");
        assert_eq!(
            run(&mut m, t, "INCRBY d 2"),
            "-ERR increment or decrement would overflow\r\n"
        );
        assert_eq!(
            run(&mut m, t, "DECRBY d -9223372036854775808"),
            "-ERR decrement would overflow\r\n"
        );
        assert_eq!(run(&mut m, t, "SET f 1.5"), "+OK\r\n");
        assert_eq!(run(&mut m, t, "INCRBYFLOAT f 0.25"), "$4\r\n1.75\r\n");
        assert_eq!(run(&mut m, t, "INCRBYFLOAT f 3e2"), "$6\r\n301.75\r\n");
        assert_eq!(run(&mut m, t, "INCRBYFLOAT f -301.75"), "$1\r\n0\r\n");
        assert_eq!(run(&mut m, t, "SET s v NX GET"), "$-1\r\n");
        assert_eq!(run(&mut m, t, "SET s w NX GET"), "$1\r\nv\r\n");
        assert_eq!(run(&mut m, t, "SET n v XX GET"), "$-1\r\n");
        assert_eq!(
            run(&mut m, t, "SET s v EX 0"),
            "-ERR invalid expire time in 'set' command\r\n"
        );
        assert_eq!(run(&mut m, t, "SETRANGE q 0 "), ":0\r\n");
        assert_eq!(run(&mut m, t, "EXISTS q"), ":0\r\n");
        assert_eq!(run(&mut m, t, "SETRANGE q 2 ab"), ":4\r\n");
        assert_eq!(run(&mut m, t, "RENAME s s"), "+OK\r\n");
        assert_eq!(run(&mut m, t, "RENAMENX s s"), ":0\r\n");
        assert_eq!(
            run(&mut m, t, "COPY s s"),
            "-ERR source and destination objects are the same\r\n"
        );
        assert_eq!(run(&mut m, t, "RENAME nokey x"), "-ERR no such key\r\n");
        assert_eq!(run(&mut m, t, "RPUSH l a b"), ":2\r\n");
        assert_eq!(run(&mut m, t, "EXPIRE l 100 GT"), ":0\r\n");
        assert_eq!(run(&mut m, t, "EXPIRE l 100 NX"), ":1\r\n");
        assert_eq!(run(&mut m, t, "EXPIRE l 50 GT"), ":0\r\n");
        assert_eq!(run(&mut m, t, "EXPIRE l 50 LT"), ":1\r\n");
        assert_eq!(run(&mut m, t, "EXPIRE l -1 GT"), ":0\r\n");
        assert_eq!(
            run(&mut m, t, "EXPIRE l 10 NX GT"),
            "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"
        );
        assert_eq!(run(&mut m, t, "PERSIST l"), ":1\r\n");
        assert_eq!(run(&mut m, t, "EXPIRE l 10 XX"), ":0\r\n");
        assert_eq!(run(&mut m, t, "SET x v PXAT 4700000000600"), "+OK\r\n");
        assert_eq!(run(&mut m, t, "EXPIRETIME x"), ":4700000001\r\n");
        assert_eq!(run(&mut m, t, "EXPIRETIME nokey"), ":-2\r\n");
        assert_eq!(run(&mut m, t, "PEXPIRE l 10"), ":1\r\n");
        assert_eq!(
            run(&mut m, t + 11, "LLEN l"),
            ":0\r\n",
            "a list's TTL passed"
        );
        assert_eq!(run(&mut m, t, "EXPIRE s -1"), ":1\r\n");
        assert_eq!(run(&mut m, t, "EXISTS s"), ":0\r\n");
    }

    #[test]
    fn helpers_as_redis() {
        assert!(glob(b"x*", b"x12"));
        assert!(glob(b"?0", b"l0"));
        assert!(!glob(b"x?", b"x12"));
        assert_eq!(human_float(1.75), "1.75");
        assert_eq!(human_float(300.0), "300");
        assert_eq!(human_float(-0.0), "0");
        assert_eq!(parse_float(b" 1"), None);
        assert_eq!(parse_float(b"3e2"), Some(300.0));
        // Checked against redis-server 7.0.15 on "hello".
        assert_eq!(getrange(b"v", 0, -100), b"v");
        assert_eq!(getrange(b"hello", -100, -200), b"");
        assert_eq!(getrange(b"hello", -100, 2), b"hel");
        assert_eq!(getrange(b"hello", 1, -6), b"");
        assert_eq!(getrange(b"hello", -3, -1), b"llo");
        assert_eq!(getrange(b"hello", 1, 100), b"ello");
    }
}
