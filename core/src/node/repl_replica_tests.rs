//! The replica against a scripted master: the test plays the master's side of the
//! link byte by byte (handshake replies, the RDB in both framings, the stream) and
//! checks what the node sends, logs and serves.

use crate::io::{CloseReason, ConnId, Effect, Input, Listener, Now};
use crate::node::Node;
use crate::resp::encode_request;
use crate::testkit::{node_with, START};

const CLIENT: ConnId = 1;
const MASTER_ID: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const MARK: &str = "0123456789012345678901234567890123456789";

struct Rig {
    node: Node,
    now: Now,
    effects: Vec<Effect>,
}

impl Rig {
    fn new(config: &str) -> Rig {
        let mut rig = Rig {
            node: node_with(config, 0, START),
            now: START,
            effects: Vec::new(),
        };
        rig.input(Input::Accepted {
            conn: CLIENT,
            listener: Listener::Client,
            peer: "127.0.0.1:40001".into(),
            local: "127.0.0.1:6379".into(),
            peer_is_loopback: true,
        });
        rig
    }

    fn input(&mut self, input: Input<'_>) {
        self.node.handle(self.now, input);
        while let Some(e) = self.node.poll_effect() {
            self.effects.push(e);
        }
    }

    fn advance_ms(&mut self, ms: u64) {
        self.now.mono_ms += ms;
        self.now.wall_ms += ms;
        self.input(Input::Tick);
    }

    /// Bytes the node sent to `conn` since the last look.
    fn sent(&mut self, conn: ConnId) -> String {
        let mut out = Vec::new();
        self.effects.retain(|e| match e {
            Effect::Send { conn: c, bytes } if *c == conn => {
                out.extend_from_slice(bytes);
                false
            }
            _ => true,
        });
        String::from_utf8_lossy(&out).into_owned()
    }

    fn cmd(&mut self, line: &str) -> String {
        let args: Vec<&str> = line.split_whitespace().collect();
        let req = encode_request(&args);
        self.input(Input::Data {
            conn: CLIENT,
            bytes: &req,
        });
        self.sent(CLIENT)
    }

    fn logs(&self) -> Vec<String> {
        self.effects
            .iter()
            .filter_map(|e| match e {
                Effect::Log { message, .. } => Some(message.clone()),
                _ => None,
            })
            .collect()
    }

    fn logged(&self, text: &str) -> bool {
        self.logs().iter().any(|l| l.contains(text))
    }

    /// The last connect the node asked for.
    fn connect_asked(&mut self) -> Option<(ConnId, String)> {
        let mut found = None;
        self.effects.retain(|e| match e {
            Effect::Connect { conn, addr } => {
                found = Some((*conn, addr.clone()));
                false
            }
            _ => true,
        });
        found
    }

    fn closed(&self, conn: ConnId) -> bool {
        self.effects.iter().any(
            |e| matches!(e, Effect::Close { conn: c } | Effect::Abort { conn: c } if *c == conn),
        )
    }

    fn master_sends(&mut self, conn: ConnId, bytes: &[u8]) {
        self.input(Input::Data { conn, bytes });
    }

    /// REPLICAOF the scripted master and play the handshake up to the PSYNC;
    /// returns the link's connection and the PSYNC the node sent.
    fn handshake(&mut self) -> (ConnId, String) {
        assert_eq!(self.cmd("REPLICAOF 10.0.0.9 6380"), "+OK\r\n");
        let (conn, addr) = self.connect_asked().expect("a connect");
        assert_eq!(addr, "10.0.0.9:6380");
        self.input(Input::Connected { conn });
        assert_eq!(self.sent(conn), "*1\r\n$4\r\nPING\r\n");
        self.master_sends(conn, b"+PONG\r\n");
        let conf = self.sent(conn);
        assert!(conf.contains("listening-port"), "{conf}");
        assert!(
            conf.contains("$3\r\neof\r\n$4\r\ncapa\r\n$6\r\npsync2"),
            "{conf}"
        );
        self.master_sends(conn, b"+OK\r\n+OK\r\n");
        let psync = self.sent(conn);
        assert!(psync.starts_with("*3\r\n$5\r\nPSYNC\r\n"), "{psync}");
        (conn, psync)
    }

    fn info(&mut self, field: &str) -> String {
        let info = self.cmd("INFO replication");
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no {field} in {info}"))
            .to_string()
    }
}

/// A minimal RDB 9 file: database 0 with string keys (an optional absolute expiry in
/// unix ms), no checksum (a stored 0).
fn rdb(keys: &[(&str, &str, Option<u64>)]) -> Vec<u8> {
    let mut out = b"REDIS0009".to_vec();
    out.extend_from_slice(&[0xFE, 0x00]);
    for (k, v, exp) in keys {
        if let Some(at) = exp {
            out.push(0xFC);
            out.extend_from_slice(&at.to_le_bytes());
        }
        out.push(0x00);
        out.push(k.len() as u8);
        out.extend_from_slice(k.as_bytes());
        out.push(v.len() as u8);
        out.extend_from_slice(v.as_bytes());
    }
    out.push(0xFF);
    out.extend_from_slice(&[0u8; 8]);
    out
}

fn bulk_rdb(keys: &[(&str, &str, Option<u64>)]) -> Vec<u8> {
    let body = rdb(keys);
    let mut out = format!("${}\r\n", body.len()).into_bytes();
    out.extend_from_slice(&body);
    out
}

fn fullresync(offset: u64) -> Vec<u8> {
    format!("+FULLRESYNC {MASTER_ID} {offset}\r\n").into_bytes()
}

fn cmd_bytes(line: &str) -> Vec<u8> {
    let args: Vec<&str> = line.split_whitespace().collect();
    encode_request(&args)
}

#[test]
fn full_sync_bulk_then_the_stream_runs_as_the_master_client() {
    let mut r = Rig::new("");
    r.cmd("SET old 1");
    r.node.enable_propagation();
    let (conn, psync) = r.handshake();
    assert_eq!(
        r.node.server.replica.role_reply(0),
        Some(("10.0.0.9".to_string(), 6380, "handshake", -1))
    );
    // A master turning replica continues its own history (PSYNC <its id> <offset+1>).
    let own_id = r.node.repl_id().to_string();
    assert!(
        psync.contains(&own_id) && psync.ends_with("$1\r\n1\r\n"),
        "{psync}"
    );
    assert_eq!(r.info("master_link_status"), "down");
    let mut bytes = fullresync(100);
    bytes.extend_from_slice(b"\n");
    bytes.extend_from_slice(&bulk_rdb(&[("k", "v", None)]));
    let set = cmd_bytes("SET a 1");
    bytes.extend_from_slice(&set);
    // Delivered in small pieces: nothing depends on the chunking.
    for piece in bytes.chunks(7) {
        r.master_sends(conn, piece);
    }
    assert_eq!(r.cmd("GET k"), "$1\r\nv\r\n");
    assert_eq!(r.cmd("GET a"), "$1\r\n1\r\n");
    assert_eq!(r.cmd("GET old"), "$-1\r\n", "the old dataset is replaced");
    // The master's writes reach this node's own stream (its AOF).
    let propagated = r.node.take_propagated();
    assert!(
        propagated
            .iter()
            .any(|p| p.argv == vec![b"SET".to_vec(), b"a".to_vec(), b"1".to_vec()]),
        "{propagated:?}"
    );
    let role = r.node.server.replica.role_reply(7);
    assert_eq!(role, Some(("10.0.0.9".to_string(), 6380, "connected", 7)));
    assert_eq!(r.sent(conn), "", "the master gets no replies");
    assert_eq!(r.info("master_link_status"), "up");
    assert_eq!(r.info("slave_repl_offset"), (100 + set.len()).to_string());
    assert_eq!(r.node.repl_id(), MASTER_ID);
    let list = r.cmd("CLIENT LIST");
    assert!(list.contains("flags=M"), "{list}");
    assert!(r.logged("MASTER <-> REPLICA sync: Finished with success"));
    assert!(r.logged("Full resync from master: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa:100"));
    assert_eq!(
        r.cmd("SET x 1"),
        "-READONLY You can't write against a read only replica.\r\n"
    );
    // A command this node cannot run is logged and counted, as Redis 7.0 does.
    r.master_sends(conn, &cmd_bytes("NOSUCHCMD a"));
    assert!(r.logged("== CRITICAL == This replica is sending an error to its master: 'ERR unknown command 'NOSUCHCMD'"), "{:?}", r.logs());
    assert!(r
        .cmd("INFO stats")
        .contains("unexpected_error_replies:1\r\n"));
    let set = [set.clone(), cmd_bytes("NOSUCHCMD a")].concat();
    // GETACK answers the offset applied before it; it then counts too.
    let getack = cmd_bytes("REPLCONF GETACK *");
    r.master_sends(conn, &getack);
    let want = 100 + set.len();
    assert_eq!(
        r.sent(conn),
        format!(
            "*3\r\n$8\r\nREPLCONF\r\n$3\r\nACK\r\n${}\r\n{want}\r\n",
            want.to_string().len()
        )
    );
    r.advance_ms(1000);
    let ack = r.sent(conn);
    let next = (want + getack.len()).to_string();
    assert!(
        ack.contains("ACK") && ack.ends_with(&format!("{next}\r\n")),
        "{ack}"
    );
}

#[test]
fn diskless_eof_mark_and_a_wrong_mark_keeps_the_old_dataset() {
    let mut r = Rig::new("");
    r.cmd("SET old 1");
    let (conn, _) = r.handshake();
    let mut bytes = fullresync(0);
    bytes.extend_from_slice(format!("$EOF:{MARK}\r\n").as_bytes());
    bytes.extend_from_slice(&rdb(&[("k", "v", None)]));
    bytes.extend_from_slice("9".repeat(40).as_bytes());
    r.master_sends(conn, &bytes);
    assert!(r.logged("Replication stream EOF marker is broken"));
    assert!(r.closed(conn));
    assert_eq!(r.cmd("GET old"), "$1\r\n1\r\n");
    assert_eq!(r.cmd("GET k"), "$-1\r\n");
    // The cron retries; the right mark then loads.
    r.advance_ms(1000);
    let (conn, _) = r.connect_asked().expect("a retry");
    r.input(Input::Connected { conn });
    r.master_sends(conn, b"+PONG\r\n+OK\r\n+OK\r\n");
    let mut bytes = fullresync(0);
    bytes.extend_from_slice(format!("$EOF:{MARK}\r\n").as_bytes());
    bytes.extend_from_slice(&rdb(&[("k", "v", None)]));
    bytes.extend_from_slice(MARK.as_bytes());
    bytes.extend_from_slice(&cmd_bytes("SET b 2"));
    // In pieces: the mark may straddle reads.
    for piece in bytes.chunks(7) {
        r.master_sends(conn, piece);
    }
    assert_eq!(r.cmd("GET k"), "$1\r\nv\r\n");
    assert_eq!(r.cmd("GET b"), "$1\r\n2\r\n");
}

#[test]
fn a_truncated_rdb_or_garbage_drops_the_link_and_keeps_serving() {
    let mut r = Rig::new("");
    r.cmd("SET old 1");
    let (conn, _) = r.handshake();
    let full = bulk_rdb(&[("k", "v", None), ("k2", "v2", None)]);
    let mut bytes = fullresync(0);
    bytes.extend_from_slice(&full[..full.len() - 12]);
    r.master_sends(conn, &bytes);
    assert_eq!(r.info("master_sync_in_progress"), "1");
    r.input(Input::Closed {
        conn,
        reason: CloseReason::PeerClosed,
    });
    assert!(r.logged("I/O error trying to sync with MASTER: connection lost"));
    assert_eq!(r.cmd("GET old"), "$1\r\n1\r\n");
    assert_eq!(r.cmd("DBSIZE"), ":1\r\n");
    // Garbage instead of +FULLRESYNC.
    r.advance_ms(1000);
    let (conn, _) = r.connect_asked().expect("a retry");
    r.input(Input::Connected { conn });
    r.master_sends(conn, b"+PONG\r\n+OK\r\n+OK\r\n%garbage\r\n");
    assert!(r.logged("Unexpected reply to PSYNC from master: %garbage"));
    assert!(r.closed(conn));
    // A length that lies (the RDB ends early) is refused too.
    r.advance_ms(1000);
    let (conn, _) = r.connect_asked().expect("a retry");
    r.input(Input::Connected { conn });
    let body = rdb(&[("k", "v", None)]);
    let mut bytes = b"+PONG\r\n+OK\r\n+OK\r\n".to_vec();
    bytes.extend_from_slice(&fullresync(0));
    bytes.extend_from_slice(format!("${}\r\n", body.len() + 5).as_bytes());
    bytes.extend_from_slice(&body);
    bytes.extend_from_slice(b"12345");
    r.master_sends(conn, &bytes);
    assert!(
        r.logged("the master announced more bytes"),
        "{:?}",
        r.logs()
    );
    assert_eq!(r.cmd("GET old"), "$1\r\n1\r\n");
}

#[test]
fn a_broken_frame_in_the_stream_keeps_what_was_applied_and_psyncs_from_there() {
    let mut r = Rig::new("");
    let (conn, _) = r.handshake();
    let mut bytes = fullresync(10);
    bytes.extend_from_slice(&bulk_rdb(&[]));
    let set = cmd_bytes("SET a 1");
    bytes.extend_from_slice(&set);
    bytes.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$x\r\n");
    r.master_sends(conn, &bytes);
    assert!(r.logged("Protocol error"), "{:?}", r.logs());
    assert!(r.logged("Connection with master lost."));
    assert_eq!(r.cmd("GET a"), "$1\r\n1\r\n");
    // It reconnects at once and asks to continue after what it applied.
    let (conn, _) = r.connect_asked().expect("a reconnect");
    r.input(Input::Connected { conn });
    r.master_sends(conn, b"+PONG\r\n+OK\r\n+OK\r\n");
    let next = (10 + set.len() + 1).to_string();
    assert!(
        r.sent(conn)
            .ends_with(&format!("{MASTER_ID}\r\n${}\r\n{next}\r\n", next.len())),
        "PSYNC from the applied offset"
    );
    // +CONTINUE with a new id: the old one becomes replid2.
    let new_id = "b".repeat(40);
    let mut bytes = format!("+CONTINUE {new_id}\r\n").into_bytes();
    bytes.extend_from_slice(&cmd_bytes("SET c 3"));
    r.master_sends(conn, &bytes);
    assert_eq!(r.cmd("GET c"), "$1\r\n3\r\n");
    assert_eq!(r.node.repl_id(), new_id);
    let info = r.cmd("INFO replication");
    assert!(info.contains("master_link_status:up"), "{info}");
}

#[test]
fn a_transaction_counts_in_the_offset_at_exec() {
    let mut r = Rig::new("");
    let (conn, _) = r.handshake();
    let mut bytes = fullresync(0);
    bytes.extend_from_slice(&bulk_rdb(&[]));
    let multi = cmd_bytes("MULTI");
    let set = cmd_bytes("SET a 1");
    bytes.extend_from_slice(&multi);
    bytes.extend_from_slice(&set);
    r.master_sends(conn, &bytes);
    assert_eq!(r.info("slave_repl_offset"), "0");
    assert_eq!(r.cmd("GET a"), "$-1\r\n");
    let exec = cmd_bytes("EXEC");
    r.master_sends(conn, &exec);
    assert_eq!(r.cmd("GET a"), "$1\r\n1\r\n");
    assert_eq!(
        r.info("slave_repl_offset"),
        (multi.len() + set.len() + exec.len()).to_string()
    );
}

/// Invariant 15: a replica never deletes a key on its own and never returns a
/// logically expired one; the master's DEL removes it.
#[test]
fn the_replica_waits_for_the_masters_del_and_hides_expired_keys() {
    let mut r = Rig::new("");
    let (conn, _) = r.handshake();
    let past = START.wall_ms - 1000;
    let soon = START.wall_ms + 100;
    let mut bytes = fullresync(0);
    bytes.extend_from_slice(&bulk_rdb(&[
        ("gone", "1", Some(past)),
        ("later", "2", Some(soon)),
    ]));
    r.master_sends(conn, &bytes);
    assert_eq!(
        r.cmd("DBSIZE"),
        ":2\r\n",
        "expired keys are loaded on a replica"
    );
    assert_eq!(r.cmd("GET gone"), "$-1\r\n");
    assert_eq!(r.cmd("EXISTS gone"), ":0\r\n");
    assert_eq!(r.cmd("GET later"), "$1\r\n2\r\n");
    for _ in 0..30 {
        r.advance_ms(100);
        r.master_sends(conn, &cmd_bytes("PING"));
    }
    assert_eq!(r.cmd("GET later"), "$-1\r\n");
    assert_eq!(r.cmd("SCAN 0"), "*2\r\n$1\r\n0\r\n*0\r\n");
    assert_eq!(r.cmd("RANDOMKEY"), "$-1\r\n");
    assert_eq!(r.cmd("KEYS *"), "*0\r\n");
    assert_eq!(r.cmd("DBSIZE"), ":2\r\n", "nothing deleted on its own");
    // The master's commands see the key as it saw it.
    r.master_sends(conn, &cmd_bytes("APPEND later x"));
    r.master_sends(conn, &cmd_bytes("DEL gone"));
    assert_eq!(r.cmd("DBSIZE"), ":1\r\n");
    r.master_sends(conn, &cmd_bytes("DEL later"));
    assert_eq!(r.cmd("DBSIZE"), ":0\r\n");
}

#[cfg(feature = "mutants")]
#[test]
fn mutant_replica_expires_keys_is_caught() {
    let mut r = Rig::new("");
    r.node
        .set_mutant(Some(crate::mutants::Mutant::ReplicaExpiresKeys));
    let (conn, _) = r.handshake();
    let mut bytes = fullresync(0);
    bytes.extend_from_slice(&bulk_rdb(&[("gone", "1", Some(START.wall_ms - 1000))]));
    r.master_sends(conn, &bytes);
    for _ in 0..30 {
        r.advance_ms(100);
    }
    // The planted bug deletes the key on its own: the check above fails under it.
    assert_eq!(r.cmd("DBSIZE"), ":0\r\n");
}

#[test]
fn stale_data_readonly_role_fields_and_no_one() {
    let mut r = Rig::new("replica-serve-stale-data no\nreplica-priority 7\n");
    r.cmd("SET k v");
    let (conn, _) = r.handshake();
    assert_eq!(
        r.cmd("GET k"),
        "-MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'.\r\n"
    );
    assert!(r.cmd("INFO replication").contains("slave_priority:7"));
    assert_eq!(r.info("role"), "slave");
    assert_eq!(r.info("master_host"), "10.0.0.9");
    assert_eq!(r.info("master_port"), "6380");
    assert_eq!(r.info("master_link_down_since_seconds"), "-1");
    let mut bytes = fullresync(0);
    bytes.extend_from_slice(&bulk_rdb(&[("k", "v2", None)]));
    r.master_sends(conn, &bytes);
    assert_eq!(r.cmd("GET k"), "$2\r\nv2\r\n");
    // A timeout of the silent master drops the link (repl-timeout 60 s).
    r.advance_ms(61_000);
    assert!(r.logged("MASTER timeout: no data nor PING received..."));
    assert_eq!(r.info("master_link_down_since_seconds"), "0");
    assert!(r.cmd("GET k").starts_with("-MASTERDOWN"));
    // REPLICAOF NO ONE keeps the data, makes it writable and starts a new history.
    assert_eq!(r.cmd("REPLICAOF NO ONE"), "+OK\r\n");
    assert_eq!(r.cmd("GET k"), "$2\r\nv2\r\n");
    assert_eq!(r.cmd("SET k v3"), "+OK\r\n");
    assert_ne!(r.node.repl_id(), MASTER_ID);
    assert!(
        r.logged("Setting secondary replication ID to aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    );
    assert!(r.logged("MASTER MODE enabled (user request from 'id="));
    assert_eq!(r.info("role"), "master");
}

#[test]
fn auth_is_sent_when_masterauth_is_set_and_a_refused_ping_retries() {
    let mut r = Rig::new("masterauth secret\nmasteruser repl\n");
    assert_eq!(r.cmd("REPLICAOF 10.0.0.9 6380"), "+OK\r\n");
    let (conn, _) = r.connect_asked().expect("connect");
    r.input(Input::Connected { conn });
    r.sent(conn);
    r.master_sends(conn, b"-NOAUTH Authentication required.\r\n");
    let hs = r.sent(conn);
    assert!(
        hs.starts_with("*3\r\n$4\r\nAUTH\r\n$4\r\nrepl\r\n$6\r\nsecret\r\n"),
        "{hs}"
    );
    r.master_sends(conn, b"-WRONGPASS invalid username-password pair\r\n");
    assert!(r.logged("Unable to AUTH to MASTER: -WRONGPASS"));
    assert!(r.closed(conn));
    // A PING refused with another error also retries a second later.
    r.advance_ms(1000);
    let (conn, _) = r.connect_asked().expect("a retry");
    r.input(Input::Connected { conn });
    r.master_sends(conn, b"-ERR no\r\n");
    assert!(r.logged("Error reply to PING from master: '-ERR no'"));
    r.advance_ms(1000);
    assert!(r.connect_asked().is_some());
}

#[test]
fn a_killed_master_client_relinks_and_announce_ip_is_sent() {
    let mut r = Rig::new("replica-announce-ip 10.1.1.1\n");
    assert_eq!(r.cmd("REPLICAOF 10.0.0.9 6380"), "+OK\r\n");
    let (conn, _) = r.connect_asked().expect("connect");
    r.input(Input::Connected { conn });
    r.sent(conn);
    r.master_sends(conn, b"+PONG\r\n");
    let hs = r.sent(conn);
    assert!(
        hs.contains("$10\r\nip-address\r\n$8\r\n10.1.1.1\r\n"),
        "{hs}"
    );
    // Three replies: port, ip, capa.
    r.master_sends(conn, b"+OK\r\n+OK\r\n");
    assert_eq!(r.sent(conn), "", "no PSYNC before the capa reply");
    r.master_sends(conn, b"-ERR unknown\r\n");
    assert!(r.sent(conn).contains("PSYNC"));
    let mut bytes = fullresync(0);
    bytes.extend_from_slice(&bulk_rdb(&[]));
    r.master_sends(conn, &bytes);
    let list = r.cmd("CLIENT LIST");
    let id = list
        .lines()
        .find(|l| l.contains("flags=M"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|f| f.strip_prefix("id="))
        .expect("a master client")
        .to_string();
    assert_eq!(r.cmd(&format!("CLIENT KILL ID {id}")), ":1\r\n");
    r.advance_ms(100);
    assert!(r.logged("Connection with master lost."));
    let (again, _) = r.connect_asked().expect("a reconnect");
    assert_ne!(again, conn);
}

/// keel replicating keel in memory (the kit's links): full sync, the stream, equal
/// digests; a master that becomes a replica serves its replicas as a chain.
#[test]
fn keel_pair_in_memory_and_a_demoted_master_chains_its_replicas() {
    use crate::testkit::Kit;
    let mut k = Kit::with_nodes(3, "repl-diskless-sync-delay 0\n", START);
    for i in 0..3 {
        k.connect_on(i, 1);
    }
    assert_eq!(k.cmd_on(0, 1, &[b"RPUSH", b"l", b"a", b"b"]), b":2\r\n");
    let addr0 = Kit::addr_of(0);
    let (host, port) = addr0.split_once(':').unwrap();
    let reply = k.cmd_on(1, 1, &[b"REPLICAOF", host.as_bytes(), port.as_bytes()]);
    assert_eq!(reply, b"+OK\r\n");
    for _ in 0..30 {
        k.advance_ms(100);
    }
    assert_eq!(k.cmd_on(0, 1, &[b"SET", b"x", b"1"]), b"+OK\r\n");
    k.advance_ms(100);
    let digest = |k: &mut Kit, i: usize| k.cmd_on(i, 1, &[b"DEBUG", b"DIGEST"]);
    assert_eq!(digest(&mut k, 0), digest(&mut k, 1));
    assert_eq!(k.cmd_on(1, 1, &[b"GET", b"x"]), b"$1\r\n1\r\n");
    // Node 0 becomes a replica of node 2: its full sync (a new history) drops node
    // 1's link, and node 1 syncs again from node 0, now a chain (Redis 7.0 keeps a
    // demoted master's replicas until its history changes).
    assert_eq!(k.cmd_on(2, 1, &[b"SET", b"y", b"2"]), b"+OK\r\n");
    let addr2 = Kit::addr_of(2);
    let (host2, port2) = addr2.split_once(':').unwrap();
    let reply = k.cmd_on(0, 1, &[b"REPLICAOF", host2.as_bytes(), port2.as_bytes()]);
    assert_eq!(reply, b"+OK\r\n");
    for _ in 0..30 {
        k.advance_ms(100);
    }
    let info = String::from_utf8(k.cmd_on(0, 1, &[b"INFO", b"replication"])).unwrap();
    assert!(
        info.contains("role:slave") && info.contains("connected_slaves:1"),
        "{info}"
    );
    assert!(info.contains("master_link_status:up"), "{info}");
    let info1 = String::from_utf8(k.cmd_on(1, 1, &[b"INFO", b"stats"])).unwrap();
    assert!(info1.contains("sync_full:0"), "{info1}");
    assert_eq!(k.cmd_on(1, 1, &[b"GET", b"y"]), b"$1\r\n2\r\n");
    assert_eq!(k.cmd_on(1, 1, &[b"GET", b"x"]), b"$-1\r\n");
    assert_eq!(digest(&mut k, 2), digest(&mut k, 1));
}

/// Any chunking of the link's bytes gives the same dataset and offset, in both forms.
#[test]
fn every_chunking_of_a_sync_gives_the_same_result() {
    for eof in [false, true] {
        for size in 1..=45 {
            let mut r = Rig::new("");
            let (conn, _) = r.handshake();
            let mut bytes = fullresync(5);
            let body = rdb(&[
                ("k", "v", None),
                ("k2", "v2", Some(START.wall_ms + 1_000_000)),
            ]);
            if eof {
                bytes.extend_from_slice(format!("$EOF:{MARK}\r\n").as_bytes());
                bytes.extend_from_slice(&body);
                bytes.extend_from_slice(MARK.as_bytes());
            } else {
                bytes.extend_from_slice(format!("${}\r\n", body.len()).as_bytes());
                bytes.extend_from_slice(&body);
            }
            let set = cmd_bytes("SET a 1");
            bytes.extend_from_slice(&set);
            for piece in bytes.chunks(size) {
                r.master_sends(conn, piece);
            }
            assert_eq!(
                r.cmd("MGET k k2 a"),
                "*3\r\n$1\r\nv\r\n$2\r\nv2\r\n$1\r\n1\r\n",
                "eof={eof} size={size}"
            );
            assert_eq!(r.info("slave_repl_offset"), (5 + set.len()).to_string());
        }
    }
}

/// A partial resync continues in the database the stream last selected: the master
/// sends no SELECT for it again.
#[test]
fn a_partial_resync_continues_in_the_selected_database() {
    let mut r = Rig::new("");
    let (conn, _) = r.handshake();
    let mut bytes = fullresync(0);
    bytes.extend_from_slice(&bulk_rdb(&[]));
    bytes.extend_from_slice(&cmd_bytes("SELECT 3"));
    bytes.extend_from_slice(&cmd_bytes("SET x 1"));
    r.master_sends(conn, &bytes);
    r.input(Input::Closed {
        conn,
        reason: CloseReason::PeerClosed,
    });
    let (conn, _) = r.connect_asked().expect("a reconnect");
    r.input(Input::Connected { conn });
    r.master_sends(conn, b"+PONG\r\n+OK\r\n+OK\r\n");
    let mut bytes = format!("+CONTINUE {MASTER_ID}\r\n").into_bytes();
    bytes.extend_from_slice(&cmd_bytes("SET y 2"));
    r.master_sends(conn, &bytes);
    assert_eq!(r.cmd("SELECT 3"), "+OK\r\n");
    assert_eq!(r.cmd("MGET x y"), "*2\r\n$1\r\n1\r\n$1\r\n2\r\n");
}
