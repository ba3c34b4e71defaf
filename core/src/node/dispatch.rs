//! The clients-and-dispatch sub-machine: accepting a connection, parsing a client's
//! input and running its commands through `commands::execute`, output limits, and
//! handing replies to the driver. It owns no state of its own beyond the node's
//! parts it borrows; it never reads a clock (`now` is handed in) or touches I/O.

use crate::client::{arm_output_limit, Client, OutputClass};
use crate::commands;
use crate::io::{ConnId, Effect, LogLevel, Now};
use crate::resp::ParseLimits;

use super::Node;

/// A query buffer emptied by a request is kept for the next one up to this size and
/// freed above it (Redis's `PROTO_RESIZE_THRESHOLD`).
pub(super) const QBUF_KEEP_BYTES: usize = 32 * 1024;

/// Redis 7's reply to a non-loopback client while protected mode is on.
const PROTECTED_MODE_ERROR: &str = "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Set up an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n";

impl Node {
    pub(super) fn on_accept(
        &mut self,
        now: Now,
        conn: ConnId,
        peer: String,
        local: String,
        peer_is_loopback: bool,
    ) {
        self.server.stats.total_connections_received += 1;
        if self.clients.table.len() >= self.server.config.settings().maxclients {
            self.server.stats.rejected_connections += 1;
            self.send_and_close(conn, b"-ERR max number of clients reached\r\n");
            return;
        }
        // Redis 7's protected mode: no password for the default user and a
        // non-loopback peer (bind is not consulted, as in Redis 7.0).
        if self.server.config.settings().protected_mode
            && !peer_is_loopback
            && self.server.config.settings().requirepass.is_none()
        {
            self.send_and_close(conn, PROTECTED_MODE_ERROR.as_bytes());
            return;
        }
        let id = self.next_client_id;
        self.next_client_id += 1;
        let authenticated = self.server.config.settings().requirepass.is_none();
        let mut client = Client::new(id, conn, peer, local, now.mono_ms, authenticated);
        client.is_local = peer_is_loopback;
        arm_output_limit(&self.server.hot.output_limits, &mut client);
        self.clients.table.insert(conn, client);
    }

    pub(super) fn send_and_close(&mut self, conn: ConnId, bytes: &[u8]) {
        self.server.effects.push_back(Effect::Send {
            conn,
            bytes: bytes.to_vec(),
        });
        self.server.effects.push_back(Effect::Close { conn });
    }

    pub(super) fn on_data(&mut self, now: Now, conn: ConnId, bytes: &[u8]) {
        let Some(mut client) = self.clients.table.remove(&conn) else {
            return;
        };
        self.server.stats.total_net_input_bytes += bytes.len() as u64;
        self.server.stats.total_reads_processed += u64::from(!bytes.is_empty());
        // Time since the last command (waiting for input) is no command's.
        self.server.observe.break_chain();
        client.last_interaction_mono_ms = now.mono_ms;
        if client.close_after_reply || client.close_asap {
            self.clients.table.insert(conn, client);
            return;
        }
        client.qbuf.extend_from_slice(bytes);
        client.qbuf_peak = client.qbuf_peak.max(client.qbuf.len());
        self.clients.running_client_bytes = client.memory_bytes();
        let mut qbuf = std::mem::take(&mut client.qbuf);
        let mut parser = std::mem::take(&mut client.parser);
        let mut req = std::mem::take(&mut client.request);
        let mut qpos = 0usize;
        let proto_max = self.server.hot.proto_max_bulk_len_bytes;
        arm_output_limit(&self.server.hot.output_limits, &mut client);
        while !client.close_after_reply
            && !client.close_asap
            && !self.server.shutting_down
            && !client.blocked
            && !client.postponed
            && !client.awaiting_driver
            && !self.server.persist.boot_probe
        {
            let limits = ParseLimits {
                proto_max_bulk_len_bytes: proto_max,
                authenticated: client.authenticated,
            };
            let Some(rest) = qbuf.get(qpos..) else { break };
            match parser.next_request(rest, limits, &mut req) {
                Ok(None) => break,
                Ok(Some(())) => {
                    let base = if req.inline {
                        &parser.scratch[..]
                    } else {
                        rest
                    };
                    client.more_pipelined = rest.len() > req.consumed_bytes;
                    // `used_memory` as this command finds it: the commands before it in
                    // the batch grew the reply or freed a transaction's queue (EXEC),
                    // and Redis's OOM check sees that (chaos 0x11b: a stale count kept
                    // an executed MULTI's queue and refused the SET after its EXEC).
                    self.clients.running_client_bytes =
                        client.memory_bytes().saturating_add(qbuf.capacity());
                    // Redis's processCommand closes the biggest clients first
                    // under `maxmemory-clients`; this one may be among them.
                    if self.evict_clients(Some(&mut client), now) {
                        break;
                    }
                    if !req.ranges.is_empty() {
                        let argv = commands::Argv::new(base, &req.ranges);
                        commands::execute(&mut self.ctx(&mut client, now), &argv);
                        if client.postponed {
                            // Held by CLIENT PAUSE: the request stays in the
                            // buffer and is parsed again when the pause ends.
                            self.clients.postponed.push(conn);
                            break;
                        }
                        self.serve_ready_keys(now);
                        // The command may have changed the client's class (SUBSCRIBE)
                        // or filled its output: Redis checks the limits as each reply
                        // is added and stops reading a client it will close.
                        arm_output_limit(&self.server.hot.output_limits, &mut client);
                        if self.output_over_limit(&mut client, now) {
                            client.close_asap = true;
                        }
                    }
                    qpos += req.consumed_bytes;
                }
                Err(e) => {
                    let text = e.reply_text();
                    client.out.error_bytes(&text);
                    self.server.stats.total_error_replies += 1;
                    self.server.observe.count_error(&text);
                    client.close_after_reply = true;
                    let peer = client.peer.clone();
                    self.server.log(
                        LogLevel::Verbose,
                        format!("Protocol error ({}) from client: addr={peer}", e.reason()),
                    );
                }
            }
        }
        qbuf.drain(..qpos.min(qbuf.len()));
        if qbuf.is_empty() && qbuf.capacity() > QBUF_KEEP_BYTES {
            // A big request was served: give its buffer back now rather than keep it
            // until the client disconnects (Redis hands a big argument's buffer to the
            // command for the same reason).
            qbuf = Vec::new();
        }
        client.qbuf = qbuf;
        client.parser = parser;
        client.request = req;
        let qbuf_limit = self.server.hot.client_query_buffer_limit_bytes;
        if client.qbuf.len() as u64 > qbuf_limit {
            let name = client.peer.clone();
            self.server.log(LogLevel::Warning, format!("Closing client that reached max query buffer length: addr={name} (qbuf initial bytes omitted)"));
            client.qbuf = Vec::new();
            client.out.discard();
            client.close_after_reply = true;
        }
        self.clients.running_client_bytes = 0;
        self.put_back(now, client);
        self.flush_pending();
    }

    /// Ends a step of `client` (out of the table): hands its output to the driver and
    /// puts it back, or closes it — after its last reply (`close_after_reply`), or at
    /// once, output discarded, when it went over its output-buffer limit.
    pub(super) fn put_back(&mut self, now: Now, mut client: Client) {
        if !client.close_asap && self.output_over_limit(&mut client, now) {
            client.close_asap = true;
        }
        let conn = client.conn;
        if client.close_asap {
            let line = client.info_line(now.mono_ms);
            self.server.log(
                LogLevel::Warning,
                format!("Client {line} scheduled to be closed ASAP for overcoming of output buffer limits."),
            );
            client.out.discard();
            self.clients.forget(&mut client);
            self.server.effects.push_back(Effect::Abort { conn });
            return;
        }
        self.flush_client(&mut client);
        if client.close_after_reply {
            self.clients.forget(&mut client);
            self.server.effects.push_back(Effect::Close { conn });
        } else {
            self.clients.table.insert(conn, client);
        }
    }

    /// Redis's `checkClientOutputBufferLimits`: the hard limit (the reply buffer
    /// refused a write, or output reached it) or the soft limit held longer than its
    /// seconds. Starts or clears the soft-limit timer.
    pub(super) fn output_over_limit(&self, client: &mut Client, now: Now) -> bool {
        if client.out.over_limit() {
            return true;
        }
        let class = OutputClass::of(client);
        let Some(limit) = self.server.hot.output_limits.get(class.limits_index()) else {
            return false;
        };
        let used = client.output_bytes() as u64;
        if limit.hard_limit_bytes > 0 && used >= limit.hard_limit_bytes {
            return true;
        }
        if limit.soft_limit_bytes == 0 || used < limit.soft_limit_bytes {
            client.obuf_soft_since_ms = None;
            return false;
        }
        let since = *client.obuf_soft_since_ms.get_or_insert(now.mono_ms);
        let soft_ms = (limit.soft_limit_secs.max(0) as u64).saturating_mul(1000);
        now.mono_ms.saturating_sub(since) > soft_ms
    }

    /// The driver wrote `bytes` of `conn`'s output.
    pub(super) fn on_written(&mut self, conn: ConnId, bytes: usize) {
        let hot = self.server.hot;
        self.clients.table.with_mut(&conn, |c| {
            c.unwritten_bytes = c.unwritten_bytes.saturating_sub(bytes);
            arm_output_limit(&hot.output_limits, c);
        });
    }

    /// Flushes the clients that received pub/sub messages during the last step.
    pub(super) fn flush_pending(&mut self) {
        let now = self.last_now;
        while let Some(conn) = self.clients.pending_flush.pop_first() {
            if let Some(client) = self.clients.table.remove(&conn) {
                self.put_back(now, client);
            }
        }
    }

    /// Moves a client's pending output into a Send effect; the driver holds it (and
    /// it counts against the client's output limit) until reported written.
    pub(super) fn flush_client(&mut self, client: &mut Client) {
        if !client.out.is_empty() {
            client.out_peak = client.out_peak.max(client.out.len());
            // The next batch likely needs as much: start it with that capacity.
            let bytes = client.out.take(client.out.len().clamp(256, 64 * 1024));
            self.server.stats.total_net_output_bytes += bytes.len() as u64;
            self.server.stats.total_writes_processed += 1;
            client.unwritten_bytes = client.unwritten_bytes.saturating_add(bytes.len());
            arm_output_limit(&self.server.hot.output_limits, client);
            self.server.effects.push_back(Effect::Send {
                conn: client.conn,
                bytes,
            });
        }
    }
}
