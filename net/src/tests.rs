//! The reactor's side of the contract, over real sockets and files: a script stands in
//! for the node (which asks for no outbound connection or disk operation yet) and
//! records every input it is handed. No test asserts on time: waits are bounded
//! loops that fail with what was seen.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::{TcpListener as StdListener, TcpStream as StdStream};
use std::path::PathBuf;
use std::rc::Rc;

use keel_core::config::Config;
use keel_core::NodeSeeds;

use super::*;

/// Stands in for the node: handed each input, returns the effects to execute.
pub(crate) type Script = Box<dyn FnMut(&Input<'_>) -> Vec<Effect>>;

/// A fresh directory under the system temp dir, removed when dropped.
pub(crate) struct TempDir(pub PathBuf);

impl TempDir {
    pub(crate) fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("keel-net-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An input as the script saw it (owned).
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Accepted(ConnId),
    Connected(ConnId),
    ConnectFailed(ConnId, String),
    Data(ConnId, Vec<u8>),
    Written(ConnId, usize),
    Closed(ConnId, CloseReason),
    Disk(IoId, DiskResult),
    Listened(IoId, Result<(), String>),
    Signal(Signal),
}

fn seen_of(input: &Input<'_>) -> Option<Seen> {
    Some(match input {
        Input::Accepted { conn, .. } => Seen::Accepted(*conn),
        Input::Connected { conn } => Seen::Connected(*conn),
        Input::ConnectFailed { conn, error } => Seen::ConnectFailed(*conn, error.clone()),
        Input::Data { conn, bytes } => Seen::Data(*conn, bytes.to_vec()),
        Input::Written { conn, bytes } => Seen::Written(*conn, *bytes),
        Input::Closed { conn, reason } => Seen::Closed(*conn, reason.clone()),
        Input::Disk { io, result, .. } => Seen::Disk(*io, result.clone()),
        Input::Listened { io, result } => Seen::Listened(*io, result.clone()),
        Input::Signal(signal) => Seen::Signal(*signal),
        Input::Tick => return None,
    })
}

impl Reactor {
    /// Executes `effect` as if the node had asked for it, and what follows from it.
    fn inject(&mut self, effect: Effect) {
        self.now = self.clock.now();
        self.driven.scripted.push_back(effect);
        self.execute_effects();
        self.settle();
    }
}

const OUT: ConnId = OUTBOUND_CONN_ID_BASE;
/// Loop iterations a wait may take before the test fails (each waits at most
/// `TURN_WAIT`): a bound against hanging, not a timing assertion.
const TURNS_MAX: usize = 400;
const TURN_WAIT: Duration = Duration::from_millis(50);

struct Harness {
    reactor: Reactor,
    seen: Rc<RefCell<Vec<Seen>>>,
    events: Events,
    dir: TempDir,
}

impl Harness {
    fn new(name: &str, mut respond: impl FnMut(&Input<'_>) -> Vec<Effect> + 'static) -> Harness {
        let dir = TempDir::new(name);
        let mut config = Config::default();
        config.set_resolved_dir(dir.0.display().to_string().as_bytes());
        let clock = Clock::new();
        let seeds = NodeSeeds {
            rng_seed: 7,
            hash_seeds: [1, 2, 3, 4],
        };
        let node = Node::new(config, seeds, clock.now());
        let addr: SocketAddr = "127.0.0.1:0".parse().expect("addr");
        let mut reactor = Reactor::bind(node, clock, &[addr]).expect("bind");
        let seen = Rc::new(RefCell::new(Vec::new()));
        let record = Rc::clone(&seen);
        reactor.driven.script = Some(Box::new(move |input: &Input<'_>| {
            if let Some(s) = seen_of(input) {
                record.borrow_mut().push(s);
            }
            respond(input)
        }));
        Harness {
            reactor,
            seen,
            events: Events::with_capacity(64),
            dir,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.reactor.local_addrs()[0]
    }

    fn turn(&mut self) -> Option<i32> {
        self.reactor
            .turn(&mut self.events, Some(TURN_WAIT))
            .expect("turn")
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.borrow().clone()
    }

    fn count(&self, wanted: impl Fn(&Seen) -> bool) -> usize {
        self.seen.borrow().iter().filter(|s| wanted(s)).count()
    }

    /// Turns the loop until `done` holds of what the script saw.
    fn until(&mut self, what: &str, done: impl Fn(&[Seen]) -> bool) {
        for _ in 0..TURNS_MAX {
            if done(&self.seen.borrow()) {
                return;
            }
            self.turn();
        }
        assert!(
            done(&self.seen.borrow()),
            "never saw {what}; saw {:?}",
            self.seen()
        );
    }

    /// A few more iterations, for anything that should not come.
    fn idle(&mut self) {
        for _ in 0..5 {
            self.turn();
        }
    }
}

fn free_port() -> u16 {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Closes with a reset (SO_LINGER 0) instead of a FIN.
fn reset(stream: StdStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: the fd is live (owned by `stream`), the value is a linger that outlives
    // the call, its size passed alongside.
    let rc = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &linger as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0);
    drop(stream);
}

fn blocking_peer(stream: &StdStream) {
    // A bound against hanging, as TURNS_MAX.
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
}

#[test]
fn token_table_reuses_slots_under_new_generations() {
    let mut tokens = TokenTable::default();
    let a = tokens.insert(1).expect("token");
    assert_eq!(tokens.get(a), Some(1));
    tokens.remove(a);
    assert_eq!(tokens.get(a), None);
    let b = tokens.insert(OUT).expect("token");
    assert_ne!(a, b, "the reused slot has a new generation");
    assert_eq!(tokens.get(a), None, "a stale token reaches nothing");
    assert_eq!(tokens.get(b), Some(OUT));
    tokens.remove(a);
    assert_eq!(
        tokens.get(b),
        Some(OUT),
        "removing a stale token is a no-op"
    );
    assert!(b.0 < LISTENER_TOKEN_BASE);
}

#[test]
fn outbound_connection_is_answered_once_and_then_carries_data() {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let mut h = Harness::new("connect", |input| match input {
        Input::Connected { conn } => vec![Effect::Send {
            conn: *conn,
            bytes: b"hello".to_vec(),
        }],
        Input::Data { conn, bytes } if bytes.ends_with(b"bye") => {
            vec![Effect::Close { conn: *conn }]
        }
        _ => Vec::new(),
    });
    h.reactor.inject(Effect::Connect { conn: OUT, addr });
    h.until("Connected", |s| s.contains(&Seen::Connected(OUT)));
    let (mut peer, _) = listener.accept().expect("accept");
    blocking_peer(&peer);
    let mut hello = [0u8; 5];
    peer.read_exact(&mut hello).expect("read hello");
    assert_eq!(&hello, b"hello");
    h.until("Written", |s| s.contains(&Seen::Written(OUT, 5)));
    peer.write_all(b"bye").expect("write");
    h.until("Data", |s| s.contains(&Seen::Data(OUT, b"bye".to_vec())));
    // The script closed it: the peer sees the end, the script hears nothing more.
    let mut rest = Vec::new();
    peer.read_to_end(&mut rest).expect("read to end");
    assert!(rest.is_empty());
    h.idle();
    assert_eq!(h.count(|s| matches!(s, Seen::Connected(_))), 1);
    assert_eq!(
        h.count(|s| matches!(s, Seen::ConnectFailed(..) | Seen::Closed(..))),
        0,
        "{:?}",
        h.seen()
    );
    assert!(h.reactor.conns.is_empty());
}

#[test]
fn outbound_output_queued_while_connecting_is_sent_once_up() {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let mut h = Harness::new("early-send", |_| Vec::new());
    h.reactor.inject(Effect::Connect { conn: OUT, addr });
    h.reactor.inject(Effect::Send {
        conn: OUT,
        bytes: b"early".to_vec(),
    });
    h.until("Written", |s| s.contains(&Seen::Written(OUT, 5)));
    let (mut peer, _) = listener.accept().expect("accept");
    blocking_peer(&peer);
    let mut early = [0u8; 5];
    peer.read_exact(&mut early).expect("read");
    assert_eq!(&early, b"early");
    assert_eq!(h.seen().first(), Some(&Seen::Connected(OUT)));
    // The peer leaves: an outbound connection ends like any other.
    drop(peer);
    h.until("Closed", |s| {
        s.contains(&Seen::Closed(OUT, CloseReason::PeerClosed))
    });
}

#[test]
fn refused_and_unusable_connects_fail_exactly_once() {
    let mut h = Harness::new("refused", |_| Vec::new());
    let closed_port = free_port();
    h.reactor.inject(Effect::Connect {
        conn: OUT,
        addr: format!("127.0.0.1:{closed_port}"),
    });
    // Failures known at once come before the loop sleeps again.
    for (offset, addr) in ["not an address", "127.0.0.1:notaport", "127.0.0.1"]
        .into_iter()
        .enumerate()
    {
        let conn = OUT + 1 + offset as ConnId;
        h.reactor.inject(Effect::Connect {
            conn,
            addr: addr.into(),
        });
        assert!(
            h.seen()
                .iter()
                .any(|s| matches!(s, Seen::ConnectFailed(c, _) if *c == conn)),
            "{addr}: {:?}",
            h.seen()
        );
    }
    // An id from the driver's own range, or one in use, is refused.
    h.reactor.inject(Effect::Connect {
        conn: 5,
        addr: format!("127.0.0.1:{closed_port}"),
    });
    assert!(h
        .seen()
        .iter()
        .any(|s| matches!(s, Seen::ConnectFailed(5, _))));
    h.until("the refused connect", |s| {
        s.iter().any(|s| matches!(s, Seen::ConnectFailed(OUT, _)))
    });
    h.idle();
    let seen = h.seen();
    let refused: Vec<&Seen> = seen
        .iter()
        .filter(|s| matches!(s, Seen::ConnectFailed(OUT, _)))
        .collect();
    assert_eq!(refused.len(), 1, "{seen:?}");
    assert!(
        matches!(refused[0], Seen::ConnectFailed(_, e) if e.contains("refused")),
        "{refused:?}"
    );
    assert_eq!(
        h.count(|s| matches!(s, Seen::ConnectFailed(..))),
        5,
        "{seen:?}"
    );
    assert_eq!(h.count(|s| matches!(s, Seen::Connected(_))), 0);
    assert!(h.reactor.conns.is_empty());
}

#[test]
fn a_connect_the_node_closes_before_it_is_up_gets_no_answer() {
    let listener = StdListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let mut h = Harness::new("withdrawn", |_| Vec::new());
    h.reactor.inject(Effect::Connect { conn: OUT, addr });
    h.reactor.inject(Effect::Abort { conn: OUT });
    let _ = listener.accept().expect("accept");
    h.idle();
    assert!(h.seen().is_empty(), "{:?}", h.seen());
}

#[test]
fn closed_reasons_for_accepted_connections() {
    let mut h = Harness::new("closed", |input| match input {
        Input::Data { conn, bytes } if bytes.ends_with(b"quit") => vec![
            Effect::Send {
                conn: *conn,
                bytes: b"+OK\r\n".to_vec(),
            },
            Effect::Close { conn: *conn },
        ],
        Input::Data { conn, bytes } if bytes.ends_with(b"kill") => {
            vec![Effect::Abort { conn: *conn }]
        }
        _ => Vec::new(),
    });
    let addr = h.addr();
    let accepted = |h: &Harness| -> Vec<ConnId> {
        h.seen()
            .iter()
            .filter_map(|s| match s {
                Seen::Accepted(c) => Some(*c),
                _ => None,
            })
            .collect()
    };

    // The peer closes: PeerClosed.
    let client = StdStream::connect(addr).expect("connect");
    h.until("Accepted", |s| {
        s.iter().any(|s| matches!(s, Seen::Accepted(_)))
    });
    let fin = accepted(&h)[0];
    drop(client);
    h.until("PeerClosed", |s| {
        s.contains(&Seen::Closed(fin, CloseReason::PeerClosed))
    });

    // The peer resets: Error with the OS's text.
    let client = StdStream::connect(addr).expect("connect");
    h.until("second Accepted", |s| {
        s.iter().filter(|s| matches!(s, Seen::Accepted(_))).count() == 2
    });
    let rst = accepted(&h)[1];
    reset(client);
    h.until("Error", |s| {
        s.iter()
            .any(|s| matches!(s, Seen::Closed(c, CloseReason::Error(_)) if *c == rst))
    });

    // The node closes (after its reply) or aborts: it hears nothing more.
    let mut quitter = StdStream::connect(addr).expect("connect");
    blocking_peer(&quitter);
    quitter.write_all(b"quit").expect("write");
    h.until("quit", |s| {
        s.iter()
            .any(|s| matches!(s, Seen::Data(_, b) if b.ends_with(b"quit")))
    });
    let mut reply = Vec::new();
    quitter.read_to_end(&mut reply).expect("read");
    assert_eq!(reply, b"+OK\r\n");
    let mut killed = StdStream::connect(addr).expect("connect");
    blocking_peer(&killed);
    killed.write_all(b"kill").expect("write");
    h.until("kill", |s| {
        s.iter()
            .any(|s| matches!(s, Seen::Data(_, b) if b.ends_with(b"kill")))
    });
    let mut nothing = Vec::new();
    let _ = killed.read_to_end(&mut nothing);
    h.idle();
    let ids = accepted(&h);
    assert_eq!(ids.len(), 4);
    for id in &ids[2..] {
        // Not even the write of the reply: the node forgot the client when it closed.
        assert_eq!(
            h.count(|s| matches!(s, Seen::Closed(c, _) | Seen::Written(c, _) if c == id)),
            0,
            "{:?}",
            h.seen()
        );
    }
    for id in &ids[..2] {
        assert_eq!(h.count(|s| matches!(s, Seen::Closed(c, _) if c == id)), 1);
    }
}

#[test]
fn shutdown_drops_the_remaining_connections() {
    let mut h = Harness::new("shutdown", |input| match input {
        Input::Data { bytes, .. } if bytes.ends_with(b"stop") => {
            vec![Effect::Shutdown { exit_code: 3 }]
        }
        _ => Vec::new(),
    });
    let addr = h.addr();
    let _idle = StdStream::connect(addr).expect("connect");
    let mut stopper = StdStream::connect(addr).expect("connect");
    h.until("two Accepted", |s| {
        s.iter().filter(|s| matches!(s, Seen::Accepted(_))).count() == 2
    });
    stopper.write_all(b"stop").expect("write");
    let mut code = None;
    for _ in 0..TURNS_MAX {
        code = h.turn();
        if code.is_some() {
            break;
        }
    }
    assert_eq!(code, Some(3));
    assert_eq!(
        h.count(|s| matches!(s, Seen::Closed(_, CloseReason::Dropped))),
        2,
        "{:?}",
        h.seen()
    );
    assert!(h.reactor.conns.is_empty());
}

#[test]
fn disk_operations_are_answered_in_order_through_the_loop() {
    let mut h = Harness::new("disk", |_| Vec::new());
    let mut ops = vec![DiskOp::Open {
        path: "appendonly.aof".into(),
        create: true,
        truncate: false,
    }];
    for i in 0..50u32 {
        ops.push(DiskOp::Append {
            path: "appendonly.aof".into(),
            bytes: format!("{i};").into_bytes(),
        });
    }
    ops.push(DiskOp::Fsync {
        path: "appendonly.aof".into(),
    });
    ops.push(DiskOp::Fsync { path: ".".into() });
    ops.push(DiskOp::Read {
        path: "appendonly.aof".into(),
        offset: 0,
        len: 4,
    });
    ops.push(DiskOp::Remove {
        path: "missing".into(),
    });
    ops.push(DiskOp::Open {
        path: "../escape".into(),
        create: true,
        truncate: false,
    });
    let count = ops.len();
    for (i, op) in ops.into_iter().enumerate() {
        h.reactor.inject(Effect::Disk {
            io: IoId(i as u64),
            op,
        });
    }
    h.until("every completion", |s| s.len() >= count);
    h.idle();
    let seen = h.seen();
    assert_eq!(seen.len(), count, "one completion each: {seen:?}");
    let done = DiskResult::Done { read: Vec::new() };
    for (i, s) in seen.iter().enumerate() {
        let Seen::Disk(io, result) = s else {
            panic!("not a disk completion: {s:?}");
        };
        assert_eq!(io.0, i as u64, "submission order");
        let expected = match i {
            _ if i == count - 3 => DiskResult::Done {
                read: b"0;1;".to_vec(),
            },
            _ if i == count - 2 => DiskResult::Failed(DiskError::NotFound),
            _ if i == count - 1 => DiskResult::Failed(DiskError::Io),
            _ => done.clone(),
        };
        assert_eq!(result, &expected, "op {i}");
    }
    let text: String = (0..50u32).map(|i| format!("{i};")).collect();
    assert_eq!(
        std::fs::read(h.dir.0.join("appendonly.aof")).expect("read"),
        text.as_bytes()
    );
    assert!(!h.dir.0.parent().expect("parent").join("escape").exists());
}

#[test]
fn the_real_node_is_told_of_what_it_did_not_ask_for_without_panicking() {
    // The node core asks for no connection or disk operation yet: completions and
    // connections it did not ask for are logged, and an unasked-for connection is
    // aborted, never a panic.
    let listener = StdListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let mut h = Harness::new("real-node", |_| Vec::new());
    h.reactor.driven.script = None;
    h.reactor.inject(Effect::Connect { conn: OUT, addr });
    h.reactor.inject(Effect::Disk {
        io: IoId(1),
        op: DiskOp::Fsync { path: ".".into() },
    });
    let (mut peer, _) = listener.accept().expect("accept");
    for _ in 0..TURNS_MAX {
        h.turn();
        if h.reactor.conns.is_empty() {
            break;
        }
    }
    assert!(h.reactor.conns.is_empty(), "the node aborted it");
    blocking_peer(&peer);
    let mut rest = Vec::new();
    let _ = peer.read_to_end(&mut rest);
    assert!(rest.is_empty());
}

#[test]
fn command_clock_moves_forward_in_microseconds() {
    use keel_core::io::CommandClock;
    let mut clock = MonotonicCommandClock::new();
    let start = Instant::now();
    let first = clock.now_micros();
    let mut last = first;
    // Readings never go back; over a busy-waited stretch of at least 20 ms the clock
    // advances by about as much (bounds loose enough for a loaded machine: it only has
    // to be microseconds, not ticks or milliseconds).
    while start.elapsed() < Duration::from_millis(20) {
        let now = clock.now_micros();
        assert!(now >= last, "went back from {last} to {now}");
        last = now;
    }
    let elapsed_us = start.elapsed().as_micros() as u64;
    let advanced_us = last - first;
    assert!(
        advanced_us >= 10_000 && advanced_us <= elapsed_us * 2,
        "advanced {advanced_us} µs in {elapsed_us} µs"
    );
}

/// Not a test: what timing each command costs the node, in process (no sockets, so
/// the machine's noise is smaller). Pipelines of 16 SET/GET, as `redis-benchmark -P 16
/// -t set,get`, handed to a node without a command clock (every duration 0) and with
/// keel-net's; the best of several alternating rounds. Run with
/// `cargo test --release -p keel-net command_timing_cost -- --ignored --nocapture`.
#[test]
#[ignore]
fn command_timing_cost() {
    fn node(clock: bool, tracking: bool) -> Node {
        let mut config = Config::default();
        let value: &[u8] = if tracking { b"yes" } else { b"no" };
        config
            .set(&[(&b"latency-tracking"[..], value)])
            .expect("latency-tracking");
        let mut node = Node::new(
            config,
            NodeSeeds {
                rng_seed: 1,
                hash_seeds: [1, 2, 3, 4],
            },
            Now::default(),
        );
        if clock {
            node.set_command_clock(Box::new(MonotonicCommandClock::new()));
        }
        node.handle(
            Now::default(),
            Input::Accepted {
                conn: 1,
                listener: keel_core::Listener::Client,
                peer: "127.0.0.1:1".into(),
                local: "127.0.0.1:2".into(),
                peer_is_loopback: true,
            },
        );
        node
    }
    let mut batch = Vec::new();
    for i in 0..8 {
        batch.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n$8\r\nkey:{i:04}\r\n$3\r\nxxx\r\n").as_bytes(),
        );
        batch.extend_from_slice(format!("*2\r\n$3\r\nGET\r\n$8\r\nkey:{i:04}\r\n").as_bytes());
    }
    let batches = 50_000;
    let run = |node: &mut Node| {
        let start = Instant::now();
        for _ in 0..batches {
            node.handle(
                Now::default(),
                Input::Data {
                    conn: 1,
                    bytes: &batch,
                },
            );
            while let Some(e) = node.poll_effect() {
                if let Effect::Send { bytes, .. } = e {
                    node.handle(
                        Now::default(),
                        Input::Written {
                            conn: 1,
                            bytes: bytes.len(),
                        },
                    );
                }
            }
        }
        start.elapsed().as_nanos() as f64 / (batches * 16) as f64
    };
    let kinds = [
        ("no clock, tracking off", false, false),
        ("no clock, tracking on", false, true),
        ("clock, tracking off", true, false),
        ("clock, tracking on", true, true),
    ];
    let mut best = [f64::MAX; 4];
    for _ in 0..7 {
        for (i, (_, clock, tracking)) in kinds.iter().enumerate() {
            let mut n = node(*clock, *tracking);
            best[i] = best[i].min(run(&mut n));
        }
    }
    for ((name, ..), ns) in kinds.iter().zip(best) {
        println!("{name}: {ns:.1} ns per command");
    }
}

#[test]
fn listen_moves_the_listener_and_a_failure_keeps_the_old_one() {
    let mut h = Harness::new("listen", |_| Vec::new());
    let old = h.addr();
    let new_port = free_port();
    h.reactor.inject(Effect::Listen {
        io: IoId(1),
        bind: vec!["127.0.0.1".into()],
        port: new_port,
        backlog: 128,
    });
    h.until("the first answer", |s| !s.is_empty());
    assert_eq!(h.seen(), vec![Seen::Listened(IoId(1), Ok(()))]);
    assert_eq!(h.addr().port(), new_port);
    assert!(
        StdStream::connect(old).is_err(),
        "the old port still listens"
    );
    let _client = StdStream::connect(("127.0.0.1", new_port)).expect("the new port listens");
    h.until("the accept", |s| {
        s.iter().any(|x| matches!(x, Seen::Accepted(_)))
    });
    // A port someone holds: an error, and the listener it had.
    let holder = StdListener::bind("127.0.0.1:0").expect("bind");
    let taken = holder.local_addr().expect("addr").port();
    h.reactor.inject(Effect::Listen {
        io: IoId(2),
        bind: vec!["127.0.0.1".into()],
        port: taken,
        backlog: 128,
    });
    h.until("the second answer", |s| {
        s.iter().any(|x| matches!(x, Seen::Listened(IoId(2), _)))
    });
    let failed = h
        .seen()
        .into_iter()
        .find_map(|x| match x {
            Seen::Listened(IoId(2), r) => Some(r),
            _ => None,
        })
        .expect("answer");
    assert!(
        failed
            .as_ref()
            .is_err_and(|e| e.contains("Address already in use")),
        "{failed:?}"
    );
    assert_eq!(h.addr().port(), new_port);
    StdStream::connect(("127.0.0.1", new_port)).expect("the old listener is back");
}
