//! The operator's view of command execution: SLOWLOG, LATENCY and MONITOR, in Redis
//! 7.0's replies. They read what `end_call` recorded (`crate::observe`) and never time
//! anything themselves.

use super::{cmd, reply_help, Argv, CommandSpec, Ctx};
use crate::util::parse_i64;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("latency", -2, [], latency_help, subcommands: LATENCY_SUBCOMMANDS),
    cmd!("monitor", 1, [ADMIN, NOSCRIPT, LOADING, STALE], monitor),
    cmd!("slowlog", -2, [], slowlog_help, subcommands: SLOWLOG_SUBCOMMANDS),
];

static SLOWLOG_SUBCOMMANDS: &[CommandSpec] = &[
    cmd!("get", -2, [ADMIN, LOADING, STALE], slowlog_get),
    cmd!("help", 2, [LOADING, STALE], slowlog_help),
    cmd!("len", 2, [ADMIN, LOADING, STALE], slowlog_len),
    cmd!("reset", 2, [ADMIN, LOADING, STALE], slowlog_reset),
];

static LATENCY_SUBCOMMANDS: &[CommandSpec] = &[
    cmd!(
        "doctor",
        2,
        [ADMIN, NOSCRIPT, LOADING, STALE],
        latency_doctor
    ),
    cmd!("graph", 3, [ADMIN, NOSCRIPT, LOADING, STALE], latency_graph),
    cmd!("help", 2, [LOADING, STALE], latency_help),
    cmd!(
        "histogram",
        -2,
        [ADMIN, NOSCRIPT, LOADING, STALE],
        latency_histogram
    ),
    cmd!(
        "history",
        3,
        [ADMIN, NOSCRIPT, LOADING, STALE],
        latency_history
    ),
    cmd!(
        "latest",
        2,
        [ADMIN, NOSCRIPT, LOADING, STALE],
        latency_latest
    ),
    cmd!(
        "reset",
        -2,
        [ADMIN, NOSCRIPT, LOADING, STALE],
        latency_reset
    ),
];

// ---- SLOWLOG ----

fn slowlog_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    reply_help(
        ctx.out(),
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    );
}

fn slowlog_get(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if argv.len() > 3 {
        super::subcommand_syntax_error(ctx.out(), argv);
        return;
    }
    let mut count = 10usize;
    if argv.len() == 3 {
        match parse_i64(argv.get(2)) {
            Some(-1) => count = usize::MAX,
            Some(n) if n >= 0 => count = usize::try_from(n).unwrap_or(usize::MAX),
            _ => {
                ctx.out()
                    .error("ERR count should be greater than or equal to -1");
                return;
            }
        }
    }
    let Ctx { server, client, .. } = ctx;
    let log = &server.observe.slowlog;
    let out = &mut client.out;
    out.array(count.min(log.len()));
    for e in log.newest(count) {
        out.array(6);
        out.int(e.id as i64);
        out.int(e.time_secs as i64);
        out.int(e.duration_us as i64);
        out.array(e.argv.len());
        for a in &e.argv {
            out.bulk(a);
        }
        out.bulk(e.peer.as_bytes());
        out.bulk(&e.name);
    }
}

fn slowlog_len(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let n = ctx.server.observe.slowlog.len();
    ctx.out().int(n as i64);
}

fn slowlog_reset(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    ctx.server.observe.slowlog.reset();
    ctx.out().ok();
}

// ---- LATENCY ----

fn latency_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    reply_help(
        ctx.out(),
        "LATENCY",
        &[
            "DOCTOR",
            "    Return a human readable latency analysis report.",
            "GRAPH <event>",
            "    Return an ASCII latency graph for the <event> class.",
            "HISTORY <event>",
            "    Return time-latency samples for the <event> class.",
            "LATEST",
            "    Return the latest latency samples for all events.",
            "RESET [<event> ...]",
            "    Reset latency data of one or more <event> classes.",
            "    (default: reset all data for all event classes)",
            "HISTOGRAM [COMMAND ...]",
            "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
            "    If no commands are specified then all histograms are replied.",
        ],
    );
}

fn latency_latest(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let Ctx { server, client, .. } = ctx;
    let events = &server.observe.latency.events;
    let out = &mut client.out;
    out.array(events.len());
    for (name, series) in events {
        let last = series
            .samples
            .back()
            .copied()
            .unwrap_or(crate::observe::latency::Sample {
                time_secs: 0,
                latency_ms: 0,
            });
        out.array(4);
        out.bulk(name.as_bytes());
        out.int(last.time_secs as i64);
        out.int(last.latency_ms as i64);
        out.int(series.max_ms as i64);
    }
}

fn latency_history(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let event = String::from_utf8_lossy(argv.get(2)).into_owned();
    let Ctx { server, client, .. } = ctx;
    let out = &mut client.out;
    match server.observe.latency.events.get(&event) {
        None => out.array(0),
        Some(series) => {
            out.array(series.samples.len());
            for s in &series.samples {
                out.array(2);
                out.int(s.time_secs as i64);
                out.int(s.latency_ms as i64);
            }
        }
    }
}

fn latency_reset(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let events: Vec<String> = argv
        .iter()
        .skip(2)
        .map(|e| String::from_utf8_lossy(e).into_owned())
        .collect();
    let n = ctx.server.observe.latency.reset(&events);
    ctx.out().int(n as i64);
}

fn latency_graph(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let event = String::from_utf8_lossy(argv.get(2)).into_owned();
    let now_secs = ctx.now.wall_ms / 1000;
    match ctx.server.observe.latency.graph(&event, now_secs) {
        Some(text) => ctx.out().verbatim(text.as_bytes()),
        None => ctx
            .out()
            .error_bytes(&[b"ERR No samples available for event '", argv.get(2), b"'"].concat()),
    }
}

fn latency_doctor(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let hot = ctx.server.hot;
    let s = ctx.server.config.settings();
    let settings = crate::observe::latency::DoctorSettings {
        now_secs: ctx.now.wall_ms / 1000,
        threshold_ms: hot.latency_monitor_threshold_ms,
        slowlog_slower_than_us: hot.slowlog_log_slower_than_us,
        appendfsync_always: s.appendfsync == crate::config::AppendFsync::Always,
        hz: s.hz,
    };
    let text = ctx.server.observe.latency.doctor(&settings);
    ctx.out().verbatim(text.as_bytes());
}

/// LATENCY HISTOGRAM: per command, its calls and cumulative latency buckets (Redis's
/// `fillCommandCDF`); every tracked command when none is named, unknown names skipped,
/// a name given twice replied twice (as Redis).
fn latency_histogram(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Ctx { server, client, .. } = ctx;
    let all = server.observe.commands_sorted();
    let mut chosen: Vec<&crate::observe::CommandStat> = Vec::new();
    if argv.len() == 2 {
        chosen = all.into_iter().filter(|s| s.histogram.is_some()).collect();
    } else {
        for name in argv.iter().skip(2) {
            let found = all
                .iter()
                .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name) && s.histogram.is_some());
            chosen.extend(found);
        }
    }
    let out = &mut client.out;
    out.map(chosen.len());
    for stat in chosen {
        let Some(h) = stat.histogram.as_deref() else {
            continue;
        };
        out.bulk(stat.name.as_bytes());
        out.map(2);
        out.bulk(b"calls");
        out.int(h.total_count() as i64);
        out.bulk(b"histogram_usec");
        let buckets = h.cumulative_buckets_usec();
        out.map(buckets.len());
        for (usec, count) in buckets {
            out.int(usec as i64);
            out.int(count as i64);
        }
    }
}

// ---- MONITOR ----

fn monitor(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    if ctx.client.may_not_block() {
        ctx.out()
            .error("ERR MONITOR isn't allowed for DENY BLOCKING client");
        return;
    }
    // Already a monitor: Redis ignores it without a reply.
    if !ctx.clients.monitors.insert(ctx.client.conn) {
        return;
    }
    ctx.out().ok();
}

#[cfg(test)]
mod tests {
    use crate::io::CommandClock;
    use crate::resp::Value;
    use crate::testkit::Kit;

    /// The simulator's kind of clock: a modelled cost, 1000 µs per reading, so each
    /// command "takes" 1 ms unless it is pipelined behind another (then its start is
    /// the previous end). Deterministic: no real clock anywhere.
    struct Modelled(u64);

    impl CommandClock for Modelled {
        fn now_micros(&mut self) -> u64 {
            self.0 += 1000;
            self.0
        }
    }

    fn text(v: &Value) -> String {
        match v {
            Value::Bulk(b) | Value::Verbatim { text: b, .. } => {
                String::from_utf8_lossy(b).into_owned()
            }
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn modelled_durations_reach_every_report() {
        let mut kit = Kit::new("slowlog-log-slower-than 1000\nlatency-monitor-threshold 1");
        kit.node().set_command_clock(Box::new(Modelled(0)));
        kit.connect(1);
        kit.cmd(1, "SLOWLOG RESET");
        kit.cmd(1, "SET k v");
        let stats = text(&kit.value(1, "INFO commandstats"));
        assert!(
            stats.contains("cmdstat_set:calls=1,usec=1000,usec_per_call=1000.00,rejected_calls=0,failed_calls=0"),
            "{stats}"
        );
        let latency = text(&kit.value(1, "INFO latencystats"));
        assert!(
            latency
                .contains("latency_percentiles_usec_set:p50=1003.519,p99=1003.519,p99.9=1003.519"),
            "{latency}"
        );
        // SET, and INFO twice: each 1 ms, at the threshold.
        assert_eq!(kit.value(1, "SLOWLOG LEN"), Value::Int(4));
        let Value::Array(entries) = kit.value(1, "SLOWLOG GET 10") else {
            panic!("no array")
        };
        let Some(Value::Array(set)) = entries.get(3) else {
            panic!("{entries:?}")
        };
        assert_eq!(set.get(2), Some(&Value::Int(1000)));
        assert_eq!(
            set.get(3),
            Some(&Value::Array(vec![
                Value::Bulk(b"SET".to_vec()),
                Value::Bulk(b"k".to_vec()),
                Value::Bulk(b"v".to_vec()),
            ]))
        );
        let Value::Array(events) = kit.value(1, "LATENCY LATEST") else {
            panic!("no array")
        };
        // SET, INFO, SLOWLOG are no FAST commands: one command event, 1 ms latest and
        // max (beside the cron's expire-cycle, also timed by this clock).
        let command_events = |events: &[Value]| -> Vec<Value> {
            events
                .iter()
                .filter(|e| {
                    !matches!(e, Value::Array(fields)
                        if fields.first() == Some(&Value::Bulk(b"expire-cycle".to_vec())))
                })
                .cloned()
                .collect()
        };
        assert_eq!(
            command_events(&events),
            [Value::Array(vec![
                Value::Bulk(b"command".to_vec()),
                Value::Int((crate::testkit::START.wall_ms / 1000) as i64),
                Value::Int(1),
                Value::Int(1),
            ])]
        );
        kit.cmd(1, "GET k");
        let Value::Array(events) = kit.value(1, "LATENCY LATEST") else {
            panic!("no array")
        };
        assert_eq!(
            command_events(&events).len(),
            2,
            "command and fast-command: {events:?}"
        );
        // Without a clock nothing is slow, and calls still count.
        let mut quiet = Kit::new("slowlog-log-slower-than 1");
        quiet.connect(1);
        quiet.cmd(1, "GET k");
        let stats = text(&quiet.value(1, "INFO commandstats"));
        assert!(stats.contains("cmdstat_get:calls=1,usec=0,"), "{stats}");
        assert_eq!(quiet.value(1, "SLOWLOG LEN"), Value::Int(0));
    }

    #[test]
    fn expire_cycles_are_timed_by_the_command_clock() {
        let mut kit = Kit::new("latency-monitor-threshold 1");
        kit.node().set_command_clock(Box::new(Modelled(0)));
        kit.connect(1);
        kit.advance_ms(300);
        let Value::Array(samples) = kit.value(1, "LATENCY HISTORY expire-cycle") else {
            panic!("no array")
        };
        assert!(!samples.is_empty());
        let stats = text(&kit.value(1, "INFO stats"));
        assert!(
            !stats.contains("expire_cycle_cpu_milliseconds:0\r\n"),
            "{stats}"
        );
    }

    #[test]
    fn monitor_sees_transactions_and_not_admin_commands() {
        let mut kit = Kit::new("");
        kit.connect(1);
        kit.connect(2);
        assert_eq!(kit.cmd(1, "MONITOR"), "+OK\r\n");
        // A second MONITOR is ignored without a reply, as in Redis.
        assert_eq!(kit.cmd(1, "MONITOR"), "");
        kit.cmd(2, "MULTI");
        kit.cmd(2, "SET a 1");
        kit.cmd(2, "EXEC");
        kit.cmd(2, "CONFIG GET hz");
        kit.cmd(2, "AUTH x");
        let seen = kit.take(1);
        let lines: Vec<&str> = seen
            .split("\r\n")
            .filter(|l| !l.is_empty())
            .map(|l| l.split_once(']').map_or(l, |(_, rest)| rest))
            .collect();
        assert_eq!(
            lines,
            [
                r#" "MULTI""#,
                r#" "SET" "a" "1""#,
                r#" "EXEC""#,
                r#" "AUTH" "(redacted)""#
            ],
            "{seen}"
        );
        kit.cmd(1, "RESET");
        kit.take(1);
        kit.cmd(2, "PING");
        assert_eq!(kit.take(1), "");
    }
}
