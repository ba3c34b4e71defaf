//! COMMAND: the command table as Redis's tooling reads it (COUNT, LIST, INFO, DOCS,
//! GETKEYS, GETKEYSANDFLAGS), rendered as Redis 7.0's `server.c` renders it, field for
//! field and type for type, from keel's table and the static docs. Reads the table,
//! never the keyspace.

use super::docs::{self, Arg, ArgType, CommandDocs};
use super::flags::{AclCategories, CmdFlags, DocFlags, KeySpecFlags};
use super::keyspec::{self, BeginSearch, FindKeys, KeySpec};
use super::{cmd, errors, find_subcommand, reply_help, Argv, CommandSpec, Ctx};
use crate::resp::ReplyBuf;

pub static COMMANDS: &[CommandSpec] = &[cmd!(
    "command",
    -1,
    [LOADING, STALE],
    command_all,
    subcommands: COMMAND_SUBCOMMANDS
)];

static COMMAND_SUBCOMMANDS: &[CommandSpec] = &[
    cmd!("count", 2, [LOADING, STALE], command_count),
    cmd!("docs", -2, [LOADING, STALE], command_docs),
    cmd!("getkeys", -4, [LOADING, STALE], command_getkeys),
    cmd!(
        "getkeysandflags",
        -4,
        [LOADING, STALE],
        command_getkeysandflags
    ),
    cmd!("help", 2, [LOADING, STALE], command_help),
    cmd!("info", -2, [LOADING, STALE], command_info),
    cmd!("list", -2, [LOADING, STALE], command_list),
];

/// A table row with its parent (for a subcommand) and its docs.
#[derive(Clone, Copy)]
struct Entry {
    spec: &'static CommandSpec,
    parent: Option<&'static CommandSpec>,
    docs: &'static CommandDocs,
}

/// What COMMAND prints for a row whose docs are missing (a table test makes sure none
/// is): a name and a group, and no keys.
static NO_DOCS: CommandDocs = CommandDocs {
    name: "",
    summary: "",
    since: "",
    group: "",
    complexity: None,
    doc_flags: DocFlags::NONE,
    deprecated_since: None,
    replaced_by: None,
    history: &[],
    args: &[],
    acl_categories: AclCategories::NONE,
    tips: &[],
    key_specs: &[],
};

impl Entry {
    fn new(spec: &'static CommandSpec, parent: Option<&'static CommandSpec>) -> Entry {
        let docs = docs::lookup(&full_name(spec, parent)).unwrap_or(&NO_DOCS);
        Entry { spec, parent, docs }
    }

    fn full_name(&self) -> String {
        full_name(self.spec, self.parent)
    }

    fn subcommands(&self) -> impl Iterator<Item = Entry> + '_ {
        self.spec
            .subcommands
            .iter()
            .map(|sub| Entry::new(sub, Some(self.spec)))
    }

    fn acl_categories(&self) -> AclCategories {
        self.docs.acl_categories.with_implicit(self.spec.flags)
    }
}

fn full_name(spec: &CommandSpec, parent: Option<&CommandSpec>) -> String {
    match parent {
        Some(p) => format!("{}|{}", p.name, spec.name),
        None => spec.name.to_string(),
    }
}

/// Every row, subcommands after their container (Redis's `COMMAND LIST` walk).
fn all_entries(ctx: &Ctx<'_>) -> Vec<Entry> {
    let mut out = Vec::new();
    for spec in ctx.commands.all() {
        let top = Entry::new(spec, None);
        out.push(top);
        out.extend(top.subcommands());
    }
    out
}

/// Redis's `lookupCommandBySds`: `name` or `container|sub`, case-insensitively.
fn lookup_full_name(ctx: &Ctx<'_>, name: &[u8]) -> Option<Entry> {
    let mut parts = name.split(|&b| b == b'|');
    let top = ctx.commands.lookup(parts.next()?)?;
    let found = match parts.next() {
        None => Entry::new(top, None),
        Some(sub) => Entry::new(find_subcommand(top, sub)?, Some(top)),
    };
    // One level of subcommands only.
    parts.next().is_none().then_some(found)
}

/// Redis's `lookupCommand` over a whole command line (`argv[0]` the name): the
/// subcommand when the command has them and one is given.
fn lookup_argv(ctx: &Ctx<'_>, argv: &Argv<'_>) -> Option<Entry> {
    let top = ctx.commands.lookup(argv.get(0))?;
    if argv.len() == 1 || top.subcommands.is_empty() {
        return Some(Entry::new(top, None));
    }
    find_subcommand(top, argv.get(1)).map(|sub| Entry::new(sub, Some(top)))
}

// ---- COMMAND, COMMAND INFO ----

fn reply_info(out: &mut ReplyBuf, e: &Entry) {
    let ((first, last, step), _) = keyspec::legacy_range(e.docs.key_specs);
    out.array(10);
    out.bulk(e.full_name().as_bytes());
    out.int(i64::from(e.spec.arity));
    reply_names(out, e.spec.flags.count(), e.spec.flags.names());
    out.int(i64::from(first));
    out.int(i64::from(last));
    out.int(i64::from(step));
    let cats = e.acl_categories();
    out.set(cats.count());
    for c in cats.names() {
        out.simple(&format!("@{c}"));
    }
    out.set(e.docs.tips.len());
    for tip in e.docs.tips {
        out.bulk(tip.as_bytes());
    }
    out.set(e.docs.key_specs.len());
    for spec in e.docs.key_specs {
        reply_key_spec(out, spec);
    }
    // Redis writes an empty set, but a non-empty array.
    if e.spec.subcommands.is_empty() {
        out.set(0);
    } else {
        out.array(e.spec.subcommands.len());
        for sub in e.subcommands() {
            reply_info(out, &sub);
        }
    }
}

/// A set of status replies.
fn reply_names<'n>(out: &mut ReplyBuf, count: usize, names: impl Iterator<Item = &'n str>) {
    out.set(count);
    for n in names {
        out.simple(n);
    }
}

fn reply_key_spec(out: &mut ReplyBuf, spec: &KeySpec) {
    out.map(3 + usize::from(spec.notes.is_some()));
    if let Some(notes) = spec.notes {
        out.bulk(b"notes");
        out.bulk(notes.as_bytes());
    }
    out.bulk(b"flags");
    reply_names(out, spec.flags.count(), spec.flags.names());
    out.bulk(b"begin_search");
    out.map(2);
    out.bulk(b"type");
    match spec.begin_search {
        BeginSearch::Index(pos) => {
            out.bulk(b"index");
            out.bulk(b"spec");
            out.map(1);
            out.bulk(b"index");
            out.int(i64::from(pos));
        }
        BeginSearch::Keyword { keyword, startfrom } => {
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(keyword.as_bytes());
            out.bulk(b"startfrom");
            out.int(i64::from(startfrom));
        }
        BeginSearch::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
    out.bulk(b"find_keys");
    out.map(2);
    out.bulk(b"type");
    match spec.find_keys {
        FindKeys::Range {
            lastkey,
            keystep,
            limit,
        } => {
            out.bulk(b"range");
            out.bulk(b"spec");
            out.map(3);
            for (k, v) in [("lastkey", lastkey), ("keystep", keystep), ("limit", limit)] {
                out.bulk(k.as_bytes());
                out.int(i64::from(v));
            }
        }
        FindKeys::Keynum {
            keynumidx,
            firstkey,
            keystep,
        } => {
            out.bulk(b"keynum");
            out.bulk(b"spec");
            out.map(3);
            for (k, v) in [
                ("keynumidx", keynumidx),
                ("firstkey", firstkey),
                ("keystep", keystep),
            ] {
                out.bulk(k.as_bytes());
                out.int(i64::from(v));
            }
        }
        FindKeys::Unknown => {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        }
    }
}

fn command_all(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let tops: Vec<Entry> = ctx
        .commands
        .all()
        .iter()
        .map(|spec| Entry::new(spec, None))
        .collect();
    let out = ctx.out();
    out.array(tops.len());
    for e in &tops {
        reply_info(out, e);
    }
}

fn command_info(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    if argv.len() == 2 {
        command_all(ctx, argv);
        return;
    }
    let found: Vec<Option<Entry>> = argv
        .iter()
        .skip(2)
        .map(|n| lookup_full_name(ctx, n))
        .collect();
    let out = ctx.out();
    out.array(found.len());
    for f in &found {
        match f {
            Some(e) => reply_info(out, e),
            None => out.null(),
        }
    }
}

fn command_count(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let n = ctx.commands.all().len();
    ctx.out().int(n as i64);
}

// ---- COMMAND DOCS ----

fn reply_docs(out: &mut ReplyBuf, e: &Entry) {
    let d = e.docs;
    let has_subs = !e.spec.subcommands.is_empty();
    let fields = 3
        + usize::from(d.complexity.is_some())
        + usize::from(!d.doc_flags.is_empty())
        + usize::from(d.deprecated_since.is_some())
        + usize::from(d.replaced_by.is_some())
        + usize::from(!d.history.is_empty())
        + usize::from(!d.args.is_empty())
        + usize::from(has_subs);
    out.map(fields);
    out.bulk(b"summary");
    out.bulk(d.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(d.since.as_bytes());
    out.bulk(b"group");
    out.bulk(d.group.as_bytes());
    if let Some(c) = d.complexity {
        out.bulk(b"complexity");
        out.bulk(c.as_bytes());
    }
    if !d.doc_flags.is_empty() {
        out.bulk(b"doc_flags");
        reply_names(out, d.doc_flags.count(), d.doc_flags.names());
    }
    if let Some(v) = d.deprecated_since {
        out.bulk(b"deprecated_since");
        out.bulk(v.as_bytes());
    }
    if let Some(v) = d.replaced_by {
        out.bulk(b"replaced_by");
        out.bulk(v.as_bytes());
    }
    if !d.history.is_empty() {
        out.bulk(b"history");
        out.set(d.history.len());
        for (version, change) in d.history {
            out.array(2);
            out.bulk(version.as_bytes());
            out.bulk(change.as_bytes());
        }
    }
    if !d.args.is_empty() {
        out.bulk(b"arguments");
        reply_args(out, d.args);
    }
    if has_subs {
        out.bulk(b"subcommands");
        out.map(e.spec.subcommands.len());
        for sub in e.subcommands() {
            out.bulk(sub.full_name().as_bytes());
            reply_docs(out, &sub);
        }
    }
}

fn reply_args(out: &mut ReplyBuf, args: &[Arg]) {
    out.array(args.len());
    for a in args {
        let nested = matches!(a.kind, ArgType::Oneof | ArgType::Block);
        let optional = [a.token, a.summary, a.since, a.deprecated_since];
        let fields = 2
            + usize::from(a.key_spec_index.is_some())
            + optional.iter().filter(|f| f.is_some()).count()
            + usize::from(!a.flags.is_empty())
            + usize::from(nested);
        out.map(fields);
        out.bulk(b"name");
        out.bulk(a.name.as_bytes());
        out.bulk(b"type");
        out.bulk(a.kind.name().as_bytes());
        if let Some(i) = a.key_spec_index {
            out.bulk(b"key_spec_index");
            out.int(i64::from(i));
        }
        for (field, value) in ["token", "summary", "since", "deprecated_since"]
            .into_iter()
            .zip(optional)
        {
            if let Some(v) = value {
                out.bulk(field.as_bytes());
                out.bulk(v.as_bytes());
            }
        }
        if !a.flags.is_empty() {
            out.bulk(b"flags");
            reply_names(out, a.flags.count(), a.flags.names());
        }
        if nested {
            out.bulk(b"arguments");
            reply_args(out, a.args);
        }
    }
}

fn command_docs(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let found: Vec<Entry> = if argv.len() == 2 {
        ctx.commands
            .all()
            .iter()
            .map(|spec| Entry::new(spec, None))
            .collect()
    } else {
        // Unknown names are left out, not answered with a null.
        argv.iter()
            .skip(2)
            .filter_map(|n| lookup_full_name(ctx, n))
            .collect()
    };
    let out = ctx.out();
    out.map(found.len());
    for e in &found {
        out.bulk(e.full_name().as_bytes());
        reply_docs(out, e);
    }
}

// ---- COMMAND GETKEYS, COMMAND GETKEYSANDFLAGS ----

fn command_getkeys(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    getkeys(ctx, argv, false);
}

fn command_getkeysandflags(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    getkeys(ctx, argv, true);
}

/// Redis's `getKeysSubcommandImpl`, its checks in its order.
fn getkeys(ctx: &mut Ctx<'_>, argv: &Argv<'_>, with_flags: bool) {
    let line = argv.tail(2);
    let Some(e) = lookup_argv(ctx, &line) else {
        ctx.out().error("ERR Invalid command specified");
        return;
    };
    let specs = e.docs.key_specs;
    if !keyspec::has_keys(specs, e.spec.getkeys) {
        ctx.out().error("ERR The command has no key arguments");
        return;
    }
    if !e.spec.arity_ok(line.len()) {
        ctx.out()
            .error("ERR Invalid number of arguments specified for command");
        return;
    }
    let keys = keyspec::get_keys(specs, e.spec.getkeys, &line);
    if keys.is_empty() && !e.spec.flags.contains(CmdFlags::NO_MANDATORY_KEYS) {
        ctx.out()
            .error("ERR Invalid arguments specified for command");
        return;
    }
    let out = ctx.out();
    out.array(keys.len());
    for k in keys {
        if with_flags {
            out.array(2);
            out.bulk(line.get(k.pos));
            reply_key_flags(out, k.flags);
        } else {
            out.bulk(line.get(k.pos));
        }
    }
}

fn reply_key_flags(out: &mut ReplyBuf, flags: KeySpecFlags) {
    reply_names(out, flags.count(), flags.names());
}

// ---- COMMAND LIST ----

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`.
fn command_list(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    enum Filter<'a> {
        All,
        /// keel loads no modules: no command belongs to one.
        Module,
        /// None: no such category, so nothing matches.
        AclCat(Option<AclCategories>),
        Pattern(&'a [u8]),
    }
    let mut filter = Filter::All;
    let mut i = 2;
    while i < argv.len() {
        // Only as the last three arguments, as Redis parses it.
        if !(argv.is(i, "filterby") && argv.len() - 1 - i == 2) {
            ctx.out().error(errors::SYNTAX);
            return;
        }
        let arg = argv.get(i + 2);
        filter = if argv.is(i + 1, "module") {
            Filter::Module
        } else if argv.is(i + 1, "aclcat") {
            Filter::AclCat(AclCategories::by_name(arg))
        } else if argv.is(i + 1, "pattern") {
            Filter::Pattern(arg)
        } else {
            ctx.out().error(errors::SYNTAX);
            return;
        };
        i += 3;
    }
    let names: Vec<String> = all_entries(ctx)
        .into_iter()
        .filter(|e| match &filter {
            Filter::All => true,
            Filter::Module => false,
            Filter::AclCat(cat) => cat.is_some_and(|c| e.acl_categories().intersects(c)),
            Filter::Pattern(p) => crate::glob::glob_match(p, e.full_name().as_bytes(), true),
        })
        .map(|e| e.full_name())
        .collect();
    let out = ctx.out();
    out.array(names.len());
    for n in names {
        out.bulk(n.as_bytes());
    }
}

fn command_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    reply_help(
        ctx.out(),
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
}

#[cfg(test)]
mod tests {
    use super::super::{all_commands, CommandSpec};
    use super::*;

    fn rows() -> Vec<(String, &'static CommandSpec)> {
        let mut out = Vec::new();
        for spec in all_commands() {
            out.push((spec.name.to_string(), spec));
            for sub in spec.subcommands {
                out.push((format!("{}|{}", spec.name, sub.name), sub));
            }
        }
        out
    }

    #[test]
    fn every_row_has_docs_and_every_doc_a_row() {
        let rows = rows();
        for (name, _) in &rows {
            assert!(docs::lookup(name).is_some(), "no docs for {name}");
        }
        for d in docs::all() {
            assert!(
                rows.iter().any(|(n, _)| n == d.name),
                "docs for {}, which keel does not have",
                d.name
            );
        }
    }

    #[test]
    fn movablekeys_flag_matches_the_key_specs() {
        for (name, spec) in rows() {
            let Some(d) = docs::lookup(&name) else {
                continue;
            };
            assert_eq!(
                spec.flags.contains(CmdFlags::MOVABLEKEYS),
                keyspec::is_movable(d.key_specs),
                "{name}"
            );
        }
    }

    #[test]
    fn getkeys_procs_only_where_redis_has_them() {
        // A procedure is a fallback for specs that cannot always answer.
        for (name, spec) in rows() {
            let Some(d) = docs::lookup(&name) else {
                continue;
            };
            if spec.getkeys.is_none() {
                let unsure = d.key_specs.iter().any(|s| {
                    s.flags
                        .intersects(KeySpecFlags::INCOMPLETE.union(KeySpecFlags::VARIABLE_FLAGS))
                        || s.begin_search == BeginSearch::Unknown
                        || s.find_keys == FindKeys::Unknown
                });
                assert!(!unsure, "{name} needs a getkeys procedure");
            }
        }
    }
}
