//! The replica's wiring (`crate::repl::replica` is the machine): routes the link's
//! connection events and bytes to it, carries out what it asks (connect, send, log,
//! swap in a fully synced dataset), and runs the master's command stream as the master
//! client (CLIENT LIST flag `M`) through the normal `call()` path, replies dropped,
//! counting the replication offset by whole commands. It never expires keys for the
//! master's commands (they see the dataset the master saw) and never reads a clock.

use crate::client::{arm_output_limit, Client};
use crate::commands;
use crate::io::{CloseReason, ConnId, Effect, LogLevel, Now};
use crate::keyspace::{HashSeeds, Keyspace};
use crate::mutants::Mutant;
use crate::persist::load::RdbApplier;
use crate::persist::rdb::{LoadLimits, RdbItem, RdbReader};
use crate::repl::replica::{encode_command, Event, LinkParams, RdbSink};
use crate::resp::ParseLimits;

use super::Node;

impl Node {
    /// `replicaof` in the config file: a replica from the start, connecting at the
    /// first cron (after loading), as Redis.
    pub(super) fn repl_boot(&mut self) {
        if let Some((host, port)) = self.server.config.settings().replicaof.clone() {
            let host = String::from_utf8_lossy(&host).into_owned();
            self.server.replica.configure(host, port);
        }
    }

    /// A master's boot from an RDB file: the backlog exists while the file loads
    /// (Redis's loadDataFromDisk creates it, keeping the replication id), so the
    /// DELs of keys dropped as expired go into the stream. True when it was made.
    pub(super) fn repl_backlog_before_load(&mut self) -> bool {
        if self.server.replica.is_replica() || self.server.repl_master.backlog.is_some() {
            return false;
        }
        let capacity = self.server.config.settings().repl_backlog_size_bytes;
        let server = &mut self.server;
        server.repl_master.resume_backlog(
            &server.repl,
            usize::try_from(capacity).unwrap_or(usize::MAX),
            &mut server.propagation,
        );
        true
    }

    /// After loading at boot (Redis's loadDataFromDisk), from the history the RDB
    /// recorded (`repl-id`, `repl-offset`, `repl-stream-db`): a replica continues it
    /// as its cached master, so a restart may end in a partial resync; a master
    /// keeps it as its previous history up to the file's offset (replid2 and
    /// `second_repl_offset`, its stream and backlog rebased there), so a replica
    /// that was at exactly that offset continues with `+CONTINUE <new id>`. A master
    /// whose file recorded nothing and whose load fed nothing drops the backlog.
    pub(super) fn repl_after_load(&mut self) {
        let loaded = std::mem::take(&mut self.server.persist.loaded_repl).history();
        if self.server.replica.is_replica() {
            if let Some((replid, offset, stream_db)) = loaded {
                self.repl_replica_from_file(replid, offset, stream_db);
            }
            return;
        }
        if self.server.repl_master.backlog.is_none() {
            return;
        }
        if let Some((replid, offset, _)) = loaded {
            let server = &mut self.server;
            if !server.mutants.is(Mutant::RestartForgetsReplid) {
                server.repl.replid2 = replid;
                server.repl.second_replid_offset =
                    i64::try_from(offset).unwrap_or(i64::MAX).saturating_add(1);
            }
            server.repl.master_repl_offset = server.repl.master_repl_offset.saturating_add(offset);
            server.repl_master.rebase(offset);
            server.repl_master.no_replicas_since_mono_ms = Some(self.last_now.mono_ms);
        }
        if self.server.repl.master_repl_offset == 0 {
            self.server.repl_master.backlog = None;
            self.server.propagation.set_repl(false);
        }
    }

    fn repl_replica_from_file(&mut self, replid: String, offset: u64, stream_db: usize) {
        self.server.repl.replid = replid;
        self.server.repl.master_repl_offset = offset;
        self.server.replica.stream_db = stream_db;
        self.server.replica.read_offset = offset;
        self.server.replica.cached_master = true;
        self.server.log(
            LogLevel::Notice,
            "Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.".to_string(),
        );
    }

    /// Whether an outbound connection's event is the replica link's.
    pub(super) fn repl_owns(&self, conn: ConnId) -> bool {
        self.server.replica.owns(conn)
    }

    fn repl_link_params(&self) -> LinkParams {
        let s = self.server.config.settings();
        LinkParams {
            auth: s
                .masterauth
                .clone()
                .map(|pass| (s.masteruser.clone(), pass)),
            listening_port: match s.replica_announce_port {
                0 => s.port,
                announced => announced,
            },
            announce_ip: s.replica_announce_ip.clone(),
            psync: Some((
                self.server.repl.replid.clone(),
                self.server.repl.master_repl_offset,
            )),
            sink: Some(Box::new(SyncLoad::new(
                self.keyspace.databases(),
                HashSeeds(self.aof.hash_seeds),
                LoadLimits::from_settings(s, HashSeeds(self.aof.hash_seeds)),
            ))),
            failover: self.server.failover.state
                == crate::repl::failover::FailoverState::InProgress,
        }
    }

    pub(super) fn repl_on_connected(&mut self, now: Now, conn: ConnId) {
        let params = self.repl_link_params();
        self.server.replica.on_connected(now, conn, params);
        self.repl_run_events(now);
    }

    pub(super) fn repl_on_connect_failed(&mut self, now: Now, conn: ConnId, error: &str) {
        self.server.replica.on_connect_failed(now, conn, error);
        self.repl_run_events(now);
    }

    pub(super) fn repl_on_data(&mut self, now: Now, conn: ConnId, bytes: &[u8]) {
        self.server.stats.total_net_input_bytes += bytes.len() as u64;
        if self.clients.table.get(&conn).is_some_and(|c| c.is_master) {
            self.repl_stream(now, conn, bytes);
        } else {
            self.server.replica.on_data(now, conn, bytes);
        }
        self.repl_run_events(now);
    }

    pub(super) fn repl_on_closed(&mut self, now: Now, conn: ConnId, reason: &CloseReason) {
        if let Some(mut client) = self.clients.table.remove(&conn) {
            self.clients.forget(&mut client);
            self.server.log(
                LogLevel::Verbose,
                format!("Master link closed ({reason:?})"),
            );
            self.server.replica.lost_connected(now, true);
        } else {
            self.server.replica.on_closed(now, conn);
        }
        self.repl_run_events(now);
    }

    /// The replica's cron (each tick): connect, time out, ACK.
    pub(super) fn repl_replica_cron(&mut self, now: Now) {
        // Not before the dataset (and the history it records) is loaded.
        let p = &self.server.persist;
        if !self.server.replica.is_replica() || p.loading || p.boot_probe {
            return;
        }
        // The master client went away without the link knowing (CLIENT KILL, an
        // output limit): the link is lost.
        let link = &self.server.replica;
        if link.link_up()
            && !link
                .conn
                .is_some_and(|c| self.clients.table.get(&c).is_some_and(|cl| cl.is_master))
        {
            self.server.replica.lost_connected(now, true);
        }
        let timeout_secs = self.server.config.settings().repl_timeout_secs;
        let offset = self.server.repl.master_repl_offset;
        self.server.replica.cron(now, timeout_secs, offset);
        self.repl_run_events(now);
    }

    /// The node's own replicas must sync again (Redis's `disconnectSlaves`): their
    /// links are closed; a sync walk for them ends.
    pub(super) fn repl_disconnect_replicas(&mut self) {
        self.repl_end_walk();
        let links: Vec<(ConnId, String)> = self
            .server
            .repl_master
            .replicas
            .values()
            .map(|l| (l.conn, l.name()))
            .collect();
        for (conn, name) in links {
            if let Some(mut client) = self.clients.table.remove(&conn) {
                self.clients.forget(&mut client);
            }
            self.server.effects.push_back(Effect::Close { conn });
            self.repl_forget_link(conn, &name);
        }
    }

    /// A replica's backlog, made when its link comes up (Redis's
    /// `createReplicationBacklog` after a sync): it serves its own replicas' PSYNC.
    fn repl_create_relay_backlog(&mut self) {
        let capacity = self.server.config.settings().repl_backlog_size_bytes;
        let offset = self.server.repl.master_repl_offset;
        self.server
            .repl_master
            .create_relay_backlog(usize::try_from(capacity).unwrap_or(usize::MAX), offset);
    }

    /// Carries out what the link machine asked for, in order.
    pub(super) fn repl_run_events(&mut self, now: Now) {
        self.repl_role_changed(now);
        while let Some(event) = self.server.replica.poll() {
            match event {
                Event::Connect { conn, addr } => self
                    .server
                    .effects
                    .push_back(Effect::Connect { conn, addr }),
                Event::Send { conn, bytes } => {
                    self.server.stats.total_net_output_bytes += bytes.len() as u64;
                    self.server.effects.push_back(Effect::Send { conn, bytes });
                }
                Event::Close { conn } => {
                    if let Some(mut client) = self.clients.table.remove(&conn) {
                        self.clients.forget(&mut client);
                    }
                    self.server.effects.push_back(Effect::Close { conn });
                }
                Event::Log(level, message) => self.server.log(level, message),
                Event::FullSync {
                    conn,
                    keyspace,
                    replid,
                    offset,
                    stream_db,
                } => {
                    // The writes a demoted master's new master may lack are kept
                    // before its dataset goes (invariant 17).
                    self.rollback_write_cut();
                    // A new history: this node's replicas cannot continue theirs
                    // (Redis's `replicationAttachToNewMaster`: disconnectSlaves and
                    // a fresh backlog).
                    self.repl_disconnect_replicas();
                    self.server.repl_master.backlog = None;
                    // Relayed bytes of the old history nobody will get now.
                    self.server.repl_master.unsent.clear();
                    self.repl_swap_dataset(now, keyspace);
                    self.server.repl.replid = replid;
                    self.server.repl.replid2 = crate::repl::NO_REPLID.to_string();
                    self.server.repl.second_replid_offset = -1;
                    self.server.repl.master_repl_offset = offset;
                    self.server.replica.read_offset = offset;
                    self.server.replica.stream_db = stream_db;
                    self.repl_create_relay_backlog();
                    self.repl_create_master_client(now, conn);
                }
                Event::Continue { conn, new_replid } => {
                    // The new master continues this node's history: nothing is lost.
                    self.server.rollback.cut = None;
                    self.server.rollback.unkept_keys = None;
                    if let Some(id) = new_replid {
                        self.server.repl.shift(id);
                        // Redis's slaveTryPartialResynchronization: the sub-replicas
                        // must learn the new id; they continue with it as replid2.
                        self.repl_disconnect_replicas();
                        self.server.repl_master.unsent.clear();
                    }
                    self.repl_create_relay_backlog();
                    self.server.replica.read_offset = self.server.repl.master_repl_offset;
                    self.repl_create_master_client(now, conn);
                }
                Event::PsyncOutcome { accepted } => self.failover_psync_outcome(accepted),
                Event::Stream { conn, bytes } => {
                    if self.clients.table.get(&conn).is_some_and(|c| c.is_master) {
                        self.repl_stream(now, conn, &bytes);
                    }
                }
            }
        }
    }

    /// Replaces the dataset with a fully synced one (Redis's `emptyData` + load, done
    /// as keel's swap: the old dataset is freed off the loop).
    fn repl_swap_dataset(&mut self, now: Now, keyspace: Box<crate::keyspace::Keyspace>) {
        // WATCHed keys of every database are touched, as a flush touches them.
        if !self.clients.watch.is_empty() {
            for db in 0..self.keyspace.databases() {
                self.clients
                    .watch
                    .touch_db(db, None, &self.keyspace, now.wall_ms);
            }
        }
        // Database by database, as a flush: a snapshot (BGSAVE, an AOF rewrite)
        // walking the old contents keeps them; the rest is freed off the loop.
        for (db, contents) in keyspace.dbs.into_iter().enumerate() {
            self.keyspace.replace_db(db, contents);
        }
        self.server.dirty = self.server.dirty.wrapping_add(1);
        self.config_changed();
        // The AOF must describe the new dataset: rewrite it (Redis restarts the AOF
        // after a sync for the same reason).
        if self.server.persist.aof.enabled {
            self.server.persist.aof.rewrite_asked = true;
        }
    }

    fn repl_create_master_client(&mut self, now: Now, conn: ConnId) {
        let id = self.next_client_id;
        self.next_client_id += 1;
        let peer = self
            .server
            .replica
            .master
            .as_ref()
            .map(|m| m.addr())
            .unwrap_or_default();
        let mut client = Client::new(id, conn, peer, String::new(), now.mono_ms, true);
        client.is_master = true;
        client.deny_blocking = true;
        client.db = self
            .server
            .replica
            .stream_db
            .min(self.keyspace.databases().saturating_sub(1));
        arm_output_limit(&self.server.hot.output_limits, &mut client);
        self.clients.table.insert(conn, client);
    }

    /// A command of the master's failed here (one keel lacks, a type it does not
    /// know): the datasets now differ. Redis 7.0's line and counter, so it is seen.
    fn repl_stream_error(&mut self, client: &Client, argv: &commands::Argv<'_>) {
        self.server.stats.unexpected_error_replies += 1;
        let reply = client.out.as_bytes();
        let line = reply.split(|&b| b == b'\r').next().unwrap_or_default();
        let text = String::from_utf8_lossy(line.get(1..).unwrap_or_default()).into_owned();
        let name = String::from_utf8_lossy(argv.get(0)).to_ascii_lowercase();
        self.server.log(
            LogLevel::Warning,
            format!("== CRITICAL == This replica is sending an error to its master: '{text}' after processing the command '{name}'"),
        );
    }

    /// The master's command stream: each whole command runs as the master client,
    /// its reply dropped; `REPLCONF GETACK` is answered with the offset applied
    /// before it. The offset moves by each command's bytes, a transaction's at EXEC.
    fn repl_stream(&mut self, now: Now, conn: ConnId, bytes: &[u8]) {
        let Some(mut client) = self.clients.table.remove(&conn) else {
            return;
        };
        let link = &mut self.server.replica;
        link.read_offset = link.read_offset.saturating_add(bytes.len() as u64);
        link.last_io_mono_ms = now.mono_ms;
        client.last_interaction_mono_ms = now.mono_ms;
        client.qbuf.extend_from_slice(bytes);
        let mut qbuf = std::mem::take(&mut client.qbuf);
        let mut parser = std::mem::take(&mut client.parser);
        let mut req = std::mem::take(&mut client.request);
        let mut qpos = 0usize;
        let mut broken = None;
        let limits = ParseLimits {
            proto_max_bulk_len_bytes: self.server.hot.proto_max_bulk_len_bytes,
            authenticated: true,
        };
        while let Some(rest) = qbuf.get(qpos..) {
            match parser.next_request(rest, limits, &mut req) {
                Ok(None) => break,
                Ok(Some(())) => {
                    let consumed = req.consumed_bytes;
                    let base = if req.inline {
                        &parser.scratch[..]
                    } else {
                        rest
                    };
                    let argv = commands::Argv::new(base, &req.ranges);
                    if argv.len() >= 2 && argv.is(0, "replconf") && argv.is(1, "getack") {
                        let offset = self.server.repl.master_repl_offset.to_string();
                        let ack = encode_command(&[b"REPLCONF", b"ACK", offset.as_bytes()]);
                        self.server.stats.total_net_output_bytes += ack.len() as u64;
                        self.server
                            .effects
                            .push_back(Effect::Send { conn, bytes: ack });
                    } else if argv.len() > 0 {
                        // The master's commands find keys as the master did: nothing
                        // expires under them (Redis's expireIfNeeded for the master).
                        self.keyspace.loading = true;
                        commands::execute(&mut self.ctx(&mut client, now), &argv);
                        self.keyspace.loading = false;
                        // What runs next outside a command (served blocked clients)
                        // deletes nothing either.
                        self.keyspace.keep_expired = true;
                        if client.out.as_bytes().first() == Some(&b'-') {
                            self.repl_stream_error(&client, &argv);
                        }
                        client.out.truncate(0);
                        self.serve_ready_keys(now);
                    }
                    let raw = rest.get(..consumed).unwrap_or_default();
                    // The planted `chain-relay-reencodes`: what is relayed is the
                    // node's own view of the stream (data commands only), not the
                    // master's bytes, so a chain's offsets drift.
                    let reencoded = self.server.mutants.is(Mutant::ChainRelayReencodes)
                        && (argv.is(0, "ping") || argv.is(0, "replconf"));
                    qpos += consumed;
                    let link = &mut self.server.replica;
                    if client.multi.is_some() {
                        link.pending_multi_bytes =
                            link.pending_multi_bytes.saturating_add(consumed as u64);
                        link.pending_multi_stream.extend_from_slice(raw);
                    } else {
                        let applied = (consumed as u64).saturating_add(link.pending_multi_bytes);
                        link.pending_multi_bytes = 0;
                        let multi = std::mem::take(&mut link.pending_multi_stream);
                        self.server.repl.master_repl_offset =
                            self.server.repl.master_repl_offset.saturating_add(applied);
                        // The exact bytes applied go on to this node's backlog and
                        // replicas (Redis's replicationFeedStreamFromMasterStream).
                        let m = &mut self.server.repl_master;
                        m.relay(&multi);
                        if !reencoded {
                            m.relay(raw);
                        }
                    }
                }
                Err(e) => {
                    broken = Some(e.reason().to_string());
                    break;
                }
            }
        }
        self.server.replica.stream_db = client.db;
        qbuf.drain(..qpos.min(qbuf.len()));
        client.qbuf = qbuf;
        client.parser = parser;
        client.request = req;
        if let Some(why) = broken {
            let line = client.info_line(now.mono_ms);
            self.server.log(
                LogLevel::Warning,
                format!("Protocol error ({why}) from client: {line}. Closing the link with the master; what it applied is kept"),
            );
            self.clients.forget(&mut client);
            self.server.replica.lost_connected(now, false);
            return;
        }
        let qbuf_limit = self.server.hot.client_query_buffer_limit_bytes;
        if client.qbuf.len() as u64 > qbuf_limit {
            self.server.log(
                LogLevel::Warning,
                "Closing the link with the master: its unfinished command reached the max query buffer length".to_string(),
            );
            self.clients.forget(&mut client);
            self.server.replica.lost_connected(now, false);
            return;
        }
        self.clients.table.insert(conn, client);
    }
}

/// A full sync's RDB loaded as it arrives into a fresh keyspace (keel's
/// `repl-diskless-load`: straight from the socket, the old dataset kept until the
/// load succeeded). Keys already expired are kept: a replica waits for its master's
/// DEL, as Redis loads them on a replica too.
struct SyncLoad {
    reader: RdbReader,
    applier: RdbApplier,
    keyspace: Box<Keyspace>,
    keys_loaded: u64,
    /// The RDB's `repl-stream-db`.
    stream_db: usize,
}

impl SyncLoad {
    fn new(databases: usize, seeds: HashSeeds, limits: LoadLimits) -> SyncLoad {
        let mut keyspace = Box::new(Keyspace::new(databases, seeds));
        keyspace.loading = true;
        SyncLoad {
            reader: RdbReader::new(limits),
            applier: RdbApplier::default(),
            keyspace,
            keys_loaded: 0,
            stream_db: 0,
        }
    }

    /// Applies every complete item the reader holds; true at the RDB's end.
    fn apply(&mut self) -> Result<bool, String> {
        loop {
            match self.reader.next() {
                Ok(None) => return Ok(false),
                Ok(Some(RdbItem::End)) => return Ok(true),
                Ok(Some(RdbItem::SelectDb(db))) => self.applier.select(&self.keyspace, db)?,
                Ok(Some(RdbItem::ResizeDb { keys, expires })) => {
                    self.applier.resize(&mut self.keyspace, keys, expires)
                }
                Ok(Some(RdbItem::Key {
                    db,
                    key,
                    value,
                    expire_ms,
                    ..
                })) => {
                    self.applier
                        .insert(&mut self.keyspace, db, &key, value, expire_ms)?;
                    self.keys_loaded += 1;
                }
                Ok(Some(RdbItem::Aux { key, value })) if key == b"repl-stream-db" => {
                    let db = std::str::from_utf8(&value)
                        .ok()
                        .and_then(|v| v.parse::<usize>().ok());
                    self.stream_db = db.unwrap_or(0);
                }
                Ok(Some(_)) => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
}

impl RdbSink for SyncLoad {
    fn feed(&mut self, bytes: &[u8]) -> Result<bool, String> {
        self.reader.feed(bytes);
        self.apply()
    }

    fn finish(&mut self) -> Result<bool, String> {
        self.reader.end_of_input();
        match self.apply()? {
            true => Ok(true),
            false => Err(format!(
                "truncated RDB at offset {}",
                self.reader.consumed_bytes()
            )),
        }
    }

    fn take_after(&mut self) -> Vec<u8> {
        self.reader.take_unconsumed()
    }

    fn consumed_bytes(&self) -> u64 {
        self.reader.consumed_bytes()
    }

    fn keys_loaded(&self) -> u64 {
        self.keys_loaded
    }

    fn stream_db(&self) -> usize {
        self.stream_db
    }

    fn into_keyspace(self: Box<Self>) -> Box<Keyspace> {
        self.keyspace
    }
}
