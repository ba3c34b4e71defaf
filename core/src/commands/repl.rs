//! Replication commands, the master's side: PSYNC, SYNC, REPLCONF, WAIT, ROLE, and
//! INFO replication's fields. They change `Server::repl_master` (`crate::repl::master`)
//! and write replies; the node (`node/repl_master.rs`) moves the stream and the
//! snapshot to the replicas.

use rand::RngCore;

use super::{arg_i64, cmd, errors, Argv, CommandSpec, Ctx};
use crate::blocking::BlockedOp;
use crate::mutants::Mutant;
use crate::repl::master::{LinkState, ReplicaLink, Waiter};
use crate::util::parse_i64;

pub static COMMANDS: &[CommandSpec] = &[
    cmd!(
        "psync",
        -3,
        [ADMIN, NOSCRIPT, NO_ASYNC_LOADING, NO_MULTI],
        psync
    ),
    cmd!(
        "replconf",
        -1,
        [ADMIN, NOSCRIPT, LOADING, STALE, ALLOW_BUSY],
        replconf
    ),
    cmd!("role", 1, [NOSCRIPT, LOADING, STALE, FAST], role),
    cmd!(
        "sync",
        1,
        [ADMIN, NOSCRIPT, NO_ASYNC_LOADING, NO_MULTI],
        sync
    ),
    cmd!("wait", 3, [NOSCRIPT], wait),
];

/// Redis 7.0's `NET_HOST_STR_LEN`: a longer REPLCONF ip-address is refused.
const HOST_STR_MAX_BYTES: usize = 256;

fn psync(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    start_sync(ctx, argv, true);
}

fn sync(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    start_sync(ctx, argv, false);
}

/// A fresh replication id: 40 hex characters from the node's RNG.
fn new_replid(ctx: &mut Ctx<'_>) -> String {
    let mut bytes = [0u8; 20];
    ctx.server.rng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Redis's `syncCommand`: a partial resync when the rules allow, else a full sync the
/// node serves from a snapshot.
fn start_sync(ctx: &mut Ctx<'_>, argv: &Argv<'_>, psync: bool) {
    if ctx.client.is_replica {
        return;
    }
    if psync && argv.len() > 3 && argv.is(3, "failover") && !psync_failover(ctx, argv) {
        return;
    }
    if ctx.server.failover.in_progress() {
        // Replicas do not sync with a master that is handing over (Redis's reply).
        ctx.out()
            .error("NOMASTERLINK Can't SYNC while failing over");
        return;
    }
    let is_replica = ctx.server.replica.is_replica();
    if is_replica && !ctx.server.replica.link_up() {
        // A replica serves its own replicas (a chain) only while its link is up,
        // as Redis 7.0's syncCommand.
        ctx.out()
            .error("NOMASTERLINK Can't SYNC while not connected with my master");
        return;
    }
    if !ctx.client.out.is_empty() {
        ctx.out()
            .error("ERR SYNC and PSYNC are invalid with pending output");
        return;
    }
    let conn = ctx.client.conn;
    let conf = ctx
        .server
        .repl_master
        .conf
        .remove(&conn)
        .unwrap_or_default();
    let mut link = ReplicaLink {
        conn,
        client_id: ctx.client.id,
        conf,
        peer: ctx.client.peer.clone(),
        state: LinkState::WaitSnapshot,
        pre_psync: !psync,
        ack_offset: 0,
        ack_mono_ms: ctx.now.mono_ms,
        ack_wall_ms: ctx.now.wall_ms,
        acked: false,
        waiting_since_mono_ms: ctx.now.mono_ms,
        snapshot_offset: 0,
        stream_offset: 0,
        held: Vec::new(),
        hold_until_ack: false,
    };
    let name = link.name();
    ctx.server.log(
        crate::io::LogLevel::Notice,
        format!("Replica {name} asks for synchronization"),
    );
    if psync {
        let Some(psync_offset) = parse_i64(argv.get(2)) else {
            ctx.server.log(
                crate::io::LogLevel::Warning,
                format!("Replica {name} asks for synchronization but with a wrong offset"),
            );
            ctx.out().error(errors::NOT_INTEGER);
            // Not a replica: what it said in REPLCONF stays for its next try.
            ctx.server.repl_master.conf.insert(conn, link.conf);
            return;
        };
        if try_partial(ctx, argv.get(1), psync_offset, &mut link) {
            return;
        }
    }
    let m = &mut ctx.server.repl_master;
    m.sync_full += 1;
    if m.backlog.is_none() && is_replica {
        // A replica continues its master's history: no new id (its backlog is
        // normally made when its link came up).
        let capacity = ctx.server.config.settings().repl_backlog_size_bytes;
        let offset = ctx.server.repl.master_repl_offset;
        ctx.server
            .repl_master
            .create_relay_backlog(usize::try_from(capacity).unwrap_or(usize::MAX), offset);
    } else if m.backlog.is_none() {
        let replid = new_replid(ctx);
        let capacity = ctx.server.config.settings().repl_backlog_size_bytes;
        let server = &mut *ctx.server;
        server.repl_master.create_backlog(
            &mut server.repl,
            replid,
            usize::try_from(capacity).unwrap_or(usize::MAX),
            &mut server.propagation,
        );
        let line = format!(
            "Replication backlog created, my new replication IDs are '{}' and '{}'",
            server.repl.replid, server.repl.replid2
        );
        server.log(crate::io::LogLevel::Notice, line);
    }
    let s = ctx.server.config.settings();
    if s.repl_diskless_sync && link.conf.capa_eof && s.repl_diskless_sync_delay_secs > 0 {
        ctx.server.log(
            crate::io::LogLevel::Notice,
            "Delay next BGSAVE for diskless SYNC".into(),
        );
    }
    ctx.client.is_replica = true;
    // The rollback cut's lower bound counts this replica from now, before its first
    // ACK (a replica ACKs once a second; one promoted before that had at least the
    // snapshot, which starts at this offset or later).
    let offset = ctx.server.repl.master_repl_offset;
    ctx.server.repl_master.remember_ack(name, offset);
    ctx.server.repl_master.replicas.insert(conn, link);
    ctx.server.repl_master.new_syncs.push(conn);
}

/// `PSYNC <replid> <offset> FAILOVER` (Redis 7.0's syncCommand): the master this
/// replica follows hands over. With its replid, the replica promotes itself (as
/// REPLICAOF NO ONE) and serves the PSYNC like any other, so its former master
/// continues (`+CONTINUE`) from the history now kept as replid2. False when refused.
fn psync_failover(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> bool {
    let line = format!(
        "Failover request received for replid {}.",
        String::from_utf8_lossy(argv.get(1))
    );
    ctx.server.log(crate::io::LogLevel::Warning, line);
    if !ctx.server.replica.is_replica() {
        ctx.out()
            .error("ERR PSYNC FAILOVER can't be sent to a master.");
        return false;
    }
    if !argv
        .get(1)
        .eq_ignore_ascii_case(ctx.server.repl.replid.as_bytes())
    {
        ctx.out()
            .error("ERR PSYNC FAILOVER replid must match my replid.");
        return false;
    }
    super::replicaof::unset_master(ctx.server);
    let client = ctx.client.info_line(ctx.now.mono_ms);
    ctx.server.log(
        crate::io::LogLevel::Notice,
        format!("MASTER MODE enabled (failover request from '{client}')"),
    );
    true
}

/// Redis's `masterTryPartialResynchronization`; true when it continued.
fn try_partial(
    ctx: &mut Ctx<'_>,
    replid: &[u8],
    psync_offset: i64,
    link: &mut ReplicaLink,
) -> bool {
    let name = link.name();
    // The backlog must hold everything produced so far before it is read.
    let server = &mut *ctx.server;
    server
        .repl_master
        .feed(&mut server.propagation, &mut server.repl);
    let decision = server.repl_master.psync_decision(
        &server.repl,
        replid,
        psync_offset,
        &name,
        &server.mutants,
    );
    let from = match decision {
        Ok(from) => from,
        Err(reason) => {
            let line = reason.unwrap_or_else(|| format!("Full resync requested by replica {name}"));
            server.log(crate::io::LogLevel::Notice, line);
            if replid.first() != Some(&b'?') {
                server.repl_master.sync_partial_err += 1;
            }
            return false;
        }
    };
    let off_by_one = server.mutants.is(Mutant::BacklogOffsetOffByOne);
    let bytes = server
        .repl_master
        .backlog
        .as_ref()
        .and_then(|b| b.read_from(from, off_by_one))
        .unwrap_or_default();
    let end = server.repl.master_repl_offset;
    link.state = LinkState::Online;
    link.stream_offset = end;
    let line = if link.conf.capa_psync2 {
        format!("CONTINUE {}", server.repl.replid)
    } else {
        "CONTINUE".to_string()
    };
    server.repl_master.sync_partial_ok += 1;
    // The replica has the stream up to where it continues (the rollback cut's lower
    // bound, before its first ACK).
    server
        .repl_master
        .remember_ack(name.clone(), from.saturating_sub(1));
    server.log(
        crate::io::LogLevel::Notice,
        format!(
            "Partial resynchronization request from {name} accepted. Sending {} bytes of backlog starting from offset {from}.",
            bytes.len()
        ),
    );
    let conn = link.conn;
    server.repl_master.replicas.insert(conn, link.clone());
    server.repl_master.new_continues.push((conn, bytes));
    // Online now: counted at once (Redis's masterTryPartialResynchronization calls
    // refreshGoodSlavesCount), not at the next cron.
    let max_lag_secs = server.config.settings().min_replicas_max_lag_secs;
    server
        .repl_master
        .refresh_good(ctx.now, max_lag_secs, &server.mutants);
    ctx.client.is_replica = true;
    ctx.out().simple(&line);
    true
}

/// REPLCONF <option> <value> ...: Redis's `replconfCommand`.
fn replconf(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if argv.len().is_multiple_of(2) {
        ctx.out().error(errors::SYNTAX);
        return;
    }
    let conn = ctx.client.conn;
    let mut conf = match ctx.server.repl_master.replicas.get(&conn) {
        Some(link) => link.conf.clone(),
        None => ctx
            .server
            .repl_master
            .conf
            .get(&conn)
            .cloned()
            .unwrap_or_default(),
    };
    let mut j = 1;
    while j + 1 < argv.len() {
        let value = argv.get(j + 1);
        if argv.is(j, "listening-port") {
            let Some(port) = arg_i64(ctx, argv, j + 1) else {
                return;
            };
            conf.listening_port = u16::try_from(port).unwrap_or(0);
        } else if argv.is(j, "ip-address") {
            if value.len() >= HOST_STR_MAX_BYTES {
                let msg = format!(
                    "ERR REPLCONF ip-address provided by replica instance is too long: {} bytes",
                    value.len()
                );
                ctx.out().error(&msg);
                return;
            }
            conf.announced_ip = Some(String::from_utf8_lossy(value).into_owned());
        } else if argv.is(j, "capa") {
            if value.eq_ignore_ascii_case(b"eof") {
                conf.capa_eof = true;
            } else if value.eq_ignore_ascii_case(b"psync2") {
                conf.capa_psync2 = true;
            }
        } else if argv.is(j, "ack") {
            // No reply, as Redis: the replica does not read one.
            ack(ctx, argv, j);
            return;
        } else if argv.is(j, "getack") {
            // Only a replica answers GETACK (the replica side's part).
            return;
        } else if argv.is(j, "rdb-only") || argv.is(j, "rdb-filter-only") {
            // redis-cli --rdb asks for the RDB alone; keel sends the stream after it
            // too, which such a client closes before reading.
        } else {
            let msg = format!(
                "ERR Unrecognized REPLCONF option: {}",
                String::from_utf8_lossy(argv.get(j))
            );
            ctx.out().error(&msg);
            return;
        }
        j += 2;
    }
    match ctx.server.repl_master.replicas.get_mut(&conn) {
        Some(link) => link.conf = conf,
        None => {
            ctx.server.repl_master.conf.insert(conn, conf);
        }
    }
    ctx.out().ok();
}

/// REPLCONF ACK <offset> [FACK <offset>] from a replica.
fn ack(ctx: &mut Ctx<'_>, argv: &Argv<'_>, j: usize) {
    let conn = ctx.client.conn;
    let end = ctx.server.repl.master_repl_offset;
    let Some(link) = ctx.server.repl_master.replicas.get_mut(&conn) else {
        return;
    };
    let Some(offset) = parse_i64(argv.get(j + 1)).and_then(|o| u64::try_from(o).ok()) else {
        let line = format!(
            "Replica {} sent REPLCONF ACK with a malformed offset '{}'; ignored",
            link.name(),
            String::from_utf8_lossy(argv.get(j + 1))
        );
        ctx.server.log(crate::io::LogLevel::Warning, line);
        return;
    };
    if offset > end {
        // An offset it was never sent: its stream is not ours. Redis takes it;
        // keel drops the link rather than count it in WAIT.
        let line = format!(
            "Replica {} ACKed offset {offset}, past the {end} bytes of stream this master produced: closing the link",
            link.name()
        );
        ctx.server.log(crate::io::LogLevel::Warning, line);
        ctx.server.repl_master.replicas.remove(&conn);
        ctx.client.close_after_reply = true;
        return;
    }
    link.ack_offset = link.ack_offset.max(offset);
    link.acked = true;
    let (name, acked) = (link.name(), link.ack_offset);
    link.ack_mono_ms = ctx.now.mono_ms;
    link.ack_wall_ms = ctx.now.wall_ms;
    if link.state == LinkState::Online {
        link.hold_until_ack = false;
    }
    ctx.server.repl_master.remember_ack(name, acked);
}

/// WAIT numreplicas timeout: Redis's `waitCommand`.
fn wait(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if ctx.server.config.settings().replicaof.is_some() {
        ctx.out().error("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.");
        return;
    }
    let Some(numreplicas) = arg_i64(ctx, argv, 1) else {
        return;
    };
    let Some(timeout_ms) = parse_i64(argv.get(2)) else {
        ctx.out()
            .error("ERR timeout is not an integer or out of range");
        return;
    };
    if timeout_ms < 0 {
        ctx.out().error("ERR timeout is negative");
        return;
    }
    // The offset to wait for: where the client's last write reached in the stream
    // (Redis's `c->woff`), once everything recorded is in it.
    if ctx.client.multi.is_none() {
        let server = &mut *ctx.server;
        server
            .repl_master
            .feed(&mut server.propagation, &mut server.repl);
    }
    let offset = ctx
        .server
        .repl_master
        .write_offset(ctx.client.woff_seq, ctx.server.repl.master_repl_offset);
    let stale = ctx.server.mutants.is(Mutant::WaitCountsStaleAck);
    let acks = ctx.server.repl_master.count_acks(offset, stale);
    if i64::try_from(acks).unwrap_or(i64::MAX) >= numreplicas || ctx.client.may_not_block() {
        ctx.out().int(i64::try_from(acks).unwrap_or(i64::MAX));
        return;
    }
    let deadline_ms = match timeout_ms {
        0 => 0,
        ms => ctx.now.mono_ms.saturating_add(ms as u64).max(1),
    };
    let numreplicas = u64::try_from(numreplicas).unwrap_or(0);
    ctx.clients.blocking.block(
        ctx.client,
        ctx.keyspace,
        Vec::new(),
        deadline_ms,
        BlockedOp::Wait { offset },
    );
    let m = &mut ctx.server.repl_master;
    m.waiters.push(Waiter {
        conn: ctx.client.conn,
        client_id: ctx.client.id,
        offset,
        numreplicas,
    });
    m.getack_requested = true;
}

/// ROLE, the master's form: [master, offset, [[ip, port, offset] ...]] (online
/// replicas only).
fn role(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    if super::replicaof::role_reply(ctx) {
        return;
    }
    let offset = i64::try_from(ctx.server.repl.master_repl_offset).unwrap_or(i64::MAX);
    let online: Vec<(String, u16, u64)> = ctx
        .server
        .repl_master
        .replicas
        .values()
        .filter(|l| l.state == LinkState::Online)
        .map(|l| (l.ip(), l.conf.listening_port, l.ack_offset))
        .collect();
    let out = ctx.out();
    out.array(3);
    out.bulk(b"master");
    out.int(offset);
    out.array(online.len());
    for (ip, port, ack) in online {
        out.array(3);
        out.bulk(ip.as_bytes());
        out.bulk(port.to_string().as_bytes());
        out.bulk(ack.to_string().as_bytes());
    }
}

/// INFO replication's fields for a master, in Redis 7.0's order.
pub fn info_fields(ctx: &Ctx<'_>) -> Vec<(String, String)> {
    let mut f: Vec<(String, String)> = vec![("role".into(), "master".into())];
    f.extend(replica_lines(ctx));
    f.push((
        "master_failover_state".into(),
        ctx.server.failover.state.info_name().into(),
    ));
    f.extend(replid_fields(ctx));
    f
}

/// `connected_slaves` and a `slaveN` line per replica: a master's, and a replica's
/// that serves replicas of its own (a chain), as Redis 7.0 prints them.
pub fn replica_lines(ctx: &Ctx<'_>) -> Vec<(String, String)> {
    let m = &ctx.server.repl_master;
    let now_ms = ctx.now.mono_ms;
    let mut f: Vec<(String, String)> =
        vec![("connected_slaves".into(), m.replicas.len().to_string())];
    for (i, link) in m.replicas.values().enumerate() {
        f.push((
            format!("slave{i}"),
            format!(
                "ip={},port={},state={},offset={},lag={}",
                link.ip(),
                link.conf.listening_port,
                link.state.info_name(),
                link.ack_offset,
                now_ms.saturating_sub(link.ack_mono_ms) / 1000
            ),
        ));
    }
    f
}

/// keel's own `INFO rollback` section (asked by name only): the rollback files of a
/// demoted master (`crate::repl::rollback`).
pub fn rollback_fields(ctx: &Ctx<'_>) -> Vec<(String, String)> {
    let r = &ctx.server.rollback;
    vec![
        ("rollback_files".into(), r.files.to_string()),
        ("rollback_writes".into(), r.writes.to_string()),
        ("rollback_write_errors".into(), r.write_errors.to_string()),
        ("rollback_unkept_syncs".into(), r.unkept_syncs.to_string()),
        ("rollback_last_file".into(), r.last_file.clone()),
    ]
}

/// The fields a master and a replica share, from `master_replid` on.
pub fn replid_fields(ctx: &Ctx<'_>) -> Vec<(String, String)> {
    let m = &ctx.server.repl_master;
    let ids = &ctx.server.repl;
    let (active, size, first, histlen) = match &m.backlog {
        Some(b) => (
            1,
            b.capacity_bytes() as u64,
            b.first_byte_offset(),
            b.histlen(),
        ),
        None => (
            0,
            ctx.server.config.settings().repl_backlog_size_bytes,
            0,
            0,
        ),
    };
    vec![
        ("master_replid".into(), ids.replid.clone()),
        ("master_replid2".into(), ids.replid2.clone()),
        (
            "master_repl_offset".into(),
            ids.master_repl_offset.to_string(),
        ),
        (
            "second_repl_offset".into(),
            ids.second_replid_offset.to_string(),
        ),
        ("repl_backlog_active".into(), active.to_string()),
        ("repl_backlog_size".into(), size.to_string()),
        ("repl_backlog_first_byte_offset".into(), first.to_string()),
        ("repl_backlog_histlen".into(), histlen.to_string()),
    ]
}
