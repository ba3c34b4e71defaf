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

/// The directory a name lives in (`.` for the node's `dir` itself).
fn dir_of(name: &str) -> &str {
    name.rsplit_once('/').map_or(DIR, |(dir, _)| dir)
}

/// A change to the directory not yet made durable by a directory fsync.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DirChange {
    Link { name: String, inode: u64 },
    Unlink { name: String },
}

/// An operation waiting for its completion.
#[derive(Debug)]
struct Queued {
    ready_ms: u64,
    io: IoId,
    op: DiskOp,
    /// Decided at submission: this fsync fails with EIO.
    eio: bool,
    /// The modelled time the operation itself takes (its drawn latency), reported
    /// with its completion for the node's latency monitor.
    service_ms: u64,
}

/// Faults in force on one disk; the world turns them on and off (overlapping faults
/// of a kind: the harshest one wins).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskFaults {
    /// A file's fsync fails with EIO with this probability (per mille); what was
    /// unsynced stays unsynced (a later fsync may still make it durable).
    pub fsync_eio_permille: u32,
    /// A write that would take the disk's bytes past this fails with ENOSPC, whole.
    pub capacity_bytes: Option<u64>,
    /// Every operation takes up to this much longer (a slow disk's latency spikes).
    pub extra_latency_ms: u64,
}

/// What the disk injected, for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Injected {
    pub fsync_eio: u64,
    pub enospc: u64,
    pub bit_rot: u64,
}

/// One completion: the operation's id, what it was about, and its result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub io: IoId,
    /// The operation's name (`Append`, `Fsync` ...).
    pub kind: &'static str,
    pub path: String,
    /// A rename's target.
    pub to: Option<String>,
    pub result: DiskResult,
    /// The modelled service time, as a driver reports a measured one.
    pub elapsed_us: u64,
}

fn op_kind(op: &DiskOp) -> &'static str {
    match op {
        DiskOp::Open { .. } => "Open",
        DiskOp::Append { .. } => "Append",
        DiskOp::WriteAt { .. } => "WriteAt",
        DiskOp::Fsync { .. } => "Fsync",
        DiskOp::Rename { .. } => "Rename",
        DiskOp::Truncate { .. } => "Truncate",
        DiskOp::Remove { .. } => "Remove",
        DiskOp::Read { .. } => "Read",
        DiskOp::Close { .. } => "Close",
        DiskOp::ChangeDir { .. } => "ChangeDir",
    }
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
    /// The directory as of the last directory fsync: what a crash keeps for certain.
    durable_names: BTreeMap<String, u64>,
    /// The directory's changes since then, oldest first: a crash keeps a seeded
    /// prefix of them (a journal may commit a rename before anyone asked).
    dir_log: Vec<DirChange>,
    /// Files the node opened (the contract keys open files by path).
    open: BTreeSet<String>,
    queue: VecDeque<Queued>,
    /// Completions never overtake one another, so the node sees its ops in order.
    last_ready_ms: u64,
    pub latency: DiskLatency,
    pub faults: DiskFaults,
    pub injected: Injected,
    /// Inodes the world flipped a byte in (bit rot at rest).
    rotten: BTreeSet<u64>,
    /// Paths the node read while their inode was rotten (since the last `take_rotten_reads`).
    rotten_reads: BTreeSet<String>,
}

impl Disk {
    pub fn new(latency: DiskLatency) -> Disk {
        Disk {
            inodes: BTreeMap::new(),
            next_inode: 1,
            names: BTreeMap::new(),
            durable_names: BTreeMap::new(),
            dir_log: Vec::new(),
            open: BTreeSet::new(),
            queue: VecDeque::new(),
            last_ready_ms: 0,
            latency,
            faults: DiskFaults::default(),
            injected: Injected::default(),
            rotten: BTreeSet::new(),
            rotten_reads: BTreeSet::new(),
        }
    }

    /// A copy of the files as processes see them now (written bytes, synced or not),
    /// with nothing queued and no faults: what a second process reading the directory
    /// would find. For checks that load a node's files beside it.
    pub fn view(&self) -> Disk {
        let mut copy = Disk::new(self.latency);
        copy.inodes = self.inodes.clone();
        copy.next_inode = self.next_inode;
        copy.names = self.names.clone();
        copy.durable_names = self.names.clone();
        copy
    }

    /// Queues an operation; it takes effect, and its one completion is handed back,
    /// at the returned time (the world schedules an event for it).
    pub fn submit(&mut self, rng: &mut ChaCha8Rng, now_ms: u64, io: IoId, op: DiskOp) -> u64 {
        let mut latency_ms = self.latency.min_ms + rng.gen_range(0..=self.latency.jitter_ms);
        if self.faults.extra_latency_ms > 0 {
            latency_ms += rng.gen_range(0..=self.faults.extra_latency_ms);
        }
        let ready_ms = (now_ms + latency_ms).max(self.last_ready_ms);
        self.last_ready_ms = ready_ms;
        let eio = matches!(&op, DiskOp::Fsync { path } if path != DIR)
            && self.faults.fsync_eio_permille > 0
            && rng.gen_range(0..1000) < self.faults.fsync_eio_permille;
        self.queue.push_back(Queued {
            ready_ms,
            io,
            op,
            eio,
            service_ms: latency_ms,
        });
        ready_ms
    }

    /// Operations submitted and not yet completed.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Runs every operation due by `now_ms`, in submission order; their completions.
    pub fn complete_ready(&mut self, now_ms: u64) -> Vec<Completion> {
        let mut done = Vec::new();
        while self.queue.front().is_some_and(|q| q.ready_ms <= now_ms) {
            let Some(q) = self.queue.pop_front() else {
                break;
            };
            let (kind, path) = (op_kind(&q.op), q.op.path().to_string());
            let to = match &q.op {
                DiskOp::Rename { to, .. } => Some(to.clone()),
                _ => None,
            };
            let result = if q.eio {
                self.injected.fsync_eio += 1;
                DiskResult::Failed(DiskError::Io)
            } else {
                self.execute(q.op)
            };
            done.push(Completion {
                io: q.io,
                kind,
                path,
                to,
                result,
                elapsed_us: q.service_ms.saturating_mul(1000),
            });
        }
        done
    }

    /// Bytes the disk holds (every file a name reaches, at its larger of written and
    /// synced sizes).
    pub fn used_bytes(&self) -> u64 {
        self.inodes
            .values()
            .map(|f| f.written.len().max(f.synced.len()) as u64)
            .sum()
    }

    /// Whether growing `path` to `end` bytes fits the capacity in force.
    fn fits(&self, path: &str, end: u64) -> bool {
        let Some(capacity) = self.faults.capacity_bytes else {
            return true;
        };
        let now = self
            .names
            .get(path)
            .and_then(|i| self.inodes.get(i))
            .map_or(0, |f| f.written.len() as u64);
        self.used_bytes() + end.saturating_sub(now) <= capacity
    }

    /// Bit rot: flips one byte of a file at rest (its synced bytes, and what readers
    /// see) among the durable names `pick` accepts. Returns the file and the offset.
    pub fn rot(
        &mut self,
        rng: &mut ChaCha8Rng,
        pick: impl Fn(&str) -> bool,
    ) -> Option<(String, u64)> {
        let candidates: Vec<(String, u64)> =
            self.durable_names
                .iter()
                .filter(|(name, inode)| {
                    pick(name)
                        && self.names.get(*name) == Some(inode)
                        && self.inodes.get(inode).is_some_and(|f| {
                            !f.synced.is_empty() && f.written.len() >= f.synced.len()
                        })
                })
                .map(|(name, &inode)| (name.clone(), inode))
                .collect();
        if candidates.is_empty() {
            return None;
        }
        let (name, inode) = candidates[rng.gen_range(0..candidates.len())].clone();
        let file = self.inodes.get_mut(&inode)?;
        let offset = rng.gen_range(0..file.synced.len());
        let mask: u8 = rng.gen_range(1..=255);
        for data in [&mut file.synced, &mut file.written] {
            if let Some(b) = data.get_mut(offset) {
                *b ^= mask;
            }
        }
        // A later change replays onto the synced bytes at a crash: keep the flip there.
        for change in &mut file.unsynced {
            if let Change::Write { offset: at, bytes } = change {
                if let Some(b) = offset
                    .checked_sub(*at as usize)
                    .and_then(|i| bytes.get_mut(i))
                {
                    *b ^= mask;
                }
            }
        }
        self.rotten.insert(inode);
        self.injected.bit_rot += 1;
        Some((name, offset as u64))
    }

    /// Files with a flipped byte the node read since the last call.
    pub fn take_rotten_reads(&mut self) -> Vec<String> {
        std::mem::take(&mut self.rotten_reads).into_iter().collect()
    }

    /// Names whose file has a flipped byte.
    pub fn rotten_files(&self) -> Vec<String> {
        self.names
            .iter()
            .filter(|(_, i)| self.rotten.contains(i))
            .map(|(n, _)| n.clone())
            .collect()
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
                        self.dir_log.push(DirChange::Link {
                            name: path.clone(),
                            inode,
                        });
                        inode
                    }
                    None => return failed(DiskError::NotFound),
                };
                if truncate {
                    if let Some(file) = self.inodes.get_mut(&inode) {
                        file.change(Change::Truncate { len: 0 });
                    }
                    self.rotten.remove(&inode);
                }
                self.open.insert(path);
                done()
            }
            DiskOp::Append { path, bytes } => {
                let end = self.contents(&path).map_or(0, <[u8]>::len) + bytes.len();
                if !self.fits(&path, end as u64) {
                    self.injected.enospc += 1;
                    return failed(DiskError::NoSpace);
                }
                match self.open_inode(&path) {
                    Ok(file) => {
                        let offset = file.written.len() as u64;
                        file.change(Change::Write { offset, bytes });
                        done()
                    }
                    Err(e) => failed(e),
                }
            }
            DiskOp::WriteAt {
                path,
                offset,
                bytes,
            } => {
                let end = offset.saturating_add(bytes.len() as u64);
                if !self.fits(&path, end) {
                    self.injected.enospc += 1;
                    return failed(DiskError::NoSpace);
                }
                match self.open_inode(&path) {
                    Ok(file) => {
                        file.change(Change::Write { offset, bytes });
                        done()
                    }
                    Err(e) => failed(e),
                }
            }
            DiskOp::Fsync { path } => {
                if self.is_dir(&path) {
                    self.sync_dir(&path);
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
                self.dir_log.push(DirChange::Unlink { name: from.clone() });
                self.dir_log.push(DirChange::Link {
                    name: to.clone(),
                    inode,
                });
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
                self.dir_log.push(DirChange::Unlink { name: path.clone() });
                self.open.remove(&path);
                self.collect();
                done()
            }
            DiskOp::Read { path, offset, len } => {
                if len > MAX_READ_BYTES {
                    return failed(DiskError::Io);
                }
                if self
                    .names
                    .get(&path)
                    .is_some_and(|i| self.rotten.contains(i))
                {
                    self.rotten_reads.insert(path.clone());
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
            // One directory per host: a change of `dir` is not modelled (the files
            // stay where they are), only answered as a chdir to it would be.
            DiskOp::ChangeDir { path } => DiskResult::Done {
                read: path.into_bytes(),
            },
        }
    }

    /// `.` (the node's `dir`), or a subdirectory some name lives in (`appendonlydir`).
    fn is_dir(&self, path: &str) -> bool {
        if path == DIR {
            return true;
        }
        if self.names.contains_key(path) {
            return false;
        }
        let inside = |name: &str| dir_of(name) == path;
        self.names.keys().any(|n| inside(n))
            || self.durable_names.keys().any(|n| inside(n))
            || self.dir_log.iter().any(|c| match c {
                DirChange::Link { name, .. } | DirChange::Unlink { name } => inside(name),
            })
    }

    /// A directory fsync: the changes to names in `dir` become durable, in order.
    fn sync_dir(&mut self, dir: &str) {
        let log = std::mem::take(&mut self.dir_log);
        for change in log {
            match &change {
                DirChange::Link { name, inode } if dir_of(name) == dir => {
                    self.durable_names.insert(name.clone(), *inode);
                }
                DirChange::Unlink { name } if dir_of(name) == dir => {
                    self.durable_names.remove(name);
                }
                _ => self.dir_log.push(change),
            }
        }
        self.collect();
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
        let (names, durable, log) = (&self.names, &self.durable_names, &self.dir_log);
        let logged = |i: &u64| {
            log.iter()
                .any(|c| matches!(c, DirChange::Link { inode, .. } if inode == i))
        };
        self.inodes.retain(|i, _| {
            names.values().any(|n| n == i) || durable.values().any(|n| n == i) || logged(i)
        });
        let inodes = &self.inodes;
        self.rotten.retain(|i| inodes.contains_key(i));
    }

    /// Power loss: queued operations never happen, nothing stays open, the directory
    /// is what its last fsync made durable plus a seeded prefix of the changes since
    /// (renames are atomic: both halves or neither), and each surviving file holds its
    /// synced bytes plus a seeded prefix of its unsynced changes (the last one
    /// possibly torn).
    pub fn crash(&mut self, rng: &mut ChaCha8Rng) {
        self.queue.clear();
        self.open.clear();
        let mut names = self.durable_names.clone();
        let log = std::mem::take(&mut self.dir_log);
        let mut kept = rng.gen_range(0..=log.len());
        // A rename logs Unlink then Link: never keep half of one.
        if let (Some(DirChange::Unlink { .. }), Some(DirChange::Link { .. })) =
            (kept.checked_sub(1).and_then(|i| log.get(i)), log.get(kept))
        {
            kept -= 1;
        }
        for change in log.iter().take(kept) {
            match change {
                DirChange::Link { name, inode } => {
                    names.insert(name.clone(), *inode);
                }
                DirChange::Unlink { name } => {
                    names.remove(name);
                }
            }
        }
        self.names = names.clone();
        self.durable_names = names;
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

    /// The process died (the OS did not): queued operations are dropped, nothing stays
    /// open, and every byte and name written stays.
    pub fn process_exit(&mut self) {
        self.queue.clear();
        self.open.clear();
    }

    /// Every file gone (an operator moved them aside); faults in force stay.
    pub fn wipe(&mut self) {
        self.queue.clear();
        self.open.clear();
        self.names.clear();
        self.durable_names.clear();
        self.dir_log.clear();
        self.inodes.clear();
        self.rotten.clear();
        self.rotten_reads.clear();
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
            ids.extend(d.complete_ready(t).into_iter().map(|c| c.io.0));
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
        // Before the directory fsync a crash keeps a seeded prefix of the changes:
        // across seeds both outcomes happen, and a rename is never half done.
        let mut outcomes = BTreeSet::new();
        for seed in 0..64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let mut d = disk();
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
            let state = (
                d.contents("data").map(<[u8]>::to_vec),
                d.contents("tmp").map(<[u8]>::to_vec),
            );
            assert!(
                [
                    (Some(b"v1".to_vec()), None),
                    (Some(b"v1".to_vec()), Some(b"v2".to_vec())),
                    (Some(b"v2".to_vec()), None),
                ]
                .contains(&state),
                "seed {seed}: {state:?}"
            );
            outcomes.insert(state);
        }
        assert_eq!(outcomes.len(), 3, "{outcomes:?}");
        // After the directory fsync the rename is certain; removal undone or not.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut d = disk();
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
        assert_eq!(d.contents("tmp"), None);
        let removed: BTreeSet<bool> = (0..16)
            .map(|seed| {
                let mut d2 = disk();
                ok(&mut d2, open("data"));
                ok(&mut d2, fsync(DIR));
                ok(
                    &mut d2,
                    DiskOp::Remove {
                        path: "data".into(),
                    },
                );
                d2.crash(&mut ChaCha8Rng::seed_from_u64(seed));
                d2.contents("data").is_some()
            })
            .collect();
        assert_eq!(removed.len(), 2);
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

    #[test]
    fn a_failed_fsync_leaves_the_unsynced_part_unsynced() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let mut d = disk();
        ok(&mut d, open("aof"));
        ok(&mut d, fsync(DIR));
        ok(&mut d, append("aof", b"acked;"));
        ok(&mut d, fsync("aof"));
        ok(&mut d, append("aof", b"lost?"));
        d.faults.fsync_eio_permille = 1000;
        d.submit(&mut rng, 0, IoId(1), fsync("aof"));
        d.submit(&mut rng, 0, IoId(2), fsync(DIR));
        let done = d.complete_ready(100);
        assert_eq!(done[0].result, DiskResult::Failed(DiskError::Io));
        assert_eq!((done[0].kind, done[0].path.as_str()), ("Fsync", "aof"));
        assert_eq!(
            done[1].result,
            DiskResult::Done { read: vec![] },
            "the directory's fsync is not failed"
        );
        assert_eq!(d.injected.fsync_eio, 1);
        // Readers still see the write; a crash may drop it.
        assert_eq!(d.contents("aof"), Some(&b"acked;lost?"[..]));
        let kept: BTreeSet<usize> = (0..32)
            .map(|seed| {
                let mut d2 = disk();
                ok(&mut d2, open("aof"));
                ok(&mut d2, fsync(DIR));
                ok(&mut d2, append("aof", b"acked;"));
                ok(&mut d2, fsync("aof"));
                ok(&mut d2, append("aof", b"lost?"));
                d2.faults.fsync_eio_permille = 1000;
                d2.submit(&mut rng, 0, IoId(1), fsync("aof"));
                d2.complete_ready(100);
                d2.crash(&mut ChaCha8Rng::seed_from_u64(seed));
                d2.contents("aof").map_or(0, <[u8]>::len)
            })
            .collect();
        assert!(
            kept.contains(&6) && kept.iter().all(|&n| n >= 6),
            "{kept:?}"
        );
        // Once the fault ends, a retried fsync makes it durable.
        d.faults.fsync_eio_permille = 0;
        d.submit(&mut rng, 100, IoId(3), fsync("aof"));
        d.complete_ready(200);
        d.crash(&mut rng);
        assert_eq!(d.contents("aof"), Some(&b"acked;lost?"[..]));
    }

    #[test]
    fn a_full_disk_refuses_writes_whole() {
        let mut d = disk();
        ok(&mut d, open("a"));
        ok(&mut d, append("a", b"12345"));
        d.faults.capacity_bytes = Some(8);
        ok(&mut d, append("a", b"678"));
        assert_eq!(
            d.execute(append("a", b"9")),
            DiskResult::Failed(DiskError::NoSpace)
        );
        let at = DiskOp::WriteAt {
            path: "a".into(),
            offset: 20,
            bytes: b"x".to_vec(),
        };
        assert_eq!(d.execute(at), DiskResult::Failed(DiskError::NoSpace));
        // Overwriting in place takes no room.
        let over = DiskOp::WriteAt {
            path: "a".into(),
            offset: 0,
            bytes: b"abc".to_vec(),
        };
        ok(&mut d, over);
        assert_eq!(d.contents("a"), Some(&b"abc45678"[..]));
        assert_eq!((d.used_bytes(), d.injected.enospc), (8, 2));
        // Freeing room lets writes through again.
        ok(
            &mut d,
            DiskOp::Truncate {
                path: "a".into(),
                len: 0,
            },
        );
        ok(&mut d, fsync("a"));
        ok(&mut d, append("a", b"9"));
    }

    #[test]
    fn a_slow_disk_delays_completions_in_order() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mut d = disk();
        d.faults.extra_latency_ms = 500;
        let times: Vec<u64> = (0..50)
            .map(|i| d.submit(&mut rng, i, IoId(i), append("f", b"x")))
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        assert!(*times.last().unwrap_or(&0) > 100, "{times:?}");
    }

    #[test]
    fn bit_rot_flips_a_byte_at_rest_and_reads_of_it_are_noticed() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut d = disk();
        assert_eq!(d.rot(&mut rng, |_| true), None, "nothing at rest yet");
        ok(&mut d, open("dump.rdb"));
        ok(&mut d, append("dump.rdb", b"REDIS0010 data"));
        ok(&mut d, fsync("dump.rdb"));
        assert_eq!(
            d.rot(&mut rng, |_| true),
            None,
            "its name is not durable yet"
        );
        ok(&mut d, fsync(DIR));
        assert_eq!(d.rot(&mut rng, |n| n.ends_with(".aof")), None);
        let (name, offset) = d.rot(&mut rng, |n| n.ends_with(".rdb")).expect("rots");
        assert_eq!(name, "dump.rdb");
        let got = d.contents("dump.rdb").unwrap_or_default().to_vec();
        let diff: Vec<usize> = (0..got.len())
            .filter(|&i| got[i] != b"REDIS0010 data"[i])
            .collect();
        assert_eq!(diff, vec![offset as usize]);
        assert_eq!(d.rotten_files(), vec!["dump.rdb".to_string()]);
        // It survives a crash, and a read of it is noticed once.
        d.crash(&mut rng);
        assert_eq!(d.contents("dump.rdb"), Some(&got[..]));
        let read = DiskOp::Read {
            path: "dump.rdb".into(),
            offset: 0,
            len: 4,
        };
        ok(&mut d, read);
        assert_eq!(d.take_rotten_reads(), vec!["dump.rdb".to_string()]);
        assert!(d.take_rotten_reads().is_empty());
        // A file rewritten from scratch is healthy again.
        ok(
            &mut d,
            DiskOp::Open {
                path: "dump.rdb".into(),
                create: false,
                truncate: true,
            },
        );
        assert!(d.rotten_files().is_empty());
    }

    #[test]
    fn each_directory_is_made_durable_by_its_own_fsync() {
        let mut d = disk();
        ok(&mut d, open("appendonlydir/a.manifest"));
        ok(&mut d, open("temp-1.aof"));
        ok(&mut d, fsync("appendonlydir"));
        // The subdirectory's name is durable, the top directory's is not (yet).
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut kept = BTreeSet::new();
        for seed in 0..16 {
            let mut d2 = disk();
            ok(&mut d2, open("appendonlydir/a.manifest"));
            ok(&mut d2, open("temp-1.aof"));
            ok(&mut d2, fsync("appendonlydir"));
            d2.crash(&mut ChaCha8Rng::seed_from_u64(seed));
            assert!(d2.contents("appendonlydir/a.manifest").is_some());
            kept.insert(d2.contents("temp-1.aof").is_some());
        }
        assert_eq!(
            kept.len(),
            2,
            "the unsynced top-level create may or may not survive"
        );
        ok(&mut d, fsync(DIR));
        d.crash(&mut rng);
        assert_eq!(d.files().count(), 2);
        // A missing file's fsync is still NotFound.
        assert_eq!(
            d.execute(fsync("nope")),
            DiskResult::Failed(DiskError::NotFound)
        );
    }
}
