//! The checkers' side of a run: which checkers judge it, the shadow node fed only the
//! propagation stream, and the verdicts over a finished history (linearizability per
//! key, Elle over transactions). They read what the world recorded; they never drive it.

use keel_core::config::Config;
use keel_core::{Effect, Input, Node, NodeSeeds, Now};

use crate::elle;
use crate::linearizability::{self, Bounds, LinOp, Verdict};
use crate::net::ConnId;
use crate::workload::{self, is_string_key, Op, OpOutcome};

/// The checkers of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Checker {
    /// Every reply compared to the reference model.
    Model,
    /// Per-key histories, as clients saw them, are linearizable.
    Linearizability,
    /// MULTI/EXEC list-append histories show no Elle anomaly.
    Elle,
    /// Resource, liveness and protocol assertions (memory bound, no hang, RESP framing).
    Resource,
    /// A shadow node fed only the propagation stream holds the node's dataset.
    Shadow,
}

impl Checker {
    pub fn name(self) -> &'static str {
        match self {
            Checker::Model => "model",
            Checker::Linearizability => "linearizability",
            Checker::Elle => "elle",
            Checker::Resource => "resource",
            Checker::Shadow => "shadow",
        }
    }
}

/// Which checkers judge a run (resource assertions always do).
#[derive(Debug, Clone, Copy)]
pub struct Checks {
    pub model: bool,
    pub linearizability: bool,
    pub shadow: bool,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            model: true,
            linearizability: true,
            shadow: true,
        }
    }
}

/// The shadow node: it gets, over one connection, only what the node propagated,
/// with SELECT where the database changes, at the node's time; it never expires
/// keys on its own (a replica waits for its master's DELs).
pub(crate) struct Shadow {
    pub(crate) node: Node,
    pub(crate) db: usize,
    /// Records were applied since the last digest comparison.
    pub(crate) behind: bool,
    pub(crate) compared_at_ms: u64,
}

/// How often (simulated ms) the shadow's digest is compared while writes flow.
pub(crate) const SHADOW_COMPARE_EVERY_MS: u64 = 200;

impl Shadow {
    pub(crate) const CONN: ConnId = 1;

    pub(crate) fn new(seeds: NodeSeeds, now: Now) -> Shadow {
        let mut node = Node::new(Config::default(), seeds, now);
        node.set_active_expire(false);
        node.handle(
            now,
            Input::Accepted {
                conn: Self::CONN,
                listener: keel_core::Listener::Client,
                peer: "127.0.0.1:1".into(),
                local: "127.0.0.1:6379".into(),
                peer_is_loopback: true,
            },
        );
        while node.poll_effect().is_some() {}
        Shadow {
            node,
            db: 0,
            behind: false,
            compared_at_ms: 0,
        }
    }

    pub(crate) fn apply(&mut self, now: Now, records: Vec<keel_core::propagate::Propagated>) {
        let mut stream = Vec::new();
        for record in records {
            if record.db != self.db {
                let db = record.db.to_string();
                keel_core::resp::encode_request_into(&mut stream, &[&b"SELECT"[..], db.as_bytes()]);
                self.db = record.db;
            }
            keel_core::resp::encode_request_into(&mut stream, &record.argv);
        }
        self.node.handle(
            now,
            Input::Data {
                conn: Self::CONN,
                bytes: &stream,
            },
        );
        // Its replies go nowhere; report them written so nothing accumulates.
        while let Some(effect) = self.node.poll_effect() {
            if let Effect::Send { conn, bytes } = effect {
                self.node.handle(
                    now,
                    Input::Written {
                        conn,
                        bytes: bytes.len(),
                    },
                );
            }
        }
    }
}

/// What the linearizability checker found over every (epoch, key) history of a run.
#[derive(Debug, Clone, Default)]
pub struct LinReport {
    pub histories: usize,
    pub ops: usize,
    /// Histories the search bound gave up on (nothing claimed for them).
    pub too_big: usize,
    pub violation: Option<String>,
}

/// The wall clock the node was handed, as a function of simulated time: offsets change
/// at clock jumps (the checker needs the range a window of simulated time maps to).
#[derive(Debug, Clone)]
pub struct WallClock {
    pub start_wall_ms: u64,
    /// (from simulated ms, offset ms), in time order; the first is at 0.
    pub offsets: Vec<(u64, i64)>,
}

impl WallClock {
    fn at(&self, t_ms: u64, offset_ms: i64) -> u64 {
        ((self.start_wall_ms + t_ms) as i64 + offset_ms).max(0) as u64
    }

    /// Pieces as (from, to inclusive, offset); a change instant belongs to both sides
    /// (events at one millisecond may run before or after the jump).
    fn pieces(&self) -> impl Iterator<Item = (u64, u64, i64)> + '_ {
        self.offsets.iter().enumerate().map(|(i, &(from, off))| {
            let to = self.offsets.get(i + 1).map_or(u64::MAX / 4, |n| n.0);
            (from, to, off)
        })
    }

    /// The lowest wall time in the simulated window [a, b].
    fn lo(&self, a: u64, b: u64) -> u64 {
        self.pieces()
            .filter(|&(from, to, _)| from <= b && to >= a)
            .map(|(from, _, off)| self.at(from.max(a), off))
            .min()
            .unwrap_or(0)
    }

    /// The highest wall time handed out up to simulated time `b`.
    fn hi(&self, b: u64) -> u64 {
        self.pieces()
            .filter(|&(from, _, _)| from <= b)
            .map(|(_, to, off)| self.at(to.min(b), off))
            .max()
            .unwrap_or(0)
    }
}

/// Runs the linearizability checker over a run's history, partitioned by host (each
/// holds its own data), by crash epoch (a restart starts empty: each epoch is its own
/// sequential spec) and by key; `clocks` are the hosts' wall clocks.
pub(crate) fn check_linearizability(
    history: &[Op],
    clocks: &[WallClock],
    end_ms: u64,
) -> LinReport {
    let mut parts: std::collections::BTreeMap<(usize, u32, Vec<u8>), Vec<LinOp>> =
        Default::default();
    // The last checked op per (connection, key): a connection's requests run in order.
    let mut last_on_conn: std::collections::BTreeMap<(ConnId, Vec<u8>), usize> = Default::default();
    for (id, op) in history.iter().enumerate() {
        let reply = match op.outcome {
            OpOutcome::Ok => Some(op.reply.as_slice()),
            // An error reply changed nothing (OOM, not an integer): left out.
            OpOutcome::Fail => continue,
            OpOutcome::Unknown | OpOutcome::Pending => None,
        };
        let Some((key, cmd, out)) = linearizability::interpret(&op.request, reply) else {
            continue;
        };
        // The string spec knows nothing of collections (nor of commands queued in
        // MULTI): only keys that hold nothing but strings are judged.
        if !is_string_key(&key) {
            continue;
        }
        // A read whose outcome is unknown constrains nothing.
        if out == linearizability::Output::Unknown
            && matches!(
                cmd,
                linearizability::Cmd::Get | linearizability::Cmd::Exists
            )
        {
            continue;
        }
        let Some(clock) = clocks.get(op.host) else {
            continue;
        };
        let window_end_ms = op.complete_ms.unwrap_or(end_ms);
        let after = last_on_conn.insert((op.conn, key.clone()), id);
        parts
            .entry((op.host, op.epoch, key))
            .or_default()
            .push(LinOp {
                id,
                call: op.invoke_step,
                ret: op.complete_step.filter(|_| op.outcome == OpOutcome::Ok),
                wall_lo_ms: clock.lo(op.invoke_ms, window_end_ms),
                wall_hi_ms: clock.hi(window_end_ms),
                after,
                hint: op.run_seq.unwrap_or(u64::MAX),
                cmd,
                out,
            });
    }
    let mut report = LinReport {
        histories: parts.len(),
        ..LinReport::default()
    };
    for ((host, epoch, key), ops) in parts {
        report.ops += ops.len();
        match linearizability::check_key(&ops, Bounds::default()) {
            Verdict::Linearizable => {}
            Verdict::TooBig { .. } => report.too_big += 1,
            Verdict::NotLinearizable(why) => {
                report.violation.get_or_insert_with(|| {
                    format!(
                        "key {} (host {host}, epoch {epoch}, {} ops) is not linearizable: {why}",
                        String::from_utf8_lossy(&key),
                        ops.len()
                    )
                });
            }
        }
    }
    report
}

/// Runs the Elle checker over a run's transactions: its report (None when the run
/// sent none) and, when it found anomalies, the failure text.
pub(crate) fn check_transactions(history: &[Op]) -> (Option<ElleReport>, Option<String>) {
    let txns = transactions_of(history);
    if txns.is_empty() {
        return (None, None);
    }
    let report = elle::check(&txns);
    let failure = report.anomalies.first().map(|first| {
        let more = report.anomalies.len() - 1;
        format!(
            "Elle found {} anomal{} over {} transactions ({} committed): {first}{}",
            report.anomalies.len(),
            if more == 0 { "y" } else { "ies" },
            report.txns,
            report.committed,
            if more > 0 {
                format!(" (and {more} more)")
            } else {
                String::new()
            }
        )
    });
    let unknown = txns
        .iter()
        .filter(|t| t.outcome == elle::TxnOutcome::Unknown)
        .count();
    (Some(ElleReport { report, unknown }), failure)
}

/// What the Elle checker found over a run's transactions.
#[derive(Debug, Clone, Default)]
pub struct ElleReport {
    pub report: elle::Report,
    /// Transactions whose outcome the client never learned.
    pub unknown: usize,
}

/// The name of a request, uppercase.
pub(crate) fn request_name(request: &[Vec<u8>]) -> String {
    request
        .first()
        .map(|n| String::from_utf8_lossy(n).to_ascii_uppercase())
        .unwrap_or_default()
}

/// A list-append micro-op of the transactions workload (`RPUSH t v`, `LRANGE t 0 -1`)
/// with the read's values taken from `reply` when there is one.
fn micro_op(host: usize, request: &[Vec<u8>], reply: Option<&[u8]>) -> Option<elle::MicroOp> {
    let key = request.get(1)?;
    if key.first() != Some(&workload::TXN_PREFIX) {
        return None;
    }
    // Hosts hold separate data: the same name on two hosts is two keys.
    let key = &if host == 0 {
        key.clone()
    } else {
        [format!("host{host}/").into_bytes(), key.clone()].concat()
    };
    match (request_name(request).as_str(), request.len()) {
        ("RPUSH", 3) => {
            let value = std::str::from_utf8(request.get(2)?).ok()?.parse().ok()?;
            Some(elle::MicroOp::Append {
                key: key.clone(),
                value,
            })
        }
        ("LRANGE", 4) => {
            let values = reply.and_then(|r| {
                workload::split_array(r)?
                    .iter()
                    .map(|item| {
                        std::str::from_utf8(workload::bulk_payload(item)?)
                            .ok()?
                            .parse()
                            .ok()
                    })
                    .collect::<Option<Vec<u64>>>()
            });
            Some(elle::MicroOp::Read {
                key: key.clone(),
                values,
            })
        }
        _ => None,
    }
}

/// An open MULTI of one client, as the client saw it.
struct OpenTxn {
    conn: ConnId,
    invoke_ms: u64,
    /// History indices of the requests sent after MULTI.
    queued: Vec<usize>,
}

/// The transactions of a run, from the clients' side of the history: MULTI ...
/// EXEC/DISCARD on one connection (invoked at MULTI, completed at EXEC's reply;
/// committed on an array, aborted on nil, EXECABORT, DISCARD or a connection lost
/// before EXEC was sent, unknown when EXEC got no reply; reads from EXEC's reply), and
/// each list-append request outside MULTI as a transaction of its own.
pub(crate) fn transactions_of(history: &[Op]) -> Vec<elle::Txn> {
    let mut txns = Vec::new();
    let mut open: std::collections::BTreeMap<usize, OpenTxn> = Default::default();
    let close = |history: &[Op], t: OpenTxn, end: Option<&Op>, txns: &mut Vec<elle::Txn>| {
        use elle::TxnOutcome;
        let (outcome, replies) = match end {
            Some(exec) if request_name(&exec.request) == "EXEC" => match exec.outcome {
                OpOutcome::Ok => match workload::split_array(&exec.reply) {
                    Some(replies) => (TxnOutcome::Committed, Some(replies)),
                    None => (TxnOutcome::Aborted, None),
                },
                OpOutcome::Fail => (TxnOutcome::Aborted, None),
                OpOutcome::Unknown | OpOutcome::Pending => (TxnOutcome::Unknown, None),
            },
            // DISCARD, or the connection was lost before EXEC was sent.
            _ => (TxnOutcome::Aborted, None),
        };
        let ops: Vec<elle::MicroOp> = t
            .queued
            .iter()
            .enumerate()
            .filter_map(|(pos, &i)| {
                let reply = replies.as_ref().and_then(|r| r.get(pos)).map(Vec::as_slice);
                {
                    let op = history.get(i)?;
                    micro_op(op.host, &op.request, reply)
                }
            })
            .collect();
        if !ops.is_empty() {
            txns.push(elle::Txn {
                invoke_ms: t.invoke_ms,
                complete_ms: end.and_then(|e| e.complete_ms),
                outcome,
                ops,
            });
        }
    };
    for (i, op) in history.iter().enumerate() {
        if open.get(&op.client).is_some_and(|t| t.conn != op.conn) {
            if let Some(t) = open.remove(&op.client) {
                close(history, t, None, &mut txns);
            }
        }
        let name = request_name(&op.request);
        match (name.as_str(), open.contains_key(&op.client)) {
            ("MULTI", false) => {
                open.insert(
                    op.client,
                    OpenTxn {
                        conn: op.conn,
                        invoke_ms: op.invoke_ms,
                        queued: Vec::new(),
                    },
                );
            }
            ("EXEC" | "DISCARD", true) => {
                if let Some(t) = open.remove(&op.client) {
                    close(history, t, Some(op), &mut txns);
                }
            }
            (_, true) => {
                if let Some(t) = open.get_mut(&op.client) {
                    t.queued.push(i);
                }
            }
            (_, false) => {
                let reply = (op.outcome == OpOutcome::Ok).then_some(op.reply.as_slice());
                if let Some(micro) = micro_op(op.host, &op.request, reply) {
                    txns.push(elle::Txn {
                        invoke_ms: op.invoke_ms,
                        complete_ms: op.complete_ms,
                        outcome: match op.outcome {
                            OpOutcome::Ok => elle::TxnOutcome::Committed,
                            OpOutcome::Fail => elle::TxnOutcome::Aborted,
                            OpOutcome::Unknown | OpOutcome::Pending => elle::TxnOutcome::Unknown,
                        },
                        ops: vec![micro],
                    });
                }
            }
        }
    }
    for (_, t) in std::mem::take(&mut open) {
        close(history, t, None, &mut txns);
    }
    txns
}
