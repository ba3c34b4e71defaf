//! Server commands: INFO, CONFIG, DEBUG, SHUTDOWN, TIME (COMMAND is in `command.rs`). INFO text uses
//! Redis's section and field names so monitoring tools read keel unchanged.

use super::{arg_i64, cmd, errors, reply_help, subcommand_syntax_error, Argv, CommandSpec, Ctx};
use crate::io::{Effect, LogLevel};
use crate::types::{StrValue, Value};
use crate::util::parse_f64;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("config", -2, [], config_help, subcommands: CONFIG_SUBCOMMANDS),
    cmd!("debug", -2, [ADMIN, NOSCRIPT, LOADING, STALE], debug),
    cmd!("info", -1, [LOADING, STALE], info),
    cmd!(
        "shutdown",
        -1,
        [ADMIN, NOSCRIPT, LOADING, STALE, NO_MULTI, ALLOW_BUSY],
        shutdown
    ),
    cmd!("time", 1, [LOADING, STALE, FAST], time),
];

static CONFIG_SUBCOMMANDS: &[CommandSpec] = &[
    cmd!("get", -3, [ADMIN, NOSCRIPT, LOADING, STALE], config_get),
    cmd!("help", 2, [LOADING, STALE], config_help),
    cmd!(
        "resetstat",
        2,
        [ADMIN, NOSCRIPT, LOADING, STALE],
        config_resetstat
    ),
    cmd!("set", -4, [ADMIN, NOSCRIPT, LOADING, STALE], config_set),
];

fn time(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let ms = ctx.now.wall_ms;
    let out = ctx.out();
    out.array(2);
    out.bulk((ms / 1000).to_string().as_bytes());
    out.bulk(((ms % 1000) * 1000).to_string().as_bytes());
}

fn shutdown(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    // Redis 7.0's shutdownCommand: any unknown word, ABORT with any other flag, or
    // NOSAVE with SAVE is a syntax error (repeats are fine).
    let (mut nosave, mut save, mut other_flag, mut abort) = (false, false, false, false);
    for j in 1..argv.len() {
        if argv.is(j, "nosave") {
            nosave = true;
        } else if argv.is(j, "save") {
            save = true;
        } else if argv.is(j, "now") || argv.is(j, "force") {
            other_flag = true;
        } else if argv.is(j, "abort") {
            abort = true;
        } else {
            ctx.out().error(errors::SYNTAX);
            return;
        }
    }
    if (abort && (nosave || save || other_flag)) || (nosave && save) {
        ctx.out().error(errors::SYNTAX);
        return;
    }
    if abort {
        ctx.out().error("ERR No shutdown in progress.");
        return;
    }
    ctx.server
        .log(LogLevel::Warning, "User requested shutdown...".into());
    ctx.server.shutting_down = true;
    ctx.client.close_after_reply = true;
    ctx.server
        .effects
        .push_back(Effect::Shutdown { exit_code: 0 });
}

// ---- CONFIG ----

fn config_get(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let patterns: Vec<&[u8]> = argv.iter().skip(2).collect();
    let pairs = ctx.server.config.get(&patterns);
    let out = ctx.out();
    out.map(pairs.len());
    for (k, v) in pairs {
        out.bulk(k.as_bytes());
        out.bulk(v.as_bytes());
    }
}

fn config_set(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if !argv.len().is_multiple_of(2) {
        ctx.out()
            .error("ERR wrong number of arguments for 'config|set' command");
        return;
    }
    let pairs: Vec<(&[u8], &[u8])> = (2..argv.len())
        .step_by(2)
        .map(|i| (argv.get(i), argv.get(i + 1)))
        .collect();
    let is_local = ctx.client.is_local;
    match ctx.server.config.set_for_client(&pairs, is_local) {
        Ok(()) => {
            ctx.config_changed();
            ctx.out().ok()
        }
        Err(e) => ctx.out().error_format_bytes(&e),
    }
}

fn config_resetstat(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    ctx.server.stats = Default::default();
    ctx.keyspace.stats = Default::default();
    ctx.out().ok();
}

fn config_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    reply_help(
        ctx.out(),
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    );
}

// ---- DEBUG ----

fn debug_allowed(ctx: &Ctx<'_>) -> bool {
    ctx.server
        .config
        .settings()
        .enable_debug_command
        .allows(ctx.client.is_local)
}

fn debug(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if !debug_allowed(ctx) {
        ctx.out().error("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");
        return;
    }
    if argv.is(1, "help") {
        reply_help(
            ctx.out(),
            "DEBUG",
            &[
                "DIGEST",
                "    Output a hex signature representing the current DB content.",
                "DIGEST-VALUE <key> [<key> ...]",
                "    Output a hex signature of the values of all the specified keys.",
                "OBJECT <key>",
                "    Show low level info about the `key` and associated value.",
                "POPULATE <count> [<prefix>] [<size>]",
                "    Create <count> string keys named key:<num>. If <prefix> is specified then",
                "    it is used instead of the 'key' prefix. These are not propagated to",
                "    replicas. Cluster slots are not respected so keys not belonging to the",
                "    current node can be created in cluster mode.",
                "SET-ACTIVE-EXPIRE <0|1>",
                "    Setting it to 0 disables expiring keys in background when they are not",
                "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
                "    default.",
                "SLEEP <seconds>",
                "    Stop the server for <seconds>. Decimals allowed.",
            ],
        );
    } else if argv.is(1, "digest") && argv.len() == 2 {
        let digest = crate::digest::dataset_digest(ctx.keyspace);
        ctx.out().simple(&crate::digest::hex(&digest));
    } else if argv.is(1, "digest-value") {
        // Like Redis: the stored value as it is, a logically expired key included
        // (no lookup, so nothing is expired by asking).
        let db = ctx.keyspace.db(ctx.client.db);
        let digests: Vec<String> = (2..argv.len())
            .map(|j| {
                let entry = db.find(argv.get(j)).and_then(|id| db.get(id));
                let digest = entry.map_or([0u8; 20], |e| {
                    crate::digest::value_digest(&e.value, e.expire_at_ms != 0)
                });
                crate::digest::hex(&digest)
            })
            .collect();
        let out = ctx.out();
        out.array(digests.len());
        for d in &digests {
            out.simple(d);
        }
    } else if argv.is(1, "populate") && (3..=5).contains(&argv.len()) {
        debug_populate(ctx, argv);
    } else if argv.is(1, "sleep") && argv.len() == 3 {
        let Some(secs) = parse_f64(argv.get(2)).filter(|s| *s >= 0.0) else {
            ctx.out().error(errors::NOT_FLOAT);
            return;
        };
        let ms = (secs * 1000.0).min(1e12) as u64;
        ctx.server.effects.push_back(Effect::Sleep { ms });
        ctx.out().ok();
    } else if argv.is(1, "set-active-expire") && argv.len() == 3 {
        let Some(v) = arg_i64(ctx, argv, 2) else {
            return;
        };
        ctx.server.active_expire_enabled = v != 0;
        ctx.out().ok();
    } else if argv.is(1, "object") && argv.len() == 3 {
        let db = ctx.db();
        let Some(id) = ctx.keyspace.lookup(db, argv.get(2), ctx.now.wall_ms) else {
            ctx.out().error(errors::NO_SUCH_KEY);
            return;
        };
        let idle = ctx.keyspace.idle_ms(db, id) / 1000;
        let (enc, len, lru) = match ctx.keyspace.db(db).get(id) {
            Some(e) => (
                e.value.encoding_name(),
                match &e.value {
                    Value::Str(s) => s.len(),
                    Value::Hash(h) => h.iter().map(|(f, v)| f.len() + v.len() + 2).sum(),
                    Value::ZSet(z) => z
                        .entries()
                        .iter()
                        .map(|(m, s)| {
                            m.len() + crate::types::zset::fmt_listpack_score(*s).len() + 2
                        })
                        .sum(),
                    Value::List(_) | Value::Set(_) => 0,
                },
                e.access,
            ),
            None => ("raw", 0, 0),
        };
        let text = format!(
            "Value at:0x{id:012x} refcount:1 encoding:{enc} serializedlength:{} lru:{lru} lru_seconds_idle:{idle}",
            len + 1
        );
        ctx.out().simple(&text);
    } else if !super::debug::more(ctx, argv) {
        // DEBUG is no container command in Redis 7.0: its own `else` branch answers
        // with addReplySubcommandSyntaxError.
        subcommand_syntax_error(ctx.out(), argv);
    }
}

fn debug_populate(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let positive = |raw: &[u8]| crate::util::parse_i64(raw).filter(|v| *v >= 0);
    let Some(count) = positive(argv.get(2)) else {
        ctx.out()
            .error("ERR value is out of range, must be positive");
        return;
    };
    let prefix = if argv.len() >= 4 {
        argv.get(3).to_vec()
    } else {
        b"key".to_vec()
    };
    let size = if argv.len() == 5 {
        match positive(argv.get(4)) {
            Some(s) if s as u64 <= ctx.server.config.settings().proto_max_bulk_len_bytes => {
                s as usize
            }
            _ => {
                ctx.out()
                    .error("ERR value is out of range, must be positive");
                return;
            }
        }
    } else {
        0
    };
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    for j in 0..count as u64 {
        let mut key = prefix.clone();
        key.extend_from_slice(format!(":{j}").as_bytes());
        if ctx.keyspace.lookup(db, &key, now_ms).is_some() {
            continue;
        }
        let text = format!("value:{j}").into_bytes();
        let value = if size == 0 {
            StrValue::with_encoding(&text, text.len() > 44)
        } else {
            let mut v = vec![0u8; size];
            // Redis copies the shorter of the two: zip stops there.
            v.iter_mut().zip(&text).for_each(|(to, from)| *to = *from);
            StrValue::with_encoding(&v, size > 44)
        };
        let access = ctx.keyspace.fresh_access();
        let d = ctx.keyspace.db_mut(db);
        let id = d.insert(&key, Value::Str(value));
        d.touch(id, access);
        ctx.notify(crate::notify::NEW, "new", &key);
        ctx.key_modified(&key);
    }
    ctx.out().ok();
}

// ---- INFO ----

const DEFAULT_SECTIONS: &[&str] = &[
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "cpu",
    "modules",
    "errorstats",
    "cluster",
    "keyspace",
];
/// Every section keel has; Redis's `all` adds commandstats and latencystats, which keel
/// does not keep yet, so here it equals the default set.
const ALL_SECTIONS: &[&str] = DEFAULT_SECTIONS;

fn info(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let mut wanted: Vec<&str> = Vec::new();
    if argv.len() == 1 {
        wanted.extend_from_slice(DEFAULT_SECTIONS);
    }
    for a in argv.iter().skip(1) {
        let a = String::from_utf8_lossy(a).to_ascii_lowercase();
        match a.as_str() {
            "default" => wanted.extend_from_slice(DEFAULT_SECTIONS),
            "all" | "everything" => wanted.extend_from_slice(ALL_SECTIONS),
            other => {
                if let Some(s) = ALL_SECTIONS.iter().find(|s| **s == other) {
                    wanted.push(s);
                }
            }
        }
    }
    let mut text = String::new();
    for section in ALL_SECTIONS {
        if !wanted.contains(section) {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        info_section(ctx, section, &mut text);
    }
    ctx.out().verbatim(text.as_bytes());
}

fn human_bytes(n: u64) -> String {
    let n = n as f64;
    if n < 1024.0 {
        format!("{}B", n as u64)
    } else if n < 1024.0 * 1024.0 {
        format!("{:.2}K", n / 1024.0)
    } else if n < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", n / (1024.0 * 1024.0))
    } else {
        format!("{:.2}G", n / (1024.0 * 1024.0 * 1024.0))
    }
}

fn info_section(ctx: &Ctx<'_>, section: &str, t: &mut String) {
    use std::fmt::Write;
    let now = ctx.now;
    let uptime_secs = now.mono_ms.saturating_sub(ctx.server.started.mono_ms) / 1000;
    match section {
        "server" => {
            let p = &ctx.server.process;
            let _ = write!(
                t,
                "# Server\r\nredis_version:{}\r\nredis_git_sha1:00000000\r\nredis_git_dirty:0\r\nredis_build_id:0\r\nredis_mode:standalone\r\nkeel_version:{}\r\nos:{}\r\narch_bits:64\r\nmonotonic_clock:POSIX clock_gettime\r\nmultiplexing_api:epoll\r\natomicvar_api:c11-builtin\r\ngcc_version:0.0.0\r\nprocess_id:{}\r\nprocess_supervised:no\r\nrun_id:{}\r\ntcp_port:{}\r\nserver_time_usec:{}\r\nuptime_in_seconds:{}\r\nuptime_in_days:{}\r\nhz:{}\r\nconfigured_hz:{}\r\nlru_clock:{}\r\nexecutable:{}\r\nconfig_file:{}\r\nio_threads_active:0\r\n",
                super::connection::REDIS_VERSION,
                env!("CARGO_PKG_VERSION"),
                p.os,
                p.process_id,
                ctx.server.run_id,
                ctx.server.config.settings().port,
                now.wall_ms * 1000,
                uptime_secs,
                uptime_secs / 86400,
                ctx.server.config.settings().hz,
                ctx.server.config.settings().hz,
                (now.mono_ms / 1000) & 0xFF_FFFF,
                p.executable,
                p.config_file,
            );
        }
        "clients" => {
            let _ = write!(
                t,
                "# Clients\r\nconnected_clients:{}\r\ncluster_connections:0\r\nmaxclients:{}\r\nclient_recent_max_input_buffer:0\r\nclient_recent_max_output_buffer:0\r\nblocked_clients:{}\r\ntracking_clients:0\r\nclients_in_timeout_table:{}\r\n",
                ctx.clients.table.len() + 1,
                ctx.server.config.settings().maxclients,
                ctx.clients.blocking.blocked_clients(),
                ctx.clients.blocking.clients_with_timeout(),
            );
        }
        "memory" => {
            let used = ctx.used_memory_bytes() as u64;
            let rss = ctx.server.rss_bytes.unwrap_or(used);
            let dataset = ctx.keyspace.used_bytes() as u64;
            let maxmemory = ctx.server.config.settings().maxmemory_bytes;
            let _ = write!(
                t,
                "# Memory\r\nused_memory:{used}\r\nused_memory_human:{}\r\nused_memory_rss:{rss}\r\nused_memory_rss_human:{}\r\nused_memory_peak:{used}\r\nused_memory_peak_human:{}\r\nused_memory_dataset:{dataset}\r\nused_memory_startup:{}\r\ntotal_system_memory:0\r\nmaxmemory:{maxmemory}\r\nmaxmemory_human:{}\r\nmaxmemory_policy:{}\r\nmem_fragmentation_ratio:{:.2}\r\nmem_allocator:libc\r\nlazyfree_pending_objects:0\r\nlazyfreed_objects:{}\r\n",
                human_bytes(used),
                human_bytes(rss),
                human_bytes(used),
                800 * 1024,
                human_bytes(maxmemory),
                ctx.server.config.settings().maxmemory_policy.name(),
                rss as f64 / used.max(1) as f64,
                ctx.keyspace.lazyfreed_objects,
            );
        }
        "persistence" => {
            let _ = write!(
                t,
                "# Persistence\r\nloading:0\r\nasync_loading:0\r\ncurrent_cow_peak:0\r\ncurrent_cow_size:0\r\ncurrent_cow_size_age:0\r\ncurrent_fork_perc:0.00\r\ncurrent_save_keys_processed:0\r\ncurrent_save_keys_total:0\r\nrdb_changes_since_last_save:{}\r\nrdb_bgsave_in_progress:0\r\nrdb_last_save_time:{}\r\nrdb_last_bgsave_status:ok\r\nrdb_last_bgsave_time_sec:-1\r\nrdb_current_bgsave_time_sec:-1\r\naof_enabled:0\r\naof_rewrite_in_progress:0\r\naof_rewrite_scheduled:0\r\naof_last_rewrite_time_sec:-1\r\naof_current_rewrite_time_sec:-1\r\naof_last_bgrewrite_status:ok\r\naof_last_write_status:ok\r\n",
                ctx.server.dirty,
                ctx.server.started.wall_ms / 1000,
            );
        }
        "stats" => {
            let s = &ctx.server.stats;
            let ks = &ctx.keyspace.stats;
            let _ = write!(
                t,
                "# Stats\r\ntotal_connections_received:{}\r\ntotal_commands_processed:{}\r\ninstantaneous_ops_per_sec:{}\r\ntotal_net_input_bytes:{}\r\ntotal_net_output_bytes:{}\r\nrejected_connections:{}\r\nexpired_keys:{}\r\nexpired_stale_perc:{:.2}\r\nexpired_time_cap_reached_count:{}\r\nevicted_keys:{}\r\nevicted_clients:{}\r\nkeyspace_hits:{}\r\nkeyspace_misses:{}\r\npubsub_channels:{}\r\npubsub_patterns:{}\r\npubsubshard_channels:{}\r\nlatest_fork_usec:0\r\ntotal_forks:0\r\ntotal_error_replies:{}\r\nunexpected_error_replies:{}\r\n",
                s.total_connections_received,
                s.total_commands_processed,
                ctx.server.stats.instantaneous_ops_per_sec(),
                s.total_net_input_bytes,
                s.total_net_output_bytes,
                s.rejected_connections,
                ks.expired_keys,
                ks.expired_stale_perc * 100.0,
                ks.expire_cycle_time_limit_hit,
                s.evicted_keys,
                s.evicted_clients,
                s.keyspace_hits,
                s.keyspace_misses,
                ctx.clients.pubsub.channels.len(),
                ctx.clients.pubsub.patterns.len(),
                ctx.clients.pubsub.shard_channels.len(),
                s.total_error_replies,
                s.unexpected_error_replies,
            );
        }
        "replication" => {
            let _ = write!(
                t,
                "# Replication\r\nrole:master\r\nconnected_slaves:0\r\nmaster_failover_state:no-failover\r\nmaster_replid:{}\r\nmaster_replid2:0000000000000000000000000000000000000000\r\nmaster_repl_offset:0\r\nsecond_repl_offset:-1\r\nrepl_backlog_active:0\r\nrepl_backlog_size:1048576\r\nrepl_backlog_first_byte_offset:0\r\nrepl_backlog_histlen:0\r\n",
                ctx.server.repl_id()
            );
        }
        "cpu" => {
            let p = &ctx.server.process;
            let _ = write!(
                t,
                "# CPU\r\nused_cpu_sys:{:.6}\r\nused_cpu_user:{:.6}\r\nused_cpu_sys_children:0.000000\r\nused_cpu_user_children:0.000000\r\n",
                p.cpu_sys_secs, p.cpu_user_secs
            );
        }
        "modules" => t.push_str("# Modules\r\n"),
        "errorstats" => t.push_str("# Errorstats\r\n"),
        "cluster" => t.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
        "keyspace" => {
            t.push_str("# Keyspace\r\n");
            for (i, db) in ctx.keyspace.dbs.iter().enumerate() {
                if db.is_empty() {
                    continue;
                }
                let _ = write!(
                    t,
                    "db{i}:keys={},expires={},avg_ttl=0\r\n",
                    db.len(),
                    db.volatile_len()
                );
            }
        }
        _ => {}
    }
}
