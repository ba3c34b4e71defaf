//! LZF as Redis uses it for RDB strings: a compressor that emits the same bytes as
//! liblzf 3.6 (HLOG 16, VERY_FAST, table starting empty), which the redis-server
//! packages of Debian and Ubuntu link, so DUMP payloads and RDB files match theirs
//! byte for byte; and a decompressor that checks every back-reference and grows its
//! output as bytes are produced (never by the length a file claims). Redis's vendored
//! copy differs in two details (it never starts a match in an input's last 4 bytes, and
//! checks output space after closing the literal run); every LZF decoder reads both.

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);

fn first(input: &[u8], ip: usize) -> u32 {
    let a = u32::from(input.get(ip).copied().unwrap_or(0));
    let b = u32::from(input.get(ip + 1).copied().unwrap_or(0));
    (a << 8) | b
}

fn next(v: u32, input: &[u8], ip: usize) -> u32 {
    (v << 8) | u32::from(input.get(ip + 2).copied().unwrap_or(0))
}

fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

/// liblzf's `lzf_compress` into at most `out_len` bytes; None when the result would
/// not fit (Redis then stores the string uncompressed).
/// liblzf's hash table: `HSIZE` slots indexed by `idx`. Zeroing 256 KiB for every
/// short string made saving 1M small values take seconds (wt-snap measured 9.8 s for
/// 1M 100-byte values), so a short input gets a small open-addressing map keyed by
/// the same slot numbers: lookups give exactly what the dense table would, so the
/// output bytes are unchanged.
// One table lives on the stack per `compress` call and is never moved or stored:
// the big inline variant is the point (no allocation for a short value).
#[allow(clippy::large_enum_variant)]
enum Table {
    Dense(Vec<u32>),
    /// The sparse map of a short input (most RDB values), on the stack: no allocation.
    Small {
        keys: [u32; SMALL_SLOTS],
        values: [u32; SMALL_SLOTS],
        mask: usize,
    },
    Sparse {
        /// Slot number + 1 (0 = empty), and the value stored for it.
        keys: Vec<u32>,
        values: Vec<u32>,
        mask: usize,
    },
}

/// Slots of the on-stack table: inputs up to half this many bytes use it.
const SMALL_SLOTS: usize = 512;

impl Table {
    fn new(in_len: usize) -> Table {
        if in_len >= HSIZE / 16 {
            return Table::Dense(vec![0u32; HSIZE]);
        }
        // At most `in_len` distinct slots are stored: load stays under one half.
        let cap = (in_len * 2).next_power_of_two().max(16);
        if cap <= SMALL_SLOTS {
            return Table::Small {
                keys: [0; SMALL_SLOTS],
                values: [0; SMALL_SLOTS],
                mask: cap - 1,
            };
        }
        Table::Sparse {
            keys: vec![0; cap],
            values: vec![0; cap],
            mask: cap - 1,
        }
    }

    /// The probe position of `slot` in a sparse table (its own slot or an empty one).
    fn probe(keys: &[u32], mask: usize, slot: usize) -> usize {
        let mut at = slot.wrapping_mul(0x9E37_79B1) & mask;
        for _ in 0..=mask {
            match keys.get(at) {
                Some(&k) if k != 0 && k as usize != slot + 1 => at = (at + 1) & mask,
                _ => return at,
            }
        }
        at
    }

    fn get(&self, slot: usize) -> u32 {
        let (keys, values, mask): (&[u32], &[u32], usize) = match self {
            Table::Dense(t) => return t.get(slot).copied().unwrap_or(0),
            Table::Small { keys, values, mask } => (keys, values, *mask),
            Table::Sparse { keys, values, mask } => (keys, values, *mask),
        };
        let at = Table::probe(keys, mask, slot);
        match keys.get(at) {
            Some(&k) if k as usize == slot + 1 => values.get(at).copied().unwrap_or(0),
            _ => 0,
        }
    }

    fn set(&mut self, slot: usize, value: u32) {
        let (keys, values, mask): (&mut [u32], &mut [u32], usize) = match self {
            Table::Dense(t) => {
                if let Some(s) = t.get_mut(slot) {
                    *s = value;
                }
                return;
            }
            Table::Small { keys, values, mask } => (keys, values, *mask),
            Table::Sparse { keys, values, mask } => (keys, values, *mask),
        };
        let at = Table::probe(keys, mask, slot);
        if let (Some(k), Some(v)) = (keys.get_mut(at), values.get_mut(at)) {
            *k = slot as u32 + 1;
            *v = value;
        }
    }
}

pub fn compress(input: &[u8], out_len: usize) -> Option<Vec<u8>> {
    compress_with(input, out_len, Table::new(input.len()))
}

fn compress_with(input: &[u8], out_len: usize, mut htab: Table) -> Option<Vec<u8>> {
    let in_len = input.len();
    if in_len < 3 || out_len == 0 {
        return None;
    }
    // Positions + 1 (0 = empty); liblzf never matches position 0 (`ref > in_data`).
    let mut out: Vec<u8> = Vec::with_capacity(out_len + 1);
    let mut lit = 0usize;
    let mut run_at = 0usize;
    out.push(0); // start run
    let byte = |i: usize| input.get(i).copied().unwrap_or(0);
    let mut ip = 0usize;
    let mut hval = first(input, ip);
    while ip < in_len - 2 {
        hval = next(hval, input, ip);
        let slot = idx(hval);
        let reference = htab.get(slot) as usize;
        htab.set(slot, ip as u32);
        let matched = reference > 0
            && reference < ip
            && ip - reference - 1 < MAX_OFF
            && byte(reference) == byte(ip)
            && byte(reference + 1) == byte(ip + 1)
            && byte(reference + 2) == byte(ip + 2);
        if matched {
            let off = ip - reference - 1;
            let mut len = 2usize;
            let maxlen = (in_len - ip - len).min(MAX_REF);
            // The exact space test, made before the literal run is closed.
            if out.len() + 3 + 1 >= out_len && out.len() - usize::from(lit == 0) + 3 + 1 >= out_len
            {
                return None;
            }
            // stop run
            if lit == 0 {
                out.pop();
            } else if let Some(h) = out.get_mut(run_at) {
                *h = (lit - 1) as u8;
            }
            let mut unrolled_mismatch = false;
            if maxlen > 16 {
                for _ in 0..16 {
                    len += 1;
                    if byte(reference + len) != byte(ip + len) {
                        unrolled_mismatch = true;
                        break;
                    }
                }
            }
            if !unrolled_mismatch {
                loop {
                    len += 1;
                    if !(len < maxlen && byte(reference + len) == byte(ip + len)) {
                        break;
                    }
                }
            }
            len -= 2;
            ip += 1;
            if len < 7 {
                out.push(((off >> 8) + (len << 5)) as u8);
            } else {
                out.push(((off >> 8) + (7 << 5)) as u8);
                out.push((len - 7) as u8);
            }
            out.push(off as u8);
            lit = 0;
            run_at = out.len();
            out.push(0);
            ip += len + 1;
            if ip >= in_len - 2 {
                break;
            }
            ip -= 2;
            hval = first(input, ip);
            hval = next(hval, input, ip);
            htab.set(idx(hval), ip as u32);
            ip += 1;
            hval = next(hval, input, ip);
            htab.set(idx(hval), ip as u32);
            ip += 1;
        } else {
            if out.len() >= out_len {
                return None;
            }
            lit += 1;
            out.push(byte(ip));
            ip += 1;
            if lit == MAX_LIT {
                if let Some(h) = out.get_mut(run_at) {
                    *h = (lit - 1) as u8;
                }
                lit = 0;
                run_at = out.len();
                out.push(0);
            }
        }
    }
    if out.len() + 3 > out_len {
        return None;
    }
    while ip < in_len {
        lit += 1;
        out.push(byte(ip));
        ip += 1;
        if lit == MAX_LIT {
            if let Some(h) = out.get_mut(run_at) {
                *h = (lit - 1) as u8;
            }
            lit = 0;
            run_at = out.len();
            out.push(0);
        }
    }
    if lit == 0 {
        out.pop();
    } else if let Some(h) = out.get_mut(run_at) {
        *h = (lit - 1) as u8;
    }
    (out.len() <= out_len).then_some(out)
}

/// What went wrong in a compressed string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LzfError {
    /// The data ran out inside a literal or a back-reference.
    Truncated,
    /// A back-reference points before the output's start.
    BadReference,
    /// The output would be longer or shorter than the stored length.
    LengthMismatch,
}

/// Decompresses `input`, which must produce exactly `expected_len` bytes. The output
/// grows as it is produced, so a lying length costs nothing.
pub fn decompress(input: &[u8], expected_len: usize) -> Result<Vec<u8>, LzfError> {
    // No more than the input can expand to (a 3-byte back-reference yields at most
    // `MAX_REF` + 1 bytes), whatever the claimed length.
    let bound = input.len().saturating_mul(MAX_REF.div_ceil(3) + 1);
    let mut out: Vec<u8> = Vec::with_capacity(expected_len.min(bound));
    let mut ip = 0usize;
    while ip < input.len() {
        let ctrl = usize::from(*input.get(ip).ok_or(LzfError::Truncated)?);
        ip += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            let lit = input.get(ip..ip + n).ok_or(LzfError::Truncated)?;
            if out.len() + n > expected_len {
                return Err(LzfError::LengthMismatch);
            }
            out.extend_from_slice(lit);
            ip += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += usize::from(*input.get(ip).ok_or(LzfError::Truncated)?);
                ip += 1;
            }
            let low = usize::from(*input.get(ip).ok_or(LzfError::Truncated)?);
            ip += 1;
            let back = ((ctrl & 0x1f) << 8) + low + 1;
            let n = len + 2;
            if back > out.len() {
                return Err(LzfError::BadReference);
            }
            if out.len() + n > expected_len {
                return Err(LzfError::LengthMismatch);
            }
            // The source may overlap what this copy appends (back < n): the bytes
            // from `from` on repeat with period `back`, so copying from `from` again
            // and again stays right, each pass up to twice as long as the last.
            let from = out.len() - back;
            let mut left = n;
            while left > 0 {
                let k = left.min(out.len() - from);
                out.extend_from_within(from..from + k);
                left -= k;
            }
        }
    }
    if out.len() != expected_len {
        return Err(LzfError::LengthMismatch);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_small_table_gives_the_dense_tables_bytes() {
        let mut x = 12345u64;
        for len in (3..4200).step_by(7) {
            let data: Vec<u8> = (0..len)
                .map(|i| {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    // Few distinct bytes: plenty of matches and hash collisions.
                    if i % 5 == 0 {
                        (x >> 60) as u8
                    } else {
                        b'a' + (x >> 62) as u8
                    }
                })
                .collect();
            let dense = compress_with(&data, len + 16, Table::Dense(vec![0u32; HSIZE]));
            assert_eq!(compress(&data, len + 16), dense, "len {len}");
        }
    }

    #[test]
    fn compresses_repetition_and_refuses_noise() {
        let data = b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        let c = compress(data, data.len() - 4).expect("compressible");
        assert!(c.len() < data.len() / 4);
        assert_eq!(decompress(&c, data.len()).unwrap(), data.to_vec());
        let noise: Vec<u8> = (0..64u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(compress(&noise, noise.len() - 4), None);
    }

    #[test]
    fn known_redis_bytes() {
        // `SET k <30 x 'a'>; DUMP k` on Redis 7.0.15: c3 09 1e, then these 9 bytes.
        let data = vec![b'a'; 30];
        let c = compress(&data, data.len() - 4).unwrap();
        assert_eq!(
            c,
            vec![0x01, 0x61, 0x61, 0xe0, 0x11, 0x00, 0x01, 0x61, 0x61]
        );
    }

    #[test]
    fn hostile_input_is_an_error() {
        assert_eq!(decompress(&[0x20, 0x00], 10), Err(LzfError::BadReference));
        assert_eq!(decompress(&[0x05, b'a'], 6), Err(LzfError::Truncated));
        assert_eq!(
            decompress(&[0x00, b'a'], 1 << 60),
            Err(LzfError::LengthMismatch)
        );
    }

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), any::<u8>()], 0..3000)) {
            if let Some(c) = compress(&data, data.len().saturating_sub(4)) {
                prop_assert_eq!(decompress(&c, data.len()).unwrap(), data);
            }
        }

        #[test]
        fn periodic_runs_round_trip(head in proptest::collection::vec(any::<u8>(), 0..40), period in 1usize..9, len in 0usize..2000) {
            // Long back-references whose source overlaps what they append (the
            // zero padding of DEBUG POPULATE's values is one, period 1).
            let mut data = head.clone();
            let cycle: Vec<u8> = (0..period).map(|i| (i * 37) as u8).collect();
            data.extend(cycle.iter().cycle().take(len));
            if let Some(c) = compress(&data, data.len().saturating_sub(1)) {
                prop_assert_eq!(decompress(&c, data.len()).unwrap(), data);
            }
        }

        #[test]
        fn random_input_never_panics(data in proptest::collection::vec(any::<u8>(), 0..200), n in 0usize..1000) {
            let _ = decompress(&data, n);
        }
    }
}
