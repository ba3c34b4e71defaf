//! The world: many hosts, the clients, the network and one seeded event queue keyed by
//! (time, sequence) whose events name the host they concern; the run loop executes
//! each node's effects in order and judges every reply, on its connection in request
//! order, against the host's reference model. It never reads a real clock or does I/O.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap};

use keel_core::config::MaxmemoryPolicy;
use keel_core::{CloseReason, Effect, Input, Listener, Node, NodeSeeds, Now};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::checkers::*;
use crate::disk::DiskLatency;
use crate::elle;
use crate::host::{Host, HostClock};
use crate::model::Model;
use crate::model_blocking::{is_blocking, Clocks};
use crate::net::{ConnId, End, InFlight, Network, Segment};
use crate::scenario::*;
use crate::workload::{encode, is_denyoom, is_read_only, Client, Framer, Op, OpOutcome};

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
    /// Every enabled checker's verdict: None when it passed the run, else its first
    /// rejection. One checker's failure neither stops nor hides another's.
    pub verdicts: Vec<(Checker, Option<String>)>,
    /// The signature of the first failure, and of every checker's failure.
    pub signature: Option<Signature>,
    pub signatures: Vec<Signature>,
    /// The linearizability checker's verdict (None when it was not enabled).
    pub linearizability: Option<LinReport>,
    /// The Elle list-append checker's report over the run's transactions (None when
    /// the run sent none).
    pub elle: Option<ElleReport>,
    pub simulated_ms: u64,
    pub reached: BTreeSet<&'static str>,
    /// Commands the nodes ran and encodings their keys ended in (the coverage table).
    pub coverage: crate::coverage::Coverage,
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
    /// A host's timer; stale generations (before a crash or pause) are ignored.
    Tick {
        host: usize,
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
        to_acceptor: bool,
    },
    /// A host's disk may have completions ready.
    Disk {
        host: usize,
    },
    /// A host's connection to an address nobody has is refused (its boot `epoch`).
    Refused {
        host: usize,
        conn: ConnId,
        epoch: u32,
    },
    FaultStart {
        index: usize,
    },
    /// A node that exited (a persistence error) is started again from its disk.
    Restart {
        host: usize,
        epoch: u32,
    },
    FaultEnd {
        index: usize,
    },
}

/// The operator's connection to each node (BGSAVE, BGREWRITEAOF): outside the ids
/// clients (counting up from 1) and the node's outbound ones (from 2^62) use.
pub(crate) const OPERATOR_CONN: ConnId = 1 << 60;

/// The exact reply the node sends to a refused write.
const OOM_REPLY: &[u8] = b"-OOM command not allowed when used memory > 'maxmemory'.\r\n";
/// EXEC refused for memory (Redis's `rejectCommand` → `execCommandAbort`): the
/// transaction is discarded.
const EXEC_OOM_REPLY: &[u8] = b"-EXECABORT Transaction discarded because of: OOM command not allowed when used memory > 'maxmemory'.\r\n";

/// How far the batch's own client may sit in `used_memory` while its requests run
/// (the node takes the client out of its table while it executes a batch).
const CLIENT_SLACK_BYTES: usize = 16 * 1024;

/// The stated bound: after the first refused write of a squeeze, `used_memory` stays
/// within this of max(limit, usage at that refusal).
const MEMORY_SLACK_BYTES: usize = 16 * 1024;

/// The memory estimate's tolerance (see `check_memory_estimate`).
const MEMORY_ESTIMATE_FACTOR: usize = 4;
const MEMORY_ESTIMATE_PER_KEY_BYTES: usize = 128;
const MEMORY_ESTIMATE_SLACK_BYTES: usize = 4096;

/// The active-expiry bound: ticks a key may stay expired-but-present.
const STALE_TICKS: u64 = 10;

/// Liveness bound: a run that needs more events than this is reported as a hang.
const MAX_EVENTS: u64 = 2_000_000;

/// Bound on bytes waiting in the network at once (no unbounded queue).
const MAX_QUEUED_BYTES: usize = 4 * 1024 * 1024;

/// How long past its timeout (on both clocks) a blocked request may stay unanswered.
const BLOCKED_LATE_MS: u64 = 1_000;

/// Latency of a connection to an address no host has, until it is refused.
const REFUSED_AFTER_MS: u64 = 1;

/// A node's memory around the input whose effects are being run.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct BatchMemory {
    limit: u64,
    used_before: usize,
    used_after: usize,
    delivered_bytes: usize,
}

/// What judging a reply needs to know about the input that made the node send it.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Drain {
    wall_ms: u64,
    /// The node's monotonic time at the input.
    mono_ms: u64,
    /// The input was a disk completion: the replies it lets out were held for an
    /// fsync (`always`) and ran when their request was delivered, not now.
    from_disk: bool,
    memory: BatchMemory,
    /// Replies judged since the input.
    replies_judged: usize,
    write_accepted_before: bool,
    /// An earlier request of this input may have changed the dataset (anything but a
    /// read or a refused write): until one did, memory is what it was before the
    /// input, so every request up to there is checked against the limit.
    data_changed_before: bool,
    /// What the replies judged since the input may have added to the node's memory
    /// while the batch ran (`batch_growth_bytes`): a refusal later in the batch is
    /// judged against it too.
    grown_bytes: usize,
}

/// An upper bound on what request `req`, answered `reply`, may leave in the node's
/// memory until its batch ends: the reply in the output buffer (which may double its
/// capacity), and, when it was queued inside MULTI, its arguments (Redis keeps an
/// object and an sds per argument, keel a copy and a range each; either may round
/// up to twice the bytes). A later command of the same batch meets that memory in
/// its OOM check (chaos 0x19f: two LRANGEs queued ahead of their EXEC, in one
/// delivery, took it over a limit 137 bytes above the memory before the batch).
fn batch_growth_bytes(req: &[Vec<u8>], reply: &[u8]) -> usize {
    let queued = if reply == b"+QUEUED\r\n" {
        req.iter()
            .map(|a| a.len().saturating_mul(2).saturating_add(32))
            .sum::<usize>()
            .saturating_add(64)
    } else {
        0
    };
    reply.len().saturating_mul(2).saturating_add(queued)
}

pub(crate) struct Squeeze {
    pub(crate) limit_bytes: u64,
    pub(crate) used_at_first_refusal: Option<usize>,
}

/// What the checkers keep about one host: its reference model, its shadow node and
/// the memory squeeze in force. Not part of the host (a crash does not touch them
/// except as the checkers decide).
pub(crate) struct Oracle {
    pub(crate) model: Model,
    /// Keys seen expired-but-present at a tick: (db, key) -> the tick count when first
    /// seen so (the active-expiry bound).
    pub(crate) stale_since: std::collections::BTreeMap<(usize, Vec<u8>), u64>,
    /// Ticks the node has run (since its last boot).
    pub(crate) ticks: u64,
    pub(crate) shadow: Option<Shadow>,
    pub(crate) squeeze: Option<Squeeze>,
    /// The model cannot hold this host's recovered dataset: it judges no more.
    pub(crate) model_off: bool,
    /// The eviction checkers' state (reset when the node boots).
    pub(crate) evict: crate::eviction_checks::EvictOracle,
    /// The pub/sub checker's registry and books (`crate::pubsub`).
    pub(crate) pubsub: crate::pubsub::PubSubBook,
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
    pub(crate) checks: Checks,
    /// Total order of client events for the histories.
    pub(crate) step: u64,
    /// Requests the nodes have run.
    pub(crate) runs: u64,
    pub(crate) hosts: Vec<Host>,
    pub(crate) oracles: Vec<Oracle>,
    pub(crate) slow_factors: Vec<u64>,
    pub(crate) setup: &'a dyn Fn(&mut Node),
    pub(crate) net: Network,
    pub(crate) clients: Vec<Client>,
    pub(crate) queue: BinaryHeap<Reverse<(u64, u64, Event)>>,
    pub(crate) seq: u64,
    pub(crate) hash: TraceHash,
    pub(crate) history: Vec<Op>,
    pub(crate) failure: Option<String>,
    pub(crate) failed_checker: Option<Checker>,
    /// Each checker's first rejection: a checker that failed says nothing more, the
    /// others keep judging.
    pub(crate) verdicts: std::collections::BTreeMap<Checker, (String, Signature)>,
    /// The world itself cannot go on (a reply stream that does not frame, a hang).
    pub(crate) halted: bool,
    pub(crate) reached: BTreeSet<&'static str>,
    pub(crate) next_conn: ConnId,
    pub(crate) trace: Option<Vec<String>>,
    pub(crate) drain: Drain,
    /// Refusals that came due while their host was paused, per host.
    pub(crate) deferred_refusals: Vec<Vec<ConnId>>,
    /// The boot (epoch) whose node accepted the operator's connection, per host.
    pub(crate) operator_open: Vec<Option<u32>>,
    /// The durability checker's state per host.
    pub(crate) durable: Vec<crate::persistence::Durable>,
    /// The batch of requests being delivered (the history index of its last one).
    pub(crate) batch: Option<usize>,
    /// Blocking requests that got no reply while the node held earlier replies of
    /// their connection for an fsync: (host, conn, the clocks they ran at), judged
    /// by `note_blocked` once the held replies are out.
    pub(crate) blocked_later: Vec<(usize, ConnId, Clocks)>,
    /// Blocking requests that blocked: their reply comes from a later input, not the
    /// one that ran them (the memory limit judged them when they ran).
    pub(crate) blocked_ops: BTreeSet<usize>,
    /// String keys restarts recovered (the linearizability histories start from them).
    pub(crate) recovered_strings: Vec<Recovered>,
    /// Transaction lists restarts recovered (Elle's histories after a crash start
    /// from them).
    pub(crate) recovered_lists: crate::checkers::RecoveredLists,
    /// Per (host, epoch), the run count when its restart finished loading: a WATCH
    /// run before it may have been dirtied by the AOF replay (the WATCH rule's cue).
    pub(crate) loaded_at_run: std::collections::BTreeMap<(usize, u32), u64>,
    /// Per pair of hosts (lower first), the position at which the replication
    /// checker last compared them.
    pub(crate) repl_compared: std::collections::BTreeMap<(usize, usize), (String, u64)>,
    /// DELs propagated per (host, was it a replica, db, key) in the replication
    /// scenarios.
    pub(crate) repl_dels: std::collections::BTreeMap<(usize, bool, usize, Vec<u8>), u64>,
    /// When the clients were first all done (the settle period counts from it).
    pub(crate) quiet_since_ms: Option<u64>,
    /// The replication checker's books for WAIT (invariant 16).
    pub(crate) repl_books: crate::replication::ReplBooks,
    /// The rollback checker's books (invariant 17).
    pub(crate) rollback: crate::replication::RollbackBooks,
    /// The blocking checker's books (`crate::blocking_order`).
    pub(crate) block_books: crate::blocking_order::BlockBooks,
    /// The PSYNC checker's books (invariant 14).
    pub(crate) psync: crate::replication::PsyncBooks,
    /// The min-replicas check's books (invariant 16, second half).
    pub(crate) min_repl: crate::replication::MinReplBooks,
}

/// Whether Redis 7.0's `processCommand` may refuse `request` for memory with this
/// reply (`exec_oom`: the EXECABORT form): inside MULTI every command but EXEC,
/// DISCARD, QUIT and RESET (queuing takes memory); EXEC when one of its queued
/// commands is denyoom. `queued` is None when the model stopped judging and no
/// longer knows the queue (chaos 0x156: RPUSH queued, then a connection closed
/// before its reply was judged turned the model off, and the EXEC was refused).
fn oom_refusable(
    request: &[Vec<u8>],
    exec_oom: bool,
    in_multi: bool,
    queued: Option<&[Vec<Vec<u8>>]>,
) -> bool {
    let name = request.first().map(|n| n.to_ascii_uppercase());
    match name.as_deref() {
        Some(b"EXEC") => exec_oom && queued.is_none_or(|q| q.iter().any(|c| is_denyoom(c))),
        Some(b"DISCARD" | b"QUIT" | b"RESET") => false,
        _ => !exec_oom && (is_denyoom(request) || in_multi),
    }
}

pub(crate) fn show(req: &[Vec<u8>]) -> String {
    req.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

impl Drain {
    /// (maxmemory, used_memory after the input).
    pub(crate) fn memory_now(&self) -> (u64, usize) {
        (self.memory.limit, self.memory.used_after)
    }

    /// The node's wall time at the input.
    pub(crate) fn wall_ms(&self) -> u64 {
        self.wall_ms
    }

    /// The node's monotonic time at the input.
    pub(crate) fn mono_ms(&self) -> u64 {
        self.mono_ms
    }
}

impl<'a> World<'a> {
    /// A world for `plan`, its hosts booted, nothing scheduled yet.
    pub(crate) fn new(plan: &Plan, options: RunOptions<'a>) -> World<'a> {
        let scenario = plan.scenario.clone();
        let host_count = scenario.hosts.max(1);
        let client_hosts = scenario
            .client_hosts
            .unwrap_or(host_count)
            .clamp(1, host_count);
        let mut clients: Vec<Client> = (0..scenario.clients)
            .map(|c| Client {
                host: c % client_hosts,
                ..Client::default()
            })
            .collect();
        for op in &plan.ops {
            if let Some(c) = clients.get_mut(op.client) {
                c.queue.push_back(
                    op.args
                        .iter()
                        .map(|a| crate::model_misc::arg_bytes(a))
                        .collect(),
                );
            }
        }
        let mut rng = ChaCha8Rng::seed_from_u64(plan.runtime_seed);
        let clock = &scenario.clock;
        let hosts: Vec<Host> = (0..host_count)
            .map(|id| {
                let seeds = NodeSeeds {
                    rng_seed: rng.gen(),
                    hash_seeds: [rng.gen(), rng.gen(), rng.gen(), rng.gen()],
                };
                let clock = HostClock::new(
                    plan.start_wall_ms,
                    clock.wall_skew_ms,
                    clock.mono_rate_permille,
                );
                Host::new(id, seeds, clock, DISK_LATENCY)
            })
            .collect();
        let mut world = World {
            rng,
            net: Network::new(scenario.link.clone()),
            oracles: (0..host_count)
                .map(|_| Oracle {
                    model: Model::new(plan.start_wall_ms),
                    stale_since: Default::default(),
                    ticks: 0,
                    shadow: None,
                    squeeze: None,
                    model_off: false,
                    evict: Default::default(),
                    pubsub: {
                        let mut book = crate::pubsub::PubSubBook::default();
                        if let Some(flags) = &scenario.notify_keyspace_events {
                            book.set_notify(flags);
                        }
                        book
                    },
                })
                .collect(),
            deferred_refusals: vec![Vec::new(); host_count],
            operator_open: vec![None; host_count],
            durable: (0..host_count)
                .map(|_| crate::persistence::Durable::new(&scenario.persist))
                .collect(),
            batch: None,
            blocked_later: Vec::new(),
            blocked_ops: BTreeSet::new(),
            recovered_strings: Vec::new(),
            recovered_lists: Default::default(),
            loaded_at_run: Default::default(),
            repl_compared: std::collections::BTreeMap::new(),
            repl_dels: std::collections::BTreeMap::new(),
            quiet_since_ms: None,
            repl_books: Default::default(),
            rollback: Default::default(),
            block_books: Default::default(),
            psync: Default::default(),
            min_repl: Default::default(),
            hosts,
            scenario,
            now_ms: 0,
            checks: options.checks,
            step: 0,
            runs: 0,
            slow_factors: Vec::new(),
            setup: options.setup,
            clients,
            queue: BinaryHeap::new(),
            seq: 0,
            hash: TraceHash::new(),
            history: Vec::new(),
            failure: None,
            failed_checker: None,
            verdicts: Default::default(),
            halted: false,
            reached: BTreeSet::new(),
            next_conn: 1,
            trace: options.trace.then(Vec::new),
            drain: Drain::default(),
        };
        for h in 0..host_count {
            world.boot(h);
        }
        world
    }

    pub(crate) fn schedule(&mut self, at_ms: u64, event: Event) {
        self.queue.push(Reverse((at_ms, self.seq, event)));
        self.seq += 1;
    }

    /// A liveness or protocol assertion failed: the world cannot go on (the run stops;
    /// the history so far is still judged by the other checkers).
    pub(crate) fn fail(&mut self, message: String) {
        self.flag(Checker::Resource, ("halt", None), message);
        self.halted = true;
    }

    /// `checker` rejects the run; the run goes on and the other checkers keep judging.
    /// Only a checker's first rejection is kept (after it, its state no longer tracks).
    /// `what` is the kind of violation and the command involved (its signature).
    pub(crate) fn flag(
        &mut self,
        checker: Checker,
        what: (&str, Option<&[Vec<u8>]>),
        message: String,
    ) {
        // A checker left out (`--checkers`) gives no verdict, though the world keeps
        // the books it needs (the durability records rebase the other checkers at a
        // restart).
        if self.verdicts.contains_key(&checker) || !self.checks.enabled(checker) {
            return;
        }
        log!(self, "FAILURE ({}): {message}", checker.name());
        let text = format!("at {} ms: {message}", self.now_ms);
        let signature = Signature {
            checker,
            kind: what.0.to_string(),
            command: what.1.map(request_name).unwrap_or_default(),
        };
        if self.failure.is_none() {
            self.failure = Some(text.clone());
            self.failed_checker = Some(checker);
        }
        self.verdicts.insert(checker, (text, signature));
    }

    /// Whether `checker` is on and has not rejected the run yet.
    pub(crate) fn judging(&self, checker: Checker) -> bool {
        self.checks.enabled(checker) && !self.verdicts.contains_key(&checker)
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

    /// A host's clocks now, handed to its node.
    pub(crate) fn host_now(&mut self, h: usize) -> Now {
        self.hosts[h].clock.read(self.now_ms)
    }

    /// Boots host `h`'s node (at start and at a restart) and a fresh shadow for it.
    pub(crate) fn boot(&mut self, h: usize) {
        let now = self.host_now(h);
        let setup = self.setup;
        let mut config = self.scenario.persist.clone();
        if let Some(flags) = &self.scenario.notify_keyspace_events {
            config.push(("notify-keyspace-events".to_string(), flags.clone()));
        }
        let small_ttl = self.scenario.name == "ttl-index";
        let seeds = match self.hosts[h].boot(now, &config, setup, small_ttl) {
            Ok(seeds) => seeds,
            Err(e) => return self.fail(format!("host {h}: the scenario's config: {e}")),
        };
        // Seeds of its own, derived: its random draws and hash orders differ from the
        // node's, as a replica's do.
        let shadow_seeds = NodeSeeds {
            rng_seed: seeds.rng_seed ^ 0x5EED_5EED_5EED_5EED,
            hash_seeds: seeds.hash_seeds.map(|s| s.rotate_left(17) ^ 0xA5A5),
        };
        // A replica's dataset is replaced wholesale by each full sync, which no
        // propagation stream carries: the replication checker judges replicas.
        let replica = crate::replication::is_replication(&self.scenario.name) && h > 0;
        self.oracles[h].shadow = (!replica).then(|| Shadow::new(shadow_seeds, now));
        self.oracles[h].pubsub.node_restarted();
        self.psync_note_boot(h);
        self.drain = Drain {
            from_disk: false,
            wall_ms: now.wall_ms,
            mono_ms: now.mono_ms,
            ..Drain::default()
        };
        self.drain_effects(h);
        self.boot_policy(h);
    }

    /// Hands an input to host `h`'s node (if it is up) and runs its effects in order.
    pub(crate) fn feed(&mut self, h: usize, input: Input<'_>) {
        let now = self.host_now(h);
        let host = &mut self.hosts[h];
        if let (None, Some(record)) = (host.node.as_ref(), host.fake_peer.as_mut()) {
            record.push(format!("{input:?}"));
            return;
        }
        let Some(node) = host.node.as_mut() else {
            return;
        };
        let delivered_bytes = match &input {
            Input::Data { bytes, .. } => bytes.len(),
            _ => 0,
        };
        let from_disk = matches!(input, Input::Disk { .. });
        let used_before = node.used_memory_bytes();
        let limit = node.config().settings().maxmemory_bytes;
        node.handle(now, input);
        let Some(node) = self.hosts[h].node.as_mut() else {
            return;
        };
        let used_after = node.used_memory_bytes();
        self.drain = Drain {
            from_disk,
            wall_ms: now.wall_ms,
            mono_ms: now.mono_ms,
            memory: BatchMemory {
                limit,
                used_before,
                used_after,
                delivered_bytes,
            },
            replies_judged: 0,
            write_accepted_before: false,
            data_changed_before: false,
            grown_bytes: 0,
        };
        self.drain_effects(h);
        self.block_books_after_input(h);
        self.judge_blocked_later(h);
        // Any input may run the node's active expiry, not only data and ticks (chaos
        // 0x39c: a reset handed to a paused node expired `w0`; after a backward
        // clock jump the model, never told, still had it live for the next GET).
        self.sync_expiry(h);
    }

    /// Whether host `h`'s node cannot take an operator's command now: down, paused,
    /// or still loading its files (it would answer -LOADING, as Redis does).
    pub(crate) fn operator_busy(&self, h: usize) -> bool {
        self.hosts[h].pauses_active > 0
            || self.hosts[h].node.as_ref().is_none_or(crate::host::loading)
    }

    /// Sends an operator's command (BGSAVE, BGREWRITEAOF) to host `h`'s node over a
    /// connection outside the clients' history; its reply is only logged.
    pub(crate) fn operator(&mut self, h: usize, args: &[&str]) {
        let epoch = self.hosts[h].epoch;
        if self.hosts[h].node.is_none() || self.hosts[h].pauses_active > 0 {
            log!(
                self,
                "host {h}: operator's {args:?} not sent (node down or paused)"
            );
            return;
        }
        if self.operator_open[h] != Some(epoch) {
            self.operator_open[h] = Some(epoch);
            let local = self.hosts[h].addr.clone();
            self.feed(
                h,
                Input::Accepted {
                    conn: OPERATOR_CONN,
                    listener: Listener::Client,
                    peer: "127.0.0.1:2".into(),
                    local,
                    peer_is_loopback: true,
                },
            );
        }
        let request: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        log!(self, "host {h}: operator sends {}", show(&request));
        let bytes = encode(&request);
        self.feed(
            h,
            Input::Data {
                conn: OPERATOR_CONN,
                bytes: &bytes,
            },
        );
    }

    /// Bookkeeping an input that reads no clock and asks for nothing (`Written`).
    fn tell(&mut self, h: usize, input: Input<'_>) {
        let now = self.hosts[h].clock.peek(self.now_ms);
        if let Some(node) = self.hosts[h].node.as_mut() {
            node.handle(now, input);
        }
    }

    /// Applies what host `h`'s node propagated since the last call to its shadow and
    /// compares their digests (the shadow checker).
    pub(crate) fn sync_shadow(&mut self, h: usize) {
        if self.judging(Checker::Resource) {
            self.check_memory_bound(h);
        }
        // No early return when the shadow is off: the durability records and the
        // replication checker's DELs are books every run keeps.
        let Some(node) = self.hosts[h].node.as_mut() else {
            return;
        };
        let records = node.take_propagated();
        if node.is_replica() {
            // A master turned replica (FAILOVER, REPLICAOF) has no shadow from then
            // on, as a replica never has: a full sync replaces its data outside the
            // stream.
            self.oracles[h].shadow = None;
        }
        if records.is_empty() {
            self.oracles[h].evict.end_input();
            return;
        }
        self.log_records(h, &records);
        self.note_repl_records(h, &records);
        if self.durable[h].pending_judgment() {
            // The shadow starts from the recovered dataset once the restart is
            // judged; the next restart's replay holds these records.
            log!(
                self,
                "host {h}: {} records propagated before the restart is judged: {:?}",
                records.len(),
                records.first()
            );
            self.oracles[h].evict.end_input();
            return;
        }
        let now = self.hosts[h].clock.peek(self.now_ms);
        if self.judging(Checker::Resource) {
            if let Some((sig, why)) = self.judge_stream(h, now, records) {
                self.flag(Checker::Resource, (sig, None), format!("host {h}: {why}"));
            }
        } else if let Some(shadow) = self.oracles[h].shadow.as_mut() {
            shadow.apply(now, records);
        }
        if !self.judging(Checker::Shadow) {
            return;
        }
        let Some(shadow) = self.oracles[h].shadow.as_mut() else {
            return;
        };
        shadow.behind = true;
        // A digest walks the whole dataset: compare every 200 simulated ms (and at
        // the end of the run, and before a crash) rather than after every write. A
        // divergence stays until something overwrites it, which is rarely that soon.
        if self.now_ms >= shadow.compared_at_ms + SHADOW_COMPARE_EVERY_MS {
            self.compare_shadow(h);
        }
    }

    /// The shadow checker's verdict: host `h`'s node and its shadow have equal digests.
    pub(crate) fn compare_shadow(&mut self, h: usize) {
        let (Some(node), Some(shadow)) =
            (self.hosts[h].node.as_ref(), self.oracles[h].shadow.as_mut())
        else {
            return;
        };
        if !shadow.behind {
            return;
        }
        shadow.behind = false;
        shadow.compared_at_ms = self.now_ms;
        // Live keys only, with exact expire times: a load may drop keys already past
        // their TTL (an RDB) that the shadow still holds until they are touched.
        let wall_ms = self.hosts[h].clock.peek(self.now_ms).wall_ms;
        let (want, got) = (
            crate::durability::live_digest(node.keyspace(), wall_ms),
            crate::durability::live_digest(shadow.node.keyspace(), wall_ms),
        );
        self.reached.insert(reach::SHADOW_COMPARED);
        if want != got {
            let (want, got) = (keel_core::digest::hex(&want), keel_core::digest::hex(&got));
            self.flag(
                Checker::Shadow,
                ("shadow-diverged", None),
                format!("host {h}: the shadow fed the propagation stream diverged: node digest {want}, shadow {got}"),
            );
        }
    }

    pub(crate) fn any_client_active(&self) -> bool {
        self.clients.iter().any(Client::active)
    }

    /// When the last planned fault ends (simulated ms).
    fn faults_end_ms(&self) -> u64 {
        self.scenario
            .faults
            .iter()
            .map(|f| f.at_ms.saturating_add(f.duration_ms))
            .max()
            .unwrap_or(0)
            .max(self.scenario.duration_ms)
    }

    /// Schedules what starts a run: client wakes, each host's first tick, the faults.
    pub(crate) fn start(&mut self) {
        for c in 0..self.clients.len() {
            let at = self.rng.gen_range(0..10);
            self.schedule(at, Event::ClientWake { client: c });
        }
        for h in 0..self.hosts.len() {
            let host = &self.hosts[h];
            let first_tick = host
                .node
                .as_ref()
                .map_or(0, |n| host.clock.sim_time_of_mono(n.next_deadline()));
            let generation = host.generation;
            self.schedule(
                first_tick,
                Event::Tick {
                    host: h,
                    generation,
                },
            );
        }
        for index in 0..self.scenario.faults.len() {
            let at = self.scenario.faults[index].at_ms;
            self.schedule(at, Event::FaultStart { index });
        }
        let clients_on_replicas = self.scenario.client_hosts.is_some_and(|n| n > 1);
        if self.scenario.name == "repl-promote-rejoin"
            || (self.scenario.name == "repl-min-replicas-clock" && clients_on_replicas)
        {
            // Hosts 1.. are replicas at first: what their clients read is their
            // master's stream, which neither the model nor linearizability of one
            // node judges (the replication and PSYNC checkers do).
            for h in 1..self.hosts.len() {
                self.oracles[h].model_off = true;
                self.rollback.forced_cut_step.insert(h, 0);
            }
        }
    }

    /// Runs events until the queue is empty, a checker fails, or `until_ms` passes.
    pub(crate) fn run_until(&mut self, until_ms: u64) {
        let mut events = 0u64;
        while self
            .queue
            .peek()
            .is_some_and(|Reverse((at, _, _))| *at <= until_ms)
        {
            let Some(Reverse((at_ms, _, event))) = self.queue.pop() else {
                break;
            };
            if self.halted {
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
                Event::Tick { host, generation } => self.on_tick(host, generation),
                Event::ClientWake { client } => self.client_wake(client),
                Event::ClientTimeout { client, batch } => self.client_timeout(client, batch),
                Event::Deliver { conn, to_acceptor } => self.deliver(conn, to_acceptor),
                Event::Disk { host } => self.disk_ready(host),
                Event::Refused { host, conn, epoch } => self.refused(host, conn, epoch),
                Event::Restart { host, epoch } => self.restart_after_exit(host, epoch),
                Event::FaultStart { index } => self.fault_start(index),
                Event::FaultEnd { index } => self.fault_end(index),
            }
            self.check_replication();
            let queued = self.net.queued_bytes();
            if queued > MAX_QUEUED_BYTES {
                self.fail(format!("{queued} bytes queued in the network"));
            }
        }
    }

    pub(crate) fn run(&mut self) {
        self.start();
        self.run_until(u64::MAX);
        for h in 0..self.hosts.len() {
            if !self.halted {
                self.compare_shadow(h);
                self.check_aof_matches_node(h);
            }
        }
        if !self.halted {
            self.check_replicas_converged();
        }
        if !self.halted {
            let stuck: Vec<usize> = (0..self.clients.len())
                .filter(|&c| self.clients[c].active())
                .collect();
            if !stuck.is_empty() {
                self.fail(format!("clients {stuck:?} never finished (no event left)"));
            }
        }
    }

    /// Feeds an event into the trace hash without allocating (this runs per event).
    fn hash_event(&mut self, event: &Event) {
        let (kind, a, b) = match *event {
            Event::Tick { host, generation } => (0u64, generation, host as u64),
            Event::ClientWake { client } => (1, client as u64, 0),
            Event::ClientTimeout { client, batch } => (2, client as u64, batch),
            Event::Deliver { conn, to_acceptor } => (3, conn, u64::from(to_acceptor)),
            Event::FaultStart { index } => (4, index as u64, 0),
            Event::FaultEnd { index } => (5, index as u64, 0),
            Event::Disk { host } => (6, host as u64, 0),
            Event::Refused { host, conn, .. } => (7, host as u64, conn),
            Event::Restart { host, epoch } => (8, host as u64, u64::from(epoch)),
        };
        self.hash.write_u64(kind);
        self.hash.write_u64(a);
        self.hash.write_u64(b);
    }

    fn on_tick(&mut self, h: usize, generation: u64) {
        let host = &self.hosts[h];
        if generation != host.generation || host.pauses_active > 0 || host.node.is_none() {
            return;
        }
        let now = self.host_now(h);
        let Some(node) = self.hosts[h].node.as_mut() else {
            return;
        };
        let expired_before = node.keyspace().stats.expired_keys;
        node.handle(now, Input::Tick);
        let removed = node.keyspace().stats.expired_keys > expired_before;
        let next_mono_ms = node.next_deadline();
        if removed {
            self.reached.insert(reach::ACTIVE_EXPIRY);
        }
        let (dense, map) = node.keyspace().ttl_shape_changes();
        if dense > 0 && map > 0 {
            self.reached.insert(reach::TTL_INDEX_DENSE);
        }
        let (splits, collapses) = node.keyspace().key_index_shape_changes();
        if splits > 0 && collapses > 0 {
            self.reached.insert(reach::KEY_INDEX_SPLIT);
        }
        if self.hosts[h].clock.mono_rate_permille != 1000 {
            self.reached.insert(reach::CLOCK_DRIFTED);
        }
        self.drain = Drain {
            from_disk: false,
            wall_ms: now.wall_ms,
            mono_ms: now.mono_ms,
            ..Drain::default()
        };
        self.drain_effects(h);
        self.check_active_expiry(h, now.wall_ms);
        self.check_memory_estimate(h);
        self.sync_expiry(h);
        // The node keeps its cadence while clients run and until the last planned
        // fault is over: a crash planned after the workload ends meets a node that
        // had its seconds of timers (an everysec fsync of the last writes), as a real
        // one would (bgsave-disk-full 0x4f judged a node the world stopped ticking).
        let active = self.any_client_active();
        if !active && self.quiet_since_ms.is_none() {
            self.quiet_since_ms = Some(self.now_ms);
        }
        let settled_at = self
            .quiet_since_ms
            .map_or(u64::MAX, |t| t.saturating_add(self.scenario.settle_ms));
        if active || self.now_ms < self.faults_end_ms() || self.now_ms < settled_at {
            let at = self.hosts[h]
                .clock
                .sim_time_of_mono(next_mono_ms)
                .max(self.now_ms + 1);
            self.schedule(
                at,
                Event::Tick {
                    host: h,
                    generation,
                },
            );
        }
    }

    /// Runs host `h`'s node's effects in order.
    fn drain_effects(&mut self, h: usize) {
        while let Some(effect) = self.hosts[h].node.as_mut().and_then(Node::poll_effect) {
            self.execute(h, effect);
        }
        self.settle_blocking(h);
        self.sync_shadow(h);
        if self.durable[h].pending_judgment() {
            self.judge_recovery(h);
        }
    }

    /// Executes one effect of host `h`'s node.
    pub(crate) fn execute(&mut self, h: usize, effect: Effect) {
        match effect {
            Effect::Send { conn, bytes } if conn == OPERATOR_CONN => {
                self.hash.write(&bytes);
                log!(
                    self,
                    "host {h}: operator gets {:?}",
                    String::from_utf8_lossy(&bytes)
                );
                self.tell(
                    h,
                    Input::Written {
                        conn,
                        bytes: bytes.len(),
                    },
                );
            }
            Effect::Send { conn, bytes } => {
                self.hash.write(&bytes);
                self.node_sends(h, conn, &bytes);
            }
            // An abort (output limit) is a close to the simulated network: the peer
            // sees the bytes already in flight, then the end.
            Effect::Close { conn } | Effect::Abort { conn } => self.node_closes(h, conn),
            Effect::Connect { conn, addr } => self.node_connects(h, conn, addr),
            Effect::Disk { io, op } => {
                log!(self, "host {h}: disk io {} {op:?}", io.0);
                self.note_disk_op(h, &op);
                let at = self.hosts[h]
                    .disk
                    .submit(&mut self.rng, self.now_ms, io, op);
                self.schedule(at, Event::Disk { host: h });
            }
            // The operator's SHUTDOWN: saved, the node exits; started again from
            // its disk (a rolling restart).
            Effect::Shutdown { exit_code: 0 } if self.hosts[h].shutdown_asked => {
                self.hosts[h].shutdown_asked = false;
                self.reached.insert(reach::OPERATOR_SHUTDOWN);
                self.exited(h, 0)
            }
            Effect::Shutdown { .. } if self.note_shutdown(h) => self.restart_wiped(h),
            // Under persistence a node exits on errors Redis exits on (a failed
            // write or fsync under always): the process dies, the disk keeps what
            // the OS has, and it is started again a little later.
            Effect::Shutdown { exit_code }
                if exit_code != 0 && !self.scenario.persist.is_empty() =>
            {
                self.exited(h, exit_code)
            }
            Effect::Shutdown { exit_code } => {
                self.fail(format!(
                    "host {h}: node asked to shut down (exit code {exit_code})"
                ));
            }
            Effect::Sleep { ms } => {
                self.fail(format!(
                    "host {h}: node asked to sleep {ms} ms (nobody sends DEBUG SLEEP)"
                ));
            }
            Effect::Log { message, .. } => {
                self.note_log(h, &message);
                self.note_repl_log(&message);
            }
            // The simulated network reaches a host at its one address whatever it
            // listens on: moving the listeners always works.
            Effect::Listen { io, .. } => self.feed(h, Input::Listened { io, result: Ok(()) }),
            // Lazily freed memory: the simulator has no other thread; drop it here.
            Effect::Free { garbage } => drop(garbage),
            // The simulator accounts memory logically: nothing to give back.
            Effect::PurgeMemory => {}
        }
    }

    /// Host `h`'s node writes on a connection: onto the network, and, on a client's
    /// connection, framed into replies judged in request order.
    fn node_sends(&mut self, h: usize, local: ConnId, bytes: &[u8]) {
        // A connection the world already forgot (reset): the bytes go nowhere.
        let Some((id, from_acceptor)) = self.net.resolve(h, local) else {
            return;
        };
        if from_acceptor {
            self.judge_output(h, id, bytes);
            self.min_repl_sent(h, id, bytes);
            self.psync_sent(h, id, bytes);
        }
        let times = self
            .net
            .write(&mut self.rng, self.now_ms, id, !from_acceptor, bytes);
        for at in times {
            self.schedule(
                at,
                Event::Deliver {
                    conn: id,
                    to_acceptor: !from_acceptor,
                },
            );
        }
    }

    fn node_closes(&mut self, h: usize, local: ConnId) {
        let Some((id, from_acceptor)) = self.net.resolve(h, local) else {
            return;
        };
        log!(self, "host {h}: node closes conn {id}");
        if let Some(c) = self.net.conns.get_mut(&id) {
            if from_acceptor {
                c.acceptor_knows = false;
            } else {
                c.initiator_open = false;
            }
        }
        if from_acceptor {
            self.model_conn_closed(h, id);
        }
        let at = self
            .net
            .signal(&mut self.rng, self.now_ms, id, !from_acceptor, Segment::Fin);
        if let Some(at) = at {
            self.schedule(
                at,
                Event::Deliver {
                    conn: id,
                    to_acceptor: !from_acceptor,
                },
            );
        }
    }

    /// Host `h`'s node opens a connection: to the host that has `addr`, or refused.
    fn node_connects(&mut self, h: usize, local: ConnId, addr: String) {
        let target = self.hosts.iter().position(|x| x.addr == addr);
        log!(
            self,
            "host {h}: node connects conn {local} to {addr} (host {target:?})"
        );
        let Some(t) = target else {
            let epoch = self.hosts[h].epoch;
            self.schedule(
                self.now_ms + REFUSED_AFTER_MS,
                Event::Refused {
                    host: h,
                    conn: local,
                    epoch,
                },
            );
            return;
        };
        let id = self.next_conn;
        self.next_conn += 1;
        let at = self
            .net
            .open(&mut self.rng, self.now_ms, id, End::Host(h), local, t);
        self.schedule(
            at,
            Event::Deliver {
                conn: id,
                to_acceptor: true,
            },
        );
    }

    fn refused(&mut self, h: usize, local: ConnId, epoch: u32) {
        let host = &self.hosts[h];
        if host.epoch != epoch || !host.alive() {
            return;
        }
        if host.pauses_active > 0 {
            self.deferred_refusals[h].push(local);
            return;
        }
        log!(self, "host {h}: connect of conn {local} refused");
        self.feed(
            h,
            Input::ConnectFailed {
                conn: local,
                error: "Connection refused".into(),
            },
        );
    }

    /// Hands host `h`'s node every disk completion that is due.
    fn disk_ready(&mut self, h: usize) {
        if self.hosts[h].pauses_active > 0 || self.hosts[h].node.is_none() {
            return;
        }
        for c in self.hosts[h].disk.complete_ready(self.now_ms) {
            log!(self, "host {h}: disk io {} done: {:?}", c.io.0, c.result);
            self.note_completion(h, &c);
            if self.hosts[h].node.is_none() {
                break;
            }
            self.feed(
                h,
                Input::Disk {
                    io: c.io,
                    result: c.result,
                    elapsed_us: c.elapsed_us,
                },
            );
        }
    }

    /// The requests host `h`'s node was handed whose replies are not judged yet (held
    /// for an fsync, on the wire, or not produced).
    fn unjudged_ops(&self, h: usize) -> impl Iterator<Item = &Op> + '_ {
        self.net
            .conns
            .values()
            .filter(move |x| x.acceptor == h)
            .flat_map(|x| x.awaiting.iter())
            .filter_map(|&i| self.history.get(i))
    }

    /// Keeps host `h`'s model in step with keys its node removed by active expiry.
    fn sync_expiry(&mut self, h: usize) {
        let Some(node) = self.hosts[h].node.as_ref() else {
            return;
        };
        let keyspace = node.keyspace();
        // A request that ran but whose reply is still held (for an fsync) is judged
        // later, against the model as it was when it ran: a key the node expired
        // after it ran must not be forgotten before then (manifest-swap-crash 0xe:
        // `SET k2 v PX 19`, INCRBY at the boundary, the tick's DEL before the reply).
        // Only requests that ran count: on each connection, those before the first
        // one that blocked. A blocked request is judged against the model when it is
        // served or times out, and the requests behind it have not run (chaos 0x315:
        // a BZPOPMAX blocked from before a -2636 ms jump kept an expired `k5` that
        // active expiry had reclaimed alive in the model). A blocked WAIT's reply
        // reads no key either (repl-min-replicas-clock 0x63).
        let blocked = &self.blocked_ops;
        let history = &self.history;
        let ran_unjudged = self
            .net
            .conns
            .values()
            .filter(|x| x.acceptor == h)
            .flat_map(|x| {
                x.awaiting
                    .iter()
                    .take_while(|&i| !blocked.contains(i))
                    .filter_map(|&i| history.get(i))
            })
            .filter(|op| {
                !op.request
                    .first()
                    .is_some_and(|c| c.eq_ignore_ascii_case(b"WAIT"))
            })
            .filter_map(|op| op.run_wall_ms)
            .min();
        let max_wall_ms = self.hosts[h]
            .clock
            .max_wall_ms
            .min(ran_unjudged.unwrap_or(u64::MAX));
        self.oracles[h]
            .model
            .sync_expired(max_wall_ms, ran_unjudged.is_some(), |db, k| {
                keyspace
                    .dbs
                    .get(db as usize)
                    .is_some_and(|d| d.find(k).is_some())
            });
    }

    fn client_wake(&mut self, c: usize) {
        if self.clients[c].queue.is_empty() || !self.clients[c].outstanding.is_empty() {
            return;
        }
        let host = self.clients[c].host;
        let conn = match self.clients[c].conn {
            Some(conn) => conn,
            None => {
                let id = self.next_conn;
                self.next_conn += 1;
                let at = self
                    .net
                    .open(&mut self.rng, self.now_ms, id, End::Client(c), id, host);
                self.schedule(
                    at,
                    Event::Deliver {
                        conn: id,
                        to_acceptor: true,
                    },
                );
                self.clients[c].conn = Some(id);
                self.clients[c].framer = Framer::default();
                self.clients[c].sub_framing = Default::default();
                log!(self, "client {c} connects to host {host} (conn {id})");
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
        let epoch = self.hosts[host].epoch;
        let mut inflight = Vec::new();
        let mut batch_is_pubsub = false;
        for k in 0..n {
            // A WAIT is a batch of its own: the writes it waits for ran in earlier
            // steps (the WAIT check knows where they ended), and nothing pipelined
            // behind it runs in whichever later step lets it go.
            let wait_next = self.clients[c]
                .queue
                .front()
                .is_some_and(|r| crate::replication::is_wait(r));
            if k > 0 && wait_next {
                break;
            }
            // A pub/sub command never waits behind a reply held for an fsync: a
            // batch that starts with anything else stops before one (the pub/sub
            // checker orders runs by when their replies come out).
            let pubsub_next = self.clients[c]
                .queue
                .front()
                .is_some_and(|r| crate::pubsub::is_pubsub(r));
            if k > 0 && pubsub_next && !batch_is_pubsub {
                break;
            }
            if k == 0 {
                batch_is_pubsub = pubsub_next;
            }
            // A blocking command ends its batch: nothing is pipelined behind a
            // client that may wait (the model orders its block after the batch).
            let last = wait_next
                || self.clients[c]
                    .queue
                    .front()
                    .is_some_and(|r| is_blocking(r));
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
                host,
                conn,
                invoke_ms: self.now_ms,
                complete_ms: None,
                invoke_step,
                complete_step: None,
                epoch,
                request,
                reply: Vec::new(),
                node_reply: None,
                run_seq: None,
                judged_before_run: None,
                delivered_ms: None,
                run_wall_ms: None,
                outcome: OpOutcome::Pending,
            });
            self.block_books_sent(host, op_index);
            inflight.push(InFlight {
                end_offset_bytes: written + bytes.len() as u64,
                op_index,
            });
            self.clients[c].outstanding.push_back(op_index);
            if last {
                break;
            }
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
                    to_acceptor: true,
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
    fn client_timeout(&mut self, c: usize, batch: u64) {
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
    fn client_close(&mut self, c: usize, conn: ConnId) {
        if let Some(x) = self.net.conns.get_mut(&conn) {
            x.initiator_open = false;
        }
        if let Some(at) = self
            .net
            .signal(&mut self.rng, self.now_ms, conn, true, Segment::Fin)
        {
            self.schedule(
                at,
                Event::Deliver {
                    conn,
                    to_acceptor: true,
                },
            );
        }
        self.client_lost_conn(c);
    }

    /// Outstanding requests become unknown; reconnect after a backoff.
    fn client_lost_conn(&mut self, c: usize) {
        let client = &mut self.clients[c];
        client.conn = None;
        client.framer = Framer::default();
        client.sub_framing = Default::default();
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

    /// Segments of one direction of a connection that are readable now reach their end
    /// (unless the path is held or the receiving host is paused).
    fn deliver(&mut self, id: ConnId, to_acceptor: bool) {
        if self.net.blocked(id, to_acceptor) {
            return;
        }
        let Some(c) = self.net.conns.get(&id) else {
            return;
        };
        let receiver = if to_acceptor {
            End::Host(c.acceptor)
        } else {
            c.initiator
        };
        if let End::Host(r) = receiver {
            if self.hosts[r].pauses_active > 0 {
                return;
            }
        }
        if to_acceptor {
            self.deliver_to_acceptor(id);
        } else {
            self.deliver_to_initiator(id);
        }
    }

    fn deliver_to_acceptor(&mut self, id: ConnId) {
        let Some(x) = self.net.conns.get_mut(&id) else {
            return;
        };
        let segs = x.to_acceptor.take_ready(self.now_ms);
        let (h, initiator, initiator_conn) = (x.acceptor, x.initiator, x.initiator_conn);
        for seg in segs {
            match seg {
                Segment::Open => {
                    if self.hosts[h].node.is_none() {
                        // Connection refused: the initiator sees a reset.
                        log!(self, "conn {id} refused (host {h} down)");
                        self.reset_conn(id);
                        return;
                    }
                    if let Some(x) = self.net.conns.get_mut(&id) {
                        x.acceptor_knows = true;
                    }
                    let peer = match initiator {
                        End::Client(_) => format!("10.0.0.{id}:5000"),
                        End::Host(i) => format!("10.0.1.{}:{}", i + 1, 40_000 + id % 20_000),
                    };
                    let local = self.hosts[h].addr.clone();
                    // The SYN-ACK leaves before the node hears of the connection (the
                    // kernel accepts it), so a close the node answers with comes after.
                    if let End::Host(_) = initiator {
                        self.send_control(id, false, Segment::OpenAck);
                    }
                    self.feed(
                        h,
                        Input::Accepted {
                            conn: id,
                            listener: Listener::Client,
                            peer,
                            local,
                            peer_is_loopback: true,
                        },
                    );
                }
                Segment::Bytes(bytes) => {
                    if let End::Host(i) = initiator {
                        // The initiator's bytes left its side.
                        self.tell(
                            i,
                            Input::Written {
                                conn: initiator_conn,
                                bytes: bytes.len(),
                            },
                        );
                    }
                    self.min_repl_delivered(h, id, &bytes);
                    self.psync_delivered(h, id, &bytes);
                    self.node_reads(h, id, &bytes);
                }
                Segment::Fin => {
                    let knows = self.net.conns.get(&id).is_some_and(|x| x.acceptor_knows);
                    if knows && self.hosts[h].node.is_some() {
                        self.model_conn_closed(h, id);
                        self.feed(
                            h,
                            Input::Closed {
                                conn: id,
                                reason: CloseReason::PeerClosed,
                            },
                        );
                    }
                    // The initiator closed its side first (or answered the acceptor's
                    // close): both ends are done with it.
                    self.net.remove(id);
                    return;
                }
                Segment::OpenAck => {
                    self.fail(format!("conn {id}: a SYN-ACK toward the acceptor"));
                }
            }
        }
    }

    fn send_control(&mut self, id: ConnId, to_acceptor: bool, seg: Segment) {
        if let Some(at) = self
            .net
            .signal(&mut self.rng, self.now_ms, id, to_acceptor, seg)
        {
            self.schedule(
                at,
                Event::Deliver {
                    conn: id,
                    to_acceptor,
                },
            );
        }
    }

    fn deliver_to_initiator(&mut self, id: ConnId) {
        let Some(x) = self.net.conns.get_mut(&id) else {
            return;
        };
        let segs = x.to_initiator.take_ready(self.now_ms);
        let (h, initiator, local, acceptor_knows) =
            (x.acceptor, x.initiator, x.initiator_conn, x.acceptor_knows);
        for seg in segs {
            if let (Segment::Bytes(bytes), true) = (&seg, acceptor_knows) {
                // The bytes left the acceptor's side: its output-limit accounting hears it.
                self.tell(
                    h,
                    Input::Written {
                        conn: id,
                        bytes: bytes.len(),
                    },
                );
                self.check_unsent_output(h, id, bytes.len());
            }
            let open = self.net.conns.get(&id).is_some_and(|x| x.initiator_open);
            match initiator {
                End::Client(c) => {
                    if !open || self.clients[c].conn != Some(id) {
                        continue;
                    }
                    match seg {
                        Segment::Bytes(bytes) => self.client_reads(c, &bytes),
                        Segment::Fin => {
                            log!(self, "client {c} sees conn {id} closed");
                            // The client closes its side too, so the connection is forgotten.
                            self.client_close(c, id);
                            return;
                        }
                        Segment::Open | Segment::OpenAck => {
                            self.fail(format!("conn {id}: {seg:?} toward a client"))
                        }
                    }
                }
                End::Host(i) => {
                    if !open || !self.hosts[i].alive() {
                        continue;
                    }
                    match seg {
                        Segment::OpenAck => {
                            if let Some(x) = self.net.conns.get_mut(&id) {
                                x.connected = true;
                            }
                            log!(self, "host {i}: connected conn {local} (to host {h})");
                            self.feed(i, Input::Connected { conn: local });
                        }
                        Segment::Bytes(bytes) => {
                            log!(
                                self,
                                "host {i}: reads {} bytes on conn {local}",
                                bytes.len()
                            );
                            self.feed(
                                i,
                                Input::Data {
                                    conn: local,
                                    bytes: &bytes,
                                },
                            );
                        }
                        Segment::Fin => {
                            log!(self, "host {i}: conn {local} closed by host {h}");
                            self.feed(
                                i,
                                Input::Closed {
                                    conn: local,
                                    reason: CloseReason::PeerClosed,
                                },
                            );
                            // The acceptor closed first and the initiator has now been
                            // told: both ends are done with it.
                            self.net.remove(id);
                            return;
                        }
                        Segment::Open => {
                            self.fail(format!("conn {id}: a SYN toward the initiator"))
                        }
                    }
                }
            }
        }
    }

    /// Resource check: what the acceptor counts as this connection's unsent output
    /// (which its output limits and `used_memory` rest on) equals what the world knows
    /// is still in flight — sent by the node, not yet delivered.
    fn check_unsent_output(&mut self, h: usize, id: ConnId, delivered_now: usize) {
        let Some(x) = self.net.conns.get_mut(&id) else {
            return;
        };
        x.replies_delivered_bytes += delivered_now as u64;
        let in_flight = x
            .replies_sent_bytes
            .saturating_sub(x.replies_delivered_bytes);
        let counted = self.hosts[h]
            .node
            .as_ref()
            .and_then(|n| n.client_unwritten_bytes(id));
        if let Some(counted) = counted {
            // Under appendfsync always the node holds replies until their fsync and
            // counts them (as Redis's client buffers do): only fewer is wrong then.
            let holds = self.durable[h].policy == Some(crate::durability::Policy::Always);
            let wrong = if holds {
                (counted as u64) < in_flight
            } else {
                counted as u64 != in_flight
            };
            if wrong && self.checks.resource {
                self.flag(Checker::Resource, ("unsent-output", None), format!(
                    "host {h} conn {id}: the node counts {counted} bytes of unsent output, {in_flight} are in flight"
                ), );
            }
        }
    }

    /// A client frames replies out of its byte stream and completes its oldest
    /// outstanding requests with them, in order, whenever they arrive.
    fn client_reads(&mut self, c: usize, bytes: &[u8]) {
        self.clients[c].framer.push(bytes);
        loop {
            let frame = match self.clients[c].framer.next_reply() {
                Ok(Some(r)) => r,
                Ok(None) => break,
                Err(e) => {
                    return self.fail(format!("client {c} cannot frame the reply stream: {e}"))
                }
            };
            let head = self.clients[c]
                .outstanding
                .front()
                .and_then(|&i| self.history.get(i))
                .map(|op| op.request.as_slice());
            let reply = match self.clients[c].sub_framing.frame(head, frame) {
                crate::pubsub::Framed::Reply(r) => r,
                crate::pubsub::Framed::Partial => continue,
                crate::pubsub::Framed::Push(push) => {
                    let (h, conn) = (self.clients[c].host, self.clients[c].conn);
                    if let Some(conn) = conn {
                        if let Err((kind, why)) = self.oracles[h].pubsub.client_push(conn, &push) {
                            self.flag(Checker::PubSub, (kind, None), format!("client {c}: {why}"));
                        }
                    }
                    continue;
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

    /// Hands delivered bytes to host `h`'s node; the requests they complete join the
    /// connection's queue of requests awaiting replies (judged as the node sends them).
    fn node_reads(&mut self, h: usize, id: ConnId, bytes: &[u8]) {
        let Some(x) = self.net.conns.get_mut(&id) else {
            return;
        };
        if !x.acceptor_knows {
            return;
        }
        x.delivered_bytes += bytes.len() as u64;
        let wall_ms = self.hosts[h].clock.peek(self.now_ms).wall_ms;
        let Some(x) = self.net.conns.get_mut(&id) else {
            return;
        };
        let mut complete = 0;
        let mut delivered = Vec::new();
        while x
            .requests
            .front()
            .is_some_and(|r| r.end_offset_bytes <= x.delivered_bytes)
        {
            if let Some(r) = x.requests.pop_front() {
                x.awaiting.push_back(r.op_index);
                complete += 1;
                delivered.push(r.op_index);
            }
        }
        // The node runs a request when its bytes arrive (a reply held for an fsync
        // comes out later): its run time until the reply says otherwise.
        for &i in &delivered {
            if let Some(op) = self.history.get_mut(i) {
                op.run_wall_ms = Some(wall_ms);
                op.judged_before_run = Some(self.runs);
                op.delivered_ms = Some(self.now_ms);
            }
        }
        // A subscription made while the node loads its files may get the keyspace
        // notifications of the AOF replay's own writes (keel, like Redis, runs
        // SUBSCRIBE while loading), which no judged write owes.
        if self.hosts[h]
            .node
            .as_ref()
            .is_some_and(crate::host::loading)
            && delivered.iter().any(|&i| {
                self.history.get(i).is_some_and(|op| {
                    let name = crate::checkers::request_name(&op.request);
                    name.ends_with("SUBSCRIBE") && !name.ends_with("UNSUBSCRIBE")
                })
            })
        {
            self.oracles[h].pubsub.subscribed_while_loading(id);
        }
        self.note_delivered(h, &delivered);
        self.block_books_delivered(&delivered);
        self.batch = self
            .net
            .conns
            .get(&id)
            .and_then(|x| x.awaiting.back().copied())
            .filter(|_| complete > 0);
        self.repl_step_starts(h, id);
        self.feed(h, Input::Data { conn: id, bytes });
        self.repl_step_ends();
        self.batch = None;
        let at = Clocks {
            mono_ms: self.drain.mono_ms,
            wall_ms: self.drain.wall_ms,
        };
        self.note_blocked(h, id, at);
        if complete >= 2 {
            self.reached.insert(reach::PIPELINED_BATCH);
        }
        self.check_answered(h, id);
        self.check_squeeze(h);
        self.sync_expiry(h);
        if self.scenario.name == "encodings" {
            self.note_encodings(h);
        }
    }

    /// Coverage of the encodings scenario: which encodings the node's keys are in.
    fn note_encodings(&mut self, h: usize) {
        use keel_core::types::Value;
        let Some(node) = self.hosts[h].node.as_ref() else {
            return;
        };
        for (_, entry) in node.keyspace().db(0).iter() {
            let seen = match &entry.value {
                Value::Hash(x) if x.encoding_name() == "hashtable" => reach::HASH_TABLE,
                Value::ZSet(x) if x.encoding_name() == "skiplist" => reach::ZSET_SKIPLIST,
                Value::List(x) if x.chunk_count() > 1 => reach::LIST_NODES,
                _ => continue,
            };
            self.reached.insert(seen);
        }
    }

    /// Liveness: a request the node has not answered must be waiting on something the
    /// node is owed (a disk completion); no command of the workload waits otherwise.
    fn check_answered(&mut self, h: usize, id: ConnId) {
        let waiting = self.net.conns.get(&id).map_or(0, |x| x.awaiting.len());
        let closed = self.net.conns.get(&id).is_some_and(|x| !x.acceptor_knows);
        // A WAIT blocks until its replicas ACK or its timeout passes.
        let blocked = self
            .net
            .conns
            .get(&id)
            .and_then(|x| x.awaiting.front().copied())
            .and_then(|i| self.history.get(i))
            .is_some_and(|op| {
                crate::replication::is_wait(&op.request)
                    // A blocked command waits for a write or its timeout (the model
                    // judges that it had to block).
                    || is_blocking(&op.request)
            })
            // FAILOVER's pause holds writes until the hand-over ends, and so does a
            // SHUTDOWN waiting for its replicas (at most `shutdown-timeout`).
            || self.hosts[h]
                .node
                .as_ref()
                .is_some_and(|n| n.failover_in_progress() || n.shutdown_waiting_for_replicas());
        if waiting > 0
            && !closed
            && !blocked
            && self.hosts[h].node.is_some()
            && self.hosts[h].disk.in_flight() == 0
        {
            let first = self
                .net
                .conns
                .get(&id)
                .and_then(|x| x.awaiting.front().copied())
                .and_then(|i| self.history.get(i))
                .map(|op| show(&op.request))
                .unwrap_or_default();
            self.fail(format!(
                "host {h} left {waiting} requests on conn {id} unanswered with nothing pending (first: {first})"
            ));
        }
    }

    /// The acceptor's output on a client connection, framed into replies and matched,
    /// in order, to the requests awaiting them.
    pub(crate) fn judge_output(&mut self, h: usize, id: ConnId, bytes: &[u8]) {
        let Some(x) = self.net.conns.get_mut(&id) else {
            return;
        };
        if x.client().is_none() {
            return;
        }
        x.replies.push(bytes);
        let mut judged = Vec::new();
        let mut error = None;
        loop {
            match x.replies.next_reply() {
                Ok(Some(frame)) => {
                    let head = x
                        .awaiting
                        .front()
                        .and_then(|&i| self.history.get(i))
                        .map(|op| op.request.as_slice());
                    let reply = match x.sub_framing.frame(head, frame) {
                        crate::pubsub::Framed::Reply(r) => r,
                        crate::pubsub::Framed::Partial => continue,
                        crate::pubsub::Framed::Push(push) => {
                            judged.push((None, push));
                            continue;
                        }
                    };
                    match x.awaiting.pop_front() {
                        Some(i) => judged.push((Some(i), reply)),
                        None => {
                            error = Some(format!(
                            "host {h} sent a reply on conn {id} with no request awaiting one: {:?}",
                            String::from_utf8_lossy(&reply)
                        ));
                            break;
                        }
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    error = Some(format!("host {h} sent bytes that are not RESP2: {e}"));
                    break;
                }
            }
        }
        for (i, reply) in judged {
            match i {
                Some(i) => {
                    let grown = self
                        .history
                        .get(i)
                        .map_or(0, |op| batch_growth_bytes(&op.request, &reply));
                    self.judge_reply(h, id, i, reply);
                    self.drain.grown_bytes = self.drain.grown_bytes.saturating_add(grown);
                }
                None => {
                    let grown = reply.len().saturating_mul(2);
                    self.oracles[h].pubsub.observe_push(id, reply);
                    self.drain.grown_bytes = self.drain.grown_bytes.saturating_add(grown);
                }
            }
            if self.halted {
                return;
            }
        }
        if let Some(e) = error {
            self.fail(e);
        }
    }

    /// One reply of host `h`'s node to request `#i`: memory rules, then the model.
    fn judge_reply(&mut self, h: usize, conn: ConnId, i: usize, reply: Vec<u8>) {
        let Drain {
            wall_ms,
            mono_ms: _,
            from_disk,
            memory:
                BatchMemory {
                    limit,
                    used_before,
                    used_after,
                    delivered_bytes,
                },
            replies_judged: _,
            write_accepted_before,
            data_changed_before,
            grown_bytes,
        } = self.drain;
        self.drain.replies_judged += 1;
        let over = |used: usize| limit > 0 && used as u64 > limit;
        let Some(request) = self.history.get(i).map(|op| op.request.clone()) else {
            return self.fail(format!("history lost op #{i}"));
        };
        self.runs += 1;
        let run_seq = self.runs;
        // Where the connection's next message sits among its replies.
        self.oracles[h].pubsub.note_reply(conn);
        // A reply let out by a disk completion was held for its fsync: the request
        // ran (and its relative TTLs started) when it was delivered. Judging it at the
        // release time moved the model's expiries later than the node's
        // (fsync-eio/persist-crash 0x9: `SET k v PX 25`, then DEL at the boundary).
        let wall_ms = match self.history.get(i).and_then(|op| op.run_wall_ms) {
            Some(delivered) if from_disk => delivered,
            _ => wall_ms,
        };
        if let Some(op) = self.history.get_mut(i) {
            op.node_reply = Some(reply.clone());
            op.run_wall_ms = Some(wall_ms);
            op.run_seq = Some(run_seq);
        }
        self.block_books_reply(h, i, &reply);
        log!(
            self,
            "host {h} runs #{i} {} -> {:?}",
            show(&request),
            String::from_utf8_lossy(&reply)
        );
        if h > 0 {
            self.reached.insert(reach::SECOND_HOST_SERVED);
        }
        let denyoom = is_denyoom(&request);
        let exec_oom = reply == EXEC_OOM_REPLY;
        if reply == OOM_REPLY || exec_oom {
            let model = &self.oracles[h].model;
            // A model that stopped judging (or never ran: `--checkers` without it) no
            // longer follows MULTI: any conn may be in one, with any queue.
            let following = !self.oracles[h].model_off && self.judging(Checker::Model);
            let queued = following.then(|| model.queued(conn));
            let in_multi = queued.is_none() || model.in_multi(conn);
            let refusable = oom_refusable(&request, exec_oom, in_multi, queued);
            self.reached.insert(reach::OOM_REPLY);
            // While the batch runs the node also counts the bytes just delivered
            // (the client's query buffer) as used.
            // A refusal a disk completion let out ran when it was delivered, under
            // that moment's memory (chaos 0x11e: held behind an EXEC's fsync
            // while a DEL freed memory), as for accepted writes below.
            // So do the replies and queued commands of the requests before it in the
            // batch (`batch_growth_bytes`).
            let plausible = over(
                used_before
                    .saturating_add(delivered_bytes)
                    .saturating_add(grown_bytes),
            ) || over(used_after)
                || write_accepted_before
                || from_disk;
            if (!refusable || !plausible) && self.checks.resource {
                self.flag(
                    Checker::Resource,
                    ("oom-refused-under-limit", Some(&request)),
                    format!(
                        "#{i} {} refused with -OOM, but limit {limit} and used {used_before} -> {used_after} bytes",
                        show(&request)
                    ),
                );
            }
            if let Some(s) = self.oracles[h].squeeze.as_mut() {
                s.used_at_first_refusal.get_or_insert(used_after);
            }
            if exec_oom {
                self.oracles[h].model.discard_transaction(conn);
            } else {
                self.oracles[h].model.flag_transaction(conn);
            }
            return;
        }
        if self.judging(Checker::Resource) {
            let read_only = is_read_only(&request);
            if let Some((sig, why)) = self.oracles[h].evict.on_reply(&request, &reply, read_only) {
                self.flag(
                    Checker::Resource,
                    (sig, Some(&request)),
                    format!("host {h}: #{i} {why}"),
                );
            }
        }
        // A node that may evict makes room before it accepts. A reply a disk
        // completion let out (held for its fsync) is for a request the node ran when
        // it was delivered, under that moment's limit and memory, not this batch's
        // (chaos 0xbe: RPUSH ran, a squeeze started, its fsync then released `:2`).
        // A loading node refuses nothing for memory (Redis evicts nothing while
        // loading, so its OOM check never fires): -LOADING is its answer.
        // A blocking request that blocked was accepted when it ran (chaos 0x40: a
        // BRPOPLPUSH that blocked under the limit timed out over it).
        let ran_earlier = self.blocked_ops.remove(&i);
        let may_evict = self.oracles[h].evict.policy != MaxmemoryPolicy::NoEviction;
        if !data_changed_before
            && !from_disk
            && !ran_earlier
            && !reply.starts_with(b"-LOADING")
            && !may_evict
            && denyoom
            && limit > 0
            && used_before > (limit as usize).saturating_add(CLIENT_SLACK_BYTES)
            && self.checks.resource
        {
            self.flag(
                Checker::Resource,
                ("accepted-over-limit", Some(&request)),
                format!(
                    "#{i} {} accepted while used memory {used_before} > maxmemory {limit}",
                    show(&request)
                ),
            );
        }
        if !is_read_only(&request) {
            self.drain.data_changed_before = true;
        }
        if denyoom && reply.first() != Some(&b'-') {
            self.drain.write_accepted_before = true;
        }
        let read = request
            .first()
            .is_some_and(|n| n.eq_ignore_ascii_case(b"GET") || n.eq_ignore_ascii_case(b"EXISTS"));
        if read && over(used_before) && over(used_after) {
            self.reached.insert(reach::READ_WHILE_OVER);
        }
        self.note_reply(h, i, &request, &reply);
        self.repl_step_answered(h, conn);
        if crate::replication::is_wait(&request) {
            // Not a data command: the replication checker judges its count.
            return self.judge_wait(h, conn, &reply);
        }
        if reply.starts_with(b"-NOREPLICAS") {
            self.judge_noreplicas(h, &reply);
        }
        if reply.starts_with(b"-LOADING")
            || reply.starts_with(b"-MISCONF")
            || reply.starts_with(b"-READONLY")
            || reply.starts_with(b"-NOREPLICAS")
        {
            // Refused before it ran (-READONLY: the node became a replica by a
            // FAILOVER; -NOREPLICAS: too few good replicas, judged above): inside
            // MULTI that dooms the transaction.
            if reply.starts_with(b"-READONLY") {
                self.reached.insert(reach::READONLY_AFTER_FAILOVER);
            }
            self.oracles[h].model.flag_transaction(conn);
            return;
        }
        // The keyspace notifications a write of a judged key owes its subscribers.
        self.oracles[h]
            .pubsub
            .keyspace_events(run_seq, &request, &reply);
        if self.oracles[h].pubsub.takes(conn, &request) {
            // Pub/sub commands, and anything a subscribed connection sends: the
            // pub/sub books judge them (the model never sees them).
            let verdict = self.oracles[h]
                .pubsub
                .judge(conn, run_seq, &request, &reply);
            if let Err((kind, why)) = verdict {
                self.flag(
                    Checker::PubSub,
                    (kind, Some(&request)),
                    format!("host {h}: #{i} {why}"),
                );
            }
            return;
        }
        if !self.judging(Checker::Model) || self.oracles[h].model_off {
            return;
        }
        // A blocking request whose "it blocked" judgement `note_blocked` put off (its
        // connection's replies were held for an fsync), answered now: when nothing
        // in the model serves it, it blocked when it ran and a write served it since,
        // which may come out of the same fsync's release after it (chaos 0x2a5: the
        // served BZPOPMAX, then the ZADD that served it).
        if is_blocking(&request) && !self.oracles[h].model.is_waiting(conn) {
            if let Some(pos) = self
                .blocked_later
                .iter()
                .position(|&(host, id, _)| host == h && id == conn)
            {
                let at = self.blocked_later[pos].2;
                let since = self.block_books_since(i);
                let model = &mut self.oracles[h].model;
                if !model.in_multi(conn)
                    && model.would_block(at.wall_ms, conn, &request)
                    && model.block(at.wall_ms, conn, &request, at, since).is_ok()
                {
                    self.blocked_later.remove(pos);
                    self.blocked_ops.insert(i);
                    self.reached.insert(reach::CLIENT_BLOCKED);
                }
            }
        }
        let model = &mut self.oracles[h].model;
        if is_blocking(&request) && model.is_waiting(conn) {
            // The late reply of a blocked request: matched with what the model
            // served once the step is over (`settle_blocking`).
            let at = Clocks {
                mono_ms: self.drain.mono_ms,
                wall_ms: self.drain.wall_ms,
            };
            model.blocking_reply(conn, reply, at);
            return;
        }
        if reply == b"*-1\r\n"
            && crate::checkers::request_name(&request) == "EXEC"
            && model.exec_may_abort(conn)
        {
            // A watch set while the node loaded, dirtied by the AOF replay.
            model.discard_transaction(conn);
            return;
        }
        // Replies that are the node's pick or in its order (SPOP, RANDOMKEY, KEYS,
        // SMEMBERS ...): the model judges whether the reply is one it allows.
        model.observe_for(&request, &reply);
        let expected = model.apply_on(wall_ms, conn, &request);
        if let Some(why) = model.lost_track.take() {
            log!(
                self,
                "host {h}: #{i} {}: {why}: the model stops judging host {h}",
                show(&request)
            );
            self.oracles[h].model_off = true;
            return;
        }
        if expected.as_deref() != Some(&reply[..]) {
            self.flag(
                Checker::Model,
                ("reply", Some(&request)),
                format!(
                    "#{i} {} -> host {h} replied {:?}, model expected {:?}",
                    show(&request),
                    String::from_utf8_lossy(&reply),
                    expected.map(|e| String::from_utf8_lossy(&e).into_owned()),
                ),
            );
        }
        // Clients blocked on keys this command made ready are served now, before
        // the next command (Redis's `handleClientsBlockedOnKeys`).
        self.oracles[h].model.serve_waiters(wall_ms, &request);
    }

    /// After a step of host `h`'s node: the model's verdict on the late replies of
    /// blocked requests it sent (served by a write, or timed out).
    fn settle_blocking(&mut self, h: usize) {
        if !self.judging(Checker::Model) || self.oracles[h].model_off {
            return;
        }
        let now = Clocks {
            mono_ms: self.drain.mono_ms,
            wall_ms: self.drain.wall_ms,
        };
        for v in self.oracles[h].model.settle_blocking(now, BLOCKED_LATE_MS) {
            self.flag(
                Checker::Model,
                ("blocking", Some(&v.request)),
                format!("host {h}: {} {}", show(&v.request), v.why),
            );
        }
    }

    fn block_later(&mut self, h: usize, id: ConnId, at: Clocks) {
        if !self.blocked_later.contains(&(h, id, at)) {
            self.blocked_later.push((h, id, at));
        }
    }

    /// The blocking requests `note_blocked` put off while replies were held, judged
    /// again once their connection's are out (`note_blocked` may put one off again).
    fn judge_blocked_later(&mut self, h: usize) {
        if self.blocked_later.is_empty() {
            return;
        }
        let node = self.hosts[h].node.as_ref();
        let (ready, wait): (Vec<_>, Vec<_>) = std::mem::take(&mut self.blocked_later)
            .into_iter()
            .partition(|&(host, id, _)| host == h && node.is_none_or(|n| !n.holds_reply_for(id)));
        self.blocked_later = wait;
        for (_, id, at) in ready {
            if self.hosts[h].node.is_some() {
                self.note_blocked(h, id, at);
            }
        }
    }

    /// The request at the head of conn `id`'s queue ran on host `h` and got no reply:
    /// if it is a blocking command, the model must agree that it blocks.
    fn note_blocked(&mut self, h: usize, id: ConnId, at: Clocks) {
        let waiting_blocking = self.net.conns.get(&id).is_some_and(|x| {
            x.awaiting.iter().any(|&i| {
                self.history
                    .get(i)
                    .is_some_and(|op| op.node_reply.is_none() && is_blocking(&op.request))
            })
        });
        if !waiting_blocking {
            return;
        }
        // Under `appendfsync always` the reply may be held for an fsync (chaos 0x6:
        // a served BZPOPMAX looked blocked): judged when its connection's replies
        // are out.
        if self.hosts[h]
            .node
            .as_ref()
            .is_some_and(|n| n.holds_reply_for(id))
        {
            self.block_later(h, id, at);
            return;
        }
        let Some(i) = self
            .net
            .conns
            .get(&id)
            .and_then(|x| x.awaiting.front().copied())
        else {
            return;
        };
        let Some(request) = self
            .history
            .get(i)
            .filter(|op| op.node_reply.is_none() && is_blocking(&op.request))
            .map(|op| op.request.clone())
        else {
            return;
        };
        // It ran now; its reply (served or timed out) comes in a later input.
        self.blocked_ops.insert(i);
        if !self.judging(Checker::Model) || self.oracles[h].model_off {
            return;
        }
        let model = &mut self.oracles[h].model;
        if model.is_waiting(id) || model.in_multi(id) {
            return;
        }
        // A write on another connection that ran before it may still have its reply
        // held, so the model has not applied it yet (chaos 0x2b1: a FLUSHALL
        // emptied `bl0`, then BRPOP bl0 blocked): a request the model would serve
        // is judged once no reply is held any more.
        if !model.would_block(at.wall_ms, id, &request)
            && self.hosts[h]
                .node
                .as_ref()
                .is_some_and(|n| n.holds_replies())
        {
            self.block_later(h, id, at);
            return;
        }
        let since = self.block_books_since(i);
        let model = &mut self.oracles[h].model;
        if let Err(want) = model.block(at.wall_ms, id, &request, at, since) {
            self.flag(
                Checker::Model,
                ("blocked", Some(&request)),
                format!(
                    "host {h}: #{i} {} blocked, model expected {:?} at once",
                    show(&request),
                    String::from_utf8_lossy(&want)
                ),
            );
        } else {
            self.reached.insert(reach::CLIENT_BLOCKED);
        }
    }

    /// The active-expiry bound, from the keys themselves (not the node's counters):
    /// after a tick, keys that have been expired-but-present for `STALE_TICKS` ticks
    /// or more are at most a tenth of the keyspace (Redis's promise for the default
    /// effort; the simulated keyspaces are far below one cycle's sample, so every
    /// cycle sees every key with a TTL and a correct node leaves none behind).
    fn check_active_expiry(&mut self, h: usize, wall_ms: u64) {
        if !self.judging(Checker::Resource) {
            return;
        }
        let Some(node) = self.hosts[h].node.as_ref() else {
            return;
        };
        // A replica deletes no key on its own: it waits for its master's DELs (the
        // replication checker judges it against its master). A FAILOVER's write
        // pause stops active expiry too (a DEL is a write), as in Redis; the count
        // starts again after it. So does a SHUTDOWN's wait for its replicas (Redis's
        // PAUSE_DURING_SHUTDOWN).
        if node.is_replica() || node.failover_in_progress() || node.shutdown_waiting_for_replicas()
        {
            self.oracles[h].stale_since.clear();
            return;
        }
        let oracle = &mut self.oracles[h];
        oracle.ticks += 1;
        let tick = oracle.ticks;
        let mut keys = 0usize;
        let mut stale = std::collections::BTreeMap::new();
        for (index, db) in node.keyspace().dbs.iter().enumerate() {
            keys += db.len();
            if db.volatile_len() == 0 {
                continue;
            }
            for (_, entry) in db.iter() {
                if entry.is_expired(wall_ms) {
                    let key = (index, entry.key.as_bytes().to_vec());
                    let since = oracle.stale_since.get(&key).copied().unwrap_or(tick);
                    stale.insert(key, since);
                }
            }
        }
        oracle.stale_since = stale;
        let old: Vec<&(usize, Vec<u8>)> = oracle
            .stale_since
            .iter()
            .filter(|(_, &since)| tick >= since + STALE_TICKS)
            .map(|(k, _)| k)
            .collect();
        if old.len() > keys / 10 {
            let first = String::from_utf8_lossy(&old[0].1).into_owned();
            let n = old.len();
            self.flag(
                Checker::Resource,
                ("active-expiry-bound", None),
                format!("host {h}: active expiry left {n} of {keys} keys expired for {STALE_TICKS}+ ticks (first: {first})"),
            );
        }
    }

    /// The memory estimate: the bytes the node counts for its data (its keyspace's
    /// used bytes without the table's own slots and index) stay within
    /// `MEMORY_ESTIMATE_FACTOR` times what the model says the workload stored, plus
    /// `MEMORY_ESTIMATE_PER_KEY_BYTES` per key and `MEMORY_ESTIMATE_SLACK_BYTES`. Only
    /// while the model runs and agrees with the node (it is the estimate's source).
    /// No lower bound: small keys and values live inline, counting no heap bytes.
    fn check_memory_estimate(&mut self, h: usize) {
        if !self.judging(Checker::Resource)
            || !self.judging(Checker::Model)
            || self.oracles[h].model_off
        {
            return;
        }
        let Some(node) = self.hosts[h].node.as_ref() else {
            return;
        };
        // A node still loading its files holds part of a dataset the model learns
        // only when the load ends (`judge_recovery`); chaos 0xd at 31 s.
        if crate::host::loading(node) {
            return;
        }
        let counted: usize = node
            .keyspace()
            .dbs
            .iter()
            .map(|db| {
                db.used_bytes()
                    .saturating_sub(db.overhead_bytes() + db.volatile_overhead_bytes())
            })
            .sum();
        let (mut stored, mut keys) = self.oracles[h].model.stored_bytes();
        // Requests that ran but whose replies the model has not applied yet (held for
        // an fsync, or on the wire) wrote what their arguments hold (chaos 0xad: a
        // 130-member ZADD ran 6 ms before the check); an EXEC's writes are in earlier
        // requests, so the check waits for it.
        let ran_unjudged: Vec<&[Vec<u8>]> = self
            .unjudged_ops(h)
            .filter(|op| op.run_wall_ms.is_some())
            .map(|op| op.request.as_slice())
            .collect();
        let mut in_flight = (0, 0);
        for request in ran_unjudged {
            match unjudged_write_bound(request, stored) {
                Some((bytes, new_keys)) => {
                    in_flight.0 += bytes;
                    in_flight.1 += new_keys;
                }
                None => return,
            }
        }
        stored += in_flight.0;
        keys += in_flight.1;
        let bound = stored * MEMORY_ESTIMATE_FACTOR
            + keys * MEMORY_ESTIMATE_PER_KEY_BYTES
            + MEMORY_ESTIMATE_SLACK_BYTES;
        if counted > bound {
            self.flag(
                Checker::Resource,
                ("memory-estimate", None),
                format!("host {h}: the node counts {counted} bytes of data, but the workload stored about {stored} bytes in {keys} keys (bound {bound})"),
            );
        }
    }

    /// The squeeze bound: memory stays near max(limit, usage at the first refusal).
    fn check_squeeze(&mut self, h: usize) {
        let used_after = self.drain.memory.used_after;
        if let Some(Squeeze {
            limit_bytes,
            used_at_first_refusal: Some(first),
        }) = self.oracles[h].squeeze
        {
            let bound = (limit_bytes as usize).max(first) + MEMORY_SLACK_BYTES;
            if used_after > bound && self.checks.resource {
                self.flag(Checker::Resource, ("squeeze-bound", None), format!(
                    "host {h}: used memory {used_after} exceeds the squeeze bound {bound} (limit {limit_bytes}, {first} at first refusal, slack {MEMORY_SLACK_BYTES})"
                ), );
            }
        }
    }

    /// Conn `id` to host `h`'s node closed. Requests the node ran whose replies it
    /// still held (for the fsync of `appendfsync always`) are lost with it: the
    /// model cannot know what they did (a -OOM refusal changes nothing, a write
    /// does), so when one may have written it stops judging this host.
    fn model_conn_closed(&mut self, h: usize, id: ConnId) {
        // A blocked request leaves with its connection having done nothing, unless
        // the node holds replies for it: a write may have served it, its reply held
        // for the fsync and now lost (chaos 0x3a8: an EXEC's ZADD served a blocked
        // BZMPOP, then its client gave up).
        let held = self.hosts[h]
            .node
            .as_ref()
            .is_some_and(|n| n.holds_reply_for(id));
        let blocked =
            (self.oracles[h].model.is_waiting(id) && !held) || !self.judging(Checker::Model);
        self.oracles[h].model.conn_closed(id);
        self.oracles[h].pubsub.conn_closed(id);
        // The keyspace notifications of a write whose reply is lost are unknown.
        for op in &self.history {
            if op.host == h
                && op.conn == id
                && op.run_wall_ms.is_some()
                && op.node_reply.is_none()
                && !is_read_only(&op.request)
            {
                let judged_before = op.judged_before_run.unwrap_or(0);
                self.oracles[h]
                    .pubsub
                    .lost_write(judged_before, &op.request);
            }
        }
        let lost = self.history.iter().find(|op| {
            op.host == h
                && op.conn == id
                && op.run_wall_ms.is_some()
                && op.node_reply.is_none()
                && !is_read_only(&op.request)
                && !(blocked && is_blocking(&op.request))
        });
        if let Some(op) = lost {
            if !self.oracles[h].model_off {
                log!(
                    self,
                    "host {h}: conn {id} closed before the node's reply to {} was judged: the model stops judging host {h}",
                    show(&op.request)
                );
                self.oracles[h].model_off = true;
            }
        }
    }

    /// Both ends see the connection gone; queued bytes are dropped. A host that asked
    /// for it and was never connected sees its connect fail.
    pub(crate) fn reset_conn(&mut self, id: ConnId) {
        let Some(x) = self.net.remove(id) else {
            return;
        };
        let h = x.acceptor;
        if x.acceptor_knows && self.hosts[h].node.is_some() {
            self.model_conn_closed(h, id);
            self.feed(
                h,
                Input::Closed {
                    conn: id,
                    reason: CloseReason::Dropped,
                },
            );
        }
        match x.initiator {
            End::Client(c) => {
                if x.initiator_open && self.clients[c].conn == Some(id) {
                    self.client_lost_conn(c);
                }
            }
            End::Host(i) => {
                if !x.initiator_open || !self.hosts[i].alive() {
                    return;
                }
                let conn = x.initiator_conn;
                let input = if x.connected {
                    Input::Closed {
                        conn,
                        reason: CloseReason::Error("Connection reset by peer".into()),
                    }
                } else {
                    Input::ConnectFailed {
                        conn,
                        error: "Connection refused".into(),
                    }
                };
                log!(self, "host {i}: conn {conn} reset ({input:?})");
                self.feed(i, input);
            }
        }
    }

    /// Connections with host `h` at either end.
    pub(crate) fn conns_of(&self, h: usize) -> Vec<ConnId> {
        self.net
            .conns
            .iter()
            .filter(|(_, c)| c.acceptor == h || c.initiator == End::Host(h))
            .map(|(&id, _)| id)
            .collect()
    }

    pub(crate) fn redeliver(&mut self, conns: Vec<ConnId>) {
        for conn in conns {
            for to_acceptor in [true, false] {
                self.schedule(self.now_ms, Event::Deliver { conn, to_acceptor });
            }
        }
    }
}

/// Every disk operation's latency (seeded within it).
const DISK_LATENCY: DiskLatency = DiskLatency {
    min_ms: 0,
    jitter_ms: 2,
};

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
    let options = crate::eviction_checks::checks_for(plan, options);
    let mut world = World::new(plan, options);
    world.run();
    world.block_books_finish();
    let clocks: Vec<WallClock> = world.hosts.iter().map(|h| h.clock.record.clone()).collect();
    let linearizability = options.checks.linearizability.then(|| {
        check_linearizability(
            &world.judged_history(),
            &clocks,
            world.now_ms,
            &world.recovered_strings,
        )
    });
    if let Some(v) = linearizability.as_ref().and_then(|r| r.violation.clone()) {
        world.flag(Checker::Linearizability, ("not-linearizable", None), v);
    }
    // Collection keys by their counts: one host (a replica's keys change by its
    // master's stream), and no eviction policy (keys would vanish under it).
    let evicting = plan
        .scenario
        .maxmemory_policy
        .as_deref()
        .is_some_and(|p| p != "noeviction");
    let mut linearizability = linearizability;
    if let Some(lin) = linearizability
        .as_mut()
        .filter(|_| plan.scenario.hosts == 1 && !evicting)
    {
        let counts = crate::lin_collections::check_collections(&world.judged_history());
        lin.histories += counts.histories;
        lin.ops += counts.ops;
        lin.too_big += counts.too_big;
        if let Some(v) = counts.violation {
            world.flag(Checker::Linearizability, ("collection-counts", None), v);
        }
    }
    let (elle, elle_failure) = if options.checks.elle {
        check_transactions(&world.history, &world.recovered_lists)
    } else {
        (None, None)
    };
    let elle_kind = elle
        .as_ref()
        .and_then(|e| e.report.anomalies.first())
        .map(elle::Anomaly::kind)
        .unwrap_or("anomaly");
    if let Some(report) = &elle {
        if report.unknown > 0 {
            world.reached.insert(reach::TXN_UNKNOWN);
        }
        if report.report.committed > 0 {
            world.reached.insert(reach::ELLE_RAN);
        }
    }
    if let Some(why) = elle_failure {
        world.flag(Checker::Elle, (elle_kind, None), why);
    }
    if options.checks.elle {
        let clocks: Vec<WallClock> = world.hosts.iter().map(|h| h.clock.record.clone()).collect();
        if let Some((kind, why)) = check_watch(&world.history, &world.loaded_at_run, &clocks) {
            let exec = [b"EXEC".to_vec()];
            world.flag(
                Checker::Elle,
                (kind, Some(&exec)),
                format!("WATCH rule: {why}"),
            );
        }
    }
    for oracle in &mut world.oracles {
        let seen = std::mem::take(&mut oracle.model.seen);
        world.reached.extend(seen);
        world
            .reached
            .extend(std::mem::take(&mut oracle.pubsub.seen));
    }
    for op in &world.history {
        if op.run_wall_ms.is_some() && op.node_reply.is_none() {
            if let Some(oracle) = world.oracles.get_mut(op.host) {
                oracle.pubsub.unanswered_publish(&op.request);
            }
        }
    }
    for h in 0..world.oracles.len() {
        if let Err((kind, why)) = world.oracles[h].pubsub.verdict() {
            world.flag(Checker::PubSub, (kind, None), format!("host {h}: {why}"));
        }
    }
    let mut coverage = crate::coverage::Coverage::default();
    coverage.count_history(&world.history);
    for host in &world.hosts {
        if let Some(node) = host.node.as_ref() {
            coverage.count_encodings(node);
        }
    }
    // Last: it lets time pass on the nodes, after every other judgment and count.
    for h in 0..world.hosts.len() {
        if !world.halted {
            world.check_lfu_decay(h);
        }
    }
    Outcome {
        coverage,
        seed: plan.seed,
        trace_hash: world.hash.0,
        history: world.history,
        verdicts: Checker::ALL
            .into_iter()
            .filter(|&c| options.checks.enabled(c))
            .map(|c| (c, world.verdicts.get(&c).map(|v| v.0.clone())))
            .collect(),
        signatures: world.verdicts.values().map(|v| v.1.clone()).collect(),
        signature: world
            .failed_checker
            .and_then(|c| world.verdicts.get(&c))
            .map(|v| v.1.clone()),
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
    first_catch_by(m, seeds, Checks::default()).map(|(name, seed, _)| (name, seed))
}

/// Like `first_catch` with only `checks` judging; also the checkers that rejected the
/// catching run.
#[cfg(feature = "mutants")]
pub fn first_catch_by(
    m: keel_core::mutants::Mutant,
    seeds: u64,
    checks: Checks,
) -> Option<(&'static str, u64, Vec<Checker>)> {
    let plant = |n: &mut Node| n.set_mutant(Some(m));
    (0..seeds).find_map(|seed| {
        let names = SCENARIOS
            .iter()
            .filter(|n| crate::scenario::in_mutant_matrix(n));
        names.into_iter().find_map(|name| {
            let out = run_plan(
                &Plan::generate(name, seed),
                RunOptions {
                    trace: false,
                    checks,
                    setup: &plant,
                },
            );
            out.failure.is_some().then(|| {
                let by = out
                    .verdicts
                    .iter()
                    .filter(|(_, v)| v.is_some())
                    .map(|(c, _)| *c)
                    .collect();
                (*name, seed, by)
            })
        })
    })
}

/// How many of `seeds` seeds of one scenario fail with mutant `m` planted, the first
/// of them and the checkers that rejected it (`keel-sim mutants --scenario NAME`).
#[cfg(feature = "mutants")]
pub fn catches_in(
    m: keel_core::mutants::Mutant,
    scenario: &str,
    seeds: u64,
) -> (u64, Option<(u64, Vec<Checker>)>) {
    let plant = |n: &mut Node| n.set_mutant(Some(m));
    let mut first = None;
    let mut caught = 0;
    for seed in 0..seeds {
        let out = run_plan(
            &Plan::generate(scenario, seed),
            RunOptions {
                trace: false,
                checks: Checks::default(),
                setup: &plant,
            },
        );
        if out.failure.is_none() {
            continue;
        }
        caught += 1;
        if first.is_none() {
            let by = out
                .verdicts
                .iter()
                .filter(|(_, v)| v.is_some())
                .map(|(c, _)| *c)
                .collect();
            first = Some((seed, by));
        }
    }
    (caught, first)
}

/// What a request that ran, but is not judged yet, can have added to the data, in the
/// model's reckoning (`Model::stored_bytes`): its arguments, each counted as a new
/// element or key; a command that copies what is stored (COPY, the *STORE family,
/// SORT) up to `stored` more; SETRANGE and SETBIT their offset. None for EXEC, whose
/// writes were queued by earlier requests.
pub(crate) fn unjudged_write_bound(request: &[Vec<u8>], stored: usize) -> Option<(usize, usize)> {
    let name = String::from_utf8_lossy(request.first()?).to_ascii_uppercase();
    if name == "EXEC" {
        return None;
    }
    let args = request.get(1..).unwrap_or_default();
    let mut bytes: usize = args.iter().map(|a| a.len() + 16).sum();
    if name == "COPY" || name == "SORT" || name.ends_with("STORE") {
        bytes += stored;
    }
    if name == "SETRANGE" || name == "SETBIT" {
        let offset = args
            .get(1)
            .and_then(|o| std::str::from_utf8(o).ok())
            .and_then(|o| o.parse::<usize>().ok())
            .unwrap_or(0);
        bytes = bytes.saturating_add(offset / if name == "SETBIT" { 8 } else { 1 });
    }
    Some((bytes, args.len()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elle;
    use crate::faults::*;
    use crate::net::{Block, End, Peer};
    use crate::workload;
    use keel_core::config::Config;

    fn assert_passed(out: &Outcome) {
        assert!(
            out.failure.is_none(),
            "{}\n{}",
            out.failure.clone().unwrap_or_default(),
            out.replay_line()
        );
    }

    /// chaos 0xad: a 130-member ZADD ran before the memory check, its reply not yet
    /// applied to the model; what a request in flight may add is bounded by its
    /// arguments, a copy by what is stored, and an EXEC waits.
    #[test]
    fn unjudged_writes_bound_what_they_add() {
        let req = |line: &str| -> Vec<Vec<u8>> {
            line.split(' ').map(|a| a.as_bytes().to_vec()).collect()
        };
        assert_eq!(
            unjudged_write_bound(&req("ZADD y0 0 m000 0 m001"), 500),
            Some((5 * 16 + 12, 5))
        );
        assert_eq!(
            unjudged_write_bound(&req("COPY a b"), 500),
            Some((2 * 17 + 500, 2))
        );
        assert_eq!(
            unjudged_write_bound(&req("SETRANGE x 1000 a"), 0),
            Some((17 + 20 + 17 + 1000, 3))
        );
        assert_eq!(unjudged_write_bound(&req("EXEC"), 0), None);
    }

    #[test]
    fn same_seed_twice_same_trace() {
        for name in SCENARIOS {
            // The trace hash covers the run, not the checkers that read it afterwards.
            let run = |name: &str, seed| {
                let options = RunOptions {
                    checks: Checks {
                        linearizability: false,
                        ..Checks::default()
                    },
                    ..RunOptions::default()
                };
                run_plan(&Plan::generate(name, seed), options)
            };
            for seed in 0..quick_sweep_seeds(name) / 2 {
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

    /// `--duration`: a stretched plan runs at least the requested simulated time,
    /// longer than the seed's own plan, and still passes.
    #[test]
    fn duration_lengthens_the_run() {
        let natural = run("plain-load", 3);
        let want_ms = natural.simulated_ms * 3 + 1_000;
        let plan = Plan::generate_for("plain-load", 3, want_ms);
        assert_eq!(plan.scenario.duration_ms, want_ms);
        assert!(plan.ops.len() > Plan::generate("plain-load", 3).ops.len());
        let long = run_plan(&plan, RunOptions::default());
        assert_passed(&long);
        assert!(
            long.simulated_ms >= want_ms,
            "asked for {want_ms} ms, ran {} ms",
            long.simulated_ms
        );
        assert!(long.history.len() > natural.history.len());
        // 0 is the scenario's own plan.
        assert_eq!(
            Plan::generate_for("chaos", 5, 0),
            Plan::generate("chaos", 5)
        );
    }

    #[test]
    fn quick_sweep_every_scenario() {
        for name in SCENARIOS {
            let mut reached = BTreeSet::new();
            for seed in 0..quick_sweep_seeds(name) {
                let out = run(name, seed);
                assert_passed(&out);
                assert!(!out.history.is_empty());
                reached.extend(out.reached.iter().copied());
            }
            let missing = missing_coverage(name, &reached);
            assert!(
                missing.is_empty(),
                "scenario {name} never reached {missing:?} in {} seeds",
                quick_sweep_seeds(name)
            );
        }
    }

    /// The persistence mutants, each caught by the durability checker in a seed that
    /// passes without it (so the catch is the mutant's, not a failure the build has
    /// anyway).
    #[cfg(feature = "mutants")]
    #[test]
    fn persistence_mutants_are_caught_by_the_durability_checker() {
        use keel_core::mutants::Mutant;
        let cases: [(Mutant, &[&str], u64, bool); 5] = [
            (Mutant::RdbCrcCheckSkipped, &["rdb-bit-rot"], 20, true),
            (
                Mutant::RenameBeforeFsync,
                &["rdb-bit-rot", "persist-crash"],
                60,
                true,
            ),
            (
                Mutant::ManifestBeforeBaseSynced,
                &["manifest-swap-crash"],
                40,
                true,
            ),
            (
                Mutant::RelativeExpiryInAof,
                &["persist-crash", "everysec-window"],
                40,
                true,
            ),
            // Not told apart from the build's own failures yet (see the notes).
            (
                Mutant::ReplyBeforeFsync,
                &["persist-crash", "fsync-eio"],
                20,
                false,
            ),
        ];
        for (m, scenarios, seeds, must) in cases {
            let plant = |n: &mut Node| n.set_mutant(Some(m));
            let caught = (0..seeds).find_map(|seed| {
                scenarios.iter().find_map(|name| {
                    let plan = Plan::generate(name, seed);
                    let out = run_plan(
                        &plan,
                        RunOptions {
                            setup: &plant,
                            ..RunOptions::default()
                        },
                    );
                    let sig = out
                        .signatures
                        .iter()
                        .find(|s| s.checker == Checker::Durability)?
                        .clone();
                    let clean = run_plan(&plan, RunOptions::default());
                    clean.failure.is_none().then_some((*name, seed, sig))
                })
            });
            eprintln!("{}: caught by {caught:?}", m.name());
            if must {
                assert!(caught.is_some(), "{} not caught", m.name());
            }
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
            fault(100, 300, Fault::Crash { host: 0 }),
            fault(150, 500, Fault::Pause { host: 0 }),
            fault(200, 50, Fault::Crash { host: 0 }),
            fault(350, 200, Fault::Crash { host: 0 }),
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
                fault: Fault::OneWayPartition {
                    from: Peer::Host(0),
                    to: Peer::Clients,
                },
            },
            PlannedFault {
                at_ms: 600,
                duration_ms: 400,
                fault: Fault::OneWayPartition {
                    from: Peer::Clients,
                    to: Peer::Host(0),
                },
            },
            PlannedFault {
                at_ms: 10,
                duration_ms: 900,
                fault: Fault::ClockDrift {
                    host: 0,
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
                host: 0,
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
                judged_before_run: None,
                delivered_ms: None,
                run_wall_ms: None,
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
        assert_eq!(check_transactions(&history, &Default::default()).1, None);
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
        let (report, failure) = check_transactions(&history, &Default::default());
        let failure = failure.expect("an anomaly");
        assert!(failure.contains("999999"), "{failure}");
        assert!(!report.expect("ran").report.ok());
    }

    /// A world with `hosts` hosts and nothing planned, keeping a trace.
    /// The WATCH rule passes a real run and rejects it once an aborted EXEC (its
    /// watched key written or expired) is doctored to have run.
    #[test]
    fn watch_rule_judges_what_ran() {
        let out = run("transactions", 3);
        assert_passed(&out);
        let history = out.history;
        assert_eq!(check_watch(&history, &Default::default(), &[]), None);
        let aborted: Vec<usize> = (0..history.len())
            .filter(|&i| {
                request_name(&history[i].request) == "EXEC"
                    && history[i].node_reply.as_deref() == Some(&b"*-1\r\n"[..])
            })
            .collect();
        assert!(!aborted.is_empty(), "no EXEC aborted by WATCH");
        // Some aborts the rule cannot explain (a key already expired when watched);
        // most it can, and each of those doctored to have run is a violation.
        let caught = aborted
            .iter()
            .filter(|&&i| {
                let mut doctored = history.clone();
                doctored[i].node_reply = Some(b"*0\r\n".to_vec());
                check_watch(&doctored, &Default::default(), &[])
                    .is_some_and(|(kind, _)| kind.starts_with("watch-ran-after"))
            })
            .count();
        assert!(caught * 2 >= aborted.len(), "{caught} of {}", aborted.len());
    }

    fn bare_world(hosts: usize) -> World<'static> {
        let mut plan = Plan::generate("hosts", 1);
        plan.scenario.hosts = hosts;
        plan.scenario.faults.clear();
        plan.ops.clear();
        World::new(
            &plan,
            RunOptions {
                trace: true,
                ..RunOptions::default()
            },
        )
    }

    fn lines(world: &World<'_>, what: &str) -> usize {
        let trace = world.trace.as_deref().unwrap_or_default();
        trace.iter().filter(|l| l.contains(what)).count()
    }

    /// Node-to-node connections, driven by a fake peer's effects (no node subsystem
    /// connects out yet): connect, bytes both ways, a partition that holds them, a
    /// crashed acceptor's reset, refusals; and a disk operation's one completion.
    #[test]
    fn hosts_connect_to_each_other_and_use_their_disks() {
        let mut world = bare_world(3);
        world.hosts[0].node = None;
        world.hosts[0].fake_peer = Some(Vec::new());
        let out: ConnId = (1 << 62) + 1;
        let addr = crate::host::Host::addr_of(1);
        world.execute(0, Effect::Connect { conn: out, addr });
        world.run_until(50);
        assert_eq!(
            lines(&world, &format!("host 0: connected conn {out} (to host 1)")),
            1
        );
        let accepted = world.net.resolve(0, out).map(|(id, _)| id).expect("open");
        let host1 = world.hosts[1].node.as_ref().expect("up");
        assert_eq!(
            host1.client_unwritten_bytes(accepted),
            Some(0),
            "host 1 accepted it"
        );
        // Host 0 writes a request; host 1's node answers, and the reply reaches host 0.
        let ping = b"*1\r\n$4\r\nPING\r\n".to_vec();
        let read = format!("host 0: reads 7 bytes on conn {out}");
        world.execute(
            0,
            Effect::Send {
                conn: out,
                bytes: ping.clone(),
            },
        );
        world.run_until(100);
        assert_eq!(lines(&world, &read), 1);
        // A partition between the two hosts holds the bytes until it heals.
        world.net.blocks.push(Block {
            fault: 0,
            from: Peer::Host(1),
            to: Peer::Host(0),
            both_ways: true,
        });
        world.execute(
            0,
            Effect::Send {
                conn: out,
                bytes: ping,
            },
        );
        world.run_until(200);
        assert_eq!(lines(&world, &read), 1, "held by the partition");
        world.net.blocks.clear();
        world.redeliver(vec![accepted]);
        world.run_until(300);
        assert_eq!(lines(&world, &read), 2, "delivered once healed");
        // Host 1 crashes: host 0 sees its connection reset, and a new one refused.
        world.crash(1);
        assert_eq!(
            lines(&world, &format!("host 0: conn {out} reset (Closed")),
            1
        );
        assert_eq!(world.net.resolve(0, out), None);
        world.execute(
            0,
            Effect::Connect {
                conn: out + 1,
                addr: crate::host::Host::addr_of(1),
            },
        );
        world.run_until(400);
        assert_eq!(
            lines(
                &world,
                &format!("host 0: conn {} reset (ConnectFailed", out + 1)
            ),
            1
        );
        // An address no host has is refused too.
        world.execute(
            0,
            Effect::Connect {
                conn: out + 2,
                addr: "10.9.9.9:6379".into(),
            },
        );
        world.run_until(500);
        assert_eq!(
            lines(
                &world,
                &format!("host 0: connect of conn {} refused", out + 2)
            ),
            1
        );
        // Host 2 was never involved.
        assert_eq!(lines(&world, "host 2:"), 0);
        // A disk operation is executed and answered once, after its latency.
        let open = keel_core::DiskOp::Open {
            path: "appendonly.aof".into(),
            create: true,
            truncate: false,
        };
        world.execute(
            2,
            Effect::Disk {
                io: keel_core::IoId(9),
                op: open,
            },
        );
        assert_eq!(world.hosts[2].disk.in_flight(), 1);
        world.run_until(600);
        assert_eq!(lines(&world, "host 2: disk io 9 done: Done"), 1);
        assert_eq!(
            world.hosts[2].disk.contents("appendonly.aof"),
            Some(&b""[..])
        );
        // What the fake peer was handed, in order.
        let inputs = world.hosts[0].fake_peer.clone().unwrap_or_default();
        let kinds: Vec<&str> = inputs.iter().filter_map(|i| i.split(' ').next()).collect();
        assert_eq!(
            kinds,
            [
                "Connected",
                "Data",
                "Data",
                "Closed",
                "ConnectFailed",
                "ConnectFailed"
            ],
            "{inputs:#?}"
        );
        let pong = format!("{:?}", b"+PONG\r\n");
        assert!(inputs[1].contains(&pong), "{}", inputs[1]);
        assert!(world.failure.is_none(), "{:?}", world.failure);
    }

    /// Replies are matched to requests per connection, in order, whenever their bytes
    /// come: a reply split over two sends completes when its last byte arrives, and a
    /// reply with no request awaiting it fails the run.
    #[test]
    fn replies_are_judged_in_order_whenever_they_arrive() {
        let mut world = bare_world(1);
        world.checks.model = false;
        let id = world.next_conn;
        world.next_conn += 1;
        world.net.open(&mut world.rng, 0, id, End::Client(0), id, 0);
        for (i, name) in ["GET", "SET"].into_iter().enumerate() {
            world.history.push(Op {
                client: 0,
                host: 0,
                conn: id,
                invoke_ms: 0,
                complete_ms: None,
                invoke_step: i as u64,
                complete_step: None,
                epoch: 0,
                request: vec![name.as_bytes().to_vec(), b"k".to_vec()],
                reply: Vec::new(),
                node_reply: None,
                run_seq: None,
                judged_before_run: None,
                delivered_ms: None,
                run_wall_ms: None,
                outcome: OpOutcome::Pending,
            });
            world
                .net
                .conns
                .get_mut(&id)
                .expect("open")
                .awaiting
                .push_back(i);
        }
        world.judge_output(0, id, b"$-1\r\n+O");
        assert_eq!(
            world.history[0].node_reply.as_deref(),
            Some(&b"$-1\r\n"[..])
        );
        assert_eq!(
            world.history[1].node_reply, None,
            "half a reply judges nothing"
        );
        world.judge_output(0, id, b"K\r\n");
        assert_eq!(
            world.history[1].node_reply.as_deref(),
            Some(&b"+OK\r\n"[..])
        );
        assert_eq!(world.history[1].run_seq, Some(2));
        assert!(world.failure.is_none());
        world.judge_output(0, id, b"+OK\r\n");
        let failure = world.failure.clone().unwrap_or_default();
        assert!(failure.contains("no request awaiting"), "{failure}");
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
        let files: [(&str, &str); 27] = [
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
            ("hosts", include_str!("../../seeds/hosts.txt")),
            ("encodings", include_str!("../../seeds/encodings.txt")),
            ("replication", include_str!("../../seeds/replication.txt")),
            ("repl-backlog", include_str!("../../seeds/repl-backlog.txt")),
            ("repl-crash", include_str!("../../seeds/repl-crash.txt")),
            ("repl-chain", include_str!("../../seeds/repl-chain.txt")),
            (
                "repl-failover",
                include_str!("../../seeds/repl-failover.txt"),
            ),
            (
                "repl-failover-force",
                include_str!("../../seeds/repl-failover-force.txt"),
            ),
            (
                "repl-min-replicas",
                include_str!("../../seeds/repl-min-replicas.txt"),
            ),
            (
                "repl-min-replicas-clock",
                include_str!("../../seeds/repl-min-replicas-clock.txt"),
            ),
            (
                "persist-crash",
                include_str!("../../seeds/persist-crash.txt"),
            ),
            (
                "everysec-window",
                include_str!("../../seeds/everysec-window.txt"),
            ),
            ("fsync-eio", include_str!("../../seeds/fsync-eio.txt")),
            (
                "aof-rewrite-crash",
                include_str!("../../seeds/aof-rewrite-crash.txt"),
            ),
            (
                "manifest-swap-crash",
                include_str!("../../seeds/manifest-swap-crash.txt"),
            ),
            (
                "bgsave-disk-full",
                include_str!("../../seeds/bgsave-disk-full.txt"),
            ),
            ("rdb-bit-rot", include_str!("../../seeds/rdb-bit-rot.txt")),
            (
                "repl-promote-rejoin",
                include_str!("../../seeds/repl-promote-rejoin.txt"),
            ),
            ("chaos", include_str!("../../seeds/chaos.txt")),
            ("ttl-index", include_str!("../../seeds/ttl-index.txt")),
        ];
        // Every scenario has its file.
        for name in SCENARIOS {
            assert!(
                files.iter().any(|(n, _)| n == name),
                "no seed file for {name}"
            );
        }
        for (name, text) in files {
            for line in text.lines() {
                // `0xSEED` or `0xSEED --duration SECS` (a failure a long run found).
                let line = line.split('#').next().unwrap_or("").trim();
                let mut words = line.split_whitespace();
                let Some(seed) = words.next() else {
                    continue;
                };
                let seed =
                    u64::from_str_radix(seed.trim_start_matches("0x"), 16).expect("hex seed");
                match (words.next(), words.next()) {
                    (None, _) => assert_passed(&run(name, seed)),
                    (Some("--duration"), Some(secs)) => {
                        let ms = secs.parse::<u64>().expect("seconds") * 1000;
                        let plan = Plan::generate_for(name, seed, ms);
                        assert_passed(&run_plan(&plan, RunOptions::default()));
                    }
                    other => panic!("{name}: bad seed line {line:?} ({other:?})"),
                }
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
        // (ttl-off-by-one is caught by linearizability alone too, at plain-load seed
        // 57: past this test's budget.)
        for m in [
            Mutant::SetAckedNotApplied,
            Mutant::LazyExpireReturnsStale,
            Mutant::IncrLosesPipelinedUpdate,
            Mutant::AppendRepliesOldLength,
            Mutant::DelCountsMissingKey,
            Mutant::ExistsSeesExpired,
        ] {
            let plant = |n: &mut Node| n.set_mutant(Some(m));
            let options = RunOptions {
                checks: Checks::none().with(Checker::Linearizability),
                setup: &plant,
                trace: false,
            };
            let caught = (0..SEEDS).find_map(|seed| {
                let mut names = SCENARIOS.iter().filter(|n| in_mutant_matrix(n));
                names.find_map(|name| {
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
    /// seeds (in some scenario). `seeds/mutants.txt` names a catching (scenario, seed)
    /// for each: that run is tried first (a witness, so CI need not search); a mutant
    /// without one, or whose witness no longer catches it (the workload changed), is
    /// searched for over every scenario's first `SEEDS_PER_MUTANT` seeds, and the line
    /// to put in the file is printed. The claim is the same either way.
    #[cfg(feature = "mutants")]
    #[test]
    fn mutants_are_caught() {
        use keel_core::mutants::Mutant;
        const SEEDS_PER_MUTANT: u64 = 200;
        let hints = mutant_hints(include_str!("../../seeds/mutants.txt"));
        let mut stale = Vec::new();
        // Caught with the model off: by a checker written apart from the model.
        let without_model = Checks {
            model: false,
            ..Checks::default()
        };
        for m in Mutant::ALL {
            let plant = |n: &mut Node| n.set_mutant(Some(m));
            let run = |scenario: &str, seed: u64| {
                run_plan(
                    &Plan::generate(scenario, seed),
                    RunOptions {
                        trace: false,
                        checks: without_model,
                        setup: &plant,
                    },
                )
            };
            let witness = hints
                .iter()
                .find(|(name, _, seed)| *name == m.name() && *seed < SEEDS_PER_MUTANT)
                .and_then(|(_, scenario, seed)| {
                    let scenario = SCENARIOS.iter().find(|s| *s == scenario)?;
                    let out = run(scenario, *seed);
                    out.failure.is_some().then_some((*scenario, *seed))
                });
            let caught = witness.or_else(|| {
                let found = first_catch_by(m, SEEDS_PER_MUTANT, without_model)
                    .map(|(name, seed, _)| (name, seed));
                if let Some((name, seed)) = found {
                    stale.push(format!("{} {name} {seed:#x}", m.name()));
                }
                found
            });
            eprintln!("{} caught (model off) by {caught:?}", m.name());
            // The catching run replays to the same failure, bit for bit.
            if let Some((name, seed)) = caught {
                let (a, b) = (run(name, seed), run(name, seed));
                assert!(a.failure.is_some(), "{}: {a:?}", m.name());
                assert_eq!(a.failure, b.failure);
                assert_eq!(a.trace_hash, b.trace_hash);
            }
            assert!(
                caught.is_some(),
                "mutant {} survived {SEEDS_PER_MUTANT} seeds of every scenario with the model off",
                m.name()
            );
        }
        if !stale.is_empty() {
            eprintln!(
                "seeds/mutants.txt lacks a catching witness for these; put in:\n{}",
                stale.join("\n")
            );
        }
    }

    /// The lines of `seeds/mutants.txt`: `<mutant> <scenario> <hex seed>`, `#` comments.
    #[cfg(feature = "mutants")]
    fn mutant_hints(text: &str) -> Vec<(&str, &str, u64)> {
        text.lines()
            .filter_map(|line| {
                let mut words = line.split('#').next()?.split_whitespace();
                let (m, s, seed) = (words.next()?, words.next()?, words.next()?);
                let seed = u64::from_str_radix(seed.trim_start_matches("0x"), 16).ok()?;
                Some((m, s, seed))
            })
            .collect()
    }

    #[cfg(feature = "mutants")]
    #[test]
    fn mutant_hint_lines_parse() {
        let hints = mutant_hints("# c\nset-acked-not-applied plain-load 0x1f # by model\n\nbad\n");
        assert_eq!(hints, vec![("set-acked-not-applied", "plain-load", 0x1f)]);
    }
    #[test]
    fn a_batch_grows_by_its_replies_and_queued_commands() {
        let req: Vec<Vec<u8>> = ["LRANGE", "t1", "0", "-1"]
            .iter()
            .map(|w| w.as_bytes().to_vec())
            .collect();
        // keel counts the queued LRANGE as 80 bytes (its 11 argument bytes in a
        // 16-byte buffer, 4 ranges of 16), Redis as 4 objects and sds headers; the
        // QUEUED reply adds 9 more.
        let grown = batch_growth_bytes(&req, b"+QUEUED\r\n");
        assert!(grown >= 80 + 9, "{grown}");
        assert!(grown < 1_000, "a bound, not a blank cheque: {grown}");
        assert_eq!(
            batch_growth_bytes(&req, b"*0\r\n"),
            8,
            "not queued: the reply only"
        );
    }

    #[test]
    fn an_exec_refused_for_memory_is_plausible_when_the_queue_is_unknown() {
        let req = |line: &str| -> Vec<Vec<u8>> {
            line.split(' ').map(|w| w.as_bytes().to_vec()).collect()
        };
        let exec = req("EXEC");
        let rpush = vec![req("RPUSH t 1")];
        let reads = vec![req("LRANGE t 0 -1")];
        assert!(oom_refusable(&exec, true, true, Some(&rpush)));
        assert!(!oom_refusable(&exec, true, true, Some(&reads)));
        // The model stopped judging: it cannot say the queue held no write.
        assert!(oom_refusable(&exec, true, true, None));
        assert!(
            !oom_refusable(&exec, false, true, None),
            "EXEC gets EXECABORT"
        );
        assert!(!oom_refusable(&req("DISCARD"), false, true, None));
        assert!(oom_refusable(&req("SET k v"), false, false, Some(&[])));
        assert!(!oom_refusable(&req("GET k"), false, false, Some(&[])));
        assert!(oom_refusable(&req("GET k"), false, true, Some(&[])));
        assert!(!oom_refusable(&req("SET k v"), true, false, Some(&[])));
    }
}
