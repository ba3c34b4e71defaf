//! MULTI, EXEC, DISCARD, WATCH, UNWATCH (Redis's `multi.c`). Queueing itself happens in
//! the dispatcher (`commands::run_checked`); the WATCH registry lives in `crate::multi`.
//! EXEC runs its queue in one step of the node, so no other client runs in between.

use super::{cmd, Argv, CommandSpec, Ctx};
use crate::multi::MultiState;
use crate::mutants::Mutant;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "discard",
        1,
        [NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY],
        discard
    ),
    cmd!("exec", 1, [NOSCRIPT, LOADING, STALE, SKIP_SLOWLOG], exec),
    cmd!(
        "multi",
        1,
        [NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY],
        multi
    ),
    cmd!(
        "unwatch",
        1,
        [NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY],
        unwatch
    ),
    cmd!(
        "watch",
        -2,
        [NOSCRIPT, LOADING, STALE, FAST, ALLOW_BUSY],
        watch
    ),
];

const EXECABORT: &str = "EXECABORT Transaction discarded because of previous errors.";

fn multi(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    if ctx.client.multi.is_some() {
        ctx.out().error("ERR MULTI calls can not be nested");
        return;
    }
    ctx.client.multi = Some(MultiState::default());
    ctx.out().ok();
}

/// Redis's `discardTransaction`: no queue, no watched keys, no dirty flags.
pub(crate) fn discard_transaction(ctx: &mut Ctx<'_>) {
    ctx.client.multi = None;
    ctx.clients.watch.forget(ctx.client.conn);
}

fn discard(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    if ctx.client.multi.is_none() {
        ctx.out().error("ERR DISCARD without MULTI");
        return;
    }
    discard_transaction(ctx);
    ctx.out().ok();
}

fn exec(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let Some(state) = ctx.client.multi.as_mut() else {
        ctx.out().error("ERR EXEC without MULTI");
        return;
    };
    // The client stays in MULTI (flags=x, multi=N) while its queue runs, as Redis.
    let commands = std::mem::take(&mut state.commands);
    let exec_error = state.exec_error;
    let conn = ctx.client.conn;
    let mut dirty = ctx.clients.watch.is_dirty(conn);
    // Redis 7.0: a watched key that expired since WATCH fails EXEC even when it was
    // never deleted (nobody looked at it).
    if !ctx.server.mutants.is(Mutant::WatchMissesExpiry)
        && ctx
            .clients
            .watch
            .any_expired_since_watch(conn, ctx.keyspace, ctx.now.wall_ms)
    {
        dirty = true;
    }
    ctx.clients.watch.forget(conn);
    if exec_error {
        ctx.client.multi = None;
        ctx.out().error(EXECABORT);
        return;
    }
    if dirty {
        ctx.client.multi = None;
        ctx.out().null_array();
        return;
    }
    ctx.out().array(commands.len());
    let mark = ctx.server.propagation.mark();
    for queued in &commands {
        let argv = Argv::new(&queued.buf, &queued.ranges);
        super::run_queued(ctx, &argv);
    }
    ctx.server.propagation.wrap_transaction(mark);
    ctx.client.multi = None;
}

fn watch(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if ctx.client.multi.is_some() {
        ctx.out().error("ERR WATCH inside MULTI is not allowed");
        return;
    }
    let conn = ctx.client.conn;
    // No point in watching more once a watched key was touched.
    if !ctx.clients.watch.is_dirty(conn) {
        let db = ctx.db();
        for key in argv.iter().skip(1) {
            let now_ms = ctx.now.wall_ms;
            ctx.clients.watch.watch(conn, db, key, ctx.keyspace, now_ms);
        }
    }
    ctx.out().ok();
}

fn unwatch(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    ctx.clients.watch.forget(ctx.client.conn);
    ctx.out().ok();
}
