//! An Elle-style list-append checker (Kingsbury & Alvaro, "Elle: Inferring Isolation
//! Anomalies from Experimental Observations"). Transactions append unique values to
//! lists (`RPUSH` inside `MULTI`) and read whole lists (`LRANGE k 0 -1`). Because every
//! appended value is unique and a list keeps its order, each read reveals a prefix of
//! the key's version order, from which the checker infers dependencies between
//! transactions:
//!
//! - `ww`: T1 appended the element just before T2's element on the same key;
//! - `wr`: T2 read a prefix whose last element T1 appended;
//! - `rw`: T1 read a prefix, and T2 appended the next element (T1 did not see it);
//! - `rt`: T1 completed before T2 was invoked (real time: strict serializability).
//!
//! A single Redis node runs `EXEC` atomically and in real-time order, so every cycle is
//! a bug. Cycles are named as Adya's classes (G0: ww only; G1c: ww+wr; G-single: one
//! rw; G2: more rw), with `-realtime` when an rt edge is needed. Non-cycle anomalies:
//! a read of a value nobody appended (garbage), of an aborted append (G1a), reads that
//! are not prefixes of one order (incompatible order), a transaction that does not see
//! its own append (internal), and a committed append missing from a read that began
//! after it committed (lost append).
//!
//! Pure and deterministic: ordered maps only.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// How a transaction ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnOutcome {
    /// EXEC returned its replies.
    Committed,
    /// EXEC returned nil (WATCH) or EXECABORT: nothing applied.
    Aborted,
    /// No reply (timeout, connection lost): may or may not have applied.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MicroOp {
    Append {
        key: Vec<u8>,
        value: u64,
    },
    /// `values`: what the read returned; `None` when the transaction did not commit.
    Read {
        key: Vec<u8>,
        values: Option<Vec<u64>>,
    },
}

#[derive(Debug, Clone)]
pub struct Txn {
    pub invoke_ms: u64,
    pub complete_ms: Option<u64>,
    pub outcome: TxnOutcome,
    pub ops: Vec<MicroOp>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Edge {
    Ww,
    Wr,
    Rw,
    Rt,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anomaly {
    DuplicateAppend {
        key: Vec<u8>,
        value: u64,
    },
    Garbage {
        txn: usize,
        key: Vec<u8>,
        value: u64,
    },
    AbortedRead {
        txn: usize,
        writer: usize,
        key: Vec<u8>,
        value: u64,
    },
    IncompatibleOrder {
        key: Vec<u8>,
        a: Vec<u64>,
        b: Vec<u64>,
    },
    Internal {
        txn: usize,
        key: Vec<u8>,
    },
    LostAppend {
        key: Vec<u8>,
        value: u64,
        writer: usize,
        reader: usize,
    },
    /// A dependency cycle: transactions in order, each with the edge to the next.
    Cycle {
        class: &'static str,
        steps: Vec<(usize, Edge)>,
    },
}

impl Anomaly {
    /// The kind of anomaly, for a failure's signature.
    pub fn kind(&self) -> &'static str {
        match self {
            Anomaly::DuplicateAppend { .. } => "duplicate-append",
            Anomaly::Garbage { .. } => "garbage-read",
            Anomaly::AbortedRead { .. } => "G1a",
            Anomaly::IncompatibleOrder { .. } => "incompatible-order",
            Anomaly::Internal { .. } => "internal",
            Anomaly::LostAppend { .. } => "lost-append",
            Anomaly::Cycle { class, .. } => class,
        }
    }
}

impl std::fmt::Display for Anomaly {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let k = |k: &[u8]| String::from_utf8_lossy(k).into_owned();
        match self {
            Anomaly::DuplicateAppend { key, value } => {
                write!(f, "value {value} appended twice to {}", k(key))
            }
            Anomaly::Garbage { txn, key, value } => {
                write!(f, "T{txn} read {value} from {}, which nobody appended", k(key))
            }
            Anomaly::AbortedRead { txn, writer, key, value } => write!(
                f,
                "G1a: T{txn} read {value} from {}, appended by aborted T{writer}",
                k(key)
            ),
            Anomaly::IncompatibleOrder { key, a, b } => {
                write!(f, "incompatible orders of {}: {a:?} vs {b:?}", k(key))
            }
            Anomaly::Internal { txn, key } => {
                write!(f, "T{txn} did not read its own appends to {}", k(key))
            }
            Anomaly::LostAppend { key, value, writer, reader } => write!(
                f,
                "lost append: T{writer} committed {value} to {}, T{reader} began later and did not see it",
                k(key)
            ),
            Anomaly::Cycle { class, steps } => {
                write!(f, "{class}:")?;
                for (t, e) in steps {
                    write!(f, " T{t} -{e:?}->")?;
                }
                if let Some((t, _)) = steps.first() {
                    write!(f, " T{t}")?;
                }
                Ok(())
            }
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Report {
    pub txns: usize,
    pub committed: usize,
    pub edges: usize,
    pub anomalies: Vec<Anomaly>,
}

impl Report {
    pub fn ok(&self) -> bool {
        self.anomalies.is_empty()
    }
}

/// Checks a history of list-append transactions.
pub fn check(txns: &[Txn]) -> Report {
    let mut report = Report {
        txns: txns.len(),
        committed: txns
            .iter()
            .filter(|t| t.outcome == TxnOutcome::Committed)
            .count(),
        ..Report::default()
    };
    let anomalies = &mut report.anomalies;

    // Who appended what, and where each transaction's appends sit.
    let mut writer: BTreeMap<(&[u8], u64), usize> = BTreeMap::new();
    for (i, t) in txns.iter().enumerate() {
        for op in &t.ops {
            if let MicroOp::Append { key, value } = op {
                if writer.insert((key.as_slice(), *value), i).is_some() {
                    anomalies.push(Anomaly::DuplicateAppend {
                        key: key.clone(),
                        value: *value,
                    });
                }
            }
        }
    }

    // Reads of committed transactions, per key; internal consistency on the way.
    let mut reads: BTreeMap<&[u8], Vec<(usize, &[u64])>> = BTreeMap::new();
    for (i, t) in txns.iter().enumerate() {
        let mut own: BTreeMap<&[u8], Vec<u64>> = BTreeMap::new();
        for op in &t.ops {
            match op {
                MicroOp::Append { key, value } => own.entry(key).or_default().push(*value),
                MicroOp::Read {
                    key,
                    values: Some(values),
                } => {
                    if let Some(mine) = own.get(key.as_slice()) {
                        if !values.ends_with(mine) {
                            anomalies.push(Anomaly::Internal {
                                txn: i,
                                key: key.clone(),
                            });
                        }
                    }
                    reads.entry(key).or_default().push((i, values));
                }
                MicroOp::Read { values: None, .. } => {}
            }
        }
    }

    // Version order per key: the longest read, which every other read must prefix.
    let mut order: BTreeMap<&[u8], &[u64]> = BTreeMap::new();
    for (key, rs) in &reads {
        let longest = rs
            .iter()
            .map(|(_, v)| *v)
            .max_by_key(|v| v.len())
            .unwrap_or(&[]);
        for (_, v) in rs {
            if !longest.starts_with(v) {
                anomalies.push(Anomaly::IncompatibleOrder {
                    key: key.to_vec(),
                    a: v.to_vec(),
                    b: longest.to_vec(),
                });
            }
        }
        order.insert(key, longest);
    }

    // Garbage and aborted reads.
    for (key, rs) in &reads {
        for (reader, values) in rs {
            for v in values.iter() {
                match writer.get(&(*key, *v)) {
                    None => anomalies.push(Anomaly::Garbage {
                        txn: *reader,
                        key: key.to_vec(),
                        value: *v,
                    }),
                    Some(&w) if txns[w].outcome == TxnOutcome::Aborted => {
                        anomalies.push(Anomaly::AbortedRead {
                            txn: *reader,
                            writer: w,
                            key: key.to_vec(),
                            value: *v,
                        })
                    }
                    Some(_) => {}
                }
            }
        }
    }
    if !anomalies.is_empty() {
        // The order is not trustworthy; cycles over it would only add noise.
        return report;
    }

    // Lost appends: committed before a read began, yet absent from it. Every read is
    // a prefix of the key's order here (else the report returned above), so a read
    // holds a value iff it is longer than the value's place in the order: per writer,
    // the shortest read invoked after it completed decides, found by a binary search
    // over the reads sorted by invocation (a long run has thousands of each).
    for (key, rs) in &reads {
        let place: BTreeMap<u64, usize> = order[key]
            .iter()
            .enumerate()
            .map(|(i, v)| (*v, i))
            .collect();
        let mut by_invoke: Vec<(u64, usize)> = rs
            .iter()
            .map(|(reader, values)| (txns[*reader].invoke_ms, values.len()))
            .collect();
        by_invoke.sort_unstable();
        // shortest[i]: the shortest read among by_invoke[i..].
        let mut shortest = vec![usize::MAX; by_invoke.len() + 1];
        for i in (0..by_invoke.len()).rev() {
            shortest[i] = shortest[i + 1].min(by_invoke[i].1);
        }
        for (&(wkey, value), &w) in writer.range((*key, 0)..=(*key, u64::MAX)) {
            debug_assert_eq!(wkey, *key);
            let wt = &txns[w];
            let (TxnOutcome::Committed, Some(done)) = (wt.outcome, wt.complete_ms) else {
                continue;
            };
            let after = by_invoke.partition_point(|&(invoke, _)| invoke <= done);
            let held_by = place.get(&value).map_or(usize::MAX, |p| p + 1);
            if shortest[after] >= held_by {
                continue;
            }
            for (reader, values) in rs {
                if *reader != w && txns[*reader].invoke_ms > done && !values.contains(&value) {
                    anomalies.push(Anomaly::LostAppend {
                        key: key.to_vec(),
                        value,
                        writer: w,
                        reader: *reader,
                    });
                }
            }
        }
    }

    // The dependency graph.
    let mut edges: BTreeMap<usize, BTreeMap<usize, Edge>> = BTreeMap::new();
    let mut add = |from: usize, to: usize, e: Edge| {
        if from != to {
            let slot = edges.entry(from).or_default().entry(to).or_insert(e);
            // Keep the strongest explanation: data edges over real time, ww/wr over rw.
            *slot = (*slot).min(e);
        }
    };
    for (key, ord) in &order {
        let w = |v: &u64| writer[&(*key, *v)];
        for pair in ord.windows(2) {
            add(w(&pair[0]), w(&pair[1]), Edge::Ww);
        }
        for (reader, values) in &reads[key] {
            if let Some(last) = values.last() {
                add(w(last), *reader, Edge::Wr);
            }
            if let Some(next) = ord.get(values.len()) {
                add(*reader, w(next), Edge::Rw);
            }
        }
    }
    for (a, b) in realtime_edges(txns) {
        add(a, b, Edge::Rt);
    }
    report.edges = edges.values().map(|m| m.len()).sum();

    for scc in strongly_connected(txns.len(), &edges) {
        if let Some(steps) = cycle_in(&scc, &edges) {
            anomalies.push(Anomaly::Cycle {
                class: classify(&steps),
                steps,
            });
        }
    }
    report
}

/// Real-time edges: a committed transaction precedes every committed one invoked
/// after it completed. Only a reduction with the same reachability is kept (so the
/// same strongly connected components): a -> b when b was invoked after a completed
/// but no later than the earliest completion `first` among the transactions
/// invoked after a completed; any later b is reached through that one (a -> c -> b).
/// All pairs would be quadratic in a long run's transactions.
fn realtime_edges(txns: &[Txn]) -> Vec<(usize, usize)> {
    let mut by_invoke: Vec<(u64, u64, usize)> = txns
        .iter()
        .enumerate()
        .filter(|(_, t)| t.outcome == TxnOutcome::Committed)
        .map(|(i, t)| (t.invoke_ms, t.complete_ms.unwrap_or(u64::MAX), i))
        .collect();
    by_invoke.sort_unstable();
    // first_done[i]: the earliest completion among by_invoke[i..].
    let mut first_done = vec![u64::MAX; by_invoke.len() + 1];
    for i in (0..by_invoke.len()).rev() {
        first_done[i] = first_done[i + 1].min(by_invoke[i].1);
    }
    let mut out = Vec::new();
    for &(_, done, a) in &by_invoke {
        if done == u64::MAX {
            continue;
        }
        let from = by_invoke.partition_point(|&(invoke, _, _)| invoke <= done);
        let first = first_done[from];
        for &(invoke, _, b) in by_invoke.get(from..).unwrap_or_default() {
            if invoke > first {
                break;
            }
            out.push((a, b));
        }
    }
    out
}

fn classify(steps: &[(usize, Edge)]) -> &'static str {
    let rw = steps.iter().filter(|(_, e)| *e == Edge::Rw).count();
    let wr = steps.iter().any(|(_, e)| *e == Edge::Wr);
    let rt = steps.iter().any(|(_, e)| *e == Edge::Rt);
    match (rw, wr, rt) {
        (0, false, false) => "G0",
        (0, true, false) => "G1c",
        (1, _, false) => "G-single",
        (_, _, false) => "G2",
        (0, false, true) => "G0-realtime",
        (0, true, true) => "G1c-realtime",
        (1, _, true) => "G-single-realtime",
        (_, _, true) => "G2-realtime",
    }
}

/// Tarjan's algorithm, iterative; components with more than one transaction.
fn strongly_connected(n: usize, edges: &BTreeMap<usize, BTreeMap<usize, Edge>>) -> Vec<Vec<usize>> {
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut out = Vec::new();
    let empty = BTreeMap::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        // (node, successors not yet visited)
        let mut work: Vec<(usize, Vec<usize>)> = Vec::new();
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        work.push((
            root,
            edges
                .get(&root)
                .unwrap_or(&empty)
                .keys()
                .rev()
                .copied()
                .collect(),
        ));
        while let Some((v, succ)) = work.last_mut() {
            let v = *v;
            if let Some(w) = succ.pop() {
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    work.push((
                        w,
                        edges
                            .get(&w)
                            .unwrap_or(&empty)
                            .keys()
                            .rev()
                            .copied()
                            .collect(),
                    ));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            work.pop();
            if let Some((parent, _)) = work.last() {
                low[*parent] = low[*parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                if comp.len() > 1 {
                    comp.sort_unstable();
                    out.push(comp);
                }
            }
        }
    }
    out
}

/// A shortest cycle through the component's first transaction (breadth-first search
/// inside the component).
fn cycle_in(
    scc: &[usize],
    edges: &BTreeMap<usize, BTreeMap<usize, Edge>>,
) -> Option<Vec<(usize, Edge)>> {
    let members: BTreeSet<usize> = scc.iter().copied().collect();
    let start = *scc.first()?;
    let mut parent: BTreeMap<usize, (usize, Edge)> = BTreeMap::new();
    let mut queue = VecDeque::from([start]);
    while let Some(v) = queue.pop_front() {
        for (&w, &e) in edges.get(&v)? {
            if !members.contains(&w) {
                continue;
            }
            if w == start {
                // Walk back from v to start.
                let mut steps = vec![(v, e)];
                let mut cur = v;
                while cur != start {
                    let (p, pe) = parent[&cur];
                    steps.push((p, pe));
                    cur = p;
                }
                steps.reverse();
                return Some(steps);
            }
            if let std::collections::btree_map::Entry::Vacant(slot) = parent.entry(w) {
                slot.insert((v, e));
                queue.push_back(w);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(invoke: u64, done: u64, ops: Vec<MicroOp>) -> Txn {
        Txn {
            invoke_ms: invoke,
            complete_ms: Some(done),
            outcome: TxnOutcome::Committed,
            ops,
        }
    }
    fn ap(k: &str, v: u64) -> MicroOp {
        MicroOp::Append {
            key: k.into(),
            value: v,
        }
    }
    fn rd(k: &str, vs: &[u64]) -> MicroOp {
        MicroOp::Read {
            key: k.into(),
            values: Some(vs.to_vec()),
        }
    }

    #[test]
    fn serial_history_passes() {
        let h = vec![
            t(0, 1, vec![ap("x", 1), rd("x", &[1])]),
            t(2, 3, vec![ap("x", 2), ap("y", 1), rd("x", &[1, 2])]),
            t(4, 5, vec![rd("y", &[1]), rd("x", &[1, 2])]),
        ];
        let r = check(&h);
        assert!(r.ok(), "{:?}", r.anomalies);
        assert!(r.edges > 0);
    }

    #[test]
    fn concurrent_unknown_and_aborted_are_fine_when_unobserved() {
        let mut lost = t(0, 0, vec![ap("x", 9)]);
        lost.complete_ms = None;
        lost.outcome = TxnOutcome::Unknown;
        let mut aborted = t(0, 1, vec![ap("x", 8)]);
        aborted.outcome = TxnOutcome::Aborted;
        let h = vec![lost, aborted, t(5, 6, vec![ap("x", 1), rd("x", &[1])])];
        assert!(check(&h).ok());
    }

    #[test]
    fn write_skew_is_g2() {
        // T0 reads y empty and appends x; T1 reads x empty and appends y; both commit,
        // concurrently: rw edges both ways.
        let h = vec![
            t(0, 10, vec![rd("y", &[]), ap("x", 1)]),
            t(0, 10, vec![rd("x", &[]), ap("y", 1)]),
            t(20, 21, vec![rd("x", &[1]), rd("y", &[1])]),
        ];
        let r = check(&h);
        assert!(
            r.anomalies
                .iter()
                .any(|a| matches!(a, Anomaly::Cycle { class: "G2", .. })),
            "{:?}",
            r.anomalies
        );
    }

    #[test]
    fn realtime_reduction_keeps_reachability() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let n = rng.gen_range(1..30);
            let h: Vec<Txn> = (0..n)
                .map(|_| {
                    let invoke = rng.gen_range(0..60);
                    let mut x = t(invoke, invoke + rng.gen_range(0..15), vec![]);
                    if rng.gen_range(0..8) == 0 {
                        x.outcome = TxnOutcome::Aborted;
                    }
                    if rng.gen_range(0..10) == 0 {
                        x.complete_ms = None;
                    }
                    x
                })
                .collect();
            let reduced = realtime_edges(&h);
            let mut reach = vec![vec![false; n]; n];
            for &(a, b) in &reduced {
                reach[a][b] = true;
            }
            for k in 0..n {
                for a in 0..n {
                    for b in 0..n {
                        if reach[a][k] && reach[k][b] {
                            reach[a][b] = true;
                        }
                    }
                }
            }
            let committed = |x: &Txn| x.outcome == TxnOutcome::Committed;
            for (a, ta) in h.iter().enumerate() {
                for (b, tb) in h.iter().enumerate() {
                    let before = committed(ta)
                        && committed(tb)
                        && ta.complete_ms.is_some_and(|done| tb.invoke_ms > done);
                    assert_eq!(reach[a][b], before, "{a} -> {b} in {h:?}");
                }
            }
        }
    }

    #[test]
    fn stale_read_after_commit_is_a_realtime_violation() {
        // T0 commits 1 at t=1; T1 begins at t=5 and reads empty; T2 later sees [1].
        let h = vec![
            t(0, 1, vec![ap("x", 1)]),
            t(5, 6, vec![rd("x", &[])]),
            t(7, 8, vec![rd("x", &[1])]),
        ];
        let r = check(&h);
        assert!(
            r.anomalies
                .iter()
                .any(|a| matches!(a, Anomaly::LostAppend { .. })),
            "{:?}",
            r.anomalies
        );
        assert!(
            r.anomalies
                .iter()
                .any(|a| matches!(a, Anomaly::Cycle { class, .. } if class.ends_with("realtime"))),
            "{:?}",
            r.anomalies
        );
    }

    #[test]
    fn incompatible_orders_garbage_aborted_and_internal() {
        let h = vec![
            t(0, 1, vec![ap("x", 1)]),
            t(0, 1, vec![ap("x", 2)]),
            t(2, 3, vec![rd("x", &[1, 2])]),
            t(2, 3, vec![rd("x", &[2, 1])]),
        ];
        assert!(check(&h)
            .anomalies
            .iter()
            .any(|a| matches!(a, Anomaly::IncompatibleOrder { .. })));

        let h = vec![t(0, 1, vec![rd("x", &[7])])];
        assert!(matches!(
            check(&h).anomalies[..],
            [Anomaly::Garbage { value: 7, .. }]
        ));

        let mut ab = t(0, 1, vec![ap("x", 1)]);
        ab.outcome = TxnOutcome::Aborted;
        let h = vec![ab, t(2, 3, vec![rd("x", &[1])])];
        assert!(matches!(
            check(&h).anomalies[..],
            [Anomaly::AbortedRead { .. }]
        ));

        let h = vec![t(0, 1, vec![ap("x", 1), rd("x", &[])])];
        assert!(matches!(
            check(&h).anomalies[..],
            [Anomaly::Internal { .. }]
        ));
    }

    #[test]
    fn lost_update_cycle_is_found_without_real_time() {
        // Concurrent T0 and T1 both read [1] and append; a later read orders 2 before 3:
        // T1 read [1] but T0's 2 came next (rw T1->T0); T0 read [1], T1's 3 came after
        // 2 (ww T0->T1): G-single.
        let h = vec![
            t(0, 0, vec![ap("x", 1)]),
            t(1, 9, vec![rd("x", &[1]), ap("x", 2)]),
            t(1, 9, vec![rd("x", &[1]), ap("x", 3)]),
            t(10, 11, vec![rd("x", &[1, 2, 3])]),
        ];
        let r = check(&h);
        assert!(
            matches!(
                &r.anomalies[..],
                [Anomaly::Cycle {
                    class: "G-single",
                    ..
                }]
            ),
            "{:?}",
            r.anomalies
        );
    }

    /// Histories produced by a serial execution (each transaction takes effect at one
    /// point inside its invoke..complete window; unknown ones apply or not; aborted
    /// ones never) are always accepted.
    #[test]
    fn serial_executions_are_always_accepted() {
        use rand::{Rng, SeedableRng};
        for seed in 0..300u64 {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let keys = ["a", "b", "c"];
            let mut state: BTreeMap<&str, Vec<u64>> = BTreeMap::new();
            let mut next_value = 0u64;
            let mut h = Vec::new();
            for i in 0..rng.gen_range(1..60u64) {
                let at = 100 + 10 * i;
                let outcome = match rng.gen_range(0..10) {
                    0 => TxnOutcome::Aborted,
                    1 => TxnOutcome::Unknown,
                    _ => TxnOutcome::Committed,
                };
                let applies = match outcome {
                    TxnOutcome::Committed => true,
                    TxnOutcome::Aborted => false,
                    TxnOutcome::Unknown => rng.gen_bool(0.5),
                };
                let mut scratch = state.clone();
                let mut ops = Vec::new();
                for _ in 0..rng.gen_range(1..5) {
                    let k = keys[rng.gen_range(0..keys.len())];
                    if rng.gen_bool(0.5) {
                        next_value += 1;
                        scratch.entry(k).or_default().push(next_value);
                        ops.push(ap(k, next_value));
                    } else {
                        let seen = scratch.get(k).cloned().unwrap_or_default();
                        ops.push(MicroOp::Read {
                            key: k.into(),
                            values: (outcome == TxnOutcome::Committed).then_some(seen),
                        });
                    }
                }
                if applies {
                    state = scratch;
                }
                h.push(Txn {
                    invoke_ms: at - rng.gen_range(0..30),
                    complete_ms: (outcome != TxnOutcome::Unknown)
                        .then(|| at + rng.gen_range(0..30)),
                    outcome,
                    ops,
                });
            }
            let r = check(&h);
            assert!(r.ok(), "seed {seed}: {:?}", r.anomalies);
        }
    }
}
