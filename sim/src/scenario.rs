//! Scenarios and plans: what a seed turns into (the scenario's parameters, its fault
//! plan and its workload) and the coverage each scenario's sweep must reach. Pure data
//! and generation from the seed; it never runs anything.

use std::collections::BTreeSet;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::faults::{Fault, PlannedFault};
use crate::net::{Link, Peer};
use crate::workload::{
    random_blocking_requests, random_request, random_transaction, random_typed_request,
    random_wide_requests, TxnKeys,
};

/// A named scenario: what a seed turns into, and the events its sweep must reach.
pub struct ScenarioDef {
    pub name: &'static str,
    pub must_reach: &'static [&'static str],
}

/// Coverage events (names a run reports in `Outcome::reached`).
pub mod reach {
    pub const PIPELINED_BATCH: &str = "a pipelined batch ran in one delivery";
    pub const CLIENT_TIMEOUT: &str = "a client timed out";
    pub const ACTIVE_EXPIRY: &str = "active expiry removed a key";
    pub const TTL_INDEX_DENSE: &str =
        "a TTL index chunk went dense and back (the small index scale)";
    pub const KEY_INDEX_SPLIT: &str =
        "the key index split a segment and became one table again (the small index scale)";
    pub const CLOCK_JUMP_BACK: &str = "the wall clock jumped backward";
    pub const OOM_REPLY: &str = "an OOM reply was sent";
    pub const READ_WHILE_OVER: &str = "a read was served while over maxmemory";
    pub const PARTITION_HEALED: &str = "a partition healed";
    pub const CONN_RESET: &str = "a connection was reset";
    pub const PAUSE_RESUMED: &str = "a paused node resumed";
    pub const CRASH_RESTART: &str = "the node crashed and restarted";
    pub const ONE_WAY_HEALED: &str = "a one-way partition healed";
    pub const CLOCK_DRIFTED: &str = "the node's clock drifted";
    pub const SECOND_HOST_SERVED: &str = "a host other than the first ran a request";
    pub const HOST_PARTITION_HEALED: &str = "a partition between two hosts healed";
    pub const EMPTIED_DELETED: &str = crate::model::seen::EMPTIED_DELETED;
    pub const CLIENT_BLOCKED: &str = "a blocking command blocked";
    pub const BLOCKED_SERVED: &str = crate::model_blocking::SERVED_BY_WRITE;
    pub const BLOCKED_TIMED_OUT: &str = crate::model_blocking::TIMED_OUT;
    pub const LREM_DUPLICATES: &str = crate::model::seen::LREM_DUPLICATES;
    pub const ZADD_EQUAL_KEPT: &str = crate::model::seen::ZADD_EQUAL_KEPT;
    pub const SREM_ABSENT: &str = crate::model::seen::SREM_ABSENT;
    pub const TXN_COMMITTED: &str = crate::model::seen::TXN_COMMITTED;
    pub const WATCH_ABORTED: &str = crate::model::seen::WATCH_ABORTED;
    pub const WATCH_EXPIRY_ABORTED: &str = crate::model::seen::WATCH_EXPIRY_ABORTED;
    pub const CLOSED_IN_MULTI: &str = crate::model::seen::CLOSED_IN_MULTI;
    pub const TXN_UNKNOWN: &str = "a transaction's outcome was unknown";
    pub const ELLE_RAN: &str = "an Elle check ran over committed transactions";
    pub const SHADOW_COMPARED: &str = "the shadow node's digest was compared after a write";
    pub const SPOP_POPPED: &str = crate::model::seen::SPOP_POPPED;
    pub const BIT_ROT: &str = "bit rot flipped a byte of a file at rest";
    pub const FSYNC_FAILED: &str = "an fsync failed with EIO";
    pub const DISK_FULL: &str = "a write failed with ENOSPC";
    pub const RECOVERED: &str = "a restart recovered a dataset the durability checker judged";
    pub const RECOVERED_DATA: &str = "a restart recovered a non-empty dataset";
    pub const REFUSED_ROTTEN: &str = "a node refused to start on a corrupted file";
    pub const CRASH_IN_SAVE: &str = "a crash hit a snapshot in progress";
    pub const CRASH_IN_REWRITE: &str = "a crash hit an AOF rewrite in progress";
    pub const NODE_EXITED: &str = "a node exited on a persistence error and restarted";
    pub const KEY_EVICTED: &str = crate::eviction_checks::KEY_EVICTED;
    pub const AOF_MATCHED: &str = crate::eviction_checks::AOF_MATCHED;
    pub const LFU_DECAY_JUDGED: &str = crate::eviction_checks::LFU_DECAY_JUDGED;
    pub const HASH_TABLE: &str = "a hash left its listpack for a hashtable";
    pub const ZSET_SKIPLIST: &str = "a sorted set left its listpack for a skiplist";
    pub const LIST_NODES: &str = "a list spanned several quicklist nodes";
    pub const REPLICA_COMPARED: &str =
        "a replica at its master's offset compared its whole dataset";
    pub const SUB_REPLICA_COMPARED: &str =
        "a sub-replica (its master a replica) was compared at an equal position";
    pub const MIN_REPLICAS_PROMOTED_JUDGED: &str =
        "a promoted master's write or -NOREPLICAS was judged against min-replicas";
    pub const FAILED_OVER: &str = "a FAILOVER made the old master a replica";
    pub const READONLY_AFTER_FAILOVER: &str =
        "a write to the old master was refused with -READONLY";
    pub const REPLICA_CAUGHT_UP: &str = "every replica caught up after heal and quiet";
    pub const WAIT_ANSWERED: &str = "a master answered WAIT with a count";
    pub const WAIT_COUNTED: &str = "a WAIT after a write counted a replica";
    pub const PUBSUB_DELIVERED: &str = crate::pubsub::seen::DELIVERED;
    pub const PUBSUB_PATTERN_DELIVERED: &str = crate::pubsub::seen::PATTERN_DELIVERED;
    pub const PUBSUB_SHARD_DELIVERED: &str = crate::pubsub::seen::SHARD_DELIVERED;
    pub const PUBSUB_REFUSED_IN_CONTEXT: &str = crate::pubsub::seen::REFUSED_IN_CONTEXT;
    pub const PSYNC_CONTINUE_JUDGED: &str =
        "a +CONTINUE was judged against the world's books of the master's histories";
    pub const PSYNC_PREVIOUS_ID_CONTINUED: &str =
        "a PSYNC naming the master's previous history continued";
    pub const PROMOTED_BY_REPLICAOF: &str = "a replica was promoted with REPLICAOF NO ONE";
    pub const OPERATOR_SHUTDOWN: &str =
        "an operator's SHUTDOWN SAVE stopped a node, restarted from its disk";
    pub const PSYNC_RESTART_CONTINUED: &str =
        "a replica continued the history a restarted master loaded from its RDB file";
    pub const PSYNC_RESTART_FULL_SYNC: &str =
        "a replica past the offset a restarted master's RDB file recorded full-synced";
    pub const PSYNC_BYTES_JUDGED: &str =
        "the bytes a +CONTINUE served were judged against the master's own stream";
    pub const ROLLBACK_JUDGED: &str =
        "a demoted master's lost writes were judged against its rollback file";
    pub const NOREPLICAS_REFUSED: &str = "a write was refused with -NOREPLICAS";
    pub const MIN_REPLICAS_WRITE_JUDGED: &str =
        "a write that ran under min-replicas-to-write was judged against the replicas' ACKs";
    pub const BACKLOG_FULL_SYNC: &str =
        "a replica back from a partition got a full sync for lack of backlog";
}

pub const SCENARIO_DEFS: &[ScenarioDef] = &[
    ScenarioDef {
        name: "plain-load",
        must_reach: &[
            reach::PUBSUB_DELIVERED,
            reach::PUBSUB_PATTERN_DELIVERED,
            reach::PUBSUB_SHARD_DELIVERED,
            reach::PUBSUB_REFUSED_IN_CONTEXT,
            reach::PIPELINED_BATCH,
            reach::CLIENT_BLOCKED,
            reach::BLOCKED_SERVED,
            reach::BLOCKED_TIMED_OUT,
            reach::SHADOW_COMPARED,
            reach::SPOP_POPPED,
            reach::EMPTIED_DELETED,
            reach::LREM_DUPLICATES,
            reach::SREM_ABSENT,
            reach::ZADD_EQUAL_KEPT,
        ],
    },
    ScenarioDef {
        name: "encodings",
        must_reach: &[
            reach::HASH_TABLE,
            reach::ZSET_SKIPLIST,
            reach::LIST_NODES,
            reach::SHADOW_COMPARED,
            reach::EMPTIED_DELETED,
        ],
    },
    ScenarioDef {
        name: "expiry-clock-jumps",
        must_reach: &[
            reach::ACTIVE_EXPIRY,
            reach::CLOCK_JUMP_BACK,
            reach::CLOCK_DRIFTED,
        ],
    },
    ScenarioDef {
        name: "ttl-index",
        must_reach: &[
            reach::ACTIVE_EXPIRY,
            reach::TTL_INDEX_DENSE,
            reach::KEY_INDEX_SPLIT,
        ],
    },
    ScenarioDef {
        name: "slow-link-timeouts",
        must_reach: &[
            reach::CLIENT_TIMEOUT,
            reach::PARTITION_HEALED,
            reach::CONN_RESET,
            reach::ONE_WAY_HEALED,
        ],
    },
    ScenarioDef {
        name: "pause-resume",
        must_reach: &[reach::PAUSE_RESUMED, reach::CLIENT_TIMEOUT],
    },
    ScenarioDef {
        name: "memory-squeeze",
        must_reach: &[
            reach::OOM_REPLY,
            reach::READ_WHILE_OVER,
            reach::KEY_EVICTED,
            reach::AOF_MATCHED,
            reach::LFU_DECAY_JUDGED,
        ],
    },
    ScenarioDef {
        name: "crash-restart",
        must_reach: &[reach::CRASH_RESTART],
    },
    ScenarioDef {
        name: "hosts",
        must_reach: &[
            reach::SECOND_HOST_SERVED,
            reach::PARTITION_HEALED,
            reach::HOST_PARTITION_HEALED,
            reach::CRASH_RESTART,
            reach::PAUSE_RESUMED,
            reach::CONN_RESET,
        ],
    },
    ScenarioDef {
        name: "replication",
        must_reach: &[
            reach::REPLICA_COMPARED,
            reach::REPLICA_CAUGHT_UP,
            reach::HOST_PARTITION_HEALED,
            reach::WAIT_ANSWERED,
            reach::WAIT_COUNTED,
        ],
    },
    ScenarioDef {
        name: "repl-backlog",
        must_reach: &[
            reach::BACKLOG_FULL_SYNC,
            reach::REPLICA_COMPARED,
            reach::REPLICA_CAUGHT_UP,
            reach::WAIT_ANSWERED,
        ],
    },
    ScenarioDef {
        name: "repl-crash",
        must_reach: &[
            reach::CRASH_RESTART,
            reach::RECOVERED,
            reach::REPLICA_COMPARED,
            reach::REPLICA_CAUGHT_UP,
            reach::WAIT_ANSWERED,
            reach::OPERATOR_SHUTDOWN,
            reach::PSYNC_RESTART_CONTINUED,
            reach::PSYNC_RESTART_FULL_SYNC,
            reach::PSYNC_BYTES_JUDGED,
        ],
    },
    ScenarioDef {
        name: "repl-chain",
        must_reach: &[
            reach::REPLICA_COMPARED,
            reach::SUB_REPLICA_COMPARED,
            reach::REPLICA_CAUGHT_UP,
            reach::CONN_RESET,
            reach::HOST_PARTITION_HEALED,
        ],
    },
    ScenarioDef {
        name: "repl-failover",
        must_reach: &[
            reach::REPLICA_COMPARED,
            reach::REPLICA_CAUGHT_UP,
            reach::FAILED_OVER,
            reach::READONLY_AFTER_FAILOVER,
        ],
    },
    ScenarioDef {
        name: "repl-failover-force",
        must_reach: &[
            reach::REPLICA_CAUGHT_UP,
            reach::FAILED_OVER,
            reach::PAUSE_RESUMED,
            reach::ROLLBACK_JUDGED,
        ],
    },
    ScenarioDef {
        name: "repl-promote-rejoin",
        must_reach: &[
            reach::PROMOTED_BY_REPLICAOF,
            reach::PSYNC_CONTINUE_JUDGED,
            reach::PSYNC_PREVIOUS_ID_CONTINUED,
            reach::FAILED_OVER,
            reach::REPLICA_CAUGHT_UP,
            reach::ROLLBACK_JUDGED,
            reach::READONLY_AFTER_FAILOVER,
        ],
    },
    ScenarioDef {
        name: "repl-min-replicas",
        must_reach: &[
            reach::NOREPLICAS_REFUSED,
            reach::MIN_REPLICAS_WRITE_JUDGED,
            reach::REPLICA_CAUGHT_UP,
            reach::PAUSE_RESUMED,
            reach::HOST_PARTITION_HEALED,
        ],
    },
    ScenarioDef {
        name: "repl-min-replicas-clock",
        must_reach: &[
            reach::NOREPLICAS_REFUSED,
            reach::MIN_REPLICAS_WRITE_JUDGED,
            reach::CLOCK_JUMP_BACK,
            reach::FAILED_OVER,
            reach::MIN_REPLICAS_PROMOTED_JUDGED,
        ],
    },
    ScenarioDef {
        name: "persist-crash",
        must_reach: &[reach::CRASH_RESTART, reach::RECOVERED],
    },
    ScenarioDef {
        name: "everysec-window",
        must_reach: &[reach::CRASH_RESTART, reach::RECOVERED],
    },
    ScenarioDef {
        name: "fsync-eio",
        must_reach: &[reach::CRASH_RESTART, reach::RECOVERED, reach::FSYNC_FAILED],
    },
    ScenarioDef {
        name: "aof-rewrite-crash",
        must_reach: &[
            reach::CRASH_RESTART,
            reach::RECOVERED,
            reach::CRASH_IN_REWRITE,
        ],
    },
    ScenarioDef {
        name: "manifest-swap-crash",
        must_reach: &[reach::CRASH_RESTART, reach::RECOVERED],
    },
    ScenarioDef {
        name: "bgsave-disk-full",
        must_reach: &[reach::CRASH_RESTART, reach::RECOVERED, reach::DISK_FULL],
    },
    ScenarioDef {
        name: "rdb-bit-rot",
        must_reach: &[reach::CRASH_RESTART, reach::BIT_ROT, reach::REFUSED_ROTTEN],
    },
    ScenarioDef {
        name: "chaos",
        must_reach: &[
            reach::CLIENT_TIMEOUT,
            reach::CONN_RESET,
            reach::PARTITION_HEALED,
            reach::CRASH_RESTART,
            reach::PAUSE_RESUMED,
            reach::CLOCK_JUMP_BACK,
            reach::OOM_REPLY,
            reach::TXN_COMMITTED,
        ],
    },
    ScenarioDef {
        name: "transactions",
        must_reach: &[
            reach::TXN_COMMITTED,
            reach::WATCH_ABORTED,
            reach::WATCH_EXPIRY_ABORTED,
            reach::TXN_UNKNOWN,
            reach::CLOSED_IN_MULTI,
            reach::ELLE_RAN,
            reach::CLIENT_TIMEOUT,
            reach::CONN_RESET,
        ],
    },
];

/// Scenarios this build can run.
pub const SCENARIOS: &[&str] = &[
    "plain-load",
    "encodings",
    "expiry-clock-jumps",
    "slow-link-timeouts",
    "pause-resume",
    "memory-squeeze",
    "crash-restart",
    "transactions",
    "hosts",
    "replication",
    "repl-backlog",
    "repl-crash",
    "repl-chain",
    "repl-failover",
    "repl-failover-force",
    "repl-promote-rejoin",
    "repl-min-replicas",
    "repl-min-replicas-clock",
    "chaos",
    "persist-crash",
    "everysec-window",
    "fsync-eio",
    "aof-rewrite-crash",
    "manifest-swap-crash",
    "bgsave-disk-full",
    "rdb-bit-rot",
    "ttl-index",
];

/// Whether the mutant catch tests and `keel-sim mutants` try `name`: chaos meets
/// every fault at once, so any mutant it catches a simpler scenario catches too, and
/// its runs are long. The repl-min-replicas scenarios (~10 simulated seconds a seed)
/// are in: `keel-sim mutants` reported their three mutants as surviving every
/// scenario while `sweep --scenario repl-min-replicas(-clock) --mutant M` caught
/// them in 77 to 135 of 200 seeds.
pub fn in_mutant_matrix(name: &str) -> bool {
    name != "chaos"
}

/// The persistence scenarios (fewer seeds in the quick sweep: each judges restarts).
pub const PERSIST_SCENARIOS: &[&str] = &[
    "persist-crash",
    "everysec-window",
    "fsync-eio",
    "aof-rewrite-crash",
    "manifest-swap-crash",
    "bgsave-disk-full",
    "rdb-bit-rot",
];

/// Fresh seeds per scenario in `cargo test`'s quick sweep.
pub fn quick_sweep_seeds(name: &str) -> u64 {
    // chaos: ~5x a plain-load seed's work; `keel-sim sweep --scenario chaos` is its
    // real sweep.
    if PERSIST_SCENARIOS.contains(&name) || name == "chaos" {
        20
    } else if name == "repl-min-replicas" || name == "repl-min-replicas-clock" {
        // ~15 simulated seconds a seed (outages longer than the lag); 10 seeds reach
        // its coverage.
        10
    } else {
        100
    }
}

pub fn scenario_def(name: &str) -> Option<&'static ScenarioDef> {
    SCENARIO_DEFS.iter().find(|d| d.name == name)
}

/// Coverage events a scenario requires that none of `reached` holds.
pub fn missing_coverage(name: &str, reached: &BTreeSet<&'static str>) -> Vec<&'static str> {
    scenario_def(name)
        .map(|d| {
            d.must_reach
                .iter()
                .copied()
                .filter(|e| !reached.contains(e))
                .collect()
        })
        .unwrap_or_default()
}

/// Parameters a seed chooses, bounded so one seed runs in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    pub name: String,
    pub clients: usize,
    pub ops_per_client: usize,
    pub keys: usize,
    pub pipeline_max: usize,
    pub think_max_ms: u64,
    pub timeout_ms: u64,
    pub reconnect_backoff_ms: u64,
    pub ttl_heavy: bool,
    /// Hosts in the world (clients are spread over them round-robin).
    #[serde(default = "one_host")]
    pub hosts: usize,
    pub link: Link,
    /// The node's clocks: monotonic rate and wall-clock offset from true time.
    #[serde(default)]
    pub clock: NodeClock,
    pub faults: Vec<PlannedFault>,
    /// Config directives every boot of every node gets (persistence scenarios:
    /// `appendonly`, `appendfsync`, `save` ...).
    #[serde(default)]
    pub persist: Vec<(String, String)>,
    /// The node's `notify-keyspace-events` at boot (None: Redis's default, off).
    #[serde(default)]
    pub notify_keyspace_events: Option<String>,
    /// The node's `maxmemory-policy` (None: the default, noeviction).
    #[serde(default)]
    pub maxmemory_policy: Option<String>,
    /// Clients connect to the first this many hosts (None: all of them).
    #[serde(default)]
    pub client_hosts: Option<usize>,
    /// Nodes keep their timers this long after the clients are done (a quiet period
    /// for replicas to catch up before the end-of-run checks).
    #[serde(default)]
    pub settle_ms: u64,
    /// `--duration`: the run lasts at least this long in simulated time (its workload
    /// and fault plan were stretched towards it, `Plan::generate_for`); 0: the
    /// scenario's own length.
    #[serde(default)]
    pub duration_ms: u64,
}

fn one_host() -> usize {
    1
}

/// A node's clock errors: its monotonic clock runs at `mono_rate_permille` / 1000 of
/// simulated time, and its wall clock is `wall_skew_ms` off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeClock {
    pub mono_rate_permille: u64,
    pub wall_skew_ms: i64,
}

impl Default for NodeClock {
    fn default() -> Self {
        NodeClock {
            mono_rate_permille: 1000,
            wall_skew_ms: 0,
        }
    }
}

/// Adds `count` faults made by `make`, starting in the busy part of a run.
fn add_faults(
    faults: &mut Vec<PlannedFault>,
    rng: &mut ChaCha8Rng,
    count: usize,
    duration_ms: (u64, u64),
    make: impl Fn(&mut ChaCha8Rng) -> Fault,
) {
    for _ in 0..count {
        let fault = make(rng);
        faults.push(PlannedFault {
            at_ms: rng.gen_range(20..600),
            duration_ms: if duration_ms.1 == 0 {
                0
            } else {
                rng.gen_range(duration_ms.0..=duration_ms.1)
            },
            fault,
        });
    }
}

impl Scenario {
    fn from_rng(name: &'static str, rng: &mut ChaCha8Rng) -> Self {
        let mut s = Scenario {
            name: name.to_string(),
            clients: rng.gen_range(1..=10),
            ops_per_client: rng.gen_range(20..=200),
            keys: rng.gen_range(1..=8),
            pipeline_max: rng.gen_range(1..=6),
            think_max_ms: 20,
            timeout_ms: 2_000,
            reconnect_backoff_ms: rng.gen_range(5..=50),
            ttl_heavy: false,
            hosts: 1,
            link: Link {
                latency_min_ms: rng.gen_range(0..=2),
                latency_jitter_ms: rng.gen_range(0..=5),
                slow_factor: 1,
                blackholed: false,
                max_chunks: rng.gen_range(1..=4),
            },
            clock: NodeClock::default(),
            faults: Vec::new(),
            persist: Vec::new(),
            notify_keyspace_events: None,
            maxmemory_policy: None,
            client_hosts: None,
            settle_ms: 0,
            duration_ms: 0,
        };
        let faults = &mut s.faults;
        match name {
            "expiry-clock-jumps" => {
                s.ttl_heavy = true;
                s.ops_per_client = rng.gen_range(60..=200);
                let n = rng.gen_range(2..=5);
                add_faults(faults, rng, n, (0, 0), |rng| Fault::ClockJump {
                    host: 0,
                    delta_ms: rng.gen_range(-3_000..=3_000),
                });
                // The first planned jump goes back, so every seed exercises one.
                if let Some(PlannedFault {
                    fault: Fault::ClockJump { delta_ms, .. },
                    ..
                }) = faults.first_mut()
                {
                    *delta_ms = -delta_ms.abs().max(500);
                }
                s.clock = NodeClock {
                    mono_rate_permille: rng.gen_range(900..=1100),
                    wall_skew_ms: rng.gen_range(-5_000..=5_000),
                };
                let n = rng.gen_range(1..=2);
                add_faults(faults, rng, n, (100, 800), |rng| Fault::ClockDrift {
                    host: 0,
                    rate_permille: if rng.gen_bool(0.5) {
                        rng.gen_range(200..=900)
                    } else {
                        rng.gen_range(1100..=3000)
                    },
                });
            }
            "ttl-index" => {
                // Many keys with TTLs, on a node whose indexes change shape at
                // `IndexScale::SMALL` (TTL pages of 8, dense chunks from 6 TTLs, key
                // index segments of 28 keys): every growth, shrink, swap-remove across
                // pages, map/dense conversion, segment split and return to one table
                // that production meets only at thousands of keys happens here.
                s.ttl_heavy = true;
                s.keys = rng.gen_range(16..=64);
                s.ops_per_client = rng.gen_range(80..=240);
                let n = rng.gen_range(0..=2);
                add_faults(faults, rng, n, (0, 0), |rng| Fault::ClockJump {
                    host: 0,
                    delta_ms: rng.gen_range(-2_000..=4_000),
                });
            }
            "slow-link-timeouts" => {
                s.ops_per_client = rng.gen_range(60..=200);
                s.timeout_ms = rng.gen_range(100..=300);
                let n = rng.gen_range(1..=3);
                add_faults(faults, rng, n, (100, 600), |rng| Fault::SlowLink {
                    factor: rng.gen_range(10..=60),
                });
                let n = rng.gen_range(1..=2);
                add_faults(faults, rng, n, (50, 600), |_| Fault::Partition {
                    a: Peer::Clients,
                    b: Peer::Host(0),
                });
                let (n, clients) = (rng.gen_range(1..=2), s.clients);
                add_faults(faults, rng, n, (0, 0), |rng| {
                    if rng.gen_bool(0.3) {
                        Fault::ResetAll {
                            a: Peer::Clients,
                            b: Peer::Host(0),
                        }
                    } else {
                        Fault::ResetConn {
                            client: rng.gen_range(0..clients),
                        }
                    }
                });
                let n = rng.gen_range(1..=2);
                add_faults(faults, rng, n, (50, 600), |rng| {
                    let (node, clients) = (Peer::Host(0), Peer::Clients);
                    if rng.gen_bool(0.5) {
                        Fault::OneWayPartition {
                            from: clients,
                            to: node,
                        }
                    } else {
                        Fault::OneWayPartition {
                            from: node,
                            to: clients,
                        }
                    }
                });
            }
            // The typed workload under tiny encoding thresholds: its few fields and
            // members cross them both ways, so conversions and multi-node quicklists
            // meet every command (plain-load's collections never leave listpacks).
            "encodings" => {
                s.ops_per_client = rng.gen_range(60..=200);
                s.persist = vec![
                    directive("hash-max-listpack-entries", "2"),
                    directive("hash-max-listpack-value", "2"),
                    directive("zset-max-listpack-entries", "2"),
                    directive("list-max-listpack-size", "2"),
                ];
            }
            // Host 0 is the master; an operator makes the others its replicas, then
            // links between them are cut, reset and paused while clients write to
            // the master. After the faults and a quiet period every replica must be
            // at the master's position with its dataset.
            "replication"
            | "repl-backlog"
            | "repl-crash"
            | "repl-chain"
            | "repl-failover"
            | "repl-failover-force"
            | "repl-promote-rejoin"
            | "repl-min-replicas"
            | "repl-min-replicas-clock" => {
                let mut hosts = rng.gen_range(2..=3);
                if name == "repl-chain"
                    || name == "repl-promote-rejoin"
                    || name == "repl-min-replicas-clock"
                {
                    hosts = 3;
                }
                s.hosts = hosts;
                // repl-promote-rejoin: clients of host 1 too, which write there once
                // it is promoted (before, they are refused with -READONLY).
                s.client_hosts = Some(if name == "repl-promote-rejoin" { 2 } else { 1 });
                s.clients = rng.gen_range(1..=6);
                s.ops_per_client = rng.gen_range(60..=200);
                // A chain syncs in two hops, each a reconnect (~1 s) and perhaps a
                // 1 s diskless delay: 3 s was too short for both (repl-chain 0x1dd).
                s.settle_ms = if name == "repl-chain" { 5_000 } else { 3_000 };
                // Redis's 5 s wait for more replicas before a diskless transfer
                // would outlast the run: off, or short.
                let delay = ["0", "0", "1"][rng.gen_range(0..3)];
                s.persist = vec![directive("repl-diskless-sync-delay", delay)];
                for r in 1..hosts {
                    faults.push(PlannedFault {
                        at_ms: rng.gen_range(0..30),
                        duration_ms: 0,
                        fault: Fault::ReplicaOf {
                            host: r,
                            // The chain: host 2 is a sub-replica, through host 1.
                            master: usize::from(name == "repl-chain" && r == 2),
                        },
                    });
                }
                // repl-failover-force has its own plan only (`repl_plan`): a random
                // cut of the target's link at the FAILOVER gets "target replica is
                // not online".
                let random_faults = name != "repl-failover-force"
                    && name != "repl-min-replicas"
                    && name != "repl-min-replicas-clock"
                    && name != "repl-promote-rejoin";
                let replica = move |rng: &mut ChaCha8Rng| Peer::Host(rng.gen_range(1..hosts));
                let n = if random_faults {
                    rng.gen_range(1..=2)
                } else {
                    0
                };
                add_faults(faults, rng, n, (50, 800), |rng| Fault::Partition {
                    a: Peer::Host(0),
                    b: replica(rng),
                });
                if random_faults && rng.gen_bool(0.5) {
                    add_faults(faults, rng, 1, (0, 0), |rng| Fault::ResetAll {
                        a: Peer::Host(0),
                        b: replica(rng),
                    });
                }
                if random_faults && rng.gen_bool(0.3) {
                    add_faults(faults, rng, 1, (50, 500), |rng| Fault::Pause {
                        host: rng.gen_range(1..hosts),
                    });
                }
            }
            "pause-resume" => {
                s.ops_per_client = rng.gen_range(60..=200);
                s.timeout_ms = rng.gen_range(150..=400);
                let n = rng.gen_range(1..=3);
                add_faults(faults, rng, n, (50, 800), |_| Fault::Pause { host: 0 });
            }
            "memory-squeeze" => {
                s.ops_per_client = rng.gen_range(60..=200);
                let n = rng.gen_range(1..=3);
                add_faults(faults, rng, n, (100, 500), |rng| Fault::Squeeze {
                    host: 0,
                    deep: rng.gen_bool(0.5),
                });
            }
            "transactions" => {
                s.clients = rng.gen_range(2..=6);
                s.ops_per_client = rng.gen_range(40..=160);
                s.timeout_ms = rng.gen_range(100..=300);
                let n = rng.gen_range(0..=2);
                add_faults(faults, rng, n, (100, 600), |rng| Fault::SlowLink {
                    factor: rng.gen_range(10..=60),
                });
                let (n, clients) = (rng.gen_range(1..=3), s.clients);
                add_faults(faults, rng, n, (0, 0), |rng| {
                    if rng.gen_bool(0.2) {
                        Fault::ResetAll {
                            a: Peer::Clients,
                            b: Peer::Host(0),
                        }
                    } else {
                        Fault::ResetConn {
                            client: rng.gen_range(0..clients),
                        }
                    }
                });
                if rng.gen_bool(0.3) {
                    add_faults(faults, rng, 1, (50, 400), |_| Fault::Partition {
                        a: Peer::Clients,
                        b: Peer::Host(0),
                    });
                }
            }
            "crash-restart" => {
                s.ops_per_client = rng.gen_range(60..=200);
                let n = rng.gen_range(1..=3);
                add_faults(faults, rng, n, (10, 300), |_| Fault::Crash { host: 0 });
                // Sometimes a pause too, which may overlap a crash.
                if rng.gen_bool(0.3) {
                    add_faults(faults, rng, 1, (50, 400), |_| Fault::Pause { host: 0 });
                }
            }
            "hosts" => {
                let hosts = rng.gen_range(2..=3);
                s.hosts = hosts;
                s.clients = rng.gen_range(hosts..=8);
                s.ops_per_client = rng.gen_range(60..=200);
                s.timeout_ms = rng.gen_range(150..=400);
                // A path between the clients and a host, or between two hosts.
                let path = move |rng: &mut ChaCha8Rng| {
                    let b = rng.gen_range(0..hosts);
                    let a = if rng.gen_bool(0.5) {
                        Peer::Clients
                    } else {
                        Peer::Host((b + rng.gen_range(1..hosts)) % hosts)
                    };
                    (a, Peer::Host(b))
                };
                let n = rng.gen_range(1..=3);
                add_faults(faults, rng, n, (50, 600), |rng| {
                    let (a, b) = path(rng);
                    Fault::Partition { a, b }
                });
                // Every seed heals one partition between two hosts.
                add_faults(faults, rng, 1, (50, 600), |rng| {
                    let b = rng.gen_range(0..hosts);
                    Fault::Partition {
                        a: Peer::Host((b + 1) % hosts),
                        b: Peer::Host(b),
                    }
                });
                if rng.gen_bool(0.5) {
                    add_faults(faults, rng, 1, (0, 0), |rng| {
                        let (a, b) = path(rng);
                        Fault::ResetAll { a, b }
                    });
                }
                if rng.gen_bool(0.5) {
                    add_faults(faults, rng, 1, (10, 300), |rng| Fault::Crash {
                        host: rng.gen_range(0..hosts),
                    });
                }
                if rng.gen_bool(0.5) {
                    add_faults(faults, rng, 1, (50, 400), |rng| Fault::Pause {
                        host: rng.gen_range(0..hosts),
                    });
                }
            }
            "chaos" => chaos_plan(&mut s, rng),
            name if PERSIST_SCENARIOS.contains(&name) => persist_plan(name, &mut s, rng),
            _ => {}
        }
        repl_plan(name, &mut s, rng);
        s.faults.sort_by_key(|f| f.at_ms);
        s
    }
}

/// What the `repl-*` scenarios add to the replication scenario's plan.
fn repl_plan(name: &str, s: &mut Scenario, rng: &mut ChaCha8Rng) {
    let hosts = s.hosts;
    match name {
        // A backlog far smaller than a partition's writes (Redis would raise it to
        // its 16kb minimum; keel takes the size as given): a replica cut off and
        // reset must be refused a partial resync and fully synced at the heal.
        "repl-backlog" => {
            s.ops_per_client = rng.gen_range(120..=240);
            s.clients = rng.gen_range(2..=6);
            let size = rng.gen_range(256..=1024u64).to_string();
            s.persist.push(directive("repl-backlog-size", &size));
            let t = rng.gen_range(100..300);
            let replica = Peer::Host(rng.gen_range(1..hosts));
            s.faults.push(at(
                t,
                0,
                Fault::ResetAll {
                    a: Peer::Host(0),
                    b: replica,
                },
            ));
            s.faults.push(at(
                t,
                rng.gen_range(400..900),
                Fault::Partition {
                    a: Peer::Host(0),
                    b: replica,
                },
            ));
        }
        // The master loses power once, with AOF `always` (acknowledged writes must
        // survive it) or with no persistence at all (it restarts empty with a new
        // replication id, and its replicas follow it into emptiness by a full sync,
        // as Redis's documentation warns). Without the AOF, in some seeds it has an
        // RDB file: an operator's BGSAVE before the power loss (the replicas are past
        // the file's offset when it comes back: a full sync), or instead of the power
        // loss a rolling restart by SHUTDOWN SAVE (the replicas are at the file's
        // offset: they continue the history the file recorded, Redis 7.0's rule).
        "repl-crash" => {
            s.persist.push(directive("save", ""));
            let aof = rng.gen_bool(0.5);
            if aof {
                s.persist.push(directive("appendonly", "yes"));
                s.persist.push(directive("appendfsync", "always"));
            }
            let crash_at = rng.gen_range(150..900);
            let crash = at(crash_at, rng.gen_range(10..=200), Fault::Crash { host: 0 });
            match rng.gen_range(0..10) {
                4..=6 if !aof => {
                    s.faults.push(at(
                        rng.gen_range(50..crash_at),
                        0,
                        Fault::Bgsave { host: 0 },
                    ));
                    s.faults.push(crash);
                }
                7..=9 if !aof => s.faults.push(at(crash_at, 0, Fault::Shutdown { host: 0 })),
                _ => s.faults.push(crash),
            }
        }
        // A chain 0 → 1 → 2 whose links are cut and reset repeatedly while clients
        // write to the top: host 2 follows the stream host 1 relays (invariant 12
        // between any two at the same position, 13 along each edge at the end).
        "repl-chain" => {
            for _ in 0..rng.gen_range(1..=3) {
                let t = rng.gen_range(50..900);
                s.faults.push(at(
                    t,
                    0,
                    Fault::ResetAll {
                        a: Peer::Host(1),
                        b: Peer::Host(2),
                    },
                ));
            }
            let t = rng.gen_range(50..900);
            s.faults.push(at(
                t,
                rng.gen_range(50..800),
                Fault::Partition {
                    a: Peer::Host(1),
                    b: Peer::Host(2),
                },
            ));
            if rng.gen_bool(0.5) {
                let t = rng.gen_range(50..900);
                s.faults
                    .push(at(t, rng.gen_range(50..400), Fault::Pause { host: 1 }));
            }
        }
        // FAILOVER under write load: the operator asks the master to hand over (to a
        // named replica or the first synced one, with a timeout after which it
        // gives up; never FORCE, which may drop acknowledged writes by
        // design) while clients keep writing to host 0, which then answers
        // -READONLY. No acknowledged write may go missing (the model keeps reading
        // host 0), and the topology the nodes report must converge.
        "repl-failover" => {
            s.ops_per_client = rng.gen_range(120..=240);
            let to = rng.gen_bool(0.6).then(|| rng.gen_range(1..hosts));
            // Always a TIMEOUT: a replica whose link drops while the master waits for
            // it is refused its PSYNC (`-NOMASTERLINK Can't SYNC while failing
            // over`, Redis 7.0's syncCommand refuses in any failover state), so an
            // untimed FAILOVER would hold writes until an operator's ABORT.
            let timeout_ms = Some(rng.gen_range(100..=2_000));
            s.faults.push(at(
                rng.gen_range(150..900),
                0,
                Fault::Failover {
                    host: 0,
                    to,
                    timeout_ms,
                    force: false,
                },
            ));
        }
        // FAILOVER ... FORCE to a replica that fell behind: the target is paused from
        // shortly before the FAILOVER (still a connected replica, so FAILOVER takes
        // it) while host 0 acknowledges writes; at the TIMEOUT, FORCE hands over
        // anyway; then the links between them are reset (the stream bytes the paused
        // target never read are gone) and it resumes. Host 0's PSYNC FAILOVER
        // promotes it without those writes, host 0 full-syncs from it and loses them:
        // its rollback file must hold them (invariant 17). The model and
        // linearizability stop judging host 0 at its demotion (the loss is by
        // design); the rollback checker judges the rest.
        "repl-failover-force" => {
            s.ops_per_client = rng.gen_range(120..=240);
            // The target must be an online replica when FAILOVER comes: no wait
            // before the diskless transfer.
            s.persist
                .retain(|(name, _)| name != "repl-diskless-sync-delay");
            s.persist.push(directive("repl-diskless-sync-delay", "0"));
            let target = rng.gen_range(1..hosts);
            let failover_at = rng.gen_range(300..900);
            let timeout_ms = rng.gen_range(100..=600);
            let pause_at = failover_at - rng.gen_range(20..=250);
            let reset_at = failover_at + timeout_ms + rng.gen_range(10..=100);
            s.faults.push(at(
                pause_at,
                reset_at + 1 - pause_at,
                Fault::Pause { host: target },
            ));
            s.faults.push(at(
                failover_at,
                0,
                Fault::Failover {
                    host: 0,
                    to: Some(target),
                    timeout_ms: Some(timeout_ms),
                    force: true,
                },
            ));
            let (a, b) = (Peer::Host(0), Peer::Host(target));
            s.faults.push(at(reset_at, 0, Fault::ResetAll { a, b }));
        }
        // min-replicas-to-write N with a small min-replicas-max-lag while clients write
        // all along: enough replicas to leave fewer than N good go silent at about the
        // same time for longer than the lag (a partition, a pause, or a crash after
        // which the operator makes the host a replica again), then come back. Writes
        // must be refused while too few replicas ACK, and only then
        // (`replication/min_replicas.rs`).
        "repl-min-replicas" => {
            min_replicas_plan(s, rng);
        }
        // The same, with the wall clock of the master jumping during the outage and
        // a monotonic clock drifting, and in half the seeds a FAILOVER to host 1
        // after it, host 2 re-pointed at host 1, then a second outage of host 1's
        // replicas: the promoted master must refuse writes the same way.
        "repl-min-replicas-clock" => min_replicas_clock_plan(s, rng),
        "repl-promote-rejoin" => promote_rejoin_plan(s, rng),
        _ => {}
    }
}

/// A replica promoted by an operator's `REPLICAOF NO ONE` (not FAILOVER) while host 0
/// still takes writes: host 1 becomes a master at `t1`, then the other replica (host
/// 2) and later the old master (host 0) are pointed at it, with link kills and
/// partitions in between. Host 0's PSYNC names its own history, now host 1's
/// previous one: it continues when host 0 wrote nothing past the switch point (its
/// clients cut off from shortly before the promotion until after the rejoin, in
/// some seeds), else it full-syncs and its writes past the switch point go to its
/// rollback file (invariant 17). The model and linearizability judge host 0 until
/// its demotion and never host 1 (a replica's data comes from its master); the PSYNC
/// books, invariants 12, 13 and 17 judge the rest.
fn promote_rejoin_plan(s: &mut Scenario, rng: &mut ChaCha8Rng) {
    s.ops_per_client = rng.gen_range(200..=400);
    s.clients = rng.gen_range(2..=6);
    s.persist
        .retain(|(name, _)| name != "repl-diskless-sync-delay");
    s.persist.push(directive("repl-diskless-sync-delay", "0"));
    // After the replicas' first ACK (a second after their full sync: until then
    // the master holds their stream, as Redis's repl_start_cmd_stream_on_ack).
    let t1 = rng.gen_range(1_100..1_700);
    let t2 = t1 + rng.gen_range(0..=300);
    let t3 = t1 + rng.gen_range(50..=600);
    s.faults.push(at(t1, 0, Fault::ReplicaOfNoOne { host: 1 }));
    s.faults
        .push(at(t2, 0, Fault::ReplicaOf { host: 2, master: 1 }));
    s.faults
        .push(at(t3, 0, Fault::ReplicaOf { host: 0, master: 1 }));
    if rng.gen_bool(0.4) {
        // No writes reach host 0 around the promotion: its PSYNC may continue.
        let from = t1 - rng.gen_range(60..=150);
        let to = t3 + rng.gen_range(20..=100);
        s.faults.push(at(
            from,
            to - from,
            Fault::Partition {
                a: Peer::Clients,
                b: Peer::Host(0),
            },
        ));
    }
    let pair = |rng: &mut ChaCha8Rng| {
        let a = rng.gen_range(0..3);
        (Peer::Host(a), Peer::Host((a + rng.gen_range(1..3)) % 3))
    };
    for _ in 0..rng.gen_range(0..=2) {
        let (a, b) = pair(rng);
        s.faults
            .push(at(rng.gen_range(50..2_200), 0, Fault::ResetAll { a, b }));
    }
    if rng.gen_bool(0.5) {
        let (a, b) = pair(rng);
        s.faults.push(at(
            rng.gen_range(50..2_200),
            rng.gen_range(50..600),
            Fault::Partition { a, b },
        ));
    }
}

/// `min_replicas_plan` plus clock faults and, in half the seeds, a FAILOVER.
fn min_replicas_clock_plan(s: &mut Scenario, rng: &mut ChaCha8Rng) {
    let (n, outage_end_ms) = min_replicas_plan(s, rng);
    let hosts = s.hosts;
    // The master's wall clock jumps while the replicas are silent: back first (so
    // every seed has one), then either way. keel's lag is on the monotonic clock,
    // so a jump changes nothing the checker allows (Redis's lag is on the wall
    // clock: see `replication/min_replicas.rs`).
    let jumps = rng.gen_range(1..=3);
    for i in 0..jumps {
        let magnitude: i64 = rng.gen_range(1_000..=6_000);
        let delta_ms = if i == 0 || rng.gen_bool(0.5) {
            -magnitude
        } else {
            magnitude
        };
        let at_ms = rng.gen_range(200..outage_end_ms);
        s.faults
            .push(at(at_ms, 0, Fault::ClockJump { host: 0, delta_ms }));
    }
    // A monotonic clock running fast or slow for a while, on any host.
    if rng.gen_bool(0.7) {
        let host = rng.gen_range(0..hosts);
        let rate_permille = rng.gen_range(700..=1_500);
        let at_ms = rng.gen_range(200..outage_end_ms);
        let duration_ms = rng.gen_range(1_000..=5_000);
        s.faults.push(at(
            at_ms,
            duration_ms,
            Fault::ClockDrift {
                host,
                rate_permille,
            },
        ));
    }
    if hosts < 3 || rng.gen_bool(0.5) {
        return;
    }
    // FAILOVER to host 1 once every replica is back, host 2 re-pointed at host 1,
    // then enough of host 1's replicas (hosts 0 and 2) silent for longer than the
    // lag. Clients on every host: those of the new master write there.
    // A replica's crash here restarts it as a master of its own (the rollback
    // checker would take that for a promotion from host 0's history): it is
    // paused for as long instead.
    s.faults
        .retain(|f| !matches!(f.fault, Fault::ReplicaOf { master: 0, .. } if f.at_ms >= 30));
    for f in &mut s.faults {
        if let Fault::Crash { host } = f.fault {
            f.fault = Fault::Pause { host };
        }
    }
    s.client_hosts = Some(hosts);
    s.clients = hosts;
    s.ops_per_client = rng.gen_range(350..=450);
    let failover_ms = outage_end_ms + rng.gen_range(1_500..=2_500);
    s.faults.push(at(
        failover_ms,
        0,
        Fault::Failover {
            host: 0,
            to: Some(1),
            timeout_ms: Some(3_000),
            force: false,
        },
    ));
    let back = Fault::ReplicaOf { host: 2, master: 1 };
    s.faults.push(at(failover_ms + 500, 0, back));
    let mut silent = vec![0usize, 2];
    while silent.len() > 3 - n {
        let i = rng.gen_range(0..silent.len());
        silent.remove(i);
    }
    let start = failover_ms + rng.gen_range(2_500..=3_500);
    for r in silent {
        let duration_ms = rng.gen_range(4_000..=6_000);
        let (a, b) = (Peer::Host(1), Peer::Host(r));
        s.faults
            .push(at(start, duration_ms, Fault::Partition { a, b }));
    }
    let delta_ms = -rng.gen_range(1_000..=6_000);
    let jump_at = start + rng.gen_range(500..=3_000);
    s.faults
        .push(at(jump_at, 0, Fault::ClockJump { host: 1, delta_ms }));
}

/// Plans the silences; returns N (`min-replicas-to-write`) and when the last ends.
fn min_replicas_plan(s: &mut Scenario, rng: &mut ChaCha8Rng) -> (usize, u64) {
    let hosts = s.hosts;
    let replicas = hosts.saturating_sub(1).max(1);
    let n = rng.gen_range(1..=replicas);
    let lag_secs = rng.gen_range(2..=3u64);
    s.persist
        .retain(|(name, _)| name != "repl-diskless-sync-delay");
    s.persist.push(directive("repl-diskless-sync-delay", "0"));
    s.persist
        .push(directive("min-replicas-to-write", &n.to_string()));
    s.persist
        .push(directive("min-replicas-max-lag", &lag_secs.to_string()));
    // Few, slow clients: writes spread over ~8-14 s, across the outage and after it.
    s.clients = rng.gen_range(1..=3);
    s.ops_per_client = rng.gen_range(150..=250);
    s.pipeline_max = rng.gen_range(1..=2);
    s.think_max_ms = 100;
    let mut silent: Vec<usize> = (1..hosts).collect();
    while silent.len() > replicas + 1 - n {
        let i = rng.gen_range(0..silent.len());
        silent.remove(i);
    }
    let start = rng.gen_range(300..1_500);
    let mut outage_end_ms = start;
    for r in silent {
        let at_ms = start + rng.gen_range(0..200);
        let duration_ms = rng.gen_range(4_000..=7_000);
        match rng.gen_range(0..4) {
            0 | 1 => {
                let (a, b) = (Peer::Host(0), Peer::Host(r));
                s.faults
                    .push(at(at_ms, duration_ms, Fault::Partition { a, b }));
                if rng.gen_bool(0.5) {
                    // Reset at the heal: the replica continues by a partial resync.
                    s.faults
                        .push(at(at_ms + duration_ms, 0, Fault::ResetAll { a, b }));
                }
            }
            2 => s
                .faults
                .push(at(at_ms, duration_ms, Fault::Pause { host: r })),
            _ => {
                s.faults
                    .push(at(at_ms, duration_ms, Fault::Crash { host: r }));
                let back = Fault::ReplicaOf { host: r, master: 0 };
                s.faults.push(at(at_ms + duration_ms + 1, 0, back));
            }
        }
        outage_end_ms = outage_end_ms.max(at_ms + duration_ms);
    }
    (n, outage_end_ms)
}

fn chaos_plan(s: &mut Scenario, rng: &mut ChaCha8Rng) {
    s.clients = rng.gen_range(2..=8);
    s.ops_per_client = rng.gen_range(150..=400);
    s.timeout_ms = rng.gen_range(150..=500);
    s.ttl_heavy = rng.gen_bool(0.3);
    if rng.gen_bool(0.5) {
        let policy = ["always", "everysec"][rng.gen_range(0..2)];
        s.persist = vec![
            directive("appendonly", "yes"),
            directive("appendfsync", policy),
            directive("save", ""),
        ];
    }
    s.clock = NodeClock {
        mono_rate_permille: rng.gen_range(900..=1100),
        wall_skew_ms: rng.gen_range(-5_000..=5_000),
    };
    let clients = s.clients;
    let faults = &mut s.faults;
    add_faults(faults, rng, 1, (0, 0), |rng| Fault::ClockJump {
        host: 0,
        delta_ms: -rng.gen_range(500..=3_000),
    });
    let n = rng.gen_range(0..=2);
    add_faults(faults, rng, n, (0, 0), |rng| Fault::ClockJump {
        host: 0,
        delta_ms: rng.gen_range(-3_000..=3_000),
    });
    let n = rng.gen_range(0..=1);
    add_faults(faults, rng, n, (100, 800), |rng| Fault::ClockDrift {
        host: 0,
        rate_permille: rng.gen_range(200..=3000),
    });
    let n = rng.gen_range(1..=2);
    add_faults(faults, rng, n, (50, 600), |rng| Fault::SlowLink {
        factor: rng.gen_range(10..=60),
    });
    add_faults(faults, rng, 1, (50, 600), |_| Fault::Partition {
        a: Peer::Clients,
        b: Peer::Host(0),
    });
    let n = rng.gen_range(1..=3);
    add_faults(faults, rng, n, (0, 0), |rng| {
        if rng.gen_bool(0.3) {
            Fault::ResetAll {
                a: Peer::Clients,
                b: Peer::Host(0),
            }
        } else {
            Fault::ResetConn {
                client: rng.gen_range(0..clients),
            }
        }
    });
    add_faults(faults, rng, 1, (50, 600), |_| Fault::Pause { host: 0 });
    add_faults(faults, rng, 1, (10, 300), |_| Fault::Crash { host: 0 });
    add_faults(faults, rng, 1, (100, 500), |rng| Fault::Squeeze {
        host: 0,
        deep: rng.gen_bool(0.5),
    });
}

/// A generous estimate of how long a scenario's run lasts in simulated ms: a client's
/// requests (a think time and a round trip per pipelined batch), or its fault plan.
pub fn natural_ms(s: &Scenario) -> u64 {
    let batch = (s.pipeline_max.max(1) as u64).div_ceil(2);
    let per_batch_ms = s.think_max_ms / 2 + s.link.latency_min_ms * 2 + s.link.latency_jitter_ms;
    let ops_ms = (s.ops_per_client as u64 / batch).saturating_mul(per_batch_ms.max(1));
    let faults_ms = s
        .faults
        .iter()
        .map(|f| f.at_ms.saturating_add(f.duration_ms))
        .max()
        .unwrap_or(0);
    ops_ms.max(faults_ms).max(1)
}

/// `--duration`: scales the workload and repeats the fault plan (`Plan::generate_for`).
fn stretch(s: &mut Scenario, duration_ms: u64) {
    if duration_ms == 0 {
        return;
    }
    let period_ms = natural_ms(s);
    let times = duration_ms.div_ceil(period_ms).clamp(1, MAX_STRETCH);
    s.ops_per_client = s.ops_per_client.saturating_mul(times as usize);
    let base = s.faults.clone();
    for k in 1..times {
        for f in &base {
            let mut f = f.clone();
            f.at_ms = f.at_ms.saturating_add(k.saturating_mul(period_ms));
            s.faults.push(f);
        }
    }
    s.faults.sort_by_key(|f| f.at_ms);
    s.duration_ms = duration_ms;
}

/// At most this many times a scenario's natural length (`--duration`).
const MAX_STRETCH: u64 = 1_000;

fn directive(name: &str, value: &str) -> (String, String) {
    (name.to_string(), value.to_string())
}

fn at(at_ms: u64, duration_ms: u64, fault: Fault) -> PlannedFault {
    PlannedFault {
        at_ms,
        duration_ms,
        fault,
    }
}

/// The persistence scenarios: the config every boot gets and the fault plan.
fn persist_plan(name: &str, s: &mut Scenario, rng: &mut ChaCha8Rng) {
    s.clients = rng.gen_range(1..=4);
    s.ops_per_client = rng.gen_range(30..=120);
    s.think_max_ms = 20;
    let policy = ["always", "everysec", "no"][rng.gen_range(0..3)];
    let preamble = if rng.gen_bool(0.5) { "yes" } else { "no" };
    let aof = |policy: &str| {
        vec![
            directive("appendonly", "yes"),
            directive("appendfsync", policy),
            directive("aof-use-rdb-preamble", preamble),
            directive("save", ""),
        ]
    };
    let crash = |rng: &mut ChaCha8Rng, from: u64, to: u64| {
        at(
            rng.gen_range(from..to),
            rng.gen_range(10..=200),
            Fault::Crash { host: 0 },
        )
    };
    let faults = &mut s.faults;
    match name {
        // Crash-restart under each policy, or snapshots only (save points, BGSAVE).
        "persist-crash" => {
            if rng.gen_bool(0.4) {
                s.persist = vec![directive("appendonly", "no"), directive("save", "1 1")];
                // A first snapshot, then a second one the crash may hit anywhere.
                let t = rng.gen_range(50..400);
                faults.push(at(t, 0, Fault::Bgsave { host: 0 }));
                let t2 = t + rng.gen_range(100..400);
                faults.push(at(t2, 0, Fault::Bgsave { host: 0 }));
                faults.push(crash(rng, t2, t2 + 12));
            } else {
                s.persist = aof(policy);
                if policy == "always" {
                    // A slow disk stretches each fsync, and a crash lands inside
                    // the window: a reply that left before its fsync is caught.
                    let t = rng.gen_range(50..600);
                    let len = rng.gen_range(100..400);
                    faults.push(at(
                        t,
                        len,
                        Fault::SlowDisk {
                            host: 0,
                            extra_ms: rng.gen_range(20..80),
                        },
                    ));
                    faults.push(crash(rng, t + 20, t + len));
                }
            }
            for _ in 0..rng.gen_range(1..=2) {
                faults.push(crash(rng, 100, 1_500));
            }
        }
        // A long run under everysec and a crash late in it: what the loss window is.
        "everysec-window" => {
            s.persist = aof("everysec");
            s.ops_per_client = rng.gen_range(150..=250);
            s.think_max_ms = 40;
            faults.push(crash(rng, 2_300, 3_500));
            if rng.gen_bool(0.3) {
                faults.push(at(
                    rng.gen_range(200..2_000),
                    rng.gen_range(100..500),
                    Fault::SlowDisk {
                        host: 0,
                        extra_ms: rng.gen_range(5..50),
                    },
                ));
            }
        }
        // fsync failing (mostly under always), then a crash.
        "fsync-eio" => {
            s.persist = aof(if rng.gen_bool(0.7) { "always" } else { policy });
            let start = rng.gen_range(50..600);
            let len = rng.gen_range(50..400);
            faults.push(at(
                start,
                len,
                Fault::FsyncFails {
                    host: 0,
                    permille: rng.gen_range(200..=1000),
                },
            ));
            faults.push(crash(rng, start + len / 2, start + len + 400));
        }
        // BGREWRITEAOF, and a crash soon after it starts (inside the rewrite).
        "aof-rewrite-crash" => {
            s.persist = aof(policy);
            let t = rng.gen_range(100..800);
            faults.push(at(t, 0, Fault::RewriteAof { host: 0 }));
            faults.push(crash(rng, t, t + 30));
        }
        // BGREWRITEAOF, and a crash around its end (the manifest swap), under a
        // slow disk that stretches the swap.
        "manifest-swap-crash" => {
            s.persist = aof(policy);
            let t = rng.gen_range(100..800);
            faults.push(at(t, 0, Fault::RewriteAof { host: 0 }));
            if rng.gen_bool(0.5) {
                faults.push(at(
                    t,
                    300,
                    Fault::SlowDisk {
                        host: 0,
                        extra_ms: rng.gen_range(2..20),
                    },
                ));
            }
            faults.push(crash(rng, t + 5, t + 200));
        }
        // The disk fills during a BGSAVE (save points on: writes must stop with
        // -MISCONF until a save succeeds), then a crash.
        "bgsave-disk-full" => {
            s.persist = if rng.gen_bool(0.5) {
                vec![directive("appendonly", "no"), directive("save", "1 1")]
            } else {
                let mut c = aof(policy);
                c.retain(|(n, _)| n != "save");
                c.push(directive("save", "1 1"));
                c
            };
            let t: u64 = rng.gen_range(100..700);
            faults.push(at(
                t.saturating_sub(5),
                rng.gen_range(100..600),
                Fault::DiskFull {
                    host: 0,
                    headroom_bytes: rng.gen_range(0..256),
                },
            ));
            faults.push(at(t, 0, Fault::Bgsave { host: 0 }));
            faults.push(crash(rng, t + 700, t + 1_500));
        }
        // A snapshot at rest loses a byte: the restart must refuse it, naming it.
        "rdb-bit-rot" => {
            s.persist = vec![directive("appendonly", "no"), directive("save", "")];
            if rng.gen_bool(0.3) {
                s.persist = aof(policy);
                s.persist.retain(|(n, _)| n != "aof-use-rdb-preamble");
                s.persist.push(directive("aof-use-rdb-preamble", "yes"));
                faults.push(at(rng.gen_range(50..300), 0, Fault::RewriteAof { host: 0 }));
            } else {
                faults.push(at(rng.gen_range(50..300), 0, Fault::Bgsave { host: 0 }));
            }
            let t = rng.gen_range(600..900);
            faults.push(at(
                t,
                0,
                Fault::BitRot {
                    host: 0,
                    rdb_only: true,
                },
            ));
            faults.push(crash(rng, t + 10, t + 300));
        }
        _ => {}
    }
}

/// The share of collection commands in the workload of every scenario but
/// `transactions` (the rest are the string commands the linearizability checker judges).
const TYPED_SHARE: f64 = 0.3;
/// Share of plain-load's requests from the wide workload (`workload::random_wide_request`).
const WIDE_SHARE: f64 = 0.3;

/// Scenarios whose clients also subscribe and publish (`crate::pubsub`), and the
/// share of request groups that are pub/sub (a subscriber session or one publisher
/// request).
const PUBSUB_SCENARIOS: &[&str] = &["plain-load", "slow-link-timeouts", "chaos"];
const PUBSUB_SHARE: f64 = 0.025;
/// Share of plain-load's planned requests a blocking-family request (or a few) precedes.
const BLOCKING_SHARE: f64 = 0.06;
/// Plain-load and transactions seeds that send flushes (FLUSHALL, FLUSHDB in database
/// 0), and their share of those seeds' requests: rare, since one wipes what every
/// checker follows.
const FLUSH_SEEDS: f64 = 0.5;
const FLUSH_SHARE: f64 = 0.004;
/// Plain-load seeds that turn keyspace notifications on, and the share of their
/// planned requests a keyspace subscriber session precedes.
const NOTIFY_SEEDS: f64 = 0.5;
const KEYSPACE_SESSION_SHARE: f64 = 0.02;

/// The share of requests a WAIT follows in the replication scenarios.
const WAIT_SHARE: f64 = 0.15;

/// One request of the workload: which client sends it, and its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedOp {
    pub client: usize,
    pub args: Vec<String>,
}

/// Everything a run does that is not a reaction: the scenario's parameters, the fault
/// plan and the workload, explicit so a failing run can be shrunk and saved. What
/// happens at run time (latencies, chunking, batch sizes, node seeds) is drawn from
/// `runtime_seed`, so a plan replays bit for bit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The seed the plan came from (informational once the plan is edited).
    pub seed: u64,
    pub runtime_seed: u64,
    pub start_wall_ms: u64,
    pub scenario: Scenario,
    pub ops: Vec<PlannedOp>,
}

impl Plan {
    /// The seed's plan for a scenario (unknown names get plain-load).
    pub fn generate(scenario: &str, seed: u64) -> Plan {
        Plan::generate_for(scenario, seed, 0)
    }

    /// The seed's plan stretched to last about `duration_ms` of simulated time (0:
    /// the scenario's own length, the same plan as `generate`): each client gets
    /// proportionally more requests and the fault plan repeats, shifted, once per
    /// natural length of the run. The world keeps the node's timers running until
    /// `duration_ms` even if the clients finish earlier.
    pub fn generate_for(scenario: &str, seed: u64, duration_ms: u64) -> Plan {
        let name = SCENARIOS
            .iter()
            .copied()
            .find(|s| *s == scenario)
            .unwrap_or("plain-load");
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut scenario = Scenario::from_rng(name, &mut rng);
        if name == "memory-squeeze" {
            let policy = crate::eviction_checks::policy_for_seed(seed);
            scenario.maxmemory_policy = Some(policy.to_string());
            if crate::eviction_checks::aof_for_seed(seed) {
                scenario.persist = vec![
                    directive("appendonly", "yes"),
                    directive("appendfsync", "everysec"),
                    directive("save", ""),
                ];
            }
        }
        stretch(&mut scenario, duration_ms);
        let start_wall_ms: u64 = 1_700_000_000_000 + rng.gen_range(0..1_000_000);
        let runtime_seed = rng.gen();
        let mut ops = Vec::with_capacity(scenario.clients * scenario.ops_per_client);
        let mut txn_keys = TxnKeys {
            lists: rng.gen_range(2..=4),
            watched: rng.gen_range(1..=2),
            next_value: 0,
        };
        let mut next_payload = 0u64;
        let pubsub = PUBSUB_SCENARIOS.contains(&name);
        let transactions = name == "transactions";
        let replication = crate::replication::is_replication(name);
        let some_transactions = name == "chaos";
        // The whole workload (wide commands, the blocking family): plain-load, and
        // chaos, where it meets every fault.
        let whole = name == "plain-load" || name == "chaos";
        let typed_share = if name == "encodings" {
            0.8
        } else if whole {
            // Of what the wide workload leaves: the same collection share as before.
            TYPED_SHARE / (1.0 - WIDE_SHARE)
        } else {
            TYPED_SHARE
        };
        // The blocking family (plain-load) draws from a stream of its own, so the rest
        // of the plan is the one the seed gave before it was added.
        let mut blocking_rng = ChaCha8Rng::seed_from_u64(seed ^ 0xB10C_B10C_B10C_B10C);
        // So do the flushes: a seed that sends none has the plan it had before.
        let mut flush_rng = ChaCha8Rng::seed_from_u64(seed ^ 0xF1A5_F1A5_F1A5_F1A5);
        let flushes = matches!(name, "plain-load" | "transactions" | "chaos")
            && flush_rng.gen_bool(FLUSH_SEEDS);
        // And keyspace notifications: a seeded half of plain-load seeds turn them on
        // (a seeded set of classes) and send keyspace subscriber sessions.
        let mut notify_rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4E07_1F1E_4E07_1F1E);
        if whole && notify_rng.gen_bool(NOTIFY_SEEDS) {
            scenario.notify_keyspace_events =
                Some(crate::pubsub::random_notify_flags(&mut notify_rng));
        }
        let keyspace_subscribers = scenario.notify_keyspace_events.is_some();
        for client in 0..scenario.clients {
            let mut planned = 0;
            while planned < scenario.ops_per_client {
                if whole && blocking_rng.gen_bool(BLOCKING_SHARE) {
                    for request in random_blocking_requests(&mut blocking_rng) {
                        let args = request
                            .into_iter()
                            .map(|a| String::from_utf8_lossy(&a).into_owned())
                            .collect();
                        ops.push(PlannedOp { client, args });
                    }
                }
                if keyspace_subscribers && notify_rng.gen_bool(KEYSPACE_SESSION_SHARE) {
                    for request in crate::pubsub::keyspace_subscriber_session(&mut notify_rng) {
                        let args = request
                            .into_iter()
                            .map(|a| String::from_utf8_lossy(&a).into_owned())
                            .collect();
                        ops.push(PlannedOp { client, args });
                    }
                }
                if flushes && flush_rng.gen_bool(FLUSH_SHARE) {
                    let args = crate::workload::random_flush_request(&mut flush_rng)
                        .into_iter()
                        .map(|a| String::from_utf8_lossy(&a).into_owned())
                        .collect();
                    ops.push(PlannedOp { client, args });
                }
                let requests = if (transactions && rng.gen_bool(0.8))
                    || (some_transactions && rng.gen_bool(0.1))
                {
                    random_transaction(&mut rng, &mut txn_keys)
                } else if pubsub && rng.gen_bool(PUBSUB_SHARE) {
                    crate::pubsub::random_pubsub_requests(&mut rng, &mut next_payload)
                } else if whole && rng.gen_bool(WIDE_SHARE) {
                    random_wide_requests(&mut rng, start_wall_ms)
                } else if !transactions && rng.gen_bool(typed_share) {
                    vec![random_typed_request(&mut rng, scenario.keys)]
                } else {
                    vec![random_request(&mut rng, scenario.keys, scenario.ttl_heavy)]
                };
                let wait = replication && rng.gen_bool(WAIT_SHARE);
                for request in requests {
                    let args = request
                        .into_iter()
                        .map(|a| String::from_utf8_lossy(&a).into_owned())
                        .collect();
                    ops.push(PlannedOp { client, args });
                    planned += 1;
                }
                if wait {
                    // WAIT numreplicas timeout: sometimes more replicas than exist
                    // (it waits its whole timeout), never 0 ms (for ever).
                    let replicas = scenario.hosts.saturating_sub(1);
                    let args = vec![
                        "WAIT".to_string(),
                        rng.gen_range(0..=replicas + 1).to_string(),
                        rng.gen_range(1..=300u64).to_string(),
                    ];
                    ops.push(PlannedOp { client, args });
                    planned += 1;
                }
            }
        }
        Plan {
            seed,
            runtime_seed,
            start_wall_ms,
            scenario,
            ops,
        }
    }

    /// Faults plus operations: what shrinking makes smaller.
    pub fn size(&self) -> usize {
        self.scenario.faults.len() + self.ops.len()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    pub fn from_json(text: &str) -> Result<Plan, String> {
        let plan: Plan = serde_json::from_str(text).map_err(|e| e.to_string())?;
        if !SCENARIOS.contains(&plan.scenario.name.as_str()) {
            return Err(format!("unknown scenario '{}'", plan.scenario.name));
        }
        plan.validate()?;
        Ok(plan)
    }

    /// Bounds a hand-edited plan file must respect, so a run stays finite and its
    /// arithmetic cannot overflow.
    pub fn validate(&self) -> Result<(), String> {
        const MAX_MS: u64 = 1_000_000_000;
        let s = &self.scenario;
        let check = |ok: bool, what: &str| if ok { Ok(()) } else { Err(what.to_string()) };
        check((1..=1_000).contains(&s.clients), "clients must be 1..=1000")?;
        check((1..=16).contains(&s.hosts), "hosts must be 1..=16")?;
        check(
            s.faults
                .iter()
                .all(|f| f.fault.hosts().iter().all(|&h| h < s.hosts)),
            "a fault names a host the scenario does not have",
        )?;
        check(self.ops.len() <= 1_000_000, "at most 1000000 ops")?;
        check(
            self.ops.iter().all(|o| o.client < s.clients),
            "an op names a client the scenario does not have",
        )?;
        check(
            [
                s.timeout_ms,
                s.think_max_ms,
                s.duration_ms,
                s.reconnect_backoff_ms,
                s.link.latency_min_ms,
                s.link.latency_jitter_ms,
            ]
            .iter()
            .all(|&ms| ms <= MAX_MS),
            "times must be at most 1e9 ms",
        )?;
        check(
            s.link.slow_factor <= 1_000 && s.link.max_chunks <= 1_000 && s.pipeline_max <= 1_000,
            "slow factor, chunks and pipeline at most 1000",
        )?;
        check(
            self.start_wall_ms <= 4_000_000_000_000
                && s.clock.wall_skew_ms.unsigned_abs() <= MAX_MS
                && s.clock.mono_rate_permille <= 1_000_000,
            "clock out of range",
        )?;
        for f in &s.faults {
            check(
                f.at_ms <= MAX_MS && f.duration_ms <= MAX_MS,
                "fault times must be at most 1e9 ms",
            )?;
            let ok = match f.fault {
                Fault::SlowLink { factor } => factor <= 1_000,
                Fault::ClockJump { delta_ms, .. } => delta_ms.unsigned_abs() <= MAX_MS,
                Fault::ClockDrift { rate_permille, .. } => rate_permille <= 1_000_000,
                Fault::FsyncFails { permille, .. } => permille <= 1_000,
                Fault::DiskFull { headroom_bytes, .. } => headroom_bytes <= 1 << 40,
                Fault::SlowDisk { extra_ms, .. } => extra_ms <= MAX_MS,
                Fault::Failover { timeout_ms, .. } => timeout_ms.unwrap_or(0) <= MAX_MS,
                _ => true,
            };
            check(ok, "fault parameter out of range")?;
        }
        Ok(())
    }
}
