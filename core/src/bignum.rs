//! Small unsigned big integers for the exact float parsers (`strtod`, and `strtold`
//! in `longdouble`): just what a correctly rounded decimal-to-binary conversion
//! needs. Work is bounded by the callers' digit and exponent limits; nothing here
//! panics on any value.

use std::cmp::Ordering;

/// Quotient bits produced by `div_quotient`: callers arrange the quotient below 2^67.
pub(crate) const QBITS: u32 = 68;

/// Largest decimal exponent and digit count `decimal_quotient` takes: beyond every
/// range the callers reach, and small enough that the work stays in microseconds.
const MAX_POW10: u64 = 20_000;
const MAX_DIGITS: usize = 20_000;

/// `digits × 10^e10` (ASCII decimal digits, not all zero) as `(q, sticky, e2)`: the
/// value is `(q + δ) × 2^e2` with `2^65 <= q < 2^67`, `0 <= δ < 1`, and `δ > 0` iff
/// `sticky`. None when the digits are all zero or the inputs exceed the limits above.
pub(crate) fn decimal_quotient(digits: &[u8], e10: i64) -> Option<(u128, bool, i64)> {
    if digits.len() > MAX_DIGITS || e10.unsigned_abs() > MAX_POW10 {
        return None;
    }
    let mut n = Big::from_decimal(digits);
    if n.is_zero() {
        return None;
    }
    let mut m = Big::from_u64(1);
    let pow = u32::try_from(e10.unsigned_abs()).ok()?;
    if e10 >= 0 {
        n.mul_pow10(pow);
    } else {
        m.mul_pow10(pow);
    }
    // n/m lies in [2^(bn-bm-1), 2^(bn-bm+1)); scaled by 2^s it lies in [2^65, 2^67).
    let s = 66 + i64::from(m.bit_len()) - i64::from(n.bit_len());
    if s >= 0 {
        n.shl(s.unsigned_abs());
    } else {
        m.shl(s.unsigned_abs());
    }
    let (q, sticky) = div_quotient(n, &m);
    Some((q, sticky, -s))
}

/// `floor(num / den)` and whether the remainder is nonzero, given
/// `num < den * 2^QBITS` (so the quotient fits in `QBITS` bits) and `den != 0`.
pub(crate) fn div_quotient(mut num: Big, den: &Big) -> (u128, bool) {
    let mut d = den.clone();
    d.shl(u64::from(QBITS));
    let mut q: u128 = 0;
    for _ in 0..QBITS {
        d.shr1();
        q <<= 1;
        if num.cmp(&d) != Ordering::Less {
            num.sub_assign(&d);
            q |= 1;
        }
    }
    (q, !num.is_zero())
}

/// A small unsigned big integer: little-endian 32-bit limbs, no high zero limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Big {
    limbs: Vec<u32>,
}

impl Big {
    pub(crate) fn from_u64(v: u64) -> Big {
        let mut b = Big {
            limbs: vec![v as u32, (v >> 32) as u32],
        };
        b.trim();
        b
    }

    /// ASCII decimal digits, nine at a time.
    pub(crate) fn from_decimal(digits: &[u8]) -> Big {
        let mut b = Big { limbs: Vec::new() };
        for chunk in digits.chunks(9) {
            let mut v: u32 = 0;
            for &d in chunk {
                v = v * 10 + u32::from(d.wrapping_sub(b'0') % 10);
            }
            // chunk.len() <= 9, so 10^len <= 10^9 fits.
            b.mul_small(10u32.pow(chunk.len() as u32));
            b.add_small(v);
        }
        b
    }

    /// ASCII hex digits, most significant first, packed eight to a limb.
    pub(crate) fn from_hex(digits: impl DoubleEndedIterator<Item = u8>) -> Big {
        let mut limbs = Vec::new();
        let (mut cur, mut n) = (0u32, 0u32);
        for d in digits.rev() {
            let v = char::from(d).to_digit(16).unwrap_or(0);
            cur |= v << (4 * n);
            n += 1;
            if n == 8 {
                limbs.push(cur);
                cur = 0;
                n = 0;
            }
        }
        if n > 0 {
            limbs.push(cur);
        }
        let mut b = Big { limbs };
        b.trim();
        b
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.limbs.is_empty()
    }

    pub(crate) fn trim(&mut self) {
        while self.limbs.last() == Some(&0) {
            self.limbs.pop();
        }
    }

    pub(crate) fn to_u64(&self) -> Option<u64> {
        match self.limbs.as_slice() {
            [] => Some(0),
            [a] => Some(u64::from(*a)),
            [a, b] => Some(u64::from(*a) | (u64::from(*b) << 32)),
            _ => None,
        }
    }

    pub(crate) fn bit_len(&self) -> u32 {
        match self.limbs.last() {
            None => 0,
            Some(&top) => {
                let below = u32::try_from(self.limbs.len() - 1).unwrap_or(u32::MAX / 64);
                below
                    .saturating_mul(32)
                    .saturating_add(32 - top.leading_zeros())
            }
        }
    }

    pub(crate) fn mul_small(&mut self, m: u32) {
        let mut carry: u64 = 0;
        for l in self.limbs.iter_mut() {
            // (2^32-1)^2 + (2^32-1) < 2^64.
            let p = u64::from(*l) * u64::from(m) + carry;
            *l = p as u32;
            carry = p >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
        self.trim();
    }

    pub(crate) fn add_small(&mut self, a: u32) {
        let mut carry = u64::from(a);
        for l in self.limbs.iter_mut() {
            if carry == 0 {
                break;
            }
            let s = u64::from(*l) + carry;
            *l = s as u32;
            carry = s >> 32;
        }
        if carry != 0 {
            self.limbs.push(carry as u32);
        }
    }

    pub(crate) fn mul_pow10(&mut self, mut n: u32) {
        while n >= 9 {
            self.mul_small(1_000_000_000);
            n -= 9;
        }
        // n < 9 here.
        self.mul_small(10u32.pow(n));
    }

    pub(crate) fn shl(&mut self, bits: u64) {
        if self.is_zero() {
            return;
        }
        let whole = usize::try_from(bits / 32).unwrap_or(0);
        let b = (bits % 32) as u32;
        if b != 0 {
            let mut carry = 0u32;
            for l in self.limbs.iter_mut() {
                let v = *l;
                *l = (v << b) | carry;
                carry = v >> (32 - b);
            }
            if carry != 0 {
                self.limbs.push(carry);
            }
        }
        if whole > 0 {
            let mut shifted = vec![0u32; whole];
            shifted.extend_from_slice(&self.limbs);
            self.limbs = shifted;
        }
    }

    pub(crate) fn shr1(&mut self) {
        let mut carry = 0u32;
        for l in self.limbs.iter_mut().rev() {
            let v = *l;
            *l = (v >> 1) | (carry << 31);
            carry = v & 1;
        }
        self.trim();
    }

    pub(crate) fn cmp(&self, other: &Big) -> Ordering {
        self.limbs
            .len()
            .cmp(&other.limbs.len())
            .then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }

    /// `self -= other`; callers ensure `self >= other`.
    pub(crate) fn sub_assign(&mut self, other: &Big) {
        let mut borrow = false;
        for (i, l) in self.limbs.iter_mut().enumerate() {
            let o = other.limbs.get(i).copied().unwrap_or(0);
            let (d1, b1) = l.overflowing_sub(o);
            let (d2, b2) = d1.overflowing_sub(u32::from(borrow));
            *l = d2;
            borrow = b1 || b2;
        }
        self.trim();
    }

    /// Bits `[shift, shift + 128)` and whether any bit below `shift` is set.
    pub(crate) fn top_bits(&self, shift: u64) -> (u128, bool) {
        let whole = usize::try_from(shift / 32).unwrap_or(usize::MAX);
        let b = (shift % 32) as u32;
        let mut q: u128 = 0;
        for (k, l) in self.limbs.iter().skip(whole).take(5).enumerate() {
            // Limb k of the window sits at bit 32k - b of the result.
            let v = u128::from(*l);
            let at = 32 * k as u32;
            q |= if at >= b {
                v.checked_shl(at - b).unwrap_or(0)
            } else {
                v >> (b - at)
            };
        }
        let low_limbs = self.limbs.iter().take(whole).any(|&l| l != 0);
        let low_part = b != 0
            && self
                .limbs
                .get(whole)
                .is_some_and(|&l| l & ((1u32 << b) - 1) != 0);
        (q, low_limbs || low_part)
    }

    /// Divides in place, returning the remainder; `d != 0`.
    pub(crate) fn divmod_small(&mut self, d: u32) -> u32 {
        let d = u64::from(d.max(1));
        let mut rem: u64 = 0;
        for l in self.limbs.iter_mut().rev() {
            let cur = (rem << 32) | u64::from(*l);
            // rem < d, so cur / d < 2^32.
            *l = (cur / d) as u32;
            rem = cur % d;
        }
        self.trim();
        rem as u32
    }

    pub(crate) fn to_decimal(&self) -> String {
        let mut n = self.clone();
        let mut chunks = Vec::new();
        while !n.is_zero() {
            chunks.push(n.divmod_small(1_000_000_000));
        }
        let mut out = String::new();
        let mut it = chunks.iter().rev();
        match it.next() {
            None => out.push('0'),
            Some(top) => out.push_str(&top.to_string()),
        }
        for c in it {
            out.push_str(&format!("{c:09}"));
        }
        out
    }
}
