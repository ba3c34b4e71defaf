//! The replication backlog (Redis's `repl_backlog`): the last `repl-backlog-size` bytes
//! of the master's replication stream, addressed by replication offset, which a
//! partial resync (`+CONTINUE`) serves from. Bounded by its configured size; it grows
//! only as stream bytes arrive and never holds more than its capacity.
//!
//! Offsets follow Redis: the stream's bytes are numbered from 1; after `n` bytes were
//! produced, `master_repl_offset` is `n` and the backlog holds bytes
//! `first_byte_offset ..= n` (`histlen` of them). A replica that has applied the stream
//! up to offset `o` asks to continue at `o + 1`.

use std::collections::VecDeque;

#[derive(Debug)]
pub struct Backlog {
    bytes: VecDeque<u8>,
    capacity_bytes: usize,
    /// The offset of the first byte held (Redis's `repl_backlog->offset`).
    first_byte_offset: u64,
}

impl Backlog {
    /// A backlog created when the stream stood at `master_repl_offset` (Redis's
    /// `createReplicationBacklog`: the next byte produced is `master_repl_offset + 1`).
    pub fn new(capacity_bytes: usize, master_repl_offset: u64) -> Backlog {
        Backlog {
            bytes: VecDeque::new(),
            capacity_bytes: capacity_bytes.max(1),
            first_byte_offset: master_repl_offset.saturating_add(1),
        }
    }

    /// INFO `repl_backlog_size`.
    pub fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }

    /// INFO `repl_backlog_first_byte_offset`.
    pub fn first_byte_offset(&self) -> u64 {
        self.first_byte_offset
    }

    /// INFO `repl_backlog_histlen`.
    pub fn histlen(&self) -> u64 {
        self.bytes.len() as u64
    }

    /// The offset of the last byte held (the master's offset): first + histlen - 1.
    pub fn end_offset(&self) -> u64 {
        (self.first_byte_offset + self.histlen()).saturating_sub(1)
    }

    /// Appends stream bytes, dropping the oldest beyond the capacity.
    pub fn append(&mut self, stream: &[u8]) {
        let keep = stream.len().min(self.capacity_bytes);
        let skipped = stream.len() - keep;
        self.first_byte_offset += skipped as u64;
        let tail = stream.get(skipped..).unwrap_or_default();
        let overflow = (self.bytes.len() + tail.len()).saturating_sub(self.capacity_bytes);
        if overflow > 0 {
            self.bytes.drain(..overflow);
            self.first_byte_offset += overflow as u64;
        }
        self.bytes.extend(tail.iter().copied());
        debug_assert!(self.bytes.len() <= self.capacity_bytes);
    }

    /// CONFIG SET repl-backlog-size: keeps the newest bytes that fit.
    pub fn resize(&mut self, capacity_bytes: usize) {
        self.capacity_bytes = capacity_bytes.max(1);
        let overflow = self.bytes.len().saturating_sub(self.capacity_bytes);
        if overflow > 0 {
            self.bytes.drain(..overflow);
            self.first_byte_offset += overflow as u64;
        }
        self.bytes.shrink_to(self.capacity_bytes);
    }

    /// The same bytes, `delta` offsets later (a master's boot: see
    /// `MasterState::rebase`).
    pub fn rebase(&mut self, delta: u64) {
        self.first_byte_offset = self.first_byte_offset.saturating_add(delta);
    }

    /// Whether a replica may continue at `psync_offset` (the first byte it lacks):
    /// inside the backlog, or just past its end (nothing to send). Redis's
    /// `masterTryPartialResynchronization` range check.
    pub fn covers(&self, psync_offset: u64) -> bool {
        psync_offset >= self.first_byte_offset
            && psync_offset <= self.first_byte_offset + self.histlen()
    }

    /// The bytes from `psync_offset` to the end, if the backlog covers it.
    /// `off_by_one` is the planted mutant `backlog-offset-off-by-one` (one byte
    /// skipped).
    pub fn read_from(&self, psync_offset: u64, off_by_one: bool) -> Option<Vec<u8>> {
        if !self.covers(psync_offset) {
            return None;
        }
        let mut skip = usize::try_from(psync_offset - self.first_byte_offset).ok()?;
        if off_by_one {
            skip = skip.saturating_add(1).min(self.bytes.len());
        }
        Some(self.bytes.range(skip..).copied().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_new_backlog_starts_after_the_current_offset() {
        let b = Backlog::new(16, 100);
        assert_eq!(b.first_byte_offset(), 101);
        assert_eq!(b.histlen(), 0);
        assert!(b.covers(101));
        assert!(!b.covers(100) && !b.covers(102));
        assert_eq!(b.read_from(101, false), Some(Vec::new()));
    }

    #[test]
    fn the_oldest_bytes_go_first() {
        let mut b = Backlog::new(4, 0);
        b.append(b"abc");
        b.append(b"def");
        assert_eq!(b.first_byte_offset(), 3);
        assert_eq!(b.end_offset(), 6);
        assert_eq!(b.read_from(3, false).as_deref(), Some(&b"cdef"[..]));
        assert_eq!(b.read_from(5, false).as_deref(), Some(&b"ef"[..]));
        assert_eq!(b.read_from(2, false), None);
        b.append(b"0123456789");
        assert_eq!(b.read_from(13, false).as_deref(), Some(&b"6789"[..]));
        b.resize(2);
        assert_eq!(b.read_from(15, false).as_deref(), Some(&b"89"[..]));
        assert_eq!(b.read_from(14, false), None);
    }

    #[test]
    fn the_planted_off_by_one_skips_a_byte() {
        let mut b = Backlog::new(8, 0);
        b.append(b"abcd");
        assert_eq!(b.read_from(2, true).as_deref(), Some(&b"cd"[..]));
        assert_eq!(b.read_from(2, false).as_deref(), Some(&b"bcd"[..]));
    }

    proptest! {
        /// Against a model that keeps the whole stream: every offset inside the
        /// backlog reads exactly the model's suffix, nothing outside it reads at all,
        /// and the backlog never holds more than its capacity.
        #[test]
        fn reads_match_a_vec_model(
            start in 0u64..1000,
            capacity in 1usize..64,
            chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..20),
            resize_to in proptest::option::of(1usize..64),
        ) {
            let mut b = Backlog::new(capacity, start);
            let mut model: Vec<u8> = Vec::new();
            let mut resized = false;
            for (i, c) in chunks.iter().enumerate() {
                b.append(c);
                model.extend_from_slice(c);
                if i == chunks.len() / 2 {
                    if let Some(r) = resize_to {
                        b.resize(r);
                        resized = true;
                    }
                }
                prop_assert!(b.histlen() as usize <= b.capacity_bytes());
                if !resized {
                    prop_assert_eq!(b.histlen() as usize, model.len().min(capacity));
                }
                let end = start + model.len() as u64;
                prop_assert_eq!(b.end_offset().max(start), end);
                let first = b.first_byte_offset();
                prop_assert_eq!(first + b.histlen(), end + 1);
                for off in start.saturating_sub(2)..=end + 2 {
                    let inside = off >= first && off <= end + 1;
                    let got = b.read_from(off, false);
                    if inside {
                        let from = usize::try_from(off - start - 1).unwrap();
                        prop_assert_eq!(got.as_deref(), Some(&model[from..]));
                    } else {
                        prop_assert_eq!(got, None);
                    }
                }
            }
        }
    }
}
