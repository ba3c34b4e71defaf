//! The multi-part AOF end to end with the real keel-server binary and the real
//! redis-server 7.0: keel's `appendonlydir` (with and without an RDB preamble, after a
//! rewrite) passes `redis-check-aof` and starts redis-server with the same dataset
//! (DEBUG DIGEST), redis-server's loads into keel, and a kill -9 under
//! `appendfsync always` with clients writing loses no acknowledged write.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{keel_bin, require_redis_or_skip, scratch_dir, text, Conn, Server};

fn dir_args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--dir".into(),
        dir.display().to_string(),
        "--enable-debug-command".into(),
        "yes".into(),
        "--appendonly".into(),
        "yes".into(),
        // The port was found free on 127.0.0.1 (`free_port`); "*" may still be taken.
        "--bind".into(),
        "127.0.0.1".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

fn keel_in(dir: &Path, extra: &[&str]) -> Server {
    let args = dir_args(dir, extra);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::keel(&refs)
}

fn redis_in(dir: &Path, extra: &[&str]) -> Server {
    let mut args = dir_args(dir, extra);
    // Its log, for when it refuses to start.
    args.extend([
        "--logfile".into(),
        dir.join("redis.log").display().to_string(),
    ]);
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::redis(&refs)
}

/// Commands of every type, TTLs, several databases, the rewritten forms (SPOP,
/// INCRBYFLOAT, relative expiry, a transaction), and a few thousand plain keys.
fn fill(c: &mut Conn) {
    for line in [
        "SET s hello",
        "SET n 12345",
        "RPUSH l a b c 1 2 3",
        "LPOP l",
        "HSET h f1 v1 f2 v2",
        "SADD si 1 2 3 4 5",
        "SPOP si",
        "SADD ss a b c",
        "ZADD z 1 a 2.5 b -3 c",
        "INCRBYFLOAT f 1.25",
        "SET ttl v EX 500000",
        "SET px v",
        "PEXPIRE px 900000",
        "MULTI",
        "INCR counter",
        "SET inmulti 1",
        "EXEC",
        "SELECT 5",
        "SET other db5",
        "LPUSH l5 x",
        "SELECT 0",
    ] {
        let r = c.cmds(line);
        assert!(!r.starts_with(b"-"), "{line}: {}", text(&r));
    }
    let mut pipeline = Vec::new();
    for i in 0..3000 {
        pipeline.extend(common::encode_line(&format!("SET key:{i} value-{i}")));
    }
    c.send_raw(&pipeline);
    for _ in 0..3000 {
        assert_eq!(c.read_reply(), b"+OK\r\n");
    }
}

fn digest(c: &mut Conn) -> Vec<u8> {
    c.cmds("DEBUG DIGEST")
}

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

fn wait_rewrite(c: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let info = text(&c.cmds("INFO persistence"));
        if info.contains("aof_rewrite_in_progress:0") && info.contains("aof_rewrite_scheduled:0") {
            assert!(info.contains("aof_last_bgrewrite_status:ok"), "{info}");
            return;
        }
        assert!(Instant::now() < deadline, "rewrite never ended: {info}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SHUTDOWN (the AOF is flushed and fsynced first) and wait for the exit.
fn shut_down(server: &mut Server, c: &mut Conn) {
    c.send_raw(&common::encode_line("SHUTDOWN"));
    let status = server.wait_exit(Duration::from_secs(20)).expect("exited");
    assert!(status.success(), "{status:?}");
}

fn check_aof(dir: &Path) {
    let manifest = dir.join("appendonlydir/appendonly.aof.manifest");
    let out = Command::new("redis-check-aof")
        .arg(&manifest)
        .output()
        .expect("redis-check-aof runs");
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("All AOF files and manifest are valid"),
        "{stdout}"
    );
}

fn keel_to_redis(tag: &str, extra: &[&str], rewrite: bool) {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir(tag);
    let expect;
    {
        let mut keel = keel_in(&dir, extra);
        let mut c = keel.conn();
        wait_loaded(&mut c);
        fill(&mut c);
        if rewrite {
            // DEBUG POPULATE is not propagated (as in Redis): only a rewrite's base
            // carries those keys.
            assert_eq!(c.cmds("DEBUG POPULATE 20000 pop 50"), b"+OK\r\n");
            assert!(
                text(&c.cmds("BGREWRITEAOF")).starts_with("+Background append only file rewriting")
            );
            c.cmds("SET during-rewrite 1");
            wait_rewrite(&mut c);
            c.cmds("SET after-rewrite 1");
        }
        expect = digest(&mut c);
        shut_down(&mut keel, &mut c);
    }
    check_aof(&dir);
    let redis = redis_in(&dir, &[]);
    let mut r = redis.conn();
    wait_loaded(&mut r);
    assert_eq!(text(&digest(&mut r)), text(&expect));
}

#[test]
fn keel_aof_without_preamble_loads_into_redis() {
    keel_to_redis("aof-keel-plain", &["--aof-use-rdb-preamble", "no"], false);
}

#[test]
fn keel_aof_with_preamble_loads_into_redis() {
    keel_to_redis("aof-keel-preamble", &[], false);
}

#[test]
fn keel_aof_after_rewrites_loads_into_redis() {
    keel_to_redis(
        "aof-keel-rewrite-plain",
        &["--aof-use-rdb-preamble", "no"],
        true,
    );
    keel_to_redis("aof-keel-rewrite-preamble", &[], true);
}

fn redis_to_keel(tag: &str, extra: &[&str], rewrite: bool) {
    if !require_redis_or_skip() {
        return;
    }
    let dir = scratch_dir(tag);
    let expect;
    {
        let mut redis = redis_in(&dir, extra);
        let mut r = redis.conn();
        fill(&mut r);
        if rewrite {
            assert_eq!(r.cmds("DEBUG POPULATE 20000 pop 50"), b"+OK\r\n");
            r.cmds("BGREWRITEAOF");
            wait_rewrite(&mut r);
            r.cmds("SET after-rewrite 1");
        }
        expect = digest(&mut r);
        shut_down(&mut redis, &mut r);
    }
    let mut keel = keel_in(&dir, extra);
    let mut c = keel.conn();
    wait_loaded(&mut c);
    assert_eq!(text(&digest(&mut c)), text(&expect));
    // keel appends to redis-server's files, and they still load.
    c.cmds("SET from-keel 1");
    let expect = digest(&mut c);
    shut_down(&mut keel, &mut c);
    check_aof(&dir);
    let keel = keel_in(&dir, extra);
    let mut c = keel.conn();
    wait_loaded(&mut c);
    assert_eq!(text(&digest(&mut c)), text(&expect));
}

#[test]
fn redis_aof_loads_into_keel() {
    redis_to_keel("aof-redis-preamble", &[], true);
    redis_to_keel("aof-redis-plain", &["--aof-use-rdb-preamble", "no"], true);
    redis_to_keel("aof-redis-incr-only", &[], false);
}

/// A real kill -9 under `appendfsync always` with clients writing: every write that
/// was acknowledged is there after the restart.
#[test]
fn kill_9_under_always_keeps_every_acknowledged_write() {
    let dir = scratch_dir("aof-kill9");
    let keel = keel_in(&dir, &["--appendfsync", "always"]);
    wait_loaded(&mut keel.conn());
    let port = keel.port;
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let stop = Arc::clone(&stop);
        writers.push(std::thread::spawn(move || {
            let mut c = Conn::connect(port);
            let mut acked: u64 = 0;
            // Each writer bumps its own counter and sets one key per write; a write
            // is acknowledged when its reply arrived.
            while !stop.load(Ordering::Relaxed) {
                let next = acked + 1;
                // The kill can land between two writes: a failed write ends the writer.
                let batch = [
                    common::encode_line(&format!("SET w{w}:{next} {next}")),
                    common::encode_line(&format!("INCR counter:{w}")),
                ]
                .concat();
                if std::io::Write::write_all(&mut c.stream, &batch).is_err() {
                    break;
                }
                match (c.try_read_reply(), c.try_read_reply()) {
                    (Some(a), Some(b)) if a == b"+OK\r\n" && b.starts_with(b":") => acked = next,
                    _ => break,
                }
            }
            (w, acked)
        }));
    }
    std::thread::sleep(Duration::from_millis(1500));
    // SIGKILL while the writers are mid-flight.
    let pid = keel.pid();
    let status = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(u64, u64)> = writers.into_iter().map(|h| h.join().unwrap()).collect();
    drop(keel);
    assert!(
        acked.iter().all(|&(_, n)| n > 10),
        "writers made progress: {acked:?}"
    );
    let keel = keel_in(&dir, &["--appendfsync", "always"]);
    let mut c = keel.conn();
    wait_loaded(&mut c);
    for (w, n) in acked {
        let counter = text(&c.cmds(&format!("GET counter:{w}")));
        let value: u64 = counter
            .lines()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        assert!(
            value >= n,
            "writer {w}: {n} acknowledged, {value} after restart"
        );
        let mut pipeline = Vec::new();
        for i in 1..=n {
            pipeline.extend(common::encode_line(&format!("GET w{w}:{i}")));
        }
        c.send_raw(&pipeline);
        for i in 1..=n {
            let got = text(&c.read_reply());
            assert_eq!(
                got,
                format!("${}\r\n{i}\r\n", i.to_string().len()),
                "writer {w} key {i}"
            );
        }
    }
}

/// The files in `dir/appendonlydir`, sorted.
fn aof_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("appendonlydir"))
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// BGREWRITEAOF with `appendonly no` (twice, the second without the preamble): the
/// same files and manifest as redis-server 7.0 leaves, no temp file, and keel's
/// directory starts redis-server (appendonly yes) on the same dataset.
#[test]
fn bgrewriteaof_with_appendonly_off_writes_what_redis_writes() {
    if !require_redis_or_skip() {
        return;
    }
    let mut seen = Vec::new();
    for server in ["redis", "keel"] {
        let dir = scratch_dir(&format!("aof-off-rewrite-{server}"));
        let off = ["--appendonly", "no"];
        let mut s = if server == "redis" {
            redis_in(&dir, &off)
        } else {
            keel_in(&dir, &off)
        };
        let mut c = s.conn();
        wait_loaded(&mut c);
        fill(&mut c);
        let mut steps = Vec::new();
        for preamble in ["yes", "no"] {
            c.cmds(&format!("CONFIG SET aof-use-rdb-preamble {preamble}"));
            let reply = text(&c.cmds("BGREWRITEAOF"));
            wait_rewrite(&mut c);
            // keel removes the history files (and writes the manifest without them)
            // just after INFO says the rewrite ended; Redis does it before.
            let deadline = Instant::now() + Duration::from_secs(30);
            while aof_files(&dir).iter().any(|f| f.starts_with("temp_"))
                || std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
                    .unwrap_or_default()
                    .contains(" type h")
            {
                assert!(Instant::now() < deadline, "{server}: history never removed");
                std::thread::sleep(Duration::from_millis(10));
            }
            let manifest =
                std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
                    .unwrap_or_default();
            steps.push((reply, aof_files(&dir), manifest));
        }
        let info = text(&c.cmds("INFO persistence"));
        for field in [
            "aof_enabled:0",
            "aof_rewrites:2",
            "aof_last_bgrewrite_status:ok",
        ] {
            assert!(info.contains(field), "{server}: {field} in {info}");
        }
        let temps: Vec<_> = std::fs::read_dir(&dir)
            .expect("dir")
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("temp-"))
            .collect();
        assert!(temps.is_empty(), "{server} left {temps:?}");
        let expect = digest(&mut c);
        shut_down(&mut s, &mut c);
        if server == "keel" {
            check_aof(&dir);
            let redis = redis_in(&dir, &[]);
            let mut r = redis.conn();
            wait_loaded(&mut r);
            assert_eq!(text(&digest(&mut r)), text(&expect));
        }
        seen.push(steps);
    }
    assert_eq!(seen[1], seen[0], "keel's steps, then redis-server's");
}

/// A Redis 6 style single `appendonly.aof` in `dir` — hand-written commands, and an
/// RDB preamble (a redis-server SAVE) followed by commands — is migrated at start as
/// redis-server 7.0 does: the same files, manifest and dataset afterwards.
#[test]
fn an_old_single_file_aof_is_migrated_as_redis_does() {
    if !require_redis_or_skip() {
        return;
    }
    let tail = common::encode_line("SET after-preamble 1");
    let plain = [
        common::encode_line("SELECT 0"),
        common::encode_line("SET a 1"),
        common::encode_line("RPUSH l x y z"),
        common::encode_line("SELECT 2"),
        common::encode_line("SADD s m n"),
        common::encode_line("PEXPIREAT s 99999999999999"),
    ]
    .concat();
    let preamble = {
        let dir = scratch_dir("aof-legacy-source");
        let mut redis = redis_in(&dir, &["--appendonly", "no"]);
        let mut r = redis.conn();
        fill(&mut r);
        assert_eq!(r.cmds("SAVE"), b"+OK\r\n");
        shut_down(&mut redis, &mut r);
        let mut bytes = std::fs::read(dir.join("dump.rdb")).expect("dump.rdb");
        bytes.extend_from_slice(&tail);
        bytes
    };
    for (tag, legacy) in [("plain", plain), ("preamble", preamble)] {
        let mut seen = Vec::new();
        for server in ["redis", "keel"] {
            let dir = scratch_dir(&format!("aof-legacy-{tag}-{server}"));
            std::fs::write(dir.join("appendonly.aof"), &legacy).expect("write");
            let mut s = if server == "redis" {
                redis_in(&dir, &[])
            } else {
                keel_in(&dir, &[])
            };
            let mut c = s.conn();
            wait_loaded(&mut c);
            let d = digest(&mut c);
            shut_down(&mut s, &mut c);
            assert!(!dir.join("appendonly.aof").exists(), "{server} moved it");
            let manifest =
                std::fs::read_to_string(dir.join("appendonlydir/appendonly.aof.manifest"))
                    .unwrap_or_default();
            let moved = std::fs::read(dir.join("appendonlydir/appendonly.aof")).ok();
            assert_eq!(
                moved.as_deref(),
                Some(&legacy[..]),
                "{server}: the base as it was"
            );
            if server == "keel" {
                check_aof(&dir);
            }
            seen.push((text(&d), aof_files(&dir), manifest));
        }
        assert_eq!(seen[1], seen[0], "{tag}: keel, then redis-server");
    }
}

/// Copies `from`'s AOF directory into a fresh scratch dir, the incr file cut to `len`.
fn torn_copy(from: &Path, tag: &str, incr: &str, len: usize) -> std::path::PathBuf {
    let dir = scratch_dir(tag);
    std::fs::create_dir_all(dir.join("appendonlydir")).expect("mkdir");
    for name in aof_files(from) {
        let bytes = std::fs::read(from.join("appendonlydir").join(&name)).expect("read");
        let bytes = if name == incr {
            &bytes[..len]
        } else {
            &bytes[..]
        };
        std::fs::write(dir.join("appendonlydir").join(&name), bytes).expect("write");
    }
    dir
}

/// The incr file's length after `redis-check-aof --fix` (answered yes).
fn fixed_by_redis_check_aof(dir: &Path, incr: &str) -> u64 {
    let mut child = Command::new("redis-check-aof")
        .arg("--fix")
        .arg(dir.join("appendonlydir/appendonly.aof.manifest"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-check-aof runs");
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(b"y\n");
    }
    let out = child.wait_with_output().expect("redis-check-aof ends");
    assert!(out.status.success(), "{}", text(&out.stdout));
    std::fs::metadata(dir.join("appendonlydir").join(incr))
        .expect("incr")
        .len()
}

/// A torn last file (cut anywhere in its last commands, a MULTI/EXEC among them):
/// with `aof-load-truncated yes` keel cuts it exactly where `redis-check-aof --fix`
/// does and serves the dataset redis-server loads from the fixed file; with
/// `aof-load-truncated no` it refuses to start with Redis 7.0.15's line.
#[test]
fn a_torn_tail_is_cut_where_redis_check_aof_fix_cuts_it() {
    if !require_redis_or_skip() {
        return;
    }
    let incr = "appendonly.aof.1.incr.aof";
    let source = scratch_dir("aof-torn-source");
    {
        let mut keel = keel_in(&source, &[]);
        let mut c = keel.conn();
        wait_loaded(&mut c);
        for line in [
            "SET a 1",
            "RPUSH l x y",
            "MULTI",
            "INCR n",
            "SET inside 1",
            "EXEC",
            "SET last value",
        ] {
            c.cmds(line);
        }
        shut_down(&mut keel, &mut c);
    }
    let full = std::fs::read(source.join("appendonlydir").join(incr)).expect("incr");
    let tail_start = full.len().saturating_sub(200);
    let cuts: Vec<usize> = (tail_start..full.len()).step_by(13).collect();
    assert!(cuts.len() >= 10);
    for (i, &cut) in cuts.iter().enumerate() {
        let fixed = torn_copy(&source, &format!("aof-torn-{i}-fixed"), incr, cut);
        let expect_len = fixed_by_redis_check_aof(&fixed, incr);
        let redis = redis_in(&fixed, &[]);
        let mut r = redis.conn();
        wait_loaded(&mut r);
        let expect_digest = digest(&mut r);
        drop(r);
        drop(redis);
        let torn = torn_copy(&source, &format!("aof-torn-{i}-keel"), incr, cut);
        let mut keel = keel_in(&torn, &["--aof-load-truncated", "yes"]);
        let mut c = keel.conn();
        wait_loaded(&mut c);
        assert_eq!(
            text(&digest(&mut c)),
            text(&expect_digest),
            "cut at {cut} of {}",
            full.len()
        );
        shut_down(&mut keel, &mut c);
        let keel_len = std::fs::metadata(torn.join("appendonlydir").join(incr))
            .expect("incr")
            .len();
        assert_eq!(keel_len, expect_len, "cut at {cut} of {}", full.len());
    }
    // aof-load-truncated no: exit 1 with Redis's line, the file untouched.
    let cut = full.len() - 3;
    let torn = torn_copy(&source, "aof-torn-refused", incr, cut);
    let mut args = dir_args(&torn, &["--aof-load-truncated", "no"]);
    args.extend(["--port".into(), common::free_port().to_string()]);
    let out = Command::new(keel_bin())
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .expect("keel-server runs");
    assert_eq!(out.status.code(), Some(1));
    let log = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(
        log.contains("Unexpected end of file reading the append only file appendonly.aof.1.incr.aof. You can: 1) Make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>. 2) Alternatively you can set the 'aof-load-truncated' configuration option to yes and restart the server."),
        "{log}"
    );
    assert_eq!(
        std::fs::read(torn.join("appendonlydir").join(incr)).expect("incr"),
        full[..cut]
    );
    // A bad byte inside the last file (not a torn tail): both refuse to start, with
    // the same line, whatever aof-load-truncated says; the file is left as it was.
    let mut corrupt = full.clone();
    let at = full.len() / 2
        + full[full.len() / 2..]
            .iter()
            .position(|&b| b == b'*')
            .expect("a command starts after the middle");
    corrupt[at] = b'X';
    let line = "Bad file format reading the append only file appendonly.aof.1.incr.aof: make a backup of your AOF file, then use ./redis-check-aof --fix <filename.manifest>";
    for server in ["redis-server", keel_bin()] {
        let dir = torn_copy(&source, "aof-corrupt-middle", incr, full.len());
        std::fs::write(dir.join("appendonlydir").join(incr), &corrupt).expect("write");
        let mut args = dir_args(&dir, &[]);
        args.extend(["--port".into(), common::free_port().to_string()]);
        args.extend([
            "--logfile".into(),
            dir.join("server.log").display().to_string(),
        ]);
        let out = Command::new(server)
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("the server runs");
        assert_eq!(out.status.code(), Some(1), "{server}");
        let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
        assert!(log.contains(line), "{server}: {log}");
        assert_eq!(
            std::fs::read(dir.join("appendonlydir").join(incr)).expect("incr"),
            corrupt,
            "{server}"
        );
    }
}
