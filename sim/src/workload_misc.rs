//! The wide workload's SORT / SORT_RO, LCS, DUMP and RESTORE requests (judged by
//! `model_misc`). SORT reads the collection keys and,
//! through BY / GET patterns, the wide string keys `x0..x2` and the hashes' `f0`
//! fields; a list `n0` of numbers gives numeric SORT something to sort. RESTORE sends
//! the payloads of `model_misc::PAYLOADS` by name (`<dump:NAME>`).

use rand::Rng;
use rand_chacha::ChaCha8Rng;

use crate::workload::{b, pick, TYPED_PREFIXES};

/// A key SORT, DUMP and RESTORE work on: a collection key, now and then a string key
/// (WRONGTYPE for SORT) or the numeric list.
fn any_key(rng: &mut ChaCha8Rng) -> Vec<u8> {
    match rng.gen_range(0..10) {
        0 => b(pick(rng, &["x0", "x1", "x2"])),
        1 | 2 => b("n0"),
        _ => format!(
            "{}{}",
            TYPED_PREFIXES[rng.gen_range(0..4)],
            rng.gen_range(0..3)
        )
        .into_bytes(),
    }
}

fn sort_request(rng: &mut ChaCha8Rng) -> Vec<Vec<u8>> {
    let read_only = rng.gen_bool(0.2);
    let mut r = vec![b(if read_only { "SORT_RO" } else { "SORT" }), any_key(rng)];
    // ALPHA with a BY pattern leaves ties in qsort's order: never both.
    let alpha = rng.gen_bool(0.4);
    for _ in 0..rng.gen_range(0..=3) {
        match rng.gen_range(0..9) {
            0 => r.push(b(pick(rng, &["ASC", "DESC", "desc"]))),
            1 if !alpha => r.extend([b("BY"), b(pick(rng, &["x*", "h*->f0", "x*->"]))]),
            1 | 2 => r.extend([b("BY"), b("nosort")]),
            3 | 4 => r.extend([
                b("LIMIT"),
                b(pick(rng, &["0", "1", "2", "-1"])),
                b(pick(rng, &["1", "2", "-1", "0"])),
            ]),
            5 | 6 => r.extend([b("GET"), b(pick(rng, &["#", "x*", "h*->f0", "nope"]))]),
            7 if !read_only || rng.gen_bool(0.1) => {
                r.extend([b("STORE"), b(pick(rng, &["l2", "n1", "x2"]))])
            }
            _ if rng.gen_bool(0.05) => r.push(b(pick(rng, &["FOO", "LIMIT"]))),
            _ => {}
        }
    }
    if alpha {
        r.push(b("ALPHA"));
    }
    r
}

fn lcs_request(rng: &mut ChaCha8Rng) -> Vec<Vec<u8>> {
    let key = |rng: &mut ChaCha8Rng| {
        if rng.gen_bool(0.05) {
            b(pick(rng, &["l0", "h1"]))
        } else {
            b(pick(rng, &["x0", "x1", "x2", "x3"]))
        }
    };
    let mut r = vec![b("LCS"), key(rng), key(rng)];
    match rng.gen_range(0..6) {
        0 => r.push(b("LEN")),
        1 | 2 => {
            r.push(b("IDX"));
            if rng.gen_bool(0.5) {
                r.extend([b("MINMATCHLEN"), b(pick(rng, &["0", "1", "2", "-1"]))]);
            }
            if rng.gen_bool(0.5) {
                r.push(b("WITHMATCHLEN"));
            }
        }
        3 if rng.gen_bool(0.2) => match rng.gen_range(0..3) {
            0 => r.extend([b("LEN"), b("IDX")]),
            1 => r.push(b("MINMATCHLEN")),
            _ => r.push(b("FOO")),
        },
        _ => {}
    }
    r
}

fn restore_request(rng: &mut ChaCha8Rng, now_ms: u64) -> Vec<Vec<u8>> {
    let payload = pick(
        rng,
        &[
            "hello", "int", "list", "set", "intset", "zset", "hash", "bad",
        ],
    );
    let mut absttl = false;
    let ttl = match rng.gen_range(0..10) {
        0..=4 => "0".to_string(),
        5..=7 => rng.gen_range(1..400).to_string(),
        8 => {
            absttl = true;
            (now_ms + rng.gen_range(0..3000)).to_string()
        }
        _ => pick(rng, &["-1", "x"]).to_string(),
    };
    let mut r = vec![
        b("RESTORE"),
        any_key(rng),
        ttl.into_bytes(),
        format!("<dump:{payload}>").into_bytes(),
    ];
    if rng.gen_bool(0.5) {
        r.push(b("REPLACE"));
    }
    if absttl {
        r.push(b("ABSTTL"));
    }
    match rng.gen_range(0..8) {
        0 => r.extend([b("IDLETIME"), b(pick(rng, &["5", "0", "-1"]))]),
        1 => r.extend([b("FREQ"), b(pick(rng, &["3", "255", "256"]))]),
        2 if rng.gen_bool(0.2) => r.extend([b("IDLETIME"), b("1"), b("FREQ"), b("2")]),
        _ => {}
    }
    r
}

/// One request of this family.
pub fn random_misc_request(rng: &mut ChaCha8Rng, now_ms: u64) -> Vec<Vec<u8>> {
    match rng.gen_range(0..20) {
        0..=6 => sort_request(rng),
        7..=9 => lcs_request(rng),
        10 | 11 => vec![b("DUMP"), any_key(rng)],
        12..=14 => restore_request(rng, now_ms),
        15..=17 => {
            let mut r = vec![b("RPUSH"), b(pick(rng, &["n0", "n0", "n1"]))];
            for _ in 0..rng.gen_range(1..=3) {
                r.push(b(pick(rng, &["3", "10", "-2", "1.5", " 1", "0", "2", "1"])));
            }
            r
        }
        _ => vec![b(pick(rng, &["LPOP", "RPOP"])), b("n0")],
    }
}
