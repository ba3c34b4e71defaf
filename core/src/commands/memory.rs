//! MEMORY (Redis's `object.c` memoryCommand): USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE.
//! keel accounts memory per object exactly as it changes, so USAGE is exact at any
//! SAMPLES count (Redis estimates nested values from samples); the argument is still
//! parsed and refused as Redis refuses it.

use super::{cmd, errors, reply_help, Argv, CommandSpec, Ctx};

pub static COMMANDS: &[CommandSpec] = &[cmd!(
    "memory",
    -2,
    [],
    memory_help,
    subcommands: SUBCOMMANDS
)];

static SUBCOMMANDS: &[CommandSpec] = &[
    cmd!("doctor", 2, [], doctor),
    cmd!("help", 2, [LOADING, STALE], memory_help),
    cmd!("malloc-stats", 2, [], malloc_stats),
    cmd!("purge", 2, [], purge),
    cmd!("stats", 2, [], stats),
    cmd!("usage", -3, [READONLY], usage),
];

/// Below this much memory DOCTOR declines to judge (Redis: 5 MB).
const DOCTOR_MIN_USED_BYTES: usize = 5 << 20;

fn memory_help(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    reply_help(
        ctx.out(),
        "MEMORY",
        &[
            "DOCTOR",
            "    Return memory problems reports.",
            "MALLOC-STATS",
            "    Return internal statistics report from the memory allocator.",
            "PURGE",
            "    Attempt to purge dirty pages for reclamation by the allocator.",
            "STATS",
            "    Return information about the memory usage of the server.",
            "USAGE <key> [SAMPLES <count>]",
            "    Return memory in bytes used by <key> and its value. Nested values are",
            "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    );
}

/// `MEMORY USAGE key [SAMPLES count]`: the key's bytes (slot, index share, key and
/// value payload). Like Redis it finds the key without expiring it or counting a hit.
fn usage(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let mut j = 3;
    while j < argv.len() {
        if argv.is(j, "samples") && j + 1 < argv.len() {
            match crate::util::parse_i64(argv.get(j + 1)) {
                None => {
                    ctx.out().error(errors::NOT_INTEGER);
                    return;
                }
                Some(n) if n < 0 => {
                    ctx.out().error(errors::SYNTAX);
                    return;
                }
                Some(_) => {}
            }
            j += 2;
        } else {
            ctx.out().error(errors::SYNTAX);
            return;
        }
    }
    let db = ctx.keyspace.db(ctx.db());
    match db.find(argv.get(2)) {
        Some(id) => {
            let bytes = db.entry_bytes(id);
            ctx.out().int(i64::try_from(bytes).unwrap_or(i64::MAX));
        }
        None => ctx.out().null(),
    }
}

fn doctor(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let used = ctx.used_memory_bytes();
    let report: &str = if used < DOCTOR_MIN_USED_BYTES {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n"
    } else {
        // keel has no allocator fragmentation view of its own, no replicas and no
        // AOF buffers: of Redis's checks only the big-client ones could fire, and
        // output limits bound those.
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
    };
    ctx.out().verbatim(report.as_bytes());
}

fn malloc_stats(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    // Redis built without jemalloc answers this; keel uses the system allocator.
    ctx.out()
        .bulk(b"Stats not supported for the current allocator");
}

/// Redis purges jemalloc's dirty pages; keel asks its driver to do what its allocator
/// allows (keel-server: glibc's `malloc_trim`).
fn purge(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    ctx.server.effects.push_back(crate::io::Effect::PurgeMemory);
    ctx.out().ok();
}

/// `MEMORY STATS`: Redis's fields, from keel's logical accounting (and the RSS a
/// production driver reports). keel does not track a peak separately yet: the peak
/// fields report the current figure, as INFO's `used_memory_peak` does.
fn stats(ctx: &mut Ctx<'_>, _argv: &Argv<'_>) {
    let used = ctx.used_memory_bytes() as u64;
    let startup = crate::clients::BASELINE_USED_BYTES as u64;
    let clients = ctx.clients.memory_bytes() as u64;
    let rss = ctx.server.rss_bytes.unwrap_or(used);
    let keys: u64 = (0..ctx.keyspace.databases())
        .map(|i| ctx.keyspace.db(i).len() as u64)
        .sum();
    let dbs: Vec<(usize, u64, u64)> = (0..ctx.keyspace.databases())
        .filter_map(|i| {
            let db = ctx.keyspace.db(i);
            (!db.is_empty()).then(|| {
                (
                    i,
                    db.overhead_bytes() as u64,
                    db.volatile_overhead_bytes() as u64,
                )
            })
        })
        .collect();
    let overhead = startup + clients + dbs.iter().map(|(_, m, e)| m + e).sum::<u64>();
    let dataset = used.saturating_sub(overhead);
    let net = used.saturating_sub(startup).max(1);
    let out = ctx.out();
    out.map(27 + dbs.len());
    let int = |out: &mut crate::resp::ReplyBuf, name: &str, v: u64| {
        out.bulk(name.as_bytes());
        out.int(i64::try_from(v).unwrap_or(i64::MAX));
    };
    int(out, "peak.allocated", used);
    int(out, "total.allocated", used);
    int(out, "startup.allocated", startup);
    int(out, "replication.backlog", 0);
    int(out, "clients.slaves", 0);
    int(out, "clients.normal", clients);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", 0);
    int(out, "lua.caches", 0);
    int(out, "functions.caches", 0);
    for (i, main, expires) in &dbs {
        out.bulk(format!("db.{i}").as_bytes());
        out.map(3);
        int(out, "overhead.hashtable.main", *main);
        int(out, "overhead.hashtable.expires", *expires);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", overhead);
    int(out, "keys.count", keys);
    int(
        out,
        "keys.bytes-per-key",
        net.checked_div(keys).unwrap_or(0),
    );
    int(out, "dataset.bytes", dataset);
    out.bulk(b"dataset.percentage");
    out.double(dataset as f64 * 100.0 / net as f64);
    out.bulk(b"peak.percentage");
    out.double(100.0);
    int(out, "allocator.allocated", used);
    int(out, "allocator.active", used);
    int(out, "allocator.resident", rss);
    out.bulk(b"allocator-fragmentation.ratio");
    out.double(1.0);
    int(out, "allocator-fragmentation.bytes", 0);
    out.bulk(b"allocator-rss.ratio");
    out.double(rss as f64 / used.max(1) as f64);
    int(out, "allocator-rss.bytes", rss.saturating_sub(used));
    out.bulk(b"rss-overhead.ratio");
    out.double(1.0);
    int(out, "rss-overhead.bytes", 0);
    out.bulk(b"fragmentation");
    out.double(rss as f64 / used.max(1) as f64);
    int(out, "fragmentation.bytes", rss.saturating_sub(used));
}
