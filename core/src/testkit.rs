//! The one harness for core tests (quinn's `Pair`, grown to N nodes): nodes on one
//! handed-in clock, client connections whose output is kept per connection, and
//! in-memory links between nodes; `drive()` runs effects until every node is quiet.
//! Tests only: it never touches a socket, a file or a real clock.

use std::collections::{BTreeMap, VecDeque};

use crate::config::Config;
use crate::io::{CloseReason, Listener};
use crate::io::{ConnId, Effect, Input, Now};
use crate::node::Node;
use crate::resp::Value;
use crate::server::NodeSeeds;

/// The clock every kit starts at unless told otherwise.
pub(crate) const START: Now = Now {
    mono_ms: 10,
    wall_ms: 1_700_000_000_010,
};

/// Effects handed on between nodes before a `drive` gives up (a livelock guard).
const MAX_DRIVE_STEPS: usize = 1_000_000;

/// A node with the test config (DEBUG enabled) plus `config_text`, seeded as every
/// core test's node is.
pub(crate) fn node_with(config_text: &str, index: usize, now: Now) -> Node {
    let mut config = Config::default();
    config
        .apply_text(&format!("enable-debug-command yes\n{config_text}"))
        .expect("valid config");
    Node::new(
        config,
        NodeSeeds {
            rng_seed: 7 + index as u64,
            hash_seeds: [1, 2, 3, 4 + index as u64],
        },
        now,
    )
}

/// Nodes, their clients and the links between them.
pub(crate) struct Kit {
    pub nodes: Vec<Node>,
    pub now: Now,
    /// Output of client connections (unlinked), per (node, conn), until taken.
    out: BTreeMap<(usize, ConnId), Vec<u8>>,
    /// Connections the nodes closed or aborted, in order.
    pub closed: Vec<(usize, ConnId)>,
    /// Effects the kit does not act on (logs, disk ops, frees ...), in order.
    pub effects: Vec<(usize, Effect)>,
    /// Each end of an in-memory link and the end it feeds.
    links: BTreeMap<(usize, ConnId), (usize, ConnId)>,
    /// Bytes in flight on links, delivered in order by `drive`.
    in_flight: VecDeque<((usize, ConnId), Vec<u8>)>,
    /// Connection ids the kit hands out for the accepting end of a link.
    next_link_conn: ConnId,
}

impl Kit {
    /// One node, with `config_text` on top of the test config.
    pub fn new(config_text: &str) -> Kit {
        Kit::with_nodes(1, config_text, START)
    }

    /// `n` nodes on one clock starting at `now`.
    pub fn with_nodes(n: usize, config_text: &str, now: Now) -> Kit {
        Kit {
            nodes: (0..n).map(|i| node_with(config_text, i, now)).collect(),
            now,
            out: BTreeMap::new(),
            closed: Vec::new(),
            effects: Vec::new(),
            links: BTreeMap::new(),
            in_flight: VecDeque::new(),
            next_link_conn: 1 << 40,
        }
    }

    /// Node 0.
    pub fn node(&mut self) -> &mut Node {
        self.node_at(0)
    }

    pub fn node_at(&mut self, index: usize) -> &mut Node {
        &mut self.nodes[index]
    }

    /// The address node `index` is reached at by `Effect::Connect`.
    pub fn addr_of(index: usize) -> String {
        format!("127.0.0.1:{}", 6379 + index)
    }

    /// Hands `input` to node `index`, then drives every node until quiet.
    pub fn input(&mut self, index: usize, input: Input<'_>) {
        let now = self.now;
        self.nodes[index].handle(now, input);
        self.drive();
    }

    /// Opens client connection `conn` on node 0.
    pub fn connect(&mut self, conn: ConnId) {
        self.connect_on(0, conn);
    }

    pub fn connect_on(&mut self, index: usize, conn: ConnId) {
        self.input(
            index,
            Input::Accepted {
                conn,
                listener: Listener::Client,
                peer: format!("127.0.0.1:{}", 40000 + conn),
                local: Kit::addr_of(index),
                peer_is_loopback: true,
            },
        );
    }

    /// Sends raw bytes on node 0's `conn`.
    pub fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        self.input(0, Input::Data { conn, bytes });
    }

    /// Sends the commands of `lines` (`;`-separated, words split at whitespace) in one
    /// packet on node 0's `conn`.
    pub fn send_lines(&mut self, conn: ConnId, lines: &str) {
        let bytes: Vec<u8> = lines
            .split(';')
            .flat_map(|l| {
                let args: Vec<&str> = l.split_whitespace().collect();
                crate::resp::encode_request(&args)
            })
            .collect();
        self.send(conn, &bytes);
    }

    /// One field of `INFO <section>`, asked on `conn`.
    pub fn info_field(&mut self, conn: ConnId, section: &str, field: &str) -> String {
        let info = self.cmd(conn, &format!("INFO {section}"));
        info.lines()
            .find_map(|l| l.strip_prefix(&format!("{field}:")))
            .unwrap_or_else(|| panic!("no {field} in {info}"))
            .to_string()
    }

    /// Sends one command (words split at whitespace) on node 0's `conn`; returns what
    /// `conn` received since the last look, as text.
    pub fn cmd(&mut self, conn: ConnId, line: &str) -> String {
        let args: Vec<&str> = line.split_whitespace().collect();
        self.send(conn, &crate::resp::encode_request(&args));
        self.take(conn)
    }

    /// Sends one command as arguments on node `index`'s `conn`; returns the raw bytes
    /// `conn` received since the last look.
    pub fn cmd_on(&mut self, index: usize, conn: ConnId, args: &[&[u8]]) -> Vec<u8> {
        let req = crate::resp::encode_request(args);
        self.input(index, Input::Data { conn, bytes: &req });
        self.take_bytes_on(index, conn)
    }

    /// Sends one command line on node 0's `conn` and decodes its one reply.
    pub fn value(&mut self, conn: ConnId, line: &str) -> Value {
        let args: Vec<&str> = line.split_whitespace().collect();
        self.send(conn, &crate::resp::encode_request(&args));
        let mut values = self.take_values(conn);
        assert_eq!(values.len(), 1, "{line}: one reply, got {values:?}");
        values.remove(0)
    }

    /// What node 0's `conn` received since the last look, as text.
    pub fn take(&mut self, conn: ConnId) -> String {
        String::from_utf8_lossy(&self.take_bytes_on(0, conn)).into_owned()
    }

    pub fn take_bytes_on(&mut self, index: usize, conn: ConnId) -> Vec<u8> {
        self.out.remove(&(index, conn)).unwrap_or_default()
    }

    /// The replies node 0's `conn` received since the last look, decoded.
    pub fn take_values(&mut self, conn: ConnId) -> Vec<Value> {
        let bytes = self.take_bytes_on(0, conn);
        let mut values = Vec::new();
        let mut pos = 0;
        while pos < bytes.len() {
            match crate::resp::decode(&bytes[pos..]) {
                Ok(Some((v, n))) => {
                    values.push(v);
                    pos += n;
                }
                other => panic!("undecodable output ({other:?}) at {pos} of {bytes:?}"),
            }
        }
        values
    }

    /// Moves the clock on by `ms` (both clocks) and ticks every node.
    pub fn advance_ms(&mut self, ms: u64) {
        self.advance_to(self.now.mono_ms + ms);
    }

    /// Moves the monotonic clock to `mono_ms` (the wall clock by as much) and ticks
    /// every node.
    pub fn advance_to(&mut self, mono_ms: u64) {
        let step = mono_ms - self.now.mono_ms;
        self.now.mono_ms = mono_ms;
        self.now.wall_ms += step;
        for i in 0..self.nodes.len() {
            let now = self.now;
            self.nodes[i].handle(now, Input::Tick);
        }
        self.drive();
    }

    /// Runs effects until no node has any left and no bytes are in flight: client
    /// output is kept, link output delivered, connects to other nodes made, the rest
    /// recorded in `effects`.
    pub fn drive(&mut self) {
        for _ in 0..MAX_DRIVE_STEPS {
            let mut quiet = true;
            for i in 0..self.nodes.len() {
                while let Some(e) = self.nodes[i].poll_effect() {
                    quiet = false;
                    self.execute(i, e);
                }
            }
            if let Some((to, bytes)) = self.in_flight.pop_front() {
                quiet = false;
                let now = self.now;
                self.nodes[to.0].handle(
                    now,
                    Input::Data {
                        conn: to.1,
                        bytes: &bytes,
                    },
                );
            }
            if quiet {
                return;
            }
        }
        panic!("nodes still busy after {MAX_DRIVE_STEPS} steps");
    }

    fn execute(&mut self, index: usize, effect: Effect) {
        match effect {
            Effect::Send { conn, bytes } => match self.links.get(&(index, conn)) {
                Some(&to) => self.in_flight.push_back((to, bytes)),
                None => self
                    .out
                    .entry((index, conn))
                    .or_default()
                    .extend_from_slice(&bytes),
            },
            Effect::Close { conn } | Effect::Abort { conn } => {
                self.closed.push((index, conn));
                if let Some(to) = self.links.remove(&(index, conn)) {
                    self.links.remove(&to);
                    let now = self.now;
                    self.nodes[to.0].handle(
                        now,
                        Input::Closed {
                            conn: to.1,
                            reason: CloseReason::PeerClosed,
                        },
                    );
                }
            }
            Effect::Connect { conn, addr } => {
                let now = self.now;
                let target = (0..self.nodes.len()).find(|&t| Kit::addr_of(t) == addr);
                let Some(target) = target else {
                    self.nodes[index].handle(
                        now,
                        Input::ConnectFailed {
                            conn,
                            error: "Connection refused".into(),
                        },
                    );
                    return;
                };
                let accepted = self.next_link_conn;
                self.next_link_conn += 1;
                self.links.insert((index, conn), (target, accepted));
                self.links.insert((target, accepted), (index, conn));
                self.nodes[target].handle(
                    now,
                    Input::Accepted {
                        conn: accepted,
                        listener: Listener::Client,
                        peer: format!("127.0.0.1:{}", 50000 + conn),
                        local: addr,
                        peer_is_loopback: true,
                    },
                );
                self.nodes[index].handle(now, Input::Connected { conn });
            }
            other => self.effects.push((index, other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_replies_and_decoded_values() {
        let mut k = Kit::new("");
        k.connect(1);
        k.connect(2);
        assert_eq!(k.cmd(1, "SET a 1"), "+OK\r\n");
        assert_eq!(k.value(2, "GET a"), Value::Bulk(b"1".to_vec()));
        k.send_lines(1, "INCR a; INCR a");
        assert_eq!(k.take_values(1), vec![Value::Int(2), Value::Int(3)]);
        assert_eq!(k.take(2), "");
        assert_eq!(k.value(1, "SET t v PX 100"), Value::Simple(b"OK".to_vec()));
        assert_eq!(k.value(1, "PTTL t"), Value::Int(100));
        k.advance_ms(101);
        assert_eq!(k.value(1, "EXISTS t"), Value::Int(0));
        assert_eq!(k.cmd(1, "QUIT"), "+OK\r\n");
        assert_eq!(k.closed, vec![(0, 1)]);
    }

    #[test]
    fn nodes_are_apart_and_links_carry_closes() {
        let mut k = Kit::with_nodes(2, "", START);
        k.connect_on(0, 1);
        k.connect_on(1, 1);
        assert_eq!(k.cmd_on(0, 1, &[b"SET", b"k", b"v"]), b"+OK\r\n");
        assert_eq!(k.cmd_on(1, 1, &[b"EXISTS", b"k"]), b":0\r\n");
        // A dial to node 1 links a new client there to node 0's end. Node 0 never
        // asked for conn 9 (nothing dials yet), so it closes it, and node 1 sees the
        // close.
        k.execute(
            0,
            Effect::Connect {
                conn: 9,
                addr: Kit::addr_of(1),
            },
        );
        assert_eq!(k.links.len(), 2);
        k.drive();
        assert!(k.closed.contains(&(0, 9)), "{:?}", k.closed);
        assert!(k.links.is_empty());
        let list = String::from_utf8(k.cmd_on(1, 1, &[b"CLIENT", b"LIST"])).unwrap();
        assert_eq!(list.matches("id=").count(), 1, "{list}");
        // An address no node has fails; nothing is linked.
        k.execute(
            0,
            Effect::Connect {
                conn: 10,
                addr: "10.0.0.1:1".into(),
            },
        );
        k.drive();
        assert!(k.links.is_empty());
    }
}
