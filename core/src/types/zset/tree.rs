//! The order index of the `skiplist` encoding: an order-statistic B+tree of (score,
//! slot id) keys with per-child counts, so rank, rank-range and score-range operations
//! are O(log n) with ~12 bytes per member instead of a skiplist node's ~50. It knows
//! members only through `KeyOrder`; it never allocates per key.

use std::cmp::Ordering;

use crate::malloc_model::chunk_bytes;

/// How the tree orders its keys: its owner knows what a slot id stands for.
pub(super) trait KeyOrder {
    /// Order of (a_score, a_id) against (b_score, b_id); Equal only for the same id.
    fn key_cmp(&self, a_score: f64, a_id: u32, b_score: f64, b_id: u32) -> Ordering;
}

/// Index of the first child whose greatest key is not below (score, id).
fn first_not_below(
    order: &impl KeyOrder,
    max_scores: &[f64],
    max_ids: &[u32],
    score: f64,
    id: u32,
) -> Option<usize> {
    max_scores
        .iter()
        .zip(max_ids)
        .position(|(&s, &k)| order.key_cmp(s, k, score, id) != Ordering::Less)
}

/// Position of the first key of a leaf not below (score, id).
fn leaf_pos(order: &impl KeyOrder, scores: &[f64], ids: &[u32], score: f64, id: u32) -> usize {
    leaf_partition(scores, ids, &mut |s, other| {
        order.key_cmp(s, other, score, id) == Ordering::Less
    })
}

/// Number of keys of a leaf, in order, for which `pred` holds (true for a prefix):
/// a binary search. `get` costs the same bounds check indexing would.
fn leaf_partition(scores: &[f64], ids: &[u32], pred: &mut impl FnMut(f64, u32) -> bool) -> usize {
    let (mut lo, mut hi) = (0, ids.len().min(scores.len()));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let holds = match (scores.get(mid), ids.get(mid)) {
            (Some(&s), Some(&id)) => pred(s, id),
            _ => false,
        };
        if holds {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Keys per leaf before a split, and children per inner node.
const LEAF_CAP: usize = 64;
const INNER_CAP: usize = 32;

#[derive(Clone)]
pub(super) enum Node {
    /// Keys in order: `scores[i]` with slot `ids[i]`. Allocated at full capacity so
    /// memory is known from the node count.
    Leaf { scores: Vec<f64>, ids: Vec<u32> },
    /// Children with their key counts and greatest keys.
    Inner {
        children: Vec<Node>,
        counts: Vec<u32>,
        max_scores: Vec<f64>,
        max_ids: Vec<u32>,
    },
}

#[derive(Clone)]
pub(super) struct Tree {
    pub(super) root: Node,
    leaves: usize,
    inners: usize,
}

fn new_leaf() -> Node {
    Node::Leaf {
        scores: Vec::with_capacity(LEAF_CAP + 1),
        ids: Vec::with_capacity(LEAF_CAP + 1),
    }
}

/// Heap bytes of one leaf: its two vectors at full capacity.
fn leaf_bytes() -> usize {
    chunk_bytes((LEAF_CAP + 1) * std::mem::size_of::<f64>())
        + chunk_bytes((LEAF_CAP + 1) * std::mem::size_of::<u32>())
}

/// Heap bytes of one inner node: its four vectors at full capacity.
fn inner_bytes() -> usize {
    chunk_bytes((INNER_CAP + 1) * std::mem::size_of::<Node>())
        + 2 * chunk_bytes((INNER_CAP + 1) * std::mem::size_of::<u32>())
        + chunk_bytes((INNER_CAP + 1) * std::mem::size_of::<f64>())
}

fn new_inner() -> Node {
    Node::Inner {
        children: Vec::with_capacity(INNER_CAP + 1),
        counts: Vec::with_capacity(INNER_CAP + 1),
        max_scores: Vec::with_capacity(INNER_CAP + 1),
        max_ids: Vec::with_capacity(INNER_CAP + 1),
    }
}

impl Tree {
    pub(super) fn new() -> Tree {
        Tree {
            root: new_leaf(),
            leaves: 1,
            inners: 0,
        }
    }

    /// Heap bytes of the nodes, O(1): each node's vectors are allocated at their full
    /// capacity and never grow, so a node costs a constant (`malloc_model`'s chunks).
    pub(super) fn heap_bytes(&self) -> usize {
        self.leaves * leaf_bytes() + self.inners * inner_bytes()
    }

    pub(super) fn insert(&mut self, order: &impl KeyOrder, score: f64, id: u32) {
        let mut counts = (0, 0);
        if let Some(right) = self.root.insert(order, score, id, &mut counts) {
            let left = std::mem::replace(&mut self.root, new_inner());
            if let Node::Inner {
                children,
                counts: c,
                max_scores,
                max_ids,
            } = &mut self.root
            {
                for child in [left, right] {
                    let (s, i) = child.max_key().unwrap_or((0.0, 0));
                    c.push(child.count());
                    max_scores.push(s);
                    max_ids.push(i);
                    children.push(child);
                }
            }
            counts.1 += 1;
        }
        self.leaves += counts.0;
        self.inners += counts.1;
    }

    pub(super) fn remove(&mut self, order: &impl KeyOrder, score: f64, id: u32) -> bool {
        let mut freed = (0, 0);
        let removed = self.root.remove(order, score, id, &mut freed);
        self.leaves -= freed.0;
        self.inners -= freed.1;
        // Collapse a root with a single child (or none).
        loop {
            match &mut self.root {
                Node::Inner { children, .. } if children.len() <= 1 => {
                    let next = match children.pop() {
                        Some(child) => child,
                        None => {
                            self.leaves += 1;
                            new_leaf()
                        }
                    };
                    self.root = next;
                    self.inners -= 1;
                }
                _ => break,
            }
        }
        removed
    }

    pub(super) fn get(&self, rank: usize) -> Option<(f64, u32)> {
        let mut node = &self.root;
        let mut rank = rank;
        loop {
            match node {
                Node::Leaf { scores, ids } => {
                    return Some((*scores.get(rank)?, *ids.get(rank)?));
                }
                Node::Inner {
                    children, counts, ..
                } => {
                    let mut next = None;
                    for (child, &c) in children.iter().zip(counts) {
                        if rank < c as usize {
                            next = Some(child);
                            break;
                        }
                        rank -= c as usize;
                    }
                    node = next?;
                }
            }
        }
    }
}

impl Node {
    fn count(&self) -> u32 {
        match self {
            Node::Leaf { ids, .. } => ids.len() as u32,
            Node::Inner { counts, .. } => counts.iter().sum(),
        }
    }

    /// Entries of this node (keys of a leaf, children of an inner node).
    fn width(&self) -> usize {
        match self {
            Node::Leaf { ids, .. } => ids.len(),
            Node::Inner { children, .. } => children.len(),
        }
    }

    fn max_key(&self) -> Option<(f64, u32)> {
        match self {
            Node::Leaf { scores, ids } => Some((*scores.last()?, *ids.last()?)),
            Node::Inner {
                max_scores,
                max_ids,
                ..
            } => Some((*max_scores.last()?, *max_ids.last()?)),
        }
    }

    /// Index of the child whose key range holds (score, id): the first whose greatest
    /// key is not below it, or the last child.
    fn child_for(
        order: &impl KeyOrder,
        max_scores: &[f64],
        max_ids: &[u32],
        score: f64,
        id: u32,
    ) -> usize {
        first_not_below(order, max_scores, max_ids, score, id)
            .unwrap_or(max_ids.len().saturating_sub(1))
    }

    /// Inserts a key; returns the new right sibling when this node split. `grown`
    /// counts new (leaves, inner nodes).
    fn insert(
        &mut self,
        order: &impl KeyOrder,
        score: f64,
        id: u32,
        grown: &mut (usize, usize),
    ) -> Option<Node> {
        match self {
            Node::Leaf { scores, ids } => {
                let pos = leaf_pos(order, scores, ids, score, id);
                scores.insert(pos, score);
                ids.insert(pos, id);
                if ids.len() <= LEAF_CAP {
                    return None;
                }
                // Appends (sorted loads) leave the left leaf nearly full.
                let at = if pos + 1 == ids.len() {
                    LEAF_CAP - LEAF_CAP / 8
                } else {
                    ids.len() / 2
                };
                let mut right = new_leaf();
                if let Node::Leaf {
                    scores: rs,
                    ids: ri,
                } = &mut right
                {
                    rs.extend(scores.drain(at..));
                    ri.extend(ids.drain(at..));
                }
                grown.0 += 1;
                Some(right)
            }
            Node::Inner {
                children,
                counts,
                max_scores,
                max_ids,
            } => {
                let i = Node::child_for(order, max_scores, max_ids, score, id);
                let child = children.get_mut(i)?;
                let split = child.insert(order, score, id, grown);
                let child_max = child.max_key();
                // After a split the child kept only part of its keys: count them.
                let child_count = split.as_ref().map(|_| child.count());
                if let (Some((s, k)), Some(ms), Some(mk)) =
                    (child_max, max_scores.get_mut(i), max_ids.get_mut(i))
                {
                    *ms = s;
                    *mk = k;
                }
                if let Some(c) = counts.get_mut(i) {
                    *c = child_count.unwrap_or(*c + 1);
                }
                // The four vectors run in parallel and `i` is a child's index, so
                // `i + 1` is within each for `insert`.
                if let Some(right) = split {
                    let (s, k) = right.max_key().unwrap_or((0.0, 0));
                    counts.insert(i + 1, right.count());
                    max_scores.insert(i + 1, s);
                    max_ids.insert(i + 1, k);
                    children.insert(i + 1, right);
                }
                if children.len() <= INNER_CAP {
                    return None;
                }
                let at = children.len() / 2;
                let mut right = new_inner();
                if let Node::Inner {
                    children: rc,
                    counts: rn,
                    max_scores: rs,
                    max_ids: ri,
                } = &mut right
                {
                    rc.extend(children.drain(at..));
                    rn.extend(counts.drain(at..));
                    rs.extend(max_scores.drain(at..));
                    ri.extend(max_ids.drain(at..));
                }
                grown.1 += 1;
                Some(right)
            }
        }
    }

    /// Removes a key; true when found. Underfull children are merged with a neighbour
    /// when both fit in one node. `freed` counts dropped (leaves, inner nodes).
    fn remove(
        &mut self,
        order: &impl KeyOrder,
        score: f64,
        id: u32,
        freed: &mut (usize, usize),
    ) -> bool {
        match self {
            Node::Leaf { scores, ids } => {
                let pos = leaf_pos(order, scores, ids, score, id);
                if ids.get(pos) != Some(&id) {
                    return false;
                }
                scores.remove(pos);
                ids.remove(pos);
                true
            }
            Node::Inner {
                children,
                counts,
                max_scores,
                max_ids,
            } => {
                let Some(i) = first_not_below(order, max_scores, max_ids, score, id) else {
                    return false;
                };
                let Some(child) = children.get_mut(i) else {
                    return false;
                };
                if !child.remove(order, score, id, freed) {
                    return false;
                }
                let (child_max, child_width) = (child.max_key(), child.width());
                let cap = if matches!(child, Node::Leaf { .. }) {
                    LEAF_CAP
                } else {
                    INNER_CAP
                };
                let Some(count) = counts.get_mut(i) else {
                    return true;
                };
                *count = count.saturating_sub(1);
                // `i` indexes all four parallel vectors, so `remove(i)` is in range.
                if *count == 0 {
                    let gone = children.remove(i);
                    counts.remove(i);
                    max_scores.remove(i);
                    max_ids.remove(i);
                    gone.count_nodes(freed);
                    return true;
                }
                if let (Some((s, k)), Some(ms), Some(mk)) =
                    (child_max, max_scores.get_mut(i), max_ids.get_mut(i))
                {
                    *ms = s;
                    *mk = k;
                }
                if child_width >= cap / 4 {
                    return true;
                }
                let j = if i > 0 { i - 1 } else { i + 1 };
                let Some(neighbour_width) = children.get(j).map(Node::width) else {
                    return true;
                };
                if child_width + neighbour_width > cap {
                    return true;
                }
                // lo < hi, both children's indexes: in range of every vector.
                let (lo, hi) = (i.min(j), i.max(j));
                let right = children.remove(hi);
                let right_count = counts.remove(hi);
                let right_max = (max_scores.remove(hi), max_ids.remove(hi));
                if let (Some(c), Some(ms), Some(mk)) = (
                    counts.get_mut(lo),
                    max_scores.get_mut(lo),
                    max_ids.get_mut(lo),
                ) {
                    *c += right_count;
                    *ms = right_max.0;
                    *mk = right_max.1;
                }
                match (children.get_mut(lo), right) {
                    (
                        Some(Node::Leaf { scores, ids }),
                        Node::Leaf {
                            scores: rs,
                            ids: ri,
                        },
                    ) => {
                        scores.extend(rs);
                        ids.extend(ri);
                        freed.0 += 1;
                    }
                    (
                        Some(Node::Inner {
                            children: c,
                            counts: n,
                            max_scores: s,
                            max_ids: k,
                        }),
                        Node::Inner {
                            children: rc,
                            counts: rn,
                            max_scores: rs,
                            max_ids: rk,
                        },
                    ) => {
                        c.extend(rc);
                        n.extend(rn);
                        s.extend(rs);
                        k.extend(rk);
                        freed.1 += 1;
                    }
                    // Siblings are always at the same height, and `lo` is one.
                    _ => unreachable!("B+tree siblings of different heights"),
                }
                true
            }
        }
    }

    fn count_nodes(&self, acc: &mut (usize, usize)) {
        match self {
            Node::Leaf { .. } => acc.0 += 1,
            Node::Inner { children, .. } => {
                acc.1 += 1;
                for c in children {
                    c.count_nodes(acc);
                }
            }
        }
    }

    /// Number of keys, in order, for which `pred` holds (true for a prefix).
    pub(super) fn partition(&self, pred: &mut impl FnMut(f64, u32) -> bool) -> usize {
        match self {
            Node::Leaf { scores, ids } => leaf_partition(scores, ids, pred),
            Node::Inner {
                children,
                counts,
                max_scores,
                max_ids,
            } => {
                let mut acc = 0usize;
                let keyed = max_scores.iter().zip(max_ids).zip(counts).zip(children);
                for (((&s, &k), &c), child) in keyed {
                    if pred(s, k) {
                        acc += c as usize;
                    } else {
                        return acc + child.partition(pred);
                    }
                }
                acc
            }
        }
    }

    /// Visits ranks `lo..hi` of this subtree (ascending, or descending when `rev`)
    /// while `f` returns true; false when `f` stopped the walk.
    pub(super) fn visit(
        &self,
        lo: usize,
        hi: usize,
        rev: bool,
        f: &mut impl FnMut(f64, u32) -> bool,
    ) -> bool {
        match self {
            Node::Leaf { scores, ids } => {
                let hi = hi.min(ids.len()).min(scores.len());
                let (Some(scores), Some(ids)) = (scores.get(lo..hi), ids.get(lo..hi)) else {
                    // lo >= hi: nothing to visit.
                    return true;
                };
                let mut keys = scores.iter().zip(ids);
                if rev {
                    keys.rev().all(|(&s, &id)| f(s, id))
                } else {
                    keys.all(|(&s, &id)| f(s, id))
                }
            }
            Node::Inner {
                children, counts, ..
            } => {
                let ranked = children.iter().zip(counts);
                if rev {
                    let mut end: usize = counts.iter().map(|&c| c as usize).sum();
                    for (child, &c) in ranked.rev() {
                        let start = end.saturating_sub(c as usize);
                        if !child.visit_ranks(start, end, lo, hi, rev, f) {
                            return false;
                        }
                        end = start;
                    }
                } else {
                    let mut start = 0usize;
                    for (child, &c) in ranked {
                        let end = start + c as usize;
                        if !child.visit_ranks(start, end, lo, hi, rev, f) {
                            return false;
                        }
                        start = end;
                    }
                }
                true
            }
        }
    }

    /// `visit` of ranks `lo..hi` of the parent on this child, which holds the parent's
    /// ranks `start..end`.
    fn visit_ranks(
        &self,
        start: usize,
        end: usize,
        lo: usize,
        hi: usize,
        rev: bool,
        f: &mut impl FnMut(f64, u32) -> bool,
    ) -> bool {
        if end <= lo || start >= hi {
            return true;
        }
        self.visit(
            lo.saturating_sub(start),
            hi.min(end).saturating_sub(start),
            rev,
            f,
        )
    }
}

#[cfg(test)]
impl Tree {
    /// (leaves, inner nodes), as counted while the tree changed.
    pub(super) fn nodes(&self) -> (usize, usize) {
        (self.leaves, self.inners)
    }

    /// The node counts, per-child counts and greatest keys are what a walk finds, leaf
    /// keys ascend, and the tree holds `len` keys.
    pub(super) fn check(&self, order: &impl KeyOrder, len: usize) {
        let mut acc = (0, 0);
        self.root.count_nodes(&mut acc);
        assert_eq!(acc, (self.leaves, self.inners));
        assert_eq!(self.root.count() as usize, len);
        check_node(&self.root, order);
    }
}

#[cfg(test)]
fn check_node(node: &Node, order: &impl KeyOrder) {
    match node {
        Node::Leaf { scores, ids } => {
            for w in 0..ids.len().saturating_sub(1) {
                let o = order.key_cmp(scores[w], ids[w], scores[w + 1], ids[w + 1]);
                assert_eq!(o, Ordering::Less, "leaf keys out of order");
            }
        }
        Node::Inner {
            children,
            counts,
            max_scores,
            max_ids,
        } => {
            for (i, c) in children.iter().enumerate() {
                assert_eq!(c.count(), counts[i]);
                assert_eq!(c.max_key(), Some((max_scores[i], max_ids[i])));
                check_node(c, order);
            }
        }
    }
}
