//! MEMORY against a real redis-server: the replies whose bytes are Redis's (HELP, errors,
//! a missing key, PURGE, DOCTOR on a small instance) must match byte for byte; the
//! figures (USAGE, STATS) are keel's own accounting, so those are compared by shape —
//! the same reply types and the same field names in the same order — and judged by what
//! must hold of any honest figure (a key grows when its value grows, and shrinks back).

mod common;

use common::{Pair, Server};

fn pair() -> Pair {
    Pair {
        redis: Server::redis(&[]),
        keel: Server::keel(&[]),
    }
}

/// The field names of a RESP2 MEMORY STATS reply (a flat name/value array whose `db.N`
/// values are name/value arrays themselves), in order.
fn field_names(reply: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(reply);
    let mut names = Vec::new();
    let mut lines = text.split("\r\n").peekable();
    // Skip the outer header; then names are the bulks at even positions of each map.
    lines.next();
    let mut expect_name = true;
    while let Some(line) = lines.next() {
        if let Some(_len) = line.strip_prefix('$') {
            let body = lines.next().unwrap_or_default();
            if expect_name {
                names.push(body.to_string());
                expect_name = false;
            } else {
                expect_name = true;
            }
        } else if line.starts_with(':') {
            expect_name = true;
        } else if line.starts_with('*') {
            // A nested map (db.N): its names are read as names too.
            expect_name = true;
        }
    }
    names
}

#[test]
fn memory_replies_match_redis() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = pair();
    let (mut r, mut k) = pair.fresh();
    for line in [
        "MEMORY HELP",
        "MEMORY",
        "MEMORY FOO",
        "MEMORY USAGE",
        "MEMORY USAGE missing",
        "SET foo bar",
        "MEMORY USAGE foo SAMPLES",
        "MEMORY USAGE foo SAMPLES -1",
        "MEMORY USAGE foo SAMPLES x",
        "MEMORY USAGE foo bar 1",
        "MEMORY USAGE missing SAMPLES x",
        "MEMORY USAGE missing SAMPLES 5",
        "MEMORY PURGE",
        "MEMORY PURGE x",
        "MEMORY DOCTOR",
        "MEMORY STATS x",
    ] {
        let (want, got) = (r.cmds(line), k.cmds(line));
        assert_eq!(
            common::escape(&want),
            common::escape(&got),
            "after {line:?}"
        );
    }
    // Figures are keel's, the shape is Redis's.
    for line in ["MEMORY USAGE foo", "MEMORY USAGE foo SAMPLES 0"] {
        let (want, got) = (r.cmds(line), k.cmds(line));
        assert_eq!(want.first(), Some(&b':'), "{line}");
        assert_eq!(got.first(), Some(&b':'), "{line}");
    }
    let (want, got) = (r.cmds("MEMORY STATS"), k.cmds("MEMORY STATS"));
    assert_eq!(field_names(&want), field_names(&got));
    assert!(field_names(&got).contains(&"keys.bytes-per-key".to_string()));
}

fn usage(conn: &mut common::Conn, key: &str) -> i64 {
    let reply = conn.cmds(&format!("MEMORY USAGE {key}"));
    let text = String::from_utf8_lossy(&reply);
    text.trim()
        .strip_prefix(':')
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("MEMORY USAGE {key}: {text:?}"))
}

#[test]
fn memory_usage_follows_the_value() {
    let keel = Server::keel(&[]);
    let mut k = keel.conn();
    k.cmds("SET s x");
    let small = usage(&mut k, "s");
    k.cmds(&format!("SET s {}", "y".repeat(10_000)));
    let big = usage(&mut k, "s");
    assert!(big >= small + 10_000, "{small} -> {big}");
    k.cmds("SET s x");
    assert_eq!(usage(&mut k, "s"), small);
    for i in 0..1000 {
        k.cmds(&format!("RPUSH l {i:04}"));
    }
    let list = usage(&mut k, "l");
    // Digit strings are packed two digits a byte.
    assert!(list >= 2000, "a 1000-element list of 4-digit items: {list}");
    let stats = k.cmds("MEMORY STATS");
    assert!(field_names(&stats).contains(&"db.0".to_string()));
}
