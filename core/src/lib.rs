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

mod bignum;
pub mod blocking;
pub mod client;
pub mod commands;
pub mod config;
pub mod digest;
pub mod glob;
pub mod io;
pub mod keyspace;
pub mod longdouble;
pub mod multi;
pub mod mutants;
pub mod node;
#[cfg(test)]
mod node_tests;
pub mod notify;
pub mod propagate;
pub mod pubsub;
pub mod resp;
pub mod slab;
pub mod strtod;
#[cfg(test)]
mod testkit;
pub mod types;
pub mod util;

pub use io::{
    CloseReason, ConnId, DiskError, DiskOp, DiskResult, Effect, Input, IoId, Listener, LogLevel,
    Now, Signal,
};
pub use node::{Node, NodeSeeds, OutputClass, ProcessInfo};
