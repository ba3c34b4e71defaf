//! The traffic-spike run: a cache under `allkeys-lru` at its `maxmemory` takes a
//! burst of new keys (the seed incident's shape). One node, one client, driven
//! directly (no network faults): a cache-aside client reads a hot set (refilling a
//! miss with SET) and writes cold keys; in the spike it writes a burst of new keys.
//! The report is per window of requests: hit ratio of the hot reads, evictions (DELs
//! on the propagation stream: the client deletes nothing and sets no TTL, so every
//! DEL is an eviction) and used memory.

use keel_core::config::Config;
use keel_core::{Effect, Input, Listener, Node, NodeSeeds, Now};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::workload::{encode, Framer};

const CONN: u64 = 1;
const HOT_KEYS: usize = 200;
const VALUE_BYTES: usize = 100;
const WINDOW_REQUESTS: usize = 400;
/// Simulated time per request (the LRU clock has one-second resolution).
const MS_PER_REQUEST: u64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Warm,
    Spike,
    Recover,
}

#[derive(Debug, Clone)]
pub struct Window {
    pub phase: Phase,
    pub hot_reads: u64,
    pub hits: u64,
    pub evictions: u64,
    pub used_memory: usize,
    pub maxmemory: u64,
}

impl Window {
    pub fn hit_ratio(&self) -> f64 {
        if self.hot_reads == 0 {
            return 0.0;
        }
        self.hits as f64 / self.hot_reads as f64
    }
}

struct Driver {
    node: Node,
    now: Now,
    framer: Framer,
}

impl Driver {
    fn new(seed: u64) -> Driver {
        let now = Now {
            mono_ms: 1_000,
            wall_ms: 1_700_000_000_000,
        };
        let seeds = NodeSeeds {
            rng_seed: seed,
            hash_seeds: [seed, seed ^ 1, seed ^ 2, seed ^ 3],
        };
        let mut node = Node::new(Config::default(), seeds, now);
        node.enable_propagation();
        node.handle(
            now,
            Input::Accepted {
                conn: CONN,
                listener: Listener::Client,
                peer: "127.0.0.1:1".into(),
                local: "127.0.0.1:6379".into(),
                peer_is_loopback: true,
            },
        );
        let mut d = Driver {
            node,
            now,
            framer: Framer::default(),
        };
        d.drain();
        d
    }

    fn drain(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(effect) = self.node.poll_effect() {
            if let Effect::Send { conn, bytes } = effect {
                self.node.handle(
                    self.now,
                    Input::Written {
                        conn,
                        bytes: bytes.len(),
                    },
                );
                out.extend_from_slice(&bytes);
            }
        }
        out
    }

    /// One request; its reply.
    fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.now.mono_ms += MS_PER_REQUEST;
        self.now.wall_ms += MS_PER_REQUEST;
        let request: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
        let bytes = encode(&request);
        self.node.handle(
            self.now,
            Input::Data {
                conn: CONN,
                bytes: &bytes,
            },
        );
        let out = self.drain();
        self.framer.push(&out);
        self.framer.next_reply().ok().flatten().unwrap_or_default()
    }

    fn evictions(&mut self) -> u64 {
        self.node
            .take_propagated()
            .iter()
            .filter(|r| {
                r.argv.first().is_some_and(|n| {
                    n.eq_ignore_ascii_case(b"DEL") || n.eq_ignore_ascii_case(b"UNLINK")
                })
            })
            .count() as u64
    }
}

/// Runs the spike for `seed`: `warm`, `spike` and `recover` windows in turn.
pub fn run(seed: u64, warm: usize, spike: usize, recover: usize) -> Vec<Window> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut d = Driver::new(seed);
    d.call(&[b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lru"]);
    let value = vec![b'v'; VALUE_BYTES];
    for i in 0..HOT_KEYS {
        d.call(&[b"SET", format!("hot:{i}").as_bytes(), &value]);
    }
    // Room for the hot set and about as many cold keys again.
    let limit = (d.node.used_memory_bytes() + HOT_KEYS * (VALUE_BYTES + 64)) as u64;
    d.call(&[
        b"CONFIG",
        b"SET",
        b"maxmemory",
        limit.to_string().as_bytes(),
    ]);
    d.evictions();
    let phases = std::iter::repeat_n(Phase::Warm, warm)
        .chain(std::iter::repeat_n(Phase::Spike, spike))
        .chain(std::iter::repeat_n(Phase::Recover, recover));
    let mut cold = 0u64;
    let mut windows = Vec::new();
    for phase in phases {
        let hot_share = match phase {
            Phase::Warm | Phase::Recover => 0.9,
            Phase::Spike => 0.2,
        };
        let mut w = Window {
            phase,
            hot_reads: 0,
            hits: 0,
            evictions: 0,
            used_memory: 0,
            maxmemory: limit,
        };
        for _ in 0..WINDOW_REQUESTS {
            if rng.gen_bool(hot_share) {
                let key = format!("hot:{}", rng.gen_range(0..HOT_KEYS));
                let reply = d.call(&[b"GET", key.as_bytes()]);
                w.hot_reads += 1;
                if reply.starts_with(b"$-1") {
                    d.call(&[b"SET", key.as_bytes(), &value]);
                } else {
                    w.hits += 1;
                }
            } else {
                cold += 1;
                d.call(&[b"SET", format!("cold:{cold}").as_bytes(), &value]);
            }
            w.evictions += d.evictions();
        }
        w.used_memory = d.node.used_memory_bytes();
        windows.push(w);
    }
    windows
}

/// The LFU decay check, from OBJECT FREQ alone: under `allkeys-lfu` with
/// `lfu-decay-time 1`, a key read 200 times then left idle for 30 minutes reads a
/// lower frequency than before the idle time (Redis decays the counter by one per
/// decay period on access). `plant` is applied to the node first (a mutant).
/// Ok((before, after)) or the broken rule.
pub fn lfu_decay_check(seed: u64, plant: &dyn Fn(&mut Node)) -> Result<(u64, u64), String> {
    let mut d = Driver::new(seed);
    plant(&mut d.node);
    d.call(&[b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lfu"]);
    d.call(&[b"CONFIG", b"SET", b"lfu-decay-time", b"1"]);
    d.call(&[b"SET", b"k", b"v"]);
    for _ in 0..200 {
        d.call(&[b"GET", b"k"]);
    }
    let freq = |d: &mut Driver| -> Result<u64, String> {
        let reply = d.call(&[b"OBJECT", b"FREQ", b"k"]);
        std::str::from_utf8(&reply)
            .ok()
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|r| r.trim_end().parse().ok())
            .ok_or_else(|| format!("OBJECT FREQ replied {:?}", String::from_utf8_lossy(&reply)))
    };
    let before = freq(&mut d)?;
    d.now.mono_ms += 30 * 60 * 1000;
    d.now.wall_ms += 30 * 60 * 1000;
    let after = freq(&mut d)?;
    if after >= before {
        return Err(format!(
            "OBJECT FREQ {before} before 30 idle minutes (lfu-decay-time 1), {after} after: the counter did not decay"
        ));
    }
    Ok((before, after))
}

/// The report's table.
pub fn report(windows: &[Window]) -> String {
    let mut out = String::from("window phase    hit-ratio evictions used/maxmemory\n");
    for (i, w) in windows.iter().enumerate() {
        out.push_str(&format!(
            "{i:>6} {:<8} {:>9.2} {:>9} {}/{}\n",
            format!("{:?}", w.phase).to_lowercase(),
            w.hit_ratio(),
            w.evictions,
            w.used_memory,
            w.maxmemory
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lfu_counter_decays_over_idle_time() {
        let (before, after) = lfu_decay_check(3, &|_| {}).unwrap_or_else(|e| panic!("{e}"));
        assert!(before > 5 && after < before, "{before} -> {after}");
    }

    #[cfg(feature = "mutants")]
    #[test]
    fn the_lfu_decay_check_catches_lfu_never_decays() {
        use keel_core::mutants::Mutant;
        let plant = |n: &mut Node| n.set_mutant(Some(Mutant::LfuNeverDecays));
        let verdict = lfu_decay_check(3, &plant);
        assert!(verdict.is_err(), "lfu-never-decays survived: {verdict:?}");
    }

    #[test]
    fn the_cache_survives_a_spike_and_its_hot_set_recovers() {
        let windows = run(7, 3, 3, 4);
        eprintln!("{}", report(&windows));
        let slack = 16 * 1024;
        for w in &windows {
            assert!(
                w.used_memory <= w.maxmemory as usize + slack,
                "memory over the limit: {w:?}"
            );
        }
        let spike: u64 = windows
            .iter()
            .filter(|w| w.phase == Phase::Spike)
            .map(|w| w.evictions)
            .sum();
        assert!(spike > 0, "the spike evicted nothing");
        let last = windows.last().map(Window::hit_ratio).unwrap_or(0.0);
        assert!(last >= 0.8, "the hot set did not recover: {last:.2}");
        // The same seed, the same windows.
        assert_eq!(report(&run(7, 3, 3, 4)), report(&windows));
    }
}
