//! What `COMMAND` says about a command beyond what dispatch needs: documentation
//! (summary, since, group, complexity, history, arguments), ACL categories, tips and
//! key specs. Static data looked up by full name (`"config|get"`) only when COMMAND
//! asks: dispatch never reads it. Most of it is generated from Redis 7.0 (`redis_docs`);
//! keel's own additions are written here by hand.

use self::redis_docs::REDIS_DOCS;
use super::flags::{flags, AclCategories, ArgFlags, DocFlags};
use super::keyspec::KeySpec;

// Generated (tests/tools/gen_command_docs.py); a child, so the data reads this
// module's types without the two importing each other.
#[rustfmt::skip]
mod redis_docs;

/// One command's (or subcommand's) documentation and metadata.
#[derive(Debug)]
pub struct CommandDocs {
    /// Full name: `"get"`, `"config|get"`.
    pub name: &'static str,
    pub summary: &'static str,
    pub since: &'static str,
    pub group: &'static str,
    pub complexity: Option<&'static str>,
    pub doc_flags: DocFlags,
    pub deprecated_since: Option<&'static str>,
    pub replaced_by: Option<&'static str>,
    /// (version, change), oldest first.
    pub history: &'static [(&'static str, &'static str)],
    pub args: &'static [Arg],
    /// The categories the command is put in by name; those its flags imply are added
    /// by `AclCategories::with_implicit`.
    pub acl_categories: AclCategories,
    pub tips: &'static [&'static str],
    pub key_specs: &'static [KeySpec],
}

/// A documented argument; `Oneof` and `Block` arguments nest others.
#[derive(Debug, Clone, Copy)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgType,
    /// Index into the command's key specs, for `Key` arguments.
    pub key_spec_index: Option<u8>,
    pub token: Option<&'static str>,
    pub summary: Option<&'static str>,
    pub since: Option<&'static str>,
    pub deprecated_since: Option<&'static str>,
    pub flags: ArgFlags,
    pub args: &'static [Arg],
}

/// An argument's type, as `COMMAND DOCS` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgType {
    String,
    Integer,
    Double,
    Key,
    Pattern,
    UnixTime,
    PureToken,
    Oneof,
    Block,
}

impl ArgType {
    pub fn name(self) -> &'static str {
        match self {
            ArgType::String => "string",
            ArgType::Integer => "integer",
            ArgType::Double => "double",
            ArgType::Key => "key",
            ArgType::Pattern => "pattern",
            ArgType::UnixTime => "unix-time",
            ArgType::PureToken => "pure-token",
            ArgType::Oneof => "oneof",
            ArgType::Block => "block",
        }
    }
}

/// An argument with only a name and a type; the builders below add the rest (the
/// generated table reads as one line per argument).
pub const fn arg(name: &'static str, kind: ArgType) -> Arg {
    Arg {
        name,
        kind,
        key_spec_index: None,
        token: None,
        summary: None,
        since: None,
        deprecated_since: None,
        flags: ArgFlags::NONE,
        args: &[],
    }
}

impl Arg {
    pub const fn key_spec(mut self, index: u8) -> Arg {
        self.key_spec_index = Some(index);
        self
    }

    pub const fn token(mut self, token: &'static str) -> Arg {
        self.token = Some(token);
        self
    }

    pub const fn since(mut self, version: &'static str) -> Arg {
        self.since = Some(version);
        self
    }

    pub const fn deprecated_since(mut self, version: &'static str) -> Arg {
        self.deprecated_since = Some(version);
        self
    }

    pub const fn flags(mut self, flags: ArgFlags) -> Arg {
        self.flags = flags;
        self
    }

    pub const fn args(mut self, args: &'static [Arg]) -> Arg {
        self.args = args;
        self
    }
}

/// The docs of the command with this full name (lowercase), if keel has it.
pub fn lookup(full_name: &str) -> Option<&'static CommandDocs> {
    [REDIS_DOCS, KEEL_DOCS].into_iter().find_map(|table| {
        table
            .binary_search_by(|d| d.name.cmp(full_name))
            .ok()
            .and_then(|i| table.get(i))
    })
}

/// Every docs entry, Redis's then keel's (for the table's consistency tests).
#[cfg(test)]
pub fn all() -> impl Iterator<Item = &'static CommandDocs> {
    REDIS_DOCS.iter().chain(KEEL_DOCS.iter())
}

/// Commands keel has that Redis 7.0 does not, written by hand in the same shape (from
/// Redis 7.2's documentation where the command comes from there). Sorted by name.
static KEEL_DOCS: &[CommandDocs] = &[CommandDocs {
    name: "client|no-touch",
    summary: "Controls whether commands sent by the client will alter the LRU/LFU of the keys they access.",
    since: "7.2.0",
    group: "connection",
    complexity: Some("O(1)"),
    doc_flags: DocFlags::NONE,
    deprecated_since: None,
    replaced_by: None,
    history: &[],
    args: &[arg("enabled", ArgType::Oneof).args(&[
        arg("on", ArgType::PureToken).token("ON"),
        arg("off", ArgType::PureToken).token("OFF"),
    ])],
    acl_categories: flags!(AclCategories: CONNECTION),
    tips: &[],
    key_specs: &[],
}];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_sorted_and_unique() {
        for table in [REDIS_DOCS, KEEL_DOCS] {
            for w in table.windows(2) {
                assert!(w[0].name < w[1].name, "{} / {}", w[0].name, w[1].name);
            }
        }
        for d in KEEL_DOCS {
            assert!(
                REDIS_DOCS.iter().all(|r| r.name != d.name),
                "{} is in both tables",
                d.name
            );
        }
    }

    #[test]
    fn key_spec_indexes_point_at_specs() {
        fn check(d: &CommandDocs, args: &[Arg]) {
            for a in args {
                if let Some(i) = a.key_spec_index {
                    assert!(usize::from(i) < d.key_specs.len(), "{}: {}", d.name, a.name);
                }
                check(d, a.args);
            }
        }
        for d in all() {
            check(d, d.args);
        }
    }
}
