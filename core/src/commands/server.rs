//! Server commands: INFO, CONFIG, DEBUG, SHUTDOWN, TIME (COMMAND is in `command.rs`). INFO text uses
//! Redis's section and field names so monitoring tools read keel unchanged.

use super::{arg_i64, cmd, errors, reply_help, subcommand_syntax_error, Argv, CommandSpec, Ctx};
use crate::config::{SHUTDOWN_FORCE, SHUTDOWN_NOSAVE, SHUTDOWN_NOW, SHUTDOWN_SAVE};
use crate::io::Effect;
use crate::types::{StrValue, Value};
use crate::util::parse_f64;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "bgrewriteaof",
        1,
        [ADMIN, NOSCRIPT, NO_ASYNC_LOADING],
        bgrewriteaof
    ),
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
    cmd!(
        "rewrite",
        2,
        [ADMIN, NOSCRIPT, LOADING, STALE],
        config_rewrite
    ),
    cmd!("set", -4, [ADMIN, NOSCRIPT, LOADING, STALE], config_set),
];

/// CONFIG REWRITE: the node reads the file, builds the new text
/// (`crate::config_rewrite`) and replaces the file atomically through the driver
/// (`Node::rewrite_step`); the client is answered when that is done. Inside EXEC,
/// which cannot wait, it is answered `+OK` at once and a failure is only logged.
fn config_rewrite(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let path = ctx.server.process.config_file.clone();
    if path.is_empty() {
        ctx.out()
            .error("ERR The server is running without a config file");
        return;
    }
    if ctx.server.rewrite.is_some() {
        ctx.out()
            .error("ERR Rewriting config file: another rewrite is in progress");
        return;
    }
    let io = ctx.server.draw_io_id();
    let waiting = ctx.client.multi.is_none();
    if waiting {
        ctx.client.awaiting_driver = true;
    } else {
        ctx.out().ok();
    }
    ctx.server.rewrite = Some(crate::server::Rewrite {
        io,
        conn: waiting.then_some(ctx.client.conn),
        tmp: format!("{path}.tmp-{}", io.0),
        path: path.clone(),
        step: crate::server::RewriteStep::Reading,
        failed: None,
    });
    ctx.server.effects.push_back(Effect::Disk {
        io,
        op: crate::io::DiskOp::Read {
            path,
            offset: 0,
            len: 64 * 1024 * 1024,
        },
    });
}

/// BGREWRITEAOF: the node starts the rewrite after the command (`node/aof.rs`).
fn bgrewriteaof(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let aof = &mut ctx.server.persist.aof;
    if aof.rewrite_in_progress {
        ctx.out()
            .error("ERR Background append only file rewriting already in progress");
    } else if aof.chain_running
        || (aof.enabled && !aof.appending)
        || ctx.client.multi.is_some()
        || ctx.server.persist.bgsave_in_progress
    {
        ctx.server.persist.aof.rewrite_asked = true;
        ctx.out()
            .simple("Background append only file rewriting scheduled");
    } else {
        aof.rewrite_asked = true;
        ctx.out()
            .simple("Background append only file rewriting started");
    }
}

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
        // keel's shutdown waits for its save instead of for lagging replicas; ABORT
        // cancels that wait (the shutdown's client gets its error).
        if ctx.server.persist.shutdown_pending {
            ctx.server
                .persist
                .requests
                .push(crate::server::PersistRequest::AbortShutdown);
            ctx.out().ok();
        } else {
            ctx.out().error("ERR No shutdown in progress.");
        }
        return;
    }
    let mut flags = 0;
    for j in 1..argv.len() {
        for (word, bit) in [
            ("save", SHUTDOWN_SAVE),
            ("nosave", SHUTDOWN_NOSAVE),
            ("now", SHUTDOWN_NOW),
            ("force", SHUTDOWN_FORCE),
        ] {
            if argv.is(j, word) {
                flags |= bit;
            }
        }
    }
    // The node saves first when it must (`node::persist::begin_shutdown`); the
    // client waits for the outcome: the connection closes, or an error if the save
    // failed without FORCE.
    ctx.client.blocked = true;
    let conn = Some(ctx.client.conn);
    ctx.server
        .persist
        .requests
        .push(crate::server::PersistRequest::Shutdown { conn, flags });
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
    let next = match ctx.server.config.prepare_set(&pairs, is_local) {
        Ok(next) => next,
        Err(e) => {
            ctx.out().error_format_bytes(&e);
            return;
        }
    };
    // Redis's updateMaxclients: more clients than the descriptors the process may
    // open (32 kept aside) is refused, naming how many would fit.
    let wanted = next.settings().maxclients as u64;
    if let Some(limit) = ctx.server.open_files_limit {
        let fits = limit.saturating_sub(32);
        if wanted != ctx.server.config.settings().maxclients as u64 && wanted > fits {
            let name = pairs
                .iter()
                .map(|(n, _)| *n)
                .find(|n| crate::config::canonical_name(n) == Some("maxclients"))
                .unwrap_or(b"maxclients");
            let error = [
                &b"ERR CONFIG SET failed (possibly related to argument '"[..],
                crate::util::c_str(name),
                b"') - The operating system is not able to handle the specified number of clients, try with ",
                fits.to_string().as_bytes(),
            ]
            .concat();
            ctx.out().error_format_bytes(&error);
            return;
        }
    }
    let moves_listeners = ctx.server.config.listener_differs(&next) && next.settings().port != 0;
    if next.settings().dir != ctx.server.config.settings().dir {
        if moves_listeners {
            ctx.out().error(
                "ERR CONFIG SET failed - dir can't change in the same CONFIG SET as bind or port",
            );
            return;
        }
        config_set_dir(ctx, next, &pairs);
        return;
    }
    // Port 0 listens nowhere in Redis; keel keeps the listeners it has.
    if moves_listeners {
        config_set_listeners(ctx, next, &pairs);
        return;
    }
    ctx.server.config = next;
    ctx.config_changed();
    ctx.out().ok();
}

/// A CONFIG SET that moves the listeners: Redis listens on the new addresses before
/// answering and, when that fails, keeps the old ones and every old value. keel asks
/// the driver (`Effect::Listen`) and answers when it has (`Node::on_listened`).
fn config_set_listeners(ctx: &mut Ctx<'_>, next: crate::config::Config, pairs: &[(&[u8], &[u8])]) {
    use crate::server::{ListenOutcome, PendingListen};
    if ctx.server.pending_listen.is_some() {
        ctx.out()
            .error("ERR CONFIG SET failed - another change of bind or port is in progress");
        return;
    }
    let io = ctx.server.draw_io_id();
    let error = ctx.server.config.listen_failed_error(&next, pairs);
    let s = next.settings();
    let effect = Effect::Listen {
        io,
        bind: s
            .bind
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect(),
        port: s.port,
        backlog: s.tcp_backlog,
    };
    let outcome = if ctx.client.multi.is_some() {
        // EXEC cannot stop half way: apply now, undo the listener part on failure.
        let old = &ctx.server.config;
        let undo = ListenOutcome::Undo {
            bind: old.get_one("bind").unwrap_or_default(),
            port: old.get_one("port").unwrap_or_default(),
        };
        ctx.server.config = next;
        ctx.config_changed();
        ctx.out().ok();
        undo
    } else {
        ctx.client.awaiting_driver = true;
        ListenOutcome::Commit(Box::new(next))
    };
    ctx.server.pending_listen = Some(PendingListen {
        io,
        conn: ctx.client.conn,
        outcome,
        error,
    });
    ctx.server.effects.push_back(effect);
}

/// A CONFIG SET that changes `dir`: Redis chdirs before answering, and a failed chdir
/// fails the whole CONFIG SET. keel asks the driver (`DiskOp::ChangeDir`, run in order
/// after the disk operations already asked for) and answers when it has
/// (`Node::config_dir_done`).
fn config_set_dir(ctx: &mut Ctx<'_>, next: crate::config::Config, pairs: &[(&[u8], &[u8])]) {
    use crate::server::PendingDir;
    if ctx.server.pending_dir.is_some() {
        ctx.out()
            .error("ERR CONFIG SET failed - another change of dir is in progress");
        return;
    }
    // Redis names the directive in chdir's error, not the argument as spelt.
    let name = b"dir".to_vec();
    let _ = pairs;
    let path = String::from_utf8_lossy(&next.settings().dir).into_owned();
    let previous = ctx.server.config.settings().dir.clone();
    let io = ctx.server.draw_io_id();
    let (conn, next) = if ctx.client.multi.is_some() {
        // EXEC cannot stop half way: apply now, put `dir` back if the chdir fails.
        ctx.server.config = next;
        ctx.config_changed();
        ctx.out().ok();
        (None, None)
    } else {
        ctx.client.awaiting_driver = true;
        (Some(ctx.client.conn), Some(Box::new(next)))
    };
    ctx.server.pending_dir = Some(PendingDir {
        io,
        conn,
        next,
        previous,
        name,
    });
    ctx.server.effects.push_back(Effect::Disk {
        io,
        op: crate::io::DiskOp::ChangeDir { path },
    });
}

fn config_resetstat(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    ctx.server.stats = Default::default();
    ctx.keyspace.stats = Default::default();
    ctx.server.observe.reset_stats();
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
                    crate::digest::value_digest(e.value, e.expire_at_ms != 0)
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
        // Sized once (':' and up to 20 digits): a growing temporary between the keys'
        // own allocations left glibc's heap fragmented, 18 B/key of RSS for long prefixes.
        let mut key = Vec::with_capacity(prefix.len() + 21);
        key.extend_from_slice(&prefix);
        key.push(b':');
        crate::util::write_i64(&mut key, j as i64);
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

/// Redis 7.0's sections in its order, and whether `INFO` / `INFO default` includes each
/// (`all` and `everything` include every one; keel has no modules, so they agree).
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

fn info(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let mut wanted = [false; SECTIONS.len()];
    let pick = |wanted: &mut [bool; SECTIONS.len()], all: bool| {
        for (w, (_, default)) in wanted.iter_mut().zip(SECTIONS) {
            *w |= all || *default;
        }
    };
    if argv.len() == 1 {
        pick(&mut wanted, false);
    }
    for a in argv.iter().skip(1) {
        let a = a.to_ascii_lowercase();
        match &a[..] {
            b"default" => pick(&mut wanted, false),
            b"all" | b"everything" => pick(&mut wanted, true),
            other => {
                for (w, (name, _)) in wanted.iter_mut().zip(SECTIONS) {
                    *w |= name.as_bytes() == other;
                }
            }
        }
    }
    let used = ctx.used_memory_bytes() as u64;
    let stats = &mut ctx.server.stats;
    stats.used_memory_peak_bytes = stats.used_memory_peak_bytes.max(used);
    let mut text = String::new();
    for (w, (name, _)) in wanted.iter().zip(SECTIONS) {
        if !w {
            continue;
        }
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        info_section(ctx, name, &mut Fields(&mut text));
    }
    // keel's own section, only when asked by name: INFO, INFO all keep Redis's shape.
    if argv
        .iter()
        .skip(1)
        .any(|a| a.eq_ignore_ascii_case(b"rollback"))
    {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        let mut f = Fields(&mut text);
        f.header("Rollback");
        for (name, value) in super::repl::rollback_fields(ctx) {
            f.put(&name, value);
        }
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

/// INFO text being written: `name:value` lines.
struct Fields<'a>(&'a mut String);

impl Fields<'_> {
    fn header(&mut self, title: &str) {
        self.0.push_str("# ");
        self.0.push_str(title);
        self.0.push_str("\r\n");
    }

    fn put(&mut self, name: &str, value: impl std::fmt::Display) {
        use std::fmt::Write;
        let _ = write!(self.0, "{name}:{value}\r\n");
    }

    /// Fields keel has no subsystem for yet, with the value an idle Redis reports.
    fn idle(&mut self, fields: &[(&str, &str)]) {
        for (name, value) in fields {
            self.put(name, value);
        }
    }
}

fn info_section(ctx: &Ctx<'_>, section: &str, f: &mut Fields<'_>) {
    match section {
        "server" => info_server(ctx, f),
        "clients" => {
            f.header("Clients");
            f.put("connected_clients", ctx.clients.table.len() + 1);
            f.put("cluster_connections", 0);
            f.put("maxclients", ctx.server.config.settings().maxclients);
            f.put("client_recent_max_input_buffer", 0);
            f.put("client_recent_max_output_buffer", 0);
            // Clients held by CLIENT PAUSE count as blocked, as Redis's BLOCKED_POSTPONE.
            f.put(
                "blocked_clients",
                ctx.clients.blocking.blocked_clients() + ctx.clients.postponed.len(),
            );
            f.put("tracking_clients", 0);
            f.put(
                "clients_in_timeout_table",
                ctx.clients.blocking.clients_with_timeout(),
            );
        }
        "memory" => info_memory(ctx, f),
        "persistence" => info_persistence(ctx, f),
        "stats" => info_stats(ctx, f),
        "replication" => {
            f.header("Replication");
            if ctx.server.replica.is_replica() {
                // A replica's own fields, then what a master and a replica share.
                replica_info(ctx, f);
                for (name, value) in super::repl::replica_lines(ctx) {
                    f.put(&name, value);
                }
                f.put(
                    "master_failover_state",
                    ctx.server.failover.state.info_name(),
                );
                for (name, value) in super::repl::replid_fields(ctx) {
                    f.put(&name, value);
                }
            } else {
                for (name, value) in super::repl::info_fields(ctx) {
                    f.put(&name, value);
                }
            }
        }
        "cpu" => {
            let p = &ctx.server.process;
            f.header("CPU");
            f.put("used_cpu_sys", format!("{:.6}", p.cpu_sys_secs));
            f.put("used_cpu_user", format!("{:.6}", p.cpu_user_secs));
            f.put("used_cpu_sys_children", "0.000000");
            f.put("used_cpu_user_children", "0.000000");
            // One thread runs everything: the main thread's time is the process's.
            f.put("used_cpu_sys_main_thread", format!("{:.6}", p.cpu_sys_secs));
            f.put(
                "used_cpu_user_main_thread",
                format!("{:.6}", p.cpu_user_secs),
            );
        }
        "modules" => f.header("Modules"),
        "commandstats" => {
            f.header("Commandstats");
            for c in ctx.server.observe.commands_sorted() {
                if c.calls == 0 && c.failed_calls == 0 && c.rejected_calls == 0 {
                    continue;
                }
                let per_call = if c.calls == 0 {
                    0.0
                } else {
                    c.usec as f64 / c.calls as f64
                };
                f.put(
                    &format!("cmdstat_{}", c.name),
                    format!(
                        "calls={},usec={},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                        c.calls, c.usec, c.rejected_calls, c.failed_calls
                    ),
                );
            }
        }
        "errorstats" => {
            f.header("Errorstats");
            for (code, count) in &ctx.server.observe.errors {
                f.put(&format!("errorstat_{code}"), format!("count={count}"));
            }
        }
        "latencystats" => {
            f.header("Latencystats");
            let percentiles = &ctx
                .server
                .config
                .settings()
                .latency_tracking_info_percentiles;
            for c in ctx.server.observe.commands_sorted() {
                let Some(h) = c.histogram.as_deref() else {
                    continue;
                };
                let values: Vec<String> = percentiles
                    .iter()
                    .map(|p| {
                        format!(
                            "p{}={:.3}",
                            crate::config::percentile_string(*p),
                            h.value_at_percentile(*p) as f64 / 1000.0
                        )
                    })
                    .collect();
                f.put(
                    &format!("latency_percentiles_usec_{}", c.name),
                    values.join(","),
                );
            }
        }
        "cluster" => {
            f.header("Cluster");
            f.put("cluster_enabled", 0);
        }
        "keyspace" => {
            f.header("Keyspace");
            for (i, db) in ctx.keyspace.dbs.iter().enumerate() {
                if db.is_empty() {
                    continue;
                }
                f.put(
                    &format!("db{i}"),
                    format!("keys={},expires={},avg_ttl=0", db.len(), db.volatile_len()),
                );
            }
        }
        _ => {}
    }
}

fn info_server(ctx: &Ctx<'_>, f: &mut Fields<'_>) {
    let now = ctx.now;
    let uptime_secs = now.mono_ms.saturating_sub(ctx.server.started.mono_ms) / 1000;
    let p = &ctx.server.process;
    let settings = ctx.server.config.settings();
    f.header("Server");
    f.put("redis_version", super::connection::REDIS_VERSION);
    f.put("redis_git_sha1", "00000000");
    f.put("redis_git_dirty", 0);
    f.put("redis_build_id", 0);
    f.put("redis_mode", "standalone");
    f.put("os", &p.os);
    f.put("arch_bits", 64);
    f.put("monotonic_clock", "POSIX clock_gettime");
    f.put("multiplexing_api", "epoll");
    f.put("atomicvar_api", "c11-builtin");
    f.put("gcc_version", "0.0.0");
    f.put("process_id", p.process_id);
    f.put("process_supervised", "no");
    f.put("run_id", &ctx.server.run_id);
    f.put("tcp_port", settings.port);
    f.put("server_time_usec", now.wall_ms * 1000);
    f.put("uptime_in_seconds", uptime_secs);
    f.put("uptime_in_days", uptime_secs / 86400);
    f.put("hz", settings.hz);
    f.put("configured_hz", settings.hz);
    f.put("lru_clock", (now.mono_ms / 1000) & 0xFF_FFFF);
    f.put("executable", &p.executable);
    f.put("config_file", &p.config_file);
    f.put("io_threads_active", 0);
}

fn info_memory(ctx: &Ctx<'_>, f: &mut Fields<'_>) {
    let used = ctx.used_memory_bytes() as u64;
    let peak = ctx.server.stats.used_memory_peak_bytes.max(used);
    let rss = ctx.server.rss_bytes.unwrap_or(used);
    let startup = crate::clients::BASELINE_USED_BYTES as u64;
    let dataset = ctx.keyspace.used_bytes() as u64;
    let overhead = used.saturating_sub(dataset);
    let total_system = ctx.server.process.total_system_memory_bytes;
    let maxmemory = ctx.server.config.settings().maxmemory_bytes;
    let pct = |part: u64, whole: u64| format!("{:.2}%", part as f64 * 100.0 / whole.max(1) as f64);
    f.header("Memory");
    f.put("used_memory", used);
    f.put("used_memory_human", human_bytes(used));
    f.put("used_memory_rss", rss);
    f.put("used_memory_rss_human", human_bytes(rss));
    f.put("used_memory_peak", peak);
    f.put("used_memory_peak_human", human_bytes(peak));
    f.put("used_memory_peak_perc", pct(used, peak));
    f.put("used_memory_overhead", overhead);
    f.put("used_memory_startup", startup);
    f.put("used_memory_dataset", dataset);
    f.put(
        "used_memory_dataset_perc",
        pct(dataset, used.saturating_sub(startup)),
    );
    // keel's accounting is logical: the allocator's view is the same number, and the
    // OS's is RSS.
    f.put("allocator_allocated", used);
    f.put("allocator_active", used);
    f.put("allocator_resident", rss);
    f.put("total_system_memory", total_system);
    f.put("total_system_memory_human", human_bytes(total_system));
    // No scripting engine yet: an idle Redis's Lua and functions figures.
    f.idle(&[
        ("used_memory_lua", "32768"),
        ("used_memory_vm_eval", "32768"),
        ("used_memory_lua_human", "32.00K"),
        ("used_memory_scripts_eval", "0"),
        ("number_of_cached_scripts", "0"),
        ("number_of_functions", "0"),
        ("number_of_libraries", "0"),
        ("used_memory_vm_functions", "33792"),
        ("used_memory_vm_total", "66560"),
        ("used_memory_vm_total_human", "65.00K"),
        ("used_memory_functions", "200"),
        ("used_memory_scripts", "200"),
        ("used_memory_scripts_human", "200B"),
    ]);
    f.put("maxmemory", maxmemory);
    f.put("maxmemory_human", human_bytes(maxmemory));
    f.put(
        "maxmemory_policy",
        ctx.server.config.settings().maxmemory_policy.name(),
    );
    let rss_ratio = rss as f64 / used.max(1) as f64;
    let rss_extra = rss as i64 - used as i64;
    f.put("allocator_frag_ratio", "1.00");
    f.put("allocator_frag_bytes", 0);
    f.put("allocator_rss_ratio", format!("{rss_ratio:.2}"));
    f.put("allocator_rss_bytes", rss_extra);
    f.put("rss_overhead_ratio", "1.00");
    f.put("rss_overhead_bytes", 0);
    f.put("mem_fragmentation_ratio", format!("{rss_ratio:.2}"));
    f.put("mem_fragmentation_bytes", rss_extra);
    f.put(
        "mem_not_counted_for_evict",
        ctx.clients.table.not_counted_for_evict_bytes(),
    );
    let backlog_bytes = ctx
        .server
        .repl_master
        .backlog
        .as_ref()
        .map_or(0, |b| b.histlen());
    let replica_bytes: usize = ctx
        .clients
        .table
        .values()
        .filter(|c| c.is_replica)
        .map(|c| c.memory_bytes())
        .sum();
    f.put("mem_replication_backlog", backlog_bytes);
    f.put("mem_total_replication_buffers", backlog_bytes);
    f.put("mem_clients_slaves", replica_bytes);
    f.put(
        "mem_clients_normal",
        ctx.clients.memory_bytes().saturating_sub(replica_bytes),
    );
    f.put("mem_cluster_links", 0);
    f.put("mem_aof_buffer", 0);
    f.put("mem_allocator", "libc");
    f.put("active_defrag_running", 0);
    f.put("lazyfree_pending_objects", 0);
    f.put("lazyfreed_objects", ctx.keyspace.lazyfreed_objects);
}

fn info_stats(ctx: &Ctx<'_>, f: &mut Fields<'_>) {
    let s = &ctx.server.stats;
    let ks = &ctx.keyspace.stats;
    let (input_kbps, output_kbps) = s.instantaneous_kbps();
    f.header("Stats");
    f.put("total_connections_received", s.total_connections_received);
    f.put("total_commands_processed", s.total_commands_processed);
    f.put("instantaneous_ops_per_sec", s.instantaneous_ops_per_sec());
    f.put("total_net_input_bytes", s.total_net_input_bytes);
    f.put("total_net_output_bytes", s.total_net_output_bytes);
    f.put("total_net_repl_input_bytes", 0);
    f.put(
        "total_net_repl_output_bytes",
        ctx.server.repl_master.repl_output_bytes,
    );
    f.put("instantaneous_input_kbps", format!("{input_kbps:.2}"));
    f.put("instantaneous_output_kbps", format!("{output_kbps:.2}"));
    f.put("instantaneous_input_repl_kbps", "0.00");
    f.put("instantaneous_output_repl_kbps", "0.00");
    f.put("rejected_connections", s.rejected_connections);
    let m = &ctx.server.repl_master;
    f.put("sync_full", m.sync_full);
    f.put("sync_partial_ok", m.sync_partial_ok);
    f.put("sync_partial_err", m.sync_partial_err);
    f.put("expired_keys", ks.expired_keys);
    f.put(
        "expired_stale_perc",
        format!("{:.2}", ks.expired_stale_perc * 100.0),
    );
    f.put(
        "expired_time_cap_reached_count",
        ks.expire_cycle_time_limit_hit,
    );
    f.put(
        "expire_cycle_cpu_milliseconds",
        s.expire_cycle_time_used_us / 1000,
    );
    f.put("evicted_keys", s.evicted_keys);
    f.put("evicted_clients", s.evicted_clients);
    f.idle(&[
        ("total_eviction_exceeded_time", "0"),
        ("current_eviction_exceeded_time", "0"),
    ]);
    f.put("keyspace_hits", s.keyspace_hits);
    f.put("keyspace_misses", s.keyspace_misses);
    f.put("pubsub_channels", ctx.clients.pubsub.channels.len());
    f.put("pubsub_patterns", ctx.clients.pubsub.patterns.len());
    f.put(
        "pubsubshard_channels",
        ctx.clients.pubsub.shard_channels.len(),
    );
    f.idle(&[
        ("latest_fork_usec", "0"),
        ("total_forks", "0"),
        ("migrate_cached_sockets", "0"),
        ("slave_expires_tracked_keys", "0"),
        ("active_defrag_hits", "0"),
        ("active_defrag_misses", "0"),
        ("active_defrag_key_hits", "0"),
        ("active_defrag_key_misses", "0"),
        ("total_active_defrag_time", "0"),
        ("current_active_defrag_time", "0"),
        ("tracking_total_keys", "0"),
        ("tracking_total_items", "0"),
        ("tracking_total_prefixes", "0"),
    ]);
    f.put("unexpected_error_replies", s.unexpected_error_replies);
    f.put("total_error_replies", s.total_error_replies);
    f.put("dump_payload_sanitizations", 0);
    f.put("total_reads_processed", s.total_reads_processed);
    f.put("total_writes_processed", s.total_writes_processed);
    f.idle(&[
        ("io_threaded_reads_processed", "0"),
        ("io_threaded_writes_processed", "0"),
        ("reply_buffer_shrinks", "0"),
        ("reply_buffer_expands", "0"),
    ]);
}

/// INFO persistence, Redis 7.0's fields from the persistence state (`Server::persist`;
/// the aof_* fields from the AOF's status). keel's snapshot has no fork: the cow
/// fields report the snapshot's extra memory (pre-images of keys changed ahead of the
/// walk, its bookkeeping, output not yet written), `current_fork_perc` its progress.
fn info_persistence(ctx: &Ctx<'_>, f: &mut Fields<'_>) {
    let now = ctx.now;
    let p = &ctx.server.persist;
    f.header("Persistence");
    f.put("loading", u8::from(p.loading));
    f.put("async_loading", 0);
    let running = p.bgsave_in_progress && p.bgsave_started_mono_ms.is_some();
    f.put(
        "current_cow_peak",
        if running {
            p.current_extra_peak_bytes
        } else {
            0
        },
    );
    f.put(
        "current_cow_size",
        if running { p.current_extra_bytes } else { 0 },
    );
    f.put("current_cow_size_age", 0);
    let perc = if running && p.current_save_keys_total > 0 {
        p.current_save_keys_processed as f64 * 100.0 / p.current_save_keys_total as f64
    } else {
        0.0
    };
    f.put("current_fork_perc", format!("{perc:.2}"));
    f.put(
        "current_save_keys_processed",
        if running {
            p.current_save_keys_processed
        } else {
            0
        },
    );
    f.put(
        "current_save_keys_total",
        if running {
            p.current_save_keys_total
        } else {
            0
        },
    );
    f.put("rdb_changes_since_last_save", ctx.server.dirty);
    f.put("rdb_bgsave_in_progress", u8::from(running));
    f.put("rdb_last_save_time", p.last_save_wall_secs);
    f.put(
        "rdb_last_bgsave_status",
        if p.last_bgsave_ok { "ok" } else { "err" },
    );
    f.put(
        "rdb_last_bgsave_time_sec",
        p.last_bgsave_time_secs.map_or(-1, |s| s as i64),
    );
    let current = p
        .bgsave_started_mono_ms
        .map_or(-1, |t| (now.mono_ms.saturating_sub(t) / 1000) as i64);
    f.put("rdb_current_bgsave_time_sec", current);
    f.put("rdb_saves", p.rdb_saves);
    f.put("rdb_last_cow_size", p.last_cow_size_bytes);
    f.put("rdb_last_load_keys_expired", p.last_load_keys_expired);
    f.put("rdb_last_load_keys_loaded", p.last_load_keys_loaded);
    let a = &p.aof;
    f.put("aof_enabled", u8::from(a.enabled));
    f.put("aof_rewrite_in_progress", u8::from(a.rewrite_in_progress));
    f.put("aof_rewrite_scheduled", u8::from(a.rewrite_scheduled));
    f.put(
        "aof_last_rewrite_time_sec",
        a.last_rewrite_time_secs.map_or(-1, |s| s as i64),
    );
    let rewriting = a
        .rewrite_started_mono_ms
        .map_or(-1, |t| (now.mono_ms.saturating_sub(t) / 1000) as i64);
    f.put("aof_current_rewrite_time_sec", rewriting);
    f.put(
        "aof_last_bgrewrite_status",
        if a.last_bgrewrite_ok { "ok" } else { "err" },
    );
    f.put("aof_rewrites", a.rewrites);
    f.put(
        "aof_rewrites_consecutive_failures",
        a.rewrites_consecutive_failures,
    );
    f.put(
        "aof_last_write_status",
        if a.last_write_error.is_none() {
            "ok"
        } else {
            "err"
        },
    );
    f.put("aof_last_cow_size", a.last_cow_size_bytes);
    f.put("module_fork_in_progress", 0);
    f.put("module_fork_last_cow_size", 0);
    // Shown while the AOF is on (Redis 7.0's order).
    if a.enabled {
        f.put("aof_current_size", a.current_bytes);
        f.put("aof_base_size", a.base_bytes);
        f.put("aof_pending_rewrite", u8::from(a.rewrite_scheduled));
        f.put("aof_buffer_length", a.buffer_bytes);
        f.put("aof_pending_bio_fsync", u8::from(a.fsync_in_flight));
        f.put("aof_delayed_fsync", a.delayed_fsyncs);
    }
    if p.loading {
        // keel reads the file in chunks without a stat: the total is what was read.
        f.put("loading_start_time", p.loading_started_wall_secs);
        f.put("loading_total_bytes", p.loading_loaded_bytes);
        f.put("loading_rdb_used_mem", p.loading_rdb_used_mem_bytes);
        f.put("loading_loaded_bytes", p.loading_loaded_bytes);
        f.put("loading_loaded_perc", "0.00");
        f.put("loading_eta_seconds", 1);
    }
}

/// `role:slave` and the replica's fields (`crate::repl::replica::ReplicaLink::info_fields`).
fn replica_info(ctx: &Ctx<'_>, f: &mut Fields<'_>) {
    let s = ctx.server.config.settings();
    let info_cfg = crate::repl::replica::InfoConfig {
        priority: i64::from(s.replica_priority),
        read_only: s.replica_read_only,
        announced: s.replica_announced,
    };
    f.put("role", "slave");
    let offset = ctx.server.repl.master_repl_offset;
    for (k, v) in ctx.server.replica.info_fields(ctx.now, offset, &info_cfg) {
        f.put(&k, v);
    }
}
