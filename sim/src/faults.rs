//! Faults: the plan's fault kinds and how the world starts and ends each one (pauses,
//! crashes, partitions, clock jumps, memory squeezes). It changes the world's hosts and
//! network only through their own methods; it never judges a reply.

use keel_core::Node;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::model::Model;
use crate::net::ConnId;
use crate::scenario::reach;
use crate::world::{log, Event, Squeeze, World};

/// A fault in the plan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Fault {
    /// Black-hole the link: bytes wait until it heals.
    Partition,
    /// Multiply latency.
    SlowLink { factor: u64 },
    /// Reset one client's connection (both sides see it closed).
    ResetConn { client: usize },
    /// A partition that resets every connection instead of black-holing it.
    ResetAll,
    /// The node handles nothing; bytes queue up.
    Pause,
    /// The node's state is dropped; it restarts empty when the fault ends.
    Crash,
    /// The node's wall clock jumps (TTLs are on wall time).
    ClockJump { delta_ms: i64 },
    /// `maxmemory` lowered below (`deep`) or just above current use, then restored.
    Squeeze { deep: bool },
    /// One direction black-holed, the other delivered: client -> node when `to_node`,
    /// node -> client otherwise.
    OneWayPartition { to_node: bool },
    /// The node's monotonic clock runs at `rate_permille` / 1000 of real time.
    ClockDrift { rate_permille: u64 },
}

impl Fault {
    /// A name for counting faults by kind.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::Partition => "partition",
            Fault::SlowLink { .. } => "slow link",
            Fault::ResetConn { .. } => "connection reset",
            Fault::ResetAll => "resetting partition",
            Fault::Pause => "pause",
            Fault::Crash => "crash",
            Fault::ClockJump { .. } => "clock jump",
            Fault::Squeeze { .. } => "memory squeeze",
            Fault::OneWayPartition { .. } => "one-way partition",
            Fault::ClockDrift { .. } => "clock drift",
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
        log!(self, "fault starts: {:?} for {} ms", f.fault, f.duration_ms);
        match f.fault {
            Fault::Partition => {
                self.partitions_active += 1;
                self.net.link.blackholed = true;
            }
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
            Fault::ResetAll => {
                let conns: Vec<ConnId> = self.net.conns.keys().copied().collect();
                if !conns.is_empty() {
                    self.reached.insert(reach::CONN_RESET);
                }
                for conn in conns {
                    self.reset_conn(conn);
                }
            }
            Fault::Pause => {
                self.pauses_active += 1;
                self.paused = true;
                self.generation += 1;
            }
            Fault::Crash => {
                self.crashes_active += 1;
                // A crash while already down changes nothing: the dataset is gone
                // already, and the one restart comes when the last crash ends.
                if self.node.is_none() {
                    return self.schedule_fault_end(index, f.duration_ms);
                }
                self.log("node crashes".into());
                self.epoch += 1;
                self.compare_shadow();
                self.node = None;
                self.shadow = None;
                self.generation += 1;
                self.squeeze = None;
                let seen = std::mem::take(&mut self.model.seen);
                self.reached.extend(seen);
                self.model = Model::new(0);
                let conns: Vec<ConnId> = self.net.conns.keys().copied().collect();
                for conn in conns {
                    self.reset_conn(conn);
                }
            }
            Fault::ClockJump { delta_ms } => {
                self.wall_offset_ms += delta_ms;
                self.clock.offsets.push((self.now_ms, self.wall_offset_ms));
                if delta_ms < 0 {
                    self.reached.insert(reach::CLOCK_JUMP_BACK);
                }
            }
            Fault::Squeeze { deep } => self.squeeze_start(deep),
            Fault::OneWayPartition { to_node } => {
                self.one_way_active[usize::from(!to_node)] += 1;
            }
            Fault::ClockDrift { rate_permille } => {
                self.drift_rates.push(rate_permille);
                self.set_mono_rate(rate_permille);
            }
        }
        self.schedule_fault_end(index, f.duration_ms);
    }

    pub(crate) fn schedule_fault_end(&mut self, index: usize, duration_ms: u64) {
        if duration_ms > 0 {
            self.schedule(self.now_ms + duration_ms, Event::FaultEnd { index });
        }
    }

    pub(crate) fn squeeze_start(&mut self, deep: bool) {
        let Some(node) = self.node.as_mut() else {
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
        self.squeeze = Some(Squeeze {
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
            Fault::Partition => {
                self.partitions_active = self.partitions_active.saturating_sub(1);
                if self.partitions_active > 0 {
                    return;
                }
                self.net.link.blackholed = false;
                self.reached.insert(reach::PARTITION_HEALED);
                self.redeliver_all(true);
                self.redeliver_all(false);
            }
            Fault::SlowLink { factor } => {
                if let Some(pos) = self.slow_factors.iter().position(|&f| f == factor) {
                    self.slow_factors.remove(pos);
                }
                self.net.link.slow_factor = self.slow_factors.iter().copied().max().unwrap_or(1);
            }
            Fault::Pause => {
                self.pauses_active = self.pauses_active.saturating_sub(1);
                if self.pauses_active > 0 {
                    return;
                }
                self.paused = false;
                self.reached.insert(reach::PAUSE_RESUMED);
                self.redeliver_all(true);
                let generation = self.generation;
                self.schedule(self.now_ms, Event::Tick { generation });
            }
            Fault::Crash => {
                self.crashes_active = self.crashes_active.saturating_sub(1);
                if self.crashes_active == 0 && self.node.is_none() {
                    self.log("node restarts (empty)".into());
                    let node = self.new_node();
                    self.node = Some(node);
                    self.reached.insert(reach::CRASH_RESTART);
                    let generation = self.generation;
                    self.schedule(self.now_ms, Event::Tick { generation });
                }
            }
            Fault::Squeeze { .. } => {
                self.squeeze = None;
                if let Some(node) = self.node.as_mut() {
                    if let Err(e) = set_maxmemory(node, 0) {
                        self.fail(format!("CONFIG SET maxmemory 0 failed: {e}"));
                    }
                }
            }
            Fault::OneWayPartition { to_node } => {
                let active = &mut self.one_way_active[usize::from(!to_node)];
                *active = active.saturating_sub(1);
                if *active == 0 {
                    self.reached.insert(reach::ONE_WAY_HEALED);
                    self.redeliver_all(to_node);
                }
            }
            Fault::ClockDrift { rate_permille } => {
                if let Some(pos) = self.drift_rates.iter().position(|&r| r == rate_permille) {
                    self.drift_rates.remove(pos);
                }
                let rate = self
                    .drift_rates
                    .last()
                    .copied()
                    .unwrap_or(self.scenario.clock.mono_rate_permille);
                self.set_mono_rate(rate);
            }
            Fault::ResetConn { .. } | Fault::ResetAll | Fault::ClockJump { .. } => {}
        }
    }

    pub(crate) fn redeliver_all(&mut self, to_node: bool) {
        let conns: Vec<ConnId> = self.net.conns.keys().copied().collect();
        for conn in conns {
            self.schedule(self.now_ms, Event::Deliver { conn, to_node });
        }
    }
}

pub(crate) fn set_maxmemory(node: &mut Node, limit_bytes: u64) -> Result<(), String> {
    let value = limit_bytes.to_string();
    node.config
        .set(&[(b"maxmemory".as_slice(), value.as_bytes())])
        .map_err(|e| format!("{e:?}"))?;
    node.config_changed();
    Ok(())
}
