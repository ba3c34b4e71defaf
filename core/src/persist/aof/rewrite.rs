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
                &entry.value,
                entry.expire_at_ms,
            );
        }
    }
    out
}
