//! The compact blobs RDB values carry: listpacks (written and read, as Redis 7.0's
//! listpack.c lays them out), and for loading older files ziplists, zipmaps and
//! intsets. Readers check every length against the blob and return a message on
//! anything malformed; none panics or allocates beyond the blob's own size.

use crate::util::{parse_i64, write_i64};

/// Redis's `LP_HDR_SIZE`: total bytes (u32) + element count (u16).
const LP_HDR_BYTES: usize = 6;
const LP_EOF: u8 = 0xff;
/// The element count a listpack header holds when the real count does not fit.
const LP_HDR_NUMELE_UNKNOWN: u16 = u16::MAX;

/// Appends listpack entries and finishes the header, as `lpAppend` would have built it.
#[derive(Debug, Default)]
pub struct ListpackBuilder {
    buf: Vec<u8>,
    count: usize,
}

impl ListpackBuilder {
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; LP_HDR_BYTES]);
        ListpackBuilder { buf, count: 0 }
    }

    /// Bytes so far, with the end byte (Redis's `lpBytes`).
    pub fn bytes_len(&self) -> usize {
        self.buf.len() + 1
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// Appends one element: an integer encoding when the text is a canonical i64
    /// (`lpStringToInt64`), otherwise a string encoding.
    pub fn push(&mut self, elem: &[u8]) {
        let start = self.buf.len();
        match parse_i64(elem) {
            Some(v) => push_int(&mut self.buf, v),
            None => push_str(&mut self.buf, elem),
        }
        let entry_len = self.buf.len() - start;
        push_backlen(&mut self.buf, entry_len);
        self.count += 1;
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.push(LP_EOF);
        let total = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
        let numele = u16::try_from(self.count)
            .ok()
            .filter(|&n| n < LP_HDR_NUMELE_UNKNOWN)
            .unwrap_or(LP_HDR_NUMELE_UNKNOWN);
        if let Some(h) = self.buf.get_mut(..4) {
            h.copy_from_slice(&total.to_le_bytes());
        }
        if let Some(h) = self.buf.get_mut(4..6) {
            h.copy_from_slice(&numele.to_le_bytes());
        }
        self.buf
    }
}

fn push_int(buf: &mut Vec<u8>, v: i64) {
    if (0..=127).contains(&v) {
        buf.push(v as u8);
    } else if (-4096..=4095).contains(&v) {
        let u = if v < 0 { (1i64 << 13) + v } else { v } as u64;
        buf.push(((u >> 8) as u8) | 0xc0);
        buf.push(u as u8);
    } else if (-32768..=32767).contains(&v) {
        buf.push(0xf1);
        buf.extend_from_slice(&(v as i16).to_le_bytes());
    } else if (-8_388_608..=8_388_607).contains(&v) {
        buf.push(0xf2);
        buf.extend_from_slice((v as i32).to_le_bytes().get(..3).unwrap_or_default());
    } else if i64::from(v as i32) == v {
        buf.push(0xf3);
        buf.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        buf.push(0xf4);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

fn push_str(buf: &mut Vec<u8>, s: &[u8]) {
    let len = s.len();
    if len < 64 {
        buf.push(0x80 | len as u8);
    } else if len < 4096 {
        buf.push(0xe0 | (len >> 8) as u8);
        buf.push(len as u8);
    } else {
        buf.push(0xf0);
        buf.extend_from_slice(&(len as u32).to_le_bytes());
    }
    buf.extend_from_slice(s);
}

/// Redis's `lpEncodeBacklen`.
fn push_backlen(buf: &mut Vec<u8>, l: usize) {
    let l = l as u64;
    if l <= 127 {
        buf.push(l as u8);
    } else if l < 16383 {
        buf.push((l >> 7) as u8);
        buf.push(((l & 127) | 128) as u8);
    } else if l < 2_097_151 {
        buf.push((l >> 14) as u8);
        buf.push((((l >> 7) & 127) | 128) as u8);
        buf.push(((l & 127) | 128) as u8);
    } else if l < 268_435_455 {
        buf.push((l >> 21) as u8);
        buf.push((((l >> 14) & 127) | 128) as u8);
        buf.push((((l >> 7) & 127) | 128) as u8);
        buf.push(((l & 127) | 128) as u8);
    } else {
        buf.push((l >> 28) as u8);
        buf.push((((l >> 21) & 127) | 128) as u8);
        buf.push((((l >> 14) & 127) | 128) as u8);
        buf.push((((l >> 7) & 127) | 128) as u8);
        buf.push(((l & 127) | 128) as u8);
    }
}

fn backlen_size(l: usize) -> usize {
    match l {
        0..=127 => 1,
        128..=16382 => 2,
        16383..=2_097_150 => 3,
        2_097_151..=268_435_454 => 4,
        _ => 5,
    }
}

/// One element read from a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elem<'a> {
    Int(i64),
    Str(&'a [u8]),
}

impl Elem<'_> {
    pub fn to_vec(&self) -> Vec<u8> {
        match self {
            Elem::Int(v) => {
                let mut out = Vec::new();
                write_i64(&mut out, *v);
                out
            }
            Elem::Str(s) => s.to_vec(),
        }
    }
}

fn slice(blob: &[u8], at: usize, n: usize) -> Result<&[u8], String> {
    at.checked_add(n)
        .and_then(|end| blob.get(at..end))
        .ok_or_else(|| format!("entry at byte {at} of the blob runs past its end"))
}

fn arr<const N: usize>(blob: &[u8], at: usize) -> Result<[u8; N], String> {
    let mut out = [0u8; N];
    out.copy_from_slice(slice(blob, at, N)?);
    Ok(out)
}

fn sign_extend(v: u64, bits: u32) -> i64 {
    let shift = 64 - bits;
    ((v << shift) as i64) >> shift
}

/// Every element of a listpack, validated as Redis's `lpValidateIntegrity` (deep):
/// header length, each entry's back-length, the count when the header knows it.
pub fn read_listpack(blob: &[u8]) -> Result<Vec<Elem<'_>>, String> {
    let short = |_| "listpack shorter than its header".to_string();
    let total = u32::from_le_bytes(arr(blob, 0).map_err(short)?) as usize;
    let numele = u16::from_le_bytes(arr(blob, 4).map_err(short)?);
    if total != blob.len() {
        return Err(format!("listpack says {total} bytes, holds {}", blob.len()));
    }
    let mut out = Vec::new();
    let mut at = LP_HDR_BYTES;
    loop {
        let b = *blob.get(at).ok_or("listpack without its end byte")?;
        if b == LP_EOF {
            if at + 1 != blob.len() {
                return Err("listpack end byte before its last byte".into());
            }
            break;
        }
        let (elem, len) = lp_entry(blob, at)?;
        let backlen = backlen_size(len);
        let stored = read_backlen(blob, at + len, backlen)?;
        if stored != len {
            return Err(format!(
                "listpack entry at byte {at}: back-length {stored}, entry {len}"
            ));
        }
        out.push(elem);
        at += len + backlen;
    }
    if numele != LP_HDR_NUMELE_UNKNOWN && usize::from(numele) != out.len() {
        return Err(format!(
            "listpack says {numele} elements, holds {}",
            out.len()
        ));
    }
    Ok(out)
}

fn read_backlen(blob: &[u8], at: usize, size: usize) -> Result<usize, String> {
    let bytes = slice(blob, at, size)?;
    let mut v: usize = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let continues = b & 128 != 0;
        // The first byte has no continuation bit; every later one has it.
        if (i == 0) == continues {
            return Err(format!("listpack back-length at byte {at} malformed"));
        }
        v = (v << 7) | usize::from(b & 127);
    }
    Ok(v)
}

/// One listpack entry at `at`: the element and its encoding + data length.
fn lp_entry(blob: &[u8], at: usize) -> Result<(Elem<'_>, usize), String> {
    let b = *blob.get(at).ok_or("listpack entry past the end")?;
    let uint = |n: usize| -> Result<u64, String> {
        let bytes = slice(blob, at + 1, n)?;
        Ok(bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    };
    if b & 0x80 == 0 {
        return Ok((Elem::Int(i64::from(b & 0x7f)), 1));
    }
    if b & 0xc0 == 0x80 {
        let len = usize::from(b & 0x3f);
        return Ok((Elem::Str(slice(blob, at + 1, len)?), 1 + len));
    }
    if b & 0xe0 == 0xc0 {
        let lo = *blob.get(at + 1).ok_or("listpack entry past the end")?;
        let v = (u64::from(b & 0x1f) << 8) | u64::from(lo);
        return Ok((Elem::Int(sign_extend(v, 13)), 2));
    }
    if b & 0xf0 == 0xe0 {
        let lo = *blob.get(at + 1).ok_or("listpack entry past the end")?;
        let len = (usize::from(b & 0x0f) << 8) | usize::from(lo);
        return Ok((Elem::Str(slice(blob, at + 2, len)?), 2 + len));
    }
    match b {
        0xf0 => {
            let len = uint(4)? as usize;
            Ok((Elem::Str(slice(blob, at + 5, len)?), 5 + len))
        }
        0xf1 => Ok((Elem::Int(sign_extend(uint(2)?, 16)), 3)),
        0xf2 => Ok((Elem::Int(sign_extend(uint(3)?, 24)), 4)),
        0xf3 => Ok((Elem::Int(sign_extend(uint(4)?, 32)), 5)),
        0xf4 => Ok((Elem::Int(uint(8)? as i64), 9)),
        _ => Err(format!(
            "listpack entry at byte {at}: unknown encoding {b:#04x}"
        )),
    }
}

/// Every element of a ziplist (Redis ≤ 6), validated: header, each entry's
/// prev-length against the entry before it, the tail offset, the count when known.
pub fn read_ziplist(blob: &[u8]) -> Result<Vec<Elem<'_>>, String> {
    const HDR: usize = 10;
    let short = |_| "ziplist shorter than its header".to_string();
    let total = u32::from_le_bytes(arr(blob, 0).map_err(short)?) as usize;
    let tail = u32::from_le_bytes(arr(blob, 4).map_err(short)?) as usize;
    let count = u16::from_le_bytes(arr(blob, 8).map_err(short)?);
    if total != blob.len() {
        return Err(format!("ziplist says {total} bytes, holds {}", blob.len()));
    }
    let mut out = Vec::new();
    let mut at = HDR;
    let mut prev_len = 0usize;
    let mut last_at = HDR;
    loop {
        let b = *blob.get(at).ok_or("ziplist without its end byte")?;
        if b == 0xff {
            if at + 1 != blob.len() {
                return Err("ziplist end byte before its last byte".into());
            }
            break;
        }
        let start = at;
        let (prev, prev_size) = if b < 254 {
            (usize::from(b), 1)
        } else if b == 254 {
            (u32::from_le_bytes(arr(blob, at + 1)?) as usize, 5)
        } else {
            return Err(format!("ziplist entry at byte {at}: bad prev-length"));
        };
        if prev != prev_len {
            return Err(format!(
                "ziplist entry at byte {at}: prev-length {prev}, entry before {prev_len}"
            ));
        }
        at += prev_size;
        let enc = *blob.get(at).ok_or("ziplist entry past the end")?;
        let int = |n: usize| -> Result<i64, String> {
            let bytes = slice(blob, at + 1, n)?;
            let v = bytes
                .iter()
                .rev()
                .fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
            Ok(sign_extend(v, (n * 8) as u32))
        };
        let (elem, len) = match enc >> 6 {
            0 => {
                let len = usize::from(enc & 0x3f);
                (Elem::Str(slice(blob, at + 1, len)?), 1 + len)
            }
            1 => {
                let lo = *blob.get(at + 1).ok_or("ziplist entry past the end")?;
                let len = (usize::from(enc & 0x3f) << 8) | usize::from(lo);
                (Elem::Str(slice(blob, at + 2, len)?), 2 + len)
            }
            2 => {
                if enc != 0x80 {
                    return Err(format!(
                        "ziplist entry at byte {at}: unknown encoding {enc:#04x}"
                    ));
                }
                let len = u32::from_be_bytes(arr(blob, at + 1)?) as usize;
                (Elem::Str(slice(blob, at + 5, len)?), 5 + len)
            }
            _ => match enc {
                0xc0 => (Elem::Int(int(2)?), 3),
                0xd0 => (Elem::Int(int(4)?), 5),
                0xe0 => (Elem::Int(int(8)?), 9),
                0xf0 => (Elem::Int(int(3)?), 4),
                0xfe => (Elem::Int(int(1)?), 2),
                0xf1..=0xfd => (Elem::Int(i64::from(enc & 0x0f) - 1), 1),
                _ => {
                    return Err(format!(
                        "ziplist entry at byte {at}: unknown encoding {enc:#04x}"
                    ))
                }
            },
        };
        at += len;
        prev_len = at - start;
        last_at = start;
        out.push(elem);
    }
    if !out.is_empty() && tail != last_at {
        return Err(format!(
            "ziplist tail offset {tail}, last entry at {last_at}"
        ));
    }
    if count != u16::MAX && usize::from(count) != out.len() {
        return Err(format!("ziplist says {count} entries, holds {}", out.len()));
    }
    Ok(out)
}

/// The members of an intset blob (sorted, unique, as Redis's `intsetValidateIntegrity`).
pub fn read_intset(blob: &[u8]) -> Result<Vec<i64>, String> {
    let short = |_| "intset shorter than its header".to_string();
    let width = u32::from_le_bytes(arr(blob, 0).map_err(short)?) as usize;
    let count = u32::from_le_bytes(arr(blob, 4).map_err(short)?) as usize;
    if !matches!(width, 2 | 4 | 8) {
        return Err(format!("intset encoding {width}"));
    }
    let body = blob.get(8..).unwrap_or_default();
    if count.checked_mul(width) != Some(body.len()) {
        return Err(format!(
            "intset of {count} x {width} bytes holds {}",
            body.len()
        ));
    }
    let mut out: Vec<i64> = Vec::with_capacity(count);
    for c in body.chunks_exact(width) {
        let v = c
            .iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
        let v = sign_extend(v, (width * 8) as u32);
        if out.last().is_some_and(|&last| last >= v) {
            return Err("intset not sorted or has duplicates".into());
        }
        out.push(v);
    }
    Ok(out)
}

/// Redis's intset blob for sorted unique members, at the narrowest width that holds
/// them all (what a set built by adds has).
pub fn write_intset(members: &[i64]) -> Vec<u8> {
    let fits = |lo: i64, hi: i64| members.iter().all(|v| (lo..=hi).contains(v));
    let width: usize = if fits(i64::from(i16::MIN), i64::from(i16::MAX)) {
        2
    } else if fits(i64::from(i32::MIN), i64::from(i32::MAX)) {
        4
    } else {
        8
    };
    let mut out = Vec::with_capacity(8 + members.len() * width);
    out.extend_from_slice(&(width as u32).to_le_bytes());
    out.extend_from_slice(&(members.len() as u32).to_le_bytes());
    for v in members {
        out.extend_from_slice(v.to_le_bytes().get(..width).unwrap_or_default());
    }
    out
}

/// The field/value pairs of a zipmap (Redis ≤ 2.4 hashes).
/// A field and its value, borrowed from a blob.
pub type BlobPair<'a> = (&'a [u8], &'a [u8]);

pub fn read_zipmap(blob: &[u8]) -> Result<Vec<BlobPair<'_>>, String> {
    let mut at = 1usize; // zmlen: a count hint, ignored as Redis does past 253
    if blob.is_empty() {
        return Err("empty zipmap".into());
    }
    let len_at = |at: usize| -> Result<(usize, usize), String> {
        let b = *blob.get(at).ok_or("zipmap entry past the end")?;
        match b {
            0..=253 => Ok((usize::from(b), 1)),
            254 => Ok((u32::from_le_bytes(arr(blob, at + 1)?) as usize, 5)),
            _ => Err(format!("zipmap length at byte {at}")),
        }
    };
    let mut out = Vec::new();
    loop {
        let b = *blob.get(at).ok_or("zipmap without its end byte")?;
        if b == 0xff {
            if at + 1 != blob.len() {
                return Err("zipmap end byte before its last byte".into());
            }
            break;
        }
        let (klen, ks) = len_at(at)?;
        let key = slice(blob, at + ks, klen)?;
        at += ks + klen;
        let (vlen, vs) = len_at(at)?;
        let free = usize::from(*blob.get(at + vs).ok_or("zipmap entry past the end")?);
        let value = slice(blob, at + vs + 1, vlen)?;
        at += vs + 1 + vlen;
        slice(blob, at, free)?;
        at += free;
        out.push((key, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn listpack_bytes_match_redis() {
        // RPUSH l a b 1 500 -5000 70000 hello; DUMP l on Redis 7.0.15 holds this listpack.
        let mut lp = ListpackBuilder::new();
        for e in [&b"a"[..], b"b", b"1", b"500", b"-5000", b"70000", b"hello"] {
            lp.push(e);
        }
        let bytes = lp.finish();
        let expect = b"\"\x00\x00\x00\x07\x00\x81a\x02\x81b\x02\x01\x01\xc1\xf4\x02\xf1x\xec\x03\xf2p\x11\x01\x04\x85hello\x06\xff";
        assert_eq!(bytes, expect.to_vec());
        let elems = read_listpack(&bytes).unwrap();
        assert_eq!(elems[4], Elem::Int(-5000));
        assert_eq!(elems[6], Elem::Str(b"hello"));
    }

    proptest! {
        #[test]
        fn listpack_round_trip(elems in proptest::collection::vec(prop_oneof![
            any::<i64>().prop_map(|v| v.to_string().into_bytes()),
            (-5000i64..5000).prop_map(|v| v.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..300),
            proptest::collection::vec(any::<u8>(), 4000..4200),
        ], 0..20)) {
            let mut lp = ListpackBuilder::new();
            for e in &elems { lp.push(e); }
            let bytes = lp.finish();
            let back: Vec<Vec<u8>> = read_listpack(&bytes).unwrap().iter().map(Elem::to_vec).collect();
            prop_assert_eq!(back, elems);
        }

        #[test]
        fn intset_round_trip(mut v in proptest::collection::vec(any::<i64>(), 0..50)) {
            v.sort_unstable(); v.dedup();
            prop_assert_eq!(read_intset(&write_intset(&v)).unwrap(), v);
        }

        #[test]
        fn random_blobs_never_panic(blob in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = read_listpack(&blob);
            let _ = read_ziplist(&blob);
            let _ = read_intset(&blob);
            let _ = read_zipmap(&blob);
        }
    }
}
