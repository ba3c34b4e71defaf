//! The replica's side of a replication link (Redis 7.0's `connectWithMaster`,
//! `syncWithMaster`, `readSyncBulkPayload` and the replica half of `replicationCron`)
//! as a Sans-IO machine: the node hands it the link's events and bytes, it answers with
//! [`Event`]s (bytes to send, log lines, a loaded dataset, the stream's first bytes).
//!
//! It owns the handshake and the full sync's RDB, which it loads as it arrives into a
//! fresh keyspace (the old dataset stays untouched until the load succeeded). The
//! command stream after the sync is run by the node as the master client. It never
//! reads a clock, never does I/O and never buffers the RDB whole: memory is one chunk
//! plus the largest single item, never what a length prefix claims.

use std::collections::VecDeque;

use crate::io::{ConnId, LogLevel, Now, OUTBOUND_CONN_ID_BASE};
use crate::keyspace::Keyspace;

/// Where a full sync's RDB goes as it arrives: the node's streaming RDB reader filling
/// a fresh keyspace (`node::repl_replica`; the RDB codec lives above this module).
pub trait RdbSink: Send {
    /// More of the RDB; Ok(true) once its end (and checksum) was read, after which
    /// `take_after` hands back the bytes fed past it.
    fn feed(&mut self, bytes: &[u8]) -> Result<bool, String>;
    /// No more bytes come: an unfinished RDB is an error.
    fn finish(&mut self) -> Result<bool, String>;
    fn take_after(&mut self) -> Vec<u8>;
    /// RDB bytes consumed (up to its end).
    fn consumed_bytes(&self) -> u64;
    fn keys_loaded(&self) -> u64;
    /// The database the master's stream had selected at the snapshot (the RDB's
    /// `repl-stream-db`): the master client starts in it, as Redis's
    /// `replicationCreateMasterClient(conn, rsi.repl_stream_db)`. A replica serving
    /// a chain relays its master's stream, which sends no SELECT for it again.
    fn stream_db(&self) -> usize {
        0
    }
    /// The loaded dataset.
    fn into_keyspace(self: Box<Self>) -> Box<Keyspace>;
}

/// The longest reply line the handshake accepts (a master's `+FULLRESYNC` is ~60
/// bytes; Redis reads lines into a 256-byte buffer).
pub const HANDSHAKE_LINE_MAX_BYTES: usize = 4096;

/// Length of the `$EOF:` mark of a diskless transfer (`CONFIG_RUN_ID_SIZE`).
pub const EOF_MARK_BYTES: usize = 40;

/// How often the replica reports its offset (`REPLCONF ACK`) and retries a link.
pub const CRON_PERIOD_MS: u64 = 1000;

/// Where the replica's master is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterAddr {
    pub host: String,
    pub port: u16,
}

impl MasterAddr {
    pub fn addr(&self) -> String {
        if self.host.contains(':') && !self.host.starts_with('[') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Redis's `REPL_STATE_*` for a replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkState {
    /// Not a replica.
    None,
    /// A replica that must connect (at the next cron).
    Connect,
    /// The connect was asked for.
    Connecting,
    ReceivePingReply,
    ReceiveAuthReply,
    ReceivePortReply,
    ReceiveIpReply,
    ReceiveCapaReply,
    ReceivePsyncReply,
    /// Receiving the RDB of a full sync.
    Transfer,
    /// The stream flows (the master client runs it).
    Connected,
}

impl LinkState {
    /// The state ROLE reports (`replicationGetSlaveStateName` ... Redis's `role`).
    pub fn role_name(self) -> &'static str {
        match self {
            LinkState::None => "none",
            LinkState::Connect => "connect",
            LinkState::Connecting => "connecting",
            LinkState::Transfer => "sync",
            LinkState::Connected => "connected",
            _ => "handshake",
        }
    }

    fn in_handshake(self) -> bool {
        matches!(
            self,
            LinkState::ReceivePingReply
                | LinkState::ReceiveAuthReply
                | LinkState::ReceivePortReply
                | LinkState::ReceiveIpReply
                | LinkState::ReceiveCapaReply
                | LinkState::ReceivePsyncReply
        )
    }
}

/// What the node does for the machine, in order.
pub enum Event {
    Connect {
        conn: ConnId,
        addr: String,
    },
    Send {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    /// Close the link (its master client too, if any).
    Close {
        conn: ConnId,
    },
    Log(LogLevel, String),
    /// A full sync loaded: replace the dataset with `keyspace`, adopt `replid` at
    /// `offset`; the master client starts on `conn`.
    FullSync {
        conn: ConnId,
        keyspace: Box<Keyspace>,
        replid: String,
        offset: u64,
        stream_db: usize,
    },
    /// The master accepted a partial resync (`new_replid`: it changed its id); the
    /// master client starts on `conn` from the cached offset.
    Continue {
        conn: ConnId,
        new_replid: Option<String>,
    },
    /// Stream bytes that arrived with the end of the handshake or of the RDB.
    Stream {
        conn: ConnId,
        bytes: Vec<u8>,
    },
    /// The master answered PSYNC: `accepted` for `+FULLRESYNC` or `+CONTINUE`, not
    /// for an error (what a FAILOVER in progress waits for).
    PsyncOutcome {
        accepted: bool,
    },
}

/// What the node knows that the handshake sends (read at connect time).
pub struct LinkParams {
    /// `masteruser` (None: AUTH with the password alone) and `masterauth`.
    pub auth: Option<(Option<Vec<u8>>, Vec<u8>)>,
    /// `replica-announce-port`, else `port`.
    pub listening_port: u16,
    /// `replica-announce-ip`, when set (REPLCONF ip-address).
    pub announce_ip: Option<Vec<u8>>,
    /// The history and offset to continue (`PSYNC replid offset+1`); None: `PSYNC ? -1`.
    pub psync: Option<(String, u64)>,
    /// Where a full sync's RDB is loaded (one per connection: one sync each).
    pub sink: Option<Box<dyn RdbSink>>,
    /// A FAILOVER in progress: PSYNC carries `FAILOVER`, so the target promotes itself.
    pub failover: bool,
}

/// How the RDB's end is known.
#[derive(Debug)]
enum Framing {
    /// `$<len>`: this many bytes are still the RDB's.
    Bulk { remaining_bytes: u64 },
    /// `$EOF:<mark>`: the RDB ends itself; the mark follows it.
    Eof { mark: Vec<u8> },
}

/// A full sync in progress.
struct Transfer {
    framing: Option<Framing>,
    sink: Box<dyn RdbSink>,
    replid: String,
    offset: u64,
    /// The RDB ended; what follows is the EOF mark (diskless) and then the stream.
    rdb_done: bool,
    /// Bytes after the RDB's end, gathered until the mark can be checked.
    after: Vec<u8>,
    rdb_bytes: u64,
}

/// The replica's link to its master.
pub struct ReplicaLink {
    pub master: Option<MasterAddr>,
    pub state: LinkState,
    /// The connection of the link in progress or up.
    pub conn: Option<ConnId>,
    next_conn_seq: u64,
    params: Option<LinkParams>,
    /// A partial handshake reply line.
    line: Vec<u8>,
    transfer: Option<Box<Transfer>>,
    /// The last time the master sent anything (monotonic ms).
    pub last_io_mono_ms: u64,
    /// Since when the link is down (None: up, or never connected: Redis's -1).
    pub down_since_mono_ms: Option<u64>,
    /// When the next connect may be tried.
    retry_at_mono_ms: u64,
    /// The last time an ACK was sent.
    last_ack_mono_ms: u64,
    /// PSYNC may continue the node's history (a synthesized or disconnected cached
    /// master, Redis's `server.cached_master`).
    pub cached_master: bool,
    /// Stream bytes read (INFO `slave_read_repl_offset`), with the applied offset the
    /// node keeps in `ReplIds::master_repl_offset`.
    pub read_offset: u64,
    /// Stream bytes of a MULTI not yet EXECed (counted into the offset at EXEC, as
    /// Redis's `reploff` moves only outside a transaction).
    pub pending_multi_bytes: u64,
    /// Those bytes themselves, relayed whole at EXEC to this node's own replicas.
    pub pending_multi_stream: Vec<u8>,
    /// The database the master's stream last selected: a partial resync continues
    /// in it (the master sends no SELECT for a database it already selected), and a
    /// save records it (`repl-stream-db`).
    pub stream_db: usize,
    /// When the sync started (INFO `master_sync_last_io_seconds_ago` ...).
    pub sync_started_mono_ms: u64,
    /// Bytes of the RDB received so far (INFO `master_sync_read_bytes`).
    pub sync_read_bytes: u64,
    /// The RDB's size when the master said it (`$<len>`), else None.
    pub sync_total_bytes: Option<u64>,
    events: VecDeque<Event>,
}

impl Default for ReplicaLink {
    fn default() -> Self {
        ReplicaLink {
            master: None,
            state: LinkState::None,
            conn: None,
            next_conn_seq: 0,
            params: None,
            line: Vec::new(),
            transfer: None,
            last_io_mono_ms: 0,
            down_since_mono_ms: None,
            retry_at_mono_ms: 0,
            last_ack_mono_ms: 0,
            cached_master: false,
            read_offset: 0,
            pending_multi_bytes: 0,
            pending_multi_stream: Vec::new(),
            stream_db: 0,
            sync_started_mono_ms: 0,
            sync_read_bytes: 0,
            sync_total_bytes: None,
            events: VecDeque::new(),
        }
    }
}

/// One command as RESP (what the handshake and ACKs send).
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// A reply line shown in a log line (lossy, bounded).
fn shown(line: &[u8]) -> String {
    String::from_utf8_lossy(line.get(..200).unwrap_or(line)).into_owned()
}

impl ReplicaLink {
    pub fn is_replica(&self) -> bool {
        self.master.is_some()
    }

    /// The link is up and the stream flows (INFO `master_link_status:up`).
    pub fn link_up(&self) -> bool {
        self.state == LinkState::Connected
    }

    /// A sync is in progress (INFO `master_sync_in_progress`).
    pub fn sync_in_progress(&self) -> bool {
        self.state == LinkState::Transfer
    }

    /// The next event for the node.
    pub fn poll(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// A log line in order with the machine's own.
    pub fn log(&mut self, level: LogLevel, message: impl Into<String>) {
        self.events.push_back(Event::Log(level, message.into()));
    }

    /// Whether `conn` is this link's connection.
    pub fn owns(&self, conn: ConnId) -> bool {
        self.conn == Some(conn)
    }

    /// REPLICAOF host port (Redis's `replicationSetMaster`): drops any link and
    /// connects to the new master at once. `was_master`: the node continues its own
    /// history (it may PSYNC it).
    pub fn set_master(&mut self, now: Now, host: String, port: u16, was_master: bool) {
        // A replica whose stream flowed keeps its master's state to PSYNC the new
        // master with (Redis frees the master client, which caches it), so a
        // replica moved to a promoted sibling continues instead of a full sync.
        if self.state == LinkState::Connected {
            self.log(LogLevel::Notice, "Caching the disconnected master state.");
            self.cached_master = true;
        }
        self.drop_link();
        if was_master {
            self.cached_master = true;
            self.log(LogLevel::Notice, "Before turning into a replica, using my own master parameters to synthesize a cached master: I may be able to synchronize with the new master with just a partial transfer.");
        }
        self.master = Some(MasterAddr { host, port });
        self.state = LinkState::Connect;
        self.down_since_mono_ms = None;
        self.retry_at_mono_ms = now.mono_ms;
        self.connect(now, false);
    }

    /// `replicaof` in the config file: a replica whose cron connects.
    pub fn configure(&mut self, host: String, port: u16) {
        self.master = Some(MasterAddr { host, port });
        self.state = LinkState::Connect;
        self.retry_at_mono_ms = 0;
    }

    /// REPLICAOF NO ONE: drops the link; the node becomes a master.
    pub fn unset_master(&mut self) {
        self.drop_link();
        if self.cached_master {
            self.log(
                LogLevel::Notice,
                "Discarding previously cached master state.",
            );
        }
        self.cached_master = false;
        self.master = None;
        self.state = LinkState::None;
        self.down_since_mono_ms = None;
    }

    /// Closes the link in progress (no log): back to `Connect` if still a replica.
    fn drop_link(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.events.push_back(Event::Close { conn });
        }
        self.line = Vec::new();
        self.transfer = None;
        self.params = None;
        self.pending_multi_bytes = 0;
        self.pending_multi_stream = Vec::new();
        if self.master.is_some() {
            self.state = LinkState::Connect;
        }
    }

    /// Asks for a connection to the master (Redis's `connectWithMaster`).
    fn connect(&mut self, now: Now, again: bool) {
        let Some(master) = self.master.clone() else {
            return;
        };
        let conn = OUTBOUND_CONN_ID_BASE + (1 << 40) + self.next_conn_seq;
        self.next_conn_seq = self.next_conn_seq.wrapping_add(1);
        self.conn = Some(conn);
        self.state = LinkState::Connecting;
        self.last_io_mono_ms = now.mono_ms;
        let verb = if again { "Reconnecting" } else { "Connecting" };
        self.log(
            LogLevel::Notice,
            format!("{verb} to MASTER {}:{}", master.host, master.port),
        );
        self.log(LogLevel::Notice, "MASTER <-> REPLICA sync started");
        self.events.push_back(Event::Connect {
            conn,
            addr: master.addr(),
        });
    }

    /// The link failed (handshake, transfer, a bad stream): logged by the caller;
    /// retried at the next cron second.
    pub fn fail(&mut self, now: Now) {
        self.drop_link();
        // `master_link_down_since_seconds` counts from a lost established link
        // only (Redis's repl_down_since): a handshake that fails leaves it as it is.
        if self.master.is_some() {
            self.retry_at_mono_ms = now.mono_ms.saturating_add(CRON_PERIOD_MS);
        }
    }

    /// An established link (the stream) was lost: the master's state is cached for
    /// a PSYNC, and the replica reconnects at once, as Redis 7.0 does.
    /// `already_closed`: the driver reported the close (nothing to close).
    pub fn lost_connected(&mut self, now: Now, already_closed: bool) {
        if already_closed {
            self.conn = None;
        }
        self.log(LogLevel::Warning, "Connection with master lost.");
        self.log(LogLevel::Notice, "Caching the disconnected master state.");
        self.cached_master = true;
        self.drop_link();
        self.down_since_mono_ms = Some(now.mono_ms);
        self.connect(now, true);
    }

    /// The driver connected the link.
    pub fn on_connected(&mut self, now: Now, conn: ConnId, params: LinkParams) {
        if !self.owns(conn) || self.state != LinkState::Connecting {
            return;
        }
        self.log(
            LogLevel::Notice,
            "Non blocking connect for SYNC fired the event.",
        );
        self.params = Some(params);
        self.last_io_mono_ms = now.mono_ms;
        self.state = LinkState::ReceivePingReply;
        self.events.push_back(Event::Send {
            conn,
            bytes: encode_command(&[b"PING"]),
        });
    }

    pub fn on_connect_failed(&mut self, now: Now, conn: ConnId, error: &str) {
        if !self.owns(conn) {
            return;
        }
        self.conn = None;
        self.log(
            LogLevel::Warning,
            format!("Error condition on socket for SYNC: {error}"),
        );
        self.fail(now);
    }

    /// The link's connection closed before the stream flowed (the node handles a
    /// close of the master client's connection with `lost_connected`).
    pub fn on_closed(&mut self, now: Now, conn: ConnId) {
        if !self.owns(conn) {
            return;
        }
        self.conn = None;
        if self.state == LinkState::Transfer {
            self.log(
                LogLevel::Warning,
                "I/O error trying to sync with MASTER: connection lost",
            );
        } else {
            self.log(
                LogLevel::Warning,
                "Master closed the connection during the replication handshake",
            );
        }
        self.fail(now);
    }

    /// Bytes from the master before the stream flows (handshake replies, the RDB).
    pub fn on_data(&mut self, now: Now, conn: ConnId, bytes: &[u8]) {
        if !self.owns(conn) {
            return;
        }
        self.last_io_mono_ms = now.mono_ms;
        let mut rest = bytes;
        while !rest.is_empty() && self.owns(conn) {
            if self.state == LinkState::Transfer && self.transfer_has_framing() {
                rest = self.on_rdb_bytes(now, conn, rest);
                continue;
            }
            if !(self.state.in_handshake() || self.state == LinkState::Transfer) {
                // Connected already: what follows is the stream's.
                self.events.push_back(Event::Stream {
                    conn,
                    bytes: rest.to_vec(),
                });
                return;
            }
            let Some(pos) = rest.iter().position(|&b| b == b'\n') else {
                self.line.extend_from_slice(rest);
                if self.line.len() > HANDSHAKE_LINE_MAX_BYTES {
                    self.log(
                        LogLevel::Warning,
                        format!(
                            "Bad protocol from MASTER: a reply line longer than {HANDSHAKE_LINE_MAX_BYTES} bytes during the handshake"
                        ),
                    );
                    self.fail(now);
                }
                return;
            };
            let (head, tail) = rest.split_at(pos + 1);
            rest = tail;
            self.line.extend_from_slice(head);
            let mut line = std::mem::take(&mut self.line);
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            self.on_line(now, conn, &line);
        }
    }

    fn transfer_has_framing(&self) -> bool {
        self.transfer.as_ref().is_some_and(|t| t.framing.is_some())
    }

    fn send(&mut self, conn: ConnId, args: &[&[u8]]) {
        self.events.push_back(Event::Send {
            conn,
            bytes: encode_command(args),
        });
    }

    /// One reply line of the handshake (or the RDB's `$` line).
    fn on_line(&mut self, now: Now, conn: ConnId, line: &[u8]) {
        match self.state {
            LinkState::ReceivePingReply => {
                let refused = line.first() == Some(&b'-')
                    && !line.get(1..).is_some_and(|e| {
                        e.starts_with(b"NOAUTH")
                            || e.starts_with(b"NOPERM")
                            || e.starts_with(b"ERR operation not permitted")
                    });
                if refused {
                    self.log(
                        LogLevel::Warning,
                        format!("Error reply to PING from master: '{}'", shown(line)),
                    );
                    return self.fail(now);
                }
                self.log(
                    LogLevel::Notice,
                    "Master replied to PING, replication can continue...",
                );
                self.send_handshake(conn);
            }
            LinkState::ReceiveAuthReply => {
                if line.first() == Some(&b'-') {
                    self.log(
                        LogLevel::Warning,
                        format!("Unable to AUTH to MASTER: {}", shown(line)),
                    );
                    return self.fail(now);
                }
                self.state = LinkState::ReceivePortReply;
            }
            LinkState::ReceivePortReply => {
                if line.first() == Some(&b'-') {
                    self.log(
                        LogLevel::Notice,
                        format!(
                            "(Non critical) Master does not understand REPLCONF listening-port: {}",
                            shown(line)
                        ),
                    );
                }
                self.state = if self
                    .params
                    .as_ref()
                    .is_some_and(|p| p.announce_ip.is_some())
                {
                    LinkState::ReceiveIpReply
                } else {
                    LinkState::ReceiveCapaReply
                };
            }
            LinkState::ReceiveIpReply => {
                if line.first() == Some(&b'-') {
                    self.log(
                        LogLevel::Notice,
                        format!(
                            "(Non critical) Master does not understand REPLCONF ip-address: {}",
                            shown(line)
                        ),
                    );
                }
                self.state = LinkState::ReceiveCapaReply;
            }
            LinkState::ReceiveCapaReply => {
                if line.first() == Some(&b'-') {
                    self.log(
                        LogLevel::Notice,
                        format!(
                            "(Non critical) Master does not understand REPLCONF capa: {}",
                            shown(line)
                        ),
                    );
                }
                self.send_psync(conn);
            }
            LinkState::ReceivePsyncReply => self.on_psync_reply(now, conn, line),
            LinkState::Transfer => self.on_transfer_line(now, line),
            _ => {}
        }
    }

    /// AUTH, REPLCONF listening-port and REPLCONF capa, pipelined as Redis does.
    fn send_handshake(&mut self, conn: ConnId) {
        let Some(params) = self.params.as_ref() else {
            return;
        };
        let auth = params.auth.clone();
        let ip = params.announce_ip.clone();
        let port = params.listening_port.to_string();
        self.state = LinkState::ReceivePortReply;
        if let Some((user, pass)) = &auth {
            match user {
                Some(user) => self.send(conn, &[b"AUTH", user, pass]),
                None => self.send(conn, &[b"AUTH", pass]),
            }
            self.state = LinkState::ReceiveAuthReply;
        }
        self.send(conn, &[b"REPLCONF", b"listening-port", port.as_bytes()]);
        if let Some(ip) = &ip {
            self.send(conn, &[b"REPLCONF", b"ip-address", ip]);
        }
        self.send(conn, &[b"REPLCONF", b"capa", b"eof", b"capa", b"psync2"]);
    }

    fn send_psync(&mut self, conn: ConnId) {
        let psync = self
            .params
            .as_ref()
            .and_then(|p| p.psync.clone())
            .filter(|_| self.cached_master);
        match psync {
            Some((replid, offset)) => {
                let next = offset.saturating_add(1).to_string();
                self.log(
                    LogLevel::Notice,
                    format!("Trying a partial resynchronization (request {replid}:{next})."),
                );
                if self.params.as_ref().is_some_and(|p| p.failover) {
                    self.send(
                        conn,
                        &[b"PSYNC", replid.as_bytes(), next.as_bytes(), b"FAILOVER"],
                    );
                } else {
                    self.send(conn, &[b"PSYNC", replid.as_bytes(), next.as_bytes()]);
                }
            }
            None => {
                self.log(
                    LogLevel::Notice,
                    "Partial resynchronization not possible (no cached master)",
                );
                self.send(conn, &[b"PSYNC", b"?", b"-1"]);
            }
        }
        self.state = LinkState::ReceivePsyncReply;
    }

    /// Redis's `slaveTryPartialResynchronization`, reading half.
    fn on_psync_reply(&mut self, now: Now, conn: ConnId, line: &[u8]) {
        if line.is_empty() {
            // The master's keepalive newline while it prepares the transfer.
            return;
        }
        if let Some(rest) = line.strip_prefix(b"+FULLRESYNC") {
            let text = String::from_utf8_lossy(rest).into_owned();
            let mut words = text.split_ascii_whitespace();
            let replid = words.next().filter(|id| id.len() == EOF_MARK_BYTES);
            let offset = words.next().and_then(|o| o.parse::<u64>().ok());
            let (Some(replid), Some(offset)) = (replid, offset) else {
                self.log(
                    LogLevel::Warning,
                    "Master replied with wrong +FULLRESYNC syntax.",
                );
                return self.fail(now);
            };
            self.log(
                LogLevel::Notice,
                format!("Full resync from master: {replid}:{offset}"),
            );
            self.events
                .push_back(Event::PsyncOutcome { accepted: true });
            let Some(sink) = self.params.as_mut().and_then(|p| p.sink.take()) else {
                return self.fail(now);
            };
            self.transfer = Some(Box::new(Transfer {
                framing: None,
                sink,
                replid: replid.to_string(),
                offset,
                rdb_done: false,
                after: Vec::new(),
                rdb_bytes: 0,
            }));
            self.state = LinkState::Transfer;
            self.sync_started_mono_ms = now.mono_ms;
            self.sync_read_bytes = 0;
            self.sync_total_bytes = None;
            return;
        }
        if let Some(rest) = line.strip_prefix(b"+CONTINUE") {
            self.log(
                LogLevel::Notice,
                "Successful partial resynchronization with master.",
            );
            let text = String::from_utf8_lossy(rest).into_owned();
            let new_replid = text
                .split_ascii_whitespace()
                .next()
                .filter(|id| id.len() == EOF_MARK_BYTES)
                .map(str::to_string);
            let cached = self.params.as_ref().and_then(|p| p.psync.clone());
            let new_replid = new_replid.filter(|id| cached.as_ref().is_none_or(|(c, _)| c != id));
            if let Some(id) = &new_replid {
                self.log(
                    LogLevel::Notice,
                    format!("Master replication ID changed to {id}"),
                );
            }
            self.log(
                LogLevel::Notice,
                "MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization.",
            );
            self.events
                .push_back(Event::PsyncOutcome { accepted: true });
            self.established(now);
            self.events.push_back(Event::Continue { conn, new_replid });
            return;
        }
        self.events
            .push_back(Event::PsyncOutcome { accepted: false });
        if line.starts_with(b"-NOMASTERLINK") || line.starts_with(b"-LOADING") {
            self.log(
                LogLevel::Notice,
                format!(
                    "Master is currently unable to PSYNC but should be in the future: {}",
                    shown(line)
                ),
            );
            return self.fail(now);
        }
        self.log(
            LogLevel::Warning,
            format!("Unexpected reply to PSYNC from master: {}", shown(line)),
        );
        self.fail(now);
    }

    fn established(&mut self, now: Now) {
        self.state = LinkState::Connected;
        self.transfer = None;
        self.params = None;
        self.down_since_mono_ms = None;
        self.last_ack_mono_ms = now.mono_ms;
        self.pending_multi_bytes = 0;
        self.pending_multi_stream = Vec::new();
    }

    /// The RDB's first line: `$<len>` or `$EOF:<mark>`.
    fn on_transfer_line(&mut self, now: Now, line: &[u8]) {
        if line.is_empty() {
            return;
        }
        if line.first() == Some(&b'-') {
            self.log(
                LogLevel::Warning,
                format!("MASTER aborted replication with an error: {}", shown(line)),
            );
            return self.fail(now);
        }
        let Some(spec) = line.strip_prefix(b"$") else {
            self.log(
                LogLevel::Warning,
                format!(
                    "Bad protocol from MASTER, the first byte is not '$' (we received '{}'), are you sure the host and port are right?",
                    shown(line)
                ),
            );
            return self.fail(now);
        };
        let framing = if let Some(mark) = spec.strip_prefix(b"EOF:") {
            if mark.len() != EOF_MARK_BYTES {
                self.log(
                    LogLevel::Warning,
                    format!(
                        "Bad protocol from MASTER: an EOF mark of {} bytes",
                        mark.len()
                    ),
                );
                return self.fail(now);
            }
            self.log(
                LogLevel::Notice,
                "MASTER <-> REPLICA sync: receiving streamed RDB from master with EOF to parser",
            );
            Framing::Eof {
                mark: mark.to_vec(),
            }
        } else {
            let Some(len) = std::str::from_utf8(spec)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
            else {
                self.log(
                    LogLevel::Warning,
                    format!("Bad protocol from MASTER: bad RDB length '{}'", shown(line)),
                );
                return self.fail(now);
            };
            self.sync_total_bytes = Some(len);
            self.log(
                LogLevel::Notice,
                format!("MASTER <-> REPLICA sync: receiving {len} bytes from master to parser"),
            );
            Framing::Bulk {
                remaining_bytes: len,
            }
        };
        self.log(
            LogLevel::Notice,
            "MASTER <-> REPLICA sync: Loading DB in memory",
        );
        if let Some(t) = self.transfer.as_mut() {
            t.framing = Some(framing);
        }
    }

    /// RDB bytes (and what follows them); returns the bytes not consumed.
    fn on_rdb_bytes<'b>(&mut self, now: Now, conn: ConnId, bytes: &'b [u8]) -> &'b [u8] {
        let Some(mut t) = self.transfer.take() else {
            return &[];
        };
        let (rdb_part, rest) = match &mut t.framing {
            Some(Framing::Bulk { remaining_bytes }) => {
                let take = usize::try_from(*remaining_bytes)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len());
                *remaining_bytes -= take as u64;
                bytes.split_at(take)
            }
            _ if t.rdb_done => (&[][..], bytes),
            _ => (bytes, &[][..]),
        };
        self.sync_read_bytes = self.sync_read_bytes.saturating_add(rdb_part.len() as u64);
        t.rdb_bytes = t.rdb_bytes.saturating_add(rdb_part.len() as u64);
        let bulk_done = matches!(t.framing, Some(Framing::Bulk { remaining_bytes: 0 }));
        if !t.rdb_done {
            let fed = t.sink.feed(rdb_part).and_then(|done| {
                if bulk_done && !done {
                    t.sink.finish()
                } else {
                    Ok(done)
                }
            });
            t.rdb_done = fed.as_ref().is_ok_and(|&done| done);
            if let Err(why) = fed {
                self.log(
                    LogLevel::Warning,
                    format!(
                        "Failed trying to load the MASTER synchronization DB from socket: {why}"
                    ),
                );
                self.fail(now);
                return &[];
            }
            if t.rdb_done {
                let after = t.sink.take_after();
                let bulk_left = match t.framing {
                    Some(Framing::Bulk { remaining_bytes }) => remaining_bytes,
                    _ => 0,
                };
                if bulk_left > 0
                    || (matches!(t.framing, Some(Framing::Bulk { .. })) && !after.is_empty())
                {
                    self.log(
                        LogLevel::Warning,
                        format!(
                            "Failed trying to load the MASTER synchronization DB from socket: the RDB ended at offset {} but the master announced more bytes",
                            t.sink.consumed_bytes()
                        ),
                    );
                    self.fail(now);
                    return &[];
                }
                t.after = after;
            } else if bulk_done {
                self.log(
                    LogLevel::Warning,
                    format!(
                        "Failed trying to load the MASTER synchronization DB from socket: truncated RDB at offset {}",
                        t.rdb_bytes
                    ),
                );
                self.fail(now);
                return &[];
            }
        } else {
            t.after.extend_from_slice(rdb_part);
        }
        if !t.rdb_done {
            self.transfer = Some(t);
            return rest;
        }
        // The RDB ended: check the mark (diskless), then the stream begins.
        let mut after = std::mem::take(&mut t.after);
        if let Some(Framing::Eof { mark }) = &t.framing {
            after.extend_from_slice(rest);
            if after.len() < EOF_MARK_BYTES {
                t.after = after;
                self.transfer = Some(t);
                return &[];
            }
            let tail = after.split_off(EOF_MARK_BYTES);
            if after != *mark {
                self.log(LogLevel::Warning, "Replication stream EOF marker is broken");
                self.fail(now);
                return &[];
            }
            after = tail;
        } else {
            after.extend_from_slice(rest);
        }
        self.finish_full_sync(now, conn, *t, after);
        &[]
    }

    fn finish_full_sync(&mut self, now: Now, conn: ConnId, t: Transfer, stream: Vec<u8>) {
        // Only now: a failed transfer keeps the dataset, and with it the history a
        // PSYNC may continue.
        if std::mem::take(&mut self.cached_master) {
            self.log(
                LogLevel::Notice,
                "Discarding previously cached master state.",
            );
        }
        self.log(
            LogLevel::Notice,
            format!(
                "Done loading RDB, keys loaded: {}, keys expired: 0.",
                t.sink.keys_loaded()
            ),
        );
        self.log(
            LogLevel::Notice,
            "MASTER <-> REPLICA sync: Finished with success",
        );
        let stream_db = t.sink.stream_db();
        let eof_marked = matches!(t.framing, Some(Framing::Eof { .. }));
        let offset = t.offset;
        let mut keyspace = t.sink.into_keyspace();
        keyspace.loading = false;
        self.established(now);
        if eof_marked {
            // Redis 7.0's readSyncBulkPayload: "Send the initial ACK immediately to
            // put this replica in online state" — after a diskless transfer the
            // master holds the stream until this ACK; waiting for the cron's would
            // leave the replica up to a second behind.
            let text = offset.to_string();
            self.send(conn, &[b"REPLCONF", b"ACK", text.as_bytes()]);
        }
        self.events.push_back(Event::FullSync {
            conn,
            keyspace,
            replid: t.replid,
            offset: t.offset,
            stream_db,
        });
        if !stream.is_empty() {
            self.events.push_back(Event::Stream {
                conn,
                bytes: stream,
            });
        }
    }

    /// The replica's part of `replicationCron`, each tick: connect when due, time the
    /// link out (`repl-timeout`), and ACK the offset every second. `offset` is the
    /// applied offset.
    pub fn cron(&mut self, now: Now, repl_timeout_secs: u64, offset: u64) {
        if self.master.is_none() {
            return;
        }
        let timeout_ms = repl_timeout_secs.saturating_mul(1000);
        let silent_ms = now.mono_ms.saturating_sub(self.last_io_mono_ms);
        match self.state {
            LinkState::Connect if now.mono_ms >= self.retry_at_mono_ms => self.connect(now, false),
            LinkState::Connecting
            | LinkState::ReceivePingReply
            | LinkState::ReceiveAuthReply
            | LinkState::ReceivePortReply
            | LinkState::ReceiveCapaReply
            | LinkState::ReceivePsyncReply
                if silent_ms > timeout_ms =>
            {
                self.log(LogLevel::Warning, "Timeout connecting to the MASTER...");
                self.fail(now);
            }
            LinkState::Transfer if silent_ms > timeout_ms => {
                self.log(LogLevel::Warning, "Timeout receiving bulk data from MASTER... If the problem persists try to set the 'repl-timeout' parameter in redis.conf to a larger value.");
                self.fail(now);
            }
            LinkState::Connected if silent_ms > timeout_ms => {
                self.log(
                    LogLevel::Warning,
                    "MASTER timeout: no data nor PING received...",
                );
                self.lost_connected(now, false);
            }
            LinkState::Connected
                if now.mono_ms >= self.last_ack_mono_ms.saturating_add(CRON_PERIOD_MS) =>
            {
                self.last_ack_mono_ms = now.mono_ms;
                if let Some(conn) = self.conn {
                    let text = offset.to_string();
                    self.send(conn, &[b"REPLCONF", b"ACK", text.as_bytes()]);
                }
            }
            _ => {}
        }
    }

    /// When the cron wants to run next (monotonic ms); None when not a replica.
    pub fn next_deadline(&self) -> Option<u64> {
        match self.state {
            LinkState::None => None,
            LinkState::Connect => Some(self.retry_at_mono_ms),
            LinkState::Connected => Some(self.last_ack_mono_ms.saturating_add(CRON_PERIOD_MS)),
            _ => Some(self.last_io_mono_ms.saturating_add(CRON_PERIOD_MS)),
        }
    }

    /// INFO replication's replica fields (after `role:slave`), as Redis 7.0 prints
    /// them; `offset` is the applied offset, the rest is the node's config.
    pub fn info_fields(&self, now: Now, offset: u64, cfg: &InfoConfig) -> Vec<(String, String)> {
        let mut f: Vec<(String, String)> = Vec::new();
        let mut put = |k: &str, v: String| f.push((k.to_string(), v));
        let (host, port) = self
            .master
            .as_ref()
            .map_or((String::new(), 0), |m| (m.host.clone(), m.port));
        put("master_host", host);
        put("master_port", port.to_string());
        put(
            "master_link_status",
            if self.link_up() { "up" } else { "down" }.to_string(),
        );
        let last_io = if self.link_up() || self.sync_in_progress() {
            (now.mono_ms.saturating_sub(self.last_io_mono_ms) / 1000) as i64
        } else {
            -1
        };
        put("master_last_io_seconds_ago", last_io.to_string());
        put(
            "master_sync_in_progress",
            u8::from(self.sync_in_progress()).to_string(),
        );
        put(
            "slave_read_repl_offset",
            self.read_offset.max(offset).to_string(),
        );
        put("slave_repl_offset", offset.to_string());
        if self.sync_in_progress() {
            let total = self.sync_total_bytes.map_or(-1, |b| b as i64);
            put("master_sync_total_bytes", total.to_string());
            put("master_sync_read_bytes", self.sync_read_bytes.to_string());
            let left = self
                .sync_total_bytes
                .map_or(-1, |b| b.saturating_sub(self.sync_read_bytes) as i64);
            put("master_sync_left_bytes", left.to_string());
            let perc = match self.sync_total_bytes {
                Some(t) if t > 0 => self.sync_read_bytes as f64 * 100.0 / t as f64,
                _ => 0.0,
            };
            put("master_sync_perc", format!("{perc:.2}"));
            put(
                "master_sync_last_io_seconds_ago",
                (now.mono_ms.saturating_sub(self.last_io_mono_ms) / 1000).to_string(),
            );
        }
        if !self.link_up() {
            let since = self
                .down_since_mono_ms
                .map_or(-1, |t| (now.mono_ms.saturating_sub(t) / 1000) as i64);
            put("master_link_down_since_seconds", since.to_string());
        }
        put("slave_priority", cfg.priority.to_string());
        put("slave_read_only", u8::from(cfg.read_only).to_string());
        put("replica_announced", u8::from(cfg.announced).to_string());
        f
    }

    /// ROLE's reply for a replica: `["slave", host, port, state, offset]` (offset -1
    /// until the stream flows, as Redis's).
    pub fn role_reply(&self, offset: u64) -> Option<(String, u16, &'static str, i64)> {
        let m = self.master.as_ref()?;
        let off = if self.link_up() { offset as i64 } else { -1 };
        Some((m.host.clone(), m.port, self.state.role_name(), off))
    }
}

/// The replica settings INFO shows.
#[derive(Debug, Clone, Copy)]
pub struct InfoConfig {
    pub priority: i64,
    pub read_only: bool,
    pub announced: bool,
}
