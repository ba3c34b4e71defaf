//! The simulated network: TCP-like connections from an initiator (a client or a host)
//! to an acceptor (a host). Each direction is an ordered byte stream whose bytes arrive
//! in seeded chunks after a seeded latency; the path between two ends can be
//! black-holed (both ways or one way: bytes wait, nobody is told) or slowed. It never
//! decides what a segment means: the world delivers them and reacts.

use std::collections::{BTreeMap, VecDeque};

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::workload::Framer;

/// A connection's id in the world: the id its acceptor knows it by (the driver hands
/// out accepted ids). A host that initiated one knows it by its own id (see `Conn`).
pub type ConnId = u64;

/// One end of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum End {
    Client(usize),
    Host(usize),
}

/// What a fault names as one side of a path: every client, or one host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Peer {
    Clients,
    Host(usize),
}

impl Default for Peer {
    fn default() -> Self {
        Peer::Host(0)
    }
}

impl Peer {
    pub fn matches(self, end: End) -> bool {
        match (self, end) {
            (Peer::Clients, End::Client(_)) => true,
            (Peer::Host(a), End::Host(b)) => a == b,
            _ => false,
        }
    }
}

/// What travels in one direction of a connection, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// The connection opens (SYN); only toward the acceptor.
    Open,
    /// The acceptor took it (SYN-ACK); only toward a host that initiated it.
    OpenAck,
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
    /// Bytes in `queue` (kept, not summed: the world asks after every event).
    queued_bytes: usize,
}

impl Pipe {
    fn push(&mut self, ready_ms: u64, seg: Segment) -> u64 {
        let ready_ms = ready_ms.max(self.last_ready_ms);
        self.last_ready_ms = ready_ms;
        if let Segment::Bytes(b) = &seg {
            self.queued_bytes += b.len();
        }
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
            if let Segment::Bytes(b) = &seg {
                self.queued_bytes -= b.len();
            }
            match (out.last_mut(), seg) {
                (Some(Segment::Bytes(prev)), Segment::Bytes(more)) => prev.extend_from_slice(&more),
                (_, seg) => out.push(seg),
            }
        }
        out
    }

    pub fn queued_bytes(&self) -> usize {
        debug_assert_eq!(
            self.queued_bytes,
            self.queue
                .iter()
                .map(|(_, s)| match s {
                    Segment::Bytes(b) => b.len(),
                    _ => 0,
                })
                .sum::<usize>()
        );
        self.queued_bytes
    }
}

/// A request the client wrote on a connection, with the stream offset where it ends:
/// the acceptor can run it once that offset has been delivered.
#[derive(Debug, Clone)]
pub struct InFlight {
    pub end_offset_bytes: u64,
    pub op_index: usize,
}

#[derive(Debug)]
pub struct Conn {
    pub initiator: End,
    /// The id the initiating host's node knows it by (its `Effect::Connect` id); the
    /// world's id for a client's.
    pub initiator_conn: ConnId,
    pub acceptor: usize,
    pub to_acceptor: Pipe,
    pub to_initiator: Pipe,
    /// The acceptor's node accepted the connection and has not closed or lost it.
    pub acceptor_knows: bool,
    /// The initiator still reads from it (a client until it timed out or saw a close;
    /// a host until its node closed it).
    pub initiator_open: bool,
    /// A host initiator was told `Connected`.
    pub connected: bool,
    pub written_bytes: u64,
    pub delivered_bytes: u64,
    /// Bytes the acceptor sent on this connection, and how many of them reached the
    /// initiator: the world's own count of the acceptor's unsent output.
    pub replies_sent_bytes: u64,
    pub replies_delivered_bytes: u64,
    /// Requests a client wrote that have not fully reached the acceptor.
    pub requests: VecDeque<InFlight>,
    /// Requests that reached the acceptor and await its reply, oldest first: replies
    /// are matched to them in order, whenever the node sends them.
    pub awaiting: VecDeque<usize>,
    /// The acceptor's output on a client connection, framed into replies.
    pub replies: Framer,
    /// Pushes and multi-frame (un)subscription replies in that output.
    pub sub_framing: crate::pubsub::SubFraming,
}

impl Conn {
    /// The host an end's node knows this connection by its own id: the acceptor, or a
    /// host initiator.
    pub fn local_id(&self, id: ConnId, host: usize) -> Option<ConnId> {
        if self.acceptor == host {
            Some(id)
        } else if self.initiator == End::Host(host) {
            Some(self.initiator_conn)
        } else {
            None
        }
    }

    /// The client that opened it, if a client did.
    pub fn client(&self) -> Option<usize> {
        match self.initiator {
            End::Client(c) => Some(c),
            End::Host(_) => None,
        }
    }

    fn pipe(&mut self, toward_acceptor: bool) -> &mut Pipe {
        if toward_acceptor {
            &mut self.to_acceptor
        } else {
            &mut self.to_initiator
        }
    }
}

/// The latency and chunking of every path.
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

/// A black hole between two peers, in force while its fault lasts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    pub fault: usize,
    pub from: Peer,
    pub to: Peer,
    /// Both directions (a partition), or only `from` -> `to`.
    pub both_ways: bool,
}

impl Block {
    /// Whether a connection between these ends runs over the blocked path.
    pub fn joins(&self, initiator: End, acceptor: usize) -> bool {
        let acceptor = End::Host(acceptor);
        (self.from.matches(initiator) && self.to.matches(acceptor))
            || (self.from.matches(acceptor) && self.to.matches(initiator))
    }

    fn stops(&self, src: End, dst: End) -> bool {
        (self.from.matches(src) && self.to.matches(dst))
            || (self.both_ways && self.from.matches(dst) && self.to.matches(src))
    }
}

#[derive(Debug)]
pub struct Network {
    pub link: Link,
    pub conns: BTreeMap<ConnId, Conn>,
    pub blocks: Vec<Block>,
    /// (host, the id its node chose) -> the world's id, for connections hosts opened.
    outbound: BTreeMap<(usize, ConnId), ConnId>,
}

impl Network {
    pub fn new(link: Link) -> Self {
        Network {
            link,
            conns: BTreeMap::new(),
            blocks: Vec::new(),
            outbound: BTreeMap::new(),
        }
    }

    fn latency_ms(&self, rng: &mut ChaCha8Rng) -> u64 {
        (self.link.latency_min_ms + rng.gen_range(0..=self.link.latency_jitter_ms))
            * self.link.slow_factor.max(1)
    }

    /// Whether bytes toward the acceptor (or toward the initiator) of `id` are held.
    pub fn blocked(&self, id: ConnId, toward_acceptor: bool) -> bool {
        if self.link.blackholed {
            return true;
        }
        if self.blocks.is_empty() {
            return false;
        }
        let Some(c) = self.conns.get(&id) else {
            return false;
        };
        let (a, b) = (c.initiator, End::Host(c.acceptor));
        let (src, dst) = if toward_acceptor { (a, b) } else { (b, a) };
        self.blocks.iter().any(|x| x.stops(src, dst))
    }

    /// Opens connection `id` from `initiator` (known to a host initiator as
    /// `initiator_conn`) to host `acceptor`; returns when the SYN is readable.
    pub fn open(
        &mut self,
        rng: &mut ChaCha8Rng,
        now_ms: u64,
        id: ConnId,
        initiator: End,
        initiator_conn: ConnId,
        acceptor: usize,
    ) -> u64 {
        let mut conn = Conn {
            initiator,
            initiator_conn,
            acceptor,
            to_acceptor: Pipe::default(),
            to_initiator: Pipe::default(),
            acceptor_knows: false,
            initiator_open: true,
            connected: false,
            written_bytes: 0,
            delivered_bytes: 0,
            replies_sent_bytes: 0,
            replies_delivered_bytes: 0,
            requests: VecDeque::new(),
            awaiting: VecDeque::new(),
            replies: Framer::default(),
            sub_framing: Default::default(),
        };
        let at = now_ms + self.latency_ms(rng);
        let ready = conn.to_acceptor.push(at, Segment::Open);
        if let End::Host(h) = initiator {
            self.outbound.insert((h, initiator_conn), id);
        }
        self.conns.insert(id, conn);
        ready
    }

    /// The world's id of the connection `host`'s node calls `local`, and whether the
    /// host is its acceptor.
    pub fn resolve(&self, host: usize, local: ConnId) -> Option<(ConnId, bool)> {
        // The core draws outbound ids from a range it never hands out for accepted
        // ones, so one lookup per map is unambiguous.
        if let Some(&id) = self.outbound.get(&(host, local)) {
            return Some((id, false));
        }
        self.conns
            .get(&local)
            .is_some_and(|c| c.acceptor == host)
            .then_some((local, true))
    }

    /// Forgets a connection (both ends are done with it, or it was reset).
    pub fn remove(&mut self, id: ConnId) -> Option<Conn> {
        let conn = self.conns.remove(&id)?;
        if let End::Host(h) = conn.initiator {
            self.outbound.remove(&(h, conn.initiator_conn));
        }
        Some(conn)
    }

    /// Writes bytes in one direction, cut into seeded chunks; returns the times at
    /// which chunks become readable (the world schedules a delivery for each).
    pub fn write(
        &mut self,
        rng: &mut ChaCha8Rng,
        now_ms: u64,
        id: ConnId,
        toward_acceptor: bool,
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
        if toward_acceptor {
            conn.written_bytes += bytes.len() as u64;
        } else {
            conn.replies_sent_bytes += bytes.len() as u64;
        }
        let pipe = conn.pipe(toward_acceptor);
        cuts.windows(2)
            .zip(latencies)
            .filter_map(|(w, lat)| {
                let piece = bytes.get(w[0]..w[1])?;
                Some(pipe.push(now_ms + lat, Segment::Bytes(piece.to_vec())))
            })
            .collect()
    }

    /// A control segment (FIN, SYN-ACK) in one direction, behind everything already
    /// written.
    pub fn signal(
        &mut self,
        rng: &mut ChaCha8Rng,
        now_ms: u64,
        id: ConnId,
        toward_acceptor: bool,
        seg: Segment,
    ) -> Option<u64> {
        let lat = self.latency_ms(rng);
        let conn = self.conns.get_mut(&id)?;
        Some(conn.pipe(toward_acceptor).push(now_ms + lat, seg))
    }

    /// Bytes waiting anywhere in the network (a resource bound the world checks).
    pub fn queued_bytes(&self) -> usize {
        self.conns
            .values()
            .map(|c| c.to_acceptor.queued_bytes() + c.to_initiator.queued_bytes())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn net() -> Network {
        Network::new(Link {
            latency_min_ms: 1,
            latency_jitter_ms: 2,
            slow_factor: 1,
            blackholed: false,
            max_chunks: 3,
        })
    }

    #[test]
    fn bytes_arrive_in_order_in_chunks() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut n = net();
        n.open(&mut rng, 0, 1, End::Client(0), 1, 0);
        let mut last = 0;
        for i in 0..10u8 {
            for at in n.write(&mut rng, u64::from(i), 1, true, &[i; 10]) {
                last = last.max(at);
            }
        }
        let c = n.conns.get_mut(&1).expect("open");
        let segs = c.to_acceptor.take_ready(last);
        let mut bytes = Vec::new();
        for s in &segs[1..] {
            let Segment::Bytes(b) = s else {
                panic!("{s:?}")
            };
            bytes.extend_from_slice(b);
        }
        assert_eq!(segs[0], Segment::Open);
        assert_eq!(bytes, (0..10u8).flat_map(|i| [i; 10]).collect::<Vec<_>>());
    }

    #[test]
    fn host_ids_resolve_and_blocks_name_paths() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut n = net();
        let out = (1 << 62) + 5;
        n.open(&mut rng, 0, 7, End::Host(1), out, 0);
        n.open(&mut rng, 0, 8, End::Client(3), 8, 0);
        assert_eq!(n.resolve(0, 7), Some((7, true)));
        assert_eq!(n.resolve(1, out), Some((7, false)));
        assert_eq!(n.resolve(1, 7), None);
        assert_eq!(n.resolve(0, out), None);
        assert_eq!(n.conns[&7].local_id(7, 1), Some(out));
        // A one-way block from host 1 to host 0 holds only that direction.
        n.blocks.push(Block {
            fault: 0,
            from: Peer::Host(1),
            to: Peer::Host(0),
            both_ways: false,
        });
        assert!(n.blocked(7, true) && !n.blocked(7, false));
        assert!(!n.blocked(8, true) && !n.blocked(8, false));
        // A partition between clients and host 0 holds both directions of theirs only.
        n.blocks.clear();
        n.blocks.push(Block {
            fault: 1,
            from: Peer::Clients,
            to: Peer::Host(0),
            both_ways: true,
        });
        assert!(n.blocked(8, true) && n.blocked(8, false));
        assert!(!n.blocked(7, true));
        n.remove(7);
        assert_eq!(n.resolve(1, out), None);
    }
}
