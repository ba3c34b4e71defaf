//! The persistence checkers (invariants 6–11): what a restart recovered, judged from
//! outside the node — from the propagation stream the world recorded (each record with
//! the time its request's reply reached the network), the faults the world injected
//! into the disk, the disk operations it executed and the replies the clients got —
//! never from the node's own counters.
//!
//! - **durability per policy** (6, 7): the recovered dataset equals a replay of a
//!   prefix of the stream at least as long as the policy promised: under `always`,
//!   every record whose batch was acknowledged before the crash; under `everysec`,
//!   every record acknowledged more than `EVERYSEC_WINDOW_MS` plus the slack before
//!   it; under `no` (and with the AOF off), what a completed snapshot covered.
//! - **a prefix of the acknowledged order** (8): the recovered dataset equals the
//!   replay of *some* prefix; a prefix never ends inside MULTI ... EXEC.
//! - **torn tail vs corruption** (9): a node that refuses to start names the file; it
//!   may refuse only when a file it read was corrupted at rest (a torn tail must
//!   load); it must never load a file the world flipped a byte in.
//! - **failed write or fsync** (10): no write is acknowledged while the node's last
//!   AOF write or fsync failed (`always`: the write it covered gets no `+OK`; other
//!   policies: `-MISCONF` until a later one succeeds), nor, with save points and
//!   `stop-writes-on-bgsave-error`, while the last snapshot failed.
//! - **a crash anywhere in BGSAVE, BGREWRITEAOF or a manifest swap** (11) is the same
//!   recovery check, with the crash placed inside those windows by the scenarios.
//!
//! The checks are functions over plain data so they can be tested on synthetic
//! histories; `Replayer` computes the digests of prefixes by feeding records to a
//! fresh node.

use keel_core::config::Config;
use keel_core::keyspace::Keyspace;
use keel_core::propagate::{Propagated, StreamEncoder};
use keel_core::{Effect, Input, Node, NodeSeeds, Now};

/// `appendfsync`, or the AOF off (snapshots only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Policy {
    Always,
    Everysec,
    No,
    /// `appendonly no`: only snapshots persist.
    Off,
}

impl Policy {
    pub fn name(self) -> &'static str {
        match self {
            Policy::Always => "always",
            Policy::Everysec => "everysec",
            Policy::No => "no",
            Policy::Off => "aof-off",
        }
    }
}

/// Redis's promise under `everysec`: a lost write was acknowledged at most this long
/// before the crash (plus one cron tick, plus the disk's own latency).
pub const EVERYSEC_WINDOW_MS: u64 = 2_000;
/// One cron tick at the default `hz 10`.
pub const TICK_MS: u64 = 100;

/// One record of the node's propagation stream, as the world saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged {
    pub record: Propagated,
    /// When the reply of the last request of the batch that produced it was sent
    /// (None: no request, e.g. an expiry's DEL, or never acknowledged).
    pub acked_ms: Option<u64>,
    /// The node's wall clock when it ran the command (a replay runs it at the same
    /// time, so TTLs and expiries come out the same).
    pub wall_ms: u64,
}

/// What one crash judges: the stream since the node's last boot, and what the
/// policy promised of it.
#[derive(Debug, Clone, Default)]
pub struct Epoch {
    pub policy: Option<Policy>,
    pub crash_ms: u64,
    pub records: Vec<Logged>,
    /// Records a snapshot the node completed before the crash (renamed into place and
    /// the directory fsynced, as the world saw on the disk) covers at least.
    pub snapshot_floor: usize,
    /// Extra latency the disk had (slow-disk faults): `everysec` cannot promise more.
    pub disk_slack_ms: u64,
}

/// A violation: its kind (for the failure's signature) and the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub kind: &'static str,
    pub message: String,
}

fn violation(kind: &'static str, message: String) -> Violation {
    Violation { kind, message }
}

fn show(argv: &[Vec<u8>]) -> String {
    argv.iter()
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

fn is(argv: &[Vec<u8>], name: &[u8]) -> bool {
    argv.first().is_some_and(|n| n.eq_ignore_ascii_case(name))
}

/// Prefix lengths a recovery may end at: every record boundary that is not inside
/// MULTI ... EXEC (0 and `records.len()` included when they are not).
pub fn boundaries(records: &[Logged]) -> Vec<usize> {
    let mut out = vec![0];
    let mut in_txn = false;
    for (i, r) in records.iter().enumerate() {
        if is(&r.record.argv, b"MULTI") {
            in_txn = true;
        } else if is(&r.record.argv, b"EXEC") {
            in_txn = false;
        }
        if !in_txn {
            out.push(i + 1);
        }
    }
    out
}

/// The shortest prefix the policy promised, and the record that forces it (the
/// last one that must survive), if any.
pub fn floor(epoch: &Epoch) -> (usize, Option<usize>) {
    let promised = |acked_ms: u64| match epoch.policy {
        Some(Policy::Always) => acked_ms <= epoch.crash_ms,
        Some(Policy::Everysec) => {
            acked_ms + EVERYSEC_WINDOW_MS + TICK_MS + epoch.disk_slack_ms <= epoch.crash_ms
        }
        _ => false,
    };
    let last = epoch
        .records
        .iter()
        .rposition(|r| r.acked_ms.is_some_and(promised));
    let by_ack = last.map_or(0, |i| i + 1);
    if epoch.snapshot_floor > by_ack {
        let forced = epoch.snapshot_floor.checked_sub(1);
        return (epoch.snapshot_floor.min(epoch.records.len()), forced);
    }
    (by_ack, last)
}

/// The recovery check (invariants 6, 7, 8, 11): `replays_to(k)` says whether the
/// replay of the first `k` records (from the state the epoch started with) equals
/// the recovered dataset (`recovered` its digest, for the messages); it is called
/// with increasing `k` in up to two passes (the second starts below the first's
/// start). Returns the prefix the
/// recovery matched (the lowest admissible one at or above the floor).
pub fn check_recovery(
    epoch: &Epoch,
    recovered: &Digest,
    mut replays_to: impl FnMut(usize) -> bool,
) -> Result<usize, Violation> {
    let (floor, forced) = floor(epoch);
    let boundaries = boundaries(&epoch.records);
    // The prefixes the policy allows first: a digest walks the whole dataset, and
    // the floor is usually near the end of a long epoch. Only when none matches are
    // the shorter prefixes digested (`digest_of` starts over for them), to tell a
    // lost acknowledged write from a dataset that is no prefix at all.
    if let Some(&k) = boundaries
        .iter()
        .filter(|&&k| k >= floor)
        .find(|&&k| replays_to(k))
    {
        return Ok(k);
    }
    let below = boundaries
        .iter()
        .copied()
        .filter(|&k| k < floor)
        .find(|&k| replays_to(k));
    let policy = epoch.policy.map_or("none", Policy::name);
    match below {
        Some(k) => {
            // The first promised record it lost.
            let lost = epoch.records.get(k..floor).unwrap_or_default();
            let first = lost
                .iter()
                .position(|r| r.acked_ms.is_some())
                .map_or(k, |p| k + p);
            let record = epoch.records.get(first).or(forced.and_then(|f| epoch.records.get(f)));
            let what = record.map_or(String::new(), |r| {
                format!(
                    " (first lost: #{first} `{}` acknowledged at {} ms)",
                    show(&r.record.argv),
                    r.acked_ms.map_or("never".to_string(), |t| t.to_string())
                )
            });
            Err(violation(
                "acked-write-lost",
                format!(
                    "appendfsync {policy}: the restart recovered the first {k} of {} records, but the policy promised at least {floor} before the crash at {} ms{what}",
                    epoch.records.len(),
                    epoch.crash_ms
                ),
            ))
        }
        None => Err(violation(
            "not-a-prefix",
            format!(
                "appendfsync {policy}: the recovered dataset (digest {}) is no prefix of the {} records the node propagated since its boot (no hole-free, transaction-whole prefix replays to it)",
                hex(recovered),
                epoch.records.len()
            ),
        )),
    }
}

/// How a boot from disk ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Boot {
    Loaded,
    /// It refused to start (asked to exit), with what it logged.
    Refused {
        log: Vec<String>,
    },
}

/// Invariant 9: a refusal names a file and happens only when a file the node read
/// was corrupted at rest; a file with a flipped byte is never loaded silently.
/// `rotten_read` are the files the node read that the world flipped a byte in;
/// `files` every name on the disk at boot.
pub fn check_boot(boot: &Boot, rotten_read: &[String], files: &[String]) -> Result<(), Violation> {
    match boot {
        Boot::Loaded => match rotten_read.first() {
            Some(f) => Err(violation(
                "loaded-rotten-file",
                format!("the node loaded {f}, which has a flipped byte, without refusing"),
            )),
            None => Ok(()),
        },
        Boot::Refused { log } => {
            // The file's path, or its name inside its directory.
            let names_file = log.iter().any(|line| {
                files.iter().any(|f| {
                    let base = f.rsplit('/').next().unwrap_or(f);
                    !base.is_empty() && line.contains(base)
                })
            });
            if !names_file {
                return Err(violation(
                    "refusal-names-no-file",
                    format!("the node refused to start without naming a file: {log:?}"),
                ));
            }
            if rotten_read.is_empty() {
                return Err(violation(
                    "refused-intact-files",
                    format!(
                        "the node refused to start though no file it read was corrupted at rest (a torn tail must load): {log:?}"
                    ),
                ));
            }
            Ok(())
        }
    }
}

/// What the write gate sees, in the world's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GateEvent {
    /// A failed AOF write or fsync was handed to the node.
    AofFailed { path: String },
    /// A later AOF write and fsync succeeded (the error may clear).
    AofFsynced,
    /// A snapshot failed (with save points and stop-writes-on-bgsave-error).
    SaveFailed { path: String },
    /// A snapshot completed.
    Saved,
    /// A write command was delivered whole: the node runs it now (its reply may
    /// come later, held for an AOF fsync).
    WriteDelivered { op: usize },
    /// A write command's non-error reply was sent.
    WriteAcked { op: usize, request: String },
}

/// Invariant 10: no write acknowledged while the last AOF write/fsync failed, nor
/// run while the last snapshot failed. A snapshot's failure gates the writes the
/// node runs after it learns of it (Redis's processCommand check): a write it ran
/// before, whose reply was held for the AOF's fsync, is acknowledged rightly.
pub fn check_gate(events: &[GateEvent]) -> Result<(), Violation> {
    let (mut aof, mut save): (Option<&str>, Option<&str>) = (None, None);
    // The snapshot state each delivered write ran under (the latest delivery of an
    // op wins; a plain list: it is searched once per acknowledgement).
    let mut ran_under: Vec<(usize, Option<&str>)> = Vec::new();
    for e in events {
        match e {
            GateEvent::AofFailed { path } => aof = Some(path),
            GateEvent::AofFsynced => aof = None,
            GateEvent::SaveFailed { path } => save = Some(path),
            GateEvent::Saved => save = None,
            GateEvent::WriteDelivered { op } => ran_under.push((*op, save)),
            GateEvent::WriteAcked { op, request } => {
                let save = ran_under
                    .iter()
                    .rev()
                    .find(|(o, _)| o == op)
                    .map_or(save, |&(_, s)| s);
                if let Some(path) = aof {
                    return Err(violation(
                        "acked-after-failed-fsync",
                        format!("#{op} {request} was acknowledged after a failed write or fsync of {path}, before one succeeded (expected -MISCONF or no reply)"),
                    ));
                }
                if let Some(path) = save {
                    return Err(violation(
                        "acked-after-failed-save",
                        format!("#{op} {request} was acknowledged while the last snapshot ({path}) had failed (stop-writes-on-bgsave-error: expected -MISCONF)"),
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A dataset digest for recovery: per live key its database, name, value digest and
/// exact expire time (RDB and AOF both keep it to the ms), XORed so order does not
/// matter. Keys past their TTL at `wall_ms` are left out (an RDB load drops them, an
/// AOF replay may still hold them).
pub type Digest = [u8; 20];

pub fn live_digest(keyspace: &Keyspace, wall_ms: u64) -> Digest {
    digest_where(keyspace, |entry| !entry.is_expired(wall_ms))
}

/// The digest of every key the table holds, expired or not: two nodes equal by it
/// stay equal after a backward clock jump makes expired keys live again.
pub fn full_digest(keyspace: &Keyspace) -> Digest {
    digest_where(keyspace, |_| true)
}

/// A cheap necessary condition for two datasets to be equal (equal datasets have
/// equal fingerprints): per live key its database, name, type, length and expire
/// time, hashed without reading collection elements. The recovery check rules out
/// most prefixes with it before digesting one.
pub type Fingerprint = (u64, u64);

pub fn live_fingerprint(keyspace: &Keyspace, wall_ms: u64) -> Fingerprint {
    use keel_core::types::Value;
    let (mut count, mut mix) = (0u64, 0u64);
    for (index, db) in keyspace.dbs.iter().enumerate() {
        for (_, entry) in db.iter().filter(|(_, e)| !e.is_expired(wall_ms)) {
            let (tag, len) = match entry.value {
                Value::Str(v) => (1u64, v.len()),
                Value::Hash(v) => (2, v.len()),
                Value::List(v) => (3, v.len()),
                Value::Set(v) => (4, v.len()),
                Value::ZSet(v) => (5, v.len()),
            };
            // FNV-1a over the key, then the rest folded in.
            let mut h = 0xcbf2_9ce4_8422_2325u64 ^ index as u64;
            for &b in entry.key.as_bytes() {
                h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
            }
            for word in [tag, len as u64, entry.expire_at_ms] {
                h = (h ^ word).wrapping_mul(0x0100_0000_01b3);
            }
            count += 1;
            mix = mix.wrapping_add(h);
        }
    }
    (count, mix)
}

/// The 160-bit hash the simulator's digests are built on, in place of Redis's SHA1
/// (a third of a sweep's time went to SHA1): the digests only compare datasets of
/// one run with each other, never with Redis's. Two 64-bit multiply-rotate lanes
/// over 8-byte words, then SplitMix64's finalizer; not cryptographic, and a
/// divergence hidden by a collision would need 2^-64 luck per comparison.
pub fn hash160(data: &[u8]) -> [u8; 20] {
    const K1: u64 = 0x9E37_79B9_7F4A_7C15;
    const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;
    let mut a = K1 ^ data.len() as u64;
    let mut b = K2.wrapping_add(data.len() as u64);
    let mut lane = |w: u64| {
        a = (a ^ w).wrapping_mul(K2).rotate_left(31);
        b = (b ^ w.rotate_left(23)).wrapping_mul(K1).rotate_left(27);
    };
    // Whole words straight from the slice; the last partial word zero-padded (the
    // same words as a zero-padded copy of every chunk, without a copy per word).
    let words = data.chunks_exact(8);
    let tail = words.remainder();
    for chunk in words {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        lane(u64::from_le_bytes(word));
    }
    if !tail.is_empty() {
        let mut word = [0u8; 8];
        if let Some(dst) = word.get_mut(..tail.len()) {
            dst.copy_from_slice(tail);
        }
        lane(u64::from_le_bytes(word));
    }
    let fin = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let (x, y) = (fin(a ^ b.rotate_left(13)), fin(b.wrapping_add(a)));
    let z = fin(x ^ y.rotate_left(7) ^ K1);
    let mut out = [0u8; 20];
    out[..8].copy_from_slice(&x.to_le_bytes());
    out[8..16].copy_from_slice(&y.to_le_bytes());
    out[16..].copy_from_slice(&z.to_le_bytes()[..4]);
    out
}

/// One value's digest for the simulator's dataset digests: equal for equal values
/// whatever their encodings, different (but for a hash collision) otherwise. Redis's
/// `DEBUG DIGEST-VALUE` shape (`keel_core::digest`) costs five hashes per element
/// of a hash or sorted set; this one hashes each element once: ordered values
/// (strings, lists) as one length-framed stream, unordered ones (sets, hashes,
/// sorted sets, whose elements are unique) as the XOR of one hash per element,
/// framed with the type and the element count. Scores by their bits: for the finite
/// scores a sorted set holds, equal bits ⇔ equal `%.17g` text (-0 and 0 differ in
/// both). `buf` is scratch.
pub fn value_digest(value: &keel_core::types::Value, buf: &mut Vec<u8>) -> [u8; 20] {
    use keel_core::types::Value;
    let xor = |acc: &mut [u8; 20], h: [u8; 20]| {
        for (a, b) in acc.iter_mut().zip(h) {
            *a ^= b;
        }
    };
    let mut acc = [0u8; 20];
    buf.clear();
    let (tag, count) = match value {
        Value::Str(v) => {
            buf.push(b's');
            let mut scratch = Vec::new();
            buf.extend_from_slice(v.bytes(&mut scratch));
            return hash160(buf);
        }
        Value::List(l) => {
            buf.push(b'l');
            l.walk(0, false, |_, element| {
                buf.extend_from_slice(&(element.len() as u64).to_be_bytes());
                buf.extend_from_slice(element);
                true
            });
            return hash160(buf);
        }
        Value::Set(set) => {
            for member in set.iter() {
                member.with_bytes(|m| xor(&mut acc, hash160(m)));
            }
            (b'S', set.len())
        }
        Value::Hash(h) => {
            for (field, v) in h.iter() {
                buf.clear();
                buf.extend_from_slice(&(field.len() as u64).to_be_bytes());
                buf.extend_from_slice(&field);
                buf.extend_from_slice(&v);
                xor(&mut acc, hash160(buf));
            }
            (b'H', h.len())
        }
        Value::ZSet(z) => {
            z.visit(0, z.len(), false, |member, score| {
                buf.clear();
                buf.extend_from_slice(&score.to_bits().to_be_bytes());
                buf.extend_from_slice(member);
                xor(&mut acc, hash160(buf));
                true
            });
            (b'Z', z.len())
        }
    };
    buf.clear();
    buf.push(tag);
    buf.extend_from_slice(&(count as u64).to_be_bytes());
    buf.extend_from_slice(&acc);
    hash160(buf)
}

fn digest_where(
    keyspace: &Keyspace,
    keep: impl Fn(keel_core::keyspace::EntryRef<'_>) -> bool,
) -> Digest {
    let mut digest = [0u8; 20];
    let mut bytes = Vec::new();
    for (index, db) in keyspace.dbs.iter().enumerate() {
        for (_, entry) in db.iter() {
            if !keep(entry) {
                continue;
            }
            let value = value_digest(entry.value, &mut bytes);
            bytes.clear();
            bytes.extend_from_slice(&(index as u32).to_be_bytes());
            bytes.extend_from_slice(&(entry.key.as_bytes().len() as u64).to_be_bytes());
            bytes.extend_from_slice(entry.key.as_bytes());
            bytes.extend_from_slice(&value);
            bytes.extend_from_slice(&entry.expire_at_ms.to_be_bytes());
            let key_digest = hash160(&bytes);
            for (d, k) in digest.iter_mut().zip(key_digest) {
                *d ^= k;
            }
        }
    }
    digest
}

pub fn hex(d: &Digest) -> String {
    keel_core::digest::hex(d)
}

/// A fresh node fed records one by one (over one connection, as the shadow is), for
/// the digests of prefixes.
pub struct Replayer {
    node: Node,
    stream: StreamEncoder,
    now: Now,
    applied: usize,
    /// What `new` was given, to start over when asked for a shorter prefix.
    seeds: NodeSeeds,
    base: Vec<Logged>,
}

impl Replayer {
    const CONN: u64 = 1;

    /// A node that holds `base` (the records every earlier epoch kept, each run at its
    /// own wall time); digests are taken at `now`.
    pub fn new(seeds: NodeSeeds, now: Now, base: &[Logged]) -> Replayer {
        let mut node = Node::new(Config::default(), seeds, now);
        node.set_active_expire(false);
        node.handle(
            now,
            Input::Accepted {
                conn: Self::CONN,
                listener: keel_core::Listener::Client,
                peer: "127.0.0.1:1".into(),
                local: "127.0.0.1:6379".into(),
                peer_is_loopback: true,
            },
        );
        let mut r = Replayer {
            node,
            stream: StreamEncoder::default(),
            now,
            applied: 0,
            seeds,
            base: base.to_vec(),
        };
        r.feed(base);
        r.applied = 0;
        r
    }

    /// Runs `records`, each at its own wall time (runs of equal times in one input).
    fn feed(&mut self, records: &[Logged]) {
        for run in records.chunk_by(|a, b| a.wall_ms == b.wall_ms) {
            let mut bytes = Vec::new();
            for r in run {
                self.stream.encode(&r.record, &mut bytes);
            }
            let at = Now {
                mono_ms: self.now.mono_ms,
                wall_ms: run.first().map_or(self.now.wall_ms, |r| r.wall_ms),
            };
            self.run(at, &bytes);
        }
    }

    fn run(&mut self, at: Now, bytes: &[u8]) {
        self.node.handle(
            at,
            Input::Data {
                conn: Self::CONN,
                bytes,
            },
        );
        while let Some(effect) = self.node.poll_effect() {
            if let Effect::Send { conn, bytes } = effect {
                self.node.handle(
                    at,
                    Input::Written {
                        conn,
                        bytes: bytes.len(),
                    },
                );
            }
        }
    }

    /// Whether the prefix of length `k` replays to the dataset `want` digests (with
    /// fingerprint `sketch`): the digest is taken only when the fingerprints agree.
    pub fn replays_to(
        &mut self,
        records: &[Logged],
        k: usize,
        want: &Digest,
        sketch: Fingerprint,
    ) -> bool {
        self.apply(records, k);
        live_fingerprint(self.node.keyspace(), self.now.wall_ms) == sketch
            && live_digest(self.node.keyspace(), self.now.wall_ms) == *want
    }

    /// Applies records up to prefix length `k` and digests. A `k` below what it has
    /// applied starts over from the base.
    pub fn digest_at(&mut self, records: &[Logged], k: usize) -> Digest {
        self.apply(records, k);
        live_digest(self.node.keyspace(), self.now.wall_ms)
    }

    fn apply(&mut self, records: &[Logged], k: usize) {
        if k < self.applied {
            let base = std::mem::take(&mut self.base);
            *self = Replayer::new(self.seeds, self.now, &base);
        }
        if k > self.applied {
            self.feed(records.get(self.applied..k).unwrap_or_default());
            self.applied = k;
        }
    }

    pub fn node(&self) -> &Node {
        &self.node
    }

    /// How many records of the epoch it has applied.
    pub fn applied(&self) -> usize {
        self.applied
    }

    /// The node, to go on as a shadow (it holds connection 1, active expiry off).
    pub fn into_node(self) -> Node {
        self.node
    }

    /// Runs one command in database 0 and returns its reply bytes. The records leave
    /// the connection in the database of the last one (chaos 0xb6: a FLUSHDB in
    /// database 1, then SMEMBERS read database 1's empty set for database 0's).
    pub fn query_db0(&mut self, argv: &[&[u8]]) -> Vec<u8> {
        self.query(&[b"SELECT", b"0"]);
        self.query(argv)
    }

    /// Runs one command and returns its reply bytes. A later record is preceded by
    /// its SELECT again, whatever database this one selected.
    pub fn query(&mut self, argv: &[&[u8]]) -> Vec<u8> {
        self.stream = StreamEncoder::default();
        let mut bytes = format!("*{}\r\n", argv.len()).into_bytes();
        for a in argv {
            bytes.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            bytes.extend_from_slice(a);
            bytes.extend_from_slice(b"\r\n");
        }
        self.node.handle(
            self.now,
            Input::Data {
                conn: Self::CONN,
                bytes: &bytes,
            },
        );
        let mut out = Vec::new();
        while let Some(effect) = self.node.poll_effect() {
            if let Effect::Send { conn, bytes } = effect {
                self.node.handle(
                    self.now,
                    Input::Written {
                        conn,
                        bytes: bytes.len(),
                    },
                );
                if conn == Self::CONN {
                    out.extend_from_slice(&bytes);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `hash160` as first written (a zero-padded copy of every 8-byte chunk): the
    /// faster loop must give the same words, so digests and failure messages stay.
    fn hash160_reference(data: &[u8]) -> [u8; 20] {
        const K1: u64 = 0x9E37_79B9_7F4A_7C15;
        const K2: u64 = 0xC2B2_AE3D_27D4_EB4F;
        let mut a = K1 ^ data.len() as u64;
        let mut b = K2.wrapping_add(data.len() as u64);
        for chunk in data.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            let w = u64::from_le_bytes(word);
            a = (a ^ w).wrapping_mul(K2).rotate_left(31);
            b = (b ^ w.rotate_left(23)).wrapping_mul(K1).rotate_left(27);
        }
        let fin = |mut z: u64| {
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let (x, y) = (fin(a ^ b.rotate_left(13)), fin(b.wrapping_add(a)));
        let z = fin(x ^ y.rotate_left(7) ^ K1);
        let mut out = [0u8; 20];
        out[..8].copy_from_slice(&x.to_le_bytes());
        out[8..16].copy_from_slice(&y.to_le_bytes());
        out[16..].copy_from_slice(&z.to_le_bytes()[..4]);
        out
    }

    /// The value digest sees values, not encodings: the same writes give the same
    /// digest under encodings forced apart, and any one change to a value differs.
    #[test]
    fn value_digest_ignores_encodings_and_sees_every_change() {
        let writes = [
            "SET s hello",
            "SET n 12345",
            "RPUSH l a bb ccc a",
            "SADD i 1 2 3 -7",
            "SADD m x yy 4",
            "HSET h f1 v1 f2 v2 f3 12",
            "ZADD z 1 a 2.5 b -3 c 0 d",
        ];
        let digest_of = |config: &[&str], writes: &[&str]| {
            let records: Vec<Logged> = config
                .iter()
                .chain(writes)
                .map(|w| rec(w, Some(1)))
                .collect();
            let mut r = Replayer::new(SEEDS, NOW, &[]);
            let digest = r.digest_at(&records, records.len());
            // (A list is a quicklist either way; size 1 splits it into one-element
            // nodes, which the digest's walk crosses. A set of strings is a
            // hashtable either way in 7.0.)
            let encodings: Vec<Vec<u8>> = ["i", "h", "z"]
                .iter()
                .map(|k| r.query_db0(&[b"OBJECT", b"ENCODING", k.as_bytes()]))
                .collect();
            (digest, encodings)
        };
        let packed = digest_of(&[], &writes);
        let tables = digest_of(
            &[
                "CONFIG SET set-max-intset-entries 0",
                "CONFIG SET hash-max-listpack-entries 0",
                "CONFIG SET zset-max-listpack-entries 0",
                "CONFIG SET list-max-listpack-size 1",
            ],
            &writes,
        );
        for (a, b) in packed.1.iter().zip(&tables.1) {
            assert_ne!(a, b, "the configs must force other encodings");
        }
        assert_eq!(packed.0, tables.0);
        assert_ne!(packed.0, [0; 20]);
        // One change at a time, each a different dataset.
        let changes = [
            (0, "SET s hellp"),
            (1, "SET n 12346"),
            (2, "RPUSH l a ccc bb a"),
            (2, "RPUSH l a bb ccc"),
            (3, "SADD i 1 2 3 7"),
            (4, "SADD m x yy 5"),
            (5, "HSET h f1 v2 f2 v1 f3 12"),
            (5, "HSET h f1 v1 f2 v2"),
            (6, "ZADD z 1 a 2.5 b -3 c 1e-300 d"),
            (6, "ZADD z 1 b 2.5 a -3 c 0 d"),
            (6, "ZADD z 1 a 2.5000000000000004 b -3 c 0 d"),
        ];
        let mut seen = std::collections::BTreeSet::from([packed.0]);
        for (at, write) in changes {
            let mut changed = writes;
            changed[at] = write;
            assert!(
                seen.insert(digest_of(&[], &changed).0),
                "{write} went unseen"
            );
        }
        // A value under another key, or of another type with the same bytes.
        let mut moved = writes;
        moved[0] = "SET t hello";
        assert!(seen.insert(digest_of(&[], &moved).0));
        moved[0] = "RPUSH s hello";
        assert!(seen.insert(digest_of(&[], &moved).0));
    }

    #[test]
    fn hash160_matches_its_first_form() {
        let data: Vec<u8> = (0..200u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
            .collect();
        let mut seen = std::collections::BTreeSet::new();
        for len in 0..data.len() {
            let got = hash160(&data[..len]);
            assert_eq!(got, hash160_reference(&data[..len]), "length {len}");
            assert!(seen.insert(got), "length {len} collides");
        }
    }

    const SEEDS: NodeSeeds = NodeSeeds {
        rng_seed: 1,
        hash_seeds: [1, 2, 3, 4],
    };
    const NOW: Now = Now {
        mono_ms: 10_000,
        wall_ms: 1_700_000_010_000,
    };

    fn rec(args: &str, acked_ms: Option<u64>) -> Logged {
        Logged {
            record: Propagated {
                db: 0,
                argv: args.split(' ').map(|a| a.as_bytes().to_vec()).collect(),
            },
            acked_ms,
            wall_ms: NOW.wall_ms,
        }
    }

    /// Six writes, the 3rd–5th a transaction, acknowledged at 100, 200, ... ms.
    fn history() -> Vec<Logged> {
        vec![
            rec("SET k0 a", Some(100)),
            rec("SET k1 b", Some(200)),
            rec("MULTI", Some(300)),
            rec("INCR k2", Some(300)),
            rec("SET k1 c", Some(300)),
            rec("EXEC", Some(300)),
            rec("DEL k0", Some(3_000)),
            rec("RPUSH l0 x", None),
        ]
    }

    /// The digest of a node that replayed exactly `records` (what a restart recovers).
    fn recovered(records: &[Logged]) -> Digest {
        let r = Replayer::new(SEEDS, NOW, records);
        live_digest(r.node().keyspace(), NOW.wall_ms)
    }

    fn check(policy: Policy, crash_ms: u64, got: &[Logged]) -> Result<usize, Violation> {
        let epoch = Epoch {
            policy: Some(policy),
            crash_ms,
            records: history(),
            ..Epoch::default()
        };
        let records = epoch.records.clone();
        verdict(&epoch, recovered(got), &records)
    }

    /// `check_recovery` with a fresh replay of `records` judging each prefix.
    fn verdict(epoch: &Epoch, want: Digest, records: &[Logged]) -> Result<usize, Violation> {
        let mut replay = Replayer::new(SEEDS, NOW, &[]);
        check_recovery(epoch, &want, |k| replay.digest_at(records, k) == want)
    }

    #[test]
    fn a_fingerprint_rules_out_only_different_datasets() {
        let a = [rec("SET k0 aa", Some(1)), rec("RPUSH l x y", Some(2))];
        let b = [rec("SET k0 bb", Some(1)), rec("RPUSH l x y", Some(2))];
        let c = [rec("SET k0 aaa", Some(1)), rec("RPUSH l x y", Some(2))];
        let (want, mut replay) = (recovered(&a), Replayer::new(SEEDS, NOW, &[]));
        let sketch = |records: &[Logged]| {
            let mut r = Replayer::new(SEEDS, NOW, &[]);
            r.digest_at(records, records.len());
            live_fingerprint(r.node().keyspace(), NOW.wall_ms)
        };
        // Same keys, types and lengths: equal fingerprints, told apart by the digest.
        assert_eq!(sketch(&a), sketch(&b));
        assert_ne!(sketch(&a), sketch(&c));
        assert!(replay.replays_to(&a, 2, &want, sketch(&a)));
        assert!(!replay.replays_to(&a, 1, &want, sketch(&a)));
        let mut other = Replayer::new(SEEDS, NOW, &[]);
        assert!(!other.replays_to(&b, 2, &want, sketch(&a)));
        // Asked for a shorter prefix, a replay starts over.
        assert_eq!(replay.digest_at(&a, 0), recovered(&[]));
        assert_eq!(replay.digest_at(&a, 2), want);
    }

    /// chaos 0xb6: the last record ran in database 1; a read of database 0's keys
    /// must not see database 1, and a later record still lands in its own database.
    #[test]
    fn reads_after_a_replay_see_database_0() {
        let in_db = |db: usize, args: &str| Logged {
            record: Propagated {
                db,
                ..rec(args, Some(1)).record
            },
            ..rec(args, Some(1))
        };
        let records = [
            in_db(0, "SADD s2 a b"),
            in_db(1, "FLUSHDB"),
            in_db(1, "SADD s3 x"),
        ];
        let mut r = Replayer::new(SEEDS, NOW, &[]);
        r.digest_at(&records, 2);
        assert_eq!(
            r.query(&[b"SCARD", b"s2"]),
            b":0\r\n",
            "the connection is in db 1"
        );
        assert_eq!(r.query_db0(&[b"SCARD", b"s2"]), b":2\r\n");
        r.digest_at(&records, 3);
        assert_eq!(r.query_db0(&[b"EXISTS", b"s3"]), b":0\r\n");
        assert_eq!(r.node().keyspace().db(1).len(), 1, "s3 in db 1");
    }

    #[test]
    fn prefixes_end_outside_transactions() {
        assert_eq!(boundaries(&history()), vec![0, 1, 2, 6, 7, 8]);
    }

    #[test]
    fn always_keeps_every_acknowledged_write() {
        let h = history();
        // Everything, or everything acknowledged (the last record had no ack).
        assert_eq!(check(Policy::Always, 5_000, &h), Ok(8));
        assert_eq!(check(Policy::Always, 5_000, &h[..7]), Ok(7));
        // Lost the DEL acknowledged at 3000 ms: a violation under always ...
        let lost = check(Policy::Always, 5_000, &h[..6]).unwrap_err();
        assert_eq!(lost.kind, "acked-write-lost", "{lost:?}");
        assert!(lost.message.contains("DEL k0"), "{}", lost.message);
        // ... but not when the crash came before its acknowledgement.
        assert_eq!(check(Policy::Always, 2_999, &h[..6]), Ok(6));
    }

    #[test]
    fn everysec_may_lose_only_the_last_two_seconds() {
        let h = history();
        // Crash at 2.35 s: the writes acked at 100 and 200 ms are older than 2 s + a
        // tick; the transaction (300 ms) is not.
        assert_eq!(check(Policy::Everysec, 2_350, &h[..2]), Ok(2));
        let lost = check(Policy::Everysec, 2_350, &h[..1]).unwrap_err();
        assert_eq!(lost.kind, "acked-write-lost");
        assert!(lost.message.contains("SET k1 b"), "{}", lost.message);
        // Crash at 2.25 s: only the first (acked at 100 ms) was promised.
        assert_eq!(check(Policy::Everysec, 2_250, &h[..1]), Ok(1));
        // At 2.5 s the whole transaction was.
        assert_eq!(
            check(Policy::Everysec, 2_500, &h[..2]).unwrap_err().kind,
            "acked-write-lost"
        );
        // `no` promises nothing, but still a prefix.
        assert_eq!(check(Policy::No, 60_000, &[]), Ok(0));
    }

    #[test]
    fn a_hole_or_half_a_transaction_is_no_prefix() {
        let h = history();
        // k1 written but k0 not: a hole.
        let hole = [h[1].clone()];
        let v = check(Policy::No, 0, &hole).unwrap_err();
        assert_eq!(v.kind, "not-a-prefix", "{v:?}");
        // The transaction's first command without the rest.
        let partial: Vec<Logged> = h[..4].iter().cloned().chain([rec("EXEC", None)]).collect();
        let v = check(Policy::No, 0, &partial).unwrap_err();
        assert_eq!(v.kind, "not-a-prefix", "{v:?}");
        // A value nobody wrote.
        let wrong = [rec("SET k0 z", None)];
        assert_eq!(
            check(Policy::No, 0, &wrong).unwrap_err().kind,
            "not-a-prefix"
        );
    }

    #[test]
    fn a_completed_snapshot_is_a_floor() {
        let mut epoch = Epoch {
            policy: Some(Policy::Off),
            crash_ms: 10_000,
            records: history(),
            snapshot_floor: 6,
            ..Epoch::default()
        };
        let records = epoch.records.clone();
        assert_eq!(verdict(&epoch, recovered(&records[..6]), &records), Ok(6));
        let v = verdict(&epoch, recovered(&records[..2]), &records).unwrap_err();
        assert_eq!(v.kind, "acked-write-lost");
        epoch.snapshot_floor = 0;
        assert_eq!(verdict(&epoch, recovered(&records[..2]), &records), Ok(2));
    }

    #[test]
    fn expire_times_must_survive_exactly() {
        let at = NOW.wall_ms + 60_000;
        let set = rec(&format!("SET k0 v PXAT {at}"), Some(1));
        // A relative expiry replayed later lands elsewhere: not the same dataset.
        let relative = rec(&format!("SET k0 v PXAT {}", at + 1_000), None);
        let epoch = Epoch {
            policy: Some(Policy::Always),
            crash_ms: 10,
            records: vec![set.clone()],
            ..Epoch::default()
        };
        let v = verdict(&epoch, recovered(&[relative]), std::slice::from_ref(&set)).unwrap_err();
        assert_eq!(v.kind, "not-a-prefix");
        // An expired key is no key.
        let gone = rec(&format!("SET k0 v PXAT {}", NOW.wall_ms - 1), None);
        assert_eq!(recovered(&[gone]), recovered(&[]));
    }

    #[test]
    fn boots_refuse_only_corrupt_files_and_name_them() {
        let files = vec!["dump.rdb".to_string(), "appendonlydir/x.1.incr.aof".into()];
        let named = Boot::Refused {
            log: vec!["Bad file format reading dump.rdb at offset 12".into()],
        };
        let unnamed = Boot::Refused {
            log: vec!["Short read or OOM loading DB. Unrecoverable error, aborting now.".into()],
        };
        let rot = vec!["dump.rdb".to_string()];
        assert_eq!(check_boot(&named, &rot, &files), Ok(()));
        assert_eq!(check_boot(&Boot::Loaded, &[], &files), Ok(()));
        let kind = |r: Result<(), Violation>| r.unwrap_err().kind;
        assert_eq!(
            kind(check_boot(&unnamed, &rot, &files)),
            "refusal-names-no-file"
        );
        assert_eq!(
            kind(check_boot(&named, &[], &files)),
            "refused-intact-files"
        );
        assert_eq!(
            kind(check_boot(&Boot::Loaded, &rot, &files)),
            "loaded-rotten-file"
        );
    }

    #[test]
    fn no_write_acknowledged_while_persistence_is_failing() {
        use GateEvent::*;
        let ack = |op| WriteAcked {
            op,
            request: "SET k0 v".into(),
        };
        let failed = AofFailed {
            path: "appendonlydir/a.1.incr.aof".into(),
        };
        assert_eq!(
            check_gate(&[ack(1), failed.clone(), AofFsynced, ack(2)]),
            Ok(())
        );
        let v = check_gate(&[ack(1), failed, ack(2), AofFsynced]).unwrap_err();
        assert_eq!(v.kind, "acked-after-failed-fsync");
        assert!(v.message.contains("#2"), "{}", v.message);
        let save = SaveFailed {
            path: "temp-1.rdb".into(),
        };
        assert_eq!(check_gate(&[save.clone(), Saved, ack(3)]), Ok(()));
        assert_eq!(
            check_gate(&[save.clone(), ack(3)]).unwrap_err().kind,
            "acked-after-failed-save"
        );
        // Run before the failure was known, acknowledged after (held for an fsync).
        let run = |op| WriteDelivered { op };
        assert_eq!(check_gate(&[run(4), save.clone(), ack(4)]), Ok(()));
        assert_eq!(
            check_gate(&[run(4), save.clone(), run(5), ack(4), ack(5)])
                .unwrap_err()
                .kind,
            "acked-after-failed-save"
        );
    }
}
