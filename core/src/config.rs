//! Redis 7.0 configuration: the table of every directive Redis 7.0.15 knows, parsing of
//! `redis.conf` text and `redis-server` command-line arguments, CONFIG GET / CONFIG SET
//! semantics, and the typed [`Settings`] each directive keel acts on is bound to in the
//! table. Never does I/O (the server reads the files, and `include`s via a callback), and
//! never hands out a value by name: the rest of keel reads `Config::settings()`.

use crate::glob::glob_match;
use crate::strtod::is_c_space;
use crate::util::c_str;
use std::fmt;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The Redis version named in the fatal config report. Clients and scripts match on
/// "Redis 7.0.15", so keel deliberately keeps Redis's wording (and version) there.
pub const REDIS_COMPAT_VERSION: &str = "7.0.15";
/// Most `bind` addresses Redis accepts (`CONFIG_BINDADDR_MAX`).
pub const BIND_ADDRESSES_MAX: usize = 16;
/// `hz` is clamped into `HZ_MIN..=HZ_MAX` after every change, like Redis.
pub const HZ_MIN: i64 = 1;
/// See [`HZ_MIN`].
pub const HZ_MAX: i64 = 500;
/// How deep `include` may nest (Redis has no limit and would overflow its stack).
pub const INCLUDE_DEPTH_MAX: usize = 16;
/// Longest `cluster-announce-hostname` + 1 (`NET_HOST_STR_LEN`).
const HOSTNAME_LEN_LIMIT: usize = 256;

/// `notify-keyspace-events` flag bits (Redis's `NOTIFY_*`), as held in
/// [`Settings::notify_keyspace_events_flags`].
pub const NOTIFY_KEYSPACE: u32 = 1 << 0; // K
/// `E`
pub const NOTIFY_KEYEVENT: u32 = 1 << 1;
/// `g`
pub const NOTIFY_GENERIC: u32 = 1 << 2;
/// `$`
pub const NOTIFY_STRING: u32 = 1 << 3;
/// `l`
pub const NOTIFY_LIST: u32 = 1 << 4;
/// `s`
pub const NOTIFY_SET: u32 = 1 << 5;
/// `h`
pub const NOTIFY_HASH: u32 = 1 << 6;
/// `z`
pub const NOTIFY_ZSET: u32 = 1 << 7;
/// `x`
pub const NOTIFY_EXPIRED: u32 = 1 << 8;
/// `e`
pub const NOTIFY_EVICTED: u32 = 1 << 9;
/// `t`
pub const NOTIFY_STREAM: u32 = 1 << 10;
/// `m`
pub const NOTIFY_KEY_MISS: u32 = 1 << 11;
/// `d`
pub const NOTIFY_MODULE: u32 = 1 << 13;
/// `n`
pub const NOTIFY_NEW: u32 = 1 << 14;
/// `A`: every class except `m` (key miss) and `n` (new key), as in Redis.
pub const NOTIFY_ALL: u32 = NOTIFY_GENERIC
    | NOTIFY_STRING
    | NOTIFY_LIST
    | NOTIFY_SET
    | NOTIFY_HASH
    | NOTIFY_ZSET
    | NOTIFY_EXPIRED
    | NOTIFY_EVICTED
    | NOTIFY_STREAM
    | NOTIFY_MODULE;

// ---------------------------------------------------------------------------------------------
// The directive table
// ---------------------------------------------------------------------------------------------

/// Whether CONFIG SET may change a directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutability {
    /// CONFIG SET may change it.
    Modifiable,
    /// Config file / command line only: "can't set immutable config".
    Immutable,
    /// CONFIG SET only when `enable-protected-configs` allows it: "can't set protected config".
    Protected,
}

/// Extra validation of a text directive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextCheck {
    /// Anything goes.
    Any,
    /// `dbfilename`: no `/` or `\`.
    DbFileName,
    /// `appendfilename`: not empty, no `/` or `\`.
    AofFileName,
    /// `appenddirname`: not empty, no `/` or `\`.
    AofDirName,
    /// `cluster-announce-hostname`: `[A-Za-z0-9.-]`, shorter than 256 bytes.
    Hostname,
    /// `proc-title-template`: known `{variables}` only, not blank once expanded.
    ProcTitleTemplate,
}

/// Directives with a syntax of their own.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Special {
    /// `save <secs> <changes> [...]` or `save ""`.
    Save,
    /// `bind <addr> [...]` (at most 16) or `bind ""`.
    Bind,
    /// `client-output-buffer-limit <class> <hard> <soft> <soft-secs> [...]`.
    ClientOutputBufferLimit,
    /// `oom-score-adj-values <master> <replica> <bgchild>`.
    OomScoreAdjValues,
    /// `notify-keyspace-events <flags>`.
    NotifyKeyspaceEvents,
    /// `replicaof <host> <port>` / `replicaof no one`.
    ReplicaOf,
    /// `latency-tracking-info-percentiles <p> [...]` or `""`.
    LatencyTrackingInfoPercentiles,
    /// `dir <path>` (Redis chdir()s; keel stores the text, the server acts on it).
    Dir,
}

/// How a directive's value is parsed, validated and rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `yes` / `no` (any case). `refuse_yes` is the error when `yes` cannot be honoured.
    Bool {
        /// Error text for `yes`, if this build cannot honour it.
        refuse_yes: Option<&'static str>,
    },
    /// A plain integer (Redis `string2ll`: no `+`, no leading zeros, no spaces) in
    /// `min..=max`. `unsigned`: C unsigned storage, bounds compared as `u64` like Redis.
    Integer {
        /// Lowest accepted value.
        min: i64,
        /// Highest accepted value (`-1` with `unsigned` means `u64::MAX`).
        max: i64,
        /// Bounds compared as unsigned.
        unsigned: bool,
    },
    /// Digits with an optional unit (`b`, `k`=1000, `kb`=1024, `m`, `mb`, `g`, `gb`, any case),
    /// rendered as bytes. `percent` also accepts `N%` (stored as `-N`, rendered `N%`).
    Memory {
        /// Lowest accepted value.
        min: i64,
        /// Highest accepted value (`-1` with `unsigned` means `u64::MAX`).
        max: i64,
        /// Bounds compared as unsigned.
        unsigned: bool,
        /// `N%` accepted.
        percent: bool,
    },
    /// An octal number, rendered in octal (`unixsocketperm`).
    Octal {
        /// Lowest accepted value.
        min: i64,
        /// Highest accepted value.
        max: i64,
    },
    /// One of `values` (any case); rendered as the first name carrying the stored value.
    /// `flags`: several names at once, OR-ed (`shutdown-on-sigint save now`).
    Enum {
        /// Accepted names and their values, in Redis's order.
        values: &'static [(&'static str, u32)],
        /// Several names may be given at once.
        flags: bool,
    },
    /// Free text.
    Text {
        /// Extra validation.
        check: TextCheck,
    },
    /// Own syntax.
    Special(Special),
}

impl Kind {
    /// Takes several arguments in a config file (and space-splits its CONFIG SET value).
    pub fn is_multi_arg(&self) -> bool {
        match self {
            Kind::Enum { flags, .. } => *flags,
            Kind::Special(s) => !matches!(s, Special::NotifyKeyspaceEvents | Special::Dir),
            _ => false,
        }
    }
}

/// One directive of Redis 7.0.15.
#[derive(Clone, Copy, Debug)]
pub struct Directive {
    /// Canonical name.
    pub name: &'static str,
    /// Old name still accepted (and listed by CONFIG GET), e.g. `slaveof` for `replicaof`.
    pub alias: Option<&'static str>,
    /// Syntax.
    pub kind: Kind,
    /// Redis's default, exactly as CONFIG GET renders it (`dir` renders the cwd in Redis).
    pub default: &'static str,
    /// Whether CONFIG SET may change it.
    pub mutability: Mutability,
    /// Redis's HIDDEN_CONFIG: CONFIG GET lists it only when asked by exact name.
    pub hidden: bool,
    /// keel acts on it; otherwise it is validated and stored only (CONFIG GET shows it).
    pub implemented: bool,
    /// Where its value lands in [`Settings`] (every directive keel acts on has one).
    bind: Option<Bind>,
    /// An integer value is clamped into this range once accepted (`hz`), and CONFIG GET
    /// shows the clamped value, like Redis.
    clamp: Option<(i64, i64)>,
}

const fn entry(
    name: &'static str,
    alias: Option<&'static str>,
    kind: Kind,
    default: &'static str,
    mutability: Mutability,
) -> Directive {
    Directive {
        name,
        alias,
        kind,
        default,
        mutability,
        hidden: false,
        implemented: false,
        bind: None,
        clamp: None,
    }
}

impl Directive {
    const fn keel(self) -> Directive {
        Directive {
            implemented: true,
            ..self
        }
    }
    const fn hidden(self) -> Directive {
        Directive {
            hidden: true,
            ..self
        }
    }
    const fn to(self, bind: Bind) -> Directive {
        Directive {
            bind: Some(bind),
            ..self
        }
    }
    const fn clamped(self, min: i64, max: i64) -> Directive {
        Directive {
            clamp: Some((min, max)),
            ..self
        }
    }
}

const M: Mutability = Mutability::Modifiable;
const I: Mutability = Mutability::Immutable;
const P: Mutability = Mutability::Protected;

const INT_MAX: i64 = i32::MAX as i64;
const INT_MIN: i64 = i32::MIN as i64;
const UINT_MAX: i64 = u32::MAX as i64;
const LONG_MAX: i64 = i64::MAX;
/// `ULLONG_MAX` as Redis stores it in a `long long` bound.
const ULLONG_MAX_AS_I64: i64 = -1;
const MB: i64 = 1024 * 1024;

const BOOL: Kind = Kind::Bool { refuse_yes: None };
const TEXT: Kind = Kind::Text {
    check: TextCheck::Any,
};
const fn int(min: i64, max: i64) -> Kind {
    Kind::Integer {
        min,
        max,
        unsigned: false,
    }
}
const fn uint(min: i64, max: i64) -> Kind {
    Kind::Integer {
        min,
        max,
        unsigned: true,
    }
}
const fn mem(min: i64, max: i64) -> Kind {
    Kind::Memory {
        min,
        max,
        unsigned: false,
        percent: false,
    }
}
const fn umem(min: i64, max: i64) -> Kind {
    Kind::Memory {
        min,
        max,
        unsigned: true,
        percent: false,
    }
}
const fn one_of(values: &'static [(&'static str, u32)]) -> Kind {
    Kind::Enum {
        values,
        flags: false,
    }
}
const fn text(check: TextCheck) -> Kind {
    Kind::Text { check }
}

const SHUTDOWN_FLAGS: &[(&str, u32)] = &[
    ("default", 0),
    ("save", SHUTDOWN_SAVE),
    ("nosave", SHUTDOWN_NOSAVE),
    ("now", SHUTDOWN_NOW),
    ("force", SHUTDOWN_FORCE),
];
pub const SHUTDOWN_SAVE: u32 = 1;
pub const SHUTDOWN_NOSAVE: u32 = 2;
pub const SHUTDOWN_NOW: u32 = 4;
pub const SHUTDOWN_FORCE: u32 = 8;
const SHUTDOWN_ON_SIG: Kind = Kind::Enum {
    values: SHUTDOWN_FLAGS,
    flags: true,
};
/// The Debian build of Redis 7.0.15 (keel's reference) has no active defrag.
const NO_ACTIVE_DEFRAG: &str = "Active defragmentation cannot be enabled: it requires a Redis server compiled with a modified Jemalloc like the one shipped by default with the Redis source distribution";

/// Every directive Redis 7.0.15 exposes through CONFIG GET/SET (hidden ones included),
/// sorted by name. File-only directives are in [`FILE_ONLY_DIRECTIVES`].
#[rustfmt::skip]
pub static DIRECTIVES: &[Directive] = &[
    entry("acl-pubsub-default", None, one_of(&[("allchannels", 1), ("resetchannels", 0)]), "resetchannels", M),
    entry("aclfile", None, TEXT, "", I),
    entry("acllog-max-len", None, int(0, LONG_MAX), "128", M),
    entry("active-defrag-cycle-max", None, int(1, 99), "25", M),
    entry("active-defrag-cycle-min", None, int(1, 99), "1", M),
    entry("active-defrag-ignore-bytes", None, umem(1, LONG_MAX), "104857600", M),
    entry("active-defrag-max-scan-fields", None, int(1, LONG_MAX), "1000", M),
    entry("active-defrag-threshold-lower", None, int(0, 1000), "10", M),
    entry("active-defrag-threshold-upper", None, int(0, 1000), "100", M),
    entry("active-expire-effort", None, int(1, 10), "1", M).keel().to(|s, v| s.active_expire_effort = v.int()),
    entry("activedefrag", None, Kind::Bool { refuse_yes: Some(NO_ACTIVE_DEFRAG) }, "no", M),
    entry("activerehashing", None, BOOL, "yes", M),
    entry("always-show-logo", None, BOOL, "no", I).keel().to(|s, v| s.always_show_logo = v.flag()),
    entry("aof-disable-auto-gc", None, BOOL, "no", M).keel().to(|s, v| s.aof_disable_auto_gc = v.flag()),
    entry("aof-load-truncated", None, BOOL, "yes", M).keel().to(|s, v| s.aof_load_truncated = v.flag()),
    entry("aof-rewrite-incremental-fsync", None, BOOL, "yes", M),
    entry("aof-timestamp-enabled", None, BOOL, "no", M).keel().to(|s, v| s.aof_timestamp_enabled = v.flag()),
    entry("aof-use-rdb-preamble", None, BOOL, "yes", M).keel().to(|s, v| s.aof_use_rdb_preamble = v.flag()),
    entry("aof_rewrite_cpulist", None, TEXT, "", I),
    entry("appenddirname", None, text(TextCheck::AofDirName), "appendonlydir", I).keel().to(|s, v| s.appenddirname = v.text()),
    entry("appendfilename", None, text(TextCheck::AofFileName), "appendonly.aof", I).keel().to(|s, v| s.appendfilename = v.text()),
    entry("appendfsync", None, one_of(APPENDFSYNC_CHOICES), "everysec", M).keel().to(|s, v| s.appendfsync = v.choice()),
    entry("appendonly", None, BOOL, "no", M).keel().to(|s, v| s.appendonly = v.flag()),
    entry("auto-aof-rewrite-min-size", None, mem(0, LONG_MAX), "67108864", M).keel().to(|s, v| s.auto_aof_rewrite_min_size_bytes = v.int()),
    entry("auto-aof-rewrite-percentage", None, int(0, INT_MAX), "100", M).keel().to(|s, v| s.auto_aof_rewrite_percentage = v.int()),
    entry("bgsave_cpulist", None, TEXT, "", I),
    entry("bind", None, Kind::Special(Special::Bind), "* -::*", M).keel().to(|s, v| s.bind = v.addresses()),
    entry("bind-source-addr", None, TEXT, "", M),
    entry("bio_cpulist", None, TEXT, "", I),
    entry("busy-reply-threshold", Some("lua-time-limit"), int(0, LONG_MAX), "5000", M),
    entry(
        "client-output-buffer-limit",
        None,
        Kind::Special(Special::ClientOutputBufferLimit),
        "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60",
        M,
    )
    .keel()
    .to(|s, v| s.client_output_buffer_limits = v.output_limits()),
    entry("client-query-buffer-limit", None, umem(MB, LONG_MAX), "1073741824", M).keel().to(|s, v| s.client_query_buffer_limit_bytes = v.int()),
    entry("cluster-allow-pubsubshard-when-down", None, BOOL, "yes", M),
    entry("cluster-allow-reads-when-down", None, BOOL, "no", M),
    entry("cluster-allow-replica-migration", None, BOOL, "yes", M),
    entry("cluster-announce-bus-port", None, int(0, 65535), "0", M),
    entry("cluster-announce-hostname", None, text(TextCheck::Hostname), "", M),
    entry("cluster-announce-ip", None, TEXT, "", M),
    entry("cluster-announce-port", None, int(0, 65535), "0", M),
    entry("cluster-announce-tls-port", None, int(0, 65535), "0", M),
    entry("cluster-config-file", None, TEXT, "nodes.conf", I),
    entry("cluster-enabled", None, BOOL, "no", I).to(|s, v| s.cluster_enabled = v.flag()),
    entry("cluster-link-sendbuf-limit", None, umem(0, ULLONG_MAX_AS_I64), "0", M),
    entry("cluster-migration-barrier", None, int(0, INT_MAX), "1", M),
    entry("cluster-node-timeout", None, int(0, LONG_MAX), "15000", M),
    entry("cluster-port", None, int(0, 65535), "0", I),
    entry(
        "cluster-preferred-endpoint-type",
        None,
        one_of(&[("ip", 0), ("hostname", 1), ("unknown-endpoint", 2)]),
        "ip",
        M,
    ),
    entry("cluster-replica-no-failover", Some("cluster-slave-no-failover"), BOOL, "no", M),
    entry("cluster-replica-validity-factor", Some("cluster-slave-validity-factor"), int(0, INT_MAX), "10", M),
    entry("cluster-require-full-coverage", None, BOOL, "yes", M),
    entry("crash-log-enabled", None, BOOL, "yes", M),
    entry("crash-memcheck-enabled", None, BOOL, "yes", M),
    entry("daemonize", None, BOOL, "no", I).keel().to(|s, v| s.daemonize = v.flag()),
    entry("databases", None, int(1, INT_MAX), "16", I).keel().to(|s, v| s.databases = v.int()),
    entry("dbfilename", None, text(TextCheck::DbFileName), "dump.rdb", P).keel().to(|s, v| s.dbfilename = v.text()),
    entry("dir", None, Kind::Special(Special::Dir), ".", P).keel().to(|s, v| s.dir = v.text()),
    entry("disable-thp", None, BOOL, "yes", I),
    entry("dynamic-hz", None, BOOL, "yes", M),
    entry("enable-debug-command", None, one_of(NO_YES_LOCAL), "no", I).keel().to(|s, v| s.enable_debug_command = v.choice()),
    entry("enable-module-command", None, one_of(NO_YES_LOCAL), "no", I),
    entry("enable-protected-configs", None, one_of(NO_YES_LOCAL), "no", I).keel().to(|s, v| s.enable_protected_configs = v.choice()),
    entry("hash-max-listpack-entries", Some("hash-max-ziplist-entries"), uint(0, LONG_MAX), "512", M).keel().to(|s, v| s.hash_max_listpack_entries = v.int()),
    entry("hash-max-listpack-value", Some("hash-max-ziplist-value"), umem(0, LONG_MAX), "64", M).keel().to(|s, v| s.hash_max_listpack_value_bytes = v.int()),
    entry("hll-sparse-max-bytes", None, umem(0, LONG_MAX), "3000", M),
    entry("hz", None, int(0, INT_MAX), "10", M).keel().clamped(HZ_MIN, HZ_MAX).to(|s, v| s.hz = v.int()),
    entry("ignore-warnings", None, TEXT, "", M),
    entry("io-threads", None, int(1, 128), "1", I),
    entry("io-threads-do-reads", None, BOOL, "no", I),
    entry("jemalloc-bg-thread", None, BOOL, "yes", M),
    entry("key-load-delay", None, int(INT_MIN, INT_MAX), "0", M).hidden(),
    entry("latency-monitor-threshold", None, int(0, LONG_MAX), "0", M).keel().to(|s, v| s.latency_monitor_threshold_ms = v.int()),
    entry("latency-tracking", None, BOOL, "yes", M).keel().to(|s, v| s.latency_tracking = v.flag()),
    entry(
        "latency-tracking-info-percentiles",
        None,
        Kind::Special(Special::LatencyTrackingInfoPercentiles),
        "50 99 99.9",
        M,
    )
    .keel()
    .to(|s, v| s.latency_tracking_info_percentiles = v.percentiles()),
    entry("lazyfree-lazy-eviction", None, BOOL, "no", M).keel().to(|s, v| s.lazyfree_lazy_eviction = v.flag()),
    entry("lazyfree-lazy-expire", None, BOOL, "no", M).keel().to(|s, v| s.lazyfree_lazy_expire = v.flag()),
    entry("lazyfree-lazy-server-del", None, BOOL, "no", M).keel().to(|s, v| s.lazyfree_lazy_server_del = v.flag()),
    entry("lazyfree-lazy-user-del", None, BOOL, "no", M).keel().to(|s, v| s.lazyfree_lazy_user_del = v.flag()),
    entry("lazyfree-lazy-user-flush", None, BOOL, "no", M).keel().to(|s, v| s.lazyfree_lazy_user_flush = v.flag()),
    entry("lfu-decay-time", None, int(0, INT_MAX), "1", M).keel().to(|s, v| s.lfu_decay_time_mins = v.int()),
    entry("lfu-log-factor", None, int(0, INT_MAX), "10", M).keel().to(|s, v| s.lfu_log_factor = v.int()),
    entry("list-compress-depth", None, int(0, INT_MAX), "0", M),
    entry("list-max-listpack-size", Some("list-max-ziplist-size"), int(INT_MIN, INT_MAX), "-2", M).keel().to(|s, v| s.list_max_listpack_size = v.int()),
    entry("loading-process-events-interval-bytes", None, int(1024, INT_MAX), "2097152", M).hidden(),
    entry("logfile", None, TEXT, "", I).keel().to(|s, v| s.logfile = v.text()),
    entry("loglevel", None, one_of(LOGLEVELS), "notice", M).keel().to(|s, v| s.loglevel = v.choice()),
    entry("masterauth", None, TEXT, "", M).keel().to(|s, v| s.masterauth = Some(v.text()).filter(|p| !p.is_empty())),
    entry("masteruser", None, TEXT, "", M).keel().to(|s, v| s.masteruser = Some(v.text()).filter(|u| !u.is_empty())),
    entry("maxclients", None, uint(1, UINT_MAX), "10000", M).keel().to(|s, v| s.maxclients = v.int()),
    entry("maxmemory", None, umem(0, ULLONG_MAX_AS_I64), "0", M).keel().to(|s, v| s.maxmemory_bytes = v.unsigned()),
    entry(
        "maxmemory-clients",
        None,
        Kind::Memory {
            min: -100,
            max: LONG_MAX,
            unsigned: false,
            percent: true,
        },
        "0",
        M,
    )
    .keel()
    .to(|s, v| s.maxmemory_clients = v.int()),
    entry("maxmemory-eviction-tenacity", None, int(0, 100), "10", M).keel().to(|s, v| s.maxmemory_eviction_tenacity = v.int()),
    entry("maxmemory-policy", None, one_of(MAXMEMORY_POLICIES), "noeviction", M).keel().to(|s, v| s.maxmemory_policy = v.choice()),
    entry("maxmemory-samples", None, int(1, INT_MAX), "5", M).keel().to(|s, v| s.maxmemory_samples = v.int()),
    entry("min-replicas-max-lag", Some("min-slaves-max-lag"), int(0, INT_MAX), "10", M).keel().to(|s, v| s.min_replicas_max_lag_secs = v.int()),
    entry("min-replicas-to-write", Some("min-slaves-to-write"), int(0, INT_MAX), "0", M).keel().to(|s, v| s.min_replicas_to_write = v.int()),
    entry("no-appendfsync-on-rewrite", None, BOOL, "no", M),
    entry("notify-keyspace-events", None, Kind::Special(Special::NotifyKeyspaceEvents), "", M).keel().to(|s, v| s.notify_keyspace_events_flags = v.notify_flags()),
    entry(
        "oom-score-adj",
        None,
        one_of(&[("no", 0), ("yes", 1), ("relative", 1), ("absolute", 2)]),
        "no",
        M,
    ),
    entry("oom-score-adj-values", None, Kind::Special(Special::OomScoreAdjValues), "0 200 800", M),
    entry("pidfile", None, TEXT, "", I).to(|s, v| s.pidfile = v.text()),
    entry("port", None, int(0, 65535), "6379", M).keel().to(|s, v| s.port = v.int()),
    entry(
        "proc-title-template",
        None,
        text(TextCheck::ProcTitleTemplate),
        "{title} {listen-addr} {server-mode}",
        M,
    ),
    entry(
        "propagation-error-behavior",
        None,
        one_of(&[("ignore", 0), ("panic", 1), ("panic-on-replicas", 2)]),
        "ignore",
        M,
    ),
    entry("protected-mode", None, BOOL, "yes", M).keel().to(|s, v| s.protected_mode = v.flag()),
    entry("proto-max-bulk-len", None, mem(MB, LONG_MAX), "536870912", M).keel().to(|s, v| s.proto_max_bulk_len_bytes = v.int()),
    entry("rdb-del-sync-files", None, BOOL, "no", M),
    entry("rdb-key-save-delay", None, int(INT_MIN, INT_MAX), "0", M).hidden(),
    entry("rdb-save-incremental-fsync", None, BOOL, "yes", M),
    entry("rdbchecksum", None, BOOL, "yes", I).keel().to(|s, v| s.rdbchecksum = v.flag()),
    entry("rdbcompression", None, BOOL, "yes", M).keel().to(|s, v| s.rdbcompression = v.flag()),
    entry("repl-backlog-size", None, mem(1, LONG_MAX), "1048576", M).keel().to(|s, v| s.repl_backlog_size_bytes = v.int()),
    entry("repl-backlog-ttl", None, int(0, LONG_MAX), "3600", M).keel().to(|s, v| s.repl_backlog_ttl_secs = v.int()),
    entry("repl-disable-tcp-nodelay", None, BOOL, "no", M),
    entry(
        "repl-diskless-load",
        None,
        one_of(&[("disabled", 0), ("on-empty-db", 1), ("swapdb", 2)]),
        "disabled",
        M,
    ),
    entry("repl-diskless-sync", None, BOOL, "yes", M).keel().to(|s, v| s.repl_diskless_sync = v.flag()),
    entry("repl-diskless-sync-delay", None, int(0, INT_MAX), "5", M).keel().to(|s, v| s.repl_diskless_sync_delay_secs = v.int()),
    entry("repl-diskless-sync-max-replicas", None, int(0, INT_MAX), "0", M).keel().to(|s, v| s.repl_diskless_sync_max_replicas = v.int()),
    entry("repl-ping-replica-period", Some("repl-ping-slave-period"), int(1, INT_MAX), "10", M).keel().to(|s, v| s.repl_ping_replica_period_secs = v.int()),
    entry("repl-timeout", None, int(1, INT_MAX), "60", M).keel().to(|s, v| s.repl_timeout_secs = v.int()),
    entry("replica-announce-ip", Some("slave-announce-ip"), TEXT, "", M).keel().to(|s, v| s.replica_announce_ip = Some(v.text()).filter(|ip| !ip.is_empty())),
    entry("replica-announce-port", Some("slave-announce-port"), int(0, 65535), "0", M).keel().to(|s, v| s.replica_announce_port = v.int()),
    entry("replica-announced", None, BOOL, "yes", M).keel().to(|s, v| s.replica_announced = v.flag()),
    entry("replica-ignore-disk-write-errors", None, BOOL, "no", M),
    entry("replica-ignore-maxmemory", Some("slave-ignore-maxmemory"), BOOL, "yes", M),
    entry("replica-lazy-flush", Some("slave-lazy-flush"), BOOL, "no", M),
    entry("replica-priority", Some("slave-priority"), int(0, INT_MAX), "100", M).keel().to(|s, v| s.replica_priority = v.int()),
    entry("replica-read-only", Some("slave-read-only"), BOOL, "yes", M).keel().to(|s, v| s.replica_read_only = v.flag()),
    entry("replica-serve-stale-data", Some("slave-serve-stale-data"), BOOL, "yes", M).keel().to(|s, v| s.replica_serve_stale_data = v.flag()),
    entry("replicaof", Some("slaveof"), Kind::Special(Special::ReplicaOf), "", I).keel().to(|s, v| s.replicaof = v.primary()),
    entry("requirepass", None, TEXT, "", M).keel().to(|s, v| s.requirepass = Some(v.text()).filter(|p| !p.is_empty())),
    entry(
        "sanitize-dump-payload",
        None,
        one_of(&[("no", 0), ("yes", 1), ("clients", 2)]),
        "no",
        M,
    ),
    // keel has no persistence yet, but CONFIG GET shows Redis's default like Redis does.
    entry("save", None, Kind::Special(Special::Save), "3600 1 300 100 60 10000", M).keel().to(|s, v| s.save_points = v.save_points()),
    entry("server_cpulist", None, TEXT, "", I),
    entry("set-max-intset-entries", None, uint(0, LONG_MAX), "512", M).keel().to(|s, v| s.set_max_intset_entries = v.int()),
    entry("set-proc-title", None, BOOL, "yes", I),
    entry("shutdown-on-sigint", None, SHUTDOWN_ON_SIG, "default", M).keel().to(|s, v| s.shutdown_on_sigint = v.id()),
    entry("shutdown-on-sigterm", None, SHUTDOWN_ON_SIG, "default", M).keel().to(|s, v| s.shutdown_on_sigterm = v.id()),
    entry("shutdown-timeout", None, int(0, INT_MAX), "10", M).keel().to(|s, v| s.shutdown_timeout_s = v.int()),
    entry("slowlog-log-slower-than", None, int(-1, LONG_MAX), "10000", M).keel().to(|s, v| s.slowlog_log_slower_than_us = u64::try_from(v.int::<i64>()).ok()),
    entry("slowlog-max-len", None, int(0, LONG_MAX), "128", M).keel().to(|s, v| s.slowlog_max_len = v.int()),
    entry("socket-mark-id", None, uint(0, UINT_MAX), "0", I),
    entry("stop-writes-on-bgsave-error", None, BOOL, "yes", M).keel().to(|s, v| s.stop_writes_on_bgsave_error = v.flag()),
    entry("stream-node-max-bytes", None, umem(0, LONG_MAX), "4096", M),
    entry("stream-node-max-entries", None, int(0, LONG_MAX), "100", M),
    entry(
        "supervised",
        None,
        one_of(&[("upstart", 1), ("systemd", 2), ("auto", 3), ("no", 0)]),
        "no",
        I,
    ),
    entry("syslog-enabled", None, BOOL, "no", I).keel().to(|s, v| s.syslog_enabled = v.flag()),
    entry(
        "syslog-facility",
        None,
        one_of(&[
            ("user", 8),
            ("local0", 128),
            ("local1", 136),
            ("local2", 144),
            ("local3", 152),
            ("local4", 160),
            ("local5", 168),
            ("local6", 176),
            ("local7", 184),
        ]),
        "local0",
        I,
    )
    .keel()
    .to(|s, v| s.syslog_facility = v.id()),
    entry("syslog-ident", None, TEXT, "redis", I).keel().to(|s, v| s.syslog_ident = v.text()),
    entry("tcp-backlog", None, int(0, INT_MAX), "511", I).keel().to(|s, v| s.tcp_backlog = v.int()),
    entry("tcp-keepalive", None, int(0, INT_MAX), "300", M).keel().to(|s, v| s.tcp_keepalive_secs = v.int()),
    entry("timeout", None, int(0, INT_MAX), "0", M).keel().to(|s, v| s.timeout_secs = v.int()),
    entry(
        "tls-auth-clients",
        None,
        one_of(&[("no", 0), ("yes", 1), ("optional", 2)]),
        "yes",
        M,
    ),
    entry("tls-ca-cert-dir", None, TEXT, "", M),
    entry("tls-ca-cert-file", None, TEXT, "", M),
    entry("tls-cert-file", None, TEXT, "", M),
    entry("tls-ciphers", None, TEXT, "", M),
    entry("tls-ciphersuites", None, TEXT, "", M),
    entry("tls-client-cert-file", None, TEXT, "", M),
    entry("tls-client-key-file", None, TEXT, "", M),
    entry("tls-client-key-file-pass", None, TEXT, "", M),
    entry("tls-cluster", None, BOOL, "no", M),
    entry("tls-dh-params-file", None, TEXT, "", M),
    entry("tls-key-file", None, TEXT, "", M),
    entry("tls-key-file-pass", None, TEXT, "", M),
    entry("tls-port", None, int(0, 65535), "0", M),
    entry("tls-prefer-server-ciphers", None, BOOL, "no", M),
    entry("tls-protocols", None, TEXT, "", M),
    entry("tls-replication", None, BOOL, "no", M),
    entry("tls-session-cache-size", None, int(0, INT_MAX), "20480", M),
    entry("tls-session-cache-timeout", None, int(0, INT_MAX), "300", M),
    entry("tls-session-caching", None, BOOL, "yes", M),
    entry("tracking-table-max-keys", None, uint(0, LONG_MAX), "1000000", M),
    entry("unixsocket", None, TEXT, "", I).to(|s, v| s.unixsocket = v.text()),
    entry("unixsocketperm", None, Kind::Octal { min: 0, max: 0o777 }, "0", I),
    entry("use-exit-on-panic", None, BOOL, "no", M).hidden(),
    entry("watchdog-period", None, int(0, INT_MAX), "0", M).hidden(),
    entry("zset-max-listpack-entries", Some("zset-max-ziplist-entries"), uint(0, LONG_MAX), "128", M).keel().to(|s, v| s.zset_max_listpack_entries = v.int()),
    entry("zset-max-listpack-value", Some("zset-max-ziplist-value"), umem(0, LONG_MAX), "64", M).keel().to(|s, v| s.zset_max_listpack_value_bytes = v.int()),
];

/// A directive accepted in config files only (not by CONFIG GET/SET).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileOnlyDirective {
    /// Name as written in redis.conf.
    pub name: &'static str,
    /// Fewest words on the line, the directive included.
    pub min_words: usize,
    /// Most words on the line (`usize::MAX`: no limit).
    pub max_words: usize,
    /// keel acts on it.
    pub implemented: bool,
    /// What Redis does with it.
    pub note: &'static str,
}

/// Config-file-only directives of Redis 7.0.15 (plus any `module.name value`, a module config).
pub static FILE_ONLY_DIRECTIVES: &[FileOnlyDirective] = &[
    FileOnlyDirective {
        name: "include",
        min_words: 2,
        max_words: 2,
        implemented: true,
        note: "reads another config file (globs allowed) in place; keel asks the server's reader",
    },
    FileOnlyDirective {
        name: "rename-command",
        min_words: 3,
        max_words: 3,
        implemented: false,
        note: "renames (or with \"\" removes) a command",
    },
    FileOnlyDirective {
        name: "user",
        min_words: 2,
        max_words: usize::MAX,
        implemented: false,
        note: "declares an ACL user",
    },
    FileOnlyDirective {
        name: "loadmodule",
        min_words: 2,
        max_words: usize::MAX,
        implemented: false,
        note: "loads a module at startup",
    },
    FileOnlyDirective {
        name: "sentinel",
        min_words: 1,
        max_words: usize::MAX,
        implemented: false,
        note: "Sentinel configuration; an error unless running as Sentinel",
    },
    FileOnlyDirective {
        name: "list-max-ziplist-entries",
        min_words: 2,
        max_words: 2,
        implemented: true,
        note: "deprecated, silently ignored by Redis",
    },
    FileOnlyDirective {
        name: "list-max-ziplist-value",
        min_words: 2,
        max_words: 2,
        implemented: true,
        note: "deprecated, silently ignored by Redis",
    },
    FileOnlyDirective {
        name: "lua-replicate-commands",
        min_words: 2,
        max_words: 2,
        implemented: true,
        note: "deprecated, silently ignored by Redis",
    },
];

const DEPRECATED_DIRECTIVES: &[&str] = &[
    "list-max-ziplist-entries",
    "list-max-ziplist-value",
    "lua-replicate-commands",
];

/// Finds a directive by name or alias, ignoring ASCII case. Returns its index in
/// [`DIRECTIVES`] and the table spelling of the name that matched (the alias when it did).
fn find(name: &[u8]) -> Option<(usize, &'static str)> {
    if name.len() > 64 {
        return None;
    }
    // A stack copy: CONFIG GET/SET look names up on every call and need not allocate.
    let mut buf = [0u8; 64];
    for (d, s) in buf.iter_mut().zip(name) {
        *d = s.to_ascii_lowercase();
    }
    let lower = buf.get(..name.len())?;
    if let Ok(i) = DIRECTIVES.binary_search_by(|d| d.name.as_bytes().cmp(lower)) {
        return DIRECTIVES.get(i).map(|d| (i, d.name));
    }
    DIRECTIVES
        .iter()
        .enumerate()
        .find_map(|(i, d)| match d.alias {
            Some(a) if a.as_bytes() == lower => Some((i, a)),
            _ => None,
        })
}

/// The directive called `name` (or with that alias), ignoring ASCII case.
pub fn lookup(name: &str) -> Option<&'static Directive> {
    find(name.as_bytes()).and_then(|(i, _)| DIRECTIVES.get(i))
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/// One `save <secs> <changes>` point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SavePoint {
    /// Seconds since the last save.
    pub after_secs: i64,
    /// Changes since the last save.
    pub min_changes: i32,
}

/// Output buffer limits of one client class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct ClientOutputBufferLimit {
    /// Disconnect as soon as the buffer exceeds this (0: no limit).
    pub hard_limit_bytes: u64,
    /// Disconnect when over this for `soft_limit_secs` (0: no limit).
    pub soft_limit_bytes: u64,
    /// How long the soft limit may be exceeded.
    pub soft_limit_secs: i64,
}

/// Client classes of `client-output-buffer-limit`, in Redis's order.
pub const CLIENT_CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Bool(bool),
    Num(i64),
    Enum(u32),
    Text(Vec<u8>),
    Save(Vec<SavePoint>),
    Bind(Vec<Vec<u8>>),
    Obuf([ClientOutputBufferLimit; 3]),
    Oom([i32; 3]),
    Notify(u32),
    ReplicaOf(Option<(Vec<u8>, i64)>),
    Percentiles(Vec<f64>),
}

fn zero_value(kind: &Kind) -> Value {
    match kind {
        Kind::Bool { .. } => Value::Bool(false),
        Kind::Integer { .. } | Kind::Memory { .. } | Kind::Octal { .. } => Value::Num(0),
        Kind::Enum { .. } => Value::Enum(0),
        Kind::Text { .. } => Value::Text(Vec::new()),
        Kind::Special(s) => match s {
            Special::Save => Value::Save(Vec::new()),
            Special::Bind => Value::Bind(Vec::new()),
            Special::ClientOutputBufferLimit => Value::Obuf(Default::default()),
            Special::OomScoreAdjValues => Value::Oom([0; 3]),
            Special::NotifyKeyspaceEvents => Value::Notify(0),
            Special::ReplicaOf => Value::ReplicaOf(None),
            Special::LatencyTrackingInfoPercentiles => Value::Percentiles(Vec::new()),
            Special::Dir => Value::Text(Vec::new()),
        },
    }
}

// ---------------------------------------------------------------------------------------------
// Typed settings
// ---------------------------------------------------------------------------------------------

/// Defines a directive's choices once: the enum the rest of keel matches on and the
/// `(name, id)` table the parser and CONFIG GET use, so the two cannot drift apart.
macro_rules! choices {
    ($(#[$meta:meta])* $enum_name:ident, $table:ident {
        $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
    }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
        pub enum $enum_name {
            $($(#[$vmeta])* $variant,)+
        }
        const $table: &[(&str, u32)] = &[$(($text, $enum_name::$variant as u32),)+];
        impl $enum_name {
            /// The name as written in redis.conf and rendered by CONFIG GET.
            pub fn name(self) -> &'static str {
                match self {
                    $($enum_name::$variant => $text,)+
                }
            }
        }
        impl Choice for $enum_name {
            fn from_id(id: u32) -> Option<Self> {
                [$($enum_name::$variant,)+].into_iter().find(|v| *v as u32 == id)
            }
        }
    };
}

/// An enum directive's typed value, found by the id the table stores.
trait Choice: Sized + Default {
    fn from_id(id: u32) -> Option<Self>;
}

choices!(
    /// `loglevel`.
    LogLevel, LOGLEVELS {
        /// `debug`
        Debug = "debug",
        /// `verbose`
        Verbose = "verbose",
        /// `notice`
        #[default]
        Notice = "notice",
        /// `warning`
        Warning = "warning",
    }
);

choices!(
    /// `maxmemory-policy`.
    MaxmemoryPolicy, MAXMEMORY_POLICIES {
        /// `volatile-lru`
        VolatileLru = "volatile-lru",
        /// `volatile-lfu`
        VolatileLfu = "volatile-lfu",
        /// `volatile-random`
        VolatileRandom = "volatile-random",
        /// `volatile-ttl`
        VolatileTtl = "volatile-ttl",
        /// `allkeys-lru`
        AllkeysLru = "allkeys-lru",
        /// `allkeys-lfu`
        AllkeysLfu = "allkeys-lfu",
        /// `allkeys-random`
        AllkeysRandom = "allkeys-random",
        /// `noeviction`
        #[default]
        NoEviction = "noeviction",
    }
);

impl MaxmemoryPolicy {
    /// Keys carry an LFU counter (Redis's `MAXMEMORY_FLAG_LFU`).
    pub fn is_lfu(self) -> bool {
        matches!(
            self,
            MaxmemoryPolicy::VolatileLfu | MaxmemoryPolicy::AllkeysLfu
        )
    }
    /// Keys carry an LRU clock (Redis's `MAXMEMORY_FLAG_LRU`).
    pub fn is_lru(self) -> bool {
        matches!(
            self,
            MaxmemoryPolicy::VolatileLru | MaxmemoryPolicy::AllkeysLru
        )
    }
    /// Any key may be evicted (Redis's `MAXMEMORY_FLAG_ALLKEYS`); otherwise only keys
    /// with a TTL.
    pub fn is_allkeys(self) -> bool {
        matches!(
            self,
            MaxmemoryPolicy::AllkeysLru
                | MaxmemoryPolicy::AllkeysLfu
                | MaxmemoryPolicy::AllkeysRandom
        )
    }
}

choices!(
    /// `appendfsync`.
    AppendFsync, APPENDFSYNC_CHOICES {
        /// `everysec`
        #[default]
        Everysec = "everysec",
        /// `always`
        Always = "always",
        /// `no`
        No = "no",
    }
);

choices!(
    /// `enable-debug-command`, `enable-protected-configs` (Redis's `PROTECTED_ACTION_ALLOWED_*`).
    Allowed, NO_YES_LOCAL {
        /// `no`
        #[default]
        No = "no",
        /// `yes`
        Yes = "yes",
        /// `local`: from loopback and unix-socket clients only.
        Local = "local",
    }
);

impl Allowed {
    /// Whether a client (local: loopback or unix socket) may do the action.
    pub fn allows(self, client_is_local: bool) -> bool {
        match self {
            Allowed::No => false,
            Allowed::Yes => true,
            Allowed::Local => client_is_local,
        }
    }
}

/// Where a directive's value lands in [`Settings`]. Each is a closure in
/// [`DIRECTIVES`] naming a field, so a misspelt field does not compile.
type Bind = fn(&mut Settings, &Value);

/// The directives keel acts on (and those persistence, replication and eviction will
/// act on next), typed, with units in their names. [`Config`] keeps it in step with
/// the directive table on every successful change; everything outside the config
/// machinery reads these fields instead of looking values up by name.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Settings {
    /// `port` (0: no TCP listener).
    pub port: u16,
    /// `bind` addresses as given (empty: listen nowhere on TCP).
    pub bind: Vec<Vec<u8>>,
    /// `unixsocket` path ("": none).
    pub unixsocket: Vec<u8>,
    /// `protected-mode`.
    pub protected_mode: bool,
    /// `tcp-backlog`.
    pub tcp_backlog: u32,
    /// `tcp-keepalive` (0: off).
    pub tcp_keepalive_secs: u64,
    /// `timeout`: idle seconds before a client is closed (0: never).
    pub timeout_secs: u64,
    /// `maxclients`.
    pub maxclients: usize,
    /// `databases`.
    pub databases: usize,
    /// `hz`, already clamped to `HZ_MIN..=HZ_MAX`.
    pub hz: u32,
    /// `active-expire-effort` (1..=10).
    pub active_expire_effort: u32,
    /// `requirepass` (None when empty: no password).
    pub requirepass: Option<Vec<u8>>,
    /// `enable-debug-command`.
    pub enable_debug_command: Allowed,
    /// `enable-protected-configs`.
    pub enable_protected_configs: Allowed,
    /// `proto-max-bulk-len`.
    pub proto_max_bulk_len_bytes: u64,
    /// `client-query-buffer-limit`.
    pub client_query_buffer_limit_bytes: u64,
    /// `client-output-buffer-limit` for the classes of [`CLIENT_CLASSES`]
    /// (normal, replica, pubsub).
    pub client_output_buffer_limits: [ClientOutputBufferLimit; 3],
    /// `notify-keyspace-events` as `NOTIFY_*` bits.
    pub notify_keyspace_events_flags: u32,
    /// `maxmemory` (0: no limit).
    pub maxmemory_bytes: u64,
    /// `maxmemory-policy`.
    pub maxmemory_policy: MaxmemoryPolicy,
    /// `maxmemory-samples`.
    pub maxmemory_samples: u32,
    /// `maxmemory-eviction-tenacity` (0..=100).
    pub maxmemory_eviction_tenacity: u32,
    /// `maxmemory-clients`: bytes when positive, a percent of `maxmemory` when
    /// negative (`N%` is stored as `-N`), 0 for no limit.
    pub maxmemory_clients: i64,
    /// `lfu-log-factor`.
    pub lfu_log_factor: u32,
    /// `lfu-decay-time`: minutes per halving of a key's LFU counter.
    pub lfu_decay_time_mins: u64,
    /// `lazyfree-lazy-eviction`.
    pub lazyfree_lazy_eviction: bool,
    /// `lazyfree-lazy-expire`.
    pub lazyfree_lazy_expire: bool,
    /// `lazyfree-lazy-server-del`.
    pub lazyfree_lazy_server_del: bool,
    /// `lazyfree-lazy-user-del`.
    pub lazyfree_lazy_user_del: bool,
    /// `lazyfree-lazy-user-flush`.
    pub lazyfree_lazy_user_flush: bool,
    /// `hash-max-listpack-entries`.
    pub hash_max_listpack_entries: usize,
    /// `hash-max-listpack-value`.
    pub hash_max_listpack_value_bytes: usize,
    /// `zset-max-listpack-entries`.
    pub zset_max_listpack_entries: usize,
    /// `zset-max-listpack-value`.
    pub zset_max_listpack_value_bytes: usize,
    /// `set-max-intset-entries`.
    pub set_max_intset_entries: usize,
    /// `list-max-listpack-size`: entries per node when positive, a size class
    /// (-1 = 4 KiB … -5 = 64 KiB) when negative.
    pub list_max_listpack_size: i32,
    /// `save` points (empty: no automatic snapshots).
    pub save_points: Vec<SavePoint>,
    /// `dbfilename`.
    pub dbfilename: Vec<u8>,
    /// `rdbcompression`.
    pub rdbcompression: bool,
    /// `rdbchecksum`.
    pub rdbchecksum: bool,
    /// `stop-writes-on-bgsave-error`.
    pub stop_writes_on_bgsave_error: bool,
    /// `shutdown-on-sigterm` / `shutdown-on-sigint` as `SHUTDOWN_*` bits.
    pub shutdown_on_sigterm: u32,
    /// `shutdown-timeout`: how long (seconds) a SHUTDOWN waits for lagging replicas
    /// (0: not at all).
    pub shutdown_timeout_s: u64,
    pub shutdown_on_sigint: u32,
    /// `appendonly`.
    pub appendonly: bool,
    /// `appendfsync`.
    pub appendfsync: AppendFsync,
    /// `appendfilename`: the AOF's base name.
    pub appendfilename: Vec<u8>,
    /// `appenddirname`: the AOF directory, under `dir`.
    pub appenddirname: Vec<u8>,
    /// `aof-load-truncated`.
    pub aof_load_truncated: bool,
    /// `aof-disable-auto-gc`.
    pub aof_disable_auto_gc: bool,
    /// `aof-use-rdb-preamble`.
    pub aof_use_rdb_preamble: bool,
    /// `aof-timestamp-enabled`.
    pub aof_timestamp_enabled: bool,
    /// `auto-aof-rewrite-percentage` (0: off).
    pub auto_aof_rewrite_percentage: u64,
    /// `auto-aof-rewrite-min-size`.
    pub auto_aof_rewrite_min_size_bytes: u64,
    /// `dir` as configured, or the absolute path the server resolved it to
    /// (see [`Config::set_resolved_dir`]).
    pub dir: Vec<u8>,
    /// `replicaof` (host, port); None: a primary.
    pub replicaof: Option<(Vec<u8>, u16)>,
    /// `repl-backlog-size`.
    pub repl_backlog_size_bytes: u64,
    /// `repl-timeout`.
    pub repl_timeout_secs: u64,
    /// `repl-backlog-ttl` (0: never freed).
    pub repl_backlog_ttl_secs: u64,
    /// `repl-diskless-sync`.
    pub repl_diskless_sync: bool,
    /// `repl-diskless-sync-delay`.
    pub repl_diskless_sync_delay_secs: u64,
    /// `repl-diskless-sync-max-replicas` (0: no limit).
    pub repl_diskless_sync_max_replicas: u64,
    /// `repl-ping-replica-period`.
    pub repl_ping_replica_period_secs: u64,
    /// `replica-read-only`.
    pub replica_read_only: bool,
    /// `masterauth` (None: no AUTH in the handshake).
    pub masterauth: Option<Vec<u8>>,
    /// `masteruser` (None: AUTH with the password alone).
    pub masteruser: Option<Vec<u8>>,
    /// `replica-announce-ip` (None: REPLCONF ip-address is not sent).
    pub replica_announce_ip: Option<Vec<u8>>,
    /// `replica-announce-port` (0: `port`).
    pub replica_announce_port: u16,
    /// `replica-announced`.
    pub replica_announced: bool,
    /// `replica-priority`.
    pub replica_priority: u32,
    /// `replica-serve-stale-data`.
    pub replica_serve_stale_data: bool,
    /// `min-replicas-to-write` (0: off).
    pub min_replicas_to_write: u32,
    /// `min-replicas-max-lag`.
    pub min_replicas_max_lag_secs: u64,
    /// `cluster-enabled`.
    pub cluster_enabled: bool,
    /// `slowlog-log-slower-than` (None: the slow log is off; 0 logs every command).
    pub slowlog_log_slower_than_us: Option<u64>,
    /// `slowlog-max-len`.
    pub slowlog_max_len: usize,
    /// `latency-monitor-threshold` (0: off).
    pub latency_monitor_threshold_ms: u64,
    /// `latency-tracking`: per-command latency histograms (INFO latencystats).
    pub latency_tracking: bool,
    /// `latency-tracking-info-percentiles`, as INFO latencystats prints them.
    pub latency_tracking_info_percentiles: Vec<f64>,
    /// `loglevel`.
    pub loglevel: LogLevel,
    /// `logfile` ("": standard output).
    pub logfile: Vec<u8>,
    /// `pidfile` ("": none).
    pub pidfile: Vec<u8>,
    /// `daemonize`.
    pub daemonize: bool,
    /// `always-show-logo`.
    pub always_show_logo: bool,
    /// `syslog-enabled`.
    pub syslog_enabled: bool,
    /// `syslog-ident`.
    pub syslog_ident: Vec<u8>,
    /// `syslog-facility` as syslog(3)'s facility code (`LOG_USER` = 8,
    /// `LOG_LOCAL0` = 128 … `LOG_LOCAL7` = 184).
    pub syslog_facility: u32,
}

impl Value {
    fn flag(&self) -> bool {
        matches!(self, Value::Bool(true))
    }
    /// An integer directive's value. The table's bounds keep it in `T`'s range (the
    /// round-trip test checks every binding); out of range would give `T::default()`.
    fn int<T: TryFrom<i64> + Default>(&self) -> T {
        match self {
            Value::Num(n) => T::try_from(*n).unwrap_or_default(),
            _ => T::default(),
        }
    }
    /// An unsigned 64-bit directive (`maxmemory`), stored in a long long as Redis does.
    fn unsigned(&self) -> u64 {
        match self {
            Value::Num(n) => *n as u64,
            _ => 0,
        }
    }
    fn choice<T: Choice>(&self) -> T {
        match self {
            Value::Enum(id) => T::from_id(*id).unwrap_or_default(),
            _ => T::default(),
        }
    }
    /// An enum directive's table id (`syslog-facility` stores syslog's own codes).
    fn id(&self) -> u32 {
        match self {
            Value::Enum(id) => *id,
            _ => 0,
        }
    }
    fn percentiles(&self) -> Vec<f64> {
        match self {
            Value::Percentiles(ps) => ps.clone(),
            _ => Vec::new(),
        }
    }
    fn text(&self) -> Vec<u8> {
        match self {
            Value::Text(t) => t.clone(),
            _ => Vec::new(),
        }
    }
    fn save_points(&self) -> Vec<SavePoint> {
        match self {
            Value::Save(points) => points.clone(),
            _ => Vec::new(),
        }
    }
    fn addresses(&self) -> Vec<Vec<u8>> {
        match self {
            Value::Bind(addrs) => addrs.clone(),
            _ => Vec::new(),
        }
    }
    fn output_limits(&self) -> [ClientOutputBufferLimit; 3] {
        match self {
            Value::Obuf(limits) => *limits,
            _ => Default::default(),
        }
    }
    fn notify_flags(&self) -> u32 {
        match self {
            Value::Notify(flags) => *flags,
            _ => 0,
        }
    }
    fn primary(&self) -> Option<(Vec<u8>, u16)> {
        match self {
            Value::ReplicaOf(Some((host, port))) => {
                Some((host.clone(), u16::try_from(*port).ok()?))
            }
            _ => None,
        }
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a config file (or command line) was rejected. Redis exits with status 1 on any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigFileError {
    /// Redis's "FATAL CONFIG FILE ERROR" report. `line` is the 1-based line number and the
    /// trimmed line text; `None` for checks made after the whole text was read.
    Fatal {
        /// Where, if the error belongs to a line.
        line: Option<(usize, String)>,
        /// What, in Redis's words.
        message: String,
    },
    /// An `include`d file could not be read (Redis logs this line, not the report).
    Include {
        /// The path as written after `include`.
        path: String,
        /// Why (e.g. "No such file or directory").
        reason: String,
    },
}

impl ConfigFileError {
    fn at(line_no: usize, line: &[u8], message: impl Into<String>) -> ConfigFileError {
        ConfigFileError::Fatal {
            line: Some((line_no, lossy(line))),
            message: message.into(),
        }
    }

    /// The 1-based line the error belongs to, if any.
    pub fn line_no(&self) -> Option<usize> {
        match self {
            ConfigFileError::Fatal {
                line: Some((n, _)), ..
            } => Some(*n),
            _ => None,
        }
    }

    /// The message without the report around it.
    pub fn message(&self) -> &str {
        match self {
            ConfigFileError::Fatal { message, .. } => message,
            ConfigFileError::Include { reason, .. } => reason,
        }
    }
}

/// Renders exactly what Redis writes to stderr, leading and trailing newline included:
/// print it with `eprint!`, not `eprintln!`. `Include` renders Redis's log line text.
impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigFileError::Fatal { line, message } => {
                write!(
                    f,
                    "\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_COMPAT_VERSION}) ***\n"
                )?;
                if let Some((n, text)) = line {
                    write!(
                        f,
                        "Reading the configuration file, at line {n}\n>>> '{text}'\n"
                    )?;
                }
                writeln!(f, "{message}")
            }
            ConfigFileError::Include { path, reason } => {
                write!(f, "Fatal error, can't open config file '{path}': {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigFileError {}

// ---------------------------------------------------------------------------------------------
// Config text syntax
// ---------------------------------------------------------------------------------------------

/// One meaningful line of config text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigLine {
    /// 1-based line number.
    pub line_no: usize,
    /// The line, trimmed of spaces, tabs, CR and LF.
    pub text: String,
    /// First word, ASCII-lowercased.
    pub directive: String,
    /// The other words, unquoted (bytes that are not UTF-8 are replaced).
    pub args: Vec<String>,
}

/// Splits a config line into words with the request parser's `sdssplitargs` (Redis
/// uses the same function for both). `None` on unbalanced quotes.
fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    let (mut scratch, mut ranges) = (Vec::new(), Vec::new());
    if !crate::resp::parser::split_args(line, &mut scratch, &mut ranges) {
        return None;
    }
    Some(
        ranges
            .iter()
            .map(|&(start, end)| scratch.get(start..end).unwrap_or_default().to_vec())
            .collect(),
    )
}

/// Trims like `sdstrim(line, " \t\r\n")`.
fn trim_line(line: &[u8]) -> &[u8] {
    let is_trim = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = line.iter().position(|b| !is_trim(b)).unwrap_or(line.len());
    let end = line
        .iter()
        .rposition(|b| !is_trim(b))
        .map_or(start, |p| p.saturating_add(1));
    line.get(start..end).unwrap_or_default()
}

/// The lines Redis looks at: (1-based number, trimmed text), comments and blanks skipped.
fn meaningful_lines(text: &str) -> impl Iterator<Item = (usize, &[u8])> {
    text.as_bytes()
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i.saturating_add(1), trim_line(l)))
        .filter(|(_, l)| !l.is_empty() && l.first() != Some(&b'#'))
}

/// Parses config text into lines the way Redis reads redis.conf (comments `#` at the start
/// of a line, blank lines skipped, words split like `sdssplitargs`). Only syntax is checked.
pub fn parse_config_text(text: &str) -> Result<Vec<ConfigLine>, ConfigFileError> {
    let mut out = Vec::new();
    for (line_no, line) in meaningful_lines(text) {
        let words = split_args(line).ok_or_else(|| {
            ConfigFileError::at(line_no, line, "Unbalanced quotes in configuration line")
        })?;
        let Some((first, rest)) = words.split_first() else {
            continue;
        };
        out.push(ConfigLine {
            line_no,
            text: lossy(line),
            directive: lossy(&first.to_ascii_lowercase()),
            args: rest.iter().map(|a| lossy(a)).collect(),
        });
    }
    Ok(out)
}

/// Redis's `rewriteConfigFormatMemory`: the biggest of gb, mb, kb that divides it.
fn memory_text(bytes: i64) -> String {
    const KB: i64 = 1024;
    if bytes != 0 && bytes % (KB * KB * KB) == 0 {
        format!("{}gb", bytes / (KB * KB * KB))
    } else if bytes != 0 && bytes % (KB * KB) == 0 {
        format!("{}mb", bytes / (KB * KB))
    } else if bytes != 0 && bytes % KB == 0 {
        format!("{}kb", bytes / KB)
    } else {
        bytes.to_string()
    }
}

/// The canonical name of a directive (an alias's target), if it is one.
pub fn canonical_name(name: &[u8]) -> Option<&'static str> {
    find(name)
        .and_then(|(idx, _)| DIRECTIVES.get(idx))
        .map(|d| d.name)
}

/// Appends `bytes` quoted like Redis's `sdscatrepr`.
fn push_repr(out: &mut String, bytes: &[u8]) {
    out.push('"');
    for &b in bytes {
        match b {
            b'\\' => out.push_str("\\\\"),
            b'"' => out.push_str("\\\""),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x07 => out.push_str("\\a"),
            0x08 => out.push_str("\\b"),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out.push('"');
}

/// Turns the `redis-server` arguments that follow the optional config file path into config
/// text exactly as Redis 7.0.15 does: `--name` starts a line `name `, other arguments are
/// appended quoted (`--port 7000 --save ""` gives `port "7000" \nsave "" `). A `--name`
/// right after a `--name` with no value is taken as that value, except after `--save` /
/// `--sentinel` (`--save` alone means `save ""`). The server then applies
/// [`join_config_text`]`(file, this)`. Err: `-` (read config from stdin) is not supported
/// (keel treats `-` as stdin when it is the first or the last of these arguments).
pub fn args_to_config_text(args: &[String]) -> Result<String, String> {
    let mut options = String::new();
    let mut handled_last_arg = true;
    for (j, arg) in args.iter().enumerate() {
        let is_last = j.saturating_add(1) == args.len();
        let next_is_option = args
            .get(j.saturating_add(1))
            .is_some_and(|a| a.starts_with("--"));
        if arg == "-" && (j == 0 || is_last) {
            return Err(
                "reading the configuration from standard input ('-') is not supported".to_string(),
            );
        } else if handled_last_arg && arg.starts_with("--") {
            if !options.is_empty() {
                options.push('\n');
            }
            options.push_str(arg.get(2..).unwrap_or_default());
            options.push(' ');
            let name_only = split_args(arg.as_bytes()).is_some_and(|w| w.len() == 1);
            if name_only {
                handled_last_arg = false;
                let is_save = arg.eq_ignore_ascii_case("--save");
                let is_sentinel = arg.eq_ignore_ascii_case("--sentinel");
                if (is_save || is_sentinel) && !is_last && next_is_option {
                    if is_save {
                        options.push_str("\"\"");
                    }
                    handled_last_arg = true;
                } else if is_save && is_last {
                    options.push_str("\"\"");
                }
            } else {
                // "--port 6380" as one argument carries its own value.
                handled_last_arg = true;
            }
        } else {
            push_repr(&mut options, arg.as_bytes());
            options.push(' ');
            handled_last_arg = true;
        }
    }
    Ok(options)
}

/// What Redis parses at startup: the config file's text (if any), a newline, then the
/// text from [`args_to_config_text`]. Line numbers in errors count in this joined text.
pub fn join_config_text(file_text: Option<&str>, args_text: &str) -> String {
    format!("{}\n{}", file_text.unwrap_or_default(), args_text)
}

// ---------------------------------------------------------------------------------------------
// Number parsing, the C way
// ---------------------------------------------------------------------------------------------

/// Redis `string2ll`: optional `-`, no leading zeros, no `+`, no spaces, no overflow.
fn string2ll(s: &[u8]) -> Option<i64> {
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some(_) => (false, s),
        None => return None,
    };
    if !matches!(digits.first(), Some(b'1'..=b'9')) {
        return None;
    }
    let mut magnitude: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(c - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// C `strtoll(s, &end, base)`: (value clamped to i64, `*end == '\0'`, overflowed).
fn c_strtoll(s: &[u8], base: u32) -> (i64, bool, bool) {
    let mut i = 0usize;
    while s.get(i).is_some_and(|&b| is_c_space(b)) {
        i = i.saturating_add(1);
    }
    let negative = match s.get(i) {
        Some(b'-') => {
            i = i.saturating_add(1);
            true
        }
        Some(b'+') => {
            i = i.saturating_add(1);
            false
        }
        _ => false,
    };
    let digits_start = i;
    let mut magnitude: u64 = 0;
    let mut overflow = false;
    while let Some(d) = s.get(i).and_then(|&b| char::from(b).to_digit(base)) {
        match magnitude
            .checked_mul(u64::from(base))
            .and_then(|m| m.checked_add(u64::from(d)))
        {
            Some(m) => magnitude = m,
            None => overflow = true,
        }
        i = i.saturating_add(1);
    }
    if i == digits_start {
        // No conversion: end points at the start of the input.
        return (0, s.is_empty(), false);
    }
    let consumed = i == s.len();
    if negative {
        match 0i64.checked_sub_unsigned(magnitude) {
            Some(v) if !overflow => (v, consumed, false),
            _ => (i64::MIN, consumed, true),
        }
    } else {
        match i64::try_from(magnitude) {
            Ok(v) if !overflow => (v, consumed, false),
            _ => (i64::MAX, consumed, true),
        }
    }
}

/// Redis `memtoull`: digits then an optional unit. Overflow saturates or wraps as in C.
pub(crate) fn memtoull(s: &[u8]) -> Option<u64> {
    if s.first() == Some(&b'-') {
        return None;
    }
    let ndigits = s.iter().take_while(|b| b.is_ascii_digit()).count();
    let (digits, unit) = s.split_at(ndigits);
    let multiplier: u64 = match unit.to_ascii_lowercase().as_slice() {
        b"" | b"b" => 1,
        b"k" => 1000,
        b"kb" => 1024,
        b"m" => 1000 * 1000,
        b"mb" => 1024 * 1024,
        b"g" => 1000 * 1000 * 1000,
        b"gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if ndigits >= 128 {
        return None;
    }
    // strtoull saturates on overflow; Redis does not check ERANGE.
    let mut value: u64 = 0;
    for &d in digits {
        value = value.saturating_mul(10).saturating_add(u64::from(d - b'0'));
    }
    Some(value.wrapping_mul(multiplier))
}

fn check_bounds(
    value: i64,
    min: i64,
    max: i64,
    unsigned: bool,
    percent: bool,
    octal: bool,
) -> Result<(), String> {
    if unsigned {
        let (v, lo, hi) = (value as u64, min as u64, max as u64);
        if v > hi || v < lo {
            return Err(if octal {
                format!("argument must be between {lo:o} and {hi:o} inclusive")
            } else {
                format!("argument must be between {lo} and {hi} inclusive")
            });
        }
    } else if percent && value < 0 {
        if value < min {
            return Err(format!(
                "percentage argument must be less or equal to {}",
                min.unsigned_abs()
            ));
        }
    } else if value > max || value < min {
        return Err(format!(
            "argument must be between {min} and {max} inclusive"
        ));
    }
    Ok(())
}

fn parse_enum(values: &[(&str, u32)], flags: bool, args: &[&[u8]]) -> Result<u32, String> {
    let error = || {
        let names: Vec<&str> = values.iter().map(|(n, _)| *n).collect();
        format!(
            "argument(s) must be one of the following: {}",
            names.join(", ")
        )
    };
    if args.is_empty() || (!flags && args.len() != 1) {
        return Err(error());
    }
    let mut acc = 0u32;
    for arg in args {
        let mut matched = false;
        for (name, value) in values {
            if arg.eq_ignore_ascii_case(name.as_bytes()) {
                acc |= value;
                matched = true;
            }
        }
        if !matched {
            return Err(error());
        }
    }
    if flags && acc & SHUTDOWN_SAVE != 0 && acc & SHUTDOWN_NOSAVE != 0 {
        return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".to_string());
    }
    Ok(acc)
}

fn enum_name(values: &[(&str, u32)], flags: bool, value: u32) -> String {
    let mut names: Vec<&str> = Vec::new();
    let mut unmatched = value;
    for (name, v) in values {
        if value == *v {
            return (*name).to_string();
        }
        if flags && *v != 0 && *v == (unmatched & v) {
            names.push(*name);
            unmatched &= !v;
        }
    }
    if names.is_empty() || unmatched != 0 {
        "unknown".to_string()
    } else {
        names.join(" ")
    }
}

fn parse_notify_flags(s: &[u8]) -> Option<u32> {
    let mut flags = 0u32;
    for &c in s {
        flags |= match c {
            b'A' => NOTIFY_ALL,
            b'g' => NOTIFY_GENERIC,
            b'$' => NOTIFY_STRING,
            b'l' => NOTIFY_LIST,
            b's' => NOTIFY_SET,
            b'h' => NOTIFY_HASH,
            b'z' => NOTIFY_ZSET,
            b'x' => NOTIFY_EXPIRED,
            b'e' => NOTIFY_EVICTED,
            b'K' => NOTIFY_KEYSPACE,
            b'E' => NOTIFY_KEYEVENT,
            b't' => NOTIFY_STREAM,
            b'm' => NOTIFY_KEY_MISS,
            b'd' => NOTIFY_MODULE,
            b'n' => NOTIFY_NEW,
            _ => return None,
        };
    }
    Some(flags)
}

fn notify_flags_string(flags: u32) -> String {
    let mut out = String::new();
    if flags & NOTIFY_ALL == NOTIFY_ALL {
        out.push('A');
    } else {
        for (bit, c) in [
            (NOTIFY_GENERIC, 'g'),
            (NOTIFY_STRING, '$'),
            (NOTIFY_LIST, 'l'),
            (NOTIFY_SET, 's'),
            (NOTIFY_HASH, 'h'),
            (NOTIFY_ZSET, 'z'),
            (NOTIFY_EXPIRED, 'x'),
            (NOTIFY_EVICTED, 'e'),
            (NOTIFY_STREAM, 't'),
            (NOTIFY_MODULE, 'd'),
            (NOTIFY_NEW, 'n'),
        ] {
            if flags & bit != 0 {
                out.push(c);
            }
        }
    }
    for (bit, c) in [
        (NOTIFY_KEYSPACE, 'K'),
        (NOTIFY_KEYEVENT, 'E'),
        (NOTIFY_KEY_MISS, 'm'),
    ] {
        if flags & bit != 0 {
            out.push(c);
        }
    }
    out
}

/// `%f` then Redis's `trimDoubleString`.
pub fn percentile_string(p: f64) -> String {
    let mut s = format!("{p:.6}");
    if s.contains('.') {
        while s.ends_with('0') {
            s.pop();
        }
        if s.ends_with('.') {
            s.pop();
        }
    }
    s
}

/// Splits a CONFIG SET value of a multi-argument directive like `sdssplitlen(v, " ")`:
/// every single space separates (so doubled spaces give empty words); "" gives no words.
/// The IP a `bind` address names, as keel's driver listens on it: `*` is every IPv4
/// address, `::*` every IPv6 one, and one leading `-` marks an address that may be
/// unavailable. None for anything else (host names, `127.1`, `fe80::1%lo`: Redis hands
/// those to getaddrinfo, keel does not resolve).
pub fn bind_address_ip(addr: &[u8]) -> Option<IpAddr> {
    let addr = addr.strip_prefix(b"-").unwrap_or(addr);
    match addr {
        b"*" => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        b"::*" => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        _ => std::str::from_utf8(addr).ok()?.parse().ok(),
    }
}

/// Whether a listen on every address of a `bind` list could succeed: each is an address
/// keel can listen on ([`bind_address_ip`]), and no two take the same socket. Two do when
/// they are equal, or one is the wildcard of the other's family: Linux answers EADDRINUSE,
/// which Redis does not forgive even for `-` addresses. Whether an address is local is
/// the OS's to say, so those pass.
fn bind_list_is_listenable(addrs: &[Vec<u8>]) -> bool {
    let mut ips: Vec<IpAddr> = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let Some(ip) = bind_address_ip(addr) else {
            return false;
        };
        // At most BIND_ADDRESSES_MAX entries: quadratic is fine.
        let collides = ips.iter().any(|other| {
            other == &ip
                || (other.is_ipv4() == ip.is_ipv4()
                    && (other.is_unspecified() || ip.is_unspecified()))
        });
        if collides {
            return false;
        }
        ips.push(ip);
    }
    true
}

fn split_spaces(value: &[u8]) -> Vec<&[u8]> {
    if value.is_empty() {
        return Vec::new();
    }
    value.split(|&b| b == b' ').collect()
}

fn is_base_name(s: &[u8]) -> bool {
    !s.iter().any(|&b| b == b'/' || b == b'\\')
}

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

/// Current values of every directive in [`DIRECTIVES`]. `Default` is Redis 7.0's defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Parallel to `DIRECTIVES`.
    values: Vec<Value>,
    /// The typed view of `values`, updated by each directive's binding.
    settings: Settings,
    /// Redis's `save_loaded`: the first `save` line of a config file drops the defaults.
    save_loaded: bool,
    /// Redis's `reading_config_file`.
    reading_file: bool,
}

impl Default for Config {
    fn default() -> Self {
        let mut config = Config {
            values: DIRECTIVES.iter().map(|d| zero_value(&d.kind)).collect(),
            settings: Settings::default(),
            save_loaded: false,
            reading_file: false,
        };
        for (idx, d) in DIRECTIVES.iter().enumerate() {
            let words: Vec<&[u8]> = if d.kind.is_multi_arg() {
                split_spaces(d.default.as_bytes())
            } else {
                vec![d.default.as_bytes()]
            };
            // Every default parses (tested); a failure would leave the zero value.
            let _ = config.set_value(idx, &words);
        }
        config
    }
}

impl Config {
    /// Redis 7.0 defaults (same as `Config::default()`).
    pub fn new() -> Config {
        Config::default()
    }

    // -- config text ----------------------------------------------------------------------

    /// Applies config text (a redis.conf, or [`join_config_text`] of file and arguments)
    /// line by line, like Redis at startup. Returns the directives that keel does not act
    /// on yet (canonical names, each once, in order of appearance) so the server can log
    /// them. On error nothing is changed. `include` is refused: use
    /// [`Config::apply_text_with_includes`] to let the server read included files.
    pub fn apply_text(&mut self, text: &str) -> Result<Vec<String>, ConfigFileError> {
        let mut no_reader = |_: &str| -> Result<String, String> {
            Err("include is not supported without a file reader".to_string())
        };
        self.apply_text_with_includes(text, &mut no_reader)
    }

    /// [`Config::apply_text`], reading `include <path>` files through `read_include`, which
    /// returns the text of the file (for a glob: all matching files concatenated, "" when
    /// none match) or why it could not be read (e.g. "No such file or directory").
    pub fn apply_text_with_includes(
        &mut self,
        text: &str,
        read_include: &mut dyn FnMut(&str) -> Result<String, String>,
    ) -> Result<Vec<String>, ConfigFileError> {
        let mut next = self.clone();
        let mut ignored = Vec::new();
        next.apply_text_inner(text, read_include, 0, &mut ignored)?;
        *self = next;
        Ok(ignored)
    }

    fn apply_text_inner(
        &mut self,
        text: &str,
        read_include: &mut dyn FnMut(&str) -> Result<String, String>,
        depth: usize,
        ignored: &mut Vec<String>,
    ) -> Result<(), ConfigFileError> {
        fn note(ignored: &mut Vec<String>, name: String) {
            if !ignored.contains(&name) {
                ignored.push(name);
            }
        }
        self.reading_file = true;
        for (line_no, line) in meaningful_lines(text) {
            let words = split_args(line).ok_or_else(|| {
                ConfigFileError::at(line_no, line, "Unbalanced quotes in configuration line")
            })?;
            let Some((first, rest)) = words.split_first() else {
                continue;
            };
            let directive = first.to_ascii_lowercase();
            let mut args: Vec<&[u8]> = rest.iter().map(Vec::as_slice).collect();
            if let Some((idx, _)) = find(&directive) {
                let Some(d) = DIRECTIVES.get(idx) else {
                    continue;
                };
                // As Redis: a multi-argument directive given one non-empty argument
                // has it split like a line (`--save "900 1"`, `--client-output-buffer-limit
                // "pubsub 1mb 512kb 60"` on the command line).
                let split;
                let single = match args.as_slice() {
                    &[only] if d.kind.is_multi_arg() && !only.is_empty() => Some(only),
                    _ => None,
                };
                if let Some(only) = single {
                    split = split_args(only).unwrap_or_default();
                    args = split.iter().map(Vec::as_slice).collect();
                }
                if !d.kind.is_multi_arg() && words.len() != 2 {
                    return Err(ConfigFileError::at(
                        line_no,
                        line,
                        "wrong number of arguments",
                    ));
                }
                self.set_value(idx, &args)
                    .map_err(|e| ConfigFileError::at(line_no, line, e))?;
                if !d.implemented {
                    note(ignored, d.name.to_string());
                }
                continue;
            }
            if words.len() == 2
                && DEPRECATED_DIRECTIVES
                    .iter()
                    .any(|n| n.as_bytes() == directive)
            {
                continue;
            }
            match (directive.as_slice(), words.len()) {
                (b"include", 2) => {
                    let path = lossy(args.first().copied().unwrap_or_default());
                    if depth >= INCLUDE_DEPTH_MAX {
                        return Err(ConfigFileError::Include {
                            path,
                            reason: "include nesting too deep".to_string(),
                        });
                    }
                    let included = read_include(&path)
                        .map_err(|reason| ConfigFileError::Include { path, reason })?;
                    // Like Redis, the included text's own checks run at its end, and
                    // reading_config_file stays cleared for the rest of this text.
                    self.apply_text_inner(
                        &included,
                        read_include,
                        depth.saturating_add(1),
                        ignored,
                    )?;
                }
                (b"rename-command", 3) => note(ignored, "rename-command".to_string()),
                (b"user", n) if n >= 2 => note(ignored, "user".to_string()),
                (b"loadmodule", n) if n >= 2 => note(ignored, "loadmodule".to_string()),
                (name, n) if name.contains(&b'.') => {
                    // A module config: Redis queues it for the module (and aborts at
                    // startup if no module claims it). keel has no modules.
                    if n < 2 {
                        return Err(ConfigFileError::at(
                            line_no,
                            line,
                            "Module config specified without value",
                        ));
                    }
                    note(ignored, lossy(name));
                }
                (b"sentinel", n) => {
                    if n != 1 {
                        return Err(ConfigFileError::at(
                            line_no,
                            line,
                            "sentinel directive while not in sentinel mode",
                        ));
                    }
                    note(ignored, "sentinel".to_string());
                }
                _ => {
                    return Err(ConfigFileError::at(
                        line_no,
                        line,
                        "Bad directive or wrong number of arguments",
                    ))
                }
            }
        }
        // Redis also checks here that `logfile` can be opened: that is the server's job.
        if self.settings.cluster_enabled && self.settings.replicaof.is_some() {
            return Err(ConfigFileError::Fatal {
                line: None,
                message: "replicaof directive not allowed in cluster mode".to_string(),
            });
        }
        self.reading_file = false;
        Ok(())
    }

    // -- setting one directive ------------------------------------------------------------

    /// Parses, validates and stores `args` (the words after the directive) for directive
    /// `idx`. The error is Redis's text for the config file report / CONFIG SET reply.
    fn set_value(&mut self, idx: usize, args: &[&[u8]]) -> Result<(), String> {
        let d = DIRECTIVES
            .get(idx)
            .ok_or_else(|| "no such directive".to_string())?;
        let first: &[u8] = args.first().copied().unwrap_or_default();
        let new = match d.kind {
            Kind::Bool { refuse_yes } => {
                let yes = if first.eq_ignore_ascii_case(b"yes") {
                    true
                } else if first.eq_ignore_ascii_case(b"no") {
                    false
                } else {
                    return Err("argument must be 'yes' or 'no'".to_string());
                };
                if let (true, Some(why)) = (yes, refuse_yes) {
                    return Err(why.to_string());
                }
                Value::Bool(yes)
            }
            Kind::Integer { min, max, unsigned } => {
                let v = string2ll(first)
                    .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
                check_bounds(v, min, max, unsigned, false, false)?;
                Value::Num(d.clamp.map_or(v, |(lo, hi)| v.clamp(lo, hi)))
            }
            Kind::Memory {
                min,
                max,
                unsigned,
                percent,
            } => {
                let v = if let Some(bytes) = memtoull(first) {
                    bytes as i64 // stored in a long long, as Redis does
                } else if let Some(p) = percent
                    .then(|| first.strip_suffix(b"%"))
                    .flatten()
                    .filter(|digits| !digits.is_empty())
                    .and_then(string2ll)
                    .filter(|p| *p >= 0)
                {
                    -p
                } else if percent {
                    return Err("argument must be a memory or percent value".to_string());
                } else {
                    return Err("argument must be a memory value".to_string());
                };
                check_bounds(v, min, max, unsigned, percent, false)?;
                Value::Num(v)
            }
            Kind::Octal { min, max } => {
                let (v, consumed, overflow) = c_strtoll(first, 8);
                if !consumed || overflow {
                    return Err("argument couldn't be parsed as an octal number".to_string());
                }
                check_bounds(v, min, max, true, false, true)?;
                Value::Num(v)
            }
            Kind::Enum { values, flags } => Value::Enum(parse_enum(values, flags, args)?),
            Kind::Text { check } => {
                self.check_text(check, first)?;
                Value::Text(first.to_vec())
            }
            Kind::Special(special) => self.parse_special(idx, special, args)?,
        };
        self.store(idx, new);
        Ok(())
    }

    /// The one place a value is stored: the directive's binding keeps `settings` in step.
    fn store(&mut self, idx: usize, value: Value) {
        if let Some(bind) = DIRECTIVES.get(idx).and_then(|d| d.bind) {
            bind(&mut self.settings, &value);
        }
        if let Some(slot) = self.values.get_mut(idx) {
            *slot = value;
        }
    }

    fn check_text(&self, check: TextCheck, s: &[u8]) -> Result<(), String> {
        match check {
            TextCheck::Any => Ok(()),
            TextCheck::DbFileName if !is_base_name(s) => {
                Err("dbfilename can't be a path, just a filename".to_string())
            }
            TextCheck::AofFileName if s.is_empty() => {
                Err("appendfilename can't be empty".to_string())
            }
            TextCheck::AofFileName if !is_base_name(s) => {
                Err("appendfilename can't be a path, just a filename".to_string())
            }
            TextCheck::AofDirName if s.is_empty() => {
                Err("appenddirname can't be empty".to_string())
            }
            TextCheck::AofDirName if !is_base_name(s) => {
                Err("appenddirname can't be a path, just a dirname".to_string())
            }
            TextCheck::Hostname if s.len() >= HOSTNAME_LEN_LIMIT => Err(format!(
                "Hostnames must be less than {HOSTNAME_LEN_LIMIT} characters"
            )),
            TextCheck::Hostname
                if !s
                    .iter()
                    .all(|&c| c.is_ascii_alphanumeric() || c == b'-' || c == b'.') =>
            {
                Err(
                    "Hostnames may only contain alphanumeric characters, hyphens or dots"
                        .to_string(),
                )
            }
            TextCheck::ProcTitleTemplate if !self.valid_proc_title_template(s) => {
                Err("template format is invalid or contains unknown variables".to_string())
            }
            _ => Ok(()),
        }
    }

    /// Redis `validateProcTitleTemplate`: expands `{var}` (`{{` is a literal `{`) with an
    /// empty title and requires a non-blank result.
    fn valid_proc_title_template(&self, template: &[u8]) -> bool {
        let mut out: Vec<u8> = Vec::new();
        let mut rest = template;
        while !rest.is_empty() {
            let Some(open) = rest.iter().position(|&b| b == b'{') else {
                out.extend_from_slice(rest);
                break;
            };
            out.extend_from_slice(rest.get(..open).unwrap_or_default());
            let after = rest.get(open.saturating_add(1)..).unwrap_or_default();
            match after.first() {
                None => return false,
                Some(b'{') => {
                    out.push(b'{');
                    rest = after.get(1..).unwrap_or_default();
                    continue;
                }
                Some(_) => {}
            }
            let Some(close) = after.iter().position(|&b| b == b'}') else {
                return false;
            };
            let var = after.get(..close).unwrap_or_default();
            match var {
                b"title" => {}
                b"listen-addr" => out.extend_from_slice(b"*:6379"),
                b"server-mode" => {
                    if self.settings.cluster_enabled {
                        out.extend_from_slice(b"[cluster]");
                    }
                }
                // Observed: Redis 7.0.15 accepts "{config-file}" alone.
                b"config-file" => out.extend_from_slice(b"redis.conf"),
                b"port" | b"tls-port" => out.push(b'0'),
                b"unixsocket" => out.extend_from_slice(&self.settings.unixsocket),
                _ => return false,
            }
            rest = after.get(close.saturating_add(1)..).unwrap_or_default();
        }
        out.iter().any(|&b| b != b' ')
    }

    fn parse_special(
        &mut self,
        idx: usize,
        special: Special,
        args: &[&[u8]],
    ) -> Result<Value, String> {
        let first: &[u8] = args.first().copied().unwrap_or_default();
        let single_empty = args.len() == 1 && first.is_empty();
        match special {
            Special::Save => {
                let args: &[&[u8]] = if single_empty { &[] } else { args };
                if !args.chunks_exact(2).remainder().is_empty() {
                    return Err("Invalid save parameters".to_string());
                }
                let mut points = Vec::new();
                for pair in args.chunks(2) {
                    let (secs, secs_ok, _) =
                        c_strtoll(pair.first().copied().unwrap_or_default(), 10);
                    let (changes, changes_ok, _) =
                        c_strtoll(pair.get(1).copied().unwrap_or_default(), 10);
                    if !secs_ok || !changes_ok || secs < 1 || changes < 0 {
                        return Err("Invalid save parameters".to_string());
                    }
                    points.push(SavePoint {
                        after_secs: secs,
                        min_changes: changes as i32, // C int truncation, as Redis
                    });
                }
                // In a config file the first `save` line replaces the defaults and later
                // ones add to it; elsewhere every `save` replaces. `save ""` always
                // clears (Redis's `resetServerSaveParams`), in a file too.
                let mut all = match self.values.get(idx) {
                    Some(Value::Save(old))
                        if self.reading_file && self.save_loaded && !single_empty =>
                    {
                        old.clone()
                    }
                    _ => Vec::new(),
                };
                if self.reading_file {
                    self.save_loaded = true;
                }
                all.extend(points);
                Ok(Value::Save(all))
            }
            Special::Bind => {
                if args.len() > BIND_ADDRESSES_MAX {
                    return Err("Too many bind addresses specified.".to_string());
                }
                if single_empty {
                    return Ok(Value::Bind(Vec::new()));
                }
                Ok(Value::Bind(args.iter().map(|a| a.to_vec()).collect()))
            }
            Special::ClientOutputBufferLimit => {
                if !args.chunks_exact(4).remainder().is_empty() {
                    return Err(
                        "Wrong number of arguments in buffer limit configuration.".to_string()
                    );
                }
                let mut limits = match self.values.get(idx) {
                    Some(Value::Obuf(old)) => *old,
                    _ => Default::default(),
                };
                let mut updates = Vec::new();
                for group in args.chunks(4) {
                    let word = |k: usize| group.get(k).copied().unwrap_or_default();
                    let class = if word(0).eq_ignore_ascii_case(b"normal") {
                        0
                    } else if word(0).eq_ignore_ascii_case(b"slave")
                        || word(0).eq_ignore_ascii_case(b"replica")
                    {
                        1
                    } else if word(0).eq_ignore_ascii_case(b"pubsub") {
                        2
                    } else {
                        return Err(
                            "Invalid client class specified in buffer limit configuration."
                                .to_string(),
                        );
                    };
                    let hard = memtoull(word(1));
                    let soft = memtoull(word(2));
                    let (secs, secs_ok, _) = c_strtoll(word(3), 10);
                    let secs = secs as i32; // C int truncation, as Redis
                    match (hard, soft) {
                        (Some(hard), Some(soft)) if secs_ok && secs >= 0 => updates.push((
                            class,
                            ClientOutputBufferLimit {
                                hard_limit_bytes: hard,
                                soft_limit_bytes: soft,
                                soft_limit_secs: i64::from(secs),
                            },
                        )),
                        _ => {
                            return Err("Error in hard, soft or soft_seconds setting in buffer limit configuration.".to_string())
                        }
                    }
                }
                for (class, limit) in updates {
                    if let Some(slot) = limits.get_mut(class) {
                        *slot = limit;
                    }
                }
                Ok(Value::Obuf(limits))
            }
            Special::OomScoreAdjValues => {
                if args.len() != 3 {
                    return Err("wrong number of arguments".to_string());
                }
                let mut values = [0i32; 3];
                for (slot, arg) in values.iter_mut().zip(args) {
                    let (v, consumed, _) = c_strtoll(arg, 10);
                    if !consumed || !(-2000..=2000).contains(&v) {
                        return Err("Invalid oom-score-adj-values, elements must be between -2000 and 2000.".to_string());
                    }
                    *slot = i32::try_from(v).unwrap_or_default();
                }
                Ok(Value::Oom(values))
            }
            Special::NotifyKeyspaceEvents => parse_notify_flags(first)
                .map(Value::Notify)
                .ok_or_else(|| "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".to_string()),
            Special::ReplicaOf => {
                if args.len() != 2 {
                    return Err("wrong number of arguments".to_string());
                }
                let port_text = args.get(1).copied().unwrap_or_default();
                if first.eq_ignore_ascii_case(b"no") && port_text.eq_ignore_ascii_case(b"one") {
                    return Ok(Value::ReplicaOf(None));
                }
                let (port, consumed, _) = c_strtoll(port_text, 10);
                if !consumed || !(0..=65535).contains(&port) {
                    return Err("Invalid master port".to_string());
                }
                Ok(Value::ReplicaOf(Some((first.to_vec(), port))))
            }
            Special::LatencyTrackingInfoPercentiles => {
                if single_empty {
                    return Ok(Value::Percentiles(Vec::new()));
                }
                let mut percentiles = Vec::with_capacity(args.len());
                for arg in args {
                    let p = crate::strtod::string2d(arg).ok_or_else(|| {
                        "Invalid latency-tracking-info-percentiles parameters".to_string()
                    })?;
                    if !(0.0..=100.0).contains(&p) {
                        return Err("latency-tracking-info-percentiles parameters should sit between [0.0,100.0]".to_string());
                    }
                    percentiles.push(p);
                }
                Ok(Value::Percentiles(percentiles))
            }
            Special::Dir => {
                if args.len() != 1 {
                    return Err("wrong number of arguments".to_string());
                }
                // Redis chdir()s here and fails with strerror(); the server must do that.
                Ok(Value::Text(first.to_vec()))
            }
        }
    }

    // -- CONFIG GET / SET -----------------------------------------------------------------

    /// Renders directive `idx` as CONFIG GET does.
    fn render(&self, idx: usize) -> String {
        let (Some(d), Some(value)) = (DIRECTIVES.get(idx), self.values.get(idx)) else {
            return String::new();
        };
        match (value, d.kind) {
            (Value::Bool(b), _) => if *b { "yes" } else { "no" }.to_string(),
            (Value::Num(n), Kind::Memory { percent, .. }) => {
                if percent && *n < 0 {
                    format!("{}%", n.unsigned_abs())
                } else {
                    (*n as u64).to_string()
                }
            }
            (Value::Num(n), Kind::Octal { .. }) => format!("{:o}", *n as u64),
            (Value::Num(n), _) => n.to_string(),
            (Value::Enum(v), Kind::Enum { values, flags }) => enum_name(values, flags, *v),
            (Value::Enum(_), _) => "unknown".to_string(),
            (Value::Text(t), _) => lossy(t),
            (Value::Save(points), _) => points
                .iter()
                .map(|p| format!("{} {}", p.after_secs, p.min_changes))
                .collect::<Vec<_>>()
                .join(" "),
            (Value::Bind(addrs), _) => addrs.iter().map(|a| lossy(a)).collect::<Vec<_>>().join(" "),
            (Value::Obuf(limits), _) => CLIENT_CLASSES
                .iter()
                .zip(limits)
                .map(|(class, l)| {
                    format!(
                        "{class} {} {} {}",
                        l.hard_limit_bytes, l.soft_limit_bytes, l.soft_limit_secs
                    )
                })
                .collect::<Vec<_>>()
                .join(" "),
            (Value::Oom([master, replica, bgchild]), _) => {
                format!("{master} {replica} {bgchild}")
            }
            (Value::Notify(flags), _) => notify_flags_string(*flags),
            (Value::ReplicaOf(Some((host, port))), _) => format!("{} {port}", lossy(host)),
            (Value::ReplicaOf(None), _) => String::new(),
            (Value::Percentiles(ps), _) => ps
                .iter()
                .map(|p| percentile_string(*p))
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// CONFIG GET with one or more glob patterns (ASCII case ignored). A pattern without
    /// `*`, `?` or `[` is an exact lookup (hidden directives included) and its pair carries
    /// the name as asked; patterns match canonical names and aliases alike, each reported
    /// under its own name. Each name appears once. Sorted by name.
    pub fn get(&self, patterns: &[&[u8]]) -> Vec<(String, String)> {
        let mut matches: Vec<(String, usize)> = Vec::new();
        let seen = |matches: &[(String, usize)], key: &[u8]| {
            matches
                .iter()
                .any(|(k, _)| k.as_bytes().eq_ignore_ascii_case(key))
        };
        for &pattern in patterns {
            if !pattern.iter().any(|b| matches!(b, b'[' | b'*' | b'?')) {
                if seen(&matches, pattern) {
                    continue;
                }
                if let Some((idx, _)) = find(pattern) {
                    matches.push((lossy(pattern), idx));
                }
                continue;
            }
            for (idx, d) in DIRECTIVES.iter().enumerate() {
                if d.hidden {
                    continue;
                }
                for name in std::iter::once(d.name).chain(d.alias) {
                    if !seen(&matches, name.as_bytes())
                        && glob_match(pattern, name.as_bytes(), true)
                    {
                        matches.push((name.to_string(), idx));
                    }
                }
            }
        }
        matches.sort_by(|a, b| a.0.cmp(&b.0));
        matches
            .into_iter()
            .map(|(name, idx)| {
                let value = self.render(idx);
                (name, value)
            })
            .collect()
    }

    /// The value of one directive (name or alias, any case) as CONFIG GET renders it.
    pub fn get_one(&self, name: &str) -> Option<String> {
        find(name.as_bytes()).map(|(idx, _)| self.render(idx))
    }

    /// CONFIG SET of one or more (name, value) pairs, all or nothing, for a client that is
    /// not local (so `enable-protected-configs local` does not allow protected ones). Errors
    /// are Redis 7.0.15's reply texts without the leading '-' (client bytes they echo made
    /// UTF-8: see [`Config::set_for_client`] for the exact bytes). Arity is the caller's job.
    pub fn set(&mut self, pairs: &[(&[u8], &[u8])]) -> Result<(), String> {
        self.set_for_client(pairs, false)
            .map_err(|e| String::from_utf8_lossy(&e).into_owned())
    }

    /// [`Config::set`] for a client that may be local (loopback or unix socket), which
    /// matters for protected directives when `enable-protected-configs` is `local`. The
    /// error is the reply's bytes: it echoes the client's names as sent.
    pub fn set_for_client(
        &mut self,
        pairs: &[(&[u8], &[u8])],
        client_is_local: bool,
    ) -> Result<(), Vec<u8>> {
        *self = self.prepare_set(pairs, client_is_local)?;
        Ok(())
    }

    /// The config [`Config::set_for_client`] would make, leaving this one as it is: for
    /// a caller that must apply part of it outside (a new listener) before committing.
    pub fn prepare_set(
        &self,
        pairs: &[(&[u8], &[u8])],
        client_is_local: bool,
    ) -> Result<Config, Vec<u8>> {
        let protected_allowed = self
            .settings
            .enable_protected_configs
            .allows(client_is_local);
        self.prepare_set_inner(pairs, protected_allowed)
    }

    /// `prepare_set` of values the config file gives (a reload): protected directives
    /// may change, as they may in the file; immutable ones may not.
    pub fn prepare_set_from_file(&self, pairs: &[(&[u8], &[u8])]) -> Result<Config, Vec<u8>> {
        self.prepare_set_inner(pairs, true)
    }

    /// The directives whose value differs in `other`: (name, value in `other` as
    /// CONFIG GET renders it, whether CONFIG SET may change it), in table order.
    pub fn differences(&self, other: &Config) -> Vec<(&'static str, String, Mutability)> {
        let mut out = Vec::new();
        for (idx, d) in DIRECTIVES.iter().enumerate() {
            if self.values.get(idx) != other.values.get(idx) {
                out.push((d.name, other.render(idx), d.mutability));
            }
        }
        out
    }

    fn prepare_set_inner(
        &self,
        pairs: &[(&[u8], &[u8])],
        protected_allowed: bool,
    ) -> Result<Config, Vec<u8>> {
        // Redis's `'%s'` of a client argument: a C string, its bytes as sent.
        let failed = |name: &[u8], why: &str| {
            [
                &b"ERR CONFIG SET failed (possibly related to argument '"[..],
                c_str(name),
                b"') - ",
                why.as_bytes(),
            ]
            .concat()
        };
        // (directive index, table spelling matched, value)
        let mut resolved: Vec<(usize, &'static str, &[u8])> = Vec::with_capacity(pairs.len());
        let mut first_error: Option<Vec<u8>> = None;
        for &(name, value) in pairs {
            let Some((idx, matched)) = find(name) else {
                if first_error.is_none() {
                    first_error = Some(
                        [
                            &b"ERR Unknown option or number of arguments for CONFIG SET - '"[..],
                            c_str(name),
                            b"'",
                        ]
                        .concat(),
                    );
                }
                continue;
            };
            if first_error.is_some() {
                continue;
            }
            let Some(d) = DIRECTIVES.get(idx) else {
                continue;
            };
            if d.mutability == Mutability::Immutable {
                first_error = Some(failed(name, "can't set immutable config"));
            } else if d.mutability == Mutability::Protected && !protected_allowed {
                first_error = Some(failed(name, "can't set protected config"));
            } else if resolved.iter().any(|(i, m, _)| *i == idx && *m == matched) {
                // Redis compares table entries: a name and its alias are not duplicates.
                first_error = Some(failed(name, "duplicate parameter"));
            }
            resolved.push((idx, matched, value));
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        let mut next = self.clone();
        next.reading_file = false;
        for &(idx, matched, value) in &resolved {
            let multi = DIRECTIVES.get(idx).is_some_and(|d| d.kind.is_multi_arg());
            let words: Vec<&[u8]> = if multi {
                split_spaces(value)
            } else {
                vec![value]
            };
            next.set_value(idx, &words)
                .map_err(|why| failed(matched.as_bytes(), &why))?;
        }
        next.check_listeners(self, &resolved)
            .map_err(|(name, why)| failed(name.as_bytes(), why))?;
        Ok(next)
    }

    /// Whether `next` listens elsewhere than this config (`bind` or `port` changed).
    pub fn listener_differs(&self, next: &Config) -> bool {
        self.settings.port != next.settings.port || self.settings.bind != next.settings.bind
    }

    /// Redis's reply when the listen a CONFIG SET of `pairs` asked for failed: the
    /// first of `bind` and `port` among them (in argument order) named, with its text.
    pub fn listen_failed_error(&self, next: &Config, pairs: &[(&[u8], &[u8])]) -> Vec<u8> {
        for &(name, _) in pairs {
            let why = match find(name)
                .and_then(|(idx, _)| DIRECTIVES.get(idx))
                .map(|d| d.name)
            {
                Some("bind") => "Failed to bind to specified addresses.",
                Some("port") if next.settings.port != self.settings.port => {
                    "Unable to listen on this port. Check server logs."
                }
                _ => continue,
            };
            return [
                &b"ERR CONFIG SET failed (possibly related to argument '"[..],
                c_str(name),
                b"') - ",
                why.as_bytes(),
            ]
            .concat();
        }
        b"ERR CONFIG SET failed - Unable to listen".to_vec()
    }

    /// Redis applies a new `bind` or `port` once every value is set, by listening on the
    /// new addresses, and fails the whole CONFIG SET naming the first of them (in argument
    /// order) whose listen failed. keel cannot listen from here (nor rebind yet): it
    /// refuses, with Redis's texts, the lists no listen could ever succeed on (see
    /// [`bind_list_is_listenable`]), and takes any other as Redis would. With port 0 Redis
    /// listens nowhere and takes any list; an unchanged port is not applied again.
    fn check_listeners(
        &self,
        old: &Config,
        resolved: &[(usize, &'static str, &[u8])],
    ) -> Result<(), (&'static str, &'static str)> {
        if self.settings.port == 0 || bind_list_is_listenable(&self.settings.bind) {
            return Ok(());
        }
        for &(idx, _, _) in resolved {
            match DIRECTIVES.get(idx).map(|d| d.name) {
                Some("bind") => return Err(("bind", "Failed to bind to specified addresses.")),
                Some("port") if self.settings.port != old.settings.port => {
                    return Err(("port", "Unable to listen on this port. Check server logs."))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// What CONFIG REWRITE writes for each directive, in table order, as Redis 7.0's
    /// `rewriteConfig*Option` functions do: (canonical name, lines, each with whether it
    /// must be written even if the file lacks it — its value is not the default).
    /// An empty list marks the directive processed with nothing to write (Redis's NULL
    /// strings, no `replicaof`): its old lines are blanked.
    pub fn rewrite_plan(&self) -> Vec<(&'static str, Vec<(String, bool)>)> {
        let defaults = Config::default();
        let mut plan = Vec::with_capacity(DIRECTIVES.len());
        for (idx, d) in DIRECTIVES.iter().enumerate() {
            let (Some(value), default) = (self.values.get(idx), defaults.values.get(idx)) else {
                continue;
            };
            let force = Some(value) != default;
            let name = d.name;
            let one = |text: String| vec![(format!("{name} {text}"), force)];
            let lines = match (value, d.kind) {
                (Value::Num(n), Kind::Memory { percent, .. }) => {
                    if percent && *n < 0 {
                        one(format!("{}%", n.unsigned_abs()))
                    } else {
                        one(memory_text(*n))
                    }
                }
                (Value::Text(t), Kind::Special(Special::Dir)) => {
                    let mut q = String::new();
                    push_repr(&mut q, t);
                    vec![(format!("{name} {q}"), true)]
                }
                (Value::Text(t), _) => {
                    // Redis's NULL strings (unset, default NULL) are not written.
                    if t.is_empty() && !force && name != "logfile" {
                        Vec::new()
                    } else {
                        let mut q = String::new();
                        push_repr(&mut q, t);
                        one(q)
                    }
                }
                (Value::Save(points), _) => {
                    if points.is_empty() {
                        vec![(format!("{name} \"\""), force)]
                    } else {
                        points
                            .iter()
                            .map(|p| (format!("{name} {} {}", p.after_secs, p.min_changes), force))
                            .collect()
                    }
                }
                (Value::Obuf(limits), _) => {
                    let default_limits = match default {
                        Some(Value::Obuf(l)) => *l,
                        _ => Default::default(),
                    };
                    CLIENT_CLASSES
                        .iter()
                        .zip(limits.iter().zip(default_limits.iter()))
                        .map(|(class, (l, dl))| {
                            (
                                format!(
                                    "{name} {class} {} {} {}",
                                    memory_text(l.hard_limit_bytes as i64),
                                    memory_text(l.soft_limit_bytes as i64),
                                    l.soft_limit_secs
                                ),
                                l != dl,
                            )
                        })
                        .collect()
                }
                (Value::Notify(_), _) => {
                    let mut q = String::new();
                    push_repr(&mut q, self.render(idx).as_bytes());
                    one(q)
                }
                (Value::ReplicaOf(None), _) => Vec::new(),
                // Redis 7.0 always writes these (`dir` is the working directory; the
                // percentiles' default comparison never matches).
                (Value::Percentiles(_), _) => vec![(format!("{name} {}", self.render(idx)), true)],
                _ => one(self.render(idx)),
            };
            plan.push((name, lines));
        }
        plan
    }

    /// Records the absolute directory the server chdir()ed to, so CONFIG GET dir shows it
    /// like Redis (which reports getcwd()).
    pub fn set_resolved_dir(&mut self, absolute_dir: &[u8]) {
        let dir = DIRECTIVES
            .iter()
            .position(|d| d.kind == Kind::Special(Special::Dir));
        if let Some(idx) = dir {
            self.store(idx, Value::Text(absolute_dir.to_vec()));
        }
    }

    /// Records REPLICAOF's target (None: NO ONE), so CONFIG GET, CONFIG REWRITE and
    /// the log's role follow it as Redis's (its `replicaof` reads `masterhost`).
    pub fn set_replicaof(&mut self, master: Option<(Vec<u8>, u16)>) {
        let idx = DIRECTIVES
            .iter()
            .position(|d| d.kind == Kind::Special(Special::ReplicaOf));
        if let Some(idx) = idx {
            let value = Value::ReplicaOf(master.map(|(host, port)| (host, i64::from(port))));
            self.store(idx, value);
        }
    }

    /// The typed settings, current with every successful change.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REDIS_CONF: &str = include_str!("testdata/redis-7.0.conf");
    const NAMES: &str = include_str!("testdata/redis-7.0-config-names.txt");
    /// `CONFIG GET *` of a default redis-server 7.0.15 (port set to 6379, dir removed).
    const DEFAULTS: &str = include_str!("testdata/redis-7.0-config-defaults.tsv");
    /// `CONFIG GET *` of `redis-server /etc/redis/redis.conf <DEBIAN_ARGS>`.
    const DEBIAN: &str = include_str!("testdata/redis-7.0-debian-conf-with-args.tsv");
    const DEBIAN_ARGS: &[&str] = &[
        "--daemonize",
        "no",
        "--logfile",
        "",
        "--port",
        "7782",
        "--dir",
        "/tmp",
        "--pidfile",
        "",
        "--save",
        "",
        "--save",
        "900",
        "1",
        "--bind",
        "127.0.0.1",
        "::1",
    ];

    const STAR: &[&[u8]] = &[b"*"];

    fn tsv(text: &str) -> Vec<(String, String)> {
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (k, v) = l.split_once('\t').unwrap_or((l, ""));
                (k.to_string(), v.to_string())
            })
            .collect()
    }

    fn set1(c: &mut Config, name: &str, value: &str) -> Result<(), String> {
        c.set(&[(name.as_bytes(), value.as_bytes())])
    }

    fn fatal_message(text: &str) -> (Option<usize>, String) {
        let err = Config::default().apply_text(text).unwrap_err();
        (err.line_no(), err.message().to_string())
    }

    #[test]
    fn table_is_sorted_unique_and_defaults_round_trip() {
        for pair in DIRECTIVES.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
        let config = Config::default();
        for d in DIRECTIVES {
            if let Some(alias) = d.alias {
                assert!(lookup(alias).is_some_and(|x| x.name == d.name));
                assert!(DIRECTIVES.binary_search_by(|x| x.name.cmp(alias)).is_err());
            }
            assert_eq!(
                config.get_one(d.name).as_deref(),
                Some(d.default),
                "{}",
                d.name
            );
        }
    }

    #[test]
    fn every_real_config_get_name_is_in_the_table_and_nothing_else() {
        let names: Vec<&str> = NAMES.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(names.len(), 192);
        for name in &names {
            assert!(lookup(name).is_some(), "missing {name}");
        }
        let ours = Config::default().get(STAR);
        let mut ours: Vec<&str> = ours.iter().map(|(k, _)| k.as_str()).collect();
        let mut theirs = names.clone();
        ours.sort_unstable();
        theirs.sort_unstable();
        assert_eq!(ours, theirs);
    }

    #[test]
    fn defaults_render_like_redis() {
        let config = Config::default();
        let all = config.get(STAR);
        for (name, value) in tsv(DEFAULTS) {
            let ours = all
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.as_str());
            assert_eq!(ours, Some(value.as_str()), "{name}");
        }
        for (name, value) in [
            ("maxmemory", "0"),
            ("save", "3600 1 300 100 60 10000"),
            ("hz", "10"),
            ("appendfsync", "everysec"),
            ("port", "6379"),
            ("bind", "* -::*"),
            ("enable-debug-command", "no"),
            ("unixsocketperm", "0"),
            ("maxmemory-clients", "0"),
        ] {
            assert_eq!(config.get_one(name).as_deref(), Some(value), "{name}");
        }
        assert_eq!(config.settings().port, 6379);
        assert_eq!(config.settings().bind, [b"*".to_vec(), b"-::*".to_vec()]);
        assert!(config.settings().protected_mode);
        assert_eq!(config.settings().timeout_secs, 0);
        assert_eq!(config.settings().tcp_keepalive_secs, 300);
        assert_eq!(config.settings().databases, 16);
        assert_eq!(config.settings().maxclients, 10000);
        assert_eq!(config.settings().loglevel.name(), "notice");
        assert_eq!(lossy(&config.settings().logfile), "");
        assert_eq!(config.settings().requirepass.as_deref(), None);
        assert_eq!(config.settings().hz, 10);
        assert_eq!(
            config.settings().proto_max_bulk_len_bytes,
            512 * 1024 * 1024
        );
        assert_eq!(
            config.settings().client_query_buffer_limit_bytes,
            1024 * 1024 * 1024
        );
        assert_eq!(config.settings().enable_debug_command.name(), "no");
        assert_eq!(config.settings().maxmemory_bytes, 0);
        assert_eq!(config.settings().maxmemory_policy.name(), "noeviction");
        assert_eq!(config.settings().maxmemory_samples, 5);
        assert_eq!(config.settings().active_expire_effort, 1);
        assert!(!config.settings().daemonize);
        assert_eq!(config.settings().tcp_backlog, 511);
        let obuf = config.settings().client_output_buffer_limits;
        assert_eq!(obuf[1].hard_limit_bytes, 256 * 1024 * 1024);
        assert_eq!(obuf[2].soft_limit_secs, 60);
    }

    #[test]
    fn debian_redis_conf_applies_and_matches_real_server() {
        let mut config = Config::default();
        let ignored = config.apply_text(REDIS_CONF).unwrap();
        assert!(ignored.contains(&"pidfile".to_string()));
        assert!(!ignored.contains(&"port".to_string()));
        assert_eq!(ignored.iter().filter(|n| *n == "appendonly").count(), 0);
        // Directives keel acts on are not reported as "no effect in keel yet".
        for acted_on in [
            "dbfilename",
            "rdbcompression",
            "rdbchecksum",
            "slowlog-max-len",
            "replica-read-only",
            "stop-writes-on-bgsave-error",
        ] {
            assert!(
                !ignored.iter().any(|n| n == acted_on),
                "{acted_on}: {ignored:?}"
            );
        }
        assert!(config.settings().daemonize);
        assert_eq!(
            lossy(&config.settings().logfile),
            "/var/log/redis/redis-server.log"
        );

        let args: Vec<String> = DEBIAN_ARGS.iter().map(|s| s.to_string()).collect();
        let text = join_config_text(Some(REDIS_CONF), &args_to_config_text(&args).unwrap());
        let mut config = Config::default();
        config.apply_text(&text).unwrap();
        let all = config.get(STAR);
        let mut expected = tsv(DEBIAN);
        expected.sort();
        assert_eq!(all, expected);
        assert_eq!(config.settings().port, 7782);
        assert_eq!(
            config.settings().bind,
            [b"127.0.0.1".to_vec(), b"::1".to_vec()]
        );
    }

    #[test]
    fn fatal_reports_match_redis() {
        let err = Config::default()
            .apply_text("port 7790\nfoo bar\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line 2\n>>> 'foo bar'\nBad directive or wrong number of arguments\n"
        );
        let cases: &[(&str, usize, &str)] = &[
            ("daemonize maybe", 1, "argument must be 'yes' or 'no'"),
            (
                "\n\nport 99999",
                3,
                "argument must be between 0 and 65535 inclusive",
            ),
            ("port \"abc", 1, "Unbalanced quotes in configuration line"),
            ("port 'abc", 1, "Unbalanced quotes in configuration line"),
            (
                "port \"7790\"x",
                1,
                "Unbalanced quotes in configuration line",
            ),
            ("port", 1, "wrong number of arguments"),
            ("port 1 2", 1, "wrong number of arguments"),
            ("save 1", 1, "Invalid save parameters"),
            ("maxmemory 1x", 1, "argument must be a memory value"),
            (
                "loglevel loud",
                1,
                "argument(s) must be one of the following: debug, verbose, notice, warning",
            ),
            ("slaveof a", 1, "wrong number of arguments"),
            ("slaveof a b", 1, "Invalid master port"),
            ("user", 1, "Bad directive or wrong number of arguments"),
            (
                "loadmodule",
                1,
                "Bad directive or wrong number of arguments",
            ),
            (
                "sentinel foo",
                1,
                "sentinel directive while not in sentinel mode",
            ),
            ("foo.bar", 1, "Module config specified without value"),
            (
                "list-max-ziplist-entries 5 6",
                1,
                "Bad directive or wrong number of arguments",
            ),
            (
                "bind a b c d e f g h i j k l m n o p q",
                1,
                "Too many bind addresses specified.",
            ),
            (
                "oom-score-adj-values 1 2 9999",
                1,
                "Invalid oom-score-adj-values, elements must be between -2000 and 2000.",
            ),
            (
                "client-output-buffer-limit normal 1 2",
                1,
                "Wrong number of arguments in buffer limit configuration.",
            ),
            (
                "notify-keyspace-events KEq",
                1,
                "Invalid event class character. Use 'Ag$lshzxeKEtmdn'.",
            ),
            (
                "enable-debug-command maybe",
                1,
                "argument(s) must be one of the following: no, yes, local",
            ),
            (
                "socket-mark-id -1",
                1,
                "argument must be between 0 and 4294967295 inclusive",
            ),
            (
                "unixsocketperm 999",
                1,
                "argument couldn't be parsed as an octal number",
            ),
            (
                "unixsocketperm -1",
                1,
                "argument must be between 0 and 777 inclusive",
            ),
            (
                "io-threads 200",
                1,
                "argument must be between 1 and 128 inclusive",
            ),
            (
                "shutdown-on-sigint save nosave",
                1,
                "shutdown options SAVE and NOSAVE can't be used simultaneously",
            ),
            (
                "shutdown-on-sigint \"\"",
                1,
                "argument(s) must be one of the following: default, save, nosave, now, force",
            ),
            ("appendfilename \"\"", 1, "appendfilename can't be empty"),
            (
                "appenddirname a\\b",
                1,
                "appenddirname can't be a path, just a dirname",
            ),
            (
                "dbfilename a/b",
                1,
                "dbfilename can't be a path, just a filename",
            ),
            (
                "cluster-announce-hostname a_b",
                1,
                "Hostnames may only contain alphanumeric characters, hyphens or dots",
            ),
            ("activedefrag yes", 1, NO_ACTIVE_DEFRAG),
            (
                "port 1\n\n   # c\n\t\n\"port\" 2 3",
                5,
                "wrong number of arguments",
            ),
        ];
        for (text, line, message) in cases {
            assert_eq!(
                fatal_message(text),
                (Some(*line), message.to_string()),
                "{text}"
            );
        }
        let err = Config::default()
            .apply_text("cluster-enabled yes\nreplicaof 127.0.0.1 6379\n")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nreplicaof directive not allowed in cluster mode\n"
        );
        // The report shows the trimmed line; the command line starts at line 2.
        let args: Vec<String> = ["--port", "99999"].iter().map(|s| s.to_string()).collect();
        let text = join_config_text(None, &args_to_config_text(&args).unwrap());
        let err = Config::default().apply_text(&text).unwrap_err();
        assert!(err
            .to_string()
            .contains("at line 2\n>>> 'port \"99999\"'\n"));
    }

    #[test]
    fn file_directives_and_ignored_list() {
        let mut config = Config::default();
        let ignored = config
            .apply_text(
                "  \t  PORT  7790  \nlist-max-ziplist-entries 5\nrename-command FOO BAR\nuser default on\nloadmodule /x.so a\nsentinel\nfoo.bar 1 2\nsave 900 1\nsave 300 10\nappendonly yes\nappendonly no\nslave-read-only no\n",
            )
            .unwrap();
        assert_eq!(config.settings().port, 7790);
        assert_eq!(
            ignored,
            [
                "rename-command",
                "user",
                "loadmodule",
                "sentinel",
                "foo.bar",
            ]
        );
        assert_eq!(config.get_one("save").as_deref(), Some("900 1 300 10"));
        assert_eq!(config.get_one("replica-read-only").as_deref(), Some("no"));
        // save "" then save: the first line resets, the second adds.
        let mut config = Config::default();
        config.apply_text("save \"\"\nsave 100 1\n").unwrap();
        assert_eq!(config.get_one("save").as_deref(), Some("100 1"));
        let mut config = Config::default();
        config.apply_text("save \"\"").unwrap();
        assert_eq!(config.get_one("save").as_deref(), Some(""));
        // hz is clamped after reading.
        let mut config = Config::default();
        config.apply_text("hz 0").unwrap();
        assert_eq!(config.settings().hz, 1);
        // An error leaves the config untouched.
        let mut config = Config::default();
        assert!(config.apply_text("port 1\nfoo\n").is_err());
        assert_eq!(config.settings().port, 6379);
    }

    #[test]
    fn include_goes_through_the_reader() {
        let mut config = Config::default();
        let mut reader = |path: &str| -> Result<String, String> {
            match path {
                "/etc/a.conf" => Ok("port 7000\nmaxmemory 1mb\n".to_string()),
                "/etc/bad.conf" => Ok("port 1\nfoo\n".to_string()),
                "/etc/loop.conf" => Ok("include /etc/loop.conf\n".to_string()),
                _ => Err("No such file or directory".to_string()),
            }
        };
        config
            .apply_text_with_includes("include /etc/a.conf\nhz 20\n", &mut reader)
            .unwrap();
        assert_eq!(config.settings().port, 7000);
        assert_eq!(config.settings().maxmemory_bytes, 1024 * 1024);
        assert_eq!(config.settings().hz, 20);
        let err = config
            .apply_text_with_includes("include /etc/bad.conf", &mut reader)
            .unwrap_err();
        assert_eq!(err.line_no(), Some(2));
        let err = config
            .apply_text_with_includes("include /nonexistent", &mut reader)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Fatal error, can't open config file '/nonexistent': No such file or directory"
        );
        assert!(config
            .apply_text_with_includes("include /etc/loop.conf", &mut reader)
            .is_err());
        assert!(Config::default().apply_text("include /etc/a.conf").is_err());
    }

    #[test]
    fn multi_arg_directive_given_one_argument_is_split_as_redis_does() {
        let mut c = Config::default();
        c.apply_text("client-output-buffer-limit \"pubsub 1mb 512kb 60\"\nsave \"900 1 300 10\"\n")
            .expect("Redis accepts one quoted argument for a multi-argument directive");
        assert_eq!(
            c.get_one("client-output-buffer-limit").as_deref(),
            Some("normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 60")
        );
        assert_eq!(c.get_one("save").as_deref(), Some("900 1 300 10"));
        // An empty argument is not split: `save ""` still clears the save points.
        let mut c = Config::default();
        c.apply_text("save 900 1\nsave \"\"\n").expect("valid");
        assert_eq!(c.get_one("save").as_deref(), Some(""));
    }

    #[test]
    fn split_args_like_sdssplitargs() {
        let words = |s: &str| {
            split_args(s.as_bytes()).map(|v| v.into_iter().map(|w| lossy(&w)).collect::<Vec<_>>())
        };
        assert_eq!(words("a  b\tc").unwrap(), ["a", "b", "c"]);
        assert_eq!(words("\"a b\" 'c d'").unwrap(), ["a b", "c d"]);
        assert_eq!(
            words("\"\\x41\\n\\\"\" '\\'x\\n'").unwrap(),
            ["A\n\"", "'x\\n"]
        );
        assert_eq!(words("foo\"bar\" x").unwrap(), ["foobar", "x"]);
        assert_eq!(words("\"\"").unwrap(), [""]);
        assert_eq!(words("\"\\xZZ\"").unwrap(), ["xZZ"]);
        assert!(words("\"a\"b").is_none());
        assert!(words("'a'b").is_none());
        assert!(words("\"abc").is_none());
        assert!(words("").unwrap().is_empty());
        let parsed = parse_config_text("# c\n\nPort 1\n  x \"y z\"  \n").unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0].directive, "port");
        assert_eq!(parsed[0].line_no, 3);
        assert_eq!(parsed[1].args, ["y z"]);
        assert_eq!(parsed[1].text, "x \"y z\"");
        let err = parse_config_text("a\n'b").unwrap_err();
        assert_eq!(err.line_no(), Some(2));
    }

    #[test]
    fn args_to_config_text_like_redis_server() {
        let conv = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
            args_to_config_text(&args)
        };
        assert_eq!(
            conv(&["--port", "7000", "--save", ""]).unwrap(),
            "port \"7000\" \nsave \"\" "
        );
        assert_eq!(
            conv(&["--port", "1234", "--bind", "127.0.0.1", "::1"]).unwrap(),
            "port \"1234\" \nbind \"127.0.0.1\" \"::1\" "
        );
        assert_eq!(
            conv(&["--port", "7", "--save"]).unwrap(),
            "port \"7\" \nsave \"\""
        );
        assert_eq!(
            conv(&["--save", "--port", "7"]).unwrap(),
            "save \"\"\nport \"7\" "
        );
        assert_eq!(
            conv(&["--port 6380", "--hz", "5"]).unwrap(),
            "port 6380 \nhz \"5\" "
        );
        assert_eq!(
            conv(&["--requirepass", "--x"]).unwrap(),
            "requirepass \"--x\" "
        );
        assert_eq!(
            conv(&["--sentinel", "--port", "1"]).unwrap(),
            "sentinel \nport \"1\" "
        );
        assert_eq!(
            conv(&["--loglevel", "a'b\"c\\d"]).unwrap(),
            "loglevel \"a'b\\\"c\\\\d\" "
        );
        assert_eq!(
            conv(&["--loglevel", "a\tb\u{1}é"]).unwrap(),
            "loglevel \"a\\tb\\x01\\xc3\\xa9\" "
        );
        assert_eq!(
            conv(&["extra", "--port", "1"]).unwrap(),
            "\"extra\" \nport \"1\" "
        );
        assert!(conv(&["-"]).is_err());
        assert!(conv(&["--port", "1", "-"]).is_err());

        let mut config = Config::default();
        let args = [
            "--port",
            "1234",
            "--bind",
            "127.0.0.1",
            "::1",
            "--requirepass",
            "a \"b\"\u{1}é",
        ];
        let text = join_config_text(None, &conv(&args).unwrap());
        config.apply_text(&text).unwrap();
        assert_eq!(config.settings().port, 1234);
        assert_eq!(config.get_one("bind").as_deref(), Some("127.0.0.1 ::1"));
        assert_eq!(
            config.settings().requirepass.as_deref(),
            Some("a \"b\"\u{1}é".as_bytes())
        );
        let mut config = Config::default();
        let text = join_config_text(None, &conv(&["--save", "--port", "7"]).unwrap());
        config.apply_text(&text).unwrap();
        assert_eq!(config.get_one("save").as_deref(), Some(""));
    }

    #[test]
    fn config_get_patterns_aliases_and_hidden() {
        let config = Config::default();
        let get = |pats: &[&str]| {
            let pats: Vec<&[u8]> = pats.iter().map(|p| p.as_bytes()).collect();
            config.get(&pats)
        };
        let pair = |k: &str, v: &str| (k.to_string(), v.to_string());
        assert_eq!(get(&["slaveof"]), [pair("slaveof", "")]);
        assert_eq!(get(&["SLAVEOF"]), [pair("SLAVEOF", "")]);
        assert_eq!(
            get(&["*max-*-entries*"]),
            [
                pair("hash-max-listpack-entries", "512"),
                pair("hash-max-ziplist-entries", "512"),
                pair("set-max-intset-entries", "512"),
                pair("zset-max-listpack-entries", "128"),
                pair("zset-max-ziplist-entries", "128"),
            ]
        );
        assert_eq!(
            get(&["*of", "replicaof", "slaveof"]),
            [pair("replicaof", ""), pair("slaveof", "")]
        );
        assert_eq!(get(&["port", "PORT", "p?rt"]), [pair("port", "6379")]);
        assert_eq!(
            get(&["SLAVEOF", "*of"]),
            [pair("SLAVEOF", ""), pair("replicaof", "")]
        );
        assert!(get(&["list-max-ziplist-entries", "nonexist", "include"]).is_empty());
        assert_eq!(get(&["KEY-LOAD-DELAY"]), [pair("KEY-LOAD-DELAY", "0")]);
        assert!(get(&["*delay*"])
            .iter()
            .all(|(k, _)| k.starts_with("repl-dis")));
        assert_eq!(get(&["*"]).len(), 192);
    }

    #[test]
    fn config_set_errors_like_redis() {
        let mut c = Config::default();
        let failed = |name: &str, why: &str| {
            format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {why}")
        };
        let cases: &[(&str, &str, String)] = &[
            (
                "maxmemory",
                "foo",
                failed("maxmemory", "argument must be a memory value"),
            ),
            (
                "maxmemory",
                "-1",
                failed("maxmemory", "argument must be a memory value"),
            ),
            (
                "MAXMEMORY",
                " 5",
                failed("maxmemory", "argument must be a memory value"),
            ),
            (
                "port",
                "70000",
                failed("port", "argument must be between 0 and 65535 inclusive"),
            ),
            (
                "port",
                "01",
                failed("port", "argument couldn't be parsed into an integer"),
            ),
            (
                "port",
                "+5",
                failed("port", "argument couldn't be parsed into an integer"),
            ),
            (
                "daemonize",
                "yes",
                failed("daemonize", "can't set immutable config"),
            ),
            (
                "Daemonize",
                "yes",
                failed("Daemonize", "can't set immutable config"),
            ),
            (
                "foo",
                "bar",
                "ERR Unknown option or number of arguments for CONFIG SET - 'foo'".to_string(),
            ),
            (
                "protected-mode",
                "maybe",
                failed("protected-mode", "argument must be 'yes' or 'no'"),
            ),
            (
                "SLAVE-READ-ONLY",
                "foo",
                failed("slave-read-only", "argument must be 'yes' or 'no'"),
            ),
            (
                "maxclients",
                "-5",
                failed(
                    "maxclients",
                    "argument must be between 1 and 4294967295 inclusive",
                ),
            ),
            (
                "hash-max-listpack-entries",
                "-1",
                failed(
                    "hash-max-listpack-entries",
                    "argument must be between 0 and 9223372036854775807 inclusive",
                ),
            ),
            (
                "slowlog-max-len",
                "-1",
                failed(
                    "slowlog-max-len",
                    "argument must be between 0 and 9223372036854775807 inclusive",
                ),
            ),
            (
                "maxmemory-clients",
                "200%",
                failed(
                    "maxmemory-clients",
                    "percentage argument must be less or equal to 100",
                ),
            ),
            (
                "maxmemory-clients",
                "-5",
                failed(
                    "maxmemory-clients",
                    "argument must be a memory or percent value",
                ),
            ),
            ("dir", "/tmp", failed("dir", "can't set protected config")),
            (
                "dbfilename",
                "a/b",
                failed("dbfilename", "can't set protected config"),
            ),
            (
                "include",
                "x",
                "ERR Unknown option or number of arguments for CONFIG SET - 'include'".to_string(),
            ),
            (
                "oom-score-adj-values",
                "1 2",
                failed("oom-score-adj-values", "wrong number of arguments"),
            ),
            ("save", "1 2 3", failed("save", "Invalid save parameters")),
            (
                "save",
                "100 1  200 2",
                failed("save", "Invalid save parameters"),
            ),
            (
                "save",
                "\"100\" 1",
                failed("save", "Invalid save parameters"),
            ),
            (
                "client-output-buffer-limit",
                "master 1 1 1",
                failed(
                    "client-output-buffer-limit",
                    "Invalid client class specified in buffer limit configuration.",
                ),
            ),
            (
                "client-output-buffer-limit",
                "normal 1 1 -1",
                failed(
                    "client-output-buffer-limit",
                    "Error in hard, soft or soft_seconds setting in buffer limit configuration.",
                ),
            ),
            (
                "latency-tracking-info-percentiles",
                "50 abc",
                failed(
                    "latency-tracking-info-percentiles",
                    "Invalid latency-tracking-info-percentiles parameters",
                ),
            ),
            (
                "latency-tracking-info-percentiles",
                "50 101",
                failed(
                    "latency-tracking-info-percentiles",
                    "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]",
                ),
            ),
            (
                "proto-max-bulk-len",
                "1",
                failed(
                    "proto-max-bulk-len",
                    "argument must be between 1048576 and 9223372036854775807 inclusive",
                ),
            ),
            (
                "cluster-announce-hostname",
                "a b",
                failed(
                    "cluster-announce-hostname",
                    "Hostnames may only contain alphanumeric characters, hyphens or dots",
                ),
            ),
            (
                "proc-title-template",
                "{title}",
                failed(
                    "proc-title-template",
                    "template format is invalid or contains unknown variables",
                ),
            ),
            (
                "proc-title-template",
                "{listen-addr",
                failed(
                    "proc-title-template",
                    "template format is invalid or contains unknown variables",
                ),
            ),
            (
                "proc-title-template",
                "   ",
                failed(
                    "proc-title-template",
                    "template format is invalid or contains unknown variables",
                ),
            ),
            (
                "shutdown-on-sigint",
                "",
                failed(
                    "shutdown-on-sigint",
                    "argument(s) must be one of the following: default, save, nosave, now, force",
                ),
            ),
        ];
        for (name, value, expected) in cases {
            assert_eq!(
                set1(&mut c, name, value).as_ref(),
                Err(expected),
                "{name} {value}"
            );
        }
        assert_eq!(c, Config::default());
        let dup: &[(&[u8], &[u8])] = &[(b"maxmemory", b"1"), (b"maxmemory", b"2")];
        assert_eq!(c.set(dup), Err(failed("maxmemory", "duplicate parameter")));
        let alias_pair: &[(&[u8], &[u8])] =
            &[(b"slave-read-only", b"yes"), (b"replica-read-only", b"no")];
        assert_eq!(c.set(alias_pair), Ok(()));
        assert_eq!(c.get_one("slave-read-only").as_deref(), Some("no"));
        let first_wins: &[(&[u8], &[u8])] = &[(b"daemonize", b"yes"), (b"foo", b"1")];
        assert_eq!(
            c.set(first_wins),
            Err(failed("daemonize", "can't set immutable config"))
        );
        let first_wins: &[(&[u8], &[u8])] = &[(b"foo", b"1"), (b"daemonize", b"yes")];
        assert!(c.set(first_wins).unwrap_err().contains("Unknown option"));
        // Protected directives follow enable-protected-configs.
        let mut c = Config::default();
        c.apply_text("enable-protected-configs local").unwrap();
        assert!(set1(&mut c, "dir", "/x").is_err());
        let dir: &[(&[u8], &[u8])] = &[(b"dir", b"/x")];
        assert_eq!(c.set_for_client(dir, true), Ok(()));
        assert_eq!(lossy(&c.settings().dir), "/x");
    }

    #[test]
    fn config_set_is_atomic() {
        let mut c = Config::default();
        let pairs: &[(&[u8], &[u8])] = &[(b"maxmemory", b"100mb"), (b"loglevel", b"loud")];
        assert_eq!(
            c.set(pairs),
            Err("ERR CONFIG SET failed (possibly related to argument 'loglevel') - argument(s) must be one of the following: debug, verbose, notice, warning".to_string())
        );
        assert_eq!(c.settings().maxmemory_bytes, 0);
        assert_eq!(c, Config::default());
        let pairs: &[(&[u8], &[u8])] = &[(b"maxmemory", b"100mb"), (b"loglevel", b"WARNING")];
        assert_eq!(c.set(pairs), Ok(()));
        assert_eq!(c.settings().maxmemory_bytes, 100 * 1024 * 1024);
        assert_eq!(c.settings().loglevel.name(), "warning");
    }

    #[test]
    fn config_set_bind_refuses_lists_no_listen_can_take() {
        let fail = |name: &str, why: &str| {
            Err(format!(
                "ERR CONFIG SET failed (possibly related to argument '{name}') - {why}"
            ))
        };
        let bind_failed = fail("bind", "Failed to bind to specified addresses.");
        let port_failed = fail("port", "Unable to listen on this port. Check server logs.");
        let mut c = Config::default();
        // Not addresses (Redis's getaddrinfo fails, even for `-` ones), and lists whose
        // addresses take the same socket (EADDRINUSE).
        for bad in [
            "999.1.1.1",
            "-999.1.1.1",
            "abc",
            "--127.0.0.1",
            "127.0.0.1 999.1.1.1",
            " 127.0.0.1",
            "127.0.0.1 127.0.0.1",
            "-127.0.0.1 127.0.0.1",
            "* 127.0.0.1",
            "* 0.0.0.0",
            "::1 ::*",
            "::1 0:0:0:0:0:0:0:1",
        ] {
            assert_eq!(set1(&mut c, "bind", bad), bind_failed, "{bad:?}");
            assert_eq!(set1(&mut c, "BIND", bad), bind_failed, "{bad:?}");
        }
        assert_eq!(c, Config::default());
        // Anything else passes, as it does where Redis can listen.
        for good in [
            "127.0.0.1",
            "-8.8.8.8",
            "* -::*",
            "::* *",
            "127.0.0.1 ::1",
            "127.0.0.1 127.0.0.2",
            "",
        ] {
            assert_eq!(set1(&mut c, "bind", good), Ok(()), "{good:?}");
            assert_eq!(c.get_one("bind").as_deref(), Some(good));
        }
        // Every value is set before any is applied, and nothing changes on failure.
        let pairs: &[(&[u8], &[u8])] = &[(b"bind", b"999.1.1.1"), (b"maxmemory", b"foo")];
        assert_eq!(
            c.set(pairs),
            fail("maxmemory", "argument must be a memory value")
        );
        let pairs: &[(&[u8], &[u8])] = &[(b"maxmemory", b"5mb"), (b"bind", b"999.1.1.1")];
        assert_eq!(c.set(pairs), bind_failed);
        assert_eq!(c.settings().maxmemory_bytes, 0);
        // With port 0 Redis listens nowhere and takes any list; a later port change fails
        // naming whichever of the two comes first.
        assert_eq!(set1(&mut c, "port", "0"), Ok(()));
        assert_eq!(set1(&mut c, "bind", "999.1.1.1"), Ok(()));
        assert_eq!(set1(&mut c, "port", "7001"), port_failed);
        let pairs: &[(&[u8], &[u8])] = &[(b"port", b"7001"), (b"bind", b"999.1.1.1")];
        assert_eq!(c.set(pairs), port_failed);
        let pairs: &[(&[u8], &[u8])] = &[(b"bind", b"999.1.1.1"), (b"port", b"7001")];
        assert_eq!(c.set(pairs), bind_failed);
        let pairs: &[(&[u8], &[u8])] = &[(b"bind", b"* -::*"), (b"port", b"7001")];
        assert_eq!(c.set(pairs), Ok(()));
        // An unchanged port is not applied again: the bind list is to blame.
        let pairs: &[(&[u8], &[u8])] = &[(b"port", b"7001"), (b"bind", b"999.1.1.1")];
        assert_eq!(c.set(pairs), bind_failed);
        assert_eq!(c.settings().port, 7001);
    }

    #[test]
    fn config_set_errors_echo_the_clients_bytes() {
        let mut c = Config::default();
        let pairs: &[(&[u8], &[u8])] = &[(b"fo\xad\0o", b"1")];
        assert_eq!(
            c.set_for_client(pairs, false),
            Err(b"ERR Unknown option or number of arguments for CONFIG SET - 'fo\xad'".to_vec())
        );
    }

    #[test]
    fn config_set_values_render_like_redis() {
        let mut c = Config::default();
        let cases: &[(&str, &str, &str)] = &[
            ("maxmemory", "1GB", "1073741824"),
            ("maxmemory", "5k", "5000"),
            ("maxmemory", "5b", "5"),
            ("maxmemory", "", "0"),
            ("maxmemory", "99999999999999999999", "18446744073709551615"),
            ("maxmemory", "20000000000gb", "3028092406290448384"),
            ("maxmemory-clients", "50%", "50%"),
            ("maxmemory-clients", "1kb", "1024"),
            ("hz", "1000", "500"),
            ("hz", "0", "1"),
            ("protected-mode", "NO", "no"),
            ("maxmemory-policy", "ALLKEYS-LRU", "allkeys-lru"),
            ("oom-score-adj", "relative", "yes"),
            ("acl-pubsub-default", "allchannels", "allchannels"),
            ("notify-keyspace-events", "Elgx", "glxE"),
            ("notify-keyspace-events", "nA", "A"),
            ("notify-keyspace-events", "mnEKdtexzhsl", "lshzxetdnKEm"),
            ("notify-keyspace-events", "g$lshzxetd", "A"),
            ("notify-keyspace-events", "", ""),
            ("oom-score-adj-values", "1 2 3", "1 2 3"),
            ("save", "", ""),
            ("save", "1 2 99 ", "1 2 99 0"),
            ("save", "3600 1 300 100 60 10000", "3600 1 300 100 60 10000"),
            (
                "client-output-buffer-limit",
                "normal 1mb 2k 3 pubsub 1 1 1",
                "normal 1048576 2000 3 slave 268435456 67108864 60 pubsub 1 1 1",
            ),
            (
                "client-output-buffer-limit",
                "replica 5 5 5",
                "normal 1048576 2000 3 slave 5 5 5 pubsub 1 1 1",
            ),
            (
                "client-output-buffer-limit",
                "normal 1 1 01",
                "normal 1 1 1 slave 5 5 5 pubsub 1 1 1",
            ),
            ("shutdown-on-sigint", "force now save", "save now force"),
            ("shutdown-on-sigint", "default save", "save"),
            (
                "latency-tracking-info-percentiles",
                "1.5 99.90 0.001 1e1",
                "1.5 99.9 0.001 10",
            ),
            (
                "latency-tracking-info-percentiles",
                "0 100 33.3333333",
                "0 100 33.333333",
            ),
            ("latency-tracking-info-percentiles", "", ""),
            ("key-load-delay", "5", "5"),
            ("proc-title-template", "{{ x", "{{ x"),
            ("proc-title-template", "{config-file}", "{config-file}"),
            ("requirepass", "s3cret", "s3cret"),
            ("bind", "", ""),
        ];
        for (name, value, shown) in cases {
            assert_eq!(set1(&mut c, name, value), Ok(()), "{name} {value}");
            assert_eq!(c.get_one(name).as_deref(), Some(*shown), "{name} {value}");
        }
        assert_eq!(c.settings().requirepass.as_deref(), Some(&b"s3cret"[..]));
        assert!(c.settings().bind.is_empty());
        assert_eq!(
            c.settings().notify_keyspace_events_flags,
            0,
            "last notify-keyspace-events set was empty"
        );
    }

    /// What a round-trip case expects of the typed settings.
    type Check = fn(&Settings) -> bool;

    /// (directive, value set, CONFIG GET afterwards, what `settings()` must then hold).
    /// Every value differs from the default, so a binding that writes the wrong field
    /// (or none) fails.
    #[rustfmt::skip]
    const ROUND_TRIPS: &[(&str, &str, &str, Check)] = &[
        ("active-expire-effort", "7", "7", |s| s.active_expire_effort == 7),
        ("always-show-logo", "yes", "yes", |s| s.always_show_logo),
        ("appenddirname", "aofdir", "aofdir", |s| s.appenddirname == b"aofdir"),
        ("appendfilename", "x.aof", "x.aof", |s| s.appendfilename == b"x.aof"),
        ("appendfsync", "always", "always", |s| s.appendfsync == AppendFsync::Always),
        ("appendonly", "yes", "yes", |s| s.appendonly),
        ("aof-disable-auto-gc", "yes", "yes", |s| s.aof_disable_auto_gc),
        ("aof-load-truncated", "no", "no", |s| !s.aof_load_truncated),
        ("aof-timestamp-enabled", "yes", "yes", |s| s.aof_timestamp_enabled),
        ("aof-use-rdb-preamble", "no", "no", |s| !s.aof_use_rdb_preamble),
        ("auto-aof-rewrite-min-size", "1mb", "1048576", |s| s.auto_aof_rewrite_min_size_bytes == 1 << 20),
        ("auto-aof-rewrite-percentage", "50", "50", |s| s.auto_aof_rewrite_percentage == 50),
        ("bind", "127.0.0.1 ::1", "127.0.0.1 ::1", |s| s.bind == [b"127.0.0.1".to_vec(), b"::1".to_vec()]),
        (
            "client-output-buffer-limit",
            "pubsub 1mb 512kb 30",
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 30",
            |s| {
                s.client_output_buffer_limits[2]
                    == ClientOutputBufferLimit { hard_limit_bytes: 1 << 20, soft_limit_bytes: 1 << 19, soft_limit_secs: 30 }
            },
        ),
        ("client-query-buffer-limit", "2mb", "2097152", |s| s.client_query_buffer_limit_bytes == 2 << 20),
        ("cluster-enabled", "yes", "yes", |s| s.cluster_enabled),
        ("daemonize", "yes", "yes", |s| s.daemonize),
        ("databases", "32", "32", |s| s.databases == 32),
        ("dbfilename", "x.rdb", "x.rdb", |s| s.dbfilename == b"x.rdb"),
        ("dir", "/tmp", "/tmp", |s| s.dir == b"/tmp"),
        ("enable-debug-command", "local", "local", |s| s.enable_debug_command == Allowed::Local),
        ("enable-protected-configs", "yes", "yes", |s| s.enable_protected_configs == Allowed::Yes),
        ("hash-max-listpack-entries", "100", "100", |s| s.hash_max_listpack_entries == 100),
        ("hash-max-listpack-value", "32", "32", |s| s.hash_max_listpack_value_bytes == 32),
        ("hz", "1000", "500", |s| s.hz == 500),
        ("latency-monitor-threshold", "100", "100", |s| s.latency_monitor_threshold_ms == 100),
        ("latency-tracking", "no", "no", |s| !s.latency_tracking),
        ("latency-tracking-info-percentiles", "50 99.99", "50 99.99", |s| s.latency_tracking_info_percentiles == [50.0, 99.99]),
        ("lazyfree-lazy-eviction", "yes", "yes", |s| s.lazyfree_lazy_eviction),
        ("lazyfree-lazy-expire", "yes", "yes", |s| s.lazyfree_lazy_expire),
        ("lazyfree-lazy-server-del", "yes", "yes", |s| s.lazyfree_lazy_server_del),
        ("lazyfree-lazy-user-del", "yes", "yes", |s| s.lazyfree_lazy_user_del),
        ("lazyfree-lazy-user-flush", "yes", "yes", |s| s.lazyfree_lazy_user_flush),
        ("lfu-decay-time", "3", "3", |s| s.lfu_decay_time_mins == 3),
        ("lfu-log-factor", "20", "20", |s| s.lfu_log_factor == 20),
        ("list-max-listpack-size", "-3", "-3", |s| s.list_max_listpack_size == -3),
        ("logfile", "/tmp/keel.log", "/tmp/keel.log", |s| s.logfile == b"/tmp/keel.log"),
        ("loglevel", "warning", "warning", |s| s.loglevel == LogLevel::Warning),
        ("maxclients", "50", "50", |s| s.maxclients == 50),
        ("maxmemory", "100mb", "104857600", |s| s.maxmemory_bytes == 100 << 20),
        ("maxmemory-policy", "allkeys-lfu", "allkeys-lfu", |s| s.maxmemory_policy == MaxmemoryPolicy::AllkeysLfu),
        ("maxmemory-samples", "9", "9", |s| s.maxmemory_samples == 9),
        ("maxmemory-clients", "10%", "10%", |s| s.maxmemory_clients == -10),
        ("maxmemory-eviction-tenacity", "42", "42", |s| s.maxmemory_eviction_tenacity == 42),
        ("min-replicas-max-lag", "20", "20", |s| s.min_replicas_max_lag_secs == 20),
        ("min-replicas-to-write", "2", "2", |s| s.min_replicas_to_write == 2),
        ("notify-keyspace-events", "Kx", "xK", |s| s.notify_keyspace_events_flags == NOTIFY_KEYSPACE | NOTIFY_EXPIRED),
        ("pidfile", "/tmp/keel.pid", "/tmp/keel.pid", |s| s.pidfile == b"/tmp/keel.pid"),
        ("port", "7001", "7001", |s| s.port == 7001),
        ("protected-mode", "no", "no", |s| !s.protected_mode),
        ("proto-max-bulk-len", "2mb", "2097152", |s| s.proto_max_bulk_len_bytes == 2 << 20),
        ("rdbchecksum", "no", "no", |s| !s.rdbchecksum),
        ("rdbcompression", "no", "no", |s| !s.rdbcompression),
        ("repl-backlog-size", "2mb", "2097152", |s| s.repl_backlog_size_bytes == 2 << 20),
        ("repl-backlog-ttl", "100", "100", |s| s.repl_backlog_ttl_secs == 100),
        ("repl-diskless-sync", "no", "no", |s| !s.repl_diskless_sync),
        ("repl-diskless-sync-delay", "0", "0", |s| s.repl_diskless_sync_delay_secs == 0),
        ("repl-diskless-sync-max-replicas", "3", "3", |s| s.repl_diskless_sync_max_replicas == 3),
        ("repl-ping-replica-period", "2", "2", |s| s.repl_ping_replica_period_secs == 2),
        ("repl-timeout", "30", "30", |s| s.repl_timeout_secs == 30),
        ("replica-read-only", "no", "no", |s| !s.replica_read_only),
        ("masterauth", "pw", "pw", |s| s.masterauth.as_deref() == Some(&b"pw"[..])),
        ("masteruser", "u", "u", |s| s.masteruser.as_deref() == Some(&b"u"[..])),
        ("replica-announce-ip", "10.1.1.1", "10.1.1.1", |s| s.replica_announce_ip.as_deref() == Some(&b"10.1.1.1"[..])),
        ("replica-announce-port", "7000", "7000", |s| s.replica_announce_port == 7000),
        ("replica-announced", "no", "no", |s| !s.replica_announced),
        ("replica-priority", "7", "7", |s| s.replica_priority == 7),
        ("replica-serve-stale-data", "no", "no", |s| !s.replica_serve_stale_data),
        ("replicaof", "10.0.0.1 6380", "10.0.0.1 6380", |s| s.replicaof == Some((b"10.0.0.1".to_vec(), 6380))),
        ("requirepass", "s3cret", "s3cret", |s| s.requirepass.as_deref() == Some(&b"s3cret"[..])),
        ("save", "900 1", "900 1", |s| s.save_points == [SavePoint { after_secs: 900, min_changes: 1 }]),
        ("set-max-intset-entries", "64", "64", |s| s.set_max_intset_entries == 64),
        ("shutdown-on-sigint", "save", "save", |s| s.shutdown_on_sigint == SHUTDOWN_SAVE),
        ("shutdown-on-sigterm", "nosave force", "nosave force", |s| s.shutdown_on_sigterm == SHUTDOWN_NOSAVE | SHUTDOWN_FORCE),
        ("shutdown-timeout", "3", "3", |s| s.shutdown_timeout_s == 3),
        ("slowlog-log-slower-than", "-1", "-1", |s| s.slowlog_log_slower_than_us.is_none()),
        ("slowlog-max-len", "10", "10", |s| s.slowlog_max_len == 10),
        ("stop-writes-on-bgsave-error", "no", "no", |s| !s.stop_writes_on_bgsave_error),
        ("syslog-enabled", "yes", "yes", |s| s.syslog_enabled),
        ("syslog-facility", "local7", "local7", |s| s.syslog_facility == 184),
        ("syslog-ident", "keel", "keel", |s| s.syslog_ident == b"keel"),
        ("tcp-backlog", "128", "128", |s| s.tcp_backlog == 128),
        ("tcp-keepalive", "60", "60", |s| s.tcp_keepalive_secs == 60),
        ("timeout", "30", "30", |s| s.timeout_secs == 30),
        ("unixsocket", "/tmp/keel.sock", "/tmp/keel.sock", |s| s.unixsocket == b"/tmp/keel.sock"),
        ("zset-max-listpack-entries", "64", "64", |s| s.zset_max_listpack_entries == 64),
        ("zset-max-listpack-value", "32", "32", |s| s.zset_max_listpack_value_bytes == 32),
    ];

    /// Sets one directive the way a user can: CONFIG SET, or the config file for the
    /// immutable and protected ones.
    fn set_any(c: &mut Config, d: &Directive, value: &str) -> Result<(), String> {
        if d.mutability == Mutability::Modifiable {
            return set1(c, d.name, value);
        }
        let line = if d.kind.is_multi_arg() {
            format!("{} {value}", d.name)
        } else {
            format!("{} \"{value}\"", d.name)
        };
        c.apply_text(&line).map(|_| ()).map_err(|e| e.to_string())
    }

    #[test]
    fn every_directive_keel_acts_on_is_bound_to_a_setting() {
        for d in DIRECTIVES {
            if d.implemented {
                assert!(
                    d.bind.is_some(),
                    "{} is acted on but has no Settings field",
                    d.name
                );
            }
            assert_eq!(
                d.bind.is_some(),
                ROUND_TRIPS.iter().any(|(name, ..)| *name == d.name),
                "{}: every binding needs a round-trip case (and only bindings have one)",
                d.name
            );
        }
        assert!(DIRECTIVES
            .iter()
            .all(|d| d.clamp.is_none() || d.bind.is_some()));
    }

    #[test]
    fn every_binding_round_trips_set_settings_get() {
        let defaults = Config::default();
        for &(name, value, shown, check) in ROUND_TRIPS {
            let d = lookup(name).unwrap();
            assert!(
                !check(defaults.settings()),
                "{name}: {value} must not be the default"
            );
            let mut c = defaults.clone();
            set_any(&mut c, d, value).unwrap_or_else(|e| panic!("{name} {value}: {e}"));
            assert!(check(c.settings()), "{name} {value}: {:?}", c.settings());
            assert_eq!(c.get_one(name).as_deref(), Some(shown), "{name} {value}");
            // Back to the default: every other field was left alone.
            let default = if name == "replicaof" {
                "no one"
            } else {
                d.default
            };
            set_any(&mut c, d, default).unwrap_or_else(|e| panic!("{name} {default}: {e}"));
            assert_eq!(
                c.settings(),
                defaults.settings(),
                "{name} back to {default}"
            );
        }
    }

    #[test]
    fn a_failed_change_leaves_settings_alone() {
        let mut c = Config::default();
        let before = c.settings().clone();
        // The first pair is valid, the second not: CONFIG SET is all or nothing.
        assert!(c.set(&[(b"maxmemory", b"1mb"), (b"hz", b"x")]).is_err());
        assert!(c.apply_text("maxmemory 1mb\nhz x\n").is_err());
        assert_eq!(c.settings(), &before);
        assert_eq!(c.get_one("maxmemory").as_deref(), Some("0"));
    }

    /// Deterministic fuzz: nothing panics on arbitrary input.
    #[test]
    fn no_panics_on_garbage() {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet: &[&str] = &[
            " ",
            "  ",
            "\t",
            "\n",
            "\r",
            "\"",
            "'",
            "\\",
            "\\x",
            "4",
            "1",
            "0",
            "-",
            "%",
            "#",
            "k",
            "gb",
            "mb",
            "yes",
            "no",
            "*",
            "?",
            "[",
            "]",
            "{",
            "}",
            "title",
            ".",
            "é",
            "\u{0}",
            "\u{b}",
            "99999999999999999999",
            "save",
            "bind",
            "port",
            "include",
            "client-output-buffer-limit",
            "normal",
            "replicaof",
            "slaveof",
            "hz",
            "maxmemory",
            "notify-keyspace-events",
            "latency-tracking-info-percentiles",
            "sentinel",
            "A",
            "proc-title-template",
            "oom-score-adj-values",
            "shutdown-on-sigint",
            "1e999",
        ];
        let names: Vec<&str> = DIRECTIVES.iter().map(|d| d.name).collect();
        for _ in 0..3000 {
            let mut text = String::new();
            let len = next() % 24;
            for _ in 0..len {
                let pick = usize::try_from(next() % alphabet.len() as u64).unwrap_or(0);
                text.push_str(alphabet[pick]);
            }
            let mut c = Config::default();
            let _ = c.apply_text(&text);
            let _ = parse_config_text(&text);
            let name = names[usize::try_from(next() % names.len() as u64).unwrap_or(0)];
            let _ = c.set(&[(name.as_bytes(), text.as_bytes())]);
            let _ = c.get(&[text.as_bytes(), b"*".as_slice()]);
            let _ = c.apply_text(&format!("{name} {text}"));
            let args: Vec<String> = text.split(' ').map(str::to_string).collect();
            if let Ok(t) = args_to_config_text(&args) {
                let _ = Config::default().apply_text(&t);
            }
            // Whatever was accepted, the typed settings still say what CONFIG GET says.
            let s = c.settings();
            assert_eq!(c.get_one("port"), Some(s.port.to_string()));
            assert_eq!(c.get_one("hz"), Some(s.hz.to_string()));
            assert_eq!(c.get_one("maxmemory"), Some(s.maxmemory_bytes.to_string()));
            assert_eq!(c.get_one("loglevel").as_deref(), Some(s.loglevel.name()));
        }
    }
}
