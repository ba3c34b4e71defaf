//! Shared helpers for the end-to-end and differential tests: start a keel or a real
//! redis-server on a free port, talk RESP to it over a plain `TcpStream`, and frame
//! exactly one reply at a time so replies can be compared byte for byte.

// Each test crate uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How long a server gets to accept its first connection.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reply may take before a read fails the test.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The keel binary cargo built for these tests. With `KEEL_E2E_TARGET=redis` the
/// "keel" servers are real redis-servers instead: a check of the tests themselves.
/// `KEEL_E2E_BIN=/path/to/keel-server` runs them against another build (say, the one
/// before a fix, to see a regression test fail).
pub fn keel_bin() -> &'static str {
    if std::env::var("KEEL_E2E_TARGET").as_deref() == Ok("redis") {
        return "redis-server";
    }
    if let Ok(bin) = std::env::var("KEEL_E2E_BIN") {
        return Box::leak(bin.into_boxed_str());
    }
    env!("CARGO_BIN_EXE_keel-server-under-test")
}

/// A server process on 127.0.0.1:`port`, killed (and reaped) on drop.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub name: &'static str,
}

impl Server {
    /// keel with redis-server's flags: `--port N --save "" --appendonly no` + `extra`.
    pub fn keel(extra: &[&str]) -> Server {
        Server::start("keel", keel_bin(), |port| {
            let mut a = base_args(port);
            a.extend(extra.iter().map(|s| s.to_string()));
            a
        })
    }

    /// keel reading `config` first (as `keel-server /path/redis.conf`), then `--port N`
    /// and `extra` overriding it.
    pub fn keel_with_config(config: &std::path::Path, extra: &[&str]) -> Server {
        Server::start("keel", keel_bin(), |port| {
            let mut a = vec![config.display().to_string()];
            a.extend(base_args(port));
            a.extend(extra.iter().map(|s| s.to_string()));
            a
        })
    }

    /// A real redis-server: `--port N --save '' --appendonly no --daemonize no` + `extra`.
    pub fn redis(extra: &[&str]) -> Server {
        Server::start("redis", "redis-server", |port| {
            let mut a = base_args(port);
            a.extend(["--daemonize".to_string(), "no".to_string()]);
            a.extend(extra.iter().map(|s| s.to_string()));
            a
        })
    }

    /// Spawns `program` with `args(port)` on a free port and waits until it accepts a
    /// connection. A start that fails (say the port was taken in between) is retried on
    /// a new port; after the last try, panics with the exit status.
    pub fn start(name: &'static str, program: &str, args: impl Fn(u16) -> Vec<String>) -> Server {
        let mut last_failure = String::new();
        for _ in 0..5 {
            let port = free_port();
            match Self::spawn_ready(name, program, port, &args(port)) {
                Ok(server) => return server,
                Err(why) => last_failure = why,
            }
        }
        panic!("{last_failure}");
    }

    /// Spawns `program` with `args` on `port` (a restart on the port a server had)
    /// and waits until it answers; panics if it does not.
    pub fn start_on(name: &'static str, program: &str, port: u16, args: &[String]) -> Server {
        Self::spawn_ready(name, program, port, args).unwrap_or_else(|why| panic!("{why}"))
    }

    /// Spawns `program` and waits until it answers PING on `port`. Err when it exited
    /// first; panics when it is still silent after `START_TIMEOUT` (it is killed).
    fn spawn_ready(
        name: &'static str,
        program: &str,
        port: u16,
        args: &[String],
    ) -> Result<Server, String> {
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot spawn {program}: {e}"));
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            // A connect to a port in the ephemeral range that nothing listens on yet
            // can connect to itself (Linux picks that very port as the local one: TCP
            // simultaneous open), which is not the server being ready.
            let accepted = TcpStream::connect(("127.0.0.1", port)).is_ok_and(|probe| {
                probe.local_addr().map(|a| a.port()).ok() != Some(port) && answers_ping(probe)
            });
            if accepted {
                return Ok(Server {
                    child: Some(child),
                    port,
                    name,
                });
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "{program} exited before accepting connections on {port}: {status}"
                ));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "{program} did not accept connections on port {port} within {START_TIMEOUT:?} \
                     (killed; exit status {status:?})"
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn conn(&self) -> Conn {
        let mut c = Conn::connect(self.port);
        c.label = self.name;
        c
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server already reaped").id()
    }

    /// Waits up to `timeout` for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let child = self.child.as_mut().expect("server already reaped");
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.child = None;
                return Some(status);
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn base_args(port: u16) -> Vec<String> {
    [
        "--port",
        &port.to_string(),
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Whether the server behind `probe` answers a PING with any RESP reply (+PONG, or an
/// error such as -LOADING or -NOAUTH): it is up and serving, not only listening.
fn answers_ping(mut probe: TcpStream) -> bool {
    if probe
        .set_read_timeout(Some(Duration::from_secs(5)))
        .is_err()
        || probe.write_all(b"PING\r\n").is_err()
    {
        return false;
    }
    let mut first = [0u8; 1];
    probe.read_exact(&mut first).is_ok() && matches!(first[0], b'+' | b'-')
}

/// A port that was free a moment ago (bind 127.0.0.1:0, read it, release it), and
/// never handed out before in this process. Tests run in parallel threads: without
/// the second rule two servers could be given the same port, the loser's start would
/// be taken for a success (its readiness check reaches the winner), and its test would
/// talk to another test's server — reset when that test ends.
pub fn free_port() -> u16 {
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    for _ in 0..1000 {
        if let Ok(l) = TcpListener::bind("127.0.0.1:0") {
            if let Ok(addr) = l.local_addr() {
                let port = addr.port();
                let mut handed = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
                if !handed.contains(&port) {
                    handed.push(port);
                    return port;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    panic!("no free port on 127.0.0.1");
}

/// Whether `redis-server` is on PATH.
pub fn redis_available() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Whether `redis-cli` is on PATH.
pub fn redis_cli_available() -> bool {
    Command::new("redis-cli")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// True when redis-server is present. Otherwise prints a notice and returns false, or
/// panics when `KEEL_REQUIRE_REDIS=1` (CI must not silently skip).
pub fn require_redis_or_skip() -> bool {
    if redis_available() {
        return true;
    }
    if std::env::var("KEEL_REQUIRE_REDIS").as_deref() == Ok("1") {
        panic!("redis-server not found but KEEL_REQUIRE_REDIS=1; differential tests need it (apt-get install redis-server)");
    }
    eprintln!("SKIPPED: redis-server not found; differential tests need it (apt-get install redis-server)");
    false
}

/// A fresh, empty scratch directory under the system temp dir.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("keel-tests-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// One client connection speaking RESP.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
    /// Which server this talks to ("keel" or "redis"), for failure messages.
    pub label: &'static str,
}

impl Conn {
    pub fn connect(port: u16) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(READ_TIMEOUT))
            .expect("set_read_timeout");
        stream.set_nodelay(true).expect("set_nodelay");
        Conn {
            stream,
            buf: Vec::new(),
            label: "server",
        }
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write to server");
    }

    /// Sends one command as a RESP multibulk and returns the raw bytes of its reply.
    pub fn cmd(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send_raw(&encode(args));
        self.read_reply()
    }

    /// `cmd` over owned arguments (as `s()` returns them).
    pub fn cmdv(&mut self, args: &[Vec<u8>]) -> Vec<u8> {
        let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        self.cmd(&refs)
    }

    /// `cmd` over a command line split by `s()`.
    pub fn cmds(&mut self, line: &str) -> Vec<u8> {
        self.cmdv(&s(line))
    }

    /// Reads exactly one complete reply (RESP2 or RESP3) and returns its raw bytes.
    pub fn read_reply(&mut self) -> Vec<u8> {
        loop {
            match frame(&self.buf, 0) {
                Ok(Some(end)) => {
                    let rest = self.buf.split_off(end);
                    return std::mem::replace(&mut self.buf, rest);
                }
                Ok(None) => {}
                Err(e) => panic!(
                    "{}: malformed reply ({e}): {}",
                    self.label,
                    escape(&self.buf)
                ),
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!(
                    "{}: connection closed while reading a reply; have {}",
                    self.label,
                    escape(&self.buf)
                ),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => panic!(
                    "{}: reading a reply failed ({e}); have {}",
                    self.label,
                    escape(&self.buf)
                ),
            }
        }
    }

    /// Like `read_reply`, but returns None when the server closes the connection (or
    /// resets it) before a complete reply arrived.
    pub fn try_read_reply(&mut self) -> Option<Vec<u8>> {
        loop {
            if let Ok(Some(end)) = frame(&self.buf, 0) {
                let rest = self.buf.split_off(end);
                return Some(std::mem::replace(&mut self.buf, rest));
            }
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    panic!(
                        "{}: no reply within {READ_TIMEOUT:?}; have {}",
                        self.label,
                        escape(&self.buf)
                    )
                }
                Err(_) => return None,
            }
        }
    }

    /// Whether the server closes the connection within 2 s (unread data is kept).
    pub fn is_closed(&mut self) -> bool {
        self.closed_within(Duration::from_secs(2))
    }

    /// Whether the server closes (or resets) the connection within `timeout`. Data that
    /// arrives meanwhile is kept for `read_reply`.
    pub fn closed_within(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let closed = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break false;
            }
            self.stream
                .set_read_timeout(Some(left))
                .expect("set_read_timeout");
            let mut chunk = [0u8; 64 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => break true,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break false
                }
                Err(_) => break true,
            }
        };
        let _ = self.stream.set_read_timeout(Some(READ_TIMEOUT));
        closed
    }

    /// Closes our sending side; the server sees EOF.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Bytes received but not yet returned as a reply.
    pub fn pending(&self) -> &[u8] {
        &self.buf
    }

    /// Takes the bytes received but not yet returned as a reply.
    pub fn take_pending(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// One command as a RESP multibulk.
pub fn encode(args: &[&[u8]]) -> Vec<u8> {
    keel_core::resp::encode_request(args)
}

/// `encode` over a command line split by `s()`.
pub fn encode_line(line: &str) -> Vec<u8> {
    let args = s(line);
    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    encode(&refs)
}

/// Splits a command line into arguments at whitespace. Like redis-cli, a token may be
/// double-quoted (`""` is the empty string, `"a b"` has a space) with the escapes
/// `\" \\ \n \r \t \xHH`.
pub fn s(line: &str) -> Vec<Vec<u8>> {
    let bytes = line.as_bytes();
    let mut args = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let mut arg = Vec::new();
        if bytes[i] == b'"' {
            i += 1;
            loop {
                assert!(i < bytes.len(), "unterminated quote in {line:?}");
                match bytes[i] {
                    b'"' => {
                        i += 1;
                        break;
                    }
                    b'\\' => {
                        let c = *bytes
                            .get(i + 1)
                            .unwrap_or_else(|| panic!("dangling \\ in {line:?}"));
                        match c {
                            b'n' => arg.push(b'\n'),
                            b'r' => arg.push(b'\r'),
                            b't' => arg.push(b'\t'),
                            b'x' => {
                                let hex =
                                    std::str::from_utf8(&bytes[i + 2..i + 4]).expect("hex escape");
                                arg.push(u8::from_str_radix(hex, 16).expect("hex escape"));
                                i += 2;
                            }
                            other => arg.push(other),
                        }
                        i += 2;
                    }
                    b => {
                        arg.push(b);
                        i += 1;
                    }
                }
            }
        } else {
            while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
                arg.push(bytes[i]);
                i += 1;
            }
        }
        args.push(arg);
    }
    args
}

/// Printable form of raw bytes: `\r`, `\n`, `\t`, `\\` and `\xHH` for the rest.
pub fn escape(bytes: &[u8]) -> String {
    const MAX: usize = 2000;
    let mut out = String::new();
    for &b in bytes.iter().take(MAX) {
        match b {
            b'\r' => out.push_str("\\r"),
            b'\n' => out.push_str("\\n"),
            b'\t' => out.push_str("\\t"),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    if bytes.len() > MAX {
        out.push_str(&format!("... ({} bytes in all)", bytes.len()));
    }
    out
}

/// The end (exclusive) of the one complete reply starting at `pos`, `Ok(None)` when more
/// bytes are needed, or an error for bytes that are not RESP (keel-core's decoder).
pub fn frame(buf: &[u8], pos: usize) -> Result<Option<usize>, String> {
    let Some(rest) = buf.get(pos..) else {
        return Ok(None);
    };
    match keel_core::resp::frame_len(rest) {
        Ok(len) => Ok(len.map(|n| pos + n)),
        Err(e) => Err(format!("{e} (from {pos})")),
    }
}

/// The elements of a top-level array or set reply, each as the raw bytes sent; None
/// for anything else.
pub fn array_elements(reply: &[u8]) -> Option<Vec<Vec<u8>>> {
    match keel_core::resp::element_frames(reply)? {
        (b'*' | b'~', items) => Some(items.into_iter().map(<[u8]>::to_vec).collect()),
        _ => None,
    }
}

/// A reply decoded into a `keel_core::resp::Value`; panics on anything but exactly one
/// complete reply.
pub fn decoded(reply: &[u8]) -> keel_core::resp::Value {
    match keel_core::resp::decode(reply) {
        Ok(Some((v, n))) if n == reply.len() => v,
        other => panic!("not one reply ({other:?}): {}", escape(reply)),
    }
}

/// An array reply with its elements sorted, for commands whose order is unspecified
/// (KEYS, SMEMBERS, ...); other replies come back unchanged.
pub fn sorted_reply(reply: &[u8]) -> Vec<u8> {
    match array_elements(reply) {
        Some(mut items) => {
            items.sort();
            let mut out = format!("{}{}\r\n", reply[0] as char, items.len()).into_bytes();
            for i in items {
                out.extend_from_slice(&i);
            }
            out
        }
        None => reply.to_vec(),
    }
}

#[cfg(test)]
mod framer_tests {
    use super::*;

    #[test]
    fn frames_nested_and_partial() {
        let r = b"*2\r\n$3\r\nfoo\r\n%1\r\n+a\r\n:1\r\nextra";
        assert_eq!(frame(r, 0).unwrap(), Some(r.len() - 5));
        assert_eq!(frame(b"*2\r\n$3\r\nfoo\r\n", 0).unwrap(), None);
        assert_eq!(frame(b"$-1\r\n", 0).unwrap(), Some(5));
        assert_eq!(frame(b"|1\r\n+k\r\n+v\r\n:5\r\n", 0).unwrap(), Some(16));
        assert_eq!(
            s(r#"SET "a b" "" x\x41"#),
            vec![
                b"SET".to_vec(),
                b"a b".to_vec(),
                b"".to_vec(),
                b"x\\x41".to_vec()
            ]
        );
        assert_eq!(s(r#"SET "\x41\"""#), vec![b"SET".to_vec(), b"A\"".to_vec()]);
        assert_eq!(
            sorted_reply(b"*2\r\n$1\r\nb\r\n$1\r\na\r\n"),
            b"*2\r\n$1\r\na\r\n$1\r\nb\r\n".to_vec()
        );
    }
}

/// How a differential script line's reply is compared.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Compare {
    Exact,
    /// `~ `: an array reply compared as a multiset (order unspecified).
    Unordered,
    /// `! `: run without comparing.
    Skip,
}

/// A script line: blank lines and `#` comments are None.
pub fn parse_line(line: &str) -> Option<(Compare, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    if let Some(rest) = line.strip_prefix("~ ") {
        return Some((Compare::Unordered, rest));
    }
    if let Some(rest) = line.strip_prefix("! ") {
        return Some((Compare::Skip, rest));
    }
    Some((Compare::Exact, line))
}

/// A redis-server and a keel, for differential tests.
pub struct Pair {
    pub redis: Server,
    pub keel: Server,
}

impl Pair {
    pub fn start() -> Pair {
        Pair {
            redis: Server::redis(&[]),
            keel: Server::keel(&[]),
        }
    }

    pub fn conns(&self) -> (Conn, Conn) {
        (self.redis.conn(), self.keel.conn())
    }

    pub fn flushall(&self, r: &mut Conn, k: &mut Conn) {
        assert_eq!(r.cmds("FLUSHALL"), b"+OK\r\n", "FLUSHALL on redis");
        assert_eq!(k.cmds("FLUSHALL"), b"+OK\r\n", "FLUSHALL on keel");
    }

    /// Fresh connections to both, after FLUSHALL.
    pub fn fresh(&self) -> (Conn, Conn) {
        let (mut r, mut k) = self.conns();
        self.flushall(&mut r, &mut k);
        (r, k)
    }
}

/// A reply compared as a multiset: arrays (and RESP3 maps, as their pairs) sorted.
pub fn unordered(reply: &[u8]) -> Vec<u8> {
    if let Some(parts) = array_elements(reply) {
        // A SCAN-shaped reply, [cursor, items]: the items as a multiset.
        if parts.len() == 2 && parts[0].first() == Some(&b'$') && parts[1].first() == Some(&b'*') {
            let mut out = reply[..reply.len() - parts[0].len() - parts[1].len()].to_vec();
            out.extend_from_slice(&parts[0]);
            out.extend_from_slice(&sorted_reply(&parts[1]));
            return out;
        }
    }
    if reply.first() != Some(&b'%') {
        return sorted_reply(reply);
    }
    // `%N` of pairs: sort the pairs.
    let Some(header_end) = reply.windows(2).position(|w| w == b"\r\n") else {
        return reply.to_vec();
    };
    let mut p = header_end + 2;
    let mut pairs = Vec::new();
    while p < reply.len() {
        let Ok(Some(a)) = frame(reply, p) else {
            return reply.to_vec();
        };
        let Ok(Some(b)) = frame(reply, a) else {
            return reply.to_vec();
        };
        pairs.push(reply[p..b].to_vec());
        p = b;
    }
    pairs.sort();
    let mut out = reply[..header_end + 2].to_vec();
    for pair in pairs {
        out.extend_from_slice(&pair);
    }
    out
}

/// `unordered`, also reaching into an HSCAN reply's item array (field/value pairs).
pub fn unordered_deep(reply: &[u8]) -> Vec<u8> {
    if let Some(parts) = array_elements(reply) {
        if parts.len() == 2 && parts[0].first() == Some(&b'$') {
            if let Some(items) = array_elements(&parts[1]) {
                let mut pairs: Vec<Vec<u8>> = items.chunks(2).map(|c| c.concat()).collect();
                pairs.sort();
                let mut out = reply[..reply.len() - parts[0].len() - parts[1].len()].to_vec();
                out.extend_from_slice(&parts[0]);
                out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
                for p in pairs {
                    out.extend_from_slice(&p);
                }
                return out;
            }
        }
    }
    unordered(reply)
}

/// A reply's shape, for commands whose picks are random: aggregate headers and simple
/// replies kept, bulk and double payloads dropped (a nil bulk kept as such).
pub fn shape(reply: &[u8]) -> Vec<u8> {
    use keel_core::resp::Value;
    fn walk(v: &Value, out: &mut Vec<u8>) {
        let mut header =
            |tag: char, n: usize| out.extend_from_slice(format!("{tag}{n};").as_bytes());
        match v {
            Value::Bulk(_) => out.extend_from_slice(b"$;"),
            Value::NullBulk => out.extend_from_slice(b"$-1;"),
            Value::Double(_) => out.extend_from_slice(b",;"),
            Value::Array(items) | Value::Set(items) | Value::Push(items) => {
                let tag = match v {
                    Value::Array(_) => '*',
                    Value::Set(_) => '~',
                    _ => '>',
                };
                header(tag, items.len());
                for i in items {
                    walk(i, out);
                }
            }
            Value::Map(pairs) | Value::Attribute { attrs: pairs, .. } => {
                header(
                    if matches!(v, Value::Map(_)) { '%' } else { '|' },
                    pairs.len(),
                );
                for (k, val) in pairs {
                    walk(k, out);
                    walk(val, out);
                }
                if let Value::Attribute { value, .. } = v {
                    walk(value, out);
                }
            }
            scalar => {
                let bytes = scalar.encode();
                out.extend_from_slice(bytes.strip_suffix(b"\r\n").unwrap_or(&bytes));
                out.push(b';');
            }
        }
    }
    let mut out = Vec::new();
    let mut p = 0;
    while p < reply.len() {
        match keel_core::resp::decode(&reply[p..]) {
            Ok(Some((v, n))) => {
                walk(&v, &mut out);
                p += n;
            }
            // Not RESP: kept whole, so both servers' bytes still compare.
            _ => {
                out.extend_from_slice(&reply[p..]);
                break;
            }
        }
    }
    out
}

// ---- generated command sequences ----

use proptest::prelude::{BoxedStrategy, Strategy};

/// One word from a fixed set.
pub fn pick(set: &'static [&'static str]) -> BoxedStrategy<String> {
    proptest::sample::select(set)
        .prop_map(str::to_string)
        .boxed()
}

pub fn words(parts: Vec<Vec<String>>) -> Vec<String> {
    parts.into_iter().flatten().collect()
}

pub fn one(w: &str) -> Vec<String> {
    vec![w.to_string()]
}

/// A command as a redis-cli line (empty arguments, and ones with spaces or control
/// bytes, quoted).
pub fn render(cmd: &[String]) -> String {
    cmd.iter()
        .map(|a| {
            if a.is_empty() || a.bytes().any(|b| !b.is_ascii_graphic()) {
                format!("{a:?}")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs generated cases on `pair` (`PROPTEST_CASES`, 64 by default). A case is
/// (setup lines, commands): on fresh connections both servers run the setup, then every
/// command, and the replies must be equal after `normalize(command, reply)` (the
/// identity, or a multiset/shape where Redis leaves the order or the pick open).
/// Panics with the minimal differing sequence proptest shrinks to.
pub fn run_generated(
    pair: &Pair,
    strategy: impl Strategy<Value = (Vec<String>, Vec<Vec<String>>)>,
    normalize: impl Fn(&[String], &[u8]) -> Vec<u8>,
) {
    run_generated_cases(pair, 64, strategy, normalize);
}

/// `run_generated` with `default_cases` when `PROPTEST_CASES` is not set.
pub fn run_generated_cases(
    pair: &Pair,
    default_cases: u32,
    strategy: impl Strategy<Value = (Vec<String>, Vec<Vec<String>>)>,
    normalize: impl Fn(&[String], &[u8]) -> Vec<u8>,
) {
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(default_cases);
    let config = Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    };
    let result = TestRunner::new(config).run(&strategy, |(setup, seq)| {
        run_case(pair, &setup, &seq, &normalize).map_err(TestCaseError::fail)
    });
    if let Err(e) = result {
        panic!("keel differs from redis (minimal sequence after shrinking):\n{e}");
    }
}

/// One case of `run_generated`: the first differing reply, with the whole sequence.
pub fn run_case(
    pair: &Pair,
    setup: &[String],
    seq: &[Vec<String>],
    normalize: impl Fn(&[String], &[u8]) -> Vec<u8>,
) -> Result<(), String> {
    let (mut r, mut k) = pair.fresh();
    for line in setup {
        r.cmds(line);
        k.cmds(line);
    }
    for (i, c) in seq.iter().enumerate() {
        let args: Vec<Vec<u8>> = c.iter().map(|a| a.clone().into_bytes()).collect();
        let want = r.cmdv(&args);
        let got = k.cmdv(&args);
        if normalize(c, &want) != normalize(c, &got) {
            let script: Vec<String> = seq.iter().map(|c| render(c)).collect();
            return Err(format!(
                "command {} of {}: {}\n  redis: {}\n  keel:  {}\n--- setup ---\n{}\n--- sequence ---\n{}",
                i + 1,
                seq.len(),
                render(c),
                escape(&want),
                escape(&got),
                setup.join("\n"),
                script.join("\n")
            ));
        }
    }
    Ok(())
}

// ---- numeric edge-case texts ----

/// Texts that stress every number parser Redis uses (strtod, strtold, string2ll):
/// decimal and hex floats of each shape strtod reads, long hex mantissas with huge
/// exponents either way, subnormals, values at DBL_MAX / DBL_MIN, inf / infinity /
/// nan in mixed case, signs, spaces, trailing garbage, NUL bytes, lone `0x` / `.` /
/// `e`, very long digit strings, and integers at and past the i64 range.
pub fn numeric_text() -> BoxedStrategy<String> {
    use proptest::prelude::*;
    let digits = |set: &'static str, max: usize| {
        proptest::collection::vec(proptest::sample::select(set.as_bytes().to_vec()), 0..max)
            .prop_map(|v| String::from_utf8(v).unwrap_or_default())
    };
    let exponent = || {
        prop_oneof![
            Just(String::new()),
            (
                pick(&["e", "E", "p", "P"]),
                pick(&["", "+", "-"]),
                pick(&[
                    "",
                    "0",
                    "1",
                    "5",
                    "16",
                    "308",
                    "309",
                    "324",
                    "1022",
                    "1023",
                    "1024",
                    "1074",
                    "1075",
                    "1076",
                    "1100",
                    "5000",
                    "99999",
                    "99999999999999999999",
                ]),
            )
                .prop_map(|(m, s, d)| format!("{m}{s}{d}")),
        ]
    };
    let decimal = (
        prop_oneof![
            digits("0123456789", 6),
            digits("0", 4),
            digits("0123456789", 40)
        ],
        pick(&["", "."]),
        prop_oneof![digits("0123456789", 6), digits("09", 30)],
        exponent(),
    )
        .prop_map(|(i, dot, f, e)| format!("{i}{dot}{f}{e}"));
    let hex = (
        pick(&["0x", "0X"]),
        prop_oneof![
            digits("0123456789abcdefABCDEF", 18),
            digits("0", 3),
            (1usize..400).prop_map(|n| "f".repeat(n)),
            (1usize..40).prop_map(|n| format!("1{}8", "0".repeat(n))),
        ],
        pick(&["", "."]),
        prop_oneof![digits("0123456789abcdef", 16), digits("08", 20)],
        exponent(),
    )
        .prop_map(|(x, i, dot, f, e)| format!("{x}{i}{dot}{f}{e}"));
    let words = pick(&[
        "inf",
        "INF",
        "Inf",
        "infinity",
        "InFiNiTy",
        "infinit",
        "infx",
        "nan",
        "NaN",
        "nan()",
        "nan(123)",
        "nan(abc_1)",
        "nan(",
        "nan(-)",
        "0x",
        "0X",
        ".",
        "e",
        "e5",
        "",
        "0x.",
        "0xp1",
        "0x0p",
        ".e1",
        "1e",
        "1e+",
        "1e-",
        "0x1p",
        "0x1p-",
    ]);
    let fixed = pick(&[
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.7976931348623159e308",
        "2.2250738585072014e-308",
        "2.2250738585072011e-308",
        "2.2250738585072012e-308",
        "4.9406564584124654e-324",
        "2.4703282292062327e-324",
        "2.4703282292062328e-324",
        "1e-310",
        "1e-400",
        "0e-400",
        "0x1p-1074",
        "0x1p-1075",
        "0x1.8p-1075",
        "0x1.fffffffffffffp1023",
        "0x1.fffffffffffff8p1023",
        "0x1.fffffffffffff8p-1023",
        "0x1.fffffffffffff7p-1023",
        "0x1.00000000000008p-1023",
        "0x1.00000000000018p-1023",
        "0x1.00000000000008p-1075",
        "0x1000000000p-1050",
        "0x1p-5000",
        "0x1p5000",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "-0",
        "+0",
        "00",
        "01",
        "+1",
        "0.0",
        "-0.0",
        "1.0",
        "1e3",
        "0x10",
        "3",
        "-3",
        "10",
    ]);
    let long_decimal = (1usize..900, pick(&["", "0.", "0.000", "1"]), exponent())
        .prop_map(|(n, head, e)| format!("{head}{}{e}", "123456789".repeat(n / 9 + 1)));
    let body = prop_oneof![
        3 => decimal,
        3 => hex,
        2 => words,
        3 => fixed,
        1 => long_decimal,
    ];
    (
        pick(&["", "", "", "", " ", "\t", "  "]),
        pick(&["", "", "", "-", "+"]),
        body,
        pick(&[
            "", "", "", "", "", " ", "x", "\0", "\0x", "e", ".", "junk", "p",
        ]),
    )
        .prop_map(|(space, sign, body, tail)| format!("{space}{sign}{body}{tail}"))
        .boxed()
}

/// A reply's bytes as text (lossy), for assertions and messages.
pub fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

/// One field of an INFO section that must be there.
pub fn info_field_present(c: &mut Conn, section: &str, name: &str) -> String {
    info_field(c, section, name).unwrap_or_else(|| panic!("no {name} in INFO {section}"))
}

/// One field of an INFO section, as the server printed it.
pub fn info_field(c: &mut Conn, section: &str, name: &str) -> Option<String> {
    let info = String::from_utf8_lossy(&c.cmds(&format!("INFO {section}"))).into_owned();
    info.split("\r\n")
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(str::to_string)
}

/// Polls `check` every 20 ms for up to 20 s; panics naming `what` after that.
pub fn wait_for(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if check() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("timed out waiting for {what}");
}
