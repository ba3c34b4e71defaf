//! Faults: the plan's fault kinds, each naming the host or the pair of peers it hits,
//! and how the world starts and ends each one (pauses, crashes, partitions, clock
//! jumps, memory squeezes). It changes hosts and the network; it never judges a reply.

use keel_core::Node;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::model::Model;
use crate::net::{Block, ConnId, Peer};
use crate::scenario::reach;
use crate::world::{log, Event, Squeeze, World};

/// How long a node that exited stays down before it is started again.
const EXIT_RESTART_MS: u64 = 100;
/// How long an operator waits before retrying a command its node could not take.
const OPERATOR_RETRY_MS: u64 = 50;
/// Exits of one host's node before the world moves its files aside.
const MAX_EXITS: u32 = 8;

fn clients() -> Peer {
    Peer::Clients
}

/// A fault in the plan. Paths name two peers (every client, or a host); a path's
/// default is the clients and host 0, and a host's default is host 0.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Fault {
    /// Black-hole the path between `a` and `b`: bytes wait until it heals.
    Partition {
        #[serde(default = "clients")]
        a: Peer,
        #[serde(default)]
        b: Peer,
    },
    /// Multiply latency.
    SlowLink { factor: u64 },
    /// Reset one client's connection (both sides see it closed).
    ResetConn { client: usize },
    /// A partition that resets every connection between `a` and `b` instead of
    /// black-holing it.
    ResetAll {
        #[serde(default = "clients")]
        a: Peer,
        #[serde(default)]
        b: Peer,
    },
    /// The host handles nothing; bytes and completions queue up.
    Pause {
        #[serde(default)]
        host: usize,
    },
    /// The host loses power: its node is dropped, its disk keeps what it synced; it
    /// restarts from its disk when the fault ends.
    Crash {
        #[serde(default)]
        host: usize,
    },
    /// The host's wall clock jumps (TTLs are on wall time).
    ClockJump {
        #[serde(default)]
        host: usize,
        delta_ms: i64,
    },
    /// `maxmemory` lowered below (`deep`) or just above current use, then restored.
    Squeeze {
        #[serde(default)]
        host: usize,
        deep: bool,
    },
    /// One direction black-holed, the other delivered: bytes from `from` to `to` wait.
    OneWayPartition {
        #[serde(default = "clients")]
        from: Peer,
        #[serde(default)]
        to: Peer,
    },
    /// The host's monotonic clock runs at `rate_permille` / 1000 of real time.
    ClockDrift {
        #[serde(default)]
        host: usize,
        rate_permille: u64,
    },
    /// Each fsync of a file fails with EIO with probability `permille` / 1000 while it
    /// lasts; what was unsynced stays unsynced.
    FsyncFails {
        #[serde(default)]
        host: usize,
        permille: u32,
    },
    /// The disk fills: writes past its bytes at the start plus `headroom_bytes` fail
    /// with ENOSPC while it lasts.
    DiskFull {
        #[serde(default)]
        host: usize,
        headroom_bytes: u64,
    },
    /// Latency spikes: every disk operation takes up to `extra_ms` longer.
    SlowDisk {
        #[serde(default)]
        host: usize,
        extra_ms: u64,
    },
    /// One byte of a file at rest flips (bit rot), in an RDB file (`.rdb`) when
    /// `rdb_only`, else in any durable file.
    BitRot {
        #[serde(default)]
        host: usize,
        #[serde(default)]
        rdb_only: bool,
    },
    /// An operator's `BGSAVE` (over a connection outside the history).
    Bgsave {
        #[serde(default)]
        host: usize,
    },
    /// An operator's `SHUTDOWN SAVE` (a rolling restart): the node saves, exits, and
    /// is started again from its disk shortly after.
    Shutdown {
        #[serde(default)]
        host: usize,
    },
    /// An operator's `BGREWRITEAOF` (over a connection outside the history).
    RewriteAof {
        #[serde(default)]
        host: usize,
    },
    /// An operator's `REPLICAOF <master's address>` to `host`.
    ReplicaOf { host: usize, master: usize },
    /// An operator's `REPLICAOF NO ONE` to `host`: a replica promoted by hand.
    ReplicaOfNoOne { host: usize },
    /// An operator's `FAILOVER [TO <to's address>] [TIMEOUT ms] [FORCE]` to `host`
    /// (a master): the target (or the first synced replica) becomes the master and
    /// `host` its replica.
    Failover {
        host: usize,
        #[serde(default)]
        to: Option<usize>,
        #[serde(default)]
        timeout_ms: Option<u64>,
        #[serde(default)]
        force: bool,
    },
}

impl Fault {
    /// A name for counting faults by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition { .. } => "partition",
            Fault::SlowLink { .. } => "slow link",
            Fault::ResetConn { .. } => "connection reset",
            Fault::ResetAll { .. } => "resetting partition",
            Fault::Pause { .. } => "pause",
            Fault::Crash { .. } => "crash",
            Fault::ClockJump { .. } => "clock jump",
            Fault::Squeeze { .. } => "memory squeeze",
            Fault::OneWayPartition { .. } => "one-way partition",
            Fault::ClockDrift { .. } => "clock drift",
            Fault::FsyncFails { .. } => "fsync EIO",
            Fault::DiskFull { .. } => "disk full",
            Fault::SlowDisk { .. } => "slow disk",
            Fault::BitRot { .. } => "bit rot",
            Fault::Bgsave { .. } => "BGSAVE",
            Fault::Shutdown { .. } => "SHUTDOWN",
            Fault::RewriteAof { .. } => "BGREWRITEAOF",
            Fault::ReplicaOf { .. } => "REPLICAOF",
            Fault::ReplicaOfNoOne { .. } => "REPLICAOF NO ONE",
            Fault::Failover { .. } => "FAILOVER",
        }
    }

    /// The hosts the fault names (a plan is valid only if they exist).
    pub fn hosts(&self) -> Vec<usize> {
        let of = |p: &Peer| match p {
            Peer::Host(h) => Some(*h),
            Peer::Clients => None,
        };
        match self {
            Fault::Partition { a, b }
            | Fault::ResetAll { a, b }
            | Fault::OneWayPartition { from: a, to: b } => of(a).into_iter().chain(of(b)).collect(),
            Fault::Pause { host }
            | Fault::Crash { host }
            | Fault::ClockJump { host, .. }
            | Fault::Squeeze { host, .. }
            | Fault::ClockDrift { host, .. }
            | Fault::FsyncFails { host, .. }
            | Fault::DiskFull { host, .. }
            | Fault::SlowDisk { host, .. }
            | Fault::BitRot { host, .. }
            | Fault::Bgsave { host }
            | Fault::Shutdown { host }
            | Fault::RewriteAof { host }
            | Fault::ReplicaOfNoOne { host } => vec![*host],
            Fault::ReplicaOf { host, master } => vec![*host, *master],
            Fault::Failover { host, to, .. } => std::iter::once(*host).chain(*to).collect(),
            Fault::SlowLink { .. } | Fault::ResetConn { .. } => Vec::new(),
        }
    }
}

/// One planned fault: starts at `at_ms`, ends `duration_ms` later (0: instantaneous).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedFault {
    pub at_ms: u64,
    pub duration_ms: u64,
    pub fault: Fault,
}

impl World<'_> {
    pub(crate) fn fault_start(&mut self, index: usize) {
        let Some(f) = self.scenario.faults.get(index).cloned() else {
            return;
        };
        if f.fault.hosts().iter().any(|&h| h >= self.hosts.len()) {
            return self.fail(format!("fault {:?} names a host the world lacks", f.fault));
        }
        log!(self, "fault starts: {:?} for {} ms", f.fault, f.duration_ms);
        match f.fault {
            Fault::Partition { a, b } => self.net.blocks.push(Block {
                fault: index,
                from: a,
                to: b,
                both_ways: true,
            }),
            Fault::SlowLink { factor } => {
                self.slow_factors.push(factor);
                self.net.link.slow_factor = self.slow_factors.iter().copied().max().unwrap_or(1);
            }
            Fault::ResetConn { client } => {
                if let Some(conn) = self.clients.get(client).and_then(|c| c.conn) {
                    self.reached.insert(reach::CONN_RESET);
                    self.reset_conn(conn);
                }
            }
            Fault::ResetAll { a, b } => {
                let block = Block {
                    fault: index,
                    from: a,
                    to: b,
                    both_ways: true,
                };
                let conns: Vec<ConnId> = self
                    .net
                    .conns
                    .iter()
                    .filter(|(_, c)| block.joins(c.initiator, c.acceptor))
                    .map(|(&id, _)| id)
                    .collect();
                if !conns.is_empty() {
                    self.reached.insert(reach::CONN_RESET);
                }
                for conn in conns {
                    self.reset_conn(conn);
                }
            }
            Fault::Pause { host } => {
                let host = &mut self.hosts[host];
                host.pauses_active += 1;
                host.generation += 1;
            }
            Fault::Crash { host } => self.crash(host),
            Fault::ClockJump { host, delta_ms } => {
                self.hosts[host].clock.jump_wall(self.now_ms, delta_ms);
                if delta_ms < 0 {
                    self.reached.insert(reach::CLOCK_JUMP_BACK);
                }
            }
            Fault::Squeeze { host, deep } => self.squeeze_start(host, deep),
            Fault::OneWayPartition { from, to } => self.net.blocks.push(Block {
                fault: index,
                from,
                to,
                both_ways: false,
            }),
            Fault::ClockDrift {
                host,
                rate_permille,
            } => {
                let clock = &mut self.hosts[host].clock;
                clock.drift_rates.push(rate_permille);
                clock.set_mono_rate(self.now_ms, rate_permille);
            }
            Fault::FsyncFails { host, .. }
            | Fault::DiskFull { host, .. }
            | Fault::SlowDisk { host, .. } => {
                let used = self.hosts[host].disk.used_bytes();
                self.hosts[host]
                    .disk_faults
                    .push((index, f.fault.clone(), used));
                self.hosts[host].refresh_disk_faults();
            }
            Fault::BitRot { host, rdb_only } => {
                let rotted = self.hosts[host]
                    .disk
                    .rot(&mut self.rng, |name| !rdb_only || name.ends_with(".rdb"));
                match rotted {
                    Some((file, offset)) => {
                        self.reached.insert(reach::BIT_ROT);
                        log!(self, "host {host}: bit rot flips byte {offset} of {file}");
                    }
                    None => log!(self, "host {host}: bit rot found no file at rest"),
                }
            }
            Fault::Bgsave { host } => self.operator(host, &["BGSAVE"]),
            Fault::Shutdown { host } => {
                if self.operator_busy(host) {
                    log!(
                        self,
                        "host {host}: SHUTDOWN deferred (node down, paused or loading)"
                    );
                    return self
                        .schedule(self.now_ms + OPERATOR_RETRY_MS, Event::FaultStart { index });
                }
                self.hosts[host].shutdown_asked = true;
                self.operator(host, &["SHUTDOWN", "SAVE"]);
            }
            Fault::ReplicaOf { host, master } => {
                // An operator whose node is down, paused or still loading its files
                // (it would answer -LOADING, as Redis does) tries again later.
                if self.operator_busy(host) {
                    log!(
                        self,
                        "host {host}: REPLICAOF deferred (node down, paused or loading)"
                    );
                    return self
                        .schedule(self.now_ms + OPERATOR_RETRY_MS, Event::FaultStart { index });
                }
                let addr = crate::host::Host::addr_of(master);
                let (ip, port) = addr.split_once(':').unwrap_or((addr.as_str(), "6379"));
                let (ip, port) = (ip.to_string(), port.to_string());
                self.operator(host, &["REPLICAOF", &ip, &port]);
            }
            Fault::RewriteAof { host } => self.operator(host, &["BGREWRITEAOF"]),
            Fault::ReplicaOfNoOne { host } => {
                if self.operator_busy(host) {
                    log!(
                        self,
                        "host {host}: REPLICAOF NO ONE deferred (node down, paused or loading)"
                    );
                    return self
                        .schedule(self.now_ms + OPERATOR_RETRY_MS, Event::FaultStart { index });
                }
                if self.hosts[host].node.as_ref().is_some_and(Node::is_replica) {
                    self.reached.insert(reach::PROMOTED_BY_REPLICAOF);
                }
                self.operator(host, &["REPLICAOF", "NO", "ONE"]);
            }
            Fault::Failover {
                host,
                to,
                timeout_ms,
                force,
            } => {
                let mut args = vec!["FAILOVER".to_string()];
                if let Some(to) = to {
                    let addr = crate::host::Host::addr_of(to);
                    let (ip, port) = addr.split_once(':').unwrap_or((addr.as_str(), "6379"));
                    args.extend(["TO".to_string(), ip.to_string(), port.to_string()]);
                }
                if let Some(ms) = timeout_ms {
                    args.extend(["TIMEOUT".to_string(), ms.to_string()]);
                }
                if force {
                    args.push("FORCE".to_string());
                }
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                self.operator(host, &args);
            }
        }
        if f.duration_ms > 0 {
            self.schedule(self.now_ms + f.duration_ms, Event::FaultEnd { index });
        }
    }

    /// Host `h` loses power. A crash while already down changes nothing: the node is
    /// gone already, and the one restart comes when the last crash ends.
    pub(crate) fn crash(&mut self, h: usize) {
        self.hosts[h].crashes_active += 1;
        if self.hosts[h].node.is_none() {
            return;
        }
        log!(self, "host {h}: node crashes");
        self.compare_shadow(h);
        self.note_crash(h);
        self.hosts[h].crash(&mut self.rng);
        let oracle = &mut self.oracles[h];
        oracle.shadow = None;
        oracle.squeeze = None;
        let seen = std::mem::take(&mut oracle.model.seen);
        oracle.model = Model::new(0);
        oracle.model_off = false;
        oracle.stale_since.clear();
        self.reached.extend(seen);
        for conn in self.conns_of(h) {
            self.reset_conn(conn);
        }
    }

    /// Host `h`'s node refused to start from its disk: as an operator would, the
    /// world moves the files aside (a fresh, empty disk) and starts it again.
    pub(crate) fn restart_wiped(&mut self, h: usize) {
        log!(
            self,
            "host {h}: files moved aside, node restarts on an empty disk"
        );
        self.crash(h);
        self.hosts[h].crashes_active = self.hosts[h].crashes_active.saturating_sub(1);
        self.hosts[h].disk.wipe();
        self.durable[h].reset_known_empty();
        self.boot(h);
        let generation = self.hosts[h].generation;
        self.schedule(
            self.now_ms,
            Event::Tick {
                host: h,
                generation,
            },
        );
    }

    /// Host `h`'s node exited on its own (not a power loss: the disk keeps
    /// everything written); it restarts from its disk after `EXIT_RESTART_MS`.
    pub(crate) fn exited(&mut self, h: usize, exit_code: i32) {
        log!(self, "host {h}: node exits with code {exit_code}");
        self.reached.insert(reach::NODE_EXITED);
        self.compare_shadow(h);
        self.note_crash(h);
        let host = &mut self.hosts[h];
        host.node = None;
        host.epoch += 1;
        host.generation += 1;
        host.disk.process_exit();
        let oracle = &mut self.oracles[h];
        oracle.shadow = None;
        oracle.squeeze = None;
        let seen = std::mem::take(&mut oracle.model.seen);
        oracle.model = Model::new(0);
        oracle.model_off = false;
        oracle.stale_since.clear();
        self.reached.extend(seen);
        for conn in self.conns_of(h) {
            self.reset_conn(conn);
        }
        self.hosts[h].exits += 1;
        if self.hosts[h].exits > MAX_EXITS {
            // A node that exits again and again (an I/O error at every boot) would
            // loop forever; an operator moves the files aside instead.
            self.hosts[h].exits = 0;
            return self.restart_wiped(h);
        }
        let epoch = self.hosts[h].epoch;
        self.schedule(
            self.now_ms + EXIT_RESTART_MS,
            Event::Restart { host: h, epoch },
        );
    }

    pub(crate) fn restart_after_exit(&mut self, h: usize, epoch: u32) {
        let host = &self.hosts[h];
        if host.epoch != epoch || host.node.is_some() || host.crashes_active > 0 {
            return;
        }
        log!(
            self,
            "host {h}: node restarts after its exit (from its disk)"
        );
        self.boot(h);
        let generation = self.hosts[h].generation;
        self.schedule(
            self.now_ms,
            Event::Tick {
                host: h,
                generation,
            },
        );
    }

    fn squeeze_start(&mut self, h: usize, deep: bool) {
        let Some(node) = self.hosts[h].node.as_mut() else {
            return;
        };
        let used = node.used_memory_bytes() as u64;
        let limit = if deep {
            used.saturating_sub(self.rng.gen_range(64 * 1024..256 * 1024))
                .max(1)
        } else {
            used + self.rng.gen_range(0..512)
        };
        if let Err(e) = set_maxmemory(node, limit) {
            return self.fail(format!("CONFIG SET maxmemory {limit} failed: {e}"));
        }
        self.oracles[h].squeeze = Some(Squeeze {
            limit_bytes: limit,
            used_at_first_refusal: None,
        });
    }

    pub(crate) fn fault_end(&mut self, index: usize) {
        let Some(f) = self.scenario.faults.get(index).cloned() else {
            return;
        };
        log!(self, "fault ends: {:?}", f.fault);
        match f.fault {
            Fault::Partition { .. } | Fault::OneWayPartition { .. } => {
                self.net.blocks.retain(|b| b.fault != index);
                let (both_ways, others) = match f.fault {
                    Fault::Partition { a, b } => (true, (a, b)),
                    Fault::OneWayPartition { from, to } => (false, (from, to)),
                    _ => return,
                };
                let still =
                    self.net.blocks.iter().any(|b| {
                        b.both_ways == both_ways && (!both_ways || (b.from, b.to) == others)
                    });
                if !still {
                    self.reached.insert(if both_ways {
                        reach::PARTITION_HEALED
                    } else {
                        reach::ONE_WAY_HEALED
                    });
                    if both_ways && matches!(others, (Peer::Host(_), Peer::Host(_))) {
                        self.reached.insert(reach::HOST_PARTITION_HEALED);
                    }
                }
                let conns: Vec<ConnId> = self.net.conns.keys().copied().collect();
                self.redeliver(conns);
            }
            Fault::SlowLink { factor } => {
                if let Some(pos) = self.slow_factors.iter().position(|&f| f == factor) {
                    self.slow_factors.remove(pos);
                }
                self.net.link.slow_factor = self.slow_factors.iter().copied().max().unwrap_or(1);
            }
            Fault::Pause { host: h } => {
                let host = &mut self.hosts[h];
                host.pauses_active = host.pauses_active.saturating_sub(1);
                if host.pauses_active > 0 {
                    return;
                }
                self.reached.insert(reach::PAUSE_RESUMED);
                let conns = self.conns_of(h);
                self.redeliver(conns);
                let generation = self.hosts[h].generation;
                self.schedule(
                    self.now_ms,
                    Event::Tick {
                        host: h,
                        generation,
                    },
                );
                if self.hosts[h].disk.in_flight() > 0 {
                    self.schedule(self.now_ms, Event::Disk { host: h });
                }
                let epoch = self.hosts[h].epoch;
                for conn in std::mem::take(&mut self.deferred_refusals[h]) {
                    self.schedule(
                        self.now_ms,
                        Event::Refused {
                            host: h,
                            conn,
                            epoch,
                        },
                    );
                }
            }
            Fault::Crash { host: h } => {
                let host = &mut self.hosts[h];
                host.crashes_active = host.crashes_active.saturating_sub(1);
                if host.crashes_active == 0 && host.node.is_none() {
                    log!(self, "host {h}: node restarts (from its disk)");
                    self.boot(h);
                    self.reached.insert(reach::CRASH_RESTART);
                    let generation = self.hosts[h].generation;
                    self.schedule(
                        self.now_ms,
                        Event::Tick {
                            host: h,
                            generation,
                        },
                    );
                }
            }
            Fault::Squeeze { host: h, .. } => {
                self.oracles[h].squeeze = None;
                if let Some(node) = self.hosts[h].node.as_mut() {
                    if let Err(e) = set_maxmemory(node, 0) {
                        self.fail(format!("CONFIG SET maxmemory 0 failed: {e}"));
                    }
                }
            }
            Fault::ClockDrift {
                host,
                rate_permille,
            } => {
                let clock = &mut self.hosts[host].clock;
                if let Some(pos) = clock.drift_rates.iter().position(|&r| r == rate_permille) {
                    clock.drift_rates.remove(pos);
                }
                let rate = clock
                    .drift_rates
                    .last()
                    .copied()
                    .unwrap_or(clock.base_rate_permille);
                clock.set_mono_rate(self.now_ms, rate);
            }
            Fault::FsyncFails { host, .. }
            | Fault::DiskFull { host, .. }
            | Fault::SlowDisk { host, .. } => {
                self.hosts[host].disk_faults.retain(|(i, _, _)| *i != index);
                self.hosts[host].refresh_disk_faults();
            }
            Fault::ResetConn { .. }
            | Fault::ResetAll { .. }
            | Fault::ClockJump { .. }
            | Fault::BitRot { .. }
            | Fault::Bgsave { .. }
            | Fault::Shutdown { .. }
            | Fault::RewriteAof { .. }
            | Fault::ReplicaOf { .. }
            | Fault::ReplicaOfNoOne { .. }
            | Fault::Failover { .. } => {}
        }
    }
}

pub(crate) fn set_maxmemory(node: &mut Node, limit_bytes: u64) -> Result<(), String> {
    let value = limit_bytes.to_string();
    node.config_mut()
        .set(&[(b"maxmemory".as_slice(), value.as_bytes())])
        .map_err(|e| format!("{e:?}"))?;
    node.config_changed();
    Ok(())
}
