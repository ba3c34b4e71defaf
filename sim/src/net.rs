//! The simulated network: TCP-like connections between simulated clients and a node.
//! Each direction is an ordered byte stream whose bytes arrive in seeded chunks after a
//! seeded latency; the link can be black-holed (bytes wait, nobody is told) or slowed.
//! It never decides what a segment means: the world delivers them and reacts.

use std::collections::{BTreeMap, VecDeque};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub type ConnId = u64;

/// What travels in one direction of a connection, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// The connection opens (SYN); only on the client -> node direction.
    Open,
    Bytes(Vec<u8>),
    /// An orderly close (FIN) after everything sent before it.
    Fin,
}

/// One direction of a connection: segments with the simulated time they become readable.
#[derive(Debug, Default)]
pub struct Pipe {
    queue: VecDeque<(u64, Segment)>,
    /// Ready times never go backwards, so the stream stays ordered.
    last_ready_ms: u64,
}

impl Pipe {
    fn push(&mut self, ready_ms: u64, seg: Segment) -> u64 {
        let ready_ms = ready_ms.max(self.last_ready_ms);
        self.last_ready_ms = ready_ms;
        self.queue.push_back((ready_ms, seg));
        ready_ms
    }

    /// Everything readable at `now_ms`, adjacent byte segments coalesced (a read
    /// returns whatever the socket buffer holds).
    pub fn take_ready(&mut self, now_ms: u64) -> Vec<Segment> {
        let mut out: Vec<Segment> = Vec::new();
        while self.queue.front().is_some_and(|(at, _)| *at <= now_ms) {
            let Some((_, seg)) = self.queue.pop_front() else {
                break;
            };
            match (out.last_mut(), seg) {
                (Some(Segment::Bytes(prev)), Segment::Bytes(more)) => prev.extend_from_slice(&more),
                (_, seg) => out.push(seg),
            }
        }
        out
    }

    pub fn queued_bytes(&self) -> usize {
        self.queue
            .iter()
            .map(|(_, s)| match s {
                Segment::Bytes(b) => b.len(),
                _ => 0,
            })
            .sum()
    }
}

/// A request the client wrote on a connection, with the stream offset where it ends:
/// the node runs it as soon as that offset has been delivered.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub end_offset_bytes: u64,
    pub op_index: usize,
}

#[derive(Debug)]
pub struct Conn {
    pub client: usize,
    pub to_node: Pipe,
    pub to_client: Pipe,
    /// The node accepted the connection and has not closed or lost it.
    pub node_knows: bool,
    /// The client still reads from it (false once it timed out or saw a close).
    pub client_open: bool,
    pub written_bytes: u64,
    pub delivered_bytes: u64,
    /// Bytes the node sent on this connection, and how many of them reached the
    /// client: the world's own count of the node's unsent output.
    pub replies_sent_bytes: u64,
    pub replies_delivered_bytes: u64,
    pub requests: VecDeque<InFlight>,
}

/// The link between the clients and the node.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Link {
    pub latency_min_ms: u64,
    pub latency_jitter_ms: u64,
    /// Latency multiplier while a slow-link fault is active (1 otherwise).
    pub slow_factor: u64,
    /// Black hole: nothing is delivered, nothing is lost, nobody is told.
    pub blackholed: bool,
    /// A write is cut into at most this many chunks, each delivered separately.
    pub max_chunks: usize,
}

#[derive(Debug)]
pub struct Network {
    pub link: Link,
    pub conns: BTreeMap<ConnId, Conn>,
}

impl Network {
    pub fn new(link: Link) -> Self {
        Network {
            link,
            conns: BTreeMap::new(),
        }
    }

    fn latency_ms(&self, rng: &mut ChaCha8Rng) -> u64 {
        (self.link.latency_min_ms + rng.gen_range(0..=self.link.latency_jitter_ms))
            * self.link.slow_factor.max(1)
    }

    pub fn open(&mut self, rng: &mut ChaCha8Rng, now_ms: u64, id: ConnId, client: usize) -> u64 {
        let mut conn = Conn {
            client,
            to_node: Pipe::default(),
            to_client: Pipe::default(),
            node_knows: false,
            client_open: true,
            written_bytes: 0,
            delivered_bytes: 0,
            replies_sent_bytes: 0,
            replies_delivered_bytes: 0,
            requests: VecDeque::new(),
        };
        let at = now_ms + self.latency_ms(rng);
        let ready = conn.to_node.push(at, Segment::Open);
        self.conns.insert(id, conn);
        ready
    }

    /// Writes bytes in one direction, cut into seeded chunks; returns the times at
    /// which chunks become readable (the world schedules a delivery for each).
    pub fn write(
        &mut self,
        rng: &mut ChaCha8Rng,
        now_ms: u64,
        id: ConnId,
        to_node: bool,
        bytes: &[u8],
    ) -> Vec<u64> {
        if bytes.is_empty() {
            return Vec::new();
        }
        let chunks = rng
            .gen_range(1..=self.link.max_chunks.max(1))
            .min(bytes.len());
        let mut cuts: Vec<usize> = (1..chunks).map(|_| rng.gen_range(1..bytes.len())).collect();
        cuts.push(0);
        cuts.push(bytes.len());
        cuts.sort_unstable();
        cuts.dedup();
        let latencies: Vec<u64> = (1..cuts.len()).map(|_| self.latency_ms(rng)).collect();
        let Some(conn) = self.conns.get_mut(&id) else {
            return Vec::new();
        };
        if to_node {
            conn.written_bytes += bytes.len() as u64;
        } else {
            conn.replies_sent_bytes += bytes.len() as u64;
        }
        let pipe = if to_node {
            &mut conn.to_node
        } else {
            &mut conn.to_client
        };
        cuts.windows(2)
            .zip(latencies)
            .filter_map(|(w, lat)| {
                let piece = bytes.get(w[0]..w[1])?;
                Some(pipe.push(now_ms + lat, Segment::Bytes(piece.to_vec())))
            })
            .collect()
    }

    /// An orderly close in one direction, behind everything already written.
    pub fn fin(
        &mut self,
        rng: &mut ChaCha8Rng,
        now_ms: u64,
        id: ConnId,
        to_node: bool,
    ) -> Option<u64> {
        let lat = self.latency_ms(rng);
        let conn = self.conns.get_mut(&id)?;
        let pipe = if to_node {
            &mut conn.to_node
        } else {
            &mut conn.to_client
        };
        Some(pipe.push(now_ms + lat, Segment::Fin))
    }

    /// Bytes waiting anywhere in the network (a resource bound the world checks).
    pub fn queued_bytes(&self) -> usize {
        self.conns
            .values()
            .map(|c| c.to_node.queued_bytes() + c.to_client.queued_bytes())
            .sum()
    }
}
