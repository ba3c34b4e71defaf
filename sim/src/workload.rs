//! Simulated clients: each pipelines batches of requests on a connection, frames RESP2
//! replies out of its byte stream, times out (the outcome becomes `unknown`) and
//! reconnects. It records a history; it never judges replies (the world does).

use std::collections::VecDeque;

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::net::ConnId;

/// How an operation ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpOutcome {
    Pending,
    Ok,
    /// An error reply (`-...`).
    Fail,
    /// Timed out or the connection closed first: it may or may not have applied.
    Unknown,
}

/// One operation in the history: invoke time, completion, what the client saw.
#[derive(Debug, Clone)]
pub struct Op {
    pub client: usize,
    pub conn: ConnId,
    pub invoke_ms: u64,
    pub complete_ms: Option<u64>,
    /// Invocation and completion on one total order of client events (ties in
    /// simulated milliseconds still have an order, which the linearizability check uses).
    pub invoke_step: u64,
    pub complete_step: Option<u64>,
    /// How many crashes the node had been through when the client invoked it.
    pub epoch: u32,
    pub request: Vec<Vec<u8>>,
    /// The reply the client framed (empty until one arrived).
    pub reply: Vec<u8>,
    /// The reply the node emitted for it, when the node ran it (the world fills this).
    pub node_reply: Option<Vec<u8>>,
    /// When the node ran it, in the order it ran requests (the world fills this; the
    /// linearizability checker uses it only to order its search).
    pub run_seq: Option<u64>,
    pub outcome: OpOutcome,
}

/// A small incremental RESP2 reply framer: feed bytes, take whole replies.
#[derive(Debug, Default)]
pub struct Framer {
    buf: Vec<u8>,
}

/// Nesting bound for arrays in a reply (no reply here comes close).
const MAX_REPLY_DEPTH: usize = 32;

impl Framer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The next whole reply, `Ok(None)` when more bytes are needed, `Err` on bytes that
    /// are not RESP2.
    pub fn next_reply(&mut self) -> Result<Option<Vec<u8>>, String> {
        match reply_len(&self.buf, 0, 0)? {
            None => Ok(None),
            Some(len) => {
                let reply = self.buf.drain(..len).collect();
                Ok(Some(reply))
            }
        }
    }
}

fn line_end(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    rest.windows(2).position(|w| w == b"\r\n").map(|p| from + p)
}

fn parse_len(line: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad length {:?}", String::from_utf8_lossy(line)))
}

/// Length in bytes of the reply starting at `at`, if it is complete.
fn reply_len(buf: &[u8], at: usize, depth: usize) -> Result<Option<usize>, String> {
    if depth > MAX_REPLY_DEPTH {
        return Err("reply nested too deep".into());
    }
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    let Some(eol) = line_end(buf, at + 1) else {
        return Ok(None);
    };
    let header = buf.get(at + 1..eol).unwrap_or_default();
    let after_header = eol + 2;
    match kind {
        b'+' | b'-' | b':' => Ok(Some(after_header - at)),
        b'$' => {
            let n = parse_len(header)?;
            if n < 0 {
                return Ok(Some(after_header - at));
            }
            let end = after_header + n as usize + 2;
            if buf.len() < end {
                return Ok(None);
            }
            if buf.get(end - 2..end) != Some(b"\r\n") {
                return Err("bulk string not terminated by CRLF".into());
            }
            Ok(Some(end - at))
        }
        b'*' => {
            let n = parse_len(header)?;
            let mut pos = after_header;
            for _ in 0..n.max(0) {
                match reply_len(buf, pos, depth + 1)? {
                    None => return Ok(None),
                    Some(len) => pos += len,
                }
            }
            Ok(Some(pos - at))
        }
        other => Err(format!("unknown reply type byte {other:#04x}")),
    }
}

pub fn encode(args: &[Vec<u8>]) -> Vec<u8> {
    let mut v = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        v.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        v.extend_from_slice(a);
        v.extend_from_slice(b"\r\n");
    }
    v
}

/// Commands Redis flags `denyoom`: refused with -OOM over `maxmemory`.
pub fn is_denyoom(req: &[Vec<u8>]) -> bool {
    let Some(name) = req.first() else {
        return false;
    };
    ["SET", "INCR", "INCRBY", "APPEND"]
        .iter()
        .any(|c| name.eq_ignore_ascii_case(c.as_bytes()))
}

/// A random request over `keys` keys; `ttl_heavy` favours short TTLs.
pub fn random_request(rng: &mut ChaCha8Rng, keys: usize, ttl_heavy: bool) -> Vec<Vec<u8>> {
    let key = format!("k{}", rng.gen_range(0..keys.max(1))).into_bytes();
    let small = |rng: &mut ChaCha8Rng| rng.gen_range(-5i64..50).to_string().into_bytes();
    let pick = if ttl_heavy && rng.gen_bool(0.3) {
        3
    } else {
        rng.gen_range(0..10)
    };
    match pick {
        0 | 1 => vec![b"GET".to_vec(), key],
        2 => vec![b"SET".to_vec(), key, small(rng)],
        3 => vec![
            b"SET".to_vec(),
            key,
            b"v".to_vec(),
            b"PX".to_vec(),
            rng.gen_range(1u64..300).to_string().into_bytes(),
        ],
        4 | 5 => vec![b"INCR".to_vec(), key],
        6 => vec![b"DEL".to_vec(), key],
        7 => vec![b"APPEND".to_vec(), key, b"x".to_vec()],
        8 => vec![b"EXISTS".to_vec(), key],
        _ => vec![b"INCRBY".to_vec(), key, small(rng)],
    }
}

/// One simulated client's connection state and progress.
#[derive(Debug, Default)]
pub struct Client {
    pub conn: Option<ConnId>,
    /// History indices of requests sent and not yet answered, oldest first.
    pub outstanding: VecDeque<usize>,
    pub framer: Framer,
    /// Requests this client has yet to send, in order (from the plan).
    pub queue: VecDeque<Vec<Vec<u8>>>,
    /// Counts batches so a stale timeout event can tell it is stale.
    pub batch: u64,
}

impl Client {
    pub fn active(&self) -> bool {
        !self.queue.is_empty() || !self.outstanding.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framer_splits_replies_at_any_point() {
        let all = b"+OK\r\n$3\r\nabc\r\n$-1\r\n:12\r\n*2\r\n$1\r\na\r\n:1\r\n-ERR x\r\n";
        for cut in 0..all.len() {
            let mut f = Framer::default();
            let mut got = Vec::new();
            f.push(&all[..cut]);
            while let Some(r) = f.next_reply().expect("valid") {
                got.push(r);
            }
            f.push(&all[cut..]);
            while let Some(r) = f.next_reply().expect("valid") {
                got.push(r);
            }
            assert_eq!(got.len(), 6, "cut at {cut}");
            assert_eq!(got.concat(), all.to_vec());
            assert!(f.is_empty());
        }
        let mut f = Framer::default();
        f.push(b"?what\r\n");
        assert!(f.next_reply().is_err());
    }
}
