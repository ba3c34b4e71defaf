//! The rollback file (beyond Redis; invariant 17): a master demoted to a replica whose
//! next sync turns out to be a full resync loses the writes its new master lacks. The
//! node cuts them from its backlog when it is demoted (a `Cut`), and when the full
//! resync comes writes them, as a replayable RESP stream (`redis-cli --pipe`), to
//! `rollback-<replid>-<offset>.resp` in `dir` (temp file, fsync, rename, directory
//! fsync: a `FileJob`) before the new dataset replaces its own.
//!
//! Which writes: those past the new master's switch point, which the demoted node
//! cannot know. It knows a lower bound: a replica that became the new master had at
//! least what it last ACKed. So the cut starts after the lowest last ACK of any replica
//! of this history (a superset of what is lost, never less), bounded by what the
//! backlog still holds. Nothing here reads a clock or does I/O.

use std::collections::BTreeMap;

use crate::io::{DiskError, DiskOp, DiskResult, IoId};

/// Replicas whose last ACK is remembered for the cut's lower bound.
pub const ACKS_REMEMBERED_MAX: usize = 64;

/// The writes a demoted master may lose: RESP commands, `SELECT` first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The history the writes belong to.
    pub replid: String,
    /// The stream offset the writes come after (the lowest ACK, or the backlog's
    /// start when it no longer holds that).
    pub from_offset: u64,
    /// The demoted master's last offset.
    pub to_offset: u64,
    /// What to replay: `SELECT <db>` (unless the range starts with one), then the
    /// data commands of the range (PING and REPLCONF left out).
    pub bytes: Vec<u8>,
    /// Data commands in `bytes` (not SELECT, MULTI, EXEC).
    pub writes: u64,
    /// The lowest ACK was older than the backlog's start: writes between it and
    /// `from_offset` are gone (logged).
    pub truncated: bool,
}

impl Cut {
    /// The file's name: `rollback-<replid>-<from_offset>.resp`.
    pub fn file_name(&self) -> String {
        format!("rollback-{}-{}.resp", self.replid, self.from_offset)
    }
}

/// One RESP command frame of the stream: its length and its command name.
struct Frame<'a> {
    len: usize,
    name: &'a [u8],
}

/// Parses one `*N\r\n($L\r\n<L bytes>\r\n)*N` frame at the start of `bytes`; None
/// when it is not a whole frame.
fn frame(bytes: &[u8]) -> Option<Frame<'_>> {
    fn line(bytes: &[u8], at: usize, prefix: u8) -> Option<(usize, usize)> {
        if *bytes.get(at)? != prefix {
            return None;
        }
        let rest = bytes.get(at + 1..)?;
        let end = rest.windows(2).position(|w| w == b"\r\n")?;
        let n = std::str::from_utf8(rest.get(..end)?).ok()?.parse().ok()?;
        Some((n, at + 1 + end + 2))
    }
    let (count, mut at) = line(bytes, 0, b'*')?;
    let mut name: &[u8] = b"";
    for i in 0..count {
        let (len, start) = line(bytes, at, b'$')?;
        let end = start.checked_add(len)?;
        let arg = bytes.get(start..end)?;
        if bytes.get(end..end.checked_add(2)?)? != b"\r\n" {
            return None;
        }
        if i == 0 {
            name = arg;
        }
        at = end + 2;
    }
    Some(Frame { len: at, name })
}

/// The cut of `stream` (the backlog from `from_offset + 1` to `to_offset`), whose
/// first byte runs in database `db`.
pub fn cut(
    replid: &str,
    from_offset: u64,
    to_offset: u64,
    db: usize,
    stream: &[u8],
    truncated: bool,
) -> Cut {
    // The database first, unless the stream selects one itself before any command.
    let selects_first = frame(stream).is_some_and(|f| f.name.eq_ignore_ascii_case(b"select"));
    let mut bytes = if selects_first {
        Vec::new()
    } else {
        crate::resp::encode_request(&["SELECT".to_string(), db.to_string()])
    };
    let mut writes = 0u64;
    let mut rest = stream;
    while let Some(f) = frame(rest) {
        let skip = f.name.eq_ignore_ascii_case(b"ping") || f.name.eq_ignore_ascii_case(b"replconf");
        let counted = !skip
            && !f.name.eq_ignore_ascii_case(b"select")
            && !f.name.eq_ignore_ascii_case(b"multi")
            && !f.name.eq_ignore_ascii_case(b"exec");
        if !skip {
            bytes.extend_from_slice(rest.get(..f.len).unwrap_or_default());
        }
        if counted {
            writes += 1;
        }
        rest = rest.get(f.len..).unwrap_or_default();
    }
    Cut {
        replid: replid.to_string(),
        from_offset,
        to_offset,
        bytes,
        writes,
        truncated,
    }
}

/// Planted bugs (`mutants`): the cut loses its first data command (`first`: it starts
/// one command late) or its last one (the file misses its tail).
pub fn plant_drop_write(cut: &mut Cut, first: bool) {
    let mut frames: Vec<(usize, usize, bool)> = Vec::new();
    let mut at = 0usize;
    while let Some(f) = cut.bytes.get(at..).and_then(frame) {
        let data = !f.name.eq_ignore_ascii_case(b"select")
            && !f.name.eq_ignore_ascii_case(b"multi")
            && !f.name.eq_ignore_ascii_case(b"exec");
        frames.push((at, f.len, data));
        at += f.len;
    }
    let mut data = frames.iter().filter(|f| f.2);
    let victim = if first { data.next() } else { data.next_back() };
    if let Some(&(start, len, _)) = victim {
        cut.bytes.drain(start..start + len);
        cut.writes = cut.writes.saturating_sub(1);
    }
}

/// The lower bound of a cut: the lowest ACK remembered, else the backlog's start.
pub fn floor(last_acks: &BTreeMap<String, u64>, backlog_start_offset: u64) -> (u64, bool) {
    match last_acks.values().min() {
        Some(&ack) if ack >= backlog_start_offset => (ack, false),
        Some(_) => (backlog_start_offset, true),
        None => (backlog_start_offset, false),
    }
}

/// Where a rollback file's write is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Opening,
    Writing,
    Syncing,
    Closing,
    Renaming,
    SyncingDir,
    Cleaning,
}

/// Writing one cut: temp file, write, fsync, close, rename, fsync of `dir`; one
/// operation at a time, so a failure stops before the rename (then the temp file is
/// removed).
#[derive(Debug)]
pub struct FileJob {
    /// The operation in flight.
    pub io: IoId,
    pub name: String,
    tmp: String,
    bytes: Option<Vec<u8>>,
    pub writes: u64,
    step: Step,
    failed: Option<DiskError>,
}

/// After a completion: the next operation, or the end.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    Op(DiskOp),
    Done(Result<(), DiskError>),
}

impl FileJob {
    /// The job and its first operation (`io` is the caller's id for it).
    pub fn start(io: IoId, cut: Cut) -> (FileJob, DiskOp) {
        let name = cut.file_name();
        let tmp = format!("temp-{name}");
        let op = DiskOp::Open {
            path: tmp.clone(),
            create: true,
            truncate: true,
        };
        let job = FileJob {
            io,
            name,
            tmp,
            bytes: Some(cut.bytes),
            writes: cut.writes,
            step: Step::Opening,
            failed: None,
        };
        (job, op)
    }

    /// The operation in flight finished with `result`.
    pub fn on_done(&mut self, result: &DiskResult) -> Next {
        if let DiskResult::Failed(e) = result {
            return match self.step {
                // The rename happened: no temp file is left to remove.
                Step::SyncingDir => Next::Done(Err(*e)),
                Step::Cleaning => Next::Done(Err(self.failed.unwrap_or(*e))),
                _ => {
                    self.failed = Some(*e);
                    self.step = Step::Cleaning;
                    Next::Op(DiskOp::Remove {
                        path: self.tmp.clone(),
                    })
                }
            };
        }
        let tmp = self.tmp.clone();
        let (step, op) = match self.step {
            Step::Opening => (
                Step::Writing,
                DiskOp::Append {
                    path: tmp,
                    bytes: self.bytes.take().unwrap_or_default(),
                },
            ),
            Step::Writing => (Step::Syncing, DiskOp::Fsync { path: tmp }),
            Step::Syncing => (Step::Closing, DiskOp::Close { path: tmp }),
            Step::Closing => (
                Step::Renaming,
                DiskOp::Rename {
                    from: tmp,
                    to: self.name.clone(),
                },
            ),
            Step::Renaming => (Step::SyncingDir, DiskOp::Fsync { path: ".".into() }),
            Step::SyncingDir => return Next::Done(Ok(())),
            Step::Cleaning => return Next::Done(Err(self.failed.unwrap_or(DiskError::Io))),
        };
        self.step = step;
        Next::Op(op)
    }
}

/// The node's rollback state: the cut taken at demotion, the file being written, and
/// INFO's counters.
#[derive(Debug, Default)]
pub struct Rollback {
    /// Taken when the node was demoted; written if the sync that follows is full,
    /// dropped if it continues (the new master has every write) or the node is
    /// promoted again.
    pub cut: Option<Cut>,
    pub job: Option<FileJob>,
    /// Cuts waiting for the job in flight.
    pub queued: Vec<Cut>,
    /// INFO `rollback_files`: files written and synced.
    pub files: u64,
    /// INFO `rollback_writes`: commands in them.
    pub writes: u64,
    /// INFO `rollback_last_file`.
    pub last_file: String,
    /// INFO `rollback_write_errors`: files that could not be written.
    pub write_errors: u64,
    /// Demoted without a backlog: the keys a full resync would replace unkept.
    pub unkept_keys: Option<u64>,
    /// INFO `rollback_unkept_syncs`: full resyncs that replaced such a dataset.
    pub unkept_syncs: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(args: &[&str]) -> Vec<u8> {
        crate::resp::encode_request(args)
    }

    #[test]
    fn a_cut_is_select_then_the_data_commands() {
        let stream = [
            enc(&["SET", "a", "1"]),
            enc(&["PING"]),
            enc(&["REPLCONF", "GETACK", "*"]),
            enc(&["SELECT", "3"]),
            enc(&["MULTI"]),
            enc(&["INCR", "n"]),
            enc(&["EXEC"]),
        ]
        .concat();
        let c = cut(&"f".repeat(40), 100, 200, 2, &stream, false);
        let want = [
            enc(&["SELECT", "2"]),
            enc(&["SET", "a", "1"]),
            enc(&["SELECT", "3"]),
            enc(&["MULTI"]),
            enc(&["INCR", "n"]),
            enc(&["EXEC"]),
        ]
        .concat();
        assert_eq!(c.bytes, want);
        assert_eq!(c.writes, 2);
        assert_eq!(
            c.file_name(),
            format!("rollback-{}-100.resp", "f".repeat(40))
        );
        // A torn frame at the end is left out, never a panic.
        let torn = [
            enc(&["SET", "a", "1"]),
            b"*3\r\n$3\r\nSET\r\n$9999".to_vec(),
        ]
        .concat();
        assert_eq!(cut("x", 0, 1, 0, &torn, false).writes, 1);
    }

    #[test]
    fn the_planted_bugs_drop_the_first_or_the_last_write() {
        let stream = [
            enc(&["SET", "a", "1"]),
            enc(&["MULTI"]),
            enc(&["INCR", "n"]),
            enc(&["EXEC"]),
            enc(&["SET", "z", "9"]),
        ]
        .concat();
        let whole = cut("r", 0, 99, 0, &stream, false);
        let mut late = whole.clone();
        plant_drop_write(&mut late, true);
        let want = [
            enc(&["SELECT", "0"]),
            stream[enc(&["SET", "a", "1"]).len()..].to_vec(),
        ]
        .concat();
        assert_eq!((late.bytes, late.writes), (want, 2));
        let mut short = whole.clone();
        plant_drop_write(&mut short, false);
        let tail = enc(&["SET", "z", "9"]).len();
        let want = [
            enc(&["SELECT", "0"]),
            stream[..stream.len() - tail].to_vec(),
        ]
        .concat();
        assert_eq!((short.bytes, short.writes), (want, 2));
    }

    #[test]
    fn the_floor_is_the_lowest_ack_within_the_backlog() {
        let mut acks = BTreeMap::new();
        assert_eq!(floor(&acks, 10), (10, false));
        acks.insert("a:1".to_string(), 50);
        acks.insert("b:1".to_string(), 30);
        assert_eq!(floor(&acks, 10), (30, false));
        assert_eq!(floor(&acks, 40), (40, true));
    }

    #[test]
    fn the_file_job_syncs_before_the_rename_and_cleans_up_on_failure() {
        let c = cut("r", 5, 9, 0, &enc(&["SET", "a", "1"]), false);
        let (mut job, first) = FileJob::start(IoId(1), c);
        assert!(matches!(first, DiskOp::Open { ref path, .. } if path == "temp-rollback-r-5.resp"));
        let ok = DiskResult::Done { read: Vec::new() };
        let mut kinds = Vec::new();
        loop {
            match job.on_done(&ok) {
                Next::Op(op) => kinds.push(match op {
                    DiskOp::Append { .. } => "append",
                    DiskOp::Fsync { ref path } if path == "." => "fsync-dir",
                    DiskOp::Fsync { .. } => "fsync",
                    DiskOp::Close { .. } => "close",
                    DiskOp::Rename { .. } => "rename",
                    _ => "other",
                }),
                Next::Done(r) => {
                    assert_eq!(r, Ok(()));
                    break;
                }
            }
        }
        assert_eq!(kinds, ["append", "fsync", "close", "rename", "fsync-dir"]);
        let c = cut("r", 5, 9, 0, &enc(&["SET", "a", "1"]), false);
        let (mut job, _) = FileJob::start(IoId(1), c);
        let _ = job.on_done(&ok);
        let failed = DiskResult::Failed(DiskError::NoSpace);
        assert_eq!(
            job.on_done(&failed),
            Next::Op(DiskOp::Remove {
                path: "temp-rollback-r-5.resp".into()
            })
        );
        assert_eq!(job.on_done(&ok), Next::Done(Err(DiskError::NoSpace)));
    }
}
