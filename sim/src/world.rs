//! The world: one seeded event queue keyed by (time, sequence), the run loop, and the
//! wiring of node, network, clients and checkers. Every reply is judged here against
//! the reference model; it never reads a real clock or does I/O.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use keel_core::config::Config;
use keel_core::{Effect, Input, Node, NodeSeeds, Now};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::checkers::*;
use crate::model::Model;
use crate::net::{ConnId, InFlight, Network, Segment};
use crate::scenario::*;
use crate::workload::{encode, is_denyoom, Client, Framer, Op, OpOutcome};

/// The result of one seed.
#[derive(Debug)]
pub struct Outcome {
    pub seed: u64,
    pub scenario: Scenario,
    pub trace_hash: u64,
    pub history: Vec<Op>,
    /// The first thing a checker rejected, if any.
    pub failure: Option<String>,
    /// Which checker rejected it.
    pub failed_checker: Option<Checker>,
    /// The linearizability checker's verdict (None when it was not enabled).
    pub linearizability: Option<LinReport>,
    /// The Elle list-append checker's report over the run's transactions (None when
    /// the run sent none).
    pub elle: Option<ElleReport>,
    pub simulated_ms: u64,
    pub reached: BTreeSet<&'static str>,
    /// A readable event log, when asked for.
    pub trace: Vec<String>,
}

impl Outcome {
    pub fn replay_line(&self) -> String {
        format!(
            "keel-sim replay --scenario {} --seed {:#018x}",
            self.scenario.name, self.seed
        )
    }
}

/// FNV-1a, 64-bit: a stable hash for the trace (std's hashers may change between releases).
#[derive(Clone, Copy)]
pub(crate) struct TraceHash(u64);

impl TraceHash {
    pub(crate) fn new() -> Self {
        TraceHash(0xcbf2_9ce4_8422_2325)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= b as u64;
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    pub(crate) fn write_u64(&mut self, v: u64) {
        self.write(&v.to_le_bytes());
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Event {
    /// The node's timer; stale generations (before a crash or pause) are ignored.
    Tick {
        generation: u64,
    },
    /// A client connects if it must and sends its next batch.
    ClientWake {
        client: usize,
    },
    /// A client's batch deadline.
    ClientTimeout {
        client: usize,
        batch: u64,
    },
    /// Segments on one direction of a connection may be readable.
    Deliver {
        conn: ConnId,
        to_node: bool,
    },
    FaultStart {
        index: usize,
    },
    FaultEnd {
        index: usize,
    },
}

/// The exact reply the node sends to a refused write.
const OOM_REPLY: &[u8] = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n";

/// How far the batch's own client may sit in `used_memory` while its requests run
/// (the node takes the client out of its table while it executes a batch).
const CLIENT_SLACK_BYTES: usize = 16 * 1024;

/// The stated bound: after the first refused write of a squeeze, `used_memory` stays
/// within this of max(limit, usage at that refusal).
const MEMORY_SLACK_BYTES: usize = 16 * 1024;

/// Liveness bound: a run that needs more events than this is reported as a hang.
const MAX_EVENTS: u64 = 2_000_000;

/// Bound on bytes waiting in the network at once (no unbounded queue).
const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

/// The node's memory around one delivery of bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BatchMemory {
    limit: u64,
    used_before: usize,
    used_after: usize,
    delivered_bytes: usize,
}

pub(crate) struct Squeeze {
    pub(crate) limit_bytes: u64,
    pub(crate) used_at_first_refusal: Option<usize>,
}

/// Logs a formatted trace line only when the run keeps a trace: formatting every
/// event's line for nothing was a measurable share of a sweep.
macro_rules! log {
    ($world:expr, $($arg:tt)*) => {
        if $world.trace.is_some() {
            let line = format!($($arg)*);
            $world.log(line);
        }
    };
}
pub(crate) use log;

pub(crate) struct World<'a> {
    pub(crate) rng: ChaCha8Rng,
    pub(crate) scenario: Scenario,
    pub(crate) now_ms: u64,
    pub(crate) start_wall_ms: u64,
    pub(crate) wall_offset_ms: i64,
    pub(crate) clock: WallClock,
    pub(crate) max_wall_ms: u64,
    pub(crate) checks: Checks,
    /// Total order of client events for the histories.
    pub(crate) step: u64,
    /// Crashes so far.
    pub(crate) epoch: u32,
    /// Requests the node has run.
    pub(crate) runs: u64,
    pub(crate) node: Option<Node>,
    /// A second node fed only the node's propagation stream (what a replica or an
    /// AOF would get); its dataset digest must equal the node's after every batch.
    pub(crate) shadow: Option<Shadow>,
    /// Pauses, partitions, crashes and slow links may overlap: counted, not flagged.
    pub(crate) pauses_active: u32,
    pub(crate) partitions_active: u32,
    pub(crate) crashes_active: u32,
    /// One-way partitions active per direction: [client -> node, node -> client].
    pub(crate) one_way_active: [u32; 2],
    /// The node's monotonic clock: `mono_base_ms` at simulated `mono_base_at_ms`, running
    /// at `mono_rate_permille` since.
    pub(crate) mono_rate_permille: u64,
    pub(crate) mono_base_ms: u64,
    pub(crate) mono_base_at_ms: u64,
    pub(crate) drift_rates: Vec<u64>,
    pub(crate) last_mono_ms: u64,
    pub(crate) slow_factors: Vec<u64>,
    pub(crate) paused: bool,
    pub(crate) generation: u64,
    pub(crate) setup: &'a dyn Fn(&mut Node),
    pub(crate) model: Model,
    pub(crate) net: Network,
    pub(crate) clients: Vec<Client>,
    pub(crate) queue: BinaryHeap<Reverse<(u64, u64, Event)>>,
    pub(crate) seq: u64,
    pub(crate) hash: TraceHash,
    pub(crate) history: Vec<Op>,
    pub(crate) failure: Option<String>,
    pub(crate) failed_checker: Option<Checker>,
    pub(crate) reached: BTreeSet<&'static str>,
    pub(crate) squeeze: Option<Squeeze>,
    pub(crate) next_conn: ConnId,
    pub(crate) trace: Option<Vec<String>>,
}

fn show(req: &[Vec<u8>]) -> String {
    req.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

impl<'a> World<'a> {
    pub(crate) fn schedule(&mut self, at_ms: u64, event: Event) {
        self.queue.push(Reverse((at_ms, self.seq, event)));
        self.seq += 1;
    }

    /// A resource, liveness or protocol assertion failed.
    pub(crate) fn fail(&mut self, message: String) {
        self.fail_by(Checker::Resource, message);
    }

    pub(crate) fn fail_by(&mut self, checker: Checker, message: String) {
        if self.failure.is_none() {
            log!(self, "FAILURE ({}): {message}", checker.name());
            self.failure = Some(format!("at {} ms: {message}", self.now_ms));
            self.failed_checker = Some(checker);
        }
    }

    pub(crate) fn next_step(&mut self) -> u64 {
        self.step += 1;
        self.step
    }

    /// Adds a line to the trace (only when one is kept: see `log!`, which skips the
    /// formatting otherwise, since this runs per event).
    pub(crate) fn log(&mut self, line: String) {
        let now = self.now_ms;
        if let Some(t) = self.trace.as_mut() {
            t.push(format!("{now:>8} ms  {line}"));
        }
    }

    /// The node's clocks now, without recording them as seen (for bookkeeping inputs
    /// that read no clock, so they leave the clock checks as they were).
    pub(crate) fn peek_node_now(&self) -> Now {
        let wall = (self.start_wall_ms + self.now_ms) as i64 + self.wall_offset_ms;
        Now {
            mono_ms: self.mono_at(self.now_ms).max(self.last_mono_ms),
            wall_ms: wall.max(0) as u64,
        }
    }

    pub(crate) fn node_now(&mut self) -> Now {
        let wall = (self.start_wall_ms + self.now_ms) as i64 + self.wall_offset_ms;
        let wall_ms = wall.max(0) as u64;
        self.max_wall_ms = self.max_wall_ms.max(wall_ms);
        let mono_ms = self.mono_at(self.now_ms);
        if mono_ms < self.last_mono_ms {
            self.fail(format!(
                "the node's monotonic clock went back from {} to {mono_ms} ms",
                self.last_mono_ms
            ));
        }
        self.last_mono_ms = mono_ms;
        Now { mono_ms, wall_ms }
    }

    /// The node's monotonic clock at simulated time `t_ms` (not before the last rate
    /// change): it never goes backwards, whatever the rate.
    pub(crate) fn mono_at(&self, t_ms: u64) -> u64 {
        let elapsed = t_ms.saturating_sub(self.mono_base_at_ms);
        self.mono_base_ms + elapsed * self.mono_rate_permille / 1000
    }

    /// The simulated time at which the node's monotonic clock reaches `mono_ms`.
    pub(crate) fn sim_time_of_mono(&self, mono_ms: u64) -> u64 {
        let ahead = mono_ms.saturating_sub(self.mono_base_ms);
        let rate = self.mono_rate_permille.max(1);
        self.mono_base_at_ms + (ahead * 1000).div_ceil(rate)
    }

    pub(crate) fn set_mono_rate(&mut self, rate_permille: u64) {
        self.mono_base_ms = self.mono_at(self.now_ms);
        self.mono_base_at_ms = self.now_ms;
        self.mono_rate_permille = rate_permille.max(1);
    }

    pub(crate) fn blocked(&self, to_node: bool) -> bool {
        self.net.link.blackholed || self.one_way_active[usize::from(!to_node)] > 0
    }

    pub(crate) fn new_node(&mut self) -> Node {
        let seeds = NodeSeeds {
            rng_seed: self.rng.gen(),
            hash_seeds: [
                self.rng.gen(),
                self.rng.gen(),
                self.rng.gen(),
                self.rng.gen(),
            ],
        };
        let now = self.node_now();
        let mut node = Node::new(Config::default(), seeds, now);
        (self.setup)(&mut node);
        node.enable_propagation();
        // Seeds of its own (derived, so the world's RNG stream is untouched): its
        // random draws and hash orders differ from the node's, as a replica's do.
        let shadow_seeds = NodeSeeds {
            rng_seed: seeds.rng_seed ^ 0x5EED_5EED_5EED_5EED,
            hash_seeds: seeds.hash_seeds.map(|s| s.rotate_left(17) ^ 0xA5A5),
        };
        self.shadow = Some(Shadow::new(shadow_seeds, now));
        node
    }

    /// Applies what the node propagated since the last call to the shadow and
    /// compares their digests (the shadow checker).
    pub(crate) fn sync_shadow(&mut self) {
        if !self.checks.shadow {
            return;
        }
        let Some(node) = self.node.as_mut() else {
            return;
        };
        let records = node.take_propagated();
        if records.is_empty() {
            return;
        }
        let now = self.peek_node_now();
        let Some(shadow) = self.shadow.as_mut() else {
            return;
        };
        shadow.apply(now, records);
        shadow.behind = true;
        // A digest walks the whole dataset: compare every 200 simulated ms (and at
        // the end of the run, and before a crash) rather than after every write. A
        // divergence stays until something overwrites it, which is rarely that soon.
        if self.now_ms >= shadow.compared_at_ms + SHADOW_COMPARE_EVERY_MS {
            self.compare_shadow();
        }
    }

    /// The shadow checker's verdict: the node's and the shadow's digests are equal.
    pub(crate) fn compare_shadow(&mut self) {
        let (Some(node), Some(shadow)) = (self.node.as_ref(), self.shadow.as_mut()) else {
            return;
        };
        if !shadow.behind {
            return;
        }
        shadow.behind = false;
        shadow.compared_at_ms = self.now_ms;
        let (want, got) = (
            keel_core::digest::dataset_digest(&node.keyspace),
            keel_core::digest::dataset_digest(&shadow.node.keyspace),
        );
        self.reached.insert(reach::SHADOW_COMPARED);
        if want != got {
            let (want, got) = (keel_core::digest::hex(&want), keel_core::digest::hex(&got));
            self.fail_by(
                Checker::Shadow,
                format!("the shadow fed the propagation stream diverged: node digest {want}, shadow {got}"),
            );
        }
    }

    pub(crate) fn any_client_active(&self) -> bool {
        self.clients.iter().any(Client::active)
    }

    pub(crate) fn run(&mut self) {
        for c in 0..self.clients.len() {
            let at = self.rng.gen_range(0..10);
            self.schedule(at, Event::ClientWake { client: c });
        }
        let first_tick = self
            .node
            .as_ref()
            .map_or(0, |n| self.sim_time_of_mono(n.next_deadline()));
        self.schedule(first_tick, Event::Tick { generation: 0 });
        for index in 0..self.scenario.faults.len() {
            let at = self.scenario.faults[index].at_ms;
            self.schedule(at, Event::FaultStart { index });
        }
        let mut events = 0u64;
        while let Some(Reverse((at_ms, _, event))) = self.queue.pop() {
            if self.failure.is_some() {
                break;
            }
            events += 1;
            if events > MAX_EVENTS {
                self.fail(format!("no progress after {MAX_EVENTS} events (hang?)"));
                break;
            }
            self.now_ms = self.now_ms.max(at_ms);
            self.hash.write_u64(self.now_ms);
            self.hash_event(&event);
            match event {
                Event::Tick { generation } => self.on_tick(generation),
                Event::ClientWake { client } => self.client_wake(client),
                Event::ClientTimeout { client, batch } => self.client_timeout(client, batch),
                Event::Deliver { conn, to_node } => {
                    if to_node {
                        self.deliver_to_node(conn)
                    } else {
                        self.deliver_to_client(conn)
                    }
                }
                Event::FaultStart { index } => self.fault_start(index),
                Event::FaultEnd { index } => self.fault_end(index),
            }
            let queued = self.net.queued_bytes();
            if queued > MAX_QUEUED_BYTES {
                self.fail(format!("{queued} bytes queued in the network"));
            }
        }
        if self.failure.is_none() {
            self.compare_shadow();
        }
        if self.failure.is_none() {
            let stuck: Vec<usize> = (0..self.clients.len())
                .filter(|&c| self.clients[c].active())
                .collect();
            if !stuck.is_empty() {
                self.fail(format!("clients {stuck:?} never finished (no event left)"));
            }
        }
    }

    /// Feeds an event into the trace hash without allocating (this runs per event).
    pub(crate) fn hash_event(&mut self, event: &Event) {
        let (kind, a, b) = match *event {
            Event::Tick { generation } => (0u64, generation, 0),
            Event::ClientWake { client } => (1, client as u64, 0),
            Event::ClientTimeout { client, batch } => (2, client as u64, batch),
            Event::Deliver { conn, to_node } => (3, conn, u64::from(to_node)),
            Event::FaultStart { index } => (4, index as u64, 0),
            Event::FaultEnd { index } => (5, index as u64, 0),
        };
        self.hash.write_u64(kind);
        self.hash.write_u64(a);
        self.hash.write_u64(b);
    }

    pub(crate) fn on_tick(&mut self, generation: u64) {
        if generation != self.generation || self.paused {
            return;
        }
        let now = self.node_now();
        let Some(node) = self.node.as_mut() else {
            return;
        };
        let expired_before = node.keyspace.stats.expired_keys;
        node.handle(now, Input::Tick);
        let removed = node.keyspace.stats.expired_keys > expired_before;
        let next_mono_ms = node.next_deadline();
        if removed {
            self.reached.insert(reach::ACTIVE_EXPIRY);
        }
        if self.mono_rate_permille != 1000 {
            self.reached.insert(reach::CLOCK_DRIFTED);
        }
        self.drain_effects(None);
        self.sync_expiry();
        if self.any_client_active() {
            let at = self.sim_time_of_mono(next_mono_ms).max(self.now_ms + 1);
            self.schedule(at, Event::Tick { generation });
        }
    }

    /// Runs the node's effects in order; returns the bytes sent to `watch`.
    pub(crate) fn drain_effects(&mut self, watch: Option<ConnId>) -> Vec<u8> {
        let mut watched = Vec::new();
        while let Some(effect) = self.node.as_mut().and_then(Node::poll_effect) {
            match effect {
                Effect::Send { conn, bytes } => {
                    self.hash.write(&bytes);
                    if Some(conn) == watch {
                        watched.extend_from_slice(&bytes);
                    }
                    let times = self
                        .net
                        .write(&mut self.rng, self.now_ms, conn, false, &bytes);
                    for at in times {
                        self.schedule(
                            at,
                            Event::Deliver {
                                conn,
                                to_node: false,
                            },
                        );
                    }
                }
                // An abort (output limit) is a close to the simulated network: the
                // client sees the replies already in flight, then the end.
                Effect::Close { conn } | Effect::Abort { conn } => {
                    log!(self, "node closes conn {conn}");
                    self.model.conn_closed(conn);
                    if let Some(c) = self.net.conns.get_mut(&conn) {
                        c.node_knows = false;
                    }
                    if let Some(at) = self.net.fin(&mut self.rng, self.now_ms, conn, false) {
                        self.schedule(
                            at,
                            Event::Deliver {
                                conn,
                                to_node: false,
                            },
                        );
                    }
                }
                Effect::Shutdown { exit_code } => {
                    self.fail(format!("node asked to shut down (exit code {exit_code})"));
                }
                Effect::Sleep { ms } => {
                    self.fail(format!(
                        "node asked to sleep {ms} ms (nobody sends DEBUG SLEEP)"
                    ));
                }
                // No subsystem connects out or touches a disk yet; a node that asks
                // is broken, and the run says so rather than hanging on no answer.
                Effect::Connect { conn, addr } => {
                    self.fail(format!(
                        "node asked to connect (conn {conn}, {addr}); no host models peers yet"
                    ));
                }
                Effect::Disk { io, op } => {
                    self.fail(format!(
                        "node asked for disk operation {} ({op:?}); no host models a disk yet",
                        io.0
                    ));
                }
                Effect::Log { .. } => {}
                // Lazily freed memory: the simulator has no other thread; drop it here.
                Effect::Free { garbage } => drop(garbage),
            }
        }
        self.sync_shadow();
        watched
    }

    /// Keeps the model in step with keys the node removed by active expiry.
    pub(crate) fn sync_expiry(&mut self) {
        let Some(node) = self.node.as_ref() else {
            return;
        };
        let db = node.keyspace.db(0);
        self.model
            .sync_expired(self.max_wall_ms, |k| db.find(k).is_some());
    }

    pub(crate) fn client_wake(&mut self, c: usize) {
        if self.clients[c].queue.is_empty() || !self.clients[c].outstanding.is_empty() {
            return;
        }
        let conn = match self.clients[c].conn {
            Some(conn) => conn,
            None => {
                let id = self.next_conn;
                self.next_conn += 1;
                let at = self.net.open(&mut self.rng, self.now_ms, id, c);
                self.schedule(
                    at,
                    Event::Deliver {
                        conn: id,
                        to_node: true,
                    },
                );
                self.clients[c].conn = Some(id);
                self.clients[c].framer = Framer::default();
                log!(self, "client {c} connects (conn {id})");
                id
            }
        };
        let n = self
            .rng
            .gen_range(1..=self.scenario.pipeline_max.max(1))
            .min(self.clients[c].queue.len());
        let mut bytes = Vec::new();
        let Some(written) = self.net.conns.get(&conn).map(|x| x.written_bytes) else {
            self.fail(format!("client {c} holds conn {conn} the network lost"));
            return;
        };
        let mut inflight = Vec::new();
        for _ in 0..n {
            let Some(request) = self.clients[c].queue.pop_front() else {
                break;
            };
            bytes.extend_from_slice(&encode(&request));
            self.clients[c].note_sent(&request);
            let op_index = self.history.len();
            log!(self, "client {c} invokes #{op_index} {}", show(&request));
            let invoke_step = self.next_step();
            self.history.push(Op {
                client: c,
                conn,
                invoke_ms: self.now_ms,
                complete_ms: None,
                invoke_step,
                complete_step: None,
                epoch: self.epoch,
                request,
                reply: Vec::new(),
                node_reply: None,
                run_seq: None,
                outcome: OpOutcome::Pending,
            });
            inflight.push(InFlight {
                end_offset_bytes: written + bytes.len() as u64,
                op_index,
            });
            self.clients[c].outstanding.push_back(op_index);
        }
        if let Some(x) = self.net.conns.get_mut(&conn) {
            x.requests.extend(inflight);
        }
        self.hash.write(&bytes);
        for at in self
            .net
            .write(&mut self.rng, self.now_ms, conn, true, &bytes)
        {
            self.schedule(
                at,
                Event::Deliver {
                    conn,
                    to_node: true,
                },
            );
        }
        self.clients[c].batch += 1;
        let batch = self.clients[c].batch;
        self.schedule(
            self.now_ms + self.scenario.timeout_ms,
            Event::ClientTimeout { client: c, batch },
        );
    }

    /// The client gives up on its outstanding requests: unknown outcomes, and the
    /// connection is closed (FIN behind the requests, which may still run).
    pub(crate) fn client_timeout(&mut self, c: usize, batch: u64) {
        if self.clients[c].batch != batch || self.clients[c].outstanding.is_empty() {
            return;
        }
        self.reached.insert(reach::CLIENT_TIMEOUT);
        log!(self, "client {c} times out");
        match self.clients[c].conn {
            Some(conn) => self.client_close(c, conn),
            None => self.client_lost_conn(c),
        }
    }

    /// The client closes its side of `conn` (a FIN travels to the node) and forgets it.
    pub(crate) fn client_close(&mut self, c: usize, conn: ConnId) {
        if let Some(x) = self.net.conns.get_mut(&conn) {
            x.client_open = false;
        }
        if let Some(at) = self.net.fin(&mut self.rng, self.now_ms, conn, true) {
            self.schedule(
                at,
                Event::Deliver {
                    conn,
                    to_node: true,
                },
            );
        }
        self.client_lost_conn(c);
    }

    /// Outstanding requests become unknown; reconnect after a backoff.
    pub(crate) fn client_lost_conn(&mut self, c: usize) {
        let client = &mut self.clients[c];
        client.conn = None;
        client.framer = Framer::default();
        let dropped = client.abandon_transaction();
        if dropped > 0 {
            log!(
                self,
                "client {c} drops the {dropped} unsent requests of its transaction"
            );
        }
        let client = &mut self.clients[c];
        for i in std::mem::take(&mut client.outstanding) {
            if let Some(op) = self.history.get_mut(i) {
                op.outcome = OpOutcome::Unknown;
            }
        }
        let at = self.now_ms
            + self
                .rng
                .gen_range(1..=self.scenario.reconnect_backoff_ms.max(1));
        self.schedule(at, Event::ClientWake { client: c });
    }

    pub(crate) fn deliver_to_client(&mut self, conn: ConnId) {
        if self.blocked(false) {
            return;
        }
        let Some(x) = self.net.conns.get_mut(&conn) else {
            return;
        };
        let segs = x.to_client.take_ready(self.now_ms);
        let (c, open, node_knows) = (x.client, x.client_open, x.node_knows);
        for seg in segs {
            if let (Segment::Bytes(bytes), true) = (&seg, node_knows) {
                // The bytes left the node's side: its output-limit accounting hears it.
                let now = self.peek_node_now();
                if let Some(node) = self.node.as_mut() {
                    node.handle(
                        now,
                        Input::Written {
                            conn,
                            bytes: bytes.len(),
                        },
                    );
                }
                self.check_unsent_output(conn, bytes.len());
            }
            if !open || self.clients[c].conn != Some(conn) {
                continue;
            }
            match seg {
                Segment::Bytes(bytes) => self.client_reads(c, &bytes),
                Segment::Fin => {
                    log!(self, "client {c} sees conn {conn} closed");
                    // The client closes its side too, so the connection is forgotten.
                    self.client_close(c, conn);
                    return;
                }
                Segment::Open => self.fail(format!("conn {conn}: Open on the node -> client side")),
            }
        }
    }

    /// Resource check: what the node counts as this connection's unsent output (which
    /// its output limits and `used_memory` rest on) equals what the world knows is
    /// still in flight — sent by the node, not yet delivered.
    pub(crate) fn check_unsent_output(&mut self, conn: ConnId, delivered_now: usize) {
        let Some(x) = self.net.conns.get_mut(&conn) else {
            return;
        };
        x.replies_delivered_bytes += delivered_now as u64;
        let in_flight = x
            .replies_sent_bytes
            .saturating_sub(x.replies_delivered_bytes);
        let counted = self
            .node
            .as_ref()
            .and_then(|n| n.client_unwritten_bytes(conn));
        if let Some(counted) = counted {
            if counted as u64 != in_flight {
                self.fail(format!(
                    "conn {conn}: the node counts {counted} bytes of unsent output, {in_flight} are in flight"
                ));
            }
        }
    }

    pub(crate) fn client_reads(&mut self, c: usize, bytes: &[u8]) {
        self.clients[c].framer.push(bytes);
        loop {
            let reply = match self.clients[c].framer.next_reply() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    return self.fail(format!("client {c} cannot frame the reply stream: {e}"))
                }
            };
            let Some(i) = self.clients[c].outstanding.pop_front() else {
                return self.fail(format!(
                    "client {c} got a reply with nothing outstanding: {:?}",
                    String::from_utf8_lossy(&reply)
                ));
            };
            let step = self.next_step();
            let Some(op) = self.history.get_mut(i) else {
                return self.fail(format!("history lost op #{i}"));
            };
            op.complete_ms = Some(self.now_ms);
            op.complete_step = Some(step);
            op.outcome = if reply.first() == Some(&b'-') {
                OpOutcome::Fail
            } else {
                OpOutcome::Ok
            };
            let mismatch = op.node_reply.as_deref() != Some(&reply[..]);
            op.reply = reply;
            if mismatch {
                let msg = format!(
                    "client {c} op #{i} framed {:?} but the node sent {:?}",
                    String::from_utf8_lossy(&op.reply),
                    op.node_reply.as_deref().map(String::from_utf8_lossy)
                );
                return self.fail(msg);
            }
        }
        if self.clients[c].outstanding.is_empty() {
            let at = self.now_ms + self.rng.gen_range(0..=self.scenario.think_max_ms);
            self.schedule(at, Event::ClientWake { client: c });
        }
    }

    pub(crate) fn deliver_to_node(&mut self, conn: ConnId) {
        if self.blocked(true) || self.paused {
            return;
        }
        let Some(x) = self.net.conns.get_mut(&conn) else {
            return;
        };
        let segs = x.to_node.take_ready(self.now_ms);
        for seg in segs {
            match seg {
                Segment::Open => {
                    let now = self.node_now();
                    let Some(node) = self.node.as_mut() else {
                        // Connection refused: the client sees a reset.
                        log!(self, "conn {conn} refused (node down)");
                        self.reset_conn(conn);
                        return;
                    };
                    node.handle(
                        now,
                        Input::Accepted {
                            conn,
                            listener: keel_core::Listener::Client,
                            peer: format!("10.0.0.{conn}:5000"),
                            local: "10.0.0.100:6379".into(),
                            peer_is_loopback: true,
                        },
                    );
                    if let Some(x) = self.net.conns.get_mut(&conn) {
                        x.node_knows = true;
                    }
                    self.drain_effects(None);
                }
                Segment::Bytes(bytes) => self.node_reads(conn, &bytes),
                Segment::Fin => {
                    let knows = self.net.conns.get(&conn).is_some_and(|x| x.node_knows);
                    let now = self.node_now();
                    if let (true, Some(node)) = (knows, self.node.as_mut()) {
                        node.handle(
                            now,
                            Input::Closed {
                                conn,
                                reason: keel_core::CloseReason::Dropped,
                            },
                        );
                        self.model.conn_closed(conn);
                        self.drain_effects(None);
                    }
                    self.net.conns.remove(&conn);
                    return;
                }
            }
        }
    }

    /// Both sides see the connection gone; queued bytes are dropped.
    pub(crate) fn reset_conn(&mut self, conn: ConnId) {
        let Some(x) = self.net.conns.remove(&conn) else {
            return;
        };
        let now = self.node_now();
        if x.node_knows {
            if let Some(node) = self.node.as_mut() {
                node.handle(
                    now,
                    Input::Closed {
                        conn,
                        reason: keel_core::CloseReason::Dropped,
                    },
                );
                self.model.conn_closed(conn);
                self.drain_effects(None);
            }
        }
        if x.client_open && self.clients[x.client].conn == Some(conn) {
            self.client_lost_conn(x.client);
        }
    }

    /// Hands delivered bytes to the node and judges the replies of every request
    /// they completed, in the order the node ran them.
    pub(crate) fn node_reads(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(x) = self.net.conns.get_mut(&conn) else {
            return;
        };
        if !x.node_knows {
            return;
        }
        x.delivered_bytes += bytes.len() as u64;
        let mut batch = Vec::new();
        while x
            .requests
            .front()
            .is_some_and(|r| r.end_offset_bytes <= x.delivered_bytes)
        {
            if let Some(r) = x.requests.pop_front() {
                batch.push(r.op_index);
            }
        }
        let now = self.node_now();
        let Some(node) = self.node.as_mut() else {
            return;
        };
        let used_before = node.used_memory_bytes();
        let limit = node.config.maxmemory_bytes();
        node.handle(now, Input::Data { conn, bytes });
        let used_after = node.used_memory_bytes();
        let out = self.drain_effects(Some(conn));
        if batch.len() >= 2 {
            self.reached.insert(reach::PIPELINED_BATCH);
        }
        let memory = BatchMemory {
            limit,
            used_before,
            used_after,
            delivered_bytes: bytes.len(),
        };
        self.judge_batch(conn, &batch, &out, now.wall_ms, memory);
        self.sync_expiry();
    }

    pub(crate) fn judge_batch(
        &mut self,
        conn: ConnId,
        batch: &[usize],
        out: &[u8],
        wall_ms: u64,
        memory: BatchMemory,
    ) {
        let BatchMemory {
            limit,
            used_before,
            used_after,
            delivered_bytes,
        } = memory;
        let mut framer = Framer::default();
        framer.push(out);
        let mut replies = Vec::new();
        loop {
            match framer.next_reply() {
                Ok(Some(r)) => replies.push(r),
                Ok(None) => break,
                Err(e) => return self.fail(format!("node sent bytes that are not RESP2: {e}")),
            }
        }
        if replies.len() != batch.len() || !framer.is_empty() {
            return self.fail(format!(
                "node answered {} requests with {} replies: {:?}",
                batch.len(),
                replies.len(),
                String::from_utf8_lossy(out)
            ));
        }
        let over = |used: usize| limit > 0 && used as u64 > limit;
        let mut write_accepted_before = false;
        for (pos, (&i, reply)) in batch.iter().zip(replies).enumerate() {
            let Some(request) = self.history.get(i).map(|op| op.request.clone()) else {
                return self.fail(format!("history lost op #{i}"));
            };
            self.runs += 1;
            let run_seq = self.runs;
            if let Some(op) = self.history.get_mut(i) {
                op.node_reply = Some(reply.clone());
                op.run_seq = Some(run_seq);
            }
            log!(
                self,
                "node runs #{i} {} -> {:?}",
                show(&request),
                String::from_utf8_lossy(&reply)
            );
            let denyoom = is_denyoom(&request);
            if reply == OOM_REPLY {
                self.reached.insert(reach::OOM_REPLY);
                // While the batch runs the node also counts the bytes just delivered
                // (the client's query buffer) as used.
                let plausible = over(used_before.saturating_add(delivered_bytes))
                    || over(used_after)
                    || write_accepted_before;
                if !denyoom || !plausible {
                    return self.fail(format!(
                        "#{i} {} refused with -OOM, but limit {limit} and used {used_before} -> {used_after} bytes",
                        show(&request)
                    ));
                }
                if let Some(s) = self.squeeze.as_mut() {
                    s.used_at_first_refusal.get_or_insert(used_after);
                }
                continue;
            }
            if pos == 0
                && denyoom
                && limit > 0
                && used_before > (limit as usize).saturating_add(CLIENT_SLACK_BYTES)
            {
                return self.fail(format!(
                    "#{i} {} accepted while used memory {used_before} > maxmemory {limit}",
                    show(&request)
                ));
            }
            if denyoom && reply.first() != Some(&b'-') {
                write_accepted_before = true;
            }
            let read = request.first().is_some_and(|n| {
                n.eq_ignore_ascii_case(b"GET") || n.eq_ignore_ascii_case(b"EXISTS")
            });
            if read && over(used_before) && over(used_after) {
                self.reached.insert(reach::READ_WHILE_OVER);
            }
            if !self.checks.model {
                continue;
            }
            if request
                .first()
                .is_some_and(|n| n.eq_ignore_ascii_case(b"SPOP"))
            {
                self.model.observe(&reply);
            }
            let expected = self.model.apply_on(wall_ms, conn, &request);
            if expected.as_deref() != Some(&reply[..]) {
                return self.fail_by(
                    Checker::Model,
                    format!(
                        "#{i} {} -> keel replied {:?}, model expected {:?}",
                        show(&request),
                        String::from_utf8_lossy(&reply),
                        expected.map(|e| String::from_utf8_lossy(&e).into_owned()),
                    ),
                );
            }
        }
        if let Some(Squeeze {
            limit_bytes,
            used_at_first_refusal: Some(first),
        }) = self.squeeze
        {
            let bound = (limit_bytes as usize).max(first) + MEMORY_SLACK_BYTES;
            if used_after > bound {
                self.fail(format!(
                    "used memory {used_after} exceeds the squeeze bound {bound} (limit {limit_bytes}, {first} at first refusal, slack {MEMORY_SLACK_BYTES})"
                ));
            }
        }
    }
}

/// How to run a plan.
#[derive(Clone, Copy)]
pub struct RunOptions<'a> {
    /// Keep a readable event log.
    pub trace: bool,
    pub checks: Checks,
    /// Applied to the node at start and after every restart (e.g. plant a mutant).
    pub setup: &'a dyn Fn(&mut Node),
}

impl Default for RunOptions<'_> {
    fn default() -> Self {
        RunOptions {
            trace: false,
            checks: Checks::default(),
            setup: &|_| {},
        }
    }
}

/// Runs one seed of the plain-load scenario.
pub fn run_seed(seed: u64) -> Outcome {
    run("plain-load", seed)
}

/// Runs one seed of a scenario (unknown names run plain-load).
pub fn run(scenario: &str, seed: u64) -> Outcome {
    run_with(scenario, seed, false, &|_| {})
}

/// Like `run_seed`, letting the caller adjust the node (e.g. plant a mutant).
pub fn run_seed_with(seed: u64, setup: impl Fn(&mut Node)) -> Outcome {
    run_with("plain-load", seed, false, &setup)
}

/// Runs one seed; `setup` is applied to the node at start and after every restart;
/// `trace` keeps a readable event log.
pub fn run_with(scenario: &str, seed: u64, trace: bool, setup: &dyn Fn(&mut Node)) -> Outcome {
    run_plan(
        &Plan::generate(scenario, seed),
        RunOptions {
            trace,
            checks: Checks::default(),
            setup,
        },
    )
}

/// Executes a plan.
pub fn run_plan(plan: &Plan, options: RunOptions<'_>) -> Outcome {
    let scenario = plan.scenario.clone();
    let mut clients: Vec<Client> = (0..scenario.clients).map(|_| Client::default()).collect();
    for op in &plan.ops {
        if let Some(c) = clients.get_mut(op.client) {
            c.queue
                .push_back(op.args.iter().map(|a| a.as_bytes().to_vec()).collect());
        }
    }
    let start_wall_ms = plan.start_wall_ms;
    let (mono_rate, skew_ms) = (
        scenario.clock.mono_rate_permille,
        scenario.clock.wall_skew_ms,
    );
    let mut world = World {
        rng: ChaCha8Rng::seed_from_u64(plan.runtime_seed),
        net: Network::new(scenario.link.clone()),
        scenario,
        now_ms: 0,
        start_wall_ms,
        wall_offset_ms: skew_ms,
        clock: WallClock {
            start_wall_ms,
            offsets: vec![(0, skew_ms)],
        },
        crashes_active: 0,
        one_way_active: [0, 0],
        mono_rate_permille: mono_rate.max(1),
        mono_base_ms: 0,
        mono_base_at_ms: 0,
        drift_rates: Vec::new(),
        last_mono_ms: 0,
        max_wall_ms: 0,
        checks: options.checks,
        step: 0,
        epoch: 0,
        runs: 0,
        node: None,
        shadow: None,
        pauses_active: 0,
        partitions_active: 0,
        slow_factors: Vec::new(),
        paused: false,
        generation: 0,
        setup: options.setup,
        model: Model::new(start_wall_ms),
        clients,
        queue: BinaryHeap::new(),
        seq: 0,
        hash: TraceHash::new(),
        history: Vec::new(),
        failure: None,
        failed_checker: None,
        reached: BTreeSet::new(),
        squeeze: None,
        next_conn: 1,
        trace: options.trace.then(Vec::new),
    };
    let node = world.new_node();
    world.node = Some(node);
    world.run();
    let linearizability = options
        .checks
        .linearizability
        .then(|| check_linearizability(&world.history, &world.clock, world.now_ms));
    if let Some(v) = linearizability.as_ref().and_then(|r| r.violation.clone()) {
        world.fail_by(Checker::Linearizability, v);
    }
    let (elle, elle_failure) = check_transactions(&world.history);
    if let Some(report) = &elle {
        if report.unknown > 0 {
            world.reached.insert(reach::TXN_UNKNOWN);
        }
        if report.report.committed > 0 {
            world.reached.insert(reach::ELLE_RAN);
        }
    }
    if let Some(why) = elle_failure {
        world.fail_by(Checker::Elle, why);
    }
    let seen = std::mem::take(&mut world.model.seen);
    world.reached.extend(seen);
    Outcome {
        seed: plan.seed,
        trace_hash: world.hash.0,
        history: world.history,
        failure: world.failure,
        failed_checker: world.failed_checker,
        linearizability,
        elle,
        simulated_ms: world.now_ms,
        reached: world.reached,
        trace: world.trace.unwrap_or_default(),
        scenario: world.scenario,
    }
}

/// The first (scenario, seed) whose run fails with mutant `m` planted, trying seeds in
/// order and every scenario per seed.
#[cfg(feature = "mutants")]
pub fn first_catch(m: keel_core::mutants::Mutant, seeds: u64) -> Option<(&'static str, u64)> {
    (0..seeds).find_map(|seed| {
        SCENARIOS.iter().find_map(|name| {
            run_with(name, seed, false, &|n: &mut Node| n.set_mutant(Some(m)))
                .failure
                .is_some()
                .then_some((*name, seed))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elle;
    use crate::faults::*;
    use crate::workload;

    /// Fresh seeds per scenario in the quick sweep (`cargo test`).
    const QUICK_SWEEP_SEEDS: u64 = 100;

    fn assert_passed(out: &Outcome) {
        assert!(
            out.failure.is_none(),
            "{}\n{}",
            out.failure.clone().unwrap_or_default(),
            out.replay_line()
        );
    }

    #[test]
    fn same_seed_twice_same_trace() {
        for name in SCENARIOS {
            // The trace hash covers the run, not the checkers that read it afterwards.
            let run = |name: &str, seed| {
                let options = RunOptions {
                    checks: Checks {
                        model: true,
                        linearizability: false,
                        shadow: true,
                    },
                    ..RunOptions::default()
                };
                run_plan(&Plan::generate(name, seed), options)
            };
            for seed in 0..QUICK_SWEEP_SEEDS / 2 {
                let a = run(name, seed);
                let b = run(name, seed);
                assert_eq!(
                    a.trace_hash,
                    b.trace_hash,
                    "seed {seed:#x} is not deterministic: {}",
                    a.replay_line()
                );
                assert_eq!(a.history.len(), b.history.len());
            }
            assert_ne!(run(name, 1).trace_hash, run(name, 2).trace_hash);
        }
    }

    #[test]
    fn quick_sweep_every_scenario() {
        for name in SCENARIOS {
            let mut reached = BTreeSet::new();
            for seed in 0..QUICK_SWEEP_SEEDS {
                let out = run(name, seed);
                assert_passed(&out);
                assert!(!out.history.is_empty());
                reached.extend(out.reached.iter().copied());
            }
            let missing = missing_coverage(name, &reached);
            assert!(
                missing.is_empty(),
                "scenario {name} never reached {missing:?} in {QUICK_SWEEP_SEEDS} seeds"
            );
        }
    }

    #[test]
    fn plan_files_round_trip_and_are_validated() {
        let plan = Plan::generate("slow-link-timeouts", 5);
        let json = plan.to_json();
        assert_eq!(Plan::from_json(&json), Ok(plan.clone()));
        let mut bad = plan.clone();
        bad.scenario.clients = 0;
        assert!(Plan::from_json(&bad.to_json()).is_err());
        let mut bad = plan.clone();
        bad.scenario.name = "nope".into();
        assert!(Plan::from_json(&bad.to_json()).is_err());
        let mut bad = plan;
        bad.scenario.faults.push(PlannedFault {
            at_ms: 1,
            duration_ms: 1,
            fault: Fault::SlowLink { factor: u64::MAX },
        });
        assert!(Plan::from_json(&bad.to_json()).is_err());
        assert!(Plan::from_json("{").is_err());
        // Zero-valued knobs do not panic a run.
        let mut odd = Plan::generate("plain-load", 1);
        odd.scenario.reconnect_backoff_ms = 0;
        odd.scenario.pipeline_max = 0;
        odd.scenario.link.max_chunks = 0;
        odd.ops.truncate(20);
        assert_passed(&run_plan(&odd, RunOptions::default()));
    }

    /// Crashes planned while the node is already down, and a pause that spans a
    /// crash: one down period, one restart when the last crash ends, one new epoch,
    /// and both checkers still pass.
    #[test]
    fn overlapping_crashes_and_a_pause_during_a_crash() {
        let mut plan = Plan::generate("crash-restart", 7);
        let fault = |at_ms, duration_ms, fault| PlannedFault {
            at_ms,
            duration_ms,
            fault,
        };
        plan.scenario.faults = vec![
            fault(100, 300, Fault::Crash),
            fault(150, 500, Fault::Pause),
            fault(200, 50, Fault::Crash),
            fault(350, 200, Fault::Crash),
        ];
        let out = run_plan(
            &plan,
            RunOptions {
                trace: true,
                ..RunOptions::default()
            },
        );
        assert_passed(&out);
        let count = |what: &str| out.trace.iter().filter(|l| l.contains(what)).count();
        assert_eq!(count("node crashes"), 1, "{:#?}", out.trace);
        assert_eq!(count("node restarts"), 1);
        let restart = out
            .trace
            .iter()
            .find(|l| l.contains("node restarts"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|t| t.parse::<u64>().ok());
        assert_eq!(restart, Some(550), "restarts when the last crash ends");
        assert!(out.reached.contains(reach::CRASH_RESTART));
        assert!(out.reached.contains(reach::PAUSE_RESUMED));
        assert_eq!(out.history.iter().map(|o| o.epoch).max(), Some(1));
        // Nothing ran while the node was down or paused.
        for op in out.history.iter().filter(|o| o.outcome == OpOutcome::Ok) {
            let done = op.complete_ms.unwrap_or(0);
            assert!(
                !(101..550).contains(&done) || op.invoke_ms < 100,
                "{op:?} completed while the node was down"
            );
        }
        let lin = out.linearizability.expect("enabled");
        assert!(lin.violation.is_none() && lin.histories > 0);
    }

    /// One-way partitions heal, and clock drift moves the node's monotonic clock at
    /// another rate (the world fails a run whose node clock goes backwards).
    #[test]
    fn one_way_partitions_and_clock_drift() {
        let mut plan = Plan::generate("slow-link-timeouts", 3);
        plan.scenario.faults = vec![
            PlannedFault {
                at_ms: 50,
                duration_ms: 400,
                fault: Fault::OneWayPartition { to_node: false },
            },
            PlannedFault {
                at_ms: 600,
                duration_ms: 400,
                fault: Fault::OneWayPartition { to_node: true },
            },
            PlannedFault {
                at_ms: 10,
                duration_ms: 900,
                fault: Fault::ClockDrift {
                    rate_permille: 2500,
                },
            },
        ];
        plan.scenario.clock = NodeClock {
            mono_rate_permille: 950,
            wall_skew_ms: -4_000,
        };
        let out = run_plan(&plan, RunOptions::default());
        assert_passed(&out);
        for event in [
            reach::ONE_WAY_HEALED,
            reach::CLOCK_DRIFTED,
            reach::CLIENT_TIMEOUT,
        ] {
            assert!(out.reached.contains(event), "{event} not reached");
        }
    }

    /// Runs a script of `(conn, advance_ms, command)` against a node and the model,
    /// returning (node reply, model reply) per line. No ticks run, so expired keys stay
    /// in the node's table until something looks at them.
    fn node_and_model(script: &[(u64, u64, &str)]) -> Vec<(String, String)> {
        let mut wall_ms = 1_700_000_000_000;
        let mut mono_ms = 1_000;
        let seeds = NodeSeeds {
            rng_seed: 1,
            hash_seeds: [1, 2, 3, 4],
        };
        let mut node = Node::new(Config::default(), seeds, Now { mono_ms, wall_ms });
        let mut model = Model::new(wall_ms);
        let mut known = BTreeSet::new();
        let mut out = Vec::new();
        for &(conn, advance_ms, line) in script {
            wall_ms += advance_ms;
            mono_ms += advance_ms;
            let now = Now { mono_ms, wall_ms };
            if known.insert(conn) {
                node.handle(
                    now,
                    Input::Accepted {
                        conn,
                        listener: keel_core::Listener::Client,
                        peer: format!("10.0.0.{conn}:5000"),
                        local: "10.0.0.100:6379".into(),
                        peer_is_loopback: true,
                    },
                );
            }
            let req: Vec<Vec<u8>> = line.split(' ').map(|a| a.as_bytes().to_vec()).collect();
            node.handle(
                now,
                Input::Data {
                    conn,
                    bytes: &encode(&req),
                },
            );
            let mut got = Vec::new();
            while let Some(e) = node.poll_effect() {
                if let Effect::Send { bytes, .. } = e {
                    got.extend_from_slice(&bytes);
                }
            }
            let want = model.apply_on(wall_ms, conn, &req).unwrap_or_default();
            out.push((
                String::from_utf8_lossy(&got).into_owned(),
                String::from_utf8_lossy(&want).into_owned(),
            ));
        }
        out
    }

    /// The model's MULTI/EXEC/WATCH rules agree with the node on the cases Redis 7.0
    /// distinguishes (each checked against redis-server 7.0.15 by hand):
    /// a watched key that expires by EXEC aborts it; a key already expired at WATCH
    /// time does not, unless something writes it.
    #[test]
    fn model_and_node_agree_on_watch_rules() {
        let scripts: &[&[(u64, u64, &str)]] = &[
            // Alive at WATCH, expired by EXEC: nil.
            &[
                (1, 0, "SET w v PX 20"),
                (1, 0, "WATCH w"),
                (1, 30, "MULTI"),
                (1, 0, "RPUSH t 1"),
                (1, 0, "EXEC"),
            ],
            // Expired at WATCH, lazily deleted by another client: runs.
            &[
                (1, 0, "SET w v PX 20"),
                (1, 30, "WATCH w"),
                (2, 0, "EXISTS w"),
                (1, 0, "MULTI"),
                (1, 0, "EXEC"),
            ],
            // Expired at WATCH, deleted, then written: nil.
            &[
                (1, 0, "SET w v PX 20"),
                (1, 30, "WATCH w"),
                (2, 0, "EXISTS w"),
                (2, 0, "SET w x"),
                (1, 0, "MULTI"),
                (1, 0, "EXEC"),
            ],
            // Expired at WATCH (still in the table), overwritten by another client's
            // SET: nil.
            &[
                (1, 0, "SET w v PX 20"),
                (1, 30, "WATCH w"),
                (2, 0, "SET w x"),
                (1, 0, "MULTI"),
                (1, 0, "EXEC"),
            ],
            // Another client's write to a watched list: nil; DISCARD forgets.
            &[
                (1, 0, "WATCH t"),
                (2, 0, "RPUSH t 1"),
                (1, 0, "MULTI"),
                (1, 0, "LRANGE t 0 -1"),
                (1, 0, "EXEC"),
                (1, 0, "WATCH t"),
                (1, 0, "MULTI"),
                (1, 0, "DISCARD"),
                (2, 0, "RPUSH t 2"),
                (1, 0, "MULTI"),
                (1, 0, "LRANGE t 0 -1"),
                (1, 0, "EXEC"),
                (1, 0, "EXEC"),
            ],
        ];
        // The last reply of each script, as redis-server 7.0.15 gives it.
        let last = [
            "*-1\r\n",
            "*0\r\n",
            "*-1\r\n",
            "*-1\r\n",
            "-ERR EXEC without MULTI\r\n",
        ];
        assert_eq!(scripts.len(), last.len());
        for (script, last) in scripts.iter().zip(last) {
            let replies = node_and_model(script);
            for (i, (node, model)) in replies.iter().enumerate() {
                assert_eq!(node, model, "line {i} of {script:?}");
            }
            assert_eq!(
                replies.last().map(|r| r.0.as_str()),
                Some(last),
                "{script:?}"
            );
        }
        let replies = node_and_model(scripts[4]);
        assert_eq!(replies[4].0, "*-1\r\n", "a write to a watched list aborts");
        assert_eq!(replies[11].0, "*1\r\n*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
    }

    #[test]
    fn transactions_are_built_from_the_client_history() {
        use elle::{MicroOp, TxnOutcome};
        let mut history = Vec::new();
        let mut op = |client: usize, conn: ConnId, line: &str, reply: Option<&str>| {
            let t = history.len() as u64;
            history.push(Op {
                client,
                conn,
                invoke_ms: t,
                complete_ms: reply.map(|_| t + 1),
                invoke_step: t,
                complete_step: None,
                epoch: 0,
                request: line.split(' ').map(|a| a.as_bytes().to_vec()).collect(),
                reply: reply.unwrap_or("").as_bytes().to_vec(),
                node_reply: None,
                run_seq: None,
                outcome: match reply {
                    None => OpOutcome::Unknown,
                    Some(r) if r.starts_with('-') => OpOutcome::Fail,
                    Some(_) => OpOutcome::Ok,
                },
            });
        };
        let q = Some("+QUEUED\r\n");
        // Committed, with its read taken from EXEC's reply.
        op(0, 1, "MULTI", Some("+OK\r\n"));
        op(0, 1, "RPUSH t0 1", q);
        op(0, 1, "LRANGE t0 0 -1", q);
        op(0, 1, "GET k0", q);
        op(0, 1, "EXEC", Some("*3\r\n:1\r\n*1\r\n$1\r\n1\r\n$-1\r\n"));
        // Aborted by WATCH.
        op(1, 2, "WATCH t1", Some("+OK\r\n"));
        op(1, 2, "MULTI", Some("+OK\r\n"));
        op(1, 2, "RPUSH t1 2", q);
        op(1, 2, "EXEC", Some("*-1\r\n"));
        // The connection was lost before EXEC was sent: aborted.
        op(2, 3, "MULTI", Some("+OK\r\n"));
        op(2, 3, "RPUSH t0 3", None);
        op(2, 4, "GET k1", Some("$-1\r\n"));
        // EXEC without a reply: unknown.
        op(3, 5, "MULTI", Some("+OK\r\n"));
        op(3, 5, "RPUSH t1 4", q);
        op(3, 5, "EXEC", None);
        // Outside MULTI: a transaction of its own.
        op(3, 6, "LRANGE t1 0 -1", Some("*1\r\n$1\r\n4\r\n"));
        let txns = transactions_of(&history);
        let outcomes: Vec<TxnOutcome> = txns.iter().map(|t| t.outcome).collect();
        assert_eq!(
            outcomes,
            [
                TxnOutcome::Committed,
                TxnOutcome::Aborted,
                TxnOutcome::Aborted,
                TxnOutcome::Unknown,
                TxnOutcome::Committed
            ]
        );
        assert_eq!(
            txns[0].ops,
            [
                MicroOp::Append {
                    key: b"t0".to_vec(),
                    value: 1
                },
                MicroOp::Read {
                    key: b"t0".to_vec(),
                    values: Some(vec![1])
                }
            ]
        );
        assert_eq!((txns[0].invoke_ms, txns[0].complete_ms), (0, Some(5)));
        assert_eq!(
            txns[4].ops,
            [MicroOp::Read {
                key: b"t1".to_vec(),
                values: Some(vec![4])
            }]
        );
        let report = elle::check(&txns);
        assert!(report.ok(), "{:?}", report.anomalies);
        assert_eq!(report.committed, 2);
    }

    #[test]
    fn transactions_scenario_runs_elle() {
        let out = run("transactions", 3);
        assert_passed(&out);
        let elle = out.elle.expect("the scenario sends transactions");
        assert!(elle.report.committed > 0 && elle.report.ok(), "{elle:?}");
        let plan = Plan::generate("transactions", 3);
        let json = plan.to_json();
        assert!(json.contains("\"MULTI\"") && json.contains("\"EXEC\""));
        assert_eq!(Plan::from_json(&json), Ok(plan));
    }

    /// The Elle wiring fails a run whose history shows an anomaly: a real run's
    /// history with one committed read doctored to hold a value nobody appended.
    #[test]
    fn elle_fails_a_doctored_history() {
        let out = run("transactions", 3);
        assert_passed(&out);
        let mut history = out.history;
        assert_eq!(check_transactions(&history).1, None);
        let exec = history.iter().position(|op| {
            request_name(&op.request) == "EXEC"
                && workload::split_array(&op.reply)
                    .is_some_and(|r| r.iter().any(|x| x.starts_with(b"*")))
        });
        let exec = exec.expect("a committed EXEC with a read");
        let replies = workload::split_array(&history[exec].reply).unwrap_or_default();
        let mut doctored = format!("*{}\r\n", replies.len()).into_bytes();
        let mut done = false;
        for r in replies {
            if !done && r.starts_with(b"*") {
                doctored.extend_from_slice(b"*1\r\n$6\r\n999999\r\n");
                done = true;
            } else {
                doctored.extend_from_slice(&r);
            }
        }
        history[exec].reply = doctored;
        let (report, failure) = check_transactions(&history);
        let failure = failure.expect("an anomaly");
        assert!(failure.contains("999999"), "{failure}");
        assert!(!report.expect("ran").report.ok());
    }

    #[test]
    fn every_scenario_has_a_definition_and_coverage() {
        for name in SCENARIOS {
            let def = scenario_def(name).expect("defined");
            assert!(
                !def.must_reach.is_empty(),
                "{name} declares nothing to reach"
            );
        }
    }

    #[test]
    fn regression_seeds_pass() {
        let files: [(&str, &str); 7] = [
            ("plain-load", include_str!("../../seeds/plain-load.txt")),
            (
                "expiry-clock-jumps",
                include_str!("../../seeds/expiry-clock-jumps.txt"),
            ),
            (
                "slow-link-timeouts",
                include_str!("../../seeds/slow-link-timeouts.txt"),
            ),
            ("pause-resume", include_str!("../../seeds/pause-resume.txt")),
            (
                "memory-squeeze",
                include_str!("../../seeds/memory-squeeze.txt"),
            ),
            (
                "crash-restart",
                include_str!("../../seeds/crash-restart.txt"),
            ),
            ("transactions", include_str!("../../seeds/transactions.txt")),
        ];
        assert_eq!(files.len(), SCENARIOS.len());
        for (name, text) in files {
            for line in text.lines() {
                let line = line.split('#').next().unwrap_or("").trim();
                if line.is_empty() {
                    continue;
                }
                let seed =
                    u64::from_str_radix(line.trim_start_matches("0x"), 16).expect("hex seed");
                assert_passed(&run(name, seed));
            }
        }
    }

    /// The linearizability checker has teeth of its own: with the model check off, it
    /// alone catches these planted bugs within a few seeds.
    #[cfg(feature = "mutants")]
    #[test]
    fn linearizability_alone_catches_mutants() {
        use keel_core::mutants::Mutant;
        const SEEDS: u64 = 20;
        for m in [
            Mutant::SetAckedNotApplied,
            Mutant::LazyExpireReturnsStale,
            Mutant::IncrLosesPipelinedUpdate,
            Mutant::TtlOffByOne,
        ] {
            let plant = |n: &mut Node| n.set_mutant(Some(m));
            let options = RunOptions {
                checks: Checks {
                    model: false,
                    linearizability: true,
                    shadow: false,
                },
                setup: &plant,
                trace: false,
            };
            let caught = (0..SEEDS).find_map(|seed| {
                SCENARIOS.iter().find_map(|name| {
                    let out = run_plan(&Plan::generate(name, seed), options);
                    assert_ne!(out.failed_checker, Some(Checker::Model));
                    (out.failed_checker == Some(Checker::Linearizability)).then_some(out)
                })
            });
            let out = caught.unwrap_or_else(|| {
                panic!(
                    "{} not caught by linearizability in {SEEDS} seeds",
                    m.name()
                )
            });
            let report = out.linearizability.clone().unwrap_or_default();
            assert!(report.violation.is_some(), "{report:?}");
            eprintln!("{}: {}", m.name(), out.failure.unwrap_or_default());
        }
    }

    /// Every planted bug the scenarios can reach is caught within a bounded number of
    /// seeds (in some scenario).
    #[cfg(feature = "mutants")]
    #[test]
    fn mutants_are_caught() {
        use keel_core::mutants::Mutant;
        const SEEDS_PER_MUTANT: u64 = 200;
        for m in Mutant::ALL {
            let caught = first_catch(m, SEEDS_PER_MUTANT);
            eprintln!("{} caught by {caught:?}", m.name());
            // The catching run replays to the same failure, bit for bit.
            if let Some((name, seed)) = caught {
                let plant = |n: &mut Node| n.set_mutant(Some(m));
                let (a, b) = (
                    run_with(name, seed, false, &plant),
                    run_with(name, seed, false, &plant),
                );
                assert_eq!(a.failure, b.failure);
                assert_eq!(a.trace_hash, b.trace_hash);
            }
            assert!(
                caught.is_some(),
                "mutant {} survived {SEEDS_PER_MUTANT} seeds of every scenario",
                m.name()
            );
        }
    }
}
