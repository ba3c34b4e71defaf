//! Eviction checkers: they judge a node under `maxmemory` from outside — from the
//! propagation stream (an evicted key becomes a DEL or UNLINK of its own, as Redis
//! propagates it to replicas and the AOF), from the replies, and (the memory bound
//! only) from `used_memory` — never from the node's eviction counters.
//!
//! A DEL/UNLINK record is classified against the shadow node (fed the same stream,
//! so at that record it holds what the node held): a key no request of the same input
//! named for writing, present, and not past its TTL was evicted. Then:
//! - under `noeviction`, no key is ever evicted;
//! - under `volatile-*`, no key without a TTL is evicted;
//! - an evicted key reads as missing on every read path until a request writes it
//!   again (no resurrection);
//! - under `allkeys-*`, memory is back under the limit (or the keyspace is empty)
//!   within `MEMORY_BOUND_COMMANDS` commands.

use std::collections::BTreeSet;

use keel_core::config::MaxmemoryPolicy;
use keel_core::propagate::Propagated;
use keel_core::Now;

use crate::checkers::Checker;
use crate::scenario::Plan;
use crate::workload::is_read_only;
use crate::world::{RunOptions, World};

/// Every policy, in the order the memory-squeeze scenario assigns them by seed.
pub const POLICIES: [&str; 8] = [
    "noeviction",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
];

/// The policy the memory-squeeze scenario runs seed `seed` under (no draw from the
/// plan's generator, so every other choice of a seed's plan stays as it was).
pub fn policy_for_seed(seed: u64) -> &'static str {
    POLICIES[(seed % POLICIES.len() as u64) as usize]
}

pub fn parse_policy(name: &str) -> MaxmemoryPolicy {
    match name {
        "allkeys-lru" => MaxmemoryPolicy::AllkeysLru,
        "allkeys-lfu" => MaxmemoryPolicy::AllkeysLfu,
        "allkeys-random" => MaxmemoryPolicy::AllkeysRandom,
        "volatile-lru" => MaxmemoryPolicy::VolatileLru,
        "volatile-lfu" => MaxmemoryPolicy::VolatileLfu,
        "volatile-random" => MaxmemoryPolicy::VolatileRandom,
        "volatile-ttl" => MaxmemoryPolicy::VolatileTtl,
        _ => MaxmemoryPolicy::NoEviction,
    }
}

/// Coverage: the propagation stream carried an eviction.
pub const KEY_EVICTED: &str = "a key was evicted (seen on the propagation stream)";

/// Coverage: a node under `maxmemory` with `appendonly yes` was compared with its
/// AOF loaded beside it.
pub const AOF_MATCHED: &str = "an evicting node's AOF loaded to its dataset";

/// Ticks a node loading an AOF beside the checked one may take (a sweep's files are
/// small; a hang is a bug).
const AOF_LOAD_MAX_TICKS: u32 = 100_000;

/// Whether the memory-squeeze scenario runs seed `seed` with `appendonly yes`
/// (`appendfsync everysec`: under `always` replies wait for the fsync, and the OOM
/// check times a refusal by its reply): one seed in three, so every policy gets both
/// within 24 seeds (3 and 8 are coprime), and a 3-seed sweep has one.
pub fn aof_for_seed(seed: u64) -> bool {
    seed % 3 == 2
}

/// Coverage: an LFU node's OBJECT FREQ was read across idle time and judged.
pub const LFU_DECAY_JUDGED: &str = "an LFU counter's decay over idle time was judged";
/// TOUCHes the LFU probe gives its key (the counter then sits well above its initial
/// 5, so a decay has room to show).
const LFU_PROBE_TOUCHES: usize = 300;
/// Idle time between the probe's two OBJECT FREQ reads: three periods at the
/// default `lfu-decay-time` of one minute.
const LFU_PROBE_IDLE_MS: u64 = 3 * 60 * 1000;
/// The probe's connection id, far from the world's.
const PROBE_CONN: u64 = u64::MAX - 1;

/// A client wired straight to a node (no network): the end-of-run probes' requests.
struct Probe {
    now: Now,
    framer: crate::workload::Framer,
}

impl Probe {
    fn open(node: &mut keel_core::Node, now: Now) -> Probe {
        node.handle(
            now,
            keel_core::Input::Accepted {
                conn: PROBE_CONN,
                listener: keel_core::Listener::Client,
                peer: "127.0.0.1:2".into(),
                local: "127.0.0.1:6379".into(),
                peer_is_loopback: true,
            },
        );
        let mut p = Probe {
            now,
            framer: crate::workload::Framer::default(),
        };
        p.drain(node);
        p
    }

    /// Takes the node's effects: the probe's replies are kept, the rest (writes to
    /// other clients, disk, propagation) dropped: the run is over.
    fn drain(&mut self, node: &mut keel_core::Node) {
        while let Some(effect) = node.poll_effect() {
            if let keel_core::Effect::Send { conn, bytes } = effect {
                let written = keel_core::Input::Written {
                    conn,
                    bytes: bytes.len(),
                };
                node.handle(self.now, written);
                if conn == PROBE_CONN {
                    self.framer.push(&bytes);
                }
            }
        }
    }

    fn call(&mut self, node: &mut keel_core::Node, args: &[&[u8]]) -> Vec<u8> {
        let request: Vec<Vec<u8>> = args.iter().map(|a| a.to_vec()).collect();
        let bytes = crate::workload::encode(&request);
        let input = keel_core::Input::Data {
            conn: PROBE_CONN,
            bytes: &bytes,
        };
        node.handle(self.now, input);
        self.drain(node);
        self.framer.next_reply().ok().flatten().unwrap_or_default()
    }

    fn freq(&mut self, node: &mut keel_core::Node, key: &[u8]) -> Option<u64> {
        let reply = self.call(node, &[b"OBJECT", b"FREQ", key]);
        std::str::from_utf8(&reply)
            .ok()?
            .strip_prefix(':')?
            .trim_end()
            .parse()
            .ok()
    }
}

/// Commands a node under an `allkeys-*` policy may run over its limit (by more than
/// `MEMORY_BOUND_SLACK_BYTES`) with keys left to evict.
pub const MEMORY_BOUND_COMMANDS: u64 = 64;
pub const MEMORY_BOUND_SLACK_BYTES: usize = 16 * 1024;

/// What the shadow held for a key right before a DEL/UNLINK record of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyView {
    Absent,
    Persistent,
    /// A TTL; `expired`: past it at the node's wall time.
    Volatile {
        expired: bool,
    },
}

/// A rule broken: (signature, message).
pub type Violation = (&'static str, String);

/// The checkers' state for one host (reset when its node boots).
#[derive(Debug, Default)]
pub struct EvictOracle {
    pub policy: MaxmemoryPolicy,
    /// Keys evicted and not written since: (db, key). Keys are db 0's for reads (the
    /// workload does not SELECT).
    evicted: BTreeSet<(usize, Vec<u8>)>,
    /// Keys named by write requests run since the last stream was taken.
    written_this_input: BTreeSet<Vec<u8>>,
    /// Inside a propagated MULTI (its DELs are a transaction's).
    in_multi: bool,
    /// Commands run while over the limit, since memory was last under it.
    over_for_commands: Option<u64>,
    pub evictions_seen: u64,
    /// The world's run count when the memory bound last looked.
    pub runs_seen: u64,
}

fn is_cmd(request: &[Vec<u8>], name: &[u8]) -> bool {
    request
        .first()
        .is_some_and(|n| n.eq_ignore_ascii_case(name))
}

/// What a read of a missing key replies, for the reads the check knows; None: not a
/// single-key read.
fn missing_reply(request: &[Vec<u8>]) -> Option<&'static [u8]> {
    let name = request.first()?.to_ascii_uppercase();
    let one_key = request.len() == 2;
    Some(match name.as_slice() {
        b"GET" if one_key => b"$-1\r\n",
        b"EXISTS" | b"STRLEN" | b"LLEN" | b"SCARD" | b"ZCARD" | b"HLEN" if one_key => b":0\r\n",
        b"TTL" | b"PTTL" if one_key => b":-2\r\n",
        b"TYPE" if one_key => b"+none\r\n",
        b"HGETALL" | b"SMEMBERS" if one_key => b"*0\r\n",
        b"LRANGE" | b"ZRANGE" if request.len() == 4 => b"*0\r\n",
        _ => return None,
    })
}

impl EvictOracle {
    pub fn new(policy: MaxmemoryPolicy) -> EvictOracle {
        EvictOracle {
            policy,
            ..EvictOracle::default()
        }
    }

    /// A request delivered whole (run in this input): a write's keys are not taken
    /// for evictions in this input's stream, and their evictions are forgotten.
    pub fn on_delivered(&mut self, request: &[Vec<u8>], read_only: bool) {
        if read_only {
            return;
        }
        for key in request.iter().skip(1) {
            self.written_this_input.insert(key.clone());
            self.evicted.remove(&(0, key.clone()));
        }
    }

    /// A request the node ran, with its reply: a write forgets its keys' evictions
    /// (and keeps them from being taken for evictions in this input's stream); a read
    /// of an evicted key must find it missing.
    pub fn on_reply(
        &mut self,
        request: &[Vec<u8>],
        reply: &[u8],
        read_only: bool,
    ) -> Option<Violation> {
        if !read_only {
            for key in request.iter().skip(1) {
                self.written_this_input.insert(key.clone());
                self.evicted.remove(&(0, key.clone()));
            }
            return None;
        }
        let want = missing_reply(request)?;
        let (name, key) = (request.first()?, request.get(1)?);
        if self.evicted.contains(&(0, key.clone())) && reply != want && !reply.starts_with(b"-") {
            return Some((
                "evicted-key-resurrected",
                format!(
                    "{} {} read {:?} after the key was evicted (and not written since); a missing key reads {:?}",
                    String::from_utf8_lossy(name),
                    String::from_utf8_lossy(key),
                    String::from_utf8_lossy(reply),
                    String::from_utf8_lossy(want),
                ),
            ));
        }
        None
    }

    /// One propagated record, before the shadow applies it; `view`: what the shadow
    /// holds for `argv[1]` (only asked for a DEL/UNLINK outside MULTI).
    pub fn on_record(
        &mut self,
        db: usize,
        argv: &[Vec<u8>],
        view: impl FnOnce(&[u8]) -> KeyView,
    ) -> Option<Violation> {
        if is_cmd(argv, b"MULTI") {
            self.in_multi = true;
            return None;
        }
        if is_cmd(argv, b"EXEC") {
            self.in_multi = false;
            return None;
        }
        let del = is_cmd(argv, b"DEL") || is_cmd(argv, b"UNLINK");
        if !del || self.in_multi || argv.len() != 2 {
            return None;
        }
        let key = &argv[1];
        if self.written_this_input.contains(key) {
            return None;
        }
        let has_ttl = match view(key) {
            KeyView::Absent | KeyView::Volatile { expired: true } => return None,
            KeyView::Persistent => false,
            KeyView::Volatile { expired: false } => true,
        };
        self.evictions_seen += 1;
        self.evicted.insert((db, key.clone()));
        let name = String::from_utf8_lossy(key);
        if self.policy == MaxmemoryPolicy::NoEviction {
            return Some((
                "noeviction-evicted",
                format!("under noeviction the node deleted '{name}' (no request deleted it, it had not expired)"),
            ));
        }
        if !self.policy.is_allkeys() && !has_ttl {
            return Some((
                "volatile-evicted-persistent",
                format!(
                    "under {} the node evicted '{name}', which had no TTL",
                    self.policy.name()
                ),
            ));
        }
        None
    }

    /// The input's stream was taken: the next input's writes are its own.
    pub fn end_input(&mut self) {
        self.written_this_input.clear();
        self.in_multi = false;
    }

    /// The memory bound after an input that ran `commands` commands: under an
    /// `allkeys-*` policy, memory over `limit` (with keys left) comes back under
    /// within `MEMORY_BOUND_COMMANDS` commands.
    pub fn on_memory(
        &mut self,
        limit: u64,
        used: usize,
        keys: usize,
        commands: u64,
    ) -> Option<Violation> {
        if !self.policy.is_allkeys() || limit == 0 {
            self.over_for_commands = None;
            return None;
        }
        let over = used > (limit as usize).saturating_add(MEMORY_BOUND_SLACK_BYTES);
        if !over || keys == 0 {
            self.over_for_commands = None;
            return None;
        }
        let n = self.over_for_commands.unwrap_or(0) + commands;
        self.over_for_commands = Some(n);
        (n > MEMORY_BOUND_COMMANDS).then(|| {
            (
                "memory-not-reclaimed",
                format!("used memory {used} over maxmemory {limit} for {n} commands with {keys} keys left to evict (bound {MEMORY_BOUND_COMMANDS})"),
            )
        })
    }
}

/// The checks a plan runs with: a node that may evict loses keys no request deleted,
/// which the reference model and the linearizability checker (both of which take
/// every key to live until deleted or expired) cannot tell from a lost write, so those
/// two are off under an evicting policy; the eviction checkers and the shadow judge.
pub fn checks_for<'a>(plan: &Plan, mut options: RunOptions<'a>) -> RunOptions<'a> {
    let policy = plan.scenario.maxmemory_policy.as_deref().map(parse_policy);
    if policy.is_some_and(|p| p != MaxmemoryPolicy::NoEviction) {
        options.checks.model = false;
        options.checks.linearizability = false;
    }
    options
}

impl World<'_> {
    /// At every boot of host `h`: its policy, and fresh eviction checkers.
    pub(crate) fn boot_policy(&mut self, h: usize) {
        let name = self.scenario.maxmemory_policy.clone();
        let policy = name.as_deref().map(parse_policy).unwrap_or_default();
        self.oracles[h].evict = EvictOracle::new(policy);
        let Some(node) = self.hosts[h].node.as_mut() else {
            return;
        };
        if let Some(name) = name {
            let set = node
                .config_mut()
                .set(&[(b"maxmemory-policy".as_slice(), name.as_bytes())]);
            if let Err(e) = set {
                return self.fail(format!("CONFIG SET maxmemory-policy {name} failed: {e:?}"));
            }
            node.config_changed();
        }
    }

    /// Feeds `records` to host `h`'s shadow one at a time, judging each DEL/UNLINK
    /// against what the shadow holds right before it.
    pub(crate) fn judge_stream(
        &mut self,
        h: usize,
        now: Now,
        records: Vec<Propagated>,
    ) -> Option<Violation> {
        let wall_ms = self.drain.wall_ms();
        let oracle = &mut self.oracles[h];
        let mut found = None;
        for record in records {
            if found.is_none() {
                let shadow = oracle.shadow.as_ref();
                let view = |key: &[u8]| {
                    let entry = shadow.and_then(|s| {
                        let db = s.node.keyspace().dbs.get(record.db)?;
                        db.get(db.find(key)?)
                    });
                    match entry {
                        None => KeyView::Absent,
                        Some(e) if e.expire_at_ms == 0 => KeyView::Persistent,
                        Some(e) => KeyView::Volatile {
                            expired: e.is_expired(wall_ms),
                        },
                    }
                };
                found = oracle.evict.on_record(record.db, &record.argv, view);
            }
            if let Some(shadow) = oracle.shadow.as_mut() {
                shadow.apply(now, vec![record]);
            }
        }
        oracle.evict.end_input();
        if oracle.evict.evictions_seen > 0 {
            self.reached.insert(KEY_EVICTED);
        }
        found
    }

    /// Requests whose last byte was just delivered to host `h` (the node runs them
    /// in this input; their replies may come later, held for an fsync).
    pub(crate) fn note_delivered(&mut self, h: usize, ops: &[usize]) {
        for &i in ops {
            if let Some(op) = self.history.get(i) {
                let read_only = is_read_only(&op.request);
                self.oracles[h].evict.on_delivered(&op.request, read_only);
                if !read_only {
                    self.durable[h]
                        .gate
                        .push(crate::durability::GateEvent::WriteDelivered { op: i });
                }
            }
        }
    }

    /// At the end of a run under `maxmemory` with `appendonly yes`: a second node loads
    /// host `h`'s AOF files as they are on its disk now and must hold the node's
    /// dataset. Evictions are deletions no client asked for, so this is where a key
    /// the node evicted but the AOF kept shows (it would come back at the next
    /// restart). Judged from the files, not from the propagation stream.
    pub(crate) fn check_aof_matches_node(&mut self, h: usize) {
        if self.scenario.maxmemory_policy.is_none()
            || !self
                .scenario
                .persist
                .iter()
                .any(|(n, v)| n == "appendonly" && v == "yes")
        {
            return;
        }
        let Some(node) = self.hosts[h].node.as_ref() else {
            return;
        };
        if crate::host::loading(node) {
            return;
        }
        let now = self.hosts[h].clock.peek(self.now_ms);
        let mut settings = keel_core::config::Config::default();
        let _ = settings.apply_text("save \"\"");
        for (name, value) in &self.scenario.persist {
            if let Err(e) = settings.set(&[(name.as_bytes(), value.as_bytes())]) {
                return self.fail(format!("the scenario's config: {e}"));
            }
        }
        let seeds = keel_core::NodeSeeds {
            rng_seed: 0xA0F,
            hash_seeds: [5, 6, 7, 8],
        };
        let mut loaded = keel_core::Node::new(settings, seeds, now);
        loaded.set_active_expire(false);
        let mut disk = self.hosts[h].disk.view();
        loaded.boot(now, keel_core::keyspace::HashSeeds(seeds.hash_seeds));
        let mut ticks = 0u32;
        loop {
            while let Some(effect) = loaded.poll_effect() {
                if let keel_core::Effect::Disk { io, op } = effect {
                    let result = disk.execute(op);
                    let input = keel_core::Input::Disk {
                        io,
                        result,
                        elapsed_us: 0,
                    };
                    loaded.handle(now, input);
                }
            }
            if !loaded.is_loading() {
                break;
            }
            ticks += 1;
            if ticks > AOF_LOAD_MAX_TICKS {
                return self.flag(
                    Checker::Durability,
                    ("aof-load-hung", None),
                    format!("host {h}: loading its AOF beside it never ended"),
                );
            }
            loaded.handle(now, keel_core::Input::Tick);
        }
        let live = |ks: &keel_core::keyspace::Keyspace| -> BTreeSet<(usize, Vec<u8>)> {
            ks.dbs
                .iter()
                .enumerate()
                .flat_map(|(i, db)| db.iter().map(move |(_, e)| (i, e)))
                .filter(|(_, e)| !e.is_expired(now.wall_ms))
                .map(|(i, e)| (i, e.key.as_bytes().to_vec()))
                .collect()
        };
        let want = crate::durability::live_digest(node.keyspace(), now.wall_ms);
        let got = crate::durability::live_digest(loaded.keyspace(), now.wall_ms);
        if want == got {
            self.reached.insert(AOF_MATCHED);
            return;
        }
        let (in_node, in_aof) = (live(node.keyspace()), live(loaded.keyspace()));
        let show = |keys: Vec<&(usize, Vec<u8>)>| -> String {
            let shown: Vec<String> = keys
                .iter()
                .take(5)
                .map(|(db, k)| format!("{db}:{}", String::from_utf8_lossy(k)))
                .collect();
            format!("{} ({})", keys.len(), shown.join(" "))
        };
        let only_aof = show(in_aof.difference(&in_node).collect());
        let only_node = show(in_node.difference(&in_aof).collect());
        self.flag(
            Checker::Durability,
            ("aof-differs-from-node", None),
            format!(
                "host {h}: its AOF loads to a dataset other than its own: keys only in the AOF {only_aof}, only in the node {only_node}"
            ),
        );
    }

    /// At the end of a run under an LFU policy, a probe client asks what Redis's LFU
    /// promises over idle time: it TOUCHes a key `LFU_PROBE_TOUCHES` times, reads
    /// OBJECT FREQ, lets `LFU_PROBE_IDLE_MS` pass on the world's clock with nothing
    /// else happening, and reads it again. Redis's rule (`LFUDecrAndReturn`): the
    /// counter loses one per `lfu-decay-time` minutes elapsed, counted in whole
    /// minutes of the clock the world hands the node, never below 0. Judged from the
    /// replies and the world's clock, not from the node's counters.
    pub(crate) fn check_lfu_decay(&mut self, h: usize) {
        let policy = self.oracles[h].evict.policy;
        if !matches!(
            policy,
            MaxmemoryPolicy::AllkeysLfu | MaxmemoryPolicy::VolatileLfu
        ) {
            return;
        }
        let now = self.hosts[h].clock.peek(self.now_ms);
        let Some(node) = self.hosts[h].node.as_mut() else {
            return;
        };
        if crate::host::loading(node) {
            return;
        }
        // A key without a TTL (it must outlive the idle time); the first in slot order.
        let key = node
            .keyspace()
            .db(0)
            .iter()
            .find(|(_, e)| e.expire_at_ms == 0)
            .map(|(_, e)| e.key.as_bytes().to_vec());
        let Some(key) = key else {
            return;
        };
        let mut probe = Probe::open(node, now);
        // Nothing may be evicted meanwhile: the run is over, the limit is lifted.
        probe.call(node, &[b"CONFIG", b"SET", b"maxmemory", b"0"]);
        let decay = probe.call(node, &[b"CONFIG", b"GET", b"lfu-decay-time"]);
        let decay_mins: u64 = crate::workload::split_array(&decay)
            .and_then(|a| a.get(1).cloned())
            .and_then(|v| String::from_utf8_lossy(&v).trim().parse().ok())
            .unwrap_or(1);
        for _ in 0..LFU_PROBE_TOUCHES {
            probe.call(node, &[b"TOUCH", &key]);
        }
        let before = probe.freq(node, &key);
        probe.now.mono_ms += LFU_PROBE_IDLE_MS;
        probe.now.wall_ms += LFU_PROBE_IDLE_MS;
        let after = probe.freq(node, &key);
        let (Some(before), Some(after)) = (before, after) else {
            return self.flag(
                Checker::Resource,
                ("lfu-freq-unreadable", None),
                format!("host {h}: OBJECT FREQ of a present key gave no integer"),
            );
        };
        // Whole minutes of the node's clock between the two reads.
        let elapsed_mins = (now.mono_ms + LFU_PROBE_IDLE_MS) / 60_000 - now.mono_ms / 60_000;
        let periods = elapsed_mins.checked_div(decay_mins).unwrap_or(0);
        let want = before.saturating_sub(periods);
        self.reached.insert(LFU_DECAY_JUDGED);
        if after != want {
            let shown = String::from_utf8_lossy(&key).into_owned();
            self.flag(
                Checker::Resource,
                ("lfu-decay", None),
                format!(
                    "host {h}: OBJECT FREQ {shown} read {before}, then {after} after {elapsed_mins} idle minutes (lfu-decay-time {decay_mins}): Redis's rule gives {want}"
                ),
            );
        }
    }

    /// The memory bound (reads the node's `used_memory` and key count).
    pub(crate) fn check_memory_bound(&mut self, h: usize) {
        let Some(node) = self.hosts[h].node.as_ref() else {
            return;
        };
        let keys: usize = node.keyspace().dbs.iter().map(|db| db.len()).sum();
        let memory = self.drain.memory_now();
        let commands = self.runs - self.oracles[h].evict.runs_seen;
        self.oracles[h].evict.runs_seen = self.runs;
        if let Some((sig, why)) = self.oracles[h]
            .evict
            .on_memory(memory.0, memory.1, keys, commands)
        {
            self.flag(Checker::Resource, (sig, None), format!("host {h}: {why}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::run;

    /// Seeds with `appendonly yes` load their AOF beside the node at the end and
    /// find the node's dataset in it, evictions included.
    #[test]
    fn an_evicting_nodes_aof_holds_its_dataset() {
        // allkeys-lru (seed % 8 == 1) with the AOF on.
        let seed = 17;
        assert!(aof_for_seed(seed) && !aof_for_seed(1));
        let out = run("memory-squeeze", seed);
        assert!(out.failure.is_none(), "{:?}", out.failure);
        assert!(out.reached.contains(KEY_EVICTED) && out.reached.contains(AOF_MATCHED));
        assert!(!run("memory-squeeze", 1).reached.contains(AOF_MATCHED));
    }

    /// Under an LFU policy the end-of-run probe reads OBJECT FREQ across three idle
    /// minutes and finds Redis's decay.
    #[test]
    fn an_lfu_nodes_counter_decays_as_redis_says() {
        // allkeys-lfu and volatile-lfu.
        for seed in [2, 5] {
            let out = run("memory-squeeze", seed);
            assert!(out.failure.is_none(), "{:?}", out.failure);
            assert!(out.reached.contains(LFU_DECAY_JUDGED), "seed {seed}");
        }
        assert!(!run("memory-squeeze", 1).reached.contains(LFU_DECAY_JUDGED));
    }

    /// `lfu-never-decays` is caught by the probe on the first LFU seed.
    #[cfg(feature = "mutants")]
    #[test]
    fn the_lfu_probe_catches_lfu_never_decays() {
        use keel_core::mutants::Mutant;
        let plant = |n: &mut keel_core::Node| n.set_mutant(Some(Mutant::LfuNeverDecays));
        let out = crate::world::run_with("memory-squeeze", 2, false, &plant);
        assert!(
            out.signatures
                .iter()
                .any(|sig| sig.checker == Checker::Resource && sig.kind == "lfu-decay"),
            "lfu-never-decays survived: {:?}",
            out.failure
        );
    }

    /// `eviction-not-propagated` is caught by the AOF check alone (the shadow, which
    /// also sees it, left out) within a few evicting seeds with the AOF on.
    #[cfg(feature = "mutants")]
    #[test]
    fn the_aof_check_catches_eviction_not_propagated() {
        use keel_core::mutants::Mutant;
        let plant = |n: &mut keel_core::Node| n.set_mutant(Some(Mutant::EvictionNotPropagated));
        let caught = (0..64u64)
            .filter(|&s| aof_for_seed(s) && policy_for_seed(s) != "noeviction")
            .find(|&seed| {
                let out = crate::world::run_with("memory-squeeze", seed, false, &plant);
                out.signatures.iter().any(|sig| {
                    sig.checker == Checker::Durability && sig.kind == "aof-differs-from-node"
                })
            });
        assert!(
            caught.is_some(),
            "eviction-not-propagated survived the AOF check"
        );
    }

    /// The memory-squeeze scenario under every policy (two seeds each here; the sweep
    /// binary runs more): every run passes, and the evicting policies evict.
    #[test]
    fn memory_squeeze_passes_under_every_policy() {
        for (i, policy) in POLICIES.iter().enumerate() {
            let mut evicted = false;
            for seed in [i as u64, i as u64 + 8] {
                assert_eq!(policy_for_seed(seed), *policy);
                let out = run("memory-squeeze", seed);
                assert!(
                    out.failure.is_none(),
                    "{policy}: {}\n{}",
                    out.failure.clone().unwrap_or_default(),
                    out.replay_line()
                );
                evicted |= out.reached.contains(KEY_EVICTED);
            }
            if policy.starts_with("allkeys") {
                assert!(evicted, "{policy}: no eviction in two seeds");
            }
            if *policy == "noeviction" {
                assert!(!evicted, "noeviction evicted");
            }
        }
    }

    fn argv(words: &[&str]) -> Vec<Vec<u8>> {
        words.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn noeviction_flags_a_deletion_nobody_asked_for() {
        let mut o = EvictOracle::new(MaxmemoryPolicy::NoEviction);
        let v = o.on_record(0, &argv(&["DEL", "k"]), |_| KeyView::Persistent);
        assert_eq!(v.map(|v| v.0), Some("noeviction-evicted"));
    }

    #[test]
    fn client_deletes_and_expiries_are_not_evictions() {
        let mut o = EvictOracle::new(MaxmemoryPolicy::NoEviction);
        assert!(o.on_reply(&argv(&["DEL", "k"]), b":1\r\n", false).is_none());
        assert!(o
            .on_record(0, &argv(&["DEL", "k"]), |_| KeyView::Persistent)
            .is_none());
        o.end_input();
        let expired = |_: &[u8]| KeyView::Volatile { expired: true };
        assert!(o.on_record(0, &argv(&["DEL", "x"]), expired).is_none());
        assert!(o
            .on_record(0, &argv(&["DEL", "y"]), |_| KeyView::Absent)
            .is_none());
        // A transaction's DEL.
        for a in [argv(&["MULTI"]), argv(&["DEL", "z"])] {
            assert!(o.on_record(0, &a, |_| KeyView::Persistent).is_none());
        }
        assert!(o
            .on_record(0, &argv(&["EXEC"]), |_| KeyView::Persistent)
            .is_none());
        // The next input's deletion is judged again.
        o.end_input();
        assert!(o
            .on_record(0, &argv(&["DEL", "k"]), |_| KeyView::Persistent)
            .is_some());
        assert_eq!(o.evictions_seen, 1);
    }

    #[test]
    fn a_delivered_write_with_its_reply_held_explains_its_del() {
        let mut o = EvictOracle::new(MaxmemoryPolicy::NoEviction);
        o.on_delivered(&argv(&["DEL", "k"]), false);
        assert!(o
            .on_record(0, &argv(&["DEL", "k"]), |_| KeyView::Persistent)
            .is_none());
        o.end_input();
        o.on_delivered(&argv(&["GET", "k"]), true);
        assert!(o
            .on_record(0, &argv(&["DEL", "k"]), |_| KeyView::Persistent)
            .is_some());
    }

    #[test]
    fn volatile_policies_flag_evicting_a_persistent_key() {
        for p in [
            "volatile-lru",
            "volatile-lfu",
            "volatile-random",
            "volatile-ttl",
        ] {
            let mut o = EvictOracle::new(parse_policy(p));
            let ttl = |_: &[u8]| KeyView::Volatile { expired: false };
            assert!(o.on_record(0, &argv(&["DEL", "a"]), ttl).is_none(), "{p}");
            let v = o.on_record(0, &argv(&["UNLINK", "b"]), |_| KeyView::Persistent);
            assert_eq!(v.map(|v| v.0), Some("volatile-evicted-persistent"), "{p}");
        }
        let mut o = EvictOracle::new(MaxmemoryPolicy::AllkeysLru);
        assert!(o
            .on_record(0, &argv(&["DEL", "b"]), |_| KeyView::Persistent)
            .is_none());
    }

    #[test]
    fn an_evicted_key_must_read_missing_until_written() {
        let mut o = EvictOracle::new(MaxmemoryPolicy::AllkeysLru);
        assert!(o
            .on_record(0, &argv(&["DEL", "k"]), |_| KeyView::Persistent)
            .is_none());
        o.end_input();
        assert!(o.on_reply(&argv(&["GET", "k"]), b"$-1\r\n", true).is_none());
        assert!(o
            .on_reply(&argv(&["EXISTS", "k"]), b":0\r\n", true)
            .is_none());
        let v = o.on_reply(&argv(&["GET", "k"]), b"$1\r\nv\r\n", true);
        assert_eq!(v.map(|v| v.0), Some("evicted-key-resurrected"));
        let v = o.on_reply(&argv(&["TTL", "k"]), b":-1\r\n", true);
        assert_eq!(v.map(|v| v.0), Some("evicted-key-resurrected"));
        // Written again: it may be there.
        assert!(o
            .on_reply(&argv(&["SET", "k", "v"]), b"+OK\r\n", false)
            .is_none());
        assert!(o
            .on_reply(&argv(&["GET", "k"]), b"$1\r\nv\r\n", true)
            .is_none());
    }

    #[test]
    fn memory_must_come_back_under_the_limit_within_the_bound() {
        let mut o = EvictOracle::new(MaxmemoryPolicy::AllkeysRandom);
        let over = 1_000_000 + MEMORY_BOUND_SLACK_BYTES + 1;
        assert!(o
            .on_memory(1_000_000, over, 5, MEMORY_BOUND_COMMANDS)
            .is_none());
        // Under again: the count starts over.
        assert!(o.on_memory(1_000_000, 1_000_000, 5, 1).is_none());
        assert!(o
            .on_memory(1_000_000, over, 5, MEMORY_BOUND_COMMANDS)
            .is_none());
        let v = o.on_memory(1_000_000, over, 5, 1);
        assert_eq!(v.map(|v| v.0), Some("memory-not-reclaimed"));
        // Nothing left to evict, or a policy that may have nothing to evict: no bound.
        let mut o = EvictOracle::new(MaxmemoryPolicy::AllkeysLru);
        assert!(o.on_memory(1_000_000, over, 0, 1000).is_none());
        let mut o = EvictOracle::new(MaxmemoryPolicy::VolatileLru);
        assert!(o.on_memory(1_000_000, over, 5, 1000).is_none());
    }
}
