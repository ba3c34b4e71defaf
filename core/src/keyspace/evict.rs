//! Eviction under `maxmemory`, as Redis 7.0's evict.c: the per-key access field (an
//! LRU clock, or an LFU counter with its decay time, in 24 bits as Redis's robj
//! `lru`), the 16-entry eviction pool, and the choice and deletion of keys for every
//! policy. It never measures memory itself (the caller hands in a reading) and never
//! reads a clock (the keyspace's `now_secs` is the time).

use crate::config::MaxmemoryPolicy;
use crate::mutants::Mutant;
use crate::types::SmallBytes;

use super::{Keyspace, LAZYFREE_THRESHOLD};

/// Redis's `LRU_CLOCK_MAX`: the access field holds 24 bits.
pub const LRU_CLOCK_MAX: u32 = (1 << 24) - 1;
/// Redis's `LRU_CLOCK_RESOLUTION`: the LRU clock ticks once a second.
pub const LRU_CLOCK_RESOLUTION_MS: u64 = 1000;
/// Redis's `LFU_INIT_VAL`: a new key starts here so it is not evicted at once.
pub const LFU_INIT_VAL: u8 = 5;
/// Redis's `EVPOOL_SIZE`.
pub const EVICTION_POOL_SIZE: usize = 16;
/// Sample-and-pick rounds one eviction tries before giving up (see
/// `eviction_candidate`; one is enough for a consistent keyspace).
const POOL_ROUNDS: u32 = 16;
/// Keys evicted between two checks of the work budget (Redis checks its timer every
/// 16 keys, so even tenacity 0 evicts 16).
pub const EVICT_CHECK_EVERY_KEYS: u64 = 16;

/// How reads and writes stamp a key's access field (follows the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccessPolicy {
    pub lfu: bool,
    pub lfu_log_factor: u32,
    pub lfu_decay_time_mins: u64,
}

impl Default for AccessPolicy {
    fn default() -> Self {
        AccessPolicy {
            lfu: false,
            lfu_log_factor: 10,
            lfu_decay_time_mins: 1,
        }
    }
}

/// Redis's `LRU_CLOCK()` at `now_secs`.
pub fn lru_clock(now_secs: u32) -> u32 {
    now_secs & LRU_CLOCK_MAX
}

/// Redis's `estimateObjectIdleTime`: ms since the access stamped `lru`, the 24-bit
/// clock wrapping at most once.
pub fn lru_idle_ms(clock: u32, lru: u32) -> u64 {
    let lru = lru & LRU_CLOCK_MAX;
    let ticks = if clock >= lru {
        clock - lru
    } else {
        clock + (LRU_CLOCK_MAX - lru)
    };
    u64::from(ticks) * LRU_CLOCK_RESOLUTION_MS
}

/// Redis's `LFUGetTimeInMinutes`: minutes in 16 bits.
pub fn lfu_minutes(now_secs: u32) -> u32 {
    (now_secs / 60) & 0xffff
}

/// Redis's `LFUTimeElapsed`: minutes since `ldt`, wrapping once.
pub fn lfu_elapsed_mins(now_mins: u32, ldt: u32) -> u64 {
    if now_mins >= ldt {
        u64::from(now_mins - ldt)
    } else {
        u64::from(65535 - ldt + now_mins)
    }
}

/// Redis's `LFUDecrAndReturn`: the counter in `access` after decaying one step per
/// `decay_time_mins` elapsed (never decays at 0). Does not store anything.
pub fn lfu_decayed(access: u32, now_mins: u32, decay_time_mins: u64, never_decays: bool) -> u8 {
    let ldt = (access >> 8) & 0xffff;
    let counter = (access & 0xff) as u8;
    if decay_time_mins == 0 || never_decays {
        return counter;
    }
    let periods = lfu_elapsed_mins(now_mins, ldt) / decay_time_mins;
    counter.saturating_sub(periods.min(255) as u8)
}

/// Redis's `LFULogIncr`: increments with probability 1/((counter-5)*factor+1); `r`
/// is a uniform draw in [0, 1).
pub fn lfu_log_incr(counter: u8, log_factor: u32, r: f64) -> u8 {
    if counter == 255 {
        return 255;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * f64::from(log_factor) + 1.0);
    if r < p {
        counter + 1
    } else {
        counter
    }
}

/// The access field of an LFU key: minutes in the high 16 bits, counter in the low 8.
pub fn lfu_pack(now_mins: u32, counter: u8) -> u32 {
    ((now_mins & 0xffff) << 8) | u32::from(counter)
}

/// One candidate in the pool: a key and how much it deserves eviction (higher: sooner).
#[derive(Debug, Clone)]
struct PoolEntry {
    score: u64,
    db: usize,
    key: SmallBytes,
}

/// Redis's eviction pool: the best candidates seen by recent samplings, ascending by
/// score (the best at the end). It survives between evictions: a key sampled once
/// stays a candidate until something better pushes it out or it is taken.
#[derive(Debug, Clone, Default)]
pub struct EvictionPool {
    entries: Vec<PoolEntry>,
}

impl EvictionPool {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Redis's insertion into `EvictionPoolLRU`: keeps the pool sorted ascending and
    /// at most `EVICTION_POOL_SIZE` long; a candidate worse than all of a full pool
    /// is dropped, otherwise the worst goes. A key already pooled is rescored.
    pub fn offer(&mut self, score: u64, db: usize, key: &[u8]) {
        if let Some(pos) = self
            .entries
            .iter()
            .position(|e| e.db == db && e.key.as_bytes() == key)
        {
            self.entries.remove(pos);
        }
        let at = self.entries.partition_point(|e| e.score < score);
        if self.entries.len() >= EVICTION_POOL_SIZE {
            if at == 0 {
                return;
            }
            // Full: drop the worst (first) to make room below `at`.
            self.entries.remove(0);
            self.entries.insert(
                at - 1,
                PoolEntry {
                    score,
                    db,
                    key: SmallBytes::new(key),
                },
            );
        } else {
            self.entries.insert(
                at,
                PoolEntry {
                    score,
                    db,
                    key: SmallBytes::new(key),
                },
            );
        }
        debug_assert!(self.entries.len() <= EVICTION_POOL_SIZE);
        debug_assert!(self
            .entries
            .windows(2)
            .all(|w| w.first().map(|a| a.score) <= w.get(1).map(|b| b.score)));
    }

    /// Takes the best candidate (highest score).
    pub fn pop_best(&mut self) -> Option<(usize, SmallBytes, u64)> {
        self.entries.pop().map(|e| (e.db, e.key, e.score))
    }

    pub fn scores(&self) -> impl Iterator<Item = u64> + '_ {
        self.entries.iter().map(|e| e.score)
    }
}

/// What `Keyspace::evict` achieved (Redis's `EVICT_OK`, `EVICT_RUNNING`, `EVICT_FAIL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvictResult {
    /// Under the limit (or nothing to do).
    Ok,
    /// Still over, but the work budget ran out: the rest is paid by later commands.
    Running,
    /// Over the limit and nothing may be evicted.
    Fail,
}

/// Eviction settings, read from the config by the caller.
#[derive(Debug, Clone, Copy)]
pub struct EvictParams {
    pub policy: MaxmemoryPolicy,
    pub samples: u32,
    /// Keys one call may evict before giving up for now (from the tenacity).
    pub budget_keys: u64,
    pub lazy: bool,
}

/// Redis's `evictionTimeLimitUs` as a key budget: keel bounds eviction by work so a
/// simulated run is reproducible; a key costs about a microsecond in Redis, so the
/// budget is the microseconds Redis allows, in keys (tenacity 10: 500 keys). 100 is
/// unbounded, as in Redis.
pub fn eviction_budget_keys(tenacity: u32) -> u64 {
    if tenacity <= 10 {
        (50 * u64::from(tenacity)).max(EVICT_CHECK_EVERY_KEYS)
    } else if tenacity < 100 {
        (500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64
    } else {
        u64::MAX
    }
}

impl Keyspace {
    /// The access field a key written now gets (Redis's `createObject`).
    pub fn fresh_access(&self) -> u32 {
        if self.access.lfu {
            lfu_pack(lfu_minutes(self.now_secs), LFU_INIT_VAL)
        } else {
            lru_clock(self.now_secs)
        }
    }

    /// Records an access to the key in slot `id` (Redis's `updateLFU` or the LRU
    /// stamp in `lookupKey`).
    pub fn touch(&mut self, db: usize, id: u32) {
        let access = if self.access.lfu {
            let now_mins = lfu_minutes(self.now_secs);
            let never_decays = self.mutants.is(Mutant::LfuNeverDecays);
            let Some(old) = self.db(db).get(id).map(|e| e.access) else {
                return;
            };
            let counter = lfu_decayed(old, now_mins, self.access.lfu_decay_time_mins, never_decays);
            let r = self.next_unit();
            lfu_pack(
                now_mins,
                lfu_log_incr(counter, self.access.lfu_log_factor, r),
            )
        } else {
            lru_clock(self.now_secs)
        };
        self.db_mut(db).touch(id, access);
    }

    /// OBJECT FREQ's counter (decayed, not stored).
    pub fn lfu_freq(&self, db: usize, id: u32) -> u8 {
        let access = self.db(db).get(id).map_or(0, |e| e.access);
        let never_decays = self.mutants.is(Mutant::LfuNeverDecays);
        lfu_decayed(
            access,
            lfu_minutes(self.now_secs),
            self.access.lfu_decay_time_mins,
            never_decays,
        )
    }

    /// OBJECT IDLETIME's milliseconds.
    pub fn idle_ms(&self, db: usize, id: u32) -> u64 {
        let access = self.db(db).get(id).map_or(0, |e| e.access);
        lru_idle_ms(lru_clock(self.now_secs), access)
    }

    /// A uniform draw in [0, 1) from the keyspace's own deterministic generator
    /// (splitmix64, seeded from the node's seeds), for LFU increments on the read
    /// path, which has no access to the node's RNG.
    fn next_unit(&mut self) -> f64 {
        self.lfu_rng = self.lfu_rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.lfu_rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The score of a key for the pool under `policy` (higher: evict sooner).
    fn eviction_score(&self, policy: MaxmemoryPolicy, db: usize, id: u32) -> u64 {
        let Some(e) = self.db(db).get(id) else {
            return 0;
        };
        if policy.is_lru() {
            lru_idle_ms(lru_clock(self.now_secs), e.access)
        } else if policy.is_lfu() {
            let never_decays = self.mutants.is(Mutant::LfuNeverDecays);
            255 - u64::from(lfu_decayed(
                e.access,
                lfu_minutes(self.now_secs),
                self.access.lfu_decay_time_mins,
                never_decays,
            ))
        } else {
            // volatile-ttl: the sooner it expires, the better a candidate.
            u64::MAX - e.expire_at_ms
        }
    }

    /// Redis's `evictionPoolPopulate` for one database: samples `samples` keys (from
    /// all keys or only those with a TTL) into the pool.
    fn pool_populate(
        &mut self,
        policy: MaxmemoryPolicy,
        db: usize,
        samples: u32,
        draw: &mut impl FnMut(u64) -> u64,
    ) {
        // Planted: volatile policies sample persistent keys too.
        let all = policy.is_allkeys() || self.mutants.is(Mutant::VolatileEvictsPersistent);
        let d = self.db(db);
        let candidates = if all { d.len() } else { d.volatile_len() };
        // As Redis's dictGetSomeKeys, a database no bigger than the sample is taken
        // whole; otherwise keys are drawn uniformly (with replacement).
        let ids: Vec<u32> = if candidates <= samples as usize {
            if all {
                d.iter().map(|(id, _)| id).collect()
            } else {
                d.volatile_ids().collect()
            }
        } else {
            (0..samples)
                .filter_map(|_| {
                    if all {
                        d.random_id(&mut *draw)
                    } else {
                        d.random_volatile(&mut *draw)
                    }
                })
                .collect()
        };
        for id in ids {
            let score = self.eviction_score(policy, db, id);
            if let Some(e) = self.db(db).get(id) {
                let key = e.key.clone();
                self.pool.offer(score, db, key.as_bytes());
            }
        }
    }

    /// Picks the key to evict under `policy`: a slot in a database, or None when
    /// nothing may go (no key, or no key with a TTL under a volatile policy).
    pub fn eviction_candidate(
        &mut self,
        params: &EvictParams,
        draw: &mut impl FnMut(u64) -> u64,
    ) -> Option<(usize, u32)> {
        let policy = params.policy;
        if policy == MaxmemoryPolicy::NoEviction {
            return None;
        }
        let all = policy.is_allkeys();
        if policy.is_lru() || policy.is_lfu() || policy == MaxmemoryPolicy::VolatileTtl {
            // Redis loops until a candidate turns up. A fresh sample always holds one
            // (sampled keys exist, and under a volatile policy have a TTL), so one
            // round finds it; the bound only keeps a keyspace whose TTL bookkeeping
            // went wrong from spinning the event loop forever (the simulator met that
            // with a planted TTL-index bug): the write then gets -OOM instead.
            for _ in 0..POOL_ROUNDS {
                if self.mutants.is(Mutant::EvictionSkippedOnEmptyPool) && self.pool.is_empty() {
                    return None;
                }
                let mut sampled_any = false;
                for db in 0..self.databases() {
                    let d = self.db(db);
                    let n = if all { d.len() } else { d.volatile_len() };
                    if n > 0 {
                        sampled_any = true;
                        self.pool_populate(policy, db, params.samples, draw);
                    }
                }
                if !sampled_any {
                    return None;
                }
                // The best pooled key that still exists (and still has a TTL under a
                // volatile policy); stale candidates are dropped.
                while let Some((db, key, _)) = self.pool.pop_best() {
                    let Some(id) = self.db(db).find(key.as_bytes()) else {
                        continue;
                    };
                    let volatile_ok = self.db(db).get(id).is_some_and(|e| e.expire_at_ms != 0)
                        || self.mutants.is(Mutant::VolatileEvictsPersistent);
                    if all || volatile_ok {
                        return Some((db, id));
                    }
                }
            }
            return None;
        }
        // Random policies: the first database with candidates, from a rotating start.
        let count = self.databases();
        for i in 0..count {
            let db = (self.next_evict_db + i) % count;
            let d = self.db(db);
            let id = if all {
                d.random_id(&mut *draw)
            } else {
                d.random_volatile(&mut *draw)
            };
            if let Some(id) = id {
                self.next_evict_db = (db + 1) % count;
                return Some((db, id));
            }
        }
        None
    }

    /// Deletes the key in slot `id` for eviction: counted, logged for the node
    /// (propagation as DEL, WATCH, `evicted` notifications) and freed.
    pub fn remove_evicted(&mut self, db: usize, id: u32, lazy: bool) {
        // Eviction is not the running command's change: it propagates as its own DEL.
        let mutations = self.db(db).mutations;
        let removed = self.db_mut(db).remove(id);
        self.db_mut(db).mutations = mutations;
        if let Some(entry) = removed {
            self.evicted_keys += 1;
            self.evicted_log.push((db, entry.key, lazy));
            // Big values go off the loop whatever `lazyfree-lazy-eviction` says (as
            // every deletion in keel); the setting picks DEL or UNLINK on the stream.
            if entry.value.free_effort() > LAZYFREE_THRESHOLD {
                self.lazyfreed_objects += 1;
                self.garbage.push(entry.value);
            }
        }
    }

    /// Redis's `performEvictions`: evicts keys while `used_bytes(self)` is over
    /// `max_bytes`, at most `params.budget_keys` keys (rounded up to a multiple of
    /// 16 as Redis checks its timer every 16 keys).
    pub fn evict(
        &mut self,
        params: &EvictParams,
        max_bytes: u64,
        used_bytes: impl Fn(&Keyspace) -> u64,
        draw: impl FnMut(u64) -> u64,
    ) -> EvictResult {
        self.evict_timed(params, max_bytes, used_bytes, draw, || 0)
            .0
    }

    /// `evict`, timing each deletion with `clock_us` (the driver's command clock; the
    /// keyspace never reads a clock itself): also returns the slowest deletion in
    /// microseconds, Redis's `eviction-del` latency event (the monitor keeps the worst
    /// sample of each second, so the slowest of a cycle is what it would keep).
    pub fn evict_timed(
        &mut self,
        params: &EvictParams,
        max_bytes: u64,
        used_bytes: impl Fn(&Keyspace) -> u64,
        mut draw: impl FnMut(u64) -> u64,
        mut clock_us: impl FnMut() -> u64,
    ) -> (EvictResult, u64) {
        if max_bytes == 0 || used_bytes(self) <= max_bytes {
            return (EvictResult::Ok, 0);
        }
        if params.policy == MaxmemoryPolicy::NoEviction {
            return (EvictResult::Fail, 0);
        }
        let mut evicted = 0u64;
        let mut slowest_del_us = 0u64;
        while used_bytes(self) > max_bytes {
            let Some((db, id)) = self.eviction_candidate(params, &mut draw) else {
                return (EvictResult::Fail, slowest_del_us);
            };
            let started_us = clock_us();
            self.remove_evicted(db, id, params.lazy);
            slowest_del_us = slowest_del_us.max(clock_us().saturating_sub(started_us));
            evicted += 1;
            if evicted.is_multiple_of(EVICT_CHECK_EVERY_KEYS) && evicted >= params.budget_keys {
                let result = if used_bytes(self) > max_bytes {
                    EvictResult::Running
                } else {
                    EvictResult::Ok
                };
                return (result, slowest_del_us);
            }
        }
        (EvictResult::Ok, slowest_del_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspace::HashSeeds;
    use crate::types::{StrValue, Value};
    use proptest::prelude::*;

    fn v() -> Value {
        Value::Str(StrValue::from_set(b"v"))
    }

    fn lcg(seed: u64) -> impl FnMut(u64) -> u64 {
        let mut x = seed;
        move |n| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 33) % n.max(1)
        }
    }

    fn params(policy: MaxmemoryPolicy) -> EvictParams {
        EvictParams {
            policy,
            samples: 5,
            budget_keys: 500,
            lazy: false,
        }
    }

    #[test]
    fn lru_idle_wraps_once() {
        assert_eq!(lru_idle_ms(10, 4), 6000);
        assert_eq!(lru_idle_ms(3, LRU_CLOCK_MAX - 2), 5000);
        assert_eq!(lru_clock(LRU_CLOCK_MAX + 5), 4);
    }

    #[test]
    fn lfu_decays_one_step_per_period() {
        let a = lfu_pack(100, 20);
        assert_eq!(lfu_decayed(a, 100, 1, false), 20);
        assert_eq!(lfu_decayed(a, 107, 1, false), 13);
        assert_eq!(lfu_decayed(a, 107, 2, false), 17);
        assert_eq!(lfu_decayed(a, 200, 1, false), 0);
        assert_eq!(
            lfu_decayed(a, 200, 0, false),
            20,
            "decay time 0 never decays"
        );
        // Minutes wrap at 16 bits.
        assert_eq!(lfu_decayed(lfu_pack(65530, 20), 4, 1, false), 11);
    }

    #[test]
    fn lfu_increment_probability_follows_log_factor() {
        assert_eq!(lfu_log_incr(255, 10, 0.0), 255);
        assert_eq!(
            lfu_log_incr(3, 10, 0.999),
            4,
            "below LFU_INIT_VAL always increments"
        );
        // counter 15, factor 10: p = 1/101.
        assert_eq!(lfu_log_incr(15, 10, 0.0098), 16);
        assert_eq!(lfu_log_incr(15, 10, 0.0100), 15);
    }

    #[test]
    fn pool_keeps_the_best_sixteen_sorted() {
        let mut pool = EvictionPool::default();
        for i in 0..40u64 {
            pool.offer((i * 7919) % 101, 0, format!("k{i}").as_bytes());
        }
        assert_eq!(pool.len(), EVICTION_POOL_SIZE);
        let scores: Vec<u64> = pool.scores().collect();
        let mut all: Vec<u64> = (0..40u64).map(|i| (i * 7919) % 101).collect();
        all.sort_unstable();
        assert_eq!(scores, all[all.len() - 16..].to_vec());
        // Rescoring a pooled key moves it instead of duplicating it.
        pool.offer(1000, 0, b"k0");
        pool.offer(1001, 0, b"k0");
        assert_eq!(pool.len(), EVICTION_POOL_SIZE);
        assert_eq!(
            pool.pop_best().map(|(_, k, s)| (k.as_bytes().to_vec(), s)),
            Some((b"k0".to_vec(), 1001))
        );
    }

    proptest! {
        #[test]
        fn pool_is_sorted_bounded_and_keeps_the_maximum(offers in prop::collection::vec((0u64..1000, 0usize..3, 0u8..50), 1..200)) {
            let mut pool = EvictionPool::default();
            let mut best = std::collections::BTreeMap::new();
            for (score, db, k) in &offers {
                pool.offer(*score, *db, &[*k]);
                best.insert((*db, *k), *score);
            }
            let scores: Vec<u64> = pool.scores().collect();
            prop_assert!(scores.len() <= EVICTION_POOL_SIZE);
            prop_assert!(scores.windows(2).all(|w| w[0] <= w[1]));
            // The best current score of any key offered is in the pool.
            let max = best.values().copied().max().unwrap();
            prop_assert_eq!(scores.last().copied(), Some(max));
        }

        #[test]
        fn lfu_counter_is_monotone_without_decay_and_bounded(draws in prop::collection::vec(0.0f64..1.0, 1..2000), factor in 0u32..100) {
            let mut c = LFU_INIT_VAL;
            for r in draws {
                let next = lfu_log_incr(c, factor, r);
                prop_assert!(next == c || next == c + 1);
                c = next;
            }
        }

        #[test]
        fn lfu_decay_never_grows(counter in 0u8..=255, then in 0u32..65536, later in 0u32..65536, decay in 0u64..100) {
            let d = lfu_decayed(lfu_pack(then, counter), later, decay, false);
            prop_assert!(d <= counter);
        }
    }

    #[test]
    fn lfu_counter_grows_logarithmically_with_the_keyspace_rng() {
        let mut ks = Keyspace::new(1, HashSeeds([3; 4]));
        ks.access = AccessPolicy {
            lfu: true,
            lfu_log_factor: 10,
            lfu_decay_time_mins: 1,
        };
        let id = ks.set(0, b"k", v(), false, 0);
        assert_eq!(ks.lfu_freq(0, id), LFU_INIT_VAL);
        for _ in 0..1000 {
            ks.touch(0, id);
        }
        // Redis's table for factor 10: 1k hits give a counter around 18.
        let f = ks.lfu_freq(0, id);
        assert!((12..=26).contains(&f), "counter {f}");
        // Ten idle minutes decay it by ten.
        ks.now_secs += 600;
        assert_eq!(ks.lfu_freq(0, id), f - 10);
    }

    #[test]
    fn volatile_policies_never_pick_persistent_keys() {
        for policy in [
            MaxmemoryPolicy::VolatileLru,
            MaxmemoryPolicy::VolatileLfu,
            MaxmemoryPolicy::VolatileRandom,
            MaxmemoryPolicy::VolatileTtl,
        ] {
            let mut ks = Keyspace::new(2, HashSeeds([5; 4]));
            for i in 0..200 {
                let id = ks.set(i % 2, format!("k{i}").as_bytes(), v(), false, 0);
                if i % 10 == 0 {
                    ks.db_mut(i % 2).set_expire(id, 1_000_000 + i as u64);
                }
            }
            let mut draw = lcg(1);
            let mut taken = 0;
            while let Some((db, id)) = ks.eviction_candidate(&params(policy), &mut draw) {
                assert_ne!(
                    ks.db(db).get(id).unwrap().expire_at_ms,
                    0,
                    "{policy:?} picked a persistent key"
                );
                ks.remove_evicted(db, id, false);
                taken += 1;
            }
            assert_eq!(
                taken, 20,
                "{policy:?} evicts every volatile key, then stops"
            );
            assert_eq!(ks.total_keys(), 180);
        }
    }

    #[test]
    fn volatile_ttl_takes_the_soonest_expiry_first() {
        let mut ks = Keyspace::new(1, HashSeeds([7; 4]));
        for i in 0..10u64 {
            let id = ks.set(0, format!("k{i}").as_bytes(), v(), false, 0);
            ks.db_mut(0).set_expire(id, 10_000 - i * 100);
        }
        // With samples covering the keys, the soonest (k9) goes first.
        let mut p = params(MaxmemoryPolicy::VolatileTtl);
        p.samples = 64;
        let (db, id) = ks.eviction_candidate(&p, &mut lcg(2)).unwrap();
        assert_eq!(ks.db(db).get(id).unwrap().key.as_bytes(), b"k9");
    }

    #[test]
    fn allkeys_lru_prefers_the_idle_key() {
        let mut ks = Keyspace::new(1, HashSeeds([8; 4]));
        ks.now_secs = 1000;
        let cold = ks.set(0, b"cold", v(), false, 0);
        ks.now_secs = 2000;
        for i in 0..20 {
            ks.set(0, format!("hot{i}").as_bytes(), v(), false, 0);
        }
        let mut p = params(MaxmemoryPolicy::AllkeysLru);
        p.samples = 64;
        assert_eq!(ks.eviction_candidate(&p, &mut lcg(3)), Some((0, cold)));
    }

    #[test]
    fn evict_respects_the_budget_and_noeviction() {
        let mut ks = Keyspace::new(1, HashSeeds([9; 4]));
        for i in 0..2000 {
            ks.set(0, format!("key:{i:05}").as_bytes(), v(), false, 0);
        }
        let size = |ks: &Keyspace| ks.total_keys() as u64;
        assert_eq!(
            ks.evict(&params(MaxmemoryPolicy::NoEviction), 100, size, lcg(1)),
            EvictResult::Fail
        );
        let mut p = params(MaxmemoryPolicy::AllkeysRandom);
        p.budget_keys = 0;
        assert_eq!(ks.evict(&p, 100, size, lcg(1)), EvictResult::Running);
        assert_eq!(
            ks.total_keys(),
            2000 - 16,
            "tenacity 0 still evicts 16 keys"
        );
        p.budget_keys = u64::MAX;
        assert_eq!(ks.evict(&p, 100, size, lcg(1)), EvictResult::Ok);
        assert_eq!(ks.total_keys(), 100);
        assert_eq!(ks.evicted_keys, 1900);
        assert_eq!(ks.evicted_log.len(), 1900);
        assert_eq!(eviction_budget_keys(10), 500);
        assert_eq!(eviction_budget_keys(0), 16);
        assert_eq!(eviction_budget_keys(100), u64::MAX);
    }

    /// The checkers' assertions, run against the planted bugs: each must fire.
    #[cfg(feature = "mutants")]
    mod planted {
        use super::*;

        /// Checker: under a volatile policy, every evicted key had a TTL.
        fn volatile_lru_evicts_only_volatile(ks: &mut Keyspace) -> bool {
            let mut draw = lcg(11);
            let mut p = params(MaxmemoryPolicy::VolatileLru);
            p.budget_keys = u64::MAX;
            let size = |ks: &Keyspace| ks.total_keys() as u64;
            ks.evict(&p, 50, size, &mut draw);
            let survivors_persistent = (0..100)
                .filter(|i| i % 2 == 1)
                .all(|i| ks.db(0).find(format!("k{i}").as_bytes()).is_some());
            survivors_persistent
        }

        fn half_volatile() -> Keyspace {
            let mut ks = Keyspace::new(1, HashSeeds([4; 4]));
            for i in 0..100u64 {
                let id = ks.set(0, format!("k{i}").as_bytes(), v(), false, 0);
                if i % 2 == 0 {
                    ks.db_mut(0).set_expire(id, 1_000_000 + i);
                }
            }
            ks
        }

        #[test]
        fn volatile_evicts_persistent_is_caught() {
            let mut ks = half_volatile();
            assert!(volatile_lru_evicts_only_volatile(&mut ks));
            let mut ks = half_volatile();
            ks.mutants.active = Some(Mutant::VolatileEvictsPersistent);
            assert!(
                !volatile_lru_evicts_only_volatile(&mut ks),
                "the checker must catch the mutant"
            );
        }

        /// Checker: an allkeys-lru keyspace over its limit evicts down to it.
        fn lru_evicts_to_the_limit(ks: &mut Keyspace) -> bool {
            for i in 0..100u64 {
                ks.set(0, format!("k{i}").as_bytes(), v(), false, 0);
            }
            let mut p = params(MaxmemoryPolicy::AllkeysLru);
            p.budget_keys = u64::MAX;
            let size = |ks: &Keyspace| ks.total_keys() as u64;
            ks.evict(&p, 50, size, lcg(5)) == EvictResult::Ok && ks.total_keys() == 50
        }

        #[test]
        fn eviction_skipped_on_empty_pool_is_caught() {
            let mut ks = Keyspace::new(1, HashSeeds([7; 4]));
            assert!(lru_evicts_to_the_limit(&mut ks));
            let mut ks = Keyspace::new(1, HashSeeds([7; 4]));
            ks.mutants.active = Some(Mutant::EvictionSkippedOnEmptyPool);
            assert!(
                !lru_evicts_to_the_limit(&mut ks),
                "the checker must catch the mutant"
            );
        }

        /// Checker: a key idle for longer than decay-time * counter minutes reads 0.
        fn idle_counter_decays(ks: &mut Keyspace) -> bool {
            ks.access = AccessPolicy {
                lfu: true,
                lfu_log_factor: 10,
                lfu_decay_time_mins: 1,
            };
            let id = ks.set(0, b"hot", v(), false, 0);
            for _ in 0..100 {
                ks.touch(0, id);
            }
            ks.now_secs += 60 * 300;
            ks.lfu_freq(0, id) == 0
        }

        #[test]
        fn lfu_never_decays_is_caught() {
            let mut ks = Keyspace::new(1, HashSeeds([6; 4]));
            assert!(idle_counter_decays(&mut ks));
            let mut ks = Keyspace::new(1, HashSeeds([6; 4]));
            ks.mutants.active = Some(Mutant::LfuNeverDecays);
            assert!(
                !idle_counter_decays(&mut ks),
                "the checker must catch the mutant"
            );
        }
    }
}
