//! keel-sim: the deterministic simulator. One seeded world owns time, a TCP-like
//! network (`net`), pipelining clients (`workload`) and a fault plan, drives a keel
//! `Node`, and judges every reply against a reference model (`model`); a running hash
//! of the event trace proves a seed replays bit for bit.
//!
//! Everything derives from one ChaCha seed: no clocks, no threads, no OS randomness,
//! no I/O. The model check stays exact under pipelining, timeouts and faults because
//! the world is omniscient: it delivers the bytes, so it knows the order in which the
//! node runs requests (the node runs each whole request as soon as it is delivered)
//! and applies them to the model in that order — including requests whose client
//! timed out (`unknown` in the client's history, known to the world).

pub mod checkers;
pub mod disk;
pub mod elle;
pub mod faults;
pub mod linearizability;
pub mod model;
pub mod model_types;
pub mod net;
pub mod report;
pub mod scenario;
pub mod shrink;
pub mod workload;
pub mod world;

pub use checkers::{Checker, Checks, ElleReport, LinReport};
pub use faults::{Fault, PlannedFault};
pub use keel_core::Node;
pub use scenario::{
    missing_coverage, reach, scenario_def, NodeClock, Plan, PlannedOp, Scenario, ScenarioDef,
    SCENARIOS, SCENARIO_DEFS,
};
pub use workload::{Op, OpOutcome};
#[cfg(feature = "mutants")]
pub use world::first_catch;
pub use world::{run, run_plan, run_seed, run_seed_with, run_with, Outcome, RunOptions};
