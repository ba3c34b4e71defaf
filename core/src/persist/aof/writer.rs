//! The AOF writer: the propagation stream's bytes go to the current incr file with
//! group commit — at most one Append (followed by its Fsync when the policy asks) in
//! flight; whatever is produced meanwhile waits and goes in the next one. It tracks
//! three offsets (produced ≥ written ≥ synced) that the node uses to hold replies
//! under `appendfsync always`. Pure: it hands out disk operations tagged with what
//! they are for and is told how they ended; ids, effects and clocks are the node's.

use crate::config::AppendFsync;
use crate::io::{DiskError, DiskOp};

/// Redis retries a failed AOF write from its once-a-second cron.
pub const WRITE_RETRY_MS: u64 = 1000;

/// What an operation the writer asked for was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteTag {
    /// An append ending at this stream offset.
    Append { end: u64 },
    /// An fsync covering the stream up to this offset.
    Fsync { upto: u64 },
    /// Cutting a partial write off before a retry.
    Truncate,
}

/// What a completion changed, for the node to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteEvent {
    Nothing,
    /// `synced` moved: replies waiting for it may go.
    Synced,
    /// A write or fsync failed under `always`: Redis exits (this text, exit code 1).
    Fatal(String),
    /// A write failed under everysec/no: writes are refused with -MISCONF until a
    /// retry succeeds. The text is Redis's log line.
    WriteFailed(String),
    /// A write succeeded after failures (Redis's "AOF write error looks solved").
    Recovered,
}

#[derive(Debug)]
pub struct AofWriter {
    /// The incr file appended to (relative to `dir`).
    pub path: String,
    pub policy: AppendFsync,
    /// Bytes produced and not yet handed to the disk.
    buf: Vec<u8>,
    /// Stream offsets: everything produced, written (appended and confirmed), synced.
    /// They run on across files when a rewrite moves the writer to a new one.
    produced: u64,
    written: u64,
    synced: u64,
    /// Bytes `path` held when the writer took it over, and the stream offset its
    /// own bytes start at.
    file_initial_bytes: u64,
    file_start_offset: u64,
    /// Holds every operation back (a new incr file not yet named by a durable
    /// manifest): bytes accumulate, replies wait.
    pub paused: bool,
    append_in_flight: Option<u64>,
    fsync_in_flight: Option<u64>,
    truncate_in_flight: bool,
    /// The file was cut back after a failed append: the retry may go.
    retry_truncated: bool,
    /// A copy of the append in flight (everysec/no), written again if it fails.
    in_flight_copy: Vec<u8>,
    /// A failed append's bytes, to write again (before `buf`).
    retry: Vec<u8>,
    /// The last write failed: when, and why (`aof_last_write_status:err`).
    pub write_error: Option<(u64, DiskError)>,
    /// The last background fsync failed (Redis's `aof_bio_fsync_status`).
    pub fsync_error: Option<DiskError>,
    last_fsync_ms: u64,
    /// Redis's `aof_delayed_fsync`: writes that went out while an fsync was pending.
    pub delayed_fsync: u64,
    /// Planted: replies under `always` wait for the append only, not the fsync.
    pub reply_before_fsync: bool,
    /// The file `switch_file` left, while the new one is not yet named by a durable
    /// manifest: where the writer goes back to if that fails.
    previous: Option<PreviousFile>,
}

/// What `switch_back` restores.
#[derive(Debug, Clone)]
struct PreviousFile {
    path: String,
    file_initial_bytes: u64,
    file_start_offset: u64,
    /// The old file's size as `switch_file` reported it.
    final_bytes: u64,
}

impl AofWriter {
    pub fn new(path: String, policy: AppendFsync, file_bytes: u64, now_ms: u64) -> AofWriter {
        AofWriter {
            path,
            policy,
            buf: Vec::new(),
            produced: 0,
            written: 0,
            synced: 0,
            file_initial_bytes: file_bytes,
            file_start_offset: 0,
            paused: false,
            append_in_flight: None,
            fsync_in_flight: None,
            truncate_in_flight: false,
            retry_truncated: false,
            in_flight_copy: Vec::new(),
            retry: Vec::new(),
            write_error: None,
            fsync_error: None,
            last_fsync_ms: now_ms,
            delayed_fsync: 0,
            reply_before_fsync: false,
            previous: None,
        }
    }

    /// Adds encoded commands to the next append.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        self.produced = self.produced.saturating_add(bytes.len() as u64);
    }

    /// Lets `write` append encoded commands to the next append in place.
    pub fn feed_with(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let before = self.buf.len();
        write(&mut self.buf);
        let added = self.buf.len().saturating_sub(before);
        self.produced = self.produced.saturating_add(added as u64);
    }

    pub fn produced(&self) -> u64 {
        self.produced
    }

    /// What a reply produced now must wait for before it may leave (under `always`).
    pub fn durable_offset(&self) -> u64 {
        if self.reply_before_fsync {
            self.written
        } else {
            self.synced
        }
    }

    /// Bytes waiting in memory (INFO `aof_buffer_length`).
    pub fn buffered_bytes(&self) -> usize {
        self.buf.len() + self.retry.len()
    }

    /// Nothing produced is unwritten or unsynced, and nothing is in flight.
    pub fn idle(&self) -> bool {
        self.synced == self.produced && !self.busy()
    }

    /// Whether an fsync is in flight (an append issued now is Redis's
    /// `aof-write-pending-fsync`).
    pub fn fsync_in_flight(&self) -> bool {
        self.fsync_in_flight.is_some()
    }

    pub fn busy(&self) -> bool {
        self.append_in_flight.is_some() || self.fsync_in_flight.is_some() || self.truncate_in_flight
    }

    /// Bytes of the current file written and confirmed (what a retry cuts back to).
    pub fn file_bytes(&self) -> u64 {
        self.file_initial_bytes
            .saturating_add(self.written.saturating_sub(self.file_start_offset))
    }

    /// The stream offset handed to the disk so far (in flight included).
    fn handed_out(&self) -> u64 {
        self.append_in_flight
            .unwrap_or(self.written)
            .max(self.written)
    }

    /// The next operation to issue now, if any (call until None). `force_fsync` asks
    /// for an fsync of everything written whatever the policy (shutdown).
    pub fn poll_op(&mut self, now_ms: u64, force_fsync: bool) -> Option<(WriteTag, DiskOp)> {
        if self.truncate_in_flight || self.paused {
            return None;
        }
        let always = self.policy == AppendFsync::Always;
        // Under `always` a group is an Append and its Fsync: the next waits for both.
        let group_busy =
            self.append_in_flight.is_some() || (always && self.fsync_in_flight.is_some());
        let has_bytes = !self.buf.is_empty() || !self.retry.is_empty();
        let retry_due = self
            .write_error
            .is_none_or(|(at, _)| now_ms.saturating_sub(at) >= WRITE_RETRY_MS || force_fsync);
        if !group_busy && has_bytes && retry_due {
            if self.write_error.is_some() && !self.retry.is_empty() && !self.retry_truncated {
                // A failed append may have left part of itself: cut back first.
                self.truncate_in_flight = true;
                return Some((
                    WriteTag::Truncate,
                    DiskOp::Truncate {
                        path: self.path.clone(),
                        len: self.file_bytes(),
                    },
                ));
            }
            self.retry_truncated = false;
            let mut bytes = std::mem::take(&mut self.retry);
            if bytes.is_empty() {
                bytes = std::mem::take(&mut self.buf);
            } else {
                bytes.append(&mut self.buf);
            }
            if self.fsync_in_flight.is_some() {
                self.delayed_fsync += 1;
            }
            let end = self.handed_out().saturating_add(bytes.len() as u64);
            self.append_in_flight = Some(end);
            if !always {
                self.in_flight_copy.clear();
                self.in_flight_copy.extend_from_slice(&bytes);
            }
            return Some((
                WriteTag::Append { end },
                DiskOp::Append {
                    path: self.path.clone(),
                    bytes,
                },
            ));
        }
        // The fsync follows the append it covers (the driver runs disk operations in
        // order), so it covers what was handed out, confirmed or not.
        let handed_out = self.handed_out();
        let fsync_due = force_fsync
            || match self.policy {
                AppendFsync::Always => true,
                AppendFsync::Everysec => now_ms.saturating_sub(self.last_fsync_ms) >= 1000,
                AppendFsync::No => false,
            };
        // While appends fail (a full disk), what was written before the failure is
        // still fsynced on time (Redis 7.0 skips the fsync until a write succeeds, so
        // a power loss then can take writes acknowledged seconds before; keel keeps
        // the everysec promise). No append is in flight then: the fsync covers only
        // confirmed bytes.
        if fsync_due
            && self.fsync_in_flight.is_none()
            && handed_out > self.synced
            && (self.write_error.is_none() || self.append_in_flight.is_none())
        {
            self.fsync_in_flight = Some(handed_out);
            self.last_fsync_ms = now_ms;
            return Some((
                WriteTag::Fsync { upto: handed_out },
                DiskOp::Fsync {
                    path: self.path.clone(),
                },
            ));
        }
        None
    }

    /// An operation the writer asked for ended.
    pub fn complete(
        &mut self,
        tag: WriteTag,
        result: Result<(), DiskError>,
        now_ms: u64,
    ) -> WriteEvent {
        let always = self.policy == AppendFsync::Always;
        match (tag, result) {
            (WriteTag::Append { end }, Ok(())) => {
                if self.append_in_flight == Some(end) {
                    self.append_in_flight = None;
                }
                self.in_flight_copy.clear();
                self.written = self.written.max(end);
                if self.write_error.take().is_some() {
                    WriteEvent::Recovered
                } else if self.reply_before_fsync {
                    WriteEvent::Synced
                } else {
                    WriteEvent::Nothing
                }
            }
            (WriteTag::Append { .. }, Err(e)) => {
                self.append_in_flight = None;
                if always {
                    return WriteEvent::Fatal(
                        "Can't recover from AOF write error when the AOF fsync policy is 'always'. Exiting...".to_string(),
                    );
                }
                // Written again, after a truncate, a second later.
                let mut again = std::mem::take(&mut self.in_flight_copy);
                again.append(&mut self.retry);
                self.retry = again;
                self.write_error = Some((now_ms, e));
                WriteEvent::WriteFailed(format!("Error writing to the AOF file: {}", strerror(e)))
            }
            (WriteTag::Fsync { upto }, Ok(())) => {
                if self.fsync_in_flight.is_some_and(|f| f <= upto) {
                    self.fsync_in_flight = None;
                }
                self.fsync_error = None;
                let before = self.synced;
                // Never past what is confirmed written (an append before it may have failed).
                self.synced = self.synced.max(upto.min(self.written));
                if self.synced > before {
                    WriteEvent::Synced
                } else {
                    WriteEvent::Nothing
                }
            }
            (WriteTag::Fsync { .. }, Err(e)) => {
                self.fsync_in_flight = None;
                if always {
                    return WriteEvent::Fatal(format!(
                        "Can't persist AOF for fsync error when the AOF fsync policy is 'always': {}. Exiting...",
                        strerror(e)
                    ));
                }
                self.fsync_error = Some(e);
                WriteEvent::WriteFailed(format!("Error fsyncing the AOF file: {}", strerror(e)))
            }
            (WriteTag::Truncate, Ok(())) => {
                self.truncate_in_flight = false;
                self.retry_truncated = true;
                WriteEvent::Nothing
            }
            (WriteTag::Truncate, Err(e)) => {
                self.truncate_in_flight = false;
                self.write_error = Some((now_ms, e));
                WriteEvent::Nothing
            }
        }
    }

    /// Moves to a new (empty) file: what is buffered goes to the old one with an
    /// fsync behind it, issued now (the driver runs them in order, before anything
    /// of the new file); the writer starts paused. Returns the old file's final size.
    pub fn switch_file(&mut self, new_path: String) -> (u64, Vec<(WriteTag, DiskOp)>) {
        let mut ops = Vec::new();
        let mut bytes = std::mem::take(&mut self.retry);
        bytes.append(&mut self.buf);
        if !bytes.is_empty() {
            let end = self.handed_out().saturating_add(bytes.len() as u64);
            self.append_in_flight = Some(end);
            ops.push((
                WriteTag::Append { end },
                DiskOp::Append {
                    path: self.path.clone(),
                    bytes,
                },
            ));
        }
        let handed_out = self.handed_out();
        if handed_out > self.synced {
            self.fsync_in_flight = Some(handed_out);
            ops.push((
                WriteTag::Fsync { upto: handed_out },
                DiskOp::Fsync {
                    path: self.path.clone(),
                },
            ));
        }
        let old_bytes = self
            .file_initial_bytes
            .saturating_add(handed_out.saturating_sub(self.file_start_offset));
        self.previous = Some(PreviousFile {
            path: std::mem::take(&mut self.path),
            file_initial_bytes: self.file_initial_bytes,
            file_start_offset: self.file_start_offset,
            final_bytes: old_bytes,
        });
        self.path = new_path;
        self.file_initial_bytes = 0;
        self.file_start_offset = handed_out;
        self.write_error = None;
        self.retry_truncated = false;
        self.paused = true;
        (old_bytes, ops)
    }

    /// The new file is named by a durable manifest: appends go to it.
    pub fn resume(&mut self) {
        self.paused = false;
        self.previous = None;
    }

    /// The new file could not be made durable (its creation or the manifest naming
    /// it failed): the writer goes on with the file it left, as Redis keeps its old
    /// incr file when `openNewIncrAofForAppend` fails. Returns the old file's size as
    /// `switch_file` reported it (None: there was no switch to undo).
    pub fn switch_back(&mut self) -> Option<u64> {
        let previous = self.previous.take()?;
        self.path = previous.path;
        self.file_initial_bytes = previous.file_initial_bytes;
        self.file_start_offset = previous.file_start_offset;
        self.paused = false;
        Some(previous.final_bytes)
    }

    /// The error writes are refused with (`-MISCONF ...`), when the AOF is failing.
    pub fn misconf_reason(&self) -> Option<DiskError> {
        self.write_error.map(|(_, e)| e).or(self.fsync_error)
    }
}

/// `strerror` of the errno a `DiskError` stands for.
pub fn strerror(e: DiskError) -> &'static str {
    match e {
        DiskError::Io => "Input/output error",
        DiskError::NoSpace => "No space left on device",
        DiskError::NotFound => "No such file or directory",
        DiskError::NotADirectory => "Not a directory",
        DiskError::PermissionDenied => "Permission denied",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(policy: AppendFsync) -> AofWriter {
        AofWriter::new("d/f.incr.aof".into(), policy, 0, 0)
    }

    fn drain(w: &mut AofWriter, now: u64) -> Vec<(WriteTag, DiskOp)> {
        std::iter::from_fn(|| w.poll_op(now, false)).collect()
    }

    #[test]
    fn group_commit_under_always_one_group_in_flight() {
        let mut w = writer(AppendFsync::Always);
        w.feed(b"aaaa");
        let ops = drain(&mut w, 0);
        assert_eq!(ops.len(), 2, "an append and its fsync: {ops:?}");
        assert_eq!(ops[0].0, WriteTag::Append { end: 4 });
        assert_eq!(ops[1].0, WriteTag::Fsync { upto: 4 });
        // N writes while the group is in flight: nothing issued, one append next.
        for _ in 0..10 {
            w.feed(b"bb");
            assert!(drain(&mut w, 0).is_empty());
        }
        assert_eq!(w.complete(ops[0].0, Ok(()), 0), WriteEvent::Nothing);
        assert!(drain(&mut w, 0).is_empty(), "the fsync is still in flight");
        assert_eq!(w.durable_offset(), 0);
        assert_eq!(w.complete(ops[1].0, Ok(()), 0), WriteEvent::Synced);
        assert_eq!(w.durable_offset(), 4);
        let next = drain(&mut w, 0);
        assert_eq!(next.len(), 2);
        match &next[0].1 {
            DiskOp::Append { bytes, .. } => assert_eq!(bytes, &b"bb".repeat(10)),
            other => panic!("{other:?}"),
        }
        w.complete(next[0].0, Ok(()), 0);
        w.complete(next[1].0, Ok(()), 0);
        assert_eq!(w.durable_offset(), 24);
        assert!(w.idle());
    }

    #[test]
    fn everysec_fsyncs_about_once_a_second_and_never_blocks_appends() {
        let mut w = writer(AppendFsync::Everysec);
        w.feed(b"x");
        let ops = drain(&mut w, 10);
        assert_eq!(ops.len(), 1, "no fsync yet: {ops:?}");
        w.complete(ops[0].0, Ok(()), 10);
        w.feed(b"y");
        let ops = drain(&mut w, 1200);
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[1].0, WriteTag::Fsync { upto: 2 });
        w.complete(ops[0].0, Ok(()), 1200);
        // An fsync in flight does not stop the next append.
        w.feed(b"z");
        let ops2 = drain(&mut w, 1300);
        assert_eq!(ops2.len(), 1);
        assert_eq!(w.delayed_fsync, 1);
        w.complete(ops[1].0, Ok(()), 1300);
        w.complete(ops2[0].0, Ok(()), 1300);
        // Nothing new, but written > synced: the cron's fsync comes a second later.
        assert!(drain(&mut w, 1500).is_empty());
        assert_eq!(drain(&mut w, 2300).len(), 1);
    }

    #[test]
    fn no_never_fsyncs_unless_forced() {
        let mut w = writer(AppendFsync::No);
        w.feed(b"x");
        let ops = drain(&mut w, 5000);
        assert_eq!(ops.len(), 1);
        w.complete(ops[0].0, Ok(()), 5000);
        assert!(drain(&mut w, 9000).is_empty());
        assert!(matches!(
            w.poll_op(9000, true),
            Some((WriteTag::Fsync { upto: 1 }, _))
        ));
    }

    #[test]
    fn failures_under_always_are_fatal() {
        let mut w = writer(AppendFsync::Always);
        w.feed(b"x");
        let ops = drain(&mut w, 0);
        assert!(matches!(
            w.complete(ops[0].0, Err(DiskError::NoSpace), 0),
            WriteEvent::Fatal(_)
        ));
        let mut w = writer(AppendFsync::Always);
        w.feed(b"x");
        let ops = drain(&mut w, 0);
        w.complete(ops[0].0, Ok(()), 0);
        match w.complete(ops[1].0, Err(DiskError::Io), 0) {
            WriteEvent::Fatal(text) => assert!(text.contains("Input/output error"), "{text}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            w.durable_offset(),
            0,
            "a failed fsync never makes anything durable"
        );
    }

    /// A full disk fails the appends, but what was written before is still fsynced
    /// within the second (a power loss then keeps it), and only that.
    #[test]
    fn what_was_written_before_a_failed_write_is_still_fsynced_under_everysec() {
        let mut w = writer(AppendFsync::Everysec);
        w.feed(b"abc");
        let ops = drain(&mut w, 0);
        w.complete(ops[0].0, Ok(()), 0);
        w.feed(b"de");
        let ops = drain(&mut w, 100);
        assert_eq!(ops.len(), 1);
        assert!(matches!(
            w.complete(ops[0].0, Err(DiskError::NoSpace), 100),
            WriteEvent::WriteFailed(_)
        ));
        // The retry is not due yet; the fsync of the 3 written bytes is.
        let ops = drain(&mut w, 1050);
        assert_eq!(ops.len(), 1, "{ops:?}");
        assert_eq!(ops[0].0, WriteTag::Fsync { upto: 3 });
        w.complete(ops[0].0, Ok(()), 1050);
        assert_eq!(w.durable_offset(), 3);
        assert_eq!(
            w.misconf_reason(),
            Some(DiskError::NoSpace),
            "writes still refused"
        );
    }

    #[test]
    fn a_failed_write_under_everysec_is_retried_after_a_truncate() {
        let mut w = writer(AppendFsync::Everysec);
        w.feed(b"abc");
        let ops = drain(&mut w, 0);
        let (tag, op) = ops.into_iter().next().unwrap();
        assert!(matches!(
            w.complete(tag, Err(DiskError::NoSpace), 0),
            WriteEvent::WriteFailed(_)
        ));
        drop(op);
        assert_eq!(w.misconf_reason(), Some(DiskError::NoSpace));
        w.feed(b"d");
        assert!(drain(&mut w, 500).is_empty(), "retries wait a second");
        let ops = drain(&mut w, 1000);
        assert_eq!(ops.len(), 1);
        assert!(matches!(ops[0].1, DiskOp::Truncate { len: 0, .. }));
        w.complete(ops[0].0, Ok(()), 1000);
        let ops = drain(&mut w, 1000);
        match &ops[0].1 {
            DiskOp::Append { bytes, .. } => assert_eq!(bytes, b"abcd"),
            other => panic!("{other:?}"),
        }
        assert_eq!(w.complete(ops[0].0, Ok(()), 1000), WriteEvent::Recovered);
        assert_eq!(w.misconf_reason(), None);
        assert_eq!(w.file_bytes(), 4);
    }

    #[test]
    fn the_planted_bug_releases_on_append() {
        let mut w = writer(AppendFsync::Always);
        w.reply_before_fsync = true;
        w.feed(b"x");
        let ops = drain(&mut w, 0);
        assert_eq!(w.complete(ops[0].0, Ok(()), 0), WriteEvent::Synced);
        assert_eq!(w.durable_offset(), 1);
    }
}

#[cfg(test)]
mod switch_tests {
    use super::*;

    #[test]
    fn switching_files_flushes_the_old_one_and_pauses() {
        let mut w = AofWriter::new("old".into(), AppendFsync::Always, 10, 0);
        w.feed(b"abc");
        let first: Vec<_> = std::iter::from_fn(|| w.poll_op(0, false)).collect();
        w.feed(b"de");
        let (old_bytes, ops) = w.switch_file("new".into());
        assert_eq!(old_bytes, 15);
        assert_eq!(ops.len(), 2);
        assert!(matches!(&ops[0].1, DiskOp::Append { path, .. } if path == "old"));
        assert!(w.poll_op(0, false).is_none(), "paused");
        w.feed(b"f");
        for (tag, _) in first.into_iter().chain(ops) {
            w.complete(tag, Ok(()), 0);
        }
        assert_eq!(w.durable_offset(), 5);
        assert_eq!(w.file_bytes(), 0);
        w.paused = false;
        let next: Vec<_> = std::iter::from_fn(|| w.poll_op(0, false)).collect();
        assert!(matches!(&next[0].1, DiskOp::Append { path, .. } if path == "new"));
        for (tag, _) in next {
            w.complete(tag, Ok(()), 0);
        }
        assert_eq!(w.durable_offset(), 6);
        assert_eq!(w.file_bytes(), 1);
    }
}

#[cfg(test)]
mod switch_back_tests {
    use super::*;

    #[test]
    fn switching_back_appends_to_the_old_file_where_it_ended() {
        let mut w = AofWriter::new("old".into(), AppendFsync::Always, 10, 0);
        w.feed(b"abc");
        let (old_bytes, ops) = w.switch_file("new".into());
        assert_eq!(old_bytes, 13);
        for (tag, _) in ops {
            w.complete(tag, Ok(()), 0);
        }
        w.feed(b"de");
        assert!(w.poll_op(0, false).is_none(), "paused");
        assert_eq!(w.switch_back(), Some(13));
        assert_eq!(w.switch_back(), None, "once");
        let next: Vec<_> = std::iter::from_fn(|| w.poll_op(0, false)).collect();
        assert!(
            matches!(&next[0].1, DiskOp::Append { path, bytes } if path == "old" && bytes == b"de")
        );
        for (tag, _) in next {
            w.complete(tag, Ok(()), 0);
        }
        assert_eq!(w.file_bytes(), 15);
        assert_eq!(w.durable_offset(), 5);
    }
}
