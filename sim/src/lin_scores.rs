//! Linearizability of each sorted-set member's score, as a register: absent, or a
//! score. ZADD (every flag: NX, XX, GT, LT, CH, INCR), ZINCRBY and ZREM write it; ZSCORE,
//! ZMSCORE, ZRANK and the members (and scores) a range or a pop lists read it; DEL and
//! flushes clear it. It is the companion of the counting spec
//! (`crate::lin_collections`), which follows how many members a key holds but not which:
//! this one sees a CH count or an INCR reply that does not follow from the member's
//! score (a GT that updates on an equal score), a ZSCORE that forgot an update, a popped
//! member that comes back.
//!
//! A ZADD naming one member is judged by its reply; one naming several still moves each
//! member's register (its effect follows from the flags), but its summed reply is left
//! to the counting spec. The keys judged are the counting spec's: one host's first
//! epoch, no command outside both specs.

use keel_core::resp::Value;

use crate::linearizability::{LinOp, Spec};

/// A score as its bits (an f64 is not `Ord`); compared as a float.
pub type Bits = u64;

/// A member's register.
pub type MState = Option<Bits>;

fn f(b: Bits) -> f64 {
    f64::from_bits(b)
}

/// ZADD's flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub ch: bool,
    pub incr: bool,
}

/// A command on one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MCmd {
    /// ZADD's scores for this member, in order (`own`: the reply is this member's).
    Add {
        flags: Flags,
        scores: Vec<Bits>,
        own: bool,
    },
    /// ZINCRBY: the new score.
    IncrBy(Bits),
    /// ZSCORE, ZMSCORE: the score or nil.
    Score,
    /// ZRANK, ZREVRANK: nil exactly when absent.
    Rank,
    /// Listed by a range or a random pick (with its score when the reply had it).
    Listed(Option<Bits>),
    /// Not listed by a ZRANGE over every member.
    Unlisted,
    /// ZREM (`own`: it named only this member, so its reply is this member's).
    Remove { own: bool },
    /// Popped (ZPOPMIN/MAX, BZPOP*, ZMPOP, BZMPOP) with this score.
    Popped(Bits),
    /// A pop of unknown outcome on its key: this member may be gone.
    MayPop,
    /// DEL, UNLINK, a flush.
    Clear,
}

/// What the client saw for this member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MObs {
    /// The outcome is unknown: it may not have run.
    Unknown,
    /// It ran; its reply says nothing of this member on its own.
    Ran,
    Int(i64),
    /// A score, or nil.
    Score(Option<Bits>),
}

/// The member-score spec.
pub struct Scores;

impl Spec for Scores {
    type State = MState;
    type Cmd = MCmd;
    type Out = MObs;

    fn initial() -> MState {
        None
    }

    fn show(state: &MState) -> String {
        match state {
            None => "(no member)".into(),
            Some(b) => format!("score {}", f(*b)),
        }
    }

    fn step(state: &MState, op: &LinOp<MCmd, MObs>) -> Vec<MState> {
        step(*state, &op.cmd, &op.out)
    }
}

/// What ZADD leaves from `cur`: the register, how many were added and changed, and
/// INCR's reply (None: nil). None when INCR makes a NaN (an error: no effect).
pub fn zadd(
    mut cur: MState,
    flags: Flags,
    scores: &[Bits],
) -> Option<(MState, i64, i64, Option<Bits>)> {
    let (mut added, mut changed, mut last) = (0, 0, None);
    for &s in scores {
        match cur {
            None => {
                if flags.xx {
                    last = None;
                    continue;
                }
                cur = Some(s);
                added += 1;
                last = Some(s);
            }
            Some(c) => {
                if flags.nx {
                    last = None;
                    continue;
                }
                let new = if flags.incr { f(c) + f(s) } else { f(s) };
                if new.is_nan() {
                    return None;
                }
                if (flags.lt && new >= f(c)) || (flags.gt && new <= f(c)) {
                    last = None;
                    continue;
                }
                if new != f(c) {
                    cur = Some(new.to_bits());
                    changed += 1;
                }
                last = Some(new.to_bits());
            }
        }
    }
    Some((cur, added, changed, last))
}

fn same_score(a: Option<Bits>, b: Option<Bits>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => f(x) == f(y),
        _ => false,
    }
}

/// Every register `cmd` may leave from `state` given `out`.
pub fn step(state: MState, cmd: &MCmd, out: &MObs) -> Vec<MState> {
    let ran = matches!(out, MObs::Unknown | MObs::Ran);
    let ok_then = |next: MState, ok: bool| if ok { vec![next] } else { Vec::new() };
    match cmd {
        MCmd::Add { flags, scores, own } => {
            let Some((next, added, changed, last)) = zadd(state, *flags, scores) else {
                return Vec::new();
            };
            let ok = match out {
                _ if ran => true,
                MObs::Int(r) if *own && !flags.incr => {
                    *r == added + if flags.ch { changed } else { 0 }
                }
                MObs::Score(s) if *own && flags.incr => same_score(*s, last),
                _ => !*own,
            };
            ok_then(next, ok)
        }
        MCmd::IncrBy(by) => {
            let new = state.map_or(0.0, f) + f(*by);
            if new.is_nan() {
                return Vec::new();
            }
            let ok = ran || matches!(out, MObs::Score(Some(s)) if f(*s) == new);
            ok_then(Some(new.to_bits()), ok)
        }
        MCmd::Score => ok_then(
            state,
            ran || matches!(out, MObs::Score(s) if same_score(*s, state)),
        ),
        MCmd::Rank => {
            let ok = match out {
                MObs::Score(None) => state.is_none(),
                MObs::Int(_) => state.is_some(),
                _ => true,
            };
            ok_then(state, ok)
        }
        MCmd::Listed(score) => {
            let ok =
                *out == MObs::Unknown || state.is_some_and(|c| score.is_none_or(|s| f(s) == f(c)));
            ok_then(state, ok)
        }
        MCmd::Unlisted => ok_then(state, *out == MObs::Unknown || state.is_none()),
        MCmd::Remove { own } => {
            let ok = match out {
                MObs::Int(r) if *own => *r == i64::from(state.is_some()),
                _ => true,
            };
            ok_then(None, ok)
        }
        MCmd::Popped(score) => {
            let ok = *out == MObs::Unknown || state.is_some_and(|c| f(c) == f(*score));
            ok_then(None, ok)
        }
        MCmd::MayPop => {
            if state.is_some() {
                vec![state, None]
            } else {
                vec![None]
            }
        }
        MCmd::Clear => vec![None],
    }
}

fn upper(b: &[u8]) -> String {
    String::from_utf8_lossy(b).to_ascii_uppercase()
}

/// A score argument or reply, as Redis reads one (`inf`, `-inf`, `+1.5`); None for
/// anything else (the command then failed, or the reply is not a score).
pub fn parse_score(b: &[u8]) -> Option<Bits> {
    let s = std::str::from_utf8(b).ok()?;
    let v: f64 = match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => s.parse().ok()?,
    };
    (!v.is_nan()).then_some(v.to_bits())
}

fn score_of(v: &Value) -> Option<Bits> {
    match v {
        Value::Bulk(b) | Value::Double(b) => parse_score(b),
        _ => None,
    }
}

/// (key, command, what it saw, the members it is not for).
pub type Broadcast = (Vec<u8>, MCmd, MObs, Vec<Vec<u8>>);

/// What a request does to member registers.
#[derive(Debug, Default)]
pub struct Members {
    /// (key, member, command, what it saw).
    pub ops: Vec<(Vec<u8>, Vec<u8>, MCmd, MObs)>,
    /// Commands for every member of a key (except those listed), applied at the end
    /// to every member the run named.
    pub broadcasts: Vec<Broadcast>,
}

impl Members {
    fn op(&mut self, key: &[u8], member: &[u8], cmd: MCmd, obs: MObs) {
        self.ops.push((key.to_vec(), member.to_vec(), cmd, obs));
    }
}

/// The `[member, score]` pairs of a reply: flat (RESP2, `per` 2) or nested.
fn pairs(items: &[Value], with_scores: bool) -> Vec<(Vec<u8>, Option<Bits>)> {
    let nested = items.iter().all(|v| matches!(v, Value::Array(_)));
    if nested && !items.is_empty() {
        return items
            .iter()
            .filter_map(|v| match v {
                Value::Array(p) => match (p.first(), p.get(1)) {
                    (Some(Value::Bulk(m)), s) => Some((m.clone(), s.and_then(score_of))),
                    _ => None,
                },
                _ => None,
            })
            .collect();
    }
    if with_scores {
        items
            .chunks(2)
            .filter_map(|c| match c {
                [Value::Bulk(m), s] => Some((m.clone(), score_of(s))),
                _ => None,
            })
            .collect()
    } else {
        items
            .iter()
            .filter_map(|v| match v {
                Value::Bulk(m) => Some((m.clone(), None)),
                _ => None,
            })
            .collect()
    }
}

/// Projects a request and its reply (None: unknown) onto member registers. Commands
/// outside the spec change no register here: the counting spec's projection taints
/// their keys, and those keys are judged by neither.
pub fn project(request: &[Vec<u8>], reply: Option<&Value>) -> Members {
    let mut m = Members::default();
    let Some(first) = request.first() else {
        return m;
    };
    let name = upper(first);
    let key = request.get(1).map(Vec::as_slice).unwrap_or_default();
    let ran = if reply.is_some() {
        MObs::Ran
    } else {
        MObs::Unknown
    };
    let has = |flag: &str| {
        request
            .iter()
            .skip(2)
            .any(|a| a.eq_ignore_ascii_case(flag.as_bytes()))
    };
    match name.as_str() {
        "ZADD" => {
            let mut flags = Flags::default();
            let mut i = 2;
            while let Some(a) = request.get(i) {
                match upper(a).as_str() {
                    "NX" => flags.nx = true,
                    "XX" => flags.xx = true,
                    "GT" => flags.gt = true,
                    "LT" => flags.lt = true,
                    "CH" => flags.ch = true,
                    "INCR" => flags.incr = true,
                    _ => break,
                }
                i += 1;
            }
            let rest = request.get(i..).unwrap_or_default();
            if rest.is_empty() || rest.len() % 2 != 0 {
                return m;
            }
            let mut per: Vec<(&[u8], Vec<Bits>)> = Vec::new();
            for pair in rest.chunks(2) {
                let Some(score) = parse_score(&pair[0]) else {
                    return m;
                };
                match per.iter_mut().find(|(mem, _)| *mem == pair[1].as_slice()) {
                    Some((_, scores)) => scores.push(score),
                    None => per.push((&pair[1], vec![score])),
                }
            }
            let own = per.len() == 1;
            let obs = match reply {
                None => MObs::Unknown,
                Some(_) if !own => MObs::Ran,
                Some(Value::Int(n)) => MObs::Int(*n),
                Some(v) => MObs::Score(score_of(v)),
            };
            for (member, scores) in per {
                m.op(key, member, MCmd::Add { flags, scores, own }, obs.clone());
            }
        }
        "ZINCRBY" if request.len() == 4 => {
            if let Some(by) = parse_score(&request[2]) {
                let obs = reply.map_or(MObs::Unknown, |v| MObs::Score(score_of(v)));
                m.op(key, &request[3], MCmd::IncrBy(by), obs);
            }
        }
        "ZSCORE" if request.len() == 3 => {
            let obs = reply.map_or(MObs::Unknown, |v| MObs::Score(score_of(v)));
            m.op(key, &request[2], MCmd::Score, obs);
        }
        "ZMSCORE" if request.len() >= 3 => {
            if let Some(Value::Array(items)) = reply {
                for (member, v) in request.iter().skip(2).zip(items) {
                    m.op(key, member, MCmd::Score, MObs::Score(score_of(v)));
                }
            }
        }
        "ZRANK" | "ZREVRANK" if request.len() == 3 => {
            let obs = match reply {
                Some(Value::Int(n)) => MObs::Int(*n),
                Some(_) => MObs::Score(None),
                None => MObs::Unknown,
            };
            m.op(key, &request[2], MCmd::Rank, obs);
        }
        "ZREM" if request.len() >= 3 => {
            let mut members: Vec<&Vec<u8>> = request.iter().skip(2).collect();
            members.sort();
            members.dedup();
            let own = members.len() == 1;
            let obs = match reply {
                Some(Value::Int(n)) if own => MObs::Int(*n),
                _ => ran.clone(),
            };
            for member in members {
                m.op(key, member, MCmd::Remove { own }, obs.clone());
            }
        }
        "ZRANGE" | "ZREVRANGE" | "ZRANGEBYSCORE" | "ZREVRANGEBYSCORE" | "ZRANGEBYLEX"
        | "ZREVRANGEBYLEX" | "ZRANDMEMBER" => {
            let Some(Value::Array(items)) = reply else {
                return m;
            };
            let with_scores = has("WITHSCORES");
            let listed = pairs(items, with_scores);
            for (member, score) in &listed {
                m.op(key, member, MCmd::Listed(*score), MObs::Ran);
            }
            // Every member: ZRANGE key 0 -1 (WITHSCORES).
            let full = matches!(name.as_str(), "ZRANGE" | "ZREVRANGE")
                && request.get(2).is_some_and(|a| a == b"0")
                && request.get(3).is_some_and(|a| a == b"-1")
                && (request.len() == 4 || (request.len() == 5 && with_scores));
            if full {
                m.broadcasts.push((
                    key.to_vec(),
                    MCmd::Unlisted,
                    MObs::Ran,
                    listed.into_iter().map(|(member, _)| member).collect(),
                ));
            }
        }
        "ZPOPMIN" | "ZPOPMAX" => pops(&mut m, &[key.to_vec()], reply, |items| {
            Some((key.to_vec(), pairs(items, true)))
        }),
        "BZPOPMIN" | "BZPOPMAX" if request.len() >= 3 => {
            let keys = &request[1..request.len() - 1];
            pops(&mut m, keys, reply, |items| match items {
                [Value::Bulk(k), Value::Bulk(member), s] => {
                    Some((k.clone(), vec![(member.clone(), score_of(s))]))
                }
                _ => None,
            })
        }
        "ZMPOP" | "BZMPOP" => {
            let at = if name.starts_with('B') { 2 } else { 1 };
            let numkeys = request
                .get(at)
                .and_then(|n| std::str::from_utf8(n).ok()?.parse::<usize>().ok());
            let Some(keys) = numkeys.and_then(|n| request.get(at + 1..at + 1 + n)) else {
                return m;
            };
            pops(&mut m, keys, reply, |items| match items {
                [Value::Bulk(k), Value::Array(taken)] => Some((k.clone(), pairs(taken, true))),
                _ => None,
            })
        }
        "DEL" | "UNLINK" => {
            for k in request.iter().skip(1) {
                m.broadcasts
                    .push((k.clone(), MCmd::Clear, ran.clone(), Vec::new()));
            }
        }
        _ => {}
    }
    m
}

/// A pop: the popped members (with their scores) leave; a nil reply changes nothing;
/// an unknown outcome may have taken any member of any of its keys.
fn pops(
    m: &mut Members,
    keys: &[Vec<u8>],
    reply: Option<&Value>,
    popped: impl Fn(&[Value]) -> Option<(Vec<u8>, Vec<(Vec<u8>, Option<Bits>)>)>,
) {
    match reply {
        None => {
            for k in keys {
                m.broadcasts
                    .push((k.clone(), MCmd::MayPop, MObs::Unknown, Vec::new()));
            }
        }
        Some(Value::Array(items)) => {
            // An empty array: nothing popped.
            if let Some((k, members)) = popped(items) {
                for (member, score) in members {
                    match score {
                        Some(s) => m.op(&k, &member, MCmd::Popped(s), MObs::Ran),
                        None => m.op(&k, &member, MCmd::Remove { own: false }, MObs::Ran),
                    }
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bits(v: f64) -> Bits {
        v.to_bits()
    }

    #[test]
    fn zadd_follows_redis_flags() {
        let gt = Flags {
            gt: true,
            ch: true,
            ..Flags::default()
        };
        // GT on an equal score neither updates nor counts.
        assert_eq!(
            zadd(Some(bits(1.0)), gt, &[bits(1.0)]),
            Some((Some(bits(1.0)), 0, 0, None))
        );
        assert_eq!(
            zadd(Some(bits(1.0)), gt, &[bits(2.0)]),
            Some((Some(bits(2.0)), 0, 1, Some(bits(2.0))))
        );
        // GT adds a new member.
        assert_eq!(
            zadd(None, gt, &[bits(0.0)]),
            Some((Some(bits(0.0)), 1, 0, Some(bits(0.0))))
        );
        let xx = Flags {
            xx: true,
            ..Flags::default()
        };
        assert_eq!(zadd(None, xx, &[bits(3.0)]), Some((None, 0, 0, None)));
        let incr = Flags {
            incr: true,
            lt: true,
            ..Flags::default()
        };
        assert_eq!(
            zadd(Some(bits(1.0)), incr, &[bits(0.0)]),
            Some((Some(bits(1.0)), 0, 0, None))
        );
        assert_eq!(
            zadd(Some(bits(1.0)), incr, &[bits(-1.0)]),
            Some((Some(bits(0.0)), 0, 1, Some(bits(0.0))))
        );
    }

    #[test]
    fn a_gt_update_on_an_equal_score_is_caught() {
        let flags = Flags {
            gt: true,
            ch: true,
            ..Flags::default()
        };
        let cmd = MCmd::Add {
            flags,
            scores: vec![bits(2.0)],
            own: true,
        };
        assert!(step(Some(bits(2.0)), &cmd, &MObs::Int(1)).is_empty());
        assert_eq!(
            step(Some(bits(2.0)), &cmd, &MObs::Int(0)),
            vec![Some(bits(2.0))]
        );
    }

    #[test]
    fn scores_parse_as_redis_writes_them() {
        assert_eq!(parse_score(b"inf"), Some(f64::INFINITY.to_bits()));
        assert_eq!(parse_score(b"-inf"), Some(f64::NEG_INFINITY.to_bits()));
        assert_eq!(parse_score(b"1.5"), Some(bits(1.5)));
        assert_eq!(parse_score(b"x"), None);
    }
}
