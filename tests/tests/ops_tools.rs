//! Real operator tools against keel: `redis-cli --stat` (INFO polled every interval)
//! and `redis-cli --latency` (PINGs timed) run for a couple of seconds and print what
//! they print against redis-server, without an error. Nothing here asserts a timing.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::Server;

/// Runs `redis-cli` with `args` against `port` for `run_for` (then kills it, as an
/// operator's Ctrl-C), or until it exits; returns (stdout, stderr).
fn run_cli(port: u16, args: &[&str], run_for: Duration) -> (String, String) {
    // stdbuf: redis-cli's stdout is a pipe here, so it would hold its lines in a buffer
    // the kill throws away.
    let mut child = Command::new("stdbuf")
        .arg("-oL")
        .arg("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn redis-cli");
    let deadline = Instant::now() + run_for;
    while Instant::now() < deadline {
        if child.try_wait().expect("try_wait").is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let mut out = String::new();
    let mut err = String::new();
    if let Some(mut s) = child.stdout.take() {
        let _ = s.read_to_string(&mut out);
    }
    if let Some(mut s) = child.stderr.take() {
        let _ = s.read_to_string(&mut err);
    }
    (out, err)
}

fn tools_available() -> bool {
    let stdbuf = Command::new("stdbuf")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !(common::redis_cli_available() && stdbuf) {
        eprintln!("skipping: redis-cli or stdbuf is not available");
        return false;
    }
    true
}

#[test]
fn redis_cli_stat_reads_keel() {
    if !tools_available() {
        return;
    }
    let keel = Server::keel(&[]);
    let mut c = keel.conn();
    assert_eq!(c.cmds("SET a 1"), b"+OK\r\n");
    let (out, err) = run_cli(keel.port, &["--stat", "-i", "0.2"], Duration::from_secs(2));
    assert!(err.trim().is_empty(), "stderr: {err}");
    assert!(!out.contains("ERR") && !out.contains("rror"), "{out}");
    let mut lines = out.lines();
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("------- data ------")),
        "{out}"
    );
    // keys, mem, clients, blocked, requests (+delta), connections: one row per poll.
    let rows: Vec<&str> = lines
        .filter(|l| l.split_whitespace().next().is_some_and(|w| w == "1"))
        .collect();
    assert!(rows.len() >= 2, "fewer than two rows in two seconds: {out}");
    for row in rows {
        let words: Vec<&str> = row.split_whitespace().collect();
        assert!(words.len() >= 6, "{row}");
        assert!(
            words[1].ends_with('K') || words[1].ends_with('M'),
            "mem: {row}"
        );
        assert!(words[4].parse::<u64>().is_ok(), "requests: {row}");
        assert!(words[5].starts_with("(+"), "delta: {row}");
    }
}

#[test]
fn redis_cli_latency_reads_keel() {
    if !tools_available() {
        return;
    }
    let keel = Server::keel(&[]);
    // Not on a terminal, --latency samples for a while and prints one summary line:
    // "min max avg samples".
    let (out, err) = run_cli(keel.port, &["--latency"], Duration::from_secs(10));
    assert!(err.trim().is_empty(), "stderr: {err}");
    let line = out.lines().last().unwrap_or("");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words.len(), 4, "{out}");
    assert!(words[0].parse::<u64>().is_ok(), "{out}");
    assert!(words[1].parse::<u64>().is_ok(), "{out}");
    assert!(words[2].parse::<f64>().is_ok(), "{out}");
    assert!(words[3].parse::<u64>().is_ok_and(|n| n > 0), "{out}");
    // And --latency-history: one line per interval, each with its sample count.
    let (out, err) = run_cli(
        keel.port,
        &["--latency-history", "-i", "1"],
        Duration::from_secs(3),
    );
    assert!(err.trim().is_empty(), "stderr: {err}");
    assert!(!out.contains("rror"), "{out}");
    assert!(
        out.lines().any(|l| l
            .split_whitespace()
            .filter_map(|w| w.parse::<f64>().ok())
            .count()
            == 4),
        "{out}"
    );
}
