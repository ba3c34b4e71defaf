//! keel-net: the production driver. One `mio` event loop owns the listening sockets,
//! the connections, the clocks and the signals; it hands bytes and time to a
//! `keel_core::Node` and executes the effects the node asks for, in order.
//!
//! It holds no protocol or data logic: everything it knows about Redis is which
//! socket options and buffer limits the node's config names.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keel_core::{ConnId, Effect, Input, LogLevel, Node, Now};
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// Bytes read from a socket per `read` call.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Tokens at and above this are listeners; connections use their id.
const LISTENER_TOKEN_BASE: usize = 1 << 60;
const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);
/// How often the driver refreshes process facts (RSS, CPU) for INFO.
const PROCESS_STATS_PERIOD: Duration = Duration::from_millis(1000);

struct Conn {
    stream: TcpStream,
    /// Output the node sent that the socket has not taken yet, as the node's own
    /// buffers (no copy); the socket has taken `front_written_bytes` of the first.
    pending: VecDeque<Vec<u8>>,
    front_written_bytes: usize,
    /// Bytes in `pending` not yet written.
    pending_bytes: usize,
    /// Close once `pending` is flushed.
    closing: bool,
    writable_registered: bool,
    /// Listed in `Reactor::dirty`: output waits for the end of this loop iteration.
    dirty: bool,
}

/// Buffers handed to one `writev`.
const WRITEV_MAX_BUFFERS: usize = 64;

/// Writes the start of `pending` with one `writev`: returns the bytes written.
fn write_pending(
    stream: &mut TcpStream,
    pending: &VecDeque<Vec<u8>>,
    front_written_bytes: usize,
) -> io::Result<usize> {
    let mut slices: [io::IoSlice<'_>; WRITEV_MAX_BUFFERS] =
        [io::IoSlice::new(&[]); WRITEV_MAX_BUFFERS];
    let mut count = 0;
    for (i, buf) in pending.iter().take(WRITEV_MAX_BUFFERS).enumerate() {
        let part = if i == 0 {
            buf.get(front_written_bytes..).unwrap_or_default()
        } else {
            buf
        };
        if let Some(slot) = slices.get_mut(count) {
            *slot = io::IoSlice::new(part);
            count += 1;
        }
    }
    stream.write_vectored(slices.get(..count).unwrap_or_default())
}

/// The driver's clock: monotonic ms since start and unix ms.
pub struct Clock {
    start: Instant,
}

impl Clock {
    pub fn new() -> Self {
        Clock {
            start: Instant::now(),
        }
    }

    pub fn now(&self) -> Now {
        let mono_ms = self.start.elapsed().as_millis() as u64;
        let wall_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        Now { mono_ms, wall_ms }
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

fn set_keepalive(stream: &TcpStream, secs: u64) {
    use std::os::fd::AsRawFd;
    if secs == 0 {
        return;
    }
    let fd = stream.as_raw_fd();
    let on: libc::c_int = 1;
    let idle = secs.min(i32::MAX as u64) as libc::c_int;
    let interval = (idle / 3).max(1);
    let count: libc::c_int = 3;
    let size = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: fd is a live socket owned by `stream`; each option value points at a
    // c_int that outlives the call, with its size passed alongside.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_KEEPALIVE,
            &on as *const _ as *const libc::c_void,
            size,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPIDLE,
            &idle as *const _ as *const libc::c_void,
            size,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPINTVL,
            &interval as *const _ as *const libc::c_void,
            size,
        );
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_KEEPCNT,
            &count as *const _ as *const libc::c_void,
            size,
        );
    }
}

/// Resident set size from /proc/self/statm, in bytes.
pub fn process_rss_bytes() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * page.max(4096) as u64)
}

fn cpu_times_secs() -> (f64, f64) {
    // SAFETY: getrusage writes into the zeroed struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (tv(usage.ru_utime), tv(usage.ru_stime))
}

pub struct Reactor {
    poll: Poll,
    listeners: Vec<TcpListener>,
    conns: HashMap<ConnId, Conn>,
    next_conn_id: ConnId,
    node: Node,
    clock: Clock,
    read_buf: Vec<u8>,
    exit_code: Option<i32>,
    signals: Option<signal_hook_mio::v1_0::Signals>,
    last_process_stats: Option<Instant>,
    process_template: keel_core::ProcessInfo,
    /// The time read once per loop iteration, after `poll` returns: every input of one
    /// wakeup carries it (Redis likewise snapshots its clock per command batch).
    now: Now,
    /// The lazyfree thread (Redis's bio lazyfree): big values and flushed databases
    /// are dropped there, never on the event loop. Started on first use.
    lazyfree: Option<std::sync::mpsc::Sender<Box<dyn std::any::Any + Send>>>,
    /// Connections with output queued during this loop iteration, written once at its
    /// end (Redis's `handleClientsWithPendingWrites`): a subscriber that gets many
    /// messages in one wakeup gets one write, not one per message.
    dirty: Vec<ConnId>,
}

impl Reactor {
    /// Binds every address (Redis's `bind` list on `port`) and registers signal handling.
    pub fn bind(node: Node, clock: Clock, addrs: &[SocketAddr]) -> io::Result<Reactor> {
        let poll = Poll::new()?;
        let mut listeners = Vec::new();
        for (i, addr) in addrs.iter().enumerate() {
            let mut l = match TcpListener::bind(*addr) {
                Ok(l) => l,
                Err(e) if addrs.len() > 1 && e.kind() == io::ErrorKind::AddrNotAvailable => {
                    tracing::warn!("Could not create server TCP listening socket {addr}: {e}");
                    continue;
                }
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        format!("Could not create server TCP listening socket {addr}: {e}"),
                    ))
                }
            };
            poll.registry()
                .register(&mut l, Token(LISTENER_TOKEN_BASE + i), Interest::READABLE)?;
            listeners.push(l);
        }
        if listeners.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "Failed listening on any address",
            ));
        }
        let mut signals =
            signal_hook_mio::v1_0::Signals::new([libc::SIGINT, libc::SIGTERM, libc::SIGHUP])?;
        poll.registry()
            .register(&mut signals, SIGNAL_TOKEN, Interest::READABLE)?;
        Ok(Reactor {
            poll,
            listeners,
            conns: HashMap::new(),
            next_conn_id: 1,
            node,
            clock,
            read_buf: vec![0u8; READ_CHUNK_BYTES],
            exit_code: None,
            signals: Some(signals),
            last_process_stats: None,
            process_template: keel_core::ProcessInfo::default(),
            now: Now::default(),
            lazyfree: None,
            dirty: Vec::new(),
        })
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Facts about the process (pid, executable, config file) that INFO reports.
    pub fn set_process_info(&mut self, info: keel_core::ProcessInfo) {
        self.process_template = info.clone();
        self.node.set_process_info(info);
    }

    pub fn node_mut(&mut self) -> &mut Node {
        &mut self.node
    }

    /// Runs until SHUTDOWN or a signal; returns the process exit code.
    pub fn run(&mut self) -> io::Result<i32> {
        let mut events = Events::with_capacity(1024);
        loop {
            let now = self.clock.now();
            let deadline = self.node.next_deadline();
            let timeout = Duration::from_millis(deadline.saturating_sub(now.mono_ms));
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            self.now = self.clock.now();
            for event in events.iter() {
                let token = event.token();
                if token == SIGNAL_TOKEN {
                    self.on_signal();
                } else if token.0 >= LISTENER_TOKEN_BASE {
                    self.accept(token.0 - LISTENER_TOKEN_BASE);
                } else {
                    let conn = token.0 as ConnId;
                    if event.is_readable() || event.is_read_closed() || event.is_error() {
                        // With the peer's FIN already in, read on until the EOF.
                        let to_eof = event.is_read_closed() || event.is_error();
                        self.read(conn, to_eof);
                    }
                    if event.is_writable() {
                        self.flush(conn);
                    }
                }
                if self.exit_code.is_some() {
                    break;
                }
            }
            let now = self.clock.now();
            if now.mono_ms >= self.node.next_deadline() {
                self.refresh_process_stats();
                self.node.handle(now, Input::Tick);
                self.execute_effects();
            }
            self.flush_dirty();
            if let Some(code) = self.exit_code {
                self.flush_all_best_effort();
                return Ok(code);
            }
        }
    }

    fn on_signal(&mut self) {
        let Some(signals) = self.signals.as_mut() else {
            return;
        };
        let received: Vec<i32> = signals.pending().collect();
        for sig in received {
            if sig == libc::SIGHUP {
                // Redis ignores SIGHUP (SIG_IGN at startup). Without a handler the
                // default action would kill the process and leave the pidfile behind.
                // Config reload on SIGHUP belongs to CONFIG REWRITE/hot reload.
                tracing::info!("Received SIGHUP, ignoring it as Redis does");
                continue;
            }
            let name = if sig == libc::SIGINT {
                "SIGINT"
            } else {
                "SIGTERM"
            };
            tracing::warn!("Received {name} scheduling shutdown...");
            tracing::warn!("User requested shutdown...");
            tracing::warn!("Redis is now ready to exit, bye bye...");
            self.exit_code = Some(0);
        }
    }

    fn refresh_process_stats(&mut self) {
        let due = self
            .last_process_stats
            .is_none_or(|t| t.elapsed() >= PROCESS_STATS_PERIOD);
        if !due {
            return;
        }
        self.last_process_stats = Some(Instant::now());
        if let Some(rss) = process_rss_bytes() {
            self.node.set_rss_bytes(rss);
        }
        let (user, sys) = cpu_times_secs();
        let mut info = self.node_process_info();
        info.cpu_user_secs = user;
        info.cpu_sys_secs = sys;
        self.node.set_process_info(info);
    }

    fn node_process_info(&self) -> keel_core::ProcessInfo {
        self.process_template.clone()
    }

    fn accept(&mut self, index: usize) {
        loop {
            let Some(listener) = self.listeners.get(index) else {
                return;
            };
            let (mut stream, peer) = match listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    tracing::warn!("Accepting client connection: {e}");
                    return;
                }
            };
            let id = self.next_conn_id;
            self.next_conn_id += 1;
            let _ = stream.set_nodelay(true);
            set_keepalive(&stream, self.node.config().tcp_keepalive_secs());
            if self
                .poll
                .registry()
                .register(&mut stream, Token(id as usize), Interest::READABLE)
                .is_err()
            {
                continue;
            }
            let local = stream
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            self.conns.insert(
                id,
                Conn {
                    stream,
                    pending: VecDeque::new(),
                    front_written_bytes: 0,
                    pending_bytes: 0,
                    closing: false,
                    writable_registered: false,
                    dirty: false,
                },
            );
            let now = self.now;
            let input = Input::Accepted {
                conn: id,
                listener: keel_core::Listener::Client,
                peer: peer.to_string(),
                local,
                peer_is_loopback: peer.ip().is_loopback(),
            };
            self.node.handle(now, input);
            self.execute_effects();
        }
    }

    fn read(&mut self, id: ConnId, to_eof: bool) {
        loop {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            if conn.closing {
                return;
            }
            match conn.stream.read(&mut self.read_buf) {
                Ok(0) => {
                    // The peer half-closed: what it asked for so far still gets its
                    // replies (best effort) before the connection goes.
                    self.flush(id);
                    self.drop_conn(id);
                    let now = self.now;
                    self.node.handle(
                        now,
                        Input::Closed {
                            conn: id,
                            reason: keel_core::CloseReason::Dropped,
                        },
                    );
                    self.execute_effects();
                    return;
                }
                Ok(n) => {
                    let now = self.now;
                    let bytes = &self.read_buf[..n];
                    self.node.handle(now, Input::Data { conn: id, bytes });
                    self.execute_effects();
                    if n < self.read_buf.len() && !to_eof {
                        // A short read drained the socket; epoll (edge-triggered) wakes us
                        // again for any byte that arrives after it, so skip the extra read
                        // that would only say WouldBlock.
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.drop_conn(id);
                    let now = self.now;
                    self.node.handle(
                        now,
                        Input::Closed {
                            conn: id,
                            reason: keel_core::CloseReason::Dropped,
                        },
                    );
                    self.execute_effects();
                    return;
                }
            }
        }
    }

    fn execute_effects(&mut self) {
        while let Some(effect) = self.node.poll_effect() {
            match effect {
                Effect::Send { conn, bytes } => self.send(conn, bytes),
                Effect::Close { conn } => {
                    let flushed = self.conns.get(&conn).is_some_and(|c| c.pending_bytes == 0);
                    if flushed {
                        self.drop_conn(conn);
                    } else if let Some(c) = self.conns.get_mut(&conn) {
                        c.closing = true;
                    }
                }
                // Over its output limit: the node already forgot it; what it did not
                // read is dropped with the socket.
                Effect::Abort { conn } => self.drop_conn(conn),
                Effect::Shutdown { exit_code } => self.exit_code = Some(exit_code),
                Effect::Sleep { ms } => std::thread::sleep(Duration::from_millis(ms)),
                Effect::Log { level, message } => match level {
                    LogLevel::Debug => tracing::debug!("{message}"),
                    LogLevel::Verbose => tracing::debug!("{message}"),
                    LogLevel::Notice => tracing::info!("{message}"),
                    LogLevel::Warning => tracing::warn!("{message}"),
                },
                Effect::Free { garbage } => self.free_off_loop(garbage),
                Effect::Connect { conn, addr } => {
                    tracing::warn!(
                        "outbound connection {conn} to {addr} asked for; not supported yet"
                    );
                }
                Effect::Disk { io, op } => {
                    tracing::warn!(
                        "disk operation {} ({op:?}) asked for; not supported yet",
                        io.0
                    );
                }
            }
        }
    }

    /// Hands memory to the lazyfree thread; drops it here only if that thread could
    /// not be started.
    fn free_off_loop(&mut self, garbage: Box<dyn std::any::Any + Send>) {
        if self.lazyfree.is_none() {
            let (tx, rx) = std::sync::mpsc::channel::<Box<dyn std::any::Any + Send>>();
            let spawned = std::thread::Builder::new()
                .name("lazyfree".into())
                .spawn(move || {
                    while let Ok(g) = rx.recv() {
                        drop(g);
                    }
                });
            match spawned {
                Ok(_) => self.lazyfree = Some(tx),
                Err(e) => tracing::warn!("could not start the lazyfree thread: {e}"),
            }
        }
        if let Some(tx) = &self.lazyfree {
            if let Err(std::sync::mpsc::SendError(g)) = tx.send(garbage) {
                drop(g);
            }
        }
    }

    fn send(&mut self, id: ConnId, bytes: Vec<u8>) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if bytes.is_empty() {
            return;
        }
        conn.pending_bytes += bytes.len();
        conn.pending.push_back(bytes);
        if !conn.dirty {
            conn.dirty = true;
            self.dirty.push(id);
        }
    }

    /// Writes the output queued during this loop iteration.
    fn flush_dirty(&mut self) {
        let dirty = std::mem::take(&mut self.dirty);
        for id in &dirty {
            if let Some(conn) = self.conns.get_mut(id) {
                conn.dirty = false;
                self.flush(*id);
            }
        }
        // Keep the allocation for the next iteration.
        self.dirty = dirty;
        self.dirty.clear();
    }

    /// Writes what the socket takes of a connection's pending output and tells the
    /// node how much it took (the node enforces `client-output-buffer-limit` on what
    /// is left). Each buffer is written from a cursor and dropped whole once written:
    /// nothing is moved, however big the output.
    fn flush(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        let mut written_bytes = 0usize;
        let mut failed = false;
        while conn.pending_bytes > 0 {
            match write_pending(&mut conn.stream, &conn.pending, conn.front_written_bytes) {
                Ok(0) => break,
                Ok(mut n) => {
                    written_bytes += n;
                    conn.pending_bytes -= n;
                    while let Some(front) = conn.pending.front() {
                        let left = front.len() - conn.front_written_bytes;
                        if n < left {
                            conn.front_written_bytes += n;
                            break;
                        }
                        n -= left;
                        conn.front_written_bytes = 0;
                        conn.pending.pop_front();
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        let done = conn.pending_bytes == 0;
        let drop_now = failed || (done && conn.closing);
        if !drop_now {
            let want_writable = !done;
            if want_writable != conn.writable_registered {
                let interest = if want_writable {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                let _ =
                    self.poll
                        .registry()
                        .reregister(&mut conn.stream, Token(id as usize), interest);
                conn.writable_registered = want_writable;
            }
        }
        let now = self.now;
        if written_bytes > 0 {
            self.node.handle(
                now,
                Input::Written {
                    conn: id,
                    bytes: written_bytes,
                },
            );
        }
        if failed {
            self.drop_conn(id);
            self.node.handle(
                now,
                Input::Closed {
                    conn: id,
                    reason: keel_core::CloseReason::Dropped,
                },
            );
        } else if drop_now {
            self.drop_conn(id);
        }
    }

    fn drop_conn(&mut self, id: ConnId) {
        if let Some(mut conn) = self.conns.remove(&id) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
        }
    }

    fn flush_all_best_effort(&mut self) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in ids {
            self.flush(id);
        }
    }
}
