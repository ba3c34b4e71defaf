//! The keyspace: numbered databases, lazy expiry on every access, and Redis's active
//! expire cycle. Time is handed in (unix ms on the node's wall clock); nothing here
//! reads a clock, and an expired key is never handed out on any path.

pub mod db;
pub mod evict;
pub mod key;
pub mod snap;
mod ttls;

pub use db::{Db, Entry, EntryRef, Garbage, HashSeeds, SlotAt, Storage};
pub use evict::{AccessPolicy, EvictParams, EvictResult, EvictionPool};
pub use key::KeyBytes;
pub use ttls::IndexScale;

use crate::mutants::{Mutant, Mutants};
use crate::types::{SmallBytes, Value};

/// Redis's `ACTIVE_EXPIRE_CYCLE_KEYS_PER_LOOP`.
pub const EXPIRE_KEYS_PER_LOOP: usize = 20;
/// Redis's `ACTIVE_EXPIRE_CYCLE_ACCEPTABLE_STALE` (percent).
pub const EXPIRE_ACCEPTABLE_STALE_PERCENT: usize = 10;
/// Work budget of one active expire cycle, in sampled keys. Redis bounds the cycle by
/// 25% of a tick's CPU time; keel bounds it by work so simulated runs are
/// reproducible. At effort 1 this is ~20k keys per 100 ms tick.
pub const EXPIRE_CYCLE_SAMPLES_BUDGET: usize = 20_000;

#[derive(Debug, Default, Clone, Copy)]
pub struct ExpireStats {
    pub expired_keys: u64,
    pub expired_stale_perc: f64,
    pub expire_cycle_time_limit_hit: u64,
}

pub struct Keyspace {
    pub dbs: Vec<Db>,
    /// The node's monotonic clock in seconds, for access times of keys written now.
    pub now_secs: u32,
    pub mutants: Mutants,
    pub stats: ExpireStats,
    /// Database the next active cycle starts from (Redis's `current_db`).
    next_expire_db: usize,
    /// Keys deleted by expiry (lazy or active) since the node last looked, in order:
    /// the node turns them into WATCH invalidations and `expired` notifications.
    /// Drained after every command and every tick, so bounded by one command's or one
    /// cycle's work.
    pub expired_log: Vec<(usize, SmallBytes)>,
    /// Keys created since the node last looked (for `new` notifications), kept only
    /// while `log_new_keys` is set; drained like `expired_log`.
    pub new_log: Vec<(usize, SmallBytes)>,
    pub log_new_keys: bool,
    /// Set while CLIENT PAUSE keeps the dataset still: `lookup` reports a key whose
    /// TTL passed as missing but leaves it in place (Redis's expireIfNeeded when
    /// clients are paused).
    pub keep_expired: bool,
    /// Set while the AOF's commands are loaded: nothing expires (Redis's
    /// keyIsExpired while loading) — the log assumes the exact keyspace it was
    /// written against, keys whose TTL has passed since included.
    pub loading: bool,
    /// Big values and flushed databases waiting to be handed to the driver, which
    /// frees them off the event loop (`Effect::Free`).
    pub garbage: Garbage,
    /// INFO's `lazyfreed_objects`.
    pub lazyfreed_objects: u64,
    /// SWAPDBs done (they change no database's own count, but change the dataset).
    pub(crate) swaps: u64,
    /// How accesses are stamped on keys (LRU clock or LFU counter), from the config.
    pub access: AccessPolicy,
    /// State of the generator LFU increments draw from (deterministic, seeded).
    pub(crate) lfu_rng: u64,
    /// Eviction candidates kept between evictions (`evict`).
    pub pool: EvictionPool,
    /// Database random-policy eviction starts from next.
    pub(crate) next_evict_db: usize,
    /// Keys evicted since the node last looked (db, key, lazily freed), drained as
    /// `expired_log`: propagated as DEL (UNLINK when lazy), `evicted` notifications.
    pub evicted_log: Vec<(usize, SmallBytes, bool)>,
    /// INFO's `evicted_keys`.
    pub evicted_keys: u64,
}

/// Redis's `LAZYFREE_THRESHOLD`: values costing more than this many allocations to
/// free go to the garbage instead of being dropped on the loop.
pub const LAZYFREE_THRESHOLD: usize = 64;

impl Keyspace {
    pub fn new(databases: usize, seeds: HashSeeds) -> Self {
        Keyspace {
            dbs: (0..databases.max(1)).map(|_| Db::new(seeds)).collect(),
            stats: ExpireStats::default(),
            next_expire_db: 0,
            now_secs: 0,
            mutants: Mutants::default(),
            expired_log: Vec::new(),
            new_log: Vec::new(),
            swaps: 0,
            log_new_keys: false,
            keep_expired: false,
            loading: false,
            garbage: Garbage::default(),
            lazyfreed_objects: 0,
            access: AccessPolicy::default(),
            lfu_rng: seeds
                .0
                .iter()
                .fold(0x6a09_e667_f3bc_c908, |acc, s| acc.rotate_left(17) ^ s),
            pool: EvictionPool::default(),
            next_evict_db: 0,
            evicted_log: Vec::new(),
            evicted_keys: 0,
        }
    }

    /// Frees a value that left the keyspace: at once when small, off the loop when
    /// big. keel does this for every deletion (DEL as UNLINK, overwrites, expiry),
    /// where Redis's defaults free synchronously.
    pub fn dispose(&mut self, value: Value) {
        if value.free_effort() > LAZYFREE_THRESHOLD {
            self.lazyfreed_objects += 1;
            self.garbage.push(value);
        }
    }

    /// Empties database `db` (FLUSHDB / FLUSHALL); its storage is freed off the loop.
    pub fn flush_db(&mut self, db: usize) {
        if let Some(d) = self.dbs.get_mut(db) {
            if d.is_empty() {
                d.clear();
                return;
            }
            let g = d.clear();
            self.lazyfreed_objects += g.objects() as u64;
            self.garbage.append(g);
        }
    }

    /// Key index segment splits, and returns to one table, over every database
    /// (`Db::key_index_shape_changes`).
    pub fn key_index_shape_changes(&self) -> (u64, u64) {
        self.dbs.iter().fold((0, 0), |(s, c), db| {
            let (ss, cc) = db.key_index_shape_changes();
            (s + ss, c + cc)
        })
    }

    /// TTL index chunks turned dense, and back into maps, over every database
    /// (`Db::ttl_shape_changes`).
    pub fn ttl_shape_changes(&self) -> (u64, u64) {
        self.dbs.iter().fold((0, 0), |(d, m), db| {
            let (dd, mm) = db.ttl_shape_changes();
            (d + dd, m + mm)
        })
    }

    /// The TTL index scale the databases run at.
    pub fn index_scale(&self) -> IndexScale {
        self.dbs
            .first()
            .map_or(IndexScale::PRODUCTION, Db::index_scale)
    }

    /// Sets every database's TTL index scale (`IndexScale`).
    pub fn set_index_scale(&mut self, scale: IndexScale) {
        for db in &mut self.dbs {
            db.set_index_scale(scale);
        }
    }

    /// Replaces database `db`'s contents with `with`'s (a replica's full sync), safe
    /// under a running snapshot as a flush is; the old contents are freed lazily.
    pub fn replace_db(&mut self, db: usize, with: Db) {
        if let Some(d) = self.dbs.get_mut(db) {
            let g = d.replace_with(with);
            self.lazyfreed_objects += g.objects() as u64;
            self.garbage.append(g);
        }
    }

    /// What waits to be freed, if anything, for the node to hand to the driver.
    pub fn take_garbage(&mut self) -> Option<Garbage> {
        if self.garbage.is_empty() {
            None
        } else {
            Some(std::mem::take(&mut self.garbage))
        }
    }

    // In range: `dbs` is never empty (`new` makes at least one) and the index is
    // clamped to the last; callers pass indices already checked against `databases`.
    #[allow(clippy::indexing_slicing)]
    pub fn db(&self, index: usize) -> &Db {
        &self.dbs[index.min(self.dbs.len() - 1)]
    }

    /// How many databases there are (`databases`).
    pub fn databases(&self) -> usize {
        self.dbs.len()
    }

    /// Changes made to every database so far (a wrapping count; compare two readings).
    pub fn mutations(&self) -> u64 {
        self.dbs
            .iter()
            .fold(self.swaps, |sum, db| sum.wrapping_add(db.mutations))
    }

    // In range for the same reasons as `db`.
    #[allow(clippy::indexing_slicing)]
    pub fn db_mut(&mut self, index: usize) -> &mut Db {
        let last = self.dbs.len() - 1;
        &mut self.dbs[index.min(last)]
    }

    /// Finds a live key, deleting it first if it has expired (lazy expiry).
    pub fn lookup(&mut self, db: usize, key: &[u8], now_wall_ms: u64) -> Option<u32> {
        let stale_mutant = self.mutants.is(Mutant::LazyExpireReturnsStale);
        // Planted: `>=` instead of `>`, so a key dies at its expire time, one ms early.
        let off_by_one = self.mutants.is(Mutant::TtlOffByOne);
        let loading = self.loading;
        let d = self.db_mut(db);
        let id = d.find(key)?;
        let expired = |e: EntryRef<'_>| {
            e.is_expired(now_wall_ms) || (off_by_one && e.expire_at_ms == now_wall_ms)
        };
        if !loading && d.get(id).is_some_and(expired) {
            if stale_mutant {
                return Some(id);
            }
            if self.keep_expired {
                return None;
            }
            self.remove_expired(db, id);
            return None;
        }
        Some(id)
    }

    /// Deletes the key in slot `id` because its TTL passed: counted and logged for
    /// the node (WATCH, `expired` notifications).
    pub fn remove_expired(&mut self, db: usize, id: u32) {
        // A paused server and a replica keep the dataset still (SCAN and RANDOMKEY
        // come here directly; they skip the key all the same).
        if self.keep_expired {
            return;
        }
        // Expiry is not the running command's change: it propagates as its own DEL.
        let mutations = self.db(db).mutations;
        let removed = self.db_mut(db).remove(id);
        self.db_mut(db).mutations = mutations;
        if let Some(entry) = removed {
            self.stats.expired_keys += 1;
            self.expired_log.push((db, entry.key));
            self.dispose(entry.value);
        }
    }

    /// Like `lookup`, and records the access for OBJECT IDLETIME.
    pub fn lookup_touch(
        &mut self,
        db: usize,
        key: &[u8],
        now_wall_ms: u64,
        _now_secs: u32,
    ) -> Option<u32> {
        let id = self.lookup(db, key, now_wall_ms)?;
        self.touch(db, id);
        Some(id)
    }

    pub fn value(&self, db: usize, id: u32) -> Option<&Value> {
        self.db(db).value(id)
    }

    /// Deletes a live key; true when it existed.
    pub fn delete(&mut self, db: usize, key: &[u8], now_wall_ms: u64) -> bool {
        match self.lookup(db, key, now_wall_ms) {
            Some(id) => match self.db_mut(db).remove(id) {
                Some(entry) => {
                    self.dispose(entry.value);
                    true
                }
                None => false,
            },
            None => false,
        }
    }

    /// Sets `key` to `value`, dropping any TTL unless `keep_ttl`.
    pub fn set(
        &mut self,
        db: usize,
        key: &[u8],
        value: Value,
        keep_ttl: bool,
        now_wall_ms: u64,
    ) -> u32 {
        let existing = self.lookup(db, key, now_wall_ms);
        self.set_found(db, existing, key, value, keep_ttl)
    }

    /// `set` for a caller that already looked the key up (`existing` is what
    /// `lookup` returned, with nothing changed since), saving the second probe.
    pub fn set_found(
        &mut self,
        db: usize,
        existing: Option<u32>,
        key: &[u8],
        value: Value,
        keep_ttl: bool,
    ) -> u32 {
        debug_assert_eq!(existing, self.db(db).find(key));
        let id = match existing {
            Some(id) => {
                let d = self.db_mut(db);
                let old = d.set_value(id, value);
                if !keep_ttl {
                    d.clear_expire(id);
                }
                if let Some(old) = old {
                    self.dispose(old);
                }
                // Redis's lookupKeyWrite counts the access; the overwrite keeps it.
                self.touch(db, id);
                id
            }
            None => {
                if self.log_new_keys {
                    self.new_log.push((db, SmallBytes::new(key)));
                }
                let access = self.fresh_access();
                let id = self.db_mut(db).insert(key, value);
                self.db_mut(db).touch(id, access);
                id
            }
        };
        id
    }

    pub fn total_keys(&self) -> usize {
        self.dbs.iter().map(Db::len).sum()
    }

    pub fn used_bytes(&self) -> usize {
        self.dbs.iter().map(Db::used_bytes).sum()
    }

    /// Redis's active expire cycle (slow mode), bounded by a work budget instead of
    /// CPU time. `effort` is `active-expire-effort` (1..=10). Returns keys removed.
    pub fn active_expire_cycle(&mut self, now_wall_ms: u64, effort: u32) -> usize {
        let effort = effort.clamp(1, 10) as usize - 1;
        let keys_per_loop = EXPIRE_KEYS_PER_LOOP + EXPIRE_KEYS_PER_LOOP / 4 * effort;
        let acceptable_stale = EXPIRE_ACCEPTABLE_STALE_PERCENT.saturating_sub(effort);
        let mut budget = EXPIRE_CYCLE_SAMPLES_BUDGET + EXPIRE_CYCLE_SAMPLES_BUDGET / 4 * effort;
        let db_count = self.dbs.len();
        let mut removed_total = 0usize;
        let (mut sampled_total, mut expired_total) = (0usize, 0usize);
        for _ in 0..db_count {
            let db_index = self.next_expire_db % db_count;
            self.next_expire_db = self.next_expire_db.wrapping_add(1);
            while let Some(db) = self.dbs.get_mut(db_index) {
                if db.volatile_len() == 0 {
                    break;
                }
                let samples = keys_per_loop.min(db.volatile_len());
                let mut expired = 0usize;
                for _ in 0..samples {
                    let Some(id) = db.expire_walk_next() else {
                        break;
                    };
                    if db.get(id).is_some_and(|e| e.is_expired(now_wall_ms)) {
                        if let Some(entry) = db.remove(id) {
                            db.expire_walk_removed();
                            if !self.mutants.is(Mutant::ActiveExpireNotPropagated) {
                                self.expired_log.push((db_index, entry.key));
                            }
                            if entry.value.free_effort() > LAZYFREE_THRESHOLD {
                                self.lazyfreed_objects += 1;
                                self.garbage.push(entry.value);
                            }
                        }
                        expired += 1;
                    }
                }
                budget = budget.saturating_sub(samples);
                sampled_total += samples;
                expired_total += expired;
                removed_total += expired;
                if budget == 0 {
                    self.stats.expire_cycle_time_limit_hit += 1;
                    break;
                }
                // Repeat on this database while many sampled keys were stale.
                if expired * 100 <= samples * acceptable_stale {
                    break;
                }
            }
            if budget == 0 {
                break;
            }
        }
        self.stats.expired_keys += removed_total as u64;
        if sampled_total > 0 {
            let current = expired_total as f64 / sampled_total as f64;
            self.stats.expired_stale_perc = current * 0.05 + self.stats.expired_stale_perc * 0.95;
        }
        removed_total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::StrValue;

    #[test]
    fn lazy_and_active_expiry() {
        let mut ks = Keyspace::new(2, HashSeeds([1; 4]));
        for i in 0..1000 {
            let id = ks.set(
                0,
                format!("k{i}").as_bytes(),
                Value::Str(StrValue::from_set(b"v")),
                false,
                0,
            );
            if i % 2 == 0 {
                ks.db_mut(0).set_expire(id, 100);
            }
        }
        assert!(
            ks.lookup(0, b"k0", 100).is_some(),
            "alive at exactly its expire time"
        );
        assert!(ks.lookup(0, b"k0", 101).is_none());
        let removed = ks.active_expire_cycle(101, 1);
        assert_eq!(removed, 499);
        assert_eq!(ks.db(0).len(), 500);
        assert_eq!(ks.db(0).volatile_len(), 0);
    }

    /// A cycle looks at as many keys as a small database has, and sees each one:
    /// every expired key goes in one cycle, whatever their places (Redis walks its
    /// expires table; random draws with replacement missed a key cycle after cycle,
    /// simulator seed repl-backlog 0xb0).
    #[test]
    fn one_cycle_removes_every_expired_key_of_a_small_database() {
        for n in 1..=20u64 {
            for expired_mask in [0b1u64, 0b101, u64::MAX, 1 << (n - 1)] {
                let mut ks = Keyspace::new(1, HashSeeds([1; 4]));
                for i in 0..n {
                    let id = ks.set(
                        0,
                        format!("k{i}").as_bytes(),
                        Value::Str(StrValue::from_set(b"v")),
                        false,
                        0,
                    );
                    let at = if expired_mask >> i & 1 == 1 {
                        100
                    } else {
                        1_000
                    };
                    ks.db_mut(0).set_expire(id, at);
                }
                let want = (0..n).filter(|i| expired_mask >> i & 1 == 1).count();
                assert_eq!(
                    ks.active_expire_cycle(101, 1),
                    want,
                    "n {n} mask {expired_mask:b}"
                );
                assert_eq!(ks.db(0).volatile_len(), n as usize - want);
            }
        }
    }
}
