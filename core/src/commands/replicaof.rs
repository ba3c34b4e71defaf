//! REPLICAOF and its old name SLAVEOF (Redis 7.0's `replicaofCommand`): they only set
//! the replica link's target (`crate::repl::replica`); the node connects and syncs
//! after the command. Replies and log lines are Redis's.

use rand::RngCore;

use super::{cmd, Argv, CommandSpec, Ctx};
use crate::io::LogLevel;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "replicaof",
        3,
        [ADMIN, NOSCRIPT, STALE, NO_ASYNC_LOADING],
        replicaof
    ),
    cmd!(
        "slaveof",
        3,
        [ADMIN, NOSCRIPT, STALE, NO_ASYNC_LOADING],
        replicaof
    ),
];

fn replicaof(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if ctx.server.config.settings().cluster_enabled {
        ctx.out()
            .error("ERR REPLICAOF not allowed in cluster mode.");
        return;
    }
    if ctx.server.failover.in_progress() {
        ctx.out()
            .error("ERR REPLICAOF not allowed while failing over.");
        return;
    }
    let requester = ctx.client.info_line(ctx.now.mono_ms);
    if argv.is(1, "no") && argv.is(2, "one") {
        if ctx.server.replica.is_replica() {
            unset_master(ctx.server);
            ctx.server.log(
                LogLevel::Notice,
                format!("MASTER MODE enabled (user request from '{requester}')"),
            );
        }
        ctx.out().ok();
        return;
    }
    let port = std::str::from_utf8(argv.get(2))
        .ok()
        .and_then(|p| p.parse::<i64>().ok())
        .filter(|p| (0..=65535).contains(p));
    let Some(port) = port.and_then(|p| u16::try_from(p).ok()) else {
        ctx.out().error("ERR Invalid master port");
        return;
    };
    let host = String::from_utf8_lossy(argv.get(1)).into_owned();
    let link = &mut ctx.server.replica;
    if link
        .master
        .as_ref()
        .is_some_and(|m| m.host.eq_ignore_ascii_case(&host) && m.port == port)
    {
        link.log(LogLevel::Notice, "REPLICAOF would result into synchronization with the master we are already connected with. No operation performed.");
        ctx.out().simple("OK Already connected to specified master");
        return;
    }
    let was_master = !link.is_replica();
    link.set_master(ctx.now, host.clone(), port, was_master);
    if was_master && ctx.server.repl_master.backlog.is_none() {
        // No stream to cut a rollback file from (`node/repl_failover.rs`): a full
        // resync replacing these keys is said instead.
        let keys = ctx.keyspace.total_keys() as u64;
        ctx.server.rollback.unkept_keys = (keys > 0).then_some(keys);
    }
    ctx.server
        .config
        .set_replicaof(Some((host.clone().into_bytes(), port)));
    link.log(
        LogLevel::Notice,
        format!("REPLICAOF {host}:{port} enabled (user request from '{requester}')"),
    );
    ctx.out().ok();
}

/// Redis's `replicationUnsetMaster`: the link dropped, a new history with the old
/// one kept as replid2 (so the former master's replicas, and the former master, may
/// continue it), a backlog from the current offset to continue them from, and no
/// rollback cut (a master again, this node lost nothing).
/// Called by REPLICAOF NO ONE, PSYNC ... FAILOVER and an aborted FAILOVER.
pub fn unset_master(server: &mut crate::server::Server) {
    if !server.replica.is_replica() {
        return;
    }
    server.replica.unset_master();
    server.config.set_replicaof(None);
    let mut id = [0u8; 20];
    server.rng.fill_bytes(&mut id);
    let new_id: String = id.iter().map(|b| format!("{b:02x}")).collect();
    server.repl.shift(new_id);
    // Its replicas must learn the new id: they reconnect and continue.
    server.repl_master.ask_disconnect_replicas();
    let ids = &server.repl;
    let line = format!(
        "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
        ids.replid2, ids.second_replid_offset, ids.replid
    );
    server.log(LogLevel::Warning, line);
    let capacity = server.config.settings().repl_backlog_size_bytes;
    let server = &mut *server;
    server.repl_master.resume_backlog(
        &server.repl,
        usize::try_from(capacity).unwrap_or(usize::MAX),
        &mut server.propagation,
    );
    server.rollback.cut = None;
    server.rollback.unkept_keys = None;
}

/// ROLE's reply on a replica (`["slave", host, port, state, offset]`, Redis 7.0's);
/// false on a master, whose reply is the master side's.
/// Called by ROLE (`commands::repl`).
pub fn role_reply(ctx: &mut Ctx<'_>) -> bool {
    let offset = ctx.server.repl.master_repl_offset;
    let Some((host, port, state, offset)) = ctx.server.replica.role_reply(offset) else {
        return false;
    };
    let out = ctx.out();
    out.array(5);
    out.bulk(b"slave");
    out.bulk(host.as_bytes());
    out.int(i64::from(port));
    out.bulk(state.as_bytes());
    out.int(offset);
    true
}

/// Redis 7.0's `shared.roslaveerr`.
pub const READONLY: &str = "READONLY You can't write against a read only replica.";
/// Redis 7.0's `shared.masterdownerr`.
pub const MASTERDOWN: &str =
    "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.";

/// Why a replica refuses a client's command, at one of the two places Redis's
/// processCommand checks: `early` (after MISCONF) `replica-read-only` for writes (an
/// EXEC that queued one too); late (before -LOADING) `replica-serve-stale-data no`
/// while the link is down, for commands without the `stale` flag.
pub(super) fn refusal(
    server: &crate::server::Server,
    client: &crate::client::Client,
    spec: &CommandSpec,
    name: &str,
    early: bool,
) -> Option<&'static str> {
    use super::flags::CmdFlags;
    if early {
        let write = spec.flags.contains(CmdFlags::WRITE)
            || (name == "exec" && client.multi.as_ref().is_some_and(|m| m.write));
        return (write && server.config.settings().replica_read_only).then_some(READONLY);
    }
    if server.replica.link_up() || spec.flags.contains(CmdFlags::STALE) {
        return None;
    }
    (!server.config.settings().replica_serve_stale_data).then_some(MASTERDOWN)
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    #[test]
    fn replies_and_errors_are_redis_s() {
        let mut k = Kit::new("");
        k.connect(1);
        assert_eq!(
            k.cmd(1, "REPLICAOF 127.0.0.1 abc"),
            "-ERR Invalid master port\r\n"
        );
        assert_eq!(
            k.cmd(1, "REPLICAOF 127.0.0.1 70000"),
            "-ERR Invalid master port\r\n"
        );
        assert_eq!(
            k.cmd(1, "REPLICAOF 127.0.0.1 -1"),
            "-ERR Invalid master port\r\n"
        );
        assert_eq!(
            k.cmd(1, "REPLICAOF a"),
            "-ERR wrong number of arguments for 'replicaof' command\r\n"
        );
        assert_eq!(k.cmd(1, "REPLICAOF no one"), "+OK\r\n");
        assert_eq!(k.cmd(1, "MULTI"), "+OK\r\n");
        assert_eq!(k.cmd(1, "REPLICAOF 127.0.0.1 7411"), "+QUEUED\r\n");
        assert_eq!(k.cmd(1, "EXEC"), "*1\r\n+OK\r\n");
        assert_eq!(
            k.cmd(1, "SLAVEOF 127.0.0.1 7411"),
            "+OK Already connected to specified master\r\n"
        );
        assert_eq!(
            k.cmd(1, "SET a b"),
            "-READONLY You can't write against a read only replica.\r\n"
        );
        assert_eq!(
            k.cmd(1, "CONFIG GET replicaof"),
            "*2\r\n$9\r\nreplicaof\r\n$14\r\n127.0.0.1 7411\r\n"
        );
        assert_eq!(k.cmd(1, "REPLICAOF NO ONE"), "+OK\r\n");
        assert_eq!(k.cmd(1, "SET a b"), "+OK\r\n");
        assert_eq!(
            k.cmd(1, "CONFIG GET replicaof"),
            "*2\r\n$9\r\nreplicaof\r\n$0\r\n\r\n"
        );
    }
}
