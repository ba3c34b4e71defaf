//! Pub/sub: who listens to which channel, pattern and shard channel, and the delivery
//! of messages into subscribers' output buffers. Ordered maps only, so delivery order
//! is reproducible; the node flushes the touched subscribers after the command. It
//! never sees the client table: delivery goes through the caller's `deliver`.

use std::collections::{BTreeMap, BTreeSet};

use crate::io::ConnId;
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
        Proto::Resp3 => out.push(len),
    }
}

/// `[kind, channel-or-nil, count]`: the reply of each (un)subscription.
pub fn subscription_reply(out: &mut ReplyBuf, kind: &str, name: Option<&[u8]>, count: usize) {
    let start = out.len();
    push_header(out, 3);
    out.bulk(kind.as_bytes());
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
    out.mark_push(start);
}

fn write_message(out: &mut ReplyBuf, kind: &[u8], channel: &[u8], message: &[u8]) {
    let start = out.len();
    push_header(out, 3);
    out.bulk(kind);
    out.bulk(channel);
    out.bulk(message);
    out.mark_push(start);
}

fn write_pmessage(out: &mut ReplyBuf, pattern: &[u8], channel: &[u8], message: &[u8]) {
    let start = out.len();
    push_header(out, 4);
    out.bulk(b"pmessage");
    out.bulk(pattern);
    out.bulk(channel);
    out.bulk(message);
    out.mark_push(start);
}

/// Delivers `message` on `channel` (Redis's `pubsubPublishMessage`): channel
/// subscribers first, then matching patterns (not for shard channels). `deliver`
/// writes into one subscriber's output and says whether that subscriber was there.
/// Returns how many receivers got it.
pub fn publish(
    pubsub: &PubSub,
    channel: &[u8],
    message: &[u8],
    shard: bool,
    mut deliver: impl FnMut(ConnId, &dyn Fn(&mut ReplyBuf)) -> bool,
) -> usize {
    let mut receivers = 0usize;
    let (table, kind): (_, &[u8]) = if shard {
        (&pubsub.shard_channels, b"smessage")
    } else {
        (&pubsub.channels, b"message")
    };
    if let Some(list) = table.get(channel) {
        for &conn in list {
            if deliver(conn, &|out| write_message(out, kind, channel, message)) {
                receivers += 1;
            }
        }
    }
    if !shard {
        for (pattern, list) in &pubsub.patterns {
            if !crate::glob::glob_match(pattern, channel, false) {
                continue;
            }
            for &conn in list {
                if deliver(conn, &|out| write_pmessage(out, pattern, channel, message)) {
                    receivers += 1;
                }
            }
        }
    }
    receivers
}

#[cfg(test)]
mod tests {
    use crate::testkit::Kit;

    fn msg(kind: &str, channel: &str, payload: &str) -> String {
        format!(
            "*3\r\n${}\r\n{kind}\r\n${}\r\n{channel}\r\n${}\r\n{payload}\r\n",
            kind.len(),
            channel.len(),
            payload.len()
        )
    }

    #[test]
    fn subscribe_publish_unsubscribe() {
        let mut b = Kit::new("");
        b.connect(1);
        b.connect(2);
        assert_eq!(
            b.cmd(1, "SUBSCRIBE a b a"),
            "*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:2\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:2\r\n"
        );
        assert_eq!(
            b.cmd(1, "PSUBSCRIBE p*"),
            "*3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:3\r\n"
        );
        assert_eq!(
            b.cmd(1, "SSUBSCRIBE s"),
            "*3\r\n$10\r\nssubscribe\r\n$1\r\ns\r\n:1\r\n"
        );
        assert_eq!(b.cmd(2, "PUBLISH a hi"), ":1\r\n");
        assert_eq!(b.take(1), msg("message", "a", "hi"));
        assert_eq!(b.cmd(2, "PUBLISH px yo"), ":1\r\n");
        assert_eq!(
            b.take(1),
            "*4\r\n$8\r\npmessage\r\n$2\r\np*\r\n$2\r\npx\r\n$2\r\nyo\r\n"
        );
        assert_eq!(b.cmd(2, "SPUBLISH s z"), ":1\r\n");
        assert_eq!(b.take(1), msg("smessage", "s", "z"));
        assert_eq!(
            b.cmd(2, "PUBLISH s z"),
            ":0\r\n",
            "shard channels are apart"
        );
        assert_eq!(
            b.cmd(2, "PUBSUB NUMSUB a c"),
            "*4\r\n$1\r\na\r\n:1\r\n$1\r\nc\r\n:0\r\n"
        );
        assert_eq!(b.cmd(2, "PUBSUB NUMPAT"), ":1\r\n");
        assert_eq!(b.cmd(2, "PUBSUB CHANNELS"), "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
        assert_eq!(b.cmd(2, "PUBSUB SHARDCHANNELS"), "*1\r\n$1\r\ns\r\n");
        assert!(b
            .cmd(2, "INFO stats")
            .contains("pubsub_channels:2\r\npubsub_patterns:1\r\npubsubshard_channels:1\r\n"));
        let list = b.cmd(2, "CLIENT LIST TYPE pubsub");
        assert!(
            list.contains("flags=P ") && list.contains("sub=2 psub=1 ssub=1 "),
            "{list}"
        );
        assert_eq!(list.matches("id=").count(), 1);
        // RESP2 subscribed mode: only the subscription commands, PING and friends.
        assert_eq!(b.cmd(1, "GET x"), "-ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context\r\n");
        assert!(b.cmd(1, "CLIENT LIST").contains("'client|list'"));
        assert_eq!(b.cmd(1, "PING"), "*2\r\n$4\r\npong\r\n$0\r\n\r\n");
        assert_eq!(b.cmd(1, "PING x"), "*2\r\n$4\r\npong\r\n$1\r\nx\r\n");
        assert_eq!(
            b.cmd(1, "UNSUBSCRIBE"),
            "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:2\r\n*3\r\n$11\r\nunsubscribe\r\n$1\r\nb\r\n:1\r\n"
        );
        assert_eq!(
            b.cmd(1, "UNSUBSCRIBE"),
            "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:1\r\n"
        );
        assert_eq!(
            b.cmd(1, "PUNSUBSCRIBE p*"),
            "*3\r\n$12\r\npunsubscribe\r\n$2\r\np*\r\n:0\r\n"
        );
        assert_eq!(
            b.cmd(1, "PING"),
            "*2\r\n$4\r\npong\r\n$0\r\n\r\n",
            "still has a shard channel"
        );
        assert_eq!(b.cmd(1, "RESET"), "+RESET\r\n");
        assert_eq!(b.cmd(1, "PING"), "+PONG\r\n");
        assert_eq!(b.cmd(2, "SPUBLISH s z"), ":0\r\n");
    }

    #[test]
    fn resp3_push_and_closed_subscriber() {
        let mut b = Kit::new("");
        b.connect(1);
        b.connect(2);
        b.cmd(1, "HELLO 3");
        assert_eq!(
            b.cmd(1, "SUBSCRIBE a"),
            ">3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:1\r\n"
        );
        assert_eq!(
            b.cmd(1, "GET x"),
            "_\r\n",
            "RESP3 has no subscribed-mode limits"
        );
        assert_eq!(
            b.cmd(1, "PUBLISH a self"),
            ">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$4\r\nself\r\n:1\r\n"
        );
        assert_eq!(
            b.cmd(1, "UNSUBSCRIBE"),
            ">3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n"
        );
        assert_eq!(
            b.cmd(1, "UNSUBSCRIBE"),
            ">3\r\n$11\r\nunsubscribe\r\n_\r\n:0\r\n"
        );
        b.cmd(1, "SUBSCRIBE a");
        b.input(
            0,
            crate::io::Input::Closed {
                conn: 1,
                reason: crate::io::CloseReason::Dropped,
            },
        );
        assert_eq!(b.cmd(2, "PUBLISH a x"), ":0\r\n");
        assert_eq!(b.cmd(2, "PUBSUB CHANNELS"), "*0\r\n");
    }

    #[test]
    fn subscribe_inside_multi() {
        let mut b = Kit::new("");
        b.connect(1);
        b.cmd(1, "MULTI");
        b.cmd(1, "SUBSCRIBE b");
        b.cmd(1, "PING");
        assert_eq!(
            b.cmd(1, "EXEC"),
            "*2\r\n*3\r\n$9\r\nsubscribe\r\n$1\r\nb\r\n:1\r\n*2\r\n$4\r\npong\r\n$0\r\n\r\n",
            "as redis-server 7.0.15: PING sees the subscription made earlier in the EXEC"
        );
    }

    #[test]
    fn keyspace_notifications() {
        let mut b = Kit::new("notify-keyspace-events KEA\n");
        b.connect(1);
        b.connect(2);
        b.cmd(1, "PSUBSCRIBE __key*");
        b.cmd(2, "SET foo bar");
        assert_eq!(
            b.take(1),
            "*4\r\n$8\r\npmessage\r\n$6\r\n__key*\r\n$18\r\n__keyspace@0__:foo\r\n$3\r\nset\r\n*4\r\n$8\r\npmessage\r\n$6\r\n__key*\r\n$18\r\n__keyevent@0__:set\r\n$3\r\nfoo\r\n"
        );
        b.cmd(1, "PUNSUBSCRIBE");
        b.cmd(1, "SUBSCRIBE __keyevent@0__:del __keyevent@0__:expired __keyevent@0__:rename_to __keyevent@0__:hdel __keyevent@0__:new __keyevent@0__:keymiss");
        b.take(1);
        b.cmd(2, "DEL foo nope");
        assert_eq!(b.take(1), msg("message", "__keyevent@0__:del", "foo"));
        b.cmd(2, "SET k v PX 10");
        b.node().set_active_expire(false);
        b.advance_ms(50);
        assert_eq!(b.take(1), "");
        b.cmd(2, "GET k");
        assert_eq!(
            b.take(1),
            msg("message", "__keyevent@0__:expired", "k"),
            "m and n are not in A"
        );
        b.node().set_active_expire(true);
        b.cmd(2, "SET k2 v PX 10");
        b.advance_ms(200);
        assert_eq!(
            b.take(1),
            msg("message", "__keyevent@0__:expired", "k2"),
            "active expiry"
        );
        b.cmd(2, "HSET h a 1");
        b.cmd(2, "RENAME h h2");
        b.cmd(2, "HDEL h2 a");
        assert_eq!(
            b.take(1),
            [
                msg("message", "__keyevent@0__:rename_to", "h2"),
                msg("message", "__keyevent@0__:hdel", "h2"),
                msg("message", "__keyevent@0__:del", "h2"),
            ]
            .concat()
        );
        b.cmd(2, "CONFIG SET notify-keyspace-events Enm");
        b.cmd(2, "SET n 1");
        b.cmd(2, "GET missing");
        assert_eq!(
            b.take(1),
            [
                msg("message", "__keyevent@0__:new", "n"),
                msg("message", "__keyevent@0__:keymiss", "missing"),
            ]
            .concat()
        );
        b.cmd(2, "CONFIG SET notify-keyspace-events \"\"");
        b.cmd(2, "DEL n");
        assert_eq!(b.take(1), "");
    }
}

#[cfg(test)]
mod kill_tests {
    use crate::testkit::Kit;

    #[test]
    fn killed_subscriber_is_forgotten() {
        let mut b = Kit::new("");
        b.connect(1);
        b.connect(2);
        b.connect(3);
        b.cmd(1, "SUBSCRIBE a");
        b.cmd(3, "SUBSCRIBE a");
        assert_eq!(
            b.cmd(2, "CLIENT KILL TYPE normal"),
            ":0\r\n",
            "skipme yes by default"
        );
        assert_eq!(b.cmd(2, "CLIENT KILL TYPE pubsub"), ":2\r\n");
        assert!(b.closed.contains(&(0, 1)) && b.closed.contains(&(0, 3)));
        assert_eq!(b.cmd(2, "PUBSUB NUMSUB a"), "*2\r\n$1\r\na\r\n:0\r\n");
        assert_eq!(b.cmd(2, "PUBLISH a x"), ":0\r\n");
    }
}
