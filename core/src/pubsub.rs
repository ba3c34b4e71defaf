//! Pub/sub: who listens to which channel, pattern and shard channel, and the delivery
//! of messages into subscribers' output buffers. Ordered maps only, so delivery order
//! is reproducible; the node flushes the touched subscribers after the command.

use std::collections::{BTreeMap, BTreeSet};

use crate::client::Client;
use crate::node::{ConnId, Node};
use crate::resp::{Proto, ReplyBuf};

/// One client's subscriptions (Redis's `c->pubsub_channels`, `c->pubsub_patterns`,
/// `c->pubsub_shard_channels`). Patterns keep subscription order, as 7.0's list.
#[derive(Debug, Default, Clone)]
pub struct ClientSubs {
    pub channels: BTreeSet<Vec<u8>>,
    pub patterns: Vec<Vec<u8>>,
    pub shard_channels: BTreeSet<Vec<u8>>,
}

impl ClientSubs {
    /// Redis's `clientSubscriptionsCount`: channels plus patterns.
    pub fn count(&self) -> usize {
        self.channels.len() + self.patterns.len()
    }

    /// In pub/sub mode (`CLIENT_PUBSUB`): any subscription at all.
    pub fn active(&self) -> bool {
        self.count() + self.shard_channels.len() > 0
    }

    pub fn memory_bytes(&self) -> usize {
        let sum = |it: &mut dyn Iterator<Item = &Vec<u8>>| it.map(|c| c.len() + 24).sum::<usize>();
        sum(&mut self.channels.iter())
            + sum(&mut self.patterns.iter())
            + sum(&mut self.shard_channels.iter())
    }
}

/// The three kinds of subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Channel,
    Pattern,
    Shard,
}

/// Node-wide subscriber tables: name -> subscribers in subscription order.
#[derive(Debug, Default)]
pub struct PubSub {
    pub channels: BTreeMap<Vec<u8>, Vec<ConnId>>,
    pub patterns: BTreeMap<Vec<u8>, Vec<ConnId>>,
    pub shard_channels: BTreeMap<Vec<u8>, Vec<ConnId>>,
}

impl PubSub {
    pub fn table(&self, kind: Kind) -> &BTreeMap<Vec<u8>, Vec<ConnId>> {
        match kind {
            Kind::Channel => &self.channels,
            Kind::Pattern => &self.patterns,
            Kind::Shard => &self.shard_channels,
        }
    }

    fn table_mut(&mut self, kind: Kind) -> &mut BTreeMap<Vec<u8>, Vec<ConnId>> {
        match kind {
            Kind::Channel => &mut self.channels,
            Kind::Pattern => &mut self.patterns,
            Kind::Shard => &mut self.shard_channels,
        }
    }

    /// Adds `conn` to `name`; false when it was subscribed already.
    pub fn subscribe(
        &mut self,
        kind: Kind,
        subs: &mut ClientSubs,
        conn: ConnId,
        name: &[u8],
    ) -> bool {
        let added = match kind {
            Kind::Channel => subs.channels.insert(name.to_vec()),
            Kind::Shard => subs.shard_channels.insert(name.to_vec()),
            Kind::Pattern => {
                let new = !subs.patterns.iter().any(|p| p == name);
                if new {
                    subs.patterns.push(name.to_vec());
                }
                new
            }
        };
        if added {
            self.table_mut(kind)
                .entry(name.to_vec())
                .or_default()
                .push(conn);
        }
        added
    }

    /// Removes `conn` from `name`; false when it was not subscribed.
    pub fn unsubscribe(
        &mut self,
        kind: Kind,
        subs: &mut ClientSubs,
        conn: ConnId,
        name: &[u8],
    ) -> bool {
        let removed = match kind {
            Kind::Channel => subs.channels.remove(name),
            Kind::Shard => subs.shard_channels.remove(name),
            Kind::Pattern => {
                let before = subs.patterns.len();
                subs.patterns.retain(|p| p != name);
                subs.patterns.len() != before
            }
        };
        if removed {
            let table = self.table_mut(kind);
            if let Some(list) = table.get_mut(name) {
                list.retain(|&c| c != conn);
                if list.is_empty() {
                    table.remove(name);
                }
            }
        }
        removed
    }

    /// Drops every subscription of a closing client, without replies.
    pub fn forget(&mut self, subs: &mut ClientSubs, conn: ConnId) {
        for name in std::mem::take(&mut subs.channels) {
            remove_from(&mut self.channels, &name, conn);
        }
        for name in std::mem::take(&mut subs.patterns) {
            remove_from(&mut self.patterns, &name, conn);
        }
        for name in std::mem::take(&mut subs.shard_channels) {
            remove_from(&mut self.shard_channels, &name, conn);
        }
    }
}

fn remove_from(table: &mut BTreeMap<Vec<u8>, Vec<ConnId>>, name: &[u8], conn: ConnId) {
    if let Some(list) = table.get_mut(name) {
        list.retain(|&c| c != conn);
        if list.is_empty() {
            table.remove(name);
        }
    }
}

/// An array header in RESP2, a push header (`>`) in RESP3.
pub fn push_header(out: &mut ReplyBuf, len: usize) {
    match out.proto {
        Proto::Resp2 => out.array(len),
        Proto::Resp3 => {
            out.bytes.push(b'>');
            crate::util::write_i64(&mut out.bytes, len as i64);
            out.bytes.extend_from_slice(b"\r\n");
        }
    }
}

/// `[kind, channel-or-nil, count]`: the reply of each (un)subscription.
pub fn subscription_reply(out: &mut ReplyBuf, kind: &str, name: Option<&[u8]>, count: usize) {
    push_header(out, 3);
    out.bulk(kind.as_bytes());
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}

fn write_message(out: &mut ReplyBuf, kind: &[u8], channel: &[u8], message: &[u8]) {
    push_header(out, 3);
    out.bulk(kind);
    out.bulk(channel);
    out.bulk(message);
}

fn write_pmessage(out: &mut ReplyBuf, pattern: &[u8], channel: &[u8], message: &[u8]) {
    push_header(out, 4);
    out.bulk(b"pmessage");
    out.bulk(pattern);
    out.bulk(channel);
    out.bulk(message);
}

/// Delivers `message` on `channel` (Redis's `pubsubPublishMessage`): channel
/// subscribers first, then matching patterns (not for shard channels). `running` is
/// the client whose command runs (it is out of the node's table meanwhile). Returns
/// how many receivers got it.
pub fn publish(
    node: &mut Node,
    mut running: Option<&mut Client>,
    channel: &[u8],
    message: &[u8],
    shard: bool,
) -> usize {
    let Node {
        pubsub,
        clients,
        pending_flush,
        ..
    } = node;
    let mut receivers = 0usize;
    let mut deliver = |conn: ConnId, write: &dyn Fn(&mut ReplyBuf)| {
        if let Some(r) = running.as_deref_mut().filter(|r| r.conn == conn) {
            write(&mut r.out);
        } else if let Some(c) = clients.get_mut(&conn) {
            write(&mut c.out);
            pending_flush.insert(conn);
        } else {
            return;
        }
        receivers += 1;
    };
    let (table, kind): (_, &[u8]) = if shard {
        (&pubsub.shard_channels, b"smessage")
    } else {
        (&pubsub.channels, b"message")
    };
    if let Some(list) = table.get(channel) {
        for &conn in list {
            deliver(conn, &|out| write_message(out, kind, channel, message));
        }
    }
    if !shard {
        for (pattern, list) in &pubsub.patterns {
            if !crate::glob::glob_match(pattern, channel, false) {
                continue;
            }
            for &conn in list {
                deliver(conn, &|out| write_pmessage(out, pattern, channel, message));
            }
        }
    }
    receivers
}
