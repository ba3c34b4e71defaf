//! The disk thread: runs the node's `DiskOp`s one at a time, in the order they were
//! submitted, on files under the node's `dir`, and hands back exactly one completion
//! per operation through a channel, waking the event loop with a `mio::Waker`.
//!
//! It owns the open files (by path) and nothing else; it never touches a path outside
//! `dir` (an absolute path or one with `..` is refused), never panics on what the node
//! asks, and never reorders, merges or drops an operation.

use std::cell::Cell;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use keel_core::io::{DiskError, DiskOp, DiskResult, IoId};

/// The answer to one submitted operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub io: IoId,
    pub result: DiskResult,
    /// How long the operation's system calls took on the disk thread (not its wait
    /// in the queue): the latency monitor's `aof-fsync-always`, `aof-write` ...
    pub elapsed_us: u64,
}

struct Job {
    io: IoId,
    op: DiskOp,
}

/// Maps an OS error to what the node is told.
fn disk_error(e: &io::Error) -> DiskError {
    match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => DiskError::NoSpace,
        Some(libc::ENOENT) => DiskError::NotFound,
        Some(libc::ENOTDIR) => DiskError::NotADirectory,
        Some(libc::EACCES) | Some(libc::EPERM) => DiskError::PermissionDenied,
        _ if e.kind() == io::ErrorKind::NotFound => DiskError::NotFound,
        _ => DiskError::Io,
    }
}

/// `path` as a path under `dir`, or None when it would leave it (absolute, `..`) or
/// names nothing. "." is `dir` itself (for fsyncing it after a rename).
fn confine(path: &str) -> Option<PathBuf> {
    if path.is_empty() {
        return None;
    }
    let mut relative = PathBuf::new();
    for part in Path::new(path).components() {
        match part {
            Component::Normal(name) => relative.push(name),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(relative)
}

/// The files the node opened, keyed by their confined path, and the directory they
/// are relative to. Executes operations synchronously; the thread around it is
/// [`DiskWorker`].
pub struct DiskFiles {
    dir: PathBuf,
    open: HashMap<PathBuf, File>,
    /// The one absolute path allowed outside `dir`: the config file the server was
    /// started with (CONFIG REWRITE, SIGHUP reload), with its temporary siblings
    /// (`<file>.tmp-*`) for an atomic replace.
    config_file: Option<PathBuf>,
}

impl DiskFiles {
    pub fn new(dir: PathBuf) -> DiskFiles {
        DiskFiles {
            dir,
            open: HashMap::new(),
            config_file: None,
        }
    }

    /// Also allows the absolute `config_file` path (and `<config_file>.tmp-*`).
    pub fn allow_config_file(&mut self, config_file: PathBuf) {
        self.config_file = Some(config_file);
    }

    /// CONFIG SET dir: what chdir(2) would refuse is refused with its error; then
    /// `dir` is the new directory, made absolute (what Redis's getcwd shows). The
    /// process itself does not chdir: nothing else in keel-net resolves relative
    /// paths after startup, and tests run this in-process.
    fn change_dir(&mut self, path: &str) -> Result<Vec<u8>, Refusal> {
        let os = |e: io::Error| Refusal::Os(path.to_string(), e);
        if path.is_empty() || path.contains('\0') {
            return Err(os(io::Error::from_raw_os_error(libc::ENOENT)));
        }
        let target = self.dir.join(path);
        let meta = std::fs::metadata(&target).map_err(os)?;
        if !meta.is_dir() {
            return Err(os(io::Error::from_raw_os_error(libc::ENOTDIR)));
        }
        // chdir needs search permission on the directory.
        let c_path = std::ffi::CString::new(target.as_os_str().as_encoded_bytes())
            .map_err(|_| os(io::Error::from_raw_os_error(libc::ENOENT)))?;
        // SAFETY: access(2) reads the NUL-terminated string we own.
        if unsafe { libc::access(c_path.as_ptr(), libc::X_OK) } != 0 {
            return Err(os(io::Error::last_os_error()));
        }
        let absolute = std::fs::canonicalize(&target).map_err(os)?;
        let bytes = absolute.as_os_str().as_encoded_bytes().to_vec();
        self.dir = absolute;
        Ok(bytes)
    }

    /// Whether `path` is the directory holding the config file.
    fn is_config_dir(&self, path: &str) -> bool {
        self.config_file
            .as_deref()
            .and_then(Path::parent)
            .is_some_and(|parent| parent.is_absolute() && parent == Path::new(path))
    }

    /// The key (and, joined to `dir`, the path) an operation's path names: a path
    /// under `dir`, or the config file or one of its temporary siblings.
    fn resolve(&self, path: &str) -> Option<PathBuf> {
        if let Some(config_file) = &self.config_file {
            let as_path = Path::new(path);
            let sibling = config_file
                .to_str()
                .is_some_and(|c| path.starts_with(&format!("{c}.tmp-")) && !path.contains("/../"));
            if as_path == config_file.as_path() || sibling {
                return Some(as_path.to_path_buf());
            }
        }
        confine(path)
    }

    /// Runs one operation to its end.
    pub fn execute(&mut self, op: &DiskOp) -> DiskResult {
        match self.try_execute(op) {
            Ok(read) => DiskResult::Done { read },
            Err(Refusal::Escapes(path)) => {
                tracing::warn!(
                    "Refusing disk operation on '{path}': the path leaves the data directory"
                );
                DiskResult::Failed(DiskError::Io)
            }
            Err(Refusal::NotOpen(path)) => {
                tracing::warn!("Disk operation on '{path}', which is not open");
                DiskResult::Failed(DiskError::Io)
            }
            Err(Refusal::Os(path, e)) => {
                let error = disk_error(&e);
                // A missing file is an answer the node asks for (does the AOF exist?),
                // not something to shout about.
                if error != DiskError::NotFound {
                    tracing::warn!("Disk operation on '{path}' failed: {e}");
                }
                DiskResult::Failed(error)
            }
        }
    }

    fn try_execute(&mut self, op: &DiskOp) -> Result<Vec<u8>, Refusal> {
        let path = op.path();
        if let DiskOp::ChangeDir { path } = op {
            return self.change_dir(path);
        }
        // CONFIG REWRITE fsyncs the config file's directory after its rename (Redis's
        // `fsyncFileDir`); that directory may be outside `dir`, and only an fsync of it
        // is allowed.
        if let DiskOp::Fsync { path } = op {
            if self.is_config_dir(path) {
                File::open(path)
                    .and_then(|f| f.sync_all())
                    .map_err(|e| Refusal::Os(path.clone(), e))?;
                return Ok(Vec::new());
            }
        }
        let key = self
            .resolve(path)
            .ok_or_else(|| Refusal::Escapes(path.to_string()))?;
        let full = self.dir.join(&key);
        let os = |e: io::Error| Refusal::Os(path.to_string(), e);
        match op {
            DiskOp::Open {
                create, truncate, ..
            } => {
                // A file in a directory that does not exist yet (the AOF's
                // `appenddirname`): made, as Redis's dirCreateIfMissing does.
                if *create {
                    if let Some(parent) = full.parent().filter(|p| !p.as_os_str().is_empty()) {
                        std::fs::create_dir_all(parent).map_err(os)?;
                    }
                }
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create(*create)
                    .truncate(*truncate)
                    .open(&full)
                    .map_err(os)?;
                self.open.insert(key, file);
            }
            DiskOp::Append { bytes, .. } => {
                let file = self.open_file(&key, path)?;
                // Not O_APPEND: Linux's pwrite ignores the offset on O_APPEND files,
                // which would break WriteAt on the same file.
                file.seek(SeekFrom::End(0)).map_err(os)?;
                file.write_all(bytes).map_err(os)?;
            }
            DiskOp::WriteAt { offset, bytes, .. } => {
                let file = self.open_file(&key, path)?;
                file.write_all_at(bytes, *offset).map_err(os)?;
            }
            DiskOp::Fsync { .. } => match self.open.get(&key) {
                // fdatasync for an open file, as Redis's redis_fsync on Linux: the data
                // and the size that finds it, not the timestamps.
                Some(file) => file.sync_data().map_err(os)?,
                // A directory (after a rename) or a file not open: open it read-only
                // and fsync it whole.
                None => File::open(&full).and_then(|f| f.sync_all()).map_err(os)?,
            },
            DiskOp::Rename { to, .. } => {
                let to_key = self
                    .resolve(to)
                    .ok_or_else(|| Refusal::Escapes(to.clone()))?;
                std::fs::rename(&full, self.dir.join(&to_key)).map_err(os)?;
                // An open descriptor follows its file; the one `to` named is gone
                // (unless it is the same file: renaming onto itself changes nothing).
                if to_key != key {
                    self.open.remove(&to_key);
                    if let Some(file) = self.open.remove(&key) {
                        self.open.insert(to_key, file);
                    }
                }
            }
            DiskOp::Truncate { len, .. } => match self.open.get(&key) {
                Some(file) => file.set_len(*len).map_err(os)?,
                None => OpenOptions::new()
                    .write(true)
                    .open(&full)
                    .and_then(|f| f.set_len(*len))
                    .map_err(os)?,
            },
            DiskOp::Remove { .. } => {
                std::fs::remove_file(&full).map_err(os)?;
                self.open.remove(&key);
            }
            DiskOp::Read { offset, len, .. } => {
                return match self.open.get(&key) {
                    Some(file) => read_at(file, *offset, *len).map_err(os),
                    None => File::open(&full)
                        .and_then(|f| read_at(&f, *offset, *len))
                        .map_err(os),
                };
            }
            // Closing what is not open leaves it as asked: not open.
            DiskOp::Close { .. } => drop(self.open.remove(&key)),
            // Handled before the path is confined (`change_dir`).
            DiskOp::ChangeDir { .. } => {}
        }
        Ok(Vec::new())
    }

    fn open_file(&mut self, key: &Path, path: &str) -> Result<&mut File, Refusal> {
        self.open
            .get_mut(key)
            .ok_or_else(|| Refusal::NotOpen(path.to_string()))
    }

    /// How many files are open.
    pub fn open_count(&self) -> usize {
        self.open.len()
    }
}

enum Refusal {
    Escapes(String),
    NotOpen(String),
    Os(String, io::Error),
}

/// Reads up to `len` bytes from `offset`; fewer at the end of the file. The buffer is
/// sized by what the file holds, not by `len`, so a huge `len` allocates nothing extra.
fn read_at(file: &File, offset: u64, len: u64) -> io::Result<Vec<u8>> {
    let available = file.metadata()?.len().saturating_sub(offset);
    let want = usize::try_from(len.min(available)).unwrap_or(usize::MAX);
    let mut buf = vec![0u8; want];
    let mut filled = 0usize;
    while filled < want {
        let Some(rest) = buf.get_mut(filled..) else {
            break;
        };
        match file.read_at(rest, offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// The disk thread and its two channels. Dropping it (or [`DiskWorker::finish`])
/// lets the thread run what was submitted and exit.
///
/// An append submitted while the thread has nothing to do runs on the caller's
/// thread instead ([`DiskWorker::run_inline`]): a `write(2)` into the page cache, as
/// Redis writes its AOF from the main thread, without two thread handoffs per
/// append. Everything else (fsyncs above all), and an append queued behind other
/// work, runs on the disk thread, in order.
/// The largest append run inline: an AOF group commit's few kilobytes, not a
/// snapshot's 512 KB chunks (those go to the thread, as everything big does).
pub const INLINE_APPEND_MAX: usize = 64 << 10;

pub struct DiskWorker {
    jobs: Option<mpsc::Sender<Job>>,
    completions: mpsc::Receiver<Completion>,
    /// The open files, used by the thread and by inline appends (never both at
    /// once: inline only while the thread has nothing).
    files: Arc<Mutex<DiskFiles>>,
    /// Operations handed to the thread whose completions were not drained yet.
    outstanding: Cell<usize>,
    /// Set by the thread when it wakes the loop, cleared by the loop before draining:
    /// a burst of completions costs one wakeup, and no wakeup comes without one.
    wake_pending: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DiskWorker {
    /// Starts the thread over `dir`; `waker` is woken when completions wait.
    pub fn start(dir: PathBuf, waker: mio::Waker) -> io::Result<DiskWorker> {
        DiskWorker::start_with_config_file(dir, None, waker)
    }

    /// `start`, also allowing the absolute path of the config file (see
    /// [`DiskFiles::allow_config_file`]).
    pub fn start_with_config_file(
        dir: PathBuf,
        config_file: Option<PathBuf>,
        waker: mio::Waker,
    ) -> io::Result<DiskWorker> {
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel::<Completion>();
        let wake_pending = Arc::new(AtomicBool::new(false));
        let thread_wake_pending = Arc::clone(&wake_pending);
        let mut files = DiskFiles::new(dir);
        if let Some(config_file) = config_file {
            files.allow_config_file(config_file);
        }
        let files = Arc::new(Mutex::new(files));
        let thread_files = Arc::clone(&files);
        let thread = std::thread::Builder::new()
            .name("disk".into())
            .spawn(move || {
                while let Ok(job) = job_rx.recv() {
                    let started = std::time::Instant::now();
                    // Released before the completion is sent: once the loop has
                    // drained every completion, the files are free for it.
                    let result = match thread_files.lock() {
                        Ok(mut files) => files.execute(&job.op),
                        Err(_) => DiskResult::Failed(DiskError::Io),
                    };
                    let elapsed_us = started.elapsed().as_micros() as u64;
                    let completion = Completion {
                        io: job.io,
                        result,
                        elapsed_us,
                    };
                    if done_tx.send(completion).is_err() {
                        // The loop is gone; keep running what was submitted (a final
                        // fsync must still happen) without anyone to tell.
                        continue;
                    }
                    if !thread_wake_pending.swap(true, Ordering::AcqRel) {
                        if let Err(e) = waker.wake() {
                            tracing::warn!("disk thread could not wake the event loop: {e}");
                        }
                    }
                }
            })?;
        Ok(DiskWorker {
            jobs: Some(job_tx),
            completions: done_rx,
            files,
            outstanding: Cell::new(0),
            wake_pending,
            thread: Some(thread),
        })
    }

    /// Queues an operation; Err gives it back when the thread is gone.
    pub fn submit(&self, io: IoId, op: DiskOp) -> Result<(), (IoId, DiskOp)> {
        let Some(jobs) = &self.jobs else {
            return Err((io, op));
        };
        jobs.send(Job { io, op })
            .map_err(|mpsc::SendError(job)| (job.io, job.op))?;
        self.outstanding
            .set(self.outstanding.get().saturating_add(1));
        Ok(())
    }

    /// Runs a small append here and now when the thread has nothing outstanding (so
    /// nothing submitted before it is still waiting: order is kept), giving its
    /// completion; any other case gives the operation back, for `submit`.
    pub fn run_inline(&self, io: IoId, op: DiskOp) -> Result<Completion, (IoId, DiskOp)> {
        let small_append =
            matches!(&op, DiskOp::Append { bytes, .. } if bytes.len() <= INLINE_APPEND_MAX);
        if !small_append || self.outstanding.get() != 0 {
            return Err((io, op));
        }
        let Ok(mut files) = self.files.try_lock() else {
            return Err((io, op));
        };
        let started = std::time::Instant::now();
        let result = files.execute(&op);
        Ok(Completion {
            io,
            result,
            elapsed_us: started.elapsed().as_micros() as u64,
        })
    }

    /// Takes the completions that are ready. Call on every wakeup of the waker's token.
    pub fn drain(&self, into: &mut Vec<Completion>) {
        // Clear first (acquiring the thread's writes): a completion sent after this
        // sets the flag again and wakes the loop again.
        self.wake_pending.swap(false, Ordering::AcqRel);
        while let Ok(completion) = self.completions.try_recv() {
            into.push(completion);
            self.outstanding
                .set(self.outstanding.get().saturating_sub(1));
        }
    }

    /// Lets the thread run everything submitted, then waits for it to exit.
    pub fn finish(&mut self) {
        self.jobs = None;
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                tracing::warn!("the disk thread panicked");
            }
        }
    }
}

impl Drop for DiskWorker {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mio::{Events, Poll, Token};
    use std::time::Duration;

    use crate::tests::TempDir;

    const WAKE: Token = Token(7);

    fn done() -> DiskResult {
        DiskResult::Done { read: Vec::new() }
    }

    fn open(path: &str, create: bool, truncate: bool) -> DiskOp {
        DiskOp::Open {
            path: path.into(),
            create,
            truncate,
        }
    }

    fn append(path: &str, bytes: &[u8]) -> DiskOp {
        DiskOp::Append {
            path: path.into(),
            bytes: bytes.to_vec(),
        }
    }

    fn read(path: &str, offset: u64, len: u64) -> DiskOp {
        DiskOp::Read {
            path: path.into(),
            offset,
            len,
        }
    }

    #[test]
    fn every_operation_on_real_files() {
        let tmp = TempDir::new("ops");
        let mut files = DiskFiles::new(tmp.0.clone());
        assert_eq!(files.execute(&open("a.aof", true, false)), done());
        assert_eq!(files.execute(&append("a.aof", b"hello ")), done());
        assert_eq!(files.execute(&append("a.aof", b"world")), done());
        assert_eq!(
            files.execute(&DiskOp::WriteAt {
                path: "a.aof".into(),
                offset: 0,
                bytes: b"J".to_vec(),
            }),
            done()
        );
        // An append after a positioned write still goes to the end.
        assert_eq!(files.execute(&append("a.aof", b"!")), done());
        assert_eq!(
            files.execute(&DiskOp::Fsync {
                path: "a.aof".into()
            }),
            done()
        );
        assert_eq!(
            std::fs::read(tmp.0.join("a.aof")).expect("read back"),
            b"Jello world!"
        );
        assert_eq!(
            files.execute(&read("a.aof", 6, 5)),
            DiskResult::Done {
                read: b"world".to_vec()
            }
        );
        // Past the end: what is there, then nothing; a huge len allocates only that.
        assert_eq!(
            files.execute(&read("a.aof", 10, u64::MAX)),
            DiskResult::Done {
                read: b"d!".to_vec()
            }
        );
        assert_eq!(
            files.execute(&read("a.aof", 100, 10)),
            DiskResult::Done { read: Vec::new() }
        );
        assert_eq!(
            files.execute(&DiskOp::Truncate {
                path: "a.aof".into(),
                len: 5
            }),
            done()
        );
        assert_eq!(
            std::fs::read(tmp.0.join("a.aof")).expect("read back"),
            b"Jello"
        );
        // Rename keeps the open descriptor on the renamed file.
        assert_eq!(
            files.execute(&DiskOp::Rename {
                from: "a.aof".into(),
                to: "b.aof".into()
            }),
            done()
        );
        assert!(!tmp.0.join("a.aof").exists());
        assert_eq!(
            files.execute(&DiskOp::Rename {
                from: "b.aof".into(),
                to: "./b.aof".into()
            }),
            done(),
            "onto itself"
        );
        assert_eq!(files.execute(&append("b.aof", b"+")), done());
        assert_eq!(
            std::fs::read(tmp.0.join("b.aof")).expect("read back"),
            b"Jello+"
        );
        assert_eq!(
            files.execute(&DiskOp::Fsync { path: ".".into() }),
            done(),
            "fsync of the directory itself"
        );
        assert_eq!(
            files.execute(&DiskOp::Close {
                path: "b.aof".into()
            }),
            done()
        );
        assert_eq!(files.open_count(), 0);
        // A closed file is still readable and truncatable by path, not appendable.
        assert_eq!(
            files.execute(&read("b.aof", 0, 2)),
            DiskResult::Done {
                read: b"Je".to_vec()
            }
        );
        assert_eq!(
            files.execute(&append("b.aof", b"x")),
            DiskResult::Failed(DiskError::Io)
        );
        assert_eq!(
            files.execute(&DiskOp::Truncate {
                path: "b.aof".into(),
                len: 0
            }),
            done()
        );
        assert_eq!(std::fs::read(tmp.0.join("b.aof")).expect("read back"), b"");
        // Open with truncate empties; without create a missing file is NotFound.
        std::fs::write(tmp.0.join("c"), b"old").expect("write c");
        assert_eq!(files.execute(&open("c", false, true)), done());
        assert_eq!(std::fs::read(tmp.0.join("c")).expect("read c"), b"");
        assert_eq!(
            files.execute(&open("missing", false, false)),
            DiskResult::Failed(DiskError::NotFound)
        );
        assert_eq!(files.execute(&DiskOp::Remove { path: "c".into() }), done());
        assert!(!tmp.0.join("c").exists());
        assert_eq!(files.open_count(), 0, "removing forgets the open file");
        assert_eq!(
            files.execute(&DiskOp::Remove { path: "c".into() }),
            DiskResult::Failed(DiskError::NotFound)
        );
        assert_eq!(
            files.execute(&read("c", 0, 1)),
            DiskResult::Failed(DiskError::NotFound)
        );
        assert_eq!(
            files.execute(&DiskOp::Fsync {
                path: "nothing".into()
            }),
            DiskResult::Failed(DiskError::NotFound)
        );
    }

    #[test]
    fn a_full_disk_is_no_space() {
        // /dev/full answers every write with ENOSPC; a link to it inside dir is a
        // disk that is full.
        let tmp = TempDir::new("full");
        std::os::unix::fs::symlink("/dev/full", tmp.0.join("full")).expect("symlink");
        let mut files = DiskFiles::new(tmp.0.clone());
        assert_eq!(files.execute(&open("full", false, false)), done());
        assert_eq!(
            files.execute(&append("full", b"x")),
            DiskResult::Failed(DiskError::NoSpace)
        );
        let error = |code| disk_error(&io::Error::from_raw_os_error(code));
        assert_eq!(error(libc::EDQUOT), DiskError::NoSpace);
        assert_eq!(error(libc::ENOENT), DiskError::NotFound);
        assert_eq!(error(libc::EIO), DiskError::Io);
        assert_eq!(error(libc::EACCES), DiskError::PermissionDenied);
        assert_eq!(error(libc::ENOTDIR), DiskError::NotADirectory);
        assert_eq!(error(libc::EROFS), DiskError::Io);
    }

    #[test]
    fn subdirectories_work_and_escaping_paths_are_refused() {
        let tmp = TempDir::new("escape");
        let inside = tmp.0.join("inside");
        std::fs::create_dir_all(inside.join("appendonlydir")).expect("mkdir");
        let mut files = DiskFiles::new(inside.clone());
        assert_eq!(
            files.execute(&open("./appendonlydir/x.aof", true, false)),
            done()
        );
        assert_eq!(
            files.execute(&DiskOp::Fsync {
                path: "appendonlydir".into()
            }),
            done()
        );
        assert!(inside.join("appendonlydir/x.aof").exists());
        let outside = tmp.0.join("outside");
        let escape_attempts = [
            open("../outside", true, false),
            open(&outside.display().to_string(), true, false),
            open("appendonlydir/../../outside", true, false),
            open("", true, false),
            DiskOp::Rename {
                from: "appendonlydir/x.aof".into(),
                to: "../outside".into(),
            },
            DiskOp::Remove {
                path: "/etc/hostname".into(),
            },
        ];
        for op in escape_attempts {
            assert_eq!(
                files.execute(&op),
                DiskResult::Failed(DiskError::Io),
                "{op:?}"
            );
        }
        assert!(!outside.exists(), "nothing was created outside dir");
        assert!(inside.join("appendonlydir/x.aof").exists(), "nor moved out");
    }

    #[test]
    fn change_dir_moves_later_operations_and_refuses_as_chdir() {
        let tmp = TempDir::new("chdir");
        std::fs::create_dir_all(tmp.0.join("a/b")).expect("mkdir");
        std::fs::write(tmp.0.join("f"), b"x").expect("write f");
        let mut files = DiskFiles::new(tmp.0.clone());
        let cd = |p: &str| DiskOp::ChangeDir { path: p.into() };
        assert_eq!(
            files.execute(&cd("missing")),
            DiskResult::Failed(DiskError::NotFound)
        );
        assert_eq!(
            files.execute(&cd("f")),
            DiskResult::Failed(DiskError::NotADirectory)
        );
        assert_eq!(
            files.execute(&cd("")),
            DiskResult::Failed(DiskError::NotFound)
        );
        // Relative to the directory now, answered absolute.
        let expected = std::fs::canonicalize(tmp.0.join("a")).expect("canonical");
        assert_eq!(
            files.execute(&cd("a")),
            DiskResult::Done {
                read: expected.as_os_str().as_encoded_bytes().to_vec()
            }
        );
        assert_eq!(files.execute(&cd("b/..")), files.execute(&cd(".")));
        assert_eq!(files.execute(&open("dump.rdb", true, false)), done());
        assert!(tmp.0.join("a/dump.rdb").exists());
        assert!(!tmp.0.join("dump.rdb").exists());
        // Absolute paths too.
        let abs = tmp.0.join("a/b").display().to_string();
        assert!(matches!(files.execute(&cd(&abs)), DiskResult::Done { .. }));
        assert_eq!(files.execute(&open("x", true, false)), done());
        assert!(tmp.0.join("a/b/x").exists());
    }

    #[test]
    fn the_config_files_directory_may_be_fsynced_and_nothing_else_outside() {
        let tmp = TempDir::new("confdir");
        let data = tmp.0.join("data");
        let conf_dir = tmp.0.join("etc");
        std::fs::create_dir_all(&data).expect("mkdir data");
        std::fs::create_dir_all(&conf_dir).expect("mkdir etc");
        let mut files = DiskFiles::new(data);
        let fsync = |p: &Path| DiskOp::Fsync {
            path: p.display().to_string(),
        };
        assert_eq!(
            files.execute(&fsync(&conf_dir)),
            DiskResult::Failed(DiskError::Io),
            "not allowed before the config file is known"
        );
        files.allow_config_file(conf_dir.join("keel.conf"));
        assert_eq!(files.execute(&fsync(&conf_dir)), done());
        assert_eq!(
            files.execute(&fsync(&tmp.0)),
            DiskResult::Failed(DiskError::Io),
            "only the config file's own directory"
        );
        assert_eq!(
            files.execute(&DiskOp::Remove {
                path: conf_dir.display().to_string()
            }),
            DiskResult::Failed(DiskError::Io),
            "and only to fsync it"
        );
        assert!(conf_dir.exists());
    }

    /// Drives a worker the way the event loop does: poll, drain on the waker's token.
    fn collect(poll: &mut Poll, worker: &DiskWorker, count: usize) -> (Vec<Completion>, usize) {
        let mut events = Events::with_capacity(8);
        let mut completions = Vec::new();
        let mut wakeups = 0;
        // A bound, not a timing assertion: a worker that never answers fails here
        // instead of hanging the test run.
        for _ in 0..1000 {
            if completions.len() >= count {
                break;
            }
            poll.poll(&mut events, Some(Duration::from_millis(100)))
                .expect("poll");
            for event in events.iter() {
                assert_eq!(event.token(), WAKE);
                wakeups += 1;
                worker.drain(&mut completions);
            }
        }
        (completions, wakeups)
    }

    #[test]
    fn worker_answers_each_operation_once_in_order_and_sleeps_when_idle() {
        let tmp = TempDir::new("worker");
        let mut poll = Poll::new().expect("poll");
        let waker = mio::Waker::new(poll.registry(), WAKE).expect("waker");
        let worker = DiskWorker::start(tmp.0.clone(), waker).expect("start");
        let mut ops = vec![open("log", true, true)];
        for i in 0..200u32 {
            ops.push(append("log", format!("{i},").as_bytes()));
        }
        ops.push(DiskOp::Fsync { path: "log".into() });
        ops.push(DiskOp::Remove {
            path: "absent".into(),
        });
        ops.push(read("log", 0, 4));
        let count = ops.len();
        for (i, op) in ops.into_iter().enumerate() {
            worker.submit(IoId(1000 + i as u64), op).expect("submit");
        }
        let (completions, wakeups) = collect(&mut poll, &worker, count);
        let ids: Vec<u64> = completions.iter().map(|c| c.io.0).collect();
        let expected: Vec<u64> = (0..count as u64).map(|i| 1000 + i).collect();
        assert_eq!(ids, expected, "one completion per op, in submission order");
        assert!(wakeups >= 1 && wakeups <= count, "wakeups: {wakeups}");
        let last = completions.len() - 1;
        assert_eq!(
            completions[last - 1].result,
            DiskResult::Failed(DiskError::NotFound)
        );
        assert_eq!(
            completions[last].result,
            DiskResult::Done {
                read: b"0,1,".to_vec()
            }
        );
        let expected_text: String = (0..200u32).map(|i| format!("{i},")).collect();
        assert_eq!(
            std::fs::read(tmp.0.join("log")).expect("read log"),
            expected_text.as_bytes(),
            "appends landed in order"
        );
        // Idle: the waker stays quiet (no busy loop), and nothing more comes. The
        // wake for the last completion may still be pending if `collect` drained the
        // completion before polling its wake: take that one first.
        let mut events = Events::with_capacity(8);
        poll.poll(&mut events, Some(Duration::ZERO)).expect("poll");
        poll.poll(&mut events, Some(Duration::from_millis(50)))
            .expect("poll");
        assert!(events.is_empty(), "a wakeup with no completion");
        let mut more = Vec::new();
        worker.drain(&mut more);
        assert!(more.is_empty());
    }

    #[test]
    fn an_append_runs_inline_only_when_the_thread_has_nothing_outstanding() {
        let tmp = TempDir::new("inline");
        let mut poll = Poll::new().expect("poll");
        let waker = mio::Waker::new(poll.registry(), WAKE).expect("waker");
        let worker = DiskWorker::start(tmp.0.clone(), waker).expect("start");
        // Only appends run inline, never an open or an fsync.
        let refused = worker.run_inline(IoId(1), open("f", true, false));
        assert!(matches!(refused, Err((IoId(1), DiskOp::Open { .. }))));
        worker
            .submit(IoId(1), open("f", true, false))
            .expect("submit");
        // The open is outstanding until its completion is drained: an append now
        // must queue behind it (it would find no open file, or reorder).
        let queued = worker.run_inline(IoId(2), append("f", b"a"));
        let Err((io, op)) = queued else {
            panic!("ran inline while the thread had work");
        };
        worker.submit(io, op).expect("submit");
        let (done_ops, _) = collect(&mut poll, &worker, 2);
        assert_eq!(done_ops.len(), 2);
        // Idle now: the append runs here and answers at once.
        let inline = worker
            .run_inline(IoId(3), append("f", b"b"))
            .expect("runs inline when idle");
        assert_eq!((inline.io, inline.result), (IoId(3), done()));
        let big = vec![b'x'; INLINE_APPEND_MAX + 1];
        let refused = worker.run_inline(IoId(5), append("f", &big));
        assert!(
            matches!(refused, Err((IoId(5), _))),
            "a big append goes to the thread"
        );
        let fsync = worker.run_inline(IoId(4), DiskOp::Fsync { path: "f".into() });
        let Err((io, op)) = fsync else {
            panic!("an fsync ran on the caller's thread");
        };
        worker.submit(io, op).expect("submit");
        let (synced, _) = collect(&mut poll, &worker, 1);
        assert_eq!(synced[0].io, IoId(4));
        assert_eq!(std::fs::read(tmp.0.join("f")).expect("read f"), b"ab");
    }

    #[test]
    fn finishing_runs_what_was_submitted() {
        let tmp = TempDir::new("finish");
        let poll = Poll::new().expect("poll");
        let waker = mio::Waker::new(poll.registry(), WAKE).expect("waker");
        let mut worker = DiskWorker::start(tmp.0.clone(), waker).expect("start");
        worker
            .submit(IoId(1), open("f", true, false))
            .expect("submit");
        worker
            .submit(IoId(2), append("f", b"last words"))
            .expect("submit");
        worker
            .submit(IoId(3), DiskOp::Fsync { path: "f".into() })
            .expect("submit");
        worker.finish();
        assert_eq!(
            std::fs::read(tmp.0.join("f")).expect("read f"),
            b"last words"
        );
        let mut completions = Vec::new();
        worker.drain(&mut completions);
        assert_eq!(completions.len(), 3);
        assert!(
            worker
                .submit(IoId(4), DiskOp::Fsync { path: "f".into() })
                .is_err(),
            "a finished worker gives operations back"
        );
    }
}
