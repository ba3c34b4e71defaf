//! Persistence: Redis's file formats (RDB, multi-part AOF) and the Sans-IO machines
//! that write and load them through `Effect::Disk`. Nothing here touches a file or
//! reads a clock: every byte goes out as a disk operation and comes back as a
//! completion the node routes here.
//!
//! - `rdb`: the RDB codec (version 10 out; 10, 9 and older encodings in), DUMP
//!   payloads, CRC64 and LZF.
//! - `snapshot`: the fork-less point-in-time walk that feeds a sink (RDB or AOF base).
//! - `save`: an RDB file from a snapshot (temp file, fsync, rename, directory fsync).
//! - `load`: the boot-time load plan (RDB here; the AOF loader plugs in).
//! - `aof`: the multi-part AOF (manifest, writer, loader, rewrite).

pub mod aof;
pub mod load;
pub mod rdb;
pub mod save;
pub mod snapshot;
