//! BGREWRITEAOF's base in AOF form (Redis's `rewriteAppendOnlyFileRio`): per non-empty
//! database a SELECT, then each key as the commands that rebuild it — SET, RPUSH,
//! SADD, ZADD, HMSET in batches of 64 items — and PEXPIREAT for its TTL.
//!
//! keel serialises the image in one step, before any later command runs, so the base
//! is exactly the dataset at the moment the new incr file starts (point-in-time
//! without fork, but not yet in bounded slices: the fork-less walk of `snapshot` is
//! the place for that).

use crate::keyspace::Keyspace;
use crate::resp::encode_request_into;
use crate::types::Value;

/// Redis's `AOF_REWRITE_ITEMS_PER_CMD`.
pub const ITEMS_PER_CMD: usize = 64;

/// A rewrite in progress.
#[derive(Debug, Clone)]
pub struct Rewrite {
    /// The temp file the base is written to (under `dir`).
    pub temp: String,
    /// The base's name in the AOF directory.
    pub base_name: String,
    pub base_bytes: u64,
    pub started_ms: u64,
}

fn batched(
    out: &mut Vec<u8>,
    command: &[u8],
    key: &[u8],
    items: impl Iterator<Item = Vec<Vec<u8>>>,
) {
    let mut argv: Vec<Vec<u8>> = Vec::new();
    let mut count = 0usize;
    for item in items {
        if argv.is_empty() {
            argv.push(command.to_vec());
            argv.push(key.to_vec());
        }
        argv.extend(item);
        count += 1;
        if count == ITEMS_PER_CMD {
            encode_request_into(out, &argv);
            argv.clear();
            count = 0;
        }
    }
    if !argv.is_empty() {
        encode_request_into(out, &argv);
    }
}

/// The commands that rebuild `key` (and its TTL, absolute ms; 0: none).
pub fn key_commands(out: &mut Vec<u8>, key: &[u8], value: &Value, expire_at_ms: u64) {
    match value {
        Value::Str(s) => {
            let mut scratch = Vec::new();
            let bytes = s.bytes(&mut scratch);
            encode_request_into(out, &[&b"SET"[..], key, bytes]);
        }
        Value::List(l) => batched(out, b"RPUSH", key, l.iter_values().map(|v| vec![v])),
        Value::Set(s) => batched(
            out,
            b"SADD",
            key,
            s.iter().map(|m| vec![m.with_bytes(|b| b.to_vec())]),
        ),
        Value::ZSet(z) => batched(
            out,
            b"ZADD",
            key,
            z.entries().into_iter().map(|(m, score)| {
                vec![
                    crate::types::zset::fmt_score(score).into_bytes(),
                    m.to_vec(),
                ]
            }),
        ),
        Value::Hash(h) => batched(
            out,
            b"HMSET",
            key,
            h.iter().map(|(f, v)| vec![f.to_vec(), v.to_vec()]),
        ),
    }
    if expire_at_ms != 0 {
        let at = expire_at_ms.to_string();
        encode_request_into(out, &[&b"PEXPIREAT"[..], key, at.as_bytes()]);
    }
}

/// The whole dataset as AOF commands.
pub fn dataset_commands(keyspace: &Keyspace, timestamp_secs: Option<u64>) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(secs) = timestamp_secs {
        out.extend_from_slice(format!("#TS:{secs}\r\n").as_bytes());
    }
    for (index, db) in keyspace.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let index = index.to_string();
        encode_request_into(&mut out, &[&b"SELECT"[..], index.as_bytes()]);
        for (_, entry) in db.iter() {
            key_commands(
                &mut out,
                entry.key.as_bytes(),
                entry.value,
                entry.expire_at_ms,
            );
        }
    }
    out
}

/// The base as AOF commands, fed by the fork-less snapshot walk.
pub struct CommandsSink {
    /// `#TS:` annotation at the top (`aof-timestamp-enabled`).
    pub timestamp_secs: Option<u64>,
}

impl crate::persist::snapshot::SnapshotSink for CommandsSink {
    fn begin(&mut self, out: &mut Vec<u8>) {
        if let Some(secs) = self.timestamp_secs {
            out.extend_from_slice(format!("#TS:{secs}\r\n").as_bytes());
        }
    }
    fn start_db(&mut self, db: usize, _keys: u64, _expires: u64, out: &mut Vec<u8>) {
        let index = db.to_string();
        encode_request_into(out, &[&b"SELECT"[..], index.as_bytes()]);
    }
    fn record(&mut self, rec: &crate::persist::rdb::KeyRecord<'_>, out: &mut Vec<u8>) {
        key_commands(out, rec.key, rec.value, rec.expire_ms.unwrap_or(0));
    }
    fn finish(&mut self, _out: &mut Vec<u8>) {}
}

/// The base as an RDB preamble (`aof-use-rdb-preamble yes`): Redis's aux fields with
/// `aof-base 1`.
pub struct PreambleSink {
    pub writer: crate::persist::rdb::RdbWriter,
    pub ctime_secs: i64,
    pub used_mem_bytes: i64,
    pub repl_id: String,
}

impl crate::persist::snapshot::SnapshotSink for PreambleSink {
    fn begin(&mut self, out: &mut Vec<u8>) {
        use crate::persist::rdb::AuxValue;
        let aux = [
            (
                "redis-ver",
                AuxValue::Str(crate::persist::save::REDIS_VERSION.as_bytes()),
            ),
            ("redis-bits", AuxValue::Int(64)),
            ("ctime", AuxValue::Int(self.ctime_secs)),
            ("used-mem", AuxValue::Int(self.used_mem_bytes)),
            ("repl-stream-db", AuxValue::Int(0)),
            ("repl-id", AuxValue::Str(self.repl_id.as_bytes())),
            ("repl-offset", AuxValue::Int(0)),
            ("aof-base", AuxValue::Int(1)),
        ];
        self.writer.header(&aux, out);
    }
    fn start_db(&mut self, db: usize, keys: u64, expires: u64, out: &mut Vec<u8>) {
        self.writer.select_db(db, keys, expires, out);
    }
    fn record(&mut self, rec: &crate::persist::rdb::KeyRecord<'_>, out: &mut Vec<u8>) {
        self.writer.entry(rec, out);
    }
    fn finish(&mut self, out: &mut Vec<u8>) {
        self.writer.finish(out);
    }
}

/// A rewrite's walk: the snapshot and the bytes it produced not yet handed out.
pub struct Walk {
    pub snapshot: crate::persist::snapshot::Snapshot,
    pub out: Vec<u8>,
}
