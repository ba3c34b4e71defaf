//! Persistence: Redis's file formats (RDB, multi-part AOF) and the Sans-IO machines
//! that write and load them through `Effect::Disk`. Nothing here touches a file or
//! reads a clock: every byte goes out as a disk operation and comes back as a
//! completion the node routes here.
//!
//! - `rdb`: the RDB codec (version 10 out; 10, 9 and older encodings in), DUMP
//!   payloads, CRC64 and LZF.

pub mod rdb;
