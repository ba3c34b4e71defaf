//! Eviction against a real redis-server, for every `maxmemory-policy`. Memory figures
//! differ between the two servers, so the tests push both far over the limit
//! (`maxmemory 1`, where everything evictable goes) and compare behaviours: which keys
//! may go and in what order where the policy decides it (volatile-ttl by TTL,
//! allkeys-lru the idle key first, allkeys-lfu the hot key last), the replies (OOM
//! byte for byte, OBJECT FREQ/IDLETIME and their errors), the `evicted` events and
//! INFO's `evicted_keys`.

mod common;

use std::time::{Duration, Instant};

use common::{encode_line, escape, Conn, Pair, Server};

/// What one server did in a scenario.
#[derive(Debug, PartialEq)]
struct Outcome {
    replies: Vec<String>,
    /// Keys in the order their `evicted` event arrived.
    evicted: Vec<String>,
    evicted_keys_stat: u64,
    survivors: Vec<String>,
}

fn info_field(conn: &mut Conn, field: &str) -> Option<String> {
    let info = String::from_utf8_lossy(&conn.cmds("INFO stats")).into_owned();
    info.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(str::to_string)
}

fn bulk_strings(reply: &[u8]) -> Vec<String> {
    let mut keys: Vec<String> = common::array_elements(reply)
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let text = String::from_utf8_lossy(e).into_owned();
            text.lines().nth(1).unwrap_or_default().to_string()
        })
        .collect();
    keys.sort();
    keys
}

/// Runs `setup` under `policy`, then sets `maxmemory 1` and runs `after`; returns
/// every reply, the evicted keys in event order and the keys left.
fn scenario(server: &Server, policy: &str, setup: &[String], after: &[&str]) -> Outcome {
    scenario_paused(server, policy, setup, Duration::ZERO, &[], after)
}

/// `scenario` with a pause of `pause` after `setup`, then `after_pause` before the
/// squeeze (to make keys written in `setup` idle).
fn scenario_paused(
    server: &Server,
    policy: &str,
    setup: &[String],
    pause: Duration,
    after_pause: &[String],
    after: &[&str],
) -> Outcome {
    let mut admin = server.conn();
    for line in [
        "FLUSHALL",
        "CONFIG SET maxmemory 0",
        "CONFIG RESETSTAT",
        "CONFIG SET maxmemory-samples 100",
        "CONFIG SET maxmemory-eviction-tenacity 10",
        "CONFIG SET notify-keyspace-events Ee",
    ] {
        assert_eq!(admin.cmds(line), b"+OK\r\n", "{} {line}", server.name);
    }
    assert_eq!(
        admin.cmds(&format!("CONFIG SET maxmemory-policy {policy}")),
        b"+OK\r\n"
    );
    let mut sub = server.conn();
    sub.send_raw(&encode_line("SUBSCRIBE __keyevent@0__:evicted __end"));
    let _ = sub.read_reply();
    let _ = sub.read_reply();
    let mut writer = server.conn();
    let mut replies = Vec::new();
    for line in setup {
        replies.push(escape(&writer.cmds(line)));
    }
    std::thread::sleep(pause);
    for line in after_pause {
        replies.push(escape(&writer.cmds(line)));
    }
    replies.push(escape(&writer.cmds("CONFIG SET maxmemory 1")));
    for line in after {
        replies.push(escape(&writer.cmds(line)));
    }
    let survivors = bulk_strings(&writer.cmds("KEYS *"));
    assert_eq!(admin.cmds("CONFIG SET maxmemory 0"), b"+OK\r\n");
    admin.cmds("PUBLISH __end done");
    let mut evicted = Vec::new();
    loop {
        let m = sub.read_reply();
        let parts = common::array_elements(&m).unwrap_or_default();
        let channel = parts
            .get(1)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        if channel.contains("__end") {
            break;
        }
        let key = parts
            .get(2)
            .map(|p| {
                String::from_utf8_lossy(p)
                    .lines()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string()
            })
            .unwrap_or_default();
        evicted.push(key);
    }
    let evicted_keys_stat = info_field(&mut admin, "evicted_keys")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(u64::MAX);
    assert!(
        info_field(&mut admin, "evicted_clients").is_some(),
        "{} INFO has evicted_clients",
        server.name
    );
    admin.cmds("CONFIG SET notify-keyspace-events \"\"");
    admin.cmds("CONFIG SET maxmemory-policy noeviction");
    Outcome {
        replies,
        evicted,
        evicted_keys_stat,
        survivors,
    }
}

/// Ten persistent keys `p0..p9` and ten `v0..v9` whose TTLs grow with their number
/// in reverse (v9 expires first).
fn mixed_keys() -> Vec<String> {
    let mut lines: Vec<String> = (0..10).map(|i| format!("SET p{i} value{i}")).collect();
    lines.extend((0..10).map(|i| format!("SET v{i} value{i} EX {}", 10_000 - i * 100)));
    lines
}

const AFTER: &[&str] = &["SET newkey x", "GET p0", "GET v0", "DEL p1", "DBSIZE"];

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

#[test]
fn which_keys_each_policy_evicts_matches_redis() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    let volatile: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
    let persistent: Vec<String> = (0..10).map(|i| format!("p{i}")).collect();
    for policy in [
        "noeviction",
        "allkeys-lru",
        "allkeys-lfu",
        "allkeys-random",
        "volatile-lru",
        "volatile-lfu",
        "volatile-random",
        "volatile-ttl",
    ] {
        let want = scenario(&pair.redis, policy, &mixed_keys(), AFTER);
        let got = scenario(&pair.keel, policy, &mixed_keys(), AFTER);
        assert_eq!(want.replies, got.replies, "{policy}: replies");
        assert_eq!(want.survivors, got.survivors, "{policy}: keys left");
        assert_eq!(
            want.evicted_keys_stat, got.evicted_keys_stat,
            "{policy}: evicted_keys"
        );
        assert_eq!(
            sorted(want.evicted.clone()),
            sorted(got.evicted.clone()),
            "{policy}: evicted keys"
        );
        assert_eq!(
            got.evicted.len() as u64,
            got.evicted_keys_stat,
            "{policy}: one event per eviction"
        );
        // What each policy may take, whatever the server.
        let expected: Vec<String> = match policy {
            "noeviction" => vec![],
            p if p.starts_with("volatile") => volatile.clone(),
            _ => sorted(volatile.iter().chain(&persistent).cloned().collect()),
        };
        assert_eq!(sorted(got.evicted.clone()), sorted(expected), "{policy}");
        if policy == "volatile-ttl" {
            // The soonest TTL goes first: v9, v8, ... v0 from keel. Redis's sampled
            // pool only approximates it (CI once saw v1 evicted before v2): its order
            // is only held to "mostly soonest first", each key within two places.
            let by_ttl: Vec<String> = (0..10).rev().map(|i| format!("v{i}")).collect();
            for (place, key) in want.evicted.iter().enumerate() {
                let at = by_ttl.iter().position(|k| k == key).unwrap_or(usize::MAX);
                assert!(
                    at.abs_diff(place) <= 2,
                    "redis: volatile-ttl order {:?}",
                    want.evicted
                );
            }
            assert_eq!(got.evicted, by_ttl, "keel: volatile-ttl order");
        }
    }
}

#[test]
fn allkeys_lru_evicts_the_idle_key_first() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    // `cold` is written, 2.2 s pass, then the hot keys are written and read.
    let setup = vec!["SET cold c".to_string()];
    let mut hot: Vec<String> = (0..15).map(|i| format!("SET hot{i} h")).collect();
    hot.extend((0..15).map(|i| format!("GET hot{i}")));
    hot.push("OBJECT IDLETIME hot0".to_string());
    hot.push("OBJECT FREQ cold".to_string());
    let run = |server: &Server| {
        scenario_paused(
            server,
            "allkeys-lru",
            &setup,
            Duration::from_millis(2200),
            &hot,
            &["SET newkey x"],
        )
    };
    let want = run(&pair.redis);
    let got = run(&pair.keel);
    assert_eq!(want.replies, got.replies);
    assert_eq!(
        want.evicted.first().map(String::as_str),
        Some("cold"),
        "redis"
    );
    assert_eq!(
        got.evicted.first().map(String::as_str),
        Some("cold"),
        "keel"
    );
    assert_eq!(sorted(want.evicted), sorted(got.evicted));
}

#[test]
fn allkeys_lfu_evicts_the_hot_key_last_and_object_freq_matches() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    let mut setup: Vec<String> = (0..15).map(|i| format!("SET cold{i} c")).collect();
    setup.push("SET hot h".to_string());
    setup.push("OBJECT FREQ hot".to_string());
    setup.push("GET hot".to_string());
    // 5 -> 6 is certain (probability 1); later increments are drawn.
    setup.push("OBJECT FREQ hot".to_string());
    setup.push("OBJECT IDLETIME hot".to_string());
    setup.push("OBJECT FREQ missing".to_string());
    setup.extend((0..300).map(|_| "GET hot".to_string()));
    let want = scenario(&pair.redis, "allkeys-lfu", &setup, &["SET newkey x"]);
    let got = scenario(&pair.keel, "allkeys-lfu", &setup, &["SET newkey x"]);
    assert_eq!(want.replies, got.replies);
    assert_eq!(
        want.evicted.last().map(String::as_str),
        Some("hot"),
        "redis"
    );
    assert_eq!(got.evicted.last().map(String::as_str), Some("hot"), "keel");
    assert_eq!(sorted(want.evicted), sorted(got.evicted));
}

/// With tenacity 0 a big deficit is paid 16 keys at a time: the write that found
/// memory over the limit is served meanwhile (Redis's EVICT_RUNNING), and eviction
/// goes on without commands until nothing is left; then writes get OOM.
#[test]
fn bounded_eviction_serves_the_write_and_finishes_in_the_background() {
    if !common::require_redis_or_skip() {
        return;
    }
    let args = ["--enable-debug-command", "yes"];
    let pair = Pair {
        redis: Server::redis(&args),
        keel: Server::keel(&args),
    };
    let mut outcomes = Vec::new();
    for server in [&pair.redis, &pair.keel] {
        let mut c = server.conn();
        for line in [
            "FLUSHALL",
            "CONFIG SET maxmemory 0",
            "CONFIG SET maxmemory-policy allkeys-random",
            "CONFIG SET maxmemory-eviction-tenacity 0",
            "DEBUG POPULATE 5000",
        ] {
            assert_eq!(c.cmds(line), b"+OK\r\n", "{} {line}", server.name);
        }
        // One write: the limit and the SET arrive together, so no background round
        // runs in between on either server.
        let mut batch = encode_line("CONFIG SET maxmemory 1");
        batch.extend(encode_line("SET x y"));
        c.send_raw(&batch);
        let config = c.read_reply();
        let set = c.read_reply();
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.cmds("DBSIZE") != b":0\r\n" && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let after = c.cmds("SET y z");
        let dbsize = c.cmds("DBSIZE");
        c.cmds("CONFIG SET maxmemory 0");
        c.cmds("CONFIG SET maxmemory-eviction-tenacity 10");
        c.cmds("CONFIG SET maxmemory-policy noeviction");
        outcomes.push((
            escape(&config),
            escape(&set),
            escape(&after),
            escape(&dbsize),
        ));
    }
    assert_eq!(outcomes[0], outcomes[1]);
    assert_eq!(outcomes[1].1, "+OK\\r\\n");
    assert_eq!(outcomes[1].3, ":0\\r\\n");
}

#[test]
fn object_errors_and_replies_under_each_policy_match_redis() {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    let (mut r, mut k) = pair.fresh();
    for policy in [
        "noeviction",
        "allkeys-lru",
        "volatile-lfu",
        "allkeys-lfu",
        "volatile-ttl",
    ] {
        for line in [
            format!("CONFIG SET maxmemory-policy {policy}"),
            "SET fresh v".to_string(),
            "OBJECT IDLETIME fresh".to_string(),
            "OBJECT FREQ fresh".to_string(),
            "OBJECT IDLETIME nokey".to_string(),
            "OBJECT FREQ nokey".to_string(),
            "CONFIG GET maxmemory-eviction-tenacity".to_string(),
            "CONFIG SET lfu-log-factor 0".to_string(),
            "CONFIG GET lfu-log-factor".to_string(),
            "CONFIG SET lfu-log-factor 10".to_string(),
            "CONFIG SET maxmemory-clients 5%".to_string(),
            "CONFIG GET maxmemory-clients".to_string(),
            "CONFIG SET maxmemory-clients 0".to_string(),
            "CLIENT NO-EVICT on".to_string(),
            "CLIENT NO-EVICT maybe".to_string(),
            "CLIENT NO-EVICT off".to_string(),
            "DEL fresh".to_string(),
        ] {
            assert_eq!(
                escape(&r.cmds(&line)),
                escape(&k.cmds(&line)),
                "{policy}: {line}"
            );
        }
    }
    r.cmds("CONFIG SET maxmemory-policy noeviction");
    k.cmds("CONFIG SET maxmemory-policy noeviction");
}
