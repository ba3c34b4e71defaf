//! Resource guards over real sockets: for each family of commands that build big
//! replies, a client that pipelines them and never reads must be disconnected at the
//! configured `client-output-buffer-limit`, with the server's peak RSS bounded near
//! that limit, the rest of its pipeline left unrun, and the server still serving.
//!
//! Each case runs against keel and, when installed, against a real redis-server, so
//! the test's premise (Redis behaves so) is checked too.

mod common;

use std::time::{Duration, Instant};

use common::{Conn, Server};

/// The hard limit the servers run with, and the bound on how far the peak RSS may
/// rise while the hog runs: the limit, what the driver and kernel hold, one reply in
/// flight, allocator slack. Without the limit each case would build ~500 MB.
const HARD_LIMIT_BYTES: u64 = 32 << 20;
const PEAK_RISE_MAX_BYTES: u64 = 3 * HARD_LIMIT_BYTES + (16 << 20);
/// Commands the hog pipelines; each reply is about 1 MB.
const PIPELINED_COMMANDS: usize = 500;

/// A family: how to fill the dataset (about 1 MB under one key) and the command whose
/// reply is that megabyte.
struct Family {
    name: &'static str,
    setup: fn(&mut Conn),
    command: &'static str,
    /// Run as a RESP3 client subscribed to a channel (the pubsub class).
    resp3_subscriber: bool,
}

fn element(i: usize) -> Vec<u8> {
    let mut e = format!("{i:08}").into_bytes();
    e.resize(1000, b'e');
    e
}

/// Sends one command with many arguments built from `elements`.
fn fill(c: &mut Conn, head: &[&[u8]], per_element: impl Fn(usize) -> Vec<Vec<u8>>) {
    let mut args: Vec<Vec<u8>> = head.iter().map(|a| a.to_vec()).collect();
    for i in 0..1000 {
        args.extend(per_element(i));
    }
    let reply = c.cmdv(&args);
    assert!(
        !reply.starts_with(b"-"),
        "setup {:?}: {}",
        String::from_utf8_lossy(head[0]),
        common::escape(&reply)
    );
}

const FAMILIES: &[Family] = &[
    Family {
        name: "string",
        setup: |c| {
            let v = vec![b'v'; 1 << 20];
            c.cmd(&[b"SET", b"big", &v]);
        },
        command: "GET big",
        resp3_subscriber: false,
    },
    Family {
        name: "list",
        setup: |c| fill(c, &[b"RPUSH", b"l"], |i| vec![element(i)]),
        command: "LRANGE l 0 -1",
        resp3_subscriber: false,
    },
    Family {
        name: "hash",
        setup: |c| fill(c, &[b"HSET", b"h"], |i| vec![element(i), element(i)]),
        command: "HGETALL h",
        resp3_subscriber: false,
    },
    Family {
        name: "set",
        setup: |c| fill(c, &[b"SADD", b"s"], |i| vec![element(i)]),
        command: "SMEMBERS s",
        resp3_subscriber: false,
    },
    Family {
        name: "sorted set",
        setup: |c| {
            fill(c, &[b"ZADD", b"z"], |i| {
                vec![i.to_string().into_bytes(), element(i)]
            })
        },
        command: "ZRANGE z 0 -1 WITHSCORES",
        resp3_subscriber: false,
    },
    Family {
        name: "sort",
        setup: |c| fill(c, &[b"RPUSH", b"l"], |i| vec![element(i)]),
        command: "SORT l ALPHA",
        resp3_subscriber: false,
    },
    Family {
        name: "keys",
        setup: |c| {
            let reply = c.cmds("DEBUG POPULATE 20000 a-key-name-long-enough-to-make-a-big-reply");
            assert_eq!(reply, b"+OK\r\n");
        },
        command: "KEYS *",
        resp3_subscriber: false,
    },
    Family {
        name: "resp3 subscriber",
        setup: |c| {
            let v = vec![b'v'; 1 << 20];
            c.cmd(&[b"SET", b"big", &v]);
        },
        command: "GET big",
        resp3_subscriber: true,
    },
];

/// Peak and current resident set size of a process, from /proc (bytes).
fn rss_of(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

fn client_gone(control: &mut Conn, name: &str) -> bool {
    let list = String::from_utf8_lossy(&control.cmds("CLIENT LIST")).into_owned();
    !list.contains(&format!("name={name} "))
}

fn run_case(server: &Server, family: &Family) {
    let label = format!("{} / {}", server.name, family.name);
    let mut control = server.conn();
    (family.setup)(&mut control);
    // Let the setup's own buffers settle before taking the baseline.
    control.cmds("PING");
    let (_, rss_before) = rss_of(server.pid());
    let mut hog = server.conn();
    // Named (and read) before the pipeline, so "gone from CLIENT LIST" means closed.
    assert_eq!(hog.cmds("CLIENT SETNAME hog"), b"+OK\r\n");
    let mut pipeline = Vec::new();
    if family.resp3_subscriber {
        pipeline.extend_from_slice(&common::encode_line("HELLO 3"));
        pipeline.extend_from_slice(&common::encode_line("SUBSCRIBE ch"));
    }
    for _ in 0..PIPELINED_COMMANDS {
        pipeline.extend_from_slice(&common::encode_line(family.command));
    }
    pipeline.extend_from_slice(&common::encode_line("SET after-the-hog 1"));
    hog.send_raw(&pipeline);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !client_gone(&mut control, "hog") {
        assert!(
            Instant::now() < deadline,
            "{label}: the client that never reads was not disconnected"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (peak, _) = rss_of(server.pid());
    let rise = peak.saturating_sub(rss_before);
    assert!(
        rise < PEAK_RISE_MAX_BYTES,
        "{label}: peak RSS rose {} MB (bound {} MB)",
        rise >> 20,
        PEAK_RISE_MAX_BYTES >> 20
    );
    assert_eq!(
        control.cmds("EXISTS after-the-hog"),
        b":0\r\n",
        "{label}: the pipeline went on after the client was marked for closing"
    );
    assert_eq!(control.cmds("PING"), b"+PONG\r\n", "{label}");
    drop(hog);
    eprintln!(
        "{label}: peak RSS rise {} MB (before {} MB, peak {} MB)",
        rise >> 20,
        rss_before >> 20,
        peak >> 20
    );
}

fn args() -> Vec<String> {
    vec![
        "--client-output-buffer-limit".into(),
        format!("normal {HARD_LIMIT_BYTES} 0 0"),
        "--enable-debug-command".into(),
        "yes".into(),
    ]
}

#[test]
fn a_client_that_never_reads_is_cut_off_at_its_output_limit() {
    let args = args();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    for family in FAMILIES {
        let server = Server::keel(&args);
        run_case(&server, family);
    }
    if common::redis_available() {
        for family in FAMILIES {
            let server = Server::redis(&args);
            run_case(&server, family);
        }
    }
}
