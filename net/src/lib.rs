//! keel-net: the production driver. One `mio` event loop owns the listening sockets,
//! the connections (accepted and outbound), the clocks and the signals; a disk thread
//! ([`disk`]) runs file operations off the loop. It hands what happens to a
//! `keel_core::Node` and executes the effects the node asks for, in order.
//!
//! It holds no protocol or data logic: everything it knows about Redis is which
//! socket options and buffer limits the node's config names. It decides nothing the
//! node could decide (what a signal means, what a failed write means).

pub mod disk;
pub mod log;

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use keel_core::io::OUTBOUND_CONN_ID_BASE;
use keel_core::{
    CloseReason, ConnId, DiskError, DiskOp, DiskResult, Effect, Input, IoId, LogLevel, Node, Now,
    Signal,
};
use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

use crate::disk::{Completion, DiskWorker};

/// Bytes read from a socket per `read` call.
const READ_CHUNK_BYTES: usize = 64 * 1024;
/// Tokens at and above this are listeners; connections get theirs from [`TokenTable`].
const LISTENER_TOKEN_BASE: usize = 1 << 60;
const SIGNAL_TOKEN: Token = Token(usize::MAX - 1);
/// The disk thread's waker: completions are waiting.
const DISK_TOKEN: Token = Token(usize::MAX - 2);
/// How often the driver refreshes process facts (RSS, CPU) for INFO.
const PROCESS_STATS_PERIOD: Duration = Duration::from_millis(1000);
/// Rounds of "deliver deferred inputs, flush output" per loop iteration; what is left
/// after them waits for the next iteration, which then does not sleep.
const SETTLE_ROUNDS_MAX: usize = 64;

/// Connection tokens: the slot index in the low 32 bits, the slot's generation above
/// them, so an event still queued for a dropped connection never reaches the one that
/// reuses its slot. Generations wrap below `LISTENER_TOKEN_BASE`.
const TOKEN_INDEX_BITS: u32 = 32;
const TOKEN_GENERATION_MASK: u32 = (1 << 27) - 1;

#[derive(Clone, Copy)]
struct TokenSlot {
    generation: u32,
    conn: Option<ConnId>,
}

/// mio tokens for connections, apart from their ids: accepted ids are the driver's and
/// outbound ids the node's (from `OUTBOUND_CONN_ID_BASE`), and neither is a token.
#[derive(Default)]
struct TokenTable {
    slots: Vec<TokenSlot>,
    free: Vec<u32>,
}

impl TokenTable {
    fn insert(&mut self, conn: ConnId) -> Option<Token> {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                let index = u32::try_from(self.slots.len()).ok()?;
                self.slots.push(TokenSlot {
                    generation: 0,
                    conn: None,
                });
                index
            }
        };
        let slot = self.slots.get_mut(index as usize)?;
        slot.conn = Some(conn);
        Some(Token(
            ((slot.generation as usize) << TOKEN_INDEX_BITS) | index as usize,
        ))
    }

    fn get(&self, token: Token) -> Option<ConnId> {
        let index = token.0 & ((1usize << TOKEN_INDEX_BITS) - 1);
        let generation = token.0 >> TOKEN_INDEX_BITS;
        let slot = self.slots.get(index)?;
        if slot.generation as usize != generation {
            return None;
        }
        slot.conn
    }

    fn remove(&mut self, token: Token) {
        let index = token.0 & ((1usize << TOKEN_INDEX_BITS) - 1);
        if self.get(token).is_none() {
            return;
        }
        if let Some(slot) = self.slots.get_mut(index) {
            slot.conn = None;
            slot.generation = (slot.generation + 1) & TOKEN_GENERATION_MASK;
            self.free.push(index as u32);
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ConnState {
    /// An outbound connection whose non-blocking connect has not finished.
    Connecting,
    Open,
}

struct Conn {
    stream: TcpStream,
    token: Token,
    state: ConnState,
    /// Output the node sent that the socket has not taken yet, as the node's own
    /// buffers (no copy); the socket has taken `front_written_bytes` of the first.
    pending: VecDeque<Vec<u8>>,
    front_written_bytes: usize,
    /// Bytes in `pending` not yet written.
    pending_bytes: usize,
    /// The node closed it (`Close`): flush `pending`, read nothing more, and tell the
    /// node nothing more about it.
    closing: bool,
    writable_registered: bool,
    /// Listed in `Reactor::dirty`: output waits for the end of this loop iteration.
    dirty: bool,
}

impl Conn {
    fn new(stream: TcpStream, token: Token, state: ConnState) -> Conn {
        Conn {
            stream,
            token,
            state,
            pending: VecDeque::new(),
            front_written_bytes: 0,
            pending_bytes: 0,
            closing: false,
            // A connecting socket waits for writability (the connect's end).
            writable_registered: state == ConnState::Connecting,
            dirty: false,
        }
    }
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

/// The clock the node times commands with (SLOWLOG, LATENCY, INFO commandstats): read
/// once or twice per command, so it must be cheap. Where the kernel itself keeps time
/// by the TSC (its clocksource is `tsc`: invariant, synchronised across CPUs) it reads
/// the TSC (~10 ns, against ~30 ns for `clock_gettime`), calibrated against `Instant`
/// at start; elsewhere it reads `Instant`. Redis offers the same choice
/// (`USE_PROCESSOR_CLOCK`).
pub struct MonotonicCommandClock {
    source: CommandClockSource,
}

enum CommandClockSource {
    Instant(Instant),
    #[cfg(target_arch = "x86_64")]
    Tsc {
        start_ticks: u64,
        /// Microseconds per tick in 32.32 fixed point.
        micros_per_tick_q32: u64,
    },
}

impl MonotonicCommandClock {
    pub fn new() -> Self {
        MonotonicCommandClock {
            source: Self::tsc().unwrap_or(CommandClockSource::Instant(Instant::now())),
        }
    }

    /// The TSC source, when the kernel trusts the TSC; calibrated over 2 ms.
    #[cfg(target_arch = "x86_64")]
    fn tsc() -> Option<CommandClockSource> {
        let source = std::fs::read_to_string(
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
        )
        .ok()?;
        if source.trim() != "tsc" {
            return None;
        }
        let (t0, c0) = (Instant::now(), rdtsc());
        while t0.elapsed() < Duration::from_millis(2) {
            std::hint::spin_loop();
        }
        let (elapsed, c1) = (t0.elapsed(), rdtsc());
        let ticks = c1.checked_sub(c0).filter(|t| *t > 0)?;
        let micros_per_tick = elapsed.as_nanos() as f64 / 1000.0 / ticks as f64;
        // Anything from 100 MHz to 10 GHz is a TSC; outside, distrust it.
        if !(1e-4..=1e-2).contains(&micros_per_tick) {
            return None;
        }
        Some(CommandClockSource::Tsc {
            start_ticks: c0,
            micros_per_tick_q32: (micros_per_tick * (1u64 << 32) as f64) as u64,
        })
    }

    #[cfg(not(target_arch = "x86_64"))]
    fn tsc() -> Option<CommandClockSource> {
        None
    }
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn rdtsc() -> u64 {
    // SAFETY: RDTSC has no preconditions on x86_64; it only reads a counter.
    #[allow(unused_unsafe)]
    unsafe {
        std::arch::x86_64::_rdtsc()
    }
}

impl Default for MonotonicCommandClock {
    fn default() -> Self {
        Self::new()
    }
}

impl keel_core::io::CommandClock for MonotonicCommandClock {
    #[inline]
    fn now_micros(&mut self) -> u64 {
        match &self.source {
            CommandClockSource::Instant(start) => start.elapsed().as_micros() as u64,
            #[cfg(target_arch = "x86_64")]
            CommandClockSource::Tsc {
                start_ticks,
                micros_per_tick_q32,
            } => {
                let ticks = rdtsc().wrapping_sub(*start_ticks);
                ((u128::from(ticks) * u128::from(*micros_per_tick_q32)) >> 32) as u64
            }
        }
    }
}

/// The machine's physical memory (INFO total_system_memory); 0 when unknown.
pub fn total_system_memory_bytes() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    if pages <= 0 || page <= 0 {
        return 0;
    }
    (pages as u64).saturating_mul(page as u64)
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

/// Redis's words for a listener it could not open (`anetTcpServer`'s error): the
/// address as `ip:port` and the bare `strerror` text.
fn listen_failure(addr: &SocketAddr, e: &io::Error) -> String {
    let text = e.to_string();
    // std appends " (os error N)" to strerror's text; Redis prints strerror alone.
    let strerror = match text.rfind(" (os error ") {
        Some(at) if e.raw_os_error().is_some() => &text[..at],
        _ => &text,
    };
    format!(
        "Warning: Could not create server TCP listening socket {}:{}: bind: {strerror}",
        addr.ip(),
        addr.port()
    )
}

/// Opens and registers a listener on each address (`optional` ones that are not
/// available are skipped with Redis's warning), with `backlog` (`tcp-backlog`).
/// Fails if one that is not optional cannot be opened, or none was.
fn open_listeners(
    poll: &Poll,
    addrs: &[(SocketAddr, bool)],
    backlog: u32,
) -> io::Result<Vec<TcpListener>> {
    let mut listeners = Vec::new();
    for &(addr, optional) in addrs {
        let mut l = match TcpListener::bind(addr) {
            Ok(l) => l,
            Err(e) if optional && e.kind() == io::ErrorKind::AddrNotAvailable => {
                tracing::warn!("{}", listen_failure(&addr, &e));
                continue;
            }
            Err(e) => {
                let text = listen_failure(&addr, &e);
                for mut open in listeners {
                    let _ = poll.registry().deregister(&mut open);
                }
                return Err(io::Error::new(e.kind(), text));
            }
        };
        // mio listens with a backlog of 1024; listen(2) again sets Redis's.
        use std::os::fd::AsRawFd;
        let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
        // SAFETY: a listening socket we own; listen only changes its backlog.
        unsafe { libc::listen(l.as_raw_fd(), backlog) };
        poll.registry().register(
            &mut l,
            Token(LISTENER_TOKEN_BASE + listeners.len()),
            Interest::READABLE,
        )?;
        listeners.push(l);
    }
    if listeners.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::AddrNotAvailable,
            "Failed listening on any address",
        ));
    }
    Ok(listeners)
}

/// The node the reactor drives. In unit tests a script can stand in for it, so the
/// reactor's side of the contract is checked against inputs the node never asks for
/// yet (outbound connections, disk operations).
struct Driven {
    node: Node,
    #[cfg(test)]
    script: Option<tests::Script>,
    #[cfg(test)]
    scripted: VecDeque<Effect>,
}

impl Driven {
    #[inline]
    fn handle(&mut self, now: Now, input: Input<'_>) {
        #[cfg(test)]
        if let Some(script) = self.script.as_mut() {
            self.scripted.extend(script(&input));
            // The node keeps its timers (the loop sleeps until its next deadline).
            if let Input::Tick = input {
                self.node.handle(now, input);
            }
            return;
        }
        self.node.handle(now, input);
    }

    #[inline]
    fn poll_effect(&mut self) -> Option<Effect> {
        #[cfg(test)]
        if let Some(effect) = self.scripted.pop_front() {
            return Some(effect);
        }
        self.node.poll_effect()
    }
}

pub struct Reactor {
    poll: Poll,
    listeners: Vec<TcpListener>,
    conns: HashMap<ConnId, Conn>,
    tokens: TokenTable,
    next_conn_id: ConnId,
    driven: Driven,
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
    /// The disk thread, started by the first disk operation.
    disk: Option<DiskWorker>,
    /// Completions taken from the disk thread, kept for its allocation.
    disk_completions: Vec<Completion>,
    /// Inputs found while executing effects or flushing (a connect that failed at
    /// once, a connection lost on write), delivered after: handing them to the node
    /// from inside those would interleave its effects with the ones being executed.
    deferred: VecDeque<Input<'static>>,
    /// Connections with output queued during this loop iteration, written once at its
    /// end (Redis's `handleClientsWithPendingWrites`): a subscriber that gets many
    /// messages in one wakeup gets one write, not one per message.
    dirty: Vec<ConnId>,
    /// Executing the effects of a signal (see [`Reactor::log`]).
    answering_signal: bool,
    /// What MEMORY PURGE runs: the binary knows its allocator, this crate does not.
    purge_memory: Option<Box<dyn FnMut()>>,
}

impl Reactor {
    /// Binds every address (Redis's `bind` list on `port`) and registers signal handling.
    pub fn bind(mut node: Node, clock: Clock, addrs: &[SocketAddr]) -> io::Result<Reactor> {
        node.set_command_clock(Box::new(MonotonicCommandClock::new()));
        let poll = Poll::new()?;
        let backlog = node.config().settings().tcp_backlog;
        let optional = addrs.len() > 1;
        let wanted: Vec<(SocketAddr, bool)> = addrs.iter().map(|a| (*a, optional)).collect();
        let listeners = open_listeners(&poll, &wanted, backlog)?;
        let mut signals =
            signal_hook_mio::v1_0::Signals::new([libc::SIGINT, libc::SIGTERM, libc::SIGHUP])?;
        poll.registry()
            .register(&mut signals, SIGNAL_TOKEN, Interest::READABLE)?;
        Ok(Reactor {
            poll,
            listeners,
            conns: HashMap::new(),
            tokens: TokenTable::default(),
            next_conn_id: 1,
            driven: Driven {
                node,
                #[cfg(test)]
                script: None,
                #[cfg(test)]
                scripted: VecDeque::new(),
            },
            clock,
            read_buf: vec![0u8; READ_CHUNK_BYTES],
            exit_code: None,
            signals: Some(signals),
            last_process_stats: None,
            process_template: keel_core::ProcessInfo::default(),
            now: Now::default(),
            lazyfree: None,
            disk: None,
            disk_completions: Vec::new(),
            deferred: VecDeque::new(),
            dirty: Vec::new(),
            answering_signal: false,
            purge_memory: None,
        })
    }

    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// Facts about the process (pid, executable, config file) that INFO reports.
    /// Sets what MEMORY PURGE runs (e.g. `malloc_trim`); without one it does nothing.
    pub fn set_memory_purge(&mut self, purge: Box<dyn FnMut()>) {
        self.purge_memory = Some(purge);
    }

    pub fn set_process_info(&mut self, info: keel_core::ProcessInfo) {
        self.process_template = info.clone();
        self.driven.node.set_process_info(info);
    }

    /// Starts loading the dataset (`Node::boot`) on the reactor's clock; the disk
    /// reads run once the loop turns. True when a load started.
    pub fn boot(&mut self, seeds: keel_core::keyspace::HashSeeds) -> bool {
        let now = self.clock.now();
        self.driven.node.boot(now, seeds)
    }

    pub fn node_mut(&mut self) -> &mut Node {
        &mut self.driven.node
    }

    /// Runs until the node asks to shut down (SHUTDOWN, a signal); returns the exit code.
    pub fn run(&mut self) -> io::Result<i32> {
        let mut events = Events::with_capacity(1024);
        loop {
            if let Some(code) = self.turn(&mut events, None)? {
                return Ok(code);
            }
        }
    }

    /// One loop iteration: waits for events until the node's next deadline (or
    /// `max_wait`), hands them to the node, runs its timers, flushes output. Returns
    /// the exit code once the node asked to shut down (and the driver has).
    fn turn(&mut self, events: &mut Events, max_wait: Option<Duration>) -> io::Result<Option<i32>> {
        let now = self.clock.now();
        let deadline = self.driven.node.next_deadline();
        let mut timeout = Duration::from_millis(deadline.saturating_sub(now.mono_ms));
        if let Some(max_wait) = max_wait {
            timeout = timeout.min(max_wait);
        }
        if !self.deferred.is_empty() || !self.dirty.is_empty() {
            timeout = Duration::ZERO;
        }
        if let Err(e) = self.poll.poll(events, Some(timeout)) {
            if e.kind() == io::ErrorKind::Interrupted {
                return Ok(None);
            }
            return Err(e);
        }
        self.now = self.clock.now();
        for event in events.iter() {
            let token = event.token();
            if token == SIGNAL_TOKEN {
                self.on_signals();
            } else if token == DISK_TOKEN {
                self.on_disk_completions();
            } else if token.0 >= LISTENER_TOKEN_BASE {
                self.accept(token.0 - LISTENER_TOKEN_BASE);
            } else if let Some(conn) = self.tokens.get(token) {
                self.on_conn_event(conn, event);
            }
            if self.exit_code.is_some() {
                break;
            }
        }
        let now = self.clock.now();
        if self.exit_code.is_none() && now.mono_ms >= self.driven.node.next_deadline() {
            self.refresh_process_stats();
            self.now = now;
            self.driven.handle(now, Input::Tick);
            self.execute_effects();
        }
        self.settle();
        if let Some(code) = self.exit_code {
            self.shut_down();
            return Ok(Some(code));
        }
        Ok(None)
    }

    /// Delivers the deferred inputs and writes the output queued, until neither is
    /// left (or for a bounded number of rounds).
    fn settle(&mut self) {
        for _ in 0..SETTLE_ROUNDS_MAX {
            while let Some(input) = self.deferred.pop_front() {
                let now = self.now;
                self.driven.handle(now, input);
                self.execute_effects();
            }
            self.flush_dirty();
            if self.deferred.is_empty() && self.dirty.is_empty() {
                return;
            }
        }
    }

    /// Passes the signals on to the node, which decides what they mean.
    fn on_signals(&mut self) {
        let Some(signals) = self.signals.as_mut() else {
            return;
        };
        let received: Vec<i32> = signals.pending().collect();
        for number in received {
            let signal = match number {
                libc::SIGINT => Signal::Interrupt,
                libc::SIGHUP => Signal::Hangup,
                _ => Signal::Terminate,
            };
            let now = self.now;
            self.driven.handle(now, Input::Signal(signal));
            self.answering_signal = true;
            self.execute_effects();
            self.answering_signal = false;
        }
    }

    fn on_disk_completions(&mut self) {
        let Some(disk) = &self.disk else {
            return;
        };
        let mut completions = std::mem::take(&mut self.disk_completions);
        disk.drain(&mut completions);
        for Completion {
            io,
            result,
            elapsed_us,
        } in completions.drain(..)
        {
            let now = self.now;
            self.driven.handle(
                now,
                Input::Disk {
                    io,
                    result,
                    elapsed_us,
                },
            );
            self.execute_effects();
        }
        self.disk_completions = completions;
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
            self.driven.node.set_rss_bytes(rss);
        }
        let (user, sys) = cpu_times_secs();
        let mut info = self.process_template.clone();
        info.cpu_user_secs = user;
        info.cpu_sys_secs = sys;
        self.driven.node.set_process_info(info);
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
            debug_assert!(id < OUTBOUND_CONN_ID_BASE);
            let _ = stream.set_nodelay(true);
            set_keepalive(
                &stream,
                self.driven.node.config().settings().tcp_keepalive_secs,
            );
            let Some(token) = self.register(&mut stream, id, Interest::READABLE) else {
                continue;
            };
            let local = stream
                .local_addr()
                .map(|a| a.to_string())
                .unwrap_or_default();
            self.conns
                .insert(id, Conn::new(stream, token, ConnState::Open));
            let now = self.now;
            let input = Input::Accepted {
                conn: id,
                listener: keel_core::Listener::Client,
                peer: peer.to_string(),
                local,
                // Redis 7.0 counts only these two as local (protected mode,
                // `enable-debug-command local`): 127.0.0.2 is not.
                peer_is_loopback: matches!(peer.ip().to_string().as_str(), "127.0.0.1" | "::1"),
            };
            self.driven.handle(now, input);
            self.execute_effects();
        }
    }

    /// Gives `stream` a token and registers it; None (and nothing kept) on failure.
    fn register(
        &mut self,
        stream: &mut TcpStream,
        id: ConnId,
        interest: Interest,
    ) -> Option<Token> {
        let token = self.tokens.insert(id)?;
        match self.poll.registry().register(stream, token, interest) {
            Ok(()) => Some(token),
            Err(e) => {
                tracing::warn!("Registering connection {id}: {e}");
                self.tokens.remove(token);
                None
            }
        }
    }

    fn on_conn_event(&mut self, id: ConnId, event: &Event) {
        let Some(conn) = self.conns.get(&id) else {
            return;
        };
        if conn.state == ConnState::Connecting {
            let hangup = event.is_error() || event.is_read_closed() || event.is_write_closed();
            if (event.is_writable() || hangup) && self.finish_connect(id, hangup) {
                // Up: bytes may already wait (the wakeup that said so was this one),
                // and output the node queued while connecting goes now.
                self.read(id, hangup);
                self.flush(id);
                self.execute_effects();
            }
            return;
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            // With the peer's FIN already in, read on until the EOF.
            let to_eof = event.is_read_closed() || event.is_error();
            self.read(id, to_eof);
        }
        if event.is_writable() {
            self.flush(id);
            self.execute_effects();
        }
    }

    /// Opens an outbound connection the node asked for. Every request gets exactly one
    /// `Connected` or `ConnectFailed`, unless the node closes it before the answer.
    fn connect(&mut self, id: ConnId, addr: String) {
        if id < OUTBOUND_CONN_ID_BASE || self.conns.contains_key(&id) {
            tracing::warn!(
                "Outbound connection {id} to {addr} refused: the id is not a free outbound id"
            );
            self.deferred.push_back(Input::ConnectFailed {
                conn: id,
                error: "connection id already in use or not an outbound id".into(),
            });
            return;
        }
        // Redis resolves a master's host the same way, blocking the loop (getaddrinfo);
        // an `ip:port`, the usual case, resolves without any lookup.
        let resolved = match addr.to_socket_addrs() {
            Ok(addrs) => addrs.collect::<Vec<_>>(),
            Err(e) => {
                self.deferred.push_back(Input::ConnectFailed {
                    conn: id,
                    error: e.to_string(),
                });
                return;
            }
        };
        let mut error = format!("no address found for {addr}");
        let mut stream = None;
        for socket_addr in resolved {
            match TcpStream::connect(socket_addr) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => error = e.to_string(),
            }
        }
        let Some(mut stream) = stream else {
            self.deferred
                .push_back(Input::ConnectFailed { conn: id, error });
            return;
        };
        let _ = stream.set_nodelay(true);
        set_keepalive(
            &stream,
            self.driven.node.config().settings().tcp_keepalive_secs,
        );
        let interest = Interest::READABLE | Interest::WRITABLE;
        let Some(token) = self.register(&mut stream, id, interest) else {
            self.deferred.push_back(Input::ConnectFailed {
                conn: id,
                error: "could not register the socket".into(),
            });
            return;
        };
        self.conns
            .insert(id, Conn::new(stream, token, ConnState::Connecting));
    }

    /// Settles a connecting socket after a writable or error wakeup: true when it is
    /// now up and the node was told `Connected`.
    fn finish_connect(&mut self, id: ConnId, hangup: bool) -> bool {
        let Some(conn) = self.conns.get_mut(&id) else {
            return false;
        };
        let outcome = match conn.stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match conn.stream.peer_addr() {
                Ok(_) => Ok(()),
                // A wakeup before the handshake's end: wait for the next one.
                Err(e) if e.kind() == io::ErrorKind::NotConnected && !hangup => return false,
                Err(e) => Err(e),
            },
        };
        let closing = conn.closing;
        match outcome {
            Ok(()) => {
                conn.state = ConnState::Open;
                if closing {
                    // The node closed it while it was connecting: write what it sent
                    // before, say nothing.
                    self.flush(id);
                    return false;
                }
                let now = self.now;
                self.driven.handle(now, Input::Connected { conn: id });
                self.execute_effects();
                self.conns.contains_key(&id)
            }
            Err(e) => {
                self.drop_conn(id);
                if !closing {
                    let now = self.now;
                    let error = e.to_string();
                    self.driven
                        .handle(now, Input::ConnectFailed { conn: id, error });
                    self.execute_effects();
                }
                false
            }
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
                    self.lose_conn(id, CloseReason::PeerClosed);
                    return;
                }
                Ok(n) => {
                    let now = self.now;
                    let bytes = &self.read_buf[..n];
                    self.driven.handle(now, Input::Data { conn: id, bytes });
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
                Err(e) => {
                    self.lose_conn(id, CloseReason::Error(e.to_string()));
                    return;
                }
            }
        }
    }

    /// Drops a connection the node did not close and tells it why (after the effects
    /// being executed now). Nothing for one already gone or one the node closed.
    fn lose_conn(&mut self, id: ConnId, reason: CloseReason) {
        let Some(conn) = self.drop_conn(id) else {
            return;
        };
        if conn.closing {
            return;
        }
        let input = match conn.state {
            ConnState::Open => Input::Closed { conn: id, reason },
            ConnState::Connecting => Input::ConnectFailed {
                conn: id,
                error: match reason {
                    CloseReason::Error(text) => text,
                    CloseReason::PeerClosed => "closed by the peer".into(),
                    CloseReason::Dropped => "dropped".into(),
                },
            },
        };
        self.deferred.push_back(input);
    }

    fn execute_effects(&mut self) {
        while let Some(effect) = self.driven.poll_effect() {
            match effect {
                Effect::Send { conn, bytes } => self.send(conn, bytes),
                Effect::Close { conn } => self.close(conn),
                // Over its output limit: the node already forgot it; what it did not
                // read is dropped with the socket.
                Effect::Abort { conn } => {
                    self.drop_conn(conn);
                }
                Effect::Shutdown { exit_code } => self.exit_code = Some(exit_code),
                Effect::Sleep { ms } => std::thread::sleep(Duration::from_millis(ms)),
                Effect::Log { level, message } => self.log(level, &message),
                Effect::Free { garbage } => self.free_off_loop(garbage),
                Effect::PurgeMemory => {
                    if let Some(purge) = self.purge_memory.as_mut() {
                        purge();
                        // What the purge gave back, for the node's next tick to judge.
                        if let Some(rss) = process_rss_bytes() {
                            self.driven.node.set_rss_bytes(rss);
                        }
                    }
                }
                Effect::Connect { conn, addr } => self.connect(conn, addr),
                Effect::Disk { io, op } => self.submit_disk(io, op),
                Effect::Listen {
                    io,
                    bind,
                    port,
                    backlog,
                } => {
                    let result = self.relisten(&bind, port, backlog);
                    self.deferred.push_back(Input::Listened { io, result });
                }
            }
        }
    }

    /// Redis's `changeBindAddr` / `changeListenPort`: closes the client listeners, opens
    /// the new ones and, when that fails, opens the old addresses again.
    fn relisten(&mut self, bind: &[String], port: u16, backlog: u32) -> Result<(), String> {
        let mut wanted = Vec::new();
        for word in bind {
            let ip = keel_core::config::bind_address_ip(word.as_bytes())
                .ok_or_else(|| format!("Invalid bind address '{word}'"))?;
            wanted.push((SocketAddr::new(ip, port), word.starts_with('-')));
        }
        if wanted.is_empty() {
            wanted.push((SocketAddr::from(([0, 0, 0, 0], port)), false));
        }
        let old: Vec<(SocketAddr, bool)> = self
            .listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .map(|a| (a, false))
            .collect();
        for mut l in std::mem::take(&mut self.listeners) {
            let _ = self.poll.registry().deregister(&mut l);
        }
        match open_listeners(&self.poll, &wanted, backlog) {
            Ok(listeners) => {
                self.listeners = listeners;
                Ok(())
            }
            Err(e) => {
                tracing::warn!("{e}");
                match open_listeners(&self.poll, &old, backlog) {
                    Ok(listeners) => self.listeners = listeners,
                    Err(again) => {
                        tracing::warn!("Could not listen again on the previous addresses: {again}")
                    }
                }
                Err(e.to_string())
            }
        }
    }

    /// A line the node logs, at Redis's level ([`log::redis_level`] maps them onto
    /// tracing's), after taking the level and role from its settings so that a CONFIG
    /// SET loglevel applies from the next line on.
    fn log(&mut self, level: LogLevel, message: &str) {
        log::follow(self.driven.node.config().settings());
        // Redis writes its "Received SIGTERM scheduling shutdown..." from the signal
        // handler, in the handler's own line form; the node's answer to a signal says
        // the same words.
        if self.answering_signal && message.starts_with("Received SIG") {
            tracing::warn!(signal_handler = true, "{message}");
            return;
        }
        match level {
            LogLevel::Debug => tracing::trace!("{message}"),
            LogLevel::Verbose => tracing::debug!("{message}"),
            LogLevel::Notice => tracing::info!("{message}"),
            LogLevel::Warning => tracing::warn!("{message}"),
        }
    }

    /// The node's `Close`: once what it sent before is written. It hears nothing more
    /// about the connection (it already forgot it).
    fn close(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.pending_bytes == 0 {
            self.drop_conn(id);
        } else {
            conn.closing = true;
        }
    }

    /// Hands a disk operation to the disk thread (started on first use), or runs it
    /// here when it is an append and the thread is idle (`DiskWorker::run_inline`).
    /// If there is no thread to run it, the node still gets its one completion: a
    /// failure.
    fn submit_disk(&mut self, io: IoId, op: DiskOp) {
        if self.disk.is_none() {
            match self.start_disk() {
                Ok(worker) => self.disk = Some(worker),
                Err(e) => tracing::warn!("Could not start the disk thread: {e}"),
            }
        }
        let refused = match &self.disk {
            Some(disk) => match disk.run_inline(io, op) {
                Ok(Completion {
                    io,
                    result,
                    elapsed_us,
                }) => {
                    self.deferred.push_back(Input::Disk {
                        io,
                        result,
                        elapsed_us,
                    });
                    None
                }
                Err((io, op)) => disk.submit(io, op).err().map(|(io, _)| io),
            },
            None => Some(io),
        };
        if let Some(io) = refused {
            self.deferred.push_back(Input::Disk {
                io,
                result: DiskResult::Failed(DiskError::Io),
                elapsed_us: 0,
            });
        }
    }

    fn start_disk(&self) -> io::Result<DiskWorker> {
        // The server chdirs into `dir` and stores it absolute; a relative one (tests,
        // embedders) is taken against the working directory now, once.
        let dir = std::path::absolute(std::ffi::OsStr::from_bytes(
            &self.driven.node.config().settings().dir,
        ))?;
        let waker = mio::Waker::new(self.poll.registry(), DISK_TOKEN)?;
        // The config file (INFO's config_file, absolute) may live outside `dir`.
        let config_file = Some(&self.process_template.config_file)
            .filter(|f| f.starts_with('/'))
            .map(std::path::PathBuf::from);
        DiskWorker::start_with_config_file(dir, config_file, waker)
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
        let mut dirty = std::mem::take(&mut self.dirty);
        for id in dirty.drain(..) {
            if let Some(conn) = self.conns.get_mut(&id) {
                conn.dirty = false;
                self.flush(id);
            }
        }
        // Keep the allocation for the next iteration, unless the node queued more
        // output (in reply to a `Written`) meanwhile: that list is the one to keep.
        if self.dirty.is_empty() {
            self.dirty = dirty;
        }
        self.execute_effects();
    }

    /// Writes what the socket takes of a connection's pending output and tells the
    /// node how much it took (the node enforces `client-output-buffer-limit` on what
    /// is left). Each buffer is written from a cursor and dropped whole once written:
    /// nothing is moved, however big the output.
    fn flush(&mut self, id: ConnId) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        if conn.state == ConnState::Connecting {
            // Written once the connect ends (its writable wakeup).
            return;
        }
        let mut written_bytes = 0usize;
        let mut failure = None;
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
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let done = conn.pending_bytes == 0;
        let closing = conn.closing;
        let drop_now = failure.is_some() || (done && closing);
        if !drop_now {
            let want_writable = !done;
            if want_writable != conn.writable_registered {
                let interest = if want_writable {
                    Interest::READABLE | Interest::WRITABLE
                } else {
                    Interest::READABLE
                };
                let _ = self
                    .poll
                    .registry()
                    .reregister(&mut conn.stream, conn.token, interest);
                conn.writable_registered = want_writable;
            }
        }
        // A connection the node closed is one it forgot: it hears nothing more.
        if written_bytes > 0 && !closing {
            let now = self.now;
            self.driven.handle(
                now,
                Input::Written {
                    conn: id,
                    bytes: written_bytes,
                },
            );
        }
        if let Some(e) = failure {
            self.lose_conn(id, CloseReason::Error(e.to_string()));
        } else if drop_now {
            self.drop_conn(id);
        }
    }

    fn drop_conn(&mut self, id: ConnId) -> Option<Conn> {
        let mut conn = self.conns.remove(&id)?;
        let _ = self.poll.registry().deregister(&mut conn.stream);
        self.tokens.remove(conn.token);
        Some(conn)
    }

    /// The driver's side of a shutdown: writes what it can of the pending output,
    /// drops every connection (telling the node `Dropped`, or `ConnectFailed` for one
    /// still connecting), and lets the disk thread finish what it was given.
    fn shut_down(&mut self) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for id in &ids {
            self.flush(*id);
        }
        let now = self.clock.now();
        for id in ids {
            let Some(conn) = self.drop_conn(id) else {
                continue;
            };
            if conn.closing {
                continue;
            }
            let input = match conn.state {
                ConnState::Open => Input::Closed {
                    conn: id,
                    reason: CloseReason::Dropped,
                },
                ConnState::Connecting => Input::ConnectFailed {
                    conn: id,
                    error: "the server is shutting down".into(),
                },
            };
            self.driven.handle(now, input);
            self.execute_effects();
        }
        // Deferred inputs are for a node that goes on; this one is done.
        self.deferred.clear();
        if let Some(mut disk) = self.disk.take() {
            disk.finish();
        }
    }
}

#[cfg(test)]
mod tests;
