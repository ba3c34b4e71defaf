//! The operator's commands against a real redis-server 7.0: SLOWLOG (shapes, argument
//! truncation, redaction), LATENCY (help, empty and populated shapes, DOCTOR, the
//! HISTOGRAM format), INFO (every section's field names, and the deterministic counters
//! of commandstats and errorstats after the same script), MONITOR (the line format,
//! MULTI/EXEC, what is hidden), and the Python `redis` package parsing every INFO
//! section. Durations, timestamps, ids and addresses are masked: nothing here times.

mod common;

use common::{decoded, escape, Conn, Pair, Server};
use keel_core::resp::Value;

fn pair_with(args: &[&str]) -> Pair {
    Pair {
        redis: Server::redis(args),
        keel: Server::keel(args),
    }
}

/// Sends `line` to both and returns both replies.
fn both(r: &mut Conn, k: &mut Conn, line: &str) -> (Vec<u8>, Vec<u8>) {
    (r.cmds(line), k.cmds(line))
}

fn same(r: &mut Conn, k: &mut Conn, line: &str) {
    let (want, got) = both(r, k, line);
    assert_eq!(escape(&want), escape(&got), "reply to {line:?}");
}

/// A SLOWLOG GET entry with id, time, duration and the client's port masked.
fn masked_slowlog(reply: &[u8]) -> Vec<String> {
    let Value::Array(entries) = decoded(reply) else {
        panic!("SLOWLOG GET is no array: {}", escape(reply));
    };
    entries
        .iter()
        .map(|e| {
            let Value::Array(fields) = e else {
                panic!("entry is no array: {e:?}")
            };
            assert_eq!(fields.len(), 6, "entry {e:?}");
            assert!(
                matches!(fields[..3], [Value::Int(_), Value::Int(_), Value::Int(_)]),
                "{e:?}"
            );
            let Value::Array(args) = &fields[3] else {
                panic!("argv is no array: {e:?}")
            };
            let args: Vec<String> = args
                .iter()
                .map(|a| match a {
                    Value::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
                    other => panic!("argument {other:?}"),
                })
                .collect();
            let Value::Bulk(peer) = &fields[4] else {
                panic!("peer {e:?}")
            };
            assert!(peer.starts_with(b"127.0.0.1:"), "peer {e:?}");
            format!("{args:?} name={:?}", fields[5])
        })
        .collect()
}

#[test]
fn slowlog_matches_redis() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = pair_with(&["--slowlog-log-slower-than", "0"]);
    let (mut r, mut k) = pair.fresh();
    same(&mut r, &mut k, "SLOWLOG HELP");
    same(&mut r, &mut k, "SLOWLOG RESET");
    same(&mut r, &mut k, "SLOWLOG LEN");
    same(&mut r, &mut k, "SET k v");
    same(&mut r, &mut k, "CLIENT SETNAME tester");
    // 40 arguments: 31 kept, the 32nd says how many more.
    let many: Vec<String> = (0..39).map(|i| format!("e{i}")).collect();
    same(&mut r, &mut k, &format!("RPUSH l {}", many.join(" ")));
    // Exactly 32 arguments stay whole.
    let exact: Vec<String> = (0..31).map(|i| format!("f{i}")).collect();
    same(&mut r, &mut k, &format!("RPUSH l {}", exact.join(" ")));
    // 128 bytes stay, 129 are cut.
    same(&mut r, &mut k, &format!("SET big {}", "x".repeat(128)));
    same(&mut r, &mut k, &format!("SET big {}", "y".repeat(300)));
    same(&mut r, &mut k, "MULTI");
    same(&mut r, &mut k, "INCR n");
    same(&mut r, &mut k, "EXEC");
    same(&mut r, &mut k, "AUTH secret");
    same(&mut r, &mut k, "AUTH user secret");
    same(&mut r, &mut k, "GET");
    same(&mut r, &mut k, "NOSUCHCOMMAND");
    let (want, got) = both(&mut r, &mut k, "SLOWLOG GET -1");
    assert_eq!(masked_slowlog(&want), masked_slowlog(&got));
    let (want, got) = both(&mut r, &mut k, "SLOWLOG GET 2");
    assert_eq!(masked_slowlog(&want), masked_slowlog(&got));
    let (want, got) = both(&mut r, &mut k, "SLOWLOG GET");
    assert_eq!(masked_slowlog(&want), masked_slowlog(&got));
    for line in [
        "SLOWLOG LEN",
        "SLOWLOG GET abc",
        "SLOWLOG GET -2",
        "SLOWLOG GET 1 2",
        "SLOWLOG NOPE",
        "SLOWLOG",
        "SLOWLOG LEN x",
        "CONFIG SET slowlog-max-len 3",
        "SET after max",
        "SLOWLOG LEN",
        "SLOWLOG RESET",
        "SLOWLOG LEN",
        "CONFIG SET slowlog-log-slower-than -1",
        "SET not logged",
        "SLOWLOG LEN",
    ] {
        same(&mut r, &mut k, line);
    }
    let (want, got) = both(&mut r, &mut k, "SLOWLOG GET 0");
    assert_eq!(masked_slowlog(&want), masked_slowlog(&got));
}

/// Every integer in a reply replaced by 0 (latencies, times, bucket bounds).
fn ints_masked(v: &Value) -> Value {
    match v {
        Value::Int(_) => Value::Int(0),
        Value::Array(items) => Value::Array(items.iter().map(ints_masked).collect()),
        Value::Map(pairs) => Value::Map(
            pairs
                .iter()
                .map(|(a, b)| (ints_masked(a), ints_masked(b)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn latency_matches_redis() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = pair_with(&["--enable-debug-command", "yes"]);
    let (mut r, mut k) = pair.fresh();
    for line in [
        "LATENCY HELP",
        "LATENCY LATEST",
        "LATENCY HISTORY command",
        "LATENCY RESET",
        "LATENCY RESET command nosuch",
        "LATENCY DOCTOR",
        "LATENCY GRAPH command",
        "LATENCY NOPE",
        "LATENCY HISTORY",
        "LATENCY GRAPH a b",
        "CONFIG SET latency-monitor-threshold 1000000",
        "LATENCY DOCTOR",
        "LATENCY HISTOGRAM nosuch",
    ] {
        same(&mut r, &mut k, line);
    }
    // One call: one bucket, whatever it took.
    for resp in ["2", "3"] {
        let hello = format!("HELLO {resp}");
        let _ = both(&mut r, &mut k, &hello);
        same(&mut r, &mut k, "CONFIG RESETSTAT");
        let _ = both(&mut r, &mut k, "SET a 1");
        let (want, got) = both(&mut r, &mut k, "LATENCY HISTOGRAM set nosuch SET");
        assert_eq!(
            ints_masked(&decoded(&want)),
            ints_masked(&decoded(&got)),
            "RESP{resp}: {} / {}",
            escape(&want),
            escape(&got)
        );
    }
    let _ = both(&mut r, &mut k, "HELLO 2");
    // A spike: a command far over a 1 ms threshold on any machine.
    same(&mut r, &mut k, "CONFIG SET latency-monitor-threshold 1");
    same(&mut r, &mut k, "DEBUG POPULATE 300000");
    let (want, got) = both(&mut r, &mut k, "LATENCY HISTORY command");
    for reply in [&want, &got] {
        let Value::Array(samples) = decoded(reply) else {
            panic!("{}", escape(reply))
        };
        assert!(!samples.is_empty(), "{}", escape(reply));
        for s in samples {
            assert_eq!(ints_masked(&s), Value::Array(vec![Value::Int(0); 2]));
        }
    }
    let (want, got) = both(&mut r, &mut k, "LATENCY LATEST");
    for reply in [&want, &got] {
        let Value::Array(events) = ints_masked(&decoded(reply)) else {
            panic!("{}", escape(reply))
        };
        assert!(
            events.contains(&Value::Array(vec![
                Value::Bulk(b"command".to_vec()),
                Value::Int(0),
                Value::Int(0),
                Value::Int(0),
            ])),
            "{}",
            escape(reply)
        );
    }
    let (want, got) = both(&mut r, &mut k, "LATENCY GRAPH command");
    for reply in [&want, &got] {
        let Value::Bulk(text) = decoded(reply) else {
            panic!("{}", escape(reply))
        };
        assert!(text.starts_with(b"command - high "), "{}", escape(reply));
    }
    let (want, got) = both(&mut r, &mut k, "LATENCY DOCTOR");
    for reply in [&want, &got] {
        assert!(
            String::from_utf8_lossy(reply).contains("1. command: "),
            "{}",
            escape(reply)
        );
    }
    same(&mut r, &mut k, "LATENCY RESET command");
    same(&mut r, &mut k, "LATENCY HISTORY command");
}

/// INFO's field names in order (dynamic families kept by prefix only).
fn field_names(reply: &[u8], keep_dynamic: bool) -> Vec<String> {
    let Value::Bulk(text) = decoded(reply) else {
        panic!("INFO is no bulk: {}", escape(reply))
    };
    String::from_utf8_lossy(&text)
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.split(':').next().unwrap_or("").to_string())
        .filter(|name| {
            keep_dynamic
                || !(name.starts_with("cmdstat_")
                    || name.starts_with("errorstat_")
                    || name.starts_with("latency_percentiles_usec_")
                    || (name.starts_with("db") && name[2..].parse::<u32>().is_ok()))
        })
        .collect()
}

/// The lines of an INFO section, sorted, with `mask` applied to each.
fn info_lines(reply: &[u8], mask: impl Fn(&str) -> String) -> Vec<String> {
    let Value::Bulk(text) = decoded(reply) else {
        panic!("INFO is no bulk: {}", escape(reply))
    };
    let mut lines: Vec<String> = String::from_utf8_lossy(&text)
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(mask)
        .collect();
    lines.sort();
    lines
}

#[test]
fn info_has_redis_sections_and_fields() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    let (mut r, mut k) = pair.fresh();
    let _ = both(&mut r, &mut k, "SET a 1");
    let mut missing = Vec::new();
    for sections in [
        "",
        "default",
        "all",
        "everything",
        "server",
        "clients",
        "memory",
        "persistence",
        "stats",
        "replication",
        "cpu",
        "modules",
        "commandstats",
        "errorstats",
        "latencystats",
        "cluster",
        "keyspace",
        "SERVER Clients",
        "cpu default",
        "nosuchsection",
        "keyspace nosuch cluster",
    ] {
        let line = format!("INFO {sections}");
        let (want, got) = both(&mut r, &mut k, line.trim());
        let (want, got) = (field_names(&want, false), field_names(&got, false));
        for name in &want {
            if !got.contains(name) {
                missing.push(format!("{sections}: {name}"));
            }
        }
        assert_eq!(want, got, "field names of {line:?}");
    }
    assert!(missing.is_empty(), "keel lacks {missing:?}");
    let (want, got) = both(&mut r, &mut k, "INFO everything");
    let (want, got) = (field_names(&want, true), field_names(&got, true));
    assert_eq!(want.len(), got.len(), "INFO everything field count");
}

#[test]
fn commandstats_and_errorstats_count_as_redis() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    let (mut r, mut k) = pair.fresh();
    for line in [
        "CONFIG RESETSTAT",
        "SET a 1",
        "GET a",
        "LPUSH a x",
        "GET",
        "NOSUCH x",
        "CONFIG GET maxmemory",
        "CONFIG NOPE",
        "CONFIG",
        "MULTI",
        "INCR a",
        "LPUSH a y",
        "EXEC",
        "MULTI",
        "GET a b",
        "EXEC",
        "EXEC",
        "BLPOP nolist 0.01",
        "INCR a",
        "HSET h f",
        "SUBSCRIBE ch",
    ] {
        let (want, got) = both(&mut r, &mut k, line);
        // SUBSCRIBE's reply is the same shape; the rest exact.
        assert_eq!(escape(&want), escape(&got), "reply to {line:?}");
    }
    let _ = both(&mut r, &mut k, "UNSUBSCRIBE");
    let counters = |l: &str| {
        // cmdstat_x:calls=N,usec=U,usec_per_call=P,rejected_calls=R,failed_calls=F
        match l.split_once(':') {
            Some((name, fields)) if name.starts_with("cmdstat_") => {
                let kept: Vec<&str> = fields
                    .split(',')
                    .filter(|f| !f.starts_with("usec"))
                    .collect();
                format!("{name}:{}", kept.join(","))
            }
            _ => l.to_string(),
        }
    };
    let (want, got) = both(&mut r, &mut k, "INFO commandstats");
    assert_eq!(info_lines(&want, counters), info_lines(&got, counters));
    same(&mut r, &mut k, "INFO errorstats");
    let (want, got) = both(&mut r, &mut k, "INFO stats");
    let errors = |reply: &[u8]| {
        info_lines(reply, str::to_string)
            .into_iter()
            .filter(|l| l.contains("error_replies"))
            .collect::<Vec<_>>()
    };
    assert_eq!(errors(&want), errors(&got));
    let (want, got) = both(&mut r, &mut k, "INFO latencystats");
    let names = |reply: &[u8]| {
        info_lines(reply, |l| {
            let (name, values) = l.split_once(':').unwrap_or((l, ""));
            let percentiles: Vec<&str> = values
                .split(',')
                .map(|p| p.split('=').next().unwrap_or(""))
                .collect();
            format!("{name}:{percentiles:?}")
        })
    };
    assert_eq!(names(&want), names(&got));
}

/// A MONITOR line as `[db] args`, after checking the timestamp and the address.
fn monitor_line(line: &[u8]) -> String {
    let text = String::from_utf8_lossy(line).into_owned();
    let rest = text
        .strip_prefix('+')
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    let (stamp, rest) = rest.split_once(' ').expect("timestamp");
    let (secs, micros) = stamp.split_once('.').expect("secs.micros");
    assert!(
        secs.len() >= 10 && secs.bytes().all(|b| b.is_ascii_digit()),
        "{text:?}"
    );
    assert!(
        micros.len() == 6 && micros.bytes().all(|b| b.is_ascii_digit()),
        "{text:?}"
    );
    let rest = rest.strip_prefix('[').expect("[");
    let (db, rest) = rest.split_once(' ').expect("db");
    let (addr, args) = rest.split_once("] ").expect("addr");
    let (host, port) = addr.rsplit_once(':').expect("host:port");
    assert_eq!(host, "127.0.0.1", "{text:?}");
    assert!(port.parse::<u16>().is_ok(), "{text:?}");
    format!("[{db}] {}", args.trim_end_matches("\r\n"))
}

#[test]
fn monitor_lines_match_redis() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    let (mut r, mut k) = pair.fresh();
    let (mut rm, mut km) = pair.conns();
    same(&mut rm, &mut km, "MONITOR");
    let script: Vec<Vec<Vec<u8>>> = vec![
        common::s("SET a 1"),
        common::s("GET a"),
        vec![
            b"SET".to_vec(),
            b"with space".to_vec(),
            b"quo\"te\\ \r\n\t\x01\xff".to_vec(),
        ],
        common::s("MULTI"),
        common::s("SET b 2"),
        common::s("INCR b"),
        common::s("EXEC"),
        common::s("AUTH secret"),
        common::s("HELLO 2 AUTH user pass"),
        common::s("CONFIG GET maxmemory"),
        common::s("DEBUG HELP"),
        common::s("GET"),
        common::s("NOSUCH"),
        common::s("SELECT 2"),
        common::s("SET c 3"),
        common::s("LPUSH c x"),
        common::s("SELECT 0"),
        common::s("PING end"),
    ];
    for cmd in &script {
        let (want, got) = (r.cmdv(cmd), k.cmdv(cmd));
        assert_eq!(escape(&want), escape(&got), "reply to {cmd:?}");
    }
    let read_until_end = |m: &mut Conn| {
        let mut lines = Vec::new();
        loop {
            let line = monitor_line(&m.read_reply());
            let done = line.ends_with("\"PING\" \"end\"");
            lines.push(line);
            if done {
                return lines;
            }
        }
    };
    let (want, got) = (read_until_end(&mut rm), read_until_end(&mut km));
    assert_eq!(want, got);
    // A RESET ends monitoring; the connection then gets plain replies only.
    same(&mut rm, &mut km, "RESET");
    let _ = both(&mut r, &mut k, "SET after reset");
    same(&mut rm, &mut km, "PING");
}

#[test]
fn python_redis_parses_every_info_section() {
    let python_redis = std::process::Command::new("python3")
        .args(["-c", "import redis"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !python_redis {
        eprintln!("skipping: python3 with the redis package is not available");
        return;
    }
    let keel = Server::keel(&[]);
    let script = format!(
        r#"
import redis
r = redis.Redis(port={port})
r.set("a", 1)
r.lpush("l", 1)
try:
    r.incr("l")
except redis.ResponseError:
    pass
sections = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu",
            "modules", "commandstats", "errorstats", "latencystats", "cluster",
            "keyspace", "default", "all", "everything"]
for s in sections:
    info = r.info(s)
    assert isinstance(info, dict), s
everything = r.info("everything")
assert everything["redis_version"].startswith("7."), everything["redis_version"]
assert everything["cmdstat_set"]["calls"] == 1, everything["cmdstat_set"]
assert everything["errorstat_WRONGTYPE"]["count"] == 1
assert "p50" in everything["latency_percentiles_usec_set"]
assert everything["db0"]["keys"] == 2
print(len(everything))
"#,
        port = keel.port
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "python redis info() failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
