//! Persistence commands: SAVE, BGSAVE, LASTSAVE (SHUTDOWN is in `server.rs`). They
//! only ask: the node runs the save (`crate::persist`) right after the command, and a
//! SAVE's client waits, blocked, until the file is durable.

use super::{cmd, errors, Argv, CommandSpec, Ctx};
use crate::server::PersistRequest;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("bgsave", -1, [ADMIN, NOSCRIPT, NO_ASYNC_LOADING], bgsave),
    cmd!("lastsave", 1, [LOADING, STALE, FAST], lastsave),
    cmd!(
        "save",
        1,
        [ADMIN, NOSCRIPT, NO_ASYNC_LOADING, NO_MULTI],
        save
    ),
];

/// Redis 7.0's bgsaveCommand. keel's "child" is the fork-less snapshot; an AOF
/// rewrite running is the other child a BGSAVE must wait for.
fn bgsave(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let mut schedule = false;
    if argv.len() > 1 {
        if argv.len() == 2 && argv.is(1, "schedule") {
            schedule = true;
        } else {
            ctx.out().error(errors::SYNTAX);
            return;
        }
    }
    let p = &ctx.server.persist;
    let in_exec = ctx.client.multi.is_some();
    if p.bgsave_in_progress {
        ctx.out().error("ERR Background save already in progress");
    } else if p.aof.rewrite_in_progress || in_exec {
        if schedule || in_exec {
            ctx.server.persist.bgsave_scheduled = true;
            ctx.out().simple("Background saving scheduled");
        } else {
            ctx.out().error("ERR Another child process is active (AOF?): can't BGSAVE right now. Use BGSAVE SCHEDULE in order to schedule a BGSAVE whenever possible.");
        }
    } else {
        // Marked now so a second BGSAVE in the same pipeline is refused.
        ctx.server.persist.bgsave_in_progress = true;
        ctx.server.persist.requests.push(PersistRequest::Bgsave);
        ctx.out().simple("Background saving started");
    }
}

fn save(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    if ctx.server.persist.bgsave_in_progress {
        ctx.out().error("ERR Background save already in progress");
        return;
    }
    // The reply comes when the file is durable (`node::persist`).
    ctx.server.persist.bgsave_in_progress = true;
    ctx.client.blocked = true;
    let conn = ctx.client.conn;
    ctx.server
        .persist
        .requests
        .push(PersistRequest::Save { conn });
}

fn lastsave(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let secs = ctx.server.persist.last_save_wall_secs;
    ctx.out().int(secs as i64);
}
