//! FAILOVER [TO host port [FORCE]] [ABORT] [TIMEOUT ms]: Redis 7.0's `failoverCommand`
//! and `abortFailover`. The command checks and starts (pausing writes with the
//! failover's own pause); the node (`node/repl_failover.rs`) waits for the catch-up and
//! hands over. Replies, errors and log lines are Redis's.

use super::{cmd, errors, Argv, CommandSpec, Ctx};
use crate::io::LogLevel;
use crate::repl::failover::FailoverState;
use crate::repl::master::LinkState;
use crate::server::Server;
use crate::util::parse_i64;

pub static COMMANDS: &[CommandSpec] = &[cmd!("failover", -1, [ADMIN, NOSCRIPT, STALE], failover)];

/// Redis's `abortFailover`: logs why, becomes a master again if it had already
/// demoted itself, and lifts the failover's pause.
pub fn abort(server: &mut Server, reason: &str) {
    if !server.failover.in_progress() {
        return;
    }
    let line = server.failover.abort_line(reason);
    server.log(LogLevel::Notice, line);
    if server.failover.state == FailoverState::InProgress {
        super::replicaof::unset_master(server);
    }
    clear(server);
}

/// Redis's `clearFailoverState`: no failover, writes flow again.
pub fn clear(server: &mut Server) {
    server.failover.clear();
    let client = server.client_pause;
    server.set_pause(client, false);
}

fn failover(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if ctx.server.config.settings().cluster_enabled {
        ctx.out().error("ERR FAILOVER not allowed in cluster mode.");
        return;
    }
    if argv.len() == 2 && argv.is(1, "abort") {
        if !ctx.server.failover.in_progress() {
            ctx.out().error("ERR No failover in progress.");
            return;
        }
        abort(ctx.server, "Failover manually aborted");
        ctx.out().ok();
        return;
    }
    let mut timeout_ms: i64 = 0;
    let mut force = false;
    let mut target: Option<(String, i64)> = None;
    let mut j = 1;
    while j < argv.len() {
        if argv.is(j, "timeout") && j + 1 < argv.len() && timeout_ms == 0 {
            let Some(ms) = parse_i64(argv.get(j + 1)) else {
                ctx.out().error(errors::NOT_INTEGER);
                return;
            };
            if ms <= 0 {
                ctx.out()
                    .error("ERR FAILOVER timeout must be greater than 0");
                return;
            }
            timeout_ms = ms;
            j += 2;
        } else if argv.is(j, "to") && j + 2 < argv.len() && target.is_none() {
            let Some(port) = parse_i64(argv.get(j + 2)) else {
                ctx.out().error(errors::NOT_INTEGER);
                return;
            };
            target = Some((String::from_utf8_lossy(argv.get(j + 1)).into_owned(), port));
            j += 3;
        } else if argv.is(j, "force") && !force {
            force = true;
            j += 1;
        } else {
            ctx.out().error(errors::SYNTAX);
            return;
        }
    }
    if ctx.server.failover.in_progress() {
        ctx.out().error("ERR FAILOVER already in progress.");
        return;
    }
    if ctx.server.replica.is_replica() {
        ctx.out()
            .error("ERR FAILOVER is not valid when server is a replica.");
        return;
    }
    if ctx.server.repl_master.replicas.is_empty() {
        ctx.out().error("ERR FAILOVER requires connected replicas.");
        return;
    }
    if force && (timeout_ms == 0 || target.is_none()) {
        ctx.out().error(
            "ERR FAILOVER with force option requires both a timeout and target HOST and IP.",
        );
        return;
    }
    let mut chosen = None;
    if let Some((host, port)) = &target {
        let found = ctx.server.repl_master.replicas.values().find(|l| {
            l.ip().eq_ignore_ascii_case(host) && i64::from(l.conf.listening_port) == *port
        });
        let Some(link) = found else {
            ctx.out()
                .error("ERR FAILOVER target HOST and PORT is not a replica.");
            return;
        };
        if link.state != LinkState::Online {
            ctx.out()
                .error("ERR FAILOVER target replica is not online.");
            return;
        }
        chosen = Some((host.clone(), link.conf.listening_port));
        ctx.server.log(
            LogLevel::Notice,
            format!("FAILOVER requested to {host}:{port}."),
        );
    } else {
        ctx.server.log(
            LogLevel::Notice,
            "FAILOVER requested to any replica.".into(),
        );
    }
    let end_mono_ms = (timeout_ms > 0).then(|| ctx.now.mono_ms.saturating_add(timeout_ms as u64));
    ctx.server.failover.start(chosen, end_mono_ms, force);
    let client = ctx.server.client_pause;
    ctx.server.set_pause(client, true);
    ctx.out().ok();
}
