//! DEBUG subcommands beyond the basics in `server.rs`: the ones client libraries and
//! test suites use (PROTOCOL to exercise every RESP3 type, ERROR to fake LOADING,
//! READONLY or OOM replies) and the knobs Redis's own tests turn. Replies and error
//! texts are Redis 7.0.15's.

use super::{Argv, Ctx};
use crate::io::LogLevel;
use crate::resp::Proto;
use crate::types::Value;

/// Runs a DEBUG subcommand `server::debug` does not know; false when this one does
/// not either (the caller answers Redis's unknown-subcommand error).
pub(super) fn more(ctx: &mut Ctx<'_>, argv: &Argv<'_>) -> bool {
    let argc = argv.len();
    if argv.is(1, "protocol") && argc == 3 {
        protocol(ctx, argv.get(2));
    } else if argv.is(1, "error") && argc == 3 {
        // The argument is the whole error line, code included ("LOADING ...").
        ctx.out().error_bytes(argv.get(2));
    } else if argv.is(1, "log") && argc == 3 {
        let text = String::from_utf8_lossy(argv.get(2)).into_owned();
        ctx.server
            .log(LogLevel::Warning, format!("DEBUG LOG: {text}"));
        ctx.out().ok();
    } else if argv.is(1, "change-repl-id") && argc == 2 {
        let mut id = [0u8; 20];
        rand::RngCore::fill_bytes(&mut ctx.server.rng, &mut id);
        // Redis's changeReplicationId + clearReplicationId2.
        let repl = &mut ctx.server.repl;
        repl.replid = id.iter().map(|b| format!("{b:02x}")).collect();
        repl.replid2 = crate::repl::NO_REPLID.to_string();
        repl.second_replid_offset = -1;
        ctx.server.log(
            LogLevel::Warning,
            "Changing replication IDs after receiving DEBUG change-repl-id".into(),
        );
        ctx.out().ok();
    } else if argv.is(1, "quicklist-packed-threshold") && argc == 3 {
        // Redis's quicklistisSetPackedThreshold: up to 4 GB less 1 MB; 0 restores 1 GB.
        match crate::config::memtoull(argv.get(2)) {
            Some(bytes) if bytes <= (1u64 << 32) - (1 << 20) => {
                ctx.server.quicklist_packed_threshold_bytes =
                    if bytes == 0 { 1 << 30 } else { bytes };
                ctx.out().ok();
            }
            _ => ctx
                .out()
                .error("ERR argument must be a memory value bigger than 1 and smaller than 4gb"),
        }
    } else if argv.is(1, "listpack") && argc == 3 {
        encoding_dump(ctx, argv.get(2), "listpack", "Listpack");
    } else if argv.is(1, "quicklist") && (3..=4).contains(&argc) {
        encoding_dump(ctx, argv.get(2), "quicklist", "Quicklist");
    } else if argv.is(1, "replybuffer") && argc == 4 {
        // keel's reply buffers are sized per batch; the knobs are accepted as Redis does.
        if argv.is(2, "peak-reset-time") {
            let arg = argv.get(3);
            let keyword = arg.eq_ignore_ascii_case(b"never") || arg.eq_ignore_ascii_case(b"reset");
            if keyword || crate::util::parse_i64(arg).is_some() {
                ctx.out().ok();
            } else {
                ctx.out().error(super::errors::NOT_INTEGER);
            }
        } else if argv.is(2, "resizing") {
            ctx.out().ok();
        } else {
            return false;
        }
    } else if argv.is(1, "pause-cron") && argc == 3 {
        // Redis reads the flag with atoi: leading digits, anything else is 0.
        let digits = argv
            .get(2)
            .iter()
            .skip_while(|b| b.is_ascii_whitespace())
            .skip_while(|b| matches!(b, b'+' | b'-'))
            .take_while(|b| b.is_ascii_digit())
            .any(|&b| b != b'0');
        ctx.server.cron_paused = digits;
        ctx.out().ok();
    } else if argv.is(1, "stringmatch-test") && argc == 2 {
        stringmatch_test(ctx);
    } else if argv.is(1, "reload") {
        reload(ctx, argv);
    } else if argv.is(1, "client-eviction") && argc == 2 {
        ctx.out().error("ERR maxmemory-clients is disabled.");
    } else {
        return false;
    }
    true
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE] (Redis 7.0's options, any order, repeats
/// allowed): the node saves, empties and loads the RDB file, then answers
/// (`node::persist`); other clients get -LOADING while the file loads, as in Redis.
fn reload(ctx: &mut Ctx<'_>, argv: &Argv<'_>) {
    let (mut save, mut flush, mut merge) = (true, true, false);
    for j in 2..argv.len() {
        if argv.is(j, "merge") {
            merge = true;
        } else if argv.is(j, "noflush") {
            flush = false;
        } else if argv.is(j, "nosave") {
            save = false;
        } else {
            ctx.out()
                .error("ERR DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
            return;
        }
    }
    if ctx.client.may_not_block() {
        // Redis reloads inside the command; keel's reload takes disk round trips,
        // which a transaction cannot wait for.
        ctx.out()
            .error("ERR DEBUG RELOAD is not supported inside MULTI/EXEC by keel");
        return;
    }
    ctx.client.blocked = true;
    let conn = ctx.client.conn;
    ctx.server
        .persist
        .requests
        .push(crate::server::PersistRequest::DebugReload {
            conn,
            save,
            flush,
            merge,
        });
}

/// Patterns and texts DEBUG STRINGMATCH-TEST tries (Redis: 1,000,000 of up to 32 bytes).
const STRINGMATCH_TEST_ROUNDS: usize = 100_000;
const STRINGMATCH_TEST_MAX_BYTES: usize = 32;

/// DEBUG STRINGMATCH-TEST: Redis's `stringmatchlen_fuzz_test`, random patterns (glob
/// metacharacters likely) against random texts; passing means nothing panicked.
fn stringmatch_test(ctx: &mut Ctx<'_>) {
    use rand::{Rng, SeedableRng};
    let seed: u64 = ctx.server.rng.gen();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    const ALPHABET: &[u8] = b"*?[]\\^-ab";
    let draw = |rng: &mut rand_chacha::ChaCha8Rng| -> Vec<u8> {
        let len = rng.gen_range(0..=STRINGMATCH_TEST_MAX_BYTES);
        (0..len)
            .map(|_| {
                if rng.gen_bool(0.5) {
                    ALPHABET
                        .get(rng.gen_range(0..ALPHABET.len()))
                        .copied()
                        .unwrap_or(b'*')
                } else {
                    rng.gen()
                }
            })
            .collect()
    };
    for _ in 0..STRINGMATCH_TEST_ROUNDS {
        let pattern = draw(&mut rng);
        let text = draw(&mut rng);
        let nocase = rng.gen_bool(0.5);
        std::hint::black_box(crate::glob::glob_match(&pattern, &text, nocase));
    }
    ctx.out()
        .simple("Apparently Redis did not crash: test passed");
}

/// DEBUG LISTPACK / QUICKLIST: Redis prints the structure on its stdout and says so;
/// keel writes a summary to its log.
fn encoding_dump(ctx: &mut Ctx<'_>, key: &[u8], encoding: &str, title: &str) {
    let db = ctx.db();
    let now_ms = ctx.now.wall_ms;
    let Some(id) = ctx.keyspace.lookup(db, key, now_ms) else {
        ctx.out().error(super::errors::NO_SUCH_KEY);
        return;
    };
    let summary = match ctx.keyspace.value(db, id) {
        Some(v) if v.encoding_name() == encoding => Some(summary(v)),
        _ => None,
    };
    match summary {
        Some(text) => {
            ctx.server.log(
                LogLevel::Notice,
                format!("{title} of key '{}': {text}", String::from_utf8_lossy(key)),
            );
            ctx.out()
                .simple(&format!("{title} structure printed on stdout"));
        }
        None => ctx
            .out()
            .error(&format!("ERR Not a {encoding} encoded object.")),
    }
}

fn summary(v: &Value) -> String {
    let elements = match v {
        Value::Hash(h) => h.len(),
        Value::List(l) => l.len(),
        Value::Set(s) => s.len(),
        Value::ZSet(z) => z.len(),
        Value::Str(_) => 1,
    };
    format!(
        "type {} encoding {} elements {elements} heap bytes {}",
        v.type_name(),
        v.encoding_name(),
        v.heap_bytes()
    )
}

/// DEBUG PROTOCOL: one test value of each RESP3 type, with Redis's RESP2 fallbacks.
fn protocol(ctx: &mut Ctx<'_>, name: &[u8]) {
    let out = ctx.out();
    let resp3 = out.proto == Proto::Resp3;
    match name.to_ascii_lowercase().as_slice() {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.int(12345),
        b"double" => out.double_text(b"3.141"),
        b"bignum" => out.big_number(b"1234567999999999999999999999999999999"),
        b"null" => out.null(),
        b"array" => {
            out.array(3);
            for j in 0..3 {
                out.int(j);
            }
        }
        b"set" => {
            out.set(3);
            for j in 0..3 {
                out.int(j);
            }
        }
        b"map" => {
            out.map(3);
            for j in 0..3 {
                out.int(j);
                out.boolean(j == 1);
            }
        }
        b"attrib" => {
            if resp3 {
                out.attribute(1);
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            // RESP2 clients get only the reply the attribute describes.
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !resp3 {
                out.error("ERR RESP2 is not supported by this command");
                return;
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        b"verbatim" => out.verbatim(b"This is a verbatim\nstring"),
        b"true" => out.boolean(true),
        b"false" => out.boolean(false),
        _ => out.error(
            "ERR Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ),
    }
}
