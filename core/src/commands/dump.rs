//! DUMP and RESTORE (Redis's `cluster.c`): a key's value as an RDB payload with
//! Redis's version and CRC64 trailer, and back. RESTORE propagates a relative TTL as
//! an absolute one (`... ABSTTL`), and an already-expired RESTORE ... REPLACE as DEL,
//! as Redis 7.0 does.

use super::{arg_i64, cmd, errors, Argv, CommandSpec, Ctx};
use crate::keyspace::HashSeeds;
use crate::notify;
use crate::persist::rdb::{dump_payload_with, loaded_access, restore_payload, LoadLimits};

pub static COMMANDS: &[CommandSpec] = &[
    cmd!("dump", 2, [READONLY], dump),
    cmd!("restore", -4, [WRITE, DENYOOM], restore),
];

const BUSYKEY: &str = "BUSYKEY Target key name already exists.";

fn dump(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let db = ctx.db();
    let (now_ms, secs) = (ctx.now.wall_ms, ctx.now.mono_secs());
    let key = argv.get(1);
    let found = if ctx.client.no_touch {
        ctx.keyspace.lookup(db, key, now_ms)
    } else {
        ctx.keyspace.lookup_touch(db, key, now_ms, secs)
    };
    let compression = ctx.server.config.settings().rdbcompression;
    let Some(value) = found.and_then(|id| ctx.keyspace.value(db, id)) else {
        ctx.server.stats.keyspace_misses += 1;
        ctx.notify(notify::KEY_MISS, "keymiss", key);
        ctx.out().null();
        return;
    };
    let payload = dump_payload_with(value, compression);
    ctx.server.stats.keyspace_hits += 1;
    ctx.out().bulk(&payload);
}

/// RESTORE's options, parsed in Redis's order (errors written).
struct RestoreOptions {
    replace: bool,
    absttl: bool,
    lru_idle_secs: Option<u64>,
    lfu_freq: Option<u8>,
}

fn restore_options(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> Option<RestoreOptions> {
    let mut o = RestoreOptions {
        replace: false,
        absttl: false,
        lru_idle_secs: None,
        lfu_freq: None,
    };
    let mut j = 4;
    while j < argv.len() {
        let more = j + 1 < argv.len();
        if argv.is(j, "replace") {
            o.replace = true;
        } else if argv.is(j, "absttl") {
            o.absttl = true;
        } else if argv.is(j, "idletime") && more && o.lfu_freq.is_none() {
            let idle = arg_i64(ctx, argv, j + 1)?;
            let Ok(idle) = u64::try_from(idle) else {
                ctx.out().error("ERR Invalid IDLETIME value, must be >= 0");
                return None;
            };
            o.lru_idle_secs = Some(idle);
            j += 1;
        } else if argv.is(j, "freq") && more && o.lru_idle_secs.is_none() {
            let freq = arg_i64(ctx, argv, j + 1)?;
            let Ok(freq) = u8::try_from(freq) else {
                ctx.out()
                    .error("ERR Invalid FREQ value, must be >= 0 and <= 255");
                return None;
            };
            o.lfu_freq = Some(freq);
            j += 1;
        } else {
            ctx.out().error(errors::SYNTAX);
            return None;
        }
        j += 1;
    }
    Some(o)
}

fn restore(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let Some(opts) = restore_options(ctx, argv) else {
        return;
    };
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    let key = argv.get(1);
    let exists = ctx.keyspace.lookup(db, key, now_ms).is_some();
    if exists && !opts.replace {
        ctx.out().error(BUSYKEY);
        return;
    }
    let Some(ttl) = arg_i64(ctx, argv, 2) else {
        return;
    };
    if ttl < 0 {
        ctx.out().error("ERR Invalid TTL value, must be >= 0");
        return;
    }
    let limits = {
        use rand::Rng;
        let rng = &mut ctx.server.rng;
        let seeds = HashSeeds([rng.gen(), rng.gen(), rng.gen(), rng.gen()]);
        LoadLimits::from_settings(ctx.server.config.settings(), seeds)
    };
    let value = match restore_payload(argv.get(3), &limits) {
        Ok(v) => v,
        Err(e) => {
            ctx.out().error(e.reply_text());
            return;
        }
    };
    let deleted = opts.replace && ctx.keyspace.delete(db, key, now_ms);
    let expire_at_ms = match (ttl, opts.absttl) {
        (0, _) => None,
        (t, true) => Some(t),
        (t, false) => Some(t.saturating_add(now_ms as i64)),
    };
    if let Some(at) = expire_at_ms {
        // Redis's checkAlreadyExpired: the key would be gone at once.
        if at <= now_ms as i64 && !ctx.keyspace.loading {
            if deleted {
                ctx.propagate_as(|| vec![b"DEL".to_vec(), key.to_vec()]);
                ctx.key_modified(key);
                ctx.notify(notify::GENERIC, "del", key);
            }
            ctx.keyspace.dispose(value);
            ctx.out().ok();
            return;
        }
    }
    let lfu = ctx.keyspace.access.lfu;
    let access = loaded_access(
        lfu,
        ctx.keyspace.now_secs,
        opts.lru_idle_secs,
        opts.lfu_freq,
    )
    .unwrap_or_else(|| ctx.keyspace.fresh_access());
    let d = ctx.keyspace.db_mut(db);
    let id = d.insert(key, value);
    d.touch(id, access);
    if let Some(at) = expire_at_ms {
        d.set_expire(id, at as u64);
        if !opts.absttl {
            // Propagate the TTL as an absolute time, as Redis rewrites argv[2] and
            // appends ABSTTL.
            ctx.propagate_as(|| {
                let mut parts: Vec<Vec<u8>> = argv.iter().map(<[u8]>::to_vec).collect();
                if let Some(t) = parts.get_mut(2) {
                    *t = at.to_string().into_bytes();
                }
                parts.push(b"ABSTTL".to_vec());
                parts
            });
        }
    }
    ctx.notify(notify::NEW, "new", key);
    ctx.key_modified(key);
    ctx.notify(notify::GENERIC, "restore", key);
    ctx.out().ok();
}

#[cfg(test)]
mod tests {
    use crate::testkit::{Kit, START};

    fn lines(kit: &mut Kit) -> Vec<String> {
        kit.node()
            .take_propagated()
            .iter()
            .map(|r| {
                r.argv
                    .iter()
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    }

    fn payload(kit: &mut Kit) -> Vec<u8> {
        let reply = kit.cmd_on(0, 1, &[b"DUMP", b"src"]);
        // `$N\r\n<payload>\r\n`
        let start = reply.iter().position(|&b| b == b'\n').unwrap() + 1;
        reply[start..reply.len() - 2].to_vec()
    }

    #[test]
    fn restore_propagates_ttls_as_absolute_and_expired_replace_as_del() {
        let mut kit = Kit::new("");
        kit.node().enable_propagation();
        kit.connect(1);
        assert_eq!(kit.cmd(1, "SET src hello"), "+OK\r\n");
        let p = payload(&mut kit);
        lines(&mut kit);
        let ok = b"+OK\r\n".to_vec();
        assert_eq!(kit.cmd_on(0, 1, &[b"RESTORE", b"a", b"5000", &p]), ok);
        assert_eq!(
            kit.cmd_on(0, 1, &[b"RESTORE", b"b", b"0", &p, b"IDLETIME", b"100"]),
            ok
        );
        // Already expired: nothing happens without REPLACE, a DEL with it.
        assert_eq!(
            kit.cmd_on(0, 1, &[b"RESTORE", b"c", b"1", &p, b"ABSTTL"]),
            ok
        );
        assert_eq!(
            kit.cmd_on(0, 1, &[b"RESTORE", b"b", b"1", &p, b"ABSTTL", b"REPLACE"]),
            ok
        );
        let wall = START.wall_ms;
        let text = String::from_utf8_lossy(&p).into_owned();
        assert_eq!(
            lines(&mut kit),
            vec![
                format!("RESTORE a {} {text} ABSTTL", wall + 5000),
                format!("RESTORE b 0 {text} IDLETIME 100"),
                "DEL b".to_string(),
            ]
        );
        assert_eq!(kit.cmd(1, "EXISTS a b c"), ":1\r\n");
        assert_eq!(kit.cmd(1, "PEXPIRETIME a"), format!(":{}\r\n", wall + 5000));
    }

    #[test]
    fn restore_sets_idle_time_and_frequency() {
        let mut kit = Kit::new("");
        kit.connect(1);
        kit.cmd(1, "SET src hello");
        let p = payload(&mut kit);
        kit.cmd_on(0, 1, &[b"RESTORE", b"idle", b"0", &p, b"IDLETIME", b"1000"]);
        assert_eq!(kit.cmd(1, "OBJECT IDLETIME idle"), ":1000\r\n");
        kit.cmd(1, "CONFIG SET maxmemory-policy allkeys-lfu");
        kit.cmd_on(0, 1, &[b"RESTORE", b"freq", b"0", &p, b"FREQ", b"77"]);
        assert_eq!(kit.cmd(1, "OBJECT FREQ freq"), ":77\r\n");
        assert_eq!(
            String::from_utf8_lossy(&kit.cmd_on(0, 1, &[b"RESTORE", b"freq", b"0", &p])),
            "-BUSYKEY Target key name already exists.\r\n"
        );
    }
}
