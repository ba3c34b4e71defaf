//! RDB persistence end to end with the real keel-server binary: SAVE / BGSAVE /
//! SHUTDOWN / SIGTERM write `dir/dbfilename`, a restart loads it (same DEBUG DIGEST),
//! a corrupt file stops keel with a non-zero exit and is left as it was; and the files
//! cross over with the real redis-server 7.0 both ways. (Codec-level interop, every
//! encoding, is wt-rdb's `rdb_interop.rs`; this is the file flow and the processes.)

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{keel_bin, require_redis_or_skip, scratch_dir, text, Conn, Server};

fn dir_args(dir: &Path) -> Vec<String> {
    vec![
        "--dir".into(),
        dir.display().to_string(),
        "--enable-debug-command".into(),
        "yes".into(),
    ]
}

fn keel_in(dir: &Path, extra: &[&str]) -> Server {
    let mut args = dir_args(dir);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::keel(&refs)
}

/// A dataset of every type, TTLs, several databases.
fn fill(c: &mut Conn) {
    for line in [
        "SET s hello",
        "SET n 12345",
        "SET big xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "RPUSH l a b c 1 2 3",
        "HSET h f1 v1 f2 v2",
        "SADD si 1 2 3",
        "SADD ss a b c",
        "ZADD z 1 a 2.5 b -3 c",
        "SET ttl v",
        "PEXPIRE ttl 500000",
        "SELECT 5",
        "SET other db5",
        "LPUSH l5 x",
        "SELECT 0",
    ] {
        let r = c.cmds(line);
        assert!(!r.starts_with(b"-"), "{line}: {}", text(&r));
    }
    // Enough keys for the walk to take many slices and several appends.
    let r = c.cmds("DEBUG POPULATE 10000 key 100");
    assert_eq!(r, b"+OK\r\n");
}

fn digest(c: &mut Conn) -> Vec<u8> {
    c.cmds("DEBUG DIGEST")
}

fn wait_bgsave(c: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let info = text(&c.cmds("INFO persistence"));
        if info.contains("rdb_bgsave_in_progress:0") {
            assert!(info.contains("rdb_last_bgsave_status:ok"), "{info}");
            return;
        }
        assert!(Instant::now() < deadline, "BGSAVE never ended: {info}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The load may still run after a start: -LOADING until it is done.
fn wait_loaded(c: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = c.cmds("DBSIZE");
        if !r.starts_with(b"-LOADING") {
            return;
        }
        assert!(Instant::now() < deadline, "still loading");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn save_then_restart_has_the_same_dataset() {
    let dir = scratch_dir("persist-restart");
    let before;
    {
        let keel = keel_in(&dir, &[]);
        let mut c = keel.conn();
        fill(&mut c);
        before = digest(&mut c);
        assert_eq!(c.cmds("SAVE"), b"+OK\r\n");
        assert!(dir.join("dump.rdb").exists());
        let leftovers: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .starts_with("temp-")
            })
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let status = Command::new("redis-check-rdb")
            .arg(dir.join("dump.rdb"))
            .stdout(Stdio::null())
            .status();
        if let Ok(status) = status {
            assert!(status.success(), "redis-check-rdb refused keel's file");
        }
    }
    let keel = keel_in(&dir, &[]);
    let mut c = keel.conn();
    wait_loaded(&mut c);
    assert_eq!(digest(&mut c), before);
    let ttl = text(&c.cmds("PTTL ttl"));
    assert!(
        ttl.starts_with(':')
            && ttl.trim_start_matches(':').trim().parse::<i64>().unwrap() > 400_000,
        "{ttl}"
    );
    let info = text(&c.cmds("INFO persistence"));
    assert!(info.contains("rdb_last_load_keys_loaded:10011"), "{info}");
}

#[test]
fn bgsave_under_writes_and_shutdown_and_sigterm_save() {
    let dir = scratch_dir("persist-bgsave");
    let at_start;
    {
        let keel = keel_in(&dir, &[]);
        let mut c = keel.conn();
        let mut w = keel.conn();
        fill(&mut c);
        at_start = digest(&mut c);
        assert_eq!(c.cmds("BGSAVE"), b"+Background saving started\r\n");
        // Writes while the snapshot walks: none of them may reach the file.
        for i in 0..200 {
            w.cmds(&format!("SET key:{i} changed"));
            w.cmds(&format!("DEL key:{}", 1000 + i));
            w.cmds(&format!("SET fresh:{i} x"));
        }
        w.cmds("FLUSHDB");
        wait_bgsave(&mut c);
        assert_ne!(digest(&mut c), at_start);
    }
    // The BGSAVE's file holds the dataset at its start.
    let after_shutdown = {
        let keel = keel_in(&dir, &[]);
        let mut c = keel.conn();
        wait_loaded(&mut c);
        assert_eq!(digest(&mut c), at_start);
        c.cmds("SET after-restart 1");
        let expect = digest(&mut c);
        c.send_raw(b"SHUTDOWN SAVE\r\n");
        let mut keel = keel;
        assert!(keel
            .wait_exit(Duration::from_secs(30))
            .is_some_and(|s| s.success()));
        expect
    };
    {
        // SIGTERM with save points set saves before exiting (shutdown-on-sigterm default).
        let keel = keel_in(&dir, &["--save", "3600 1"]);
        let mut c = keel.conn();
        wait_loaded(&mut c);
        assert_eq!(digest(&mut c), after_shutdown);
        c.cmds("SET by-sigterm 1");
        let expect = digest(&mut c);
        let pid = keel.pid();
        Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .unwrap();
        let mut keel = keel;
        assert!(keel
            .wait_exit(Duration::from_secs(30))
            .is_some_and(|s| s.success()));
        let keel = keel_in(&dir, &[]);
        let mut c = keel.conn();
        wait_loaded(&mut c);
        assert_eq!(digest(&mut c), expect);
    }
}

#[test]
fn a_corrupt_file_stops_keel_and_is_kept() {
    let dir = scratch_dir("persist-corrupt");
    {
        let keel = keel_in(&dir, &[]);
        let mut c = keel.conn();
        c.cmds("DEBUG POPULATE 1000");
        assert_eq!(c.cmds("SAVE"), b"+OK\r\n");
    }
    let path = dir.join("dump.rdb");
    let mut bytes = std::fs::read(&path).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let mut args = dir_args(&dir);
    args.extend(["--port".into(), common::free_port().to_string()]);
    let out = Command::new(keel_bin())
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "keel started on a corrupt file");
    let log = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        log.contains("Fatal error loading the DB (dump.rdb)"),
        "{log}"
    );
    assert!(log.contains("offset"), "{log}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        bytes,
        "the bad file is untouched"
    );
}

#[test]
fn keel_dump_loads_into_redis_server() {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir("persist-to-redis");
    let expect;
    {
        let keel = keel_in(&dir, &[]);
        let mut c = keel.conn();
        fill(&mut c);
        expect = digest(&mut c);
        assert_eq!(c.cmds("SAVE"), b"+OK\r\n");
    }
    let mut args = dir_args(&dir);
    args.extend(["--save".into(), "".into()]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let redis = Server::redis(&refs);
    let mut r = redis.conn();
    assert_eq!(digest(&mut r), expect);
    assert!(text(&r.cmds("INFO persistence")).contains("rdb_last_load_keys_loaded:10011"));
}

#[test]
fn redis_dump_loads_into_keel() {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir("persist-from-redis");
    let expect;
    {
        let args = dir_args(&dir);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let redis = Server::redis(&refs);
        let mut r = redis.conn();
        fill(&mut r);
        expect = digest(&mut r);
        assert_eq!(r.cmds("SAVE"), b"+OK\r\n");
    }
    let keel = keel_in(&dir, &[]);
    let mut c = keel.conn();
    wait_loaded(&mut c);
    assert_eq!(digest(&mut c), expect);
}

/// DEBUG RELOAD and its options against redis-server 7.0: the same replies, the same
/// DEBUG DIGEST before and after, the same errors; and with appendonly yes it still
/// reloads from the RDB file (which it writes), as Redis 7.0 does.
#[test]
fn debug_reload_answers_as_redis() {
    if !require_redis_or_skip() {
        return;
    }
    let script = [
        "DEBUG RELOAD",
        "SET b 2",
        "DEBUG RELOAD NOSAVE",
        "GET b",
        "SET a changed",
        "SET only-here 1",
        "DEBUG RELOAD NOFLUSH MERGE NOSAVE",
        "GET a",
        "GET only-here",
        "DEBUG RELOAD nosave NOSAVE merge",
        "DEBUG RELOAD foo",
        "DEBUG RELOAD NOSAVE bar",
        "DBSIZE",
    ];
    let mut runs = Vec::new();
    for server in ["redis", "keel"] {
        let dir = scratch_dir(&format!("debug-reload-{server}"));
        let mut args = dir_args(&dir);
        args.extend(["--save".into(), "".into()]);
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let s = if server == "redis" {
            Server::redis(&refs)
        } else {
            Server::keel(&refs)
        };
        let mut c = s.conn();
        wait_loaded(&mut c);
        fill(&mut c);
        c.cmds("SET a 1");
        let before = digest(&mut c);
        let mut replies = Vec::new();
        for line in script {
            replies.push(format!("{line} -> {}", text(&c.cmds(line))));
        }
        replies.push(format!("digest -> {}", text(&digest(&mut c))));
        // A missing file: the dataset is flushed, then the load error.
        std::fs::remove_file(dir.join("dump.rdb")).expect("dump.rdb was written");
        replies.push(format!(
            "missing -> {}",
            text(&c.cmds("DEBUG RELOAD NOSAVE"))
        ));
        replies.push(format!("dbsize -> {}", text(&c.cmds("DBSIZE"))));
        // With the AOF on, the RDB file is still what is saved and loaded.
        fill(&mut c);
        assert!(!c.cmds("CONFIG SET appendonly yes").starts_with(b"-"));
        let deadline = Instant::now() + Duration::from_secs(30);
        while !text(&c.cmds("INFO persistence")).contains("aof_rewrite_in_progress:0") {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(20));
        }
        let with_aof = digest(&mut c);
        replies.push(format!("aof -> {}", text(&c.cmds("DEBUG RELOAD"))));
        assert_eq!(digest(&mut c), with_aof, "{server}");
        assert!(dir.join("dump.rdb").exists(), "{server}");
        runs.push((before, replies));
    }
    assert_eq!(runs[1].0, runs[0].0, "the datasets before");
    for (keel, redis) in runs[1].1.iter().zip(&runs[0].1) {
        assert_eq!(keel, redis);
    }
    // The first reload kept the dataset (its digest is the one before).
    assert!(runs[1].1[0].ends_with("+OK\r\n"));
}
