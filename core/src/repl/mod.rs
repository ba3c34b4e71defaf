//! Master–replica replication (Redis 7.0's PSYNC2), as Sans-IO machines the node drives.
//!
//! - `backlog`: the master's replication backlog, a bounded ring of the command stream's
//!   bytes addressed by replication offset (what a partial resync serves).
//! - `master`: the master's side of each replica link (PSYNC/SYNC, the full sync served
//!   from the fork-less snapshot, the stream, REPLCONF ACK, WAIT).
//! - `replica`: the replica's side (REPLICAOF, the handshake, receiving the RDB, applying
//!   the master's stream, REPLCONF ACK).
//! - `failover`: FAILOVER's state and its hand-over rule.
//! - `rollback`: a demoted master's writes its new master may lack, cut from the
//!   backlog into a replayable file before a full resync replaces the dataset.
//!
//! Nothing here reads a clock or does I/O: the node (`node/repl_*.rs`) hands these
//! machines what arrived and turns what they ask for into effects. This module imports
//! nothing from `server`, `commands` or `node` (the module graph points down).

pub mod backlog;
pub mod failover;
pub mod master;
pub mod replica;
pub mod rollback;

/// The replication identity a node carries, master or replica (Redis's `server.replid`,
/// `replid2`, `second_replid_offset`, `master_repl_offset`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplIds {
    /// The history this node's stream belongs to (40 hex characters).
    pub replid: String,
    /// The history it continued from, after a promotion ("000…0" when none).
    pub replid2: String,
    /// The offset up to which `replid2`'s history is shared (-1 when none).
    pub second_replid_offset: i64,
    /// Bytes of the stream this node has produced (master) or applied (replica).
    pub master_repl_offset: u64,
}

/// Redis's `replid2` when there is no previous history.
pub const NO_REPLID: &str = "0000000000000000000000000000000000000000";

impl ReplIds {
    pub fn new(replid: String) -> ReplIds {
        ReplIds {
            replid,
            replid2: NO_REPLID.to_string(),
            second_replid_offset: -1,
            master_repl_offset: 0,
        }
    }

    /// Redis's `shiftReplicationId`: a promoted replica keeps its old history as
    /// `replid2` up to the offset it reached, and starts a new one.
    pub fn shift(&mut self, new_replid: String) {
        self.replid2 = std::mem::replace(&mut self.replid, new_replid);
        self.second_replid_offset = i64::try_from(self.master_repl_offset)
            .unwrap_or(i64::MAX)
            .saturating_add(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shift_keeps_the_old_history_up_to_the_next_byte() {
        let mut ids = ReplIds::new("a".repeat(40));
        ids.master_repl_offset = 100;
        ids.shift("b".repeat(40));
        assert_eq!(ids.replid, "b".repeat(40));
        assert_eq!(ids.replid2, "a".repeat(40));
        assert_eq!(ids.second_replid_offset, 101);
        assert_eq!(ids.master_repl_offset, 100);
    }
}
