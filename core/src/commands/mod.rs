//! The command table (name, arity, flags, key positions, docs — said once, read by
//! dispatch, `COMMAND` and later cluster key extraction) and the dispatcher that runs
//! Redis's checks in Redis's order. Commands write replies; they never touch I/O.

pub mod connection;
pub mod hashes;
pub mod keys;
pub mod lists;
pub mod pubsub;
pub mod server;
pub mod sets;
pub mod sort;
pub mod strings;
pub mod transactions;
pub mod zsets;

use crate::client::{Client, ReplyMode};
use crate::node::{Node, Now};
use crate::resp::ReplyBuf;

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

    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
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

    /// Case-insensitive comparison of argument `i` with an ASCII keyword.
    pub fn is(&self, i: usize, keyword: &str) -> bool {
        self.get(i).eq_ignore_ascii_case(keyword.as_bytes())
    }
}

/// Everything a command runs with.
pub struct Ctx<'a> {
    pub node: &'a mut Node,
    pub client: &'a mut Client,
    pub now: Now,
}

impl Ctx<'_> {
    pub fn out(&mut self) -> &mut ReplyBuf {
        &mut self.client.out
    }

    pub fn db(&self) -> usize {
        self.client.db
    }

    /// Redis's `signalModifiedKey`: call after a command changed `key` in the
    /// client's database (WATCH invalidation, client-side caching later).
    /// Scaffold: a no-op until transactions land.
    pub fn key_modified(&mut self, _key: &[u8]) {}

    /// Redis's `notifyKeyspaceEvent`: `class` is one of `crate::notify`'s classes,
    /// `event` the lowercase event name (`"lpush"`, `"del"`, ...).
    /// Scaffold: a no-op until keyspace notifications land.
    pub fn notify(&mut self, _class: crate::notify::Class, _event: &str, _key: &[u8]) {}
}

pub type Handler = fn(&mut Ctx<'_>, &Argv<'_>);

pub struct CommandSpec {
    pub name: &'static str,
    /// Redis arity: exact when positive, a minimum when negative.
    pub arity: i32,
    pub flags: &'static [&'static str],
    pub first_key: i32,
    pub last_key: i32,
    pub key_step: i32,
    pub group: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub handler: Handler,
    pub subcommands: &'static [CommandSpec],
}

impl CommandSpec {
    pub fn has_flag(&self, flag: &str) -> bool {
        self.flags.contains(&flag)
    }

    fn arity_ok(&self, argc: usize) -> bool {
        let argc = argc as i64;
        let arity = self.arity as i64;
        (arity > 0 && argc == arity) || (arity < 0 && argc >= -arity)
    }
}

macro_rules! cmd {
    ($name:literal, $arity:expr, [$($flag:literal),*], $fk:expr, $lk:expr, $st:expr, $group:literal, $since:literal, $summary:literal, $handler:expr) => {
        CommandSpec { name: $name, arity: $arity, flags: &[$($flag),*], first_key: $fk, last_key: $lk, key_step: $st, group: $group, summary: $summary, since: $since, handler: $handler, subcommands: &[] }
    };
    ($name:literal, $arity:expr, [$($flag:literal),*], $fk:expr, $lk:expr, $st:expr, $group:literal, $since:literal, $summary:literal, $handler:expr, $subs:expr) => {
        CommandSpec { name: $name, arity: $arity, flags: &[$($flag),*], first_key: $fk, last_key: $lk, key_step: $st, group: $group, summary: $summary, since: $since, handler: $handler, subcommands: $subs }
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
        .chain(lists::COMMANDS.iter())
        .chain(sets::COMMANDS.iter())
        .chain(sort::COMMANDS.iter())
        .chain(zsets::COMMANDS.iter())
        .chain(transactions::COMMANDS.iter())
        .chain(pubsub::COMMANDS.iter())
        .chain(server::COMMANDS.iter())
        .collect();
    v.sort_by_key(|c| c.name);
    v
}

/// Name lookup over the table: a hash map with fixed keys (deterministic, one
/// comparison per lookup), plus the sorted list COMMAND prints.
pub struct CommandTable {
    sorted: Vec<&'static CommandSpec>,
    by_name: hashbrown::HashMap<&'static [u8], &'static CommandSpec, ahash::RandomState>,
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
        for spec in &sorted {
            by_name.insert(spec.name.as_bytes(), *spec);
        }
        CommandTable { sorted, by_name }
    }

    pub fn all(&self) -> &[&'static CommandSpec] {
        &self.sorted
    }

    pub fn lookup(&self, name: &[u8]) -> Option<&'static CommandSpec> {
        if name.len() > 32 {
            return None;
        }
        let mut lower = [0u8; 32];
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        self.by_name.get(&lower[..name.len()]).copied()
    }
}

pub fn find_subcommand(parent: &'static CommandSpec, name: &[u8]) -> Option<&'static CommandSpec> {
    parent
        .subcommands
        .iter()
        .find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}

/// Redis's rendering of an unknown command: name and up to 128 bytes of arguments.
fn unknown_command_error(argv: &Argv<'_>) -> String {
    let name = String::from_utf8_lossy(argv.get(0));
    let name: String = name.chars().take(128).collect();
    let mut args = String::new();
    for a in argv.iter().skip(1) {
        if args.len() >= 128 {
            break;
        }
        let room = 128 - args.len();
        let a = String::from_utf8_lossy(a);
        let a: String = a.chars().take(room).collect();
        args.push_str(&format!("'{a}' "));
    }
    format!("ERR unknown command '{name}', with args beginning with: {args}")
}

/// Runs one command for `client`, with Redis's checks in Redis's order.
pub fn execute(node: &mut Node, now: Now, client: &mut Client, argv: &Argv<'_>) {
    let out_start = client.out.len();
    let errors_before = count_errors(&client.out.bytes[out_start..]);
    run_checked(node, now, client, argv);
    node.stats.total_commands_processed += 1;
    let new_errors = count_errors(&client.out.bytes[out_start..]).saturating_sub(errors_before);
    node.stats.total_error_replies += new_errors;
    // CLIENT REPLY OFF/SKIP: drop what this command wrote.
    match client.reply_mode {
        ReplyMode::On => {}
        ReplyMode::Off => client.out.bytes.truncate(out_start),
        ReplyMode::Skipping => {
            client.out.bytes.truncate(out_start);
            client.reply_mode = ReplyMode::On;
        }
        ReplyMode::SkipNext => client.reply_mode = ReplyMode::Skipping,
    }
}

/// Top-level error replies in a reply stream (one per command; nested errors are rare).
fn count_errors(bytes: &[u8]) -> u64 {
    u64::from(bytes.first() == Some(&b'-'))
}

fn run_checked(node: &mut Node, now: Now, client: &mut Client, argv: &Argv<'_>) {
    let Some(spec) = node.commands.lookup(argv.get(0)) else {
        client.last_command = ("NULL", None);
        client.out.error(&unknown_command_error(argv));
        return;
    };
    let parent = spec;
    let mut spec = spec;
    let mut sub_name = None;
    if !spec.subcommands.is_empty() && argv.len() >= 2 {
        match find_subcommand(spec, argv.get(1)) {
            Some(sub) => {
                sub_name = Some(sub.name);
                spec = sub;
            }
            None => {
                let sub = String::from_utf8_lossy(argv.get(1));
                let sub: String = sub.chars().take(128).collect();
                client.out.error(&format!(
                    "ERR unknown subcommand '{sub}'. Try {} HELP.",
                    spec.name.to_ascii_uppercase()
                ));
                return;
            }
        }
    }
    if !spec.arity_ok(argv.len()) {
        let full_name = match sub_name {
            Some(sub) => format!("{}|{sub}", parent.name),
            None => parent.name.to_string(),
        };
        client.out.error(&format!(
            "ERR wrong number of arguments for '{full_name}' command"
        ));
        return;
    }
    if !client.authenticated && !spec.has_flag("no_auth") {
        client.out.error("NOAUTH Authentication required.");
        return;
    }
    if spec.has_flag("denyoom")
        && node.over_maxmemory()
        && !node.mutants.is(crate::mutants::Mutant::OomCheckSkipped)
    {
        client.out.error(errors::OOM);
        return;
    }
    client.last_command = (parent.name, sub_name);
    let mut ctx = Ctx { node, client, now };
    (spec.handler)(&mut ctx, argv);
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
        ctx.node.keyspace.lookup(db, key, now_ms)
    } else {
        ctx.node.keyspace.lookup_touch(db, key, now_ms, secs)
    };
    let Some(id) = found else {
        if count_stats {
            ctx.node.stats.keyspace_misses += 1;
        }
        return Ok(None);
    };
    if ctx
        .node
        .keyspace
        .value(db, id)
        .map(crate::types::Value::type_name)
        != Some(type_name)
    {
        ctx.out().error(errors::WRONGTYPE);
        return Err(());
    }
    if count_stats {
        ctx.node.stats.keyspace_hits += 1;
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
    out.simple("    Print this help.");
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
