//! The checkers' side of a run: which checkers judge it, the shadow node fed only the
//! propagation stream, and the verdicts over a finished history (linearizability per
//! key, Elle over transactions). They read what the world recorded; they never drive it.

use keel_core::config::Config;
use keel_core::propagate::StreamEncoder;
use keel_core::{Effect, Input, Node, NodeSeeds, Now};

use crate::elle;
use crate::linearizability::{self, Bounds, LinOp, Verdict};
use crate::net::ConnId;
use crate::workload::{self, is_string_key, Op, OpOutcome};
use std::collections::BTreeMap;

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
    /// Replication (invariants 12–13): a replica at its master's (replid, offset)
    /// holds its master's dataset, and after heal and quiet every replica is there.
    Replication,
    /// Persistence (invariants 6–11): what a restart recovered, boot refusals, and no
    /// write acknowledged while the disk is failing (see `crate::durability`).
    Durability,
    /// Pub/sub: confirmations, PUBLISH counts and every message, judged from a
    /// subscriber registry replayed in the order the node ran commands.
    PubSub,
    /// PSYNC (invariant 14): every `+CONTINUE` and `+FULLRESYNC` on the simulated
    /// wire, judged by the PSYNC rules against the world's books of each master's
    /// history ids and backlog range (`crate::replication::psync`).
    Psync,
    /// Blocking commands: a timeout no earlier than asked, and clients waiting on a
    /// key served first come, first served, judged from when the world delivered
    /// requests and saw replies (`crate::blocking_order`), not from the model.
    Blocking,
}

impl Checker {
    pub fn name(self) -> &'static str {
        match self {
            Checker::Model => "model",
            Checker::Linearizability => "linearizability",
            Checker::Elle => "elle",
            Checker::Resource => "resource",
            Checker::Shadow => "shadow",
            Checker::Durability => "durability",
            Checker::Replication => "replication",
            Checker::PubSub => "pubsub",
            Checker::Psync => "psync",
            Checker::Blocking => "blocking",
        }
    }
}

impl Checker {
    pub const ALL: [Checker; 10] = [
        Checker::Model,
        Checker::Linearizability,
        Checker::Elle,
        Checker::Resource,
        Checker::Shadow,
        Checker::Durability,
        Checker::Replication,
        Checker::PubSub,
        Checker::Psync,
        Checker::Blocking,
    ];

    pub fn from_name(name: &str) -> Option<Checker> {
        Checker::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// What identifies a failure, so a shrink keeps the failure and not only the checker:
/// the checker, the kind of violation, the command involved (empty when none is).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Signature {
    pub checker: Checker,
    pub kind: String,
    pub command: String,
}

impl std::fmt::Display for Signature {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.checker.name(), self.kind)?;
        if !self.command.is_empty() {
            write!(f, "/{}", self.command)?;
        }
        Ok(())
    }
}

/// Which checkers judge a run. The protocol and liveness assertions that keep the
/// world itself going (replies that frame, no hang) hold whatever is selected; they
/// report as `resource`.
#[derive(Debug, Clone, Copy)]
pub struct Checks {
    pub model: bool,
    pub linearizability: bool,
    pub elle: bool,
    pub resource: bool,
    pub shadow: bool,
    pub durability: bool,
    pub replication: bool,
    pub pubsub: bool,
    pub psync: bool,
    pub blocking: bool,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            model: true,
            linearizability: true,
            elle: true,
            resource: true,
            shadow: true,
            durability: true,
            replication: true,
            pubsub: true,
            psync: true,
            blocking: true,
        }
    }
}

impl Checks {
    /// None of them (select with `with`).
    pub fn none() -> Checks {
        Checks {
            model: false,
            linearizability: false,
            elle: false,
            resource: false,
            shadow: false,
            durability: false,
            replication: false,
            pubsub: false,
            psync: false,
            blocking: false,
        }
    }

    pub fn with(mut self, checker: Checker) -> Checks {
        match checker {
            Checker::Model => self.model = true,
            Checker::Linearizability => self.linearizability = true,
            Checker::Elle => self.elle = true,
            Checker::Resource => self.resource = true,
            Checker::Shadow => self.shadow = true,
            Checker::Durability => self.durability = true,
            Checker::Replication => self.replication = true,
            Checker::PubSub => self.pubsub = true,
            Checker::Psync => self.psync = true,
            Checker::Blocking => self.blocking = true,
        }
        self
    }

    pub fn enabled(&self, checker: Checker) -> bool {
        match checker {
            Checker::Model => self.model,
            Checker::Linearizability => self.linearizability,
            Checker::Elle => self.elle,
            Checker::Resource => self.resource,
            Checker::Shadow => self.shadow,
            Checker::Durability => self.durability,
            Checker::Replication => self.replication,
            Checker::PubSub => self.pubsub,
            Checker::Psync => self.psync,
            Checker::Blocking => self.blocking,
        }
    }

    /// A comma-separated list of checker names (`model,elle`), or `all`.
    pub fn parse(list: &str) -> Result<Checks, String> {
        if list == "all" {
            return Ok(Checks::default());
        }
        list.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .try_fold(Checks::none(), |checks, name| {
                Checker::from_name(name)
                    .map(|c| checks.with(c))
                    .ok_or_else(|| format!("unknown checker '{name}' (model, linearizability, elle, resource, shadow, durability, replication, pubsub, psync, blocking)"))
            })
    }
}

/// The shadow node: it gets, over one connection, only what the node propagated,
/// with SELECT where the database changes, at the node's time; it never expires
/// keys on its own (a replica waits for its master's DELs).
pub(crate) struct Shadow {
    pub(crate) node: Node,
    /// The propagation stream's encoder (the SELECTs a replica link would carry).
    stream: StreamEncoder,
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
            stream: StreamEncoder::default(),
            behind: false,
            compared_at_ms: 0,
        }
    }

    /// A shadow that starts from `node` (a replay of what a restart recovered, already
    /// holding connection `CONN`).
    pub(crate) fn from_node(node: Node) -> Shadow {
        Shadow {
            node,
            stream: StreamEncoder::default(),
            behind: false,
            compared_at_ms: 0,
        }
    }

    pub(crate) fn apply(&mut self, now: Now, records: Vec<keel_core::propagate::Propagated>) {
        let mut stream = Vec::new();
        for record in &records {
            self.stream.encode(record, &mut stream);
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

/// A string key a restart recovered: the first write of its (host, epoch) history.
#[derive(Debug, Clone)]
pub(crate) struct Recovered {
    pub(crate) host: usize,
    pub(crate) epoch: u32,
    pub(crate) key: Vec<u8>,
    pub(crate) value: Vec<u8>,
    pub(crate) expire_at_ms: Option<u64>,
    /// The node's wall clock and the history's step when it was recovered.
    pub(crate) wall_ms: u64,
    pub(crate) step: u64,
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

impl LinReport {
    /// Judges one history against the spec `S`: counts it, and keeps the first
    /// violation as `what` (which history, how it failed) and the search's reason.
    pub(crate) fn judge<S: linearizability::Spec>(
        &mut self,
        ops: &[LinOp<S::Cmd, S::Out>],
        what: impl FnOnce() -> String,
    ) {
        self.ops += ops.len();
        match linearizability::check_history::<S>(ops, Bounds::default()) {
            Verdict::Linearizable => {}
            Verdict::TooBig { .. } => self.too_big += 1,
            Verdict::NotLinearizable(why) => {
                if self.violation.is_none() {
                    self.violation = Some(format!("{}: {why}", what()));
                }
            }
        }
    }
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

/// A FLUSHALL (or FLUSHDB in database 0, where the judged keys live) as a write of
/// "absent" to every key, waiting to be added to each key's history.
struct Flush {
    host: usize,
    epoch: u32,
    /// The flushing connection's last judged op per key before it.
    before: BTreeMap<Vec<u8>, usize>,
    previous_flush: Option<usize>,
    op: LinOp,
}

enum FlushOf {
    /// Not a flush (SELECT and RESET are followed here, and are not flushes either).
    NotOne,
    /// A FLUSHDB of a database other than 0: no judged key is there.
    OtherDb,
    /// A flush of database 0, with what its client saw.
    Flush(linearizability::Output),
}

/// Whether `request` (with its reply, None when unknown) flushed database 0, keeping
/// each connection's database as its client knows it up to date.
fn flush_of(
    request: &[Vec<u8>],
    reply: Option<&[u8]>,
    conn_db: &mut std::collections::BTreeMap<ConnId, Option<u32>>,
    conn: ConnId,
) -> FlushOf {
    let ok = reply == Some(b"+OK\r\n".as_slice());
    let name = request_name(request);
    match name.as_str() {
        "SELECT" | "RESET" => {
            let db = if name == "RESET" {
                Some(0)
            } else {
                request
                    .get(1)
                    .and_then(|d| std::str::from_utf8(d).ok()?.parse::<u32>().ok())
            };
            // A refused SELECT (out of range, or queued inside MULTI's error path)
            // leaves the database as it was (chaos 0x382: `SELECT 16` made the
            // connection's database unknown, so its `FLUSHDB SYNC` no longer split
            // Elle's eras); one of unknown outcome leaves it unknown.
            if reply.is_some_and(|r| r.starts_with(b"-")) {
                return FlushOf::NotOne;
            }
            let ran = ok || reply == Some(b"+RESET\r\n".as_slice());
            conn_db.insert(conn, if ran { db } else { None });
            FlushOf::NotOne
        }
        "FLUSHALL" | "FLUSHDB" if reply.is_none() || ok => {
            let db = conn_db.get(&conn).copied().unwrap_or(Some(0));
            let out = if ok {
                linearizability::Output::Ok
            } else {
                linearizability::Output::Unknown
            };
            match (name.as_str(), db) {
                ("FLUSHDB", Some(d)) if d != 0 => FlushOf::OtherDb,
                // In an unknown database it may or may not have flushed database 0.
                ("FLUSHDB", None) => FlushOf::Flush(linearizability::Output::Unknown),
                _ => FlushOf::Flush(out),
            }
        }
        _ => FlushOf::NotOne,
    }
}

/// Runs the linearizability checker over a run's history, partitioned by host (each
/// holds its own data), by crash epoch (a restart starts empty: each epoch is its own
/// sequential spec) and by key; `clocks` are the hosts' wall clocks.
pub(crate) fn check_linearizability(
    history: &[Op],
    clocks: &[WallClock],
    end_ms: u64,
    recovered: &[Recovered],
) -> LinReport {
    let mut parts: std::collections::BTreeMap<(usize, u32, Vec<u8>), Vec<LinOp>> =
        Default::default();
    // A restart's recovered value is a write that took effect before anything of its
    // epoch (ids past the history's).
    for (n, r) in recovered.iter().enumerate() {
        if !is_string_key(&r.key) {
            continue;
        }
        // The expire time is absolute; one already past is kept (the node keeps
        // such a key: a backward clock jump makes it live again), so the SET is
        // placed at its expire time with no TTL left.
        let (px_ms, wall_ms) = match r.expire_at_ms {
            Some(at) => (Some(0), at),
            None => (None, r.wall_ms),
        };
        parts
            .entry((r.host, r.epoch, r.key.clone()))
            .or_default()
            .push(LinOp {
                id: history.len() + n,
                call: r.step,
                ret: Some(r.step),
                wall_lo_ms: wall_ms,
                wall_hi_ms: wall_ms,
                after: None,
                hint: 0,
                cmd: linearizability::Cmd::Set {
                    value: r.value.clone(),
                    px_ms,
                },
                out: linearizability::Output::Ok,
            });
    }
    // The last checked op per (connection, key): a connection's requests run in order.
    let mut last_on_conn: std::collections::BTreeMap<(ConnId, Vec<u8>), usize> = Default::default();
    // Each connection's database as its client knows it (None: a SELECT of unknown
    // outcome), and its last flush.
    let mut conn_db: std::collections::BTreeMap<ConnId, Option<u32>> = Default::default();
    let mut last_flush_on_conn: std::collections::BTreeMap<ConnId, usize> = Default::default();
    let mut flushes: Vec<Flush> = Vec::new();
    for (id, op) in history.iter().enumerate() {
        let reply = match op.outcome {
            OpOutcome::Ok => Some(op.reply.as_slice()),
            // An error reply changed nothing (OOM, not an integer): left out.
            OpOutcome::Fail => continue,
            OpOutcome::Unknown | OpOutcome::Pending => None,
        };
        match flush_of(&op.request, reply, &mut conn_db, op.conn) {
            FlushOf::NotOne => {}
            FlushOf::OtherDb => continue,
            FlushOf::Flush(out) => {
                let Some(clock) = clocks.get(op.host) else {
                    continue;
                };
                let window_end_ms = op.complete_ms.unwrap_or(end_ms);
                // What this connection ran before it, per key (a key first met later
                // had nothing on this connection before the flush but older flushes).
                let before: BTreeMap<Vec<u8>, usize> = last_on_conn
                    .range((op.conn, Vec::new())..)
                    .take_while(|((c, _), _)| *c == op.conn)
                    .map(|((_, k), &i)| (k.clone(), i))
                    .collect();
                flushes.push(Flush {
                    host: op.host,
                    epoch: op.epoch,
                    before,
                    previous_flush: last_flush_on_conn.insert(op.conn, id),
                    op: LinOp {
                        id,
                        call: op.invoke_step,
                        ret: op.complete_step.filter(|_| op.outcome == OpOutcome::Ok),
                        wall_lo_ms: clock.lo(op.invoke_ms, window_end_ms),
                        wall_hi_ms: clock.hi(window_end_ms),
                        after: None,
                        hint: op.run_seq.unwrap_or(u64::MAX),
                        cmd: linearizability::Cmd::Flush,
                        out,
                    },
                });
                continue;
            }
        }
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
        let after = last_on_conn
            .insert((op.conn, key.clone()), id)
            .max(last_flush_on_conn.get(&op.conn).copied());
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
    // A flush writes "absent" to every key its host's epoch judges.
    for flush in flushes {
        for ((host, epoch, key), ops) in parts.iter_mut() {
            if (*host, *epoch) != (flush.host, flush.epoch) {
                continue;
            }
            let mut op = flush.op.clone();
            op.after = flush.before.get(key).copied().max(flush.previous_flush);
            ops.push(op);
        }
    }
    let mut report = LinReport {
        histories: parts.len(),
        ..LinReport::default()
    };
    for ((host, epoch, key), ops) in parts {
        report.judge::<linearizability::Strings>(&ops, || {
            format!(
                "key {} (host {host}, epoch {epoch}, {} ops) is not linearizable",
                String::from_utf8_lossy(&key),
                ops.len()
            )
        });
    }
    report
}

/// The transaction lists (`TXN_PREFIX` keys, Elle's names) a restart recovered, per
/// (host, epoch): the state that epoch's transactions start from.
pub(crate) type RecoveredLists = BTreeMap<(usize, u32), Vec<(Vec<u8>, Vec<u64>)>>;

/// Runs the Elle checker over a run's transactions: its report (None when the run
/// sent none) and, when it found anomalies, the failure text.
///
/// A crash ends a history: each (host, epoch) is judged on its own. Epoch 0 starts
/// from empty lists; a later epoch starts from the lists its restart recovered (a
/// first transaction, T0, appends them), and is judged only when the recovery was
/// judged (`recovered` has its entry): whether the restart kept what it had to is the
/// durability checker's question, not Elle's.
pub(crate) fn check_transactions(
    history: &[Op],
    recovered: &RecoveredLists,
) -> (Option<ElleReport>, Option<String>) {
    let mut parts: BTreeMap<(usize, u32), Vec<&Op>> = BTreeMap::new();
    for op in history {
        parts.entry((op.host, op.epoch)).or_default().push(op);
    }
    // A flush of database 0 empties every list: Elle's lists only grow, so each
    // (host, epoch) is judged per flush era, split where the flushes ran (the world
    // knows the order the node ran requests in). A transaction belongs to the era its
    // EXEC (or lone request) ran in; one that never ran, to the era it was sent in.
    let mut eras: BTreeMap<(usize, u32, usize), Vec<elle::Txn>> = BTreeMap::new();
    let mut unjudged = std::collections::BTreeSet::new();
    for ((host, epoch), ops) in parts {
        let mut conn_db = BTreeMap::new();
        // (where, when it ran): None for a flush of unknown outcome (its reply lost
        // to a reset or a crash, or its connection's database unknown).
        let flushes: Vec<(usize, Option<u64>)> = ops
            .iter()
            .enumerate()
            .filter_map(|(i, op)| {
                let ran = flush_of(&op.request, op.node_reply.as_deref(), &mut conn_db, op.conn);
                match ran {
                    FlushOf::Flush(linearizability::Output::Ok) => Some((i, op.run_seq)),
                    FlushOf::Flush(_) => Some((i, None)),
                    _ => None,
                }
            })
            .collect();
        // A flush that may or may not have run empties the lists at a moment nobody
        // knows: the eras on both sides of it are not judged.
        for (k, _) in flushes.iter().enumerate().filter(|(_, f)| f.1.is_none()) {
            unjudged.insert((host, epoch, k));
            unjudged.insert((host, epoch, k + 1));
        }
        for (txn, end) in transactions_with_ends(&ops) {
            let end_op = end.and_then(|e| ops.get(e).map(|op| (e, op.run_seq)));
            let era = flushes
                .iter()
                .filter(|&&(at, run)| match (end_op, run) {
                    (Some((_, Some(end_run))), Some(run)) => run < end_run,
                    (Some((e, _)), _) => at < e,
                    (None, _) => false,
                })
                .count();
            eras.entry((host, epoch, era)).or_default().push(txn);
        }
        // An epoch with no transactions still has its recovered lists judged by
        // nothing here (as before): only eras with transactions are judged.
    }
    let mut total = elle::Report::default();
    let mut unknown = 0;
    let mut failure = None;
    let mut any = false;
    for ((host, epoch, era), era_txns) in eras {
        if unjudged.contains(&(host, epoch, era)) {
            continue;
        }
        let genesis = if epoch == 0 || era > 0 {
            None
        } else {
            match recovered.get(&(host, epoch)) {
                Some(lists) => Some(elle::Txn {
                    invoke_ms: 0,
                    complete_ms: Some(0),
                    outcome: elle::TxnOutcome::Committed,
                    ops: lists
                        .iter()
                        .flat_map(|(key, values)| {
                            values.iter().map(|&value| elle::MicroOp::Append {
                                key: key.clone(),
                                value,
                            })
                        })
                        .collect(),
                }),
                None => continue,
            }
        };
        let mut txns: Vec<elle::Txn> = genesis.into_iter().collect();
        let from = txns.len();
        txns.extend(era_txns);
        if txns.len() == from {
            continue;
        }
        any = true;
        let report = elle::check(&txns);
        unknown += txns
            .iter()
            .filter(|t| t.outcome == elle::TxnOutcome::Unknown)
            .count();
        if failure.is_none() {
            failure = report.anomalies.first().map(|first| {
                let more = report.anomalies.len() - 1;
                format!(
                    "Elle found {} anomal{} over {} transactions ({} committed) of host {host} epoch {epoch}{}{}: {first}{}",
                    report.anomalies.len(),
                    if more == 0 { "y" } else { "ies" },
                    report.txns,
                    report.committed,
                    if era > 0 {
                        format!(" after its flush #{era}")
                    } else {
                        String::new()
                    },
                    if from > 0 { " (T0: the recovered lists)" } else { "" },
                    if more > 0 {
                        format!(" (and {more} more)")
                    } else {
                        String::new()
                    }
                )
            });
        }
        total.txns += report.txns - from;
        total.committed += report.committed - from;
        total.edges += report.edges;
        total.anomalies.extend(report.anomalies);
    }
    if !any {
        return (None, None);
    }
    (
        Some(ElleReport {
            report: total,
            unknown,
        }),
        failure,
    )
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
                let (value, _) = keel_core::resp::decode(r).ok()??;
                value
                    .as_items()?
                    .iter()
                    .map(|item| match item {
                        keel_core::resp::Value::Bulk(b) => {
                            std::str::from_utf8(b).ok()?.parse().ok()
                        }
                        _ => None,
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
#[cfg(test)]
pub(crate) fn transactions_of(history: &[Op]) -> Vec<elle::Txn> {
    transactions_with_ends(&history.iter().collect::<Vec<_>>())
        .into_iter()
        .map(|(t, _)| t)
        .collect()
}

/// `transactions_of`, each with the index of the request that ended it (EXEC,
/// DISCARD or the lone request; None when its connection was lost first).
fn transactions_with_ends(history: &[&Op]) -> Vec<(elle::Txn, Option<usize>)> {
    let mut txns = Vec::new();
    let mut open: std::collections::BTreeMap<usize, OpenTxn> = Default::default();
    let close = |history: &[&Op],
                 t: OpenTxn,
                 end: Option<(usize, &Op)>,
                 txns: &mut Vec<(elle::Txn, Option<usize>)>| {
        let end_index = end.map(|(i, _)| i);
        let end = end.map(|(_, op)| op);
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
            txns.push((
                elle::Txn {
                    invoke_ms: t.invoke_ms,
                    complete_ms: end.and_then(|e| e.complete_ms),
                    outcome,
                    ops,
                },
                end_index,
            ));
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
                    close(history, t, Some((i, op)), &mut txns);
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
                    txns.push((
                        elle::Txn {
                            invoke_ms: op.invoke_ms,
                            complete_ms: op.complete_ms,
                            outcome: match op.outcome {
                                OpOutcome::Ok => elle::TxnOutcome::Committed,
                                OpOutcome::Fail => elle::TxnOutcome::Aborted,
                                OpOutcome::Unknown | OpOutcome::Pending => {
                                    elle::TxnOutcome::Unknown
                                }
                            },
                            ops: vec![micro],
                        },
                        Some(i),
                    ));
                }
            }
        }
    }
    for (_, t) in std::mem::take(&mut open) {
        close(history, t, None, &mut txns);
    }
    txns
}

/// One connection's WATCH state, as the WATCH rule follows it.
#[derive(Default)]
struct WatchConn {
    /// Watched key -> (written since WATCH: the op that wrote it; its TTL at WATCH and
    /// whether it was live then, or None when the rule cannot tell what happened).
    watched: std::collections::BTreeMap<Vec<u8>, (Option<usize>, Option<u64>)>,
    /// Inside MULTI: the requests queued so far.
    queued: Option<Vec<usize>>,
}

/// What a request that ran did to its key, by its name and the node's reply.
enum Touch {
    /// Read only, or refused: nothing changed.
    Nothing,
    /// Certainly modified `key` (Redis signals a watched-key touch).
    Wrote(Vec<u8>),
    /// May have changed anything (a command the rule does not read).
    Unknown,
}

fn touch_of(request: &[Vec<u8>], reply: &[u8]) -> Touch {
    use keel_core::resp::Value;
    if workload::is_read_only(request) || reply.first() == Some(&b'-') {
        return Touch::Nothing;
    }
    let Some(key) = request.get(1).cloned() else {
        return Touch::Unknown;
    };
    let value = keel_core::resp::decode(reply)
        .ok()
        .flatten()
        .map(|(v, _)| v);
    let name = request_name(request);
    match (name.as_str(), value) {
        ("SET", Some(Value::Simple(_))) => Touch::Wrote(key),
        ("SET", Some(Value::NullBulk)) => Touch::Nothing,
        (
            "INCR" | "INCRBY" | "DECR" | "DECRBY" | "APPEND" | "RPUSH" | "LPUSH",
            Some(Value::Int(_)),
        ) => Touch::Wrote(key),
        ("DEL", Some(Value::Int(0))) if request.len() == 2 => Touch::Nothing,
        ("DEL", Some(Value::Int(_))) if request.len() == 2 => Touch::Wrote(key),
        _ => Touch::Unknown,
    }
}

/// What the WATCH rule knows of a key's TTL.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ttl {
    /// No TTL (or no key).
    None,
    /// Expires once the node's wall clock passes this (Redis: `now > at`).
    At(u64),
    /// A command the rule does not read touched it.
    Unknown,
}

/// A key's TTL after `request`, which wrote it at wall time `wall_ms`.
fn ttl_after(before: Ttl, request: &[Vec<u8>], wall_ms: u64) -> Ttl {
    let option = |name: &[u8]| {
        request
            .iter()
            .skip(3)
            .position(|a| a.eq_ignore_ascii_case(name))
            .and_then(|p| request.get(p + 4))
            .and_then(|v| std::str::from_utf8(v).ok()?.parse::<u64>().ok())
    };
    match request_name(request).as_str() {
        "SET" if request.len() == 3 => Ttl::None,
        "SET" => match (option(b"PX"), option(b"EX")) {
            (Some(px), None) => Ttl::At(wall_ms + px),
            (None, Some(ex)) => Ttl::At(wall_ms + ex * 1000),
            _ => Ttl::Unknown,
        },
        "DEL" => Ttl::None,
        // A write keeps a live key's TTL; an expired key was replaced by a new one.
        _ => match before {
            Ttl::At(at) if wall_ms > at => Ttl::None,
            other => other,
        },
    }
}

/// The WATCH rule, judged from what ran (in the order each host ran it, with the
/// replies it sent) and independent of the model: an EXEC whose watched key was
/// written by anyone between its WATCH and the EXEC must abort; an EXEC whose watched
/// keys nobody wrote, that could not have expired meanwhile and that no command the
/// rule cannot read touched, must run. None when every EXEC obeyed it.
/// `loaded_at_run` holds, per (host, epoch), the run count when its restart finished
/// loading: a WATCH run before it is unsure (the AOF replay may have written its keys).
/// `clocks`: each host's wall clock over simulated time (active expiry runs on ticks,
/// not only at requests, so a TTL may be passed between two requests).
pub(crate) fn check_watch(
    history: &[Op],
    loaded_at_run: &std::collections::BTreeMap<(usize, u32), u64>,
    clocks: &[WallClock],
) -> Option<(&'static str, String)> {
    // Only keys somebody watched matter (and a run without WATCH has nothing to judge).
    let watched_ever: std::collections::BTreeSet<&[u8]> = history
        .iter()
        .filter(|op| {
            op.request
                .first()
                .is_some_and(|n| n.eq_ignore_ascii_case(b"WATCH"))
        })
        .flat_map(|op| op.request.iter().skip(1).map(Vec::as_slice))
        .collect();
    if watched_ever.is_empty() {
        return None;
    }
    // Writes the node never answered, in history order (few: a scan per EXEC over
    // the whole history would be quadratic in a long run).
    let unanswered_writes: Vec<usize> = history
        .iter()
        .enumerate()
        .filter(|(_, o)| o.node_reply.is_none() && !workload::is_read_only(&o.request))
        .map(|(j, _)| j)
        .collect();
    let mut ran: Vec<(usize, u64, usize)> = history
        .iter()
        .enumerate()
        .filter_map(|(i, op)| Some((op.host, op.run_seq?, i)))
        .collect();
    ran.sort_unstable();
    let mut conns: std::collections::BTreeMap<ConnId, WatchConn> = Default::default();
    // Keys that may hold a TTL, per host (and crash epoch).
    let mut ttl: std::collections::BTreeMap<Vec<u8>, Ttl> = Default::default();
    let mut at = (usize::MAX, u32::MAX);
    // The highest wall time this (host, epoch) ran a request at: a key whose TTL it
    // passed may have been deleted by expiry (which dirties its watches) even if a
    // backward clock jump puts EXEC's clock before it again (chaos 0x12f).
    let mut wall_hi_ms = 0;
    // What the rule assumes of a key no request it read has written: no TTL at a
    // host's first start (an empty dataset); after a restart, whatever the recovered
    // dataset gave it (chaos 0x23b6: `w0` recovered with a TTL, watched live, expired
    // before EXEC).
    let mut unwritten = Ttl::None;
    // Watched-ever keys certainly in the table: last written by a command the rule
    // reads, without a TTL (so no expiry takes them), and no command it cannot read
    // ran since. A FLUSHALL touches these (the scenarios that flush evict nothing).
    let mut present: std::collections::BTreeSet<Vec<u8>> = Default::default();
    for &(host, run_seq, i) in &ran {
        let op = &history[i];
        let (Some(reply), Some(wall_ms)) = (op.node_reply.as_deref(), op.run_wall_ms) else {
            continue;
        };
        if at != (host, op.epoch) {
            at = (host, op.epoch);
            conns.clear();
            ttl.clear();
            present.clear();
            wall_hi_ms = 0;
            unwritten = if op.epoch == 0 {
                Ttl::None
            } else {
                Ttl::Unknown
            };
        }
        // The node's ticks between requests count too (chaos 0x3 --duration 120:
        // `SET w0 v PX 10`, ticks past it, a backward jump, then WATCH w0 — expiry
        // had deleted w0 before WATCH, so a FLUSHALL touched nothing).
        // A request whose client never saw its reply counts from when it reached
        // the node (chaos 0x44c: an EXEC delivered after a partition, its client
        // gone, ran after ticks past its watched key's TTL and a backward jump).
        let ticked_hi = op
            .complete_ms
            .or(op.delivered_ms)
            .and_then(|t| clocks.get(host).map(|c| c.hi(t)))
            .unwrap_or(0);
        wall_hi_ms = wall_hi_ms.max(wall_ms).max(ticked_hi);
        let name = request_name(&op.request);
        let in_multi = conns.get(&op.conn).is_some_and(|c| c.queued.is_some());
        // What this request wrote, as (request index, its reply) pairs.
        let mut ran_writes: Vec<(usize, Vec<u8>)> = Vec::new();
        match (name.as_str(), in_multi) {
            ("WATCH", false) if reply == b"+OK\r\n" => {
                let while_loading = loaded_at_run
                    .get(&(host, op.epoch))
                    .is_some_and(|&loaded| run_seq <= loaded);
                let conn = conns.entry(op.conn).or_default();
                for key in op.request.iter().skip(1) {
                    if while_loading {
                        conn.watched.entry(key.clone()).or_insert((None, None));
                        continue;
                    }
                    // A key already expired (or of unknown TTL) when watched: Redis's
                    // rules for it depend on when it is reclaimed; only writes judge it.
                    let deadline = match ttl.get(key).copied().unwrap_or(unwritten) {
                        Ttl::None => Some(u64::MAX),
                        Ttl::At(at) if wall_ms <= at => Some(at),
                        Ttl::At(_) | Ttl::Unknown => None,
                    };
                    conn.watched.entry(key.clone()).or_insert((None, deadline));
                }
            }
            ("UNWATCH", false) => {
                conns.remove(&op.conn);
            }
            ("MULTI", false) if reply == b"+OK\r\n" => {
                conns.entry(op.conn).or_default().queued = Some(Vec::new());
            }
            ("DISCARD", true) => {
                conns.remove(&op.conn);
            }
            ("EXEC", true) => {
                let Some(conn) = conns.remove(&op.conn) else {
                    continue;
                };
                let queued = conn.queued.unwrap_or_default();
                let items = keel_core::resp::element_frames(reply).filter(|(k, _)| *k == b'*');
                let committed = items.is_some();
                let aborted = reply == b"*-1\r\n";
                let written = conn
                    .watched
                    .iter()
                    .find_map(|(k, (w, _))| w.map(|w| (k.clone(), w)));
                let unsure = conn.watched.values().any(|(_, d)| d.is_none());
                // Live when watched, past its TTL now: it expired in between.
                let expired = conn
                    .watched
                    .iter()
                    .find(|(_, (_, d))| d.is_some_and(|d| wall_ms > d))
                    .map(|(k, _)| k.clone());
                if let (true, Some((key, by))) = (committed, &written) {
                    return Some(("watch-ran-after-write", format!(
                        "EXEC #{i} (conn {}) ran though its watched key {} was written by #{by} ({}) after WATCH",
                        op.conn,
                        String::from_utf8_lossy(key),
                        show_request(&history[*by].request)
                    )));
                }
                if let (true, Some(key)) = (committed, &expired) {
                    return Some((
                        "watch-ran-after-expiry",
                        format!(
                            "EXEC #{i} (conn {}) ran though its watched key {} expired after WATCH",
                            op.conn,
                            String::from_utf8_lossy(key),
                        ),
                    ));
                }
                // A write the node never answered (its connection closed first) may
                // have run at any point, a watched key's included (chaos 0x33: a
                // `SET w0` sent to a paused node by a client that then gave up ran
                // when the pause ended).
                let unanswered = unanswered_writes
                    .iter()
                    .take_while(|&&j| j < i)
                    .map(|&j| &history[j])
                    .any(|o| {
                        o.host == host
                            && o.epoch == op.epoch
                            && o.request
                                .iter()
                                .skip(1)
                                .any(|a| conn.watched.contains_key(a))
                    });
                let may_have_expired = conn
                    .watched
                    .values()
                    .any(|(_, d)| d.is_some_and(|d| wall_hi_ms > d));
                if aborted
                    && written.is_none()
                    && expired.is_none()
                    && !may_have_expired
                    && !unsure
                    && !unanswered
                    && !conn.watched.is_empty()
                {
                    let keys: Vec<String> = conn
                        .watched
                        .keys()
                        .map(|k| String::from_utf8_lossy(k).into_owned())
                        .collect();
                    return Some(("watch-aborted-untouched", format!(
                        "EXEC #{i} (conn {}) aborted though nobody wrote its watched keys {keys:?} since WATCH and none could expire",
                        op.conn
                    )));
                }
                if let Some((_, items)) = items {
                    for (q, item) in queued.iter().zip(items) {
                        ran_writes.push((*q, item.to_vec()));
                    }
                }
            }
            (_, true) => {
                if reply == b"+QUEUED\r\n" {
                    if let Some(q) = conns.get_mut(&op.conn).and_then(|c| c.queued.as_mut()) {
                        q.push(i);
                    }
                }
            }
            (_, false) => {
                if !workload::is_read_only(&op.request) {
                    ran_writes.push((i, reply.to_vec()));
                }
            }
        }
        for (w, reply) in ran_writes {
            let request = &history[w].request;
            // The database-wide ones (their arguments are no keys): whether a flush
            // dirties a watch depends on whether its key was in the table, which the
            // rule does not follow; every key a FLUSHALL leaves is gone.
            let name = request_name(request);
            if matches!(name.as_str(), "FLUSHALL" | "FLUSHDB" | "SWAPDB") {
                if reply.first() != Some(&b'-') {
                    for c in conns.values_mut() {
                        for (key, (written, deadline)) in c.watched.iter_mut() {
                            // A TTL this host's clock has passed: expiry may have
                            // deleted the key before WATCH (the flush then finds
                            // nothing to touch) or after it (its deletion dirtied the
                            // watch), even if a backward jump put the clock before it
                            // again (chaos 0x3 --duration 120). The deadline stays, so
                            // either outcome is explained.
                            if deadline.is_some_and(|d| d != u64::MAX && wall_hi_ms > d) {
                                continue;
                            }
                            // Live with a TTL when watched: in the table now, or
                            // already touched by whatever removed it.
                            let live_ttl = deadline.is_some_and(|d| d != u64::MAX);
                            if name == "FLUSHALL" && (live_ttl || present.contains(key)) {
                                written.get_or_insert(w);
                            }
                            *deadline = None;
                        }
                    }
                    if name == "FLUSHALL" {
                        ttl.clear();
                    } else {
                        ttl.values_mut().for_each(|t| *t = Ttl::Unknown);
                    }
                    present.clear();
                }
                continue;
            }
            // A command on keys nobody ever watched (a keyless one may touch any).
            if request.len() > 1
                && !request
                    .iter()
                    .skip(1)
                    .any(|a| watched_ever.contains(a.as_slice()))
            {
                continue;
            }
            match touch_of(request, &reply) {
                Touch::Nothing => {}
                Touch::Wrote(key) => {
                    for c in conns.values_mut() {
                        if let Some((written, _)) = c.watched.get_mut(&key) {
                            written.get_or_insert(w);
                        }
                    }
                    let before = ttl.get(&key).copied().unwrap_or(unwritten);
                    let after = ttl_after(before, request, wall_ms);
                    if after == Ttl::None && name != "DEL" {
                        present.insert(key.clone());
                    } else {
                        present.remove(&key);
                    }
                    ttl.insert(key, after);
                }
                Touch::Unknown => {
                    present.clear();
                    for c in conns.values_mut() {
                        for (_, deadline) in c.watched.values_mut() {
                            *deadline = None;
                        }
                    }
                    if let Some(key) = request.get(1) {
                        ttl.insert(key.clone(), Ttl::Unknown);
                    }
                }
            }
        }
    }
    None
}

pub(crate) fn show_request(request: &[Vec<u8>]) -> String {
    request
        .iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One single-command op of client 0 on host 0 (committed when it has a reply).
    fn op(epoch: u32, conn: ConnId, t: u64, line: &str, reply: &str) -> Op {
        Op {
            client: 0,
            host: 0,
            conn,
            invoke_ms: t,
            complete_ms: Some(t + 1),
            invoke_step: t,
            complete_step: Some(t + 1),
            epoch,
            request: line.split(' ').map(|a| a.as_bytes().to_vec()).collect(),
            reply: reply.as_bytes().to_vec(),
            node_reply: None,
            run_seq: None,
            judged_before_run: None,
            delivered_ms: None,
            run_wall_ms: None,
            outcome: OpOutcome::Ok,
        }
    }

    /// An EXEC its client never saw answered (it gave up during a partition) ran
    /// when its bytes reached the node, after ticks past its watched key's TTL and
    /// a backward jump: expiry may have deleted the key (dirtying the watch), so the
    /// abort is explained; delivered before the TTL passed, it is not (chaos 0x44c).
    #[test]
    fn an_unanswered_exec_counts_the_ticks_before_it_reached_the_node() {
        let clocks = [WallClock {
            start_wall_ms: 10_000,
            offsets: vec![(0, 0), (194, -1988)],
        }];
        let ran = |mut o: Op, seq: u64, wall_ms: u64, reply: &str| {
            o.run_seq = Some(seq);
            o.run_wall_ms = Some(wall_ms);
            o.node_reply = Some(reply.as_bytes().to_vec());
            o
        };
        let history = |delivered_ms: Option<u64>| {
            let mut exec = ran(op(0, 2, 115, "EXEC", ""), 4, 10_491 - 1988, "*-1\r\n");
            exec.complete_ms = None;
            exec.complete_step = None;
            exec.outcome = OpOutcome::Unknown;
            exec.delivered_ms = delivered_ms;
            vec![
                ran(
                    op(0, 1, 90, "SET w0 v PX 13", "+OK\r\n"),
                    1,
                    10_092,
                    "+OK\r\n",
                ),
                ran(op(0, 2, 90, "WATCH w0", "+OK\r\n"), 2, 10_093, "+OK\r\n"),
                ran(op(0, 2, 90, "MULTI", "+OK\r\n"), 3, 10_093, "+OK\r\n"),
                exec,
            ]
        };
        let verdict = |delivered_ms| {
            check_watch(&history(delivered_ms), &Default::default(), &clocks).map(|v| v.0)
        };
        assert_eq!(verdict(Some(491)), None);
        assert_eq!(verdict(Some(100)), Some("watch-aborted-untouched"));
        assert_eq!(verdict(None), Some("watch-aborted-untouched"));
    }

    /// After a restart a key nobody wrote since may hold a TTL the recovered dataset
    /// gave it: watched live, it may expire before EXEC, so an abort is explained; at
    /// a host's first start (an empty dataset) it is not (chaos 0x23b6).
    #[test]
    fn after_a_restart_an_unwritten_key_may_have_a_ttl() {
        let verdict = |epoch: u32| {
            let ran = |mut o: Op, seq: u64, reply: &str| {
                o.run_seq = Some(seq);
                o.run_wall_ms = Some(1_000 + seq);
                o.node_reply = Some(reply.as_bytes().to_vec());
                o
            };
            let history = vec![
                ran(op(epoch, 2, 1, "WATCH w0", "+OK\r\n"), 1, "+OK\r\n"),
                ran(op(epoch, 2, 2, "MULTI", "+OK\r\n"), 2, "+OK\r\n"),
                ran(op(epoch, 2, 3, "EXEC", "*-1\r\n"), 3, "*-1\r\n"),
            ];
            check_watch(&history, &Default::default(), &[]).map(|v| v.0)
        };
        assert_eq!(verdict(1), None);
        assert_eq!(verdict(0), Some("watch-aborted-untouched"));
    }

    /// A refused SELECT leaves the connection's database as it was; one of unknown
    /// outcome makes it unknown (chaos 0x382).
    #[test]
    fn a_refused_select_keeps_the_database() {
        let mut dbs = std::collections::BTreeMap::new();
        let r = |line: &str| -> Vec<Vec<u8>> {
            line.split(' ').map(|a| a.as_bytes().to_vec()).collect()
        };
        let flushes = |dbs: &mut std::collections::BTreeMap<ConnId, Option<u32>>| {
            matches!(
                flush_of(&r("FLUSHDB"), Some(b"+OK\r\n"), dbs, 1),
                FlushOf::Flush(linearizability::Output::Ok)
            )
        };
        let refused = b"-ERR DB index is out of range\r\n".as_slice();
        assert!(matches!(
            flush_of(&r("SELECT 16"), Some(refused), &mut dbs, 1),
            FlushOf::NotOne
        ));
        assert!(flushes(&mut dbs), "still in database 0");
        flush_of(&r("SELECT 2"), Some(b"+OK\r\n"), &mut dbs, 1);
        assert!(matches!(
            flush_of(&r("FLUSHDB"), Some(b"+OK\r\n"), &mut dbs, 1),
            FlushOf::OtherDb
        ));
        flush_of(&r("SELECT 0"), None, &mut dbs, 1);
        assert!(matches!(
            flush_of(&r("FLUSHDB"), Some(b"+OK\r\n"), &mut dbs, 1),
            FlushOf::Flush(linearizability::Output::Unknown)
        ));
    }

    /// A flush of database 0 writes "absent" to every judged key; one of another
    /// database, or refused, writes nothing.
    #[test]
    fn linearizability_sees_a_flush_as_a_write_of_every_key() {
        let clocks = [WallClock {
            start_wall_ms: 1_000,
            offsets: vec![(0, 0)],
        }];
        let judge = |history: &[Op]| {
            check_linearizability(history, &clocks, 100, &[])
                .violation
                .is_none()
        };
        let before = [
            op(0, 1, 0, "SET k0 1", "+OK\r\n"),
            op(0, 1, 2, "SET k1 2", "+OK\r\n"),
        ];
        let with = |flush: Vec<Op>, read: Op| {
            let mut h = before.to_vec();
            h.extend(flush);
            h.push(read);
            h
        };
        let old_k0 = || op(0, 3, 20, "GET k0", "$1\r\n1\r\n");
        let gone_k1 = || op(0, 3, 20, "EXISTS k1", ":0\r\n");
        for flush in ["FLUSHALL", "FLUSHALL ASYNC", "FLUSHDB SYNC"] {
            let f = || vec![op(0, 2, 10, flush, "+OK\r\n")];
            assert!(
                !judge(&with(f(), old_k0())),
                "{flush}: a value read after it"
            );
            assert!(
                judge(&with(f(), gone_k1())),
                "{flush}: nothing read after it"
            );
        }
        let in_db1 = vec![
            op(0, 2, 8, "SELECT 1", "+OK\r\n"),
            op(0, 2, 10, "FLUSHDB", "+OK\r\n"),
        ];
        assert!(judge(&with(in_db1.clone(), old_k0())), "db 1 was flushed");
        assert!(!judge(&with(in_db1, gone_k1())), "db 0 was not");
        let refused = vec![op(0, 2, 10, "FLUSHALL x", "-ERR syntax error\r\n")];
        assert!(judge(&with(refused, old_k0())));
        // Unknown: it may have run, or not.
        let mut unknown = op(0, 2, 10, "FLUSHALL", "");
        unknown.outcome = OpOutcome::Unknown;
        unknown.complete_step = None;
        assert!(judge(&with(vec![unknown.clone()], old_k0())));
        assert!(judge(&with(vec![unknown], gone_k1())));
        // A connection's requests run in order: its flush before its own read.
        let pipelined = vec![
            op(0, 1, 0, "SET k0 1", "+OK\r\n"),
            op(0, 2, 10, "FLUSHALL", "+OK\r\n"),
            op(0, 2, 10, "GET k0", "$1\r\n1\r\n"),
        ];
        assert!(!judge(&pipelined));
    }

    /// A flush that ran empties the lists: Elle judges the transactions after it
    /// from empty lists, by where the node ran them.
    #[test]
    fn elle_judges_each_flush_era_from_empty_lists() {
        let ran = |mut o: Op, run: u64| {
            o.node_reply = Some(o.reply.clone());
            o.run_seq = Some(run);
            o
        };
        let history = |after_flush: &str| {
            vec![
                ran(op(0, 1, 0, "RPUSH t0 1", ":1\r\n"), 1),
                ran(op(0, 2, 2, "FLUSHALL ASYNC", "+OK\r\n"), 2),
                ran(op(0, 1, 4, "RPUSH t0 2", ":1\r\n"), 3),
                ran(op(0, 1, 6, "LRANGE t0 0 -1", after_flush), 4),
            ]
        };
        let (report, failure) =
            check_transactions(&history("*1\r\n$1\r\n2\r\n"), &RecoveredLists::new());
        assert_eq!(failure, None);
        assert_eq!(report.map(|r| r.report.committed), Some(3));
        // The flush did not empty t0: 1 is read where nobody appended it.
        let (_, failure) = check_transactions(
            &history("*2\r\n$1\r\n1\r\n$1\r\n2\r\n"),
            &RecoveredLists::new(),
        );
        assert!(
            failure
                .as_deref()
                .is_some_and(|f| f.contains("after its flush #1")),
            "{failure:?}"
        );
        // A refused flush is no era boundary: the read of both is right.
        let mut refused = history("*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
        refused[1] = ran(op(0, 2, 2, "FLUSHALL x", "-ERR syntax error\r\n"), 2);
        refused[1].outcome = OpOutcome::Fail;
        let (_, failure) = check_transactions(&refused, &RecoveredLists::new());
        assert_eq!(failure, None);
    }

    /// Across a crash Elle judges each epoch from what the restart recovered: a read
    /// after the restart that lost an append (everysec) passes, one that sees a value
    /// the restart did not recover fails, and an epoch whose recovery was not judged
    /// is not judged.
    #[test]
    fn elle_judges_each_epoch_from_the_recovered_lists() {
        let history = vec![
            op(0, 1, 0, "RPUSH t0 1", ":1\r\n"),
            op(0, 1, 2, "RPUSH t0 2", ":2\r\n"),
            op(1, 2, 10, "LRANGE t0 0 -1", "*1\r\n$1\r\n1\r\n"),
            op(1, 2, 12, "RPUSH t0 3", ":2\r\n"),
            op(1, 2, 14, "LRANGE t0 0 -1", "*2\r\n$1\r\n1\r\n$1\r\n3\r\n"),
        ];
        let mut recovered = RecoveredLists::new();
        recovered.insert((0, 1), vec![(b"t0".to_vec(), vec![1])]);
        let (report, failure) = check_transactions(&history, &recovered);
        assert_eq!(failure, None);
        assert_eq!(report.map(|r| r.report.committed), Some(5));
        // Judged as one history (or from empty lists), the lost append is a lost
        // append and the recovered 1 has no writer in epoch 1.
        let (_, failure) = check_transactions(&history, &RecoveredLists::new());
        assert_eq!(failure, None, "epoch 1 is not judged without its recovery");
        recovered.insert((0, 1), vec![(b"t0".to_vec(), vec![])]);
        let (_, failure) = check_transactions(&history, &recovered);
        assert!(failure.is_some_and(|f| f.contains("epoch 1")));
    }
}
