//! keel-sim: the deterministic simulator. One seeded world (`world`) owns time, many
//! hosts (`host`: a node, its clocks, its disk (`disk`), its health), a TCP-like network
//! between clients and hosts and between hosts (`net`), pipelining clients
//! (`workload`) and a fault plan (`faults`, `scenario`), and judges every reply against
//! a reference model per host (`model`) and the checkers (`checkers`); a running hash
//! of the event trace proves a seed replays bit for bit.
//!
//! Everything derives from one ChaCha seed: no clocks, no threads, no OS randomness,
//! no I/O. The model check stays exact under pipelining, timeouts and faults because
//! the world is omniscient: it sees each node's output on each connection, frames it
//! into replies matched in order to the requests the node received, and applies them
//! to the model in the order the node sent them — including requests whose client
//! timed out (`unknown` in the client's history, known to the world).

pub mod blocking_order;
pub mod checkers;
pub mod coverage;
pub mod disk;
pub mod durability;
pub mod elle;
pub mod eviction_checks;
pub mod faults;
pub mod host;
pub mod lin_collections;
pub mod lin_scores;
pub mod linearizability;
pub mod model;
pub mod model_blocking;
pub mod model_db;
pub mod model_misc;
pub mod model_types;
pub mod model_wide;
pub mod model_wide_types;
pub mod model_wide_zset;
pub mod net;
pub mod persistence;
pub mod pubsub;
pub mod replication;
pub mod report;
pub mod scenario;
pub mod shrink;
pub mod timeline;
pub mod traffic_spike;
pub mod workload;
pub mod workload_misc;
pub mod workload_wide;
pub mod world;

pub use checkers::{Checker, Checks, ElleReport, LinReport, Signature};
pub use faults::{Fault, PlannedFault};
pub use keel_core::Node;
pub use scenario::{
    missing_coverage, reach, scenario_def, NodeClock, Plan, PlannedOp, Scenario, ScenarioDef,
    SCENARIOS, SCENARIO_DEFS,
};
pub use workload::{Op, OpOutcome};
#[cfg(feature = "mutants")]
pub use world::{catches_in, first_catch, first_catch_by};
pub use world::{run, run_plan, run_seed, run_seed_with, run_with, Outcome, RunOptions};
