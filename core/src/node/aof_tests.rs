//! The AOF through the node, over an in-memory disk whose completions the test holds
//! or fails: boot and first files, group commit, replies held under `always`,
//! failures, restart from the files, truncated and corrupt files, rewrites.

use std::collections::{BTreeMap, VecDeque};

use crate::digest::{dataset_digest, hex};
use crate::io::{DiskError, DiskOp, DiskResult, Effect, Input, IoId};
use crate::testkit::Kit;

/// Files as bytes, with the length each had at its last fsync.
#[derive(Default, Clone)]
pub(crate) struct MemDisk {
    pub files: BTreeMap<String, Vec<u8>>,
    pub synced: BTreeMap<String, usize>,
}

impl MemDisk {
    pub fn run(&mut self, op: &DiskOp) -> DiskResult {
        let done = |read| DiskResult::Done { read };
        match op {
            DiskOp::Open {
                path,
                create,
                truncate,
            } => {
                match self.files.get_mut(path) {
                    Some(f) if *truncate => f.clear(),
                    Some(_) => {}
                    None if *create => {
                        self.files.insert(path.clone(), Vec::new());
                    }
                    None => return DiskResult::Failed(DiskError::NotFound),
                }
                done(Vec::new())
            }
            DiskOp::Append { path, bytes } => match self.files.get_mut(path) {
                Some(f) => {
                    f.extend_from_slice(bytes);
                    done(Vec::new())
                }
                None => DiskResult::Failed(DiskError::Io),
            },
            DiskOp::WriteAt { .. } => DiskResult::Failed(DiskError::Io),
            DiskOp::Fsync { path } => {
                if let Some(f) = self.files.get(path) {
                    self.synced.insert(path.clone(), f.len());
                }
                done(Vec::new())
            }
            DiskOp::Rename { from, to } => match self.files.remove(from) {
                Some(f) => {
                    let synced = self.synced.remove(from).unwrap_or(0);
                    self.synced.insert(to.clone(), synced);
                    self.files.insert(to.clone(), f);
                    done(Vec::new())
                }
                None => DiskResult::Failed(DiskError::NotFound),
            },
            DiskOp::Truncate { path, len } => match self.files.get_mut(path) {
                Some(f) => {
                    f.truncate(*len as usize);
                    done(Vec::new())
                }
                None => DiskResult::Failed(DiskError::NotFound),
            },
            DiskOp::Remove { path } => match self.files.remove(path) {
                Some(_) => done(Vec::new()),
                None => DiskResult::Failed(DiskError::NotFound),
            },
            DiskOp::Read { path, offset, len } => match self.files.get(path) {
                Some(f) => {
                    let start = (*offset as usize).min(f.len());
                    let end = start.saturating_add(*len as usize).min(f.len());
                    done(f[start..end].to_vec())
                }
                None => DiskResult::Failed(DiskError::NotFound),
            },
            DiskOp::Close { .. } => done(Vec::new()),
            DiskOp::ChangeDir { path } => done(path.clone().into_bytes()),
        }
    }

    /// A power cut: every file keeps what was synced.
    pub fn crash(&mut self) {
        for (path, f) in self.files.iter_mut() {
            f.truncate(self.synced.get(path).copied().unwrap_or(0));
        }
    }

    pub fn text(&self, path: &str) -> String {
        String::from_utf8_lossy(
            self.files
                .get(path)
                .map(|v| v.as_slice())
                .unwrap_or_default(),
        )
        .into_owned()
    }
}

/// Which operation to fail next, and how.
pub(crate) type FailNext = (fn(&DiskOp) -> bool, DiskError);

pub(crate) struct Rig {
    pub kit: Kit,
    pub disk: MemDisk,
    /// Hold disk operations instead of running them.
    pub hold: bool,
    pub queue: VecDeque<(IoId, DiskOp)>,
    pub logs: Vec<String>,
    pub shutdowns: Vec<i32>,
    /// Fail the next operation of this kind (matched by a closure on the op).
    pub fail: Option<FailNext>,
    /// Fail every operation of this kind until cleared.
    pub fail_all: Option<FailNext>,
}

impl Rig {
    pub fn new(config: &str, disk: MemDisk) -> Rig {
        let mut rig = Rig {
            kit: Kit::new(config),
            disk,
            hold: false,
            queue: VecDeque::new(),
            logs: Vec::new(),
            shutdowns: Vec::new(),
            fail: None,
            fail_all: None,
        };
        rig.kit.input(0, Input::Tick);
        rig.settle();
        rig
    }

    pub fn settle(&mut self) {
        loop {
            self.kit.drive();
            let effects = std::mem::take(&mut self.kit.effects);
            let mut ran = false;
            for (_, e) in effects {
                match e {
                    Effect::Disk { io, op } => {
                        if self.hold {
                            self.queue.push_back((io, op));
                        } else {
                            self.complete(io, op);
                            ran = true;
                        }
                    }
                    Effect::Log { message, .. } => self.logs.push(message),
                    Effect::Shutdown { exit_code } => self.shutdowns.push(exit_code),
                    _ => {}
                }
            }
            if !ran {
                return;
            }
        }
    }

    pub fn complete(&mut self, io: IoId, op: DiskOp) {
        let result = match self.fail {
            Some((matches, e)) if matches(&op) => {
                self.fail = None;
                DiskResult::Failed(e)
            }
            _ => match self.fail_all {
                Some((matches, e)) if matches(&op) => DiskResult::Failed(e),
                _ => self.disk.run(&op),
            },
        };
        let now = self.kit.now;
        self.kit.nodes[0].handle(
            now,
            Input::Disk {
                io,
                result,
                elapsed_us: 0,
            },
        );
    }

    /// Runs the held operations (and whatever they lead to) while holding new ones.
    pub fn release(&mut self) {
        while let Some((io, op)) = self.queue.pop_front() {
            self.complete(io, op);
        }
        self.settle();
    }

    pub fn cmd(&mut self, conn: u64, line: &str) -> String {
        let args: Vec<&str> = line.split_whitespace().collect();
        self.kit.send(conn, &crate::resp::encode_request(&args));
        self.settle();
        self.kit.take(conn)
    }

    pub fn digest(&mut self) -> String {
        hex(&dataset_digest(self.kit.nodes[0].keyspace()))
    }

    pub fn logged(&self, needle: &str) -> bool {
        self.logs.iter().any(|l| l.contains(needle))
    }
}

const DIR: &str = "appendonlydir";

fn path(name: &str) -> String {
    format!("{DIR}/{name}")
}

#[test]
fn first_start_creates_base_incr_and_manifest_as_redis() {
    let r = Rig::new("appendonly yes", MemDisk::default());
    assert!(r.logged("Creating AOF base file appendonly.aof.1.base.rdb on server start"));
    assert!(r.logged("Creating AOF incr file appendonly.aof.1.incr.aof on server start"));
    assert_eq!(
        r.disk.text(&path("appendonly.aof.manifest")),
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
    );
    assert!(r.disk.files[&path("appendonly.aof.1.base.rdb")].starts_with(b"REDIS0010"));
    let r = Rig::new(
        "appendonly yes\naof-use-rdb-preamble no",
        MemDisk::default(),
    );
    assert_eq!(r.disk.files[&path("appendonly.aof.1.base.aof")], b"");
    assert!(r
        .disk
        .files
        .contains_key(&path("appendonly.aof.1.incr.aof")));
    assert_eq!(
        r.disk.synced.get(&path("appendonly.aof.manifest")),
        Some(&88)
    );
}

#[test]
fn writes_are_appended_with_redis_rewrites_and_replayed_on_restart() {
    let mut r = Rig::new("appendonly yes\nappendfsync always", MemDisk::default());
    r.kit.connect(1);
    assert_eq!(r.cmd(1, "SET a 1"), "+OK\r\n");
    r.cmd(1, "EXPIRE a 100");
    r.cmd(1, "SADD s x y z");
    r.cmd(1, "SPOP s");
    r.cmd(1, "INCRBYFLOAT f 1.5");
    r.cmd(1, "SELECT 3");
    r.cmd(1, "RPUSH l a b c");
    r.cmd(1, "MULTI");
    r.cmd(1, "LPOP l");
    r.cmd(1, "SET b 2 EX 100");
    r.cmd(1, "EXEC");
    let incr = r.disk.text(&path("appendonly.aof.1.incr.aof"));
    assert!(
        incr.starts_with("*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"),
        "{incr}"
    );
    for needle in ["PEXPIREAT", "SREM", "KEEPTTL", "MULTI", "EXEC", "PXAT"] {
        assert!(incr.contains(needle), "{needle} in {incr:?}");
    }
    assert!(
        !incr.contains("SPOP") && !incr.contains("\r\nEX\r\n"),
        "{incr:?}"
    );
    let before = r.digest();
    // A restart from the same files gives the same dataset.
    let mut again = Rig::new("appendonly yes\nappendfsync always", r.disk.clone());
    assert!(again.logged("DB loaded from incr file appendonly.aof.1.incr.aof"));
    assert_eq!(again.digest(), before);
    // And appends after what was there.
    again.kit.connect(1);
    let stats = again.cmd(1, "INFO stats");
    assert!(
        stats.contains("total_commands_processed:0\r\n"),
        "loading counts nothing: {stats}"
    );
    again.cmd(1, "SET c 3");
    let third = Rig::new("appendonly yes", again.disk.clone()).digest();
    assert_eq!(third, again.digest());
}

#[test]
fn group_commit_and_replies_held_under_always() {
    let mut r = Rig::new("appendonly yes\nappendfsync always", MemDisk::default());
    for conn in 1..=4 {
        r.kit.connect(conn);
    }
    r.hold = true;
    r.cmd(1, "SET a 1");
    // One append and its fsync in flight; the reply waits for the fsync.
    assert_eq!(r.queue.len(), 2, "{:?}", r.queue);
    assert_eq!(r.kit.take(1), "");
    // Three more writes (and a read) while the group is in flight: nothing issued.
    r.cmd(2, "SET b 2");
    r.cmd(3, "INCR c");
    r.cmd(4, "GET a");
    assert_eq!(r.queue.len(), 2);
    assert_eq!(
        r.kit.take(4),
        "",
        "every reply after an unsynced write waits"
    );
    // The append lands: still no reply (the fsync has not).
    let (io, op) = r.queue.pop_front().unwrap();
    r.complete(io, op);
    r.settle();
    assert_eq!(r.kit.take(1), "");
    // The fsync lands: the first reply goes, and the next group is one append.
    let (io, op) = r.queue.pop_front().unwrap();
    r.complete(io, op);
    r.settle();
    assert_eq!(r.kit.take(1), "+OK\r\n");
    assert_eq!(r.kit.take(2), "");
    assert_eq!(r.queue.len(), 2);
    match &r.queue[0].1 {
        DiskOp::Append { bytes, .. } => {
            let text = String::from_utf8_lossy(bytes);
            assert!(
                text.contains("$1\r\nb\r\n") && text.contains("INCR"),
                "{text}"
            );
        }
        other => panic!("{other:?}"),
    }
    r.release();
    assert_eq!(r.kit.take(2), "+OK\r\n");
    assert_eq!(r.kit.take(3), ":1\r\n");
    assert_eq!(r.kit.take(4), "$1\r\n1\r\n");
}

#[test]
fn a_failed_fsync_under_always_never_acknowledges_and_exits() {
    let mut r = Rig::new("appendonly yes\nappendfsync always", MemDisk::default());
    r.kit.connect(1);
    r.fail = Some((|op| matches!(op, DiskOp::Fsync { .. }), DiskError::Io));
    assert_eq!(r.cmd(1, "SET a 1"), "", "no acknowledgement");
    assert_eq!(r.shutdowns, vec![1]);
    assert!(r.logged(
        "Can't persist AOF for fsync error when the AOF fsync policy is 'always': Input/output error. Exiting..."
    ));
}

#[test]
fn a_failed_write_under_everysec_refuses_writes_until_a_retry_succeeds() {
    let mut r = Rig::new("appendonly yes\nappendfsync everysec", MemDisk::default());
    r.kit.connect(1);
    r.fail = Some((|op| matches!(op, DiskOp::Append { .. }), DiskError::NoSpace));
    assert_eq!(r.cmd(1, "SET a 1"), "+OK\r\n");
    assert_eq!(
        r.cmd(1, "SET b 2"),
        "-MISCONF Errors writing to the AOF file: No space left on device\r\n"
    );
    assert!(r
        .cmd(1, "INFO persistence")
        .contains("aof_last_write_status:err"));
    assert_eq!(r.cmd(1, "GET a"), "$1\r\n1\r\n", "reads still go");
    r.kit.advance_ms(1100);
    r.settle();
    assert!(r.logged("AOF write error looks solved, Redis can write again."));
    assert_eq!(r.cmd(1, "SET b 2"), "+OK\r\n");
    let incr = r.disk.text(&path("appendonly.aof.1.incr.aof"));
    assert_eq!(
        incr.matches("SET").count(),
        2,
        "written once each: {incr:?}"
    );
}

#[test]
fn a_torn_tail_is_cut_and_a_corrupt_middle_refuses_to_start() {
    let mut r = Rig::new("appendonly yes", MemDisk::default());
    r.kit.connect(1);
    r.cmd(1, "SET a 1");
    r.cmd(1, "SET b 2");
    let incr = path("appendonly.aof.1.incr.aof");
    let full = r.disk.files[&incr].clone();
    let mut torn = r.disk.clone();
    torn.files.get_mut(&incr).unwrap().truncate(full.len() - 3);
    let mut t = Rig::new("appendonly yes", torn);
    assert!(
        t.logged("!!! Warning: short read while loading the AOF file appendonly.aof.1.incr.aof!!!")
    );
    assert!(t.logged(
        "AOF appendonly.aof.1.incr.aof loaded anyway because aof-load-truncated is enabled"
    ));
    t.kit.connect(1);
    assert_eq!(t.cmd(1, "GET a"), "$1\r\n1\r\n");
    assert_eq!(t.cmd(1, "EXISTS b"), ":0\r\n");
    // The tail was cut at the last whole command, so appending continues cleanly.
    t.cmd(1, "SET c 3");
    let reloaded = Rig::new("appendonly yes", t.disk.clone());
    assert!(reloaded.shutdowns.is_empty(), "{:?}", reloaded.logs);

    let mut refused = r.disk.clone();
    refused
        .files
        .get_mut(&incr)
        .unwrap()
        .truncate(full.len() - 3);
    let t = Rig::new("appendonly yes\naof-load-truncated no", refused);
    assert_eq!(t.shutdowns, vec![1]);
    assert!(
        t.logged("Unexpected end of file reading the append only file appendonly.aof.1.incr.aof")
    );

    let mut corrupt = r.disk.clone();
    corrupt.files.get_mut(&incr).unwrap()[16] = b'!';
    let c = Rig::new("appendonly yes", corrupt);
    assert_eq!(c.shutdowns, vec![1]);
    assert!(c.logged("Bad file format reading the append only file appendonly.aof.1.incr.aof"));
    assert!(c.logged("is corrupt at offset 16"), "{:?}", c.logs);
    assert_eq!(
        c.disk.files[&incr].len(),
        full.len(),
        "the bad file is never rewritten"
    );

    let mut manifest = r.disk.clone();
    manifest.files.insert(
        path("appendonly.aof.manifest"),
        b"file x seq 1 type q\n".to_vec(),
    );
    let m = Rig::new("appendonly yes", manifest);
    assert_eq!(m.shutdowns, vec![1]);
    assert!(m.logged("Unknown AOF file type"));
}

#[test]
fn a_power_cut_under_always_keeps_every_acknowledged_write() {
    let mut r = Rig::new("appendonly yes\nappendfsync always", MemDisk::default());
    r.kit.connect(1);
    for i in 0..20 {
        assert_eq!(r.cmd(1, &format!("SET k{i} {i}")), "+OK\r\n");
    }
    r.hold = true;
    r.cmd(1, "SET unacked 1");
    assert_eq!(r.kit.take(1), "");
    let mut disk = r.disk.clone();
    disk.crash();
    let mut after = Rig::new("appendonly yes", disk);
    after.kit.connect(1);
    assert_eq!(after.cmd(1, "DBSIZE"), ":20\r\n");
}

#[test]
fn bgrewriteaof_writes_a_new_base_and_manifest_then_removes_history() {
    for preamble in ["no", "yes"] {
        rewrite_with_preamble(preamble);
    }
}

fn rewrite_with_preamble(preamble: &str) {
    let config = format!("appendonly yes\nappendfsync always\naof-use-rdb-preamble {preamble}");
    let config = config.as_str();
    let ext = if preamble == "yes" { "rdb" } else { "aof" };
    let mut r = Rig::new(config, MemDisk::default());
    r.kit.connect(1);
    r.cmd(1, "SET a 1");
    r.cmd(1, "RPUSH l 1 2 3");
    r.cmd(1, "HSET h f v");
    r.cmd(1, "ZADD z 1.5 m");
    r.cmd(1, "SET t v PX 100000");
    assert_eq!(
        r.cmd(1, "BGREWRITEAOF"),
        "+Background append only file rewriting started\r\n"
    );
    r.cmd(1, "SET after 1");
    let manifest = format!(
        "file appendonly.aof.2.base.{ext} seq 2 type b\nfile appendonly.aof.2.incr.aof seq 2 type i\n"
    );
    assert_eq!(r.disk.text(&path("appendonly.aof.manifest")), manifest);
    let gone = [
        path("appendonly.aof.1.incr.aof"),
        path(&format!("appendonly.aof.1.base.{ext}")),
    ];
    for file in gone {
        assert!(!r.disk.files.contains_key(&file), "history removed: {file}");
    }
    let base = r.disk.text(&path(&format!("appendonly.aof.2.base.{ext}")));
    if preamble == "yes" {
        assert!(base.starts_with("REDIS0010"), "{base}");
    } else {
        let all = ["RPUSH", "HMSET", "PEXPIREAT", "ZADD"];
        assert!(all.iter().all(|c| base.contains(c)), "{base}");
    }
    let incr = r.disk.text(&path("appendonly.aof.2.incr.aof"));
    assert!(incr.contains("after"), "{incr}");
    let info = r.cmd(1, "INFO persistence");
    assert!(info.contains("aof_rewrites:1"), "{info}");
    let digest = r.digest();
    assert_eq!(Rig::new(config, r.disk.clone()).digest(), digest);
    // A crash at every step of a second rewrite leaves a loadable set with every
    // acknowledged write.
    r.hold = true;
    r.kit
        .send(1, &crate::resp::encode_request(&["BGREWRITEAOF"]));
    r.settle();
    let mut steps = 0;
    while let Some((io, op)) = r.queue.pop_front() {
        let mut crashed = r.disk.clone();
        crashed.crash();
        let mut reloaded = Rig::new("appendonly yes", crashed);
        assert!(
            reloaded.shutdowns.is_empty(),
            "step {steps} ({op:?}): {:?}",
            reloaded.logs
        );
        assert_eq!(reloaded.digest(), digest, "step {steps} ({op:?})");
        r.complete(io, op);
        r.settle();
        steps += 1;
    }
    assert!(steps > 10, "{steps}");
}

#[test]
fn config_set_appendonly_yes_at_run_time_writes_the_dataset_first() {
    let mut r = Rig::new("", MemDisk::default());
    r.kit.connect(1);
    r.cmd(1, "SET a 1");
    assert!(r.disk.files.is_empty());
    assert_eq!(r.cmd(1, "CONFIG SET appendonly yes"), "+OK\r\n");
    r.cmd(1, "SET b 2");
    let digest = r.digest();
    let info = r.cmd(1, "INFO persistence");
    assert!(info.contains("aof_enabled:1"), "{info}");
    assert_eq!(Rig::new("appendonly yes", r.disk.clone()).digest(), digest);
}

#[cfg(feature = "mutants")]
mod planted {
    use super::*;
    use crate::mutants::Mutant;

    #[test]
    fn reply_before_fsync_is_seen() {
        let mut r = Rig::new("appendonly yes\nappendfsync always", MemDisk::default());
        r.kit.nodes[0].set_mutant(Some(Mutant::ReplyBeforeFsync));
        r.kit.connect(1);
        r.hold = true;
        r.cmd(1, "SET a 1");
        let (io, op) = r.queue.pop_front().unwrap();
        r.complete(io, op);
        r.settle();
        assert_eq!(r.kit.take(1), "+OK\r\n", "acknowledged before its fsync");
    }

    #[test]
    fn manifest_before_base_synced_loses_the_dataset_in_a_crash() {
        let config = "appendonly yes\naof-use-rdb-preamble no";
        let mut r = Rig::new(config, MemDisk::default());
        r.kit.nodes[0].set_mutant(Some(Mutant::ManifestBeforeBaseSynced));
        r.kit.connect(1);
        for i in 0..50 {
            r.cmd(1, &format!("SET k{i} {i}"));
        }
        let digest = r.digest();
        r.hold = true;
        r.kit
            .send(1, &crate::resp::encode_request(&["BGREWRITEAOF"]));
        r.settle();
        let mut lost = false;
        while let Some((io, op)) = r.queue.pop_front() {
            let mut crashed = r.disk.clone();
            crashed.crash();
            let mut reloaded = Rig::new(config, crashed);
            lost |= reloaded.digest() != digest;
            r.complete(io, op);
            r.settle();
        }
        assert!(
            lost,
            "a crash after the manifest switch loses the unsynced base"
        );
    }

    #[test]
    fn relative_expiry_is_seen() {
        let mut r = Rig::new("appendonly yes", MemDisk::default());
        r.kit.nodes[0].set_mutant(Some(Mutant::RelativeExpiryInAof));
        r.kit.connect(1);
        r.cmd(1, "SET a 1 EX 100");
        assert!(r
            .disk
            .text(&path("appendonly.aof.1.incr.aof"))
            .contains("\r\nPX\r\n"));
    }
}

#[test]
fn writes_during_a_rewrite_land_once_in_the_new_base_or_the_new_incr() {
    for preamble in ["no", "yes"] {
        let config = format!("appendonly yes\naof-use-rdb-preamble {preamble}");
        let mut r = Rig::new(&config, MemDisk::default());
        r.kit.connect(1);
        for i in 0..3000 {
            r.cmd(1, &format!("RPUSH l{} {i}", i % 300));
            r.cmd(1, &format!("INCR c{}", i % 200));
        }
        r.hold = true;
        r.kit
            .send(1, &crate::resp::encode_request(&["BGREWRITEAOF"]));
        r.settle();
        // Change keys the walk may not have reached yet while its ops land one by one.
        for round in 0..60 {
            for k in 0..5 {
                let overwrite = format!("k{}-{}", 39 - round % 40, k);
                r.kit.send(
                    1,
                    &crate::resp::encode_request(&["APPEND", &overwrite, "x"]),
                );
                let incr = format!("c{}", (round * 7 + k) % 200);
                r.kit
                    .send(1, &crate::resp::encode_request(&["INCR", &incr]));
                let del = format!("l{}", (round * 13 + k) % 300);
                r.kit.send(1, &crate::resp::encode_request(&["DEL", &del]));
            }
            r.settle();
            if let Some((io, op)) = r.queue.pop_front() {
                r.complete(io, op);
            }
            r.kit.input(0, Input::Tick);
            r.settle();
        }
        r.hold = false;
        r.release();
        while r.kit.nodes[0].aof_wants_step() {
            r.kit.input(0, Input::Tick);
            r.settle();
        }
        assert!(
            r.logged("Background AOF rewrite finished successfully"),
            "{:?}",
            r.logs
        );
        let digest = r.digest();
        assert_eq!(
            Rig::new(&config, r.disk.clone()).digest(),
            digest,
            "preamble {preamble}"
        );
    }
}

/// A restart whose clock is `later_ms` ahead of the run that wrote the files.
fn restart_later(config: &str, disk: MemDisk, later_ms: u64) -> Rig {
    let mut rig = Rig {
        kit: Kit::new(config),
        disk,
        hold: false,
        queue: VecDeque::new(),
        logs: Vec::new(),
        shutdowns: Vec::new(),
        fail: None,
        fail_all: None,
    };
    rig.kit.now.wall_ms += later_ms;
    rig.kit.now.mono_ms += later_ms;
    rig.kit.input(0, Input::Tick);
    rig.settle();
    rig
}

#[test]
fn loading_expires_nothing_so_the_log_replays_against_the_keyspace_it_was_written_on() {
    // Redis's keyIsExpired and checkAlreadyExpired are off while loading: a key whose
    // TTL passed since the log was written is still there for the commands after it
    // (which kept its TTL), and is gone only once loaded. Expiring it mid-load turned
    // `SET k 9 PX 100; INCR k` into a k=1 without a TTL (everysec-window 0x2).
    for preamble in ["no", "yes"] {
        let config = format!("appendonly yes\nappendfsync always\naof-use-rdb-preamble {preamble}");
        let mut r = Rig::new(&config, MemDisk::default());
        r.kit.connect(1);
        assert_eq!(r.cmd(1, "SET k 9 PX 100"), "+OK\r\n");
        assert_eq!(r.cmd(1, "INCR k"), ":10\r\n");
        assert_eq!(r.cmd(1, "APPEND k x"), ":3\r\n");
        assert_eq!(r.cmd(1, "SET gone v PX 50"), "+OK\r\n");
        r.cmd(1, "PEXPIREAT gone 1");
        assert_eq!(r.cmd(1, "SET p 1"), "+OK\r\n");
        if preamble == "yes" {
            // The expiring key in the base's RDB preamble, then commands on it.
            assert_eq!(r.cmd(1, "SET b 5 PX 100"), "+OK\r\n");
            assert_eq!(
                r.cmd(1, "BGREWRITEAOF"),
                "+Background append only file rewriting started\r\n"
            );
            for _ in 0..20 {
                r.kit.advance_ms(1);
                r.kit.input(0, Input::Tick);
                r.settle();
            }
            assert!(r
                .disk
                .text(&path("appendonly.aof.2.base.rdb"))
                .contains("REDIS"));
            assert_eq!(r.cmd(1, "INCR b"), ":6\r\n");
        }
        let mut after = restart_later(&config, r.disk.clone(), 10_000);
        after.kit.connect(1);
        assert_eq!(after.cmd(1, "GET k"), "$-1\r\n", "preamble {preamble}");
        assert_eq!(after.cmd(1, "GET b"), "$-1\r\n", "preamble {preamble}");
        assert_eq!(after.cmd(1, "DBSIZE"), ":1\r\n", "preamble {preamble}");
        assert_eq!(after.cmd(1, "GET p"), "$1\r\n1\r\n");
    }
}

#[test]
fn boot_fsyncs_the_loaded_files_before_serving() {
    // Bytes written but never synced (a process that exited after a failed fsync;
    // the page cache kept them) are loaded and served only once they are durable:
    // a power cut after the restart cannot take back what clients saw. Redis 7.0
    // does not fsync at boot; keel does.
    let mut r = Rig::new("appendonly yes\nappendfsync always", MemDisk::default());
    r.kit.connect(1);
    assert_eq!(r.cmd(1, "SET a 1"), "+OK\r\n");
    let incr = path("appendonly.aof.1.incr.aof");
    r.fail = Some((
        |op| matches!(op, DiskOp::Fsync { path } if path.ends_with(".incr.aof")),
        DiskError::Io,
    ));
    r.cmd(1, "SET b 2");
    assert_eq!(r.kit.take(1), "", "never acknowledged");
    assert_eq!(r.shutdowns, vec![1]);
    assert!(
        r.disk.text(&incr).contains("$1\r\nb\r\n"),
        "written, not synced"
    );
    let mut after = Rig::new("appendonly yes\nappendfsync always", r.disk.clone());
    after.kit.connect(1);
    assert_eq!(after.cmd(1, "GET b"), "$1\r\n2\r\n");
    let mut disk = after.disk.clone();
    disk.crash();
    let mut again = Rig::new("appendonly yes", disk);
    again.kit.connect(1);
    assert_eq!(
        again.cmd(1, "GET b"),
        "$1\r\n2\r\n",
        "what the restart served survives a power cut"
    );
}

#[test]
fn everysec_fsyncs_the_last_writes_of_an_idle_node_from_the_tick() {
    // Redis 7.0's flushAppendOnlyFile fsyncs under everysec even with an empty
    // buffer when the file grew since the last fsync: the writes of the last second
    // before a quiet period are synced about a second later, with nothing after them.
    let mut r = Rig::new("appendonly yes\nappendfsync everysec", MemDisk::default());
    r.kit.connect(1);
    let incr = path("appendonly.aof.1.incr.aof");
    for i in 0..5 {
        r.kit.advance_ms(300);
        r.settle();
        assert_eq!(r.cmd(1, &format!("SET k{i} 1")), "+OK\r\n");
    }
    let written = r.disk.files[&incr].len();
    let synced_at_last_write = r.disk.synced.get(&incr).copied().unwrap_or(0);
    assert!(
        synced_at_last_write < written,
        "the last write came less than a second after an fsync: not synced yet"
    );
    // Only the driver's ticks from now on (hz 10), no client input.
    let last_write_ms = r.kit.now.mono_ms;
    let mut synced_ms = None;
    for _ in 0..30 {
        r.kit.advance_ms(100);
        r.settle();
        if r.disk.synced.get(&incr) == Some(&written) {
            synced_ms = Some(r.kit.now.mono_ms - last_write_ms);
            break;
        }
    }
    let waited = synced_ms.expect("an idle node fsyncs what it wrote");
    assert!(waited <= 1100, "synced {waited} ms after the last write");
}

#[test]
fn failed_automatic_rewrites_back_off_as_redis_after_three_in_a_row() {
    let config = "appendonly yes\nappendfsync always\nauto-aof-rewrite-percentage 100\nauto-aof-rewrite-min-size 1";
    let mut r = Rig::new(config, MemDisk::default());
    r.kit.connect(1);
    // Every write of a rewrite's base fails.
    r.fail_all = Some((
        |op| matches!(op, DiskOp::Append { path, .. } if path.starts_with("temp-rewriteaof-bg")),
        DiskError::NoSpace,
    ));
    let failures = |r: &mut Rig| -> u64 {
        let info = r.cmd(1, "INFO persistence");
        let line = info
            .lines()
            .find_map(|l| l.strip_prefix("aof_rewrites_consecutive_failures:"))
            .expect("the field");
        line.trim().parse().expect("a number")
    };
    r.cmd(1, &format!("SET k {}", "v".repeat(500)));
    // The AOF doubled: automatic rewrites start and fail, one after the other, until
    // the third failure; then they wait a minute.
    for _ in 0..20 {
        r.kit.advance_ms(100);
        r.settle();
    }
    assert_eq!(failures(&mut r), 3);
    assert!(r.logged(
        "Background AOF rewrite has repeatedly failed and triggered the limit, will retry in 1 minutes"
    ));
    r.kit.advance_ms(57_000);
    r.settle();
    assert_eq!(failures(&mut r), 3, "nothing tried during the minute");
    // A minute after the limit: one more try, then two minutes.
    for _ in 0..20 {
        r.kit.advance_ms(100);
        r.settle();
    }
    assert_eq!(failures(&mut r), 4);
    assert!(r.logged("will retry in 2 minutes"));
    // A BGREWRITEAOF scheduled behind a BGSAVE waits out the limit too.
    r.hold = true;
    r.kit.send(1, &crate::resp::encode_request(&["BGSAVE"]));
    r.settle();
    assert_eq!(r.kit.take(1), "+Background saving started\r\n");
    assert_eq!(
        r.cmd(1, "BGREWRITEAOF"),
        "+Background append only file rewriting scheduled\r\n"
    );
    r.hold = false;
    r.release();
    for _ in 0..20 {
        r.kit.advance_ms(100);
        r.settle();
    }
    let info = r.cmd(1, "INFO persistence");
    assert!(info.contains("rdb_bgsave_in_progress:0"), "{info}");
    assert!(info.contains("aof_rewrite_scheduled:1"), "{info}");
    assert_eq!(failures(&mut r), 4, "not started inside the two minutes");
    r.cmd(1, "CONFIG SET auto-aof-rewrite-percentage 0");
    r.kit.advance_ms(120_000);
    r.settle();
    assert_eq!(failures(&mut r), 5, "started (and failed) after them");
    r.cmd(1, "CONFIG SET auto-aof-rewrite-percentage 100");
    // BGREWRITEAOF is never limited.
    assert_eq!(
        r.cmd(1, "BGREWRITEAOF"),
        "+Background append only file rewriting started\r\n"
    );
    r.kit.advance_ms(100);
    r.settle();
    assert_eq!(failures(&mut r), 6);
    // The disk heals; after the back-off the automatic rewrite succeeds and resets it.
    r.fail_all = None;
    r.kit.advance_ms(60_000);
    r.settle();
    assert_eq!(failures(&mut r), 6, "still inside the four minutes");
    for _ in 0..2000 {
        r.kit.advance_ms(100);
        r.settle();
    }
    assert_eq!(failures(&mut r), 0);
    assert!(r
        .cmd(1, "INFO persistence")
        .contains("aof_last_bgrewrite_status:ok"));
    // The files left by the failed rewrites are gone with the history.
    let files: Vec<&String> = r.disk.files.keys().filter(|f| f.starts_with(DIR)).collect();
    assert_eq!(files.len(), 3, "{files:?}");
}

#[test]
fn bgrewriteaof_with_appendonly_off_writes_a_base_and_a_manifest_naming_only_it() {
    // Redis 7.0: BGREWRITEAOF with appendonly no writes appendonlydir/ with the base
    // and a manifest of just `file appendonly.aof.1.base.rdb seq 1 type b`; INFO says
    // aof_enabled:0, aof_rewrites:1.
    let mut r = Rig::new("appendonly no", MemDisk::default());
    r.kit.connect(1);
    r.cmd(1, "SET a 1");
    r.cmd(1, "RPUSH l x y z");
    let digest = r.digest();
    assert_eq!(
        r.cmd(1, "BGREWRITEAOF"),
        "+Background append only file rewriting started\r\n"
    );
    for _ in 0..5 {
        r.kit.advance_ms(100);
        r.settle();
    }
    let names: Vec<&String> = r.disk.files.keys().collect();
    assert_eq!(
        names,
        [
            &path("appendonly.aof.1.base.rdb"),
            &path("appendonly.aof.manifest")
        ],
        "no incr file, no temp file left"
    );
    assert_eq!(
        r.disk.text(&path("appendonly.aof.manifest")),
        "file appendonly.aof.1.base.rdb seq 1 type b\n"
    );
    let info = r.cmd(1, "INFO persistence");
    for field in [
        "aof_enabled:0",
        "aof_rewrites:1",
        "aof_last_bgrewrite_status:ok",
        "aof_rewrite_in_progress:0",
    ] {
        assert!(info.contains(field), "{field} in {info}");
    }
    // Again, without the preamble: a new base, the old one is history and goes.
    r.cmd(1, "CONFIG SET aof-use-rdb-preamble no");
    r.cmd(1, "SET b 2");
    let digest_b = r.digest();
    r.cmd(1, "BGREWRITEAOF");
    for _ in 0..5 {
        r.kit.advance_ms(100);
        r.settle();
    }
    assert_eq!(
        r.disk.text(&path("appendonly.aof.manifest")),
        "file appendonly.aof.2.base.aof seq 2 type b\n"
    );
    assert!(!r
        .disk
        .files
        .contains_key(&path("appendonly.aof.1.base.rdb")));
    assert!(r.logged("Removing the history file appendonly.aof.1.base.rdb in the background"));
    assert_ne!(digest, digest_b);
    // The directory starts a node with appendonly yes on the same dataset (a first
    // incr file is made for it).
    let mut again = Rig::new("appendonly yes", r.disk.clone());
    assert_eq!(again.digest(), digest_b);
    assert!(again
        .disk
        .text(&path("appendonly.aof.manifest"))
        .contains("appendonly.aof.1.incr.aof seq 1 type i"));
}

#[test]
fn bgrewriteaof_with_appendonly_off_turns_an_old_sets_incr_files_into_history() {
    let mut r = Rig::new("appendonly yes", MemDisk::default());
    r.kit.connect(1);
    r.cmd(1, "SET a 1");
    r.cmd(1, "INCR n");
    let digest = r.digest();
    // Restarted with appendonly no: the old set stays on disk until a rewrite.
    let mut off = Rig::new("appendonly no", r.disk.clone());
    off.kit.connect(1);
    off.cmd(1, "SET a 1");
    off.cmd(1, "INCR n");
    off.cmd(1, "BGREWRITEAOF");
    for _ in 0..5 {
        off.kit.advance_ms(100);
        off.settle();
    }
    assert_eq!(
        off.disk.text(&path("appendonly.aof.manifest")),
        "file appendonly.aof.2.base.rdb seq 2 type b\n"
    );
    let names: Vec<&String> = off.disk.files.keys().collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let again = Rig::new("appendonly yes", off.disk.clone());
    let mut again = again;
    assert_eq!(again.digest(), digest);
}

/// DEBUG RELOAD (the Rig's disk serves `dump.rdb` as well).
mod debug_reload {
    use super::*;

    fn settle_ticks(r: &mut Rig) {
        for _ in 0..5 {
            r.kit.advance_ms(100);
            r.settle();
        }
    }

    #[test]
    fn reload_saves_flushes_and_loads_back_the_same_dataset() {
        let mut r = Rig::new("appendonly no", MemDisk::default());
        r.kit.connect(1);
        r.cmd(1, "SET a 1");
        r.cmd(1, "RPUSH l x y z");
        r.cmd(1, "SET t v EX 1000");
        r.cmd(1, "SELECT 3");
        r.cmd(1, "HSET h f v");
        let before = r.digest();
        assert_eq!(r.cmd(1, "DEBUG RELOAD"), "+OK\r\n");
        assert_eq!(r.digest(), before);
        assert!(r.disk.files["dump.rdb"].starts_with(b"REDIS0010"));
        assert!(r.logged("DB saved on disk"));
        assert!(r.logged("DB reloaded by DEBUG RELOAD"));
        assert!(r
            .cmd(1, "INFO persistence")
            .contains("rdb_changes_since_last_save:0"));
        r.cmd(1, "SELECT 0");
        let ttl = r.cmd(1, "TTL t");
        assert!(
            ttl == ":1000\r\n" || ttl == ":999\r\n",
            "the TTL came back: {ttl}"
        );
        // NOSAVE loads the file as it is: a write since is gone.
        r.cmd(1, "SET b 2");
        assert_eq!(r.cmd(1, "DEBUG RELOAD NOSAVE"), "+OK\r\n");
        assert_eq!(r.digest(), before);
        // NOFLUSH MERGE: keys in both are the file's; others stay.
        r.cmd(1, "SET a changed");
        r.cmd(1, "SET only-here 1");
        assert_eq!(r.cmd(1, "DEBUG RELOAD NOSAVE NOFLUSH MERGE"), "+OK\r\n");
        assert_eq!(r.cmd(1, "GET a"), "$1\r\n1\r\n");
        assert_eq!(r.cmd(1, "GET only-here"), "$1\r\n1\r\n");
        // NOFLUSH without MERGE over the same keys: Redis 7.0.15 panics (Duplicated
        // key found in RDB file); keel answers the load error and keeps serving.
        assert_eq!(
            r.cmd(1, "DEBUG RELOAD NOSAVE NOFLUSH"),
            "-ERR Error trying to load the RDB dump\r\n"
        );
        assert!(r.logged("RDB has duplicated key 'a' in DB 0"));
        assert_eq!(
            r.cmd(1, "DEBUG RELOAD foo"),
            "-ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.\r\n"
        );
        // No file: flushed, then the load error (Redis's rdbLoad of a missing file).
        r.disk.files.remove("dump.rdb");
        assert_eq!(
            r.cmd(1, "DEBUG RELOAD NOSAVE"),
            "-ERR Error trying to load the RDB dump\r\n"
        );
        assert_eq!(r.cmd(1, "DBSIZE"), ":0\r\n");
        assert!(r.shutdowns.is_empty(), "a failed reload never exits");
    }

    #[test]
    fn a_failed_save_answers_err_and_keeps_the_dataset() {
        let mut r = Rig::new("appendonly no", MemDisk::default());
        r.kit.connect(1);
        r.cmd(1, "SET a 1");
        r.fail = Some((|op| matches!(op, DiskOp::Append { .. }), DiskError::NoSpace));
        assert_eq!(r.cmd(1, "DEBUG RELOAD"), "-ERR\r\n");
        assert_eq!(r.cmd(1, "GET a"), "$1\r\n1\r\n");
    }

    #[test]
    fn other_clients_wait_for_the_reload_and_lose_nothing() {
        let mut r = Rig::new("appendonly no", MemDisk::default());
        r.kit.connect(1);
        r.kit.connect(2);
        r.cmd(1, "SET a 1");
        r.hold = true;
        r.kit
            .send(1, &crate::resp::encode_request(&["DEBUG", "RELOAD"]));
        r.settle();
        // Sent while the reload's save runs: without waiting, it would land in the
        // dataset after the snapshot and be flushed away.
        r.kit
            .send(2, &crate::resp::encode_request(&["SET", "during", "1"]));
        r.settle();
        assert_eq!(r.kit.take(2), "", "waits");
        for _ in 0..50 {
            if r.queue.is_empty() {
                break;
            }
            r.release();
            r.kit.advance_ms(10);
            r.settle();
        }
        r.hold = false;
        settle_ticks(&mut r);
        assert_eq!(r.kit.take(1), "+OK\r\n");
        assert_eq!(r.kit.take(2), "+OK\r\n");
        assert_eq!(r.cmd(2, "GET during"), "$1\r\n1\r\n");
        assert_eq!(r.cmd(2, "GET a"), "$1\r\n1\r\n");
    }

    #[test]
    fn no_rewrite_or_save_starts_on_a_half_loaded_dataset() {
        // A BGREWRITEAOF scheduled behind a BGSAVE must not start its walk while a
        // DEBUG RELOAD NOSAVE is loading: its base would miss the keys still to
        // come, which the reload never propagates.
        let config = "appendonly yes\nappendfsync always\nrdbcompression no";
        let mut r = Rig::new(config, MemDisk::default());
        r.kit.connect(1);
        assert_eq!(r.cmd(1, "DEBUG POPULATE 30000 key 100"), "+OK\r\n");
        assert_eq!(r.cmd(1, "SAVE"), "+OK\r\n");
        assert!(r.disk.files["dump.rdb"].len() > 3 << 20, "several reads");
        let digest = r.digest();
        // The AOF must hold the dataset (DEBUG POPULATE is not propagated).
        r.cmd(1, "BGREWRITEAOF");
        for _ in 0..1000 {
            if r.cmd(1, "INFO persistence").contains("aof_rewrites:1") {
                break;
            }
            r.kit.advance_ms(10);
            r.settle();
        }
        r.hold = true;
        for line in ["BGSAVE", "BGREWRITEAOF", "DEBUG RELOAD NOSAVE"] {
            r.kit.send(
                1,
                &crate::resp::encode_request(&line.split(' ').collect::<Vec<_>>()),
            );
            r.settle();
        }
        // One disk answer at a time, ticks between them; the reload's reads wait
        // until the BGSAVE is over (a slow disk under the load).
        let mut deferred = VecDeque::new();
        for step in 0..10_000 {
            if step == 5_000 {
                r.queue.append(&mut deferred);
            }
            if r.queue.is_empty() && deferred.is_empty() {
                break;
            }
            if let Some((io, op)) = r.queue.pop_front() {
                let reload_read = matches!(&op, DiskOp::Read { path, .. } if path == "dump.rdb");
                if reload_read && step < 5_000 {
                    deferred.push_back((io, op));
                } else {
                    r.complete(io, op);
                }
            }
            r.kit.advance_ms(1);
            r.settle();
        }
        r.hold = false;
        let replies = r.kit.take(1);
        for _ in 0..5000 {
            let info = r.cmd(1, "INFO persistence");
            if info.contains("rdb_bgsave_in_progress:0") && info.contains("aof_rewrites:2") {
                break;
            }
            r.kit.advance_ms(10);
            r.settle();
        }
        assert!(replies.ends_with("+OK\r\n"), "{replies}");
        assert_eq!(r.digest(), digest);
        let info = r.cmd(1, "INFO persistence");
        assert!(info.contains("aof_rewrites:2"), "{info}");
        let mut again = Rig::new(config, r.disk.clone());
        assert_eq!(again.digest(), digest, "the AOF holds the whole dataset");
    }

    #[test]
    fn with_appendonly_yes_it_still_reloads_from_the_rdb_file() {
        let mut r = Rig::new("appendonly yes\nappendfsync always", MemDisk::default());
        r.kit.connect(1);
        r.cmd(1, "SET a 1");
        let incr = r.disk.text(&path("appendonly.aof.1.incr.aof"));
        let before = r.digest();
        assert_eq!(r.cmd(1, "DEBUG RELOAD"), "+OK\r\n");
        assert_eq!(r.digest(), before);
        assert!(r.disk.files.contains_key("dump.rdb"));
        settle_ticks(&mut r);
        assert_eq!(
            r.disk.text(&path("appendonly.aof.1.incr.aof")),
            incr,
            "nothing propagated"
        );
    }
}

/// A Redis 6 style single `appendonly.aof` in `dir` (Redis 7.0's aofUpgradePrepare).
mod legacy {
    use super::*;

    const COMMANDS: &[u8] = b"*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*3\r\n$3\r\nSET\r\n$1\r\na\r\n$1\r\n1\r\n*3\r\n$5\r\nRPUSH\r\n$1\r\nl\r\n$1\r\nx\r\n";

    fn expect_migrated(r: &mut Rig) {
        assert!(r.logged(
            "Successfully migrated an old-style AOF file (appendonly.aof) into the AOF directory (appendonlydir)."
        ));
        assert!(!r.disk.files.contains_key("appendonly.aof"), "moved");
        assert_eq!(
            r.disk.text(&path("appendonly.aof.manifest")),
            "file appendonly.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n"
        );
        assert!(r
            .disk
            .files
            .contains_key(&path("appendonly.aof.1.incr.aof")));
        assert!(r.shutdowns.is_empty());
    }

    #[test]
    fn an_old_appendonly_aof_is_moved_into_the_directory_as_the_base() {
        let mut disk = MemDisk::default();
        disk.files
            .insert("appendonly.aof".into(), COMMANDS.to_vec());
        let mut r = Rig::new("appendonly yes", disk);
        expect_migrated(&mut r);
        assert_eq!(r.disk.files[&path("appendonly.aof")], COMMANDS);
        r.kit.connect(1);
        assert_eq!(r.cmd(1, "GET a"), "$1\r\n1\r\n");
        assert_eq!(r.cmd(1, "LRANGE l 0 -1"), "*1\r\n$1\r\nx\r\n");
        // New writes go to the incr file, and the set reloads.
        r.cmd(1, "SET b 2");
        let digest = r.digest();
        let mut again = Rig::new("appendonly yes", r.disk.clone());
        assert_eq!(again.digest(), digest);
        assert!(!again.logged("migrated"), "once only");
    }

    #[test]
    fn an_old_aof_with_an_rdb_preamble_migrates_too() {
        // Redis 6's aof-use-rdb-preamble file: an RDB, then commands. Made here from
        // a keel rewrite's base and incr.
        let mut w = Rig::new("appendonly yes\nappendfsync always", MemDisk::default());
        w.kit.connect(1);
        w.cmd(1, "SET a 1");
        w.cmd(1, "HSET h f v");
        w.cmd(1, "BGREWRITEAOF");
        for _ in 0..5 {
            w.kit.advance_ms(100);
            w.settle();
        }
        w.cmd(1, "SET after 1");
        let digest = w.digest();
        let mut legacy = w.disk.files[&path("appendonly.aof.2.base.rdb")].clone();
        assert!(legacy.starts_with(b"REDIS"));
        legacy.extend_from_slice(&w.disk.files[&path("appendonly.aof.2.incr.aof")]);
        let mut disk = MemDisk::default();
        disk.files.insert("appendonly.aof".into(), legacy);
        let mut r = Rig::new("appendonly yes", disk);
        expect_migrated(&mut r);
        assert_eq!(r.digest(), digest);
    }

    #[test]
    fn a_migration_cut_after_the_manifest_is_finished_at_the_next_start() {
        let mut disk = MemDisk::default();
        disk.files
            .insert("appendonly.aof".into(), COMMANDS.to_vec());
        disk.files.insert(
            path("appendonly.aof.manifest"),
            b"file appendonly.aof seq 1 type b\n".to_vec(),
        );
        let mut r = Rig::new("appendonly yes", disk);
        expect_migrated(&mut r);
        r.kit.connect(1);
        assert_eq!(r.cmd(1, "GET a"), "$1\r\n1\r\n");
    }

    #[test]
    fn with_a_manifest_naming_files_the_old_file_is_left_alone() {
        let mut w = Rig::new("appendonly yes", MemDisk::default());
        w.kit.connect(1);
        w.cmd(1, "SET kept 1");
        let mut disk = w.disk.clone();
        disk.files
            .insert("appendonly.aof".into(), COMMANDS.to_vec());
        let mut r = Rig::new("appendonly yes", disk);
        assert!(!r.logged("migrated"));
        assert!(r.disk.files.contains_key("appendonly.aof"));
        r.kit.connect(1);
        assert_eq!(r.cmd(1, "GET a"), "$-1\r\n");
        assert_eq!(r.cmd(1, "GET kept"), "$1\r\n1\r\n");
        // appendonly no: never touched.
        let mut disk = MemDisk::default();
        disk.files
            .insert("appendonly.aof".into(), COMMANDS.to_vec());
        let r = Rig::new("appendonly no", disk);
        assert!(r.disk.files.contains_key("appendonly.aof"));
        assert!(!r.disk.files.contains_key(&path("appendonly.aof.manifest")));
    }
}

#[test]
fn a_rewrite_that_cannot_name_its_new_incr_file_fails_alone_and_appends_go_on() {
    // Redis 7.0: when openNewIncrAofForAppend fails (the file or the manifest naming
    // it), BGREWRITEAOF fails and the server keeps appending to the old incr file.
    for failing in [
        (|op: &DiskOp| matches!(op, DiskOp::Open { path, .. } if path.ends_with(".2.incr.aof")))
            as fn(&DiskOp) -> bool,
        |op| matches!(op, DiskOp::Append { path, .. } if path.ends_with("temp_appendonly.aof.manifest")),
        |op| matches!(op, DiskOp::Rename { to, .. } if to.ends_with("appendonly.aof.manifest")),
    ] {
        let mut r = Rig::new("appendonly yes\nappendfsync always", MemDisk::default());
        r.kit.connect(1);
        r.cmd(1, "SET a 1");
        r.fail = Some((failing, DiskError::NoSpace));
        r.kit
            .send(1, &crate::resp::encode_request(&["BGREWRITEAOF"]));
        r.kit
            .send(1, &crate::resp::encode_request(&["SET", "b", "2"]));
        r.settle();
        assert_eq!(
            r.kit.take(1),
            "+Background append only file rewriting started\r\n+OK\r\n"
        );
        assert!(r.shutdowns.is_empty(), "keel keeps running");
        assert_eq!(r.cmd(1, "SET c 3"), "+OK\r\n");
        let info = r.cmd(1, "INFO persistence");
        assert!(info.contains("aof_last_bgrewrite_status:err"), "{info}");
        assert!(info.contains("aof_rewrite_in_progress:0"), "{info}");
        let incr = r.disk.text(&path("appendonly.aof.1.incr.aof"));
        assert_eq!(incr.matches("SET").count(), 3, "{incr:?}");
        let digest = r.digest();
        let mut again = Rig::new("appendonly yes", r.disk.clone());
        assert_eq!(again.digest(), digest);
        // The next rewrite works.
        assert_eq!(
            r.cmd(1, "BGREWRITEAOF"),
            "+Background append only file rewriting started\r\n"
        );
        for _ in 0..5 {
            r.kit.advance_ms(100);
            r.settle();
        }
        assert!(r
            .cmd(1, "INFO persistence")
            .contains("aof_last_bgrewrite_status:ok"));
        r.cmd(1, "SET d 4");
        let digest = r.digest();
        let mut again = Rig::new("appendonly yes", r.disk.clone());
        assert_eq!(again.digest(), digest);
    }
}

#[test]
fn config_set_appendonly_yes_that_cannot_create_its_files_leaves_the_aof_off() {
    let mut r = Rig::new("appendonly no\nappendfsync always", MemDisk::default());
    r.kit.connect(1);
    r.cmd(1, "SET a 1");
    r.fail = Some((
        |op| matches!(op, DiskOp::Open { path, .. } if path.ends_with(".incr.aof")),
        DiskError::NoSpace,
    ));
    r.kit.send(
        1,
        &crate::resp::encode_request(&["CONFIG", "SET", "appendonly", "yes"]),
    );
    r.kit
        .send(1, &crate::resp::encode_request(&["SET", "b", "2"]));
    r.settle();
    assert_eq!(r.kit.take(1), "+OK\r\n+OK\r\n", "nothing left waiting");
    assert!(r.shutdowns.is_empty(), "keel keeps running");
    assert!(r.logged(
        "Redis needs to enable the AOF but can't trigger a background AOF rewrite operation."
    ));
    assert_eq!(
        r.cmd(1, "CONFIG GET appendonly"),
        "*2\r\n$10\r\nappendonly\r\n$2\r\nno\r\n"
    );
    assert!(r.cmd(1, "INFO persistence").contains("aof_enabled:0"));
    assert_eq!(r.cmd(1, "SET c 3"), "+OK\r\n");
    // Once the disk is fine, it can be turned on.
    assert_eq!(r.cmd(1, "CONFIG SET appendonly yes"), "+OK\r\n");
    for _ in 0..5 {
        r.kit.advance_ms(100);
        r.settle();
    }
    assert!(r.cmd(1, "INFO persistence").contains("aof_enabled:1"));
    let digest = r.digest();
    let mut again = Rig::new("appendonly yes", r.disk.clone());
    assert_eq!(again.digest(), digest);
}

#[test]
fn loading_under_a_maxmemory_below_the_dataset_replays_every_command() {
    // Redis runs an AOF's commands outside processCommand (no -OOM for them) and
    // evicts nothing while loading (isSafeToPerformEvictions): a maxmemory squeezed
    // below the dataset while the restart loads must not refuse the replay and load
    // nothing (chaos 0x93: an `always` restart recovered 0 of 17 records).
    let config = "appendonly yes\nappendfsync always";
    let mut r = Rig::new(config, MemDisk::default());
    r.kit.connect(1);
    for i in 0..20 {
        assert_eq!(r.cmd(1, &format!("SET k{i} v")), "+OK\r\n");
        assert_eq!(r.cmd(1, &format!("RPUSH l{i} a b c")), ":3\r\n");
    }
    let before = r.digest();
    for policy in ["noeviction", "allkeys-lru"] {
        let tight = format!("{config}\nmaxmemory 1\nmaxmemory-policy {policy}");
        let mut after = Rig {
            kit: Kit::new(&tight),
            disk: r.disk.clone(),
            hold: true,
            queue: VecDeque::new(),
            logs: Vec::new(),
            shutdowns: Vec::new(),
            fail: None,
            fail_all: None,
        };
        after.kit.input(0, Input::Tick);
        after.kit.connect(1);
        after.settle();
        // The manifest read is out; the node loads. A write gets -LOADING, not -OOM
        // (Redis evicts nothing, so refuses nothing for memory, while loading).
        assert_eq!(
            after.cmd(1, "SET x 1"),
            "-LOADING Redis is loading the dataset in memory\r\n",
            "{policy}"
        );
        after.hold = false;
        after.release();
        assert_eq!(after.digest(), before, "{policy}: the whole log loaded");
    }
}
