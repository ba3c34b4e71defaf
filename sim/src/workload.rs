//! Simulated clients: each pipelines batches of requests on a connection, frames RESP2
//! replies out of its byte stream, times out (the outcome becomes `unknown`) and
//! reconnects. It records a history; it never judges replies (the world does).

use std::collections::VecDeque;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::net::ConnId;
pub use crate::workload_wide::{
    random_blocking_requests, random_flush_request, random_wide_request, random_wide_requests,
};

/// How an operation ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpOutcome {
    Pending,
    Ok,
    /// An error reply (`-...`).
    Fail,
    /// Timed out or the connection closed first: it may or may not have applied.
    Unknown,
}

/// One operation in the history: invoke time, completion, what the client saw.
#[derive(Debug, Clone)]
pub struct Op {
    pub client: usize,
    /// The host the client sent it to.
    pub host: usize,
    pub conn: ConnId,
    pub invoke_ms: u64,
    pub complete_ms: Option<u64>,
    /// Invocation and completion on one total order of client events (ties in
    /// simulated milliseconds still have an order, which the linearizability check uses).
    pub invoke_step: u64,
    pub complete_step: Option<u64>,
    /// How many crashes its host had been through when the client invoked it.
    pub epoch: u32,
    pub request: Vec<Vec<u8>>,
    /// The reply the client framed (empty until one arrived).
    pub reply: Vec<u8>,
    /// The reply the node emitted for it, when the node ran it (the world fills this).
    pub node_reply: Option<Vec<u8>>,
    /// When the node ran it, in the order it ran requests (the world fills this; the
    /// linearizability checker uses it only to order its search).
    pub run_seq: Option<u64>,
    /// The wall clock the node was handed when it ran it (the world fills this).
    pub run_wall_ms: Option<u64>,
    /// How many replies the world had judged when the node was handed it: every
    /// request judged by then ran before it (the world fills this).
    pub judged_before_run: Option<u64>,
    /// The simulated time its bytes reached the node (the world fills this).
    pub delivered_ms: Option<u64>,
    pub outcome: OpOutcome,
}

/// A small incremental reply framer over keel-core's one RESP decoder: feed bytes,
/// take whole replies.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
}

impl Framer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next whole reply, `Ok(None)` when more bytes are needed, `Err` on bytes that
    /// are not RESP.
    pub fn next_reply(&mut self) -> Result<Option<Vec<u8>>, String> {
        match keel_core::resp::frame_len(&self.buf).map_err(|e| e.to_string())? {
            None => Ok(None),
            Some(len) => {
                let reply = self.buf.drain(..len).collect();
                Ok(Some(reply))
            }
        }
    }
}

/// The elements of an array reply, each as its own bytes exactly as sent; None for
/// anything else (including the nil array).
pub fn split_array(reply: &[u8]) -> Option<Vec<Vec<u8>>> {
    match keel_core::resp::element_frames(reply)? {
        (b'*', items) => Some(items.into_iter().map(<[u8]>::to_vec).collect()),
        _ => None,
    }
}

pub fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    keel_core::resp::encode_request(args)
}

/// Commands Redis flags `denyoom`: refused with -OOM over `maxmemory`. The list is
/// redis-server 7.0.15's own (`COMMAND`, every entry whose flags hold `denyoom`),
/// not keel's table, so a flag keel gets wrong shows as a refusal the checker calls
/// unexpected.
pub fn is_denyoom(req: &[Vec<u8>]) -> bool {
    let Some(name) = req.first() else {
        return false;
    };
    [
        "APPEND",
        "BITFIELD",
        "BITOP",
        "BLMOVE",
        "BRPOPLPUSH",
        "COPY",
        "DECR",
        "DECRBY",
        "GEOADD",
        "GEORADIUS",
        "GEORADIUSBYMEMBER",
        "GEOSEARCHSTORE",
        "GETSET",
        "HINCRBY",
        "HINCRBYFLOAT",
        "HMSET",
        "HSET",
        "HSETNX",
        "INCR",
        "INCRBY",
        "INCRBYFLOAT",
        "LINSERT",
        "LMOVE",
        "LPUSH",
        "LPUSHX",
        "LSET",
        "MSET",
        "MSETNX",
        "PFADD",
        "PFDEBUG",
        "PFMERGE",
        "PSETEX",
        "RESTORE",
        "RESTORE-ASKING",
        "RPOPLPUSH",
        "RPUSH",
        "RPUSHX",
        "SADD",
        "SDIFFSTORE",
        "SET",
        "SETBIT",
        "SETEX",
        "SETNX",
        "SETRANGE",
        "SINTERSTORE",
        "SORT",
        "SUNIONSTORE",
        "XADD",
        "XSETID",
        "ZADD",
        "ZDIFFSTORE",
        "ZINCRBY",
        "ZINTERSTORE",
        "ZRANGESTORE",
        "ZUNIONSTORE",
    ]
    .iter()
    .any(|c| name.eq_ignore_ascii_case(c.as_bytes()))
}

/// Commands of the workload that never change the dataset (a request of any other
/// name may have).
pub fn is_read_only(req: &[Vec<u8>]) -> bool {
    let Some(name) = req.first() else {
        return true;
    };
    [
        "GET",
        "EXISTS",
        "TYPE",
        "TTL",
        "PTTL",
        "LRANGE",
        "LLEN",
        "LINDEX",
        "SMEMBERS",
        "SISMEMBER",
        "SMISMEMBER",
        "SRANDMEMBER",
        "SCARD",
        "ZRANGE",
        "ZSCORE",
        "ZCARD",
        "ZRANGEBYSCORE",
        "ZRANK",
        "HGET",
        "HGETALL",
        "HMGET",
        "HKEYS",
        "HVALS",
        "HLEN",
        "HEXISTS",
        "MGET",
        "STRLEN",
        "WATCH",
        "WAIT",
        "UNWATCH",
        "MULTI",
        "PING",
    ]
    .iter()
    .any(|c| name.eq_ignore_ascii_case(c.as_bytes()))
}

/// A random request over `keys` keys; `ttl_heavy` favours short TTLs.
pub fn random_request(rng: &mut ChaCha8Rng, keys: usize, ttl_heavy: bool) -> Vec<Vec<u8>> {
    let key = format!("k{}", rng.gen_range(0..keys.max(1))).into_bytes();
    let small = |rng: &mut ChaCha8Rng| rng.gen_range(-5i64..50).to_string().into_bytes();
    let pick = if ttl_heavy && rng.gen_bool(0.3) {
        3
    } else {
        rng.gen_range(0..10)
    };
    match pick {
        0 | 1 => vec![b"GET".to_vec(), key],
        2 => vec![b"SET".to_vec(), key, small(rng)],
        // Now and then an integer with a TTL (INCR must keep the TTL), or a cold key
        // nobody reads again: only active expiry reclaims it (hot keys expire lazily
        // first, which would hide an active-expiry bug).
        3 => vec![
            b"SET".to_vec(),
            if rng.gen_bool(0.2) {
                format!("c{}", rng.gen::<u32>()).into_bytes()
            } else {
                key
            },
            if rng.gen_bool(0.3) {
                small(rng)
            } else {
                b"v".to_vec()
            },
            b"PX".to_vec(),
            rng.gen_range(1u64..300).to_string().into_bytes(),
        ],
        4 | 5 => vec![b"INCR".to_vec(), key],
        6 => vec![b"DEL".to_vec(), key],
        7 => vec![b"APPEND".to_vec(), key, b"x".to_vec()],
        8 => vec![b"EXISTS".to_vec(), key],
        _ => vec![b"INCRBY".to_vec(), key, small(rng)],
    }
}

/// Key prefixes of the collection keys, one per type (`l0`, `s0`, `z0`, `h0` ...).
pub(crate) const TYPED_PREFIXES: [&str; 4] = ["l", "s", "z", "h"];

/// Keys of the Elle transactions (lists of unique values).
pub const TXN_PREFIX: u8 = b't';
/// String keys WATCHed with short TTLs by the transactions scenario.
pub const WATCH_PREFIX: u8 = b'w';

/// Keys that only ever hold strings in the workload (what the linearizability
/// checker's string spec may judge): `k0..` and the transactions' `w0..`.
pub fn is_string_key(key: &[u8]) -> bool {
    matches!(key.first(), Some(b'k') | Some(&WATCH_PREFIX))
}

pub(crate) fn pick<'a>(rng: &mut ChaCha8Rng, from: &[&'a str]) -> &'a str {
    from[rng.gen_range(0..from.len())]
}

pub(crate) fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

/// A random collection command. Elements, members, fields and scores come from tiny
/// alphabets so duplicates, absent members, equal scores and emptied keys are common
/// (that is what reaches LREM's count, SREM's absent members, ZADD GT/LT on equal
/// scores and the deletion of emptied collections).
pub fn random_typed_request(rng: &mut ChaCha8Rng, keys: usize) -> Vec<Vec<u8>> {
    let keys = keys.clamp(1, 3);
    let mut kind = rng.gen_range(0..4usize);
    let key_kind = if rng.gen_bool(0.04) {
        // Now and then a command on another type's key: WRONGTYPE paths.
        rng.gen_range(0..4usize)
    } else {
        kind
    };
    let key = format!("{}{}", TYPED_PREFIXES[key_kind], rng.gen_range(0..keys)).into_bytes();
    if rng.gen_bool(0.08) {
        kind = 4;
    }
    let elem = |rng: &mut ChaCha8Rng| b(pick(rng, &["a", "b", "c"]));
    let member = |rng: &mut ChaCha8Rng| b(pick(rng, &["a", "b", "c", "d"]));
    let idx = |rng: &mut ChaCha8Rng| rng.gen_range(-4i64..4).to_string().into_bytes();
    let mut req = vec![];
    match kind {
        0 => match rng.gen_range(0..12) {
            0..=3 => {
                req.push(b(pick(rng, &["LPUSH", "RPUSH"])));
                req.push(key);
                for _ in 0..rng.gen_range(1..=3) {
                    req.push(elem(rng));
                }
            }
            4 | 5 => {
                req.push(b(pick(rng, &["LPOP", "RPOP"])));
                req.push(key);
                if rng.gen_bool(0.5) {
                    req.push(rng.gen_range(1..=3).to_string().into_bytes());
                }
            }
            6 => req = vec![b("LLEN"), key],
            7 => req = vec![b("LRANGE"), key, idx(rng), idx(rng)],
            8 => req = vec![b("LINDEX"), key, idx(rng)],
            9 | 10 => {
                req = vec![
                    b("LREM"),
                    key,
                    rng.gen_range(-2i64..=2).to_string().into_bytes(),
                    elem(rng),
                ]
            }
            _ => req = vec![b("LTRIM"), key, idx(rng), idx(rng)],
        },
        1 => match rng.gen_range(0..9) {
            0..=2 => {
                req = vec![b("SADD"), key];
                for _ in 0..rng.gen_range(1..=3) {
                    req.push(member(rng));
                }
            }
            3 | 4 => {
                req = vec![b("SREM"), key];
                for _ in 0..rng.gen_range(1..=3) {
                    req.push(member(rng));
                }
            }
            5 => req = vec![b("SCARD"), key],
            6 => req = vec![b("SISMEMBER"), key, member(rng)],
            8 => req = vec![b("SPOP"), key],
            _ => {
                req = vec![b("SMISMEMBER"), key];
                for _ in 0..rng.gen_range(1..=3) {
                    req.push(member(rng));
                }
            }
        },
        2 => match rng.gen_range(0..12) {
            0..=4 => req = random_zadd(rng, key),
            5 => {
                req = vec![
                    b("ZINCRBY"),
                    key,
                    rng.gen_range(-1i64..=2).to_string().into_bytes(),
                    member(rng),
                ]
            }
            6 => req = vec![b("ZSCORE"), key, member(rng)],
            7 => {
                req = vec![b("ZREM"), key];
                for _ in 0..rng.gen_range(1..=2) {
                    req.push(member(rng));
                }
            }
            8 => req = vec![b("ZCARD"), key],
            9 => req = vec![b("ZRANK"), key, member(rng)],
            _ => {
                req = vec![b("ZRANGE"), key, idx(rng), idx(rng)];
                if rng.gen_bool(0.5) {
                    req.push(b("WITHSCORES"));
                }
            }
        },
        3 => {
            let field = |rng: &mut ChaCha8Rng| b(pick(rng, &["f0", "f1", "f2"]));
            match rng.gen_range(0..9) {
                0..=2 => {
                    req = vec![b("HSET"), key];
                    for _ in 0..rng.gen_range(1..=2) {
                        req.push(field(rng));
                        req.push(b(pick(rng, &["0", "1", "2", "x"])));
                    }
                }
                3 => req = vec![b("HGET"), key, field(rng)],
                4 | 5 => {
                    req = vec![b("HDEL"), key];
                    for _ in 0..rng.gen_range(1..=2) {
                        req.push(field(rng));
                    }
                }
                6 => req = vec![b("HLEN"), key],
                7 => req = vec![b("HEXISTS"), key, field(rng)],
                _ => {
                    req = vec![
                        b("HINCRBY"),
                        key,
                        field(rng),
                        rng.gen_range(-2i64..=3).to_string().into_bytes(),
                    ]
                }
            }
        }
        _ => req = vec![b(pick(rng, &["DEL", "EXISTS", "TYPE"])), key],
    }
    req
}

/// ZADD with a random, usually valid, flag set over scores 0..3 (equal scores often).
fn random_zadd(rng: &mut ChaCha8Rng, key: Vec<u8>) -> Vec<Vec<u8>> {
    let mut req = vec![b("ZADD"), key];
    match rng.gen_range(0..7) {
        0 => {}
        1 => req.push(b("NX")),
        2 => req.push(b("XX")),
        3 | 4 => req.push(b(pick(rng, &["GT", "LT"]))),
        5 => {
            req.push(b("XX"));
            req.push(b(pick(rng, &["GT", "LT"])));
        }
        // Rarely an incompatible pair: the error paths.
        _ => {
            let (x, y) = *[("NX", "XX"), ("NX", "GT"), ("GT", "LT")]
                .get(rng.gen_range(0..3))
                .unwrap_or(&("NX", "XX"));
            req.push(b(x));
            req.push(b(y));
        }
    }
    if rng.gen_bool(0.7) {
        req.push(b("CH"));
    }
    let incr = rng.gen_bool(0.25);
    if incr {
        req.push(b("INCR"));
    }
    let pairs = if incr { 1 } else { rng.gen_range(1..=2) };
    for _ in 0..pairs {
        let score = if incr {
            rng.gen_range(-1i64..=1)
        } else {
            rng.gen_range(0i64..=2)
        };
        req.push(score.to_string().into_bytes());
        req.push(b(pick(rng, &["a", "b", "c", "d"])));
    }
    req
}

/// Keys and the unique-value counter of the transactions workload.
#[derive(Debug)]
pub struct TxnKeys {
    /// `t0..`: lists appended to and read by transactions.
    pub lists: usize,
    /// `w0..`: strings set with short TTLs and WATCHed.
    pub watched: usize,
    /// The next value to append: unique per run.
    pub next_value: u64,
}

/// Requests for one step of a transactions client: a transaction
/// (`[WATCH k] MULTI (RPUSH t v | LRANGE t 0 -1){1,4} EXEC|DISCARD`), sometimes
/// preceded by a short-TTL SET of the key it watches, or a lone string request.
pub fn random_transaction(rng: &mut ChaCha8Rng, keys: &mut TxnKeys) -> Vec<Vec<Vec<u8>>> {
    let lists = keys.lists.max(1);
    let t_key = |rng: &mut ChaCha8Rng| format!("t{}", rng.gen_range(0..lists)).into_bytes();
    let w_key = format!("w{}", rng.gen_range(0..keys.watched.max(1))).into_bytes();
    let mut out = Vec::new();
    if rng.gen_bool(0.15) {
        // Plain string traffic on the watched keys.
        out.push(if rng.gen_bool(0.5) {
            vec![b("GET"), w_key]
        } else {
            vec![b("SET"), w_key, b("v")]
        });
        return out;
    }
    match rng.gen_range(0..10) {
        // WATCH a string key with a TTL short enough to pass before EXEC, sometimes.
        0..=2 => {
            out.push(vec![
                b("SET"),
                w_key.clone(),
                b("v"),
                b("PX"),
                rng.gen_range(1u64..=25).to_string().into_bytes(),
            ]);
            out.push(vec![b("WATCH"), w_key]);
        }
        3 | 4 => out.push(vec![b("WATCH"), t_key(rng)]),
        _ => {}
    }
    out.push(vec![b("MULTI")]);
    for _ in 0..rng.gen_range(1..=4) {
        let key = t_key(rng);
        if rng.gen_bool(0.05) {
            // A read of a watched string inside MULTI: never an expired value.
            out.push(vec![
                b("GET"),
                format!("w{}", rng.gen_range(0..keys.watched.max(1))).into_bytes(),
            ]);
        } else if rng.gen_bool(0.5) {
            keys.next_value += 1;
            out.push(vec![
                b("RPUSH"),
                key,
                keys.next_value.to_string().into_bytes(),
            ]);
        } else {
            out.push(vec![b("LRANGE"), key, b("0"), b("-1")]);
        }
    }
    out.push(vec![if rng.gen_bool(0.05) {
        b("DISCARD")
    } else {
        b("EXEC")
    }]);
    out
}

/// One simulated client's connection state and progress.
#[derive(Debug, Default)]
pub struct Client {
    /// The host it sends to.
    pub host: usize,
    pub conn: Option<ConnId>,
    /// History indices of requests sent and not yet answered, oldest first.
    pub outstanding: VecDeque<usize>,
    pub framer: Framer,
    /// Pushes and multi-frame (un)subscription replies on the current connection.
    pub sub_framing: crate::pubsub::SubFraming,
    /// Requests this client has yet to send, in order (from the plan).
    pub queue: VecDeque<Vec<Vec<u8>>>,
    /// Counts batches so a stale timeout event can tell it is stale.
    pub batch: u64,
    /// MULTI was sent on the current connection and EXEC/DISCARD not yet.
    pub in_multi: bool,
}

impl Client {
    /// Tracks MULTI ... EXEC/DISCARD as requests are sent.
    pub fn note_sent(&mut self, request: &[Vec<u8>]) {
        let Some(name) = request.first() else {
            return;
        };
        if name.eq_ignore_ascii_case(b"MULTI") {
            self.in_multi = true;
        } else if name.eq_ignore_ascii_case(b"EXEC") || name.eq_ignore_ascii_case(b"DISCARD") {
            self.in_multi = false;
        }
    }

    /// The connection was lost inside MULTI: the node discards the transaction, so the
    /// client drops the rest of it rather than send its commands outside MULTI.
    /// Returns how many requests were dropped.
    pub fn abandon_transaction(&mut self) -> usize {
        if !std::mem::take(&mut self.in_multi) {
            return 0;
        }
        let mut dropped = 0;
        while let Some(req) = self.queue.pop_front() {
            dropped += 1;
            let end = req.first().is_some_and(|n| {
                n.eq_ignore_ascii_case(b"EXEC") || n.eq_ignore_ascii_case(b"DISCARD")
            });
            if end {
                break;
            }
        }
        dropped
    }

    pub fn active(&self) -> bool {
        !self.queue.is_empty() || !self.outstanding.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framer_splits_replies_at_any_point() {
        let all = b"+OK\r\n$3\r\nabc\r\n$-1\r\n:12\r\n*2\r\n$1\r\na\r\n:1\r\n-ERR x\r\n";
        for cut in 0..all.len() {
            let mut f = Framer::default();
            let mut got = Vec::new();
            f.push(&all[..cut]);
            while let Some(r) = f.next_reply().expect("valid") {
                got.push(r);
            }
            f.push(&all[cut..]);
            while let Some(r) = f.next_reply().expect("valid") {
                got.push(r);
            }
            assert_eq!(got.len(), 6, "cut at {cut}");
            assert_eq!(got.concat(), all.to_vec());
            assert!(f.is_empty());
        }
        let mut f = Framer::default();
        f.push(b"?what\r\n");
        assert!(f.next_reply().is_err());
    }
}
