//! The command table and the dispatcher that runs Redis's checks in Redis's order. A
//! row says name, arity, flag bits, handler and getkeys procedure once; `docs` adds what
//! only COMMAND reads (key specs, ACL categories, documentation), and `keyspec` turns
//! the two into key positions. Commands write replies; they never touch I/O and never
//! see the node: a handler gets a `Ctx` holding the running client, the keyspace, the
//! node-wide `Server` state and the clients' registries, each borrowed on its own.

pub mod command;
pub mod connection;
mod debug;
pub mod docs;
pub mod dump;
pub mod failover;
pub mod flags;
pub mod hashes;
pub mod keys;
pub mod keyspec;
pub mod lists;
pub mod memory;
pub mod monitoring;
pub mod persist;
pub mod pubsub;
pub mod repl;
pub mod replicaof;
pub mod server;
pub mod sets;
pub mod sort;
pub mod strings;
pub mod transactions;
pub mod zsets;

use self::flags::CmdFlags;
use crate::blocking::BlockedOp;
use crate::client::{Client, ReplyMode};
use crate::clients::Clients;
use crate::io::{ConnId, Effect, Now};
use crate::keyspace::Keyspace;
use crate::resp::ReplyBuf;
use crate::server::Server;
use crate::util::c_str_prefix;

/// A command's arguments: ranges into the query buffer (no copies).
pub struct Argv<'a> {
    buf: &'a [u8],
    ranges: &'a [(usize, usize)],
}

impl<'a> Argv<'a> {
    pub fn new(buf: &'a [u8], ranges: &'a [(usize, usize)]) -> Self {
        Argv { buf, ranges }
    }

    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Argument `i`; empty when out of range (arity is checked before handlers run).
    #[inline]
    pub fn get(&self, i: usize) -> &'a [u8] {
        self.ranges
            .get(i)
            .and_then(|&(s, e)| self.buf.get(s..e))
            .unwrap_or(b"")
    }

    pub fn iter(&self) -> impl Iterator<Item = &'a [u8]> + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// Appends the arguments as a RESP multibulk (what propagation records), with
    /// one reservation and no formatting call for the usual short lengths.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        let payload: usize = self.ranges.iter().map(|&(s, e)| e.saturating_sub(s)).sum();
        out.reserve(payload.saturating_add(self.len().saturating_add(1).saturating_mul(24)));
        crate::resp::length_line(out, b'*', self.len());
        for a in self.iter() {
            crate::resp::length_line(out, b'$', a.len());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The arguments from `start` on, as a command line of their own (COMMAND GETKEYS).
    pub fn tail(&self, start: usize) -> Argv<'a> {
        Argv {
            buf: self.buf,
            ranges: self.ranges.get(start..).unwrap_or_default(),
        }
    }

    /// Case-insensitive comparison of argument `i` with an ASCII keyword.
    pub fn is(&self, i: usize, keyword: &str) -> bool {
        self.get(i).eq_ignore_ascii_case(keyword.as_bytes())
    }
}

/// Everything a command runs with: the running client (out of the client table),
/// the keyspace, the node-wide state and the other clients with their registries,
/// borrowed apart so a handler can hold one while changing another.
pub struct Ctx<'a> {
    pub client: &'a mut Client,
    pub now: Now,
    pub keyspace: &'a mut Keyspace,
    pub server: &'a mut Server,
    pub clients: &'a mut Clients,
    pub commands: &'a CommandTable,
}

impl Ctx<'_> {
    pub fn out(&mut self) -> &mut ReplyBuf {
        &mut self.client.out
    }

    pub fn db(&self) -> usize {
        self.client.db
    }

    /// Turns expiry deletions and key creations since the last call into WATCH
    /// invalidations and notifications (see `Clients::drain_keyspace_log`).
    pub fn drain_keyspace_log(&mut self) {
        self.clients
            .drain_keyspace_log(self.keyspace, self.server, Some(&mut *self.client));
    }

    /// Parks the running client on `keys` (Redis's `blockForKeys`); the reply comes
    /// when a key is served, the deadline passes or CLIENT UNBLOCK.
    pub fn block(&mut self, keys: Vec<Vec<u8>>, deadline_ms: u64, op: BlockedOp) {
        self.clients
            .blocking
            .block(self.client, self.keyspace, keys, deadline_ms, op);
    }

    /// `used_memory` as INFO reports it (the running client included).
    pub fn used_memory_bytes(&self) -> usize {
        self.clients.used_memory_bytes(self.keyspace)
    }

    /// Closes another client (CLIENT KILL): forgets it and asks the driver to close.
    pub fn kill_client(&mut self, conn: ConnId) {
        self.clients.remove_and_forget(conn);
        self.server.effects.push_back(Effect::Close { conn });
    }

    /// Call after a command changed `server.config`, so cached values follow.
    pub fn config_changed(&mut self) {
        config_changed(self.server, self.keyspace, self.clients);
        // A lower `maxmemory` (or a new policy) takes effect at once, as Redis's
        // updateMaxmemory evicts right away.
        if self.server.hot.maxmemory_bytes > 0 {
            self.clients.evict_keys(self.keyspace, self.server);
            self.drain_keyspace_log();
        }
    }

    /// Redis's `signalModifiedKey`: call after a command changed `key` in the
    /// client's database (WATCH invalidation, client-side caching later).
    pub fn key_modified(&mut self, key: &[u8]) {
        let db = self.client.db;
        self.key_modified_in(db, key);
    }

    /// `key_modified` for a key in another database (MOVE, COPY ... DB).
    pub fn key_modified_in(&mut self, db: usize, key: &[u8]) {
        // Expiry deletions that happened during this command's lookups come first.
        self.drain_keyspace_log();
        if !self.clients.watch.is_empty() {
            self.clients.watch.touch(db, key, self.keyspace);
        }
    }

    /// Redis's `touchAllWatchedKeysInDb`: call BEFORE `emptied` is flushed
    /// (`replaced_with` None) or swapped with `replaced_with`.
    pub fn db_modified(&mut self, emptied: usize, replaced_with: Option<usize>) {
        self.drain_keyspace_log();
        if !self.clients.watch.is_empty() {
            let now_ms = self.now.wall_ms;
            self.clients
                .watch
                .touch_db(emptied, replaced_with, self.keyspace, now_ms);
        }
    }

    /// The running command propagates as `parts` instead of its own arguments
    /// (Redis's `rewriteClientCommandVector`); built only when someone consumes the
    /// stream.
    pub fn propagate_as(&mut self, parts: impl FnOnce() -> Vec<Vec<u8>>) {
        if self.server.propagation.enabled() {
            self.server.propagation.rewrite(parts());
        }
    }

    /// Redis's `notifyKeyspaceEvent`: `class` is one of `crate::notify`'s classes,
    /// `event` the lowercase event name (`"lpush"`, `"del"`, ...).
    pub fn notify(&mut self, class: crate::notify::Class, event: &str, key: &[u8]) {
        let mut db = self.client.db;
        if self
            .server
            .mutants
            .is(crate::mutants::Mutant::NotifyWrongDb)
        {
            // Planted: the channel names the next database.
            db = db.saturating_add(1);
        }
        self.notify_in(db, class, event, key);
    }

    /// `notify` for a key in another database (MOVE, COPY ... DB).
    pub fn notify_in(&mut self, db: usize, class: crate::notify::Class, event: &str, key: &[u8]) {
        self.drain_keyspace_log();
        if self.server.config.settings().notify_keyspace_events_flags as crate::notify::Class
            & class
            != 0
        {
            self.clients.notify_keyspace_event(
                self.server,
                Some(&mut *self.client),
                class,
                event,
                key,
                db,
            );
        }
    }
}

/// After a config change (CONFIG SET, or a driver's edit through the node): refreshes
/// the hot values and what follows them in the keyspace and the clients.
pub fn config_changed(server: &mut Server, keyspace: &mut Keyspace, clients: &mut Clients) {
    let limits_changed = server.refresh_hot();
    keyspace.log_new_keys = server.hot.notify_flags & crate::notify::NEW != 0;
    let s = server.config.settings();
    keyspace.access = crate::keyspace::AccessPolicy {
        lfu: s.maxmemory_policy.is_lfu(),
        lfu_log_factor: s.lfu_log_factor,
        lfu_decay_time_mins: s.lfu_decay_time_mins,
    };
    if limits_changed {
        // Rare (CONFIG SET client-output-buffer-limit): re-arm every client.
        clients.rearm_output_limits(&server.hot.output_limits);
    }
    let backlog_bytes = usize::try_from(s.repl_backlog_size_bytes).unwrap_or(usize::MAX);
    if let Some(backlog) = server.repl_master.backlog.as_mut() {
        if backlog.capacity_bytes() != backlog_bytes {
            backlog.resize(backlog_bytes);
        }
    }
}

pub type Handler = fn(&mut Ctx<'_>, &Argv<'_>);

/// One row of the command table: what dispatch needs, nothing more (the docs, ACL
/// categories and key specs COMMAND prints are in `docs`, found by name).
pub struct CommandSpec {
    pub name: &'static str,
    /// Redis arity: exact when positive, a minimum when negative.
    pub arity: i32,
    pub flags: CmdFlags,
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
    /// Redis's getkeys procedure, for commands whose key specs cannot always say where
    /// the keys are.
    pub getkeys: Option<keyspec::GetKeysProc>,
}

impl CommandSpec {
    fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        (arity > 0 && argc == arity) || (arity < 0 && argc >= -arity)
    }
}

/// A table row: `cmd!("name", arity, [FLAG, ...], handler)`, optionally followed by
/// `subcommands: TABLE` or `getkeys: PROC`. Flags are `CmdFlags` members.
macro_rules! cmd {
    ($name:literal, $arity:expr, [$($flag:ident),*], $handler:expr) => {
        cmd!(@row $name, $arity, [$($flag),*], $handler, &[], None)
    };
    ($name:literal, $arity:expr, [$($flag:ident),*], $handler:expr, subcommands: $subs:expr) => {
        cmd!(@row $name, $arity, [$($flag),*], $handler, $subs, None)
    };
    ($name:literal, $arity:expr, [$($flag:ident),*], $handler:expr, getkeys: $getkeys:expr) => {
        cmd!(@row $name, $arity, [$($flag),*], $handler, &[], Some($getkeys))
    };
    (@row $name:literal, $arity:expr, [$($flag:ident),*], $handler:expr, $subs:expr, $getkeys:expr) => {
        $crate::commands::CommandSpec {
            name: $name,
            arity: $arity,
            flags: $crate::commands::flags::CmdFlags::NONE
                $(.union($crate::commands::flags::CmdFlags::$flag))*,
            handler: $handler,
            subcommands: $subs,
            getkeys: $getkeys,
        }
    };
}
pub(crate) use cmd;

/// The whole table, sorted by name.
pub fn all_commands() -> Vec<&'static CommandSpec> {
    let mut v: Vec<&'static CommandSpec> = connection::COMMANDS
        .iter()
        .chain(strings::COMMANDS.iter())
        .chain(hashes::COMMANDS.iter())
        .chain(keys::COMMANDS.iter())
        .chain(dump::COMMANDS.iter())
        .chain(lists::COMMANDS.iter())
        .chain(sets::COMMANDS.iter())
        .chain(sort::COMMANDS.iter())
        .chain(zsets::COMMANDS.iter())
        .chain(transactions::COMMANDS.iter())
        .chain(pubsub::COMMANDS.iter())
        .chain(server::COMMANDS.iter())
        .chain(command::COMMANDS.iter())
        .chain(memory::COMMANDS.iter())
        .chain(monitoring::COMMANDS.iter())
        .chain(persist::COMMANDS.iter())
        .chain(replicaof::COMMANDS.iter())
        .chain(repl::COMMANDS.iter())
        .chain(failover::COMMANDS.iter())
        .collect();
    v.sort_by_key(|c| c.name);
    v
}

/// One row of the table as the simulator reads it: the command's name, and whether
/// Redis flags it `write` and `denyoom` (its coverage table and memory rules).
pub struct CommandInfo {
    pub name: &'static str,
    pub write: bool,
    pub denyoom: bool,
}

/// Every top-level command of the table, sorted by name.
pub fn command_infos() -> Vec<CommandInfo> {
    all_commands()
        .into_iter()
        .map(|c| CommandInfo {
            name: c.name,
            write: c.flags.contains(CmdFlags::WRITE),
            denyoom: c.flags.contains(CmdFlags::DENYOOM),
        })
        .collect()
}

/// Name lookup over the table: a hash map with fixed keys (deterministic, one
/// comparison per lookup), plus the sorted list COMMAND prints. Every command and
/// subcommand also has a stats slot (`crate::observe`): a container's slot, then its
/// subcommands' in table order, so the dispatcher counts a call without hashing.
pub struct CommandTable {
    sorted: Vec<&'static CommandSpec>,
    by_name: hashbrown::HashMap<&'static [u8], (&'static CommandSpec, u32), ahash::RandomState>,
    /// Full names (`config|get`) by stats slot.
    slot_names: Vec<String>,
}

impl Default for CommandTable {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandTable {
    pub fn new() -> Self {
        let sorted = all_commands();
        let mut by_name =
            hashbrown::HashMap::with_hasher(ahash::RandomState::with_seeds(1, 2, 3, 4));
        let mut slot_names = Vec::new();
        for spec in &sorted {
            by_name.insert(spec.name.as_bytes(), (*spec, slot_names.len() as u32));
            slot_names.push(spec.name.to_string());
            for sub in spec.subcommands {
                slot_names.push(format!("{}|{}", spec.name, sub.name));
            }
        }
        CommandTable {
            sorted,
            by_name,
            slot_names,
        }
    }

    pub fn all(&self) -> &[&'static CommandSpec] {
        &self.sorted
    }

    /// Full names by stats slot, for `Observer::set_command_names`.
    pub fn slot_names(&self) -> &[String] {
        &self.slot_names
    }

    pub fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        self.lookup_slot(name).map(|(spec, _)| spec)
    }

    /// `lookup` with the command's stats slot.
    pub fn lookup_slot(&self, name: &[u8]) -> Option<(&'static CommandSpec, u32)> {
        if name.len() > 32 {
            return None;
        }
        let mut lower = [0u8; 32];
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        self.by_name.get(lower.get(..name.len())?).copied()
    }
}

/// A subcommand of `parent` with its position in `parent.subcommands`.
fn find_subcommand_at(
    parent: &'static CommandSpec,
    name: &[u8],
) -> Option<(usize, &'static CommandSpec)> {
    parent
        .subcommands
        .iter()
        .enumerate()
        .find(|(_, s)| s.name.as_bytes().eq_ignore_ascii_case(name))
}

pub fn find_subcommand(parent: &'static CommandSpec, name: &[u8]) -> Option<&'static CommandSpec> {
    parent
        .subcommands
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// How much of a client's argument Redis echoes in an unknown-command or
/// unknown-subcommand error (`%.128s`).
const ECHO_MAX_BYTES: usize = 128;

/// Redis's rendering of an unknown command: `'%.128s'` of the name and `'%.*s' ` of
/// arguments while under 128 bytes of them, all as C strings (cut at a NUL) and as the
/// client's bytes, not repaired into UTF-8.
fn unknown_command_error(argv: &Argv<'_>) -> Vec<u8> {
    let mut args: Vec<u8> = Vec::new();
    for a in argv.iter().skip(1) {
        let Some(room) = ECHO_MAX_BYTES.checked_sub(args.len()).filter(|&r| r > 0) else {
            break;
        };
        args.push(b'\'');
        args.extend_from_slice(c_str_prefix(a, room));
        args.extend_from_slice(b"' ");
    }
    [
        &b"ERR unknown command '"[..],
        c_str_prefix(argv.get(0), ECHO_MAX_BYTES),
        b"', with args beginning with: ",
        &args,
    ]
    .concat()
}

/// Redis's `addReplySubcommandSyntaxError`: `'%.128s'` of the subcommand as the client
/// sent it, and the command name upper-cased.
pub fn subcommand_syntax_error(out: &mut ReplyBuf, argv: &Argv<'_>) {
    out.error_format_bytes(
        &[
            &b"ERR unknown subcommand or wrong number of arguments for '"[..],
            c_str_prefix(argv.get(1), ECHO_MAX_BYTES),
            b"'. Try ",
            &crate::util::c_str(argv.get(0)).to_ascii_uppercase(),
            b" HELP.",
        ]
        .concat(),
    );
}

/// Runs one command for the context's client, with Redis's checks in Redis's order.
pub fn execute(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let client = &mut *ctx.client;
    let out_start = client.out.len();
    let silenced = matches!(client.reply_mode, ReplyMode::Off | ReplyMode::Skipping);
    if silenced {
        client.out.record_pushes();
    }
    // A queued command is counted when EXEC runs it, as Redis; a held one when it
    // runs after the pause.
    match run_checked(ctx, argv) {
        Dispatch::Queued => {}
        Dispatch::Postponed => {
            if silenced {
                ctx.client.out.stop_recording_pushes();
            }
            return;
        }
        Dispatch::Rejected | Dispatch::Ran => ctx.server.stats.total_commands_processed += 1,
    }
    let client = &mut *ctx.client;
    let written = client.out.as_bytes().get(out_start..).unwrap_or_default();
    count_error_reply(ctx.server, written);
    // CLIENT REPLY OFF/SKIP: drop what this command wrote.
    match client.reply_mode {
        ReplyMode::On => {}
        // Replies go; pushes (pub/sub) stay, as Redis's CLIENT_PUSHING.
        ReplyMode::Off => client.out.truncate_keeping_pushes(out_start),
        ReplyMode::Skipping => {
            client.out.truncate_keeping_pushes(out_start);
            client.reply_mode = ReplyMode::On;
        }
        ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skipping,
    }
    if silenced {
        // CLIENT REPLY ON ran silenced: nothing was cut, stop recording all the same.
        client.out.stop_recording_pushes();
    }
}

/// Counts the error reply a command wrote (its output starts with one; nested errors
/// are rare) in `total_error_replies` and INFO errorstats, as Redis's `afterErrorReply`.
pub(crate) fn count_error_reply(server: &mut Server, written: &[u8]) {
    if let Some(text) = written.strip_prefix(b"-") {
        server.stats.total_error_replies += 1;
        server.observe.count_error(text);
    }
}

/// Writes an error that rejects a command before it runs (Redis's `rejectCommand`):
/// inside MULTI it also dooms the transaction.
fn reject(client: &mut Client, msg: &[u8]) {
    client.out.error_bytes(msg);
    if let Some(m) = client.multi.as_mut() {
        m.exec_error = true;
    }
}

/// `reject` for a command that was found: a rejected EXEC inside MULTI discards the
/// transaction and says why (Redis's `execCommandAbort`).
fn reject_found(ctx: &mut Ctx<'_>, parent: &CommandSpec, msg: &str) {
    let client = &mut *ctx.client;
    if parent.name == "exec" && client.multi.is_some() {
        client.multi = None;
        ctx.clients.watch.forget(client.conn);
        // Redis formats its own rejections without the ERR code here; shared
        // error objects (OOM, NOAUTH) keep theirs.
        let why = msg.strip_prefix("ERR ").unwrap_or(msg);
        client.out.error(&format!(
            "EXECABORT Transaction discarded because of: {why}"
        ));
        return;
    }
    reject(client, msg.as_bytes());
}

/// Commands that run, rather than queue, inside MULTI.
fn runs_inside_multi(name: &str) -> bool {
    matches!(
        name,
        "exec" | "discard" | "multi" | "watch" | "quit" | "reset"
    )
}

/// Commands a RESP2 client in pub/sub mode may run.
fn allowed_in_pubsub_context(name: &str) -> bool {
    matches!(
        name,
        "ping"
            | "subscribe"
            | "ssubscribe"
            | "unsubscribe"
            | "sunsubscribe"
            | "psubscribe"
            | "punsubscribe"
            | "quit"
            | "reset"
    )
}

/// The command `argv` names.
#[derive(Clone, Copy)]
struct Resolved {
    /// The container (or the command itself).
    parent: &'static CommandSpec,
    /// What runs: the subcommand, or the command itself.
    spec: &'static CommandSpec,
    sub_name: Option<&'static str>,
    /// Its stats slot (`CommandTable::slot_names`).
    slot: u32,
}

fn resolve(commands: &CommandTable, argv: &Argv<'_>) -> Result<Resolved, Vec<u8>> {
    let Some((parent, slot)) = commands.lookup_slot(argv.get(0)) else {
        return Err(unknown_command_error(argv));
    };
    if parent.subcommands.is_empty() || argv.len() < 2 {
        return Ok(Resolved {
            parent,
            spec: parent,
            sub_name: None,
            slot,
        });
    }
    match find_subcommand_at(parent, argv.get(1)) {
        Some((pos, sub)) => Ok(Resolved {
            parent,
            spec: sub,
            sub_name: Some(sub.name),
            slot: slot + 1 + pos as u32,
        }),
        None => Err([
            &b"ERR unknown subcommand '"[..],
            c_str_prefix(argv.get(1), ECHO_MAX_BYTES),
            b"'. Try ",
            parent.name.to_ascii_uppercase().as_bytes(),
            b" HELP.",
        ]
        .concat()),
    }
}

fn full_name(parent: &CommandSpec, sub_name: Option<&str>) -> String {
    match sub_name {
        Some(sub) => format!("{}|{sub}", parent.name),
        None => parent.name.to_string(),
    }
}

/// What the dispatcher did with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dispatch {
    Rejected,
    Queued,
    Ran,
    /// Held by CLIENT PAUSE: not run, not consumed (`Client::postponed`).
    Postponed,
}

/// Redis's `CMD_WRITE | CMD_MAY_REPLICATE` for one command: writes, and the commands
/// Redis marks `may_replicate` among keel's (PUBLISH and SPUBLISH).
fn may_replicate_flags(parent: &CommandSpec, spec: &CommandSpec) -> bool {
    spec.flags.contains(CmdFlags::WRITE) || matches!(parent.name, "publish" | "spublish")
}

/// Redis's `is_may_replicate_command`: the command, or an EXEC whose queue holds one.
fn may_replicate(client: &Client, parent: &CommandSpec, spec: &CommandSpec) -> bool {
    may_replicate_flags(parent, spec)
        || (parent.name == "exec" && client.multi.as_ref().is_some_and(|m| m.may_replicate))
}

fn run_checked(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> Dispatch {
    let resolved = match resolve(ctx.commands, argv) {
        Ok(found) => found,
        Err(msg) => {
            if ctx.commands.lookup(argv.get(0)).is_none() {
                ctx.client.last_command = ("NULL", None);
            }
            reject(ctx.client, &msg);
            return Dispatch::Rejected;
        }
    };
    let Resolved {
        parent,
        spec,
        sub_name,
        slot,
    } = resolved;
    if !spec.arity_ok(argv.len()) {
        let msg = format!(
            "ERR wrong number of arguments for '{}' command",
            full_name(parent, sub_name)
        );
        reject_command(ctx, parent, slot, &msg);
        return Dispatch::Rejected;
    }
    if !ctx.client.authenticated && !spec.flags.contains(CmdFlags::NO_AUTH) {
        reject_command(ctx, parent, slot, "NOAUTH Authentication required.");
        return Dispatch::Rejected;
    }
    let in_multi = ctx.client.multi.is_some();
    if in_multi && spec.flags.contains(CmdFlags::NO_MULTI) {
        reject_command(
            ctx,
            parent,
            slot,
            "ERR Command not allowed inside a transaction",
        );
        return Dispatch::Rejected;
    }
    // Inside MULTI anything but EXEC/DISCARD/QUIT/RESET may grow the queue, so it is
    // refused under memory pressure too; EXEC only when it queued a write that may.
    let may_use_memory = spec.flags.contains(CmdFlags::DENYOOM)
        || (parent.name == "exec" && ctx.client.multi.as_ref().is_some_and(|m| m.denyoom))
        || (in_multi && !matches!(parent.name, "exec" | "discard" | "quit" | "reset"));
    // Redis's processCommand evicts before every command while `maxmemory` is set,
    // and refuses one that may grow memory only when nothing more could go.
    // The master's stream and the AOF being loaded are obeyed (Redis's
    // mustObeyClient): no OOM, MISCONF, READONLY, MASTERDOWN or pause for them.
    let obey = ctx.client.is_master || ctx.client.conn == crate::client::AOF_LOADER_CONN;
    let out_of_memory = !obey && ctx.server.hot.maxmemory_bytes > 0 && {
        let result = ctx.clients.evict_keys(ctx.keyspace, ctx.server);
        ctx.drain_keyspace_log();
        result == crate::keyspace::EvictResult::Fail
    };
    if may_use_memory
        && out_of_memory
        && !ctx
            .server
            .mutants
            .is(crate::mutants::Mutant::OomCheckSkipped)
    {
        reject_command(ctx, parent, slot, errors::OOM);
        return Dispatch::Rejected;
    }
    // Redis's processCommand: writes (and PING) are refused after a failed save.
    if !obey
        && ctx.server.persist.disk_error()
        && (spec.flags.contains(CmdFlags::WRITE)
            || parent.name == "ping"
            || (parent.name == "exec" && ctx.client.multi.as_ref().is_some_and(|m| m.write)))
    {
        if let Some(msg) = ctx
            .server
            .persist
            .write_denied_error(ctx.server.config.settings())
        {
            reject_command(ctx, parent, slot, &msg);
            return Dispatch::Rejected;
        }
    }
    // Redis's processCommand: writes are refused without enough good replicas
    // (never on a replica: Redis's checkGoodReplicasStatus).
    if !ctx.server.replica.is_replica()
        && ctx.server.repl_master.good_replicas
            < ctx.server.config.settings().min_replicas_to_write as usize
        && (spec.flags.contains(CmdFlags::WRITE)
            || (parent.name == "exec" && ctx.client.multi.as_ref().is_some_and(|m| m.write)))
        && refuses_for_replicas(ctx.server.config.settings())
        && !(ctx
            .server
            .mutants
            .is(crate::mutants::Mutant::MinReplicasOffAfterPromotion)
            && ctx.server.repl.replid2 != crate::repl::NO_REPLID)
    {
        reject_command(ctx, parent, slot, crate::repl::master::NOREPLICAS);
        return Dispatch::Rejected;
    }
    if !obey && ctx.server.replica.is_replica() {
        if let Some(msg) = replicaof::refusal(ctx.server, ctx.client, spec, parent.name, true) {
            reject_command(ctx, parent, slot, msg);
            return Dispatch::Rejected;
        }
    }
    if ctx.client.is_pubsub()
        && ctx.client.out.proto == crate::resp::Proto::Resp2
        && !allowed_in_pubsub_context(parent.name)
    {
        let msg = format!(
            "ERR Can't execute '{}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context",
            full_name(parent, sub_name)
        );
        reject_command(ctx, parent, slot, &msg);
        return Dispatch::Rejected;
    }
    if !obey && ctx.server.replica.is_replica() {
        if let Some(msg) = replicaof::refusal(ctx.server, ctx.client, spec, parent.name, false) {
            reject_command(ctx, parent, slot, msg);
            return Dispatch::Rejected;
        }
    }
    if ctx.server.persist.loading
        && !spec.flags.contains(CmdFlags::LOADING)
        && ctx.client.conn != crate::client::AOF_LOADER_CONN
    {
        reject_command(ctx, parent, slot, errors::LOADING);
        return Dispatch::Rejected;
    }
    // Redis's processCommand holds a command under CLIENT PAUSE here: after the
    // checks that reject it, before it is queued or run.
    if let Some(pause) = ctx.server.pause.filter(|_| !obey) {
        if pause.holds(may_replicate(ctx.client, parent, spec)) {
            ctx.client.last_command = (parent.name, sub_name);
            ctx.client.postponed = true;
            return Dispatch::Postponed;
        }
    }
    // SHUTDOWN's final save holds writes (Redis runs nothing while it saves, and
    // pauses writes while it waits for lagging replicas): a write acknowledged now
    // would be missing from the file the restart loads, and a replica would hold
    // stream bytes past the history the file records.
    if ctx.server.persist.shutdown_pending && !obey && may_replicate(ctx.client, parent, spec) {
        ctx.client.last_command = (parent.name, sub_name);
        ctx.client.postponed = true;
        return Dispatch::Postponed;
    }
    // A paused server reports keys whose TTL passed as missing but keeps them;
    // a write (one CLIENT PAUSE in the same EXEC let through) deletes them as usual.
    // A replica never deletes a key on its own, nor hands out one whose TTL passed
    // (the master's commands, run with `keyspace.loading`, see every key).
    ctx.keyspace.keep_expired = (ctx.server.pause.is_some()
        && !spec.flags.contains(CmdFlags::WRITE))
        || (ctx.server.replica.is_replica() && !obey);
    let client = &mut *ctx.client;
    client.last_command = (parent.name, sub_name);
    if in_multi && !runs_inside_multi(parent.name) {
        if let Some(m) = client.multi.as_mut() {
            let queued = crate::multi::QueuedCommand::new(argv.iter());
            m.queued_bytes = m.queued_bytes.saturating_add(queued.memory_bytes());
            m.denyoom |= spec.flags.contains(CmdFlags::DENYOOM);
            m.may_replicate |= may_replicate_flags(parent, spec);
            m.write |= spec.flags.contains(CmdFlags::WRITE);
            m.commands.push(queued);
            m.count += 1;
        }
        client.out.simple("QUEUED");
        return Dispatch::Queued;
    }
    let call = CallStart::new(ctx);
    (spec.handler)(ctx, argv);
    ctx.drain_keyspace_log();
    end_call(ctx, resolved, argv, call);
    Dispatch::Ran
}

/// Redis's `checkGoodReplicasStatus` settings half: a master with both
/// `min-replicas-to-write` and `min-replicas-max-lag` set.
fn refuses_for_replicas(s: &crate::config::Settings) -> bool {
    s.replicaof.is_none() && s.min_replicas_to_write > 0 && s.min_replicas_max_lag_secs > 0
}

/// `reject_found`, counted in the command's `rejected_calls` (Redis's `rejectCommand`).
fn reject_command(ctx: &mut Ctx<'_>, parent: &'static CommandSpec, slot: u32, msg: &str) {
    if let Some(stat) = ctx.server.observe.command(slot) {
        stat.rejected_calls += 1;
    }
    reject_found(ctx, parent, msg);
}

/// What `end_call` compares against: taken just before a handler runs.
struct CallStart {
    db: usize,
    mutations: u64,
    recorded: u64,
    out_start: usize,
    started_us: u64,
}

impl CallStart {
    #[inline]
    fn new(ctx: &mut Ctx<'_>) -> CallStart {
        CallStart {
            db: ctx.client.db,
            mutations: ctx.keyspace.mutations(),
            recorded: ctx.server.propagation.recorded_total(),
            out_start: ctx.client.out.len(),
            started_us: ctx.server.observe.command_started_micros(),
        }
    }
}

/// Redis's `call()` after the command: the dirty counter, propagation of a write
/// that changed the dataset (as the handler rewrote it, if it did; FLUSHALL, FLUSHDB
/// and SWAPDB always propagate, as Redis forces them), the command's stats and
/// latency, the slow log, the latency monitor and MONITOR. A command that blocked is
/// counted when it is served (`count_unblocked_call`).
fn end_call(ctx: &mut Ctx<'_>, resolved: Resolved, argv: &Argv<'_>, call: CallStart) {
    let Resolved {
        parent, spec, slot, ..
    } = resolved;
    let CallStart {
        db,
        mutations: before,
        recorded,
        out_start,
        started_us,
    } = call;
    let duration_us = ctx
        .server
        .observe
        .command_ended_micros()
        .saturating_sub(started_us);
    let changed = ctx.keyspace.mutations() != before;
    let server = &mut *ctx.server;
    if changed {
        server.dirty = server.dirty.wrapping_add(1);
    }
    let forced = matches!(spec.name, "flushall" | "flushdb" | "swapdb");
    let propagate = spec.flags.contains(CmdFlags::WRITE) && (changed || forced);
    server
        .propagation
        .end_command(db, propagate, |out| argv.encode_into(out));
    if server.propagation.recorded_total() != recorded {
        ctx.client.woff_seq = server.propagation.recorded_total();
    }
    if ctx.client.blocked {
        return;
    }
    let failed = ctx.client.out.as_bytes().get(out_start) == Some(&b'-');
    let hot = &ctx.server.hot;
    let (tracking, rare_threshold_us) = (hot.latency_tracking, hot.observe_threshold_us);
    if let Some(stat) = ctx.server.observe.command(slot) {
        stat.calls += 1;
        stat.usec += duration_us;
        stat.failed_calls += u64::from(failed);
        if tracking {
            stat.histogram
                .get_or_insert_with(Default::default)
                .record(duration_us.saturating_mul(1000));
        }
    }
    if duration_us >= rare_threshold_us || !ctx.clients.monitors.is_empty() {
        observe_rare(ctx, parent, spec, argv, duration_us);
    }
}

/// The slow log, the latency monitor and MONITOR: off the hot path, reached when the
/// command was slow enough for one of the first two or someone monitors.
#[cold]
#[inline(never)]
fn observe_rare(
    ctx: &mut Ctx<'_>,
    parent: &'static CommandSpec,
    spec: &'static CommandSpec,
    argv: &Argv<'_>,
    duration_us: u64,
) {
    let hot = &ctx.server.hot;
    let (threshold_ms, slower_than_us, max_len) = (
        hot.latency_monitor_threshold_ms,
        hot.slowlog_log_slower_than_us,
        hot.slowlog_max_len,
    );
    if !spec.flags.contains(CmdFlags::SKIP_SLOWLOG) {
        if threshold_ms > 0 && duration_us / 1000 >= threshold_ms {
            let event = if spec.flags.contains(CmdFlags::FAST) {
                "fast-command"
            } else {
                "command"
            };
            let now_secs = ctx.now.wall_ms / 1000;
            ctx.server
                .observe
                .latency
                .add_sample(event, now_secs, duration_us / 1000);
        }
        if slower_than_us.is_some_and(|us| duration_us >= us) {
            push_slowlog(ctx, parent, argv, duration_us, max_len);
        }
    }
    if !ctx.clients.monitors.is_empty()
        && !spec
            .flags
            .intersects(CmdFlags::ADMIN.union(CmdFlags::SKIP_MONITOR))
    {
        let line = monitor_line(ctx, parent, argv);
        ctx.clients.feed_monitors(Some(&mut *ctx.client), &line);
    }
}

/// The arguments as the slow log and MONITOR show them: secrets replaced by
/// `(redacted)` as Redis's `redactClientCommandArgument` does (AUTH's arguments,
/// HELLO's AUTH pair).
fn shown_argv<'a>(parent: &CommandSpec, argv: &Argv<'a>) -> Vec<&'a [u8]> {
    let mut shown: Vec<&'a [u8]> = argv.iter().collect();
    let mut redact = |i: usize| {
        if let Some(a) = shown.get_mut(i) {
            *a = b"(redacted)";
        }
    };
    match parent.name {
        "auth" => (1..argv.len()).for_each(&mut redact),
        "hello" => {
            let mut j = 2;
            while j < argv.len() {
                if argv.is(j, "auth") {
                    redact(j + 1);
                    redact(j + 2);
                    j += 3;
                } else {
                    j += if argv.is(j, "setname") { 2 } else { 1 };
                }
            }
        }
        _ => {}
    }
    shown
}

fn push_slowlog(
    ctx: &mut Ctx<'_>,
    parent: &CommandSpec,
    argv: &Argv<'_>,
    duration_us: u64,
    max_len: usize,
) {
    let shown = shown_argv(parent, argv);
    let entry = crate::observe::slowlog::Entry {
        id: 0,
        time_secs: ctx.now.wall_ms / 1000,
        duration_us,
        argv: crate::observe::slowlog::truncated_argv(shown.into_iter()),
        peer: ctx.client.peer.clone(),
        name: ctx.client.name.clone().unwrap_or_default(),
    };
    ctx.server.observe.slowlog.push(entry, max_len);
}

/// Redis's `replicationFeedMonitors` line (sent as a status reply): `secs.micros [db
/// addr] "arg" ...`, each argument quoted as `sdscatrepr` does, so it is ASCII.
fn monitor_line(ctx: &Ctx<'_>, parent: &CommandSpec, argv: &Argv<'_>) -> String {
    let wall_ms = ctx.now.wall_ms;
    let mut line = format!(
        "{}.{:06} [{} {}]",
        wall_ms / 1000,
        (wall_ms % 1000) * 1000,
        ctx.client.db,
        ctx.client.peer
    )
    .into_bytes();
    for arg in shown_argv(parent, argv) {
        line.push(b' ');
        crate::util::push_repr(&mut line, arg);
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// Counts a blocked command once it is served or timed out (Redis's
/// `updateStatsOnUnblock`); its time blocked is not execution time, so it adds a call
/// and no microseconds, and no latency sample (Redis 7.0 records none for a timeout).
pub(crate) fn count_unblocked_call(
    server: &mut Server,
    commands: &CommandTable,
    (name, sub): (&'static str, Option<&'static str>),
    failed: bool,
) {
    let Some((parent, parent_slot)) = commands.lookup_slot(name.as_bytes()) else {
        return;
    };
    let slot = match sub.and_then(|s| find_subcommand_at(parent, s.as_bytes())) {
        Some((pos, _)) => parent_slot + 1 + pos as u32,
        None => parent_slot,
    };
    if let Some(stat) = server.observe.command(slot) {
        stat.calls += 1;
        stat.failed_calls += u64::from(failed);
    }
}

/// Runs one command of an EXEC queue: the checks ran when it was queued, so this is
/// Redis's `call()` only. Counts the command and its error reply.
pub(crate) fn run_queued(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let out_start = ctx.client.out.len();
    match resolve(ctx.commands, argv) {
        // CLIENT LIST keeps saying `cmd=exec` meanwhile, as Redis.
        Ok(resolved) if resolved.spec.arity_ok(argv.len()) => {
            ctx.keyspace.keep_expired =
                ctx.server.pause.is_some() && !resolved.spec.flags.contains(CmdFlags::WRITE);
            let call = CallStart::new(ctx);
            (resolved.spec.handler)(ctx, argv);
            ctx.drain_keyspace_log();
            end_call(ctx, resolved, argv, call);
        }
        // The table is static: what was found at queueing time is found now.
        _ => ctx.client.out.error("ERR command vanished from the table"),
    }
    ctx.server.stats.total_commands_processed += 1;
    let written = ctx
        .client
        .out
        .as_bytes()
        .get(out_start..)
        .unwrap_or_default();
    count_error_reply(ctx.server, written);
}

/// Redis's shared error texts.
pub mod errors {
    pub const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";
    pub const NOT_INTEGER: &str = "ERR value is not an integer or out of range";
    pub const NOT_FLOAT: &str = "ERR value is not a valid float";
    pub const SYNTAX: &str = "ERR syntax error";
    pub const OVERFLOW: &str = "ERR increment or decrement would overflow";
    pub const NO_SUCH_KEY: &str = "ERR no such key";
    pub const DB_OUT_OF_RANGE: &str = "ERR DB index is out of range";
    pub const SAME_OBJECT: &str = "ERR source and destination objects are the same";
    pub const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
    pub const LOADING: &str = "LOADING Redis is loading the dataset in memory";
    pub const STRING_TOO_LONG: &str =
        "ERR string exceeds maximum allowed size (proto-max-bulk-len)";
}

/// Parses argument `i` as Redis's `getLongLongFromObjectOrReply`; writes the error.
pub fn arg_i64(ctx: &mut Ctx<'_>, argv: &Argv<'_>, i: usize) -> Option<i64> {
    let v = crate::util::parse_i64(argv.get(i));
    if v.is_none() {
        ctx.out().error(errors::NOT_INTEGER);
    }
    v
}

/// The count argument (argv[2]) of HRANDFIELD / SRANDMEMBER / ZRANDMEMBER, as Redis
/// reads it (an integer in -LONG_MAX..=LONG_MAX), then, when the command has one, its
/// optional `with` word (WITHVALUES / WITHSCORES) as argv[3], in Redis's order; the
/// error is written. Returns (count, whether `with` was given).
pub(crate) fn parse_random_count(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'_>,
    with: Option<&str>,
) -> Option<(i64, bool)> {
    let Some(count) = crate::util::parse_i64(argv.get(2)) else {
        ctx.out().error(errors::NOT_INTEGER);
        return None;
    };
    if count == i64::MIN {
        ctx.out().error(
            "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807",
        );
        return None;
    }
    let Some(word) = with else {
        return Some((count, false));
    };
    if argv.len() > 4 || (argv.len() == 4 && !argv.is(3, word)) {
        ctx.out().error(errors::SYNTAX);
        return None;
    }
    let with_given = argv.len() == 4;
    // The reply doubles in length with the values: Redis bounds the count.
    if with_given && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        ctx.out().error("ERR value is out of range");
        return None;
    }
    Some((count, with_given))
}

/// Runs `f` on the value in slot `id` of the client's database with memory kept
/// accounted; `seeds` draws the keys of a hash table a conversion builds, from the
/// node's RNG.
pub(crate) fn update_with_seeds<R>(
    ctx: &mut Ctx<'_>,
    id: u32,
    f: impl FnOnce(&mut crate::types::Value, &mut dyn FnMut() -> [u64; 4]) -> R,
) -> Option<R> {
    use rand::Rng;
    let db = ctx.db();
    let rng = &mut ctx.server.rng;
    let mut seeds = || [rng.gen(), rng.gen(), rng.gen(), rng.gen()];
    ctx.keyspace
        .db_mut(db)
        .update_value(id, |v| f(v, &mut seeds))
}

/// Deletes the key in slot `id` when it holds an emptied collection (Redis never
/// keeps one); true when it did.
pub(crate) fn delete_if_empty(ctx: &mut Ctx<'_>, id: u32) -> bool {
    let db = ctx.db();
    let empty = ctx
        .keyspace
        .value(db, id)
        .is_some_and(crate::types::Value::is_empty_collection);
    if empty {
        ctx.keyspace.db_mut(db).remove(id);
    }
    empty
}

/// A live key of the given type (`Value::type_name`), touched unless the client set
/// CLIENT NO-TOUCH. `count_stats`: reads count keyspace hits and misses. `Err(())`:
/// the key holds another type, and WRONGTYPE is written.
pub(crate) fn lookup_typed(
    ctx: &mut Ctx<'_>,
    key: &[u8],
    type_name: &'static str,
    count_stats: bool,
) -> Result<Option<u32>, ()> {
    let db = ctx.db();
    let (now_ms, secs) = (ctx.now.wall_ms, ctx.now.mono_secs());
    let found = if ctx.client.no_touch {
        ctx.keyspace.lookup(db, key, now_ms)
    } else {
        ctx.keyspace.lookup_touch(db, key, now_ms, secs)
    };
    let Some(id) = found else {
        if count_stats {
            ctx.server.stats.keyspace_misses += 1;
            ctx.notify(crate::notify::KEY_MISS, "keymiss", key);
        }
        return Ok(None);
    };
    if ctx
        .keyspace
        .value(db, id)
        .map(crate::types::Value::type_name)
        != Some(type_name)
    {
        ctx.out().error(errors::WRONGTYPE);
        return Err(());
    }
    if count_stats {
        ctx.server.stats.keyspace_hits += 1;
    }
    Ok(Some(id))
}

/// Upper bound on the slots or entries one SCAN-family call visits.
pub const SCAN_MAX_COUNT: usize = 1_000_000;

/// SCAN-family options as Redis's `scanGenericCommand` parses them: COUNT (≥ 1),
/// MATCH, and TYPE where the command allows it.
pub struct ScanOptions<'a> {
    pub count: usize,
    /// None for no pattern or `*`.
    pub pattern: Option<&'a [u8]>,
    pub type_filter: Option<&'a [u8]>,
}

impl ScanOptions<'_> {
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern
            .is_none_or(|p| crate::glob::glob_match(p, item, false))
    }
}

/// Parses options from `argv[start..]`; writes the error and returns None on a bad one.
pub fn parse_scan_options<'a>(
    ctx: &mut Ctx<'_>,
    argv: &Argv<'a>,
    start: usize,
    allow_type: bool,
) -> Option<ScanOptions<'a>> {
    let mut opts = ScanOptions {
        count: 10,
        pattern: None,
        type_filter: None,
    };
    let mut j = start;
    while j < argv.len() {
        let has_value = j + 1 < argv.len();
        if argv.is(j, "count") && has_value {
            let c = arg_i64(ctx, argv, j + 1)?;
            if c < 1 {
                ctx.out().error(errors::SYNTAX);
                return None;
            }
            opts.count = usize::try_from(c).unwrap_or(usize::MAX).min(SCAN_MAX_COUNT);
        } else if argv.is(j, "match") && has_value {
            opts.pattern = Some(argv.get(j + 1)).filter(|p| *p != b"*");
        } else if allow_type && argv.is(j, "type") && has_value {
            opts.type_filter = Some(argv.get(j + 1));
        } else {
            ctx.out().error(errors::SYNTAX);
            return None;
        }
        j += 2;
    }
    Some(opts)
}

/// Help output as Redis's `addReplyHelp`: the header line, the lines, then the
/// trailing HELP line.
pub fn reply_help(out: &mut ReplyBuf, command: &str, lines: &[&str]) {
    out.array(lines.len() + 3);
    out.simple(&format!(
        "{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    ));
    for l in lines {
        out.simple(l);
    }
    out.simple("HELP");
    out.simple("    Prints this help.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_unique_and_lowercase() {
        let t = CommandTable::new();
        for w in t.all().windows(2) {
            assert!(w[0].name < w[1].name, "{} / {}", w[0].name, w[1].name);
        }
        for c in t.all() {
            assert_eq!(c.name, c.name.to_ascii_lowercase());
            assert!(c.arity != 0);
        }
        assert!(t.lookup(b"GeT").is_some());
        assert!(t.lookup(b"nope").is_none());
    }
}
