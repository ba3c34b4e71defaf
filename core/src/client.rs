//! Per-connection client state: query buffer and parser position, selected database,
//! protocol version, authentication, name, reply mode, the MULTI queue and the
//! pub/sub subscriptions. Owned by the node, keyed by the driver's connection id;
//! holds no socket.

use crate::multi::MultiState;
use crate::node::ConnId;
use crate::pubsub::ClientSubs;
use crate::resp::{ReplyBuf, Request, RequestParser};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyMode {
    On,
    Off,
    /// Skip the reply of the next command only.
    SkipNext,
    /// Set while the command after CLIENT REPLY SKIP runs.
    Skipping,
}

#[derive(Debug)]
pub struct Client {
    /// CLIENT ID: unique, increasing, never reused.
    pub id: u64,
    pub conn: ConnId,
    pub peer: String,
    pub local: String,
    pub name: Option<Vec<u8>>,
    pub db: usize,
    pub out: ReplyBuf,
    pub(crate) qbuf: Vec<u8>,
    pub(crate) parser: RequestParser,
    pub(crate) request: Request,
    pub authenticated: bool,
    pub created_mono_ms: u64,
    pub last_interaction_mono_ms: u64,
    /// The last command run as (container, subcommand) names, for CLIENT LIST's
    /// `cmd=client|list`; static names so dispatch never allocates.
    pub last_command: (&'static str, Option<&'static str>),
    pub reply_mode: ReplyMode,
    pub no_evict: bool,
    pub no_touch: bool,
    pub close_after_reply: bool,
    /// The peer is on a loopback address (protected mode, `enable-debug-command local`).
    pub is_local: bool,
    /// More requests wait in the query buffer behind the one running.
    pub more_pipelined: bool,
    /// Parked by a blocking command (`crate::blocking`): its input waits meanwhile.
    pub blocked: bool,
    /// Blocking commands answer at once as if timed out (MULTI/EXEC, scripts).
    pub deny_blocking: bool,
    /// Inside MULTI (`CLIENT_MULTI`): the queued commands. Still Some while EXEC runs
    /// them, so a command can tell it runs inside a transaction (as blocking ones must).
    pub multi: Option<MultiState>,
    /// Channels, patterns and shard channels this client listens to.
    pub subs: ClientSubs,
}

impl Client {
    /// Blocking commands answer at once as if timed out: inside MULTI/EXEC, or when
    /// the client was marked so (Redis's `CLIENT_DENY_BLOCKING`).
    pub fn may_not_block(&self) -> bool {
        self.deny_blocking || self.multi.is_some()
    }

    pub fn new(
        id: u64,
        conn: ConnId,
        peer: String,
        local: String,
        now_mono_ms: u64,
        authenticated: bool,
    ) -> Self {
        Client {
            id,
            conn,
            peer,
            local,
            name: None,
            db: 0,
            out: ReplyBuf::default(),
            qbuf: Vec::new(),
            parser: RequestParser::default(),
            request: Request::default(),
            authenticated,
            created_mono_ms: now_mono_ms,
            last_interaction_mono_ms: now_mono_ms,
            last_command: ("NULL", None),
            reply_mode: ReplyMode::On,
            no_evict: false,
            no_touch: false,
            close_after_reply: false,
            more_pipelined: false,
            is_local: false,
            blocked: false,
            deny_blocking: false,
            multi: None,
            subs: ClientSubs::default(),
        }
    }

    /// Bytes this client holds in buffers, counted in `used_memory`.
    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<Client>()
            + self.qbuf.capacity()
            + self.out.bytes.capacity()
            + self.multi.as_ref().map_or(0, |m| m.queued_bytes)
    }

    /// In pub/sub mode: RESP2 restricts its commands, and it takes the pubsub output class.
    pub fn is_pubsub(&self) -> bool {
        self.subs.active()
    }

    /// The line CLIENT LIST and CLIENT INFO print for this client, in Redis 7.0's field order.
    pub fn info_line(&self, now_mono_ms: u64) -> String {
        self.info_line_with(now_mono_ms, false)
    }

    /// `info_line` with the node-held state it cannot see: `watch_dirty` is
    /// `CLIENT_DIRTY_CAS` (flag `d`: a watched key changed).
    pub fn info_line_with(&self, now_mono_ms: u64, watch_dirty: bool) -> String {
        let age = now_mono_ms.saturating_sub(self.created_mono_ms) / 1000;
        let idle = now_mono_ms.saturating_sub(self.last_interaction_mono_ms) / 1000;
        let name = self
            .name
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let mut flags = String::new();
        if self.is_pubsub() {
            flags.push('P');
        }
        if self.multi.is_some() {
            flags.push('x');
        }
        if self.blocked {
            flags.push('b');
        }
        if watch_dirty {
            flags.push('d');
        }
        if self.close_after_reply {
            flags.push('A');
        }
        if self.no_evict {
            flags.push('e');
        }
        if self.no_touch {
            flags.push('T');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let resp = match self.out.proto {
            crate::resp::Proto::Resp2 => 2,
            crate::resp::Proto::Resp3 => 3,
        };
        format!(
            "id={} addr={} laddr={} fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs={} rbp={} obl=0 oll=0 omem=0 tot-mem={} events=r cmd={} user=default redir=-1 resp={}",
            self.id,
            self.peer,
            self.local,
            self.conn,
            name,
            age,
            idle,
            flags,
            self.db,
            self.subs.channels.len(),
            self.subs.patterns.len(),
            self.subs.shard_channels.len(),
            self.multi.as_ref().map_or(-1, |m| m.count as i64),
            self.qbuf.len(),
            self.qbuf.capacity().saturating_sub(self.qbuf.len()),
            self.qbuf.capacity(),
            self.qbuf.capacity(),
            self.memory_bytes(),
            match self.last_command {
                (name, Some(sub)) => format!("{name}|{sub}"),
                (name, None) => name.to_string(),
            },
            resp
        )
    }
}
