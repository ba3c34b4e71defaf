//! Redis 7.0's multi-part AOF: the manifest and file naming (`manifest`), the writer
//! with its fsync policies and group commit (`writer`), loading at boot (`loader`),
//! and the status INFO reports. The node (`node/aof.rs`) wires them to the
//! propagation stream, the disk effects and the clients' replies.

pub mod loader;
pub mod manifest;
pub mod writer;
