//! The command table's flag sets as bits: a misspelt flag is a compile error and a
//! test is one AND. Each set lists its members in Redis 7.0's reply order, the order
//! `COMMAND INFO` / `COMMAND DOCS` print their names in; nothing here allocates.

/// Defines a copyable set of named bits over an unsigned integer. `NAMED` lists every
/// member with the name Redis prints for it, in Redis's reply order.
macro_rules! flag_set {
    (
        $(#[$doc:meta])*
        pub struct $T:ident: $int:ty {
            $($(#[$fdoc:meta])* const $F:ident = $bit:expr => $name:literal;)*
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Default, Hash)]
        pub struct $T($int);

        // A general set type: not every instance uses every operation.
        #[allow(dead_code)]
        impl $T {
            pub const NONE: $T = $T(0);
            $($(#[$fdoc])* pub const $F: $T = $T(1 << $bit);)*
            /// Every member with its reply name, in reply order.
            pub const NAMED: &'static [($T, &'static str)] = &[$(($T::$F, $name)),*];

            pub const fn bits(self) -> $int {
                self.0
            }

            pub const fn union(self, other: $T) -> $T {
                $T(self.0 | other.0)
            }

            pub const fn difference(self, other: $T) -> $T {
                $T(self.0 & !other.0)
            }

            /// Whether every bit of `other` is set.
            pub const fn contains(self, other: $T) -> bool {
                self.0 & other.0 == other.0
            }

            /// Whether any bit of `other` is set.
            pub const fn intersects(self, other: $T) -> bool {
                self.0 & other.0 != 0
            }

            pub const fn is_empty(self) -> bool {
                self.0 == 0
            }

            /// The reply names of the members set, in reply order.
            pub fn names(self) -> impl Iterator<Item = &'static str> {
                Self::NAMED
                    .iter()
                    .filter(move |(f, _)| self.contains(*f))
                    .map(|(_, n)| *n)
            }

            /// How many members are set.
            pub fn count(self) -> usize {
                self.0.count_ones() as usize
            }

            /// The member whose reply name is `name` (ASCII case-insensitive).
            pub fn by_name(name: &[u8]) -> Option<$T> {
                Self::NAMED
                    .iter()
                    .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(name))
                    .map(|(f, _)| *f)
            }
        }

        impl std::ops::BitOr for $T {
            type Output = $T;
            fn bitor(self, other: $T) -> $T {
                self.union(other)
            }
        }

        impl std::fmt::Debug for $T {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_set().entries(self.names()).finish()
            }
        }
    };
}

flag_set! {
    /// A command's flags (Redis's `CMD_*`). Redis's hidden flags (`may_replicate`,
    /// `sentinel`, `only_sentinel`, `protected`) and `module` are not kept: nothing in
    /// keel reads them and `COMMAND` never prints them.
    pub struct CmdFlags: u32 {
        const WRITE = 0 => "write";
        const READONLY = 1 => "readonly";
        /// May grow memory: refused over `maxmemory`.
        const DENYOOM = 2 => "denyoom";
        const ADMIN = 3 => "admin";
        const PUBSUB = 4 => "pubsub";
        const NOSCRIPT = 5 => "noscript";
        const BLOCKING = 6 => "blocking";
        const LOADING = 7 => "loading";
        const STALE = 8 => "stale";
        const SKIP_MONITOR = 9 => "skip_monitor";
        const SKIP_SLOWLOG = 10 => "skip_slowlog";
        const ASKING = 11 => "asking";
        const FAST = 12 => "fast";
        /// Runs before AUTH.
        const NO_AUTH = 13 => "no_auth";
        const NO_MANDATORY_KEYS = 14 => "no_mandatory_keys";
        const NO_ASYNC_LOADING = 15 => "no_async_loading";
        /// Refused inside MULTI.
        const NO_MULTI = 16 => "no_multi";
        /// Keys are not a first/last/step range: set exactly when the key specs say so
        /// (`keyspec::is_movable`; a table test keeps the two in step).
        const MOVABLEKEYS = 17 => "movablekeys";
        const ALLOW_BUSY = 18 => "allow_busy";
    }
}

flag_set! {
    /// ACL categories (Redis's `ACL_CATEGORY_*`); names without the `@`.
    pub struct AclCategories: u32 {
        const KEYSPACE = 0 => "keyspace";
        const READ = 1 => "read";
        const WRITE = 2 => "write";
        const SET = 3 => "set";
        const SORTEDSET = 4 => "sortedset";
        const LIST = 5 => "list";
        const HASH = 6 => "hash";
        const STRING = 7 => "string";
        const BITMAP = 8 => "bitmap";
        const HYPERLOGLOG = 9 => "hyperloglog";
        const GEO = 10 => "geo";
        const STREAM = 11 => "stream";
        const PUBSUB = 12 => "pubsub";
        const ADMIN = 13 => "admin";
        const FAST = 14 => "fast";
        const SLOW = 15 => "slow";
        const BLOCKING = 16 => "blocking";
        const DANGEROUS = 17 => "dangerous";
        const CONNECTION = 18 => "connection";
        const TRANSACTION = 19 => "transaction";
        const SCRIPTING = 20 => "scripting";
    }
}

impl AclCategories {
    /// A command's whole category set: the ones its docs name plus the ones Redis's
    /// `setImplicitACLCategories` derives from its flags (`@slow` when not `@fast`).
    pub fn with_implicit(self, flags: CmdFlags) -> AclCategories {
        let mut cats = self;
        let implied = [
            (CmdFlags::WRITE, AclCategories::WRITE),
            (
                CmdFlags::ADMIN,
                AclCategories::ADMIN.union(AclCategories::DANGEROUS),
            ),
            (CmdFlags::PUBSUB, AclCategories::PUBSUB),
            (CmdFlags::FAST, AclCategories::FAST),
            (CmdFlags::BLOCKING, AclCategories::BLOCKING),
        ];
        for (flag, cat) in implied {
            if flags.contains(flag) {
                cats = cats.union(cat);
            }
        }
        // Scripting commands stay out of @read.
        if flags.contains(CmdFlags::READONLY) && !cats.contains(AclCategories::SCRIPTING) {
            cats = cats.union(AclCategories::READ);
        }
        if !cats.contains(AclCategories::FAST) {
            cats = cats.union(AclCategories::SLOW);
        }
        cats
    }
}

flag_set! {
    /// How a command uses the keys a key spec finds (Redis's `CMD_KEY_*`).
    pub struct KeySpecFlags: u16 {
        const RO = 0 => "RO";
        const RW = 1 => "RW";
        const OW = 2 => "OW";
        const RM = 3 => "RM";
        const ACCESS = 4 => "access";
        const UPDATE = 5 => "update";
        const INSERT = 6 => "insert";
        const DELETE = 7 => "delete";
        const NOT_KEY = 8 => "not_key";
        const INCOMPLETE = 9 => "incomplete";
        const VARIABLE_FLAGS = 10 => "variable_flags";
    }
}

flag_set! {
    /// A documented argument's flags.
    pub struct ArgFlags: u8 {
        const OPTIONAL = 0 => "optional";
        const MULTIPLE = 1 => "multiple";
        const MULTIPLE_TOKEN = 2 => "multiple_token";
    }
}

flag_set! {
    /// A command's documentation flags.
    pub struct DocFlags: u8 {
        const DEPRECATED = 0 => "deprecated";
        const SYSCMD = 1 => "syscmd";
    }
}

/// A flag set from a list of member names: `flags!(CmdFlags: WRITE, FAST)`. Usable in
/// statics; an unknown member does not compile.
macro_rules! flags {
    ($T:ident: $($F:ident),* $(,)?) => {
        $T::NONE$(.union($T::$F))*
    };
}
pub(crate) use flags;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_reply_order() {
        let f = flags!(CmdFlags: FAST, WRITE, NO_AUTH);
        assert_eq!(f.names().collect::<Vec<_>>(), ["write", "fast", "no_auth"]);
        assert_eq!(f.count(), 3);
        assert!(f.contains(CmdFlags::WRITE) && !f.contains(CmdFlags::READONLY));
        assert_eq!(KeySpecFlags::by_name(b"rw"), Some(KeySpecFlags::RW));
        assert_eq!(
            AclCategories::by_name(b"SortedSet"),
            Some(AclCategories::SORTEDSET)
        );
        assert_eq!(AclCategories::by_name(b"@read"), None);
    }

    #[test]
    fn implicit_categories_follow_redis() {
        let cats = AclCategories::STRING.with_implicit(flags!(CmdFlags: READONLY, FAST));
        assert_eq!(cats.names().collect::<Vec<_>>(), ["read", "string", "fast"]);
        let cats = AclCategories::NONE.with_implicit(flags!(CmdFlags: ADMIN, NOSCRIPT));
        assert_eq!(
            cats.names().collect::<Vec<_>>(),
            ["admin", "slow", "dangerous"]
        );
    }
}
