//! keel-core: keel's whole behaviour as Sans-IO state machines.
//!
//! The public face is [`node::Node`]: `handle(now, input)`, `poll_effect()`,
//! `next_deadline()`. Nothing in this crate reads a clock, touches a socket or a file,
//! spawns a thread or draws OS randomness; drivers hand all of that in.
//!
//! Nothing a client, a file or a peer sends may panic the server: outside tests,
//! `unwrap`, `expect` and indexing that can panic are refused by the compiler (clippy);
//! the few indexes proven in range carry an `allow` with the proof beside them.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

// The face: the node and what a driver hands it or gets from it.
pub mod io;
mod node;

// What drivers, the simulator and the tests read beside the node.
pub mod config;
pub mod config_rewrite;
pub mod digest;
pub mod keyspace;
pub mod mutants;
pub mod persist;
pub mod propagate;
pub mod repl;
pub mod resp;
pub mod slab;
pub mod strtod;
#[cfg(test)]
mod testkit;
pub mod types;

// The inside, bottom to top: leaves, the keyspace's neighbours, the registries, the
// node-wide state, the clients sub-machine, the commands. Nothing imports upwards
// (tests/tests/module_graph.rs checks).
mod bignum;
mod blocking;
mod client;
mod clients;
mod commands;
mod glob;
mod longdouble;
mod malloc_model;
mod multi;
mod notify;
mod observe;
mod pubsub;
mod server;
mod util;

#[cfg(test)]
mod node_tests;

pub use commands::connection::REDIS_VERSION;
pub use commands::{command_infos, CommandInfo};
pub use config::Config;
pub use io::{
    CloseReason, ConnId, DiskError, DiskOp, DiskResult, Effect, Input, IoId, Listener, LogLevel,
    Now, Signal,
};
pub use node::Node;
pub use server::{NodeSeeds, ProcessInfo, Stats};
