//! Pub/sub in the simulator: the workload's subscriber sessions and publishers, the
//! framing of a connection's output once pushes can arrive (a message is not a reply;
//! one (un)subscription request gets one frame per channel), and the pub/sub checker.
//! The checker replays a subscriber registry of its own in the order the node ran the
//! commands (the world knows it), and judges every confirmation, PUBLISH count,
//! PUBSUB reply and message from it; it never reads the node's tables or counters.

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::model::{bulk, int};
use crate::model_wide::{bulk_payload, glob};
use crate::net::ConnId;
use crate::workload::{b, pick, split_array};

/// Channel names: never a key prefix another checker reads (`k`, `w`, `t`, `c`, the
/// collection prefixes), so no key-based rule mistakes a PUBLISH for a write.
const CHANNELS: [&str; 4] = ["news.1", "news.2", "pics", "orders"];
/// Patterns over them (only `*`, `?` and literals: the sim's glob).
const PATTERNS: [&str; 5] = ["news.*", "*", "p?cs", "n*2", "x*"];
const SHARD_CHANNELS: [&str; 3] = ["news.1", "orders", "alerts"];

/// The error a subscribed RESP2 connection gets for any other command (Redis 7.0.15).
fn not_allowed(name: &str) -> Vec<u8> {
    format!("-ERR Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n").into_bytes()
}

/// Coverage events the pub/sub books report.
pub mod seen {
    pub const DELIVERED: &str = "a PUBLISH reached a subscriber";
    pub const PATTERN_DELIVERED: &str = "a PUBLISH reached a pattern subscriber";
    pub const SHARD_DELIVERED: &str = "an SPUBLISH reached a shard subscriber";
    pub const REFUSED_IN_CONTEXT: &str = "a subscribed connection was refused a command";
    pub const KEYSPACE_DELIVERED: &str = "a keyspace notification reached a subscriber";
}

// ---------------------------------------------------------------------------------
// The workload.

fn some(rng: &mut ChaCha8Rng, from: &[&str], max: usize) -> Vec<Vec<u8>> {
    (0..rng.gen_range(1..=max))
        .map(|_| b(pick(rng, from)))
        .collect()
}

fn payload(next: &mut u64) -> Vec<u8> {
    *next += 1;
    format!("m{next}").into_bytes()
}

/// The pub/sub share of a client's requests: a subscriber session (subscribe, stay a
/// while with PINGs and changes, now and then a command a subscribed connection may
/// not send, then unsubscribe from everything), or one publisher request. Payloads
/// are unique in the plan (`next_payload`).
pub fn random_pubsub_requests(rng: &mut ChaCha8Rng, next_payload: &mut u64) -> Vec<Vec<Vec<u8>>> {
    if rng.gen_bool(0.4) {
        subscriber_session(rng, next_payload)
    } else {
        vec![publisher_request(rng, next_payload)]
    }
}

fn with(name: &str, args: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut req = vec![b(name)];
    req.extend(args);
    req
}

fn subscriber_session(rng: &mut ChaCha8Rng, next: &mut u64) -> Vec<Vec<Vec<u8>>> {
    let mut reqs = Vec::new();
    let kinds = rng.gen_range(1..8u8);
    if kinds & 1 != 0 {
        reqs.push(with("SUBSCRIBE", some(rng, &CHANNELS, 3)));
    }
    if kinds & 2 != 0 {
        reqs.push(with("PSUBSCRIBE", some(rng, &PATTERNS, 2)));
    }
    if kinds & 4 != 0 {
        reqs.push(with("SSUBSCRIBE", some(rng, &SHARD_CHANNELS, 2)));
    }
    for _ in 0..rng.gen_range(3..=10) {
        reqs.push(match rng.gen_range(0..14) {
            0..=5 => {
                if rng.gen_bool(0.3) {
                    vec![b("PING"), b(pick(rng, &["hi", ""]))]
                } else {
                    vec![b("PING")]
                }
            }
            6 => with("SUBSCRIBE", some(rng, &CHANNELS, 2)),
            7 => with("UNSUBSCRIBE", some(rng, &CHANNELS, 2)),
            8 => with(
                pick(rng, &["PSUBSCRIBE", "PUNSUBSCRIBE"]),
                some(rng, &PATTERNS, 2),
            ),
            9 => with(
                pick(rng, &["SSUBSCRIBE", "SUNSUBSCRIBE"]),
                some(rng, &SHARD_CHANNELS, 2),
            ),
            // Not allowed while subscribed (allowed again if the connection dropped
            // meanwhile: then the model judges it). No writes: nothing a subscriber
            // sends may wait for an fsync ahead of its pub/sub commands.
            10 => vec![b("GET"), b("x0")],
            11 => vec![b("PUBSUB"), b("NUMPAT")],
            12 => vec![b("PUBLISH"), b(pick(rng, &CHANNELS)), payload(next)],
            _ => vec![b("PING")],
        });
    }
    // Back to a plain connection: every kind, with or without names.
    let mut ends = vec![
        ("UNSUBSCRIBE", &CHANNELS[..]),
        ("PUNSUBSCRIBE", &PATTERNS[..]),
        ("SUNSUBSCRIBE", &SHARD_CHANNELS[..]),
    ];
    if rng.gen_bool(0.5) {
        ends.reverse();
    }
    for (name, names) in ends {
        if rng.gen_bool(0.2) {
            // Names first (some perhaps not subscribed), then all that are left.
            reqs.push(with(name, some(rng, names, 2)));
        }
        reqs.push(vec![b(name)]);
    }
    reqs
}

/// Keyspace-notification channels and patterns a keyspace subscriber takes: the
/// judged keys' (`k..`) keyspace channels, every event of database 0 (most name keys
/// the checker does not judge), and patterns that also meet other databases'.
const KEYSPACE_CHANNELS: [&str; 4] = [
    "__keyspace@0__:k0",
    "__keyevent@0__:set",
    "__keyevent@0__:incrby",
    "__keyevent@0__:expired",
];
const KEYSPACE_PATTERNS: [&str; 4] = [
    "__keyspace@0__:k*",
    "__key*__:*",
    "__keyevent@0__:*",
    "__keyspace@?__:k?",
];

/// A seeded `notify-keyspace-events` value: K, E or both, and every class (`A`) or a
/// subset of the ones whose events the checker judges (`g`, `$`, `x`) and two it
/// does not (`l`, `z`).
pub fn random_notify_flags(rng: &mut ChaCha8Rng) -> String {
    let mut flags = pick(rng, &["K", "E", "KE", "KE"]).to_string();
    if rng.gen_bool(0.5) {
        flags.push('A');
        return flags;
    }
    let mut any = false;
    for class in ["g", "$", "x", "l", "z"] {
        if rng.gen_bool(0.5) {
            flags.push_str(class);
            any = true;
        }
    }
    if !any {
        flags.push('$');
    }
    flags
}

/// A keyspace subscriber: (P)SUBSCRIBE to keyspace channels and patterns, stay a
/// while (PINGs: its pushes land among their replies), then unsubscribe from all.
pub fn keyspace_subscriber_session(rng: &mut ChaCha8Rng) -> Vec<Vec<Vec<u8>>> {
    let mut reqs = Vec::new();
    let kinds = rng.gen_range(1..4u8);
    if kinds & 1 != 0 {
        reqs.push(with("PSUBSCRIBE", some(rng, &KEYSPACE_PATTERNS, 2)));
    }
    if kinds & 2 != 0 {
        reqs.push(with("SUBSCRIBE", some(rng, &KEYSPACE_CHANNELS, 2)));
    }
    for _ in 0..rng.gen_range(4..=16) {
        reqs.push(vec![b("PING")]);
    }
    reqs.push(vec![b("UNSUBSCRIBE")]);
    reqs.push(vec![b("PUNSUBSCRIBE")]);
    reqs
}

fn publisher_request(rng: &mut ChaCha8Rng, next: &mut u64) -> Vec<Vec<u8>> {
    match rng.gen_range(0..14) {
        0..=5 => {
            // Now and then a channel only a pattern may match.
            let ch = if rng.gen_bool(0.15) {
                b("xray")
            } else {
                b(pick(rng, &CHANNELS))
            };
            vec![b("PUBLISH"), ch, payload(next)]
        }
        6..=7 => vec![b("SPUBLISH"), b(pick(rng, &SHARD_CHANNELS)), payload(next)],
        8 => {
            let mut r = vec![b("PUBSUB"), b("CHANNELS")];
            if rng.gen_bool(0.5) {
                r.push(b(pick(rng, &PATTERNS)));
            }
            r
        }
        9 => {
            let mut r = vec![b("PUBSUB"), b("NUMSUB")];
            r.extend((0..rng.gen_range(0..=3)).map(|_| b(pick(rng, &CHANNELS))));
            r
        }
        10 => vec![b("PUBSUB"), b("NUMPAT")],
        11 => {
            let mut r = vec![b("PUBSUB"), b("SHARDCHANNELS")];
            if rng.gen_bool(0.5) {
                r.push(b(pick(rng, &PATTERNS)));
            }
            r
        }
        _ => {
            let mut r = vec![b("PUBSUB"), b("SHARDNUMSUB")];
            r.extend((0..rng.gen_range(0..=2)).map(|_| b(pick(rng, &SHARD_CHANNELS))));
            r
        }
    }
}

/// Commands that belong to pub/sub (a batch that starts with another command stops
/// before one of these, so nothing the node holds for an fsync is ever ahead of a
/// pub/sub command on its connection: its reply comes out in the step that ran it).
pub fn is_pubsub(req: &[Vec<u8>]) -> bool {
    req.first().is_some_and(|n| {
        [
            "SUBSCRIBE",
            "PSUBSCRIBE",
            "SSUBSCRIBE",
            "UNSUBSCRIBE",
            "PUNSUBSCRIBE",
            "SUNSUBSCRIBE",
            "PUBLISH",
            "SPUBLISH",
            "PUBSUB",
        ]
        .iter()
        .any(|c| n.eq_ignore_ascii_case(c.as_bytes()))
    })
}

// ---------------------------------------------------------------------------------
// Framing.

/// The three kinds of subscription, as indices.
const CHANNEL: usize = 0;
const PATTERN: usize = 1;
const SHARD: usize = 2;

/// (kind, subscribes?) of a (un)subscription command.
fn sub_command(req: &[Vec<u8>]) -> Option<(usize, bool)> {
    let name = req.first()?;
    [
        ("SUBSCRIBE", CHANNEL, true),
        ("PSUBSCRIBE", PATTERN, true),
        ("SSUBSCRIBE", SHARD, true),
        ("UNSUBSCRIBE", CHANNEL, false),
        ("PUNSUBSCRIBE", PATTERN, false),
        ("SUNSUBSCRIBE", SHARD, false),
    ]
    .iter()
    .find(|(n, _, _)| name.eq_ignore_ascii_case(n.as_bytes()))
    .map(|&(_, kind, sub)| (kind, sub))
}

/// A message push in RESP2: `message`, `pmessage` or `smessage`. The workload never
/// stores these words, so no reply to a data command looks like one.
pub fn is_push(frame: &[u8]) -> bool {
    frame.starts_with(b"*3\r\n$7\r\nmessage\r\n")
        || frame.starts_with(b"*4\r\n$8\r\npmessage\r\n")
        || frame.starts_with(b"*3\r\n$8\r\nsmessage\r\n")
}

/// The channel named by a confirmation frame (`[kind, name|nil, count]`): Some(None)
/// for a nil name.
fn confirmation_name(frame: &[u8]) -> Option<Option<Vec<u8>>> {
    let items = split_array(frame)?;
    let name = items.get(1)?;
    Some(bulk_payload(name))
}

/// One end's view of a connection's output (the node's side as the world frames it,
/// or the client's): what the confirmations say it is subscribed to, and the frames
/// of a reply not complete yet. Both ends see the same bytes in the same order, so
/// they group them the same way.
#[derive(Debug, Default)]
pub struct SubFraming {
    sets: [BTreeSet<Vec<u8>>; 3],
    partial: Vec<u8>,
    frames: usize,
}

/// What one frame is.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    /// A message: no request's reply.
    Push(Vec<u8>),
    /// The whole reply of the oldest request awaiting one.
    Reply(Vec<u8>),
    /// Part of that reply: more frames follow.
    Partial,
}

impl SubFraming {
    /// Sorts one frame; `head` is the oldest request awaiting a reply.
    pub fn frame(&mut self, head: Option<&[Vec<u8>]>, frame: Vec<u8>) -> Framed {
        if self.partial.is_empty() && is_push(&frame) {
            return Framed::Push(frame);
        }
        let Some((req, (kind, subscribes))) = head.and_then(|r| Some((r, sub_command(r)?))) else {
            return Framed::Reply(frame);
        };
        if self.partial.is_empty() && frame.first() == Some(&b'-') {
            return Framed::Reply(frame);
        }
        if let Some(Some(name)) = confirmation_name(&frame) {
            if let Some(set) = self.sets.get_mut(kind) {
                if subscribes {
                    set.insert(name);
                } else {
                    set.remove(&name);
                }
            }
        }
        self.partial.extend_from_slice(&frame);
        self.frames += 1;
        let named = req.len().saturating_sub(1);
        let done = if named > 0 {
            self.frames >= named
        } else {
            // Without names: one frame per subscription of that kind, or one nil
            // frame when there was none.
            subscribes || self.sets.get(kind).is_none_or(BTreeSet::is_empty)
        };
        if done {
            self.frames = 0;
            Framed::Reply(std::mem::take(&mut self.partial))
        } else {
            Framed::Partial
        }
    }
}

// ---------------------------------------------------------------------------------
// The checker.

/// One connection's subscriptions in the reference registry.
#[derive(Debug, Default, Clone)]
struct Subs {
    sets: [BTreeSet<Vec<u8>>; 3],
}

impl Subs {
    /// Redis's `clientSubscriptionsCount`: channels and patterns.
    fn count(&self) -> usize {
        self.sets[CHANNEL].len() + self.sets[PATTERN].len()
    }

    fn count_of(&self, kind: usize) -> usize {
        if kind == SHARD {
            self.sets[SHARD].len()
        } else {
            self.count()
        }
    }

    fn active(&self) -> bool {
        self.sets.iter().any(|s| !s.is_empty())
    }
}

/// A message on one connection's output: which reply it came after (the count of
/// the connection's replies before it) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Push {
    replies_before: usize,
    frame: Vec<u8>,
}

/// A violation: its kind (the signature) and the text.
pub type Violation = (&'static str, String);

/// One host's pub/sub books.
#[derive(Debug, Default)]
pub struct PubSubBook {
    /// The reference registry, replayed in the order the node ran the commands.
    subs: BTreeMap<ConnId, Subs>,
    /// Replies judged on each connection that ever subscribed (where a push sits).
    replies: BTreeMap<ConnId, usize>,
    /// Messages each connection must get, per PUBLISH that ran, in run order.
    expected: BTreeMap<ConnId, Vec<(u64, Push)>>,
    /// Messages the node sent on each connection, in order.
    observed: BTreeMap<ConnId, Vec<Push>>,
    /// Connections that subscribed while the node loaded its files: they may get
    /// the keyspace notifications of the AOF replay's writes (keel, like Redis,
    /// runs SUBSCRIBE while loading), which come before any a judged write owes;
    /// those are not judged (chaos 0x247, 0xc5).
    loading_subs: BTreeSet<ConnId>,
    /// Messages each client framed on its connection (a prefix of what the node sent).
    client_seen: BTreeMap<ConnId, usize>,
    /// The run of the PUBLISH/SPUBLISH that sent each payload.
    published: BTreeMap<Vec<u8>, u64>,
    /// `notify-keyspace-events` as the scenario set it (None: off).
    notify: Option<NotifyFlags>,
    /// Keyspace notifications each connection must get for the judged keys' writes,
    /// in run order (the `expired` events excepted: `expirable`).
    keyspace_expected: BTreeMap<ConnId, Vec<(u64, Push)>>,
    /// Judged keys, each with the number of writes that ran and gave it a TTL: an
    /// `expired` event may name only such a key, at most once per such write.
    expirable: BTreeMap<Vec<u8>, usize>,
    /// Judged keys with a write the node ran whose reply nobody judged (its
    /// connection closed first), each with how many replies had been judged when
    /// the node was handed that write: the key's events owed by writes judged by
    /// then must still come first, in place; after them the key's events are not
    /// judged (the lost write's outcome, and where its events sit, are unknown:
    /// chaos 0x53f, 0x5d9).
    unsure: BTreeMap<Vec<u8>, u64>,
    /// Payloads of PUBLISH/SPUBLISH requests the node ran but whose replies were
    /// never judged (their connection closed, or the node crashed, first): their
    /// messages are the node's business, not judged (chaos 0x394e).
    unanswered_payloads: BTreeSet<Vec<u8>>,
    pub seen: BTreeSet<&'static str>,
}

/// The classes of `notify-keyspace-events` the checker reads, parsed by the checker
/// itself (Redis's `keyspaceEventsStringToFlags`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifyFlags {
    keyspace: bool,
    keyevent: bool,
    generic: bool,
    string: bool,
    expired: bool,
}

impl NotifyFlags {
    pub fn parse(flags: &str) -> NotifyFlags {
        let mut f = NotifyFlags::default();
        for c in flags.chars() {
            match c {
                'K' => f.keyspace = true,
                'E' => f.keyevent = true,
                'g' => f.generic = true,
                '$' => f.string = true,
                'x' => f.expired = true,
                'A' => {
                    f.generic = true;
                    f.string = true;
                    f.expired = true;
                }
                _ => {}
            }
        }
        f
    }
}

/// Whether the keyspace checker judges the events of `key`: the plain string keys
/// (`k..`), which only the original workload's GET/SET [PX]/INCR/INCRBY/DEL/APPEND/
/// EXISTS touch. The wide workload's ~150 commands on other keys are left out: their
/// event names (and the order of several per command) are not modelled, so their
/// events are neither required nor judged.
fn judged_key(key: &[u8]) -> bool {
    key.first() == Some(&b'k')
}

/// (key, event) of a keyspace notification message (`__keyspace@<db>__:<key>` with
/// the event as payload, or `__keyevent@<db>__:<event>` with the key), with its
/// channel; None for any other message.
fn keyspace_event(frame: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let items = split_array(frame)?;
    let channel = bulk_payload(items.get(items.len().checked_sub(2)?)?)?;
    let payload = bulk_payload(items.last()?)?;
    let (space, rest) = if let Some(rest) = channel.strip_prefix(b"__keyspace@") {
        (true, rest)
    } else {
        (false, channel.strip_prefix(b"__keyevent@")?)
    };
    let at = rest.windows(3).position(|w| w == b"__:")?;
    let name = rest.get(at + 3..)?.to_vec();
    Some(if space {
        (name, payload)
    } else {
        (payload, name)
    })
}

fn message_frame(kind: &str, channel: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = b"*3\r\n".to_vec();
    out.extend(bulk(kind.as_bytes()));
    out.extend(bulk(channel));
    out.extend(bulk(payload));
    out
}

fn pmessage_frame(pattern: &[u8], channel: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = b"*4\r\n".to_vec();
    out.extend(bulk(b"pmessage"));
    out.extend(bulk(pattern));
    out.extend(bulk(channel));
    out.extend(bulk(payload));
    out
}

fn confirmation(kind: &str, name: Option<&[u8]>, count: usize) -> Vec<u8> {
    let mut out = b"*3\r\n".to_vec();
    out.extend(bulk(kind.as_bytes()));
    match name {
        Some(n) => out.extend(bulk(n)),
        None => out.extend_from_slice(b"$-1\r\n"),
    }
    out.extend(int(count as i64));
    out
}

/// The frames of a reply of several.
fn frames_of(reply: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    let mut rest = reply;
    while !rest.is_empty() {
        let len = keel_core::resp::frame_len(rest).ok()??;
        out.push(rest.get(..len)?);
        rest = rest.get(len..)?;
    }
    Some(out)
}

fn show(bytes: &[u8]) -> String {
    format!("{:?}", String::from_utf8_lossy(bytes))
}

impl PubSubBook {
    /// Whether the pub/sub checker judges this request (the model does not): a
    /// pub/sub command, or anything on a subscribed connection.
    pub fn takes(&self, conn: ConnId, req: &[Vec<u8>]) -> bool {
        is_pubsub(req) || self.subs.get(&conn).is_some_and(Subs::active)
    }

    /// A reply was judged on `conn` (by whichever checker).
    pub fn note_reply(&mut self, conn: ConnId) {
        if let Some(n) = self.replies.get_mut(&conn) {
            *n += 1;
        }
    }

    /// The node dropped the connection: its subscriptions go with it.
    pub fn conn_closed(&mut self, conn: ConnId) {
        self.subs.remove(&conn);
    }

    /// The node restarted: nobody is subscribed.
    pub fn node_restarted(&mut self) {
        self.subs.clear();
    }

    /// `conn` subscribed while the node was loading its files.
    pub fn subscribed_while_loading(&mut self, conn: ConnId) {
        self.loading_subs.insert(conn);
    }

    /// The scenario's `notify-keyspace-events`.
    pub fn set_notify(&mut self, flags: &str) {
        self.notify = Some(NotifyFlags::parse(flags));
    }

    /// A request the node ran in database 0 with `reply`: the keyspace notifications
    /// Redis 7.0 sends for it (asked of redis-server 7.0.15 with `KEA`), when it wrote
    /// a judged key, go to every subscriber the registry holds, in run order.
    pub fn keyspace_events(&mut self, run: u64, req: &[Vec<u8>], reply: &[u8]) {
        let Some(flags) = self.notify else {
            return;
        };
        let Some(key) = req.get(1).filter(|k| judged_key(k)) else {
            return;
        };
        let name = String::from_utf8_lossy(req.first().map(Vec::as_slice).unwrap_or_default())
            .to_ascii_uppercase();
        let int = reply.first() == Some(&b':');
        let events: &[(&str, bool)] = match (name.as_str(), req.len()) {
            ("SET", 3) if reply == b"+OK\r\n" => &[("set", flags.string)],
            ("SET", 5) if reply == b"+OK\r\n" => {
                *self.expirable.entry(key.clone()).or_default() += 1;
                &[("set", flags.string), ("expire", flags.generic)]
            }
            ("INCR", 2) | ("INCRBY", 3) if int => &[("incrby", flags.string)],
            ("APPEND", 3) if int => &[("append", flags.string)],
            ("DEL", 2) if reply == b":1\r\n" => &[("del", flags.generic)],
            _ => &[],
        };
        for &(event, class) in events {
            if !class {
                continue;
            }
            if flags.keyspace {
                let mut channel = b"__keyspace@0__:".to_vec();
                channel.extend_from_slice(key);
                self.deliver_keyspace(run, &channel, event.as_bytes());
            }
            if flags.keyevent {
                let channel = format!("__keyevent@0__:{event}").into_bytes();
                self.deliver_keyspace(run, &channel, key);
            }
        }
    }

    /// The node ran `req` (handed it when `judged_before` replies had been judged)
    /// but its reply was lost with its connection: when it may have written a
    /// judged key, that key's later events are unsure (`unsure`), and a `SET .. PX`
    /// may have given the key a TTL.
    pub fn lost_write(&mut self, judged_before: u64, req: &[Vec<u8>]) {
        if self.notify.is_none() {
            return;
        }
        let Some(key) = req.get(1).filter(|k| judged_key(k)) else {
            return;
        };
        let cut = self.unsure.entry(key.clone()).or_insert(judged_before);
        *cut = (*cut).min(judged_before);
        let set_px = req.len() == 5 && req.first().is_some_and(|n| n.eq_ignore_ascii_case(b"SET"));
        if set_px {
            *self.expirable.entry(key.clone()).or_default() += 1;
        }
    }

    /// A PUBLISH or SPUBLISH the node ran whose reply was never judged.
    pub fn unanswered_publish(&mut self, req: &[Vec<u8>]) {
        let name = req.first().map(|n| n.to_ascii_uppercase());
        if matches!(name.as_deref(), Some(b"PUBLISH" | b"SPUBLISH")) {
            if let Some(payload) = req.get(2) {
                self.unanswered_payloads.insert(payload.clone());
            }
        }
    }

    /// `want` and `got` without the events of the unsure keys' writes that ran
    /// after their lost write: of each unsure key, `want` keeps the events of writes
    /// judged before the lost one and `got` as many of that key's first events.
    fn without_unsure<'a>(
        &self,
        want: &[(u64, Push)],
        got: &[&'a Push],
    ) -> (Vec<(u64, Push)>, Vec<&'a Push>) {
        let key_of = |p: &Push| keyspace_event(&p.frame).map(|(k, _)| k);
        let mut owed: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
        let want: Vec<(u64, Push)> = want
            .iter()
            .filter(|(run, w)| {
                let Some(key) = key_of(w) else {
                    return true;
                };
                match self.unsure.get(&key) {
                    Some(cut) if run > cut => false,
                    Some(_) => {
                        *owed.entry(key).or_default() += 1;
                        true
                    }
                    None => true,
                }
            })
            .cloned()
            .collect();
        let got: Vec<&Push> = got
            .iter()
            .filter(|g| {
                let Some(key) = key_of(g) else {
                    return true;
                };
                if !self.unsure.contains_key(&key) {
                    return true;
                }
                match owed.get_mut(&key) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        true
                    }
                    _ => false,
                }
            })
            .copied()
            .collect();
        (want, got)
    }

    fn deliver_keyspace(&mut self, run: u64, channel: &[u8], payload: &[u8]) {
        for (&conn, subs) in &self.subs {
            let mut frames = Vec::new();
            if subs.sets[CHANNEL].contains(channel) {
                frames.push(message_frame("message", channel, payload));
            }
            for pattern in &subs.sets[PATTERN] {
                if glob(pattern, channel) {
                    frames.push(pmessage_frame(pattern, channel, payload));
                }
            }
            if !frames.is_empty() {
                self.seen.insert(seen::KEYSPACE_DELIVERED);
            }
            let replies_before = self.replies.get(&conn).copied().unwrap_or(0);
            self.keyspace_expected
                .entry(conn)
                .or_default()
                .extend(frames.into_iter().map(|frame| {
                    (
                        run,
                        Push {
                            replies_before,
                            frame,
                        },
                    )
                }));
        }
    }

    /// The keyspace notifications `conn` got for the judged keys: exactly the ones
    /// owed, in run order and at their places among its replies; `expired` events
    /// (the node's own timing: lazy or active expiry) only for keys a write gave a
    /// TTL, each at most once per such write.
    fn keyspace_verdict(&self, conn: ConnId, observed: &[&Push]) -> Result<(), Violation> {
        let mut expired: BTreeMap<&[u8], usize> = BTreeMap::new();
        let mut got: Vec<&Push> = Vec::new();
        for push in observed {
            let Some((key, event)) = keyspace_event(&push.frame) else {
                continue;
            };
            if event != b"expired" {
                got.push(push);
                continue;
            }
            let n = expired.entry(&push.frame).or_default();
            *n += 1;
            if *n > self.expirable.get(&key).copied().unwrap_or(0) {
                return Err((
                    "keyspace-expired-unexpected",
                    format!(
                        "conn {conn} got {} (#{n}) but only {} write(s) gave {} a TTL",
                        show(&push.frame),
                        self.expirable.get(&key).copied().unwrap_or(0),
                        show(&key)
                    ),
                ));
            }
        }
        let want = self
            .keyspace_expected
            .get(&conn)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if self.loading_subs.contains(&conn) {
            // The replay's notifications come first: the owed ones must be what
            // follows them, exactly (the replay may have sent the same frames). When
            // no split works, skip up to the first owed one for the message.
            let owed_follow = (0..=got.len()).find(|&replay| {
                got.get(replay..)
                    .is_some_and(|rest| self.keyspace_order(conn, want, rest).is_ok())
            });
            let replay = owed_follow.unwrap_or_else(|| {
                got.iter()
                    .position(|g| want.first().is_some_and(|(_, w)| w == *g))
                    .unwrap_or(got.len())
            });
            got.drain(..replay);
        }
        self.keyspace_order(conn, want, &got)
    }

    /// The owed keyspace notifications `want` against the ones `got` (no `expired`
    /// events): equal, in order and in place, but for the unsure keys' later ones.
    fn keyspace_order(
        &self,
        conn: ConnId,
        want: &[(u64, Push)],
        got: &[&Push],
    ) -> Result<(), Violation> {
        let (want, got) = self.without_unsure(want, got);
        for k in 0..got.len().max(want.len()) {
            match (want.get(k), got.get(k)) {
                (Some((_, w)), Some(g)) if w == *g => {}
                (Some((run, w)), Some(g)) if w.frame == g.frame => {
                    return Err((
                        "keyspace-event-out-of-place",
                        format!(
                            "conn {conn}: {} (run {run}) came after its reply #{} but belongs after #{}",
                            show(&w.frame),
                            g.replies_before,
                            w.replies_before
                        ),
                    ))
                }
                (Some((run, w)), g) => {
                    return Err((
                        if g.is_some() {
                            "keyspace-event-wrong"
                        } else {
                            "keyspace-event-lost"
                        },
                        format!(
                            "conn {conn}: keyspace event #{k} should be {} (the write run {run}) but the node sent {}",
                            show(&w.frame),
                            g.map_or("nothing".to_string(), |g| show(&g.frame))
                        ),
                    ))
                }
                (None, Some(g)) => {
                    return Err((
                        "keyspace-event-unexpected",
                        format!(
                            "conn {conn} got {} (keyspace event #{k}) though no write that ran owes it",
                            show(&g.frame)
                        ),
                    ))
                }
                (None, None) => {}
            }
        }
        Ok(())
    }

    /// The node sent a message on `conn`.
    pub fn observe_push(&mut self, conn: ConnId, frame: Vec<u8>) {
        let replies_before = self.replies.get(&conn).copied().unwrap_or(0);
        self.observed.entry(conn).or_default().push(Push {
            replies_before,
            frame,
        });
    }

    /// The client framed a message on `conn`: it must be the next one the node sent.
    pub fn client_push(&mut self, conn: ConnId, frame: &[u8]) -> Result<(), Violation> {
        let k = self.client_seen.entry(conn).or_default();
        let index = *k;
        *k += 1;
        let sent = self
            .observed
            .get(&conn)
            .and_then(|v| v.get(index))
            .map(|p| p.frame.as_slice());
        if sent == Some(frame) {
            Ok(())
        } else {
            Err((
                "client-saw-other-message",
                format!(
                    "conn {conn}: the client framed message #{index} {} but the node sent {:?}",
                    show(frame),
                    sent.map(String::from_utf8_lossy)
                ),
            ))
        }
    }

    /// Judges the reply to one request the node ran (`run`: the world's run order).
    pub fn judge(
        &mut self,
        conn: ConnId,
        run: u64,
        req: &[Vec<u8>],
        reply: &[u8],
    ) -> Result<(), Violation> {
        let name = req
            .first()
            .map(|n| String::from_utf8_lossy(n).to_ascii_uppercase())
            .unwrap_or_default();
        let subscribed = self.subs.get(&conn).is_some_and(Subs::active);
        let allowed = matches!(
            name.as_str(),
            "SUBSCRIBE"
                | "PSUBSCRIBE"
                | "SSUBSCRIBE"
                | "UNSUBSCRIBE"
                | "PUNSUBSCRIBE"
                | "SUNSUBSCRIBE"
                | "PING"
                | "QUIT"
                | "RESET"
        );
        let mismatch = |expected: &[u8]| {
            Err((
                "reply",
                format!(
                    "conn {conn}: {} -> {} but the pub/sub books expect {}",
                    show(&req.join(&b' ')),
                    show(reply),
                    show(expected)
                ),
            ))
        };
        if subscribed && !allowed {
            let mut shown = name.to_ascii_lowercase();
            if name == "PUBSUB" {
                if let Some(sub) = req.get(1) {
                    shown = format!(
                        "pubsub|{}",
                        String::from_utf8_lossy(sub).to_ascii_lowercase()
                    );
                }
            }
            let expected = not_allowed(&shown);
            self.seen.insert(seen::REFUSED_IN_CONTEXT);
            return if reply == expected {
                Ok(())
            } else {
                mismatch(&expected)
            };
        }
        let expected = match name.as_str() {
            "PING" => {
                let mut out = b"*2\r\n".to_vec();
                out.extend(bulk(b"pong"));
                out.extend(bulk(req.get(1).map(Vec::as_slice).unwrap_or_default()));
                out
            }
            "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE" | "UNSUBSCRIBE" | "PUNSUBSCRIBE"
            | "SUNSUBSCRIBE" => return self.judge_subscription(conn, &name, req, reply),
            "PUBLISH" | "SPUBLISH" => self.publish(run, name == "SPUBLISH", req),
            "PUBSUB" => self.introspect(req, reply),
            _ => return Ok(()),
        };
        if reply == expected {
            Ok(())
        } else {
            mismatch(&expected)
        }
    }

    fn judge_subscription(
        &mut self,
        conn: ConnId,
        name: &str,
        req: &[Vec<u8>],
        reply: &[u8],
    ) -> Result<(), Violation> {
        let Some((kind, subscribes)) = sub_command(req) else {
            return Ok(());
        };
        let word = name.to_ascii_lowercase();
        let bad = |why: String| Err(("confirmation", format!("conn {conn}: {why}")));
        self.replies.entry(conn).or_default();
        let subs = self.subs.entry(conn).or_default();
        let names = req.get(1..).unwrap_or_default();
        if !names.is_empty() {
            let mut expected = Vec::new();
            for n in names {
                if subscribes {
                    subs.sets[kind].insert(n.clone());
                } else {
                    subs.sets[kind].remove(n);
                }
                expected.extend(confirmation(&word, Some(n), subs.count_of(kind)));
            }
            return if reply == expected {
                Ok(())
            } else {
                bad(format!(
                    "{} -> {} but the books expect {}",
                    show(&req.join(&b' ')),
                    show(reply),
                    show(&expected)
                ))
            };
        }
        if subscribes {
            // No names: an arity error, not sent by the workload.
            return Ok(());
        }
        // Without names: one frame per subscription of that kind, in the node's
        // order (a dict's), each count one lower; or one nil frame.
        if subs.sets[kind].is_empty() {
            let expected = confirmation(&word, None, subs.count_of(kind));
            return if reply == expected {
                Ok(())
            } else {
                bad(format!(
                    "{word} -> {} but the books expect {}",
                    show(reply),
                    show(&expected)
                ))
            };
        }
        let Some(frames) = frames_of(reply) else {
            return bad(format!("{word} -> {} does not frame", show(reply)));
        };
        for frame in frames {
            let named = confirmation_name(frame).flatten();
            let Some(n) = named.filter(|n| subs.sets[kind].contains(n)) else {
                return bad(format!(
                    "{word} confirmed {} though the connection is subscribed to {:?}",
                    show(frame),
                    subs.sets[kind]
                ));
            };
            subs.sets[kind].remove(&n);
            let expected = confirmation(&word, Some(&n), subs.count_of(kind));
            if frame != expected {
                return bad(format!(
                    "{word} -> {} but the books expect {}",
                    show(frame),
                    show(&expected)
                ));
            }
        }
        if subs.sets[kind].is_empty() {
            Ok(())
        } else {
            bad(format!("{word} left {:?} subscribed", subs.sets[kind]))
        }
    }

    /// PUBLISH/SPUBLISH: the receivers the registry holds, each owed its messages.
    fn publish(&mut self, run: u64, shard: bool, req: &[Vec<u8>]) -> Vec<u8> {
        let (Some(channel), Some(payload), 3) = (req.get(1), req.get(2), req.len()) else {
            let name = if shard { "spublish" } else { "publish" };
            return format!("-ERR wrong number of arguments for '{name}' command\r\n").into_bytes();
        };
        self.published.insert(payload.clone(), run);
        let mut receivers = 0usize;
        for (&conn, subs) in &self.subs {
            let mut frames = Vec::new();
            if shard {
                if subs.sets[SHARD].contains(channel) {
                    frames.push(message_frame("smessage", channel, payload));
                    self.seen.insert(seen::SHARD_DELIVERED);
                }
            } else {
                if subs.sets[CHANNEL].contains(channel) {
                    frames.push(message_frame("message", channel, payload));
                    self.seen.insert(seen::DELIVERED);
                }
                for pattern in &subs.sets[PATTERN] {
                    if glob(pattern, channel) {
                        frames.push(pmessage_frame(pattern, channel, payload));
                        self.seen.insert(seen::PATTERN_DELIVERED);
                    }
                }
            }
            receivers += frames.len();
            let replies_before = self.replies.get(&conn).copied().unwrap_or(0);
            let owed = self.expected.entry(conn).or_default();
            owed.extend(frames.into_iter().map(|frame| {
                (
                    run,
                    Push {
                        replies_before,
                        frame,
                    },
                )
            }));
        }
        int(receivers as i64)
    }

    /// PUBSUB's subcommands, from the registry. Lists are in the node's order (a
    /// dict's): the reply is accepted when it holds exactly the expected names.
    fn introspect(&self, req: &[Vec<u8>], reply: &[u8]) -> Vec<u8> {
        let sub = req
            .get(1)
            .map(|s| String::from_utf8_lossy(s).to_ascii_uppercase())
            .unwrap_or_default();
        let names = |kind: usize| -> BTreeMap<&Vec<u8>, usize> {
            let mut out = BTreeMap::new();
            for subs in self.subs.values() {
                for n in &subs.sets[kind] {
                    *out.entry(n).or_default() += 1;
                }
            }
            out
        };
        match (sub.as_str(), req.len()) {
            ("CHANNELS" | "SHARDCHANNELS", 2 | 3) => {
                let kind = if sub == "CHANNELS" { CHANNEL } else { SHARD };
                let mut want: Vec<&Vec<u8>> = names(kind)
                    .into_keys()
                    .filter(|n| req.get(2).is_none_or(|p| glob(p, n)))
                    .collect();
                // The node's order when it holds the same names; else sorted.
                let got: Option<Vec<Vec<u8>>> = split_array(reply)
                    .map(|items| items.iter().filter_map(|i| bulk_payload(i)).collect());
                if let Some(got) = got {
                    let mut sorted = got.clone();
                    sorted.sort();
                    let mut w: Vec<Vec<u8>> = want.iter().map(|n| (*n).clone()).collect();
                    w.sort();
                    if sorted == w {
                        return crate::model_wide::array(&got);
                    }
                }
                want.sort();
                let owned: Vec<Vec<u8>> = want.into_iter().cloned().collect();
                crate::model_wide::array(&owned)
            }
            ("NUMSUB" | "SHARDNUMSUB", _) => {
                let kind = if sub == "NUMSUB" { CHANNEL } else { SHARD };
                let counts = names(kind);
                let asked = req.get(2..).unwrap_or_default();
                let mut out = format!("*{}\r\n", asked.len() * 2).into_bytes();
                for n in asked {
                    out.extend(bulk(n));
                    out.extend(int(counts.get(n).copied().unwrap_or(0) as i64));
                }
                out
            }
            ("NUMPAT", 2) => int(names(PATTERN).len() as i64),
            _ => reply.to_vec(),
        }
    }

    /// At the end of a run: every connection got exactly the messages it was owed,
    /// at their places among its replies, and each in publish order.
    pub fn verdict(&self) -> Result<(), Violation> {
        let conns: BTreeSet<ConnId> = self
            .expected
            .keys()
            .chain(self.observed.keys())
            .copied()
            .collect();
        let conns: BTreeSet<ConnId> = conns
            .into_iter()
            .chain(self.keyspace_expected.keys().copied())
            .collect();
        for conn in conns {
            // Keyspace notifications of the judged keys apart; of the others, not
            // judged (`judged_key`).
            let (keyspace, published): (Vec<&Push>, Vec<&Push>) = self
                .observed
                .get(&conn)
                .into_iter()
                .flatten()
                .partition(|p| keyspace_event(&p.frame).is_some());
            let judged: Vec<&Push> = keyspace
                .into_iter()
                .filter(|p| keyspace_event(&p.frame).is_some_and(|(k, _)| judged_key(&k)))
                .collect();
            self.keyspace_verdict(conn, &judged)?;
            let mut got = Vec::new();
            let mut last_run = 0u64;
            for push in published {
                let payload = split_array(&push.frame)
                    .and_then(|items| items.last().and_then(|p| bulk_payload(p)));
                if payload
                    .as_ref()
                    .is_some_and(|p| self.unanswered_payloads.contains(p))
                {
                    continue;
                }
                let Some(run) = payload.as_ref().and_then(|p| self.published.get(p)) else {
                    return Err((
                        "message-never-published",
                        format!("conn {conn} got {} that no PUBLISH sent", show(&push.frame)),
                    ));
                };
                if *run < last_run {
                    return Err((
                        "message-reordered",
                        format!(
                            "conn {conn} got {} (published at run {run}) after a message published at run {last_run}",
                            show(&push.frame)
                        ),
                    ));
                }
                last_run = *run;
                got.push((*run, push.clone()));
            }
            let mut want = self.expected.get(&conn).cloned().unwrap_or_default();
            got.sort();
            want.sort();
            for k in 0..got.len().max(want.len()) {
                match (want.get(k), got.get(k)) {
                    (Some(w), Some(g)) if w == g => continue,
                    (Some((run, w)), Some((_, g))) if w.frame == g.frame => {
                        return Err((
                            "message-out-of-place",
                            format!(
                                "conn {conn}: {} (run {run}) came after its reply #{} but belongs after #{}",
                                show(&w.frame),
                                g.replies_before,
                                w.replies_before
                            ),
                        ))
                    }
                    (Some((run, w)), _) => {
                        return Err((
                            "message-lost",
                            format!(
                                "conn {conn} was subscribed when run {run} published {} but never got it",
                                show(&w.frame)
                            ),
                        ))
                    }
                    (None, Some((run, g))) => {
                        return Err((
                            "message-unexpected",
                            format!(
                                "conn {conn} got {} (run {run}) though it was not subscribed to it then",
                                show(&g.frame)
                            ),
                        ))
                    }
                    (None, None) => {}
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Vec<Vec<u8>> {
        s.split(' ').map(|a| a.as_bytes().to_vec()).collect()
    }

    fn conf(kind: &str, name: Option<&str>, n: usize) -> Vec<u8> {
        confirmation(kind, name.map(str::as_bytes), n)
    }

    #[test]
    fn framing_groups_confirmations_and_sets_pushes_apart() {
        let mut f = SubFraming::default();
        let sub = req("SUBSCRIBE a b");
        assert_eq!(
            f.frame(Some(&sub), conf("subscribe", Some("a"), 1)),
            Framed::Partial
        );
        let push = message_frame("message", b"a", b"m1");
        // A push between two replies, not inside one (a command runs whole).
        let whole = f.frame(Some(&sub), conf("subscribe", Some("b"), 2));
        let mut both = conf("subscribe", Some("a"), 1);
        both.extend(conf("subscribe", Some("b"), 2));
        assert_eq!(whole, Framed::Reply(both));
        assert_eq!(f.frame(None, push.clone()), Framed::Push(push));
        // UNSUBSCRIBE without names: as many frames as channels, in any order.
        let unsub = req("UNSUBSCRIBE");
        assert_eq!(
            f.frame(Some(&unsub), conf("unsubscribe", Some("b"), 1)),
            Framed::Partial
        );
        assert!(matches!(
            f.frame(Some(&unsub), conf("unsubscribe", Some("a"), 0)),
            Framed::Reply(_)
        ));
        // None left: one nil frame.
        let nil = conf("unsubscribe", None, 0);
        assert_eq!(f.frame(Some(&unsub), nil.clone()), Framed::Reply(nil));
        let get = req("GET x0");
        assert_eq!(
            f.frame(Some(&get), b"$-1\r\n".to_vec()),
            Framed::Reply(b"$-1\r\n".to_vec())
        );
    }

    /// The replies asked of redis-server 7.0.15 (see the notes): counts, nil frames,
    /// the context error, PUBLISH counting pattern receivers once each.
    #[test]
    fn books_judge_what_redis_replies() {
        let mut book = PubSubBook::default();
        let (a, p) = (1, 2);
        let ok = |book: &mut PubSubBook, conn, run, r: &str, reply: &[u8]| {
            let res = book.judge(conn, run, &req(r), reply);
            book.note_reply(conn);
            res
        };
        assert!(ok(
            &mut book,
            a,
            1,
            "UNSUBSCRIBE",
            &conf("unsubscribe", None, 0)
        )
        .is_ok());
        let mut two = conf("ssubscribe", Some("s1"), 1);
        two.extend(conf("ssubscribe", Some("s2"), 2));
        assert!(ok(&mut book, a, 2, "SSUBSCRIBE s1 s2", &two).is_ok());
        assert!(ok(
            &mut book,
            a,
            3,
            "SUBSCRIBE c0",
            &conf("subscribe", Some("c0"), 1)
        )
        .is_ok());
        let mut pats = conf("psubscribe", Some("c*"), 2);
        pats.extend(conf("psubscribe", Some("c*"), 2));
        assert!(ok(&mut book, a, 4, "PSUBSCRIBE c* c*", &pats).is_ok());
        // A wrong count is caught.
        assert!(book
            .judge(
                a,
                5,
                &req("SUBSCRIBE c1"),
                &conf("subscribe", Some("c1"), 2)
            )
            .is_err());
        book.subs
            .get_mut(&a)
            .map(|s| s.sets[CHANNEL].remove(b"c1".as_slice()));
        let refused = b"-ERR Can't execute 'pubsub|numpat': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n";
        assert!(ok(&mut book, a, 6, "PUBSUB NUMPAT", refused).is_ok());
        assert!(ok(&mut book, a, 7, "PING", b"*2\r\n$4\r\npong\r\n$0\r\n\r\n").is_ok());
        // c0 once as a channel, once through c*: 2 receivers (3 would count twice).
        assert!(book.judge(p, 8, &req("PUBLISH c0 m1"), b":3\r\n").is_err());
        assert!(book.judge(p, 9, &req("PUBLISH c0 m2"), b":2\r\n").is_ok());
        assert!(book.judge(p, 10, &req("PUBSUB NUMPAT"), b":1\r\n").is_ok());
        assert!(book
            .judge(
                p,
                11,
                &req("PUBSUB NUMSUB c0 c9"),
                b"*4\r\n$2\r\nc0\r\n:1\r\n$2\r\nc9\r\n:0\r\n"
            )
            .is_ok());
        let shards = b"*2\r\n$2\r\ns2\r\n$2\r\ns1\r\n";
        assert!(book
            .judge(p, 12, &req("PUBSUB SHARDCHANNELS"), shards)
            .is_ok());
        // The messages of m2 arrive; m1 (judged wrong above) was owed too.
        book.observe_push(a, message_frame("message", b"c0", b"m1"));
        book.observe_push(a, pmessage_frame(b"c*", b"c0", b"m1"));
        book.observe_push(a, pmessage_frame(b"c*", b"c0", b"m2"));
        book.observe_push(a, message_frame("message", b"c0", b"m2"));
        assert!(book.verdict().is_ok(), "{:?}", book.verdict());
        assert!(book
            .client_push(a, &message_frame("message", b"c0", b"m1"))
            .is_ok());
        assert!(book
            .client_push(a, &message_frame("message", b"c0", b"m1"))
            .is_err());
        // UNSUBSCRIBE without names, in the node's order.
        let all = conf("punsubscribe", Some("c*"), 1);
        assert!(ok(&mut book, a, 13, "PUNSUBSCRIBE", &all).is_ok());
        let unsub = conf("unsubscribe", Some("c0"), 0);
        assert!(ok(&mut book, a, 14, "UNSUBSCRIBE", &unsub).is_ok());
        let mut sunsub = conf("sunsubscribe", Some("s2"), 1);
        sunsub.extend(conf("sunsubscribe", Some("s1"), 0));
        assert!(ok(&mut book, a, 15, "SUNSUBSCRIBE", &sunsub).is_ok());
        // Unsubscribed: nothing more is owed, and a message now is unexpected.
        assert!(book.judge(p, 16, &req("PUBLISH c0 m3"), b":0\r\n").is_ok());
        book.observe_push(a, message_frame("message", b"c0", b"m3"));
        assert_eq!(book.verdict().map_err(|v| v.0), Err("message-unexpected"));
    }

    #[test]
    fn verdict_catches_lost_reordered_and_misplaced_messages() {
        let setup = || {
            let mut book = PubSubBook::default();
            assert!(book
                .judge(
                    1,
                    1,
                    &req("SUBSCRIBE c0"),
                    &conf("subscribe", Some("c0"), 1)
                )
                .is_ok());
            book.note_reply(1);
            assert!(book.judge(2, 2, &req("PUBLISH c0 m1"), b":1\r\n").is_ok());
            assert!(book.judge(2, 3, &req("PUBLISH c0 m2"), b":1\r\n").is_ok());
            book
        };
        let (m1, m2) = (
            message_frame("message", b"c0", b"m1"),
            message_frame("message", b"c0", b"m2"),
        );
        let mut lost = setup();
        lost.observe_push(1, m1.clone());
        assert_eq!(lost.verdict().map_err(|v| v.0), Err("message-lost"));
        let mut reordered = setup();
        reordered.observe_push(1, m2.clone());
        reordered.observe_push(1, m1.clone());
        assert_eq!(
            reordered.verdict().map_err(|v| v.0),
            Err("message-reordered")
        );
        let mut misplaced = setup();
        misplaced.observe_push(1, m1.clone());
        misplaced.note_reply(1);
        misplaced.observe_push(1, m2.clone());
        assert_eq!(
            misplaced.verdict().map_err(|v| v.0),
            Err("message-out-of-place")
        );
        let mut fine = setup();
        fine.observe_push(1, m1);
        fine.observe_push(1, m2);
        assert!(fine.verdict().is_ok());
        let mut forged = setup();
        forged.observe_push(1, message_frame("message", b"c0", b"m9"));
        assert_eq!(
            forged.verdict().map_err(|v| v.0),
            Err("message-never-published")
        );
        // A closed connection is owed nothing after the close.
        let mut closed = setup();
        closed.observe_push(1, message_frame("message", b"c0", b"m1"));
        closed.observe_push(1, message_frame("message", b"c0", b"m2"));
        closed.conn_closed(1);
        assert!(closed.judge(2, 4, &req("PUBLISH c0 m3"), b":0\r\n").is_ok());
        assert!(closed.verdict().is_ok());
    }

    /// A client that subscribed while the node loaded its AOF may get the replay's
    /// notifications before the owed ones; those must still follow, exactly.
    #[test]
    fn a_subscription_made_while_loading_may_get_the_replays_events_first() {
        let ev = |channel: &str, payload: &str| {
            pmessage_frame(b"__key*__:*", channel.as_bytes(), payload.as_bytes())
        };
        let book = |loading: bool, frames: &[Vec<u8>]| {
            let mut book = PubSubBook::default();
            book.set_notify("KA");
            if loading {
                book.subscribed_while_loading(1);
            }
            let sub = req("PSUBSCRIBE __key*__:*");
            assert!(book
                .judge(1, 1, &sub, &conf("psubscribe", Some("__key*__:*"), 1))
                .is_ok());
            book.note_reply(1);
            book.keyspace_events(2, &req("INCRBY k0 2"), b":2\r\n");
            for f in frames {
                book.observe_push(1, f.clone());
            }
            book.verdict().map_err(|v| v.0)
        };
        let owed = ev("__keyspace@0__:k0", "incrby");
        // The replay's writes of the same key, then the owed event.
        let replayed = [
            ev("__keyspace@0__:k0", "incrby"),
            ev("__keyspace@0__:k1", "set"),
        ];
        let all: Vec<Vec<u8>> = replayed.iter().cloned().chain([owed.clone()]).collect();
        assert_eq!(book(true, &all), Ok(()));
        assert_eq!(book(false, &all), Err("keyspace-event-unexpected"));
        // The owed event must still come, after the replay's.
        assert_eq!(book(true, &replayed[1..]), Err("keyspace-event-lost"));
        assert_eq!(book(true, &[]), Err("keyspace-event-lost"));
        assert_eq!(book(true, &[owed]), Ok(()));
    }

    /// A write whose reply was lost with its connection (chaos 0x53f, 0x5d9): its
    /// key's events owed by writes judged before it must still come first, in
    /// place; the key's later ones are not judged; other keys' still are.
    #[test]
    fn a_lost_write_leaves_its_keys_later_events_unjudged() {
        let ev = |channel: &str, payload: &str| {
            pmessage_frame(b"__keyspace@0__:*", channel.as_bytes(), payload.as_bytes())
        };
        let book = |frames: &[Vec<u8>]| {
            let mut book = PubSubBook::default();
            book.set_notify("KA");
            let sub = req("PSUBSCRIBE __keyspace@0__:*");
            let ok = book.judge(1, 1, &sub, &conf("psubscribe", Some("__keyspace@0__:*"), 1));
            assert!(ok.is_ok());
            book.note_reply(1);
            book.keyspace_events(2, &req("APPEND k0 2"), b":1\r\n");
            // Handed to the node when two replies had been judged; never answered.
            book.lost_write(2, &req("SET k0 v PX 10"));
            book.keyspace_events(3, &req("INCR k0"), b":3\r\n");
            book.keyspace_events(4, &req("SET k1 1"), b"+OK\r\n");
            for f in frames {
                book.observe_push(1, f.clone());
            }
            book.verdict().map_err(|v| v.0)
        };
        let before = ev("__keyspace@0__:k0", "append");
        let lost = [
            ev("__keyspace@0__:k0", "set"),
            ev("__keyspace@0__:k0", "expire"),
        ];
        let after = ev("__keyspace@0__:k0", "incrby");
        let other = ev("__keyspace@0__:k1", "set");
        let ran: Vec<Vec<u8>> = [before.clone()]
            .into_iter()
            .chain(lost.iter().cloned())
            .chain([after.clone(), other.clone()])
            .collect();
        assert_eq!(book(&ran), Ok(()));
        // The lost write refused (no events of its own), or its TTL's expiry seen.
        assert_eq!(
            book(&[before.clone(), after.clone(), other.clone()]),
            Ok(())
        );
        let expired = ev("__keyspace@0__:k0", "expired");
        let mut with_expiry = ran.clone();
        with_expiry.push(expired.clone());
        assert_eq!(book(&with_expiry), Ok(()));
        with_expiry.push(expired);
        assert_eq!(book(&with_expiry), Err("keyspace-expired-unexpected"));
        // The event owed before the lost write is still owed, first.
        assert_eq!(book(&ran[1..]), Err("keyspace-event-wrong"));
        assert_eq!(
            book(&[after.clone(), before.clone(), other.clone()]),
            Err("keyspace-event-wrong")
        );
        // Other keys are judged as before.
        assert_eq!(book(&ran[..4]), Err("keyspace-event-lost"));
        let mut wrong = ran.clone();
        wrong[4] = ev("__keyspace@0__:k1", "del");
        assert_eq!(book(&wrong), Err("keyspace-event-wrong"));
    }

    /// A PUBLISH the node ran whose reply nobody judged (chaos 0x394e): its message
    /// is not judged; any other message no PUBLISH sent still is.
    #[test]
    fn a_message_of_an_unanswered_publish_is_not_judged() {
        let book = |unanswered: bool| {
            let mut book = PubSubBook::default();
            let ok = book.judge(
                1,
                1,
                &req("SUBSCRIBE news.2"),
                &conf("subscribe", Some("news.2"), 1),
            );
            assert!(ok.is_ok());
            book.note_reply(1);
            if unanswered {
                book.unanswered_publish(&req("PUBLISH news.2 m11"));
            }
            book.observe_push(1, message_frame("message", b"news.2", b"m11"));
            book.verdict().map_err(|v| v.0)
        };
        assert_eq!(book(true), Ok(()));
        assert_eq!(book(false), Err("message-never-published"));
    }

    /// Keyspace notifications of the judged keys: owed per write that ran (as Redis
    /// 7.0 names them), by the configured classes; none for a refused write; the
    /// wrong event, the wrong database, a lost one and an `expired` for a key no
    /// write gave a TTL are caught; other keys' events are not judged.
    #[test]
    fn keyspace_events_are_owed_per_write_and_class() {
        let setup = |flags: &str| {
            let mut book = PubSubBook::default();
            book.set_notify(flags);
            let sub = req("PSUBSCRIBE __key*__:*");
            let ok = book.judge(1, 1, &sub, &conf("psubscribe", Some("__key*__:*"), 1));
            assert!(ok.is_ok());
            book.note_reply(1);
            book.keyspace_events(2, &req("SET k0 v PX 50"), b"+OK\r\n");
            book.keyspace_events(
                3,
                &req("INCR k0"),
                b"-ERR value is not an integer or out of range\r\n",
            );
            book.keyspace_events(4, &req("DEL k1"), b":0\r\n");
            book.keyspace_events(5, &req("INCRBY k1 2"), b":2\r\n");
            book.keyspace_events(6, &req("SET x0 1"), b"+OK\r\n");
            book
        };
        let ev = |channel: &str, payload: &str| {
            pmessage_frame(b"__key*__:*", channel.as_bytes(), payload.as_bytes())
        };
        let all = [
            ev("__keyspace@0__:k0", "set"),
            ev("__keyevent@0__:set", "k0"),
            ev("__keyspace@0__:k0", "expire"),
            ev("__keyevent@0__:expire", "k0"),
            ev("__keyspace@0__:k1", "incrby"),
            ev("__keyevent@0__:incrby", "k1"),
        ];
        let mut fine = setup("KEA");
        for f in &all {
            fine.observe_push(1, f.clone());
        }
        // An unjudged key's event, and expiry of the key the SET PX gave a TTL.
        fine.observe_push(1, ev("__keyspace@0__:x0", "set"));
        fine.observe_push(1, ev("__keyspace@0__:k0", "expired"));
        assert_eq!(fine.verdict(), Ok(()));
        // `K$`: no keyevent channel, no generic class (`expire`).
        let mut strings = setup("K$");
        strings.observe_push(1, all[0].clone());
        strings.observe_push(1, all[4].clone());
        assert_eq!(strings.verdict(), Ok(()));
        let judged = |frames: &[Vec<u8>]| {
            let mut book = setup("KEA");
            for f in frames {
                book.observe_push(1, f.clone());
            }
            book.verdict().map_err(|v| v.0)
        };
        let mut lost = all.to_vec();
        lost.remove(2);
        assert_eq!(judged(&lost), Err("keyspace-event-wrong"));
        let mut wrong_event = all.to_vec();
        wrong_event[4] = ev("__keyspace@0__:k1", "incr");
        assert_eq!(judged(&wrong_event), Err("keyspace-event-wrong"));
        let mut wrong_db = all.to_vec();
        wrong_db[0] = ev("__keyspace@1__:k0", "set");
        assert_eq!(judged(&wrong_db), Err("keyspace-event-wrong"));
        let mut refused_incr = all.to_vec();
        refused_incr.insert(4, ev("__keyspace@0__:k0", "incrby"));
        assert_eq!(judged(&refused_incr), Err("keyspace-event-wrong"));
        assert_eq!(judged(&all[..5]), Err("keyspace-event-lost"));
        let mut extra = all.to_vec();
        extra.push(ev("__keyevent@0__:del", "k1"));
        assert_eq!(judged(&extra), Err("keyspace-event-unexpected"));
        let mut never_ttl = all.to_vec();
        never_ttl.push(ev("__keyspace@0__:k1", "expired"));
        assert_eq!(judged(&never_ttl), Err("keyspace-expired-unexpected"));
        let mut twice = all.to_vec();
        twice.push(ev("__keyevent@0__:expired", "k0"));
        twice.push(ev("__keyevent@0__:expired", "k0"));
        assert_eq!(judged(&twice), Err("keyspace-expired-unexpected"));
        // After its own reply: out of place.
        let mut misplaced = setup("KEA");
        misplaced.note_reply(1);
        for f in &all {
            misplaced.observe_push(1, f.clone());
        }
        assert_eq!(
            misplaced.verdict().map_err(|v| v.0),
            Err("keyspace-event-out-of-place")
        );
    }
}
