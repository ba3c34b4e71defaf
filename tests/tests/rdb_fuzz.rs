//! A mutation fuzzer for the RDB loader and RESTORE, brief by default so CI runs it on
//! every build (`KEEL_FUZZ_ITERS=N` runs longer; `KEEL_FUZZ_SEED` picks the seed).
//! Seeds are real files: one keel wrote with every type and encoding, and hand-built
//! payloads of the older encodings. Each mutant (flips, splices of huge length
//! prefixes, truncations, duplicated ranges) goes to `RdbReader` in random chunks and,
//! with a correct CRC so the value parser is reached, to RESTORE's `restore_payload`.
//! Checked: no panic, every error names an offset inside the input, and — through a
//! counting allocator — the peak memory of one parse stays within a constant factor
//! of the input's size (a length prefix of 2^60 is not an allocation).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use keel_core::persist::rdb::{
    crc64::crc64, dump_payload, restore_payload, AuxValue, KeyRecord, LoadLimits, RdbOptions,
    RdbReader, RdbWriter,
};
use keel_core::types::hash::HashLimits;
use keel_core::types::list::ListLimits;
use keel_core::types::zset::ZSetLimits;
use keel_core::types::{Hash, List, Set, StrValue, Value, ZSet};

/// Counts live heap bytes and their peak (this binary holds one test, so nothing else
/// allocates meanwhile but the test harness's idle threads).
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = System.realloc(ptr, layout, new_size);
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed) + new_size
                    - layout.size();
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Runs `f` and returns its result and the peak heap growth above the start.
fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let r = f();
    (r, PEAK.load(Ordering::Relaxed).saturating_sub(base))
}

/// What one parse may allocate: values cost more than their file bytes (table slots,
/// chunk headers), but by a bounded factor, plus fixed buffers.
fn allowed_bytes(input_len: usize) -> usize {
    input_len * 96 + (512 << 10)
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn small_limits() -> LoadLimits {
    LoadLimits {
        list: ListLimits::from_fill(3),
        hash: HashLimits {
            max_listpack_entries: 4,
            max_listpack_value_bytes: 16,
        },
        zset: ZSetLimits {
            max_listpack_entries: 4,
            max_listpack_value_bytes: 16,
        },
        set_max_intset_entries: 4,
        ..LoadLimits::default()
    }
}

/// Values of every type in both encodings.
fn seed_values() -> Vec<Value> {
    let limits = small_limits();
    let mut seeds = || [1u64, 2, 3, 4];
    let mut out = vec![
        Value::Str(StrValue::from_set(b"12345")),
        Value::Str(StrValue::from_set(&[b'a'; 80])),
        Value::Str(StrValue::from_set(b"\x00\xffbinary")),
    ];
    for n in [2usize, 9] {
        let mut l = List::new(limits.list);
        let mut h = Hash::new();
        let mut s = Set::default();
        let mut t = Set::default();
        let mut z = ZSet::new();
        for i in 0..n {
            let e = format!("e{i}");
            l.push_back(e.as_bytes());
            l.push_back(i.to_string().as_bytes());
            h.set(e.as_bytes(), i.to_string().as_bytes(), limits.hash, seeds);
            s.add(
                i.to_string().as_bytes(),
                limits.set_max_intset_entries,
                &mut seeds,
            );
            t.add(e.as_bytes(), limits.set_max_intset_entries, &mut seeds);
            z.set_score(e.as_bytes(), i as f64 * 1.5, limits.zset, seeds);
        }
        out.extend([
            Value::List(Box::new(l)),
            Value::Hash(h),
            Value::Set(s),
            Value::Set(t),
            Value::ZSet(Box::new(z)),
        ]);
    }
    out
}

fn seed_file(values: &[Value]) -> Vec<u8> {
    let mut w = RdbWriter::new(RdbOptions {
        compression: true,
        checksum: true,
    });
    let mut out = Vec::new();
    w.header(
        &[
            ("redis-ver", AuxValue::Str(b"7.0.15")),
            ("ctime", AuxValue::Int(1)),
        ],
        &mut out,
    );
    w.select_db(0, values.len() as u64, 1, &mut out);
    for (i, v) in values.iter().enumerate() {
        let key = format!("k{i}");
        w.entry(
            &KeyRecord {
                key: key.as_bytes(),
                value: v,
                expire_ms: (i == 0).then_some(1 << 42),
                lru_idle_secs: Some(i as u64),
                lfu_freq: None,
            },
            &mut out,
        );
    }
    w.finish(&mut out);
    out
}

/// Legacy encodings as RESTORE bodies (type byte + value): ziplist list, zipmap hash,
/// intset, text-score zset.
fn legacy_bodies() -> Vec<Vec<u8>> {
    let ziplist = b"\x10\x00\x00\x00\x0d\x00\x00\x00\x02\x00\x00\x01a\x03\xf2\xff".to_vec();
    let mut zl = vec![10, ziplist.len() as u8];
    zl.extend_from_slice(&ziplist);
    let zipmap = b"\x01\x01a\x02\x00hi\xff";
    let mut zm = vec![9, zipmap.len() as u8];
    zm.extend_from_slice(zipmap);
    vec![
        zl,
        zm,
        b"\x0b\x0c\x02\x00\x00\x00\x02\x00\x00\x00\x01\x00\x05\x00".to_vec(),
        b"\x03\x01\x01a\x032.5".to_vec(),
    ]
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let n = v.len().max(1);
        match rng.below(7) {
            0 => {
                if let Some(b) = v.get_mut(rng.below(n)) {
                    *b ^= 1 << rng.below(8);
                }
            }
            1 => {
                if let Some(b) = v.get_mut(rng.below(n)) {
                    *b = rng.next() as u8;
                }
            }
            2 => v.truncate(rng.below(n + 1)),
            3 => {
                // A huge length prefix spliced in.
                let at = rng.below(n + 1).min(v.len());
                let huge: &[u8] = match rng.below(3) {
                    0 => &[0x81, 0x10, 0, 0, 0, 0, 0, 0, 0],
                    1 => &[0x80, 0xff, 0xff, 0xff, 0xff],
                    _ => &[
                        0xc3, 0x81, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x81, 0x7f,
                        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                    ],
                };
                v.splice(at..at, huge.iter().copied());
            }
            4 => {
                let a = rng.below(n).min(v.len());
                let len = rng.below(32).min(v.len() - a);
                let chunk = v[a..a + len].to_vec();
                let at = rng.below(v.len() + 1);
                v.splice(at..at, chunk);
            }
            5 => {
                let at = rng.below(n).min(v.len());
                let len = rng.below(8).min(v.len() - at);
                v.drain(at..at + len);
            }
            _ => {
                if let Some(b) = v.get_mut(rng.below(n)) {
                    *b = [0, 0x40, 0x80, 0xc0, 0xff, 0xfe, 0x0f][rng.below(7)];
                }
            }
        }
    }
    v
}

fn with_footer(body: &[u8]) -> Vec<u8> {
    let mut p = body.to_vec();
    p.extend_from_slice(&10u16.to_le_bytes());
    let crc = crc64(0, &p);
    p.extend_from_slice(&crc.to_le_bytes());
    p
}

fn feed_reader(rng: &mut Rng, bytes: &[u8], limits: LoadLimits) {
    let mut r = RdbReader::new(limits);
    let mut at = 0;
    let drain = |r: &mut RdbReader| loop {
        match r.next() {
            Ok(Some(_)) => continue,
            Ok(None) => return true,
            Err(e) => {
                assert!(
                    e.offset <= bytes.len() as u64,
                    "offset {} past {} bytes: {e}",
                    e.offset,
                    bytes.len()
                );
                assert!(e.to_string().contains(" at offset "), "{e}");
                return false;
            }
        }
    };
    while at < bytes.len() {
        let n = 1 + rng.below(300);
        let end = (at + n).min(bytes.len());
        r.feed(&bytes[at..end]);
        at = end;
        if !drain(&mut r) {
            return;
        }
    }
    r.end_of_input();
    drain(&mut r);
}

#[test]
fn fuzz_rdb_reader_and_restore() {
    let iters: usize = std::env::var("KEEL_FUZZ_ITERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3000);
    let seed: u64 = std::env::var("KEEL_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed_f00d);
    let values = seed_values();
    let file = seed_file(&values);
    let mut bodies: Vec<Vec<u8>> = values
        .iter()
        .map(|v| {
            let p = dump_payload(v);
            p[..p.len() - 10].to_vec()
        })
        .collect();
    bodies.extend(legacy_bodies());
    // The seeds themselves load.
    let mut rng = Rng(seed);
    feed_reader(&mut rng, &file, small_limits());
    for b in &bodies {
        restore_payload(&with_footer(b), &small_limits())
            .unwrap_or_else(|e| panic!("seed body refused: {e}"));
    }
    // Hand-made worst cases: 2^60-byte strings and collections.
    for t in [0u8, 2, 4, 18, 5] {
        let mut body = vec![t, 0x81];
        body.extend_from_slice(&(1u64 << 60).to_be_bytes());
        body.extend_from_slice(b"\x01a\x01b");
        let payload = with_footer(&body);
        let (r, peak) = peak_during(|| restore_payload(&payload, &small_limits()));
        assert!(r.is_err());
        assert!(
            peak < 64 << 10,
            "type {t}: {peak} bytes for a 2^60 length prefix"
        );
    }
    for i in 0..iters {
        let input = mutate(&mut rng, &file);
        let limits = if i % 2 == 0 {
            small_limits()
        } else {
            LoadLimits {
                verify_checksum: false,
                ..LoadLimits::default()
            }
        };
        let mut chunk_rng = Rng(rng.next() | 1);
        let ((), peak) = peak_during(|| feed_reader(&mut chunk_rng, &input, limits));
        assert!(
            peak <= allowed_bytes(input.len()),
            "iteration {i}: {peak} bytes for {} input bytes",
            input.len()
        );
        let pick = rng.below(bodies.len());
        let body = mutate(&mut rng, &bodies[pick]);
        let payload = with_footer(&body);
        let (_, peak) = peak_during(|| restore_payload(&payload, &small_limits()));
        assert!(
            peak <= allowed_bytes(payload.len()),
            "iteration {i}: RESTORE took {peak} bytes for {} payload bytes",
            payload.len()
        );
        // And the raw mutant, CRC and all.
        let _ = restore_payload(&mutate(&mut rng, &payload), &LoadLimits::default());
    }
}
