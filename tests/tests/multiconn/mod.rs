//! Differential scripts over several connections per server, for transactions and
//! pub/sub: the same lines run against a real redis-server and keel, replies compared
//! byte for byte.
//!
//! A line is `[N> ]command` (connection N, default 1) or `N<` (read the next pushed
//! reply on connection N, e.g. a pub/sub message) or `sleep MS` (wait, for TTLs to
//! pass; no timing is asserted). After the connection prefix, `~ ` compares an array
//! as a multiset and `! ` runs without comparing; `#` starts a comment.

#![allow(dead_code)]

use std::collections::BTreeMap;

use crate::common::{self, escape, parse_line, sorted_reply, Compare, Pair};

/// One script line, parsed.
enum Step<'a> {
    Command {
        conn: usize,
        how: Compare,
        line: &'a str,
    },
    Read {
        conn: usize,
        how: Compare,
    },
    Sleep {
        ms: u64,
    },
}

fn parse_step(raw: &str) -> Option<Step<'_>> {
    let raw = raw.trim();
    if let Some(ms) = raw.strip_prefix("sleep ") {
        return Some(Step::Sleep {
            ms: ms.trim().parse().expect("sleep takes milliseconds"),
        });
    }
    let (conn, rest) = match raw.split_once("> ") {
        Some((n, rest)) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
            (n.parse().expect("connection number"), rest)
        }
        _ => match raw.strip_suffix('<') {
            Some(n) if n.chars().all(|c| c.is_ascii_digit()) && !n.is_empty() => {
                return Some(Step::Read {
                    conn: n.parse().expect("connection number"),
                    how: Compare::Exact,
                })
            }
            _ => (1, raw),
        },
    };
    let (how, line) = parse_line(rest)?;
    Some(Step::Command { conn, how, line })
}

/// Runs one script on fresh connections to both servers; Err names the first difference.
pub fn run_script(pair: &Pair, name: &str, script: &str) -> Result<(), String> {
    let mut conns: BTreeMap<usize, (common::Conn, common::Conn)> = BTreeMap::new();
    {
        let (mut r, mut k) = pair.fresh();
        for c in [&mut r, &mut k] {
            c.cmds("CONFIG SET notify-keyspace-events \"\"");
        }
        conns.insert(0, (r, k));
    }
    for (n, raw) in script.lines().enumerate() {
        let Some(step) = parse_step(raw) else {
            continue;
        };
        let (want, got, how, line) = match step {
            Step::Sleep { ms } => {
                std::thread::sleep(std::time::Duration::from_millis(ms));
                continue;
            }
            Step::Command { conn, how, line } => {
                let (r, k) = conns.entry(conn).or_insert_with(|| pair.conns());
                let args = common::s(line);
                (r.cmdv(&args), k.cmdv(&args), how, line.to_string())
            }
            Step::Read { conn, how } => {
                let (r, k) = conns.entry(conn).or_insert_with(|| pair.conns());
                (r.read_reply(), k.read_reply(), how, format!("{conn}<"))
            }
        };
        let same = match how {
            Compare::Exact => want == got,
            Compare::Unordered => sorted_reply(&want) == sorted_reply(&got),
            Compare::Skip => true,
        };
        if !same {
            return Err(format!(
                "script '{name}', line {}: {line}\n  redis: {}\n  keel:  {}\n--- script ---\n{}",
                n + 1,
                escape(&want),
                escape(&got),
                script.trim()
            ));
        }
    }
    if let Some((r, k)) = conns.get_mut(&0) {
        for c in [r, k] {
            c.cmds("CONFIG SET notify-keyspace-events \"\"");
        }
    }
    Ok(())
}

/// Runs every script against one pair of servers; fails listing every difference.
pub fn run_scripts(scripts: &[(&str, &str)]) {
    if !common::require_redis_or_skip() {
        return;
    }
    let pair = Pair::start();
    let failures: Vec<String> = scripts
        .iter()
        .filter_map(|(name, script)| {
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_script(&pair, name, script)
            }))
            .unwrap_or_else(|_| Err(format!("script '{name}' broke a connection")))
            .err()
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} scripts differ from redis:\n\n{}",
        failures.len(),
        scripts.len(),
        failures.join("\n\n")
    );
}
