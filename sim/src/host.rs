//! One simulated host: a node (absent while crashed), its clocks (a skewed, jumpable
//! wall clock and a monotonic clock whose rate can drift), the seeds its node boots
//! from, its disk and its health. It never schedules events or judges replies; the
//! world does both.

use keel_core::config::Config;
use keel_core::{Node, NodeSeeds, Now};
use rand_chacha::ChaCha8Rng;

use crate::checkers::WallClock;
use crate::disk::{Disk, DiskFaults, DiskLatency};
use crate::faults::Fault;

/// What a host is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Up,
    /// Handles nothing; bytes and completions wait.
    Paused,
    /// Its node is gone; connections to it are refused; it restarts from its disk.
    Crashed,
}

/// A host's clocks as functions of simulated time.
#[derive(Debug)]
pub struct HostClock {
    pub start_wall_ms: u64,
    pub wall_offset_ms: i64,
    /// Every wall offset it had, for the linearizability checker's time windows.
    pub record: WallClock,
    /// The highest wall time the node was handed.
    pub max_wall_ms: u64,
    /// The rate the scenario gave it, back in force when every drift ends.
    pub base_rate_permille: u64,
    /// The monotonic clock: `mono_base_ms` at simulated `mono_base_at_ms`, running at
    /// `mono_rate_permille` since.
    pub mono_rate_permille: u64,
    mono_base_ms: u64,
    mono_base_at_ms: u64,
    pub drift_rates: Vec<u64>,
    last_mono_ms: u64,
}

impl HostClock {
    pub fn new(start_wall_ms: u64, skew_ms: i64, rate_permille: u64) -> HostClock {
        HostClock {
            start_wall_ms,
            wall_offset_ms: skew_ms,
            record: WallClock {
                start_wall_ms,
                offsets: vec![(0, skew_ms)],
            },
            max_wall_ms: 0,
            base_rate_permille: rate_permille.max(1),
            mono_rate_permille: rate_permille.max(1),
            mono_base_ms: 0,
            mono_base_at_ms: 0,
            drift_rates: Vec::new(),
            last_mono_ms: 0,
        }
    }

    fn wall_at(&self, now_ms: u64) -> u64 {
        ((self.start_wall_ms + now_ms) as i64 + self.wall_offset_ms).max(0) as u64
    }

    /// The clocks at `now_ms` without recording them as handed out (for bookkeeping
    /// inputs that read no clock, so they leave the clock checks as they were).
    pub fn peek(&self, now_ms: u64) -> Now {
        Now {
            mono_ms: self.mono_at(now_ms).max(self.last_mono_ms),
            wall_ms: self.wall_at(now_ms),
        }
    }

    /// The clocks handed to the node at `now_ms`. The monotonic clock cannot go back
    /// by construction (rate changes rebase it), so there is no check of it here: a
    /// check of the world's own arithmetic proves nothing about the node.
    pub fn read(&mut self, now_ms: u64) -> Now {
        let wall_ms = self.wall_at(now_ms);
        self.max_wall_ms = self.max_wall_ms.max(wall_ms);
        let mono_ms = self.mono_at(now_ms).max(self.last_mono_ms);
        self.last_mono_ms = mono_ms;
        Now { mono_ms, wall_ms }
    }

    /// The monotonic clock at simulated time `t_ms` (not before the last rate change).
    pub fn mono_at(&self, t_ms: u64) -> u64 {
        let elapsed = t_ms.saturating_sub(self.mono_base_at_ms);
        self.mono_base_ms + elapsed * self.mono_rate_permille / 1000
    }

    /// The simulated time at which the monotonic clock reaches `mono_ms`.
    pub fn sim_time_of_mono(&self, mono_ms: u64) -> u64 {
        let ahead = mono_ms.saturating_sub(self.mono_base_ms);
        let rate = self.mono_rate_permille.max(1);
        self.mono_base_at_ms + (ahead * 1000).div_ceil(rate)
    }

    pub fn set_mono_rate(&mut self, now_ms: u64, rate_permille: u64) {
        self.mono_base_ms = self.mono_at(now_ms);
        self.mono_base_at_ms = now_ms;
        self.mono_rate_permille = rate_permille.max(1);
    }

    pub fn jump_wall(&mut self, now_ms: u64, delta_ms: i64) {
        self.wall_offset_ms += delta_ms;
        self.record.offsets.push((now_ms, self.wall_offset_ms));
    }
}

pub struct Host {
    pub id: usize,
    /// `ip:port` other nodes connect to.
    pub addr: String,
    pub node: Option<Node>,
    /// The seeds every boot of this host derives its node's seeds from.
    pub seeds: NodeSeeds,
    pub clock: HostClock,
    pub disk: Disk,
    /// Crashes so far (a boot's number).
    pub epoch: u32,
    /// Pauses and crashes may overlap: counted, not flagged.
    pub pauses_active: u32,
    /// Exits of its node in this run (a node that keeps exiting at boot is, after
    /// `MAX_EXITS`, treated as one that refuses its files).
    pub exits: u32,
    pub crashes_active: u32,
    /// An operator's SHUTDOWN was sent: the node's exit (code 0) is expected, and it
    /// restarts from its disk.
    pub shutdown_asked: bool,
    /// A fake peer for the world's tests: a host with no node that records the
    /// inputs it is handed (what a node subsystem not yet written would see).
    pub fake_peer: Option<Vec<String>>,
    /// Bumped at every pause and crash: timers and completions of an older
    /// generation are stale.
    pub generation: u64,
    /// Disk faults in force: (the plan's fault index, the fault, the disk's bytes
    /// when it started).
    pub disk_faults: Vec<(usize, Fault, u64)>,
}

impl Host {
    pub fn new(id: usize, seeds: NodeSeeds, clock: HostClock, disk: DiskLatency) -> Host {
        Host {
            id,
            addr: Host::addr_of(id),
            node: None,
            seeds,
            clock,
            disk: Disk::new(disk),
            epoch: 0,
            pauses_active: 0,
            crashes_active: 0,
            shutdown_asked: false,
            exits: 0,
            fake_peer: None,
            generation: 0,
            disk_faults: Vec::new(),
        }
    }

    /// Recomputes the disk's faults from those in force (the harshest of each kind).
    pub fn refresh_disk_faults(&mut self) {
        let mut faults = DiskFaults::default();
        for (_, fault, used_at_start) in &self.disk_faults {
            match *fault {
                Fault::FsyncFails { permille, .. } => {
                    faults.fsync_eio_permille = faults.fsync_eio_permille.max(permille.min(1000))
                }
                Fault::DiskFull { headroom_bytes, .. } => {
                    let cap = used_at_start.saturating_add(headroom_bytes);
                    faults.capacity_bytes = Some(faults.capacity_bytes.map_or(cap, |c| c.min(cap)));
                }
                Fault::SlowDisk { extra_ms, .. } => {
                    faults.extra_latency_ms = faults.extra_latency_ms.max(extra_ms)
                }
                _ => {}
            }
        }
        self.disk.faults = faults;
    }

    pub fn addr_of(id: usize) -> String {
        format!("10.0.1.{}:6379", id + 1)
    }

    /// It has a node, or stands in for one.
    pub fn alive(&self) -> bool {
        self.node.is_some() || self.fake_peer.is_some()
    }

    pub fn health(&self) -> Health {
        if !self.alive() {
            Health::Crashed
        } else if self.pauses_active > 0 {
            Health::Paused
        } else {
            Health::Up
        }
    }

    /// The seeds of this boot: the host's own, mixed with the boot's number (a
    /// restarted process draws new randomness, reproducibly).
    pub fn boot_seeds(&self) -> NodeSeeds {
        let boot = u64::from(self.epoch).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        NodeSeeds {
            rng_seed: self.seeds.rng_seed ^ boot,
            hash_seeds: self.seeds.hash_seeds.map(|s| s ^ boot.rotate_left(7)),
        }
    }

    /// Boots a node at `now` with the scenario's `config` directives; it loads
    /// whatever its disk holds through its disk effects (the world executes them).
    pub fn boot(
        &mut self,
        now: Now,
        config: &[(String, String)],
        setup: &dyn Fn(&mut Node),
        small_index_scale: bool,
    ) -> Result<NodeSeeds, String> {
        let seeds = self.boot_seeds();
        // keel-server's built-in `save ""`: no save points unless a scenario sets them.
        let mut settings = Config::default();
        let _ = settings.apply_text("save \"\"");
        for (name, value) in config {
            settings.set(&[(name.as_bytes(), value.as_bytes())])?;
        }
        let mut node = Node::new(settings, seeds, now);
        if small_index_scale {
            node.set_index_scale(keel_core::keyspace::IndexScale::SMALL);
        }
        setup(&mut node);
        node.enable_propagation();
        // An empty disk has nothing to load (and no -LOADING window to answer in).
        if self.disk.files().next().is_some() {
            node.boot(now, keel_core::keyspace::HashSeeds(seeds.hash_seeds));
        }
        self.node = Some(node);
        Ok(seeds)
    }

    /// Power loss: the node is dropped, the disk keeps what a real one would.
    pub fn crash(&mut self, rng: &mut ChaCha8Rng) {
        self.node = None;
        self.epoch += 1;
        self.generation += 1;
        self.disk.crash(rng);
    }
}

/// The node is still loading its dataset from disk (the recovery is judged once it
/// is not).
pub fn loading(node: &Node) -> bool {
    node.is_loading()
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_core::{DiskOp, DiskResult};
    use rand::SeedableRng;

    #[test]
    fn a_crash_drops_the_node_and_a_restart_keeps_the_disk() {
        let seeds = NodeSeeds {
            rng_seed: 7,
            hash_seeds: [1, 2, 3, 4],
        };
        let latency = DiskLatency {
            min_ms: 0,
            jitter_ms: 0,
        };
        let mut host = Host::new(0, seeds, HostClock::new(1_000, 0, 1000), latency);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        assert_eq!(host.health(), Health::Crashed);
        let first = host
            .boot(host.clock.peek(0), &[], &|_| {}, false)
            .expect("boots");
        assert_eq!(host.health(), Health::Up);
        host.pauses_active = 1;
        assert_eq!(host.health(), Health::Paused);
        host.pauses_active = 0;
        for op in [
            DiskOp::Open {
                path: "f".into(),
                create: true,
                truncate: false,
            },
            DiskOp::Append {
                path: "f".into(),
                bytes: b"kept".to_vec(),
            },
            DiskOp::Fsync { path: "f".into() },
            DiskOp::Fsync { path: ".".into() },
        ] {
            assert_eq!(host.disk.execute(op), DiskResult::Done { read: vec![] });
        }
        host.crash(&mut rng);
        assert_eq!(host.health(), Health::Crashed);
        assert_eq!((host.epoch, host.generation), (1, 1));
        let second = host
            .boot(host.clock.peek(10), &[], &|_| {}, false)
            .expect("boots");
        assert_ne!(
            first.rng_seed, second.rng_seed,
            "a restart draws new node seeds"
        );
        assert_eq!(host.disk.contents("f"), Some(&b"kept"[..]));
    }

    #[test]
    fn clocks_drift_jump_and_never_run_backwards() {
        let mut clock = HostClock::new(1_000_000, -500, 1000);
        assert_eq!(
            clock.read(100),
            Now {
                mono_ms: 100,
                wall_ms: 999_600
            }
        );
        clock.set_mono_rate(100, 2000);
        assert_eq!(clock.mono_at(200), 300);
        assert_eq!(clock.sim_time_of_mono(300), 200);
        clock.jump_wall(200, -1_000);
        assert_eq!(clock.read(200).wall_ms, 998_700);
        assert_eq!(clock.max_wall_ms, 999_600);
        assert_eq!(clock.record.offsets, vec![(0, -500), (200, -1_500)]);
    }
}
