//! A linearizability checker for per-key histories of GET, SET (with PX), INCR/INCRBY,
//! DEL, APPEND and EXISTS, Wing–Gong search with Lowe's memo of (linearized set,
//! state), as Porcupine does it. It reads only what clients saw (invoke and return
//! order, replies, unknown outcomes) plus the wall-clock range each operation could
//! have run at, never the world's knowledge of when the node really ran it.
//!
//! Unknown outcomes may take effect at any point after their invocation, or never.
//! TTLs make the sequential spec nondeterministic: a key may be live or expired when
//! the wall-clock window of the operation straddles its expire time, so `step` returns
//! every state the observed output allows. The search is bounded: a history that needs
//! more states than the bound is reported "too big to check", never run forever.

use std::collections::BTreeSet;

/// A command, as the sequential spec sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cmd {
    Get,
    Set {
        value: Vec<u8>,
        px_ms: Option<u64>,
    },
    IncrBy(i64),
    Del,
    Append(Vec<u8>),
    Exists,
    /// FLUSHALL, or FLUSHDB in the key's database: every key is gone afterwards.
    Flush,
}

/// What the client saw come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Ok,
    Int(i64),
    Bulk(Option<Vec<u8>>),
    /// Timed out or the connection broke: it may have applied, or not.
    Unknown,
}

/// One operation on one key. `call` and `ret` are points on one total order of client
/// events (the simulator's step counter); `ret` is None for an unknown outcome.
#[derive(Debug, Clone)]
pub struct LinOp<C = Cmd, O = Output> {
    pub id: usize,
    pub call: u64,
    pub ret: Option<u64>,
    /// The lowest wall-clock time (ms) the node could have had while running it.
    pub wall_lo_ms: u64,
    /// The highest wall-clock time the node had been handed by the time it could
    /// have run it (a backward jump does not undo an expiry that already happened).
    pub wall_hi_ms: u64,
    /// The `id` of an operation that must take effect first: the previous request on
    /// the same connection (a connection's requests run in order, pipelined or not).
    pub after: Option<usize>,
    pub cmd: C,
    pub out: O,
    /// Search order only: candidates with a lower hint are tried first. The simulator
    /// passes the order in which the node really ran requests, so a legal history is
    /// confirmed without backtracking; the verdict never depends on it (the search is
    /// exhaustive up to its bound).
    pub hint: u64,
}

/// The checker's answer for one key (or a whole history).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Linearizable,
    NotLinearizable(String),
    /// The search bound was reached; nothing is claimed.
    TooBig {
        states: usize,
        ops: usize,
    },
}

/// A sequential specification the search checks histories against: its states, and
/// every state an operation may leave behind given what its client saw (empty: the
/// operation cannot follow that state).
pub trait Spec {
    type State: Clone + Ord + std::fmt::Debug;
    type Cmd: Clone + PartialEq + std::fmt::Debug;
    type Out: Clone + PartialEq + std::fmt::Debug;
    /// The state before the history's first operation.
    fn initial() -> Self::State;
    fn step(state: &Self::State, op: &LinOp<Self::Cmd, Self::Out>) -> Vec<Self::State>;
    fn show(state: &Self::State) -> String;
}

/// The string spec: GET, SET (PX), INCRBY, DEL, APPEND, EXISTS and flushes.
pub struct Strings;

impl Spec for Strings {
    type State = State;
    type Cmd = Cmd;
    type Out = Output;
    fn initial() -> State {
        None
    }
    fn step(state: &State, op: &LinOp) -> Vec<State> {
        step(state, op)
    }
    fn show(state: &State) -> String {
        show_state(state)
    }
}

/// Search bounds.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub max_states: usize,
    pub max_ops_per_key: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_states: 100_000,
            max_ops_per_key: 20_000,
        }
    }
}

/// A key's value with its expire time known only to lie in a range (the SET PX ran at
/// some wall time inside its window).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Entry {
    pub value: Vec<u8>,
    pub expire_ms: Option<(u64, u64)>,
}

pub type State = Option<Entry>;

fn parse_int(v: &[u8]) -> Option<i64> {
    let s = std::str::from_utf8(v).ok()?;
    let n: i64 = s.parse().ok()?;
    (n.to_string() == s).then_some(n)
}

/// Every state `op` may leave behind from `state`, given what its client saw.
pub fn step(state: &State, op: &LinOp) -> Vec<State> {
    // Expiry first: live if some wall time in the window is <= the expire time,
    // expired if some wall time the node had is past it.
    let mut before: Vec<State> = Vec::with_capacity(2);
    match state {
        Some(Entry {
            expire_ms: Some((lo, hi)),
            ..
        }) => {
            if op.wall_lo_ms <= *hi {
                before.push(state.clone());
            }
            if op.wall_hi_ms > *lo {
                before.push(None);
            }
        }
        _ => before.push(state.clone()),
    }
    let mut after: Vec<State> = Vec::with_capacity(2);
    for s in before {
        let Some((next, out)) = apply(&s, &op.cmd, op.wall_lo_ms, op.wall_hi_ms) else {
            continue;
        };
        if (op.out == Output::Unknown || op.out == out) && !after.contains(&next) {
            after.push(next);
        }
    }
    after
}

/// Runs `cmd` on a key already resolved as live or gone; None for an error reply
/// (a non-integer or an overflow: no effect, and failed operations are not in the
/// history). A SET PX ran at some wall time in [wall_lo_ms, wall_hi_ms].
pub fn apply(s: &State, cmd: &Cmd, wall_lo_ms: u64, wall_hi_ms: u64) -> Option<(State, Output)> {
    Some(match cmd {
        Cmd::Get => (s.clone(), Output::Bulk(s.as_ref().map(|e| e.value.clone()))),
        Cmd::Exists => (s.clone(), Output::Int(i64::from(s.is_some()))),
        Cmd::Del => (None, Output::Int(i64::from(s.is_some()))),
        Cmd::Flush => (None, Output::Ok),
        Cmd::Set { value, px_ms } => {
            let expire_ms =
                px_ms.map(|px| (wall_lo_ms.saturating_add(px), wall_hi_ms.saturating_add(px)));
            (
                Some(Entry {
                    value: value.clone(),
                    expire_ms,
                }),
                Output::Ok,
            )
        }
        Cmd::IncrBy(by) => {
            let (current, expire_ms) = match s {
                None => (Some(0), None),
                Some(e) => (parse_int(&e.value), e.expire_ms),
            };
            let n = current?.checked_add(*by)?;
            (
                Some(Entry {
                    value: n.to_string().into_bytes(),
                    expire_ms,
                }),
                Output::Int(n),
            )
        }
        Cmd::Append(extra) => match s {
            None => (
                Some(Entry {
                    value: extra.clone(),
                    expire_ms: None,
                }),
                Output::Int(extra.len() as i64),
            ),
            Some(e) => {
                let mut value = e.value.clone();
                value.extend_from_slice(extra);
                let len = value.len() as i64;
                (
                    Some(Entry {
                        value,
                        expire_ms: e.expire_ms,
                    }),
                    Output::Int(len),
                )
            }
        },
    })
}

/// A fixed-size bit set of linearized operations.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0)
    }
    fn set(&mut self, i: usize) {
        if let Some(w) = self.0.get_mut(i / 64) {
            *w |= 1 << (i % 64);
        }
    }
}

struct Frame<S> {
    bits: Bits,
    /// The first operation with a known outcome not yet linearized (`n`: none left).
    lo: usize,
    /// Unknown operations before `lo` not linearized (they may still take effect).
    pending_unknown: Vec<usize>,
    successors: Vec<(usize, S)>,
    next: usize,
}

/// Checks one key's string history (operations with a failed outcome must be left out).
pub fn check_key(ops: &[LinOp], bounds: Bounds) -> Verdict {
    check_history::<Strings>(ops, bounds)
}

/// Checks one history against the sequential spec `S`.
pub fn check_history<S: Spec>(ops: &[LinOp<S::Cmd, S::Out>], bounds: Bounds) -> Verdict {
    // Unknown outcomes multiply the search; most histories are explained without
    // any of them taking effect, which is a valid answer, so try that first.
    if ops.iter().any(|o| o.ret.is_none()) {
        let known: Vec<LinOp<S::Cmd, S::Out>> =
            ops.iter().filter(|o| o.ret.is_some()).cloned().collect();
        let quick = Bounds {
            max_states: bounds.max_states / 10,
            ..bounds
        };
        if search::<S>(&known, quick) == Verdict::Linearizable {
            return Verdict::Linearizable;
        }
    }
    search::<S>(ops, bounds)
}

fn search<S: Spec>(ops: &[LinOp<S::Cmd, S::Out>], bounds: Bounds) -> Verdict {
    let n = ops.len();
    if n > bounds.max_ops_per_key {
        return Verdict::TooBig { states: 0, ops: n };
    }
    let mut ops: Vec<&LinOp<S::Cmd, S::Out>> = ops.iter().collect();
    ops.sort_by_key(|o| (o.call, o.id));
    let local: std::collections::BTreeMap<usize, usize> =
        ops.iter().enumerate().map(|(i, o)| (o.id, i)).collect();
    // An `after` outside this history (another key) constrains nothing here, and
    // neither does an unknown predecessor: it may have run and failed (not an
    // integer, OOM) without effect, which is the same as never taking effect.
    let after: Vec<Option<usize>> = ops
        .iter()
        .map(|o| {
            o.after
                .and_then(|a| local.get(&a).copied())
                .filter(|&a| ops[a].ret.is_some())
        })
        .collect();
    let known = |i: usize| ops[i].ret.is_some();
    // Advances `lo` past linearized operations, parking skipped unknowns.
    let advance = |bits: &Bits, mut lo: usize, pending: &mut Vec<usize>| {
        while lo < n && (bits.get(lo) || !known(lo)) {
            if !bits.get(lo) {
                pending.push(lo);
            }
            lo += 1;
        }
        lo
    };
    let successors = |bits: &Bits, lo: usize, pending: &[usize], state: &S::State| {
        let mut min_ret = u64::MAX;
        let mut candidates: Vec<(u64, bool, u64, usize)> = Vec::new();
        let ready = |i: usize| !matches!(after[i], Some(a) if !bits.get(a));
        for (i, op) in ops.iter().enumerate().skip(lo) {
            if op.call > min_ret {
                break;
            }
            if bits.get(i) {
                continue;
            }
            if let Some(r) = op.ret {
                min_ret = min_ret.min(r);
            }
            if ready(i) {
                candidates.push((op.hint, op.ret.is_none(), op.ret.unwrap_or(u64::MAX), i));
            }
        }
        candidates.extend(
            pending
                .iter()
                .filter(|&&i| ready(i))
                .map(|&i| (ops[i].hint, true, u64::MAX, i)),
        );
        // By hint, then known outcomes first, the most urgent (earliest return)
        // first: a greedy path through a legal history is usually found at once.
        candidates.sort_unstable();
        let mut out: Vec<(usize, S::State)> = Vec::new();
        let mut unknown_cmds: Vec<&S::Cmd> = Vec::new();
        for (_, unknown, _, i) in candidates {
            if ops[i].call > min_ret {
                continue;
            }
            if unknown {
                // Two pending unknowns with the same command are interchangeable
                // (nothing orders after them): trying one of them is enough.
                if unknown_cmds.contains(&&ops[i].cmd) {
                    continue;
                }
                unknown_cmds.push(&ops[i].cmd);
            }
            out.extend(S::step(state, ops[i]).into_iter().map(|s| (i, s)));
        }
        out
    };
    let mut pending = Vec::new();
    let root_bits = Bits::new(n);
    let lo = advance(&root_bits, 0, &mut pending);
    if lo == n {
        return Verdict::Linearizable;
    }
    let root_state = S::initial();
    let root_succ = successors(&root_bits, lo, &pending, &root_state);
    let mut stack = vec![Frame {
        bits: root_bits,
        lo,
        pending_unknown: pending,
        successors: root_succ,
        next: 0,
    }];
    let mut visited: BTreeSet<(Bits, S::State)> = BTreeSet::new();
    let (mut deepest_lo, mut deepest_state): (usize, S::State) = (lo, root_state);
    let mut states = 0usize;
    while let Some(top) = stack.last_mut() {
        let Some((i, state)) = top.successors.get(top.next).cloned() else {
            stack.pop();
            continue;
        };
        top.next += 1;
        let mut bits = top.bits.clone();
        bits.set(i);
        let mut pending: Vec<usize> = top
            .pending_unknown
            .iter()
            .copied()
            .filter(|&p| p != i)
            .collect();
        let lo = advance(&bits, top.lo, &mut pending);
        if lo == n {
            return Verdict::Linearizable;
        }
        if !visited.insert((bits.clone(), state.clone())) {
            continue;
        }
        states += 1;
        if states > bounds.max_states {
            return Verdict::TooBig { states, ops: n };
        }
        if lo > deepest_lo {
            (deepest_lo, deepest_state) = (lo, state.clone());
        }
        let successors = successors(&bits, lo, &pending, &state);
        stack.push(Frame {
            bits,
            lo,
            pending_unknown: pending,
            successors,
            next: 0,
        });
    }
    let stuck = ops.get(deepest_lo).map(|o| {
        format!(
            "op #{} {:?} -> {:?} (call {}, return {:?})",
            o.id, o.cmd, o.out, o.call, o.ret
        )
    });
    Verdict::NotLinearizable(format!(
        "no linearization: {deepest_lo} of {n} ops placed at best, then {} cannot follow state {}",
        stuck.unwrap_or_default(),
        S::show(&deepest_state)
    ))
}

fn show_state(s: &State) -> String {
    match s {
        None => "(no key)".into(),
        Some(e) => match e.expire_ms {
            None => format!("{:?}", String::from_utf8_lossy(&e.value)),
            Some((lo, hi)) => format!(
                "{:?} expiring in [{lo}, {hi}]",
                String::from_utf8_lossy(&e.value)
            ),
        },
    }
}

/// Turns a request and the reply a client saw into a spec command and output; None for
/// requests outside the spec or replies that carry no state (errors).
pub fn interpret(request: &[Vec<u8>], reply: Option<&[u8]>) -> Option<(Vec<u8>, Cmd, Output)> {
    let name = String::from_utf8_lossy(request.first()?).to_ascii_uppercase();
    let key = request.get(1)?.clone();
    let cmd = match (name.as_str(), request.len()) {
        ("GET", 2) => Cmd::Get,
        ("EXISTS", 2) => Cmd::Exists,
        ("DEL", 2) => Cmd::Del,
        ("INCR", 2) => Cmd::IncrBy(1),
        ("INCRBY", 3) => Cmd::IncrBy(parse_int(request.get(2)?)?),
        ("APPEND", 3) => Cmd::Append(request.get(2)?.clone()),
        ("SET", 3) => Cmd::Set {
            value: request.get(2)?.clone(),
            px_ms: None,
        },
        ("SET", 5) if request.get(3)?.eq_ignore_ascii_case(b"PX") => Cmd::Set {
            value: request.get(2)?.clone(),
            px_ms: Some(u64::try_from(parse_int(request.get(4)?)?).ok()?),
        },
        _ => return None,
    };
    let out = match reply {
        None => Output::Unknown,
        Some(r) => parse_reply(r)?,
    };
    Some((key, cmd, out))
}

fn parse_reply(r: &[u8]) -> Option<Output> {
    use keel_core::resp::Value;
    let (value, len) = keel_core::resp::decode(r).ok()??;
    if len != r.len() {
        return None;
    }
    match value {
        Value::Simple(s) if s == b"OK" => Some(Output::Ok),
        Value::Int(n) => Some(Output::Int(n)),
        Value::NullBulk | Value::Null => Some(Output::Bulk(None)),
        Value::Bulk(b) => Some(Output::Bulk(Some(b))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn op(id: usize, call: u64, ret: Option<u64>, cmd: Cmd, out: Output) -> LinOp {
        LinOp {
            id,
            call,
            ret,
            wall_lo_ms: call,
            wall_hi_ms: ret.unwrap_or(u64::MAX / 2),
            after: None,
            hint: 0,
            cmd,
            out,
        }
    }
    fn set(v: &str) -> Cmd {
        Cmd::Set {
            value: v.as_bytes().to_vec(),
            px_ms: None,
        }
    }
    fn got(v: &str) -> Output {
        Output::Bulk(Some(v.as_bytes().to_vec()))
    }
    fn check(ops: &[LinOp]) -> Verdict {
        check_key(ops, Bounds::default())
    }

    #[test]
    fn sequential_and_concurrent_histories_pass() {
        let h = [
            op(0, 0, Some(1), set("1"), Output::Ok),
            op(1, 2, Some(3), Cmd::Get, got("1")),
            op(2, 4, Some(5), Cmd::IncrBy(1), Output::Int(2)),
            op(3, 6, Some(7), Cmd::Del, Output::Int(1)),
            op(4, 8, Some(9), Cmd::Get, Output::Bulk(None)),
        ];
        assert_eq!(check(&h), Verdict::Linearizable);
        // Two concurrent writes; a read after both may see either.
        for seen in ["a", "b"] {
            let h = [
                op(0, 0, Some(5), set("a"), Output::Ok),
                op(1, 1, Some(4), set("b"), Output::Ok),
                op(2, 6, Some(7), Cmd::Get, got(seen)),
            ];
            assert_eq!(check(&h), Verdict::Linearizable, "saw {seen}");
        }
        // A read concurrent with a write may see the old or the new value.
        let h = [
            op(0, 0, Some(1), set("old"), Output::Ok),
            op(1, 2, Some(6), set("new"), Output::Ok),
            op(2, 3, Some(4), Cmd::Get, got("old")),
            op(3, 4, Some(5), Cmd::Get, got("new")),
        ];
        assert_eq!(check(&h), Verdict::Linearizable);
    }

    #[test]
    fn stale_read_is_caught() {
        let h = [
            op(0, 0, Some(1), set("old"), Output::Ok),
            op(1, 2, Some(3), set("new"), Output::Ok),
            op(2, 4, Some(5), Cmd::Get, got("old")),
        ];
        assert!(matches!(check(&h), Verdict::NotLinearizable(_)));
        for hints in [[0, 1, 2], [2, 1, 0], [1, 2, 0]] {
            let hinted: Vec<LinOp> = h
                .iter()
                .zip(hints)
                .map(|(o, hint)| LinOp { hint, ..o.clone() })
                .collect();
            assert!(matches!(check(&hinted), Verdict::NotLinearizable(_)));
        }
        // Read-your-write order violated by two reads: new then old, both after the write began.
        let h = [
            op(0, 0, Some(1), set("old"), Output::Ok),
            op(1, 2, Some(9), set("new"), Output::Ok),
            op(2, 3, Some(4), Cmd::Get, got("new")),
            op(3, 5, Some(6), Cmd::Get, got("old")),
        ];
        assert!(matches!(check(&h), Verdict::NotLinearizable(_)));
    }

    #[test]
    fn lost_increment_is_caught() {
        let h = [
            op(0, 0, Some(1), Cmd::IncrBy(1), Output::Int(1)),
            op(1, 2, Some(3), Cmd::IncrBy(1), Output::Int(1)),
        ];
        assert!(matches!(check(&h), Verdict::NotLinearizable(_)));
    }

    #[test]
    fn unknown_outcomes_may_apply_late_or_never() {
        // The unknown SET explains a later read ...
        let h = [
            op(0, 0, None, set("x"), Output::Unknown),
            op(1, 10, Some(11), Cmd::Get, got("x")),
        ];
        assert_eq!(check(&h), Verdict::Linearizable);
        // ... or never happened.
        let h = [
            op(0, 0, None, set("x"), Output::Unknown),
            op(1, 10, Some(11), Cmd::Get, Output::Bulk(None)),
        ];
        assert_eq!(check(&h), Verdict::Linearizable);
        // An unknown INCR may land between two known ones.
        let h = [
            op(0, 0, Some(1), Cmd::IncrBy(1), Output::Int(1)),
            op(1, 2, None, Cmd::IncrBy(1), Output::Unknown),
            op(2, 5, Some(6), Cmd::IncrBy(1), Output::Int(3)),
        ];
        assert_eq!(check(&h), Verdict::Linearizable);
    }

    #[test]
    fn unknown_cannot_take_effect_before_its_invocation() {
        // Legal only if the unknown SET took effect before the read, but the read
        // finished before the SET was even invoked.
        let h = [
            op(0, 0, Some(1), Cmd::Get, got("x")),
            op(1, 5, None, set("x"), Output::Unknown),
        ];
        assert!(matches!(check(&h), Verdict::NotLinearizable(_)));
        // Fails only because of the unknown: two reads see "x" then nothing, and the
        // only writer of "x" is the unknown SET, which cannot undo itself.
        let h = [
            op(0, 0, None, set("x"), Output::Unknown),
            op(1, 2, Some(3), Cmd::Get, got("x")),
            op(2, 4, Some(5), Cmd::Get, Output::Bulk(None)),
        ];
        assert!(matches!(check(&h), Verdict::NotLinearizable(_)));
        // The same with the SET known: the same verdict.
        let h = [
            op(0, 0, Some(1), set("x"), Output::Ok),
            op(1, 2, Some(3), Cmd::Get, got("x")),
            op(2, 4, Some(5), Cmd::Get, Output::Bulk(None)),
        ];
        assert!(matches!(check(&h), Verdict::NotLinearizable(_)));
    }

    #[test]
    fn ttl_windows() {
        let px = |v: &str, ms| Cmd::Set {
            value: v.as_bytes().to_vec(),
            px_ms: Some(ms),
        };
        // Wall clock = step here. SET at wall [0,1] PX 10: expires in [10, 11].
        let h = [
            op(0, 0, Some(1), px("v", 10), Output::Ok),
            op(1, 5, Some(6), Cmd::Get, got("v")),
            // The window [10, 12] straddles the expiry: either answer is legal.
            op(2, 10, Some(12), Cmd::Get, Output::Bulk(None)),
        ];
        assert_eq!(check(&h), Verdict::Linearizable);
        // A read entirely after the latest possible expiry that still sees the value.
        let h = [
            op(0, 0, Some(1), px("v", 10), Output::Ok),
            op(1, 20, Some(21), Cmd::Get, got("v")),
        ];
        assert!(matches!(check(&h), Verdict::NotLinearizable(_)));
        // Once expired, a key cannot come back by itself.
        let h = [
            op(0, 0, Some(1), px("v", 10), Output::Ok),
            op(1, 20, Some(21), Cmd::Exists, Output::Int(0)),
            LinOp {
                wall_lo_ms: 0, // a backward clock jump
                ..op(2, 22, Some(23), Cmd::Get, got("v"))
            },
        ];
        assert!(matches!(check(&h), Verdict::NotLinearizable(_)));
        // After a backward jump, a key not yet removed is live again: legal.
        let h = [
            op(0, 0, Some(1), px("v", 10), Output::Ok),
            LinOp {
                wall_lo_ms: 2,
                ..op(1, 22, Some(23), Cmd::Get, got("v"))
            },
        ];
        assert_eq!(check(&h), Verdict::Linearizable);
    }

    #[test]
    fn bound_reports_too_big() {
        // Many concurrent unknown increments (all different, so no two are
        // interchangeable) and a read nothing explains: the search must give up, not
        // run forever.
        let mut h: Vec<LinOp> = (0..40)
            .map(|i| op(i, i as u64, None, Cmd::IncrBy(1 << i), Output::Unknown))
            .collect();
        h.push(op(40, 100, Some(101), Cmd::Get, got("nope")));
        let v = check_key(
            &h,
            Bounds {
                max_states: 1_000,
                max_ops_per_key: 100,
            },
        );
        assert!(matches!(v, Verdict::TooBig { .. }), "{v:?}");
        let v = check_key(
            &h,
            Bounds {
                max_states: 1_000,
                max_ops_per_key: 10,
            },
        );
        assert!(matches!(v, Verdict::TooBig { states: 0, .. }), "{v:?}");
    }

    #[test]
    fn interpret_replies() {
        let req = |s: &str| {
            s.split(' ')
                .map(|a| a.as_bytes().to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            interpret(&req("GET k"), Some(b"$2\r\nab\r\n")),
            Some((b"k".to_vec(), Cmd::Get, got("ab")))
        );
        assert_eq!(
            interpret(&req("SET k v PX 5"), Some(b"+OK\r\n")).map(|x| x.1),
            Some(Cmd::Set {
                value: b"v".to_vec(),
                px_ms: Some(5)
            })
        );
        assert_eq!(
            interpret(&req("INCRBY k -3"), None).map(|x| (x.1, x.2)),
            Some((Cmd::IncrBy(-3), Output::Unknown))
        );
        assert_eq!(interpret(&req("INCR k"), Some(b"-ERR x\r\n")), None);
    }

    fn arb_cmd() -> impl Strategy<Value = Cmd> {
        prop_oneof![
            Just(Cmd::Get),
            (0u8..4).prop_map(|v| Cmd::Set {
                value: vec![b'0' + v],
                px_ms: None
            }),
            (0u8..4, 1u64..40).prop_map(|(v, px)| Cmd::Set {
                value: vec![b'0' + v],
                px_ms: Some(px)
            }),
            (-2i64..3).prop_map(Cmd::IncrBy),
            Just(Cmd::Del),
            Just(Cmd::Append(b"1".to_vec())),
            Just(Cmd::Exists),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        /// A history made by running operations one at a time (each at a point inside
        /// its [call, return] window, some outcomes lost, some lost ones never applied)
        /// is always judged linearizable.
        #[test]
        fn sequential_executions_are_linearizable(
            steps in proptest::collection::vec(
                (arb_cmd(), 0u64..30, 0u64..30, 0u8..10), 1..40)
        ) {
            let mut state: State = None;
            let mut ops = Vec::new();
            for (i, (cmd, before, after, fate)) in steps.into_iter().enumerate() {
                // The op takes effect at time (i+1)*10 on the wall clock too.
                let at = (i as u64 + 1) * 100;
                let (call, ret) = (at - before * 3, at + after * 3 + 1);
                // The sequential spec run at exactly wall time `at`.
                let live = match &state {
                    Some(Entry { expire_ms: Some((e, _)), .. }) if at > *e => None,
                    s => s.clone(),
                };
                let Some((next, out)) = apply(&live, &cmd, at, at) else {
                    continue; // an error reply, left out as failed ops are
                };
                let unknown = fate == 0;
                let never_applied = unknown && i % 2 == 0;
                if !never_applied {
                    state = next;
                }
                ops.push(LinOp {
                    id: i,
                    call,
                    ret: (!unknown).then_some(ret),
                    wall_lo_ms: call,
                    wall_hi_ms: if unknown { u64::MAX / 2 } else { ret },
                    after: None,
                    cmd,
                    out: if unknown { Output::Unknown } else { out },
                    // No search hint: the search alone must find the order.
                    hint: 0,
                });
            }
            prop_assert_eq!(check(&ops), Verdict::Linearizable);
            // A misleading search hint changes the work, never the verdict.
            let n = ops.len() as u64;
            for (k, o) in ops.iter_mut().enumerate() {
                o.hint = n - k as u64;
            }
            prop_assert_eq!(check(&ops), Verdict::Linearizable);
        }
    }
}
