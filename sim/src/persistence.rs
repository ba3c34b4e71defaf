//! The world's side of persistence: per host, the propagation stream since its boot
//! (each record tagged with the batch of requests that produced it and, once that
//! batch's last reply is sent, the time), what the disk's operations say about
//! snapshots and AOF writes, and the judgment of each restart (`crate::durability`
//! holds the rules). It reads what the world saw; it never drives the node.

use std::collections::BTreeMap;

use keel_core::propagate::Propagated;
use keel_core::{DiskOp, DiskResult, Node, NodeSeeds};

use crate::checkers::{Checker, Shadow};
use crate::disk::{Completion, DIR};
use crate::durability::{self, Boot, Epoch, GateEvent, Logged, Policy, Replayer};
use crate::model::Model;
use crate::model_types::Coll;
use crate::scenario::reach;
use crate::world::{log, World};

/// Per host: what the durability checker keeps.
#[derive(Debug, Default)]
pub(crate) struct Durable {
    pub(crate) policy: Option<Policy>,
    /// Save points configured (stop-writes-on-bgsave-error applies).
    pub(crate) save_points: bool,
    /// The dbfilename (a rename onto it completes a snapshot).
    pub(crate) dbfilename: String,
    /// The stream since this boot.
    pub(crate) records: Vec<Logged>,
    /// A batch (the history index of its last request) -> its records (start, end).
    batches: BTreeMap<usize, (usize, usize)>,
    /// What earlier epochs kept: the state this epoch started from, as records.
    pub(crate) base: Vec<Logged>,
    snapshot_floor: usize,
    /// Records before the input that opened a snapshot's temp file.
    save_started: Option<usize>,
    /// A snapshot renamed into place, waiting for the directory fsync.
    save_renamed: Option<usize>,
    rewrite_active: bool,
    pub(crate) gate: Vec<GateEvent>,
    /// A crash waiting for the restart's load to be judged.
    pending: Option<Epoch>,
    /// What the node logged since its boot (a refusal's message).
    boot_log: Vec<String>,
    /// A disk operation of the pending boot failed (EIO, ENOSPC): an exit now is
    /// the node giving up on its disk, not refusing its files.
    boot_io_failed: bool,
    /// The highest extra disk latency any slow-disk fault gave.
    pub(crate) slow_ms: u64,
    /// A violation was found: the recovered state is unknown, judge no more restarts.
    lost_track: bool,
}

fn setting<'a>(config: &'a [(String, String)], name: &str) -> Option<&'a str> {
    config
        .iter()
        .rev()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl Durable {
    pub(crate) fn new(config: &[(String, String)]) -> Durable {
        let aof = setting(config, "appendonly").is_some_and(|v| v == "yes");
        let policy = if aof {
            match setting(config, "appendfsync").unwrap_or("everysec") {
                "always" => Policy::Always,
                "no" => Policy::No,
                _ => Policy::Everysec,
            }
        } else {
            Policy::Off
        };
        Durable {
            policy: Some(policy),
            save_points: setting(config, "save").is_none_or(|v| !v.trim().is_empty()),
            dbfilename: setting(config, "dbfilename")
                .unwrap_or("dump.rdb")
                .to_string(),
            ..Durable::default()
        }
    }
}

impl Durable {
    /// A restart is waiting to be judged.
    pub(crate) fn pending_judgment(&self) -> bool {
        self.pending.is_some()
    }

    /// The host starts over on an empty disk: its state is known again (empty).
    pub(crate) fn reset_known_empty(&mut self) {
        self.pending = None;
        self.base.clear();
        self.lost_track = false;
    }
}

/// A file of the AOF the write gate watches (the incremental files take the writes).
fn is_aof_incr(path: &str) -> bool {
    path.ends_with(".incr.aof")
}

fn is_snapshot_temp(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.starts_with("temp") && name.ends_with(".rdb") && !name.contains("rewrite")
}

fn is_rewrite_file(path: &str) -> bool {
    path.contains("rewrite") || path.contains(".base.")
}

impl World<'_> {
    /// Records host `h`'s node propagated, tagged with the batch being delivered.
    pub(crate) fn log_records(&mut self, h: usize, records: &[Propagated]) {
        if records.is_empty() {
            return;
        }
        let batch = self.batch;
        let wall_ms = self.hosts[h].clock.peek(self.now_ms).wall_ms;
        let d = &mut self.durable[h];
        let start = d.records.len();
        d.records.extend(records.iter().map(|r| Logged {
            record: r.clone(),
            acked_ms: None,
            wall_ms,
        }));
        if let Some(last) = batch {
            let end = d.records.len();
            d.batches
                .entry(last)
                .and_modify(|e| e.1 = end)
                .or_insert((start, end));
        }
    }

    /// Request `#i`'s reply was sent: if it ends a batch, its records are acknowledged;
    /// a write's success reply goes to the write gate.
    pub(crate) fn note_reply(&mut self, h: usize, i: usize, request: &[Vec<u8>], reply: &[u8]) {
        let now = self.now_ms;
        let persistence_error = reply.starts_with(b"-MISCONF") || reply.starts_with(b"-LOADING");
        let d = &mut self.durable[h];
        if let Some((start, end)) = d.batches.remove(&i) {
            if !persistence_error {
                for r in d.records.get_mut(start..end).unwrap_or_default() {
                    r.acked_ms = Some(now);
                }
            }
        }
        // (`request_name` without its String: this runs per reply.)
        let txn = request.first().is_some_and(|name| {
            ["MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH"]
                .iter()
                .any(|t| name.eq_ignore_ascii_case(t.as_bytes()))
        });
        if !txn && !crate::workload::is_read_only(request) && reply.first() != Some(&b'-') {
            d.gate.push(GateEvent::WriteAcked {
                op: i,
                request: crate::checkers::show_request(request),
            });
            if let Err(v) = durability::check_gate(&d.gate) {
                d.gate.clear();
                self.flag(Checker::Durability, (v.kind, Some(request)), v.message);
            } else {
                d.gate.retain(|e| match e {
                    GateEvent::WriteAcked { .. } => false,
                    GateEvent::WriteDelivered { op } => *op != i,
                    _ => true,
                });
            }
        }
    }

    /// A disk operation host `h`'s node asked for, as it is submitted.
    pub(crate) fn note_disk_op(&mut self, h: usize, op: &DiskOp) {
        let d = &mut self.durable[h];
        if let DiskOp::Open {
            path, create: true, ..
        } = op
        {
            if is_snapshot_temp(path) {
                d.save_started = Some(d.records.len());
            } else if is_rewrite_file(path) {
                d.rewrite_active = true;
            }
        }
    }

    /// A disk completion about to be handed to host `h`'s node.
    pub(crate) fn note_completion(&mut self, h: usize, c: &Completion) {
        let failed = matches!(c.result, DiskResult::Failed(_));
        if let DiskResult::Failed(e) = c.result {
            self.reached.insert(match e {
                keel_core::DiskError::Io => reach::FSYNC_FAILED,
                keel_core::DiskError::NoSpace => reach::DISK_FULL,
                keel_core::DiskError::NotFound => "a disk operation found no file",
                keel_core::DiskError::NotADirectory | keel_core::DiskError::PermissionDenied => {
                    "a directory change was refused"
                }
            });
        }
        let d = &mut self.durable[h];
        if matches!(
            c.result,
            DiskResult::Failed(keel_core::DiskError::Io | keel_core::DiskError::NoSpace)
        ) && d.pending.is_some()
        {
            d.boot_io_failed = true;
        }
        match (c.kind, failed) {
            ("Append" | "WriteAt" | "Fsync", true) if is_aof_incr(&c.path) => {
                d.gate.push(GateEvent::AofFailed {
                    path: c.path.clone(),
                });
            }
            ("Fsync", false) if is_aof_incr(&c.path) => d.gate.push(GateEvent::AofFsynced),
            (_, true) if is_snapshot_temp(&c.path) && d.save_points => {
                d.gate.push(GateEvent::SaveFailed {
                    path: c.path.clone(),
                });
            }
            ("Rename", false)
                if is_snapshot_temp(&c.path) && c.to.as_deref() == Some(d.dbfilename.as_str()) =>
            {
                d.gate.push(GateEvent::Saved);
                d.save_renamed = d.save_started.take();
            }
            ("Rename", false) if is_snapshot_temp(&c.path) => {}
            ("Rename", false) if c.to.as_deref().is_some_and(|t| t.ends_with(".manifest")) => {
                d.rewrite_active = false;
            }
            ("Fsync", false) if c.path == DIR => {
                // A durable snapshot is a floor only for a node that loads it at its
                // restart: with the AOF on, the AOF is loaded and `dbfilename` is
                // not read (Redis's loadDataFromDisk).
                let rdb_loaded = d.policy == Some(Policy::Off);
                if let Some(floor) = d.save_renamed.take().filter(|_| rdb_loaded) {
                    d.snapshot_floor = d.snapshot_floor.max(floor);
                }
            }
            _ => {}
        }
        // Only the state since the last failure or success matters.
        // Only the state since the last failure or success matters, and the writes
        // run and not yet answered (each with the state it ran under).
        if d.gate.len() > 64 {
            let last_of = |aof: bool| {
                d.gate.iter().rposition(|e| match e {
                    GateEvent::AofFailed { .. } | GateEvent::AofFsynced => aof,
                    GateEvent::SaveFailed { .. } | GateEvent::Saved => !aof,
                    _ => false,
                })
            };
            let keep = [last_of(true), last_of(false)];
            let mut i = 0;
            d.gate.retain(|e| {
                i += 1;
                keep.contains(&Some(i - 1)) || matches!(e, GateEvent::WriteDelivered { .. })
            });
            if d.gate.len() > 1024 {
                d.gate.drain(..d.gate.len() - 1024);
            }
        }
    }

    /// A log line of host `h`'s node (a refusal names its file here).
    pub(crate) fn note_log(&mut self, h: usize, message: &str) {
        let d = &mut self.durable[h];
        if d.pending.is_some() && d.boot_log.len() < 100 {
            d.boot_log.push(message.to_string());
        }
    }

    /// Host `h` loses power: what its stream promised is kept for the restart.
    pub(crate) fn note_crash(&mut self, h: usize) {
        let now = self.now_ms;
        let d = &mut self.durable[h];
        if d.save_started.is_some() {
            self.reached.insert(reach::CRASH_IN_SAVE);
        }
        if d.rewrite_active {
            self.reached.insert(reach::CRASH_IN_REWRITE);
        }
        // A node that dies while its boot is still waiting to be judged has
        // served nothing since: the earlier crash's promise is still the one owed,
        // from the same files.
        let epoch = match d.pending.take() {
            Some(pending) => {
                d.records.clear();
                pending
            }
            None => Epoch {
                policy: d.policy,
                crash_ms: now,
                records: std::mem::take(&mut d.records),
                snapshot_floor: d.snapshot_floor,
                disk_slack_ms: d.slow_ms,
            },
        };
        d.boot_io_failed = false;
        d.batches.clear();
        d.snapshot_floor = 0;
        d.save_started = None;
        d.save_renamed = None;
        d.rewrite_active = false;
        d.gate.clear();
        d.boot_log.clear();
        if !d.lost_track {
            d.pending = Some(epoch);
        }
    }

    /// Host `h`'s node asked to exit: while a restart is pending, it refused to start.
    /// True when the world should treat it as such (not as a failure of its own).
    pub(crate) fn note_shutdown(&mut self, h: usize) -> bool {
        if self.durable[h].pending.is_none() {
            return false;
        }
        if std::mem::take(&mut self.durable[h].boot_io_failed) {
            // An I/O error while booting (a failed fsync of the loaded files): the
            // node exits as on any persistence error and starts again from the same
            // disk, still owing what the crash before it promised.
            log!(self, "host {h}: node exits on a disk error while booting");
            return false;
        }
        self.durable[h].pending = None;
        let log = std::mem::take(&mut self.durable[h].boot_log);
        let rotten = self.hosts[h].disk.take_rotten_reads();
        let files: Vec<String> = self.hosts[h].disk.files().map(str::to_string).collect();
        log!(self, "host {h}: node refused to start: {log:?}");
        self.durable[h].lost_track = true;
        if !rotten.is_empty() {
            self.reached.insert(reach::REFUSED_ROTTEN);
        }
        if let Err(v) = durability::check_boot(&Boot::Refused { log }, &rotten, &files) {
            self.flag(Checker::Durability, (v.kind, None), v.message);
        }
        true
    }

    /// Judges host `h`'s restart once its node has loaded (invariants 6–9, 11), then
    /// starts the model, the shadow and the linearizability checker's histories from
    /// what it recovered.
    pub(crate) fn judge_recovery(&mut self, h: usize) {
        let Some(node) = self.hosts[h].node.as_ref() else {
            return;
        };
        if crate::host::loading(node) {
            return;
        }
        let Some(epoch) = self.durable[h].pending.take() else {
            return;
        };
        // WATCH runs while the node loads; the AOF replay after it may write the
        // watched keys (chaos 0x7/0x33/0x36): those watches are unsure from here.
        self.oracles[h].model.watches_unsure();
        self.loaded_at_run
            .insert((h, self.hosts[h].epoch), self.runs);
        self.durable[h].boot_log.clear();
        let now = self.hosts[h].clock.peek(self.now_ms);
        let recovered = durability::live_digest(node.keyspace(), now.wall_ms);
        let sketch = durability::live_fingerprint(node.keyspace(), now.wall_ms);
        let rotten = self.hosts[h].disk.take_rotten_reads();
        let files: Vec<String> = self.hosts[h].disk.files().map(str::to_string).collect();
        if let Err(v) = durability::check_boot(&Boot::Loaded, &rotten, &files) {
            self.durable[h].lost_track = true;
            return self.flag(Checker::Durability, (v.kind, None), v.message);
        }
        let seeds = NodeSeeds {
            rng_seed: 0x5EED,
            hash_seeds: [1, 2, 3, 4],
        };
        let mut replayer = Replayer::new(seeds, now, &self.durable[h].base);
        let records = epoch.records.clone();
        let verdict = durability::check_recovery(&epoch, &recovered, |k| {
            replayer.replays_to(&records, k, &recovered, sketch)
        });
        self.reached.insert(reach::RECOVERED);
        match verdict {
            Ok(k) => {
                log!(
                    self,
                    "host {h}: restart recovered {k} of {} records (policy {})",
                    records.len(),
                    epoch.policy.map_or("-", Policy::name)
                );
                let Some(keyspace) = self.hosts[h].node.as_ref().map(Node::keyspace) else {
                    return;
                };
                let full = durability::full_digest(keyspace);
                let rebuild = || Replayer::new(seeds, now, &self.durable[h].base);
                let (k, replayer, exact) =
                    exact_prefix(&full, &records, k, replayer, rebuild, keyspace);
                if !exact {
                    log!(
                        self,
                        "host {h}: the replay of {k} records holds expired keys the node does not"
                    );
                }
                self.durable[h].base.extend(records.into_iter().take(k));
                self.start_from_recovered(h, replayer, now.wall_ms, exact);
            }
            Err(v) => {
                if self.trace.is_some() {
                    let show = |ks: &keel_core::keyspace::Keyspace| -> Vec<String> {
                        ks.dbs
                            .iter()
                            .flat_map(|db| db.iter())
                            .filter(|(_, e)| !e.is_expired(now.wall_ms))
                            .map(|(_, e)| {
                                let d = keel_core::digest::value_digest(e.value, false);
                                format!(
                                    "{} {} exp {} {}",
                                    String::from_utf8_lossy(e.key.as_bytes()),
                                    e.value.type_name(),
                                    e.expire_at_ms,
                                    keel_core::digest::hex(&d).get(..8).unwrap_or("")
                                )
                            })
                            .collect()
                    };
                    let got = self.hosts[h].node.as_ref().map(|n| show(n.keyspace()));
                    log!(self, "host {h}: recovered {got:?}");
                    for (i, r) in records.iter().enumerate() {
                        log!(
                            self,
                            "host {h}: record #{i} at {} acked {:?}: {}",
                            r.wall_ms,
                            r.acked_ms,
                            crate::checkers::show_request(&r.record.argv)
                        );
                    }
                    log!(
                        self,
                        "host {h}: replay of all {}: {:?}",
                        records.len(),
                        show(replayer.node().keyspace())
                    );
                    // The nearest prefix: the fewest keys that differ.
                    if let Some(got) = got {
                        let got: std::collections::BTreeSet<String> = got.into_iter().collect();
                        let mut near = Replayer::new(seeds, now, &self.durable[h].base);
                        let mut best: Option<(usize, usize, Vec<String>)> = None;
                        for k in durability::boundaries(&records) {
                            near.digest_at(&records, k);
                            let want: std::collections::BTreeSet<String> =
                                show(near.node().keyspace()).into_iter().collect();
                            let diff: Vec<String> = got
                                .symmetric_difference(&want)
                                .map(|d| {
                                    let side = if got.contains(d) { "got" } else { "want" };
                                    format!("{side} {d}")
                                })
                                .collect();
                            if best.as_ref().is_none_or(|b| diff.len() < b.1) {
                                best = Some((k, diff.len(), diff));
                            }
                        }
                        if let Some((k, _, diff)) = best {
                            log!(self, "host {h}: nearest prefix {k}: {diff:?}");
                        }
                    }
                }
                self.durable[h].lost_track = true;
                self.flag(Checker::Durability, (v.kind, None), v.message);
                // Nothing else can judge this host from a known state any more.
                self.oracles[h].shadow = None;
                self.oracles[h].model_off = true;
            }
        }
    }

    /// The transaction lists (Elle's keys) host `h`'s restart recovered: the state
    /// Elle judges its new epoch from. Left out when a list holds something no
    /// transaction appends (Elle then does not judge that epoch).
    fn note_recovered_lists(&mut self, h: usize, replayer: &mut Replayer, wall_ms: u64) {
        let keys: Vec<Vec<u8>> = replayer
            .node()
            .keyspace()
            .db(0)
            .iter()
            .filter(|(_, e)| !e.is_expired(wall_ms))
            .map(|(_, e)| e.key.as_bytes().to_vec())
            .filter(|k| k.first() == Some(&crate::workload::TXN_PREFIX))
            .collect();
        let mut lists = Vec::new();
        for key in keys {
            let reply = replayer.query_db0(&[b"LRANGE", &key, b"0", b"-1"]);
            let values: Option<Vec<u64>> =
                keel_core::resp::decode(&reply)
                    .ok()
                    .flatten()
                    .and_then(|(value, _)| {
                        value
                            .as_items()?
                            .iter()
                            .map(|v| match v {
                                keel_core::resp::Value::Bulk(b) => {
                                    std::str::from_utf8(b).ok()?.parse().ok()
                                }
                                _ => None,
                            })
                            .collect()
                    });
            let Some(values) = values else {
                return;
            };
            let name = if h == 0 {
                key
            } else {
                [format!("host{h}/").into_bytes(), key].concat()
            };
            lists.push((name, values));
        }
        self.recovered_lists.insert((h, self.hosts[h].epoch), lists);
    }

    /// The model, the shadow and the linearizability histories of host `h`'s new epoch
    /// start from the recovered dataset (held by `replayer`, equal by digest).
    ///
    /// Keys already expired at the restart are kept, as the node keeps them: an AOF
    /// load (its RDB preamble too) expires nothing, as Redis's does not (only
    /// `rdbLoad` of a plain RDB on a master skips them), and expiry compares with the
    /// wall clock, so a later backward jump makes them live again (chaos 0x20, 0x39,
    /// 0x62). The node's active expiry removes them in time; `Model::sync_expired`
    /// and the DELs it propagates to the shadow follow it.
    /// `exact`: the replay holds the node's expired keys too (`exact_prefix`); if
    /// not, a backward clock jump could make them differ, so the model and the shadow
    /// stop judging this host.
    fn start_from_recovered(
        &mut self,
        h: usize,
        mut replayer: Replayer,
        wall_ms: u64,
        exact: bool,
    ) {
        // (key, type, expire time, the string's bytes), read from the table without
        // a lookup: a GET would expire the key in the replayer, the shadow-to-be.
        type Key = (Vec<u8>, &'static str, u64, Option<Vec<u8>>);
        let keys: Vec<Key> = replayer
            .node()
            .keyspace()
            .db(0)
            .iter()
            .map(|(_, e)| {
                let string = match &e.value {
                    keel_core::types::Value::Str(s) => Some(s.to_vec()),
                    _ => None,
                };
                (
                    e.key.as_bytes().to_vec(),
                    e.value.type_name(),
                    e.expire_at_ms,
                    string,
                )
            })
            .collect();
        self.note_recovered_lists(h, &mut replayer, wall_ms);
        let others = replayer
            .node()
            .keyspace()
            .dbs
            .iter()
            .skip(1)
            .any(|db| !db.is_empty());
        if keys.is_empty() && !others {
            return;
        }
        self.reached.insert(reach::RECOVERED_DATA);
        let mut model = Model::new(0);
        model.seen = std::mem::take(&mut self.oracles[h].model.seen);
        model.keep_conns_of(&mut self.oracles[h].model);
        let step = self.next_step();
        let epoch = self.hosts[h].epoch;
        let mut known = !others;
        for (key, kind, expire, string) in keys {
            let expire = (expire != 0).then_some(expire);
            let items = |reply: Vec<u8>| -> Option<Vec<Vec<u8>>> {
                let (value, _) = keel_core::resp::decode(&reply).ok()??;
                value
                    .as_items()?
                    .iter()
                    .map(|v| match v {
                        keel_core::resp::Value::Bulk(b) => Some(b.clone()),
                        _ => None,
                    })
                    .collect()
            };
            match kind {
                "string" => {
                    let Some(v) = string else {
                        known = false;
                        continue;
                    };
                    self.recovered_strings.push(crate::checkers::Recovered {
                        host: h,
                        epoch,
                        key: key.clone(),
                        value: v.clone(),
                        expire_at_ms: expire,
                        wall_ms,
                        step,
                    });
                    model.load_string(key, v, expire);
                }
                _ if expire.is_some() => known = false,
                "list" => match items(replayer.query_db0(&[b"LRANGE", &key, b"0", b"-1"])) {
                    Some(v) => model.load_coll(key, Coll::List(v.into_iter().collect())),
                    None => known = false,
                },
                "set" => match items(replayer.query_db0(&[b"SMEMBERS", &key])) {
                    Some(v) => model.load_coll(key, Coll::Set(v.into_iter().collect())),
                    None => known = false,
                },
                "hash" => match items(replayer.query_db0(&[b"HGETALL", &key])) {
                    Some(v) => model.load_coll(
                        key,
                        Coll::Hash(
                            v.chunks(2)
                                .filter_map(|p| Some((p.first()?.clone(), p.get(1)?.clone())))
                                .collect(),
                        ),
                    ),
                    None => known = false,
                },
                "zset" => {
                    match items(replayer.query_db0(&[b"ZRANGE", &key, b"0", b"-1", b"WITHSCORES"]))
                    {
                        Some(v) => {
                            let pairs: Option<BTreeMap<Vec<u8>, i64>> = v
                                .chunks(2)
                                .map(|p| {
                                    let score =
                                        std::str::from_utf8(p.get(1)?).ok()?.parse().ok()?;
                                    Some((p.first()?.clone(), score))
                                })
                                .collect();
                            match pairs {
                                Some(z) => model.load_coll(key, Coll::ZSet(z)),
                                None => known = false,
                            }
                        }
                        None => known = false,
                    }
                }
                _ => known = false,
            }
        }
        if known && exact {
            self.oracles[h].model = model;
        } else {
            // A dataset the model cannot hold: it stops judging this host.
            self.oracles[h].model_off = true;
        }
        self.oracles[h].shadow = exact.then(|| Shadow::from_node(replayer.into_node()));
    }
}

/// Among the prefixes the durability check accepts (the lowest, `k`, and any later
/// one with the same live digest), the first whose replay also holds the node's
/// expired keys (`full` is the node's `full_digest`): a record that deleted an
/// already-expired key (chaos 0x20: `DEL c1336432221`) changes no live digest, yet a
/// backward clock jump would make the key live in one and not the other. Returns the
/// prefix, its replay, and whether it matched; if none did, the replay of `k`
/// (`rebuild` starts a new one) without the expired keys the node lacks (its active
/// expiry may have removed them since it loaded), matched or not.
fn exact_prefix(
    full: &durability::Digest,
    records: &[Logged],
    k: usize,
    mut replayer: Replayer,
    rebuild: impl FnOnce() -> Replayer,
    node: &keel_core::keyspace::Keyspace,
) -> (usize, Replayer, bool) {
    let live = replayer.digest_at(records, k);
    if durability::full_digest(replayer.node().keyspace()) == *full {
        return (k, replayer, true);
    }
    for b in durability::boundaries(records)
        .into_iter()
        .filter(|&b| b > k)
    {
        if replayer.digest_at(records, b) == live
            && durability::full_digest(replayer.node().keyspace()) == *full
        {
            return (b, replayer, true);
        }
    }
    let mut replayer = rebuild();
    replayer.digest_at(records, k);
    let gone: Vec<(usize, Vec<u8>)> = replayer
        .node()
        .keyspace()
        .dbs
        .iter()
        .enumerate()
        .flat_map(|(i, db)| db.iter().map(move |(_, e)| (i, e.key.as_bytes().to_vec())))
        .filter(|(i, key)| node.dbs.get(*i).is_none_or(|db| db.find(key).is_none()))
        .collect();
    for (i, key) in gone {
        replayer.query(&[b"SELECT", i.to_string().as_bytes()]);
        replayer.query(&[b"DEL", &key]);
    }
    replayer.query(&[b"SELECT", b"0"]);
    let exact = durability::full_digest(replayer.node().keyspace()) == *full;
    (k, replayer, exact)
}
