//! The keyspace's half of a fork-less snapshot (`crate::persist::snapshot` walks it):
//! per database, where the walk is and which keys were already handed over ahead of
//! it, so a key about to change before the walk reached it is captured first with its
//! old value (Dragonfly's versioned snapshots, on slot ids instead of versions).
//!
//! The walk visits a database's slot ids in order, `0..start_span`. Slot ids of the slab
//! are stable (a database's slab never compacts), so "ids below the cursor are done" is
//! exact. Ids at or past the cursor that must not be walked are in the `skip` bitset:
//! keys captured ahead (their pre-image waits in `captured`) and slots filled after the
//! start (new keys are not in the snapshot). Ids at or past `start_span` were never
//! handed out at the start, so the walk never goes there. FLUSHDB/FLUSHALL move the old
//! storage into `frozen` instead of freeing it, and the walk continues over it: a flush
//! costs no copy. SWAPDB swaps whole `Db`s, the tracks with them, and `orig_db` says
//! which database of the start each one walks. Nothing here allocates when no snapshot
//! runs; with one running, each change costs a branch and a bit test.

use super::db::{Entry, Storage};

/// The pre-image of a key that changed before the walk reached it.
#[derive(Debug, Clone)]
pub struct Captured {
    pub entry: Entry,
}

/// One database's snapshot bookkeeping, present only while a snapshot walks it.
#[derive(Clone)]
pub struct SnapTrack {
    /// The database's index when the snapshot started (SWAPDB moves tracks).
    pub orig_db: usize,
    /// Slot ids in use at the start are all below this.
    pub start_span: u32,
    /// Slot ids below this were visited by the walk.
    pub cursor: u32,
    /// Ids at or past `cursor` the walk must skip (captured ahead, or filled since).
    skip: Vec<u64>,
    /// Pre-images not yet handed to the sink, oldest first.
    pub captured: Vec<Captured>,
    /// Bytes `captured` holds (slots and heap), for the extra-memory figure.
    pub captured_bytes: usize,
    /// The storage a FLUSHDB/FLUSHALL replaced, walked instead of the live one.
    pub frozen: Option<Storage>,
    /// Keys and keys with a TTL at the start (RESIZEDB's hints, the progress total).
    pub keys_at_start: u64,
    pub expires_at_start: u64,
}

impl std::fmt::Debug for SnapTrack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapTrack")
            .field("orig_db", &self.orig_db)
            .field("cursor", &self.cursor)
            .field("start_span", &self.start_span)
            .field("captured", &self.captured.len())
            .field("frozen", &self.frozen.is_some())
            .finish()
    }
}

impl SnapTrack {
    pub fn new(orig_db: usize, start_span: u64, keys: u64, expires: u64) -> SnapTrack {
        let span = u32::try_from(start_span).unwrap_or(u32::MAX);
        SnapTrack {
            orig_db,
            start_span: span,
            cursor: 0,
            skip: vec![0; (span as usize).div_ceil(64)],
            captured: Vec::new(),
            captured_bytes: 0,
            frozen: None,
            keys_at_start: keys,
            expires_at_start: expires,
        }
    }

    /// Whether the walk still has to visit slot `id` of the start's storage.
    #[inline]
    pub fn pending(&self, id: u32) -> bool {
        id >= self.cursor && id < self.start_span && !self.skipped(id)
    }

    #[inline]
    pub fn skipped(&self, id: u32) -> bool {
        self.skip
            .get(id as usize / 64)
            .is_some_and(|w| w & (1u64 << (id % 64)) != 0)
    }

    #[inline]
    fn mark(&mut self, id: u32) {
        if let Some(w) = self.skip.get_mut(id as usize / 64) {
            *w |= 1u64 << (id % 64);
        }
    }

    /// Slot `id` of the live storage is about to change: keep its current state if
    /// the walk has not reached it. After a flush the live storage is new data only.
    #[inline]
    pub fn before_change(&mut self, live: &Storage, id: u32) {
        if self.frozen.is_some() || !self.pending(id) {
            return;
        }
        self.mark(id);
        if let Some(e) = live.get(id) {
            self.captured_bytes += Storage::entry_overhead_bytes(&e) + e.heap_bytes();
            self.captured.push(Captured {
                entry: e.to_entry(),
            });
        }
    }

    /// A key was created in slot `id`: not part of the snapshot.
    #[inline]
    pub fn created(&mut self, id: u32) {
        if self.frozen.is_none() && id >= self.cursor && id < self.start_span {
            self.mark(id);
        }
    }

    /// Extra memory this track holds: the skip set, pre-images, a flushed storage.
    pub fn extra_bytes(&self) -> usize {
        self.skip.capacity() * 8
            + self.captured_bytes
            + self
                .frozen
                .as_ref()
                .map_or(0, |s| s.heap_bytes() + s.overhead_bytes())
    }

    /// The storage the walk reads: the frozen one after a flush, else the live one.
    pub fn source<'a>(&'a self, live: &'a Storage) -> &'a Storage {
        self.frozen.as_ref().unwrap_or(live)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_bits_cover_the_span() {
        let mut t = SnapTrack::new(0, 130, 3, 0);
        assert!(t.pending(0) && t.pending(129) && !t.pending(130));
        t.created(129);
        assert!(!t.pending(129));
        t.cursor = 10;
        t.created(5);
        assert!(!t.skipped(5), "ids behind the cursor are never marked");
        assert!(!t.pending(9));
    }
}
