//! Connection commands: PING ECHO QUIT RESET SELECT HELLO AUTH and the CLIENT family.
//! They change only the calling client's state (or, for CLIENT KILL, ask the driver
//! to close other connections).

use super::{cmd, errors, reply_help, Argv, CommandSpec, Ctx};
use crate::client::ReplyMode;
use crate::resp::Proto;
use crate::util::parse_i64;

pub const REDIS_VERSION: &str = "7.0.15";

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "auth",
        -2,
        [NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY],
        auth
    ),
    cmd!("client", -2, [], client_help, subcommands: CLIENT_SUBCOMMANDS),
    cmd!("echo", 2, [FAST, LOADING, STALE], echo),
    cmd!(
        "hello",
        -1,
        [NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY],
        hello
    ),
    cmd!("ping", -1, [FAST], ping),
    cmd!(
        "quit",
        -1,
        [ALLOW_BUSY, NOSCRIPT, LOADING, STALE, FAST, NO_AUTH],
        quit
    ),
    cmd!(
        "reset",
        1,
        [NOSCRIPT, LOADING, STALE, FAST, NO_AUTH, ALLOW_BUSY],
        reset
    ),
    cmd!("select", 2, [LOADING, STALE, FAST], select),
];

static CLIENT_SUBCOMMANDS: &[CommandSpec] = &[
    cmd!("getname", 2, [NOSCRIPT, LOADING, STALE], client_getname),
    cmd!("help", 2, [LOADING, STALE], client_help),
    cmd!("id", 2, [NOSCRIPT, LOADING, STALE], client_id),
    cmd!("info", 2, [NOSCRIPT, LOADING, STALE], client_info),
    cmd!("kill", -3, [ADMIN, NOSCRIPT, LOADING, STALE], client_kill),
    cmd!("list", -2, [ADMIN, NOSCRIPT, LOADING, STALE], client_list),
    cmd!(
        "no-evict",
        3,
        [ADMIN, NOSCRIPT, LOADING, STALE],
        client_no_evict
    ),
    cmd!("no-touch", 3, [NOSCRIPT, LOADING, STALE], client_no_touch),
    cmd!("pause", -3, [ADMIN, NOSCRIPT, LOADING, STALE], client_pause),
    cmd!("reply", 3, [NOSCRIPT, LOADING, STALE], client_reply),
    cmd!("setname", 3, [NOSCRIPT, LOADING, STALE], client_setname),
    cmd!(
        "unblock",
        -3,
        [ADMIN, NOSCRIPT, LOADING, STALE],
        client_unblock
    ),
    cmd!(
        "unpause",
        2,
        [ADMIN, NOSCRIPT, LOADING, STALE],
        client_unpause
    ),
];

/// CLIENT PAUSE timeout [WRITE|ALL], as Redis 7.0: the mode given replaces the one
/// in force (default ALL), the end is the later of the two; a less restrictive mode
/// lets the held clients try again.
fn client_pause(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    use crate::server::{ClientPause, PauseMode};
    if argv.len() > 4 {
        super::subcommand_syntax_error(ctx.out(), argv);
        return;
    }
    let mut mode = PauseMode::All;
    if argv.len() == 4 {
        if argv.is(3, "write") {
            mode = PauseMode::Write;
        } else if !argv.is(3, "all") {
            ctx.out()
                .error("ERR CLIENT PAUSE mode must be WRITE or ALL");
            return;
        }
    }
    let Some(timeout_ms) = crate::util::parse_i64(argv.get(2)) else {
        ctx.out()
            .error("ERR timeout is not an integer or out of range");
        return;
    };
    let Ok(timeout_ms) = u64::try_from(timeout_ms) else {
        ctx.out().error("ERR timeout is negative");
        return;
    };
    // Redis: a timeout of 0 is an end time of 0, already past at the next check.
    let end_mono_ms = if timeout_ms == 0 {
        0
    } else {
        ctx.now.mono_ms.saturating_add(timeout_ms)
    };
    let before = ctx.server.client_pause;
    let end_mono_ms = before.map_or(end_mono_ms, |p| p.end_mono_ms.max(end_mono_ms));
    let failover = ctx.server.failover_pause;
    ctx.server
        .set_pause(Some(ClientPause { mode, end_mono_ms }), failover);
    if before.is_some_and(|p| p.mode > mode) {
        ctx.server.pause_relaxed = true;
    }
    ctx.out().ok();
}

/// CLIENT UNPAUSE: ends a pause at once; the held clients run.
fn client_unpause(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    // A FAILOVER's pause stays (Redis unpauses PAUSE_BY_CLIENT_COMMAND only).
    let failover = ctx.server.failover_pause;
    ctx.server.set_pause(None, failover);
    ctx.out().ok();
}

/// `prefix` (ending in an opening quote), the client's argument and a closing quote, as
/// Redis's addReplyErrorFormat writes `'%s'`: the argument cut at a NUL (a C string), its
/// bytes as sent.
fn quoted_error(prefix: &[u8], arg: &[u8]) -> Vec<u8> {
    [prefix, crate::util::c_str(arg), b"'"].concat()
}

/// CLIENT UNBLOCK id [TIMEOUT|ERROR] (the blocking registry does the work).
fn client_unblock(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if argv.len() > 4 {
        super::subcommand_syntax_error(ctx.out(), argv);
        return;
    }
    let mut error = false;
    if argv.len() == 4 {
        if argv.is(3, "error") {
            error = true;
        } else if !argv.is(3, "timeout") {
            ctx.out()
                .error("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR");
            return;
        }
    }
    let Some(id) = super::arg_i64(ctx, argv, 2) else {
        return;
    };
    let done = u64::try_from(id).is_ok_and(|id| ctx.clients.unblock(ctx.keyspace, id, error));
    ctx.out().int(i64::from(done));
}

fn ping(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    // A RESP2 subscriber gets PING's answer in the shape of a message.
    if ctx.client.is_pubsub() && ctx.client.out.proto == Proto::Resp2 && argv.len() <= 2 {
        let out = ctx.out();
        out.array(2);
        out.bulk(b"pong");
        out.bulk(argv.get(1));
        return;
    }
    match argv.len() {
        1 => ctx.out().simple("PONG"),
        2 => ctx.out().bulk(argv.get(1)),
        _ => ctx
            .out()
            .error("ERR wrong number of arguments for 'ping' command"),
    }
}

fn echo(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    ctx.out().bulk(argv.get(1));
}

fn quit(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    ctx.out().ok();
    ctx.client.close_after_reply = true;
}

fn select(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(id) = super::keys::arg_i32(ctx, argv.get(1), None) else {
        return;
    };
    if id < 0 || id as usize >= ctx.keyspace.dbs.len() {
        ctx.out().error(errors::DB_OUT_OF_RANGE);
        return;
    }
    ctx.client.db = id as usize;
    ctx.out().ok();
}

fn reset(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    super::transactions::discard_transaction(ctx);
    super::pubsub::unsubscribe_all_silently(ctx);
    // Redis's clearClientConnectionState: a monitor stops being one.
    ctx.clients.monitors.remove(&ctx.client.conn);
    let c = &mut *ctx.client;
    c.db = 0;
    c.out.proto = Proto::Resp2;
    c.authenticated = ctx.server.config.settings().requirepass.is_none();
    c.reply_mode = ReplyMode::On;
    c.no_evict = false;
    c.no_touch = false;
    ctx.out().simple("RESET");
}

/// Checks a password for `user` against `requirepass` (keel has only the default user).
fn password_ok(ctx: &Ctx<'_>, user: &[u8], pass: &[u8]) -> bool {
    if user != b"default" {
        return false;
    }
    match &ctx.server.config.settings().requirepass {
        None => true,
        Some(required) => constant_time_eq(required, pass),
    }
}

/// Compares without an early exit, so timing does not leak the password's prefix.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        diff |= (a.get(i).copied().unwrap_or(0) ^ b.get(i).copied().unwrap_or(0)) as usize;
    }
    diff == 0
}

const WRONGPASS: &str = "WRONGPASS invalid username-password pair or user is disabled.";

fn auth(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if argv.len() > 3 {
        ctx.out().error(errors::SYNTAX);
        return;
    }
    let (user, pass): (&[u8], &[u8]) = if argv.len() == 2 {
        if ctx.server.config.settings().requirepass.is_none() {
            ctx.out().error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
            return;
        }
        (b"default", argv.get(1))
    } else {
        (argv.get(1), argv.get(2))
    };
    if password_ok(ctx, user, pass) {
        ctx.client.authenticated = true;
        ctx.out().ok();
    } else {
        ctx.out().error(WRONGPASS);
    }
}

fn hello(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let mut next = 1;
    let mut version: Option<i64> = None;
    if argv.len() >= 2 {
        let Some(v) = parse_i64(argv.get(1)) else {
            ctx.out()
                .error("ERR Protocol version is not an integer or out of range");
            return;
        };
        if !(2..=3).contains(&v) {
            ctx.out().error("NOPROTO unsupported protocol version");
            return;
        }
        version = Some(v);
        next = 2;
    }
    let mut credentials: Option<(&[u8], &[u8])> = None;
    let mut name: Option<&[u8]> = None;
    let mut j = next;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        if argv.is(j, "auth") && more >= 2 {
            credentials = Some((argv.get(j + 1), argv.get(j + 2)));
            j += 2;
        } else if argv.is(j, "setname") && more >= 1 {
            let n = argv.get(j + 1);
            if !valid_client_name(n) {
                ctx.out().error(INVALID_NAME);
                return;
            }
            name = Some(n);
            j += 1;
        } else {
            ctx.out().error_format_bytes(&quoted_error(
                b"ERR Syntax error in HELLO option '",
                argv.get(j),
            ));
            return;
        }
        j += 1;
    }
    if let Some((user, pass)) = credentials {
        if password_ok(ctx, user, pass) {
            ctx.client.authenticated = true;
        } else {
            ctx.out().error(WRONGPASS);
            return;
        }
    }
    if !ctx.client.authenticated {
        ctx.out().error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
        return;
    }
    if let Some(n) = name {
        ctx.client.name = (!n.is_empty()).then(|| n.to_vec());
    }
    if let Some(v) = version {
        ctx.client.out.proto = if v == 3 { Proto::Resp3 } else { Proto::Resp2 };
    }
    let proto = match ctx.client.out.proto {
        Proto::Resp2 => 2,
        Proto::Resp3 => 3,
    };
    let id = ctx.client.id as i64;
    let replica = ctx.server.replica.is_replica();
    let out = ctx.out();
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(proto);
    out.bulk(b"id");
    out.int(id);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(if replica { b"replica" } else { b"master" });
    out.bulk(b"modules");
    out.array(0);
}

const INVALID_NAME: &str =
    "ERR Client names cannot contain spaces, newlines or special characters.";

fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| (b'!'..=b'~').contains(&b))
}

fn client_setname(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let n = argv.get(2);
    if !valid_client_name(n) {
        ctx.out().error(INVALID_NAME);
        return;
    }
    ctx.client.name = (!n.is_empty()).then(|| n.to_vec());
    ctx.out().ok();
}

fn client_getname(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    match ctx.client.name.clone() {
        Some(n) => ctx.out().bulk(&n),
        None => ctx.out().null(),
    }
}

fn client_id(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let id = ctx.client.id as i64;
    ctx.out().int(id);
}

fn client_info(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let dirty = ctx.clients.watch.is_dirty(ctx.client.conn);
    let mut line = ctx.client.info_line_with(ctx.now.mono_ms, dirty);
    line.push('\n');
    ctx.out().verbatim(line.as_bytes());
}

/// A CLIENT LIST/KILL TYPE word as `Client::type_name` spells it (None: unknown).
fn client_type(word: &[u8]) -> Option<&'static str> {
    let known = [
        ("normal", "normal"),
        ("master", "master"),
        ("replica", "replica"),
        ("slave", "replica"),
        ("pubsub", "pubsub"),
    ];
    known
        .iter()
        .find(|(w, _)| word.eq_ignore_ascii_case(w.as_bytes()))
        .map(|&(_, name)| name)
}

fn client_list(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let mut ids: Option<Vec<u64>> = None;
    // TYPE filter: the client type wanted (`slave` read as `replica`).
    let mut want_type: Option<&'static str> = None;
    let mut j = 2;
    while j < argv.len() {
        if argv.is(j, "type") && j + 1 < argv.len() {
            let t = argv.get(j + 1);
            match client_type(t) {
                Some(name) => want_type = Some(name),
                None => {
                    ctx.out()
                        .error_format_bytes(&quoted_error(b"ERR Unknown client type '", t));
                    return;
                }
            }
            j += 2;
        } else if argv.is(j, "id") && j + 1 < argv.len() {
            let mut list = ids.take().unwrap_or_default();
            j += 1;
            while j < argv.len() {
                match parse_i64(argv.get(j)) {
                    Some(v) if v > 0 => list.push(v as u64),
                    _ => {
                        ctx.out().error("ERR Invalid client ID");
                        return;
                    }
                }
                j += 1;
            }
            ids = Some(list);
        } else {
            ctx.out().error(errors::SYNTAX);
            return;
        }
    }
    let now = ctx.now.mono_ms;
    let mut lines: Vec<(u64, String)> = ctx
        .clients
        .table
        .values()
        .filter(|c| want_type.is_none_or(|t| c.type_name() == t))
        .map(|c| {
            (
                c.id,
                c.info_line_with(now, ctx.clients.watch.is_dirty(c.conn)),
            )
        })
        .collect();
    if want_type.is_none_or(|t| ctx.client.type_name() == t) {
        let dirty = ctx.clients.watch.is_dirty(ctx.client.conn);
        lines.push((ctx.client.id, ctx.client.info_line_with(now, dirty)));
    }
    lines.sort_by_key(|(id, _)| *id);
    let mut text = String::new();
    for (id, line) in lines {
        if ids.as_ref().is_some_and(|ids| !ids.contains(&id)) {
            continue;
        }
        text.push_str(&line);
        text.push('\n');
    }
    ctx.out().verbatim(text.as_bytes());
}

fn client_kill(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    // Old form: CLIENT KILL addr:port.
    if argv.len() == 3 {
        let addr = argv.get(2);
        if ctx.client.peer.as_bytes() == addr {
            ctx.client.close_after_reply = true;
            ctx.out().ok();
            return;
        }
        let target = ctx
            .clients
            .table
            .values()
            .find(|c| c.peer.as_bytes() == addr)
            .map(|c| c.conn);
        match target {
            Some(conn) => {
                ctx.kill_client(conn);
                ctx.out().ok();
            }
            None => ctx.out().error("ERR No such client"),
        }
        return;
    }
    let (mut id, mut addr, mut laddr, mut skipme) =
        (None::<u64>, None::<&[u8]>, None::<&[u8]>, true);
    let mut want_type: Option<&'static str> = None;
    let mut max_age_secs: Option<u64> = None;
    let mut j = 2;
    while j < argv.len() {
        let Some(value) = (j + 1 < argv.len()).then(|| argv.get(j + 1)) else {
            ctx.out().error(errors::SYNTAX);
            return;
        };
        if argv.is(j, "id") {
            match parse_i64(value) {
                Some(v) if v > 0 => id = Some(v as u64),
                _ => {
                    ctx.out().error("ERR client-id should be greater than 0");
                    return;
                }
            }
        } else if argv.is(j, "addr") {
            addr = Some(value);
        } else if argv.is(j, "laddr") {
            laddr = Some(value);
        } else if argv.is(j, "type") {
            match client_type(value) {
                Some(name) => want_type = Some(name),
                None => {
                    ctx.out()
                        .error_format_bytes(&quoted_error(b"ERR Unknown client type '", value));
                    return;
                }
            }
        } else if argv.is(j, "user") {
            if value != b"default" {
                ctx.out()
                    .error_format_bytes(&quoted_error(b"ERR No such user '", value));
                return;
            }
        } else if argv.is(j, "skipme") {
            if value.eq_ignore_ascii_case(b"yes") {
                skipme = true;
            } else if value.eq_ignore_ascii_case(b"no") {
                skipme = false;
            } else {
                ctx.out().error(errors::SYNTAX);
                return;
            }
        } else if argv.is(j, "maxage") {
            match parse_i64(value) {
                Some(v) if v >= 0 => max_age_secs = Some(v as u64),
                _ => {
                    ctx.out().error(errors::NOT_INTEGER);
                    return;
                }
            }
        } else {
            ctx.out().error(errors::SYNTAX);
            return;
        }
        j += 2;
    }
    let now = ctx.now.mono_ms;
    let matches = |c: &crate::client::Client| {
        id.is_none_or(|i| c.id == i)
            && addr.is_none_or(|a| c.peer.as_bytes() == a)
            && laddr.is_none_or(|a| c.local.as_bytes() == a)
            && want_type.is_none_or(|t| c.type_name() == t)
            && max_age_secs.is_none_or(|m| now.saturating_sub(c.created_mono_ms) / 1000 >= m)
    };
    let victims: Vec<u64> = ctx
        .clients
        .table
        .values()
        .filter(|c| matches(c))
        .map(|c| c.conn)
        .collect();
    let mut killed = victims.len() as i64;
    for conn in victims {
        ctx.kill_client(conn);
    }
    if !skipme && matches(ctx.client) {
        ctx.client.close_after_reply = true;
        killed += 1;
    }
    ctx.out().int(killed);
}

fn client_reply(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if argv.is(2, "on") {
        ctx.client.reply_mode = ReplyMode::On;
        ctx.out().ok();
    } else if argv.is(2, "off") {
        ctx.client.reply_mode = ReplyMode::Off;
    } else if argv.is(2, "skip") {
        if ctx.client.reply_mode != ReplyMode::Off {
            ctx.client.reply_mode = ReplyMode::SkipNext;
        }
    } else {
        ctx.out().error(errors::SYNTAX);
    }
}

fn on_off(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> Option<bool> {
    if argv.is(2, "on") {
        Some(true)
    } else if argv.is(2, "off") {
        Some(false)
    } else {
        ctx.out().error(errors::SYNTAX);
        None
    }
}

fn client_no_evict(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if let Some(v) = on_off(ctx, argv) {
        ctx.client.no_evict = v;
        ctx.out().ok();
    }
}

fn client_no_touch(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if let Some(v) = on_off(ctx, argv) {
        ctx.client.no_touch = v;
        ctx.out().ok();
    }
}

fn client_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    reply_help(
        ctx.out(),
        "CLIENT",
        &[
            "GETNAME",
            "    Return the name of the current connection.",
            "ID",
            "    Return the ID of the current connection.",
            "INFO",
            "    Return information about the current client connection.",
            "KILL <ip:port>",
            "    Kill connection made from <ip:port>.",
            "KILL <option> <value> [<option> <value> [...]]",
            "    Kill connections. Options are:",
            "    * ADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made from the specified address",
            "    * LADDR (<ip:port>|<unixsocket>:0)",
            "      Kill connections made to specified local address",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Kill connections by type.",
            "    * USER <username>",
            "      Kill connections authenticated by <username>.",
            "    * SKIPME (YES|NO)",
            "      Skip killing current connection (default: yes).",
            "    * ID <client-id>",
            "      Kill connections by client id.",
            "    * MAXAGE <maxage>",
            "      Kill connections older than the specified age.",
            "LIST [options ...]",
            "    Return information about client connections. Options:",
            "    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
            "      Return clients of specified type.",
            "NO-EVICT (ON|OFF)",
            "    Protect current client connection from eviction.",
            "NO-TOUCH (ON|OFF)",
            "    Will not touch LRU/LFU stats when this mode is on.",
            "REPLY (ON|OFF|SKIP)",
            "    Control the replies sent to the current connection.",
            "SETNAME <name>",
            "    Assign the name <name> to the current connection.",
        ],
    );
}
