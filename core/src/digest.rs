//! Redis's dataset digest (`DEBUG DIGEST`, `DEBUG DIGEST-VALUE`), computed exactly as
//! Redis 7.0's debug.c does, so a keel digest and a redis-server digest of the same
//! data are equal, and two keel nodes (a primary and its shadow, a master and its
//! replica) can be compared by 20 bytes.
//!
//! It owns SHA-1 (the digest is built from it) and reads the keyspace; it writes
//! nothing.

use crate::keyspace::Keyspace;
use crate::types::Value;

/// SHA-1 of `data` (FIPS 180-4), the hash Redis's digest is built from.
// Every index is into a fixed-size array with a constant-bounded loop: `w` has 80
// words and `t` runs 16..80, so `t - 16 ..= t - 3` are in range; `bytes` is one of
// `chunks_exact(4)`.
#[allow(clippy::indexing_slicing)]
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [
        0x6745_2301,
        0xEFCD_AB89,
        0x98BA_DCFE,
        0x1032_5476,
        0xC3D2_E1F0,
    ];
    let bit_len = (data.len() as u64).wrapping_mul(8);
    let mut tail = Vec::with_capacity(128);
    let full_blocks = data.len() / 64 * 64;
    tail.extend_from_slice(data.get(full_blocks..).unwrap_or_default());
    tail.push(0x80);
    while tail.len() % 64 != 56 {
        tail.push(0);
    }
    tail.extend_from_slice(&bit_len.to_be_bytes());
    let blocks = data
        .get(..full_blocks)
        .unwrap_or_default()
        .chunks_exact(64)
        .chain(tail.chunks_exact(64));
    for block in blocks {
        let mut w = [0u32; 80];
        for (word, bytes) in w.iter_mut().zip(block.chunks_exact(4)) {
            *word = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        for t in 16..80 {
            w[t] = (w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (t, &wt) in w.iter().enumerate() {
            let (f, k) = match t {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let temp = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(wt);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = temp;
        }
        for (hv, v) in h.iter_mut().zip([a, b, c, d, e]) {
            *hv = hv.wrapping_add(v);
        }
    }
    let mut out = [0u8; 20];
    for (chunk, v) in out.chunks_exact_mut(4).zip(h) {
        chunk.copy_from_slice(&v.to_be_bytes());
    }
    out
}

/// The 160-bit hash the digest is built on: SHA1 for Redis's own digests; a caller
/// that only compares its own digests (the simulator) may pass a faster one.
pub type Hash160 = fn(&[u8]) -> [u8; 20];

/// Redis's `xorDigest`: digest ^= SHA1(data).
fn xor_digest(digest: &mut [u8; 20], data: &[u8], hash: Hash160) {
    for (d, h) in digest.iter_mut().zip(hash(data)) {
        *d ^= h;
    }
}

/// Redis's `mixDigest`: digest = SHA1(digest ^ SHA1(data)) — order-dependent.
fn mix_digest(digest: &mut [u8; 20], data: &[u8], hash: Hash160) {
    xor_digest(digest, data, hash);
    *digest = hash(&digest[..]);
}

/// Redis's object type codes (`OBJ_STRING` ...), mixed in big-endian.
fn type_code(value: &Value) -> u32 {
    match value {
        Value::Str(_) => 0,
        Value::List(_) => 1,
        Value::Set(_) => 2,
        Value::ZSet(_) => 3,
        Value::Hash(_) => 4,
    }
}

/// Redis 7.0's `xorObjectDigest`: the digest of one value (and whether its key has a
/// TTL), mixed into `digest`.
fn object_digest(digest: &mut [u8; 20], value: &Value, has_expire: bool, hash: Hash160) {
    mix_digest(digest, &type_code(value).to_be_bytes(), hash);
    match value {
        Value::Str(s) => {
            let mut scratch = Vec::new();
            mix_digest(digest, s.bytes(&mut scratch), hash);
        }
        // Lists are ordered: each element is mixed in turn.
        Value::List(l) => l.walk(0, false, |_, element| {
            mix_digest(digest, element, hash);
            true
        }),
        // Sets, hashes and sorted sets are not: their elements are xored.
        Value::Set(s) => {
            for member in s.iter() {
                member.with_bytes(|m| xor_digest(digest, m, hash));
            }
        }
        Value::ZSet(z) => {
            for (member, score) in z.entries() {
                let mut element = [0u8; 20];
                mix_digest(&mut element, member, hash);
                mix_digest(&mut element, score_text(score).as_bytes(), hash);
                xor_digest(digest, &element, hash);
            }
        }
        Value::Hash(h) => {
            for (field, v) in h.iter() {
                let mut element = [0u8; 20];
                mix_digest(&mut element, &field, hash);
                mix_digest(&mut element, &v, hash);
                xor_digest(digest, &element, hash);
            }
        }
    }
    if has_expire {
        xor_digest(digest, b"!!expire!!", hash);
    }
}

/// A score as Redis 7.0's digest prints it: `%.17g`.
fn score_text(score: f64) -> String {
    crate::types::zset::fmt_score(score)
}

/// `DEBUG DIGEST-VALUE`: the digest of one value alone (its key not mixed in).
pub fn value_digest(value: &Value, has_expire: bool) -> [u8; 20] {
    value_digest_with(value, has_expire, sha1)
}

/// `value_digest` built on another 160-bit hash (not comparable with Redis's).
pub fn value_digest_with(value: &Value, has_expire: bool, hash: Hash160) -> [u8; 20] {
    let mut digest = [0u8; 20];
    object_digest(&mut digest, value, has_expire, hash);
    digest
}

/// `DEBUG DIGEST`: every database's keys and values, Redis 7.0's
/// `computeDatasetDigest`. All zeros for an empty dataset. Keys past their TTL but
/// not yet removed count, as in Redis.
pub fn dataset_digest(keyspace: &Keyspace) -> [u8; 20] {
    let mut digest = [0u8; 20];
    for (index, db) in keyspace.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        mix_digest(&mut digest, &(index as u32).to_be_bytes(), sha1);
        for (_, entry) in db.iter() {
            let mut key_digest = [0u8; 20];
            mix_digest(&mut key_digest, entry.key.as_bytes(), sha1);
            object_digest(&mut key_digest, entry.value, entry.expire_at_ms != 0, sha1);
            xor_digest(&mut digest, &key_digest, sha1);
        }
    }
    digest
}

/// Lowercase hex, as DEBUG DIGEST prints it.
pub fn hex(digest: &[u8; 20]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha1_known_answers() {
        let cases: [(&[u8], &str); 4] = [
            (b"", "da39a3ee5e6b4b0d3255bfef95601890afd80709"),
            (b"abc", "a9993e364706816aba3e25717850c26c9cd0d89d"),
            (
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
                "84983e441c3bd26ebaae4aa1f95129e5e54670f1",
            ),
            (&[b'a'; 1000], "291e9a6c66994949b57ba5e650361e98fc36b1ba"),
        ];
        for (input, want) in cases {
            assert_eq!(hex(&sha1(input)), want, "input of {} bytes", input.len());
        }
    }

    #[test]
    fn sha1_at_every_padding_boundary() {
        // Lengths around the 55/56/64-byte padding edges must all differ and be stable.
        let mut seen = std::collections::BTreeSet::new();
        for len in 50..140 {
            assert!(seen.insert(sha1(&vec![b'x'; len])));
        }
    }
}
