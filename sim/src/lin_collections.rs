//! Linearizability of collection keys under a counting abstraction: a key is absent or
//! holds a list, set, hash or sorted set of some number of elements, and nothing else
//! is known. Every collection command's reply constrains that pair (SADD's count of
//! new members is at most the members named and is all of them on an absent key; SREM
//! removes at most what is there; LPUSH answers the new length; LRANGE's length follows
//! from the length and the indexes; ZRANK is below ZCARD), and the same Wing–Gong search
//! as the string spec (`crate::linearizability`) asks whether some order of the
//! operations inside their real-time windows explains every reply.
//!
//! It is written apart from the reference model and knows nothing of which members a
//! collection holds, so a reply that miscounts (a removal counted for a missing member,
//! an update counted as an addition, a range one short, a rank from one) is caught when
//! another reply contradicts the count, by a checker that does not share the model's
//! reading of the command.
//!
//! What it judges: keys of one host's first epoch (a restart's recovered collections
//! are the durability checker's question) that only ever saw the commands below. A key
//! named by any other command that may write (EXPIRE, RENAME, SORT STORE, SET, ...)
//! goes unjudged in that epoch, and so does every key after a SWAPDB. Queued commands
//! take effect at their EXEC, with the EXEC's window and the replies it carried.

use std::collections::{BTreeMap, BTreeSet};

use keel_core::resp::Value;

use crate::checkers::LinReport;
use crate::lin_scores::{self, MCmd, MObs, Scores};
use crate::linearizability::{LinOp, Spec};
use crate::net::ConnId;
use crate::workload::{Op, OpOutcome};

/// A collection's type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    List,
    Set,
    Hash,
    ZSet,
}

impl Kind {
    fn type_name(self) -> &'static [u8] {
        match self {
            Kind::List => b"list",
            Kind::Set => b"set",
            Kind::Hash => b"hash",
            Kind::ZSet => b"zset",
        }
    }
}

/// A live key: its type and how many elements it holds (never 0: an emptied
/// collection is deleted).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Coll {
    pub kind: Kind,
    pub card: u64,
}

pub type CState = Option<Coll>;

/// A collection command as the counting spec sees it (the reply is the `Obs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CCmd {
    /// LPUSH/RPUSH (`only_if_exists`: the X forms) of `n` elements: the new length.
    Push {
        n: u64,
        only_if_exists: bool,
    },
    /// SADD, HSET, plain ZADD (and its NX/GT/LT forms without CH or INCR) of `d`
    /// distinct members: how many were new (all of them on an absent key).
    Add {
        kind: Kind,
        d: u64,
    },
    /// ZADD with CH (no INCR) of `pairs` pairs naming `d` distinct members: added plus
    /// changed (a member named twice may count twice); `xx` adds none.
    AddCh {
        pairs: u64,
        d: u64,
        xx: bool,
    },
    /// ZADD NX/XX without CH: `xx` adds none, its reply is 0.
    AddXx {
        d: u64,
    },
    /// One member that may be new: ZINCRBY, HINCRBY, HINCRBYFLOAT, ZADD INCR (`xx`:
    /// never new); a nil reply changed nothing.
    AddUpToOne {
        kind: Kind,
        xx: bool,
    },
    /// HSETNX: 1 when the field was new.
    AddOne {
        kind: Kind,
    },
    /// HMSET of `d` distinct fields: +OK, and 0..=d of them new.
    AddSome {
        kind: Kind,
        d: u64,
    },
    /// SREM, HDEL, ZREM of `d` distinct members: how many were there.
    Remove {
        kind: Kind,
        d: u64,
    },
    /// SCARD, LLEN, HLEN, ZCARD.
    Card {
        kind: Kind,
    },
    /// SMEMBERS, HGETALL (`per` 2), HKEYS, HVALS: every element, `per` entries each.
    All {
        kind: Kind,
        per: u64,
    },
    /// LRANGE, ZRANGE by index (`per` 2 WITHSCORES).
    Range {
        kind: Kind,
        start: i64,
        stop: i64,
        per: u64,
    },
    /// LINDEX: nil exactly when the index is out of range.
    Index {
        index: i64,
    },
    /// LSET: +OK only on a live list with the index in range.
    SetAt {
        index: i64,
    },
    /// ZRANK, ZREVRANK: below the cardinality.
    Rank,
    /// SISMEMBER, HEXISTS (an integer), HGET, ZSCORE (a bulk): a member found means a
    /// live key of that type.
    Member {
        kind: Kind,
    },
    /// SMISMEMBER (ones), HMGET (non-nil), ZMSCORE: at most the cardinality found.
    Members {
        kind: Kind,
    },
    /// LPOP/RPOP/SPOP without a count: an element, or nil on an absent key.
    PopOne {
        kind: Kind,
    },
    /// ZPOPMIN/ZPOPMAX without a count: an empty array or one member and its score.
    ZPopOne,
    /// LPOP/RPOP/SPOP/ZPOPMIN/ZPOPMAX with a count: min(count, cardinality) elements.
    PopMany {
        kind: Kind,
        count: u64,
        per: u64,
    },
    /// A blocking pop or LMOVE/RPOPLPUSH/LMPOP/ZMPOP served from this key: `n` elements
    /// left it (`all`: the reply is what a count of `count` took, so min(count, card)).
    Served {
        kind: Kind,
        n: u64,
    },
    /// An LMPOP/ZMPOP/BLMPOP/BZMPOP that took `n` elements with a count of `count`.
    ServedMany {
        kind: Kind,
        n: u64,
        count: u64,
    },
    /// A blocking pop's timeout, an LMOVE's nil, an MPOP's nil: the key was empty.
    Empty {
        kind: Kind,
    },
    /// LMOVE/RPOPLPUSH/BLMOVE's destination: one element more (a list).
    PushOne,
    /// LMOVE with the same key as source and destination: a rotation.
    Rotate,
    /// SMOVE's source (1: the member left it) and destination (1: maybe new).
    MoveOut,
    MoveIn,
    /// LTRIM to [start, stop].
    Trim {
        start: i64,
        stop: i64,
    },
    /// LREM `count` (0: all): how many left.
    LRem {
        count: i64,
    },
    /// LINSERT: -1 (no pivot), 0 (no key) or the new length.
    Insert,
    /// SRANDMEMBER, HRANDFIELD, ZRANDMEMBER with a count (`per` 2 with values/scores).
    Random {
        kind: Kind,
        count: i64,
        per: u64,
    },
    /// ZCOUNT, ZLEXCOUNT: at most the cardinality.
    CountAtMost,
    /// ZRANGE's other forms, ZRANGEBYSCORE, ZREVRANGE*: at most every element.
    SomeOf {
        kind: Kind,
        per: u64,
    },
    /// DEL/UNLINK of this one key: 1 when it was live.
    Del,
    /// DEL of several keys, a flush: gone afterwards, whatever the reply.
    Clear,
    /// EXISTS of this one key.
    Exists,
    /// TYPE.
    Type,
}

/// What the client saw, reduced to what the counting spec reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Obs {
    Unknown,
    Ok,
    Int(i64),
    Nil,
    Bulk,
    Simple(Vec<u8>),
    /// An array of this many entries.
    Len(u64),
    /// HMGET/SMISMEMBER/ZMSCORE: how many entries found something.
    Found(u64),
}

/// The counting spec.
pub struct Counts;

fn live(kind: Kind, card: u64) -> CState {
    (card > 0).then_some(Coll { kind, card })
}

/// How many elements an index range holds, as LRANGE, ZRANGE and LTRIM compute it.
pub fn range_len(n: u64, start: i64, stop: i64) -> u64 {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let mut s = if start < 0 {
        start.saturating_add(n)
    } else {
        start
    };
    let mut e = if stop < 0 {
        stop.saturating_add(n)
    } else {
        stop
    };
    if s < 0 {
        s = 0;
    }
    if s > e || s >= n {
        return 0;
    }
    if e >= n {
        e = n - 1;
    }
    u64::try_from(e - s + 1).unwrap_or(0)
}

fn index_in_range(n: u64, index: i64) -> bool {
    let n = i64::try_from(n).unwrap_or(i64::MAX);
    let i = if index < 0 {
        index.saturating_add(n)
    } else {
        index
    };
    (0..n).contains(&i)
}

impl Spec for Counts {
    type State = CState;
    type Cmd = CCmd;
    type Out = Obs;

    fn initial() -> CState {
        None
    }

    fn show(state: &CState) -> String {
        match state {
            None => "(no key)".into(),
            Some(c) => format!("{:?} of {}", c.kind, c.card),
        }
    }

    fn step(state: &CState, op: &LinOp<CCmd, Obs>) -> Vec<CState> {
        step(*state, &op.cmd, &op.out)
    }
}

/// Every state `cmd` may leave behind from `state` with the reply `out` (Unknown: any
/// reply it could have had).
pub fn step(state: CState, cmd: &CCmd, out: &Obs) -> Vec<CState> {
    let card = state.map_or(0, |c| c.card);
    let is = |kind: Kind| state.is_none_or(|c| c.kind == kind);
    let unknown = *out == Obs::Unknown;
    let int = |want: u64| unknown || *out == Obs::Int(want as i64);
    let mut next: Vec<CState> = Vec::new();
    let mut keep = |s: CState, ok: bool| {
        if ok && !next.contains(&s) {
            next.push(s);
        }
    };
    match *cmd {
        CCmd::Push { n, only_if_exists } => {
            if !is(Kind::List) {
            } else if state.is_none() && only_if_exists {
                keep(None, int(0));
            } else {
                let len = card.saturating_add(n);
                keep(live(Kind::List, len), int(len));
            }
        }
        CCmd::Add { kind, d } => {
            if !is(kind) {
            } else if state.is_none() {
                keep(live(kind, d), int(d));
            } else {
                for r in 0..=d {
                    keep(live(kind, card + r), int(r));
                }
            }
        }
        CCmd::AddXx { d: _ } => {
            if is(Kind::ZSet) {
                keep(state, int(0));
            }
        }
        CCmd::AddCh { pairs, d, xx } => {
            if !is(Kind::ZSet) {
            } else if state.is_none() {
                if xx {
                    keep(None, int(0));
                } else {
                    // Every member is new; one named again may count once more.
                    for r in d..=pairs {
                        keep(live(Kind::ZSet, d), int(r));
                    }
                }
            } else {
                for r in 0..=pairs {
                    if !int(r) {
                        continue;
                    }
                    let most = if xx { 0 } else { r.min(d) };
                    for added in 0..=most {
                        keep(live(Kind::ZSet, card + added), true);
                    }
                }
            }
        }
        CCmd::AddUpToOne { kind, xx } => {
            if !is(kind) {
            } else {
                let nil = unknown || *out == Obs::Nil;
                let value = unknown || !matches!(out, Obs::Nil);
                if state.is_none() {
                    // A nil on an absent key: ZADD XX INCR (nothing added).
                    keep(None, nil && xx);
                    keep(live(kind, 1), value && !xx);
                } else {
                    keep(state, nil || value);
                    keep(live(kind, card + 1), value && !xx);
                }
            }
        }
        CCmd::AddOne { kind } => {
            if !is(kind) {
            } else if state.is_none() {
                keep(live(kind, 1), int(1));
            } else {
                keep(state, int(0));
                keep(live(kind, card + 1), int(1));
            }
        }
        CCmd::AddSome { kind, d } => {
            let ok = unknown || *out == Obs::Ok;
            if !is(kind) || !ok {
            } else if state.is_none() {
                keep(live(kind, d), true);
            } else {
                for r in 0..=d {
                    keep(live(kind, card + r), true);
                }
            }
        }
        CCmd::Remove { kind, d } => {
            if is(kind) {
                for r in 0..=d.min(card) {
                    keep(live(kind, card - r), int(r));
                }
            }
        }
        CCmd::Card { kind } => {
            if is(kind) {
                keep(state, int(card));
            }
        }
        CCmd::All { kind, per } => {
            if is(kind) {
                keep(state, unknown || *out == Obs::Len(card * per));
            }
        }
        CCmd::Range {
            kind,
            start,
            stop,
            per,
        } => {
            if is(kind) {
                let want = range_len(card, start, stop) * per;
                keep(state, unknown || *out == Obs::Len(want));
            }
        }
        CCmd::Index { index } => {
            if is(Kind::List) {
                let found = index_in_range(card, index);
                let ok = unknown || (*out == Obs::Nil) != found;
                keep(state, ok);
            }
        }
        CCmd::SetAt { index } => {
            if is(Kind::List) && index_in_range(card, index) {
                keep(state, unknown || *out == Obs::Ok);
            }
        }
        CCmd::Rank => {
            if is(Kind::ZSet) {
                let ok = match out {
                    Obs::Int(r) => u64::try_from(*r).is_ok_and(|r| r < card),
                    _ => true,
                };
                keep(state, ok);
            }
        }
        CCmd::Member { kind } => {
            if is(kind) {
                let found = matches!(out, Obs::Int(1) | Obs::Bulk);
                keep(state, !found || state.is_some());
            }
        }
        CCmd::Members { kind } => {
            if is(kind) {
                let ok = match out {
                    Obs::Found(n) => *n <= card,
                    _ => true,
                };
                keep(state, ok);
            }
        }
        CCmd::PopOne { kind } => {
            if !is(kind) {
            } else if state.is_none() {
                keep(None, unknown || *out == Obs::Nil);
            } else {
                keep(live(kind, card - 1), unknown || *out == Obs::Bulk);
            }
        }
        CCmd::ZPopOne => {
            if !is(Kind::ZSet) {
            } else if state.is_none() {
                keep(None, unknown || *out == Obs::Len(0));
            } else {
                keep(live(Kind::ZSet, card - 1), unknown || *out == Obs::Len(2));
            }
        }
        CCmd::PopMany { kind, count, per } => {
            if is(kind) {
                let n = count.min(card);
                let ok = match out {
                    Obs::Unknown => true,
                    // LPOP with a count on an absent key: a null array.
                    Obs::Nil => state.is_none(),
                    Obs::Len(l) => *l == n * per,
                    _ => false,
                };
                keep(live(kind, card - n), ok);
            }
        }
        CCmd::Served { kind, n } => {
            if is(kind) && state.is_some() && n <= card {
                keep(live(kind, card - n), true);
            }
        }
        CCmd::ServedMany { kind, n, count } => {
            if is(kind) && state.is_some() && n == count.min(card) {
                keep(live(kind, card - n), true);
            }
        }
        // A key of another type does not serve (a blocked BLPOP stays blocked when
        // its key becomes a set).
        CCmd::Empty { kind } => keep(state, state.is_none_or(|c| c.kind != kind)),
        CCmd::PushOne => {
            if is(Kind::List) {
                keep(live(Kind::List, card + 1), true);
            }
        }
        CCmd::Rotate => {
            if is(Kind::List) {
                let ok = match out {
                    Obs::Nil => state.is_none(),
                    Obs::Bulk => state.is_some(),
                    _ => unknown,
                };
                keep(state, ok);
            }
        }
        CCmd::MoveOut => {
            if is(Kind::Set) {
                keep(state, unknown || *out == Obs::Int(0));
                if state.is_some() {
                    keep(live(Kind::Set, card - 1), int(1));
                }
            }
        }
        CCmd::MoveIn => {
            // An absent source answers 0 before the destination's type is looked at.
            keep(state, unknown || *out == Obs::Int(0));
            if is(Kind::Set) {
                keep(state, int(1));
                keep(live(Kind::Set, card + 1), int(1));
            }
        }
        CCmd::Trim { start, stop } => {
            if is(Kind::List) {
                let kept = range_len(card, start, stop);
                keep(live(Kind::List, kept), unknown || *out == Obs::Ok);
            }
        }
        CCmd::LRem { count } => {
            if is(Kind::List) {
                let most = if count == 0 {
                    card
                } else {
                    card.min(count.unsigned_abs())
                };
                for r in 0..=most {
                    keep(live(Kind::List, card - r), int(r));
                }
            }
        }
        CCmd::Insert => {
            if !is(Kind::List) {
            } else if state.is_none() {
                keep(None, int(0));
            } else {
                keep(state, unknown || *out == Obs::Int(-1));
                keep(live(Kind::List, card + 1), int(card + 1));
            }
        }
        CCmd::Random { kind, count, per } => {
            if is(kind) {
                let want = if count >= 0 {
                    card.min(count.unsigned_abs())
                } else if state.is_some() {
                    count.unsigned_abs()
                } else {
                    0
                };
                keep(state, unknown || *out == Obs::Len(want * per));
            }
        }
        CCmd::CountAtMost => {
            if is(Kind::ZSet) {
                let ok = match out {
                    Obs::Int(n) => u64::try_from(*n).is_ok_and(|n| n <= card),
                    _ => true,
                };
                keep(state, ok);
            }
        }
        CCmd::SomeOf { kind, per } => {
            if is(kind) {
                let ok = match out {
                    Obs::Len(n) => *n <= card * per,
                    _ => true,
                };
                keep(state, ok);
            }
        }
        CCmd::Del => keep(None, int(u64::from(state.is_some()))),
        CCmd::Clear => keep(None, true),
        CCmd::Exists => keep(state, int(u64::from(state.is_some()))),
        CCmd::Type => {
            let want: &[u8] = state.map_or(b"none", |c| c.kind.type_name());
            keep(state, unknown || *out == Obs::Simple(want.to_vec()));
        }
    }
    next
}

fn upper(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
}

fn int_arg(b: Option<&Vec<u8>>) -> Option<i64> {
    let s = std::str::from_utf8(b?).ok()?;
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

fn distinct<'a>(items: impl Iterator<Item = &'a Vec<u8>>) -> u64 {
    items.collect::<BTreeSet<_>>().len() as u64
}

/// A reply, decoded (None: no reply, or one that does not decode whole).
fn decode(reply: &[u8]) -> Option<Value> {
    let (value, len) = keel_core::resp::decode(reply).ok()??;
    (len == reply.len()).then_some(value)
}

fn obs_of(value: &Value) -> Obs {
    match value {
        Value::Simple(s) if s == b"OK" => Obs::Ok,
        Value::Simple(s) => Obs::Simple(s.clone()),
        Value::Int(n) => Obs::Int(*n),
        Value::Bulk(_) | Value::Double(_) => Obs::Bulk,
        Value::NullBulk | Value::Null | Value::NullArray => Obs::Nil,
        Value::Array(items) | Value::Set(items) => Obs::Len(items.len() as u64),
        Value::Map(pairs) => Obs::Len(2 * pairs.len() as u64),
        _ => Obs::Unknown,
    }
}

/// What a request does to the keys this checker follows.
#[derive(Debug)]
pub enum Projection {
    /// Nothing this checker follows changes.
    None,
    /// Per-key operations, with what each saw.
    Ops(Vec<(Vec<u8>, CCmd, Obs)>),
    /// These keys went through a command the spec does not know: unjudged.
    Taint(Vec<Vec<u8>>),
    /// FLUSHALL (`all`) or FLUSHDB.
    Flush { all: bool },
    /// Every key of the epoch is unjudged from here (SWAPDB).
    TaintAll,
}

/// Read-only commands of the workload whose replies this spec does not read.
const READ_ONLY: &[&str] = &[
    "GET",
    "MGET",
    "STRLEN",
    "GETRANGE",
    "SUBSTR",
    "LCS",
    "TTL",
    "PTTL",
    "EXPIRETIME",
    "PEXPIRETIME",
    "LPOS",
    "SINTER",
    "SUNION",
    "SDIFF",
    "SINTERCARD",
    "ZDIFF",
    "ZINTER",
    "ZUNION",
    "ZINTERCARD",
    "HSTRLEN",
    "DUMP",
    "DBSIZE",
    "KEYS",
    "SCAN",
    "SSCAN",
    "HSCAN",
    "ZSCAN",
    "RANDOMKEY",
    "PING",
    "ECHO",
    "WATCH",
    "UNWATCH",
    "WAIT",
    "TOUCH",
    "PUBLISH",
    "SPUBLISH",
    "PUBSUB",
    "SUBSCRIBE",
    "UNSUBSCRIBE",
    "PSUBSCRIBE",
    "PUNSUBSCRIBE",
    "SSUBSCRIBE",
    "SUNSUBSCRIBE",
    "OBJECT",
    "MEMORY",
    "EXISTS",
    "SRANDMEMBER",
    "HRANDFIELD",
    "ZRANDMEMBER",
];

/// Projects one request with its reply (None: outcome unknown) onto the keys it
/// touches. An error reply never reaches here (it changed nothing).
pub fn project(request: &[Vec<u8>], reply: Option<&Value>) -> Projection {
    let Some(first) = request.first() else {
        return Projection::None;
    };
    let name = upper(first);
    let obs = reply.map_or(Obs::Unknown, obs_of);
    let key = || request.get(1).cloned().unwrap_or_default();
    let args = request.len();
    let one = |cmd: CCmd| Projection::Ops(vec![(key(), cmd, obs.clone())]);
    let taint = || Projection::Taint(request.iter().skip(1).cloned().collect());
    let per = |flag: &str| {
        if request
            .iter()
            .skip(2)
            .any(|a| a.eq_ignore_ascii_case(flag.as_bytes()))
        {
            2
        } else {
            1
        }
    };
    match name.as_str() {
        "LPUSH" | "RPUSH" | "LPUSHX" | "RPUSHX" if args >= 3 => one(CCmd::Push {
            n: (args - 2) as u64,
            only_if_exists: name.ends_with('X'),
        }),
        "SADD" if args >= 3 => one(CCmd::Add {
            kind: Kind::Set,
            d: distinct(request.iter().skip(2)),
        }),
        "HSET" if args >= 4 && args.is_multiple_of(2) => one(CCmd::Add {
            kind: Kind::Hash,
            d: distinct(request.iter().skip(2).step_by(2)),
        }),
        "HMSET" if args >= 4 && args.is_multiple_of(2) => one(CCmd::AddSome {
            kind: Kind::Hash,
            d: distinct(request.iter().skip(2).step_by(2)),
        }),
        "HSETNX" if args == 4 => one(CCmd::AddOne { kind: Kind::Hash }),
        "HINCRBY" | "HINCRBYFLOAT" if args == 4 => one(CCmd::AddUpToOne {
            kind: Kind::Hash,
            xx: false,
        }),
        "ZINCRBY" if args == 4 => one(CCmd::AddUpToOne {
            kind: Kind::ZSet,
            xx: false,
        }),
        "ZADD" if args >= 4 => project_zadd(request, obs),
        "SREM" | "HDEL" | "ZREM" if args >= 3 => one(CCmd::Remove {
            kind: match name.as_str() {
                "SREM" => Kind::Set,
                "HDEL" => Kind::Hash,
                _ => Kind::ZSet,
            },
            d: distinct(request.iter().skip(2)),
        }),
        "SCARD" | "LLEN" | "HLEN" | "ZCARD" if args == 2 => one(CCmd::Card {
            kind: match name.as_str() {
                "SCARD" => Kind::Set,
                "LLEN" => Kind::List,
                "HLEN" => Kind::Hash,
                _ => Kind::ZSet,
            },
        }),
        "SMEMBERS" if args == 2 => one(CCmd::All {
            kind: Kind::Set,
            per: 1,
        }),
        "HGETALL" if args == 2 => one(CCmd::All {
            kind: Kind::Hash,
            per: 2,
        }),
        "HKEYS" | "HVALS" if args == 2 => one(CCmd::All {
            kind: Kind::Hash,
            per: 1,
        }),
        "LRANGE" if args == 4 => match (int_arg(request.get(2)), int_arg(request.get(3))) {
            (Some(start), Some(stop)) => one(CCmd::Range {
                kind: Kind::List,
                start,
                stop,
                per: 1,
            }),
            _ => Projection::None,
        },
        "ZRANGE" | "ZREVRANGE" => {
            let plain = request.len() == 4 || (request.len() == 5 && per("WITHSCORES") == 2);
            match (int_arg(request.get(2)), int_arg(request.get(3))) {
                (Some(start), Some(stop)) if plain => one(CCmd::Range {
                    kind: Kind::ZSet,
                    start,
                    stop,
                    per: per("WITHSCORES"),
                }),
                _ if args >= 4 => one(CCmd::SomeOf {
                    kind: Kind::ZSet,
                    per: per("WITHSCORES"),
                }),
                _ => Projection::None,
            }
        }
        "ZRANGEBYSCORE" | "ZREVRANGEBYSCORE" | "ZRANGEBYLEX" | "ZREVRANGEBYLEX" if args >= 4 => {
            one(CCmd::SomeOf {
                kind: Kind::ZSet,
                per: per("WITHSCORES"),
            })
        }
        "ZCOUNT" | "ZLEXCOUNT" if args == 4 => one(CCmd::CountAtMost),
        "LINDEX" if args == 3 => match int_arg(request.get(2)) {
            Some(index) => one(CCmd::Index { index }),
            None => Projection::None,
        },
        "LSET" if args == 4 => match int_arg(request.get(2)) {
            Some(index) => one(CCmd::SetAt { index }),
            None => taint(),
        },
        "ZRANK" | "ZREVRANK" if args == 3 => one(CCmd::Rank),
        "SISMEMBER" if args == 3 => one(CCmd::Member { kind: Kind::Set }),
        "HEXISTS" | "HGET" if args == 3 => one(CCmd::Member { kind: Kind::Hash }),
        "ZSCORE" if args == 3 => one(CCmd::Member { kind: Kind::ZSet }),
        "SMISMEMBER" | "HMGET" | "ZMSCORE" if args >= 3 => {
            // How many distinct members were found (one may be asked twice).
            let found = match reply {
                Some(Value::Array(items)) => Obs::Found(
                    request
                        .iter()
                        .skip(2)
                        .zip(items)
                        .filter(|(_, v)| {
                            !matches!(v, Value::Int(0) | Value::NullBulk | Value::Null)
                        })
                        .map(|(m, _)| m)
                        .collect::<BTreeSet<_>>()
                        .len() as u64,
                ),
                _ => Obs::Unknown,
            };
            let kind = match name.as_str() {
                "SMISMEMBER" => Kind::Set,
                "HMGET" => Kind::Hash,
                _ => Kind::ZSet,
            };
            Projection::Ops(vec![(key(), CCmd::Members { kind }, found)])
        }
        "LPOP" | "RPOP" | "SPOP" | "ZPOPMIN" | "ZPOPMAX" if args == 2 || args == 3 => {
            let kind = match name.as_str() {
                "SPOP" => Kind::Set,
                "ZPOPMIN" | "ZPOPMAX" => Kind::ZSet,
                _ => Kind::List,
            };
            match (args, int_arg(request.get(2))) {
                (2, _) if kind == Kind::ZSet => one(CCmd::ZPopOne),
                (2, _) => one(CCmd::PopOne { kind }),
                (_, Some(count)) if count > 0 => one(CCmd::PopMany {
                    kind,
                    count: count.unsigned_abs(),
                    per: if kind == Kind::ZSet { 2 } else { 1 },
                }),
                // A zero or refused count: nothing this spec reads.
                _ => Projection::None,
            }
        }
        "SRANDMEMBER" | "HRANDFIELD" | "ZRANDMEMBER" if args >= 3 => {
            let kind = match name.as_str() {
                "SRANDMEMBER" => Kind::Set,
                "HRANDFIELD" => Kind::Hash,
                _ => Kind::ZSet,
            };
            let flag = if kind == Kind::Hash {
                "WITHVALUES"
            } else {
                "WITHSCORES"
            };
            match int_arg(request.get(2)) {
                Some(count) if args == 3 || (args == 4 && per(flag) == 2) => one(CCmd::Random {
                    kind,
                    count,
                    per: per(flag),
                }),
                _ => Projection::None,
            }
        }
        "LTRIM" if args == 4 => match (int_arg(request.get(2)), int_arg(request.get(3))) {
            (Some(start), Some(stop)) => one(CCmd::Trim { start, stop }),
            _ => taint(),
        },
        "LREM" if args == 4 => match int_arg(request.get(2)) {
            Some(count) => one(CCmd::LRem { count }),
            None => taint(),
        },
        "LINSERT" if args == 5 => one(CCmd::Insert),
        "DEL" | "UNLINK" if args == 2 => one(CCmd::Del),
        "DEL" | "UNLINK" if args > 2 => Projection::Ops(
            request
                .iter()
                .skip(1)
                .map(|k| (k.clone(), CCmd::Clear, Obs::Unknown))
                .collect(),
        ),
        "EXISTS" if args == 2 => one(CCmd::Exists),
        "TYPE" if args == 2 => one(CCmd::Type),
        "LMOVE" | "RPOPLPUSH" | "BLMOVE" | "BRPOPLPUSH" if args >= 3 => {
            project_move(request, reply)
        }
        "SMOVE" if args == 4 => {
            let (src, dst) = (key(), request.get(2).cloned().unwrap_or_default());
            if src == dst {
                one(CCmd::Member { kind: Kind::Set })
            } else {
                Projection::Ops(vec![
                    (src, CCmd::MoveOut, obs.clone()),
                    (dst, CCmd::MoveIn, obs),
                ])
            }
        }
        "BLPOP" | "BRPOP" | "BZPOPMIN" | "BZPOPMAX" if args >= 3 => {
            let kind = if name.starts_with("BZ") {
                Kind::ZSet
            } else {
                Kind::List
            };
            let keys = &request[1..args - 1];
            project_served(keys, kind, reply, |_| Some(1))
        }
        "LMPOP" | "ZMPOP" | "BLMPOP" | "BZMPOP" => project_mpop(request, reply),
        "FLUSHALL" => Projection::Flush { all: true },
        "FLUSHDB" => Projection::Flush { all: false },
        "SWAPDB" => Projection::TaintAll,
        _ if READ_ONLY.iter().any(|c| *c == name) => Projection::None,
        _ => taint(),
    }
}

fn project_zadd(request: &[Vec<u8>], obs: Obs) -> Projection {
    let key = request.get(1).cloned().unwrap_or_default();
    let mut i = 2;
    let (mut nx, mut xx, mut ch, mut incr) = (false, false, false, false);
    while let Some(a) = request.get(i) {
        match upper(a).as_str() {
            "NX" => nx = true,
            "XX" => xx = true,
            "GT" | "LT" => {}
            "CH" => ch = true,
            "INCR" => incr = true,
            _ => break,
        }
        i += 1;
    }
    let pairs = &request[i.min(request.len())..];
    if pairs.is_empty() || !pairs.len().is_multiple_of(2) {
        return Projection::None;
    }
    let d = distinct(pairs.iter().skip(1).step_by(2));
    let cmd = if incr {
        CCmd::AddUpToOne {
            kind: Kind::ZSet,
            xx,
        }
    } else if ch {
        CCmd::AddCh {
            pairs: (pairs.len() / 2) as u64,
            d,
            xx,
        }
    } else if xx {
        CCmd::AddXx { d }
    } else {
        // NX, GT and LT add every new member and count only those.
        let _ = nx;
        CCmd::Add {
            kind: Kind::ZSet,
            d,
        }
    };
    Projection::Ops(vec![(key, cmd, obs)])
}

/// A pop that names the key it served from in its reply (`[key, ...]`) or nil: the
/// served key lost `taken(reply)` elements; on nil every key was empty; unknown: any
/// of them may have served (each is judged on its own).
fn project_served(
    keys: &[Vec<u8>],
    kind: Kind,
    reply: Option<&Value>,
    taken: impl Fn(&[Value]) -> Option<u64>,
) -> Projection {
    match reply {
        None => Projection::Ops(
            keys.iter()
                .map(|k| (k.clone(), CCmd::Served { kind, n: 1 }, Obs::Unknown))
                .collect(),
        ),
        Some(Value::NullArray | Value::Null | Value::NullBulk) => Projection::Ops(
            keys.iter()
                .map(|k| (k.clone(), CCmd::Empty { kind }, Obs::Ok))
                .collect(),
        ),
        Some(Value::Array(items)) => match (items.first(), taken(items)) {
            (Some(Value::Bulk(k)), Some(n)) if keys.contains(k) => {
                Projection::Ops(vec![(k.clone(), CCmd::Served { kind, n }, Obs::Ok)])
            }
            _ => Projection::Taint(keys.to_vec()),
        },
        Some(_) => Projection::Taint(keys.to_vec()),
    }
}

fn project_move(request: &[Vec<u8>], reply: Option<&Value>) -> Projection {
    let (src, dst) = match (request.get(1), request.get(2)) {
        (Some(s), Some(d)) => (s.clone(), d.clone()),
        _ => return Projection::None,
    };
    if src == dst {
        let obs = reply.map_or(Obs::Unknown, obs_of);
        return Projection::Ops(vec![(src, CCmd::Rotate, obs)]);
    }
    match reply {
        None => Projection::Ops(vec![
            (
                src,
                CCmd::Served {
                    kind: Kind::List,
                    n: 1,
                },
                Obs::Unknown,
            ),
            (dst, CCmd::PushOne, Obs::Unknown),
        ]),
        Some(Value::Bulk(_)) => Projection::Ops(vec![
            (
                src,
                CCmd::Served {
                    kind: Kind::List,
                    n: 1,
                },
                Obs::Ok,
            ),
            (dst, CCmd::PushOne, Obs::Ok),
        ]),
        Some(Value::NullBulk | Value::Null | Value::NullArray) => {
            Projection::Ops(vec![(src, CCmd::Empty { kind: Kind::List }, Obs::Ok)])
        }
        Some(_) => Projection::Taint(vec![src, dst]),
    }
}

/// LMPOP/ZMPOP (and their blocking forms): `[timeout] numkeys key... dir [COUNT c]`.
fn project_mpop(request: &[Vec<u8>], reply: Option<&Value>) -> Projection {
    let name = upper(request.first().map_or(&b""[..], |v| v));
    let blocking = name.starts_with('B');
    let kind = if name.contains('Z') {
        Kind::ZSet
    } else {
        Kind::List
    };
    let at = if blocking { 2 } else { 1 };
    let Some(numkeys) = int_arg(request.get(at)).and_then(|n| usize::try_from(n).ok()) else {
        return Projection::None;
    };
    let Some(keys) = request.get(at + 1..at + 1 + numkeys) else {
        return Projection::None;
    };
    let rest = &request[(at + 1 + numkeys).min(request.len())..];
    let count = match rest {
        [_dir] => 1,
        [_dir, c, n] if c.eq_ignore_ascii_case(b"COUNT") => match int_arg(Some(n)) {
            Some(n) if n > 0 => n.unsigned_abs(),
            _ => return Projection::None,
        },
        _ => return Projection::None,
    };
    match reply {
        Some(Value::Array(items)) => match (items.first(), items.get(1)) {
            (Some(Value::Bulk(k)), Some(Value::Array(taken))) if keys.contains(k) => {
                Projection::Ops(vec![(
                    k.clone(),
                    CCmd::ServedMany {
                        kind,
                        n: taken.len() as u64,
                        count,
                    },
                    Obs::Ok,
                )])
            }
            _ => Projection::Taint(keys.to_vec()),
        },
        _ => project_served(keys, kind, reply, |_| None),
    }
}

/// One connection's state as this checker follows it.
#[derive(Debug, Default)]
struct ConnState {
    /// None: a SELECT of unknown outcome.
    db: Option<u32>,
    /// The queued requests of an open MULTI, and whether one was refused (EXECABORT).
    queue: Option<(Vec<usize>, bool)>,
}

/// (host, epoch, database, key).
type PartKey = (usize, u32, u32, Vec<u8>);
/// A flush: (host, epoch, its database or None for all, the op).
type FlushOp = (usize, u32, Option<u32>, LinOp<CCmd, Obs>);
type MemberOp = LinOp<MCmd, MObs>;

struct Judge<'a> {
    history: &'a [Op],
    parts: BTreeMap<PartKey, Vec<LinOp<CCmd, Obs>>>,
    /// Keys (by name, any database) unjudged per (host, epoch).
    tainted: BTreeSet<(usize, u32, Vec<u8>)>,
    tainted_epochs: BTreeSet<(usize, u32)>,
    last_on_conn: BTreeMap<(ConnId, u32, Vec<u8>), usize>,
    /// Flushes per (host, epoch): (database or all, the op).
    flushes: Vec<FlushOp>,
    next_id: usize,
    /// Sorted-set member registers (`crate::lin_scores`), per (part, member).
    members: BTreeMap<(PartKey, Vec<u8>), Vec<MemberOp>>,
    last_member_on_conn: BTreeMap<(ConnId, u32, Vec<u8>, Vec<u8>), usize>,
    /// Commands on every member of a key but those listed.
    member_broadcasts: Vec<(PartKey, MemberOp, Vec<Vec<u8>>)>,
}

impl Judge<'_> {
    /// Records request `req` (of history op `op`) with `reply` (None: unknown) as one
    /// or more spec operations in the window [call, ret].
    fn record(
        &mut self,
        op: &Op,
        db: Option<u32>,
        req: &[Vec<u8>],
        reply: Option<&Value>,
        ret: Option<u64>,
        hint: u64,
    ) {
        let part = (op.host, op.epoch);
        if let Some(db) = db {
            self.record_members(op, db, req, reply, ret, hint);
        }
        match project(req, reply) {
            Projection::None => {}
            Projection::TaintAll => {
                self.tainted_epochs.insert(part);
            }
            Projection::Taint(keys) => {
                for k in keys {
                    self.tainted.insert((op.host, op.epoch, k));
                }
            }
            Projection::Flush { all } => {
                if !all && db.is_none() {
                    self.tainted_epochs.insert(part);
                    return;
                }
                let id = self.fresh_id();
                let scope = if all { None } else { db };
                let lin = LinOp {
                    id,
                    call: op.invoke_step,
                    ret,
                    wall_lo_ms: 0,
                    wall_hi_ms: 0,
                    after: None,
                    hint,
                    cmd: CCmd::Clear,
                    out: if ret.is_some() { Obs::Ok } else { Obs::Unknown },
                };
                self.flushes.push((op.host, op.epoch, scope, lin));
            }
            Projection::Ops(ops) => {
                let Some(db) = db else {
                    for (k, _, _) in ops {
                        self.tainted.insert((op.host, op.epoch, k));
                    }
                    return;
                };
                for (key, cmd, obs) in ops {
                    let id = self.fresh_id();
                    let out = if ret.is_none() { Obs::Unknown } else { obs };
                    let after = self.last_on_conn.insert((op.conn, db, key.clone()), id);
                    self.parts
                        .entry((op.host, op.epoch, db, key))
                        .or_default()
                        .push(LinOp {
                            id,
                            call: op.invoke_step,
                            ret,
                            wall_lo_ms: 0,
                            wall_hi_ms: 0,
                            after,
                            hint,
                            cmd,
                            out,
                        });
                }
            }
        }
    }

    fn record_members(
        &mut self,
        op: &Op,
        db: u32,
        req: &[Vec<u8>],
        reply: Option<&Value>,
        ret: Option<u64>,
        hint: u64,
    ) {
        let projected = lin_scores::project(req, reply);
        let lin = |id: usize, after: Option<usize>, cmd: MCmd, obs: MObs| LinOp {
            id,
            call: op.invoke_step,
            ret,
            wall_lo_ms: 0,
            wall_hi_ms: 0,
            after,
            hint,
            cmd,
            out: if ret.is_none() { MObs::Unknown } else { obs },
        };
        for (key, member, cmd, obs) in projected.ops {
            let id = self.fresh_id();
            let after = self
                .last_member_on_conn
                .insert((op.conn, db, key.clone(), member.clone()), id);
            self.members
                .entry(((op.host, op.epoch, db, key), member))
                .or_default()
                .push(lin(id, after, cmd, obs));
        }
        for (key, cmd, obs, except) in projected.broadcasts {
            let id = self.fresh_id();
            self.member_broadcasts.push((
                (op.host, op.epoch, db, key),
                lin(id, None, cmd, obs),
                except,
            ));
        }
    }

    fn fresh_id(&mut self) -> usize {
        self.next_id += 1;
        self.next_id
    }
}

/// Judges every collection key of a run's history (see the module comment for which).
pub(crate) fn check_collections(history: &[Op]) -> LinReport {
    let mut judge = Judge {
        history,
        parts: BTreeMap::new(),
        tainted: BTreeSet::new(),
        tainted_epochs: BTreeSet::new(),
        last_on_conn: BTreeMap::new(),
        flushes: Vec::new(),
        next_id: 0,
        members: BTreeMap::new(),
        last_member_on_conn: BTreeMap::new(),
        member_broadcasts: Vec::new(),
    };
    let mut conns: BTreeMap<ConnId, ConnState> = BTreeMap::new();
    for (i, op) in judge.history.iter().enumerate() {
        // A restart's recovered collections are not followed: later epochs go unjudged.
        if op.epoch > 0 {
            continue;
        }
        let conn = conns.entry(op.conn).or_insert(ConnState {
            db: Some(0),
            queue: None,
        });
        let name = op.request.first().map(|n| upper(n)).unwrap_or_default();
        let ret = op.complete_step.filter(|_| op.outcome == OpOutcome::Ok);
        let value = match op.outcome {
            OpOutcome::Ok => decode(&op.reply),
            _ => None,
        };
        let hint = op.run_seq.unwrap_or(u64::MAX / 128).saturating_mul(64);
        if let Some((queue, refused)) = conn.queue.as_mut() {
            match name.as_str() {
                "EXEC" => {}
                "DISCARD" => {
                    conn.queue = None;
                    continue;
                }
                "RESET" => {
                    conn.queue = None;
                    conn.db = Some(0);
                    continue;
                }
                "MULTI" | "WATCH" => continue,
                _ => {
                    match op.outcome {
                        OpOutcome::Ok => queue.push(i),
                        OpOutcome::Fail => *refused = true,
                        // Queued or not: the EXEC decides (an unknown EXEC is judged
                        // with every queued request unknown).
                        OpOutcome::Unknown | OpOutcome::Pending => queue.push(i),
                    }
                    continue;
                }
            }
            // EXEC.
            let Some((queue, refused)) = conn.queue.take() else {
                continue;
            };
            let replies: Option<Vec<Value>> = match (op.outcome, value) {
                (OpOutcome::Ok, Some(Value::Array(items))) if !refused => {
                    if items.len() != queue.len() {
                        // Not this checker's to judge (the model's); unjudged.
                        for &q in &queue {
                            for k in history[q].request.iter().skip(1) {
                                judge.tainted.insert((op.host, op.epoch, k.clone()));
                            }
                        }
                        continue;
                    }
                    Some(items)
                }
                (OpOutcome::Unknown | OpOutcome::Pending, _) if !refused => None,
                // Aborted (WATCH, EXECABORT) or refused: nothing ran.
                _ => continue,
            };
            for (n, &q) in queue.iter().enumerate() {
                let req = &history[q].request;
                let reply = replies.as_ref().and_then(|r| r.get(n));
                let qname = req.first().map(|n| upper(n)).unwrap_or_default();
                if qname == "SELECT" {
                    conn.db = match reply {
                        Some(Value::Simple(_)) => {
                            int_arg(req.get(1)).and_then(|d| u32::try_from(d).ok())
                        }
                        Some(_) => conn.db,
                        None => None,
                    };
                    continue;
                }
                if matches!(reply, Some(Value::Error(_))) {
                    continue;
                }
                let db = conn.db;
                let ret = ret.filter(|_| replies.is_some());
                judge.record(op, db, req, reply, ret, hint + n as u64);
            }
            continue;
        }
        match name.as_str() {
            "MULTI" => {
                conn.queue = Some((Vec::new(), false));
                continue;
            }
            "SELECT" => {
                conn.db = match op.outcome {
                    OpOutcome::Ok => int_arg(op.request.get(1)).and_then(|d| u32::try_from(d).ok()),
                    OpOutcome::Fail => conn.db,
                    _ => None,
                };
                continue;
            }
            "RESET" => {
                conn.db = if op.outcome == OpOutcome::Ok {
                    Some(0)
                } else {
                    None
                };
                continue;
            }
            _ => {}
        }
        if op.outcome == OpOutcome::Fail {
            continue;
        }
        let db = conn.db;
        judge.record(op, db, &op.request, value.as_ref(), ret, hint);
    }
    let Judge {
        mut parts,
        tainted,
        tainted_epochs,
        flushes,
        mut members,
        member_broadcasts,
        ..
    } = judge;
    let judged = |(host, epoch, _, key): &PartKey| {
        !tainted_epochs.contains(&(*host, *epoch))
            && !tainted.contains(&(*host, *epoch, key.clone()))
    };
    parts.retain(|part, _| judged(part));
    members.retain(|(part, _), _| judged(part));
    for (host, epoch, scope, flush) in &flushes {
        for ((h, e, db, _), ops) in parts.iter_mut() {
            if (*h, *e) == (*host, *epoch) && scope.is_none_or(|d| d == *db) {
                ops.push(flush.clone());
            }
        }
        for (((h, e, db, _), _), ops) in members.iter_mut() {
            if (*h, *e) == (*host, *epoch) && scope.is_none_or(|d| d == *db) {
                ops.push(LinOp {
                    id: flush.id,
                    call: flush.call,
                    ret: flush.ret,
                    wall_lo_ms: 0,
                    wall_hi_ms: 0,
                    after: None,
                    hint: flush.hint,
                    cmd: MCmd::Clear,
                    out: if flush.ret.is_some() {
                        MObs::Ran
                    } else {
                        MObs::Unknown
                    },
                });
            }
        }
    }
    for (part, op, except) in member_broadcasts {
        for ((p, member), ops) in members.iter_mut() {
            if *p == part && !except.contains(member) {
                ops.push(op.clone());
            }
        }
    }
    let mut report = LinReport {
        histories: parts.len() + members.len(),
        ..LinReport::default()
    };
    for (((host, epoch, db, key), member), ops) in members {
        report.judge::<Scores>(&ops, || {
            format!(
                "member {} of sorted set {} (host {host}, epoch {epoch}, db {db}, {} ops) is not linearizable by its score",
                String::from_utf8_lossy(&member),
                String::from_utf8_lossy(&key),
                ops.len()
            )
        });
    }
    for ((host, epoch, db, key), ops) in parts {
        report.judge::<Counts>(&ops, || {
            format!(
                "collection key {} (host {host}, epoch {epoch}, db {db}, {} ops) is not linearizable by its counts",
                String::from_utf8_lossy(&key),
                ops.len()
            )
        });
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linearizability::{self, Bounds, Verdict};

    fn req(s: &str) -> Vec<Vec<u8>> {
        s.split(' ').map(|a| a.as_bytes().to_vec()).collect()
    }

    fn run(steps: &[(&str, &[u8])]) -> Verdict {
        let mut ops = Vec::new();
        for (n, (r, reply)) in steps.iter().enumerate() {
            let value = decode(reply);
            let Projection::Ops(projected) = project(&req(r), value.as_ref()) else {
                panic!("{r} is not projected");
            };
            for (_, cmd, out) in projected {
                let t = 2 * n as u64;
                ops.push(LinOp {
                    id: ops.len(),
                    call: t,
                    ret: Some(t + 1),
                    wall_lo_ms: 0,
                    wall_hi_ms: 0,
                    after: None,
                    hint: 0,
                    cmd,
                    out,
                });
            }
        }
        linearizability::check_history::<Counts>(&ops, Bounds::default())
    }

    #[test]
    fn range_len_follows_redis() {
        assert_eq!(range_len(3, 0, -1), 3);
        assert_eq!(range_len(3, 1, 1), 1);
        assert_eq!(range_len(3, -2, 10), 2);
        assert_eq!(range_len(3, 2, 1), 0);
        assert_eq!(range_len(3, 3, 5), 0);
        assert_eq!(range_len(0, 0, -1), 0);
        assert_eq!(range_len(3, -10, -3), 1);
    }

    #[test]
    fn consistent_counts_pass() {
        // One key per history, as the checker partitions them.
        let v = run(&[
            ("SADD s a b", b":2\r\n"),
            ("SADD s b c", b":1\r\n"),
            ("SREM s a x", b":1\r\n"),
            ("SCARD s", b":2\r\n"),
        ]);
        assert_eq!(v, Verdict::Linearizable);
        let v = run(&[
            ("RPUSH l a b c", b":3\r\n"),
            ("LRANGE l 0 1", b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
            ("LTRIM l 1 -1", b"+OK\r\n"),
            ("LLEN l", b":2\r\n"),
        ]);
        assert_eq!(v, Verdict::Linearizable);
        let v = run(&[
            ("ZADD z 1 a", b":1\r\n"),
            ("ZADD z CH 2 a 2 a", b":1\r\n"),
            ("ZRANK z a", b":0\r\n"),
            ("TYPE z", b"+zset\r\n"),
        ]);
        assert_eq!(v, Verdict::Linearizable);
    }

    #[test]
    fn a_removal_counted_for_a_missing_member_is_caught() {
        let v = run(&[
            ("SADD s a b", b":2\r\n"),
            ("SREM s a x", b":2\r\n"),
            ("SCARD s", b":1\r\n"),
        ]);
        assert!(matches!(v, Verdict::NotLinearizable(_)), "{v:?}");
    }

    #[test]
    fn an_update_counted_as_new_is_caught() {
        let v = run(&[
            ("HSET h f 1", b":1\r\n"),
            ("HSET h f 2 g 3", b":2\r\n"),
            ("HLEN h", b":2\r\n"),
        ]);
        assert!(matches!(v, Verdict::NotLinearizable(_)), "{v:?}");
    }

    #[test]
    fn a_short_range_is_caught() {
        let v = run(&[
            ("RPUSH l a b c", b":3\r\n"),
            ("LRANGE l 0 1", b"*1\r\n$1\r\na\r\n"),
        ]);
        assert!(matches!(v, Verdict::NotLinearizable(_)), "{v:?}");
    }

    #[test]
    fn a_rank_from_one_is_caught() {
        let v = run(&[("ZADD z 1 a", b":1\r\n"), ("ZRANK z a", b":1\r\n")]);
        assert!(matches!(v, Verdict::NotLinearizable(_)), "{v:?}");
    }

    #[test]
    fn a_blocked_pop_from_an_absent_key_is_caught_but_a_timeout_is_not() {
        let v = run(&[("BLPOP l 1", b"*2\r\n$1\r\nl\r\n$1\r\na\r\n")]);
        assert!(matches!(v, Verdict::NotLinearizable(_)), "{v:?}");
        let v = run(&[("RPUSH l a", b":1\r\n"), ("BLPOP l 1", b"*-1\r\n")]);
        assert!(matches!(v, Verdict::NotLinearizable(_)), "{v:?}");
        let v = run(&[
            ("RPUSH l a", b":1\r\n"),
            ("BLPOP l 1", b"*2\r\n$1\r\nl\r\n$1\r\na\r\n"),
            ("BLPOP l 1", b"*-1\r\n"),
        ]);
        assert_eq!(v, Verdict::Linearizable);
    }

    #[test]
    fn smove_from_an_absent_source_ignores_the_destinations_type() {
        // SMOVE s d m with s absent and d a list: 0, d unchanged (plain-load 0x122).
        let d = step(
            Some(Coll {
                kind: Kind::List,
                card: 1,
            }),
            &CCmd::MoveIn,
            &Obs::Int(0),
        );
        assert_eq!(
            d,
            vec![Some(Coll {
                kind: Kind::List,
                card: 1
            })]
        );
    }

    #[test]
    fn overlapping_operations_may_run_in_either_order() {
        // LLEN's window overlaps the push: it may have seen either length.
        let ops = vec![
            LinOp {
                id: 0,
                call: 0,
                ret: Some(3),
                wall_lo_ms: 0,
                wall_hi_ms: 0,
                after: None,
                hint: 0,
                cmd: CCmd::Push {
                    n: 1,
                    only_if_exists: false,
                },
                out: Obs::Int(1),
            },
            LinOp {
                id: 1,
                call: 1,
                ret: Some(2),
                wall_lo_ms: 0,
                wall_hi_ms: 0,
                after: None,
                hint: 0,
                cmd: CCmd::Card { kind: Kind::List },
                out: Obs::Int(0),
            },
        ];
        assert_eq!(
            linearizability::check_history::<Counts>(&ops, Bounds::default()),
            Verdict::Linearizable
        );
    }
}
