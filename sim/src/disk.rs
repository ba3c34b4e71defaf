//! One host's simulated disk: files as inodes holding written and synced bytes, a
//! directory whose entries (creates, renames, removes) become durable only at a
//! directory fsync, and a FIFO of operations each answered by exactly one completion
//! after a seeded latency. It never touches a real file, and a crash keeps only what a
//! real disk could: the synced state plus a seeded prefix of the unsynced changes.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use keel_core::{DiskError, DiskOp, DiskResult, IoId};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// The path a directory fsync names: the node's `dir` itself.
pub const DIR: &str = ".";

/// Bound on one `Read` (a node reads files in pieces; a bigger ask is a bug).
pub const MAX_READ_BYTES: u64 = 64 * 1024 * 1024;

/// A change to a file's bytes not yet made durable by an fsync, in the order made.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Change {
    Write { offset: u64, bytes: Vec<u8> },
    Truncate { len: u64 },
}

impl Change {
    fn apply(&self, data: &mut Vec<u8>) {
        match self {
            Change::Write { offset, bytes } => {
                let start = *offset as usize;
                let end = start + bytes.len();
                if data.len() < end {
                    data.resize(end, 0);
                }
                if let Some(dst) = data.get_mut(start..end) {
                    dst.copy_from_slice(bytes);
                }
            }
            Change::Truncate { len } => data.resize(*len as usize, 0),
        }
    }
}

#[derive(Debug, Default, Clone)]
struct Inode {
    /// What a reader sees now.
    written: Vec<u8>,
    /// What survives a crash for certain.
    synced: Vec<u8>,
    /// The changes from `synced` to `written`, oldest first.
    unsynced: Vec<Change>,
}

impl Inode {
    fn change(&mut self, change: Change) {
        change.apply(&mut self.written);
        self.unsynced.push(change);
    }
}

/// An operation waiting for its completion.
#[derive(Debug)]
struct Queued {
    ready_ms: u64,
    io: IoId,
    op: DiskOp,
}

/// Seeded latency of one disk operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskLatency {
    pub min_ms: u64,
    pub jitter_ms: u64,
}

#[derive(Debug)]
pub struct Disk {
    inodes: BTreeMap<u64, Inode>,
    next_inode: u64,
    /// The directory as processes see it.
    names: BTreeMap<String, u64>,
    /// The directory as of the last directory fsync: what a crash leaves.
    durable_names: BTreeMap<String, u64>,
    /// Files the node opened (the contract keys open files by path).
    open: BTreeSet<String>,
    queue: VecDeque<Queued>,
    /// Completions never overtake one another, so the node sees its ops in order.
    last_ready_ms: u64,
    pub latency: DiskLatency,
}

impl Disk {
    pub fn new(latency: DiskLatency) -> Disk {
        Disk {
            inodes: BTreeMap::new(),
            next_inode: 1,
            names: BTreeMap::new(),
            durable_names: BTreeMap::new(),
            open: BTreeSet::new(),
            queue: VecDeque::new(),
            last_ready_ms: 0,
            latency,
        }
    }

    /// Queues an operation; it takes effect, and its one completion is handed back,
    /// at the returned time (the world schedules an event for it).
    pub fn submit(&mut self, rng: &mut ChaCha8Rng, now_ms: u64, io: IoId, op: DiskOp) -> u64 {
        let latency_ms = self.latency.min_ms + rng.gen_range(0..=self.latency.jitter_ms);
        let ready_ms = (now_ms + latency_ms).max(self.last_ready_ms);
        self.last_ready_ms = ready_ms;
        self.queue.push_back(Queued { ready_ms, io, op });
        ready_ms
    }

    /// Operations submitted and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Runs every operation due by `now_ms`, in submission order; their completions.
    pub fn complete_ready(&mut self, now_ms: u64) -> Vec<(IoId, DiskResult)> {
        let mut done = Vec::new();
        while self.queue.front().is_some_and(|q| q.ready_ms <= now_ms) {
            let Some(q) = self.queue.pop_front() else {
                break;
            };
            done.push((q.io, self.execute(q.op)));
        }
        done
    }

    /// Runs one operation now, with POSIX semantics (rename replaces its target
    /// atomically; remove and rename change only the directory; nothing is durable
    /// before an fsync of the file, and no directory change before one of the
    /// directory).
    pub fn execute(&mut self, op: DiskOp) -> DiskResult {
        let done = || DiskResult::Done { read: Vec::new() };
        let failed = DiskResult::Failed;
        match op {
            DiskOp::Open {
                path,
                create,
                truncate,
            } => {
                if path == DIR {
                    return failed(DiskError::Io);
                }
                let inode = match self.names.get(&path) {
                    Some(&inode) => inode,
                    None if create => {
                        let inode = self.next_inode;
                        self.next_inode += 1;
                        self.inodes.insert(inode, Inode::default());
                        self.names.insert(path.clone(), inode);
                        inode
                    }
                    None => return failed(DiskError::NotFound),
                };
                if truncate {
                    if let Some(file) = self.inodes.get_mut(&inode) {
                        file.change(Change::Truncate { len: 0 });
                    }
                }
                self.open.insert(path);
                done()
            }
            DiskOp::Append { path, bytes } => match self.open_inode(&path) {
                Ok(file) => {
                    let offset = file.written.len() as u64;
                    file.change(Change::Write { offset, bytes });
                    done()
                }
                Err(e) => failed(e),
            },
            DiskOp::WriteAt {
                path,
                offset,
                bytes,
            } => match self.open_inode(&path) {
                Ok(file) => {
                    file.change(Change::Write { offset, bytes });
                    done()
                }
                Err(e) => failed(e),
            },
            DiskOp::Fsync { path } => {
                if path == DIR {
                    self.durable_names = self.names.clone();
                    self.collect();
                    return done();
                }
                match self.inode(&path) {
                    Some(file) => {
                        file.synced = file.written.clone();
                        file.unsynced.clear();
                        done()
                    }
                    None => failed(DiskError::NotFound),
                }
            }
            DiskOp::Rename { from, to } => {
                let Some(inode) = self.names.remove(&from) else {
                    return failed(DiskError::NotFound);
                };
                self.names.insert(to.clone(), inode);
                // Open files are keyed by path: the open one follows its inode.
                self.open.remove(&to);
                if self.open.remove(&from) {
                    self.open.insert(to);
                }
                self.collect();
                done()
            }
            DiskOp::Truncate { path, len } => match self.inode(&path) {
                Some(file) => {
                    file.change(Change::Truncate { len });
                    done()
                }
                None => failed(DiskError::NotFound),
            },
            DiskOp::Remove { path } => {
                if self.names.remove(&path).is_none() {
                    return failed(DiskError::NotFound);
                }
                self.open.remove(&path);
                self.collect();
                done()
            }
            DiskOp::Read { path, offset, len } => {
                if len > MAX_READ_BYTES {
                    return failed(DiskError::Io);
                }
                let Some(file) = self.inode(&path) else {
                    return failed(DiskError::NotFound);
                };
                let start = (offset as usize).min(file.written.len());
                let end = start.saturating_add(len as usize).min(file.written.len());
                DiskResult::Done {
                    read: file.written.get(start..end).unwrap_or_default().to_vec(),
                }
            }
            DiskOp::Close { path } => {
                if self.open.remove(&path) {
                    done()
                } else {
                    failed(DiskError::Io)
                }
            }
        }
    }

    fn inode(&mut self, path: &str) -> Option<&mut Inode> {
        let inode = self.names.get(path)?;
        self.inodes.get_mut(inode)
    }

    /// The file behind an open path (EBADF, here `Io`, when it was never opened).
    fn open_inode(&mut self, path: &str) -> Result<&mut Inode, DiskError> {
        if !self.open.contains(path) {
            return Err(if self.names.contains_key(path) {
                DiskError::Io
            } else {
                DiskError::NotFound
            });
        }
        self.inode(path).ok_or(DiskError::NotFound)
    }

    /// Forgets inodes no name (current or durable) reaches any more.
    fn collect(&mut self) {
        let (names, durable) = (&self.names, &self.durable_names);
        self.inodes
            .retain(|i, _| names.values().any(|n| n == i) || durable.values().any(|n| n == i));
    }

    /// Power loss: queued operations never happen, nothing stays open, the directory
    /// is what its last fsync made durable, and each surviving file holds its synced
    /// bytes plus a seeded prefix of its unsynced changes (the last one possibly torn).
    pub fn crash(&mut self, rng: &mut ChaCha8Rng) {
        self.queue.clear();
        self.open.clear();
        self.names = self.durable_names.clone();
        self.collect();
        for file in self.inodes.values_mut() {
            let mut data = std::mem::take(&mut file.synced);
            let kept = rng.gen_range(0..=file.unsynced.len());
            for change in file.unsynced.iter().take(kept) {
                change.apply(&mut data);
            }
            if let Some(Change::Write { offset, bytes }) = file.unsynced.get(kept) {
                let torn = rng.gen_range(0..=bytes.len());
                let piece = Change::Write {
                    offset: *offset,
                    bytes: bytes.get(..torn).unwrap_or_default().to_vec(),
                };
                piece.apply(&mut data);
            }
            file.unsynced.clear();
            file.written = data.clone();
            file.synced = data;
        }
    }

    /// A file's bytes as a reader sees them now.
    pub fn contents(&self, path: &str) -> Option<&[u8]> {
        let inode = self.names.get(path)?;
        self.inodes.get(inode).map(|f| f.written.as_slice())
    }

    /// The directory's names, sorted.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.names.keys().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn disk() -> Disk {
        Disk::new(DiskLatency {
            min_ms: 1,
            jitter_ms: 3,
        })
    }

    fn ok(d: &mut Disk, op: DiskOp) -> Vec<u8> {
        match d.execute(op.clone()) {
            DiskResult::Done { read } => read,
            DiskResult::Failed(e) => panic!("{op:?} failed: {e:?}"),
        }
    }

    fn open(path: &str) -> DiskOp {
        DiskOp::Open {
            path: path.into(),
            create: true,
            truncate: false,
        }
    }

    fn append(path: &str, bytes: &[u8]) -> DiskOp {
        DiskOp::Append {
            path: path.into(),
            bytes: bytes.to_vec(),
        }
    }

    fn fsync(path: &str) -> DiskOp {
        DiskOp::Fsync { path: path.into() }
    }

    #[test]
    fn every_op_gets_one_completion_in_order() {
        let mut d = disk();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let mut last = 0;
        for i in 0..20 {
            let at = d.submit(&mut rng, i, IoId(i), append("f", b"x"));
            assert!(at >= last && at > i && at <= i + 4, "{at}");
            last = at;
        }
        assert_eq!(d.in_flight(), 20);
        let mut ids = Vec::new();
        for t in 0..=last {
            ids.extend(d.complete_ready(t).into_iter().map(|(io, _)| io.0));
        }
        assert_eq!(ids, (0..20).collect::<Vec<_>>());
        assert_eq!(d.in_flight(), 0);
    }

    #[test]
    fn posix_semantics_of_each_op() {
        let mut d = disk();
        let missing = DiskOp::Open {
            path: "a".into(),
            create: false,
            truncate: false,
        };
        assert_eq!(d.execute(missing), DiskResult::Failed(DiskError::NotFound));
        assert_eq!(
            d.execute(append("a", b"x")),
            DiskResult::Failed(DiskError::NotFound)
        );
        ok(&mut d, open("a"));
        ok(&mut d, append("a", b"hello"));
        ok(&mut d, append("a", b" world"));
        let write_at = DiskOp::WriteAt {
            path: "a".into(),
            offset: 13,
            bytes: b"!".to_vec(),
        };
        ok(&mut d, write_at);
        assert_eq!(d.contents("a"), Some(&b"hello world\0\0!"[..]));
        let read = DiskOp::Read {
            path: "a".into(),
            offset: 6,
            len: 100,
        };
        assert_eq!(ok(&mut d, read), b"world\0\0!");
        ok(
            &mut d,
            DiskOp::Truncate {
                path: "a".into(),
                len: 5,
            },
        );
        assert_eq!(d.contents("a"), Some(&b"hello"[..]));
        // Rename replaces its target; the open file follows.
        ok(&mut d, open("b"));
        ok(&mut d, append("b", b"old"));
        ok(
            &mut d,
            DiskOp::Rename {
                from: "a".into(),
                to: "b".into(),
            },
        );
        assert_eq!(d.contents("a"), None);
        assert_eq!(d.contents("b"), Some(&b"hello"[..]));
        ok(&mut d, append("b", b"!"));
        assert_eq!(d.contents("b"), Some(&b"hello!"[..]));
        assert_eq!(
            d.execute(append("a", b"x")),
            DiskResult::Failed(DiskError::NotFound)
        );
        ok(&mut d, DiskOp::Close { path: "b".into() });
        assert_eq!(
            d.execute(append("b", b"x")),
            DiskResult::Failed(DiskError::Io)
        );
        assert_eq!(
            d.execute(DiskOp::Close { path: "b".into() }),
            DiskResult::Failed(DiskError::Io)
        );
        // Open with truncate empties it.
        ok(
            &mut d,
            DiskOp::Open {
                path: "b".into(),
                create: false,
                truncate: true,
            },
        );
        assert_eq!(d.contents("b"), Some(&b""[..]));
        ok(&mut d, DiskOp::Remove { path: "b".into() });
        assert_eq!(
            d.execute(DiskOp::Remove { path: "b".into() }),
            DiskResult::Failed(DiskError::NotFound)
        );
        assert_eq!(d.files().count(), 0);
    }

    #[test]
    fn crash_keeps_the_synced_part_and_a_prefix_of_the_rest() {
        for seed in 0..64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut d = disk();
            ok(&mut d, open("log"));
            ok(&mut d, append("log", b"synced;"));
            ok(&mut d, fsync("log"));
            ok(&mut d, fsync(DIR));
            ok(&mut d, append("log", b"one;"));
            ok(&mut d, append("log", b"two;"));
            d.crash(&mut rng);
            let got = d.contents("log").expect("the file's name was made durable");
            let full = b"synced;one;two;";
            assert!(
                got.len() >= 7 && full.starts_with(got),
                "seed {seed}: {got:?}"
            );
            // Nothing stays open after a crash.
            assert_eq!(
                d.execute(append("log", b"x")),
                DiskResult::Failed(DiskError::Io)
            );
        }
        // Across seeds, both a lost tail and a torn write happen.
        let lens: BTreeSet<usize> = (0..64)
            .map(|seed| {
                let mut rng = ChaCha8Rng::seed_from_u64(seed);
                let mut d = disk();
                ok(&mut d, open("log"));
                ok(&mut d, fsync(DIR));
                ok(&mut d, append("log", b"abcdefgh"));
                d.crash(&mut rng);
                d.contents("log").map_or(99, <[u8]>::len)
            })
            .collect();
        assert!(
            lens.contains(&0) && lens.contains(&8) && lens.len() > 3,
            "{lens:?}"
        );
    }

    #[test]
    fn directory_changes_are_durable_only_after_a_directory_fsync() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut d = disk();
        // A created and fsynced file whose name was never made durable is gone.
        ok(&mut d, open("new"));
        ok(&mut d, append("new", b"x"));
        ok(&mut d, fsync("new"));
        d.crash(&mut rng);
        assert_eq!(d.contents("new"), None);
        // A rename over a durable file: the old contents until the directory fsync.
        ok(&mut d, open("data"));
        ok(&mut d, append("data", b"v1"));
        ok(&mut d, fsync("data"));
        ok(&mut d, fsync(DIR));
        ok(&mut d, open("tmp"));
        ok(&mut d, append("tmp", b"v2"));
        ok(&mut d, fsync("tmp"));
        ok(
            &mut d,
            DiskOp::Rename {
                from: "tmp".into(),
                to: "data".into(),
            },
        );
        d.crash(&mut rng);
        assert_eq!(d.contents("data"), Some(&b"v1"[..]));
        assert_eq!(d.contents("tmp"), None);
        ok(&mut d, open("tmp"));
        ok(&mut d, append("tmp", b"v2"));
        ok(&mut d, fsync("tmp"));
        ok(
            &mut d,
            DiskOp::Rename {
                from: "tmp".into(),
                to: "data".into(),
            },
        );
        ok(&mut d, fsync(DIR));
        d.crash(&mut rng);
        assert_eq!(d.contents("data"), Some(&b"v2"[..]));
        // A removal is undone by a crash before the directory fsync.
        ok(
            &mut d,
            DiskOp::Remove {
                path: "data".into(),
            },
        );
        d.crash(&mut rng);
        assert_eq!(d.contents("data"), Some(&b"v2"[..]));
        // Queued operations never happen.
        d.submit(
            &mut rng,
            0,
            IoId(1),
            DiskOp::Remove {
                path: "data".into(),
            },
        );
        d.crash(&mut rng);
        assert_eq!(d.in_flight(), 0);
        assert_eq!(d.contents("data"), Some(&b"v2"[..]));
    }
}
